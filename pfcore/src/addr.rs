//! Addresses with a prefix length (`192.0.2.0/24`, `2001:db8::/32`), the unit
//! pf.conf, the ruleset and the state table speak in.
//!
//! The prefix arithmetic (validity, network, broadcast, netmask, netmask to
//! length) is the `ipnet` crate's; [`IpNet`] stays its own type for what
//! ipnet does differently: pfctl's text form (a host prints without `/32`,
//! a bare address parses as a host, OpenBSD's error messages), a serde
//! layout the state file and control socket already use, and a
//! [`IpNet::contains`] of two ANDs for the state-kill and limiter loops.
//! It converts both ways with `ipnet::IpNet`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Address family, as pf.conf names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Af {
    Inet,
    Inet6,
}

impl Af {
    pub fn of(addr: &IpAddr) -> Af {
        match addr {
            IpAddr::V4(_) => Af::Inet,
            IpAddr::V6(_) => Af::Inet6,
        }
    }
    /// The address family number OpenBSD puts on the wire (pfsync): 2 or 24.
    pub fn openbsd_number(self) -> u8 {
        match self {
            Af::Inet => 2,
            Af::Inet6 => 24,
        }
    }
    pub fn from_openbsd_number(n: u8) -> Option<Af> {
        match n {
            2 => Some(Af::Inet),
            24 => Some(Af::Inet6),
            _ => None,
        }
    }
    pub fn max_prefix(self) -> u8 {
        match self {
            Af::Inet => 32,
            Af::Inet6 => 128,
        }
    }
}

/// An address and a prefix length. `addr` keeps the host bits as written
/// (pfctl prints `10.1.2.3/8` back as written); matching masks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpNetError(pub String);

impl fmt::Display for IpNetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IpNetError {}

impl IpNet {
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, IpNetError> {
        match ipnet::IpNet::new(addr, prefix) {
            Ok(n) => Ok(n.into()),
            Err(_) => Err(IpNetError(format!("illegal netmask /{prefix} for {addr}"))),
        }
    }

    /// As an `ipnet::IpNet` (host bits kept). The fields are public, so a
    /// prefix too long for the family is clamped, as the masks always did.
    pub fn to_ipnet(&self) -> ipnet::IpNet {
        let prefix = self.prefix.min(self.af().max_prefix());
        ipnet::IpNet::new(self.addr, prefix).unwrap_or(ipnet::IpNet::from(self.addr))
    }

    /// A single host (/32 or /128).
    pub fn host(addr: IpAddr) -> IpNet {
        IpNet {
            addr,
            prefix: Af::of(&addr).max_prefix(),
        }
    }

    pub fn af(&self) -> Af {
        Af::of(&self.addr)
    }

    pub fn is_host(&self) -> bool {
        self.prefix == self.af().max_prefix()
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        self.to_ipnet().network()
    }

    /// The broadcast address (host bits set); only meaningful for IPv4.
    pub fn broadcast(&self) -> IpAddr {
        self.to_ipnet().broadcast()
    }

    /// This prefix with host bits cleared.
    pub fn to_network(&self) -> IpNet {
        IpNet {
            addr: self.network(),
            prefix: self.prefix,
        }
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = v4_mask(self.prefix);
                u32::from(n) & m == u32::from(*a) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = v6_mask(self.prefix);
                u128::from(n) & m == u128::from(*a) & m
            }
            _ => false,
        }
    }

    /// The netmask as an address (`255.255.255.0`).
    pub fn netmask(&self) -> IpAddr {
        self.to_ipnet().netmask()
    }
}

impl From<ipnet::IpNet> for IpNet {
    fn from(n: ipnet::IpNet) -> IpNet {
        IpNet {
            addr: n.addr(),
            prefix: n.prefix_len(),
        }
    }
}

impl From<IpNet> for ipnet::IpNet {
    fn from(n: IpNet) -> ipnet::IpNet {
        n.to_ipnet()
    }
}

pub fn v4_mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32) as u32)
    }
}

pub fn v6_mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix.min(128) as u32)
    }
}

/// Prefix length of a contiguous netmask (`255.255.255.0` → 24), or None.
pub fn mask_to_prefix(mask: &IpAddr) -> Option<u8> {
    match mask {
        IpAddr::V4(m) => ipnet::ipv4_mask_to_prefix(*m).ok(),
        IpAddr::V6(m) => ipnet::ipv6_mask_to_prefix(*m).ok(),
    }
}

impl fmt::Display for IpNet {
    /// Hosts print without a prefix, as pfctl does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;
    fn from_str(s: &str) -> Result<IpNet, IpNetError> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| IpNetError(format!("invalid address {a}")))?;
        match p {
            None => Ok(IpNet::host(addr)),
            Some(p) => {
                let prefix: u8 = p
                    .parse()
                    .map_err(|_| IpNetError(format!("invalid netmask {p}")))?;
                IpNet::new(addr, prefix)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_contains() {
        let n: IpNet = "192.168.99.0/24".parse().unwrap();
        assert!(n.contains(&"192.168.99.50".parse().unwrap()));
        assert!(!n.contains(&"192.168.98.50".parse().unwrap()));
        assert!(!n.contains(&"::1".parse().unwrap()));
        assert_eq!(n.to_string(), "192.168.99.0/24");
        let h: IpNet = "10.0.0.1".parse().unwrap();
        assert_eq!(h.to_string(), "10.0.0.1");
        assert!("10.0.0.1/33".parse::<IpNet>().is_err());
        let any: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains(&"1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn network_broadcast_mask() {
        let n: IpNet = "192.0.2.10/24".parse().unwrap();
        assert_eq!(n.network().to_string(), "192.0.2.0");
        assert_eq!(n.broadcast().to_string(), "192.0.2.255");
        assert_eq!(n.netmask().to_string(), "255.255.255.0");
        assert_eq!(
            mask_to_prefix(&"255.255.255.254".parse().unwrap()),
            Some(31)
        );
        assert_eq!(mask_to_prefix(&"255.0.255.0".parse().unwrap()), None);
        let v6: IpNet = "2001:db8::1/32".parse().unwrap();
        assert_eq!(v6.network().to_string(), "2001:db8::");
    }

    #[test]
    fn arithmetic_through_ipnet() {
        let n: IpNet = "10.1.2.3/8".parse().unwrap();
        assert_eq!(n.network().to_string(), "10.0.0.0");
        assert_eq!(n.broadcast().to_string(), "10.255.255.255");
        assert_eq!(n.netmask().to_string(), "255.0.0.0");
        assert_eq!(n.to_network().to_string(), "10.0.0.0/8");
        let six: IpNet = "2001:db8::1/32".parse().unwrap();
        assert_eq!(six.netmask().to_string(), "ffff:ffff::");
        let back: IpNet = ipnet::IpNet::from(n).into();
        assert_eq!(back, n);
        assert_eq!(back.to_string(), "10.1.2.3/8");
        assert_eq!(mask_to_prefix(&"255.255.255.0".parse().unwrap()), Some(24));
        assert_eq!(mask_to_prefix(&"255.0.255.0".parse().unwrap()), None);
        assert_eq!(mask_to_prefix(&"ffff:ff00::".parse().unwrap()), Some(24));
        assert!(IpNet::new("10.0.0.1".parse().unwrap(), 33).is_err());
        // A prefix too long set through the public field is clamped.
        let odd = IpNet {
            addr: "10.0.0.1".parse().unwrap(),
            prefix: 40,
        };
        assert_eq!(odd.netmask().to_string(), "255.255.255.255");
    }
}

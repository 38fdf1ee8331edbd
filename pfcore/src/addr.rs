//! Addresses with a prefix length (`192.0.2.0/24`, `2001:db8::/32`), the unit
//! pf.conf, the ruleset and the state table speak in.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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
        if prefix > Af::of(&addr).max_prefix() {
            return Err(IpNetError(format!("illegal netmask /{prefix} for {addr}")));
        }
        Ok(IpNet { addr, prefix })
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
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & v4_mask(self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & v6_mask(self.prefix))),
        }
    }

    /// The broadcast address (host bits set); only meaningful for IPv4.
    pub fn broadcast(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) | !v4_mask(self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) | !v6_mask(self.prefix))),
        }
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
        match self.addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(v4_mask(self.prefix))),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(v6_mask(self.prefix))),
        }
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
        IpAddr::V4(m) => {
            let m = u32::from(*m);
            let p = m.leading_ones();
            (m.checked_shl(p).unwrap_or(0) == 0).then_some(p as u8)
        }
        IpAddr::V6(m) => {
            let m = u128::from(*m);
            let p = m.leading_ones();
            (m.checked_shl(p).unwrap_or(0) == 0).then_some(p as u8)
        }
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
}

//! One carp interface as pfd runs it, without the I/O: its configuration,
//! its vhid's state machine, the replay cookie, and the checks a received
//! advertisement goes through (OpenBSD's carp_proto_input order), counted
//! in the statistics `netstat -s -p carp` shows on OpenBSD.

use super::config::{CarpConfig, CarpState};
use super::fsm::{Advert, Vhid};
use crate::wire::carp::{Authenticator, Packet, Repr, BOW_OUT, CARP_DFLTTL};
use crate::wire::Error as WireError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// net.inet.carp.stats, in OpenBSD's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CarpStats {
    pub ipackets: u64,
    pub ipackets6: u64,
    pub badif: u64,
    pub badttl: u64,
    pub hdrops: u64,
    pub badsum: u64,
    pub badver: u64,
    pub badlen: u64,
    pub badauth: u64,
    pub badvhid: u64,
    pub badaddrs: u64,
    pub opackets: u64,
    pub opackets6: u64,
    pub onomem: u64,
    pub ostates: u64,
    pub preempt: u64,
}

/// Why an advertisement was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    BadTtl,
    BadLen,
    BadSum,
    BadVer,
    BadAuth,
    /// Our own advertisement came back (loop or replay).
    Own,
    /// The interface is not running.
    NotRunning,
}

impl Drop {
    pub fn describe(self) -> &'static str {
        match self {
            Drop::BadTtl => "TTL is not 255",
            Drop::BadLen => "too short",
            Drop::BadSum => "bad checksum",
            Drop::BadVer => "bad version",
            Drop::BadAuth => "bad authentication (wrong password or addresses)",
            Drop::Own => "our own advertisement (replay or loop)",
            Drop::NotRunning => "interface not running",
        }
    }
}

pub struct CarpIf {
    pub name: String,
    pub config: CarpConfig,
    pub fsm: Vhid,
    /// The replay cookie: random, fixed for the life of the interface.
    cookie: [u8; 8],
    auth: Authenticator,
    pub stats: CarpStats,
}

impl CarpIf {
    pub fn new(name: &str, config: CarpConfig, cookie: [u8; 8]) -> CarpIf {
        let fsm = Vhid::new(config.advbase, config.advskew);
        let auth = Self::authenticator(&config);
        CarpIf {
            name: name.to_string(),
            config,
            fsm,
            cookie: if cookie == [0; 8] { [1; 8] } else { cookie },
            auth,
            stats: CarpStats::default(),
        }
    }

    fn authenticator(c: &CarpConfig) -> Authenticator {
        let (v4, v6) = split_addrs(c);
        Authenticator::new(&c.key, c.vhid, &v4, &v6)
    }

    /// Apply a new configuration; timing changes go to the state machine.
    pub fn reconfigure(&mut self, config: CarpConfig, now: Duration) -> super::fsm::Actions {
        let acts = self.fsm.set_timing(config.advbase, config.advskew, now);
        self.auth = Self::authenticator(&config);
        self.config = config;
        acts
    }

    /// Can the vhid run (OpenBSD: up, vhid set, an address, carpdev up)?
    pub fn runnable(&self, carpdev_up: bool) -> bool {
        self.config.up
            && self.config.vhid != 0
            && !self.config.addrs.is_empty()
            && self.config.carpdev.is_some()
            && carpdev_up
    }

    pub fn state(&self) -> CarpState {
        self.fsm.state()
    }

    /// The advertisement to send now.
    pub fn advert(&self, bow_out: bool, demote: u8) -> Repr {
        let (advbase, advskew) = if bow_out {
            (BOW_OUT, BOW_OUT)
        } else {
            (self.fsm.advbase(), self.fsm.advskew())
        };
        Repr {
            vhid: self.config.vhid,
            advskew,
            advbase,
            demote,
            counter: self.cookie,
            hmac: self.auth.compute(&self.cookie),
        }
    }

    /// Check a received IPv4 advertisement for this vhid (the caller found
    /// us by carpdev and vhid). `ttl` is the IP TTL, `payload` the bytes
    /// after the IP header.
    pub fn check(&mut self, ttl: u8, payload: &[u8]) -> Result<Advert, Drop> {
        self.stats.ipackets += 1;
        if ttl != CARP_DFLTTL {
            self.stats.badttl += 1;
            return Err(Drop::BadTtl);
        }
        let repr = match Packet::new_checked(payload)
            .map_err(|_| WireError::Truncated)
            .and_then(|p| Repr::parse(&p))
        {
            Ok(r) => r,
            Err(WireError::Truncated) => {
                self.stats.badlen += 1;
                return Err(Drop::BadLen);
            }
            Err(WireError::Checksum) => {
                self.stats.badsum += 1;
                return Err(Drop::BadSum);
            }
            Err(_) => {
                self.stats.badver += 1;
                return Err(Drop::BadVer);
            }
        };
        if self.state() == CarpState::Init || !self.config.up {
            self.stats.badvhid += 1;
            return Err(Drop::NotRunning);
        }
        if !self.auth.verify(&repr.counter, &repr.hmac) {
            self.stats.badauth += 1;
            return Err(Drop::BadAuth);
        }
        if repr.counter == self.cookie {
            self.stats.badauth += 1;
            return Err(Drop::Own);
        }
        Ok(Advert {
            advbase: repr.advbase,
            advskew: repr.advskew,
            demote: repr.demote,
        })
    }

    pub fn ipv4_addrs(&self) -> Vec<Ipv4Addr> {
        split_addrs(&self.config).0
    }
}

fn split_addrs(c: &CarpConfig) -> (Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for a in &c.addrs {
        match a.net.addr {
            IpAddr::V4(x) => v4.push(x),
            IpAddr::V6(x) => v6.push(x),
        }
    }
    (v4, v6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::carp::config::IfAddr;
    use crate::wire::carp::build_ipv4_advert;

    fn cfg(skew: u8, pass: &str) -> CarpConfig {
        CarpConfig {
            vhid: 1,
            advskew: skew,
            key: pass.as_bytes().to_vec(),
            carpdev: Some("eth1".into()),
            addrs: vec![IfAddr {
                net: "192.0.2.1/24".parse().unwrap(),
                broadcast: Some("192.0.2.255".parse().unwrap()),
            }],
            up: true,
            ..CarpConfig::default()
        }
    }

    fn payload(c: &CarpIf, bow: bool) -> Vec<u8> {
        let pkt = build_ipv4_advert(
            "192.0.2.10".parse().unwrap(),
            "224.0.0.18".parse().unwrap(),
            1,
            &c.advert(bow, 0),
        );
        pkt[20..].to_vec()
    }

    #[test]
    fn peers_accept_each_other_and_refuse_forgeries() {
        let master = CarpIf::new("carp1", cfg(0, "secret"), [7; 8]);
        let mut backup = CarpIf::new("carp1", cfg(128, "secret"), [9; 8]);
        backup.fsm.set_runnable(true, Duration::ZERO);
        let ad = backup.check(255, &payload(&master, false)).unwrap();
        assert_eq!((ad.advbase, ad.advskew), (1, 0));
        // Wrong password.
        let forger = CarpIf::new("carp1", cfg(0, "guess"), [5; 8]);
        assert_eq!(
            backup.check(255, &payload(&forger, false)),
            Err(Drop::BadAuth)
        );
        // TTL not 255 (sent from off-link).
        assert_eq!(
            backup.check(254, &payload(&master, false)),
            Err(Drop::BadTtl)
        );
        // Corrupted.
        let mut p = payload(&master, false);
        p[2] ^= 1;
        assert_eq!(backup.check(255, &p), Err(Drop::BadSum));
        assert_eq!(backup.check(255, &p[..20]), Err(Drop::BadLen));
        // Our own advertisement looped back.
        let own = payload(&backup, false);
        assert_eq!(backup.check(255, &own), Err(Drop::Own));
        assert_eq!(backup.stats.badauth, 2);
        assert_eq!(backup.stats.badttl, 1);
        // Bow-out.
        let ad = backup.check(255, &payload(&master, true)).unwrap();
        assert!(ad.is_bow_out());
    }

    #[test]
    fn key_longer_than_19_is_truncated() {
        let a = CarpIf::new("carp1", cfg(0, "0123456789012345678901"), [7; 8]);
        let mut b = CarpIf::new("carp1", cfg(0, "0123456789012345678"), [8; 8]);
        b.fsm.set_runnable(true, Duration::ZERO);
        assert!(b.check(255, &payload(&a, false)).is_ok());
    }
}

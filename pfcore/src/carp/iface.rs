//! One carp interface as pfd runs it, without the I/O: its configuration,
//! its vhid's state machine, the counter it sends, the peers it heard, and
//! the checks a received advertisement goes through (OpenBSD's
//! carp_proto_input order, then pfd's counter checks), counted in the
//! statistics `netstat -s -p carp` shows on OpenBSD plus pfd's own.
//!
//! Counters (see `wire::carp::Counter`): pfd sends a sequence number that
//! grows with each advertisement and with wall-clock time (1/256 s units,
//! so a restarted peer goes on above where it stopped) and binds it to the
//! timing fields and the source address. A received pfd counter must be
//! newer than the last one from that source (else `replay`) and match its
//! fields (else `rewritten`). OpenBSD's fixed cookie and ucarp's counting
//! counter are not pfd's and are taken as OpenBSD takes them (only our own
//! counter is refused).
//!
//! IPv4 and IPv6 alike: a carp interface with addresses of both families
//! sends one advertisement of each per period (from the carpdev's IPv4
//! address and from its IPv6 link-local address), both signed over all its
//! addresses; received ones go through the same checks, counted as
//! `ipackets` or `ipackets6`, and each restarts its family's master-down
//! timer.

use super::config::{CarpConfig, CarpState};
use super::fsm::{Advert, Family, Vhid};
use crate::wire::carp::{
    seq_newer, Authenticator, BoundFields, Counter, Packet, Repr, BOW_OUT, CARP_DFLTTL,
};
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
    /// pfd: a pfd counter not newer than the last from its sender.
    pub replay: u64,
    /// pfd: a pfd counter that does not match the advertisement's timing,
    /// demotion or source (changed on the way).
    pub rewritten: u64,
    /// pfd: elections this host lost to a tie (it stepped down as MASTER
    /// for an advertisement with its own advbase, advskew and demotion).
    pub ties: u64,
    /// pfd: packets on a balanced interface dropped as another host's
    /// share (carp_lsdrop).
    #[serde(default)]
    pub lsdrop: u64,
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
    /// A counter not newer than the last one from its sender.
    Replay,
    /// A counter made for other fields or another source.
    Rewritten,
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
            Drop::Replay => "replayed (counter not newer than the last from this sender)",
            Drop::Rewritten => "rewritten (counter does not match its timing, demotion or source)",
            Drop::NotRunning => "interface not running",
        }
    }
}

/// An IPv4 packet from pfd's CARP socket, as far as it is read before
/// the advertisement is: the header fields the checks use, the vhid that
/// finds the carp interface, and the CARP payload. `None` is OpenBSD's
/// `hdrops` (shorter than an IP header, not IPv4, or a header length
/// under 20 bytes or beyond the packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    pub ttl: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// The advertisement's vhid (0 when the payload is empty).
    pub vhid: u8,
    /// The bytes after the IP header.
    pub payload: &'a [u8],
}

impl<'a> Received<'a> {
    pub fn parse(pkt: &'a [u8]) -> Option<Received<'a>> {
        if pkt.len() < 20 || pkt[0] >> 4 != 4 {
            return None;
        }
        let hl = usize::from(pkt[0] & 0x0f) * 4;
        if hl < 20 {
            return None;
        }
        let payload = pkt.get(hl..)?;
        Some(Received {
            ttl: pkt[8],
            src: Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]),
            dst: Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]),
            vhid: payload.get(1).copied().unwrap_or(0),
            payload,
        })
    }
}

/// Peers remembered per vhid (the most recently heard are kept).
pub const MAX_PEERS: usize = 16;

/// What a vhid remembers of a peer (an IPv4 and an IPv6 source of one
/// host are two peers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerSeen {
    pub src: IpAddr,
    /// Last accepted pfd sequence number (None: only legacy counters).
    pub seq: Option<u32>,
    pub advbase: u8,
    pub advskew: u8,
    pub demote: u8,
    pub at: Duration,
}

/// The sequence number for wall-clock time `unix` (since the Unix epoch):
/// 1/256 s units, modulo 2^32 (serial-number order holds for 97 days).
pub fn wall_seq(unix: Duration) -> u32 {
    (unix.as_micros() * 256 / 1_000_000) as u32
}

pub struct CarpIf {
    pub name: String,
    pub config: CarpConfig,
    pub fsm: Vhid,
    /// The last sequence number sent.
    seq: u32,
    /// The last counters sent, by IPv4 and by IPv6 (a legacy peer copying
    /// one is no reason to drop it, but our own coming back is).
    last_counter: [[u8; 8]; 2],
    /// The addresses advertisements leave from, IPv4 and IPv6.
    src: Option<Ipv4Addr>,
    src6: Option<Ipv6Addr>,
    peers: Vec<PeerSeen>,
    auth: Authenticator,
    pub stats: CarpStats,
}

impl CarpIf {
    pub fn new(name: &str, config: CarpConfig) -> CarpIf {
        let mut fsm = Vhid::new(config.advbase, config.advskew);
        let (v4, v6) = split_addrs(&config);
        fsm.set_families(!v4.is_empty(), !v6.is_empty(), Duration::ZERO);
        let auth = Self::authenticator(&config);
        CarpIf {
            name: name.to_string(),
            config,
            fsm,
            seq: 0,
            last_counter: [[0; 8]; 2],
            src: None,
            src6: None,
            peers: Vec::new(),
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
        let (v4, v6) = split_addrs(&config);
        self.fsm.set_families(!v4.is_empty(), !v6.is_empty(), now);
        if (&config.key, config.vhid, &config.addrs)
            != (&self.config.key, self.config.vhid, &self.config.addrs)
        {
            // Another group (or another key): what we heard is void.
            self.peers.clear();
        }
        self.auth = Self::authenticator(&config);
        self.config = config;
        acts
    }

    /// The address advertisements leave from (our own pfd counters coming
    /// back from it are ours, not a peer's).
    pub fn set_src(&mut self, src: Option<Ipv4Addr>) {
        self.src = src;
    }

    /// The IPv6 address advertisements leave from (the carpdev's
    /// link-local address).
    pub fn set_src6(&mut self, src: Option<Ipv6Addr>) {
        self.src6 = src;
    }

    fn is_own_src(&self, src: IpAddr) -> bool {
        match src {
            IpAddr::V4(a) => self.src == Some(a),
            IpAddr::V6(a) => self.src6 == Some(a),
        }
    }

    /// The peers heard, most recent last.
    pub fn peers(&self) -> &[PeerSeen] {
        &self.peers
    }

    /// The peer heard last.
    pub fn last_peer(&self) -> Option<&PeerSeen> {
        self.peers.iter().max_by_key(|p| p.at)
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

    /// The advertisement to send now from `src` (IPv4 or IPv6); `wall` is
    /// [`wall_seq`] of the time now.
    pub fn advert(&mut self, bow_out: bool, demote: u8, src: impl Into<IpAddr>, wall: u32) -> Repr {
        let src: IpAddr = src.into();
        let (advbase, advskew) = if bow_out {
            (BOW_OUT, BOW_OUT)
        } else {
            (self.fsm.advbase(), self.fsm.advskew())
        };
        self.seq = if seq_newer(wall, self.seq) {
            wall
        } else {
            self.seq.wrapping_add(1)
        };
        let octets = match src {
            IpAddr::V4(a) => {
                self.src = Some(a);
                a.octets().to_vec()
            }
            IpAddr::V6(a) => {
                self.src6 = Some(a);
                a.octets().to_vec()
            }
        };
        let f = BoundFields {
            advbase,
            advskew,
            demote,
        };
        let counter = self.auth.bind_counter(self.seq, f, &octets);
        self.last_counter[family_of(src) as usize] = counter;
        Repr {
            vhid: self.config.vhid,
            advskew,
            advbase,
            demote,
            counter,
            hmac: self.auth.compute(&counter),
        }
    }

    /// Check a received advertisement for this vhid (the caller found us
    /// by carpdev and vhid). `ttl` is the IPv4 TTL or IPv6 hop limit,
    /// `src` the IP source (its family is the advertisement's), `payload`
    /// the bytes after the IP header.
    pub fn check(
        &mut self,
        ttl: u8,
        src: impl Into<IpAddr>,
        payload: &[u8],
        now: Duration,
    ) -> Result<Advert, Drop> {
        let src: IpAddr = src.into();
        let family = family_of(src);
        match family {
            Family::Inet => self.stats.ipackets += 1,
            Family::Inet6 => self.stats.ipackets6 += 1,
        }
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
        if self.last_counter.contains(&repr.counter) {
            self.stats.badauth += 1;
            return Err(Drop::Own);
        }
        let f = BoundFields {
            advbase: repr.advbase,
            advskew: repr.advskew,
            demote: repr.demote,
        };
        let octets = match src {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let seq = match self.auth.classify_counter(&repr.counter, f, &octets) {
            Counter::Legacy => None,
            Counter::Rewritten(_) => {
                self.stats.rewritten += 1;
                return Err(Drop::Rewritten);
            }
            Counter::Bound(_) if self.is_own_src(src) => {
                // Ours, from our own address: looped back or replayed.
                self.stats.badauth += 1;
                return Err(Drop::Own);
            }
            Counter::Bound(seq) => Some(seq),
        };
        self.remember(src, seq, f, now)?;
        Ok(Advert {
            advbase: repr.advbase,
            advskew: repr.advskew,
            demote: repr.demote,
            family,
        })
    }

    /// Note an advertisement from `src`; a pfd sequence number must be
    /// newer than the last one accepted from it.
    fn remember(
        &mut self,
        src: IpAddr,
        seq: Option<u32>,
        f: BoundFields,
        now: Duration,
    ) -> Result<(), Drop> {
        let i = match self.peers.iter().position(|p| p.src == src) {
            Some(i) => i,
            None => {
                if self.peers.len() >= MAX_PEERS {
                    // Forget the one heard least recently.
                    if let Some(old) = (0..self.peers.len()).min_by_key(|&i| self.peers[i].at) {
                        self.peers.swap_remove(old);
                    }
                }
                self.peers.push(PeerSeen {
                    src,
                    seq: None,
                    advbase: f.advbase,
                    advskew: f.advskew,
                    demote: f.demote,
                    at: now,
                });
                self.peers.len() - 1
            }
        };
        let p = &mut self.peers[i];
        if let (Some(new), Some(last)) = (seq, p.seq) {
            if !seq_newer(new, last) {
                self.stats.replay += 1;
                return Err(Drop::Replay);
            }
        }
        if seq.is_some() {
            p.seq = seq;
        }
        p.advbase = f.advbase;
        p.advskew = f.advskew;
        p.demote = f.demote;
        p.at = now;
        Ok(())
    }

    pub fn ipv4_addrs(&self) -> Vec<Ipv4Addr> {
        split_addrs(&self.config).0
    }

    pub fn ipv6_addrs(&self) -> Vec<Ipv6Addr> {
        split_addrs(&self.config).1
    }
}

fn family_of(a: IpAddr) -> Family {
    match a {
        IpAddr::V4(_) => Family::Inet,
        IpAddr::V6(_) => Family::Inet6,
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

    const M: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);

    /// The CARP payload `c` sends from `src` at wall-clock sequence `wall`.
    fn send(c: &mut CarpIf, src: Ipv4Addr, bow: bool, wall: u32) -> Vec<u8> {
        let ad = c.advert(bow, 0, src, wall);
        let pkt = build_ipv4_advert(src, "224.0.0.18".parse().unwrap(), 1, &ad);
        pkt[20..].to_vec()
    }

    fn backup(skew: u8) -> CarpIf {
        let mut b = CarpIf::new("carp1", cfg(skew, "secret"));
        b.fsm.set_runnable(true, Duration::ZERO);
        b
    }

    const T: Duration = Duration::from_secs(1);

    #[test]
    fn peers_accept_each_other_and_refuse_forgeries() {
        let mut master = CarpIf::new("carp1", cfg(0, "secret"));
        let mut backup = backup(128);
        let ad = backup
            .check(255, M, &send(&mut master, M, false, 1), T)
            .unwrap();
        assert_eq!((ad.advbase, ad.advskew), (1, 0));
        // Wrong password.
        let mut forger = CarpIf::new("carp1", cfg(0, "guess"));
        let p = send(&mut forger, M, false, 5);
        assert_eq!(backup.check(255, M, &p, T), Err(Drop::BadAuth));
        // TTL not 255 (sent from off-link).
        let p = send(&mut master, M, false, 2);
        assert_eq!(backup.check(254, M, &p, T), Err(Drop::BadTtl));
        // Corrupted.
        let mut p = send(&mut master, M, false, 3);
        p[2] ^= 1;
        assert_eq!(backup.check(255, M, &p, T), Err(Drop::BadSum));
        assert_eq!(backup.check(255, M, &p[..20], T), Err(Drop::BadLen));
        // Our own advertisement looped back.
        let own = send(&mut backup, B, false, 9);
        assert_eq!(backup.check(255, B, &own, T), Err(Drop::Own));
        assert_eq!(backup.stats.badauth, 2);
        assert_eq!(backup.stats.badttl, 1);
        // Bow-out.
        let ad = backup
            .check(255, M, &send(&mut master, M, true, 4), T)
            .unwrap();
        assert!(ad.is_bow_out());
        assert_eq!(
            backup.last_peer().map(|p| (p.src, p.seq)),
            Some((IpAddr::V4(M), Some(4)))
        );
    }

    #[test]
    fn replayed_and_rewritten_advertisements_are_dropped() {
        let mut master = CarpIf::new("carp1", cfg(100, "secret"));
        let mut b = backup(200);
        let first = send(&mut master, M, false, 1000);
        let second = send(&mut master, M, false, 1001);
        assert!(b.check(255, M, &first, T).is_ok());
        assert!(b.check(255, M, &second, T).is_ok());
        // The same or an older one again: a replay.
        assert_eq!(b.check(255, M, &second, T), Err(Drop::Replay));
        assert_eq!(b.check(255, M, &first, T), Err(Drop::Replay));
        assert_eq!(b.stats.replay, 2);
        // The next one is taken.
        assert!(b
            .check(255, M, &send(&mut master, M, false, 1002), T)
            .is_ok());
        // A fresh advertisement rewritten to advbase 0 advskew 0 (checksum
        // fixed, HMAC untouched, as the HMAC does not cover them).
        let mut p = send(&mut master, M, false, 1003);
        {
            let mut v = Packet::new_unchecked(&mut p[..]);
            v.set_advbase(0);
            v.set_advskew(0);
            v.fill_checksum();
        }
        assert_eq!(b.check(255, M, &p, T), Err(Drop::Rewritten));
        // Or sent from another address.
        let p = send(&mut master, M, false, 1004);
        assert_eq!(
            b.check(255, Ipv4Addr::new(192, 0, 2, 99), &p, T),
            Err(Drop::Rewritten)
        );
        assert_eq!(b.stats.rewritten, 2);
        // The master sends faster than the wall clock: still newer.
        let p = send(&mut master, M, false, 1000);
        assert!(b.check(255, M, &p, T).is_ok());
    }

    #[test]
    fn a_restarted_peer_goes_on() {
        let mut b = backup(200);
        let mut old = CarpIf::new("carp1", cfg(100, "secret"));
        assert!(b.check(255, M, &send(&mut old, M, false, 5000), T).is_ok());
        // pfd restarts on the peer: new interface, sequence from the clock,
        // which went on meanwhile.
        let mut new = CarpIf::new("carp1", cfg(100, "secret"));
        assert!(b.check(255, M, &send(&mut new, M, false, 9000), T).is_ok());
        // An advertisement from before the restart is a replay.
        let mut older = CarpIf::new("carp1", cfg(100, "secret"));
        let p = send(&mut older, M, false, 8000);
        assert_eq!(b.check(255, M, &p, T), Err(Drop::Replay));
        // Across the wrap of the 32-bit sequence too.
        let mut b = backup(200);
        let mut w = CarpIf::new("carp1", cfg(100, "secret"));
        assert!(b
            .check(255, M, &send(&mut w, M, false, u32::MAX), T)
            .is_ok());
        let mut w2 = CarpIf::new("carp1", cfg(100, "secret"));
        assert!(b.check(255, M, &send(&mut w2, M, false, 3), T).is_ok());
    }

    #[test]
    fn openbsd_and_ucarp_counters_are_taken() {
        // OpenBSD: a fixed random cookie; ucarp: a counter counting up.
        let c = cfg(0, "secret");
        let (v4, v6) = split_addrs(&c);
        let auth = Authenticator::new(&c.key, c.vhid, &v4, &v6);
        let mut b = backup(200);
        let cookie = [0x5a, 0x17, 0x3c, 0x99, 0x01, 0x02, 0x03, 0x04];
        for ctr in [
            cookie,
            cookie,
            [0, 0, 0, 0, 0, 0, 0, 8],
            [0, 0, 0, 0, 0, 0, 0, 9],
        ] {
            let r = Repr {
                vhid: 1,
                advskew: 0,
                advbase: 1,
                demote: 0,
                counter: ctr,
                hmac: auth.compute(&ctr),
            };
            assert!(b.check(255, M, &r.to_bytes(), T).is_ok());
        }
        assert_eq!(b.last_peer().map(|p| p.seq), Some(None));
    }

    fn cfg6(skew: u8) -> CarpConfig {
        let mut c = cfg(skew, "secret");
        c.addrs.push(IfAddr {
            net: "2001:db8::1/64".parse().unwrap(),
            broadcast: None,
        });
        c
    }

    #[test]
    fn dual_stack_adverts() {
        use crate::carp::fsm::Family;
        use crate::wire::carp::{build_ipv6_advert, CARP6_GROUP};
        let m6: Ipv6Addr = "fe80::10".parse().unwrap();
        let b6: Ipv6Addr = "fe80::11".parse().unwrap();
        let mut master = CarpIf::new("carp1", cfg6(0));
        let mut b = CarpIf::new("carp1", cfg6(100));
        assert_eq!(b.fsm.families(), [true, true]);
        b.fsm.set_runnable(true, Duration::ZERO);
        // One of each per period, both taken, counted by family.
        let p4 = send(&mut master, M, false, 10);
        let ad6 = master.advert(false, 0, m6, 10);
        let p6 = build_ipv6_advert(m6, CARP6_GROUP, &ad6);
        assert_eq!(b.check(255, M, &p4, T).map(|a| a.family), Ok(Family::Inet));
        let a = b.check(255, m6, &p6[40..], T).unwrap();
        assert_eq!((a.family, a.advskew), (Family::Inet6, 0));
        assert_eq!((b.stats.ipackets, b.stats.ipackets6), (1, 1));
        // Hop limit 254, a wrong key, an IPv4-only signer: dropped.
        assert_eq!(b.check(254, m6, &p6[40..], T), Err(Drop::BadTtl));
        let mut wrong = CarpIf::new("carp1", {
            let mut c = cfg6(0);
            c.key = b"guess".to_vec();
            c
        });
        let f = wrong.advert(false, 0, m6, 11);
        assert_eq!(b.check(255, m6, &f.to_bytes(), T), Err(Drop::BadAuth));
        let mut v4only = CarpIf::new("carp1", cfg(0, "secret"));
        let f = v4only.advert(false, 0, m6, 12);
        assert_eq!(b.check(255, m6, &f.to_bytes(), T), Err(Drop::BadAuth));
        assert_eq!(
            (b.stats.badttl, b.stats.badauth, b.stats.ipackets6),
            (1, 2, 4)
        );
        // The same again is a replay; from another source, rewritten.
        assert_eq!(b.check(255, m6, &p6[40..], T), Err(Drop::Replay));
        let ad6 = master.advert(false, 0, m6, 13);
        let other: Ipv6Addr = "fe80::99".parse().unwrap();
        assert_eq!(
            b.check(255, other, &ad6.to_bytes(), T),
            Err(Drop::Rewritten)
        );
        // Our own IPv6 advertisement coming back.
        let own = b.advert(false, 0, b6, 14);
        assert_eq!(b.check(255, b6, &own.to_bytes(), T), Err(Drop::Own));
        assert_eq!(
            b.peers().iter().map(|p| p.src).collect::<Vec<_>>(),
            vec![IpAddr::V4(M), IpAddr::V6(m6)]
        );
    }

    #[test]
    fn key_longer_than_19_is_truncated() {
        let mut a = CarpIf::new("carp1", cfg(0, "0123456789012345678901"));
        let mut b = CarpIf::new("carp1", cfg(0, "0123456789012345678"));
        b.fsm.set_runnable(true, Duration::ZERO);
        assert!(b.check(255, M, &send(&mut a, M, false, 1), T).is_ok());
    }

    #[test]
    fn received_reads_the_ip_header() {
        let mut master = CarpIf::new("carp1", cfg(0, "secret"));
        let mut pkt = build_ipv4_advert(
            "192.0.2.10".parse().unwrap(),
            "224.0.0.18".parse().unwrap(),
            1,
            &master.advert(false, 0, M, 1),
        )
        .to_vec();
        let r = Received::parse(&pkt).unwrap();
        assert_eq!((r.ttl, r.vhid, r.payload.len()), (255, 1, 36));
        assert_eq!(r.src, Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(r.dst, Ipv4Addr::new(224, 0, 0, 18));
        assert_eq!(Received::parse(&pkt[..19]), None);
        // A header length under 20 bytes (IHL < 5) made the IP header part
        // of the advertisement (seen while writing the CARP fuzz target):
        // dropped now, as OpenBSD's ip_input drops it.
        pkt[0] = 0x44;
        assert_eq!(Received::parse(&pkt), None);
        pkt[0] = 0x40;
        assert_eq!(Received::parse(&pkt), None);
        // Beyond the packet.
        pkt[0] = 0x4f;
        assert_eq!(Received::parse(&pkt[..40]), None);
        // Not IPv4.
        pkt[0] = 0x65;
        assert_eq!(Received::parse(&pkt), None);
    }
}

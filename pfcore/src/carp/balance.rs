//! CARP load balancing (carp.4 `balancing` and `carpnodes`, wire-facts
//! §1.11), the pure part: the modes and their names, the `carpnodes`
//! list as ifconfig takes it, the virtual MAC of each carpnode, and the
//! two hashes that decide which carpnode owns a packet: IP balancing's
//! fold of source and destination (OpenBSD's carp_lsdrop) and the
//! historic ARP balancing's Jenkins hash of the requester's MAC
//! (carp_hash, with the key carp_hmac_prepare derives).
//!
//! Not yet wired to pfd: the ifconfig parser still refuses `balancing`
//! and `carpnodes` (see CAVEATS in carp.4).

use crate::wire::carp::{CARP_ADVERTISEMENT, CARP_KEY_MAX, CARP_VERSION};
use crate::wire::ethernet::EthernetAddress;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// Most carpnodes on one carp interface (CARP_MAXNODES).
pub const MAX_NODES: usize = 32;

/// `balancing` modes. `Arp` is the historic mode (OpenBSD until 5.9);
/// the numbers are current OpenBSD's for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Balancing {
    None,
    Ip,
    IpStealth,
    IpUnicast,
    Arp,
}

impl Balancing {
    pub fn name(self) -> &'static str {
        match self {
            Balancing::None => "none",
            Balancing::Ip => "ip",
            Balancing::IpStealth => "ip-stealth",
            Balancing::IpUnicast => "ip-unicast",
            Balancing::Arp => "arp",
        }
    }

    pub fn parse(s: &str) -> Result<Balancing, String> {
        [
            Balancing::None,
            Balancing::Ip,
            Balancing::IpStealth,
            Balancing::IpUnicast,
            Balancing::Arp,
        ]
        .into_iter()
        .find(|b| b.name() == s)
        .ok_or_else(|| {
            format!("balancing {s}: unknown mode (none, ip, ip-stealth, ip-unicast, arp)")
        })
    }

    /// One of the `ip*` modes: every node receives every packet and keeps
    /// its share.
    pub fn is_ip(self) -> bool {
        matches!(
            self,
            Balancing::Ip | Balancing::IpStealth | Balancing::IpUnicast
        )
    }
}

/// One `vhid:advskew` of a `carpnodes` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CarpNode {
    pub vhid: u8,
    pub advskew: u8,
}

/// `carpnodes vhid:advskew,...` as ifconfig takes it: 1 to 32 nodes,
/// vhid 1..255, each once, advskew 0..254; sorted by vhid, the first
/// being the leader.
pub fn parse_carpnodes(s: &str) -> Result<Vec<CarpNode>, String> {
    let mut nodes = Vec::new();
    for item in s.split(',') {
        let (v, a) = item
            .split_once(':')
            .ok_or_else(|| format!("carpnodes {s}: {item:?} is not vhid:advskew"))?;
        let vhid = v
            .parse::<u8>()
            .ok()
            .filter(|&v| v != 0)
            .ok_or_else(|| format!("carpnodes {s}: vhid {v:?} not in 1..255"))?;
        let advskew = a
            .parse::<u8>()
            .ok()
            .filter(|&a| a < 255)
            .ok_or_else(|| format!("carpnodes {s}: advskew {a:?} not in 0..254"))?;
        if nodes.iter().any(|n: &CarpNode| n.vhid == vhid) {
            return Err(format!("carpnodes {s}: vhid {vhid} given twice"));
        }
        nodes.push(CarpNode { vhid, advskew });
    }
    if nodes.len() > MAX_NODES {
        return Err(format!(
            "carpnodes {s}: {} nodes, at most {MAX_NODES}",
            nodes.len()
        ));
    }
    nodes.sort_by_key(|n| n.vhid);
    Ok(nodes)
}

/// The mode in force for `nodes`: one node means no balancing; several
/// with `none` mean `ip` (carp_ioctl's rule).
pub fn effective(mode: Balancing, nodes: usize) -> Balancing {
    match (mode, nodes) {
        (_, 0 | 1) => Balancing::None,
        (Balancing::None, _) => Balancing::Ip,
        (m, _) => m,
    }
}

/// The virtual MAC of carpnode `vhid`: 01:00:5e:00:01:vhid for the leader
/// in `ip` mode (a multicast address, so switches flood), else
/// 00:00:5e:00:01:vhid.
pub fn node_mac(mode: Balancing, leader: bool, vhid: u8) -> EthernetAddress {
    let first = if mode == Balancing::Ip && leader {
        0x01
    } else {
        0x00
    };
    EthernetAddress([first, 0x00, 0x5e, 0x00, 0x01, vhid])
}

/// IP balancing: the index of the carpnode (in vhid order) that owns a
/// packet from `src` to `dst`, among `n`: the XOR of the addresses' 32-bit
/// words (all four of each for IPv6), read big-endian, modulo `n`. The
/// same for both directions. None for mixed families or no nodes.
pub fn ip_index(src: IpAddr, dst: IpAddr, n: usize) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let fold = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => u32::from(s) ^ u32::from(d),
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let (s, d) = (s.octets(), d.octets());
            (0..4).fold(0u32, |f, i| {
                let w = |b: &[u8; 16]| {
                    u32::from_be_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
                };
                f ^ w(&s) ^ w(&d)
            })
        }
        _ => return None,
    };
    Some(fold as usize % n)
}

/// The 64-bit key of ARP balancing (carp_hmac_prepare): SHA-1 of the
/// HMAC inner pad (the passphrase cut to 19 bytes, zero-filled to 64, XOR
/// 0x36), version and type; of the digest's five 32-bit words, read in
/// host order (little-endian on the amd64 and i386 machines OpenBSD ran
/// ARP balancing on), key0 = w0 ^ w1 and key1 = w2 ^ w3.
pub fn arp_hash_key(pass: &[u8]) -> [u32; 2] {
    let key = truncated(pass);
    let mut pad = [0x36u8; 64];
    for (p, k) in pad.iter_mut().zip(key.iter()) {
        *p ^= k;
    }
    let mut h = Sha1::new();
    h.update(pad);
    h.update([CARP_VERSION, CARP_ADVERTISEMENT]);
    let d = h.finalize();
    let w = |i: usize| u32::from_le_bytes([d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3]]);
    [w(0) ^ w(1), w(2) ^ w(3)]
}

/// The passphrase as the key buffer holds it: up to the first NUL, at
/// most 19 bytes, zero-filled to 20.
fn truncated(pass: &[u8]) -> [u8; CARP_KEY_MAX + 1] {
    let end = pass
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(pass.len())
        .min(CARP_KEY_MAX);
    let mut k = [0u8; CARP_KEY_MAX + 1];
    k[..end].copy_from_slice(&pass[..end]);
    k
}

/// Bob Jenkins' lookup2 mix of three 32-bit words.
fn mix(mut a: u32, mut b: u32, mut c: u32) -> (u32, u32, u32) {
    macro_rules! step {
        ($x:ident, $y:ident, $z:ident, $op:tt, $s:expr) => {
            $x = $x.wrapping_sub($y).wrapping_sub($z);
            $x ^= $z $op $s;
        };
    }
    step!(a, b, c, >>, 13);
    step!(b, c, a, <<, 8);
    step!(c, a, b, >>, 13);
    step!(a, b, c, >>, 12);
    step!(b, c, a, <<, 16);
    step!(c, a, b, >>, 5);
    step!(a, b, c, >>, 3);
    step!(b, c, a, <<, 10);
    step!(c, a, b, >>, 15);
    (a, b, c)
}

/// ARP balancing (historic carp_hash): the hash of a requester's MAC with
/// the interface's key and the first four passphrase bytes. The carpnode
/// that answers is `arp_hash(..) % n`.
pub fn arp_hash(key: [u32; 2], pass: &[u8], mac: &EthernetAddress) -> u32 {
    let p = truncated(pass);
    let m = mac.0;
    let a = 0x9e37_79b9u32.wrapping_add(u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    let b = key[0].wrapping_add(u32::from(m[4]) | u32::from(m[5]) << 8);
    let c = key[1].wrapping_add(u32::from_le_bytes([p[0], p[1], p[2], p[3]]));
    mix(a, b, c).2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn modes() {
        for m in ["none", "ip", "ip-stealth", "ip-unicast", "arp"] {
            assert_eq!(Balancing::parse(m).unwrap().name(), m);
        }
        assert!(Balancing::parse("round-robin")
            .unwrap_err()
            .contains("unknown mode"));
        assert_eq!(effective(Balancing::Ip, 1), Balancing::None);
        assert_eq!(effective(Balancing::None, 2), Balancing::Ip);
        assert_eq!(effective(Balancing::IpStealth, 2), Balancing::IpStealth);
        assert!(Balancing::IpUnicast.is_ip() && !Balancing::Arp.is_ip());
    }

    #[test]
    fn carpnodes() {
        let n = parse_carpnodes("4:100,3:0").unwrap();
        assert_eq!(
            n,
            vec![
                CarpNode {
                    vhid: 3,
                    advskew: 0
                },
                CarpNode {
                    vhid: 4,
                    advskew: 100
                }
            ]
        );
        for (bad, why) in [
            ("3:0,3:100", "given twice"),
            ("0:1", "vhid"),
            ("256:1", "vhid"),
            ("1:255", "advskew"),
            ("1", "vhid:advskew"),
            ("1:0,", "vhid:advskew"),
        ] {
            let e = parse_carpnodes(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let many: Vec<String> = (1..=33).map(|v| format!("{v}:0")).collect();
        assert!(parse_carpnodes(&many.join(","))
            .unwrap_err()
            .contains("at most 32"));
        assert_eq!(parse_carpnodes(&many[..32].join(",")).unwrap().len(), 32);
    }

    #[test]
    fn macs() {
        assert_eq!(
            node_mac(Balancing::Ip, true, 3).to_string(),
            "01:00:5e:00:01:03"
        );
        assert_eq!(
            node_mac(Balancing::Ip, false, 4).to_string(),
            "00:00:5e:00:01:04"
        );
        assert_eq!(
            node_mac(Balancing::IpStealth, true, 3).to_string(),
            "00:00:5e:00:01:03"
        );
    }

    #[test]
    fn ip_fold() {
        // 10.0.0.1 ^ 10.0.0.2 = 3: node 1 of 2, node 0 of 3.
        assert_eq!(ip_index(ip("10.0.0.1"), ip("10.0.0.2"), 2), Some(1));
        assert_eq!(ip_index(ip("10.0.0.1"), ip("10.0.0.2"), 3), Some(0));
        // Symmetric: both directions of a connection go to one node.
        for (s, d) in [
            ("192.0.2.7", "198.51.100.9"),
            ("2001:db8::1", "2001:db8:5::77"),
        ] {
            for n in 1..6 {
                assert_eq!(ip_index(ip(s), ip(d), n), ip_index(ip(d), ip(s), n));
            }
        }
        // IPv6: every word counts. ::1 ^ ::2 folds to 3; a difference in
        // the first word moves it.
        assert_eq!(ip_index(ip("2001:db8::1"), ip("2001:db8::2"), 2), Some(1));
        assert_eq!(ip_index(ip("2001:db8::1"), ip("2001:db9::1"), 2), Some(1));
        assert_eq!(ip_index(ip("2001:db8::1"), ip("2001:dba::1"), 4), Some(2));
        assert_eq!(ip_index(ip("10.0.0.1"), ip("::1"), 2), None);
        assert_eq!(ip_index(ip("10.0.0.1"), ip("10.0.0.2"), 0), None);
        // Spread: 1000 clients to one server land on both of 2 nodes
        // about evenly.
        let server = ip("192.0.2.1");
        let ones = (0..1000u32)
            .filter(|i| {
                let c = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
                ip_index(c, server, 2) == Some(1)
            })
            .count();
        assert_eq!(ones, 500);
    }

    #[test]
    fn jenkins_mix() {
        // lookup2's mix on zero input and on the golden ratio, computed
        // step by step from Jenkins' definition.
        let (a, b, c) = mix(0, 0, 0);
        assert_eq!((a, b, c), (0, 0, 0));
        let reference = |mut a: u32, mut b: u32, mut c: u32| {
            a = a.wrapping_sub(b).wrapping_sub(c) ^ (c >> 13);
            b = b.wrapping_sub(c).wrapping_sub(a) ^ (a << 8);
            c = c.wrapping_sub(a).wrapping_sub(b) ^ (b >> 13);
            a = a.wrapping_sub(b).wrapping_sub(c) ^ (c >> 12);
            b = b.wrapping_sub(c).wrapping_sub(a) ^ (a << 16);
            c = c.wrapping_sub(a).wrapping_sub(b) ^ (b >> 5);
            a = a.wrapping_sub(b).wrapping_sub(c) ^ (c >> 3);
            b = b.wrapping_sub(c).wrapping_sub(a) ^ (a << 10);
            c = c.wrapping_sub(a).wrapping_sub(b) ^ (b >> 15);
            (a, b, c)
        };
        for x in [(0x9e37_79b9, 1, 2), (u32::MAX, 7, 0x1234_5678), (5, 6, 7)] {
            assert_eq!(mix(x.0, x.1, x.2), reference(x.0, x.1, x.2));
        }
    }

    #[test]
    fn arp_hash_spreads_and_depends_on_key() {
        let key = arp_hash_key(b"password3");
        assert_ne!(key, arp_hash_key(b"password4"));
        // Cut at 19 bytes and at a NUL, as the HMAC key.
        assert_eq!(
            arp_hash_key(b"0123456789abcdefghiXYZ"),
            arp_hash_key(b"0123456789abcdefghi")
        );
        assert_eq!(arp_hash_key(b"ab\0cd"), arp_hash_key(b"ab"));
        let mut counts = [0usize; 2];
        for i in 0..1000u32 {
            let b = i.to_be_bytes();
            let mac = EthernetAddress([0x02, 0x00, b[0], b[1], b[2], b[3]]);
            counts[(arp_hash(key, b"password3", &mac) % 2) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 400), "{counts:?}");
        let mac = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
        assert_ne!(
            arp_hash(key, b"password3", &mac),
            arp_hash(arp_hash_key(b"other"), b"other", &mac)
        );
    }
}

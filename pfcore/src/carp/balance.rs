//! CARP load balancing (carp(4) `balancing` and `carpnodes`): the list of
//! carpnodes one carp interface runs (each a vhid with its own advskew and
//! its own election), the balancing modes, the virtual MAC each node uses
//! in each mode, and which node owns what: the hash over an IP packet's
//! source and destination (OpenBSD's carp_lsdrop) for the `ip` modes, the
//! hash over an ARP requester's MAC (carp_iamatch, carp_hash) for `arp`.
//! Pure: the daemon keeps a mask of the nodes that are MASTER here and asks.

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Most carpnodes one interface takes (the width of OpenBSD's lsmask).
pub const CARP_MAXNODES: usize = 32;

/// `balancing` modes, with OpenBSD's current numbers (arp is the historic
/// mode, numbered here after the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Balancing {
    #[default]
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

    /// ifconfig's words, case-insensitive as OpenBSD compares them.
    pub fn parse(s: &str) -> Option<Balancing> {
        [
            Balancing::None,
            Balancing::Ip,
            Balancing::IpStealth,
            Balancing::IpUnicast,
            Balancing::Arp,
        ]
        .into_iter()
        .find(|b| b.name().eq_ignore_ascii_case(s))
    }

    /// Every node receives all traffic for the address and keeps its share
    /// by the address hash (`ip`, `ip-stealth`, `ip-unicast`).
    pub fn is_ip(self) -> bool {
        matches!(
            self,
            Balancing::Ip | Balancing::IpStealth | Balancing::IpUnicast
        )
    }

    /// Frames (advertisements, ARP replies) leave with the carpdev's own
    /// MAC as Ethernet source, never a virtual one: `ip` (whose virtual
    /// MAC is a multicast address, invalid as a source) and `ip-stealth`
    /// (so switches never learn where the virtual MAC lives and flood).
    pub fn hides_source_mac(self) -> bool {
        matches!(self, Balancing::Ip | Balancing::IpStealth)
    }
}

/// One carpnode: a vhid and this host's advskew on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CarpNode {
    pub vhid: u8,
    pub advskew: u8,
}

/// `carpnodes vhid:advskew,...`: checked as OpenBSD's carp_vhids_ioctl
/// checks it (vhid 1..255 and unique, advskew 0..254, at most 32), sorted
/// by vhid (the first is the leader).
pub fn parse_carpnodes(s: &str) -> Result<Vec<CarpNode>, String> {
    let mut nodes: Vec<CarpNode> = Vec::new();
    for item in s.split(',') {
        let (v, a) = item
            .split_once(':')
            .ok_or_else(|| format!("carpnodes {s}: {item}: not vhid:advskew"))?;
        let vhid = num(v, 1, 255).map_err(|e| format!("carpnodes {s}: vhid {v}: {e}"))?;
        let advskew = num(a, 0, 254).map_err(|e| format!("carpnodes {s}: advskew {a}: {e}"))?;
        if nodes.iter().any(|n| n.vhid == vhid) {
            return Err(format!("carpnodes {s}: vhid {vhid} given twice"));
        }
        nodes.push(CarpNode { vhid, advskew });
    }
    if nodes.len() > CARP_MAXNODES {
        return Err(format!(
            "carpnodes {s}: {} nodes, at most {CARP_MAXNODES}",
            nodes.len()
        ));
    }
    nodes.sort_by_key(|n| n.vhid);
    Ok(nodes)
}

/// strtonum's messages.
fn num(s: &str, min: i64, max: i64) -> Result<u8, &'static str> {
    let n: i64 = s.parse().map_err(|_| "invalid")?;
    if n < min {
        Err("too small")
    } else if n > max {
        Err("too large")
    } else {
        Ok(n as u8)
    }
}

/// `carpnodes` as ifconfig takes it back.
pub fn format_carpnodes(nodes: &[CarpNode]) -> String {
    nodes
        .iter()
        .map(|n| format!("{}:{}", n.vhid, n.advskew))
        .collect::<Vec<_>>()
        .join(",")
}

/// The virtual MAC of a node (carp_set_vhe_enaddr): 00:00:5e:00:01:vhid,
/// with the multicast bit set for the leader under `balancing ip`.
pub fn node_mac(balancing: Balancing, leader: bool, vhid: u8) -> [u8; 6] {
    let first = if leader && balancing == Balancing::Ip {
        1
    } else {
        0
    };
    [first, 0, 0x5e, 0, 1, vhid]
}

/// The fold of carp_lsdrop: source XOR destination as 32-bit words (all
/// four words of each for IPv6), as a big-endian number.
pub fn fold(src: IpAddr, dst: IpAddr) -> Option<u32> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Some(u32::from(s) ^ u32::from(d)),
        (IpAddr::V6(s), IpAddr::V6(d)) => Some(fold6(s) ^ fold6(d)),
        _ => None,
    }
}

fn fold6(a: Ipv6Addr) -> u32 {
    let o = a.octets();
    o.chunks_exact(4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        .fold(0, |x, w| x ^ w)
}

/// The node (0-based, in vhid order) that owns a packet between `src` and
/// `dst` among `count` nodes. Symmetric: both directions of a connection
/// hash to the same node.
pub fn owner(src: IpAddr, dst: IpAddr, count: usize) -> Option<usize> {
    if count == 0 {
        return None;
    }
    fold(src, dst).map(|f| f as usize % count)
}

/// carp_lsdrop: whether a host with `mask` (bit i: node i is MASTER here)
/// of `count` nodes drops this IP packet. Multicast and broadcast
/// destinations are never dropped (advertisements among them). No nodes
/// at all: everything is dropped, as OpenBSD does.
pub fn lsdrop(mask: u32, count: usize, src: IpAddr, dst: IpAddr) -> bool {
    let never = match dst {
        IpAddr::V4(d) => d.is_multicast() || d == Ipv4Addr::BROADCAST,
        IpAddr::V6(d) => d.is_multicast(),
    };
    if never {
        return false;
    }
    match owner(src, dst, count) {
        Some(i) if i < 32 => mask & (1 << i) == 0,
        Some(_) => true,
        None => count == 0,
    }
}

/// The source and destination of an IPv4 or IPv6 packet (`None` when it
/// is too short to have them).
pub fn packet_addrs(pkt: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match pkt.first()? >> 4 {
        4 if pkt.len() >= 20 => {
            let s: [u8; 4] = pkt[12..16].try_into().ok()?;
            let d: [u8; 4] = pkt[16..20].try_into().ok()?;
            Some((IpAddr::from(s), IpAddr::from(d)))
        }
        6 if pkt.len() >= 40 => {
            let s: [u8; 16] = pkt[8..24].try_into().ok()?;
            let d: [u8; 16] = pkt[24..40].try_into().ok()?;
            Some((IpAddr::from(s), IpAddr::from(d)))
        }
        _ => None,
    }
}

/// The key of the `arp` balancing hash (carp_hmac_prepare): the SHA-1 of
/// the HMAC's inner pad block and the version and type bytes; of its five
/// 32-bit words (read in the byte order of amd64, where OpenBSD ran it),
/// w0 ^ w1 and w2 ^ w3; and the first four bytes of the passphrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ArpHashKey {
    k0: u32,
    k1: u32,
    pass: [u8; 4],
}

impl ArpHashKey {
    pub fn new(key: &[u8]) -> ArpHashKey {
        let mut pad = [0x36u8; 64];
        for (p, k) in pad.iter_mut().zip(key.iter().take(20)) {
            *p ^= k;
        }
        let mut h = Sha1::new();
        h.update(pad);
        h.update([2u8, 1u8]);
        let d = h.finalize();
        let w = |i: usize| u32::from_le_bytes([d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3]]);
        let mut pass = [0u8; 4];
        for (p, k) in pass.iter_mut().zip(key.iter()) {
            *p = *k;
        }
        ArpHashKey {
            k0: w(0) ^ w(1),
            k1: w(2) ^ w(3),
            pass,
        }
    }

    /// carp_hash: Bob Jenkins' mix over the requester's MAC and the key.
    pub fn hash(&self, mac: [u8; 6]) -> u32 {
        let p = self.pass;
        let mut a =
            0x9e37_79b9u32.wrapping_add(u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]));
        let mut b = self
            .k0
            .wrapping_add(u32::from(mac[4]) | (u32::from(mac[5]) << 8));
        let mut c = self.k1.wrapping_add(u32::from_le_bytes(p));
        mix(&mut a, &mut b, &mut c);
        c
    }

    /// The node that answers an ARP request from `mac` among `count`.
    pub fn arp_owner(&self, mac: [u8; 6], count: usize) -> Option<usize> {
        (count > 0).then(|| self.hash(mac) as usize % count)
    }
}

fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    macro_rules! step {
        ($x:ident, $y:ident, $z:ident, $op:tt, $n:expr) => {
            *$x = $x.wrapping_sub(*$y).wrapping_sub(*$z) ^ (*$z $op $n);
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
}

/// The bit mask of nodes that are MASTER (carp_update_lsmask).
pub fn master_mask(masters: impl IntoIterator<Item = bool>) -> u32 {
    masters
        .into_iter()
        .take(32)
        .enumerate()
        .filter(|(_, m)| *m)
        .fold(0, |m, (i, _)| m | (1 << i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn carpnodes_are_checked_and_sorted() {
        let n = parse_carpnodes("2:100,1:0").unwrap();
        assert_eq!(
            n,
            vec![
                CarpNode {
                    vhid: 1,
                    advskew: 0
                },
                CarpNode {
                    vhid: 2,
                    advskew: 100
                }
            ]
        );
        assert_eq!(format_carpnodes(&n), "1:0,2:100");
        assert!(parse_carpnodes("1:0,1:5").unwrap_err().contains("twice"));
        assert!(parse_carpnodes("0:0").unwrap_err().contains("too small"));
        assert!(parse_carpnodes("256:0").unwrap_err().contains("too large"));
        assert!(parse_carpnodes("1:255")
            .unwrap_err()
            .contains("advskew 255"));
        assert!(parse_carpnodes("1").unwrap_err().contains("vhid:advskew"));
        assert!(parse_carpnodes("1:x").unwrap_err().contains("invalid"));
        let many: Vec<String> = (1..=33).map(|v| format!("{v}:0")).collect();
        assert!(parse_carpnodes(&many.join(","))
            .unwrap_err()
            .contains("at most 32"));
        assert_eq!(parse_carpnodes(&many[..32].join(",")).unwrap().len(), 32);
    }

    #[test]
    fn modes_and_macs() {
        assert_eq!(Balancing::parse("IP-Stealth"), Some(Balancing::IpStealth));
        assert_eq!(Balancing::parse("bogus"), None);
        assert_eq!(node_mac(Balancing::Ip, true, 3), [1, 0, 0x5e, 0, 1, 3]);
        assert_eq!(node_mac(Balancing::Ip, false, 4), [0, 0, 0x5e, 0, 1, 4]);
        assert_eq!(node_mac(Balancing::Arp, true, 3), [0, 0, 0x5e, 0, 1, 3]);
        assert!(Balancing::IpUnicast.is_ip() && !Balancing::Arp.is_ip());
        assert!(!Balancing::IpUnicast.hides_source_mac());
    }

    #[test]
    fn the_hash_is_openbsds_and_symmetric() {
        // 10.0.0.11 ^ 10.1.0.100 = 0x0001_006f: odd, node 1 of 2.
        assert_eq!(fold(ip("10.0.0.11"), ip("10.1.0.100")), Some(0x0001_006f));
        assert_eq!(owner(ip("10.0.0.11"), ip("10.1.0.100"), 2), Some(1));
        assert_eq!(owner(ip("10.1.0.100"), ip("10.0.0.11"), 2), Some(1));
        assert_eq!(owner(ip("10.0.0.12"), ip("10.1.0.100"), 2), Some(0));
        assert_eq!(
            owner(ip("10.0.0.12"), ip("10.1.0.100"), 3),
            Some(0x0001_0068 % 3)
        );
        // IPv6: every word folded.
        let f = fold(ip("2001:db8::1"), ip("2001:db8::2")).unwrap();
        assert_eq!(f, 3);
        assert_eq!(fold(ip("2001:db8::1"), ip("10.0.0.1")), None);
    }

    #[test]
    fn lsdrop_keeps_the_share_of_the_masters() {
        let (a, b) = (ip("10.0.0.11"), ip("10.1.0.100"));
        // Node 1 is MASTER here: keep.
        assert!(!lsdrop(0b10, 2, a, b));
        assert!(lsdrop(0b01, 2, a, b));
        assert!(!lsdrop(0b11, 2, a, b));
        assert!(lsdrop(0, 2, a, b));
        // Multicast and broadcast always pass.
        assert!(!lsdrop(0, 2, a, ip("224.0.0.18")));
        assert!(!lsdrop(0, 2, a, ip("255.255.255.255")));
        assert!(!lsdrop(0, 2, ip("fe80::1"), ip("ff02::12")));
        assert!(lsdrop(0, 0, a, b));
        assert_eq!(master_mask([true, false, true]), 0b101);
    }

    #[test]
    fn packet_addresses() {
        let mut p = [0u8; 40];
        p[0] = 0x45;
        p[12..16].copy_from_slice(&[10, 0, 0, 11]);
        p[16..20].copy_from_slice(&[10, 1, 0, 100]);
        assert_eq!(
            packet_addrs(&p[..20]),
            Some((ip("10.0.0.11"), ip("10.1.0.100")))
        );
        assert_eq!(packet_addrs(&p[..19]), None);
        p[0] = 0x60;
        p[8..24].copy_from_slice(&ip6_octets("2001:db8::1"));
        p[24..40].copy_from_slice(&ip6_octets("2001:db8::2"));
        assert_eq!(
            packet_addrs(&p),
            Some((ip("2001:db8::1"), ip("2001:db8::2")))
        );
        assert_eq!(packet_addrs(&p[..39]), None);
        assert_eq!(packet_addrs(&[]), None);
    }

    fn ip6_octets(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn arp_hash_spreads_and_depends_on_the_key() {
        let k = ArpHashKey::new(b"secret");
        let macs: Vec<[u8; 6]> = (0..64u8).map(|i| [2, 0, 0, 0, 0, i]).collect();
        let ones = macs
            .iter()
            .filter(|m| k.arp_owner(**m, 2) == Some(1))
            .count();
        assert!((16..=48).contains(&ones), "{ones}");
        let other = ArpHashKey::new(b"other");
        assert!(macs.iter().any(|m| k.hash(*m) != other.hash(*m)));
        assert_eq!(k.arp_owner([0; 6], 0), None);
        // The same inputs always give the same node (every host agrees).
        assert_eq!(ArpHashKey::new(b"secret"), k);
    }
}

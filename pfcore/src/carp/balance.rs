//! CARP load balancing (carp(4) `balancing` and `carpnodes`): the list of
//! carpnodes one carp interface runs (each a vhid with its own advskew and
//! its own election), the balancing modes, the virtual MAC each node uses
//! in each mode, and which node owns what: the hash over an IP packet's
//! source and destination (OpenBSD's carp_lsdrop) for the `ip` modes, the
//! hash over an ARP requester's MAC (carp_iamatch, carp_hash) for `arp`;
//! the answers to ARP requests and neighbour solicitations for the
//! addresses, with the MAC the mode gives. Pure: the daemon keeps a mask
//! of the nodes that are MASTER here and asks.

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

/// What a host needs to know to keep its share of a balanced carp
/// interface: the mode, the nodes' vhids in order, which of them are
/// MASTER here, the arp hash key, the carpdev's own MAC and the
/// interface's addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Share {
    pub balancing: Balancing,
    pub vhids: Vec<u8>,
    /// Bit i: node i is MASTER here.
    pub mask: u32,
    pub key: ArpHashKey,
    pub carpdev_mac: [u8; 6],
    pub addrs: Vec<Ipv4Addr>,
    pub addrs6: Vec<Ipv6Addr>,
    /// The host forwards IPv6 on the interface: NAs carry the Router flag.
    pub router: bool,
}

/// Neighbour discovery and MLD (ICMPv6 130..137 and 143) in an IPv6
/// packet whose first next header is ICMPv6: kept out of the share, as
/// OpenBSD's ip6_input keeps all ICMPv6 out of carp_lsdrop.
fn nd_or_mld(pkt: &[u8]) -> bool {
    use crate::wire::icmpv6::{MLDV2_LISTENER_REPORT, MLD_LISTENER_QUERY, ND_REDIRECT};
    pkt.first().is_some_and(|b| b >> 4 == 6)
        && pkt.get(6) == Some(&crate::wire::IPPROTO_ICMPV6)
        && pkt.get(40).is_some_and(|&t| {
            (MLD_LISTENER_QUERY..=ND_REDIRECT).contains(&t) || t == MLDV2_LISTENER_REPORT
        })
}

impl Share {
    fn leader_master(&self) -> bool {
        self.mask & 1 != 0
    }

    /// carp_lsdrop for a packet (IP header first) that came in by the
    /// carp interface: true when another host owns it.
    pub fn drops(&self, pkt: &[u8]) -> bool {
        if !self.balancing.is_ip() || nd_or_mld(pkt) {
            return false;
        }
        match packet_addrs(pkt) {
            Some((s, d)) => lsdrop(self.mask, self.vhids.len(), s, d),
            None => false,
        }
    }

    /// carp_iamatch: how to answer an ARP request for one of the
    /// addresses from `requester`: (Ethernet source, sender hardware
    /// address), or None when another host answers.
    pub fn arp_answer(&self, requester: [u8; 6]) -> Option<([u8; 6], [u8; 6])> {
        let leader = *self.vhids.first()?;
        match self.balancing {
            Balancing::Arp => {
                let i = self.key.arp_owner(requester, self.vhids.len())?;
                if i >= 32 || self.mask & (1 << i) == 0 {
                    return None;
                }
                let mac = node_mac(self.balancing, i == 0, self.vhids[i]);
                Some((mac, mac))
            }
            b if self.leader_master() => {
                let mac = node_mac(b, true, leader);
                let src = if b.hides_source_mac() {
                    self.carpdev_mac
                } else {
                    mac
                };
                Some((src, mac))
            }
            _ => None,
        }
    }

    /// The reply to an ARP request frame (Ethernet header first) for one
    /// of the addresses, when this host is the one to answer.
    pub fn arp_reply(&self, frame: &[u8]) -> Option<[u8; 42]> {
        use crate::wire::arp::{self, Operation, Packet, Repr};
        use crate::wire::ethernet::{self, EthernetAddress, ETHERTYPE_ARP};
        let eth = ethernet::Frame::new_checked(frame).ok()?;
        if eth.ethertype() != ETHERTYPE_ARP {
            return None;
        }
        let req = Repr::parse(&Packet::new_checked(eth.payload()).ok()?).ok()?;
        if req.operation != Operation::Request
            || !self.addrs.contains(&req.target_ip)
            || req.sender_ip == req.target_ip
        {
            return None;
        }
        let (src, sha) = self.arp_answer(req.sender_hw.0)?;
        let reply = Repr {
            operation: Operation::Reply,
            sender_hw: EthernetAddress(sha),
            sender_ip: req.target_ip,
            target_hw: req.sender_hw,
            target_ip: req.sender_ip,
        };
        Some(arp::frame(EthernetAddress(src), req.sender_hw, &reply))
    }
}

impl Share {
    /// carp_iamatch for a neighbour solicitation frame (Ethernet header
    /// first) for one of the IPv6 addresses: the neighbour advertisement
    /// frame that answers it when this host is the leader's MASTER, with
    /// the leader's MAC of the mode as target link-layer address (the
    /// multicast one under ip) and the carpdev's own MAC as source under
    /// ip and ip-stealth. Solicited and Override set, Router when
    /// forwarding; to ff02::1 without Solicited for a DAD probe (from
    /// ::). The solicitation must be well formed: hop limit 255, code 0,
    /// a good checksum, no multicast target.
    pub fn nd_reply(&self, frame: &[u8]) -> Option<Vec<u8>> {
        use crate::wire::ethernet::{self, EthernetAddress, ETHERTYPE_IPV6};
        use crate::wire::icmpv6::{
            self, neighbor_advert_packet, ND_NA_FLAG_OVERRIDE, ND_NA_FLAG_ROUTER,
            ND_NA_FLAG_SOLICITED, ND_NEIGHBOR_SOLICIT,
        };
        use crate::wire::ipv6;
        if !self.balancing.is_ip() || !self.leader_master() {
            return None;
        }
        let eth = ethernet::Frame::new_checked(frame).ok()?;
        if eth.ethertype() != ETHERTYPE_IPV6 {
            return None;
        }
        let ip = ipv6::Packet::new_checked(eth.payload()).ok()?;
        if ip.next_header() != crate::wire::IPPROTO_ICMPV6 || ip.hop_limit() != 255 {
            return None;
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let msg = icmpv6::Packet::new_checked(ip.payload()).ok()?;
        let r = icmpv6::Repr::parse(&msg, &src, &dst).ok()?;
        if r.msg_type != ND_NEIGHBOR_SOLICIT || r.msg_code != 0 || ip.payload().len() < 24 {
            return None;
        }
        let target = msg.nd_target()?;
        if !self.addrs6.contains(&target) || src == target {
            return None;
        }
        let leader = *self.vhids.first()?;
        let mac = node_mac(self.balancing, true, leader);
        let eth_src = if self.balancing.hides_source_mac() {
            self.carpdev_mac
        } else {
            mac
        };
        let router = if self.router { ND_NA_FLAG_ROUTER } else { 0 };
        let (to, flags) = if src.is_unspecified() {
            (ipv6::ALL_NODES, ND_NA_FLAG_OVERRIDE | router)
        } else {
            (src, ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE | router)
        };
        let pkt = neighbor_advert_packet(&target, &to, &target, EthernetAddress(mac), flags);
        let eth_dst = if src.is_unspecified() {
            EthernetAddress::from_ipv6_multicast(to)
        } else {
            eth.src_addr()
        };
        Some(
            ethernet::Repr {
                src_addr: EthernetAddress(eth_src),
                dst_addr: eth_dst,
                ethertype: ETHERTYPE_IPV6,
            }
            .frame(&pkt),
        )
    }
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The nft(8) script that makes the carpdev hand this host's frames to
/// the carp interface (a macvlan with the unicast MAC `own`), replacing
/// whatever table `table` held: under `ip`, frames to the multicast
/// virtual MAC become frames to `own`, for this host (Linux cannot give a
/// device a multicast MAC, and does not forward what arrived as
/// multicast); under `arp`, frames to a node's MAC are taken while that
/// node is MASTER here and dropped otherwise (OpenBSD's carp_ourether).
/// Other modes need no rule: the table is only deleted.
pub fn ingress_script(table: &str, carpdev: &str, own: [u8; 6], share: &Share) -> String {
    let mut rules = Vec::new();
    let take = |mac: [u8; 6]| {
        format!(
            "ether daddr {} ether daddr set {} meta pkttype set host",
            mac_str(mac),
            mac_str(own)
        )
    };
    match share.balancing {
        Balancing::Ip => {
            if let Some(&leader) = share.vhids.first() {
                rules.push(take(node_mac(Balancing::Ip, true, leader)));
            }
        }
        Balancing::Arp => {
            for (i, &vhid) in share.vhids.iter().enumerate().take(32) {
                let mac = node_mac(Balancing::Arp, i == 0, vhid);
                if share.mask & (1 << i) == 0 {
                    rules.push(format!("ether daddr {} drop", mac_str(mac)));
                } else if mac != own {
                    rules.push(take(mac));
                }
            }
        }
        _ => {}
    }
    let mut out = format!("table netdev {table} {{}}\ndelete table netdev {table}\n");
    if !rules.is_empty() {
        out.push_str(&format!(
            "table netdev {table} {{\n\tchain ingress {{\n\t\ttype filter hook ingress device \"{carpdev}\" priority -500; policy accept;\n"
        ));
        for r in rules {
            out.push_str(&format!("\t\t{r}\n"));
        }
        out.push_str("\t}\n}\n");
    }
    out
}

/// The nft(8) script that keeps the Linux kernel from speaking neighbour
/// discovery and MLD on balanced carp interface `ifname` (it would answer
/// solicitations with the macvlan's MAC, on every host, and announce that
/// MAC as a frame's source), replacing whatever inet table `table` held:
/// pfd answers for the IPv6 addresses itself (`Share::nd_reply`). Without
/// IPv6 addresses the table is only deleted.
pub fn nd_script(table: &str, ifname: &str, share: &Share) -> String {
    let mut out = format!("table inet {table} {{}}\ndelete table inet {table}\n");
    if share.balancing.is_ip() && !share.addrs6.is_empty() {
        out.push_str(&format!(
            "table inet {table} {{\n\tchain nd_out {{\n\t\ttype filter hook output priority -500; policy accept;\n\t\toifname \"{ifname}\" icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, mld-listener-report, mld-listener-done, mld2-listener-report }} drop\n\t}}\n}}\n"
        ));
    }
    out
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

    fn share(b: Balancing, mask: u32) -> Share {
        Share {
            balancing: b,
            vhids: vec![1, 2],
            mask,
            key: ArpHashKey::new(b"secret"),
            carpdev_mac: [2, 0, 0, 0, 0, 0xaa],
            addrs: vec!["10.0.0.1".parse().unwrap()],
            addrs6: vec!["2001:db8::1".parse().unwrap()],
            router: true,
        }
    }

    fn request(from: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&from);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&from);
        f.extend_from_slice(&spa);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&tpa);
        f
    }

    #[test]
    fn arp_answers_by_mode() {
        let c = [2, 0, 0, 0, 0, 0x11];
        let req = request(c, [10, 0, 0, 11], [10, 0, 0, 1]);
        // ip: the leader's master answers with the multicast MAC, from
        // the carpdev's own MAC.
        let r = share(Balancing::Ip, 0b01).arp_reply(&req).unwrap();
        assert_eq!(&r[0..6], &c);
        assert_eq!(&r[6..12], &[2, 0, 0, 0, 0, 0xaa]);
        assert_eq!(&r[20..22], &[0, 2]);
        assert_eq!(&r[22..28], &[1, 0, 0x5e, 0, 1, 1]);
        assert_eq!(&r[28..32], &[10, 0, 0, 1]);
        assert_eq!(&r[32..38], &c);
        assert_eq!(&r[38..42], &[10, 0, 0, 11]);
        // Not the leader's master: silent.
        assert_eq!(share(Balancing::Ip, 0b10).arp_reply(&req), None);
        // ip-unicast: the unicast MAC, as source too.
        let r = share(Balancing::IpUnicast, 0b01).arp_reply(&req).unwrap();
        assert_eq!(
            (&r[6..12], &r[22..28]),
            (&[0, 0, 0x5e, 0, 1, 1][..], &[0, 0, 0x5e, 0, 1, 1][..])
        );
        let r = share(Balancing::IpStealth, 0b01).arp_reply(&req).unwrap();
        assert_eq!(
            (&r[6..12], &r[22..28]),
            (&[2, 0, 0, 0, 0, 0xaa][..], &[0, 0, 0x5e, 0, 1, 1][..])
        );
        // arp: exactly one of the two hosts answers each requester, with
        // the MAC of the node the requester hashes to.
        let (a, b) = (share(Balancing::Arp, 0b01), share(Balancing::Arp, 0b10));
        let mut seen = [0usize; 2];
        for i in 0..32u8 {
            let m = [2, 0, 0, 0, 1, i];
            let req = request(m, [10, 0, 0, 11], [10, 0, 0, 1]);
            let (ra, rb) = (a.arp_reply(&req), b.arp_reply(&req));
            assert!(ra.is_some() != rb.is_some());
            let r = ra.or(rb).unwrap();
            let vhid = r[27];
            assert_eq!(&r[22..27], &[0, 0, 0x5e, 0, 1]);
            assert_eq!(&r[6..12], &r[22..28]);
            seen[usize::from(vhid - 1)] += 1;
        }
        assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
        // Other addresses, replies, gratuitous requests, junk: nothing.
        let s = share(Balancing::Ip, 1);
        assert_eq!(
            s.arp_reply(&request(c, [10, 0, 0, 11], [10, 0, 0, 2])),
            None
        );
        assert_eq!(s.arp_reply(&request(c, [10, 0, 0, 1], [10, 0, 0, 1])), None);
        let mut reply = req.clone();
        reply[21] = 2;
        assert_eq!(s.arp_reply(&reply), None);
        assert_eq!(s.arp_reply(&req[..30]), None);
    }

    #[test]
    fn share_drops_only_in_ip_modes() {
        let mut p = [0u8; 20];
        p[0] = 0x45;
        p[12..16].copy_from_slice(&[10, 0, 0, 11]);
        p[16..20].copy_from_slice(&[10, 1, 0, 100]);
        assert!(share(Balancing::Ip, 0b01).drops(&p));
        assert!(!share(Balancing::Ip, 0b10).drops(&p));
        assert!(share(Balancing::IpStealth, 0b01).drops(&p));
        assert!(!share(Balancing::Arp, 0b01).drops(&p));
        assert!(!share(Balancing::Ip, 0b01).drops(&p[..10]));
    }

    #[test]
    fn ingress_rules() {
        let own = [0, 0, 0x5e, 0, 1, 1];
        let s = ingress_script("pfd_carp1", "eth0", own, &share(Balancing::Ip, 0));
        assert!(s.starts_with("table netdev pfd_carp1 {}\ndelete table netdev pfd_carp1\n"));
        assert!(
            s.contains("type filter hook ingress device \"eth0\" priority -500; policy accept;\n")
        );
        assert!(s.contains("\t\tether daddr 01:00:5e:00:01:01 ether daddr set 00:00:5e:00:01:01 meta pkttype set host\n"));
        let s = ingress_script("pfd_carp1", "eth0", own, &share(Balancing::Arp, 0b10));
        assert!(s.contains("\t\tether daddr 00:00:5e:00:01:01 drop\n"));
        assert!(s.contains("\t\tether daddr 00:00:5e:00:01:02 ether daddr set 00:00:5e:00:01:01 meta pkttype set host\n"));
        let s = ingress_script("pfd_carp1", "eth0", own, &share(Balancing::Arp, 0b01));
        assert!(s.contains("\t\tether daddr 00:00:5e:00:01:02 drop\n"));
        assert!(!s.contains("00:00:5e:00:01:01"));
        let s = ingress_script("pfd_carp1", "eth0", own, &share(Balancing::IpUnicast, 1));
        assert_eq!(
            s,
            "table netdev pfd_carp1 {}\ndelete table netdev pfd_carp1\n"
        );
    }

    /// A neighbour solicitation frame from `src` (MAC 02::11) to `dst`
    /// for `target`, hop limit `hop`.
    fn ns(src: &str, dst: &str, target: &str, hop: u8) -> Vec<u8> {
        use crate::wire::icmpv6;
        let (s, d): (Ipv6Addr, Ipv6Addr) = (src.parse().unwrap(), dst.parse().unwrap());
        let mut f = vec![0x33, 0x33, 0xff, 0, 0, 1, 2, 0, 0, 0, 0, 0x11, 0x86, 0xdd];
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, 24, 58, hop]);
        f.extend_from_slice(&s.octets());
        f.extend_from_slice(&d.octets());
        let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&ip6_octets(target));
        icmpv6::Packet::new_unchecked(&mut m[..]).fill_checksum(&s, &d);
        f.extend_from_slice(&m);
        f
    }

    #[test]
    fn neighbour_solicitations_answered_by_mode() {
        let req = ns("2001:db8::50", "ff02::1:ff00:1", "2001:db8::1", 255);
        // ip: the leader's master answers with the multicast MAC, from the
        // carpdev's MAC, to the solicitor, Solicited, Override, Router.
        let r = share(Balancing::Ip, 0b01).nd_reply(&req).unwrap();
        assert_eq!(&r[0..6], &[2, 0, 0, 0, 0, 0x11]);
        assert_eq!(&r[6..12], &[2, 0, 0, 0, 0, 0xaa]);
        assert_eq!(&r[12..14], &[0x86, 0xdd]);
        assert_eq!(r[14 + 7], 255);
        assert_eq!(&r[22..38], &ip6_octets("2001:db8::1"));
        assert_eq!(&r[38..54], &ip6_octets("2001:db8::50"));
        assert_eq!((r[54], r[58]), (136, 0x80 | 0x40 | 0x20));
        assert_eq!(&r[62..78], &ip6_octets("2001:db8::1"));
        assert_eq!(&r[78..80], &[2, 1]);
        assert_eq!(&r[80..86], &[1, 0, 0x5e, 0, 1, 1]);
        let (s, d) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::50".parse().unwrap(),
        );
        let icmp = crate::wire::icmpv6::Packet::new_unchecked(&r[54..]);
        assert!(icmp.verify_checksum(&s, &d));
        // Not the leader's master: silent.
        assert_eq!(share(Balancing::Ip, 0b10).nd_reply(&req), None);
        // ip-unicast: the unicast MAC, as source too; ip-stealth: as
        // target, the carpdev's as source.
        let r = share(Balancing::IpUnicast, 0b01).nd_reply(&req).unwrap();
        assert_eq!(
            (&r[6..12], &r[80..86]),
            (&[0, 0, 0x5e, 0, 1, 1][..], &[0, 0, 0x5e, 0, 1, 1][..])
        );
        let r = share(Balancing::IpStealth, 0b01).nd_reply(&req).unwrap();
        assert_eq!(
            (&r[6..12], &r[80..86]),
            (&[2, 0, 0, 0, 0, 0xaa][..], &[0, 0, 0x5e, 0, 1, 1][..])
        );
        // DAD probe from ::: to all nodes, not Solicited.
        let dad = ns("::", "ff02::1:ff00:1", "2001:db8::1", 255);
        let r = share(Balancing::Ip, 0b01).nd_reply(&dad).unwrap();
        assert_eq!(&r[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(r[58], 0x80 | 0x20);
        // Other targets, hop limit not 255, a bad checksum, arp mode,
        // truncated: nothing.
        let s = share(Balancing::Ip, 0b01);
        assert_eq!(
            s.nd_reply(&ns("2001:db8::50", "ff02::1:ff00:2", "2001:db8::2", 255)),
            None
        );
        assert_eq!(
            s.nd_reply(&ns("2001:db8::50", "ff02::1:ff00:1", "2001:db8::1", 254)),
            None
        );
        let mut bad = req.clone();
        bad[70] ^= 1;
        assert_eq!(s.nd_reply(&bad), None);
        assert_eq!(share(Balancing::Arp, 0b01).nd_reply(&req), None);
        assert_eq!(s.nd_reply(&req[..70]), None);
    }

    #[test]
    fn nd_and_mld_are_kept_out_of_the_share() {
        let mut p = [0u8; 48];
        p[0] = 0x60;
        p[6] = 58;
        p[8..24].copy_from_slice(&ip6_octets("2001:db8::50"));
        p[24..40].copy_from_slice(&ip6_octets("2001:db8:1::100"));
        // An echo request is hashed: 0x50 ^ 0x1_0000 ^ 0x100 is even,
        // node 0's, and this host is MASTER of node 1 only.
        p[40] = 128;
        assert!(share(Balancing::Ip, 0b10).drops(&p));
        for t in [130, 135, 136, 137, 143] {
            p[40] = t;
            assert!(!share(Balancing::Ip, 0b10).drops(&p), "type {t}");
        }
    }

    #[test]
    fn nd_rules() {
        let s = nd_script("pfd_carp1", "carp1", &share(Balancing::Ip, 1));
        assert!(s.starts_with("table inet pfd_carp1 {}\ndelete table inet pfd_carp1\n"));
        assert!(s.contains("type filter hook output priority -500; policy accept;"));
        assert!(
            s.contains("oifname \"carp1\" icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert,")
        );
        let mut v4 = share(Balancing::Ip, 1);
        v4.addrs6.clear();
        assert_eq!(
            nd_script("pfd_carp1", "carp1", &v4),
            "table inet pfd_carp1 {}\ndelete table inet pfd_carp1\n"
        );
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

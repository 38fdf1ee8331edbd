//! A routed packet bigger than its new path allows (pf_route's MTU
//! handling): an IPv4 packet without DF is cut into fragments; otherwise
//! the sender is told with ICMP "fragmentation needed" or ICMPv6 "packet
//! too big" carrying the path's MTU (not for `dup-to` copies), and the
//! packet is dropped. Also the TTL decrement of a packet pf forwards
//! itself.

use crate::wire::checksum::{self, combine, finish, pseudo_header, sum, update16};
use crate::wire::{icmp, icmpv6, IPPROTO_ICMPV6};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What to do with a packet that does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TooBig {
    /// Send these instead (IPv4 fragments, each within the MTU).
    Fragments(Vec<Vec<u8>>),
    /// Drop it and send this error back to its source.
    Reply(Vec<u8>),
    /// Drop it.
    Drop,
}

/// Decide for packet `pkt` on a path of `mtu` bytes; `answer`: send an
/// error back when it cannot be fragmented.
pub fn too_big(pkt: &[u8], mtu: u32, answer: bool) -> TooBig {
    match pkt.first().map(|b| b >> 4) {
        Some(4) if pkt.len() >= 20 => {
            let df = pkt[6] & 0x40 != 0;
            if !df {
                return match fragment_v4(pkt, mtu as usize) {
                    Some(f) => TooBig::Fragments(f),
                    None => TooBig::Drop,
                };
            }
            if !answer {
                return TooBig::Drop;
            }
            match needfrag_v4(pkt, mtu.min(0xffff) as u16) {
                Some(r) => TooBig::Reply(r),
                None => TooBig::Drop,
            }
        }
        Some(6) if pkt.len() >= 40 && answer => match too_big_v6(pkt, mtu) {
            Some(r) => TooBig::Reply(r),
            None => TooBig::Drop,
        },
        _ => TooBig::Drop,
    }
}

/// Cut an IPv4 packet into fragments of at most `mtu` bytes. The header
/// (options included) is repeated in each; offsets continue those of a
/// packet that is itself a fragment.
pub fn fragment_v4(pkt: &[u8], mtu: usize) -> Option<Vec<Vec<u8>>> {
    let hl = ((pkt.first()? & 0x0f) as usize) * 4;
    let tot = u16::from_be_bytes([*pkt.get(2)?, *pkt.get(3)?]) as usize;
    if hl < 20 || tot < hl || tot > pkt.len() || mtu < hl + 8 {
        return None;
    }
    let flags = u16::from_be_bytes([pkt[6], pkt[7]]);
    let base = (flags & 0x1fff) as usize * 8;
    let last_mf = flags & 0x2000 != 0;
    let chunk = (mtu - hl) & !7;
    let data = &pkt[hl..tot];
    let mut out = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let end = (off + chunk).min(data.len());
        let mut f = Vec::with_capacity(hl + end - off);
        f.extend_from_slice(&pkt[..hl]);
        f.extend_from_slice(&data[off..end]);
        let len = f.len() as u16;
        f[2..4].copy_from_slice(&len.to_be_bytes());
        let mf = end < data.len() || last_mf;
        let fo = (((base + off) / 8) as u16 & 0x1fff) | if mf { 0x2000 } else { 0 };
        f[6..8].copy_from_slice(&fo.to_be_bytes());
        f[10] = 0;
        f[11] = 0;
        let c = checksum::checksum(&f[..hl]);
        f[10..12].copy_from_slice(&c.to_be_bytes());
        out.push(f);
        off = end;
    }
    Some(out)
}

fn v4_addrs(p: &[u8]) -> (Ipv4Addr, Ipv4Addr) {
    (
        Ipv4Addr::new(p[12], p[13], p[14], p[15]),
        Ipv4Addr::new(p[16], p[17], p[18], p[19]),
    )
}

fn v6_addrs(p: &[u8]) -> (Ipv6Addr, Ipv6Addr) {
    let mut s = [0u8; 16];
    let mut d = [0u8; 16];
    s.copy_from_slice(&p[8..24]);
    d.copy_from_slice(&p[24..40]);
    (s.into(), d.into())
}

/// Is this an ICMP error (never answered with another one)?
fn is_icmp_error(pkt: &[u8]) -> bool {
    match pkt[0] >> 4 {
        4 => {
            let hl = ((pkt[0] & 0x0f) as usize) * 4;
            pkt[9] == 1 && pkt.get(hl).is_some_and(|&t| icmp::is_error(t))
        }
        _ => pkt[6] == IPPROTO_ICMPV6 && pkt.get(40).is_some_and(|&t| icmpv6::is_error(t)),
    }
}

/// ICMP fragmentation needed (type 3 code 4) with `mtu`, quoting the IP
/// header and 8 bytes, from the packet's destination to its source.
fn needfrag_v4(pkt: &[u8], mtu: u16) -> Option<Vec<u8>> {
    if is_icmp_error(pkt) {
        return None;
    }
    let hl = ((pkt[0] & 0x0f) as usize) * 4;
    let quote = pkt.get(..(hl + 8).min(pkt.len()))?;
    let (src, dst) = v4_addrs(pkt);
    let mut out = vec![0u8; 20 + 8 + quote.len()];
    out[0] = 0x45;
    let tot = out.len() as u16;
    out[2..4].copy_from_slice(&tot.to_be_bytes());
    out[8] = super::reply::DEFAULT_TTL;
    out[9] = 1;
    out[12..16].copy_from_slice(&dst.octets());
    out[16..20].copy_from_slice(&src.octets());
    let c = checksum::checksum(&out[..20]);
    out[10..12].copy_from_slice(&c.to_be_bytes());
    out[20] = icmp::DST_UNREACH;
    out[21] = icmp::UNREACH_NEEDFRAG;
    out[26..28].copy_from_slice(&mtu.to_be_bytes());
    out[28..].copy_from_slice(quote);
    let c = checksum::checksum(&out[20..]);
    out[22..24].copy_from_slice(&c.to_be_bytes());
    Some(out)
}

/// ICMPv6 packet too big with `mtu`, quoting as much as fits in 1280
/// bytes, from the packet's destination to its source.
fn too_big_v6(pkt: &[u8], mtu: u32) -> Option<Vec<u8>> {
    if is_icmp_error(pkt) {
        return None;
    }
    let (src, dst) = v6_addrs(pkt);
    if src.is_unspecified() || src.is_multicast() {
        return None;
    }
    let quote = &pkt[..pkt.len().min(icmpv6::MIN_MTU - 48)];
    let plen = 8 + quote.len();
    let mut out = vec![0u8; 40 + plen];
    out[0] = 0x60;
    out[4..6].copy_from_slice(&(plen as u16).to_be_bytes());
    out[6] = IPPROTO_ICMPV6;
    out[7] = super::reply::DEFAULT_TTL;
    out[8..24].copy_from_slice(&dst.octets());
    out[24..40].copy_from_slice(&src.octets());
    out[40] = icmpv6::PACKET_TOO_BIG;
    out[44..48].copy_from_slice(&mtu.to_be_bytes());
    out[48..].copy_from_slice(quote);
    let s = combine(
        sum(&out[40..]),
        pseudo_header(
            &IpAddr::V6(dst),
            &IpAddr::V6(src),
            IPPROTO_ICMPV6,
            plen as u32,
        ),
    );
    let c = finish(s);
    out[42..44].copy_from_slice(&c.to_be_bytes());
    Some(out)
}

/// Take one off the TTL (hop limit) as a router forwarding the packet
/// does; false when it would reach 0 (the packet is not to be sent).
pub fn decrement_ttl(pkt: &mut [u8]) -> bool {
    match pkt.first().map(|b| b >> 4) {
        Some(4) if pkt.len() >= 20 => {
            if pkt[8] <= 1 {
                return false;
            }
            let old = u16::from_be_bytes([pkt[8], pkt[9]]);
            pkt[8] -= 1;
            let new = u16::from_be_bytes([pkt[8], pkt[9]]);
            let c = update16(u16::from_be_bytes([pkt[10], pkt[11]]), old, new);
            pkt[10..12].copy_from_slice(&c.to_be_bytes());
            true
        }
        Some(6) if pkt.len() >= 40 => {
            if pkt[7] <= 1 {
                return false;
            }
            pkt[7] -= 1;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::packet::describe;
    use crate::engine::packet::tests::*;

    #[test]
    fn fragments_carry_the_datagram() {
        let mut p = v4("10.0.0.1", "10.0.0.2", 17, &udp_dgram(1, 2, &[7u8; 3000]));
        p[6] = 0; // no DF
        p[10] = 0;
        p[11] = 0;
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        let TooBig::Fragments(f) = too_big(&p, 1500, true) else {
            panic!("not fragmented")
        };
        assert_eq!(f.len(), 3);
        let mut data = Vec::new();
        for (i, x) in f.iter().enumerate() {
            assert!(x.len() <= 1500);
            assert_eq!(checksum::checksum(&x[..20]), 0);
            let fo = u16::from_be_bytes([x[6], x[7]]);
            assert_eq!((fo & 0x1fff) as usize * 8, data.len());
            assert_eq!(fo & 0x2000 != 0, i < 2);
            data.extend_from_slice(&x[20..]);
        }
        assert_eq!(data, &p[20..]);
    }

    #[test]
    fn df_and_ipv6_get_an_error_with_the_mtu() {
        let p = v4(
            "10.0.0.1",
            "10.0.0.2",
            6,
            &tcp_seg(1, 2, 3, 4, 0x10, 5, &[0; 1400]),
        );
        let TooBig::Reply(r) = too_big(&p, 1280, true) else {
            panic!()
        };
        let d = describe(&r).unwrap();
        assert_eq!(
            (d.dst, d.icmp.unwrap().icmp_type, d.icmp.unwrap().code),
            (d.dst, 3, 4)
        );
        assert_eq!(d.dst.to_string(), "10.0.0.1");
        assert_eq!(u16::from_be_bytes([r[26], r[27]]), 1280);
        assert_eq!(checksum::checksum(&r[20..]), 0);
        assert_eq!(too_big(&p, 1280, false), TooBig::Drop);
        // An ICMP error is never answered.
        let mut e = vec![3u8, 1, 0, 0, 0, 0, 0, 0];
        e.extend_from_slice(&p[..28]);
        let err = v4("10.0.0.9", "10.0.0.1", 1, &e);
        assert_eq!(too_big(&err, 100, true), TooBig::Drop);
        let mut p6 = vec![0u8; 1400];
        p6[0] = 0x60;
        p6[4..6].copy_from_slice(&1360u16.to_be_bytes());
        p6[6] = 17;
        p6[7] = 64;
        p6[23] = 1;
        p6[39] = 2;
        let TooBig::Reply(r) = too_big(&p6, 1280, true) else {
            panic!()
        };
        assert!(r.len() <= 1280);
        let d = describe(&r).unwrap();
        assert_eq!(d.icmp.unwrap().icmp_type, icmpv6::PACKET_TOO_BIG);
        let s = combine(
            sum(&r[40..]),
            pseudo_header(&d.src, &d.dst, 58, (r.len() - 40) as u32),
        );
        assert_eq!(finish(s), 0);
    }

    #[test]
    fn ttl_goes_down_with_a_valid_checksum() {
        let mut p = v4("10.0.0.1", "10.0.0.2", 17, &udp_dgram(1, 2, b"x"));
        assert!(decrement_ttl(&mut p));
        assert_eq!(p[8], 63);
        assert_eq!(checksum::checksum(&p[..20]), 0);
        p[8] = 1;
        assert!(!decrement_ttl(&mut p));
    }
}

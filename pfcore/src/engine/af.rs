//! Address family translation, `af-to` (NAT64 and NAT46): the addresses
//! an af-to rule gives a new connection (pf_get_transaddr_af with RFC 6052
//! embedding), and the translated packet itself (pf_translate_af,
//! pf_translate_icmp_af, pf_change_icmp_af): a new IP header of the other
//! family, TCP/UDP checksums moved to the new pseudo-header, ICMP echo ↔
//! ICMPv6 echo, and ICMP errors ↔ ICMPv6 errors with the packet they quote
//! translated too.
//!
//! The translated packet is a new buffer (its header differs in size);
//! the data path sends it through a raw socket of the other family and
//! drops the original, as pf forwards the translated mbuf itself.

use super::packet::{describe_quoted, Pd};
use crate::addr::Af;
use crate::wire::checksum::{self, combine, finish, fold, pseudo_header, sum};
use crate::wire::{icmp, icmpv6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The hop limit pf gives an IPv6 header it builds when the IPv4 TTL is 0
/// or larger (IPV6_DEFHLIM).
const V6_DEFHLIM: u8 = 64;

/// Where a translated packet goes: addresses of the new family, ports (for
/// ICMP queries the id sits in the port of its position, as in a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ends {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
}

/// The protocol number in the other family (ICMP ↔ ICMPv6).
pub fn other_proto(proto: u8) -> u8 {
    match proto {
        IPPROTO_ICMP => IPPROTO_ICMPV6,
        IPPROTO_ICMPV6 => IPPROTO_ICMP,
        p => p,
    }
}

/// RFC 6052 (inet_nat64): the IPv4 address embedded in `v6` under a
/// prefix of `len` bits (32, 40, 48, 56, 64 or 96; 97..128 take the low
/// bits, pf's extension).
pub fn extract_v4(v6: &Ipv6Addr, len: u8) -> Option<Ipv4Addr> {
    let s = v6.octets();
    match len {
        32 | 40 | 48 | 56 | 64 | 96 => {
            let mut i = (len / 8) as usize;
            let mut o = [0u8; 4];
            for b in &mut o {
                if i == 8 {
                    i += 1;
                }
                *b = s[i];
                i += 1;
            }
            Some(o.into())
        }
        97..=128 => {
            let low = u32::from_be_bytes([s[12], s[13], s[14], s[15]]);
            let keep = 32 - (128 - len as u32);
            let m = if keep == 0 {
                0
            } else {
                u32::MAX << (32 - keep)
            };
            Some((low & !m).into())
        }
        _ => None,
    }
}

/// RFC 6052: `v4` embedded in the first `len` bits of `prefix`.
pub fn embed_v4(v4: &Ipv4Addr, prefix: &Ipv6Addr, len: u8) -> Option<Ipv6Addr> {
    let mut d = prefix.octets();
    let s = v4.octets();
    match len {
        32 | 40 | 48 | 56 | 64 | 96 => {
            d[8] = 0;
            let mut i = (len / 8) as usize;
            for b in s {
                if i == 8 {
                    i += 1;
                }
                d[i] = b;
                i += 1;
            }
            Some(d.into())
        }
        97..=128 => {
            let pfx = u32::from_be_bytes([d[12], d[13], d[14], d[15]]);
            let keep = 32 - (128 - len as u32);
            let m = if keep == 0 {
                0
            } else {
                u32::MAX << (32 - keep)
            };
            let low = (u32::from(*v4) & !m) | (pfx & m);
            d[12..].copy_from_slice(&low.to_be_bytes());
            Some(d.into())
        }
        _ => None,
    }
}

/// ICMP echo types in the other family (the only queries af-to maps).
pub fn icmp_type_other(af: Af, t: u8) -> Option<u8> {
    match (af, t) {
        (Af::Inet, icmp::ECHO_REQUEST) => Some(icmpv6::ECHO_REQUEST),
        (Af::Inet, icmp::ECHO_REPLY) => Some(icmpv6::ECHO_REPLY),
        (Af::Inet6, icmpv6::ECHO_REQUEST) => Some(icmp::ECHO_REQUEST),
        (Af::Inet6, icmpv6::ECHO_REPLY) => Some(icmp::ECHO_REPLY),
        _ => None,
    }
}

/// Offsets of IPv4 header fields a parameter problem may point at, and
/// their IPv6 counterparts (pf_translate_icmp_af's PTR_IP / PTR_IP6).
fn ptr_v4_to_v6(p: u8) -> Option<u8> {
    Some(match p {
        0 | 1 => p,
        2 | 3 => 4,
        8 => 7,
        9 => 6,
        12..=15 => 8,
        16..=19 => 24,
        _ => return None,
    })
}

fn ptr_v6_to_v4(p: u32) -> Option<u32> {
    Some(match p {
        0 => 0,
        1 => 1,
        4 | 5 => 2,
        6 => 9,
        7 => 8,
        8..=23 => 12,
        24..=39 => 16,
        _ => return None,
    })
}

/// Translate the first 8 bytes of an ICMP header (type, code, checksum,
/// the 4 bytes after) to the other family; the checksum bytes are left for
/// the caller. None: a message pf does not translate.
pub fn translate_icmp_header(from: Af, h: &[u8; 8]) -> Option<[u8; 8]> {
    let (t, c) = (h[0], h[1]);
    let rest = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let mut out = *h;
    let (nt, nc, nrest) = match from {
        Af::Inet => match t {
            icmp::ECHO_REQUEST => (icmpv6::ECHO_REQUEST, c, rest),
            icmp::ECHO_REPLY => (icmpv6::ECHO_REPLY, c, rest),
            icmp::DST_UNREACH => match c {
                0 | 1 | 6 | 7 | 8 | 11 | 12 => (icmpv6::DST_UNREACH, 0, rest),
                3 => (icmpv6::DST_UNREACH, 4, rest),
                9 | 10 | 13 | 15 => (icmpv6::DST_UNREACH, 1, rest),
                // Protocol unreachable: parameter problem at the next header.
                2 => (icmpv6::PARAM_PROB, 1, 6),
                // Fragmentation needed: packet too big, 20 bytes more room.
                4 => (icmpv6::PACKET_TOO_BIG, 0, (rest & 0xffff) + 20),
                _ => return None,
            },
            icmp::TIME_EXCEEDED => (icmpv6::TIME_EXCEEDED, c, rest),
            icmp::PARAM_PROB => match c {
                0 | 2 => (
                    icmpv6::PARAM_PROB,
                    0,
                    ptr_v4_to_v6((rest >> 24) as u8)? as u32,
                ),
                _ => return None,
            },
            _ => return None,
        },
        Af::Inet6 => match t {
            icmpv6::ECHO_REQUEST => (icmp::ECHO_REQUEST, c, rest),
            icmpv6::ECHO_REPLY => (icmp::ECHO_REPLY, c, rest),
            icmpv6::DST_UNREACH => match c {
                0 | 2 | 3 => (icmp::DST_UNREACH, 1, rest),
                1 => (icmp::DST_UNREACH, 10, rest),
                4 => (icmp::DST_UNREACH, 3, rest),
                _ => return None,
            },
            icmpv6::PACKET_TOO_BIG => (icmp::DST_UNREACH, 4, rest.saturating_sub(20).min(0xffff)),
            icmpv6::TIME_EXCEEDED => (icmp::TIME_EXCEEDED, c, rest),
            icmpv6::PARAM_PROB => match c {
                0 => (icmp::PARAM_PROB, 0, ptr_v6_to_v4(rest)? << 24),
                1 => (icmp::DST_UNREACH, 2, rest),
                _ => return None,
            },
            _ => return None,
        },
    };
    out[0] = nt;
    out[1] = nc;
    out[4..8].copy_from_slice(&nrest.to_be_bytes());
    Some(out)
}

/// A new IP header of the family of `src` for `payload_len` bytes of
/// protocol `proto`. `tos` keeps pf's DSCP (the ECN bits are dropped).
fn ip_header(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    payload_len: usize,
    ttl: u8,
    tos: u8,
    ident: u16,
) -> Option<Vec<u8>> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let tot = 20 + payload_len;
            if tot > 0xffff {
                return None;
            }
            let mut h = vec![0u8; 20];
            h[0] = 0x45;
            h[1] = tos & !3;
            h[2..4].copy_from_slice(&(tot as u16).to_be_bytes());
            h[4..6].copy_from_slice(&ident.to_be_bytes());
            h[6] = 0x40; // DF
            h[8] = ttl;
            h[9] = proto;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = checksum::checksum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            Some(h)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            if payload_len > 0xffff {
                return None;
            }
            let mut h = vec![0u8; 40];
            let tc = (tos & !3) as u32;
            h[0..4].copy_from_slice(&((6u32 << 28) | (tc << 20)).to_be_bytes());
            h[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
            h[6] = proto;
            h[7] = ttl;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            Some(h)
        }
        _ => None,
    }
}

/// The TTL of the translated header (pf keeps it and the forwarding
/// router takes one off; an IPv6 header gets 64 for 0 or more than 64).
fn new_ttl(ttl: u8, naf: Af, forwarded: bool) -> Option<u8> {
    let t = if naf == Af::Inet6 && (ttl == 0 || ttl > V6_DEFHLIM) {
        V6_DEFHLIM
    } else {
        ttl
    };
    if !forwarded {
        return Some(t);
    }
    (t > 1).then(|| t - 1)
}

/// Replace, in a checksum, the sum `old` by the sum `new`.
fn resum(ck: u16, old: u32, new: u32) -> u16 {
    let s = u32::from(!ck) + u32::from(!fold(old));
    finish(combine(s, new))
}

fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

fn tos_of(buf: &[u8], af: Af) -> u8 {
    match af {
        Af::Inet => buf[1],
        Af::Inet6 => ((u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) >> 20) & 0xff) as u8,
    }
}

/// Translate a TCP, UDP, ICMP query or other packet `pd` (not an ICMP
/// error) to the family of `to`: the new header, ports/ICMP id and type
/// rewritten, checksums carried over to the new pseudo-header.
/// `forwarded`: take one off the TTL (None when it runs out).
pub fn translate(buf: &[u8], pd: &Pd, to: &Ends, ident: u16, forwarded: bool) -> Option<Vec<u8>> {
    if pd.fragment || pd.tot_len > buf.len() || pd.l4_off > pd.tot_len {
        return None;
    }
    let naf = Af::of(&to.src);
    if naf == pd.af || Af::of(&to.dst) != naf {
        return None;
    }
    let ttl = new_ttl(pd.ttl, naf, forwarded)?;
    let l4 = &buf[pd.l4_off..pd.tot_len];
    let len = l4.len();
    let nproto = other_proto(pd.proto);
    let mut out = ip_header(to.src, to.dst, nproto, len, ttl, tos_of(buf, pd.af), ident)?;
    let hl = out.len();
    out.extend_from_slice(l4);
    let t = &mut out[hl..];
    let old_pseudo = pseudo_header(&pd.src, &pd.dst, pd.proto, len as u32);
    let new_pseudo = pseudo_header(&to.src, &to.dst, nproto, len as u32);
    match pd.proto {
        IPPROTO_TCP | IPPROTO_UDP => {
            if len < if pd.proto == IPPROTO_TCP { 20 } else { 8 } {
                return None;
            }
            let ck_off = if pd.proto == IPPROTO_TCP { 16 } else { 6 };
            let old_ports = sum(&t[0..4]);
            t[0..2].copy_from_slice(&to.sport.to_be_bytes());
            t[2..4].copy_from_slice(&to.dport.to_be_bytes());
            let new_ports = sum(&t[0..4]);
            let ck = be16(t, ck_off);
            let nck = if pd.proto == IPPROTO_UDP && ck == 0 {
                // IPv4 UDP without a checksum: IPv6 requires one.
                t[6] = 0;
                t[7] = 0;
                let c = finish(combine(sum(t), new_pseudo));
                if c == 0 {
                    0xffff
                } else {
                    c
                }
            } else {
                let c = resum(
                    ck,
                    combine(old_pseudo, old_ports),
                    combine(new_pseudo, new_ports),
                );
                if pd.proto == IPPROTO_UDP && c == 0 {
                    0xffff
                } else {
                    c
                }
            };
            t[ck_off..ck_off + 2].copy_from_slice(&nck.to_be_bytes());
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            let ic = pd.icmp?;
            if ic.is_error || len < 8 {
                return None;
            }
            let mut h = [0u8; 8];
            h.copy_from_slice(&t[..8]);
            let mut nh = translate_icmp_header(pd.af, &h)?;
            let id = if ic.id_is_sport { to.sport } else { to.dport };
            nh[4..6].copy_from_slice(&id.to_be_bytes());
            let (mut old_s, mut new_s) = (
                combine(sum(&h[0..2]), sum(&h[4..8])),
                combine(sum(&nh[0..2]), sum(&nh[4..8])),
            );
            if pd.af == Af::Inet6 {
                old_s = combine(old_s, old_pseudo);
            } else {
                new_s = combine(new_s, new_pseudo);
            }
            let nck = resum(be16(&h, 2), old_s, new_s);
            nh[2..4].copy_from_slice(&nck.to_be_bytes());
            t[..8].copy_from_slice(&nh);
        }
        _ => {}
    }
    Some(out)
}

/// Translate an ICMP error (`pd`, quoting a packet of a translated
/// connection) to the other family: the outer header goes from
/// `outer.src` to `outer.dst`, the message type and code are mapped, and
/// the quoted packet gets a header of the new family with `inner`'s
/// addresses and ports. The ICMP checksum is computed afresh once the
/// original one is found valid.
pub fn translate_icmp_error(
    buf: &[u8],
    pd: &Pd,
    outer: (IpAddr, IpAddr),
    inner: &Ends,
    ident: u16,
) -> Option<Vec<u8>> {
    if pd.fragment || pd.tot_len > buf.len() {
        return None;
    }
    let naf = Af::of(&outer.0);
    if naf == pd.af || Af::of(&outer.1) != naf || Af::of(&inner.src) != naf {
        return None;
    }
    let msg = buf.get(pd.l4_off..pd.tot_len)?;
    if msg.len() < 8 + if pd.af == Af::Inet { 20 } else { 40 } {
        return None;
    }
    // The error must be intact before we vouch for it with a new checksum.
    let valid = match pd.af {
        Af::Inet => checksum::checksum(msg) == 0,
        Af::Inet6 => {
            finish(combine(
                sum(msg),
                pseudo_header(&pd.src, &pd.dst, IPPROTO_ICMPV6, msg.len() as u32),
            )) == 0
        }
    };
    if !valid {
        return None;
    }
    let mut h = [0u8; 8];
    h.copy_from_slice(&msg[..8]);
    let mut nh = translate_icmp_header(pd.af, &h)?;
    nh[2] = 0;
    nh[3] = 0;
    // The quoted packet.
    let quoted = &msg[8..];
    let ipd = describe_quoted(quoted).ok()?;
    if ipd.af != pd.af {
        return None;
    }
    let claimed = match ipd.af {
        Af::Inet => be16(quoted, 2) as usize,
        Af::Inet6 => 40 + be16(quoted, 4) as usize,
    };
    // A quote whose header chain runs past its end has nothing to carry.
    let qpayload = quoted.get(ipd.l4_off..)?;
    let qproto = other_proto(ipd.proto);
    let qlen = claimed.saturating_sub(ipd.l4_off);
    let qttl = new_ttl(quoted[if ipd.af == Af::Inet { 8 } else { 7 }], naf, false)?;
    let mut q = ip_header(
        inner.src,
        inner.dst,
        qproto,
        qlen,
        qttl,
        tos_of(quoted, ipd.af),
        ident,
    )?;
    let qhl = q.len();
    q.extend_from_slice(qpayload);
    let qt = &mut q[qhl..];
    match ipd.proto {
        IPPROTO_TCP | IPPROTO_UDP if qt.len() >= 4 => {
            qt[0..2].copy_from_slice(&inner.sport.to_be_bytes());
            qt[2..4].copy_from_slice(&inner.dport.to_be_bytes());
            // pf does not fix quoted checksums; a quoted UDP one is zeroed.
            if ipd.proto == IPPROTO_UDP && qt.len() >= 8 {
                qt[6] = 0;
                qt[7] = 0;
            }
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 if qt.len() >= 8 => {
            let qi = ipd.icmp?;
            let mut qh = [0u8; 8];
            qh.copy_from_slice(&qt[..8]);
            let mut nqh = translate_icmp_header(ipd.af, &qh)?;
            let id = if qi.id_is_sport {
                inner.sport
            } else {
                inner.dport
            };
            nqh[4..6].copy_from_slice(&id.to_be_bytes());
            qt[..8].copy_from_slice(&nqh);
        }
        _ => {}
    }
    let body_len = 8 + q.len();
    let nproto = other_proto(pd.proto);
    let ttl = new_ttl(pd.ttl, naf, true)?;
    let mut out = ip_header(
        outer.0,
        outer.1,
        nproto,
        body_len,
        ttl,
        tos_of(buf, pd.af),
        ident.wrapping_add(1),
    )?;
    let ohl = out.len();
    out.extend_from_slice(&nh);
    out.extend_from_slice(&q);
    let body = &mut out[ohl..];
    let mut s = sum(body);
    if naf == Af::Inet6 {
        s = combine(
            s,
            pseudo_header(&outer.0, &outer.1, IPPROTO_ICMPV6, body_len as u32),
        );
    }
    let c = finish(s);
    body[2..4].copy_from_slice(&c.to_be_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::packet::describe;
    use crate::engine::packet::tests::*;
    use crate::engine::Engine;
    use crate::wire::tcp;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// An IPv6 packet with `l4` (checksums filled).
    pub fn v6(src: &str, dst: &str, proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 40 + l4.len()];
        b[0] = 0x60;
        b[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
        b[6] = proto;
        b[7] = 64;
        b[8..24].copy_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
        b[24..40].copy_from_slice(&dst.parse::<Ipv6Addr>().unwrap().octets());
        b[40..].copy_from_slice(l4);
        let (s, d) = (ip(src), ip(dst));
        let ck = match proto {
            6 => 16,
            17 => 6,
            58 => 2,
            _ => return b,
        };
        b[40 + ck] = 0;
        b[41 + ck] = 0;
        let c = finish(combine(
            sum(&b[40..]),
            pseudo_header(&s, &d, proto, l4.len() as u32),
        ));
        b[40 + ck..42 + ck].copy_from_slice(&c.to_be_bytes());
        b
    }

    /// Every checksum of a packet (IPv4 header, TCP/UDP/ICMP/ICMPv6) holds.
    pub fn checksums_ok(b: &[u8]) -> bool {
        let pd = describe(b).unwrap();
        if pd.af == Af::Inet && checksum::checksum(&b[..20]) != 0 {
            return false;
        }
        let l4 = &b[pd.l4_off..pd.tot_len];
        match pd.proto {
            6 | 17 | 58 => {
                finish(combine(
                    sum(l4),
                    pseudo_header(&pd.src, &pd.dst, pd.proto, l4.len() as u32),
                )) == 0
            }
            1 => checksum::checksum(l4) == 0,
            _ => true,
        }
    }

    #[test]
    fn rfc6052_embedding() {
        let v4: Ipv4Addr = "192.0.2.33".parse().unwrap();
        for (len, pfx, want) in [
            (32, "2001:db8::", "2001:db8:c000:221::"),
            (40, "2001:db8:100::", "2001:db8:1c0:2:21::"),
            (48, "2001:db8:122::", "2001:db8:122:c000:2:2100::"),
            (56, "2001:db8:122:300::", "2001:db8:122:3c0:0:221::"),
            (64, "2001:db8:122:344::", "2001:db8:122:344:c0:2:2100:0"),
            (96, "2001:db8:122:344::", "2001:db8:122:344::192.0.2.33"),
        ] {
            let p: Ipv6Addr = pfx.parse().unwrap();
            let e = embed_v4(&v4, &p, len).unwrap();
            assert_eq!(e, want.parse::<Ipv6Addr>().unwrap(), "/{len}");
            assert_eq!(extract_v4(&e, len), Some(v4), "/{len}");
        }
        assert_eq!(
            extract_v4(&"64:ff9b::c633:6464".parse().unwrap(), 96),
            Some("198.51.100.100".parse().unwrap())
        );
        assert_eq!(embed_v4(&v4, &"2001:db8::".parse().unwrap(), 33), None);
    }

    fn v6_to_v4() -> Ends {
        Ends {
            src: ip("198.51.100.1"),
            dst: ip("198.51.100.100"),
            sport: 50001,
            dport: 80,
        }
    }

    #[test]
    fn tcp_six_to_four_and_back() {
        let p = v6(
            "2001:db8::10",
            "64:ff9b::c633:6464",
            6,
            &tcp_seg(40000, 80, 1000, 0, tcp::SYN, 65535, b"hello"),
        );
        let pd = describe(&p).unwrap();
        let out = translate(&p, &pd, &v6_to_v4(), 7, true).unwrap();
        assert!(checksums_ok(&out));
        let o = describe(&out).unwrap();
        assert_eq!(
            (o.af, o.src, o.dst, o.sport, o.dport),
            (
                Af::Inet,
                ip("198.51.100.1"),
                ip("198.51.100.100"),
                50001,
                80
            )
        );
        assert_eq!((o.ttl, o.tcp.unwrap().seq), (63, 1000));
        assert_eq!(&out[out.len() - 5..], b"hello");
        assert_eq!(out[6] & 0x40, 0x40, "DF set");
        // The reply, IPv4 to IPv6.
        let r = v4(
            "198.51.100.100",
            "198.51.100.1",
            6,
            &tcp_seg(80, 50001, 5000, 1001, tcp::SYN | tcp::ACK, 65535, b""),
        );
        let rpd = describe(&r).unwrap();
        let back = Ends {
            src: ip("64:ff9b::c633:6464"),
            dst: ip("2001:db8::10"),
            sport: 80,
            dport: 40000,
        };
        let out = translate(&r, &rpd, &back, 8, true).unwrap();
        assert!(checksums_ok(&out));
        let o = describe(&out).unwrap();
        assert_eq!(
            (o.af, o.src, o.dst, o.sport, o.dport, o.ttl),
            (Af::Inet6, back.src, back.dst, 80, 40000, 63)
        );
    }

    #[test]
    fn udp_both_ways_and_missing_v4_checksum() {
        let p = v6(
            "2001:db8::10",
            "64:ff9b::c633:6464",
            17,
            &udp_dgram(5353, 53, b"query"),
        );
        let pd = describe(&p).unwrap();
        let mut to = v6_to_v4();
        to.dport = 53;
        let out = translate(&p, &pd, &to, 1, true).unwrap();
        assert!(checksums_ok(&out));
        // An IPv4 datagram without checksum gets one in IPv6.
        let mut r = v4(
            "198.51.100.100",
            "198.51.100.1",
            17,
            &udp_dgram(53, 50001, b"answer"),
        );
        r[26] = 0;
        r[27] = 0;
        let rpd = describe(&r).unwrap();
        let back = Ends {
            src: ip("64:ff9b::c633:6464"),
            dst: ip("2001:db8::10"),
            sport: 53,
            dport: 5353,
        };
        let out = translate(&r, &rpd, &back, 2, true).unwrap();
        assert!(checksums_ok(&out));
        assert_ne!(&out[46..48], &[0, 0]);
    }

    #[test]
    fn echo_maps_types_ids_and_checksums() {
        // ICMPv6 echo request to ICMP echo request with a new id.
        let p = v6("2001:db8::10", "64:ff9b::c633:6464", 58, &echo(128, 77, 1));
        let pd = describe(&p).unwrap();
        let to = Ends {
            src: ip("198.51.100.1"),
            dst: ip("198.51.100.100"),
            sport: 50010,
            dport: 8,
        };
        let out = translate(&p, &pd, &to, 3, true).unwrap();
        assert!(checksums_ok(&out));
        let o = describe(&out).unwrap();
        assert_eq!(
            (o.proto, o.icmp.unwrap().icmp_type, o.icmp.unwrap().id),
            (1, 8, 50010)
        );
        // The echo reply back to ICMPv6 with the client's id.
        let r = v4("198.51.100.100", "198.51.100.1", 1, &echo(0, 50010, 1));
        let rpd = describe(&r).unwrap();
        let back = Ends {
            src: ip("64:ff9b::c633:6464"),
            dst: ip("2001:db8::10"),
            sport: 128,
            dport: 77,
        };
        let out = translate(&r, &rpd, &back, 4, true).unwrap();
        assert!(checksums_ok(&out));
        let o = describe(&out).unwrap();
        assert_eq!(
            (o.proto, o.icmp.unwrap().icmp_type, o.icmp.unwrap().id),
            (58, 129, 77)
        );
        // TTL 1 cannot be forwarded.
        let mut dying = p.clone();
        dying[7] = 1;
        assert_eq!(
            translate(&dying, &describe(&dying).unwrap(), &to, 3, true),
            None
        );
    }

    #[test]
    fn icmp_errors_both_ways_with_their_quoted_packet() {
        // A router on the IPv4 side says the translated SYN could not be
        // delivered: port unreachable quoting 198.51.100.1:50001 -> .100:80.
        let syn4 = v4(
            "198.51.100.1",
            "198.51.100.100",
            6,
            &tcp_seg(50001, 80, 1000, 0, tcp::SYN, 65535, b""),
        );
        let mut body = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
        body.extend_from_slice(&syn4[..28]);
        let err = v4("198.51.100.100", "198.51.100.1", 1, &body);
        let pd = describe(&err).unwrap();
        let inner = Ends {
            src: ip("2001:db8::10"),
            dst: ip("64:ff9b::c633:6464"),
            sport: 40000,
            dport: 80,
        };
        let out = translate_icmp_error(&err, &pd, (inner.dst, inner.src), &inner, 9).unwrap();
        assert!(checksums_ok(&out));
        let o = describe(&out).unwrap();
        assert_eq!(
            (o.af, o.proto, o.src, o.dst),
            (Af::Inet6, 58, inner.dst, inner.src)
        );
        let ic = o.icmp.unwrap();
        assert_eq!((ic.icmp_type, ic.code, ic.is_error), (1, 4, true));
        let q = describe_quoted(&out[48..]).unwrap();
        assert_eq!(
            (q.af, q.src, q.dst, q.sport, q.dport),
            (Af::Inet6, inner.src, inner.dst, 40000, 80)
        );
        // IPv6 packet too big about a translated reply becomes
        // fragmentation needed with 20 bytes less.
        let reply6 = v6(
            "64:ff9b::c633:6464",
            "2001:db8::10",
            6,
            &tcp_seg(80, 40000, 5000, 1001, tcp::ACK, 100, &[0; 64]),
        );
        let mut body = vec![2u8, 0, 0, 0, 0, 0, 0x05, 0x00];
        body.extend_from_slice(&reply6[..48]);
        let err6 = v6("2001:db8::1", "64:ff9b::c633:6464", 58, &body);
        let pd = describe(&err6).unwrap();
        let inner = Ends {
            src: ip("198.51.100.100"),
            dst: ip("198.51.100.1"),
            sport: 80,
            dport: 50001,
        };
        let out = translate_icmp_error(&err6, &pd, (inner.dst, inner.src), &inner, 10).unwrap();
        assert!(checksums_ok(&out));
        let o = describe(&out).unwrap();
        let ic = o.icmp.unwrap();
        assert_eq!((o.af, ic.icmp_type, ic.code), (Af::Inet, 3, 4));
        assert_eq!(u16::from_be_bytes([out[26], out[27]]), 1280 - 20);
        let q = describe_quoted(&out[28..]).unwrap();
        assert_eq!(
            (q.src, q.dst, q.sport, q.dport),
            (inner.src, inner.dst, 80, 50001)
        );
        // A corrupted error is not translated.
        let mut bad = err6.clone();
        bad[60] ^= 0xff;
        assert_eq!(
            translate_icmp_error(
                &bad,
                &describe(&bad).unwrap(),
                (inner.dst, inner.src),
                &inner,
                1
            ),
            None
        );
    }

    fn engine(rules: &str) -> Engine {
        use crate::conf::{parse, StaticResolver};
        let res = StaticResolver::new()
            .iface("lan6", &["2001:db8::1/64"])
            .iface("wan4", &["198.51.100.1/24"]);
        let rs = parse(rules, "pf.conf", &res)
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        let mut e = Engine::new(1, 5);
        e.load(rs, crate::engine::anchor::Loader::default(), String::new())
            .unwrap();
        e.set_enabled(true, 0);
        e
    }

    fn meta(ifname: &str) -> crate::engine::PacketMeta<'_> {
        crate::engine::PacketMeta {
            dir: crate::engine::packet::Dir::In,
            ifname,
            uid: None,
            gid: None,
            mtag: Default::default(),
        }
    }

    fn sent(v: &crate::engine::Verdict) -> Vec<u8> {
        assert!(v.pass, "{v:?}");
        match &v.forward {
            crate::engine::route::Forward::AfTo(p) => p.clone(),
            f => panic!("not translated: {f:?}"),
        }
    }

    #[test]
    fn nat64_connection_through_the_engine() {
        let mut e = engine(
            "block\npass in on lan6 inet6 from any to 64:ff9b::/96 af-to inet from 198.51.100.1\n",
        );
        // Client SYN, IPv6, to the server's embedded address.
        let mut p = v6(
            "2001:db8::10",
            "64:ff9b::c633:6464",
            6,
            &tcp_seg(40000, 80, 1000, 0, tcp::SYN, 65535, b""),
        );
        let out = sent(&e.test(&meta("lan6"), &mut p, 0));
        assert!(checksums_ok(&out));
        let o = describe(&out).unwrap();
        assert_eq!(
            (o.src, o.dst, o.dport),
            (ip("198.51.100.1"), ip("198.51.100.100"), 80)
        );
        let nport = o.sport;
        assert!((50001..=65535).contains(&nport));
        // pfctl -ss: the translated family inside the parentheses.
        let line = crate::show::state(&e.export_all(0)[0], 0, &|_| Some("tcp".into()));
        assert_eq!(
            line,
            format!("all tcp 198.51.100.1:{nport} (2001:db8::10[40000]) -> 198.51.100.100:80 (64:ff9b::c633:6464[80])       CLOSED:SYN_SENT\n")
        );
        // The server's SYN+ACK comes in on the IPv4 side.
        let mut r = v4(
            "198.51.100.100",
            "198.51.100.1",
            6,
            &tcp_seg(80, nport, 5000, 1001, tcp::SYN | tcp::ACK, 65535, b""),
        );
        let back = sent(&e.test(&meta("wan4"), &mut r, 1));
        assert!(checksums_ok(&back));
        let b = describe(&back).unwrap();
        assert_eq!(
            (b.src, b.dst, b.sport, b.dport),
            (ip("64:ff9b::c633:6464"), ip("2001:db8::10"), 80, 40000)
        );
        let mut a = v6(
            "2001:db8::10",
            "64:ff9b::c633:6464",
            6,
            &tcp_seg(40000, 80, 1001, 5001, tcp::ACK, 65535, b""),
        );
        sent(&e.test(&meta("lan6"), &mut a, 2));
        let st = e.states.get(e.states.all_slots().next().unwrap()).unwrap();
        assert_eq!(
            (st.src.state, st.dst.state),
            (4, 4),
            "ESTABLISHED both ways"
        );
        assert_eq!(st.packets, [2, 1]);

        // Ping: ICMPv6 echo to ICMP echo and back.
        let mut p = v6("2001:db8::10", "64:ff9b::c633:6464", 58, &echo(128, 99, 1));
        let out = sent(&e.test(&meta("lan6"), &mut p, 3));
        let o = describe(&out).unwrap();
        assert_eq!((o.proto, o.icmp.unwrap().icmp_type), (1, 8));
        let id = o.icmp.unwrap().id;
        let mut r = v4("198.51.100.100", "198.51.100.1", 1, &echo(0, id, 1));
        let back = sent(&e.test(&meta("wan4"), &mut r, 4));
        assert!(checksums_ok(&back));
        let b = describe(&back).unwrap();
        assert_eq!(
            (b.proto, b.icmp.unwrap().icmp_type, b.icmp.unwrap().id),
            (58, 129, 99)
        );

        // An ICMP error about the translated connection reaches the client
        // as ICMPv6, quoting its own packet.
        let syn4 = v4(
            "198.51.100.1",
            "198.51.100.100",
            6,
            &tcp_seg(nport, 80, 1001, 0, tcp::ACK, 65535, b""),
        );
        let mut body = vec![3u8, 1, 0, 0, 0, 0, 0, 0];
        body.extend_from_slice(&syn4[..28]);
        let mut err = v4("198.51.100.254", "198.51.100.1", 1, &body);
        let out = sent(&e.test(&meta("wan4"), &mut err, 5));
        assert!(checksums_ok(&out));
        let o = describe(&out).unwrap();
        assert_eq!(
            (o.proto, o.dst, o.icmp.unwrap().icmp_type),
            (58, ip("2001:db8::10"), 1)
        );
        let q = describe_quoted(&out[48..]).unwrap();
        assert_eq!(
            (q.src, q.dst, q.sport, q.dport),
            (ip("2001:db8::10"), ip("64:ff9b::c633:6464"), 40000, 80)
        );

        // Something the rule does not translate is blocked as before.
        let mut other = v6(
            "2001:db8::10",
            "2001:db8:1::5",
            6,
            &tcp_seg(1, 2, 3, 0, tcp::SYN, 1, b""),
        );
        assert!(!e.test(&meta("lan6"), &mut other, 6).pass);
    }

    #[test]
    fn nat46_through_the_engine() {
        let mut e = engine("pass in on wan4 inet af-to inet6 from 2001:db8::1\n");
        let mut p = v4(
            "198.51.100.7",
            "198.51.100.100",
            17,
            &udp_dgram(5353, 53, b"q"),
        );
        let out = sent(&e.test(&meta("wan4"), &mut p, 0));
        assert!(checksums_ok(&out));
        let o = describe(&out).unwrap();
        // The destination embedded under the source's /96 (RFC 6052).
        assert_eq!(
            (o.src, o.dst, o.dport),
            (ip("2001:db8::1"), ip("2001:db8::c633:6464"), 53)
        );
        let mut r = v6(
            "2001:db8::c633:6464",
            "2001:db8::1",
            17,
            &udp_dgram(53, o.sport, b"a"),
        );
        let back = sent(&e.test(&meta("lan6"), &mut r, 1));
        assert!(checksums_ok(&back));
        let b = describe(&back).unwrap();
        assert_eq!(
            (b.src, b.dst, b.sport, b.dport),
            (ip("198.51.100.100"), ip("198.51.100.7"), 53, 5353)
        );
    }

    #[test]
    fn icmp_type_table() {
        let t = |af, ty, code, rest: u32| {
            let mut h = [ty, code, 0, 0, 0, 0, 0, 0];
            h[4..].copy_from_slice(&rest.to_be_bytes());
            translate_icmp_header(af, &h)
                .map(|o| (o[0], o[1], u32::from_be_bytes([o[4], o[5], o[6], o[7]])))
        };
        assert_eq!(t(Af::Inet, 3, 2, 0), Some((4, 1, 6)));
        assert_eq!(t(Af::Inet, 3, 13, 0), Some((1, 1, 0)));
        assert_eq!(t(Af::Inet, 3, 4, 1400), Some((2, 0, 1420)));
        assert_eq!(t(Af::Inet, 12, 0, 9 << 24), Some((4, 0, 6)));
        assert_eq!(t(Af::Inet, 5, 0, 0), None);
        assert_eq!(t(Af::Inet6, 4, 0, 7), Some((12, 0, 8 << 24)));
        assert_eq!(t(Af::Inet6, 4, 1, 0), Some((3, 2, 0)));
        assert_eq!(t(Af::Inet6, 1, 1, 0), Some((3, 10, 0)));
        assert_eq!(t(Af::Inet6, 135, 0, 0), None);
    }
}

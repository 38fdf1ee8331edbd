//! Packets pf sends back for `block return`: a TCP RST for TCP, an ICMP (or
//! ICMPv6) destination unreachable for everything else but ICMP itself.

use super::packet::Pd;
use crate::addr::Af;
use crate::ruleset::BlockReturn;
use crate::wire::{icmp, icmpv6, ipv4, ipv6, tcp, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP};
use std::net::IpAddr;

/// Default TTL / hop limit of generated packets.
pub const DEFAULT_TTL: u8 = 64;

/// The packet a `block` rule sends back. The parser already turned a bare
/// `block` into `block return` under `set block-policy return`.
pub fn block_reply(how: BlockReturn, pd: &Pd, buf: &[u8]) -> Option<Vec<u8>> {
    let unreach = |code4, code6| {
        icmp_unreach(
            pd,
            buf,
            if pd.af == Af::Inet { code4 } else { code6 },
            DEFAULT_TTL,
        )
    };
    match how {
        BlockReturn::Drop => None,
        BlockReturn::ReturnRst { ttl } => tcp_rst(pd, if ttl == 0 { DEFAULT_TTL } else { ttl }),
        BlockReturn::Return if pd.proto == IPPROTO_TCP => tcp_rst(pd, DEFAULT_TTL),
        BlockReturn::Return => unreach(icmp::UNREACH_PORT, icmpv6::UNREACH_NOPORT),
        BlockReturn::ReturnIcmp {
            icmp: (_, c4),
            icmp6: (_, c6),
        } => unreach(c4, c6),
    }
}

fn ip_header(
    pd_src: IpAddr,
    pd_dst: IpAddr,
    proto: u8,
    payload_len: usize,
    ttl: u8,
    out: &mut Vec<u8>,
) -> Option<usize> {
    match (pd_src, pd_dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let repr = ipv4::Repr {
                src_addr: s,
                dst_addr: d,
                protocol: proto,
                payload_len,
                ttl,
                tos: 0,
                ident: 0,
                dont_frag: false,
            };
            out.resize(20 + payload_len, 0);
            repr.emit(&mut ipv4::Packet::new_unchecked(&mut out[..]));
            Some(20)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let repr = ipv6::Repr {
                src_addr: s,
                dst_addr: d,
                next_header: proto,
                payload_len,
                hop_limit: ttl,
                traffic_class: 0,
                flow_label: 0,
            };
            out.resize(40 + payload_len, 0);
            repr.emit(&mut ipv6::Packet::new_unchecked(&mut out[..]));
            Some(40)
        }
        _ => None,
    }
}

/// A RST answering the TCP segment `pd` (pf_send_tcp as `block return`
/// uses it): from the packet's destination back to its source.
pub fn tcp_rst(pd: &Pd, ttl: u8) -> Option<Vec<u8>> {
    let t = pd.tcp?;
    if pd.proto != IPPROTO_TCP || t.flags & tcp::RST != 0 {
        return None;
    }
    let mut ack = t.seq.wrapping_add(pd.p_len);
    if t.flags & tcp::SYN != 0 {
        ack = ack.wrapping_add(1);
    }
    if t.flags & tcp::FIN != 0 {
        ack = ack.wrapping_add(1);
    }
    let mut out = Vec::with_capacity(60);
    let off = ip_header(pd.dst, pd.src, IPPROTO_TCP, 20, ttl, &mut out)?;
    let repr = tcp::Repr {
        src_port: pd.dport,
        dst_port: pd.sport,
        seq_number: t.ack,
        ack_number: ack,
        flags: tcp::RST | tcp::ACK,
        window_len: 0,
    };
    let mut seg = tcp::Packet::new_unchecked(&mut out[off..]);
    repr.emit(&mut seg);
    seg.fill_checksum(&pd.dst, &pd.src);
    Some(out)
}

/// An ICMP destination unreachable (`code`) quoting `orig`, sent from the
/// packet's destination to its source. Never answers ICMP errors.
pub fn icmp_unreach(pd: &Pd, orig: &[u8], code: u8, ttl: u8) -> Option<Vec<u8>> {
    if pd.icmp.is_some_and(|i| i.is_error) || pd.dst.is_multicast() || pd.src.is_unspecified() {
        return None;
    }
    let quoted = orig.get(..pd.tot_len)?;
    let mut msg = [0u8; 1280];
    let (proto, n) = match (pd.dst, pd.src) {
        (IpAddr::V4(_), IpAddr::V4(_)) => {
            if pd.proto == IPPROTO_ICMP {
                return None;
            }
            (IPPROTO_ICMP, icmp::emit_unreachable(code, quoted, &mut msg))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            if pd.proto == IPPROTO_ICMPV6 {
                return None;
            }
            (
                IPPROTO_ICMPV6,
                icmpv6::emit_unreachable(code, quoted, &s, &d, &mut msg[..1280 - 48]),
            )
        }
        _ => return None,
    };
    let mut out = Vec::with_capacity(60 + n);
    let off = ip_header(pd.dst, pd.src, proto, n, ttl, &mut out)?;
    out[off..off + n].copy_from_slice(&msg[..n]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::packet::describe;
    use super::super::packet::tests::*;
    use super::*;

    #[test]
    fn rst_for_syn() {
        let p = v4(
            "192.168.99.50",
            "192.0.2.20",
            6,
            &tcp_seg(40000, 6000, 1000, 0, tcp::SYN, 100, b""),
        );
        let pd = describe(&p).unwrap();
        let r = tcp_rst(&pd, DEFAULT_TTL).unwrap();
        let rd = describe(&r).unwrap();
        assert_eq!(
            (rd.src, rd.dst, rd.sport, rd.dport),
            (pd.dst, pd.src, 6000, 40000)
        );
        let t = rd.tcp.unwrap();
        assert_eq!((t.flags, t.ack), (tcp::RST | tcp::ACK, 1001));
        let seg = tcp::Packet::new_checked(&r[20..]).unwrap();
        assert!(seg.verify_checksum(&rd.src, &rd.dst));
        assert!(ipv4::Packet::new_checked(&r[..]).unwrap().verify_checksum());
    }

    #[test]
    fn unreach_for_udp_not_for_icmp() {
        let p = v4(
            "192.168.99.50",
            "192.0.2.20",
            17,
            &udp_dgram(1000, 53, b"q"),
        );
        let pd = describe(&p).unwrap();
        let r = icmp_unreach(&pd, &p, icmp::UNREACH_PORT, DEFAULT_TTL).unwrap();
        let rd = describe(&r).unwrap();
        assert_eq!(rd.icmp.unwrap().icmp_type, icmp::DST_UNREACH);
        assert_eq!(&r[28..56], &p[..28], "IP header and 8 bytes quoted");
        let e = v4("192.168.99.50", "192.0.2.20", 1, &echo(8, 1, 1));
        assert!(icmp_unreach(&describe(&e).unwrap(), &e, 3, 64).is_none());
    }
}

//! Rewriting a packet in place for NAT, rdr and sequence modulation, with
//! every checksum fixed incrementally (IP header, TCP/UDP/ICMPv6 pseudo
//! header, ports, ICMP ids). The same functions rewrite a whole packet and
//! the packet an ICMP error quotes: the IP views are built with
//! `new_quoted` (the fixed header only) and the transport fields through
//! `wire::transport::Head` (a field past the quote is left alone).

use super::packet::Pd;
use crate::addr::Af;
use crate::wire::checksum::{update16, update32, update_addr};
use crate::wire::{icmp, icmpv6, ipv4, ipv6, transport};
use crate::wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use std::net::IpAddr;

/// Which end of the packet to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Src,
    Dst,
}

/// Does pf keep the transport checksum of this packet, and does the
/// pseudo header count in it? None: a fragment, or a protocol without one
/// (ICMP of the other family included).
fn l4_pseudo(pd: &Pd) -> Option<bool> {
    if pd.fragment {
        return None;
    }
    match pd.proto {
        IPPROTO_TCP | IPPROTO_UDP => Some(true),
        IPPROTO_ICMP if pd.af == Af::Inet => Some(false),
        IPPROTO_ICMPV6 if pd.af == Af::Inet6 => Some(true),
        _ => None,
    }
}

/// The transport header of the packet (its first 8 bytes at least).
fn l4_head<'a>(buf: &'a mut [u8], pd: &Pd) -> Option<transport::Head<&'a mut [u8]>> {
    let end = pd.tot_len.min(buf.len());
    transport::Head::new_checked(buf.get_mut(pd.l4_off..end)?, pd.proto).ok()
}

/// Apply an incremental change to the transport checksum (UDP's "no
/// checksum" 0 stays 0, a computed 0 becomes 0xffff), if pf keeps it.
fn fix_l4(h: &mut transport::Head<&mut [u8]>, pd: &Pd, f: impl Fn(u16) -> u16) {
    if l4_pseudo(pd).is_none() {
        return;
    }
    let Some(old) = h.checksum() else { return };
    if pd.proto == IPPROTO_UDP && pd.af == Af::Inet && old == 0 {
        return;
    }
    let mut new = f(old);
    if pd.proto == IPPROTO_UDP && new == 0 {
        new = 0xffff;
    }
    h.set_checksum(new);
}

/// Write `addr` as the source or destination of the IP header, fixing the
/// IPv4 header checksum.
fn set_ip_addr(buf: &mut [u8], end: End, old: &IpAddr, addr: &IpAddr) {
    match addr {
        IpAddr::V4(a) => {
            if let Ok(mut ip) = ipv4::Packet::new_quoted(buf) {
                match end {
                    End::Src => ip.set_src_addr(*a),
                    End::Dst => ip.set_dst_addr(*a),
                }
                ip.set_checksum(update_addr(ip.checksum(), old, addr));
            }
        }
        IpAddr::V6(a) => {
            if let Ok(mut ip) = ipv6::Packet::new_quoted(buf) {
                match end {
                    End::Src => ip.set_src_addr(*a),
                    End::Dst => ip.set_dst_addr(*a),
                }
            }
        }
    }
}

/// Replace the address and port (for ICMP queries: the id) of one end.
/// Updates `pd` to match. Returns true if anything changed.
pub fn set_end(buf: &mut [u8], pd: &mut Pd, end: End, addr: IpAddr, port: u16) -> bool {
    let (old_addr, old_port) = match end {
        End::Src => (pd.src, pd.sport),
        End::Dst => (pd.dst, pd.dport),
    };
    let mut changed = false;
    if old_addr != addr && Af::of(&addr) == pd.af {
        set_ip_addr(buf, end, &old_addr, &addr);
        if l4_pseudo(pd) == Some(true) {
            if let Some(mut h) = l4_head(buf, pd) {
                fix_l4(&mut h, pd, |c| update_addr(c, &old_addr, &addr));
            }
        }
        match end {
            End::Src => pd.src = addr,
            End::Dst => pd.dst = addr,
        }
        changed = true;
    }
    if old_port != port && !pd.fragment {
        match pd.proto {
            IPPROTO_TCP | IPPROTO_UDP => {
                if let Some(mut h) = l4_head(buf, pd) {
                    match end {
                        End::Src => h.set_src_port(port),
                        End::Dst => h.set_dst_port(port),
                    }
                    fix_l4(&mut h, pd, |c| update16(c, old_port, port));
                }
                changed = true;
            }
            IPPROTO_ICMP | IPPROTO_ICMPV6 => {
                // Only the id position carries a real field; the other is
                // the query type, the same in both keys.
                if let Some(ic) = pd.icmp {
                    let is_id_pos = (end == End::Src) == ic.id_is_sport;
                    if is_id_pos && !ic.is_error {
                        if let Some(mut h) = l4_head(buf, pd) {
                            h.set_icmp_ident(port);
                            fix_l4(&mut h, pd, |c| update16(c, old_port, port));
                        }
                        pd.icmp = Some(super::packet::IcmpInfo { id: port, ..ic });
                        changed = true;
                    }
                }
            }
            _ => {}
        }
        match end {
            End::Src => pd.sport = port,
            End::Dst => pd.dport = port,
        }
    }
    changed
}

/// Replace TCP sequence and/or acknowledgement numbers (modulate state).
pub fn set_seq_ack(buf: &mut [u8], pd: &Pd, seq: Option<u32>, ack: Option<u32>) {
    if pd.proto != IPPROTO_TCP || pd.fragment {
        return;
    }
    let Some(mut h) = l4_head(buf, pd) else {
        return;
    };
    if let Some(new) = seq {
        let old = h.tcp_seq();
        h.set_tcp_seq(new);
        fix_l4(&mut h, pd, |c| update32(c, old, new));
    }
    if let (Some(new), Some(old)) = (ack, h.tcp_ack()) {
        h.set_tcp_ack(new);
        fix_l4(&mut h, pd, |c| update32(c, old, new));
    }
}

/// Recompute an ICMP/ICMPv6 checksum from scratch (after the quoted packet
/// inside an error was rewritten).
pub fn refill_icmp_checksum(buf: &mut [u8], pd: &Pd) {
    let Some(msg) = buf.get_mut(pd.l4_off..pd.tot_len) else {
        return;
    };
    match (pd.src, pd.dst) {
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            if let Ok(mut p) = icmpv6::Packet::new_checked(msg) {
                p.fill_checksum(&s, &d);
            }
        }
        _ => {
            if let Ok(mut p) = icmp::Packet::new_checked(msg) {
                p.fill_checksum();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::describe;
    use super::super::packet::tests::*;
    use super::*;
    use crate::wire::{ipv4, tcp, udp};

    fn checks_ok(b: &[u8]) -> bool {
        let pd = describe(b).unwrap();
        let ip = ipv4::Packet::new_checked(b).unwrap();
        if !ip.verify_checksum() {
            return false;
        }
        let l4 = &b[pd.l4_off..pd.tot_len];
        match pd.proto {
            6 => tcp::Packet::new_checked(l4)
                .unwrap()
                .verify_checksum(&pd.src, &pd.dst),
            17 => udp::Packet::new_checked(l4)
                .unwrap()
                .verify_checksum(&pd.src, &pd.dst),
            1 => crate::wire::checksum::checksum(l4) == 0,
            _ => true,
        }
    }

    #[test]
    fn nat_tcp_keeps_checksums_valid() {
        let mut b = v4(
            "192.168.99.50",
            "192.0.2.20",
            6,
            &tcp_seg(40000, 80, 7, 9, tcp::ACK, 100, b"hello"),
        );
        let mut pd = describe(&b).unwrap();
        assert!(set_end(
            &mut b,
            &mut pd,
            End::Src,
            "192.0.2.1".parse().unwrap(),
            50001
        ));
        assert!(checks_ok(&b));
        let again = describe(&b).unwrap();
        assert_eq!(
            (again.src, again.sport),
            ("192.0.2.1".parse().unwrap(), 50001)
        );
        set_seq_ack(&mut b, &pd, Some(12345), Some(999));
        assert!(checks_ok(&b));
    }

    #[test]
    fn rdr_udp_and_zero_checksum() {
        let mut b = v4("192.0.2.20", "192.0.2.1", 17, &udp_dgram(53, 5353, b"abc"));
        let mut pd = describe(&b).unwrap();
        set_end(&mut b, &mut pd, End::Dst, "10.0.0.5".parse().unwrap(), 53);
        assert!(checks_ok(&b));
        // A UDP datagram without checksum keeps none.
        let mut b = v4("192.0.2.20", "192.0.2.1", 17, &udp_dgram(53, 5353, b"abc"));
        b[26] = 0;
        b[27] = 0;
        let mut pd = describe(&b).unwrap();
        set_end(&mut b, &mut pd, End::Dst, "10.0.0.5".parse().unwrap(), 54);
        assert_eq!(&b[26..28], &[0, 0]);
    }

    #[test]
    fn icmp_echo_id_translation() {
        let mut b = v4("192.168.99.50", "192.0.2.20", 1, &echo(8, 5463, 1));
        let mut pd = describe(&b).unwrap();
        set_end(
            &mut b,
            &mut pd,
            End::Src,
            "192.0.2.1".parse().unwrap(),
            63341,
        );
        assert!(checks_ok(&b));
        assert_eq!(describe(&b).unwrap().sport, 63341);
        // The reply: the id sits in the destination position.
        let mut r = v4("192.0.2.20", "192.0.2.1", 1, &echo(0, 63341, 1));
        let mut pd = describe(&r).unwrap();
        set_end(
            &mut r,
            &mut pd,
            End::Dst,
            "192.168.99.50".parse().unwrap(),
            5463,
        );
        assert!(checks_ok(&r));
        let d = describe(&r).unwrap();
        assert_eq!(
            (d.dst, d.dport, d.sport),
            ("192.168.99.50".parse().unwrap(), 5463, 8)
        );
    }
}

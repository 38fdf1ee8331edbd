//! Rewriting a packet in place for NAT, rdr and sequence modulation, with
//! every checksum fixed incrementally (IP header, TCP/UDP/ICMPv6 pseudo
//! header, ports, ICMP ids).

use super::packet::Pd;
use crate::addr::Af;
use crate::wire::checksum::{update16, update32, update_addr};
use crate::wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use std::net::IpAddr;

/// Which end of the packet to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Src,
    Dst,
}

fn get16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(off)?, *b.get(off + 1)?]))
}

fn put16(b: &mut [u8], off: usize, v: u16) {
    if let Some(s) = b.get_mut(off..off + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// Offset of the transport checksum, and whether the pseudo header is in it.
fn l4_checksum(pd: &Pd) -> Option<(usize, bool)> {
    if pd.fragment {
        return None;
    }
    match pd.proto {
        IPPROTO_TCP => Some((pd.l4_off + 16, true)),
        IPPROTO_UDP => Some((pd.l4_off + 6, true)),
        IPPROTO_ICMP if pd.af == Af::Inet => Some((pd.l4_off + 2, false)),
        IPPROTO_ICMPV6 if pd.af == Af::Inet6 => Some((pd.l4_off + 2, true)),
        _ => None,
    }
}

/// Apply an incremental change to the transport checksum (UDP's "no
/// checksum" 0 stays 0, a computed 0 becomes 0xffff).
fn fix_l4(buf: &mut [u8], pd: &Pd, f: impl Fn(u16) -> u16) {
    let Some((off, _)) = l4_checksum(pd) else {
        return;
    };
    let Some(old) = get16(buf, off) else { return };
    if pd.proto == IPPROTO_UDP && pd.af == Af::Inet && old == 0 {
        return;
    }
    let mut new = f(old);
    if pd.proto == IPPROTO_UDP && new == 0 {
        new = 0xffff;
    }
    put16(buf, off, new);
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
        let (off, len) = match (pd.af, end) {
            (Af::Inet, End::Src) => (12, 4),
            (Af::Inet, End::Dst) => (16, 4),
            (Af::Inet6, End::Src) => (8, 16),
            (Af::Inet6, End::Dst) => (24, 16),
        };
        if let Some(slot) = buf.get_mut(off..off + len) {
            match addr {
                IpAddr::V4(a) => slot.copy_from_slice(&a.octets()),
                IpAddr::V6(a) => slot.copy_from_slice(&a.octets()),
            }
        }
        if pd.af == Af::Inet {
            if let Some(c) = get16(buf, 10) {
                put16(buf, 10, update_addr(c, &old_addr, &addr));
            }
        }
        if l4_checksum(pd).is_some_and(|(_, pseudo)| pseudo) {
            fix_l4(buf, pd, |c| update_addr(c, &old_addr, &addr));
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
                let off = pd.l4_off + if end == End::Src { 0 } else { 2 };
                put16(buf, off, port);
                fix_l4(buf, pd, |c| update16(c, old_port, port));
                changed = true;
            }
            IPPROTO_ICMP | IPPROTO_ICMPV6 => {
                // Only the id position carries a real field; the other is
                // the query type, the same in both keys.
                if let Some(ic) = pd.icmp {
                    let is_id_pos = (end == End::Src) == ic.id_is_sport;
                    if is_id_pos && !ic.is_error {
                        put16(buf, pd.l4_off + 4, port);
                        fix_l4(buf, pd, |c| update16(c, old_port, port));
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
    for (off, new) in [(pd.l4_off + 4, seq), (pd.l4_off + 8, ack)] {
        let Some(new) = new else { continue };
        let Some(old) = buf
            .get(off..off + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        else {
            continue;
        };
        if let Some(s) = buf.get_mut(off..off + 4) {
            s.copy_from_slice(&new.to_be_bytes());
        }
        fix_l4(buf, pd, |c| update32(c, old, new));
    }
}

/// Recompute an ICMP/ICMPv6 checksum from scratch (after the quoted packet
/// inside an error was rewritten).
pub fn refill_icmp_checksum(buf: &mut [u8], pd: &Pd) {
    use crate::wire::checksum::{combine, finish, pseudo_header, sum};
    let (start, end) = (pd.l4_off, pd.tot_len);
    if end > buf.len() || start + 4 > end {
        return;
    }
    buf[start + 2] = 0;
    buf[start + 3] = 0;
    let mut s = sum(&buf[start..end]);
    if pd.af == Af::Inet6 {
        s = combine(
            s,
            pseudo_header(&pd.src, &pd.dst, IPPROTO_ICMPV6, (end - start) as u32),
        );
    }
    let c = finish(s);
    buf[start + 2..start + 4].copy_from_slice(&c.to_be_bytes());
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

//! The loopback networks (127.0.0.0/8, ::1) and the wire, as OpenBSD's
//! stack and pf treat them. ip_input / ip6_input drop a packet that
//! arrives on any interface but a loopback one with a loopback source or
//! destination (RFC 1122), before pf sees it. pf may then redirect a
//! packet there (`rdr-to 127.0.0.1`): pf_test marks it
//! PF_TAG_TRANSLATE_LOCALHOST and the stack delivers it to the host's
//! sockets. Linux refuses both unless `net.ipv4.conf.*.route_localnet` is
//! set, which would also let 127/8 in from the wire: so the engine drops
//! loopback addresses arriving from the wire itself (`on_wire`), and
//! flags the packets it redirected there (`Verdict::localhost`) for the
//! data path, which turns route_localnet on.

use std::net::Ipv6Addr;

/// Is the interface a loopback one? Linux's is `lo`, interface index 1
/// in every network namespace.
pub fn is_loopback_if(name: &str, index: Option<u32>) -> bool {
    name == "lo" || index == Some(1)
}

fn v4_loopback(b: &[u8]) -> bool {
    b.first() == Some(&127)
}

fn v6_loopback(b: &[u8]) -> bool {
    b.len() == 16 && b == Ipv6Addr::LOCALHOST.octets()
}

/// The packet's (source, destination) loopback-ness, from its IP header.
fn loopback_ends(buf: &[u8]) -> (bool, bool) {
    match buf.first().map(|b| b >> 4) {
        Some(4) if buf.len() >= 20 => (v4_loopback(&buf[12..16]), v4_loopback(&buf[16..20])),
        Some(6) if buf.len() >= 40 => (v6_loopback(&buf[8..24]), v6_loopback(&buf[24..40])),
        _ => (false, false),
    }
}

/// ip_input's check: a loopback source or destination on the wire.
pub fn on_wire(buf: &[u8]) -> bool {
    let (s, d) = loopback_ends(buf);
    s || d
}

/// Is the packet addressed to the loopback network (after pf's rewrite)?
pub fn to_loopback(buf: &[u8]) -> bool {
    loopback_ends(buf).1
}

/// Is it an IPv4 packet (the family route_localnet is about)?
pub fn is_v4(buf: &[u8]) -> bool {
    buf.first().is_some_and(|b| b >> 4 == 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::packet::tests::{udp_dgram, v4};

    #[test]
    fn loopback_addresses_on_the_wire() {
        let p = |s: &str, d: &str| v4(s, d, 17, &udp_dgram(1, 2, b""));
        assert!(on_wire(&p("127.0.0.1", "10.0.0.1")));
        assert!(on_wire(&p("10.0.0.1", "127.1.2.3")));
        assert!(!on_wire(&p("10.0.0.1", "10.0.0.2")));
        assert!(to_loopback(&p("10.0.0.1", "127.0.0.1")));
        assert!(!to_loopback(&p("127.0.0.1", "10.0.0.1")));
        let mut six = vec![0u8; 40];
        six[0] = 0x60;
        six[39] = 1;
        assert!(on_wire(&six) && to_loopback(&six) && !is_v4(&six));
        six[39] = 2;
        assert!(!on_wire(&six));
        assert!(!on_wire(&[0x45, 0, 0]));
        assert!(is_loopback_if("lo", None) && is_loopback_if("x", Some(1)));
        assert!(!is_loopback_if("eth0", Some(2)));
    }
}

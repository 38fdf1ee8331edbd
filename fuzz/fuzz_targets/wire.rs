//! The packet views of `libpf::wire` directly, each over the same bytes:
//! Ethernet, ARP, IPv4 (options), IPv6, TCP (every option), UDP, ICMP and
//! ICMPv6 (errors quoting a packet), CARP and pfsync headers; the engine's
//! own readers (`packet::describe`, `describe_quoted`), ICMP error
//! building (`emit_unreachable`) and IPv4 fragmentation (`mtu::fragment_v4`).
//!
//! A view built with `new_checked` must answer every accessor without
//! panicking (wire/mod.rs promises it); a `Repr` that parses must emit
//! and parse back to itself; what the engine builds must be readable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libpf::engine::mtu::fragment_v4;
use libpf::engine::packet::{describe, describe_quoted};
use libpf::wire::{arp, checksum, ethernet, icmp, icmpv6, ipv4, ipv6, pfsync, tcp, udp};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn eth(b: &[u8]) {
    let Ok(f) = ethernet::Frame::new_checked(b) else {
        return;
    };
    let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload().len());
    let _ = (f.src_addr().is_broadcast(), f.dst_addr().to_string());
    if let Ok(r) = ethernet::Repr::parse(&f) {
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut ethernet::Frame::new_unchecked(&mut out[..]));
        let back = ethernet::Repr::parse(&ethernet::Frame::new_unchecked(&out[..]));
        assert_eq!(back, Ok(r));
    }
    arp_view(f.payload());
}

fn arp_view(b: &[u8]) {
    let Ok(p) = arp::Packet::new_checked(b) else {
        return;
    };
    let _ = (p.hardware_type(), p.protocol_type(), p.hardware_len());
    let _ = (
        p.protocol_len(),
        p.operation(),
        p.sender_hw(),
        p.sender_ip(),
    );
    let _ = (p.target_hw(), p.target_ip());
    if let Ok(r) = arp::Repr::parse(&p) {
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut arp::Packet::new_unchecked(&mut out[..]));
        let back = arp::Repr::parse(&arp::Packet::new_unchecked(&out[..]));
        assert_eq!(back, Ok(r));
    }
}

/// The IP layer; returns (src, dst, protocol, payload) when there is one.
fn ip(b: &[u8]) -> Option<(IpAddr, IpAddr, u8, &[u8])> {
    match b.first()? >> 4 {
        4 => {
            let p = ipv4::Packet::new_checked(b).ok()?;
            let _ = (
                p.version(),
                p.header_len(),
                p.tos(),
                p.total_len(),
                p.ident(),
            );
            let _ = (
                p.dont_frag(),
                p.more_frags(),
                p.frag_offset(),
                p.is_fragment(),
            );
            let _ = (
                p.ttl(),
                p.checksum(),
                p.verify_checksum(),
                p.options().len(),
            );
            if let Ok(r) = ipv4::Repr::parse(&p) {
                let mut out = vec![0u8; r.buffer_len() + r.payload_len];
                r.emit(&mut ipv4::Packet::new_unchecked(&mut out[..]));
                let back = ipv4::Repr::parse(&ipv4::Packet::new_unchecked(&out[..]));
                assert_eq!(back, Ok(r), "IPv4 Repr round trip");
            }
            Some((
                p.src_addr().into(),
                p.dst_addr().into(),
                p.protocol(),
                p.payload(),
            ))
        }
        6 => {
            let p = ipv6::Packet::new_checked(b).ok()?;
            let _ = (
                p.version(),
                p.traffic_class(),
                p.flow_label(),
                p.payload_len(),
            );
            let _ = (p.next_header(), p.hop_limit());
            if let Ok(r) = ipv6::Repr::parse(&p) {
                let mut out = vec![0u8; r.buffer_len() + r.payload_len];
                r.emit(&mut ipv6::Packet::new_unchecked(&mut out[..]));
                let back = ipv6::Repr::parse(&ipv6::Packet::new_unchecked(&out[..]));
                assert_eq!(back, Ok(r), "IPv6 Repr round trip");
            }
            Some((
                p.src_addr().into(),
                p.dst_addr().into(),
                p.next_header(),
                p.payload(),
            ))
        }
        _ => None,
    }
}

fn tcp_view(b: &[u8], src: &IpAddr, dst: &IpAddr) {
    let Ok(p) = tcp::Packet::new_checked(b) else {
        return;
    };
    let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number());
    let _ = (
        p.header_len(),
        p.flags(),
        p.window_len(),
        p.checksum(),
        p.urgent_at(),
    );
    let _ = (
        p.segment_len(),
        p.verify_checksum(src, dst),
        p.payload().len(),
    );
    let mut it = p.options_iter();
    let mut n = 0;
    while let Some((at, opt)) = it.next_with_offset() {
        n += 1;
        assert!(n <= 40, "more TCP options than option bytes");
        assert!(at < p.options().len());
        let mut out = [0u8; 40];
        let len = opt.emit(&mut out);
        assert_eq!(len, opt.buffer_len());
        if !matches!(
            opt,
            tcp::TcpOption::EndOfList | tcp::TcpOption::Unknown { .. }
        ) {
            let back = tcp::TcpOptionIter::new(&out[..len]).next();
            assert_eq!(back, Some(opt), "TCP option round trip");
        }
    }
    if let Ok(r) = tcp::Repr::parse(&p) {
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut tcp::Packet::new_unchecked(&mut out[..]));
        let back = tcp::Repr::parse(&tcp::Packet::new_unchecked(&out[..]));
        assert_eq!(back, Ok(r), "TCP Repr round trip");
    }
}

fn udp_view(b: &[u8], src: &IpAddr, dst: &IpAddr) {
    let Ok(p) = udp::Packet::new_checked(b) else {
        return;
    };
    let _ = (
        p.src_port(),
        p.dst_port(),
        p.len(),
        p.is_empty(),
        p.checksum(),
    );
    let _ = (p.verify_checksum(src, dst), p.payload().len());
    if let Ok(r) = udp::Repr::parse(&p) {
        let mut out = vec![0u8; r.buffer_len() + r.payload_len];
        r.emit(&mut udp::Packet::new_unchecked(&mut out[..]));
        let back = udp::Repr::parse(&udp::Packet::new_unchecked(&out[..]));
        assert_eq!(back, Ok(r), "UDP Repr round trip");
    }
}

fn icmp_view(b: &[u8]) {
    let Ok(p) = icmp::Packet::new_checked(b) else {
        return;
    };
    let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident());
    let _ = (p.echo_seq_no(), p.next_hop_mtu(), p.verify_checksum());
    let _ = icmp::is_error(p.msg_type());
    if icmp::is_error(p.msg_type()) {
        let _ = describe_quoted(p.data());
    }
    if let Ok(r) = icmp::Repr::parse(&p) {
        let mut out = b.to_vec();
        r.emit(&mut icmp::Packet::new_unchecked(&mut out[..]));
        let back = icmp::Repr::parse(&icmp::Packet::new_unchecked(&out[..]));
        assert_eq!(back, Ok(r), "ICMP Repr round trip");
    }
}

fn icmpv6_view(b: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) {
    let Ok(p) = icmpv6::Packet::new_checked(b) else {
        return;
    };
    let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident());
    let _ = (p.echo_seq_no(), p.mtu(), p.nd_flags(), p.nd_target());
    let _ = p.verify_checksum(src, dst);
    if icmpv6::is_error(p.msg_type()) {
        let _ = describe_quoted(p.data());
    }
    if let Ok(r) = icmpv6::Repr::parse(&p, src, dst) {
        let mut out = b.to_vec();
        r.emit(&mut icmpv6::Packet::new_unchecked(&mut out[..]), src, dst);
        let back = icmpv6::Repr::parse(&icmpv6::Packet::new_unchecked(&out[..]), src, dst);
        assert_eq!(back, Ok(r), "ICMPv6 Repr round trip");
    }
}

fn transport(src: &IpAddr, dst: &IpAddr, proto: u8, l4: &[u8]) {
    tcp_view(l4, src, dst);
    udp_view(l4, src, dst);
    match (src, dst, proto) {
        (_, _, 1) => icmp_view(l4),
        (IpAddr::V6(s), IpAddr::V6(d), _) => icmpv6_view(l4, s, d),
        _ => icmp_view(l4),
    }
}

/// pf's own error messages built around these bytes must read back.
fn errors(b: &[u8]) {
    let mut out = [0u8; 1280];
    let n = icmp::emit_unreachable(3, b, &mut out);
    let p = icmp::Packet::new_checked(&out[..n]).expect("an emitted ICMP error");
    assert!(p.verify_checksum(), "ICMP error checksum");
    let s = Ipv6Addr::LOCALHOST;
    let d = Ipv6Addr::UNSPECIFIED;
    let n = icmpv6::emit_unreachable(1, b, &s, &d, &mut out);
    let p = icmpv6::Packet::new_checked(&out[..n]).expect("an emitted ICMPv6 error");
    assert!(p.verify_checksum(&s, &d), "ICMPv6 error checksum");
}

/// `fragment_v4` is called on packets the engine read as IPv4.
fn fragments(b: &[u8], mtu: usize) {
    if b.first().map(|v| v >> 4) != Some(4) {
        return;
    }
    let Some(frags) = fragment_v4(b, mtu) else {
        return;
    };
    let want = ipv4::Packet::new_checked(b).map(|p| usize::from(p.total_len()));
    let mut payload = 0;
    for f in &frags {
        assert!(
            f.len() <= mtu,
            "a fragment of {} bytes over MTU {mtu}",
            f.len()
        );
        let p = ipv4::Packet::new_checked(&f[..]).expect("a fragment is an IPv4 packet");
        assert!(p.verify_checksum(), "fragment header checksum");
        payload += p.payload().len();
    }
    if let Ok(tot) = want {
        let hl = usize::from(b[0] & 0x0f) * 4;
        assert_eq!(payload, tot - hl, "fragments do not add up to the packet");
    }
}

fuzz_target!(|data: &[u8]| {
    eth(data);
    arp_view(data);
    if let Some((src, dst, proto, l4)) = ip(data) {
        transport(&src, &dst, proto, l4);
    } else {
        let z = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        transport(&z, &z, 6, data);
    }
    let _ = describe(data);
    let _ = describe_quoted(data);
    errors(data);
    if let Some(&m) = data.last() {
        fragments(data, 28 + usize::from(m) * 4);
    }
    // pfsync's header and subheader views on the same bytes.
    if let Ok(h) = pfsync::Header::new_checked(data) {
        let _ = (
            h.version(),
            h.len(),
            h.is_empty(),
            h.pfcksum(),
            h.payload().len(),
        );
    }
    if let Ok(s) = pfsync::Subheader::new_checked(data) {
        let _ = (s.action(), s.len(), s.is_empty(), s.msg_len(), s.count());
        let _ = pfsync::action_name(s.action());
    }
    let _ = checksum::checksum(data);
    let half = data.len() / 2;
    let _ = checksum::update_bytes(0x1234, &data[..half], &data[half..half * 2]);
});

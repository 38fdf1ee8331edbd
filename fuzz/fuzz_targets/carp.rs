//! CARP advertisements as pfd receives them: an IPv4 packet from the CARP
//! socket through `carp::iface::Received::parse` (the IP header),
//! `CarpIf::check` (TTL, length, checksum, version, type, HMAC, replay)
//! and, when it passes, the vhid's state machine (`Vhid::on_advert`) and
//! its timers; plus the view and `Repr` of `wire::carp` on the payload.
//!
//! The first byte sets the local carp interface up: bits 0-1 its state
//! before the first packet (init, backup, master by timeout, master
//! forced), bit 2 preempt, bits 3-7 this host's demotion (× 8). Then
//! records (`libpf_fuzz::records`), one IPv4 packet each:
//!
//!   a: bit 0 refill the CARP checksum, bit 1 sign the advertisement
//!      with the interface's key (a peer that knows the password: the
//!      state machine is reached with any timing and demotion), bit 2
//!      force TTL 255, bit 3 run the timers after the packet, bit 4
//!      take it as an IPv6 advertisement (hop limit = the TTL, source
//!      fe80::<the IPv4 source>: ipackets6, the IPv6 peer and timer)
//!   b: time step before the packet, b × 100 ms
//!
//! Nothing may panic, a `Repr` survives emit and parse, and a vhid in
//! INIT has no timer armed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libpf::addr::IpNet;
use libpf::carp::config::{CarpConfig, CarpState, IfAddr};
use libpf::carp::iface::{CarpIf, Received};
use libpf::wire::carp::{Packet, Repr, CARP_HEADER_LEN};
use libpf_fuzz::records::records;
use std::time::Duration;

/// The carp interface a record's vhid finds: fw2's carp1 of the seed
/// article (etc-examples/fw2/hostname.carp1), so the advertisements
/// fuzz/seed.sh captures from fw1 authenticate.
fn carp_if(vhid: u8, setup: u8) -> CarpIf {
    let addrs = ["192.0.2.1/24"]
        .iter()
        .filter_map(|a| a.parse::<IpNet>().ok())
        .map(|net| IfAddr {
            net,
            broadcast: None,
        })
        .collect();
    let cfg = CarpConfig {
        vhid,
        advbase: 1,
        advskew: 128,
        key: b"hvn3pass".to_vec(),
        carpdev: Some("hvn3".into()),
        addrs,
        up: true,
        ..CarpConfig::default()
    };
    let mut c = CarpIf::new("carp1", cfg);
    let t0 = Duration::from_secs(1);
    match setup & 3 {
        0 => {}
        1 => drop(c.fsm.set_runnable(true, t0)),
        2 => {
            let _ = c.fsm.set_runnable(true, t0);
            let _ = c.fsm.on_timer(t0 + c.fsm.master_down_interval());
        }
        _ => {
            let _ = c.fsm.set_runnable(true, t0);
            let _ = c.fsm.force_state(CarpState::Master, t0);
        }
    }
    c
}

/// The view's accessors and the `Repr` round trip on any payload.
fn view(payload: &[u8]) {
    let Ok(p) = Packet::new_checked(payload) else {
        return;
    };
    let _ = (
        p.version(),
        p.msg_type(),
        p.vhid(),
        p.advskew(),
        p.authlen(),
    );
    let _ = (p.demote(), p.advbase(), p.checksum(), p.counter(), p.hmac());
    if let Ok(r) = Repr::parse(&p) {
        let b = r.to_bytes();
        let back = Repr::parse(&Packet::new_unchecked(&b[..]));
        assert_eq!(back, Ok(r), "CARP Repr does not survive emit and parse");
        let _ = r.is_bow_out();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&setup, rest)) = data.split_first() else {
        return;
    };
    let preempt = setup & 4 != 0;
    let demote = (setup >> 3) * 8;
    let mut carp: Option<CarpIf> = None;
    let mut now = Duration::from_secs(2);
    let mut pkt = Vec::with_capacity(128);
    for r in records(rest) {
        now += Duration::from_millis(u64::from(r.b) * 100);
        pkt.clear();
        pkt.extend_from_slice(r.bytes);
        let Some(rx) = Received::parse(&pkt) else {
            continue;
        };
        view(rx.payload);
        // pfd finds the interface by carpdev and vhid; vhid 0 is none.
        if rx.vhid == 0 {
            continue;
        }
        let hl = pkt.len() - rx.payload.len();
        let c = carp.get_or_insert_with(|| carp_if(rx.vhid, setup));
        if c.config.vhid != rx.vhid {
            continue;
        }
        if r.a & 4 != 0 {
            pkt[8] = 255;
        }
        if r.a & 3 != 0 && pkt.len() >= hl + CARP_HEADER_LEN {
            let mut p = Packet::new_unchecked(&mut pkt[hl..]);
            if r.a & 2 != 0 {
                // The HMAC covers the counter: sign the packet's own.
                let counter = p.counter();
                let signed = libpf::wire::carp::compute_hmac(
                    &c.config.key,
                    c.config.vhid,
                    &c.ipv4_addrs(),
                    &v6_addrs(&c.config),
                    &counter,
                );
                p.set_hmac(&signed);
            }
            p.fill_checksum();
        }
        let Some(rx) = Received::parse(&pkt) else {
            continue;
        };
        let before = c.state();
        let checked = if r.a & 16 != 0 {
            let o = rx.src.octets();
            let src6 = std::net::Ipv6Addr::new(
                0xfe80,
                0,
                0,
                0,
                0,
                0,
                u16::from_be_bytes([o[0], o[1]]),
                u16::from_be_bytes([o[2], o[3]]),
            );
            c.check(rx.ttl, src6, rx.payload, now)
        } else {
            c.check(rx.ttl, rx.src, rx.payload, now)
        };
        if let Ok(ad) = checked {
            let acts = c.fsm.on_advert(&ad, demote, preempt, now);
            for _ in acts.iter() {}
            let _ = c.advert(ad.is_bow_out(), demote, rx.dst, now.as_millis() as u32);
        }
        if r.a & 8 != 0 {
            if let Some(d) = c.fsm.next_deadline() {
                now = now.max(d);
                let _ = c.fsm.on_timer(now);
            }
        }
        if c.fsm.next_deadline().is_some() {
            assert!(
                c.state() != CarpState::Init,
                "INIT with a timer armed ({before:?} -> {:?})",
                c.state()
            );
        }
    }
});

fn v6_addrs(c: &CarpConfig) -> Vec<std::net::Ipv6Addr> {
    c.addrs
        .iter()
        .filter_map(|a| match a.net.addr {
            std::net::IpAddr::V6(x) => Some(x),
            _ => None,
        })
        .collect()
}

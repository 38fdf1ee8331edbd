//! The fast path's entries: encodings, rewrites, which states qualify,
//! counters brought back.

use super::*;
use crate::conf::{parse, StaticResolver};
use crate::engine::anchor::Loader;
use crate::engine::packet::tests::{tcp_seg, udp_dgram, v4};
use crate::engine::packet::Dir;
use crate::engine::{Engine, PacketMeta};
use crate::wire::tcp::{ACK, FIN, SYN};

fn t(src: &str, sport: u16, dst: &str, dport: u16, proto: u8) -> Tuple {
    Tuple {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        sport,
        dport,
        proto,
    }
}

#[test]
fn key_layout_is_the_c_structs() {
    let k = key(7, HOOK_EGRESS, &t("10.0.0.1", 1234, "10.0.0.2", 80, 6));
    assert_eq!(&k[0..4], &7u32.to_ne_bytes());
    assert_eq!(&k[4..8], &[1, 4, 6, 0]);
    assert_eq!(&k[8..12], &[0x04, 0xd2, 0, 80]);
    assert_eq!(&k[12..16], &[10, 0, 0, 1]);
    assert_eq!(&k[16..28], &[0; 12]);
    assert_eq!(&k[28..32], &[10, 0, 0, 2]);
    let k6 = key(1, HOOK_INGRESS, &t("2001:db8::1", 1, "2001:db8::2", 2, 17));
    assert_eq!(k6[5], 6);
    assert_eq!(k6[27], 1);
    assert_eq!(k6[43], 2);
}

#[test]
fn rewrites() {
    let a = t("10.0.0.1", 1234, "192.0.2.1", 80, 6);
    let rdr = t("10.0.0.1", 1234, "10.1.0.5", 8080, 6);
    let nat = t("192.0.2.1", 60000, "192.0.2.1", 80, 6);
    assert_eq!(rewrite_flags(&a, &rdr), RW_DST | RW_DPORT);
    assert!(ingress_ok(&a, &rdr));
    assert!(!ingress_ok(&a, &nat));
    assert!(same_kind(&a, &nat));
    assert!(!same_kind(&a, &t("10.0.0.1", 1234, "192.0.2.1", 80, 17)));
    let v = rewrite(9, 1, 0x8000_0102, &a, &rdr, 7);
    assert_eq!(&v[0..4], &9u32.to_ne_bytes());
    assert_eq!(&v[4..8], &0x8000_0102u32.to_ne_bytes());
    assert_eq!((v[8], v[9]), (1, RW_DST | RW_DPORT));
    assert_eq!(&v[14..16], &8080u16.to_be_bytes());
    assert_eq!(&v[32..36], &[10, 1, 0, 5]);
    assert_eq!(&v[48..52], &7u32.to_ne_bytes());
    assert!(v[52..].iter().all(|&b| b == 0));
}

#[test]
fn egress_keys_are_told_apart() {
    let a = t("10.0.0.1", 1234, "10.0.0.2", 80, 6);
    assert!(is_egress(&key(3, HOOK_EGRESS, &a)));
    assert!(!is_egress(&key(3, HOOK_INGRESS, &a)));
}

#[test]
fn route_generations_are_never_zero() {
    assert_eq!(route_gen(0), 1);
    assert_eq!(route_gen(u64::from(u32::MAX) - 1), u32::MAX);
    assert_eq!(route_gen(u64::from(u32::MAX)), 1);
    assert_ne!(route_gen(u64::MAX), 0);
}

#[test]
fn tuples_of_packets() {
    let p = v4(
        "10.0.0.1",
        "10.0.0.2",
        6,
        &tcp_seg(1000, 22, 1, 0, SYN, 512, &[]),
    );
    assert_eq!(Tuple::of(&p), Some(t("10.0.0.1", 1000, "10.0.0.2", 22, 6)));
    let mut frag = p.clone();
    frag[6] = 0x20; // more fragments
    assert_eq!(Tuple::of(&frag), None);
    let icmp = v4("10.0.0.1", "10.0.0.2", 1, &[8, 0, 0, 0, 0, 1, 0, 1]);
    assert_eq!(Tuple::of(&icmp), None);
    assert_eq!(Tuple::of(&p[..10]), None);
    // The answer's tuple, as its packet has it.
    let answer = v4(
        "10.0.0.2",
        "10.0.0.1",
        6,
        &tcp_seg(22, 1000, 1, 2, SYN | ACK, 512, &[]),
    );
    assert_eq!(Tuple::of(&answer), Some(Tuple::of(&p).unwrap().reversed()));
}

#[test]
fn window_round_trip() {
    let peers = [
        Peer {
            seqlo: 1,
            seqhi: 2,
            max_win: 3,
            wscale: 0x87,
            ..Peer::default()
        },
        Peer {
            seqlo: 0xffff_fff0,
            seqhi: 5,
            max_win: 65535,
            wscale: 0,
            ..Peer::default()
        },
    ];
    let v = window(&peers, true);
    assert_eq!(v[10], 0x87);
    assert_eq!(&v[32..36], &1u32.to_ne_bytes());
    assert_eq!(flow_window(&v, peers), peers);
}

#[test]
fn counters_since_and_by_state() {
    let mut v = [0u8; COUNT_LEN];
    v[0..8].copy_from_slice(&10u64.to_ne_bytes());
    v[8..16].copy_from_slice(&4u64.to_ne_bytes());
    v[16..24].copy_from_slice(&1000u64.to_ne_bytes());
    v[24..32].copy_from_slice(&400u64.to_ne_bytes());
    v[32..40].copy_from_slice(&77u64.to_ne_bytes());
    let c = Counts::from_bytes(&v);
    assert_eq!(c.packets, [10, 4]);
    let mut f = [0u8; FLOW_LEN];
    f[..WINDOW_LEN].copy_from_slice(&window(&[Peer::default(); 2], true));
    f[WINDOW_LEN..].copy_from_slice(&v);
    let (w, c2) = split_flow(&f);
    assert_eq!((&w[32..36], c2), (&1u32.to_ne_bytes()[..], c));
    assert_eq!(c.last_ns, 77);
    let before = Counts {
        packets: [3, 4],
        bytes: [300, 400],
        last_ns: 1,
    };
    let d = c.since(&before);
    assert_eq!((d.packets, d.bytes), ([7, 0], [700, 0]));
    assert_eq!(d.for_state(false), ([0, 7], [0, 700]));
}

const RULES: &str = "pass\npass in proto tcp to port 23 keep state (sloppy)\npass proto tcp to port 24 modulate state\npass log proto tcp to port 25\n";

fn run(e: &mut Engine, dir: Dir, p: &mut [u8]) -> bool {
    let m = PacketMeta {
        dir,
        ifname: "eth0",
        uid: None,
        gid: None,
        mtag: Default::default(),
    };
    e.test(&m, p, 1000).pass
}

/// A TCP handshake to `port` and some data; the state's eligibility
/// after the handshake and after a FIN.
fn tcp_state_eligible(port: u16) -> (bool, bool) {
    let rs = parse(
        RULES,
        "pf.conf",
        &StaticResolver::new().iface("eth0", &["10.0.0.9/24"]),
    )
    .unwrap();
    let mut e = Engine::new(1, 1);
    e.load(rs, Loader::default(), String::new()).unwrap();
    e.set_enabled(true, 0);
    let (c, s) = ("10.0.0.1", "10.0.0.2");
    let seg = |from: &str, to: &str, sp, dp, seq, ack, fl| {
        v4(from, to, 6, &tcp_seg(sp, dp, seq, ack, fl, 8192, &[]))
    };
    // Through the state of the host's own (in) on one side only: the
    // engine answers for the state whatever the rule made of it.
    assert!(run(
        &mut e,
        Dir::In,
        &mut seg(c, s, 5000, port, 100, 0, SYN)
    ));
    run(
        &mut e,
        Dir::Out,
        &mut seg(s, c, port, 5000, 900, 101, SYN | ACK),
    );
    run(&mut e, Dir::In, &mut seg(c, s, 5000, port, 101, 901, ACK));
    let Some((slot, fwd)) = e.last_state else {
        return (false, false);
    };
    assert!(fwd);
    let after_handshake = eligible(e.states.get(slot).unwrap());
    assert!(run(
        &mut e,
        Dir::In,
        &mut seg(c, s, 5000, port, 101, 901, FIN | ACK)
    ));
    (after_handshake, eligible(e.states.get(slot).unwrap()))
}

#[test]
fn which_states_qualify() {
    assert_eq!(tcp_state_eligible(80), (true, false));
    // sloppy, modulated, logged: pf has work on every packet.
    assert!(!tcp_state_eligible(23).0);
    assert!(!tcp_state_eligible(24).0);
    assert!(!tcp_state_eligible(25).0);
}

#[test]
fn udp_qualifies_from_its_second_packet() {
    let rs = parse("pass\n", "pf.conf", &StaticResolver::new()).unwrap();
    let mut e = Engine::new(1, 1);
    e.load(rs, Loader::default(), String::new()).unwrap();
    e.set_enabled(true, 0);
    let mut q = v4("10.0.0.1", "10.0.0.2", 17, &udp_dgram(53000, 53, b"q"));
    let mut a = v4("10.0.0.2", "10.0.0.1", 17, &udp_dgram(53, 53000, b"a"));
    assert!(run(&mut e, Dir::In, &mut q));
    // The creating packet is no state's match.
    assert_eq!(e.last_state, None);
    let mut q2 = q.clone();
    assert!(run(&mut e, Dir::In, &mut q2));
    let (slot, fwd) = e.last_state.unwrap();
    assert!(fwd);
    assert!(eligible(e.states.get(slot).unwrap()));
    assert!(run(&mut e, Dir::Out, &mut a));
    assert_eq!(e.last_state, Some((slot, false)));
    assert!(eligible(e.states.get(slot).unwrap()));
    // What the kernel passed moves the pseudo-states on as pf would.
    let st = e.states.get_mut(slot).unwrap();
    st.src.state = udps::SINGLE;
    st.dst.state = udps::NO_TRAFFIC;
    let o = crate::engine::state::Offloaded {
        packets: [0, 3],
        bytes: [0, 90],
        last: Some(1500),
        window: None,
        urgent: false,
    };
    e.sync.set_enabled(true);
    assert!(e.offloaded(slot, &o, 2000));
    assert!(!e.sync.is_urgent(), "a pull's update waits for the batch");
    let st = e.states.get(slot).unwrap();
    assert_eq!((st.src.state, st.dst.state), (udps::MULTIPLE, udps::SINGLE));
    assert_eq!(st.expire, 1500);
    assert_eq!(st.packets[1], 4);
    // A fast flow's regular pull sends it at once.
    let o = crate::engine::state::Offloaded { urgent: true, ..o };
    assert!(e.offloaded(slot, &o, 2100));
    assert!(e.sync.is_urgent());
}

#[test]
fn pace_tells_fast_flows_over_spans_long_enough() {
    let mut p = Pace::new(0, 1000);
    // A pull for a packet 10 ms on says nothing yet.
    assert!(!p.at(16 << 20, 1010));
    // 80 MB in 1 s: fast (64 MB/s or more).
    assert!(p.at(80 << 20, 2000));
    // Another packet's pull right after keeps the answer.
    assert!(p.at(80 << 20, 2001));
    // 12 MB over the next 250 ms: 48 MB/s, no longer.
    assert!(!p.at(92 << 20, 2251));
    // 30 MB in 250 ms (120 MB/s) is fast again; counters that wrapped
    // count what they moved.
    let mut w = Pace::new(u64::MAX - (10 << 20), 0);
    assert!(w.at(20 << 20, 250));
}

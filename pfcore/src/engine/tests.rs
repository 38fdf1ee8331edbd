//! Whole-engine tests: packets through the seed's ruleset, NAT both ways,
//! block return, state replication to a second engine.

use super::anchor::Loader;
use super::packet::tests::*;
use super::packet::{describe, Dir};
use super::state::{udps, SK_WIRE};
use super::*;
use crate::conf::{parse, StaticResolver};
use crate::wire::tcp::{ACK, PSH, RST, SYN};
use std::net::IpAddr;

const SEED_RULES: &str = r#"
ext_if="eth_ext"
carp_ext_if="carp1"
carp_int_if="carp2"
int_if="eth_int"
sync_if="eth_sync"
set skip on lo
block return    # block stateless traffic
pass            # establish keep-state
block return in on ! lo0 proto tcp to port 6000:6010
pass quick on $sync_if proto pfsync
pass quick on { $ext_if $int_if } proto carp
pass out on $ext_if inet from $int_if:network to any nat-to $carp_ext_if
pass out on $ext_if inet from $carp_int_if:network to any nat-to $carp_ext_if
"#;

fn resolver() -> StaticResolver {
    StaticResolver::new()
        .iface("eth_ext", &["192.0.2.10/24"])
        .iface("eth_int", &["192.168.99.1/24"])
        .iface("eth_sync", &["169.254.0.1/31"])
        .iface("carp1", &["192.0.2.1/24"])
        .iface("carp2", &["192.168.99.254/24"])
        .iface("lo", &["127.0.0.1/8"])
}

fn engine(hostid: u32) -> Engine {
    let rs = parse(SEED_RULES, "pf.conf", &resolver())
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let mut e = Engine::new(hostid, hostid as u64 * 7919);
    e.load(rs, Loader::default(), String::new()).unwrap();
    e.set_enabled(true, 0);
    e.sync.set_enabled(true);
    e
}

fn meta(dir: Dir, ifname: &str) -> PacketMeta<'_> {
    PacketMeta {
        dir,
        ifname,
        uid: None,
        gid: None,
        mtag: Default::default(),
    }
}

const CLIENT: &str = "192.168.99.50";
const SERVER: &str = "192.0.2.20";
const VIP: &str = "192.0.2.1";

/// Forward a client→server packet through the firewall (in on carp2, out on
/// eth_ext); returns the verdicts and the packet as it leaves.
fn forward_out(e: &mut Engine, mut p: Vec<u8>, now: u64) -> (Verdict, Verdict, Vec<u8>) {
    let v1 = e.test(&meta(Dir::In, "carp2"), &mut p, now);
    let v2 = e.test(&meta(Dir::Out, "eth_ext"), &mut p, now);
    (v1, v2, p)
}

/// Forward a server→client packet (in on carp1, out on eth_int).
fn forward_back(e: &mut Engine, mut p: Vec<u8>, now: u64) -> (Verdict, Verdict, Vec<u8>) {
    let v1 = e.test(&meta(Dir::In, "carp1"), &mut p, now);
    let v2 = e.test(&meta(Dir::Out, "eth_int"), &mut p, now);
    (v1, v2, p)
}

#[test]
fn ping_is_natted_both_ways() {
    let mut e = engine(0x1111);
    let (a, b, out) = forward_out(&mut e, v4(CLIENT, SERVER, 1, &echo(8, 5463, 1)), 0);
    assert!(a.pass && b.pass && b.modified);
    let pd = describe(&out).unwrap();
    assert_eq!(pd.src, VIP.parse::<IpAddr>().unwrap());
    let nat_id = pd.sport;
    // pf_get_sport: a free ICMP id of 1-65535.
    assert_ne!(nat_id, 0);
    assert_eq!(e.states.len(), 2);
    // The reply comes back to the VIP and is turned back to the client.
    let (a, b, back) = forward_back(&mut e, v4(SERVER, VIP, 1, &echo(0, nat_id, 1)), 10);
    assert!(a.pass && a.modified && b.pass, "{a:?} {b:?}");
    let pd = describe(&back).unwrap();
    assert_eq!(
        (pd.dst, pd.dport),
        (CLIENT.parse::<IpAddr>().unwrap(), 5463)
    );
    assert_eq!(e.states.len(), 2, "no new state for the reply");
}

#[test]
fn tcp_mid_connection_needs_state() {
    let mut e = engine(0x2222);
    // A lone ACK has no state and the `pass` rule wants S/SA: block return.
    let mut p = v4(
        CLIENT,
        SERVER,
        6,
        &tcp_seg(40000, 80, 1000, 1, ACK, 500, b"x"),
    );
    let v = e.test(&meta(Dir::In, "carp2"), &mut p, 0);
    assert!(!v.pass);
    let rst = v.reply.expect("block return sends a RST");
    assert_eq!(describe(&rst).unwrap().tcp.unwrap().flags & RST, RST);
}

/// A full TCP conversation; returns the NAT port.
fn tcp_handshake(e: &mut Engine, now: u64) -> u16 {
    let (a, b, out) = forward_out(
        e,
        v4(
            CLIENT,
            SERVER,
            6,
            &tcp_seg(40000, 80, 1000, 0, SYN, 64240, b""),
        ),
        now,
    );
    assert!(a.pass && b.pass);
    let nat_port = describe(&out).unwrap().sport;
    let (a, b, _) = forward_back(
        e,
        v4(
            SERVER,
            VIP,
            6,
            &tcp_seg(80, nat_port, 5000, 1001, SYN | ACK, 65160, b""),
        ),
        now,
    );
    assert!(a.pass && b.pass);
    let (a, b, _) = forward_out(
        e,
        v4(
            CLIENT,
            SERVER,
            6,
            &tcp_seg(40000, 80, 1001, 5001, ACK, 502, b""),
        ),
        now,
    );
    assert!(a.pass && b.pass);
    nat_port
}

#[test]
fn tcp_flow_and_window_check() {
    let mut e = engine(0x3333);
    let port = tcp_handshake(&mut e, 0);
    for i in 0..20u32 {
        let (a, b, out) = forward_out(
            &mut e,
            v4(
                CLIENT,
                SERVER,
                6,
                &tcp_seg(
                    40000,
                    80,
                    1001 + i * 10,
                    5001,
                    ACK | PSH,
                    502,
                    b"0123456789",
                ),
            ),
            1,
        );
        assert!(a.pass && b.pass, "segment {i}");
        assert_eq!(describe(&out).unwrap().sport, port);
    }
    // Far outside the window: dropped by the state, not by the rules.
    let mut p = v4(
        CLIENT,
        SERVER,
        6,
        &tcp_seg(40000, 80, 900_000_000, 5001, ACK, 502, b"zz"),
    );
    let v = e.test(&meta(Dir::In, "carp2"), &mut p, 2);
    assert!(!v.pass);
    assert_eq!(v.reason, Reason::StateMismatch);
    let st = e.states.get(e.states.all_slots().next().unwrap()).unwrap();
    assert_eq!(st.timeout, Timeout::TcpEstablished);
}

#[test]
fn bulk_update_purges_what_the_peer_no_longer_has() {
    let mut fw1 = engine(0xaaaa);
    let mut fw2 = engine(0xbbbb);
    tcp_handshake(&mut fw1, 0);
    forward_out(&mut fw1, v4(CLIENT, SERVER, 1, &echo(8, 7, 1)), 0);
    assert_eq!(fw2.pfsync_input(&fw1.take_sync(5), 10).inserted, 4);
    // The TCP states carry on (the bulk would send them: updated here at
    // 7200); the ICMP states went away on fw1 while fw2 was not listening.
    forward_out(
        &mut fw1,
        v4(
            CLIENT,
            SERVER,
            6,
            &tcp_seg(40000, 80, 1001, 5001, ACK, 502, b"0123456789"),
        ),
        6000,
    );
    fw2.pfsync_input(&fw1.take_sync(7100), 7200);
    assert_eq!(
        fw2.purge_peer_stale(0xbbbb, 6500, 8000),
        0,
        "own states stay"
    );
    assert_eq!(fw2.purge_peer_stale(0xaaaa, 6500, 8000), 2);
    let left: Vec<u8> = fw2
        .states
        .all_slots()
        .filter_map(|s| fw2.states.get(s).map(|st| st.key[0].proto))
        .collect();
    assert_eq!(left, vec![6, 6]);
    assert!(fw2.take_sync(9000).is_empty(), "no deletes announced");
    // A state the bulk itself brought (full state, its last packet long
    // before) stays.
    let mut fw3 = engine(0xcccc);
    let bulk: Vec<_> = fw1
        .export_all(9500)
        .into_iter()
        .map(crate::wire::pfsync::Message::Upd)
        .collect();
    assert!(!bulk.is_empty());
    fw3.pfsync_input(&bulk, 9600);
    let n = fw3.states.len();
    assert_eq!(fw3.purge_peer_stale(0xaaaa, 9550, 9700), 0);
    assert_eq!(fw3.states.len(), n);
}

#[test]
fn states_replicate_to_a_peer_engine() {
    let mut fw1 = engine(0xaaaa);
    let mut fw2 = engine(0xbbbb);
    let port = tcp_handshake(&mut fw1, 0);
    forward_out(&mut fw1, v4(CLIENT, SERVER, 1, &echo(8, 7, 1)), 0);
    let msgs = fw1.take_sync(5);
    assert_eq!(
        msgs.iter()
            .filter(|m| matches!(m, crate::wire::pfsync::Message::Ins(_)))
            .count(),
        4
    );
    let r = fw2.pfsync_input(&msgs, 10);
    assert_eq!(r.inserted, 4);
    assert!(
        fw2.take_sync(11).is_empty(),
        "the peer's states are not echoed"
    );
    // fw1 sends more data; updates flow after the batching delay.
    for i in 0..5u32 {
        forward_out(
            &mut fw1,
            v4(
                CLIENT,
                SERVER,
                6,
                &tcp_seg(40000, 80, 1001 + i * 10, 5001, ACK, 502, b"0123456789"),
            ),
            100,
        );
    }
    assert!(fw1.sync.due_at().unwrap() > 100);
    let upd = fw1.take_sync(1200);
    assert!(upd
        .iter()
        .any(|m| matches!(m, crate::wire::pfsync::Message::UpdC(_))));
    fw2.pfsync_input(&upd, 1201);
    // Failover: fw2 carries the connection on with the same NAT port.
    let (a, b, out) = forward_out(
        &mut fw2,
        v4(
            CLIENT,
            SERVER,
            6,
            &tcp_seg(40000, 80, 1051, 5001, ACK, 502, b"after"),
        ),
        2000,
    );
    assert!(a.pass && b.pass, "{a:?} {b:?}");
    assert_eq!(describe(&out).unwrap().sport, port);
    let (a, b, back) = forward_back(
        &mut fw2,
        v4(
            SERVER,
            VIP,
            6,
            &tcp_seg(80, port, 5001, 1056, ACK, 509, b""),
        ),
        2001,
    );
    assert!(a.pass && b.pass);
    assert_eq!(describe(&back).unwrap().dport, 40000);
    // fw2's changes to fw1's states go back with the peer-recent urgency.
    assert!(fw2.sync.is_urgent());
}

#[test]
fn expiry_and_purge() {
    let mut e = engine(0x4444);
    forward_out(&mut e, v4(CLIENT, SERVER, 1, &echo(8, 9, 1)), 0);
    assert_eq!(e.states.len(), 2);
    assert_eq!(e.purge(19_000), 0);
    assert_eq!(e.purge(20_001), 2, "icmp.first is 20 s");
    let msgs = e.take_sync(20_002);
    assert!(
        msgs.is_empty(),
        "insert then delete before sending cancels out: {msgs:?}"
    );
}

#[test]
fn purge_in_pieces_removes_at_most_max_gone_per_piece() {
    let mut e = engine(0x4445);
    for id in 0..5 {
        forward_out(&mut e, v4(CLIENT, SERVER, 1, &echo(8, 9 + id, 1)), 0);
    }
    assert_eq!(e.states.len(), 10);
    // Three at most per piece: the piece stops after the third and says
    // where to go on, whatever `n` allows.
    let (gone, next) = e.purge_states_in(0, 100, 3, 20_001);
    assert_eq!((gone, next), (3, Some(3)));
    let (mut total, mut from, mut pieces) = (gone, next, 1);
    while let Some(f) = from {
        let (k, n) = e.purge_states_in(f, 100, 3, 20_001);
        assert!(k <= 3);
        total += k;
        from = n;
        pieces += 1;
    }
    assert_eq!((total, pieces, e.states.len()), (10, 4, 0));
}

#[test]
fn udp_states_move_through_single_multiple() {
    let mut e = engine(0x5555);
    forward_out(
        &mut e,
        v4(CLIENT, SERVER, 17, &udp_dgram(5000, 53, b"q")),
        0,
    );
    let port = {
        let st = e.states.get(e.states.slots_in_order()[1]).unwrap();
        st.key[SK_WIRE].port[1]
    };
    let (a, b, _) = forward_back(&mut e, v4(SERVER, VIP, 17, &udp_dgram(53, port, b"a")), 1);
    assert!(a.pass && b.pass);
    let st = e.states.get(e.states.slots_in_order()[1]).unwrap();
    assert_eq!((st.src.state, st.dst.state), (udps::MULTIPLE, udps::SINGLE));
    assert_eq!(st.timeout, Timeout::UdpSingle);
}

#[test]
fn skip_and_disabled() {
    let mut e = engine(0x6666);
    let mut p = v4(CLIENT, SERVER, 6, &tcp_seg(1, 2, 3, 4, ACK, 5, b""));
    assert!(e.test(&meta(Dir::In, "lo"), &mut p, 0).pass);
    e.set_enabled(false, 0);
    assert!(e.test(&meta(Dir::In, "carp2"), &mut p, 0).pass);
}

#[test]
fn icmp_error_follows_the_state() {
    let mut e = engine(0x7777);
    let (_, _, out) = forward_out(
        &mut e,
        v4(CLIENT, SERVER, 17, &udp_dgram(5000, 33434, b"probe")),
        0,
    );
    let port = describe(&out).unwrap().sport;
    // A router answers with time exceeded, quoting the translated packet.
    let mut err = vec![0u8; 8];
    err[0] = 11;
    err.extend_from_slice(&out[..28]);
    let p = v4("192.0.2.99", VIP, 1, &err);
    let (a, b, back) = forward_back(&mut e, p, 1);
    assert!(a.pass && b.pass && a.modified);
    let pd = describe(&back).unwrap();
    assert_eq!(pd.dst, CLIENT.parse::<IpAddr>().unwrap());
    let quoted = describe_quoted_for_test(&back[28..]);
    assert_eq!(
        (quoted.0, quoted.1),
        (CLIENT.parse::<IpAddr>().unwrap(), 5000)
    );
    assert_ne!(port, 5000);
    assert_eq!(crate::wire::checksum::checksum(&back[20..]), 0);
}

fn describe_quoted_for_test(b: &[u8]) -> (IpAddr, u16) {
    let q = packet::describe_quoted(b).unwrap();
    (q.src, q.sport)
}

/// An engine with `src` as its main ruleset.
fn engine_with(src: &str) -> Engine {
    let rs = parse(src, "pf.conf", &resolver())
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let mut e = Engine::new(0x4444, 1);
    e.load(rs, Loader::default(), String::new()).unwrap();
    e.set_enabled(true, 0);
    e
}

#[test]
fn anchor_rules_count_what_their_rules_decide() {
    // FreeBSD's anchor:counter: the anchor rule counts the packets and the
    // state of the rule that decided inside it.
    let mut e = engine_with("anchor \"foo\" {\n pass\n}\n");
    let (a, b, _) = forward_out(&mut e, v4(CLIENT, SERVER, 1, &echo(8, 9, 1)), 0);
    assert!(a.pass && b.pass);
    let (a, b, _) = forward_back(&mut e, v4(SERVER, CLIENT, 1, &echo(0, 9, 1)), 1);
    assert!(a.pass && b.pass);
    let main = e.rules().main().counters[0];
    let foo = e.rules().find("foo").unwrap().rules.counters[0];
    // in on carp2 then out on eth_ext: two states, each evaluated once
    assert_eq!((main.evaluations, foo.evaluations), (2, 2));
    assert_eq!((main.packets, main.states_cur), ([2, 2], 2));
    assert_eq!(
        (foo.packets, foo.states_cur, foo.states_tot),
        ([2, 2], 2, 2)
    );
    let st = e.states.get(e.states.all_slots().next().unwrap()).unwrap();
    let exported = e.export_state(st, 1);
    assert_eq!((exported.rule, exported.anchor), (0, 0));
    // Killing the states gives the counts back.
    e.kill_states(2, false, |_| true);
    let main = e.rules().main().counters[0];
    assert_eq!(main.states_cur, 0);
    assert_eq!(
        e.rules().find("foo").unwrap().rules.counters[0].states_cur,
        0
    );
}

#[test]
fn a_rule_loaded_into_an_anchor_takes_effect() {
    let mut e = engine_with("block\nanchor foo\n");
    let ping = || v4(CLIENT, SERVER, 1, &echo(8, 11, 1));
    let (a, _, _) = forward_out(&mut e, ping(), 0);
    assert!(!a.pass);
    // pfctl -a foo -f: only foo changes; the main ruleset's counters stay.
    let rs = parse("pass\n", "stdin", &resolver()).unwrap();
    e.commit(
        crate::ruleset::flatten(&rs, "foo"),
        None,
        vec![],
        Loader::default(),
        0,
    )
    .unwrap();
    assert_eq!(e.rules().main().counters[0].evaluations, 2);
    let (a, b, _) = forward_out(&mut e, ping(), 1);
    assert!(a.pass && b.pass);
    // pfctl -a foo -F rules: blocked again (new packets; the state stays).
    e.flush_rules("foo", Loader::default()).unwrap();
    e.kill_states(2, false, |_| true);
    let (a, _, _) = forward_out(&mut e, ping(), 3);
    assert!(!a.pass);
    // An anchor calling itself: pf gives up and drops the packet.
    let rs = parse("pass\nanchor \"/foo\"\n", "stdin", &resolver()).unwrap();
    e.commit(
        crate::ruleset::flatten(&rs, "foo"),
        None,
        vec![],
        Loader::default(),
        0,
    )
    .unwrap();
    let (a, _, _) = forward_out(&mut e, ping(), 4);
    assert!(!a.pass);
}

/// Found by fuzz/fuzz_targets/pfsync.rs: a peer's INS with packet and
/// byte counters at u64::MAX made the next packet of the state overflow
/// them (a panic in a debug build). pf's counters wrap.
#[test]
fn forged_peer_counters_wrap() {
    let mut fw1 = engine(0xaaab);
    let mut fw2 = engine(0xbbbc);
    forward_out(&mut fw1, v4(CLIENT, SERVER, 1, &echo(8, 7, 1)), 0);
    let mut msgs = fw1.take_sync(5);
    for m in msgs.iter_mut() {
        if let crate::wire::pfsync::Message::Ins(s) = m {
            s.packets = [u64::MAX; 2];
            s.bytes = [u64::MAX - 3; 2];
        }
    }
    assert_eq!(fw2.pfsync_input(&msgs, 10).inserted, 2);
    let (a, b, _) = forward_out(&mut fw2, v4(CLIENT, SERVER, 1, &echo(8, 7, 2)), 20);
    assert!(a.pass && b.pass, "{a:?} {b:?}");
    let st = fw2.states.get(fw2.states.slots_in_order()[0]).unwrap();
    assert_eq!(st.packets[0], 0);
    assert!(st.bytes[0] < 100);
}

#[test]
fn state_walk_lists_in_insertion_order_in_pieces() {
    let mut e = engine(0x6666);
    let flow = |e: &mut Engine, sport: u16, now: u64| {
        forward_out(e, v4(CLIENT, SERVER, 17, &udp_dgram(sport, 53, b"q")), now);
    };
    for p in 0..10 {
        flow(&mut e, 6000 + p, 0);
    }
    let ids = |v: &[crate::wire::pfsync::StateRepr]| v.iter().map(|s| s.id).collect::<Vec<_>>();
    let all = ids(&e.export_all(0));
    assert_eq!(all.len(), 20, "two states per forwarded flow");
    // Free two slots at the start, so that new states reuse them.
    let first: Vec<_> = e.states.slots_in_order()[..2].to_vec();
    let mut walk = crate::engine::export::StateWalk::new();
    assert!(!walk.scan(&e.states, 7));
    for s in first {
        e.states.remove(s);
    }
    // Made after their slot was read: not listed.
    flow(&mut e, 7000, 1);
    while !walk.scan(&e.states, 7) {}
    walk.sort();
    let mut got = Vec::new();
    while !walk.done() {
        let chunk = e.export_walk(&mut walk, 3, 1);
        assert!(chunk.len() <= 3);
        got.extend(ids(&chunk));
    }
    // The walk began before the removal but reads slots 0..7 first: the
    // removed states are skipped, the rest come in insertion order.
    assert_eq!(got, all[2..].to_vec());
}

#[test]
fn sync_batches_carry_their_oldest_new_state() {
    let mut fw1 = engine(0xaaaa);
    tcp_handshake(&mut fw1, 100);
    forward_out(&mut fw1, v4(CLIENT, SERVER, 1, &echo(8, 7, 1)), 250);
    let (msgs, oldest) = fw1.take_sync_stamped(300);
    assert_eq!(msgs.len(), 4);
    assert_eq!(oldest, Some(100), "the handshake's states, made at 100");
    forward_out(&mut fw1, v4(CLIENT, SERVER, 1, &echo(8, 8, 1)), 400);
    assert_eq!(fw1.take_sync_stamped(401).1, Some(400));
    assert_eq!(fw1.take_sync_stamped(402), (Vec::new(), None));
}

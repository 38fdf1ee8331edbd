//! Translation on match rules as OpenBSD's pf_test_rule does it: a
//! matching `match` rule's `nat-to` / `rdr-to` translates at once, the
//! rules after it match the translated addresses and ports, a later match
//! rule or the deciding pass rule translates again on top, and the state
//! keeps the packet's own addresses (wire) and the last translation's
//! (stack). And the loopback network: dropped from the wire, flagged when
//! pf redirects a packet there.

use super::anchor::Loader;
use super::packet::tests::*;
use super::packet::{describe, Dir};
use super::state::{SK_STACK, SK_WIRE};
use super::status::Reason;
use super::*;
use crate::conf::{parse, StaticResolver};
use crate::wire::tcp::{ACK, SYN};
use std::net::IpAddr;

const CLIENT: &str = "10.1.0.2";
const SERVER: &str = "10.2.0.2";
const EXT: &str = "10.2.0.1";

fn engine(rules: &str) -> Engine {
    let res = StaticResolver::new()
        .iface("int0", &["10.1.0.1/24"])
        .iface("ext0", &["10.2.0.1/24"]);
    let rs = parse(rules, "pf.conf", &res)
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let mut e = Engine::new(0x4242, 99);
    e.load(rs, Loader::default(), String::new()).unwrap();
    e.set_enabled(true, 0);
    e
}

fn meta(dir: Dir, ifname: &str) -> PacketMeta<'_> {
    PacketMeta {
        dir,
        ifname,
        uid: None,
        gid: None,
        mtag: Mtag::default(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn syn(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
    v4(src, dst, 6, &tcp_seg(sport, dport, 1000, 0, SYN, 512, b""))
}

/// The one state's (wire, stack) keys as "remote:port > local:port".
fn keys(e: &Engine) -> (String, String) {
    let slots: Vec<_> = e.states.all_slots().collect();
    assert_eq!(slots.len(), 1, "one state");
    let st = e.states.get(slots[0]).unwrap();
    let k = |i: usize| {
        let k = &st.key[i];
        format!("{}:{} > {}:{}", k.addr[0], k.port[0], k.addr[1], k.port[1])
    };
    (k(SK_WIRE), k(SK_STACK))
}

/// FreeBSD's nat.sh:nat_match: the pass rule after the match rule names
/// the NAT address as the source, and lets the connection out.
#[test]
fn rules_after_a_match_nat_see_the_translated_source() {
    let mut e = engine(
        "block\npass in on int0 inet proto tcp keep state\n\
         match out on ext0 inet proto tcp nat-to ext0\n\
         pass out on ext0 inet proto tcp from ext0 keep state\n",
    );
    let mut p = syn(CLIENT, SERVER, 4201, 80);
    assert!(e.test(&meta(Dir::In, "int0"), &mut p, 0).pass);
    let v = e.test(&meta(Dir::Out, "ext0"), &mut p, 0);
    assert!(v.pass && v.modified, "{v:?}");
    assert_eq!(v.rule, Some(3));
    let pd = describe(&p).unwrap();
    assert_eq!(pd.src, ip(EXT));
    let nat_port = pd.sport;
    assert!((nat::NAT_PORT_LOW..=nat::NAT_PORT_HIGH).contains(&nat_port));
    // The reply comes back to the NAT address and reaches the client.
    let mut r = v4(
        SERVER,
        EXT,
        6,
        &tcp_seg(80, nat_port, 5000, 1001, SYN | ACK, 512, b""),
    );
    let v = e.test(&meta(Dir::In, "ext0"), &mut r, 1);
    assert!(v.pass && v.modified, "{v:?}");
    let pd = describe(&r).unwrap();
    assert_eq!((pd.dst, pd.dport), (ip(CLIENT), 4201));

    // A rule after the match rule naming the client's own address no
    // longer matches: the default block decides.
    let mut e = engine(
        "block\nmatch out on ext0 inet proto tcp nat-to ext0\n\
         pass out on ext0 inet proto tcp from 10.1.0.0/24\n",
    );
    let mut p = syn(CLIENT, SERVER, 4202, 80);
    let v = e.test(&meta(Dir::Out, "ext0"), &mut p, 0);
    assert!(!v.pass);
    assert_eq!(v.rule, Some(0));
    assert_eq!(
        describe(&p).unwrap().src,
        ip(CLIENT),
        "a blocked packet is left alone"
    );
    assert!(e.states.is_empty());
}

/// route_to.sh:multiwan's rules: rdr-to on a match rule, then a pass rule
/// naming the redirected destination and port.
#[test]
fn rules_after_a_match_rdr_see_the_translated_destination() {
    let mut e = engine(
        "match in on ext0 inet proto tcp from any to 10.2.0.1 port 7 rdr-to 127.0.0.1 port 7\n\
         block in\nblock out\n\
         pass in quick on ext0 inet proto tcp from any to 127.0.0.1 port 7\n",
    );
    let mut p = syn(SERVER, EXT, 40000, 7);
    let v = e.test(&meta(Dir::In, "ext0"), &mut p, 0);
    assert!(v.pass && v.modified, "{v:?}");
    assert_eq!(v.rule, Some(3));
    let pd = describe(&p).unwrap();
    assert_eq!((pd.dst, pd.dport), (ip("127.0.0.1"), 7));
    assert_eq!(
        keys(&e),
        (
            "10.2.0.2:40000 > 10.2.0.1:7".to_string(),
            "10.2.0.2:40000 > 127.0.0.1:7".to_string()
        )
    );
    // The answer from 127.0.0.1 leaves as 10.2.0.1 by the state, though
    // `block out` would block it.
    let mut r = v4(
        "127.0.0.1",
        SERVER,
        6,
        &tcp_seg(7, 40000, 9000, 1001, SYN | ACK, 512, b""),
    );
    let v = e.test(&meta(Dir::Out, "ext0"), &mut r, 1);
    assert!(v.pass && v.modified, "{v:?}");
    let pd = describe(&r).unwrap();
    assert_eq!((pd.src, pd.sport), (ip(EXT), 7));
    // Without the match rule's translation the pass rule would not match.
    let mut e = engine(
        "match in on ext0 inet proto tcp to 10.2.0.1 port 7 rdr-to 10.1.0.5 port 8007\n\
         block in\npass in on ext0 inet proto tcp to 10.2.0.1 port 7\n",
    );
    let mut p = syn(SERVER, EXT, 40001, 7);
    let v = e.test(&meta(Dir::In, "ext0"), &mut p, 0);
    assert!(!v.pass);
    assert_eq!(v.rule, Some(1));
}

/// A second translating match rule sees the first one's address (and
/// translates again), and the pass rule's own nat-to comes last.
#[test]
fn later_translations_replace_earlier_ones() {
    let mut e = engine(
        "match out on ext0 inet nat-to 10.2.0.50\n\
         match out on ext0 inet from 10.2.0.50 nat-to 10.2.0.60\n\
         block out\npass out on ext0 inet proto udp from 10.2.0.60\n",
    );
    let mut p = v4(CLIENT, SERVER, 17, &udp_dgram(5000, 53, b"q"));
    let v = e.test(&meta(Dir::Out, "ext0"), &mut p, 0);
    assert!(v.pass, "{v:?}");
    assert_eq!(describe(&p).unwrap().src, ip("10.2.0.60"));

    let mut e = engine(
        "match out on ext0 inet nat-to 10.2.0.50\n\
         pass out on ext0 inet proto udp from 10.2.0.50 nat-to 10.2.0.70 port 6000\n",
    );
    let mut p = v4(CLIENT, SERVER, 17, &udp_dgram(5000, 53, b"q"));
    let v = e.test(&meta(Dir::Out, "ext0"), &mut p, 0);
    assert!(v.pass);
    let pd = describe(&p).unwrap();
    assert_eq!((pd.src, pd.sport), (ip("10.2.0.70"), 6000));
    let (wire, stack) = keys(&e);
    assert_eq!(wire, "10.2.0.2:53 > 10.2.0.70:6000");
    assert_eq!(stack, "10.2.0.2:53 > 10.1.0.2:5000");

    // rdr-to then a rule on the new port, then a second rdr-to on that.
    let mut e = engine(
        "match in on ext0 proto tcp to port 80 rdr-to 10.1.0.5 port 8080\n\
         match in on ext0 proto tcp to 10.1.0.5 port 8080 rdr-to 10.1.0.6\n\
         block in\npass in on ext0 proto tcp to 10.1.0.6 port 8080\n",
    );
    let mut p = syn(SERVER, EXT, 40002, 80);
    let v = e.test(&meta(Dir::In, "ext0"), &mut p, 0);
    assert!(v.pass, "{v:?}");
    let pd = describe(&p).unwrap();
    assert_eq!((pd.dst, pd.dport), (ip("10.1.0.6"), 8080));
}

/// A match rule whose pool has nothing for the packet drops it
/// (PFRES_TRANSLATE), whatever the later rules say.
#[test]
fn a_failed_match_translation_drops() {
    let mut e = engine("match out on ext0 nat-to (int9)\npass\n");
    let mut p = v4(CLIENT, SERVER, 17, &udp_dgram(5000, 53, b"q"));
    let v = e.test(&meta(Dir::Out, "ext0"), &mut p, 0);
    assert!(!v.pass);
    assert_eq!(v.reason, Reason::Translate);
    assert_eq!(e.status(0).counters[Reason::Translate as usize], 1);
}

/// Sticky source nodes a match rule's translation made go when no state
/// comes of the packet (a block decides), and go to the state otherwise.
#[test]
fn match_translation_source_nodes_follow_the_decision() {
    let rules = |last: &str| {
        format!(
            "match out on ext0 inet nat-to {{ 10.2.0.50, 10.2.0.51 }} round-robin sticky-address\n{last}\n"
        )
    };
    let mut e = engine(&rules("block"));
    let mut p = v4(CLIENT, SERVER, 17, &udp_dgram(5000, 53, b"q"));
    assert!(!e.test(&meta(Dir::Out, "ext0"), &mut p, 0).pass);
    assert_eq!(e.status(0).src_nodes, 0);

    let mut e = engine(&rules("pass"));
    let mut p = v4(CLIENT, SERVER, 17, &udp_dgram(5000, 53, b"q"));
    assert!(e.test(&meta(Dir::Out, "ext0"), &mut p, 0).pass);
    assert_eq!(e.status(0).src_nodes, 1);
    assert_eq!(e.src_nodes(0)[0].states, 1);
    // The same source sticks to its address.
    let first = describe(&p).unwrap().src;
    let mut p = v4(CLIENT, SERVER, 17, &udp_dgram(5001, 53, b"q"));
    assert!(e.test(&meta(Dir::Out, "ext0"), &mut p, 0).pass);
    assert_eq!(describe(&p).unwrap().src, first);
}

/// `match quick` ends evaluation: the pass/block rule before it decides,
/// with the match rule's translation.
#[test]
fn match_quick_ends_evaluation() {
    let mut e = engine("pass\nmatch out quick on ext0 inet nat-to 10.2.0.50\nblock\n");
    let mut p = v4(CLIENT, SERVER, 17, &udp_dgram(5000, 53, b"q"));
    let v = e.test(&meta(Dir::Out, "ext0"), &mut p, 0);
    assert!(v.pass, "{v:?}");
    assert_eq!(v.rule, Some(0));
    assert_eq!(describe(&p).unwrap().src, ip("10.2.0.50"));
}

/// Loopback addresses from the wire are dropped before pf (ip_input's
/// RFC 1122 check), uncounted; a packet pf redirects there is flagged
/// for the host to deliver (PF_TAG_TRANSLATE_LOCALHOST).
#[test]
fn the_loopback_network_and_the_wire() {
    let mut e = engine(
        "pass\npass in on ext0 inet proto tcp to 10.2.0.1 port 7007 rdr-to 127.0.0.1 port 7\n",
    );
    for (src, dst) in [(SERVER, "127.0.0.1"), ("127.0.0.1", EXT)] {
        let mut p = v4(src, dst, 17, &udp_dgram(5000, 9, b"w"));
        let v = e.test(&meta(Dir::In, "ext0"), &mut p, 0);
        assert!(!v.pass, "{src} > {dst} from the wire");
    }
    assert!(e.states.is_empty());
    assert!(
        e.status(0).counters.iter().all(|&c| c == 0),
        "pf counted none"
    );
    // On lo, and leaving (the host's own), they are pf's as any other.
    let mut p = v4("127.0.0.1", "127.0.0.1", 17, &udp_dgram(5000, 9, b"w"));
    let v = e.test(&meta(Dir::In, "lo"), &mut p, 0);
    assert!(v.pass && !v.localhost);
    // Redirected there: flagged.
    let mut p = syn(SERVER, EXT, 40000, 7007);
    let v = e.test(&meta(Dir::In, "ext0"), &mut p, 0);
    assert!(v.pass && v.localhost, "{v:?}");
    // Its next packets too (by the state); the answer going out is not.
    let mut p = v4(
        SERVER,
        EXT,
        6,
        &tcp_seg(40000, 7007, 1001, 9001, ACK, 512, b""),
    );
    assert!(e.test(&meta(Dir::In, "ext0"), &mut p, 1).localhost);
    let mut r = v4(
        "127.0.0.1",
        SERVER,
        6,
        &tcp_seg(7, 40000, 9000, 1001, SYN | ACK, 512, b""),
    );
    let v = e.test(&meta(Dir::Out, "ext0"), &mut r, 1);
    assert!(v.pass && !v.localhost);
    // A packet to another host is not.
    let mut p = syn(SERVER, "10.1.0.2", 40001, 80);
    let v = e.test(&meta(Dir::In, "ext0"), &mut p, 1);
    assert!(v.pass && !v.localhost);
}

/// FreeBSD's icmp.sh:ttl_exceeded, its `nat on` as the match rule it
/// becomes: traceroute -I through the NAT. The time exceeded from a router
/// beyond quotes the translated echo request; it belongs to that state, and
/// comes to the client with the outer destination, the quoted source and
/// the quoted id put back, every checksum right (pf_icmp_state_lookup,
/// pf_change_icmp).
#[test]
fn time_exceeded_through_a_match_nat_reaches_the_client() {
    use super::packet::describe_quoted;
    use crate::wire::checksum::checksum;
    let mut e = engine(
        "match out on ext0 inet from 10.1.0.0/24 nat-to ext0\nblock\n\
         pass inet proto udp\npass inet proto icmp icmp-type { echoreq }\n",
    );
    let mut p = v4(CLIENT, SERVER, 1, &echo(8, 4242, 1));
    assert!(e.test(&meta(Dir::In, "int0"), &mut p, 0).pass);
    assert!(e.test(&meta(Dir::Out, "ext0"), &mut p, 0).pass);
    let out = describe(&p).unwrap();
    assert_eq!(out.src, ip(EXT));
    let mut err = vec![11, 0, 0, 0, 0, 0, 0, 0];
    err.extend_from_slice(&p[..28]);
    let mut t = v4("10.2.0.99", EXT, 1, &err);
    let a = e.test(&meta(Dir::In, "ext0"), &mut t, 1);
    let b = e.test(&meta(Dir::Out, "int0"), &mut t, 1);
    assert!(a.pass && a.modified && b.pass, "{a:?} {b:?}");
    let pd = describe(&t).unwrap();
    assert_eq!((pd.src, pd.dst), (ip("10.2.0.99"), ip(CLIENT)));
    let q = describe_quoted(&t[28..]).unwrap();
    assert_eq!(
        (q.src, q.dst, q.icmp.unwrap().id),
        (ip(CLIENT), ip(SERVER), 4242)
    );
    assert_eq!(checksum(&t[..20]), 0, "outer IP checksum");
    assert_eq!(checksum(&t[20..]), 0, "ICMP checksum");
    assert_eq!(checksum(&t[28..48]), 0, "quoted IP checksum");
    assert_eq!(e.states.len(), 2, "the error made no state");
}

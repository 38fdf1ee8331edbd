//! The rest of rule evaluation through the engine: tags from the `in` pass
//! to the `out` pass and on states, `once`, `probability`, `max-pkt-rate`,
//! killing states by label, id and key, and `set optimization`.

use super::anchor::Loader;
use super::packet::tests::*;
use super::packet::Dir;
use super::state::StateKill;
use super::*;
use crate::conf::{parse, StaticResolver};

const CLIENT: &str = "10.1.0.2";
const SERVER: &str = "10.2.0.2";

fn engine(rules: &str) -> Engine {
    let res = StaticResolver::new()
        .iface("int0", &["10.1.0.1/24"])
        .iface("ext0", &["10.2.0.1/24"]);
    let rs = parse(rules, "pf.conf", &res)
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let mut e = Engine::new(0x4243, 7);
    e.load(rs, Loader::default(), String::new()).unwrap();
    e.set_enabled(true, 0);
    e
}

fn meta(dir: Dir, ifname: &str, tag: u16) -> PacketMeta<'_> {
    PacketMeta {
        dir,
        ifname,
        uid: None,
        gid: None,
        mtag: Mtag {
            tag,
            in_slot: 3,
            ..Mtag::default()
        },
    }
}

/// In on int0 then out on ext0, the mark carried from one pass to the
/// other as the data path carries it.
fn forward(e: &mut Engine, mut p: Vec<u8>, now: u64) -> (Verdict, Verdict) {
    let a = e.test(&meta(Dir::In, "int0", 0), &mut p, now);
    let tag = a.mtag.map_or(0, |m| m.tag);
    let b = e.test(&meta(Dir::Out, "ext0", tag), &mut p, now);
    (a, b)
}

const TAGS: &str = "block out on ext0\npass in on int0 proto udp to port 53 tag DNS\n\
                    pass in on int0 proto udp to port 123\npass out on ext0 tagged DNS\n";

#[test]
fn a_tag_from_the_in_pass_lets_the_out_pass_through() {
    let mut e = engine(TAGS);
    let dns = e.tags.id("DNS").unwrap();
    let (a, b) = forward(
        &mut e,
        v4(CLIENT, SERVER, 17, &udp_dgram(5000, 53, b"q")),
        0,
    );
    assert!(a.pass && b.pass, "{a:?} {b:?}");
    // The pf header goes back as the mark: the tag set, the rest kept.
    assert_eq!(a.mtag.map(|m| (m.tag, m.in_slot)), Some((dns, 3)));
    // Untagged: the out pass blocks.
    let (a, b) = forward(
        &mut e,
        v4(CLIENT, SERVER, 17, &udp_dgram(5000, 123, b"t")),
        0,
    );
    assert!(a.pass && !b.pass);
    assert_eq!(a.mtag, None, "no tag, the mark is left alone");
    // The state made by the tagging rule tags later packets, both ways.
    let mut again = v4(CLIENT, SERVER, 17, &udp_dgram(5000, 53, b"q2"));
    let v = e.test(&meta(Dir::In, "int0", 0), &mut again, 1);
    assert_eq!(v.mtag.map(|m| m.tag), Some(dns));
    let mut reply = v4(SERVER, CLIENT, 17, &udp_dgram(53, 5000, b"a"));
    let v = e.test(&meta(Dir::Out, "int0", 0), &mut reply, 1);
    assert!(v.pass);
    assert_eq!(v.mtag.map(|m| m.tag), Some(dns));
    // The out pass's state carries the tag it saw (pf's ctx tag), and the
    // export names it for pfctl -vss.
    let tagged: Vec<String> = e.export_all(1).into_iter().map(|s| s.tag).collect();
    assert_eq!(
        tagged,
        vec!["DNS".to_string(), "DNS".to_string(), String::new()]
    );
}

#[test]
fn last_matching_tag_rule_wins_and_match_rules_tag() {
    let mut e = engine(
        "match in tag ONE\nmatch in proto udp tag TWO\npass in tagged TWO\nblock in tagged ONE\n",
    );
    let two = e.tags.id("TWO").unwrap();
    let mut p = v4(CLIENT, SERVER, 17, &udp_dgram(1, 2, b""));
    let v = e.test(&meta(Dir::In, "int0", 0), &mut p, 0);
    assert!(v.pass);
    assert_eq!(v.mtag.map(|m| m.tag), Some(two));
    // TCP only gets ONE: the block decides and nothing is tagged.
    let mut p = v4(
        CLIENT,
        SERVER,
        6,
        &tcp_seg(1, 2, 3, 0, crate::wire::tcp::SYN, 4, b""),
    );
    let v = e.test(&meta(Dir::In, "int0", 0), &mut p, 0);
    assert!(!v.pass);
    assert_eq!(v.mtag, None);
    // FreeBSD's match.sh duplicate_rules: block, pass tagged, match tag,
    // pass tagged.
    let mut e = engine("block\npass tagged FOO\nmatch tag FOO\npass tagged FOO\n");
    let mut p = v4(CLIENT, SERVER, 1, &echo(8, 1, 1));
    assert!(e.test(&meta(Dir::In, "int0", 0), &mut p, 0).pass);
}

#[test]
fn tag_names_live_while_rules_or_states_use_them() {
    let mut e = engine(TAGS);
    let _ = forward(
        &mut e,
        v4(CLIENT, SERVER, 17, &udp_dgram(5000, 53, b"q")),
        0,
    );
    // A new ruleset without the tag: the states still hold it.
    let rs = parse("pass\n", "pf.conf", &StaticResolver::new()).unwrap();
    e.load(rs, Loader::default(), String::new()).unwrap();
    assert!(e.tags.id("DNS").is_some());
    e.kill_states(1, false, |_| true);
    assert!(e.tags.is_empty());
}

#[test]
fn once_matches_once() {
    let mut e = engine("block\npass in on int0 proto icmp once\n");
    let mut p = v4(CLIENT, SERVER, 1, &echo(8, 1, 1));
    assert!(e.test(&meta(Dir::In, "int0", 0), &mut p, 0).pass);
    assert!(e.rules().main().run.expired(1));
    // The state it made carries on; a new flow is blocked.
    let mut p = v4(CLIENT, SERVER, 1, &echo(8, 1, 2));
    assert!(e.test(&meta(Dir::In, "int0", 0), &mut p, 0).pass);
    let mut p = v4(CLIENT, SERVER, 1, &echo(8, 2, 1));
    assert!(!e.test(&meta(Dir::In, "int0", 0), &mut p, 0).pass);
    // An expired rule is not even evaluated.
    assert_eq!(e.rules().main().counters[1].evaluations, 1);
}

#[test]
fn probability_and_max_pkt_rate_through_the_engine() {
    let mut e = engine("block\npass in on int0 proto udp probability 50% no state\n");
    let passed = (0..2000u16)
        .filter(|i| {
            let mut p = v4(CLIENT, SERVER, 17, &udp_dgram(1000 + i, 9, b""));
            e.test(&meta(Dir::In, "int0", 0), &mut p, 0).pass
        })
        .count();
    assert!((850..1150).contains(&passed), "{passed}");
    let mut e = engine("block\npass in on int0 proto udp max-pkt-rate 10/1 no state\n");
    let passed = (0..20u16)
        .filter(|i| {
            let mut p = v4(CLIENT, SERVER, 17, &udp_dgram(1000 + i, 9, b""));
            e.test(&meta(Dir::In, "int0", 0), &mut p, 5000).pass
        })
        .count();
    assert_eq!(passed, 10);
}

#[test]
fn kill_by_label_id_and_key() {
    let mut e = engine(
        "pass in on int0 proto udp to port 53 label dns\npass in on int0 proto udp to port 123 label ntp\n",
    );
    for (sport, dport) in [(5000, 53), (5001, 53), (5002, 123)] {
        let mut p = v4(CLIENT, SERVER, 17, &udp_dgram(sport, dport, b""));
        assert!(e.test(&meta(Dir::In, "int0", 0), &mut p, 0).pass);
    }
    let by_label = StateKill {
        label: Some("dns".into()),
        ..StateKill::default()
    };
    // The label stays with the states across a reload, as in pf.
    let rs = parse("pass\n", "pf.conf", &StaticResolver::new()).unwrap();
    e.load(rs, Loader::default(), String::new()).unwrap();
    assert_eq!(e.kill_matching(&by_label, 1), 2);
    assert_eq!(e.states.len(), 1);
    let id = e.export_all(1)[0].id;
    assert_eq!(
        e.kill_matching(
            &StateKill {
                id: Some((id + 1, 0)),
                ..StateKill::default()
            },
            1
        ),
        0
    );
    assert_eq!(
        e.kill_matching(
            &StateKill {
                id: Some((id, 0x4243)),
                ..StateKill::default()
            },
            1
        ),
        1
    );
    // -k key: the exact connection.
    let mut p = v4(CLIENT, SERVER, 17, &udp_dgram(6000, 53, b""));
    assert!(e.test(&meta(Dir::In, "int0", 0), &mut p, 2).pass);
    let key = |sport| StateKill {
        proto: Some(17),
        src: Some(crate::addr::IpNet::host(CLIENT.parse().unwrap())),
        dst: Some(crate::addr::IpNet::host(SERVER.parse().unwrap())),
        src_port: Some(sport),
        dst_port: Some(53),
        ..StateKill::default()
    };
    assert_eq!(e.kill_matching(&key(6001), 2), 0);
    assert_eq!(e.kill_matching(&key(6000), 2), 1);
}

#[test]
fn set_optimization_sets_pfctls_timeouts_in_order() {
    use crate::ruleset::Timeout;
    let e = engine(
        "set timeout tcp.first 10\nset optimization aggressive\nset timeout tcp.closed 7\npass\n",
    );
    assert_eq!(
        e.timeout_value(Timeout::TcpFirst),
        30,
        "the hint overrides what came before"
    );
    assert_eq!(
        e.timeout_value(Timeout::TcpClosed),
        7,
        "a later set timeout overrides the hint"
    );
    assert_eq!(e.timeout_value(Timeout::TcpEstablished), 18000);
    assert_eq!(e.timeout_value(Timeout::TcpTsDiff), 10);
    assert_eq!(
        e.timeout_value(Timeout::UdpFirst),
        60,
        "only TCP timeouts are hinted"
    );
    let e = engine("set optimization high-latency\npass\n");
    assert_eq!(e.timeout_value(Timeout::TcpFirst), 180);
    let e = engine("set optimization conservative\npass\n");
    assert_eq!(e.timeout_value(Timeout::TcpEstablished), 432000);
}

#[test]
fn os_fingerprints_decide_for_tcp_syns() {
    let fp = "*:64:1:60:M*,S,T,N,W*:Testix:1.0:beta:a Linux-like SYN\n\
              *:128:1:52:M*,N,W8,N,N,S:Windows:10::a Windows-like SYN\n";
    let (entries, msgs) = crate::osfp::parse_file(fp, "test.os").unwrap();
    assert!(msgs.is_empty(), "{msgs:?}");
    let mut e = engine(
        "block in on int0 proto tcp\npass in on int0 proto tcp from any os \"Testix\" to port { 1 11 } flags any\n\
         pass in on int0 proto tcp from any os \"Windows 10\" to port 2\n\
         pass in on int0 proto tcp from any os unknown to port 3 flags any\n",
    );
    // Loaded after the rules: their names are resolved again.
    assert!(e.add_fingerprints(entries).is_empty());
    assert_eq!(e.fingerprints().len(), 4);
    let syn = |dport| {
        // mss 1460, sack ok, timestamp, nop, wscale 7: 60 bytes in all.
        let mut t = tcp_seg(4000 + dport, dport, 1, 0, crate::wire::tcp::SYN, 64240, b"");
        t[12] = 10 << 4;
        t.extend_from_slice(&[
            2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 7,
        ]);
        v4(CLIENT, SERVER, 6, &t)
    };
    let pass = |e: &mut Engine, mut p: Vec<u8>| e.test(&meta(Dir::In, "int0", 0), &mut p, 0).pass;
    assert!(pass(&mut e, syn(1)), "the SYN is Testix's");
    assert!(!pass(&mut e, syn(2)), "not Windows'");
    assert!(!pass(&mut e, syn(3)), "and known");
    // A SYN no signature knows is `unknown`.
    let odd = tcp_seg(4001, 3, 1, 0, crate::wire::tcp::SYN, 1000, b"");
    assert!(pass(&mut e, v4(CLIENT, SERVER, 6, &odd)));
    // Other TCP segments are not SYNs: only `unknown` takes them.
    let ack = tcp_seg(4002, 3, 1, 1, crate::wire::tcp::ACK, 1000, b"");
    assert!(pass(&mut e, v4(CLIENT, SERVER, 6, &ack)));
    let ack = tcp_seg(4002, 1, 1, 1, crate::wire::tcp::ACK, 1000, b"");
    assert!(!pass(&mut e, v4(CLIENT, SERVER, 6, &ack)));
    // Without fingerprints nothing is known.
    e.flush_fingerprints();
    assert!(!pass(&mut e, syn(11)));
}

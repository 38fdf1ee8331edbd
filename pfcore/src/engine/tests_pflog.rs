//! What the engine tells pflog (`logmark`): which rules log a packet, with
//! which number, action, reason and pflog interface.

use super::anchor::Loader;
use super::packet::tests::*;
use super::packet::Dir;
use super::*;
use crate::conf::{parse, StaticResolver};
use crate::wire::pflog::{NO_SUBRULE, PF_DROP, PF_MATCH, PF_PASS};

fn engine_with(src: &str) -> Engine {
    let res = StaticResolver::new().iface("eth0", &["10.0.0.1/24"]);
    let rs = parse(src, "pf.conf", &res)
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let mut e = Engine::new(1, 1);
    e.load(rs, Loader::default(), String::new()).unwrap();
    e.set_enabled(true, 0);
    e
}

fn ping_in(e: &mut Engine, seq: u16, now: u64) -> Verdict {
    let mut p = v4("10.0.0.2", "10.0.0.1", 1, &echo(8, 7, seq));
    let meta = PacketMeta {
        dir: Dir::In,
        ifname: "eth0",
        uid: None,
        gid: None,
        mtag: Default::default(),
    };
    e.test(&meta, &mut p, now)
}

/// (rulenr, subrulenr, action, ifnum) of each mark.
fn marks(v: &Verdict) -> Vec<(u32, u32, u8, u8)> {
    v.log_marks()
        .iter()
        .map(|m| (m.rulenr, m.subrulenr, m.action, m.ifnum))
        .collect()
}

#[test]
fn the_deciding_rule_logs_with_its_number_and_action() {
    let mut e = engine_with("pass\nblock log quick proto icmp\n");
    let v = ping_in(&mut e, 1, 0);
    assert!(!v.pass && v.log);
    assert_eq!(marks(&v), [(1, NO_SUBRULE, PF_DROP, 0)]);
}

#[test]
fn a_rule_without_log_logs_nothing_even_after_an_overridden_one() {
    let mut e = engine_with("block log\npass\n");
    let v = ping_in(&mut e, 1, 0);
    assert!(v.pass && !v.log && v.logs.is_none());
}

#[test]
fn match_rules_log_at_once_and_log_matches_logs_the_rest() {
    let mut e =
        engine_with("match log (to pflog1)\nmatch log (matches)\nblock\npass log proto icmp\n");
    let v = ping_in(&mut e, 1, 0);
    assert!(v.pass);
    assert_eq!(
        marks(&v),
        [
            (0, NO_SUBRULE, PF_MATCH, 1),
            (1, NO_SUBRULE, PF_MATCH, 0),
            (2, NO_SUBRULE, PF_DROP, 0),
            (3, NO_SUBRULE, PF_PASS, 0),
        ]
    );
    assert!(v.log_marks()[3].decided && !v.log_marks()[2].decided);
}

#[test]
fn log_all_logs_the_states_packets_and_log_alone_only_the_first() {
    let mut e = engine_with("pass log (all) proto icmp\n");
    assert_eq!(marks(&ping_in(&mut e, 1, 0)), [(0, NO_SUBRULE, PF_PASS, 0)]);
    let again = ping_in(&mut e, 2, 10);
    assert_eq!(marks(&again), [(0, NO_SUBRULE, PF_PASS, 0)]);
    let mut e = engine_with("pass log proto icmp\n");
    assert!(ping_in(&mut e, 1, 0).log);
    assert!(!ping_in(&mut e, 2, 10).log);
}

#[test]
fn a_rule_in_an_anchor_names_the_anchor() {
    let mut e = engine_with("pass\nanchor \"inner\" {\n pass\n block log proto icmp\n}\n");
    let v = ping_in(&mut e, 1, 0);
    assert_eq!(marks(&v), [(1, 1, PF_DROP, 0)]);
    assert_eq!(&v.log_marks()[0].ruleset[..6], b"inner\0");
}

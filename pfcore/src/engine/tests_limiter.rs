//! State and source limiters through the engine: a rule over its limit
//! does not match (`no-match`) or blocks (`block`); states give their
//! places back when they go; the counters `pfctl -s LimiterStates` shows.

use super::anchor::Loader;
use super::packet::tests::*;
use super::packet::Dir;
use super::*;
use crate::conf::{parse, StaticResolver};

const SERVER: &str = "192.0.2.1";

fn engine(rules: &str) -> Engine {
    let res = StaticResolver::new().iface("eth0", &["192.0.2.1/24"]);
    let rs = parse(rules, "pf.conf", &res)
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let mut e = Engine::new(0x4243, 7);
    e.load(rs, Loader::default(), String::new()).unwrap();
    e.set_enabled(true, 0);
    e
}

fn ping(e: &mut Engine, from: &str, id: u16, seq: u16, now: u64) -> Verdict {
    let meta = PacketMeta {
        dir: Dir::In,
        ifname: "eth0",
        uid: None,
        gid: None,
        mtag: Mtag::default(),
    };
    let mut p = v4(from, SERVER, 1, &echo(8, id, seq));
    e.test(&meta, &mut p, now)
}

#[test]
fn a_state_limiter_over_its_limit_lets_the_rule_not_match() {
    let mut e = engine(
        "state limiter \"server\" id 1 limit 1\nblock in proto icmp\n\
         pass in proto icmp state limiter \"server\"\n",
    );
    assert!(ping(&mut e, "192.0.2.2", 1, 1, 0).pass);
    // The same echo id: its state.
    assert!(ping(&mut e, "192.0.2.2", 1, 2, 1000).pass);
    // Another echo id wants a second state: the pass rule does not
    // match, the block rule decides.
    let v = ping(&mut e, "192.0.2.2", 2, 1, 2000);
    assert!(!v.pass);
    assert_eq!(v.rule, Some(0));
    assert!(!ping(&mut e, "192.0.2.2", 2, 2, 3000).pass);
    let c = e.state_limiters()[0].counters;
    assert_eq!((c.inuse, c.admitted, c.hardlim, c.ratelim), (1, 1, 2, 0));
    // The state goes: its place is free again.
    e.kill_states(4000, false, |_| true);
    assert_eq!(e.state_limiters()[0].counters.inuse, 0);
    assert!(ping(&mut e, "192.0.2.2", 2, 3, 5000).pass);
}

#[test]
fn block_blocks_and_no_match_falls_through_to_the_rule_before() {
    let rules = |how: &str| {
        format!(
            "state limiter \"server\" id 1 limit 1000 rate 1/5\npass\n\
             pass in proto icmp state limiter \"server\" ({how})\n"
        )
    };
    let mut e = engine(&rules("block"));
    assert!(ping(&mut e, "192.0.2.2", 1, 1, 10_000).pass);
    let v = ping(&mut e, "192.0.2.2", 2, 1, 11_000);
    assert!(!v.pass);
    assert_eq!(v.rule, Some(1));
    assert_eq!(e.state_limiters()[0].counters.ratelim, 1);
    // Five seconds on, the rate allows another state.
    assert!(ping(&mut e, "192.0.2.2", 3, 1, 16_000).pass);
    let mut e = engine(&rules("no-match"));
    assert!(ping(&mut e, "192.0.2.2", 1, 1, 10_000).pass);
    let v = ping(&mut e, "192.0.2.2", 2, 1, 11_000);
    assert!(v.pass);
    assert_eq!(v.rule, Some(0));
}

#[test]
fn a_source_limiter_counts_each_source() {
    let mut e = engine(
        "source limiter \"server\" id 1 entries 128 limit 1\nblock in proto icmp\n\
         pass in proto icmp source limiter \"server\"\n",
    );
    assert!(ping(&mut e, "192.0.2.2", 1, 1, 0).pass);
    assert!(!ping(&mut e, "192.0.2.2", 2, 1, 0).pass);
    assert!(!ping(&mut e, "192.0.2.2", 2, 2, 0).pass);
    assert!(ping(&mut e, "192.0.2.3", 3, 1, 0).pass);
    let s = &e.source_limiters(true)[0];
    assert_eq!((s.nentries, s.counters.hardlim), (2, 2));
    let lines: Vec<String> = s
        .entries
        .iter()
        .map(|x| {
            format!(
                "{}/{} {}",
                x.source.addr, x.source.prefix, x.counters.hardlim
            )
        })
        .collect();
    assert_eq!(lines, ["192.0.2.2/32 2", "192.0.2.3/32 0"]);
    let two = crate::addr::IpNet::host("192.0.2.2".parse().unwrap());
    assert_eq!(e.kill_limiter_sources(1, &two), Some(1));
    assert!(ping(&mut e, "192.0.2.2", 2, 3, 0).pass);
}

#[test]
fn a_rule_naming_a_limiter_that_is_not_loaded_is_refused() {
    let res = StaticResolver::new();
    let rs = parse(
        "state limiter \"x\" id 3 limit 1\npass state limiter x\n",
        "pf.conf",
        &res,
    )
    .unwrap();
    let mut e = Engine::new(1, 1);
    // The rules alone, as an anchor load would bring them.
    let sets = vec![(String::new(), rs.rules.clone())];
    let err = e.commit(sets, None, Vec::new(), Loader::default(), 0);
    assert!(err.unwrap_err().message.contains("state limiter id 3"));
    e.load(rs, Loader::default(), String::new()).unwrap();
}

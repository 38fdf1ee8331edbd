//! State expiry through the whole engine: adaptive timeouts as
//! pf_state_expires computes them (global and per rule), the thresholds
//! pfctl derives from `set limit states`, and the incremental expiry
//! that checks a share of the table a second.

use super::packet::Dir;
use super::state::{adaptive_scale, purge_share, PurgeCursor, PURGE_RUN_MIN};
use super::synproxy::tests::{engine, meta, seg};
use super::Engine;
use crate::ruleset::Timeout;
use crate::wire::tcp::SYN;

/// A SYN from 10.1.x.y:sport to SRV:dport in on int0, at `now` (ms):
/// whether it passed.
fn syn(e: &mut Engine, n: u32, dport: u16, now: u64) -> bool {
    let src = format!("10.1.{}.{}", n / 250, n % 250 + 2);
    let mut p = seg(
        (&src, 1024 + (n % 60000) as u16),
        ("10.2.0.9", dport),
        1000,
        0,
        SYN,
        65535,
        1460,
        b"",
    );
    e.test(&meta(Dir::In, "int0"), &mut p, now).pass
}

fn timeout(e: &Engine, t: Timeout) -> u32 {
    e.timeouts()[t as usize]
}

#[test]
fn adaptive_scale_is_pf_state_expires() {
    // set limit states 5000: 3000..6000; 5000 states: a third left.
    assert_eq!(adaptive_scale(120, 3000, 6000, 5000), 40);
    assert_eq!(adaptive_scale(120, 3000, 6000, 3000), 120);
    assert_eq!(adaptive_scale(120, 3000, 6000, 3001), 119);
    assert_eq!(adaptive_scale(120, 3000, 6000, 6000), 0);
    assert_eq!(adaptive_scale(120, 3000, 6000, 9000), 0);
    // No end, or an end not above the start: no scaling.
    assert_eq!(adaptive_scale(120, 3000, 0, 9000), 120);
    assert_eq!(adaptive_scale(120, 6000, 6000, 9000), 120);
    assert_eq!(adaptive_scale(120, 7000, 6000, 9000), 120);
    // A start of 0 scales from the first state on.
    assert_eq!(adaptive_scale(120, 0, 100, 50), 60);
    assert_eq!(adaptive_scale(120, 0, 100, 0), 120);
}

#[test]
fn a_states_limit_derives_the_thresholds_as_pfctl_does() {
    let e = engine("set limit states 5000\npass\n");
    assert_eq!(timeout(&e, Timeout::AdaptiveStart), 3000);
    assert_eq!(timeout(&e, Timeout::AdaptiveEnd), 6000);
    // In tenths: (1005 / 10) * 6, not 1005 * 6 / 10.
    let e = engine("set limit states 1005\npass\n");
    assert_eq!(timeout(&e, Timeout::AdaptiveStart), 600);
    assert_eq!(timeout(&e, Timeout::AdaptiveEnd), 1200);
    // One threshold set: neither is derived (the other keeps its default).
    let e = engine("set limit states 5000\nset timeout adaptive.start 100\npass\n");
    assert_eq!(timeout(&e, Timeout::AdaptiveStart), 100);
    assert_eq!(timeout(&e, Timeout::AdaptiveEnd), 120000);
    let e = engine("pass\n");
    assert_eq!(timeout(&e, Timeout::AdaptiveStart), 60000);
    assert_eq!(timeout(&e, Timeout::AdaptiveEnd), 120000);
}

#[test]
fn adaptive_timeouts_follow_the_count_state_by_state() {
    let mut e = engine(
        "set limit states 20\nset timeout { tcp.first 100, adaptive.start 2, adaptive.end 12 }\npass\n",
    );
    for n in 0..7 {
        assert!(syn(&mut e, n, 80, 0));
    }
    // 7 states: 100 * (12 - 7) / (12 - 2) = 50 s.
    let slot = e.states.all_slots().next().unwrap();
    assert_eq!(e.state_timeout_secs(e.states.get(slot).unwrap()), 50);
    assert_eq!(e.purge(49_999), 0);
    // The first goes at 50 s; with 6 left the others have 60 s.
    assert_eq!(e.purge(50_000), 1);
    assert_eq!(e.purge(59_999), 0);
    assert_eq!(e.purge(60_000), 1);
    assert_eq!(e.states.len(), 5);
    // From the end threshold on the timeout is 0: states go until the
    // count is below it (11 left: 10 s, more than their age).
    let mut e = engine(
        "set limit states 20\nset timeout { tcp.first 100, adaptive.start 2, adaptive.end 12 }\npass\n",
    );
    for n in 0..17 {
        assert!(syn(&mut e, n, 80, 1_000));
    }
    assert_eq!(e.purge(1_000), 17 - 11);
}

#[test]
fn a_rule_with_max_scales_by_its_own_states() {
    // `max 10` derives adaptive.start 6, adaptive.end 12 for the rule,
    // counted on the rule's states; the global thresholds (60000..120000)
    // leave the other rule's states alone.
    let mut e =
        engine("pass in proto tcp to port 80 keep state (max 10)\npass in proto tcp to port 81\n");
    for n in 0..9 {
        assert!(syn(&mut e, n, 80, 0));
        assert!(syn(&mut e, 100 + n, 81, 0));
    }
    assert_eq!(e.states.len(), 18);
    let by_port = |e: &Engine, port: u16| {
        let s = e
            .states
            .all_slots()
            .find(|&s| e.states.get(s).unwrap().key[0].port[1] == port)
            .unwrap();
        e.state_timeout_secs(e.states.get(s).unwrap())
    };
    // tcp.first 120 * (12 - 9) / (12 - 6)
    assert_eq!(by_port(&e, 80), 60);
    assert_eq!(by_port(&e, 81), 120);
    // A rule's own adaptive thresholds.
    let mut e = engine(
        "pass in proto tcp to port 80 keep state (tcp.first 40, adaptive.start 2, adaptive.end 8)\n",
    );
    for n in 0..5 {
        assert!(syn(&mut e, n, 80, 0));
    }
    assert_eq!(by_port(&e, 80), 40 * (8 - 5) / (8 - 2));
    // A rule's adaptive.start of 0 is no threshold of its own: the global
    // ones apply (pf_state_expires), and 5 states are far below them.
    let mut e = engine(
        "pass in proto tcp to port 80 keep state (tcp.first 40, adaptive.start 0, adaptive.end 8)\n",
    );
    for n in 0..5 {
        assert!(syn(&mut e, n, 80, 0));
    }
    assert_eq!(by_port(&e, 80), 40);
}

#[test]
fn the_share_of_a_run_covers_the_table_within_the_interval() {
    assert_eq!(purge_share(0, 10), 0);
    assert_eq!(purge_share(100, 10), 100, "a small table whole");
    assert_eq!(purge_share(PURGE_RUN_MIN * 3, 10), PURGE_RUN_MIN);
    assert_eq!(purge_share(1_000_000, 10), 100_000);
    assert_eq!(purge_share(1_000_001, 10), 100_001);
    assert_eq!(purge_share(1_000_000, 0), 1_000_000, "interval 0 as 1");
    assert_eq!(purge_share(1_000_000, 1), 1_000_000);
    for (slots, interval) in [(1_000_000, 10), (99_999, 7), (5_000, 2), (12_345, 3)] {
        assert!(purge_share(slots, interval) * interval as usize >= slots);
    }
}

/// One run of the expiry as pfd's maintenance does it: pieces of at most
/// `max_slots` slots and `max_gone` removals until the run's share is done.
fn run(e: &mut Engine, c: &mut PurgeCursor, max_gone: usize, now: u64) -> (usize, usize) {
    e.purge_run_begin(c);
    let (mut gone, mut pieces) = (0, 0);
    while c.running() {
        let k = e.purge_run_piece(c, 4096, max_gone, now);
        assert!(k <= max_gone);
        gone += k;
        pieces += 1;
        assert!(pieces < 10_000, "a run that does not end");
    }
    (gone, pieces)
}

#[test]
fn runs_go_round_the_table_a_share_at_a_time() {
    // 10,000 states, interval 2: 5,000 slots a run.
    let mut e = engine("set limit states 100000\nset timeout { tcp.first 10, interval 2 }\npass\n");
    for n in 0..10_000 {
        assert!(syn(&mut e, n, 80, 0));
    }
    let mut c = PurgeCursor::default();
    // Nothing expired: a run checks its share and stops.
    assert_eq!(run(&mut e, &mut c, 256, 5_000), (0, 2));
    assert_eq!(c.at(), 5_000);
    // All expired: the next run takes the second half, the one after the
    // first: every state within two runs (the interval), none before.
    let (gone, pieces) = run(&mut e, &mut c, 256, 10_000);
    assert_eq!(gone, 5_000);
    assert!(pieces >= 5_000 / 256, "{pieces} pieces");
    assert_eq!(e.states.len(), 5_000);
    assert_eq!(run(&mut e, &mut c, 256, 10_000).0, 5_000);
    assert!(e.states.is_empty());
}

#[test]
fn a_run_wraps_at_the_end_of_the_table() {
    let mut e = engine("set limit states 100000\nset timeout { tcp.first 10, interval 3 }\npass\n");
    for n in 0..9_000 {
        assert!(syn(&mut e, n, 80, 0));
    }
    let mut c = PurgeCursor::default();
    // Shares of 4,096 (the least) in a table of 9,000: 0..4096,
    // 4096..8192, then 8192..9000 and 0..3288.
    for at in [4096, 8192, 3288] {
        run(&mut e, &mut c, usize::MAX, 1_000);
        assert_eq!(c.at(), at);
    }
    // Everything expired: three runs cover the whole table again.
    let mut gone = 0;
    for _ in 0..3 {
        gone += run(&mut e, &mut c, usize::MAX, 20_000).0;
    }
    assert_eq!((gone, e.states.len()), (9_000, 0));
}

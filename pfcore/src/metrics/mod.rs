//! pf, CARP and pfsync as Prometheus metrics: a snapshot of what pfd
//! reports (`pfctl -s info`, the rules' counters, `carpctl -s`, the
//! demotion counters, pfsyncd's report) rendered in the text exposition
//! format (`text`). Pure: libpf's `metrics` collects the snapshot over the
//! control socket and writes the text where it is wanted.

pub mod text;

use crate::carp::iface::CarpStats;
use crate::carp::{CarpState, CarpStatus};
use crate::engine::anchor::RuleCounters;
use crate::engine::status::{Status, LIMIT_COUNTER_NAMES, REASON_NAMES};
use crate::pfsync::health::{self, SyncView, Thresholds};
use crate::pfsync::stats::BulkPhase;
use text::{Exposition, Kind};

/// One rule and its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSample {
    /// Anchor path ("" for the main ruleset).
    pub anchor: String,
    /// Rule number within it (`@N` of `pfctl -vvsr`).
    pub nr: u32,
    /// The rule's `label`, "" without one.
    pub label: String,
    /// The rule as `pfctl -sr` prints it.
    pub text: String,
    pub counters: RuleCounters,
}

/// Everything exported, as read at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub status: Status,
    pub rules: Vec<RuleSample>,
    pub carp: Vec<CarpStatus>,
    pub carp_stats: CarpStats,
    /// Interface groups and their carp demotion counters.
    pub demote: Vec<(String, u32)>,
    pub pfsync: SyncView,
    /// The health check's thresholds (for pf_pfsync_healthy).
    pub thresholds: Thresholds,
    /// Seconds since the epoch, now.
    pub now_unix: f64,
}

/// A fast path family: name, type, help, and its value.
type FastPathField = (
    &'static str,
    Kind,
    &'static str,
    fn(&crate::engine::status::FastPathStatus) -> u64,
);

const CARP_STATES: [CarpState; 3] = [CarpState::Init, CarpState::Backup, CarpState::Master];

const OK_HELP: &str = "1 when pfmetrics could read pfd; 0 (and nothing else) when it could not.";

/// The exposition text of `s`.
pub fn render(s: &Snapshot) -> String {
    let mut e = Exposition::new();
    e.single("pf_metrics_ok", Kind::Gauge, OK_HELP, true);
    info(&mut e, &s.status);
    fast_path(&mut e, &s.status);
    rules(&mut e, &s.rules);
    carp(&mut e, s);
    pfsync(&mut e, s);
    e.finish()
}

/// What replaces the metrics when pfd cannot be read: the textfile
/// collector would otherwise go on serving the last, stale values.
pub fn render_unavailable() -> String {
    let mut e = Exposition::new();
    e.single("pf_metrics_ok", Kind::Gauge, OK_HELP, false);
    e.finish()
}

/// `pfctl -s info`: status, state table, counters, limit counters.
fn info(e: &mut Exposition, st: &Status) {
    use Kind::{Counter, Gauge};
    e.single(
        "pf_enabled",
        Gauge,
        "1 when pf is enabled (pfctl -e).",
        st.running,
    );
    e.single(
        "pf_uptime_seconds",
        Gauge,
        "Seconds since pf was enabled.",
        st.uptime_secs,
    );
    e.family(
        "pf_info",
        Gauge,
        "pf's host id, ruleset checksum and debug level.",
        |f| {
            let hostid = format!("0x{:08x}", st.hostid);
            f.sample(
                &[
                    ("hostid", &hostid),
                    ("checksum", &st.checksum),
                    ("debug", &st.debug),
                ],
                1u64,
            )
        },
    );
    e.single(
        "pf_states",
        Gauge,
        "State table: current entries.",
        st.states,
    );
    e.single(
        "pf_states_half_open_tcp",
        Gauge,
        "State table: half-open TCP connections.",
        st.half_open_tcp,
    );
    let table = [
        (
            "pf_state_searches_total",
            "State table: searches.",
            st.searches,
        ),
        (
            "pf_state_inserts_total",
            "State table: inserts.",
            st.inserts,
        ),
        (
            "pf_state_removals_total",
            "State table: removals.",
            st.removals,
        ),
        (
            "pf_src_node_searches_total",
            "Source tracking table: searches.",
            st.src_node_counters[0],
        ),
        (
            "pf_src_node_inserts_total",
            "Source tracking table: inserts.",
            st.src_node_counters[1],
        ),
        (
            "pf_src_node_removals_total",
            "Source tracking table: removals.",
            st.src_node_counters[2],
        ),
        (
            "pf_fragment_searches_total",
            "Fragments: searches.",
            st.frag_counters[0],
        ),
        (
            "pf_fragment_inserts_total",
            "Fragments: inserts.",
            st.frag_counters[1],
        ),
        (
            "pf_fragment_removals_total",
            "Fragments: removals.",
            st.frag_counters[2],
        ),
    ];
    for (name, help, v) in table {
        e.single(name, Counter, help, v);
    }
    e.single(
        "pf_src_nodes",
        Gauge,
        "Source tracking table: current entries.",
        st.src_nodes,
    );
    e.single(
        "pf_fragments",
        Gauge,
        "Fragments held for reassembly.",
        st.fragments,
    );
    e.family(
        "pf_counter_total",
        Counter,
        "Counters of pfctl -s info, by reason.",
        |f| {
            for (name, v) in REASON_NAMES.iter().zip(st.counters) {
                f.sample(&[("reason", name)], v);
            }
        },
    );
    e.family(
        "pf_limit_counter_total",
        Counter,
        "Limit counters of pfctl -vs info.",
        |f| {
            for (name, v) in LIMIT_COUNTER_NAMES.iter().zip(st.limit_counters) {
                f.sample(&[("limit", name)], v);
            }
        },
    );
    loginterface(e, st);
}

/// The loginterface's bytes and packets (`pfctl -s info` with a
/// loginterface set).
fn loginterface(e: &mut Exposition, st: &Status) {
    use Kind::Counter;
    e.family(
        "pf_loginterface_bytes_total",
        Counter,
        "Bytes on the loginterface.",
        |f| {
            let Some(ifname) = &st.loginterface else {
                return;
            };
            for (a, af) in ["inet", "inet6"].iter().enumerate() {
                for (d, dir) in ["in", "out"].iter().enumerate() {
                    f.sample(
                        &[("interface", ifname), ("af", af), ("dir", dir)],
                        st.if_bytes[a][d],
                    );
                }
            }
        },
    );
    e.family(
        "pf_loginterface_packets_total",
        Counter,
        "Packets on the loginterface.",
        |f| {
            let Some(ifname) = &st.loginterface else {
                return;
            };
            for (a, af) in ["inet", "inet6"].iter().enumerate() {
                for (d, dir) in ["in", "out"].iter().enumerate() {
                    for (x, action) in ["pass", "block"].iter().enumerate() {
                        let l = [
                            ("interface", ifname.as_str()),
                            ("af", af),
                            ("dir", dir),
                            ("action", action),
                        ];
                        f.sample(&l, st.if_packets[a][d][x]);
                    }
                }
            }
        },
    );
}

/// `pfctl -vs info`'s Packet Queue and Fast Path blocks (samples only
/// where pfd has them).
fn fast_path(e: &mut Exposition, st: &Status) {
    use Kind::{Counter, Gauge};
    let q = st.queue;
    e.family(
        "pf_queue_packets",
        Gauge,
        "Packet queue: packets waiting.",
        |f| {
            if let Some((n, _, _)) = q {
                f.sample(&[], n)
            }
        },
    );
    e.family("pf_queue_length", Gauge, "Packet queue: its length.", |f| {
        if let Some((_, n, _)) = q {
            f.sample(&[], n)
        }
    });
    e.family(
        "pf_queue_fail_open",
        Gauge,
        "Packet queue: 1 when it fails open.",
        |f| {
            if let Some((_, _, o)) = q {
                f.sample(&[], o)
            }
        },
    );
    let t = st.threads;
    e.family("pf_queues", Gauge, "Packet queues (and threads).", |f| {
        if let Some(t) = t {
            f.sample(&[], t.queues)
        }
    });
    e.family(
        "pf_engine_waits_total",
        Counter,
        "Times a thread of pfd found the state table taken and waited.",
        |f| {
            if let Some(t) = t {
                f.sample(&[], t.engine_waits)
            }
        },
    );
    e.family(
        "pf_engine_wait_seconds_total",
        Counter,
        "Time pfd's threads waited for the state table.",
        |f| {
            if let Some(t) = t {
                f.sample(&[], t.engine_wait_us as f64 / 1e6)
            }
        },
    );
    let fp = st.fastpath;
    let fields: [FastPathField; 11] = [
        (
            "pf_fastpath_forwarding",
            Gauge,
            "Fast path: 1 while it forwards offloaded flows itself, 0 while the IP stack does.",
            |p| p.forwarding as u64,
        ),
        (
            "pf_fastpath_flows",
            Gauge,
            "Fast path: flows offloaded.",
            |p| p.flows,
        ),
        (
            "pf_fastpath_entries",
            Gauge,
            "Fast path: map entries.",
            |p| p.entries,
        ),
        (
            "pf_fastpath_queued_total",
            Counter,
            "Fast path: packets the queues gave pfd.",
            |p| p.queued,
        ),
        (
            "pf_fastpath_passed_total",
            Counter,
            "Fast path: packets the kernel passed alone.",
            |p| p.passed,
        ),
        (
            "pf_fastpath_bytes_total",
            Counter,
            "Fast path: bytes the kernel passed alone.",
            |p| p.bytes,
        ),
        (
            "pf_fastpath_forwarded_total",
            Counter,
            "Fast path: packets it forwarded itself at TC ingress.",
            |p| p.forwarded,
        ),
        (
            "pf_fastpath_stack_total",
            Counter,
            "Fast path: packets it passed to the IP stack's forwarding.",
            |p| p.to_stack,
        ),
        (
            "pf_fastpath_egress_total",
            Counter,
            "Fast path: packets rewritten at egress.",
            |p| p.egress,
        ),
        (
            "pf_fastpath_window_total",
            Counter,
            "Fast path: packets left to pfd, outside the window.",
            |p| p.window,
        ),
        (
            "pf_fastpath_flags_total",
            Counter,
            "Fast path: packets left to pfd, with SYN, FIN or RST.",
            |p| p.flags,
        ),
    ];
    for (name, kind, help, get) in fields {
        e.family(name, kind, help, |f| {
            if let Some(p) = &fp {
                f.sample(&[], get(p))
            }
        });
    }
}

/// Per-rule counters, labelled by anchor, number, label and text.
fn rules(e: &mut Exposition, rules: &[RuleSample]) {
    use Kind::{Counter, Gauge};
    let each = |e: &mut Exposition,
                name,
                kind,
                help: &str,
                get: &dyn Fn(&RuleCounters, usize) -> u64,
                dirs: bool| {
        e.family(name, kind, help, |f| {
            for r in rules {
                let nr = r.nr.to_string();
                let l = [
                    ("anchor", r.anchor.as_str()),
                    ("nr", &nr),
                    ("label", &r.label),
                    ("rule", &r.text),
                ];
                if dirs {
                    for (d, dir) in ["in", "out"].iter().enumerate() {
                        let mut ld = l.to_vec();
                        ld.push(("dir", dir));
                        f.sample(&ld, get(&r.counters, d));
                    }
                } else {
                    f.sample(&l, get(&r.counters, 0));
                }
            }
        })
    };
    each(
        e,
        "pf_rule_evaluations_total",
        Counter,
        "Times the rule was evaluated.",
        &|c, _| c.evaluations,
        false,
    );
    each(
        e,
        "pf_rule_packets_total",
        Counter,
        "Packets the rule matched, by direction.",
        &|c, d| c.packets[d],
        true,
    );
    each(
        e,
        "pf_rule_bytes_total",
        Counter,
        "Bytes the rule matched, by direction.",
        &|c, d| c.bytes[d],
        true,
    );
    each(
        e,
        "pf_rule_states",
        Gauge,
        "States the rule holds now.",
        &|c, _| c.states_cur.into(),
        false,
    );
    each(
        e,
        "pf_rule_states_created_total",
        Counter,
        "States the rule created.",
        &|c, _| c.states_tot.into(),
        false,
    );
}

/// Per-vhid CARP state, transitions, demotion; CARP statistics.
fn carp(e: &mut Exposition, s: &Snapshot) {
    use Kind::{Counter, Gauge};
    let id = |c: &CarpStatus| (c.name.clone(), c.config.vhid.to_string());
    e.family(
        "pf_carp_state",
        Gauge,
        "1 for the state each carp interface is in (INIT, BACKUP, MASTER).",
        |f| {
            for c in &s.carp {
                let (n, v) = id(c);
                for st in CARP_STATES {
                    f.sample(
                        &[("interface", &n), ("vhid", &v), ("state", st.name())],
                        c.state == st,
                    );
                }
            }
        },
    );
    e.family(
        "pf_carp_transitions_total",
        Counter,
        "State transitions of each carp interface.",
        |f| {
            for c in &s.carp {
                let (n, v) = id(c);
                f.sample(&[("interface", &n), ("vhid", &v)], c.transitions);
            }
        },
    );
    e.family(
        "pf_carp_demote",
        Gauge,
        "Demotion each carp interface advertises.",
        |f| {
            for c in &s.carp {
                let (n, v) = id(c);
                f.sample(&[("interface", &n), ("vhid", &v)], u64::from(c.demote));
            }
        },
    );
    e.family(
        "pf_carp_advskew",
        Gauge,
        "advskew of each carp interface.",
        |f| {
            for c in &s.carp {
                let (n, v) = id(c);
                f.sample(
                    &[("interface", &n), ("vhid", &v)],
                    u64::from(c.config.advskew),
                );
            }
        },
    );
    e.family(
        "pf_carp_group_demote",
        Gauge,
        "carp demotion counter of each interface group.",
        |f| {
            for (g, n) in &s.demote {
                f.sample(&[("group", g)], *n);
            }
        },
    );
    let c = &s.carp_stats;
    let fields = [
        ("ipackets", c.ipackets),
        ("ipackets6", c.ipackets6),
        ("badif", c.badif),
        ("badttl", c.badttl),
        ("hdrops", c.hdrops),
        ("badsum", c.badsum),
        ("badver", c.badver),
        ("badlen", c.badlen),
        ("badauth", c.badauth),
        ("badvhid", c.badvhid),
        ("badaddrs", c.badaddrs),
        ("opackets", c.opackets),
        ("opackets6", c.opackets6),
        ("onomem", c.onomem),
        ("preempt", c.preempt),
        ("replay", c.replay),
        ("rewritten", c.rewritten),
        ("ties", c.ties),
        ("lsdrop", c.lsdrop),
    ];
    e.family(
        "pf_carp_stats_total",
        Counter,
        "CARP statistics (carpctl -s), by OpenBSD's carpstats field.",
        |f| {
            for (k, v) in fields {
                f.sample(&[("counter", k)], v);
            }
        },
    );
}

/// pfsync counters, bulk update, the peer's last word, health.
fn pfsync(e: &mut Exposition, s: &Snapshot) {
    use Kind::{Counter, Gauge};
    let v = &s.pfsync;
    let r = v.report;
    e.single(
        "pf_pfsync_up",
        Gauge,
        "1 when pfsync0 is up with a syncdev.",
        v.configured,
    );
    e.single(
        "pf_pfsyncd_attached",
        Gauge,
        "1 when a pfsyncd is attached to pfd.",
        v.attached,
    );
    e.family(
        "pf_pfsync_stats_total",
        Counter,
        "pfsync statistics (carpctl -s pfsync0), by OpenBSD's pfsyncstats field.",
        |f| {
            if let Some(r) = &r {
                for (k, n) in r.stats.fields() {
                    f.sample(&[("counter", k)], n);
                }
            }
        },
    );
    pfsync_repair(e, r.as_ref());
    e.family(
        "pf_pfsync_bulk_phase",
        Gauge,
        "1 for the phase the bulk update this host asked for is in.",
        |f| {
            if let Some(r) = &r {
                for p in BulkPhase::ALL {
                    f.sample(&[("phase", p.name())], r.bulk == p);
                }
            }
        },
    );
    let opt =
        |e: &mut Exposition,
         name,
         kind,
         help: &str,
         get: &dyn Fn(&crate::pfsync::stats::PfsyncReport) -> Option<text::Value>| {
            e.family(name, kind, help, |f| {
                if let Some(x) = r.as_ref().and_then(get) {
                    f.sample(&[], x)
                }
            })
        };
    let secs = |ms: u64| text::Value::Float(ms as f64 / 1000.0);
    opt(
        e,
        "pf_pfsync_bulk_phase_seconds",
        Gauge,
        "Seconds in the current bulk phase.",
        &|r| Some(secs(r.bulk_phase_ms)),
    );
    opt(
        e,
        "pf_pfsync_bulk_sending",
        Gauge,
        "1 while a bulk update is being sent to the peer.",
        &|r| Some(r.bulk_sending.into()),
    );
    opt(
        e,
        "pf_pfsync_bulks_received_total",
        Counter,
        "Bulk updates received whole.",
        &|r| Some(r.bulks_received.into()),
    );
    opt(
        e,
        "pf_pfsync_bulks_failed_total",
        Counter,
        "Bulk updates given up on.",
        &|r| Some(r.bulks_failed.into()),
    );
    opt(
        e,
        "pf_pfsync_bulks_sent_total",
        Counter,
        "Bulk updates sent to the peer.",
        &|r| Some(r.bulks_sent.into()),
    );
    let now = s.now_unix;
    opt(
        e,
        "pf_pfsync_peer_last_heard_timestamp_seconds",
        Gauge,
        "When the sync peer was last heard (seconds since the epoch).",
        &|r| {
            r.last_heard_ms
                .map(|ms| text::Value::Float(now - ms as f64 / 1000.0))
        },
    );
    opt(
        e,
        "pf_pfsync_peer_silence_seconds",
        Gauge,
        "Seconds since the sync peer was last heard (since the link came up if never).",
        &|r| (r.up_ms > 0).then(|| secs(r.last_heard_ms.unwrap_or(r.up_ms))),
    );
    let problems = health::check(v, &s.thresholds);
    e.single(
        "pf_pfsync_healthy",
        Gauge,
        "1 when the health check (pfmetrics -c) passes.",
        problems.is_empty(),
    );
}

/// pfsync's repair of lost frames, the insert lag and `defer`.
fn pfsync_repair(e: &mut Exposition, r: Option<&crate::pfsync::stats::PfsyncReport>) {
    use Kind::{Counter, Gauge};
    e.family(
        "pf_pfsync_repair_total",
        Counter,
        "Repair of lost pfsync frames (carpctl -s pfsync0): frames resent, NACKs and GONE, gaps, frames asked for, repaired, lost, duplicates, frames with new states.",
        |f| {
            if let Some(r) = r {
                for (k, n) in r.repair.fields() {
                    f.sample(&[("counter", k)], n);
                }
            }
        },
    );
    e.family(
        "pf_pfsync_insert_lag_seconds",
        Gauge,
        "Time from a new state's creation on the peer to its insert here: median, 99th percentile, highest (quantile 1).",
        |f| {
            if let Some(x) = r.map(|r| r.repair).filter(|x| x.lag_frames > 0) {
                for (q, ms) in [("0.5", x.lag_p50_ms), ("0.99", x.lag_p99_ms), ("1", x.lag_max_ms)] {
                    f.sample(&[("quantile", q)], text::Value::Float(ms as f64 / 1000.0));
                }
            }
        },
    );
    e.family(
        "pf_pfsync_defer_total",
        Counter,
        "pfsync defer: packets held for the peer's ack, let go on the ack, on timeout, over the limit.",
        |f| {
            if let Some(r) = r {
                for (k, n) in r.defer.fields() {
                    f.sample(&[("counter", k)], n);
                }
            }
        },
    );
}

#[cfg(test)]
mod tests;

//! The exposition of a full snapshot: every family present with HELP and
//! TYPE, samples well formed, labels escaped.

use super::*;
use crate::carp::CarpConfig;
use crate::pfsync::defer::DeferStats;
use crate::pfsync::stats::{PfsyncReport, PfsyncStats, RepairReport};

fn carp(name: &str, vhid: u8, state: CarpState, transitions: u64) -> CarpStatus {
    CarpStatus {
        name: name.into(),
        config: CarpConfig {
            vhid,
            advskew: 100,
            ..Default::default()
        },
        state,
        ifindex: 7,
        lladdr: [0, 0, 0x5e, 0, 1, vhid],
        demote: 32,
        mtu: 1500,
        key_set: false,
        peer: None,
        transitions,
        nodes: Vec::new(),
    }
}

fn snapshot() -> Snapshot {
    let mut status = Status {
        running: true,
        uptime_secs: 42,
        states: 3,
        inserts: 10,
        removals: 7,
        searches: 99,
        hostid: 0xdeadbeef,
        checksum: "0123456789abcdef0123456789abcdef".into(),
        debug: "err".into(),
        loginterface: Some("eth0".into()),
        queue: Some((1, 1024, false)),
        ..Default::default()
    };
    status.counters[0] = 55;
    status.limit_counters[9] = 4;
    status.if_packets[1][0][1] = 6;
    status.fastpath = Some(crate::engine::status::FastPathStatus {
        flows: 2,
        passed: 1000,
        ..Default::default()
    });
    status.threads = Some(crate::engine::status::ThreadStatus {
        queues: 2,
        engine_waits: 9,
        engine_wait_us: 2500,
    });
    Snapshot {
        status,
        rules: vec![
            RuleSample {
                anchor: String::new(),
                nr: 0,
                label: String::new(),
                text: "block drop all".into(),
                counters: RuleCounters {
                    evaluations: 9,
                    packets: [5, 4],
                    bytes: [500, 400],
                    states_cur: 0,
                    states_tot: 0,
                },
            },
            RuleSample {
                anchor: "ftp/\"x\"".into(),
                nr: 3,
                label: "web \"in\"\\n".into(),
                text: "pass in proto tcp to port 80 label \"web \\\"in\\\"\"".into(),
                counters: RuleCounters {
                    evaluations: 2,
                    packets: [8, 7],
                    bytes: [80, 70],
                    states_cur: 1,
                    states_tot: 2,
                },
            },
        ],
        carp: vec![
            carp("carp1", 1, CarpState::Master, 3),
            carp("carp2", 2, CarpState::Backup, 1),
        ],
        carp_stats: CarpStats {
            preempt: 2,
            ..Default::default()
        },
        demote: vec![("carp".into(), 32)],
        pfsync: SyncView {
            configured: true,
            attached: true,
            report: Some(PfsyncReport {
                stats: PfsyncStats {
                    ipackets: 12,
                    opackets: 13,
                    ..Default::default()
                },
                last_heard_ms: Some(1500),
                bulk: BulkPhase::Done,
                bulk_phase_ms: 20_000,
                bulks_received: 1,
                up_ms: 30_000,
                repair: RepairReport {
                    resent: 7,
                    nacks_in: 3,
                    repaired: 5,
                    lag_frames: 40,
                    lag_p50_ms: 2,
                    lag_p99_ms: 9,
                    lag_max_ms: 1250,
                    ..Default::default()
                },
                defer: DeferStats {
                    deferred: 10,
                    acked: 8,
                    timeout: 2,
                    overlimit: 0,
                },
                ..Default::default()
            }),
        },
        thresholds: Thresholds::default(),
        now_unix: 1_000_000.0,
    }
}

/// Every family, as (name, type).
const FAMILIES: &[(&str, &str)] = &[
    ("pf_metrics_ok", "gauge"),
    ("pf_enabled", "gauge"),
    ("pf_uptime_seconds", "gauge"),
    ("pf_info", "gauge"),
    ("pf_states", "gauge"),
    ("pf_states_half_open_tcp", "gauge"),
    ("pf_state_searches_total", "counter"),
    ("pf_state_inserts_total", "counter"),
    ("pf_state_removals_total", "counter"),
    ("pf_src_node_searches_total", "counter"),
    ("pf_src_node_inserts_total", "counter"),
    ("pf_src_node_removals_total", "counter"),
    ("pf_fragment_searches_total", "counter"),
    ("pf_fragment_inserts_total", "counter"),
    ("pf_fragment_removals_total", "counter"),
    ("pf_src_nodes", "gauge"),
    ("pf_fragments", "gauge"),
    ("pf_counter_total", "counter"),
    ("pf_limit_counter_total", "counter"),
    ("pf_loginterface_bytes_total", "counter"),
    ("pf_loginterface_packets_total", "counter"),
    ("pf_queue_packets", "gauge"),
    ("pf_queue_length", "gauge"),
    ("pf_queue_fail_open", "gauge"),
    ("pf_queues", "gauge"),
    ("pf_engine_waits_total", "counter"),
    ("pf_engine_wait_seconds_total", "counter"),
    ("pf_fastpath_forwarding", "gauge"),
    ("pf_fastpath_flows", "gauge"),
    ("pf_fastpath_entries", "gauge"),
    ("pf_fastpath_queued_total", "counter"),
    ("pf_fastpath_passed_total", "counter"),
    ("pf_fastpath_bytes_total", "counter"),
    ("pf_fastpath_forwarded_total", "counter"),
    ("pf_fastpath_stack_total", "counter"),
    ("pf_fastpath_egress_total", "counter"),
    ("pf_fastpath_window_total", "counter"),
    ("pf_fastpath_flags_total", "counter"),
    ("pf_rule_evaluations_total", "counter"),
    ("pf_rule_packets_total", "counter"),
    ("pf_rule_bytes_total", "counter"),
    ("pf_rule_states", "gauge"),
    ("pf_rule_states_created_total", "counter"),
    ("pf_carp_state", "gauge"),
    ("pf_carp_transitions_total", "counter"),
    ("pf_carp_demote", "gauge"),
    ("pf_carp_advskew", "gauge"),
    ("pf_carp_group_demote", "gauge"),
    ("pf_carp_stats_total", "counter"),
    ("pf_pfsync_up", "gauge"),
    ("pf_pfsyncd_attached", "gauge"),
    ("pf_pfsync_stats_total", "counter"),
    ("pf_pfsync_repair_total", "counter"),
    ("pf_pfsync_insert_lag_seconds", "gauge"),
    ("pf_pfsync_defer_total", "counter"),
    ("pf_pfsync_bulk_phase", "gauge"),
    ("pf_pfsync_bulk_phase_seconds", "gauge"),
    ("pf_pfsync_bulk_sending", "gauge"),
    ("pf_pfsync_bulks_received_total", "counter"),
    ("pf_pfsync_bulks_failed_total", "counter"),
    ("pf_pfsync_bulks_sent_total", "counter"),
    ("pf_pfsync_peer_last_heard_timestamp_seconds", "gauge"),
    ("pf_pfsync_peer_silence_seconds", "gauge"),
    ("pf_pfsync_healthy", "gauge"),
];

/// The name of a sample line, checked for shape on the way: name, an
/// optional `{k="v",...}` with escapes only where they belong, a space, a
/// number.
fn sample_name(line: &str) -> &str {
    let name_end = line.find(['{', ' ']).expect("a name");
    let name = &line[..name_end];
    assert!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{line}"
    );
    let mut rest = &line[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices();
        let mut in_value = false;
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match (in_value, c) {
                (true, '\\') => {
                    let (_, n) = chars.next().expect("escape completed");
                    assert!(matches!(n, '\\' | '"' | 'n'), "{line}");
                }
                (true, '"') => in_value = false,
                (true, '\n') => panic!("raw newline in {line}"),
                (false, '"') => in_value = true,
                (false, '}') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        rest = &r[end.expect("closing brace") + 1..];
    }
    let v = rest.strip_prefix(' ').expect("space before the value");
    assert!(
        v.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&v),
        "{line}"
    );
    name
}

#[test]
fn every_family_has_help_type_and_well_formed_samples() {
    let text = render(&snapshot());
    let mut declared: Vec<(String, String)> = vec![];
    let mut current = String::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("# HELP ") {
            let name = h.split(' ').next().unwrap_or_default();
            assert!(declared.iter().all(|(n, _)| n != name), "{name} twice");
            current = name.to_string();
        } else if let Some(t) = line.strip_prefix("# TYPE ") {
            let (name, kind) = t.split_once(' ').expect("name and type");
            assert_eq!(name, current, "TYPE follows its HELP");
            declared.push((name.into(), kind.into()));
        } else {
            assert_eq!(
                sample_name(line),
                current,
                "sample inside its family: {line}"
            );
        }
    }
    let want: Vec<(String, String)> = FAMILIES
        .iter()
        .map(|(n, k)| (n.to_string(), k.to_string()))
        .collect();
    assert_eq!(declared, want);
}

#[test]
fn values_and_labels() {
    let text = render(&snapshot());
    let has = |l: &str| assert!(text.lines().any(|x| x == l), "missing {l:?} in\n{text}");
    has("pf_enabled 1");
    has("pf_states 3");
    has("pf_info{hostid=\"0xdeadbeef\",checksum=\"0123456789abcdef0123456789abcdef\",debug=\"err\"} 1");
    has("pf_counter_total{reason=\"match\"} 55");
    has("pf_limit_counter_total{limit=\"syncookies validated\"} 4");
    has("pf_loginterface_packets_total{interface=\"eth0\",af=\"inet6\",dir=\"in\",action=\"block\"} 6");
    has("pf_queue_length 1024");
    has("pf_queues 2");
    has("pf_engine_waits_total 9");
    has("pf_engine_wait_seconds_total 0.0025");
    has("pf_fastpath_passed_total 1000");
    has("pf_rule_packets_total{anchor=\"\",nr=\"0\",label=\"\",rule=\"block drop all\",dir=\"out\"} 4");
    has(r#"pf_rule_evaluations_total{anchor="ftp/\"x\"",nr="3",label="web \"in\"\\n",rule="pass in proto tcp to port 80 label \"web \\\"in\\\"\"",dir="in"} 2"#.replace(",dir=\"in\"", "").as_str());
    has(
        r#"pf_rule_states_created_total{anchor="ftp/\"x\"",nr="3",label="web \"in\"\\n",rule="pass in proto tcp to port 80 label \"web \\\"in\\\"\""} 2"#,
    );
    has("pf_carp_state{interface=\"carp1\",vhid=\"1\",state=\"MASTER\"} 1");
    has("pf_carp_state{interface=\"carp1\",vhid=\"1\",state=\"BACKUP\"} 0");
    has("pf_carp_state{interface=\"carp2\",vhid=\"2\",state=\"BACKUP\"} 1");
    has("pf_carp_transitions_total{interface=\"carp1\",vhid=\"1\"} 3");
    has("pf_carp_demote{interface=\"carp2\",vhid=\"2\"} 32");
    has("pf_carp_group_demote{group=\"carp\"} 32");
    has("pf_carp_stats_total{counter=\"preempt\"} 2");
    has("pf_pfsync_stats_total{counter=\"ipackets\"} 12");
    has("pf_pfsync_stats_total{counter=\"opackets\"} 13");
    has("pf_pfsync_bulk_phase{phase=\"done\"} 1");
    has("pf_pfsync_bulk_phase{phase=\"receiving\"} 0");
    has("pf_pfsync_bulk_phase_seconds 20");
    has("pf_pfsync_bulks_received_total 1");
    has("pf_pfsync_peer_last_heard_timestamp_seconds 999998.5");
    has("pf_pfsync_peer_silence_seconds 1.5");
    has("pf_pfsync_healthy 1");
    has("pf_pfsync_repair_total{counter=\"resent\"} 7");
    has("pf_pfsync_repair_total{counter=\"nacks_in\"} 3");
    has("pf_pfsync_repair_total{counter=\"repaired\"} 5");
    has("pf_pfsync_repair_total{counter=\"lost\"} 0");
    has("pf_pfsync_repair_total{counter=\"lag_frames\"} 40");
    has("pf_pfsync_insert_lag_seconds{quantile=\"0.5\"} 0.002");
    has("pf_pfsync_insert_lag_seconds{quantile=\"0.99\"} 0.009");
    has("pf_pfsync_insert_lag_seconds{quantile=\"1\"} 1.25");
    has("pf_pfsync_defer_total{counter=\"deferred\"} 10");
    has("pf_pfsync_defer_total{counter=\"acked\"} 8");
    has("pf_pfsync_defer_total{counter=\"timeout\"} 2");
    has("pf_pfsync_defer_total{counter=\"overlimit\"} 0");
}

#[test]
fn unavailable_is_one_family() {
    assert_eq!(
        render_unavailable(),
        format!("# HELP pf_metrics_ok {OK_HELP}\n# TYPE pf_metrics_ok gauge\npf_metrics_ok 0\n")
    );
    assert!(render(&snapshot()).contains("\npf_metrics_ok 1\n"));
}

#[test]
fn absent_parts_leave_families_empty_and_health_follows() {
    let mut s = snapshot();
    s.status.loginterface = None;
    s.status.queue = None;
    s.status.fastpath = None;
    s.status.threads = None;
    s.pfsync.report = None;
    let text = render(&s);
    for gone in [
        "pf_loginterface_bytes_total{",
        "pf_queue_length ",
        "pf_fastpath_flows ",
        "pf_engine_waits_total ",
        "pf_pfsync_stats_total{",
        "pf_pfsync_repair_total{",
        "pf_pfsync_insert_lag_seconds{",
        "pf_pfsync_defer_total{",
        "pf_pfsync_peer_silence_seconds ",
    ] {
        assert!(!text.lines().any(|l| l.starts_with(gone)), "{gone}");
    }
    assert!(text.contains("# TYPE pf_fastpath_flows gauge\n"));
    assert!(text.lines().any(|l| l == "pf_pfsync_healthy 0"));
}

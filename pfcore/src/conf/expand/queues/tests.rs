//! The queue step end to end: `queue` statements through the parser, the
//! expander and the printer, against what pfctl prints.

use super::*;
use crate::conf::{parse, print_ruleset_nv, StaticResolver};

fn resolver() -> StaticResolver {
    StaticResolver::new()
        .iface("em0", &["192.0.2.1/24"])
        .iface("em1", &[])
        .iface("vio0", &[])
}

/// `pfctl -nv` output of `src`, or its diagnostics one per line.
fn nv(src: &str) -> String {
    let r = resolver();
    match parse(src, "stdin", &r) {
        Ok(rs) => print_ruleset_nv(&rs, &r),
        Err(e) => e.iter().map(|e| e.to_string() + "\n").collect(),
    }
}

#[test]
fn flow_queues() {
    assert_eq!(
        nv("queue fq on em1 flows 1024\n"),
        "queue fq on em1 flows 1024\n"
    );
    assert_eq!(
        nv("queue fq on em1 qlimit 300 quantum 1514 flows 2048\n"),
        "queue fq on em1 flows 2048 quantum 1514 qlimit 300\n"
    );
    // qlimit 0 is accepted and not printed.
    assert_eq!(
        nv("queue fq on em1 flows 8 qlimit 0\n"),
        "queue fq on em1 flows 8\n"
    );
}

#[test]
fn hfsc_tree_prints_depth_first_after_set_lines() {
    let src = "queue main on em0 bandwidth 100M\n\
               queue web parent main bandwidth 60M\n\
               queue ssh parent main bandwidth 10M, min 5M qlimit 50\n\
               set block-policy return\n\
               queue std parent web bandwidth 20M default\n\
               queue bulk parent web flows 512 bandwidth 30M\n\
               pass\n";
    assert_eq!(
        nv(src),
        "set block-policy return\n\
         queue main on em0 bandwidth 100M\n\
         queue web parent main bandwidth 60M\n\
         queue std parent web bandwidth 20M default\n\
         queue bulk parent web flows 512 bandwidth 30M\n\
         queue ssh parent main bandwidth 10M, min 5M qlimit 50\n\
         pass all flags S/SA\n"
    );
}

#[test]
fn children_take_the_root_interface() {
    let rs = parse(
        "queue r on em0 bandwidth 1G\nqueue d parent r bandwidth 1M default\n",
        "t",
        &resolver(),
    )
    .unwrap_or_default();
    let qs: Vec<&QueueSpec> = rs
        .directives
        .iter()
        .filter_map(|d| match d {
            Directive::Queue(q) => Some(q),
            _ => None,
        })
        .collect();
    assert_eq!(qs.len(), 2);
    assert_eq!(qs[1].ifname, "em0");
    assert!(qs[0].root_class && !qs[1].root_class && qs[1].default);
    assert_eq!(qs[1].linkshare.m2.absolute, 1_000_000);
}

#[test]
fn bandwidth_units_and_curves() {
    let one = |bw: &str| {
        nv(&format!("queue r on em0 bandwidth {bw} default\n"))
            .trim_end_matches('\n')
            .trim_start_matches("queue r on em0")
            .to_string()
    };
    assert_eq!(one("2000000000"), " bandwidth 2G default");
    assert_eq!(one("1500K"), " bandwidth 1500K default");
    assert_eq!(one("1.5M"), " bandwidth 1500K default");
    assert_eq!(one("1Mbit"), " bandwidth 1M default");
    assert_eq!(one("3Kb"), " bandwidth 3K default");
    assert_eq!(one("64000b"), " bandwidth 64K default");
    assert_eq!(one("10G"), " bandwidth 10G default");
    assert_eq!(one("0x10K"), " bandwidth 16K default");
    // No unit: pfctl's unit table prints a blank.
    assert_eq!(one("1500"), " bandwidth 1500  default");
    // Bandwidth 0 is no bandwidth to print.
    assert_eq!(one("0"), " default");
    assert_eq!(
        one("10M burst 20M for 100ms, min 1M burst 2M for 10ms, max 15M"),
        " bandwidth 10M burst 20M for 100ms, min 1M burst 2M for 10ms, max 15M default"
    );
    assert_eq!(
        one("10M max 12M min 2M"),
        " bandwidth 10M, min 2M, max 12M default"
    );
}

#[test]
fn errors_during_parsing() {
    let e = |src: &str| nv(src);
    assert_eq!(
        e("queue r on em1 qlimit 100\n"),
        "stdin:1: no bandwidth or flow specification\n"
    );
    assert_eq!(
        e("\nqueue r flows 10\n"),
        "stdin:2: root queue without interface\n"
    );
    assert_eq!(
        e("queue r on em9 flows 10\n"),
        "stdin:1: not an interface\n"
    );
    assert_eq!(
        e("queue r on self flows 10\n"),
        "stdin:1: not an interface\n"
    );
    assert_eq!(
        e("queue r on any flows 10\n"),
        "stdin:1: not an interface\n"
    );
    assert_eq!(
        e("queue r on em1 flows 0\n"),
        "stdin:1: number of flows out of range: max 32767\n"
    );
    assert_eq!(
        e("queue r on em1 flows 32768\n"),
        "stdin:1: number of flows out of range: max 32767\n"
    );
    assert_eq!(
        e("queue r on em1 flows 1 quantum 0\n"),
        "stdin:1: quantum out of range: max 65535\n"
    );
    assert_eq!(
        e("queue r on em1 flows 1 qlimit 65536\n"),
        "stdin:1: qlimit out of range: max 65535\n"
    );
    assert_eq!(
        e("queue r on em1 flows 1 qlimit -1\n"),
        "stdin:1: qlimit out of range: max 65535\n"
    );
    assert_eq!(
        e("queue r on em1 flows 1 flows 2\n"),
        "stdin:1: number of flows cannot be respecified\n"
    );
    assert_eq!(
        e("queue r on em1 flows 1 qlimit 1 qlimit 2\n"),
        "stdin:1: qlimit cannot be respecified\n"
    );
    assert_eq!(
        e("queue r on em1 flows 1 quantum 1 quantum 2\n"),
        "stdin:1: quantum cannot be respecified\n"
    );
    assert_eq!(
        e("queue r on em1 flows 1 default default\n"),
        "stdin:1: default cannot be respecified\n"
    );
    assert_eq!(
        e("queue r parent a parent b flows 1\n"),
        "stdin:1: parent cannot be respecified\n"
    );
    assert_eq!(
        e("queue r on em1 bandwidth 1M bandwidth 2M\n"),
        "stdin:1: bandwidth cannot be respecified\n"
    );
    assert_eq!(
        e("queue r on em1 bandwidth 1X\n"),
        "stdin:1: unknown unit \"X\"\n"
    );
    assert_eq!(
        e("queue r on em1 bandwidth 1Xbit\n"),
        "stdin:1: unknown unit \"X\"\n"
    );
    assert_eq!(
        e("queue r on em1 bandwidth \"1.5\"\n"),
        "stdin:1: unknown unit \"\"\n"
    );
    assert_eq!(
        e("queue r on em1 bandwidth 50%\n"),
        "stdin:1: no bandwidth in % yet\n"
    );
    assert_eq!(
        e("queue r on em1 bandwidth 150%\n"),
        "stdin:1: bandwidth spec out of range\n"
    );
    assert_eq!(
        e("queue r on em1 bandwidth -5\n"),
        "stdin:1: bandwidth number too big\n"
    );
    assert_eq!(
        e("queue r on em1 bandwidth 1e30G\n"),
        "stdin:1: bandwidth number too big\n"
    );
    assert_eq!(
        e("queue r on em1 bandwidth 1M burst 2M for 10s\n"),
        "stdin:1: time in scspec must be in ms\n"
    );
    assert_eq!(
        e("queue r on em1 flows 1 qlimit 99999999999999999999\n"),
        "stdin:1: \"99999999999999999999\" invalid number: too large\nstdin:1: syntax error\n"
    );
    assert_eq!(
        e(&format!("queue {} on em1 flows 1\n", "q".repeat(64))),
        "stdin:1: queuename too long\n"
    );
    assert_eq!(
        e(&format!("queue q on {} flows 1\n", "e".repeat(16))),
        "stdin:1: interface name too long\n"
    );
    // The first error of a statement ends it; other statements go on.
    assert_eq!(
        e("queue r on em1 flows 0 qlimit 70000\nqueue s on em0 qlimit 1\n"),
        "stdin:1: number of flows out of range: max 32767\nstdin:2: no bandwidth or flow specification\n"
    );
}

#[test]
fn syntax_errors() {
    for src in [
        "queue r on em1\n",
        "queue 5 on em1 flows 1\n",
        "queue r parent p on em1 flows 1\n",
        "queue r on em1 flows 1M\n",
        "queue r on em1 bandwidth 1M, default\n",
        "queue r on em1 bandwidth 1M burst 2M for 10\n",
        "queue default on em1 flows 1\n",
    ] {
        assert_eq!(nv(src), "stdin:1: syntax error\n", "{src}");
    }
    // The queue keywords are no plain strings elsewhere either.
    assert_eq!(nv("pass on flows\n"), "stdin:1: syntax error\n");
    assert_eq!(
        nv("pass label \"flows\"\n"),
        "pass all flags S/SA label \"flows\"\n"
    );
}

#[test]
fn second_root_on_an_interface() {
    assert_eq!(
        nv("queue a on em1 flows 1\nqueue b on em1 flows 2\n"),
        "stdin:2: cannot add queue\nA root queue is already defined on em1\n"
    );
    // One queue per interface of a list; only the first must exist.
    assert_eq!(
        nv("queue a on { em1 em0 } flows 1\n"),
        "queue a on em1 flows 1\nqueue a on em0 flows 1\n"
    );
    assert_eq!(
        nv("queue a on { em1 em0 } flows 1\nqueue b on em0 flows 1\n"),
        "stdin:2: cannot add queue\nA root queue is already defined on em0\n"
    );
}

#[test]
fn tree_checks_after_parsing() {
    assert_eq!(
        nv("queue r on em0 bandwidth 1M\n"),
        "pfctl: no default queue specified\n"
    );
    assert_eq!(
        nv("queue r on em0 bandwidth 1M default\nqueue c parent r bandwidth 1K\n"),
        "pfctl: default queue r is not a leaf queue\n"
    );
    assert_eq!(
        nv("queue r on em0 bandwidth 1M\nqueue c parent r flows 5 bandwidth 1K\nqueue g parent c bandwidth 1K default\n"),
        "pfctl: flow queue c is not a leaf queue\n"
    );
    assert_eq!(
        nv("queue r on em0 flows 10\nqueue c parent r bandwidth 1K default\n"),
        "pfctl: flow queue r is not a leaf queue\n"
    );
    // Bandwidth 0 still makes an HFSC root (which is not printed).
    assert_eq!(
        nv("queue r on em0 qlimit 5 flows 1 \nqueue r2 on em1 bandwidth 0\nqueue c parent r2 bandwidth 1K default\n"),
        "queue r on em0 flows 1 qlimit 5\nqueue r2 on em1\nqueue c parent r2 bandwidth 1K default\n"
    );
    assert_eq!(
        nv("queue r on em1 bandwidth 0\n"),
        "pfctl: no default queue specified\n"
    );
    assert_eq!(
        nv("queue r on em0 bandwidth 1M\nqueue c parent x bandwidth 1K default\n"),
        "pfctl: no default queue specified\n"
    );
    assert_eq!(
        nv("queue r on em0 bandwidth 1M\nqueue d parent r bandwidth 1K default\nqueue c parent x bandwidth 1K\n"),
        "pfctl: queue c: parent x not found\n"
    );
    assert_eq!(
        nv("queue r on em0 bandwidth 1M\nqueue d parent r flows 10 default\n"),
        "pfctl: queue d: no bandwidth was specified\n"
    );
    assert_eq!(
        nv("queue r on em0 bandwidth 1M\nqueue d parent r bandwidth 1K default\nqueue d parent r bandwidth 2K\n"),
        "pfctl: queue d respecified\n"
    );
    // A child bound to the root's interface beats a floating one.
    assert_eq!(
        nv("queue r on em0 bandwidth 1M\nqueue d parent r bandwidth 1K\nqueue d on em0 parent r bandwidth 2K default\n"),
        "queue r on em0 bandwidth 1M\nqueue d parent r bandwidth 2K default\n"
    );
    // A floating child goes under every root of that name.
    assert_eq!(
        nv("queue r on em0 bandwidth 1M\nqueue r on em1 bandwidth 2M\nqueue d parent r bandwidth 1K default\n"),
        "queue r on em0 bandwidth 1M\nqueue d parent r bandwidth 1K default\n\
         queue r on em1 bandwidth 2M\nqueue d parent r bandwidth 1K default\n"
    );
    // A loop of parents under a root.
    assert_eq!(
        nv(
            "queue r on em0 bandwidth 1M\nqueue a parent r bandwidth 1K default\n\
            queue b parent a bandwidth 1K\nqueue a parent b bandwidth 1K\n"
        ),
        "pfctl: pfctl_find_childqs: excessive matches, loop?\n"
    );
    // No tree checks when parsing failed.
    assert_eq!(
        nv("queue r on em0 bandwidth 1M\npass bogus\n"),
        "stdin:2: syntax error\n"
    );
}

#[test]
fn queue_lookup_for_rules() {
    let r = resolver();
    let mut ex = Expander::new(&r);
    let src = "queue r on em0 bandwidth 1M\nqueue d parent r bandwidth 1K default\n";
    let mut sp = crate::conf::source::Splitter::new(src, "t");
    let macros = crate::conf::source::Macros::new();
    while let Some(Ok(st)) = sp.next_statement(&macros) {
        if let Ok(crate::conf::ast::Statement::Queue(q)) =
            crate::conf::parser::parse_statement(&st, "t")
        {
            ex.queue(&q, "t", st.end_line);
        }
    }
    assert!(ex.queue_defined("d"));
    // pfctl only finds queues with a parent.
    assert!(!ex.queue_defined("r"));
    assert!(!ex.queue_defined("x"));
}

#[test]
fn value_parsers() {
    assert_eq!(strtod("1.5M"), (1.5, "M"));
    assert_eq!(strtod("K"), (0.0, "K"));
    assert_eq!(strtod("1e3Kb"), (1000.0, "Kb"));
    assert_eq!(strtod("2e"), (2.0, "e"));
    assert_eq!(strtod("0x1p4"), (16.0, ""));
    assert_eq!(strtod("0xg"), (0.0, "xg"));
    assert_eq!(strtod("inf").0, f64::INFINITY);
    assert_eq!(burst_ms("250ms"), Ok(250));
    assert_eq!(burst_ms("ms"), Ok(0));
    assert!(burst_ms("250").is_err());
    assert_eq!(bandwidth(&BwAst::Str("K".into())), Ok(QueueBw::default()));
}

const TOKENS: &[&str] = &[
    "queue",
    "q",
    "r",
    "on",
    "em0",
    "em1",
    "{",
    "}",
    ",",
    "parent",
    "bandwidth",
    "1M",
    "0",
    "10G",
    "5%",
    "1e99K",
    "0x",
    "burst",
    "for",
    "10ms",
    "ms",
    "min",
    "max",
    "flows",
    "quantum",
    "qlimit",
    "default",
    "1",
    "-1",
    "65536",
    "99999999999999999999",
    "\"\"",
    "\n",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

    #[test]
    fn never_panics_on_queue_soup(idx in proptest::collection::vec(0..TOKENS.len(), 0..30)) {
        let src: Vec<&str> = idx.iter().map(|&i| TOKENS[i]).collect();
        let _ = nv(&format!("queue r on em0 bandwidth 1G\n{}\n", src.join(" ")));
    }
}

/// The OpenBSD regress cases about queues, read from the shared corpus
/// when it is there (never copied into the repository).
#[test]
fn corpus_queue_cases() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/openbsd-pfctl");
    if !dir.is_dir() {
        return;
    }
    let r = StaticResolver::new()
        .iface("lo0", &["127.0.0.1/8", "::1/128"])
        .iface("lo1000000", &[]);
    let run = |file: &str| -> Option<String> {
        let src = std::fs::read_to_string(dir.join(file)).ok()?;
        Some(match parse(&src, "stdin", &r) {
            Ok(rs) => print_ruleset_nv(&rs, &r),
            Err(e) => e.iter().map(|e| e.to_string() + "\n").collect(),
        })
    };
    let mut failed = vec![];
    // selfpf: the expected output read back prints itself.
    for n in [105, 106, 108, 109, 110, 111, 115] {
        let file = format!("pf{n}.ok");
        if let (Some(got), Ok(want)) = (run(&file), std::fs::read_to_string(dir.join(&file))) {
            if got != want {
                failed.push(format!("self{file}:\n{want}---\n{got}"));
            }
        }
    }
    // pf107 has no expected output: it must load.
    if let Some(got) = run("pf107.in") {
        if got.starts_with("stdin:") || got.starts_with("pfctl:") {
            failed.push(format!("pf107: {got}"));
        }
    }
    for n in [58, 61, 62] {
        let (Some(got), Ok(want)) = (
            run(&format!("pfail{n}.in")),
            std::fs::read_to_string(dir.join(format!("pfail{n}.ok"))),
        ) else {
            continue;
        };
        if got != want {
            failed.push(format!("pfail{n}:\n{want}---\n{got}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

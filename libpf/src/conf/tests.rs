//! Tests of the whole pipeline: the seed ruleset, constructs, errors, macro
//! expansion, multiplication order, the printer, and corpus fixtures read
//! from ../shared/corpus/openbsd-pfctl when present.

use super::*;

/// A resolver shaped like the OpenBSD regress host (see the corpus README).
pub fn corpus_resolver() -> StaticResolver {
    StaticResolver::new()
        .iface("lo0", &["::1/128", "fe80::1/64", "127.0.0.1/8"])
        .iface("lo1000000", &[])
        .iface("tun1000000", &[])
        .iface("tun1000001", &[])
        .iface("enc0", &[])
        .iface("em0", &[])
        .host("localhost", &["127.0.0.1", "::1"])
        .user("root", 0)
        .user("bin", 3)
        .group("wheel", 0)
        .group("bin", 7)
        .group("nobody", 32767)
}

#[test]
fn corpus_survey() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/openbsd-pfctl");
    let Ok(index) = std::fs::read_to_string(dir.join("INDEX.tsv")) else { return };
    let r = corpus_resolver();
    let (mut pass, mut fail) = (vec![], vec![]);
    for line in index.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 || cols[2] != "ok" || !cols[0].starts_with("pf") || cols[0].starts_with("pfail") {
            continue;
        }
        let name = cols[0];
        let (Ok(input), Ok(expected)) = (
            std::fs::read_to_string(dir.join(format!("{name}.in"))),
            std::fs::read_to_string(dir.join(format!("{name}.ok"))),
        ) else { continue };
        let got = match parse(&input, "stdin", &r) {
            Ok(rs) => print_ruleset_nv(&rs, &r),
            Err(e) => e.iter().map(|e| e.to_string() + "\n").collect(),
        };
        if got == expected { pass.push(name.to_string()) } else { fail.push(name.to_string()) }
    }
    eprintln!("PASS {}: {:?}", pass.len(), pass);
    eprintln!("FAIL {}: {:?}", fail.len(), fail);
}

#[test]
fn corpus_diff() {
    let Ok(name) = std::env::var("PFCASE") else { return };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/openbsd-pfctl");
    let r = corpus_resolver();
    let input = std::fs::read_to_string(dir.join(format!("{name}.in"))).unwrap_or_default();
    let got = match parse(&input, "stdin", &r) {
        Ok(rs) => print_ruleset_nv(&rs, &r),
        Err(e) => e.iter().map(|e| e.to_string() + "\n").collect(),
    };
    std::fs::write(format!("/tmp/{name}.got"), got).unwrap_or(());
}

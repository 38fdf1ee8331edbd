//! Every word of the pf.conf language is either enforced by pfd, shown by
//! a netns case with real packets, or refused (or warned about) when
//! `pfctl -f` loads it.
//!
//! The test walks the GRAMMAR section of man/pf.conf.5: each word in
//! quotes there (`"route-to"`, `"max-src-conn"`, `":network"`, ...) must be
//! named by a row of regress/options.tsv, which says how it is handled,
//! with a sample pf.conf and the evidence:
//!
//! - `enforced`: the sample loads without a refusal, and each piece of
//!   evidence `script.sh: description` names a `check "description…"` in
//!   regress/netns/script.sh (the netns suite runs those checks);
//! - `refused` / `warned`: `pfctl -f` refuses the sample (warns about it)
//!   with a message containing the evidence text.
//!
//! Files the samples name (`include`, `load anchor`, `table ... file`) are
//! read from a stand-in loader: a `.conf` file holds `pass`, any other
//! file one address.
//!
//! Every keyword of the parser's grammar (the `.pest` files under
//! pfcore/src/conf) must be in the man page's GRAMMAR too, so a word the
//! parser learns without the page, or the page without the table, fails
//! here: the parser, the manual, the table and pfd stay in step.

use libpf::conf::{parse_with_loader, StaticResolver};
use libpf::ruleset::support;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A word of the language, as opposed to punctuation and flag letters.
fn is_word(w: &str) -> bool {
    let body = w.strip_prefix(':').unwrap_or(w);
    body.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

/// The words in double quotes between a text's `open` and `close` lines.
fn quoted_words(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|w| is_word(w))
        .map(str::to_string)
        .collect()
}

/// The quoted words of pf.conf.5's GRAMMAR section.
fn grammar_words() -> BTreeSet<String> {
    let page = read("man/pf.conf.5");
    let start = page
        .find("\n.Sh GRAMMAR")
        .expect("pf.conf.5 has a GRAMMAR section");
    let rest = &page[start + 1..];
    let end = rest[1..].find("\n.Sh ").map_or(rest.len(), |i| i + 1);
    quoted_words(&rest[..end])
}

/// The keywords of the parser: every quoted word of the .pest files.
fn parser_words() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "pest") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                // Comments may quote anything.
                let code: String = text
                    .lines()
                    .map(|l| l.split("//").next().unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join("\n");
                out.extend(quoted_words(&code));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&root().join("pfcore/src/conf"), &mut out);
    out
}

#[derive(Debug)]
struct Row {
    line: usize,
    words: Vec<String>,
    status: String,
    sample: String,
    evidence: String,
}

fn rows() -> Vec<Row> {
    read("regress/options.tsv")
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(n, l)| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "options.tsv:{}: 4 tab-separated fields", n + 1);
            Row {
                line: n + 1,
                words: f[0].split('|').map(|w| w.trim().to_string()).collect(),
                status: f[1].to_string(),
                sample: f[2].replace("\\n", "\n"),
                evidence: f[3].to_string(),
            }
        })
        .collect()
}

fn resolver() -> StaticResolver {
    StaticResolver::new()
        .iface("eth0", &["192.0.2.10/24", "2001:db8::10/64"])
        .iface("eth1", &["192.168.99.1/24", "2001:db8:1::1/64"])
        .peer("eth0", "192.0.2.1")
        .user("nobody", 65534)
        .group("nogroup", 65534)
}

#[test]
fn the_parser_reads_no_word_the_manual_does_not_document() {
    let man = grammar_words();
    let missing: Vec<_> = parser_words().difference(&man).cloned().collect();
    assert!(
        missing.is_empty(),
        "keywords of the parser missing from pf.conf.5 GRAMMAR: {missing:?}"
    );
}

#[test]
fn every_word_of_the_grammar_is_enforced_or_refused() {
    let words = grammar_words();
    let rows = rows();
    assert!(
        words.len() > 150,
        "found only {} words in GRAMMAR",
        words.len()
    );
    let mut problems = Vec::new();
    for w in &words {
        if !rows.iter().any(|r| r.words.contains(w)) {
            problems.push(format!(
                "pf.conf.5 GRAMMAR: \"{w}\" has no row in regress/options.tsv"
            ));
        }
    }
    for r in &rows {
        for w in &r.words {
            if !words.contains(w) {
                problems.push(format!(
                    "options.tsv:{}: \"{w}\" is not a word of pf.conf.5 GRAMMAR",
                    r.line
                ));
            }
        }
    }
    let res = resolver();
    for r in &rows {
        let loader = |path: &str| -> std::io::Result<String> {
            Ok(if path.ends_with(".conf") {
                "pass\n"
            } else {
                "10.1.0.9\n"
            }
            .to_string())
        };
        let rs = match parse_with_loader(&r.sample, "pf.conf", &res, &loader) {
            Ok(rs) => rs,
            Err(e) => {
                let e: Vec<String> = e.iter().map(|e| e.to_string()).collect();
                problems.push(format!(
                    "options.tsv:{}: the sample does not load: {e:?}",
                    r.line
                ));
                continue;
            }
        };
        let s = support::check(&rs);
        let msgs = |v: &[support::Unsupported]| -> Vec<String> {
            v.iter().map(|u| u.message("pf.conf")).collect()
        };
        match r.status.as_str() {
            "enforced" => {
                if !s.ok() {
                    problems.push(format!(
                        "options.tsv:{}: marked enforced but refused: {:?}",
                        r.line,
                        msgs(&s.refused)
                    ));
                }
                for ev in r.evidence.split(" ; ") {
                    let Some((script, desc)) = ev.split_once(": ") else {
                        problems.push(format!(
                            "options.tsv:{}: evidence `{ev}` is not `script.sh: check description`",
                            r.line
                        ));
                        continue;
                    };
                    let text = read(&format!("regress/netns/{script}"));
                    if !text.contains(&format!("check \"{desc}")) {
                        problems.push(format!(
                            "options.tsv:{}: regress/netns/{script} has no check \"{desc}…\"",
                            r.line
                        ));
                    }
                }
            }
            "refused" | "warned" => {
                let list = if r.status == "refused" {
                    &s.refused
                } else {
                    &s.warnings
                };
                if !msgs(list).iter().any(|m| m.contains(&r.evidence)) {
                    problems.push(format!(
                        "options.tsv:{}: should be {} with `{}`, got refused {:?} warned {:?}",
                        r.line,
                        r.status,
                        r.evidence,
                        msgs(&s.refused),
                        msgs(&s.warnings)
                    ));
                }
            }
            other => problems.push(format!("options.tsv:{}: unknown status {other}", r.line)),
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

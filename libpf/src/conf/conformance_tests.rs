//! Conformance with OpenBSD's pfctl, case by case, derived from its sources
//! (`sbin/pfctl/parse.y` 1.719, `pfctl_parser.c` 1.352, `pfctl.c` 1.397,
//! `pf_print_state.c`): each check feeds a pf.conf text to the parser and
//! compares what `pfctl -o none -nv -f -` prints, stderr and stdout merged
//! as OpenBSD's regress `pfail` targets merge them (diagnostics first, then
//! what pfctl printed on its buffered stdout). The comment on each group
//! names the production or function that decides it.

use super::*;

/// The OpenBSD regress host (see the corpus README): lo0 with ::1, fe80::1
/// and 127.0.0.1/8, interfaces without addresses, the group `lo`.
fn resolver() -> StaticResolver {
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
}

/// `pfctl -o none -nv -f -` on `src`: the diagnostics and what pfctl
/// prints while parsing when there are errors, else the whole output.
fn nv(src: &str) -> String {
    let r = resolver();
    let no_files = |p: &str| -> std::io::Result<String> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{p}: not here"),
        ))
    };
    let (rs, errs) = parse_partial(src, "stdin", &r, &no_files);
    if errs.is_empty() {
        print_ruleset_nv(&rs, &r)
    } else {
        let mut s: String = errs.iter().map(|e| e.to_string() + "\n").collect();
        s.push_str(&print::print_directives(&rs));
        s
    }
}

/// Checks every (input, expected output) pair, reporting all mismatches.
fn check(cases: &[(&str, &str)]) {
    let mut bad = vec![];
    for (input, want) in cases {
        let got = nv(input);
        if got != *want {
            bad.push(format!(
                "input:\n{input}\n--- expected\n{want}--- got\n{got}"
            ));
        }
    }
    assert!(bad.is_empty(), "{} of {} differ:\n{}", bad.len(), cases.len(), bad.join("\n"));
}

/// yylex: a NUMBER is `-`? digits followed by a blank, a newline, `)`,
/// `,`, `/`, `}` or `=`; it is not a STRING, so the productions that take
/// only a STRING refuse it (label, tag, tagged, interface names, hosts
/// other than `NUMBER '/' NUMBER`, anchor names, table options).
#[test]
fn number_is_not_a_string() {
    check(&[
        ("pass label 5\n", "stdin:1: syntax error\n"),
        ("pass label \"5\"\n", "pass all flags S/SA label \"5\"\n"),
        ("pass tag 5\n", "stdin:1: syntax error\n"),
        ("pass tagged 5\n", "stdin:1: syntax error\n"),
        ("pass on 5\n", "stdin:1: syntax error\n"),
        ("pass from 5\n", "stdin:1: syntax error\n"),
        ("pass to 0\n", "stdin:1: syntax error\n"),
        ("anchor 5\n", "stdin:1: syntax error\n"),
        ("table <t> 5\n", "stdin:1: syntax error\n"),
        ("set loginterface 5\n", "stdin:1: syntax error\n"),
        ("set debug 5\n", "stdin:1: syntax error\n"),
        ("set optimization 5\n", "stdin:1: syntax error\n"),
        ("5 = x\n", "stdin:1: syntax error\n"),
        ("pass os 5\n", "stdin:1: syntax error\n"),
        // a number glued to other characters is a word
        ("pass label 5x\n", "pass all flags S/SA label \"5x\"\n"),
        // NUMBER '/' NUMBER is a host (10/8)
        ("pass to 10/8\n", "pass inet from any to 10.0.0.0/8 flags S/SA\n"),
        // a table name may be a word of digits: `>` does not end a NUMBER
        ("pass to <5>\n", "pass from any to <5> flags S/SA\n"),
    ]);
}

/// numberstring: a NUMBER in a port or a macro value is printed back with
/// %lld before it is used, so leading zeros are decimal, not octal; a
/// quoted word goes through strtoul(3) with base 0.
#[test]
fn numbers_in_ports_and_macros_are_decimal() {
    check(&[
        (
            "pass proto tcp to port 0022\n",
            "pass proto tcp from any to any port = 22 flags S/SA\n",
        ),
        (
            "pass proto tcp to port \"0022\"\n",
            "pass proto tcp from any to any port = 18 flags S/SA\n",
        ),
        (
            "pass proto tcp to port 0x16\n",
            "pass proto tcp from any to any port = 22 flags S/SA\n",
        ),
        (
            "p = 0022\npass proto tcp to port $p\n",
            "p = \"22\"\npass proto tcp from any to any port = 22 flags S/SA\n",
        ),
    ]);
}

/// pfctl's `string` nonterminal joins several STRINGs with a blank: `tag`,
/// `tagged` and `log (to ...)` take it, `label` takes one STRING.
#[test]
fn multi_word_strings() {
    check(&[
        ("pass tag a b\n", "pass all flags S/SA tag a b\n"),
        ("pass tagged a b\n", "pass all flags S/SA tagged a b\n"),
        ("pass label a b\n", "stdin:1: syntax error\n"),
    ]);
}

/// varset: the name is a STRING (a quoted one too); pfctl prints the
/// definition before it refuses a name with whitespace (its loop starts
/// at the second character).
#[test]
fn macro_names() {
    check(&[
        ("\"a b\" = c\n", "stdin:1: macro name cannot contain whitespace\na b = \"c\"\n"),
        ("\" ab\" = c\npass\n", " ab = \"c\"\npass all flags S/SA\n"),
    ]);
}

//! Inline anchor bodies in pf.conf (pf.conf(5) ANCHORS, pfctl's
//! `'{' '\n' pfa_anchorlist '}'`), cut out of the statement that holds them.
//!
//! An inline body `{ ... }` arrives inside the statement `source.rs` cut:
//! newlines within braces do not end a statement there. `split_inline`
//! recognises it (the statement's last top-level brace group, opened by a
//! `{` that ends its line and preceded by a valid anchor rule) and cuts the
//! body into statements of their own at its top-level newlines, with line
//! maps taken from the enclosing statement, so messages name the right
//! lines. A brace list spanning lines (`anchor to port {\n 80\n}`) is not a
//! body: the text before it is not a complete anchor rule.
//!
//! The statement loop (`read.rs`) reads the body's statements as it reads
//! a file's and hands the rules they give to the anchor rule
//! (`expand/anchors.rs`). Like pfctl's `pfa_anchorlist`, a body takes
//! rules, anchors, tables and includes, not macros, options, queues,
//! antispoof or `load anchor`; an anonymous inline anchor is named `_N`
//! as pfctl names it (N counts the brace blocks of the file in the order
//! they open). `load anchor` files are read by `conf::parse_partial` once
//! the main ruleset is good.

use super::ast::{self, AnchorAst};
use super::parser;
use super::source::Statement;

/// An `anchor` statement with an inline body, cut apart.
pub struct Inline {
    pub ast: AnchorAst,
    /// The body's statements, each with the lines it came from.
    pub body: Vec<Statement>,
    /// Line of a closing brace that follows a rule on the same line (pfctl
    /// wants each rule of the body ended by a newline).
    pub unterminated: Option<u32>,
}

/// A byte that continues a word (pfctl's `allowed_in_string`).
fn is_wchar(c: u8) -> bool {
    c.is_ascii_graphic() && !b"(){}<>!=/#,".contains(&c)
}

/// `(offset, byte)` of `text` outside quoted strings; the opening quote of a
/// string is included, to show that something is there.
fn unquoted(text: &[u8]) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    text.iter()
        .enumerate()
        .filter_map(move |(i, &c)| match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                None
            }
            None => {
                if c == b'"' || c == b'\'' {
                    quote = Some(c);
                }
                Some((i, c))
            }
        })
}

/// The statement's text from `start` to `end` as a statement of its own,
/// or None if it is blank; `nl` is the offset of the newline ending it.
fn piece(st: &Statement, start: usize, end: usize, nl: usize) -> Option<Statement> {
    let s = &st.text[start..end];
    let text = s.trim();
    if text.is_empty() {
        return None;
    }
    let lead = s.len() - s.trim_start().len();
    Some(Statement {
        text: text.to_string(),
        lines: st.lines.slice(start + lead, end),
        end_line: st.lines.line_at(nl),
        lex_error: None,
    })
}

/// If `st` is an `anchor` rule with an inline body, its rule and the body's
/// statements; None for anything else (which then goes to the grammar
/// whole, so a misplaced brace is a syntax error there).
pub fn split_inline(st: &Statement, file: &str) -> Option<Inline> {
    let text = st.text.as_bytes();
    let start = text.iter().position(|c| !c.is_ascii_whitespace())?;
    if !text[start..].starts_with(b"anchor") || text.get(start + 6).is_some_and(|&c| is_wchar(c)) {
        return None;
    }
    // The last top-level brace group, if nothing follows it.
    let mut depth = 0u32;
    let mut open = 0;
    let mut group = None;
    for (i, c) in unquoted(text) {
        match c {
            b'{' => {
                if depth == 0 {
                    open = i;
                }
                depth += 1;
            }
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    group = Some((open, i));
                }
            }
            _ if depth == 0 && !c.is_ascii_whitespace() => group = None,
            _ => {}
        }
    }
    let (open, close) = group.filter(|_| depth == 0)?;
    // `{` must end its line.
    let after = &text[open + 1..close];
    let nl = after
        .iter()
        .position(|&c| !matches!(c, b' ' | b'\t' | b'\r'))?;
    if after[nl] != b'\n' {
        return None;
    }
    let header = Statement {
        text: st.text[..open].to_string(),
        lines: st.lines.clone(),
        end_line: st.lines.line_at(open),
        lex_error: None,
    };
    let Ok(ast::Statement::Anchor(ast)) = parser::parse_statement(&header, file) else {
        return None;
    };
    // The body, cut at its top-level newlines.
    let mut body = vec![];
    let mut depth = 0u32;
    let mut from = open + 1;
    for (i, c) in unquoted(&text[open + 1..close]) {
        let i = i + open + 1;
        match c {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b'\n' if depth == 0 => {
                body.extend(piece(st, from, i, i));
                from = i + 1;
            }
            _ => {}
        }
    }
    let unterminated = piece(st, from, close, close).map(|_| st.lines.line_at(close));
    Some(Inline {
        ast: *ast,
        body,
        unterminated,
    })
}

#[cfg(test)]
mod tests {
    use crate::conf::{parse, parse_with_loader, print_ruleset_nv, StaticResolver};

    fn res() -> StaticResolver {
        StaticResolver::new()
            .iface("lo0", &["127.0.0.1/8", "::1/128"])
            .iface("tun1000000", &[])
            .user("root", 0)
    }

    fn nv(src: &str) -> String {
        let r = res();
        match parse(src, "stdin", &r) {
            Ok(rs) => print_ruleset_nv(&rs, &r),
            Err(e) => panic!(
                "unexpected errors: {:?}",
                e.iter().map(|e| e.to_string()).collect::<Vec<_>>()
            ),
        }
    }

    fn errs(src: &str) -> Vec<String> {
        match parse(src, "stdin", &res()) {
            Ok(_) => panic!("expected errors"),
            Err(e) => e.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn named_anchors_take_filter_options() {
        assert_eq!(
            nv("anchor foo\nanchor \"a/b\" in on lo0 inet proto tcp from 10/8 to any port ssh user root\nanchor \"x/*\" quick label \"l\"\n"),
            "anchor \"foo\" all\n\
             anchor \"a/b\" in on lo0 inet proto tcp from 10.0.0.0/8 to any port = 22 user = 0\n\
             anchor \"x/*\" quick all label \"l\"\n"
        );
        // Lists multiply as for any rule; flags only when given.
        assert_eq!(
            nv("anchor foo proto { tcp udp } flags S/SA\n"),
            "anchor \"foo\" proto tcp all flags S/SA\nanchor \"foo\" proto udp all\n"
        );
    }

    #[test]
    fn inline_anchors_nest_with_indentation() {
        let src = "# x\nanchor on tun1000000 {\n\tanchor foo out {\n\t\tpass proto tcp to port 1234\n\t\t# c\n\
                   \t\tanchor proto tcp to port 2413 {\n\t\t\tblock\n\t\t\tpass from 127.0.0.1\n\t\t}\n\t}\n\
                   \tpass in proto tcp to port 1234\n} # after\n";
        assert_eq!(
            nv(src),
            "anchor on tun1000000 all {\n  anchor \"foo\" out all {\n    pass proto tcp from any to any port = 1234 flags S/SA\n\
             \x20   anchor proto tcp from any to any port = 2413 {\n      block drop all\n\
             \x20     pass inet from 127.0.0.1 to any flags S/SA\n    }\n  }\n\
             \x20 pass in proto tcp from any to any port = 1234 flags S/SA\n}\n"
        );
    }

    #[test]
    fn empty_inline_anchor_prints_without_braces() {
        assert_eq!(
            nv("anchor foo {\n\n}\npass\n"),
            "anchor \"foo\" all\npass all flags S/SA\n"
        );
    }

    #[test]
    fn brace_lists_spanning_lines_are_not_bodies() {
        assert_eq!(
            // (pfctl takes a newline after an item, not after a comma)
            nv("anchor foo proto tcp to port {\n 80\n 443\n}\npass to {\n 10.0.0.1\n}\n"),
            "anchor \"foo\" proto tcp from any to any port = 80\nanchor \"foo\" proto tcp from any to any port = 443\n\
             pass inet from any to 10.0.0.1 flags S/SA\n"
        );
        // A list inside a body, spanning lines, and macros in the body.
        assert_eq!(
            nv("p = \"80\"\nanchor {\n pass proto tcp to port {\n $p, 443 }\n}\n"),
            "p = \"80\"\nanchor all {\n  pass proto tcp from any to any port = 80 flags S/SA\n  \
             pass proto tcp from any to any port = 443 flags S/SA\n}\n"
        );
    }

    #[test]
    fn errors_inside_bodies_have_their_lines() {
        assert_eq!(
            errs("anchor {\n pass\n\n pass bogus\n anchor foo {\n  pass from 10/8 port 1\n }\n}\n"),
            // after the error the rest of the body is read at the top
            // level, where the outer closing brace is an error
            vec![
                "stdin:4: syntax error",
                "stdin:6: port only applies to tcp/udp",
                "stdin:6: skipping rule due to errors",
                "stdin:6: rule expands to no valid combination",
                "stdin:8: syntax error",
            ]
        );
        // What pfctl does not take in a body.
        assert_eq!(
            errs("anchor {\n a = \"b\"\n set block-policy drop\n load anchor x from \"f\"\n pass }\n"),
            // the first error takes the parser out of the body: the option
            // and `load anchor` are read at the top level, where they are
            // fine; the closing brace is not
            vec!["stdin:2: syntax error", "stdin:5: syntax error"]
        );
        // The brace must end the line; the header must be a rule.
        assert_eq!(errs("anchor foo { pass }\n"), vec!["stdin:1: syntax error"]);
        assert_eq!(
            errs("anchor foo bogus {\n pass\n}\n"),
            vec!["stdin:1: syntax error"]
        );
    }

    #[test]
    fn anchor_rule_errors() {
        assert_eq!(
            errs("anchor foo from 10/8 port 1024 to any\nanchor foo keep state\nanchor\nanchor \"_x\"\nanchor \"\"\n\
                  anchor \"a/\"\nanchor \"a/b\" {\n pass\n}\nanchor d {\n pass\n}\nanchor d {\n block\n}\n"),
            vec![
                "stdin:1: port only applies to tcp/udp",
                "stdin:1: skipping rule due to errors",
                "stdin:1: rule expands to no valid combination",
                "stdin:2: cannot specify state handling on anchors",
                "stdin:3: anchors without explicit rules must specify a name",
                "stdin:4: anchor names beginning with '_' are reserved for internal use",
                "stdin:5: anchor name must not be empty",
                "stdin:6: anchorrule: bad anchor name a/",
                "stdin:9: anchor paths containing '/' cannot be used for inline anchors.",
                "stdin:15: inline anchor 'd' already exists",
            ]
        );
        // `no state` is no state handling; nat-to is dropped.
        assert_eq!(
            nv("anchor foo out no state nat-to 10.0.0.1\n"),
            "anchor \"foo\" out all\n"
        );
        assert_eq!(
            errs("anchor foo once\nanchor foo out route-to 10.0.0.1\n"),
            vec![
                "stdin:1: 'once' only applies to pass/block rules",
                "stdin:2: cannot specify route handling on anchors",
            ]
        );
    }

    #[test]
    fn bodies_take_tables_but_not_queues() {
        assert_eq!(
            errs("anchor {\n table <t> { 10.0.0.1 }\n queue q on lo0 bandwidth 1M\n antispoof for lo0\n}\n"),
            // antispoof is fine at the top level, where the error left the
            // parser; the brace is not
            vec!["stdin:3: syntax error", "stdin:5: syntax error"]
        );
    }

    #[test]
    fn label_numbers_count_within_each_anchor() {
        assert_eq!(
            nv("pass label \"$nr\"\nanchor {\n pass label \"$nr\"\n pass label \"$nr\"\n}\n"),
            "pass all flags S/SA label \"0\"\nanchor all {\n  pass all flags S/SA label \"0\"\n  pass all flags S/SA label \"1\"\n}\n"
        );
    }

    #[test]
    fn includes_inside_bodies() {
        let r = res();
        let files = |p: &str| -> std::io::Result<String> {
            match p {
                "inc" => Ok("pass in\n\nblock out\n".into()),
                _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
            }
        };
        let rs =
            parse_with_loader("anchor foo {\n include \"inc\"\n}\n", "stdin", &r, &files).unwrap();
        assert_eq!(
            print_ruleset_nv(&rs, &r),
            "anchor \"foo\" all {\n  pass in all flags S/SA\n  block drop out all\n}\n"
        );
    }

    #[test]
    fn load_anchor_parses_prints_and_links() {
        let r = res();
        let files = |p: &str| -> std::io::Result<String> {
            match p {
                "a.conf" => Ok(
                    "m = \"lo0\"\nblock on $m\nload anchor sub from \"b.conf\"\nanchor sub\n"
                        .into(),
                ),
                "b.conf" => Ok("pass quick\n".into()),
                "c.conf" => Ok("pass out\n".into()),
                "bad.conf" => Ok("pass bogus\n".into()),
                _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
            }
        };
        let src = "anchor x\nanchor \"y/*\"\nload anchor x from \"a.conf\"\nload anchor \"y/2\" from \"c.conf\"\n\
                   load anchor \"y/1\" from \"b.conf\"\n";
        let rs = parse_with_loader(src, "stdin", &r, &files).unwrap();
        assert_eq!(
            print_ruleset_nv(&rs, &r),
            "anchor \"x\" all\nanchor \"y/*\" all\nm = \"lo0\"\nblock drop on lo0 all\nanchor \"sub\" all\n\
             pass out all flags S/SA\npass quick all flags S/SA\npass quick all flags S/SA\n"
        );
        let paths: Vec<&str> = rs.loads.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(paths, ["x", "y/2", "y/1", "x/sub"]);
        // The calls stay calls: pfd finds the loaded rules at run time.
        assert!(rs.rules[0].anchor.as_deref().unwrap().rules.is_empty());
        // What pfctl -f loads: the main ruleset, then each file at its path.
        let sets: Vec<(String, usize)> = crate::ruleset::flatten(&rs, "")
            .into_iter()
            .map(|(p, r)| (p, r.len()))
            .collect();
        assert_eq!(
            sets,
            [
                ("".into(), 2),
                ("x".into(), 2),
                ("y/2".into(), 1),
                ("y/1".into(), 1),
                ("x/sub".into(), 1)
            ]
        );

        let e = parse_with_loader("load anchor x from \"bad.conf\"\n", "stdin", &r, &files)
            .unwrap_err();
        assert_eq!(e[0].to_string(), "bad.conf:1: syntax error");
        let e =
            parse_with_loader("\nload anchor x from \"none\"\n", "stdin", &r, &files).unwrap_err();
        assert!(
            e[0].to_string()
                .starts_with("stdin:2: cannot load anchor x from none"),
            "{e:?}"
        );
        assert_eq!(
            errs("load anchor from \"f\"\n"),
            vec!["stdin:1: anchor name is missing"]
        );
    }

    #[test]
    fn anonymous_anchors_are_numbered_by_brace() {
        let rs = parse(
            "anchor \"a\" {\n anchor {\n  pass\n }\n}\nanchor {\n block\n}\n",
            "stdin",
            &res(),
        )
        .unwrap();
        let a = rs.rules[0].anchor.as_deref().unwrap();
        assert_eq!(a.name, "a");
        assert_eq!(a.rules[0].anchor.as_deref().unwrap().name, "_2");
        assert_eq!(rs.rules[1].anchor.as_deref().unwrap().name, "_3");
    }
}

//! Step 2 of the pipeline, pest → AST: runs the grammar (`grammar.pest`)
//! over one statement from `source.rs` and builds the typed tree of
//! `ast.rs`, one builder per part of the grammar:
//!
//! - `pairs.rs`   — the compiled grammar and the helpers reading its pairs;
//! - `options.rs` — `set ...`;
//! - `rule.rs`    — `pass`/`block`/`match`, `anchor`, `antispoof`;
//! - `filteropt.rs` — a rule's filter options and translation pools;
//! - `host.rs`    — interfaces, addresses, ports and ids;
//! - `table.rs`, `queue.rs` — `table` and `queue` definitions.
//!
//! Nothing is resolved here; a statement the grammar rejects is a `syntax
//! error` on the line where parsing stopped, as pfctl reports it.

mod filteropt;
mod host;
mod options;
mod pairs;
mod queue;
mod rule;
mod table;

use super::ast::*;
use super::error::ConfError;
use super::source::Statement as SourceStatement;
use crate::addr::Af;
use pairs::{children, first, string_of, PfParser, Rule};
use pest::Parser;

/// How deep `{ }` and `( )` may nest in one statement. The grammar and the
/// builders recurse once per level, so deeper input would overflow the
/// stack; no real pf.conf comes near it.
pub const MAX_NESTING: usize = 64;

/// The offset of the first bracket that opens a level deeper than
/// `MAX_NESTING`, outside quoted strings.
fn too_deep(text: &str) -> Option<usize> {
    let (mut depth, mut quoted) = (0usize, false);
    for (i, c) in text.bytes().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b'{' | b'(' if !quoted => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            b'}' | b')' if !quoted => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Parses one statement; `Err` is a syntax error located on its line.
pub fn parse_statement(st: &SourceStatement, file: &str) -> Result<Statement, ConfError> {
    parse_statement_at(st, file).map_err(|(e, _)| e)
}

/// `parse_statement` with the offset in the statement's text where the
/// grammar gave up (the token pfctl's parser would have stopped at).
pub fn parse_statement_at(
    st: &SourceStatement,
    file: &str,
) -> Result<Statement, (ConfError, usize)> {
    let syntax = |offset: usize| {
        (
            ConfError::new(file, st.lines.line_at(offset), "syntax error"),
            offset,
        )
    };
    if let Some(offset) = too_deep(&st.text) {
        return Err((
            ConfError::new(
                file,
                st.lines.line_at(offset),
                format!("syntax error: lists nested more than {MAX_NESTING} deep"),
            ),
            offset,
        ));
    }
    let mut pairs = match PfParser::parse(Rule::statement, &st.text) {
        Ok(p) => p,
        Err(e) => {
            let offset = match e.location {
                pest::error::InputLocation::Pos(p) => p,
                pest::error::InputLocation::Span((s, _)) => s,
            };
            return Err(syntax(offset));
        }
    };
    let stmt = pairs.next().ok_or_else(|| syntax(0))?;
    let inner = stmt
        .into_inner()
        .find(|p| p.as_rule() != Rule::EOI)
        .ok_or_else(|| syntax(0))?;
    Ok(match inner.as_rule() {
        Rule::include_stmt => {
            Statement::Include(children(inner).next().map(string_of).unwrap_or_default())
        }
        Rule::macro_def => {
            let mut it = inner.into_inner();
            let name = it.next().map(string_of).unwrap_or_default();
            let parts: Vec<String> = it
                .filter(|p| p.as_rule() != Rule::equals)
                .map(string_of)
                .collect();
            Statement::Macro {
                name,
                value: parts.join(" "),
            }
        }
        Rule::option => Statement::Set(options::set_option(inner)),
        Rule::pf_rule => Statement::Rule(Box::new(rule::pf_rule(inner))),
        Rule::anchor_rule => Statement::Anchor(Box::new(rule::anchor_rule(inner))),
        Rule::load_anchor => {
            let mut name = None;
            let mut file = String::new();
            for c in children(inner) {
                match c.as_rule() {
                    Rule::anchor_name => name = Some(string_of(first(c))),
                    _ => file = string_of(c),
                }
            }
            Statement::LoadAnchor { name, file }
        }
        Rule::antispoof_rule => Statement::Antispoof(Box::new(rule::antispoof(inner))),
        Rule::queue_rule => Statement::Queue(Box::new(queue::queue_rule(inner, st))),
        Rule::table_def => Statement::Table(table::table_def(inner, &st.lines)),
        Rule::limiter_def => Statement::Limiter(Box::new(limiter_def(inner))),
        _ => return Err(syntax(0)),
    })
}

/// `state|source limiter "name" option...`
fn limiter_def(p: pest::iterators::Pair<Rule>) -> LimiterAst {
    let mut l = LimiterAst {
        source: false,
        name: String::new(),
        opts: Vec::new(),
    };
    for c in children(p) {
        match c.as_rule() {
            Rule::limiter_kind => l.source = first(c).as_rule() == Rule::kl_source,
            Rule::string => l.name = string_of(c),
            Rule::limiter_opt => {
                let o = first(c);
                let rule = o.as_rule();
                let mut af = Af::Inet;
                let mut nums = Vec::new();
                let mut table = String::new();
                for x in children(o) {
                    match x.as_rule() {
                        Rule::number => nums.push(x.as_str().to_string()),
                        Rule::string => table = string_of(x),
                        Rule::af if first(x).as_rule() == Rule::k_inet6 => af = Af::Inet6,
                        _ => {}
                    }
                }
                let mut n = nums.into_iter();
                let mut next = || n.next().unwrap_or_default();
                l.opts.push(match rule {
                    Rule::lo_id => LimiterOptAst::Id(next()),
                    Rule::lo_entries => LimiterOptAst::Entries(next()),
                    Rule::lo_limit => LimiterOptAst::Limit(next()),
                    Rule::lo_rate => {
                        let a = next();
                        LimiterOptAst::Rate(a, next())
                    }
                    Rule::lo_table => {
                        let above = next();
                        LimiterOptAst::Table(table, above, n.next())
                    }
                    _ => LimiterOptAst::Mask(af, next()),
                });
            }
            _ => {}
        }
    }
    l
}

/// What pfctl takes in an inline anchor's body (`pfa_anchorlist`): rules,
/// anchors, tables and includes; not macros, options, queues, antispoof or
/// `load anchor`.
pub fn allowed_inside_anchor(s: &Statement) -> bool {
    matches!(
        s,
        Statement::Rule(_) | Statement::Anchor(_) | Statement::Table(_) | Statement::Include(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::source::{Macros, Splitter};
    use crate::ruleset::Direction;

    fn parse1(s: &str) -> Result<Statement, String> {
        let mut sp = Splitter::new(s, "t");
        let st = sp.next_statement(&Macros::new()).unwrap().unwrap();
        parse_statement(&st, "t").map_err(|e| e.to_string())
    }

    #[test]
    fn lists_nest_to_a_limit() {
        let nest = |n: usize, open: &str, close: &str| {
            format!("pass from {}10.0.0.1{}", open.repeat(n), close.repeat(n))
        };
        assert!(parse1(&nest(MAX_NESTING, "{", "}")).is_ok());
        let e = parse1(&nest(MAX_NESTING + 1, "{", "}")).unwrap_err();
        assert_eq!(e, "t:1: syntax error: lists nested more than 64 deep");
        // far deeper, as a hostile file would: an error, not a stack overflow
        assert!(parse1(&nest(200_000, "{", "}")).is_err());
        assert!(parse1(&nest(200_000, "(", ")")).is_err());
        // brackets inside quotes are text
        assert!(too_deep(&format!("label \"{}\"", "{".repeat(100))).is_none());
    }

    #[test]
    fn macro_definitions() {
        assert_eq!(
            parse1("foo = \"ssh, ftp\"").unwrap(),
            Statement::Macro {
                name: "foo".into(),
                value: "ssh, ftp".into()
            }
        );
        assert_eq!(
            parse1("a=b c").unwrap(),
            Statement::Macro {
                name: "a".into(),
                value: "b c".into()
            }
        );
        assert!(parse1("pass = 1").is_err());
    }

    #[test]
    fn rule_shapes() {
        let Statement::Rule(r) = parse1("block return in log quick on ! lo0 inet proto { tcp udp } from 10/8 port 22:25 to ! <t> port != 80 flags S/SA keep state (max 10) label \"x\"").unwrap() else {
            panic!("not a rule")
        };
        assert_eq!(r.action, ActionAst::Block(Some(BlockSpec::Return)));
        assert_eq!(r.direction, Direction::In);
        assert!(r.quick);
        assert_eq!(r.log, Some(vec![]));
        assert_eq!(
            r.on,
            vec![IfItem {
                neg: true,
                name: IfName::Name("lo0".into())
            }]
        );
        assert_eq!(r.proto, vec!["tcp".to_string(), "udp".to_string()]);
        assert_eq!(
            r.from.hosts,
            Some(HostItem::Host {
                neg: false,
                host: HostAst::Name {
                    name: "10".into(),
                    mask: Some("8".into())
                }
            })
        );
        assert_eq!(r.from.ports, vec![ItemAst::Plain("22:25".into())]);
        assert_eq!(
            r.to.hosts,
            Some(HostItem::Host {
                neg: true,
                host: HostAst::Table("t".into())
            })
        );
        assert_eq!(r.to.ports, vec![ItemAst::Unary(OpAst::Ne, "80".into())]);
        assert_eq!(r.opts.len(), 3);
    }

    #[test]
    fn syntax_errors_have_lines() {
        assert_eq!(
            parse1("pass proto tcp flags S").unwrap_err(),
            "t:1: syntax error"
        );
        let mut sp = Splitter::new("pass in \\\n proto tcp \\\n bogus", "t");
        let st = sp.next_statement(&Macros::new()).unwrap().unwrap();
        assert_eq!(
            parse_statement(&st, "t").unwrap_err().to_string(),
            "t:3: syntax error"
        );
    }
}

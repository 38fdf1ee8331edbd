//! `queue name [on interface] [parent name] [bandwidth ...] ...`:
//! grammar pairs → `QueueAst` (options in source order, each with the line
//! it ends on).

use super::host::interface_spec;
use super::pairs::{string_of, Rule};
use crate::conf::ast::{BwAst, QueueAst, QueueOptAst, ScAst};
use crate::conf::source::Statement as SourceStatement;
use pest::iterators::Pair;

/// pest → `QueueAst` for a `queue_rule` pair of statement `st`.
pub(super) fn queue_rule(p: Pair<'_, Rule>, st: &SourceStatement) -> QueueAst {
    let end_line = |x: &Pair<'_, Rule>| st.lines.line_at(x.as_span().end().saturating_sub(1));
    let mut q = QueueAst {
        name: String::new(),
        on: vec![],
        on_line: st.end_line,
        opts: vec![],
    };
    for x in p.into_inner() {
        match x.as_rule() {
            Rule::qstring => q.name = qstring(x),
            Rule::interface_clause => {
                q.on_line = end_line(&x);
                if let Some(spec) = x.into_inner().find(|c| c.as_rule() == Rule::interface_spec) {
                    q.on = interface_spec(spec);
                }
            }
            Rule::queue_opt => {
                let line = end_line(&x);
                if let Some(o) = x.into_inner().next() {
                    q.opts.push((queue_opt(o), line));
                }
            }
            _ => {}
        }
    }
    q
}

fn qstring(p: Pair<'_, Rule>) -> String {
    p.into_inner().next().map(string_of).unwrap_or_default()
}

fn bw_ast(p: Pair<'_, Rule>) -> BwAst {
    match p.into_inner().next() {
        Some(n) if n.as_rule() == Rule::qnumber => BwAst::Number(n.as_str().to_string()),
        Some(s) => BwAst::Str(string_of(s)),
        None => BwAst::Str(String::new()),
    }
}

fn sc_ast(p: Pair<'_, Rule>) -> ScAst {
    let mut bws = vec![];
    let mut time = String::new();
    for x in p.into_inner() {
        match x.as_rule() {
            Rule::qbw => bws.push(bw_ast(x)),
            Rule::qstring => time = qstring(x),
            _ => {}
        }
    }
    let mut it = bws.into_iter();
    let m2 = it.next().unwrap_or(BwAst::Str(String::new()));
    ScAst {
        m2,
        burst: it.next().map(|m1| (m1, time)),
    }
}

fn inner_number(p: Pair<'_, Rule>) -> String {
    p.into_inner()
        .find(|x| x.as_rule() == Rule::qnumber)
        .map(|x| x.as_str().to_string())
        .unwrap_or_default()
}

fn queue_opt(o: Pair<'_, Rule>) -> QueueOptAst {
    match o.as_rule() {
        Rule::qo_bandwidth => {
            let mut linkshare = None;
            let mut extra = vec![];
            for x in o.into_inner() {
                match x.as_rule() {
                    Rule::qscspec => linkshare = Some(sc_ast(x)),
                    Rule::qo_min | Rule::qo_max => {
                        let min = x.as_rule() == Rule::qo_min;
                        if let Some(sc) = x.into_inner().find(|y| y.as_rule() == Rule::qscspec) {
                            extra.push((min, sc_ast(sc)));
                        }
                    }
                    _ => {}
                }
            }
            let linkshare = linkshare.unwrap_or(ScAst {
                m2: BwAst::Str(String::new()),
                burst: None,
            });
            QueueOptAst::Bandwidth { linkshare, extra }
        }
        Rule::qo_parent => QueueOptAst::Parent(
            o.into_inner()
                .find(|x| x.as_rule() == Rule::qstring)
                .map(qstring)
                .unwrap_or_default(),
        ),
        Rule::qo_qlimit => QueueOptAst::Qlimit(inner_number(o)),
        Rule::qo_flows => QueueOptAst::Flows(inner_number(o)),
        Rule::qo_quantum => QueueOptAst::Quantum(inner_number(o)),
        _ => QueueOptAst::Default,
    }
}

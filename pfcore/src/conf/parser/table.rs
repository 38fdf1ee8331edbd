//! `table <name> [persist] [const] [counters] [{ ... }] [file "path"]`:
//! grammar pairs → `TableAst` (options in source order, with the lines
//! pfctl reports their errors on).

use super::host::xhost;
use super::pairs::{string_of, Rule};
use crate::conf::ast::{TableAst, TableHostAst, TableOptAst};
use crate::conf::source::LineMap;
use pest::iterators::Pair;

/// Grammar → AST for a `table_def` pair.
pub(super) fn table_def(p: Pair<'_, Rule>, lines: &LineMap) -> TableAst {
    let mut t = TableAst {
        name: String::new(),
        opts: vec![],
    };
    for x in p.into_inner() {
        match x.as_rule() {
            Rule::string => t.name = string_of(x),
            Rule::table_opt => {
                let Some(o) = x.into_inner().next() else {
                    continue;
                };
                match o.as_rule() {
                    Rule::table_file => {
                        if let Some(s) = o.into_inner().find(|y| y.as_rule() == Rule::string) {
                            t.opts.push(TableOptAst::File(string_of(s)));
                        }
                    }
                    Rule::table_flag => {
                        let line = lines.line_at(o.as_span().start());
                        let word = o.into_inner().next().map(string_of).unwrap_or_default();
                        t.opts.push(TableOptAst::Flag { word, line });
                    }
                    _ => {
                        let mut hosts = vec![];
                        let mut close_line = lines.line_at(o.as_span().end());
                        for y in o.into_inner() {
                            match y.as_rule() {
                                Rule::table_spec => table_spec(y, lines, &mut hosts),
                                Rule::table_close => {
                                    close_line = lines.line_at(y.as_span().start())
                                }
                                _ => {}
                            }
                        }
                        t.opts.push(TableOptAst::Hosts { hosts, close_line });
                    }
                }
            }
            _ => {}
        }
    }
    t
}

fn table_spec(p: Pair<'_, Rule>, lines: &LineMap, out: &mut Vec<TableHostAst>) {
    let line = lines.line_at(p.as_span().start());
    let mut item = None;
    let mut weight = None;
    for x in p.into_inner() {
        match x.as_rule() {
            Rule::table_nested => {
                for y in x.into_inner() {
                    if y.as_rule() == Rule::table_spec {
                        table_spec(y, lines, out);
                    }
                }
            }
            Rule::xhost => item = Some(xhost(x)),
            Rule::table_weight => {
                weight = x
                    .into_inner()
                    .find(|y| y.as_rule() == Rule::number)
                    .map(|y| y.as_str().to_string())
            }
            _ => {}
        }
    }
    if let Some(item) = item {
        out.push(TableHostAst { item, weight, line });
    }
}

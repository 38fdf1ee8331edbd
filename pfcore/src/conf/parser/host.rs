//! Interfaces, hosts, ports and ids, as rules, tables and queues write
//! them: `on` lists, `from`/`to` address lists, `port` and `user`/`group`
//! items, table elements (`xhost`).

use super::pairs::{children, first, string_of, Rule};
use crate::conf::ast::*;
use pest::iterators::Pair;

/// `[!] if_item` inside `p`: (negated, name).
pub(super) fn not_if_item(p: Pair<'_, Rule>) -> (bool, IfName) {
    let mut neg = false;
    let mut name = IfName::Any;
    for x in p.into_inner() {
        match x.as_rule() {
            Rule::not => neg = true,
            Rule::if_item => {
                let i = first(x);
                name = match i.as_rule() {
                    Rule::k_any => IfName::Any,
                    Rule::if_rdomain => IfName::Rdomain(
                        children(i)
                            .next()
                            .map(|n| n.as_str().to_string())
                            .unwrap_or_default(),
                    ),
                    _ => IfName::Name(string_of(i)),
                };
            }
            _ => {}
        }
    }
    (neg, name)
}

pub(super) fn interface_spec(p: Pair<'_, Rule>) -> Vec<IfItem> {
    p.into_inner()
        .filter(|c| c.as_rule() == Rule::if_item_not)
        .map(|c| {
            let (neg, name) = not_if_item(c);
            IfItem { neg, name }
        })
        .collect()
}

pub(super) fn ipportspec(p: Pair<'_, Rule>) -> HostPort {
    let mut hp = HostPort::default();
    for x in p.into_inner() {
        match x.as_rule() {
            Rule::ipspec => hp.hosts = ipspec(x),
            Rule::portspec => hp.ports = items(x, Rule::port_item),
            _ => {}
        }
    }
    hp
}

/// None for `any`.
pub(super) fn ipspec(p: Pair<'_, Rule>) -> Option<HostItem> {
    let x = first(p);
    match x.as_rule() {
        Rule::k_any => None,
        Rule::host_list => Some(HostItem::List(
            x.into_inner()
                .map(|i| ipspec(i).unwrap_or(HostItem::Any))
                .collect(),
        )),
        _ => {
            let mut neg = false;
            let mut item = HostItem::Any;
            for y in x.into_inner() {
                match y.as_rule() {
                    Rule::not => neg = true,
                    Rule::k_no_route => item = HostItem::NoRoute { neg },
                    Rule::k_urpf_failed => item = HostItem::UrpfFailed { neg },
                    Rule::host => item = HostItem::Host { neg, host: host(y) },
                    _ => {}
                }
            }
            Some(item)
        }
    }
}

pub(super) fn host(p: Pair<'_, Rule>) -> HostAst {
    let mut mask = None;
    let mut main: Option<Pair<'_, Rule>> = None;
    for x in p.into_inner() {
        if x.as_rule() == Rule::host_mask {
            mask = children(x).next().map(string_of);
        } else {
            main = Some(x);
        }
    }
    let Some(m) = main else {
        return HostAst::Name {
            name: String::new(),
            mask,
        };
    };
    match m.as_rule() {
        Rule::table_ref => HostAst::Table(string_of(first(m))),
        Rule::number_net => {
            let mut it = m.into_inner();
            let net = it.next().map(string_of).unwrap_or_default();
            let mask = it.next().and_then(|x| children(x).next()).map(string_of);
            HostAst::Name { name: net, mask }
        }
        Rule::route_label => {
            HostAst::RouteLabel(children(m).next().map(string_of).unwrap_or_default())
        }
        Rule::dynaddr => HostAst::Dynamic {
            spec: string_of(first(m)),
            mask,
        },
        Rule::host_range => {
            let mut it = m.into_inner().map(|h| string_of(first(h)));
            let a = it.next().unwrap_or_default();
            let b = it.next().unwrap_or_default();
            HostAst::Range(a, b)
        }
        _ => HostAst::Name {
            name: string_of(first(m)),
            mask,
        },
    }
}

fn op_of(s: &str) -> OpAst {
    match s {
        "!=" => OpAst::Ne,
        "<=" => OpAst::Le,
        ">=" => OpAst::Ge,
        "<" => OpAst::Lt,
        ">" => OpAst::Gt,
        "<>" => OpAst::Outside,
        "><" => OpAst::Inside,
        _ => OpAst::Eq,
    }
}

/// Port or id items below `p` (`item_rule` is `port_item` or `id_item`).
pub(super) fn items(p: Pair<'_, Rule>, item_rule: Rule) -> Vec<ItemAst> {
    p.into_inner()
        .filter(|x| x.as_rule() == item_rule)
        .map(|it| {
            let parts: Vec<Pair<'_, Rule>> = it.into_inner().collect();
            let text = |q: &Pair<'_, Rule>| -> String {
                let q = q.clone();
                match q.as_rule() {
                    Rule::port_word => string_of(first(q)),
                    _ => string_of(q),
                }
            };
            match parts.as_slice() {
                [a] => ItemAst::Plain(text(a)),
                [op, a] if op.as_rule() == Rule::unaryop => {
                    ItemAst::Unary(op_of(op.as_str()), text(a))
                }
                [a, op, b] => ItemAst::Binary(text(a), op_of(op.as_str()), text(b)),
                _ => ItemAst::Plain(String::new()),
            }
        })
        .collect()
}

pub(super) fn xhost(p: Pair<'_, Rule>) -> HostItem {
    let mut neg = false;
    let mut item = HostItem::Any;
    for y in p.into_inner() {
        match y.as_rule() {
            Rule::not => neg = true,
            Rule::k_no_route => item = HostItem::NoRoute { neg },
            Rule::k_urpf_failed => item = HostItem::UrpfFailed { neg },
            Rule::host => item = HostItem::Host { neg, host: host(y) },
            _ => {}
        }
    }
    item
}

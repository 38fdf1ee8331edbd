//! Rules: `pass`/`block`/`match`, `anchor` (its rule part) and
//! `antispoof`, grammar pairs → `RuleAst` / `AnchorAst` / `AntispoofAst`.

use super::filteropt::{filter_opt, set_items};
use super::host::{interface_spec, ipportspec};
use super::pairs::{children, first, string_of, Rule};
use crate::addr::Af;
use crate::conf::ast::*;
use crate::ruleset::Direction;
use pest::iterators::Pair;

/// `[log [(opts)]] [quick]` in either order.
fn logquick(p: Pair<'_, Rule>) -> (Option<Vec<LogOpt>>, bool) {
    let mut log = None;
    let mut quick = false;
    for x in p.into_inner() {
        match x.as_rule() {
            Rule::k_quick => quick = true,
            Rule::log => {
                let opts = x
                    .into_inner()
                    .filter(|o| o.as_rule() == Rule::logopt)
                    .map(|o| {
                        let o = first(o);
                        match o.as_rule() {
                            Rule::k_all => LogOpt::All,
                            Rule::k_matches => LogOpt::Matches,
                            Rule::k_user => LogOpt::User,
                            _ => LogOpt::To(children(o).next().map(string_of).unwrap_or_default()),
                        }
                    })
                    .collect();
                log = Some(opts);
            }
            _ => {}
        }
    }
    (log, quick)
}

pub(super) fn antispoof(p: Pair<'_, Rule>) -> AntispoofAst {
    let mut a = AntispoofAst {
        log: None,
        quick: false,
        ifaces: vec![],
        af: None,
        label: None,
        label_twice: false,
        rtable: None,
    };
    for part in p.into_inner() {
        match part.as_rule() {
            Rule::logquick => (a.log, a.quick) = logquick(part),
            Rule::antispoof_ifspec => {
                for i in part
                    .into_inner()
                    .filter(|x| x.as_rule() == Rule::antispoof_if)
                {
                    let dynamic = i.as_str().trim_start().starts_with('(');
                    let name = i
                        .into_inner()
                        .next()
                        .map(|n| string_of(first(n)))
                        .unwrap_or_default();
                    a.ifaces.push((name, dynamic));
                }
            }
            Rule::af => {
                a.af = Some(if first(part).as_rule() == Rule::k_inet6 {
                    Af::Inet6
                } else {
                    Af::Inet
                })
            }
            Rule::antispoof_opt => {
                let o = first(part);
                let arg = children(o.clone()).next();
                match o.as_rule() {
                    Rule::opt_label => {
                        a.label_twice |= a.label.is_some();
                        a.label = arg.map(string_of);
                    }
                    _ => a.rtable = arg.map(|x| x.as_str().to_string()),
                }
            }
            _ => {}
        }
    }
    a
}

pub(super) fn pf_rule(p: Pair<'_, Rule>) -> RuleAst {
    let mut r = RuleAst {
        action: ActionAst::Pass,
        direction: Direction::InOut,
        log: None,
        quick: false,
        on: vec![],
        af: None,
        proto: vec![],
        from: HostPort::default(),
        to: HostPort::default(),
        os: vec![],
        opts: vec![],
    };
    for part in p.into_inner() {
        match part.as_rule() {
            Rule::action => {
                let a = first(part);
                r.action = match a.as_rule() {
                    Rule::k_pass => ActionAst::Pass,
                    Rule::k_match => ActionAst::Match,
                    _ => ActionAst::Block(children(a).next().map(blockspec)),
                };
            }
            Rule::direction => {
                r.direction = if first(part).as_rule() == Rule::k_in {
                    Direction::In
                } else {
                    Direction::Out
                };
            }
            Rule::logquick => (r.log, r.quick) = logquick(part),
            Rule::interface_clause => {
                if let Some(spec) = children(part).next() {
                    r.on = interface_spec(spec);
                }
            }
            Rule::af => {
                r.af = Some(if first(part).as_rule() == Rule::k_inet6 {
                    Af::Inet6
                } else {
                    Af::Inet
                });
            }
            Rule::proto_clause => {
                r.proto = part
                    .into_inner()
                    .filter(|x| x.as_rule() == Rule::proto_item)
                    .map(|x| string_of(first(x)))
                    .collect();
            }
            Rule::fromto => {
                for x in part.into_inner() {
                    match x.as_rule() {
                        Rule::from_part => {
                            if let Some(s) = children(x).next() {
                                r.from = ipportspec(s);
                            }
                        }
                        Rule::to_part => {
                            if let Some(s) = children(x).next() {
                                r.to = ipportspec(s);
                            }
                        }
                        Rule::os_part => r.os = children(x).map(string_of).collect(),
                        _ => {}
                    }
                }
            }
            Rule::filter_opt => {
                let o = first(part);
                if o.as_rule() == Rule::opt_sets {
                    r.opts.extend(set_items(o));
                } else {
                    r.opts.push(filter_opt(o));
                }
            }
            _ => {}
        }
    }
    r
}

/// `anchor ...`: the name and `quick` here, everything else as in `pf_rule`.
pub(super) fn anchor_rule(p: Pair<'_, Rule>) -> AnchorAst {
    let mut name = None;
    let mut quick = false;
    for c in p.clone().into_inner() {
        match c.as_rule() {
            Rule::anchor_name => name = Some(string_of(first(c))),
            Rule::anchor_quick => quick = true,
            _ => {}
        }
    }
    let mut rule = pf_rule(p);
    rule.action = ActionAst::Anchor;
    rule.quick = quick;
    AnchorAst { name, rule }
}

fn opt_arg(p: Pair<'_, Rule>) -> Option<String> {
    p.into_inner()
        .find(|x| x.as_rule() == Rule::icmp_code_spec)
        .map(|x| string_of(first(x)))
}

fn blockspec(p: Pair<'_, Rule>) -> BlockSpec {
    let b = first(p);
    match b.as_rule() {
        Rule::k_drop => BlockSpec::Drop,
        Rule::k_return => BlockSpec::Return,
        Rule::return_rst => BlockSpec::ReturnRst {
            ttl: b
                .into_inner()
                .find(|x| x.as_rule() == Rule::number)
                .map(|x| x.as_str().to_string()),
        },
        Rule::return_icmp6 => BlockSpec::ReturnIcmp6 { code6: opt_arg(b) },
        _ => {
            let mut specs = b
                .into_inner()
                .filter(|x| x.as_rule() == Rule::icmp_code_spec)
                .map(|x| string_of(first(x)));
            let code = specs.next();
            let code6 = specs.next();
            BlockSpec::ReturnIcmp { code, code6 }
        }
    }
}

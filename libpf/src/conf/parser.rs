//! pest → AST: runs the grammar (`grammar.pest`) over one statement from
//! `source.rs` and builds the typed tree of `ast.rs`. Nothing is resolved
//! here; a statement the grammar rejects is a `syntax error` on the line
//! where parsing stopped, as pfctl reports it.

use super::ast::*;
use super::error::ConfError;
use super::source::Statement as SourceStatement;
use crate::addr::Af;
use crate::ruleset::{Direction, RouteKind};
use pest::iterators::Pair;
use pest::Parser;

#[derive(pest_derive::Parser)]
#[grammar = "conf/grammar.pest"]
struct PfParser;

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
        Rule::option => Statement::Set(set_option(inner)),
        Rule::pf_rule => Statement::Rule(Box::new(pf_rule(inner))),
        Rule::anchor_rule => Statement::Anchor(Box::new(anchor_rule(inner))),
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
        Rule::antispoof_rule => Statement::Antispoof(Box::new(antispoof(inner))),
        Rule::queue_rule => Statement::Queue(Box::new(super::queue::queue_rule(inner, st))),
        Rule::table_def => Statement::Table(super::table::table_def(inner, &st.lines)),
        _ => return Err(syntax(0)),
    })
}

/// First inner pair (the grammar guarantees its presence where used).
fn first(p: Pair<'_, Rule>) -> Pair<'_, Rule> {
    let fallback = p.clone();
    p.into_inner().next().unwrap_or(fallback)
}

/// Inner pairs that are not bare keyword tokens.
fn children(p: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    p.into_inner().filter(|c| !is_keyword(c.as_rule()))
}

fn is_keyword(r: Rule) -> bool {
    format!("{r:?}").starts_with("k_")
}

/// The value of a `string`/`word`/`quoted`/`macro_value` pair: quotes
/// removed and escapes resolved like pfctl's lexer does.
pub(super) fn string_of(p: Pair<'_, Rule>) -> String {
    match p.as_rule() {
        Rule::number => number_text(p.as_str()),
        Rule::strings => p.into_inner().map(string_of).collect::<Vec<_>>().join(" "),
        Rule::string | Rule::macro_value | Rule::quoted | Rule::numstr => {
            let s = p.as_str().to_string();
            match p.into_inner().next() {
                Some(inner) => string_of(inner),
                None => s,
            }
        }
        Rule::quoted_dq | Rule::quoted_sq => unquote(p.as_str()),
        _ => p.as_str().to_string(),
    }
}

/// A NUMBER token as pfctl turns it back into text (`%lld`): `0022` is
/// `22`, `-0` is `0`. The lexer has refused numbers out of range already.
pub(super) fn number_text(s: &str) -> String {
    match s.parse::<i64>() {
        Ok(v) => v.to_string(),
        Err(_) => s.to_string(),
    }
}

fn unquote(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if chars.len() < 2 {
        return String::new();
    }
    let q = chars[0];
    chars.remove(0);
    chars.pop();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            if n == q || n == ' ' || n == '\t' {
                out.push(n);
                i += 2;
                continue;
            }
            out.push('\\');
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn set_option(p: Pair<'_, Rule>) -> SetOption {
    let Some(o) = children(p).next() else {
        return SetOption::Debug(String::new());
    };
    let rule = o.as_rule();
    let args: Vec<Pair<'_, Rule>> = o.clone().into_inner().collect();
    let plain: Vec<String> = args
        .iter()
        .filter(|a| !is_keyword(a.as_rule()))
        .cloned()
        .map(string_of)
        .collect();
    let arg0 = plain.first().cloned().unwrap_or_default();
    match rule {
        Rule::set_block_policy => {
            SetOption::BlockPolicyReturn(args.iter().any(|a| a.as_rule() == Rule::k_return))
        }
        Rule::set_skip => {
            let spec = args
                .into_iter()
                .find(|a| a.as_rule() == Rule::interface_spec);
            SetOption::Skip(spec.map(interface_spec).unwrap_or_default())
        }
        Rule::set_timeout | Rule::set_limit => {
            let pairs = args
                .into_iter()
                .filter(|a| matches!(a.as_rule(), Rule::timeout_spec | Rule::limit_spec))
                .map(|s| {
                    let mut it = s.into_inner();
                    let n = it.next().map(string_of).unwrap_or_default();
                    let v = it
                        .next()
                        .map(|x| x.as_str().to_string())
                        .unwrap_or_default();
                    (n, v)
                })
                .collect();
            if rule == Rule::set_timeout {
                SetOption::Timeout(pairs)
            } else {
                SetOption::Limit(pairs)
            }
        }
        Rule::set_hostid => SetOption::HostId(arg0),
        Rule::set_loginterface => {
            if args.iter().any(|a| a.as_rule() == Rule::k_all) {
                SetOption::LogInterface("all".into())
            } else {
                SetOption::LogInterface(arg0)
            }
        }
        Rule::set_debug => {
            if args.iter().filter(|a| a.as_rule() == Rule::k_debug).count() > 1 {
                SetOption::Debug("debug".into())
            } else {
                SetOption::Debug(arg0)
            }
        }
        Rule::set_ruleset_optimization => SetOption::RulesetOptimization(arg0),
        Rule::set_reassemble => {
            let word = if args.iter().any(|a| a.as_rule() == Rule::k_no) {
                "no".to_string()
            } else {
                arg0
            };
            SetOption::Reassemble(word, args.iter().any(|a| a.as_rule() == Rule::k_no_df))
        }
        Rule::set_state_policy => {
            SetOption::StatePolicyIfBound(args.iter().any(|a| a.as_rule() == Rule::k_if_bound))
        }
        Rule::set_state_defaults => SetOption::StateDefaults(
            args.into_iter()
                .filter(|a| a.as_rule() == Rule::state_opt)
                .map(state_opt)
                .collect(),
        ),
        Rule::set_fingerprints => SetOption::Fingerprints(arg0),
        Rule::set_syncookies => {
            let opts = args
                .into_iter()
                .filter(|a| a.as_rule() == Rule::syncookie_opt)
                .map(|o| {
                    let mut it = o.into_inner().map(string_of);
                    (it.next().unwrap_or_default(), it.next().unwrap_or_default())
                })
                .collect();
            SetOption::Syncookies(arg0, opts)
        }
        _ => SetOption::Optimization(arg0),
    }
}

/// `[!] if_item` inside `p`: (negated, name).
fn not_if_item(p: Pair<'_, Rule>) -> (bool, IfName) {
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

fn antispoof(p: Pair<'_, Rule>) -> AntispoofAst {
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

fn pf_rule(p: Pair<'_, Rule>) -> RuleAst {
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
fn anchor_rule(p: Pair<'_, Rule>) -> AnchorAst {
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

fn ipportspec(p: Pair<'_, Rule>) -> HostPort {
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
fn ipspec(p: Pair<'_, Rule>) -> Option<HostItem> {
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
fn items(p: Pair<'_, Rule>, item_rule: Rule) -> Vec<ItemAst> {
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

fn redir(p: Pair<'_, Rule>) -> RedirAst {
    let mut r = RedirAst::default();
    for x in p.into_inner() {
        match x.as_rule() {
            Rule::redirspec => redirspec(&mut r, x),
            Rule::redirpool => r = merge_redir(r, x),
            Rule::pool_opt => r.opts.push(pool_opt(x)),
            _ => {}
        }
    }
    r
}

fn num_text(p: Option<Pair<'_, Rule>>) -> String {
    p.map(|x| x.as_str().to_string()).unwrap_or_default()
}

fn state_opt(p: Pair<'_, Rule>) -> StateOptAst {
    let o = first(p);
    let rule = o.as_rule();
    let mut args = children(o.clone());
    match rule {
        Rule::so_max => StateOptAst::Max(num_text(args.next())),
        Rule::so_max_src_states => StateOptAst::MaxSrcStates(num_text(args.next())),
        Rule::so_max_src_conn => StateOptAst::MaxSrcConn(num_text(args.next())),
        Rule::so_max_src_conn_rate => {
            let a = num_text(args.next());
            let b = num_text(args.next());
            StateOptAst::MaxSrcConnRate(a, b)
        }
        Rule::so_max_src_nodes => StateOptAst::MaxSrcNodes(num_text(args.next())),
        Rule::k_no_sync => StateOptAst::NoSync,
        Rule::so_source_track => {
            let kinds: Vec<Rule> = o.into_inner().map(|x| x.as_rule()).collect();
            StateOptAst::SourceTrack(if kinds.contains(&Rule::k_global) {
                Some(true)
            } else if kinds.contains(&Rule::k_rule) {
                Some(false)
            } else {
                None
            })
        }
        Rule::so_overload => {
            let parts: Vec<Pair<'_, Rule>> = o.into_inner().collect();
            let table = parts
                .iter()
                .find(|x| x.as_rule() == Rule::string)
                .map(|x| string_of(x.clone()))
                .unwrap_or_default();
            let flush = parts.iter().any(|x| x.as_rule() == Rule::k_flush);
            let global = parts.iter().any(|x| x.as_rule() == Rule::k_global);
            StateOptAst::Overload {
                table,
                flush,
                global,
            }
        }
        Rule::k_if_bound => StateOptAst::IfBound,
        Rule::k_floating => StateOptAst::Floating,
        Rule::k_sloppy => StateOptAst::Sloppy,
        Rule::k_pflow => StateOptAst::Pflow,
        _ => {
            let name = args.next().map(string_of).unwrap_or_default();
            StateOptAst::Timeout(name, num_text(args.next()))
        }
    }
}

fn filter_opt(p: Pair<'_, Rule>) -> FilterOpt {
    let rule = p.as_rule();
    match rule {
        Rule::opt_user | Rule::opt_group => {
            let spec = children(p).next();
            let list = spec.map(|s| items(s, Rule::id_item)).unwrap_or_default();
            if rule == Rule::opt_user {
                FilterOpt::User(list)
            } else {
                FilterOpt::Group(list)
            }
        }
        Rule::opt_flags => {
            let mut f = None;
            let mut m = None;
            for x in p.into_inner() {
                match x.as_rule() {
                    Rule::flag_set => f = Some(x.as_str().to_string()),
                    Rule::flag_mask => m = Some(x.as_str().to_string()),
                    _ => {}
                }
            }
            FilterOpt::Flags(f, m)
        }
        Rule::opt_icmp_type | Rule::opt_icmp6_type => {
            let list = children(p).next();
            let items = list
                .map(|l| {
                    l.into_inner()
                        .filter(|x| x.as_rule() == Rule::icmp_item)
                        .map(|i| {
                            let mut it = children(i);
                            let typ = it.next().map(string_of).unwrap_or_default();
                            let code = it.next().map(string_of);
                            IcmpItemAst { typ, code }
                        })
                        .collect()
                })
                .unwrap_or_default();
            FilterOpt::IcmpType {
                v6: rule == Rule::opt_icmp6_type,
                items,
            }
        }
        Rule::opt_keep => {
            let mut kind = KeepAst::Keep;
            let mut opts = vec![];
            for x in p.into_inner() {
                match x.as_rule() {
                    Rule::keep_kind => {
                        kind = match first(x).as_rule() {
                            Rule::k_no => KeepAst::No,
                            Rule::k_modulate => KeepAst::Modulate,
                            Rule::k_synproxy => KeepAst::Synproxy,
                            _ => KeepAst::Keep,
                        }
                    }
                    Rule::state_opt_spec => {
                        opts = x
                            .into_inner()
                            .filter(|y| y.as_rule() == Rule::state_opt)
                            .map(state_opt)
                            .collect()
                    }
                    _ => {}
                }
            }
            FilterOpt::Keep(kind, opts)
        }
        Rule::opt_label => FilterOpt::Label(children(p).next().map(string_of).unwrap_or_default()),
        Rule::opt_tag => FilterOpt::Tag(children(p).next().map(string_of).unwrap_or_default()),
        Rule::opt_tagged => {
            let mut neg = false;
            let mut name = String::new();
            for x in p.into_inner() {
                match x.as_rule() {
                    Rule::not => neg = true,
                    Rule::strings => name = string_of(x),
                    _ => {}
                }
            }
            FilterOpt::Tagged { neg, name }
        }
        Rule::opt_nat_to => FilterOpt::NatTo(redir(p)),
        Rule::opt_rdr_to => FilterOpt::RdrTo(redir(p)),
        Rule::opt_binat_to => FilterOpt::BinatTo(redir(p)),
        Rule::opt_af_to => {
            let mut af = Af::Inet;
            let mut parts: Vec<RedirAst> = vec![];
            for x in p.into_inner() {
                match x.as_rule() {
                    Rule::af => {
                        af = if first(x).as_rule() == Rule::k_inet6 {
                            Af::Inet6
                        } else {
                            Af::Inet
                        }
                    }
                    Rule::redirpool => {
                        let mut one = RedirAst::default();
                        one = merge_redir(one, x);
                        parts.push(one);
                    }
                    Rule::pool_opt => {
                        if let Some(last) = parts.last_mut() {
                            last.opts.push(pool_opt(x));
                        }
                    }
                    _ => {}
                }
            }
            let mut it = parts.into_iter();
            let from = it.next().unwrap_or_default();
            FilterOpt::AfTo {
                af,
                from,
                to: it.next(),
            }
        }
        Rule::opt_route => {
            let kind = match p.clone().into_inner().next().map(|x| x.as_rule()) {
                Some(Rule::k_reply_to) => RouteKind::ReplyTo,
                Some(Rule::k_dup_to) => RouteKind::DupTo,
                _ => RouteKind::RouteTo,
            };
            FilterOpt::Route(kind, redir(p))
        }
        Rule::opt_divert_to => {
            let mut it = children(p);
            let host = it.next().map(string_of).unwrap_or_default();
            let port = it.next().map(|x| string_of(first(x))).unwrap_or_default();
            FilterOpt::DivertTo { host, port }
        }
        Rule::k_divert_reply => FilterOpt::DivertReply,
        Rule::opt_divert_packet => FilterOpt::DivertPacket(
            children(p)
                .next()
                .map(|x| string_of(first(x)))
                .unwrap_or_default(),
        ),
        Rule::opt_scrub => FilterOpt::Scrub(
            p.into_inner()
                .filter(|x| x.as_rule() == Rule::scrub_opt)
                .map(|x| {
                    let o = first(x);
                    let arg = || {
                        children(o.clone())
                            .next()
                            .map(|a| a.as_str().to_string())
                            .unwrap_or_default()
                    };
                    match o.as_rule() {
                        Rule::k_no_df => ScrubOptAst::NoDf,
                        Rule::k_random_id => ScrubOptAst::RandomId,
                        Rule::scrub_min_ttl => ScrubOptAst::MinTtl(arg()),
                        Rule::scrub_max_mss => ScrubOptAst::MaxMss(arg()),
                        _ => ScrubOptAst::Reassemble(
                            children(o.clone())
                                .next()
                                .map(string_of)
                                .unwrap_or_default(),
                        ),
                    }
                })
                .collect(),
        ),
        Rule::opt_prio => FilterOpt::Prio(arg_text(p)),
        Rule::opt_tos => FilterOpt::Tos(arg_text(p)),
        Rule::opt_probability => FilterOpt::Probability(arg_text(p)),
        Rule::opt_rtable => FilterOpt::Rtable(arg_text(p)),
        Rule::opt_received_on => {
            let (neg, name) = not_if_item(p);
            FilterOpt::ReceivedOn { neg, name }
        }
        Rule::opt_max_pkt_rate => {
            let mut it = children(p).map(|x| x.as_str().to_string());
            FilterOpt::MaxPktRate(it.next().unwrap_or_default(), it.next().unwrap_or_default())
        }
        Rule::opt_queue => qname(children(p).next()),
        Rule::k_fragment => FilterOpt::Fragment,
        Rule::k_allow_opts => FilterOpt::AllowOpts,
        _ => FilterOpt::Once,
    }
}

/// The text of an option's single argument (number or word).
fn arg_text(p: Pair<'_, Rule>) -> String {
    children(p)
        .next()
        .map(|x| {
            if x.as_rule() == Rule::string {
                string_of(x)
            } else {
                x.as_str().to_string()
            }
        })
        .unwrap_or_default()
}

fn qname(q: Option<Pair<'_, Rule>>) -> FilterOpt {
    let mut names = q
        .map(|q| q.into_inner().map(string_of).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter();
    FilterOpt::Queue(names.next().unwrap_or_default(), names.next())
}

/// `set (prio ..., queue ..., tos ..., delay ...)`: one option each.
fn set_items(p: Pair<'_, Rule>) -> Vec<FilterOpt> {
    p.into_inner()
        .filter(|x| x.as_rule() == Rule::set_item)
        .map(|x| {
            let o = first(x);
            match o.as_rule() {
                Rule::set_prio => {
                    let n: Vec<String> = children(o).map(|x| x.as_str().to_string()).collect();
                    let a = n.first().cloned().unwrap_or_default();
                    let b = n.get(1).cloned().unwrap_or_else(|| a.clone());
                    FilterOpt::SetPrio(a, b)
                }
                Rule::set_queue => qname(children(o).next()),
                Rule::set_tos => FilterOpt::SetTos(arg_text(o)),
                _ => FilterOpt::SetDelay(arg_text(o)),
            }
        })
        .collect()
}

fn pool_opt(x: Pair<'_, Rule>) -> PoolOptAst {
    let o = first(x);
    match o.as_rule() {
        Rule::k_bitmask => PoolOptAst::Bitmask,
        Rule::k_random => PoolOptAst::Random,
        Rule::k_round_robin => PoolOptAst::RoundRobin,
        Rule::k_least_states => PoolOptAst::LeastStates,
        Rule::k_static_port => PoolOptAst::StaticPort,
        Rule::k_sticky_address => PoolOptAst::StickyAddress,
        _ => PoolOptAst::SourceHash(children(o).next().map(string_of)),
    }
}

/// The hosts of a `redirspec`, their weights, and whether they were braced.
fn redirspec(r: &mut RedirAst, x: Pair<'_, Rule>) {
    r.braced = x.as_str().trim_start().starts_with('{');
    r.hosts.clear();
    r.weights.clear();
    for item in x.into_inner() {
        let mut it = item.into_inner().filter(|y| y.as_rule() != Rule::k_weight);
        if let Some(h) = it.next() {
            r.hosts.push(host(h));
            r.weights.push(it.next().map(string_of));
        }
    }
}

fn merge_redir(mut r: RedirAst, x: Pair<'_, Rule>) -> RedirAst {
    for y in x.into_inner() {
        match y.as_rule() {
            Rule::redirspec => redirspec(&mut r, y),
            Rule::port_word => r.port = Some(string_of(first(y))),
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::source::{Macros, Splitter};

    fn parse1(s: &str) -> Result<Statement, String> {
        let mut sp = Splitter::new(s, "t");
        let st = sp.next_statement(&Macros::new()).unwrap().unwrap();
        parse_statement(&st, "t").map_err(|e| e.to_string())
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

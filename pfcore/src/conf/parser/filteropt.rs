//! Filter options of a rule (`flags`, `keep state (...)`, `nat-to`,
//! `route-to`, `set (...)`, ...) and the pools they name: grammar pairs →
//! `FilterOpt`, `StateOptAst`, `RedirAst`.

use super::host::{host, items, not_if_item};
use super::pairs::{children, first, string_of, Rule};
use crate::addr::Af;
use crate::conf::ast::*;
use crate::ruleset::RouteKind;
use pest::iterators::Pair;

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

pub(super) fn state_opt(p: Pair<'_, Rule>) -> StateOptAst {
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

pub(super) fn filter_opt(p: Pair<'_, Rule>) -> FilterOpt {
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
        Rule::opt_icmp_type | Rule::opt_icmp6_type => icmp_type(p, rule == Rule::opt_icmp6_type),
        Rule::opt_keep => keep(p),
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
        Rule::opt_af_to => af_to(p),
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
        Rule::opt_scrub => scrub(p),
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
        Rule::opt_limiter => {
            let (mut source, mut name, mut block) = (false, String::new(), None);
            for c in children(p) {
                match c.as_rule() {
                    Rule::limiter_kind => source = first(c).as_rule() == Rule::kl_source,
                    Rule::string => name = string_of(c),
                    Rule::limiter_action => block = Some(first(c).as_rule() == Rule::k_block),
                    _ => {}
                }
            }
            FilterOpt::Limiter {
                source,
                name,
                block,
            }
        }
        Rule::k_fragment => FilterOpt::Fragment,
        Rule::k_allow_opts => FilterOpt::AllowOpts,
        _ => FilterOpt::Once,
    }
}

/// `icmp-type` / `icmp6-type` with their codes.
fn icmp_type(p: Pair<'_, Rule>, v6: bool) -> FilterOpt {
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
    FilterOpt::IcmpType { v6, items }
}

/// `no state`, `keep state`, `modulate state`, `synproxy state`, with `( ... )`.
fn keep(p: Pair<'_, Rule>) -> FilterOpt {
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

/// `af-to inet|inet6 from pool [to pool]`.
fn af_to(p: Pair<'_, Rule>) -> FilterOpt {
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

/// `scrub ( ... )`.
fn scrub(p: Pair<'_, Rule>) -> FilterOpt {
    FilterOpt::Scrub(
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
    )
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
pub(super) fn set_items(p: Pair<'_, Rule>) -> Vec<FilterOpt> {
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

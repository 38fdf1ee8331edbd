//! pfctl's `rule_consistent`: the checks of one expanded rule as a whole
//! (protocol-specific parts on other protocols, state on non-pass rules,
//! translations without state, ...).

use super::{warn_msg, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use crate::addr::Af;
use crate::ruleset::{Action, BlockReturn, Direction, Divert, KeepState, Rule};

/// pfctl's rule_consistent.
pub(super) fn rule_consistent(r: &Rule, routed: bool) -> Vec<String> {
    let mut p = vec![];
    let tcp_udp = matches!(r.proto, Some(IPPROTO_TCP) | Some(IPPROTO_UDP));
    if r.proto != Some(IPPROTO_TCP) && r.extras.os.is_some() {
        p.push("os only applies to tcp".to_string());
    }
    if !tcp_udp && (r.from.port.is_some() || r.to.port.is_some()) {
        p.push("port only applies to tcp/udp".to_string());
    }
    if !tcp_udp && r.user.is_some() {
        p.push("user only applies to tcp/udp".to_string());
    }
    if !tcp_udp && r.group.is_some() {
        p.push("group only applies to tcp/udp".to_string());
    }
    if r.icmp_type.is_some() && !matches!(r.proto, Some(IPPROTO_ICMP) | Some(IPPROTO_ICMPV6)) {
        p.push("icmp-type/code only applies to icmp".to_string());
    }
    if r.af.is_none() && r.icmp_type.is_some() {
        p.push("must indicate address family with icmp-type/code".to_string());
    }
    match (r.proto, r.af) {
        (Some(IPPROTO_ICMP), Some(Af::Inet6)) => {
            p.push("proto icmp doesn't match address family inet6".into())
        }
        (Some(IPPROTO_ICMPV6), Some(Af::Inet)) => {
            p.push("proto icmp6 doesn't match address family inet".into())
        }
        _ => {}
    }
    if r.action == Action::Block
        && matches!(r.block, BlockReturn::ReturnRst { .. })
        && r.proto != Some(IPPROTO_TCP)
    {
        p.push("return-rst can only be applied to TCP rules".into());
    }
    if r.extras.af_to.is_some() && r.af == r.extras.af_to {
        p.push("must indicate different address family with af-to".into());
    }
    if r.extras.allow_opts && r.action != Action::Pass {
        p.push("allow-opts can only be specified for pass rules".into());
    }
    if r.extras.fragment
        && (r.from.port.is_some()
            || r.to.port.is_some()
            || r.flags.is_some_and(|f| f.mask != 0)
            || r.icmp_type.is_some())
    {
        p.push("fragments can be filtered only on IP header fields".into());
    }
    if r.action != Action::Pass && r.keep_state != KeepState::None {
        p.push("keep state is great, but only for pass rules".into());
    }
    if routed && r.keep_state == KeepState::None {
        p.push("route-to, reply-to and dup-to require keep state".into());
    }
    if r.state_opts.sloppy && matches!(r.keep_state, KeepState::Modulate | KeepState::Synproxy) {
        p.push("sloppy state matching cannot be used with synproxy state or modulate state".into());
    }
    if r.keep_state == KeepState::Synproxy && r.direction != Direction::In {
        p.push(warn_msg(
            "synproxy used for inbound rules only, ignored for outbound",
        ));
    }
    let translates = r.nat_to.is_some() || r.rdr_to.is_some();
    if translates && r.action != Action::Match && r.keep_state == KeepState::None {
        p.push("nat-to and rdr-to require keep state".into());
    }
    if translates && r.direction == Direction::InOut {
        p.push("nat-to and rdr-to require a direction".into());
    }
    if r.af == Some(Af::Inet6) && (r.extras.scrub.no_df || r.extras.scrub.random_id) {
        p.push("address family inet6 does not support scrub options no-df, random-id".into());
    }
    match r.action {
        Action::Match => {
            if r.extras.divert != Divert::None {
                p.push("divert is not supported on match rules".into());
            }
            if routed {
                p.push("route-to, reply-to and dup-to are not supported on match rules".into());
            }
            if r.extras.af_to.is_some() {
                p.push("af-to is not supported on match rules".into());
            }
        }
        Action::Block => {
            if routed {
                p.push("route-to, reply-to and dup-to are not supported on block rules".into());
            }
        }
        Action::Pass => {}
    }
    p
}

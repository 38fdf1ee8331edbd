//! One rule as `pfctl -sr` / `pfctl -nv` print it: the token order and
//! spelling of pfctl's `print_rule`, `print_fromto`, `print_addr`,
//! `print_port`, `print_ugid`, `print_flags` and `print_pool`. Ports and
//! ids are printed as numbers, protocols by name when the resolver knows
//! one.

use crate::addr::{Af, IpNet};
use crate::conf::names;
use crate::conf::resolver::Resolver;
use crate::ruleset::*;
use std::fmt::Write;

/// One rule as `pfctl -sr` prints it, without a trailing newline.
pub fn print_rule(rule: &Rule, resolver: &dyn Resolver) -> String {
    print_rule_tblcnt(rule, resolver, None)
}

/// A table's size as pf reports it with a rule (`tblcnt`): its number of
/// addresses, -1 when the table is not active.
pub type TableCount<'a> = &'a dyn Fn(&str) -> i64;

/// `print_rule` as `pfctl -vv -sr` prints it: with `tblcnt`, a table in
/// `from` or `to` prints with its size (`<name:N>`, `<name:*>` when it is
/// not active).
pub fn print_rule_tblcnt(
    rule: &Rule,
    resolver: &dyn Resolver,
    tblcnt: Option<TableCount>,
) -> String {
    let mut s = String::new();
    print_action(&mut s, rule);
    print_head(&mut s, rule, resolver);
    print_fromto(&mut s, rule, tblcnt);
    print_filter(&mut s, rule);
    print_packet_opts(&mut s, &rule.extras);
    print_state_and_marks(&mut s, rule);
    print_translations(&mut s, rule);
    s
}

/// `pass`, `block drop|return...`, `match`, `anchor "name"`.
fn print_action(s: &mut String, rule: &Rule) {
    match &rule.anchor {
        // pfctl prints no name for anonymous anchors (its "_N" names).
        Some(a) if a.name.is_empty() || is_anonymous(&a.name) => s.push_str("anchor"),
        Some(a) => {
            let _ = write!(s, "anchor \"{}\"", a.name);
        }
        None => s.push_str(match rule.action {
            Action::Pass => "pass",
            Action::Block => "block",
            Action::Match => "match",
        }),
    }
    if rule.action == Action::Block {
        match rule.block {
            BlockReturn::Drop => s.push_str(" drop"),
            BlockReturn::Return => s.push_str(" return"),
            BlockReturn::ReturnRst { ttl: 0 } => s.push_str(" return-rst"),
            BlockReturn::ReturnRst { ttl } => {
                let _ = write!(s, " return-rst(ttl {ttl})");
            }
            BlockReturn::ReturnIcmp { icmp, icmp6 } => {
                let c4 = names::icmp_code_name(icmp.0, icmp.1, false)
                    .map(str::to_string)
                    .unwrap_or_else(|| icmp.1.to_string());
                let c6 = names::icmp_code_name(icmp6.0, icmp6.1, true)
                    .map(str::to_string)
                    .unwrap_or_else(|| icmp6.1.to_string());
                match rule.af {
                    Some(Af::Inet) => {
                        let _ = write!(s, " return-icmp({c4})");
                    }
                    Some(Af::Inet6) => {
                        let _ = write!(s, " return-icmp6({c6})");
                    }
                    None => {
                        let _ = write!(s, " return-icmp({c4}, {c6})");
                    }
                }
            }
        }
    }
}

/// Direction, `log`, `quick`, `on`, family, protocol.
fn print_head(s: &mut String, rule: &Rule, resolver: &dyn Resolver) {
    match rule.direction {
        Direction::In => s.push_str(" in"),
        Direction::Out => s.push_str(" out"),
        Direction::InOut => {}
    }
    if rule.log.enabled {
        s.push_str(" log");
        let l = &rule.log;
        if l.all || l.matches || l.user || l.ifnum != 0 {
            let mut parts: Vec<String> = vec![];
            if l.all {
                parts.push("all".into());
            }
            if l.matches {
                parts.push("matches".into());
            }
            if l.user {
                parts.push("user".into());
            }
            if l.ifnum != 0 {
                parts.push(format!("to pflog{}", l.ifnum));
            }
            let _ = write!(s, " ({})", parts.join(", "));
        }
    }
    if rule.quick {
        s.push_str(" quick");
    }
    if let Some(on) = &rule.on {
        if on.neg {
            let _ = write!(s, " on ! {}", on.name);
        } else {
            let _ = write!(s, " on {}", on.name);
        }
    }
    if let Some(d) = rule.extras.on_rdomain {
        if rule.extras.on_rdomain_not {
            let _ = write!(s, " on ! rdomain {d}");
        } else {
            let _ = write!(s, " on rdomain {d}");
        }
    }
    match rule.af {
        Some(Af::Inet) => s.push_str(" inet"),
        Some(Af::Inet6) => s.push_str(" inet6"),
        None => {}
    }
    if let Some(p) = rule.proto {
        match resolver.protocol_name(p) {
            Some(n) => {
                let _ = write!(s, " proto {n}");
            }
            None => {
                let _ = write!(s, " proto {p}");
            }
        }
    }
}

/// `received-on`, `user`, `group`, `flags`, `icmp-type`.
fn print_filter(s: &mut String, rule: &Rule) {
    let x = &rule.extras;
    if let Some(rcv) = &x.received_on {
        let _ = write!(
            s,
            " {}received-on {}",
            if rcv.neg { "!" } else { "" },
            rcv.name
        );
    }
    if let Some(u) = &rule.user {
        print_ugid(s, u, "user");
    }
    if let Some(g) = &rule.group {
        print_ugid(s, g, "group");
    }
    match rule.flags {
        Some(f) if f.flags != 0 || f.mask != 0 => {
            let _ = write!(
                s,
                " flags {}/{}",
                names::flags_to_string(f.flags),
                names::flags_to_string(f.mask)
            );
        }
        _ => {
            if matches!(rule.action, Action::Pass | Action::Match)
                && matches!(rule.proto, None | Some(6))
                && !x.fragment
                && rule.keep_state != KeepState::None
                && !rule.is_anchor()
            {
                s.push_str(" flags any");
            }
        }
    }
    if let Some((typ, code)) = rule.icmp_type {
        let v6 = rule.af == Some(Af::Inet6);
        s.push_str(if v6 { " icmp6-type" } else { " icmp-type" });
        match names::icmp_type_name(typ, v6) {
            Some(n) => {
                let _ = write!(s, " {n}");
            }
            None => {
                let _ = write!(s, " {typ}");
            }
        }
        if let Some(c) = code {
            match names::icmp_code_name(typ, c, v6) {
                Some(n) => {
                    let _ = write!(s, " code {n}");
                }
                None => {
                    let _ = write!(s, " code {c}");
                }
            }
        }
    }
}

/// `tos`, `prio`, `max-pkt-rate`, `set (...)`.
fn print_packet_opts(s: &mut String, x: &RuleExtras) {
    if let Some(t) = x.tos {
        let _ = write!(s, " tos 0x{t:02x}");
    }
    if let Some(p) = x.prio {
        let _ = write!(s, " prio {p}");
    }
    if let Some((l, sec)) = x.max_pkt_rate {
        let _ = write!(s, " max-pkt-rate {l}/{sec}");
    }
    if x.set_prio.is_some() || x.queue.is_some() || x.set_tos.is_some() || x.delay.is_some() {
        let mut parts: Vec<String> = vec![];
        match x.set_prio {
            Some((a, b)) if a == b => parts.push(format!("prio {a}")),
            Some((a, b)) => parts.push(format!("prio({a}, {b})")),
            None => {}
        }
        match &x.queue {
            Some((q, Some(pq))) => parts.push(format!("queue({q}, {pq})")),
            Some((q, None)) => parts.push(format!("queue {q}")),
            None => {}
        }
        if let Some(t) = x.set_tos {
            parts.push(format!("tos 0x{t:02x}"));
        }
        if let Some(d) = x.delay {
            parts.push(format!("delay {d}"));
        }
        let _ = write!(s, " set ({})", parts.join(", "));
    }
}

/// State, `probability`, state options, `fragment`, `scrub`,
/// `allow-opts`, `label`, `once`, tags, `rtable`.
fn print_state_and_marks(s: &mut String, rule: &Rule) {
    let x = &rule.extras;
    let so = &rule.state_opts;
    match rule.keep_state {
        KeepState::None if rule.action == Action::Pass && !rule.is_anchor() => {
            s.push_str(" no state")
        }
        KeepState::None => {}
        KeepState::Keep => {
            if so.any() {
                s.push_str(" keep state");
            }
        }
        KeepState::Modulate => s.push_str(" modulate state"),
        KeepState::Synproxy => s.push_str(" synproxy state"),
    }
    if x.probability != 0 {
        let _ = write!(s, " probability {}%", probability_text(x.probability));
    }
    if so.any() {
        print_state_opts(s, so);
    }
    for (kind, u) in [("state", &x.state_limiter), ("source", &x.source_limiter)] {
        if let Some(u) = u {
            let how = if u.block { "block" } else { "no-match" };
            let _ = write!(s, " {kind} limiter {} ({how})", u.name);
        }
    }
    if x.fragment {
        s.push_str(" fragment");
    }
    let sc = &x.scrub;
    if sc.any() {
        let mut parts: Vec<String> = vec![];
        if sc.no_df {
            parts.push("no-df".into());
        }
        if sc.random_id {
            parts.push("random-id".into());
        }
        if sc.min_ttl != 0 {
            parts.push(format!("min-ttl {}", sc.min_ttl));
        }
        if sc.reassemble_tcp {
            parts.push("reassemble tcp".into());
        }
        if sc.max_mss != 0 {
            parts.push(format!("max-mss {}", sc.max_mss));
        }
        let _ = write!(s, " scrub ({})", parts.join(" "));
    }
    if x.allow_opts {
        s.push_str(" allow-opts");
    }
    if let Some(l) = &rule.label {
        let _ = write!(s, " label \"{l}\"");
    }
    if x.once {
        s.push_str(" once");
    }
    if let Some(t) = &rule.tag {
        let _ = write!(s, " tag {t}");
    }
    if let Some((neg, t)) = &rule.tagged {
        if *neg {
            s.push_str(" !");
        }
        let _ = write!(s, " tagged {t}");
    }
    if let Some(t) = x.rtable {
        let _ = write!(s, " rtable {t}");
    }
}

/// `divert-*`, `af-to`, `nat-to`, `rdr-to`, `route-to` and its kin.
fn print_translations(s: &mut String, rule: &Rule) {
    let x = &rule.extras;
    match x.divert {
        Divert::None => {}
        Divert::To(a, p) => {
            let _ = write!(s, " divert-to {a} port {p}");
        }
        Divert::Reply => s.push_str(" divert-reply"),
        Divert::Packet(p) => {
            let _ = write!(s, " divert-packet port {p}");
        }
    }
    if let (Some(naf), Some(p)) = (x.af_to, &rule.nat_to) {
        let _ = write!(
            s,
            " af-to {} from ",
            if naf == Af::Inet { "inet" } else { "inet6" }
        );
        print_pool(s, p, false);
        if let Some(p) = &rule.rdr_to {
            s.push_str(" to ");
            print_pool(s, p, true);
        }
    } else if let Some(p) = &rule.nat_to {
        s.push_str(" nat-to ");
        print_pool(s, p, false);
    } else if let Some(p) = &rule.rdr_to {
        s.push_str(" rdr-to ");
        print_pool(s, p, true);
    }
    if let Some((kind, p)) = &x.route {
        s.push_str(match kind {
            RouteKind::RouteTo => " route-to ",
            RouteKind::ReplyTo => " reply-to ",
            RouteKind::DupTo => " dup-to ",
        });
        print_pool(s, p, true);
    }
}

/// pfctl prints a probability with `%f` and strips trailing zeros.
fn probability_text(p: u32) -> String {
    let mut t = format!("{:.6}", p as f64 * 100.0 / (u32::MAX as f64 + 1.0));
    while t.ends_with('0') {
        t.pop();
    }
    if t.ends_with('.') {
        t.pop();
    }
    t
}

fn print_state_opts(s: &mut String, o: &StateOpts) {
    let mut parts: Vec<String> = vec![];
    if o.max_states != 0 {
        parts.push(format!("max {}", o.max_states));
    }
    if o.no_sync {
        parts.push("no-sync".into());
    }
    if let Some(t) = o.source_track {
        parts.push(format!(
            "source-track {}",
            if t == SourceTrack::Rule {
                "rule"
            } else {
                "global"
            }
        ));
    }
    if o.max_src_states != 0 {
        parts.push(format!("max-src-states {}", o.max_src_states));
    }
    if o.max_src_conn != 0 {
        parts.push(format!("max-src-conn {}", o.max_src_conn));
    }
    if let Some((l, sec)) = o.max_src_conn_rate {
        parts.push(format!("max-src-conn-rate {l}/{sec}"));
    }
    if o.max_src_nodes != 0 {
        parts.push(format!("max-src-nodes {}", o.max_src_nodes));
    }
    if let Some(ov) = &o.overload {
        let mut t = format!("overload <{}>", ov.table);
        if ov.flush {
            t.push_str(" flush");
        }
        if ov.global {
            t.push_str(" global");
        }
        parts.push(t);
    }
    if o.if_bound {
        parts.push("if-bound".into());
    }
    if o.sloppy {
        parts.push("sloppy".into());
    }
    if o.pflow {
        parts.push("pflow".into());
    }
    for (t, v) in &o.timeouts {
        parts.push(format!("{} {v}", t.name()));
    }
    let _ = write!(s, " ({})", parts.join(", "));
}

fn is_zero_net(n: &IpNet) -> bool {
    n.prefix == 0 && n.addr.is_unspecified()
}

fn is_any(e: &Endpoint) -> bool {
    match &e.addr {
        AddrKind::Any => true,
        AddrKind::Net(n) => is_zero_net(n),
        _ => false,
    }
}

fn print_fromto(s: &mut String, r: &Rule, tblcnt: Option<TableCount>) {
    if is_any(&r.from)
        && is_any(&r.to)
        && !r.from.neg
        && !r.to.neg
        && r.from.port.is_none()
        && r.to.port.is_none()
        && r.extras.os.is_none()
    {
        s.push_str(" all");
        return;
    }
    for (kw, e) in [(" from ", &r.from), (" to ", &r.to)] {
        s.push_str(kw);
        if e.neg {
            s.push_str("! ");
        }
        match (&e.addr, tblcnt) {
            (AddrKind::Table(t), Some(count)) => match count(t) {
                -1 => {
                    let _ = write!(s, "<{t}:*>");
                }
                n => {
                    let _ = write!(s, "<{t}:{n}>");
                }
            },
            (a, _) => s.push_str(&addr_string(a)),
        }
        if let Some(p) = &e.port {
            s.push_str(" port");
            print_port_op(s, p);
        }
        // the source's OS fingerprint, before ` to`
        if let (" from ", Some(os)) = (kw, &r.extras.os) {
            let _ = write!(s, " os \"{os}\"");
        }
    }
}

/// An address as pfctl's `print_addr` shows it (without verbose counters).
pub fn addr_string(a: &AddrKind) -> String {
    match a {
        AddrKind::Any => "any".into(),
        AddrKind::Net(n) if is_zero_net(n) => "any".into(),
        AddrKind::Net(n) => n.to_string(),
        AddrKind::Range(x, y) => format!("{x} - {y}"),
        AddrKind::NoRoute => "no-route".into(),
        AddrKind::UrpfFailed => "urpf-failed".into(),
        AddrKind::Table(t) => format!("<{t}>"),
        AddrKind::RouteLabel(l) => format!("route \"{l}\""),
        AddrKind::Dynamic {
            ifname,
            modifier,
            mask,
        } => {
            let m = match modifier.mode() {
                DynModifier::Network => ":network",
                DynModifier::Broadcast => ":broadcast",
                DynModifier::Peer => ":peer",
                _ => "",
            };
            let z = if modifier.no_alias() { ":0" } else { "" };
            // print_addr: no mask when it is zero (address and mask both
            // zero); expansion has dropped the full-length ones
            match mask {
                Some(b) if *b != 0 => format!("({ifname}{m}{z})/{b}"),
                _ => format!("({ifname}{m}{z})"),
            }
        }
    }
}

fn print_op(s: &mut String, op: &str, a: &str, b: &str) {
    let _ = match op {
        "><" | "<>" => write!(s, " {a} {op} {b}"),
        ":" => write!(s, " {a}:{b}"),
        _ => write!(s, " {op} {a}"),
    };
}

fn print_port_op(s: &mut String, p: &PortOp) {
    let (op, a, b) = match *p {
        PortOp::Eq(a) => ("=", a, 0),
        PortOp::Ne(a) => ("!=", a, 0),
        PortOp::Lt(a) => ("<", a, 0),
        PortOp::Le(a) => ("<=", a, 0),
        PortOp::Gt(a) => (">", a, 0),
        PortOp::Ge(a) => (">=", a, 0),
        PortOp::Inside(a, b) => ("><", a, b),
        PortOp::Outside(a, b) => ("<>", a, b),
        PortOp::Range(a, b) => (":", a, b),
    };
    print_op(s, op, &a.to_string(), &b.to_string());
}

fn print_ugid(s: &mut String, id: &IdOp, what: &str) {
    let (op, a, b) = match *id {
        IdOp::Eq(a) => ("=", a, 0),
        IdOp::Ne(a) => ("!=", a, 0),
        IdOp::Lt(a) => ("<", a, 0),
        IdOp::Le(a) => ("<=", a, 0),
        IdOp::Gt(a) => (">", a, 0),
        IdOp::Ge(a) => (">=", a, 0),
        IdOp::Inside(a, b) => ("><", a, b),
        IdOp::Outside(a, b) => ("<>", a, b),
        IdOp::Range(a, b) => (":", a, b),
    };
    let _ = write!(s, " {what}");
    let a_str = if a == u32::MAX && matches!(op, "=" | "!=") {
        "unknown".to_string()
    } else {
        a.to_string()
    };
    print_op(s, op, &a_str, &b.to_string());
}

fn print_pool(s: &mut String, p: &Pool, rdr: bool) {
    if let Some(t) = &p.auto_table {
        let _ = write!(s, "<{t}>");
    } else {
        print_pool_addrs(s, p);
    }
    print_pool_opts(s, p, rdr);
}

fn print_pool_addrs(s: &mut String, p: &Pool) {
    match p.addrs.as_slice() {
        [one] => s.push_str(&addr_string(one)),
        many => {
            let list: Vec<String> = many.iter().map(addr_string).collect();
            let _ = write!(s, "{{ {} }}", list.join(", "));
        }
    }
}

fn print_pool_opts(s: &mut String, p: &Pool, rdr: bool) {
    let (p1, p2) = p.proxy_port;
    if rdr {
        if p1 != 0 {
            let _ = write!(s, " port {p1}");
            if p2 != 0 && p2 != p1 {
                let _ = write!(s, ":{p2}");
            }
        }
    } else if (p1, p2) != (0, 0) {
        if p1 == p2 {
            let _ = write!(s, " port {p1}");
        } else {
            let _ = write!(s, " port {p1}:{p2}");
        }
    }
    match p.pool_type {
        PoolType::None => {}
        PoolType::Bitmask => s.push_str(" bitmask"),
        PoolType::Random => s.push_str(" random"),
        PoolType::SourceHash => {
            let k = p.hash_key;
            let _ = write!(
                s,
                " source-hash 0x{:08x}{:08x}{:08x}{:08x}",
                k[0], k[1], k[2], k[3]
            );
        }
        PoolType::RoundRobin => s.push_str(" round-robin"),
        PoolType::LeastStates => s.push_str(" least-states"),
    }
    if p.sticky_address {
        s.push_str(" sticky-address");
    }
    if !rdr && p.static_port {
        s.push_str(" static-port");
    }
}

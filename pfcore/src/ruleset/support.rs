//! What pfd enforces: the check `pfctl -f` (and pfd itself, at commit)
//! makes before a ruleset is loaded. A rule pfd loads is either enforced
//! or refused; nothing is silently ignored.
//!
//! Every rule option and `set` option that pfd cannot enforce is listed
//! here with the reason. Such a ruleset is refused whole, with
//! `file:line: what: not supported on Linux (why)`, and the running one
//! stays. Options that cannot make a rule pass more or block less (queue
//! names, priorities) load with a warning instead. `pfctl -n` does not
//! make this check: the language stays OpenBSD's.
//!
//! When a feature becomes enforced, its line goes from here to the engine.

use super::{
    AddrKind, Direction, Directive, Divert, DynModifier, Endpoint, Limit, Options, Pool, Rule,
    Ruleset,
};

/// One thing of a ruleset that pfd cannot do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The file the rule came from (a `load anchor` file), or None for the
    /// main file.
    pub file: Option<String>,
    /// Line of the rule or option, 0 if unknown.
    pub line: u32,
    /// The keyword, as pf.conf spells it.
    pub what: String,
    /// Why (a Linux limit, or "not implemented in pfd yet").
    pub why: &'static str,
}

impl Unsupported {
    /// `file:line: what: not supported on Linux (why)`.
    pub fn message(&self, main_file: &str) -> String {
        let file = self.file.as_deref().unwrap_or(main_file);
        format!(
            "{file}:{}: {}: not supported on Linux ({})",
            self.line, self.what, self.why
        )
    }
}

/// What `check` found: `refused` non-empty means the ruleset must not load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Support {
    pub refused: Vec<Unsupported>,
    /// Loaded, but without effect (printed as warnings).
    pub warnings: Vec<Unsupported>,
}

impl Support {
    pub fn ok(&self) -> bool {
        self.refused.is_empty()
    }
}

/// pflog interfaces pfd makes: pflog0 .. pflog15.
pub const PFLOG_UNITS: u8 = 16;

/// Reason for what is not built yet.
pub const NOT_YET: &str = "not implemented in pfd yet";

/// Check a whole ruleset as pfctl has it: options, directives, rules (in
/// anchors too) and the `load anchor` files.
pub fn check(rs: &Ruleset) -> Support {
    let mut s = Support::default();
    check_options(&rs.options, &mut s);
    check_directives(&rs.directives, &mut s);
    check_rules(&rs.rules, None, &mut s);
    let mut every = Vec::new();
    all_rules(&rs.rules, &mut every);
    for la in &rs.loads {
        let file = Some(la.file.clone());
        check_directives(&la.ruleset.directives, &mut s);
        check_rules(&la.ruleset.rules, file, &mut s);
        all_rules(&la.ruleset.rules, &mut every);
    }
    check_selectors(&every, &mut s);
    check_weighted_tables(rs, &every, &mut s);
    s
}

/// The check pfd makes at commit: the rules and options it was sent.
pub fn check_loaded(rules: &[Rule], options: &Options) -> Support {
    let mut s = Support::default();
    check_options(options, &mut s);
    check_rules(rules, None, &mut s);
    let mut every = Vec::new();
    all_rules(rules, &mut every);
    check_selectors(&every, &mut s);
    s
}

fn refuse(s: &mut Support, file: &Option<String>, line: u32, what: &str, why: &'static str) {
    s.refused.push(Unsupported {
        file: file.clone(),
        line,
        what: what.to_string(),
        why,
    });
}

fn warn(s: &mut Support, file: &Option<String>, line: u32, what: &str, why: &'static str) {
    s.warnings.push(Unsupported {
        file: file.clone(),
        line,
        what: what.to_string(),
        why,
    });
}

fn check_options(o: &Options, s: &mut Support) {
    let none = None;
    if o.limits.iter().any(|(l, _)| *l == Limit::PktDelayPkts) {
        warn(
            s,
            &none,
            0,
            "set limit pktdelay-pkts",
            "set delay is refused, so no packet is ever held",
        );
    }
    // `set reassemble` is enforced by engine::frag.
    for l in &o.limiters {
        if let super::LimiterDef::Source(d) = l {
            if d.overload.is_some() {
                refuse(
                    s,
                    &none,
                    d.src_line,
                    "source limiter table <t> above",
                    NOT_YET,
                );
            }
        }
    }
}

fn check_directives(d: &[Directive], s: &mut Support) {
    let none = None;
    for d in d {
        if let Directive::Queue(_) = d {
            warn(
                s,
                &none,
                0,
                "queue",
                "no traffic shaping: packets are not queued",
            );
        }
    }
}

fn check_addr(a: &AddrKind, r: &Rule, file: &Option<String>, s: &mut Support) {
    let line = r.src_line;
    match a {
        AddrKind::RouteLabel(_) => refuse(s, file, line, "route", "Linux routes carry no labels"),
        AddrKind::Dynamic {
            ifname, modifier, ..
        } if modifier.mode() == DynModifier::Peer => refuse(
            s,
            file,
            line,
            &format!("({ifname}:peer)"),
            "pfd does not follow the peer addresses of point-to-point links; \
             without the parentheses the peer is resolved at load",
        ),
        AddrKind::Any
        | AddrKind::Net(_)
        | AddrKind::Range(..)
        | AddrKind::Dynamic { .. }
        | AddrKind::Table(_)
        | AddrKind::NoRoute
        | AddrKind::UrpfFailed => {}
    }
}

fn check_endpoint(ep: &Endpoint, r: &Rule, file: &Option<String>, s: &mut Support) {
    check_addr(&ep.addr, r, file, s);
}

fn check_pool(p: &Pool, r: &Rule, file: &Option<String>, s: &mut Support) {
    for a in &p.addrs {
        check_addr(a, r, file, s);
    }
    if p.weighted {
        refuse(s, file, r.src_line, "weight", WEIGHT);
    }
}

const WEIGHT: &str = "pfd has no weighted round-robin: every member would be picked as often";

/// Pools naming a table whose addresses have weights (`table <t> { a
/// weight 3 }`, or in its file): refused as weighted lists are. A
/// weighted table only filtered against is fine: weights do not change
/// what matches.
fn check_weighted_tables(rs: &Ruleset, rules: &[&Rule], s: &mut Support) {
    let weighted: Vec<&str> = rs
        .directives
        .iter()
        .chain(rs.loads.iter().flat_map(|l| l.ruleset.directives.iter()))
        .filter_map(|d| match d {
            Directive::Table(t) if t.weighted => Some(t.name.as_str()),
            _ => None,
        })
        .collect();
    if weighted.is_empty() {
        return;
    }
    for r in rules {
        let pools = [
            r.nat_to.as_ref(),
            r.rdr_to.as_ref(),
            r.extras.route.as_ref().map(|(_, p)| p),
        ];
        let named = pools
            .into_iter()
            .flatten()
            .flat_map(|p| &p.addrs)
            .any(|a| matches!(a, AddrKind::Table(name) if weighted.contains(&name.as_str())));
        if named {
            refuse(s, &None, r.src_line, "weight", WEIGHT);
        }
    }
}

/// Check rules, anchors' rules included.
fn check_rules(rules: &[Rule], file: Option<String>, s: &mut Support) {
    for r in rules {
        check_rule(r, &file, s);
        if let Some(a) = &r.anchor {
            check_rules(&a.rules, file.clone(), s);
        }
    }
}

fn check_rule(r: &Rule, file: &Option<String>, s: &mut Support) {
    let line = r.src_line;
    let x = &r.extras;
    check_endpoint(&r.from, r, file, s);
    check_endpoint(&r.to, r, file, s);
    if let Some(p) = &r.nat_to {
        check_pool(p, r, file, s);
    }
    if let Some(p) = &r.rdr_to {
        check_pool(p, r, file, s);
    }
    // The engine translates sources outbound and destinations inbound only
    // (af-to excepted, which translates both on the way in); pfctl -n takes
    // both directions, as OpenBSD does.
    if r.nat_to.is_some() && r.direction == Direction::In && r.extras.af_to.is_none() {
        refuse(s, file, line, "nat-to on an inbound rule", NOT_YET);
    }
    if r.rdr_to.is_some() && r.direction == Direction::Out && r.extras.af_to.is_none() {
        refuse(s, file, line, "rdr-to on an outbound rule", NOT_YET);
    }
    let to_v6_loopback = |p: &Pool| {
        p.addrs.iter().any(|a| {
            matches!(a, AddrKind::Net(n)
                if n.addr == std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST))
        })
    };
    if r.rdr_to.as_ref().is_some_and(to_v6_loopback) {
        refuse(
            s,
            file,
            line,
            "rdr-to ::1",
            "Linux delivers packets to ::1 only when they came in on lo; IPv6 has no \
             route_localnet",
        );
    }
    // A limiter's places are taken by the states the pass rule naming it
    // makes; on a match or anchor rule it would never fill.
    if (x.state_limiter.is_some() || x.source_limiter.is_some())
        && (r.action == super::Action::Match || r.is_anchor())
    {
        refuse(
            s,
            file,
            line,
            "a limiter on a match or anchor rule",
            NOT_YET,
        );
    }
    if r.log.ifnum >= PFLOG_UNITS {
        refuse(
            s,
            file,
            line,
            &format!("log (to pflog{})", r.log.ifnum),
            "pfd makes pflog0 to pflog15",
        );
    }
    // State options.
    let so = &r.state_opts;
    if so.pflow {
        refuse(s, file, line, "pflow", "no pflow(4) export");
    }
    // Everything else of the rule.
    if x.on_rdomain.is_some() {
        refuse(
            s,
            file,
            line,
            "on rdomain",
            "Linux has no routing domains; VRFs differ",
        );
    }
    if x.prio.is_some() {
        refuse(
            s,
            file,
            line,
            "prio",
            "Linux packets have no pf priority to match: skb->priority is not OpenBSD's 0-7 \
             packet priority (3 unless a VLAN header or set prio gave another)",
        );
    }
    if x.set_prio.is_some() {
        warn(
            s,
            file,
            line,
            "set prio",
            "no priority queueing: packets are not reordered",
        );
    }
    if x.queue.is_some() {
        warn(
            s,
            file,
            line,
            "set queue",
            "no traffic shaping: packets are not queued",
        );
    }
    if x.delay.is_some() {
        refuse(s, file, line, "set delay", NOT_YET);
    }
    if let Some((kind, pool)) = &x.route {
        let kw = match kind {
            super::RouteKind::RouteTo => "route-to",
            super::RouteKind::ReplyTo => "reply-to",
            super::RouteKind::DupTo => "dup-to",
        };
        check_pool(pool, r, file, s);
        if x.rtable.is_some() {
            refuse(
                s,
                file,
                line,
                &format!("{kw} with rtable"),
                "pfd resolves next hops in the main routing table only",
            );
        }
    }
}

/// Route selectors a ruleset needs (`route::rule_targets`): more
/// than the mark's 7 bits number cannot be told apart.
fn check_selectors(rules: &[&Rule], s: &mut Support) {
    let mut t = Vec::new();
    for r in rules {
        super::route::rule_targets(r, &mut t);
    }
    let n = t
        .into_iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if n > super::route::MAX_SELECTORS {
        let line = rules.last().map_or(0, |r| r.src_line);
        refuse(
            s,
            &None,
            line,
            &format!("{n} distinct route-to next hops, rtables and divert-to sockets"),
            "the packet mark has room for 127",
        );
    }
}

fn all_rules<'a>(rules: &'a [Rule], out: &mut Vec<&'a Rule>) {
    for r in rules {
        out.push(r);
        if let Some(a) = &r.anchor {
            all_rules(&a.rules, out);
        }
    }
}

/// The first `divert-packet` (line, queue) of `rules` (anchors included)
/// sending to a queue in `ours` (pfd's own NFQUEUEs).
pub fn divert_queue_clash(rules: &[Rule], ours: std::ops::Range<u32>) -> Option<(u32, u16)> {
    let mut v = Vec::new();
    all_rules(rules, &mut v);
    v.into_iter().find_map(|r| match r.extras.divert {
        Divert::Packet(q) if ours.contains(&(q as u32)) => Some((r.src_line, q)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{parse, StaticResolver};

    fn support(src: &str) -> Support {
        let res = StaticResolver::new()
            .iface("eth0", &["192.0.2.10/24"])
            .iface("eth1", &["192.168.99.1/24"]);
        let rs = parse(src, "pf.conf", &res)
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        check(&rs)
    }

    fn refused(src: &str) -> Vec<String> {
        support(src)
            .refused
            .iter()
            .map(|u| u.message("pf.conf"))
            .collect()
    }

    #[test]
    fn what_pfd_enforces_loads() {
        let s = support(
            "set skip on lo\nblock return\npass in on eth0 proto tcp to port 22 keep state (max 10)\n\
             pass out on eth0 from eth1:network nat-to (eth0)\npass in on eth0 proto tcp to port 80 rdr-to 192.168.99.5 port 8080\n\
             pass out log (all) proto udp user 0\nanchor foo {\n pass quick proto icmp\n}\n\
             set syncookies adaptive (start 25%, end 12%)\npass in on eth0 proto tcp to port 25 synproxy state\n",
        );
        assert_eq!(s, Support::default());
    }

    #[test]
    fn unenforced_options_are_refused_with_their_line() {
        assert_eq!(
            refused("pass\npass in on eth0 proto tcp route-to 192.168.99.7 rtable 1\n"),
            vec!["pf.conf:2: route-to with rtable: not supported on Linux (pfd resolves next hops in the main routing table only)"]
        );
        let inside = refused("anchor {\n pass\n pass proto tcp keep state (pflow)\n}\n");
        assert_eq!(
            inside,
            vec!["pf.conf:3: pflow: not supported on Linux (no pflow(4) export)"]
        );
    }

    #[test]
    fn rdr_to_the_loopback_network() {
        // 127.0.0.1: pfd has Linux deliver it (route_localnet); ::1 Linux
        // never delivers from another interface.
        assert!(refused(
            "match in on eth0 inet proto tcp to port 7 rdr-to 127.0.0.1 port 7\npass in to 127.0.0.1\n"
        )
        .is_empty());
        assert_eq!(
            refused("pass in on eth0 inet6 proto tcp to port 7 rdr-to ::1 port 7\n"),
            vec!["pf.conf:1: rdr-to ::1: not supported on Linux (Linux delivers packets to ::1 only \
                  when they came in on lo; IPv6 has no route_localnet)"]
        );
    }

    #[test]
    fn interface_bound_options_load() {
        let s = support(
            "set state-policy if-bound\npass in on eth0 keep state (floating)\n\
             pass out on eth1 received-on eth0 keep state (if-bound)\n\
             block in quick from urpf-failed\nblock in quick to no-route\n",
        );
        assert_eq!(s, Support::default());
        assert_eq!(
            refused("pass in from route \"r1\"\n"),
            vec!["pf.conf:1: route: not supported on Linux (Linux routes carry no labels)"]
        );
    }

    #[test]
    fn rule_evaluation_options_load() {
        let s = support(
            "set optimization aggressive\nmatch in tag FOO\npass out tagged FOO\nblock ! tagged FOO\n\
             pass in proto icmp once\npass in proto udp probability 25% max-pkt-rate 100/10\n\
             set fingerprints \"/etc/pf.os\"\npass in proto tcp from any os \"OpenBSD\"\n",
        );
        assert_eq!(s, Support::default());
        assert_eq!(
            refused("pass in prio 3\n"),
            vec!["pf.conf:1: prio: not supported on Linux (Linux packets have no pf priority to match: skb->priority is not OpenBSD's 0-7 packet priority (3 unless a VLAN header or set prio gave another))"]
        );
    }

    #[test]
    fn tables_load() {
        let s = support(
            "table <bad> persist { 10.1.0.2 !10.1.0.3 } file \"/dev/null\"\nblock in quick from <bad>\n\
             pass from ! <bad> to <good>\nanchor a {\n table <t> { 192.0.2.1 }\n pass to <t>\n}\n",
        );
        assert_eq!(s, Support::default());
        // A table as an address pool.
        assert!(
            refused("table <p> { 192.0.2.1 192.0.2.2 }\npass out on eth0 nat-to <p>\n").is_empty()
        );
    }

    #[test]
    fn source_tracking_and_pools_load() {
        let s = support(
            "table <bad> persist
table <srv> { 192.168.99.5 192.168.99.6 }
             pass in on eth0 proto tcp keep state (max-src-conn 10, max-src-conn-rate 5/3, overload <bad> flush global)
             pass in on eth0 proto tcp keep state (source-track rule, max-src-nodes 5, max-src-states 3)
             pass in on eth0 proto udp keep state (source-track global, max-src-states 3)
             pass in on eth0 proto tcp to port 80 rdr-to { 192.168.99.5, 192.168.99.6 } round-robin sticky-address
             pass in on eth0 proto tcp to port 81 rdr-to <srv> least-states
             pass in on eth0 proto tcp to port 82 rdr-to 192.168.99.0/28 random
             pass in on eth0 proto tcp to port 83 rdr-to 192.168.99.0/28 source-hash foo
             pass in on eth0 proto tcp to port 8000:8009 rdr-to 192.168.99.5 port 9000:9009
             pass out on eth0 from 192.168.99.0/24 nat-to { 192.0.2.10, 192.0.2.11 } port 50000:50100
             pass out on eth0 from 192.168.99.0/24 nat-to 192.0.2.0/28 bitmask static-port
             pass on eth0 from 192.168.99.9 binat-to 192.0.2.12
             pass in on eth1 route-to <srv> source-hash sticky-address
             pass in on eth1 route-to 192.168.99.0/30 random
",
        );
        assert_eq!(s, Support::default());
        assert_eq!(
            refused("pass out on eth0 nat-to (eth0:peer)\n"),
            vec!["pf.conf:1: (eth0:peer): not supported on Linux (pfd does not follow the peer addresses of point-to-point links; without the parentheses the peer is resolved at load)"]
        );
    }

    #[test]
    fn weighted_pools_are_refused() {
        let msg = "weight: not supported on Linux (pfd has no weighted round-robin: every member would be picked as often)";
        assert_eq!(
            refused("pass out on eth0 nat-to { 192.0.2.1 weight 2, 192.0.2.2 } round-robin\n"),
            vec![format!("pf.conf:1: {msg}")]
        );
        assert_eq!(
            refused(
                "table <w> { 192.0.2.1 weight 3 }\npass\npass out on eth0 nat-to <w> round-robin\n"
            ),
            vec![format!("pf.conf:3: {msg}")]
        );
        // Weights of 1, and weighted tables only filtered against, load.
        assert!(
            refused("pass out on eth0 nat-to { 192.0.2.1 weight 1, 192.0.2.2 } round-robin\n")
                .is_empty()
        );
        assert!(refused("table <w> { 192.0.2.1 weight 3 }\nblock from <w>\n").is_empty());
    }

    #[test]
    fn policy_routing_loads() {
        let s = support(
            "pass in on eth0 proto tcp route-to 192.168.99.7\n\
             pass in on eth0 proto udp route-to { 192.168.99.7, 192.168.99.8 }\n\
             pass in on eth0 proto icmp reply-to 192.0.2.1\npass out dup-to 192.168.99.9\n\
             match in rtable 3\npass in on eth1 rtable 0\n\
             pass in on eth1 proto tcp to port 80 divert-to 127.0.0.1 port 3128\n\
             pass out on eth0 proto tcp divert-reply\npass in on eth1 divert-packet port 700\n\
             pass in inet6 from any to 64:ff9b::/96 af-to inet from 192.0.2.10\n\
             pass in on eth0 inet af-to inet6 from 2001:db8::1\n",
        );
        assert!(s.ok(), "{:?}", s.refused);
        assert!(refused(
            "pass in on eth0 proto tcp route-to { 192.168.99.7, 192.168.99.8 } random\n"
        )
        .is_empty());
        let many: String = (1..=128)
            .map(|i| format!("pass in on eth0 rtable {i}\n"))
            .collect();
        let r = refused(&many);
        assert_eq!(
            r,
            vec!["pf.conf:128: 128 distinct route-to next hops, rtables and divert-to sockets: not supported on Linux (the packet mark has room for 127)"]
        );
        let rs = parse(
            "pass\npass in divert-packet port 7066\n",
            "pf.conf",
            &StaticResolver::new(),
        )
        .unwrap();
        assert_eq!(divert_queue_clash(&rs.rules, 7066..7067), Some((2, 7066)));
        assert_eq!(divert_queue_clash(&rs.rules, 7000..7066), None);
    }

    #[test]
    fn normalization_and_fragments_load() {
        for conf in [
            "set reassemble yes\npass\n",
            "set reassemble yes no-df\npass\n",
            "set reassemble no\nblock in fragment\npass in proto udp\n",
            "match in all scrub (no-df random-id min-ttl 64 max-mss 1400 reassemble tcp)\n",
            "pass out proto tcp scrub (max-mss 1300) set tos lowdelay\n",
            "pass in proto tcp keep state (sloppy)\npass in tos 0x10 allow-opts\n",
        ] {
            let s = support(conf);
            assert_eq!(s, Support::default(), "{conf}");
        }
    }

    #[test]
    fn ruleset_optimization_loads() {
        // pfctl optimizes the ruleset itself (ruleset::optimize)
        for level in ["none", "basic", "profile"] {
            let s = support(&format!("set ruleset-optimization {level}\npass\n"));
            assert_eq!(s, Support::default(), "{level}");
        }
    }

    #[test]
    fn queues_and_priorities_only_warn() {
        let s = support(
            "queue rootq on eth0 bandwidth 10M\nqueue std parent rootq bandwidth 10M default\npass out on eth0 set queue std set prio 3\n",
        );
        assert!(s.ok(), "{:?}", s.refused);
        assert_eq!(s.warnings.len(), 4);
    }

    #[test]
    fn limiters_load_on_pass_rules_only() {
        let s = support(
            "state limiter \"a\" id 1 limit 10 rate 5/1\nsource limiter \"b\" id 1 entries 9 limit 2 inet mask 24\npass in state limiter a source limiter b (block)\n",
        );
        assert_eq!(s, Support::default());
        let s = support("state limiter \"a\" id 1 limit 10\nmatch in state limiter a\n");
        assert_eq!(s.refused.len(), 1);
        assert!(s.refused[0]
            .message("pf.conf")
            .contains("a limiter on a match"));
        let s = support(
            "table <o> persist\nsource limiter \"b\" id 1 entries 9 limit 2 table <o> above 5 below 2\npass source limiter b\n",
        );
        assert_eq!(s.refused.len(), 1);
        assert_eq!(
            s.refused[0].message("pf.conf"),
            "pf.conf:2: source limiter table <t> above: not supported on Linux (not implemented in pfd yet)"
        );
    }
}

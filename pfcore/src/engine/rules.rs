//! Rule evaluation (pf_test_rule's matching part): does one rule match a
//! described packet, and the walk through the main ruleset and the anchors
//! it calls (pf_match_rule, pf_step_into_anchor).

use super::anchor::{AnchorTree, Call, MAIN, MAX_DEPTH};
use super::limiter::{Admission, RuleLimiters};
use super::logmark::LogMarks;
use super::matchctx::MatchCtx;
use super::matchrules::MatchSet;
use super::normalize::Actions;
use super::packet::{Dir, Pd};
use super::ruleref::RuleRef;
use super::table::{RuleTables, TableId};
use crate::addr::{Af, IpNet};
use crate::ruleset::rule::LogOpts;
use crate::ruleset::{Action, AddrKind, Direction, DynModifier, Endpoint, KeepState, Rule};
use crate::wire::pflog;
use crate::wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP};
use std::net::IpAddr;

/// The rulesets the engine runs: the main ruleset and its anchors, each
/// with its counters (`engine::anchor`).
pub type LoadedRules = AnchorTree;

fn addr_matches(kind: &AddrKind, table: Option<TableId>, ip: &IpAddr, ctx: &MatchCtx) -> bool {
    match kind {
        AddrKind::Any => true,
        AddrKind::Net(n) => n.contains(ip),
        AddrKind::Range(lo, hi) => match (lo, hi, ip) {
            (IpAddr::V4(l), IpAddr::V4(h), IpAddr::V4(a)) => {
                (u32::from(*l)..=u32::from(*h)).contains(&u32::from(*a))
            }
            (IpAddr::V6(l), IpAddr::V6(h), IpAddr::V6(a)) => {
                (u128::from(*l)..=u128::from(*h)).contains(&u128::from(*a))
            }
            _ => false,
        },
        AddrKind::Dynamic {
            ifname,
            modifier,
            mask,
        } => ctx
            .ifaces
            .addr_map()
            .get(ifname.as_str())
            .is_some_and(|nets| {
                // `:0` (pfi_address_add's PFI_AFLAG_NOALIAS): the first
                // address of each family only.
                let (mut seen4, mut seen6) = (false, false);
                let mut first = |n: &IpNet| {
                    let seen = if n.af() == Af::Inet {
                        &mut seen4
                    } else {
                        &mut seen6
                    };
                    !std::mem::replace(seen, true)
                };
                nets.iter()
                    .filter(|n| !modifier.no_alias() || first(n))
                    .any(|n| match (modifier.mode(), mask) {
                        (_, Some(m)) if n.af() == Af::Inet6 || *m <= 32 => {
                            IpNet::new(n.addr, *m).is_ok_and(|x| x.to_network().contains(ip))
                        }
                        (DynModifier::Network, _) => n.contains(ip),
                        (DynModifier::Broadcast, _) => n.af() == Af::Inet && n.broadcast() == *ip,
                        _ => n.addr == *ip,
                    })
            }),
        AddrKind::Table(_) => table.is_some_and(|id| ctx.tables.match_addr(id, ip)),
        // pf_routable: no route to the address at all.
        AddrKind::NoRoute => !ctx.fib.routable(0, ip),
        // pf_routable with the interface: the route back does not leave
        // through the interface the packet came in on.
        AddrKind::UrpfFailed => !ctx.urpf_ok(ip),
        // `route` labels are refused at load (support.rs).
        AddrKind::RouteLabel(_) => false,
    }
}

fn endpoint_matches(
    ep: &Endpoint,
    table: Option<TableId>,
    ip: &IpAddr,
    port: u16,
    pd: &Pd,
    ctx: &MatchCtx,
) -> bool {
    if addr_matches(&ep.addr, table, ip, ctx) == ep.neg {
        return false;
    }
    match ep.port {
        None => true,
        Some(op) => pd.has_ports() && op.matches(port),
    }
}

/// Does `r` match the packet? (Action-independent.) `rt`: the tables it
/// names, resolved at load.
pub fn rule_matches(r: &Rule, rt: &RuleTables, pd: &Pd, ctx: &MatchCtx) -> bool {
    // `fragment` rules match fragments only.
    if r.extras.fragment && !pd.fragment {
        return false;
    }
    // A fragment filtered on its IP header alone (pf's virtual protocol
    // "fragment") matches no rule about ports, TCP flags, ICMP types or
    // sockets.
    if pd.fragment
        && !pd.frag_l4
        && (r.from.port.is_some()
            || r.to.port.is_some()
            || (pd.proto == IPPROTO_TCP && r.flags.is_some_and(|f| f.mask != 0))
            || r.icmp_type.is_some()
            || r.user.is_some()
            || r.group.is_some())
    {
        return false;
    }
    if r.extras.tos.is_some_and(|t| t != 0 && t != pd.tos) {
        return false;
    }
    if let Some(on) = &r.on {
        if ctx.on(&on.name) == on.neg {
            return false;
        }
    }
    if let Some(rcv) = &r.extras.received_on {
        // pf_match_rcvif: locally generated packets were received nowhere.
        let m = ctx.rcv.is_some_and(|k| ctx.ifaces.matches(&rcv.name, k));
        if m == rcv.neg {
            return false;
        }
    }
    match (r.direction, ctx.dir) {
        (Direction::In, Dir::Out) | (Direction::Out, Dir::In) => return false,
        _ => {}
    }
    if r.af.is_some_and(|af| af != pd.af) {
        return false;
    }
    if r.proto.is_some_and(|p| p != pd.proto) {
        return false;
    }
    if !endpoint_matches(&r.from, rt.src, &pd.src, pd.sport, pd, ctx)
        || !endpoint_matches(&r.to, rt.dst, &pd.dst, pd.dport, pd, ctx)
    {
        return false;
    }
    if let Some(op) = r.user {
        match ctx.uid {
            Some(u) if op.matches(u) => {}
            _ => return false,
        }
    }
    if let Some(op) = r.group {
        match ctx.gid {
            Some(g) if op.matches(g) => {}
            _ => return false,
        }
    }
    if pd.proto == IPPROTO_TCP {
        if let (Some(f), Some(t)) = (r.flags, pd.tcp) {
            if t.flags & f.mask != f.flags {
                return false;
            }
        }
    }
    if let Some(ic) = pd.icmp {
        // pf does not let a stateful rule match an ICMP reply (states are
        // made by queries; a reply belongs to the query's state).
        if r.keep_state != KeepState::None
            && !r.state_opts.sloppy
            && !icmp_makes_no_state(pd)
            && !ic.id_is_sport
        {
            return false;
        }
    }
    if let Some((ty, code)) = r.icmp_type {
        match pd.icmp {
            Some(ic) if pd.proto == IPPROTO_ICMP || pd.proto == IPPROTO_ICMPV6 => {
                if ic.icmp_type != ty || code.is_some_and(|c| c != ic.code) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// pf's `state_icmp`: an ICMP error (it belongs to the state of the packet
/// it quotes) or an IPv6 neighbour advertisement (nobody answers an
/// unsolicited one): a passing rule makes no state for it.
pub fn icmp_makes_no_state(pd: &Pd) -> bool {
    pd.icmp.is_some_and(|ic| {
        ic.is_error
            || (pd.af == Af::Inet6 && ic.icmp_type == crate::wire::icmpv6::ND_NEIGHBOR_ADVERT)
    })
}

/// The outcome of walking the ruleset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// The deciding pass/block rule; None = the default rule.
    pub rule: Option<RuleRef>,
    /// The anchor rule through which the deciding rule was reached (the
    /// innermost one): its counters count the packet and the state too.
    pub anchor: Option<RuleRef>,
    /// `rtable` of the last matching rule that has one (match rules too).
    pub rtable: Option<u32>,
    /// Any matching rule asked for logging.
    pub log: bool,
    /// Anchors nested deeper than pf's stack (a call loop): pf drops the
    /// packet.
    pub overflow: bool,
    /// The matching `match` rules (pf's `ctx->rules`): a state made by
    /// this packet remembers them, and they count its packets.
    pub matches: MatchSet,
    /// pf's `ctx->tag`: the tag of the last matching rule with one, or the
    /// packet's own once a `tagged` test read it; None = neither.
    pub tag: Option<u16>,
    /// How many times a rule decided (to tell whether one inside a quick
    /// anchor did).
    decisions: u32,
    /// What matching `match` rules left on the packet (scrub, set tos);
    /// the deciding rule's own actions are added by the caller.
    pub actions: Actions,
    /// A second look that changes nothing: no evaluation counters, no
    /// `once` expiry, no packet-rate accounting.
    dry: bool,
    /// The deciding rule matched over its limiter's limit with `(block)`:
    /// the packet is blocked.
    pub limiter_block: bool,
    /// What pflog is told (see `logmark`); the deciding rule's own `log`
    /// is added after the walk.
    pub marks: LogMarks,
    /// The log options of the first `log (matches)` rule that matched:
    /// every rule matching after it is logged.
    pub log_matches: Option<LogOpts>,
}

/// Walk the rules: the last matching pass/block wins unless a `quick` one
/// decides first; `match` rules contribute logging, tags, scrub and
/// rtable. Their `nat-to` / `rdr-to` are not applied: the rules after
/// them see the packet's own addresses (the rule path, `rulepath`, which
/// translates as it goes, uses `Walk`).
pub fn evaluate(rules: &mut AnchorTree, pd: &Pd, ctx: &MatchCtx) -> Evaluation {
    let mut w = Walk::new(pd, false);
    while w.run(rules, pd, ctx) != Step::Done {}
    w.ev
}

/// `evaluate` without changing any rule's run state or counters: a second
/// look at a packet (the first fragment of a datagram checked with its
/// ports when fragments are not reassembled). Translations of match rules
/// are not applied either (they would move the pools' positions).
pub fn evaluate_dry(rules: &mut AnchorTree, pd: &Pd, ctx: &MatchCtx) -> Evaluation {
    let mut w = Walk::new(pd, true);
    while w.run(rules, pd, ctx) != Step::Done {}
    w.ev
}

/// Where a walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Evaluation is over; the outcome is `Walk::ev`.
    Done,
    /// A `match` rule with `nat-to` or `rdr-to` matched (pf_match_rule's
    /// pf_get_transaddr): the caller translates the packet's view before
    /// the walk goes on, so that the rules after it match the translated
    /// addresses and ports.
    Translate(RuleRef),
}

/// An anchor rule whose ruleset is being walked (pf_anchor_stackframe).
#[derive(Debug, Clone, Copy)]
struct Pending {
    rule: RuleRef,
    quick: bool,
    /// `Evaluation::decisions` when the call started.
    before: u32,
    /// `name/*`: the parent anchor and the next child to walk.
    children: Option<(u32, usize)>,
}

/// One ruleset being walked.
#[derive(Debug, Clone, Copy, Default)]
struct Frame {
    id: u32,
    /// The next rule to look at.
    i: usize,
    /// The anchor rule this ruleset was reached through.
    via: Option<RuleRef>,
    /// The anchor rule of this ruleset whose call is under way.
    call: Option<Pending>,
}

/// The ruleset walk (pf_match_rule) as a resumable machine: `run` goes on
/// until evaluation ends or a translating `match` rule matched. Anchors
/// are entered on an explicit stack of pf's depth, so nothing is
/// allocated. A matching `anchor` rule evaluates the rules of the anchor
/// it calls in its place, in the same last-match-wins walk
/// (pf_step_into_anchor), or those of each child of it in turn for
/// `name/*`; a `quick` anchor ends evaluation if a pass/block rule inside
/// it (at any depth) decided. A `quick` rule ends it, a `match quick` too
/// (the decision stays with the pass/block rule before it). An anchor
/// with no rules matches nothing.
pub struct Walk {
    pub ev: Evaluation,
    stack: [Frame; MAX_DEPTH + 1],
    depth: usize,
    done: bool,
    /// The packet's own source, before any translation: what source
    /// limiters count.
    src: IpAddr,
}

impl Walk {
    /// A walk from the top of the main ruleset, for packet `pd`.
    pub fn new(pd: &Pd, dry: bool) -> Walk {
        let mut stack = [Frame::default(); MAX_DEPTH + 1];
        stack[0].id = MAIN;
        Walk {
            ev: Evaluation {
                dry,
                ..Evaluation::default()
            },
            stack,
            depth: 0,
            done: false,
            src: pd.src,
        }
    }

    /// pflog marks of a matching rule: a `match` rule with `log` is
    /// logged at once; after a `log (matches)` rule, every matching rule
    /// (a pass/block rule a later one overrides too). The deciding rule's
    /// own `log` is the caller's, after the walk (`Walk::decided_mark`).
    fn mark(
        &mut self,
        tree: &AnchorTree,
        me: RuleRef,
        via: Option<RuleRef>,
        log: LogOpts,
        action: Action,
    ) {
        let ev = &mut self.ev;
        if ev.dry {
            return;
        }
        let pfa = match action {
            Action::Match => pflog::PF_MATCH,
            Action::Pass => pflog::PF_PASS,
            _ => pflog::PF_DROP,
        };
        let by = if action == Action::Match && log.enabled {
            Some(log)
        } else {
            ev.log_matches
        };
        if let Some(opts) = by {
            let mut m = tree.log_mark(me, via, pfa, opts);
            m.decided = action != Action::Match;
            if let Some(old) = ev.marks.decided_mut() {
                // A later pass/block rule overrides the one logged before.
                old.decided = false;
            }
            ev.marks.push(m);
        }
        // Only a match rule's actions apply before the walk ends.
        if action == Action::Match && log.enabled && log.matches && ev.log_matches.is_none() {
            ev.log_matches = Some(log);
        }
    }

    fn finish(&mut self) -> Step {
        self.done = true;
        Step::Done
    }

    /// Walk on with the packet as the rules now see it (`pd`: its
    /// addresses and ports after the translations so far).
    pub fn run(&mut self, tree: &mut AnchorTree, pd: &Pd, ctx: &MatchCtx) -> Step {
        while !self.done {
            let depth = self.depth;
            let f = self.stack[depth];
            let node = tree.node_mut(f.id).map(|a| &mut a.rules);
            let Some(rs) = node.filter(|rs| f.i < rs.rules.len()) else {
                // This ruleset is over: back to the anchor rule that
                // called it.
                if depth == 0 {
                    return self.finish();
                }
                self.depth -= 1;
                let Some(p) = self.stack[self.depth].call.take() else {
                    continue;
                };
                if let Some((t, k)) = p.children {
                    if let Some(c) = tree.node(t).and_then(|n| n.children.get(k)).copied() {
                        self.stack[self.depth].call = Some(Pending {
                            children: Some((t, k + 1)),
                            ..p
                        });
                        self.enter(c, p.rule);
                        continue;
                    }
                }
                if p.quick && self.ev.decisions != p.before {
                    return self.finish();
                }
                continue;
            };
            let me = RuleRef {
                anchor: f.id,
                nr: f.i as u32,
                gen: rs.generation,
            };
            self.stack[depth].i += 1;
            let n = f.i;
            let ev = &mut self.ev;
            if rs.run.expired(n) {
                continue;
            }
            if !ev.dry {
                rs.counters[n].evaluations += 1;
            }
            let rt = rs.tables.get(n).copied().unwrap_or_default();
            if !rule_matches(&rs.rules[n], &rt, pd, ctx)
                || !rs.run.admit(n, pd, ctx, &mut ev.tag, ev.dry)
            {
                continue;
            }
            // The limiters last: the rule matched in every other way.
            let lims = RuleLimiters::of(&rs.rules[n]);
            let mut limited = false;
            if lims.any() {
                match tree.limiters.check(lims, self.src, ctx.now, ev.dry) {
                    Admission::Admit => {}
                    Admission::NoMatch => continue,
                    Admission::Block => limited = true,
                }
            }
            let Some(rs) = tree.node_mut(f.id).map(|a| &mut a.rules) else {
                continue;
            };
            let r = &rs.rules[n];
            if r.is_anchor() {
                if depth >= MAX_DEPTH {
                    ev.overflow = true;
                    return self.finish();
                }
                let mut p = Pending {
                    rule: me,
                    quick: r.quick,
                    before: ev.decisions,
                    children: None,
                };
                let target = match rs.calls.get(n).copied().unwrap_or(Call::None) {
                    Call::Anchor(t) => Some(t),
                    Call::Children(t) => {
                        p.children = Some((t, 1));
                        tree.node(t).and_then(|a| a.children.first()).copied()
                    }
                    Call::None => None,
                };
                if let Some(t) = target {
                    self.stack[depth].call = Some(p);
                    self.enter(t, me);
                }
                continue;
            }
            if let Some(t) = r.extras.rtable {
                ev.rtable = Some(t);
            }
            if r.log.enabled {
                ev.log = true;
            }
            if r.log.enabled || ev.log_matches.is_some() {
                let (log, action) = (r.log, r.action);
                self.mark(tree, me, f.via, log, action);
            }
            let ev = &mut self.ev;
            let Some(r) = tree.node(f.id).and_then(|a| a.rules.rules.get(n)) else {
                continue;
            };
            if r.action == Action::Match {
                ev.actions.add(r);
                ev.matches.push(me);
                self.done = r.quick;
                if r.nat_to.is_some() || r.rdr_to.is_some() {
                    return Step::Translate(me);
                }
                continue;
            }
            ev.rule = Some(me);
            ev.anchor = f.via;
            ev.decisions += 1;
            ev.limiter_block = limited;
            if r.quick {
                return self.finish();
            }
        }
        Step::Done
    }

    /// Step into anchor `id` through the anchor rule `via` (the depth was
    /// checked by the caller).
    fn enter(&mut self, id: u32, via: RuleRef) {
        self.depth += 1;
        self.stack[self.depth] = Frame {
            id,
            i: 0,
            via: Some(via),
            call: None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{parse, StaticResolver};
    use crate::engine::anchor::Loader;
    use crate::engine::fib::Fib;
    use crate::engine::iface::{if_matches, IfTable};
    use crate::engine::packet::describe;
    use crate::engine::packet::tests::*;
    use crate::engine::table::Tables;
    use crate::ruleset::flatten;
    use crate::wire::tcp;

    fn parsed(src: &str) -> crate::ruleset::Ruleset {
        let res = StaticResolver::new()
            .iface("eth0", &["192.0.2.10/24"])
            .iface("eth1", &["192.168.99.1/24"])
            .user("nobody", 65534);
        parse(src, "test.conf", &res)
            .map_err(|e| format!("{e:?}"))
            .unwrap()
    }

    /// `pfctl [-a at] -f` of `src` into `t`.
    fn load_at(t: &mut AnchorTree, at: &str, src: &str) {
        t.commit(flatten(&parsed(src), at), Loader::default(), 512)
            .unwrap();
    }

    fn load(src: &str) -> LoadedRules {
        let mut t = AnchorTree::new();
        load_at(&mut t, "", src);
        t
    }

    /// The deciding rule as `path@nr` (`@nr` in the main ruleset).
    fn at(t: &AnchorTree, r: Option<RuleRef>) -> Option<String> {
        let r = r?;
        assert!(t.rule(r).is_some());
        Some(format!("{}@{}", t.node(r.anchor)?.path, r.nr))
    }

    fn decide(t: &mut AnchorTree, pd: &Pd, c: &MatchCtx) -> Option<String> {
        let ev = evaluate(t, pd, c);
        at(t, ev.rule)
    }

    fn main_evals(t: &AnchorTree, nr: usize) -> u64 {
        t.main().counters[nr].evaluations
    }

    fn evals(t: &AnchorTree, path: &str, nr: usize) -> u64 {
        t.find(path).unwrap().rules.counters[nr].evaluations
    }

    fn ctx<'a>(dir: Dir, ifname: &'a str, e: &'a (IfTable, Fib)) -> MatchCtx<'a> {
        MatchCtx {
            dir,
            ifname,
            uid: None,
            gid: None,
            ifaces: &e.0,
            fib: &e.1,
            kif: e.0.lookup(ifname),
            rcv: None,
            tables: Box::leak(Box::new(Tables::new())),
            tag: 0,
            now: 0,
            os: None,
        }
    }

    fn syn() -> Vec<u8> {
        v4(
            "192.168.99.50",
            "192.0.2.20",
            6,
            &tcp_seg(1000, 22, 1, 0, tcp::SYN, 100, b""),
        )
    }

    fn udp() -> Vec<u8> {
        v4("192.168.99.50", "192.0.2.20", 17, &udp_dgram(1000, 53, b""))
    }

    fn s(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    fn empty() -> (IfTable, Fib) {
        (IfTable::default(), Fib::default())
    }

    #[test]
    fn last_match_wins_and_quick_stops() {
        let e = empty();
        let mut rs = load(
            "block return\npass\nblock in on eth0 proto tcp to port 22\npass quick on eth1\nblock",
        );
        let syn = syn();
        let pd = describe(&syn).unwrap();
        assert_eq!(decide(&mut rs, &pd, &ctx(Dir::In, "eth0", &e)), s("@4"));
        assert_eq!(decide(&mut rs, &pd, &ctx(Dir::In, "eth1", &e)), s("@3"));
        assert_eq!(main_evals(&rs, 0), 2);
        assert_eq!(main_evals(&rs, 4), 1);
    }

    #[test]
    fn dynamic_no_alias_takes_the_first_address_of_each_family() {
        let mut e = empty();
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        e.0.sync(
            vec![crate::engine::iface::LinkInfo {
                index: 2,
                name: "eth0".into(),
                addrs: vec![
                    net("192.0.2.20/24"),
                    net("192.0.2.30/24"),
                    net("2001:db8::1/64"),
                ],
                carpdev: None,
                own_groups: None,
            }],
            0,
        );
        let c = ctx(Dir::In, "eth0", &e);
        let to = |d: &str| v4("192.168.99.50", d, 17, &udp_dgram(1000, 53, b""));
        let (first, alias) = (to("192.0.2.20"), to("192.0.2.30"));
        let mut rs = load("block\npass in to (eth0)");
        assert_eq!(decide(&mut rs, &describe(&alias).unwrap(), &c), s("@1"));
        let mut rs = load("block\npass in to (eth0:0)");
        assert_eq!(decide(&mut rs, &describe(&first).unwrap(), &c), s("@1"));
        assert_eq!(decide(&mut rs, &describe(&alias).unwrap(), &c), s("@0"));
    }

    #[test]
    fn flags_only_apply_to_tcp() {
        let e = empty();
        let mut rs = load("block return\npass");
        let ack = v4(
            "192.168.99.50",
            "192.0.2.20",
            6,
            &tcp_seg(1000, 80, 1, 1, tcp::ACK, 100, b""),
        );
        let c = ctx(Dir::In, "eth1", &e);
        assert_eq!(decide(&mut rs, &describe(&ack).unwrap(), &c), s("@0"));
        assert_eq!(decide(&mut rs, &describe(&udp()).unwrap(), &c), s("@1"));
    }

    #[test]
    fn networks_negation_ports_and_groups() {
        let e = empty();
        let mut rs = load("pass out on eth0 inet from eth1:network to any nat-to eth0\nblock in on ! eth1 proto tcp from any to any port 6000:6010");
        let p = v4("192.168.99.50", "192.0.2.20", 1, &echo(8, 1, 1));
        let ev = evaluate(&mut rs, &describe(&p).unwrap(), &ctx(Dir::Out, "eth0", &e));
        assert_eq!(at(&rs, ev.rule), s("@0"));
        let x = v4(
            "192.0.2.20",
            "192.0.2.10",
            6,
            &tcp_seg(1, 6001, 1, 0, tcp::SYN, 1, b""),
        );
        let x = describe(&x).unwrap();
        assert_eq!(decide(&mut rs, &x, &ctx(Dir::In, "eth0", &e)), s("@1"));
        assert_eq!(decide(&mut rs, &x, &ctx(Dir::In, "eth1", &e)), None);
        assert!(if_matches("carp", "carp1"));
        assert!(if_matches("lo", "lo"));
        assert!(!if_matches("eth", "veth0"));
    }

    #[test]
    fn inline_anchors_evaluate_in_place() {
        let e = empty();
        let (syn, udp) = (syn(), udp());
        let (syn, udp) = (describe(&syn).unwrap(), describe(&udp).unwrap());
        let c0 = ctx(Dir::In, "eth0", &e);
        let c1 = ctx(Dir::In, "eth1", &e);

        // Each inline anchor is an anchor of its own, named as pfctl names
        // it; its rules count only when the anchor rule matches.
        let mut rs = load(
            "block
anchor on eth1 {
 pass
 block proto udp
}
anchor foo",
        );
        let paths: Vec<&str> = rs.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(paths, ["", "_1", "foo"]);
        assert!(rs.main().rules[1]
            .anchor
            .as_ref()
            .is_some_and(|a| a.rules.is_empty() && a.name == "_1"));
        assert_eq!(decide(&mut rs, &syn, &c0), s("@0"));
        assert_eq!(evals(&rs, "_1", 0), 0);
        // Last match wins inside the anchor too; an empty anchor matches nothing.
        assert_eq!(decide(&mut rs, &syn, &c1), s("_1@0"));
        let ev = evaluate(&mut rs, &udp, &c1);
        assert_eq!((at(&rs, ev.rule), at(&rs, ev.anchor)), (s("_1@1"), s("@1")));
        assert_eq!(main_evals(&rs, 2), 3);

        // `quick` inside an anchor ends the whole evaluation.
        let mut rs = load(
            "anchor {
 pass quick proto tcp
}
block",
        );
        assert_eq!(decide(&mut rs, &syn, &c0), s("_1@0"));
        assert_eq!(decide(&mut rs, &udp, &c0), s("@1"));

        // A quick anchor ends it if a pass/block rule inside matched.
        let mut rs = load(
            "anchor quick {
 match log
 pass proto tcp
}
block",
        );
        assert_eq!(decide(&mut rs, &syn, &c0), s("_1@1"));
        let ev = evaluate(&mut rs, &udp, &c0);
        assert_eq!((at(&rs, ev.rule), ev.log), (s("@1"), true));

        // Nested: the inner quick rule stops the outer ruleset as well.
        let mut rs = load(
            "anchor {
 anchor proto tcp {
  pass quick
 }
 block
}
block",
        );
        assert_eq!(decide(&mut rs, &syn, &c0), s("_1/_2@0"));
        assert_eq!(decide(&mut rs, &udp, &c0), s("@1"));

        // A quick anchor with a match in a nested anchor, not cleared by a
        // nested anchor that matched nothing (FreeBSD's quick_nested).
        let mut rs = load(
            "anchor quick {
 pass
 anchor {
  block proto tcp
 }
}
block",
        );
        assert_eq!(decide(&mut rs, &udp, &c0), s("_1@0"));
        assert_eq!(decide(&mut rs, &syn, &c0), s("_1/_2@0"));
    }

    #[test]
    fn anchors_loaded_later_are_evaluated() {
        let e = empty();
        let (syn, udp) = (syn(), udp());
        let (syn, udp) = (describe(&syn).unwrap(), describe(&udp).unwrap());
        let c = ctx(Dir::In, "eth0", &e);
        let mut t = load("block\nanchor foo\nanchor \"bar/*\"");
        assert_eq!(decide(&mut t, &syn, &c), s("@0"));
        // pfctl -a foo -f: the call already in place finds the new rules.
        load_at(&mut t, "foo", "pass proto tcp");
        assert_eq!(decide(&mut t, &syn, &c), s("foo@0"));
        assert_eq!(decide(&mut t, &udp, &c), s("@0"));
        // Reloading the main ruleset keeps what was loaded into foo.
        load_at(&mut t, "", "block\nanchor foo\nanchor \"bar/*\"");
        assert_eq!(decide(&mut t, &syn, &c), s("foo@0"));
        // Flushing foo (pfctl -a foo -F rules) removes its rules only.
        t.commit(vec![("foo".into(), vec![])], Loader::default(), 512)
            .unwrap();
        assert_eq!(decide(&mut t, &syn, &c), s("@0"));
        assert!(t.find("foo").is_some_and(|a| a.rules.rules.is_empty()));

        // Wildcard: each child of bar in name order, last match wins
        // across them; quick in one child stops the rest.
        load_at(&mut t, "bar/b", "block proto tcp");
        load_at(&mut t, "bar/a", "pass");
        assert_eq!(decide(&mut t, &syn, &c), s("bar/b@0"));
        assert_eq!(decide(&mut t, &udp, &c), s("bar/a@0"));
        load_at(&mut t, "bar/a", "pass quick");
        assert_eq!(decide(&mut t, &syn, &c), s("bar/a@0"));
        assert_eq!(evals(&t, "bar/b", 0), 2);
        // The wildcard sees a child loaded after it.
        load_at(&mut t, "bar/0", "block quick proto udp");
        assert_eq!(decide(&mut t, &udp, &c), s("bar/0@0"));
    }

    #[test]
    fn relative_and_absolute_calls() {
        let e = empty();
        let syn = syn();
        let syn = describe(&syn).unwrap();
        let c = ctx(Dir::In, "eth0", &e);
        let mut t = load("anchor \"a/b\"");
        load_at(&mut t, "a/b", "anchor c\nanchor \"../d\"\nanchor \"/e\"");
        load_at(&mut t, "a/b/c", "block");
        assert_eq!(decide(&mut t, &syn, &c), s("a/b/c@0"));
        load_at(&mut t, "a/d", "pass");
        assert_eq!(decide(&mut t, &syn, &c), s("a/d@0"));
        load_at(&mut t, "e", "block log");
        let ev = evaluate(&mut t, &syn, &c);
        assert_eq!((at(&t, ev.rule), at(&t, ev.anchor)), (s("e@0"), s("a/b@2")));
        // A call above the main ruleset is refused, nothing changes.
        assert!(t
            .commit(
                flatten(&parsed("anchor \"../../x\""), "q"),
                Loader::default(),
                512
            )
            .is_err());
        assert!(t.find("q").is_none());
        // `set limit anchors`: a load needing more anchors is refused.
        assert_eq!(t.anchors(), 5);
        assert!(t
            .commit(flatten(&parsed("anchor n"), "m"), Loader::default(), 6)
            .is_err());
        assert!(t.find("m").is_none());
        t.commit(flatten(&parsed("anchor n"), "m"), Loader::default(), 7)
            .unwrap();
        assert_eq!(t.anchors(), 7);
    }

    #[test]
    fn call_loops_overflow_pf_stack() {
        let e = empty();
        let syn = syn();
        let syn = describe(&syn).unwrap();
        let mut t = load("pass\nanchor loop");
        load_at(&mut t, "loop", "anchor \"/loop\"");
        let ev = evaluate(&mut t, &syn, &ctx(Dir::In, "eth0", &e));
        assert!(ev.overflow);
        assert_eq!(evals(&t, "loop", 0), MAX_DEPTH as u64);
    }

    #[test]
    fn walk_stops_at_translating_match_rules_and_match_quick() {
        let e = empty();
        let c = ctx(Dir::Out, "eth0", &e);
        let p = udp();
        let pd = describe(&p).unwrap();
        let mut rs = load(
            "block\nanchor {\n match out nat-to 192.0.2.10\n}\nmatch out log\n\
             match out proto udp rdr-to 192.0.2.30\npass\nmatch quick\nblock",
        );
        let mut w = Walk::new(&pd, false);
        // The anchor's match rule, then the main ruleset's; the walk goes
        // on where it stopped.
        assert_eq!(
            w.run(&mut rs, &pd, &c),
            Step::Translate(RuleRef {
                anchor: 1,
                nr: 0,
                gen: rs.find("_1").unwrap().rules.generation
            })
        );
        let r = match w.run(&mut rs, &pd, &c) {
            Step::Translate(r) => r,
            Step::Done => panic!("the rdr-to match rule was passed over"),
        };
        assert_eq!(at(&rs, Some(r)), s("@3"));
        // `match quick` ends evaluation: the pass before it decides.
        assert_eq!(w.run(&mut rs, &pd, &c), Step::Done);
        assert_eq!(w.run(&mut rs, &pd, &c), Step::Done);
        assert_eq!((at(&rs, w.ev.rule), w.ev.log), (s("@4"), true));
        assert_eq!(main_evals(&rs, 6), 0);
        // `evaluate` walks to the end without translating.
        assert_eq!(decide(&mut rs, &pd, &c), s("@4"));
    }

    #[test]
    fn user_needs_a_socket() {
        let e = empty();
        let mut rs = load("block out proto tcp user nobody");
        let p = v4(
            "10.0.0.1",
            "10.0.0.2",
            6,
            &tcp_seg(1, 2, 1, 0, tcp::SYN, 1, b""),
        );
        let pd = describe(&p).unwrap();
        assert_eq!(decide(&mut rs, &pd, &ctx(Dir::Out, "eth0", &e)), None);
        let mut c = ctx(Dir::Out, "eth0", &e);
        c.uid = Some(65534);
        assert_eq!(decide(&mut rs, &pd, &c), s("@0"));
    }
}

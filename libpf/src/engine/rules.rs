//! Rule evaluation (pf_test_rule's matching part): does one rule match a
//! described packet, and the loaded ruleset with its per-rule counters.

use super::packet::{Dir, Pd};
use super::rulestate::RuleStates;
use super::table::{RuleTables, TableId, Tables};
use crate::addr::{Af, IpNet};
use crate::ruleset::{Action, AddrKind, Direction, DynModifier, Endpoint, KeepState, Rule};
use crate::wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP};
use std::collections::HashMap;
use std::net::IpAddr;

/// What `pfctl -vsr` shows under a rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleCounters {
    pub evaluations: u64,
    /// [in, out]
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    pub states_cur: u32,
    pub states_tot: u32,
}

/// Who loaded the ruleset (`Inserted: uid 0 pid 4242`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Loader {
    pub uid: u32,
    pub pid: u32,
}

/// A ruleset as the engine runs it: the rules, one counter set each, and a
/// generation number so states know whether their rule still exists.
///
/// Anchors are flattened depth first: an `anchor` rule is followed by the
/// rules of its anchor (theirs flattened the same way) and keeps only its
/// name; `ends[i]` is the index just past rule `i` and its anchor's rules.
/// Rule indices (states' rule numbers, counters) are flat indices.
#[derive(Debug, Clone, Default)]
pub struct LoadedRules {
    pub rules: Vec<Rule>,
    pub counters: Vec<RuleCounters>,
    pub ends: Vec<usize>,
    /// Anchor nesting of each rule: 0 in the main ruleset.
    pub depth: Vec<u16>,
    /// Anchor path of each rule (index into `anchors`).
    pub anchor: Vec<u32>,
    /// The anchor paths rules live in; [0] is "" (the main ruleset).
    pub anchors: Vec<String>,
    /// The tables each rule names, resolved by `attach_tables`.
    pub tables: Vec<RuleTables>,
    pub generation: u64,
    pub loader: Loader,
    /// Run-time state of each rule (tags, once, max-pkt-rate), set up by
    /// the engine when it loads the ruleset.
    pub run: RuleStates,
}

impl LoadedRules {
    pub fn new(rules: Vec<Rule>, generation: u64, loader: Loader) -> LoadedRules {
        let mut lr = LoadedRules {
            generation,
            loader,
            anchors: vec![String::new()],
            ..LoadedRules::default()
        };
        lr.flatten(rules, 0, 0);
        lr.counters = vec![RuleCounters::default(); lr.rules.len()];
        lr.tables = vec![RuleTables::default(); lr.rules.len()];
        lr
    }

    fn flatten(&mut self, rules: Vec<Rule>, depth: u16, path: u32) {
        for mut r in rules {
            let i = self.rules.len();
            let inner = r
                .anchor
                .as_mut()
                .map(|a| std::mem::take(&mut a.rules))
                .unwrap_or_default();
            let inner_path = match &r.anchor {
                Some(call) => self.anchor_index(anchor_child_path(
                    &self.anchors[path as usize],
                    &call.name,
                    call.inline,
                )),
                None => path,
            };
            self.rules.push(r);
            self.ends.push(i + 1);
            self.depth.push(depth);
            self.anchor.push(path);
            self.flatten(inner, depth.saturating_add(1), inner_path);
            self.ends[i] = self.rules.len();
        }
    }

    fn anchor_index(&mut self, path: String) -> u32 {
        match self.anchors.iter().position(|p| *p == path) {
            Some(i) => i as u32,
            None => {
                self.anchors.push(path);
                (self.anchors.len() - 1) as u32
            }
        }
    }

    /// The anchor path rule `i` belongs to ("" for the main ruleset).
    pub fn anchor_path(&self, i: usize) -> &str {
        self.anchor
            .get(i)
            .and_then(|a| self.anchors.get(*a as usize))
            .map_or("", |s| s.as_str())
    }
}

/// The path of the anchor an `anchor` rule in `base` calls, for the
/// rules below it: an inline anchor is `base/name` (`_` when it has no
/// name), a call by name is resolved like pf_anchor_setup does; the rules
/// of a wildcard call (`x/*`) are calls by their absolute path.
fn anchor_child_path(base: &str, name: &str, inline: bool) -> String {
    let join = |n: &str| {
        if base.is_empty() {
            n.to_string()
        } else {
            format!("{base}/{n}")
        }
    };
    if inline {
        return join(if name.is_empty() { "_" } else { name });
    }
    if name.ends_with("/*") || name == "*" {
        return String::new();
    }
    crate::conf::anchor::resolve(base, name).unwrap_or_else(|| name.to_string())
}

/// Facts about a packet rule matching needs beyond the packet itself.
#[derive(Debug, Clone, Copy)]
pub struct MatchCtx<'a> {
    pub dir: Dir,
    pub ifname: &'a str,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Addresses of interfaces, for `(if)` dynamic addresses.
    pub ifaddrs: &'a HashMap<String, Vec<IpNet>>,
    /// The tables rules name (`<t>`).
    pub tables: &'a Tables,
    /// The tag the packet carries from an earlier pass (0 = none).
    pub tag: u16,
    /// Monotonic milliseconds (max-pkt-rate).
    pub now: u64,
    /// The systems the OS fingerprint of a TCP SYN names (`os`); None for
    /// other packets and SYNs no fingerprint knows.
    pub os: Option<&'a [(crate::osfp::OsId, usize)]>,
}

/// The interface group a Linux interface name falls in: the name without
/// its trailing unit number (`eth0` → `eth`, `carp12` → `carp`, `lo` → `lo`).
pub fn if_group(name: &str) -> &str {
    name.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// `on ifname` matches the interface itself or its group.
pub fn if_matches(rule_if: &str, ifname: &str) -> bool {
    rule_if == ifname || (if_group(ifname) == rule_if && !if_group(ifname).is_empty())
}

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
        } => ctx.ifaddrs.get(ifname.as_str()).is_some_and(|nets| {
            nets.iter().any(|n| match (modifier.mode(), mask) {
                (_, Some(m)) if n.af() == Af::Inet6 || *m <= 32 => {
                    IpNet::new(n.addr, *m).is_ok_and(|x| x.to_network().contains(ip))
                }
                (DynModifier::Network, _) => n.contains(ip),
                (DynModifier::Broadcast, _) => n.af() == Af::Inet && n.broadcast() == *ip,
                _ => n.addr == *ip,
            })
        }),
        AddrKind::Table(_) => table.is_some_and(|id| ctx.tables.match_addr(id, ip)),
        // Routes and uRPF come with later issues; support.rs refuses them.
        AddrKind::NoRoute | AddrKind::UrpfFailed | AddrKind::RouteLabel(_) => false,
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
    if let Some(on) = &r.on {
        if if_matches(&on.name, ctx.ifname) == on.neg {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// Index of the deciding pass/block rule; None = the default rule.
    pub rule: Option<usize>,
    /// Last matching rule carrying `nat-to`, then `rdr-to` (match or pass).
    pub nat: Option<usize>,
    pub rdr: Option<usize>,
    /// Any matching rule asked for logging.
    pub log: bool,
    /// Matching `match` rules that name tables (their statistics are
    /// counted once the packet passes); the first `MATCH_TABLES`.
    pub match_tables: [u32; MATCH_TABLES],
    pub n_match_tables: u8,
    /// pf's `ctx->tag`: the tag of the last matching rule with one, or the
    /// packet's own once a `tagged` test read it; None = neither.
    pub tag: Option<u16>,
}

/// How many matching `match` rules with tables an evaluation remembers.
pub const MATCH_TABLES: usize = 8;

/// Walk the rules: the last matching pass/block wins unless a `quick` one
/// decides first; `match` rules contribute translation and logging.
pub fn evaluate(rules: &mut LoadedRules, pd: &Pd, ctx: &MatchCtx) -> Evaluation {
    let mut ev = Evaluation {
        rule: None,
        nat: None,
        rdr: None,
        log: false,
        match_tables: [0; MATCH_TABLES],
        n_match_tables: 0,
        tag: None,
    };
    walk(rules, 0, rules.rules.len(), pd, ctx, &mut ev);
    // A translation belongs to the deciding rule or to match rules before
    // it; a later match rule cannot translate for a block.
    ev
}

/// One ruleset, `rules[from..to]` (pf_match_rule). True when evaluation
/// ends: a `quick` rule matched, here or in an anchor called from here.
/// A matching `anchor` rule evaluates its anchor's rules in its place, in
/// the same last-match-wins walk (pf_step_into_anchor); a `quick` anchor
/// ends evaluation if a pass/block rule inside it matched. An anchor with
/// no rules (a name nothing was loaded into) matches nothing.
fn walk(
    rules: &mut LoadedRules,
    from: usize,
    to: usize,
    pd: &Pd,
    ctx: &MatchCtx,
    ev: &mut Evaluation,
) -> bool {
    let mut i = from;
    while i < to {
        let end = rules.ends[i];
        if rules.run.expired(i) {
            i = end;
            continue;
        }
        rules.counters[i].evaluations += 1;
        let rt = rules.tables.get(i).copied().unwrap_or_default();
        if !rule_matches(&rules.rules[i], &rt, pd, ctx) || !rules.run.admit(i, pd, ctx, &mut ev.tag)
        {
            i = end;
            continue;
        }
        let r = &rules.rules[i];
        if r.is_anchor() {
            let quick = r.quick;
            let before = ev.rule;
            if walk(rules, i + 1, end, pd, ctx, ev) || (quick && ev.rule != before) {
                return true;
            }
            i = end;
            continue;
        }
        if r.nat_to.is_some() {
            ev.nat = Some(i);
        }
        if r.rdr_to.is_some() {
            ev.rdr = Some(i);
        }
        if r.log.enabled {
            ev.log = true;
        }
        if r.action == Action::Match {
            if (rt.src.is_some() || rt.dst.is_some()) && (ev.n_match_tables as usize) < MATCH_TABLES
            {
                ev.match_tables[ev.n_match_tables as usize] = i as u32;
                ev.n_match_tables += 1;
            }
            i += 1;
            continue;
        }
        ev.rule = Some(i);
        if r.quick {
            return true;
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{parse, StaticResolver};
    use crate::engine::packet::describe;
    use crate::engine::packet::tests::*;
    use crate::wire::tcp;

    fn load(src: &str) -> LoadedRules {
        let res = StaticResolver::new()
            .iface("eth0", &["192.0.2.10/24"])
            .iface("eth1", &["192.168.99.1/24"])
            .user("nobody", 65534);
        let rs = parse(src, "test.conf", &res)
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        LoadedRules::new(rs.rules, 1, Loader::default())
    }

    fn ctx<'a>(dir: Dir, ifname: &'a str, e: &'a HashMap<String, Vec<IpNet>>) -> MatchCtx<'a> {
        MatchCtx {
            dir,
            ifname,
            uid: None,
            gid: None,
            ifaddrs: e,
            tables: Box::leak(Box::new(Tables::new())),
            tag: 0,
            now: 0,
            os: None,
        }
    }

    #[test]
    fn last_match_wins_and_quick_stops() {
        let e = HashMap::new();
        let mut rs = load(
            "block return\npass\nblock in on eth0 proto tcp to port 22\npass quick on eth1\nblock",
        );
        let syn = v4(
            "192.168.99.50",
            "192.0.2.20",
            6,
            &tcp_seg(1000, 22, 1, 0, tcp::SYN, 100, b""),
        );
        let pd = describe(&syn).unwrap();
        assert_eq!(
            evaluate(&mut rs, &pd, &ctx(Dir::In, "eth0", &e)).rule,
            Some(4)
        );
        assert_eq!(
            evaluate(&mut rs, &pd, &ctx(Dir::In, "eth1", &e)).rule,
            Some(3)
        );
        assert_eq!(rs.counters[0].evaluations, 2);
        assert_eq!(rs.counters[4].evaluations, 1);
    }

    #[test]
    fn flags_only_apply_to_tcp() {
        let e = HashMap::new();
        let mut rs = load("block return\npass");
        let ack = v4(
            "192.168.99.50",
            "192.0.2.20",
            6,
            &tcp_seg(1000, 80, 1, 1, tcp::ACK, 100, b""),
        );
        assert_eq!(
            evaluate(&mut rs, &describe(&ack).unwrap(), &ctx(Dir::In, "eth1", &e)).rule,
            Some(0)
        );
        let udp = v4("192.168.99.50", "192.0.2.20", 17, &udp_dgram(1000, 53, b""));
        assert_eq!(
            evaluate(&mut rs, &describe(&udp).unwrap(), &ctx(Dir::In, "eth1", &e)).rule,
            Some(1)
        );
    }

    #[test]
    fn networks_negation_ports_and_groups() {
        let e = HashMap::new();
        let mut rs = load("pass out on eth0 inet from eth1:network to any nat-to eth0\nblock in on ! eth1 proto tcp from any to any port 6000:6010");
        let p = v4("192.168.99.50", "192.0.2.20", 1, &echo(8, 1, 1));
        let ev = evaluate(&mut rs, &describe(&p).unwrap(), &ctx(Dir::Out, "eth0", &e));
        assert_eq!((ev.rule, ev.nat), (Some(0), Some(0)));
        let x = v4(
            "192.0.2.20",
            "192.0.2.10",
            6,
            &tcp_seg(1, 6001, 1, 0, tcp::SYN, 1, b""),
        );
        assert_eq!(
            evaluate(&mut rs, &describe(&x).unwrap(), &ctx(Dir::In, "eth0", &e)).rule,
            Some(1)
        );
        assert_eq!(
            evaluate(&mut rs, &describe(&x).unwrap(), &ctx(Dir::In, "eth1", &e)).rule,
            None
        );
        assert!(if_matches("carp", "carp1"));
        assert!(if_matches("lo", "lo"));
        assert!(!if_matches("eth", "veth0"));
    }

    #[test]
    fn inline_anchors_evaluate_in_place() {
        let e = HashMap::new();
        let syn = v4(
            "192.168.99.50",
            "192.0.2.20",
            6,
            &tcp_seg(1000, 22, 1, 0, tcp::SYN, 100, b""),
        );
        let udp = v4("192.168.99.50", "192.0.2.20", 17, &udp_dgram(1000, 53, b""));
        let (syn, udp) = (describe(&syn).unwrap(), describe(&udp).unwrap());
        let c0 = ctx(Dir::In, "eth0", &e);
        let c1 = ctx(Dir::In, "eth1", &e);

        // Flattened depth first; the anchor's rules count only when it matches.
        let mut rs = load(
            "block
anchor on eth1 {
 pass
 block proto udp
}
anchor foo",
        );
        assert_eq!(
            (rs.ends.clone(), rs.depth.clone()),
            (vec![1, 4, 3, 4, 5], vec![0, 0, 1, 1, 0])
        );
        assert!(rs.rules[1]
            .anchor
            .as_ref()
            .is_some_and(|a| a.rules.is_empty()));
        assert_eq!(evaluate(&mut rs, &syn, &c0).rule, Some(0));
        assert_eq!(rs.counters[2].evaluations, 0);
        // Last match wins inside the anchor too; an empty anchor matches nothing.
        assert_eq!(evaluate(&mut rs, &syn, &c1).rule, Some(2));
        assert_eq!(evaluate(&mut rs, &udp, &c1).rule, Some(3));
        assert_eq!(rs.counters[4].evaluations, 3);

        // `quick` inside an anchor ends the whole evaluation.
        let mut rs = load(
            "anchor {
 pass quick proto tcp
}
block",
        );
        assert_eq!(evaluate(&mut rs, &syn, &c0).rule, Some(1));
        assert_eq!(evaluate(&mut rs, &udp, &c0).rule, Some(2));

        // A quick anchor ends it if a pass/block rule inside matched.
        let mut rs = load(
            "anchor quick {
 match log
 pass proto tcp
}
block",
        );
        assert_eq!(evaluate(&mut rs, &syn, &c0).rule, Some(2));
        let ev = evaluate(&mut rs, &udp, &c0);
        assert_eq!((ev.rule, ev.log), (Some(3), true));

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
        assert_eq!(evaluate(&mut rs, &syn, &c0).rule, Some(2));
        assert_eq!(evaluate(&mut rs, &udp, &c0).rule, Some(4));
    }

    #[test]
    fn user_needs_a_socket() {
        let e = HashMap::new();
        let mut rs = load("block out proto tcp user nobody");
        let p = v4(
            "10.0.0.1",
            "10.0.0.2",
            6,
            &tcp_seg(1, 2, 1, 0, tcp::SYN, 1, b""),
        );
        let pd = describe(&p).unwrap();
        assert_eq!(
            evaluate(&mut rs, &pd, &ctx(Dir::Out, "eth0", &e)).rule,
            None
        );
        let mut c = ctx(Dir::Out, "eth0", &e);
        c.uid = Some(65534);
        assert_eq!(evaluate(&mut rs, &pd, &c).rule, Some(0));
    }
}

//! How the optimizer sees a rule's fields (pfctl_optimize.c's
//! `pf_rule_desc`): each field has a class that says what may differ
//! between rules the optimizer groups, removes or merges, and
//! `comparable` blanks the fields of a class and above so that two rules
//! compare with `==` where pfctl compares with `memcmp`. Also the superset
//! test of duplicate removal and the skip-step comparisons of reordering.

use crate::addr::IpNet;
use crate::ruleset::{
    AddrKind, BlockReturn, Direction, Endpoint, IfMatch, LogOpts, Rule, SourceTrack, StateOpts,
};

/// The classes of `pf_rule_desc`, weakest constraint last. Fields pfctl
/// does not list (received-on, prio, set prio, set tos, delay, divert,
/// max-pkt-rate, scrub) are never blanked, as pfctl's unlisted fields; pfctl
/// lists min-ttl, max-mss and set-tos as "never set" and blanks them, which
/// would let it drop a rule that differs from another only by them: here
/// they count, so no rule with its own scrub options is ever removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Its presence puts the rule in a superblock of its own.
    Barrier,
    /// May not differ within a superblock.
    Break,
    /// May differ within a superblock but not between rules merged.
    NoMerge,
    /// The addresses, merged into a table.
    Combined,
    /// Never compared (the source line).
    DontCare,
}

/// The rule with the fields of class `from` and above blanked.
pub fn comparable(r: &Rule, from: Class) -> Rule {
    let mut c = r.clone();
    // Normalise what pf stores as zero either way.
    if c.flags.is_some_and(|f| f.flags == 0 && f.mask == 0) {
        c.flags = None;
    }
    if from <= Class::DontCare {
        c.src_line = 0;
    }
    if from <= Class::Combined {
        c.from.addr = AddrKind::Any;
        c.to.addr = AddrKind::Any;
    }
    if from <= Class::NoMerge {
        blank_nomerge(&mut c);
    }
    if from <= Class::Break {
        blank_break(&mut c);
    }
    c
}

fn blank_nomerge(c: &mut Rule) {
    c.direction = Direction::InOut;
    c.on = None;
    c.af = None;
    c.proto = None;
    for e in [&mut c.from, &mut c.to] {
        e.neg = false;
        e.port = None;
    }
    c.user = None;
    c.group = None;
    c.flags = None;
    c.icmp_type = None;
    c.tagged = None;
    c.state_opts.timeouts.clear();
    if let BlockReturn::ReturnIcmp { .. } = c.block {
        c.block = BlockReturn::ReturnIcmp {
            icmp: (0, 0),
            icmp6: (0, 0),
        };
    }
    let x = &mut c.extras;
    x.os = None;
    x.on_rdomain = None;
    x.on_rdomain_not = false;
    x.tos = None;
    x.af_to = None;
}

fn blank_break(c: &mut Rule) {
    c.action = crate::ruleset::Action::Pass;
    c.block = BlockReturn::Drop;
    c.log = LogOpts::default();
    c.quick = false;
    c.keep_state = crate::ruleset::KeepState::None;
    c.nat_to = None;
    c.rdr_to = None;
    c.tag = None;
    let so = &mut c.state_opts;
    *so = StateOpts {
        max_states: so.max_states,
        max_src_states: so.max_src_states,
        max_src_conn: so.max_src_conn,
        max_src_conn_rate: so.max_src_conn_rate,
        max_src_nodes: so.max_src_nodes,
        ..StateOpts::default()
    };
    let x = &mut c.extras;
    x.queue = None;
    x.fragment = false;
    x.allow_opts = false;
    x.once = false;
    x.rtable = None;
    x.route = None;
}

/// A field of class `Barrier` is set, or the rule tracks its sources per
/// rule: the rule stands alone (superblock_inclusive's hard breaks).
pub fn is_barrier(r: &Rule) -> bool {
    let so = &r.state_opts;
    r.label.is_some()
        || r.extras.probability != 0
        || so.max_states != 0
        || so.max_src_nodes != 0
        || so.max_src_states != 0
        || so.max_src_conn != 0
        || so.max_src_conn_rate.is_some()
        || r.anchor.is_some()
        || so.source_track == Some(SourceTrack::Rule)
}

/// pfctl's interface_group: a name not ending in a digit is a group,
/// whose members may change at run time.
pub fn interface_group(on: &Option<IfMatch>) -> Option<&str> {
    let name = on.as_ref()?.name.as_str();
    let last = name.chars().last()?;
    (!last.is_ascii_digit()).then_some(name)
}

/// pf's "address with a zero mask" (`any`, or a /0 network).
fn zero_mask(a: &AddrKind) -> bool {
    match a {
        AddrKind::Any => true,
        AddrKind::Net(n) => n.prefix == 0,
        _ => false,
    }
}

/// exclude_supersets for one endpoint: `sub` takes `sup`'s address when
/// `sup`'s covers it.
fn exclude_addr(sup: &Endpoint, sub: &mut Endpoint, same_af: bool) {
    if zero_mask(&sup.addr) && !sup.neg && !sub.neg {
        sub.addr = sup.addr.clone();
        return;
    }
    // pfctl also takes `! 10.1/16` for a subset of `! 10/8`, the wrong way
    // round (it matches more): only plain networks here.
    if let (AddrKind::Net(p), AddrKind::Net(s)) = (&sup.addr, &sub.addr) {
        if !sup.neg && !sub.neg && net_covers(p, s, same_af) {
            sub.addr = sup.addr.clone();
        }
    }
}

/// exclude_supersets: blank in `sub` what `sup` matches more widely, so
/// that `sub == sup` afterwards means every packet `sub` matches, `sup`
/// matches the same way.
pub fn exclude_supersets(sup: &Rule, sub: &mut Rule) {
    if sup.on.is_none() {
        // pfctl clears the name only: `on ! x` keeps its negation
        sub.on = sub.on.take().filter(|i| i.neg).map(|i| IfMatch {
            name: String::new(),
            neg: i.neg,
        });
    }
    if sup.direction == Direction::InOut {
        sub.direction = Direction::InOut;
    }
    if (sup.proto.is_none() || sup.proto == sub.proto) && sup.flags.is_none() && sub.flags.is_some()
    {
        sub.flags = None;
    }
    if sup.proto.is_none() {
        sub.proto = None;
    }
    if sup.from.port.is_none() {
        sub.from.port = None;
    }
    if sup.to.port.is_none() {
        sub.to.port = None;
    }
    let same_af = sup.af == sub.af;
    exclude_addr(&sup.from, &mut sub.from, same_af);
    exclude_addr(&sup.to, &mut sub.to, same_af);
    if sup.af.is_none() {
        sub.af = None;
    }
}

/// `exclude_supersets(sup, sub)` followed by `sup == sub`, without the
/// copies, for two comparable rules of the same `superset_key`: does
/// `sup` cover `sub` in the fields that key leaves out?
pub fn covers(sup: &Rule, sub: &Rule) -> bool {
    let on = match (&sup.on, &sub.on) {
        (None, s) => s.as_ref().is_none_or(|i| !i.neg),
        (p, s) => p == s,
    };
    let flags = (sup.proto.is_none() || sup.proto == sub.proto) && sup.flags.is_none()
        || sup.flags == sub.flags;
    let same_af = sup.af == sub.af;
    on && (sup.direction == Direction::InOut || sup.direction == sub.direction)
        && flags
        && (sup.proto.is_none() || sup.proto == sub.proto)
        && (sup.from.port.is_none() || sup.from.port == sub.from.port)
        && (sup.to.port.is_none() || sup.to.port == sub.to.port)
        && addr_covers(&sup.from, &sub.from, same_af)
        && addr_covers(&sup.to, &sub.to, same_af)
        && (sup.af.is_none() || same_af)
}

fn addr_covers(sup: &Endpoint, sub: &Endpoint, same_af: bool) -> bool {
    if sup.neg != sub.neg {
        return false;
    }
    if zero_mask(&sup.addr) && !sup.neg {
        return true;
    }
    match (&sup.addr, &sub.addr) {
        (AddrKind::Net(p), AddrKind::Net(s)) if !sup.neg && net_covers(p, s, same_af) => true,
        (a, b) => a == b,
    }
}

/// `p` is a shorter prefix of the same family that `s` lies in (pfctl
/// compares `p` as written with `s` masked by `p`'s mask).
fn net_covers(p: &IpNet, s: &IpNet, same_af: bool) -> bool {
    same_af
        && p.af() == s.af()
        && p.prefix < s.prefix
        && IpNet {
            addr: s.addr,
            prefix: p.prefix,
        }
        .network()
            == p.addr
}

/// What `exclude_supersets` leaves alone, as bytes: two rules can only be
/// equal after it (either way round) if these are equal, so duplicate
/// removal compares only rules with the same key.
pub fn superset_key(r: &Rule) -> Vec<u8> {
    let mut c = comparable(r, Class::DontCare);
    c.on = None;
    c.direction = Direction::InOut;
    c.flags = None;
    c.proto = None;
    c.af = None;
    for e in [&mut c.from, &mut c.to] {
        e.port = None;
        e.addr = AddrKind::Any;
    }
    key(&c)
}

/// A rule as bytes, for grouping equal rules.
pub fn key(r: &Rule) -> Vec<u8> {
    postcard::to_stdvec(r).unwrap_or_default()
}

/// The skip steps pf computes, in its order (PF_SKIP_*).
pub const SKIP_COUNT: usize = 9;

/// skip_cmp_*, as a key: rules share skip step `i` with the first rule of
/// a list when their keys are equal; None shares with no rule (pf's
/// comparators: an empty interface, no direction, no family, protocol 0,
/// `any`, no port).
pub fn skip_key(i: usize, r: &Rule) -> Option<Vec<u8>> {
    let bytes = |v: &dyn erased::Ser| Some(v.bytes());
    match i {
        0 => match &r.on {
            Some(x) if !x.name.is_empty() => bytes(&(x.name.as_str(), x.neg)),
            _ => None,
        },
        1 => (r.direction != Direction::InOut).then(|| vec![r.direction as u8]),
        2 => r
            .extras
            .on_rdomain
            .and_then(|d| bytes(&(d, r.extras.on_rdomain_not))),
        3 => r.af.and_then(|a| bytes(&a)),
        4 => r.proto.filter(|p| *p != 0).map(|p| vec![p]),
        5 => addr_key(&r.from),
        6 => addr_key(&r.to),
        7 => r.from.port.and_then(|p| bytes(&p)),
        _ => r.to.port.and_then(|p| bytes(&p)),
    }
}

fn addr_key(e: &Endpoint) -> Option<Vec<u8>> {
    match &e.addr {
        AddrKind::Net(x) if x.addr.is_unspecified() => None,
        AddrKind::Net(_)
        | AddrKind::NoRoute
        | AddrKind::UrpfFailed
        | AddrKind::Table(_)
        | AddrKind::Dynamic { .. } => postcard::to_stdvec(&(e.neg, &e.addr)).ok(),
        _ => None,
    }
}

/// Values made bytes for keys.
mod erased {
    pub trait Ser {
        fn bytes(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn bytes(&self) -> Vec<u8> {
            postcard::to_stdvec(self).unwrap_or_default()
        }
    }
}

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
        let covered = same_af
            && !sup.neg
            && !sub.neg
            && p.af() == s.af()
            && p.prefix < s.prefix
            && IpNet {
                addr: s.addr,
                prefix: p.prefix,
            }
            .network()
                == p.addr;
        if covered {
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

/// The skip steps pf computes, in its order (PF_SKIP_*).
pub const SKIP_COUNT: usize = 9;

/// skip_cmp_*: may `a` share skip step `i` with `b` (the first rule of a
/// list)? pfctl's comparators answer "differs", this answers "same".
pub fn skip_same(i: usize, a: &Rule, b: &Rule) -> bool {
    match i {
        0 => match (&a.on, &b.on) {
            (Some(x), Some(y)) => !x.name.is_empty() && x.name == y.name && x.neg == y.neg,
            _ => false,
        },
        1 => a.direction != Direction::InOut && a.direction == b.direction,
        2 => {
            a.extras.on_rdomain.is_some()
                && a.extras.on_rdomain == b.extras.on_rdomain
                && a.extras.on_rdomain_not == b.extras.on_rdomain_not
        }
        3 => a.af.is_some() && a.af == b.af,
        4 => a.proto.is_some_and(|p| p != 0) && a.proto == b.proto,
        5 => addr_same(&a.from, &b.from),
        6 => addr_same(&a.to, &b.to),
        7 => a.from.port.is_some() && a.from.port == b.from.port,
        _ => a.to.port.is_some() && a.to.port == b.to.port,
    }
}

fn addr_same(a: &Endpoint, b: &Endpoint) -> bool {
    if a.neg != b.neg {
        return false;
    }
    match (&a.addr, &b.addr) {
        (AddrKind::Net(x), AddrKind::Net(y)) => x == y && !x.addr.is_unspecified(),
        (AddrKind::NoRoute, AddrKind::NoRoute) => true,
        (AddrKind::UrpfFailed, AddrKind::UrpfFailed) => true,
        (AddrKind::Table(x), AddrKind::Table(y)) => x == y,
        (
            AddrKind::Dynamic {
                ifname: n1,
                modifier: m1,
                mask: k1,
            },
            AddrKind::Dynamic {
                ifname: n2,
                modifier: m2,
                mask: k2,
            },
        ) => n1 == n2 && m1 == m2 && k1 == k2,
        _ => false,
    }
}

//! Skip steps (pf_calc_skip_steps): for each rule and each of nine
//! criteria, the first later rule that differs from it in that criterion.
//! A packet that fails a rule on one of them can skip to that rule, and
//! `pfctl -g -sr` shows them as the kernel computed them when the ruleset
//! was committed.

use super::{AddrKind, Direction, DynModifier, Endpoint, Rule};
use crate::addr::Af;
use std::net::IpAddr;

/// The criteria, in pf's order (PF_SKIP_IFP .. PF_SKIP_DST_PORT), with the
/// names `pfctl -g` prints for them.
pub const SKIP_NAMES: [&str; SKIP_COUNT] = ["i", "d", "r", "f", "p", "sa", "da", "sp", "dp"];
pub const SKIP_COUNT: usize = 9;
/// No later rule differs: evaluation may stop (`end`).
pub const SKIP_END: u32 = u32::MAX;

/// One rule's skip steps: rule numbers, or `SKIP_END`.
pub type SkipSteps = [u32; SKIP_COUNT];

/// An address as pf_addr_wrap_neq compares it.
#[derive(PartialEq, Eq)]
enum AddrKey<'a> {
    /// Address and mask (a range: first and last), as pf stores them in
    /// 16 bytes whatever the family.
    Mask([u8; 16], [u8; 16]),
    /// The interface's address table: its name, modifiers and prefix.
    Dynamic(&'a str, DynModifier, Option<u8>),
    NoRoute,
    UrpfFailed,
    Table(&'a str),
    RouteLabel(&'a str),
}

fn bytes(a: &IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match a {
        IpAddr::V4(v) => b[..4].copy_from_slice(&v.octets()),
        IpAddr::V6(v) => b = v.octets(),
    }
    b
}

fn mask(prefix: u8) -> [u8; 16] {
    let mut m = [0u8; 16];
    for (i, byte) in m.iter_mut().enumerate() {
        let bits = (prefix as usize).saturating_sub(i * 8).min(8);
        *byte = if bits == 0 { 0 } else { 0xffu8 << (8 - bits) };
    }
    m
}

fn addr_key<'a>(e: &'a Endpoint, af: Option<Af>) -> (bool, AddrKey<'a>) {
    let k = match &e.addr {
        AddrKind::Any => AddrKey::Mask([0; 16], [0; 16]),
        AddrKind::Net(n) => AddrKey::Mask(bytes(&n.addr), mask(n.prefix)),
        AddrKind::Range(a, b) => AddrKey::Mask(bytes(a), bytes(b)),
        AddrKind::NoRoute => AddrKey::NoRoute,
        AddrKind::UrpfFailed => AddrKey::UrpfFailed,
        AddrKind::Table(t) => AddrKey::Table(t),
        AddrKind::RouteLabel(l) => AddrKey::RouteLabel(l),
        AddrKind::Dynamic {
            ifname,
            modifier,
            mask,
        } => {
            // pfi_dynaddr_setup: a host mask of the rule's family is no
            // mask at all (the same table).
            let full = match (mask, af) {
                (Some(128), _) | (Some(32), Some(Af::Inet)) | (None, _) => None,
                (m, _) => *m,
            };
            AddrKey::Dynamic(ifname, *modifier, full)
        }
    };
    (e.neg, k)
}

/// Whether rules `a` and `b` differ in criterion `i` (pf_calc_skip_steps).
fn differs(i: usize, a: &Rule, b: &Rule) -> bool {
    let ifnot = |r: &Rule| r.on.as_ref().is_some_and(|o| o.neg);
    match i {
        0 => {
            a.on.as_ref().map(|o| o.name.as_str()) != b.on.as_ref().map(|o| o.name.as_str())
                || ifnot(a) != ifnot(b)
        }
        1 => dir(a.direction) != dir(b.direction),
        // `on rdomain` is refused: every rule has none; the interface's
        // negation still counts, as in pf.
        2 => ifnot(a) != ifnot(b),
        3 => a.af != b.af,
        4 => a.proto != b.proto,
        5 => addr_key(&a.from, a.af) != addr_key(&b.from, b.af),
        6 => addr_key(&a.to, a.af) != addr_key(&b.to, b.af),
        7 => a.from.port != b.from.port,
        _ => a.to.port != b.to.port,
    }
}

fn dir(d: Direction) -> u8 {
    match d {
        Direction::InOut => 0,
        Direction::In => 1,
        Direction::Out => 2,
    }
}

/// The skip steps of one ruleset's rules, in order: a run of rules alike
/// in a criterion all skip to the first rule after the run.
pub fn calc(rules: &[Rule]) -> Vec<SkipSteps> {
    let n = rules.len();
    let mut skip = vec![[SKIP_END; SKIP_COUNT]; n];
    for i in 0..SKIP_COUNT {
        let mut head = 0;
        for cur in 1..n {
            if differs(i, &rules[cur], &rules[cur - 1]) {
                for s in &mut skip[head..cur] {
                    s[i] = cur as u32;
                }
                head = cur;
            }
        }
    }
    skip
}

/// `pfctl -g`'s line for rule `nr`: the steps that do not merely go to
/// the next rule.
pub fn format(nr: u32, s: &SkipSteps) -> String {
    let mut out = String::from("  [ Skip steps: ");
    for (name, &to) in SKIP_NAMES.iter().zip(s) {
        if to == nr.wrapping_add(1) {
            continue;
        }
        if to == SKIP_END {
            out.push_str(&format!("{name}=end "));
        } else {
            out.push_str(&format!("{name}={to} "));
        }
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{parse, StaticResolver};

    fn steps(conf: &str) -> Vec<String> {
        let res = StaticResolver::new().iface("em0", &["10.0.0.1/24"]);
        let rs = parse(conf, "pf.conf", &res)
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        calc(&rs.rules)
            .iter()
            .enumerate()
            .map(|(i, s)| format(i as u32, s))
            .collect()
    }

    #[test]
    fn runs_of_alike_rules_skip_together() {
        let s = steps(
            "block in on em0 proto tcp from 10.0.0.0/8 to any port 22\n\
             block in on em0 proto tcp from 10.0.0.0/8 to any port 23\n\
             pass out on em0 proto udp from any to 10.1.0.1\n\
             pass out proto udp from any to 10.1.0.1\n",
        );
        // Rules 0 and 1 differ only in the destination port; rule 2 in
        // direction, protocol and both addresses; rule 3 in interface.
        assert_eq!(
            s[0],
            "  [ Skip steps: i=3 d=2 r=end f=end p=2 sa=2 da=2 sp=end ]\n"
        );
        assert_eq!(s[1], "  [ Skip steps: i=3 r=end f=end sp=end ]\n");
        assert_eq!(
            s[2],
            "  [ Skip steps: d=end r=end f=end p=end sa=end da=end sp=end dp=end ]\n"
        );
        assert_eq!(
            s[3],
            "  [ Skip steps: i=end d=end r=end f=end p=end sa=end da=end sp=end dp=end ]\n"
        );
    }

    #[test]
    fn addresses_compare_as_pf_stores_them() {
        let s = steps(
            "pass from any to <t>\npass from 0.0.0.0/0 to <t>\npass from ! 10.0.0.0/8 to <u>\n\
             pass from ! 10.0.0.0/8 to (em0)\npass from ! 10.0.0.0/8 to (em0)\n\
             pass inet from ! 10.0.0.0/8 to (em0)/32\npass inet from ! 10.0.0.0/8 to (em0:network)\n",
        );
        // `any` is 0.0.0.0/0; a negation differs; tables by name; (em0)
        // and (em0)/32 in an inet rule are the same interface table.
        assert!(s[0].contains(" sa=2 da=2 "), "{}", s[0]);
        assert!(s[2].contains(" sa=end "), "{}", s[2]);
        assert!(s[3].contains(" da=6 "), "{}", s[3]);
        assert!(s[4].contains(" da=6 "), "{}", s[4]);
        assert!(!s[5].contains(" da="), "{}", s[5]);
        assert!(s[6].contains(" da=end "), "{}", s[6]);
    }
}

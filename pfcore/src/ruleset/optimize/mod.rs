//! pfctl's ruleset optimizer (`set ruleset-optimization`, `pfctl -o`), as
//! OpenBSD's pfctl_optimize.c does it, before the rules are printed
//! (`-nv`) and loaded:
//!
//! 1. the rules are cut into superblocks, runs of adjacent rules that
//!    may be reordered among themselves (`fields.rs` says which fields may
//!    differ);
//! 2. in each superblock, a rule that another one covers is removed
//!    (duplicates, subsets);
//! 3. rules that differ only in their source or only in their destination
//!    address are merged into one rule on a constant table
//!    `<__automatic_N>`, once there are `TABLE_THRESHOLD` of them
//!    (`combine.rs`);
//! 4. the rules are reordered so that rules sharing an interface,
//!    direction, family, protocol, address or port are adjacent, as pf's
//!    skip steps like (`reorder.rs`); with `profile`, quick superblocks
//!    are instead ordered by the packets the loaded ruleset's rules matched
//!    (`feedback.rs`).
//!
//! Every ruleset is optimized on its own: the main one, each inline
//! anchor, each `load anchor` file. Pure: the loaded ruleset's counters
//! for `profile` are passed in.

mod combine;
mod feedback;
pub mod fields;
mod reorder;
#[cfg(test)]
mod tests;

use super::{Directive, Rule, Ruleset, TableDef};
use fields::{comparable, covers, interface_group, is_barrier, Class};
use std::collections::HashMap;

/// `none`, `basic`, `profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    None,
    Basic,
    Profile,
}

impl Level {
    /// `set ruleset-optimization NAME`.
    pub fn from_name(s: &str) -> Option<Level> {
        match s {
            "none" => Some(Level::None),
            "basic" => Some(Level::Basic),
            "profile" => Some(Level::Profile),
            _ => None,
        }
    }

    /// `pfctl -o WORD`: pfctl takes the first level WORD begins.
    pub fn from_arg(word: &str) -> Option<Level> {
        if word.is_empty() {
            return None;
        }
        ["none", "basic", "profile"]
            .into_iter()
            .find(|l| l.starts_with(word))
            .and_then(Level::from_name)
    }

    /// The level pfctl uses: `-o` if given, else the first `set
    /// ruleset-optimization` of the file (pfctl ignores later ones), else
    /// basic.
    pub fn effective(cmdline: Option<Level>, rs: &Ruleset) -> Level {
        cmdline
            .or_else(|| {
                rs.directives.iter().find_map(|d| match d {
                    Directive::RulesetOptimization(s) => Level::from_name(s),
                    _ => None,
                })
            })
            .unwrap_or(Level::Basic)
    }
}

/// One rule being optimized, with the tables it is being merged into
/// (indices into `Tables::list`).
#[derive(Debug, Clone)]
struct OptRule {
    rule: Rule,
    src_tbl: Option<usize>,
    dst_tbl: Option<usize>,
    /// `profile`: packets its twin in the loaded ruleset matched.
    profile_count: u64,
}

/// The loaded ruleset's rules and the packets each matched (in + out),
/// for `profile`.
pub type Profile = [(Rule, u64)];

/// Tables made while optimizing: their temporary names continue pfctl's
/// `__automatic_N` numbering (shared with the tables of address pools).
struct Tables {
    next: usize,
    list: Vec<combine::OptTable>,
    made: Vec<TableDef>,
}

/// Optimizes every ruleset of `rs` at `level` (nothing for `None`);
/// tables made are added to the definitions of the ruleset they belong
/// to.
pub fn optimize(rs: &mut Ruleset, level: Level, profile: Option<&Profile>) {
    if level == Level::None {
        return;
    }
    let mut t = Tables {
        next: first_free_number(rs),
        list: vec![],
        made: vec![],
    };
    let profile = if level == Level::Profile {
        profile
    } else {
        None
    };
    optimize_tree(&mut rs.rules, "", false, &mut t, profile);
    rs.directives.extend(t.made.drain(..).map(Directive::Table));
    for l in &mut rs.loads {
        optimize_tree(&mut l.ruleset.rules, &l.path, false, &mut t, profile);
        l.ruleset
            .directives
            .extend(t.made.drain(..).map(Directive::Table));
    }
}

/// The first `__automatic_N` number no table of `rs` uses.
fn first_free_number(rs: &Ruleset) -> usize {
    let used = |r: &Ruleset| {
        r.tables()
            .filter_map(|t| t.name.strip_prefix("__automatic_")?.parse::<usize>().ok())
            .max()
            .map_or(0, |n| n + 1)
    };
    rs.loads
        .iter()
        .map(|l| used(&l.ruleset))
        .fold(used(rs), usize::max)
}

/// One ruleset, then the inline anchors it calls (pfctl optimizes each
/// ruleset as it loads it).
fn optimize_tree(
    rules: &mut Vec<Rule>,
    anchor: &str,
    nested: bool,
    t: &mut Tables,
    profile: Option<&Profile>,
) {
    let before = t.made.len();
    *rules = optimize_rules(std::mem::take(rules), t, profile);
    for d in &mut t.made[before..] {
        d.anchor = anchor.to_string();
        d.nested = nested;
    }
    for r in rules.iter_mut() {
        if let Some(a) = r.anchor.as_deref_mut() {
            if a.inline && !a.rules.is_empty() {
                let path = super::anchor::join(anchor, &a.name);
                optimize_tree(&mut a.rules, &path, true, t, profile);
            }
        }
    }
}

/// pfctl_optimize_ruleset for one ruleset's rules.
fn optimize_rules(rules: Vec<Rule>, t: &mut Tables, profile: Option<&Profile>) -> Vec<Rule> {
    let queue = rules
        .into_iter()
        .map(|rule| OptRule {
            rule,
            src_tbl: None,
            dst_tbl: None,
            profile_count: 0,
        })
        .collect();
    let mut blocks = superblocks(queue);
    let profiled = profile.map(|p| feedback::line_up(&blocks, p));
    let mut out = vec![];
    for (i, block) in blocks.iter_mut().enumerate() {
        let theirs = profiled.as_ref().and_then(|p| p.get(i));
        out.extend(optimize_superblock(std::mem::take(block), t, theirs));
    }
    out.into_iter().map(|o| o.rule).collect()
}

/// construct_superblocks: cut the rules into runs that may be reordered.
fn superblocks(queue: Vec<OptRule>) -> Vec<Vec<OptRule>> {
    let mut blocks: Vec<Vec<OptRule>> = vec![];
    for r in queue {
        match blocks.last_mut() {
            Some(b) if inclusive(&b[0].rule, &r.rule) => b.push(r),
            _ => blocks.push(vec![r]),
        }
    }
    blocks
}

/// superblock_inclusive: may `r` join the superblock that `first` begins?
fn inclusive(first: &Rule, r: &Rule) -> bool {
    if is_barrier(r) {
        return false;
    }
    // An interface group may gain members at run time: rules on a group
    // are never reordered against rules on another interface.
    if interface_group(&r.on).is_some() || interface_group(&first.on).is_some() {
        let a = r.on.as_ref().map(|i| i.name.to_ascii_lowercase());
        let b = first.on.as_ref().map(|i| i.name.to_ascii_lowercase());
        if a.unwrap_or_default() != b.unwrap_or_default() {
            return false;
        }
    }
    comparable(first, Class::NoMerge) == comparable(r, Class::NoMerge)
}

/// optimize_superblock: the passes, in pfctl's order.
fn optimize_superblock(
    mut block: Vec<OptRule>,
    t: &mut Tables,
    profiled: Option<&Vec<(Rule, u64)>>,
) -> Vec<OptRule> {
    if block.len() < 2 {
        return block;
    }
    remove_identical(&mut block);
    combine::combine(&mut block, t);
    match profiled {
        Some(theirs) if block.first().is_some_and(|r| r.rule.quick) => {
            feedback::sort_by_profile(block, theirs)
        }
        _ => reorder::reorder(block),
    }
}

/// remove_identical_rules: drop a rule that another rule of the
/// superblock covers (the later one of two equal rules).
fn remove_identical(block: &mut Vec<OptRule>) {
    let cmp: Vec<Rule> = block
        .iter()
        .map(|o| comparable(&o.rule, Class::DontCare))
        .collect();
    // only rules alike but for what exclude_supersets widens can match
    let mut buckets: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
    let bucket: Vec<Vec<u8>> = cmp.iter().map(fields::superset_key).collect();
    for (i, k) in bucket.iter().enumerate() {
        buckets.entry(k.clone()).or_default().push(i);
    }
    let mut gone = vec![false; block.len()];
    for i in 0..block.len() {
        if gone[i] {
            continue;
        }
        for &j in &buckets[&bucket[i]] {
            if j <= i || gone[j] {
                continue;
            }
            let (a, b) = (&cmp[i], &cmp[j]);
            if covers(a, b) {
                gone[j] = true;
                continue;
            }
            if covers(b, a) {
                gone[i] = true;
                break;
            }
        }
    }
    let mut k = 0;
    block.retain(|_| {
        k += 1;
        !gone[k - 1]
    });
}

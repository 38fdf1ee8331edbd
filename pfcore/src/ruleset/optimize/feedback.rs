//! `profile`: the superblocks of the loaded ruleset are lined up with
//! those being optimized (load_feedback_profile), and a quick superblock
//! that has a twin is ordered by the packets its rules matched there,
//! busiest first (block_feedback), instead of by skip steps.

use super::fields::{comparable, Class};
use super::{superblocks, OptRule, Profile};
use crate::ruleset::Rule;

/// The loaded ruleset's superblocks that line up with `blocks`, from the
/// first on, until the first pair whose leading rules differ in a field
/// no superblock may mix.
pub fn line_up(blocks: &[Vec<OptRule>], loaded: &Profile) -> Vec<Vec<(Rule, u64)>> {
    let theirs = superblocks(
        loaded
            .iter()
            .map(|(rule, n)| OptRule {
                rule: rule.clone(),
                src_tbl: None,
                dst_tbl: None,
                profile_count: *n,
            })
            .collect(),
    );
    let mut out = vec![];
    for (ours, theirs) in blocks.iter().zip(theirs) {
        if comparable(&ours[0].rule, Class::Break) != comparable(&theirs[0].rule, Class::Break) {
            break;
        }
        out.push(
            theirs
                .into_iter()
                .map(|o| (o.rule, o.profile_count))
                .collect(),
        );
    }
    out
}

/// block_feedback: each rule takes the count of the first loaded rule equal
/// to it; then the rules are sorted by count, busiest first, ties in the
/// order they had.
pub fn sort_by_profile(mut block: Vec<OptRule>, theirs: &[(Rule, u64)]) -> Vec<OptRule> {
    for (rule, n) in theirs {
        let a = comparable(rule, Class::DontCare);
        if let Some(o) = block
            .iter_mut()
            .find(|o| o.profile_count == 0 && comparable(&o.rule, Class::DontCare) == a)
        {
            o.profile_count = *n;
        }
    }
    // a stable sort, as pfctl's insertion before the first smaller count
    block.sort_by_key(|o| std::cmp::Reverse(o.profile_count));
    block
}

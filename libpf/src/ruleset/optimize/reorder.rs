//! reorder_rules: within a superblock, rules that share a skip-step field
//! (interface, direction, rdomain, family, protocol, addresses, ports)
//! are made adjacent, the largest group first, so that pf's skip steps
//! jump over more rules. A group of more than two rules is reordered
//! again on its own, and goes before the rules left in the superblock.

use super::fields::{skip_same, SKIP_COUNT};
use super::OptRule;

/// One skip list: rules (indices into the superblock) sharing a field.
#[derive(Debug, Clone)]
struct SkipList {
    count: usize,
    rules: Vec<usize>,
}

/// reorder_rules for one superblock.
pub fn reorder(block: Vec<OptRule>) -> Vec<OptRule> {
    let n = block.len();
    // skip lists per field, kept sorted by count, largest first
    let mut lists: [Vec<SkipList>; SKIP_COUNT] = Default::default();
    for (f, field) in lists.iter_mut().enumerate() {
        for (r, rule) in block.iter().enumerate() {
            let at = field
                .iter()
                .position(|l| skip_same(f, &rule.rule, &block[l.rules[0]].rule));
            let mut k = match at {
                Some(k) => k,
                None => {
                    field.push(SkipList {
                        count: 0,
                        rules: vec![],
                    });
                    field.len() - 1
                }
            };
            field[k].count += 1;
            field[k].rules.push(r);
            while k > 0 && field[k - 1].count < field[k].count {
                field.swap(k - 1, k);
                k -= 1;
            }
        }
    }
    // Fields common to all rules, or to none, say nothing.
    let mut largest = 0;
    for field in lists.iter_mut() {
        let first = &mut field[0];
        if first.count == n || first.count == 1 {
            first.count = 0;
        } else {
            largest = largest.max(first.count);
        }
    }
    if largest == 0 {
        return block;
    }
    let mut slots: Vec<Option<OptRule>> = block.into_iter().map(Some).collect();
    let mut before: Vec<OptRule> = vec![];
    let mut own: Vec<OptRule> = vec![];
    loop {
        let best = lists
            .iter()
            .enumerate()
            .filter_map(|(f, field)| Some((f, field.first()?.count)))
            .fold(None, |best: Option<(usize, usize)>, (f, c)| match best {
                Some((_, bc)) if bc >= c => best,
                _ if c > 1 => Some((f, c)),
                _ => best,
            });
        let Some((f, _)) = best else {
            // nothing in common any more: the rest in order
            own.extend(slots.iter_mut().filter_map(Option::take));
            break;
        };
        let list = lists[f].remove(0);
        let group: Vec<OptRule> = list.rules.iter().filter_map(|&r| slots[r].take()).collect();
        for &r in &list.rules {
            remove_from_lists(&mut lists, f, r);
        }
        if list.count > 2 {
            before.extend(reorder(group));
        } else {
            own.extend(group);
        }
        if slots.iter().all(Option::is_none) {
            break;
        }
    }
    before.extend(own);
    before
}

/// remove_from_skipsteps: rule `r` leaves the lists of the other fields
/// (a field whose largest list has at most one rule is left alone).
fn remove_from_lists(lists: &mut [Vec<SkipList>; SKIP_COUNT], chosen: usize, r: usize) {
    for (f, field) in lists.iter_mut().enumerate() {
        if f == chosen || field.first().is_none_or(|l| l.count <= 1) {
            continue;
        }
        let Some(mut k) = field.iter().position(|l| l.rules.contains(&r)) else {
            continue;
        };
        field[k].rules.retain(|&x| x != r);
        field[k].count -= 1;
        while k + 1 < field.len() && field[k + 1].count > field[k].count {
            field.swap(k, k + 1);
            k += 1;
        }
    }
}

//! reorder_rules: within a superblock, rules that share a skip-step field
//! (interface, direction, rdomain, family, protocol, addresses, ports)
//! are made adjacent, the largest group first, so that pf's skip steps
//! jump over more rules. A group of more than two rules is reordered
//! again on its own, and goes before the rules left in the superblock.

use super::fields::{skip_key, SKIP_COUNT};
use super::OptRule;
use std::collections::HashMap;

/// One skip list: rules (indices into the superblock) sharing a field.
#[derive(Debug, Clone, Default)]
struct SkipList {
    count: usize,
    rules: Vec<usize>,
}

/// The skip lists of one field, largest first (pfctl's `sb_skipsteps[i]`).
#[derive(Debug, Clone, Default)]
struct Field {
    lists: Vec<SkipList>,
    /// List ids, by count, largest first; ties in the order they grew.
    order: Vec<usize>,
    /// Where each list id is in `order`.
    pos: Vec<usize>,
    /// The list each rule is in.
    member: Vec<usize>,
}

impl Field {
    fn build(f: usize, block: &[OptRule]) -> Field {
        let mut field = Field::default();
        let mut by_key: HashMap<Vec<u8>, usize> = HashMap::new();
        for (r, rule) in block.iter().enumerate() {
            let key = skip_key(f, &rule.rule);
            let id = match key.as_ref().and_then(|k| by_key.get(k)) {
                Some(&id) => id,
                None => {
                    let id = field.lists.len();
                    field.lists.push(SkipList::default());
                    field.pos.push(field.order.len());
                    field.order.push(id);
                    if let Some(k) = key {
                        by_key.insert(k, id);
                    }
                    id
                }
            };
            field.lists[id].count += 1;
            field.lists[id].rules.push(r);
            field.member.push(id);
            // skip_append: keep the lists sorted, largest first
            let mut p = field.pos[id];
            while p > 0 && field.lists[field.order[p - 1]].count < field.lists[id].count {
                field.swap(p - 1, p);
                p -= 1;
            }
        }
        field
    }

    fn swap(&mut self, p: usize, q: usize) {
        self.order.swap(p, q);
        self.pos[self.order[p]] = p;
        self.pos[self.order[q]] = q;
    }

    fn first_count(&self) -> Option<usize> {
        self.order.first().map(|&id| self.lists[id].count)
    }

    /// The largest list leaves the field.
    fn take_first(&mut self) -> SkipList {
        let id = self.order.remove(0);
        for (p, &l) in self.order.iter().enumerate() {
            self.pos[l] = p;
        }
        std::mem::take(&mut self.lists[id])
    }

    /// remove_from_skipsteps for one field: rule `r` leaves its list (a
    /// field whose largest list has at most one rule is left alone).
    fn remove(&mut self, r: usize) {
        if self.first_count().is_none_or(|c| c <= 1) {
            return;
        }
        let id = self.member[r];
        let list = &mut self.lists[id];
        let Some(at) = list.rules.iter().position(|&x| x == r) else {
            return;
        };
        list.rules.remove(at);
        list.count -= 1;
        let mut p = self.pos[id];
        while p + 1 < self.order.len() && self.lists[self.order[p + 1]].count > self.lists[id].count
        {
            self.swap(p, p + 1);
            p += 1;
        }
    }
}

/// reorder_rules for one superblock.
pub fn reorder(block: Vec<OptRule>) -> Vec<OptRule> {
    let n = block.len();
    let mut fields: Vec<Field> = (0..SKIP_COUNT).map(|f| Field::build(f, &block)).collect();
    // Fields common to all rules, or to none, say nothing.
    let mut largest = 0;
    for field in &mut fields {
        let id = field.order[0];
        let first = &mut field.lists[id];
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
        // the most useful skip step left: the first field with the
        // largest list, if it has more than one rule
        let mut best: Option<(usize, usize)> = None;
        for (f, field) in fields.iter().enumerate() {
            if let Some(c) = field.first_count() {
                if c > best.map_or(1, |(_, b)| b) {
                    best = Some((f, c));
                }
            }
        }
        let Some((f, _)) = best else {
            // nothing in common any more: the rest in order
            own.extend(slots.iter_mut().filter_map(Option::take));
            break;
        };
        let list = fields[f].take_first();
        let group: Vec<OptRule> = list.rules.iter().filter_map(|&r| slots[r].take()).collect();
        for &r in &list.rules {
            for (g, field) in fields.iter_mut().enumerate() {
                if g != f {
                    field.remove(r);
                }
            }
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

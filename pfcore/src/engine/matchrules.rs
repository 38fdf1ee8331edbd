//! The `match` rules a state remembers (pf's `st->match_rules`): every
//! packet of the state counts for them as for its pass rule (packets,
//! bytes, the statistics of the tables they name, `pf_counters_inc`), and
//! each counts the state among its `States` while it lives.
//!
//! A state made by a given combination of match rules shares the list with
//! every other state made by the same combination: the lists are interned,
//! a state carries one index, and only a combination not seen before
//! allocates (once, when its first state is made).

use super::ruleref::RuleRef;
use std::collections::HashMap;

/// At most this many matching `match` rules are remembered for one packet
/// (pf has no bound; past it, the rules that follow count no packets of
/// the states).
pub const MATCH_RULES: usize = 32;

/// The `match` rules one evaluation passed through, in ruleset order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchSet {
    rules: [RuleRef; MATCH_RULES],
    n: u8,
}

impl Default for MatchSet {
    fn default() -> Self {
        MatchSet {
            rules: [RuleRef::default(); MATCH_RULES],
            n: 0,
        }
    }
}

impl MatchSet {
    /// Remember a matching `match` rule (false: the set is full).
    pub fn push(&mut self, r: RuleRef) -> bool {
        let Some(slot) = self.rules.get_mut(self.n as usize) else {
            return false;
        };
        *slot = r;
        self.n += 1;
        true
    }

    pub fn as_slice(&self) -> &[RuleRef] {
        &self.rules[..self.n as usize]
    }
}

/// A state's list: 0 is the empty one.
pub type MatchListId = u32;

struct Entry {
    rules: Box<[RuleRef]>,
    refs: u32,
}

/// The interned lists and how many states use each.
#[derive(Default)]
pub struct MatchLists {
    /// Index `i - 1` holds list `i`; None once unused.
    lists: Vec<Option<Entry>>,
    free: Vec<MatchListId>,
    index: HashMap<Box<[RuleRef]>, MatchListId>,
}

impl MatchLists {
    /// The list of these rules for a new state (one more user).
    pub fn intern(&mut self, rules: &[RuleRef]) -> MatchListId {
        if rules.is_empty() {
            return 0;
        }
        if let Some(&id) = self.index.get(rules) {
            if let Some(Some(e)) = self.lists.get_mut(id as usize - 1) {
                e.refs += 1;
            }
            return id;
        }
        let entry = Entry {
            rules: rules.into(),
            refs: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.lists[id as usize - 1] = Some(entry);
                id
            }
            None => {
                self.lists.push(Some(entry));
                self.lists.len() as MatchListId
            }
        };
        self.index.insert(rules.into(), id);
        id
    }

    /// The rules of list `id` (empty for 0 or an unknown list).
    pub fn get(&self, id: MatchListId) -> &[RuleRef] {
        match id.checked_sub(1).and_then(|i| self.lists.get(i as usize)) {
            Some(Some(e)) => &e.rules,
            _ => &[],
        }
    }

    /// A state using list `id` is gone; the list goes with its last one.
    pub fn release(&mut self, id: MatchListId) {
        let Some(slot) = id
            .checked_sub(1)
            .and_then(|i| self.lists.get_mut(i as usize))
        else {
            return;
        };
        let Some(e) = slot else { return };
        e.refs -= 1;
        if e.refs == 0 {
            if let Some(e) = slot.take() {
                self.index.remove(&e.rules);
            }
            self.free.push(id);
        }
    }

    /// Lists in use (for tests).
    #[cfg(test)]
    pub fn lists_in_use(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(nr: u32) -> RuleRef {
        RuleRef {
            anchor: 0,
            nr,
            gen: 1,
        }
    }

    #[test]
    fn lists_are_shared_and_freed_with_their_last_state() {
        let mut m = MatchLists::default();
        assert_eq!(m.intern(&[]), 0);
        let a = m.intern(&[r(1), r(3)]);
        let b = m.intern(&[r(1), r(3)]);
        let c = m.intern(&[r(2)]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(m.get(a), &[r(1), r(3)]);
        assert_eq!(m.lists_in_use(), 2);
        m.release(a);
        assert_eq!(m.get(b), &[r(1), r(3)], "still used by the other state");
        m.release(b);
        assert_eq!(m.get(b), &[] as &[RuleRef]);
        assert_eq!(m.lists_in_use(), 1);
        // The freed index is reused.
        assert_eq!(m.intern(&[r(4)]), a);
        m.release(0);
        m.release(99);
    }

    #[test]
    fn a_full_set_keeps_the_first() {
        let mut s = MatchSet::default();
        for i in 0..MATCH_RULES as u32 {
            assert!(s.push(r(i)));
        }
        assert!(!s.push(r(99)));
        assert_eq!(s.as_slice().len(), MATCH_RULES);
        assert_eq!(s.as_slice()[0], r(0));
    }
}

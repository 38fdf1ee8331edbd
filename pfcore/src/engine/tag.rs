//! pf's tag table (OpenBSD's `tagname2tag`): the names rules use with `tag`
//! and `tagged`, numbered 1..=`TAGID_MAX`. A packet carries the number in
//! its pf header (`Mtag::tag`, the packet mark's tag bits) from its `in`
//! pass to its `out` pass; a state carries it for every later packet of
//! its connection. Names are reference-counted by the rules that use them
//! and the states that carry them, and a number is reused only once nothing
//! refers to it any more, as in pf.

use std::collections::HashMap;

/// Highest tag number (pf's `TAGID_MAX`); the mark's 16 tag bits hold it.
pub const TAGID_MAX: u16 = 50000;

#[derive(Debug, Clone, Default)]
pub struct TagTable {
    /// Index `id - 1`: the name and how many rules and states use it.
    slots: Vec<Option<(String, u32)>>,
    by_name: HashMap<String, u16>,
}

impl TagTable {
    /// The number of `name`, creating it if needed, with one more reference
    /// (pf_tagname2tag). None when all `TAGID_MAX` numbers are taken.
    pub fn get_or_add(&mut self, name: &str) -> Option<u16> {
        if let Some(&id) = self.by_name.get(name) {
            self.add_ref(id);
            return Some(id);
        }
        // The lowest free number, as pf picks it.
        let idx = match self.slots.iter().position(|s| s.is_none()) {
            Some(i) => i,
            None if self.slots.len() < TAGID_MAX as usize => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return None,
        };
        self.slots[idx] = Some((name.to_string(), 1));
        let id = (idx + 1) as u16;
        self.by_name.insert(name.to_string(), id);
        Some(id)
    }

    /// The number of `name`, if some rule or state uses it.
    pub fn id(&self, name: &str) -> Option<u16> {
        self.by_name.get(name).copied()
    }

    /// The name of tag `id` (pf_tag2tagname).
    pub fn name(&self, id: u16) -> Option<&str> {
        let idx = (id as usize).checked_sub(1)?;
        self.slots.get(idx)?.as_ref().map(|(n, _)| n.as_str())
    }

    /// One more user of `id` (pf_tag_ref); 0 is "no tag".
    pub fn add_ref(&mut self, id: u16) {
        if let Some(Some((_, refs))) = (id as usize)
            .checked_sub(1)
            .and_then(|i| self.slots.get_mut(i))
        {
            *refs += 1;
        }
    }

    /// One user of `id` fewer (pf_tag_unref); the number is free again
    /// when none is left.
    pub fn unref(&mut self, id: u16) {
        let Some(idx) = (id as usize).checked_sub(1) else {
            return;
        };
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        let gone = match slot {
            Some((_, refs)) => {
                *refs = refs.saturating_sub(1);
                *refs == 0
            }
            None => false,
        };
        if gone {
            if let Some((name, _)) = slot.take() {
                self.by_name.remove(&name);
            }
            while self.slots.last().is_some_and(|s| s.is_none()) {
                self.slots.pop();
            }
        }
    }

    /// How many names are in use.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_names_and_references() {
        let mut t = TagTable::default();
        assert_eq!(t.get_or_add("FOO"), Some(1));
        assert_eq!(t.get_or_add("BAR"), Some(2));
        assert_eq!(t.get_or_add("FOO"), Some(1));
        assert_eq!(
            (t.name(1), t.name(2), t.name(3), t.name(0)),
            (Some("FOO"), Some("BAR"), None, None)
        );
        // FOO has two users: still there after one goes.
        t.unref(1);
        assert_eq!(t.id("FOO"), Some(1));
        t.unref(1);
        assert_eq!(t.id("FOO"), None);
        // The lowest free number is reused.
        assert_eq!(t.get_or_add("BAZ"), Some(1));
        assert_eq!(t.len(), 2);
        // A state keeps a name alive after its rules are gone.
        t.add_ref(2);
        t.unref(2);
        assert_eq!(t.name(2), Some("BAR"));
        t.unref(2);
        assert_eq!(t.name(2), None);
        // Unknown numbers are ignored.
        t.unref(0);
        t.unref(999);
        t.add_ref(999);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = TagTable::default();
        for i in 0..TAGID_MAX {
            assert_eq!(t.get_or_add(&format!("t{i}")), Some(i + 1));
        }
        assert_eq!(t.get_or_add("one too many"), None);
        assert_eq!(t.get_or_add("t7"), Some(8));
    }
}

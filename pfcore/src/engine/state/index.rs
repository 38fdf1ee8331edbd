//! A hash index of state slots that grows without stopping the data path.
//!
//! hashbrown grows a full table in one go: every entry is hashed again
//! into a table twice the size (and a table full of tombstones from
//! removed states is rebuilt in place the same way). The state table's
//! indexes hash a state's key by reading the state, so at a million
//! states that one insert held the engine for tens of milliseconds.
//! Here a full index starts a new table and the entries of the old one
//! move over a few slots at a time, at each insert, while lookups look
//! in both (redis's incremental rehash, on slot numbers). A table whose
//! slots far outnumber its entries moves more slots per insert, so that
//! a move always ends before the new table is full.

use hashbrown::HashTable;

/// Fewest slots whose entries move per insert while a move is on. A move
/// takes more when the slots are many for the entries (a table that was
/// bigger): enough to end before the inserts meanwhile have taken half
/// the new table's spare room (`Moving::per_insert`).
const MOVE_PER_INSERT: usize = 4;

/// Entries a new table has room for at least.
const MIN_CAPACITY: usize = 1024;

/// A set of `u32` entries (slot numbers, perhaps tagged) hashed by what
/// they stand for: the caller gives every hash.
#[derive(Debug, Default)]
pub(super) struct SlotIndex {
    cur: HashTable<u32>,
    old: Option<Moving>,
}

/// The table whose entries are moving out.
#[derive(Debug)]
struct Moving {
    table: HashTable<u32>,
    /// The next slot whose entries move.
    next: usize,
    /// The slots there were when the move began (a later slot's entries
    /// went into the new table).
    end: usize,
    /// Slots done per insert.
    per_insert: usize,
}

impl SlotIndex {
    /// The entries with this hash (the new table's, then the old one's).
    pub fn iter_hash(&self, hash: u64) -> impl Iterator<Item = &u32> + '_ {
        self.cur.iter_hash(hash).chain(
            self.old
                .as_ref()
                .into_iter()
                .flat_map(move |m| m.table.iter_hash(hash)),
        )
    }

    /// Remove entry `e` (of hash `hash`) wherever it is.
    pub fn remove(&mut self, hash: u64, e: u32) -> bool {
        if let Ok(ent) = self.cur.find_entry(hash, |&x| x == e) {
            ent.remove();
            return true;
        }
        if let Some(m) = &mut self.old {
            if let Ok(ent) = m.table.find_entry(hash, |&x| x == e) {
                ent.remove();
                return true;
            }
        }
        false
    }

    /// Make room for `n` more entries of a table of `slots` slots: when
    /// the current table has none left, a move to a new one with room for
    /// twice its entries begins (none when a move is still on: hashbrown
    /// then grows the new table itself, which the pace of the move is
    /// there to avoid). True if a move began.
    pub fn make_room(&mut self, n: usize, slots: usize) -> bool {
        if self.cur.capacity() - self.cur.len() >= n || self.old.is_some() {
            return false;
        }
        let cap = (self.cur.len() * 2).max(MIN_CAPACITY);
        let table = std::mem::replace(&mut self.cur, HashTable::with_capacity(cap));
        if table.is_empty() {
            return false;
        }
        // The inserts before the move ends may take half the spare room.
        let spare = (self.cur.capacity() - table.len()).max(2);
        let per_insert = slots.saturating_mul(2).div_ceil(spare).max(MOVE_PER_INSERT);
        self.old = Some(Moving {
            table,
            next: 0,
            end: slots,
            per_insert,
        });
        true
    }

    /// Insert entry `e` (of hash `hash`) into the current table;
    /// `rehash` gives an entry's hash should hashbrown grow it.
    pub fn insert(&mut self, hash: u64, e: u32, rehash: impl Fn(&u32) -> u64) {
        self.cur.insert_unique(hash, e, rehash);
    }

    /// Move the entries of the next slots (the move's share of an
    /// insert) out of the old table; `entries(slot)` gives the (hash,
    /// entry) pairs a slot has in this index. The move ends when the old
    /// table is empty or its slots are all done (what is left then,
    /// nothing if `entries` is right, moves at once).
    pub fn step<I>(&mut self, entries: impl Fn(usize) -> I, rehash: impl Fn(&u32) -> u64)
    where
        I: IntoIterator<Item = (u64, u32)>,
    {
        let Some(m) = &mut self.old else {
            return;
        };
        let stop = m.next.saturating_add(m.per_insert).min(m.end);
        for s in m.next..stop {
            for (h, e) in entries(s) {
                if let Ok(ent) = m.table.find_entry(h, |&x| x == e) {
                    ent.remove();
                    self.cur.insert_unique(h, e, &rehash);
                }
            }
        }
        m.next = stop;
        if m.next < m.end && !m.table.is_empty() {
            return;
        }
        if let Some(m) = self.old.take() {
            for e in m.table {
                self.cur.insert_unique(rehash(&e), e, &rehash);
            }
        }
    }

    /// Is a move on?
    pub fn moving(&self) -> bool {
        self.old.is_some()
    }

    /// How many entries there are (both tables).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.cur.len() + self.old.as_ref().map_or(0, |m| m.table.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, RandomState};

    /// An index over slots holding keys; entry = slot.
    struct Fixture {
        keys: Vec<Option<u64>>,
        idx: SlotIndex,
        h: RandomState,
    }

    impl Fixture {
        fn insert(&mut self, key: u64) -> u32 {
            let (keys, h) = (&self.keys, &self.h);
            self.idx.make_room(1, keys.len());
            let entries = |s: usize| keys[s].map(|k| (h.hash_one(k), s as u32));
            let rehash = |&e: &u32| keys[e as usize].map_or(0, |k| h.hash_one(k));
            self.idx.step(entries, rehash);
            self.keys.push(Some(key));
            let s = (self.keys.len() - 1) as u32;
            let (keys, h) = (&self.keys, &self.h);
            let rehash = |&e: &u32| keys[e as usize].map_or(0, |k| h.hash_one(k));
            self.idx.insert(h.hash_one(key), s, rehash);
            s
        }

        fn find(&self, key: u64) -> Option<u32> {
            self.idx
                .iter_hash(self.h.hash_one(key))
                .find(|&&e| self.keys[e as usize] == Some(key))
                .copied()
        }

        fn remove(&mut self, s: u32) {
            let k = self.keys[s as usize].take().unwrap();
            assert!(self.idx.remove(self.h.hash_one(k), s));
        }
    }

    impl Fixture {
        /// Insert `key`; counts the moves begun and the times the table
        /// changed otherwise (hashbrown growing it: what moves avoid).
        fn insert_checked(&mut self, key: u64, moves: &mut usize, grown: &mut usize) -> u32 {
            let size = self.idx.cur.allocation_size();
            let was_moving = self.idx.moving();
            let s = self.insert(key);
            if self.idx.moving() && !was_moving {
                *moves += 1;
            } else if size != 0 && self.idx.cur.allocation_size() != size {
                *grown += 1;
            }
            s
        }
    }

    fn fixture() -> Fixture {
        Fixture {
            keys: Vec::new(),
            idx: SlotIndex::default(),
            h: RandomState::new(),
        }
    }

    #[test]
    fn grows_by_moves_and_finds_everything_meanwhile() {
        let mut f = fixture();
        let (mut moves, mut grown) = (0, 0);
        for k in 0..50_000u64 {
            let s = f.insert_checked(k, &mut moves, &mut grown);
            // Remove every third, while moves are on too.
            if k % 3 == 2 {
                f.remove(s - 1);
            }
            if k % 997 == 0 {
                for j in (0..=k).step_by(7) {
                    let want = (j % 3 != 1 || j == k).then_some(j as u32);
                    assert_eq!(f.find(j), want, "key {j} after {k}");
                }
            }
        }
        assert!(moves >= 4, "{moves} moves");
        assert_eq!(grown, 0, "hashbrown grew a table by itself");
        assert_eq!(f.idx.len(), f.keys.iter().flatten().count());
    }

    #[test]
    fn a_sparse_table_moves_faster() {
        // A table of 1,000,000 slots (it was that big) holding few
        // states: each move goes through all those slots while the new
        // table has room for only twice its entries.
        let mut f = fixture();
        f.keys = vec![None; 1_000_000];
        let (mut moves, mut grown) = (0, 0);
        for k in 0..20_000u64 {
            f.insert_checked(k, &mut moves, &mut grown);
        }
        assert!(moves >= 3, "{moves} moves");
        assert_eq!(grown, 0, "hashbrown grew a table by itself");
        for k in 0..20_000u64 {
            assert_eq!(f.find(k), Some(1_000_000 + k as u32));
        }
        assert_eq!(f.idx.len(), 20_000);
    }

    #[test]
    fn a_move_ends_within_its_slots() {
        let mut f = fixture();
        while !f.idx.moving() || f.keys.len() < 2 * MIN_CAPACITY {
            let k = f.keys.len() as u64;
            f.insert(k);
        }
        let slots = f.keys.len();
        let mut inserts = 0;
        while f.idx.moving() {
            f.insert(1_000_000 + inserts);
            inserts += 1;
        }
        assert!(
            inserts as usize <= slots.div_ceil(MOVE_PER_INSERT),
            "{inserts} inserts for {slots} slots"
        );
        for k in 0..slots as u64 {
            assert_eq!(f.find(k), Some(k as u32));
        }
    }
}

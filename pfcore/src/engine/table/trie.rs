//! The prefix trie behind a table: a path-compressed binary trie over one
//! address family, answering longest-prefix-match lookups as pf's radix
//! tables do (`rn_match`): the longest prefix containing the address wins,
//! whether it is negated or not; the caller reads the flag.
//!
//! Two kinds of node, in two arenas indexed by `u32`:
//! - an entry (a prefix of the table: key, length, negation, time it was
//!   last cleared) that also splits its subtree on the bit after its
//!   prefix (`len`);
//! - a branch, where two subtrees diverge: only the bit it tests and its
//!   two children. Branches carry no key; insertion finds the divergence
//!   point by comparing with a representative entry below (PATRICIA).
//!
//! A lookup walks down testing one bit per node and checks each entry it
//! passes against the address: the first entry that does not match ends
//! the walk (every entry below it extends its prefix), so a lookup is one
//! pass, at most `BITS` nodes, and allocates nothing.
//!
//! Memory: an IPv4 entry is 20 bytes, an IPv6 entry 32, a branch 12; a
//! table of n prefixes has at most n - 1 branches. Freed nodes are reused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A fixed-width address used as a trie key: bit 0 is the most
/// significant.
pub trait Key: Copy + Eq + Ord + Default + std::fmt::Debug {
    const BITS: u8;
    /// Bit `i` (0 = most significant), `i < BITS`.
    fn bit(self, i: u8) -> usize;
    /// The first `len` bits, the rest cleared.
    fn mask(self, len: u8) -> Self;
    /// Number of leading bits `self` and `other` share.
    fn common(self, other: Self) -> u8;
}

impl Key for u32 {
    const BITS: u8 = 32;
    #[inline]
    fn bit(self, i: u8) -> usize {
        ((self >> (31 - i as u32)) & 1) as usize
    }
    #[inline]
    fn mask(self, len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            self & (u32::MAX << (32 - len.min(32) as u32))
        }
    }
    #[inline]
    fn common(self, other: u32) -> u8 {
        (self ^ other).leading_zeros() as u8
    }
}

/// A 128-bit key kept as two words, so that an entry is aligned on 8 bytes
/// (a `u128` would be aligned on 16 and cost 16 more bytes per entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct K128 {
    pub hi: u64,
    pub lo: u64,
}

impl From<u128> for K128 {
    #[inline]
    fn from(v: u128) -> K128 {
        K128 {
            hi: (v >> 64) as u64,
            lo: v as u64,
        }
    }
}

impl From<K128> for u128 {
    #[inline]
    fn from(k: K128) -> u128 {
        ((k.hi as u128) << 64) | k.lo as u128
    }
}

impl Key for K128 {
    const BITS: u8 = 128;
    #[inline]
    fn bit(self, i: u8) -> usize {
        if i < 64 {
            ((self.hi >> (63 - i as u32)) & 1) as usize
        } else {
            ((self.lo >> (127 - i as u32)) & 1) as usize
        }
    }
    #[inline]
    fn mask(self, len: u8) -> K128 {
        let v: u128 = self.into();
        if len == 0 {
            K128::default()
        } else {
            K128::from(v & (u128::MAX << (128 - len.min(128) as u32)))
        }
    }
    #[inline]
    fn common(self, other: K128) -> u8 {
        let x = u128::from(self) ^ u128::from(other);
        x.leading_zeros() as u8
    }
}

/// Key of an IPv4 address.
pub fn key4(a: Ipv4Addr) -> u32 {
    u32::from(a)
}

/// Key of an IPv6 address.
pub fn key6(a: Ipv6Addr) -> K128 {
    K128::from(u128::from(a))
}

/// The address of a key.
pub fn addr4(k: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(k))
}

pub fn addr6(k: K128) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(u128::from(k)))
}

const NIL: u32 = u32::MAX;
const ENTRY: u32 = 1 << 31;
/// Most nodes of either kind (references keep one bit for the kind).
pub const MAX_NODES: usize = (ENTRY - 1) as usize;

/// Entry flags.
pub const NEG: u8 = 0x01;
/// Spare bits the table layer may use (per-entry counters allocated).
pub const USER1: u8 = 0x02;
const FREE: u8 = 0x80;

/// One prefix of the table.
#[derive(Debug, Clone, Copy)]
pub struct Entry<K> {
    /// The prefix, host bits cleared.
    pub key: K,
    child: [u32; 2],
    /// When the entry's statistics were last cleared (seconds, the
    /// caller's clock).
    pub tzero: u32,
    pub len: u8,
    pub flags: u8,
}

impl<K: Key> Entry<K> {
    pub fn neg(&self) -> bool {
        self.flags & NEG != 0
    }
}

#[derive(Debug, Clone, Copy)]
struct Branch {
    child: [u32; 2],
    bit: u8,
}

/// Where a node reference lives.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Root,
    Branch(u32, usize),
    Entry(u32, usize),
}

/// The trie was asked to hold more than `MAX_NODES` nodes of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// A prefix trie of one address family.
#[derive(Debug, Clone)]
pub struct Trie<K> {
    entries: Vec<Entry<K>>,
    branches: Vec<Branch>,
    root: u32,
    free_entry: u32,
    free_branch: u32,
    count: usize,
}

impl<K: Key> Default for Trie<K> {
    fn default() -> Self {
        Trie::new()
    }
}

impl<K: Key> Trie<K> {
    pub fn new() -> Trie<K> {
        Trie {
            entries: Vec::new(),
            branches: Vec::new(),
            root: NIL,
            free_entry: NIL,
            free_branch: NIL,
            count: 0,
        }
    }

    /// Room for `n` more prefixes without reallocating.
    pub fn reserve(&mut self, n: usize) {
        self.entries.reserve(n);
        self.branches.reserve(n);
    }

    /// Give back what the arenas hold beyond their use (after a bulk load).
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
        self.branches.shrink_to_fit();
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes held by the arenas (allocated capacity, used or not).
    pub fn memory(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry<K>>()
            + self.branches.capacity() * std::mem::size_of::<Branch>()
    }

    pub fn clear(&mut self) {
        *self = Trie::new();
    }

    /// The entry with index `i` (from `insert`, `find`, `lookup`, `iter`).
    #[inline]
    pub fn entry(&self, i: u32) -> &Entry<K> {
        &self.entries[i as usize]
    }

    #[inline]
    pub fn entry_mut(&mut self, i: u32) -> &mut Entry<K> {
        &mut self.entries[i as usize]
    }

    #[inline]
    fn is_entry(r: u32) -> bool {
        r & ENTRY != 0
    }

    #[inline]
    fn plen(&self, r: u32) -> u8 {
        if Self::is_entry(r) {
            self.entries[(r & !ENTRY) as usize].len
        } else {
            self.branches[r as usize].bit
        }
    }

    #[inline]
    fn child(&self, r: u32, side: usize) -> u32 {
        if Self::is_entry(r) {
            self.entries[(r & !ENTRY) as usize].child[side]
        } else {
            self.branches[r as usize].child[side]
        }
    }

    fn get(&self, s: Slot) -> u32 {
        match s {
            Slot::Root => self.root,
            Slot::Branch(i, side) => self.branches[i as usize].child[side],
            Slot::Entry(i, side) => self.entries[i as usize].child[side],
        }
    }

    fn set(&mut self, s: Slot, v: u32) {
        match s {
            Slot::Root => self.root = v,
            Slot::Branch(i, side) => self.branches[i as usize].child[side] = v,
            Slot::Entry(i, side) => self.entries[i as usize].child[side] = v,
        }
    }

    fn child_slot(r: u32, side: usize) -> Slot {
        if Self::is_entry(r) {
            Slot::Entry(r & !ENTRY, side)
        } else {
            Slot::Branch(r, side)
        }
    }

    fn new_entry(&mut self, key: K, len: u8, flags: u8, tzero: u32) -> Result<u32, Full> {
        let e = Entry {
            key,
            child: [NIL; 2],
            tzero,
            len,
            flags,
        };
        let i = if self.free_entry != NIL {
            let i = self.free_entry;
            self.free_entry = self.entries[i as usize].child[0];
            self.entries[i as usize] = e;
            i
        } else {
            if self.entries.len() >= MAX_NODES {
                return Err(Full);
            }
            self.entries.push(e);
            (self.entries.len() - 1) as u32
        };
        Ok(i)
    }

    fn new_branch(&mut self, bit: u8) -> Result<u32, Full> {
        let b = Branch {
            child: [NIL; 2],
            bit,
        };
        if self.free_branch != NIL {
            let i = self.free_branch;
            self.free_branch = self.branches[i as usize].child[0];
            self.branches[i as usize] = b;
            return Ok(i);
        }
        if self.branches.len() >= MAX_NODES {
            return Err(Full);
        }
        self.branches.push(b);
        Ok((self.branches.len() - 1) as u32)
    }

    fn free_entry(&mut self, i: u32) {
        let e = &mut self.entries[i as usize];
        e.flags = FREE;
        e.child = [self.free_entry, NIL];
        self.free_entry = i;
    }

    fn free_branch(&mut self, i: u32) {
        self.branches[i as usize].child = [self.free_branch, NIL];
        self.free_branch = i;
    }

    /// Longest-prefix match: the index of the longest prefix containing
    /// `addr`, negated or not. No allocation; at most `BITS` steps.
    #[inline]
    pub fn lookup(&self, addr: K) -> Option<u32> {
        let mut r = self.root;
        let mut best = NIL;
        while r != NIL {
            if Self::is_entry(r) {
                let i = r & !ENTRY;
                let e = &self.entries[i as usize];
                if addr.mask(e.len) != e.key {
                    break;
                }
                best = i;
                if e.len >= K::BITS {
                    break;
                }
                r = e.child[addr.bit(e.len)];
            } else {
                let b = &self.branches[r as usize];
                r = b.child[addr.bit(b.bit)];
            }
        }
        (best != NIL).then_some(best)
    }

    /// The entry for exactly `key/len`, if present.
    pub fn find(&self, key: K, len: u8) -> Option<u32> {
        let len = len.min(K::BITS);
        let key = key.mask(len);
        let mut r = self.root;
        while r != NIL {
            let p = self.plen(r);
            if p > len {
                return None;
            }
            if p == len {
                if Self::is_entry(r) {
                    let i = r & !ENTRY;
                    return (self.entries[i as usize].key == key).then_some(i);
                }
                return None;
            }
            r = self.child(r, key.bit(p));
        }
        None
    }

    /// Insert `key/len` (host bits are cleared). Returns the entry's index
    /// and whether it was added; an existing entry is left as it is.
    pub fn insert(&mut self, key: K, len: u8, flags: u8, tzero: u32) -> Result<(u32, bool), Full> {
        let len = len.min(K::BITS);
        let key = key.mask(len);
        let flags = flags & !FREE;
        if self.root == NIL {
            let e = self.new_entry(key, len, flags, tzero)?;
            self.root = e | ENTRY;
            self.count += 1;
            return Ok((e, true));
        }
        // Find a representative entry where the key would go.
        let mut r = self.root;
        loop {
            let p = self.plen(r);
            if p >= len {
                break;
            }
            let c = self.child(r, key.bit(p));
            if c == NIL {
                break;
            }
            r = c;
        }
        while !Self::is_entry(r) {
            r = self.branches[r as usize].child[0];
        }
        let rep = self.entries[(r & !ENTRY) as usize];
        let c = key.common(rep.key).min(len).min(rep.len);
        // Walk again to the point of divergence.
        let mut slot = Slot::Root;
        loop {
            let n = self.get(slot);
            if n == NIL {
                let e = self.new_entry(key, len, flags, tzero)?;
                self.set(slot, e | ENTRY);
                self.count += 1;
                return Ok((e, true));
            }
            let p = self.plen(n);
            if p > c {
                // The new prefix goes above `n`.
                if c == len {
                    let e = self.new_entry(key, len, flags, tzero)?;
                    self.entries[e as usize].child[rep.key.bit(len)] = n;
                    self.set(slot, e | ENTRY);
                    self.count += 1;
                    return Ok((e, true));
                }
                let b = self.new_branch(c)?;
                let e = match self.new_entry(key, len, flags, tzero) {
                    Ok(e) => e,
                    Err(f) => {
                        self.free_branch(b);
                        return Err(f);
                    }
                };
                self.branches[b as usize].child[key.bit(c)] = e | ENTRY;
                self.branches[b as usize].child[rep.key.bit(c)] = n;
                self.set(slot, b);
                self.count += 1;
                return Ok((e, true));
            }
            if p == c && c == len {
                if Self::is_entry(n) {
                    return Ok((n & !ENTRY, false));
                }
                // A branch on exactly this prefix becomes the entry.
                let child = self.branches[n as usize].child;
                let e = self.new_entry(key, len, flags, tzero)?;
                self.entries[e as usize].child = child;
                self.free_branch(n);
                self.set(slot, e | ENTRY);
                self.count += 1;
                return Ok((e, true));
            }
            slot = Self::child_slot(n, key.bit(p));
        }
    }

    /// Remove exactly `key/len`; returns the removed entry.
    pub fn remove(&mut self, key: K, len: u8) -> Option<Entry<K>> {
        let len = len.min(K::BITS);
        let key = key.mask(len);
        let mut slot = Slot::Root;
        let mut parent: Option<(Slot, u32)> = None;
        let n = loop {
            let n = self.get(slot);
            if n == NIL {
                return None;
            }
            let p = self.plen(n);
            if p > len {
                return None;
            }
            if p == len {
                if Self::is_entry(n) && self.entries[(n & !ENTRY) as usize].key == key {
                    break n;
                }
                return None;
            }
            parent = Some((slot, n));
            slot = Self::child_slot(n, key.bit(p));
        };
        let i = n & !ENTRY;
        let e = self.entries[i as usize];
        match (e.child[0] != NIL, e.child[1] != NIL) {
            (true, true) => {
                // Keep the split point as a branch. Cannot fail: the entry
                // going away makes room only for entries, but a branch
                // slot is needed; fall back to leaving an unused entry
                // would corrupt nothing, yet report the removal anyway.
                match self.new_branch(e.len) {
                    Ok(b) => {
                        self.branches[b as usize].child = e.child;
                        self.set(slot, b);
                    }
                    Err(Full) => return None,
                }
            }
            (true, false) => self.set(slot, e.child[0]),
            (false, true) => self.set(slot, e.child[1]),
            (false, false) => {
                self.set(slot, NIL);
                if let Some((pslot, pn)) = parent {
                    if !Self::is_entry(pn) {
                        // The branch is left with one child: splice it out.
                        let pb = self.branches[pn as usize];
                        let other = if pb.child[0] != NIL {
                            pb.child[0]
                        } else {
                            pb.child[1]
                        };
                        self.set(pslot, other);
                        self.free_branch(pn);
                    }
                }
            }
        }
        self.free_entry(i);
        self.count -= 1;
        Some(e)
    }

    /// Every entry, in pf's order: by address, and for one address the
    /// longest prefix first. No allocation.
    pub fn iter(&self) -> Iter<'_, K> {
        let mut it = Iter {
            trie: self,
            stack: [NIL; STACK],
            sp: 0,
            run: [NIL; RUN],
            run_len: 0,
            run_pos: 0,
            pending: NIL,
        };
        if self.root != NIL {
            it.stack[0] = self.root;
            it.sp = 1;
        }
        it
    }

    /// Check the structure (tests): every branch has two children, every
    /// node's prefix extends its parent's, the count is right.
    #[cfg(test)]
    pub fn check(&self) {
        fn walk<K: Key>(t: &Trie<K>, r: u32, min: u8, prefix: Option<(K, u8)>, n: &mut usize) {
            if r == NIL {
                return;
            }
            let p = t.plen(r);
            assert!(p >= min, "node at {p} under {min}");
            if Trie::<K>::is_entry(r) {
                let e = t.entries[(r & !ENTRY) as usize];
                assert_eq!(e.key, e.key.mask(e.len));
                if let Some((k, l)) = prefix {
                    assert_eq!(e.key.mask(l), k.mask(l));
                }
                *n += 1;
                if e.len < K::BITS {
                    walk(t, e.child[0], e.len + 1, Some((e.key, e.len)), n);
                    walk(t, e.child[1], e.len + 1, Some((e.key, e.len)), n);
                }
            } else {
                let b = t.branches[r as usize];
                assert!(
                    b.child[0] != NIL && b.child[1] != NIL,
                    "branch with one child"
                );
                walk(t, b.child[0], b.bit + 1, prefix, n);
                walk(t, b.child[1], b.bit + 1, prefix, n);
            }
        }
        let mut n = 0;
        walk(self, self.root, 0, None, &mut n);
        assert_eq!(n, self.count);
    }
}

/// Depth of the iteration stack: a path holds at most BITS + 1 entries and
/// BITS branches, each pushing one sibling.
const STACK: usize = 260;
/// Longest run of entries sharing one address (one per prefix length).
const RUN: usize = 130;

/// Iterator over a trie's entries (indices), see `Trie::iter`.
pub struct Iter<'a, K> {
    trie: &'a Trie<K>,
    stack: [u32; STACK],
    sp: usize,
    /// Entries of one address, shortest prefix first, handed out from the
    /// back.
    run: [u32; RUN],
    run_len: usize,
    run_pos: usize,
    /// The first entry of the next run.
    pending: u32,
}

impl<K: Key> Iter<'_, K> {
    /// Next entry in pre-order (address ascending, then length ascending).
    fn next_preorder(&mut self) -> Option<u32> {
        while self.sp > 0 {
            self.sp -= 1;
            let r = self.stack[self.sp];
            let (c0, c1) = (self.trie.child(r, 0), self.trie.child(r, 1));
            for c in [c1, c0] {
                if c != NIL && self.sp < STACK {
                    self.stack[self.sp] = c;
                    self.sp += 1;
                }
            }
            if Trie::<K>::is_entry(r) {
                return Some(r & !ENTRY);
            }
        }
        None
    }
}

impl<K: Key> Iterator for Iter<'_, K> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.run_pos > 0 {
            self.run_pos -= 1;
            return Some(self.run[self.run_pos]);
        }
        // Collect the next run of entries with one address.
        let first = if self.pending != NIL {
            std::mem::replace(&mut self.pending, NIL)
        } else {
            self.next_preorder()?
        };
        let key = self.trie.entry(first).key;
        self.run[0] = first;
        self.run_len = 1;
        loop {
            match self.next_preorder() {
                Some(i) if self.trie.entry(i).key == key && self.run_len < RUN => {
                    self.run[self.run_len] = i;
                    self.run_len += 1;
                }
                Some(i) => {
                    self.pending = i;
                    break;
                }
                None => break,
            }
        }
        self.run_pos = self.run_len - 1;
        Some(self.run[self.run_len - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: a list scanned for the longest containing prefix.
    #[derive(Default)]
    struct Naive<K> {
        v: Vec<(K, u8, u8)>,
    }

    impl<K: Key> Naive<K> {
        fn insert(&mut self, k: K, len: u8, flags: u8) -> bool {
            let k = k.mask(len);
            if self.v.iter().any(|(a, l, _)| *a == k && *l == len) {
                return false;
            }
            self.v.push((k, len, flags));
            true
        }
        fn remove(&mut self, k: K, len: u8) -> bool {
            let k = k.mask(len);
            let n = self.v.len();
            self.v.retain(|(a, l, _)| !(*a == k && *l == len));
            n != self.v.len()
        }
        fn lookup(&self, a: K) -> Option<(K, u8, u8)> {
            self.v
                .iter()
                .filter(|(k, l, _)| a.mask(*l) == *k)
                .max_by_key(|(_, l, _)| *l)
                .copied()
        }
        fn sorted(&self) -> Vec<(K, u8)> {
            let mut v: Vec<(K, u8)> = self.v.iter().map(|(k, l, _)| (*k, *l)).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            v
        }
    }

    fn v4(s: &str) -> (u32, u8) {
        let n: crate::addr::IpNet = s.parse().unwrap();
        match n.addr {
            IpAddr::V4(a) => (key4(a), n.prefix),
            _ => unreachable!(),
        }
    }

    fn lpm(t: &Trie<u32>, a: &str) -> Option<(String, bool)> {
        let k = key4(a.parse().unwrap());
        t.lookup(k).map(|i| {
            let e = t.entry(i);
            (format!("{}/{}", Ipv4Addr::from(e.key), e.len), e.neg())
        })
    }

    #[test]
    fn negated_entries_inside_networks() {
        let mut t = Trie::<u32>::new();
        for (s, f) in [("10.1.0.0/16", 0), ("10.1.2.3/32", NEG), ("10.0.0.0/8", 0)] {
            let (k, l) = v4(s);
            assert!(t.insert(k, l, f, 0).unwrap().1);
        }
        t.check();
        assert_eq!(lpm(&t, "10.1.2.3"), Some(("10.1.2.3/32".into(), true)));
        assert_eq!(lpm(&t, "10.1.2.4"), Some(("10.1.0.0/16".into(), false)));
        assert_eq!(lpm(&t, "10.9.9.9"), Some(("10.0.0.0/8".into(), false)));
        assert_eq!(lpm(&t, "11.0.0.1"), None);
        // Duplicates are not added twice; host bits are ignored.
        let (k, _) = v4("10.1.77.77");
        assert!(!t.insert(k, 16, 0, 0).unwrap().1);
        assert_eq!(t.len(), 3);
        assert!(t.find(k, 16).is_some());
        assert!(t.find(k, 17).is_none());
        // Removing the /16 leaves the negated host and the /8.
        assert!(t.remove(k, 16).is_some());
        t.check();
        assert_eq!(lpm(&t, "10.1.2.4"), Some(("10.0.0.0/8".into(), false)));
        assert_eq!(lpm(&t, "10.1.2.3"), Some(("10.1.2.3/32".into(), true)));
        assert!(t.remove(k, 16).is_none());
    }

    #[test]
    fn zero_length_prefix_and_hosts() {
        let mut t = Trie::<u32>::new();
        t.insert(0, 0, 0, 0).unwrap();
        let (k, l) = v4("192.0.2.1");
        t.insert(k, l, NEG, 0).unwrap();
        assert_eq!(lpm(&t, "8.8.8.8"), Some(("0.0.0.0/0".into(), false)));
        assert_eq!(lpm(&t, "192.0.2.1"), Some(("192.0.2.1/32".into(), true)));
        t.check();
        let mut t6 = Trie::<K128>::new();
        let a = key6("2001:db8::1".parse().unwrap());
        t6.insert(a, 128, 0, 0).unwrap();
        t6.insert(a, 32, 0, 0).unwrap();
        t6.check();
        assert_eq!(t6.lookup(a).map(|i| t6.entry(i).len), Some(128));
        let b = key6("2001:db8::2".parse().unwrap());
        assert_eq!(t6.lookup(b).map(|i| t6.entry(i).len), Some(32));
        assert_eq!(t6.lookup(key6("2001:db9::".parse().unwrap())), None);
    }

    #[test]
    fn iteration_order_is_pfs() {
        let mut t = Trie::<u32>::new();
        for s in [
            "10.0.5.0/24",
            "10.0.0.0/8",
            "10.0.0.0/16",
            "10.0.0.0/32",
            "9.9.9.9/32",
            "10.1.0.0/16",
        ] {
            let (k, l) = v4(s);
            t.insert(k, l, 0, 0).unwrap();
        }
        let got: Vec<String> = t
            .iter()
            .map(|i| format!("{}/{}", Ipv4Addr::from(t.entry(i).key), t.entry(i).len))
            .collect();
        assert_eq!(
            got,
            [
                "9.9.9.9/32",
                "10.0.0.0/32",
                "10.0.0.0/16",
                "10.0.0.0/8",
                "10.0.5.0/24",
                "10.1.0.0/16"
            ]
        );
    }

    #[test]
    fn node_sizes() {
        assert_eq!(std::mem::size_of::<Entry<u32>>(), 20);
        assert_eq!(std::mem::size_of::<Entry<K128>>(), 32);
        assert_eq!(std::mem::size_of::<Branch>(), 12);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32, u8, bool),
        Remove(u32, u8),
        Lookup(u32),
    }

    /// Keys from a narrow space so that prefixes nest and collide.
    fn op4() -> impl Strategy<Value = Op> {
        let key = (0u32..64, 0u32..4).prop_map(|(a, b)| (a << 26) | (b << 8));
        prop_oneof![
            (key.clone(), 0u8..=32, any::<bool>()).prop_map(|(k, l, n)| Op::Insert(k, l, n)),
            (key.clone(), 0u8..=32).prop_map(|(k, l)| Op::Remove(k, l)),
            (0u32..64, any::<u32>()).prop_map(|(a, r)| Op::Lookup((a << 26) | (r & 0x3ff_ffff))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_naive_reference_v4(ops in proptest::collection::vec(op4(), 1..200)) {
            let mut t = Trie::<u32>::new();
            let mut n = Naive::<u32>::default();
            for op in ops {
                match op {
                    Op::Insert(k, l, neg) => {
                        let f = if neg { NEG } else { 0 };
                        let added = t.insert(k, l, f, 0).unwrap().1;
                        prop_assert_eq!(added, n.insert(k, l, f));
                    }
                    Op::Remove(k, l) => {
                        prop_assert_eq!(t.remove(k, l).is_some(), n.remove(k, l));
                    }
                    Op::Lookup(a) => {
                        let got = t.lookup(a).map(|i| {
                            let e = t.entry(i);
                            (e.key, e.len, e.flags & NEG)
                        });
                        prop_assert_eq!(got, n.lookup(a));
                    }
                }
                t.check();
            }
            let got: Vec<(u32, u8)> = t.iter().map(|i| (t.entry(i).key, t.entry(i).len)).collect();
            prop_assert_eq!(got, n.sorted());
        }

        #[test]
        fn matches_naive_reference_v6(
            ins in proptest::collection::vec((0u128..16, any::<u64>(), 0u8..=128, any::<bool>()), 1..120),
            probes in proptest::collection::vec((0u128..16, any::<u128>()), 1..64),
        ) {
            let mut t = Trie::<K128>::new();
            let mut n = Naive::<K128>::default();
            for (hi, lo, l, neg) in ins {
                let k = K128::from((hi << 124) | lo as u128);
                let f = if neg { NEG } else { 0 };
                prop_assert_eq!(t.insert(k, l, f, 0).unwrap().1, n.insert(k, l, f));
            }
            t.check();
            for (hi, r) in probes {
                let a = K128::from((hi << 124) | (r >> 4));
                let got = t.lookup(a).map(|i| (t.entry(i).key, t.entry(i).len, t.entry(i).flags & NEG));
                prop_assert_eq!(got, n.lookup(a));
            }
            let got: Vec<(K128, u8)> = t.iter().map(|i| (t.entry(i).key, t.entry(i).len)).collect();
            prop_assert_eq!(got, n.sorted());
        }
    }
}

//! The contents of a table: the longest-prefix-match store, one radix
//! trie per address family (`trie`), with pf's entry flags (negation,
//! counters in use) and the time each entry's statistics were cleared.

use super::trie::{addr4, addr6, key4, key6, Trie, K128, NEG};
use super::TableError;
use crate::addr::IpNet;
use crate::errno;
use crate::ruleset::TableEntry;
use std::net::IpAddr;

/// The contents of a table: one trie per address family.
#[derive(Debug, Clone, Default)]
pub(super) struct Contents {
    pub(super) v4: Trie<u32>,
    pub(super) v6: Trie<K128>,
}

/// A prefix as the tries take it.
enum Pk {
    V4(u32, u8),
    V6(K128, u8),
}

fn pk(net: &IpNet) -> Pk {
    match net.addr {
        IpAddr::V4(a) => Pk::V4(key4(a), net.prefix.min(32)),
        IpAddr::V6(a) => Pk::V6(key6(a), net.prefix.min(128)),
    }
}

/// Which trie an entry index belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Ei {
    V4(u32),
    V6(u32),
}

impl Contents {
    pub(super) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn find(&self, net: &IpNet) -> Option<Ei> {
        match pk(net) {
            Pk::V4(k, l) => self.v4.find(k, l).map(Ei::V4),
            Pk::V6(k, l) => self.v6.find(k, l).map(Ei::V6),
        }
    }

    /// Insert; Ok((index, added)).
    pub(super) fn insert(&mut self, e: &TableEntry, tzero: u32) -> Result<(Ei, bool), TableError> {
        let flags = if e.neg { NEG } else { 0 };
        let full = |_| TableError::new(errno::ENOMEM, "Cannot allocate memory");
        match pk(&e.net) {
            Pk::V4(k, l) => self
                .v4
                .insert(k, l, flags, tzero)
                .map(|(i, a)| (Ei::V4(i), a))
                .map_err(full),
            Pk::V6(k, l) => self
                .v6
                .insert(k, l, flags, tzero)
                .map(|(i, a)| (Ei::V6(i), a))
                .map_err(full),
        }
    }

    pub(super) fn remove(&mut self, net: &IpNet) -> bool {
        match pk(net) {
            Pk::V4(k, l) => self.v4.remove(k, l).is_some(),
            Pk::V6(k, l) => self.v6.remove(k, l).is_some(),
        }
    }

    /// Longest-prefix match.
    #[inline]
    pub(super) fn lookup(&self, a: &IpAddr) -> Option<Ei> {
        match a {
            IpAddr::V4(a) => self.v4.lookup(key4(*a)).map(Ei::V4),
            IpAddr::V6(a) => self.v6.lookup(key6(*a)).map(Ei::V6),
        }
    }

    #[inline]
    pub(super) fn neg(&self, i: Ei) -> bool {
        match i {
            Ei::V4(i) => self.v4.entry(i).neg(),
            Ei::V6(i) => self.v6.entry(i).neg(),
        }
    }

    pub(super) fn entry(&self, i: Ei) -> (TableEntry, u32, u8) {
        match i {
            Ei::V4(i) => {
                let e = self.v4.entry(i);
                (
                    TableEntry::new(
                        e.neg(),
                        IpNet {
                            addr: addr4(e.key),
                            prefix: e.len,
                        },
                    ),
                    e.tzero,
                    e.flags,
                )
            }
            Ei::V6(i) => {
                let e = self.v6.entry(i);
                (
                    TableEntry::new(
                        e.neg(),
                        IpNet {
                            addr: addr6(e.key),
                            prefix: e.len,
                        },
                    ),
                    e.tzero,
                    e.flags,
                )
            }
        }
    }

    pub(super) fn set_flags(&mut self, i: Ei, f: impl Fn(u8) -> u8) {
        match i {
            Ei::V4(i) => {
                let e = self.v4.entry_mut(i);
                e.flags = f(e.flags);
            }
            Ei::V6(i) => {
                let e = self.v6.entry_mut(i);
                e.flags = f(e.flags);
            }
        }
    }

    pub(super) fn set_tzero(&mut self, i: Ei, t: u32) {
        match i {
            Ei::V4(i) => self.v4.entry_mut(i).tzero = t,
            Ei::V6(i) => self.v6.entry_mut(i).tzero = t,
        }
    }

    /// Every entry in pf's order (IPv4, then IPv6).
    pub(super) fn iter(&self) -> impl Iterator<Item = Ei> + '_ {
        self.v4.iter().map(Ei::V4).chain(self.v6.iter().map(Ei::V6))
    }

    pub(super) fn memory(&self) -> usize {
        self.v4.memory() + self.v6.memory()
    }
}

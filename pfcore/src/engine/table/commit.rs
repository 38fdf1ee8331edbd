//! Table definitions and their commit (pf's `pfr_ina_define` /
//! `pfr_ina_commit`): a `Shadow` table is built from a transaction's
//! definition outside the engine, checked against the limits, and swapped
//! in at commit keeping the statistics of entries that stay.

use super::contents::{Contents, Ei};
use super::trie::USER1;
use super::{Limits, TableError, Tables};
use crate::errno;
use crate::ruleset::{TableEntry, TableFlags};
use std::collections::HashMap;

/// A table defined in a transaction, built outside the engine's lock and
/// swapped in at commit (pf's shadow table).
#[derive(Debug, Clone)]
pub struct Shadow {
    pub anchor: String,
    pub name: String,
    pub flags: TableFlags,
    /// The definition gave addresses (even none): loading replaces the
    /// table's contents. Without it the contents stay.
    pub init_addr: bool,
    /// Addresses received, not yet in the tries (`finish` sorts and
    /// inserts them: in address order an insertion finds most of its
    /// path in the cache).
    pending: Vec<TableEntry>,
    pub(super) data: Contents,
}

impl Shadow {
    pub fn new(anchor: &str, name: &str, flags: TableFlags, init_addr: bool) -> Shadow {
        Shadow {
            anchor: anchor.to_string(),
            name: name.to_string(),
            flags,
            init_addr,
            pending: Vec::new(),
            data: Contents::default(),
        }
    }

    /// Add addresses (duplicates are dropped, as pfr_ina_define does);
    /// they go into the tries at `finish`.
    pub fn add(&mut self, entries: &[TableEntry]) {
        self.pending.extend(
            entries
                .iter()
                .map(|e| TableEntry::new(e.neg, e.net.to_network())),
        );
    }

    /// Build the tries from what was added (once every chunk is in, before
    /// the commit). The time stamps are set at commit.
    pub fn finish(&mut self) -> Result<(), TableError> {
        let mut v = std::mem::take(&mut self.pending);
        v.sort_unstable_by(|a, b| {
            a.net
                .addr
                .cmp(&b.net.addr)
                .then(a.net.prefix.cmp(&b.net.prefix))
        });
        let n4 = v.partition_point(|e| e.net.addr.is_ipv4());
        self.data.v4.reserve(n4);
        self.data.v6.reserve(v.len() - n4);
        for e in &v {
            self.data.insert(e, 0)?;
        }
        self.data.v4.shrink_to_fit();
        self.data.v6.shrink_to_fit();
        Ok(())
    }

    /// Addresses (an upper bound before `finish`: duplicates count).
    pub fn len(&self) -> usize {
        self.data.len() + self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by its tries.
    pub fn memory(&self) -> usize {
        self.data.memory()
    }
}

impl Tables {
    /// Would committing `defs` (and replacing every rule reference by
    /// `refs`, when `replace_refs`) keep within `limits`? Nothing changes.
    pub fn check_commit(
        &self,
        defs: &[Shadow],
        refs: &[(String, String)],
        replace_refs: bool,
        limits: Limits,
    ) -> Result<(), TableError> {
        // Every table that may exist afterwards, with what decides it.
        #[derive(Default, Clone, Copy)]
        struct P {
            refs: u32,
            defined: Option<usize>,
            anchored: bool,
        }
        let mut keys: HashMap<(&str, &str), P> = HashMap::new();
        for ((a, n), &id) in &self.index {
            let refs = if replace_refs {
                0
            } else {
                self.get(id).map_or(0, |t| t.refs_rule)
            };
            keys.insert(
                (a.as_str(), n.as_str()),
                P {
                    refs,
                    anchored: !a.is_empty(),
                    ..P::default()
                },
            );
        }
        for (a, n) in refs {
            let p = keys.entry((a.as_str(), n.as_str())).or_default();
            p.refs += 1;
            p.anchored = !a.is_empty();
        }
        for (i, d) in defs.iter().enumerate() {
            let p = keys
                .entry((d.anchor.as_str(), d.name.as_str()))
                .or_default();
            p.defined = Some(i);
            p.anchored = !d.anchor.is_empty();
        }
        // Roots of anchored tables exist as keys too.
        let roots: Vec<&str> = keys
            .iter()
            .filter(|(_, p)| p.anchored)
            .map(|((_, n), _)| *n)
            .collect();
        for n in roots {
            keys.entry(("", n)).or_default();
        }
        let active_before = |a: &str, n: &str| self.by_name(a, n).is_some_and(|t| t.active);
        let persist = |a: &str, n: &str, p: &P| match p.defined {
            Some(i) => defs[i].flags.persist,
            None => self
                .by_name(a, n)
                .is_some_and(|t| t.active && t.flags.persist),
        };
        let contents = |a: &str, n: &str, p: &P| -> usize {
            match p.defined {
                Some(i) if defs[i].init_addr => defs[i].len(),
                _ => self
                    .by_name(a, n)
                    .filter(|t| t.active)
                    .map_or(0, |t| t.len()),
            }
        };
        let mut tables = 0usize;
        let mut entries = 0usize;
        let mut anchored_alive: HashMap<&str, u32> = HashMap::new();
        for (&(a, n), p) in keys.iter().filter(|(_, p)| p.anchored) {
            let active =
                (p.defined.is_some() || active_before(a, n)) && (persist(a, n, p) || p.refs > 0);
            if active || p.refs > 0 {
                tables += 1;
                *anchored_alive.entry(n).or_default() += 1;
            }
            if active {
                entries += contents(a, n, p);
            }
        }
        for (&(a, n), p) in keys.iter().filter(|(_, p)| !p.anchored) {
            let ra = anchored_alive.get(n).copied().unwrap_or(0);
            let active = (p.defined.is_some() || active_before(a, n))
                && (persist(a, n, p) || p.refs > 0 || ra > 0);
            if active || p.refs > 0 || ra > 0 {
                tables += 1;
            }
            if active {
                entries += contents(a, n, p);
            }
        }
        if tables > limits.tables as usize {
            return Err(TableError::new(
                errno::ENOMEM,
                format!(
                    "Cannot allocate memory: {tables} tables exceed the limit (set limit tables {})",
                    limits.tables
                ),
            ));
        }
        if entries > limits.entries as usize {
            return Err(TableError::new(
                errno::ENOMEM,
                format!(
                    "Cannot allocate memory: {entries} table entries exceed the limit (set limit table-entries {})",
                    limits.entries
                ),
            ));
        }
        Ok(())
    }

    /// Commit the tables of a transaction (pfr_ina_commit): each becomes
    /// active with its new flags; its contents are replaced when the
    /// definition gave addresses. Entries that stay keep their statistics.
    pub fn commit(&mut self, defs: Vec<Shadow>, now: u32) {
        for mut d in defs {
            if !d.pending.is_empty() && d.finish().is_err() {
                continue;
            }
            let id = self.create(&d.anchor, &d.name, now);
            let Some(t) = self.get_mut(id) else { continue };
            let before = t.data.len();
            if !d.init_addr {
                if !t.active {
                    t.clear_stats(now, true);
                }
            } else if t.active && !t.data.is_empty() {
                // Keep what stays: times and counters of unchanged entries.
                let mut new = d.data;
                let mut counters = HashMap::new();
                let ids: Vec<Ei> = new.iter().collect();
                for ni in ids {
                    let (e, _, _) = new.entry(ni);
                    match t.data.find(&e.net) {
                        Some(oi) if t.data.neg(oi) == e.neg => {
                            let (_, tz, fl) = t.data.entry(oi);
                            new.set_tzero(ni, tz);
                            new.set_flags(ni, |f| (f & !USER1) | (fl & USER1));
                            if let Some(c) = t.counters.get(&oi) {
                                counters.insert(ni, *c);
                            }
                        }
                        _ => new.set_tzero(ni, now),
                    }
                }
                t.data = new;
                t.counters = counters;
            } else {
                t.data = d.data;
                t.counters = HashMap::new();
                t.clear_stats(now, true);
            }
            t.flags = d.flags;
            t.active = true;
            let after = t.data.len();
            self.entries = self.entries + after - before;
            self.settle(id);
        }
    }
}

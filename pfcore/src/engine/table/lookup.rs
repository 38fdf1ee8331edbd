//! What packets ask of tables: `pfr_match_addr` for rules, the entries
//! address pools draw from, and `overload <t>` adding an address at run
//! time. Lookups allocate nothing.

use super::trie::{addr4, addr6};
use super::{TableError, TableId, Tables};
use crate::addr::{Af, IpNet};
use crate::errno;
use crate::ruleset::TableEntry;
use std::net::IpAddr;

impl Tables {
    /// pfr_match_addr: is `a` in table `id` (its longest matching prefix
    /// not negated)? Counts the evaluation. No allocation.
    #[inline]
    pub fn match_addr(&self, id: TableId, a: &IpAddr) -> bool {
        let Some(t) = self.get(id) else { return false };
        let m = self
            .select_active(id)
            .and_then(|kt| kt.data.lookup(a).map(|i| !kt.data.neg(i)))
            .unwrap_or(false);
        let c = &t.evals[m as usize];
        c.set(c.get() + 1);
        m
    }

    /// Number of non-negated addresses of family `af` in the table a rule
    /// naming `id` uses (for address pools).
    pub fn pool_count(&self, id: TableId, af: Af) -> usize {
        let Some(t) = self.select_active(id) else {
            return 0;
        };
        match af {
            Af::Inet => t
                .data
                .v4
                .iter()
                .filter(|i| !t.data.v4.entry(*i).neg())
                .count(),
            Af::Inet6 => t
                .data
                .v6
                .iter()
                .filter(|i| !t.data.v6.entry(*i).neg())
                .count(),
        }
    }

    /// The `n`-th non-negated prefix of family `af`, in pf's order
    /// (pfr_kentry_byidx). Allocation-free; O(table size).
    pub fn pool_nth(&self, id: TableId, af: Af, n: usize) -> Option<IpNet> {
        let t = self.select_active(id)?;
        match af {
            Af::Inet => t
                .data
                .v4
                .iter()
                .filter(|i| !t.data.v4.entry(*i).neg())
                .nth(n)
                .map(|i| {
                    let e = t.data.v4.entry(i);
                    IpNet {
                        addr: addr4(e.key),
                        prefix: e.len,
                    }
                }),
            Af::Inet6 => t
                .data
                .v6
                .iter()
                .filter(|i| !t.data.v6.entry(*i).neg())
                .nth(n)
                .map(|i| {
                    let e = t.data.v6.entry(i);
                    IpNet {
                        addr: addr6(e.key),
                        prefix: e.len,
                    }
                }),
        }
    }

    /// The longest prefix of the table containing `a`, with its negation
    /// (no evaluation counted).
    pub fn lookup(&self, id: TableId, a: &IpAddr) -> Option<TableEntry> {
        let t = self.select_active(id)?;
        t.data.lookup(a).map(|i| t.data.entry(i).0)
    }
    // ------------------------------------------------------------ run time

    /// pfr_insert_kentry, for `overload <t>`: add `net` to table `id` if
    /// it is not there. Ok(true) when added. Fails when the table is not
    /// active or the table-entries limit is reached.
    pub fn insert_kentry(
        &mut self,
        id: TableId,
        net: IpNet,
        now: u32,
        limit_entries: u32,
    ) -> Result<bool, TableError> {
        let full = self.entries >= limit_entries as usize;
        let t = self.get_mut(id).ok_or_else(TableError::no_table)?;
        if !t.active {
            return Err(TableError::no_table());
        }
        let e = TableEntry::new(false, net.to_network());
        if t.data.find(&e.net).is_some() {
            return Ok(false);
        }
        if full {
            return Err(TableError::new(errno::ENOMEM, "Cannot allocate memory"));
        }
        let (_, added) = t.data.insert(&e, now)?;
        if added {
            self.entries += 1;
        }
        Ok(added)
    }
}

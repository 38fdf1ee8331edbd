//! Table statistics (pf's `pfr_tstats` / `pfr_astats`): what rules count
//! per table and per entry, what `pfctl -s Tables`, `-T show` and
//! `-T zero` read and clear.

use super::contents::Ei;
use super::trie::USER1;
use super::{check_name, fb, AddrChange, Table, TableError, TableId, Tables, OP_XPASS};
use crate::ruleset::TableEntry;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Per-entry counters of a `counters` table: [in, out] × [block, match,
/// pass].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryCounters {
    pub packets: [[u64; 3]; 2],
    pub bytes: [[u64; 3]; 2],
}

/// A table as `pfctl -s Tables` sees it (pf's `pfr_tstats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableInfo {
    pub anchor: String,
    pub name: String,
    /// `tflag` bits.
    pub flags: u32,
    pub count: u64,
    /// [anchors, rules]
    pub refs: [u32; 2],
    /// When the statistics were cleared: engine seconds from the engine,
    /// Unix time once the daemon has converted it.
    pub tzero: i64,
    pub nomatch: u64,
    pub matched: u64,
    pub packets: [[u64; 4]; 2],
    pub bytes: [[u64; 4]; 2],
}

/// One address of a table, or of a request, with pf's feedback code
/// (pf's `pfr_astats` / `pfr_addr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrInfo {
    pub entry: TableEntry,
    pub fback: u8,
    /// When its statistics were cleared (see `TableInfo::tzero`).
    pub tzero: i64,
    /// Per-entry counters, when the table keeps them and the entry has
    /// seen traffic since they were cleared.
    pub counters: Option<EntryCounters>,
}

impl AddrInfo {
    pub fn request(entry: TableEntry, fback: u8) -> AddrInfo {
        AddrInfo {
            entry,
            fback,
            tzero: 0,
            counters: None,
        }
    }
}

impl Table {
    pub(super) fn clear_stats(&mut self, now: u32, entries_too: bool) {
        self.packets = [[0; 4]; 2];
        self.bytes = [[0; 4]; 2];
        self.evals[0].set(0);
        self.evals[1].set(0);
        self.tzero = now;
        if entries_too {
            self.counters.clear();
            let all: Vec<Ei> = self.data.iter().collect();
            for i in all {
                self.data.set_tzero(i, now);
                self.data.set_flags(i, |f| f & !USER1);
            }
        }
    }

    pub(super) fn clear_entry_stats(&mut self, i: Ei, now: u32) {
        self.counters.remove(&i);
        self.data.set_tzero(i, now);
        self.data.set_flags(i, |f| f & !USER1);
    }

    pub(super) fn info(&self) -> TableInfo {
        TableInfo {
            anchor: self.anchor.clone(),
            name: self.name.clone(),
            flags: self.pf_flags(),
            count: self.len() as u64,
            refs: [self.refs_anchor, self.refs_rule],
            tzero: self.tzero as i64,
            nomatch: self.evals[0].get(),
            matched: self.evals[1].get(),
            packets: self.packets,
            bytes: self.bytes,
        }
    }

    pub(super) fn addr_info(&self, i: Ei, fback: u8) -> AddrInfo {
        let (entry, tzero, flags) = self.data.entry(i);
        let counters = if flags & USER1 != 0 {
            self.counters.get(&i).copied()
        } else {
            None
        };
        AddrInfo {
            entry,
            fback,
            tzero: tzero as i64,
            counters,
        }
    }
}

impl Tables {
    /// matched (`op`) by a rule naming table `id` (`negated`: `! <t>`).
    pub fn update_stats(
        &mut self,
        id: TableId,
        a: &IpAddr,
        out: bool,
        op: usize,
        negated: bool,
        len: u64,
    ) {
        let Some(t) = self.get(id) else { return };
        let kid = if t.active {
            id
        } else {
            match t.root {
                Some(r) if self.get(r).is_some_and(|r| r.active) => r,
                _ => return,
            }
        };
        let Some(kt) = self.get_mut(kid) else { return };
        let ke = kt.data.lookup(a);
        let not_in = ke.is_none_or(|i| kt.data.neg(i));
        let op = if not_in != negated { OP_XPASS } else { op };
        let d = out as usize;
        kt.packets[d][op] += 1;
        kt.bytes[d][op] += len;
        if let (Some(i), true) = (ke, op != OP_XPASS && kt.flags.counters) {
            kt.data.set_flags(i, |f| f | USER1);
            let c = kt.counters.entry(i).or_default();
            c.packets[d][op] += 1;
            c.bytes[d][op] += len;
        }
    }

    /// `-T show` (pfr_get_astats): every entry with its statistics.
    pub fn get_astats(&self, anchor: &str, name: &str) -> Result<Vec<AddrInfo>, TableError> {
        let id = self.active_id(anchor, name)?;
        let t = self.get(id).ok_or_else(TableError::no_table)?;
        Ok(t.data
            .iter()
            .map(|i| {
                let mut a = t.addr_info(i, fb::NONE);
                if a.counters.is_none() {
                    a.fback = fb::NOCOUNT;
                }
                a
            })
            .collect())
    }

    /// `-T zero ADDRESS...` (pfr_clr_astats).
    pub fn clr_astats(
        &mut self,
        anchor: &str,
        name: &str,
        addrs: &[TableEntry],
        dummy: bool,
        now: u32,
    ) -> Result<AddrChange, TableError> {
        let id = self.active_id(anchor, name)?;
        let t = self.get_mut(id).ok_or_else(TableError::no_table)?;
        let mut out = AddrChange::default();
        let mut hit = vec![];
        for a in addrs {
            let a = TableEntry::new(a.neg, a.net.to_network());
            let code = match t.data.find(&a.net) {
                Some(i) => {
                    hit.push(i);
                    fb::CLEARED
                }
                None => fb::NONE,
            };
            out.feedback.push(AddrInfo::request(a, code));
        }
        out.nzero = hit.len() as u32;
        if !dummy {
            for i in hit {
                t.clear_entry_stats(i, now);
            }
        }
        Ok(out)
    }

    /// `-T zero` (pfr_clr_tstats with its addresses): Ok(1) if the table
    /// exists.
    pub fn clr_tstats(
        &mut self,
        anchor: &str,
        name: &str,
        dummy: bool,
        now: u32,
    ) -> Result<u32, TableError> {
        let anchor = check_name(anchor, name)?;
        let Some(id) = self.id(&anchor, name) else {
            return Ok(0);
        };
        if !dummy {
            if let Some(t) = self.get_mut(id) {
                t.clear_stats(now, true);
            }
        }
        Ok(1)
    }

    /// Every table (of `anchor` only, if given), in pf's order: by name,
    /// then anchor.
    pub fn get_tables(&self, anchor: Option<&str>) -> Vec<TableInfo> {
        let anchor = anchor.map(|a| a.trim_start_matches('/'));
        let mut v: Vec<&Table> = self
            .slots
            .iter()
            .flatten()
            .filter(|t| anchor.is_none_or(|a| t.anchor == a))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.anchor.cmp(&b.anchor)));
        v.into_iter().map(Table::info).collect()
    }
}

//! The operations behind `pfctl -t NAME -T ...` and `-F Tables` (pf's
//! `pfr_add_tables`, `pfr_del_tables`, `pfr_clr_tables`, `pfr_*_addrs`):
//! each answers with pf's feedback codes and changes nothing when `dummy`
//! (`pfctl -n`).

use super::contents::{Contents, Ei};
use super::trie::NEG;
use super::{check_name, fb, AddrInfo, TableError, TableId, Tables};
use crate::errno;
use crate::ruleset::{TableEntry, TableFlags};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;

/// What `-T add/delete/replace/zero` changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrChange {
    pub nadd: u32,
    pub ndel: u32,
    pub nchange: u32,
    pub nzero: u32,
    /// `-T test`: addresses that match.
    pub nmatch: u32,
    /// Feedback for each address of the request, in order, followed (for
    /// `replace`) by the addresses it deleted.
    pub feedback: Vec<AddrInfo>,
}

impl Tables {
    /// `pfctl -t NAME -T add` creates the table, persistent, if needed
    /// (pfr_add_tables): Ok(1) when it was created.
    pub fn add_table(
        &mut self,
        anchor: &str,
        name: &str,
        dummy: bool,
        now: u32,
        limit_tables: u32,
    ) -> Result<u32, TableError> {
        let anchor = check_name(anchor, name)?;
        match self.id(&anchor, name) {
            Some(id) => {
                if !dummy {
                    if let Some(t) = self.get_mut(id) {
                        if !t.active {
                            t.active = true;
                            t.flags = TableFlags {
                                persist: true,
                                ..TableFlags::default()
                            };
                            t.clear_stats(now, true);
                        }
                    }
                }
                Ok(0)
            }
            None => {
                let extra = if !anchor.is_empty() && self.id("", name).is_none() {
                    2
                } else {
                    1
                };
                if self.count() + extra > limit_tables as usize {
                    return Err(TableError::new(errno::ENOMEM, "Cannot allocate memory"));
                }
                if !dummy {
                    let id = self.create(&anchor, name, now);
                    if let Some(t) = self.get_mut(id) {
                        t.active = true;
                        t.flags = TableFlags {
                            persist: true,
                            ..TableFlags::default()
                        };
                        t.tzero = now;
                    }
                }
                Ok(1)
            }
        }
    }

    /// An active table by name, or ESRCH.
    pub(super) fn active_id(&self, anchor: &str, name: &str) -> Result<TableId, TableError> {
        let anchor = check_name(anchor, name)?;
        match self.id(&anchor, name) {
            Some(id) if self.get(id).is_some_and(|t| t.active) => Ok(id),
            _ => Err(TableError::no_table()),
        }
    }

    /// `-T kill` (pfr_del_tables): Ok(1) if an active table was deleted.
    pub fn del_table(&mut self, anchor: &str, name: &str, dummy: bool) -> Result<u32, TableError> {
        let anchor = check_name(anchor, name)?;
        let Some(id) = self.id(&anchor, name) else {
            return Ok(0);
        };
        if !self.get(id).is_some_and(|t| t.active) {
            return Ok(0);
        }
        if !dummy {
            self.deactivate(id);
        }
        Ok(1)
    }

    fn deactivate(&mut self, id: TableId) {
        if let Some(t) = self.get_mut(id) {
            t.active = false;
        }
        self.settle(id);
    }

    /// `-F Tables` (pfr_clr_tables): every active table of `anchor`
    /// stops being active. Returns how many.
    pub fn clr_tables(&mut self, anchor: &str, dummy: bool) -> Result<u32, TableError> {
        let anchor = anchor.trim_start_matches('/');
        let ids: Vec<TableId> = self
            .index
            .iter()
            .filter(|((a, _), id)| a == anchor && self.get(**id).is_some_and(|t| t.active))
            .map(|(_, id)| *id)
            .collect();
        if !dummy {
            for id in &ids {
                self.deactivate(*id);
            }
        }
        Ok(ids.len() as u32)
    }

    /// `-T flush` (pfr_clr_addrs): Ok(number deleted).
    pub fn clr_addrs(&mut self, anchor: &str, name: &str, dummy: bool) -> Result<u32, TableError> {
        let id = self.active_id(anchor, name)?;
        let t = self.writable(id)?;
        let n = t.data.len();
        if !dummy {
            t.data = Contents::default();
            t.counters = HashMap::new();
            self.entries -= n;
        }
        Ok(n as u32)
    }

    /// `-T add` (pfr_add_addrs).
    pub fn add_addrs(
        &mut self,
        anchor: &str,
        name: &str,
        addrs: &[TableEntry],
        dummy: bool,
        now: u32,
        limit_entries: u32,
    ) -> Result<AddrChange, TableError> {
        let id = self.active_id(anchor, name)?;
        let total = self.entries;
        let t = self.writable(id)?;
        let mut seen = Contents::default();
        let mut out = AddrChange::default();
        let mut add = vec![];
        for a in addrs {
            let a = TableEntry::new(a.neg, a.net.to_network());
            // Duplicates are looked for among the addresses this request
            // adds, as pf's temporary table holds them.
            let code = if seen.find(&a.net).is_some() {
                fb::DUPLICATE
            } else {
                match t.data.find(&a.net) {
                    None => {
                        seen.insert(&a, 0)?;
                        add.push(a);
                        fb::ADDED
                    }
                    Some(i) if t.data.neg(i) != a.neg => fb::CONFLICT,
                    Some(_) => fb::NONE,
                }
            };
            out.feedback.push(AddrInfo::request(a, code));
        }
        if total + add.len() > limit_entries as usize {
            return Err(TableError::new(errno::ENOMEM, "Cannot allocate memory"));
        }
        out.nadd = add.len() as u32;
        if !dummy {
            for a in &add {
                t.data.insert(a, now)?;
            }
            self.entries += add.len();
        }
        Ok(out)
    }

    /// `-T delete` (pfr_del_addrs).
    pub fn del_addrs(
        &mut self,
        anchor: &str,
        name: &str,
        addrs: &[TableEntry],
        dummy: bool,
    ) -> Result<AddrChange, TableError> {
        let id = self.active_id(anchor, name)?;
        let t = self.writable(id)?;
        let mut out = AddrChange::default();
        let mut del: Vec<Ei> = vec![];
        let mut marked: std::collections::HashSet<Ei> = std::collections::HashSet::new();
        for a in addrs {
            let a = TableEntry::new(a.neg, a.net.to_network());
            let code = match t.data.find(&a.net) {
                None => fb::NONE,
                Some(i) if t.data.neg(i) != a.neg => fb::CONFLICT,
                Some(i) if !marked.insert(i) => fb::DUPLICATE,
                Some(i) => {
                    del.push(i);
                    fb::DELETED
                }
            };
            out.feedback.push(AddrInfo::request(a, code));
        }
        out.ndel = del.len() as u32;
        if !dummy {
            for i in &del {
                let (e, _, _) = t.data.entry(*i);
                t.counters.remove(i);
                t.data.remove(&e.net);
            }
            self.entries -= del.len();
        }
        Ok(out)
    }

    /// `-T replace` (pfr_set_addrs).
    pub fn set_addrs(
        &mut self,
        anchor: &str,
        name: &str,
        addrs: &[TableEntry],
        dummy: bool,
        now: u32,
        limit_entries: u32,
    ) -> Result<AddrChange, TableError> {
        let id = self.active_id(anchor, name)?;
        let total = self.entries;
        let t = self.writable(id)?;
        let mut out = AddrChange::default();
        let mut marked: std::collections::HashSet<Ei> = std::collections::HashSet::new();
        let mut seen = Contents::default();
        let mut add = vec![];
        let mut change = vec![];
        for a in addrs {
            let a = TableEntry::new(a.neg, a.net.to_network());
            let code = match t.data.find(&a.net) {
                Some(i) => {
                    if !marked.insert(i) {
                        fb::DUPLICATE
                    } else if t.data.neg(i) != a.neg {
                        change.push(i);
                        fb::CHANGED
                    } else {
                        fb::NONE
                    }
                }
                None => {
                    if !seen.insert(&a, 0)?.1 {
                        fb::DUPLICATE
                    } else {
                        add.push(a);
                        fb::ADDED
                    }
                }
            };
            out.feedback.push(AddrInfo::request(a, code));
        }
        let del: Vec<Ei> = t.data.iter().filter(|i| !marked.contains(i)).collect();
        for i in &del {
            let (e, _, _) = t.data.entry(*i);
            out.feedback.push(AddrInfo::request(e, fb::DELETED));
        }
        if total + add.len() > limit_entries as usize + del.len() {
            return Err(TableError::new(errno::ENOMEM, "Cannot allocate memory"));
        }
        out.nadd = add.len() as u32;
        out.ndel = del.len() as u32;
        out.nchange = change.len() as u32;
        if !dummy {
            for i in &change {
                t.data.set_flags(*i, |f| f ^ NEG);
                t.clear_entry_stats(*i, now);
            }
            for i in &del {
                let (e, _, _) = t.data.entry(*i);
                t.counters.remove(i);
                t.data.remove(&e.net);
            }
            for a in &add {
                t.data.insert(a, now)?;
            }
            self.entries = self.entries + add.len() - del.len();
        }
        Ok(out)
    }

    /// `-T test` (pfr_tst_addrs): for each host address, the feedback
    /// (MATCH, NOTMATCH for a negated entry, NONE) and the entry found.
    pub fn tst_addrs(
        &self,
        anchor: &str,
        name: &str,
        addrs: &[IpAddr],
    ) -> Result<Vec<(u8, Option<TableEntry>)>, TableError> {
        let id = self.active_id(anchor, name)?;
        let t = self.get(id).ok_or_else(TableError::no_table)?;
        Ok(addrs
            .iter()
            .map(|a| match t.data.lookup(a) {
                None => (fb::NONE, None),
                Some(i) => {
                    let (e, _, _) = t.data.entry(i);
                    (if e.neg { fb::NOTMATCH } else { fb::MATCH }, Some(e))
                }
            })
            .collect())
    }
}

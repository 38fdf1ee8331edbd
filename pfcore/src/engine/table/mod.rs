//! Tables as pfd runs them (OpenBSD's pf_table.c): the store of tables by
//! (anchor path, name), their life (pf's active / referenced semantics),
//! the transaction that loads them with a ruleset, the lookups rules make,
//! statistics, and the operations behind `pfctl -t NAME -T ...`.
//!
//! Life of a table, as in pf:
//! - a rule naming `<t>` *references* it: the table is created if needed
//!   (empty, not active) and lives while a rule refers to it;
//! - a definition (pf.conf, `pfctl -T load`) or `pfctl -T add` makes it
//!   *active*; an active table without `persist` and without references
//!   (from rules, or from tables of the same name in anchors, for which it
//!   is the fallback) stops being active, and a table that is neither
//!   active nor referenced is removed;
//! - a rule in an anchor whose table is not active there uses the table
//!   of the same name in the main ruleset (`pfr_ktable_select_active`).
//!
//! Rules hold table ids (`TableId`), resolved when a ruleset is loaded;
//! an id stays valid while the rule references the table. Packet lookups
//! (`match_addr`) allocate nothing.
//!
//! Time: `now` is the engine's clock in seconds; entries and tables keep
//! when their statistics were last cleared in that clock (the daemon turns
//! it into wall-clock time for pfctl).
//!
//! This file holds the store and the life of tables; beside it: `trie`
//! and `contents` (the longest-prefix-match store of one table), `commit`
//! (definitions and the transaction), `lookup` (what packets ask),
//! `stats` (counters and their reports), `ops` (`pfctl -T ...`) and
//! `refs` (rules' table ids).

mod commit;
mod contents;
mod lookup;
mod ops;
pub mod refs;
mod stats;
pub mod trie;

use crate::addr::IpNet;
use crate::errno;
use crate::ruleset::TableFlags;
use contents::{Contents, Ei};
use std::cell::Cell;
use std::collections::HashMap;

pub use commit::Shadow;
pub use ops::AddrChange;
pub use refs::{attach_rules, detach_rules, rule_table_names, RuleTables};
pub use stats::{AddrInfo, EntryCounters, TableInfo};

/// A table's index in the store.
pub type TableId = u32;

/// pf's `PFR_TFLAG_*`, as `pfctl -vsT` shows them (`cpairhC`).
pub mod tflag {
    pub const CONST: u32 = 0x01;
    pub const PERSIST: u32 = 0x02;
    pub const ACTIVE: u32 = 0x04;
    pub const INACTIVE: u32 = 0x08;
    pub const REFERENCED: u32 = 0x10;
    pub const REFDANCHOR: u32 = 0x20;
    pub const COUNTERS: u32 = 0x40;
}

/// Feedback codes of address operations (pf's `PFR_FB_*`).
pub mod fb {
    pub const NONE: u8 = 0;
    pub const MATCH: u8 = 1;
    pub const ADDED: u8 = 2;
    pub const DELETED: u8 = 3;
    pub const CHANGED: u8 = 4;
    pub const CLEARED: u8 = 5;
    pub const DUPLICATE: u8 = 6;
    pub const NOTMATCH: u8 = 7;
    pub const CONFLICT: u8 = 8;
    pub const NOCOUNT: u8 = 9;
}

/// Statistics columns (pf's `PFR_OP_*`): tables count all four, entries
/// the first three.
pub const OP_BLOCK: usize = 0;
pub const OP_MATCH: usize = 1;
pub const OP_PASS: usize = 2;
pub const OP_XPASS: usize = 3;

/// pfctl's longest anchor path (MAXPATHLEN - 1).
pub const ANCHOR_MAX: usize = 1023;

/// An operation failed: the errno pfctl reports, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError {
    pub errno: i32,
    pub message: String,
}

impl TableError {
    fn new(errno: i32, message: impl Into<String>) -> TableError {
        TableError {
            errno,
            message: message.into(),
        }
    }
    fn no_table() -> TableError {
        TableError::new(errno::ESRCH, "Table does not exist")
    }
    fn constant() -> TableError {
        TableError::new(errno::EPERM, "Operation not permitted")
    }
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TableError {}

/// One table.
#[derive(Debug)]
pub struct Table {
    pub name: String,
    /// Anchor path, "" for the main ruleset.
    pub anchor: String,
    /// `const`, `persist`, `counters` (cleared when the table stops being
    /// active, as pf does).
    pub flags: TableFlags,
    pub active: bool,
    /// Rules referring to the table.
    pub refs_rule: u32,
    /// Tables of the same name in anchors that fall back to this one.
    pub refs_anchor: u32,
    /// For a table in an anchor: the main ruleset's table of that name.
    pub root: Option<TableId>,
    data: Contents,
    /// Per-entry counters (`counters` tables), allocated on first use.
    counters: HashMap<Ei, EntryCounters>,
    /// When the statistics were last cleared.
    pub tzero: u32,
    /// Lookups by rules: [no match, match].
    evals: [Cell<u64>; 2],
    /// [in, out] × [block, match, pass, xpass].
    pub packets: [[u64; 4]; 2],
    pub bytes: [[u64; 4]; 2],
}

impl Table {
    fn new(anchor: &str, name: &str, now: u32) -> Table {
        Table {
            name: name.to_string(),
            anchor: anchor.to_string(),
            flags: TableFlags::default(),
            active: false,
            refs_rule: 0,
            refs_anchor: 0,
            root: None,
            data: Contents::default(),
            counters: HashMap::new(),
            tzero: now,
            evals: [Cell::new(0), Cell::new(0)],
            packets: [[0; 4]; 2],
            bytes: [[0; 4]; 2],
        }
    }

    /// pf's flag word (`PFR_TFLAG_*`).
    pub fn pf_flags(&self) -> u32 {
        let mut f = 0;
        if self.flags.constant {
            f |= tflag::CONST;
        }
        if self.flags.persist {
            f |= tflag::PERSIST;
        }
        if self.flags.counters {
            f |= tflag::COUNTERS;
        }
        if self.active {
            f |= tflag::ACTIVE;
        }
        if self.refs_rule > 0 {
            f |= tflag::REFERENCED;
        }
        if self.refs_anchor > 0 {
            f |= tflag::REFDANCHOR;
        }
        f
    }

    /// Number of addresses.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.len() == 0
    }

    /// Bytes held by the tries.
    pub fn memory(&self) -> usize {
        self.data.memory()
    }
}

/// Validate a table name and anchor path as pf does (pfr_validate_table,
/// pfr_fix_anchor): returns the anchor without leading slashes.
pub fn check_name(anchor: &str, name: &str) -> Result<String, TableError> {
    if name.is_empty() || name.len() > crate::ruleset::TABLE_NAME_MAX || name.contains('\0') {
        return Err(TableError::new(errno::EINVAL, "Invalid argument"));
    }
    let a = anchor.trim_start_matches('/');
    if a.len() > ANCHOR_MAX || a.contains('\0') {
        return Err(TableError::new(errno::EINVAL, "Invalid argument"));
    }
    Ok(a.to_string())
}

/// Every table pfd knows.
#[derive(Debug, Default)]
pub struct Tables {
    slots: Vec<Option<Table>>,
    free: Vec<TableId>,
    index: HashMap<(String, String), TableId>,
    /// Addresses in all tables.
    entries: usize,
}

/// Limits a change must respect (`set limit tables`, `table-entries`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub tables: u32,
    pub entries: u32,
}

impl Tables {
    pub fn new() -> Tables {
        Tables::default()
    }

    /// Number of tables (active or only referenced).
    pub fn count(&self) -> usize {
        self.index.len()
    }

    /// Addresses in all tables.
    pub fn entries(&self) -> usize {
        self.entries
    }

    pub fn id(&self, anchor: &str, name: &str) -> Option<TableId> {
        self.index
            .get(&(anchor.to_string(), name.to_string()))
            .copied()
    }

    pub fn get(&self, id: TableId) -> Option<&Table> {
        self.slots.get(id as usize).and_then(|t| t.as_ref())
    }

    fn get_mut(&mut self, id: TableId) -> Option<&mut Table> {
        self.slots.get_mut(id as usize).and_then(|t| t.as_mut())
    }

    /// Table `id` for a change of its addresses: refused for `const`.
    fn writable(&mut self, id: TableId) -> Result<&mut Table, TableError> {
        let t = self.get_mut(id).ok_or_else(TableError::no_table)?;
        if t.flags.constant {
            return Err(TableError::constant());
        }
        Ok(t)
    }

    fn by_name(&self, anchor: &str, name: &str) -> Option<&Table> {
        self.id(anchor, name).and_then(|i| self.get(i))
    }

    /// The table a lookup in `id` really uses: itself if active, else the
    /// main ruleset's table of that name if that one is.
    #[inline]
    pub fn select_active(&self, id: TableId) -> Option<&Table> {
        let t = self.get(id)?;
        if t.active {
            return Some(t);
        }
        let r = self.get(t.root?)?;
        r.active.then_some(r)
    }

    fn create(&mut self, anchor: &str, name: &str, now: u32) -> TableId {
        if let Some(id) = self.id(anchor, name) {
            return id;
        }
        let mut t = Table::new(anchor, name, now);
        if !anchor.is_empty() {
            let root = self.create("", name, 0);
            if let Some(r) = self.get_mut(root) {
                r.refs_anchor += 1;
            }
            t.root = Some(root);
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(t);
                id
            }
            None => {
                self.slots.push(Some(t));
                (self.slots.len() - 1) as TableId
            }
        };
        self.index
            .insert((anchor.to_string(), name.to_string()), id);
        id
    }

    /// pfr_setflags_ktable: a table nothing keeps active stops being
    /// active (and loses its addresses and flags); a table that is neither
    /// active nor referenced goes away.
    fn settle(&mut self, id: TableId) {
        let Some(t) = self.get_mut(id) else { return };
        if t.refs_rule == 0 && t.refs_anchor == 0 && !t.flags.persist {
            t.active = false;
        }
        if !t.active {
            t.flags = TableFlags::default();
            let n = t.data.len();
            t.data = Contents::default();
            t.counters = HashMap::new();
            self.entries -= n;
        }
        let t = self.get(id).expect("table checked above");
        if !t.active && t.refs_rule == 0 && t.refs_anchor == 0 {
            let key = (t.anchor.clone(), t.name.clone());
            let root = t.root;
            self.index.remove(&key);
            self.slots[id as usize] = None;
            self.free.push(id);
            if let Some(r) = root {
                if let Some(rt) = self.get_mut(r) {
                    rt.refs_anchor = rt.refs_anchor.saturating_sub(1);
                }
                self.settle(r);
            }
        }
    }

    /// A rule refers to `<name>` in `anchor` (pfr_attach_table).
    pub fn attach(&mut self, anchor: &str, name: &str, now: u32) -> TableId {
        let id = self.create(anchor, name, now);
        if let Some(t) = self.get_mut(id) {
            t.refs_rule += 1;
        }
        id
    }

    /// A rule referring to `id` is gone (pfr_detach_table).
    pub fn detach(&mut self, id: TableId) {
        if let Some(t) = self.get_mut(id) {
            t.refs_rule = t.refs_rule.saturating_sub(1);
        }
        self.settle(id);
    }
    /// Bytes held by all tables' tries.
    pub fn memory(&self) -> usize {
        self.slots.iter().flatten().map(Table::memory).sum()
    }
}

impl crate::engine::Engine {
    /// `overload <t>` (and anything else that adds to a table at run
    /// time): add `net` to table `<name>` of `anchor` if it is not there,
    /// within `set limit table-entries`. Ok(true) when added. The table
    /// must be active (defined, or created by `pfctl -T add`); a rule's
    /// `overload <t>` table id is in `rules().tables[rule].overload`, for
    /// `Tables::insert_kentry`.
    pub fn table_insert(
        &mut self,
        anchor: &str,
        name: &str,
        net: IpNet,
        now: u64,
    ) -> Result<bool, TableError> {
        let anchor = check_name(anchor, name)?;
        let id = self
            .tables
            .id(&anchor, name)
            .ok_or_else(TableError::no_table)?;
        let limit = self.limit(crate::ruleset::Limit::TableEntries);
        self.tables
            .insert_kentry(id, net, crate::engine::table_now(now), limit)
    }
}

#[cfg(test)]
mod tests;

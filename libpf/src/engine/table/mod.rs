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

pub mod refs;
pub mod trie;

use crate::addr::{Af, IpNet};
use crate::ruleset::{TableEntry, TableFlags};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;
use trie::{addr4, addr6, key4, key6, Trie, K128, NEG, USER1};

pub use refs::{attach_rules, detach_rules, rule_table_names, RuleTables};

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

/// Per-entry counters of a `counters` table: [in, out] × [block, match,
/// pass].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryCounters {
    pub packets: [[u64; 3]; 2],
    pub bytes: [[u64; 3]; 2],
}

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
        TableError::new(libc::ESRCH, "Table does not exist")
    }
    fn constant() -> TableError {
        TableError::new(libc::EPERM, "Operation not permitted")
    }
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TableError {}

/// The contents of a table: one trie per address family.
#[derive(Debug, Clone, Default)]
struct Contents {
    v4: Trie<u32>,
    v6: Trie<K128>,
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
enum Ei {
    V4(u32),
    V6(u32),
}

impl Contents {
    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn find(&self, net: &IpNet) -> Option<Ei> {
        match pk(net) {
            Pk::V4(k, l) => self.v4.find(k, l).map(Ei::V4),
            Pk::V6(k, l) => self.v6.find(k, l).map(Ei::V6),
        }
    }

    /// Insert; Ok((index, added)).
    fn insert(&mut self, e: &TableEntry, tzero: u32) -> Result<(Ei, bool), TableError> {
        let flags = if e.neg { NEG } else { 0 };
        let full = |_| TableError::new(libc::ENOMEM, "Cannot allocate memory");
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

    fn remove(&mut self, net: &IpNet) -> bool {
        match pk(net) {
            Pk::V4(k, l) => self.v4.remove(k, l).is_some(),
            Pk::V6(k, l) => self.v6.remove(k, l).is_some(),
        }
    }

    /// Longest-prefix match.
    #[inline]
    fn lookup(&self, a: &IpAddr) -> Option<Ei> {
        match a {
            IpAddr::V4(a) => self.v4.lookup(key4(*a)).map(Ei::V4),
            IpAddr::V6(a) => self.v6.lookup(key6(*a)).map(Ei::V6),
        }
    }

    #[inline]
    fn neg(&self, i: Ei) -> bool {
        match i {
            Ei::V4(i) => self.v4.entry(i).neg(),
            Ei::V6(i) => self.v6.entry(i).neg(),
        }
    }

    fn entry(&self, i: Ei) -> (TableEntry, u32, u8) {
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

    fn set_flags(&mut self, i: Ei, f: impl Fn(u8) -> u8) {
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

    fn set_tzero(&mut self, i: Ei, t: u32) {
        match i {
            Ei::V4(i) => self.v4.entry_mut(i).tzero = t,
            Ei::V6(i) => self.v6.entry_mut(i).tzero = t,
        }
    }

    /// Every entry in pf's order (IPv4, then IPv6).
    fn iter(&self) -> impl Iterator<Item = Ei> + '_ {
        self.v4.iter().map(Ei::V4).chain(self.v6.iter().map(Ei::V6))
    }

    fn memory(&self) -> usize {
        self.v4.memory() + self.v6.memory()
    }
}

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

    fn clear_stats(&mut self, now: u32, entries_too: bool) {
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

    fn clear_entry_stats(&mut self, i: Ei, now: u32) {
        self.counters.remove(&i);
        self.data.set_tzero(i, now);
        self.data.set_flags(i, |f| f & !USER1);
    }

    fn info(&self) -> TableInfo {
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

    fn addr_info(&self, i: Ei, fback: u8) -> AddrInfo {
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
    data: Contents,
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

/// Validate a table name and anchor path as pf does (pfr_validate_table,
/// pfr_fix_anchor): returns the anchor without leading slashes.
pub fn check_name(anchor: &str, name: &str) -> Result<String, TableError> {
    if name.is_empty() || name.len() > crate::ruleset::TABLE_NAME_MAX || name.contains('\0') {
        return Err(TableError::new(libc::EINVAL, "Invalid argument"));
    }
    let a = anchor.trim_start_matches('/');
    if a.len() > ANCHOR_MAX || a.contains('\0') {
        return Err(TableError::new(libc::EINVAL, "Invalid argument"));
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
                libc::ENOMEM,
                format!(
                    "Cannot allocate memory: {tables} tables exceed the limit (set limit tables {})",
                    limits.tables
                ),
            ));
        }
        if entries > limits.entries as usize {
            return Err(TableError::new(
                libc::ENOMEM,
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

    // ------------------------------------------------------------ packets

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

    /// pfr_update_stats: a packet from/to `a` was passed, blocked or
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

    // ------------------------------------------------------------ pools

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
            return Err(TableError::new(libc::ENOMEM, "Cannot allocate memory"));
        }
        let (_, added) = t.data.insert(&e, now)?;
        if added {
            self.entries += 1;
        }
        Ok(added)
    }

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
                    return Err(TableError::new(libc::ENOMEM, "Cannot allocate memory"));
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
    fn active_id(&self, anchor: &str, name: &str) -> Result<TableId, TableError> {
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
            return Err(TableError::new(libc::ENOMEM, "Cannot allocate memory"));
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
            return Err(TableError::new(libc::ENOMEM, "Cannot allocate memory"));
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

//! Address tables (`table <name> ...`): what pf.conf defines and pfd will
//! look addresses up in.
//!
//! A definition is kept the way pfctl keeps it until it is loaded: flags,
//! then its initialisers in source order (`{ ... }` address lists and
//! `file "path"` contents), so that `pfctl -nv` can print it back exactly
//! and pfd can still get every address. Tables travel to pfd inside the
//! ruleset as `Directive::Table`; `Ruleset::tables` / `Ruleset::table`
//! find them there.
//!
//! pfctl's automatic tables (a rule's `nat-to { a b }` pool becoming
//! `<__automatic_N>`) use the same type: `TableDef::new(name, flags, entries)`.

use super::{Directive, Ruleset};
use crate::addr::IpNet;
use serde::{Deserialize, Serialize};

/// Longest table name (pf's `PF_TABLE_NAME_SIZE` - 1).
pub const TABLE_NAME_MAX: usize = 31;

/// `const`, `persist`, `counters` (pf's `PFR_TFLAG_*` a user may set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TableFlags {
    /// `const`: the contents cannot be changed after loading.
    pub constant: bool,
    /// `persist`: kept even when no rule refers to it.
    pub persist: bool,
    /// `counters`: per-address packet and byte counters.
    pub counters: bool,
}

/// One table element: an address or network, possibly negated (`!a`
/// excludes `a` from a wider network of the same table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TableEntry {
    pub neg: bool,
    pub net: IpNet,
}

impl TableEntry {
    pub fn new(neg: bool, net: IpNet) -> TableEntry {
        TableEntry { neg, net }
    }
}

impl From<(bool, IpNet)> for TableEntry {
    fn from((neg, net): (bool, IpNet)) -> TableEntry {
        TableEntry { neg, net }
    }
}

/// One initialiser of a table definition, in source order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableInit {
    /// `{ addr ... }` (consecutive lists print merged, as pfctl does).
    Addrs(Vec<TableEntry>),
    /// `file "path"` and the addresses read from it when pf.conf was parsed.
    File {
        path: String,
        addrs: Vec<TableEntry>,
    },
}

/// `table <name> [flags] [{ ... }] [file "..."] ...`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDef {
    pub name: String,
    pub flags: TableFlags,
    pub init: Vec<TableInit>,
    /// An initialiser was given (even `{ }`): loading replaces the
    /// table's contents instead of leaving them alone.
    pub init_addr: bool,
    /// The anchor it is defined in ("" for the main ruleset, `a/b` for a
    /// definition inside inline anchor `b` of anchor `a`, or in a file
    /// loaded there).
    #[serde(default)]
    pub anchor: String,
    /// A `weight` other than 1 was given to an address (pfd has no
    /// weighted round-robin: a pool of this table is refused).
    #[serde(default)]
    pub weighted: bool,
    /// Made by the ruleset optimizer for an inline anchor: `pfctl -nv`
    /// prints it inside the anchor's braces, where pfctl optimizes that
    /// anchor, instead of among the definitions.
    #[serde(default)]
    pub nested: bool,
}

impl TableDef {
    /// A table with one address list, as pfctl creates for a rule's
    /// address pool (`table <__automatic_0> const { a b }`).
    pub fn new(name: impl Into<String>, flags: TableFlags, entries: Vec<TableEntry>) -> TableDef {
        TableDef {
            name: name.into(),
            flags,
            init: vec![TableInit::Addrs(entries)],
            init_addr: true,
            anchor: String::new(),
            weighted: false,
            nested: false,
        }
    }

    /// Every address of the table, lists and files, in definition order.
    pub fn entries(&self) -> impl Iterator<Item = &TableEntry> {
        self.init.iter().flat_map(|i| match i {
            TableInit::Addrs(a) => a.iter(),
            TableInit::File { addrs, .. } => addrs.iter(),
        })
    }

    /// Number of addresses.
    pub fn len(&self) -> usize {
        self.init
            .iter()
            .map(|i| match i {
                TableInit::Addrs(a) => a.len(),
                TableInit::File { addrs, .. } => addrs.len(),
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Ruleset {
    /// Table definitions in source order (a name defined twice appears
    /// twice; the later definition is the one that counts, as pf's
    /// transaction replaces the first).
    pub fn tables(&self) -> impl Iterator<Item = &TableDef> {
        self.directives.iter().filter_map(|d| match d {
            Directive::Table(t) => Some(t),
            _ => None,
        })
    }

    /// Every table definition a load installs: this ruleset's (inline
    /// anchors' included, each with its anchor), then each `load anchor`
    /// file's, in order.
    pub fn loaded_tables(&self) -> Vec<&TableDef> {
        let mut v: Vec<&TableDef> = self.tables().collect();
        for l in &self.loads {
            v.extend(l.ruleset.tables());
        }
        v
    }

    /// The definition of table `name` that loading would install (the last).
    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables().filter(|t| t.name == name).last()
    }
}

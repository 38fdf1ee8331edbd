//! Rules' references to tables, resolved when a ruleset is loaded: each
//! rule of an anchor's ruleset gets the ids of the tables it names (`from
//! <t>`, `to <t>`, an address pool `<t>`, `overload <t>`), in that anchor,
//! so that no packet ever looks a table up by name.

use super::{TableId, Tables};
use crate::ruleset::{AddrKind, Pool, Rule};

/// The tables one rule names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleTables {
    pub src: Option<TableId>,
    pub dst: Option<TableId>,
    /// `nat-to <t>` (or the automatic table of a list), for pools.
    pub nat: Option<TableId>,
    /// `rdr-to <t>`.
    pub rdr: Option<TableId>,
    /// `route-to` / `reply-to` / `dup-to <t>`.
    pub route: Option<TableId>,
    /// `overload <t>`, for source tracking.
    pub overload: Option<TableId>,
}

impl RuleTables {
    fn ids(&self) -> impl Iterator<Item = TableId> {
        [
            self.src,
            self.dst,
            self.nat,
            self.rdr,
            self.route,
            self.overload,
        ]
        .into_iter()
        .flatten()
    }

    pub fn any(&self) -> bool {
        self.ids().next().is_some()
    }
}

fn pool_table(p: Option<&Pool>) -> Option<&str> {
    let p = p?;
    p.addrs
        .iter()
        .find_map(|a| match a {
            AddrKind::Table(t) => Some(t.as_str()),
            _ => None,
        })
        .or(p.auto_table.as_deref())
}

fn table_of(a: &AddrKind) -> Option<&str> {
    match a {
        AddrKind::Table(t) => Some(t),
        _ => None,
    }
}

/// The table names of a rule, in `RuleTables` field order.
pub fn rule_table_names(r: &Rule) -> [Option<&str>; 6] {
    [
        table_of(&r.from.addr),
        table_of(&r.to.addr),
        pool_table(r.nat_to.as_ref()),
        pool_table(r.rdr_to.as_ref()),
        pool_table(r.extras.route.as_ref().map(|(_, p)| p)),
        r.state_opts.overload.as_ref().map(|o| o.table.as_str()),
    ]
}

/// Attach every table the rules of one ruleset (that of anchor `path`)
/// name, creating what does not exist: the rules' table ids, in rule order.
pub fn attach_rules(rules: &[Rule], path: &str, tables: &mut Tables, now: u32) -> Vec<RuleTables> {
    rules
        .iter()
        .map(|r| {
            let n = rule_table_names(r);
            let mut at = |x: Option<&str>| x.map(|name| tables.attach(path, name, now));
            RuleTables {
                src: at(n[0]),
                dst: at(n[1]),
                nat: at(n[2]),
                rdr: at(n[3]),
                route: at(n[4]),
                overload: at(n[5]),
            }
        })
        .collect()
}

/// Drop the references `attach_rules` made (the ruleset is being replaced).
pub fn detach_rules(refs: Vec<RuleTables>, tables: &mut Tables) {
    for rt in refs {
        for id in rt.ids() {
            tables.detach(id);
        }
    }
}

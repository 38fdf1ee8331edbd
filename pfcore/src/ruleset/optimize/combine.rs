//! combine_rules: rules of a superblock that differ only in their source
//! address (or only in their destination address) become one rule on a
//! constant table of those addresses, once `TABLE_THRESHOLD` rules share
//! it; fewer stay as they are.

use super::fields::{comparable, key, Class};
use super::{OptRule, Tables};
use crate::ruleset::{AddrKind, Endpoint, TableDef, TableEntry, TableFlags};
use std::collections::HashMap;

/// pfctl's TABLE_THRESHOLD: the size at which a table becomes faster than
/// individual rules.
pub const TABLE_THRESHOLD: usize = 6;

/// A table being filled (pfctl's `pf_opt_tbl`).
#[derive(Debug, Clone)]
pub struct OptTable {
    name: String,
    entries: Vec<TableEntry>,
    generated: bool,
}

impl OptTable {
    fn count(&self) -> usize {
        self.entries.len()
    }
}

/// add_opt_table: `addr` into table `*tbl`, made first if need be.
fn add(t: &mut Tables, tbl: &mut Option<usize>, addr: &AddrKind) {
    let i = *tbl.get_or_insert_with(|| {
        t.list.push(OptTable {
            name: format!("__automatic_{}", t.next),
            entries: vec![],
            generated: false,
        });
        t.next += 1;
        t.list.len() - 1
    });
    if let AddrKind::Net(n) = addr {
        t.list[i].entries.push(TableEntry::new(false, *n));
    }
}

/// addrs_equal
fn same(a: &Endpoint, b: &Endpoint) -> bool {
    a.neg == b.neg && a.addr == b.addr
}

/// addrs_combineable: two plain addresses, same ports. pfctl also merges
/// negated ones, into `! <table>`, which matches less than the rules did
/// (`! a` or `! b` is everything, `! { a b }` is not): not here.
fn combineable(a: &Endpoint, b: &Endpoint) -> bool {
    matches!(a.addr, AddrKind::Net(_))
        && matches!(b.addr, AddrKind::Net(_))
        && !a.neg
        && !b.neg
        && a.port == b.port
}

/// combine_rules for one superblock.
pub fn combine(block: &mut Vec<OptRule>, t: &mut Tables) {
    // rules_combineable: equal but for their addresses; only those pairs
    // are looked at
    let keys: Vec<Vec<u8>> = block
        .iter()
        .map(|o| key(&comparable(&o.rule, Class::Combined)))
        .collect();
    let mut buckets: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        buckets.entry(k).or_default().push(i);
    }
    let mut gone = vec![false; block.len()];
    for i in 0..block.len() {
        if gone[i] {
            continue;
        }
        for &j in &buckets[keys[i].as_slice()] {
            if j <= i || gone[j] {
                continue;
            }
            let (p1, p2) = (&block[i], &block[j]);
            let src_eq = same(&p1.rule.from, &p2.rule.from);
            let dst_eq = same(&p1.rule.to, &p2.rule.to);
            let fresh = p2.src_tbl.is_none() && p2.dst_tbl.is_none();
            let dst = src_eq
                && !dst_eq
                && p1.src_tbl.is_none()
                && fresh
                && combineable(&p1.rule.to, &p2.rule.to);
            let src = !src_eq
                && dst_eq
                && p1.dst_tbl.is_none()
                && fresh
                && combineable(&p1.rule.from, &p2.rule.from);
            if !dst && !src {
                continue;
            }
            let mut tbl = if dst {
                block[i].dst_tbl
            } else {
                block[i].src_tbl
            };
            if tbl.is_none() {
                let own = if dst {
                    block[i].rule.to.addr.clone()
                } else {
                    block[i].rule.from.addr.clone()
                };
                add(t, &mut tbl, &own);
            }
            let theirs = if dst {
                block[j].rule.to.addr.clone()
            } else {
                block[j].rule.from.addr.clone()
            };
            add(t, &mut tbl, &theirs);
            if dst {
                block[i].dst_tbl = tbl;
            } else {
                block[i].src_tbl = tbl;
            }
            if tbl.is_some_and(|k| t.list[k].count() >= TABLE_THRESHOLD) {
                // part of the table now: the rule goes
                gone[j] = true;
            } else if dst {
                block[j].dst_tbl = tbl;
            } else {
                block[j].src_tbl = tbl;
            }
        }
    }
    let mut k = 0;
    block.retain(|_| {
        k += 1;
        !gone[k - 1]
    });
    finish(block, t);
}

/// The final pass: the first rule of each full table takes the table as
/// its address, the others it absorbed go.
fn finish(block: &mut Vec<OptRule>, t: &mut Tables) {
    let mut i = 0;
    while i < block.len() {
        let mut keep = true;
        for src in [true, false] {
            let tbl = if src {
                block[i].src_tbl
            } else {
                block[i].dst_tbl
            };
            let Some(k) = tbl.filter(|k| t.list[*k].count() >= TABLE_THRESHOLD) else {
                continue;
            };
            if t.list[k].generated {
                keep = false;
                break;
            }
            let table = &mut t.list[k];
            table.generated = true;
            t.made.push(TableDef::new(
                table.name.clone(),
                TableFlags {
                    constant: true,
                    ..TableFlags::default()
                },
                table.entries.clone(),
            ));
            let ep = if src {
                &mut block[i].rule.from
            } else {
                &mut block[i].rule.to
            };
            ep.addr = AddrKind::Table(table.name.clone());
        }
        if keep {
            i += 1;
        } else {
            block.remove(i);
        }
    }
}

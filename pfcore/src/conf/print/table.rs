//! A table definition as `pfctl -nv` prints it.

use crate::ruleset::{TableDef, TableInit};
use std::fmt::Write;

/// The `pfctl -nv` line of a definition (pfctl's `print_tabledef`):
/// flags, then the initialisers in order, consecutive address lists
/// merged into one `{ }`, files by name; `{ }` for an explicitly empty
/// table. No trailing newline.
pub fn print_tabledef(t: &TableDef) -> String {
    let mut s = String::new();
    let _ = write!(s, "table <{}>", t.name);
    if t.flags.constant {
        s.push_str(" const");
    }
    if t.flags.persist {
        s.push_str(" persist");
    }
    if t.flags.counters {
        s.push_str(" counters");
    }
    let mut i = 0;
    while i < t.init.len() {
        if let TableInit::File { path, .. } = &t.init[i] {
            let _ = write!(s, " file \"{path}\"");
            i += 1;
            continue;
        }
        s.push_str(" {");
        while let Some(TableInit::Addrs(list)) = t.init.get(i) {
            for e in list {
                s.push_str(if e.neg { " !" } else { " " });
                if e.net.prefix == 0 && e.net.addr.is_unspecified() {
                    s.push_str("any");
                } else {
                    let _ = write!(s, "{}", e.net);
                }
            }
            i += 1;
        }
        s.push_str(" }");
    }
    if t.init_addr && t.init.is_empty() {
        s.push_str(" { }");
    }
    s
}

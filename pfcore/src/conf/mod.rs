//! pf.conf: from text to a resolved `Ruleset`, and back to text.
//!
//! The pipeline, one step per module, each using only the steps before it
//! (`layout/tests/layout.rs` checks the order):
//!
//! 1. `source.rs`  — pfctl's lexical layer: statements, comments, `\`
//!    continuations, `$macro` substitution;
//! 2. `parser/`    — one statement → the typed tree of `ast.rs` (every AST
//!    type is there: rules, options, tables, queues, anchors);
//! 3. `expand/`    — AST → resolved rules, tables, queues and options
//!    (names looked up through the `Resolver`, lists multiplied, defaults
//!    and checks as pfctl applies them);
//! 4. `print/`     — rules, tables, queues and options back to `pfctl -sr`
//!    / `-nv` text.
//!
//! `read.rs` is the statement loop that drives steps 1 to 3 as pfctl's
//! parser does (error recovery, `include`, inline anchor bodies, which
//! `anchor.rs` cuts out); this file runs it over a file and then over the
//! `load anchor` files. Beside the steps: `tablefile.rs` reads table
//! files and `pfctl -T` address lists, `resolver.rs` is the name lookups,
//! `error.rs` the `file:line: message` diagnostics, `names.rs` the ICMP
//! and TCP-flag names.
//!
//! Everything here is pure except `include` and `load anchor`, which read
//! files through a loader (`parse` uses the file system), table files, and
//! the lookups behind `Resolver` (`sys::resolve::SystemResolver` asks the
//! system; `StaticResolver` answers from tables, for tests and for `pfctl
//! -n` on a foreign ruleset).

pub mod anchor;
pub mod ast;
pub mod error;
pub mod expand;
pub mod names;
pub mod parser;
pub mod print;
pub mod read;
pub mod resolver;
pub mod source;
pub mod tablefile;

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod tests;

pub use error::ConfError;
pub use expand::tables::command_addresses;
pub use print::{limiter_line, print_options, print_rule, print_ruleset_nv};
pub use resolver::{Resolver, StaticResolver, COMMON_SERVICES, OPENBSD_PROTOCOLS};

use crate::ruleset::optimize::{optimize, Level, Profile};
use crate::ruleset::{LoadedAnchor, Ruleset};
use std::collections::VecDeque;

/// At most this many `load anchor` files (a file loading itself would
/// never end otherwise; pf's own limit on anchors is 512).
const MAX_LOADS: usize = 512;

/// Parses pf.conf text. `filename` is used in messages (pfctl says `stdin`
/// for `-f -`). `include` reads files from the file system. On any error
/// nothing is returned but the complete list of diagnostics.
pub fn parse(
    source: &str,
    filename: &str,
    resolver: &dyn Resolver,
) -> Result<Ruleset, Vec<ConfError>> {
    parse_with_loader(source, filename, resolver, &|path: &str| {
        std::fs::read_to_string(path)
    })
}

/// `parse` with a custom loader for `include "file"` and `load anchor`.
pub fn parse_with_loader(
    source: &str,
    filename: &str,
    resolver: &dyn Resolver,
    loader: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<Ruleset, Vec<ConfError>> {
    let (rs, errors) = parse_partial(source, filename, resolver, loader);
    if errors.iter().all(|e| e.warning) {
        Ok(rs)
    } else {
        Err(errors)
    }
}

/// Parses as far as possible: the ruleset holds every statement that was
/// valid, the list every diagnostic. `pfctl -nv` prints both, the way
/// pfctl prints options and tables as it reads them; nothing with errors
/// is ever loaded. Warnings (`ConfError::warning`) are diagnostics too but
/// do not make the file fail.
pub fn parse_partial(
    source: &str,
    filename: &str,
    resolver: &dyn Resolver,
    loader: &dyn Fn(&str) -> std::io::Result<String>,
) -> (Ruleset, Vec<ConfError>) {
    let (mut rs, errors) = parse_partial_raw(source, filename, resolver, loader);
    finish(&mut rs, Level::None, None);
    (rs, errors)
}

/// `parse_partial` as far as pfctl goes before it optimizes and loads:
/// `$nr` in labels and tags is left for `finish`, which numbers the rules
/// once the optimizer has had them.
pub fn parse_partial_raw(
    source: &str,
    filename: &str,
    resolver: &dyn Resolver,
    loader: &dyn Fn(&str) -> std::io::Result<String>,
) -> (Ruleset, Vec<ConfError>) {
    let (mut rs, mut errors) = parse_file(source, filename, resolver, loader);
    if errors.iter().all(|e| e.warning) {
        // pfctl loads the `load anchor` files only once the main ruleset
        // is good (pfctl_load_anchors).
        load_anchors(&mut rs, &mut errors, filename, resolver, loader);
    }
    (rs, errors)
}

/// What pfctl does to a parsed ruleset as it loads it: the ruleset
/// optimizer at `level` (`profile` with the loaded ruleset's counters),
/// then `$nr` expanded to each rule's number in its ruleset.
pub fn finish(rs: &mut Ruleset, level: Level, profile: Option<&Profile>) {
    optimize(rs, level, profile);
    expand::labels::expand_rule_numbers(&mut rs.rules);
    for l in &mut rs.loads {
        expand::labels::expand_rule_numbers(&mut l.ruleset.rules);
    }
}

/// One file (the main one or a `load anchor` file): its ruleset, `load
/// anchor` statements not yet followed, and its diagnostics.
fn parse_file(
    source: &str,
    filename: &str,
    resolver: &dyn Resolver,
    loader: &dyn Fn(&str) -> std::io::Result<String>,
) -> (Ruleset, Vec<ConfError>) {
    let mut ex = expand::Expander::new(resolver);
    read::Reader::new(&mut ex, loader).run(source, filename, 0, 0);
    ex.finish_queues();
    (ex.ruleset, ex.errors)
}

/// pfctl_load_anchors: parses the `load anchor` files in order (loads
/// inside a loaded file come after those already queued, at paths below
/// that file's anchor), stops at the first that fails, then links the
/// loaded rules into the anchor rules that call them.
fn load_anchors(
    rs: &mut Ruleset,
    errors: &mut Vec<ConfError>,
    filename: &str,
    resolver: &dyn Resolver,
    loader: &dyn Fn(&str) -> std::io::Result<String>,
) {
    let mut queue: VecDeque<(LoadedAnchor, String)> = std::mem::take(&mut rs.loads)
        .into_iter()
        .map(|l| (l, filename.to_string()))
        .collect();
    let mut done = vec![];
    while let Some((mut la, origin)) = queue.pop_front() {
        if done.len() >= MAX_LOADS {
            errors.push(ConfError::new(
                &origin,
                la.src_line,
                format!("too many anchors, cannot load {}", la.path),
            ));
            return;
        }
        let text = match loader(&la.file) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("cannot load anchor {} from {}: {e}", la.path, la.file);
                errors.push(ConfError::new(&origin, la.src_line, msg));
                return;
            }
        };
        let (mut sub, errs) = parse_file(&text, &la.file, resolver, loader);
        let failed = errs.iter().any(|e| !e.warning);
        errors.extend(errs);
        if failed {
            return;
        }
        for mut l in std::mem::take(&mut sub.loads) {
            l.path = format!("{}/{}", la.path, l.path);
            queue.push_back((l, la.file.clone()));
        }
        // Tables defined in the file belong to the anchor it is loaded in.
        for d in &mut sub.directives {
            if let crate::ruleset::Directive::Table(t) = d {
                t.anchor = if t.anchor.is_empty() {
                    la.path.clone()
                } else {
                    format!("{}/{}", la.path, t.anchor)
                };
            }
        }
        la.ruleset = sub;
        done.push(la);
    }
    rs.loads = done;
}

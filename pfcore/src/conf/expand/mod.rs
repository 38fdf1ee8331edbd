//! Step 3 of the pipeline, AST → resolved ruleset: the `Expander` reads the
//! statements the parser built, one at a time, resolves names through the
//! `Resolver` (interfaces, hosts, services, users, groups, protocols),
//! applies pfctl's defaults (`keep state` and `flags S/SA` on pass rules,
//! `set block-policy` on bare `block`), multiplies lists in pfctl's order,
//! drops address-family-impossible combinations, and checks each resulting
//! rule the way pfctl's `rule_consistent` does. `set` statements update
//! `Options` and are recorded as `Directive`s.
//!
//! This file holds the expander's state and its diagnostics; each concept
//! has its own file:
//!
//! - `options.rs`  — `set ...`;
//! - `hosts.rs`    — addresses: interfaces, names, tables, ranges, `(if)`;
//! - `values.rs`   — ports, users and groups, protocols, ICMP types, and
//!   the other values of filter options;
//! - `rules.rs`    — a rule statement: its parts, the checks pfctl makes
//!   before it expands it, state and default flags, `antispoof`;
//! - `filteropts.rs` — a rule's filter options, each as it is read;
//! - `state.rs`    — `keep state ( ... )` options;
//! - `redirections.rs` — `nat-to`, `rdr-to`, `binat-to`, `af-to` and
//!   route pools: resolved, collapsed per rule, automatic tables;
//! - `multiply.rs` — one rule statement × its lists → rules;
//! - `consistent.rs` — pfctl's `rule_consistent`;
//! - `labels.rs`   — `$if`, `$srcaddr`, ..., `$nr` in labels and tags;
//! - `anchors.rs`  — anchor rules, inline anchor names, `load anchor`;
//! - `tables.rs`   — `table <name> ...` and `pfctl -T` address lists;
//! - `queues.rs`   — `queue ...`: values, then the trees after the file;
//! - `limiters.rs` — `state limiter ...`, `source limiter ...`, and the
//!   limiters rules name.

mod anchors;
mod consistent;
mod filteropts;
mod hosts;
pub(super) mod labels;
mod limiters;
mod multiply;
mod options;
mod queues;
mod redirections;
mod rules;
mod state;
pub(super) mod tables;
mod values;

use super::ast::StateOptAst;
use super::error::ConfError;
use super::resolver::Resolver;
use crate::ruleset::{Directive, QueueSpec, Ruleset};

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;

/// Marks an `on rdomain N` item among the interfaces of a rule.
const RDOMAIN: char = '\u{2}';

/// Maximum label / tag length pfctl accepts (the kernel's buffers are 64).
const NAME_MAX: usize = 63;

/// Interpreter state for one `parse` call.
pub struct Expander<'r> {
    pub(crate) resolver: &'r dyn Resolver,
    block_policy_return: bool,
    /// `set state-defaults`: applied to pass rules without `keep state`.
    state_defaults: Option<Vec<StateOptAst>>,
    /// `set syncookies adaptive (start, end)` watermarks once set.
    syncookie_wat: Option<(u32, u32)>,
    /// `set state-policy if-bound`: stateful rules read after it without a
    /// state locking option of their own are if-bound (pfctl's
    /// default_statelock).
    default_if_bound: bool,
    auto_tables: AutoTables,
    pub ruleset: Ruleset,
    pub errors: Vec<ConfError>,
    /// Queue definitions seen so far (`queues.rs`).
    queues: Queues,
    /// The inline anchors being read (`a`, `b` inside `anchor a { anchor b
    /// { ... } }`), for the anchor of table definitions.
    pub anchor_path: Vec<String>,
    /// pfctl's yacc `yyerrflag`: after an error, the number of tokens the
    /// parser must still shift before it reports a syntax error again.
    pub errflag: u32,
    /// pfctl has exited (errx): nothing more is read.
    pub fatal: bool,
    /// `rule_prefix` at work: stop after the checks of the rule's parts.
    prefix_only: bool,
    /// Inline anchor bodies opened so far (pfctl's `bn`): an anonymous one
    /// is named `_N` after it.
    pub braces: u32,
}

/// Automatic tables made so far (pfctl numbers them across the file;
/// `redirections.rs` makes them).
#[derive(Default)]
struct AutoTables {
    count: usize,
    made: Vec<Directive>,
}

/// The queues defined so far, as pfctl keeps them while parsing
/// (`queues.rs` fills and checks them).
#[derive(Debug, Clone, Default)]
struct Queues {
    /// pfctl's `rootqs`: queues without a parent, in source order.
    roots: Vec<QueueSpec>,
    /// pfctl's `qspecs`: queues with a parent, in source order.
    children: Vec<QueueSpec>,
    /// What pfctl printed on its standard output while refusing queues.
    stdout: Vec<String>,
}

/// Per-rule error context: the messages of one statement.
pub(super) type Res<T> = Result<T, Vec<String>>;

/// Marks a message pfctl prints bare on stderr (plain `fprintf`, as
/// `host()` does), without the `file:line:` of `yyerror`; `errors_from`
/// turns it into a `ConfError::bare`.
const BARE: char = '\u{1}';

/// Marks a warning (`file:line: warning: ...`) among the messages of a
/// statement: printed, but no error.
const WARN: char = '\u{3}';

fn warn_msg(m: impl std::fmt::Display) -> String {
    format!("{WARN}{m}")
}

fn is_warning(m: &str) -> bool {
    m.starts_with(WARN)
}

pub(super) fn bare(m: impl std::fmt::Display) -> String {
    format!("{BARE}{m}")
}

/// A message pfctl prints with warnx(3): `pfctl: message`, no location.
pub(super) fn global(m: impl std::fmt::Display) -> String {
    bare(format!("pfctl: {m}"))
}

/// The text of a message made by `bare`, None for a `yyerror` one.
pub(super) fn bare_text(m: &str) -> Option<&str> {
    m.strip_prefix(BARE)
}

fn err<T>(m: impl Into<String>) -> Res<T> {
    Err(vec![m.into()])
}

/// A NUMBER that must fit an unsigned 32-bit value (timeouts, limits,
/// state options): pfctl's `$n < 0 || $n > UINT_MAX` check. The lexer has
/// refused what does not fit a long long already.
fn parse_u32(s: &str) -> Res<u32> {
    match s.parse::<i64>() {
        Ok(v) if (0..=u32::MAX as i64).contains(&v) => Ok(v as u32),
        _ => err("only positive values permitted"),
    }
}

/// The text of a NUMBER token (`-`? digits), as the parser hands it on.
fn is_number(s: &str) -> bool {
    let d = s.strip_prefix('-').unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

impl<'r> Expander<'r> {
    pub fn new(resolver: &'r dyn Resolver) -> Expander<'r> {
        Expander {
            resolver,
            block_policy_return: false,
            state_defaults: None,
            syncookie_wat: None,
            default_if_bound: false,
            auto_tables: AutoTables::default(),
            ruleset: Ruleset::default(),
            errors: vec![],
            queues: Queues::default(),
            anchor_path: vec![],
            errflag: 0,
            fatal: false,
            prefix_only: false,
            braces: 0,
        }
    }

    fn error(&mut self, file: &str, line: u32, msg: impl Into<String>) {
        self.errors.push(ConfError::new(file, line, msg));
    }

    pub(super) fn errors_from(&mut self, file: &str, line: u32, msgs: Vec<String>) {
        for m in msgs {
            if let Some(w) = m.strip_prefix(WARN) {
                self.errors.push(ConfError::warning(file, line, w));
                continue;
            }
            match bare_text(&m) {
                Some(b) => self.errors.push(ConfError::bare(b)),
                None => self.error(file, line, m),
            }
        }
    }

    /// `name = value`: recorded for `pfctl -nv` (the substitution itself
    /// is the source step's).
    pub fn macro_def(&mut self, name: &str, value: &str) {
        self.ruleset.directives.push(Directive::Macro {
            name: name.to_string(),
            value: value.to_string(),
        });
    }
}

//! Ruleset requests: enable/disable (the packet hooks), transactions that
//! belong to the connection (a disconnect before commit changes nothing),
//! the running rules and options.

use super::{Peer, EBUSY, EEXIST, EINVAL, EIO, ENOENT};
use crate::daemon::Shared;
use crate::engine::rules::Loader;
use crate::engine::table::Shadow;
use crate::ioctl::{Reply, RuleInfo};
use crate::log;
use crate::ruleset::{Limit, Options, Rule, Ruleset};
use crate::sys::hooks;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_TICKET: AtomicU32 = AtomicU32::new(1);

/// The ruleset a connection is building.
pub(super) struct Transaction {
    ticket: u32,
    rules: Vec<Rule>,
    options: Options,
    checksum: String,
    /// Tables defined in the transaction (built here, swapped in at
    /// commit), see `tables.rs`.
    pub(super) tables: Vec<Shadow>,
    /// `pfctl -T load`: only tables; the rules and options stay.
    pub(super) tables_only: bool,
}

impl Transaction {
    pub(super) fn ticket(&self) -> u32 {
        self.ticket
    }

    /// The table-entries limit the transaction's options set (or the
    /// default), to bound what it may hold.
    pub(super) fn entries_limit(&self) -> u32 {
        self.options
            .limits
            .iter()
            .rev()
            .find(|(l, _)| *l == Limit::TableEntries)
            .map_or(Limit::TableEntries.default_value(), |(_, v)| *v)
    }
}

fn not_open() -> Reply {
    Reply::error(EBUSY, "ruleset transaction not open (ticket mismatch)")
}

/// DIOCSTART: install the hooks, enable the engine.
pub(super) fn start(shared: &Shared, now: u64) -> Reply {
    if shared.engine().enabled() {
        return Reply::error(EEXIST, "pf already enabled");
    }
    if let Err(e) = hooks::install(&shared.opts.hooks) {
        let _ = hooks::remove();
        return Reply::error(EIO, format!("cannot install packet hooks: {e}"));
    }
    crate::daemon::refresh_ifaddrs(shared);
    shared.engine().set_enabled(true, now);
    log::notice("pf enabled");
    Reply::Ok
}

/// DIOCSTOP: disable the engine, remove the hooks.
pub(super) fn stop(shared: &Shared, now: u64) -> Reply {
    // Hooks left by an earlier pfd count as enabled: -d lifts them.
    if !shared.engine().enabled() && !hooks::installed() {
        return Reply::error(ENOENT, "pf not enabled");
    }
    shared.engine().set_enabled(false, now);
    if let Err(e) = hooks::remove() {
        return Reply::error(EIO, format!("cannot remove packet hooks: {e}"));
    }
    log::notice("pf disabled");
    Reply::Ok
}

pub(super) fn begin(tx: &mut Option<Transaction>, tables_only: bool) -> Reply {
    let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
    *tx = Some(Transaction {
        ticket,
        rules: Vec::new(),
        options: Options::default(),
        checksum: "0".repeat(32),
        tables: Vec::new(),
        tables_only,
    });
    Reply::Ticket(ticket)
}

pub(super) fn add_rules(tx: &mut Option<Transaction>, ticket: u32, mut rules: Vec<Rule>) -> Reply {
    match tx {
        Some(t) if t.ticket == ticket => {
            t.rules.append(&mut rules);
            Reply::Ok
        }
        _ => not_open(),
    }
}

pub(super) fn set_options(
    tx: &mut Option<Transaction>,
    ticket: u32,
    options: Options,
    checksum: String,
) -> Reply {
    match tx {
        Some(t) if t.ticket == ticket => {
            t.options = options;
            t.checksum = checksum;
            Reply::Ok
        }
        _ => not_open(),
    }
}

/// DIOCXCOMMIT: swap the transaction's ruleset in, or change nothing.
pub(super) fn commit(
    shared: &Shared,
    peer: &Peer,
    tx: &mut Option<Transaction>,
    ticket: u32,
) -> Reply {
    let mut t = match tx.take() {
        Some(t) if t.ticket == ticket => t,
        other => {
            *tx = other;
            return not_open();
        }
    };
    crate::daemon::refresh_ifaddrs(shared);
    // Build the tables before they go in, outside the engine's lock.
    for s in &mut t.tables {
        if let Err(e) = s.finish() {
            return Reply::error(e.errno, e.message);
        }
    }
    if t.tables_only {
        let n = t.tables.len();
        let now = shared.now_ms();
        return match shared.engine().commit_tables(t.tables, now) {
            Ok(()) => {
                log::info(&format!(
                    "tables loaded: {n} tables (uid {} pid {})",
                    peer.uid, peer.pid
                ));
                Reply::Ok
            }
            Err(e) => Reply::error(e.errno, e.message),
        };
    }
    // A client other than pfctl may send what pfd cannot enforce: refuse
    // it here too, the running ruleset stays.
    let support = crate::ruleset::support::check_loaded(&t.rules, &t.options);
    if let Some(u) = support.refused.first() {
        return Reply::error(
            EINVAL,
            format!(
                "line {}: {}: not supported on Linux ({})",
                u.line, u.what, u.why
            ),
        );
    }
    if !shared.engine().tags_fit(&t.rules) {
        return Reply::error(
            EBUSY,
            format!(
                "too many tag names (at most {} in use at once)",
                crate::engine::tag::TAGID_MAX
            ),
        );
    }
    let n = t.rules.len();
    let nt = t.tables.len();
    let rs = Ruleset {
        options: t.options,
        rules: t.rules,
        ..Default::default()
    };
    let now = shared.now_ms();
    let loaded = shared.engine().commit(
        rs,
        t.tables,
        Loader {
            uid: peer.uid,
            pid: peer.pid,
        },
        t.checksum,
        now,
    );
    if let Err(e) = loaded {
        return Reply::error(e.errno, e.message);
    }
    log::info(&format!(
        "ruleset loaded: {n} rules, {nt} tables (uid {} pid {})",
        peer.uid, peer.pid
    ));
    Reply::Ok
}

pub(super) fn rollback(tx: &mut Option<Transaction>, ticket: u32) -> Reply {
    if tx.as_ref().is_some_and(|t| t.ticket == ticket) {
        *tx = None;
    }
    Reply::Ok
}

/// DIOCGETRULES: the running rules with their counters.
pub(super) fn get_rules(shared: &Shared) -> Reply {
    let e = shared.engine();
    let r = e.rules();
    Reply::Rules {
        rules: r
            .rules
            .iter()
            .zip(&r.counters)
            .zip(&r.depth)
            .enumerate()
            .map(|(i, ((rule, c), d))| RuleInfo {
                rule: rule.clone(),
                counters: *c,
                depth: *d,
                expired: r.run.expired(i),
            })
            .collect(),
        loader: r.loader,
    }
}

pub(super) fn flush_rules(shared: &Shared, peer: &Peer) -> Reply {
    shared.engine().flush_rules(Loader {
        uid: peer.uid,
        pid: peer.pid,
    });
    Reply::Ok
}

pub(super) fn get_timeouts(shared: &Shared) -> Reply {
    let t = shared.engine().timeouts();
    Reply::Timeouts(
        crate::ruleset::Timeout::ALL
            .iter()
            .map(|k| (*k, t[*k as usize]))
            .collect(),
    )
}

/// DIOCSETDEBUG: pf's debug level, until a ruleset with `set debug`.
pub(super) fn set_debug(shared: &Shared, level: u8) -> Reply {
    if level > 7 {
        return Reply::error(EINVAL, format!("bad debug level {level}"));
    }
    shared.engine().set_debug(level);
    Reply::Ok
}

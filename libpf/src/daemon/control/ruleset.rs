//! Ruleset requests: enable/disable (the packet hooks), transactions that
//! belong to the connection (a disconnect before commit changes nothing)
//! and replace the rulesets of the anchors they name, the running rules of
//! an anchor, the anchor tree, and options.

use super::Peer;
use crate::daemon::Shared;
use crate::engine::anchor::check_path;
use crate::engine::anchor::Loader;
use crate::engine::table::Shadow;
use crate::errno::{EBUSY, EEXIST, EINVAL, EIO, ENOENT};
use crate::ioctl::{Reply, RuleInfo};
use crate::log;
use crate::ruleset::{Limit, Options, Rule};
use crate::sys::hooks;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_TICKET: AtomicU32 = AtomicU32::new(1);

/// The rulesets a connection is building: one per anchor it names, in
/// the order first named (`""` is the main ruleset), the options when the
/// main ruleset comes with them, and the tables it defines.
pub(super) struct Transaction {
    ticket: u32,
    rulesets: Vec<(String, Vec<Rule>)>,
    options: Option<(Options, String)>,
    /// The table-entries limit in effect when the transaction began.
    entries_now: u32,
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
    /// default; without options the one in effect), to bound what it may
    /// hold.
    pub(super) fn entries_limit(&self) -> u32 {
        match &self.options {
            Some((o, _)) => o
                .limits
                .iter()
                .rev()
                .find(|(l, _)| *l == Limit::TableEntries)
                .map_or(Limit::TableEntries.default_value(), |(_, v)| *v),
            None => self.entries_now,
        }
    }
}

fn not_open() -> Reply {
    Reply::error(EBUSY, "ruleset transaction not open (ticket mismatch)")
}

/// DIOCSTART: install the hooks, enable the engine.
pub(super) fn start(shared: &Shared, now: u64) -> Reply {
    if shared.provisional.load(Ordering::Relaxed) && shared.engine().enabled() {
        // The boot ruleset runs with the hooks in: pf is on already.
        return Reply::Ok;
    }
    if shared.engine().enabled() {
        return Reply::error(EEXIST, "pf already enabled");
    }
    // The interface rules of the old chains go with them (see onepass).
    let installed = hooks::with_lock(|| {
        shared.out_codes.reset();
        hooks::install(&shared.opts.hooks)
    });
    if let Err(e) = installed {
        let _ = hooks::remove();
        return Reply::error(EIO, format!("cannot install packet hooks: {e}"));
    }
    let _ = crate::daemon::ifwatch::sync_links(shared);
    shared.engine().set_enabled(true, now);
    shared.sync_routes();
    log::notice("pf enabled");
    Reply::Ok
}

/// DIOCSTOP: disable the engine, remove the hooks.
pub(super) fn stop(shared: &Shared, now: u64) -> Reply {
    // Hooks left by an earlier pfd count as enabled: -d lifts them.
    if !shared.engine().enabled() && !hooks::installed() {
        return Reply::error(ENOENT, "pf not enabled");
    }
    {
        let mut e = shared.engine();
        e.set_enabled(false, now);
        if shared.provisional.swap(false, Ordering::Relaxed) {
            // The boot ruleset is no one's: disabled pf keeps no rules.
            let _ = e.flush_rules("", Loader::default());
        }
    }
    shared.sync_routes();
    shared.clear_routes();
    shared.localnet.restore();
    let removed = hooks::with_lock(|| {
        shared.out_codes.reset();
        hooks::remove()
    });
    if let Err(e) = removed {
        return Reply::error(EIO, format!("cannot remove packet hooks: {e}"));
    }
    log::notice("pf disabled");
    Reply::Ok
}

pub(super) fn begin(shared: &Shared, tx: &mut Option<Transaction>, tables_only: bool) -> Reply {
    let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
    *tx = Some(Transaction {
        ticket,
        rulesets: Vec::new(),
        options: None,
        entries_now: shared.engine().limit(Limit::TableEntries),
        tables: Vec::new(),
        tables_only,
    });
    Reply::Ticket(ticket)
}

pub(super) fn add_rules(
    tx: &mut Option<Transaction>,
    ticket: u32,
    anchor: String,
    mut rules: Vec<Rule>,
) -> Reply {
    match tx {
        Some(t) if t.ticket == ticket => {
            let anchor = anchor.trim_start_matches('/').to_string();
            if let Err(e) = check_path(&anchor) {
                return Reply::error(EINVAL, e);
            }
            match t.rulesets.iter_mut().find(|(p, _)| *p == anchor) {
                Some((_, r)) => r.append(&mut rules),
                None => t.rulesets.push((anchor, rules)),
            }
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
            t.options = Some((options, checksum));
            Reply::Ok
        }
        _ => not_open(),
    }
}

/// DIOCXCOMMIT: swap the transaction's rulesets, options and tables in,
/// or change nothing.
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
    let _ = crate::daemon::ifwatch::sync_links(shared);
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
    // it here too, the running rulesets stay.
    let none = Options::default();
    let options = t.options.as_ref().map_or(&none, |(o, _)| o);
    let mut support = crate::ruleset::support::check_loaded(&[], options);
    for (_, rules) in &t.rulesets {
        support
            .refused
            .extend(crate::ruleset::support::check_loaded(rules, &none).refused);
    }
    if let Some(u) = support.refused.first() {
        return Reply::error(
            EINVAL,
            format!(
                "line {}: {}: not supported on Linux ({})",
                u.line, u.what, u.why
            ),
        );
    }
    // divert-packet cannot send packets to the queues pf itself reads.
    let (q0, nq) = (shared.opts.hooks.queue, shared.opts.hooks.queues.max(1));
    for (_, rules) in &t.rulesets {
        if let Some(r) =
            crate::ruleset::support::divert_queue_clash(rules, q0 as u32..q0 as u32 + nq as u32)
        {
            return Reply::error(
                EINVAL,
                format!(
                    "line {}: divert-packet port {}: NFQUEUE {} is pfd's own (pfd -q)",
                    r.0, r.1, r.1
                ),
            );
        }
    }
    if !shared
        .engine()
        .tags_fit(t.rulesets.iter().map(|(_, r)| &r[..]))
    {
        return Reply::error(
            EBUSY,
            format!(
                "too many tag names (at most {} in use at once)",
                crate::engine::tag::TAGID_MAX
            ),
        );
    }
    let n: usize = t.rulesets.iter().map(|(_, r)| r.len()).sum();
    let nt = t.tables.len();
    let anchors: Vec<String> = t.rulesets.iter().map(|(p, _)| format!("/{p}")).collect();
    let loader = Loader {
        uid: peer.uid,
        pid: peer.pid,
    };
    let now = shared.now_ms();
    let main = t.options.is_some() || t.rulesets.iter().any(|(p, _)| p.is_empty());
    let loaded = {
        let mut e = shared.engine();
        let r = e.commit(t.rulesets, t.options, t.tables, loader, now);
        if r.is_ok() && main {
            // The first ruleset: the boot ruleset is gone.
            shared.provisional.store(false, Ordering::Relaxed);
        }
        r
    };
    if let Err(e) = loaded {
        return Reply::error(e.errno, e.message);
    }
    shared.sync_routes();
    log::info(&format!(
        "ruleset loaded: {n} rules in {}, {nt} tables (uid {} pid {})",
        anchors.join(" "),
        peer.uid,
        peer.pid
    ));
    Reply::Ok
}

pub(super) fn rollback(tx: &mut Option<Transaction>, ticket: u32) -> Reply {
    if tx.as_ref().is_some_and(|t| t.ticket == ticket) {
        *tx = None;
    }
    Reply::Ok
}

/// DIOCGETRULES: the running rules of an anchor with their counters.
pub(super) fn get_rules(shared: &Shared, anchor: &str) -> Reply {
    let e = shared.engine();
    let Some(a) = e.rules().find(anchor.trim_start_matches('/')) else {
        return no_anchor();
    };
    Reply::Rules {
        rules: a
            .rules
            .rules
            .iter()
            .zip(&a.rules.counters)
            .enumerate()
            .map(|(i, (rule, c))| RuleInfo {
                rule: rule.clone(),
                counters: *c,
                expired: a.rules.run.expired(i),
                skip: a
                    .rules
                    .skip
                    .get(i)
                    .copied()
                    .unwrap_or([crate::ruleset::skip::SKIP_END; crate::ruleset::skip::SKIP_COUNT]),
            })
            .collect(),
        loader: a.rules.loader,
    }
}

/// DIOCGETRULESETS: the children of an anchor.
pub(super) fn get_rulesets(shared: &Shared, anchor: &str) -> Reply {
    match shared
        .engine()
        .rules()
        .children(anchor.trim_start_matches('/'))
    {
        Some(names) => Reply::Rulesets(names),
        None => no_anchor(),
    }
}

/// pfctl says "Anchor does not exist" for ENOENT.
fn no_anchor() -> Reply {
    Reply::error(ENOENT, "Anchor does not exist")
}

/// `pfctl [-a anchor] -F rules`: an empty ruleset for that anchor.
pub(super) fn flush_rules(shared: &Shared, peer: &Peer, anchor: &str) -> Reply {
    let anchor = anchor.trim_start_matches('/');
    if let Err(e) = check_path(anchor) {
        return Reply::error(EINVAL, e);
    }
    let loader = Loader {
        uid: peer.uid,
        pid: peer.pid,
    };
    let r = match shared.engine().flush_rules(anchor, loader) {
        Ok(()) => Reply::Ok,
        Err(e) => Reply::error(e.errno, e.message),
    };
    shared.sync_routes();
    r
}

/// DIOCCLRRULECTRS for one anchor.
pub(super) fn clear_counters(shared: &Shared, anchor: &str) -> Reply {
    if shared
        .engine()
        .clear_rule_counters(anchor.trim_start_matches('/'))
    {
        Reply::Ok
    } else {
        no_anchor()
    }
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

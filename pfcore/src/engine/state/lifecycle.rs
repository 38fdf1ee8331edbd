//! A state's life after its creation (`create`): expired by its timeout
//! (adaptive timeouts included), removed by a flush, a kill, its source
//! going over its limits or the end of its connection; the half-open
//! count.

use super::{tcps, Slot, State, SK_WIRE};
use crate::addr::IpNet;
use crate::engine::packet::Dir;
use crate::engine::srcnode::{
    LCNT_OVERLOAD_FLUSH, LCNT_OVERLOAD_TABLE, LCNT_SRCCONN, LCNT_SRCCONNRATE,
};
use crate::engine::Engine;
use crate::ruleset::Timeout;
use crate::wire::{IPPROTO_PFSYNC, IPPROTO_TCP};

impl Engine {
    /// Remove a state; `announce` queues a pfsync delete for it.
    pub fn remove_state(&mut self, slot: Slot, now: u64, announce: bool) -> Option<State> {
        let st = self.states.remove(slot)?;
        self.status.removals += 1;
        self.tags.unref(st.tag);
        if self.is_halfopen(&st) {
            self.halfopen = self.halfopen.saturating_sub(1);
        }
        self.synproxy_abort(&st);
        let cold = st.cold();
        self.src_tree_remove_state(&cold.sn, st.rule, now);
        self.rules.limiters.release(&cold.lim);
        for r in [st.rule, cold.anchor].into_iter().flatten() {
            if let Some(c) = self.rules.counters_mut(r) {
                c.states_cur = c.states_cur.saturating_sub(1);
            }
        }
        for i in 0..self.matchlists.get(st.match_rules).len() {
            let m = self.matchlists.get(st.match_rules)[i];
            if let Some(c) = self.rules.counters_mut(m) {
                c.states_cur = c.states_cur.saturating_sub(1);
            }
        }
        self.matchlists.release(st.match_rules);
        for lb in cold.sn.lb.iter().flatten() {
            self.lb_give(lb);
        }
        if announce && !st.no_sync() && st.key[0].proto != IPPROTO_PFSYNC {
            self.sync.delete((st.id, st.creatorid), now);
        }
        Some(st)
    }

    /// pf_src_connlimit: the TCP connection of state `slot` completed its
    /// handshake. It counts in its source's node; if that puts the source
    /// over its rule's `max-src-conn` or `max-src-conn-rate`, the source
    /// goes into the `overload` table, its states are flushed as the rule
    /// says, and this state is killed. True: the state is gone (the packet
    /// is dropped, `src-limit`).
    pub(in crate::engine) fn src_connlimit(&mut self, slot: Slot, now: u64) -> bool {
        let Some(st) = self.states.get_mut(slot) else {
            return false;
        };
        if st.cold().sn.nodes == Default::default() {
            return false;
        }
        let Some(over) = self.srcnodes.conn_established(&mut st.cold_mut().sn, now) else {
            return false;
        };
        let (dir, st_rule) = (st.direction, st.rule);
        if over.conn {
            self.status.limit_counters[LCNT_SRCCONN] += 1;
        }
        if over.rate {
            self.status.limit_counters[LCNT_SRCCONNRATE] += 1;
        }
        let (src, lim) = (over.src, over.limits);
        if let Some((anchor, table)) = &lim.overload {
            self.status.limit_counters[LCNT_OVERLOAD_TABLE] += 1;
            // A table that is not there (or full) leaves the source out,
            // as pfr_insert_kentry does; the flush still happens.
            let _ = self.table_insert(anchor, table, IpNet::host(src), now);
            if lim.flush {
                self.status.limit_counters[LCNT_OVERLOAD_FLUSH] += 1;
                let idx = if dir == Dir::Out { 1 } else { 0 };
                let global = lim.flush_global;
                self.kill_states(now, true, |s| {
                    let k = &s.key[SK_WIRE];
                    k.addr[idx] == src && (global || s.rule == st_rule)
                });
            }
        }
        self.remove_state(slot, now, true);
        true
    }

    /// The timeout (seconds) governing a state now, adaptive scaling
    /// applied (pf_state_expires): the rule's own timeout if it sets one
    /// (0 counts as unset), else the global one; scaled by the rule's
    /// `adaptive.start`/`adaptive.end` and its own state count when the
    /// rule sets `adaptive.start` (or `max`, which derives them), else by
    /// the global thresholds and the whole table's count.
    pub fn state_timeout_secs(&self, st: &State) -> u64 {
        let rule = st
            .rule
            .and_then(|r| self.rules.rule(r).map(|rule| (r, rule)));
        let own = |t: Timeout| {
            rule.and_then(|(_, r)| r.state_opts.timeouts.iter().find(|(k, _)| *k == t))
                .map(|(_, v)| *v as u64)
                .filter(|&v| v != 0)
        };
        let t = own(st.timeout).unwrap_or(self.timeouts[st.timeout as usize] as u64);
        let (start, end, states) = match own(Timeout::AdaptiveStart) {
            Some(start) => (
                start,
                own(Timeout::AdaptiveEnd).unwrap_or(0),
                rule.and_then(|(r, _)| self.rules.counters(r))
                    .map_or(0, |c| c.states_cur as u64),
            ),
            None => (
                self.timeouts[Timeout::AdaptiveStart as usize] as u64,
                self.timeouts[Timeout::AdaptiveEnd as usize] as u64,
                self.states.len() as u64,
            ),
        };
        adaptive_scale(t, start, end, states)
    }

    /// When (ms) a state expires.
    pub fn expires_at(&self, st: &State) -> u64 {
        st.expire + self.state_timeout_secs(st) * 1000
    }

    /// Drop expired fragments, expired states (pf_purge_expired_states),
    /// then the source nodes whose time is up. Returns how many states went.
    /// The whole table under one hold: pfd's maintenance goes through a
    /// share of it a second, in pieces (`purge_run_begin`).
    pub fn purge(&mut self, now: u64) -> usize {
        self.purge_fragments(now);
        let (mut n, mut from) = (0, Some(0));
        while let Some(f) = from {
            let (k, next) = self.purge_states_in(f, usize::MAX, usize::MAX, now);
            n += k;
            from = next;
        }
        self.purge_src_nodes(now);
        n
    }

    /// Expire the states in slots `from..from + n`, at most `max_gone` of
    /// them: how many went, and the slot to go on from (None: the end of
    /// the table). A million states checked in one piece held the engine
    /// for tens of milliseconds, every second; 4096 expired states at once
    /// (a burst of flows timing out together) still held it for 2 ms.
    pub fn purge_states_in(
        &mut self,
        from: usize,
        n: usize,
        max_gone: usize,
        now: u64,
    ) -> (usize, Option<usize>) {
        let (range, next) = self.states.slot_range(from, n);
        let mut gone = 0;
        for s in range {
            if gone >= max_gone {
                return (gone, Some(s as usize));
            }
            // Slots stay where they are when a state leaves.
            if self
                .states
                .get(s)
                .is_some_and(|st| self.expires_at(st) <= now)
            {
                self.remove_state(s, now, true);
                gone += 1;
            }
        }
        (gone, next)
    }

    /// Begin a run of the incremental expiry (pf_purge_states_tick, once
    /// a second): its share of the table is `purge_share` slots from
    /// where the last run stopped.
    pub fn purge_run_begin(&self, c: &mut PurgeCursor) {
        let interval = self.timeouts[Timeout::Interval as usize];
        c.left = purge_share(self.states.slot_count(), interval);
    }

    /// The next piece of the run `c` (pf_purge_expired_states): at most
    /// `max_slots` slots from the cursor on, wrapping at the end of the
    /// table, and at most `max_gone` removals. How many states went.
    pub fn purge_run_piece(
        &mut self,
        c: &mut PurgeCursor,
        max_slots: usize,
        max_gone: usize,
        now: u64,
    ) -> usize {
        let len = self.states.slot_count();
        if len == 0 || c.left == 0 {
            c.left = 0;
            return 0;
        }
        if c.at >= len {
            c.at = 0;
        }
        let n = c.left.min(max_slots.max(1));
        let (gone, next) = self.purge_states_in(c.at, n, max_gone.max(1), now);
        let stop = next.unwrap_or(len);
        c.left -= (stop - c.at).min(c.left);
        c.at = next.unwrap_or(0);
        gone
    }

    /// What `purge` does besides the states (fragments, source nodes).
    pub fn purge_others(&mut self, now: u64) {
        self.purge_fragments(now);
        self.purge_src_nodes(now);
    }

    /// `pfctl -F states` (or `-k`): remove the states `pred` selects.
    pub fn kill_states(
        &mut self,
        now: u64,
        announce: bool,
        pred: impl Fn(&State) -> bool,
    ) -> usize {
        let slots: Vec<Slot> = self
            .states
            .all_slots()
            .filter(|&s| self.states.get(s).is_some_and(&pred))
            .collect();
        let n = slots.len();
        for s in slots {
            self.remove_state(s, now, announce);
        }
        n
    }

    /// After a whole bulk update from the peer `creatorid` that began at
    /// `since`: its states here that no packet and no update touched from
    /// then on are gone on the peer (their deletes were missed: our
    /// pfsyncd was not listening). Removed without a pfsync delete; the
    /// number removed. A state created elsewhere is left alone, so is one
    /// a packet passed since (a connection that failed over to us).
    pub fn purge_peer_stale(&mut self, creatorid: u32, since: u64, now: u64) -> usize {
        if creatorid == self.hostid {
            return 0;
        }
        // `expire` is the last packet (an imported state's is its age on
        // the peer, so before the bulk); `peer_updated` the last message.
        self.kill_states(now, false, |s| {
            s.creatorid == creatorid
                && s.expire < since
                && s.sync.peer_updated().is_none_or(|t| t < since)
        })
    }

    /// A half-open TCP state as pf_status.states_halfopen counts them: made
    /// here, its initiator not yet established (synproxy states count as
    /// established: pf answered the client).
    pub(in crate::engine) fn is_halfopen(&self, st: &State) -> bool {
        st.key[0].proto == IPPROTO_TCP
            && st.creatorid == self.hostid
            && st.src.state < tcps::ESTABLISHED
            && st.src.state != tcps::CLOSED
    }

    /// Whether the state in `slot` counts as half-open now (call before
    /// changing it, then `halfopen_update`).
    pub(in crate::engine) fn halfopen_of(&self, slot: Slot) -> bool {
        self.states.get(slot).is_some_and(|st| self.is_halfopen(st))
    }

    /// Account for a change of the state in `slot` that counted as
    /// half-open (`was`) before.
    pub(in crate::engine) fn halfopen_update(&mut self, slot: Slot, was: bool) {
        let now = self.halfopen_of(slot);
        if was && !now {
            self.halfopen = self.halfopen.saturating_sub(1);
        } else if now && !was {
            self.halfopen += 1;
        }
    }

    /// Count the half-open states from scratch (the host id changed).
    pub(in crate::engine) fn halfopen_recount(&mut self) {
        self.halfopen = self
            .states
            .all_slots()
            .filter(|&s| self.halfopen_of(s))
            .count() as u64;
    }
}

/// Fewest slots a run of the incremental expiry checks: a table of up to
/// this many slots is checked whole every second (one hold of the engine,
/// about 50 us), as before the expiry went in slices.
pub const PURGE_RUN_MIN: usize = 4096;

/// Where the incremental expiry is in the table (pf_purge_expired_states's
/// `cur`) and what is left of the current run's share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeCursor {
    at: usize,
    left: usize,
}

impl PurgeCursor {
    /// Is the current run still going (more pieces to do)?
    pub fn running(&self) -> bool {
        self.left > 0
    }

    /// The slot the next piece starts at.
    pub fn at(&self) -> usize {
        self.at
    }
}

/// The slots a run of the expiry checks (one run a second), so that each
/// of `slots` is checked within `interval` seconds (`set timeout
/// interval`; pf_purge_states_tick takes states / interval): the
/// interval's share rounded up, at least `PURGE_RUN_MIN`, at most the
/// whole table.
pub fn purge_share(slots: usize, interval: u32) -> usize {
    let interval = interval.max(1) as usize;
    slots.div_ceil(interval).max(PURGE_RUN_MIN).min(slots)
}

/// A timeout of `t` seconds scaled for `states` states between the
/// thresholds `start` and `end` (pf_state_expires): unchanged up to
/// `start`, shrinking linearly to 0 at `end`, 0 from there on. No scaling
/// when `end` is 0 or not above `start`.
pub fn adaptive_scale(t: u64, start: u64, end: u64, states: u64) -> u64 {
    if end == 0 || states <= start || start >= end {
        t
    } else if states >= end {
        0
    } else {
        t * (end - states) / (end - start)
    }
}

//! A state's life: created by a passing rule (pf_create_state), expired
//! by its timeout (adaptive timeouts included), removed by a flush, a kill
//! or the end of its connection.

use super::{tcps, udps, Peer, Slot, State, StateKey, SyncMeta};
use crate::engine::limiter::RuleLimiters;
use crate::engine::normalize::{Actions, PFSTATE_ALLOWOPTS, PFSTATE_SLOPPY};
use crate::engine::packet::{Dir, Pd};
use crate::engine::ruleref::RuleRef;
use crate::engine::srcnode::{SnType, StateLinks};
use crate::engine::status::Reason;
use crate::engine::{tcp, Decision, Engine, PacketMeta, PFSTATE_NOSYNC};
use crate::ruleset::{KeepState, Limit, Timeout};
use crate::wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_PFSYNC, IPPROTO_TCP, IPPROTO_UDP};

impl Engine {
    /// pf_create_state. Returns the new state's slot and the modulation
    /// offset applied to the packet's sequence number (0 without `modulate
    /// state`). `actions` are the normalisation actions of the matching
    /// rules, kept for every later packet of the state.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::engine) fn create_state(
        &mut self,
        meta: &PacketMeta,
        r: &Decision,
        (ri, anchor): (RuleRef, Option<RuleRef>),
        matches: &[RuleRef],
        orig: &Pd,
        translated: &Pd,
        actions: &Actions,
        len: u64,
        now: u64,
    ) -> Result<(Slot, u32), Reason> {
        // Source tracking first (pf_test_rule), then the state limits; on
        // failure the connection's source nodes are let go.
        let mut sns = r.sns;
        let tracked = self
            .rules
            .rule(ri)
            .is_some_and(|x| x.state_opts.source_track.is_some());
        if tracked {
            let kind = SnType::None;
            if self
                .insert_src_node(&mut sns.0[0], ri, kind, orig.src, None, now)
                .is_err()
            {
                return Err(self.src_limit_drop(&sns, now));
            }
        }
        if self.states.len() as u64 >= self.limit(Limit::States) as u64 {
            self.release_sns(&sns, now);
            return Err(Reason::Memory);
        }
        if r.max_states != 0 {
            if let Some(c) = self.rules.counters(ri) {
                if c.states_cur >= r.max_states {
                    self.status.limit_counters[0] += 1;
                    self.release_sns(&sns, now);
                    return Err(Reason::StateLimit);
                }
            }
        }
        let dir = meta.dir;
        let pre = StateKey::from_pd(orig, dir);
        let mut post = StateKey::from_pd(translated, dir);
        if orig.af != translated.af {
            // af-to: the other family's key is the one its replies, coming
            // in, will carry (pf_state_key_setup swaps sidx and didx).
            post.addr.swap(0, 1);
            post.port.swap(0, 1);
        }
        let (wire, stack) = match dir {
            Dir::In => (pre, post),
            Dir::Out => (post, pre),
        };
        let mut seqdiff = 0;
        let (src, dst, timeout) = match (orig.proto, orig.tcp) {
            (IPPROTO_TCP, Some(t)) => {
                if r.keep_state == KeepState::Modulate
                    && t.flags & (crate::wire::tcp::SYN | crate::wire::tcp::ACK)
                        == crate::wire::tcp::SYN
                {
                    loop {
                        seqdiff = self.random().wrapping_sub(t.seq);
                        if seqdiff != 0 {
                            break;
                        }
                    }
                }
                let (s, d) = tcp::create_peers(&t, orig.p_len, seqdiff);
                (s, d, Timeout::TcpFirst)
            }
            (IPPROTO_ICMP, _) | (IPPROTO_ICMPV6, _) => {
                (Peer::default(), Peer::default(), Timeout::IcmpFirst)
            }
            // UDP and other protocols: the same pseudo-state machine
            (proto, _) => (
                Peer {
                    state: udps::SINGLE,
                    ..Peer::default()
                },
                Peer {
                    state: udps::NO_TRAFFIC,
                    ..Peer::default()
                },
                if proto == IPPROTO_UDP {
                    Timeout::UdpFirst
                } else {
                    Timeout::OtherFirst
                },
            ),
        };
        let id = self.next_id;
        self.next_id += 1;
        // pfsync_insert_state: the sync protocol's own states stay local.
        let no_sync = r.no_sync || orig.proto == crate::wire::IPPROTO_PFSYNC;
        let st = State {
            id,
            creatorid: self.hostid,
            key: [wire, stack],
            direction: dir,
            ifname: r.if_bound.then(|| meta.ifname.to_string()),
            rule: Some(ri),
            anchor,
            src,
            dst,
            timeout,
            creation: now,
            expire: now,
            packets: [1, 0],
            bytes: [len, 0],
            log: r.log,
            state_flags: (if no_sync { PFSTATE_NOSYNC } else { 0 })
                | (if r.allow_opts { PFSTATE_ALLOWOPTS } else { 0 })
                | (if r.sloppy { PFSTATE_SLOPPY } else { 0 })
                | actions.flags,
            norm: *actions,
            scrub: None,
            tag: r.tag,
            label: self.rules.run(ri).and_then(|x| x.label.clone()),
            sync: SyncMeta {
                peer_updated: None,
                no_sync,
            },
            seq: 0,
            route: r.route,
            sn: StateLinks {
                lb: r.lb,
                ..StateLinks::default()
            },
            match_rules: 0,
            lim: Default::default(),
        };
        let halfopen = self.is_halfopen(&st);
        let Ok(slot) = self.states.insert(st) else {
            self.release_sns(&sns, now);
            return Err(Reason::StateInsert);
        };
        let nodes = self.attach_sns(&sns);
        // Its places in the limiters the rule names (checked when the
        // rule matched).
        let lims = self
            .rules
            .rule(ri)
            .map(RuleLimiters::of)
            .unwrap_or_default();
        let lim = if lims.any() {
            self.rules.limiters.acquire(lims, orig.src, now)
        } else {
            Default::default()
        };
        if let Some(st) = self.states.get_mut(slot) {
            st.sn.nodes = nodes;
            st.lim = lim;
        }
        for lb in r.lb.iter().flatten() {
            self.lb_take(lb);
        }
        // The first packet counts for the nodes (pf_counters_inc), unless
        // synproxy answers it and drops it.
        let proxied = r.keep_state == KeepState::Synproxy
            && dir == Dir::In
            && orig.tcp.is_some_and(|t| {
                t.flags & (crate::wire::tcp::SYN | crate::wire::tcp::ACK) == crate::wire::tcp::SYN
            });
        if !proxied {
            self.src_nodes_count(&nodes, 0, len);
        }
        if halfopen {
            self.halfopen += 1;
        }
        self.status.inserts += 1;
        self.tags.add_ref(r.tag);
        // The anchor rule the deciding rule was reached through counts the
        // state too.
        for r in [Some(ri), anchor].into_iter().flatten() {
            if let Some(c) = self.rules.counters_mut(r) {
                c.states_cur += 1;
                c.states_tot += 1;
            }
        }
        // The match rules count it among their states (STATE_INC_COUNTERS).
        let list = self.matchlists.intern(matches);
        if let Some(st) = self.states.get_mut(slot) {
            st.match_rules = list;
        }
        for &m in matches {
            if let Some(c) = self.rules.counters_mut(m) {
                c.states_cur += 1;
            }
        }
        if !no_sync && orig.proto != IPPROTO_PFSYNC {
            self.sync.insert((id, self.hostid), now);
        }
        Ok((slot, seqdiff))
    }

    /// Remove a state; `announce` queues a pfsync delete for it.
    pub fn remove_state(&mut self, slot: Slot, now: u64, announce: bool) -> Option<State> {
        let st = self.states.remove(slot)?;
        self.status.removals += 1;
        self.tags.unref(st.tag);
        if self.is_halfopen(&st) {
            self.halfopen = self.halfopen.saturating_sub(1);
        }
        self.synproxy_abort(&st);
        self.src_tree_remove_state(&st, now);
        self.rules.limiters.release(&st.lim);
        for r in [st.rule, st.anchor].into_iter().flatten() {
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
        for lb in st.sn.lb.iter().flatten() {
            self.lb_give(lb);
        }
        if announce && !st.sync.no_sync && st.key[0].proto != IPPROTO_PFSYNC {
            self.sync.delete((st.id, st.creatorid), now);
        }
        Some(st)
    }

    /// The timeout (seconds) governing a state now, adaptive scaling applied.
    pub fn state_timeout_secs(&self, st: &State) -> u64 {
        let mut t = self.timeouts[st.timeout as usize] as u64;
        if let Some(r) = st.rule.and_then(|r| self.rules.rule(r)) {
            if let Some((_, v)) = r.state_opts.timeouts.iter().find(|(k, _)| *k == st.timeout) {
                t = *v as u64;
            }
        }
        let start = self.timeouts[Timeout::AdaptiveStart as usize] as u64;
        let end = self.timeouts[Timeout::AdaptiveEnd as usize] as u64;
        let n = self.states.len() as u64;
        if end > start && start > 0 && n > start {
            if n >= end {
                return 0;
            }
            t = t * (end - n) / (end - start);
        }
        t
    }

    /// When (ms) a state expires.
    pub fn expires_at(&self, st: &State) -> u64 {
        st.expire + self.state_timeout_secs(st) * 1000
    }

    /// Drop expired fragments, expired states (pf_purge_expired_states),
    /// then the source nodes whose time is up. Returns how many states went.
    pub fn purge(&mut self, now: u64) -> usize {
        self.purge_fragments(now);
        let expired: Vec<Slot> = self
            .states
            .all_slots()
            .filter(|&s| {
                self.states
                    .get(s)
                    .is_some_and(|st| self.expires_at(st) <= now)
            })
            .collect();
        let n = expired.len();
        for s in expired {
            self.remove_state(s, now, true);
        }
        self.purge_src_nodes(now);
        n
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

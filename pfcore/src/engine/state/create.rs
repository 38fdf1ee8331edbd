//! A passing rule's new state (pf_create_state): source tracking and the
//! state limits first, then the state's keys (wire side and stack side,
//! translated), its two ends, and its places in the source nodes, pools,
//! limiters and counters of the rules that made it.

use super::{udps, Peer, Slot, State, StateCold, StateKey, StateKeys, SyncMeta, PFSTATE_NOSYNC};
use crate::engine::decision::Decision;
use crate::engine::limiter::{LimiterLinks, RuleLimiters};
use crate::engine::normalize::{self, PFSTATE_ALLOWOPTS, PFSTATE_SLOPPY};
use crate::engine::packet::{Dir, Pd};
use crate::engine::ruleref::RuleRef;
use crate::engine::srcnode::{SnType, Sns, StateLinks};
use crate::engine::status::Reason;
use crate::engine::tcp::{self, bare_syn};
use crate::engine::verdict::PacketMeta;
use crate::engine::Engine;
use crate::ruleset::{KeepState, Limit, Timeout};
use crate::wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_PFSYNC, IPPROTO_TCP, IPPROTO_UDP};

/// The keys of a new state seen in `dir`: (wire side, stack side). The
/// packet's own key is on its side; the translated one on the other.
fn state_keys(dir: Dir, orig: &Pd, translated: &Pd) -> (StateKey, StateKey) {
    let pre = StateKey::from_pd(orig, dir);
    let mut post = StateKey::from_pd(translated, dir);
    if orig.af != translated.af {
        // af-to: the other family's key is the one its replies, coming
        // in, will carry (pf_state_key_setup swaps sidx and didx).
        post.addr.swap(0, 1);
        post.port.swap(0, 1);
    }
    match dir {
        Dir::In => (pre, post),
        Dir::Out => (post, pre),
    }
}

impl Engine {
    /// The shared name of interface `ifname` for a state bound to it.
    fn bound_name(&mut self, ifname: &str) -> std::sync::Arc<str> {
        if let Some(n) = self.bound_names.get(ifname) {
            return n.clone();
        }
        let n: std::sync::Arc<str> = ifname.into();
        self.bound_names.insert(n.clone());
        n
    }

    /// pf_create_state for the decision `d` on a packet (`orig`, and
    /// `translated` as the translations left it) of `len` bytes, made
    /// through the match rules `matches`. Returns the new state's slot and
    /// the modulation offset applied to the packet's sequence number (0
    /// without `modulate state`). The decision's normalisation actions
    /// are kept for every later packet of the state.
    pub(in crate::engine) fn create_state(
        &mut self,
        meta: &PacketMeta,
        d: &Decision,
        matches: &[RuleRef],
        (orig, translated): (&Pd, &Pd),
        len: u64,
        now: u64,
    ) -> Result<(Slot, u32), Reason> {
        let sns = self.admit_state(d, orig, now)?;
        let dir = meta.dir;
        let (wire, stack) = state_keys(dir, orig, translated);
        let (src, dst, timeout, seqdiff) = self.new_peers(d, orig);
        let id = self.next_id;
        self.next_id += 1;
        // pfsync_insert_state: the sync protocol's own states stay local.
        let no_sync = d.no_sync || orig.proto == IPPROTO_PFSYNC;
        let mut st = State {
            id,
            creatorid: self.hostid,
            key: StateKeys::new(wire, stack),
            direction: dir,
            ifname: d.if_bound.then(|| self.bound_name(meta.ifname)),
            rule: Some(d.rule),
            src,
            dst,
            timeout,
            creation: now,
            expire: now,
            packets: [1, 0],
            bytes: [len, 0],
            log: d.log,
            state_flags: (if no_sync { PFSTATE_NOSYNC } else { 0 })
                | (if d.allow_opts { PFSTATE_ALLOWOPTS } else { 0 })
                | (if d.sloppy { PFSTATE_SLOPPY } else { 0 })
                | d.actions.flags,
            norm: d.actions,
            scrub: None,
            tag: d.tag,
            sync: SyncMeta::default(),
            seq: 0,
            match_rules: 0,
            cold: None,
        };
        st.set_cold(StateCold {
            anchor: d.anchor,
            label: self.rules.run(d.rule).and_then(|x| x.label.clone()),
            route: d.route,
            sn: StateLinks {
                lb: d.lb,
                ..StateLinks::default()
            },
            lim: Default::default(),
        });
        let halfopen = self.is_halfopen(&st);
        let Ok(slot) = self.states.insert(st) else {
            self.release_sns(&sns, now);
            return Err(Reason::StateInsert);
        };
        let nodes = self.link_state(slot, d, &sns, orig, now);
        // The first packet counts for the nodes (pf_counters_inc), unless
        // synproxy answers it and drops it.
        let proxied = d.keep_state == KeepState::Synproxy && dir == Dir::In && bare_syn(orig);
        if !proxied {
            self.src_nodes_count(&nodes, 0, len);
        }
        if halfopen {
            self.halfopen += 1;
        }
        self.status.inserts += 1;
        self.count_new_state(slot, d, matches);
        if !no_sync && orig.proto != IPPROTO_PFSYNC {
            self.sync.insert((id, self.hostid), now);
        }
        Ok((slot, seqdiff))
    }

    /// Source tracking first (pf_test_rule), then the state limits: the
    /// connection's source nodes. On failure they are let go.
    fn admit_state(&mut self, d: &Decision, orig: &Pd, now: u64) -> Result<Sns, Reason> {
        let ri = d.rule;
        let mut sns = d.sns;
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
        if d.max_states != 0 {
            if let Some(c) = self.rules.counters(ri) {
                if c.states_cur >= d.max_states {
                    self.status.limit_counters[0] += 1;
                    self.release_sns(&sns, now);
                    return Err(Reason::StateLimit);
                }
            }
        }
        Ok(sns)
    }

    /// The two ends of a new state, its first timeout, and the modulation
    /// offset of the initiator's sequence numbers (`modulate state` on a
    /// SYN; 0 otherwise).
    fn new_peers(&mut self, d: &Decision, orig: &Pd) -> (Peer, Peer, Timeout, u32) {
        match (orig.proto, orig.tcp) {
            (IPPROTO_TCP, Some(t)) => {
                let mut seqdiff = 0;
                if d.keep_state == KeepState::Modulate && bare_syn(orig) {
                    loop {
                        seqdiff = self.random().wrapping_sub(t.seq);
                        if seqdiff != 0 {
                            break;
                        }
                    }
                }
                let (s, d) = tcp::create_peers(&t, orig.p_len, seqdiff);
                (s, d, Timeout::TcpFirst, seqdiff)
            }
            (IPPROTO_ICMP, _) | (IPPROTO_ICMPV6, _) => {
                (Peer::default(), Peer::default(), Timeout::IcmpFirst, 0)
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
                0,
            ),
        }
    }

    /// The new state in `slot` takes its source nodes `sns` (returned as
    /// it holds them), its places in the limiters its rule names (checked
    /// when the rule matched) and its least-states pool addresses.
    fn link_state(&mut self, slot: Slot, d: &Decision, sns: &Sns, orig: &Pd, now: u64) -> Sns {
        let nodes = self.attach_sns(sns);
        let lims = self
            .rules
            .rule(d.rule)
            .map(RuleLimiters::of)
            .unwrap_or_default();
        let lim = if lims.any() {
            self.rules.limiters.acquire(lims, orig.src, now)
        } else {
            Default::default()
        };
        if let Some(st) = self.states.get_mut(slot) {
            if nodes != Sns::default() || lim != LimiterLinks::default() {
                let cold = st.cold_mut();
                cold.sn.nodes = nodes;
                cold.lim = lim;
            }
        }
        for lb in d.lb.iter().flatten() {
            self.lb_take(lb);
        }
        nodes
    }

    /// The new state counts for the rules that made it: the deciding rule
    /// and the anchor rule it was reached through, the match rules
    /// (STATE_INC_COUNTERS), and the tag it carries.
    fn count_new_state(&mut self, slot: Slot, d: &Decision, matches: &[RuleRef]) {
        self.tags.add_ref(d.tag);
        for r in [Some(d.rule), d.anchor].into_iter().flatten() {
            if let Some(c) = self.rules.counters_mut(r) {
                c.states_cur += 1;
                c.states_tot += 1;
            }
        }
        let list = self.matchlists.intern(matches);
        if let Some(st) = self.states.get_mut(slot) {
            st.match_rules = list;
        }
        for &m in matches {
            if let Some(c) = self.rules.counters_mut(m) {
                c.states_cur += 1;
            }
        }
    }

    /// `scrub (reassemble tcp)` on the packet that created state `slot`
    /// (pf_normalize_tcp_init and _stateful in pf_create_state).
    pub(in crate::engine) fn scrub_first_packet(
        &mut self,
        buf: &mut [u8],
        pd: &Pd,
        slot: Slot,
        now: u64,
    ) -> Result<bool, Reason> {
        let random = self.random();
        let fudge = self.timeout_value(Timeout::TcpTsDiff);
        let Some(st) = self.states.get_mut(slot) else {
            return Ok(false);
        };
        let mut sc: normalize::StateScrub = [Some(normalize::tcp_init(buf, pd, now, random)), None];
        let conn = normalize::conn_of(&st.src, &st.dst, st.creation, fudge);
        let [a, b] = &mut sc;
        let r = normalize::tcp_stateful(buf, pd, a, b, conn, now);
        st.scrub = Some(Box::new(sc));
        r
    }
}

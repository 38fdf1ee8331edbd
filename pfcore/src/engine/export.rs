//! States in and out of the engine in pfsync's `pfsync_state` form (which is
//! also how the control socket lists them), and applying what the pfsync
//! peer sends: inserts, updates with OpenBSD's stale checks, deletes,
//! clears, update requests.

use super::normalize::{Actions, PeerScrub, StateScrub, PFSS_TIMESTAMP, PFSTATE_SCRUB_FLAGS};
use super::packet::Dir;
use super::ruleref::RuleRef;
use super::state::{
    tcps, Peer, Slot, State, StateCold, StateKey, StateKeys, StateTable, SyncMeta, SK_STACK,
    SK_WIRE,
};
use super::Engine;
use crate::addr::Af;
use crate::ruleset::Timeout;
use crate::wire::pfsync::{
    BusRepr, DelCRepr, InsAckRepr, KeyRepr, Message, PeerRepr, ScrubRepr, StateRepr, UpdCRepr,
    UpdReqRepr, PFSTATE_ACK,
};
use crate::wire::IPPROTO_TCP;
use std::net::{IpAddr, Ipv4Addr};

fn scrub_out(s: &Option<PeerScrub>) -> ScrubRepr {
    match s {
        Some(s) => ScrubRepr {
            // Only timestamp modulation crosses to the peer.
            flags: s.flags & PFSS_TIMESTAMP,
            ttl: s.ttl,
            scrub_flag: 0x01,
            ts_mod: s.ts_mod,
        },
        None => ScrubRepr::default(),
    }
}

/// A peer's scrub block, if it says it is valid.
fn scrub_in(r: &ScrubRepr) -> Option<PeerScrub> {
    (r.scrub_flag != 0).then_some(PeerScrub {
        flags: r.flags & PFSS_TIMESTAMP,
        ttl: r.ttl,
        ts_mod: r.ts_mod,
        ..PeerScrub::default()
    })
}

/// The scrub data of a state arriving from the peer, when any side has it.
fn state_scrub_in(src: &PeerRepr, dst: &PeerRepr) -> Option<Box<StateScrub>> {
    let s = [scrub_in(&src.scrub), scrub_in(&dst.scrub)];
    (s[0].is_some() || s[1].is_some()).then(|| Box::new(s))
}

fn peer_out(p: &Peer, scrub: &Option<PeerScrub>) -> PeerRepr {
    PeerRepr {
        scrub: scrub_out(scrub),
        seqlo: p.seqlo,
        seqhi: p.seqhi,
        seqdiff: p.seqdiff,
        max_win: p.max_win,
        mss: p.mss,
        state: p.state,
        wscale: p.wscale,
    }
}

fn peer_in(p: &PeerRepr) -> Peer {
    Peer {
        seqlo: p.seqlo,
        seqhi: p.seqhi,
        seqdiff: p.seqdiff,
        max_win: p.max_win,
        mss: p.mss,
        state: p.state,
        wscale: p.wscale,
    }
}

fn key_out(k: &StateKey) -> KeyRepr {
    KeyRepr {
        addr: k.addr,
        port: k.port,
        rdomain: k.rdomain,
        af: Af::of(&k.addr[0]).openbsd_number(),
    }
}

fn key_in(k: &KeyRepr, proto: u8) -> StateKey {
    StateKey {
        addr: k.addr,
        port: k.port,
        proto,
        rdomain: k.rdomain,
    }
}

/// What applying a batch of pfsync messages did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputResult {
    pub inserted: u32,
    pub updated: u32,
    pub deleted: u32,
    /// Updates older than what we have (OpenBSD's `stale`).
    pub stale: u32,
    /// States that could not be inserted (key clash, limit): `badstate`.
    pub badstate: u32,
    /// The peer asked for everything (UPD_REQ 0/0).
    pub bulk_requested: bool,
    /// Bulk-update status messages, for the bulk state machine.
    pub bus: Vec<BusRepr>,
}

impl Engine {
    /// A state as `pfsync_state`: `creation` is its age and `expire` the
    /// seconds it has left.
    pub fn export_state(&self, st: &State, now: u64) -> StateRepr {
        let left = self.expires_at(st).saturating_sub(now) / 1000;
        // The numbers of the rule and of the anchor rule, while loaded.
        let nr = |r: Option<RuleRef>| {
            r.filter(|r| self.rules().rule(*r).is_some())
                .map_or(u32::MAX, |r| r.nr)
        };
        let (rule, anchor) = (nr(st.rule), nr(st.cold().anchor));
        StateRepr {
            id: st.id,
            ifname: st.ifname.as_deref().unwrap_or("all").to_string(),
            key: [key_out(&st.key[SK_WIRE]), key_out(&st.key[SK_STACK])],
            src: peer_out(&st.src, &st.scrub.as_ref().and_then(|s| s[0])),
            dst: peer_out(&st.dst, &st.scrub.as_ref().and_then(|s| s[1])),
            rt_addr: match (st.cold().route.rt, st.key[SK_STACK].addr[0]) {
                (Some((_, a)), _) => a,
                (None, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                (None, IpAddr::V6(_)) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            },
            rule,
            anchor,
            nat_rule: u32::MAX,
            creation: (now.saturating_sub(st.creation) / 1000) as u32,
            expire: left.min(u32::MAX as u64) as u32,
            packets: st.packets,
            bytes: st.bytes,
            creatorid: st.creatorid,
            rtableid: match (st.cold().route.rtable, st.direction) {
                // pf keeps the rtable on the key the state's packets are
                // routed by: the stack side for `in`, the wire side for `out`.
                (Some(t), Dir::In) => [u32::MAX, t],
                (Some(t), Dir::Out) => [t, u32::MAX],
                (None, _) => [u32::MAX; 2],
            },
            max_mss: st.norm.max_mss,
            af: Af::of(&st.key[0].addr[0]).openbsd_number(),
            proto: st.key[0].proto,
            direction: st.direction.number(),
            log: st.log,
            rt: st.cold().route.rt_number(),
            timeout: st.timeout as u8,
            sync_flags: st.cold().sn.sync_flags(),
            updates: 0,
            min_ttl: st.norm.min_ttl,
            set_tos: st.norm.set_tos,
            state_flags: st.state_flags,
            set_prio: [0; 2],
            rt_ifname: self
                .routing
                .targets
                .ifname(st.cold().route.rt_sel)
                .filter(|_| st.cold().route.rt.is_some())
                .unwrap_or_default()
                .to_string(),
            tag: self.tags.name(st.tag).unwrap_or_default().to_string(),
        }
    }

    /// Every state, in the order they were created.
    pub fn export_all(&self, now: u64) -> Vec<StateRepr> {
        self.states
            .slots_in_order()
            .into_iter()
            .filter_map(|s| self.states.get(s))
            .map(|st| self.export_state(st, now))
            .collect()
    }

    /// The next states of a walk (see `StateWalk`), at most `n`.
    pub fn export_walk(&self, walk: &mut StateWalk, n: usize, now: u64) -> Vec<StateRepr> {
        walk.sort();
        let mut out = Vec::with_capacity(n.min(walk.order.len() - walk.pos));
        while out.len() < n && walk.pos < walk.order.len() {
            let (seq, slot) = walk.order[walk.pos];
            walk.pos += 1;
            if let Some(st) = self.states.get_seq(slot, seq) {
                out.push(self.export_state(st, now));
            }
        }
        out
    }

    /// Insert a state from its `pfsync_state` form (pfsync INS/UPD, or
    /// DIOCADDSTATES). `from_peer`: mark it as the peer's (never echoed).
    pub fn import_state(
        &mut self,
        sr: &StateRepr,
        from_peer: bool,
        now: u64,
    ) -> Result<(), &'static str> {
        sr.validate()?;
        let timeout = Timeout::from_index(sr.timeout).ok_or("bad timeout")?;
        let direction = Dir::from_number(sr.direction).ok_or("bad direction")?;
        if self.states.len() as u64 >= self.limit(crate::ruleset::Limit::States) as u64 {
            return Err("state limit reached");
        }
        let tval = self.timeout_value(timeout) as u64;
        let expire = if sr.expire == 0 {
            now
        } else {
            now.saturating_sub(tval.saturating_sub(sr.expire as u64) * 1000)
        };
        let no_sync = sr.state_flags & super::state::PFSTATE_NOSYNC != 0;
        let wire = key_in(&sr.key[0], sr.proto);
        let mut stack = key_in(&sr.key[1], sr.proto);
        if wire.addr[0].is_ipv4() != stack.addr[0].is_ipv4() {
            // af-to: ICMP on one side is ICMPv6 on the other.
            stack.proto = super::af::other_proto(sr.proto);
        }
        let route = self.imported_route(sr);
        let mut st = State {
            id: sr.id,
            creatorid: sr.creatorid,
            key: StateKeys::new(wire, stack),
            direction,
            // pfsync_state_import binds the state to the interface named
            // (`all`: floating), whether it exists here or not.
            ifname: Some(sr.ifname.as_str())
                .filter(|n| !n.is_empty() && *n != crate::engine::iface::IFG_ALL)
                .map(std::sync::Arc::from),
            rule: None,
            src: peer_in(&sr.src),
            dst: peer_in(&sr.dst),
            timeout,
            creation: now.saturating_sub(sr.creation as u64 * 1000),
            expire,
            packets: sr.packets,
            bytes: sr.bytes,
            log: sr.log,
            state_flags: sr.state_flags & !0x0010,
            norm: Actions {
                flags: sr.state_flags & PFSTATE_SCRUB_FLAGS,
                min_ttl: sr.min_ttl,
                set_tos: sr.set_tos,
                max_mss: sr.max_mss,
            },
            scrub: state_scrub_in(&sr.src, &sr.dst),
            // pfsync_state carries no tag.
            tag: 0,
            sync: SyncMeta::default(),
            seq: 0,
            match_rules: 0,
            cold: None,
        };
        if from_peer {
            st.sync.set_peer_updated(now);
        }
        st.set_cold(StateCold {
            route,
            ..StateCold::default()
        });
        let halfopen = self.is_halfopen(&st);
        self.states.insert(st).map_err(|_| "state exists")?;
        if halfopen {
            self.halfopen += 1;
        }
        self.status_mut().inserts += 1;
        if !from_peer && !no_sync {
            self.sync.insert((sr.id, sr.creatorid), now);
        }
        Ok(())
    }

    /// The route-to/reply-to/dup-to and rtable a peer's state carries
    /// (their selectors numbered here; a divert is not in pfsync_state).
    fn imported_route(&mut self, sr: &StateRepr) -> super::route::StateRoute {
        use super::route::StateRoute;
        use crate::ruleset::route::Target;
        let mut r = StateRoute::default();
        if let Some(kind) = StateRoute::kind_from_number(sr.rt) {
            if !sr.rt_addr.is_unspecified() {
                if let Some(sel) = self.routing.targets.get(Target::NextHop(sr.rt_addr)) {
                    r.rt = Some((kind, sr.rt_addr));
                    r.rt_sel = sel;
                }
            }
        }
        let table = match Dir::from_number(sr.direction) {
            Some(Dir::In) => sr.rtableid[1],
            _ => sr.rtableid[0],
        };
        // OpenBSD puts its routing domain (0) there when no rule set an
        // rtable: table 0 is the normal routing anyway.
        if table != u32::MAX && table != 0 {
            if let Some(sel) = self.routing.targets.get(Target::Table(table)) {
                r.rtable = Some(table);
                r.rtable_sel = sel;
            }
        }
        r
    }

    fn status_mut(&mut self) -> &mut super::status::Status {
        &mut self.status
    }

    /// Merge a peer's view of one side pair into ours (pfsync_upd_tcp for
    /// TCP, "never backwards" otherwise). Returns how many sides were stale.
    fn merge_peers(st: &mut State, src: &PeerRepr, dst: &PeerRepr) -> u32 {
        // pf_state_peer_ntoh: a valid scrub block updates what we keep.
        if let Some(sc) = st.scrub.as_mut() {
            for (mine, theirs) in sc.iter_mut().zip([&src.scrub, &dst.scrub]) {
                if let (Some(m), true) = (mine.as_mut(), theirs.scrub_flag != 0) {
                    m.flags = (m.flags & !PFSS_TIMESTAMP) | (theirs.flags & PFSS_TIMESTAMP);
                    m.ttl = theirs.ttl;
                    m.ts_mod = theirs.ts_mod;
                }
            }
        }
        let mut stale = 0;
        if st.key[0].proto == IPPROTO_TCP {
            let backwards = st.src.state > src.state
                && (st.src.state < tcps::PROXY_SRC || src.state >= tcps::PROXY_SRC);
            if backwards
                || (st.src.state == src.state && super::tcp::seq_gt(st.src.seqlo, src.seqlo))
            {
                stale += 1;
            } else {
                st.src = peer_in(src);
            }
            if st.dst.state > dst.state
                || (st.dst.state >= tcps::SYN_SENT && super::tcp::seq_gt(st.dst.seqlo, dst.seqlo))
            {
                stale += 1;
            } else {
                st.dst = peer_in(dst);
            }
        } else {
            if st.src.state > src.state {
                stale += 1;
            } else {
                st.src = peer_in(src);
            }
            if st.dst.state > dst.state {
                stale += 1;
            } else {
                st.dst = peer_in(dst);
            }
        }
        stale
    }

    /// Apply an update (full or compressed) to an existing state.
    fn apply_update(
        &mut self,
        slot: super::state::Slot,
        src: &PeerRepr,
        dst: &PeerRepr,
        timeout: u8,
        now: u64,
        res: &mut InputResult,
    ) {
        let halfopen = self.halfopen_of(slot);
        let Some(st) = self.states.get_mut(slot) else {
            return;
        };
        let stale = Self::merge_peers(st, src, dst);
        if stale < 2 {
            st.expire = now;
            if let Some(t) = Timeout::from_index(timeout) {
                st.timeout = t;
            }
        }
        st.sync.set_peer_updated(now);
        let sref = (st.id, st.creatorid);
        let tcp = st.key[0].proto == IPPROTO_TCP;
        self.halfopen_update(slot, halfopen);
        if stale > 0 {
            res.stale += 1;
            // Tell the peer what we know; it is behind.
            self.sync.update(sref, tcp, true, now);
        } else {
            res.updated += 1;
        }
    }

    /// pfsync_input: apply the messages of one frame from the peer.
    pub fn pfsync_input(&mut self, msgs: &[Message], now: u64) -> InputResult {
        let mut res = InputResult::default();
        for m in msgs {
            match m {
                Message::Ins(sr) => {
                    let known = match self.import_state(sr, true, now) {
                        Ok(()) => {
                            res.inserted += 1;
                            true
                        }
                        Err(_) => {
                            // Already known (a resend): treat as an update.
                            if let Some(slot) = self.states.by_id(sr.id, sr.creatorid) {
                                self.apply_update(
                                    slot, &sr.src, &sr.dst, sr.timeout, now, &mut res,
                                );
                                true
                            } else {
                                res.badstate += 1;
                                false
                            }
                        }
                    };
                    // The peer holds the state's first packet (defer)
                    // until it hears that the state is here.
                    if known && sr.state_flags & PFSTATE_ACK != 0 {
                        let ack = InsAckRepr {
                            id: sr.id,
                            creatorid: sr.creatorid,
                        };
                        self.sync.push_message(Message::InsAck(ack), true, now);
                    }
                }
                Message::Upd(sr) => match self.states.by_id(sr.id, sr.creatorid) {
                    Some(slot) => {
                        self.apply_update(slot, &sr.src, &sr.dst, sr.timeout, now, &mut res)
                    }
                    None => match self.import_state(sr, true, now) {
                        Ok(()) => res.inserted += 1,
                        Err(_) => res.badstate += 1,
                    },
                },
                Message::UpdC(u) => match self.states.by_id(u.id, u.creatorid) {
                    Some(slot) => self.apply_update(slot, &u.src, &u.dst, u.timeout, now, &mut res),
                    None => {
                        // We missed its insert: ask for the whole state.
                        let req = UpdReqRepr {
                            id: u.id,
                            creatorid: u.creatorid,
                        };
                        self.sync.push_message(Message::UpdReq(req), true, now);
                    }
                },
                Message::UpdReq(r) => {
                    if r.id == 0 && r.creatorid == 0 {
                        res.bulk_requested = true;
                    } else if let Some(st) = self
                        .states
                        .by_id(r.id, r.creatorid)
                        .and_then(|s| self.states.get(s))
                    {
                        let full = self.export_state(st, now);
                        self.sync.push_message(Message::Upd(full), true, now);
                    }
                }
                Message::DelC(d) => {
                    if let Some(slot) = self.states.by_id(d.id, d.creatorid) {
                        self.remove_state(slot, now, false);
                        res.deleted += 1;
                    }
                }
                Message::Del(sr) => {
                    if let Some(slot) = self.states.by_id(sr.id, sr.creatorid) {
                        self.remove_state(slot, now, false);
                        res.deleted += 1;
                    }
                }
                Message::Clr(c) => {
                    let creator = c.creatorid;
                    let ifname = c.ifname.clone();
                    res.deleted += self.kill_states(now, false, |st| {
                        st.creatorid == creator
                            && (ifname.is_empty()
                                || st.ifname.as_deref().unwrap_or("all") == ifname)
                    }) as u32;
                }
                Message::Bus(b) => res.bus.push(*b),
                Message::InsAck(a) => self.sync.acks.ack((a.id, a.creatorid)),
            }
        }
        res
    }

    /// Build the messages for everything the sync queue holds (INS for new
    /// states, UPD_C for changed ones, DEL_C for removed ones).
    pub fn take_sync(&mut self, now: u64) -> Vec<Message> {
        self.take_sync_stamped(now).0
    }

    /// `take_sync`, and the creation time (engine ms) of the oldest new
    /// state among the messages (pfsync's replication lag is measured
    /// from it).
    pub fn take_sync_stamped(&mut self, now: u64) -> (Vec<Message>, Option<u64>) {
        use crate::pfsync::queue::Pending;
        let (items, extra) = self.sync.drain();
        let mut oldest: Option<u64> = None;
        let mut out = Vec::with_capacity(items.len() + extra.len());
        for ((id, creatorid), p) in items {
            match p {
                Pending::Delete => out.push(Message::DelC(DelCRepr { id, creatorid })),
                Pending::Insert | Pending::Update { .. } => {
                    let Some(st) = self
                        .states
                        .by_id(id, creatorid)
                        .and_then(|s| self.states.get(s))
                    else {
                        continue;
                    };
                    if p == Pending::Insert {
                        oldest = Some(oldest.map_or(st.creation, |o| o.min(st.creation)));
                        let mut sr = self.export_state(st, now);
                        if self.sync.acks.asks(&(id, creatorid)) {
                            sr.state_flags |= PFSTATE_ACK;
                        }
                        out.push(Message::Ins(sr));
                    } else {
                        out.push(Message::UpdC(UpdCRepr {
                            id,
                            src: peer_out(&st.src, &st.scrub.as_ref().and_then(|s| s[0])),
                            dst: peer_out(&st.dst, &st.scrub.as_ref().and_then(|s| s[1])),
                            creatorid,
                            expire: 0,
                            timeout: st.timeout as u8,
                            state_flags: 0,
                        }));
                    }
                }
            }
        }
        out.extend(extra);
        (out, oldest)
    }
}

/// A listing of the state table taken in pieces, so that the engine is
/// never held for the whole table (DIOCGETSTATES of a million states):
/// `scan` reads the insertion order of a range of slots at a time, `sort`
/// orders it (call it without holding the engine), then
/// `Engine::export_walk` gives the states in that order a chunk at a
/// time. The caller releases the engine between calls. A state made
/// after its slot was scanned is not listed; one removed in between is
/// skipped (its slot's sequence no longer matches).
#[derive(Debug, Default)]
pub struct StateWalk {
    order: Vec<(u64, Slot)>,
    next_slot: Option<usize>,
    pos: usize,
    scanned: bool,
}

impl StateWalk {
    pub fn new() -> StateWalk {
        StateWalk {
            next_slot: Some(0),
            ..StateWalk::default()
        }
    }

    /// Read the order of the next `n` slots; true when the whole table
    /// has been read.
    pub fn scan(&mut self, table: &StateTable, n: usize) -> bool {
        if let Some(from) = self.next_slot {
            self.next_slot = table.seqs_from(from, n, &mut self.order);
        }
        self.next_slot.is_none()
    }

    /// Put what `scan` read in insertion order (once).
    pub fn sort(&mut self) {
        if !self.scanned {
            self.order.sort_unstable();
            self.scanned = true;
        }
    }

    /// Every state has been given.
    pub fn done(&self) -> bool {
        self.scanned && self.next_slot.is_none() && self.pos >= self.order.len()
    }
}

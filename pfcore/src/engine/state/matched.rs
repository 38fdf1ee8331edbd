//! Packets that belong to a state (pf_test_state): the state lookup, TCP
//! window tracking, UDP/other pseudo-states, counters, the state's
//! translation applied. ICMP errors go to the state of the packet they
//! quote (`icmperr`).

use super::{tcps, udps, Peer, Slot, State, StateKey, SK_STACK, SK_WIRE};
use crate::engine::af::{self, Ends};
use crate::engine::decision::LOG_ALL;
use crate::engine::normalize::{self, PFSTATE_ALLOWOPTS, PFSTATE_SCRUB_TCP, PFSTATE_SLOPPY};
use crate::engine::packet::{Dir, Pd, TcpInfo};
use crate::engine::reply;
use crate::engine::route::Forward;
use crate::engine::srcnode::SnType;
use crate::engine::status::Reason;
use crate::engine::table::OP_PASS;
use crate::engine::tcp;
use crate::engine::translate::{set_end, set_seq_ack, End};
use crate::engine::verdict::{tag_packet, PacketMeta, Verdict};
use crate::engine::Engine;
use crate::ruleset::Timeout;
use crate::wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_PFSYNC, IPPROTO_TCP, IPPROTO_UDP};

/// Where packet ends map onto key positions: addr[0] is the remote end.
pub(super) fn end_for(i: usize, dir: Dir) -> End {
    match (dir, i) {
        (Dir::In, 0) | (Dir::Out, 1) => End::Src,
        _ => End::Dst,
    }
}

/// Rewrite a packet that matched key `from` (seen in `dir`) so that it
/// carries key `to`.
fn rewrite_to_key(buf: &mut [u8], pd: &mut Pd, dir: Dir, from: &StateKey, to: &StateKey) -> bool {
    let mut changed = false;
    for i in 0..2 {
        if from.addr[i] != to.addr[i] || from.port[i] != to.port[i] {
            changed |= set_end(buf, pd, end_for(i, dir), to.addr[i], to.port[i]);
        }
    }
    changed
}

/// Where a packet that matched a state's key goes when the state
/// translates its family: the addresses of the state's other key `o`
/// seen from the same side (source `o.addr[1]`, destination `o.addr[0]`).
fn ends_of(o: &StateKey) -> Ends {
    Ends {
        src: o.addr[1],
        dst: o.addr[0],
        sport: o.port[1],
        dport: o.port[0],
    }
}

/// What tracking found a packet of a state to be, when it fits.
#[derive(Debug, Default)]
struct Fits {
    /// The TCP handshake completed with this packet: the connection counts
    /// for its source.
    established: bool,
    /// The sequence numbers `modulate state` puts in the packet.
    modulation: tcp::Modulation,
    /// `reassemble tcp` rewrote the packet.
    norm_modified: bool,
}

/// What tracking a TCP packet of a state needs besides the state and the
/// packet.
#[derive(Debug, Clone, Copy)]
struct TcpCtx {
    /// The packet travels the way the state's first one did.
    fwd: bool,
    /// For the modulator of a server's first packet.
    random: u32,
    /// For the timestamp modulation of `reassemble tcp`.
    random_ts: u32,
    /// `tcp.tsdiff` of the state.
    ts_fudge: u32,
    now: u64,
}

/// The outcome of tracking a TCP packet of a state.
enum TcpTracked {
    Fits(Fits),
    /// A new SYN on a connection that is over: the state goes, the rules
    /// decide.
    Over,
    /// Out of window (`state-mismatch`); `send_rst` asks for a RST to the
    /// sender (during the handshake).
    Mismatch {
        send_rst: bool,
    },
    /// `reassemble tcp` refused the segment's timestamps.
    BadTimestamp,
}

/// pf_tcp_track_full (or _sloppy) on state `st` for segment `t` of packet
/// `pd`, with `scrub (reassemble tcp)` hooked in: the peers move on, the
/// state's timeout follows them.
fn track_tcp(st: &mut State, buf: &mut [u8], pd: &Pd, t: &TcpInfo, cx: TcpCtx) -> TcpTracked {
    let sloppy = st.state_flags & PFSTATE_SLOPPY != 0;
    let scrub_tcp = st.state_flags & PFSTATE_SCRUB_TCP != 0;
    // Index of the sending and receiving end in `scrub`.
    let (si, di) = if cx.fwd { (0, 1) } else { (1, 0) };
    let creation = st.creation;
    let State {
        src: ps,
        dst: pr,
        scrub,
        ..
    } = &mut *st;
    let (src, dst) = if cx.fwd { (ps, pr) } else { (pr, ps) };
    if tcp::bare_syn(pd) && src.state >= tcps::FIN_WAIT_2 && dst.state >= tcps::FIN_WAIT_2 {
        return TcpTracked::Over;
    }
    let dst_opening = dst.state == tcps::SYN_SENT;
    let mut fits = Fits::default();
    let track = if sloppy {
        tcp::track_sloppy(src, dst, t)
    } else {
        // `reassemble tcp`: the first packet from this end sets up its
        // scrub data.
        let other_has = scrub.as_ref().is_some_and(|s| s[di].is_some());
        let mine_has = scrub.as_ref().is_some_and(|s| s[si].is_some());
        if src.seqlo == 0 && (scrub_tcp || other_has) && !mine_has {
            let init = normalize::tcp_init(buf, pd, cx.now, cx.random_ts);
            scrub.get_or_insert_with(Default::default)[si] = Some(init);
        }
        let norm_modified = &mut fits.norm_modified;
        let mut hook = |s: &Peer, d: &Peer| -> bool {
            let Some(sc) = scrub.as_mut() else {
                return true;
            };
            let [a, b] = &mut **sc;
            let (ss, ds) = if si == 0 { (a, b) } else { (b, a) };
            if ss.is_none() && ds.is_none() {
                return true;
            }
            let conn = normalize::conn_of(s, d, creation, cx.ts_fudge);
            match normalize::tcp_stateful(buf, pd, ss, ds, conn, cx.now) {
                Ok(m) => {
                    *norm_modified |= m;
                    true
                }
                Err(_) => false,
            }
        };
        let modulation = &mut fits.modulation;
        tcp::track_full_norm(src, dst, t, pd.p_len, cx.random, modulation, &mut hook)
    };
    match track {
        tcp::Track::Pass { timeout, refresh } => {
            // The handshake completes with this packet.
            fits.established =
                dst_opening && dst.state == tcps::ESTABLISHED && src.state == tcps::ESTABLISHED;
            if let Some(to) = timeout {
                st.timeout = to;
            }
            if refresh {
                st.expire = cx.now;
            }
            TcpTracked::Fits(fits)
        }
        tcp::Track::Drop { send_rst } => TcpTracked::Mismatch { send_rst },
        tcp::Track::BadTimestamp => TcpTracked::BadTimestamp,
    }
}

/// ICMP queries, UDP and other protocols: the pseudo-state machine of a
/// state's ends and the timeout it gives.
pub(super) fn track_other(st: &mut State, proto: u8, fwd: bool, now: u64) {
    st.expire = now;
    if proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 {
        st.timeout = Timeout::IcmpError;
        return;
    }
    let (src, dst) = st.peers_fwd(fwd);
    if src.state < udps::SINGLE {
        src.state = udps::SINGLE;
    }
    if dst.state == udps::SINGLE {
        dst.state = udps::MULTIPLE;
    }
    let both = src.state == udps::MULTIPLE && dst.state == udps::MULTIPLE;
    st.timeout = match (proto == IPPROTO_UDP, both) {
        (true, true) => Timeout::UdpMultiple,
        (true, false) => Timeout::UdpSingle,
        (false, true) => Timeout::OtherMultiple,
        (false, false) => Timeout::OtherSingle,
    };
}

impl Engine {
    /// pf_test's state lookup: the state a packet belongs to, an ICMP
    /// error to the state of the packet it quotes, a syncookie's ACK to
    /// the state it recreates. None: no state has the packet, the rules
    /// decide (`pd` as the lookup left it).
    pub(in crate::engine) fn test_known(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        pd: &mut Pd,
        len: u64,
        now: u64,
    ) -> Option<Verdict> {
        if pd.icmp.is_some_and(|i| i.is_error) {
            return self.test_icmp_error(meta, buf, pd, len, now);
        }
        if let Some(v) = self.syncookie_syn(meta, pd, now) {
            return Some(v);
        }
        let mut key = StateKey::from_pd(pd, meta.dir);
        let mut slot = self.states.lookup(&key, meta.dir, meta.ifname);
        if slot.is_none() {
            if let Some(k) = StateKey::multicast_reply(pd, meta.dir) {
                slot = self.states.lookup(&k, meta.dir, meta.ifname);
                if slot.is_some() {
                    key = k;
                }
            }
        }
        if pd.proto == IPPROTO_TCP {
            slot = match self.syncookie_ack(meta, pd, &key, slot, now) {
                Ok(s) => s,
                Err(v) => return Some(v),
            };
        }
        self.test_state(meta, buf, pd, slot?, &key, len, now)
    }

    /// A packet of an existing state. None: the state was removed (a new
    /// SYN on a closed connection) and the rules decide.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::engine) fn test_state(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        pd: &mut Pd,
        slot: Slot,
        key: &StateKey,
        len: u64,
        now: u64,
    ) -> Option<Verdict> {
        if pd.proto == IPPROTO_TCP {
            if let Some(v) = self.synproxy(meta, pd, slot, now) {
                return Some(v);
            }
        }
        let mut halfopen = self.halfopen_of(slot);
        let random = self.random();
        let random_ts = self.random();
        let ts_fudge = self.ts_fudge(slot);
        let st = self.states.get_mut(slot)?;
        let dir = meta.dir;
        let afto = st.is_afto();
        // Does the packet travel the way the state's first one did? (An
        // af-to state sees both ways coming in: the key tells.)
        let fwd = if afto {
            st.key[SK_WIRE] == *key
        } else {
            dir == st.direction
        };
        let mut fits = Fits::default();
        match (pd.proto, pd.tcp) {
            (IPPROTO_TCP, Some(t)) => {
                let cx = TcpCtx {
                    fwd,
                    random,
                    random_ts,
                    ts_fudge,
                    now,
                };
                match track_tcp(st, buf, pd, &t, cx) {
                    TcpTracked::Fits(f) => fits = f,
                    TcpTracked::Over => {
                        // The connection is over and a new one reuses the
                        // ports.
                        self.remove_state(slot, now, true);
                        return None;
                    }
                    TcpTracked::Mismatch { send_rst } => {
                        self.halfopen_update(slot, halfopen);
                        let mut v = self.dropped(Reason::StateMismatch);
                        if send_rst {
                            v.reply = reply::tcp_rst(pd, reply::DEFAULT_TTL);
                        }
                        return Some(v);
                    }
                    TcpTracked::BadTimestamp => {
                        self.halfopen_update(slot, halfopen);
                        return Some(self.dropped(Reason::BadTimestamp));
                    }
                }
            }
            (proto, _) => track_other(st, proto, fwd, now),
        }
        if fits.established && st.cold().sn.nodes.get(SnType::None).is_some() {
            // pf_src_connlimit; over the source's limits, the state goes.
            self.halfopen_update(slot, halfopen);
            halfopen = self.halfopen_of(slot);
            if self.src_connlimit(slot, now) {
                return Some(self.dropped(Reason::SrcLimit));
            }
        }
        let st = self.states.get(slot)?;
        let nodes = st.cold().sn.nodes;
        let (from, to) = match (afto, fwd, dir) {
            (true, true, _) | (false, _, Dir::In) => (st.key[SK_WIRE], st.key[SK_STACK]),
            (true, false, _) | (false, _, Dir::Out) => (st.key[SK_STACK], st.key[SK_WIRE]),
        };
        debug_assert_eq!(from, *key);
        let (sroute, log, tag) = (st.cold().route, st.log & LOG_ALL != 0, st.tag);
        let logged_by = (st.rule, st.cold().anchor);
        self.count_state_packet(slot, fwd, dir, len);
        self.halfopen_update(slot, halfopen);
        self.src_nodes_count(&nodes, if fwd { 0 } else { 1 }, len);
        let mut modified = fits.norm_modified;
        if fits.modulation != tcp::Modulation::default() {
            set_seq_ack(buf, pd, fits.modulation.seq, fits.modulation.ack);
            modified = true;
        }
        let translated = if afto {
            let ident = (random >> 16) as u16;
            match af::translate(buf, pd, &ends_of(&to), ident, true) {
                Some(p) => Some(p),
                None => return Some(self.dropped(Reason::Translate)),
            }
        } else {
            modified |= rewrite_to_key(buf, pd, dir, &from, &to);
            None
        };
        self.sync_state_update(slot, false, now);
        let mut v = Verdict::pass(modified);
        v.log = log;
        if log {
            v.logs = self.rules.state_log(logged_by.0, logged_by.1);
        }
        match translated {
            Some(p) => v.forward = Forward::AfTo(p),
            None => {
                v.route(&sroute, fwd, meta);
                tag_packet(&mut v, meta, tag);
            }
        }
        Some(self.state_pass(buf, pd, slot, v))
    }

    /// A packet of state `slot` counts (pf_counters_inc): the state's
    /// packets and bytes its way (`fwd`), its rule and the anchor rule
    /// that rule was reached through, the tables they name, its match
    /// rules.
    pub(in crate::engine) fn count_state_packet(
        &mut self,
        slot: Slot,
        fwd: bool,
        dir: Dir,
        len: u64,
    ) {
        let Some(st) = self.states.get_mut(slot) else {
            return;
        };
        self.last_state = Some((slot, fwd));
        let ci = if fwd { 0 } else { 1 };
        // Wrapping, as pf's u_int64_t counters: a state from the pfsync
        // peer (or a state file) may come with any count.
        st.packets[ci] = st.packets[ci].wrapping_add(1);
        st.bytes[ci] = st.bytes[ci].wrapping_add(len);
        let (rule, anchor) = (st.rule, st.cold().anchor);
        let (rsrc, rdst) = st.rule_addrs();
        self.count_rules([rule, anchor], dir, len);
        if let Some(r) = rule {
            self.table_stats(r, &rsrc, &rdst, dir, OP_PASS, len);
        }
        self.count_match_rules(slot, dir, len);
    }

    /// pfsync hears that state `slot` saw a packet (unless it is not
    /// synced: `no-sync`, or pfsync's own); `urgent`: at once.
    pub(in crate::engine) fn sync_state_update(&mut self, slot: Slot, urgent: bool, now: u64) {
        let Some(st) = self.states.get(slot) else {
            return;
        };
        if st.no_sync() || st.key[0].proto == IPPROTO_PFSYNC {
            return;
        }
        let peer_recent = st
            .sync
            .peer_updated()
            .is_some_and(|t| now.saturating_sub(t) < crate::pfsync::queue::PEER_RECENT_MS);
        let tcp_state = st.key[0].proto == IPPROTO_TCP;
        self.sync
            .update((st.id, st.creatorid), tcp_state, peer_recent || urgent, now);
    }

    /// A packet passes by state `slot`: IP options need the creating
    /// rule's `allow-opts`, then the state's scrub actions apply.
    pub(in crate::engine) fn state_pass(
        &mut self,
        buf: &mut [u8],
        pd: &Pd,
        slot: Slot,
        mut v: Verdict,
    ) -> Verdict {
        let Some(st) = self.states.get(slot) else {
            return v;
        };
        if pd.badopts != 0 && st.state_flags & PFSTATE_ALLOWOPTS == 0 {
            self.count(Reason::IpOption);
            let mut d = Verdict::drop(Reason::IpOption);
            d.log = true;
            return d;
        }
        let norm = st.norm;
        if !norm.is_empty() {
            let rid = self.random() as u16;
            match &mut v.forward {
                // af-to: the packet sent is the translated one.
                Forward::AfTo(p) => normalize::scrub_packet(p, &norm, rid),
                _ => v.modified |= normalize::scrub(buf, pd, &norm, rid),
            }
        }
        v
    }

    /// `tcp.tsdiff` for a state: its rule's value, else the global one.
    fn ts_fudge(&self, slot: Slot) -> u32 {
        let global = self.timeout_value(Timeout::TcpTsDiff);
        self.states
            .get(slot)
            .and_then(|st| st.rule)
            .and_then(|r| self.rules.rule(r))
            .and_then(|r| {
                r.state_opts
                    .timeouts
                    .iter()
                    .find(|(k, _)| *k == Timeout::TcpTsDiff)
                    .map(|(_, v)| *v)
            })
            .unwrap_or(global)
    }
}

//! Packets that belong to a state (pf_test_state): TCP window tracking,
//! UDP/other pseudo-states, counters, the state's translation applied, and
//! ICMP errors matched to the state of the packet they quote.

use super::{tcps, udps, Peer, Slot, State, StateKey, SK_STACK, SK_WIRE};
use crate::engine::af::{self, Ends};
use crate::engine::decision::LOG_ALL;
use crate::engine::normalize::{self, PFSTATE_ALLOWOPTS, PFSTATE_SCRUB_TCP, PFSTATE_SLOPPY};
use crate::engine::packet::{self, Dir, Pd};
use crate::engine::reply;
use crate::engine::route::Forward;
use crate::engine::srcnode::SnType;
use crate::engine::status::Reason;
use crate::engine::table::OP_PASS;
use crate::engine::tcp;
use crate::engine::translate::{self, set_end, set_seq_ack, End};
use crate::engine::verdict::{tag_packet, PacketMeta, Verdict};
use crate::engine::Engine;
use crate::ruleset::Timeout;
use crate::wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_PFSYNC, IPPROTO_TCP, IPPROTO_UDP};

/// Where packet ends map onto key positions: addr[0] is the remote end.
fn end_for(i: usize, dir: Dir) -> End {
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
        let mut established = false;
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
        let mut modulation = tcp::Modulation::default();
        let mut norm_modified = false;
        match (pd.proto, pd.tcp) {
            (IPPROTO_TCP, Some(t)) => {
                let sloppy = st.state_flags & PFSTATE_SLOPPY != 0;
                let scrub_tcp = st.state_flags & PFSTATE_SCRUB_TCP != 0;
                // Index of the sending and receiving end in `scrub`.
                let (si, di) = if fwd { (0, 1) } else { (1, 0) };
                let creation = st.creation;
                let State {
                    src: ps,
                    dst: pr,
                    scrub,
                    ..
                } = &mut *st;
                let (src, dst) = if fwd { (ps, pr) } else { (pr, ps) };
                if t.flags & (crate::wire::tcp::SYN | crate::wire::tcp::ACK)
                    == crate::wire::tcp::SYN
                    && src.state >= tcps::FIN_WAIT_2
                    && dst.state >= tcps::FIN_WAIT_2
                {
                    // The connection is over and a new one reuses the ports.
                    self.remove_state(slot, now, true);
                    return None;
                }
                let dst_opening = dst.state == tcps::SYN_SENT;
                let track = if sloppy {
                    tcp::track_sloppy(src, dst, &t)
                } else {
                    // `reassemble tcp`: the first packet from this end
                    // sets up its scrub data.
                    let other_has = scrub.as_ref().is_some_and(|s| s[di].is_some());
                    let mine_has = scrub.as_ref().is_some_and(|s| s[si].is_some());
                    if src.seqlo == 0 && (scrub_tcp || other_has) && !mine_has {
                        let init = normalize::tcp_init(buf, pd, now, random_ts);
                        scrub.get_or_insert_with(Default::default)[si] = Some(init);
                    }
                    let pdr: &Pd = pd;
                    let mut hook = |s: &Peer, d: &Peer| -> bool {
                        let Some(sc) = scrub.as_mut() else {
                            return true;
                        };
                        let [a, b] = &mut **sc;
                        let (ss, ds) = if si == 0 { (a, b) } else { (b, a) };
                        if ss.is_none() && ds.is_none() {
                            return true;
                        }
                        let conn = normalize::conn_of(s, d, creation, ts_fudge);
                        match normalize::tcp_stateful(buf, pdr, ss, ds, conn, now) {
                            Ok(m) => {
                                norm_modified |= m;
                                true
                            }
                            Err(_) => false,
                        }
                    };
                    tcp::track_full_norm(src, dst, &t, pd.p_len, random, &mut modulation, &mut hook)
                };
                match track {
                    tcp::Track::Pass { timeout, refresh } => {
                        // The handshake completes with this packet: the
                        // connection counts for its source.
                        established = dst_opening
                            && dst.state == tcps::ESTABLISHED
                            && src.state == tcps::ESTABLISHED;
                        if let Some(to) = timeout {
                            st.timeout = to;
                        }
                        if refresh {
                            st.expire = now;
                        }
                    }
                    tcp::Track::Drop { send_rst } => {
                        self.halfopen_update(slot, halfopen);
                        self.count(Reason::StateMismatch);
                        let mut v = Verdict::drop(Reason::StateMismatch);
                        if send_rst {
                            v.reply = reply::tcp_rst(pd, reply::DEFAULT_TTL);
                        }
                        return Some(v);
                    }
                    tcp::Track::BadTimestamp => {
                        self.halfopen_update(slot, halfopen);
                        self.count(Reason::BadTimestamp);
                        return Some(Verdict::drop(Reason::BadTimestamp));
                    }
                }
            }
            (IPPROTO_ICMP, _) | (IPPROTO_ICMPV6, _) => {
                st.expire = now;
                st.timeout = Timeout::IcmpError;
            }
            (proto, _) => {
                let (src, dst) = st.peers_fwd(fwd);
                if src.state < udps::SINGLE {
                    src.state = udps::SINGLE;
                }
                if dst.state == udps::SINGLE {
                    dst.state = udps::MULTIPLE;
                }
                let both = src.state == udps::MULTIPLE && dst.state == udps::MULTIPLE;
                st.expire = now;
                st.timeout = match (proto == IPPROTO_UDP, both) {
                    (true, true) => Timeout::UdpMultiple,
                    (true, false) => Timeout::UdpSingle,
                    (false, true) => Timeout::OtherMultiple,
                    (false, false) => Timeout::OtherSingle,
                };
            }
        }
        if established && st.sn.nodes.get(SnType::None).is_some() {
            // pf_src_connlimit; over the source's limits, the state goes.
            self.halfopen_update(slot, halfopen);
            halfopen = self.halfopen_of(slot);
            if self.src_connlimit(slot, now) {
                self.count(Reason::SrcLimit);
                return Some(Verdict::drop(Reason::SrcLimit));
            }
        }
        let st = self.states.get_mut(slot)?;
        let ci = if fwd { 0 } else { 1 };
        st.packets[ci] += 1;
        st.bytes[ci] += len;
        let nodes = st.sn.nodes;
        let (from, to) = match (afto, fwd, dir) {
            (true, true, _) | (false, _, Dir::In) => (st.key[SK_WIRE], st.key[SK_STACK]),
            (true, false, _) | (false, _, Dir::Out) => (st.key[SK_STACK], st.key[SK_WIRE]),
        };
        debug_assert_eq!(from, *key);
        let sroute = st.route;
        let sref = (st.id, st.creatorid);
        let tcp_state = st.key[0].proto == IPPROTO_TCP;
        let syncable = !st.sync.no_sync && st.key[0].proto != IPPROTO_PFSYNC;
        let peer_recent = st
            .sync
            .peer_updated
            .is_some_and(|t| now.saturating_sub(t) < crate::pfsync::queue::PEER_RECENT_MS);
        let (rule, anchor, log, tag) = (st.rule, st.anchor, st.log & LOG_ALL != 0, st.tag);
        let (rsrc, rdst) = st.rule_addrs();
        for r in [rule, anchor].into_iter().flatten() {
            if let Some(c) = self.rules.counters_mut(r) {
                let d = if dir == Dir::In { 0 } else { 1 };
                c.packets[d] += 1;
                c.bytes[d] += len;
            }
        }
        if let Some(r) = rule {
            self.table_stats(r, &rsrc, &rdst, dir, OP_PASS, len);
        }
        self.count_match_rules(slot, dir, len);
        self.halfopen_update(slot, halfopen);
        self.src_nodes_count(&nodes, if fwd { 0 } else { 1 }, len);
        let mut modified = norm_modified;
        if modulation != tcp::Modulation::default() {
            set_seq_ack(buf, pd, modulation.seq, modulation.ack);
            modified = true;
        }
        let translated = if afto {
            let ident = (random >> 16) as u16;
            match af::translate(buf, pd, &ends_of(&to), ident, true) {
                Some(p) => Some(p),
                None => {
                    self.count(Reason::Translate);
                    return Some(Verdict::drop(Reason::Translate));
                }
            }
        } else {
            modified |= rewrite_to_key(buf, pd, dir, &from, &to);
            None
        };
        if syncable {
            self.sync.update(sref, tcp_state, peer_recent, now);
        }
        let mut v = Verdict::pass(modified);
        v.log = log;
        match translated {
            Some(p) => v.forward = Forward::AfTo(p),
            None => {
                v.route(&sroute, fwd, meta);
                tag_packet(&mut v, meta, tag);
            }
        }
        Some(self.state_pass(buf, pd, slot, v))
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

    /// An ICMP or ICMPv6 error message (pf_test_state_icmp, error branch):
    /// it belongs to the state of the packet it quotes, is checked against
    /// that state and translated the way the state translates, the quoted
    /// packet and the outer addresses that mirror it. None: no state has
    /// the quoted packet, the rules decide. A drop verdict for what pf
    /// drops: a quote too short to read, a quoted non-first fragment, an
    /// error not addressed to the quoted packet's sender, a TCP sequence
    /// number outside the state's window, a quoted ICMP query that went the
    /// other way, ICMP quoted in the wrong family.
    pub(in crate::engine) fn test_icmp_error(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        pd: &mut Pd,
        len: u64,
        now: u64,
    ) -> Option<Verdict> {
        let dropped = |e: &mut Engine, r: Reason| {
            e.count(r);
            Some(Verdict::drop(r))
        };
        let inner_off = pd.l4_off + 8;
        let tot = pd.tot_len;
        let Some(inner) = buf.get(inner_off..tot) else {
            return dropped(self, Reason::Short);
        };
        let ipd = match packet::describe_quoted(inner) {
            Ok(ipd) => ipd,
            Err(packet::PdError::Short) => return dropped(self, Reason::Short),
            // Not something a state can hold: the rules decide.
            Err(_) => return None,
        };
        if ipd.af != pd.af {
            return None;
        }
        if ipd.fragment {
            return dropped(self, Reason::Fragment);
        }
        // The error goes back to whoever sent the quoted packet.
        if ipd.src != pd.dst {
            return dropped(self, Reason::StateMismatch);
        }
        let icmp_quoted = ipd.proto == IPPROTO_ICMP || ipd.proto == IPPROTO_ICMPV6;
        if icmp_quoted && ipd.icmp.is_none() {
            return dropped(self, Reason::Normalize);
        }
        // The quoted packet travelled the other way. Its key is built in its
        // own direction, but it is looked up (and translated) in the role
        // of the packet carrying it, as pf does.
        let idir = match meta.dir {
            Dir::In => Dir::Out,
            Dir::Out => Dir::In,
        };
        let key = StateKey::from_pd(&ipd, idir);
        let slot = self.states.lookup(&key, meta.dir, meta.ifname)?;
        let st = self.states.get(slot)?;
        let afto = st.is_afto();
        // Did the quoted packet travel the way the state's first one did?
        // (For an af-to state, whose packets all come in, the key tells.)
        let quoted_fwd = if afto {
            st.key[SK_STACK] == key
        } else {
            meta.dir != st.direction
        };
        let mut demodulated = None;
        match (ipd.proto, ipd.tcp, ipd.icmp) {
            (IPPROTO_TCP, Some(t), _) => {
                // The sender of the quoted segment, and its peer.
                let (src, dst) = if quoted_fwd {
                    (&st.src, &st.dst)
                } else {
                    (&st.dst, &st.src)
                };
                let dws = if src.wscale != 0 && dst.wscale != 0 {
                    dst.wscale & 0x0f
                } else {
                    0
                };
                let seq = t.seq.wrapping_sub(src.seqdiff);
                let geq = |a: u32, b: u32| a.wrapping_sub(b) as i32 >= 0;
                let lo = src.seqlo.wrapping_sub((dst.max_win as u32) << dws);
                if !geq(src.seqhi, seq) || !geq(seq, lo) {
                    return dropped(self, Reason::StateMismatch);
                }
                if src.seqdiff != 0 {
                    demodulated = Some(seq);
                }
            }
            (_, _, Some(ic)) => {
                // Only a query the state's first packet's way (or a reply
                // the other way) can be quoted back.
                let query = ic.id_is_sport;
                if query != quoted_fwd {
                    return dropped(self, Reason::StateMismatch);
                }
            }
            _ => {}
        }
        let (from, to) = match meta.dir {
            Dir::In => (st.key[SK_WIRE], st.key[SK_STACK]),
            Dir::Out => (st.key[SK_STACK], st.key[SK_WIRE]),
        };
        let (tag, log, rule, anchor) = (st.tag, st.log & LOG_ALL != 0, st.rule, st.anchor);
        // The error travels the other way than the packet it quotes, and
        // is routed as the state's packets that way are.
        let (sroute, fwd) = (st.route, !quoted_fwd);
        let other = if st.key[SK_WIRE] == key {
            st.key[SK_STACK]
        } else {
            st.key[SK_WIRE]
        };
        let sref = (st.id, st.creatorid);
        let tcp_state = st.key[0].proto == IPPROTO_TCP;
        let syncable = !st.sync.no_sync && st.key[0].proto != IPPROTO_PFSYNC;
        let peer_recent = st
            .sync
            .peer_updated
            .is_some_and(|t| now.saturating_sub(t) < crate::pfsync::queue::PEER_RECENT_MS);
        let ci = if fwd { 0 } else { 1 };
        if let Some(st) = self.states.get_mut(slot) {
            st.packets[ci] += 1;
            st.bytes[ci] += len;
        }
        for r in [rule, anchor].into_iter().flatten() {
            if let Some(c) = self.rules.counters_mut(r) {
                let d = if meta.dir == Dir::In { 0 } else { 1 };
                c.packets[d] += 1;
                c.bytes[d] += len;
            }
        }
        if let (Some(r), Some(st)) = (rule, self.states.get(slot)) {
            let (rsrc, rdst) = st.rule_addrs();
            self.table_stats(r, &rsrc, &rdst, meta.dir, OP_PASS, len);
        }
        self.count_match_rules(slot, meta.dir, len);
        if syncable {
            self.sync.update(sref, tcp_state, peer_recent, now);
        }
        let mut modified = false;
        let mut ipd_m = ipd;
        if let Some(seq) = demodulated {
            set_seq_ack(&mut buf[inner_off..tot], &ipd_m, Some(seq), None);
            modified = true;
        }
        if afto {
            // The quoted packet gets the other key's addresses in its own
            // orientation; the error goes from its destination back to its
            // source (pf_change_icmp_af).
            let inner = af::Ends {
                src: other.addr[0],
                dst: other.addr[1],
                sport: other.port[0],
                dport: other.port[1],
            };
            let ident = self.random() as u16;
            let Some(p) = af::translate_icmp_error(buf, pd, (inner.dst, inner.src), &inner, ident)
            else {
                return dropped(self, Reason::Translate);
            };
            let mut v = Verdict::pass(false);
            v.log = log;
            v.forward = Forward::AfTo(p);
            return Some(v);
        }
        // Rewrite each quoted end the state translates, and the outer
        // address that mirrors it (the quoted source is the outer
        // destination and the other way round).
        for i in 0..2 {
            if from.addr[i] != to.addr[i] || from.port[i] != to.port[i] {
                let e = end_for(i, idir);
                set_end(
                    &mut buf[inner_off..tot],
                    &mut ipd_m,
                    e,
                    to.addr[i],
                    to.port[i],
                );
                let outer = match e {
                    End::Src => End::Dst,
                    End::Dst => End::Src,
                };
                let port = match outer {
                    End::Src => pd.sport,
                    End::Dst => pd.dport,
                };
                set_end(buf, pd, outer, to.addr[i], port);
                modified = true;
            }
        }
        if modified {
            translate::refill_icmp_checksum(buf, pd);
        }
        let mut v = Verdict::pass(modified);
        v.log = log;
        v.route(&sroute, fwd, meta);
        tag_packet(&mut v, meta, tag);
        Some(self.state_pass(buf, pd, slot, v))
    }
}

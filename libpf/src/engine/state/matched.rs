//! Packets that belong to a state (pf_test_state): TCP window tracking,
//! UDP/other pseudo-states, counters, the state's translation applied, and
//! ICMP errors matched to the state of the packet they quote.

use super::{tcps, udps, Slot, StateKey, SK_STACK, SK_WIRE};
use crate::engine::packet::{self, Dir, Pd};
use crate::engine::route::Forward;
use crate::engine::status::Reason;
use crate::engine::translate::{self, set_end, set_seq_ack, End};
use crate::engine::{
    af, end_for, reply, rewrite_to_key, tcp, Engine, PacketMeta, Verdict, LOG_ALL,
};
use crate::ruleset::Timeout;
use crate::wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_PFSYNC, IPPROTO_TCP, IPPROTO_UDP};

impl Engine {
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
        let random = self.random();
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
        match (pd.proto, pd.tcp) {
            (IPPROTO_TCP, Some(t)) => {
                let (src, dst) = st.peers_fwd(fwd);
                if t.flags & (crate::wire::tcp::SYN | crate::wire::tcp::ACK)
                    == crate::wire::tcp::SYN
                    && src.state >= tcps::FIN_WAIT_2
                    && dst.state >= tcps::FIN_WAIT_2
                {
                    // The connection is over and a new one reuses the ports.
                    self.remove_state(slot, now, true);
                    return None;
                }
                match tcp::track_full(src, dst, &t, pd.p_len, random, &mut modulation) {
                    tcp::Track::Pass { timeout, refresh } => {
                        if let Some(to) = timeout {
                            st.timeout = to;
                        }
                        if refresh {
                            st.expire = now;
                        }
                    }
                    tcp::Track::Drop { send_rst } => {
                        self.count(Reason::StateMismatch);
                        let mut v = Verdict::drop(Reason::StateMismatch);
                        if send_rst {
                            v.reply = reply::tcp_rst(pd, reply::DEFAULT_TTL);
                        }
                        return Some(v);
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
        let ci = if fwd { 0 } else { 1 };
        st.packets[ci] += 1;
        st.bytes[ci] += len;
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
        let (rule, gen, log) = (st.rule, st.rule_gen, st.log & LOG_ALL != 0);
        if rule.is_some() && gen == self.rules.generation {
            if let Some(c) = rule.and_then(|r| self.rules.counters.get_mut(r as usize)) {
                let d = if dir == Dir::In { 0 } else { 1 };
                c.packets[d] += 1;
                c.bytes[d] += len;
            }
        }
        let mut modified = false;
        if modulation != tcp::Modulation::default() {
            set_seq_ack(buf, pd, modulation.seq, modulation.ack);
            modified = true;
        }
        let translated = if afto {
            let ident = (random >> 16) as u16;
            match af::translate(buf, pd, &af::Ends::from_other_key(&to), ident, true) {
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
            None => v.route(&sroute, fwd, meta),
        }
        Some(v)
    }

    /// ICMP errors belong to the state of the packet they quote. None: no
    /// such state, the rules decide.
    pub(in crate::engine) fn test_icmp_error(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        pd: &mut Pd,
    ) -> Option<Verdict> {
        let inner_off = pd.l4_off + 8;
        let inner = buf.get(inner_off..pd.tot_len)?;
        let ipd = packet::describe_quoted(inner).ok()?;
        if ipd.af != pd.af {
            return None;
        }
        // The quoted packet travelled the other way.
        let idir = match meta.dir {
            Dir::In => Dir::Out,
            Dir::Out => Dir::In,
        };
        // Its key is built in its own direction, but it is looked up (and
        // translated) in the role of the packet carrying it, as pf does.
        let key = StateKey::from_pd(&ipd, idir);
        let slot = self.states.lookup(&key, meta.dir)?;
        let random = self.random();
        let st = self.states.get_mut(slot)?;
        if st.is_afto() {
            // The quoted packet leaves with the other key's addresses, in
            // its own orientation; the error goes from its destination
            // back to its source (pf_change_icmp_af).
            let o = if st.key[SK_WIRE] == key {
                st.key[SK_STACK]
            } else {
                st.key[SK_WIRE]
            };
            let inner = af::Ends {
                src: o.addr[0],
                dst: o.addr[1],
                sport: o.port[0],
                dport: o.port[1],
            };
            return Some(
                match af::translate_icmp_error(
                    buf,
                    pd,
                    (inner.dst, inner.src),
                    &inner,
                    random as u16,
                ) {
                    Some(p) => {
                        let mut v = Verdict::pass(false);
                        v.forward = Forward::AfTo(p);
                        v
                    }
                    None => {
                        self.count(Reason::Translate);
                        Verdict::drop(Reason::Translate)
                    }
                },
            );
        }
        let (from, to) = match meta.dir {
            Dir::In => (st.key[SK_WIRE], st.key[SK_STACK]),
            Dir::Out => (st.key[SK_STACK], st.key[SK_WIRE]),
        };
        // An error travels as a packet of its state does: routed with it.
        let sroute = st.route;
        let fwd = meta.dir == st.direction;
        if from == to {
            let mut v = Verdict::pass(false);
            v.route(&sroute, fwd, meta);
            return Some(v);
        }
        // Rewrite the quoted packet, then the outer address that mirrors
        // each changed inner end, then the ICMP checksum from scratch.
        let mut ipd_m = ipd;
        let tot = pd.tot_len;
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
            }
        }
        translate::refill_icmp_checksum(buf, pd);
        let mut v = Verdict::pass(true);
        v.route(&sroute, fwd, meta);
        Some(v)
    }
}

//! What the fast path (pfcore::fastpath, pfd's eBPF program) did with a
//! state's packets, brought back into the state: its packet and byte
//! counters, its last activity (expiry), the window data of both ends
//! (TCP) or the pseudo-states (UDP; other protocols for pfsync's own
//! frames, daemon::syncpass), and a pfsync update so the peer follows.

use super::matched::track_other;
use super::Slot;
use crate::engine::peer::Peer;
use crate::engine::Engine;
use crate::wire::IPPROTO_TCP;

/// Traffic of a state the fast path passed since it last told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offloaded {
    /// Packets and bytes by the state's counter index ([0]: the way its
    /// first packet went).
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// When the last of them passed (engine ms).
    pub last: Option<u64>,
    /// The window data of the state's `src` and `dst` as the fast path
    /// kept it, and as it was when pfd last wrote or read it there (the
    /// base both moved on from).
    pub window: Option<([Peer; 2], [Peer; 2])>,
    /// Send the pfsync update without the batching delay: the flow is
    /// fast (pfcore::fastpath::FAST_BYTES_PER_S) and this is one of its
    /// regular pulls.
    pub urgent: bool,
}

/// Of `a` and `b`, both moved on from `base`, the one further on. Counted
/// from the base, not by sequence arithmetic between the two: a fast
/// stream moves more than half the sequence space (2 GB) between two
/// pulls, which `a > b` modulo 2^32 would take for a step back.
fn further(base: u32, a: u32, b: u32) -> u32 {
    if b.wrapping_sub(base) > a.wrapping_sub(base) {
        b
    } else {
        a
    }
}

/// Merge an end's window data (`fp`, moved on from `base` by the fast
/// path) into the state's: the sequence edges only move forward.
pub fn merge_peer(st: &mut Peer, base: &Peer, fp: &Peer) {
    st.seqlo = further(base.seqlo, st.seqlo, fp.seqlo);
    st.seqhi = further(base.seqhi, st.seqhi, fp.seqhi);
    st.max_win = st.max_win.max(fp.max_win);
}

impl Engine {
    /// Fold what the fast path did with state `slot`'s packets into it.
    /// False: no such state.
    pub fn offloaded(&mut self, slot: Slot, o: &Offloaded, now: u64) -> bool {
        let Some(st) = self.states.get_mut(slot) else {
            return false;
        };
        let moved = o.packets != [0, 0];
        let proto = st.key[0].proto;
        if proto != IPPROTO_TCP {
            // pf's UDP (and other protocols') pseudo-states move on as if
            // it had seen them (SINGLE, MULTIPLE once both ways), and so
            // the timeout.
            let expire = st.expire;
            for (i, fwd) in [(0, true), (1, false)] {
                if o.packets[i] != 0 {
                    track_other(st, proto, fwd, expire);
                }
            }
        }
        for i in 0..2 {
            st.packets[i] = st.packets[i].wrapping_add(o.packets[i]);
            st.bytes[i] = st.bytes[i].wrapping_add(o.bytes[i]);
        }
        if let Some(t) = o.last {
            st.expire = st.expire.max(t.min(now));
        }
        if let Some(([bs, bd], [s, d])) = &o.window {
            merge_peer(&mut st.src, bs, s);
            merge_peer(&mut st.dst, bd, d);
        }
        if moved {
            self.sync_state_update(slot, o.urgent, now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(seqlo: u32, seqhi: u32, max_win: u16) -> Peer {
        Peer {
            seqlo,
            seqhi,
            max_win,
            ..Peer::default()
        }
    }

    #[test]
    fn window_edges_only_move_forward() {
        // The state moved seqlo further than the fast path, the fast path
        // seqhi.
        let base = peer(50, 4000, 5);
        let mut st = peer(100, 5000, 10);
        merge_peer(&mut st, &base, &peer(60, 6000, 5));
        assert_eq!((st.seqlo, st.seqhi, st.max_win), (100, 6000, 10));
        // Across the wrap of sequence space.
        let base = peer(0xffff_ff00, 0, 0);
        let mut st = base;
        merge_peer(&mut st, &base, &peer(0x10, 0, 0));
        assert_eq!(st.seqlo, 0x10);
        // More than half the sequence space on since the base (a stream
        // of 20 Gbit/s between two pulls a second apart) is still on.
        let base = peer(1_000, 2_000, 0);
        let mut st = base;
        let far = peer(1_000 + 0xa000_0000, 2_000 + 0xa000_0000, 0);
        merge_peer(&mut st, &base, &far);
        assert_eq!((st.seqlo, st.seqhi), (far.seqlo, far.seqhi));
        // And the state's own steps on from there stay.
        let mut st2 = peer(far.seqlo.wrapping_add(10), far.seqhi, 0);
        merge_peer(&mut st2, &base, &far);
        assert_eq!(st2.seqlo, far.seqlo.wrapping_add(10));
    }
}

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
    /// kept it.
    pub window: Option<[Peer; 2]>,
}

/// `a` later than `b` in sequence space.
fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Merge an end's window data: the sequence edges only move forward.
pub fn merge_peer(st: &mut Peer, fp: &Peer) {
    if seq_gt(fp.seqlo, st.seqlo) {
        st.seqlo = fp.seqlo;
    }
    if seq_gt(fp.seqhi, st.seqhi) {
        st.seqhi = fp.seqhi;
    }
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
        if let Some([s, d]) = &o.window {
            merge_peer(&mut st.src, s);
            merge_peer(&mut st.dst, d);
        }
        if moved {
            self.sync_state_update(slot, now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_edges_only_move_forward() {
        let mut st = Peer {
            seqlo: 100,
            seqhi: 5000,
            max_win: 10,
            ..Peer::default()
        };
        merge_peer(
            &mut st,
            &Peer {
                seqlo: 50,
                seqhi: 6000,
                max_win: 5,
                ..Peer::default()
            },
        );
        assert_eq!((st.seqlo, st.seqhi, st.max_win), (100, 6000, 10));
        // Across the wrap of sequence space.
        st.seqlo = 0xffff_fff0;
        merge_peer(
            &mut st,
            &Peer {
                seqlo: 0x10,
                ..Peer::default()
            },
        );
        assert_eq!(st.seqlo, 0x10);
    }
}

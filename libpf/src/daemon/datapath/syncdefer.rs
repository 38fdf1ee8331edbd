//! pfsync `defer` in the data path: the packet that created a state (on
//! its `out` pass, as OpenBSD's pf_test_rule calls pfsync_defer) stays in
//! the kernel's queue until the peer acknowledged the state's insert or
//! `DEFER_MS` passed (`pfsync::defer`); then it gets the verdict the engine
//! gave it then.

use super::sink::{Bytes, Extra};
use super::Worker;
use crate::engine::Verdict;
use crate::pfsync::defer::Undefer;
use crate::pfsync::queue::StateRef;
use crate::sys::nfqueue;

/// A packet held for its state's ack: its id in the queue, its verdict and
/// its bytes as they go on.
pub(super) struct SyncHeld {
    id: u32,
    v: Verdict,
    bytes: Vec<u8>,
}

/// How often the data path looks for acks while it holds packets (ms).
pub(super) const POLL_MS: u32 = 1;

/// Multicast or broadcast destinations are not held (OpenBSD: M_BCAST,
/// M_MCAST); neither is anything that is not a plain IP packet.
fn unicast(pkt: &[u8]) -> bool {
    match pkt.first().map(|b| b >> 4) {
        Some(4) => pkt
            .get(16..20)
            .is_some_and(|d| d[0] < 224 && d != [255, 255, 255, 255]),
        Some(6) => pkt.get(24).is_some_and(|b| *b != 0xff),
        _ => false,
    }
}

/// May packet `p` (its bytes `pkt`), passing with `v`, be held? Asked
/// under the engine's lock right after the packet was filtered, so that
/// the state's insert asks for an ack before pfd can send it.
pub(super) fn eligible(p: &nfqueue::Packet, pkt: &[u8], v: &Verdict) -> bool {
    v.pass && v.hold.is_none() && !p.truncated() && !p.gso && unicast(pkt)
}

impl Worker {
    /// Hold packet `p`, which created state `s` (whose insert asks for an
    /// ack already) and passes with `v`.
    pub(super) fn sync_defer(&mut self, p: &nfqueue::Packet, v: &Verdict, s: StateRef) {
        let held = SyncHeld {
            id: p.id,
            v: v.clone(),
            bytes: self.q.payload(p).to_vec(),
        };
        let now = self.shared.now_ms();
        self.shared.sync_defer.held();
        if let Some((s, old)) = self.sync_held.hold(s, now, held) {
            self.shared.engine().sync.acks.check(&s, true);
            self.shared.sync_defer.released(Undefer::Limit);
            self.sync_go(old);
        }
    }

    /// Let go of the held packets whose state was acked or whose time is
    /// up.
    pub(super) fn sync_undefer(&mut self) {
        if self.sync_held.is_empty() {
            return;
        }
        let mut out = Vec::new();
        {
            let now = self.shared.now_ms();
            let mut e = self.shared.engine();
            self.sync_held
                .release(now, |s, late| e.sync.acks.check(s, late), &mut out);
        }
        for (_, h, why) in out {
            self.shared.sync_defer.released(why);
            if why == Undefer::Timeout {
                crate::log::debug(&format!(
                    "pfsync defer: no ack from the peer in {} ms",
                    crate::pfsync::defer::DEFER_MS
                ));
            }
            self.sync_go(h);
        }
    }

    fn sync_go(&mut self, mut h: SyncHeld) {
        self.sink.finish(
            &mut self.q,
            &self.shared,
            h.id,
            &h.v,
            Bytes::Own(&mut h.bytes),
            Extra::default(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::unicast;

    #[test]
    fn only_unicast_is_held() {
        let mut v4 = vec![0x45u8; 20];
        v4[16..20].copy_from_slice(&[10, 2, 0, 2]);
        assert!(unicast(&v4));
        v4[16..20].copy_from_slice(&[224, 0, 0, 18]);
        assert!(!unicast(&v4));
        v4[16..20].copy_from_slice(&[255, 255, 255, 255]);
        assert!(!unicast(&v4));
        let mut v6 = vec![0u8; 40];
        v6[0] = 0x60;
        v6[24] = 0x20;
        assert!(unicast(&v6));
        v6[24] = 0xff;
        assert!(!unicast(&v6));
        assert!(!unicast(&[0x45]));
    }
}

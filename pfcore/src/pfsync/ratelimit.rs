//! The rate limit on bulk-update requests (not in OpenBSD, where every
//! request is answered): each peer address may start `BURST` bulk updates
//! at once and one more every `REFILL_MS`; requests beyond that are
//! refused (and counted), so forged requests cannot keep the sync link
//! busy with whole state tables. A peer's own retries (every 2 s, see
//! `bulk::RETRY_MS`) are answered within `REFILL_MS`. Pure: time in
//! milliseconds comes in.

use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Bulk updates a peer may start back to back.
pub const BURST: u32 = 3;
/// One more allowed after this long (ms).
pub const REFILL_MS: u64 = 5_000;
/// Peers remembered; beyond it, those with a full allowance are forgotten
/// first, and a request from a new peer is refused while all are in use.
pub const MAX_PEERS: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u32,
    /// When `tokens` was last brought up to date.
    at: u64,
}

impl Bucket {
    fn refill(&mut self, now: u64) {
        let n = now.saturating_sub(self.at) / REFILL_MS;
        if n > 0 {
            self.tokens = (self.tokens as u64 + n).min(BURST as u64) as u32;
            self.at = if self.tokens == BURST {
                now
            } else {
                self.at + n * REFILL_MS
            };
        }
    }
}

#[derive(Debug, Default)]
pub struct BulkLimiter {
    peers: HashMap<Ipv4Addr, Bucket>,
}

impl BulkLimiter {
    pub fn new() -> BulkLimiter {
        BulkLimiter::default()
    }

    /// A bulk request from `peer`: may it start a bulk update?
    pub fn allow(&mut self, peer: Ipv4Addr, now: u64) -> bool {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_PEERS {
            self.peers.retain(|_, b| {
                b.refill(now);
                b.tokens < BURST
            });
            if self.peers.len() >= MAX_PEERS {
                return false;
            }
        }
        let b = self.peers.entry(peer).or_insert(Bucket {
            tokens: BURST,
            at: now,
        });
        b.refill(now);
        if b.tokens == 0 {
            return false;
        }
        b.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 2);

    #[test]
    fn burst_then_one_per_refill() {
        let mut l = BulkLimiter::new();
        let ok = (0..20).filter(|i| l.allow(A, *i * 10)).count();
        assert_eq!(ok, BURST as usize);
        // Another peer has its own allowance.
        assert!(l.allow(B, 200));
        assert!(!l.allow(A, REFILL_MS - 1));
        assert!(l.allow(A, REFILL_MS + 10));
        assert!(!l.allow(A, REFILL_MS + 20));
        // A long quiet time gives back the whole burst, no more.
        let t = 100 * REFILL_MS;
        assert_eq!(
            (0..10).filter(|i| l.allow(A, t + i)).count(),
            BURST as usize
        );
    }

    #[test]
    fn retries_of_a_peer_are_answered_within_a_refill() {
        let mut l = BulkLimiter::new();
        for i in 0..BURST as u64 {
            assert!(l.allow(A, i));
        }
        // The peer retries every 2 s.
        let served = (1..=3).map(|i| i * 2_000).find(|t| l.allow(A, *t));
        assert!(served.is_some_and(|t| t <= REFILL_MS + 2_000), "{served:?}");
    }

    #[test]
    fn many_sources_stay_bounded() {
        let mut l = BulkLimiter::new();
        for i in 0..(MAX_PEERS as u32 + 10) {
            l.allow(Ipv4Addr::from(0x0a00_0000 + i), 0);
        }
        assert!(l.peers.len() <= MAX_PEERS);
        // Once their allowance is back, old sources make room.
        assert!(l.allow(A, BURST as u64 * REFILL_MS));
        assert!(l.peers.len() <= MAX_PEERS);
    }
}

//! pfsync `defer` (OpenBSD's pfsync_defer): the packet that created a
//! state is held until the peer acknowledges the state's insert, or for
//! `DEFER_MS` at most, so that a reply taking the other firewall finds the
//! state there. `Acks` is the engine's side (inserts sent with
//! `PFSTATE_ACK`, the INS_ACKs that came back); `Deferrals` is the data
//! path's (the held packets, their deadlines, at most `DEFER_LIMIT`).
//! Pure: time in milliseconds comes in.

/// (state id, creator id), as `queue::StateRef`.
pub type StateRef = (u64, u32);
use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest a packet is held (PFSYNC_DEFER_NSEC).
pub const DEFER_MS: u64 = 20;
/// Packets held at most; the oldest goes on when another comes
/// (PFSYNC_DEFER_LIMIT).
pub const DEFER_LIMIT: usize = 128;

/// The states whose insert asks the peer for an ack, and the acks in.
#[derive(Debug, Default)]
pub struct Acks {
    asked: HashSet<StateRef>,
    acked: HashSet<StateRef>,
}

impl Acks {
    /// A packet of `s` is held: its insert asks for an ack.
    pub fn ask(&mut self, s: StateRef) {
        self.asked.insert(s);
    }

    /// Does the insert of `s` carry `PFSTATE_ACK`?
    pub fn asks(&self, s: &StateRef) -> bool {
        self.asked.contains(s)
    }

    /// An INS_ACK from the peer; one for nothing we asked is ignored.
    pub fn ack(&mut self, s: StateRef) {
        if self.asked.contains(&s) {
            self.acked.insert(s);
        }
    }

    /// Was `s` acked? Either way, when `done`, `s` is forgotten.
    pub fn check(&mut self, s: &StateRef, done: bool) -> bool {
        let acked = self.acked.contains(s);
        if acked || done {
            self.asked.remove(s);
            self.acked.remove(s);
        }
        acked
    }

    pub fn clear(&mut self) {
        self.asked.clear();
        self.acked.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.asked.is_empty()
    }
}

/// What `defer` did, as OpenBSD's pfsync counts it per slice (kstat
/// `defer-add`, `defer-ack`, `defer-run`, `defer-over`): packets held,
/// let go on the peer's ack, on timeout, because too many were held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferStats {
    pub deferred: u64,
    pub acked: u64,
    pub timeout: u64,
    pub overlimit: u64,
}

impl DeferStats {
    /// Every counter with its name (the metrics' labels), and the packets
    /// held now.
    pub fn fields(&self) -> [(&'static str, u64); 4] {
        [
            ("deferred", self.deferred),
            ("acked", self.acked),
            ("timeout", self.timeout),
            ("overlimit", self.overlimit),
        ]
    }

    pub fn held(&self) -> u64 {
        self.deferred
            .saturating_sub(self.acked + self.timeout + self.overlimit)
    }
}

/// `DeferStats` counted by every data path thread at once.
#[derive(Debug, Default)]
pub struct DeferCounters {
    deferred: AtomicU64,
    acked: AtomicU64,
    timeout: AtomicU64,
    overlimit: AtomicU64,
}

impl DeferCounters {
    pub fn held(&self) {
        self.deferred.fetch_add(1, Ordering::Relaxed);
    }

    /// A held packet went on, for `why`.
    pub fn released(&self, why: Undefer) {
        let c = match why {
            Undefer::Acked => &self.acked,
            Undefer::Timeout => &self.timeout,
            Undefer::Limit => &self.overlimit,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> DeferStats {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DeferStats {
            deferred: l(&self.deferred),
            acked: l(&self.acked),
            timeout: l(&self.timeout),
            overlimit: l(&self.overlimit),
        }
    }
}

/// Why a held packet goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undefer {
    /// The peer acked the insert.
    Acked,
    /// `DEFER_MS` passed.
    Timeout,
    /// Too many held: the oldest goes.
    Limit,
}

/// The packets held by one data path thread.
#[derive(Debug)]
pub struct Deferrals<T> {
    held: VecDeque<(StateRef, u64, T)>,
}

impl<T> Default for Deferrals<T> {
    fn default() -> Self {
        Deferrals {
            held: VecDeque::new(),
        }
    }
}

impl<T> Deferrals<T> {
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Hold `item` for state `s` from `now`; the oldest comes back when
    /// the limit is reached.
    pub fn hold(&mut self, s: StateRef, now: u64, item: T) -> Option<(StateRef, T)> {
        let out = if self.held.len() >= DEFER_LIMIT {
            self.held.pop_front().map(|(s, _, t)| (s, t))
        } else {
            None
        };
        self.held.push_back((s, now + DEFER_MS, item));
        out
    }

    /// When the next deadline is (ms).
    pub fn next_deadline(&self) -> Option<u64> {
        self.held.iter().map(|(_, d, _)| *d).min()
    }

    /// Those that go on now: acked (as `acked` says, given whether their
    /// time is up) or timed out.
    pub fn release(
        &mut self,
        now: u64,
        mut acked: impl FnMut(&StateRef, bool) -> bool,
        out: &mut Vec<(StateRef, T, Undefer)>,
    ) {
        let mut i = 0;
        while i < self.held.len() {
            let (s, deadline, _) = &self.held[i];
            let late = now >= *deadline;
            let why = if acked(s, late) {
                Some(Undefer::Acked)
            } else if late {
                Some(Undefer::Timeout)
            } else {
                None
            };
            match why.and_then(|w| self.held.remove(i).map(|(s, _, t)| (s, t, w))) {
                Some(r) => out.push(r),
                None => i += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_only_for_what_was_asked() {
        let mut a = Acks::default();
        a.ack((1, 7));
        assert!(!a.check(&(1, 7), false));
        a.ask((1, 7));
        assert!(a.asks(&(1, 7)));
        assert!(!a.check(&(1, 7), false));
        a.ack((1, 7));
        assert!(a.check(&(1, 7), false));
        assert!(a.is_empty(), "forgotten once acked");
        a.ask((2, 7));
        assert!(!a.check(&(2, 7), true));
        assert!(a.is_empty(), "forgotten on timeout");
    }

    #[test]
    fn held_until_acked_or_twenty_ms() {
        let mut d = Deferrals::default();
        let mut acks = Acks::default();
        for (i, t) in [(1u64, 0u64), (2, 5), (3, 10)] {
            acks.ask((i, 9));
            assert!(d.hold((i, 9), t, i).is_none());
        }
        assert_eq!(d.next_deadline(), Some(DEFER_MS));
        let mut out = Vec::new();
        d.release(4, |s, late| acks.check(s, late), &mut out);
        assert!(out.is_empty());
        acks.ack((2, 9));
        d.release(6, |s, late| acks.check(s, late), &mut out);
        assert_eq!(out, vec![((2, 9), 2, Undefer::Acked)]);
        out.clear();
        d.release(DEFER_MS, |s, late| acks.check(s, late), &mut out);
        assert_eq!(out, vec![((1, 9), 1, Undefer::Timeout)]);
        out.clear();
        d.release(10 + DEFER_MS, |s, late| acks.check(s, late), &mut out);
        assert_eq!(out, vec![((3, 9), 3, Undefer::Timeout)]);
        assert!(d.is_empty() && acks.is_empty());
    }

    #[test]
    fn counters() {
        let c = DeferCounters::default();
        for _ in 0..4 {
            c.held();
        }
        c.released(Undefer::Acked);
        c.released(Undefer::Timeout);
        c.released(Undefer::Limit);
        let s = c.snapshot();
        assert_eq!(
            s,
            DeferStats {
                deferred: 4,
                acked: 1,
                timeout: 1,
                overlimit: 1
            }
        );
        assert_eq!(s.held(), 1);
        assert_eq!(s.fields()[2], ("timeout", 1));
    }

    #[test]
    fn limit_lets_the_oldest_go() {
        let mut d = Deferrals::default();
        for i in 0..DEFER_LIMIT as u64 {
            assert!(d.hold((i, 1), 0, i).is_none());
        }
        assert_eq!(d.hold((999, 1), 1, 999), Some(((0, 1), 0)));
        assert_eq!(d.len(), DEFER_LIMIT);
    }
}

//! The queue of local state changes waiting to go out to the pfsync peers,
//! with OpenBSD's merging rules: one pending message per state, updates
//! merged until `maxupd` of them piled up on a TCP state, a one-second
//! batching delay, and "urgent" changes flushed at once. New states wait
//! at most `INSERT_DELAY_MS`, or until `BATCH_INSERTS` of them are here
//! (OpenBSD fills a frame too, but waits up to a second for it). Pure: the
//! engine feeds it ids and time, the sender drains it.

use super::defer::Acks;
use crate::wire::pfsync::Message;
use std::collections::HashMap;

/// Longest a queued change waits before it is sent (ms).
pub const BATCH_DELAY_MS: u64 = 1000;
/// A local change to a state the peer updated less than this long ago is
/// sent at once, so active-active pairs converge (ms).
pub const PEER_RECENT_MS: u64 = 2000;
/// Longest a new state waits for others to share its frame (ms): at a
/// high rate of new states a frame fills long before, at a low one a
/// frame with one state goes out this late. Without the wait, every new
/// state woke the sender on its own and went out in a frame of one or
/// two (a pfsync frame, and its trip through both hosts, per state).
pub const INSERT_DELAY_MS: u64 = 2;
/// This many new states pending go out at once (a dozen full frames:
/// `pfsync_state` is 264 bytes, five fit in a 1500-byte frame). At
/// 100,000 new states a second that is every 0.64 ms: the sender is woken
/// per batch of frames, not per frame.
pub const BATCH_INSERTS: usize = 64;

/// What is pending for one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// Announce the whole state (INS).
    Insert,
    /// Send a compressed update; `updates` merged so far.
    Update { updates: u8 },
    /// Announce its removal (DEL_C).
    Delete,
}

/// (state id, creator id)
pub type StateRef = (u64, u32);

#[derive(Debug, Default)]
pub struct SyncQueue {
    enabled: bool,
    maxupd: u8,
    pending: HashMap<StateRef, Pending>,
    order: Vec<StateRef>,
    /// Ready-made messages (update requests, answers to them, acks).
    extra: Vec<Message>,
    first_queued: Option<u64>,
    /// The first new state pending, and how many are (`INSERT_DELAY_MS`).
    first_insert: Option<u64>,
    inserts: usize,
    urgent: bool,
    /// The flush became due sooner since `take_wake` was last asked
    /// (the sender waits for the old time).
    wake: bool,
    /// pfsync0's `defer`.
    defer: bool,
    /// Inserts that ask the peer for an ack (`defer`), and its acks.
    pub acks: Acks,
    /// The state the last `insert` was for (the data path asks right
    /// after a packet: did it create a state to defer?).
    last_insert: Option<StateRef>,
}

impl SyncQueue {
    pub fn new(maxupd: u8) -> SyncQueue {
        SyncQueue {
            maxupd,
            ..SyncQueue::default()
        }
    }

    /// Nothing is queued while no pfsync interface is attached.
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
        if !on {
            self.pending.clear();
            self.order.clear();
            self.extra.clear();
            self.first_queued = None;
            self.first_insert = None;
            self.inserts = 0;
            self.urgent = false;
            self.acks.clear();
            self.last_insert = None;
        }
    }

    pub fn set_defer(&mut self, on: bool) {
        self.defer = on;
    }

    /// Is `defer` on (and pfsync running)?
    pub fn defers(&self) -> bool {
        self.enabled && self.defer
    }

    /// The state the last `insert` since the last call was for.
    pub fn take_last_insert(&mut self) -> Option<StateRef> {
        self.last_insert.take()
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn set_maxupd(&mut self, maxupd: u8) {
        self.maxupd = maxupd;
    }

    fn touch(&mut self, now: u64) {
        if self.first_queued.is_none() {
            self.first_queued = Some(now);
        }
        // Entries cancelled before they went out (an insert and its
        // delete) stay in `order` until the next drain; with no pfsyncd
        // draining, they are dropped here so that the queue stays within
        // one entry per state.
        if self.order.len() > 2 * self.pending.len() + 1024 {
            let pending = &self.pending;
            self.order.retain(|s| pending.contains_key(s));
        }
    }

    /// A new local state. New states are announced without the batching
    /// delay (a connection a failover would break otherwise): within
    /// `INSERT_DELAY_MS`, at once when `BATCH_INSERTS` are pending or `defer`
    /// holds their first packet; they are still merged with whatever else
    /// is pending.
    pub fn insert(&mut self, s: StateRef, now: u64) {
        if !self.enabled {
            return;
        }
        if self.pending.insert(s, Pending::Insert).is_none() {
            self.order.push(s);
        }
        self.last_insert = Some(s);
        self.touch(now);
        if self.first_insert.is_none() {
            self.first_insert = Some(now);
            self.wake = true;
        }
        self.inserts += 1;
        if self.defer || self.inserts >= BATCH_INSERTS {
            self.set_urgent();
        }
    }

    /// A local change to a state. `tcp`: maxupd applies. `urgent`: send it
    /// without the batching delay (the peer updated this state less than
    /// two seconds ago, or the fast path moves it fast).
    pub fn update(&mut self, s: StateRef, tcp: bool, urgent: bool, now: u64) {
        if !self.enabled {
            return;
        }
        match self.pending.get_mut(&s) {
            Some(Pending::Insert) | Some(Pending::Delete) => {}
            Some(Pending::Update { updates }) => {
                if tcp {
                    *updates = updates.saturating_add(1);
                    if *updates >= self.maxupd {
                        self.set_urgent();
                    }
                }
            }
            None => {
                self.pending.insert(s, Pending::Update { updates: 0 });
                self.order.push(s);
                if tcp && self.maxupd == 0 {
                    self.set_urgent();
                }
            }
        }
        if urgent {
            self.set_urgent();
        }
        self.touch(now);
    }

    /// A state went away. If its insert had not gone out yet, nobody needs
    /// to hear about it at all.
    pub fn delete(&mut self, s: StateRef, now: u64) {
        if !self.enabled {
            return;
        }
        match self.pending.get(&s) {
            Some(Pending::Insert) => {
                self.pending.remove(&s);
            }
            Some(_) => {
                self.pending.insert(s, Pending::Delete);
            }
            None => {
                self.pending.insert(s, Pending::Delete);
                self.order.push(s);
            }
        }
        self.touch(now);
    }

    /// Queue a ready-made message; `urgent` sends it without delay.
    pub fn push_message(&mut self, m: Message, urgent: bool, now: u64) {
        if !self.enabled {
            return;
        }
        self.extra.push(m);
        self.touch(now);
        if urgent {
            self.set_urgent();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.extra.is_empty()
    }

    pub fn is_urgent(&self) -> bool {
        self.urgent && !self.is_empty()
    }

    fn set_urgent(&mut self) {
        if !self.urgent {
            self.urgent = true;
            self.wake = true;
        }
    }

    /// Did the flush become due sooner since the last call (the sender,
    /// waiting for the earlier due time, is to be woken)? Once per change,
    /// so the data path wakes the sender once per batch, not per packet.
    pub fn take_wake(&mut self) -> bool {
        std::mem::take(&mut self.wake) && !self.is_empty()
    }

    /// When the queue must be flushed (ms), if anything is queued.
    pub fn due_at(&self) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        let first = self.first_queued?;
        if self.urgent {
            return Some(first);
        }
        let batch = first + BATCH_DELAY_MS;
        Some(
            self.first_insert
                .map_or(batch, |i| batch.min(i + INSERT_DELAY_MS)),
        )
    }

    /// Take everything pending, in the order it was queued.
    pub fn drain(&mut self) -> (Vec<(StateRef, Pending)>, Vec<Message>) {
        let mut out = Vec::with_capacity(self.pending.len());
        for s in self.order.drain(..) {
            if let Some(p) = self.pending.remove(&s) {
                out.push((s, p));
            }
        }
        self.pending.clear();
        self.first_queued = None;
        self.first_insert = None;
        self.inserts = 0;
        self.urgent = false;
        self.wake = false;
        (out, std::mem::take(&mut self.extra))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undrained_queue_stays_bounded() {
        let mut q = SyncQueue::new(128);
        q.set_enabled(true);
        for id in 0..100_000u64 {
            q.insert((id, 9), id);
            q.delete((id, 9), id);
        }
        assert!(q.is_empty());
        assert!(q.order.len() <= 1024 + 1, "order {}", q.order.len());
        q.insert((7, 1), 0);
        q.update((8, 1), false, false, 0);
        let (out, _) = q.drain();
        assert_eq!(
            out,
            vec![
                ((7, 1), Pending::Insert),
                ((8, 1), Pending::Update { updates: 0 })
            ]
        );
    }

    #[test]
    fn merges_and_batches() {
        let mut q = SyncQueue::new(128);
        q.update((1, 9), true, false, 0);
        assert_eq!(q.due_at(), None, "disabled queue stays empty");
        q.set_enabled(true);
        q.update((1, 9), true, false, 100);
        q.update((1, 9), true, false, 200);
        assert!(!q.is_urgent());
        assert_eq!(q.due_at(), Some(1100));
        let (items, _) = q.drain();
        assert_eq!(items, vec![((1, 9), Pending::Update { updates: 1 })]);
        assert!(q.is_empty());
    }

    #[test]
    fn maxupd_and_peer_recent_make_it_urgent() {
        let mut q = SyncQueue::new(3);
        q.set_enabled(true);
        for _ in 0..3 {
            q.update((1, 9), true, false, 0);
        }
        assert!(!q.is_urgent());
        q.update((1, 9), true, false, 0);
        assert!(q.is_urgent());
        q.drain();
        // UDP never reaches maxupd.
        for _ in 0..10 {
            q.update((2, 9), false, false, 0);
        }
        assert!(!q.is_urgent());
        q.update((2, 9), false, true, 0);
        assert!(q.is_urgent());
    }

    #[test]
    fn inserts_wait_for_a_batch_or_the_insert_delay() {
        let mut q = SyncQueue::new(128);
        q.set_enabled(true);
        q.update((1, 9), false, false, 0);
        q.insert((2, 9), 500);
        assert!(!q.is_urgent());
        assert_eq!(q.due_at(), Some(500 + INSERT_DELAY_MS));
        for id in 3..2 + BATCH_INSERTS as u64 {
            q.insert((id, 9), 501);
        }
        assert!(q.is_urgent(), "a batch goes at once");
        assert_eq!(q.due_at(), Some(0));
        assert!(q.take_wake());
        assert!(!q.take_wake(), "woken once");
        q.drain();
        assert_eq!(q.due_at(), None);
        // With defer, the held packet waits for the insert's ack.
        q.set_defer(true);
        q.insert((9, 9), 600);
        assert!(q.is_urgent());
        assert_eq!(q.due_at(), Some(600));
    }

    #[test]
    fn insert_then_delete_cancels() {
        let mut q = SyncQueue::new(128);
        q.set_enabled(true);
        q.set_defer(true);
        q.insert((5, 1), 10);
        assert!(q.is_urgent());
        q.update((5, 1), true, false, 11);
        q.delete((5, 1), 12);
        assert!(q.is_empty());
        q.update((6, 1), true, false, 13);
        q.delete((6, 1), 14);
        assert_eq!(q.drain().0, vec![((6, 1), Pending::Delete)]);
    }
}

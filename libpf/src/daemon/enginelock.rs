//! The engine's lock, with an order among those who want it: a packet (or
//! a single request) waiting for the engine goes before the next piece of
//! a long walk over the state table (the listing `pfctl -ss` asks for, the
//! expiry pass).
//!
//! std's mutex is not fair: a thread that lets the engine go and takes it
//! again at once wins against one that was woken on another CPU and has
//! not run yet (tens of microseconds later). A walk that takes the engine
//! a few thousand times in a row, yielding in between, kept the data path
//! out for milliseconds. Here the walk looks, before each piece, whether
//! anyone is waiting, and lets them have the engine first.
//!
//! It counts how often a thread found the engine taken and how long it
//! waited (`pfctl -si`, Packet Queue): what the queues' threads lose to
//! sharing one engine.

use crate::engine::Engine;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

/// How long a walk defers to waiting threads before it takes the engine
/// anyway (several busy queues could otherwise keep it out for good).
const DEFER_MAX: Duration = Duration::from_millis(2);

/// The engine behind its mutex, and how many threads wait for it.
pub struct EngineLock {
    m: Mutex<Engine>,
    /// Threads blocked in `lock` (not the walks).
    waiting: AtomicU32,
    /// Times `lock` found the engine taken, and microseconds it waited.
    waits: AtomicU64,
    wait_us: AtomicU64,
}

impl EngineLock {
    pub fn new(e: Engine) -> EngineLock {
        EngineLock {
            m: Mutex::new(e),
            waiting: AtomicU32::new(0),
            waits: AtomicU64::new(0),
            wait_us: AtomicU64::new(0),
        }
    }

    /// The engine for one packet or one request. A thread that panicked
    /// while holding it left the engine as it was (never half a change
    /// the next user could trip over: the engine's own operations do not
    /// panic midway), so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Engine> {
        match self.m.try_lock() {
            Ok(g) => return g,
            Err(TryLockError::Poisoned(e)) => return e.into_inner(),
            Err(TryLockError::WouldBlock) => {}
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let t0 = Instant::now();
        let g = self.m.lock().unwrap_or_else(|e| e.into_inner());
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        self.waits.fetch_add(1, Ordering::Relaxed);
        let us = t0.elapsed().as_micros() as u64;
        self.wait_us.fetch_add(us, Ordering::Relaxed);
        g
    }

    /// `pfctl -z`: count the waits from now on.
    pub fn clear_waits(&self) {
        self.waits.store(0, Ordering::Relaxed);
        self.wait_us.store(0, Ordering::Relaxed);
    }

    /// Times `lock` found the engine taken, and microseconds waited then.
    pub fn waits(&self) -> (u64, u64) {
        (
            self.waits.load(Ordering::Relaxed),
            self.wait_us.load(Ordering::Relaxed),
        )
    }

    /// The engine for the next piece of a walk: once no thread waits in
    /// `lock` (or after `DEFER_MAX`). Hold it for well under a millisecond.
    pub fn lock_after_waiters(&self) -> MutexGuard<'_, Engine> {
        let mut since = None;
        let mut spins = 0u32;
        while self.waiting.load(Ordering::SeqCst) > 0 {
            let t0 = *since.get_or_insert_with(Instant::now);
            if t0.elapsed() >= DEFER_MAX {
                break;
            }
            // The waiter was woken: it needs a CPU, perhaps this one.
            if spins < 32 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(20));
            }
            spins += 1;
        }
        self.m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many threads wait for the engine now.
    pub fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn engine() -> Engine {
        Engine::new(1, 1)
    }

    #[test]
    fn a_waiter_goes_before_the_next_piece_of_a_walk() {
        let l = Arc::new(EngineLock::new(engine()));
        let g = l.lock();
        let l2 = l.clone();
        let waiter = std::thread::spawn(move || {
            let _g = l2.lock();
            Instant::now()
        });
        while l.waiting() == 0 {
            std::thread::yield_now();
        }
        drop(g);
        let walk = l.lock_after_waiters();
        let walked = Instant::now();
        drop(walk);
        let waited = waiter.join().unwrap();
        assert!(waited <= walked, "the walk took the engine first");
        assert_eq!(l.waiting(), 0);
        assert_eq!(l.waits().0, 1, "one thread found it taken");
    }

    #[test]
    fn a_walk_is_not_kept_out_for_good() {
        let l = EngineLock::new(engine());
        // A waiter that never comes (as if several queues kept waiting).
        l.waiting.fetch_add(1, Ordering::SeqCst);
        let t0 = Instant::now();
        drop(l.lock_after_waiters());
        assert!(t0.elapsed() >= DEFER_MAX);
        assert!(t0.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn poisoned_is_still_the_engine() {
        let l = Arc::new(EngineLock::new(engine()));
        let l2 = l.clone();
        let _ = std::thread::spawn(move || {
            let _g = l2.lock();
            panic!("while holding the engine");
        })
        .join();
        drop(l.lock());
        drop(l.lock_after_waiters());
    }
}

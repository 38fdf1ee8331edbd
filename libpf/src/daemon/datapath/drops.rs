//! Packets the kernel dropped before pfd saw them: pf's `congestion`
//! (pfd's queue was full) and `memory` (pfd's socket had no room).

use super::super::Shared;
use crate::log;
use crate::sys::nfqueue::{self, Drops};

/// The kernel's drops for pfd's queues since the last `pfctl -Fi`:
/// `full` counts into pf's `congestion`, `no_room` into `memory`.
#[derive(Debug, Default)]
pub struct KernelDrops {
    base: std::sync::Mutex<Drops>,
    /// The total when `warn` last looked.
    warned: std::sync::atomic::AtomicU64,
}

impl KernelDrops {
    /// The queues as /proc has them now.
    pub fn now(shared: &Shared) -> Drops {
        let h = &shared.opts.hooks;
        nfqueue::kernel_drops(h.queue, h.queues.max(1)).unwrap_or_default()
    }

    /// The drops since the last `clear` (and the packets waiting now).
    pub fn since_clear(&self, shared: &Shared) -> Drops {
        let base = *self.base.lock().unwrap_or_else(|e| e.into_inner());
        let d = Self::now(shared);
        Drops {
            waiting: d.waiting,
            full: d.full.saturating_sub(base.full),
            no_room: d.no_room.saturating_sub(base.no_room),
        }
    }

    /// Say (every ten seconds at most, from the maintenance thread) that
    /// the kernel dropped packets since the last time.
    pub fn warn(&self, shared: &Shared) {
        use std::sync::atomic::Ordering;
        let d = Self::now(shared);
        let total = d.full + d.no_room;
        let before = self.warned.swap(total, Ordering::Relaxed);
        if total > before {
            log::warning(&format!(
                "{} packets dropped by the kernel: pfd could not take them in time (pfctl -si: congestion, memory)",
                total - before
            ));
        }
    }

    pub fn clear(&self, shared: &Shared) {
        *self.base.lock().unwrap_or_else(|e| e.into_inner()) = Self::now(shared);
    }
}

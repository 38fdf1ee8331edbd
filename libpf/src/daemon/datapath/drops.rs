//! Packets the kernel dropped before pfd saw them: pf's `congestion`.

use super::super::Shared;
use crate::log;
use crate::sys::nfqueue;

/// Packets the kernel dropped before pfd could see them (its queues or
/// pfd's socket buffers were full): pf's `congestion` counter, since the
/// last `pfctl -Fi`.
#[derive(Debug, Default)]
pub struct KernelDrops {
    base: std::sync::Mutex<u64>,
    /// The total when `warn` last looked.
    warned: std::sync::atomic::AtomicU64,
}

impl KernelDrops {
    fn total(shared: &Shared) -> u64 {
        let h = &shared.opts.hooks;
        nfqueue::kernel_drops(h.queue, h.queues.max(1)).unwrap_or(0)
    }

    /// The drops since the last `clear`.
    pub fn since_clear(&self, shared: &Shared) -> u64 {
        let base = *self.base.lock().unwrap_or_else(|e| e.into_inner());
        Self::total(shared).saturating_sub(base)
    }

    /// Say (every ten seconds at most, from the maintenance thread) that
    /// the kernel dropped packets since the last time.
    pub fn warn(&self, shared: &Shared) {
        use std::sync::atomic::Ordering;
        let total = Self::total(shared);
        let before = self.warned.swap(total, Ordering::Relaxed);
        if total > before {
            log::warning(&format!(
                "{} packets dropped by the kernel: pfd could not take them in time (pfctl -si: congestion)",
                total - before
            ));
        }
    }

    pub fn clear(&self, shared: &Shared) {
        *self.base.lock().unwrap_or_else(|e| e.into_inner()) = Self::total(shared);
    }
}

//! The kernel's side of pfd's queues as the ruleset sets it: how many
//! packets wait for pfd (`set limit nfqueue`, plus room for the fragments
//! pf holds, `set limit frags`) and what happens to those it has no room
//! for (`set fail-policy`: dropped, or passed unfiltered). Applied when a
//! queue is bound and again after every commit that changes it.

use super::HOLD_MAX;
use crate::engine::Engine;
use crate::log;
use crate::ruleset::Limit;
use crate::sys::nfqueue;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;

/// A queue's length and fail policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueParams {
    pub maxlen: u32,
    pub fail_open: bool,
}

impl QueueParams {
    /// What the engine's options ask for.
    pub fn of(e: &Engine) -> QueueParams {
        let held = e.limit(Limit::Frags).min(HOLD_MAX);
        QueueParams {
            maxlen: e.limit(Limit::Queue).saturating_add(held).max(1),
            fail_open: e.options().fail_open.unwrap_or(false),
        }
    }
}

/// The queues bound, each with a descriptor of its socket to reconfigure
/// it by, and the parameters last given.
#[derive(Debug, Default)]
pub struct Queues {
    inner: Mutex<Vec<(u16, OwnedFd, QueueParams)>>,
}

impl Queues {
    pub fn add(&self, num: u16, fd: OwnedFd, p: QueueParams) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((num, fd, p));
    }

    /// Give every queue the parameters the engine asks for now, if they
    /// changed.
    pub fn apply(&self, e: &Engine) {
        let want = QueueParams::of(e);
        let mut v = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (num, fd, have) in v.iter_mut() {
            if *have == want {
                continue;
            }
            match nfqueue::reconfigure(fd.as_raw_fd(), *num, want.maxlen, want.fail_open) {
                Ok(()) => {
                    *have = want;
                    log::info(&format!(
                        "NFQUEUE {num}: {} packets, fail-policy {}",
                        want.maxlen,
                        if want.fail_open { "open" } else { "closed" }
                    ));
                }
                Err(e) => log::err(&format!("NFQUEUE {num}: cannot reconfigure: {e}")),
            }
        }
    }

    /// The parameters of the first queue (all have the same).
    pub fn params(&self) -> Option<QueueParams> {
        let v = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        v.first().map(|q| q.2)
    }
}

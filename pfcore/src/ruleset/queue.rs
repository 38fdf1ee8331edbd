//! Queue definitions (`queue name on if ...`, pf.conf(5) QUEUEING): one
//! HFSC class or FQ-CoDel flow queue, resolved the way pfctl hands it to
//! the kernel (OpenBSD's `struct pf_queuespec`).
//!
//! NOT ENFORCED ON LINUX YET: pfctl parses, checks and prints queues
//! (`pfctl -nv`), but they are not loaded into pfd and no traffic is shaped
//! or scheduled by them.

use serde::{Deserialize, Serialize};

/// One bandwidth value: bits per second, or a percentage of the parent
/// (pfctl refuses percentages for now, so `percent` stays 0 in practice).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueBw {
    pub absolute: u64,
    pub percent: u32,
}

/// A service curve: `m2` is the steady rate; with `burst m1 for d ms` the
/// first `d` milliseconds run at `m1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSc {
    pub m1: QueueBw,
    pub m2: QueueBw,
    pub d: u32,
}

/// One queue, as loaded (children carry their root's interface).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSpec {
    pub name: String,
    /// Empty for a root queue.
    pub parent: String,
    /// Empty for a child declared without `on`.
    pub ifname: String,
    /// `bandwidth ..., min ...` (real-time curve).
    pub realtime: QueueSc,
    /// `bandwidth ...` (link-sharing curve).
    pub linkshare: QueueSc,
    /// `bandwidth ..., max ...` (upper limit).
    pub upperlimit: QueueSc,
    /// `flows N`: an FQ-CoDel flow queue (0 = not one).
    pub flows: u32,
    pub quantum: u32,
    /// Flow-queue interval and target in nanoseconds (pf.conf cannot set
    /// them; printed when non-zero).
    pub interval: u32,
    pub target: u32,
    pub qlimit: u32,
    /// `PFQS_FLOWQUEUE`
    pub flowqueue: bool,
    /// `PFQS_ROOTCLASS`: a root queue with a bandwidth (an HFSC root).
    pub root_class: bool,
    /// `default`: unclassified traffic goes here.
    pub default: bool,
}

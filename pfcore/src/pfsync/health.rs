//! Is the pair in sync? The health check behind `pfmetrics -c`: pfsync is
//! up but no pfsyncd is attached, the peer has been silent longer than a
//! threshold, or the bulk update this host asked for is stuck. Pure: the
//! view of pfsync and the thresholds come in, the problems go out.

use super::stats::{BulkPhase, PfsyncReport};

/// Defaults: silence tolerated (pfsyncd sends a keepalive every second
/// when it has nothing else to send), and how long a bulk update may stay
/// pending.
pub const SILENT_MS: u64 = 5_000;
pub const BULK_MS: u64 = 60_000;

/// pfsync as a client sees it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncView {
    /// pfsync0 is up with a syncdev.
    pub configured: bool,
    /// A pfsyncd is attached to pfd.
    pub attached: bool,
    /// pfsyncd's last report, aged to now.
    pub report: Option<PfsyncReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub silent_ms: u64,
    pub bulk_ms: u64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            silent_ms: SILENT_MS,
            bulk_ms: BULK_MS,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// pfsync0 is up but no pfsyncd runs.
    NoDaemon,
    /// pfsyncd runs but has not reported yet.
    NoReport,
    /// The sync link is not up in pfsyncd (no address, no interface).
    LinkDown,
    /// Nothing from the peer for this long (None: never, for this long
    /// since the link came up).
    Silent { ms: u64, ever: bool },
    /// The bulk update has been in this phase for this long.
    BulkStuck { phase: BulkPhase, ms: u64 },
}

impl core::fmt::Display for Problem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let secs = |ms: u64| ms as f64 / 1000.0;
        match self {
            Problem::NoDaemon => write!(f, "pfsync0 is up but pfsyncd is not running"),
            Problem::NoReport => write!(f, "pfsyncd has not reported yet"),
            Problem::LinkDown => write!(f, "pfsyncd has no sync link"),
            Problem::Silent { ms, ever: true } => {
                write!(f, "sync peer silent for {:.1} s", secs(*ms))
            }
            Problem::Silent { ms, ever: false } => {
                write!(
                    f,
                    "sync peer not heard in {:.1} s since pfsync came up",
                    secs(*ms)
                )
            }
            Problem::BulkStuck { phase, ms } => {
                write!(f, "bulk update {} for {:.1} s", phase.name(), secs(*ms))
            }
        }
    }
}

/// The problems, none when healthy. pfsync down is healthy: there is no
/// peer to be in sync with.
pub fn check(v: &SyncView, t: &Thresholds) -> Vec<Problem> {
    if !v.configured {
        return vec![];
    }
    if !v.attached {
        return vec![Problem::NoDaemon];
    }
    let Some(r) = v.report else {
        return vec![Problem::NoReport];
    };
    let mut p = vec![];
    if r.up_ms == 0 {
        p.push(Problem::LinkDown);
    } else {
        let (ms, ever) = match r.last_heard_ms {
            Some(ms) => (ms, true),
            None => (r.up_ms, false),
        };
        if ms > t.silent_ms {
            p.push(Problem::Silent { ms, ever });
        }
    }
    if r.bulk.pending() && r.bulk_phase_ms > t.bulk_ms {
        p.push(Problem::BulkStuck {
            phase: r.bulk,
            ms: r.bulk_phase_ms,
        });
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(r: PfsyncReport) -> SyncView {
        SyncView {
            configured: true,
            attached: true,
            report: Some(r),
        }
    }

    #[test]
    fn down_is_healthy_and_missing_daemon_is_not() {
        let t = Thresholds::default();
        assert!(check(&SyncView::default(), &t).is_empty());
        let v = SyncView {
            configured: true,
            ..Default::default()
        };
        assert_eq!(check(&v, &t), vec![Problem::NoDaemon]);
        let v = SyncView {
            configured: true,
            attached: true,
            report: None,
        };
        assert_eq!(check(&v, &t), vec![Problem::NoReport]);
    }

    #[test]
    fn silence_past_the_threshold_fails() {
        let t = Thresholds::default();
        let r = PfsyncReport {
            up_ms: 60_000,
            last_heard_ms: Some(900),
            bulk: BulkPhase::Done,
            bulk_phase_ms: 50_000,
            ..Default::default()
        };
        assert!(check(&view(r), &t).is_empty());
        let r = PfsyncReport {
            last_heard_ms: Some(5_001),
            ..r
        };
        assert_eq!(
            check(&view(r), &t),
            vec![Problem::Silent {
                ms: 5_001,
                ever: true
            }]
        );
        // Never heard: counted from the link coming up.
        let r = PfsyncReport {
            last_heard_ms: None,
            up_ms: 2_000,
            ..r
        };
        assert!(check(&view(r), &t).is_empty());
        let r = PfsyncReport { up_ms: 9_000, ..r };
        let p = check(&view(r), &t);
        assert_eq!(
            p,
            vec![Problem::Silent {
                ms: 9_000,
                ever: false
            }]
        );
        assert_eq!(
            p[0].to_string(),
            "sync peer not heard in 9.0 s since pfsync came up"
        );
        let r = PfsyncReport { up_ms: 0, ..r };
        assert_eq!(check(&view(r), &t), vec![Problem::LinkDown]);
    }

    #[test]
    fn a_pending_bulk_update_past_its_time_is_stuck() {
        let t = Thresholds {
            silent_ms: 5_000,
            bulk_ms: 10_000,
        };
        let r = PfsyncReport {
            up_ms: 60_000,
            last_heard_ms: Some(10),
            bulk: BulkPhase::Receiving,
            bulk_phase_ms: 10_001,
            ..Default::default()
        };
        let p = check(&view(r), &t);
        assert_eq!(
            p,
            vec![Problem::BulkStuck {
                phase: BulkPhase::Receiving,
                ms: 10_001
            }]
        );
        assert_eq!(p[0].to_string(), "bulk update receiving for 10.0 s");
        // Done or failed is not stuck.
        for phase in [BulkPhase::Done, BulkPhase::Failed, BulkPhase::Idle] {
            let r = PfsyncReport { bulk: phase, ..r };
            assert!(check(&view(r), &t).is_empty());
        }
    }
}

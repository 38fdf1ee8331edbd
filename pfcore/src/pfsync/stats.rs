//! What pfsyncd counts and reports to pfd: OpenBSD's `struct pfsyncstats`
//! (`netstat -s -p pfsync`), when the peer was last heard, and where the
//! bulk update stands. `carpctl -s pfsync0` prints it as netstat does;
//! the metrics export and the health check read it.

use crate::pfsync::defer::DeferStats;
use serde::{Deserialize, Serialize};

/// `struct pfsyncstats` of sys/net/if_pfsync.h, field for field.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfsyncStats {
    /// Input packets, IPv4 (every frame the raw socket gave pfsyncd).
    pub ipackets: u64,
    /// Input packets, IPv6 (pfsync is IPv4 only here: always 0).
    pub ipackets6: u64,
    /// Not the syncdev.
    pub badif: u64,
    /// TTL not 255.
    pub badttl: u64,
    /// Shorter than the IP and pfsync headers.
    pub hdrops: u64,
    /// Unsupported pfsync version.
    pub badver: u64,
    /// Unknown action that could not be stepped over.
    pub badact: u64,
    /// Length does not match the data.
    pub badlen: u64,
    /// Failed authentication.
    pub badauth: u64,
    /// Updates older than the state here.
    pub stale: u64,
    /// Messages with bad values.
    pub badval: u64,
    /// Insert or lookup failed.
    pub badstate: u64,
    /// Output packets, IPv4.
    pub opackets: u64,
    /// Output packets, IPv6 (always 0).
    pub opackets6: u64,
    /// No buffer for a frame.
    pub onomem: u64,
    /// Send errors.
    pub oerrors: u64,
}

impl PfsyncStats {
    /// Every counter with its OpenBSD field name, in struct order.
    pub fn fields(&self) -> [(&'static str, u64); 16] {
        [
            ("ipackets", self.ipackets),
            ("ipackets6", self.ipackets6),
            ("badif", self.badif),
            ("badttl", self.badttl),
            ("hdrops", self.hdrops),
            ("badver", self.badver),
            ("badact", self.badact),
            ("badlen", self.badlen),
            ("badauth", self.badauth),
            ("stale", self.stale),
            ("badval", self.badval),
            ("badstate", self.badstate),
            ("opackets", self.opackets),
            ("opackets6", self.opackets6),
            ("onomem", self.onomem),
            ("oerrors", self.oerrors),
        ]
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The text of OpenBSD's `netstat -s -p pfsync` (usr.bin/netstat
/// pfsync_stats, every line as with one -s).
pub fn netstat(s: &PfsyncStats) -> String {
    let p = |n: u64, f: &str| {
        f.replacen("%llu", &n.to_string(), 1)
            .replace("%s", plural(n))
    };
    let lines = [
        p(s.ipackets, "\t%llu packet%s received (IPv4)"),
        p(s.ipackets6, "\t%llu packet%s received (IPv6)"),
        p(s.badif, "\t\t%llu packet%s discarded for bad interface"),
        p(s.badttl, "\t\t%llu packet%s discarded for bad ttl"),
        p(s.hdrops, "\t\t%llu packet%s shorter than header"),
        p(s.badver, "\t\t%llu packet%s discarded for bad version"),
        p(s.badauth, "\t\t%llu packet%s discarded for bad HMAC"),
        p(s.badact, "\t\t%llu packet%s discarded for bad action"),
        p(s.badlen, "\t\t%llu packet%s discarded for short packet"),
        p(s.badval, "\t\t%llu state%s discarded for bad values"),
        p(s.stale, "\t\t%llu stale state%s"),
        p(s.badstate, "\t\t%llu failed state lookup/insert%s"),
        p(s.opackets, "\t%llu packet%s sent (IPv4)"),
        p(s.opackets6, "\t%llu packet%s sent (IPv6)"),
        format!("\t\t{} send failed due to mbuf memory error", s.onomem),
        format!("\t\t{} send error", s.oerrors),
    ];
    let mut out = String::from("pfsync:\n");
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// What `carpctl -s pfsync0` adds after netstat's counters: the bulk
/// update and when the peer was last heard.
pub fn status_lines(r: &PfsyncReport) -> String {
    let secs = |ms: u64| format!("{:.1} s", ms as f64 / 1000.0);
    let mut out = format!(
        "\tbulk update {} for {}{}\n\t{} bulk update{} received, {} failed, {} sent\n",
        r.bulk.name(),
        secs(r.bulk_phase_ms),
        if r.bulk_sending { ", sending one" } else { "" },
        r.bulks_received,
        plural(r.bulks_received),
        r.bulks_failed,
        r.bulks_sent
    );
    let x = &r.repair;
    out.push_str(&format!(
        "\t{} frame{} resent on request ({} NACK{} received, {} GONE sent)\n\t{} gap{} seen, {} frame{} asked for, {} repaired, {} lost, {} duplicate{}\n",
        x.resent,
        plural(x.resent),
        x.nacks_in,
        plural(x.nacks_in),
        x.gone_out,
        x.gaps,
        plural(x.gaps),
        x.nacked,
        plural(x.nacked),
        x.repaired,
        x.lost,
        x.dups,
        plural(x.dups)
    ));
    let d = &r.defer;
    out.push_str(&format!(
        "\t{} packet{} deferred: {} released on ack, {} on timeout, {} over the limit, {} held\n",
        d.deferred,
        plural(d.deferred),
        d.acked,
        d.timeout,
        d.overlimit,
        d.held()
    ));
    if x.lag_frames > 0 {
        out.push_str(&format!(
            "\tinsert lag {} ms median, {} ms p99, {} ms max ({} frame{})\n",
            x.lag_p50_ms,
            x.lag_p99_ms,
            x.lag_max_ms,
            x.lag_frames,
            plural(x.lag_frames)
        ));
    }
    match (r.last_heard_ms, r.up_ms) {
        (_, 0) => out.push_str("\tsync link down\n"),
        (Some(ms), _) => out.push_str(&format!("\tpeer last heard {} ago\n", secs(ms))),
        (None, up) => out.push_str(&format!(
            "\tpeer not heard since the link came up {} ago\n",
            secs(up)
        )),
    }
    out
}

/// Where the bulk update this host asked for stands (pfsync::bulk's
/// phases, as pfsyncd reports them).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BulkPhase {
    /// pfsync is down: no bulk update.
    #[default]
    Idle,
    /// Waiting for the sync link to come up.
    WaitLink,
    /// Update request sent, no BUS START yet.
    Requested,
    /// The peer is sending its table.
    Receiving,
    /// The table arrived (BUS END).
    Done,
    /// Gave up waiting.
    Failed,
}

impl BulkPhase {
    pub const ALL: [BulkPhase; 6] = [
        BulkPhase::Idle,
        BulkPhase::WaitLink,
        BulkPhase::Requested,
        BulkPhase::Receiving,
        BulkPhase::Done,
        BulkPhase::Failed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BulkPhase::Idle => "idle",
            BulkPhase::WaitLink => "waitlink",
            BulkPhase::Requested => "requested",
            BulkPhase::Receiving => "receiving",
            BulkPhase::Done => "done",
            BulkPhase::Failed => "failed",
        }
    }

    /// Still waiting for the peer's table.
    pub fn pending(self) -> bool {
        matches!(
            self,
            BulkPhase::WaitLink | BulkPhase::Requested | BulkPhase::Receiving
        )
    }
}

/// What pfsyncd tells pfd (PfsyncReport) and pfd gives back to any client
/// (GetPfsyncStats), ages taken at the moment of the reply.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfsyncReport {
    pub stats: PfsyncStats,
    /// Milliseconds since the last good frame from the peer (None: none
    /// yet since pfsyncd started).
    pub last_heard_ms: Option<u64>,
    pub bulk: BulkPhase,
    /// Milliseconds in the current bulk phase.
    pub bulk_phase_ms: u64,
    /// Bulk updates received whole, and given up on.
    pub bulks_received: u64,
    pub bulks_failed: u64,
    /// Bulk updates sent to the peer, and whether one is being sent now.
    pub bulks_sent: u64,
    pub bulk_sending: bool,
    /// Milliseconds since pfsyncd brought the sync link up (0: down).
    pub up_ms: u64,
    /// Repair of lost frames (`pfsync::repair`).
    pub repair: RepairReport,
    /// What `defer` did: pfd's counters, put in when pfd answers (none
    /// from pfsyncd).
    #[serde(default)]
    pub defer: DeferStats,
}

/// The repair counters and the replication lag of received frames.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairReport {
    /// Frames sent again on the peer's NACKs, NACKs taken, GONE sent.
    pub resent: u64,
    pub nacks_in: u64,
    pub gone_out: u64,
    /// Gaps seen in the peer's frames, frames asked for (NACKed, retries
    /// counted), missing frames that came, given up on, seen twice.
    pub gaps: u64,
    pub nacked: u64,
    pub repaired: u64,
    pub lost: u64,
    pub dups: u64,
    /// Frames with new states taken into pfd, and the time (ms) from the
    /// oldest such state's creation on the peer to here: median, 99th
    /// percentile, highest.
    pub lag_frames: u64,
    pub lag_p50_ms: u64,
    pub lag_p99_ms: u64,
    pub lag_max_ms: u64,
}

impl RepairReport {
    /// Every counter with its name (the metrics' labels).
    pub fn fields(&self) -> [(&'static str, u64); 9] {
        [
            ("resent", self.resent),
            ("nacks_in", self.nacks_in),
            ("gone_out", self.gone_out),
            ("gaps", self.gaps),
            ("nacked", self.nacked),
            ("repaired", self.repaired),
            ("lost", self.lost),
            ("dups", self.dups),
            ("lag_frames", self.lag_frames),
        ]
    }
}

impl PfsyncReport {
    /// The same report `ms` milliseconds later.
    pub fn aged(mut self, ms: u64) -> PfsyncReport {
        self.last_heard_ms = self.last_heard_ms.map(|t| t.saturating_add(ms));
        self.bulk_phase_ms = self.bulk_phase_ms.saturating_add(ms);
        if self.up_ms > 0 {
            self.up_ms = self.up_ms.saturating_add(ms);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstat_text_is_openbsds() {
        let s = PfsyncStats {
            ipackets: 1,
            stale: 2,
            oerrors: 1,
            ..Default::default()
        };
        let t = netstat(&s);
        assert!(t.starts_with("pfsync:\n\t1 packet received (IPv4)\n\t0 packets received (IPv6)\n"));
        assert!(t.contains("\t\t2 stale states\n"));
        assert!(t.contains("\t\t0 failed state lookup/inserts\n"));
        assert!(t.ends_with("\t\t0 send failed due to mbuf memory error\n\t\t1 send error\n"));
        assert_eq!(t.lines().count(), 17);
    }

    #[test]
    fn status_lines_tell_bulk_and_peer() {
        let r = PfsyncReport {
            bulk: BulkPhase::Done,
            bulk_phase_ms: 12_345,
            bulks_received: 1,
            bulks_sent: 2,
            last_heard_ms: Some(400),
            up_ms: 20_000,
            ..Default::default()
        };
        assert_eq!(
            status_lines(&r),
            "\tbulk update done for 12.3 s\n\t1 bulk update received, 0 failed, 2 sent\n\t0 frames resent on request (0 NACKs received, 0 GONE sent)\n\t0 gaps seen, 0 frames asked for, 0 repaired, 0 lost, 0 duplicates\n\t0 packets deferred: 0 released on ack, 0 on timeout, 0 over the limit, 0 held\n\tpeer last heard 0.4 s ago\n"
        );
        let lagged = PfsyncReport {
            repair: RepairReport {
                resent: 1,
                lag_frames: 3,
                lag_p50_ms: 1,
                lag_p99_ms: 4,
                lag_max_ms: 9,
                ..Default::default()
            },
            ..r
        };
        let t = status_lines(&lagged);
        assert!(t.contains("\t1 frame resent on request (0 NACKs"));
        let deferred = PfsyncReport {
            defer: DeferStats {
                deferred: 12,
                acked: 9,
                timeout: 2,
                overlimit: 0,
            },
            ..r
        };
        assert!(status_lines(&deferred).contains(
            "\t12 packets deferred: 9 released on ack, 2 on timeout, 0 over the limit, 1 held\n"
        ));
        assert!(t.contains("\tinsert lag 1 ms median, 4 ms p99, 9 ms max (3 frames)\n"));
        let r = PfsyncReport {
            last_heard_ms: None,
            ..r
        };
        assert!(status_lines(&r).ends_with("\tpeer not heard since the link came up 20.0 s ago\n"));
        let r = PfsyncReport { up_ms: 0, ..r };
        assert!(status_lines(&r).ends_with("\tsync link down\n"));
    }

    #[test]
    fn ageing_moves_both_clocks() {
        let r = PfsyncReport {
            last_heard_ms: Some(10),
            bulk_phase_ms: 5,
            ..Default::default()
        }
        .aged(100);
        assert_eq!(r.last_heard_ms, Some(110));
        assert_eq!(r.bulk_phase_ms, 105);
        assert_eq!(PfsyncReport::default().aged(7).last_heard_ms, None);
    }
}

//! What the data path says about packets: each packet a rule logs goes
//! to pflog (`daemon::pflog`: pflogN and pflogd) and, as a line, to
//! syslog, at most LOG_PER_SEC a second; pf's notices (debug level notice
//! and up) for packets dropped for what they are go to syslog.

use super::super::pflog::{Pflog, Seen};
use super::super::Shared;
use crate::engine::packet::Dir;
use crate::engine::status::Reason;
use crate::engine::Verdict;
use crate::log;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// pf's debug level from which it tells about dropped packets (LOG_NOTICE).
const DEBUG_NOTICE: u8 = 5;
/// Logged packets written to syslog per second, at most.
const LOG_PER_SEC: u32 = 100;

/// pflog's job: one syslog line per logged packet, at most LOG_PER_SEC a
/// second; pf's notices (debug level notice and up, `pfctl -x`) for
/// packets dropped for what they are rather than by a rule.
pub(super) struct Logger {
    window: Instant,
    count: u32,
    suppressed: u64,
    last_full: Instant,
    pflog: Arc<Pflog>,
}

impl Logger {
    pub(super) fn new(pflog: Arc<Pflog>) -> Logger {
        Logger {
            window: Instant::now(),
            count: 0,
            suppressed: 0,
            last_full: Instant::now() - Duration::from_secs(60),
            pflog,
        }
    }

    pub(super) fn log(&mut self, v: &Verdict, debug: u8, at: &Seen) {
        let notice = debug >= DEBUG_NOTICE && !v.pass && v.reason != Reason::Match;
        if !v.log && !notice {
            return;
        }
        if v.log {
            self.pflog.log_packet(v.log_marks(), at);
        }
        let (dir, ifname, packet) = (at.dir, at.ifname, at.bytes);
        if self.window.elapsed() >= Duration::from_secs(1) {
            if self.suppressed > 0 {
                log::info(&format!(
                    "pf: {} more logged packets not shown",
                    self.suppressed
                ));
            }
            self.window = Instant::now();
            self.count = 0;
            self.suppressed = 0;
        }
        if self.count >= LOG_PER_SEC {
            self.suppressed += 1;
            return;
        }
        self.count += 1;
        let line = crate::show::log_line(v.rule, v.pass, dir == Dir::In, ifname, packet);
        if v.log {
            log::info(&line);
        } else {
            log::notice(&format!(
                "pf: dropped, {}: {line}",
                crate::engine::status::REASON_NAMES[v.reason as usize]
            ));
        }
    }

    /// A packet dropped for want of memory: say which limit, now and then.
    pub(super) fn full(&mut self, shared: &Shared) {
        if self.last_full.elapsed() < Duration::from_secs(10) {
            return;
        }
        self.last_full = Instant::now();
        let e = shared.engine();
        let limit = e.limit(crate::ruleset::Limit::States);
        if e.states.len() as u64 >= limit as u64 {
            drop(e);
            log::warning(&format!("state table full ({limit} states, `set limit states`): new connections are dropped"));
        } else {
            let frags = e.limit(crate::ruleset::Limit::Frags).min(super::HOLD_MAX);
            drop(e);
            log::warning(&format!(
                "fragment queue full ({frags} fragments, `set limit frags`): fragments are dropped"
            ));
        }
    }
}

/// A copy of the start of a packet, for the log line of a packet the
/// engine may rewrite in place: its length fields say it ends where the
/// copy does.
pub(super) struct LogCopy {
    b: [u8; 256],
    len: usize,
    /// The packet's own length.
    wire_len: usize,
}

impl LogCopy {
    pub(super) fn of(pkt: &[u8]) -> LogCopy {
        let mut c = LogCopy {
            b: [0; 256],
            len: pkt.len().min(256),
            wire_len: pkt.len(),
        };
        c.b[..c.len].copy_from_slice(&pkt[..c.len]);
        if pkt.len() > c.len {
            match c.b[0] >> 4 {
                4 => c.b[2..4].copy_from_slice(&(c.len as u16).to_be_bytes()),
                6 => c.b[4..6].copy_from_slice(&((c.len - 40) as u16).to_be_bytes()),
                _ => {}
            }
        }
        c
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.b[..self.len]
    }

    /// The copy as pflog takes it.
    pub(super) fn seen<'a>(&'a self, dir: Dir, ifname: &'a str, uid: Option<u32>) -> Seen<'a> {
        Seen {
            dir,
            ifname,
            uid,
            bytes: self.bytes(),
            len: self.wire_len,
        }
    }
}

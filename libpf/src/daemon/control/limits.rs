//! The control socket's limits and their accounting: how many connections
//! pfd keeps (all, and per unprivileged uid, with slots kept for root),
//! how many request bytes unprivileged peers may have pending, and how
//! long a connection may go without a complete frame. Pure: the server
//! asks before it admits a connection or keeps more bytes.

use crate::ioctl::frame::MAX_REQUEST;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections at once, all peers.
    pub conns: usize,
    /// Of those, kept for root: unprivileged peers get `conns - root_reserve`.
    pub root_reserve: usize,
    /// Connections of one unprivileged uid.
    pub conns_per_uid: usize,
    /// Largest request body.
    pub frame: usize,
    /// Request bytes one unprivileged uid may have pending (all its
    /// connections' partial frames).
    pub bytes_per_uid: usize,
    /// Request bytes all unprivileged peers may have pending.
    pub user_bytes: usize,
    /// An unprivileged connection is closed after this long without a
    /// complete frame (idle, or a frame arriving too slowly).
    pub user_deadline: Duration,
    /// A frame of root's must arrive whole within this long of its first
    /// byte. Root's connections may stay idle between frames (pfsyncd,
    /// netstart and pfctl keep theirs open while they work).
    pub root_deadline: Duration,
    /// A reply frame the peer does not take in within this long closes
    /// the connection.
    pub write_deadline: Duration,
    /// Connections closed for a limit are told why, at most this many a
    /// second of those refused at accept and as many of the others: the
    /// message wakes the peer, and a flood of them costs pfd's loop more
    /// than the closing (the rest are closed without a word).
    pub tells_per_sec: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            conns: 1024,
            root_reserve: 64,
            conns_per_uid: 32,
            frame: MAX_REQUEST,
            bytes_per_uid: 8 << 20,
            user_bytes: 16 << 20,
            user_deadline: Duration::from_secs(5),
            root_deadline: Duration::from_secs(60),
            write_deadline: Duration::from_secs(10),
            tells_per_sec: 100,
        }
    }
}

impl Limits {
    /// How long `uid` may go without a complete frame (root: from the
    /// first byte of one).
    pub fn deadline(&self, uid: u32) -> Duration {
        if uid == 0 {
            self.root_deadline
        } else {
            self.user_deadline
        }
    }

    /// File descriptors the server may need beyond the rest of pfd's.
    pub fn descriptors(&self) -> u64 {
        self.conns as u64 + 64
    }
}

/// Why a connection was refused or closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Conns(usize),
    UidConns(u32, usize),
    UidBytes(u32, usize),
    UserBytes(usize),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Conns(n) => write!(f, "too many control connections (limit {n})"),
            Refusal::UidConns(u, n) => {
                write!(f, "too many control connections of uid {u} (limit {n})")
            }
            Refusal::UidBytes(u, n) => {
                write!(f, "too many request bytes pending for uid {u} (limit {n})")
            }
            Refusal::UserBytes(n) => {
                write!(
                    f,
                    "too many request bytes pending for unprivileged peers (limit {n})"
                )
            }
        }
    }
}

/// How many closed connections may still be told why this second.
#[derive(Debug, Default)]
pub struct Tells {
    second: Option<Instant>,
    told: u32,
}

impl Tells {
    /// May one more be told at `now`?
    pub fn allow(&mut self, l: &Limits, now: Instant) -> bool {
        match self.second {
            Some(s) if now.duration_since(s) < Duration::from_secs(1) => {}
            _ => {
                self.second = Some(now);
                self.told = 0;
            }
        }
        if self.told < l.tells_per_sec {
            self.told += 1;
            true
        } else {
            false
        }
    }
}

/// Connections the limits closed, counted for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    /// Refused at accept (too many connections).
    pub refused: u64,
    /// Over a byte budget.
    pub bytes: u64,
    /// Past a deadline.
    pub deadline: u64,
    /// A frame that is not a request, or too large.
    pub frames: u64,
}

impl Closed {
    /// One log line for a period, or None if nothing was closed.
    pub fn report(&self, secs: u64) -> Option<String> {
        if *self == Closed::default() {
            return None;
        }
        Some(format!(
            "control socket, last {secs} s: {} connections refused over the limits, {} closed over the byte budget, {} past their deadline, {} for bad frames",
            self.refused, self.bytes, self.deadline, self.frames
        ))
    }
}

/// What the connections use now.
#[derive(Debug, Default)]
pub struct Usage {
    conns: usize,
    /// Of those, unprivileged peers'.
    user_conns: usize,
    /// Per unprivileged uid: connections, pending bytes.
    uids: HashMap<u32, (usize, usize)>,
    user_bytes: usize,
}

impl Usage {
    pub fn conns(&self) -> usize {
        self.conns
    }

    /// Pending request bytes of unprivileged peers.
    pub fn user_bytes(&self) -> usize {
        self.user_bytes
    }

    /// Admit a connection of `uid`, or say why not.
    pub fn admit(&mut self, l: &Limits, uid: u32) -> Result<(), Refusal> {
        if uid == 0 {
            if self.conns >= l.conns {
                return Err(Refusal::Conns(l.conns));
            }
        } else {
            let users = l.conns.saturating_sub(l.root_reserve);
            if self.user_conns >= users || self.conns >= l.conns {
                return Err(Refusal::Conns(users));
            }
            let e = self.uids.entry(uid).or_default();
            if e.0 >= l.conns_per_uid {
                return Err(Refusal::UidConns(uid, l.conns_per_uid));
            }
            e.0 += 1;
            self.user_conns += 1;
        }
        self.conns += 1;
        Ok(())
    }

    /// A connection of `uid` is gone, with the `held` bytes charged to it.
    pub fn release(&mut self, uid: u32, held: usize) {
        self.conns = self.conns.saturating_sub(1);
        if uid == 0 {
            return;
        }
        self.user_conns = self.user_conns.saturating_sub(1);
        self.user_bytes = self.user_bytes.saturating_sub(held);
        if let Some(e) = self.uids.get_mut(&uid) {
            e.0 = e.0.saturating_sub(1);
            e.1 = e.1.saturating_sub(held);
            if e.0 == 0 {
                self.uids.remove(&uid);
            }
        }
    }

    /// A connection of `uid` went from holding `old` bytes to `new`: fine,
    /// or over a limit (the charge is made all the same; the caller
    /// closes the connection and releases it).
    pub fn charge(&mut self, l: &Limits, uid: u32, old: usize, new: usize) -> Result<(), Refusal> {
        if uid == 0 {
            return Ok(());
        }
        self.user_bytes = (self.user_bytes + new).saturating_sub(old);
        let e = self.uids.entry(uid).or_default();
        e.1 = (e.1 + new).saturating_sub(old);
        if new <= old {
            return Ok(());
        }
        if e.1 > l.bytes_per_uid {
            return Err(Refusal::UidBytes(uid, l.bytes_per_uid));
        }
        if self.user_bytes > l.user_bytes {
            return Err(Refusal::UserBytes(l.user_bytes));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Limits {
        Limits {
            conns: 10,
            root_reserve: 3,
            conns_per_uid: 4,
            bytes_per_uid: 100,
            user_bytes: 150,
            ..Limits::default()
        }
    }

    #[test]
    fn per_uid_and_global_connections_with_root_reserve() {
        let l = small();
        let mut u = Usage::default();
        for _ in 0..4 {
            u.admit(&l, 1000).unwrap();
        }
        assert_eq!(u.admit(&l, 1000), Err(Refusal::UidConns(1000, 4)));
        for _ in 0..3 {
            u.admit(&l, 1001).unwrap();
        }
        // 7 = 10 - 3: the rest is root's.
        assert_eq!(u.admit(&l, 1002), Err(Refusal::Conns(7)));
        for _ in 0..3 {
            u.admit(&l, 0).unwrap();
        }
        assert_eq!(u.admit(&l, 0), Err(Refusal::Conns(10)));
        assert_eq!(u.conns(), 10);
        u.release(1000, 0);
        u.admit(&l, 1002).unwrap();
        assert_eq!(u.admit(&l, 1000), Err(Refusal::Conns(7)));
        u.release(0, 0);
        u.admit(&l, 0).unwrap();
    }

    #[test]
    fn refused_connections_leave_no_trace() {
        let l = small();
        let mut u = Usage::default();
        for _ in 0..4 {
            u.admit(&l, 5).unwrap();
        }
        for _ in 0..100 {
            assert!(u.admit(&l, 5).is_err());
        }
        for _ in 0..4 {
            u.release(5, 0);
        }
        assert_eq!(u.conns(), 0);
        assert!(u.uids.is_empty());
    }

    #[test]
    fn tells_per_second() {
        let l = Limits {
            tells_per_sec: 3,
            ..Limits::default()
        };
        let mut t = Tells::default();
        let t0 = Instant::now();
        assert!((0..3).all(|_| t.allow(&l, t0)));
        assert!(!t.allow(&l, t0 + Duration::from_millis(999)));
        assert!(t.allow(&l, t0 + Duration::from_millis(1000)));
    }

    #[test]
    fn closed_report() {
        assert_eq!(Closed::default().report(60), None);
        let c = Closed {
            refused: 3,
            deadline: 1,
            ..Closed::default()
        };
        assert_eq!(
            c.report(60).unwrap(),
            "control socket, last 60 s: 3 connections refused over the limits, 0 closed over the byte budget, 1 past their deadline, 0 for bad frames"
        );
    }

    #[test]
    fn pending_bytes_per_uid_and_in_all() {
        let l = small();
        let mut u = Usage::default();
        u.admit(&l, 1).unwrap();
        u.admit(&l, 1).unwrap();
        u.admit(&l, 2).unwrap();
        assert_eq!(u.charge(&l, 1, 0, 60), Ok(()));
        assert_eq!(u.charge(&l, 1, 0, 41), Err(Refusal::UidBytes(1, 100)));
        u.release(1, 41);
        assert_eq!(u.charge(&l, 2, 0, 80), Ok(()));
        assert_eq!(u.charge(&l, 2, 80, 95), Err(Refusal::UserBytes(150)));
        // Giving bytes back is always fine.
        assert_eq!(u.charge(&l, 2, 95, 0), Ok(()));
        assert_eq!(u.user_bytes(), 60);
        u.release(1, 60);
        u.release(2, 0);
        assert_eq!(u.user_bytes(), 0);
        assert_eq!(u.conns(), 0);
        // Root is not charged.
        u.admit(&l, 0).unwrap();
        assert_eq!(u.charge(&l, 0, 0, 10 << 20), Ok(()));
        assert_eq!(u.user_bytes(), 0);
    }
}

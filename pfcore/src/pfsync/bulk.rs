//! The request side of pfsync's bulk update (wire-facts §2.10): when pfsync
//! comes up it asks the peer for its whole state table and keeps CARP
//! demoted until the table has arrived (or it gives up). Pure: time in
//! milliseconds comes in, actions come out.

use crate::wire::pfsync::{BUS_END, BUS_START};

/// How long to wait for the sync link to come up.
pub const LINK_WAIT_MS: u64 = 30_000;
/// Between update requests.
pub const RETRY_MS: u64 = 2_000;
/// Update requests sent in all before giving up.
pub const MAX_TRIES: u32 = 12;
/// The demotion held while the bulk update is pending.
pub const DEMOTE: i32 = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not started (pfsync down).
    Idle,
    /// Waiting for the sync link.
    WaitLink { deadline: u64 },
    /// Update request sent, waiting for BUS START.
    Sent { tries: u32, deadline: u64 },
    /// The peer (`creatorid`) is sending since `started`; waiting for BUS
    /// END.
    Bulk {
        deadline: u64,
        tries: u32,
        started: u64,
        creatorid: u32,
    },
    /// Finished (received, or gave up).
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send UPD_REQ 0/0 (give me everything).
    SendRequest,
    /// Hold (true) or release (false) the CARP demotion.
    Demote(bool),
    /// The bulk update finished; `complete` is false when we gave up.
    Finished { complete: bool },
    /// The peer `creatorid` sent its whole table from `since` on: its
    /// states here that neither it nor a packet touched since then are
    /// gone on the peer (their deletes were missed, e.g. while pfsyncd was
    /// restarting) and can go here too.
    PurgeStale { creatorid: u32, since: u64 },
}

#[derive(Debug, Clone)]
pub struct Requester {
    phase: Phase,
    /// How long a bulk transfer may take once started (ms).
    bulk_timeout: u64,
}

/// The bulk timeout: OpenBSD's 4 × (state limit ÷ states per frame ÷ 50)
/// s (its sender's pace is one frame per 20 ms: the time a full table
/// takes, four times over), with states per frame = (MTU − 40) ÷ 264;
/// at least 4 s.
pub fn bulk_timeout_ms(state_limit: u32, mtu: u32) -> u64 {
    let per_frame = (mtu.saturating_sub(40) / 264).max(1);
    let t = ((state_limit / per_frame) / 50).max(1) as u64;
    4 * t * 1000
}

impl Requester {
    pub fn new(bulk_timeout: u64) -> Requester {
        Requester {
            phase: Phase::Idle,
            bulk_timeout,
        }
    }

    /// The give-up time of the next transfer (the state limit may have
    /// changed since).
    pub fn set_bulk_timeout(&mut self, ms: u64) {
        self.bulk_timeout = ms;
    }

    pub fn bulk_timeout(&self) -> u64 {
        self.bulk_timeout
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn pending(&self) -> bool {
        !matches!(self.phase, Phase::Idle | Phase::Done)
    }

    /// pfsync came up.
    pub fn start(&mut self, link_up: bool, now: u64) -> Vec<Action> {
        let mut out = vec![Action::Demote(true)];
        if link_up {
            out.push(Action::SendRequest);
            self.phase = Phase::Sent {
                tries: 1,
                deadline: now + RETRY_MS,
            };
        } else {
            self.phase = Phase::WaitLink {
                deadline: now + LINK_WAIT_MS,
            };
        }
        out
    }

    /// pfsync went down: drop everything, release the demotion.
    pub fn stop(&mut self) -> Vec<Action> {
        let was = self.pending();
        self.phase = Phase::Idle;
        if was {
            vec![Action::Demote(false)]
        } else {
            vec![]
        }
    }

    pub fn link_up(&mut self, now: u64) -> Vec<Action> {
        if let Phase::WaitLink { .. } = self.phase {
            self.phase = Phase::Sent {
                tries: 1,
                deadline: now + RETRY_MS,
            };
            return vec![Action::SendRequest];
        }
        vec![]
    }

    fn finish(&mut self, complete: bool) -> Vec<Action> {
        self.phase = Phase::Done;
        vec![Action::Demote(false), Action::Finished { complete }]
    }

    /// A BUS message from the peer `creatorid`.
    pub fn on_bus(&mut self, status: u8, creatorid: u32, now: u64) -> Vec<Action> {
        match (self.phase, status) {
            (Phase::Sent { .. } | Phase::WaitLink { .. }, BUS_START) => {
                let tries = if let Phase::Sent { tries, .. } = self.phase {
                    tries
                } else {
                    0
                };
                self.phase = Phase::Bulk {
                    deadline: now + self.bulk_timeout,
                    tries,
                    started: now,
                    creatorid,
                };
                vec![]
            }
            (
                Phase::Bulk {
                    started,
                    creatorid: from,
                    ..
                },
                BUS_END,
            ) if from == creatorid => {
                let mut out = vec![Action::PurgeStale {
                    creatorid,
                    since: started,
                }];
                out.extend(self.finish(true));
                out
            }
            (Phase::Bulk { .. }, BUS_END) | (Phase::Sent { .. }, BUS_END) => self.finish(true),
            _ => vec![],
        }
    }

    pub fn next_deadline(&self) -> Option<u64> {
        match self.phase {
            Phase::WaitLink { deadline }
            | Phase::Sent { deadline, .. }
            | Phase::Bulk { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        match self.phase {
            Phase::WaitLink { deadline } if now >= deadline => self.finish(false),
            Phase::Sent { tries, deadline } if now >= deadline => {
                if tries >= MAX_TRIES {
                    self.finish(false)
                } else {
                    self.phase = Phase::Sent {
                        tries: tries + 1,
                        deadline: now + RETRY_MS,
                    };
                    vec![Action::SendRequest]
                }
            }
            Phase::Bulk {
                deadline, tries, ..
            } if now >= deadline => {
                if tries < MAX_TRIES {
                    self.phase = Phase::Sent {
                        tries: tries + 1,
                        deadline: now + RETRY_MS,
                    };
                    vec![Action::SendRequest]
                } else {
                    self.finish(false)
                }
            }
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_bulk() {
        let mut r = Requester::new(10_000);
        assert_eq!(
            r.start(true, 0),
            vec![Action::Demote(true), Action::SendRequest]
        );
        assert!(r.tick(1_000).is_empty());
        assert!(r.on_bus(BUS_START, 7, 1_500).is_empty());
        assert!(r.tick(9_000).is_empty(), "no retry during the transfer");
        assert_eq!(
            r.on_bus(BUS_END, 7, 9_500),
            vec![
                Action::PurgeStale {
                    creatorid: 7,
                    since: 1_500
                },
                Action::Demote(false),
                Action::Finished { complete: true }
            ]
        );
        assert!(!r.pending());
        assert!(r.on_bus(BUS_END, 7, 9_600).is_empty());
    }

    #[test]
    fn bus_end_of_another_peer_purges_nothing() {
        let mut r = Requester::new(10_000);
        r.start(true, 0);
        r.on_bus(BUS_START, 7, 100);
        assert_eq!(
            r.on_bus(BUS_END, 8, 200),
            vec![Action::Demote(false), Action::Finished { complete: true }]
        );
    }

    #[test]
    fn retries_then_gives_up() {
        let mut r = Requester::new(10_000);
        r.start(true, 0);
        let mut now = 0;
        let mut requests = 1;
        loop {
            now += RETRY_MS;
            let a = r.tick(now);
            if a.contains(&Action::SendRequest) {
                requests += 1;
            }
            if a.contains(&Action::Demote(false)) {
                break;
            }
        }
        assert_eq!(requests, MAX_TRIES);
        assert_eq!(r.phase(), Phase::Done);
    }

    #[test]
    fn waits_for_link_and_stop_releases() {
        let mut r = Requester::new(10_000);
        assert_eq!(r.start(false, 0), vec![Action::Demote(true)]);
        assert_eq!(r.link_up(5), vec![Action::SendRequest]);
        assert_eq!(r.stop(), vec![Action::Demote(false)]);
        let mut r = Requester::new(10_000);
        r.start(false, 0);
        assert_eq!(
            r.tick(LINK_WAIT_MS),
            vec![Action::Demote(false), Action::Finished { complete: false }]
        );
    }

    #[test]
    fn empty_table_answer_is_just_bus_end() {
        let mut r = Requester::new(10_000);
        r.start(true, 0);
        assert_eq!(
            r.on_bus(BUS_END, 7, 10),
            vec![Action::Demote(false), Action::Finished { complete: true }]
        );
    }

    #[test]
    fn openbsd_default_timeout() {
        assert_eq!(bulk_timeout_ms(100_000, 1500), 1_600_000);
        assert_eq!(bulk_timeout_ms(1_000_000, 1500), 16_000_000);
        assert_eq!(bulk_timeout_ms(10, 1500), 4_000);
    }

    #[test]
    fn timeout_set_before_start_applies() {
        let mut r = Requester::new(10_000);
        r.start(true, 0);
        r.set_bulk_timeout(50_000);
        r.on_bus(BUS_START, 7, 100);
        assert!(r.tick(40_000).is_empty());
        assert_eq!(r.tick(50_100), vec![Action::SendRequest]);
    }
}

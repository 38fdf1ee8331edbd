//! The virtual addresses of gated carp interfaces (`sys::nftgate`), added
//! and removed by a thread of their own, in the order asked: an address
//! change waits for the kernel's RTNL lock, and the CARP thread must not
//! wait with it (another vhid's master-down timer may be due meanwhile).
//! Traffic does not wait for them either: the gate lets frames to the
//! virtual MAC in, which is all forwarding and pf's NAT need; the
//! addresses are for ARP answers and local delivery.
//!
//! `Settle` lets whoever shows or changes the interfaces wait until the
//! kernel has what was asked so far.

use crate::addr::IpNet;
use crate::log;
use crate::sys::netlink::Netlink;
use std::net::Ipv4Addr;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One change: the addresses of carp interface `name` (macvlan `index`)
/// added (`up`) or removed.
struct Job {
    name: String,
    index: u32,
    addrs: Vec<(IpNet, Option<Ipv4Addr>)>,
    up: bool,
}

/// Jobs asked for and jobs done.
#[derive(Default)]
pub struct Settle {
    counts: Mutex<(u64, u64)>,
    cv: Condvar,
}

impl Settle {
    /// Wait (at most `max`) until every job asked for before the call is
    /// done.
    pub fn wait(&self, max: Duration) {
        let end = Instant::now() + max;
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let want = c.0;
        while c.1 < want {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            c = self
                .cv
                .wait_timeout(c, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn asked(&self) {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
    }

    fn done(&self) {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).1 += 1;
        self.cv.notify_all();
    }
}

/// The queue to the address thread.
pub(super) struct Addrs {
    tx: Option<Sender<Job>>,
    settle: Arc<Settle>,
}

impl Addrs {
    /// Start the thread (None when it cannot run: no netlink socket or
    /// no thread; the caller then changes addresses itself).
    pub(super) fn start() -> Option<Addrs> {
        let mut nl = match Netlink::open() {
            Ok(n) => n,
            Err(e) => {
                log::err(&format!("carp: addresses: netlink: {e}"));
                return None;
            }
        };
        let (tx, rx) = channel::<Job>();
        let settle = Arc::new(Settle::default());
        let s = settle.clone();
        let spawned = std::thread::Builder::new()
            .name("carpaddrs".into())
            .spawn(move || {
                for j in rx {
                    apply(&mut nl, &j);
                    s.done();
                }
            });
        if let Err(e) = spawned {
            log::err(&format!("carp: addresses thread: {e}"));
            return None;
        }
        Some(Addrs {
            tx: Some(tx),
            settle,
        })
    }

    /// Ask for the addresses of `name` to be added or removed.
    pub(super) fn queue(
        &self,
        name: &str,
        index: u32,
        addrs: Vec<(IpNet, Option<Ipv4Addr>)>,
        up: bool,
    ) {
        let Some(tx) = &self.tx else {
            return;
        };
        self.settle.asked();
        let job = Job {
            name: name.to_string(),
            index,
            addrs,
            up,
        };
        if tx.send(job).is_err() {
            // The thread is gone: nothing will be done.
            self.settle.done();
        }
    }

    pub(super) fn settle(&self) -> Arc<Settle> {
        self.settle.clone()
    }
}

fn apply(nl: &mut Netlink, j: &Job) {
    for (net, broadcast) in &j.addrs {
        let r = if j.up {
            // No prefix route: traffic leaves by the carpdev, as on
            // OpenBSD; the carp interface only owns the address.
            nl.add_carp_addr(j.index, *net, *broadcast)
        } else {
            nl.del_addr(j.index, *net)
        };
        if let Err(err) = r {
            log::err(&format!(
                "{}: {} {net}: {err}",
                j.name,
                if j.up { "adding" } else { "removing" }
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_waits_for_what_was_asked() {
        let s = Arc::new(Settle::default());
        s.asked();
        s.asked();
        let t = s.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            t.done();
            t.done();
        });
        let start = Instant::now();
        s.wait(Duration::from_secs(5));
        assert!(start.elapsed() >= Duration::from_millis(15));
        assert_eq!(*s.counts.lock().unwrap(), (2, 2));
        h.join().unwrap();
        // Nothing pending: at once; something never done: the limit.
        s.wait(Duration::from_secs(5));
        s.asked();
        let start = Instant::now();
        s.wait(Duration::from_millis(30));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}

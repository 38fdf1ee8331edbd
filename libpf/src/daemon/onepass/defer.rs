//! `out` rewrites waiting for their packet at POSTROUTING.

use crate::engine::Mtag;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The bytes an `out` pass rewrites: a short packet's all, a long one's
/// first 512 (its headers: pf rewrites addresses, ports, sequence numbers,
/// options and checksums, and the quoted headers of ICMP errors, which
/// are short packets).
pub fn prefix_len(len: usize) -> usize {
    if len <= 2048 {
        len
    } else {
        512
    }
}

/// An `out` rewrite waiting for its packet at POSTROUTING.
#[derive(Debug)]
pub struct Deferred {
    /// The packet's first bytes as POSTROUTING will see them (as the `in`
    /// pass left them, TTL down), and as the `out` pass rewrote them.
    expect: Vec<u8>,
    rewritten: Vec<u8>,
    /// The packet's whole length.
    len: usize,
    /// The interface the `out` pass was for.
    pub oif: u32,
    /// The pf header after the `in` pass (to filter again if the packet
    /// leaves elsewhere) and the mark it leaves with.
    pub in_mtag: Mtag,
    pub mark: u32,
    /// Where it goes from POSTROUTING: on (None), or to this NFQUEUE
    /// (`divert-packet` on an `out` rule).
    pub queue: Option<u16>,
    /// Its transport checksum was not computed when it was rewritten:
    /// compute it whole once the rewrite is in place.
    pub csum: bool,
    at: Instant,
}

impl Deferred {
    /// Is `pkt` the packet this was for (IPv4 header checksums may be
    /// written differently by the kernel's TTL decrement)?
    pub fn matches(&self, pkt: &[u8]) -> bool {
        let n = self.expect.len();
        if pkt.len() != self.len || pkt.len() < n {
            return false;
        }
        if self.expect.first().is_some_and(|b| b >> 4 == 4) && n >= 20 {
            pkt[..10] == self.expect[..10] && pkt[12..n] == self.expect[12..]
        } else {
            pkt[..n] == self.expect[..]
        }
    }

    /// Put the rewrite in place in `pkt` (which `matches`).
    pub fn apply(&self, pkt: &mut [u8]) {
        pkt[..self.rewritten.len()].copy_from_slice(&self.rewritten);
    }
}

/// The rewrites waiting for POSTROUTING, by ticket, shared by the queues'
/// threads: the packet is queued again at POSTROUTING on the queue of the
/// CPU that let it go at PREROUTING (the verdict reinjects it there, on
/// whichever CPU the thread that gave it ran), not necessarily the queue
/// that kept its rewrite. It comes back within that verdict, so few wait;
/// those the kernel dropped on the way are swept after a while.
#[derive(Debug, Default)]
pub struct Deferrals {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    waiting: HashMap<u16, Deferred>,
    next: u16,
    /// Buffers of earlier rewrites, reused.
    pool: Vec<Vec<u8>>,
    swept: Option<Instant>,
}

/// How long a rewrite waits for its packet.
const DEFER_MAX_AGE: Duration = Duration::from_secs(2);

impl Inner {
    fn buffer(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut b = self.pool.pop().unwrap_or_default();
        b.clear();
        b.extend_from_slice(bytes);
        b
    }

    fn recycle(&mut self, d: Deferred) {
        self.pool.push(d.expect);
        self.pool.push(d.rewritten);
    }
}

impl Deferrals {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the first `prefix_len` bytes of `pkt` (before the `out`
    /// pass: what POSTROUTING will see).
    pub fn expect(&self, pkt: &[u8]) -> Vec<u8> {
        self.lock().buffer(&pkt[..prefix_len(pkt.len())])
    }

    /// Keep the rewrite of `pkt` (after the `out` pass), whose bytes
    /// before it were `expect`; returns its ticket.
    #[allow(clippy::too_many_arguments)]
    pub fn put(
        &self,
        expect: Vec<u8>,
        pkt: &[u8],
        oif: u32,
        in_mtag: Mtag,
        mark: u32,
        queue: Option<u16>,
        csum: bool,
    ) -> u16 {
        let mut i = self.lock();
        let rewritten = i.buffer(&pkt[..expect.len()]);
        i.next = i.next.wrapping_add(1);
        let d = Deferred {
            expect,
            rewritten,
            len: pkt.len(),
            oif,
            in_mtag,
            mark,
            queue,
            csum,
            at: Instant::now(),
        };
        let next = i.next;
        if let Some(old) = i.waiting.insert(next, d) {
            i.recycle(old);
        }
        next
    }

    /// Put back into `buf` the bytes rewrite `ticket` expects.
    pub fn restore_expect(&self, ticket: u16, buf: &mut [u8]) {
        if let Some(d) = self.lock().waiting.get(&ticket) {
            let n = d.expect.len().min(buf.len());
            buf[..n].copy_from_slice(&d.expect[..n]);
        }
    }

    /// The packet of `ticket` changed again before it left (`pkt`).
    pub fn refresh_expect(&self, ticket: u16, pkt: &[u8]) {
        if let Some(d) = self.lock().waiting.get_mut(&ticket) {
            let n = d.expect.len().min(pkt.len());
            d.expect[..n].copy_from_slice(&pkt[..n]);
        }
    }

    pub fn take(&self, ticket: u16) -> Option<Deferred> {
        self.lock().waiting.remove(&ticket)
    }

    /// A buffer from `expect` that was not kept.
    pub fn drop_expect(&self, b: Vec<u8>) {
        self.lock().pool.push(b);
    }

    pub fn recycle(&self, d: Deferred) {
        self.lock().recycle(d);
    }

    /// Forget rewrites whose packet did not come (at most once a second).
    pub fn sweep(&self) {
        let mut i = self.lock();
        if i.swept
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        i.swept = Some(Instant::now());
        let old: Vec<u16> = i
            .waiting
            .iter()
            .filter(|(_, d)| d.at.elapsed() > DEFER_MAX_AGE)
            .map(|(t, _)| *t)
            .collect();
        for t in old {
            if let Some(d) = i.waiting.remove(&t) {
                i.recycle(d);
            }
        }
        i.pool.truncate(256);
    }
}

#[cfg(test)]
mod tests {
    use super::super::mark::ttl_down;
    use super::*;
    use crate::daemon::offload::tests::{tcp_seg, v4};

    #[test]
    fn deferred_rewrites_find_their_packet() {
        let d = Deferrals::default();
        let mut p = v4(
            "10.1.0.2",
            "10.9.0.2",
            6,
            &tcp_seg(1234, 80, 3, 4, 0x10, 5, b"data"),
        );
        ttl_down(&mut p);
        let expect = d.expect(&p);
        let mut out = p.clone();
        out[12] = 10;
        out[13] = 2; // nat-to 10.2.0.1
        out[15] = 1;
        let t = d.put(expect, &out, 4, Mtag::default(), 7, None, false);
        let w = d.take(t).unwrap();
        // The kernel's TTL decrement may write the header checksum
        // differently: it does not count.
        let mut post = p.clone();
        post[10] ^= 0xff;
        assert!(w.matches(&post));
        w.apply(&mut post);
        assert_eq!(&post[12..16], &[10, 2, 0, 1]);
        let mut other = p.clone();
        other[30] ^= 1;
        assert!(!w.matches(&other));
        assert!(!w.matches(&p[..p.len() - 1]));
        assert!(d.take(t).is_none());
        d.recycle(w);
        // The thread of another queue finds it (the packet came back to
        // POSTROUTING on that queue's CPU).
        let shared = std::sync::Arc::new(d);
        let (e, o) = (shared.expect(&p), out.clone());
        let s2 = shared.clone();
        let t = std::thread::spawn(move || s2.put(e, &o, 4, Mtag::default(), 7, None, false))
            .join()
            .unwrap();
        assert!(shared.take(t).is_some_and(|w| w.matches(&p)));
        // Long packets: only the headers are kept.
        assert_eq!(prefix_len(60000), 512);
        assert_eq!(prefix_len(1500), 1500);
    }
}

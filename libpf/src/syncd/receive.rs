//! pfsyncd's receiving side: one thread reads the pfsync socket, checks
//! each frame and puts numbered ones in their sender's order
//! (`pfsync::repair`, NACKs answered); another hands what is in order to
//! pfd. A pfd busy for a while (its state table growing, a long walk)
//! leaves frames waiting in memory (`DELIVER_QUEUE`) rather than dropped
//! by a full socket and asked for again from a sender that may no longer
//! have them.

use super::{unix_ms, Event, Link, Shared, INPUT_BATCH};
use crate::ioctl::client::Client;
use crate::ioctl::{Reply, Request};
use crate::log;
use crate::pfsync::auth;
use crate::pfsync::input;
use crate::pfsync::ratelimit::BulkLimiter;
use crate::pfsync::repair::{self, LagHistogram, RepairRx};
use crate::wire::pfsync::{parse_frame, Message, RepairExt, RepairKind};
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frames in order waiting for pfd, at most (about 1,000 states each
/// Mbyte: 16,384 frames of 5 states are 80,000 states, a second of a
/// busy link). Beyond, the receiving thread waits and the socket's
/// buffer (`RCVBUF`) takes the rest.
pub const DELIVER_QUEUE: usize = 16_384;
/// Frames handed to pfd in one request at most.
const DELIVER_BATCH: usize = 256;

/// A received frame's messages on their way to pfd: the sender, the
/// frame's lag stamp (0: none), the messages.
type Item = (Ipv4Addr, u32, Vec<Message>);

/// Receive pfsync frames, check them, put numbered ones in the sender's
/// order (`pfsync::repair`), hand them to pfd: a frame and those already
/// waiting behind it in one request per sender.
pub(super) fn receiver(shared: Arc<Shared>, events: Sender<Event>) {
    let (to_pfd, queued) = sync_channel::<Item>(DELIVER_QUEUE);
    {
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("deliver".into())
            .spawn(move || deliverer(s, queued, events));
        if let Err(e) = spawned {
            *shared.fatal.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(format!("pfsync: delivery thread: {e}"));
            shared.term.store(true, Ordering::Relaxed);
            return;
        }
    }
    let mut rx = Input {
        window: auth::ReplayWindow::new(),
        origin: Instant::now(),
        repair: RepairRx::new(),
    };
    let mut buf = vec![0u8; 65536];
    let mut ready: Vec<Item> = Vec::new();
    let mut frame_msgs = Vec::new();
    while !shared.term.load(Ordering::Relaxed) {
        let first = match shared.rx.recv(&mut buf) {
            Ok(r) => Some(r),
            Err(e) if crate::sys::transient(&e) => None,
            Err(e) => {
                log::err(&format!("pfsync: receive: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // The link as it is now, not as it was when recv began to wait:
        // pfsync0 may have come up meanwhile.
        let Some(link) = shared.link() else { continue };
        let mut next = first;
        let mut frames = 0;
        while let Some(r) = next {
            if let Some(d) = r.dropped {
                shared.stats().rcvdrops = d as u64;
            }
            frame_msgs.clear();
            if let Some((src, ext)) =
                rx.check(&shared, &link, &buf[..r.len], r.ifindex, &mut frame_msgs)
            {
                rx.repair_input(&shared, &link, src, ext, &mut frame_msgs, &mut ready);
            }
            frames += 1;
            next = if frames < INPUT_BATCH {
                shared.rx.recv_nonblocking(&mut buf).ok().flatten()
            } else {
                None
            };
        }
        // A full batch read: more are waiting (`RepairRx::set_behind`).
        rx.repair.set_behind(frames >= INPUT_BATCH);
        rx.repair_poll(&shared, &link, &mut ready);
        rx.report(&shared);
        for item in ready.drain(..) {
            if to_pfd.send(item).is_err() {
                return;
            }
        }
        shared.tail_alive();
    }
}

/// Hand what the receiving thread put in order to pfd, frames waiting
/// together in one request per sender, until the receiving thread ends.
fn deliverer(shared: Arc<Shared>, queued: Receiver<Item>, events: Sender<Event>) {
    let mut d = Deliver {
        ctl: None,
        limiter: BulkLimiter::new(),
        origin: Instant::now(),
        events,
        lag: LagHistogram::default(),
    };
    let mut batch = Vec::with_capacity(DELIVER_BATCH);
    while let Ok(first) = queued.recv() {
        batch.push(first);
        while batch.len() < DELIVER_BATCH {
            match queued.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        d.deliver_ready(&shared, &mut batch);
    }
}

/// The receiving thread's state besides its buffers.
struct Input {
    window: auth::ReplayWindow,
    origin: Instant,
    /// The peers' numbered frames put in order (`pfsync::repair`).
    repair: RepairRx<Ipv4Addr, Item>,
}

/// The delivering thread's state.
struct Deliver {
    ctl: Option<Client>,
    limiter: BulkLimiter,
    origin: Instant,
    events: Sender<Event>,
    lag: LagHistogram,
}

impl Input {
    /// A checked frame from `src`: numbered ones through the repair
    /// streams, NACKs answered, the rest straight on to `ready`.
    fn repair_input(
        &mut self,
        shared: &Shared,
        link: &Link,
        src: Ipv4Addr,
        ext: Option<RepairExt>,
        msgs: &mut Vec<Message>,
        ready: &mut Vec<Item>,
    ) {
        let now = self.origin.elapsed().as_millis() as u64;
        match ext {
            _ if src == link.src => {}
            Some(e) if e.kind == RepairKind::Data => {
                self.repair
                    .data(src, &e, (src, e.arg, std::mem::take(msgs)), now, ready)
            }
            Some(e) if e.kind == RepairKind::Alive => self.repair.alive(src, &e, now, ready),
            Some(e) if e.kind == RepairKind::Gone => self.repair.gone(src, &e, ready),
            Some(e) => {
                // A NACK: frames of ours to send again, if it is about
                // our stream.
                let mut again = Vec::new();
                let mut ring = shared.ring();
                let gone = ring.nack(e.epoch, e.seq, e.arg, now, &mut again);
                for f in &again {
                    shared.send_frame(f, link);
                }
                drop(ring);
                if let Some(g) = gone {
                    shared.send_control(&g, link);
                }
            }
            None if msgs.is_empty() => {}
            None => ready.push((src, 0, std::mem::take(msgs))),
        }
    }

    /// NACKs that are due; frames given up on let others go on.
    fn repair_poll(&mut self, shared: &Shared, link: &Link, ready: &mut Vec<Item>) {
        let now = self.origin.elapsed().as_millis() as u64;
        let mut nacks = Vec::new();
        self.repair.poll(now, &mut nacks, ready);
        for (_, n) in &nacks {
            shared.send_control(n, link);
        }
    }

    /// The repair counters for the report.
    fn report(&self, shared: &Shared) {
        let x = self.repair.stats;
        let mut r = shared.repair.lock().unwrap_or_else(|e| e.into_inner());
        r.gaps = x.gaps;
        r.nacked = x.nacked;
        r.repaired = x.repaired;
        r.lost = x.lost;
        r.dups = x.dups;
    }

    /// Check one received packet (interface, header, TTL, HMAC) and parse
    /// its messages into `msgs`; the sender when there are any.
    fn check(
        &mut self,
        shared: &Shared,
        link: &Link,
        pkt: &[u8],
        ifindex: u32,
        msgs: &mut Vec<Message>,
    ) -> Option<(Ipv4Addr, Option<RepairExt>)> {
        shared.stats().ipackets += 1;
        if ifindex != link.ifindex {
            shared.stats().badif += 1;
            return None;
        }
        let (src, frame) = match input::received(pkt) {
            Ok(r) => (r.src, r.frame),
            Err(input::Drop::Header) => {
                shared.stats().hdrops += 1;
                return None;
            }
            Err(input::Drop::Ttl(ttl)) => {
                shared.stats().badttl += 1;
                let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
                shared.warn_limited(
                    "badttl",
                    format!("pfsync: frame from {src} with TTL {ttl} dropped"),
                );
                return None;
            }
        };
        let frame = match &link.key {
            None => frame,
            Some(k) => match auth::verify(k, frame) {
                Ok((f, seq)) if self.window.accept(src, seq) => f,
                Ok(_) => {
                    shared.stats().replayed += 1;
                    shared.warn_limited(
                        "replayed",
                        format!("pfsync: frame from {src} dropped: replayed"),
                    );
                    return None;
                }
                Err(why) => {
                    shared.stats().badauth += 1;
                    shared.warn_limited(
                        "badauth",
                        format!(
                            "pfsync: frame from {src} dropped: {}",
                            match why {
                                auth::AuthError::Missing => "not authenticated",
                                auth::AuthError::Bad => "bad authentication",
                            }
                        ),
                    );
                    return None;
                }
            },
        };
        let fs = parse_frame(frame, msgs);
        shared.stats().frames.merge(&fs);
        if fs.badver == 0 && fs.hdrops == 0 && src != link.src {
            shared.track().heard = Some(Instant::now());
        }
        let bad = fs.badver + fs.badlen + fs.badact + fs.badval + fs.hdrops;
        if bad > 0 {
            shared.warn_limited(
                "malformed",
                format!("pfsync: malformed frame from {src}: badver {} badlen {} badact {} badval {} hdrops {}", fs.badver, fs.badlen, fs.badact, fs.badval, fs.hdrops),
            );
        }
        (fs.badver == 0 && fs.hdrops == 0).then(|| (src, RepairExt::of_frame(frame)))
    }
}

impl Deliver {
    /// Hand what is ready to pfd, a request per run of one sender's
    /// frames; then the lag of the frames with new states, for the
    /// report.
    fn deliver_ready(&mut self, shared: &Shared, ready: &mut Vec<Item>) {
        let mut msgs = Vec::new();
        let mut stamps = Vec::new();
        let mut items = std::mem::take(ready).into_iter().peekable();
        while let Some((src, stamp, mut m)) = items.next() {
            msgs.append(&mut m);
            stamps.push(stamp);
            if items.peek().is_some_and(|(s, _, _)| *s == src) {
                continue;
            }
            if !msgs.is_empty() {
                self.deliver(shared, src, &mut msgs);
            }
            let now = unix_ms();
            for st in stamps.drain(..) {
                if let Some(ms) = repair::lag_ms(st, now) {
                    self.lag.record(ms);
                }
            }
        }
        let mut r = shared.repair.lock().unwrap_or_else(|e| e.into_inner());
        r.lag_frames = self.lag.count();
        r.lag_p50_ms = self.lag.percentile(50);
        r.lag_p99_ms = self.lag.percentile(99);
        r.lag_max_ms = self.lag.max();
    }

    /// Hand the messages `src` sent to pfd (emptying `msgs`); bulk
    /// requests and BUS messages go to the main loop.
    fn deliver(&mut self, shared: &Shared, src: Ipv4Addr, msgs: &mut Vec<Message>) {
        if self.ctl.is_none() {
            self.ctl = Client::connect(&shared.socket).ok();
        }
        let Some(c) = self.ctl.as_mut() else {
            msgs.clear();
            return;
        };
        // Frames waiting together go to pfd in one request: each bulk
        // request among them still meets the per-peer limit on its own.
        let bulk_reqs = msgs
            .iter()
            .filter(|m| matches!(m, Message::UpdReq(r) if r.is_bulk()))
            .count();
        match c.call(&Request::PfsyncInput {
            messages: std::mem::take(msgs),
        }) {
            Ok(Reply::PfsyncInput {
                bulk_requested,
                bus,
                stale,
                badstate,
            }) => {
                {
                    let mut s = shared.stats();
                    s.stale += stale as u64;
                    s.badstate += badstate as u64;
                }
                for _ in 0..if bulk_requested { bulk_reqs.max(1) } else { 0 } {
                    if self
                        .limiter
                        .allow(src, self.origin.elapsed().as_millis() as u64)
                    {
                        let _ = self.events.send(Event::BulkRequested);
                    } else {
                        shared.stats().bulk_refused += 1;
                        shared.warn_limited(
                            "bulkrate",
                            format!("pfsync: bulk request from {src} refused: rate limit"),
                        );
                    }
                }
                for b in bus {
                    let _ = self.events.send(Event::Bus(b));
                }
            }
            Ok(_) => {}
            Err(e) => {
                shared.warn_limited("input", format!("pfsync: handing states to pfd: {e}"));
                self.ctl = None;
            }
        }
    }
}

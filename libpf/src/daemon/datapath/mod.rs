//! The data path: read packets from NFQUEUE, ask the engine, give the
//! verdict back (with the rewritten packet when it was translated, the
//! route selector in the mark, or another queue for divert-packet), send
//! whatever reply a `block return` produced, the packets pf sends on its
//! own (synproxy, syncookies) each with the mark the engine chose, and what
//! policy routing sends on another path (route-to after routing, dup-to
//! copies, af-to). A forwarded packet gets both its passes at once when
//! `onepass` can tell where it goes (`ahead`).
//!
//! Fragments: when netfilter does not reassemble before pfd's hooks (it
//! does only while connection tracking is in use in the namespace), the
//! engine holds each fragment until its datagram is complete. The packet
//! then stays in the kernel's queue, and all the data path keeps is its id:
//! the late verdict (`engine::frag::Release`) is given by id when the
//! datagram was filtered, or when its fragments timed out.

mod ahead;
mod drops;
mod logger;
mod qconf;
mod sink;
mod syncdefer;

pub use drops::KernelDrops;
pub use qconf::{QueueParams, Queues};
pub use sink::Outbound;

use super::ifnames::IfNames;
use super::onepass::Predictor;
use super::Shared;
use crate::engine::frag::Release;
use crate::engine::iface::IfName;
use crate::engine::packet::Dir;
use crate::engine::{Mtag, PacketMeta, Verdict};
use crate::fastpath::Tuple;
use crate::log;
use crate::sys::hooks::GENERATED_MARK;
use crate::sys::nfqueue::{self, Queue};
use crate::sys::policy_routing::RouteSender;
use crate::sys::raw::RawSender;
use ahead::Post;
use logger::{LogCopy, Logger};
use sink::{sends_bytes, Bytes, Extra, Sink};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// NF_INET_PRE_ROUTING and NF_INET_POST_ROUTING.
const HOOK_PREROUTING: u8 = 0;
const HOOK_POSTROUTING: u8 = 4;
/// How many fragments pfd holds at most (the room reserved for them in
/// each queue); `set limit frags` can only lower it.
pub const HOLD_MAX: u32 = 65536;
/// How often the data path looks for late verdicts while it holds packets
/// and none arrive (fragments that timed out).
const RELEASE_POLL_MS: u32 = 250;

fn open(queue_num: u16, gso: bool, params: QueueParams) -> io::Result<Queue> {
    Queue::open(queue_num, params.maxlen, gso, params.fail_open)
        .map_err(|e| io::Error::new(e.kind(), format!("NFQUEUE {queue_num}: {e}")))
}

/// The segmenting queue of queue `n` (see `Sink::resegment`).
pub fn segmenting_queue(n: u16) -> u16 {
    n ^ 0x8000
}

/// A packet waiting in the kernel's queue for its late verdict.
struct Held {
    id: u32,
    dir: Dir,
    ifname: String,
}

/// One queue's reader: the queue, what carries out verdicts, and what it
/// keeps between packets.
struct Worker {
    shared: Arc<Shared>,
    q: Queue,
    sink: Sink,
    names: IfNames,
    names_age: Instant,
    held: HashMap<u64, Held>,
    releases: Vec<Release>,
    pred: Predictor,
    /// Packets held for pfsync `defer`.
    sync_held: crate::pfsync::defer::Deferrals<syncdefer::SyncHeld>,
    /// Balanced carp interfaces: whose packets are another host's.
    owners: Arc<crate::daemon::carp::Owners>,
}

/// What the engine said about a packet, and about itself meanwhile.
struct Filtered {
    v: Verdict,
    debug: u8,
    enabled: bool,
    /// The state it matched (see Engine::last_state).
    state: Option<(crate::engine::state::Slot, bool)>,
    /// pfsync `defer` is on, and the state this packet created, when the
    /// packet waits for the peer's ack of it.
    defers: bool,
    created: Option<crate::pfsync::queue::StateRef>,
}

/// Serve one queue forever. `ready` hears whether the queue could be bound.
pub fn run(shared: Arc<Shared>, queue_num: u16, ready: Sender<io::Result<()>>) {
    let params = QueueParams::of(&shared.engine());
    let q = match open(queue_num, true, params) {
        Ok(q) => {
            match q.control() {
                Ok(fd) => shared.queues.add(queue_num, fd, params),
                Err(e) => log::err(&format!(
                    "NFQUEUE {queue_num}: {e}: `set limit nfqueue` and `set fail-policy` apply at the next start"
                )),
            }
            let _ = ready.send(Ok(()));
            q
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let sink = Sink {
        v4: RawSender::ipv4(Some(GENERATED_MARK), None).ok(),
        v6: RawSender::ipv6(Some(GENERATED_MARK)).ok(),
        outbound: Outbound::new(),
        route_sender: RouteSender::open()
            .map_err(|e| log::err(&format!("NFQUEUE {queue_num}: policy routing sockets: {e}")))
            .ok(),
        dup_buf: Vec::with_capacity(65536),
        seg_buf: Vec::with_capacity(65536),
        logger: Logger::new(shared.pflog.clone()),
        seg: open(segmenting_queue(queue_num), false, params)
            .map_err(|e| {
                log::err(&format!(
                    "segmenting queue: {e}: GSO packets pf sends itself are dropped"
                ))
            })
            .ok(),
    };
    let owners = shared.carp().owners();
    let mut w = Worker {
        shared,
        owners,
        q,
        sink,
        names: IfNames::default(),
        names_age: Instant::now(),
        held: HashMap::new(),
        releases: Vec::new(),
        pred: Predictor::new(),
        sync_held: Default::default(),
    };
    loop {
        let timeout = if !w.sync_held.is_empty() {
            Some(syncdefer::POLL_MS)
        } else {
            (!w.held.is_empty()).then_some(RELEASE_POLL_MS)
        };
        match w.q.recv(timeout) {
            Ok(Some(p)) => w.packet(&p),
            Ok(None) => w.timed_out(),
            Err(e) => {
                log::err(&format!("NFQUEUE {queue_num}: {e}"));
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        w.sync_undefer();
    }
}

impl Worker {
    /// No packet came: fragments that timed out, or were flushed for
    /// memory, get their late verdicts.
    fn timed_out(&mut self) {
        let debug = {
            let mut e = self.shared.engine();
            let held = &self.held;
            e.take_releases(|t| held.contains_key(&t), &mut self.releases);
            e.debug_level()
        };
        self.release(debug);
    }

    fn release(&mut self, debug: u8) {
        self.sink.release(
            &mut self.q,
            &self.shared,
            &mut self.held,
            &mut self.releases,
            debug,
        );
    }

    /// The direction and interface of a packet from hook `p.hook`; None
    /// when it got its verdict already (another hook, no bytes).
    fn direction(&mut self, p: &nfqueue::Packet) -> Option<(Dir, u32)> {
        let v = match p.hook {
            HOOK_PREROUTING if Queue::has_payload(p) => return Some((Dir::In, p.indev)),
            HOOK_POSTROUTING if Queue::has_payload(p) => return Some((Dir::Out, p.outdev)),
            HOOK_PREROUTING | HOOK_POSTROUTING => {
                // Queued before the queue asked for packets' bytes:
                // nothing to filter, so nothing passes.
                nfqueue::Verdict::Drop
            }
            _ => nfqueue::Verdict::Accept,
        };
        if let Err(e) = self.q.verdict(p.id, v, None, None) {
            log::err(&format!("NFQUEUE {} verdict: {e}", self.q.num()));
        }
        None
    }

    /// One packet from the queue.
    fn packet(&mut self, p: &nfqueue::Packet) {
        if self.names_age.elapsed() > Duration::from_secs(2) {
            self.names.clear();
            self.names_age = Instant::now();
        }
        let Some((dir, ifindex)) = self.direction(p) else {
            return;
        };
        if dir == Dir::In && self.owners.drops(ifindex, self.q.payload(p)) {
            // Another carp host's share (carp_lsdrop): before pf, no state.
            if let Err(e) = self.q.verdict(p.id, nfqueue::Verdict::Drop, None, None) {
                log::err(&format!("NFQUEUE {} verdict: {e}", self.q.num()));
            }
            return;
        }
        let mut mtag = Mtag::from_mark(p.mark);
        if dir == Dir::Out {
            match ahead::at_postrouting(&mut self.q, p, &self.shared.deferrals, &mut self.pred) {
                Some(Post::Done) => return,
                Some(Post::Filter(m)) => mtag = m,
                None => {}
            }
        }
        let ifname = IfName::new(self.names.get(ifindex));
        let meta = PacketMeta {
            dir,
            ifname: ifname.as_str(),
            uid: p.uid,
            gid: p.gid,
            mtag,
        };
        let original = LogCopy::of(self.q.payload(p));
        self.shared.fastpath.queued.fetch_add(1, Ordering::Relaxed);
        let fast = dir == Dir::In && self.shared.fastpath.is_on();
        let wire = fast.then(|| Tuple::of(self.q.payload(p))).flatten();
        if let Some(w) = wire.as_ref() {
            // A packet of an offloaded flow the program left to pfd.
            let now = self.shared.now_ms();
            self.shared
                .fastpath
                .pull_for(|| self.shared.engine(), ifindex, w, now);
        }
        let f = self.filter(&meta, p);
        let mid = wire.and_then(|_| Tuple::of(self.q.payload(p)));
        if let Some((slot, _)) = f.state {
            if ahead::plain(&f.v) && !f.v.modified && !p.truncated() {
                let pkt = self.q.payload(p);
                self.shared.syncpass.offer(pkt, dir, meta.ifname, slot);
            }
        }
        if f.v.hold.is_none() {
            let at = original.seen(dir, meta.ifname, meta.uid);
            self.sink.logger.log(&f.v, f.debug, &at);
        }
        // pfsync defer: the packet that created a state on its way out
        // waits for the peer's ack. While defer is on, forwarded packets
        // take both their passes (no `out` pass ahead), so that the `out`
        // pass is the one that creates the state, as on OpenBSD.
        if let Some(s) = f.created {
            self.sync_defer(p, &f.v, s);
            if !self.releases.is_empty() {
                self.release(f.debug);
            }
            return;
        }
        let ahead = if dir == Dir::In && f.enabled && !f.defers && ahead::ahead_eligible(&f.v, p) {
            ahead::out_ahead(
                &self.shared,
                &mut self.pred,
                &self.shared.deferrals,
                &mut self.names,
                &mut self.q,
                p,
                &f.v,
                mtag,
            )
        } else {
            None
        };
        match (ahead, f.v.hold) {
            (Some(a), _) => {
                let at = a.log.seen(Dir::Out, a.ifname.as_str(), meta.uid);
                self.sink.logger.log(&a.v, f.debug, &at);
                let in_mtag = f.v.mtag.unwrap_or(mtag);
                let offer = match (wire, mid) {
                    (Some(w), Some(m)) => ahead::offer(p, &f.v, f.state, in_mtag, &a, w, m),
                    _ => None,
                };
                ahead::finish(
                    &mut self.sink,
                    &mut self.q,
                    &self.shared,
                    &self.shared.deferrals,
                    p,
                    &f.v,
                    in_mtag,
                    a,
                );
                self.pred.done += 1;
                if let Some(o) = offer {
                    let now = self.shared.now_ms();
                    let mut e = self.shared.engine();
                    self.shared.fastpath.offer(&mut e, &o, now);
                }
            }
            (None, Some(ticket)) => {
                let h = Held {
                    id: p.id,
                    dir,
                    ifname: meta.ifname.to_string(),
                };
                self.held.insert(ticket, h);
            }
            (None, None) => {
                let extra = Extra::default();
                self.sink.finish(
                    &mut self.q,
                    &self.shared,
                    p.id,
                    &f.v,
                    Bytes::Queued(p),
                    extra,
                );
            }
        }
        if !self.releases.is_empty() {
            self.release(f.debug);
        }
        self.shared.deferrals.sweep();
    }

    /// The engine's verdict on packet `p` (filtered in place), with the
    /// fragments it released, its notices and new next hops seen to.
    fn filter(&mut self, meta: &PacketMeta, p: &nfqueue::Packet) -> Filtered {
        let shared = &self.shared;
        let (mut v, debug, route_gen, notices, enabled, state, defers, created, wake) = {
            let now = shared.now_ms();
            let mut e = shared.engine();
            e.sync.take_last_insert();
            let v = e.test(meta, self.q.payload_mut(p), now);
            let defers = e.sync.defers();
            // The state this packet created on its way out, when the
            // packet is to wait for the peer's ack of it (pfsync defer).
            let created = e.sync.take_last_insert().filter(|_| {
                defers && meta.dir == Dir::Out && syncdefer::eligible(p, self.q.payload(p), &v)
            });
            if let Some(s) = created {
                e.sync.acks.ask(s);
            }
            let state = e.last_state;
            let hold = v.hold;
            let held = &self.held;
            e.take_releases(
                |t| Some(t) == hold || held.contains_key(&t),
                &mut self.releases,
            );
            let wake = e.sync.take_wake();
            let notices = e.take_notices();
            let gen = e.route_targets().generation();
            (
                v,
                e.debug_level(),
                gen,
                notices,
                e.enabled(),
                state,
                defers,
                created,
                wake,
            )
        };
        shared.notify_sync(wake);
        for n in notices {
            log::warning(n.message());
        }
        if shared.routes_stale(route_gen) {
            // A new next hop: its rule and table before its first packet.
            shared.sync_routes();
        }
        if p.truncated() && v.hold.is_none() && v.pass && (v.modified || sends_bytes(&v.forward)) {
            // Longer than the kernel copies (a GSO packet past 64 KB, BIG
            // TCP): what pf made of it cannot be given back whole.
            v.pass = false;
        }
        Filtered {
            v,
            debug,
            enabled,
            state,
            defers,
            created,
        }
    }
}

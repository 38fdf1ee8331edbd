//! The data path: read packets from NFQUEUE, ask the engine, give the
//! verdict back (with the rewritten packet when it was translated, the
//! route selector in the mark, or another queue for divert-packet), send
//! whatever reply a `block return` produced, the packets pf sends on its
//! own (synproxy, syncookies) each with the mark the engine chose, and what
//! policy routing sends on another path (route-to after routing, dup-to
//! copies, af-to).
//!
//! Fragments: when netfilter does not reassemble before pfd's hooks (it
//! does only while connection tracking is in use in the namespace), the
//! engine holds each fragment until its datagram is complete. The packet
//! then stays in the kernel's queue, and all the data path keeps is its id:
//! the late verdict (`engine::frag::Release`) is given by id when the
//! datagram was filtered, or when its fragments timed out.

use super::ifnames::IfNames;
use super::onepass::{self, Deferrals, OutCodes, Predictor};
use super::{offload, routing, Shared};
use crate::engine::frag::Release;
use crate::engine::iface::IfName;
use crate::engine::packet::Dir;
use crate::engine::route::Forward;
use crate::engine::status::Reason;
use crate::engine::{Mtag, Outgoing, PacketMeta, Verdict};
use crate::log;
use crate::sys::hooks::GENERATED_MARK;
use crate::sys::nfqueue::{self, Queue};
use crate::sys::policy_routing::RouteSender;
use crate::sys::raw::RawSender;
use std::collections::HashMap;
use std::io;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// NF_INET_PRE_ROUTING and NF_INET_POST_ROUTING.
const HOOK_PREROUTING: u8 = 0;
const HOOK_POSTROUTING: u8 = 4;
/// pf's debug level from which it tells about dropped packets (LOG_NOTICE).
const DEBUG_NOTICE: u8 = 5;
/// Logged packets written to syslog per second, at most.
const LOG_PER_SEC: u32 = 100;
/// How many packets the kernel holds for us before dropping, besides the
/// fragments held for their datagram.
const QUEUE_MAXLEN: u32 = 8192;
/// How many fragments pfd holds at most (the room reserved for them in
/// each queue); `set limit frags` can only lower it.
pub const HOLD_MAX: u32 = 65536;
/// How often the data path looks for late verdicts while it holds packets
/// and none arrive (fragments that timed out).
const RELEASE_POLL_MS: u32 = 250;

fn open(queue_num: u16, gso: bool) -> io::Result<Queue> {
    Queue::open(queue_num, QUEUE_MAXLEN + HOLD_MAX, gso)
        .map_err(|e| io::Error::new(e.kind(), format!("NFQUEUE {queue_num}: {e}")))
}

/// Raw sockets for the packets pf sends on its own, each sent with the
/// mark the engine gave it (generated, or filtered by pf's `out` pass).
pub(super) struct Outbound {
    v4: Option<RawSender>,
    v6: Option<RawSender>,
    /// The mark each socket carries now.
    marks: [u32; 2],
}

impl Outbound {
    pub(super) fn new() -> Outbound {
        Outbound {
            v4: RawSender::ipv4(Some(0), None).ok(),
            v6: RawSender::ipv6(Some(0)).ok(),
            marks: [0; 2],
        }
    }

    pub(super) fn send(&mut self, o: &Outgoing) {
        let i = usize::from(o.packet.first().is_some_and(|b| b >> 4 == 6));
        let Some(s) = (if i == 1 { &self.v6 } else { &self.v4 }) else {
            return;
        };
        if self.marks[i] != o.mark {
            if let Err(e) = s.set_mark(o.mark) {
                log::err(&format!("raw socket mark: {e}"));
                return;
            }
            self.marks[i] = o.mark;
        }
        let _ = s.send(&o.packet);
    }
}

/// A packet waiting in the kernel's queue for its late verdict.
struct Held {
    id: u32,
    dir: Dir,
    ifname: String,
}

/// pflog's job: one syslog line per logged packet, at most LOG_PER_SEC a
/// second; pf's notices (debug level notice and up, `pfctl -x`) for
/// packets dropped for what they are rather than by a rule.
struct Logger {
    window: Instant,
    count: u32,
    suppressed: u64,
    last_full: Instant,
}

impl Logger {
    fn new() -> Logger {
        Logger {
            window: Instant::now(),
            count: 0,
            suppressed: 0,
            last_full: Instant::now() - Duration::from_secs(60),
        }
    }

    fn log(&mut self, v: &Verdict, debug: u8, dir: Dir, ifname: &str, packet: &[u8]) {
        let notice = debug >= DEBUG_NOTICE && !v.pass && v.reason != Reason::Match;
        if !v.log && !notice {
            return;
        }
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
    fn full(&mut self, shared: &Shared) {
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
            let frags = e.limit(crate::ruleset::Limit::Frags).min(HOLD_MAX);
            drop(e);
            log::warning(&format!(
                "fragment queue full ({frags} fragments, `set limit frags`): fragments are dropped"
            ));
        }
    }
}

/// Everything that carries out a verdict besides the queue itself.
struct Sink {
    /// Replies (RST, ICMP), with the generated mark.
    v4: Option<RawSender>,
    v6: Option<RawSender>,
    outbound: Outbound,
    route_sender: Option<RouteSender>,
    dup_buf: Vec<u8>,
    seg_buf: Vec<u8>,
    logger: Logger,
    /// The queue without GSO that cuts GSO packets into segments for pfd
    /// when it must send them itself (see `finish`).
    seg: Option<Queue>,
}

/// The bytes of a packet being given its verdict: still in the queue's
/// buffer, or a held fragment the engine handed back.
enum Bytes<'a> {
    Queued(&'a nfqueue::Packet),
    Own(&'a mut Vec<u8>),
}

/// What a packet filtered `in` and `out` at once needs besides its
/// verdict.
#[derive(Debug, Clone, Copy, Default)]
struct Extra {
    /// The mark to give it instead of its pf header's.
    mark: Option<u32>,
    /// Its TTL was taken down for the `out` pass: put it back before the
    /// kernel forwards it.
    ttl_restore: bool,
}

/// Does carrying out `f` send the packet's bytes through a raw socket?
fn sends_bytes(f: &Forward) -> bool {
    matches!(
        f,
        Forward::Resend(_) | Forward::Dup { .. } | Forward::AfTo(_)
    )
}

impl Sink {
    /// Give packet `id` its verdict: `pkt` is the packet as the engine left
    /// it (written back when the verdict says it was modified); `extra` what
    /// filtering `out` ahead of time adds (see `onepass`).
    fn finish(
        &mut self,
        q: &mut Queue,
        shared: &Shared,
        id: u32,
        v: &Verdict,
        mut pkt: Bytes,
        extra: Extra,
    ) {
        if v.reason == Reason::Memory {
            self.logger.full(shared);
        }
        let (csum_not_ready, gso) = match &pkt {
            Bytes::Queued(p) => (p.csum_not_ready, p.gso),
            Bytes::Own(_) => (false, false),
        };
        let mark = extra.mark.or(v.mtag.map(|t| t.to_mark()));
        let give_back = v.pass && v.modified;
        let resegment = gso && v.pass && sends_bytes(&v.forward);
        let accept = {
            let bytes: &mut [u8] = match &mut pkt {
                Bytes::Queued(p) => q.payload_mut(p),
                Bytes::Own(b) => &mut b[..],
            };
            if v.localhost && v.pass && crate::engine::localhost::is_v4(bytes) {
                shared.localnet.need();
            }
            if csum_not_ready && v.pass && (v.modified || sends_bytes(&v.forward)) {
                // The bytes leave as they are: their checksum must be whole.
                offload::complete_checksum(bytes);
            }
            if extra.ttl_restore {
                // Forwarding takes it down again.
                onepass::ttl_up(bytes);
            }
            if resegment {
                v.pass
            } else if let (true, Forward::AfTo(p)) = (csum_not_ready, &v.forward) {
                // Translated from a packet whose checksum was not done:
                // the translation's is not either.
                let mut whole = std::mem::take(&mut self.dup_buf);
                whole.clear();
                whole.extend_from_slice(p);
                offload::complete_checksum(&mut whole);
                if let Some(rs) = self.route_sender.as_mut() {
                    routing::send_af(rs, &whole);
                }
                self.dup_buf = whole;
                false
            } else {
                // Policy routing: send again on another path, copy, af-to.
                routing::forward(
                    self.route_sender.as_mut(),
                    &v.forward,
                    bytes,
                    &mut self.dup_buf,
                )
                .unwrap_or(v.pass)
            }
        };
        if let (true, Bytes::Queued(p)) = (resegment, &pkt) {
            // A raw socket sends one IP packet: let the kernel cut this one
            // into its segments first.
            self.resegment(q, p, v, mark);
        } else {
            let verdict = match (&v.forward, accept) {
                (Forward::Queue(n), true) => nfqueue::Verdict::Queue(*n),
                (_, true) => nfqueue::Verdict::Accept,
                (_, false) => nfqueue::Verdict::Drop,
            };
            let r = match &pkt {
                Bytes::Queued(p) => q.verdict_own(id, verdict, mark, give_back.then_some(*p)),
                Bytes::Own(b) => q.verdict(id, verdict, mark, give_back.then_some(&b[..])),
            };
            if let Err(e) = r {
                log::err(&format!("NFQUEUE {} verdict: {e}", q.num()));
            }
        }
        if v.reply.is_some() || !v.send.is_empty() {
            // What pf sends follows the packets before it.
            let _ = q.flush();
        }
        if let Some(reply) = &v.reply {
            let sender = if reply.first().is_some_and(|b| b >> 4 == 6) {
                self.v6.as_ref()
            } else {
                self.v4.as_ref()
            };
            if let Some(s) = sender {
                let _ = s.send(reply);
            }
        }
        for o in &v.send {
            self.outbound.send(o);
        }
    }

    /// A GSO packet that pfd must send itself (route-to after routing,
    /// dup-to, af-to): a raw socket sends one IP packet no larger than the
    /// route's MTU, and only the kernel knows the segment size the packet
    /// was made with. So it goes (rewritten when `payload`) to the
    /// segmenting queue, which takes GSO packets apart; the kernel queues
    /// the segments there at once, while handling this verdict, and each
    /// gets what the packet would have: sent again, or accepted and
    /// copied. For af-to the segments only tell the segment size: the
    /// translated packet is cut to it here and sent, the segments dropped.
    fn resegment(&mut self, q: &mut Queue, p: &nfqueue::Packet, v: &Verdict, mark: Option<u32>) {
        let Some(seg) = self.seg.as_mut() else {
            // No segmenting queue: the packet cannot go where pf sends it.
            let _ = q.verdict(p.id, nfqueue::Verdict::Drop, None, None);
            return;
        };
        let af_to = matches!(v.forward, Forward::AfTo(_));
        let rewritten = (v.modified && !af_to).then_some(p);
        let r = q
            .verdict_own(p.id, nfqueue::Verdict::Queue(seg.num()), mark, rewritten)
            .and_then(|_| q.flush());
        if let Err(e) = r {
            log::err(&format!("NFQUEUE {} verdict: {e}", q.num()));
            return;
        }
        let mut size = None;
        while let Ok(Some(p)) = seg.recv(Some(0)) {
            let bytes = seg.payload_mut(&p);
            if p.csum_not_ready {
                offload::complete_checksum(bytes);
            }
            let accept = if af_to {
                size = size.or_else(|| offload::segment_size(bytes));
                false
            } else {
                routing::forward(
                    self.route_sender.as_mut(),
                    &v.forward,
                    bytes,
                    &mut self.dup_buf,
                )
                .unwrap_or(false)
            };
            let verdict = if accept {
                nfqueue::Verdict::Accept
            } else {
                nfqueue::Verdict::Drop
            };
            let _ = seg.verdict(p.id, verdict, None, None);
        }
        let _ = seg.flush();
        if let (Forward::AfTo(p), Some(size)) = (&v.forward, size) {
            let mut whole = std::mem::take(&mut self.dup_buf);
            whole.clear();
            whole.extend_from_slice(p);
            offload::complete_checksum(&mut whole);
            let sender = self.route_sender.as_mut();
            if let Some(rs) = sender {
                offload::segment(&whole, size, &mut self.seg_buf, |s| {
                    routing::send_af(rs, s);
                });
            }
            self.dup_buf = whole;
        }
    }

    /// A `dup-to` copy of `pkt` as it is (filtered `out` already). A GSO
    /// packet is copied in segments of IPv6's minimum MTU: its own segment
    /// size is not known here.
    fn dup(&mut self, sel: u8, pkt: &[u8], gso: bool) {
        let f = Forward::Dup {
            sel,
            dec_ttl: false,
        };
        let mut whole = std::mem::take(&mut self.seg_buf);
        if gso {
            whole.clear();
            whole.extend_from_slice(pkt);
            offload::complete_checksum(&mut whole);
            let hdr = offload::headers_len(pkt).unwrap_or(pkt.len());
            let size = 1280usize.saturating_sub(hdr).max(8);
            let mut piece = Vec::new();
            let rs = self.route_sender.as_mut();
            if let Some(rs) = rs {
                let dup_buf = &mut self.dup_buf;
                offload::segment(&whole, size, &mut piece, |s| {
                    let _ = routing::forward(Some(&mut *rs), &f, s, dup_buf);
                });
            }
        } else {
            let _ = routing::forward(self.route_sender.as_mut(), &f, pkt, &mut self.dup_buf);
        }
        self.seg_buf = whole;
    }

    /// The late verdicts of held packets.
    fn release(
        &mut self,
        q: &mut Queue,
        shared: &Shared,
        held: &mut HashMap<u64, Held>,
        releases: &mut Vec<Release>,
        debug: u8,
    ) {
        for mut r in releases.drain(..) {
            let Some(h) = held.remove(&r.ticket) else {
                continue;
            };
            self.logger
                .log(&r.verdict, debug, h.dir, &h.ifname, &r.bytes);
            self.finish(
                q,
                shared,
                h.id,
                &r.verdict,
                Bytes::Own(&mut r.bytes),
                Extra::default(),
            );
        }
    }
}

/// A copy of the start of a packet, for the log line of a packet the
/// engine may rewrite in place: its length fields say it ends where the
/// copy does.
struct LogCopy {
    b: [u8; 256],
    len: usize,
}

impl LogCopy {
    fn of(pkt: &[u8]) -> LogCopy {
        let mut c = LogCopy {
            b: [0; 256],
            len: pkt.len().min(256),
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

    fn bytes(&self) -> &[u8] {
        &self.b[..self.len]
    }
}

/// Can a packet the `in` pass gave `v` be filtered `out` at once? Only a
/// plain pass: nothing held, sent, diverted or redirected to the host, and
/// not a packet of a bridge (br_netfilter) or cut short.
fn ahead_eligible(v: &Verdict, p: &nfqueue::Packet) -> bool {
    v.pass
        && v.hold.is_none()
        && v.forward == Forward::Normal
        && v.reply.is_none()
        && v.send.is_empty()
        && !v.localhost
        && !p.truncated()
        && !p.bridged
}

/// The `out` pass of a packet done ahead of time.
struct Ahead {
    v: Verdict,
    /// The interface it was for, its index and its code.
    ifname: IfName,
    oif: u32,
    code: u8,
    /// The packet as the `out` pass got it, for its log line.
    log: LogCopy,
    /// Its first bytes before the `out` pass (see `onepass::Deferrals`).
    expect: Vec<u8>,
}

impl Ahead {
    /// The verdict the packet gets for both passes, `in_mtag` the pf header
    /// the `in` pass left, `in_modified` whether it rewrote the packet.
    fn verdict(mut self, in_mtag: Mtag, in_modified: bool) -> (Verdict, Extra) {
        let m = self.v.mtag.unwrap_or(in_mtag);
        let mut extra = Extra {
            mark: Some(onepass::done_mark(m, self.code).unwrap_or_else(|| m.to_mark())),
            ttl_restore: self.v.pass,
        };
        match &mut self.v.forward {
            // Sent by pfd as forwarding leaves it (TTL down): the bytes
            // changed.
            Forward::Resend(_) => {
                extra.ttl_restore = false;
                self.v.modified = true;
            }
            // The original goes on through the kernel, which takes the TTL
            // down; the copy has it down already, as from POSTROUTING.
            Forward::Dup { dec_ttl, .. } => *dec_ttl = true,
            _ => {}
        }
        // Both passes' rewrites go back (the `in` pass's are in the bytes).
        self.v.modified |= in_modified;
        (self.v, extra)
    }
}

/// Filter `out` now the packet `p` the `in` pass just passed with `in_v`
/// (`in_mtag` its header before): when the kernel will forward it by one
/// unicast path and pfd's POSTROUTING chain knows that interface. None:
/// the packet keeps its second queueing.
#[allow(clippy::too_many_arguments)]
fn out_ahead(
    shared: &Arc<Shared>,
    pred: &mut Predictor,
    defer: &mut Deferrals,
    names: &mut IfNames,
    q: &mut Queue,
    p: &nfqueue::Packet,
    in_v: &Verdict,
    in_mtag: Mtag,
) -> Option<Ahead> {
    let m = in_v.mtag.unwrap_or(in_mtag);
    if m.tag > 0xff {
        return None;
    }
    let question = onepass::question(q.payload(p), p.indev, m.to_mark())?;
    let oif = pred.route(shared, &question, |t, d, o| {
        onepass::single_path(shared.engine().fib(), t, d, o)
    })?;
    let ifname = IfName::new(names.get(oif));
    let code = OutCodes::code(shared, ifname.as_str())?;
    let buf = q.payload_mut(p);
    if !onepass::ttl_down(buf) {
        return None;
    }
    let log = LogCopy::of(buf);
    let expect = defer.expect(buf);
    let meta = PacketMeta {
        dir: Dir::Out,
        ifname: ifname.as_str(),
        uid: None,
        gid: None,
        mtag: m,
    };
    let v = {
        let now = shared.now_ms();
        let mut e = shared.engine();
        let v = e.test(&meta, buf, now);
        if e.sync.is_urgent() {
            shared.sync_cv.notify_all();
        }
        for n in e.take_notices() {
            log::warning(n.message());
        }
        v
    };
    if v.hold.is_some() {
        // Not for a packet that is no fragment; should it happen, the
        // engine has it and will hand it back (without this pass).
        log::debug("out pass ahead of time held a packet");
    }
    Some(Ahead {
        v,
        ifname,
        oif,
        code,
        log,
        expect,
    })
}

/// The segmenting queue of queue `n` (see `Sink::resegment`).
pub fn segmenting_queue(n: u16) -> u16 {
    n ^ 0x8000
}

/// Packets the kernel dropped before pfd could see them (its queues or
/// pfd's socket buffers were full): pf's `congestion` counter, since the
/// last `pfctl -Fi`.
#[derive(Debug, Default)]
pub struct KernelDrops {
    base: std::sync::Mutex<u64>,
    /// The total when `warn` last looked.
    warned: std::sync::atomic::AtomicU64,
}

impl KernelDrops {
    fn total(shared: &Shared) -> u64 {
        let h = &shared.opts.hooks;
        nfqueue::kernel_drops(h.queue, h.queues.max(1)).unwrap_or(0)
    }

    /// The drops since the last `clear`.
    pub fn since_clear(&self, shared: &Shared) -> u64 {
        let base = *self.base.lock().unwrap_or_else(|e| e.into_inner());
        Self::total(shared).saturating_sub(base)
    }

    /// Say (every ten seconds at most, from the maintenance thread) that
    /// the kernel dropped packets since the last time.
    pub fn warn(&self, shared: &Shared) {
        use std::sync::atomic::Ordering;
        let total = Self::total(shared);
        let before = self.warned.swap(total, Ordering::Relaxed);
        if total > before {
            log::warning(&format!(
                "{} packets dropped by the kernel: pfd could not take them in time (pfctl -si: congestion)",
                total - before
            ));
        }
    }

    pub fn clear(&self, shared: &Shared) {
        *self.base.lock().unwrap_or_else(|e| e.into_inner()) = Self::total(shared);
    }
}

/// Serve one queue forever. `ready` hears whether the queue could be bound.
pub fn run(shared: Arc<Shared>, queue_num: u16, ready: Sender<io::Result<()>>) {
    let mut q = match open(queue_num, true) {
        Ok(q) => {
            let _ = ready.send(Ok(()));
            q
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let seg_num = segmenting_queue(queue_num);
    let mut sink = Sink {
        v4: RawSender::ipv4(Some(GENERATED_MARK), None).ok(),
        v6: RawSender::ipv6(Some(GENERATED_MARK)).ok(),
        outbound: Outbound::new(),
        route_sender: RouteSender::open()
            .map_err(|e| log::err(&format!("NFQUEUE {queue_num}: policy routing sockets: {e}")))
            .ok(),
        dup_buf: Vec::with_capacity(65536),
        seg_buf: Vec::with_capacity(65536),
        logger: Logger::new(),
        seg: open(seg_num, false)
            .map_err(|e| {
                log::err(&format!(
                    "segmenting queue: {e}: GSO packets pf sends itself are dropped"
                ))
            })
            .ok(),
    };
    let mut names = IfNames::default();
    let mut names_age = Instant::now();
    let mut held: HashMap<u64, Held> = HashMap::new();
    let mut releases: Vec<Release> = Vec::new();
    let mut pred = Predictor::new();
    let mut defer = Deferrals::default();
    loop {
        let timeout = (!held.is_empty()).then_some(RELEASE_POLL_MS);
        let p = match q.recv(timeout) {
            Ok(Some(p)) => p,
            Ok(None) => {
                // Fragments that timed out, or were flushed for memory.
                let debug = {
                    let mut e = shared.engine();
                    e.take_releases(|t| held.contains_key(&t), &mut releases);
                    e.debug_level()
                };
                sink.release(&mut q, &shared, &mut held, &mut releases, debug);
                continue;
            }
            Err(e) => {
                log::err(&format!("NFQUEUE {queue_num}: {e}"));
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if names_age.elapsed() > Duration::from_secs(2) {
            names.clear();
            names_age = Instant::now();
        }
        let (dir, ifindex) = match p.hook {
            HOOK_PREROUTING => (Dir::In, p.indev),
            HOOK_POSTROUTING => (Dir::Out, p.outdev),
            _ => {
                if let Err(e) = q.verdict(p.id, nfqueue::Verdict::Accept, None, None) {
                    log::err(&format!("NFQUEUE {queue_num} verdict: {e}"));
                }
                continue;
            }
        };
        if !Queue::has_payload(&p) {
            // Queued before the queue asked for packets' bytes: nothing
            // to filter, so nothing passes.
            let _ = q.verdict(p.id, nfqueue::Verdict::Drop, None, None);
            continue;
        }
        let mut mtag = Mtag::from_mark(p.mark);
        if dir == Dir::Out {
            if let Some(t) = onepass::defer_ticket(p.mark) {
                // Filtered `out` ahead of time, its rewrite waiting here.
                let d = defer.take(t).filter(|d| d.matches(q.payload(&p)));
                match d {
                    Some(d) if d.oif == p.outdev => {
                        let buf = q.payload_mut(&p);
                        d.apply(buf);
                        if d.csum || p.csum_not_ready {
                            offload::complete_checksum(buf);
                        }
                        let v = match d.queue {
                            Some(n) => nfqueue::Verdict::Queue(n),
                            None => nfqueue::Verdict::Accept,
                        };
                        let _ = q.verdict_own(p.id, v, Some(d.mark), Some(&p));
                        defer.recycle(d);
                        continue;
                    }
                    Some(d) => {
                        // It leaves elsewhere (a route changed meanwhile):
                        // filter it `out` where it goes.
                        mtag = d.in_mtag;
                        defer.recycle(d);
                        pred.mispredicted += 1;
                        pred.forget();
                    }
                    None => {
                        // Nothing kept for it: what pf made of it is lost.
                        let _ = q.verdict(p.id, nfqueue::Verdict::Drop, None, None);
                        continue;
                    }
                }
            } else if let Some(m) = onepass::from_done_mark(p.mark) {
                // Filtered `out` ahead of time for another interface than
                // the one it leaves by (a route changed meanwhile): filter
                // it where it really goes.
                mtag = m;
                pred.mispredicted += 1;
                pred.forget();
            }
        }
        let ifname = IfName::new(names.get(ifindex));
        let meta = PacketMeta {
            dir,
            ifname: ifname.as_str(),
            uid: p.uid,
            gid: p.gid,
            mtag,
        };
        let original = LogCopy::of(q.payload(&p));
        let (mut verdict, debug, route_gen, notices, enabled) = {
            let now = shared.now_ms();
            let mut e = shared.engine();
            let v = e.test(&meta, q.payload_mut(&p), now);
            let hold = v.hold;
            e.take_releases(|t| Some(t) == hold || held.contains_key(&t), &mut releases);
            if e.sync.is_urgent() {
                shared.sync_cv.notify_all();
            }
            let notices = e.take_notices();
            (
                v,
                e.debug_level(),
                e.route_targets().generation(),
                notices,
                e.enabled(),
            )
        };
        for n in notices {
            log::warning(n.message());
        }
        if shared.routes_stale(route_gen) {
            // A new next hop: its rule and table before its first packet.
            shared.sync_routes();
        }
        if p.truncated()
            && verdict.hold.is_none()
            && verdict.pass
            && (verdict.modified || sends_bytes(&verdict.forward))
        {
            // Longer than the kernel copies (a GSO packet past 64 KB, BIG
            // TCP): what pf made of it cannot be given back whole.
            verdict.pass = false;
        }
        if verdict.hold.is_none() {
            sink.logger
                .log(&verdict, debug, dir, meta.ifname, original.bytes());
        }
        let ahead = if dir == Dir::In && enabled && ahead_eligible(&verdict, &p) {
            out_ahead(
                &shared, &mut pred, &mut defer, &mut names, &mut q, &p, &verdict, mtag,
            )
        } else {
            None
        };
        if let Some(mut a) = ahead {
            sink.logger
                .log(&a.v, debug, Dir::Out, a.ifname.as_str(), a.log.bytes());
            let in_mtag = verdict.mtag.unwrap_or(mtag);
            let queue = match a.v.forward {
                Forward::Queue(n) => Some(n),
                _ => None,
            };
            let rewrite_waits = a.v.pass
                && (a.v.modified || queue.is_some())
                && matches!(
                    a.v.forward,
                    Forward::Normal | Forward::Dup { .. } | Forward::Queue(_)
                );
            if rewrite_waits {
                // The `out` pass rewrote it: routed so, it could go
                // elsewhere or be dropped (a source address of the host's
                // own). It goes on as the `in` pass left it, and gets the
                // rewrite at POSTROUTING (and goes to its divert-packet
                // queue from there).
                if let Forward::Dup { sel, .. } = a.v.forward {
                    sink.dup(sel, q.payload(&p), p.gso);
                }
                let buf = q.payload_mut(&p);
                let m = a.v.mtag.unwrap_or(in_mtag);
                let expect = std::mem::take(&mut a.expect);
                let n = expect.len();
                let ticket = defer.put(
                    expect,
                    buf,
                    a.oif,
                    in_mtag,
                    m.to_mark(),
                    queue,
                    p.csum_not_ready,
                );
                if let Some(d) = defer.peek_expect(ticket) {
                    buf[..n].copy_from_slice(d);
                }
                if p.csum_not_ready && verdict.modified {
                    // `finish` gives it back with its checksum computed:
                    // that is what POSTROUTING will see.
                    offload::complete_checksum(buf);
                    defer.refresh_expect(ticket, buf);
                }
                let mut v = a.v;
                v.modified = verdict.modified;
                v.forward = Forward::Normal;
                v.mtag = None;
                let extra = Extra {
                    mark: Some(onepass::defer_mark(in_mtag.route, ticket)),
                    ttl_restore: true,
                };
                sink.finish(&mut q, &shared, p.id, &v, Bytes::Queued(&p), extra);
            } else {
                defer.drop_expect(std::mem::take(&mut a.expect));
                let (v, extra) = a.verdict(in_mtag, verdict.modified);
                sink.finish(&mut q, &shared, p.id, &v, Bytes::Queued(&p), extra);
            }
            pred.done += 1;
        } else {
            match verdict.hold {
                Some(ticket) => {
                    held.insert(
                        ticket,
                        Held {
                            id: p.id,
                            dir,
                            ifname: meta.ifname.to_string(),
                        },
                    );
                }
                None => {
                    sink.finish(
                        &mut q,
                        &shared,
                        p.id,
                        &verdict,
                        Bytes::Queued(&p),
                        Extra::default(),
                    );
                }
            }
        }
        if !releases.is_empty() {
            sink.release(&mut q, &shared, &mut held, &mut releases, debug);
        }
        defer.sweep();
    }
}

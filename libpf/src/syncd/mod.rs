//! pfsyncd: the pfsync protocol on the sync link. It takes pfd's stream of
//! local state changes and sends them as pfsync frames (IP protocol 240 to
//! 224.0.0.240 or the syncpeer, TTL 255, out of the syncdev only), hands
//! what the peer sends to pfd (`receive`), answers bulk requests (paced windows of
//! frames, `BULK_WINDOW`), and runs the bulk-update request that keeps CARP demoted until the
//! peer's table is here. The binary only parses its command line.

mod receive;

use crate::ioctl::client::Client;
use crate::ioctl::frame::read_frame;
use crate::ioctl::{Reply, Request};
use crate::log;
use crate::pfsync::auth;
use crate::pfsync::bulk::{self, Requester};
use crate::pfsync::repair::{self, SendRing};
use crate::pfsync::stats::{BulkPhase, PfsyncReport, PfsyncStats, RepairReport};
use crate::pfsync::PfsyncConfig;
use crate::sys::netlink::Netlink;
use crate::sys::raw::{RawReceiver, RawSender};
use crate::wire::pfsync::{
    build_ipv4, control_frame, BusRepr, FrameBuilder, FrameStats, Message, RepairExt, UpdReqRepr,
    BUS_END, BUS_START, INADDR_PFSYNC_GROUP,
};
use crate::wire::IPPROTO_PFSYNC;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A bulk update goes out in windows of this many frames (5 states a
/// frame)...
pub const BULK_WINDOW: u32 = 64;
/// ...one window per this time: 64 frames per 2 ms, 32,000 frames and
/// 160,000 states a second, 48 Mbyte/s on the sync link. A window is
/// 96 kbyte, well inside the receiving socket's buffer (`RCVBUF`).
pub const BULK_WINDOW_TIME: Duration = Duration::from_millis(2);
/// The pfsync socket's receive buffer: a burst of frames waits here
/// while the receiving thread is busy (or the delivery queue is full).
pub const RCVBUF: usize = 8 << 20;
/// Frames already waiting on the socket are read at once, up to this
/// many, before the repair's timers are looked at.
pub const INPUT_BATCH: usize = 64;
/// pfsync0's MTU.
pub const MTU: usize = 1500;
/// With nothing else to send for this long, an empty frame (the pfsync
/// header alone, which OpenBSD's pfsync_input takes without complaint)
/// tells the peer this side is alive: the health check's silence.
pub const KEEPALIVE: Duration = Duration::from_secs(1);
/// pfsyncd's threads run in SCHED_FIFO at this priority when they may
/// (below CARP's, `daemon::carp`), as do pfd's ends of the sync path: on a
/// busy machine a frame waited a time slice at each of the six threads
/// between a new state and its insert on the peer (lag p99 36 ms with
/// eight busy processes beside two cores, 9 ms in SCHED_FIFO). The bulk
/// sender is not among them: it runs for seconds.
pub const RT_PRIO: i32 = 5;
/// At most this often pfsyncd sends pfd its report when it changed.
pub const REPORT_INTERVAL: Duration = Duration::from_millis(100);

/// Where frames go out.
#[derive(Clone)]
struct Link {
    syncdev: String,
    ifindex: u32,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    /// pfsync0's pass: frames out are signed, frames in must be.
    key: Option<Vec<u8>>,
}

/// pfsync statistics (netstat -s -p pfsync on OpenBSD).
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub ipackets: u64,
    pub badif: u64,
    pub badttl: u64,
    pub hdrops: u64,
    pub frames: FrameStats,
    pub stale: u64,
    pub badstate: u64,
    pub opackets: u64,
    pub oerrors: u64,
    /// Frames without a good HMAC while pfsync0 has a pass.
    pub badauth: u64,
    /// Frames with a good HMAC seen before (replayed).
    pub replayed: u64,
    /// Bulk requests refused by the per-peer rate limit.
    pub bulk_refused: u64,
    /// Frames the receiving socket dropped for want of buffer space.
    pub rcvdrops: u64,
}

impl Stats {
    /// The counters as OpenBSD's `struct pfsyncstats` has them.
    pub fn openbsd(&self) -> PfsyncStats {
        let f = &self.frames;
        PfsyncStats {
            ipackets: self.ipackets,
            badif: self.badif,
            badttl: self.badttl,
            hdrops: self.hdrops + f.hdrops,
            badver: f.badver,
            badact: f.badact,
            badlen: f.badlen,
            // Without a good HMAC, or replayed (pfsync0's pass).
            badauth: self.badauth + self.replayed,
            stale: self.stale,
            badval: f.badval,
            badstate: self.badstate,
            opackets: self.opackets,
            oerrors: self.oerrors,
            ..Default::default()
        }
    }
}

/// What goes into the report besides the counters.
#[derive(Debug, Default)]
struct Track {
    /// Last good frame from the peer.
    heard: Option<Instant>,
    /// The sync link came up (pfsync0 up with a usable syncdev).
    up_since: Option<Instant>,
    bulk: BulkPhase,
    bulk_since: Option<Instant>,
    bulks_received: u64,
    bulks_failed: u64,
    bulks_sent: u64,
    /// Last frame sent (keepalive timing).
    sent: Option<Instant>,
    /// Last numbered (DATA) frame sent, and how many ALIVE frames went
    /// out after it (`repair::TAIL_ALIVE_MS`).
    data_sent: Option<Instant>,
    tail_alives: usize,
}

struct Shared {
    socket: String,
    link: Mutex<Option<Link>>,
    sender: Mutex<Option<RawSender>>,
    /// The socket frames come in on, and the interface it has joined
    /// 224.0.0.240 on (joined before a bulk request goes out, so that the
    /// answer, however fast, is received).
    rx: RawReceiver,
    joined: Mutex<Option<u32>>,
    stats: Mutex<Stats>,
    ident: Mutex<u16>,
    term: Arc<AtomicBool>,
    last_log: Mutex<HashMap<&'static str, Instant>>,
    hostid: Mutex<u32>,
    /// Why pfsyncd must stop, when something fatal happened.
    fatal: Mutex<Option<String>>,
    /// SIGHUP: log the statistics.
    hup: Arc<AtomicBool>,
    /// A bulk update is being sent: a request meanwhile starts no other.
    bulk_running: AtomicBool,
    /// The next authenticated frame's number (`auth`).
    seq: AtomicU64,
    track: Mutex<Track>,
    /// Frames numbered and kept for the peer's NACKs (`pfsync::repair`);
    /// held while a frame is numbered and sent, so numbers go out in order.
    ring: Mutex<SendRing>,
    /// The receiving side's repair counters and lag, for the report.
    repair: Mutex<RepairReport>,
}

impl Shared {
    /// Be a member of the pfsync group on `ifindex` (and nowhere else).
    fn join(&self, ifindex: Option<u32>) {
        let mut joined = self.joined.lock().unwrap_or_else(|e| e.into_inner());
        if *joined == ifindex {
            return;
        }
        if let Some(i) = *joined {
            let _ = self.rx.leave(INADDR_PFSYNC_GROUP, i);
        }
        if let Some(i) = ifindex {
            if let Err(e) = self.rx.join(INADDR_PFSYNC_GROUP, i) {
                log::err(&format!("pfsync: joining 224.0.0.240: {e}"));
            }
        }
        *joined = ifindex;
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn track(&self) -> std::sync::MutexGuard<'_, Track> {
        self.track.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The report for pfd, ages taken now.
    fn report(&self) -> PfsyncReport {
        let stats = self.stats().openbsd();
        // The ring before the track: a frame is sent (and the track
        // noted) with the ring held.
        let repair = {
            let ring = self.ring();
            RepairReport {
                resent: ring.resent,
                nacks_in: ring.nacks,
                gone_out: ring.gone,
                ..*self.repair.lock().unwrap_or_else(|e| e.into_inner())
            }
        };
        let t = self.track();
        let ms = |i: Option<Instant>| i.map(|i| i.elapsed().as_millis() as u64);
        PfsyncReport {
            stats,
            last_heard_ms: ms(t.heard),
            bulk: t.bulk,
            bulk_phase_ms: ms(t.bulk_since).unwrap_or(0),
            bulks_received: t.bulks_received,
            bulks_failed: t.bulks_failed,
            bulks_sent: t.bulks_sent,
            bulk_sending: self.bulk_running.load(Ordering::Relaxed),
            up_ms: ms(t.up_since).map_or(0, |m| m.max(1)),
            repair,
            defer: Default::default(),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, SendRing> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn link(&self) -> Option<Link> {
        self.link.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A frame of the repair protocol alone (ALIVE, NACK, GONE).
    fn send_control(&self, ext: &RepairExt, link: &Link) {
        self.send_frame(&control_frame(ext), link);
    }

    /// ALIVE frames after the last DATA frame (`repair::TAIL_ALIVE_MS`),
    /// so that the peer notices when that frame was lost.
    fn tail_alive(&self) {
        let due = {
            let t = self.track();
            match (t.data_sent, repair::TAIL_ALIVE_MS.get(t.tail_alives)) {
                (Some(at), Some(&ms)) => at.elapsed() >= Duration::from_millis(ms),
                _ => false,
            }
        };
        if let (true, Some(link)) = (due, self.link()) {
            let ext = self.ring().alive(unix_ms() as u32);
            self.send_control(&ext, &link);
            self.track().tail_alives += 1;
        }
    }

    /// The bulk phase from the requester's, Done or Failed as it ended.
    fn set_bulk(&self, phase: bulk::Phase) {
        let mut t = self.track();
        let b = match phase {
            bulk::Phase::Idle => BulkPhase::Idle,
            bulk::Phase::WaitLink { .. } => BulkPhase::WaitLink,
            bulk::Phase::Sent { .. } => BulkPhase::Requested,
            bulk::Phase::Bulk { .. } => BulkPhase::Receiving,
            bulk::Phase::Done if t.bulk == BulkPhase::Failed => BulkPhase::Failed,
            bulk::Phase::Done => BulkPhase::Done,
        };
        if b != t.bulk || t.bulk_since.is_none() {
            t.bulk = b;
            t.bulk_since = Some(Instant::now());
        }
    }

    /// An empty frame when nothing went out for KEEPALIVE.
    fn keepalive(&self) {
        let due = self.track().sent.is_none_or(|t| t.elapsed() >= KEEPALIVE);
        let link = self.link.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let (true, Some(link)) = (due, link) {
            let ext = self.ring().alive(unix_ms() as u32);
            self.send_control(&ext, &link);
        }
    }

    fn warn_limited(&self, kind: &'static str, msg: String) {
        let mut l = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if l.get(kind)
            .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            l.insert(kind, now);
            log::warning(&msg);
        }
    }

    /// Pack `msgs` into frames and send them; `stamp`: the Unix time (ms)
    /// the oldest new state among them was made (0: none).
    fn send(&self, msgs: &[Message], stamp: u64) {
        let link = self.link.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(link) = link else { return };
        let stamp = stamp as u32;
        let mut b = FrameBuilder::new(MTU);
        for m in msgs {
            if !b.push(m) {
                self.flush_stamped(&mut b, &link, stamp);
                if !b.push(m) {
                    continue;
                }
            }
        }
        self.flush_stamped(&mut b, &link, stamp);
    }

    fn flush(&self, b: &mut FrameBuilder, link: &Link) {
        self.flush_stamped(b, link, 0);
    }

    /// Send what `b` holds as the next numbered (DATA) frame.
    fn flush_stamped(&self, b: &mut FrameBuilder, link: &Link, stamp: u32) {
        if b.is_empty() {
            return;
        }
        let mut payload = b.finish();
        let mut ring = self.ring();
        ring.number(&mut payload, stamp);
        self.send_frame(&payload, link);
        drop(ring);
        let mut t = self.track();
        t.data_sent = Some(Instant::now());
        t.tail_alives = 0;
    }

    fn send_frame(&self, payload: &[u8], link: &Link) {
        // With a pass: the trailer after the frame (`pfsync::auth`).
        let signed;
        let payload = match &link.key {
            Some(k) => {
                let mut p = payload.to_vec();
                auth::sign(k, self.seq.fetch_add(1, Ordering::Relaxed), &mut p);
                signed = p;
                &signed[..]
            }
            None => payload,
        };
        let ident = {
            let mut i = self.ident.lock().unwrap_or_else(|e| e.into_inner());
            *i = i.wrapping_add(1);
            *i
        };
        let pkt = build_ipv4(link.src, link.dst, ident, payload);
        let r = self
            .sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|s| s.send(&pkt));
        match r {
            Some(Ok(())) => {
                self.stats().opackets += 1;
                self.track().sent = Some(Instant::now());
            }
            Some(Err(e)) => {
                self.stats().oerrors += 1;
                self.warn_limited("send", format!("pfsync: send on {}: {e}", link.syncdev));
            }
            None => {}
        }
    }
}

/// What the receiver thread tells the main loop.
enum Event {
    Bus(BusRepr),
    BulkRequested,
}

/// Run pfsyncd until `term` is set; `hup` asks for the statistics in the
/// log.
pub fn run(socket: &str, term: Arc<AtomicBool>, hup: Arc<AtomicBool>) -> io::Result<()> {
    let rx = RawReceiver::ipv4(IPPROTO_PFSYNC)
        .map_err(|e| io::Error::new(e.kind(), format!("pfsync raw socket: {e}")))?;
    // Short: the receiving thread also times NACKs and ALIVE frames.
    rx.set_timeout(Some(Duration::from_millis(10)))?;
    match rx.set_recv_buffer(RCVBUF) {
        Ok(n) if n < RCVBUF => log::warning(&format!(
            "pfsync: receive buffer {n} bytes (wanted {RCVBUF}): a bulk update may lose frames"
        )),
        Ok(_) => {}
        Err(e) => log::warning(&format!("pfsync: receive buffer: {e}")),
    }
    if let Err(e) = rx.count_drops() {
        log::warning(&format!("pfsync: counting receive drops: {e}"));
    }
    let shared = Arc::new(Shared {
        socket: socket.to_string(),
        link: Mutex::new(None),
        sender: Mutex::new(None),
        rx,
        joined: Mutex::new(None),
        stats: Mutex::new(Stats::default()),
        ident: Mutex::new(0),
        term: term.clone(),
        last_log: Mutex::new(HashMap::new()),
        hostid: Mutex::new(0),
        fatal: Mutex::new(None),
        hup,
        bulk_running: AtomicBool::new(false),
        seq: AtomicU64::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_micros() as u64),
        ),
        track: Mutex::new(Track::default()),
        ring: Mutex::new(SendRing::new(random_epoch(), repair::RING_BYTES)),
        repair: Mutex::new(RepairReport::default()),
    });
    // The receiving and delivering threads inherit it.
    if let Err(e) = crate::sys::timer::realtime(RT_PRIO) {
        log::info(&format!("pfsync: no real-time scheduling ({e})"));
    }
    let (tx, rx) = channel();
    {
        let s = shared.clone();
        std::thread::Builder::new()
            .name("receive".into())
            .spawn(move || receive::receiver(s, tx))?;
    }
    // Ready: pfd may come later, attach retries until it does.
    crate::sys::notify::ready();
    while !term.load(Ordering::Relaxed) {
        match attach(&shared, &rx) {
            Ok(()) => {}
            Err(e) => {
                shared.warn_limited("attach", format!("pfd: {e}; retrying"));
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    log_stats(&shared, "exiting");
    let fatal = shared
        .fatal
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    match fatal {
        Some(why) => Err(io::Error::other(why)),
        None => Ok(()),
    }
}

/// This pfsyncd's stream number: random, so that a restart is told from
/// a late frame.
fn random_epoch() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() as u32
}

/// The Unix time in ms (the clock replication lag is taken on).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn log_stats(shared: &Shared, what: &str) {
    let s = *shared.stats();
    log::notice(&format!(
        "{what}: {} frames in ({} badif, {} badttl, {} hdrops, {} badauth, {} replayed, {} badver, {} badlen, {} badact, {} badval), {} stale, {} badstate, {} bulk requests refused, {} receive drops, {} frames out ({} errors)",
        s.ipackets, s.badif, s.badttl, s.hdrops, s.badauth, s.replayed, s.frames.badver, s.frames.badlen, s.frames.badact, s.frames.badval, s.stale, s.badstate, s.bulk_refused, s.rcvdrops, s.opackets, s.oerrors
    ));
}

/// One attachment to pfd: follow the change stream until it ends.
fn attach(shared: &Arc<Shared>, events: &Receiver<Event>) -> io::Result<()> {
    let mut ctl = Client::connect(&shared.socket).map_err(io::Error::other)?;
    if let Ok(Reply::Status(st)) = ctl.call(&Request::GetStatus) {
        *shared.hostid.lock().unwrap_or_else(|e| e.into_inner()) = st.hostid;
    }
    let mut stream = Client::connect(&shared.socket).map_err(io::Error::other)?;
    stream
        .send(&Request::PfsyncAttach)
        .map_err(io::Error::other)?;
    let mut stream: UnixStream = stream.into_stream();
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    log::notice("attached to pfd");
    let mut config: Option<PfsyncConfig> = None;
    let mut requester = Requester::new(bulk::bulk_timeout_ms(100_000, MTU as u32));
    let origin = Instant::now();
    let now = || origin.elapsed().as_millis() as u64;
    let mut draining_since: Option<Instant> = None;
    let mut last_link_check = Instant::now();
    let mut last_report = Instant::now();
    let mut reported: Option<ReportKey> = None;
    loop {
        if shared.term.load(Ordering::Relaxed) && draining_since.is_none() {
            // Give pfd a moment to hand over what it still has queued.
            draining_since = Some(Instant::now());
        }
        if draining_since.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) {
            break;
        }
        match read_frame::<Reply>(&mut stream) {
            Ok(Some(Reply::SyncOut(msgs, stamp))) => shared.send(&msgs, stamp),
            Ok(Some(Reply::PfsyncConfig(cfg))) => {
                let acts = reconfigure(shared, config.as_ref(), &cfg, &mut requester, now());
                config = Some(cfg);
                run_bulk_actions(shared, &mut ctl, acts, now());
            }
            Ok(Some(Reply::Error { message, .. })) => return Err(io::Error::other(message)),
            Ok(Some(_)) => {}
            Ok(None) => {
                log::notice("pfd closed the stream");
                break;
            }
            Err(crate::ioctl::frame::FrameError::Io(e)) if crate::sys::transient(&e) => {}
            Err(e) => return Err(io::Error::other(e.to_string())),
        }
        if shared.hup.swap(false, Ordering::Relaxed) {
            log_stats(shared, "statistics");
        }
        while let Ok(ev) = events.try_recv() {
            match ev {
                Event::Bus(b) => {
                    if b.status == BUS_START {
                        // OpenBSD's timer, from the state limit as it is now.
                        let limit = state_limit(&mut ctl);
                        requester.set_bulk_timeout(bulk::bulk_timeout_ms(limit, MTU as u32));
                        log::info(&format!(
                            "bulk update from {:08x}: started (giving up after {} s)",
                            b.creatorid,
                            requester.bulk_timeout() / 1000
                        ));
                    }
                    let acts = requester.on_bus(b.status, b.creatorid, now());
                    run_bulk_actions(shared, &mut ctl, acts, now());
                }
                Event::BulkRequested => {
                    if shared.bulk_running.swap(true, Ordering::AcqRel) {
                        log::info("bulk update: already sending, request ignored");
                        continue;
                    }
                    let s = shared.clone();
                    std::thread::spawn(move || {
                        // Seconds of work: not in the real-time class.
                        let _ = crate::sys::timer::normal();
                        bulk_send(&s);
                        s.track().bulks_sent += 1;
                        s.bulk_running.store(false, Ordering::Release);
                    });
                }
            }
        }
        if matches!(requester.phase(), bulk::Phase::WaitLink { .. })
            && last_link_check.elapsed() >= Duration::from_millis(250)
        {
            last_link_check = Instant::now();
            if syncdev_up(shared) {
                let acts = requester.link_up(now());
                run_bulk_actions(shared, &mut ctl, acts, now());
            }
        }
        let acts = requester.tick(now());
        run_bulk_actions(shared, &mut ctl, acts, now());
        shared.set_bulk(requester.phase());
        shared.keepalive();
        if last_report.elapsed() >= REPORT_INTERVAL {
            last_report = Instant::now();
            send_report(shared, &mut ctl, &mut reported);
        }
    }
    let acts = requester.stop();
    run_bulk_actions(shared, &mut ctl, acts, now());
    Ok(())
}

/// What a report is compared on: the counters and phases, and the
/// instants the ages are taken from (ages alone do not count: pfd ages
/// the report itself).
type ReportKey = (PfsyncReport, [Option<Instant>; 3]);

/// Tell pfd the counters and bulk status when they changed.
fn send_report(shared: &Shared, ctl: &mut Client, last: &mut Option<ReportKey>) {
    let r = shared.report();
    let instants = {
        let t = shared.track();
        [t.heard, t.up_since, t.bulk_since]
    };
    let bare = PfsyncReport {
        last_heard_ms: None,
        bulk_phase_ms: 0,
        up_ms: 0,
        ..r
    };
    if last.as_ref() == Some(&(bare, instants)) {
        return;
    }
    if let Err(e) = ctl.call(&Request::PfsyncReport(r)) {
        shared.warn_limited("report", format!("pfsync report to pfd: {e}"));
        return;
    }
    *last = Some((bare, instants));
}

/// pfd's state limit (`set limit states`), 100,000 when it cannot be had.
fn state_limit(ctl: &mut Client) -> u32 {
    match ctl.call(&Request::GetLimits) {
        Ok(Reply::Limits(l)) => l
            .iter()
            .find(|(k, _)| *k == crate::ruleset::rule::Limit::States)
            .map_or(100_000, |(_, v)| *v),
        _ => 100_000,
    }
}

/// Is the syncdev's link up (carrier)?
fn syncdev_up(shared: &Shared) -> bool {
    let link = shared
        .link
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let Some(link) = link else { return false };
    Netlink::open()
        .and_then(|mut nl| nl.link_by_index(link.ifindex))
        .ok()
        .flatten()
        .is_some_and(|l| l.up && l.lower_up)
}

/// Apply a pfsync0 configuration: sockets, link, bulk request.
fn reconfigure(
    shared: &Shared,
    old: Option<&PfsyncConfig>,
    cfg: &PfsyncConfig,
    req: &mut Requester,
    now: u64,
) -> Vec<bulk::Action> {
    let running = |c: &PfsyncConfig| c.up && c.syncdev.is_some();
    let same_link = old.is_some_and(|o| {
        o.syncdev == cfg.syncdev
            && o.syncpeer == cfg.syncpeer
            && o.pass == cfg.pass
            && running(o) == running(cfg)
    });
    if same_link {
        return vec![];
    }
    let same_dev =
        old.is_some_and(|o| o.syncdev == cfg.syncdev && running(o) == running(cfg) && running(o));
    if same_dev {
        // The peer or the pass changed while running: from the next frame
        // on, without a new bulk update.
        let mut l = shared.link.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = l.as_mut() {
            l.dst = cfg.syncpeer.unwrap_or(INADDR_PFSYNC_GROUP);
            l.key = key_of(cfg);
            log::notice(&format!(
                "pfsync0: syncdev {} ({} -> {}){}",
                l.syncdev,
                l.src,
                l.dst,
                if l.key.is_some() {
                    ", authenticated"
                } else {
                    ""
                }
            ));
            return vec![];
        }
    }
    let mut acts = req.stop();
    *shared.link.lock().unwrap_or_else(|e| e.into_inner()) = None;
    *shared.sender.lock().unwrap_or_else(|e| e.into_inner()) = None;
    shared.join(None);
    shared.track().up_since = None;
    if !running(cfg) {
        log::notice("pfsync0 down");
        return acts;
    }
    let dev = cfg.syncdev.clone().unwrap_or_default();
    let link = Netlink::open().and_then(|mut nl| {
        let l = nl.link_by_name(&dev)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{dev}: no such interface"))
        })?;
        let src = nl
            .addrs(Some(l.index))?
            .iter()
            .find_map(|a| match a.net.addr {
                IpAddr::V4(v4) => Some(v4),
                _ => None,
            });
        Ok((l, src))
    });
    match link {
        Ok((l, Some(src))) => {
            let dst = cfg.syncpeer.unwrap_or(INADDR_PFSYNC_GROUP);
            match RawSender::ipv4(None, Some(&dev)) {
                Ok(s) => *shared.sender.lock().unwrap_or_else(|e| e.into_inner()) = Some(s),
                Err(e) => log::err(&format!("pfsync: socket on {dev}: {e}")),
            }
            // In the group before the request goes out: the peer may
            // answer within a millisecond.
            shared.join(Some(l.index));
            *shared.link.lock().unwrap_or_else(|e| e.into_inner()) = Some(Link {
                syncdev: dev.clone(),
                ifindex: l.index,
                src,
                dst,
                key: key_of(cfg),
            });
            shared.track().up_since = Some(Instant::now());
            let authed = if cfg.pass.is_some() {
                ", authenticated"
            } else {
                ""
            };
            log::notice(&format!(
                "pfsync0 up: syncdev {dev} ({src} -> {dst}){authed}"
            ));
            acts.extend(req.start(l.up && l.lower_up, now));
        }
        Ok((_, None)) => log::err(&format!("pfsync: {dev} has no IPv4 address")),
        Err(e) => log::err(&format!("pfsync: {e}")),
    }
    acts
}

/// The HMAC key of a configuration (an empty pass is none).
fn key_of(cfg: &PfsyncConfig) -> Option<Vec<u8>> {
    cfg.pass
        .as_ref()
        .filter(|p| !p.is_empty())
        .map(|p| p.as_bytes().to_vec())
}

fn run_bulk_actions(shared: &Shared, ctl: &mut Client, acts: Vec<bulk::Action>, now: u64) {
    for a in acts {
        match a {
            bulk::Action::SendRequest => shared.send(
                &[Message::UpdReq(UpdReqRepr {
                    id: 0,
                    creatorid: 0,
                })],
                0,
            ),
            bulk::Action::Demote(on) => {
                if let Err(e) = ctl.call(&Request::PfsyncDemote { on }) {
                    log::err(&format!("pfsync demotion: {e}"));
                }
            }
            bulk::Action::PurgeStale { creatorid, since } => {
                let age_ms = now.saturating_sub(since);
                if let Err(e) = ctl.call(&Request::PfsyncPurgeStale { creatorid, age_ms }) {
                    log::err(&format!("pfsync stale states: {e}"));
                }
            }
            bulk::Action::Finished { complete } => {
                {
                    let mut t = shared.track();
                    if complete {
                        t.bulks_received += 1;
                    } else {
                        t.bulks_failed += 1;
                        t.bulk = BulkPhase::Failed;
                        t.bulk_since = Some(Instant::now());
                    }
                }
                if complete {
                    log::notice("bulk update complete");
                } else {
                    log::warning("bulk update failed: giving up");
                }
            }
        }
    }
}

/// Answer a bulk request: BUS START in a frame of its own, every state
/// as a full update (5 a frame) paced at `BULK_WINDOW` frames per
/// `BULK_WINDOW_TIME`, then BUS END. The table is read once, a chunk at
/// a time as pfd lists it.
fn bulk_send(shared: &Shared) {
    let creatorid = *shared.hostid.lock().unwrap_or_else(|e| e.into_inner());
    let link = shared
        .link
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let Some(link) = link else { return };
    let bus = |status| {
        Message::Bus(BusRepr {
            creatorid,
            endtime: 0,
            status,
        })
    };
    log::info("bulk update: sending the state table");
    let taken = Instant::now();
    let mut b = FrameBuilder::new(MTU);
    // OpenBSD's order: BUS START goes out before any state (the frame
    // builder groups messages by type, so it is flushed on its own).
    b.push(&bus(BUS_START));
    shared.flush(&mut b, &link);
    let mut pace = Pacer::new(taken);
    let (mut sent, mut frames) = (0u64, 0u64);
    let listed = Client::connect(&shared.socket).and_then(|mut c| {
        c.states_each(|chunk| {
            for s in chunk {
                // pfsync's own traffic and no-sync states stay home.
                if s.proto == IPPROTO_PFSYNC
                    || s.state_flags & crate::engine::state::PFSTATE_NOSYNC != 0
                {
                    continue;
                }
                // A state whose time ran out since the listing began is
                // gone here and must not come back on the peer.
                if s.expire != 0 && taken.elapsed().as_secs() >= s.expire as u64 {
                    continue;
                }
                let m = Message::Upd(s);
                if !b.push(&m) {
                    shared.flush(&mut b, &link);
                    frames += 1;
                    pace.frame();
                    b.push(&m);
                }
                sent += 1;
            }
        })
    });
    if let Err(e) = listed {
        // BUS END all the same: the peer retries on its own timer, and
        // what did go out is good.
        log::err(&format!("bulk update: listing the states: {e}"));
    }
    if !b.push(&bus(BUS_END)) {
        shared.flush(&mut b, &link);
        frames += 1;
        pace.frame();
        b.push(&bus(BUS_END));
    }
    shared.flush(&mut b, &link);
    let ms = taken.elapsed().as_millis().max(1) as u64;
    log::info(&format!(
        "bulk update: sent {sent} states in {} frames, {ms} ms ({} states/s)",
        frames + 2,
        sent * 1000 / ms
    ));
}

/// The bulk sender's pace: after every `BULK_WINDOW` frames it waits
/// until the window's time (`BULK_WINDOW_TIME`) is up, so that the peer
/// takes at most `BULK_WINDOW` frames at a time into its socket buffer.
struct Pacer {
    window_start: Instant,
    in_window: u32,
}

impl Pacer {
    fn new(now: Instant) -> Pacer {
        Pacer {
            window_start: now,
            in_window: 0,
        }
    }

    fn frame(&mut self) {
        self.in_window += 1;
        if self.in_window < BULK_WINDOW {
            return;
        }
        let due = self.window_start + BULK_WINDOW_TIME;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        // Late windows do not earn a burst after them.
        self.window_start = due.max(now);
        self.in_window = 0;
    }
}

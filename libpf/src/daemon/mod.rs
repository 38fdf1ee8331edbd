//! pfd, the daemon that plays OpenBSD's kernel: it owns the engine (rules,
//! states), the CARP interfaces and the pfsync queue, runs the data path on
//! NFQUEUE, and answers the control socket. The binary only parses its
//! command line and calls `run`.

pub mod carp;
mod carparp;
mod carpnd;
pub mod control;
pub mod datapath;
pub mod enginelock;
pub mod fastforward;
pub mod fastpath;
pub mod ifnames;
pub mod ifwatch;
pub mod localnet;
pub mod offload;
pub mod onepass;
pub mod persist;
pub mod pflog;
pub mod routing;
pub mod syncpass;

use crate::engine::state::PurgeCursor;
use crate::engine::Engine;
use crate::log;
use crate::pfsync::stats::PfsyncReport;
use crate::pfsync::PfsyncConfig;
use crate::sys::hooks::{self, HookConfig};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How pfd was started.
#[derive(Debug, Clone)]
pub struct Options {
    pub socket: String,
    pub hooks: HookConfig,
    /// net.inet.carp.preempt at start.
    pub preempt: bool,
    /// How long the data path keeps running after the bow-out on SIGTERM.
    pub shutdown_grace: Duration,
    /// Group allowed to use read-only requests (besides root).
    pub readonly_gid: Option<u32>,
    /// Load the fast path for established flows (`pfd --no-fastpath` turns it off).
    pub fastpath: bool,
    /// Let it forward packets itself (`pfd --no-fastforward` turns it off).
    pub fastforward: bool,
    /// Where the configuration and the states are kept across restarts
    /// (None: nothing is kept, pf starts disabled).
    pub state_dir: Option<std::path::PathBuf>,
    /// The socket pflogd reads logged packets from (None: none).
    pub pflog_socket: Option<String>,
    /// pflog0's NFLOG group; pflogN's is N more (None: no NFLOG).
    pub nflog_group: Option<u16>,
}

/// pfsync as pfd sees it.
#[derive(Debug, Default)]
pub struct PfsyncSide {
    pub config: PfsyncConfig,
    /// A pfsyncd is attached to the change stream.
    pub attached: bool,
    /// A connection delivering the peer's frames has its own thread
    /// (`control::pfsync::serve_input`).
    pub input_served: bool,
    /// The bulk-update demotion (+32 on group carp) is held.
    pub demote_held: bool,
    /// Since when (ms).
    pub demote_since: u64,
    /// Bumped on every configuration change, so the stream re-sends it.
    pub generation: u64,
    /// pfsyncd's last report and when it came (ms); None once it detaches.
    pub report: Option<(PfsyncReport, u64)>,
}

/// What every thread of pfd shares.
pub struct Shared {
    pub engine: enginelock::EngineLock,
    /// Signalled when the pfsync queue has something urgent, or on shutdown.
    pub sync_cv: Condvar,
    pub carp: Mutex<carp::CarpTable>,
    pub pfsync: Mutex<PfsyncSide>,
    pub opts: Options,
    pub shutdown: AtomicBool,
    /// The system's policy-routing rules and tables (None: netlink failed).
    pub policy: Mutex<Option<crate::sys::policy_routing::PolicyRouting>>,
    /// The engine's route-selector generation the system has.
    pub routes_gen: std::sync::atomic::AtomicU64,
    /// The last policy-routing error logged (not repeated).
    pub routes_error: Mutex<Option<String>>,
    /// route_localnet, for packets pf redirects to 127.0.0.0/8.
    pub localnet: localnet::Localnet,
    /// Packets the kernel dropped for want of room in pfd's queues.
    pub kernel_drops: datapath::KernelDrops,
    /// The queues' kernel side (length, fail policy).
    pub queues: datapath::Queues,
    /// Interfaces whose packets may be filtered `out` ahead of time.
    pub out_codes: onepass::OutCodes,
    /// `out` rewrites waiting for their packets at POSTROUTING.
    pub deferrals: onepass::Deferrals,
    /// pfsync flows whose frames skip the queue.
    pub syncpass: syncpass::SyncPass,
    /// Bumped on every change of links, addresses, routes and pfd's own
    /// policy routing: the data path's route answers are stale.
    pub net_gen: std::sync::atomic::AtomicU64,
    /// Established flows the kernel passes on its own.
    pub fastpath: fastpath::FastPath,
    /// The state directory.
    pub store: persist::Store,
    /// The boot ruleset is in force: nothing was ever committed.
    pub provisional: AtomicBool,
    /// Where logged packets go (pflogN, pflogd).
    pub pflog: Arc<pflog::Pflog>,
    /// What pfsync `defer` did (carpctl -s pfsync0).
    pub sync_defer: crate::pfsync::defer::DeferCounters,
    origin: Instant,
    /// The wall-clock time of `origin` (Unix ms), read once so that engine
    /// times convert to the same wall-clock second on every request.
    origin_unix_ms: i64,
}

impl Shared {
    /// Wake pfsync's sender (`wake`: the sync queue's `take_wake`), with
    /// the engine let go first: the sender runs in the real-time class
    /// and needs the engine at once; woken while the notifier still held
    /// it, it waited for a notifier it had just put off the CPU.
    pub fn notify_sync(&self, wake: bool) {
        if wake {
            self.sync_cv.notify_all();
        }
    }

    /// The fast path's counters into the states; flows whose states went
    /// leave the kernel's maps.
    pub fn fastpath_pull(&self) {
        let now = self.now_ms();
        let wake = {
            let mut e = self.engine();
            self.fastpath.pull(&mut e, now);
            e.sync.take_wake()
        };
        self.notify_sync(wake);
    }

    /// Monotonic milliseconds since pfd started: the engine's clock.
    pub fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// The Unix time (ms) of engine millisecond `ms`.
    pub fn unix_ms(&self, ms: u64) -> u64 {
        (self.origin_unix_ms + ms as i64).max(0) as u64
    }

    /// The Unix time (seconds) of engine second `t` (table `Cleared:`
    /// times): always the same for the same `t`.
    pub fn unix_secs(&self, t: i64) -> i64 {
        (t * 1000 + self.origin_unix_ms).div_euclid(1000)
    }

    /// The CARP state machines' clock.
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    pub fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock()
    }

    /// The engine for the next piece of a walk over the state table,
    /// after the packets waiting for it (see `enginelock`).
    pub fn engine_after_waiters(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock_after_waiters()
    }

    pub fn carp(&self) -> MutexGuard<'_, carp::CarpTable> {
        self.carp.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn pfsync(&self) -> MutexGuard<'_, PfsyncSide> {
        self.pfsync.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Turn the engine's pfsync queue on while pfsync0 is up with a
    /// syncdev, whether or not a pfsyncd is attached: changes made while
    /// pfsyncd restarts wait for the next one (the queue holds one entry
    /// per state at most), so the peer misses no insert and no delete.
    pub fn update_sync_queue(&self) {
        let (on, maxupd, defer) = {
            let p = self.pfsync();
            let c = &p.config;
            (c.up && c.syncdev.is_some(), c.maxupd, c.defer && p.attached)
        };
        let mut e = self.engine();
        e.sync.set_maxupd(maxupd);
        e.sync.set_defer(defer);
        if e.sync.enabled() != on {
            e.sync.set_enabled(on);
        }
    }
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = io::Read::read_exact(&mut f, &mut b);
    }
    let v = u64::from_ne_bytes(b);
    if v == 0 {
        Instant::now().elapsed().as_nanos() as u64 ^ std::process::id() as u64
    } else {
        v
    }
}

/// pf filters CARP's own advertisements, as OpenBSD's does; a carp gate
/// that closes or opens holds the fast path's program off its interface
/// (the program runs before the gate).
fn carp_hooks(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    shared.carp().set_filter(Box::new(move |ifname, pkt| {
        let Some(s) = weak.upgrade() else { return true };
        let now = s.now_ms();
        let meta = crate::engine::PacketMeta {
            dir: crate::engine::packet::Dir::Out,
            ifname,
            uid: Some(0),
            gid: Some(0),
            mtag: Default::default(),
        };
        let mut e = s.engine();
        let v = e.test(&meta, pkt, now);
        if e.sync.take_wake() {
            s.sync_cv.notify_all();
        }
        v.pass
    }));
    let weak = Arc::downgrade(shared);
    shared.carp().set_gate_hook(Box::new(move |idx, closed| {
        if let Some(s) = weak.upgrade() {
            s.fastpath.hold(idx, closed);
        }
    }));
}

/// Run pfd until `term` is set. `hup` asks for an interface rescan.
pub fn run(opts: Options, term: Arc<AtomicBool>, hup: Arc<AtomicBool>) -> io::Result<()> {
    crate::sys::heap::tune();
    let hostid = loop {
        let h = random_u64() as u32;
        if h != 0 {
            break h;
        }
    };
    let mut engine = Engine::new(hostid, random_u64());
    engine.set_secret(random_u64(), random_u64());
    let boot = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1);
    engine.set_first_state_id(boot << 32);
    // Held fragments wait in the kernel's queue: no more than it has room for.
    engine.set_hold_limit(datapath::HOLD_MAX as usize);
    let carp_table = carp::CarpTable::new(opts.preempt)?;
    let shared = Arc::new(Shared {
        engine: enginelock::EngineLock::new(engine),
        sync_cv: Condvar::new(),
        carp: Mutex::new(carp_table),
        pfsync: Mutex::new(PfsyncSide {
            config: PfsyncConfig::default(),
            ..Default::default()
        }),
        opts: opts.clone(),
        shutdown: AtomicBool::new(false),
        policy: Mutex::new(routing::open()),
        routes_gen: std::sync::atomic::AtomicU64::new(0),
        routes_error: Mutex::new(None),
        localnet: localnet::Localnet::default(),
        kernel_drops: datapath::KernelDrops::default(),
        queues: datapath::Queues::default(),
        out_codes: onepass::OutCodes::default(),
        deferrals: onepass::Deferrals::default(),
        syncpass: syncpass::SyncPass::default(),
        net_gen: std::sync::atomic::AtomicU64::new(0),
        fastpath: fastpath::FastPath::default(),
        store: persist::Store::new(opts.state_dir.clone()),
        provisional: AtomicBool::new(false),
        pflog: pflog::Pflog::start(opts.pflog_socket.as_deref(), opts.nflog_group)?,
        sync_defer: Default::default(),
        origin: Instant::now(),
        origin_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    });

    carp_hooks(&shared);
    // The interfaces, then what the last pfd left: the rules are in
    // force before the first packet is read.
    let _ = ifwatch::sync_links(&shared);
    let enabled = persist::restore(&shared);

    if opts.fastpath {
        shared.fastpath.start();
    }
    // The data path first, so the queue has a reader before any hook.
    for i in 0..opts.hooks.queues.max(1) {
        let s = shared.clone();
        let q = opts.hooks.queue + i;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("datapath{i}"))
            .spawn(move || datapath::run(s, q, tx))?;
        rx.recv()
            .map_err(|_| io::Error::other("data path thread died"))??;
    }
    type Service = fn(Arc<Shared>);
    let services: [(&str, Service); 4] = [
        ("carp", carp::run),
        ("carparp", carparp::run),
        ("carpnd", carpnd::run),
        ("ifwatch", ifwatch::run),
    ];
    for (name, service) in services {
        let s = shared.clone();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || service(s))?;
    }
    {
        let s = shared.clone();
        std::thread::Builder::new()
            .name("maintenance".into())
            .spawn(move || maintenance(s, hup))?;
    }

    take_hooks(&shared, enabled)?;

    let _ = std::fs::remove_file(&opts.socket);
    let listener = UnixListener::bind(&opts.socket)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", opts.socket)))?;
    std::fs::set_permissions(&opts.socket, std::fs::Permissions::from_mode(0o660))?;
    if let Some(gid) = opts.readonly_gid {
        nix::unistd::chown(
            opts.socket.as_str(),
            None,
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(|e| io::Error::other(format!("{}: chown to group {gid}: {e}", opts.socket)))?;
    }
    raise_nofile(control::limits::Limits::default().descriptors());
    log::notice(&format!(
        "started, hostid 0x{hostid:08x}, control socket {}",
        opts.socket
    ));
    crate::sys::notify::ready();

    let served = control::server::run(&shared, listener, &term);
    if let Err(e) = &served {
        log::err(&format!("control socket: {e}"));
    }

    shutdown(&shared);
    let _ = std::fs::remove_file(&opts.socket);
    served
}

/// Make room for the control socket's connections beside pfd's other
/// descriptors: the soft RLIMIT_NOFILE is raised to at least `extra` more
/// than the usual 1024 (the hard limit permitting).
fn raise_nofile(extra: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let want = (1024 + extra).min(hard);
    if soft < want {
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, want, hard) {
            log::warning(&format!("cannot raise the open files limit to {want}: {e}"));
        }
    }
}

/// The packet hooks as the restored configuration wants them: in place
/// (those of an earlier pfd kept as they are, so that no packet passes
/// while they would be replaced) when pf is enabled, removed when not.
/// With `pfd -D none` hooks left by an earlier pfd stay until `pfctl -e`
/// or `-d`.
fn take_hooks(shared: &Shared, enabled: bool) -> io::Result<()> {
    if shared.store.dir().is_none() {
        if hooks::installed() {
            log::warning("packet hooks of an earlier pfd are in place: pf passes everything until `pfctl -e`, `pfctl -d` removes them");
        }
        return Ok(());
    }
    if !enabled {
        if hooks::installed() {
            hooks::with_lock(hooks::remove)?;
        }
        return Ok(());
    }
    let kept = hooks::with_lock(|| {
        shared.out_codes.reset();
        if hooks::installed_for(&shared.opts.hooks) {
            // The pfsync flows the last pfd let by are filtered again
            // until this one passes them (daemon::syncpass).
            hooks::forget_filtered()?;
            crate::sys::syncpass::install().map_err(io::Error::other)?;
            Ok(true)
        } else {
            hooks::install(&shared.opts.hooks).map(|()| false)
        }
    })
    .map_err(|e| io::Error::new(e.kind(), format!("packet hooks: {e}")))?;
    log::notice(if kept {
        "packet hooks of the last pfd kept"
    } else {
        "packet hooks installed"
    });
    shared.sync_routes();
    Ok(())
}

/// A clean stop: hand pending state changes to pfsyncd, bow out of every
/// CARP group we are master of, keep forwarding while the backup takes
/// over, then take the carp interfaces down. The packet hooks stay
/// (fail-closed): `pfctl -d` removes them.
fn shutdown(shared: &Arc<Shared>) {
    log::notice("exiting on signal");
    crate::sys::notify::stopping();
    shared.sync_cv.notify_all();
    std::thread::sleep(Duration::from_millis(50));
    let now = shared.now();
    let bowed = shared.carp().bow_out_all(now);
    if bowed > 0 {
        std::thread::sleep(shared.opts.shutdown_grace);
    }
    shared.shutdown.store(true, Ordering::Relaxed);
    shared.sync_cv.notify_all();
    shared.save_config();
    shared.save_states();
    shared.carp().destroy_all();
    shared.clear_routes();
    shared.localnet.restore();
    if hooks::installed() {
        // pfsync's frames too (daemon::syncpass): none listed.
        if let Err(e) = crate::sys::syncpass::install() {
            log::err(&e);
        }
        log::notice("packet hooks left in place (fail-closed): traffic stops until pfd runs again; `pfctl -d` lifts them");
    }
}

/// Slots checked for expiry per hold of the engine (50 us for 4096 on
/// this project's machines), and states removed at most (each about
/// 0.4 us).
const PURGE_SLOTS: usize = 4096;
const PURGE_GONE: usize = 256;

/// Once a second: expire states; on SIGHUP say what we have.
fn maintenance(shared: Arc<Shared>, hup: Arc<AtomicBool>) {
    let mut tick = 0u64;
    let mut outbound = datapath::Outbound::new();
    let mut forward = shared.opts.fastforward.then(fastforward::ForwardCheck::new);
    // Where the expiry goes on from: each second checks the share of the
    // table that visits every state within `set timeout interval`
    // (Engine::purge_run_begin), not the whole table.
    let mut purge = PurgeCursor::default();
    while !shared.shutdown.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        tick += 1;
        if let Some(f) = forward.as_mut() {
            f.tick(&shared.fastpath);
        }
        shared
            .syncpass
            .tick(&shared, shared.now_ms(), tick.is_multiple_of(4));
        if !tick.is_multiple_of(4) {
            let wake = shared
                .fastpath
                .pull_fast(|| shared.engine(), shared.now_ms());
            shared.notify_sync(wake);
        } else {
            let now = shared.now_ms();
            let wake = {
                // The fast path's cached route lookups last a second
                // at most, notifications or not.
                shared.fastpath.routes_changed();
                // What the fast path passed counts before expiry.
                let mut e = shared.engine();
                shared.fastpath.pull(&mut e, now);
                e.purge_run_begin(&mut purge);
                e.sync.take_wake()
            };
            shared.notify_sync(wake);
            // The run in pieces, the engine let go in between; packets
            // waiting for the engine have it first.
            let mut n = 0;
            while purge.running() {
                n += shared.engine_after_waiters().purge_run_piece(
                    &mut purge,
                    PURGE_SLOTS,
                    PURGE_GONE,
                    now,
                );
            }
            let (out, notices) = {
                let mut e = shared.engine();
                e.purge_others(now);
                e.syncookie_tick(now);
                (e.take_outgoing(), e.take_notices())
            };
            for n in notices {
                log::warning(n.message());
            }
            for o in &out {
                outbound.send(o);
            }
            if n > 0 {
                shared.sync_cv.notify_all();
            }
            release_stale_demotion(&shared, now);
            if tick.is_multiple_of(16) {
                // Next hops' routes change: follow them.
                shared.sync_routes();
                shared.fastpath.follow_interfaces();
            }
            if tick.is_multiple_of(40) {
                shared.kernel_drops.warn(&shared);
                // Memory freed by a flushed table, a replaced ruleset or
                // expired states leaves pfd's RSS.
                crate::sys::heap::release_free();
            }
        }
        if hup.swap(false, Ordering::Relaxed) {
            let e = shared.engine();
            log::notice(&format!(
                "SIGHUP: {} states, {} rules, {} anchors, pf {}",
                e.states.len(),
                e.rules().main().rules.len(),
                e.rules().anchors(),
                if e.enabled() { "enabled" } else { "disabled" }
            ));
        }
    }
}

/// Without a pfsyncd to finish the bulk update, pfsync's demotion would
/// never end: release it after a minute.
fn release_stale_demotion(shared: &Shared, now: u64) {
    let release = {
        let mut p = shared.pfsync();
        let stale = p.demote_held && !p.attached && now.saturating_sub(p.demote_since) > 60_000;
        if stale {
            p.demote_held = false;
        }
        stale
    };
    if release {
        shared.carp().demote(
            carp::CARP_GROUP,
            -32,
            "pfsync bulk update timed out: no pfsyncd",
            shared.now(),
        );
    }
}

//! pfsync requests: the pfsync0 configuration, what pfsyncd hands over
//! from the peer, the bulk-update demotion, and pfsyncd's attached stream
//! of local state changes.

use super::session::Session;
use super::Peer;
use crate::daemon::Shared;
use crate::errno::EBUSY;
use crate::ioctl::frame::write_frame;
use crate::ioctl::Reply;
use crate::log;
use crate::pfsync::config::PfsyncStatus;
use crate::pfsync::stats::PfsyncReport;
use crate::pfsync::PfsyncConfig;
use crate::wire::pfsync::Message;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// SIOCGETPFSYNC. The pass goes to root only; others learn whether one
/// is set.
pub(super) fn get(shared: &Shared, peer: &Peer) -> Reply {
    let p = shared.pfsync();
    let config = if peer.uid == 0 {
        p.config.clone()
    } else {
        p.config.clone().redacted()
    };
    Reply::Pfsync(PfsyncStatus {
        config,
        running: p.attached,
        mtu: 1500,
    })
}

/// SIOCSETPFSYNC
pub(crate) fn set(shared: &Shared, config: PfsyncConfig, now: u64) -> Reply {
    let running = config.up && config.syncdev.is_some();
    let adjust = {
        let mut p = shared.pfsync();
        p.config = config;
        p.generation += 1;
        // pfsync coming up holds CARP back until the bulk update (done by
        // pfsyncd) has brought the peer's states.
        if running != p.demote_held {
            p.demote_held = running;
            p.demote_since = now;
            Some(running)
        } else {
            None
        }
    };
    if let Some(on) = adjust {
        let (delta, reason) = if on {
            (32, "pfsync0 up")
        } else {
            (-32, "pfsync0 down")
        };
        shared
            .carp()
            .demote(crate::daemon::carp::CARP_GROUP, delta, reason, shared.now());
    }
    shared.update_sync_queue();
    shared.sync_cv.notify_all();
    Reply::Ok
}

/// `ifconfig pfsync0 destroy`: back to the unconfigured pfsync0.
pub(super) fn destroy(shared: &Shared) -> Reply {
    let mut p = shared.pfsync();
    p.config = PfsyncConfig::default();
    p.generation += 1;
    drop(p);
    shared.update_sync_queue();
    shared.sync_cv.notify_all();
    Reply::Ok
}

/// What pfsyncd received from the peer.
pub(super) fn input(shared: &Shared, messages: &[Message], now: u64) -> Reply {
    let mut e = shared.engine();
    let r = e.pfsync_input(messages, now);
    let wake = e.sync.take_wake();
    drop(e);
    shared.notify_sync(wake);
    Reply::PfsyncInput {
        bulk_requested: r.bulk_requested,
        bus: r.bus,
        stale: r.stale,
        badstate: r.badstate,
    }
}

/// Take the one thread of its own a connection delivering the peer's
/// frames may have; false when another has it.
pub(super) fn claim_input(shared: &Shared) -> bool {
    !std::mem::replace(&mut shared.pfsync().input_served, true)
}

/// pfsyncd's delivery connection, in a thread of its own and in the
/// real-time class (`syncd::RT_PRIO`) when pfd may: the peer's frames go
/// from pfsyncd's socket to the state table without waiting for the
/// control socket's loop and a worker of its pool, each a time slice
/// late on a busy machine. Any request is served here, as in the loop.
pub(super) fn serve_input(shared: &Arc<Shared>, mut s: Session, write: Duration) {
    if let Err(e) = crate::sys::timer::realtime(crate::syncd::RT_PRIO) {
        log::info(&format!("pfsync input: no real-time scheduling ({e})"));
    }
    let ready = s.stream.set_nonblocking(false).is_ok()
        && s.stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .is_ok()
        && s.stream.set_write_timeout(Some(write)).is_ok();
    if !ready {
        shared.pfsync().input_served = false;
        return;
    }
    while let Some(body) = read_request(&s.stream, shared) {
        match super::run_request(shared, &mut s, &body, write) {
            super::Step::Keep | super::Step::Dedicate => {}
            super::Step::Close => break,
            super::Step::Attach => {
                shared.pfsync().input_served = false;
                return attach(shared, s.stream);
            }
        }
    }
    shared.pfsync().input_served = false;
}

/// The next request's body on a blocking stream with a read timeout;
/// None at its end, on a bad frame, or when pfd is shutting down.
fn read_request(stream: &UnixStream, shared: &Shared) -> Option<Vec<u8>> {
    use crate::ioctl::frame::{parse_header_max, HEADER_LEN, MAX_REQUEST};
    use std::io::{ErrorKind, Read};
    let mut h = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match (&*stream).read(&mut h[got..]) {
            Ok(0) => return None,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e)
                if got == 0 && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                if shared.shutdown.load(Ordering::Relaxed) {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    let len = parse_header_max(&h, MAX_REQUEST).ok()?;
    let mut body = vec![0u8; len];
    (&*stream).read_exact(&mut body).ok()?;
    Some(body)
}

/// pfsyncd's counters and bulk status, kept with the time they came.
pub(super) fn report(shared: &Shared, r: PfsyncReport, now: u64) -> Reply {
    shared.pfsync().report = Some((r, now));
    Reply::Ok
}

/// pfsyncd's last report, aged by the time since it came.
pub(super) fn stats(shared: &Shared, now: u64) -> Reply {
    let p = shared.pfsync();
    let r = p.report.filter(|_| p.attached).map(|(r, at)| PfsyncReport {
        defer: shared.sync_defer.snapshot(),
        ..r.aged(now.saturating_sub(at))
    });
    Reply::PfsyncStats(r)
}

/// pfsyncd's bulk-update demotion (+32 while pending).
pub(super) fn demote(shared: &Shared, on: bool, now: u64) -> Reply {
    let mut p = shared.pfsync();
    if on != p.demote_held {
        p.demote_held = on;
        p.demote_since = now;
        drop(p);
        let (delta, reason) = if on {
            (32, "pfsync bulk start")
        } else {
            (-32, "pfsync bulk done")
        };
        shared
            .carp()
            .demote(crate::daemon::carp::CARP_GROUP, delta, reason, shared.now());
    }
    Reply::Ok
}

/// After a complete bulk update from the peer `creatorid` that began
/// `age_ms` ago (by pfsyncd's clock, so a little later by ours: the
/// margin only spares more states).
pub(super) fn purge_stale(shared: &Shared, creatorid: u32, age_ms: u64, now: u64) -> Reply {
    let since = now.saturating_sub(age_ms + 100);
    let n = shared.engine().purge_peer_stale(creatorid, since, now);
    if n > 0 {
        log::notice(&format!(
            "pfsync: {n} states of peer {creatorid:08x} not in its bulk update removed"
        ));
    }
    Reply::Ok
}

/// Is the peer of `conn` gone? (A zero-length peek is end of stream.)
fn peer_gone(conn: &UnixStream) -> bool {
    use nix::sys::socket::{recv, MsgFlags};
    let mut b = [0u8; 1];
    // MSG_PEEK leaves the stream as it was; MSG_DONTWAIT returns at once.
    match recv(
        conn.as_raw_fd(),
        &mut b,
        MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(n) => n == 0,
        Err(e) => e != nix::errno::Errno::EAGAIN,
    }
}

/// pfsyncd's stream: local state changes as they become due, and the
/// pfsync0 configuration whenever it changes.
pub(super) fn attach(shared: &Arc<Shared>, mut conn: UnixStream) {
    if let Err(e) = crate::sys::timer::realtime(crate::syncd::RT_PRIO) {
        log::info(&format!("pfsync stream: no real-time scheduling ({e})"));
    }
    {
        let mut p = shared.pfsync();
        if p.attached {
            let _ = write_frame(
                &mut conn,
                &Reply::error(EBUSY, "a pfsyncd is already attached"),
            );
            return;
        }
        p.attached = true;
    }
    shared.update_sync_queue();
    log::notice("pfsyncd attached");
    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
    let mut sent_gen = u64::MAX;
    loop {
        let (cfg, gen) = {
            let p = shared.pfsync();
            (p.config.clone(), p.generation)
        };
        if gen != sent_gen {
            if write_frame(&mut conn, &Reply::PfsyncConfig(cfg)).is_err() {
                break;
            }
            sent_gen = gen;
        }
        let (msgs, oldest) = {
            let mut e = shared.engine();
            let now = shared.now_ms();
            let wait = match e.sync.due_at() {
                Some(d) if d <= now => Duration::ZERO,
                Some(d) => Duration::from_millis((d - now).min(200)),
                None => Duration::from_millis(200),
            };
            if !wait.is_zero() && !shared.shutdown.load(Ordering::Relaxed) {
                e = shared
                    .sync_cv
                    .wait_timeout(e, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            let now = shared.now_ms();
            let due = e.sync.due_at().is_some_and(|d| d <= now)
                || shared.shutdown.load(Ordering::Relaxed);
            if due {
                e.take_sync_stamped(now)
            } else {
                (Vec::new(), None)
            }
        };
        let stamp = oldest.map_or(0, |ms| shared.unix_ms(ms));
        // In pieces of 512 messages, each moved into its frame (no copy
        // of the states' names).
        let mut msgs = msgs.into_iter();
        loop {
            let chunk: Vec<Message> = msgs.by_ref().take(512).collect();
            if chunk.is_empty() {
                break;
            }
            if write_frame(&mut conn, &Reply::SyncOut(chunk, stamp)).is_err() {
                return detach(shared);
            }
        }
        if shared.shutdown.load(Ordering::Relaxed) || peer_gone(&conn) {
            break;
        }
    }
    detach(shared);
}

fn detach(shared: &Arc<Shared>) {
    let held = {
        let mut p = shared.pfsync();
        p.attached = false;
        p.report = None;
        std::mem::replace(&mut p.demote_held, false)
    };
    if held {
        shared.carp().demote(
            crate::daemon::carp::CARP_GROUP,
            -32,
            "pfsyncd went away",
            shared.now(),
        );
    }
    shared.update_sync_queue();
    log::notice("pfsyncd detached");
}

//! The control socket: one thread per client connection, frames in and
//! out, the caller identified with SO_PEERCRED (only root changes
//! anything), ruleset transactions that belong to the connection (a
//! disconnect before commit changes nothing), and pfsyncd's attached
//! stream of state changes.

use super::Shared;
use crate::engine::rules::Loader;
use crate::engine::state::SK_STACK;
use crate::ioctl::frame::{read_frame, write_frame, FrameError};
use crate::ioctl::{Reply, Request, RuleInfo, STATES_PER_FRAME};
use crate::log;
use crate::pfsync::config::PfsyncStatus;
use crate::ruleset::{Options, Rule, Ruleset};
use crate::sys::hooks;
use crate::wire::pfsync::{ClrRepr, Message};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

const EPERM: i32 = 1;
const ENOENT: i32 = 2;
const EBUSY: i32 = 16;
const EEXIST: i32 = 17;
const EINVAL: i32 = 22;
const EIO: i32 = 5;

static NEXT_TICKET: AtomicU32 = AtomicU32::new(1);

/// The ruleset a connection is building.
struct Transaction {
    ticket: u32,
    rules: Vec<Rule>,
    options: Options,
    checksum: String,
}

struct Peer {
    uid: u32,
    gid: u32,
    pid: u32,
}

impl Peer {
    /// Is the peer's primary group, or one of its user's groups, `gid`?
    fn in_group(&self, gid: u32) -> bool {
        if self.gid == gid {
            return true;
        }
        let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(self.uid))
        else {
            return false;
        };
        let Ok(name) = std::ffi::CString::new(user.name) else {
            return false;
        };
        nix::unistd::getgrouplist(&name, nix::unistd::Gid::from_raw(self.gid))
            .is_ok_and(|groups| groups.iter().any(|g| g.as_raw() == gid))
    }
}

fn peer_cred(s: &UnixStream) -> Option<Peer> {
    let mut cred: libc::ucred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    (r == 0).then_some(Peer {
        uid: cred.uid,
        gid: cred.gid,
        pid: cred.pid as u32,
    })
}

/// Serve one client until it goes away.
pub fn serve(shared: Arc<Shared>, mut conn: UnixStream) {
    let Some(peer) = peer_cred(&conn) else { return };
    let mut tx: Option<Transaction> = None;
    loop {
        let req: Request = match read_frame(&mut conn) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(FrameError::Io(_)) => return,
            Err(e) => {
                let _ = write_frame(&mut conn, &Reply::error(EINVAL, e.to_string()));
                return;
            }
        };
        let allowed = peer.uid == 0
            || (req.read_only() && shared.opts.readonly_gid.is_some_and(|g| peer.in_group(g)));
        if !allowed {
            let _ = write_frame(&mut conn, &Reply::error(EPERM, "Permission denied"));
            continue;
        }
        let ok = match req {
            Request::GetStates => send_states(&shared, &mut conn),
            Request::PfsyncAttach => {
                attach(&shared, conn);
                return;
            }
            req => {
                let reply = handle(&shared, &peer, &mut tx, req);
                write_frame(&mut conn, &reply).is_ok()
            }
        };
        if !ok {
            return;
        }
    }
}

fn send_states(shared: &Shared, conn: &mut UnixStream) -> bool {
    let states = {
        let now = shared.now_ms();
        shared.engine().export_all(now)
    };
    for chunk in states.chunks(STATES_PER_FRAME) {
        if write_frame(conn, &Reply::States(chunk.to_vec())).is_err() {
            return false;
        }
    }
    write_frame(conn, &Reply::Done).is_ok()
}

fn handle(shared: &Shared, peer: &Peer, tx: &mut Option<Transaction>, req: Request) -> Reply {
    let now = shared.now_ms();
    match req {
        Request::Start => {
            if shared.engine().enabled() {
                return Reply::error(EEXIST, "pf already enabled");
            }
            if let Err(e) = hooks::install(&shared.opts.hooks) {
                let _ = hooks::remove();
                return Reply::error(EIO, format!("cannot install packet hooks: {e}"));
            }
            shared.engine().set_enabled(true, now);
            log::notice("pf enabled");
            Reply::Ok
        }
        Request::Stop => {
            // Hooks left by an earlier pfd count as enabled: -d lifts them.
            if !shared.engine().enabled() && !hooks::installed() {
                return Reply::error(ENOENT, "pf not enabled");
            }
            shared.engine().set_enabled(false, now);
            if let Err(e) = hooks::remove() {
                return Reply::error(EIO, format!("cannot remove packet hooks: {e}"));
            }
            log::notice("pf disabled");
            Reply::Ok
        }
        Request::XBegin => {
            let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
            *tx = Some(Transaction {
                ticket,
                rules: Vec::new(),
                options: Options::default(),
                checksum: "0".repeat(32),
            });
            Reply::Ticket(ticket)
        }
        Request::AddRules { ticket, mut rules } => match tx {
            Some(t) if t.ticket == ticket => {
                t.rules.append(&mut rules);
                Reply::Ok
            }
            _ => Reply::error(EBUSY, "ruleset transaction not open (ticket mismatch)"),
        },
        Request::SetOptions {
            ticket,
            options,
            checksum,
        } => match tx {
            Some(t) if t.ticket == ticket => {
                t.options = options;
                t.checksum = checksum;
                Reply::Ok
            }
            _ => Reply::error(EBUSY, "ruleset transaction not open (ticket mismatch)"),
        },
        Request::XCommit { ticket } => match tx.take() {
            Some(t) if t.ticket == ticket => {
                // A client other than pfctl may send what pfd cannot
                // enforce: refuse it here too, the running ruleset stays.
                let support = crate::ruleset::support::check_loaded(&t.rules, &t.options);
                if let Some(u) = support.refused.first() {
                    return Reply::error(
                        EINVAL,
                        format!(
                            "line {}: {}: not supported on Linux ({})",
                            u.line, u.what, u.why
                        ),
                    );
                }
                let n = t.rules.len();
                let rs = Ruleset {
                    options: t.options,
                    rules: t.rules,
                    directives: Vec::new(),
                    ..Default::default()
                };
                shared.engine().load(
                    rs,
                    Loader {
                        uid: peer.uid,
                        pid: peer.pid,
                    },
                    t.checksum,
                );
                log::info(&format!(
                    "ruleset loaded: {n} rules (uid {} pid {})",
                    peer.uid, peer.pid
                ));
                Reply::Ok
            }
            other => {
                *tx = other;
                Reply::error(EBUSY, "ruleset transaction not open (ticket mismatch)")
            }
        },
        Request::XRollback { ticket } => {
            if tx.as_ref().is_some_and(|t| t.ticket == ticket) {
                *tx = None;
            }
            Reply::Ok
        }
        Request::GetRules => {
            let e = shared.engine();
            let r = e.rules();
            Reply::Rules {
                rules: r
                    .rules
                    .iter()
                    .zip(&r.counters)
                    .zip(&r.depth)
                    .map(|((rule, c), d)| RuleInfo {
                        rule: rule.clone(),
                        counters: *c,
                        depth: *d,
                    })
                    .collect(),
                loader: r.loader,
            }
        }
        Request::GetStates | Request::PfsyncAttach => Reply::error(EINVAL, "streamed request"),
        Request::ClearStates { ifname } => {
            let mut e = shared.engine();
            let name = ifname.clone();
            let n = e.kill_states(now, false, |s| {
                name.as_ref()
                    .is_none_or(|n| s.ifname.as_deref().unwrap_or("all") == n)
            });
            let creatorid = e.hostid();
            e.sync.push_message(
                Message::Clr(ClrRepr {
                    ifname: ifname.unwrap_or_default(),
                    creatorid,
                }),
                true,
                now,
            );
            shared.sync_cv.notify_all();
            Reply::Count(n as u64)
        }
        Request::KillStates { src, dst } => {
            let mut e = shared.engine();
            let n = e.kill_states(now, true, |s| {
                // pfctl -k matches the state's source and destination as
                // the connection's initiator saw them.
                let k = if s.direction == crate::engine::packet::Dir::Out {
                    &s.key[SK_STACK]
                } else {
                    &s.key[0]
                };
                let (sa, da) = if s.direction == crate::engine::packet::Dir::Out {
                    (k.addr[1], k.addr[0])
                } else {
                    (k.addr[0], k.addr[1])
                };
                src.is_none_or(|n| n.contains(&sa)) && dst.is_none_or(|n| n.contains(&da))
            });
            shared.sync_cv.notify_all();
            Reply::Count(n as u64)
        }
        Request::FlushRules => {
            shared.engine().flush_rules(Loader {
                uid: peer.uid,
                pid: peer.pid,
            });
            Reply::Ok
        }
        Request::GetStatus => Reply::Status(Box::new(shared.engine().status(now))),
        Request::ClearRuleCounters => {
            shared.engine().clear_rule_counters();
            Reply::Ok
        }
        Request::ClearStatus => {
            shared.engine().clear_status();
            Reply::Ok
        }
        Request::GetTimeouts => {
            let t = shared.engine().timeouts();
            Reply::Timeouts(
                crate::ruleset::Timeout::ALL
                    .iter()
                    .map(|k| (*k, t[*k as usize]))
                    .collect(),
            )
        }
        Request::GetLimits => Reply::Limits(shared.engine().limits()),
        Request::AddStates { states } => {
            let mut e = shared.engine();
            let mut n = 0;
            for s in &states {
                if e.import_state(s, false, now).is_ok() {
                    n += 1;
                }
            }
            Reply::Count(n)
        }
        Request::GetCarp { name } => Reply::Carp(shared.carp().status(&name)),
        Request::GetCarpStats => Reply::CarpStats(shared.carp().stats_total()),
        Request::ListInterfaces => {
            let mut v = shared.carp().names();
            v.push("pfsync0".into());
            Reply::Interfaces(v)
        }
        Request::SetCarp {
            name,
            config,
            force_state,
        } => {
            let addrs: Vec<_> = config.addrs.iter().map(|a| a.net).collect();
            match shared
                .carp()
                .configure(&name, config, force_state, shared.now())
            {
                Ok(()) => {
                    shared.engine().ifaddrs.insert(name, addrs);
                    Reply::Ok
                }
                Err(m) => Reply::error(EINVAL, m),
            }
        }
        Request::Destroy { name } => {
            if name == "pfsync0" {
                let mut p = shared.pfsync();
                p.config = crate::pfsync::PfsyncConfig::default();
                p.generation += 1;
                drop(p);
                shared.update_sync_queue();
                shared.sync_cv.notify_all();
                return Reply::Ok;
            }
            match shared.carp().destroy(&name, shared.now()) {
                Ok(()) => {
                    shared.engine().ifaddrs.remove(&name);
                    Reply::Ok
                }
                Err(m) => Reply::error(ENOENT, m),
            }
        }
        Request::DemoteGroup {
            group,
            delta,
            reason,
        } => Reply::Demote(shared.carp().demote(&group, delta, &reason, shared.now())),
        Request::GetGroupDemote { group } => Reply::Demote(shared.carp().group_demote(&group)),
        Request::GetPfsync => {
            let p = shared.pfsync();
            Reply::Pfsync(PfsyncStatus {
                config: p.config.clone(),
                running: p.attached,
                mtu: 1500,
            })
        }
        Request::SetPfsync { config } => {
            let running = config.up && config.syncdev.is_some();
            let adjust = {
                let mut p = shared.pfsync();
                p.config = config;
                p.generation += 1;
                // pfsync coming up holds CARP back until the bulk update
                // (done by pfsyncd) has brought the peer's states.
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
                    .demote(super::carp::CARP_GROUP, delta, reason, shared.now());
            }
            shared.update_sync_queue();
            shared.sync_cv.notify_all();
            Reply::Ok
        }
        Request::PfsyncInput { messages } => {
            let mut e = shared.engine();
            let r = e.pfsync_input(&messages, now);
            if e.sync.is_urgent() {
                shared.sync_cv.notify_all();
            }
            Reply::PfsyncInput {
                bulk_requested: r.bulk_requested,
                bus: r.bus,
                stale: r.stale,
                badstate: r.badstate,
            }
        }
        Request::PfsyncDemote { on } => {
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
                    .demote(super::carp::CARP_GROUP, delta, reason, shared.now());
            }
            Reply::Ok
        }
        Request::Sysctl { name, value } => sysctl(shared, &name, value),
    }
}

fn sysctl(shared: &Shared, name: &str, value: Option<i64>) -> Reply {
    if let Some(v) = value {
        if !(0..=7).contains(&v) {
            return Reply::error(EINVAL, format!("{name}: {v}: invalid value"));
        }
    }
    let mut c = shared.carp();
    let current = match name {
        "net.inet.carp.preempt" => {
            if let Some(v) = value {
                c.preempt = v != 0;
            }
            c.preempt as i64
        }
        "net.inet.carp.allow" => {
            if let Some(v) = value {
                c.allow = v != 0;
            }
            c.allow as i64
        }
        "net.inet.carp.log" => {
            if let Some(v) = value {
                c.log_level = v;
            }
            c.log_level
        }
        _ => return Reply::error(ENOENT, format!("{name}: unknown oid")),
    };
    Reply::Sysctl(current)
}

/// Is the peer of `conn` gone? (A zero-length peek is end of stream.)
fn peer_gone(conn: &UnixStream) -> bool {
    let mut b = [0u8; 1];
    let r = unsafe {
        libc::recv(
            conn.as_raw_fd(),
            b.as_mut_ptr() as *mut libc::c_void,
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    r == 0 || (r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock)
}

/// pfsyncd's stream: local state changes as they become due, and the
/// pfsync0 configuration whenever it changes.
fn attach(shared: &Arc<Shared>, mut conn: UnixStream) {
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
        let msgs = {
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
                e.take_sync(now)
            } else {
                Vec::new()
            }
        };
        for chunk in msgs.chunks(512) {
            if write_frame(&mut conn, &Reply::SyncOut(chunk.to_vec())).is_err() {
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
        std::mem::replace(&mut p.demote_held, false)
    };
    if held {
        shared.carp().demote(
            super::carp::CARP_GROUP,
            -32,
            "pfsyncd went away",
            shared.now(),
        );
    }
    shared.update_sync_queue();
    log::notice("pfsyncd detached");
}

//! The control socket: `server` reads frames from every connection in
//! one loop and hands each complete request to a worker of `pool`, under
//! the `limits`; the caller is identified with SO_PEERCRED (only root
//! changes anything). This file runs one request of a `session` and hands
//! it to the subsystem it belongs to: `ruleset` (transactions, rules,
//! options, status), `states`, `carp` (carp interfaces, groups, sysctls),
//! `ifaces` (the interface table and administrative groups), `tables` and
//! `pfsync`.

mod carp;
mod ifaces;
pub mod limits;
mod pfsync;
pub mod pool;
mod ruleset;
pub mod server;
mod session;
mod states;
mod tables;

use super::Shared;
use crate::errno::{EINVAL, EPERM};
use crate::ioctl::frame::{decode, write_frame};
use crate::ioctl::{Reply, Request};
pub(crate) use pfsync::set as set_pfsync;
use ruleset::Transaction;
use session::{Out, Session};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

/// The process at the other end of a connection.
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
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let cred = getsockopt(s, PeerCredentials).ok()?;
    Some(Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid() as u32,
    })
}

/// What becomes of a connection after a request.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Back to the server for the next request.
    Keep,
    /// Closed (the peer went away, or sent what is not a request).
    Close,
    /// It is pfsyncd's stream from now on.
    Attach,
    /// It is pfsyncd's delivery from now on: a thread of its own serves
    /// it (`pfsync::serve_input`).
    Dedicate,
}

/// Run the request in frame body `body` of `s`, replying on its socket.
fn run_request(shared: &Arc<Shared>, s: &mut Session, body: &[u8], write: Duration) -> Step {
    let reply = |s: &Session, r: Reply| write_frame(&mut Out::new(&s.stream, write), &r).is_ok();
    let req: Request = match decode(body) {
        Ok(r) => r,
        Err(e) => {
            reply(s, Reply::error(EINVAL, e.to_string()));
            return Step::Close;
        }
    };
    if s.pending.is_some() && !matches!(req, Request::MoreAddrs { .. }) {
        s.pending = None;
        let e = Reply::error(EINVAL, "expected the rest of the addresses");
        return keep_if(reply(s, e));
    }
    let gid = shared.opts.readonly_gid;
    let allowed = s.peer.uid == 0 || (req.read_only() && s.may_read(gid));
    if !allowed {
        return keep_if(reply(s, Reply::error(EPERM, "Permission denied")));
    }
    // pfsyncd's first delivery of the peer's frames: from then on the
    // connection gets a thread of its own (one such at a time).
    let dedicate = matches!(req, Request::PfsyncInput { .. }) && s.peer.uid == 0;
    let mut out = Out::new(&s.stream, write);
    let ok = match req {
        Request::GetStates => {
            shared.fastpath_pull();
            states::send_all(shared, &mut out)
        }
        Request::GetAstats { anchor, name } => tables::send_astats(shared, &mut out, anchor, name),
        req @ (Request::TableAddrs { .. } | Request::MoreAddrs { .. }) => {
            tables::addrs(shared, &s.peer, &mut s.pending, &mut out, req)
        }
        Request::PfsyncAttach => return Step::Attach,
        req => {
            let reply = handle(shared, &s.peer, &mut s.tx, req);
            write_frame(&mut out, &reply).is_ok()
        }
    };
    if ok && dedicate && pfsync::claim_input(shared) {
        return Step::Dedicate;
    }
    keep_if(ok)
}

fn keep_if(ok: bool) -> Step {
    if ok {
        Step::Keep
    } else {
        Step::Close
    }
}

/// A worker's part: run the request, then give the connection back to
/// the server (None: it is closed or pfsyncd's now).
fn work(shared: &Arc<Shared>, mut s: Session, body: Vec<u8>, write: Duration) -> Option<Session> {
    match run_request(shared, &mut s, &body, write) {
        Step::Keep => Some(s),
        Step::Close => None,
        Step::Attach => {
            let shared = shared.clone();
            let conn = s.stream;
            let spawned = std::thread::Builder::new()
                .name("pfsync-stream".into())
                .spawn(move || {
                    let _ = conn.set_nonblocking(false);
                    pfsync::attach(&shared, conn);
                });
            if let Err(e) = spawned {
                crate::log::err(&format!("pfsync stream: {e}"));
            }
            None
        }
        Step::Dedicate => {
            let shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name("pfsync-input".into())
                .spawn(move || pfsync::serve_input(&shared, s, write));
            if let Err(e) = spawned {
                crate::log::err(&format!("pfsync input: {e}"));
            }
            None
        }
    }
}

/// One request, one reply: which subsystem answers what.
/// Answer one request; what changes the configuration is written to the
/// state directory before the reply goes out, and while the boot ruleset
/// is in force it follows the carp and pfsync configuration.
fn handle(shared: &Shared, peer: &Peer, tx: &mut Option<Transaction>, req: Request) -> Reply {
    let saves = matches!(
        req,
        Request::Start
            | Request::Stop
            | Request::XCommit { .. }
            | Request::FlushRules { .. }
            | Request::SetDebug { .. }
            | Request::OsfpAdd { .. }
            | Request::OsfpFlush
            | Request::ClrTables { dummy: false, .. }
            | Request::AddTable { dummy: false, .. }
            | Request::DelTable { dummy: false, .. }
            | Request::ClrAddrs { dummy: false, .. }
    );
    let boot = matches!(
        req,
        Request::SetCarp { .. }
            | Request::Destroy { .. }
            | Request::SetPfsync { .. }
            | Request::Sysctl { value: Some(_), .. }
    );
    let reply = dispatch(shared, peer, tx, req);
    if !matches!(reply, Reply::Error { .. }) {
        if saves {
            shared.queues.apply(&shared.engine());
            shared.save_config();
        }
        if boot {
            shared.save_pseudo();
            shared.refresh_boot_rules();
        }
    }
    reply
}

/// `r`, once the fast path dropped the flows of states that went.
fn pulled(shared: &Shared, r: Reply) -> Reply {
    shared.fastpath_pull();
    r
}

/// `pfctl -si`: the engine's status with what pfd adds (the fast path,
/// the kernel's drops, the queues and the waits for the engine).
fn status(shared: &Shared, now: u64) -> Reply {
    use crate::engine::status::{Reason, ThreadStatus};
    shared.fastpath_pull();
    let mut st = shared.engine().status(now);
    st.fastpath = shared.fastpath.status();
    // The kernel's drops: a full queue is pf's congestion, a socket
    // without room its memory.
    let d = shared.kernel_drops.since_clear(shared);
    st.counters[Reason::Congestion as usize] += d.full;
    st.counters[Reason::Memory as usize] += d.no_room;
    st.queue = shared
        .queues
        .params()
        .map(|p| (d.waiting, p.maxlen as u64, p.fail_open));
    let (engine_waits, engine_wait_us) = shared.engine.waits();
    st.threads = st.queue.map(|_| ThreadStatus {
        queues: u64::from(shared.opts.hooks.queues.max(1)),
        engine_waits,
        engine_wait_us,
    });
    Reply::Status(Box::new(st))
}

fn dispatch(shared: &Shared, peer: &Peer, tx: &mut Option<Transaction>, req: Request) -> Reply {
    let now = shared.now_ms();
    match req {
        Request::Start => ruleset::start(shared, now),
        Request::Stop => ruleset::stop(shared, now),
        Request::XBegin => ruleset::begin(shared, tx, false),
        Request::XBeginTables => ruleset::begin(shared, tx, true),
        Request::AddRules {
            ticket,
            anchor,
            rules,
        } => ruleset::add_rules(tx, ticket, anchor, rules),
        Request::SetOptions {
            ticket,
            options,
            checksum,
        } => ruleset::set_options(tx, ticket, options, checksum),
        Request::XCommit { ticket } => ruleset::commit(shared, peer, tx, ticket),
        Request::XRollback { ticket } => ruleset::rollback(tx, ticket),
        Request::GetRules { anchor } => ruleset::get_rules(shared, &anchor),
        Request::GetRulesets { anchor } => ruleset::get_rulesets(shared, &anchor),
        Request::FlushRules { anchor } => ruleset::flush_rules(shared, peer, &anchor),
        Request::GetStatus => status(shared, now),
        Request::ClearRuleCounters { anchor } => ruleset::clear_counters(shared, &anchor),
        Request::ClearStatus => {
            shared.engine().clear_status();
            shared.kernel_drops.clear(shared);
            shared.engine.clear_waits();
            Reply::Ok
        }
        Request::GetTimeouts => ruleset::get_timeouts(shared),
        Request::GetLimits => Reply::Limits(shared.engine().limits()),
        Request::GetStates | Request::PfsyncAttach => Reply::error(EINVAL, "streamed request"),
        Request::ClearStates { ifname } => pulled(shared, states::clear(shared, ifname, now)),
        Request::KillStates(k) => pulled(shared, states::kill(shared, &k, now)),
        Request::SetDebug { level } => ruleset::set_debug(shared, level),
        Request::OsfpFlush => {
            shared.engine().flush_fingerprints();
            Reply::Ok
        }
        Request::OsfpAdd { entries } => {
            Reply::Duplicates(shared.engine().add_fingerprints(entries))
        }
        Request::OsfpGet => Reply::Fingerprints(shared.engine().fingerprints().to_vec()),
        Request::AddStates { states } => states::add(shared, &states, now),
        Request::GetCarp { name } => carp::get(shared, peer, &name),
        Request::GetCarpStats => Reply::CarpStats(shared.carp().stats_total()),
        Request::ListInterfaces => carp::list_interfaces(shared),
        Request::SetCarp {
            name,
            config,
            force_state,
        } => carp::set(shared, name, config, force_state),
        Request::Destroy { name } if name == "pfsync0" => pfsync::destroy(shared),
        Request::Destroy { name } => carp::destroy(shared, name),
        Request::DemoteGroup {
            group,
            delta,
            reason,
        } => Reply::Demote(shared.carp().demote(&group, delta, &reason, shared.now())),
        Request::GetGroupDemote { group } => Reply::Demote(shared.carp().group_demote(&group)),
        Request::Sysctl { name, value } => carp::sysctl(shared, &name, value),
        Request::GetPfsync => pfsync::get(shared, peer),
        Request::SetPfsync { config } => pfsync::set(shared, config, now),
        Request::PfsyncInput { messages } => pfsync::input(shared, &messages, now),
        Request::PfsyncDemote { on } => pfsync::demote(shared, on, now),
        Request::PfsyncPurgeStale { creatorid, age_ms } => {
            pfsync::purge_stale(shared, creatorid, age_ms, now)
        }
        Request::GetIfaces { filter } => ifaces::get(shared, filter, now),
        Request::ClearIfStats { ifname } => ifaces::clear_stats(shared, &ifname, now),
        Request::AddIfGroup { ifname, group } => ifaces::group(shared, &ifname, &group, true),
        Request::DelIfGroup { ifname, group } => ifaces::group(shared, &ifname, &group, false),
        Request::GetIfGroups { ifname } => ifaces::groups_of(shared, &ifname),
        Request::GetGroupMembers => ifaces::members(shared),
        Request::InaDefine {
            ticket,
            anchor,
            name,
            flags,
            init_addr,
        } => tables::ina_define(tx, ticket, anchor, name, flags, init_addr),
        Request::InaAddrs {
            ticket,
            anchor,
            name,
            addrs,
        } => tables::ina_addrs(tx, ticket, anchor, name, addrs),
        Request::GetTables { anchor } => tables::get_tables(shared, anchor),
        Request::ClrTables { anchor, dummy } => tables::clr_tables(shared, anchor, dummy),
        Request::AddTable {
            anchor,
            name,
            dummy,
        } => tables::add_table(shared, anchor, name, dummy),
        Request::DelTable {
            anchor,
            name,
            dummy,
        } => tables::del_table(shared, anchor, name, dummy),
        Request::ClrTstats {
            anchor,
            name,
            dummy,
        } => tables::clr_tstats(shared, anchor, name, dummy),
        Request::ClrAddrs {
            anchor,
            name,
            dummy,
        } => tables::clr_addrs(shared, anchor, name, dummy),
        Request::GetAstats { .. } | Request::TableAddrs { .. } | Request::MoreAddrs { .. } => {
            Reply::error(EINVAL, "streamed request")
        }
        Request::GetSrcNodes => Reply::SrcNodes(shared.engine().src_nodes(now)),
        Request::ClrSrcNodes => Reply::Count(shared.engine().clear_src_nodes(now) as u64),
        Request::KillSrcNodes { src, dst } => {
            Reply::Count(shared.engine().kill_src_nodes(&src, dst.as_ref(), now))
        }
        Request::GetStateLimiters => Reply::StateLimiters(shared.engine().state_limiters()),
        Request::GetSourceLimiters { entries } => {
            Reply::SourceLimiters(shared.engine().source_limiters(entries))
        }
        Request::PfsyncReport(r) => pfsync::report(shared, r, now),
        Request::GetPfsyncStats => pfsync::stats(shared, now),
        Request::KillLimiterSources { id, net } => {
            match shared.engine().kill_limiter_sources(id, &net) {
                Some(n) => Reply::Count(n),
                None => Reply::error(libc::ESRCH, format!("no source limiter with id {id}")),
            }
        }
    }
}

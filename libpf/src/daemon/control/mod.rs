//! The control socket: one thread per client connection, frames in and
//! out, the caller identified with SO_PEERCRED (only root changes
//! anything). This file reads requests and hands each to the subsystem it
//! belongs to: `ruleset` (transactions, rules, options, status), `states`,
//! `carp` (carp interfaces, groups, sysctls), `ifaces` (the interface
//! table and administrative groups) and `pfsync`.

mod carp;
mod ifaces;
mod pfsync;
mod ruleset;
mod states;
mod tables;

use super::Shared;
use crate::errno::{EINVAL, EPERM};
use crate::ioctl::frame::{read_frame, write_frame, FrameError};
use crate::ioctl::{Reply, Request};
pub(crate) use pfsync::set as set_pfsync;
use ruleset::Transaction;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

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
    let mut cred: libc::ucred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given, and
    // the descriptor belongs to `s` for the duration of the call.
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
            Request::GetStates => {
                shared.fastpath_pull();
                states::send_all(&shared, &mut conn)
            }
            Request::GetAstats { anchor, name } => {
                tables::send_astats(&shared, &mut conn, anchor, name)
            }
            req @ Request::TableAddrs { .. } => tables::addrs(&shared, &peer, &mut conn, req),
            Request::PfsyncAttach => {
                pfsync::attach(&shared, conn);
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
        Request::GetStatus => {
            use crate::engine::status::Reason;
            shared.fastpath_pull();
            let mut st = shared.engine().status(now);
            st.fastpath = shared.fastpath.status();
            // The kernel's drops: a full queue is pf's congestion, a
            // socket without room its memory.
            let d = shared.kernel_drops.since_clear(shared);
            st.counters[Reason::Congestion as usize] += d.full;
            st.counters[Reason::Memory as usize] += d.no_room;
            st.queue = shared
                .queues
                .params()
                .map(|p| (d.waiting, p.maxlen as u64, p.fail_open));
            Reply::Status(Box::new(st))
        }
        Request::ClearRuleCounters { anchor } => ruleset::clear_counters(shared, &anchor),
        Request::ClearStatus => {
            shared.engine().clear_status();
            shared.kernel_drops.clear(shared);
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
        Request::GetCarp { name } => Reply::Carp(shared.carp().status(&name)),
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
        Request::GetPfsync => pfsync::get(shared),
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
        Request::GetAstats { .. } | Request::TableAddrs { .. } => {
            Reply::error(EINVAL, "streamed request")
        }
        Request::MoreAddrs { .. } => Reply::error(EINVAL, "no address request open"),
        Request::GetSrcNodes => Reply::SrcNodes(shared.engine().src_nodes(now)),
        Request::ClrSrcNodes => Reply::Count(shared.engine().clear_src_nodes(now) as u64),
        Request::KillSrcNodes { src, dst } => {
            Reply::Count(shared.engine().kill_src_nodes(&src, dst.as_ref(), now))
        }
        Request::GetStateLimiters => Reply::StateLimiters(shared.engine().state_limiters()),
        Request::GetSourceLimiters { entries } => {
            Reply::SourceLimiters(shared.engine().source_limiters(entries))
        }
        Request::KillLimiterSources { id, net } => {
            match shared.engine().kill_limiter_sources(id, &net) {
                Some(n) => Reply::Count(n),
                None => Reply::error(libc::ESRCH, format!("no source limiter with id {id}")),
            }
        }
    }
}

//! Table requests (pf's DIOCR* ioctls): definitions inside a ruleset
//! transaction (built here, outside the engine's lock, and swapped in at
//! commit), and the run-time operations behind `pfctl -t NAME -T ...`,
//! `-s Tables` and `-F Tables`. Times go out as Unix time.

use super::ruleset::Transaction;
use super::Peer;
use crate::daemon::Shared;
use crate::engine::table::{self, AddrChange, AddrInfo, Shadow, TableError};
use crate::engine::table_now;
use crate::errno::{EINVAL, ENOMEM, EPERM};
use crate::ioctl::frame::write_frame;
use crate::ioctl::{AddrOp, Reply, Request, ADDRS_PER_FRAME};
use crate::ruleset::{Limit, TableEntry, TableFlags};
use std::io::Write;

/// Most addresses one request may carry in all its chunks.
const MAX_REQUEST_ADDRS: usize = 1 << 24;

fn not_open() -> Reply {
    Reply::error(
        crate::errno::EBUSY,
        "ruleset transaction not open (ticket mismatch)",
    )
}

fn error(e: TableError) -> Reply {
    Reply::error(e.errno, e.message)
}

/// Engine seconds to Unix time.
fn unix_time(shared: &Shared, t: i64) -> i64 {
    shared.unix_secs(t)
}

/// DIOCRINADEFINE: (re)define a table in the transaction.
pub(super) fn ina_define(
    tx: &mut Option<Transaction>,
    ticket: u32,
    anchor: String,
    name: String,
    flags: TableFlags,
    init_addr: bool,
) -> Reply {
    let Some(t) = tx.as_mut().filter(|t| t.ticket() == ticket) else {
        return not_open();
    };
    let anchor = match table::check_name(&anchor, &name) {
        Ok(a) => a,
        Err(e) => return error(e),
    };
    t.tables.retain(|s| !(s.anchor == anchor && s.name == name));
    t.tables.push(Shadow::new(&anchor, &name, flags, init_addr));
    Reply::Ok
}

/// DIOCRINADEFINE's addresses for a table defined in the transaction.
pub(super) fn ina_addrs(
    tx: &mut Option<Transaction>,
    ticket: u32,
    anchor: String,
    name: String,
    addrs: Vec<TableEntry>,
) -> Reply {
    let Some(t) = tx.as_mut().filter(|t| t.ticket() == ticket) else {
        return not_open();
    };
    let anchor = anchor.trim_start_matches('/');
    let held: usize = t.tables.iter().map(Shadow::len).sum();
    let limit = t.entries_limit() as usize;
    if held + addrs.len() > limit {
        return Reply::error(
            ENOMEM,
            format!(
                "Cannot allocate memory: table <{name}>: {} table entries exceed the limit (set limit table-entries {limit})",
                held + addrs.len()
            ),
        );
    }
    let Some(s) = t
        .tables
        .iter_mut()
        .rev()
        .find(|s| s.anchor == anchor && s.name == name)
    else {
        return Reply::error(
            EINVAL,
            format!("table <{name}> not defined in the transaction"),
        );
    };
    s.add(&addrs);
    Reply::Ok
}

/// DIOCRGETTSTATS.
pub(super) fn get_tables(shared: &Shared, anchor: Option<String>) -> Reply {
    let mut v = shared.engine().tables.get_tables(anchor.as_deref());
    for t in &mut v {
        t.tzero = unix_time(shared, t.tzero);
    }
    Reply::Tables(v)
}

pub(super) fn clr_tables(shared: &Shared, anchor: String, dummy: bool) -> Reply {
    match shared.engine().tables.clr_tables(&anchor, dummy) {
        Ok(n) => Reply::Count(n as u64),
        Err(e) => error(e),
    }
}

pub(super) fn add_table(shared: &Shared, anchor: String, name: String, dummy: bool) -> Reply {
    let now = table_now(shared.now_ms());
    let mut e = shared.engine();
    let limit = e.limit(Limit::Tables);
    match e.tables.add_table(&anchor, &name, dummy, now, limit) {
        Ok(n) => Reply::Count(n as u64),
        Err(e) => error(e),
    }
}

pub(super) fn del_table(shared: &Shared, anchor: String, name: String, dummy: bool) -> Reply {
    match shared.engine().tables.del_table(&anchor, &name, dummy) {
        Ok(n) => Reply::Count(n as u64),
        Err(e) => error(e),
    }
}

pub(super) fn clr_tstats(shared: &Shared, anchor: String, name: String, dummy: bool) -> Reply {
    let now = table_now(shared.now_ms());
    match shared
        .engine()
        .tables
        .clr_tstats(&anchor, &name, dummy, now)
    {
        Ok(n) => Reply::Count(n as u64),
        Err(e) => error(e),
    }
}

pub(super) fn clr_addrs(shared: &Shared, anchor: String, name: String, dummy: bool) -> Reply {
    match shared.engine().tables.clr_addrs(&anchor, &name, dummy) {
        Ok(n) => Reply::Count(n as u64),
        Err(e) => error(e),
    }
}

/// Send `addrs` in chunks, then `Done`.
fn send_addrs(conn: &mut impl Write, addrs: &[AddrInfo]) -> bool {
    for chunk in addrs.chunks(ADDRS_PER_FRAME) {
        if write_frame(conn, &Reply::Addrs(chunk.to_vec())).is_err() {
            return false;
        }
    }
    write_frame(conn, &Reply::Done).is_ok()
}

/// DIOCRGETASTATS: every entry with its statistics, streamed.
pub(super) fn send_astats(
    shared: &Shared,
    conn: &mut impl Write,
    anchor: String,
    name: String,
) -> bool {
    let got = shared.engine().tables.get_astats(&anchor, &name);
    match got {
        Ok(mut v) => {
            for a in &mut v {
                a.tzero = unix_time(shared, a.tzero);
            }
            send_addrs(conn, &v)
        }
        Err(e) => write_frame(conn, &error(e)).is_ok(),
    }
}

/// An address request whose chunks are still arriving.
pub(super) struct PendingAddrs {
    op: AddrOp,
    anchor: String,
    name: String,
    dummy: bool,
    feedback: bool,
    addrs: Vec<TableEntry>,
}

/// A `TableAddrs` request, or the next chunk (`MoreAddrs`) of the one
/// in `pending`: gather the chunks (each answered `Ok`), then run it and
/// answer with the counts and (if asked) the feedback. An unprivileged
/// peer's request (`-T test`) comes in one frame: nothing of it waits
/// between requests.
pub(super) fn addrs(
    shared: &Shared,
    peer: &Peer,
    pending: &mut Option<PendingAddrs>,
    conn: &mut impl Write,
    req: Request,
) -> bool {
    match req {
        Request::TableAddrs {
            op,
            anchor,
            name,
            dummy,
            feedback,
            addrs,
            more,
        } => {
            *pending = None;
            if op != AddrOp::Test && peer.uid != 0 {
                return write_frame(conn, &Reply::error(EPERM, "Permission denied")).is_ok();
            }
            if more && peer.uid != 0 {
                let msg = format!(
                    "an unprivileged address request takes at most {ADDRS_PER_FRAME} addresses"
                );
                return write_frame(conn, &Reply::error(EINVAL, msg)).is_ok();
            }
            *pending = Some(PendingAddrs {
                op,
                anchor,
                name,
                dummy,
                feedback,
                addrs,
            });
            if more {
                return write_frame(conn, &Reply::Ok).is_ok();
            }
        }
        Request::MoreAddrs {
            addrs: mut chunk,
            more,
        } => {
            let Some(p) = pending.as_mut() else {
                return write_frame(conn, &Reply::error(EINVAL, "no address request open")).is_ok();
            };
            if p.addrs.len() + chunk.len() > MAX_REQUEST_ADDRS {
                *pending = None;
                let e = Reply::error(ENOMEM, "Cannot allocate memory: too many addresses");
                return write_frame(conn, &e).is_ok();
            }
            p.addrs.append(&mut chunk);
            if more {
                return write_frame(conn, &Reply::Ok).is_ok();
            }
        }
        _ => return write_frame(conn, &Reply::error(EINVAL, "not an address request")).is_ok(),
    }
    let Some(p) = pending.take() else {
        return false;
    };
    run_addrs(shared, conn, p)
}

/// Run a complete address request.
fn run_addrs(shared: &Shared, conn: &mut impl Write, p: PendingAddrs) -> bool {
    let PendingAddrs {
        op,
        anchor,
        name,
        dummy,
        feedback,
        addrs,
    } = p;
    let now = table_now(shared.now_ms());
    let result = {
        let mut e = shared.engine();
        let limit = e.limit(Limit::TableEntries);
        let t = &mut e.tables;
        match op {
            AddrOp::Add => t.add_addrs(&anchor, &name, &addrs, dummy, now, limit),
            AddrOp::Delete => t.del_addrs(&anchor, &name, &addrs, dummy),
            AddrOp::Replace => t.set_addrs(&anchor, &name, &addrs, dummy, now, limit),
            AddrOp::Zero => t.clr_astats(&anchor, &name, &addrs, dummy, now),
            AddrOp::Test => test(t, &anchor, &name, &addrs),
        }
    };
    if result.is_ok() && !dummy && matches!(op, AddrOp::Add | AddrOp::Delete | AddrOp::Replace) {
        shared.save_config();
    }
    match result {
        Ok(mut change) => {
            let fb = std::mem::take(&mut change.feedback);
            if write_frame(conn, &Reply::AddrChange(change)).is_err() {
                return false;
            }
            !feedback || send_addrs(conn, &fb)
        }
        Err(e) => write_frame(conn, &error(e)).is_ok(),
    }
}

/// DIOCRTSTADDRS: the feedback of each address carries the entry found
/// (or the address itself when none was).
fn test(
    t: &table::Tables,
    anchor: &str,
    name: &str,
    addrs: &[TableEntry],
) -> Result<AddrChange, TableError> {
    if addrs.iter().any(|a| a.neg || !a.net.is_host()) {
        return Err(TableError {
            errno: EINVAL,
            message: "Invalid argument".into(),
        });
    }
    let hosts: Vec<_> = addrs.iter().map(|a| a.net.addr).collect();
    let got = t.tst_addrs(anchor, name, &hosts)?;
    let mut out = AddrChange::default();
    for (a, (code, found)) in addrs.iter().zip(got) {
        if code == table::fb::MATCH {
            out.nmatch += 1;
        }
        out.feedback
            .push(AddrInfo::request(found.unwrap_or(*a), code));
    }
    Ok(out)
}

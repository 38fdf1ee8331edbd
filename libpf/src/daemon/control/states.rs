//! State requests: listing (streamed in chunks), clearing, killing and
//! inserting states.

use crate::addr::IpNet;
use crate::daemon::Shared;
use crate::engine::packet::Dir;
use crate::engine::state::SK_STACK;
use crate::ioctl::frame::write_frame;
use crate::ioctl::{Reply, STATES_PER_FRAME};
use crate::wire::pfsync::{ClrRepr, Message, StateRepr};
use std::os::unix::net::UnixStream;

/// DIOCGETSTATES: every state, in chunks, then `Done`.
pub(super) fn send_all(shared: &Shared, conn: &mut UnixStream) -> bool {
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

/// DIOCCLRSTATES: remove every state (bound to `ifname`, if given) and
/// tell the pfsync peer.
pub(super) fn clear(shared: &Shared, ifname: Option<String>, now: u64) -> Reply {
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

/// DIOCKILLSTATES: remove the states from `src` (to `dst`), bound to
/// `ifname` if given.
pub(super) fn kill(
    shared: &Shared,
    src: Option<IpNet>,
    dst: Option<IpNet>,
    ifname: Option<String>,
    now: u64,
) -> Reply {
    let mut e = shared.engine();
    let n = e.kill_states(now, true, |s| {
        if ifname
            .as_deref()
            .is_some_and(|n| s.ifname.as_deref().unwrap_or("all") != n)
        {
            return false;
        }
        // pfctl -k matches the state's source and destination as the
        // connection's initiator saw them.
        let k = if s.direction == Dir::Out {
            &s.key[SK_STACK]
        } else {
            &s.key[0]
        };
        let (sa, da) = if s.direction == Dir::Out {
            (k.addr[1], k.addr[0])
        } else {
            (k.addr[0], k.addr[1])
        };
        src.is_none_or(|n| n.contains(&sa)) && dst.is_none_or(|n| n.contains(&da))
    });
    shared.sync_cv.notify_all();
    Reply::Count(n as u64)
}

/// DIOCADDSTATES: insert states (a state import).
pub(super) fn add(shared: &Shared, states: &[StateRepr], now: u64) -> Reply {
    let mut e = shared.engine();
    let mut n = 0;
    for s in states {
        if e.import_state(s, false, now).is_ok() {
            n += 1;
        }
    }
    Reply::Count(n)
}

//! State requests: listing (streamed in chunks), clearing, killing and
//! inserting states.

use crate::daemon::Shared;
use crate::engine::state::StateKill;
use crate::ioctl::frame::write_frame;
use crate::ioctl::{Reply, STATES_PER_FRAME};
use crate::wire::pfsync::{ClrRepr, Message, StateRepr};
use std::io::Write;

/// DIOCGETSTATES: every state, in chunks, then `Done`.
pub(super) fn send_all(shared: &Shared, conn: &mut impl Write) -> bool {
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

/// DIOCKILLSTATES: remove the states `k` selects.
pub(super) fn kill(shared: &Shared, k: &StateKill, now: u64) -> Reply {
    let n = shared.engine().kill_matching(k, now);
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

//! State requests: listing (streamed in chunks), clearing, killing and
//! inserting states.

use crate::daemon::Shared;
use crate::engine::export::StateWalk;
use crate::engine::state::StateKill;
use crate::ioctl::frame::write_frame;
use crate::ioctl::{Reply, STATES_PER_FRAME};
use crate::wire::pfsync::{ClrRepr, Message, StateRepr};
use std::io::Write;

/// Slots read, and states exported, per hold of the engine while a
/// listing runs: each hold well under a millisecond, so that packets
/// wait little even when the listing thread is preempted mid-hold.
const SCAN_SLOTS: usize = 4096;
const EXPORT_STATES: usize = 500;

/// DIOCGETSTATES: every state, in chunks, then `Done`. The engine is
/// held for one piece at a time (see `StateWalk`), never for the whole
/// table, so packets go on flowing while a million states are listed.
pub(super) fn send_all(shared: &Shared, conn: &mut impl Write) -> bool {
    let mut walk = StateWalk::new();
    // Packets waiting for the engine have it before each piece.
    while !walk.scan(&shared.engine_after_waiters().states, SCAN_SLOTS) {}
    walk.sort();
    while !walk.done() {
        let mut chunk = Vec::with_capacity(STATES_PER_FRAME);
        while chunk.len() + EXPORT_STATES <= STATES_PER_FRAME && !walk.done() {
            let now = shared.now_ms();
            chunk.extend(
                shared
                    .engine_after_waiters()
                    .export_walk(&mut walk, EXPORT_STATES, now),
            );
        }
        if !chunk.is_empty() && write_frame(conn, &Reply::States(chunk)).is_err() {
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
    // Imported states go to the pfsync peer like new ones; the sender
    // woken once the engine is free (`notify_sync`).
    let wake = e.sync.take_wake();
    drop(e);
    shared.notify_sync(wake);
    Reply::Count(n)
}

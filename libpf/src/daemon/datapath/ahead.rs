//! The data path's side of `onepass`: pf's `out` pass run for a forwarded
//! packet as soon as its `in` pass lets it through, the verdict both make,
//! the rewrite that waits for POSTROUTING, and what POSTROUTING does with
//! a packet so marked.

use super::super::fastpath::Offer;
use super::super::ifnames::IfNames;
use super::super::onepass::{self, Deferrals, OutCodes, Predictor};
use super::super::{offload, Shared};
use super::logger::LogCopy;
use super::sink::{Bytes, Extra, Sink};
use crate::engine::iface::IfName;
use crate::engine::packet::Dir;
use crate::engine::route::Forward;
use crate::engine::{Mtag, PacketMeta, Verdict};
use crate::fastpath::Tuple;
use crate::log;
use crate::sys::nfqueue::{self, Queue};
use std::sync::Arc;

/// Can a packet the `in` pass gave `v` be filtered `out` at once? Only a
/// plain pass: nothing held, sent, diverted or redirected to the host, and
/// not a packet of a bridge (br_netfilter) or cut short.
pub(super) fn ahead_eligible(v: &Verdict, p: &nfqueue::Packet) -> bool {
    v.pass
        && v.hold.is_none()
        && v.forward == Forward::Normal
        && v.reply.is_none()
        && v.send.is_empty()
        && !v.localhost
        && !p.truncated()
        && !p.bridged
}

/// The `out` pass of a packet done ahead of time.
pub(super) struct Ahead {
    pub(super) v: Verdict,
    /// The interface it was for, its index and its code.
    pub(super) ifname: IfName,
    pub(super) oif: u32,
    pub(super) code: u8,
    /// The packet as the `out` pass got it, for its log line.
    pub(super) log: LogCopy,
    /// Its first bytes before the `out` pass (see `onepass::Deferrals`).
    pub(super) expect: Vec<u8>,
    /// The state the `out` pass matched, and the packet's tuple after it
    /// (for the fast path).
    pub(super) state: Option<(crate::engine::state::Slot, bool)>,
    pub(super) tuple: Option<Tuple>,
}

impl Ahead {
    /// The verdict the packet gets for both passes, `in_mtag` the pf header
    /// the `in` pass left, `in_modified` whether it rewrote the packet.
    fn verdict(mut self, in_mtag: Mtag, in_modified: bool) -> (Verdict, Extra) {
        let m = self.v.mtag.unwrap_or(in_mtag);
        let mut extra = Extra {
            mark: Some(onepass::done_mark(m, self.code).unwrap_or_else(|| m.to_mark())),
            ttl_restore: self.v.pass,
        };
        match &mut self.v.forward {
            // Sent by pfd as forwarding leaves it (TTL down): the bytes
            // changed.
            Forward::Resend(_) => {
                extra.ttl_restore = false;
                self.v.modified = true;
            }
            // The original goes on through the kernel, which takes the TTL
            // down; the copy has it down already, as from POSTROUTING.
            Forward::Dup { dec_ttl, .. } => *dec_ttl = true,
            _ => {}
        }
        // Both passes' rewrites go back (the `in` pass's are in the bytes).
        self.v.modified |= in_modified;
        (self.v, extra)
    }
}

/// Filter `out` now the packet `p` the `in` pass just passed with `in_v`
/// (`in_mtag` its header before): when the kernel will forward it by one
/// unicast path and pfd's POSTROUTING chain knows that interface. None:
/// the packet keeps its second queueing.
#[allow(clippy::too_many_arguments)]
pub(super) fn out_ahead(
    shared: &Arc<Shared>,
    pred: &mut Predictor,
    defer: &Deferrals,
    names: &mut IfNames,
    q: &mut Queue,
    p: &nfqueue::Packet,
    in_v: &Verdict,
    in_mtag: Mtag,
) -> Option<Ahead> {
    let m = in_v.mtag.unwrap_or(in_mtag);
    if m.tag > 0xff {
        return None;
    }
    let question = onepass::question(q.payload(p), p.indev, m.to_mark())?;
    let oif = pred.route(shared, &question, |t, d, o| {
        onepass::single_path(shared.engine().fib(), t, d, o)
    })?;
    let ifname = IfName::new(names.get(oif));
    let code = OutCodes::code(shared, ifname.as_str())?;
    let buf = q.payload_mut(p);
    if !onepass::ttl_down(buf) {
        return None;
    }
    let log = LogCopy::of(buf);
    let expect = defer.expect(buf);
    let meta = PacketMeta {
        dir: Dir::Out,
        ifname: ifname.as_str(),
        uid: None,
        gid: None,
        mtag: m,
    };
    let v = {
        let now = shared.now_ms();
        let mut e = shared.engine();
        let v = e.test(&meta, buf, now);
        if e.sync.take_wake() {
            shared.sync_cv.notify_all();
        }
        for n in e.take_notices() {
            log::warning(n.message());
        }
        (v, e.last_state)
    };
    let (v, state) = v;
    let tuple = if shared.fastpath.is_on() {
        Tuple::of(buf)
    } else {
        None
    };
    if v.hold.is_some() {
        // Not for a packet that is no fragment; should it happen, the
        // engine has it and will hand it back (without this pass).
        log::debug("out pass ahead of time held a packet");
    }
    Some(Ahead {
        v,
        ifname,
        oif,
        code,
        log,
        expect,
        state,
        tuple,
    })
}

/// Passed plainly: no logging, nothing sent, held or rerouted (what the
/// kernel may pass on pfd's behalf).
pub(super) fn plain(v: &Verdict) -> bool {
    v.pass
        && !v.log
        && v.forward == Forward::Normal
        && v.reply.is_none()
        && v.send.is_empty()
        && v.hold.is_none()
}

/// What the fast path may take over from packet `p` (None: nothing):
/// both passes passed it by a state, plainly (no logging, nothing sent,
/// held or rerouted), `wire` and `mid` its tuple as it came and after the
/// `in` pass.
pub(super) fn offer(
    p: &nfqueue::Packet,
    in_v: &Verdict,
    in_state: Option<(crate::engine::state::Slot, bool)>,
    in_mtag: Mtag,
    a: &Ahead,
    wire: Tuple,
    mid: Tuple,
) -> Option<Offer> {
    if !plain(in_v) || !plain(&a.v) || p.truncated() || p.bridged {
        return None;
    }
    let m = a.v.mtag.unwrap_or(in_mtag);
    Some(Offer {
        in_if: p.indev,
        out_if: a.oif,
        wire,
        mid,
        out: a.tuple?,
        mark: onepass::done_mark(m, a.code)?,
        in_state: in_state?,
        out_state: a.state?,
    })
}

/// Give packet `p` the verdict of both its passes: `in_v` and `in_mtag`
/// what the `in` pass gave and found, `a` the `out` pass done ahead.
#[allow(clippy::too_many_arguments)]
pub(super) fn finish(
    sink: &mut Sink,
    q: &mut Queue,
    shared: &Shared,
    defer: &Deferrals,
    p: &nfqueue::Packet,
    in_v: &Verdict,
    in_mtag: Mtag,
    mut a: Ahead,
) {
    let queue = match a.v.forward {
        Forward::Queue(n) => Some(n),
        _ => None,
    };
    let rewrite_waits = a.v.pass
        && (a.v.modified || queue.is_some())
        && matches!(
            a.v.forward,
            Forward::Normal | Forward::Dup { .. } | Forward::Queue(_)
        );
    if !rewrite_waits {
        defer.drop_expect(std::mem::take(&mut a.expect));
        let (v, extra) = a.verdict(in_mtag, in_v.modified);
        sink.finish(q, shared, p.id, &v, Bytes::Queued(p), extra);
        return;
    }
    // The `out` pass rewrote it: routed so, it could go elsewhere or be
    // dropped (a source address of the host's own). It goes on as the `in`
    // pass left it, and gets the rewrite at POSTROUTING (and goes to its
    // divert-packet queue from there).
    if let Forward::Dup { sel, .. } = a.v.forward {
        sink.dup(sel, q.payload(p), p.gso);
    }
    let buf = q.payload_mut(p);
    let m = a.v.mtag.unwrap_or(in_mtag);
    let expect = std::mem::take(&mut a.expect);
    let n = expect.len();
    let ticket = defer.put(
        expect,
        buf,
        a.oif,
        in_mtag,
        m.to_mark(),
        queue,
        p.csum_not_ready,
    );
    defer.restore_expect(ticket, &mut buf[..n]);
    if p.csum_not_ready && (in_v.modified || !p.gso) {
        // `finish` gives it back with its checksum computed: that is what
        // POSTROUTING will see.
        offload::complete_checksum(buf);
        defer.refresh_expect(ticket, buf);
    }
    let mut v = a.v;
    v.modified = in_v.modified;
    v.forward = Forward::Normal;
    v.mtag = None;
    let extra = Extra {
        mark: Some(onepass::defer_mark(in_mtag.route, ticket)),
        ttl_restore: true,
    };
    sink.finish(q, shared, p.id, &v, Bytes::Queued(p), extra);
}

/// What POSTROUTING makes of a packet marked when it came in.
pub(super) enum Post {
    /// Its verdict is given (its rewrite put in place, or dropped).
    Done,
    /// Filter it `out` after all, with this pf header: it leaves by
    /// another interface than its `out` pass was for.
    Filter(Mtag),
}

/// A packet at POSTROUTING whose `out` pass was done when it came in
/// (None: not such a packet).
pub(super) fn at_postrouting(
    q: &mut Queue,
    p: &nfqueue::Packet,
    defer: &Deferrals,
    pred: &mut Predictor,
) -> Option<Post> {
    let Some(t) = onepass::defer_ticket(p.mark) else {
        // Marked as done for another interface than the one it leaves
        // by (a route changed meanwhile): filter it where it really goes.
        let m = onepass::from_done_mark(p.mark)?;
        pred.mispredicted += 1;
        pred.forget();
        return Some(Post::Filter(m));
    };
    // Its rewrite waits here.
    let d = defer.take(t).filter(|d| d.matches(q.payload(p)));
    match d {
        Some(d) if d.oif == p.outdev => {
            let buf = q.payload_mut(p);
            d.apply(buf);
            if d.csum || p.csum_not_ready {
                offload::complete_checksum(buf);
            }
            let v = match d.queue {
                Some(n) => nfqueue::Verdict::Queue(n),
                None => nfqueue::Verdict::Accept,
            };
            let _ = q.verdict_own(p.id, v, Some(d.mark), Some(p));
            defer.recycle(d);
            Some(Post::Done)
        }
        Some(d) => {
            let m = d.in_mtag;
            defer.recycle(d);
            pred.mispredicted += 1;
            pred.forget();
            Some(Post::Filter(m))
        }
        None => {
            // Nothing kept for it: what pf made of it is lost.
            pred.lost += 1;
            let _ = q.verdict(p.id, nfqueue::Verdict::Drop, None, None);
            Some(Post::Done)
        }
    }
}

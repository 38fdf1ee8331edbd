//! Carrying out verdicts: the verdict to the queue (the rewritten bytes,
//! the mark), the replies pf makes, the packets it sends on its own, and
//! what policy routing sends on another path (route-to after routing,
//! dup-to copies, af-to), GSO packets among them cut into segments first.

use super::super::pflog::Seen;
use super::super::{offload, onepass, routing, Shared};
use super::logger::Logger;
use super::Held;
use crate::engine::frag::Release;
use crate::engine::route::Forward;
use crate::engine::status::Reason;
use crate::engine::{Outgoing, Verdict};
use crate::log;
use crate::sys::nfqueue::{self, Queue};
use crate::sys::policy_routing::RouteSender;
use crate::sys::raw::RawSender;
use std::collections::HashMap;

/// Raw sockets for the packets pf sends on its own, each sent with the
/// mark the engine gave it (generated, or filtered by pf's `out` pass).
pub struct Outbound {
    v4: Option<RawSender>,
    v6: Option<RawSender>,
    /// The mark each socket carries now.
    marks: [u32; 2],
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound::new()
    }
}

impl Outbound {
    pub fn new() -> Outbound {
        Outbound {
            v4: RawSender::ipv4(Some(0), None).ok(),
            v6: RawSender::ipv6(Some(0)).ok(),
            marks: [0; 2],
        }
    }

    pub fn send(&mut self, o: &Outgoing) {
        let i = usize::from(o.packet.first().is_some_and(|b| b >> 4 == 6));
        let Some(s) = (if i == 1 { &self.v6 } else { &self.v4 }) else {
            return;
        };
        if self.marks[i] != o.mark {
            if let Err(e) = s.set_mark(o.mark) {
                log::err(&format!("raw socket mark: {e}"));
                return;
            }
            self.marks[i] = o.mark;
        }
        let _ = s.send(&o.packet);
    }
}

/// Everything that carries out a verdict besides the queue itself.
pub(super) struct Sink {
    /// Replies (RST, ICMP), with the generated mark.
    pub(super) v4: Option<RawSender>,
    pub(super) v6: Option<RawSender>,
    pub(super) outbound: Outbound,
    pub(super) route_sender: Option<RouteSender>,
    pub(super) dup_buf: Vec<u8>,
    pub(super) seg_buf: Vec<u8>,
    pub(super) logger: Logger,
    /// The queue without GSO that cuts GSO packets into segments for pfd
    /// when it must send them itself (see `finish`).
    pub(super) seg: Option<Queue>,
}

/// The bytes of a packet being given its verdict: still in the queue's
/// buffer, or a held fragment the engine handed back.
pub(super) enum Bytes<'a> {
    Queued(&'a nfqueue::Packet),
    Own(&'a mut Vec<u8>),
}

/// What a packet filtered `in` and `out` at once needs besides its
/// verdict.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Extra {
    /// The mark to give it instead of its pf header's.
    pub(super) mark: Option<u32>,
    /// Its TTL was taken down for the `out` pass: put it back before the
    /// kernel forwards it.
    pub(super) ttl_restore: bool,
}

/// Does carrying out `f` send the packet's bytes through a raw socket?
pub(super) fn sends_bytes(f: &Forward) -> bool {
    matches!(
        f,
        Forward::Resend(_) | Forward::Dup { .. } | Forward::AfTo(_)
    )
}

impl Sink {
    /// Give packet `id` its verdict: `pkt` is the packet as the engine left
    /// it (written back when the verdict says it was modified); `extra` what
    /// filtering `out` ahead of time adds (see `onepass`).
    pub(super) fn finish(
        &mut self,
        q: &mut Queue,
        shared: &Shared,
        id: u32,
        v: &Verdict,
        mut pkt: Bytes,
        extra: Extra,
    ) {
        if v.reason == Reason::Memory {
            self.logger.full(shared);
        }
        let (csum_not_ready, gso) = match &pkt {
            Bytes::Queued(p) => (p.csum_not_ready, p.gso),
            Bytes::Own(_) => (false, false),
        };
        let mark = extra.mark.or(v.mtag.map(|t| t.to_mark()));
        // A packet whose checksum the kernel left to the card goes back
        // with it computed, as the queue gave packets before GSO was
        // taken whole (and as a card would send it): what a sniffer on
        // the far side of a veth sees. GSO packets are left to the
        // kernel's segmentation, which computes it.
        let complete = csum_not_ready && v.pass && (v.modified || !gso || sends_bytes(&v.forward));
        let give_back = v.pass && (v.modified || (csum_not_ready && !gso));
        let resegment = gso && v.pass && sends_bytes(&v.forward);
        let accept = {
            let bytes: &mut [u8] = match &mut pkt {
                Bytes::Queued(p) => q.payload_mut(p),
                Bytes::Own(b) => &mut b[..],
            };
            if v.localhost && v.pass && crate::engine::localhost::is_v4(bytes) {
                shared.localnet.need();
            }
            if complete {
                // The bytes leave as they are: their checksum must be whole.
                offload::complete_checksum(bytes);
            }
            if extra.ttl_restore {
                // Forwarding takes it down again.
                onepass::ttl_up(bytes);
            }
            if resegment {
                v.pass
            } else if let (true, Forward::AfTo(p)) = (csum_not_ready, &v.forward) {
                // Translated from a packet whose checksum was not done:
                // the translation's is not either.
                let mut whole = std::mem::take(&mut self.dup_buf);
                whole.clear();
                whole.extend_from_slice(p);
                offload::complete_checksum(&mut whole);
                if let Some(rs) = self.route_sender.as_mut() {
                    routing::send_af(rs, &whole);
                }
                self.dup_buf = whole;
                false
            } else {
                // Policy routing: send again on another path, copy, af-to.
                routing::forward(
                    self.route_sender.as_mut(),
                    &v.forward,
                    bytes,
                    &mut self.dup_buf,
                )
                .unwrap_or(v.pass)
            }
        };
        if let (true, Bytes::Queued(p)) = (resegment, &pkt) {
            // A raw socket sends one IP packet: let the kernel cut this one
            // into its segments first.
            self.resegment(q, p, v, mark);
        } else {
            let verdict = match (&v.forward, accept) {
                (Forward::Queue(n), true) => nfqueue::Verdict::Queue(*n),
                (_, true) => nfqueue::Verdict::Accept,
                (_, false) => nfqueue::Verdict::Drop,
            };
            let r = match &pkt {
                Bytes::Queued(p) => q.verdict_own(id, verdict, mark, give_back.then_some(*p)),
                Bytes::Own(b) => q.verdict(id, verdict, mark, give_back.then_some(&b[..])),
            };
            if let Err(e) = r {
                log::err(&format!("NFQUEUE {} verdict: {e}", q.num()));
            }
        }
        if v.reply.is_some() || !v.send.is_empty() {
            // What pf sends follows the packets before it.
            let _ = q.flush();
        }
        if let Some(reply) = &v.reply {
            let sender = if reply.first().is_some_and(|b| b >> 4 == 6) {
                self.v6.as_ref()
            } else {
                self.v4.as_ref()
            };
            if let Some(s) = sender {
                let _ = s.send(reply);
            }
        }
        for o in &v.send {
            self.outbound.send(o);
        }
    }

    /// A GSO packet that pfd must send itself (route-to after routing,
    /// dup-to, af-to): a raw socket sends one IP packet no larger than the
    /// route's MTU, and only the kernel knows the segment size the packet
    /// was made with. So it goes (rewritten when `payload`) to the
    /// segmenting queue, which takes GSO packets apart; the kernel queues
    /// the segments there at once, while handling this verdict, and each
    /// gets what the packet would have: sent again, or accepted and
    /// copied. For af-to the segments only tell the segment size: the
    /// translated packet is cut to it here and sent, the segments dropped.
    fn resegment(&mut self, q: &mut Queue, p: &nfqueue::Packet, v: &Verdict, mark: Option<u32>) {
        let Some(seg) = self.seg.as_mut() else {
            // No segmenting queue: the packet cannot go where pf sends it.
            let _ = q.verdict(p.id, nfqueue::Verdict::Drop, None, None);
            return;
        };
        let af_to = matches!(v.forward, Forward::AfTo(_));
        let rewritten = (v.modified && !af_to).then_some(p);
        let r = q
            .verdict_own(p.id, nfqueue::Verdict::Queue(seg.num()), mark, rewritten)
            .and_then(|_| q.flush());
        if let Err(e) = r {
            log::err(&format!("NFQUEUE {} verdict: {e}", q.num()));
            return;
        }
        let mut size = None;
        while let Ok(Some(p)) = seg.recv(Some(0)) {
            let bytes = seg.payload_mut(&p);
            if p.csum_not_ready {
                offload::complete_checksum(bytes);
            }
            let accept = if af_to {
                size = size.or_else(|| offload::segment_size(bytes));
                false
            } else {
                routing::forward(
                    self.route_sender.as_mut(),
                    &v.forward,
                    bytes,
                    &mut self.dup_buf,
                )
                .unwrap_or(false)
            };
            let verdict = if accept {
                nfqueue::Verdict::Accept
            } else {
                nfqueue::Verdict::Drop
            };
            let _ = seg.verdict(p.id, verdict, None, None);
        }
        let _ = seg.flush();
        if let (Forward::AfTo(p), Some(size)) = (&v.forward, size) {
            let mut whole = std::mem::take(&mut self.dup_buf);
            whole.clear();
            whole.extend_from_slice(p);
            offload::complete_checksum(&mut whole);
            let sender = self.route_sender.as_mut();
            if let Some(rs) = sender {
                offload::segment(&whole, size, &mut self.seg_buf, |s| {
                    routing::send_af(rs, s);
                });
            }
            self.dup_buf = whole;
        }
    }

    /// A `dup-to` copy of `pkt` as it is (filtered `out` already). A GSO
    /// packet is copied in segments of IPv6's minimum MTU: its own segment
    /// size is not known here.
    pub(super) fn dup(&mut self, sel: u8, pkt: &[u8], gso: bool) {
        let f = Forward::Dup {
            sel,
            dec_ttl: false,
        };
        let mut whole = std::mem::take(&mut self.seg_buf);
        if gso {
            whole.clear();
            whole.extend_from_slice(pkt);
            offload::complete_checksum(&mut whole);
            let hdr = offload::headers_len(pkt).unwrap_or(pkt.len());
            let size = 1280usize.saturating_sub(hdr).max(8);
            let mut piece = Vec::new();
            let rs = self.route_sender.as_mut();
            if let Some(rs) = rs {
                let dup_buf = &mut self.dup_buf;
                offload::segment(&whole, size, &mut piece, |s| {
                    let _ = routing::forward(Some(&mut *rs), &f, s, dup_buf);
                });
            }
        } else {
            let _ = routing::forward(self.route_sender.as_mut(), &f, pkt, &mut self.dup_buf);
        }
        self.seg_buf = whole;
    }

    /// The late verdicts of held packets.
    pub(super) fn release(
        &mut self,
        q: &mut Queue,
        shared: &Shared,
        held: &mut HashMap<u64, Held>,
        releases: &mut Vec<Release>,
        debug: u8,
    ) {
        for mut r in releases.drain(..) {
            let Some(h) = held.remove(&r.ticket) else {
                continue;
            };
            let at = Seen {
                dir: h.dir,
                ifname: &h.ifname,
                uid: None,
                bytes: &r.bytes,
                len: r.bytes.len(),
            };
            self.logger.log(&r.verdict, debug, &at);
            self.finish(
                q,
                shared,
                h.id,
                &r.verdict,
                Bytes::Own(&mut r.bytes),
                Extra::default(),
            );
        }
    }
}

//! Fragments: what pf does with them, on a data path that sees every
//! fragment (netfilter does not reassemble before pfd's hooks).
//!
//! With reassembly (`set reassemble yes`, the default) no fragment gets a
//! verdict of its own. Each one is queued (`queue`) and the packet held
//! (`Verdict::hold`); when its datagram is complete the joined datagram
//! goes through the filter once, like any packet (rules, states, NAT,
//! scrub), and every held fragment gets that verdict as a `Release`,
//! rewritten from the datagram as the filter left it (addresses in every
//! fragment, ports and checksum wherever those bytes are). Incomplete
//! datagrams are dropped after the `frag` timeout; `set limit frags` and a
//! memory bound cap what is held.
//!
//! Without reassembly (`set reassemble no`) fragments are filtered as pf
//! filters them: on their IP header only (rules with ports, flags, ICMP
//! types or users do not match; `fragment` rules do), without states or
//! translation. On top of that, as OpenBSD's old fragment cache did, a
//! fragment never passes when the first fragment of its datagram, checked
//! with its ports, hits a block rule: later fragments that arrive before
//! the first are held until it comes, and overlapping fragments mark the
//! whole datagram bad.

pub mod queue;

use super::matchctx::MatchCtx;
use super::normalize::{self, Actions};
use super::packet::{describe, describe_l4, Dir, Pd, PdError};
use super::route::Forward;
use super::rules::evaluate_dry;
use super::status::Reason;
use super::verdict::{tag_packet, PacketMeta, Verdict};
use super::Engine;
use crate::addr::Af;
use crate::ruleset::{Action, Limit, Timeout};
use queue::{FragHdr, FragKey, Frent, Insert, NodeKey};
use std::collections::HashMap;

/// Bytes of fragments pfd holds at most (besides `set limit frags`).
pub const MEMORY_LIMIT: usize = 128 << 20;

/// The late verdict of a held packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The ticket `Verdict::hold` gave the packet.
    pub ticket: u64,
    pub verdict: Verdict,
    /// The packet as it goes on: rewritten when `verdict.modified` (it was
    /// translated, scrubbed or trimmed; it may be shorter than it came),
    /// else as it came. Empty when the engine no longer has it (a drop on
    /// timeout or for memory).
    pub bytes: Vec<u8>,
}

/// A datagram's fragments when they are not reassembled.
#[derive(Debug, Default)]
struct Unbuffered {
    created: u64,
    /// The verdict the first fragment got when checked with its ports.
    first: Option<bool>,
    /// Overlapping or malformed fragments were seen: drop everything.
    bad: bool,
    /// Data ranges seen (offset, end).
    ranges: Vec<(u32, u32)>,
    /// The datagram's length, once its last fragment was seen.
    total: Option<u32>,
    /// Fragments that came before the first one, with the verdict they
    /// got on their own and their bytes.
    held: Vec<(u64, Verdict, Vec<u8>)>,
}

/// Fragment handling state of the engine.
#[derive(Debug, Default)]
pub struct Fragments {
    queue: queue::Queue,
    unbuffered: HashMap<FragKey, Unbuffered>,
    /// Fragments held in `unbuffered`, and their bytes.
    unbuf_count: usize,
    unbuf_bytes: usize,
    releases: Vec<Release>,
    next_ticket: u64,
    /// How many packets the data path can hold at most (0: no bound of
    /// its own), besides `set limit frags`.
    hold_limit: usize,
}

impl Fragments {
    /// Fragments held (`pfctl -vsi`, current entries).
    pub fn count(&self) -> usize {
        self.queue.count + self.unbuf_count
    }

    /// Bytes of fragments held.
    pub fn bytes(&self) -> usize {
        self.queue.bytes + self.unbuf_bytes
    }

    /// Searches, inserts, removals.
    pub fn counters(&self) -> [u64; 3] {
        let c = self.queue.counters;
        [c.searches, c.inserts, c.removals]
    }

    /// Is anything waiting to be taken?
    pub fn has_releases(&self) -> bool {
        !self.releases.is_empty()
    }

    /// How many late verdicts wait (to tell which a call added).
    pub(in crate::engine) fn releases_len(&self) -> usize {
        self.releases.len()
    }

    /// Visit the late verdicts added since there were `from`.
    pub(in crate::engine) fn released_since(&mut self, from: usize, f: impl FnMut(&mut Release)) {
        self.releases.iter_mut().skip(from).for_each(f);
    }

    fn ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket
    }

    fn drop_tickets(&mut self, tickets: &[u64], reason: Reason) {
        for &t in tickets {
            self.releases.push(Release {
                ticket: t,
                verdict: Verdict::drop(reason),
                bytes: Vec::new(),
            });
        }
    }
}

impl Verdict {
    /// The packet is held; its verdict comes later as a `Release`.
    pub(in crate::engine) fn held(ticket: u64) -> Verdict {
        let mut v = Verdict::drop(Reason::Match);
        v.hold = Some(ticket);
        v
    }
}

impl Engine {
    /// `set reassemble yes` (the default)?
    fn reassemble(&self) -> bool {
        self.options.reassemble.is_none_or(|(on, _)| on)
    }

    /// `set reassemble yes no-df`?
    pub(in crate::engine) fn reassemble_no_df(&self) -> bool {
        self.options
            .reassemble
            .is_some_and(|(on, no_df)| on && no_df)
    }

    /// Take the late verdicts of held packets that `mine` owns.
    pub fn take_releases(&mut self, mine: impl Fn(u64) -> bool, out: &mut Vec<Release>) {
        if self.frags.releases.is_empty() {
            return;
        }
        let all = std::mem::take(&mut self.frags.releases);
        for r in all {
            if mine(r.ticket) {
                out.push(r);
            } else {
                self.frags.releases.push(r);
            }
        }
    }

    /// The data path can hold at most `n` packets waiting for a verdict
    /// (the kernel's queue room); fragments beyond it are refused as over
    /// `set limit frags` would be.
    pub fn set_hold_limit(&mut self, n: usize) {
        self.frags.hold_limit = n;
    }

    /// Fragments held now (`pfctl -vsi`).
    pub fn fragments(&self) -> &Fragments {
        &self.frags
    }

    /// Room for one more fragment of `len` bytes: at the limits, the
    /// oldest datagrams go (pf_flush_fragments: down to 90%).
    fn frag_room(&mut self, len: usize) -> bool {
        let mut limit = self.limit(Limit::Frags) as usize;
        if self.frags.hold_limit != 0 {
            limit = limit.min(self.frags.hold_limit);
        }
        let f = &mut self.frags;
        if f.count() < limit && f.bytes() + len <= MEMORY_LIMIT {
            return true;
        }
        let mut dropped = Vec::new();
        let goal_count = (f.count() * 9 / 10).saturating_sub(f.unbuf_count);
        let goal_bytes = (MEMORY_LIMIT * 9 / 10).saturating_sub(f.unbuf_bytes);
        f.queue.flush(goal_count, goal_bytes, &mut dropped);
        f.drop_tickets(&dropped, Reason::Memory);
        f.count() < limit && f.bytes() + len <= MEMORY_LIMIT
    }

    /// Expire fragments older than the `frag` timeout.
    pub(in crate::engine) fn purge_fragments(&mut self, now: u64) {
        let timeout_ms = self.timeout_value(Timeout::Frag) as u64 * 1000;
        let mut dropped = Vec::new();
        self.frags.queue.purge(now, timeout_ms, &mut dropped);
        self.frags.drop_tickets(&dropped, Reason::Fragment);
        let old: Vec<FragKey> = self
            .frags
            .unbuffered
            .iter()
            .filter(|(_, u)| u.created.saturating_add(timeout_ms) <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            self.unbuffered_remove(&k, false, Reason::Fragment);
        }
    }

    /// A fragment: queued for reassembly, or filtered on its own.
    /// `modified`: IP normalisation already changed `buf`.
    pub(in crate::engine) fn test_fragment(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        pd: Pd,
        modified: bool,
        now: u64,
    ) -> Verdict {
        let Some(fh) = queue::parse(buf, &pd) else {
            self.count(Reason::Fragment);
            return Verdict::drop(Reason::Fragment);
        };
        let key = FragKey {
            node: NodeKey {
                af: pd.af,
                proto: if pd.af == Af::Inet { pd.proto } else { 0 },
                src: pd.src,
                dst: pd.dst,
                dir: meta.dir,
            },
            id: fh.id,
        };
        if !self.reassemble() {
            return self.test_unbuffered(meta, buf, pd, fh, key, modified, now);
        }
        let tot = pd.tot_len.min(buf.len());
        if !self.frag_room(tot) {
            self.count(Reason::Memory);
            return Verdict::drop(Reason::Memory);
        }
        let ticket = self.frags.ticket();
        let fe = Frent::new(ticket, buf[..tot].to_vec(), fh, modified);
        let stale = self
            .timeout_value(Timeout::Frag)
            .saturating_mul(queue::STALE_PER_SEC)
            .max(1);
        let mut dropped = Vec::new();
        let r = self.frags.queue.insert(key, fe, now, stale, &mut dropped);
        self.frags.drop_tickets(&dropped, Reason::Fragment);
        match r {
            Insert::Held => Verdict::held(ticket),
            Insert::Dropped(reason) => {
                self.count(reason);
                Verdict::drop(reason)
            }
            Insert::Complete(frents) => {
                self.test_datagram(meta, key.node.af, frents, now);
                Verdict::held(ticket)
            }
        }
    }

    /// A datagram is complete: filter it whole, then give each fragment
    /// its verdict.
    fn test_datagram(&mut self, meta: &PacketMeta, af: Af, frents: Vec<Frent>, now: u64) {
        let drop_all = |e: &mut Engine, frents: &[Frent], reason: Reason| {
            e.count(reason);
            let t: Vec<u64> = frents.iter().map(|f| f.ticket).collect();
            e.frags.drop_tickets(&t, reason);
        };
        let mut whole = match queue::join(&frents, af) {
            Ok(w) => w,
            Err(reason) => return drop_all(self, &frents, reason),
        };
        let whole_len = whole.len();
        let whole_hl = match af {
            Af::Inet => frents[0].hdr.hdrlen,
            Af::Inet6 => frents[0].hdr.fragoff,
        };
        let pd = match describe(&whole) {
            Ok(pd) => pd,
            Err(e) => return drop_all(self, &frents, pd_reason(e)),
        };
        let mut v = self.test_whole(meta, &mut whole, pd, now);
        if v.pass && matches!(v.forward, Forward::AfTo(_)) {
            // af-to sends the translated datagram in place of the first
            // fragment; the others are part of it.
            for (i, fe) in frents.into_iter().enumerate() {
                let verdict = if i == 0 {
                    std::mem::replace(&mut v, Verdict::drop(Reason::Match))
                } else {
                    Verdict::drop(Reason::Match)
                };
                self.frags.releases.push(Release {
                    ticket: fe.ticket,
                    verdict,
                    bytes: fe.bytes,
                });
            }
            return;
        }
        if !v.pass {
            // The first fragment carries the datagram's verdict (its log
            // line, its reply); the others are dropped with it.
            for (i, fe) in frents.into_iter().enumerate() {
                let verdict = if i == 0 {
                    v.clone()
                } else {
                    let mut d = Verdict::drop(v.reason);
                    d.rule = v.rule;
                    d
                };
                self.frags.releases.push(Release {
                    ticket: fe.ticket,
                    verdict,
                    bytes: fe.bytes,
                });
            }
            return;
        }
        if whole.len() != whole_len {
            // A rewrite that changes the datagram's size cannot be carried
            // by the original fragments.
            return drop_all(self, &frents, Reason::Normalize);
        }
        let mut rewritten = Vec::with_capacity(frents.len());
        for fe in &frents {
            if v.modified || fe.changed {
                match queue::refragment(fe, &whole, whole_hl, af) {
                    Some(b) => rewritten.push(Some(b)),
                    None => return drop_all(self, &frents, Reason::Short),
                }
            } else {
                rewritten.push(None);
            }
        }
        for (i, (fe, new)) in frents.into_iter().zip(rewritten).enumerate() {
            let mut verdict = v.clone();
            verdict.modified = new.is_some();
            if i != 0 {
                // What goes with the datagram goes once.
                verdict.log = false;
                verdict.reply = None;
                verdict.send.clear();
            }
            self.frags.releases.push(Release {
                ticket: fe.ticket,
                verdict,
                bytes: new.unwrap_or(fe.bytes),
            });
        }
    }

    /// `set reassemble no`: filter the fragment on its IP header, and not
    /// past what its datagram's first fragment was refused.
    #[allow(clippy::too_many_arguments)]
    fn test_unbuffered(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        pd: Pd,
        fh: FragHdr,
        key: FragKey,
        modified: bool,
        now: u64,
    ) -> Verdict {
        let (start, end) = (fh.off as u32, fh.off as u32 + fh.len as u32);
        let malformed =
            fh.len == 0 || (fh.mff && !fh.len.is_multiple_of(8)) || end as usize > queue::MAXPACKET;
        let u = self
            .frags
            .unbuffered
            .entry(key)
            .or_insert_with(|| Unbuffered {
                created: now,
                ..Unbuffered::default()
            });
        // Overlaps (duplicates too) could rewrite what the first fragment
        // said; a second last fragment, or data past the last, is as bad.
        let overlaps = u.ranges.iter().any(|&(s, e)| start < e && s < end)
            || u.total.is_some_and(|t| end > t || (end == t && fh.mff))
            || (!fh.mff && (u.total.is_some() || u.ranges.iter().any(|&(_, e)| e > end)));
        if u.bad || malformed || overlaps {
            self.unbuffered_remove(&key, true, Reason::Fragment);
            self.count(Reason::Fragment);
            return Verdict::drop(Reason::Fragment);
        }
        u.ranges.push((start, end));
        if !fh.mff {
            u.total = Some(end);
        }
        // Its own verdict, on its IP header.
        let mut v = self.test_fragment_rules(meta, buf, &pd, now);
        v.modified |= modified;
        if fh.off == 0 {
            // The first fragment decides for the datagram, checked with
            // its transport header.
            let mut first = pd;
            first.frag_l4 = true;
            let ok = first.proto != super::packet::V6_FRAGMENT
                && describe_l4(&buf[..pd.tot_len.min(buf.len())], &mut first).is_ok();
            let d = if ok {
                self.first_fragment_passes(meta, &first, now)
            } else {
                Err(None)
            };
            let pass = d.is_ok();
            let held = match self.frags.unbuffered.get_mut(&key) {
                Some(u) => {
                    u.first = Some(pass);
                    std::mem::take(&mut u.held)
                }
                None => Vec::new(),
            };
            for (ticket, hv, bytes) in held {
                self.frags.unbuf_count = self.frags.unbuf_count.saturating_sub(1);
                self.frags.unbuf_bytes = self.frags.unbuf_bytes.saturating_sub(bytes.len());
                let r = if pass && hv.pass {
                    Release {
                        ticket,
                        verdict: hv,
                        bytes,
                    }
                } else {
                    Release {
                        ticket,
                        verdict: Verdict::drop(Reason::Match),
                        bytes,
                    }
                };
                self.frags.releases.push(r);
            }
            if let Err(rule) = d {
                if !ok {
                    self.unbuffered_remove(&key, true, Reason::Fragment);
                    self.count(Reason::Fragment);
                    return Verdict::drop(Reason::Fragment);
                }
                self.count(Reason::Match);
                self.unbuffered_done(&key);
                let mut b = Verdict::drop(Reason::Match);
                b.rule = rule;
                return b;
            }
            self.unbuffered_done(&key);
            return v;
        }
        match self.frags.unbuffered.get(&key).and_then(|u| u.first) {
            Some(true) => {
                self.unbuffered_done(&key);
                v
            }
            Some(false) => {
                self.count(Reason::Match);
                self.unbuffered_done(&key);
                Verdict::drop(Reason::Match)
            }
            None if !v.pass => v,
            None => {
                let len = pd.tot_len.min(buf.len());
                if !self.frag_room(len) {
                    self.count(Reason::Memory);
                    return Verdict::drop(Reason::Memory);
                }
                let ticket = self.frags.ticket();
                let bytes = buf[..len].to_vec();
                self.frags.unbuf_count += 1;
                self.frags.unbuf_bytes += bytes.len();
                if let Some(u) = self.frags.unbuffered.get_mut(&key) {
                    u.held.push((ticket, v, bytes));
                }
                Verdict::held(ticket)
            }
        }
    }

    /// Forget an unbuffered datagram once all its data was seen (and
    /// nothing of it is held).
    fn unbuffered_done(&mut self, key: &FragKey) {
        if let Some(u) = self.frags.unbuffered.get(key) {
            let mut r = u.ranges.clone();
            r.sort_unstable();
            let mut at = 0;
            let contiguous = r.iter().all(|&(s, e)| {
                let ok = s == at;
                at = e;
                ok
            });
            if u.total == Some(at) && contiguous && u.held.is_empty() {
                self.frags.unbuffered.remove(key);
            }
        }
    }

    /// Drop an unbuffered datagram's held fragments; `keep_bad` keeps an
    /// entry that drops its later fragments until the timeout.
    fn unbuffered_remove(&mut self, key: &FragKey, keep_bad: bool, reason: Reason) {
        let held = match self.frags.unbuffered.get_mut(key) {
            Some(u) => {
                u.bad = true;
                std::mem::take(&mut u.held)
            }
            None => return,
        };
        if !keep_bad {
            self.frags.unbuffered.remove(key);
        }
        for (ticket, _, bytes) in held {
            self.frags.unbuf_count = self.frags.unbuf_count.saturating_sub(1);
            self.frags.unbuf_bytes = self.frags.unbuf_bytes.saturating_sub(bytes.len());
            self.frags.releases.push(Release {
                ticket,
                verdict: Verdict::drop(reason),
                bytes,
            });
        }
    }

    /// The rules on a fragment's IP header (pf_test_rule with the virtual
    /// protocol "fragment"): no state, no translation of the fragment (the
    /// match rules' translations only change what later rules see); a
    /// pass applies the deciding rule's scrub, tag and routing.
    fn test_fragment_rules(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        pd: &Pd,
        now: u64,
    ) -> Verdict {
        let kif = self.ifaces.lookup(meta.ifname);
        // The match rules' translations change what the later rules see,
        // not the fragment; it makes no state, so their source nodes go.
        let ev = match self.match_rules(meta, kif, pd, None, now) {
            Ok((ev, t)) => {
                self.release_sns(&t.sns, now);
                ev
            }
            Err(reason) => {
                self.count(reason);
                return Verdict::drop(reason);
            }
        };
        let d = if meta.dir == Dir::In { 0 } else { 1 };
        let len = pd.tot_len as u64;
        let Some(ri) = ev.rule else {
            if pd.badopts != 0 {
                self.count(Reason::IpOption);
                return Verdict::drop(Reason::IpOption);
            }
            let mut v = Verdict::pass(false);
            v.log = ev.log;
            tag_packet(&mut v, meta, ev.tag.unwrap_or(0));
            return v;
        };
        let Some(r) = self.rules.rule(ri) else {
            return Verdict::pass(false);
        };
        let (mut action, allow_opts) = (r.action, r.extras.allow_opts);
        if ev.limiter_block {
            action = Action::Block;
        }
        let actions = Actions::of_rule(r);
        if action == Action::Pass && pd.badopts != 0 && !allow_opts {
            self.count(Reason::IpOption);
            return Verdict::drop(Reason::IpOption);
        }
        for r in [Some(ri), ev.anchor].into_iter().flatten() {
            if let Some(c) = self.rules.counters_mut(r) {
                c.packets[d] += 1;
                c.bytes[d] += len;
            }
        }
        if action == Action::Block {
            self.count(Reason::Fragment);
            let mut v = Verdict::drop(Reason::Fragment);
            v.log = ev.log;
            v.rule = Some(ri.nr);
            return v;
        }
        // A fragment passed without a state holds no source node of a
        // sticky pool: what the route choice made is let go at once.
        let mut sns = crate::engine::srcnode::Sns::default();
        let route = self.state_route(ri, pd.af, ev.rtable, &pd.src, &mut sns, now);
        self.release_sns(&sns, now);
        let route = match route {
            Ok(sr) => sr,
            Err(reason) => {
                self.count(reason);
                return Verdict::drop(reason);
            }
        };
        let rid = self.random() as u16;
        let mut v = Verdict::pass(normalize::scrub(buf, pd, &actions, rid));
        v.log = ev.log;
        v.rule = Some(ri.nr);
        v.route(&route, true, meta);
        tag_packet(&mut v, meta, ev.tag.unwrap_or(0));
        v
    }

    /// Would the first fragment, read with its ports, pass the rules?
    /// Err(rule): a block rule decides.
    fn first_fragment_passes(
        &mut self,
        meta: &PacketMeta,
        pd: &Pd,
        now: u64,
    ) -> Result<(), Option<u32>> {
        let kif = self.ifaces.lookup(meta.ifname);
        let rcv = match meta.dir {
            Dir::In => kif,
            Dir::Out => self.ifaces.by_slot(meta.mtag.in_slot),
        };
        let ctx = MatchCtx {
            dir: meta.dir,
            ifname: meta.ifname,
            uid: None,
            gid: None,
            ifaces: &self.ifaces,
            fib: &self.fib,
            kif,
            rcv,
            tables: &self.tables,
            tag: meta.mtag.tag,
            now,
            os: None,
        };
        let ev = evaluate_dry(&mut self.rules, pd, &ctx);
        if ev.overflow {
            return Err(None);
        }
        match ev.rule {
            Some(ri)
                if self
                    .rules
                    .rule(ri)
                    .is_none_or(|r| r.action == Action::Block) =>
            {
                Err(Some(ri.nr))
            }
            _ => Ok(()),
        }
    }
}

/// The reason counter for a packet `describe` refused.
pub(in crate::engine) fn pd_reason(e: PdError) -> Reason {
    match e {
        PdError::Short | PdError::NotIp => Reason::Short,
        PdError::BadOffset => Reason::BadOffset,
        PdError::IpOption => Reason::IpOption,
        PdError::Fragment => Reason::Fragment,
        PdError::Normalize => Reason::Normalize,
    }
}

#[cfg(test)]
mod tests;

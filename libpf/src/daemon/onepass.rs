//! One queueing per forwarded packet: pf's `in` and `out` passes both at
//! PREROUTING, where the packet first comes to pfd, instead of a second
//! trip through NFQUEUE at POSTROUTING.
//!
//! After the `in` pass lets a packet through, pfd asks the kernel where it
//! will go (`sys::route_query`: the kernel's own input route lookup, with
//! the packet as the `in` pass left it: rewritten destination, route-to
//! selector in the mark). When it is forwarded by a single-path unicast
//! route, pfd runs the `out` pass on that interface right away, with the
//! TTL as forwarding will leave it, and gives the packet a mark saying so
//! (`done_mark`): bit 31 (pfd's "not again" bit) and, in the low byte, a
//! code for the interface. pfd's POSTROUTING chain lets such a packet go
//! unqueued only on the interface of that code (one rule per interface,
//! `sys::hooks::allow_filtered`); anywhere else it is queued as before, and
//! pfd filters it `out` on the interface it really takes (a route changed
//! in between).
//!
//! An `out` pass that rewrote the packet (or diverts it) leaves that to
//! POSTROUTING: routed rewritten, the packet could go elsewhere, or be
//! dropped for a source address of the host's own. It goes on as the `in`
//! pass left it with a ticket in its mark (`defer_mark`), is queued again
//! at POSTROUTING, and gets the rewrite kept in `Deferrals` there, without
//! a second `out` pass.
//!
//! Everything else keeps the second queueing: packets for the host, not
//! routed by one unicast path (multipath, broadcast, unreachable),
//! fragments, IP options and IPv6 extension headers, TTL/hop limit 1,
//! bridged packets, tag numbers above 255, an `in` pass that does more
//! than pass (route-to after routing, dup-to, divert, af-to, replies), and
//! everything while the system has netfilter rules of its own between
//! pfd's hooks (`sys::nft_rules`), ip rules on mark bits beyond pfd's route
//! selector, IPsec policies, or IPv6 forwarding off. The design and its
//! limits are in README ("How it maps onto Linux") and pfd(8).

use super::Shared;
use crate::engine::fib::Lookup;
use crate::engine::packet::describe;
use crate::engine::Mtag;
use crate::log;
use crate::sys::nft_rules::{self, RulesMonitor};
use crate::sys::route_query::{Answer, Query, RouteQuery};
use crate::wire::checksum::update16;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Layout of the mark of a packet both of whose passes are done:
/// bit 31 set, bits 24..30 the route selector (where it was), bits 16..23
/// the tag, bits 8..15 the receiving interface's slot, bits 0..7 the code
/// of the interface the `out` pass was for (never 0: 0 is a packet pfd
/// generated, `engine::mtag`).
pub const DONE_BIT: u32 = crate::engine::mtag::GENERATED_BIT;
pub const CODE_MASK: u32 = 0xff;

/// The mark of a packet filtered `in` and `out` (on the interface of
/// `code`), carrying `m`: None when `m` does not fit (a tag above 255).
pub fn done_mark(m: Mtag, code: u8) -> Option<u32> {
    if m.tag > 0xff || code == 0 || m.generated {
        return None;
    }
    Some(
        DONE_BIT
            | (m.route as u32 & 0x7f) << 24
            | (m.tag as u32) << 16
            | (m.in_slot as u32) << 8
            | code as u32,
    )
}

/// The pf header of a packet marked by `done_mark` (None: another mark).
pub fn from_done_mark(mark: u32) -> Option<Mtag> {
    if mark & DONE_BIT == 0 || mark & CODE_MASK == 0 || mark & CODE_MASK == DEFER_CODE {
        return None;
    }
    Some(Mtag {
        generated: false,
        route: ((mark >> 24) & 0x7f) as u8,
        tag: ((mark >> 16) & 0xff) as u16,
        in_slot: ((mark >> 8) & 0xff) as u8,
    })
}

/// The code of a packet whose `out` pass rewrote it: the rewrite waits
/// for POSTROUTING (see `Deferrals`), where the packet is queued again.
/// Its mark: bit 31, the route selector, the ticket in bits 8..23, 0xff.
pub const DEFER_CODE: u32 = 0xff;

pub fn defer_mark(route: u8, ticket: u16) -> u32 {
    DONE_BIT | (route as u32 & 0x7f) << 24 | (ticket as u32) << 8 | DEFER_CODE
}

/// The ticket of a packet marked by `defer_mark`.
pub fn defer_ticket(mark: u32) -> Option<u16> {
    (mark & DONE_BIT != 0 && mark & CODE_MASK == DEFER_CODE)
        .then_some(((mark >> 8) & 0xffff) as u16)
}

/// Forwarding's TTL (hop limit) decrement, done ahead of the kernel so the
/// `out` pass sees what POSTROUTING would.
pub fn ttl_down(pkt: &mut [u8]) -> bool {
    crate::engine::mtu::decrement_ttl(pkt)
}

/// Undo `ttl_down` on a packet that goes back to the kernel, which
/// decrements it again when it forwards it.
pub fn ttl_up(pkt: &mut [u8]) {
    match pkt.first().map(|b| b >> 4) {
        Some(4) if pkt.len() >= 20 && pkt[8] < 255 => {
            let old = u16::from_be_bytes([pkt[8], pkt[9]]);
            pkt[8] += 1;
            let new = u16::from_be_bytes([pkt[8], pkt[9]]);
            let c = update16(u16::from_be_bytes([pkt[10], pkt[11]]), old, new);
            pkt[10..12].copy_from_slice(&c.to_be_bytes());
        }
        Some(6) if pkt.len() >= 40 && pkt[7] < 255 => pkt[7] += 1,
        _ => {}
    }
}

/// The route question for a packet the kernel will route as it is (None:
/// a packet this does not predict: not plain IPv4/IPv6 without options or
/// extension headers, a fragment, TTL 1, an IPv6 source or destination
/// forwarding refuses).
pub fn question(pkt: &[u8], iif: u32, mark: u32) -> Option<Query> {
    let pd = describe(pkt).ok()?;
    if pd.fragment || pd.ttl <= 1 {
        return None;
    }
    let plain = match pkt[0] >> 4 {
        4 => pkt[0] & 0x0f == 5,
        6 => pd.l4_off == 40 && pd.proto != 0,
        _ => false,
    };
    if !plain {
        return None;
    }
    if let (IpAddr::V6(s), IpAddr::V6(d)) = (pd.src, pd.dst) {
        // ip6_forward: no multicast, loopback or link-local source, no
        // link-local destination.
        let bad = |a: &std::net::Ipv6Addr| {
            a.is_multicast()
                || a.is_loopback()
                || a.is_unspecified()
                || a.segments()[0] & 0xffc0 == 0xfe80
        };
        if bad(&s) || bad(&d) {
            return None;
        }
    }
    let ported = matches!(pd.proto, 6 | 17);
    Some(Query {
        src: pd.src,
        dst: pd.dst,
        tos: match pkt[0] >> 4 {
            4 => pkt[1],
            _ => ((u16::from_be_bytes([pkt[0], pkt[1]]) >> 4) & 0xff) as u8,
        },
        iif,
        mark,
        proto: pd.proto,
        sport: if ported { pd.sport } else { 0 },
        dport: if ported { pd.dport } else { 0 },
    })
}

/// The bytes an `out` pass rewrites: a short packet's all, a long one's
/// first 512 (its headers: pf rewrites addresses, ports, sequence numbers,
/// options and checksums, and the quoted headers of ICMP errors, which
/// are short packets).
pub fn prefix_len(len: usize) -> usize {
    if len <= 2048 {
        len
    } else {
        512
    }
}

/// An `out` rewrite waiting for its packet at POSTROUTING.
#[derive(Debug)]
pub struct Deferred {
    /// The packet's first bytes as POSTROUTING will see them (as the `in`
    /// pass left them, TTL down), and as the `out` pass rewrote them.
    expect: Vec<u8>,
    rewritten: Vec<u8>,
    /// The packet's whole length.
    len: usize,
    /// The interface the `out` pass was for.
    pub oif: u32,
    /// The pf header after the `in` pass (to filter again if the packet
    /// leaves elsewhere) and the mark it leaves with.
    pub in_mtag: Mtag,
    pub mark: u32,
    /// Where it goes from POSTROUTING: on (None), or to this NFQUEUE
    /// (`divert-packet` on an `out` rule).
    pub queue: Option<u16>,
    /// Its transport checksum was not computed when it was rewritten:
    /// compute it whole once the rewrite is in place.
    pub csum: bool,
    at: Instant,
}

impl Deferred {
    /// Is `pkt` the packet this was for (IPv4 header checksums may be
    /// written differently by the kernel's TTL decrement)?
    pub fn matches(&self, pkt: &[u8]) -> bool {
        let n = self.expect.len();
        if pkt.len() != self.len || pkt.len() < n {
            return false;
        }
        if self.expect.first().is_some_and(|b| b >> 4 == 4) && n >= 20 {
            pkt[..10] == self.expect[..10] && pkt[12..n] == self.expect[12..]
        } else {
            pkt[..n] == self.expect[..]
        }
    }

    /// Put the rewrite in place in `pkt` (which `matches`).
    pub fn apply(&self, pkt: &mut [u8]) {
        pkt[..self.rewritten.len()].copy_from_slice(&self.rewritten);
    }
}

/// The rewrites waiting for POSTROUTING, by ticket. A packet queued again
/// there comes back within the verdict that let it go at PREROUTING, so few
/// wait; those the kernel dropped on the way are swept after a while.
#[derive(Debug, Default)]
pub struct Deferrals {
    waiting: HashMap<u16, Deferred>,
    next: u16,
    /// Buffers of earlier rewrites, reused.
    pool: Vec<Vec<u8>>,
    swept: Option<Instant>,
}

/// How long a rewrite waits for its packet.
const DEFER_MAX_AGE: Duration = Duration::from_secs(2);

impl Deferrals {
    fn buffer(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut b = self.pool.pop().unwrap_or_default();
        b.clear();
        b.extend_from_slice(bytes);
        b
    }

    /// A copy of the first `prefix_len` bytes of `pkt` (before the `out`
    /// pass: what POSTROUTING will see).
    pub fn expect(&mut self, pkt: &[u8]) -> Vec<u8> {
        self.buffer(&pkt[..prefix_len(pkt.len())])
    }

    /// Keep the rewrite of `pkt` (after the `out` pass), whose bytes
    /// before it were `expect`; returns its ticket.
    #[allow(clippy::too_many_arguments)]
    pub fn put(
        &mut self,
        expect: Vec<u8>,
        pkt: &[u8],
        oif: u32,
        in_mtag: Mtag,
        mark: u32,
        queue: Option<u16>,
        csum: bool,
    ) -> u16 {
        let rewritten = self.buffer(&pkt[..expect.len()]);
        self.next = self.next.wrapping_add(1);
        let d = Deferred {
            expect,
            rewritten,
            len: pkt.len(),
            oif,
            in_mtag,
            mark,
            queue,
            csum,
            at: Instant::now(),
        };
        if let Some(old) = self.waiting.insert(self.next, d) {
            self.recycle(old);
        }
        self.next
    }

    /// The bytes rewrite `ticket` expects (to put them back).
    pub fn peek_expect(&self, ticket: u16) -> Option<&[u8]> {
        self.waiting.get(&ticket).map(|d| &d.expect[..])
    }

    /// The packet of `ticket` changed again before it left (`pkt`).
    pub fn refresh_expect(&mut self, ticket: u16, pkt: &[u8]) {
        if let Some(d) = self.waiting.get_mut(&ticket) {
            let n = d.expect.len().min(pkt.len());
            d.expect[..n].copy_from_slice(&pkt[..n]);
        }
    }

    pub fn take(&mut self, ticket: u16) -> Option<Deferred> {
        self.waiting.remove(&ticket)
    }

    /// A buffer from `expect` that was not kept.
    pub fn drop_expect(&mut self, b: Vec<u8>) {
        self.pool.push(b);
    }

    pub fn recycle(&mut self, d: Deferred) {
        self.pool.push(d.expect);
        self.pool.push(d.rewritten);
    }

    /// Forget rewrites whose packet did not come (at most once a second).
    pub fn sweep(&mut self) {
        if self
            .swept
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.swept = Some(Instant::now());
        let old: Vec<u16> = self
            .waiting
            .iter()
            .filter(|(_, d)| d.at.elapsed() > DEFER_MAX_AGE)
            .map(|(t, _)| *t)
            .collect();
        for t in old {
            if let Some(d) = self.waiting.remove(&t) {
                self.recycle(d);
            }
        }
        self.pool.truncate(256);
    }
}

/// The codes of the interfaces packets are filtered `out` for ahead of
/// time, and whether pfd's POSTROUTING chain knows them yet. Shared by the
/// data path threads; the chain's rules are added by a thread of their
/// own (iptables takes milliseconds), and forgotten when `pfctl -e`
/// installs the chains afresh.
#[derive(Debug, Default)]
pub struct OutCodes {
    inner: Mutex<Codes>,
}

#[derive(Debug, Default)]
struct Codes {
    /// Index + 1 is the code.
    names: Vec<(String, CodeState)>,
    /// Bumped when the chains are installed again.
    generation: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeState {
    Pending,
    Ready,
    Failed,
}

impl OutCodes {
    /// The code of `ifname` when the chain lets its packets pass; asks for
    /// the rule the first time.
    pub fn code(shared: &Arc<Shared>, ifname: &str) -> Option<u8> {
        let mut c = shared
            .out_codes
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(i) = c.names.iter().position(|(n, _)| n == ifname) {
            return (c.names[i].1 == CodeState::Ready).then_some((i + 1) as u8);
        }
        if c.names.len() >= (DEFER_CODE - 1) as usize || ifname.is_empty() {
            return None;
        }
        c.names.push((ifname.to_string(), CodeState::Pending));
        let code = c.names.len() as u8;
        let generation = c.generation;
        drop(c);
        let s = Arc::clone(shared);
        let name = ifname.to_string();
        let spawned = std::thread::Builder::new()
            .name("onepass-hook".into())
            .spawn(move || {
                // Only into the chains the code was given for: a `pfctl
                // -e` since then made new ones, and new codes.
                let r = crate::sys::hooks::with_lock(|| {
                    let current = s
                        .out_codes
                        .inner
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .generation;
                    if current == generation {
                        crate::sys::hooks::allow_filtered(&name, code).map(Some)
                    } else {
                        Ok(None)
                    }
                });
                let r = match r {
                    Ok(None) => return,
                    Ok(Some(())) => Ok(()),
                    Err(e) => Err(e),
                };
                if let Err(e) = &r {
                    log::err(&format!(
                        "{name}: packets filtered ahead of time cannot skip POSTROUTING: {e}"
                    ));
                }
                let mut c = s.out_codes.inner.lock().unwrap_or_else(|e| e.into_inner());
                if c.generation == generation {
                    if let Some(slot) = c.names.get_mut(code as usize - 1) {
                        slot.1 = if r.is_ok() {
                            CodeState::Ready
                        } else {
                            CodeState::Failed
                        };
                    }
                }
            });
        if spawned.is_err() {
            let mut c = shared
                .out_codes
                .inner
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = c.names.get_mut(code as usize - 1) {
                slot.1 = CodeState::Failed;
            }
        }
        None
    }

    /// The chains were installed again (or removed): no interface has its
    /// rule.
    pub fn reset(&self) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        c.names.clear();
        c.generation += 1;
    }
}

/// How long a route answer is trusted without a change notification (ip
/// rules and sysctls come without one).
const ANSWER_TTL: Duration = Duration::from_secs(1);
/// Answers kept at most (one per flow and direction).
const CACHE_MAX: usize = 65536;
/// How often the system is checked for what rules out filtering ahead of
/// time (IPsec policies, IPv6 forwarding off, netfilter rules without
/// notifications).
const SYSTEM_CHECK: Duration = Duration::from_secs(2);
/// How often the nftables notifications are looked at.
const RULES_LOOK: Duration = Duration::from_millis(1);

/// A data path thread's route questions and their answers.
pub struct Predictor {
    rq: Option<RouteQuery>,
    rules: Option<RulesMonitor>,
    rules_checked: Option<Instant>,
    rules_looked: Option<Instant>,
    /// The system has netfilter rules of its own between pfd's hooks.
    foreign: bool,
    /// The interface each question's packets leave by (None: not by one
    /// unicast path), and since when that is known.
    cache: HashMap<Query, (Option<u32>, Instant)>,
    /// The network generation the cache is for.
    net_gen: u64,
    checked: Option<Instant>,
    /// IPsec policies, or ip rules on mark bits beyond pfd's selector.
    ipsec: bool,
    /// ip rules look at the transport protocol or ports: answers are per
    /// flow, else per pair of addresses.
    l4_rules: bool,
    v6_forwarding: bool,
    /// Packets filtered both ways at once, and `out` passes done again
    /// because the packet left elsewhere.
    pub done: u64,
    pub mispredicted: u64,
    /// Packets queued at POSTROUTING for a rewrite pfd no longer had.
    pub lost: u64,
}

impl Predictor {
    pub fn new() -> Predictor {
        Predictor {
            rq: RouteQuery::open()
                .map_err(|e| {
                    log::err(&format!(
                        "route questions: {e}: every packet is queued twice"
                    ))
                })
                .ok(),
            rules: RulesMonitor::open()
                .map_err(|e| {
                    log::err(&format!(
                        "nftables notifications: {e}: the ruleset is read every 2 s"
                    ))
                })
                .ok(),
            rules_checked: None,
            rules_looked: None,
            foreign: true,
            cache: HashMap::new(),
            net_gen: 0,
            checked: None,
            ipsec: false,
            l4_rules: true,
            v6_forwarding: true,
            done: 0,
            mispredicted: 0,
            lost: 0,
        }
    }

    fn check_system(&mut self) {
        // Netfilter rules: at once when they change (the notifications
        // looked at once a millisecond at most), and every SYSTEM_CHECK.
        let now = Instant::now();
        let due = self.rules_checked.is_none_or(|t| now - t >= SYSTEM_CHECK);
        let mut changed = false;
        if self.rules_looked.is_none_or(|t| now - t >= RULES_LOOK) {
            self.rules_looked = Some(now);
            changed = self.rules.as_mut().is_some_and(|m| m.changed());
        }
        if due || changed {
            self.rules_checked = Some(now);
            let foreign = nft_rules::foreign_rules().unwrap_or(true);
            if foreign != self.foreign {
                log::info(&format!(
                    "netfilter rules of the system's own {} between pfd's hooks: forwarded packets are filtered `out` {}",
                    if foreign { "sit" } else { "no longer sit" },
                    if foreign { "at POSTROUTING" } else { "when they come in" }
                ));
                self.cache.clear();
            }
            self.foreign = foreign;
        }
        if self.checked.is_some_and(|t| t.elapsed() < SYSTEM_CHECK) {
            return;
        }
        self.checked = Some(Instant::now());
        let rules = self.rq.as_mut().map(|rq| rq.rule_use());
        let (marks, l4) = match rules {
            Some(Ok(u)) => (u.mark_bits & !crate::engine::mtag::ROUTE_MASK != 0, u.l4),
            _ => (true, true),
        };
        if l4 != self.l4_rules {
            self.cache.clear();
        }
        self.l4_rules = l4;
        let ipsec = crate::sys::xfrm::has_policies().unwrap_or(true) || marks;
        if ipsec != self.ipsec {
            log::info(&format!(
                "IPsec policies or ip rules on packet marks {}: forwarded packets are filtered `out` {}",
                if ipsec { "present" } else { "gone" },
                if ipsec { "at POSTROUTING" } else { "when they come in" }
            ));
        }
        self.ipsec = ipsec;
        self.v6_forwarding = std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding")
            .map(|s| s.trim() == "1")
            .unwrap_or(false);
    }

    /// The interface a packet asking `q` leaves by, when it is forwarded
    /// by a single unicast path (`single_path` checks the route's next
    /// hops in pfd's copy of the table).
    pub fn route(
        &mut self,
        shared: &Shared,
        q: &Query,
        single_path: impl Fn(u32, &IpAddr, u32) -> bool,
    ) -> Option<u32> {
        let gen = shared.net_gen.load(Ordering::Relaxed);
        if gen != self.net_gen || self.cache.len() >= CACHE_MAX {
            if gen != self.net_gen {
                // Rules or settings may have changed with the routes.
                self.checked = None;
            }
            self.cache.clear();
            self.net_gen = gen;
        }
        self.check_system();
        if self.ipsec || self.foreign || (q.dst.is_ipv6() && !self.v6_forwarding) {
            return None;
        }
        // The ports only choose among the paths of a multipath route,
        // which is not predicted, unless ip rules look at them.
        let key = if self.l4_rules {
            *q
        } else {
            Query {
                proto: 0,
                sport: 0,
                dport: 0,
                ..*q
            }
        };
        match self.cache.get(&key) {
            Some((oif, t)) if t.elapsed() < ANSWER_TTL => *oif,
            _ => {
                let oif = match self.rq.as_mut()?.ask(q).ok()? {
                    Answer::Forward { oif, table } if single_path(table, &q.dst, oif) => Some(oif),
                    _ => None,
                };
                self.cache.insert(key, (oif, Instant::now()));
                oif
            }
        }
    }

    /// A packet left by another interface than its `out` pass was for:
    /// ask again next time.
    pub fn forget(&mut self) {
        self.cache.clear();
    }
}

impl Default for Predictor {
    fn default() -> Self {
        Predictor::new()
    }
}

/// Does routing table `table` send `dst` by exactly one path, out of
/// `oif`, in pfd's copy of the routes?
pub fn single_path(fib: &crate::engine::fib::Fib, table: u32, dst: &IpAddr, oif: u32) -> bool {
    match fib.lookup(table, dst) {
        Lookup::Routes(rs) => {
            let mut oifs = rs.iter().flat_map(|r| r.oifs.iter());
            oifs.next() == Some(&oif) && oifs.next().is_none()
        }
        Lookup::NoRoute => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::offload::tests::{tcp_seg, v4};
    use crate::wire::ipv4;

    #[test]
    fn done_marks_round_trip() {
        let m = Mtag {
            generated: false,
            route: 5,
            tag: 0x42,
            in_slot: 3,
        };
        let mark = done_mark(m, 9).unwrap();
        assert_eq!(mark, 0x8542_0309);
        assert_eq!(from_done_mark(mark), Some(m));
        // Too large a tag, no code, generated: no such mark.
        assert_eq!(done_mark(Mtag { tag: 256, ..m }, 9), None);
        assert_eq!(done_mark(m, 0), None);
        // pfd's own packets (code 0) and normal marks are not done marks.
        assert_eq!(from_done_mark(crate::engine::mtag::generated_mark(5)), None);
        assert_eq!(from_done_mark(m.to_mark()), None);
        // The route selector stays where the ip rules look for it.
        assert_eq!(
            mark & crate::engine::mtag::ROUTE_MASK,
            m.to_mark() & crate::engine::mtag::ROUTE_MASK
        );
    }

    #[test]
    fn defer_marks() {
        let m = defer_mark(5, 0xbeef);
        assert_eq!(m, 0x85be_efff);
        assert_eq!(defer_ticket(m), Some(0xbeef));
        assert_eq!(from_done_mark(m), None);
        assert_eq!(defer_ticket(done_mark(Mtag::default(), 3).unwrap()), None);
        assert_eq!(defer_ticket(0xff), None);
    }

    #[test]
    fn deferred_rewrites_find_their_packet() {
        let mut d = Deferrals::default();
        let mut p = v4(
            "10.1.0.2",
            "10.9.0.2",
            6,
            &tcp_seg(1234, 80, 3, 4, 0x10, 5, b"data"),
        );
        ttl_down(&mut p);
        let expect = d.expect(&p);
        let mut out = p.clone();
        out[12] = 10;
        out[13] = 2; // nat-to 10.2.0.1
        out[15] = 1;
        let t = d.put(expect, &out, 4, Mtag::default(), 7, None, false);
        let w = d.take(t).unwrap();
        // The kernel's TTL decrement may write the header checksum
        // differently: it does not count.
        let mut post = p.clone();
        post[10] ^= 0xff;
        assert!(w.matches(&post));
        w.apply(&mut post);
        assert_eq!(&post[12..16], &[10, 2, 0, 1]);
        let mut other = p.clone();
        other[30] ^= 1;
        assert!(!w.matches(&other));
        assert!(!w.matches(&p[..p.len() - 1]));
        assert!(d.take(t).is_none());
        d.recycle(w);
        // Long packets: only the headers are kept.
        assert_eq!(prefix_len(60000), 512);
        assert_eq!(prefix_len(1500), 1500);
    }

    #[test]
    fn ttl_down_and_up_keep_the_checksum() {
        let mut p = v4(
            "10.0.0.1",
            "10.0.0.2",
            6,
            &tcp_seg(1, 2, 3, 4, 0x10, 5, b""),
        );
        let orig = p.clone();
        assert!(ttl_down(&mut p));
        assert_eq!(p[8], 63);
        assert!(ipv4::Packet::new_checked(&p[..]).unwrap().verify_checksum());
        ttl_up(&mut p);
        assert_eq!(p, orig);
    }

    #[test]
    fn questions() {
        let p = v4(
            "10.1.0.2",
            "10.9.0.2",
            6,
            &tcp_seg(1234, 80, 3, 4, 0x02, 5, b""),
        );
        let q = question(&p, 4, 0x100).unwrap();
        assert_eq!(
            (q.proto, q.sport, q.dport, q.iif, q.mark),
            (6, 1234, 80, 4, 0x100)
        );
        assert_eq!(q.dst, "10.9.0.2".parse::<IpAddr>().unwrap());
        // TTL 1: forwarding drops it.
        let mut t1 = p.clone();
        t1[8] = 1;
        assert!(question(&t1, 4, 0).is_none());
        // A fragment.
        let mut f = p.clone();
        f[6] = 0x20;
        assert!(question(&f, 4, 0).is_none());
        // GRE: no ports.
        let g = v4("10.1.0.2", "10.9.0.2", 47, &[0; 8]);
        assert_eq!(question(&g, 4, 0).map(|q| (q.sport, q.dport)), Some((0, 0)));
    }
}

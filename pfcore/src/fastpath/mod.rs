//! The fast path's entries: what pfd puts in the maps of its eBPF program
//! (bpf/fastpath.c) for an established flow, byte for byte as the
//! program's C structs lay them out, which states may have one, and what
//! the program's counters and window data say back.
//!
//! An entry is made from a packet pfd filtered both ways (`in` and `out`,
//! daemon::onepass): its tuple as it came in (the ingress key), as the
//! `in` pass left it, and as the `out` pass left it. The ingress entry
//! rewrites what the `in` pass did (destination only: the packet is not
//! routed yet), an egress entry on the interface it leaves by what the
//! `out` pass did (nat-to's source, an rdr-to reply's source).
//!
//! Pure: bytes and states in, bytes out. libpf::sys::fastpath talks to
//! the kernel.

use crate::engine::normalize::{Actions, PFSTATE_SLOPPY};
use crate::engine::packet::describe;
use crate::engine::state::{tcps, udps, Peer, State};
use crate::wire::{IPPROTO_TCP, IPPROTO_UDP};
use std::net::IpAddr;

/// Sizes of the C structs (fp_key, fp_rw, fp_window, fp_count, and
/// fp_flow: a window then the counters).
pub const KEY_LEN: usize = 44;
pub const RW_LEN: usize = 80;
pub const WINDOW_LEN: usize = 40;
pub const COUNT_LEN: usize = 40;
pub const FLOW_LEN: usize = WINDOW_LEN + COUNT_LEN;

/// fp_key.hook
pub const HOOK_INGRESS: u8 = 0;
pub const HOOK_EGRESS: u8 = 1;

/// fp_rw.flags
pub const RW_SRC: u8 = 1;
pub const RW_DST: u8 = 2;
pub const RW_SPORT: u8 = 4;
pub const RW_DPORT: u8 = 8;

/// Slots of the program's statistics (fp_stats).
pub const ST_FAST: u32 = 0;
pub const ST_BYTES: u32 = 1;
pub const ST_EGRESS: u32 = 2;
pub const ST_WINDOW: u32 = 3;
pub const ST_FLAGS: u32 = 4;
pub const ST_FORWARD: u32 = 5;
pub const ST_STACK: u32 = 6;
pub const ST_MAX: u32 = 8;

/// A packet's addresses, ports and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

impl Tuple {
    /// The tuple of an IP packet the program would look up: TCP or UDP,
    /// no fragment, no IP options or IPv6 extension headers. None
    /// otherwise.
    pub fn of(buf: &[u8]) -> Option<Tuple> {
        let pd = describe(buf).ok()?;
        if pd.fragment || pd.badopts != 0 {
            return None;
        }
        if pd.proto != IPPROTO_TCP && pd.proto != IPPROTO_UDP {
            return None;
        }
        // The program reads the transport header right after the fixed
        // IP header.
        let fixed = if pd.src.is_ipv4() { 20 } else { 40 };
        if pd.l4_off != fixed {
            return None;
        }
        Some(Tuple {
            src: pd.src,
            dst: pd.dst,
            sport: pd.sport,
            dport: pd.dport,
            proto: pd.proto,
        })
    }

    /// The tuple of the answers: addresses and ports swapped.
    pub fn reversed(&self) -> Tuple {
        Tuple {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            proto: self.proto,
        }
    }

    fn family(&self) -> u8 {
        if self.src.is_ipv4() {
            4
        } else {
            6
        }
    }
}

fn put_addr(out: &mut [u8], a: &IpAddr) {
    match a {
        IpAddr::V4(v) => out[..4].copy_from_slice(&v.octets()),
        IpAddr::V6(v) => out[..16].copy_from_slice(&v.octets()),
    }
}

/// The key of packets with tuple `t` on interface `ifindex`, at `hook`.
pub fn key(ifindex: u32, hook: u8, t: &Tuple) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    k[0..4].copy_from_slice(&ifindex.to_ne_bytes());
    k[4] = hook;
    k[5] = t.family();
    k[6] = t.proto;
    k[8..10].copy_from_slice(&t.sport.to_be_bytes());
    k[10..12].copy_from_slice(&t.dport.to_be_bytes());
    put_addr(&mut k[12..28], &t.src);
    put_addr(&mut k[28..44], &t.dst);
    k
}

/// What differs between `from` and `to` (RW_* bits).
pub fn rewrite_flags(from: &Tuple, to: &Tuple) -> u8 {
    (if from.src != to.src { RW_SRC } else { 0 })
        | (if from.dst != to.dst { RW_DST } else { 0 })
        | (if from.sport != to.sport { RW_SPORT } else { 0 })
        | (if from.dport != to.dport { RW_DPORT } else { 0 })
}

/// Can the program do `from` -> `to` at ingress (before routing)? The
/// destination only, same family and protocol.
pub fn ingress_ok(from: &Tuple, to: &Tuple) -> bool {
    same_kind(from, to) && rewrite_flags(from, to) & (RW_SRC | RW_SPORT) == 0
}

/// Is `key` (made by `key()`) an egress entry's?
pub fn is_egress(key: &[u8; KEY_LEN]) -> bool {
    key[4] == HOOK_EGRESS
}

/// Can the program do `from` -> `to` at egress (after routing)?
pub fn same_kind(from: &Tuple, to: &Tuple) -> bool {
    from.proto == to.proto && from.src.is_ipv4() == to.src.is_ipv4()
}

/// fp_conf[0]: the program may forward packets itself.
pub const CONF_FORWARD: u32 = 1;
/// fp_conf[0]: fp_held (interfaces whose packets the program leaves
/// alone) has entries.
pub const CONF_HELD: u32 = 2;
/// fp_conf[CONF_GEN]: the route generation; the program's cached route
/// lookups (fp_rw.fib_*) hold while it stays.
pub const CONF_GEN: u32 = 1;

/// Route generation `n` as fp_conf keeps it: never 0, which the program
/// takes for "no cache".
pub fn route_gen(n: u64) -> u32 {
    (n % u64::from(u32::MAX)) as u32 + 1
}

/// An fp_rw: the rewrite `from` -> `to`, the flow, the side of the flow
/// the packet comes from, the mark it gets (0: left alone), and for an
/// ingress entry the interface pf's `out` pass was for (`oif`, 0: none),
/// the only one the program forwards it to itself. The rest (the
/// program's route cache) is zeros: nothing cached.
pub fn rewrite(flow: u32, side: u8, mark: u32, from: &Tuple, to: &Tuple, oif: u32) -> [u8; RW_LEN] {
    let mut v = [0u8; RW_LEN];
    v[0..4].copy_from_slice(&flow.to_ne_bytes());
    v[4..8].copy_from_slice(&mark.to_ne_bytes());
    v[8] = side;
    v[9] = rewrite_flags(from, to);
    v[12..14].copy_from_slice(&to.sport.to_be_bytes());
    v[14..16].copy_from_slice(&to.dport.to_be_bytes());
    put_addr(&mut v[16..32], &to.src);
    put_addr(&mut v[32..48], &to.dst);
    v[48..52].copy_from_slice(&oif.to_ne_bytes());
    v
}

/// An fp_window: the window data of a flow's two ends (`peers[0]` sends
/// the packets of side 0).
pub fn window(peers: &[Peer; 2], tcp: bool) -> [u8; WINDOW_LEN] {
    let mut v = [0u8; WINDOW_LEN];
    for (i, p) in peers.iter().enumerate() {
        let o = i * 16;
        v[o..o + 4].copy_from_slice(&p.seqlo.to_ne_bytes());
        v[o + 4..o + 8].copy_from_slice(&p.seqhi.to_ne_bytes());
        v[o + 8..o + 10].copy_from_slice(&p.max_win.to_ne_bytes());
        v[o + 10] = p.wscale;
    }
    v[32..36].copy_from_slice(&(tcp as u32).to_ne_bytes());
    v
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_ne_bytes(a)
}

/// An fp_flow's window and counters.
pub fn split_flow(v: &[u8; FLOW_LEN]) -> ([u8; WINDOW_LEN], Counts) {
    let mut w = [0u8; WINDOW_LEN];
    let mut c = [0u8; COUNT_LEN];
    w.copy_from_slice(&v[..WINDOW_LEN]);
    c.copy_from_slice(&v[WINDOW_LEN..]);
    (w, Counts::from_bytes(&c))
}

/// The window data in an fp_window, over `peers` (the fields it does not
/// keep are left as they are).
pub fn flow_window(v: &[u8; WINDOW_LEN], mut peers: [Peer; 2]) -> [Peer; 2] {
    for (i, p) in peers.iter_mut().enumerate() {
        let o = i * 16;
        p.seqlo = u32_at(v, o);
        p.seqhi = u32_at(v, o + 4);
        p.max_win = u16::from_ne_bytes([v[o + 8], v[o + 9]]);
    }
    peers
}

/// An fp_count: what the program passed of a flow, by side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// CLOCK_MONOTONIC ns of the last one (0: none yet).
    pub last_ns: u64,
}

impl Counts {
    pub fn from_bytes(v: &[u8; COUNT_LEN]) -> Counts {
        Counts {
            packets: [u64_at(v, 0), u64_at(v, 8)],
            bytes: [u64_at(v, 16), u64_at(v, 24)],
            last_ns: u64_at(v, 32),
        }
    }

    /// What came since `before` (the counters only grow; wrapping).
    pub fn since(&self, before: &Counts) -> Counts {
        let d = |a: u64, b: u64| a.wrapping_sub(b);
        Counts {
            packets: [
                d(self.packets[0], before.packets[0]),
                d(self.packets[1], before.packets[1]),
            ],
            bytes: [
                d(self.bytes[0], before.bytes[0]),
                d(self.bytes[1], before.bytes[1]),
            ],
            last_ns: self.last_ns,
        }
    }

    /// By a state's counter index: `same` when side 0 of the flow is the
    /// way the state's first packet went.
    pub fn for_state(&self, same: bool) -> ([u64; 2], [u64; 2]) {
        if same {
            (self.packets, self.bytes)
        } else {
            (
                [self.packets[1], self.packets[0]],
                [self.bytes[1], self.bytes[0]],
            )
        }
    }
}

/// A flow moving this many bytes a second or more (both ways together)
/// is brought back every `FAST_PULL_MS` rather than once a second. Two
/// limits make a second too long for a fast stream: pfd's merge of the
/// window counts from the last pull and holds 4 GB (34 Gbit/s at one pull
/// a second), and a pfsync peer takes a window more than 2 GB on from the
/// last update it had for a step back and keeps the old one (17 Gbit/s).
/// A pull of a busy flow sends its update at once (its packets count
/// towards maxupd), so at four pulls a second a stream may reach 68
/// Gbit/s before the second limit. The cost is bounded by the links: a
/// 100 Gbit/s link carries at most 200 flows this fast (800 more pulls a
/// second, each two map reads).
pub const FAST_BYTES_PER_S: u64 = 64 << 20;
pub const FAST_PULL_MS: u64 = 250;

/// How fast a flow moves, measured over spans of `FAST_PULL_MS` or more.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    since_ms: u64,
    since_bytes: u64,
    fast: bool,
}

impl Pace {
    /// A flow first seen at `now` (ms), its counters at `bytes`.
    pub fn new(bytes: u64, now: u64) -> Pace {
        Pace {
            since_ms: now,
            since_bytes: bytes,
            fast: false,
        }
    }

    /// The flow's byte counters (both ways) came to `bytes` at `now`: is
    /// it fast? Spans shorter than `FAST_PULL_MS` (a pull for a packet)
    /// leave the answer as it was.
    pub fn at(&mut self, bytes: u64, now: u64) -> bool {
        let span = now.saturating_sub(self.since_ms);
        if span >= FAST_PULL_MS {
            let moved = bytes.wrapping_sub(self.since_bytes);
            self.fast = moved.saturating_mul(1000) / span >= FAST_BYTES_PER_S;
            self.since_ms = now;
            self.since_bytes = bytes;
        }
        self.fast
    }
}

/// May the program pass the packets of state `st`? Established TCP (both
/// ends ESTABLISHED, no sequence modulation, no `scrub (reassemble tcp)`,
/// not sloppy) and UDP (from its second packet on: the first makes it), with nothing for pf to
/// do on each packet besides a translation: no logging, no scrub or `set
/// tos` actions, no route-to/reply-to/dup-to/rtable/divert, no af-to.
pub fn eligible(st: &State) -> bool {
    let proto_ok = match st.key[0].proto {
        IPPROTO_TCP => {
            st.src.state == tcps::ESTABLISHED
                && st.dst.state == tcps::ESTABLISHED
                && st.src.seqdiff == 0
                && st.dst.seqdiff == 0
                && st.scrub.is_none()
                && st.state_flags & PFSTATE_SLOPPY == 0
        }
        // pf does the same with every packet of a UDP state: once it
        // exists, the kernel may pass them (Engine::offloaded moves the
        // pseudo-states on as pf would).
        IPPROTO_UDP => st.src.state >= udps::SINGLE,
        _ => false,
    };
    proto_ok
        && !st.is_afto()
        && st.cold().route.is_none()
        && st.log == 0
        && st.norm == Actions::default()
}

#[cfg(test)]
mod tests;

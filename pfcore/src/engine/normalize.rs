//! Traffic normalisation (the packet half of OpenBSD's pf_norm.c): the IP
//! header cleanup every packet gets, pf's TCP flag sanity check, what a
//! rule's `scrub (no-df, random-id, min-ttl, max-mss)` and `set tos` do to
//! a packet and to the later packets of its state, and `scrub (reassemble
//! tcp)`: the TCP timestamp modulation, PAWS checks and TTL enforcement of
//! pf_normalize_tcp_stateful. Pure: the caller passes time and random
//! numbers. Every rewrite fixes the checksums incrementally (the IPv4
//! header checksum is recomputed, it covers 20 to 60 bytes).

use super::packet::Pd;
use super::peer::{tcps, Peer};
use super::status::Reason;
use super::tcp::{seq_geq, seq_gt, seq_lt};
use crate::addr::Af;
use crate::ruleset::Rule;
use crate::wire::checksum::{checksum, update_bytes};
use crate::wire::tcp::{ACK, FIN, PSH, RST, SYN, URG};
use crate::wire::IPPROTO_TCP;

/// pf's state flags (`PFSTATE_*`, as pfsync carries them) that normalisation
/// uses. `PFSTATE_NOSYNC` lives with the states (`state`).
pub const PFSTATE_ALLOWOPTS: u16 = 0x0001;
pub const PFSTATE_SLOPPY: u16 = 0x0002;
pub const PFSTATE_NODF: u16 = 0x0020;
pub const PFSTATE_SETTOS: u16 = 0x0040;
pub const PFSTATE_RANDOMID: u16 = 0x0080;
pub const PFSTATE_SCRUB_TCP: u16 = 0x0100;
/// The flags that come from `scrub (...)` and `set tos`.
pub const PFSTATE_SCRUB_FLAGS: u16 =
    PFSTATE_NODF | PFSTATE_SETTOS | PFSTATE_RANDOMID | PFSTATE_SCRUB_TCP;

/// The IPv4 "don't fragment" and reserved bits of the flags byte.
const IP_DF: u8 = 0x40;
const IP_RF: u8 = 0x80;

/// What matching rules leave on a packet and its state (pf's
/// `pf_rule_actions`, the normalisation part): `scrub` flags, the TTL to
/// enforce, the TOS to set, the MSS to clamp to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actions {
    /// `PFSTATE_NODF | PFSTATE_RANDOMID | PFSTATE_SETTOS | PFSTATE_SCRUB_TCP`.
    pub flags: u16,
    pub min_ttl: u8,
    pub set_tos: u8,
    pub max_mss: u16,
}

impl Actions {
    /// The actions of one rule.
    pub fn of_rule(r: &Rule) -> Actions {
        let mut a = Actions::default();
        a.add(r);
        a
    }

    /// Add what `r` asks for (pf_rule_to_actions): later rules override
    /// values, flags accumulate.
    pub fn add(&mut self, r: &Rule) {
        let sc = &r.extras.scrub;
        if let Some(t) = r.extras.set_tos {
            self.set_tos = t;
            self.flags |= PFSTATE_SETTOS;
        }
        if sc.min_ttl != 0 {
            self.min_ttl = sc.min_ttl;
        }
        if sc.max_mss != 0 {
            self.max_mss = sc.max_mss;
        }
        if sc.no_df {
            self.flags |= PFSTATE_NODF;
        }
        if sc.random_id {
            self.flags |= PFSTATE_RANDOMID;
        }
        if sc.reassemble_tcp {
            self.flags |= PFSTATE_SCRUB_TCP;
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Actions::default()
    }
}

fn get16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(off)?, *b.get(off + 1)?]))
}

fn get32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(off)?,
        *b.get(off + 1)?,
        *b.get(off + 2)?,
        *b.get(off + 3)?,
    ]))
}

/// Recompute the IPv4 header checksum of `buf` (header length from the
/// header).
pub fn ipv4_header_checksum(buf: &mut [u8]) {
    let hl = ((buf.first().copied().unwrap_or(0) & 0x0f) as usize) * 4;
    if hl < 20 || hl > buf.len() {
        return;
    }
    buf[10] = 0;
    buf[11] = 0;
    let c = checksum(&buf[..hl]);
    buf[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Replace `new.len()` (at most 4) bytes at `off` inside the TCP header
/// that starts at `l4`, fixing the TCP checksum at `l4 + 16` for any
/// alignment of the field.
fn patch_tcp(buf: &mut [u8], l4: usize, off: usize, new: &[u8]) {
    let ck = l4 + 16;
    if off < l4 || off + new.len() > buf.len() || ck + 2 > buf.len() {
        return;
    }
    let start = l4 + ((off - l4) & !1);
    let end = (l4 + ((off + new.len() - l4 + 1) & !1)).min(buf.len());
    let mut old = [0u8; 8];
    let n = end - start;
    if n > old.len() {
        return;
    }
    old[..n].copy_from_slice(&buf[start..end]);
    buf[off..off + new.len()].copy_from_slice(new);
    let c = u16::from_be_bytes([buf[ck], buf[ck + 1]]);
    let c = update_bytes(c, &old[..n], &buf[start..end]);
    buf[ck..ck + 2].copy_from_slice(&c.to_be_bytes());
}

/// The IP header part of pf_normalize_ip: a fragment with "don't
/// fragment" set is dropped (`fragment`), unless `set reassemble yes
/// no-df` clears the bit first; a whole IPv4 packet keeps no flag but DF
/// (the reserved bit is cleared). Returns whether `buf` changed.
pub fn ip_header(buf: &mut [u8], pd: &Pd, reassemble_no_df: bool) -> Result<bool, Reason> {
    if pd.af != Af::Inet || buf.len() < 20 {
        return Ok(false);
    }
    if pd.fragment {
        if buf[6] & IP_DF != 0 {
            if !reassemble_no_df {
                return Err(Reason::Fragment);
            }
            buf[6] &= !IP_DF;
            ipv4_header_checksum(buf);
            return Ok(true);
        }
        return Ok(false);
    }
    if buf[6] & IP_RF != 0 {
        buf[6] &= !IP_RF;
        ipv4_header_checksum(buf);
        return Ok(true);
    }
    Ok(false)
}

/// pf_normalize_tcp: refuse TCP flag combinations no stack sends (SYN with
/// RST, no ACK on anything but a SYN or RST, FIN/PSH/URG without ACK),
/// drop FIN from a SYN, clear the reserved header bits and an urgent
/// pointer without URG. Err: drop (`normalize`); Ok(true): rewritten.
pub fn tcp_flags(buf: &mut [u8], pd: &mut Pd) -> Result<bool, Reason> {
    let Some(t) = pd.tcp else { return Ok(false) };
    let l4 = pd.l4_off;
    let orig = t.flags;
    let mut flags = orig;
    if flags & SYN != 0 {
        if flags & RST != 0 {
            return Err(Reason::Normalize);
        }
        flags &= !FIN;
    } else if flags & (ACK | RST) == 0 {
        return Err(Reason::Normalize);
    }
    if flags & ACK == 0 && flags & (FIN | PSH | URG) != 0 {
        return Err(Reason::Normalize);
    }
    let mut changed = false;
    let Some(&off_byte) = buf.get(l4 + 12) else {
        return Ok(false);
    };
    if flags != orig || off_byte & 0x0f != 0 {
        patch_tcp(buf, l4, l4 + 12, &[off_byte & 0xf0, flags]);
        if let Some(ti) = pd.tcp.as_mut() {
            ti.flags = flags;
        }
        changed = true;
    }
    if flags & URG == 0 && get16(buf, l4 + 18).is_some_and(|u| u != 0) {
        patch_tcp(buf, l4, l4 + 18, &[0, 0]);
        changed = true;
    }
    Ok(changed)
}

/// Walk the TCP options of the segment at `l4`: (kind, offset, length)
/// of each option with a length byte. Stops at the end-of-list option
/// or a malformed length.
fn tcp_options(
    buf: &[u8],
    l4: usize,
    hdr_len: usize,
) -> impl Iterator<Item = (u8, usize, usize)> + '_ {
    let end = (l4 + hdr_len).min(buf.len());
    let mut off = l4 + 20;
    std::iter::from_fn(move || loop {
        if off >= end {
            return None;
        }
        match buf[off] {
            0 => return None,
            1 => off += 1,
            kind => {
                let len = *buf.get(off + 1)? as usize;
                if len < 2 || off + len > end {
                    return None;
                }
                let at = off;
                off += len;
                return Some((kind, at, len));
            }
        }
    })
}

/// pf_normalize_mss: lower every MSS option above `max` to `max`.
pub fn clamp_mss(buf: &mut [u8], pd: &Pd, max: u16) -> bool {
    let Some(t) = pd.tcp else { return false };
    if pd.proto != IPPROTO_TCP || max == 0 {
        return false;
    }
    let l4 = pd.l4_off;
    let mut at = [0usize; 4];
    let mut n = 0;
    for (kind, off, len) in tcp_options(buf, l4, t.hdr_len) {
        if kind == 2 && len == 4 && n < at.len() {
            at[n] = off + 2;
            n += 1;
        }
    }
    let mut changed = false;
    for &off in &at[..n] {
        if get16(buf, off).is_some_and(|m| m > max) {
            patch_tcp(buf, l4, off, &max.to_be_bytes());
            changed = true;
        }
    }
    changed
}

/// `scrub` on a whole packet pf builds itself (af-to's translation); a
/// packet it cannot read stays as it is.
pub fn scrub_packet(buf: &mut [u8], a: &Actions, random_id: u16) {
    if let Ok(pd) = super::packet::describe(buf) {
        scrub(buf, &pd, a, random_id);
    }
}

/// pf_scrub plus the MSS clamp: what `actions` do to one packet that
/// passes. `random_id` is the new IPv4 id if `random-id` applies.
pub fn scrub(buf: &mut [u8], pd: &Pd, a: &Actions, random_id: u16) -> bool {
    if a.is_empty() {
        return false;
    }
    let mut changed = false;
    if a.max_mss != 0 && !pd.fragment {
        changed |= clamp_mss(buf, pd, a.max_mss);
    }
    match pd.af {
        Af::Inet => {
            if buf.len() < 20 {
                return changed;
            }
            let mut ip = false;
            if a.flags & PFSTATE_NODF != 0 && buf[6] & IP_DF != 0 {
                buf[6] &= !IP_DF;
                ip = true;
            }
            if a.min_ttl != 0 && buf[8] < a.min_ttl {
                buf[8] = a.min_ttl;
                ip = true;
            }
            if a.flags & PFSTATE_SETTOS != 0 {
                let tos = a.set_tos | (buf[1] & 0x03);
                if tos != buf[1] {
                    buf[1] = tos;
                    ip = true;
                }
            }
            // random-id, but not for fragments.
            if a.flags & PFSTATE_RANDOMID != 0 && buf[6] & !IP_DF == 0 && buf[7] == 0 {
                buf[4..6].copy_from_slice(&random_id.to_be_bytes());
                ip = true;
            }
            if ip {
                ipv4_header_checksum(buf);
            }
            changed | ip
        }
        Af::Inet6 => {
            if buf.len() < 40 {
                return changed;
            }
            if a.min_ttl != 0 && buf[7] < a.min_ttl {
                buf[7] = a.min_ttl;
                changed = true;
            }
            if a.flags & PFSTATE_SETTOS != 0 {
                let flow = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                let new = (flow & !0x0fc0_0000) | ((a.set_tos as u32) << 20);
                if new != flow {
                    buf[0..4].copy_from_slice(&new.to_be_bytes());
                    changed = true;
                }
            }
            changed
        }
    }
}

/// `PFSS_*`: what `reassemble tcp` learnt about one end.
pub const PFSS_TIMESTAMP: u16 = 0x0001;
pub const PFSS_PAWS: u16 = 0x0010;
pub const PFSS_PAWS_IDLED: u16 = 0x0020;
pub const PFSS_DATA_TS: u16 = 0x0040;
pub const PFSS_DATA_NOTS: u16 = 0x0080;

/// One end of a `reassemble tcp` connection (pf_state_scrub).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerScrub {
    pub flags: u16,
    /// Highest TTL (hop limit) seen from this end.
    pub ttl: u8,
    /// Added to this end's timestamps.
    pub ts_mod: u32,
    /// First, largest, and last echoed timestamp.
    pub tsval0: u32,
    pub tsval: u32,
    pub tsecr: u32,
    /// When the last timestamp was seen (ms).
    pub last: u64,
}

/// Both ends' scrub data of a state ([0]: the state's src peer).
pub type StateScrub = [Option<PeerScrub>; 2];

/// A timestamp option in the segment: offset of its value.
fn timestamp_options(buf: &[u8], pd: &Pd) -> ([usize; 2], usize) {
    let mut at = [0usize; 2];
    let mut n = 0;
    if let Some(t) = pd.tcp {
        for (kind, off, len) in tcp_options(buf, pd.l4_off, t.hdr_len) {
            if kind == 8 && len == 10 && n < 2 {
                at[n] = off + 2;
                n += 1;
            }
        }
    }
    (at, n)
}

/// pf_normalize_tcp_init: an end's scrub data from its first packet.
pub fn tcp_init(buf: &[u8], pd: &Pd, now: u64, random: u32) -> PeerScrub {
    let mut s = PeerScrub {
        ttl: pd.ttl,
        ..PeerScrub::default()
    };
    let Some(t) = pd.tcp else { return s };
    if t.flags & SYN == 0 {
        return s;
    }
    let (at, n) = timestamp_options(buf, pd);
    for &off in &at[..n] {
        s.flags |= PFSS_TIMESTAMP;
        s.ts_mod = random;
        let tsval = get32(buf, off).unwrap_or(0);
        s.tsval0 = tsval;
        s.tsval = tsval;
        s.tsecr = get32(buf, off + 4).unwrap_or(0);
        s.last = now;
    }
    s
}

/// Timestamps may run this fast (1 kHz + 10%).
const TS_MAXFREQ: u64 = 1100;
/// PAWS is given up after this long without a timestamp (24 days) or for
/// connections older than 12 days (pf's TS_MAX_IDLE, TS_MAX_CONN).
const TS_MAX_IDLE_MS: u64 = 24 * 24 * 60 * 60 * 1000;
const TS_MAX_CONN_MS: u64 = 12 * 24 * 60 * 60 * 1000;

/// What pf_normalize_tcp_stateful needs to know about the connection.
#[derive(Debug, Clone, Copy)]
pub struct TcpConn {
    pub src_state: u8,
    pub dst_state: u8,
    /// State creation time (ms).
    pub creation: u64,
    /// `tcp.tsdiff` seconds of leeway.
    pub ts_fudge: u32,
}

/// pf_normalize_tcp_stateful for a segment from `src` to `dst`: raise the
/// TTL to the highest seen from this end, modulate timestamps, check them
/// against PAWS. Err: drop (`bad-timestamp`). Ok(true): the segment was
/// rewritten.
pub fn tcp_stateful(
    buf: &mut [u8],
    pd: &Pd,
    src: &mut Option<PeerScrub>,
    dst: &mut Option<PeerScrub>,
    conn: TcpConn,
    now: u64,
) -> Result<bool, Reason> {
    let Some(t) = pd.tcp else { return Ok(false) };
    let mut changed = false;
    // Enforce the minimum TTL seen for this connection.
    if let Some(s) = src.as_mut() {
        let at = if pd.af == Af::Inet { 8 } else { 7 };
        if let Some(&ttl) = buf.get(at) {
            if ttl > s.ttl {
                s.ttl = ttl;
            }
            if ttl != s.ttl {
                buf[at] = s.ttl;
                if pd.af == Af::Inet {
                    ipv4_header_checksum(buf);
                }
                changed = true;
            }
        }
    }
    let src_ts = src.is_some_and(|s| s.flags & PFSS_TIMESTAMP != 0);
    let dst_ts = dst.is_some_and(|s| s.flags & PFSS_TIMESTAMP != 0);
    let (mut got_ts, mut tsval, mut tsecr) = (false, 0u32, 0u32);
    if src_ts || dst_ts {
        let (at, n) = timestamp_options(buf, pd);
        if n > 1 {
            // Multiple timestamps!?
            return Err(Reason::BadTimestamp);
        }
        if n == 1 {
            let off = at[0];
            tsval = get32(buf, off).unwrap_or(0);
            tsecr = get32(buf, off + 4).unwrap_or(0);
            if tsval != 0 && src_ts {
                let m = src.map_or(0, |s| s.ts_mod);
                patch_tcp(buf, pd.l4_off, off, &tsval.wrapping_add(m).to_be_bytes());
                changed = true;
            }
            if tsecr != 0 && dst_ts {
                tsecr = tsecr.wrapping_sub(dst.map_or(0, |s| s.ts_mod));
                patch_tcp(buf, pd.l4_off, off + 4, &tsecr.to_be_bytes());
                changed = true;
            }
            got_ts = true;
        }
    }
    // PAWS is given up on connections idle for too long.
    if let Some(s) = src.as_mut() {
        if s.flags & PFSS_PAWS != 0
            && (now.saturating_sub(s.last) > TS_MAX_IDLE_MS
                || now.saturating_sub(conn.creation) > TS_MAX_CONN_MS)
        {
            s.flags = (s.flags & !PFSS_PAWS) | PFSS_PAWS_IDLED;
        }
    }
    if let Some(d) = dst.as_mut() {
        if d.flags & PFSS_PAWS != 0 && now.saturating_sub(d.last) > TS_MAX_IDLE_MS {
            d.flags = (d.flags & !PFSS_PAWS) | PFSS_PAWS_IDLED;
        }
    }
    let paws = |p: &Option<PeerScrub>| p.is_some_and(|s| s.flags & PFSS_PAWS != 0);
    if got_ts && paws(src) && paws(dst) {
        let (s, d) = (src.unwrap_or_default(), dst.unwrap_or_default());
        // The timestamp may have advanced by at most this much since the
        // last one (plus `tcp.tsdiff` seconds of leeway).
        let delta = now.saturating_sub(s.last);
        let from_last = ((delta / 1000 + conn.ts_fudge as u64) * TS_MAXFREQ
            + (delta % 1000) * 1000 / (1_000_000 / TS_MAXFREQ)) as u32;
        if conn.src_state >= tcps::ESTABLISHED
            && conn.dst_state >= tcps::ESTABLISHED
            && (seq_lt(tsval, d.tsecr)
                || seq_gt(tsval, s.tsval.wrapping_add(from_last))
                || (tsecr != 0 && (seq_gt(tsecr, d.tsval) || seq_lt(tsecr, d.tsval0))))
        {
            return Err(Reason::BadTimestamp);
        }
    } else if !got_ts
        && t.flags & RST == 0
        && ((conn.src_state == tcps::ESTABLISHED && conn.dst_state == tcps::ESTABLISHED)
            || pd.p_len > 0
            || t.flags & SYN != 0)
        && paws(src)
        && paws(dst)
        && pd.p_len > 0
        && src.is_some_and(|s| s.flags & PFSS_DATA_TS != 0)
    {
        // A data segment without the timestamp its sender always puts
        // there: someone tries to sneak a packet in.
        return Err(Reason::BadTimestamp);
    }
    if let Some(s) = src.as_mut() {
        if pd.p_len > 0
            && s.flags & (PFSS_TIMESTAMP | PFSS_DATA_TS | PFSS_DATA_NOTS) == PFSS_TIMESTAMP
        {
            s.flags |= if got_ts { PFSS_DATA_TS } else { PFSS_DATA_NOTS };
        }
        if got_ts && s.flags & (PFSS_PAWS_IDLED | PFSS_TIMESTAMP) == PFSS_TIMESTAMP {
            s.last = now;
            let paws_on = s.flags & PFSS_PAWS != 0;
            if seq_geq(tsval, s.tsval) || !paws_on {
                s.tsval = tsval;
            }
            if tsecr != 0 {
                if seq_geq(tsecr, s.tsecr) || !paws_on {
                    s.tsecr = tsecr;
                }
                if !paws_on && (seq_lt(tsval, s.tsval0) || s.tsval0 == 0) {
                    s.tsval0 = tsval;
                }
                // Only fully set up once a timestamp was echoed.
                s.flags |= PFSS_PAWS;
            }
        }
    }
    Ok(changed)
}

/// The TCP part of a state as `reassemble tcp` uses it.
pub fn conn_of(src: &Peer, dst: &Peer, creation: u64, ts_fudge: u32) -> TcpConn {
    TcpConn {
        src_state: src.state,
        dst_state: dst.state,
        creation,
        ts_fudge,
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::describe;
    use super::super::packet::tests::*;
    use super::*;
    use crate::wire::{ipv4, tcp, udp};

    fn tcp_ok(b: &[u8]) -> bool {
        let pd = describe(b).unwrap();
        tcp::Packet::new_checked(&b[pd.l4_off..pd.tot_len])
            .unwrap()
            .verify_checksum(&pd.src, &pd.dst)
    }

    fn ip_ok(b: &[u8]) -> bool {
        ipv4::Packet::new_checked(b).unwrap().verify_checksum()
    }

    /// A SYN with options: MSS 1460 (at an odd offset: after one NOP),
    /// window scale and a timestamp.
    fn syn_with_options(tsval: u32, tsecr: u32) -> Vec<u8> {
        let mut opts = vec![1u8, 2, 4, 0x05, 0xb4, 3, 3, 7];
        opts.extend_from_slice(&[8, 10]);
        opts.extend_from_slice(&tsval.to_be_bytes());
        opts.extend_from_slice(&tsecr.to_be_bytes());
        opts.extend_from_slice(&[1, 1]);
        let mut t = tcp_seg(40000, 80, 1000, 0, tcp::SYN, 64240, b"");
        t.splice(20..20, opts.iter().copied());
        t[12] = (((20 + opts.len()) / 4) as u8) << 4;
        v4("10.0.0.1", "10.0.0.2", 6, &t)
    }

    fn scrub_rule(src: &str) -> Rule {
        let res = crate::conf::StaticResolver::new();
        let rs = crate::conf::parse(src, "t.conf", &res).unwrap();
        rs.rules[0].clone()
    }

    #[test]
    fn actions_accumulate_like_pf_rule_to_actions() {
        let mut a = Actions::of_rule(&scrub_rule("match scrub (no-df, min-ttl 10, max-mss 1400)"));
        a.add(&scrub_rule(
            "pass scrub (random-id, min-ttl 20) set tos 0x10",
        ));
        assert_eq!(a.flags, PFSTATE_NODF | PFSTATE_RANDOMID | PFSTATE_SETTOS);
        assert_eq!((a.min_ttl, a.max_mss, a.set_tos), (20, 1400, 0x10));
        a.add(&scrub_rule("pass scrub (reassemble tcp)"));
        assert!(a.flags & PFSTATE_SCRUB_TCP != 0);
        assert_eq!(a.min_ttl, 20);
    }

    #[test]
    fn max_mss_clamps_at_any_alignment() {
        let mut b = syn_with_options(7, 0);
        let pd = describe(&b).unwrap();
        assert_eq!(pd.tcp.unwrap().mss, 1460);
        assert!(clamp_mss(&mut b, &pd, 1400));
        assert!(tcp_ok(&b));
        assert_eq!(describe(&b).unwrap().tcp.unwrap().mss, 1400);
        // Below the limit: untouched.
        let pd = describe(&b).unwrap();
        assert!(!clamp_mss(&mut b, &pd, 1440));
    }

    #[test]
    fn scrub_ipv4_fields_keep_checksums() {
        let mut b = v4("10.0.0.1", "10.0.0.2", 17, &udp_dgram(1, 2, b"xyz"));
        b[8] = 3; // ttl
        b[1] = 0x03; // ECN bits only
        ipv4_header_checksum(&mut b);
        let pd = describe(&b).unwrap();
        let a = Actions {
            flags: PFSTATE_NODF | PFSTATE_SETTOS | PFSTATE_RANDOMID,
            min_ttl: 64,
            set_tos: 0xb8,
            max_mss: 0,
        };
        assert!(b[6] & IP_DF != 0);
        assert!(scrub(&mut b, &pd, &a, 0x4242));
        assert!(ip_ok(&b));
        assert_eq!(b[6] & IP_DF, 0);
        assert_eq!(b[8], 64);
        assert_eq!(b[1], 0xbb, "DSCP set, ECN kept");
        assert_eq!(&b[4..6], &[0x42, 0x42]);
        let pd = describe(&b).unwrap();
        assert!(udp::Packet::new_checked(&b[20..])
            .unwrap()
            .verify_checksum(&pd.src, &pd.dst));
        // random-id leaves fragments alone.
        let mut f = b.clone();
        f[6] = 0x20; // MF
        ipv4_header_checksum(&mut f);
        let pd = describe(&f).unwrap();
        let a = Actions {
            flags: PFSTATE_RANDOMID,
            ..Actions::default()
        };
        assert!(!scrub(&mut f, &pd, &a, 0x1111));
    }

    #[test]
    fn scrub_ipv6_hop_limit_and_traffic_class() {
        let mut b = vec![0u8; 48];
        b[0] = 0x60;
        b[1] = 0x10; // traffic class 0x01 (ECN), flow 0
        b[4..6].copy_from_slice(&8u16.to_be_bytes());
        b[6] = 17;
        b[7] = 2;
        b[8..24].copy_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        b[24..40].copy_from_slice(
            &"2001:db8::2"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        b[40..48].copy_from_slice(&udp_dgram(1, 2, b""));
        let pd = describe(&b).unwrap();
        let a = Actions {
            flags: PFSTATE_SETTOS,
            min_ttl: 30,
            set_tos: 0x28,
            max_mss: 0,
        };
        assert!(scrub(&mut b, &pd, &a, 0));
        assert_eq!(b[7], 30);
        let tc = (b[0] << 4) | (b[1] >> 4);
        assert_eq!(tc, 0x29);
        assert_eq!(describe(&b).unwrap().tos, 0x28);
    }

    #[test]
    fn tcp_flag_sanity() {
        let mut syn_fin = v4(
            "10.0.0.1",
            "10.0.0.2",
            6,
            &tcp_seg(1, 2, 3, 0, SYN | FIN, 100, b""),
        );
        let mut pd = describe(&syn_fin).unwrap();
        assert_eq!(tcp_flags(&mut syn_fin, &mut pd), Ok(true));
        assert_eq!(describe(&syn_fin).unwrap().tcp.unwrap().flags, SYN);
        assert!(tcp_ok(&syn_fin));
        for bad in [SYN | RST, 0, FIN, FIN | PSH | URG] {
            let mut p = v4(
                "10.0.0.1",
                "10.0.0.2",
                6,
                &tcp_seg(1, 2, 3, 0, bad, 100, b""),
            );
            let mut pd = describe(&p).unwrap();
            assert_eq!(
                tcp_flags(&mut p, &mut pd),
                Err(Reason::Normalize),
                "flags {bad:#x}"
            );
        }
        // Reserved bits and a stray urgent pointer are cleared.
        let mut t = tcp_seg(1, 2, 3, 4, ACK, 100, b"data");
        t[12] |= 0x0e;
        t[18] = 0x12;
        let mut p = v4("10.0.0.1", "10.0.0.2", 6, &t);
        let mut pd = describe(&p).unwrap();
        assert_eq!(tcp_flags(&mut p, &mut pd), Ok(true));
        assert_eq!(p[20 + 12] & 0x0f, 0);
        assert_eq!(&p[20 + 18..20 + 20], &[0, 0]);
        assert!(tcp_ok(&p));
    }

    #[test]
    fn reserved_bit_cleared_df_fragment_dropped() {
        let mut b = v4("10.0.0.1", "10.0.0.2", 17, &udp_dgram(1, 2, b"x"));
        b[6] |= IP_RF;
        ipv4_header_checksum(&mut b);
        let pd = describe(&b).unwrap();
        assert_eq!(ip_header(&mut b, &pd, false), Ok(true));
        assert_eq!(b[6] & IP_RF, 0);
        assert!(ip_ok(&b));
        // A DF fragment: dropped, or DF cleared with `set reassemble yes no-df`.
        let mut f = b.clone();
        f[6] = IP_DF | 0x20;
        ipv4_header_checksum(&mut f);
        let pd = describe(&f).unwrap();
        assert!(pd.fragment);
        assert_eq!(ip_header(&mut f.clone(), &pd, false), Err(Reason::Fragment));
        assert_eq!(ip_header(&mut f, &pd, true), Ok(true));
        assert_eq!(f[6], 0x20);
        assert!(ip_ok(&f));
    }

    #[test]
    fn timestamps_are_modulated_and_paws_checked() {
        let now = 1_000_000;
        // Client SYN: the client end gets scrub data and a modulator.
        let syn = syn_with_options(5000, 0);
        let pd = describe(&syn).unwrap();
        let c = tcp_init(&syn, &pd, now, 0x1000_0000);
        assert_eq!(c.flags, PFSS_TIMESTAMP);
        let (mut cs, mut ss) = (Some(c), None);
        let conn = TcpConn {
            src_state: tcps::SYN_SENT,
            dst_state: tcps::CLOSED,
            creation: now,
            ts_fudge: 30,
        };
        let mut b = syn.clone();
        assert_eq!(
            tcp_stateful(&mut b, &pd, &mut cs, &mut ss, conn, now),
            Ok(true)
        );
        assert!(tcp_ok(&b));
        let (at, _) = timestamp_options(&b, &pd);
        assert_eq!(get32(&b, at[0]), Some(5000 + 0x1000_0000));
        // Server SYN|ACK echoes the modulated value: demodulated on the way.
        let mut sa = syn_with_options(9000, 5000 + 0x1000_0000);
        sa[20 + 13] = SYN | ACK;
        fill_l4_checksum(&mut sa);
        let spd = describe(&sa).unwrap();
        ss = Some(tcp_init(&sa, &spd, now, 0x2000_0000));
        let conn_r = TcpConn {
            src_state: tcps::SYN_SENT,
            dst_state: tcps::SYN_SENT,
            ..conn
        };
        assert_eq!(
            tcp_stateful(&mut sa, &spd, &mut ss, &mut cs, conn_r, now),
            Ok(true)
        );
        let (at, _) = timestamp_options(&sa, &spd);
        assert_eq!(get32(&sa, at[0] + 4), Some(5000));
        assert!(tcp_ok(&sa));
        assert!(ss.unwrap().flags & PFSS_PAWS != 0);
        // Established: a client segment echoing the server's real value
        // passes; one whose timestamp went backwards is dropped.
        let est = TcpConn {
            src_state: tcps::ESTABLISHED,
            dst_state: tcps::ESTABLISHED,
            ..conn
        };
        let mut ok = syn_with_options(5001, 9000 + 0x2000_0000);
        ok[20 + 13] = ACK;
        fill_l4_checksum(&mut ok);
        let opd = describe(&ok).unwrap();
        assert_eq!(
            tcp_stateful(&mut ok, &opd, &mut cs, &mut ss, est, now + 10),
            Ok(true)
        );
        assert!(cs.unwrap().flags & PFSS_PAWS != 0);
        let mut old = syn_with_options(4000, 9000 + 0x2000_0000);
        old[20 + 13] = ACK;
        fill_l4_checksum(&mut old);
        let opd = describe(&old).unwrap();
        // The server has echoed 5001 by now.
        ss.as_mut().unwrap().tsecr = 5001;
        assert_eq!(
            tcp_stateful(&mut old, &opd, &mut cs, &mut ss, est, now + 20),
            Err(Reason::BadTimestamp)
        );
        // A timestamp too far in the future is refused as well.
        let mut fut = syn_with_options(5001 + 10_000_000, 9000 + 0x2000_0000);
        fut[20 + 13] = ACK;
        fill_l4_checksum(&mut fut);
        let fpd = describe(&fut).unwrap();
        assert_eq!(
            tcp_stateful(&mut fut, &fpd, &mut cs, &mut ss, est, now + 20),
            Err(Reason::BadTimestamp)
        );
    }

    #[test]
    fn ttl_is_raised_to_the_highest_seen() {
        let syn = syn_with_options(1, 0);
        let pd = describe(&syn).unwrap();
        let mut cs = Some(tcp_init(&syn, &pd, 0, 1));
        let mut none = None;
        let conn = TcpConn {
            src_state: tcps::SYN_SENT,
            dst_state: tcps::CLOSED,
            creation: 0,
            ts_fudge: 30,
        };
        let mut low = syn.clone();
        low[8] = 3;
        ipv4_header_checksum(&mut low);
        let lpd = describe(&low).unwrap();
        assert_eq!(
            tcp_stateful(&mut low, &lpd, &mut cs, &mut none, conn, 1),
            Ok(true)
        );
        assert_eq!(low[8], 64);
        assert!(ip_ok(&low));
    }

    mod through_the_engine {
        use super::*;
        use crate::conf::{parse, StaticResolver};
        use crate::engine::anchor::Loader;
        use crate::engine::packet::Dir;
        use crate::engine::{Engine, PacketMeta};

        fn engine(rules: &str) -> Engine {
            let rs = parse(rules, "pf.conf", &StaticResolver::new()).unwrap();
            let mut e = Engine::new(1, 7);
            e.load(rs, Loader::default(), String::new()).unwrap();
            e.set_enabled(true, 0);
            e
        }

        fn m(dir: Dir) -> PacketMeta<'static> {
            PacketMeta {
                dir,
                ifname: "eth0",
                uid: None,
                gid: None,
                mtag: Default::default(),
            }
        }

        /// The server's answer to `syn_with_options`.
        fn syn_ack(tsval: u32, tsecr: u32) -> Vec<u8> {
            let mut b = syn_with_options(tsval, tsecr);
            b[12..16].copy_from_slice(&[10, 0, 0, 2]);
            b[16..20].copy_from_slice(&[10, 0, 0, 1]);
            b[20..22].copy_from_slice(&80u16.to_be_bytes());
            b[22..24].copy_from_slice(&40000u16.to_be_bytes());
            b[24..28].copy_from_slice(&5000u32.to_be_bytes());
            b[28..32].copy_from_slice(&1001u32.to_be_bytes());
            b[33] = SYN | ACK;
            ipv4_header_checksum(&mut b);
            fill_l4_checksum(&mut b);
            b
        }

        #[test]
        fn max_mss_and_min_ttl_follow_the_state_both_ways() {
            let mut e = engine("match in scrub (max-mss 1400, min-ttl 50)\npass\n");
            let mut syn = syn_with_options(1, 0);
            let v = e.test(&m(Dir::In), &mut syn, 0);
            assert!(v.pass && v.modified);
            let pd = describe(&syn).unwrap();
            assert_eq!((pd.tcp.unwrap().mss, pd.ttl), (1400, 64));
            assert!(tcp_ok(&syn) && ip_ok(&syn));
            // The answer goes out: no match rule for it, the state clamps.
            let mut sa = syn_ack(2, 0);
            sa[8] = 10;
            ipv4_header_checksum(&mut sa);
            let v = e.test(&m(Dir::Out), &mut sa, 0);
            assert!(v.pass && v.modified);
            let pd = describe(&sa).unwrap();
            assert_eq!((pd.tcp.unwrap().mss, pd.ttl), (1400, 50));
            assert!(tcp_ok(&sa) && ip_ok(&sa));
            let st = e.states.get(0).unwrap();
            assert_eq!((st.norm.max_mss, st.norm.min_ttl), (1400, 50));
        }

        #[test]
        fn stateless_pass_uses_its_own_scrub() {
            let mut e = engine("pass no state scrub (no-df) set tos lowdelay\n");
            let mut syn = syn_with_options(1, 0);
            assert!(e.test(&m(Dir::In), &mut syn, 0).pass);
            assert_eq!((syn[6] & IP_DF, syn[1]), (0, 0x10));
            assert!(ip_ok(&syn));
            assert_eq!(e.states.len(), 0);
        }

        #[test]
        fn reassemble_tcp_modulates_timestamps_end_to_end() {
            let mut e = engine("pass scrub (reassemble tcp)\n");
            let mut syn = syn_with_options(5000, 0);
            assert!(e.test(&m(Dir::In), &mut syn, 0).pass);
            let pd = describe(&syn).unwrap();
            let (at, _) = timestamp_options(&syn, &pd);
            let sent = get32(&syn, at[0]).unwrap();
            assert_ne!(sent, 5000, "the client's timestamp is modulated");
            assert!(tcp_ok(&syn));
            let mut sa = syn_ack(9000, sent);
            assert!(e.test(&m(Dir::Out), &mut sa, 0).pass);
            let pd = describe(&sa).unwrap();
            let (at, _) = timestamp_options(&sa, &pd);
            assert_eq!(get32(&sa, at[0] + 4), Some(5000), "the echo is demodulated");
            assert!(tcp_ok(&sa));
            let sc = e.states.get(0).unwrap().scrub.as_ref().unwrap();
            assert!(sc[0].is_some() && sc[1].is_some());
        }

        #[test]
        fn sloppy_states_do_not_check_sequence_numbers() {
            for (rules, passes) in [("pass keep state (sloppy)\n", true), ("pass\n", false)] {
                let mut e = engine(rules);
                let mut syn = v4(
                    "10.0.0.1",
                    "10.0.0.2",
                    6,
                    &tcp_seg(40000, 80, 1000, 0, SYN, 64240, b""),
                );
                assert!(e.test(&m(Dir::In), &mut syn, 0).pass);
                // Far outside any window the full tracker would accept.
                let mut ack = v4(
                    "10.0.0.1",
                    "10.0.0.2",
                    6,
                    &tcp_seg(40000, 80, 3_000_000_000, 77, ACK, 502, b"x"),
                );
                let v = e.test(&m(Dir::In), &mut ack, 0);
                assert_eq!(v.pass, passes, "{rules}");
            }
        }

        #[test]
        fn tos_matches_without_ecn_bits() {
            let mut e = engine("pass\nblock tos 0x10\n");
            let mut p = v4("10.0.0.1", "10.0.0.2", 17, &udp_dgram(1, 2, b""));
            p[1] = 0x11; // lowdelay + ECT(1)
            ipv4_header_checksum(&mut p);
            assert!(!e.test(&m(Dir::In), &mut p.clone(), 0).pass);
            p[1] = 0x08;
            ipv4_header_checksum(&mut p);
            assert!(e.test(&m(Dir::In), &mut p, 0).pass);
        }
    }
}

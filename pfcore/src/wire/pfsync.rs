//! pfsync protocol version 6 (wire-facts §2): the frame header and
//! subheader views, every message as a plain struct with parse-from-slice
//! and emit-into-slice, frame parsing with OpenBSD's receiver rules and
//! counters, and a frame builder that packs messages up to the MTU.
//! The message structs live in `state` (scrub, peer, key, full state) and
//! `messages` (the small ones and `Message`), re-exported here.
//!
//! A frame (after the IPv4 header) is a 20-byte header, then sections of
//! (4-byte subheader, `count` messages of `len` words each).
//! Multi-byte fields are big-endian; address families on the wire are
//! OpenBSD's (2 = inet, 24 = inet6).

use super::ipv4;
use super::{rd16, rdarr, wr16, Error, Result, IPPROTO_PFSYNC};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod messages;
mod repair;
mod state;

pub use messages::*;
pub use repair::*;
pub use state::*;

pub const PFSYNC_VERSION: u8 = 6;
pub const INADDR_PFSYNC_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 240);
/// TTL pfsync sends and requires.
pub const PFSYNC_DFLTTL: u8 = 255;
pub const HEADER_LEN: usize = 20;
pub const SUBHEADER_LEN: usize = 4;
/// Interface name buffer (NUL included).
pub const IFNAMSIZ: usize = 16;

pub const ACT_CLR: u8 = 0;
pub const ACT_OINS: u8 = 1;
pub const ACT_INS_ACK: u8 = 2;
pub const ACT_OUPD: u8 = 3;
pub const ACT_UPD_C: u8 = 4;
pub const ACT_UPD_REQ: u8 = 5;
pub const ACT_DEL: u8 = 6;
pub const ACT_DEL_C: u8 = 7;
pub const ACT_INS_F: u8 = 8;
pub const ACT_DEL_F: u8 = 9;
pub const ACT_BUS: u8 = 10;
pub const ACT_OTDB: u8 = 11;
pub const ACT_EOF: u8 = 12;
pub const ACT_INS: u8 = 13;
pub const ACT_UPD: u8 = 14;
pub const ACT_TDB: u8 = 15;
/// First unknown action code.
pub const ACT_MAX: u8 = 16;

/// Sizes of the messages (bytes).
pub const CLR_LEN: usize = 20;
pub const INS_ACK_LEN: usize = 12;
pub const UPD_C_LEN: usize = 84;
pub const UPD_REQ_LEN: usize = 12;
pub const STATE_LEN: usize = 264;
pub const DEL_C_LEN: usize = 12;
pub const BUS_LEN: usize = 12;
pub const TDB_LEN: usize = 52;

/// BUS status values.
pub const BUS_START: u8 = 1;
pub const BUS_END: u8 = 2;

/// Address families as OpenBSD numbers them.
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 24;

/// Directions (`PF_IN`, `PF_OUT`).
pub const PF_IN: u8 = 1;
pub const PF_OUT: u8 = 2;

/// First invalid timeout index (`PFTM_MAX`).
pub const PFTM_MAX: u8 = 20;
/// Highest valid peer state (`PF_TCPS_PROXY_DST`).
pub const PF_TCPS_PROXY_DST: u8 = 12;

/// `state_flags` bits.
pub const PFSTATE_ALLOWOPTS: u16 = 0x0001;
pub const PFSTATE_SLOPPY: u16 = 0x0002;
pub const PFSTATE_PFLOW: u16 = 0x0004;
pub const PFSTATE_NOSYNC: u16 = 0x0008;
pub const PFSTATE_ACK: u16 = 0x0010;
pub const PFSTATE_NODF: u16 = 0x0020;
pub const PFSTATE_SETTOS: u16 = 0x0040;
pub const PFSTATE_RANDOMID: u16 = 0x0080;
pub const PFSTATE_SCRUB_TCP: u16 = 0x0100;
pub const PFSTATE_SETPRIO: u16 = 0x0200;
pub const PFSTATE_INP_UNLINKED: u16 = 0x0400;

/// `sync_flags` bits.
pub const PFSYNC_FLAG_SRCNODE: u8 = 0x04;
pub const PFSYNC_FLAG_NATSRCNODE: u8 = 0x08;

/// `scrub_flag`: the scrub block is valid.
pub const PFSYNC_SCRUB_FLAG_VALID: u8 = 0x01;
/// `pfss_flags`: timestamp modulation (the only bit transported).
pub const PFSS_TIMESTAMP: u16 = 0x0001;

const ACTION_NAMES: [&str; 16] = [
    "CLR ST",
    "INS ST OLD",
    "INS ST ACK",
    "UPD ST OLD",
    "UPD ST COMP",
    "UPD ST REQ",
    "DEL ST",
    "DEL ST COMP",
    "INS FR",
    "DEL FR",
    "BULK UPD STAT",
    "UPD TDB OLD",
    "EOF",
    "INS ST",
    "UPD ST",
    "UPD TDB",
];

/// The tcpdump name of an action code ("UNKNOWN" from 16 up).
pub fn action_name(action: u8) -> &'static str {
    ACTION_NAMES
        .get(usize::from(action))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// Size of one message of a current action, `None` for obsolete and
/// unknown actions.
pub fn message_len(action: u8) -> Option<usize> {
    match action {
        ACT_CLR => Some(CLR_LEN),
        ACT_INS_ACK => Some(INS_ACK_LEN),
        ACT_UPD_C => Some(UPD_C_LEN),
        ACT_UPD_REQ => Some(UPD_REQ_LEN),
        ACT_DEL | ACT_INS | ACT_UPD => Some(STATE_LEN),
        ACT_DEL_C => Some(DEL_C_LEN),
        ACT_BUS => Some(BUS_LEN),
        ACT_TDB => Some(TDB_LEN),
        _ => None,
    }
}

fn valid_af(af: u8) -> bool {
    af == AF_INET || af == AF_INET6
}

fn af_of(a: &IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// Reads a 16-byte `pf_addr`: IPv4 from the first 4 bytes when `af` is 2,
/// otherwise all 16 bytes as IPv6 (also for invalid families, so nothing
/// is lost; `validate` rejects those).
fn read_addr(b: &[u8], off: usize, af: u8) -> IpAddr {
    let raw: [u8; 16] = rdarr(b, off);
    if af == AF_INET {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(raw))
    }
}

fn write_addr(b: &mut [u8], off: usize, a: &IpAddr) {
    let f = &mut b[off..off + 16];
    f.fill(0);
    match a {
        IpAddr::V4(a) => f[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => f.copy_from_slice(&a.octets()),
    }
}

/// NUL-padded interface name; refuses non-UTF-8 names.
fn read_ifname(b: &[u8], off: usize) -> Result<String> {
    let f = &b[off..off + IFNAMSIZ];
    let end = f.iter().position(|&c| c == 0).unwrap_or(IFNAMSIZ);
    core::str::from_utf8(&f[..end])
        .map(str::to_owned)
        .map_err(|_| Error::Malformed("pfsync interface name not UTF-8"))
}

/// Writes at most 15 bytes (cut at a character boundary and at any NUL),
/// NUL-padded to 16, as `strlcpy` into an `IFNAMSIZ` buffer does.
fn write_ifname(b: &mut [u8], off: usize, name: &str) {
    let f = &mut b[off..off + IFNAMSIZ];
    f.fill(0);
    let mut n = name.len().min(IFNAMSIZ - 1);
    while !name.is_char_boundary(n) {
        n -= 1;
    }
    let bytes = &name.as_bytes()[..n];
    let n = bytes.iter().position(|&c| c == 0).unwrap_or(n);
    f[..n].copy_from_slice(&bytes[..n]);
}

fn need(buf: &[u8], len: usize) -> Result<()> {
    if buf.len() < len {
        Err(Error::Truncated)
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------
// Header and subheader views

mod hfield {
    pub const VERSION: usize = 0;
    pub const PAD: usize = 1;
    pub const LEN: usize = 2;
    pub const PFCKSUM: usize = 4;
}

view! {
    /// A view over the 20-byte pfsync header (and the frame behind it).
    Header
}

impl<T: AsRef<[u8]>> Header<T> {
    /// At least 20 bytes. (The `len` field is checked by [`parse_frame`].)
    pub fn check_len(&self) -> Result<()> {
        need(self.buffer.as_ref(), HEADER_LEN)
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[hfield::VERSION]
    }
    /// Frame length from the start of this header.
    pub fn len(&self) -> u16 {
        rd16(self.buffer.as_ref(), hfield::LEN)
    }
    /// True if the length field is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Ruleset checksum (current OpenBSD sends zeros and ignores it).
    pub fn pfcksum(&self) -> [u8; 16] {
        rdarr(self.buffer.as_ref(), hfield::PFCKSUM)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Header<&'a T> {
    /// The sections: bytes 20 .. `len`, clamped to the buffer.
    pub fn payload(&self) -> &'a [u8] {
        let d = self.buffer.as_ref();
        let end = usize::from(self.len()).min(d.len());
        &d[HEADER_LEN.min(end)..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    /// Sets the version and zeroes the pad byte.
    pub fn set_version(&mut self, v: u8) {
        let b = self.buffer.as_mut();
        b[hfield::VERSION] = v;
        b[hfield::PAD] = 0;
    }
    pub fn set_len(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), hfield::LEN, v)
    }
    pub fn set_pfcksum(&mut self, c: &[u8; 16]) {
        self.buffer.as_mut()[hfield::PFCKSUM..hfield::PFCKSUM + 16].copy_from_slice(c)
    }
}

view! {
    /// A view over a 4-byte section subheader.
    Subheader
}

impl<T: AsRef<[u8]>> Subheader<T> {
    pub fn check_len(&self) -> Result<()> {
        need(self.buffer.as_ref(), SUBHEADER_LEN)
    }
    pub fn action(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// Size of one message in 32-bit words.
    pub fn len(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    /// True if the message length is 0 words.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Size of one message in bytes.
    pub fn msg_len(&self) -> usize {
        usize::from(self.len()) * 4
    }
    pub fn count(&self) -> u16 {
        rd16(self.buffer.as_ref(), 2)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Subheader<T> {
    pub fn set_action(&mut self, v: u8) {
        self.buffer.as_mut()[0] = v
    }
    pub fn set_len(&mut self, words: u8) {
        self.buffer.as_mut()[1] = words
    }
    pub fn set_count(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), 2, v)
    }
}

// ---------------------------------------------------------------------
// Frame parsing

/// What [`parse_frame`] saw, named after OpenBSD's pfsync statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameStats {
    /// Messages pushed to the output.
    pub messages: u64,
    /// Wrong protocol version (frame dropped).
    pub badver: u64,
    /// Header length beyond the buffer, or a section beyond the frame.
    pub badlen: u64,
    /// Unknown/short section that could not be skipped (rest dropped).
    pub badact: u64,
    /// Messages that failed their value checks or could not be decoded.
    pub badval: u64,
    /// Fewer than 20 bytes of header.
    pub hdrops: u64,
    /// Messages skipped without error: unknown actions and too-short
    /// messages stepped over with len × count, obsolete actions, TDB.
    pub skipped: u64,
}

impl FrameStats {
    /// Adds another frame's counts.
    pub fn merge(&mut self, o: &FrameStats) {
        self.messages += o.messages;
        self.badver += o.badver;
        self.badlen += o.badlen;
        self.badact += o.badact;
        self.badval += o.badval;
        self.hdrops += o.hdrops;
        self.skipped += o.skipped;
    }
}

/// Smallest message a receiver handles for `action` (OpenBSD's
/// `pfsync_acts` table): `None` for unknown actions, `Some(0)` for
/// obsolete ones (no handler: skipped).
fn receiver_min_len(action: u8) -> Option<usize> {
    if action >= ACT_MAX {
        None
    } else {
        Some(message_len(action).unwrap_or(0))
    }
}

/// Parses a pfsync frame (`buf` starts at the pfsync header; the IP
/// header, TTL and interface checks are the caller's) with OpenBSD's
/// receiver rules:
///
/// - under 20 bytes: `hdrops`; version ≠ 6: `badver`; header `len` beyond
///   the buffer: `badlen` (all drop the frame). Bytes past `len` are
///   ignored; a `len` under 20 leaves no sections.
/// - sections are read while at least 4 bytes remain. An unknown action
///   (≥ 16) or a message length below the expected size is skipped with
///   len × count when both are non-zero, otherwise `badact` and the rest
///   of the frame is dropped. len × count beyond the frame: `badlen`, rest
///   dropped. Longer messages are accepted (the receiver steps by the
///   sender's length). Obsolete actions and TDB are skipped.
/// - INS, UPD and UPD_C messages failing [`Message::validate`], and
///   messages that do not decode (non-UTF-8 interface names), are counted
///   `badval` and not pushed. (OpenBSD checks UPD only for timeout and
///   peer states; we check it like INS since an unknown UPD is inserted.)
pub fn parse_frame(buf: &[u8], out: &mut Vec<Message>) -> FrameStats {
    let mut st = FrameStats::default();
    let hdr = match Header::new_checked(buf) {
        Ok(h) => h,
        Err(_) => {
            st.hdrops += 1;
            return st;
        }
    };
    if hdr.version() != PFSYNC_VERSION {
        st.badver += 1;
        return st;
    }
    let len = usize::from(hdr.len());
    if len > buf.len() {
        st.badlen += 1;
        return st;
    }
    let frame = &buf[..len];
    let mut off = HEADER_LEN;
    while frame.len().saturating_sub(off) >= SUBHEADER_LEN {
        let sh = Subheader::new_unchecked(&frame[off..off + SUBHEADER_LEN]);
        let action = sh.action();
        let mlen = sh.msg_len();
        let count = usize::from(sh.count());
        let handled = match receiver_min_len(action) {
            Some(min) if mlen >= min => {
                mlen > 0 && message_len(action).is_some() && action != ACT_TDB
            }
            _ => {
                if count == 0 || mlen == 0 {
                    st.badact += 1;
                    break;
                }
                false
            }
        };
        off += SUBHEADER_LEN;
        let total = mlen * count;
        if total > frame.len() - off {
            st.badlen += 1;
            break;
        }
        let body = &frame[off..off + total];
        off += total;
        if !handled {
            st.skipped += count as u64;
            continue;
        }
        for chunk in body.chunks_exact(mlen) {
            match Message::parse(action, chunk) {
                Ok(m) if m.validate().is_ok() => {
                    out.push(m);
                    st.messages += 1;
                }
                _ => st.badval += 1,
            }
        }
    }
    st
}

// ---------------------------------------------------------------------
// Frame building

/// Section order in built frames; one section per action.
const SECTION_ORDER: [u8; 9] = [
    ACT_INS_ACK,
    ACT_UPD_C,
    ACT_DEL_C,
    ACT_INS,
    ACT_UPD,
    ACT_CLR,
    ACT_UPD_REQ,
    ACT_BUS,
    ACT_DEL,
];

fn section_slot(action: u8) -> usize {
    SECTION_ORDER.iter().position(|&a| a == action).unwrap_or(0)
}

#[derive(Debug, Clone, Default)]
struct Section {
    count: u16,
    data: Vec<u8>,
}

/// Packs messages into one pfsync frame that fits an IPv4 packet of `mtu`
/// bytes, grouped in sections by action (INS_ACK, UPD_C, DEL_C, INS, UPD,
/// CLR, UPD_REQ, BUS, DEL).
#[derive(Debug, Clone)]
pub struct FrameBuilder {
    mtu: usize,
    sections: [Section; 9],
    /// Bytes `finish` would return.
    len: usize,
}

impl FrameBuilder {
    pub fn new(mtu: usize) -> FrameBuilder {
        FrameBuilder {
            mtu,
            sections: Default::default(),
            len: HEADER_LEN,
        }
    }
    /// Room for the pfsync part: MTU minus the 20-byte IPv4 header, at
    /// most 65535 (the header's length field).
    fn capacity(&self) -> usize {
        self.mtu
            .saturating_sub(ipv4::HEADER_LEN)
            .min(usize::from(u16::MAX))
    }
    /// Whether `m` would still fit.
    pub fn fits(&self, m: &Message) -> bool {
        let s = &self.sections[section_slot(m.action())];
        let add = m.wire_len() + if s.count == 0 { SUBHEADER_LEN } else { 0 };
        s.count < u16::MAX && self.len + add <= self.capacity()
    }
    /// Adds `m`; false (and nothing added) if it would not fit.
    pub fn push(&mut self, m: &Message) -> bool {
        if !self.fits(m) {
            return false;
        }
        let s = &mut self.sections[section_slot(m.action())];
        let at = s.data.len();
        s.data.resize(at + m.wire_len(), 0);
        if m.emit(&mut s.data[at..]).is_err() {
            s.data.truncate(at);
            return false;
        }
        if s.count == 0 {
            self.len += SUBHEADER_LEN;
        }
        s.count += 1;
        self.len += m.wire_len();
        true
    }
    pub fn is_empty(&self) -> bool {
        self.sections.iter().all(|s| s.count == 0)
    }
    /// Length of the frame `finish` would return (header included).
    pub fn len(&self) -> usize {
        self.len
    }
    /// Number of messages queued.
    pub fn count(&self) -> usize {
        self.sections.iter().map(|s| usize::from(s.count)).sum()
    }
    /// The frame: header (version 6, length, zero pfcksum) and sections.
    /// Leaves the builder empty for reuse.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = vec![0u8; HEADER_LEN];
        out.reserve(self.len);
        {
            let mut h = Header::new_unchecked(&mut out[..]);
            h.set_version(PFSYNC_VERSION);
            h.set_len(u16::try_from(self.len).unwrap_or(u16::MAX));
        }
        for (action, s) in SECTION_ORDER.iter().zip(self.sections.iter_mut()) {
            if s.count == 0 {
                continue;
            }
            let words = message_len(*action).unwrap_or(0) / 4;
            let mut sub = [0u8; SUBHEADER_LEN];
            let mut sh = Subheader::new_unchecked(&mut sub[..]);
            sh.set_action(*action);
            sh.set_len(u8::try_from(words).unwrap_or(0));
            sh.set_count(s.count);
            out.extend_from_slice(&sub);
            out.append(&mut s.data);
            s.count = 0;
        }
        self.len = HEADER_LEN;
        out
    }
}

/// The IPv4 packet around a pfsync frame, as OpenBSD sends it: TOS 0x10,
/// DF, TTL 255, protocol 240, checksum filled. A payload over 65515
/// bytes is cut.
pub fn build_ipv4(src: Ipv4Addr, dst: Ipv4Addr, ident: u16, pfsync_payload: &[u8]) -> Vec<u8> {
    let n = pfsync_payload.len().min(ipv4::MAX_PAYLOAD_LEN);
    let mut b = vec![0u8; ipv4::HEADER_LEN + n];
    let ip = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IPPROTO_PFSYNC,
        payload_len: n,
        ttl: PFSYNC_DFLTTL,
        tos: ipv4::IPTOS_LOWDELAY,
        ident,
        dont_frag: true,
    };
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
    b[ipv4::HEADER_LEN..].copy_from_slice(&pfsync_payload[..n]);
    b
}

#[cfg(test)]
mod tests;

//! CARP advertisements (wire-facts §1.1–1.5): the 36-byte header view and
//! `Repr`, the checksum (over the CARP payload, no pseudo-header), the
//! OpenBSD-compatible HMAC-SHA1 over version, type, vhid, sorted addresses
//! and counter, the bound counter pfd sends (a sequence number and two
//! tags that tie it to the sender and to the fields the HMAC leaves
//! uncovered), and the whole IPv4 and IPv6 advertisement packets as sent.

use super::checksum;
use super::ethernet::EthernetAddress;
use super::ipv4;
use super::ipv6;
use super::{rd16, rdarr, wr16, Error, Result, IPPROTO_CARP};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::net::{Ipv4Addr, Ipv6Addr};

pub const CARP_VERSION: u8 = 2;
pub const CARP_ADVERTISEMENT: u8 = 1;
/// Counter + HMAC length in 32-bit words.
pub const CARP_AUTHLEN: u8 = 7;
pub const CARP_HEADER_LEN: usize = 36;
/// TTL / hop limit CARP sends and requires.
pub const CARP_DFLTTL: u8 = 255;
pub const INADDR_CARP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const CARP6_GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// advbase and advskew of a "bow out" advertisement.
pub const BOW_OUT: u8 = 255;
/// Significant bytes of the passphrase (20-byte NUL-terminated buffer).
pub const CARP_KEY_MAX: usize = 19;
/// Length of the whole IPv4 advertisement packet.
pub const IPV4_ADVERT_LEN: usize = ipv4::HEADER_LEN + CARP_HEADER_LEN;
/// Length of the whole IPv6 advertisement packet.
pub const IPV6_ADVERT_LEN: usize = ipv6::HEADER_LEN + CARP_HEADER_LEN;

mod field {
    pub const VER_TYPE: usize = 0;
    pub const VHID: usize = 1;
    pub const ADVSKEW: usize = 2;
    pub const AUTHLEN: usize = 3;
    pub const DEMOTE: usize = 4;
    pub const ADVBASE: usize = 5;
    pub const CHECKSUM: usize = 6;
    pub const COUNTER: usize = 8;
    pub const HMAC: usize = 16;
}

/// The virtual MAC of a carpnode: 00:00:5e:00:01:vhid.
pub fn virtual_mac(vhid: u8) -> EthernetAddress {
    EthernetAddress([0x00, 0x00, 0x5e, 0x00, 0x01, vhid])
}

view! {
    /// A view over a CARP payload (the IP payload: header, possibly followed
    /// by bytes the checksum still covers).
    Packet
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// At least 36 bytes (OpenBSD's `badlen` check).
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < CARP_HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }
    pub fn vhid(&self) -> u8 {
        self.buffer.as_ref()[field::VHID]
    }
    pub fn advskew(&self) -> u8 {
        self.buffer.as_ref()[field::ADVSKEW]
    }
    pub fn authlen(&self) -> u8 {
        self.buffer.as_ref()[field::AUTHLEN]
    }
    pub fn demote(&self) -> u8 {
        self.buffer.as_ref()[field::DEMOTE]
    }
    pub fn advbase(&self) -> u8 {
        self.buffer.as_ref()[field::ADVBASE]
    }
    pub fn checksum(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::CHECKSUM)
    }
    pub fn counter(&self) -> [u8; 8] {
        rdarr(self.buffer.as_ref(), field::COUNTER)
    }
    pub fn hmac(&self) -> [u8; 20] {
        rdarr(self.buffer.as_ref(), field::HMAC)
    }
    /// The checksum over the whole buffer (the CARP payload) is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_TYPE];
        *b = (*b & 0x0f) | (v << 4);
    }
    pub fn set_msg_type(&mut self, t: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_TYPE];
        *b = (*b & 0xf0) | (t & 0x0f);
    }
    pub fn set_vhid(&mut self, v: u8) {
        self.buffer.as_mut()[field::VHID] = v
    }
    pub fn set_advskew(&mut self, v: u8) {
        self.buffer.as_mut()[field::ADVSKEW] = v
    }
    pub fn set_authlen(&mut self, v: u8) {
        self.buffer.as_mut()[field::AUTHLEN] = v
    }
    pub fn set_demote(&mut self, v: u8) {
        self.buffer.as_mut()[field::DEMOTE] = v
    }
    pub fn set_advbase(&mut self, v: u8) {
        self.buffer.as_mut()[field::ADVBASE] = v
    }
    pub fn set_checksum(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::CHECKSUM, v)
    }
    pub fn set_counter(&mut self, c: &[u8; 8]) {
        self.buffer.as_mut()[field::COUNTER..field::COUNTER + 8].copy_from_slice(c)
    }
    pub fn set_hmac(&mut self, h: &[u8; 20]) {
        self.buffer.as_mut()[field::HMAC..field::HMAC + 20].copy_from_slice(h)
    }
    /// Computes the checksum over the whole buffer; call it last.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c)
    }
}

/// A CARP advertisement. Version, type and authlen are implied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub vhid: u8,
    pub advskew: u8,
    pub advbase: u8,
    pub demote: u8,
    pub counter: [u8; 8],
    pub hmac: [u8; 20],
}

impl Repr {
    /// Checks, in OpenBSD's receive order: length (`Truncated` → badlen),
    /// checksum (`Checksum` → badsum), version (`Unsupported("carp
    /// version")` → badver), type (`Unsupported("carp type")`). The HMAC is
    /// checked separately ([`verify_hmac`]); authlen is not checked.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(Error::Checksum);
        }
        if p.version() != CARP_VERSION {
            return Err(Error::Unsupported("carp version"));
        }
        if p.msg_type() != CARP_ADVERTISEMENT {
            return Err(Error::Unsupported("carp type"));
        }
        Ok(Repr {
            vhid: p.vhid(),
            advskew: p.advskew(),
            advbase: p.advbase(),
            demote: p.demote(),
            counter: p.counter(),
            hmac: p.hmac(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        CARP_HEADER_LEN
    }
    /// A bow-out advertisement (advbase = advskew = 255).
    pub fn is_bow_out(&self) -> bool {
        self.advbase == BOW_OUT && self.advskew == BOW_OUT
    }
    /// Writes the header (version 2, type 1, authlen 7) and fills the
    /// checksum over the buffer, which should be exactly 36 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_version(CARP_VERSION);
        p.set_msg_type(CARP_ADVERTISEMENT);
        p.set_vhid(self.vhid);
        p.set_advskew(self.advskew);
        p.set_authlen(CARP_AUTHLEN);
        p.set_demote(self.demote);
        p.set_advbase(self.advbase);
        p.set_counter(&self.counter);
        p.set_hmac(&self.hmac);
        p.fill_checksum();
    }
    /// The 36-byte CARP payload (for IPv6, where the kernel adds the header).
    pub fn to_bytes(&self) -> [u8; CARP_HEADER_LEN] {
        let mut b = [0u8; CARP_HEADER_LEN];
        self.emit(&mut Packet::new_unchecked(&mut b[..]));
        b
    }
}

/// A whole IPv4 advertisement as OpenBSD sends it: TOS 0x10, DF, TTL 255,
/// protocol 112, total length 56, IP checksum filled.
pub fn build_ipv4_advert(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    repr: &Repr,
) -> [u8; IPV4_ADVERT_LEN] {
    let mut b = [0u8; IPV4_ADVERT_LEN];
    let ip = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IPPROTO_CARP,
        payload_len: CARP_HEADER_LEN,
        ttl: CARP_DFLTTL,
        tos: ipv4::IPTOS_LOWDELAY,
        ident,
        dont_frag: true,
    };
    let (h, rest) = b.split_at_mut(ipv4::HEADER_LEN);
    ip.emit(&mut ipv4::Packet::new_unchecked(h));
    repr.emit(&mut Packet::new_unchecked(rest));
    b
}

/// A whole IPv6 advertisement as OpenBSD's carp_send_ad sends it:
/// traffic class and flow label 0, payload length 36, next header 112,
/// hop limit 255, from `src` (the carpdev's link-local address) to `dst`
/// (ff02::12; OpenBSD's embedded scope never reaches the wire: the link
/// is the one the frame leaves by). The CARP checksum covers the CARP
/// header only, no pseudo-header.
pub fn build_ipv6_advert(src: Ipv6Addr, dst: Ipv6Addr, repr: &Repr) -> [u8; IPV6_ADVERT_LEN] {
    let mut b = [0u8; IPV6_ADVERT_LEN];
    let ip = ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IPPROTO_CARP,
        payload_len: CARP_HEADER_LEN,
        hop_limit: CARP_DFLTTL,
        traffic_class: 0,
        flow_label: 0,
    };
    let (h, rest) = b.split_at_mut(ipv6::HEADER_LEN);
    ip.emit(&mut ipv6::Packet::new_unchecked(h));
    repr.emit(&mut Packet::new_unchecked(rest));
    b
}

type HmacSha1 = Hmac<Sha1>;

/// The passphrase as OpenBSD's key buffer holds it: cut at the first NUL
/// and at 19 bytes, zero-padded (HMAC pads short keys with zeros anyway).
fn hmac_key(key: &[u8]) -> HmacSha1 {
    let end = key
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(key.len())
        .min(CARP_KEY_MAX);
    let mut block = [0u8; 64];
    block[..end].copy_from_slice(&key[..end]);
    <HmacSha1 as KeyInit>::new(&block.into())
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// Feeds the address part of the HMAC message (§1.4 items 1, 2, 4, 5, 6)
/// to `out`. Mirrors OpenBSD's selection loops exactly: repeatedly the
/// smallest address strictly between the last one emitted and all-ones,
/// so duplicates (and 0.0.0.0 / 255.255.255.255, :: / all-ones) are
/// skipped. Link-local IPv6 addresses are left out, or (with
/// `include_link_local`) included with bytes 2..3 zeroed.
fn feed_message(
    vhid: u8,
    v4: &[Ipv4Addr],
    v6: &[Ipv6Addr],
    include_link_local: bool,
    mut out: impl FnMut(&[u8]),
) {
    out(&[CARP_VERSION, CARP_ADVERTISEMENT, vhid]);
    let mut last = 0u32;
    loop {
        let mut cur = u32::MAX;
        let mut found = false;
        for a in v4 {
            let x = u32::from(*a);
            if x > last && x < cur {
                cur = x;
                found = true;
            }
        }
        if !found {
            break;
        }
        out(&cur.to_be_bytes());
        last = cur;
    }
    let mut last6 = [0u8; 16];
    loop {
        let mut cur6 = [0xffu8; 16];
        let mut found = false;
        for a in v6 {
            let mut x = a.octets();
            if is_link_local(a) {
                if !include_link_local {
                    continue;
                }
                x[2] = 0;
                x[3] = 0;
            }
            if x > last6 && x < cur6 {
                cur6 = x;
                found = true;
            }
        }
        if !found {
            break;
        }
        out(&cur6);
        last6 = cur6;
    }
}

/// HMAC contexts for one carpnode, precomputed over everything but the
/// counter (recompute when the key, vhid or addresses change).
#[derive(Clone)]
pub struct Authenticator {
    /// "No link-local" context: used for sending.
    no_ll: HmacSha1,
    /// "Original" context: link-local addresses included (scope zeroed).
    orig: HmacSha1,
    /// The key alone, for the counter's tags.
    keyed: HmacSha1,
    vhid: u8,
}

impl core::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Authenticator { .. }")
    }
}

impl Authenticator {
    pub fn new(key: &[u8], vhid: u8, v4: &[Ipv4Addr], v6: &[Ipv6Addr]) -> Authenticator {
        let base = hmac_key(key);
        let mut no_ll = base.clone();
        feed_message(vhid, v4, v6, false, |b| no_ll.update(b));
        let mut orig = base.clone();
        feed_message(vhid, v4, v6, true, |b| orig.update(b));
        Authenticator {
            no_ll,
            orig,
            keyed: base,
            vhid,
        }
    }
    /// A 16-bit tag: the first two bytes of HMAC(key, label, vhid, parts).
    fn tag(&self, label: &[u8], parts: &[&[u8]]) -> [u8; 2] {
        let mut m = self.keyed.clone();
        m.update(label);
        m.update(&[self.vhid]);
        for p in parts {
            m.update(p);
        }
        let d = m.finalize().into_bytes();
        [d[0], d[1]]
    }
    /// The counter pfd sends (see [`Counter`]): sequence number `seq`,
    /// bound to the advertisement's timing fields and to `src`, the IP
    /// source address it leaves from (4 or 16 bytes).
    pub fn bind_counter(&self, seq: u32, f: BoundFields, src: &[u8]) -> [u8; 8] {
        let s = seq.to_be_bytes();
        let bind = self.tag(BIND_LABEL, &[&s, &[f.advbase, f.advskew, f.demote], src]);
        let own = self.tag(OWN_LABEL, &[&s]);
        [s[0], s[1], s[2], s[3], bind[0], bind[1], own[0], own[1]]
    }
    /// What a received counter is (after the HMAC was verified).
    pub fn classify_counter(&self, counter: &[u8; 8], f: BoundFields, src: &[u8]) -> Counter {
        let s = [counter[0], counter[1], counter[2], counter[3]];
        if self.tag(OWN_LABEL, &[&s]) != [counter[6], counter[7]] {
            return Counter::Legacy;
        }
        let seq = u32::from_be_bytes(s);
        let bind = self.tag(BIND_LABEL, &[&s, &[f.advbase, f.advskew, f.demote], src]);
        if bind == [counter[4], counter[5]] {
            Counter::Bound(seq)
        } else {
            Counter::Rewritten(seq)
        }
    }
    fn finish(ctx: &HmacSha1, counter: &[u8; 8]) -> [u8; 20] {
        let mut m = ctx.clone();
        m.update(counter);
        let mut out = [0u8; 20];
        out.copy_from_slice(&m.finalize().into_bytes());
        out
    }
    /// The HMAC to send with `counter` (no-link-local context).
    pub fn compute(&self, counter: &[u8; 8]) -> [u8; 20] {
        Self::finish(&self.no_ll, counter)
    }
    /// Accepts `received` if either context matches (constant time).
    pub fn verify(&self, counter: &[u8; 8], received: &[u8; 20]) -> bool {
        let a = ct_eq(&Self::finish(&self.no_ll, counter), received);
        let b = ct_eq(&Self::finish(&self.orig, counter), received);
        a | b
    }
}

const OWN_LABEL: &[u8] = b"pfd carp counter v1";
const BIND_LABEL: &[u8] = b"pfd carp bind v1";

/// The advertisement fields OpenBSD's HMAC leaves out, which pfd's counter
/// binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundFields {
    pub advbase: u8,
    pub advskew: u8,
    pub demote: u8,
}

/// A received counter, as pfd reads it. pfd sends 8 bytes: a 32-bit
/// sequence number (big-endian, growing with every advertisement and with
/// wall-clock time, so it also grows across a restart), a 16-bit tag over
/// the sequence number, the advertisement's advbase, advskew and demote
/// and the IP source, and a 16-bit tag over the sequence number alone
/// that marks the counter as made by pfd. The HMAC covers all 8 bytes, so
/// nobody without the key can make or change one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Made by pfd for exactly these fields and this source.
    Bound(u32),
    /// Made by pfd, but the fields or the source were changed on the way:
    /// a rewritten advertisement.
    Rewritten(u32),
    /// Not made by pfd: OpenBSD's fixed random cookie or ucarp's counting
    /// counter (about one in 65,536 of those looks like pfd's and is then
    /// read as `Rewritten`).
    Legacy,
}

/// Serial-number order (RFC 1982) of 32-bit sequence numbers: is `a`
/// newer than `b`?
pub fn seq_newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

fn ct_eq(a: &[u8; 20], b: &[u8; 20]) -> bool {
    let diff = a.iter().zip(b.iter()).fold(0u8, |d, (x, y)| d | (x ^ y));
    core::hint::black_box(diff) == 0
}

/// HMAC-SHA1 of an advertisement as OpenBSD sends it (§1.4): key cut to
/// 19 bytes; message = version, type, vhid, IPv4 addresses ascending and
/// de-duplicated, non-link-local IPv6 addresses ascending and
/// de-duplicated, counter. (The optional custom-lladdr part is not
/// supported.)
pub fn compute_hmac(
    key: &[u8],
    vhid: u8,
    v4: &[Ipv4Addr],
    v6: &[Ipv6Addr],
    counter: &[u8; 8],
) -> [u8; 20] {
    Authenticator::new(key, vhid, v4, v6).compute(counter)
}

/// Checks a received HMAC against both contexts (no link-local, or
/// link-local included with bytes 2..3 zeroed), in constant time.
pub fn verify_hmac(
    key: &[u8],
    vhid: u8,
    v4: &[Ipv4Addr],
    v6: &[Ipv6Addr],
    counter: &[u8; 8],
    received: &[u8; 20],
) -> bool {
    Authenticator::new(key, vhid, v4, v6).verify(counter, received)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const COUNTER: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn message(vhid: u8, v4: &[Ipv4Addr], v6: &[Ipv6Addr], ll: bool) -> Vec<u8> {
        let mut m = Vec::new();
        feed_message(vhid, v4, v6, ll, |b| m.extend_from_slice(b));
        m.extend_from_slice(&COUNTER);
        m
    }

    #[test]
    fn vector_one_address() {
        let v4 = [Ipv4Addr::new(192, 168, 1, 10)];
        assert_eq!(
            message(1, &v4, &[], false),
            hex("02 01 01 c0 a8 01 0a 01 23 45 67 89 ab cd ef")
        );
        let h = compute_hmac(b"secret", 1, &v4, &[], &COUNTER);
        assert_eq!(h.to_vec(), hex("302512fb82c45c1cc0abf1f8f00f3590ed3866f0"));
        let r = Repr {
            vhid: 1,
            advskew: 0,
            advbase: 1,
            demote: 0,
            counter: COUNTER,
            hmac: h,
        };
        let b = r.to_bytes();
        assert_eq!(
            b.to_vec(),
            hex("21 01 00 07 00 01 f2 61 01 23 45 67 89 ab cd ef 30 25 12 fb 82 c4 5c 1c c0 ab f1 f8 f0 0f 35 90 ed 38 66 f0")
        );
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.checksum(), 0xf261);
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p).unwrap(), r);
        assert!(verify_hmac(b"secret", 1, &v4, &[], &COUNTER, &h));
        assert!(!verify_hmac(b"secreT", 1, &v4, &[], &COUNTER, &h));
        assert!(!verify_hmac(b"secret", 2, &v4, &[], &COUNTER, &h));
    }

    #[test]
    fn vector_several_addresses() {
        // Given unsorted and with duplicates: the message is sorted, de-duplicated.
        let v4 = [
            Ipv4Addr::new(192, 168, 1, 10),
            Ipv4Addr::new(10, 0, 0, 254),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 254),
        ];
        let v6: [Ipv6Addr; 3] = [
            "fe80::1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        ];
        let mut expect = hex("02 01 01 0a000001 0a0000fe c0a8010a");
        expect.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        expect.extend_from_slice(&COUNTER);
        assert_eq!(message(1, &v4, &v6, false), expect);
        let h = compute_hmac(b"secret", 1, &v4, &v6, &COUNTER);
        assert_eq!(h.to_vec(), hex("3d290294cd4982cc6ea392355a2d37f89cb58d3e"));
        assert!(verify_hmac(b"secret", 1, &v4, &v6, &COUNTER, &h));
    }

    #[test]
    fn link_local_contexts() {
        let v4 = [Ipv4Addr::new(10, 0, 0, 1)];
        let with_ll: [Ipv6Addr; 2] = ["fe80:5::1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
        let m = message(1, &v4, &with_ll, true);
        // fe80:0000::1 (scope bytes zeroed) sorts after 2001:db8::1.
        assert_eq!(&m[7..9], &[0x20, 0x01]);
        assert_eq!(&m[23..27], &[0xfe, 0x80, 0, 0]);
        // A peer that signed with the original context is accepted.
        let mut ctx = hmac_key(b"k");
        feed_message(1, &v4, &with_ll, true, |b| ctx.update(b));
        ctx.update(&COUNTER);
        let mut h = [0u8; 20];
        h.copy_from_slice(&ctx.finalize().into_bytes());
        assert!(verify_hmac(b"k", 1, &v4, &with_ll, &COUNTER, &h));
        // And the no-link-local one, which is what we send.
        let ours = compute_hmac(b"k", 1, &v4, &with_ll, &COUNTER);
        assert_eq!(ours, compute_hmac(b"k", 1, &v4, &with_ll[1..], &COUNTER));
        assert!(verify_hmac(b"k", 1, &v4, &with_ll, &COUNTER, &ours));
    }

    #[test]
    fn key_truncation() {
        let v4 = [Ipv4Addr::new(10, 0, 0, 1)];
        let k19 = b"0123456789abcdefghi";
        let k25 = b"0123456789abcdefghiXYZXYZ";
        assert_eq!(
            compute_hmac(k19, 1, &v4, &[], &COUNTER),
            compute_hmac(k25, 1, &v4, &[], &COUNTER)
        );
        assert_eq!(
            compute_hmac(b"ab\0cd", 1, &v4, &[], &COUNTER),
            compute_hmac(b"ab", 1, &v4, &[], &COUNTER)
        );
        assert_ne!(
            compute_hmac(b"ab", 1, &v4, &[], &COUNTER),
            compute_hmac(b"abc", 1, &v4, &[], &COUNTER)
        );
    }

    #[test]
    fn parse_errors() {
        let r = Repr {
            vhid: 3,
            advskew: BOW_OUT,
            advbase: BOW_OUT,
            demote: 1,
            counter: [9; 8],
            hmac: [7; 20],
        };
        assert!(r.is_bow_out());
        let b = r.to_bytes();
        assert_eq!(Packet::new_checked(&b[..35]).unwrap_err(), Error::Truncated);
        let mut bad = b;
        bad[20] ^= 1;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bad[..]).unwrap()),
            Err(Error::Checksum)
        );
        let mut v = b;
        Packet::new_unchecked(&mut v[..]).set_version(1);
        Packet::new_unchecked(&mut v[..]).fill_checksum();
        assert_eq!(
            Repr::parse(&Packet::new_checked(&v[..]).unwrap()),
            Err(Error::Unsupported("carp version"))
        );
        let mut t = b;
        Packet::new_unchecked(&mut t[..]).set_msg_type(2);
        Packet::new_unchecked(&mut t[..]).fill_checksum();
        assert_eq!(
            Repr::parse(&Packet::new_checked(&t[..]).unwrap()),
            Err(Error::Unsupported("carp type"))
        );
    }

    #[test]
    fn ipv4_advert() {
        let r = Repr {
            vhid: 1,
            advskew: 0,
            advbase: 1,
            demote: 0,
            counter: COUNTER,
            hmac: [0; 20],
        };
        let b = build_ipv4_advert(Ipv4Addr::new(192, 168, 1, 2), INADDR_CARP_GROUP, 0x1234, &r);
        let ip = ipv4::Packet::new_checked(&b[..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(
            (
                ip.tos(),
                ip.dont_frag(),
                ip.ttl(),
                ip.protocol(),
                ip.total_len(),
                ip.ident()
            ),
            (0x10, true, 255, 112, 56, 0x1234)
        );
        assert_eq!(ip.dst_addr(), INADDR_CARP_GROUP);
        let c = Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(Repr::parse(&c).unwrap(), r);
        assert_eq!(virtual_mac(1).to_string(), "00:00:5e:00:01:01");
    }

    #[test]
    fn ipv6_advert() {
        // Dual stack: the HMAC covers the IPv4 and the IPv6 address.
        let v4 = [Ipv4Addr::new(192, 0, 2, 1)];
        let v6: [Ipv6Addr; 1] = ["2001:db8::1".parse().unwrap()];
        let h = compute_hmac(b"secret", 1, &v4, &v6, &COUNTER);
        assert_ne!(h, compute_hmac(b"secret", 1, &v4, &[], &COUNTER));
        assert!(!verify_hmac(b"secret", 1, &v4, &[], &COUNTER, &h));
        let r = Repr {
            vhid: 1,
            advskew: 0,
            advbase: 1,
            demote: 0,
            counter: COUNTER,
            hmac: h,
        };
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let b = build_ipv6_advert(src, CARP6_GROUP, &r);
        assert_eq!(b.len(), 76);
        let ip = ipv6::Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (
                ip.version(),
                ip.traffic_class(),
                ip.flow_label(),
                ip.payload_len(),
                ip.next_header(),
                ip.hop_limit()
            ),
            (6, 0, 0, 36, 112, 255)
        );
        assert_eq!((ip.src_addr(), ip.dst_addr()), (src, CARP6_GROUP));
        // The checksum is the same as over the bare header (no pseudo-header).
        assert_eq!(&b[40..], &r.to_bytes()[..]);
        let c = Packet::new_checked(&b[40..]).unwrap();
        assert_eq!(Repr::parse(&c).unwrap(), r);
        assert!(verify_hmac(b"secret", 1, &v4, &v6, &COUNTER, &c.hmac()));
    }

    #[test]
    fn bound_counters() {
        let v4 = [Ipv4Addr::new(192, 0, 2, 1)];
        let a = Authenticator::new(b"secret", 1, &v4, &[]);
        let f = BoundFields {
            advbase: 0,
            advskew: 2,
            demote: 0,
        };
        let src = [192, 0, 2, 11];
        let c = a.bind_counter(77, f, &src);
        assert_eq!(&c[..4], &77u32.to_be_bytes());
        assert_eq!(a.classify_counter(&c, f, &src), Counter::Bound(77));
        // Timing or demotion rewritten, or sent from another address.
        let g = BoundFields { advskew: 0, ..f };
        assert_eq!(a.classify_counter(&c, g, &src), Counter::Rewritten(77));
        let h = BoundFields { demote: 1, ..f };
        assert_eq!(a.classify_counter(&c, h, &src), Counter::Rewritten(77));
        assert_eq!(
            a.classify_counter(&c, f, &[192, 0, 2, 12]),
            Counter::Rewritten(77)
        );
        // Another key or vhid does not recognise it.
        let b = Authenticator::new(b"other", 1, &v4, &[]);
        assert_eq!(b.classify_counter(&c, f, &src), Counter::Legacy);
        let d = Authenticator::new(b"secret", 2, &v4, &[]);
        assert_eq!(d.classify_counter(&c, f, &src), Counter::Legacy);
        // ucarp copies a counter and counts on from it: no longer ours.
        let mut u = u64::from_be_bytes(c);
        let mut legacy = 0;
        for _ in 0..100 {
            u = u.wrapping_add(1);
            if a.classify_counter(&u.to_be_bytes(), f, &src) == Counter::Legacy {
                legacy += 1;
            }
        }
        assert!(legacy >= 99);
        assert_eq!(a.classify_counter(&COUNTER, f, &src), Counter::Legacy);
    }

    #[test]
    fn serial_order() {
        assert!(seq_newer(2, 1));
        assert!(!seq_newer(1, 1));
        assert!(!seq_newer(1, 2));
        assert!(seq_newer(3, u32::MAX));
        assert!(!seq_newer(u32::MAX, 3));
    }

    proptest! {
        #[test]
        fn no_panic(data in proptest::collection::vec(any::<u8>(), 0..60)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.version(), p.msg_type(), p.vhid(), p.advskew(), p.authlen(), p.demote(),
                         p.advbase(), p.checksum(), p.counter(), p.hmac(), p.verify_checksum());
                let _ = Repr::parse(&p);
            }
        }

        #[test]
        fn roundtrip(vhid in any::<u8>(), advskew in any::<u8>(), advbase in any::<u8>(), demote in any::<u8>(),
                     counter in any::<[u8; 8]>(), hmac in any::<[u8; 20]>()) {
            let r = Repr { vhid, advskew, advbase, demote, counter, hmac };
            let b = r.to_bytes();
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
        }

        #[test]
        fn order_independent(mut v4 in proptest::collection::vec(any::<u32>(), 0..6), key in proptest::collection::vec(any::<u8>(), 0..30)) {
            let a: Vec<Ipv4Addr> = v4.iter().map(|&x| Ipv4Addr::from(x)).collect();
            v4.reverse();
            v4.extend_from_slice(&v4.clone());
            let b: Vec<Ipv4Addr> = v4.iter().map(|&x| Ipv4Addr::from(x)).collect();
            let h = compute_hmac(&key, 5, &a, &[], &COUNTER);
            prop_assert_eq!(h, compute_hmac(&key, 5, &b, &[], &COUNTER));
            prop_assert!(verify_hmac(&key, 5, &b, &[], &COUNTER, &h));
        }
    }
}

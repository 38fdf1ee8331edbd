//! IPv4 headers (RFC 791): a view with options and a total-length-bounded
//! payload, and a `Repr` for emitting option-less headers.

use super::checksum;
use super::{rd16, rdarr, wr16, Error, Result};
use std::net::Ipv4Addr;

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Largest payload behind an option-less header.
pub const MAX_PAYLOAD_LEN: usize = 65535 - HEADER_LEN;

/// TOS "low delay", used by CARP and pfsync.
pub const IPTOS_LOWDELAY: u8 = 0x10;

/// Option types (RFC 791, RFC 2113).
pub const OPT_EOL: u8 = 0;
pub const OPT_NOP: u8 = 1;
pub const OPT_ROUTER_ALERT: u8 = 148;

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

view! {
    /// A view over an IPv4 packet.
    Packet
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Rejects: fewer than 20 bytes, version ≠ 4, IHL < 5, header longer
    /// than the buffer, total length shorter than the header or longer
    /// than the buffer. Bytes beyond the total length (link padding) are
    /// allowed and ignored by [`Packet::payload`].
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::Malformed("ipv4 version"));
        }
        let hl = usize::from(self.header_len());
        if hl < HEADER_LEN {
            return Err(Error::Malformed("ipv4 header length"));
        }
        let tl = usize::from(self.total_len());
        if tl < hl {
            return Err(Error::Malformed("ipv4 total length"));
        }
        // tl >= hl: the header fits when the packet does.
        if tl > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    /// A view over an IPv4 header quoted in an ICMP error (RFC 792): only
    /// the fixed 20 bytes, the version and IHL >= 5 are checked, as the
    /// quote is cut after the first 8 bytes of payload; options and
    /// payload are whatever of them is there. Accessors never panic.
    #[inline]
    pub fn new_quoted(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        if p.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if p.version() != 4 {
            return Err(Error::Malformed("ipv4 version"));
        }
        if usize::from(p.header_len()) < HEADER_LEN {
            return Err(Error::Malformed("ipv4 header length"));
        }
        Ok(p)
    }
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    #[inline]
    pub fn total_len(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::LENGTH)
    }
    #[inline]
    pub fn ident(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::IDENT)
    }
    #[inline]
    pub fn dont_frag(&self) -> bool {
        rd16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }
    #[inline]
    pub fn more_frags(&self) -> bool {
        rd16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }
    /// Fragment offset in bytes (the field × 8).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (rd16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK) << 3
    }
    /// A fragment: MF set or a non-zero offset.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        rd16(self.buffer.as_ref(), field::FLG_OFF) & (FLAG_MF | OFFSET_MASK) != 0
    }
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::CHECKSUM)
    }
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(rdarr::<4>(self.buffer.as_ref(), field::SRC))
    }
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(rdarr::<4>(self.buffer.as_ref(), field::DST))
    }
    /// Header end, clamped so that slicing never panics even after setters
    /// changed the length fields.
    #[inline]
    fn header_end(&self) -> usize {
        usize::from(self.header_len()).min(self.buffer.as_ref().len())
    }
    /// Payload range: header end .. min(total length, buffer length).
    #[inline]
    fn payload_range(&self) -> (usize, usize) {
        let len = self.buffer.as_ref().len();
        let end = usize::from(self.total_len()).min(len);
        (self.header_end().min(end), end)
    }
    /// The header checksum is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(&self.buffer.as_ref()[..self.header_end()]) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The option bytes (between byte 20 and the header length).
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        let d = self.buffer.as_ref();
        let end = usize::from(self.header_len()).min(d.len());
        &d[HEADER_LEN.min(end)..end]
    }
    /// The payload, bounded by the total length, never beyond the buffer.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let (s, e) = self.payload_range();
        &self.buffer.as_ref()[s..e]
    }
    /// Iterates over the options (up to the end-of-list option).
    #[inline]
    pub fn options_iter(&self) -> OptionIter<'a> {
        OptionIter::new(self.options())
    }
}

/// One IPv4 option: its type and the bytes after the type and length
/// (empty for a no-op).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt<'a> {
    pub kind: u8,
    pub data: &'a [u8],
}

/// The options of a header, in order, ending at the end-of-list option
/// (not yielded) or the end of the bytes. A malformed option (length byte
/// missing, below 2 or running past the options) is yielded as an error
/// and ends the iteration.
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    opts: &'a [u8],
    off: usize,
}

impl<'a> OptionIter<'a> {
    #[inline]
    pub fn new(opts: &'a [u8]) -> OptionIter<'a> {
        OptionIter { opts, off: 0 }
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<Opt<'a>>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let kind = *self.opts.get(self.off)?;
        match kind {
            OPT_EOL => {
                self.off = self.opts.len();
                None
            }
            OPT_NOP => {
                self.off += 1;
                Some(Ok(Opt { kind, data: &[] }))
            }
            _ => {
                let data = self
                    .opts
                    .get(self.off + 1)
                    .map(|&l| usize::from(l))
                    .filter(|&l| l >= 2)
                    .and_then(|l| self.opts.get(self.off + 2..self.off + l));
                match data {
                    Some(data) => {
                        self.off += 2 + data.len();
                        Some(Ok(Opt { kind, data }))
                    }
                    None => {
                        self.off = self.opts.len();
                        Some(Err(Error::Malformed("ipv4 option length")))
                    }
                }
            }
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }
    /// Sets IHL from a length in bytes (rounded down to 4).
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) & 0x0f);
    }
    #[inline]
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v
    }
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::LENGTH, v)
    }
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::IDENT, v)
    }
    /// Clears DF, MF and the fragment offset.
    #[inline]
    pub fn clear_flags(&mut self) {
        wr16(self.buffer.as_mut(), field::FLG_OFF, 0)
    }
    #[inline]
    fn set_flag(&mut self, flag: u16, on: bool) {
        let v = rd16(self.buffer.as_ref(), field::FLG_OFF);
        wr16(
            self.buffer.as_mut(),
            field::FLG_OFF,
            if on { v | flag } else { v & !flag },
        )
    }
    #[inline]
    pub fn set_dont_frag(&mut self, on: bool) {
        self.set_flag(FLAG_DF, on)
    }
    #[inline]
    pub fn set_more_frags(&mut self, on: bool) {
        self.set_flag(FLAG_MF, on)
    }
    /// Sets the fragment offset from a byte count (a multiple of 8).
    #[inline]
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let v = rd16(self.buffer.as_ref(), field::FLG_OFF) & !OFFSET_MASK;
        wr16(self.buffer.as_mut(), field::FLG_OFF, v | (bytes >> 3))
    }
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v
    }
    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v
    }
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::CHECKSUM, v)
    }
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 4].copy_from_slice(&a.octets())
    }
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST..field::DST + 4].copy_from_slice(&a.octets())
    }
    /// Computes and stores the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let end = self.header_end();
        let c = checksum::checksum(&self.buffer.as_ref()[..end]);
        self.set_checksum(c)
    }
    /// The payload, bounded like [`Packet::payload`].
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (s, e) = self.payload_range();
        &mut self.buffer.as_mut()[s..e]
    }
}

/// An IPv4 header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: u8,
    /// Bytes after the header (total length − header length).
    pub payload_len: usize,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
}

impl Repr {
    /// Checks lengths and the header checksum. Options are skipped (not
    /// represented); fragments are accepted (MF/offset are not represented
    /// either: use the view for those).
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: usize::from(p.total_len()) - usize::from(p.header_len()),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
        })
    }
    /// Header length (20).
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes a 20-byte header (IHL 5, no fragmentation) and fills the
    /// checksum. The buffer must hold at least 20 bytes. A `payload_len`
    /// above 65515 is clamped in the total-length field.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_version(4);
        p.set_header_len(HEADER_LEN as u8);
        p.set_tos(self.tos);
        p.set_total_len(
            u16::try_from(HEADER_LEN + self.payload_len.min(MAX_PAYLOAD_LEN)).unwrap_or(u16::MAX),
        );
        p.set_ident(self.ident);
        p.clear_flags();
        p.set_dont_frag(self.dont_frag);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // A real IPv4 header (from RFC 1071 discussions / Wikipedia example):
    // 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7
    const HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn known_header() {
        let mut buf = HDR.to_vec();
        buf.resize(0x73, 0xaa);
        buf.extend_from_slice(&[0, 0, 0]); // link padding
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.checksum(), 0xb861);
        assert_eq!(p.total_len(), 0x73);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.protocol(), 17);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.payload().len(), 0x73 - 20);
        assert!(p.options().is_empty());
        let r = Repr::parse(&p).unwrap();
        let mut out = [0u8; 20];
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, HDR);
    }

    #[test]
    fn rejects() {
        let mut b = HDR.to_vec();
        b.resize(0x73, 0);
        assert_eq!(Packet::new_checked(&b[..19]).unwrap_err(), Error::Truncated);
        let mut v = b.clone();
        v[0] = 0x65;
        assert_eq!(
            Packet::new_checked(&v[..]).unwrap_err(),
            Error::Malformed("ipv4 version")
        );
        v[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&v[..]).unwrap_err(),
            Error::Malformed("ipv4 header length")
        );
        v[0] = 0x4f;
        assert!(Packet::new_checked(&v[..40]).is_err());
        let mut v = b.clone();
        v[2] = 0;
        v[3] = 19;
        assert_eq!(
            Packet::new_checked(&v[..]).unwrap_err(),
            Error::Malformed("ipv4 total length")
        );
        assert_eq!(
            Packet::new_checked(&b[..0x72]).unwrap_err(),
            Error::Truncated
        );
        let mut v = b.clone();
        v[10] ^= 1;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&v[..]).unwrap()),
            Err(Error::Checksum)
        );
    }

    #[test]
    fn options_and_frags() {
        let mut b = [0u8; 32];
        {
            let mut p = Packet::new_unchecked(&mut b[..]);
            p.set_version(4);
            p.set_header_len(24);
            p.set_total_len(30);
            p.set_more_frags(true);
            p.set_frag_offset(1480);
            p.fill_checksum();
        }
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options().len(), 4);
        assert_eq!(p.payload().len(), 6);
        assert_eq!(p.frag_offset(), 1480);
        assert!(p.more_frags() && p.is_fragment() && !p.dont_frag());
        assert!(p.verify_checksum());
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 6);
    }

    #[test]
    fn option_iter() {
        let o = [OPT_NOP, OPT_ROUTER_ALERT, 4, 0, 0, 7, 3, 1, OPT_EOL, 9];
        let v: Vec<Result<Opt>> = OptionIter::new(&o).collect();
        assert_eq!(
            v,
            vec![
                Ok(Opt {
                    kind: OPT_NOP,
                    data: &[]
                }),
                Ok(Opt {
                    kind: OPT_ROUTER_ALERT,
                    data: &[0, 0]
                }),
                Ok(Opt {
                    kind: 7,
                    data: &[1]
                }),
            ]
        );
        for bad in [&[7u8][..], &[7, 1], &[7, 5, 0, 0]] {
            let v: Vec<Result<Opt>> = OptionIter::new(bad).collect();
            assert_eq!(v, vec![Err(Error::Malformed("ipv4 option length"))]);
        }
    }

    #[test]
    fn quoted() {
        // A quote: header and 8 bytes of a longer packet.
        let mut b = HDR.to_vec();
        b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Truncated);
        let p = Packet::new_quoted(&b[..]).unwrap();
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(Packet::new_quoted(&b[..19]).unwrap_err(), Error::Truncated);
        b[0] = 0x44;
        assert!(Packet::new_quoted(&b[..]).is_err());
        b[0] = 0x4f;
        let p = Packet::new_quoted(&b[..]).unwrap();
        assert_eq!((p.options().len(), p.payload().len()), (8, 0));
    }

    proptest! {
        #[test]
        fn no_panic(data in proptest::collection::vec(any::<u8>(), 0..80), hl in 0u8..16, tl in 0u16..90) {
            let mut data = data;
            if data.len() >= 4 {
                data[0] = 0x40 | hl;
                data[2..4].copy_from_slice(&tl.to_be_bytes());
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.version(), p.header_len(), p.tos(), p.total_len(), p.ident(), p.dont_frag(),
                         p.more_frags(), p.frag_offset(), p.ttl(), p.protocol(), p.checksum(),
                         p.src_addr(), p.dst_addr(), p.options(), p.payload(), p.verify_checksum());
                let _ = Repr::parse(&p);
                let _ = p.options_iter().count();
                // Setters that break the lengths must not make accessors panic.
                let mut owned = data.clone();
                let mut q = Packet::new_checked(&mut owned[..]).unwrap();
                q.set_header_len(60);
                q.set_total_len(u16::MAX);
                let _ = q.payload_mut();
                q.fill_checksum();
                let q = Packet::new_unchecked(&owned[..]);
                let _ = (q.options(), q.payload(), q.verify_checksum());
            }
            if let Ok(p) = Packet::new_quoted(&data[..]) {
                let _ = (p.options(), p.payload(), p.verify_checksum(), p.frag_offset(), p.src_addr(),
                         p.options_iter().count());
            }
        }

        #[test]
        fn roundtrip(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), protocol in any::<u8>(),
                     payload_len in 0usize..100, ttl in any::<u8>(), tos in any::<u8>(), ident in any::<u16>(),
                     dont_frag in any::<bool>()) {
            let r = Repr { src_addr: src.into(), dst_addr: dst.into(), protocol, payload_len, ttl, tos, ident, dont_frag };
            let mut buf = vec![0u8; r.buffer_len() + payload_len];
            r.emit(&mut Packet::new_unchecked(&mut buf[..]));
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Repr::parse(&p).unwrap(), r);
        }
    }
}

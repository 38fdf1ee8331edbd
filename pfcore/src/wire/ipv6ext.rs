//! IPv6 extension headers (RFC 8200 §4, AH from RFC 4302): a view over
//! one header of the generic layout (next header, length, data), a view
//! and `Repr` for the fragment header, an iterator over the options of a
//! hop-by-hop or destination options header, and a walker that steps
//! over the chain from the fixed header to the upper-layer protocol.
//!
//! What a header means for filtering (which ones are allowed, how many,
//! in which order) is the caller's business: the walker only reads.

use super::ipv6::{
    NEXTHDR_AH, NEXTHDR_DSTOPTS, NEXTHDR_FRAGMENT, NEXTHDR_HOPOPTS, NEXTHDR_ROUTING,
};
use super::{rd16, rd32, wr16, wr32, Error, Result};

/// Length of the fragment header.
pub const FRAG_HEADER_LEN: usize = 8;

/// Option types of hop-by-hop / destination options headers (RFC 8200
/// §4.2, RFC 2711, RFC 2675).
pub const OPT_PAD1: u8 = 0;
pub const OPT_PADN: u8 = 1;
pub const OPT_ROUTER_ALERT: u8 = 5;
pub const OPT_JUMBO: u8 = 0xc2;

/// Routing header type 0 (deprecated by RFC 5095).
pub const ROUTING_TYPE0: u8 = 0;

/// The extension headers walked here: hop-by-hop, routing, fragment,
/// destination options and AH (whose length counts 4-byte units).
pub fn is_ext(proto: u8) -> bool {
    matches!(
        proto,
        NEXTHDR_HOPOPTS | NEXTHDR_ROUTING | NEXTHDR_FRAGMENT | NEXTHDR_DSTOPTS | NEXTHDR_AH
    )
}

mod field {
    pub const NXT_HDR: usize = 0;
    pub const LENGTH: usize = 1;
    pub const ROUTING_TYPE: usize = 2;
    pub const DATA: usize = 2;
    pub const FRAG_OFF: usize = 2;
    pub const FRAG_IDENT: usize = 4;
}

/// A view over one extension header of kind `proto` (one of [`is_ext`];
/// the fragment header is 8 bytes whatever its second byte says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
    proto: u8,
}

impl<T: AsRef<[u8]>> Header<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T, proto: u8) -> Header<T> {
        Header { buffer, proto }
    }
    #[inline]
    pub fn new_checked(buffer: T, proto: u8) -> Result<Header<T>> {
        let h = Self::new_unchecked(buffer, proto);
        h.check_len()?;
        Ok(h)
    }
    /// Rejects: fewer than 2 bytes, or fewer than the length field says
    /// (8 for the fragment header).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < 2 || self.header_len() > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// The kind of header this is (the next-header value that led here).
    #[inline]
    pub fn proto(&self) -> u8 {
        self.proto
    }
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }
    /// Header length in bytes: (len + 2) × 4 for AH, 8 for a fragment
    /// header, (len + 1) × 8 for the others.
    #[inline]
    pub fn header_len(&self) -> usize {
        let l = usize::from(self.buffer.as_ref()[field::LENGTH]);
        match self.proto {
            NEXTHDR_FRAGMENT => FRAG_HEADER_LEN,
            NEXTHDR_AH => (l + 2) * 4,
            _ => (l + 1) * 8,
        }
    }
    /// The routing type of a routing header (byte 2: every header is at
    /// least 8 bytes).
    #[inline]
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[field::ROUTING_TYPE]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Header<&'a T> {
    /// Bytes after the first two, up to the header length: the options of
    /// a hop-by-hop or destination options header.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        let d = self.buffer.as_ref();
        let end = self.header_len().min(d.len());
        &d[field::DATA.min(end)..end]
    }
    /// The options of a hop-by-hop or destination options header.
    #[inline]
    pub fn options(&self) -> Options<'a> {
        Options::new(self.data())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v
    }
}

view! {
    /// A view over a fragment header (RFC 8200 §4.5).
    FragHeader
}

impl<T: AsRef<[u8]>> FragHeader<T> {
    /// At least the 8 bytes of the header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < FRAG_HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }
    /// Offset of the fragment's data in the datagram, bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::FRAG_OFF) & 0xfff8
    }
    #[inline]
    pub fn more_frags(&self) -> bool {
        rd16(self.buffer.as_ref(), field::FRAG_OFF) & 1 != 0
    }
    #[inline]
    pub fn ident(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::FRAG_IDENT)
    }
    /// Offset 0 and no more fragments: a whole datagram behind a fragment
    /// header (an atomic fragment, RFC 6946).
    #[inline]
    pub fn is_atomic(&self) -> bool {
        rd16(self.buffer.as_ref(), field::FRAG_OFF) & 0xfff9 == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FragHeader<T> {
    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v
    }
    /// Sets the offset (bytes, a multiple of 8) and the M flag; the
    /// reserved bits are cleared.
    #[inline]
    pub fn set_frag_offset(&mut self, bytes: u16, more_frags: bool) {
        wr16(
            self.buffer.as_mut(),
            field::FRAG_OFF,
            (bytes & 0xfff8) | u16::from(more_frags),
        )
    }
    #[inline]
    pub fn set_ident(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), field::FRAG_IDENT, v)
    }
}

/// A fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragRepr {
    pub next_header: u8,
    pub frag_offset: u16,
    pub more_frags: bool,
    pub ident: u32,
}

impl FragRepr {
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(h: &FragHeader<&T>) -> Result<FragRepr> {
        h.check_len()?;
        Ok(FragRepr {
            next_header: h.next_header(),
            frag_offset: h.frag_offset(),
            more_frags: h.more_frags(),
            ident: h.ident(),
        })
    }
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        FRAG_HEADER_LEN
    }
    /// Writes the 8 bytes (reserved fields zero).
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, h: &mut FragHeader<&mut T>) {
        h.buffer.as_mut()[..FRAG_HEADER_LEN].fill(0);
        h.set_next_header(self.next_header);
        h.set_frag_offset(self.frag_offset, self.more_frags);
        h.set_ident(self.ident);
    }
}

/// One option of a hop-by-hop or destination options header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt<'a> {
    pub kind: u8,
    /// The option's data (empty for Pad1).
    pub data: &'a [u8],
}

/// The options of a hop-by-hop or destination options header, in order.
/// A malformed option (its length byte missing or running past the
/// header) is yielded as an error, and ends the iteration.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    data: &'a [u8],
    off: usize,
}

impl<'a> Options<'a> {
    #[inline]
    pub fn new(data: &'a [u8]) -> Options<'a> {
        Options { data, off: 0 }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<Opt<'a>>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let kind = *self.data.get(self.off)?;
        if kind == OPT_PAD1 {
            self.off += 1;
            return Some(Ok(Opt { kind, data: &[] }));
        }
        let start = self.off + 2;
        let opt = self
            .data
            .get(self.off + 1)
            .map(|&l| start + usize::from(l))
            .and_then(|end| self.data.get(start..end).map(|d| (d, end)));
        match opt {
            Some((data, end)) => {
                self.off = end;
                Some(Ok(Opt { kind, data }))
            }
            None => {
                self.off = self.data.len();
                Some(Err(Error::Malformed("ipv6 option length")))
            }
        }
    }
}

/// One extension header met by [`Walk`]: where it starts and its view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext<'a> {
    /// Offset of the header in the walked buffer.
    pub off: usize,
    pub header: Header<&'a [u8]>,
}

impl<'a> Ext<'a> {
    #[inline]
    pub fn proto(&self) -> u8 {
        self.header.proto()
    }
    /// The fragment header view, when this is one.
    #[inline]
    pub fn frag(&self) -> Option<FragHeader<&'a [u8]>> {
        let b: &'a [u8] = self.header.buffer;
        (self.proto() == NEXTHDR_FRAGMENT).then(|| FragHeader::new_unchecked(b))
    }
}

/// Walks a chain of extension headers: yields each header (checked to fit
/// in the buffer) and steps to the one its next-header field names, until
/// a protocol that is not an extension header ([`Walk::proto`] and
/// [`Walk::offset`] then tell the upper layer and where it starts). A
/// header cut short is yielded as `Err(Truncated)`, with `proto` and
/// `offset` left on it, and ends the walk.
#[derive(Debug, Clone)]
pub struct Walk<'a> {
    buf: &'a [u8],
    proto: u8,
    off: usize,
    done: bool,
}

impl<'a> Walk<'a> {
    /// Start at offset `off` of `buf` with the header kind `proto` (for a
    /// whole packet: the fixed header's next header, offset 40).
    #[inline]
    pub fn new(buf: &'a [u8], proto: u8, off: usize) -> Walk<'a> {
        Walk {
            buf,
            proto,
            off,
            done: false,
        }
    }
    /// The kind of the current header: after the walk, the upper layer.
    #[inline]
    pub fn proto(&self) -> u8 {
        self.proto
    }
    /// Where the current header starts: after the walk, the upper layer.
    #[inline]
    pub fn offset(&self) -> usize {
        self.off
    }
}

impl<'a> Iterator for Walk<'a> {
    type Item = Result<Ext<'a>>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done || !is_ext(self.proto) {
            return None;
        }
        let rest = self.buf.get(self.off..).unwrap_or(&[]);
        let h = match Header::new_checked(rest, self.proto) {
            Ok(h) => h,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let len = h.header_len();
        let header = Header::new_unchecked(&rest[..len], self.proto);
        let ext = Ext {
            off: self.off,
            header,
        };
        self.proto = h.next_header();
        self.off += len;
        Some(Ok(ext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{IPPROTO_TCP, IPPROTO_UDP};
    use proptest::prelude::*;

    /// hop-by-hop (8, router alert + PadN) → routing (16, type 2) →
    /// fragment (8) → AH (12) → UDP.
    fn chain() -> Vec<u8> {
        let mut b = vec![];
        b.extend_from_slice(&[NEXTHDR_ROUTING, 0, OPT_ROUTER_ALERT, 2, 0, 0, OPT_PADN, 0]);
        b.extend_from_slice(&[NEXTHDR_FRAGMENT, 1, 2, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&[NEXTHDR_AH, 0, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef]);
        b.extend_from_slice(&[IPPROTO_UDP, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        b.extend_from_slice(&[0; 8]);
        b
    }

    #[test]
    fn walks_a_chain() {
        let b = chain();
        let mut w = Walk::new(&b, NEXTHDR_HOPOPTS, 0);
        let seen: Vec<(u8, usize, usize)> = w
            .by_ref()
            .map(|e| {
                let e = e.unwrap();
                (e.proto(), e.off, e.header.header_len())
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (NEXTHDR_HOPOPTS, 0, 8),
                (NEXTHDR_ROUTING, 8, 16),
                (NEXTHDR_FRAGMENT, 24, 8),
                (NEXTHDR_AH, 32, 12),
            ]
        );
        assert_eq!((w.proto(), w.offset()), (IPPROTO_UDP, 44));
        assert!(w.next().is_none());
        // The pieces.
        let mut w = Walk::new(&b, NEXTHDR_HOPOPTS, 0);
        let hop = w.next().unwrap().unwrap();
        let opts: Vec<Opt> = hop.header.options().map(|o| o.unwrap()).collect();
        assert_eq!(
            opts,
            vec![
                Opt {
                    kind: OPT_ROUTER_ALERT,
                    data: &[0, 0]
                },
                Opt {
                    kind: OPT_PADN,
                    data: &[]
                }
            ]
        );
        assert!(hop.frag().is_none());
        let rt = w.next().unwrap().unwrap();
        assert_eq!(rt.header.routing_type(), 2);
        let fr = w.next().unwrap().unwrap().frag().unwrap();
        assert_eq!(
            FragRepr::parse(&fr).unwrap(),
            FragRepr {
                next_header: NEXTHDR_AH,
                frag_offset: 0x5a8,
                more_frags: true,
                ident: 0xdead_beef
            }
        );
        assert!(!fr.is_atomic());
    }

    #[test]
    fn truncation_stops_the_walk() {
        let b = chain();
        for cut in [0, 1, 7, 9, 23, 31, 43] {
            let mut w = Walk::new(&b[..cut], NEXTHDR_HOPOPTS, 0);
            let last = w.by_ref().last().unwrap();
            assert_eq!(last, Err(Error::Truncated), "cut {cut}");
            assert!(is_ext(w.proto()) && w.offset() <= cut, "cut {cut}");
        }
        // Not an extension header: nothing to walk.
        let mut w = Walk::new(&b, IPPROTO_TCP, 0);
        assert!(w.next().is_none());
        assert_eq!((w.proto(), w.offset()), (IPPROTO_TCP, 0));
    }

    #[test]
    fn options_and_frag_repr() {
        // Pad1, jumbo (4 bytes), then an option whose length runs past.
        let d = [OPT_PAD1, OPT_JUMBO, 4, 0, 1, 0, 0, 9, 3, 1];
        let v: Vec<Result<Opt>> = Options::new(&d).collect();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0], Ok(Opt { kind: 0, data: &[] }));
        assert_eq!(v[1].unwrap().data, &[0, 1, 0, 0]);
        assert!(v[2].is_err());
        assert!(Options::new(&[7]).next().unwrap().is_err());
        let r = FragRepr {
            next_header: IPPROTO_TCP,
            frag_offset: 1448,
            more_frags: false,
            ident: 7,
        };
        let mut b = [0xffu8; 8];
        r.emit(&mut FragHeader::new_unchecked(&mut b[..]));
        assert_eq!(b, [6, 0, 0x05, 0xa8, 0, 0, 0, 7]);
        let h = FragHeader::new_checked(&b[..]).unwrap();
        assert_eq!(FragRepr::parse(&h).unwrap(), r);
        let atomic = FragRepr {
            frag_offset: 0,
            ..r
        };
        atomic.emit(&mut FragHeader::new_unchecked(&mut b[..]));
        assert!(FragHeader::new_checked(&b[..]).unwrap().is_atomic());
        assert_eq!(
            FragHeader::new_checked(&b[..7]).unwrap_err(),
            Error::Truncated
        );
    }

    proptest! {
        #[test]
        fn no_panic(data in proptest::collection::vec(any::<u8>(), 0..64), first in prop::sample::select(vec![0u8, 43, 44, 51, 60, 6])) {
            let mut w = Walk::new(&data, first, 0);
            for e in w.by_ref() {
                let Ok(e) = e else { break };
                let _ = (e.header.next_header(), e.header.routing_type(), e.header.data());
                for o in e.header.options() {
                    let _ = o;
                }
                if let Some(f) = e.frag() {
                    let _ = (f.frag_offset(), f.more_frags(), f.ident(), f.is_atomic());
                }
            }
            prop_assert!(w.offset() <= data.len());
        }
    }
}

//! The fixed 40-byte IPv6 header (RFC 8200). Extension headers are not
//! walked here (see `ipv6ext`): `next_header` and `payload` are those of
//! the fixed header.

use super::{rd16, rd32, rdarr, wr16, wr32, Error, Result};
use std::net::Ipv6Addr;

pub const HEADER_LEN: usize = 40;

/// IPv6 extension-header / protocol numbers commonly met after the fixed header.
pub const NEXTHDR_HOPOPTS: u8 = 0;
pub const NEXTHDR_ROUTING: u8 = 43;
pub const NEXTHDR_FRAGMENT: u8 = 44;
pub const NEXTHDR_ESP: u8 = 50;
pub const NEXTHDR_AH: u8 = 51;
pub const NEXTHDR_NONE: u8 = 59;
pub const NEXTHDR_DSTOPTS: u8 = 60;

/// The link-local all-nodes group ff02::1.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const LENGTH: usize = 4;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

view! {
    /// A view over an IPv6 packet.
    Packet
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Rejects: fewer than 40 bytes, version ≠ 6, 40 + payload length
    /// beyond the buffer. (Jumbograms, payload length 0 with a jumbo
    /// option, are seen as an empty payload.)
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 6 {
            return Err(Error::Malformed("ipv6 version"));
        }
        if HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    /// A view over an IPv6 header quoted in an ICMPv6 error (RFC 4443
    /// §2.4): only the fixed 40 bytes and the version are checked, as the
    /// quote may be cut anywhere after them. Accessors never panic.
    #[inline]
    pub fn new_quoted(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        if p.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if p.version() != 6 {
            return Err(Error::Malformed("ipv6 version"));
        }
        Ok(p)
    }
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW] >> 4
    }
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        ((rd16(self.buffer.as_ref(), field::VER_TC_FLOW) >> 4) & 0xff) as u8
    }
    /// The 20-bit flow label.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000f_ffff
    }
    #[inline]
    pub fn payload_len(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::LENGTH)
    }
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(rdarr::<16>(self.buffer.as_ref(), field::SRC))
    }
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(rdarr::<16>(self.buffer.as_ref(), field::DST))
    }
    #[inline]
    fn payload_range(&self) -> (usize, usize) {
        let len = self.buffer.as_ref().len();
        let end = (HEADER_LEN + usize::from(self.payload_len())).min(len);
        (HEADER_LEN.min(end), end)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Bytes after the fixed header, bounded by the payload length.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let (s, e) = self.payload_range();
        &self.buffer.as_ref()[s..e]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_TC_FLOW];
        *b = (*b & 0x0f) | (v << 4);
    }
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = rd16(self.buffer.as_ref(), field::VER_TC_FLOW);
        wr16(
            self.buffer.as_mut(),
            field::VER_TC_FLOW,
            (w & 0xf00f) | (u16::from(tc) << 4),
        );
    }
    #[inline]
    pub fn set_flow_label(&mut self, fl: u32) {
        let w = rd32(self.buffer.as_ref(), field::VER_TC_FLOW);
        wr32(
            self.buffer.as_mut(),
            field::VER_TC_FLOW,
            (w & 0xfff0_0000) | (fl & 0x000f_ffff),
        );
    }
    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::LENGTH, v)
    }
    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v
    }
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v
    }
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 16].copy_from_slice(&a.octets())
    }
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST..field::DST + 16].copy_from_slice(&a.octets())
    }
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (s, e) = self.payload_range();
        &mut self.buffer.as_mut()[s..e]
    }
}

/// The fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    pub next_header: u8,
    pub payload_len: usize,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
}

impl Repr {
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        Ok(Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: usize::from(p.payload_len()),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        })
    }
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the 40-byte header; `payload_len` above 65535 is clamped.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        wr32(p.buffer.as_mut(), field::VER_TC_FLOW, 0);
        p.set_version(6);
        p.set_traffic_class(self.traffic_class);
        p.set_flow_label(self.flow_label);
        p.set_payload_len(u16::try_from(self.payload_len).unwrap_or(u16::MAX));
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fields() {
        let mut b = [0u8; 44];
        b[0] = 0x6a;
        b[1] = 0xbc;
        b[2] = 0xde;
        b[3] = 0xf0;
        b[5] = 4;
        b[6] = 112;
        b[7] = 255;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xab);
        assert_eq!(p.flow_label(), 0xcdef0);
        assert_eq!(p.payload().len(), 4);
        let r = Repr::parse(&p).unwrap();
        let mut out = [0u8; 40];
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out[..], b[..40]);
        assert_eq!(Packet::new_checked(&b[..43]).unwrap_err(), Error::Truncated);
        let q = Packet::new_quoted(&b[..42]).unwrap();
        assert_eq!((q.payload().len(), q.hop_limit()), (2, 255));
        assert_eq!(Packet::new_quoted(&b[..39]).unwrap_err(), Error::Truncated);
        b[0] = 0x4a;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::Malformed("ipv6 version")
        );
    }

    proptest! {
        #[test]
        fn no_panic(data in proptest::collection::vec(any::<u8>(), 0..80), plen in 0u16..60) {
            let mut data = data;
            if data.len() >= 6 {
                data[0] = 0x60 | (data[0] & 0x0f);
                data[4..6].copy_from_slice(&plen.to_be_bytes());
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.traffic_class(), p.flow_label(), p.payload_len(), p.next_header(), p.hop_limit(),
                         p.src_addr(), p.dst_addr(), p.payload());
                let r = Repr::parse(&p).unwrap();
                let mut out = [0u8; 40];
                r.emit(&mut Packet::new_unchecked(&mut out[..]));
                prop_assert_eq!(&out[..], &data[..40]);
                let mut owned = data.clone();
                let mut q = Packet::new_unchecked(&mut owned[..]);
                q.set_payload_len(u16::MAX);
                let _ = q.payload_mut();
            }
            if let Ok(p) = Packet::new_quoted(&data[..]) {
                let _ = (p.payload(), p.next_header(), p.src_addr(), p.dst_addr());
            }
        }
    }
}

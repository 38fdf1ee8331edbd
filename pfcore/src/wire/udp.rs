//! UDP datagrams (RFC 768): header view, checksum with the pseudo-header
//! (including the "0 means no checksum" rule of UDP over IPv4), `Repr`.

use super::checksum;
use super::{rd16, wr16, Error, Result, IPPROTO_UDP};
use std::net::IpAddr;

pub const HEADER_LEN: usize = 8;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

view! {
    /// A view over a UDP datagram.
    Packet
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Rejects: fewer than 8 bytes, length field < 8 or beyond the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let l = usize::from(self.len());
        if l < HEADER_LEN {
            return Err(Error::Malformed("udp length"));
        }
        if l > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    #[inline]
    pub fn src_port(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::SRC_PORT)
    }
    #[inline]
    pub fn dst_port(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::DST_PORT)
    }
    /// The length field (header + payload).
    #[inline]
    pub fn len(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::LENGTH)
    }
    /// True when the length field is 0 (only possible unchecked).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// Datagram end: the length field, clamped to the buffer.
    #[inline]
    fn end(&self) -> usize {
        usize::from(self.len()).min(self.buffer.as_ref().len())
    }
    #[inline]
    fn full_sum(&self, src: &IpAddr, dst: &IpAddr) -> u32 {
        let end = self.end();
        let ph = checksum::pseudo_header(src, dst, IPPROTO_UDP, end as u32);
        checksum::combine(ph, checksum::sum(&self.buffer.as_ref()[..end]))
    }
    /// Verifies the checksum over the datagram (up to the length field).
    /// A zero checksum field means "not computed" and verifies for IPv4
    /// sources; over IPv6 it is invalid (RFC 8200 §8.1).
    #[inline]
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        if self.checksum() == 0 {
            return src.is_ipv4();
        }
        checksum::finish(self.full_sum(src, dst)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload, bounded by the length field.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let end = self.end();
        &self.buffer.as_ref()[HEADER_LEN.min(end)..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::SRC_PORT, v)
    }
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::DST_PORT, v)
    }
    #[inline]
    pub fn set_len(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::LENGTH, v)
    }
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::CHECKSUM, v)
    }
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.end();
        &mut self.buffer.as_mut()[HEADER_LEN.min(end)..end]
    }
    /// Computes the checksum with the pseudo-header; a computed 0 is
    /// stored as 0xffff (RFC 768).
    #[inline]
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let c = checksum::finish(self.full_sum(src, dst));
        self.set_checksum(if c == 0 { 0xffff } else { c })
    }
}

/// A UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Payload bytes (length field − 8).
    pub payload_len: usize,
}

impl Repr {
    /// Extracts the fields (the checksum needs the addresses: use
    /// [`Packet::verify_checksum`]).
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: usize::from(p.len()) - HEADER_LEN,
        })
    }
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the 8-byte header with a zero checksum; call
    /// [`Packet::fill_checksum`] once the payload is in place.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len(u16::try_from(HEADER_LEN + self.payload_len).unwrap_or(u16::MAX));
        p.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn checksum_and_payload() {
        let r = Repr {
            src_port: 5353,
            dst_port: 53,
            payload_len: 3,
        };
        let mut b = vec![0u8; 8 + 3 + 2];
        r.emit(&mut Packet::new_unchecked(&mut b[..]));
        b[8..11].copy_from_slice(b"abc");
        let s: IpAddr = Ipv4Addr::new(10, 0, 0, 5).into();
        let d: IpAddr = Ipv4Addr::new(198, 51, 100, 53).into();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(&s, &d);
        assert!(p.verify_checksum(&s, &d));
        assert_ne!(p.checksum(), 0);
        p.set_checksum(0);
        assert!(p.verify_checksum(&s, &d));
        let s6: IpAddr = Ipv6Addr::LOCALHOST.into();
        assert!(!p.verify_checksum(&s6, &s6));
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload(), b"abc");
        assert_eq!(Repr::parse(&p).unwrap(), r);
        let mut bad = b.clone();
        bad[5] = 7;
        assert_eq!(
            Packet::new_checked(&bad[..]).unwrap_err(),
            Error::Malformed("udp length")
        );
        bad[5] = 14;
        assert_eq!(Packet::new_checked(&bad[..]).unwrap_err(), Error::Truncated);
    }

    #[test]
    fn zero_becomes_ffff() {
        // Find a payload whose checksum computes to 0 and check it is sent as 0xffff.
        let s: IpAddr = Ipv4Addr::new(0, 0, 0, 0).into();
        let mut b = [0u8; 10];
        Repr {
            src_port: 0,
            dst_port: 0,
            payload_len: 2,
        }
        .emit(&mut Packet::new_unchecked(&mut b[..]));
        // Pseudo-header: proto 17 + len 10; header len 10 → sum = 17 + 10 + 10 = 37.
        // Make the payload word 0xffff - 37 so the total folds to 0xffff → checksum 0.
        b[8..10].copy_from_slice(&(0xffffu16 - 37).to_be_bytes());
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(&s, &s);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(&s, &s));
    }

    proptest! {
        #[test]
        fn no_panic(data in proptest::collection::vec(any::<u8>(), 0..40), l in 0u16..50) {
            let mut data = data;
            if data.len() >= 6 {
                data[4..6].copy_from_slice(&l.to_be_bytes());
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let a: IpAddr = Ipv4Addr::LOCALHOST.into();
                let _ = (p.src_port(), p.dst_port(), p.len(), p.checksum(), p.payload(), p.verify_checksum(&a, &a));
                let r = Repr::parse(&p).unwrap();
                prop_assert_eq!(r.payload_len, p.payload().len());
                let mut owned = data.clone();
                let mut q = Packet::new_unchecked(&mut owned[..]);
                q.set_len(u16::MAX);
                q.fill_checksum(&a, &a);
                let _ = q.payload_mut();
            }
        }
    }
}

//! Transport headers seen from outside their protocol: the ports,
//! identifiers, sequence numbers and checksums that TCP, UDP, ICMP and
//! ICMPv6 keep at fixed places, read and rewritten on a header that may
//! be cut short. An ICMP error quotes the offending packet's IP header
//! and at least the first 8 bytes of what follows (RFC 792, RFC 4443
//! §2.4): [`Head`] needs those 8 bytes and reaches further (the TCP
//! acknowledgement and checksum) only when the bytes are there, so that
//! the same code reads and rewrites a whole packet and a quoted one.

use super::{rd16, rd32, wr16, wr32, Error, Result};
use super::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};

/// Bytes of the transport header an error quotes at least.
pub const HEAD_LEN: usize = 8;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const TCP_SEQ: usize = 4;
    pub const TCP_ACK: usize = 8;
    pub const TCP_CHECKSUM: usize = 16;
    pub const UDP_CHECKSUM: usize = 6;
    pub const ICMP_TYPE: usize = 0;
    pub const ICMP_CODE: usize = 1;
    pub const ICMP_CHECKSUM: usize = 2;
    pub const ICMP_IDENT: usize = 4;
}

/// A view over the start of a transport header of protocol `proto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<T: AsRef<[u8]>> {
    buffer: T,
    proto: u8,
}

impl<T: AsRef<[u8]>> Head<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T, proto: u8) -> Head<T> {
        Head { buffer, proto }
    }
    #[inline]
    pub fn new_checked(buffer: T, proto: u8) -> Result<Head<T>> {
        let h = Self::new_unchecked(buffer, proto);
        h.check_len()?;
        Ok(h)
    }
    /// At least the 8 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEAD_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }
    #[inline]
    pub fn proto(&self) -> u8 {
        self.proto
    }
    /// TCP / UDP source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::SRC_PORT)
    }
    /// TCP / UDP destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::DST_PORT)
    }
    /// TCP sequence number.
    #[inline]
    pub fn tcp_seq(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::TCP_SEQ)
    }
    /// TCP acknowledgement number, when the bytes hold it.
    #[inline]
    pub fn tcp_ack(&self) -> Option<u32> {
        let b = self.buffer.as_ref();
        (b.len() >= field::TCP_ACK + 4).then(|| rd32(b, field::TCP_ACK))
    }
    /// ICMP / ICMPv6 type.
    #[inline]
    pub fn icmp_type(&self) -> u8 {
        self.buffer.as_ref()[field::ICMP_TYPE]
    }
    #[inline]
    pub fn icmp_code(&self) -> u8 {
        self.buffer.as_ref()[field::ICMP_CODE]
    }
    /// ICMP / ICMPv6 identifier (echo and the other queries).
    #[inline]
    pub fn icmp_ident(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::ICMP_IDENT)
    }
    /// Where the protocol keeps its checksum, if it is one of the four.
    #[inline]
    fn checksum_at(&self) -> Option<usize> {
        match self.proto {
            IPPROTO_TCP => Some(field::TCP_CHECKSUM),
            IPPROTO_UDP => Some(field::UDP_CHECKSUM),
            IPPROTO_ICMP | IPPROTO_ICMPV6 => Some(field::ICMP_CHECKSUM),
            _ => None,
        }
    }
    /// The checksum field, when the protocol has one and the bytes hold it.
    #[inline]
    pub fn checksum(&self) -> Option<u16> {
        let at = self.checksum_at()?;
        let b = self.buffer.as_ref();
        (b.len() >= at + 2).then(|| rd16(b, at))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Head<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::SRC_PORT, v)
    }
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::DST_PORT, v)
    }
    #[inline]
    pub fn set_tcp_seq(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), field::TCP_SEQ, v)
    }
    /// Sets the acknowledgement number if the bytes hold it (see
    /// [`Head::tcp_ack`]); false otherwise.
    #[inline]
    pub fn set_tcp_ack(&mut self, v: u32) -> bool {
        let b = self.buffer.as_mut();
        let there = b.len() >= field::TCP_ACK + 4;
        if there {
            wr32(b, field::TCP_ACK, v);
        }
        there
    }
    #[inline]
    pub fn set_icmp_ident(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::ICMP_IDENT, v)
    }
    /// Sets the checksum if there is one and the bytes hold it (see
    /// [`Head::checksum`]); false otherwise.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) -> bool {
        let Some(at) = self.checksum_at() else {
            return false;
        };
        let b = self.buffer.as_mut();
        let there = b.len() >= at + 2;
        if there {
            wr16(b, at, v);
        }
        there
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fields() {
        let mut b = [0x9c, 0x40, 0x00, 0x50, 0, 0, 0x30, 0x39, 0xff];
        let h = Head::new_checked(&b[..], IPPROTO_TCP).unwrap();
        assert_eq!(
            (h.src_port(), h.dst_port(), h.tcp_seq()),
            (40000, 80, 12345)
        );
        assert_eq!((h.tcp_ack(), h.checksum()), (None, None));
        assert_eq!(
            (h.icmp_type(), h.icmp_code(), h.icmp_ident()),
            (0x9c, 0x40, 0)
        );
        let mut h = Head::new_checked(&mut b[..], IPPROTO_TCP).unwrap();
        h.set_src_port(1);
        h.set_dst_port(2);
        h.set_tcp_seq(3);
        assert!(!h.set_tcp_ack(4) && !h.set_checksum(5));
        assert_eq!(b, [0, 1, 0, 2, 0, 0, 0, 3, 0xff]);
        // UDP and ICMP keep their checksum in the first 8 bytes.
        let mut h = Head::new_unchecked(&mut b[..], IPPROTO_UDP);
        assert!(h.set_checksum(0xabcd));
        assert_eq!(&b[6..8], &[0xab, 0xcd]);
        let mut h = Head::new_unchecked(&mut b[..], IPPROTO_ICMPV6);
        assert!(h.set_checksum(0x1234));
        h.set_icmp_ident(0x5678);
        let h = Head::new_unchecked(&b[..], IPPROTO_ICMP);
        assert_eq!((h.checksum(), h.icmp_ident()), (Some(0x1234), 0x5678));
        assert_eq!(Head::new_unchecked(&b[..], 47).checksum(), None);
        assert_eq!(
            Head::new_checked(&b[..7], IPPROTO_UDP).unwrap_err(),
            Error::Truncated
        );
        // A whole TCP header: acknowledgement and checksum reachable.
        let mut t = [0u8; 20];
        let mut h = Head::new_checked(&mut t[..], IPPROTO_TCP).unwrap();
        assert!(h.set_tcp_ack(0xdead_beef) && h.set_checksum(0xbeef));
        assert_eq!(&t[8..12], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(&t[16..18], &[0xbe, 0xef]);
        let h = Head::new_checked(&t[..18], IPPROTO_TCP).unwrap();
        assert_eq!(
            (h.tcp_ack(), h.checksum()),
            (Some(0xdead_beef), Some(0xbeef))
        );
    }

    proptest! {
        #[test]
        fn no_panic(data in proptest::collection::vec(any::<u8>(), 0..24), proto in any::<u8>(), v in any::<u32>()) {
            if let Ok(h) = Head::new_checked(&data[..], proto) {
                let _ = (h.src_port(), h.dst_port(), h.tcp_seq(), h.tcp_ack(), h.icmp_type(), h.icmp_code(),
                         h.icmp_ident(), h.checksum());
                let mut owned = data.clone();
                let mut h = Head::new_checked(&mut owned[..], proto).unwrap();
                h.set_src_port(v as u16);
                h.set_dst_port(v as u16);
                h.set_tcp_seq(v);
                h.set_icmp_ident(v as u16);
                let ack = h.set_tcp_ack(v);
                let ck = h.set_checksum(v as u16);
                let h = Head::new_unchecked(&owned[..], proto);
                prop_assert_eq!(ack, h.tcp_ack() == Some(v));
                prop_assert_eq!(ck, h.checksum().is_some());
            }
        }
    }
}

//! What an ICMP or ICMPv6 error quotes (RFC 792, RFC 4443 §2.4): the
//! offending packet's IP header (see `ipv4::Packet::new_quoted`,
//! `ipv6::Packet::new_quoted`) and at least the first 8 bytes of what
//! follows, which [`L4Head`] reads: the ports and sequence number of a TCP
//! segment, the ports of a UDP datagram, the type, code and id of an ICMP
//! message. Nothing past those 8 bytes is guaranteed to be there.

use super::{rd16, rd32, wr16, wr32, Error, Result};

/// Bytes of the transport header an error quotes at least.
pub const L4_HEAD_LEN: usize = 8;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const TCP_SEQ: usize = 4;
    pub const ICMP_TYPE: usize = 0;
    pub const ICMP_CODE: usize = 1;
    pub const ICMP_IDENT: usize = 4;
}

/// A view over the first 8 bytes of a quoted transport header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L4Head<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> L4Head<T> {
    pub const fn new_unchecked(buffer: T) -> L4Head<T> {
        L4Head { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<L4Head<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }
    /// At least the 8 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < L4_HEAD_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// TCP / UDP source port.
    pub fn src_port(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::SRC_PORT)
    }
    /// TCP / UDP destination port.
    pub fn dst_port(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::DST_PORT)
    }
    /// TCP sequence number.
    pub fn tcp_seq(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::TCP_SEQ)
    }
    /// ICMP / ICMPv6 type.
    pub fn icmp_type(&self) -> u8 {
        self.buffer.as_ref()[field::ICMP_TYPE]
    }
    pub fn icmp_code(&self) -> u8 {
        self.buffer.as_ref()[field::ICMP_CODE]
    }
    /// ICMP / ICMPv6 identifier (echo and the other queries).
    pub fn icmp_ident(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::ICMP_IDENT)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> L4Head<T> {
    pub fn set_src_port(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::SRC_PORT, v)
    }
    pub fn set_dst_port(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::DST_PORT, v)
    }
    pub fn set_tcp_seq(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), field::TCP_SEQ, v)
    }
    pub fn set_icmp_ident(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::ICMP_IDENT, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fields() {
        let mut b = [0x9c, 0x40, 0x00, 0x50, 0, 0, 0x30, 0x39, 0xff];
        let h = L4Head::new_checked(&b[..]).unwrap();
        assert_eq!(
            (h.src_port(), h.dst_port(), h.tcp_seq()),
            (40000, 80, 12345)
        );
        assert_eq!(
            (h.icmp_type(), h.icmp_code(), h.icmp_ident()),
            (0x9c, 0x40, 0)
        );
        let mut h = L4Head::new_checked(&mut b[..]).unwrap();
        h.set_src_port(1);
        h.set_dst_port(2);
        h.set_tcp_seq(3);
        assert_eq!(b, [0, 1, 0, 2, 0, 0, 0, 3, 0xff]);
        let mut h = L4Head::new_unchecked(&mut b[..]);
        h.set_icmp_ident(0x1234);
        assert_eq!(L4Head::new_unchecked(&b[..]).icmp_ident(), 0x1234);
        assert_eq!(L4Head::new_checked(&b[..7]).unwrap_err(), Error::Truncated);
    }

    proptest! {
        #[test]
        fn no_panic(data in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(h) = L4Head::new_checked(&data[..]) {
                let _ = (h.src_port(), h.dst_port(), h.tcp_seq(), h.icmp_type(), h.icmp_code(), h.icmp_ident());
            }
        }
    }
}

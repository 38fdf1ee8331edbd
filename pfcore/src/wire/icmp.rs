//! ICMP for IPv4 (RFC 792): type/code constants as in OpenBSD's
//! netinet/ip_icmp.h, a header view, and the destination-unreachable
//! builder pf uses for `block return-icmp`.

use super::checksum;
use super::{rd16, wr16, Error, Result};

pub const HEADER_LEN: usize = 8;

pub const ECHO_REPLY: u8 = 0;
pub const DST_UNREACH: u8 = 3;
pub const SOURCE_QUENCH: u8 = 4;
pub const REDIRECT: u8 = 5;
pub const ALT_HOST_ADDR: u8 = 6;
pub const ECHO_REQUEST: u8 = 8;
pub const ROUTER_ADVERT: u8 = 9;
pub const ROUTER_SOLICIT: u8 = 10;
pub const TIME_EXCEEDED: u8 = 11;
pub const PARAM_PROB: u8 = 12;
pub const TIMESTAMP: u8 = 13;
pub const TIMESTAMP_REPLY: u8 = 14;
pub const INFO_REQUEST: u8 = 15;
pub const INFO_REPLY: u8 = 16;
pub const MASK_REQUEST: u8 = 17;
pub const MASK_REPLY: u8 = 18;
pub const TRACEROUTE: u8 = 30;
pub const DATACONV_ERR: u8 = 31;
pub const MOBILE_REDIRECT: u8 = 32;
pub const IPV6_WHERE_ARE_YOU: u8 = 33;
pub const IPV6_I_AM_HERE: u8 = 34;
pub const MOBILE_REG_REQUEST: u8 = 35;
pub const MOBILE_REG_REPLY: u8 = 36;
pub const SKIP: u8 = 39;
pub const PHOTURIS: u8 = 40;

// Codes for DST_UNREACH.
pub const UNREACH_NET: u8 = 0;
pub const UNREACH_HOST: u8 = 1;
pub const UNREACH_PROTOCOL: u8 = 2;
pub const UNREACH_PORT: u8 = 3;
pub const UNREACH_NEEDFRAG: u8 = 4;
pub const UNREACH_SRCFAIL: u8 = 5;
pub const UNREACH_NET_UNKNOWN: u8 = 6;
pub const UNREACH_HOST_UNKNOWN: u8 = 7;
pub const UNREACH_ISOLATED: u8 = 8;
pub const UNREACH_NET_PROHIB: u8 = 9;
pub const UNREACH_HOST_PROHIB: u8 = 10;
pub const UNREACH_TOSNET: u8 = 11;
pub const UNREACH_TOSHOST: u8 = 12;
pub const UNREACH_FILTER_PROHIB: u8 = 13;
pub const UNREACH_HOST_PRECEDENCE: u8 = 14;
pub const UNREACH_PRECEDENCE_CUTOFF: u8 = 15;

// Codes for REDIRECT.
pub const REDIRECT_NET: u8 = 0;
pub const REDIRECT_HOST: u8 = 1;
pub const REDIRECT_TOSNET: u8 = 2;
pub const REDIRECT_TOSHOST: u8 = 3;

// Codes for ROUTER_ADVERT.
pub const ROUTERADVERT_NORMAL: u8 = 0;
pub const ROUTERADVERT_NOROUTE_COMMON: u8 = 16;

// Codes for TIME_EXCEEDED.
pub const TIMXCEED_INTRANS: u8 = 0;
pub const TIMXCEED_REASS: u8 = 1;

// Codes for PARAM_PROB.
pub const PARAMPROB_ERRATPTR: u8 = 0;
pub const PARAMPROB_OPTABSENT: u8 = 1;
pub const PARAMPROB_LENGTH: u8 = 2;

/// Error messages, which quote the offending IP header (pf looks inside
/// them for the state of the quoted packet).
pub fn is_error(msg_type: u8) -> bool {
    matches!(
        msg_type,
        DST_UNREACH | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAM_PROB
    )
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQNO: usize = 6;
    pub const NEXT_HOP_MTU: usize = 6;
    pub const DATA: usize = 8;
}

view! {
    /// A view over an ICMP message.
    Packet
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// At least the 8-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// Identifier of echo/timestamp/info/mask messages.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::ECHO_IDENT)
    }
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }
    /// Next-hop MTU of an UNREACH_NEEDFRAG message (RFC 1191).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::NEXT_HOP_MTU)
    }
    /// The checksum over the whole buffer is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Bytes after the 8-byte header: echo data, or for errors the quoted
    /// IP header plus at least 8 bytes of its payload.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        let d = self.buffer.as_ref();
        &d[field::DATA.min(d.len())..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v
    }
    #[inline]
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v
    }
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::CHECKSUM, v)
    }
    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::ECHO_IDENT, v)
    }
    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::ECHO_SEQNO, v)
    }
    #[inline]
    pub fn set_next_hop_mtu(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::NEXT_HOP_MTU, v)
    }
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let d = self.buffer.as_mut();
        let s = field::DATA.min(d.len());
        &mut d[s..]
    }
    /// Computes the checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c)
    }
}

/// How much of an offending IPv4 packet an error message quotes: its
/// header plus the first 8 payload bytes (RFC 792), never beyond its total
/// length or the bytes given. Unparseable input is quoted up to 28 bytes.
pub fn quote_len(quoted: &[u8]) -> usize {
    match super::ipv4::Packet::new_checked(quoted) {
        Ok(ip) => {
            let hl = usize::from(ip.header_len());
            (hl + 8).min(usize::from(ip.total_len()))
        }
        Err(_) => quoted.len().min(28),
    }
}

/// Builds an ICMP destination-unreachable message with `code` into `out`,
/// quoting the offending IPv4 packet `quoted` (header + 8 bytes, see
/// [`quote_len`]), checksum filled. Returns the message length (0 if `out`
/// cannot hold the 8-byte header; the quote is cut to fit `out`). For
/// `UNREACH_NEEDFRAG`, set the MTU afterwards with
/// [`Packet::set_next_hop_mtu`] and refill the checksum.
pub fn emit_unreachable(code: u8, quoted: &[u8], out: &mut [u8]) -> usize {
    if out.len() < HEADER_LEN {
        return 0;
    }
    let q = quote_len(quoted).min(out.len() - HEADER_LEN);
    let n = HEADER_LEN + q;
    let msg = &mut out[..n];
    msg[..HEADER_LEN].fill(0);
    msg[HEADER_LEN..].copy_from_slice(&quoted[..q]);
    let mut p = Packet::new_unchecked(msg);
    p.set_msg_type(DST_UNREACH);
    p.set_msg_code(code);
    p.fill_checksum();
    n
}

/// An ICMP message header: type, code and the 4-byte rest-of-header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub msg_type: u8,
    pub msg_code: u8,
    /// Bytes 4..8: echo ident/seq, unused, gateway, pointer or MTU.
    pub rest: [u8; 4],
    /// Bytes after the header.
    pub data_len: usize,
}

impl Repr {
    /// Checks the length and the checksum.
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(Repr {
            msg_type: p.msg_type(),
            msg_code: p.msg_code(),
            rest: super::rdarr(p.buffer.as_ref(), field::ECHO_IDENT),
            data_len: p.data().len(),
        })
    }
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data_len
    }
    /// Writes the header and fills the checksum over the whole buffer, so
    /// write the data (via [`Packet::data_mut`]) first or refill afterwards.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_msg_type(self.msg_type);
        p.set_msg_code(self.msg_code);
        p.buffer.as_mut()[field::ECHO_IDENT..field::DATA].copy_from_slice(&self.rest);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn offending() -> Vec<u8> {
        let r = ipv4::Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 7),
            dst_addr: Ipv4Addr::new(198, 51, 100, 1),
            protocol: 17,
            payload_len: 30,
            ttl: 64,
            tos: 0,
            ident: 1,
            dont_frag: false,
        };
        let mut b = vec![0u8; 50];
        r.emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
        for (i, x) in b[20..].iter_mut().enumerate() {
            *x = i as u8;
        }
        b
    }

    #[test]
    fn unreachable() {
        let q = offending();
        let mut out = [0u8; 100];
        let n = emit_unreachable(UNREACH_PORT, &q, &mut out);
        assert_eq!(n, 8 + 28);
        let p = Packet::new_checked(&out[..n]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!((p.msg_type(), p.msg_code()), (DST_UNREACH, UNREACH_PORT));
        assert_eq!(p.data(), &q[..28]);
        assert!(is_error(p.msg_type()));
        // Too small output: quote cut; no panic.
        let mut small = [0u8; 12];
        assert_eq!(emit_unreachable(UNREACH_HOST, &q, &mut small), 12);
        assert_eq!(emit_unreachable(UNREACH_HOST, &q, &mut small[..7]), 0);
        // Short offending packet (total length 24): quoted only up to it.
        let mut s = q.clone();
        s[3] = 24;
        assert_eq!(quote_len(&s[..24]), 24);
        assert_eq!(quote_len(&[1, 2, 3]), 3);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.data_len, 28);
    }

    #[test]
    fn echo() {
        let mut b = [0u8; 12];
        let r = Repr {
            msg_type: ECHO_REQUEST,
            msg_code: 0,
            rest: [0x12, 0x34, 0, 1],
            data_len: 4,
        };
        b[8..].copy_from_slice(b"ping");
        r.emit(&mut Packet::new_unchecked(&mut b[..]));
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x1234, 1));
        assert_eq!(Repr::parse(&p).unwrap(), r);
        assert!(!is_error(ECHO_REQUEST));
        let mut bad = b;
        bad[9] ^= 0xff;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bad[..]).unwrap()),
            Err(Error::Checksum)
        );
    }

    proptest! {
        #[test]
        fn no_panic(data in proptest::collection::vec(any::<u8>(), 0..64), outlen in 0usize..80, code in any::<u8>()) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident(), p.echo_seq_no(),
                         p.next_hop_mtu(), p.data(), p.verify_checksum());
                let _ = Repr::parse(&p);
            }
            let mut out = vec![0u8; outlen];
            let n = emit_unreachable(code, &data, &mut out);
            prop_assert!(n <= outlen);
            if n > 0 {
                prop_assert!(Packet::new_checked(&out[..n]).unwrap().verify_checksum());
            }
        }
    }
}

//! ICMPv6 (RFC 4443) and the Neighbour Discovery types (RFC 4861): type
//! constants, a header view with the pseudo-header checksum, the
//! destination-unreachable builder and the unsolicited neighbour
//! advertisement CARP sends on becoming master.

use super::checksum;
use super::ethernet::EthernetAddress;
use super::{rd16, rd32, rdarr, wr16, wr32, Error, Result, IPPROTO_ICMPV6};
use std::net::{IpAddr, Ipv6Addr};

pub const HEADER_LEN: usize = 8;
/// IPv6 minimum MTU; error messages are cut to fit in it (RFC 4443 §2.4).
pub const MIN_MTU: usize = 1280;

pub const DST_UNREACH: u8 = 1;
pub const PACKET_TOO_BIG: u8 = 2;
pub const TIME_EXCEEDED: u8 = 3;
pub const PARAM_PROB: u8 = 4;
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const MLD_LISTENER_QUERY: u8 = 130;
pub const MLD_LISTENER_REPORT: u8 = 131;
pub const MLD_LISTENER_DONE: u8 = 132;
pub const ND_ROUTER_SOLICIT: u8 = 133;
pub const ND_ROUTER_ADVERT: u8 = 134;
pub const ND_NEIGHBOR_SOLICIT: u8 = 135;
pub const ND_NEIGHBOR_ADVERT: u8 = 136;
pub const ND_REDIRECT: u8 = 137;
pub const ICMP6_WRUREQUEST: u8 = 139;
pub const ICMP6_WRUREPLY: u8 = 140;
pub const MLDV2_LISTENER_REPORT: u8 = 143;
pub const MLD_MTRACE_RESP: u8 = 200;
pub const MLD_MTRACE: u8 = 201;

// Codes for DST_UNREACH (OpenBSD netinet/icmp6.h).
pub const UNREACH_NOROUTE: u8 = 0;
pub const UNREACH_ADMIN: u8 = 1;
pub const UNREACH_BEYONDSCOPE: u8 = 2;
pub const UNREACH_ADDR: u8 = 3;
pub const UNREACH_NOPORT: u8 = 4;
pub const UNREACH_POLICY: u8 = 5;
pub const UNREACH_REJECT_ROUTE: u8 = 6;

// Codes for TIME_EXCEEDED.
pub const TIME_EXCEED_TRANSIT: u8 = 0;
pub const TIME_EXCEED_REASSEMBLY: u8 = 1;

// Codes for PARAM_PROB.
pub const PARAMPROB_HEADER: u8 = 0;
pub const PARAMPROB_NEXTHEADER: u8 = 1;
pub const PARAMPROB_OPTION: u8 = 2;

/// Neighbour advertisement flags (first byte after the header's checksum).
pub const ND_NA_FLAG_ROUTER: u8 = 0x80;
pub const ND_NA_FLAG_SOLICITED: u8 = 0x40;
pub const ND_NA_FLAG_OVERRIDE: u8 = 0x20;

/// ND option: target link-layer address.
pub const ND_OPT_TARGET_LINKADDR: u8 = 2;
/// ND option: source link-layer address.
pub const ND_OPT_SOURCE_LINKADDR: u8 = 1;

/// Length of an NA with a target link-layer address option.
pub const NEIGHBOR_ADVERT_LEN: usize = 32;

/// Error messages (types below 128).
pub fn is_error(msg_type: u8) -> bool {
    msg_type < 128
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQNO: usize = 6;
    pub const MTU: usize = 4;
    pub const ND_FLAGS: usize = 4;
    pub const ND_TARGET: usize = 8;
    pub const DATA: usize = 8;
}

view! {
    /// A view over an ICMPv6 message.
    Packet
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// At least the 8-byte header (every defined message has it).
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
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::ECHO_IDENT)
    }
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }
    /// MTU of PACKET_TOO_BIG (pointer of PARAM_PROB).
    #[inline]
    pub fn mtu(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::MTU)
    }
    /// NA flags byte (router/solicited/override).
    #[inline]
    pub fn nd_flags(&self) -> u8 {
        self.buffer.as_ref()[field::ND_FLAGS]
    }
    /// Target of NS/NA/redirect, if the message is long enough.
    #[inline]
    pub fn nd_target(&self) -> Option<Ipv6Addr> {
        let d = self.buffer.as_ref();
        d.get(field::ND_TARGET..field::ND_TARGET + 16)
            .map(|_| Ipv6Addr::from(rdarr::<16>(d, field::ND_TARGET)))
    }
    /// Multicast address of an MLD query, report or done message (RFC
    /// 2710 §3.6, the same place as an ND target), if the message is long
    /// enough.
    #[inline]
    pub fn mld_addr(&self) -> Option<Ipv6Addr> {
        self.nd_target()
    }
    #[inline]
    fn full_sum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u32 {
        let d = self.buffer.as_ref();
        let len = u32::try_from(d.len()).unwrap_or(u32::MAX);
        let ph = checksum::pseudo_header(&IpAddr::V6(*src), &IpAddr::V6(*dst), IPPROTO_ICMPV6, len);
        checksum::combine(ph, checksum::sum(d))
    }
    /// Verifies the checksum over the whole buffer with the pseudo-header.
    #[inline]
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        checksum::finish(self.full_sum(src, dst)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Bytes after the 8-byte header (for errors: the quoted packet).
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
    pub fn set_mtu(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), field::MTU, v)
    }
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let d = self.buffer.as_mut();
        let s = field::DATA.min(d.len());
        &mut d[s..]
    }
    /// Computes the checksum over the whole buffer with the pseudo-header.
    #[inline]
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::finish(self.full_sum(src, dst));
        self.set_checksum(c)
    }
}

/// Builds an ICMPv6 destination-unreachable message from `src` to `dst`
/// into `out`, quoting as much of the offending packet `quoted` as keeps
/// the whole error within the minimum MTU (1280 − 40 − 8 bytes) and fits
/// `out`; checksum filled. Returns the length (0 if `out` < 8 bytes).
pub fn emit_unreachable(
    code: u8,
    quoted: &[u8],
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    out: &mut [u8],
) -> usize {
    if out.len() < HEADER_LEN {
        return 0;
    }
    let max_quote = MIN_MTU - super::ipv6::HEADER_LEN - HEADER_LEN;
    let q = quoted.len().min(max_quote).min(out.len() - HEADER_LEN);
    let n = HEADER_LEN + q;
    let msg = &mut out[..n];
    msg[..HEADER_LEN].fill(0);
    msg[HEADER_LEN..].copy_from_slice(&quoted[..q]);
    let mut p = Packet::new_unchecked(msg);
    p.set_msg_type(DST_UNREACH);
    p.set_msg_code(code);
    p.fill_checksum(src, dst);
    n
}

/// A neighbour advertisement for `target` with a target link-layer
/// address option carrying `mac`, from `src` to `dst` (ff02::1 for an
/// unsolicited one), `flags` from `ND_NA_FLAG_*`, checksum filled.
/// Send it with hop limit 255.
pub fn neighbor_advert(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    target: &Ipv6Addr,
    mac: EthernetAddress,
    flags: u8,
) -> [u8; NEIGHBOR_ADVERT_LEN] {
    let mut b = [0u8; NEIGHBOR_ADVERT_LEN];
    b[field::TYPE] = ND_NEIGHBOR_ADVERT;
    b[field::ND_FLAGS] = flags;
    b[field::ND_TARGET..field::ND_TARGET + 16].copy_from_slice(&target.octets());
    b[24] = ND_OPT_TARGET_LINKADDR;
    b[25] = 1; // length in units of 8 bytes
    b[26..32].copy_from_slice(&mac.0);
    Packet::new_unchecked(&mut b[..]).fill_checksum(src, dst);
    b
}

/// `neighbor_advert` as a whole IPv6 packet (hop limit 255, as RFC 4861
/// requires of neighbour discovery).
pub fn neighbor_advert_packet(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    target: &Ipv6Addr,
    mac: EthernetAddress,
    flags: u8,
) -> Vec<u8> {
    use super::ipv6;
    let na = neighbor_advert(src, dst, target, mac, flags);
    let mut pkt = vec![0u8; ipv6::HEADER_LEN + na.len()];
    ipv6::Repr {
        src_addr: *src,
        dst_addr: *dst,
        next_header: IPPROTO_ICMPV6,
        payload_len: na.len(),
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut ipv6::Packet::new_unchecked(
        &mut pkt[..ipv6::HEADER_LEN],
    ));
    pkt[ipv6::HEADER_LEN..].copy_from_slice(&na);
    pkt
}

/// An ICMPv6 message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub msg_type: u8,
    pub msg_code: u8,
    /// Bytes 4..8: echo ident/seq, MTU, pointer, ND flags.
    pub rest: [u8; 4],
    pub data_len: usize,
}

impl Repr {
    /// Checks the length and the checksum (which needs the addresses).
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        p: &Packet<&T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
    ) -> Result<Repr> {
        p.check_len()?;
        if !p.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        Ok(Repr {
            msg_type: p.msg_type(),
            msg_code: p.msg_code(),
            rest: rdarr(p.buffer.as_ref(), field::ECHO_IDENT),
            data_len: p.data().len(),
        })
    }
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data_len
    }
    /// Writes the header and fills the checksum over the whole buffer.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        p: &mut Packet<&mut T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
    ) {
        p.set_msg_type(self.msg_type);
        p.set_msg_code(self.msg_code);
        p.buffer.as_mut()[field::ECHO_IDENT..field::DATA].copy_from_slice(&self.rest);
        p.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn na() {
        let src = a("fe80::200:5eff:fe00:101");
        let t = a("2001:db8::1");
        let mac = EthernetAddress([0, 0, 0x5e, 0, 1, 1]);
        let b = neighbor_advert(
            &src,
            &super::super::ipv6::ALL_NODES,
            &t,
            mac,
            ND_NA_FLAG_OVERRIDE,
        );
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(&src, &super::super::ipv6::ALL_NODES));
        assert_eq!(p.msg_type(), ND_NEIGHBOR_ADVERT);
        assert_eq!(p.nd_flags(), ND_NA_FLAG_OVERRIDE);
        assert_eq!(p.nd_target(), Some(t));
        assert_eq!(&p.data()[16..], &[2, 1, 0, 0, 0x5e, 0, 1, 1]);
        assert!(!is_error(p.msg_type()));
    }

    #[test]
    fn unreachable() {
        let (s, d) = (a("2001:db8::1"), a("2001:db8::2"));
        let quoted = vec![0x60u8; 2000];
        let mut out = vec![0u8; 2000];
        let n = emit_unreachable(UNREACH_ADMIN, &quoted, &s, &d, &mut out);
        assert_eq!(n + 40, MIN_MTU);
        let p = Packet::new_checked(&out[..n]).unwrap();
        assert!(p.verify_checksum(&s, &d));
        assert!(is_error(p.msg_type()));
        let r = Repr::parse(&p, &s, &d).unwrap();
        assert_eq!(
            (r.msg_type, r.msg_code, r.data_len),
            (DST_UNREACH, UNREACH_ADMIN, n - 8)
        );
        assert_eq!(Repr::parse(&p, &d, &d), Err(Error::Checksum));
        assert_eq!(emit_unreachable(0, &quoted, &s, &d, &mut out[..5]), 0);
    }

    #[test]
    fn echo_roundtrip() {
        let (s, d) = (a("::1"), a("::1"));
        let r = Repr {
            msg_type: ECHO_REQUEST,
            msg_code: 0,
            rest: [0, 7, 0, 9],
            data_len: 3,
        };
        let mut b = [0u8; 11];
        b[8..].copy_from_slice(b"abc");
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &s, &d);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (7, 9));
        assert_eq!(Repr::parse(&p, &s, &d).unwrap(), r);
        assert_eq!(Packet::new_checked(&b[..7]).unwrap_err(), Error::Truncated);
    }

    proptest! {
        #[test]
        fn no_panic(data in proptest::collection::vec(any::<u8>(), 0..64), outlen in 0usize..80) {
            let s = Ipv6Addr::LOCALHOST;
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident(), p.echo_seq_no(), p.mtu(),
                         p.nd_flags(), p.nd_target(), p.data(), p.verify_checksum(&s, &s));
                let _ = Repr::parse(&p, &s, &s);
            }
            let mut out = vec![0u8; outlen];
            let n = emit_unreachable(0, &data, &s, &s, &mut out);
            prop_assert!(n <= outlen);
        }
    }
}

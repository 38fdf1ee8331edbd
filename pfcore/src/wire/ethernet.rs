//! Ethernet II frames (no 802.1Q walking) and the 48-bit MAC address type.

use super::{rd16, wr16, Error, Result};
use core::fmt;
use core::str::FromStr;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = 14;

/// A MAC address; prints as `00:00:5e:00:01:01`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);
    pub const ZERO: EthernetAddress = EthernetAddress([0; 6]);

    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }
    /// Group bit set (includes broadcast).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }
    /// The multicast MAC an IPv4 group maps to (01:00:5e + low 23 bits).
    pub fn from_ipv4_multicast(group: Ipv4Addr) -> EthernetAddress {
        let o = group.octets();
        EthernetAddress([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
    }
    /// The multicast MAC an IPv6 group maps to (33:33 + low 32 bits).
    pub fn from_ipv6_multicast(group: Ipv6Addr) -> EthernetAddress {
        let o = group.octets();
        EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for EthernetAddress {
    type Err = Error;
    /// Six groups of one or two hex digits separated by `:` (or `-`).
    fn from_str(s: &str) -> Result<EthernetAddress> {
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split(sep) {
            if n == 6 || part.is_empty() || part.len() > 2 {
                return Err(Error::Malformed("ethernet address"));
            }
            out[n] =
                u8::from_str_radix(part, 16).map_err(|_| Error::Malformed("ethernet address"))?;
            n += 1;
        }
        if n != 6 {
            return Err(Error::Malformed("ethernet address"));
        }
        Ok(EthernetAddress(out))
    }
}

mod field {
    pub const DST: usize = 0;
    pub const SRC: usize = 6;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

view! {
    /// A view over an Ethernet II frame.
    Frame
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// At least the 14-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    pub fn dst_addr(&self) -> EthernetAddress {
        EthernetAddress(super::rdarr(self.buffer.as_ref(), field::DST))
    }
    pub fn src_addr(&self) -> EthernetAddress {
        EthernetAddress(super::rdarr(self.buffer.as_ref(), field::SRC))
    }
    pub fn ethertype(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::ETHERTYPE)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    /// Everything after the header (including any trailer padding).
    pub fn payload(&self) -> &'a [u8] {
        let d = self.buffer.as_ref();
        &d[field::PAYLOAD.min(d.len())..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::DST..field::DST + 6].copy_from_slice(&a.0);
    }
    pub fn set_src_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::SRC..field::SRC + 6].copy_from_slice(&a.0);
    }
    pub fn set_ethertype(&mut self, t: u16) {
        wr16(self.buffer.as_mut(), field::ETHERTYPE, t)
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let d = self.buffer.as_mut();
        let start = field::PAYLOAD.min(d.len());
        &mut d[start..]
    }
}

/// The Ethernet header as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_addr: EthernetAddress,
    pub dst_addr: EthernetAddress,
    pub ethertype: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &Frame<&T>) -> Result<Repr> {
        frame.check_len()?;
        Ok(Repr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the header; the buffer must hold at least 14 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, frame: &mut Frame<&mut T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }
    /// A whole frame: this header, then `payload`.
    pub fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; HEADER_LEN + payload.len()];
        self.emit(&mut Frame::new_unchecked(&mut f[..]));
        f[HEADER_LEN..].copy_from_slice(payload);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn address_text() {
        let a: EthernetAddress = "00:00:5e:00:01:01".parse().unwrap();
        assert_eq!(a, EthernetAddress([0, 0, 0x5e, 0, 1, 1]));
        assert_eq!(a.to_string(), "00:00:5e:00:01:01");
        assert_eq!(
            "0:0:5E:0:1:ff"
                .parse::<EthernetAddress>()
                .unwrap()
                .to_string(),
            "00:00:5e:00:01:ff"
        );
        assert_eq!(
            "01-00-5e-00-00-12".parse::<EthernetAddress>().unwrap().0[5],
            0x12
        );
        for bad in [
            "",
            "00:00:5e:00:01",
            "00:00:5e:00:01:01:02",
            "000:0:0:0:0:0",
            "zz:0:0:0:0:0",
            "0::0:0:0:0",
        ] {
            assert!(bad.parse::<EthernetAddress>().is_err(), "{bad}");
        }
        assert!(EthernetAddress::BROADCAST.is_multicast());
        assert!(EthernetAddress::BROADCAST.is_broadcast());
        assert!(a.is_unicast());
        assert_eq!(
            EthernetAddress::from_ipv4_multicast(Ipv4Addr::new(224, 0, 0, 18)).to_string(),
            "01:00:5e:00:00:12"
        );
        assert_eq!(
            EthernetAddress::from_ipv6_multicast("ff02::12".parse().unwrap()).to_string(),
            "33:33:00:00:00:12"
        );
    }

    #[test]
    fn frame_roundtrip() {
        let mut buf = [0u8; 20];
        let repr = Repr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: ETHERTYPE_ARP,
        };
        repr.emit(&mut Frame::new_unchecked(&mut buf[..]));
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&f).unwrap(), repr);
        assert_eq!(f.payload().len(), 6);
        assert_eq!(
            Frame::new_checked(&buf[..13]).unwrap_err(),
            Error::Truncated
        );
    }

    proptest! {
        #[test]
        fn no_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(f) = Frame::new_checked(&data[..]) {
                let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload());
                let _ = Repr::parse(&f);
            }
        }

        #[test]
        fn text_roundtrip(b in any::<[u8; 6]>()) {
            let a = EthernetAddress(b);
            prop_assert_eq!(a.to_string().parse::<EthernetAddress>().unwrap(), a);
        }
    }
}

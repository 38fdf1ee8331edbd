//! ARP for Ethernet/IPv4 (RFC 826), and the gratuitous ARP request CARP
//! broadcasts when it becomes master.

use super::ethernet::{self, EthernetAddress, ETHERTYPE_ARP, ETHERTYPE_IPV4};
use super::{rd16, rdarr, wr16, Error, Result};
use std::net::Ipv4Addr;

/// Hardware type Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// ARP operation code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Request,
    Reply,
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Operation {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            n => Operation::Unknown(n),
        }
    }
}

impl From<Operation> for u16 {
    fn from(o: Operation) -> u16 {
        match o {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(n) => n,
        }
    }
}

view! {
    /// A view over an ARP packet; fields are at the Ethernet/IPv4 offsets.
    Packet
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// At least 28 bytes (the Ethernet/IPv4 layout; other hardware and
    /// protocol types are refused by [`Repr::parse`]).
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    pub fn hardware_type(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::HTYPE)
    }
    pub fn protocol_type(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::PTYPE)
    }
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }
    pub fn operation(&self) -> Operation {
        rd16(self.buffer.as_ref(), field::OPER).into()
    }
    pub fn sender_hw(&self) -> EthernetAddress {
        EthernetAddress(rdarr(self.buffer.as_ref(), field::SHA))
    }
    pub fn sender_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(rdarr::<4>(self.buffer.as_ref(), field::SPA))
    }
    pub fn target_hw(&self) -> EthernetAddress {
        EthernetAddress(rdarr(self.buffer.as_ref(), field::THA))
    }
    pub fn target_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(rdarr::<4>(self.buffer.as_ref(), field::TPA))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_hardware_type(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::HTYPE, v)
    }
    pub fn set_protocol_type(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::PTYPE, v)
    }
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v
    }
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v
    }
    pub fn set_operation(&mut self, op: Operation) {
        wr16(self.buffer.as_mut(), field::OPER, op.into())
    }
    pub fn set_sender_hw(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::SHA..field::SHA + 6].copy_from_slice(&a.0)
    }
    pub fn set_sender_ip(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA..field::SPA + 4].copy_from_slice(&a.octets())
    }
    pub fn set_target_hw(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::THA..field::THA + 6].copy_from_slice(&a.0)
    }
    pub fn set_target_ip(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA..field::TPA + 4].copy_from_slice(&a.octets())
    }
}

/// An Ethernet/IPv4 ARP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub operation: Operation,
    pub sender_hw: EthernetAddress,
    pub sender_ip: Ipv4Addr,
    pub target_hw: EthernetAddress,
    pub target_ip: Ipv4Addr,
}

impl Repr {
    /// Refuses anything but hardware Ethernet (len 6) / protocol IPv4 (len 4).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        if p.hardware_type() != HTYPE_ETHERNET || p.hardware_len() != 6 {
            return Err(Error::Unsupported("arp hardware type"));
        }
        if p.protocol_type() != ETHERTYPE_IPV4 || p.protocol_len() != 4 {
            return Err(Error::Unsupported("arp protocol type"));
        }
        Ok(Repr {
            operation: p.operation(),
            sender_hw: p.sender_hw(),
            sender_ip: p.sender_ip(),
            target_hw: p.target_hw(),
            target_ip: p.target_ip(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }
    /// Writes all 28 bytes; the buffer must hold at least that many.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_hardware_type(HTYPE_ETHERNET);
        p.set_protocol_type(ETHERTYPE_IPV4);
        p.set_hardware_len(6);
        p.set_protocol_len(4);
        p.set_operation(self.operation);
        p.set_sender_hw(self.sender_hw);
        p.set_sender_ip(self.sender_ip);
        p.set_target_hw(self.target_hw);
        p.set_target_ip(self.target_ip);
    }
}

/// A whole Ethernet frame (42 bytes, no padding) carrying a gratuitous
/// ARP request for `ip`: broadcast destination, source `mac`, sender
/// hw = `mac`, sender ip = target ip = `ip`, target hw zero. This is what
/// OpenBSD's carp sends for each address on becoming master.
pub fn gratuitous_request(mac: EthernetAddress, ip: Ipv4Addr) -> [u8; 42] {
    let arp = Repr {
        operation: Operation::Request,
        sender_hw: mac,
        sender_ip: ip,
        target_hw: EthernetAddress::ZERO,
        target_ip: ip,
    };
    frame(mac, EthernetAddress::BROADCAST, &arp)
}

/// A whole Ethernet frame (42 bytes, no padding) from `src` to `dst`
/// carrying `arp`.
pub fn frame(src: EthernetAddress, dst: EthernetAddress, arp: &Repr) -> [u8; 42] {
    let mut buf = [0u8; ethernet::HEADER_LEN + PACKET_LEN];
    let (h, rest) = buf.split_at_mut(ethernet::HEADER_LEN);
    ethernet::Repr {
        src_addr: src,
        dst_addr: dst,
        ethertype: ETHERTYPE_ARP,
    }
    .emit(&mut ethernet::Frame::new_unchecked(h));
    arp.emit(&mut Packet::new_unchecked(rest));
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gratuitous() {
        let mac = EthernetAddress([0, 0, 0x5e, 0, 1, 1]);
        let f = gratuitous_request(mac, Ipv4Addr::new(192, 0, 2, 1));
        let expect: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x5e, 0, 1, 1, 0x08, 0x06, // ethernet
            0, 1, 8, 0, 6, 4, 0, 1, // htype ptype hlen plen oper=request
            0, 0, 0x5e, 0, 1, 1, 192, 0, 2, 1, // sender
            0, 0, 0, 0, 0, 0, 192, 0, 2, 1, // target
        ];
        assert_eq!(f, expect);
        let frame = ethernet::Frame::new_checked(&f[..]).unwrap();
        let p = Packet::new_checked(frame.payload()).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.operation, Operation::Request);
        assert_eq!(r.sender_ip, r.target_ip);
    }

    #[test]
    fn refuses_other_types() {
        let mut f = gratuitous_request(EthernetAddress([2; 6]), Ipv4Addr::new(10, 0, 0, 1));
        f[14 + 5] = 16;
        let p = Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(
            Repr::parse(&p),
            Err(Error::Unsupported("arp protocol type"))
        );
        assert_eq!(Packet::new_checked(&f[15..]).unwrap_err(), Error::Truncated);
    }

    proptest! {
        #[test]
        fn no_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.operation(), p.sender_hw(), p.sender_ip(), p.target_hw(), p.target_ip());
                if let Ok(r) = Repr::parse(&p) {
                    let mut out = [0u8; 28];
                    r.emit(&mut Packet::new_unchecked(&mut out[..]));
                    prop_assert_eq!(&out[..], &data[..28]);
                }
            }
        }
    }
}

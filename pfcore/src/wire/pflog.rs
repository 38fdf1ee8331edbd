//! pflog's header (OpenBSD's `struct pfloghdr`, sys/net/if_pflog.h): what
//! pf says about a logged packet before the packet itself, link type
//! DLT_PFLOG (117) in pcap. 100 bytes (PFLOG_HDRLEN), the `length` field
//! says so. Rule numbers and ports are big-endian as in OpenBSD; the uid
//! and pid fields, host order there, are written big-endian here (readers
//! do not print them). Address families are OpenBSD's numbers (AF_INET 2,
//! AF_INET6 24), which tcpdump's pflog printer expects.

use super::{rd16, rd32, wr16, wr32, Error, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// sizeof(struct pfloghdr), PFLOG_HDRLEN.
pub const HEADER_LEN: usize = 100;
/// PFLOG_RULESET_NAME_SIZE and IFNAMSIZ.
pub const NAME_LEN: usize = 16;
/// The shortest header a reader accepts (PFLOG_OLD_HDRLEN, up to `pad`).
pub const OLD_HEADER_LEN: usize = 63;
/// The pcap link type of pflog files (DLT_PFLOG).
pub const DLT_PFLOG: u32 = 117;

/// OpenBSD's address family numbers.
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 24;

/// pf's rule actions (enum in pfvar.h) as the header carries them.
pub const PF_PASS: u8 = 0;
pub const PF_DROP: u8 = 1;
pub const PF_MATCH: u8 = 12;

/// pf's directions: PF_INOUT, PF_IN, PF_OUT.
pub const PF_IN: u8 = 1;
pub const PF_OUT: u8 = 2;

/// No subrule: the rule is in the main ruleset.
pub const NO_SUBRULE: u32 = u32::MAX;
/// UID_MAX and NO_PID (PID_MAX + 1): no socket owner known.
pub const NO_UID: u32 = u32::MAX;
pub const NO_PID: u32 = 100_000;

mod field {
    pub const LENGTH: usize = 0;
    pub const AF: usize = 1;
    pub const ACTION: usize = 2;
    pub const REASON: usize = 3;
    pub const IFNAME: usize = 4;
    pub const RULESET: usize = 20;
    pub const RULENR: usize = 36;
    pub const SUBRULENR: usize = 40;
    pub const UID: usize = 44;
    pub const PID: usize = 48;
    pub const RULE_UID: usize = 52;
    pub const RULE_PID: usize = 56;
    pub const DIR: usize = 60;
    pub const REWRITTEN: usize = 61;
    pub const NAF: usize = 62;
    pub const SADDR: usize = 64;
    pub const DADDR: usize = 80;
    pub const SPORT: usize = 96;
    pub const DPORT: usize = 98;
}

view! {
    /// A view over a pflog header (and the packet after it).
    Header
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Rejects: fewer than 100 bytes, a length field that is not 100
    /// (the old 63-byte header is not written by anyone now).
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if usize::from(b[field::LENGTH]) != HEADER_LEN {
            return Err(Error::Malformed("pflog header length"));
        }
        Ok(())
    }
    pub fn length(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }
    pub fn af(&self) -> u8 {
        self.buffer.as_ref()[field::AF]
    }
    pub fn action(&self) -> u8 {
        self.buffer.as_ref()[field::ACTION]
    }
    pub fn reason(&self) -> u8 {
        self.buffer.as_ref()[field::REASON]
    }
    /// The interface name, up to its first NUL.
    pub fn ifname(&self) -> &[u8] {
        name(&self.buffer.as_ref()[field::IFNAME..field::IFNAME + NAME_LEN])
    }
    /// The anchor's name (empty for the main ruleset).
    pub fn ruleset(&self) -> &[u8] {
        name(&self.buffer.as_ref()[field::RULESET..field::RULESET + NAME_LEN])
    }
    pub fn rulenr(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::RULENR)
    }
    pub fn subrulenr(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::SUBRULENR)
    }
    pub fn uid(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::UID)
    }
    pub fn pid(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::PID)
    }
    pub fn rule_uid(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::RULE_UID)
    }
    pub fn rule_pid(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::RULE_PID)
    }
    pub fn dir(&self) -> u8 {
        self.buffer.as_ref()[field::DIR]
    }
    pub fn rewritten(&self) -> u8 {
        self.buffer.as_ref()[field::REWRITTEN]
    }
    pub fn naf(&self) -> u8 {
        self.buffer.as_ref()[field::NAF]
    }
    pub fn saddr(&self) -> Option<IpAddr> {
        addr(
            self.naf(),
            &self.buffer.as_ref()[field::SADDR..field::SADDR + 16],
        )
    }
    pub fn daddr(&self) -> Option<IpAddr> {
        addr(
            self.naf(),
            &self.buffer.as_ref()[field::DADDR..field::DADDR + 16],
        )
    }
    pub fn sport(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::SPORT)
    }
    pub fn dport(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::DPORT)
    }
    /// The logged packet, after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

fn name(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

fn addr(af: u8, b: &[u8]) -> Option<IpAddr> {
    match af {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        AF_INET6 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[..16]);
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

/// The OpenBSD address family of an address.
pub fn af_of(a: &IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// A pflog header as plain fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub af: u8,
    pub action: u8,
    pub reason: u8,
    pub ifname: [u8; NAME_LEN],
    pub ruleset: [u8; NAME_LEN],
    pub rulenr: u32,
    pub subrulenr: u32,
    pub uid: u32,
    pub pid: u32,
    pub rule_uid: u32,
    pub rule_pid: u32,
    pub dir: u8,
    pub rewritten: u8,
    pub naf: u8,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub sport: u16,
    pub dport: u16,
}

impl Default for Repr {
    fn default() -> Repr {
        Repr {
            af: 0,
            action: PF_PASS,
            reason: 0,
            ifname: [0; NAME_LEN],
            ruleset: [0; NAME_LEN],
            rulenr: 0,
            subrulenr: NO_SUBRULE,
            uid: NO_UID,
            pid: NO_PID,
            rule_uid: 0,
            rule_pid: 0,
            dir: 0,
            rewritten: 0,
            naf: 0,
            saddr: [0; 16],
            daddr: [0; 16],
            sport: 0,
            dport: 0,
        }
    }
}

/// A name in a fixed 16-byte field: cut to 15 bytes, NUL-terminated (as
/// strlcpy does).
pub fn name_field(s: &str) -> [u8; NAME_LEN] {
    let mut f = [0u8; NAME_LEN];
    let n = s.len().min(NAME_LEN - 1);
    f[..n].copy_from_slice(&s.as_bytes()[..n]);
    f
}

/// An address in pf_addr's 16 bytes (IPv4 in the first four).
pub fn addr_field(a: &IpAddr) -> [u8; 16] {
    let mut f = [0u8; 16];
    match a {
        IpAddr::V4(v4) => f[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => f = v6.octets(),
    }
    f
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(h: &Header<T>) -> Result<Repr> {
        h.check_len()?;
        let b = h.buffer.as_ref();
        let mut r = Repr {
            af: h.af(),
            action: h.action(),
            reason: h.reason(),
            rulenr: h.rulenr(),
            subrulenr: h.subrulenr(),
            uid: h.uid(),
            pid: h.pid(),
            rule_uid: h.rule_uid(),
            rule_pid: h.rule_pid(),
            dir: h.dir(),
            rewritten: h.rewritten(),
            naf: h.naf(),
            sport: h.sport(),
            dport: h.dport(),
            ..Repr::default()
        };
        r.ifname
            .copy_from_slice(&b[field::IFNAME..field::IFNAME + NAME_LEN]);
        r.ruleset
            .copy_from_slice(&b[field::RULESET..field::RULESET + NAME_LEN]);
        r.saddr.copy_from_slice(&b[field::SADDR..field::SADDR + 16]);
        r.daddr.copy_from_slice(&b[field::DADDR..field::DADDR + 16]);
        Ok(r)
    }

    /// Writes the 100 header bytes at the start of `b`. Err: `b` is
    /// shorter than HEADER_LEN.
    pub fn emit(&self, b: &mut [u8]) -> Result<()> {
        let b = b.get_mut(..HEADER_LEN).ok_or(Error::Truncated)?;
        b[field::LENGTH] = HEADER_LEN as u8;
        b[field::AF] = self.af;
        b[field::ACTION] = self.action;
        b[field::REASON] = self.reason;
        b[field::IFNAME..field::IFNAME + NAME_LEN].copy_from_slice(&self.ifname);
        b[field::RULESET..field::RULESET + NAME_LEN].copy_from_slice(&self.ruleset);
        wr32(b, field::RULENR, self.rulenr);
        wr32(b, field::SUBRULENR, self.subrulenr);
        wr32(b, field::UID, self.uid);
        wr32(b, field::PID, self.pid);
        wr32(b, field::RULE_UID, self.rule_uid);
        wr32(b, field::RULE_PID, self.rule_pid);
        b[field::DIR] = self.dir;
        b[field::REWRITTEN] = self.rewritten;
        b[field::NAF] = self.naf;
        b[field::NAF + 1] = 0;
        b[field::SADDR..field::SADDR + 16].copy_from_slice(&self.saddr);
        b[field::DADDR..field::DADDR + 16].copy_from_slice(&self.daddr);
        wr16(b, field::SPORT, self.sport);
        wr16(b, field::DPORT, self.dport);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Repr {
        Repr {
            af: AF_INET,
            action: PF_DROP,
            reason: 0,
            ifname: name_field("veth0"),
            ruleset: name_field("ftp-proxy"),
            rulenr: 3,
            subrulenr: 7,
            dir: PF_IN,
            naf: AF_INET,
            saddr: addr_field(&"10.1.0.2".parse().unwrap()),
            daddr: addr_field(&"10.2.0.2".parse().unwrap()),
            sport: 40000,
            dport: 22,
            ..Repr::default()
        }
    }

    #[test]
    fn layout_is_openbsds() {
        let mut b = [0xffu8; HEADER_LEN];
        sample().emit(&mut b).unwrap();
        assert_eq!(b[0], 100);
        assert_eq!((b[1], b[2], b[3]), (2, 1, 0));
        assert_eq!(&b[4..10], b"veth0\0");
        assert_eq!(&b[20..30], b"ftp-proxy\0");
        assert_eq!(&b[36..44], &[0, 0, 0, 3, 0, 0, 0, 7]);
        assert_eq!(&b[44..48], &[0xff; 4]);
        assert_eq!(&b[48..52], &100_000u32.to_be_bytes());
        assert_eq!(&b[60..64], &[1, 0, 2, 0]);
        assert_eq!(&b[64..68], &[10, 1, 0, 2]);
        assert_eq!(&b[68..80], &[0; 12]);
        assert_eq!(&b[80..84], &[10, 2, 0, 2]);
        assert_eq!(&b[96..100], &[0x9c, 0x40, 0, 22]);
    }

    #[test]
    fn parse_gives_back_what_emit_wrote() {
        let mut b = vec![0u8; HEADER_LEN + 3];
        sample().emit(&mut b).unwrap();
        b[HEADER_LEN..].copy_from_slice(&[0x45, 0, 0]);
        let h = Header::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&h).unwrap(), sample());
        assert_eq!(h.ifname(), b"veth0");
        assert_eq!(h.ruleset(), b"ftp-proxy");
        assert_eq!(h.saddr(), Some("10.1.0.2".parse().unwrap()));
        assert_eq!(h.daddr(), Some("10.2.0.2".parse().unwrap()));
        assert_eq!(h.payload(), &[0x45, 0, 0]);
    }

    #[test]
    fn ipv6_addresses_fill_the_field() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let r = Repr {
            af: af_of(&a),
            naf: af_of(&a),
            saddr: addr_field(&a),
            ..Repr::default()
        };
        let mut b = [0u8; HEADER_LEN];
        r.emit(&mut b).unwrap();
        let h = Header::new_checked(&b[..]).unwrap();
        assert_eq!((h.af(), h.saddr()), (24, Some(a)));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(Header::new_checked(&[100u8; 99][..]), Err(Error::Truncated));
        let mut b = [0u8; HEADER_LEN];
        b[0] = 63;
        assert!(matches!(
            Header::new_checked(&b[..]),
            Err(Error::Malformed(_))
        ));
        assert_eq!(sample().emit(&mut [0u8; 10]), Err(Error::Truncated));
        let long = name_field("a-name-longer-than-sixteen");
        assert_eq!((long[14], long[15]), (b't', 0));
        let h = Header::new_unchecked(&b[..]);
        assert_eq!((h.saddr(), h.ifname()), (None, &b""[..]));
    }
}

//! TCP segments (RFC 9293): header view, option iterator, checksum with
//! the pseudo-header, and a `Repr` for option-less headers (RSTs, ACKs).

use super::checksum;
use super::{rd16, rd32, wr16, wr32, Error, Result, IPPROTO_TCP};
use std::net::IpAddr;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;
pub const ECE: u8 = 0x40;
pub const CWR: u8 = 0x80;

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Longest header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;
/// The MSS a host assumes when a SYN has no MSS option (RFC 9293 3.7.1
/// says 536; BSD's tcp_mssdflt, which pf uses, is 512).
pub const MSS_DEFAULT: u16 = 512;

/// TCP option kinds.
pub const OPT_EOL: u8 = 0;
pub const OPT_NOP: u8 = 1;
pub const OPT_MSS: u8 = 2;
pub const OPT_WSCALE: u8 = 3;
pub const OPT_SACK_PERMITTED: u8 = 4;
pub const OPT_SACK: u8 = 5;
pub const OPT_TIMESTAMP: u8 = 8;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ_NUM: usize = 4;
    pub const ACK_NUM: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

view! {
    /// A view over a TCP segment (header + payload; the buffer is the segment).
    Packet
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Rejects: fewer than 20 bytes, data offset < 5, header beyond the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = usize::from(self.header_len());
        if hl < HEADER_LEN {
            return Err(Error::Malformed("tcp data offset"));
        }
        if hl > len {
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
    #[inline]
    pub fn seq_number(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::SEQ_NUM)
    }
    #[inline]
    pub fn ack_number(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::ACK_NUM)
    }
    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }
    /// The eight flag bits (FIN .. CWR).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    #[inline]
    pub fn window_len(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::WIN_SIZE)
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::CHECKSUM)
    }
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::URGENT)
    }
    /// Header end clamped to the buffer.
    #[inline]
    fn header_end(&self) -> usize {
        usize::from(self.header_len()).min(self.buffer.as_ref().len())
    }
    /// Sequence space the segment occupies: payload length, +1 for SYN, +1 for FIN.
    #[inline]
    pub fn segment_len(&self) -> usize {
        let d = self.buffer.as_ref().len() - self.header_end();
        d + usize::from(self.flags() & SYN != 0) + usize::from(self.flags() & FIN != 0)
    }
    #[inline]
    fn pseudo_sum(&self, src: &IpAddr, dst: &IpAddr) -> u32 {
        let len = u32::try_from(self.buffer.as_ref().len()).unwrap_or(u32::MAX);
        checksum::pseudo_header(src, dst, IPPROTO_TCP, len)
    }
    /// Verifies the checksum over the whole buffer with the pseudo-header.
    #[inline]
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        let s = checksum::combine(
            self.pseudo_sum(src, dst),
            checksum::sum(self.buffer.as_ref()),
        );
        checksum::finish(s) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Option bytes (between byte 20 and the header length).
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        let end = self.header_end();
        &self.buffer.as_ref()[HEADER_LEN.min(end)..end]
    }
    /// Iterates over the options; stops at the first malformed one.
    #[inline]
    pub fn options_iter(&self) -> TcpOptionIter<'a> {
        TcpOptionIter::new(self.options())
    }
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_end()..]
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
    pub fn set_seq_number(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), field::SEQ_NUM, v)
    }
    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), field::ACK_NUM, v)
    }
    /// Sets the data offset from a byte count (rounded down to 4); the
    /// reserved bits are cleared.
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        self.buffer.as_mut()[field::DATA_OFF] = ((len / 4) & 0x0f) << 4;
    }
    #[inline]
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v
    }
    #[inline]
    pub fn set_window_len(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::WIN_SIZE, v)
    }
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::CHECKSUM, v)
    }
    #[inline]
    pub fn set_urgent_at(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::URGENT, v)
    }
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_end();
        &mut self.buffer.as_mut()[HEADER_LEN.min(end)..end]
    }
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let s = self.header_end();
        &mut self.buffer.as_mut()[s..]
    }
    /// Computes the checksum over the whole buffer (the segment) with the
    /// pseudo-header for `src` → `dst`.
    #[inline]
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let s = checksum::combine(
            self.pseudo_sum(src, dst),
            checksum::sum(self.buffer.as_ref()),
        );
        self.set_checksum(checksum::finish(s))
    }
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpOption {
    EndOfList,
    NoOp,
    MaxSegmentSize(u16),
    WindowScale(u8),
    SackPermitted,
    /// Up to four (left, right) edges; unused slots are `None`.
    SackRange([Option<(u32, u32)>; 4]),
    Timestamp {
        tsval: u32,
        tsecr: u32,
    },
    /// A well-formed option of a kind not decoded here.
    Unknown {
        kind: u8,
    },
}

impl TcpOption {
    /// Bytes the option occupies when emitted (`Unknown` has no body: 2).
    #[inline]
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOp => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted | TcpOption::Unknown { .. } => 2,
            TcpOption::SackRange(r) => 2 + 8 * r.iter().flatten().count(),
            TcpOption::Timestamp { .. } => 10,
        }
    }
    /// Writes the option at the start of `buf`; returns the bytes written,
    /// or 0 if `buf` is too short.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let n = self.buffer_len();
        if buf.len() < n {
            return 0;
        }
        match *self {
            TcpOption::EndOfList => buf[0] = OPT_EOL,
            TcpOption::NoOp => buf[0] = OPT_NOP,
            TcpOption::MaxSegmentSize(mss) => {
                buf[..2].copy_from_slice(&[OPT_MSS, 4]);
                wr16(buf, 2, mss);
            }
            TcpOption::WindowScale(s) => buf[..3].copy_from_slice(&[OPT_WSCALE, 3, s]),
            TcpOption::SackPermitted => buf[..2].copy_from_slice(&[OPT_SACK_PERMITTED, 2]),
            TcpOption::Unknown { kind } => buf[..2].copy_from_slice(&[kind, 2]),
            TcpOption::SackRange(r) => {
                buf[..2].copy_from_slice(&[OPT_SACK, n as u8]);
                for (i, (l, rr)) in r.iter().flatten().enumerate() {
                    wr32(buf, 2 + 8 * i, *l);
                    wr32(buf, 6 + 8 * i, *rr);
                }
            }
            TcpOption::Timestamp { tsval, tsecr } => {
                buf[..2].copy_from_slice(&[OPT_TIMESTAMP, 10]);
                wr32(buf, 2, tsval);
                wr32(buf, 6, tsecr);
            }
        }
        n
    }
}

/// Iterator over TCP options. Yields `EndOfList` once and then stops;
/// stops silently on a truncated option or a known kind with a wrong length.
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> TcpOptionIter<'a> {
    #[inline]
    pub fn new(options: &'a [u8]) -> TcpOptionIter<'a> {
        TcpOptionIter {
            data: options,
            pos: 0,
        }
    }
    /// Like `next`, also returning the option's offset in the option bytes
    /// (to patch it in place, e.g. MSS clamping).
    #[inline]
    pub fn next_with_offset(&mut self) -> Option<(usize, TcpOption)> {
        let at = self.pos;
        self.next().map(|o| (at, o))
    }
}

impl Iterator for TcpOptionIter<'_> {
    type Item = TcpOption;

    #[inline]
    fn next(&mut self) -> Option<TcpOption> {
        let rest = self.data.get(self.pos..)?;
        let kind = *rest.first()?;
        match kind {
            OPT_EOL => {
                self.pos = self.data.len();
                return Some(TcpOption::EndOfList);
            }
            OPT_NOP => {
                self.pos += 1;
                return Some(TcpOption::NoOp);
            }
            _ => {}
        }
        let stop = |s: &mut Self| {
            s.pos = s.data.len();
            None
        };
        let len = match rest.get(1) {
            Some(&l) if l >= 2 && usize::from(l) <= rest.len() => usize::from(l),
            _ => return stop(self),
        };
        let body = &rest[2..len];
        let opt = match (kind, len) {
            (OPT_MSS, 4) => TcpOption::MaxSegmentSize(rd16(body, 0)),
            (OPT_WSCALE, 3) => TcpOption::WindowScale(body[0]),
            (OPT_SACK_PERMITTED, 2) => TcpOption::SackPermitted,
            (OPT_SACK, l) if (10..=34).contains(&l) && (l - 2) % 8 == 0 => {
                let mut r = [None; 4];
                for (i, slot) in r.iter_mut().enumerate().take((l - 2) / 8) {
                    *slot = Some((rd32(body, 8 * i), rd32(body, 8 * i + 4)));
                }
                TcpOption::SackRange(r)
            }
            (OPT_TIMESTAMP, 10) => TcpOption::Timestamp {
                tsval: rd32(body, 0),
                tsecr: rd32(body, 4),
            },
            (OPT_MSS | OPT_WSCALE | OPT_SACK_PERMITTED | OPT_SACK | OPT_TIMESTAMP, _) => {
                return stop(self)
            }
            (kind, _) => TcpOption::Unknown { kind },
        };
        self.pos += len;
        Some(opt)
    }
}

/// An option-less TCP header. Used to build RSTs and bare ACKs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: u32,
    pub ack_number: u32,
    pub flags: u8,
    pub window_len: u16,
}

impl Repr {
    /// Extracts the fields (options and payload are ignored; the checksum
    /// is not verified since that needs the addresses: use
    /// [`Packet::verify_checksum`]).
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq_number: p.seq_number(),
            ack_number: p.ack_number(),
            flags: p.flags(),
            window_len: p.window_len(),
        })
    }
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes a 20-byte header with a zero checksum and urgent pointer;
    /// call [`Packet::fill_checksum`] after the payload (if any) is in place.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq_number(self.seq_number);
        p.set_ack_number(self.ack_number);
        p.set_header_len(HEADER_LEN as u8);
        p.set_flags(self.flags);
        p.set_window_len(self.window_len);
        p.set_checksum(0);
        p.set_urgent_at(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn syn_with_options() -> Vec<u8> {
        let mut b = vec![0u8; 40];
        let r = Repr {
            src_port: 51744,
            dst_port: 22,
            seq_number: 1,
            ack_number: 0,
            flags: SYN,
            window_len: 64240,
        };
        r.emit(&mut Packet::new_unchecked(&mut b[..]));
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_header_len(40);
        let o = p.options_mut();
        let mut n = TcpOption::MaxSegmentSize(1460).emit(o);
        n += TcpOption::SackPermitted.emit(&mut o[n..]);
        n += TcpOption::Timestamp {
            tsval: 0x01020304,
            tsecr: 0,
        }
        .emit(&mut o[n..]);
        n += TcpOption::NoOp.emit(&mut o[n..]);
        n += TcpOption::WindowScale(7).emit(&mut o[n..]);
        assert_eq!(n, 20);
        b
    }

    #[test]
    fn options() {
        let b = syn_with_options();
        let p = Packet::new_checked(&b[..]).unwrap();
        let opts: Vec<_> = p.options_iter().collect();
        assert_eq!(
            opts,
            vec![
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamp {
                    tsval: 0x01020304,
                    tsecr: 0
                },
                TcpOption::NoOp,
                TcpOption::WindowScale(7),
            ]
        );
        let mut it = p.options_iter();
        assert_eq!(
            it.next_with_offset(),
            Some((0, TcpOption::MaxSegmentSize(1460)))
        );
        assert_eq!(it.next_with_offset(), Some((4, TcpOption::SackPermitted)));
        // Malformed: MSS with length 3, then a good option that must not be reached.
        let bad = [OPT_MSS, 3, 0, OPT_NOP];
        assert_eq!(TcpOptionIter::new(&bad).count(), 0);
        let bad = [OPT_NOP, 99, 1];
        assert_eq!(
            TcpOptionIter::new(&bad).collect::<Vec<_>>(),
            vec![TcpOption::NoOp]
        );
        let bad = [30, 0];
        assert_eq!(TcpOptionIter::new(&bad).count(), 0);
        let unk = [30, 4, 1, 2, OPT_EOL, OPT_NOP];
        assert_eq!(
            TcpOptionIter::new(&unk).collect::<Vec<_>>(),
            vec![TcpOption::Unknown { kind: 30 }, TcpOption::EndOfList]
        );
        let sack = [OPT_SACK, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4];
        assert_eq!(
            TcpOptionIter::new(&sack).next(),
            Some(TcpOption::SackRange([
                Some((1, 2)),
                Some((3, 4)),
                None,
                None
            ]))
        );
    }

    #[test]
    fn checksum_v4_v6() {
        let mut b = syn_with_options();
        b.extend_from_slice(b"hello");
        let s4: IpAddr = Ipv4Addr::new(192, 0, 2, 1).into();
        let d4: IpAddr = Ipv4Addr::new(192, 0, 2, 2).into();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(&s4, &d4);
        assert!(p.verify_checksum(&s4, &d4));
        assert!(!p.verify_checksum(&d4, &d4));
        let s6: IpAddr = "2001:db8::1".parse::<Ipv6Addr>().unwrap().into();
        let d6: IpAddr = "2001:db8::2".parse::<Ipv6Addr>().unwrap().into();
        p.fill_checksum(&s6, &d6);
        assert!(p.verify_checksum(&s6, &d6));
        // Incremental port rewrite keeps the checksum valid.
        let old = p.src_port();
        let c = checksum::update16(p.checksum(), old, 40000);
        p.set_src_port(40000);
        p.set_checksum(c);
        assert!(p.verify_checksum(&s6, &d6));
        assert_eq!(Packet::new_unchecked(&b[..]).payload(), b"hello");
    }

    #[test]
    fn rst() {
        let r = Repr {
            src_port: 22,
            dst_port: 51744,
            seq_number: 0,
            ack_number: 42,
            flags: RST | ACK,
            window_len: 0,
        };
        let mut b = [0xffu8; 20];
        r.emit(&mut Packet::new_unchecked(&mut b[..]));
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), r);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.segment_len(), 0);
        assert_eq!(p.urgent_at(), 0);
    }

    proptest! {
        #[test]
        fn no_panic(data in proptest::collection::vec(any::<u8>(), 0..80), off in 0u8..16) {
            let mut data = data;
            if data.len() > 12 {
                data[12] = off << 4;
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number(), p.header_len(),
                         p.flags(), p.window_len(), p.checksum(), p.urgent_at(), p.options(), p.payload(),
                         p.segment_len());
                let a: IpAddr = Ipv4Addr::LOCALHOST.into();
                let _ = p.verify_checksum(&a, &a);
                let _ = p.options_iter().count();
                let _ = Repr::parse(&p);
                let mut owned = data.clone();
                let mut q = Packet::new_unchecked(&mut owned[..]);
                q.set_header_len(60);
                let _ = (q.options_mut().len(), q.payload_mut().len());
            }
        }

        #[test]
        fn option_iter_no_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut it = TcpOptionIter::new(&data);
            let mut n = 0;
            while let Some((off, o)) = it.next_with_offset() {
                prop_assert!(off < data.len());
                let mut buf = [0u8; 40];
                let _ = o.emit(&mut buf);
                n += 1;
                prop_assert!(n <= 40);
            }
        }

        #[test]
        fn roundtrip(src_port in any::<u16>(), dst_port in any::<u16>(), seq_number in any::<u32>(),
                     ack_number in any::<u32>(), flags in any::<u8>(), window_len in any::<u16>()) {
            let r = Repr { src_port, dst_port, seq_number, ack_number, flags, window_len };
            let mut b = [0u8; 20];
            r.emit(&mut Packet::new_unchecked(&mut b[..]));
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
        }
    }
}

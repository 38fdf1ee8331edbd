//! An NFQUEUE client (nfnetlink_queue over a NETLINK_NETFILTER socket):
//! bind one queue, receive its packets, give verdicts, at any time and in
//! any order, by packet id.
//!
//! pfd's own rather than a crate's because a verdict must be able to come
//! long after the packet: a fragment waits in the kernel's queue until its
//! datagram is complete, and all pfd keeps of it is its id and mark. The
//! socket is a plain file descriptor, so the data path can wait for
//! packets with a timeout and give late verdicts (fragments that timed
//! out) without a packet arriving.
//!
//! The receive buffer is reused; a packet's bytes are read with
//! [`Queue::payload`] until the next `recv`. Nothing here panics on what
//! the kernel sends: messages and attributes are bounds checked and what
//! is not understood is skipped.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const NETLINK_NETFILTER: libc::c_int = 12;
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_ACK: u16 = 0x04;
const NFNL_SUBSYS_QUEUE: u16 = 3;
const NFQNL_MSG_PACKET: u16 = 0;
const NFQNL_MSG_VERDICT: u16 = 1;
const NFQNL_MSG_CONFIG: u16 = 2;
const NFGENMSG_LEN: usize = 4;
const NLA_TYPE_MASK: u16 = 0x3fff;

// Packet attributes.
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_MARK: u16 = 3;
const NFQA_IFINDEX_INDEV: u16 = 5;
const NFQA_IFINDEX_OUTDEV: u16 = 6;
const NFQA_PAYLOAD: u16 = 10;
const NFQA_UID: u16 = 16;
const NFQA_GID: u16 = 17;

// Configuration attributes.
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_COPY_PACKET: u8 = 2;
const NFQA_CFG_F_FAIL_OPEN: u32 = 0x01;
const NFQA_CFG_F_UID_GID: u32 = 0x08;

/// Bytes of a packet copied to us: all of it (IPv4 and IPv6 packets fit).
const COPY_RANGE: u32 = 0xffff;

/// What happens to a queued packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Drop,
    Accept,
    /// On to another queue.
    Queue(u16),
}

impl Verdict {
    fn code(self) -> u32 {
        match self {
            Verdict::Drop => 0,
            Verdict::Accept => 1,
            Verdict::Queue(n) => (n as u32) << 16 | 3,
        }
    }
}

/// A queued packet: what the kernel said about it. Its bytes are in the
/// queue's buffer (`Queue::payload`) until the next `recv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub id: u32,
    /// The netfilter hook (0 PREROUTING ... 4 POSTROUTING).
    pub hook: u8,
    pub mark: u32,
    pub indev: u32,
    pub outdev: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Where the payload is in the receive buffer; None: the kernel sent
    /// none (the queue was not configured yet).
    payload: Option<(usize, usize)>,
}

/// One bound queue.
pub struct Queue {
    fd: OwnedFd,
    num: u16,
    buf: Vec<u8>,
    /// The received datagram is `buf[..len]`; messages before `at` are read.
    len: usize,
    at: usize,
    out: Vec<u8>,
    seq: u32,
    /// Error messages the kernel sent about our verdicts (a packet id it
    /// no longer has).
    pub errors: u64,
}

fn put_u16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_ne_bytes());
}

fn put_attr(b: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    put_u16(b, len as u16);
    put_u16(b, ty);
    b.extend_from_slice(data);
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
}

fn u16_ne(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_ne(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u32_be(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The attributes in `b[from..to]`: (type, value offset, value length).
fn attrs(b: &[u8], from: usize, to: usize) -> impl Iterator<Item = (u16, usize, usize)> + '_ {
    let mut at = from;
    std::iter::from_fn(move || {
        let len = u16_ne(b, at)? as usize;
        let ty = u16_ne(b, at + 2)? & NLA_TYPE_MASK;
        if len < 4 || at + len > to {
            return None;
        }
        let item = (ty, at + 4, len - 4);
        at += align4(len);
        Some(item)
    })
}

/// Parse an NFQNL_MSG_PACKET whose payload (after the nfgenmsg) is
/// `b[from..to]`.
fn parse_packet(b: &[u8], from: usize, to: usize) -> Option<Packet> {
    let mut p = Packet {
        id: 0,
        hook: 0,
        mark: 0,
        indev: 0,
        outdev: 0,
        uid: None,
        gid: None,
        payload: None,
    };
    let mut have_hdr = false;
    for (ty, off, len) in attrs(b, from, to) {
        let v = &b[off..off + len];
        match ty {
            NFQA_PACKET_HDR if len >= 7 => {
                p.id = u32_be(v)?;
                p.hook = v[6];
                have_hdr = true;
            }
            NFQA_MARK => p.mark = u32_be(v)?,
            NFQA_IFINDEX_INDEV => p.indev = u32_be(v)?,
            NFQA_IFINDEX_OUTDEV => p.outdev = u32_be(v)?,
            NFQA_UID => p.uid = u32_be(v),
            NFQA_GID => p.gid = u32_be(v),
            NFQA_PAYLOAD => p.payload = Some((off, len)),
            _ => {}
        }
    }
    have_hdr.then_some(p)
}

impl Queue {
    /// Bind queue `num`: whole packets, up to `maxlen` waiting in the
    /// kernel (those held for a late verdict included), the sockets'
    /// owners of local packets, and no fail-open (a full queue drops).
    pub fn open(num: u16, maxlen: u32) -> io::Result<Queue> {
        // SAFETY: plain socket(2); the descriptor is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: a zeroed sockaddr_nl is valid (pid 0: the kernel picks).
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: sa is a valid sockaddr_nl of the size given.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let one: libc::c_int = 1;
        // NETLINK_NO_ENOBUFS: a burst the socket cannot take is dropped by
        // the kernel (fail-closed) rather than reported as an error.
        // SAFETY: setsockopt with a c_int option value.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_NETLINK,
                libc::NETLINK_NO_ENOBUFS,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
        let rcvbuf: libc::c_int = 8 << 20;
        // SAFETY: as above.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&rcvbuf as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
        let mut q = Queue {
            fd,
            num,
            buf: vec![0; 128 * 1024],
            len: 0,
            at: 0,
            out: Vec::with_capacity(70 * 1024),
            seq: 0,
            errors: 0,
        };
        // One configuration message: bind, copy whole packets, queue
        // length, flags.
        let mut attrs = Vec::with_capacity(64);
        // struct nfqnl_msg_config_cmd { u8 command; u8 pad; be16 pf; }
        put_attr(&mut attrs, NFQA_CFG_CMD, &[NFQNL_CFG_CMD_BIND, 0, 0, 0]);
        // struct nfqnl_msg_config_params { be32 copy_range; u8 copy_mode; }
        let mut params = COPY_RANGE.to_be_bytes().to_vec();
        params.push(NFQNL_COPY_PACKET);
        put_attr(&mut attrs, NFQA_CFG_PARAMS, &params);
        put_attr(&mut attrs, NFQA_CFG_QUEUE_MAXLEN, &maxlen.to_be_bytes());
        let mask = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_UID_GID;
        put_attr(&mut attrs, NFQA_CFG_MASK, &mask.to_be_bytes());
        put_attr(
            &mut attrs,
            NFQA_CFG_FLAGS,
            &NFQA_CFG_F_UID_GID.to_be_bytes(),
        );
        let seq = q.send(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, &attrs)?;
        q.wait_ack(seq)
            .map_err(|e| io::Error::new(e.kind(), format!("NFQUEUE {num}: {e}")))?;
        Ok(q)
    }

    pub fn num(&self) -> u16 {
        self.num
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Send one nfnetlink queue message with attributes `attrs`; returns
    /// its sequence number.
    fn send(&mut self, ty: u16, flags: u16, attrs: &[u8]) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut m = std::mem::take(&mut self.out);
        m.clear();
        let len = NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        put_u16(&mut m, NFNL_SUBSYS_QUEUE << 8 | ty);
        put_u16(&mut m, flags);
        m.extend_from_slice(&self.seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        // struct nfgenmsg { u8 family; u8 version; be16 res_id; }
        m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
        m.extend_from_slice(&self.num.to_be_bytes());
        m.extend_from_slice(attrs);
        let r = self.send_raw(&m);
        self.out = m;
        r.map(|_| self.seq)
    }

    fn send_raw(&self, m: &[u8]) -> io::Result<()> {
        loop {
            // SAFETY: m is valid for m.len() bytes.
            let n = unsafe { libc::send(self.fd.as_raw_fd(), m.as_ptr().cast(), m.len(), 0) };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Read until the kernel answers request `seq`. Packets that arrive
    /// meanwhile are dropped (none is filtered before the queue is set up).
    fn wait_ack(&mut self, seq: u32) -> io::Result<()> {
        for _ in 0..64 {
            self.fill(Some(1000))?;
            if self.len == 0 {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"));
            }
            let mut at = 0;
            let mut early = Vec::new();
            let mut answer = None;
            while let Some((ty, mseq, from, to, next)) = self.message(at) {
                at = next;
                if ty == NLMSG_ERROR && mseq == seq {
                    let err = u32_ne(&self.buf, from).map_or(0, |e| e as i32);
                    answer = Some(err);
                } else if ty == NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET {
                    if let Some(p) = parse_packet(&self.buf, from + NFGENMSG_LEN, to) {
                        early.push(p.id);
                    }
                }
            }
            self.len = 0;
            self.at = 0;
            for id in early {
                self.verdict(id, Verdict::Drop, None, None)?;
            }
            match answer {
                Some(0) => return Ok(()),
                Some(e) => return Err(io::Error::from_raw_os_error(-e)),
                None => {}
            }
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"))
    }

    /// The message at `at` of the received datagram: (type, seq, payload
    /// start, payload end, next message).
    fn message(&self, at: usize) -> Option<(u16, u32, usize, usize, usize)> {
        let b = &self.buf[..self.len];
        let len = u32_ne(b, at)? as usize;
        let ty = u16_ne(b, at + 4)?;
        let seq = u32_ne(b, at + 8)?;
        if len < NLMSG_HDRLEN || at + len > b.len() {
            return None;
        }
        Some((ty, seq, at + NLMSG_HDRLEN, at + len, at + align4(len)))
    }

    /// Wait up to `timeout_ms` (None: for ever) for a datagram and read
    /// it into the buffer; `len` is 0 after a timeout.
    fn fill(&mut self, timeout_ms: Option<u32>) -> io::Result<()> {
        self.len = 0;
        self.at = 0;
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout_ms.map_or(-1, |t| t.min(i32::MAX as u32) as i32);
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        if r == 0 {
            return Ok(());
        }
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => Ok(()),
                _ => Err(e),
            };
        }
        self.len = (n as usize).min(self.buf.len());
        Ok(())
    }

    /// The next packet, waiting up to `timeout_ms` (None: for ever) for
    /// one. Ok(None): the time ran out.
    pub fn recv(&mut self, timeout_ms: Option<u32>) -> io::Result<Option<Packet>> {
        loop {
            while let Some((ty, _, from, to, next)) = self.message(self.at) {
                self.at = next;
                if ty == NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET {
                    if let Some(p) = parse_packet(&self.buf, from + NFGENMSG_LEN, to) {
                        return Ok(Some(p));
                    }
                } else if ty == NLMSG_ERROR && u32_ne(&self.buf, from).is_some_and(|e| e != 0) {
                    self.errors += 1;
                }
            }
            self.fill(timeout_ms)?;
            if self.len == 0 {
                return Ok(None);
            }
        }
    }

    /// The bytes of a packet `recv` returned last (empty if the kernel
    /// sent none).
    pub fn payload(&self, p: &Packet) -> &[u8] {
        match p.payload {
            Some((off, len)) => self.buf.get(off..off + len).unwrap_or(&[]),
            None => &[],
        }
    }

    /// Did the kernel send the packet's bytes?
    pub fn has_payload(p: &Packet) -> bool {
        p.payload.is_some()
    }

    /// The verdict on packet `id`: `mark` replaces its mark, `payload` its
    /// bytes (any length; not with a drop).
    pub fn verdict(
        &mut self,
        id: u32,
        v: Verdict,
        mark: Option<u32>,
        payload: Option<&[u8]>,
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let mut m = std::mem::take(&mut self.out);
        m.clear();
        m.extend_from_slice(&[0; NLMSG_HDRLEN]);
        m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
        m.extend_from_slice(&self.num.to_be_bytes());
        // struct nfqnl_msg_verdict_hdr { be32 verdict; be32 id; }
        let mut vh = [0u8; 8];
        vh[..4].copy_from_slice(&v.code().to_be_bytes());
        vh[4..].copy_from_slice(&id.to_be_bytes());
        put_attr(&mut m, NFQA_VERDICT_HDR, &vh);
        if let Some(mark) = mark {
            put_attr(&mut m, NFQA_MARK, &mark.to_be_bytes());
        }
        if let (Some(p), false) = (payload, v == Verdict::Drop) {
            put_attr(&mut m, NFQA_PAYLOAD, p);
        }
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        m[4..6].copy_from_slice(&(NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_VERDICT).to_ne_bytes());
        m[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        m[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        let r = self.send_raw(&m);
        self.out = m;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An NFQNL_MSG_PACKET as the kernel builds it.
    fn packet_msg(id: u32, hook: u8, mark: u32, payload: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        let mut hdr = id.to_be_bytes().to_vec();
        hdr.extend_from_slice(&0x0800u16.to_be_bytes());
        hdr.push(hook);
        put_attr(&mut a, NFQA_PACKET_HDR, &hdr);
        put_attr(&mut a, NFQA_MARK, &mark.to_be_bytes());
        put_attr(&mut a, NFQA_IFINDEX_INDEV, &7u32.to_be_bytes());
        put_attr(&mut a, NFQA_PAYLOAD, payload);
        let mut m = Vec::new();
        let len = NLMSG_HDRLEN + NFGENMSG_LEN + a.len();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        put_u16(&mut m, NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET);
        put_u16(&mut m, 0);
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&[2, 0, 0x1b, 0x9a]);
        m.extend_from_slice(&a);
        m
    }

    #[test]
    fn parses_a_packet_message() {
        let m = packet_msg(42, 4, 0x8000_0001, b"\x45hello");
        let p = parse_packet(&m, NLMSG_HDRLEN + NFGENMSG_LEN, m.len()).unwrap();
        assert_eq!((p.id, p.hook, p.mark, p.indev), (42, 4, 0x8000_0001, 7));
        let (off, len) = p.payload.unwrap();
        assert_eq!(&m[off..off + len], b"\x45hello");
    }

    #[test]
    fn malformed_attributes_stop_without_panic() {
        let mut m = packet_msg(1, 0, 0, b"x");
        // Garbage lengths at every position.
        for i in NLMSG_HDRLEN + NFGENMSG_LEN..m.len() {
            let saved = m[i];
            m[i] = 0xff;
            let _ = parse_packet(&m, NLMSG_HDRLEN + NFGENMSG_LEN, m.len());
            m[i] = saved;
        }
        assert!(parse_packet(&m[..NLMSG_HDRLEN + NFGENMSG_LEN + 3], 20, 23).is_none());
    }

    #[test]
    fn verdict_codes() {
        assert_eq!(Verdict::Drop.code(), 0);
        assert_eq!(Verdict::Accept.code(), 1);
        assert_eq!(Verdict::Queue(700).code(), 700 << 16 | 3);
    }
}

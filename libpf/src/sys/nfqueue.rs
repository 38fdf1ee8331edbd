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
//! Throughput: packets are read up to [`BATCH`] datagrams per system call
//! (recvmmsg) into buffers allocated once; a packet's bytes are read (and
//! may be rewritten in place) with [`Queue::payload`] /
//! [`Queue::payload_mut`] until the next `recv` that has to go back to the
//! kernel. Verdicts are collected and sent together, several netlink
//! messages per send, before the queue waits for more packets (or on
//! [`Queue::flush`]); consecutive packets received and given the same
//! plain verdict and mark, with nothing else waiting in the queue before
//! them, become one NFQNL_MSG_VERDICT_BATCH. The order in which the kernel
//! lets packets go is the order of the verdicts, as without batching.
//! Packets segmentation offload made large (GSO) come whole, their
//! checksums possibly not computed yet ([`Packet::csum_not_ready`]); the
//! socket's receive buffer is raised past the system's limit
//! (SO_RCVBUFFORCE), and what the kernel dropped all the same is counted
//! ([`kernel_drops`]).
//!
//! libc for what neither nix nor socket2 wraps: NETLINK_NO_ENOBUFS, and
//! recvmmsg into the buffers allocated once (nix's needs its own headers).
//!
//! Nothing here panics on what the kernel sends: messages and attributes
//! are bounds checked and what is not understood is skipped.

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::MsgFlags;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

const NETLINK_NETFILTER: libc::c_int = 12;
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_ACK: u16 = 0x04;
const NFNL_SUBSYS_QUEUE: u16 = 3;
const NFQNL_MSG_PACKET: u16 = 0;
const NFQNL_MSG_VERDICT: u16 = 1;
const NFQNL_MSG_CONFIG: u16 = 2;
const NFQNL_MSG_VERDICT_BATCH: u16 = 3;
const NFGENMSG_LEN: usize = 4;
const NLA_TYPE_MASK: u16 = 0x3fff;

// Packet attributes.
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_MARK: u16 = 3;
const NFQA_IFINDEX_INDEV: u16 = 5;
const NFQA_IFINDEX_OUTDEV: u16 = 6;
const NFQA_IFINDEX_PHYSINDEV: u16 = 7;
const NFQA_PAYLOAD: u16 = 10;
const NFQA_CAP_LEN: u16 = 13;
const NFQA_SKB_INFO: u16 = 14;
const NFQA_UID: u16 = 16;
const NFQA_GID: u16 = 17;

// NFQA_SKB_INFO bits.
const NFQA_SKB_CSUMNOTREADY: u32 = 0x01;
const NFQA_SKB_GSO: u32 = 0x02;

// Configuration attributes.
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_COPY_PACKET: u8 = 2;
const NFQA_CFG_F_FAIL_OPEN: u32 = 0x01;
const NFQA_CFG_F_GSO: u32 = 0x04;
const NFQA_CFG_F_UID_GID: u32 = 0x08;

/// Bytes of a packet copied to us: all of it. The kernel's largest copy
/// range (NFQNL_MAX_COPY_RANGE: what fits a netlink attribute) is a few
/// bytes short of 65535; a packet longer than that (a GSO packet of a
/// stack with BIG TCP) comes truncated, [`Packet::truncated`].
const COPY_RANGE: u32 = 0xffff - 4;

/// Datagrams read per system call.
pub const BATCH: usize = 32;
/// Room for one datagram: the largest packet message (payload, headers,
/// attributes), rounded up.
const SLOT: usize = 68 * 1024;
/// The socket buffers asked for: several megabytes so that bursts (and
/// GSO packets, up to 64 KB each) wait rather than being dropped.
const RCVBUF: usize = 16 << 20;
const SNDBUF: usize = 4 << 20;
/// Verdict messages are sent when this many bytes are collected (packets
/// rewritten go back whole).
const OUT_FLUSH: usize = 1 << 20;

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
    /// The transport checksum is not computed yet (the kernel would leave
    /// it to the network card, CHECKSUM_PARTIAL): the field holds the
    /// pseudo-header sum. Complete it before the bytes go anywhere else.
    pub csum_not_ready: bool,
    /// A GSO packet: several segments' worth that the kernel (or the card)
    /// cuts up on the way out.
    pub gso: bool,
    /// It came through a bridge port (br_netfilter).
    pub bridged: bool,
    /// The packet's full length when the kernel copied less of it.
    cap_len: Option<u32>,
    /// Where the payload is in the receive buffer; None: the kernel sent
    /// none (the queue was not configured yet).
    payload: Option<(usize, usize)>,
}

impl Packet {
    /// Only part of the packet was copied (it is longer than the copy
    /// range): its bytes cannot be filtered or given back whole.
    pub fn truncated(&self) -> bool {
        match (self.cap_len, self.payload) {
            (Some(c), Some((_, len))) => c as usize > len,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// Counters of the queue's own work (for measurement).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// recvmmsg calls that returned datagrams, and the datagrams.
    pub reads: u64,
    pub datagrams: u64,
    /// Sends of verdict messages, the messages, and how many of them were
    /// batch verdicts.
    pub sends: u64,
    pub verdicts: u64,
    pub batches: u64,
}

/// Consecutive packets that get the same plain verdict: one batch verdict
/// for every id up to `last`.
#[derive(Debug, Clone, Copy)]
struct Run {
    last: u32,
    code: u32,
    mark: u32,
}

/// One bound queue.
pub struct Queue {
    fd: OwnedFd,
    num: u16,
    /// BATCH slots of SLOT bytes; slot i holds `lens[i]` bytes.
    buf: Vec<u8>,
    lens: [usize; BATCH],
    filled: usize,
    /// Reading position: slot and offset in it.
    slot: usize,
    at: usize,
    /// Verdict messages not sent yet, and the batch being collected.
    out: Vec<u8>,
    run: Option<Run>,
    /// The last packet `recv` returned (id, mark) while it has no verdict.
    last: Option<(u32, u32)>,
    /// Packets received and not given a verdict yet (those held included).
    outstanding: usize,
    seq: u32,
    /// Error messages the kernel sent about our verdicts (a packet id it
    /// no longer has).
    pub errors: u64,
    pub stats: Stats,
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
        csum_not_ready: false,
        gso: false,
        bridged: false,
        cap_len: None,
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
            NFQA_IFINDEX_PHYSINDEV => p.bridged = true,
            NFQA_UID => p.uid = u32_be(v),
            NFQA_GID => p.gid = u32_be(v),
            NFQA_CAP_LEN => p.cap_len = u32_be(v),
            NFQA_SKB_INFO => {
                let f = u32_be(v).unwrap_or(0);
                p.csum_not_ready = f & NFQA_SKB_CSUMNOTREADY != 0;
                p.gso = f & NFQA_SKB_GSO != 0;
            }
            NFQA_PAYLOAD => p.payload = Some((off, len)),
            _ => {}
        }
    }
    have_hdr.then_some(p)
}

/// Set an integer socket option.
fn setsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> bool {
    // SAFETY: setsockopt with a c_int option value of the size given.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        ) == 0
    }
}

/// Socket buffers of RCVBUF and SNDBUF bytes: past net.core.[rw]mem_max
/// when we may (CAP_NET_ADMIN), else as large as the system allows.
fn set_buffers(fd: &OwnedFd) {
    use nix::sys::socket::{setsockopt, sockopt};
    if setsockopt(fd, sockopt::RcvBufForce, &RCVBUF).is_err() {
        let _ = setsockopt(fd, sockopt::RcvBuf, &RCVBUF);
    }
    if setsockopt(fd, sockopt::SndBufForce, &SNDBUF).is_err() {
        let _ = setsockopt(fd, sockopt::SndBuf, &SNDBUF);
    }
}

/// Packets the kernel dropped instead of queueing them to queues `first`
/// .. `first + count - 1` since they were bound: the queue was full, or
/// the reader's socket buffer was (`queue_dropped` and `user_dropped` of
/// /proc/net/netfilter/nfnetlink_queue, in the caller's network
/// namespace).
pub fn kernel_drops(first: u16, count: u16) -> io::Result<Drops> {
    let text = std::fs::read_to_string("/proc/net/netfilter/nfnetlink_queue")?;
    Ok(parse_drops(&text, first, count))
}

/// What /proc/net/netfilter/nfnetlink_queue says of some queues, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// Packets waiting now (`queue_total`).
    pub waiting: u64,
    /// Dropped because the queue was full (`queue_dropped`).
    pub full: u64,
    /// Dropped because the reader's socket had no room (`user_dropped`).
    pub no_room: u64,
}

fn parse_drops(text: &str, first: u16, count: u16) -> Drops {
    let last = first as u32 + count.max(1) as u32 - 1;
    text.lines()
        .filter_map(|l| {
            // queue_num portid queue_total copy_mode copy_range
            // queue_dropped user_dropped id_sequence 1
            let f: Vec<&str> = l.split_whitespace().collect();
            let num: u32 = f.first()?.parse().ok()?;
            if num < first as u32 || num > last {
                return None;
            }
            let total: u64 = f.get(2)?.parse().ok()?;
            let qd: u64 = f.get(5)?.parse().ok()?;
            let ud: u64 = f.get(6)?.parse().ok()?;
            Some(Drops {
                waiting: total,
                full: qd,
                no_room: ud,
            })
        })
        .fold(Drops::default(), |a, d| Drops {
            waiting: a.waiting + d.waiting,
            full: a.full + d.full,
            no_room: a.no_room + d.no_room,
        })
}

/// A configuration message for queue `num`: its length, and whether the
/// kernel passes packets it has no room for (`fail_open`) or drops them.
fn config_attrs(maxlen: u32, fail_open: bool) -> Vec<u8> {
    let mut attrs = Vec::with_capacity(32);
    put_attr(&mut attrs, NFQA_CFG_QUEUE_MAXLEN, &maxlen.to_be_bytes());
    put_attr(
        &mut attrs,
        NFQA_CFG_MASK,
        &NFQA_CFG_F_FAIL_OPEN.to_be_bytes(),
    );
    let flags = if fail_open { NFQA_CFG_F_FAIL_OPEN } else { 0 };
    put_attr(&mut attrs, NFQA_CFG_FLAGS, &flags.to_be_bytes());
    attrs
}

/// Change the length and fail policy of queue `num`, bound on socket
/// `fd` (a clone of the queue's, [`Queue::control`]): one message, no
/// acknowledgement asked (an error comes to the reader as any other).
pub fn reconfigure(fd: RawFd, num: u16, maxlen: u32, fail_open: bool) -> io::Result<()> {
    let attrs = config_attrs(maxlen, fail_open);
    let mut m = Vec::with_capacity(NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len());
    let len = (NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len()) as u32;
    m.extend_from_slice(&len.to_ne_bytes());
    put_u16(&mut m, NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_CONFIG);
    put_u16(&mut m, NLM_F_REQUEST);
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    m.extend_from_slice(&num.to_be_bytes());
    m.extend_from_slice(&attrs);
    nix::sys::socket::send(fd, &m, MsgFlags::empty())?;
    Ok(())
}

impl Queue {
    /// Bind queue `num`: whole packets, up to `maxlen` waiting in the
    /// kernel (those held for a late verdict included), the sockets'
    /// owners of local packets, GSO packets whole when `gso`, and no
    /// the fail policy: `fail_open` passes what a full queue has no room
    /// for, else it is dropped (pf fails closed).
    pub fn open(num: u16, maxlen: u32, gso: bool, fail_open: bool) -> io::Result<Queue> {
        let fd = super::netlink::open_socket(NETLINK_NETFILTER, 0)?;
        // NETLINK_NO_ENOBUFS: a burst the socket cannot take is dropped by
        // the kernel (fail-closed) and counted there (`kernel_drops`),
        // rather than reported as an error on the next read.
        setsockopt_int(
            fd.as_raw_fd(),
            libc::SOL_NETLINK,
            libc::NETLINK_NO_ENOBUFS,
            1,
        );
        set_buffers(&fd);
        let mut q = Queue {
            fd,
            num,
            buf: vec![0; BATCH * SLOT],
            lens: [0; BATCH],
            filled: 0,
            slot: 0,
            at: 0,
            out: Vec::with_capacity(OUT_FLUSH + SLOT),
            run: None,
            last: None,
            outstanding: 0,
            seq: 0,
            errors: 0,
            stats: Stats::default(),
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
        let mask = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_UID_GID | NFQA_CFG_F_GSO;
        let flags = NFQA_CFG_F_UID_GID
            | if gso { NFQA_CFG_F_GSO } else { 0 }
            | if fail_open { NFQA_CFG_F_FAIL_OPEN } else { 0 };
        put_attr(&mut attrs, NFQA_CFG_MASK, &mask.to_be_bytes());
        put_attr(&mut attrs, NFQA_CFG_FLAGS, &flags.to_be_bytes());
        let seq = q.request(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, &attrs)?;
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

    /// A second descriptor of the queue's socket, for `reconfigure` from
    /// another thread.
    pub fn control(&self) -> io::Result<OwnedFd> {
        self.fd.try_clone()
    }

    /// Append one nfnetlink queue message header (type `ty`, length filled
    /// by `end_msg`) to the pending messages; returns where it starts.
    fn begin_msg(&mut self, ty: u16, flags: u16) -> usize {
        self.seq = self.seq.wrapping_add(1);
        let start = self.out.len();
        self.out.extend_from_slice(&0u32.to_ne_bytes());
        put_u16(&mut self.out, NFNL_SUBSYS_QUEUE << 8 | ty);
        put_u16(&mut self.out, flags);
        self.out.extend_from_slice(&self.seq.to_ne_bytes());
        self.out.extend_from_slice(&0u32.to_ne_bytes());
        // struct nfgenmsg { u8 family; u8 version; be16 res_id; }
        self.out.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
        self.out.extend_from_slice(&self.num.to_be_bytes());
        start
    }

    fn end_msg(&mut self, start: usize) {
        let len = (self.out.len() - start) as u32;
        self.out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// Send one request with attributes `attrs` at once (after whatever
    /// verdicts are pending); returns its sequence number.
    fn request(&mut self, ty: u16, flags: u16, attrs: &[u8]) -> io::Result<u32> {
        self.push_run();
        let start = self.begin_msg(ty, flags);
        self.out.extend_from_slice(attrs);
        self.end_msg(start);
        let seq = self.seq;
        self.flush().map(|_| seq)
    }

    fn send_raw(&self, m: &[u8]) -> io::Result<()> {
        loop {
            match nix::sys::socket::send(self.fd.as_raw_fd(), m, MsgFlags::empty()) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Send the verdicts collected so far, in order.
    pub fn flush(&mut self) -> io::Result<()> {
        self.push_run();
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.send_raw(&self.out);
        self.stats.sends += 1;
        self.out.clear();
        r
    }

    /// The batch being collected becomes a message.
    fn push_run(&mut self) {
        let Some(run) = self.run.take() else {
            return;
        };
        let start = self.begin_msg(NFQNL_MSG_VERDICT_BATCH, NLM_F_REQUEST);
        let mut vh = [0u8; 8];
        vh[..4].copy_from_slice(&run.code.to_be_bytes());
        vh[4..].copy_from_slice(&run.last.to_be_bytes());
        put_attr(&mut self.out, NFQA_VERDICT_HDR, &vh);
        put_attr(&mut self.out, NFQA_MARK, &run.mark.to_be_bytes());
        self.end_msg(start);
        self.stats.verdicts += 1;
        self.stats.batches += 1;
    }

    /// Read until the kernel answers request `seq`. Packets that arrive
    /// meanwhile are dropped (none is filtered before the queue is set up).
    fn wait_ack(&mut self, seq: u32) -> io::Result<()> {
        for _ in 0..64 {
            self.fill(Some(1000))?;
            if self.filled == 0 {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"));
            }
            let mut early = Vec::new();
            let mut answer = None;
            while let Some((ty, mseq, from, to)) = self.next_message() {
                if ty == NLMSG_ERROR && mseq == seq {
                    let err = u32_ne(&self.buf, from).map_or(0, |e| e as i32);
                    answer = Some(err);
                } else if ty == NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET {
                    if let Some(p) = parse_packet(&self.buf, from + NFGENMSG_LEN, to) {
                        early.push(p.id);
                    }
                }
            }
            for id in early {
                self.outstanding += 1;
                self.verdict(id, Verdict::Drop, None, None)?;
            }
            self.flush()?;
            match answer {
                Some(0) => return Ok(()),
                Some(e) => return Err(io::Error::from_raw_os_error(-e)),
                None => {}
            }
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"))
    }

    /// The next message of the datagrams read: (type, seq, payload start,
    /// payload end) as offsets in `buf`.
    fn next_message(&mut self) -> Option<(u16, u32, usize, usize)> {
        while self.slot < self.filled {
            let base = self.slot * SLOT;
            let end = base + self.lens[self.slot];
            let at = base + self.at;
            let b = &self.buf[..end];
            let msg = (|| {
                let len = u32_ne(b, at)? as usize;
                let ty = u16_ne(b, at + 4)?;
                let seq = u32_ne(b, at + 8)?;
                if len < NLMSG_HDRLEN || at + len > end {
                    return None;
                }
                Some((ty, seq, at + NLMSG_HDRLEN, at + len, align4(len)))
            })();
            match msg {
                Some((ty, seq, from, to, step)) => {
                    self.at += step;
                    return Some((ty, seq, from, to));
                }
                None => {
                    self.slot += 1;
                    self.at = 0;
                }
            }
        }
        None
    }

    /// Wait up to `timeout_ms` (None: for ever) for datagrams and read up
    /// to BATCH of them; `filled` is 0 after a timeout. Pending verdicts go
    /// out first.
    fn fill(&mut self, timeout_ms: Option<u32>) -> io::Result<()> {
        self.filled = 0;
        self.slot = 0;
        self.at = 0;
        self.flush()?;
        if self.read_batch()? > 0 {
            return Ok(());
        }
        let timeout = timeout_ms.map_or(PollTimeout::NONE, |t| {
            PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX)
        });
        let r = match poll(
            &mut [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)],
            timeout,
        ) {
            Ok(r) => r,
            Err(Errno::EINTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if r == 0 {
            return Ok(());
        }
        self.read_batch().map(|_| ())
    }

    /// Read what is there without waiting (recvmmsg): the number of
    /// datagrams.
    fn read_batch(&mut self) -> io::Result<usize> {
        // SAFETY: zeroed iovec/mmsghdr are valid (null pointers, lengths 0)
        // and are filled in below before use.
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        let base = self.buf.as_mut_ptr();
        for i in 0..BATCH {
            // SAFETY: slot i lies inside buf (BATCH * SLOT bytes).
            iov[i].iov_base = unsafe { base.add(i * SLOT) }.cast();
            iov[i].iov_len = SLOT;
            hdrs[i].msg_hdr.msg_iov = &mut iov[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        let n = loop {
            // SAFETY: hdrs describe BATCH valid, disjoint buffers.
            let n = unsafe {
                libc::recvmmsg(
                    self.fd.as_raw_fd(),
                    hdrs.as_mut_ptr(),
                    BATCH as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(0),
                _ => return Err(e),
            }
        };
        for (i, h) in hdrs.iter().take(n).enumerate() {
            self.lens[i] = (h.msg_len as usize).min(SLOT);
        }
        self.filled = n;
        self.slot = 0;
        self.at = 0;
        if n > 0 {
            self.stats.reads += 1;
            self.stats.datagrams += n as u64;
        }
        Ok(n)
    }

    /// The next packet, waiting up to `timeout_ms` (None: for ever) for
    /// one. Ok(None): the time ran out.
    pub fn recv(&mut self, timeout_ms: Option<u32>) -> io::Result<Option<Packet>> {
        loop {
            while let Some((ty, _, from, to)) = self.next_message() {
                if ty == NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET {
                    if let Some(p) = parse_packet(&self.buf, from + NFGENMSG_LEN, to) {
                        self.outstanding += 1;
                        self.last = Some((p.id, p.mark));
                        return Ok(Some(p));
                    }
                } else if ty == NLMSG_ERROR && u32_ne(&self.buf, from).is_some_and(|e| e != 0) {
                    self.errors += 1;
                }
            }
            self.fill(timeout_ms)?;
            if self.filled == 0 {
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

    /// The bytes of a packet `recv` returned last, to rewrite in place.
    pub fn payload_mut(&mut self, p: &Packet) -> &mut [u8] {
        match p.payload {
            Some((off, len)) => self.buf.get_mut(off..off + len).unwrap_or(&mut []),
            None => &mut [],
        }
    }

    /// Did the kernel send the packet's bytes?
    pub fn has_payload(p: &Packet) -> bool {
        p.payload.is_some()
    }

    /// The verdict on packet `id`: `mark` replaces its mark, `payload` its
    /// bytes (any length; not with a drop). Collected, and sent before the
    /// queue waits for packets again or on `flush`.
    pub fn verdict(
        &mut self,
        id: u32,
        v: Verdict,
        mark: Option<u32>,
        payload: Option<&[u8]>,
    ) -> io::Result<()> {
        let payload = payload.filter(|_| v != Verdict::Drop);
        let last = self.last.take_if(|(l, _)| *l == id);
        self.outstanding = self.outstanding.saturating_sub(1);
        // A batch verdict takes every packet up to its id still in the
        // kernel's queue: only the packet just received, with no other
        // one waiting before it, and in the order received.
        if let (Some((_, cur)), None, 0, Verdict::Drop | Verdict::Accept) =
            (last, payload, self.outstanding, v)
        {
            let code = v.code();
            let m = mark.unwrap_or(cur);
            match &mut self.run {
                Some(r) if r.code == code && r.mark == m => r.last = id,
                _ => {
                    self.push_run();
                    self.run = Some(Run {
                        last: id,
                        code,
                        mark: m,
                    });
                }
            }
            return self.flush_if_full();
        }
        self.push_run();
        let start = self.begin_msg(NFQNL_MSG_VERDICT, NLM_F_REQUEST);
        // struct nfqnl_msg_verdict_hdr { be32 verdict; be32 id; }
        let mut vh = [0u8; 8];
        vh[..4].copy_from_slice(&v.code().to_be_bytes());
        vh[4..].copy_from_slice(&id.to_be_bytes());
        put_attr(&mut self.out, NFQA_VERDICT_HDR, &vh);
        if let Some(mark) = mark {
            put_attr(&mut self.out, NFQA_MARK, &mark.to_be_bytes());
        }
        if let Some(p) = payload {
            put_attr(&mut self.out, NFQA_PAYLOAD, p);
        }
        self.end_msg(start);
        self.stats.verdicts += 1;
        self.flush_if_full()
    }

    /// The verdict on packet `p` (the last `recv` returned, or one before
    /// it in the same read) with its bytes, as rewritten in place, given
    /// back when `rewritten` is that packet.
    pub fn verdict_own(
        &mut self,
        id: u32,
        v: Verdict,
        mark: Option<u32>,
        rewritten: Option<&Packet>,
    ) -> io::Result<()> {
        let Some((off, len)) = rewritten.and_then(|p| p.payload) else {
            return self.verdict(id, v, mark, None);
        };
        // Borrow the bytes out of the receive buffer while the message is
        // written: they are put back before anything else reads them.
        let buf = std::mem::take(&mut self.buf);
        let r = self.verdict(id, v, mark, buf.get(off..off + len));
        self.buf = buf;
        r
    }

    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.out.len() >= OUT_FLUSH {
            self.flush()
        } else {
            Ok(())
        }
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

    /// A queue on a socket nobody reads, with `msgs` as the datagram read.
    fn queue_with(msgs: &[Vec<u8>]) -> Queue {
        let (a, _b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let mut q = Queue {
            fd: OwnedFd::from(a),
            num: 7066,
            buf: vec![0; BATCH * SLOT],
            lens: [0; BATCH],
            filled: 0,
            slot: 0,
            at: 0,
            out: Vec::new(),
            run: None,
            last: None,
            outstanding: 0,
            seq: 0,
            errors: 0,
            stats: Stats::default(),
        };
        for (i, m) in msgs.iter().enumerate() {
            q.buf[i * SLOT..i * SLOT + m.len()].copy_from_slice(m);
            q.lens[i] = m.len();
        }
        q.filled = msgs.len();
        q
    }

    /// The verdict messages collected: (type, id, verdict, mark, payload
    /// length).
    /// (type, id, verdict, mark, payload length)
    type Sent = (u16, u32, u32, Option<u32>, Option<usize>);

    fn sent(q: &mut Queue) -> Vec<Sent> {
        q.push_run();
        let b = &q.out;
        let mut at = 0;
        let mut v = Vec::new();
        while at + NLMSG_HDRLEN <= b.len() {
            let len = u32_ne(b, at).unwrap() as usize;
            let ty = u16_ne(b, at + 4).unwrap() & 0xff;
            let (mut id, mut code, mut mark, mut pl) = (0, 0, None, None);
            for (t, off, l) in attrs(b, at + NLMSG_HDRLEN + NFGENMSG_LEN, at + len) {
                match t {
                    NFQA_VERDICT_HDR => {
                        code = u32_be(&b[off..]).unwrap();
                        id = u32_be(&b[off + 4..]).unwrap();
                    }
                    NFQA_MARK => mark = u32_be(&b[off..]),
                    NFQA_PAYLOAD => pl = Some(l),
                    _ => {}
                }
            }
            v.push((ty, id, code, mark, pl));
            at += align4(len);
        }
        v
    }

    fn next(q: &mut Queue) -> Packet {
        q.recv(Some(0)).unwrap().unwrap()
    }

    const B: u16 = NFQNL_MSG_VERDICT_BATCH;
    const V: u16 = NFQNL_MSG_VERDICT;

    #[test]
    fn same_plain_verdicts_become_one_batch() {
        let msgs: Vec<_> = (1..=3).map(|i| packet_msg(i, 0, 0, b"\x45")).collect();
        let mut q = queue_with(&msgs);
        for _ in 0..3 {
            let p = next(&mut q);
            q.verdict(p.id, Verdict::Accept, Some(0x0105), None)
                .unwrap();
        }
        assert_eq!(sent(&mut q), [(B, 3, 1, Some(0x0105), None)]);
    }

    #[test]
    fn a_rewritten_packet_splits_the_batch_in_order() {
        let msgs: Vec<_> = (1..=3).map(|i| packet_msg(i, 0, 7, b"\x45abc")).collect();
        let mut q = queue_with(&msgs);
        let p = next(&mut q);
        q.verdict(p.id, Verdict::Accept, None, None).unwrap();
        let p = next(&mut q);
        q.verdict_own(p.id, Verdict::Accept, None, Some(&p))
            .unwrap();
        let p = next(&mut q);
        q.verdict(p.id, Verdict::Drop, None, None).unwrap();
        assert_eq!(
            sent(&mut q),
            [
                (B, 1, 1, Some(7), None),
                (V, 2, 1, None, Some(4)),
                (B, 3, 0, Some(7), None)
            ]
        );
    }

    #[test]
    fn marks_left_alone_batch_only_when_equal() {
        let msgs = [packet_msg(1, 4, 5, b"\x45"), packet_msg(2, 4, 6, b"\x45")];
        let mut q = queue_with(&msgs);
        for _ in 0..2 {
            let p = next(&mut q);
            q.verdict(p.id, Verdict::Accept, None, None).unwrap();
        }
        assert_eq!(
            sent(&mut q),
            [(B, 1, 1, Some(5), None), (B, 2, 1, Some(6), None)]
        );
    }

    #[test]
    fn no_batch_over_a_held_packet() {
        let msgs: Vec<_> = (1..=3).map(|i| packet_msg(i, 0, 0, b"\x45")).collect();
        let mut q = queue_with(&msgs);
        let held = next(&mut q);
        let p = next(&mut q);
        q.verdict(p.id, Verdict::Accept, None, None).unwrap();
        q.verdict(held.id, Verdict::Accept, None, None).unwrap();
        let p = next(&mut q);
        q.verdict(p.id, Verdict::Accept, None, None).unwrap();
        assert_eq!(
            sent(&mut q),
            [
                (V, 2, 1, None, None),
                (V, 1, 1, None, None),
                (B, 3, 1, Some(0), None)
            ]
        );
    }

    #[test]
    fn kernel_drops_are_summed_for_our_queues() {
        let text = " 7066  12345     4 2 65531    10    20     9999  1\n 7067  12346     1 2 65531     1     2       99  1\n  100      1     0 2 65531   500   500        1  1\n";
        let d = |waiting, full, no_room| Drops {
            waiting,
            full,
            no_room,
        };
        assert_eq!(parse_drops(text, 7066, 1), d(4, 10, 20));
        assert_eq!(parse_drops(text, 7066, 2), d(5, 11, 22));
        assert_eq!(parse_drops("garbage\n", 7066, 1), d(0, 0, 0));
    }

    #[test]
    fn verdict_codes() {
        assert_eq!(Verdict::Drop.code(), 0);
        assert_eq!(Verdict::Accept.code(), 1);
        assert_eq!(Verdict::Queue(700).code(), 700 << 16 | 3);
    }
}

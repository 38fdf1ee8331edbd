//! pflog: the packets rules log (`log`, see `engine::logmark`), each with
//! OpenBSD's pflog header (`wire::pflog`), carried from the data path to
//! the pflog thread over a bounded queue. The thread transmits each
//! packet on its pflogN interface (a tun device, `sys::tun`: tcpdump -i
//! pflog0 sees it live, without the header, which Linux cannot carry on
//! an interface) and streams header and packet as pcap records to the
//! pflogd(8) processes connected to its socket. The same records go, as
//! NFLOG messages with the header's fields as their prefix text
//! (`wire::nflog`, `sys::nflog`), to the reader of NFLOG group base + N
//! (`tcpdump -i nflog:117` for pflog0 by default), when one is bound.
//! Nothing here can stall the data path: a full queue, or a reader that
//! does not keep up, loses records, and they are counted.

use crate::engine::logmark::LogMark;
use crate::engine::packet::{describe, Dir};
use crate::log;
use crate::sys::nflog::{self as nflogsys, Sent};
use crate::sys::tun::{PacketSender, Tun};
use crate::wire::nflog;
use crate::wire::pcap::{RecordHeader, RECORD_HEADER_LEN};
use crate::wire::pflog::{self, Repr, HEADER_LEN};
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Records waiting for the pflog thread, at most.
pub const QUEUE_LEN: usize = 1024;
/// Bytes of a logged packet carried, at most (the data path's copy).
pub const PKT_MAX: usize = 256;
/// pflog0 .. pflog15.
pub const UNITS: u8 = 16;
/// The default socket of pflogd's stream.
pub const DEFAULT_SOCKET: &str = "/var/run/pflog.sock";
/// The NFLOG group of pflog0 by default (DLT_PFLOG's number, clear of the
/// low groups iptables' NFLOG target and ulogd use); pflogN's is N more.
pub const DEFAULT_NFLOG_GROUP: u16 = 117;
/// The highest base group: pflog15's group still fits in 16 bits.
pub const MAX_NFLOG_GROUP: u16 = u16::MAX - (UNITS as u16 - 1);
/// How long a connecting pflogd has to name its interface.
const HELLO_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes queued for one slow pflogd before its records are dropped.
const CLIENT_BACKLOG: usize = 256 * 1024;

/// One logged packet with its header, as it travels to the pflog thread.
#[derive(Clone, Copy)]
pub struct Record {
    /// N of pflogN.
    pub unit: u8,
    pub sec: u32,
    pub usec: u32,
    /// The packet's length on the wire.
    pub len: u32,
    /// How many bytes of `pkt` are the packet's.
    pub caplen: u16,
    pub hdr: [u8; HEADER_LEN],
    pub pkt: [u8; PKT_MAX],
}

impl Record {
    /// The pcap record: record header, pflog header, packet.
    fn write_pcap(&self, out: &mut Vec<u8>) {
        let cap = HEADER_LEN + usize::from(self.caplen);
        let rh = RecordHeader {
            sec: self.sec,
            usec: self.usec,
            caplen: cap as u32,
            len: HEADER_LEN as u32 + self.len,
        };
        out.extend_from_slice(&rh.emit());
        out.extend_from_slice(&self.hdr);
        out.extend_from_slice(&self.pkt[..usize::from(self.caplen)]);
    }
}

/// Where a logged packet was seen.
pub struct Seen<'a> {
    pub dir: Dir,
    pub ifname: &'a str,
    /// The local socket's owner (for `log (user)`).
    pub uid: Option<u32>,
    /// The packet (a copy of its start, lengths made to fit).
    pub bytes: &'a [u8],
    /// Its length on the wire.
    pub len: usize,
}

/// The pflog header of a mark for a packet seen at `at`.
pub fn header(m: &LogMark, at: &Seen) -> [u8; HEADER_LEN] {
    let mut r = Repr {
        action: m.action,
        reason: m.reason,
        ifname: pflog::name_field(at.ifname),
        ruleset: m.ruleset,
        rulenr: m.rulenr,
        subrulenr: m.subrulenr,
        dir: if at.dir == Dir::In {
            pflog::PF_IN
        } else {
            pflog::PF_OUT
        },
        ..Repr::default()
    };
    if m.user {
        r.uid = at.uid.unwrap_or(pflog::NO_UID);
    }
    if let Ok(pd) = describe(at.bytes) {
        r.af = pflog::af_of(&pd.src);
        r.naf = r.af;
        r.saddr = pflog::addr_field(&pd.src);
        r.daddr = pflog::addr_field(&pd.dst);
        if pd.has_ports() {
            (r.sport, r.dport) = (pd.sport, pd.dport);
        }
    } else {
        r.af = match at.bytes.first().map(|b| b >> 4) {
            Some(6) => pflog::AF_INET6,
            _ => pflog::AF_INET,
        };
        r.naf = r.af;
    }
    let mut h = [0u8; HEADER_LEN];
    let _ = r.emit(&mut h);
    h
}

/// The data path's end of the queue.
pub struct Pflog {
    tx: SyncSender<Record>,
    /// Records handed to the pflog thread.
    pub logged: AtomicU64,
    /// Records lost: the queue was full.
    pub dropped: AtomicU64,
}

impl Pflog {
    /// Starts the pflog thread: pflog0, the socket at `socket` (None:
    /// no pflogd stream) and the NFLOG groups from `nflog_group` (None:
    /// none). Failures are logged; pflog then does what it still can.
    pub fn start(socket: Option<&str>, nflog_group: Option<u16>) -> io::Result<Arc<Pflog>> {
        let (tx, rx) = mpsc::sync_channel(QUEUE_LEN);
        let p = Arc::new(Pflog {
            tx,
            logged: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let listener = socket.and_then(|path| match listen(path) {
            Ok(l) => Some(l),
            Err(e) => {
                log::err(&format!("pflog: {path}: {e}"));
                None
            }
        });
        let weak = Arc::downgrade(&p);
        std::thread::Builder::new()
            .name("pflog".into())
            .spawn(move || {
                let mut t = Thread::new(listener, nflog_group);
                t.run(rx, &|| {
                    weak.upgrade()
                        .map_or(0, |p| p.dropped.load(Ordering::Relaxed))
                });
            })?;
        Ok(p)
    }

    /// Queues one record; never waits.
    pub fn submit(&self, r: Record) {
        match self.tx.try_send(r) {
            Ok(()) => self.logged.fetch_add(1, Ordering::Relaxed),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed)
            }
        };
    }

    /// Hands every mark of a logged packet to pflog.
    pub fn log_packet(&self, marks: &[LogMark], at: &Seen) {
        if marks.is_empty() {
            return;
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let caplen = at.bytes.len().min(PKT_MAX);
        let mut r = Record {
            unit: 0,
            sec: now.as_secs() as u32,
            usec: now.subsec_micros(),
            len: at.len.max(caplen) as u32,
            caplen: caplen as u16,
            hdr: [0; HEADER_LEN],
            pkt: [0; PKT_MAX],
        };
        r.pkt[..caplen].copy_from_slice(&at.bytes[..caplen]);
        for m in marks {
            r.unit = m.ifnum;
            r.hdr = header(m, at);
            self.submit(r);
        }
    }
}

fn listen(path: &str) -> io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// A connected pflogd.
struct Client {
    s: UnixStream,
    unit: u8,
    /// What a short write left, to go before anything new.
    backlog: Vec<u8>,
    lost: u64,
}

impl Client {
    /// Sends what is pending and then `frame` (dropped if the backlog is
    /// full). Err: the peer is gone.
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        if !self.backlog.is_empty() {
            let n = send_nosig(&self.s, &self.backlog)?;
            self.backlog.drain(..n);
        }
        if !self.backlog.is_empty() {
            if self.backlog.len() + frame.len() > CLIENT_BACKLOG {
                self.lost += 1;
            } else {
                self.backlog.extend_from_slice(frame);
            }
            return Ok(());
        }
        let n = send_nosig(&self.s, frame)?;
        self.backlog.extend_from_slice(&frame[n..]);
        Ok(())
    }
}

/// send(2) without SIGPIPE; a full socket is 0 bytes sent.
fn send_nosig(s: &UnixStream, b: &[u8]) -> io::Result<usize> {
    match socket2::SockRef::from(s).send_with_flags(b, libc::MSG_NOSIGNAL) {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}

/// The NFLOG side: pflogN's records to the reader of group `base` + N.
struct NflogOut {
    base: u16,
    sender: nflogsys::Sender,
    msg: Vec<u8>,
    prefix: String,
    seq: u32,
    /// Messages a reader's full socket refused.
    lost: u64,
}

impl NflogOut {
    fn open(base: u16) -> Option<NflogOut> {
        match nflogsys::Sender::open() {
            Ok(sender) => Some(NflogOut {
                base,
                sender,
                msg: Vec::with_capacity(512 + PKT_MAX),
                prefix: String::with_capacity(96),
                seq: 0,
                lost: 0,
            }),
            Err(e) => {
                log::err(&format!("pflog: NFLOG socket: {e}"));
                None
            }
        }
    }

    fn deliver(&mut self, r: &Record) {
        let Some(group) = self.base.checked_add(u16::from(r.unit)) else {
            return;
        };
        let Some(port) = self.sender.reader(group) else {
            return;
        };
        let h = pflog::Header::new_unchecked(&r.hdr[..]);
        crate::show::pflog_prefix(&h, &mut self.prefix);
        let m = nflog::Repr {
            group,
            family: if h.af() == pflog::AF_INET6 {
                nflog::LINUX_AF_INET6
            } else {
                nflog::LINUX_AF_INET
            },
            hook: if h.dir() == pflog::PF_OUT {
                nflog::NF_INET_POST_ROUTING
            } else {
                nflog::NF_INET_PRE_ROUTING
            },
            ifindex: self.sender.ifindex(h.ifname()),
            sec: r.sec.into(),
            usec: r.usec.into(),
            uid: (h.uid() != pflog::NO_UID).then_some(h.uid()),
            prefix: &self.prefix,
            payload: &r.pkt[..usize::from(r.caplen)],
        };
        self.seq = self.seq.wrapping_add(1);
        m.emit(self.seq, &mut self.msg);
        if self.sender.send(port, &self.msg) == Sent::Lost {
            self.lost += 1;
        }
    }
}

/// The pflog thread's own things.
struct Thread {
    listener: Option<UnixListener>,
    clients: Vec<Client>,
    tuns: Vec<Option<Tun>>,
    /// Units whose interface could not be made (said once).
    failed: [bool; UNITS as usize],
    sender: Option<PacketSender>,
    frame: Vec<u8>,
    nflog: Option<NflogOut>,
}

impl Thread {
    fn new(listener: Option<UnixListener>, nflog_group: Option<u16>) -> Thread {
        let sender = match PacketSender::new() {
            Ok(s) => Some(s),
            Err(e) => {
                log::err(&format!("pflog: AF_PACKET socket: {e}"));
                None
            }
        };
        let mut t = Thread {
            listener,
            clients: Vec::new(),
            tuns: (0..UNITS).map(|_| None).collect(),
            failed: [false; UNITS as usize],
            sender,
            frame: Vec::with_capacity(RECORD_HEADER_LEN + HEADER_LEN + PKT_MAX),
            nflog: nflog_group.and_then(NflogOut::open),
        };
        t.interface(0);
        t
    }

    /// Until pfd's end of the queue goes.
    fn run(&mut self, rx: Receiver<Record>, dropped: &dyn Fn() -> u64) {
        let mut told = (Instant::now(), 0u64);
        loop {
            match rx.recv_timeout(Duration::from_millis(250)) {
                Ok(r) => self.deliver(&r),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Whatever else is waiting, without another wake-up each.
            while let Ok(r) = rx.try_recv() {
                self.deliver(&r);
            }
            self.accept();
            for t in self.tuns.iter().flatten() {
                t.drain();
            }
            if told.0.elapsed() >= Duration::from_secs(10) {
                let lost = dropped()
                    + self.clients.iter().map(|c| c.lost).sum::<u64>()
                    + self.nflog.as_ref().map_or(0, |n| n.lost);
                if lost > told.1 {
                    log::warning(&format!(
                        "pflog: {} logged packets lost (queue full, pflogd or NFLOG reader too slow)",
                        lost - told.1
                    ));
                }
                told = (Instant::now(), lost);
            }
        }
    }

    /// pflogN, made (up, no IPv6) the first time it is needed.
    fn interface(&mut self, unit: u8) -> Option<u32> {
        let u = usize::from(unit);
        if let Some(Some(t)) = self.tuns.get(u) {
            return Some(t.index);
        }
        if self.failed.get(u).copied().unwrap_or(true) {
            return None;
        }
        let name = format!("pflog{unit}");
        let made = Tun::create(&name).and_then(|t| {
            let _ = crate::sys::sysctl::write(&format!("net.ipv6.conf.{name}.disable_ipv6"), "1");
            crate::sys::netlink::Netlink::open()?.set_up(t.index, true)?;
            Ok(t)
        });
        match made {
            Ok(t) => {
                let i = t.index;
                self.tuns[u] = Some(t);
                Some(i)
            }
            Err(e) => {
                log::err(&format!("pflog: {name}: {e}"));
                self.failed[u] = true;
                None
            }
        }
    }

    fn deliver(&mut self, r: &Record) {
        if r.unit >= UNITS {
            return;
        }
        if let Some(index) = self.interface(r.unit) {
            if let Some(s) = &self.sender {
                let _ = s.send(index, &r.pkt[..usize::from(r.caplen)]);
            }
        }
        if let Some(n) = &mut self.nflog {
            n.deliver(r);
        }
        if self.clients.iter().all(|c| c.unit != r.unit) {
            return;
        }
        self.frame.clear();
        r.write_pcap(&mut self.frame);
        let frame = &self.frame;
        self.clients
            .retain_mut(|c| c.unit != r.unit || c.send(frame).is_ok());
    }

    /// New pflogd connections: root only; each first names its unit.
    fn accept(&mut self) {
        let Some(l) = &self.listener else { return };
        while let Ok((s, _)) = l.accept() {
            let root = nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials)
                .is_ok_and(|c| c.uid() == 0);
            if !root {
                continue;
            }
            let mut unit = [0u8; 1];
            let hello = s
                .set_nonblocking(false)
                .and_then(|_| s.set_read_timeout(Some(HELLO_TIMEOUT)))
                .and_then(|_| (&s).read_exact(&mut unit))
                .and_then(|_| s.set_nonblocking(true));
            if hello.is_ok() && unit[0] < UNITS {
                self.clients.push(Client {
                    s,
                    unit: unit[0],
                    backlog: Vec::new(),
                    lost: 0,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::pcap::RecordHeader;
    use crate::wire::pflog::Header;

    fn ping() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 1, 0, 2, 10, 2, 0, 2, 8, 0, 0, 0, 0, 7, 0,
            1,
        ];
        let c = crate::wire::checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn a_mark_becomes_openbsds_header() {
        let p = ping();
        let at = Seen {
            dir: Dir::In,
            ifname: "veth0",
            uid: Some(1000),
            bytes: &p,
            len: p.len(),
        };
        let m = LogMark {
            rulenr: 3,
            action: pflog::PF_DROP,
            user: true,
            ..LogMark::default()
        };
        let h = header(&m, &at);
        let v = Header::new_checked(&h[..]).unwrap();
        assert_eq!(
            (v.rulenr(), v.subrulenr(), v.action(), v.dir()),
            (3, u32::MAX, 1, 1)
        );
        assert_eq!((v.af(), v.ifname(), v.uid()), (2, &b"veth0"[..], 1000));
        assert_eq!(v.saddr(), Some("10.1.0.2".parse().unwrap()));
        assert_eq!(v.daddr(), Some("10.2.0.2".parse().unwrap()));
    }

    #[test]
    fn a_record_is_a_pcap_record_of_header_and_packet() {
        let p = ping();
        let mut r = Record {
            unit: 0,
            sec: 5,
            usec: 6,
            len: 1500,
            caplen: p.len() as u16,
            hdr: [7; HEADER_LEN],
            pkt: [0; PKT_MAX],
        };
        r.pkt[..p.len()].copy_from_slice(&p);
        let mut out = Vec::new();
        r.write_pcap(&mut out);
        let rh = RecordHeader::parse(&out).unwrap();
        assert_eq!((rh.sec, rh.usec, rh.caplen, rh.len), (5, 6, 128, 1600));
        assert_eq!(out.len(), 16 + 128);
        assert_eq!(&out[16 + HEADER_LEN..], &p[..]);
    }
}

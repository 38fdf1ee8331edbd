//! The kernel's routing decision for a packet coming in, asked before the
//! kernel makes it: RTM_GETROUTE with the input interface, mark, addresses,
//! TOS, protocol and ports of the packet (`ip route get DST from SRC iif IF
//! mark M ipproto P sport S dport D`). The kernel answers with the same
//! lookup a forwarded packet gets (`ip_route_input`: policy rules,
//! multipath hashing, reverse-path filter, martians, forwarding switched
//! off), so the answer is the interface the packet will leave by.
//!
//! One NETLINK_ROUTE socket, requests built in a fixed buffer and answers
//! parsed in place: no allocation per question.

use nix::sys::socket::{send, MsgFlags};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

const NLMSG_HDRLEN: usize = 16;
const RTMSG_LEN: usize = 12;
const NLMSG_ERROR: u16 = 2;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const NLM_F_REQUEST: u16 = 1;

const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_IIF: u16 = 3;
const RTA_OIF: u16 = 4;
const RTA_TABLE: u16 = 15;
const RTA_MARK: u16 = 16;
const RTA_IP_PROTO: u16 = 27;
const RTA_SPORT: u16 = 28;
const RTA_DPORT: u16 = 29;

const RTN_UNICAST: u8 = 1;

/// What the kernel is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Query {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TOS (IPv4) or traffic class (IPv6), as in the header.
    pub tos: u8,
    pub iif: u32,
    pub mark: u32,
    /// The transport protocol, and its ports (TCP/UDP) or 0.
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

/// Where the kernel sends such a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Forwarded by a unicast route out of interface `oif`, found in
    /// routing table `table`.
    Forward { oif: u32, table: u32 },
    /// Anything else: delivered locally, broadcast, dropped (no route,
    /// reverse-path filter, martian), or an answer not understood.
    Other,
}

pub struct RouteQuery {
    fd: OwnedFd,
    req: [u8; 256],
    buf: Vec<u8>,
    seq: u32,
}

fn put_attr(b: &mut [u8], at: &mut usize, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    b[*at..*at + 2].copy_from_slice(&(len as u16).to_ne_bytes());
    b[*at + 2..*at + 4].copy_from_slice(&ty.to_ne_bytes());
    b[*at + 4..*at + len].copy_from_slice(data);
    let end = *at + ((len + 3) & !3);
    b[*at + len..end].fill(0);
    *at = end;
}

fn addr_bytes(a: &IpAddr, out: &mut [u8; 16]) -> usize {
    match a {
        IpAddr::V4(v) => {
            out[..4].copy_from_slice(&v.octets());
            4
        }
        IpAddr::V6(v) => {
            out.copy_from_slice(&v.octets());
            16
        }
    }
}

/// The request for `q` in `b`; its length.
fn build(b: &mut [u8; 256], q: &Query, seq: u32) -> usize {
    let v6 = q.dst.is_ipv6();
    let alen = if v6 { 16 } else { 4 };
    b[..NLMSG_HDRLEN + RTMSG_LEN].fill(0);
    b[4..6].copy_from_slice(&RTM_GETROUTE.to_ne_bytes());
    b[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    // struct rtmsg { family, dst_len, src_len, tos, table, protocol,
    // scope, type, flags }
    let r = NLMSG_HDRLEN;
    b[r] = if v6 {
        libc::AF_INET6 as u8
    } else {
        libc::AF_INET as u8
    };
    b[r + 1] = alen * 8;
    b[r + 2] = alen * 8;
    b[r + 3] = q.tos;
    let mut at = NLMSG_HDRLEN + RTMSG_LEN;
    let mut a = [0u8; 16];
    let n = addr_bytes(&q.dst, &mut a);
    put_attr(b, &mut at, RTA_DST, &a[..n]);
    let n = addr_bytes(&q.src, &mut a);
    put_attr(b, &mut at, RTA_SRC, &a[..n]);
    put_attr(b, &mut at, RTA_IIF, &q.iif.to_ne_bytes());
    put_attr(b, &mut at, RTA_MARK, &q.mark.to_ne_bytes());
    // The kernel takes a protocol only for TCP, UDP and ICMP(v6).
    let ported = matches!(q.proto, 6 | 17);
    if ported || q.proto == if v6 { 58 } else { 1 } {
        put_attr(b, &mut at, RTA_IP_PROTO, &[q.proto]);
    }
    if ported {
        put_attr(b, &mut at, RTA_SPORT, &q.sport.to_be_bytes());
        put_attr(b, &mut at, RTA_DPORT, &q.dport.to_be_bytes());
    }
    b[0..4].copy_from_slice(&(at as u32).to_ne_bytes());
    at
}

fn u16_ne(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_ne(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The answer to request `seq` in the datagram `b`, if it is there.
fn parse(b: &[u8], seq: u32) -> Option<Answer> {
    let mut at = 0;
    while let (Some(len), Some(ty), Some(s)) = (u32_ne(b, at), u16_ne(b, at + 4), u32_ne(b, at + 8))
    {
        let len = len as usize;
        if len < NLMSG_HDRLEN || at + len > b.len() {
            return None;
        }
        if s == seq {
            if ty == NLMSG_ERROR {
                return Some(Answer::Other);
            }
            if ty == RTM_NEWROUTE && len >= NLMSG_HDRLEN + RTMSG_LEN {
                let r = at + NLMSG_HDRLEN;
                let kind = b[r + 7];
                let mut table = b[r + 4] as u32;
                let mut oif = None;
                let mut a = r + RTMSG_LEN;
                while let (Some(alen), Some(aty)) = (u16_ne(b, a), u16_ne(b, a + 2)) {
                    let alen = alen as usize;
                    if alen < 4 || a + alen > at + len {
                        break;
                    }
                    match aty & 0x3fff {
                        RTA_OIF => oif = u32_ne(b, a + 4),
                        RTA_TABLE => table = u32_ne(b, a + 4).unwrap_or(table),
                        _ => {}
                    }
                    a += (alen + 3) & !3;
                }
                return Some(match (kind, oif) {
                    (RTN_UNICAST, Some(oif)) if oif != 0 => Answer::Forward { oif, table },
                    _ => Answer::Other,
                });
            }
        }
        at += (len + 3) & !3;
    }
    None
}

const RTM_NEWRULE: u16 = 32;
const RTM_GETRULE: u16 = 34;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_DONE: u16 = 3;
const FRA_FWMARK: u16 = 10;
const FRA_FWMASK: u16 = 16;
const FRA_IP_PROTO: u16 = 22;
const FRA_SPORT_RANGE: u16 = 23;
const FRA_DPORT_RANGE: u16 = 24;

/// What the policy routing rules (`ip rule`) look at, beyond addresses,
/// TOS and the input interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleUse {
    /// Mark bits: the union of the rules' fwmark masks.
    pub mark_bits: u32,
    /// The transport protocol or ports.
    pub l4: bool,
}

/// Fold one RTM_NEWRULE message's attributes (after the 12-byte
/// fib_rule_hdr) into `u`.
fn rule_use(a: &[u8], u: &mut RuleUse) {
    let (mut mark, mut mask) = (None, None);
    let mut at = 0;
    while let (Some(len), Some(ty)) = (u16_ne(a, at), u16_ne(a, at + 2)) {
        let len = len as usize;
        if len < 4 || at + len > a.len() {
            break;
        }
        match ty & 0x3fff {
            FRA_FWMARK => mark = u32_ne(a, at + 4),
            FRA_FWMASK => mask = u32_ne(a, at + 4),
            FRA_IP_PROTO | FRA_SPORT_RANGE | FRA_DPORT_RANGE => u.l4 = true,
            _ => {}
        }
        at += (len + 3) & !3;
    }
    match (mark, mask) {
        (_, Some(m)) => u.mark_bits |= m,
        (Some(_), None) => u.mark_bits = u32::MAX,
        (None, None) => {}
    }
}

impl RouteQuery {
    /// What the `ip rule`s of both families look at.
    pub fn rule_use(&mut self) -> io::Result<RuleUse> {
        let mut u = RuleUse::default();
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            self.seq = self.seq.wrapping_add(1);
            const LEN: usize = NLMSG_HDRLEN + RTMSG_LEN;
            let mut req = [0u8; LEN];
            req[0..4].copy_from_slice(&(LEN as u32).to_ne_bytes());
            req[4..6].copy_from_slice(&RTM_GETRULE.to_ne_bytes());
            req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
            req[8..12].copy_from_slice(&self.seq.to_ne_bytes());
            req[NLMSG_HDRLEN] = family;
            send(self.fd.as_raw_fd(), &req, MsgFlags::empty())?;
            'dump: loop {
                let n = recv(&self.fd, &mut self.buf)?;
                let b = &self.buf[..n];
                let mut at = 0;
                while let (Some(len), Some(ty), Some(seq)) =
                    (u32_ne(b, at), u16_ne(b, at + 4), u32_ne(b, at + 8))
                {
                    let len = len as usize;
                    if len < NLMSG_HDRLEN || at + len > b.len() {
                        break 'dump;
                    }
                    if seq == self.seq {
                        match ty {
                            NLMSG_DONE => break 'dump,
                            NLMSG_ERROR => {
                                let e = u32_ne(b, at + NLMSG_HDRLEN).map_or(0, |e| e as i32);
                                if e != 0 {
                                    return Err(io::Error::from_raw_os_error(-e));
                                }
                                break 'dump;
                            }
                            RTM_NEWRULE if len >= NLMSG_HDRLEN + 12 => {
                                rule_use(&b[at + NLMSG_HDRLEN + 12..at + len], &mut u)
                            }
                            _ => {}
                        }
                    }
                    at += (len + 3) & !3;
                }
                if n == 0 {
                    break;
                }
            }
        }
        Ok(u)
    }

    pub fn open() -> io::Result<RouteQuery> {
        let fd = super::netlink::open_socket(libc::NETLINK_ROUTE, 0)?;
        // A second without an answer is a lost answer.
        let _ = nix::sys::socket::setsockopt(
            &fd,
            nix::sys::socket::sockopt::ReceiveTimeout,
            &nix::sys::time::TimeVal::new(1, 0),
        );
        Ok(RouteQuery {
            fd,
            req: [0; 256],
            buf: vec![0; 8192],
            seq: 0,
        })
    }

    /// Ask where a packet like `q` goes.
    pub fn ask(&mut self, q: &Query) -> io::Result<Answer> {
        self.seq = self.seq.wrapping_add(1);
        let len = build(&mut self.req, q, self.seq);
        let req = self.req.get(..len).ok_or(io::ErrorKind::InvalidInput)?;
        send(self.fd.as_raw_fd(), req, MsgFlags::empty())?;
        loop {
            let n = recv(&self.fd, &mut self.buf)?;
            if let Some(a) = parse(&self.buf[..n], self.seq) {
                return Ok(a);
            }
            // An answer to an earlier question that timed out: read on.
        }
    }
}

/// One netlink message batch into `buf`, retried on EINTR.
fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match nix::sys::socket::recv(fd.as_raw_fd(), buf, MsgFlags::empty()) {
            Ok(n) => return Ok(n),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn q(dst: &str) -> Query {
        Query {
            src: "10.1.0.2".parse().unwrap(),
            dst: dst.parse().unwrap(),
            tos: 0x10,
            iif: 7,
            mark: 0x0100_0000,
            proto: 6,
            sport: 1234,
            dport: 80,
        }
    }

    /// The attributes of a request: (type, value).
    fn attrs(b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut v = Vec::new();
        let mut at = NLMSG_HDRLEN + RTMSG_LEN;
        let end = u32_ne(b, 0).unwrap() as usize;
        while at < end {
            let l = u16_ne(b, at).unwrap() as usize;
            v.push((u16_ne(b, at + 2).unwrap(), b[at + 4..at + l].to_vec()));
            at += (l + 3) & !3;
        }
        v
    }

    #[test]
    fn request_carries_the_packet() {
        let mut b = [0u8; 256];
        let len = build(&mut b, &q("10.9.0.2"), 5);
        assert_eq!(u32_ne(&b, 0), Some(len as u32));
        assert_eq!(u16_ne(&b, 4), Some(RTM_GETROUTE));
        assert_eq!(&b[16..20], &[libc::AF_INET as u8, 32, 32, 0x10]);
        let a = attrs(&b);
        assert_eq!(a[0], (RTA_DST, vec![10, 9, 0, 2]));
        assert_eq!(a[1], (RTA_SRC, vec![10, 1, 0, 2]));
        assert_eq!(a[2], (RTA_IIF, 7u32.to_ne_bytes().to_vec()));
        assert_eq!(a[3], (RTA_MARK, 0x0100_0000u32.to_ne_bytes().to_vec()));
        assert_eq!(a[4], (RTA_IP_PROTO, vec![6]));
        assert_eq!(a[5], (RTA_SPORT, vec![4, 210]));
        assert_eq!(a[6], (RTA_DPORT, vec![0, 80]));
        // GRE: no protocol, no ports.
        let mut g = q("10.9.0.2");
        g.proto = 47;
        build(&mut b, &g, 6);
        assert_eq!(attrs(&b).len(), 4);
    }

    fn answer(seq: u32, kind: u8, oif: Option<u32>, table: u32) -> Vec<u8> {
        let mut m = vec![0u8; NLMSG_HDRLEN + RTMSG_LEN];
        m[4..6].copy_from_slice(&RTM_NEWROUTE.to_ne_bytes());
        m[8..12].copy_from_slice(&seq.to_ne_bytes());
        m[16] = libc::AF_INET as u8;
        m[16 + 4] = 254;
        m[16 + 7] = kind;
        let mut at = m.len();
        m.resize(at + 64, 0);
        if let Some(o) = oif {
            put_attr(&mut m, &mut at, RTA_OIF, &o.to_ne_bytes());
        }
        put_attr(&mut m, &mut at, RTA_TABLE, &table.to_ne_bytes());
        m.truncate(at);
        let l = m.len() as u32;
        m[0..4].copy_from_slice(&l.to_ne_bytes());
        m
    }

    #[test]
    fn answers() {
        assert_eq!(
            parse(&answer(3, RTN_UNICAST, Some(4), 100), 3),
            Some(Answer::Forward { oif: 4, table: 100 })
        );
        // Local delivery, no interface, another question's answer.
        assert_eq!(parse(&answer(3, 2, Some(1), 255), 3), Some(Answer::Other));
        assert_eq!(
            parse(&answer(3, RTN_UNICAST, None, 254), 3),
            Some(Answer::Other)
        );
        assert_eq!(parse(&answer(2, RTN_UNICAST, Some(4), 254), 3), None);
        // An error.
        let mut e = vec![0u8; 36];
        e[0..4].copy_from_slice(&36u32.to_ne_bytes());
        e[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        e[8..12].copy_from_slice(&9u32.to_ne_bytes());
        e[16..20].copy_from_slice(&(-113i32).to_ne_bytes());
        assert_eq!(parse(&e, 9), Some(Answer::Other));
        // Garbage never panics.
        assert_eq!(parse(&[1, 2, 3], 1), None);
        let mut g = answer(3, RTN_UNICAST, Some(4), 100);
        for i in 0..g.len() {
            let s = g[i];
            g[i] = 0xff;
            let _ = parse(&g, 3);
            g[i] = s;
        }
    }

    #[test]
    fn what_rules_use() {
        let attr = |ty: u16, v: &[u8]| {
            let mut b = ((4 + v.len()) as u16).to_ne_bytes().to_vec();
            b.extend_from_slice(&ty.to_ne_bytes());
            b.extend_from_slice(v);
            while !b.len().is_multiple_of(4) {
                b.push(0);
            }
            b
        };
        let mut u = RuleUse::default();
        rule_use(&attr(15, &254u32.to_ne_bytes()), &mut u);
        assert_eq!(u, RuleUse::default());
        let mut a = attr(FRA_FWMARK, &1u32.to_ne_bytes());
        a.extend(attr(FRA_FWMASK, &0x7f00_0000u32.to_ne_bytes()));
        rule_use(&a, &mut u);
        assert_eq!(u.mark_bits, 0x7f00_0000);
        rule_use(&attr(FRA_DPORT_RANGE, &[0, 80, 0, 80]), &mut u);
        assert!(u.l4);
        rule_use(&attr(FRA_FWMARK, &1u32.to_ne_bytes()), &mut u);
        assert_eq!(u.mark_bits, u32::MAX);
        // Here: the kernel answers.
        assert!(RouteQuery::open().unwrap().rule_use().is_ok());
    }
}

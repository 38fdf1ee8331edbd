//! Raw sockets: sending whole IP packets pfd builds (CARP advertisements,
//! pfsync frames, RSTs and ICMP errors, synproxy and syncookie segments)
//! and receiving one IP protocol with the interface it arrived on (IPv4:
//! the whole packet; IPv6: the payload with source, destination and hop
//! limit beside it); AF_PACKET for whole frames (CARP advertisements,
//! gratuitous ARP, unsolicited neighbour advertisements).

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// A raw IPv4 (or IPv6) socket that sends packets with their IP header
/// included (IPv4) or lets the kernel build it (IPv6).
pub struct RawSender {
    sock: Socket,
    v6: bool,
}

impl RawSender {
    /// IPv4, header included. `mark` is put on every packet (SO_MARK);
    /// `device` pins the output interface.
    pub fn ipv4(mark: Option<u32>, device: Option<&str>) -> io::Result<RawSender> {
        let sock = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_RAW)),
        )?;
        sock.set_header_included_v4(true)?;
        sock.set_multicast_loop_v4(false)?;
        if let Some(m) = mark {
            sock.set_mark(m)?;
        }
        if let Some(d) = device {
            sock.bind_device(Some(d.as_bytes()))?;
        }
        Ok(RawSender { sock, v6: false })
    }

    /// IPv6 raw socket with IPV6_HDRINCL.
    pub fn ipv6(mark: Option<u32>) -> io::Result<RawSender> {
        let sock = Socket::new(
            Domain::IPV6,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_RAW)),
        )?;
        let one: libc::c_int = 1;
        // IPV6_HDRINCL = 36
        // SAFETY: a valid socket, and a pointer to an int with its size.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IPV6,
                36,
                &one as *const _ as *const libc::c_void,
                4,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        if let Some(m) = mark {
            sock.set_mark(m)?;
        }
        Ok(RawSender { sock, v6: true })
    }

    /// Change the mark the following packets carry (SO_MARK).
    pub fn set_mark(&self, mark: u32) -> io::Result<()> {
        self.sock.set_mark(mark)
    }

    /// Send a whole IP packet to its destination address.
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        let dst: SocketAddr = if self.v6 {
            if packet.len() < 40 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "short IPv6 packet",
                ));
            }
            let mut a = [0u8; 16];
            a.copy_from_slice(&packet[24..40]);
            SocketAddr::V6(SocketAddrV6::new(a.into(), 0, 0, 0))
        } else {
            if packet.len() < 20 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "short IPv4 packet",
                ));
            }
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
                0,
            ))
        };
        self.sock.send_to(packet, &SockAddr::from(dst))?;
        Ok(())
    }
}

/// A received packet: the whole IPv4 packet (header included), the index
/// of the interface it arrived on.
pub struct Received {
    pub len: usize,
    pub ifindex: u32,
    /// With [`RawReceiver::count_drops`]: packets the socket dropped for
    /// want of buffer space since it was opened (SO_RXQ_OVFL).
    pub dropped: Option<u32>,
}

/// A raw IPv4 socket receiving one protocol (112 CARP, 240 pfsync).
pub struct RawReceiver {
    sock: Socket,
}

impl RawReceiver {
    pub fn ipv4(proto: u8) -> io::Result<RawReceiver> {
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(proto as i32)))?;
        let one: libc::c_int = 1;
        // SAFETY: a valid socket, and a pointer to an int with its size.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_PKTINFO,
                &one as *const _ as *const libc::c_void,
                4,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        sock.set_multicast_loop_v4(false)?;
        Ok(RawReceiver { sock })
    }

    /// Size the receive buffer to `bytes` (SO_RCVBUFFORCE as root, beyond
    /// net.core.rmem_max; SO_RCVBUF up to that cap otherwise). Returns
    /// the size the kernel reports.
    pub fn set_recv_buffer(&self, bytes: usize) -> io::Result<usize> {
        let v = bytes.min(i32::MAX as usize) as libc::c_int;
        // SAFETY: a valid socket, and a pointer to an int with its size.
        let r = unsafe {
            libc::setsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &v as *const _ as *const libc::c_void,
                4,
            )
        };
        if r != 0 {
            self.sock.set_recv_buffer_size(bytes)?;
        }
        self.sock.recv_buffer_size()
    }

    /// Have every packet carry the socket's drop count (`Received::dropped`).
    pub fn count_drops(&self) -> io::Result<()> {
        let one: libc::c_int = 1;
        // SAFETY: a valid socket, and a pointer to an int with its size.
        let r = unsafe {
            libc::setsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RXQ_OVFL,
                &one as *const _ as *const libc::c_void,
                4,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Join a multicast group on an interface (by index).
    pub fn join(&self, group: Ipv4Addr, ifindex: u32) -> io::Result<()> {
        self.sock
            .join_multicast_v4_n(&group, &socket2::InterfaceIndexOrAddress::Index(ifindex))
    }

    pub fn leave(&self, group: Ipv4Addr, ifindex: u32) -> io::Result<()> {
        self.sock
            .leave_multicast_v4_n(&group, &socket2::InterfaceIndexOrAddress::Index(ifindex))
    }

    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.sock
            .set_read_timeout(t.map(|d| d.max(Duration::from_micros(100))))
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.sock)
    }

    /// Receive one packet into `buf`. Timeouts come back as WouldBlock.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        self.recv_flags(buf, 0)
    }

    /// Receive one packet if one is waiting (None when none is).
    pub fn recv_nonblocking(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        match self.recv_flags(buf, libc::MSG_DONTWAIT) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn recv_flags(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<Received> {
        let mut cmsg = [0u8; 64];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data for which all zeroes is valid (no
        // buffers, no control data) until the fields below are set.
        let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = cmsg.len();
        // SAFETY: msg points at iov (buf, owned for the call) and cmsg, both
        // with their true lengths.
        let n = unsafe { libc::recvmsg(self.sock.as_raw_fd(), &mut msg, flags) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ifindex = 0;
        let mut dropped = None;
        // SAFETY: the CMSG_* walk stays within msg_controllen bytes of cmsg,
        // which the kernel filled; in_pktinfo and the u32 are read
        // unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                    let info =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::in_pktinfo);
                    ifindex = info.ipi_ifindex as u32;
                } else if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_RXQ_OVFL
                {
                    dropped = Some(std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const u32));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(Received {
            len: n as usize,
            ifindex,
            dropped,
        })
    }
}

/// A packet from a [`Raw6Receiver`]: the payload after the IPv6 header
/// (the kernel strips it) and what the header said.
pub struct Received6 {
    pub len: usize,
    pub ifindex: u32,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
}

/// A raw IPv6 socket receiving one next-header value (112, CARP), with
/// IPV6_RECVPKTINFO and IPV6_RECVHOPLIMIT so that the destination, the
/// interface and the hop limit come with each packet.
pub struct Raw6Receiver {
    sock: Socket,
}

impl Raw6Receiver {
    pub fn new(proto: u8) -> io::Result<Raw6Receiver> {
        let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(proto as i32)))?;
        for opt in [libc::IPV6_RECVPKTINFO, libc::IPV6_RECVHOPLIMIT] {
            let one: libc::c_int = 1;
            // SAFETY: a valid socket, and a pointer to an int with its size.
            let r = unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    opt,
                    &one as *const _ as *const libc::c_void,
                    4,
                )
            };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        sock.set_multicast_loop_v6(false)?;
        Ok(Raw6Receiver { sock })
    }

    /// Join a multicast group (ff02::12) on an interface.
    pub fn join(&self, group: &Ipv6Addr, ifindex: u32) -> io::Result<()> {
        self.sock.join_multicast_v6(group, ifindex)
    }

    pub fn leave(&self, group: &Ipv6Addr, ifindex: u32) -> io::Result<()> {
        self.sock.leave_multicast_v6(group, ifindex)
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.sock)
    }

    /// Receive one packet if one is waiting (None when none is).
    pub fn recv_nonblocking(&self, buf: &mut [u8]) -> io::Result<Option<Received6>> {
        let mut cmsg = [0u8; 128];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: sockaddr_in6 and msghdr are plain data for which all
        // zeroes is valid.
        let mut from: libc::sockaddr_in6 = unsafe { MaybeUninit::zeroed().assume_init() };
        // SAFETY: as above.
        let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        msg.msg_name = &mut from as *mut libc::sockaddr_in6 as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = cmsg.len();
        // SAFETY: msg points at from, iov (buf) and cmsg, all owned for the
        // call, with their true lengths.
        let n = unsafe { libc::recvmsg(self.sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            return Err(e);
        }
        let mut r = Received6 {
            len: n as usize,
            ifindex: 0,
            src: Ipv6Addr::from(from.sin6_addr.s6_addr),
            dst: Ipv6Addr::UNSPECIFIED,
            hop_limit: 0,
        };
        // SAFETY: the CMSG_* walk stays within msg_controllen bytes of cmsg,
        // which the kernel filled; in6_pktinfo and the int are read
        // unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::IPPROTO_IPV6 {
                    if (*c).cmsg_type == libc::IPV6_PKTINFO {
                        let info = std::ptr::read_unaligned(
                            libc::CMSG_DATA(c) as *const libc::in6_pktinfo
                        );
                        r.ifindex = info.ipi6_ifindex;
                        r.dst = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                    } else if (*c).cmsg_type == libc::IPV6_HOPLIMIT {
                        let h = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::c_int);
                        r.hop_limit = h.clamp(0, 255) as u8;
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(Some(r))
    }
}

/// An AF_PACKET socket kept open for whole Ethernet frames out of any
/// interface: closing one waits for an RCU grace period (7 to 15 ms on a
/// busy machine), so a socket per frame capped CARP at some 60
/// advertisements a second.
pub struct FrameSender {
    fd: std::os::fd::OwnedFd,
}

impl FrameSender {
    pub fn new() -> io::Result<FrameSender> {
        // SAFETY: a plain socket(2) call; protocol 0 receives nothing.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by socket(2) and is owned here.
        Ok(FrameSender {
            fd: unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) },
        })
    }

    pub fn send(&self, ifindex: u32, frame: &[u8]) -> io::Result<()> {
        send_on(self.fd.as_raw_fd(), ifindex, frame)
    }
}

fn send_on(fd: RawFd, ifindex: u32, frame: &[u8]) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { MaybeUninit::zeroed().assume_init() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex as i32;
    sll.sll_halen = 6;
    if frame.len() >= 6 {
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
    }
    // SAFETY: frame and sll are borrowed for the call with their true sizes.
    let r = unsafe {
        libc::sendto(
            fd,
            frame.as_ptr() as *const libc::c_void,
            frame.len(),
            0,
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The first IPv4 address a packet's destination is, for callers that
/// only hold bytes.
pub fn ip_dst(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 => Some(IpAddr::V4(Ipv4Addr::new(
            packet[16], packet[17], packet[18], packet[19],
        ))),
        _ => None,
    }
}

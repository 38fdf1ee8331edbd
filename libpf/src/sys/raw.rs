//! Raw sockets: sending whole IP packets pfd builds (CARP advertisements,
//! pfsync frames, RSTs and ICMP errors, synproxy and syncookie segments)
//! and receiving one IP protocol with the interface it arrived on (IPv4:
//! the whole packet; IPv6: the payload with source, destination and hop
//! limit beside it); AF_PACKET for whole frames (CARP advertisements,
//! gratuitous ARP, unsolicited neighbour advertisements).
//!
//! libc only for sockaddr_ll, which neither nix nor socket2 can build
//! from an interface index (so frames go out with libc's sendto).

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, IoSliceMut};
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
        sock.set_header_included_v6(true)?;
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
        setsockopt(&sock, sockopt::Ipv4PacketInfo, &true)?;
        sock.set_multicast_loop_v4(false)?;
        Ok(RawReceiver { sock })
    }

    /// Size the receive buffer to `bytes` (SO_RCVBUFFORCE as root, beyond
    /// net.core.rmem_max; SO_RCVBUF up to that cap otherwise). Returns
    /// the size the kernel reports.
    pub fn set_recv_buffer(&self, bytes: usize) -> io::Result<usize> {
        let v = bytes.min(i32::MAX as usize);
        if setsockopt(&self.sock, sockopt::RcvBufForce, &v).is_err() {
            self.sock.set_recv_buffer_size(bytes)?;
        }
        self.sock.recv_buffer_size()
    }

    /// Have every packet carry the socket's drop count (`Received::dropped`).
    pub fn count_drops(&self) -> io::Result<()> {
        Ok(setsockopt(&self.sock, sockopt::RxqOvfl, &1)?)
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
        self.recv_flags(buf, MsgFlags::empty())
    }

    /// Receive one packet if one is waiting (None when none is).
    pub fn recv_nonblocking(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        match self.recv_flags(buf, MsgFlags::MSG_DONTWAIT) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn recv_flags(&self, buf: &mut [u8], flags: MsgFlags) -> io::Result<Received> {
        let mut cmsg = [0u8; 64];
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<()>(self.sock.as_raw_fd(), &mut iov, Some(&mut cmsg), flags)?;
        let mut ifindex = 0;
        let mut dropped = None;
        for c in msg.cmsgs().into_iter().flatten() {
            match c {
                ControlMessageOwned::Ipv4PacketInfo(info) => ifindex = info.ipi_ifindex as u32,
                ControlMessageOwned::RxqOvfl(n) => dropped = Some(n),
                _ => {}
            }
        }
        Ok(Received {
            len: msg.bytes,
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
        setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true)?;
        setsockopt(&sock, sockopt::Ipv6RecvHopLimit, &true)?;
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
        let mut iov = [IoSliceMut::new(buf)];
        let fd = self.sock.as_raw_fd();
        let msg =
            match recvmsg::<SockaddrIn6>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT) {
                Ok(m) => m,
                Err(Errno::EAGAIN) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
        let mut r = Received6 {
            len: msg.bytes,
            ifindex: 0,
            src: msg.address.map_or(Ipv6Addr::UNSPECIFIED, |a| a.ip()),
            dst: Ipv6Addr::UNSPECIFIED,
            hop_limit: 0,
        };
        for c in msg.cmsgs().into_iter().flatten() {
            match c {
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    r.ifindex = info.ipi6_ifindex;
                    r.dst = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                }
                ControlMessageOwned::Ipv6HopLimit(h) => r.hop_limit = h.clamp(0, 255) as u8,
                _ => {}
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
        // Protocol 0 receives nothing; socket2 sets SOCK_CLOEXEC.
        let sock = Socket::new(Domain::PACKET, Type::RAW, None)?;
        Ok(FrameSender { fd: sock.into() })
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

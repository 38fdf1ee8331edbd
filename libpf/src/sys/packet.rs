//! Packet sockets on every interface for the CARP responders: ARP
//! (ETH_P_ARP), and IPv6 neighbour solicitations (ETH_P_IPV6 with a
//! classic BPF filter, so the kernel hands over nothing else): frames in
//! with the interface they came by, replies out as whole frames; and the
//! link-layer addresses an interface must accept besides its own (packet
//! socket memberships, dropped when the socket closes). The socket, its
//! filter and receive go through socket2 and nix; sendto with a
//! link-layer address and PACKET_ADD_MEMBERSHIP stay libc (neither crate
//! builds a sockaddr_ll from an interface index or wraps packet_mreq).

use nix::sys::socket::{recvfrom, LinkAddr};
use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;

/// Accepts an Ethernet frame of IPv6 whose first next header is ICMPv6
/// (58) and whose ICMPv6 type is a neighbour solicitation (135).
const NS_FILTER: [SockFilter; 8] = [
    SockFilter::new(0x28, 0, 0, 12),     // ldh [12]: ethertype
    SockFilter::new(0x15, 0, 5, 0x86dd), // jeq IPv6, else drop
    SockFilter::new(0x30, 0, 0, 20),     // ldb [20]: next header
    SockFilter::new(0x15, 0, 3, 58),     // jeq ICMPv6, else drop
    SockFilter::new(0x30, 0, 0, 54),     // ldb [54]: ICMPv6 type
    SockFilter::new(0x15, 0, 1, 135),    // jeq NS, else drop
    SockFilter::new(0x06, 0, 0, 0xffff), // ret: the whole frame
    SockFilter::new(0x06, 0, 0, 0),      // ret: drop
];

pub struct PacketSocket {
    fd: OwnedFd,
    proto: u16,
}

/// A frame received: its length, the interface and the packet type
/// (PACKET_HOST, PACKET_BROADCAST, ..., PACKET_OUTGOING for our own).
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub len: usize,
    pub ifindex: u32,
    pub pkttype: u8,
}

pub const PACKET_OUTGOING: u8 = 4;
const PACKET_MR_MULTICAST: u16 = 0;
const PACKET_MR_UNICAST: u16 = 3;

fn sll(ifindex: u32, proto: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
    let mut a: libc::sockaddr_ll = unsafe { MaybeUninit::zeroed().assume_init() };
    a.sll_family = libc::AF_PACKET as u16;
    a.sll_protocol = proto.to_be();
    a.sll_ifindex = ifindex as i32;
    a.sll_halen = 6;
    a
}

impl PacketSocket {
    fn open(proto: u16, filter: &[SockFilter], timeout: Duration) -> io::Result<PacketSocket> {
        let sock = Socket::new(
            Domain::PACKET,
            Type::RAW.cloexec(),
            Some(Protocol::from(i32::from(proto.to_be()))),
        )?;
        if !filter.is_empty() {
            sock.attach_filter(filter)?;
        }
        sock.set_read_timeout(Some(timeout))?;
        Ok(PacketSocket {
            fd: sock.into(),
            proto,
        })
    }

    /// Receives every ARP frame of the namespace; reads time out after
    /// `timeout` so the caller can look at its shutdown flag.
    pub fn arp(timeout: Duration) -> io::Result<PacketSocket> {
        PacketSocket::open(ETH_P_ARP, &[], timeout)
    }

    /// Receives every IPv6 neighbour solicitation of the namespace (and
    /// whatever came in before the filter was attached: the caller checks
    /// each frame). Replies go out as IPv6 frames.
    pub fn neighbour_solicitations(timeout: Duration) -> io::Result<PacketSocket> {
        PacketSocket::open(ETH_P_IPV6, &NS_FILTER, timeout)
    }

    /// The next frame; Ok(None) when the read timed out.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        match recvfrom::<LinkAddr>(self.fd.as_raw_fd(), buf) {
            Ok((len, from)) => Ok(Some(Received {
                len,
                ifindex: from.map_or(0, |a| a.ifindex() as u32),
                pkttype: from.map_or(0, |a| a.pkttype()),
            })),
            Err(e) => {
                let e = io::Error::from(e);
                if super::transient(&e) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Send a whole frame (Ethernet header first) on `ifindex`.
    pub fn send(&self, ifindex: u32, frame: &[u8]) -> io::Result<()> {
        let mut to = sll(ifindex, self.proto);
        if frame.len() >= 6 {
            to.sll_addr[..6].copy_from_slice(&frame[..6]);
        }
        // SAFETY: frame and to are borrowed for the call with their sizes.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
                &to as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Make `ifindex` accept frames to `mac` (or stop), as its own
    /// address list holds it: PACKET_ADD_MEMBERSHIP /
    /// PACKET_DROP_MEMBERSHIP, PACKET_MR_MULTICAST for a multicast MAC,
    /// PACKET_MR_UNICAST (the device's secondary unicast list) otherwise.
    pub fn accept_mac(&self, ifindex: u32, mac: [u8; 6], on: bool) -> io::Result<()> {
        // SAFETY: packet_mreq is plain data; all zeroes is a valid value.
        let mut m: libc::packet_mreq = unsafe { MaybeUninit::zeroed().assume_init() };
        m.mr_ifindex = ifindex as i32;
        m.mr_type = if mac[0] & 1 != 0 {
            PACKET_MR_MULTICAST
        } else {
            PACKET_MR_UNICAST
        };
        m.mr_alen = 6;
        m.mr_address[..6].copy_from_slice(&mac);
        let opt = if on {
            libc::PACKET_ADD_MEMBERSHIP
        } else {
            libc::PACKET_DROP_MEMBERSHIP
        };
        // SAFETY: m is borrowed for the call with its true size.
        let r = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                opt,
                &m as *const libc::packet_mreq as *const libc::c_void,
                std::mem::size_of::<libc::packet_mreq>() as u32,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

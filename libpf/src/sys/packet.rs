//! A packet socket for ARP (ETH_P_ARP on every interface): requests in
//! with the interface they came by, replies out as whole frames; and the
//! link-layer addresses an interface must accept besides its own (packet
//! socket memberships, dropped when the socket closes). The socket and
//! receive go through socket2 and nix; sendto with a link-layer address
//! and PACKET_ADD_MEMBERSHIP stay libc (neither crate builds a
//! sockaddr_ll from an interface index or wraps packet_mreq).

use nix::sys::socket::{recvfrom, LinkAddr};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

const ETH_P_ARP: u16 = 0x0806;

pub struct ArpSocket {
    fd: OwnedFd,
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

fn sll(ifindex: u32) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
    let mut a: libc::sockaddr_ll = unsafe { MaybeUninit::zeroed().assume_init() };
    a.sll_family = libc::AF_PACKET as u16;
    a.sll_protocol = ETH_P_ARP.to_be();
    a.sll_ifindex = ifindex as i32;
    a.sll_halen = 6;
    a
}

impl ArpSocket {
    /// Receives every ARP frame of the namespace; reads time out after
    /// `timeout` so the caller can look at its shutdown flag.
    pub fn open(timeout: Duration) -> io::Result<ArpSocket> {
        let sock = Socket::new(
            Domain::PACKET,
            Type::RAW.cloexec(),
            Some(Protocol::from(i32::from(ETH_P_ARP.to_be()))),
        )?;
        sock.set_read_timeout(Some(timeout))?;
        Ok(ArpSocket { fd: sock.into() })
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
        let mut to = sll(ifindex);
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

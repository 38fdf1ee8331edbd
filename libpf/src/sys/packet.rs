//! A packet socket for ARP (ETH_P_ARP on every interface): requests in
//! with the interface they came by, replies out as whole frames; and the
//! link-layer addresses an interface must accept besides its own (packet
//! socket memberships, dropped when the socket closes).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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
        // SAFETY: a plain socket(2) call.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(ETH_P_ARP.to_be()),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by socket(2) and is owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: tv is borrowed for the call with its true size.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ArpSocket { fd })
    }

    /// The next frame; Ok(None) when the read timed out.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        let mut from = sll(0);
        let mut flen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        // SAFETY: buf and from are borrowed for the call with their sizes.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
                &mut from as *mut libc::sockaddr_ll as *mut libc::sockaddr,
                &mut flen,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if super::transient(&e) {
                Ok(None)
            } else {
                Err(e)
            };
        }
        Ok(Some(Received {
            len: n as usize,
            ifindex: from.sll_ifindex as u32,
            pkttype: from.sll_pkttype,
        }))
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

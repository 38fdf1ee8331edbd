//! pflog's interfaces on Linux: a tun device (`pflog0`, ARPHRD_NONE, so
//! libpcap gives it link type DLT_RAW) that exists while pfd holds it,
//! and an AF_PACKET socket that transmits logged packets on it. A packet
//! sent that way goes to every capture on the interface (tcpdump sees it
//! as outgoing) and then into the tun's queue, which pfd drains and
//! discards: it never enters the IP stack, netfilter or routing.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// _IOW('T', 202, int): TUNSETIFF.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;

/// struct ifreq as TUNSETIFF reads it: the name and the flags.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// A tun device pfd created; it goes when this is dropped.
pub struct Tun {
    fd: OwnedFd,
    pub name: String,
    pub index: u32,
}

impl Tun {
    /// Creates tun device `name` (IFF_TUN, no packet information),
    /// non-blocking. Err: no /dev/net/tun, or the name is taken.
    pub fn create(name: &str) -> io::Result<Tun> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name}: bad interface name"),
            ));
        }
        let path = c"/dev/net/tun";
        // SAFETY: open(2) of a constant NUL-terminated path.
        let raw = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("/dev/net/tun: {e}")));
        }
        // SAFETY: raw was just returned by open(2) and is owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: IFF_TUN | IFF_NO_PI,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads and writes an ifreq-sized struct we own.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) } < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("{name}: TUNSETIFF: {e}")));
        }
        let index = nix::net::if_::if_nametoindex(name).map_err(io::Error::from)?;
        Ok(Tun {
            fd,
            name: name.to_string(),
            index,
        })
    }

    /// Reads and discards what the kernel transmitted on the device.
    pub fn drain(&self) {
        let mut buf = [0u8; 2048];
        for _ in 0..256 {
            // SAFETY: reading into a buffer we own, with its true size.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                )
            };
            if n <= 0 {
                return;
            }
        }
    }
}

/// An AF_PACKET datagram socket: sends IP packets out of an interface
/// with no link-layer header (what a tun device takes).
pub struct PacketSender {
    fd: OwnedFd,
}

impl PacketSender {
    pub fn new() -> io::Result<PacketSender> {
        // SAFETY: a plain socket(2) call; protocol 0 receives nothing.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw was just returned by socket(2) and is owned here.
        Ok(PacketSender {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        })
    }

    /// Sends IP packet `pkt` out of interface `ifindex`.
    pub fn send(&self, ifindex: u32, pkt: &[u8]) -> io::Result<()> {
        let proto: u16 = match pkt.first().map(|b| b >> 4) {
            Some(4) => libc::ETH_P_IP as u16,
            Some(6) => libc::ETH_P_IPV6 as u16,
            _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
        };
        send_dgram(self.fd.as_raw_fd(), ifindex, proto, pkt)
    }
}

fn send_dgram(fd: RawFd, ifindex: u32, proto: u16, pkt: &[u8]) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { MaybeUninit::zeroed().assume_init() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto.to_be();
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: pkt and sll are borrowed for the call with their true sizes.
    let r = unsafe {
        libc::sendto(
            fd,
            pkt.as_ptr() as *const libc::c_void,
            pkt.len(),
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

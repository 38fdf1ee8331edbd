//! pflog's interfaces on Linux: a tun device (`pflog0`, ARPHRD_NONE, so
//! libpcap gives it link type DLT_RAW) that exists while pfd holds it,
//! and an AF_PACKET socket that transmits logged packets on it. A packet
//! sent that way goes to every capture on the interface (tcpdump sees it
//! as outgoing) and then into the tun's queue, which pfd drains and
//! discards: it never enters the IP stack, netfilter or routing.
//!
//! libc for sockaddr_ll, which neither nix nor socket2 can build from an
//! interface index (so sendto stays libc's), and for the ifreq layout.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// _IOW('T', 202, int): TUNSETIFF.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
// TUNSETIFF copies the ifreq back (the name the kernel chose), hence
// read-write although its number says write.
nix::ioctl_readwrite_bad!(tunsetiff, TUNSETIFF, IfReq);
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
        use nix::fcntl::OFlag;
        let fd = nix::fcntl::open(
            "/dev/net/tun",
            OFlag::O_RDWR | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| {
            let e = io::Error::from(e);
            io::Error::new(e.kind(), format!("/dev/net/tun: {e}"))
        })?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: IFF_TUN | IFF_NO_PI,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads and writes an ifreq-sized struct we own.
        if let Err(e) = unsafe { tunsetiff(fd.as_raw_fd(), &mut req) } {
            let e = io::Error::from(e);
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
            match nix::unistd::read(&self.fd, &mut buf) {
                Ok(n) if n > 0 => {}
                _ => return,
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
        use socket2::{Domain, Socket, Type};
        // Protocol 0 receives nothing; socket2 sets SOCK_CLOEXEC.
        let sock = Socket::new(Domain::PACKET, Type::DGRAM.nonblocking(), None)?;
        Ok(PacketSender { fd: sock.into() })
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

//! rtnetlink glue: links, addresses and macvlans through one synchronous
//! NETLINK_ROUTE socket, and link notifications for following a carpdev's
//! carrier.
//!
//! This module owns every conversation libpf has with the kernel's routing
//! netlink: listing and changing links (up/down, mtu, description, MAC),
//! creating the macvlans that carry carp interfaces (and veth pairs, for
//! tests and the regress suite), deleting links, and listing, adding and
//! removing IPv4/IPv6 addresses. `netstart` applies hostname.if(5) lines
//! with it, `pfd` moves carp addresses with it.
//!
//! Requests are built with `netlink-packet-route`; replies are decoded by
//! the small lenient decoder in `decode`, which never panics and ignores
//! what it does not need. Errors are `io::Error`s whose message says which
//! interface and which request failed ("carp1: RTM_NEWLINK: File exists",
//! plus the kernel's extended-ACK text when it gives one); the errno stays
//! reachable through [`errno`] and the error kind matches it.
//!
//! Network namespaces are per thread: a `Netlink` or `LinkMonitor` talks to
//! the namespace of the thread that opened it.

mod decode;
mod policy;
pub mod route;
#[cfg(test)]
pub(crate) mod tests;

pub use route::{NetEvent, NetMonitor};

use crate::addr::IpNet;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, InfoData, InfoKind, InfoMacVlan, InfoVeth, LinkAttribute, LinkFlags,
    LinkInfo, LinkMessage, MacVlanMode,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::sys::socket::MsgFlags;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, RawFd};

pub use policy::{DefaultRoute, FwRule, Lookup};

/// A network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The link-layer address when it is 6 bytes long (Ethernet-like links).
    pub mac: Option<[u8; 6]>,
    pub mtu: u32,
    /// IFF_UP: administratively up.
    pub up: bool,
    /// IFF_RUNNING: operationally up (RFC 2863 operstate UP).
    pub running: bool,
    /// IFF_LOWER_UP: carrier.
    pub lower_up: bool,
    /// IFLA_INFO_KIND: "veth", "macvlan", "bridge", ...; None for physical
    /// devices and loopback.
    pub kind: Option<String>,
    /// IFLA_LINK: the lower device of a macvlan/vlan, the peer of a veth.
    /// None when absent, 0, the link itself, or in another namespace.
    pub parent: Option<u32>,
    /// IFLA_IFALIAS: the description; None when unset or empty.
    pub alias: Option<String>,
}

/// An interface address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub net: IpNet,
    pub broadcast: Option<Ipv4Addr>,
}

/// The error inside the `io::Error`s of this module: what was being done,
/// and the errno the kernel answered (None for local or protocol errors).
#[derive(Debug)]
pub struct NetlinkError {
    pub context: String,
    pub errno: Option<i32>,
    pub detail: String,
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.detail)
    }
}

impl std::error::Error for NetlinkError {}

/// The errno behind an error of this module (or any OS error).
pub fn errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
        .or_else(|| e.get_ref()?.downcast_ref::<NetlinkError>()?.errno)
}

fn error(kind: io::ErrorKind, context: String, errno: Option<i32>, detail: String) -> io::Error {
    io::Error::new(
        kind,
        NetlinkError {
            context,
            errno,
            detail,
        },
    )
}

/// How a request failed, before the caller says what it was doing.
#[derive(Debug)]
enum Fail {
    /// The kernel said no: positive errno, extended-ACK message.
    Nack(i32, Option<String>),
    /// The socket failed, or the kernel's answer did not decode.
    Io(io::Error),
}

impl Fail {
    fn errno(&self) -> Option<i32> {
        match self {
            Fail::Nack(e, _) => Some(*e),
            Fail::Io(e) => e.raw_os_error(),
        }
    }

    fn into_io(self, context: String) -> io::Error {
        match self {
            Fail::Nack(e, ext) => {
                let mut detail = nix::errno::Errno::from_raw(e).desc().to_string();
                if let Some(ext) = ext {
                    detail = format!("{detail} ({ext})");
                }
                error(
                    io::Error::from_raw_os_error(e).kind(),
                    context,
                    Some(e),
                    detail,
                )
            }
            Fail::Io(e) => error(e.kind(), context, e.raw_os_error(), e.to_string()),
        }
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        Fail::Io(e)
    }
}

/// The name of an interface for error messages; "ifindex N" when it has
/// none (any more).
fn ifname(index: u32) -> String {
    // nix 0.30 misses if_indextoname's NULL (it checks for -1) and
    // answers an empty name for an unknown index.
    match nix::net::if_::if_indextoname(index) {
        Ok(name) if !name.is_empty() => name.to_string_lossy().into_owned(),
        _ => format!("ifindex {index}"),
    }
}

/// The kernel's rules for interface names (dev_valid_name()).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IF_NAMESIZE
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|c| c == b'/' || c == b':' || c == 0 || c.is_ascii_whitespace())
}

fn check_name(name: &str) -> io::Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(error(
            io::ErrorKind::InvalidInput,
            format!("{name:?}"),
            Some(libc::EINVAL),
            "invalid interface name".into(),
        ))
    }
}

/// A raw netlink socket of `protocol` (NETLINK_NETFILTER, NETLINK_XFRM,
/// ...; the hand-built protocols outside rtnetlink), close-on-exec and
/// bound to a port the kernel picks, subscribed to the multicast
/// `groups` (a bitmask: group n is bit n-1, as sockaddr_nl.nl_groups
/// has it).
pub(crate) fn open_socket(protocol: i32, groups: u32) -> io::Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{bind, NetlinkAddr};
    use socket2::{Domain, Protocol, Type};
    // socket2 sets SOCK_CLOEXEC and owns the descriptor.
    let sock = socket2::Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::RAW,
        Some(Protocol::from(protocol)),
    )?;
    bind(sock.as_raw_fd(), &NetlinkAddr::new(0, groups))?;
    Ok(sock.into())
}

/// Receives one datagram into `buf`, growing it when the datagram is
/// larger (peeked with MSG_TRUNC, so nothing is ever cut). Retries EINTR.
fn recv_datagram(fd: RawFd, buf: &mut Vec<u8>, flags: MsgFlags) -> io::Result<usize> {
    use nix::errno::Errno;
    use nix::sys::socket::recv;
    loop {
        let peek = flags | MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC;
        let n = match recv(fd, buf, peek) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if n > buf.len() {
            buf.resize(n, 0);
            continue;
        }
        match recv(fd, buf, flags) {
            Ok(n) => return Ok(n.min(buf.len())),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

const RECV_BUF: usize = 32 * 1024;
/// How often a dump the kernel flags as inconsistent (NLM_F_DUMP_INTR,
/// links or addresses changed meanwhile) is restarted before giving up.
const DUMP_TRIES: usize = 10;
const IN6_ADDR_GEN_MODE_NONE: u8 = 1;
/// Datagrams one `LinkMonitor::drain` reads at most.
const MAX_DRAIN: usize = 4096;

/// One reply message of a request: type and payload.
struct Reply {
    ty: u16,
    payload: Vec<u8>,
}

/// A NETLINK_ROUTE socket for requests: each request carries a fresh
/// sequence number and asks for an ACK; answers with other sequence
/// numbers (left over from an earlier failed call) are skipped.
pub struct Netlink {
    sock: Socket,
    port: u32,
    seq: u32,
    buf: Vec<u8>,
}

impl fmt::Debug for Netlink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.sock.as_raw_fd())
            .field("port", &self.port)
            .finish()
    }
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        let ctx = |e: io::Error| Fail::Io(e).into_io("netlink: NETLINK_ROUTE socket".into());
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(ctx)?;
        let port = sock.bind_auto().map_err(ctx)?.port_number();
        sock.connect(&SocketAddr::new(0, 0)).map_err(ctx)?;
        // Better error messages where the kernel has them; harmless if not.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        Ok(Netlink {
            sock,
            port,
            seq: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Sends `msg` with NLM_F_REQUEST | NLM_F_ACK | `flags` and collects
    /// the answer up to its ACK, NLMSG_DONE or error. The bool says the
    /// kernel flagged a dump as interrupted.
    fn transact(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(Vec<Reply>, bool), Fail> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut req = vec![0; packet.buffer_len()];
        packet.serialize(&mut req);
        loop {
            match self.sock.send(&req, 0) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }

        let mut replies = Vec::new();
        let mut interrupted = false;
        loop {
            let n = recv_datagram(self.sock.as_raw_fd(), &mut self.buf, MsgFlags::empty())?;
            for m in decode::messages(&self.buf[..n]) {
                let m = m.map_err(|e| Fail::Io(io::Error::new(io::ErrorKind::InvalidData, e)))?;
                if m.seq != seq || m.pid != self.port {
                    continue;
                }
                interrupted |= m.flags & decode::NLM_F_DUMP_INTR != 0;
                match m.ty {
                    decode::NLMSG_NOOP => {}
                    decode::NLMSG_ERROR => {
                        let (code, ext) =
                            decode::parse_error(m.flags, m.payload).ok_or_else(|| {
                                Fail::Io(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    "truncated NLMSG_ERROR",
                                ))
                            })?;
                        if code == 0 {
                            return Ok((replies, interrupted));
                        }
                        return Err(Fail::Nack(code.unsigned_abs() as i32, ext));
                    }
                    decode::NLMSG_DONE => {
                        let code = decode::parse_done(m.payload);
                        if code != 0 {
                            return Err(Fail::Nack(code.unsigned_abs() as i32, None));
                        }
                        return Ok((replies, interrupted));
                    }
                    decode::NLMSG_OVERRUN => {
                        return Err(Fail::Io(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "NLMSG_OVERRUN",
                        )))
                    }
                    ty => replies.push(Reply {
                        ty,
                        payload: m.payload.to_vec(),
                    }),
                }
            }
        }
    }

    /// A dump (NLM_F_DUMP), restarted while the kernel says it was
    /// interrupted by concurrent changes.
    fn dump(
        &mut self,
        msg: impl Fn() -> RouteNetlinkMessage,
        what: &str,
    ) -> io::Result<Vec<Reply>> {
        for _ in 0..DUMP_TRIES {
            let (replies, interrupted) = self
                .transact(msg(), NLM_F_DUMP)
                .map_err(|f| f.into_io(format!("netlink: {what} dump")))?;
            if !interrupted {
                return Ok(replies);
            }
        }
        Err(error(
            io::ErrorKind::Other,
            format!("netlink: {what} dump"),
            None,
            format!("interrupted by concurrent changes {DUMP_TRIES} times"),
        ))
    }

    /// Every link of this namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let replies = self.dump(
            || RouteNetlinkMessage::GetLink(LinkMessage::default()),
            "RTM_GETLINK",
        )?;
        Ok(replies
            .iter()
            .filter(|r| r.ty == decode::RTM_NEWLINK)
            .filter_map(|r| decode::parse_link(&r.payload))
            .collect())
    }

    fn get_link(&mut self, msg: LinkMessage) -> Result<Option<Link>, Fail> {
        match self.transact(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok((replies, _)) => Ok(replies
                .iter()
                .filter(|r| r.ty == decode::RTM_NEWLINK)
                .find_map(|r| decode::parse_link(&r.payload))),
            Err(f) if f.errno() == Some(libc::ENODEV) => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// The link with this name (or alternative name), None if there is none.
    pub fn link_by_name(&mut self, name: &str) -> io::Result<Option<Link>> {
        if !valid_name(name) {
            return Ok(None);
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        self.get_link(msg)
            .map_err(|f| f.into_io(format!("{name}: RTM_GETLINK")))
    }

    pub fn link_by_index(&mut self, index: u32) -> io::Result<Option<Link>> {
        if index == 0 {
            return Ok(None);
        }
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.get_link(msg)
            .map_err(|f| f.into_io(format!("ifindex {index}: RTM_GETLINK")))
    }

    /// RTM_SETLINK on `index` with `msg`'s flags and attributes.
    fn set_link(&mut self, index: u32, what: &str, mut msg: LinkMessage) -> io::Result<()> {
        msg.header.index = index;
        self.transact(RouteNetlinkMessage::SetLink(msg), 0)
            .map(drop)
            .map_err(|f| f.into_io(format!("{}: RTM_SETLINK {what}", ifname(index))))
    }

    fn set_attr(&mut self, index: u32, what: &str, attr: LinkAttribute) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(attr);
        self.set_link(index, what, msg)
    }

    pub fn set_up(&mut self, index: u32, up: bool) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.flags = if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        };
        msg.header.change_mask = LinkFlags::Up;
        self.set_link(index, if up { "up" } else { "down" }, msg)
    }

    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> io::Result<()> {
        self.set_attr(index, &format!("mtu {mtu}"), LinkAttribute::Mtu(mtu))
    }

    /// Sets the description (IFLA_IFALIAS); "" clears it.
    pub fn set_alias(&mut self, index: u32, alias: &str) -> io::Result<()> {
        // The kernel keeps at most 255 bytes (IFALIASZ - 1).
        if alias.len() > 255 || alias.contains('\0') {
            return Err(error(
                io::ErrorKind::InvalidInput,
                format!("{}: description", ifname(index)),
                Some(libc::EINVAL),
                "longer than 255 bytes or contains NUL".into(),
            ));
        }
        self.set_attr(index, "description", LinkAttribute::IfAlias(alias.into()))
    }

    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> io::Result<()> {
        self.set_attr(
            index,
            &format!("lladdr {}", fmt_mac(&mac)),
            LinkAttribute::Address(mac.to_vec()),
        )
    }

    /// RTM_NEWLINK with NLM_F_CREATE | NLM_F_EXCL, then the new ifindex.
    fn new_link(&mut self, name: &str, mut msg: LinkMessage) -> io::Result<u32> {
        msg.attributes.insert(0, LinkAttribute::IfName(name.into()));
        self.transact(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map_err(|f| f.into_io(format!("{name}: RTM_NEWLINK")))?;
        match self.link_by_name(name)? {
            Some(link) => Ok(link.index),
            None => Err(error(
                io::ErrorKind::NotFound,
                format!("{name}: RTM_NEWLINK"),
                Some(libc::ENODEV),
                "created, but gone before its index could be read".into(),
            )),
        }
    }

    /// Creates macvlan `name` (mode bridge) on `parent` with `mac`, down,
    /// with IPv6 address generation off (IFLA_INET6_ADDR_GEN_MODE none) so
    /// it never sends anything, not even a link-local DAD probe, with the
    /// virtual MAC until addresses are put on it. Returns its ifindex.
    pub fn create_macvlan(&mut self, name: &str, parent: u32, mac: [u8; 6]) -> io::Result<u32> {
        check_name(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes = vec![
            LinkAttribute::Link(parent),
            LinkAttribute::Address(mac.to_vec()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::MacVlan),
                LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                    MacVlanMode::Bridge,
                )])),
            ]),
        ];
        let index = self.new_link(name, msg)?;
        // A second request: the kernel refuses IFLA_AF_SPEC/inet6 when
        // creating a link (EAFNOSUPPORT, it has no IPv6 state yet). No
        // race: the link is down, and IPv6 generates a link-local address
        // only when it comes up.
        if let Err(e) = self.set_addr_gen_mode_none(index, name) {
            let _ = self.delete_link(index);
            return Err(e);
        }
        Ok(index)
    }

    fn set_addr_gen_mode_none(&mut self, index: u32, name: &str) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes
            .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(IN6_ADDR_GEN_MODE_NONE)],
            )]));
        match self.transact(RouteNetlinkMessage::SetLink(msg), 0) {
            Ok(_) => Ok(()),
            // No IPv6 on this link (disabled, or MTU below 1280): nothing
            // would be generated anyway.
            Err(f) if f.errno() == Some(libc::EAFNOSUPPORT) => Ok(()),
            Err(f) => Err(f.into_io(format!("{name}: RTM_SETLINK addrgenmode none"))),
        }
    }

    /// Creates a veth pair `a` <-> `b` (both down); returns their ifindexes.
    pub fn create_veth(&mut self, a: &str, b: &str) -> io::Result<(u32, u32)> {
        check_name(a)?;
        check_name(b)?;
        let mut peer = LinkMessage::default();
        peer.attributes.push(LinkAttribute::IfName(b.into()));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        let ia = self.new_link(a, msg)?;
        match self.link_by_name(b)? {
            Some(link) => Ok((ia, link.index)),
            None => Err(error(
                io::ErrorKind::NotFound,
                format!("{b}: RTM_NEWLINK"),
                Some(libc::ENODEV),
                "veth peer not found after creation".into(),
            )),
        }
    }

    /// Deletes a link (both ends, for a veth).
    pub fn delete_link(&mut self, index: u32) -> io::Result<()> {
        let name = ifname(index);
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.transact(RouteNetlinkMessage::DelLink(msg), 0)
            .map(drop)
            .map_err(|f| f.into_io(format!("{name}: RTM_DELLINK")))
    }

    /// IPv4 and IPv6 addresses, of one link or of all.
    pub fn addrs(&mut self, index: Option<u32>) -> io::Result<Vec<Addr>> {
        Ok(self
            .addr_infos(index)?
            .into_iter()
            .map(|a| a.addr)
            .collect())
    }

    fn addr_infos(&mut self, index: Option<u32>) -> io::Result<Vec<decode::AddrInfo>> {
        let replies = self.dump(
            || RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            "RTM_GETADDR",
        )?;
        Ok(replies
            .iter()
            .filter(|r| r.ty == decode::RTM_NEWADDR)
            .filter_map(|r| decode::parse_addr(&r.payload))
            .filter(|a| index.is_none_or(|i| a.addr.index == i))
            .collect())
    }

    fn addr_msg(index: u32, net: IpNet) -> AddressMessage {
        let mut msg = AddressMessage::default();
        msg.header.family = match net.addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        msg.header.prefix_len = net.prefix;
        msg.header.index = index;
        // IFA_LOCAL is the address; IFA_ADDRESS the same (no peer).
        msg.attributes.push(AddressAttribute::Local(net.addr));
        msg.attributes.push(AddressAttribute::Address(net.addr));
        msg
    }

    /// Adds `net` to link `index`. `broadcast` is IPv4 only (None: no
    /// broadcast address, as `ip addr add` without `brd`); `noprefixroute`
    /// keeps the kernel from adding the route to the prefix. An address
    /// that is already there is success (it is not compared further).
    pub fn add_addr(
        &mut self,
        index: u32,
        net: IpNet,
        broadcast: Option<Ipv4Addr>,
        noprefixroute: bool,
    ) -> io::Result<()> {
        let flags = if noprefixroute {
            AddressFlags::Noprefixroute
        } else {
            AddressFlags::empty()
        };
        self.add_addr_flags(index, net, broadcast, flags)
    }

    /// A carp interface's virtual address: no prefix route (traffic leaves
    /// by the carpdev) and, for IPv6, no duplicate address detection
    /// (IFA_F_NODAD): the peer holds the same address while it hands over,
    /// and DAD would leave it "dadfailed" on the new MASTER.
    pub fn add_carp_addr(
        &mut self,
        index: u32,
        net: IpNet,
        broadcast: Option<Ipv4Addr>,
    ) -> io::Result<()> {
        let mut flags = AddressFlags::Noprefixroute;
        if net.addr.is_ipv6() {
            flags |= AddressFlags::Nodad;
        }
        self.add_addr_flags(index, net, broadcast, flags)
    }

    fn add_addr_flags(
        &mut self,
        index: u32,
        net: IpNet,
        broadcast: Option<Ipv4Addr>,
        flags: AddressFlags,
    ) -> io::Result<()> {
        let ctx = || format!("{}: RTM_NEWADDR {net}", ifname(index));
        let mut msg = Self::addr_msg(index, net);
        if let Some(b) = broadcast {
            if net.addr.is_ipv6() {
                return Err(error(
                    io::ErrorKind::InvalidInput,
                    ctx(),
                    Some(libc::EINVAL),
                    "broadcast address given for IPv6".into(),
                ));
            }
            msg.attributes.push(AddressAttribute::Broadcast(b));
        }
        if !flags.is_empty() {
            msg.attributes.push(AddressAttribute::Flags(flags));
        }
        match self.transact(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(_) => Ok(()),
            Err(f) if f.errno() == Some(libc::EEXIST) => Ok(()),
            Err(f) => Err(f.into_io(ctx())),
        }
    }

    /// Removes `net` (address and prefix length must match) from link
    /// `index`; an address that is not there is success.
    pub fn del_addr(&mut self, index: u32, net: IpNet) -> io::Result<()> {
        let msg = Self::addr_msg(index, net);
        match self.transact(RouteNetlinkMessage::DelAddress(msg), 0) {
            Ok(_) => Ok(()),
            Err(f) if matches!(f.errno(), Some(libc::EADDRNOTAVAIL) | Some(libc::ENOENT)) => Ok(()),
            Err(f) => Err(f.into_io(format!("{}: RTM_DELADDR {net}", ifname(index)))),
        }
    }
}

fn fmt_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Link notifications (RTNLGRP_LINK): every RTM_NEWLINK the kernel sends
/// when a link changes (flags, carrier, mtu, name, ...), and RTM_DELLINK.
pub struct LinkMonitor {
    sock: Socket,
    buf: Vec<u8>,
    /// For a full resync when notifications were lost.
    nl: Netlink,
    /// How often the socket overflowed (ENOBUFS) and drain() resynced.
    overflows: u64,
}

impl fmt::Debug for LinkMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkMonitor")
            .field("fd", &self.sock.as_raw_fd())
            .finish()
    }
}

impl LinkMonitor {
    pub fn open() -> io::Result<LinkMonitor> {
        let ctx = |e: io::Error| Fail::Io(e).into_io("netlink: link monitor".into());
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(ctx)?;
        sock.bind_auto().map_err(ctx)?;
        sock.add_membership(libc::RTNLGRP_LINK).map_err(ctx)?;
        sock.set_non_blocking(true).map_err(ctx)?;
        // Room for bursts (a bridge with many ports going down); the
        // kernel caps it at net.core.rmem_max.
        let _ = sock.set_rx_buf_sz(1 << 20);
        Ok(LinkMonitor {
            sock,
            buf: vec![0; RECV_BUF],
            nl: Netlink::open()?,
            overflows: 0,
        })
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// How many times notifications were lost (the socket's buffer
    /// overflowed) and `drain` appended a full resync; worth a log line.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Non-blocking: every pending notification, parsed, oldest first.
    /// A deleted link comes with `up`, `running` and `lower_up` false. If
    /// the socket overflowed (notifications lost), the current state of
    /// every link is appended, so the last entry for a link is always
    /// right.
    pub fn drain(&mut self) -> io::Result<Vec<Link>> {
        let mut out = Vec::new();
        let mut lost = false;
        // Bounded, so a storm of changes cannot keep the caller here: what
        // is left keeps the descriptor readable for the next poll.
        for _ in 0..MAX_DRAIN {
            let n =
                match recv_datagram(self.sock.as_raw_fd(), &mut self.buf, MsgFlags::MSG_DONTWAIT) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        lost = true;
                        continue;
                    }
                    Err(e) => return Err(Fail::Io(e).into_io("netlink: link monitor".into())),
                };
            // A datagram whose framing is broken is dropped from there on.
            for m in decode::messages(&self.buf[..n]).map_while(Result::ok) {
                match m.ty {
                    decode::RTM_NEWLINK => out.extend(decode::parse_link(m.payload)),
                    decode::RTM_DELLINK => {
                        out.extend(decode::parse_link(m.payload).map(|mut l| {
                            l.up = false;
                            l.running = false;
                            l.lower_up = false;
                            l
                        }))
                    }
                    _ => {}
                }
            }
        }
        if lost {
            self.overflows += 1;
            out.extend(self.nl.links()?);
        }
        Ok(out)
    }
}

impl AsRawFd for LinkMonitor {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

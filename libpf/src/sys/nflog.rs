//! Sending to an NFLOG group's reader as the kernel does: a process
//! cannot make the kernel emit into an nfnetlink_log group, but a root
//! process may unicast a netlink message to any NETLINK_NETFILTER socket,
//! and the kernel lists each bound group with its reader's port id in
//! /proc/net/netfilter/nfnetlink_log (of the network namespace). A
//! reader (`tcpdump -i nflog:N`, tshark, ulogd) receives the message as
//! one from the kernel's NFLOG target. Groups nobody reads cost nothing
//! but a read of that file at most once a second; a reader that does not
//! keep up loses messages (the kernel tells it ENOBUFS, as with its own
//! NFLOG overruns) and they are counted here.

use nix::sys::socket::{
    bind, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// The kernel's list of bound groups.
pub const PROC_FILE: &str = "/proc/net/netfilter/nfnetlink_log";
/// How often the list is read, at most.
const REREAD: Duration = Duration::from_secs(1);

/// The groups a /proc/net/netfilter/nfnetlink_log text lists, each with
/// its reader's port id (lines "group portid qlen copy_mode copy_range
/// flushtimeout use"; anything else is skipped).
pub fn parse_bound(text: &str) -> Vec<(u16, u32)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let group = f.next()?.parse().ok()?;
            let port = f.next()?.parse().ok()?;
            Some((group, port))
        })
        .collect()
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Delivered,
    /// The reader's socket was full.
    Lost,
    /// The reader is gone (its port id no longer exists).
    Gone,
}

/// A NETLINK_NETFILTER socket that sends to the readers of groups.
pub struct Sender {
    fd: OwnedFd,
    bound: Vec<(u16, u32)>,
    read_at: Option<Instant>,
    /// Interface names to indexes, forgotten when the list is read again.
    ifindex: HashMap<Vec<u8>, Option<u32>>,
}

impl Sender {
    pub fn open() -> io::Result<Sender> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            SockProtocol::NetlinkNetFilter,
        )
        .map_err(io::Error::from)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(io::Error::from)?;
        Ok(Sender {
            fd,
            bound: Vec::new(),
            read_at: None,
            ifindex: HashMap::new(),
        })
    }

    /// The port id of `group`'s reader, if one is bound (the kernel's
    /// list read again when it is a second old).
    pub fn reader(&mut self, group: u16) -> Option<u32> {
        if self.read_at.is_none_or(|t| t.elapsed() >= REREAD) {
            self.bound = std::fs::read_to_string(PROC_FILE)
                .map(|t| parse_bound(&t))
                .unwrap_or_default();
            self.read_at = Some(Instant::now());
            self.ifindex.clear();
        }
        self.bound.iter().find(|b| b.0 == group).map(|b| b.1)
    }

    /// The index of the interface named `name` (None: there is none).
    pub fn ifindex(&mut self, name: &[u8]) -> Option<u32> {
        if let Some(i) = self.ifindex.get(name) {
            return *i;
        }
        let i = std::str::from_utf8(name)
            .ok()
            .and_then(|n| nix::net::if_::if_nametoindex(n).ok());
        self.ifindex.insert(name.to_vec(), i);
        i
    }

    /// Sends `msg` to the socket of port id `port`, never waiting. A
    /// reader found gone is forgotten until the list is read again.
    pub fn send(&mut self, port: u32, msg: &[u8]) -> Sent {
        let to = NetlinkAddr::new(port, 0);
        match sendto(self.fd.as_raw_fd(), msg, &to, MsgFlags::MSG_DONTWAIT) {
            Ok(_) => Sent::Delivered,
            Err(nix::errno::Errno::ECONNREFUSED) => {
                self.bound.retain(|b| b.1 != port);
                Sent::Gone
            }
            Err(_) => Sent::Lost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_list_of_groups() {
        let text = "    7   3591     0 2 65531    100  1\n  117 4294962 0 2 65531 100 1\n";
        assert_eq!(parse_bound(text), vec![(7, 3591), (117, 4_294_962)]);
        assert_eq!(parse_bound(""), vec![]);
        assert_eq!(parse_bound("junk here\n70000 5\n\n 3\n"), vec![]);
    }
}

//! Routes over rtnetlink: a dump of every routing table of both families,
//! and a monitor of the notifications pfd follows to keep its interface
//! table and its copy of the routes current (RTNLGRP_LINK, the IPv4/IPv6
//! address, route, rule and netconf groups, and next hop objects).
//!
//! Decoding is lenient as in `decode`: unknown attributes are skipped,
//! malformed messages dropped, nothing panics on any input. Routes whose
//! next hops are nexthop objects only (RTA_NH_ID without the compatibility
//! RTA_OIF / RTA_MULTIPATH the kernel adds by default) come without
//! interfaces; IPv6 source-specific routes (a source prefix) and cached
//! clones are left out: they do not decide where an address is routed.

use super::decode::{self, attrs};
use super::{recv_datagram, Fail, Netlink, RECV_BUF};
use crate::addr::IpNet;
use crate::engine::fib::{Route, RouteChange};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use nix::sys::socket::MsgFlags;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};

pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_DELROUTE: u16 = 25;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWNEXTHOP: u16 = 104;
const RTM_DELNEXTHOP: u16 = 105;

const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;

const RTM_F_CLONED: u32 = 0x200;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_APPEND: u16 = 0x800;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Datagrams one `drain` reads at most.
const MAX_DRAIN: usize = 4096;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn ip(family: u8, v: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?))),
        _ => None,
    }
}

/// An RTM_NEWROUTE / RTM_DELROUTE payload (`struct rtmsg` + attributes).
pub(crate) fn parse_route(payload: &[u8]) -> Option<Route> {
    let family = *payload.first()?;
    let dst_len = *payload.get(1)?;
    let src_len = *payload.get(2)?;
    let tos = *payload.get(3)?;
    let mut table = u32::from(*payload.get(4)?);
    let kind = *payload.get(7)?;
    let flags = u32_at(payload, 8)?;
    if (family != AF_INET && family != AF_INET6) || src_len != 0 || flags & RTM_F_CLONED != 0 {
        return None;
    }
    let mut dst = None;
    let mut metric = 0;
    let mut oifs = Vec::new();
    for (ty, v) in attrs(payload.get(12..)?) {
        match ty {
            RTA_DST => dst = ip(family, v),
            RTA_SRC => return None,
            RTA_OIF => oifs.extend(u32_at(v, 0).filter(|&o| o != 0)),
            RTA_PRIORITY => metric = u32_at(v, 0).unwrap_or(0),
            RTA_TABLE => table = u32_at(v, 0).unwrap_or(table),
            RTA_MULTIPATH => {
                // struct rtnexthop { u16 len; u8 flags; u8 hops; i32 ifindex }
                // then its attributes, each hop aligned to 4.
                let mut rest = v;
                while rest.len() >= 8 {
                    let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
                    if len < 8 || len > rest.len() {
                        break;
                    }
                    if let Some(o) = u32_at(rest, 4).filter(|&o| o != 0) {
                        if !oifs.contains(&o) {
                            oifs.push(o);
                        }
                    }
                    rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
                }
            }
            _ => {}
        }
    }
    let any = if family == AF_INET {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let dst = IpNet::new(dst.unwrap_or(any), dst_len).ok()?;
    Some(Route {
        table,
        dst: dst.to_network(),
        tos,
        metric,
        kind,
        oifs,
    })
}

impl Netlink {
    /// Every route of every table, IPv4 and IPv6.
    pub fn routes(&mut self) -> io::Result<Vec<Route>> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let replies = self.dump(
                || {
                    let mut m = RouteMessage::default();
                    m.header.address_family = family;
                    RouteNetlinkMessage::GetRoute(m)
                },
                "RTM_GETROUTE",
            )?;
            out.extend(
                replies
                    .iter()
                    .filter(|r| r.ty == RTM_NEWROUTE)
                    .filter_map(|r| parse_route(&r.payload)),
            );
        }
        Ok(out)
    }
}

/// What a `NetMonitor` saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// A link or an address appeared, changed or went away.
    Links,
    /// A route was added or removed.
    Route(RouteChange),
    /// Notifications were lost (the socket overflowed): resync everything.
    Lost,
    /// A policy routing rule, a next hop object, or a forwarding or
    /// reverse-path filter setting (netconf), changed: routing decisions
    /// may differ.
    Policy,
}

/// Link, address and route notifications.
pub struct NetMonitor {
    sock: Socket,
    buf: Vec<u8>,
    overflows: u64,
}

impl std::fmt::Debug for NetMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetMonitor")
            .field("fd", &self.sock.as_raw_fd())
            .finish()
    }
}

impl NetMonitor {
    pub fn open() -> io::Result<NetMonitor> {
        let ctx = |e: io::Error| Fail::Io(e).into_io("netlink: route monitor".into());
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(ctx)?;
        sock.bind_auto().map_err(ctx)?;
        for g in [
            libc::RTNLGRP_LINK,
            libc::RTNLGRP_IPV4_IFADDR,
            libc::RTNLGRP_IPV6_IFADDR,
            libc::RTNLGRP_IPV4_ROUTE,
            libc::RTNLGRP_IPV6_ROUTE,
            libc::RTNLGRP_IPV4_RULE,
            libc::RTNLGRP_IPV6_RULE,
            libc::RTNLGRP_IPV4_NETCONF,
            libc::RTNLGRP_IPV6_NETCONF,
        ] {
            sock.add_membership(g).map_err(ctx)?;
        }
        // Next hop objects: Linux 5.3 and later (pfd's once-a-second
        // route generation covers them on kernels without).
        let _ = sock.add_membership(libc::RTNLGRP_NEXTHOP);
        sock.set_non_blocking(true).map_err(ctx)?;
        let _ = sock.set_rx_buf_sz(4 << 20);
        Ok(NetMonitor {
            sock,
            buf: vec![0; RECV_BUF],
            overflows: 0,
        })
    }

    /// How often notifications were lost.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Wait up to `ms` milliseconds for a notification; true if one is
    /// there.
    pub fn wait(&self, ms: i32) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut p = [PollFd::new(
            std::os::fd::AsFd::as_fd(&self.sock),
            PollFlags::POLLIN,
        )];
        let t = PollTimeout::try_from(ms).unwrap_or(PollTimeout::NONE);
        poll(&mut p, t).is_ok_and(|n| n > 0) && p[0].revents().is_some_and(|r| !r.is_empty())
    }

    /// Non-blocking: every pending notification, oldest first.
    pub fn drain(&mut self) -> io::Result<Vec<NetEvent>> {
        let mut out = Vec::new();
        for _ in 0..MAX_DRAIN {
            let n =
                match recv_datagram(self.sock.as_raw_fd(), &mut self.buf, MsgFlags::MSG_DONTWAIT) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        self.overflows += 1;
                        out.push(NetEvent::Lost);
                        continue;
                    }
                    Err(e) => return Err(Fail::Io(e).into_io("netlink: route monitor".into())),
                };
            for m in decode::messages(&self.buf[..n]).map_while(Result::ok) {
                match m.ty {
                    decode::RTM_NEWLINK | RTM_DELLINK | RTM_NEWADDR | RTM_DELADDR
                        if out.last() != Some(&NetEvent::Links) =>
                    {
                        out.push(NetEvent::Links)
                    }
                    RTM_NEWROUTE => {
                        if let Some(route) = parse_route(m.payload) {
                            out.push(NetEvent::Route(RouteChange::Add {
                                route,
                                replace: m.flags & NLM_F_REPLACE != 0,
                                append: m.flags & NLM_F_APPEND != 0,
                            }));
                        }
                    }
                    RTM_DELROUTE => {
                        if let Some(route) = parse_route(m.payload) {
                            out.push(NetEvent::Route(RouteChange::Del(route)));
                        }
                    }
                    libc::RTM_NEWRULE
                    | libc::RTM_DELRULE
                    | libc::RTM_NEWNETCONF
                    | libc::RTM_DELNETCONF
                    | RTM_NEWNEXTHOP
                    | RTM_DELNEXTHOP
                        if out.last() != Some(&NetEvent::Policy) =>
                    {
                        out.push(NetEvent::Policy)
                    }
                    _ => {}
                }
            }
        }
        Ok(out)
    }
}

impl AsRawFd for NetMonitor {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fib::RT_TABLE_MAIN;
    use proptest::prelude::*;

    fn nla(ty: u16, v: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(v);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    fn rtmsg(family: u8, dst_len: u8, kind: u8) -> Vec<u8> {
        let mut p = vec![family, dst_len, 0, 0, 254, 4, 0, kind];
        p.extend_from_slice(&0u32.to_ne_bytes());
        p
    }

    #[test]
    fn decodes_routes() {
        let mut p = rtmsg(AF_INET, 24, 1);
        p.extend(nla(RTA_TABLE, &254u32.to_ne_bytes()));
        p.extend(nla(RTA_DST, &[10, 2, 0, 0]));
        p.extend(nla(RTA_PRIORITY, &100u32.to_ne_bytes()));
        p.extend(nla(RTA_OIF, &3u32.to_ne_bytes()));
        let r = parse_route(&p).unwrap();
        assert_eq!(
            (r.table, r.dst.to_string(), r.metric, r.kind, r.oifs.clone()),
            (RT_TABLE_MAIN, "10.2.0.0/24".into(), 100, 1, vec![3])
        );
        // A multipath default route, IPv6.
        let mut hops = Vec::new();
        for o in [4u32, 5] {
            let mut h = 8u16.to_ne_bytes().to_vec();
            h.extend([0, 0]);
            h.extend(o.to_ne_bytes());
            hops.extend(h);
        }
        let mut p = rtmsg(AF_INET6, 0, 1);
        p.extend(nla(RTA_MULTIPATH, &hops));
        let r = parse_route(&p).unwrap();
        assert_eq!((r.dst.to_string(), r.oifs), ("::/0".into(), vec![4, 5]));
        // Source-specific and cloned routes are left out; so is garbage.
        let mut p = rtmsg(AF_INET6, 64, 1);
        p[2] = 48;
        assert_eq!(parse_route(&p), None);
        let mut p = rtmsg(AF_INET, 8, 1);
        p[8..12].copy_from_slice(&RTM_F_CLONED.to_ne_bytes());
        assert_eq!(parse_route(&p), None);
        assert_eq!(parse_route(&rtmsg(7, 0, 1)), None);
        assert_eq!(parse_route(&rtmsg(AF_INET, 33, 1)), None);
        assert_eq!(parse_route(&[2, 0, 0]), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn random_bytes_do_not_panic(buf in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_route(&buf);
        }
    }
}

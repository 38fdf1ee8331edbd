//! Decoding of what the kernel sends on a NETLINK_ROUTE socket: message
//! framing (`nlmsghdr`), NLMSG_ERROR / NLMSG_DONE, and the few fields of
//! RTM_NEWLINK / RTM_NEWADDR this crate uses.
//!
//! Pure and lenient on purpose: only the attributes we use are looked at,
//! unknown or malformed attributes are skipped, every read is bounds checked,
//! and nothing here panics on any input (a fuzz test feeds it garbage).
//! Requests are built with `netlink-packet-route`; replies are not parsed
//! with it because its all-or-nothing parse of every attribute turns one odd
//! attribute from a newer kernel into a lost link.

use super::{Addr, Link};
use crate::addr::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) const NLMSG_HDRLEN: usize = 16;
pub(crate) const NLMSG_NOOP: u16 = 1;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLMSG_OVERRUN: u16 = 4;

pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_NEWADDR: u16 = 20;

pub(crate) const NLM_F_DUMP_INTR: u16 = 0x10;
/// In the header of an NLMSG_ERROR: the request's payload was left out.
const NLM_F_CAPPED: u16 = 0x100;
/// In the header of an NLMSG_ERROR: extended ACK attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_IFALIAS: u16 = 20;
const IFLA_LINK_NETNSID: u16 = 37;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;

pub(crate) const IFF_UP: u32 = 0x1;
pub(crate) const IFF_RUNNING: u32 = 0x40;
pub(crate) const IFF_LOWER_UP: u32 = 0x10000;

const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

const NLA_TYPE_MASK: u16 = 0x3fff;

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// One netlink message, borrowed from a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Msg<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    pub payload: &'a [u8],
}

/// The messages of one datagram. Yields `Err` once (and then stops) when
/// the framing is broken: a header that does not fit, or a length that is
/// too small or runs past the end.
pub(crate) struct Messages<'a> {
    buf: &'a [u8],
    done: bool,
}

pub(crate) fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { buf, done: false }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Msg<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.buf.is_empty() {
            return None;
        }
        let b = self.buf;
        let len = u32_at(b, 0).map(|l| l as usize);
        let (Some(len), Some(ty), Some(flags), Some(seq), Some(pid)) =
            (len, u16_at(b, 4), u16_at(b, 6), u32_at(b, 8), u32_at(b, 12))
        else {
            self.done = true;
            return Some(Err(format!("truncated netlink header ({} bytes)", b.len())));
        };
        if len < NLMSG_HDRLEN || len > b.len() {
            self.done = true;
            return Some(Err(format!(
                "bad netlink message length {len} ({} bytes left)",
                b.len()
            )));
        }
        let payload = &b[NLMSG_HDRLEN..len];
        self.buf = b.get(align4(len)..).unwrap_or(&[]);
        Some(Ok(Msg {
            ty,
            flags,
            seq,
            pid,
            payload,
        }))
    }
}

/// Netlink attributes (`struct nlattr` / `struct rtattr`): (type, value).
/// Stops at the first malformed attribute.
pub(crate) struct Attrs<'a> {
    buf: &'a [u8],
}

pub(crate) fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { buf }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.buf;
        let len = u16_at(b, 0)? as usize;
        let ty = u16_at(b, 2)? & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            self.buf = &[];
            return None;
        }
        self.buf = b.get(align4(len)..).unwrap_or(&[]);
        Some((ty, &b[4..len]))
    }
}

/// A string attribute: up to the first NUL, invalid UTF-8 replaced.
fn string(v: &[u8]) -> String {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// An RTM_NEWLINK / RTM_DELLINK payload (`struct ifinfomsg` + attributes).
/// None when the fixed header is truncated, when the message is not about
/// an AF_UNSPEC link (the bridge sends AF_BRIDGE ones for its ports on the
/// same multicast group), or when the index is 0.
pub(crate) fn parse_link(payload: &[u8]) -> Option<Link> {
    let family = *payload.first()?;
    let index = u32_at(payload, 4)?;
    let flags = u32_at(payload, 8)?;
    if family != AF_UNSPEC || index == 0 {
        return None;
    }
    let mut link = Link {
        index,
        name: String::new(),
        mac: None,
        mtu: 0,
        up: flags & IFF_UP != 0,
        running: flags & IFF_RUNNING != 0,
        lower_up: flags & IFF_LOWER_UP != 0,
        kind: None,
        parent: None,
        alias: None,
    };
    let mut other_netns = false;
    for (ty, v) in attrs(payload.get(16..)?) {
        match ty {
            IFLA_IFNAME => link.name = string(v),
            IFLA_ADDRESS => link.mac = v.try_into().ok(),
            IFLA_MTU => link.mtu = u32_at(v, 0).unwrap_or(0),
            IFLA_LINK => link.parent = u32_at(v, 0).filter(|&p| p != 0 && p != index),
            IFLA_LINK_NETNSID => other_netns = true,
            IFLA_IFALIAS => link.alias = Some(string(v)).filter(|a| !a.is_empty()),
            IFLA_LINKINFO => {
                link.kind = attrs(v)
                    .find(|&(t, _)| t == IFLA_INFO_KIND)
                    .map(|(_, k)| string(k))
                    .filter(|k| !k.is_empty())
            }
            _ => {}
        }
    }
    if other_netns {
        // The index names a link in another namespace, not one of ours.
        link.parent = None;
    }
    Some(link)
}

/// What an RTM_NEWADDR says, with the flags the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddrInfo {
    pub addr: Addr,
    /// IFA_F_* (the 32-bit IFA_FLAGS when present, else the header's 8 bits)
    pub flags: u32,
    pub scope: u8,
}

/// An RTM_NEWADDR payload (`struct ifaddrmsg` + attributes). The address is
/// IFA_LOCAL when present (IPv4, and the local end of point-to-point links),
/// else IFA_ADDRESS (IPv6).
pub(crate) fn parse_addr(payload: &[u8]) -> Option<AddrInfo> {
    let family = *payload.first()?;
    let prefix = *payload.get(1)?;
    let mut flags = u32::from(*payload.get(2)?);
    let scope = *payload.get(3)?;
    let index = u32_at(payload, 4)?;
    let ip = |v: &[u8]| -> Option<IpAddr> {
        match family {
            AF_INET => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))),
            AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?))),
            _ => None,
        }
    };
    let (mut local, mut address, mut broadcast) = (None, None, None);
    for (ty, v) in attrs(payload.get(8..)?) {
        match ty {
            IFA_LOCAL => local = ip(v),
            IFA_ADDRESS => address = ip(v),
            IFA_BROADCAST => broadcast = <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from),
            IFA_FLAGS => flags = u32_at(v, 0).unwrap_or(flags),
            _ => {}
        }
    }
    let net = IpNet::new(local.or(address)?, prefix).ok()?;
    if family != AF_INET {
        broadcast = None;
    }
    Some(AddrInfo {
        addr: Addr {
            index,
            net,
            broadcast,
        },
        flags,
        scope,
    })
}

/// The error code of an NLMSG_ERROR (0 is an ACK, negative an errno) and
/// the kernel's extended-ACK message when it sent one. None if the payload
/// is too short to hold the code.
pub(crate) fn parse_error(flags: u16, payload: &[u8]) -> Option<(i32, Option<String>)> {
    let code = u32_at(payload, 0)? as i32;
    let mut ext = None;
    if flags & NLM_F_ACK_TLVS != 0 {
        // int error; struct nlmsghdr msg; [request payload unless capped]; TLVs
        let skip = if flags & NLM_F_CAPPED != 0 {
            Some(NLMSG_HDRLEN)
        } else {
            u32_at(payload, 4).map(|l| align4(l as usize))
        };
        if let Some(tlvs) = skip.and_then(|s| payload.get(4usize.checked_add(s)?..)) {
            ext = attrs(tlvs)
                .find(|&(t, _)| t == NLMSGERR_ATTR_MSG)
                .map(|(_, v)| string(v))
                .filter(|m| !m.is_empty());
        }
    }
    Some((code, ext))
}

/// The error code carried by NLMSG_DONE (negative when a dump failed).
pub(crate) fn parse_done(payload: &[u8]) -> i32 {
    u32_at(payload, 0).map(|c| c as i32).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NLM_F_MULTIPART: u16 = 0x2;

    fn nla(ty: u16, v: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(v);
        out.resize(align4(out.len()), 0);
        out
    }

    fn nlmsg(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&77u32.to_ne_bytes());
        out.extend_from_slice(payload);
        out.resize(align4(out.len()), 0);
        out
    }

    fn link_payload() -> Vec<u8> {
        let mut p = vec![0u8; 16];
        p[4..8].copy_from_slice(&7u32.to_ne_bytes());
        p[8..12].copy_from_slice(&(IFF_UP | IFF_RUNNING | IFF_LOWER_UP).to_ne_bytes());
        p.extend(nla(IFLA_IFNAME, b"carp1\0"));
        p.extend(nla(IFLA_ADDRESS, &[0, 0, 0x5e, 0, 1, 1]));
        p.extend(nla(IFLA_MTU, &1500u32.to_ne_bytes()));
        p.extend(nla(IFLA_LINK, &3u32.to_ne_bytes()));
        p.extend(nla(IFLA_IFALIAS, b"uplink\0"));
        p.extend(nla(
            IFLA_LINKINFO,
            &[nla(IFLA_INFO_KIND, b"macvlan\0"), nla(2, &[0; 8])].concat(),
        ));
        p.extend(nla(0x8000 | 26, &nla(10, &nla(8, &[1]))));
        p
    }

    fn addr_payload() -> Vec<u8> {
        let mut p = vec![AF_INET, 24, 0x80, 0, 0, 0, 0, 0];
        p[4..8].copy_from_slice(&7u32.to_ne_bytes());
        p.extend(nla(IFA_ADDRESS, &[192, 0, 2, 1]));
        p.extend(nla(IFA_LOCAL, &[192, 0, 2, 1]));
        p.extend(nla(IFA_BROADCAST, &[192, 0, 2, 255]));
        p.extend(nla(IFA_FLAGS, &0x280u32.to_ne_bytes()));
        p
    }

    fn dump() -> Vec<u8> {
        let mut err = (-17i32).to_ne_bytes().to_vec();
        err.extend(nlmsg(16, 0, 1, &[]));
        err.extend(nla(NLMSGERR_ATTR_MSG, b"exists\0"));
        [
            nlmsg(RTM_NEWLINK, NLM_F_MULTIPART, 1, &link_payload()),
            nlmsg(RTM_NEWADDR, NLM_F_MULTIPART, 1, &addr_payload()),
            nlmsg(NLMSG_DONE, NLM_F_MULTIPART, 1, &0i32.to_ne_bytes()),
            nlmsg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 2, &err),
        ]
        .concat()
    }

    /// Everything the module decodes, from one buffer: what the socket code
    /// would do with a datagram.
    fn decode_all(buf: &[u8]) -> usize {
        let mut n = 0;
        for m in messages(buf) {
            let Ok(m) = m else { break };
            n += 1;
            let _ = parse_link(m.payload);
            let _ = parse_addr(m.payload);
            let _ = parse_error(m.flags, m.payload);
            let _ = parse_done(m.payload);
        }
        n
    }

    #[test]
    fn decodes_well_formed() {
        let buf = dump();
        let msgs: Vec<_> = messages(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 4);
        let link = parse_link(msgs[0].payload).unwrap();
        assert_eq!(link.index, 7);
        assert_eq!(link.name, "carp1");
        assert_eq!(link.mac, Some([0, 0, 0x5e, 0, 1, 1]));
        assert_eq!(link.mtu, 1500);
        assert!(link.up && link.running && link.lower_up);
        assert_eq!(link.kind.as_deref(), Some("macvlan"));
        assert_eq!(link.parent, Some(3));
        assert_eq!(link.alias.as_deref(), Some("uplink"));
        let a = parse_addr(msgs[1].payload).unwrap();
        assert_eq!(a.addr.net.to_string(), "192.0.2.1/24");
        assert_eq!(a.addr.broadcast, Some(Ipv4Addr::new(192, 0, 2, 255)));
        assert_eq!(a.flags, 0x280);
        assert_eq!(msgs[2].ty, NLMSG_DONE);
        assert_eq!(parse_done(msgs[2].payload), 0);
        assert_eq!(
            parse_error(msgs[3].flags, msgs[3].payload),
            Some((-17, Some("exists".into())))
        );
    }

    #[test]
    fn link_in_other_netns_has_no_parent() {
        let mut p = link_payload();
        p.extend(nla(IFLA_LINK_NETNSID, &0i32.to_ne_bytes()));
        assert_eq!(parse_link(&p).unwrap().parent, None);
        // AF_BRIDGE port notifications are not links of ours.
        p[0] = 7;
        assert_eq!(parse_link(&p), None);
    }

    #[test]
    fn truncated_and_malformed_do_not_panic() {
        let buf = dump();
        for cut in 0..buf.len() {
            decode_all(&buf[..cut]);
            // and payloads cut anywhere
            let _ = parse_link(&link_payload()[..cut.min(link_payload().len())]);
            let _ = parse_addr(&addr_payload()[..cut.min(addr_payload().len())]);
        }
        // A header whose length is 0, too small, or past the end stops the walk.
        for len in [0u32, 1, 15, 16 + 4096, u32::MAX] {
            let mut b = buf.clone();
            b[0..4].copy_from_slice(&len.to_ne_bytes());
            let all: Vec<_> = messages(&b).collect();
            assert_eq!(all.len(), 1);
            assert!(all[0].is_err());
        }
        // Attribute lengths of 0..3 and past the end.
        let mut p = link_payload();
        for bad in [0u16, 1, 3, 0xffff] {
            p[16..18].copy_from_slice(&bad.to_ne_bytes());
            let l = parse_link(&p).unwrap();
            assert_eq!(l.name, "");
        }
        // Wrong-sized values are ignored, not trusted.
        let mut p = vec![AF_INET6, 64, 0, 0, 1, 0, 0, 0];
        p.extend(nla(IFA_ADDRESS, &[1, 2, 3, 4]));
        assert_eq!(parse_addr(&p), None);
        let mut p = vec![AF_INET, 33, 0, 0, 1, 0, 0, 0];
        p.extend(nla(IFA_LOCAL, &[1, 2, 3, 4]));
        assert_eq!(parse_addr(&p), None, "prefix longer than the address");
        // An error whose TLV offset points past the end.
        let mut e = (-22i32).to_ne_bytes().to_vec();
        e.extend(u32::MAX.to_ne_bytes());
        assert_eq!(parse_error(NLM_F_ACK_TLVS, &e), Some((-22, None)));
        assert_eq!(parse_error(0, &[1, 2]), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn random_bytes_do_not_panic(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
            decode_all(&buf);
            let _ = parse_link(&buf);
            let _ = parse_addr(&buf);
            for f in [0, NLM_F_ACK_TLVS, NLM_F_ACK_TLVS | NLM_F_CAPPED] {
                let _ = parse_error(f, &buf);
            }
        }

        #[test]
        fn mutated_dump_does_not_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
            let mut buf = dump();
            let n = buf.len();
            for (at, v) in flips {
                buf[at % n] = v;
            }
            decode_all(&buf);
        }
    }
}

//! The system name resolver behind `conf::Resolver`: interface addresses
//! from getifaddrs(3), host names through getaddrinfo(3) (std's resolver),
//! users and groups from the passwd and group databases, services and
//! protocols from getservbyname(3) / getprotobyname(3) (libc's: nix does
//! not wrap the services and protocols databases).
//!
//! Names OpenBSD knows and Linux spells differently are overlaid: protocol
//! 112 is `carp` (Linux calls it `vrrp`) and 240 is `pfsync`.
//! Interface groups are the driver-name groups (`tun` for tun0, tun1...),
//! and whatever groups pfd reports (`egress`, administrative groups) when
//! the caller filled `groups` from it.

use crate::addr::{mask_to_prefix, IpNet};
use crate::conf::Resolver;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::net::{IpAddr, ToSocketAddrs};

/// Protocol names pf.conf uses that the Linux protocol database lacks or
/// names differently.
const PROTOCOL_OVERLAY: &[(&str, u8)] = &[
    ("carp", 112),
    ("pfsync", 240),
    ("icmp6", 58),
    ("ipv6-icmp", 58),
];

/// Resolves names against the running system.
#[derive(Debug, Clone, Default)]
pub struct SystemResolver {
    /// Interfaces whose addresses pfd knows better than the kernel (carp
    /// interfaces whose addresses are withdrawn while BACKUP); they win over
    /// getifaddrs.
    pub extra_ifaces: HashMap<String, Vec<IpNet>>,
    /// Interface groups and their members, as pfd knows them (`egress`,
    /// `ifconfig IF group NAME` groups); they win over driver-name groups.
    pub groups: HashMap<String, Vec<String>>,
}

impl SystemResolver {
    pub fn new() -> SystemResolver {
        SystemResolver::default()
    }

    /// (interface name, address) for every IPv4/IPv6 address, and every
    /// interface name seen at all.
    fn system_addrs() -> (Vec<(String, IpNet)>, Vec<String>) {
        let mut addrs = vec![];
        let mut names = vec![];
        let Ok(list) = nix::ifaddrs::getifaddrs() else {
            return (addrs, names);
        };
        for ifa in list {
            if !names.contains(&ifa.interface_name) {
                names.push(ifa.interface_name.clone());
            }
            let Some(a) = ifa.address else { continue };
            let ip: IpAddr = if let Some(v4) = a.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else if let Some(v6) = a.as_sockaddr_in6() {
                IpAddr::V6(v6.ip())
            } else {
                continue;
            };
            let mask: Option<IpAddr> = ifa.netmask.and_then(|m| {
                if let Some(v4) = m.as_sockaddr_in() {
                    Some(IpAddr::V4(v4.ip()))
                } else {
                    m.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
                }
            });
            let prefix = mask
                .and_then(|m| mask_to_prefix(&m))
                .unwrap_or(if ip.is_ipv4() { 32 } else { 128 });
            let net = IpNet::new(ip, prefix).unwrap_or_else(|_| IpNet::host(ip));
            addrs.push((ifa.interface_name.clone(), net));
        }
        // Per interface, OpenBSD's order rather than Linux's: getifaddrs
        // here lists IPv4 first and the kernel keeps IPv6 addresses sorted
        // with link-local before host scope (lo0: 127.0.0.1, fe80::1, ::1),
        // while OpenBSD shows lo0 as ::1, fe80::1, 127.0.0.1. pf.conf sees
        // the order in `{ lo0 }` tables, pools and `lo0:0` (first address
        // of a family), and the regress corpus relies on it.
        let class = |a: &IpNet| match a.addr {
            IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => 1,
            IpAddr::V6(_) => 0,
            IpAddr::V4(_) => 2,
        };
        addrs.sort_by_key(|(n, a)| {
            (
                names.iter().position(|x| x == n).unwrap_or(usize::MAX),
                class(a),
            )
        });
        (addrs, names)
    }
}

impl SystemResolver {
    /// The interfaces `name` stands for: an exact interface name, a group
    /// pfd knows, else a group in OpenBSD's sense of the driver name (`tun`
    /// is every tunN). None if it names nothing.
    fn members<'a>(&'a self, name: &str, names: &'a [String]) -> Option<Vec<&'a String>> {
        let members: Vec<&String> = if names.iter().any(|n| n == name) {
            names.iter().filter(|n| *n == name).collect()
        } else if let Some(m) = self.groups.get(name) {
            m.iter().collect()
        } else {
            names
                .iter()
                .filter(|n| {
                    n.trim_end_matches(|c: char| c.is_ascii_digit()) == name && n.len() > name.len()
                })
                .collect()
        };
        (!members.is_empty()).then_some(members)
    }
}

impl Resolver for SystemResolver {
    /// getifaddrs' destination address of point-to-point interfaces
    /// (IFF_POINTOPOINT: tun, ppp, wireguard ...).
    fn if_peers(&self, name: &str) -> Option<Vec<(String, IpAddr)>> {
        let (_, names) = SystemResolver::system_addrs();
        let members: Vec<String> = self.members(name, &names)?.into_iter().cloned().collect();
        let mut out = vec![];
        for ifa in nix::ifaddrs::getifaddrs().ok()? {
            if !members.contains(&ifa.interface_name) {
                continue;
            }
            let Some(d) = ifa.destination else { continue };
            let ip = if let Some(v4) = d.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else if let Some(v6) = d.as_sockaddr_in6() {
                IpAddr::V6(v6.ip())
            } else {
                continue;
            };
            out.push((ifa.interface_name.clone(), ip));
        }
        Some(out)
    }

    fn if_addrs(&self, name: &str) -> Option<Vec<IpNet>> {
        self.if_addr_owners(name)
            .map(|v| v.into_iter().map(|(_, a)| a).collect())
    }

    fn if_addr_owners(&self, name: &str) -> Option<Vec<(String, IpNet)>> {
        let own = |n: &str, a: &[IpNet]| -> Vec<(String, IpNet)> {
            a.iter().map(|x| (n.to_string(), *x)).collect()
        };
        if let Some(a) = self.extra_ifaces.get(name) {
            return Some(own(name, a));
        }
        let (addrs, names) = SystemResolver::system_addrs();
        if name == "self" {
            let mut all = addrs;
            for (n, a) in &self.extra_ifaces {
                all.extend(own(n, a));
            }
            return Some(all);
        }
        let members = self.members(name, &names)?;
        // IPv6 before IPv4 within an interface, the order a BSD kernel
        // lists them in (pfctl expands lists in that order).
        let mut out: Vec<(String, IpNet)> = vec![];
        for m in members {
            let mine: Vec<IpNet> = match self.extra_ifaces.get(m) {
                Some(a) => a.clone(),
                None => addrs
                    .iter()
                    .filter(|(n, _)| n == m)
                    .map(|(_, a)| *a)
                    .collect(),
            };
            // link-local last: configured after the others on a BSD
            let ll = |a: &&IpNet| matches!(a.addr, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
            let v6: Vec<IpNet> = mine
                .iter()
                .filter(|a| a.addr.is_ipv6() && !ll(a))
                .copied()
                .collect();
            let lls: Vec<IpNet> = mine.iter().filter(|a| ll(a)).copied().collect();
            let v4: Vec<IpNet> = mine.iter().filter(|a| a.addr.is_ipv4()).copied().collect();
            out.extend(own(m, &v6));
            out.extend(own(m, &lls));
            out.extend(own(m, &v4));
        }
        Some(out)
    }

    fn host(&self, name: &str) -> Vec<IpAddr> {
        if name.is_empty() || name.contains('\0') {
            return vec![];
        }
        let mut out: Vec<IpAddr> = vec![];
        if let Ok(it) = (name, 0u16).to_socket_addrs() {
            for sa in it {
                if !out.contains(&sa.ip()) {
                    out.push(sa.ip());
                }
            }
        }
        // IPv4 first, as OpenBSD's resolver orders them (`family inet4 inet6`)
        out.sort_by_key(|a| a.is_ipv6());
        out
    }

    fn user(&self, name: &str) -> Option<u32> {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    }

    fn group(&self, name: &str) -> Option<u32> {
        nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    }

    fn service(&self, name: &str, proto: &str) -> Option<u16> {
        let n = CString::new(name).ok()?;
        let p = CString::new(proto).ok()?;
        // SAFETY: both arguments are valid NUL-terminated strings; the
        // returned entry is read immediately, before any other netdb call.
        let ent = unsafe { libc::getservbyname(n.as_ptr(), p.as_ptr()) };
        if ent.is_null() {
            return None;
        }
        // SAFETY: non-null servent from the C library.
        let port = unsafe { (*ent).s_port };
        Some(u16::from_be(port as u16))
    }

    fn protocol(&self, name: &str) -> Option<u8> {
        if let Some((_, p)) = PROTOCOL_OVERLAY.iter().find(|(n, _)| *n == name) {
            return Some(*p);
        }
        let n = CString::new(name).ok()?;
        // SAFETY: valid NUL-terminated string; entry read immediately.
        let ent = unsafe { libc::getprotobyname(n.as_ptr()) };
        if ent.is_null() {
            return None;
        }
        // SAFETY: non-null protoent from the C library.
        let p = unsafe { (*ent).p_proto };
        u8::try_from(p).ok()
    }

    fn protocol_name(&self, num: u8) -> Option<String> {
        match num {
            112 => return Some("carp".into()),
            240 => return Some("pfsync".into()),
            58 => return Some("ipv6-icmp".into()),
            _ => {}
        }
        // SAFETY: plain integer argument; the entry is read immediately.
        let ent = unsafe { libc::getprotobynumber(num as libc::c_int) };
        if ent.is_null() {
            return None;
        }
        // SAFETY: non-null protoent with a NUL-terminated name.
        let name = unsafe { CStr::from_ptr((*ent).p_name) };
        Some(name.to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_protocols() {
        let r = SystemResolver::new();
        assert_eq!(r.protocol("tcp"), Some(6));
        assert_eq!(r.protocol("carp"), Some(112));
        assert_eq!(r.protocol_name(112).as_deref(), Some("carp"));
        assert_eq!(r.protocol_name(6).as_deref(), Some("tcp"));
        assert_eq!(r.if_addrs("no-such-interface0"), None);
        if let Some(lo) = r.if_addrs("lo") {
            assert!(lo
                .iter()
                .any(|n| n.addr == "127.0.0.1".parse::<IpAddr>().unwrap()));
        }
        assert_eq!(r.user("root"), Some(0));
        let mut r2 = SystemResolver::new();
        r2.extra_ifaces
            .insert("carp1".into(), vec!["192.0.2.1/24".parse().unwrap()]);
        assert_eq!(r2.if_addrs("carp1").map(|v| v.len()), Some(1));
    }
}

//! The name lookups pf.conf needs (interfaces, hosts, users, groups,
//! services, protocols, routing tables), as the `Resolver` trait, and
//! `StaticResolver`, which answers from tables: for tests and for `pfctl
//! -n` on a foreign ruleset. `sys::resolve::SystemResolver` asks the
//! system.

use crate::addr::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;

/// Name lookups pf.conf needs.
pub trait Resolver {
    /// Addresses of an interface or interface group; None if no such interface.
    fn if_addrs(&self, name: &str) -> Option<Vec<IpNet>>;
    /// The same addresses with the interface each belongs to (a group's
    /// members, `self`'s interfaces): pfctl names the interface of a
    /// link-local address in the rule (`on lo0`) and takes `:0`'s first
    /// address per member. By default every address belongs to `name`.
    fn if_addr_owners(&self, name: &str) -> Option<Vec<(String, IpNet)>> {
        self.if_addrs(name)
            .map(|v| v.into_iter().map(|a| (name.to_string(), a)).collect())
    }
    /// The peer addresses of the point-to-point interfaces `name` names
    /// (`:peer`), with the interface each belongs to. None if no such
    /// interface; by default interfaces have no peers.
    fn if_peers(&self, name: &str) -> Option<Vec<(String, IpAddr)>> {
        self.if_addr_owners(name).map(|_| vec![])
    }
    /// Does routing table `id` exist (pfctl's lookup_rtable)? Only the
    /// tables a host has configured do; by default every id is taken.
    fn rtable_exists(&self, _id: u32) -> bool {
        true
    }
    /// Address(es) of a host name (DNS / /etc/hosts), empty if unknown.
    fn host(&self, name: &str) -> Vec<IpAddr>;
    fn user(&self, name: &str) -> Option<u32>;
    fn group(&self, name: &str) -> Option<u32>;
    /// Port of a service; `proto` is "tcp" or "udp".
    fn service(&self, name: &str, proto: &str) -> Option<u16>;
    fn protocol(&self, name: &str) -> Option<u8>;
    /// Name of a protocol number, for printing.
    fn protocol_name(&self, num: u8) -> Option<String>;
}

/// Protocol names as OpenBSD's /etc/protocols spells them (the first name
/// of a number is the one printed; aliases follow).
pub const OPENBSD_PROTOCOLS: &[(&str, u8)] = &[
    ("ip", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("st", 5),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("mobile", 55),
    ("ipv6-icmp", 58),
    ("icmp6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("ospf", 89),
    ("ipip", 94),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("carp", 112),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", 132),
    ("mpls-in-ip", 137),
    ("pfsync", 240),
];

/// A few services from OpenBSD's /etc/services (tcp and udp alike).
pub const COMMON_SERVICES: &[(&str, u16)] = &[
    ("echo", 7),
    ("discard", 9),
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("time", 37),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("sunrpc", 111),
    ("auth", 113),
    ("ident", 113),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("imaps", 993),
    ("pop3s", 995),
];

/// An in-memory resolver for tests and offline checks. `new()` knows
/// OpenBSD's protocol names and common services and nothing else; add
/// interfaces, hosts, users and groups with the builder methods.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    ifaces: Vec<(String, Vec<IpNet>)>,
    /// Point-to-point peers (`:peer`) by interface.
    peers: Vec<(String, IpAddr)>,
    /// Routing tables beyond table 0 (None: every table exists).
    rtables: Option<Vec<u32>>,
    hosts: HashMap<String, Vec<IpAddr>>,
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
    services: HashMap<(String, String), u16>,
    protocols: Vec<(String, u8)>,
}

impl StaticResolver {
    /// OpenBSD's protocols and common services; no interfaces, hosts, users.
    pub fn new() -> StaticResolver {
        let mut r = StaticResolver::empty();
        for (n, p) in OPENBSD_PROTOCOLS {
            r = r.protocol(n, *p);
        }
        for (n, p) in COMMON_SERVICES {
            r = r.service(n, "tcp", *p).service(n, "udp", *p);
        }
        r
    }

    /// Knows nothing at all.
    pub fn empty() -> StaticResolver {
        StaticResolver::default()
    }

    /// Adds an interface with addresses like `"192.0.2.10/24"` (invalid
    /// strings are ignored).
    pub fn iface(mut self, name: &str, addrs: &[&str]) -> StaticResolver {
        let nets = addrs
            .iter()
            .filter_map(|a| a.parse::<IpNet>().ok())
            .collect();
        self.ifaces.retain(|(n, _)| n != name);
        self.ifaces.push((name.to_string(), nets));
        self
    }

    /// Gives interface `name` a point-to-point peer address.
    pub fn peer(mut self, name: &str, addr: &str) -> StaticResolver {
        if let Ok(a) = addr.parse::<IpAddr>() {
            self.peers.push((name.to_string(), a));
        }
        self
    }

    pub fn host(mut self, name: &str, addrs: &[&str]) -> StaticResolver {
        let a = addrs
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .collect();
        self.hosts.insert(name.to_string(), a);
        self
    }

    pub fn user(mut self, name: &str, uid: u32) -> StaticResolver {
        self.users.insert(name.to_string(), uid);
        self
    }

    pub fn group(mut self, name: &str, gid: u32) -> StaticResolver {
        self.groups.insert(name.to_string(), gid);
        self
    }

    pub fn service(mut self, name: &str, proto: &str, port: u16) -> StaticResolver {
        self.services
            .insert((name.to_string(), proto.to_string()), port);
        self
    }

    /// Only table 0 and `ids` exist (`rtable N` refers to the others as
    /// pfctl does on a host without them).
    pub fn rtables(mut self, ids: &[u32]) -> StaticResolver {
        self.rtables = Some(ids.to_vec());
        self
    }

    pub fn protocol(mut self, name: &str, num: u8) -> StaticResolver {
        self.protocols.push((name.to_string(), num));
        self
    }
}

impl Resolver for StaticResolver {
    fn if_addrs(&self, name: &str) -> Option<Vec<IpNet>> {
        self.if_addr_owners(name)
            .map(|v| v.into_iter().map(|(_, a)| a).collect())
    }
    /// An interface, `self` (every interface), or a group in OpenBSD's
    /// sense of the driver name (`lo` is lo0, lo1000000, ...).
    fn if_addr_owners(&self, name: &str) -> Option<Vec<(String, IpNet)>> {
        let own =
            |(n, a): &(String, Vec<IpNet>)| a.iter().map(|x| (n.clone(), *x)).collect::<Vec<_>>();
        if name == "self" {
            return Some(self.ifaces.iter().flat_map(own).collect());
        }
        if let Some(i) = self.ifaces.iter().find(|(n, _)| n == name) {
            return Some(own(i));
        }
        let members: Vec<&(String, Vec<IpNet>)> = self
            .ifaces
            .iter()
            .filter(|(n, _)| {
                n.len() > name.len() && n.trim_end_matches(|c: char| c.is_ascii_digit()) == name
            })
            .collect();
        if members.is_empty() {
            return None;
        }
        Some(members.into_iter().flat_map(own).collect())
    }
    fn if_peers(&self, name: &str) -> Option<Vec<(String, IpAddr)>> {
        let owners = self.if_addr_owners(name)?;
        Some(
            self.peers
                .iter()
                .filter(|(n, _)| owners.iter().any(|(o, _)| o == n) || n == name)
                .cloned()
                .collect(),
        )
    }
    fn rtable_exists(&self, id: u32) -> bool {
        id == 0 || self.rtables.as_ref().is_none_or(|v| v.contains(&id))
    }
    fn host(&self, name: &str) -> Vec<IpAddr> {
        self.hosts.get(name).cloned().unwrap_or_default()
    }
    fn user(&self, name: &str) -> Option<u32> {
        self.users.get(name).copied()
    }
    fn group(&self, name: &str) -> Option<u32> {
        self.groups.get(name).copied()
    }
    fn service(&self, name: &str, proto: &str) -> Option<u16> {
        self.services
            .get(&(name.to_string(), proto.to_string()))
            .copied()
    }
    fn protocol(&self, name: &str) -> Option<u8> {
        self.protocols
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| *p)
    }
    fn protocol_name(&self, num: u8) -> Option<String> {
        self.protocols
            .iter()
            .find(|(_, p)| *p == num)
            .map(|(n, _)| n.clone())
    }
}

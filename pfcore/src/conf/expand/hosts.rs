//! Addresses: pfctl's `host()` (interface names with their modifiers,
//! numeric addresses and networks, host names), tables, route labels,
//! ranges and `(if)` dynamic addresses, and `from`/`to` lists of them.

use super::{bare, err, is_number, Expander, Res};
use crate::addr::{Af, IpNet};
use crate::conf::ast::{HostAst, HostItem};
use crate::ruleset::{AddrKind, DynModifier};
use std::net::IpAddr;

/// One resolved address of a list.
#[derive(Debug, Clone)]
pub(super) struct HostNode {
    pub(super) addr: AddrKind,
    pub(super) neg: bool,
    pub(super) af: Option<Af>,
    /// Interface of a link-local IPv6 address (`fe80::1%lo0`, or a
    /// link-local address taken from an interface).
    pub(super) scope: Option<String>,
    /// An IPv4 address given a mask longer than 32 bits (pfctl's
    /// check_netmask refuses it in a rule: "netmask N invalid for IPv4
    /// address").
    pub(super) bad_mask: Option<u8>,
}

impl HostNode {
    pub(super) fn any() -> HostNode {
        HostNode {
            addr: AddrKind::Any,
            neg: false,
            af: None,
            scope: None,
            bad_mask: None,
        }
    }
}

impl Expander<'_> {
    /// pfctl's `host()`: interface (with modifiers), numeric address, then
    /// host name. A STRING may carry its own `/bits` (a quoted
    /// "10.0.0.0/8", a table file line).
    pub(super) fn host_name(&self, name: &str, mask: Option<&str>) -> Res<Vec<HostNode>> {
        let (name, mask) = match (mask, name.split_once('/')) {
            (None, Some((n, m))) => (n, Some(m)),
            _ => (name, mask),
        };
        let full = match mask {
            Some(m) => format!("{name}/{m}"),
            None => name.to_string(),
        };
        // strtonum(3) on the mask, 0 to 128
        let mask = match mask {
            None => None,
            Some(m) => match m.parse::<i64>() {
                Ok(b) if (0..=128).contains(&b) => Some(b as u8),
                r => {
                    let why = match r {
                        Ok(b) if b < 0 => "too small",
                        Ok(_) => "too large",
                        Err(_) if is_number(m) => {
                            if m.starts_with('-') {
                                "too small"
                            } else {
                                "too large"
                            }
                        }
                        Err(_) => "invalid",
                    };
                    return Err(vec![
                        bare(format!("netmask is {why}: /{m}")),
                        "could not parse host specification".to_string(),
                    ]);
                }
            },
        };
        // host_if's warnings are printed even when a later lookup is tried
        let mut warnings = vec![];
        if let Some(h) = self.host_if(name, mask, &mut warnings) {
            return Ok(h);
        }
        if let Some((addr, scope)) = name.split_once('%') {
            // A scoped IPv6 address: valid only with an existing interface.
            if let (Ok(IpAddr::V6(a)), Some(_)) =
                (addr.parse::<IpAddr>(), self.resolver.if_addrs(scope))
            {
                let mut n = net_node(IpAddr::V6(a), mask);
                n.scope = Some(scope.to_string());
                return Ok(vec![n]);
            }
        } else if let Some(h) = host_ip(name, mask) {
            return Ok(h);
        }
        let (lookup, noalias) = match name.strip_suffix(":0") {
            Some(n) => (n, true),
            None => (name, false),
        };
        let addrs = if lookup.is_empty() {
            vec![]
        } else {
            self.resolver.host(lookup)
        };
        let mut out = vec![];
        let (mut got4, mut got6) = (false, false);
        for a in addrs {
            if noalias {
                let got = if a.is_ipv4() { &mut got4 } else { &mut got6 };
                if *got {
                    continue;
                }
                *got = true;
            }
            out.push(net_node(a, mask));
        }
        if out.is_empty() {
            warnings.push(bare(format!("no IP address found for {full}")));
            warnings.push("could not parse host specification".to_string());
            return Err(warnings);
        }
        Ok(out)
    }

    /// pfctl's `host_if`: an interface or group name with `:network`,
    /// `:broadcast`, `:peer` and `:0` (the first three exclusive), `self`
    /// for every address. None sends `host()` on to the next lookup; the
    /// warnings it prints on the way go to `warnings`.
    fn host_if(
        &self,
        spec: &str,
        mask: Option<u8>,
        warnings: &mut Vec<String>,
    ) -> Option<Vec<HostNode>> {
        let mut name = spec;
        let (mut network, mut broadcast, mut peer, mut noalias) = (false, false, false, false);
        while let Some(i) = name.rfind(':') {
            match &name[i + 1..] {
                "network" => network = true,
                "broadcast" => broadcast = true,
                "peer" => peer = true,
                "0" => noalias = true,
                _ => return None,
            }
            name = &name[..i];
        }
        if [network, broadcast, peer].iter().filter(|x| **x).count() > 1 {
            warnings.push(bare("illegal combination of interface modifiers"));
            return None;
        }
        if (network || broadcast) && mask.is_some() {
            warnings.push(bare("network or broadcast lookup, but extra netmask given"));
            return None;
        }
        if name.is_empty() {
            return None;
        }
        let addrs = if peer {
            // pfi's PFI_AFLAG_PEER: the far end of point-to-point links.
            self.resolver
                .if_peers(name)?
                .into_iter()
                .map(|(n, a)| (n, IpNet::host(a)))
                .collect()
        } else {
            self.resolver.if_addr_owners(name)?
        };
        let mut out = vec![];
        let (mut got4, mut got6) = (false, false);
        let mut last_if: Option<&str> = None;
        for (owner, n) in &addrs {
            if broadcast && (n.af() != Af::Inet || n.prefix >= 31 || n.addr.is_loopback()) {
                continue;
            }
            if network && is_v6_link_local(&n.addr) {
                continue;
            }
            // ifa_lookup: `:0` takes the first address of each family of
            // each member interface
            if last_if != Some(owner.as_str()) {
                got4 = false;
                got6 = false;
            }
            last_if = Some(owner.as_str());
            if noalias {
                let got = if n.af() == Af::Inet {
                    &mut got4
                } else {
                    &mut got6
                };
                if *got {
                    continue;
                }
                *got = true;
            }
            let net = if network {
                n.to_network()
            } else if broadcast {
                IpNet::host(n.broadcast())
            } else {
                IpNet::host(n.addr)
            };
            let mut node = match mask {
                Some(m) => net_node(net.addr, Some(m)),
                None => net_node(net.addr, None),
            };
            if let (None, AddrKind::Net(x)) = (mask, &mut node.addr) {
                *x = net;
            }
            if is_v6_link_local(&n.addr) {
                node.scope = Some(owner.clone());
            }
            out.push(node);
        }
        if out.is_empty() {
            None
        } else {
            Some(out)
        }
    }

    pub(super) fn resolve_host(&self, h: &HostAst) -> Res<Vec<HostNode>> {
        match h {
            HostAst::Name { name, mask } => self.host_name(name, mask.as_deref()),
            HostAst::Table(t) => {
                if t.len() > 31 {
                    return err(format!("table name '{t}' too long"));
                }
                Ok(vec![HostNode {
                    addr: AddrKind::Table(t.clone()),
                    neg: false,
                    af: None,
                    scope: None,
                    bad_mask: None,
                }])
            }
            HostAst::RouteLabel(l) => {
                if l.len() > 31 {
                    return err("route label too long, max 31 chars");
                }
                Ok(vec![HostNode {
                    addr: AddrKind::RouteLabel(l.clone()),
                    neg: false,
                    af: None,
                    scope: None,
                    bad_mask: None,
                }])
            }
            HostAst::Range(a, b) => {
                let (Ok(x), Ok(y)) = (self.host_name(a, None), self.host_name(b, None)) else {
                    return err("could not parse host specification");
                };
                match (x.as_slice(), y.as_slice()) {
                    (
                        [HostNode {
                            addr: AddrKind::Net(p),
                            ..
                        }],
                        [HostNode {
                            addr: AddrKind::Net(q),
                            ..
                        }],
                    ) if p.is_host() && q.is_host() && p.af() == q.af() => Ok(vec![HostNode {
                        addr: AddrKind::Range(p.addr, q.addr),
                        neg: false,
                        af: Some(p.af()),
                        scope: None,
                        bad_mask: None,
                    }]),
                    _ => err("invalid address range"),
                }
            }
            HostAst::Dynamic { spec, mask } => dynamic(spec, mask),
        }
    }

    /// A `from`/`to` address list; None = any (pfctl: any element being
    /// `any` makes the whole list `any`).
    pub(super) fn resolve_hosts(&self, item: &Option<HostItem>) -> Res<Option<Vec<HostNode>>> {
        let Some(item) = item else { return Ok(None) };
        match item {
            HostItem::Any => Ok(None),
            HostItem::Host { neg, host } => {
                let mut v = self.resolve_host(host)?;
                for n in &mut v {
                    n.neg = *neg;
                }
                Ok(Some(v))
            }
            HostItem::NoRoute { neg } => Ok(Some(vec![HostNode {
                addr: AddrKind::NoRoute,
                neg: *neg,
                af: None,
                scope: None,
                bad_mask: None,
            }])),
            HostItem::UrpfFailed { neg } => Ok(Some(vec![HostNode {
                addr: AddrKind::UrpfFailed,
                neg: *neg,
                af: None,
                scope: None,
                bad_mask: None,
            }])),
            HostItem::List(items) => {
                let mut out = vec![];
                let mut any = false;
                for i in items {
                    match self.resolve_hosts(&Some(i.clone()))? {
                        None => any = true,
                        Some(v) => out.extend(v),
                    }
                }
                Ok(if any { None } else { Some(out) })
            }
        }
    }
}

fn is_v6_link_local(a: &IpAddr) -> bool {
    match a {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

/// An address with pfctl's `set_ipmask`: the mask applied to it. An IPv4
/// address given more than 32 bits keeps them to itself (`bad_mask`): pfctl
/// only refuses it when a rule uses it (check_netmask), and prints it as a
/// host elsewhere.
fn net_node(a: IpAddr, mask: Option<u8>) -> HostNode {
    let (net, bad_mask) = match mask {
        Some(m) if a.is_ipv4() && m > 32 => (IpNet::host(a), Some(m)),
        Some(m) => (
            IpNet::new(a, m)
                .map(|n| n.to_network())
                .unwrap_or_else(|_| IpNet::host(a)),
            None,
        ),
        None => (IpNet::host(a), None),
    };
    HostNode {
        af: Some(net.af()),
        addr: AddrKind::Net(net),
        neg: false,
        scope: None,
        bad_mask,
    }
}

/// pfctl's `host_ip`: a numeric address, or with a mask the short IPv4
/// network forms (`10/8`, `172.16/12`).
fn host_ip(s: &str, mask: Option<u8>) -> Option<Vec<HostNode>> {
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(vec![net_node(a, mask)]);
    }
    let m = mask?;
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        match p.parse::<u8>() {
            Ok(v) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => octets[i] = v,
            _ => return None,
        }
    }
    Some(vec![net_node(IpAddr::from(octets), Some(m))])
}

pub(super) fn decide_af(hosts: &Option<Vec<HostNode>>) -> Option<Af> {
    let h = hosts.as_ref()?;
    let first = h.first()?.af;
    if h.iter().all(|n| n.af == first) {
        first
    } else {
        None
    }
}

/// `(ifname[:modifier...])[/bits]`: pfctl's `dynaddr`.
fn dynamic(spec: &str, mask: &Option<String>) -> Res<Vec<HostNode>> {
    if !spec
        .as_bytes()
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic())
    {
        return err(format!("invalid interface name '{spec}'"));
    }
    // dynaddr: modifiers from the right; a bad one is
    // reported with what is left of the name at that point
    let mut name = spec;
    let mut mode = DynModifier::None;
    let (mut modes, mut noalias) = (0, false);
    while let Some(i) = name.rfind(':') {
        let m = match &name[i + 1..] {
            "network" => DynModifier::Network,
            "broadcast" => DynModifier::Broadcast,
            "peer" => DynModifier::Peer,
            "0" => DynModifier::NoAlias,
            _ => return err(format!("interface {name} has bad modifier")),
        };
        if m == DynModifier::NoAlias {
            noalias = true;
        } else if m != mode {
            modes += 1;
            mode = m;
        }
        name = &name[..i];
    }
    // flags & (flags - 1) & PFI_AFLAG_MODEMASK
    if modes > 1 {
        return err("illegal combination of interface modifiers");
    }
    let modifier = DynModifier::with(mode, noalias);
    if name.len() >= 16 {
        return err("interface name too long");
    }
    // dynaddr '/' NUMBER
    let mask = match mask {
        None => None,
        Some(m) => match m.parse::<i64>() {
            Ok(b) if (0..=128).contains(&b) => Some(b as u8),
            _ => return err("bit number too big"),
        },
    };
    Ok(vec![HostNode {
        addr: AddrKind::Dynamic {
            ifname: name.to_string(),
            modifier,
            mask,
        },
        neg: false,
        af: None,
        scope: None,
        bad_mask: None,
    }])
}

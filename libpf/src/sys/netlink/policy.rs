//! Policy-routing requests: fib rules matching the packet mark (`ip rule
//! fwmark ... lookup T` and `... unreachable`), routes in a given table
//! (`ip route replace default via G dev D table T`, `local 0.0.0.0/0 dev
//! lo table T`), listing both, and a route lookup (`ip route get A`).
//! `sys::policy_routing` builds pfd's rules and tables with these.

use super::{decode, ifname, Netlink};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const RTM_NEWROUTE: u16 = 24;
const RTM_NEWRULE: u16 = 32;

const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FR_ACT_TO_TBL: u8 = 1;
const FR_ACT_UNREACHABLE: u8 = 7;

const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;
const RTN_LOCAL: u8 = 2;

/// A fib rule selecting by mark: `fwmark MARK/MASK lookup TABLE` (or
/// `unreachable` when `table` is None) at `priority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FwRule {
    pub v6: bool,
    pub priority: u32,
    pub mark: u32,
    pub mask: u32,
    pub table: Option<u32>,
}

/// A default route in a table: `default via G dev D` (gateway), `default
/// dev D` (on the link), or `local default dev D` (deliver locally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DefaultRoute {
    pub v6: bool,
    pub table: u32,
    pub gateway: Option<IpAddr>,
    pub oif: u32,
    pub local: bool,
}

/// What `ip route get` says about a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup {
    pub gateway: Option<IpAddr>,
    pub oif: u32,
    /// The destination is one of this host's addresses.
    pub local: bool,
}

fn family(v6: bool) -> AddressFamily {
    if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    }
}

fn u32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

fn addr_of(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
        16 => {
            let a: [u8; 16] = v.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

/// fib_rule_hdr (12 bytes) and its attributes.
fn parse_rule(p: &[u8]) -> Option<FwRule> {
    let fam = *p.first()?;
    let hdr_table = *p.get(4)?;
    let action = *p.get(7)?;
    let mut r = FwRule {
        v6: fam == libc::AF_INET6 as u8,
        priority: 0,
        mark: 0,
        mask: 0,
        table: None,
    };
    let mut table = hdr_table as u32;
    for (ty, v) in decode::attrs(p.get(12..)?) {
        match ty {
            FRA_PRIORITY => r.priority = u32_of(v)?,
            FRA_FWMARK => r.mark = u32_of(v)?,
            FRA_FWMASK => r.mask = u32_of(v)?,
            FRA_TABLE => table = u32_of(v)?,
            _ => {}
        }
    }
    r.table = match action {
        FR_ACT_TO_TBL => Some(table),
        FR_ACT_UNREACHABLE => None,
        _ => return None,
    };
    Some(r)
}

/// rtmsg (12 bytes) and its attributes, for a default route.
fn parse_route(p: &[u8]) -> Option<(DefaultRoute, u8)> {
    let fam = *p.first()?;
    let dst_len = *p.get(1)?;
    let mut table = *p.get(4)? as u32;
    let kind = *p.get(7)?;
    let mut r = DefaultRoute {
        v6: fam == libc::AF_INET6 as u8,
        table: 0,
        gateway: None,
        oif: 0,
        local: kind == RTN_LOCAL,
    };
    for (ty, v) in decode::attrs(p.get(12..)?) {
        match ty {
            RTA_TABLE => table = u32_of(v)?,
            RTA_GATEWAY => r.gateway = addr_of(v),
            RTA_OIF => r.oif = u32_of(v)?,
            _ => {}
        }
    }
    r.table = table;
    Some((r, dst_len))
}

impl Netlink {
    fn rule_msg(r: &FwRule) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.family = family(r.v6);
        m.header.action = if r.table.is_some() {
            RuleAction::ToTable
        } else {
            RuleAction::Unreachable
        };
        m.attributes.push(RuleAttribute::Priority(r.priority));
        m.attributes.push(RuleAttribute::FwMark(r.mark));
        m.attributes.push(RuleAttribute::FwMask(r.mask));
        if let Some(t) = r.table {
            m.attributes.push(RuleAttribute::Table(t));
        }
        m
    }

    fn rule_text(r: &FwRule) -> String {
        format!(
            "ip{} rule pref {} fwmark 0x{:x}/0x{:x} {}",
            if r.v6 { " -6" } else { "" },
            r.priority,
            r.mark,
            r.mask,
            match r.table {
                Some(t) => format!("lookup {t}"),
                None => "unreachable".into(),
            }
        )
    }

    /// Every fib rule of one family.
    pub fn fw_rules(&mut self, v6: bool) -> io::Result<Vec<FwRule>> {
        let replies = self.dump(
            || {
                let mut m = RuleMessage::default();
                m.header.family = family(v6);
                RouteNetlinkMessage::GetRule(m)
            },
            "RTM_GETRULE",
        )?;
        Ok(replies
            .iter()
            .filter(|r| r.ty == RTM_NEWRULE)
            .filter_map(|r| parse_rule(&r.payload))
            .collect())
    }

    /// Add a rule; one that is there already is success.
    pub fn add_fw_rule(&mut self, r: &FwRule) -> io::Result<()> {
        match self.transact(
            RouteNetlinkMessage::NewRule(Self::rule_msg(r)),
            NLM_F_CREATE | netlink_packet_core::NLM_F_EXCL,
        ) {
            Ok(_) => Ok(()),
            Err(f) if f.errno() == Some(libc::EEXIST) => Ok(()),
            Err(f) => Err(f.into_io(format!("RTM_NEWRULE ({})", Self::rule_text(r)))),
        }
    }

    /// Delete a rule; one that is not there is success.
    pub fn del_fw_rule(&mut self, r: &FwRule) -> io::Result<()> {
        match self.transact(RouteNetlinkMessage::DelRule(Self::rule_msg(r)), 0) {
            Ok(_) => Ok(()),
            Err(f) if matches!(f.errno(), Some(libc::ENOENT) | Some(libc::ESRCH)) => Ok(()),
            Err(f) => Err(f.into_io(format!("RTM_DELRULE ({})", Self::rule_text(r)))),
        }
    }

    fn route_msg(r: &DefaultRoute) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header = RouteHeader {
            address_family: family(r.v6),
            destination_prefix_length: 0,
            table: 0,
            protocol: RouteProtocol::Static,
            scope: if r.local {
                RouteScope::Host
            } else if r.gateway.is_none() {
                RouteScope::Link
            } else {
                RouteScope::Universe
            },
            kind: if r.local {
                RouteType::Local
            } else {
                RouteType::Unicast
            },
            ..RouteHeader::default()
        };
        m.attributes.push(RouteAttribute::Table(r.table));
        if let Some(g) = r.gateway {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(g)));
        }
        if r.oif != 0 {
            m.attributes.push(RouteAttribute::Oif(r.oif));
        }
        m
    }

    fn route_text(r: &DefaultRoute) -> String {
        format!(
            "ip{} route {}default{} dev {} table {}",
            if r.v6 { " -6" } else { "" },
            if r.local { "local " } else { "" },
            r.gateway.map(|g| format!(" via {g}")).unwrap_or_default(),
            ifname(r.oif),
            r.table
        )
    }

    /// Set the default route of a table (replacing the one there).
    pub fn replace_default_route(&mut self, r: &DefaultRoute) -> io::Result<()> {
        self.transact(
            RouteNetlinkMessage::NewRoute(Self::route_msg(r)),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
        .map(drop)
        .map_err(|f| f.into_io(format!("RTM_NEWROUTE ({})", Self::route_text(r))))
    }

    /// Remove a default route; one that is not there is success.
    pub fn del_default_route(&mut self, r: &DefaultRoute) -> io::Result<()> {
        match self.transact(RouteNetlinkMessage::DelRoute(Self::route_msg(r)), 0) {
            Ok(_) => Ok(()),
            Err(f) if matches!(f.errno(), Some(libc::ESRCH) | Some(libc::ENOENT)) => Ok(()),
            Err(f) => Err(f.into_io(format!("RTM_DELROUTE ({})", Self::route_text(r)))),
        }
    }

    /// The default routes (unicast or local) of the tables `tables` takes.
    pub fn default_routes(
        &mut self,
        v6: bool,
        tables: impl Fn(u32) -> bool,
    ) -> io::Result<Vec<DefaultRoute>> {
        let replies = self.dump(
            || {
                let mut m = RouteMessage::default();
                m.header.address_family = family(v6);
                RouteNetlinkMessage::GetRoute(m)
            },
            "RTM_GETROUTE",
        )?;
        Ok(replies
            .iter()
            .filter(|r| r.ty == RTM_NEWROUTE)
            .filter_map(|r| parse_route(&r.payload))
            .filter(|(r, dst_len)| *dst_len == 0 && tables(r.table))
            .map(|(r, _)| r)
            .collect())
    }

    /// `ip route get dst` in the main routing: the gateway and interface,
    /// None when there is no route.
    pub fn route_get(&mut self, dst: IpAddr) -> io::Result<Option<Lookup>> {
        let mut m = RouteMessage::default();
        m.header.address_family = family(dst.is_ipv6());
        m.header.destination_prefix_length = if dst.is_ipv6() { 128 } else { 32 };
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(dst)));
        match self.transact(RouteNetlinkMessage::GetRoute(m), 0) {
            Ok((replies, _)) => Ok(replies
                .iter()
                .filter(|r| r.ty == RTM_NEWROUTE)
                .filter_map(|r| parse_route(&r.payload))
                .map(|(r, _)| Lookup {
                    gateway: r.gateway,
                    oif: r.oif,
                    local: r.local,
                })
                .next()),
            Err(f)
                if matches!(
                    f.errno(),
                    Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH) | Some(libc::EINVAL)
                ) =>
            {
                Ok(None)
            }
            Err(f) => Err(f.into_io(format!("RTM_GETROUTE {dst}"))),
        }
    }
}

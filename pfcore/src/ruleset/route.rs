//! What a rule's route selectors are: the places a rule sends packets
//! other than where the routing table would (`route-to`, `reply-to` and
//! `dup-to` next hops, `rtable`, `divert-to`, `divert-reply`). The engine
//! gives each a *route selector*, a number the packet mark carries
//! (`engine::route`, `engine::mtag`), so a ruleset may name no more of
//! them than the mark has room for.

use super::{AddrKind, Divert, Rule};
use std::net::IpAddr;

/// Selectors are 1..=127 (0 = the normal route): the 7 bits of the packet
/// mark that `engine::mtag` reserves for them.
pub const MAX_SELECTORS: usize = 127;

/// What a route selector stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// Route by this next hop (`route-to`, `reply-to`, `dup-to`).
    NextHop(IpAddr),
    /// Route with Linux routing table N (`rtable N`; 0 is the main table).
    Table(u32),
    /// Deliver to the local socket bound to this address and port
    /// (`divert-to`, through TPROXY).
    Divert(IpAddr, u16),
    /// Deliver locally whatever the destination (`divert-reply`).
    Local,
}

/// The targets a rule names whatever the packet: its literal next hops,
/// its rtable, its divert socket. Numbered at load so their ip rules are in
/// place before the first packet.
pub fn rule_targets(r: &Rule, out: &mut Vec<Target>) {
    if let Some((_, pool)) = &r.extras.route {
        for a in &pool.addrs {
            if let AddrKind::Net(n) = a {
                if n.is_host() {
                    out.push(Target::NextHop(n.addr));
                }
            }
        }
    }
    if let Some(t) = r.extras.rtable {
        out.push(Target::Table(t));
    }
    match r.extras.divert {
        Divert::To(a, p) => out.push(Target::Divert(a, p)),
        Divert::Reply => out.push(Target::Local),
        Divert::None | Divert::Packet(_) => {}
    }
}

//! What rule matching knows about a packet besides its bytes: its
//! direction and interface, its socket owner, the tag an earlier pass left,
//! the OS fingerprint of a SYN, and the engine's interfaces, routes and
//! tables that rules name.

use super::fib::Fib;
use super::iface::{if_matches, IfTable, KifId};
use super::packet::Dir;
use super::table::Tables;
use std::net::IpAddr;

/// Facts about a packet rule matching needs beyond the packet itself.
#[derive(Debug, Clone, Copy)]
pub struct MatchCtx<'a> {
    pub dir: Dir,
    pub ifname: &'a str,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The interfaces: groups for `on`, addresses for `(if)`.
    pub ifaces: &'a IfTable,
    /// The routes, for `no-route` and `urpf-failed`.
    pub fib: &'a Fib,
    /// The interface the packet is on (None: not in the table yet).
    pub kif: Option<KifId>,
    /// The interface the packet was received on (`received-on`); None for
    /// locally generated packets.
    pub rcv: Option<KifId>,
    /// The tables rules name (`<t>`).
    pub tables: &'a Tables,
    /// The tag the packet carries from an earlier pass (0 = none).
    pub tag: u16,
    /// Monotonic milliseconds (max-pkt-rate).
    pub now: u64,
    /// The systems the OS fingerprint of a TCP SYN names (`os`); None for
    /// other packets and SYNs no fingerprint knows.
    pub os: Option<&'a [(crate::osfp::OsId, usize)]>,
}

impl MatchCtx<'_> {
    /// `on NAME`: the packet's interface is NAME or in group NAME.
    pub(in crate::engine) fn on(&self, name: &str) -> bool {
        match self.kif {
            Some(k) => self.ifaces.matches(name, k),
            None => if_matches(name, self.ifname),
        }
    }

    /// uRPF (pf_routable with the interface): the route back to `src`
    /// leaves through the packet's interface (a carp interface's route
    /// counts for its carpdev).
    pub(in crate::engine) fn urpf_ok(&self, src: &IpAddr) -> bool {
        let Some(k) = self.kif.and_then(|k| self.ifaces.kif(k)) else {
            return false;
        };
        self.fib.routable_via(0, src, |oif| {
            oif == k.index
                || self
                    .ifaces
                    .iter()
                    .any(|x| x.index == oif && x.carpdev.as_deref() == Some(k.name.as_str()))
        })
    }
}

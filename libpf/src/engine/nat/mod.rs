//! Translation targets (pf's pools): which address and port `nat-to`
//! and `rdr-to` give a new connection.

use super::anchor::RuleRef;
use super::packet::{Dir, Pd};
use super::state::StateKey;
use super::Engine;
use crate::addr::{Af, IpNet};
use crate::ruleset::{AddrKind, Pool};
use std::collections::HashMap;
use std::net::IpAddr;

/// Port range pf picks translated source ports (and ICMP ids) from.
pub const NAT_PORT_LOW: u16 = 50001;
pub const NAT_PORT_HIGH: u16 = 65535;

/// The first usable address of a pool for a packet of family `af`; a
/// network pool keeps the host part of `hint` (bitmask).
fn pool_addr(
    pool: &Pool,
    ifaddrs: &HashMap<String, Vec<IpNet>>,
    af: Af,
    hint: &IpAddr,
) -> Option<IpAddr> {
    pool.addrs.iter().find_map(|a| match a {
        AddrKind::Net(n) if n.af() == af => Some(if n.is_host() {
            n.addr
        } else {
            match (n.network(), hint) {
                (IpAddr::V4(net), IpAddr::V4(h)) => {
                    let m = crate::addr::v4_mask(n.prefix);
                    IpAddr::V4((u32::from(net) | (u32::from(*h) & !m)).into())
                }
                (IpAddr::V6(net), IpAddr::V6(h)) => {
                    let m = crate::addr::v6_mask(n.prefix);
                    IpAddr::V6((u128::from(net) | (u128::from(*h) & !m)).into())
                }
                _ => return None,
            }
        }),
        AddrKind::Dynamic { ifname, .. } => ifaddrs
            .get(ifname)
            .and_then(|v| v.iter().find(|n| n.af() == af))
            .map(|n| n.addr),
        _ => None,
    })
}

impl Engine {
    /// Source address and port for the `nat-to` of rule `ri`: a free port
    /// from the proxy range (50001-65535 by default) unless `static-port`.
    pub(in crate::engine) fn nat_target(
        &mut self,
        ri: RuleRef,
        pd: &Pd,
        dir: Dir,
    ) -> Option<(IpAddr, u16)> {
        let start = self.random();
        let pool = self.rules.rule(ri)?.nat_to.as_ref()?;
        let addr = pool_addr(pool, self.ifaces.addr_map(), pd.af, &pd.src)?;
        let ported = pd.has_ports() || pd.icmp.is_some_and(|i| !i.is_error && i.id_is_sport);
        if !ported || pool.static_port {
            return Some((addr, pd.sport));
        }
        let (lo, hi) = match pool.proxy_port {
            (0, 0) => (NAT_PORT_LOW, NAT_PORT_HIGH),
            (a, 0) => (a, a),
            (a, b) => (a.min(b), a.max(b)),
        };
        let span = (hi - lo) as u32 + 1;
        let start = start % span;
        (0..span)
            .map(|i| lo + ((start + i) % span) as u16)
            .find_map(|port| {
                let mut t = *pd;
                t.src = addr;
                t.sport = port;
                (!self.states.key_in_use(&StateKey::from_pd(&t, dir))).then_some((addr, port))
            })
    }

    /// Destination for the `rdr-to` of rule `ri`: the pool address, and its
    /// port if given.
    pub(in crate::engine) fn rdr_target(&self, ri: RuleRef, pd: &Pd) -> Option<(IpAddr, u16)> {
        let pool = self.rules.rule(ri)?.rdr_to.as_ref()?;
        let addr = pool_addr(pool, self.ifaces.addr_map(), pd.af, &pd.dst)?;
        let port = match pool.proxy_port {
            (0, _) => pd.dport,
            (a, _) => a,
        };
        Some((addr, if pd.has_ports() { port } else { pd.dport }))
    }
}

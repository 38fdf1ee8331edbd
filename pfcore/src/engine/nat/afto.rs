//! The addresses an `af-to` rule gives a new connection
//! (pf_get_transaddr_af): the source from the `nat-to` pool of the new
//! family with a NAT port, the destination from the `rdr-to` pool or taken
//! out of / put into the original destination (RFC 6052, see `af`).

use super::pool::{NAT_PORT_HIGH, NAT_PORT_LOW};
use crate::addr::{Af, IpNet};
use crate::engine::af::{embed_v4, extract_v4, icmp_type_other, other_proto, Ends};
use crate::engine::packet::Pd;
use crate::engine::ruleref::RuleRef;
use crate::engine::srcnode::{SnType, Sns};
use crate::engine::state::StateKey;
use crate::engine::Engine;
use crate::ruleset::{AddrKind, Pool};
use std::net::IpAddr;

/// The first address of `af` in a pool, and its prefix length.
fn pool_net(
    pool: &Pool,
    ifaddrs: &std::collections::HashMap<String, Vec<IpNet>>,
    af: Af,
) -> Option<IpNet> {
    pool.addrs.iter().find_map(|a| match a {
        AddrKind::Net(n) if n.af() == af => Some(*n),
        AddrKind::Dynamic { ifname, .. } => ifaddrs
            .get(ifname)
            .and_then(|v| v.iter().find(|n| n.af() == af))
            .map(|n| IpNet::host(n.addr)),
        _ => None,
    })
}

impl Engine {
    /// Addresses and ports for a new connection that the af-to rule `ri`
    /// translates to `naf` (pf_get_transaddr_af): the source from the
    /// `from` pool with a NAT port, the destination from the `to` pool or
    /// taken out of / put into the original destination (RFC 6052).
    pub(in crate::engine) fn af_target(
        &mut self,
        ri: RuleRef,
        pd: &Pd,
        naf: Af,
        sns: &mut Sns,
        now: u64,
    ) -> Option<Ends> {
        let start = self.random();
        // The source from the pool (pf_get_sport in the new family); a
        // pool without a type gives its network address.
        let typed = self
            .rules
            .rule(ri)?
            .nat_to
            .as_ref()
            .is_some_and(|p| p.pool_type != crate::ruleset::PoolType::None || p.sticky_address);
        let picked = if typed {
            let mut init = None;
            let kind = SnType::Nat;
            Some(self.map_addr(ri, kind, naf, &pd.src, &mut init, sns, now)?)
        } else {
            None
        };
        let r = self.rules.rule(ri)?;
        let nat = pool_net(r.nat_to.as_ref()?, self.ifaces.addr_map(), naf)?;
        let src = picked.unwrap_or_else(|| nat.network());
        let dst = match (r.rdr_to.as_ref(), pd.dst, naf) {
            (Some(rdr), IpAddr::V6(d), Af::Inet) => {
                // inet_nat46: the pool's network bits over the low 32 bits.
                let n = pool_net(rdr, self.ifaces.addr_map(), naf)?;
                let IpAddr::V4(p) = n.network() else {
                    return None;
                };
                let o = d.octets();
                let low = u32::from_be_bytes([o[12], o[13], o[14], o[15]]);
                let m = crate::addr::v4_mask(n.prefix);
                IpAddr::V4(((low & !m) | (u32::from(p) & m)).into())
            }
            (Some(rdr), IpAddr::V4(d), Af::Inet6) => {
                let n = pool_net(rdr, self.ifaces.addr_map(), naf)?;
                let IpAddr::V6(p) = n.network() else {
                    return None;
                };
                IpAddr::V6(embed_v4(&d, &p, n.prefix)?)
            }
            (None, IpAddr::V6(d), Af::Inet) => {
                let len = match &r.to.addr {
                    AddrKind::Net(n) if n.af() == Af::Inet6 && n.prefix >= 32 => n.prefix,
                    _ => 96,
                };
                IpAddr::V4(extract_v4(&d, len)?)
            }
            (None, IpAddr::V4(d), Af::Inet6) => {
                let IpAddr::V6(p) = src else { return None };
                IpAddr::V6(embed_v4(&d, &p, nat.prefix.min(96))?)
            }
            _ => return None,
        };
        let nat_pool = r.nat_to.as_ref()?;
        let (static_port, proxy) = (nat_pool.static_port, nat_pool.proxy_port);
        let rdr_port = r.rdr_to.as_ref().map_or(0, |p| p.proxy_port.0);
        let proto = other_proto(pd.proto);
        // ICMP: the destination "port" is the query type, in the new family.
        let ic = pd.icmp;
        let dport = match ic {
            Some(i) if i.id_is_sport => icmp_type_other(pd.af, i.icmp_type)? as u16,
            _ if rdr_port != 0 && pd.has_ports() => rdr_port,
            _ => pd.dport,
        };
        let ported = pd.has_ports() || ic.is_some_and(|i| !i.is_error && i.id_is_sport);
        let mk = |sport: u16| StateKey {
            addr: [dst, src],
            port: [dport, sport],
            proto,
            rdomain: 0,
        };
        let sport = if !ported || static_port {
            pd.sport
        } else {
            let (lo, hi) = match proxy {
                (0, 0) => (NAT_PORT_LOW, NAT_PORT_HIGH),
                (a, 0) => (a, a),
                (a, b) => (a.min(b), a.max(b)),
            };
            let span = (hi - lo) as u32 + 1;
            let start = start % span;
            (0..span)
                .map(|i| lo + ((start + i) % span) as u16)
                .find(|&p| !self.states.key_in_use(&mk(p)))?
        };
        Some(Ends {
            src,
            dst,
            sport,
            dport,
        })
    }
}

//! The routing tables pf consults (OpenBSD's `rtalloc` in `pf_routable`):
//! a snapshot of the kernel's routes, pushed in by the daemon from netlink
//! (a dump, then every RTM_NEWROUTE / RTM_DELROUTE), with longest-prefix
//! lookup. `no-route`, `urpf-failed` and the `egress` group are answered
//! from here.
//!
//! Linux keeps several tables; a lookup for routing table 0 (the default
//! `rtable`) walks `local` (255), `main` (254) and `default` (253) in the
//! order of the kernel's default `ip rule` list, the first table with a
//! matching prefix deciding (a `throw` route passes on to the next table).
//! Any other table number is looked up alone. `ip rule` policy beyond the
//! defaults is not consulted. As `rtalloc` does, every route counts,
//! whatever its type: a `blackhole`, `unreachable` or `prohibit` route
//! makes its prefix routable (it has no interface, so a uRPF check against
//! it fails).
//!
//! Lookups do not allocate: each table keeps one hash map per prefix
//! length present, probed from the longest length down.

use crate::addr::{v4_mask, v6_mask, IpNet};
use std::collections::HashMap;
use std::net::IpAddr;

pub const RT_TABLE_DEFAULT: u32 = 253;
pub const RT_TABLE_MAIN: u32 = 254;
pub const RT_TABLE_LOCAL: u32 = 255;

/// Route types (`rtm_type`) that matter here.
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RTN_THROW: u8 = 9;

/// One route: a destination prefix in a table, and where it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub table: u32,
    /// Destination, host bits cleared.
    pub dst: IpNet,
    pub tos: u8,
    /// RTA_PRIORITY: the lowest metric of a prefix wins.
    pub metric: u32,
    /// `rtm_type` (RTN_*).
    pub kind: u8,
    /// Interface index of each next hop (one per path of a multipath
    /// route); empty for routes without an interface (blackhole...).
    pub oifs: Vec<u32>,
}

impl Route {
    /// The identity the kernel keys routes by: a new route with the same
    /// identity replaces, a delete removes.
    fn same_key(&self, o: &Route) -> bool {
        self.table == o.table && self.dst == o.dst && self.tos == o.tos && self.metric == o.metric
    }
}

/// What happened to a route (one netlink notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteChange {
    /// RTM_NEWROUTE; `replace` (NLM_F_REPLACE) replaces the route with the
    /// same key, `append` (NLM_F_APPEND) adds its next hops to it.
    Add {
        route: Route,
        replace: bool,
        append: bool,
    },
    /// RTM_DELROUTE.
    Del(Route),
}

fn key_of(a: &IpAddr, len: u8) -> u128 {
    match a {
        IpAddr::V4(v) => (u32::from(*v) & v4_mask(len)) as u128,
        IpAddr::V6(v) => u128::from(*v) & v6_mask(len),
    }
}

/// The routes of one family in one table, by prefix length.
#[derive(Debug, Clone, Default)]
struct PrefixMap {
    /// (prefix length, routes by masked destination), longest first.
    by_len: Vec<(u8, HashMap<u128, Vec<Route>>)>,
}

impl PrefixMap {
    fn bucket(&mut self, len: u8) -> &mut HashMap<u128, Vec<Route>> {
        let i = match self.by_len.iter().position(|(l, _)| *l <= len) {
            Some(i) if self.by_len[i].0 == len => i,
            Some(i) => {
                self.by_len.insert(i, (len, HashMap::new()));
                i
            }
            None => {
                self.by_len.push((len, HashMap::new()));
                self.by_len.len() - 1
            }
        };
        &mut self.by_len[i].1
    }

    fn routes_mut(&mut self, dst: &IpNet) -> &mut Vec<Route> {
        self.bucket(dst.prefix)
            .entry(key_of(&dst.addr, dst.prefix))
            .or_default()
    }

    fn remove_if_empty(&mut self, dst: &IpNet) {
        let k = key_of(&dst.addr, dst.prefix);
        if let Some(i) = self.by_len.iter().position(|(l, _)| *l == dst.prefix) {
            let m = &mut self.by_len[i].1;
            if m.get(&k).is_some_and(|v| v.is_empty()) {
                m.remove(&k);
            }
            if m.is_empty() {
                self.by_len.remove(i);
            }
        }
    }

    /// The routes of the longest prefix containing `a`.
    fn lookup(&self, a: &IpAddr) -> Option<&[Route]> {
        self.by_len.iter().find_map(|(len, m)| {
            m.get(&key_of(a, *len))
                .filter(|v| !v.is_empty())
                .map(|v| v.as_slice())
        })
    }

    fn len(&self) -> usize {
        self.by_len
            .iter()
            .map(|(_, m)| m.values().map(Vec::len).sum::<usize>())
            .sum()
    }
}

#[derive(Debug, Clone, Default)]
struct Table {
    v4: PrefixMap,
    v6: PrefixMap,
}

impl Table {
    fn family(&mut self, a: &IpAddr) -> &mut PrefixMap {
        if a.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        }
    }
    fn family_ref(&self, a: &IpAddr) -> &PrefixMap {
        if a.is_ipv4() {
            &self.v4
        } else {
            &self.v6
        }
    }
}

/// Every routing table pf knows.
#[derive(Debug, Clone, Default)]
pub struct Fib {
    tables: HashMap<u32, Table>,
}

/// Does a route to the address exist, and which interfaces does it use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    NoRoute,
    /// The best routes (lowest metric of the longest prefix).
    Routes(&'a [Route]),
}

impl Fib {
    /// A FIB holding `routes` (a dump).
    pub fn from_routes(routes: impl IntoIterator<Item = Route>) -> Fib {
        let mut f = Fib::default();
        for r in routes {
            f.apply(RouteChange::Add {
                route: r,
                replace: false,
                append: false,
            });
        }
        f
    }

    /// Number of routes, all tables.
    pub fn len(&self) -> usize {
        self.tables.values().map(|t| t.v4.len() + t.v6.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Apply one notification. Returns true when a default route (0/0 or
    /// ::/0) of the main table changed, which moves the `egress` group.
    pub fn apply(&mut self, ch: RouteChange) -> bool {
        let (r, default) = match &ch {
            RouteChange::Add { route, .. } | RouteChange::Del(route) => {
                (route, route.dst.prefix == 0 && route.table == RT_TABLE_MAIN)
            }
        };
        let mut dst = r.dst;
        dst.addr = dst.network();
        let map = self.tables.entry(r.table).or_default().family(&dst.addr);
        match ch {
            RouteChange::Add {
                mut route,
                replace,
                append,
            } => {
                route.dst = dst;
                let v = map.routes_mut(&dst);
                match v.iter_mut().find(|x| x.same_key(&route)) {
                    Some(x) if append && !replace => {
                        for o in route.oifs {
                            if !x.oifs.contains(&o) {
                                x.oifs.push(o);
                            }
                        }
                    }
                    Some(x) => *x = route,
                    None => v.push(route),
                }
            }
            RouteChange::Del(route) => {
                let v = map.routes_mut(&dst);
                if let Some(i) = v.iter().position(|x| {
                    x.table == route.table
                        && x.tos == route.tos
                        && x.metric == route.metric
                        && (route.oifs.is_empty() || route.oifs.iter().any(|o| x.oifs.contains(o)))
                }) {
                    // A delete naming some of a multipath route's hops
                    // removes those hops; otherwise the route goes.
                    let x = &mut v[i];
                    if !route.oifs.is_empty() && x.oifs.len() > route.oifs.len() {
                        x.oifs.retain(|o| !route.oifs.contains(o));
                    } else {
                        v.remove(i);
                    }
                }
                map.remove_if_empty(&dst);
            }
        }
        default
    }

    /// The tables a lookup in routing table `rtable` walks.
    fn chain(rtable: u32) -> &'static [u32] {
        const DEFAULT_CHAIN: [u32; 3] = [RT_TABLE_LOCAL, RT_TABLE_MAIN, RT_TABLE_DEFAULT];
        if rtable == 0 {
            &DEFAULT_CHAIN
        } else {
            &[]
        }
    }

    /// rtalloc: the best routes to `a` in routing table `rtable` (0: the
    /// kernel's default lookup).
    pub fn lookup(&self, rtable: u32, a: &IpAddr) -> Lookup<'_> {
        let single = [rtable];
        let chain = match Fib::chain(rtable) {
            [] => &single[..],
            c => c,
        };
        for t in chain {
            let Some(table) = self.tables.get(t) else {
                continue;
            };
            let Some(routes) = table.family_ref(a).lookup(a) else {
                continue;
            };
            // Lowest metric wins; routes of equal metric are the paths of
            // one destination (IPv6 lists multipath that way).
            let best = routes.iter().map(|r| r.metric).min().unwrap_or(0);
            let start = routes.iter().position(|r| r.metric == best).unwrap_or(0);
            let n = routes[start..]
                .iter()
                .take_while(|r| r.metric == best)
                .count();
            let best = &routes[start..start + n];
            if best.iter().all(|r| r.kind == RTN_THROW) {
                continue;
            }
            return Lookup::Routes(best);
        }
        Lookup::NoRoute
    }

    /// pf_routable without an interface: is there any route to `a`?
    /// Scoped IPv6 addresses (link-local, interface- and link-local
    /// multicast) always are, as on OpenBSD.
    pub fn routable(&self, rtable: u32, a: &IpAddr) -> bool {
        scoped(a) || matches!(self.lookup(rtable, a), Lookup::Routes(_))
    }

    /// pf_routable with an interface (uRPF): does the route back to `a`
    /// leave through an interface `via` accepts? `via` gets each next
    /// hop's interface index.
    pub fn routable_via(&self, rtable: u32, a: &IpAddr, via: impl Fn(u32) -> bool) -> bool {
        if scoped(a) {
            return true;
        }
        match self.lookup(rtable, a) {
            Lookup::NoRoute => false,
            Lookup::Routes(rs) => rs.iter().any(|r| r.oifs.iter().any(|&o| via(o))),
        }
    }

    /// Interfaces of the default routes (0.0.0.0/0 and ::/0) of the main
    /// table: the `egress` group.
    pub fn default_oifs(&self) -> Vec<u32> {
        let mut out = Vec::new();
        if let Some(t) = self.tables.get(&RT_TABLE_MAIN) {
            for m in [&t.v4, &t.v6] {
                for (len, routes) in &m.by_len {
                    if *len != 0 {
                        continue;
                    }
                    for r in routes.values().flatten() {
                        for o in &r.oifs {
                            if !out.contains(o) {
                                out.push(*o);
                            }
                        }
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }
}

/// IPv6 addresses that carry an interface scope (IN6_IS_SCOPE_EMBED).
fn scoped(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(_) => false,
        IpAddr::V6(v) => {
            let s = v.segments()[0];
            (s & 0xffc0) == 0xfe80 || s == 0xff01 || s == 0xff02
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(table: u32, dst: &str, metric: u32, kind: u8, oifs: &[u32]) -> Route {
        Route {
            table,
            dst: dst.parse().unwrap(),
            tos: 0,
            metric,
            kind,
            oifs: oifs.to_vec(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn fib() -> Fib {
        Fib::from_routes([
            route(RT_TABLE_LOCAL, "10.1.0.1/32", 0, RTN_LOCAL, &[2]),
            route(RT_TABLE_MAIN, "10.1.0.0/24", 0, RTN_UNICAST, &[2]),
            route(RT_TABLE_MAIN, "10.2.0.0/24", 0, RTN_UNICAST, &[3]),
            route(RT_TABLE_MAIN, "10.2.7.0/24", 0, RTN_UNICAST, &[4]),
            route(RT_TABLE_MAIN, "10.9.0.0/16", 0, 6, &[]), // blackhole
            route(RT_TABLE_MAIN, "2001:db8::/64", 256, RTN_UNICAST, &[3]),
            route(RT_TABLE_MAIN, "2001:db8::/64", 1024, RTN_UNICAST, &[2]),
            route(100, "0.0.0.0/0", 0, RTN_UNICAST, &[4]),
        ])
    }

    #[test]
    fn longest_prefix_and_metric() {
        let f = fib();
        assert_eq!(f.len(), 8);
        assert!(f.routable(0, &ip("10.2.0.9")));
        assert!(!f.routable(0, &ip("10.3.0.1")), "no default route");
        assert!(f.routable(0, &ip("10.9.1.1")), "a blackhole route counts");
        assert!(!f.routable_via(0, &ip("10.9.1.1"), |_| true));
        // uRPF: the /24 to ifindex 4 is more specific than the one to 3.
        assert!(f.routable_via(0, &ip("10.2.7.1"), |o| o == 4));
        assert!(!f.routable_via(0, &ip("10.2.7.1"), |o| o == 3));
        assert!(f.routable_via(0, &ip("10.2.0.1"), |o| o == 3));
        // The local table answers first.
        assert!(f.routable_via(0, &ip("10.1.0.1"), |o| o == 2));
        // IPv6: the lower metric wins; link-local is always routable.
        assert!(f.routable_via(0, &ip("2001:db8::5"), |o| o == 3));
        assert!(!f.routable_via(0, &ip("2001:db8::5"), |o| o == 2));
        assert!(f.routable_via(0, &ip("fe80::1"), |_| false));
        assert!(!f.routable(0, &ip("2001:db9::1")));
        // Another table is looked up alone.
        assert!(f.routable(100, &ip("192.0.2.1")));
        assert!(f.routable(100, &ip("10.1.0.5")));
        assert!(f.routable_via(100, &ip("10.1.0.5"), |o| o == 4));
        assert!(!f.routable(101, &ip("10.1.0.5")));
    }

    #[test]
    fn changes_and_egress() {
        let mut f = fib();
        assert!(f.default_oifs().is_empty());
        let def = route(RT_TABLE_MAIN, "0.0.0.0/0", 0, RTN_UNICAST, &[3]);
        assert!(f.apply(RouteChange::Add {
            route: def.clone(),
            replace: false,
            append: false
        }));
        assert_eq!(f.default_oifs(), vec![3]);
        assert!(f.routable(0, &ip("192.0.2.1")));
        // Replaced by a route through 4, then a second path appended.
        let mut def4 = def.clone();
        def4.oifs = vec![4];
        f.apply(RouteChange::Add {
            route: def4.clone(),
            replace: true,
            append: false,
        });
        assert_eq!(f.default_oifs(), vec![4]);
        f.apply(RouteChange::Add {
            route: def.clone(),
            replace: false,
            append: true,
        });
        assert_eq!(f.default_oifs(), vec![3, 4]);
        assert!(f.routable_via(0, &ip("192.0.2.1"), |o| o == 3));
        // Deleting one hop keeps the other; deleting that one removes it.
        f.apply(RouteChange::Del(def.clone()));
        assert_eq!(f.default_oifs(), vec![4]);
        f.apply(RouteChange::Del(def4));
        assert!(f.default_oifs().is_empty());
        assert!(!f.routable(0, &ip("192.0.2.1")));
        // A throw route in main passes the lookup on to table default.
        f.apply(RouteChange::Add {
            route: route(RT_TABLE_MAIN, "192.0.2.0/24", 0, RTN_THROW, &[]),
            replace: false,
            append: false,
        });
        assert!(!f.routable(0, &ip("192.0.2.1")));
        f.apply(RouteChange::Add {
            route: route(RT_TABLE_DEFAULT, "0.0.0.0/0", 0, RTN_UNICAST, &[7]),
            replace: false,
            append: false,
        });
        assert!(f.routable_via(0, &ip("192.0.2.1"), |o| o == 7));
        // Host bits of a destination are ignored; deleting what is not
        // there changes nothing.
        f.apply(RouteChange::Del(route(
            RT_TABLE_MAIN,
            "172.16.0.0/12",
            0,
            1,
            &[],
        )));
        assert_eq!(f.len(), 10);
    }
}

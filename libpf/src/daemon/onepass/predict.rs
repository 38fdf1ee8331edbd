//! Where the kernel will route a forwarded packet: the question, its
//! answers per flow, and what of the system rules prediction out.

use super::super::Shared;
use crate::engine::fib::Lookup;
use crate::engine::packet::describe;
use crate::log;
use crate::sys::nft_rules::{self, RulesMonitor};
use crate::sys::route_query::{Answer, Query, RouteQuery};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The route question for a packet the kernel will route as it is (None:
/// a packet this does not predict: not plain IPv4/IPv6 without options or
/// extension headers, a fragment, TTL 1, an IPv6 source or destination
/// forwarding refuses).
pub fn question(pkt: &[u8], iif: u32, mark: u32) -> Option<Query> {
    let pd = describe(pkt).ok()?;
    if pd.fragment || pd.ttl <= 1 {
        return None;
    }
    let plain = match pkt[0] >> 4 {
        4 => pkt[0] & 0x0f == 5,
        6 => pd.l4_off == 40 && pd.proto != 0,
        _ => false,
    };
    if !plain {
        return None;
    }
    if let (IpAddr::V6(s), IpAddr::V6(d)) = (pd.src, pd.dst) {
        // ip6_forward: no multicast, loopback or link-local source, no
        // link-local destination.
        let bad = |a: &std::net::Ipv6Addr| {
            a.is_multicast()
                || a.is_loopback()
                || a.is_unspecified()
                || a.segments()[0] & 0xffc0 == 0xfe80
        };
        if bad(&s) || bad(&d) {
            return None;
        }
    }
    let ported = matches!(pd.proto, 6 | 17);
    Some(Query {
        src: pd.src,
        dst: pd.dst,
        tos: match pkt[0] >> 4 {
            4 => pkt[1],
            _ => ((u16::from_be_bytes([pkt[0], pkt[1]]) >> 4) & 0xff) as u8,
        },
        iif,
        mark,
        proto: pd.proto,
        sport: if ported { pd.sport } else { 0 },
        dport: if ported { pd.dport } else { 0 },
    })
}

/// How long a route answer is trusted without a change notification (ip
/// rules and sysctls come without one).
const ANSWER_TTL: Duration = Duration::from_secs(1);
/// Answers kept at most (one per flow and direction).
const CACHE_MAX: usize = 65536;
/// How often the system is checked for what rules out filtering ahead of
/// time (IPsec policies, IPv6 forwarding off, netfilter rules without
/// notifications).
const SYSTEM_CHECK: Duration = Duration::from_secs(2);
/// How often the nftables notifications are looked at.
const RULES_LOOK: Duration = Duration::from_millis(1);

/// A data path thread's route questions and their answers.
pub struct Predictor {
    rq: Option<RouteQuery>,
    rules: Option<RulesMonitor>,
    rules_checked: Option<Instant>,
    rules_looked: Option<Instant>,
    /// The system has netfilter rules of its own between pfd's hooks.
    foreign: bool,
    /// The interface each question's packets leave by (None: not by one
    /// unicast path), and since when that is known.
    cache: HashMap<Query, (Option<u32>, Instant)>,
    /// The network generation the cache is for.
    net_gen: u64,
    checked: Option<Instant>,
    /// IPsec policies, or ip rules on mark bits beyond pfd's selector.
    ipsec: bool,
    /// ip rules look at the transport protocol or ports: answers are per
    /// flow, else per pair of addresses.
    l4_rules: bool,
    v6_forwarding: bool,
    /// Packets filtered both ways at once, and `out` passes done again
    /// because the packet left elsewhere.
    pub done: u64,
    pub mispredicted: u64,
    /// Packets queued at POSTROUTING for a rewrite pfd no longer had.
    pub lost: u64,
}

impl Predictor {
    pub fn new() -> Predictor {
        Predictor {
            rq: RouteQuery::open()
                .map_err(|e| {
                    log::err(&format!(
                        "route questions: {e}: every packet is queued twice"
                    ))
                })
                .ok(),
            rules: RulesMonitor::open()
                .map_err(|e| {
                    log::err(&format!(
                        "nftables notifications: {e}: the ruleset is read every 2 s"
                    ))
                })
                .ok(),
            rules_checked: None,
            rules_looked: None,
            foreign: true,
            cache: HashMap::new(),
            net_gen: 0,
            checked: None,
            ipsec: false,
            l4_rules: true,
            v6_forwarding: true,
            done: 0,
            mispredicted: 0,
            lost: 0,
        }
    }

    fn check_system(&mut self) {
        // Netfilter rules: at once when they change (the notifications
        // looked at once a millisecond at most), and every SYSTEM_CHECK.
        let now = Instant::now();
        let due = self.rules_checked.is_none_or(|t| now - t >= SYSTEM_CHECK);
        let mut changed = false;
        if self.rules_looked.is_none_or(|t| now - t >= RULES_LOOK) {
            self.rules_looked = Some(now);
            changed = self.rules.as_mut().is_some_and(|m| m.changed());
        }
        if due || changed {
            self.rules_checked = Some(now);
            let foreign = nft_rules::foreign_rules().unwrap_or(true);
            if foreign != self.foreign {
                log::info(&format!(
                    "netfilter rules of the system's own {} between pfd's hooks: forwarded packets are filtered `out` {}",
                    if foreign { "sit" } else { "no longer sit" },
                    if foreign { "at POSTROUTING" } else { "when they come in" }
                ));
                self.cache.clear();
            }
            self.foreign = foreign;
        }
        if self.checked.is_some_and(|t| t.elapsed() < SYSTEM_CHECK) {
            return;
        }
        self.checked = Some(Instant::now());
        let rules = self.rq.as_mut().map(|rq| rq.rule_use());
        let (marks, l4) = match rules {
            Some(Ok(u)) => (u.mark_bits & !crate::engine::mtag::ROUTE_MASK != 0, u.l4),
            _ => (true, true),
        };
        if l4 != self.l4_rules {
            self.cache.clear();
        }
        self.l4_rules = l4;
        let ipsec = crate::sys::xfrm::has_policies().unwrap_or(true) || marks;
        if ipsec != self.ipsec {
            log::info(&format!(
                "IPsec policies or ip rules on packet marks {}: forwarded packets are filtered `out` {}",
                if ipsec { "present" } else { "gone" },
                if ipsec { "at POSTROUTING" } else { "when they come in" }
            ));
        }
        self.ipsec = ipsec;
        self.v6_forwarding = std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding")
            .map(|s| s.trim() == "1")
            .unwrap_or(false);
    }

    /// The interface a packet asking `q` leaves by, when it is forwarded
    /// by a single unicast path (`single_path` checks the route's next
    /// hops in pfd's copy of the table).
    pub fn route(
        &mut self,
        shared: &Shared,
        q: &Query,
        single_path: impl Fn(u32, &IpAddr, u32) -> bool,
    ) -> Option<u32> {
        let gen = shared.net_gen.load(Ordering::Relaxed);
        if gen != self.net_gen || self.cache.len() >= CACHE_MAX {
            if gen != self.net_gen {
                // Rules or settings may have changed with the routes.
                self.checked = None;
            }
            self.cache.clear();
            self.net_gen = gen;
        }
        self.check_system();
        if self.ipsec || self.foreign || (q.dst.is_ipv6() && !self.v6_forwarding) {
            return None;
        }
        // The ports only choose among the paths of a multipath route,
        // which is not predicted, unless ip rules look at them.
        let key = if self.l4_rules {
            *q
        } else {
            Query {
                proto: 0,
                sport: 0,
                dport: 0,
                ..*q
            }
        };
        match self.cache.get(&key) {
            Some((oif, t)) if t.elapsed() < ANSWER_TTL => *oif,
            _ => {
                let oif = match self.rq.as_mut()?.ask(q).ok()? {
                    Answer::Forward { oif, table } if single_path(table, &q.dst, oif) => Some(oif),
                    _ => None,
                };
                self.cache.insert(key, (oif, Instant::now()));
                oif
            }
        }
    }

    /// A packet left by another interface than its `out` pass was for:
    /// ask again next time.
    pub fn forget(&mut self) {
        self.cache.clear();
    }
}

impl Default for Predictor {
    fn default() -> Self {
        Predictor::new()
    }
}

/// Does routing table `table` send `dst` by exactly one path, out of
/// `oif`, in pfd's copy of the routes?
pub fn single_path(fib: &crate::engine::fib::Fib, table: u32, dst: &IpAddr, oif: u32) -> bool {
    match fib.lookup(table, dst) {
        Lookup::Routes(rs) => {
            let mut oifs = rs.iter().flat_map(|r| r.oifs.iter());
            oifs.next() == Some(&oif) && oifs.next().is_none()
        }
        Lookup::NoRoute => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::offload::tests::{tcp_seg, v4};

    #[test]
    fn questions() {
        let p = v4(
            "10.1.0.2",
            "10.9.0.2",
            6,
            &tcp_seg(1234, 80, 3, 4, 0x02, 5, b""),
        );
        let q = question(&p, 4, 0x100).unwrap();
        assert_eq!(
            (q.proto, q.sport, q.dport, q.iif, q.mark),
            (6, 1234, 80, 4, 0x100)
        );
        assert_eq!(q.dst, "10.9.0.2".parse::<IpAddr>().unwrap());
        // TTL 1: forwarding drops it.
        let mut t1 = p.clone();
        t1[8] = 1;
        assert!(question(&t1, 4, 0).is_none());
        // A fragment.
        let mut f = p.clone();
        f[6] = 0x20;
        assert!(question(&f, 4, 0).is_none());
        // GRE: no ports.
        let g = v4("10.1.0.2", "10.9.0.2", 47, &[0; 8]);
        assert_eq!(question(&g, 4, 0).map(|q| (q.sport, q.dport)), Some((0, 0)));
    }
}

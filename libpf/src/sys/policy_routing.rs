//! pfd's policy routing on Linux: for every route selector the engine
//! numbers (`ruleset::route`, `engine::route`), the `ip rule`s, routing
//! tables and TPROXY rules that make the kernel route a packet carrying
//! that selector in its mark as pf would route it.
//!
//! | target | what pfd installs |
//! |---|---|
//! | next hop A (route-to, reply-to, dup-to) | `ip rule fwmark S/0x7f000000 lookup 7066000+S`, table 7066000+S holding `default via G dev D` where `ip route get A` gives G (A itself when on the link) and D |
//! | `rtable N` | `ip rule fwmark S/0x7f000000 lookup N` (N = 0: main), IPv4 and IPv6 |
//! | `divert-to A port P` | `iptables -t mangle` chain `PFD_TPROXY` (jumped to from PREROUTING): `-m mark --mark S -j TPROXY --on-ip A --on-port P` for TCP and UDP; `ip rule fwmark S lookup 7066000`, the table that delivers everything locally (`local default dev lo`) |
//! | `divert-reply` | `ip rule fwmark S lookup 7066000` |
//!
//! Each selector's lookup rule is at priority 7066 (before the main table
//! at 32766); at 7067 an `unreachable` rule for the same mark stops a
//! packet whose table has no route instead of letting it fall through to
//! the main table, as pf drops a packet it cannot route (pf_route).
//!
//! pfd owns exactly these: rules at priorities 7066 and 7067 with mask
//! 0x7f000000, tables 7066000 to 7066127, and the chain `PFD_TPROXY`. They
//! exist while pf is enabled and are removed by `pfctl -d`, when pfd exits,
//! and when pfd starts (left over by a pfd that died).
//!
//! libc only for IPV6_MTU, which neither nix nor socket2 wraps.

use crate::engine::mtag::{generated_mark, ROUTE_MASK, ROUTE_SHIFT};
use crate::ruleset::route::Target;
use crate::sys::netlink::{DefaultRoute, FwRule, Netlink};
use crate::sys::raw::RawSender;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::process::Command;

/// Priority of the rules that pick a selector's table.
pub const RULE_PRIORITY: u32 = 7066;
/// Priority of the `unreachable` rules behind them.
pub const FALLBACK_PRIORITY: u32 = 7067;
/// Table of next hop selector S: TABLE_BASE + S. TABLE_BASE itself is the
/// local-delivery table of the divert options.
pub const TABLE_BASE: u32 = 7_066_000;
pub const LOCAL_TABLE: u32 = TABLE_BASE;
/// Linux's main table (pf's rtable 0).
const MAIN_TABLE: u32 = 254;

const TPROXY_CHAIN: &str = "PFD_TPROXY";

/// What one selector needs from the system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Plan {
    rules: Vec<FwRule>,
    routes: Vec<DefaultRoute>,
    local: bool,
    tproxy: Option<(IpAddr, u16)>,
    ifname: Option<String>,
}

/// The rules, tables and TPROXY rules pfd has in place.
pub struct PolicyRouting {
    nl: Netlink,
    installed: HashMap<u8, Plan>,
    local_routes: Vec<DefaultRoute>,
    tproxy: Vec<(u8, IpAddr, u16)>,
}

fn rules_for(sel: u8, v6s: &[bool], table: u32) -> Vec<FwRule> {
    let mark = (sel as u32) << ROUTE_SHIFT;
    v6s.iter()
        .flat_map(|&v6| {
            [
                FwRule {
                    v6,
                    priority: RULE_PRIORITY,
                    mark,
                    mask: ROUTE_MASK,
                    table: Some(table),
                },
                FwRule {
                    v6,
                    priority: FALLBACK_PRIORITY,
                    mark,
                    mask: ROUTE_MASK,
                    table: None,
                },
            ]
        })
        .collect()
}

fn ours(r: &FwRule) -> bool {
    (r.priority == RULE_PRIORITY || r.priority == FALLBACK_PRIORITY) && r.mask == ROUTE_MASK
}

fn our_table(t: u32) -> bool {
    (TABLE_BASE..=TABLE_BASE + crate::ruleset::route::MAX_SELECTORS as u32).contains(&t)
}

impl PolicyRouting {
    pub fn open() -> io::Result<PolicyRouting> {
        Ok(PolicyRouting {
            nl: Netlink::open()?,
            installed: HashMap::new(),
            local_routes: Vec::new(),
            tproxy: Vec::new(),
        })
    }

    fn ifname(&mut self, index: u32) -> Option<String> {
        self.nl.link_by_index(index).ok().flatten().map(|l| l.name)
    }

    /// What selector `sel` standing for `t` needs now (next hops are looked
    /// up in the routing table every time).
    fn plan(&mut self, sel: u8, t: &Target) -> io::Result<Plan> {
        let both = [false, true];
        Ok(match *t {
            Target::NextHop(a) => {
                let v6 = a.is_ipv6();
                let table = TABLE_BASE + sel as u32;
                let mut p = Plan {
                    rules: rules_for(sel, &[v6], table),
                    ..Plan::default()
                };
                let route = match self.nl.route_get(a)? {
                    // Our own address: out of its interface, to whatever
                    // the packet is addressed to.
                    Some(l) if l.local => self
                        .nl
                        .addrs(None)?
                        .into_iter()
                        .find(|x| x.net.addr == a)
                        .map(|x| DefaultRoute {
                            v6,
                            table,
                            gateway: None,
                            oif: x.index,
                            local: false,
                        }),
                    Some(l) if l.oif != 0 => Some(DefaultRoute {
                        v6,
                        table,
                        gateway: Some(l.gateway.unwrap_or(a)),
                        oif: l.oif,
                        local: false,
                    }),
                    _ => None,
                };
                if let Some(r) = route {
                    p.ifname = self.ifname(r.oif);
                    p.routes.push(r);
                }
                p
            }
            Target::Table(n) => Plan {
                rules: rules_for(sel, &both, if n == 0 { MAIN_TABLE } else { n }),
                ..Plan::default()
            },
            Target::Divert(a, port) => Plan {
                rules: rules_for(sel, &[a.is_ipv6()], LOCAL_TABLE),
                local: true,
                tproxy: Some((a, port)),
                ..Plan::default()
            },
            Target::Local => Plan {
                rules: rules_for(sel, &both, LOCAL_TABLE),
                local: true,
                ..Plan::default()
            },
        })
    }

    fn remove_plan(&mut self, p: &Plan, keep: &Plan) -> io::Result<()> {
        for r in p.routes.iter().filter(|r| !keep.routes.contains(r)) {
            self.nl.del_default_route(r)?;
        }
        for r in p.rules.iter().filter(|r| !keep.rules.contains(r)) {
            self.nl.del_fw_rule(r)?;
        }
        Ok(())
    }

    /// Make the system match the selectors of `targets`. Returns, for
    /// each next hop, the interface its table leads to (None: no route).
    pub fn sync(&mut self, targets: &[(u8, Target)]) -> io::Result<Vec<(u8, Option<String>)>> {
        let mut wanted: HashMap<u8, Plan> = HashMap::new();
        for (sel, t) in targets {
            let p = self.plan(*sel, t)?;
            wanted.insert(*sel, p);
        }
        // Gone or changed selectors first.
        let old: Vec<(u8, Plan)> = self.installed.drain().collect();
        for (sel, p) in &old {
            let keep = wanted.get(sel).cloned().unwrap_or_default();
            self.remove_plan(p, &keep)?;
        }
        let mut failed = None;
        let mut lo = 0;
        if wanted.values().any(|p| p.local) {
            lo = self.nl.link_by_name("lo")?.map(|l| l.index).unwrap_or(1);
        }
        let local: Vec<DefaultRoute> = if lo != 0 {
            [false, true]
                .into_iter()
                .map(|v6| DefaultRoute {
                    v6,
                    table: LOCAL_TABLE,
                    gateway: None,
                    oif: lo,
                    local: true,
                })
                .collect()
        } else {
            Vec::new()
        };
        for r in &local {
            if !self.local_routes.contains(r) {
                if let Err(e) = self.nl.replace_default_route(r) {
                    failed.get_or_insert(e);
                }
            }
        }
        for r in std::mem::take(&mut self.local_routes) {
            if !local.contains(&r) {
                self.nl.del_default_route(&r)?;
            }
        }
        self.local_routes = local;
        let mut out = Vec::new();
        let mut sels: Vec<u8> = wanted.keys().copied().collect();
        sels.sort_unstable();
        let old: HashMap<u8, Plan> = old.into_iter().collect();
        for sel in sels {
            let p = wanted.remove(&sel).unwrap_or_default();
            if old.get(&sel) == Some(&p) {
                out.push((sel, p.ifname.clone()));
                self.installed.insert(sel, p);
                continue;
            }
            for r in &p.routes {
                if let Err(e) = self.nl.replace_default_route(r) {
                    failed.get_or_insert(e);
                }
            }
            for r in &p.rules {
                if let Err(e) = self.nl.add_fw_rule(r) {
                    failed.get_or_insert(e);
                }
            }
            out.push((sel, p.ifname.clone()));
            self.installed.insert(sel, p);
        }
        let mut tproxy: Vec<(u8, IpAddr, u16)> = self
            .installed
            .iter()
            .filter_map(|(s, p)| p.tproxy.map(|(a, port)| (*s, a, port)))
            .collect();
        tproxy.sort_unstable();
        if tproxy != self.tproxy {
            if let Err(e) = tproxy_apply(&tproxy) {
                failed.get_or_insert(e);
            }
            self.tproxy = tproxy;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Remove every rule, route and TPROXY rule pfd owns, also those an
    /// earlier pfd left.
    pub fn clear(&mut self) -> io::Result<()> {
        self.installed.clear();
        self.local_routes.clear();
        self.tproxy.clear();
        let mut failed = None;
        for v6 in [false, true] {
            for r in self.nl.fw_rules(v6)?.into_iter().filter(ours) {
                if let Err(e) = self.nl.del_fw_rule(&r) {
                    failed.get_or_insert(e);
                }
            }
            for r in self.nl.default_routes(v6, our_table)? {
                if let Err(e) = self.nl.del_default_route(&r) {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Err(e) = tproxy_apply(&[]) {
            failed.get_or_insert(e);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Is anything of ours in place? (rules only: they are what steers)
    pub fn present(&mut self) -> bool {
        [false, true]
            .into_iter()
            .any(|v6| self.nl.fw_rules(v6).is_ok_and(|v| v.iter().any(ours)))
    }
}

/// Sends packets on the path of a route selector: raw sockets whose mark
/// is pfd's generated bit (the packet is not filtered again) and the
/// selector, so that the selector's rule routes them.
pub struct RouteSender {
    v4: RawSender,
    v6: RawSender,
    marks: [u32; 2],
}

/// The destination address of an IP packet.
fn packet_dst(pkt: &[u8]) -> Option<IpAddr> {
    match pkt.first()? >> 4 {
        4 if pkt.len() >= 20 => Some(IpAddr::V4(std::net::Ipv4Addr::new(
            pkt[16], pkt[17], pkt[18], pkt[19],
        ))),
        6 if pkt.len() >= 40 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&pkt[24..40]);
            Some(IpAddr::V6(a.into()))
        }
        _ => None,
    }
}

impl RouteSender {
    pub fn open() -> io::Result<RouteSender> {
        let m = generated_mark(0);
        Ok(RouteSender {
            v4: RawSender::ipv4(Some(m), None)?,
            v6: RawSender::ipv6(Some(m))?,
            marks: [m; 2],
        })
    }

    fn send_raw(&mut self, sel: u8, pkt: &[u8]) -> io::Result<()> {
        let v6 = pkt.first().is_some_and(|b| b >> 4 == 6);
        let i = v6 as usize;
        let mark = generated_mark(sel);
        let sock = if v6 { &self.v6 } else { &self.v4 };
        if self.marks[i] != mark {
            sock.set_mark(mark)?;
            self.marks[i] = mark;
        }
        sock.send(pkt)
    }

    /// Send `pkt` by selector `sel` (0: the normal route). A packet too
    /// big for the path is fragmented (IPv4 without DF) or answered with
    /// "fragmentation needed" / "packet too big" when `answer`; a packet
    /// with no route is answered with "host unreachable" when `answer`
    /// (pf_route). Errors other than those are returned.
    pub fn send(&mut self, sel: u8, pkt: &[u8], answer: bool) -> io::Result<()> {
        let err = match self.send_raw(sel, pkt) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        match err.raw_os_error() {
            Some(libc::EMSGSIZE) => {
                let mtu = packet_dst(pkt)
                    .and_then(|d| path_mtu(d, generated_mark(sel)))
                    .unwrap_or(1280);
                match crate::engine::mtu::too_big(pkt, mtu, answer) {
                    crate::engine::mtu::TooBig::Fragments(fs) => {
                        for f in fs {
                            self.send_raw(sel, &f)?;
                        }
                    }
                    crate::engine::mtu::TooBig::Reply(r) => self.send_raw(0, &r)?,
                    crate::engine::mtu::TooBig::Drop => {}
                }
                Ok(())
            }
            Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH) => {
                if answer {
                    if let Ok(pd) = crate::engine::packet::describe(pkt) {
                        let code = if pd.af == crate::addr::Af::Inet {
                            crate::wire::icmp::UNREACH_HOST
                        } else {
                            crate::wire::icmpv6::UNREACH_NOROUTE
                        };
                        if let Some(r) = crate::engine::reply::icmp_unreach(
                            &pd,
                            pkt,
                            code,
                            crate::engine::reply::DEFAULT_TTL,
                        ) {
                            let _ = self.send_raw(0, &r);
                        }
                    }
                }
                Ok(())
            }
            _ => Err(err),
        }
    }
}

/// The MTU of the path to `dst` for packets carrying `mark` (a connected
/// UDP socket's IP_MTU / IPV6_MTU).
pub fn path_mtu(dst: IpAddr, mark: u32) -> Option<u32> {
    use socket2::{Domain, Socket, Type};
    let dom = match dst {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    };
    let s = Socket::new(dom, Type::DGRAM, None).ok()?;
    s.set_mark(mark).ok()?;
    s.connect(&std::net::SocketAddr::new(dst, 9).into()).ok()?;
    let v = match dst {
        IpAddr::V4(_) => nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::IpMtu).ok()?,
        IpAddr::V6(_) => ipv6_mtu(&s)?,
    };
    (v > 0).then_some(v as u32)
}

/// IPV6_MTU of a connected socket (neither nix nor socket2 has it).
fn ipv6_mtu(s: &socket2::Socket) -> Option<libc::c_int> {
    use std::os::fd::AsRawFd;
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v and len are valid for writes of the sizes given; the
    // descriptor belongs to s for the duration of the call.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU,
            &mut v as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    (r == 0).then_some(v)
}

/// `pfctl -d` without pfd: remove what pfd owns.
pub fn remove_all() -> io::Result<()> {
    PolicyRouting::open()?.clear()
}

fn ipt(tool: &str, args: &[&str]) -> io::Result<std::process::Output> {
    Command::new(tool)
        .arg("-w")
        .args(args)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{tool}: {e}")))
}

fn ipt_must(tool: &str, args: &[&str]) -> io::Result<()> {
    let o = ipt(tool, args)?;
    if o.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{tool} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )))
    }
}

/// Rebuild the TPROXY chain with these (selector, address, port); an
/// empty list removes it.
fn tproxy_apply(list: &[(u8, IpAddr, u16)]) -> io::Result<()> {
    for (tool, v6) in [("iptables", false), ("ip6tables", true)] {
        let mine: Vec<&(u8, IpAddr, u16)> =
            list.iter().filter(|(_, a, _)| a.is_ipv6() == v6).collect();
        let exists =
            ipt(tool, &["-t", "mangle", "-S", TPROXY_CHAIN]).is_ok_and(|o| o.status.success());
        if mine.is_empty() {
            if exists {
                while ipt(
                    tool,
                    &["-t", "mangle", "-D", "PREROUTING", "-j", TPROXY_CHAIN],
                )
                .is_ok_and(|o| o.status.success())
                {}
                let _ = ipt(tool, &["-t", "mangle", "-F", TPROXY_CHAIN]);
                let _ = ipt(tool, &["-t", "mangle", "-X", TPROXY_CHAIN]);
            }
            continue;
        }
        if exists {
            ipt_must(tool, &["-t", "mangle", "-F", TPROXY_CHAIN])?;
        } else {
            ipt_must(tool, &["-t", "mangle", "-N", TPROXY_CHAIN])?;
        }
        if !ipt(
            tool,
            &["-t", "mangle", "-C", "PREROUTING", "-j", TPROXY_CHAIN],
        )
        .is_ok_and(|o| o.status.success())
        {
            ipt_must(
                tool,
                &["-t", "mangle", "-I", "PREROUTING", "1", "-j", TPROXY_CHAIN],
            )?;
        }
        for (sel, a, port) in mine {
            let mark = format!(
                "0x{:08x}/0x{:08x}",
                (*sel as u32) << ROUTE_SHIFT,
                ROUTE_MASK
            );
            let (ip, port) = (a.to_string(), port.to_string());
            for proto in ["tcp", "udp"] {
                ipt_must(
                    tool,
                    &[
                        "-t",
                        "mangle",
                        "-A",
                        TPROXY_CHAIN,
                        "-p",
                        proto,
                        "-m",
                        "mark",
                        "--mark",
                        &mark,
                        "-j",
                        "TPROXY",
                        "--on-ip",
                        &ip,
                        "--on-port",
                        &port,
                    ],
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_ownership() {
        let r = rules_for(3, &[false, true], 7_066_003);
        assert_eq!(r.len(), 4);
        assert!(r.iter().all(ours));
        assert_eq!(r[0].mark, 0x0300_0000);
        assert_eq!(r[1].table, None);
        assert!(!ours(&FwRule {
            v6: false,
            priority: 7066,
            mark: 1,
            mask: 0xff,
            table: Some(5)
        }));
        assert!(our_table(TABLE_BASE) && our_table(TABLE_BASE + 127) && !our_table(254));
    }
}

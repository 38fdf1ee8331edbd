//! Whether the system's own netfilter rules (nftables, and iptables-nft,
//! which keeps its tables there) sit between pfd's two hooks: in
//! PREROUTING after pfd's raw chain, in FORWARD, or in POSTROUTING before
//! pfd's mangle chain. Such rules can mark, reroute, redirect or drop a
//! forwarded packet after pf's `in` pass; the data path then leaves pf's
//! `out` pass at POSTROUTING (`daemon::onepass`).
//!
//! Read from the kernel over NETLINK_NETFILTER (chain and rule dumps), and
//! watched there: every ruleset change is announced to the nftables
//! multicast group. Legacy iptables (x_tables) tables cannot be read this
//! way: when any is registered, they count as such rules.

use nix::errno::Errno;
use nix::sys::socket::{recv, send, MsgFlags};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

const NETLINK_NETFILTER: i32 = 12;
const NFNLGRP_NFTABLES: u32 = 7;
const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_DUMP: u16 = 0x300;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;
const NFT_MSG_NEWGEN: u16 = 15;

const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;

const NFPROTO_INET: u8 = 1;
const NFPROTO_NETDEV: u8 = 5;
const NF_NETDEV_INGRESS: u32 = 0;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

const HOOK_PREROUTING: u32 = 0;
const HOOK_FORWARD: u32 = 2;
const HOOK_POSTROUTING: u32 = 4;
/// NF_IP_PRI_RAW and NF_IP_PRI_MANGLE: where pfd's chains are.
const PRI_RAW: i32 = -300;
const PRI_MANGLE: i32 = -150;
const NF_DROP: u32 = 0;

/// A base chain, as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseChain {
    pub family: u8,
    pub table: String,
    pub name: String,
    pub hook: u32,
    pub priority: i32,
    /// The policy drops.
    pub drops: bool,
    pub rules: usize,
}

fn u16_ne(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_ne(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u32_be(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// The attributes in `b`: (type, value).
fn attrs(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let len = u16_ne(b, at)? as usize;
        let ty = u16_ne(b, at + 2)? & 0x3fff;
        if len < 4 || at + len > b.len() {
            return None;
        }
        let v = &b[at + 4..at + len];
        at += (len + 3) & !3;
        Some((ty, v))
    })
}

fn string(v: &[u8]) -> String {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// Every message in `b`: (type, body after the netlink header).
fn messages(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let len = u32_ne(b, at)? as usize;
        let ty = u16_ne(b, at + 4)?;
        if len < NLMSG_HDRLEN || at + len > b.len() {
            return None;
        }
        let body = &b[at + NLMSG_HDRLEN..at + len];
        at += (len + 3) & !3;
        Some((ty, body))
    })
}

/// Parse one NEWCHAIN message's attributes; None for a chain without a
/// hook.
fn parse_chain(family: u8, a: &[u8]) -> Option<BaseChain> {
    let mut c = BaseChain {
        family,
        table: String::new(),
        name: String::new(),
        hook: u32::MAX,
        priority: 0,
        drops: false,
        rules: 0,
    };
    for (ty, v) in attrs(a) {
        match ty {
            NFTA_CHAIN_TABLE => c.table = string(v),
            NFTA_CHAIN_NAME => c.name = string(v),
            NFTA_CHAIN_POLICY => c.drops = u32_be(v) == Some(NF_DROP),
            NFTA_CHAIN_HOOK => {
                for (t, h) in attrs(v) {
                    match t {
                        NFTA_HOOK_HOOKNUM => c.hook = u32_be(h)?,
                        NFTA_HOOK_PRIORITY => c.priority = u32_be(h)? as i32,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    (c.hook != u32::MAX).then_some(c)
}

/// Would `c` act on a forwarded packet between pfd's hooks? `tproxy`:
/// pfd's own divert-to chain is hooked into this family's mangle
/// PREROUTING (one rule of its own there).
pub fn between(c: &BaseChain, tproxy: bool) -> bool {
    if !matches!(c.family, NFPROTO_INET | NFPROTO_IPV4 | NFPROTO_IPV6) {
        return false;
    }
    // A carp interface's gate (sys::nftgate): the program leaves the
    // packets of a closed one alone (daemon::fastpath, `hold`).
    if c.family == NFPROTO_NETDEV
        && c.table.starts_with(super::nftgate::TABLE_PREFIX)
        && c.rules == 0
    {
        return false;
    }
    let busy = |own: usize| c.drops || c.rules > own;
    match c.hook {
        HOOK_PREROUTING if c.priority > PRI_RAW => {
            let own = usize::from(tproxy && c.table == "mangle" && c.name == "PREROUTING");
            busy(own)
        }
        HOOK_FORWARD => busy(0),
        HOOK_POSTROUTING if c.priority < PRI_MANGLE => busy(0),
        _ => false,
    }
}

/// Would `c` see a forwarded packet anywhere on the kernel's way from
/// an interface's ingress to POSTROUTING, besides pfd's own jumps into
/// its chains (raw PREROUTING, mangle POSTROUTING, and with `tproxy` the
/// divert-to chain in mangle PREROUTING)? The fast path's program may
/// forward packets itself only when nothing does (netdev ingress hooks
/// run after TC ingress, which then skips them).
pub fn on_forward_path(c: &BaseChain, tproxy: bool) -> bool {
    // pfd's own pfsync table (sys::syncpass): it only marks pfsync frames
    // of flows pf passed, which the program does not forward.
    if c.family == NFPROTO_IPV4 && c.table == super::syncpass::TABLE && !c.drops {
        return false;
    }
    // A carp interface's gate (sys::nftgate): the program leaves the
    // packets of a closed one alone (daemon::fastpath, `hold`).
    if c.family == NFPROTO_NETDEV
        && c.table.starts_with(super::nftgate::TABLE_PREFIX)
        && c.rules == 0
    {
        return false;
    }
    let busy = |own: usize| c.drops || c.rules > own;
    match c.family {
        NFPROTO_INET | NFPROTO_IPV4 | NFPROTO_IPV6 => {
            let own = match (c.hook, c.table.as_str(), c.name.as_str()) {
                (HOOK_PREROUTING, "raw", "PREROUTING") => 1,
                (HOOK_POSTROUTING, "mangle", "POSTROUTING") => 1,
                (HOOK_PREROUTING, "mangle", "PREROUTING") => usize::from(tproxy),
                _ => 0,
            };
            matches!(c.hook, HOOK_PREROUTING | HOOK_FORWARD | HOOK_POSTROUTING) && busy(own)
        }
        NFPROTO_NETDEV => c.hook == NF_NETDEV_INGRESS && busy(0),
        _ => false,
    }
}

/// May the fast path's program forward packets itself: no legacy
/// iptables table, and no netfilter rules but pfd's where forwarded
/// packets pass (`on_forward_path`)?
pub fn forward_path_clear() -> io::Result<bool> {
    if legacy_tables() {
        return Ok(false);
    }
    let (chains, tproxy) = base_chains()?;
    Ok(!chains
        .iter()
        .any(|c| on_forward_path(c, tproxy.contains(&c.family))))
}

fn socket(groups: u32) -> io::Result<OwnedFd> {
    super::netlink::open_socket(NETLINK_NETFILTER, groups)
}

/// Dump `get` (all families) and hand every answer to `f`.
fn dump(fd: &OwnedFd, get: u16, mut f: impl FnMut(u16, u8, &[u8])) -> io::Result<()> {
    const LEN: usize = NLMSG_HDRLEN + NFGENMSG_LEN;
    let mut req = [0u8; LEN];
    req[0..4].copy_from_slice(&(LEN as u32).to_ne_bytes());
    req[4..6].copy_from_slice(&(NFNL_SUBSYS_NFTABLES << 8 | get).to_ne_bytes());
    req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req[8..12].copy_from_slice(&(get as u32).to_ne_bytes());
    send(fd.as_raw_fd(), &req, MsgFlags::empty())?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Ok(());
        }
        for (ty, body) in messages(&buf[..n as usize]) {
            match ty {
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => {
                    let e = u32_ne(body, 0).map_or(0, |e| e as i32);
                    return if e == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-e))
                    };
                }
                _ => {
                    let family = body.first().copied().unwrap_or(0);
                    f(ty & 0xff, family, body.get(NFGENMSG_LEN..).unwrap_or(&[]))
                }
            }
        }
    }
}

/// pfd's divert-to chain (`sys::policy_routing`).
const TPROXY_CHAIN: &str = "PFD_TPROXY";

/// The base chains of the IPv4, IPv6 and inet families with their rule
/// counts, and the families whose mangle table has pfd's divert-to chain.
pub fn base_chains() -> io::Result<(Vec<BaseChain>, Vec<u8>)> {
    let fd = socket(0)?;
    let mut chains = Vec::new();
    let mut tproxy = Vec::new();
    dump(&fd, NFT_MSG_GETCHAIN, |ty, family, a| {
        if ty != NFT_MSG_NEWCHAIN {
            return;
        }
        match parse_chain(family, a) {
            Some(c) => chains.push(c),
            None => {
                let (mut t, mut n) = (String::new(), String::new());
                for (k, v) in attrs(a) {
                    match k {
                        NFTA_CHAIN_TABLE => t = string(v),
                        NFTA_CHAIN_NAME => n = string(v),
                        _ => {}
                    }
                }
                if t == "mangle" && n == TPROXY_CHAIN {
                    tproxy.push(family);
                }
            }
        }
    })?;
    let mut counts: HashMap<(u8, String, String), usize> = HashMap::new();
    dump(&fd, NFT_MSG_GETRULE, |ty, family, a| {
        if ty != NFT_MSG_NEWRULE {
            return;
        }
        let (mut t, mut c) = (String::new(), String::new());
        for (k, v) in attrs(a) {
            match k {
                NFTA_RULE_TABLE => t = string(v),
                NFTA_RULE_CHAIN => c = string(v),
                _ => {}
            }
        }
        *counts.entry((family, t, c)).or_default() += 1;
    })?;
    for c in &mut chains {
        c.rules = counts
            .get(&(c.family, c.table.clone(), c.name.clone()))
            .copied()
            .unwrap_or(0);
    }
    Ok((chains, tproxy))
}

/// Legacy iptables tables are registered (they cannot be read here).
fn legacy_tables() -> bool {
    ["/proc/net/ip_tables_names", "/proc/net/ip6_tables_names"]
        .iter()
        .any(|p| std::fs::read_to_string(p).is_ok_and(|s| !s.trim().is_empty()))
}

/// Are there rules of the system's own between pfd's hooks (see the
/// module comment)?
pub fn foreign_rules() -> io::Result<bool> {
    if legacy_tables() {
        return Ok(true);
    }
    let (chains, tproxy) = base_chains()?;
    Ok(chains
        .iter()
        .any(|c| between(c, tproxy.contains(&c.family))))
}

/// Whether notifications `b` tell of a change outside netdev tables (the
/// generation message each change ends with is not one); unreadable ones
/// count.
fn counts(b: &[u8]) -> bool {
    let mut seen = false;
    let outside = messages(b).any(|(ty, body)| {
        seen = true;
        let family = body.first().copied().unwrap_or(0);
        ty & 0xff != NFT_MSG_NEWGEN && family != NFPROTO_NETDEV
    });
    outside || !seen
}

/// Notifications of nftables ruleset changes.
pub struct RulesMonitor {
    fd: OwnedFd,
}

impl RulesMonitor {
    pub fn open() -> io::Result<RulesMonitor> {
        // Subscribed by binding to the group's bit (groups 1..32).
        let fd = socket(1 << (NFNLGRP_NFTABLES - 1))?;
        Ok(RulesMonitor { fd })
    }

    /// Did the ruleset change since the last call (notifications read, or
    /// lost)? Changes of netdev tables (a carp interface's gate opening
    /// on a takeover, balancing's ingress rules) never sit between pfd's
    /// hooks and do not count.
    pub fn changed(&mut self) -> bool {
        let mut buf = [0u8; 8192];
        let mut any = false;
        loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) if n > 0 => any |= counts(&buf[..n]),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return any,
                // ENOBUFS: some were lost; EOF or anything else: ask again.
                _ => return true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(table: &str, name: &str, hook: u32, priority: i32, rules: usize) -> BaseChain {
        BaseChain {
            family: NFPROTO_IPV4,
            table: table.into(),
            name: name.into(),
            hook,
            priority,
            drops: false,
            rules,
        }
    }

    fn notification(ty: u16, family: u8) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&20u32.to_ne_bytes());
        m.extend_from_slice(&(NFNL_SUBSYS_NFTABLES << 8 | ty).to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[family, 0, 0, 0]);
        m
    }

    #[test]
    fn netdev_changes_do_not_count() {
        let mut gate = notification(NFT_MSG_NEWCHAIN, NFPROTO_NETDEV);
        gate.extend(notification(NFT_MSG_NEWGEN, 0));
        assert!(!counts(&gate));
        let mut ip = notification(NFT_MSG_NEWRULE, NFPROTO_IPV4);
        ip.extend(notification(NFT_MSG_NEWGEN, 0));
        assert!(counts(&ip));
        // Anything unreadable counts.
        assert!(counts(&[1, 2, 3]));
    }

    #[test]
    fn what_sits_between_the_hooks() {
        // pfd's own chains.
        assert!(!between(
            &chain("raw", "PREROUTING", HOOK_PREROUTING, -300, 1),
            false
        ));
        assert!(!between(
            &chain("mangle", "POSTROUTING", HOOK_POSTROUTING, -150, 1),
            false
        ));
        assert!(!between(
            &chain("mangle", "PREROUTING", HOOK_PREROUTING, -150, 1),
            true
        ));
        // Empty chains accept.
        assert!(!between(
            &chain("filter", "FORWARD", HOOK_FORWARD, 0, 0),
            false
        ));
        // The system's rules.
        assert!(between(
            &chain("mangle", "PREROUTING", HOOK_PREROUTING, -150, 1),
            false
        ));
        assert!(between(
            &chain("mangle", "PREROUTING", HOOK_PREROUTING, -150, 2),
            true
        ));
        assert!(between(
            &chain("filter", "FORWARD", HOOK_FORWARD, 0, 3),
            false
        ));
        let mut d = chain("filter", "FORWARD", HOOK_FORWARD, 0, 0);
        d.drops = true;
        assert!(between(&d, false));
        assert!(between(
            &chain("x", "early", HOOK_POSTROUTING, -200, 1),
            false
        ));
        // Before pf's `in` pass, after its `out` pass, other families.
        assert!(!between(
            &chain("x", "first", HOOK_PREROUTING, -400, 5),
            false
        ));
        assert!(!between(
            &chain("nat", "POSTROUTING", HOOK_POSTROUTING, 100, 5),
            false
        ));
        let mut b = chain("filter", "FORWARD", HOOK_FORWARD, 0, 3);
        b.family = 7;
        assert!(!between(&b, false));
    }

    #[test]
    fn what_sees_forwarded_packets() {
        // pfd's own jumps, empty chains.
        assert!(!on_forward_path(
            &chain("raw", "PREROUTING", HOOK_PREROUTING, -300, 1),
            false
        ));
        assert!(!on_forward_path(
            &chain("mangle", "POSTROUTING", HOOK_POSTROUTING, -150, 1),
            false
        ));
        assert!(!on_forward_path(
            &chain("mangle", "PREROUTING", HOOK_PREROUTING, -150, 1),
            true
        ));
        assert!(!on_forward_path(
            &chain("filter", "FORWARD", HOOK_FORWARD, 0, 0),
            false
        ));
        // pfd's pfsync marks (sys::syncpass), IPv4 only.
        let sp = chain(crate::sys::syncpass::TABLE, "pre", HOOK_PREROUTING, -350, 1);
        assert!(!on_forward_path(&sp, false));
        // Anything else on the way, wherever its priority.
        assert!(on_forward_path(
            &chain("raw", "PREROUTING", HOOK_PREROUTING, -300, 2),
            false
        ));
        assert!(on_forward_path(
            &chain("x", "first", HOOK_PREROUTING, -400, 1),
            false
        ));
        assert!(on_forward_path(
            &chain("nat", "POSTROUTING", HOOK_POSTROUTING, 100, 1),
            false
        ));
        let mut d = chain("filter", "FORWARD", HOOK_FORWARD, 0, 0);
        d.drops = true;
        assert!(on_forward_path(&d, false));
        let mut n = chain("nd", "in", NF_NETDEV_INGRESS, 0, 1);
        n.family = NFPROTO_NETDEV;
        assert!(on_forward_path(&n, false));
        // A carp gate, closed or open: the program holds off its packets
        // (daemon::fastpath::hold); with rules of someone else's, not.
        let mut g = chain(
            &crate::sys::nftgate::table("carp1"),
            "in",
            NF_NETDEV_INGRESS,
            0,
            0,
        );
        g.family = NFPROTO_NETDEV;
        g.drops = true;
        assert!(!on_forward_path(&g, false));
        g.rules = 1;
        assert!(on_forward_path(&g, false));
        // Not on the way: input, output.
        assert!(!on_forward_path(&chain("filter", "INPUT", 1, 0, 4), false));
        assert!(!on_forward_path(&chain("filter", "OUTPUT", 3, 0, 4), false));
    }

    #[test]
    fn parses_a_chain() {
        let mut a = Vec::new();
        let put = |b: &mut Vec<u8>, ty: u16, v: &[u8]| {
            b.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            b.extend_from_slice(&ty.to_ne_bytes());
            b.extend_from_slice(v);
            while !b.len().is_multiple_of(4) {
                b.push(0);
            }
        };
        put(&mut a, NFTA_CHAIN_TABLE, b"filter\0");
        put(&mut a, NFTA_CHAIN_NAME, b"FORWARD\0");
        let mut h = Vec::new();
        put(&mut h, NFTA_HOOK_HOOKNUM, &2u32.to_be_bytes());
        put(&mut h, NFTA_HOOK_PRIORITY, &(-150i32 as u32).to_be_bytes());
        put(&mut a, NFTA_CHAIN_HOOK | 0x8000, &h);
        put(&mut a, NFTA_CHAIN_POLICY, &0u32.to_be_bytes());
        let c = parse_chain(NFPROTO_IPV4, &a).unwrap();
        assert_eq!((c.table.as_str(), c.name.as_str()), ("filter", "FORWARD"));
        assert_eq!((c.hook, c.priority, c.drops), (2, -150, true));
        // No hook: not a base chain; garbage: no panic.
        assert!(parse_chain(NFPROTO_IPV4, &a[..24]).is_none());
        for i in 0..a.len() {
            let mut g = a.clone();
            g[i] = 0xff;
            let _ = parse_chain(NFPROTO_IPV4, &g);
        }
    }

    #[test]
    fn reads_the_kernel() {
        // Wherever the tests run, the dump works.
        assert!(base_chains().is_ok());
    }
}

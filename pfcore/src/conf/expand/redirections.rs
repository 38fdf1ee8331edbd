//! Translations and routing: `nat-to`, `rdr-to`, `binat-to`, `af-to`,
//! `route-to`/`reply-to`/`dup-to` pools. A pool is resolved once per rule
//! statement (`redir`), then for each rule of the expansion collapsed to
//! the addresses of the rule's family (several become an automatic table,
//! pfctl's `collapse_redirspec`) and applied with its ports and pool
//! options (`apply_redirspec`); `binat-to` gets pfctl's checks and its
//! inbound twin.

use super::hosts::HostNode;
use super::{err, AutoTables, Expander, Res};
use crate::addr::Af;
use crate::conf::ast::{PoolOptAst, RedirAst};
use crate::ruleset::{
    AddrKind, Direction, Directive, DynModifier, Endpoint, Pool, PoolType, PortOp, RouteKind, Rule,
    TableDef, TableEntry, TableFlags,
};

/// The translations and routing of one rule, resolved but not expanded.
pub(super) struct Translations {
    pub(super) nat: Option<RedirSpec>,
    pub(super) rdr: Option<RedirSpec>,
    pub(super) route: Option<(RouteKind, RedirSpec)>,
    /// `nat` came from `binat-to`.
    pub(super) binat: bool,
}

/// A resolved `nat-to` / `rdr-to`.
#[derive(Debug, Clone)]
pub(super) struct RedirSpec {
    pub(super) hosts: Vec<HostNode>,
    /// (a, b, is_range, star)
    port: Option<(u16, u16, bool, bool)>,
    pool_type: PoolType,
    sticky: bool,
    pub(super) static_port: bool,
    key: [u32; 4],
    /// A member's `weight` is not 1.
    weighted: bool,
}

/// A pool collapsed for one rule: its addresses, and the automatic table
/// made of them when there are several.
pub(super) type Collapsed = (Vec<HostNode>, Option<String>);

impl Expander<'_> {
    /// A pool as written, resolved once for the whole statement.
    pub(super) fn redir(&self, r: &RedirAst, what: &str) -> Res<RedirSpec> {
        let mut hosts = vec![];
        let mut weighted = false;
        for (i, h) in r.hosts.iter().enumerate() {
            let v = self.resolve_host(h)?;
            // optweight: 1 to USHRT_MAX (pfctl keeps it for tables only,
            // and prints it nowhere)
            if let Some(Some(w)) = r.weights.get(i) {
                if !matches!(w.parse::<i64>(), Ok(1..=65535)) {
                    return err("weight out of range");
                }
                weighted |= w.parse::<i64>() != Ok(1);
            }
            // redir_host_list checks the first host of a braced list only
            if r.braced
                && i == 0
                && v.first()
                    .is_some_and(|n| !matches!(n.addr, AddrKind::Net(_)))
            {
                return err("only addresses can be listed for redirection pools ");
            }
            hosts.extend(v);
        }
        let port = match &r.port {
            Some(p) => Some(self.port_range(p, true)?),
            None => None,
        };
        let mut spec = RedirSpec {
            hosts,
            port,
            pool_type: PoolType::None,
            sticky: false,
            static_port: false,
            key: [0; 4],
            weighted,
        };
        for o in &r.opts {
            let t = match o {
                PoolOptAst::Bitmask => PoolType::Bitmask,
                PoolOptAst::Random => PoolType::Random,
                PoolOptAst::RoundRobin => PoolType::RoundRobin,
                PoolOptAst::LeastStates => PoolType::LeastStates,
                PoolOptAst::SourceHash(k) => {
                    spec.key = hash_key(k.as_deref())?;
                    PoolType::SourceHash
                }
                PoolOptAst::StaticPort => {
                    if spec.static_port {
                        return err("static-port cannot be redefined");
                    }
                    spec.static_port = true;
                    continue;
                }
                PoolOptAst::StickyAddress => {
                    if spec.sticky {
                        return err("sticky-address cannot be redefined");
                    }
                    spec.sticky = true;
                    continue;
                }
            };
            if spec.pool_type != PoolType::None {
                return err("pool type cannot be redefined");
            }
            spec.pool_type = t;
        }
        let _ = what;
        Ok(spec)
    }

    // ------------------------------------------------------------ rules
}

fn hash_key(k: Option<&str>) -> Res<[u32; 4]> {
    match k {
        None => {
            use std::hash::{BuildHasher, Hasher};
            let mut key = [0u32; 4];
            for (i, w) in key.iter_mut().enumerate() {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_usize(i);
                *w = h.finish() as u32;
            }
            Ok(key)
        }
        Some(s) if s.starts_with("0x") => {
            if s.len() != 34 {
                return err("hex key must be 128 bits (32 hex digits) long");
            }
            let mut key = [0u32; 4];
            for (i, w) in key.iter_mut().enumerate() {
                let part = &s[2 + i * 8..10 + i * 8];
                *w = u32::from_str_radix(part, 16).or_else(|_| err("invalid hex key"))?;
            }
            Ok(key)
        }
        Some(s) => {
            // pfctl: the MD5 digest of the string, read as four
            // big-endian words.
            use md5::{Digest, Md5};
            let d = Md5::digest(s.as_bytes());
            let mut key = [0u32; 4];
            for (i, w) in key.iter_mut().enumerate() {
                *w = u32::from_be_bytes([d[i * 4], d[i * 4 + 1], d[i * 4 + 2], d[i * 4 + 3]]);
            }
            Ok(key)
        }
    }
}

/// collapse_redirspec: the pool's addresses in the rule's family; several
/// addresses become an automatic table (returned as its name).
pub(super) fn collapse(
    spec: Option<&RedirSpec>,
    r: &mut Rule,
    errors: &mut Vec<String>,
    routing: bool,
    tables: &mut AutoTables,
) -> Option<Collapsed> {
    let nodes = collapse_hosts(spec, r, errors, routing)?;
    if nodes.len() < 2 {
        return Some((nodes, None));
    }
    let mut addrs = vec![];
    for n in &nodes {
        match &n.addr {
            AddrKind::Net(a) => addrs.push(*a),
            _ => {
                errors.push("multiple tables or dynamic interfaces not supported for translation or routing".into());
                return None;
            }
        }
    }
    let name = format!("__automatic_{}", tables.count);
    tables.count += 1;
    let flags = TableFlags {
        constant: true,
        ..TableFlags::default()
    };
    let entries = addrs
        .into_iter()
        .map(|a| TableEntry::new(false, a))
        .collect();
    tables.made.push(Directive::Table(TableDef::new(
        name.clone(),
        flags,
        entries,
    )));
    Some((nodes, Some(name)))
}

fn collapse_hosts(
    spec: Option<&RedirSpec>,
    r: &mut Rule,
    errors: &mut Vec<String>,
    routing: bool,
) -> Option<Vec<HostNode>> {
    let spec = spec?;
    let what = if routing { "routing" } else { "translation" };
    let mut chosen: Option<Af> = None;
    let mut out = vec![];
    for h in &spec.hosts {
        if let (Some(naf), false) = (r.extras.af_to, routing) {
            // af-to: the rule without a family takes the other one
            if r.af.is_none() && chosen.is_none() {
                chosen = Some(if naf == Af::Inet { Af::Inet6 } else { Af::Inet });
            }
            // af-to: the pool is in the target family
            if h.af.is_some_and(|a| a != naf) {
                errors.push(format!(
                    "{what} spec contains addresses that don't match target address family"
                ));
                return None;
            }
            out.push(h.clone());
            continue;
        }
        if routing {
            if let AddrKind::Dynamic { modifier, .. } = &h.addr {
                if *modifier != DynModifier::Peer {
                    errors
                        .push("route spec requires :peer with dynamic interface addresses".into());
                    return None;
                }
            }
        }
        if let Some(haf) = h.af {
            if r.af.is_some_and(|a| a != haf) {
                continue;
            }
            if r.af.is_none() && chosen.is_some_and(|a| a != haf) {
                errors.push(format!(
                    "{what} spec contains addresses with different address families"
                ));
                return None;
            }
        }
        if r.af.is_none() && chosen.is_none() {
            chosen = h.af;
        }
        if !out.is_empty() && spec.pool_type != PoolType::None && !dyn_pool_type(spec.pool_type) {
            errors.push(
                "pool type is not valid for multiple translation or routing addresses".into(),
            );
            return None;
        }
        out.push(h.clone());
    }
    if r.af.is_none() {
        r.af = chosen;
    }
    if out.is_empty() {
        errors.push(format!("af mismatch in {what} spec"));
        return None;
    }
    Some(out)
}

fn dyn_pool_type(t: PoolType) -> bool {
    matches!(
        t,
        PoolType::RoundRobin | PoolType::LeastStates | PoolType::Random | PoolType::SourceHash
    )
}

/// `(if)/bits` once the rule's family is known: pfctl keeps at most 32
/// bits for IPv4 (gen_dynnode) and prints no mask of full length, so a
/// full-length mask is no mask.
pub(super) fn normalize_dyn_masks(r: &mut Rule) {
    let full = if r.af == Some(Af::Inet) { 32 } else { 128 };
    let fix = |a: &mut AddrKind| {
        if let AddrKind::Dynamic { mask, .. } = a {
            if mask.is_some_and(|m| m >= full) {
                *mask = None;
            }
        }
    };
    fix(&mut r.from.addr);
    fix(&mut r.to.addr);
    for p in [&mut r.nat_to, &mut r.rdr_to]
        .into_iter()
        .flatten()
        .chain(r.extras.route.as_mut().map(|(_, p)| p))
    {
        p.addrs.iter_mut().for_each(fix);
    }
}

fn dyn_multiaddr(a: &AddrKind) -> bool {
    match a {
        AddrKind::Dynamic {
            ifname, modifier, ..
        } => !modifier.no_alias() || !ifname.ends_with(|c: char| c.is_ascii_digit()),
        _ => false,
    }
}

/// apply_redirspec: ports, pool type and options of a translation.
pub(super) fn apply_redir(
    spec: Option<&RedirSpec>,
    collapsed: Option<Collapsed>,
    is_rdr: bool,
    dst_port: Option<PortOp>,
    errors: &mut Vec<String>,
) -> Option<Pool> {
    let spec = spec?;
    let (nodes, auto_table) = collapsed?;
    let addrs: Vec<AddrKind> = nodes.into_iter().map(|h| h.addr).collect();
    let (a, b, range, star) = spec.port.unwrap_or((0, 0, false, false));
    let proxy_port = if is_rdr {
        if star {
            let width = match dst_port {
                Some(PortOp::Range(x, y)) => y.saturating_sub(x),
                _ => 0,
            };
            (a, a.saturating_add(width))
        } else {
            if range && a > b {
                errors.push("invalid rdr-to port range".into());
            }
            (a, b)
        }
    } else if b == 0 {
        (a, a)
    } else {
        (a, b)
    };
    let mut pool_type = spec.pool_type;
    if pool_type == PoolType::None
        && (addrs.len() > 1
            || addrs
                .iter()
                .any(|a| matches!(a, AddrKind::Table(_)) || dyn_multiaddr(a)))
    {
        pool_type = PoolType::RoundRobin;
    }
    if !dyn_pool_type(pool_type) {
        for x in &addrs {
            if let AddrKind::Table(_) = x {
                errors.push("tables are not supported by pool type".into());
            } else if let AddrKind::Dynamic { ifname, .. } = x {
                if dyn_multiaddr(x) {
                    errors.push(format!(
                        "interface ({ifname}) is not supported by pool type"
                    ));
                }
            }
        }
    }
    if spec.static_port {
        if is_rdr {
            errors.push("the 'static-port' option is only valid with nat rules".into());
        } else if proxy_port != (0, 0) {
            errors
                .push("the 'static-port' option can't be used when specifying a port range".into());
        }
    }
    Some(Pool {
        addrs,
        proxy_port,
        pool_type,
        static_port: spec.static_port,
        sticky_address: spec.sticky,
        hash_key: if pool_type == PoolType::SourceHash {
            spec.key
        } else {
            [0; 4]
        },
        auto_table,
        weighted: spec.weighted,
    })
}

/// The checks pfctl's expand_rule makes on a `binat-to` rule.
pub(super) fn binat_checks(
    src: &HostNode,
    nat: Option<&Collapsed>,
    r: &Rule,
    rule_af: Option<Af>,
) -> Vec<String> {
    let mut p = vec![];
    let auto_table = nat
        .and_then(|(_, t)| t.as_ref())
        .map(|t| AddrKind::Table(t.clone()));
    let nat_addr = auto_table
        .as_ref()
        .or_else(|| nat.and_then(|(n, _)| n.first()).map(|h| &h.addr));
    match &src.addr {
        AddrKind::Table(t) => {
            p.push(format!(
                "invalid use of table <{t}> as the source address of a binat-to rule"
            ));
        }
        a @ AddrKind::Dynamic { ifname, .. } if dyn_multiaddr(a) => {
            p.push(format!(
                "invalid use of interface ({ifname}) as the source address of a binat-to rule"
            ));
        }
        _ => {
            // a pool that failed to collapse is an all-zero address to pfctl
            let specified = |a: Option<&AddrKind>| {
                matches!(
                    a,
                    None | Some(AddrKind::Net(_)) | Some(AddrKind::Dynamic { .. })
                )
            };
            let src_ok = matches!(
                src.addr,
                AddrKind::Net(_) | AddrKind::Dynamic { .. } | AddrKind::Any
            );
            if !src_ok || !specified(nat_addr) {
                p.push("binat-to requires a specified source and redirect address".into());
            }
        }
    }
    if dyn_multiaddr(&src.addr) || nat_addr.is_some_and(dyn_multiaddr) {
        p.push("dynamic interfaces must be used with :0 in a binat-to rule".into());
    }
    let zero_mask = |a: Option<&AddrKind>| match a {
        Some(AddrKind::Net(n)) => n.prefix == 0,
        Some(AddrKind::Dynamic { .. }) => false,
        _ => true,
    };
    // pfctl compares the masks in the rule's own address family only
    if rule_af.is_some() && (zero_mask(Some(&src.addr)) || zero_mask(nat_addr)) {
        p.push("source and redir addresess must have a matching network mask in binat-rule".into());
    }
    if matches!(nat_addr, Some(AddrKind::Table(_))) {
        p.push("tables cannot be used as the redirect address of a binat-to rule".into());
    }
    if r.direction != Direction::InOut {
        p.push("binat-to cannot be specified with a direction".into());
    }
    p
}

/// The inbound half of a `binat-to` rule: traffic to the translated
/// address is redirected back to the source.
pub(super) fn binat_inbound(out: &Rule, src: &HostNode) -> Option<Rule> {
    let nat = out.nat_to.as_ref()?;
    let mut rb = out.clone();
    rb.direction = Direction::In;
    rb.nat_to = None;
    rb.from = Endpoint {
        addr: out.to.addr.clone(),
        neg: out.to.neg,
        port: out.to.port,
    };
    rb.to = Endpoint {
        addr: nat.addrs.first()?.clone(),
        neg: false,
        port: out.from.port,
    };
    rb.rdr_to = Some(Pool {
        addrs: vec![src.addr.clone()],
        proxy_port: (0, 0),
        pool_type: nat.pool_type,
        static_port: false,
        sticky_address: nat.sticky_address,
        hash_key: nat.hash_key,
        auto_table: None,
        weighted: false,
    });
    Some(rb)
}

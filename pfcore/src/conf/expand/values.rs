//! The values of a rule's parts and filter options, as pfctl's grammar
//! actions check them: ports and services, users and groups, protocols,
//! ICMP types and codes, routing tables, scrub options, `prio`, `tos`,
//! `probability`.

use super::{err, is_number, Expander, Res, IPPROTO_ICMP, IPPROTO_ICMPV6};
use crate::conf::ast::{IcmpItemAst, ItemAst, OpAst, ScrubOptAst};
use crate::conf::names;
use crate::ruleset::{IdOp, PortOp, Scrub};

impl Expander<'_> {
    /// pfctl's `getservice`: number or service name (tcp, then udp).
    pub(super) fn service(&self, s: &str) -> Res<u16> {
        if let Some(v) = names::atoul(s) {
            if v > 65535 {
                return err(format!("illegal port value {v}"));
            }
            return Ok(v as u16);
        }
        match self
            .resolver
            .service(s, "tcp")
            .or_else(|| self.resolver.service(s, "udp"))
        {
            Some(p) => Ok(p),
            None => err(format!("unknown port {s}")),
        }
    }

    /// `parseport` without extensions (pfctl's `portplain`): no `:`.
    pub(super) fn port_plain(&self, s: &str) -> Res<u16> {
        if s.contains(':') {
            return err(format!("port is invalid: {s}"));
        }
        self.service(s)
    }

    /// `parseport` with ranges (`a:b`) and optionally `a:*`: (a, b, range, star).
    pub(super) fn port_range(&self, s: &str, star: bool) -> Res<(u16, u16, bool, bool)> {
        match s.split_once(':') {
            None => Ok((self.service(s)?, 0, false, false)),
            Some((a, "*")) if star => Ok((self.service(a)?, 0, false, true)),
            Some((a, b)) => {
                let a = self.service(a)?;
                let b = self.service(b)?;
                if a == b {
                    Ok((a, 0, false, false))
                } else {
                    Ok((a, b, true, false))
                }
            }
        }
    }

    pub(super) fn port_items(&self, items: &[ItemAst]) -> Res<Vec<PortOp>> {
        let mut out = vec![];
        for it in items {
            out.push(match it {
                ItemAst::Plain(w) => {
                    let (a, b, range, _) = self.port_range(w, false)?;
                    if range {
                        if a > b {
                            return err("invalid port range");
                        }
                        PortOp::Range(a, b)
                    } else {
                        PortOp::Eq(a)
                    }
                }
                ItemAst::Unary(op, w) => {
                    let (a, _, range, _) = self.port_range(w, false)?;
                    if range {
                        return err("':' cannot be used with an other port operator");
                    }
                    match op {
                        OpAst::Ne => PortOp::Ne(a),
                        OpAst::Lt => PortOp::Lt(a),
                        OpAst::Le => PortOp::Le(a),
                        OpAst::Gt => PortOp::Gt(a),
                        OpAst::Ge => PortOp::Ge(a),
                        _ => PortOp::Eq(a),
                    }
                }
                ItemAst::Binary(x, op, y) => {
                    let (a, _, r1, _) = self.port_range(x, false)?;
                    let (b, _, r2, _) = self.port_range(y, false)?;
                    if r1 || r2 {
                        return err("':' cannot be used with an other port operator");
                    }
                    if *op == OpAst::Inside {
                        if a >= b {
                            return err("invalid port range");
                        }
                        PortOp::Inside(a, b)
                    } else {
                        if a > b {
                            return err("invalid port range");
                        }
                        PortOp::Outside(a, b)
                    }
                }
            });
        }
        Ok(out)
    }

    /// `rtable N`: 0 to RT_TABLEID_MAX, and a table the host has
    /// (lookup_rtable).
    pub(super) fn rtable(&self, n: &str) -> Res<u32> {
        match n.parse::<i64>() {
            Ok(v) if (0..=255).contains(&v) => {
                if !self.resolver.rtable_exists(v as u32) {
                    return err(format!("rtable {v} does not exist"));
                }
                Ok(v as u32)
            }
            _ => err("invalid rtable id"),
        }
    }

    fn id_value(&self, s: &str, group: bool) -> Res<u32> {
        if s == "unknown" {
            return Ok(u32::MAX);
        }
        let what = if group { "gid" } else { "uid" };
        // a NUMBER: 0 to UID_MAX - 1 (UID_MAX is the unsigned maximum)
        if is_number(s) {
            return match s.parse::<i64>() {
                Ok(v) if (0..u32::MAX as i64).contains(&v) => Ok(v as u32),
                _ => err(format!("illegal {what} value {s}")),
            };
        }
        let r = if group {
            self.resolver.group(s)
        } else {
            self.resolver.user(s)
        };
        match r {
            Some(v) => Ok(v),
            None => err(format!(
                "unknown {} {s}",
                if group { "group" } else { "user" }
            )),
        }
    }

    pub(super) fn id_items(&self, items: &[ItemAst], group: bool) -> Res<Vec<IdOp>> {
        let what = if group { "group" } else { "user" };
        let unknown_err = || err(format!("{what} unknown requires operator = or !="));
        let mut out = vec![];
        for it in items {
            out.push(match it {
                ItemAst::Plain(w) => IdOp::Eq(self.id_value(w, group)?),
                ItemAst::Unary(op, w) => {
                    let v = self.id_value(w, group)?;
                    if v == u32::MAX && !matches!(op, OpAst::Eq | OpAst::Ne) {
                        return unknown_err();
                    }
                    match op {
                        OpAst::Ne => IdOp::Ne(v),
                        OpAst::Lt => IdOp::Lt(v),
                        OpAst::Le => IdOp::Le(v),
                        OpAst::Gt => IdOp::Gt(v),
                        OpAst::Ge => IdOp::Ge(v),
                        _ => IdOp::Eq(v),
                    }
                }
                ItemAst::Binary(x, op, y) => {
                    let a = self.id_value(x, group)?;
                    let b = self.id_value(y, group)?;
                    if a == u32::MAX || b == u32::MAX {
                        return unknown_err();
                    }
                    if *op == OpAst::Inside {
                        IdOp::Inside(a, b)
                    } else {
                        IdOp::Outside(a, b)
                    }
                }
            });
        }
        Ok(out)
    }

    pub(super) fn protocol(&self, s: &str) -> Res<u8> {
        let p = if is_number(s) {
            match s.parse::<i64>() {
                Ok(v) if (0..=255).contains(&v) => v as u8,
                _ => return err("protocol outside range"),
            }
        } else {
            match self.resolver.protocol(s) {
                Some(p) => p,
                None => return err(format!("unknown protocol {s}")),
            }
        };
        if p == 0 {
            return err("proto 0 cannot be used");
        }
        Ok(p)
    }
}

pub(super) fn icmp_code(s: &str, v6: bool) -> Res<u8> {
    let typ = if v6 { 1 } else { 3 };
    // reticmpspec: a NUMBER must be 0 to 255; a STRING is parseicmpspec's
    if let Some(n) = s.strip_prefix('-').filter(|n| is_number(n)) {
        return err(format!("invalid icmp code -{n}"));
    }
    if let Some(v) = names::atoul(s) {
        if v > 255 {
            return err(format!("invalid icmp code {v}"));
        }
        return Ok(v as u8);
    }
    names::icmp_code_by_name(typ, s, v6).ok_or_else(|| vec![format!("unknown icmp code {s}")])
}

pub(super) fn icmp_item(it: &IcmpItemAst, v6: bool) -> Res<(u8, Option<u8>, u8)> {
    let suffix = if v6 { "6" } else { "" };
    let typ = if is_number(&it.typ) {
        match it.typ.parse::<i64>() {
            Ok(v) if (0..=255).contains(&v) => v as u8,
            _ => return err(format!("illegal icmp{suffix}-type {}", it.typ)),
        }
    } else {
        match names::icmp_type_by_name(&it.typ, v6) {
            Some(t) => t,
            None => return err(format!("unknown icmp{suffix}-type {}", it.typ)),
        }
    };
    let code = match &it.code {
        None => None,
        Some(c) if is_number(c) => match c.parse::<i64>() {
            Ok(v) if (0..=255).contains(&v) => Some(v as u8),
            _ => return err(format!("illegal icmp-code {c}")),
        },
        Some(c) => match names::icmp_code_by_name(typ, c, v6) {
            Some(v) => Some(v),
            None => return err(format!("unknown icmp{suffix}-code {c}")),
        },
    };
    Ok((typ, code, if v6 { IPPROTO_ICMPV6 } else { IPPROTO_ICMP }))
}

pub(super) fn scrub_options(opts: &[ScrubOptAst]) -> Res<Scrub> {
    let mut sc = Scrub::default();
    let (mut ttl_set, mut mss_set) = (false, false);
    for o in opts {
        match o {
            ScrubOptAst::NoDf => {
                if sc.no_df {
                    return err("no-df cannot be respecified");
                }
                sc.no_df = true;
            }
            ScrubOptAst::RandomId => {
                if sc.random_id {
                    return err("random-id cannot be respecified");
                }
                sc.random_id = true;
            }
            ScrubOptAst::MinTtl(v) => {
                if ttl_set {
                    return err("min-ttl cannot be respecified");
                }
                ttl_set = true;
                match v.parse::<i64>() {
                    Ok(n) if (0..=255).contains(&n) => sc.min_ttl = n as u8,
                    _ => return err(format!("illegal min-ttl value {v}")),
                }
            }
            ScrubOptAst::MaxMss(v) => {
                if mss_set {
                    return err("max-mss cannot be respecified");
                }
                mss_set = true;
                match v.parse::<i64>() {
                    Ok(n) if (0..=65535).contains(&n) => sc.max_mss = n as u16,
                    _ => return err(format!("illegal max-mss value {v}")),
                }
            }
            ScrubOptAst::Reassemble(w) => {
                if !w.eq_ignore_ascii_case("tcp") {
                    return err(format!("scrub reassemble supports only tcp, not '{w}'"));
                }
                if sc.reassemble_tcp {
                    return err("reassemble tcp cannot be respecified");
                }
                sc.reassemble_tcp = true;
            }
        }
    }
    Ok(sc)
}

/// `prio N`: 0 to 7 (IFQ_MAXPRIO).
pub(super) fn prio_value(s: &str) -> Res<u8> {
    match s.parse::<i64>() {
        Ok(v) if (0..=7).contains(&v) => Ok(v as u8),
        _ => err("prio must be 0 - 7"),
    }
}

/// `tos`: a NUMBER 0 to 255, or a STRING: map_tos's names (any case),
/// else `0x` and hex digits.
pub(super) fn tos_value(s: &str) -> Res<u8> {
    const TOS: &[(&str, i64)] = &[
        ("af11", 0x28),
        ("af12", 0x30),
        ("af13", 0x38),
        ("af21", 0x48),
        ("af22", 0x50),
        ("af23", 0x58),
        ("af31", 0x68),
        ("af32", 0x70),
        ("af33", 0x78),
        ("af41", 0x88),
        ("af42", 0x90),
        ("af43", 0x98),
        ("critical", 0xa0),
        ("cs0", 0x00),
        ("cs1", 0x20),
        ("cs2", 0x40),
        ("cs3", 0x60),
        ("cs4", 0x80),
        ("cs5", 0xa0),
        ("cs6", 0xc0),
        ("cs7", 0xe0),
        ("ef", 0xb8),
        ("inetcontrol", 0xc0),
        ("lowdelay", 0x10),
        ("netcontrol", 0xe0),
        ("reliability", 0x04),
        ("throughput", 0x08),
    ];
    let v: Option<i64> = if is_number(s) {
        s.parse::<i64>().ok()
    } else if let Some(&(_, v)) = TOS.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        Some(v)
    } else if let Some(h) = s.strip_prefix("0x") {
        // strtoul(3) base 16 over the whole rest
        if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()) {
            Some(i64::from_str_radix(h, 16).unwrap_or(256))
        } else {
            None
        }
    } else {
        None
    };
    match v {
        Some(v) if (0..=255).contains(&v) => Ok(v as u8),
        _ => err(format!("illegal tos value {s}")),
    }
}

/// `probability N%` (or a fraction) as pf stores it: a fraction of 2^32.
pub(super) fn probability(s: &str) -> Res<u32> {
    let (num, pct) = match s.strip_suffix('%') {
        Some(n) => (n, true),
        None => (s, false),
    };
    let Ok(mut p) = num.parse::<f64>() else {
        return err(format!("invalid probability: {s}"));
    };
    if pct {
        p *= 0.01;
    }
    let v = (p * u32::MAX as f64 + 0.5).floor();
    if !(0.0..=u32::MAX as f64).contains(&v) {
        return err(format!("invalid probability: {}%", p * 100.0));
    }
    Ok(if v == 0.0 { 1 } else { v as u32 })
}

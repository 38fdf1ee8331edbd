//! Macros in labels and tags: `$if`, `$srcaddr`, `$dstaddr`, `$srcport`,
//! `$dstport`, `$proto` for each expanded rule, `$nr` once the whole
//! ruleset is read.

use crate::conf::resolver::Resolver;
use crate::ruleset::{AddrKind, Endpoint, PortOp, Rule};

/// Label / tag macros: `$if`, `$srcaddr`, `$dstaddr`, `$srcport`,
/// `$dstport`, `$proto` (`$nr` is done after the whole ruleset is read).
pub(super) fn expand_label(text: &str, r: &Rule, resolver: &dyn Resolver) -> String {
    let mut s = text.to_string();
    if s.contains("$if") {
        let name =
            r.on.as_ref()
                .map(|i| i.name.clone())
                .unwrap_or_else(|| "any".into());
        s = s.replace("$if", &name);
    }
    let addr = |e: &Endpoint| -> String {
        let a = match &e.addr {
            AddrKind::Net(n) if n.prefix == 0 && n.addr.is_unspecified() => "any".to_string(),
            AddrKind::Any => "any".to_string(),
            AddrKind::Dynamic { ifname, .. } => format!("({ifname})"),
            AddrKind::Table(t) => format!("<{t}>"),
            AddrKind::NoRoute => "no-route".into(),
            AddrKind::UrpfFailed => "urpf-failed".into(),
            AddrKind::Net(n) => n.to_string(),
            AddrKind::Range(..) | AddrKind::RouteLabel(_) => "?".into(),
        };
        if e.neg {
            format!("! {a}")
        } else {
            a
        }
    };
    let port = |p: &Option<PortOp>| -> String {
        match p {
            None => String::new(),
            Some(PortOp::Eq(a)) => a.to_string(),
            Some(PortOp::Ne(a)) => format!("!={a}"),
            Some(PortOp::Lt(a)) => format!("<{a}"),
            Some(PortOp::Le(a)) => format!("<={a}"),
            Some(PortOp::Gt(a)) => format!(">{a}"),
            Some(PortOp::Ge(a)) => format!(">={a}"),
            Some(PortOp::Inside(a, b)) => format!("{a}><{b}"),
            Some(PortOp::Outside(a, b)) => format!("{a}<>{b}"),
            Some(PortOp::Range(..)) => String::new(),
        }
    };
    if s.contains("$srcaddr") {
        s = s.replace("$srcaddr", &addr(&r.from));
    }
    if s.contains("$dstaddr") {
        s = s.replace("$dstaddr", &addr(&r.to));
    }
    if s.contains("$srcport") {
        s = s.replace("$srcport", &port(&r.from.port));
    }
    if s.contains("$dstport") {
        s = s.replace("$dstport", &port(&r.to.port));
    }
    if s.contains("$proto") {
        // getprotobynumber(3): no protocol is 0, "ip"
        let p = r.proto.unwrap_or(0);
        let p = resolver.protocol_name(p).unwrap_or_else(|| p.to_string());
        s = s.replace("$proto", &p);
    }
    s
}

/// `$nr` in labels and tags: the rule's number in the final ruleset (in
/// its anchor's ruleset for rules inside an anchor).
pub fn expand_rule_numbers(rules: &mut [Rule]) {
    for (i, r) in rules.iter_mut().enumerate() {
        if let Some(a) = &mut r.anchor {
            expand_rule_numbers(&mut a.rules);
        }
        let n = i.to_string();
        for t in [&mut r.label, &mut r.tag].into_iter().flatten() {
            if t.contains("$nr") {
                *t = t.replace("$nr", &n);
            }
        }
        if let Some((_, t)) = &mut r.tagged {
            if t.contains("$nr") {
                *t = t.replace("$nr", &n);
            }
        }
    }
}

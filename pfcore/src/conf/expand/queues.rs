//! pf.conf queue definitions (pf.conf(5) QUEUEING):
//!
//! ```text
//! queue name [on interface] [parent name]
//!       [bandwidth bw [burst bw for Nms] [, min bw ...] [, max bw ...]]
//!       [flows N] [quantum N] [qlimit N] [default]
//! ```
//!
//! `bw` is bits per second, a number or a number with a unit `K`, `M`, `G`
//! (`Kb`, `Mbit`, ... too). This follows pfctl step by step:
//!
//! - while parsing (parse.y `queuespec`, `queue_opt`, `scspec`,
//!   `bandwidth`, `expand_queue`; pfctl.c `pfctl_add_queue`): option
//!   values and their ranges, one queue per interface of `on`, a root queue
//!   needs an existing interface and each interface at most one root queue.
//!   Errors are `file:line: message` and end the statement;
//! - after a parse without errors (pfctl.c `pfctl_check_qassignments`,
//!   `pfctl_find_childqs`, `pfctl_load_queues`): the queue trees are built
//!   and checked (parents exist, a default leaf queue under a root with a
//!   bandwidth, only leaves are `default` or flow queues, children have a
//!   bandwidth). The first problem stops pfctl and reads `pfctl: message`;
//! - then the queues are loaded and, with `-v`, printed (`print/queue.rs`):
//!   each root followed by its children depth first, after the `set` lines
//!   (which pfctl prints while parsing) and before the rules. They become
//!   `Directive::Queue` entries appended to the ruleset's directives.
//!
//! NOT ENFORCED ON LINUX YET: queues are parsed, checked and printed only;
//! pfd does not receive them and no traffic is shaped or scheduled.

use super::{Expander, Queues};
use crate::conf::ast::{BwAst, IfName, QueueAst, QueueOptAst, ScAst};
use crate::conf::error::ConfError;
use crate::ruleset::{Directive, QueueBw, QueueSc, QueueSpec};

#[cfg(test)]
mod tests;

/// `IFNAMSIZ`: interface names are shorter.
const IFNAMSIZ: usize = 16;
/// `PF_QNAME_SIZE`: queue names are shorter.
const PF_QNAME_SIZE: usize = 64;
/// `RT_TABLEID_MAX`
const RT_TABLEID_MAX: i64 = 255;
/// pfctl gives up on a queue tree when one definition is matched this often.
const MAX_MATCHES: u32 = 10000;

// ------------------------------------------------------------------ values

/// A NUMBER token (pfctl's lexer refuses what does not fit an int64).
fn number(s: &str) -> Result<i64, String> {
    s.parse::<i64>().map_err(|_| {
        format!(
            "\"{s}\" invalid number: {}",
            if s.starts_with('-') {
                "too small"
            } else {
                "too large"
            }
        )
    })
}

/// C's strtod(3): the value of the longest numeric prefix of `s` and the
/// rest (all of `s` when there is no number at all).
fn strtod(s: &str) -> (f64, &str) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = i < b.len() && b[i] == b'-';
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let sign = |v: f64| if neg { -v } else { v };
    let lower = s[i..].to_ascii_lowercase();
    if lower.starts_with("infinity") {
        return (sign(f64::INFINITY), &s[i + 8..]);
    }
    if lower.starts_with("inf") {
        return (sign(f64::INFINITY), &s[i + 3..]);
    }
    if lower.starts_with("nan") {
        let mut j = i + 3;
        if b.get(j) == Some(&b'(') {
            let mut k = j + 1;
            while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
                k += 1;
            }
            if b.get(k) == Some(&b')') {
                j = k + 1;
            }
        }
        return (f64::NAN, &s[j..]);
    }
    if lower.starts_with("0x") {
        return match hex_float(&b[i + 2..]) {
            Some((v, len)) => (sign(v), &s[i + 2 + len..]),
            // "0x" without hex digits: the number is the "0".
            None => (sign(0.0), &s[i + 1..]),
        };
    }
    let digits = |mut k: usize| {
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        k
    };
    let int_end = digits(i);
    let mut end = int_end;
    let mut ndigits = int_end - i;
    if b.get(int_end) == Some(&b'.') {
        let frac_end = digits(int_end + 1);
        ndigits += frac_end - int_end - 1;
        end = frac_end;
    }
    if ndigits == 0 {
        return (0.0, s);
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let mut k = end + 1;
        if matches!(b.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let exp_end = digits(k);
        if exp_end > k {
            end = exp_end;
        }
    }
    let v = s[i..end].parse::<f64>().unwrap_or(0.0);
    (sign(v), &s[end..])
}

/// Hexadecimal mantissa `h[.h][p[+-]d]` after `0x`: value and length.
fn hex_float(b: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let mut v = 0f64;
    let mut ndigits = 0;
    let mut scale = 0i32;
    while i < b.len() && b[i].is_ascii_hexdigit() {
        v = v * 16.0 + f64::from((b[i] as char).to_digit(16).unwrap_or(0));
        i += 1;
        ndigits += 1;
    }
    if b.get(i) == Some(&b'.') {
        let mut k = i + 1;
        while k < b.len() && b[k].is_ascii_hexdigit() {
            v = v * 16.0 + f64::from((b[k] as char).to_digit(16).unwrap_or(0));
            scale -= 4;
            k += 1;
            ndigits += 1;
        }
        if ndigits > 0 {
            i = k;
        }
    }
    if ndigits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'p' | b'P')) {
        let mut k = i + 1;
        let neg = b.get(k) == Some(&b'-');
        if matches!(b.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let start = k;
        let mut e = 0i32;
        while k < b.len() && b[k].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add(i32::from(b[k] - b'0'));
            k += 1;
        }
        if k > start {
            scale = scale.saturating_add(if neg { -e } else { e });
            i = k;
        }
    }
    Some((v * 2f64.powi(scale), i))
}

/// parse.y `bandwidth`.
fn bandwidth(bw: &BwAst) -> Result<QueueBw, String> {
    let s = match bw {
        BwAst::Number(n) => {
            let v = number(n)?;
            if v < 0 {
                return Err("bandwidth number too big".into());
            }
            return Ok(QueueBw {
                absolute: v as u64,
                percent: 0,
            });
        }
        BwAst::Str(s) => s,
    };
    let (mut bps, rest) = strtod(s);
    let mut unit = rest.as_bytes().to_vec();
    if unit.len() > 1 && matches!(&unit[1..], b"Bit" | b"B" | b"bit" | b"b") {
        unit.truncate(1);
    }
    let mut percent = 0;
    match unit.as_slice() {
        b"b" => {}
        b"K" => bps *= 1000.0,
        b"M" => bps *= 1_000_000.0,
        b"G" => bps *= 1_000_000_000.0,
        b"%" => {
            // As C compares: NaN passes.
            #[allow(clippy::manual_range_contains)]
            if bps < 0.0 || bps > 100.0 {
                return Err("bandwidth spec out of range".into());
            }
            percent = bps as u16 as u32;
            bps = 0.0;
        }
        _ => {
            return Err(format!(
                "unknown unit \"{}\"",
                String::from_utf8_lossy(&unit)
            ))
        }
    }
    if bps < 0.0 || bps > i64::MAX as f64 {
        return Err("bandwidth number too big".into());
    }
    Ok(QueueBw {
        absolute: bps as u64,
        percent,
    })
}

/// The `for` time of a burst: strtoul(3) digits followed by exactly `ms`.
fn burst_ms(s: &str) -> Result<u32, String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = i < b.len() && b[i] == b'-';
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while i < b.len() && b[i].is_ascii_digit() {
        match v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(b[i] - b'0')))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    let rest = if i == start { s } else { &s[i..] };
    if rest != "ms" {
        return Err("time in scspec must be in ms".into());
    }
    let v = if overflow {
        u64::MAX
    } else if neg {
        v.wrapping_neg()
    } else {
        v
    };
    Ok(v as u32)
}

/// parse.y `scspec`.
fn scspec(sc: &ScAst) -> Result<QueueSc, String> {
    let m2 = bandwidth(&sc.m2)?;
    let mut out = QueueSc {
        m2,
        ..QueueSc::default()
    };
    if let Some((m1, time)) = &sc.burst {
        out.m1 = bandwidth(m1)?;
        out.d = burst_ms(time)?;
    }
    if out.m1.percent != 0 || out.m2.percent != 0 {
        return Err("no bandwidth in % yet".into());
    }
    Ok(out)
}

/// parse.y `struct queue_opts`: options collected so far.
#[derive(Debug, Default)]
struct Opts {
    bandwidth: bool,
    parent: Option<String>,
    default: bool,
    qlimit: Option<u32>,
    flows: Option<u32>,
    quantum: Option<u32>,
    realtime: QueueSc,
    linkshare: QueueSc,
    upperlimit: QueueSc,
}

impl Opts {
    /// One `queue_opt`; values are checked before the repetition, as the
    /// grammar reduces them first.
    fn apply(&mut self, opt: &QueueOptAst) -> Result<(), String> {
        let ranged = |n: &str,
                      seen: bool,
                      what: &str,
                      lo: i64,
                      hi: i64,
                      range: &str|
         -> Result<u32, String> {
            let v = number(n)?;
            if seen {
                return Err(format!("{what} cannot be respecified"));
            }
            if v < lo || v > hi {
                return Err(range.to_string());
            }
            Ok(v as u32)
        };
        match opt {
            QueueOptAst::Bandwidth { linkshare, extra } => {
                let ls = scspec(linkshare)?;
                let (mut rt, mut ul) = (QueueSc::default(), QueueSc::default());
                for (min, sc) in extra {
                    let v = scspec(sc)?;
                    if *min {
                        rt = v;
                    } else {
                        ul = v;
                    }
                }
                if self.bandwidth {
                    return Err("bandwidth cannot be respecified".into());
                }
                self.bandwidth = true;
                self.linkshare = ls;
                self.realtime = rt;
                self.upperlimit = ul;
            }
            QueueOptAst::Parent(p) => {
                if self.parent.is_some() {
                    return Err("parent cannot be respecified".into());
                }
                self.parent = Some(p.clone());
            }
            QueueOptAst::Default => {
                if self.default {
                    return Err("default cannot be respecified".into());
                }
                self.default = true;
            }
            QueueOptAst::Qlimit(n) => {
                self.qlimit = Some(ranged(
                    n,
                    self.qlimit.is_some(),
                    "qlimit",
                    0,
                    65535,
                    "qlimit out of range: max 65535",
                )?);
            }
            QueueOptAst::Flows(n) => {
                self.flows = Some(ranged(
                    n,
                    self.flows.is_some(),
                    "number of flows",
                    1,
                    32767,
                    "number of flows out of range: max 32767",
                )?);
            }
            QueueOptAst::Quantum(n) => {
                self.quantum = Some(ranged(
                    n,
                    self.quantum.is_some(),
                    "quantum",
                    1,
                    65535,
                    "quantum out of range: max 65535",
                )?);
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ the queue trees

impl Queues {
    /// Whether a rule may name `queue` (pfctl's `qname` lookup, which only
    /// searches queues that have a parent).
    pub fn is_defined(&self, queue: &str) -> bool {
        self.children.iter().any(|q| q.name == queue)
    }

    /// The checks pfctl makes after parsing, then the queues in the order
    /// it loads them; `Err` is the first problem (pfctl exits on it).
    fn load_order(&self) -> Result<Vec<QueueSpec>, String> {
        // pfctl_check_qassignments: every root's tree.
        let mut matches = vec![0u32; self.children.len()];
        let mut trees = Vec::with_capacity(self.roots.len());
        for root in &self.roots {
            let mut nodes = vec![Node {
                qs: root.clone(),
                children: vec![],
            }];
            let has_default = find_childqs(&mut nodes, &self.children, &mut matches)?;
            let r = &nodes[0];
            if !r.qs.root_class && !r.children.is_empty() {
                return Err(if r.qs.flowqueue {
                    format!("root queue {} doesn't support hierarchy", r.qs.name)
                } else {
                    format!("no bandwidth was specified for root queue {}", r.qs.name)
                });
            }
            if r.qs.root_class && !has_default {
                return Err("no default queue specified".into());
            }
            trees.push(nodes);
        }
        // (Rules assigning packets to a queue with children are refused
        // here by pfctl_leafqueue_check, once rules carry queue names.)

        // pfctl_load_queues: the definitions with a parent.
        for (q, m) in self.children.iter().zip(&matches) {
            if *m == 0 {
                return Err(format!("queue {}: parent {} not found", q.name, q.parent));
            }
            let curves = [&q.realtime, &q.linkshare, &q.upperlimit];
            if curves
                .iter()
                .any(|sc| sc.m1.percent != 0 || sc.m2.percent != 0)
            {
                return Err("only absolute bandwidth specs for now".into());
            }
            if !q.parent.is_empty() && q.linkshare.m1.absolute == 0 && q.linkshare.m2.absolute == 0
            {
                return Err(format!("queue {}: no bandwidth was specified", q.name));
            }
        }

        // pfctl_load_queue: depth first; children take their root's
        // interface.
        let mut out = vec![];
        for nodes in trees {
            let mut stack: Vec<(usize, Option<String>)> = vec![(0, None)];
            while let Some((id, ifname)) = stack.pop() {
                let mut qs = nodes[id].qs.clone();
                if let Some(i) = ifname {
                    qs.ifname = i;
                }
                for &c in nodes[id].children.iter().rev() {
                    stack.push((c, Some(qs.ifname.clone())));
                }
                out.push(qs);
            }
        }
        Ok(out)
    }
}

/// A queue in a tree under construction (pfctl's `pfctl_qsitem` copies).
struct Node {
    qs: QueueSpec,
    children: Vec<usize>,
}

/// pfctl_find_childqs on `nodes[0]`, without recursion (a loop of parents
/// goes 10000 levels deep before pfctl notices): builds the tree, checks
/// that only leaves are `default` or flow queues, and says whether a
/// `default` queue is in it.
fn find_childqs(
    nodes: &mut Vec<Node>,
    qspecs: &[QueueSpec],
    matches: &mut [u32],
) -> Result<bool, String> {
    add_children(nodes, 0, qspecs, matches)?;
    // (node, next child to visit, default seen in its subtree)
    let mut stack = vec![(0usize, 0usize, nodes[0].qs.default)];
    loop {
        let Some(&(id, pos, _)) = stack.last() else {
            return Ok(false);
        };
        if let Some(&c) = nodes[id].children.get(pos) {
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            add_children(nodes, c, qspecs, matches)?;
            stack.push((c, 0, nodes[c].qs.default));
            continue;
        }
        let Some((id, _, has_default)) = stack.pop() else {
            return Ok(false);
        };
        let n = &nodes[id];
        if !n.children.is_empty() {
            if n.qs.default {
                return Err(format!("default queue {} is not a leaf queue", n.qs.name));
            }
            if n.qs.flowqueue {
                return Err(format!("flow queue {} is not a leaf queue", n.qs.name));
            }
        }
        match stack.last_mut() {
            Some(parent) => parent.2 |= has_default,
            None => return Ok(has_default),
        }
    }
}

/// The children of `nodes[id]`: definitions naming it as parent, on its
/// interface or on none (one bound to the interface beats a floating one).
fn add_children(
    nodes: &mut Vec<Node>,
    id: usize,
    qspecs: &[QueueSpec],
    matches: &mut [u32],
) -> Result<(), String> {
    for (i, p) in qspecs.iter().enumerate() {
        let qi = &nodes[id].qs;
        if p.parent != qi.name || (!p.ifname.is_empty() && p.ifname != qi.ifname) {
            continue;
        }
        matches[i] += 1;
        if matches[i] > MAX_MATCHES {
            return Err("pfctl_find_childqs: excessive matches, loop?".into());
        }
        let same = nodes[id]
            .children
            .iter()
            .copied()
            .find(|&c| nodes[c].qs.name == p.name);
        match same {
            None => {
                nodes.push(Node {
                    qs: p.clone(),
                    children: vec![],
                });
                let n = nodes.len() - 1;
                nodes[id].children.push(n);
            }
            Some(c) => {
                let q = &nodes[c].qs;
                if !q.ifname.is_empty() && !p.ifname.is_empty() {
                    return Err(format!("queue {} on {} respecified", q.name, q.ifname));
                }
                if q.ifname.is_empty() && p.ifname.is_empty() {
                    return Err(format!("queue {} respecified", q.name));
                }
                if q.ifname.is_empty() {
                    nodes[c].qs = p.clone();
                }
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ expansion

impl Expander<'_> {
    /// A `queue` statement ending on `line`.
    pub fn queue(&mut self, q: &QueueAst, file: &str, line: u32) {
        // The interface list (parse.y `if_item`).
        let mut ifnames = vec![];
        for item in &q.on {
            match &item.name {
                IfName::Any => ifnames.push("any".to_string()),
                IfName::Rdomain(n) => {
                    if !matches!(n.parse::<i64>(), Ok(v) if (0..=RT_TABLEID_MAX).contains(&v)) {
                        self.errors.push(ConfError::new(
                            file,
                            q.on_line,
                            format!("rdomain {n} outside range"),
                        ));
                    }
                    ifnames.push(String::new());
                }
                IfName::Name(n) => {
                    if n.len() >= IFNAMSIZ {
                        self.errors.push(ConfError::new(
                            file,
                            q.on_line,
                            "interface name too long",
                        ));
                        return;
                    }
                    ifnames.push(n.clone());
                }
            }
        }
        // The options, in order; the first error ends the statement.
        let mut o = Opts::default();
        for (opt, l) in &q.opts {
            if let Err(m) = o.apply(opt) {
                self.errors.push(ConfError::new(file, *l, m));
                return;
            }
        }
        // parse.y `queuespec`
        if q.on.is_empty() && o.parent.is_none() {
            self.errors
                .push(ConfError::new(file, line, "root queue without interface"));
            return;
        }
        if let Some(first) = ifnames.first() {
            if !self.is_interface(first) {
                self.errors
                    .push(ConfError::new(file, line, "not an interface"));
                return;
            }
        }
        // expand_queue: one queue per interface.
        if ifnames.is_empty() {
            ifnames.push(String::new());
        }
        let root_class = o.parent.is_none() && o.bandwidth;
        for ifname in ifnames {
            if let Err(m) = self.add_queue(q, &o, root_class, ifname) {
                self.errors.push(ConfError::new(file, line, m));
                return;
            }
        }
    }

    fn add_queue(
        &mut self,
        q: &QueueAst,
        o: &Opts,
        root_class: bool,
        ifname: String,
    ) -> Result<(), String> {
        if !o.bandwidth && o.flows.is_none() {
            return Err("no bandwidth or flow specification".into());
        }
        if q.name.len() >= PF_QNAME_SIZE {
            return Err("queuename too long".into());
        }
        let parent = o.parent.clone().unwrap_or_default();
        if parent.len() >= PF_QNAME_SIZE {
            return Err("parent too long".into());
        }
        if ifname.len() >= IFNAMSIZ {
            return Err("interface too long".into());
        }
        let spec = QueueSpec {
            name: q.name.clone(),
            parent,
            ifname,
            realtime: o.realtime,
            linkshare: o.linkshare,
            upperlimit: o.upperlimit,
            flows: o.flows.unwrap_or(0),
            quantum: o.quantum.unwrap_or(0),
            interval: 0,
            target: 0,
            qlimit: o.qlimit.unwrap_or(0),
            flowqueue: o.flows.is_some(),
            root_class,
            default: o.default,
        };
        // pfctl_add_queue
        if spec.parent.is_empty() {
            if self.queues.roots.iter().any(|r| r.ifname == spec.ifname) {
                self.queues.stdout.push(format!(
                    "A root queue is already defined on {}",
                    spec.ifname
                ));
                return Err("cannot add queue".into());
            }
            self.queues.roots.push(spec);
        } else {
            self.queues.children.push(spec);
        }
        Ok(())
    }

    /// An interface (not a group, not `self`) that exists.
    fn is_interface(&self, name: &str) -> bool {
        !name.is_empty() && name != "self" && self.resolver.if_addrs(name).is_some()
    }

    /// Whether a rule may assign packets to `queue` (`queue x is not
    /// defined` otherwise).
    pub fn queue_defined(&self, queue: &str) -> bool {
        self.queues.is_defined(queue)
    }

    /// After the whole file: with no error so far, check the queue trees
    /// and append the queues to the directives in load order; otherwise
    /// add what pfctl printed on stdout while refusing queues.
    pub fn finish_queues(&mut self) {
        if self.errors.iter().any(|e| !e.warning) {
            let msgs = std::mem::take(&mut self.queues.stdout);
            self.errors.extend(msgs.into_iter().map(ConfError::plain));
            return;
        }
        match self.queues.load_order() {
            Ok(list) => self
                .ruleset
                .directives
                .extend(list.into_iter().map(Directive::Queue)),
            Err(m) => self.errors.push(ConfError::global(m)),
        }
    }
}

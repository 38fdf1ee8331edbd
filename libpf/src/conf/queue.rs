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
//! - then the queues are loaded and, with `-v`, printed (`print_queuespec`):
//!   each root followed by its children depth first, after the `set` lines
//!   (which pfctl prints while parsing) and before the rules. They become
//!   `Directive::Queue` entries appended to the ruleset's directives.
//!
//! NOT ENFORCED ON LINUX YET: queues are parsed, checked and printed only;
//! pfd does not receive them and no traffic is shaped or scheduled.

use super::ast::{IfItem, IfName};
use super::error::ConfError;
use super::expand::Expander;
use super::parser::{interface_spec, string_of, Rule};
use super::source::Statement as SourceStatement;
use crate::ruleset::{Directive, QueueBw, QueueSc, QueueSpec};
use pest::iterators::Pair;
use std::fmt::Write;

/// `IFNAMSIZ`: interface names are shorter.
const IFNAMSIZ: usize = 16;
/// `PF_QNAME_SIZE`: queue names are shorter.
const PF_QNAME_SIZE: usize = 64;
/// `RT_TABLEID_MAX`
const RT_TABLEID_MAX: i64 = 255;
/// pfctl gives up on a queue tree when one definition is matched this often.
const MAX_MATCHES: u32 = 10000;

// ------------------------------------------------------------------ syntax

/// A bandwidth as written: pfctl's NUMBER or STRING token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BwAst {
    Number(String),
    Str(String),
}

/// `bw [burst bw for time]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScAst {
    pub m2: BwAst,
    /// (`burst` bandwidth, `for` time)
    pub burst: Option<(BwAst, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOptAst {
    /// `bandwidth sc [, min sc] [, max sc]`; `extra` in source order,
    /// true for `min`, false for `max`.
    Bandwidth {
        linkshare: ScAst,
        extra: Vec<(bool, ScAst)>,
    },
    Parent(String),
    Default,
    /// Numbers as written (pfctl's NUMBER tokens).
    Qlimit(String),
    Flows(String),
    Quantum(String),
}

/// One `queue` statement as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAst {
    pub name: String,
    /// `on ...` (empty without).
    pub on: Vec<IfItem>,
    /// Line of the interface list, for its errors.
    pub on_line: u32,
    /// Options in source order, each with the line it ends on.
    pub opts: Vec<(QueueOptAst, u32)>,
}

/// pest → `QueueAst` for a `queue_rule` pair of statement `st`.
pub(super) fn queue_rule(p: Pair<'_, Rule>, st: &SourceStatement) -> QueueAst {
    let end_line = |x: &Pair<'_, Rule>| st.lines.line_at(x.as_span().end().saturating_sub(1));
    let mut q = QueueAst {
        name: String::new(),
        on: vec![],
        on_line: st.end_line,
        opts: vec![],
    };
    for x in p.into_inner() {
        match x.as_rule() {
            Rule::qstring => q.name = qstring(x),
            Rule::interface_clause => {
                q.on_line = end_line(&x);
                if let Some(spec) = x.into_inner().find(|c| c.as_rule() == Rule::interface_spec) {
                    q.on = interface_spec(spec);
                }
            }
            Rule::queue_opt => {
                let line = end_line(&x);
                if let Some(o) = x.into_inner().next() {
                    q.opts.push((queue_opt(o), line));
                }
            }
            _ => {}
        }
    }
    q
}

fn qstring(p: Pair<'_, Rule>) -> String {
    p.into_inner().next().map(string_of).unwrap_or_default()
}

fn bw_ast(p: Pair<'_, Rule>) -> BwAst {
    match p.into_inner().next() {
        Some(n) if n.as_rule() == Rule::qnumber => BwAst::Number(n.as_str().to_string()),
        Some(s) => BwAst::Str(string_of(s)),
        None => BwAst::Str(String::new()),
    }
}

fn sc_ast(p: Pair<'_, Rule>) -> ScAst {
    let mut bws = vec![];
    let mut time = String::new();
    for x in p.into_inner() {
        match x.as_rule() {
            Rule::qbw => bws.push(bw_ast(x)),
            Rule::qstring => time = qstring(x),
            _ => {}
        }
    }
    let mut it = bws.into_iter();
    let m2 = it.next().unwrap_or(BwAst::Str(String::new()));
    ScAst {
        m2,
        burst: it.next().map(|m1| (m1, time)),
    }
}

fn inner_number(p: Pair<'_, Rule>) -> String {
    p.into_inner()
        .find(|x| x.as_rule() == Rule::qnumber)
        .map(|x| x.as_str().to_string())
        .unwrap_or_default()
}

fn queue_opt(o: Pair<'_, Rule>) -> QueueOptAst {
    match o.as_rule() {
        Rule::qo_bandwidth => {
            let mut linkshare = None;
            let mut extra = vec![];
            for x in o.into_inner() {
                match x.as_rule() {
                    Rule::qscspec => linkshare = Some(sc_ast(x)),
                    Rule::qo_min | Rule::qo_max => {
                        let min = x.as_rule() == Rule::qo_min;
                        if let Some(sc) = x.into_inner().find(|y| y.as_rule() == Rule::qscspec) {
                            extra.push((min, sc_ast(sc)));
                        }
                    }
                    _ => {}
                }
            }
            let linkshare = linkshare.unwrap_or(ScAst {
                m2: BwAst::Str(String::new()),
                burst: None,
            });
            QueueOptAst::Bandwidth { linkshare, extra }
        }
        Rule::qo_parent => QueueOptAst::Parent(
            o.into_inner()
                .find(|x| x.as_rule() == Rule::qstring)
                .map(qstring)
                .unwrap_or_default(),
        ),
        Rule::qo_qlimit => QueueOptAst::Qlimit(inner_number(o)),
        Rule::qo_flows => QueueOptAst::Flows(inner_number(o)),
        Rule::qo_quantum => QueueOptAst::Quantum(inner_number(o)),
        _ => QueueOptAst::Default,
    }
}

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

// ------------------------------------------------------------------ the queue list

/// The queues defined so far, as pfctl keeps them while parsing.
#[derive(Debug, Clone, Default)]
pub struct Queues {
    /// pfctl's `rootqs`: queues without a parent, in source order.
    roots: Vec<QueueSpec>,
    /// pfctl's `qspecs`: queues with a parent, in source order.
    children: Vec<QueueSpec>,
    /// What pfctl printed on its standard output while refusing queues.
    stdout: Vec<String>,
}

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

// ------------------------------------------------------------------ printing

fn print_bw(s: &mut String, prefix: &str, bw: &QueueBw) {
    if bw.percent != 0 {
        let _ = write!(s, "{prefix}{}%", bw.percent);
    } else if bw.absolute != 0 {
        // pfctl's unit table is " KMG" with its terminating NUL.
        const UNIT: [char; 5] = [' ', 'K', 'M', 'G', '\0'];
        let mut rate = bw.absolute;
        let mut i = 0;
        while rate >= 1000 && i <= 3 && rate.is_multiple_of(1000) {
            rate /= 1000;
            i += 1;
        }
        let _ = write!(s, "{prefix}{rate}{}", UNIT[i]);
    }
}

fn print_sc(s: &mut String, prefix: &str, sc: &QueueSc) {
    print_bw(s, prefix, &sc.m2);
    if sc.d != 0 {
        s.push_str(" burst ");
        print_bw(s, "", &sc.m1);
        let _ = write!(s, " for {}ms", sc.d);
    }
}

/// One queue as `pfctl -nv` prints it (pfctl_parser.c `print_queuespec`),
/// without the newline.
pub fn print_queuespec(q: &QueueSpec) -> String {
    let mut s = format!("queue {}", q.name);
    if !q.parent.is_empty() {
        let _ = write!(s, " parent {}", q.parent);
    } else if !q.ifname.is_empty() {
        let _ = write!(s, " on {}", q.ifname);
    }
    if q.flowqueue {
        let _ = write!(s, " flows {}", q.flows);
        if q.quantum > 0 {
            let _ = write!(s, " quantum {}", q.quantum);
        }
        if q.interval > 0 {
            let _ = write!(s, " interval {}ms", q.interval / 1_000_000);
        }
        if q.target > 0 {
            let _ = write!(s, " target {}ms", q.target / 1_000_000);
        }
    }
    if q.linkshare.m1.absolute != 0 || q.linkshare.m2.absolute != 0 {
        print_sc(&mut s, " bandwidth ", &q.linkshare);
        print_sc(&mut s, ", min ", &q.realtime);
        print_sc(&mut s, ", max ", &q.upperlimit);
    }
    if q.default {
        s.push_str(" default");
    }
    if q.qlimit != 0 {
        let _ = write!(s, " qlimit {}", q.qlimit);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::{parse, print_ruleset_nv, StaticResolver};
    use super::*;

    fn resolver() -> StaticResolver {
        StaticResolver::new()
            .iface("em0", &["192.0.2.1/24"])
            .iface("em1", &[])
            .iface("vio0", &[])
    }

    /// `pfctl -nv` output of `src`, or its diagnostics one per line.
    fn nv(src: &str) -> String {
        let r = resolver();
        match parse(src, "stdin", &r) {
            Ok(rs) => print_ruleset_nv(&rs, &r),
            Err(e) => e.iter().map(|e| e.to_string() + "\n").collect(),
        }
    }

    #[test]
    fn flow_queues() {
        assert_eq!(
            nv("queue fq on em1 flows 1024\n"),
            "queue fq on em1 flows 1024\n"
        );
        assert_eq!(
            nv("queue fq on em1 qlimit 300 quantum 1514 flows 2048\n"),
            "queue fq on em1 flows 2048 quantum 1514 qlimit 300\n"
        );
        // qlimit 0 is accepted and not printed.
        assert_eq!(
            nv("queue fq on em1 flows 8 qlimit 0\n"),
            "queue fq on em1 flows 8\n"
        );
    }

    #[test]
    fn hfsc_tree_prints_depth_first_after_set_lines() {
        let src = "queue main on em0 bandwidth 100M\n\
                   queue web parent main bandwidth 60M\n\
                   queue ssh parent main bandwidth 10M, min 5M qlimit 50\n\
                   set block-policy return\n\
                   queue std parent web bandwidth 20M default\n\
                   queue bulk parent web flows 512 bandwidth 30M\n\
                   pass\n";
        assert_eq!(
            nv(src),
            "set block-policy return\n\
             queue main on em0 bandwidth 100M\n\
             queue web parent main bandwidth 60M\n\
             queue std parent web bandwidth 20M default\n\
             queue bulk parent web flows 512 bandwidth 30M\n\
             queue ssh parent main bandwidth 10M, min 5M qlimit 50\n\
             pass all flags S/SA\n"
        );
    }

    #[test]
    fn children_take_the_root_interface() {
        let rs = parse(
            "queue r on em0 bandwidth 1G\nqueue d parent r bandwidth 1M default\n",
            "t",
            &resolver(),
        )
        .unwrap_or_default();
        let qs: Vec<&QueueSpec> = rs
            .directives
            .iter()
            .filter_map(|d| match d {
                Directive::Queue(q) => Some(q),
                _ => None,
            })
            .collect();
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[1].ifname, "em0");
        assert!(qs[0].root_class && !qs[1].root_class && qs[1].default);
        assert_eq!(qs[1].linkshare.m2.absolute, 1_000_000);
    }

    #[test]
    fn bandwidth_units_and_curves() {
        let one = |bw: &str| {
            nv(&format!("queue r on em0 bandwidth {bw} default\n"))
                .trim_end_matches('\n')
                .trim_start_matches("queue r on em0")
                .to_string()
        };
        assert_eq!(one("2000000000"), " bandwidth 2G default");
        assert_eq!(one("1500K"), " bandwidth 1500K default");
        assert_eq!(one("1.5M"), " bandwidth 1500K default");
        assert_eq!(one("1Mbit"), " bandwidth 1M default");
        assert_eq!(one("3Kb"), " bandwidth 3K default");
        assert_eq!(one("64000b"), " bandwidth 64K default");
        assert_eq!(one("10G"), " bandwidth 10G default");
        assert_eq!(one("0x10K"), " bandwidth 16K default");
        // No unit: pfctl's unit table prints a blank.
        assert_eq!(one("1500"), " bandwidth 1500  default");
        // Bandwidth 0 is no bandwidth to print.
        assert_eq!(one("0"), " default");
        assert_eq!(
            one("10M burst 20M for 100ms, min 1M burst 2M for 10ms, max 15M"),
            " bandwidth 10M burst 20M for 100ms, min 1M burst 2M for 10ms, max 15M default"
        );
        assert_eq!(
            one("10M max 12M min 2M"),
            " bandwidth 10M, min 2M, max 12M default"
        );
    }

    #[test]
    fn errors_during_parsing() {
        let e = |src: &str| nv(src);
        assert_eq!(
            e("queue r on em1 qlimit 100\n"),
            "stdin:1: no bandwidth or flow specification\n"
        );
        assert_eq!(
            e("\nqueue r flows 10\n"),
            "stdin:2: root queue without interface\n"
        );
        assert_eq!(
            e("queue r on em9 flows 10\n"),
            "stdin:1: not an interface\n"
        );
        assert_eq!(
            e("queue r on self flows 10\n"),
            "stdin:1: not an interface\n"
        );
        assert_eq!(
            e("queue r on any flows 10\n"),
            "stdin:1: not an interface\n"
        );
        assert_eq!(
            e("queue r on em1 flows 0\n"),
            "stdin:1: number of flows out of range: max 32767\n"
        );
        assert_eq!(
            e("queue r on em1 flows 32768\n"),
            "stdin:1: number of flows out of range: max 32767\n"
        );
        assert_eq!(
            e("queue r on em1 flows 1 quantum 0\n"),
            "stdin:1: quantum out of range: max 65535\n"
        );
        assert_eq!(
            e("queue r on em1 flows 1 qlimit 65536\n"),
            "stdin:1: qlimit out of range: max 65535\n"
        );
        assert_eq!(
            e("queue r on em1 flows 1 qlimit -1\n"),
            "stdin:1: qlimit out of range: max 65535\n"
        );
        assert_eq!(
            e("queue r on em1 flows 1 flows 2\n"),
            "stdin:1: number of flows cannot be respecified\n"
        );
        assert_eq!(
            e("queue r on em1 flows 1 qlimit 1 qlimit 2\n"),
            "stdin:1: qlimit cannot be respecified\n"
        );
        assert_eq!(
            e("queue r on em1 flows 1 quantum 1 quantum 2\n"),
            "stdin:1: quantum cannot be respecified\n"
        );
        assert_eq!(
            e("queue r on em1 flows 1 default default\n"),
            "stdin:1: default cannot be respecified\n"
        );
        assert_eq!(
            e("queue r parent a parent b flows 1\n"),
            "stdin:1: parent cannot be respecified\n"
        );
        assert_eq!(
            e("queue r on em1 bandwidth 1M bandwidth 2M\n"),
            "stdin:1: bandwidth cannot be respecified\n"
        );
        assert_eq!(
            e("queue r on em1 bandwidth 1X\n"),
            "stdin:1: unknown unit \"X\"\n"
        );
        assert_eq!(
            e("queue r on em1 bandwidth 1Xbit\n"),
            "stdin:1: unknown unit \"X\"\n"
        );
        assert_eq!(
            e("queue r on em1 bandwidth \"1.5\"\n"),
            "stdin:1: unknown unit \"\"\n"
        );
        assert_eq!(
            e("queue r on em1 bandwidth 50%\n"),
            "stdin:1: no bandwidth in % yet\n"
        );
        assert_eq!(
            e("queue r on em1 bandwidth 150%\n"),
            "stdin:1: bandwidth spec out of range\n"
        );
        assert_eq!(
            e("queue r on em1 bandwidth -5\n"),
            "stdin:1: bandwidth number too big\n"
        );
        assert_eq!(
            e("queue r on em1 bandwidth 1e30G\n"),
            "stdin:1: bandwidth number too big\n"
        );
        assert_eq!(
            e("queue r on em1 bandwidth 1M burst 2M for 10s\n"),
            "stdin:1: time in scspec must be in ms\n"
        );
        assert_eq!(
            e("queue r on em1 flows 1 qlimit 99999999999999999999\n"),
            "stdin:1: \"99999999999999999999\" invalid number: too large\nstdin:1: syntax error\n"
        );
        assert_eq!(
            e(&format!("queue {} on em1 flows 1\n", "q".repeat(64))),
            "stdin:1: queuename too long\n"
        );
        assert_eq!(
            e(&format!("queue q on {} flows 1\n", "e".repeat(16))),
            "stdin:1: interface name too long\n"
        );
        // The first error of a statement ends it; other statements go on.
        assert_eq!(
            e("queue r on em1 flows 0 qlimit 70000\nqueue s on em0 qlimit 1\n"),
            "stdin:1: number of flows out of range: max 32767\nstdin:2: no bandwidth or flow specification\n"
        );
    }

    #[test]
    fn syntax_errors() {
        for src in [
            "queue r on em1\n",
            "queue 5 on em1 flows 1\n",
            "queue r parent p on em1 flows 1\n",
            "queue r on em1 flows 1M\n",
            "queue r on em1 bandwidth 1M, default\n",
            "queue r on em1 bandwidth 1M burst 2M for 10\n",
            "queue default on em1 flows 1\n",
        ] {
            assert_eq!(nv(src), "stdin:1: syntax error\n", "{src}");
        }
        // The queue keywords are no plain strings elsewhere either.
        assert_eq!(nv("pass on flows\n"), "stdin:1: syntax error\n");
        assert_eq!(
            nv("pass label \"flows\"\n"),
            "pass all flags S/SA label \"flows\"\n"
        );
    }

    #[test]
    fn second_root_on_an_interface() {
        assert_eq!(
            nv("queue a on em1 flows 1\nqueue b on em1 flows 2\n"),
            "stdin:2: cannot add queue\nA root queue is already defined on em1\n"
        );
        // One queue per interface of a list; only the first must exist.
        assert_eq!(
            nv("queue a on { em1 em0 } flows 1\n"),
            "queue a on em1 flows 1\nqueue a on em0 flows 1\n"
        );
        assert_eq!(
            nv("queue a on { em1 em0 } flows 1\nqueue b on em0 flows 1\n"),
            "stdin:2: cannot add queue\nA root queue is already defined on em0\n"
        );
    }

    #[test]
    fn tree_checks_after_parsing() {
        assert_eq!(
            nv("queue r on em0 bandwidth 1M\n"),
            "pfctl: no default queue specified\n"
        );
        assert_eq!(
            nv("queue r on em0 bandwidth 1M default\nqueue c parent r bandwidth 1K\n"),
            "pfctl: default queue r is not a leaf queue\n"
        );
        assert_eq!(
            nv("queue r on em0 bandwidth 1M\nqueue c parent r flows 5 bandwidth 1K\nqueue g parent c bandwidth 1K default\n"),
            "pfctl: flow queue c is not a leaf queue\n"
        );
        assert_eq!(
            nv("queue r on em0 flows 10\nqueue c parent r bandwidth 1K default\n"),
            "pfctl: flow queue r is not a leaf queue\n"
        );
        // Bandwidth 0 still makes an HFSC root (which is not printed).
        assert_eq!(
            nv("queue r on em0 qlimit 5 flows 1 \nqueue r2 on em1 bandwidth 0\nqueue c parent r2 bandwidth 1K default\n"),
            "queue r on em0 flows 1 qlimit 5\nqueue r2 on em1\nqueue c parent r2 bandwidth 1K default\n"
        );
        assert_eq!(
            nv("queue r on em1 bandwidth 0\n"),
            "pfctl: no default queue specified\n"
        );
        assert_eq!(
            nv("queue r on em0 bandwidth 1M\nqueue c parent x bandwidth 1K default\n"),
            "pfctl: no default queue specified\n"
        );
        assert_eq!(
            nv("queue r on em0 bandwidth 1M\nqueue d parent r bandwidth 1K default\nqueue c parent x bandwidth 1K\n"),
            "pfctl: queue c: parent x not found\n"
        );
        assert_eq!(
            nv("queue r on em0 bandwidth 1M\nqueue d parent r flows 10 default\n"),
            "pfctl: queue d: no bandwidth was specified\n"
        );
        assert_eq!(
            nv("queue r on em0 bandwidth 1M\nqueue d parent r bandwidth 1K default\nqueue d parent r bandwidth 2K\n"),
            "pfctl: queue d respecified\n"
        );
        // A child bound to the root's interface beats a floating one.
        assert_eq!(
            nv("queue r on em0 bandwidth 1M\nqueue d parent r bandwidth 1K\nqueue d on em0 parent r bandwidth 2K default\n"),
            "queue r on em0 bandwidth 1M\nqueue d parent r bandwidth 2K default\n"
        );
        // A floating child goes under every root of that name.
        assert_eq!(
            nv("queue r on em0 bandwidth 1M\nqueue r on em1 bandwidth 2M\nqueue d parent r bandwidth 1K default\n"),
            "queue r on em0 bandwidth 1M\nqueue d parent r bandwidth 1K default\n\
             queue r on em1 bandwidth 2M\nqueue d parent r bandwidth 1K default\n"
        );
        // A loop of parents under a root.
        assert_eq!(
            nv(
                "queue r on em0 bandwidth 1M\nqueue a parent r bandwidth 1K default\n\
                queue b parent a bandwidth 1K\nqueue a parent b bandwidth 1K\n"
            ),
            "pfctl: pfctl_find_childqs: excessive matches, loop?\n"
        );
        // No tree checks when parsing failed.
        assert_eq!(
            nv("queue r on em0 bandwidth 1M\npass bogus\n"),
            "stdin:2: syntax error\n"
        );
    }

    #[test]
    fn queue_lookup_for_rules() {
        let r = resolver();
        let mut ex = Expander::new(&r);
        let src = "queue r on em0 bandwidth 1M\nqueue d parent r bandwidth 1K default\n";
        let mut sp = super::super::source::Splitter::new(src, "t");
        let macros = super::super::source::Macros::new();
        while let Some(Ok(st)) = sp.next_statement(&macros) {
            if let Ok(super::super::ast::Statement::Queue(q)) =
                super::super::parser::parse_statement(&st, "t")
            {
                ex.queue(&q, "t", st.end_line);
            }
        }
        assert!(ex.queue_defined("d"));
        // pfctl only finds queues with a parent.
        assert!(!ex.queue_defined("r"));
        assert!(!ex.queue_defined("x"));
    }

    #[test]
    fn value_parsers() {
        assert_eq!(strtod("1.5M"), (1.5, "M"));
        assert_eq!(strtod("K"), (0.0, "K"));
        assert_eq!(strtod("1e3Kb"), (1000.0, "Kb"));
        assert_eq!(strtod("2e"), (2.0, "e"));
        assert_eq!(strtod("0x1p4"), (16.0, ""));
        assert_eq!(strtod("0xg"), (0.0, "xg"));
        assert_eq!(strtod("inf").0, f64::INFINITY);
        assert_eq!(burst_ms("250ms"), Ok(250));
        assert_eq!(burst_ms("ms"), Ok(0));
        assert!(burst_ms("250").is_err());
        assert_eq!(bandwidth(&BwAst::Str("K".into())), Ok(QueueBw::default()));
    }

    const TOKENS: &[&str] = &[
        "queue",
        "q",
        "r",
        "on",
        "em0",
        "em1",
        "{",
        "}",
        ",",
        "parent",
        "bandwidth",
        "1M",
        "0",
        "10G",
        "5%",
        "1e99K",
        "0x",
        "burst",
        "for",
        "10ms",
        "ms",
        "min",
        "max",
        "flows",
        "quantum",
        "qlimit",
        "default",
        "1",
        "-1",
        "65536",
        "99999999999999999999",
        "\"\"",
        "\n",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

        #[test]
        fn never_panics_on_queue_soup(idx in proptest::collection::vec(0..TOKENS.len(), 0..30)) {
            let src: Vec<&str> = idx.iter().map(|&i| TOKENS[i]).collect();
            let _ = nv(&format!("queue r on em0 bandwidth 1G\n{}\n", src.join(" ")));
        }
    }

    /// The OpenBSD regress cases about queues, read from the shared corpus
    /// when it is there (never copied into the repository).
    #[test]
    fn corpus_queue_cases() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpus/openbsd-pfctl");
        if !dir.is_dir() {
            return;
        }
        let r = StaticResolver::new()
            .iface("lo0", &["127.0.0.1/8", "::1/128"])
            .iface("lo1000000", &[]);
        let run = |file: &str| -> Option<String> {
            let src = std::fs::read_to_string(dir.join(file)).ok()?;
            Some(match parse(&src, "stdin", &r) {
                Ok(rs) => print_ruleset_nv(&rs, &r),
                Err(e) => e.iter().map(|e| e.to_string() + "\n").collect(),
            })
        };
        let mut failed = vec![];
        // selfpf: the expected output read back prints itself.
        for n in [105, 106, 108, 109, 110, 111, 115] {
            let file = format!("pf{n}.ok");
            if let (Some(got), Ok(want)) = (run(&file), std::fs::read_to_string(dir.join(&file))) {
                if got != want {
                    failed.push(format!("self{file}:\n{want}---\n{got}"));
                }
            }
        }
        // pf107 has no expected output: it must load.
        if let Some(got) = run("pf107.in") {
            if got.starts_with("stdin:") || got.starts_with("pfctl:") {
                failed.push(format!("pf107: {got}"));
            }
        }
        for n in [58, 61, 62] {
            let (Some(got), Ok(want)) = (
                run(&format!("pfail{n}.in")),
                std::fs::read_to_string(dir.join(format!("pfail{n}.ok"))),
            ) else {
                continue;
            };
            if got != want {
                failed.push(format!("pfail{n}:\n{want}---\n{got}"));
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }
}

//! `table <name> [persist] [const] [counters] [{ ... }] [file "path"] ...`
//!
//! The whole life of a table definition in pf.conf, as pfctl's `tabledef`,
//! `table_opts` and `process_tabledef` (parse.y), `pfr_buf_load` /
//! `pfr_next_token` (pfctl_radix.c), `append_addr` / `host()` and
//! `print_tabledef` (pfctl_parser.c) handle it:
//!
//! - `table_def`: grammar pairs → `TableAst` (options in source order, with
//!   the lines pfctl reports their errors on);
//! - `Expander::table`: flags checked, hosts resolved (interfaces and
//!   groups give their addresses, names are looked up, `self` is every
//!   local address), elements that cannot be in a table refused, files
//!   loaded, the definition recorded as `Directive::Table`;
//! - `parse_table_data`: the file reader, a hand-written tokenizer with a
//!   fast path for numeric addresses (a million-line file must load in a
//!   blink) and pfctl's `host()` for anything else;
//! - `print_tabledef`: the `pfctl -nv` line.
//!
//! Error order follows pfctl's parser: a host that does not resolve stops
//! the statement at once; the checks of a `{ }` list run when it closes;
//! an unknown flag when it is read; the name length, then files and
//! address-buffer checks (in option order) once the statement is complete.
//! Defining a table twice is not an error: pfctl -n does not check, and on
//! load pf's table transaction lets the later definition replace the
//! earlier one (`Ruleset::table` returns the last).

use super::ast::HostItem;
use super::error::ConfError;
use super::expand::{bare_text, Expander, HostNode, Res};
use super::parser::{self, Rule};
use super::source::LineMap;
use crate::addr::IpNet;
use crate::ruleset::{
    AddrKind, Directive, TableDef, TableEntry, TableFlags, TableInit, TABLE_NAME_MAX,
};
use pest::iterators::Pair;
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// ---------------------------------------------------------------- AST

/// `table <name> opts...` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableAst {
    pub name: String,
    pub opts: Vec<TableOptAst>,
}

/// One table option, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableOptAst {
    /// `const`, `persist`, `counters` (or anything else: an error later).
    Flag { word: String, line: u32 },
    /// `{ ... }`, possibly empty; nested lists are flattened.
    Hosts {
        hosts: Vec<TableHostAst>,
        close_line: u32,
    },
    /// `file "path"`
    File(String),
}

/// One element of a `{ }` list: an `xhost` and its optional `weight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableHostAst {
    pub item: HostItem,
    pub weight: Option<String>,
    pub line: u32,
}

/// Grammar → AST for a `table_def` pair.
pub(super) fn table_def(p: Pair<'_, Rule>, lines: &LineMap) -> TableAst {
    let mut t = TableAst {
        name: String::new(),
        opts: vec![],
    };
    for x in p.into_inner() {
        match x.as_rule() {
            Rule::string => t.name = parser::string_of(x),
            Rule::table_opt => {
                let Some(o) = x.into_inner().next() else {
                    continue;
                };
                match o.as_rule() {
                    Rule::table_file => {
                        if let Some(s) = o.into_inner().find(|y| y.as_rule() == Rule::string) {
                            t.opts.push(TableOptAst::File(parser::string_of(s)));
                        }
                    }
                    Rule::table_flag => {
                        let line = lines.line_at(o.as_span().start());
                        let word = o
                            .into_inner()
                            .next()
                            .map(parser::string_of)
                            .unwrap_or_default();
                        t.opts.push(TableOptAst::Flag { word, line });
                    }
                    _ => {
                        let mut hosts = vec![];
                        let mut close_line = lines.line_at(o.as_span().end());
                        for y in o.into_inner() {
                            match y.as_rule() {
                                Rule::table_spec => table_spec(y, lines, &mut hosts),
                                Rule::table_close => {
                                    close_line = lines.line_at(y.as_span().start())
                                }
                                _ => {}
                            }
                        }
                        t.opts.push(TableOptAst::Hosts { hosts, close_line });
                    }
                }
            }
            _ => {}
        }
    }
    t
}

fn table_spec(p: Pair<'_, Rule>, lines: &LineMap, out: &mut Vec<TableHostAst>) {
    let line = lines.line_at(p.as_span().start());
    let mut item = None;
    let mut weight = None;
    for x in p.into_inner() {
        match x.as_rule() {
            Rule::table_nested => {
                for y in x.into_inner() {
                    if y.as_rule() == Rule::table_spec {
                        table_spec(y, lines, out);
                    }
                }
            }
            Rule::xhost => item = Some(xhost(x)),
            Rule::table_weight => {
                weight = x
                    .into_inner()
                    .find(|y| y.as_rule() == Rule::number)
                    .map(|y| y.as_str().to_string())
            }
            _ => {}
        }
    }
    if let Some(item) = item {
        out.push(TableHostAst { item, weight, line });
    }
}

fn xhost(p: Pair<'_, Rule>) -> HostItem {
    let mut neg = false;
    let mut item = HostItem::Any;
    for y in p.into_inner() {
        match y.as_rule() {
            Rule::not => neg = true,
            Rule::k_no_route => item = HostItem::NoRoute { neg },
            Rule::k_urpf_failed => item = HostItem::UrpfFailed { neg },
            Rule::host => {
                item = HostItem::Host {
                    neg,
                    host: parser::host(y),
                }
            }
            _ => {}
        }
    }
    item
}

// ---------------------------------------------------------------- expansion

/// A table initialiser while the statement is processed.
enum Init {
    /// Addresses of a `{ }` list; `bad_mask` is an IPv4 address given a
    /// prefix longer than 32, which pfctl only refuses when it builds the
    /// address buffer (`cannot create address buffer: Invalid argument`).
    Addrs {
        entries: Vec<TableEntry>,
        bad_mask: bool,
    },
    File(String),
}

const EINVAL: i32 = libc::EINVAL;
const ERANGE: i32 = libc::ERANGE;
const EISDIR: i32 = libc::EISDIR;

/// Why a table file could not be loaded, as `process_tabledef` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// `cannot load "f": <strerror>`
    Errno(i32),
    /// `file "f" contains bad data` (a host that does not parse; its own
    /// message came first).
    BadData,
}

/// `strerror` with OpenBSD's wording where it differs from glibc's.
pub fn strerror(errno: i32) -> String {
    match errno {
        ERANGE => "Result too large".to_string(),
        EINVAL => "Invalid argument".to_string(),
        _ => nix::errno::Errno::from_raw(errno).desc().to_string(),
    }
}

impl Expander<'_> {
    /// `table <name> ...`: checks and resolves the definition and records it
    /// (`line` is the statement's last line, where pfctl reports what it
    /// checks once the statement is complete).
    pub fn table(&mut self, t: &TableAst, file: &str, line: u32) {
        let mut flags = TableFlags::default();
        let mut init: Vec<Init> = vec![];
        let mut init_addr = false;
        for opt in &t.opts {
            match opt {
                TableOptAst::Flag { word, line } => match word.as_str() {
                    "const" => flags.constant = true,
                    "persist" => flags.persist = true,
                    "counters" => flags.counters = true,
                    _ => {
                        self.errors.push(ConfError::new(
                            file,
                            *line,
                            format!("invalid table option '{word}'"),
                        ));
                        return;
                    }
                },
                TableOptAst::File(path) => {
                    init_addr = true;
                    init.push(Init::File(path.clone()));
                }
                TableOptAst::Hosts { hosts, close_line } => {
                    init_addr = true;
                    if hosts.is_empty() {
                        continue;
                    }
                    let mut nodes: Vec<HostNode> = vec![];
                    let mut bad_mask = false;
                    for h in hosts {
                        match self.table_item(&h.item) {
                            Ok((v, bad)) => {
                                nodes.extend(v);
                                bad_mask |= bad;
                            }
                            Err(msgs) => {
                                self.errors_from(file, h.line, msgs);
                                return;
                            }
                        }
                        if let Some(w) = &h.weight {
                            if !matches!(w.parse::<u64>(), Ok(1..=65535)) {
                                self.errors.push(ConfError::new(
                                    file,
                                    h.line,
                                    "weight out of range",
                                ));
                                return;
                            }
                        }
                    }
                    let mut entries = Vec::with_capacity(nodes.len());
                    for n in nodes {
                        let msg = match n.addr {
                            AddrKind::Net(net) => {
                                entries.push(TableEntry { neg: n.neg, net });
                                continue;
                            }
                            AddrKind::Range(..) => "address ranges are not permitted inside tables",
                            AddrKind::Dynamic { .. } => {
                                "dynamic addresses are not permitted inside tables"
                            }
                            AddrKind::Table(_) => "tables cannot contain tables",
                            AddrKind::NoRoute => "\"no-route\" is not permitted inside tables",
                            AddrKind::UrpfFailed => {
                                "\"urpf-failed\" is not permitted inside tables"
                            }
                            AddrKind::Any => "unknown address type 0",
                            AddrKind::RouteLabel(_) => "unknown address type 5",
                        };
                        self.errors.push(ConfError::new(file, *close_line, msg));
                        return;
                    }
                    init.push(Init::Addrs { entries, bad_mask });
                }
            }
        }
        if t.name.len() > TABLE_NAME_MAX {
            let msg = format!("table name too long, max {TABLE_NAME_MAX} chars");
            self.errors.push(ConfError::new(file, line, msg));
            return;
        }
        // process_tabledef: files are read, lists checked, in option order.
        let mut out: Vec<TableInit> = Vec::with_capacity(init.len());
        for i in init {
            match i {
                Init::Addrs { entries, bad_mask } => {
                    if bad_mask {
                        let msg = format!("cannot create address buffer: {}", strerror(EINVAL));
                        self.errors.push(ConfError::new(file, line, msg));
                        return;
                    }
                    out.push(TableInit::Addrs(entries));
                }
                Init::File(path) => {
                    let mut addrs = vec![];
                    let mut msgs = vec![];
                    let r =
                        load_table_file(&path, &mut addrs, &mut msgs, &mut |name, mask, msgs| {
                            self.file_host(name, mask, msgs)
                        });
                    if let Err(e) = r {
                        self.errors.extend(msgs.into_iter().map(ConfError::bare));
                        let msg = match e {
                            LoadError::Errno(n) => {
                                format!("cannot load \"{path}\": {}", strerror(n))
                            }
                            LoadError::BadData => format!("file \"{path}\" contains bad data"),
                        };
                        self.errors.push(ConfError::new(file, line, msg));
                        return;
                    }
                    out.push(TableInit::File { path, addrs });
                }
            }
        }
        let def = TableDef {
            name: t.name.clone(),
            flags,
            init: out,
            init_addr,
            anchor: self.anchor_path.join("/"),
        };
        self.ruleset.directives.push(Directive::Table(def));
    }

    /// One element of a `{ }` list, resolved as pfctl's `host()` does;
    /// the flag tells of an IPv4 address with a prefix longer than 32.
    fn table_item(&self, item: &HostItem) -> Res<(Vec<HostNode>, bool)> {
        let v = self.resolve_hosts(&Some(item.clone()))?.unwrap_or_default();
        let bad = v.iter().any(|n| n.bad_mask.is_some());
        Ok((v, bad))
    }

    /// `host()` for a file token the fast path left alone (names,
    /// interfaces, `10/8`): its messages go to `msgs` (all bare, as in a
    /// file pfctl says nothing with a line number).
    fn file_host(
        &self,
        name: &str,
        mask: Option<u8>,
        msgs: &mut Vec<String>,
    ) -> Result<Vec<IpNet>, LoadError> {
        let mask_txt = mask.map(|m| m.to_string());
        let (lookup, v4_too_long) = match mask {
            Some(m) if m > 32 && !name.ends_with(":network") && !name.ends_with(":broadcast") => {
                (None, true)
            }
            _ => (mask_txt.as_deref(), false),
        };
        match self.host_name(name, lookup) {
            Ok(v) => {
                let mut out = Vec::with_capacity(v.len());
                for n in v {
                    if let AddrKind::Net(net) = n.addr {
                        match (v4_too_long, net.addr, mask) {
                            (true, IpAddr::V4(_), _) => return Err(LoadError::Errno(EINVAL)),
                            (true, IpAddr::V6(_), Some(m)) => out.push(
                                IpNet {
                                    addr: net.addr,
                                    prefix: m,
                                }
                                .to_network(),
                            ),
                            _ => out.push(net),
                        }
                    }
                }
                Ok(out)
            }
            Err(m) => {
                msgs.extend(m.iter().filter_map(|x| bare_text(x)).map(str::to_string));
                Err(LoadError::BadData)
            }
        }
    }
}

// ---------------------------------------------------------------- pfctl -T

/// pfctl's `load_addr` for `pfctl -t T -T command [address ...] [-f
/// file]`: the addresses given on the command line, then those of `file`
/// (`-` is standard input, read through `stdin`), each resolved as pfctl's
/// `host()` does (interfaces, names, `!` for negation, `weight N` skipped).
/// `test`: only host addresses, not negated (`-T test`). Errors are the
/// lines pfctl prints (without the `pfctl: ` prefix where pfctl has none).
pub fn command_addresses(
    args: &[String],
    file: Option<&str>,
    test: bool,
    resolver: &dyn super::Resolver,
    stdin: &mut dyn std::io::Read,
) -> Result<Vec<TableEntry>, Vec<String>> {
    let ex = Expander::new(resolver);
    let mut slow =
        |name: &str, mask: Option<u8>, msgs: &mut Vec<String>| ex.file_host(name, mask, msgs);
    let mut out = vec![];
    for a in args {
        let mut msgs = vec![];
        let start = out.len();
        if parse_table_data(a.as_bytes(), &mut out, &mut msgs, &mut slow).is_err() {
            if msgs.is_empty() {
                msgs.push(format!("pfctl: cannot decode {a}: {}", strerror(EINVAL)));
            }
            return Err(msgs);
        }
        let bad = out[start..]
            .iter()
            .any(|e| test && (e.neg || !e.net.is_host()));
        if bad {
            return Err(vec![format!(
                "pfctl: cannot decode {a}: {}",
                strerror(EINVAL)
            )]);
        }
    }
    let Some(path) = file else { return Ok(out) };
    let data = if path == "-" {
        let mut v = vec![];
        stdin
            .read_to_end(&mut v)
            .map_err(|e| vec![format!("pfctl: cannot load {path}: {e}")])?;
        v
    } else {
        read_file(path).map_err(|n| vec![format!("pfctl: cannot load {path}: {}", strerror(n))])?
    };
    let start = out.len();
    let mut msgs = vec![];
    let r = parse_table_data(&data, &mut out, &mut msgs, &mut slow);
    let bad = test && out[start..].iter().any(|e| e.neg || !e.net.is_host());
    if r.is_err() || bad {
        let errno = match r {
            Err(LoadError::Errno(n)) => n,
            _ => EINVAL,
        };
        msgs.push(format!("pfctl: cannot load {path}: {}", strerror(errno)));
        return Err(msgs);
    }
    Ok(out)
}

// ---------------------------------------------------------------- files

/// pfctl's token buffer (`BUF_SIZE`): longer tokens are refused.
const TOKEN_MAX: usize = 256;

/// Resolves a file token that is not a numeric address: `(name, bits,
/// messages)` → its networks; messages (bare) explain a failure.
pub type SlowHost<'a> =
    dyn FnMut(&str, Option<u8>, &mut Vec<String>) -> Result<Vec<IpNet>, LoadError> + 'a;

/// Reads `path` (pfctl_fopen: a directory is `EISDIR`) and appends its
/// addresses to `out`. `-` is standard input, which pf.conf from stdin has
/// already used up: nothing. `slow` resolves what is not a numeric address.
pub fn load_table_file(
    path: &str,
    out: &mut Vec<TableEntry>,
    msgs: &mut Vec<String>,
    slow: &mut SlowHost<'_>,
) -> Result<(), LoadError> {
    if path == "-" {
        return Ok(());
    }
    let data = read_file(path).map_err(LoadError::Errno)?;
    parse_table_data(&data, out, msgs, slow)
}

fn read_file(path: &str) -> Result<Vec<u8>, i32> {
    use std::io::Read;
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(EINVAL);
    let f = std::fs::File::open(path).map_err(errno)?;
    let md = f.metadata().map_err(errno)?;
    if md.is_dir() {
        return Err(EISDIR);
    }
    // A bound, so that a device such as /dev/zero cannot exhaust memory.
    const MAX: u64 = 256 << 20;
    let mut data = Vec::with_capacity(md.len().min(MAX) as usize + 1);
    f.take(MAX + 1).read_to_end(&mut data).map_err(errno)?;
    if data.len() as u64 > MAX {
        return Err(libc::EFBIG);
    }
    Ok(data)
}

/// C's `isspace` in the C locale.
#[inline]
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// The contents of a table file: whitespace-separated tokens, `#` at the
/// start of a token comments out the rest of the line. A token is
/// `[!...]address[/bits]` (each `!` toggles negation), a host or interface
/// name, or `weight N` (the load-balancing weight of the previous
/// address, checked and not kept). No allocation per token on the numeric
/// path; `out` only grows.
pub fn parse_table_data(
    data: &[u8],
    out: &mut Vec<TableEntry>,
    msgs: &mut Vec<String>,
    slow: &mut SlowHost<'_>,
) -> Result<(), LoadError> {
    let n = data.len();
    let mut i = 0;
    let mut expect_weight = false;
    loop {
        loop {
            while i < n && is_space(data[i]) {
                i += 1;
            }
            if i < n && data[i] == b'#' {
                while i < n && data[i] != b'\n' {
                    i += 1;
                }
            } else {
                break;
            }
        }
        if i >= n {
            return Ok(());
        }
        let start = i;
        while i < n && !is_space(data[i]) {
            i += 1;
        }
        let tok = &data[start..i];
        if tok.len() >= TOKEN_MAX {
            return Err(LoadError::Errno(EINVAL));
        }
        if expect_weight {
            expect_weight = false;
            if let Err((_, errno)) = strtonum(tok, 1, 65535) {
                msgs.push(format!(
                    "failed to convert weight {}",
                    String::from_utf8_lossy(tok)
                ));
                return Err(LoadError::Errno(errno));
            }
            continue;
        }
        if tok == b"weight" {
            expect_weight = true;
            continue;
        }
        let mut neg = false;
        let mut t = tok;
        while let [b'!', rest @ ..] = t {
            neg = !neg;
            t = rest;
        }
        // host(): the mask after the first '/', then the address.
        let (a, mask) = match t.iter().position(|&c| c == b'/') {
            None => (t, None),
            Some(p) => {
                let m = &t[p + 1..];
                match strtonum(m, 0, 128) {
                    Ok(v) => (&t[..p], Some(v as u8)),
                    Err((what, _)) => {
                        msgs.push(format!(
                            "netmask is {what}: /{}",
                            String::from_utf8_lossy(m)
                        ));
                        return Err(LoadError::BadData);
                    }
                }
            }
        };
        match numeric(a) {
            Some(addr) => {
                let net = match (addr, mask) {
                    (_, None) => IpNet::host(addr),
                    (IpAddr::V4(_), Some(m)) if m > 32 => return Err(LoadError::Errno(EINVAL)),
                    (_, Some(m)) => IpNet { addr, prefix: m }.to_network(),
                };
                out.push(TableEntry { neg, net });
            }
            None => {
                let a = match a.iter().position(|&c| c == 0) {
                    Some(z) => &a[..z],
                    None => a,
                };
                let name = String::from_utf8_lossy(a);
                for net in slow(&name, mask, msgs)? {
                    out.push(TableEntry { neg, net });
                }
            }
        }
    }
}

/// OpenBSD's `strtonum`: Ok(value) or Err((errstr, errno)).
fn strtonum(s: &[u8], min: i64, max: i64) -> Result<i64, (&'static str, i32)> {
    let (neg, digits) = match s {
        [b'-', r @ ..] => (true, r),
        [b'+', r @ ..] => (false, r),
        r => (false, r),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(("invalid", EINVAL));
    }
    let mut v: i128 = 0;
    for &d in digits {
        v = (v * 10 + (d - b'0') as i128).min(i64::MAX as i128 + 1);
    }
    if neg {
        v = -v;
    }
    if v < min as i128 {
        Err(("too small", ERANGE))
    } else if v > max as i128 {
        Err(("too large", ERANGE))
    } else {
        Ok(v as i64)
    }
}

/// A numeric address (`getaddrinfo(AI_NUMERICHOST)` without a scope):
/// dotted-quad IPv4 or IPv6. None for anything else.
#[inline]
fn numeric(s: &[u8]) -> Option<IpAddr> {
    if let Some(a) = ipv4(s) {
        return Some(IpAddr::V4(a));
    }
    if s.contains(&b':') && !s.contains(&b'%') {
        return std::str::from_utf8(s)
            .ok()?
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6);
    }
    None
}

/// `a.b.c.d`, each part 0-255 in decimal without leading zeros.
#[inline]
fn ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut idx = 0;
    let mut val: u32 = 0;
    let mut len = 0;
    let mut first = 0u8;
    for &c in s {
        match c {
            b'0'..=b'9' => {
                if len == 0 {
                    first = c;
                } else if first == b'0' {
                    return None;
                }
                len += 1;
                val = val * 10 + (c - b'0') as u32;
                if len > 3 || val > 255 {
                    return None;
                }
            }
            b'.' => {
                if len == 0 || idx == 3 {
                    return None;
                }
                octets[idx] = val as u8;
                idx += 1;
                val = 0;
                len = 0;
            }
            _ => return None,
        }
    }
    if idx != 3 || len == 0 {
        return None;
    }
    octets[3] = val as u8;
    Some(Ipv4Addr::from(octets))
}

// ---------------------------------------------------------------- printing

/// The `pfctl -nv` line of a definition (pfctl's `print_tabledef`):
/// flags, then the initialisers in order, consecutive address lists
/// merged into one `{ }`, files by name; `{ }` for an explicitly empty
/// table. No trailing newline.
pub fn print_tabledef(t: &TableDef) -> String {
    let mut s = String::new();
    let _ = write!(s, "table <{}>", t.name);
    if t.flags.constant {
        s.push_str(" const");
    }
    if t.flags.persist {
        s.push_str(" persist");
    }
    if t.flags.counters {
        s.push_str(" counters");
    }
    let mut i = 0;
    while i < t.init.len() {
        if let TableInit::File { path, .. } = &t.init[i] {
            let _ = write!(s, " file \"{path}\"");
            i += 1;
            continue;
        }
        s.push_str(" {");
        while let Some(TableInit::Addrs(list)) = t.init.get(i) {
            for e in list {
                s.push_str(if e.neg { " !" } else { " " });
                if e.net.prefix == 0 && e.net.addr.is_unspecified() {
                    s.push_str("any");
                } else {
                    let _ = write!(s, "{}", e.net);
                }
            }
            i += 1;
        }
        s.push_str(" }");
    }
    if t.init_addr && t.init.is_empty() {
        s.push_str(" { }");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{parse, StaticResolver};

    fn resolver() -> StaticResolver {
        StaticResolver::new()
            .iface("lo0", &["::1/128", "fe80::1/64", "127.0.0.1/8"])
            .iface("em0", &["192.0.2.10/24", "2001:db8::10/64"])
            .host("gw.example", &["198.51.100.1", "2001:db8::1"])
    }

    /// `pfctl -nv` output of `src`, or its errors joined by newlines.
    fn nv(src: &str) -> String {
        let r = resolver();
        match parse(src, "stdin", &r) {
            Ok(rs) => crate::conf::print_ruleset_nv(&rs, &r),
            Err(e) => e.iter().map(|e| e.to_string() + "\n").collect(),
        }
    }

    fn tmpfile(name: &str, text: &str) -> String {
        let dir = std::env::temp_dir().join(format!("libpf-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    fn no_slow(_: &str, _: Option<u8>, _: &mut Vec<String>) -> Result<Vec<IpNet>, LoadError> {
        Err(LoadError::BadData)
    }

    fn read(text: &str) -> Result<Vec<String>, (LoadError, Vec<String>)> {
        let mut out = vec![];
        let mut msgs = vec![];
        match parse_table_data(text.as_bytes(), &mut out, &mut msgs, &mut no_slow) {
            Ok(()) => Ok(out
                .iter()
                .map(|e| format!("{}{}", if e.neg { "!" } else { "" }, e.net))
                .collect()),
            Err(e) => Err((e, msgs)),
        }
    }

    #[test]
    fn flags_and_lists_print_like_pfctl() {
        assert_eq!(nv("table <bad> persist\n"), "table <bad> persist\n");
        assert_eq!(
            nv("table <t> counters persist const\n"),
            "table <t> const persist counters\n"
        );
        assert_eq!(nv("table <t> {}\n"), "table <t> { }\n");
        assert_eq!(
            nv("table <t> { } file \"/dev/null\"\n"),
            "table <t> file \"/dev/null\"\n"
        );
        assert_eq!(
            nv("table < regress > { 1.2.3.4 !5.6.7.8 10/8 lo0 }\n"),
            "table <regress> { 1.2.3.4 !5.6.7.8 10.0.0.0/8 ::1 fe80::1 127.0.0.1 }\n"
        );
        assert_eq!(
            nv("table <regress.a> { 1.2.3.4 !5.6.7.8 } { ::1 ::2 ::3 } file \"/dev/null\" const { 4.3.2.1 }\n"),
            "table <regress.a> const { 1.2.3.4 !5.6.7.8 ::1 ::2 ::3 } file \"/dev/null\" { 4.3.2.1 }\n"
        );
        // Commas, newlines, comments and nested lists inside the braces.
        assert_eq!(
            // (pfctl takes a newline after an item, not after a comma)
            nv("table <t> {\n 192.0.2.1 # one\n { 192.0.2.2, 192.0.2.3/24 }\n !gw.example\n}\n"),
            "table <t> { 192.0.2.1 192.0.2.2 192.0.2.0/24 !198.51.100.1 !2001:db8::1 }\n"
        );
        // Interface modifiers, self, quoted names, any.
        assert_eq!(
            nv("table <t> { em0:network lo0:0 }\n"),
            "table <t> { 192.0.2.0/24 2001:db8::/64 ::1 127.0.0.1 }\n"
        );
        assert_eq!(
            nv("table \"q\" { 0.0.0.0/0 ::/0 0.0.0.0 }\n")
                .lines()
                .next(),
            Some("stdin:1: syntax error")
        );
        assert_eq!(
            nv("table <q> { 0.0.0.0/0 ::/0 0.0.0.0 }\n"),
            "table <q> { any any 0.0.0.0 }\n"
        );
        assert_eq!(
            nv("table <\"quoted\"> { 1.2.3.4 weight 3 }\n"),
            "table <quoted> { 1.2.3.4 }\n"
        );
        assert!(
            nv("table <s> { self }\n").starts_with("table <s> { ::1 fe80::1 127.0.0.1 192.0.2.10 ")
        );
    }

    #[test]
    fn tables_print_in_source_order_with_options_and_rules() {
        let out =
            nv("set block-policy return\ntable <bad> persist\nm = \"1\"\nblock quick from <bad>\n");
        assert_eq!(
            out,
            "set block-policy return\ntable <bad> persist\nm = \"1\"\nblock return quick from <bad> to any\n"
        );
    }

    #[test]
    fn definitions_are_kept_in_the_ruleset() {
        let r = resolver();
        let rs = parse(
            "table <a> const { 10/8 !10.1.2.3 }\ntable <a> { ::1 }\n",
            "stdin",
            &r,
        )
        .unwrap();
        assert_eq!(rs.tables().count(), 2);
        let t = rs.table("a").unwrap();
        assert_eq!(t.flags, TableFlags::default());
        assert_eq!(
            t.entries().copied().collect::<Vec<_>>(),
            vec![TableEntry::new(false, "::1".parse().unwrap())]
        );
        let first = rs.tables().next().unwrap();
        assert!(first.flags.constant);
        assert_eq!(first.len(), 2);
        assert_eq!(
            first.entries().nth(1),
            Some(&TableEntry::new(true, "10.1.2.3".parse().unwrap()))
        );
        // The automatic-table constructor prints as pfctl's pools do.
        let auto = TableDef::new(
            "__automatic_0",
            TableFlags {
                constant: true,
                ..Default::default()
            },
            vec![
                (false, "127.0.0.1".parse().unwrap()).into(),
                (false, "127.0.0.2".parse().unwrap()).into(),
            ],
        );
        assert_eq!(
            print_tabledef(&auto),
            "table <__automatic_0> const { 127.0.0.1 127.0.0.2 }"
        );
    }

    #[test]
    fn errors_like_pfctl() {
        assert_eq!(
            nv("# x\ntable <foo> file \"/does/not/exists\"\n"),
            "stdin:2: cannot load \"/does/not/exists\": No such file or directory\n"
        );
        assert_eq!(
            nv("table <foo> const { <bar> }\n"),
            "stdin:1: tables cannot contain tables\n"
        );
        assert_eq!(
            nv("table <foo> { (lo0) }\n"),
            "stdin:1: dynamic addresses are not permitted inside tables\n"
        );
        assert_eq!(
            nv("table <foo> persist file \"/dev/null\" { ::1 no-route }\n"),
            "stdin:1: \"no-route\" is not permitted inside tables\n"
        );
        assert_eq!(
            nv("table <f> { urpf-failed }\n"),
            "stdin:1: \"urpf-failed\" is not permitted inside tables\n"
        );
        assert_eq!(
            nv("table <f> { 1.2.3.4 - 1.2.3.8 }\n"),
            "stdin:1: address ranges are not permitted inside tables\n"
        );
        assert_eq!(
            nv("table <foo> { 1.1.1.1.1 1.1.1.1.2 }\n"),
            "no IP address found for 1.1.1.1.1\nstdin:1: could not parse host specification\n"
        );
        assert_eq!(
            nv("table <foo> bogus\n"),
            "stdin:1: invalid table option 'bogus'\n"
        );
        assert_eq!(
            nv("table <foo> { 1.2.3.4 weight 0 }\n"),
            "stdin:1: weight out of range\n"
        );
        let long = "a".repeat(32);
        assert_eq!(
            nv(&format!("table <{long}> persist\n")),
            "stdin:1: table name too long, max 31 chars\n"
        );
        let ok = "a".repeat(31);
        assert_eq!(
            nv(&format!("table <{ok}> persist\n")),
            format!("table <{ok}> persist\n")
        );
        assert_eq!(
            nv("table <foo> { 1.2.3.4/33 }\n"),
            "stdin:1: cannot create address buffer: Invalid argument\n"
        );
        assert_eq!(nv("table <foo> { ::1/33 }\n"), "table <foo> { ::/33 }\n");
        assert_eq!(
            nv("table <foo> { 1.2.3.4/129 }\n"),
            "netmask is too large: /129\nstdin:1: could not parse host specification\n"
        );
        assert_eq!(nv("table <foo> file\n"), "stdin:1: syntax error\n");
        assert_eq!(nv("table <foo> { any }\n"), "stdin:1: syntax error\n");
        assert_eq!(nv("table foo\n"), "stdin:1: syntax error\n");
        // Errors are on the line of the element, of the closing brace, or
        // of the statement's end.
        assert_eq!(
            nv("table <t> {\n 1.2.3.4\n nosuch.host\n}\n"),
            "no IP address found for nosuch.host\nstdin:3: could not parse host specification\n"
        );
        assert_eq!(
            nv("table <t> {\n 1.2.3.4\n <x>\n}\n"),
            "stdin:4: tables cannot contain tables\n"
        );
        assert_eq!(
            nv("table <t> { 1.2.3.4 } \\\n file \"/nonexistent/x\"\n"),
            "stdin:2: cannot load \"/nonexistent/x\": No such file or directory\n"
        );
        let dir = std::env::temp_dir();
        let d = dir.to_string_lossy();
        assert_eq!(
            nv(&format!("table <t> file \"{d}\"\n")),
            format!("stdin:1: cannot load \"{d}\": Is a directory\n")
        );
        // The first error of a statement ends it; later statements go on.
        assert_eq!(
            nv("table <a> bogus { <x> }\ntable <b> { <y> }\n"),
            "stdin:1: invalid table option 'bogus'\nstdin:2: tables cannot contain tables\n"
        );
    }

    #[test]
    fn rules_still_refer_to_tables() {
        assert_eq!(
            nv("table <t> { 10/8 }\npass in from <t> to ! <u>\n"),
            "table <t> { 10.0.0.0/8 }\npass in from <t> to ! <u> flags S/SA\n"
        );
    }

    #[test]
    fn file_tokens_comments_and_negation() {
        assert_eq!(read("").unwrap(), Vec::<String>::new());
        assert_eq!(
            read("# header\n\n1.2.3.4\n  10.0.0.0/8   # trailing\n!192.0.2.1 !!192.0.2.2\n2001:db8::1/32\n\t::1\r\n").unwrap(),
            vec!["1.2.3.4", "10.0.0.0/8", "!192.0.2.1", "192.0.2.2", "2001:db8::/32", "::1"]
        );
        // Host bits are masked off, as pfctl's set_ipmask does.
        assert_eq!(
            read("10.1.2.3/8 1.2.3.4/0").unwrap(),
            vec!["10.0.0.0/8", "0.0.0.0/0"]
        );
        // '#' inside a token is part of it; a comment needs to start one.
        assert_eq!(read("1.2.3.4#x").unwrap_err().0, LoadError::BadData);
        assert_eq!(
            read("1.2.3.4 weight 5 5.6.7.8").unwrap(),
            vec!["1.2.3.4", "5.6.7.8"]
        );
        assert_eq!(
            read("1.2.3.4 weight x").unwrap_err(),
            (
                LoadError::Errno(EINVAL),
                vec!["failed to convert weight x".to_string()]
            )
        );
        assert_eq!(
            read("1.2.3.4 weight 0").unwrap_err().0,
            LoadError::Errno(ERANGE)
        );
        assert_eq!(
            read("1.2.3.4/129").unwrap_err(),
            (
                LoadError::BadData,
                vec!["netmask is too large: /129".to_string()]
            )
        );
        assert_eq!(
            read("1.2.3.4/x").unwrap_err().1,
            vec!["netmask is invalid: /x".to_string()]
        );
        assert_eq!(
            read("1.2.3.4/-1").unwrap_err().1,
            vec!["netmask is too small: /-1".to_string()]
        );
        assert_eq!(read("1.2.3.4/33").unwrap_err().0, LoadError::Errno(EINVAL));
        assert_eq!(
            read(&"1".repeat(256)).unwrap_err().0,
            LoadError::Errno(EINVAL)
        );
        // Not numeric: handed to the slow path.
        for t in [
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "host",
            "10/8",
            "fe80::1%lo0",
        ] {
            assert_eq!(read(t).unwrap_err().0, LoadError::BadData, "{t}");
        }
    }

    #[test]
    fn files_through_the_parser() {
        let f = tmpfile(
            "t1",
            "# list\n192.0.2.1\n10/8\n!gw.example\nlo0:0\n2001:db8::/48\n",
        );
        assert_eq!(
            nv(&format!("table <t> const file \"{f}\" {{ 1.1.1.1 }}\n")),
            format!("table <t> const file \"{f}\" {{ 1.1.1.1 }}\n")
        );
        let r = resolver();
        let rs = parse(
            &format!("table <t> file \"{f}\" file \"/dev/null\" file \"{f}\"\n"),
            "stdin",
            &r,
        )
        .unwrap();
        let all: Vec<String> = rs
            .table("t")
            .unwrap()
            .entries()
            .map(|e| format!("{}{}", if e.neg { "!" } else { "" }, e.net))
            .collect();
        let one = [
            "192.0.2.1",
            "10.0.0.0/8",
            "!198.51.100.1",
            "!2001:db8::1",
            "::1",
            "127.0.0.1",
            "2001:db8::/48",
        ];
        assert_eq!(all, [one, one].concat());
        let bad = tmpfile("t2", "1.2.3.4\nno.such.name\n");
        assert_eq!(
            nv(&format!("\ntable <t> file \"{bad}\"\n")),
            format!(
                "no IP address found for no.such.name\nstdin:2: file \"{bad}\" contains bad data\n"
            )
        );
        let bad = tmpfile("t3", "1.2.3.4 weight -3\n");
        assert_eq!(
            nv(&format!("table <t> file \"{bad}\"\n")),
            format!(
                "failed to convert weight -3\nstdin:1: cannot load \"{bad}\": Result too large\n"
            )
        );
        let bad = tmpfile("t4", "1.2.3.4/40\n");
        assert_eq!(
            nv(&format!("table <t> file \"{bad}\"\n")),
            format!("stdin:1: cannot load \"{bad}\": Invalid argument\n")
        );
        let bad = tmpfile("t5", "lo0/40 em0/40\n");
        assert_eq!(
            nv(&format!("table <t> file \"{bad}\"\n")),
            format!("stdin:1: cannot load \"{bad}\": Invalid argument\n")
        );
    }

    #[test]
    fn a_large_file_loads_quickly() {
        let mut text = String::with_capacity(20 << 20);
        for i in 0..1_000_000u32 {
            let _ = writeln!(
                text,
                "{}.{}.{}.{}",
                10 + (i >> 24),
                (i >> 16) & 255,
                (i >> 8) & 255,
                i & 255
            );
            if i % 100_000 == 0 {
                text.push_str("# comment\n\n2001:db8::/64\n");
            }
        }
        let t0 = std::time::Instant::now();
        let mut out = Vec::new();
        parse_table_data(text.as_bytes(), &mut out, &mut vec![], &mut no_slow).unwrap();
        let dt = t0.elapsed();
        assert_eq!(out.len(), 1_000_010);
        assert_eq!(out[1].net.to_string(), "2001:db8::/64");
        assert_eq!(out[1_000_009].net.to_string(), "10.15.66.63");
        // Generous even for an unoptimised build on a slow machine.
        assert!(dt.as_secs() < 10, "{dt:?}");
    }
}

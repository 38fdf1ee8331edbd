//! pf.conf: from text to a resolved `Ruleset`, and back to text.
//!
//! The pipeline, one file per step:
//!
//! - `source.rs`  — pfctl's lexical layer: statements, comments, `\`
//!   continuations, `$macro` substitution;
//! - `grammar.pest` + `parser.rs` — one statement → typed AST (`ast.rs`);
//! - `expand.rs`  — AST → resolved rules (names looked up through the
//!   `Resolver`, lists multiplied, defaults and checks as pfctl applies them);
//! - `anchor.rs`  — inline anchor bodies cut into statements of their own,
//!   anchor rules, `load anchor` files linked to the anchors calling them;
//! - `print.rs`   — rules and options back to `pfctl -sr` / `-nv` text;
//! - `queue.rs`   — `queue` definitions: parsed, checked as a tree after
//!   the file and printed (not enforced on Linux yet);
//! - `table.rs`   — `table <name> ...` definitions and table files;
//! - `error.rs`   — `file:line: message` diagnostics;
//! - `names.rs`   — ICMP and TCP-flag name tables.
//!
//! Everything here is pure except `include` and `load anchor`, which read
//! files through a loader (`parse` uses the file system), and the lookups
//! behind `Resolver` (`sys::resolve::SystemResolver` asks the system;
//! `StaticResolver` answers from tables, for tests and for `pfctl -n` on a
//! foreign ruleset).

pub mod anchor;
pub mod ast;
pub mod error;
pub mod expand;
pub mod names;
pub mod parser;
pub mod print;
pub mod queue;
pub mod source;
pub mod table;

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod tests;

pub use error::ConfError;
pub use print::{print_options, print_rule, print_ruleset_nv};

use crate::addr::IpNet;
use crate::ruleset::Ruleset;
use std::collections::HashMap;
use std::net::IpAddr;

/// Name lookups pf.conf needs.
pub trait Resolver {
    /// Addresses of an interface or interface group; None if no such interface.
    fn if_addrs(&self, name: &str) -> Option<Vec<IpNet>>;
    /// The same addresses with the interface each belongs to (a group's
    /// members, `self`'s interfaces): pfctl names the interface of a
    /// link-local address in the rule (`on lo0`) and takes `:0`'s first
    /// address per member. By default every address belongs to `name`.
    fn if_addr_owners(&self, name: &str) -> Option<Vec<(String, IpNet)>> {
        self.if_addrs(name)
            .map(|v| v.into_iter().map(|a| (name.to_string(), a)).collect())
    }
    /// The peer addresses of the point-to-point interfaces `name` names
    /// (`:peer`), with the interface each belongs to. None if no such
    /// interface; by default interfaces have no peers.
    fn if_peers(&self, name: &str) -> Option<Vec<(String, IpAddr)>> {
        self.if_addr_owners(name).map(|_| vec![])
    }
    /// Does routing table `id` exist (pfctl's lookup_rtable)? Only the
    /// tables a host has configured do; by default every id is taken.
    fn rtable_exists(&self, _id: u32) -> bool {
        true
    }
    /// Address(es) of a host name (DNS / /etc/hosts), empty if unknown.
    fn host(&self, name: &str) -> Vec<IpAddr>;
    fn user(&self, name: &str) -> Option<u32>;
    fn group(&self, name: &str) -> Option<u32>;
    /// Port of a service; `proto` is "tcp" or "udp".
    fn service(&self, name: &str, proto: &str) -> Option<u16>;
    fn protocol(&self, name: &str) -> Option<u8>;
    /// Name of a protocol number, for printing.
    fn protocol_name(&self, num: u8) -> Option<String>;
}

/// Protocol names as OpenBSD's /etc/protocols spells them (the first name
/// of a number is the one printed; aliases follow).
pub const OPENBSD_PROTOCOLS: &[(&str, u8)] = &[
    ("ip", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("st", 5),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("mobile", 55),
    ("ipv6-icmp", 58),
    ("icmp6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("ospf", 89),
    ("ipip", 94),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("carp", 112),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", 132),
    ("mpls-in-ip", 137),
    ("pfsync", 240),
];

/// A few services from OpenBSD's /etc/services (tcp and udp alike).
pub const COMMON_SERVICES: &[(&str, u16)] = &[
    ("echo", 7),
    ("discard", 9),
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("time", 37),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("sunrpc", 111),
    ("auth", 113),
    ("ident", 113),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("imaps", 993),
    ("pop3s", 995),
];

/// An in-memory resolver for tests and offline checks. `new()` knows
/// OpenBSD's protocol names and common services and nothing else; add
/// interfaces, hosts, users and groups with the builder methods.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    ifaces: Vec<(String, Vec<IpNet>)>,
    /// Point-to-point peers (`:peer`) by interface.
    peers: Vec<(String, IpAddr)>,
    /// Routing tables beyond table 0 (None: every table exists).
    rtables: Option<Vec<u32>>,
    hosts: HashMap<String, Vec<IpAddr>>,
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
    services: HashMap<(String, String), u16>,
    protocols: Vec<(String, u8)>,
}

impl StaticResolver {
    /// OpenBSD's protocols and common services; no interfaces, hosts, users.
    pub fn new() -> StaticResolver {
        let mut r = StaticResolver::empty();
        for (n, p) in OPENBSD_PROTOCOLS {
            r = r.protocol(n, *p);
        }
        for (n, p) in COMMON_SERVICES {
            r = r.service(n, "tcp", *p).service(n, "udp", *p);
        }
        r
    }

    /// Knows nothing at all.
    pub fn empty() -> StaticResolver {
        StaticResolver::default()
    }

    /// Adds an interface with addresses like `"192.0.2.10/24"` (invalid
    /// strings are ignored).
    pub fn iface(mut self, name: &str, addrs: &[&str]) -> StaticResolver {
        let nets = addrs
            .iter()
            .filter_map(|a| a.parse::<IpNet>().ok())
            .collect();
        self.ifaces.retain(|(n, _)| n != name);
        self.ifaces.push((name.to_string(), nets));
        self
    }

    /// Gives interface `name` a point-to-point peer address.
    pub fn peer(mut self, name: &str, addr: &str) -> StaticResolver {
        if let Ok(a) = addr.parse::<IpAddr>() {
            self.peers.push((name.to_string(), a));
        }
        self
    }

    pub fn host(mut self, name: &str, addrs: &[&str]) -> StaticResolver {
        let a = addrs
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .collect();
        self.hosts.insert(name.to_string(), a);
        self
    }

    pub fn user(mut self, name: &str, uid: u32) -> StaticResolver {
        self.users.insert(name.to_string(), uid);
        self
    }

    pub fn group(mut self, name: &str, gid: u32) -> StaticResolver {
        self.groups.insert(name.to_string(), gid);
        self
    }

    pub fn service(mut self, name: &str, proto: &str, port: u16) -> StaticResolver {
        self.services
            .insert((name.to_string(), proto.to_string()), port);
        self
    }

    /// Only table 0 and `ids` exist (`rtable N` refers to the others as
    /// pfctl does on a host without them).
    pub fn rtables(mut self, ids: &[u32]) -> StaticResolver {
        self.rtables = Some(ids.to_vec());
        self
    }

    pub fn protocol(mut self, name: &str, num: u8) -> StaticResolver {
        self.protocols.push((name.to_string(), num));
        self
    }
}

impl Resolver for StaticResolver {
    fn if_addrs(&self, name: &str) -> Option<Vec<IpNet>> {
        self.if_addr_owners(name)
            .map(|v| v.into_iter().map(|(_, a)| a).collect())
    }
    /// An interface, `self` (every interface), or a group in OpenBSD's
    /// sense of the driver name (`lo` is lo0, lo1000000, ...).
    fn if_addr_owners(&self, name: &str) -> Option<Vec<(String, IpNet)>> {
        let own =
            |(n, a): &(String, Vec<IpNet>)| a.iter().map(|x| (n.clone(), *x)).collect::<Vec<_>>();
        if name == "self" {
            return Some(self.ifaces.iter().flat_map(own).collect());
        }
        if let Some(i) = self.ifaces.iter().find(|(n, _)| n == name) {
            return Some(own(i));
        }
        let members: Vec<&(String, Vec<IpNet>)> = self
            .ifaces
            .iter()
            .filter(|(n, _)| {
                n.len() > name.len() && n.trim_end_matches(|c: char| c.is_ascii_digit()) == name
            })
            .collect();
        if members.is_empty() {
            return None;
        }
        Some(members.into_iter().flat_map(own).collect())
    }
    fn if_peers(&self, name: &str) -> Option<Vec<(String, IpAddr)>> {
        let owners = self.if_addr_owners(name)?;
        Some(
            self.peers
                .iter()
                .filter(|(n, _)| owners.iter().any(|(o, _)| o == n) || n == name)
                .cloned()
                .collect(),
        )
    }
    fn rtable_exists(&self, id: u32) -> bool {
        id == 0 || self.rtables.as_ref().is_none_or(|v| v.contains(&id))
    }
    fn host(&self, name: &str) -> Vec<IpAddr> {
        self.hosts.get(name).cloned().unwrap_or_default()
    }
    fn user(&self, name: &str) -> Option<u32> {
        self.users.get(name).copied()
    }
    fn group(&self, name: &str) -> Option<u32> {
        self.groups.get(name).copied()
    }
    fn service(&self, name: &str, proto: &str) -> Option<u16> {
        self.services
            .get(&(name.to_string(), proto.to_string()))
            .copied()
    }
    fn protocol(&self, name: &str) -> Option<u8> {
        self.protocols
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| *p)
    }
    fn protocol_name(&self, num: u8) -> Option<String> {
        self.protocols
            .iter()
            .find(|(_, p)| *p == num)
            .map(|(n, _)| n.clone())
    }
}

/// Parses pf.conf text. `filename` is used in messages (pfctl says `stdin`
/// for `-f -`). `include` reads files from the file system. On any error
/// nothing is returned but the complete list of diagnostics.
pub fn parse(
    source: &str,
    filename: &str,
    resolver: &dyn Resolver,
) -> Result<Ruleset, Vec<ConfError>> {
    parse_with_loader(source, filename, resolver, &|path: &str| {
        std::fs::read_to_string(path)
    })
}

/// `parse` with a custom loader for `include "file"` and `load anchor`.
pub fn parse_with_loader(
    source: &str,
    filename: &str,
    resolver: &dyn Resolver,
    loader: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<Ruleset, Vec<ConfError>> {
    let (rs, errors) = parse_partial(source, filename, resolver, loader);
    if errors.iter().all(|e| e.warning) {
        Ok(rs)
    } else {
        Err(errors)
    }
}

/// Parses as far as possible: the ruleset holds every statement that was
/// valid, the list every diagnostic. `pfctl -nv` prints both, the way
/// pfctl prints options and tables as it reads them; nothing with errors
/// is ever loaded. Warnings (`ConfError::warning`) are diagnostics too but
/// do not make the file fail.
pub fn parse_partial(
    source: &str,
    filename: &str,
    resolver: &dyn Resolver,
    loader: &dyn Fn(&str) -> std::io::Result<String>,
) -> (Ruleset, Vec<ConfError>) {
    let (mut rs, mut errors) = parse_file(source, filename, resolver, loader);
    if errors.iter().all(|e| e.warning) {
        // pfctl loads the `load anchor` files only once the main ruleset
        // is good (pfctl_load_anchors).
        anchor::load_anchors(&mut rs, &mut errors, filename, resolver, loader);
    }
    (rs, errors)
}

/// One file (the main one or a `load anchor` file): its ruleset, `load
/// anchor` statements not yet followed, and its diagnostics.
fn parse_file(
    source: &str,
    filename: &str,
    resolver: &dyn Resolver,
    loader: &dyn Fn(&str) -> std::io::Result<String>,
) -> (Ruleset, Vec<ConfError>) {
    let mut ex = expand::Expander::new(resolver);
    let mut macros = source::Macros::new();
    run(source, filename, &mut ex, &mut macros, loader, 0, 0);
    ex.finish_queues();
    let mut rs = ex.ruleset;
    expand::expand_rule_numbers(&mut rs.rules);
    (rs, ex.errors)
}

/// Before pfctl's parser stops at a bad token, it has reduced what came
/// before it, running the actions of those productions: `set timeout a 1,
/// b 2` has applied (and printed) `set timeout a 1`; `pass proto foo bogus`
/// has reported "unknown protocol foo" and is recovering, so no syntax
/// error follows. Do the same with the longest part before `at` that is a
/// statement: a `set` is applied, a rule's own checks are run (not those
/// of the whole rule, which is never reduced). True when that reported an
/// error (pfctl's YYERROR: no syntax error then).
fn prefix_actions(
    st: &source::Statement,
    file: &str,
    ex: &mut expand::Expander<'_>,
    lexed: &source::Lexed,
    at: usize,
) -> bool {
    let starts: Vec<usize> = lexed.starts.iter().copied().filter(|&s| s < at).collect();
    let line = st.lines.line_at(at);
    for k in (1..=starts.len()).rev() {
        let cut = if k == starts.len() { at } else { starts[k] };
        let prefix = source::Statement {
            text: st.text[..cut].to_string(),
            lex_error: None,
            ..st.clone()
        };
        let Ok(s) = parser::parse_statement(&prefix, file) else {
            continue;
        };
        // a `set` is taken whole or not at all: without the tokens it had
        // shifted, its productions would not be the ones pfctl reduced
        if k < starts.len() && matches!(s, ast::Statement::Set(_)) {
            return false;
        }
        let before = ex.errors.len();
        match s {
            ast::Statement::Set(opt) => ex.set_option(&opt, file, line),
            ast::Statement::Rule(r) => ex.rule_prefix(&r, file, line),
            ast::Statement::Anchor(a) => ex.rule_prefix(&a.rule, file, line),
            _ => {}
        }
        return ex.errors[before..].iter().any(|e| !e.warning);
    }
    false
}

/// Maximum nesting of `include`.
const MAX_INCLUDE_DEPTH: usize = 16;

/// The statements of `src`; `nest` is the inline anchor nesting (0 at the
/// top), `depth` the `include` nesting.
fn run(
    src: &str,
    file: &str,
    ex: &mut expand::Expander<'_>,
    macros: &mut source::Macros,
    loader: &dyn Fn(&str) -> std::io::Result<String>,
    depth: usize,
    nest: usize,
) {
    let mut sp = source::Splitter::new(src, file);
    // The line a lexer error made pfctl's parser drop, and the last line
    // of the previous statement (the newlines between are tokens too).
    let mut eats: Option<u32> = None;
    let mut prev_end: u32 = 0;
    while let Some(st) = sp.next_statement(macros) {
        if ex.fatal {
            return;
        }
        let st = match st {
            Ok(st) => st,
            Err(e) => {
                ex.errors.push(e);
                continue;
            }
        };
        let first = st.lines.line_at(0);
        if eats.take() == Some(first) {
            // dropped while recovering, up to its newline
            ex.errflag = 2;
            prev_end = st.end_line;
            continue;
        }
        let blank_lines = first.saturating_sub(prev_end + 1);
        ex.errflag = ex.errflag.saturating_sub(blank_lines);
        prev_end = st.end_line;
        eats = statement(&st, file, ex, macros, loader, depth, nest).eats;
    }
}

/// What became of a statement, for the parser state around it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    /// The line a lexer error makes pfctl's parser drop.
    pub eats: Option<u32>,
    /// pfctl's parser went into error recovery (a syntax error, or an
    /// error of a grammar action): inside an inline anchor's body that
    /// takes it out of the body, back to the top level.
    pub recovered: bool,
}

/// A syntax error at the `tokens`-th token of a statement: pfctl's parser
/// (yacc) reports it unless it is still recovering from the previous one
/// (three tokens must be shifted after an error before the next is told).
fn syntax_error(ex: &mut expand::Expander<'_>, e: ConfError, tokens: usize) {
    if tokens as u32 >= ex.errflag {
        ex.errors.push(e);
    }
    ex.errflag = 3;
}

/// The lexer errors of a statement: its own (`lex_error`, at its end) or
/// one in a token of its text. (offset where the text stops, the error)
fn lexer_error(st: &source::Statement, lexed: &source::Lexed) -> Option<(usize, source::LexError)> {
    if let Some((off, msg)) = &lexed.error {
        let line = st.lines.line_at(*off);
        // findeol skips the rest of that line; the parser drops the next
        let eats_line = if line == st.end_line {
            st.lex_error
                .as_ref()
                .map_or(Some(line + 1), |e| e.eats_line.or(Some(line + 1)))
        } else {
            None
        };
        return Some((
            *off,
            source::LexError {
                line,
                msg: msg.clone(),
                eats_line,
            },
        ));
    }
    st.lex_error.clone().map(|e| (st.text.len(), e))
}

/// One statement (of a file, or of an inline anchor's body when `nest` >
/// 0).
pub(crate) fn statement(
    st: &source::Statement,
    file: &str,
    ex: &mut expand::Expander<'_>,
    macros: &mut source::Macros,
    loader: &dyn Fn(&str) -> std::io::Result<String>,
    depth: usize,
    nest: usize,
) -> Outcome {
    let recovered = |eats| Outcome {
        eats,
        recovered: true,
    };
    let lexed = source::lex(&st.text);
    if let Some((off, le)) = lexer_error(st, &lexed) {
        // The parser sees the tokens before the bad one, then an error
        // token: a syntax error before it comes first, else the lexer's
        // message and a syntax error on its line.
        let prefix = source::Statement {
            text: st.text[..off].to_string(),
            lex_error: None,
            ..st.clone()
        };
        let before = lexed.starts.iter().take_while(|&&s| s < off).count();
        let early = match parser::parse_statement_at(&prefix, file) {
            Err((e, at)) if at < prefix.text.trim_end().len() => Some((e, at)),
            _ => None,
        };
        match early {
            Some((e, at)) => {
                let n = lexed.starts.iter().take_while(|&&s| s < at).count();
                syntax_error(ex, e, n);
                ex.errors
                    .push(ConfError::new(file, le.line, le.msg.clone()));
            }
            None => {
                ex.errors
                    .push(ConfError::new(file, le.line, le.msg.clone()));
                syntax_error(ex, ConfError::new(file, le.line, "syntax error"), before);
            }
        }
        return recovered(le.eats_line);
    }
    if let Some(block) = anchor::split_inline(st, file) {
        return anchor::inline(block, st, file, ex, macros, loader, depth, nest);
    }
    // pfctl's lists take a newline after an item (`optnl`), never after a
    // comma: the parser stops at that newline, and what follows is read
    // line by line as new statements.
    let comma_nl = lexed.starts.windows(2).find_map(|w| {
        (st.text.as_bytes()[w[0]] == b',' && st.text.as_bytes()[w[1]] == b'\n').then_some(w[1])
    });
    if let Some(nl) = comma_nl {
        let n = lexed.starts.iter().take_while(|&&s| s < nl).count();
        syntax_error(
            ex,
            ConfError::new(file, st.lines.line_at(nl), "syntax error"),
            n,
        );
        ex.errflag = 2;
        let mut from = nl + 1;
        let text = st.text.as_bytes();
        while from < text.len() {
            let end = text[from..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(text.len(), |i| from + i);
            let piece = source::Statement {
                text: st.text[from..end].to_string(),
                lines: st.lines.slice(from, end),
                end_line: st.lines.line_at(end.min(text.len().saturating_sub(1))),
                lex_error: None,
            };
            if !piece.text.trim().is_empty() {
                statement(&piece, file, ex, macros, loader, depth, nest);
            } else {
                ex.errflag = ex.errflag.saturating_sub(1);
            }
            from = end + 1;
        }
        return recovered(None);
    }
    let line = st.end_line;
    let errors_before = ex.errors.len();
    match parser::parse_statement_at(st, file) {
        Err((e, at)) => {
            if !prefix_actions(st, file, ex, &lexed, at) {
                let n = lexed.starts.iter().take_while(|&&s| s < at).count();
                syntax_error(ex, e, n);
            }
            // the statement's newline is shifted once recovered
            ex.errflag = 2;
            return recovered(None);
        }
        Ok(s) if nest > 0 && !anchor::allowed_inside(&s) => {
            syntax_error(
                ex,
                ConfError::new(file, st.lines.line_at(0), "syntax error"),
                0,
            );
            ex.errflag = 2;
            return recovered(None);
        }
        Ok(ast::Statement::Macro { name, value }) => {
            // pfctl prints the definition, then checks the name (from its
            // second character on, as its loop does).
            ex.macro_def(&name, &value);
            if name.chars().skip(1).any(|c| c.is_ascii_whitespace()) {
                ex.errors.push(ConfError::new(
                    file,
                    line,
                    "macro name cannot contain whitespace",
                ));
            } else {
                macros.insert(name, value);
            }
        }
        Ok(ast::Statement::Set(opt)) => ex.set_option(&opt, file, line),
        Ok(ast::Statement::Rule(r)) => ex.rule(&r, file, line),
        Ok(ast::Statement::Antispoof(a)) => ex.antispoof(&a, file, line),
        Ok(ast::Statement::Queue(q)) => ex.queue(&q, file, line),
        Ok(ast::Statement::Table(t)) => ex.table(&t, file, line),
        Ok(ast::Statement::Anchor(a)) => anchor::rule(ex, &a, file, st.lines.line_at(0), line),
        Ok(ast::Statement::LoadAnchor { name, file: path }) => {
            anchor::load(ex, name, path, file, line)
        }
        Ok(ast::Statement::Include(path)) => {
            let text = if depth >= MAX_INCLUDE_DEPTH {
                // pfctl has no limit of its own: it stops when it cannot
                // open one more file
                Err(std::io::Error::from_raw_os_error(libc::EMFILE))
            } else {
                loader(&path)
            };
            match text {
                Ok(text) => run(&text, &path, ex, macros, loader, depth + 1, nest),
                Err(e) => {
                    // pushfile's warn(3), then the parser's message
                    let why = match e.raw_os_error() {
                        Some(n) => table::strerror(n),
                        None if e.kind() == std::io::ErrorKind::NotFound => {
                            "No such file or directory".to_string()
                        }
                        None => e.to_string(),
                    };
                    ex.errors
                        .push(ConfError::global(format!("pushfile: {path}: {why}")));
                    ex.errors.push(ConfError::new(
                        file,
                        line,
                        format!("failed to include file {path}"),
                    ));
                }
            }
        }
    }
    // A semantic error pfctl reports from a grammar action (YYERROR) puts
    // its parser into recovery as a syntax error does; those of the rule
    // expansion do not.
    let new: Vec<&ConfError> = ex.errors[errors_before..]
        .iter()
        .filter(|e| !e.warning)
        .collect();
    if !new.is_empty()
        && !new.iter().any(|e| {
            e.message == "rule expands to no valid combination"
                || e.message == "skipping rule due to errors"
        })
    {
        ex.errflag = 2;
        return recovered(None);
    }
    let tokens = lexed.starts.len() as u32 + 1;
    ex.errflag = ex.errflag.saturating_sub(tokens);
    Outcome::default()
}

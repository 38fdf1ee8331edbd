//! `table <name> [persist] [const] [counters] [{ ... }] [file "path"] ...`
//! and the addresses of `pfctl -T`, as pfctl's `tabledef`, `table_opts`
//! and `process_tabledef` (parse.y) and `append_addr` / `host()`
//! (pfctl_parser.c) take them: flags checked, hosts resolved (interfaces
//! and groups give their addresses, names are looked up, `self` is every
//! local address), elements that cannot be in a table refused, files
//! loaded (`tablefile.rs`), the definition recorded as `Directive::Table`.
//!
//! Error order follows pfctl's parser: a host that does not resolve stops
//! the statement at once; the checks of a `{ }` list run when it closes;
//! an unknown flag when it is read; the name length, then files and
//! address-buffer checks (in option order) once the statement is complete.
//! Defining a table twice is not an error: pfctl -n does not check, and on
//! load pf's table transaction lets the later definition replace the
//! earlier one (`Ruleset::table` returns the last).

use super::hosts::HostNode;
use super::{bare_text, Expander, Res};
use crate::addr::IpNet;
use crate::conf::ast::{HostItem, TableAst, TableOptAst};
use crate::conf::error::ConfError;
use crate::conf::resolver::Resolver;
use crate::conf::tablefile::{load_table_file, parse_table_data, read_file, LoadError};
use crate::errno::{strerror, EINVAL};
use crate::ruleset::{
    AddrKind, Directive, TableDef, TableEntry, TableFlags, TableInit, TABLE_NAME_MAX,
};
use std::net::IpAddr;

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

impl Expander<'_> {
    /// `table <name> ...`: checks and resolves the definition and records it
    /// (`line` is the statement's last line, where pfctl reports what it
    /// checks once the statement is complete).
    pub fn table(&mut self, t: &TableAst, file: &str, line: u32) {
        let mut flags = TableFlags::default();
        let mut init: Vec<Init> = vec![];
        let mut init_addr = false;
        let mut weighted = false;
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
                            weighted |= w.parse::<u64>().is_ok_and(|w| w != 1);
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
                    weighted |= r == Ok(true);
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
            weighted,
            nested: false,
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
    resolver: &dyn Resolver,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::print::table::print_tabledef;
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
}

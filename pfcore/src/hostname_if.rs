//! hostname.if(5): the `/etc/hostname.<if>` files, read the way OpenBSD's
//! `/etc/netstart` reads them (`parse_hn_line`, netstart 1.229), plus the
//! order in which netstart brings interfaces up.
//!
//! # How netstart reads a file (and what we copy)
//!
//! Each line goes through four steps; we keep them in that order because
//! the packed formats are recognised *before* quotes are understood:
//!
//! 1. `read` (no `-r`): a backslash at the end of a line continues it on the
//!    next one; any other backslash is dropped and the character after it
//!    kept (so `\$if` becomes `$if`).
//! 2. Word splitting on blanks. A line whose first word starts with `#`, or
//!    that has no words, is skipped.
//! 3. The packed formats are unpacked by position:
//!    * `inet [alias] ADDR [MASK [BCAST]] [options]` →
//!      `inet [alias] ADDR netmask MASK broadcast BCAST options`; a BCAST
//!      ending in `NONE` is dropped (`inet A 255.255.255.255 NONE`);
//!      `inet autoconf` is left alone.
//!    * `inet6 [alias] ADDR [PREFIXLEN] [options]` →
//!      `inet6 [alias] ADDR prefixlen PREFIXLEN options`; `inet6 autoconf`
//!      is left alone.
//!    * `dest ADDR` appends ADDR after the address of the previous line.
//!    * `dhcp [options]` → `inet autoconf [options]` (netstart ≥ 2022; it
//!      drops the options, we keep them).
//!    * `!command` → a shell command, with every `$if` replaced by the
//!      interface name (after step 1, so `\$if` works too).
//!    * anything else (`up`, `down`, `description "..."`, `vhid 1 ...`,
//!      `syncdev em2`) goes to ifconfig as it is.
//! 4. The command is run through `eval`, so double and single quotes group
//!    words (`description "name server 1"` is one argument) and a word
//!    starting with `#` starts a comment.
//!
//! # Deliberate differences
//!
//! * Comments are cut (quote-aware) *before* step 3. netstart cuts them only
//!   at `eval`, after the unpacking, so `inet 10.0.0.1 255.255.255.0 # lan`
//!   becomes `... broadcast` with no value and fails there; here it works.
//! * An address written with a prefix (`inet 10.0.0.1/24 up`,
//!   `inet6 2001:db8::1/64 up`) is not followed by a mask/prefixlen, so the
//!   next words are not turned into `netmask up`; netstart would, and
//!   ifconfig would then fail.
//! * netstart silently ignores `inet`/`inet6` alone, a `dest` line with
//!   the wrong number of words or with nothing before it; here they are
//!   errors, reported as `hostname.<if>:<line>: message`.
//! * Shell syntax that `eval` would act on (`;`, `&`, `|`, `<`, `>`,
//!   backquotes) is refused in ifconfig lines (use a `!` line), and `$word`
//!   is left as it is (the shell would expand it, usually to nothing).
//! * `rtsol [options]` (gone from netstart in 2017) is still understood,
//!   the old way: `options up`, then `inet6 autoconf`.
//! * A trailing carriage return on a line is ignored.
//! * `dhcp` is kept as `inet autoconf`; [`crate::ifconfig::parse_args`]
//!   refuses it for carp and pfsync interfaces, real interfaces are the
//!   netstart binary's business.
//!
//! The lines of a carp or pfsync file feed [`crate::ifconfig::parse_args`]
//! directly: the unpacked `inet A netmask M broadcast B ...` is plain
//! ifconfig syntax.

use std::cmp::Ordering;
use std::fmt;

/// One command netstart would run for a line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostnameLine {
    /// `ifconfig <if> ARGS...` (the interface name is not included).
    Ifconfig(Vec<String>),
    /// A `!` line: a shell command, `$if` already replaced.
    Command(String),
}

/// A line netstart (or ifconfig after it) could not make sense of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostnameError {
    /// The interface the file belongs to (`carp1` for hostname.carp1).
    pub ifname: String,
    /// 1-based line number (the first line of a continued line).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for HostnameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hostname.{}:{}: {}",
            self.ifname, self.line, self.message
        )
    }
}

impl std::error::Error for HostnameError {}

/// Step 1: `read` without `-r`. Joins continued lines and drops escaping
/// backslashes. Returns (first line number, processed text) pairs.
fn read_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut continuing = false;
    for (idx, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if !continuing {
            start = idx + 1;
            cur.clear();
        }
        continuing = false;
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => continuing = true, // backslash-newline
                }
            } else {
                cur.push(c);
            }
        }
        if !continuing {
            out.push((start, std::mem::take(&mut cur)));
        }
    }
    if continuing && !cur.is_empty() {
        out.push((start, cur));
    }
    // A file ending in '\n' yields a last empty "line"; harmless (skipped).
    out
}

/// Cut a comment: an unquoted `#` at the start of a word ends the line.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_blank = true;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            prev_blank = false;
            continue;
        }
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                }
            }
            None => {
                if c == '#' && prev_blank {
                    return &line[..i];
                }
                if c == '"' || c == '\'' {
                    quote = Some(c);
                } else if c == '\\' {
                    escaped = true;
                }
            }
        }
        prev_blank = quote.is_none() && (c == ' ' || c == '\t');
    }
    line
}

/// Step 2: split on blanks (the shell's default IFS).
fn split_blanks(line: &str) -> Vec<String> {
    line.split([' ', '\t', '\n'])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Step 4: the quoting part of `eval`. Double and single quotes, backslash
/// escapes, `#` comments; refuses the rest of the shell language.
fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err("unterminated quoted string".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some(&n) if matches!(n, '"' | '\\' | '$' | '`') => {
                                cur.push(n);
                                chars.next();
                            }
                            _ => cur.push('\\'),
                        },
                        Some('`') => {
                            return Err(
                                "command substitution is not supported here; use a ! line".into()
                            )
                        }
                        Some(n) => cur.push(n),
                        None => return Err("unterminated quoted string".into()),
                    }
                }
            }
            ';' | '&' | '|' | '<' | '>' | '`' | '(' | ')' => {
                return Err(format!(
                    "shell syntax '{c}' is not supported in ifconfig lines; use a ! line"
                ));
            }
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Step 3 for `inet` / `inet6`: insert `netmask`/`broadcast`/`prefixlen`.
fn unpack_address(w: &[String], inet6: bool) -> Vec<String> {
    let alias = w.get(1).is_some_and(|x| x == "alias");
    let addr_idx = if alias { 2 } else { 1 };
    let mut out: Vec<String> = Vec::with_capacity(w.len() + 2);
    if w.get(addr_idx).is_some_and(|a| a.contains('/')) {
        // Prefix given with the address: nothing to unpack (see module docs).
        return w.to_vec();
    }
    let first_opt = addr_idx + 1; // MASK or PREFIXLEN
    for (i, word) in w.iter().enumerate() {
        if i == first_opt {
            out.push(if inet6 { "prefixlen" } else { "netmask" }.to_string());
            out.push(word.clone());
        } else if i == first_opt + 1 && !inet6 {
            if !word.ends_with("NONE") {
                out.push("broadcast".to_string());
                out.push(word.clone());
            }
        } else {
            out.push(word.clone());
        }
    }
    out
}

fn is_blank_or_comment(words: &[String]) -> bool {
    match words.first() {
        None => true,
        Some(w) => w.starts_with('#'),
    }
}

/// Parse a hostname.if(5) file for interface `ifname` into the commands
/// netstart would run, in order.
pub fn parse(text: &str, ifname: &str) -> Result<Vec<HostnameLine>, HostnameError> {
    let mut out: Vec<HostnameLine> = Vec::new();
    let fail = |line: usize, message: String| HostnameError {
        ifname: ifname.to_string(),
        line,
        message,
    };
    for (lineno, raw) in read_lines(text) {
        let words = split_blanks(&raw);
        if is_blank_or_comment(&words) {
            continue;
        }
        if words[0].starts_with('!') {
            let cmd = split_blanks(strip_comment(&raw)).join(" ");
            let cmd = cmd.replace("$if", ifname);
            let cmd = cmd.strip_prefix('!').unwrap_or(&cmd).trim().to_string();
            if cmd.is_empty() {
                return Err(fail(lineno, "!: empty command".into()));
            }
            out.push(HostnameLine::Command(cmd));
            continue;
        }
        let words = split_blanks(strip_comment(&raw));
        if words.is_empty() {
            continue;
        }
        let eval = |w: Vec<String>| -> Result<Vec<String>, HostnameError> {
            shell_words(&w.join(" ")).map_err(|m| fail(lineno, m))
        };
        match words[0].as_str() {
            kw @ ("inet" | "inet6") => {
                if words.len() == 1 {
                    return Err(fail(lineno, format!("{kw}: address required")));
                }
                if words[1] == "autoconf" {
                    out.push(HostnameLine::Ifconfig(eval(words)?));
                } else {
                    if words[1] == "alias" && words.len() == 2 {
                        return Err(fail(lineno, format!("{kw} alias: address required")));
                    }
                    out.push(HostnameLine::Ifconfig(eval(unpack_address(
                        &words,
                        kw == "inet6",
                    ))?));
                }
            }
            "dest" => {
                if words.len() != 2 {
                    return Err(fail(
                        lineno,
                        "dest: expected exactly one destination address".into(),
                    ));
                }
                let dest = eval(vec![words[1].clone()])?;
                match out.last_mut() {
                    Some(HostnameLine::Ifconfig(args)) => {
                        let at = if args.get(1).is_some_and(|a| a == "alias") {
                            3
                        } else {
                            2
                        };
                        let at = at.min(args.len());
                        for (k, d) in dest.into_iter().enumerate() {
                            args.insert(at + k, d);
                        }
                    }
                    Some(HostnameLine::Command(_)) => {
                        return Err(fail(
                            lineno,
                            "dest: the previous line is a ! command".into(),
                        ))
                    }
                    None => return Err(fail(lineno, "dest: no address line before it".into())),
                }
            }
            "dhcp" => {
                let mut w = vec!["inet".to_string(), "autoconf".to_string()];
                w.extend(words[1..].iter().cloned());
                out.push(HostnameLine::Ifconfig(eval(w)?));
            }
            "rtsol" => {
                let mut w: Vec<String> = words[1..].to_vec();
                w.push("up".to_string());
                out.push(HostnameLine::Ifconfig(eval(w)?));
                out.push(HostnameLine::Ifconfig(vec![
                    "inet6".into(),
                    "autoconf".into(),
                ]));
            }
            _ => out.push(HostnameLine::Ifconfig(eval(words)?)),
        }
    }
    Ok(out)
}

/// netstart's test for a configurable name: OpenBSD's is
/// `+([[:alpha:]])+([[:digit:]])` (`em0`, `carp10`); Linux names also carry
/// `_`, `-`, inner digits (`enp1s0`) and a `.N` VLAN suffix (`eth0.100`).
/// A name must start with a letter, end with a digit, fit in 15 bytes, and
/// anything after a dot must be digits, so backups such as `em0.bak`,
/// `em1.orig` or `carp1~` are never taken for interfaces.
pub fn is_valid_ifname(name: &str) -> bool {
    let b = name.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    if b.len() > 15 || !first.is_ascii_alphabetic() || !last.is_ascii_digit() {
        return false;
    }
    let (base, vlan) = match name.split_once('.') {
        Some((base, v)) => (base, Some(v)),
        None => (name, None),
    };
    base.bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        && vlan.is_none_or(|v| !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()))
}

/// The driver part of a name (`${_if%%[0-9]*}`): `carp` for `carp10`.
fn driver(name: &str) -> &str {
    let end = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    &name[..end]
}

/// Natural order: driver name, then unit number (`carp2` < `carp10`).
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (da, db) = (driver(a), driver(b));
    da.cmp(db).then_with(|| {
        let ua = a[da.len()..].trim_start_matches('0');
        let ub = b[db.len()..].trim_start_matches('0');
        ua.len()
            .cmp(&ub.len())
            .then_with(|| ua.cmp(ub))
            .then_with(|| a.cmp(b))
    })
}

/// Drivers the first pass leaves for later (netstart 1.229's
/// `ifmstart "" "aggr trunk ... wg"`).
const DELAYED: &[&str] = &[
    "aggr", "trunk", "svlan", "vlan", "carp", "pppoe", "tun", "tap", "gif", "etherip", "gre",
    "egre", "nvgre", "eoip", "vxlan", "pflow", "wg",
];
/// Second pass, before the default route: link aggregation, then VLANs on
/// top of it, then carp on top of those.
const SECOND_PASS: &[&str] = &["aggr", "trunk", "svlan", "vlan", "carp", "pppoe"];
/// Third pass, after the default route: tunnels and pflow.
const THIRD_PASS: &[&str] = &[
    "tun", "tap", "gif", "etherip", "gre", "egre", "nvgre", "eoip", "vxlan", "pflow", "wg",
];

/// The order in which netstart (called without arguments, as at boot)
/// configures the interfaces that have a hostname.if file:
///
/// 1. every interface not listed below (physical ones, lo, bridge, veb...);
/// 2. `aggr trunk svlan vlan carp pppoe`, one driver after the other;
///    (the default route is added here)
/// 3. `tun tap gif etherip gre egre nvgre eoip vxlan pflow wg`;
/// 4. `pfsync` last: rc(8) loads pf.conf and then runs
///    `sh /etc/netstart pfsync0` (netstart 1.180 kept pfsync out of its own
///    passes entirely; 1.229 also starts it in pass 1, before pf.conf is
///    loaded, which we do not copy).
///
/// Within a pass names are in natural order (`carp2` before `carp10`;
/// netstart's glob would sort them as text). Names netstart would skip
/// (not letters followed by digits) are dropped, duplicates too.
pub fn interface_order(names: &[String]) -> Vec<String> {
    let mut valid: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| is_valid_ifname(n))
        .collect();
    valid.sort_by(|a, b| natural_cmp(a, b));
    valid.dedup();
    let mut out: Vec<String> = valid
        .iter()
        .filter(|n| {
            let d = driver(n);
            !DELAYED.contains(&d) && d != "pfsync"
        })
        .map(|n| n.to_string())
        .collect();
    for pass in [SECOND_PASS, THIRD_PASS, &["pfsync"][..]] {
        for d in pass {
            out.extend(
                valid
                    .iter()
                    .filter(|n| driver(n) == *d)
                    .map(|n| n.to_string()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    /// An ifconfig line from its words.
    fn ifc(words: &str) -> HostnameLine {
        HostnameLine::Ifconfig(words.split_whitespace().map(String::from).collect())
    }

    #[test]
    fn seed_carp_lines() {
        let text = "inet 192.0.2.1 255.255.255.0 192.0.2.255 vhid 1 carpdev hvn3 pass hvn3pass\n";
        assert_eq!(
            parse(text, "carp1").unwrap(),
            vec![ifc("inet 192.0.2.1 netmask 255.255.255.0 broadcast 192.0.2.255 vhid 1 carpdev hvn3 pass hvn3pass")]
        );
        let text =
            "inet 192.0.2.1 255.255.255.0 192.0.2.255 vhid 1 carpdev hvn3 pass hvn3pass advskew 128";
        assert_eq!(
            parse(text, "carp1").unwrap(),
            vec![ifc("inet 192.0.2.1 netmask 255.255.255.0 broadcast 192.0.2.255 vhid 1 carpdev hvn3 pass hvn3pass advskew 128")]
        );
        // trailing blank, as in the seed's hostname.carp2
        let text =
            "inet 192.168.99.254 255.255.255.0 192.168.99.255 vhid 1 carpdev hvn4 pass hvn4pass \n";
        assert_eq!(
            parse(text, "carp2").unwrap(),
            vec![ifc("inet 192.168.99.254 netmask 255.255.255.0 broadcast 192.168.99.255 vhid 1 carpdev hvn4 pass hvn4pass")]
        );
    }

    #[test]
    fn seed_pfsync_and_physical_lines() {
        assert_eq!(
            parse("up syncdev hvn2\n", "pfsync0").unwrap(),
            vec![ifc("up syncdev hvn2")]
        );
        assert_eq!(
            parse("inet 169.254.0.1 255.255.255.254\n", "hvn2").unwrap(),
            vec![ifc("inet 169.254.0.1 netmask 255.255.255.254")]
        );
        assert_eq!(
            parse("inet 192.0.2.10 255.255.255.0\n", "hvn3").unwrap(),
            vec![ifc("inet 192.0.2.10 netmask 255.255.255.0")]
        );
    }

    #[test]
    fn seed_description_quotes() {
        // Seed 001's hostname.carp1 (its addresses were lost in scraping).
        let text = "inet vhid 132 carpdev vr0 pass vhid132passwd advskew 128 description \"name server 1\"\n";
        // netstart unpacks by position, whatever the words are:
        assert_eq!(
            parse(text, "carp1").unwrap(),
            vec![HostnameLine::Ifconfig(s(&[
                "inet",
                "vhid",
                "netmask",
                "132",
                "broadcast",
                "carpdev",
                "vr0",
                "pass",
                "vhid132passwd",
                "advskew",
                "128",
                "description",
                "name server 1"
            ]))]
        );
        let text =
            "vhid 133 carpdev vr0 pass vhid133passwd advskew 128 description \"name server 2\"";
        assert_eq!(
            parse(text, "carp2").unwrap(),
            vec![HostnameLine::Ifconfig(s(&[
                "vhid",
                "133",
                "carpdev",
                "vr0",
                "pass",
                "vhid133passwd",
                "advskew",
                "128",
                "description",
                "name server 2"
            ]))]
        );
    }

    #[test]
    fn man_page_examples() {
        let text = "\
media 100baseTX description Uplink
inet 10.0.1.12 255.255.255.0 10.0.1.255
inet alias 10.0.1.13 255.255.255.255 10.0.1.13
inet alias 10.0.1.14 255.255.255.255 NONE
inet alias 10.0.1.15 255.255.255.255
inet alias 10.0.1.16 0xffffffff
# This is an example comment line.
inet6 alias fec0::1 64
inet6 alias fec0::2 64 anycast
!route add 65.65.65.65 10.0.1.13
up
";
        assert_eq!(
            parse(text, "fxp0").unwrap(),
            vec![
                ifc("media 100baseTX description Uplink"),
                ifc("inet 10.0.1.12 netmask 255.255.255.0 broadcast 10.0.1.255"),
                ifc("inet alias 10.0.1.13 netmask 255.255.255.255 broadcast 10.0.1.13"),
                ifc("inet alias 10.0.1.14 netmask 255.255.255.255"),
                ifc("inet alias 10.0.1.15 netmask 255.255.255.255"),
                ifc("inet alias 10.0.1.16 netmask 0xffffffff"),
                ifc("inet6 alias fec0::1 prefixlen 64"),
                ifc("inet6 alias fec0::2 prefixlen 64 anycast"),
                HostnameLine::Command("route add 65.65.65.65 10.0.1.13".into()),
                ifc("up"),
            ]
        );
        assert_eq!(
            parse(
                "inet 10.0.0.1 255.255.255.0 10.0.0.255 description \"Bob's uplink\"",
                "em0"
            )
            .unwrap(),
            vec![HostnameLine::Ifconfig(s(&[
                "inet",
                "10.0.0.1",
                "netmask",
                "255.255.255.0",
                "broadcast",
                "10.0.0.255",
                "description",
                "Bob's uplink"
            ]))]
        );
    }

    #[test]
    fn commands_and_if_substitution() {
        assert_eq!(
            parse("!wicontrol \\$if -t 2  # Set to 2Mbps\n", "wi0").unwrap(),
            vec![HostnameLine::Command("wicontrol wi0 -t 2".into())]
        );
        assert_eq!(
            parse("!route add -host 10.0.0.2 -iface $if\n", "carp1").unwrap(),
            vec![HostnameLine::Command(
                "route add -host 10.0.0.2 -iface carp1".into()
            )]
        );
        assert_eq!(
            parse("! echo $if $if\n", "em0").unwrap(),
            vec![HostnameLine::Command("echo em0 em0".into())]
        );
        let e = parse("!\n", "em0").unwrap_err();
        assert_eq!(e.to_string(), "hostname.em0:1: !: empty command");
    }

    #[test]
    fn blank_and_comment_lines() {
        let text = "\n   \n# comment\n\t# indented comment\nup # bring it up\n\n";
        assert_eq!(parse(text, "em0").unwrap(), vec![ifc("up")]);
        assert_eq!(parse("", "em0").unwrap(), vec![]);
        // '#' inside a word or inside quotes is not a comment
        assert_eq!(
            parse("description \"rack #3\" group a#b\n", "em0").unwrap(),
            vec![HostnameLine::Ifconfig(s(&[
                "description",
                "rack #3",
                "group",
                "a#b"
            ]))]
        );
        // comment cut before unpacking (netstart would fail on this one)
        assert_eq!(
            parse("inet 10.0.0.1 255.255.255.0 # lan\n", "em0").unwrap(),
            vec![ifc("inet 10.0.0.1 netmask 255.255.255.0")]
        );
    }

    #[test]
    fn inet_forms() {
        assert_eq!(
            parse("inet 10.0.0.1/24\n", "em0").unwrap(),
            vec![ifc("inet 10.0.0.1/24")]
        );
        assert_eq!(
            parse("inet 10.0.0.1/24 description lan up\n", "em0").unwrap(),
            vec![ifc("inet 10.0.0.1/24 description lan up")]
        );
        assert_eq!(
            parse("inet alias 10.0.0.2/32\n", "em0").unwrap(),
            vec![ifc("inet alias 10.0.0.2/32")]
        );
        assert_eq!(
            parse("inet 10.0.0.1\n", "em0").unwrap(),
            vec![ifc("inet 10.0.0.1")]
        );
        assert_eq!(
            parse("inet 10.0.0.1 NONE\n", "em0").unwrap(),
            vec![ifc("inet 10.0.0.1 netmask NONE")]
        );
        assert_eq!(
            parse("inet autoconf\n", "em0").unwrap(),
            vec![ifc("inet autoconf")]
        );
        let e = parse("up\ninet\n", "em0").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.to_string(), "hostname.em0:2: inet: address required");
        assert!(parse("inet alias\n", "em0").is_err());
    }

    #[test]
    fn inet6_forms() {
        assert_eq!(
            parse("inet6 2001:db8::1 64\n", "em0").unwrap(),
            vec![ifc("inet6 2001:db8::1 prefixlen 64")]
        );
        assert_eq!(
            parse("inet6 2001:db8::1/64 up\n", "em0").unwrap(),
            vec![ifc("inet6 2001:db8::1/64 up")]
        );
        assert_eq!(
            parse("inet6 2001:db8::1\n", "em0").unwrap(),
            vec![ifc("inet6 2001:db8::1")]
        );
        assert_eq!(
            parse("inet6 autoconf\n", "em0").unwrap(),
            vec![ifc("inet6 autoconf")]
        );
        assert_eq!(
            parse("inet6 autoconf -temporary\n", "em0").unwrap(),
            vec![ifc("inet6 autoconf -temporary")]
        );
        assert!(parse("inet6\n", "em0").is_err());
    }

    #[test]
    fn dest_dhcp_rtsol() {
        assert_eq!(
            parse("inet 10.0.0.1 255.255.255.255\ndest 10.0.0.2\n", "gif0").unwrap(),
            vec![ifc("inet 10.0.0.1 10.0.0.2 netmask 255.255.255.255")]
        );
        assert_eq!(
            parse("inet alias 10.0.0.1\ndest 10.0.0.2\n", "gif0").unwrap(),
            vec![ifc("inet alias 10.0.0.1 10.0.0.2")]
        );
        assert_eq!(parse("dest 10.0.0.2\n", "gif0").unwrap_err().line, 1);
        assert!(parse("!true\ndest 10.0.0.2\n", "gif0").is_err());
        assert!(parse("inet 10.0.0.1\ndest\n", "gif0").is_err());
        assert_eq!(parse("dhcp\n", "em0").unwrap(), vec![ifc("inet autoconf")]);
        assert_eq!(
            parse("dhcp media 100baseTX\n", "em0").unwrap(),
            vec![ifc("inet autoconf media 100baseTX")]
        );
        assert_eq!(
            parse("rtsol\n", "em0").unwrap(),
            vec![ifc("up"), ifc("inet6 autoconf")]
        );
        assert_eq!(
            parse("rtsol media auto\n", "em0").unwrap(),
            vec![ifc("media auto up"), ifc("inet6 autoconf")]
        );
    }

    #[test]
    fn quoting_and_backslashes() {
        assert_eq!(
            parse("description 'single quoted'\n", "em0").unwrap(),
            vec![HostnameLine::Ifconfig(s(&["description", "single quoted"]))]
        );
        // like netstart: word splitting happens before the quotes are read,
        // so runs of blanks inside quotes become one blank
        assert_eq!(
            parse("description \"a   b\"\n", "em0").unwrap(),
            vec![HostnameLine::Ifconfig(s(&["description", "a b"]))]
        );
        assert_eq!(
            parse("description \"\"\n", "em0").unwrap(),
            vec![HostnameLine::Ifconfig(s(&["description", ""]))]
        );
        // read(1) eats the backslash: a\ b is two words for netstart too
        assert_eq!(
            parse("description a\\ b\n", "em0").unwrap(),
            vec![ifc("description a b")]
        );
        // continuation line
        let text = "inet 10.0.0.1 255.255.255.0 \\\n  10.0.0.255 up\nup\n";
        let got = parse(text, "em0").unwrap();
        assert_eq!(
            got,
            vec![
                ifc("inet 10.0.0.1 netmask 255.255.255.0 broadcast 10.0.0.255 up"),
                ifc("up")
            ]
        );
        let e = parse("up\ndescription \"open\n", "em0").unwrap_err();
        assert_eq!(e.to_string(), "hostname.em0:2: unterminated quoted string");
        let e = parse("description x; reboot\n", "em0").unwrap_err();
        assert!(e.message.contains("use a ! line"), "{e}");
        // CRLF files
        assert_eq!(
            parse("up syncdev em2\r\n", "pfsync0").unwrap(),
            vec![ifc("up syncdev em2")]
        );
        // $ is left alone
        assert_eq!(
            parse("pass my$ecret\n", "carp1").unwrap(),
            vec![ifc("pass my$ecret")]
        );
    }

    #[test]
    fn error_line_numbers_count_continuations() {
        let text = "up \\\n  down\n\n\"unterminated\n";
        let e = parse(text, "carp3").unwrap_err();
        assert_eq!(e.line, 4);
        assert_eq!(e.ifname, "carp3");
    }

    #[test]
    fn ifname_validity() {
        assert!(is_valid_ifname("em0"));
        assert!(is_valid_ifname("carp10"));
        assert!(!is_valid_ifname("carp"));
        assert!(!is_valid_ifname("0"));
        assert!(!is_valid_ifname("em0.bak"));
        assert!(!is_valid_ifname("*"));
        assert!(!is_valid_ifname(""));
        // Linux names.
        assert!(is_valid_ifname("enp1s0"));
        assert!(is_valid_ifname("eth0.100"));
        assert!(is_valid_ifname("veth_a-1"));
        assert!(!is_valid_ifname("eth0.100x"));
        assert!(!is_valid_ifname("carp1~"));
        assert!(!is_valid_ifname("averyveryverylong0"));
    }

    #[test]
    fn boot_order() {
        let names = s(&[
            "pfsync0", "carp10", "carp2", "vlan100", "em1", "trunk0", "carp1", "hvn2", "gre0",
            "em10", "em2", "wg0", "vlan20", "lo1", "bridge0", "pflow0", "aggr0", "svlan3",
            "em1.orig", "carp", "em2", "tun0", "pppoe0",
        ]);
        assert_eq!(
            interface_order(&names),
            s(&[
                "bridge0", "em1", "em2", "em10", "hvn2", "lo1", // pass 1
                "aggr0", "trunk0", "svlan3", "vlan20", "vlan100", "carp1", "carp2", "carp10",
                "pppoe0", // pass 2
                "tun0", "gre0", "pflow0", "wg0", // pass 3
                "pfsync0",
            ])
        );
        assert_eq!(interface_order(&[]), Vec::<String>::new());
        assert_eq!(
            interface_order(&s(&["carp02", "carp1", "carp2"])),
            s(&["carp1", "carp02", "carp2"])
        );
    }

    #[test]
    fn seed_order() {
        let names = s(&["hvn2", "hvn3", "hvn4", "carp1", "carp2", "pfsync0"]);
        assert_eq!(interface_order(&names), names);
        let shuffled = s(&["pfsync0", "carp2", "hvn4", "carp1", "hvn3", "hvn2"]);
        assert_eq!(interface_order(&shuffled), names);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parse_never_panics(text in "\\PC*", name in "[a-z]{1,5}[0-9]{0,3}") {
                let _ = parse(&text, &name);
            }

            #[test]
            fn parse_never_panics_on_shellish(
                lines in proptest::collection::vec(
                    "[ \\t]*(inet6?|dest|dhcp|rtsol|!|#|up|alias|NONE|\"|'|\\\\|\\$if|[0-9./:a-f]{0,12}|[ \\t]){0,12}",
                    0..8)
            ) {
                let text = lines.join("\n");
                let _ = parse(&text, "carp1");
            }

            #[test]
            fn order_is_a_permutation_of_valid_names(
                names in proptest::collection::vec("[a-z]{1,6}[0-9]{0,3}", 0..20)
            ) {
                let out = interface_order(&names);
                let mut want: Vec<String> = names.iter().filter(|n| is_valid_ifname(n)).cloned().collect();
                want.sort();
                want.dedup();
                let mut got = out.clone();
                got.sort();
                prop_assert_eq!(got, want);
                if let Some(p) = out.iter().position(|n| n.starts_with("pfsync")) {
                    prop_assert!(out[p..].iter().all(|n| driver(n) == "pfsync"));
                }
            }
        }
    }
}

//! pfctl's table commands (OpenBSD's pfctl_table.c): `-t NAME -T
//! add|delete|replace|show|test|flush|expire|zero|kill`, `-s Tables`
//! (`-v`: flags, `-vv`: statistics) and `-F Tables`, in anchors with
//! `-a`, with pfctl's messages, output formats and exit statuses. The
//! requests go to pfd (see `ioctl`); `pfctl -n` makes them dummies that
//! change nothing (pfctl's `(dummy)`), or, without pfd, checks only the
//! syntax.

use crate::engine::table::{fb, tflag, AddrChange, AddrInfo, TableInfo, OP_PASS};
use crate::ioctl::client::Client;
use crate::ioctl::{AddrOp, Error, Reply, Request, ADDRS_PER_FRAME};
use crate::ruleset::TableEntry;
use crate::sys::time::ctime;
use std::io::Write;

/// The commands `-T` takes, matched by prefix as pfctl does.
pub const COMMANDS: &[&str] = &[
    "kill", "flush", "add", "delete", "replace", "show", "test", "zero", "expire", "load",
];

/// What the command line says besides the command.
#[derive(Debug, Clone, Default)]
pub struct Opts {
    /// `-v` count.
    pub verbose: u8,
    /// `-q`
    pub quiet: bool,
    /// `-n`: with pfd, dummy operations; without, syntax only.
    pub noaction: bool,
    /// `-a`, without a trailing `*`.
    pub anchor: String,
    /// `-a x/*` or `-a '*'`: every anchor below.
    pub recurse: bool,
    /// `-g`: inactive tables too.
    pub debug: bool,
}

/// pfctl's `pf_strerror` for what pfd answered.
pub fn pf_strerror(e: &Error) -> String {
    match e {
        Error::Daemon { errno, message } => match *errno {
            libc::ESRCH => "Table does not exist".into(),
            libc::EINVAL | libc::ENOENT => "Anchor does not exist".into(),
            _ => message.clone(),
        },
        other => other.to_string(),
    }
}

/// pfctl's `xprintf`: a message on stderr, ending as pfctl's do.
fn xprintf(o: &Opts, dummy: bool, err: &mut dyn Write, msg: &str) {
    if o.quiet {
        return;
    }
    let end = if dummy {
        " (dummy).\n"
    } else if o.noaction {
        " (syntax only).\n"
    } else {
        ".\n"
    };
    let _ = write!(err, "{msg}{end}");
}

fn addr_text(e: &TableEntry) -> String {
    let host = e.net.af().max_prefix();
    if e.net.prefix < host {
        format!("{}/{}", e.net.addr, e.net.prefix)
    } else {
        e.net.addr.to_string()
    }
}

/// pfctl's `print_addrx`: feedback character, negation, address; with a
/// result (`-T test -vv`), what the address matched.
pub fn print_addrx(ad: &TableEntry, fback: u8, rad: Option<&TableEntry>) -> String {
    const FB: [char; 10] = [' ', 'M', 'A', 'D', 'C', 'Z', 'X', ' ', 'Y', ' '];
    let ch = FB.get(fback as usize).copied().unwrap_or('?');
    let mut s = format!("{ch} {}{}", if ad.neg { '!' } else { ' ' }, addr_text(ad));
    if let Some(r) = rad {
        if fback != fb::NONE {
            s.push_str(&format!(
                "\t{}{}",
                if r.neg { '!' } else { ' ' },
                addr_text(r)
            ));
        } else {
            s.push_str("\t nomatch");
        }
    }
    s.push('\n');
    s
}

const STATS_TEXT: [[&str; 4]; 2] = [
    ["In/Block:", "In/Match:", "In/Pass:", "In/XPass:"],
    ["Out/Block:", "Out/Match:", "Out/Pass:", "Out/XPass:"],
];

fn stats_line(label: &str, packets: u64, bytes: u64) -> String {
    format!("\t{label:<12} [ Packets: {packets:<18} Bytes: {bytes:<18} ]\n")
}

/// pfctl's `print_astats` (`-T show -v`).
pub fn print_astats(a: &AddrInfo) -> String {
    let mut s = print_addrx(&a.entry, a.fback, None);
    s.push_str(&format!("\tCleared:     {}", ctime(a.tzero)));
    let Some(c) = a.counters else { return s };
    if a.fback == fb::NOCOUNT {
        return s;
    }
    for (dir, labels) in STATS_TEXT.iter().enumerate() {
        for (op, label) in labels.iter().enumerate().take(OP_PASS + 1) {
            s.push_str(&stats_line(label, c.packets[dir][op], c.bytes[dir][op]));
        }
    }
    s
}

/// pfctl's `print_table` (`-s Tables`, `-v`: the flags column).
pub fn print_table(t: &TableInfo, verbose: bool, debug: bool) -> String {
    if !debug && t.flags & tflag::ACTIVE == 0 {
        return String::new();
    }
    let mut s = String::new();
    if verbose {
        let f = |bit: u32, c: char| if t.flags & bit != 0 { c } else { '-' };
        s.push(f(tflag::CONST, 'c'));
        s.push(f(tflag::PERSIST, 'p'));
        s.push(f(tflag::ACTIVE, 'a'));
        s.push(f(tflag::INACTIVE, 'i'));
        s.push(f(tflag::REFERENCED, 'r'));
        s.push(f(tflag::REFDANCHOR, 'h'));
        s.push(f(tflag::COUNTERS, 'C'));
        s.push('\t');
    }
    s.push_str(&t.name);
    if !t.anchor.is_empty() {
        s.push('@');
        s.push_str(&t.anchor);
    }
    s.push('\n');
    s
}

/// pfctl's `print_tstats` (`-vvs Tables`).
pub fn print_tstats(t: &TableInfo, debug: bool) -> String {
    if !debug && t.flags & tflag::ACTIVE == 0 {
        return String::new();
    }
    let mut s = print_table(t, true, debug);
    s.push_str(&format!("\tAddresses:   {}\n", t.count));
    s.push_str(&format!("\tCleared:     {}", ctime(t.tzero)));
    s.push_str(&format!(
        "\tReferences:  [ Anchors: {:<18} Rules: {:<18} ]\n",
        t.refs[0], t.refs[1]
    ));
    s.push_str(&format!(
        "\tEvaluations: [ NoMatch: {:<18} Match: {:<18} ]\n",
        t.nomatch, t.matched
    ));
    for (dir, labels) in STATS_TEXT.iter().enumerate() {
        for (op, label) in labels.iter().enumerate() {
            s.push_str(&stats_line(label, t.packets[dir][op], t.bytes[dir][op]));
        }
    }
    s
}

// ---------------------------------------------------------------- requests

fn unexpected(r: Reply) -> Error {
    Error::Protocol(format!("unexpected reply {r:?}"))
}

fn count(c: &mut Client, req: &Request) -> Result<u64, Error> {
    match c.call(req)? {
        Reply::Count(n) => Ok(n),
        other => Err(unexpected(other)),
    }
}

/// DIOCRGETTSTATS.
pub fn get_tables(c: &mut Client, anchor: Option<&str>) -> Result<Vec<TableInfo>, Error> {
    match c.call(&Request::GetTables {
        anchor: anchor.map(str::to_string),
    })? {
        Reply::Tables(v) => Ok(v),
        other => Err(unexpected(other)),
    }
}

fn read_addrs(c: &mut Client) -> Result<Vec<AddrInfo>, Error> {
    let mut all = vec![];
    loop {
        match c.recv()? {
            Reply::Addrs(mut v) => all.append(&mut v),
            Reply::Done => return Ok(all),
            other => return Err(unexpected(other)),
        }
    }
}

/// DIOCRGETASTATS.
pub fn get_astats(c: &mut Client, anchor: &str, name: &str) -> Result<Vec<AddrInfo>, Error> {
    c.send(&Request::GetAstats {
        anchor: anchor.into(),
        name: name.into(),
    })?;
    read_addrs(c)
}

/// An address operation, its addresses sent in chunks.
pub fn addr_op(
    c: &mut Client,
    op: AddrOp,
    anchor: &str,
    name: &str,
    dummy: bool,
    feedback: bool,
    addrs: &[TableEntry],
) -> Result<(AddrChange, Vec<AddrInfo>), Error> {
    let mut chunks = addrs.chunks(ADDRS_PER_FRAME);
    let first = chunks.next().unwrap_or(&[]);
    let mut rest = chunks.peekable();
    c.send(&Request::TableAddrs {
        op,
        anchor: anchor.into(),
        name: name.into(),
        dummy,
        feedback,
        addrs: first.to_vec(),
        more: rest.peek().is_some(),
    })?;
    while let Some(chunk) = rest.next() {
        match c.recv()? {
            Reply::Ok => {}
            other => return Err(unexpected(other)),
        }
        c.send(&Request::MoreAddrs {
            addrs: chunk.to_vec(),
            more: rest.peek().is_some(),
        })?;
    }
    let change = match c.recv()? {
        Reply::AddrChange(ch) => ch,
        other => return Err(unexpected(other)),
    };
    let fback = if feedback { read_addrs(c)? } else { vec![] };
    Ok((change, fback))
}

// ---------------------------------------------------------------- commands

/// Where the output goes.
pub struct Out<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// Reports a failed request like pfctl's RVTEST: the exit status is -1
/// (255).
fn failed(out: &mut Out, e: &Error) -> i32 {
    let _ = writeln!(out.err, "pfctl: {}", pf_strerror(e));
    -1
}

/// pfctl's `warn_duplicate_tables`.
fn warn_duplicates(c: &mut Client, name: &str, anchor: &str, out: &mut Out) {
    let Ok(all) = get_tables(c, None) else { return };
    for t in all {
        if t.flags & tflag::ACTIVE == 0 || t.anchor == anchor || t.name != name {
            continue;
        }
        let _ = writeln!(
            out.err,
            "pfctl: warning: table <{name}> already defined in anchor \"{}\"",
            if t.anchor.is_empty() { "/" } else { &t.anchor }
        );
    }
}

/// pfctl's CREATE_TABLE: `-T add` and `-T replace` create the table
/// (persistent) when it does not exist. Ok(true) to stop here (`-n`).
fn create_table(
    c: &mut Option<&mut Client>,
    name: &str,
    o: &Opts,
    out: &mut Out,
) -> Result<bool, i32> {
    let Some(cl) = c.as_deref_mut() else {
        return Ok(false);
    };
    warn_duplicates(cl, name, &o.anchor, out);
    let n = match count(
        cl,
        &Request::AddTable {
            anchor: o.anchor.clone(),
            name: name.into(),
            dummy: o.noaction,
        },
    ) {
        Ok(n) => n,
        Err(Error::Daemon { errno, .. }) if errno == libc::EPERM => 0,
        Err(e) => return Err(failed(out, &e)),
    };
    if n > 0 {
        xprintf(o, o.noaction, out.err, &format!("{n} table created"));
        if o.noaction {
            return Ok(true);
        }
    }
    Ok(false)
}

fn usage_error(out: &mut Out) -> i32 {
    let _ = out.err.write_all(USAGE.as_bytes());
    1
}

/// OpenBSD pfctl's usage message.
pub const USAGE: &str =
    "usage: pfctl [-deghNnPqrvz] [-a anchor] [-D macro=value] [-F modifier] [-f file]
	[-i interface] [-K key] [-k key] [-L statefile] [-o level]
	[-p device] [-S statefile] [-s modifier [-R id]]
	[-t table -T command [address ...]] [-V rdomain] [-x level]
";

/// One table command: `-t NAME -T CMD [ARGS...] [-f FILE]`.
#[derive(Debug, Clone, Copy)]
pub struct Cmd<'a> {
    pub name: &'a str,
    pub cmd: &'a str,
    pub args: &'a [String],
    pub file: Option<&'a str>,
}

/// `pfctl -t NAME -T COMMAND [address ...] [-f file]`: the exit status
/// (0, 1 for usage, 2 when `test` finds an address not in the table,
/// -1 (255) when pfd refuses). `client` is None with `-n` and no pfd.
/// `addrs` reads the addresses (command line and file) when the command
/// takes them; `test` says which kind.
pub fn command(
    client: Option<&mut Client>,
    c: &Cmd,
    o: &Opts,
    addrs: &mut dyn FnMut(bool) -> Result<Vec<TableEntry>, Vec<String>>,
    out: &mut Out,
) -> i32 {
    if c.name.len() > crate::ruleset::TABLE_NAME_MAX {
        return usage_error(out);
    }
    let mut run = Run {
        dummy: o.noaction && client.is_some(),
        client,
        name: c.name,
        o,
    };
    let no_args = c.args.is_empty() && c.file.is_none();
    let mut load = |test: bool, out: &mut Out| -> Result<Vec<TableEntry>, i32> {
        addrs(test).map_err(|msgs| {
            for m in msgs {
                let _ = writeln!(out.err, "{m}");
            }
            -1
        })
    };
    let status = match c.cmd {
        "kill" | "flush" | "show" if !no_args => Err(usage_error(out)),
        "kill" => run.kill(out),
        "flush" => run.flush(out),
        "add" | "delete" | "replace" => {
            load(false, out).and_then(|list| run.change(c.cmd, &list, out))
        }
        "expire" => run.expire(c, out),
        "show" => run.show(out),
        "test" => load(true, out).and_then(|list| run.test(&list, out)),
        "zero" if !no_args => load(false, out).and_then(|list| run.zero_addrs(&list, out)),
        "zero" => run.zero_table(out),
        other => {
            let _ = writeln!(out.err, "pfctl: pfctl_table: unknown command '{other}'");
            Err(-1)
        }
    };
    status.err().unwrap_or(0)
}

/// How a table command ends: Err holds its exit status when not 0.
type Status = Result<(), i32>;

/// A table command under way: pfd (None with `-n` and no pfd), the
/// table, the options, and whether changes are dummies (`-n` with pfd).
struct Run<'a> {
    client: Option<&'a mut Client>,
    name: &'a str,
    o: &'a Opts,
    dummy: bool,
}

impl Run<'_> {
    /// Asks pfd through `f`: None without pfd; a refusal is reported as
    /// pfctl's RVTEST does and ends the command (-1).
    fn ask<T>(
        &mut self,
        out: &mut Out,
        f: impl FnOnce(&mut Client) -> Result<T, Error>,
    ) -> Result<Option<T>, i32> {
        match self.client.as_deref_mut() {
            None => Ok(None),
            Some(c) => f(c).map(Some).map_err(|e| failed(out, &e)),
        }
    }

    /// A request answered with a count (0 without pfd).
    fn count(&mut self, out: &mut Out, req: Request) -> Result<u64, i32> {
        Ok(self.ask(out, |c| count(c, &req))?.unwrap_or(0))
    }

    /// An address operation on the table (nothing changed without pfd).
    fn addr_op(
        &mut self,
        out: &mut Out,
        op: AddrOp,
        dummy: bool,
        feedback: bool,
        list: &[TableEntry],
    ) -> Result<(AddrChange, Vec<AddrInfo>), i32> {
        let (anchor, name) = (&self.o.anchor, self.name);
        let r = self.ask(out, |c| addr_op(c, op, anchor, name, dummy, feedback, list))?;
        Ok(r.unwrap_or_default())
    }

    /// The addresses of the table with their statistics (none without pfd).
    fn astats(&mut self, out: &mut Out) -> Result<Vec<AddrInfo>, i32> {
        let (anchor, name) = (&self.o.anchor, self.name);
        Ok(self
            .ask(out, |c| get_astats(c, anchor, name))?
            .unwrap_or_default())
    }

    fn say(&self, out: &mut Out, msg: &str) {
        xprintf(self.o, self.dummy, out.err, msg);
    }

    /// Feedback lines: -vv all of them, -v those with a code.
    fn feedback(&self, fbk: &[AddrInfo], out: &mut Out) {
        if self.o.verbose == 0 {
            return;
        }
        for a in fbk {
            if self.o.verbose >= 2 || a.fback != fb::NONE {
                let _ = out
                    .out
                    .write_all(print_addrx(&a.entry, a.fback, None).as_bytes());
            }
        }
    }

    /// `-T kill`
    fn kill(&mut self, out: &mut Out) -> Status {
        let req = Request::DelTable {
            anchor: self.o.anchor.clone(),
            name: self.name.into(),
            dummy: self.dummy,
        };
        let n = self.count(out, req)?;
        self.say(out, &format!("{n} table deleted"));
        Ok(())
    }

    /// `-T flush`
    fn flush(&mut self, out: &mut Out) -> Status {
        let req = Request::ClrAddrs {
            anchor: self.o.anchor.clone(),
            name: self.name.into(),
            dummy: self.dummy,
        };
        let n = self.count(out, req)?;
        self.say(out, &format!("{n} addresses deleted"));
        Ok(())
    }

    /// `-T add`, `-T delete`, `-T replace` (`cmd`) with the addresses
    /// `list`; add and replace create the table first.
    fn change(&mut self, cmd: &str, list: &[TableEntry], out: &mut Out) -> Status {
        if cmd != "delete" && create_table(&mut self.client, self.name, self.o, out)? {
            return Ok(());
        }
        let op = match cmd {
            "add" => AddrOp::Add,
            "delete" => AddrOp::Delete,
            _ => AddrOp::Replace,
        };
        let verbose = self.o.verbose > 0;
        let (ch, fbk) = self.addr_op(out, op, self.dummy, verbose, list)?;
        let n = list.len();
        match cmd {
            "add" => self.say(out, &format!("{}/{n} addresses added", ch.nadd)),
            "delete" => self.say(out, &format!("{}/{n} addresses deleted", ch.ndel)),
            _ => {
                if ch.nadd > 0 {
                    self.say(out, &format!("{} addresses added", ch.nadd));
                }
                if ch.ndel > 0 {
                    self.say(out, &format!("{} addresses deleted", ch.ndel));
                }
                if ch.nchange > 0 {
                    self.say(out, &format!("{} addresses changed", ch.nchange));
                }
                if ch.nadd == 0 && ch.ndel == 0 && ch.nchange == 0 {
                    self.say(out, "no changes");
                }
            }
        }
        self.feedback(&fbk, out);
        Ok(())
    }

    /// `-T expire SECONDS`: deletes the addresses cleared longer ago.
    fn expire(&mut self, c: &Cmd, out: &mut Out) -> Status {
        if c.args.len() != 1 || c.file.is_some() {
            return Err(usage_error(out));
        }
        let lifetime = expiry_time(&c.args[0], out)?;
        let all = self.astats(out)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let old: Vec<TableEntry> = all
            .iter()
            .filter(|a| now - a.tzero > lifetime)
            .map(|a| a.entry)
            .collect();
        let verbose = self.o.verbose > 0;
        let (ch, fbk) = self.addr_op(out, AddrOp::Delete, self.dummy, verbose, &old)?;
        self.say(out, &format!("{}/{} addresses expired", ch.ndel, old.len()));
        self.feedback(&fbk, out);
        Ok(())
    }

    /// `-T show` (`-v`: with statistics).
    fn show(&mut self, out: &mut Out) -> Status {
        let all = self.astats(out)?;
        let mut s = String::new();
        for a in &all {
            if self.o.verbose > 0 {
                s.push_str(&print_astats(a));
            } else {
                s.push_str(&print_addrx(&a.entry, fb::NONE, None));
            }
        }
        let _ = out.out.write_all(s.as_bytes());
        Ok(())
    }

    /// `-T test`: exit status 2 when an address of `list` is not in the
    /// table; `-v` lists those that are, `-vv` all with what they matched.
    fn test(&mut self, list: &[TableEntry], out: &mut Out) -> Status {
        let (ch, res) = self.addr_op(out, AddrOp::Test, false, true, list)?;
        self.say(
            out,
            &format!("{}/{} addresses match", ch.nmatch, list.len()),
        );
        let mut s = String::new();
        for (a, r) in list.iter().zip(&res) {
            if self.o.verbose >= 2 {
                s.push_str(&print_addrx(a, r.fback, Some(&r.entry)));
            } else if self.o.verbose == 1 && r.fback == fb::MATCH {
                s.push_str(&print_addrx(a, r.fback, None));
            }
        }
        let _ = out.out.write_all(s.as_bytes());
        if (ch.nmatch as usize) < list.len() {
            return Err(2);
        }
        Ok(())
    }

    /// `-T zero ADDRESS...`: clears those addresses' statistics.
    fn zero_addrs(&mut self, list: &[TableEntry], out: &mut Out) -> Status {
        let verbose = self.o.verbose > 0;
        let (ch, fbk) = self.addr_op(out, AddrOp::Zero, self.dummy, verbose, list)?;
        self.say(
            out,
            &format!("{}/{} addresses cleared", ch.nzero, list.len()),
        );
        self.feedback(&fbk, out);
        Ok(())
    }

    /// `-T zero`: clears the table's statistics.
    fn zero_table(&mut self, out: &mut Out) -> Status {
        let req = Request::ClrTstats {
            anchor: self.o.anchor.clone(),
            name: self.name.into(),
            dummy: self.dummy,
        };
        let n = self.count(out, req)?;
        self.say(out, &format!("{n} table/stats cleared"));
        Ok(())
    }
}

/// The seconds of `-T expire`, with pfctl's messages (status 1).
fn expiry_time(arg: &str, out: &mut Out) -> Result<i64, i32> {
    let what = match arg.parse::<u64>() {
        Ok(v) if v <= u32::MAX as u64 => return Ok(v as i64),
        Ok(_) => "too large",
        Err(_) if arg.starts_with('-') && arg[1..].parse::<u64>().is_ok() => "too small",
        Err(_) => "invalid",
    };
    let _ = writeln!(out.err, "pfctl: expiry time: {what}");
    Err(1)
}

/// Anchors in pfctl's walk order: `base` first, then those below it,
/// depth first by name.
fn anchors_below(all: &[TableInfo], base: &str) -> Vec<String> {
    let mut v: Vec<String> = all
        .iter()
        .map(|t| t.anchor.clone())
        .filter(|a| base.is_empty() || a == base || a.starts_with(&format!("{base}/")))
        .collect();
    v.push(base.to_string());
    v.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    v.dedup();
    v
}

/// `-s Tables`: `-v` adds the flags, `-vv` the statistics. `title`: the
/// `TABLES:` heading of `-s all`, printed when there is a table.
pub fn show_tables(c: &mut Client, o: &Opts, title: bool, out: &mut Out) -> Result<(), Error> {
    let all = get_tables(c, if o.recurse { None } else { Some(&o.anchor) })?;
    let anchors = if o.recurse {
        anchors_below(&all, &o.anchor)
    } else {
        vec![o.anchor.clone()]
    };
    let mut s = String::new();
    if title && !all.is_empty() {
        s.push_str("TABLES:\n");
    }
    for a in &anchors {
        for t in all.iter().filter(|t| t.anchor == *a) {
            if o.verbose >= 2 {
                s.push_str(&print_tstats(t, o.debug));
            } else {
                s.push_str(&print_table(t, o.verbose > 0, o.debug));
            }
        }
    }
    let _ = out.out.write_all(s.as_bytes());
    Ok(())
}

/// `-F Tables`: `N tables deleted.`; with `-a x/*` every anchor below is
/// flushed, quietly, as pfctl_recurse does.
pub fn clear_tables(c: &mut Client, o: &Opts, out: &mut Out) -> Result<(), Error> {
    if o.recurse {
        let all = get_tables(c, None)?;
        let _ = writeln!(out.out, "Removing:");
        for a in anchors_below(&all, &o.anchor) {
            let _ = writeln!(out.out, "  {}", if a.is_empty() { "/" } else { &a });
            count(
                c,
                &Request::ClrTables {
                    anchor: a,
                    dummy: o.noaction,
                },
            )?;
        }
        return Ok(());
    }
    let n = count(
        c,
        &Request::ClrTables {
            anchor: o.anchor.clone(),
            dummy: o.noaction,
        },
    )?;
    xprintf(o, o.noaction, out.err, &format!("{n} tables deleted"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::table::EntryCounters;

    fn e(s: &str) -> TableEntry {
        let (neg, s) = match s.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, s),
        };
        TableEntry::new(neg, s.parse().unwrap())
    }

    #[test]
    fn addresses_print_like_pfctl() {
        assert_eq!(print_addrx(&e("1.2.3.4"), fb::NONE, None), "   1.2.3.4\n");
        assert_eq!(
            print_addrx(&e("!10.0.0.0/8"), fb::ADDED, None),
            "A !10.0.0.0/8\n"
        );
        assert_eq!(
            print_addrx(&e("10.1.2.3"), fb::MATCH, Some(&e("10.0.0.0/8"))),
            "M  10.1.2.3\t 10.0.0.0/8\n"
        );
        assert_eq!(
            print_addrx(&e("10.1.2.3"), fb::NOTMATCH, Some(&e("!10.1.2.3"))),
            "   10.1.2.3\t!10.1.2.3\n"
        );
        assert_eq!(
            print_addrx(&e("2001:db8::1"), fb::NONE, Some(&e("2001:db8::1"))),
            "   2001:db8::1\t nomatch\n"
        );
    }

    #[test]
    fn tables_print_like_pfctl() {
        let mut t = TableInfo {
            anchor: String::new(),
            name: "foo".into(),
            flags: tflag::ACTIVE | tflag::REFERENCED | tflag::COUNTERS,
            count: 1,
            refs: [0, 2],
            tzero: 0,
            nomatch: 3,
            matched: 4,
            packets: [[0, 0, 5, 0], [0; 4]],
            bytes: [[0, 0, 420, 0], [0; 4]],
        };
        assert_eq!(print_table(&t, false, false), "foo\n");
        assert_eq!(print_table(&t, true, false), "--a-r-C\tfoo\n");
        t.anchor = "anchorage".into();
        t.flags = tflag::PERSIST | tflag::ACTIVE | tflag::REFERENCED;
        assert_eq!(print_table(&t, true, false), "-pa-r--\tfoo@anchorage\n");
        let s = print_tstats(&t, false);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[1], "\tAddresses:   1");
        assert!(lines[2].starts_with("\tCleared:     "));
        assert_eq!(
            lines[3],
            "\tReferences:  [ Anchors: 0                  Rules: 2                  ]"
        );
        assert_eq!(
            lines[4],
            "\tEvaluations: [ NoMatch: 3                  Match: 4                  ]"
        );
        assert_eq!(
            lines[7],
            "\tIn/Pass:     [ Packets: 5                  Bytes: 420                ]"
        );
        assert_eq!(lines.len(), 13);
        // Inactive tables are not shown.
        t.flags = tflag::REFERENCED;
        assert_eq!(print_table(&t, true, false), "");
        assert_eq!(print_tstats(&t, false), "");
    }

    #[test]
    fn address_statistics_only_when_counted() {
        let mut a = AddrInfo {
            entry: e("192.0.2.1"),
            fback: fb::NOCOUNT,
            tzero: 0,
            counters: None,
        };
        assert_eq!(print_astats(&a).lines().count(), 2);
        a.fback = fb::NONE;
        a.counters = Some(EntryCounters::default());
        let s = print_astats(&a);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 8);
        assert_eq!(lines[0], "   192.0.2.1");
        assert_eq!(
            lines[2],
            "\tIn/Block:    [ Packets: 0                  Bytes: 0                  ]"
        );
        assert_eq!(lines[7].trim_start().split(' ').next(), Some("Out/Pass:"));
    }

    #[test]
    fn anchor_walk_order() {
        let t = |a: &str| TableInfo {
            anchor: a.into(),
            name: "x".into(),
            flags: 0,
            count: 0,
            refs: [0, 0],
            tzero: 0,
            nomatch: 0,
            matched: 0,
            packets: [[0; 4]; 2],
            bytes: [[0; 4]; 2],
        };
        let all = [t("b"), t("a/c"), t(""), t("a"), t("a-x")];
        assert_eq!(anchors_below(&all, ""), ["", "a", "a/c", "a-x", "b"]);
        assert_eq!(anchors_below(&all, "a"), ["a", "a/c"]);
    }
}

//! pfctl: control the packet filter, as OpenBSD's pfctl(8) does.

use libpf::anchors::{self, AnchorOpt};
use libpf::ioctl::client::Client;
use libpf::ioctl::{Error, Reply, Request};
use libpf::ruleset::optimize::Level;
use libpf::{ctl, show, tablectl};
use std::io::Write;
use std::process::exit;

mod load;
use load::{load, LoadOpts};

#[derive(clap::Parser)]
#[command(
    name = "pfctl",
    about = "control the packet filter",
    disable_help_flag = true
)]
struct Args {
    /// Apply -f, -F, -s, -T and -z to this anchor (`x/*`: and every
    /// anchor below).
    #[arg(short = 'a')]
    anchor: Option<String>,
    /// Disable the packet filter.
    #[arg(short = 'd')]
    disable: bool,
    /// Enable the packet filter.
    #[arg(short = 'e')]
    enable: bool,
    /// Include output helpful for debugging (skip steps under -sr,
    /// inactive tables under -s Tables).
    #[arg(short = 'g')]
    debug_output: bool,
    /// Flush: rules, states, info, all.
    #[arg(short = 'F')]
    flush: Option<String>,
    /// Restrict -s states, -s Interfaces, -F states, -F info and -k to
    /// this interface (or group, for -s Interfaces).
    #[arg(short = 'i')]
    iface: Option<String>,
    /// Load the rules in file (- for standard input).
    #[arg(short = 'f')]
    file: Option<String>,
    /// Kill states: from host (twice: from host to host), or
    /// `-k label -k NAME`, `-k id -k ID`, `-k key -k KEY`.
    #[arg(short = 'k')]
    kill: Vec<String>,
    /// The source limiter of `-k source -k host`.
    #[arg(short = 'I')]
    limiter_id: Option<String>,
    /// Kill source tracking nodes: from host (twice: with the address
    /// its sticky pool gave it).
    #[arg(short = 'K')]
    kill_nodes: Vec<String>,
    /// Load the states stored in statefile.
    #[arg(short = 'L')]
    load_states: Option<String>,
    /// Store the state table in statefile.
    #[arg(short = 'S')]
    store_states: Option<String>,
    /// Set pf's debug level.
    #[arg(short = 'x')]
    debug: Option<String>,
    /// Parse only, load nothing.
    #[arg(short = 'n')]
    noaction: bool,
    /// Ruleset optimization: none, basic (the default) or profile (a
    /// prefix will do); overrides `set ruleset-optimization`.
    #[arg(short = 'o')]
    optimize: Option<String>,
    /// Quiet.
    #[arg(short = 'q')]
    quiet: bool,
    /// Show: rules, states, info, timeouts, memory, all (or a prefix).
    #[arg(short = 's')]
    show: Option<String>,
    /// Table to operate on with -T.
    #[arg(short = 't')]
    table: Option<String>,
    /// Table command: kill, flush, add, delete, replace, show, test, zero,
    /// expire, load.
    #[arg(short = 'T')]
    table_command: Option<String>,
    /// Verbose (twice for more).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Clear per-rule statistics.
    #[arg(short = 'z')]
    zero: bool,
    /// Print help.
    #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Addresses for -T add, delete, replace, test, zero; the lifetime for
    /// -T expire.
    addresses: Vec<String>,
}

/// pfctl's usage message alone.
fn bare_usage() -> ! {
    eprint!("{}", tablectl::USAGE);
    exit(1);
}

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("pfctl: {msg}");
    exit(1);
}

/// pfctl's usage message, after a warning about the command line.
fn usage(msg: impl std::fmt::Display) -> ! {
    eprintln!("pfctl: {msg}");
    eprintln!(
        "usage: pfctl [-deghNnPqrvz] [-a anchor] [-D macro=value] [-F modifier] [-f file]\n\
         \t[-i interface] [-K key] [-k key] [-L statefile] [-o level]\n\
         \t[-p device] [-S statefile] [-s modifier [-R id]]\n\
         \t[-t table -T command [address ...]] [-V rdomain] [-x level]"
    );
    exit(1);
}

/// The connection to pfd, made on first use.
fn get(client: &mut Option<Client>) -> &mut Client {
    client.get_or_insert_with(|| Client::connect_default().unwrap_or_else(|e| die(e)))
}

/// pfctl matches -s and -F words by prefix.
fn lookup<'a>(word: &str, list: &[&'a str]) -> Option<&'a str> {
    let m: Vec<&&str> = list.iter().filter(|o| o.starts_with(word)).collect();
    match m.as_slice() {
        [one] => Some(one),
        _ => list.iter().find(|o| **o == word).copied(),
    }
}

const SHOW: &[&str] = &[
    "rules",
    "Anchors",
    "states",
    "info",
    "timeouts",
    "memory",
    "all",
    "Interfaces",
    "labels",
    "Sources",
    "Tables",
    "osfp",
    "LimiterStates",
    "LimiterSrcs",
];
const FLUSH: &[&str] = &[
    "rules", "states", "info", "all", "Sources", "Tables", "osfp",
];

fn main() {
    if std::env::args_os().len() < 2 {
        // OpenBSD's pfctl: nothing to do is a usage error.
        libpf::cli::default_sigpipe();
        bare_usage();
    }
    let a: Args = libpf::cli::parse(libpf::cli::Kind::Command);
    let p = plan(&a);
    let mut client: Option<Client> = None;
    let mut status = 0;
    if a.disable && !disable(&mut client, a.quiet) {
        status = 1;
    }
    if !inspect(&a, &p, &mut client) {
        status = 1;
    }
    if let Some(s) = tables_and_rules(&a, &p, &mut client) {
        status = s;
    }
    if a.enable && !enable(&mut client, a.quiet) {
        status = 1;
    }
    settings_and_states(&a, &mut client);
    let _ = std::io::stdout().flush();
    exit(status);
}

/// What the command line asks, checked as pfctl checks it before it does
/// anything (a bad line exits with pfctl's usage message).
struct Plan {
    /// `-o`
    optimize: Option<Level>,
    /// `-T`, the command its word stands for.
    table_cmd: Option<&'static str>,
    /// `-a`
    anchor: AnchorOpt,
    /// What the table commands and -s Tables are told.
    topts: tablectl::Opts,
}

fn plan(a: &Args) -> Plan {
    let optimize = a.optimize.as_deref().map(|w| {
        Level::from_arg(w).unwrap_or_else(|| usage(format!("Unknown optimization '{w}'")))
    });
    let table_cmd = table_command_word(a);
    if table_cmd.is_none() && !a.addresses.is_empty() {
        usage(format!(
            "unknown command line argument: {} ...",
            a.addresses[0]
        ));
    }
    // pfctl opens /dev/pf for writing for these.
    let modify = a.disable
        || a.enable
        || a.flush.is_some()
        || a.file.is_some()
        || a.zero
        || !a.kill.is_empty()
        || a.debug.is_some()
        || a.load_states.is_some();
    // -a: the anchor for -s, -F and -T; a trailing `*` means "and below".
    let anchor = match &a.anchor {
        None => AnchorOpt::default(),
        Some(s) if s.is_empty() => die("anchor name must not be empty"),
        Some(_) if !modify && a.show.is_none() && table_cmd.is_none() => {
            usage("anchors apply to -f, -F, -s, and -T only")
        }
        Some(s) => AnchorOpt::parse(s, modify && table_cmd.is_none()).unwrap_or_else(|e| die(e)),
    };
    let topts = tablectl::Opts {
        verbose: a.verbose,
        quiet: a.quiet,
        noaction: a.noaction,
        debug: a.debug_output,
        anchor: anchor.path.clone(),
        recurse: anchor.recurse,
    };
    Plan {
        optimize,
        table_cmd,
        anchor,
        topts,
    }
}

/// `-T WORD` as the table command it abbreviates; `-t` and `-T` go
/// together (but `-T load` needs no table name: FreeBSD's pfctl -Tload -f
/// pf.conf).
fn table_command_word(a: &Args) -> Option<&'static str> {
    let loads = a
        .table_command
        .as_deref()
        .is_some_and(|w| !w.is_empty() && "load".starts_with(w));
    if a.table.is_some() != a.table_command.is_some() && !(loads && a.table.is_none()) {
        bare_usage();
    }
    a.table_command.as_deref().map(|w| {
        let m: Vec<&&str> = tablectl::COMMANDS
            .iter()
            .filter(|c| !w.is_empty() && c.starts_with(w))
            .collect();
        match m.as_slice() {
            [one] => **one,
            [] => usage(format!("Unknown table command '{w}'")),
            _ => die(format!("{w} is ambigious")),
        }
    })
}

/// `-d`; false when pfd refused. With pfd gone and its fail-closed hooks
/// still in place, -d must still be able to let traffic through.
fn disable(client: &mut Option<Client>, quiet: bool) -> bool {
    if client.is_none() && Client::connect_default().is_err() {
        // pfd's policy-routing rules and tables go too.
        let routes = libpf::sys::policy_routing::remove_all();
        match libpf::sys::hooks::remove().and(routes) {
            Ok(()) => {
                if !quiet {
                    eprintln!("pf disabled (pfd not running: packet hooks removed)");
                }
            }
            Err(e) => die(format!(
                "pfd not running and cannot remove the packet hooks: {e}"
            )),
        }
        exit(0);
    }
    match get(client).call(&Request::Stop) {
        Ok(_) => {
            if !quiet {
                eprintln!("pf disabled");
            }
            true
        }
        Err(e) => {
            eprintln!("pfctl: {e}");
            false
        }
    }
}

/// `-e`; false when pfd refused.
fn enable(client: &mut Option<Client>, quiet: bool) -> bool {
    match get(client).call(&Request::Start) {
        Ok(_) => {
            if !quiet {
                eprintln!("pf enabled");
            }
            true
        }
        Err(e) => {
            eprintln!("pfctl: {e}");
            false
        }
    }
}

/// What comes before loading, in pfctl's order: `-s`, `-F`, `-z`, `-K`,
/// `-k`. False when `-k source` failed (the others exit).
fn inspect(a: &Args, p: &Plan, client: &mut Option<Client>) -> bool {
    if let Some(word) = &a.show {
        let what =
            lookup(word, SHOW).unwrap_or_else(|| die(format!("Unknown show modifier '{word}'")));
        let iface = a.iface.as_deref();
        if let Err(e) = show_cmd(get(client), what, a.verbose, &p.topts, &p.anchor, iface) {
            die(e);
        }
    }
    if let Some(word) = &a.flush {
        let what =
            lookup(word, FLUSH).unwrap_or_else(|| die(format!("Unknown flush modifier '{word}'")));
        if let Err(e) = flush(
            get(client),
            what,
            a.quiet,
            &p.topts,
            &p.anchor,
            a.iface.as_deref(),
        ) {
            die(e);
        }
    }
    if a.zero {
        if let Err(e) = get(client).call_ok(&Request::ClearRuleCounters {
            anchor: p.anchor.path.clone(),
        }) {
            die(e);
        }
        if !a.quiet {
            eprintln!("pf: statistics cleared");
        }
    }
    if !a.kill_nodes.is_empty() {
        if let Err(e) = kill_src_nodes(get(client), &a.kill_nodes, a.quiet) {
            die(e);
        }
    }
    if a.kill.first().is_some_and(|k| k == "source") {
        let id = a.limiter_id.as_deref();
        if let Err(e) = kill_limiter_sources(get(client), &a.kill, id, a.quiet) {
            eprintln!("pfctl: {e}");
            return false;
        }
    } else if !a.kill.is_empty() {
        if let Err(e) = kill(get(client), &a.kill, a.quiet, a.iface.as_deref()) {
            die(e);
        }
    }
    true
}

/// `-T` and `-f`: with -T, the -f file holds addresses (`-T load`:
/// pf.conf, whose table definitions alone are loaded). The table command's
/// exit status (a failed load exits).
fn tables_and_rules(a: &Args, p: &Plan, client: &mut Option<Client>) -> Option<i32> {
    let mut rules_file = a.file.as_deref();
    let mut status = None;
    if let Some(cmd) = p.table_cmd {
        let name = a.table.as_deref().unwrap_or_default();
        if cmd == "load" {
            let Some(file) = rules_file.take() else {
                bare_usage();
            };
            let o = LoadOpts {
                noaction: a.noaction,
                verbose: a.verbose,
                tables_only: true,
                anchor: "",
                optimize: p.optimize,
            };
            if let Err(code) = load(client, file, &o) {
                exit(code);
            }
        } else {
            let file = rules_file.take();
            status = Some(table_command(
                client,
                name,
                cmd,
                &a.addresses,
                file,
                &p.topts,
            ));
        }
    }
    if let Some(file) = rules_file {
        let o = LoadOpts {
            noaction: a.noaction,
            verbose: a.verbose,
            tables_only: false,
            anchor: &p.anchor.path,
            optimize: p.optimize,
        };
        if let Err(code) = load(client, file, &o) {
            exit(code);
        }
    }
    status
}

/// What comes after enabling: `-x`, `-S`, `-L` (a failure exits).
fn settings_and_states(a: &Args, client: &mut Option<Client>) {
    if let Some(word) = &a.debug {
        let level = libpf::statekill::debug_arg(word).unwrap_or_else(|m| usage(m));
        if let Err(e) = get(client).call_ok(&Request::SetDebug { level }) {
            die(format!("pfctl_debug ioctl: {e}"));
        }
        if !a.quiet {
            eprintln!(
                "debug level set to '{}'",
                libpf::engine::status::debug_name(level)
            );
        }
    }
    if let Some(file) = &a.store_states {
        if let Err(e) = store_states(get(client), file) {
            die(e);
        }
    }
    if let Some(file) = &a.load_states {
        if let Err(e) = load_states(get(client), file) {
            die(e);
        }
    }
}

/// `pfctl -t NAME -T COMMAND ...`: its exit status.
fn table_command(
    client: &mut Option<Client>,
    name: &str,
    cmd: &str,
    args: &[String],
    file: Option<&str>,
    o: &tablectl::Opts,
) -> i32 {
    // With -n, pfd makes the changes dummies; without pfd only the
    // syntax is checked.
    if client.is_none() {
        match Client::connect_default() {
            Ok(c) => *client = Some(c),
            Err(e) if !o.noaction => die(e),
            Err(_) => {}
        }
    }
    let resolver = ctl::resolver(client.as_mut());
    let mut addrs = |test: bool| {
        libpf::conf::command_addresses(args, file, test, &resolver, &mut std::io::stdin())
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut o2 = tablectl::Out {
        out: &mut out,
        err: &mut err,
    };
    let c = tablectl::Cmd {
        name,
        cmd,
        args,
        file,
    };
    let st = tablectl::command(client.as_mut(), &c, o, &mut addrs, &mut o2);
    if st < 0 {
        255
    } else {
        st
    }
}

fn proto_name(p: u8) -> Option<String> {
    use libpf::conf::Resolver;
    libpf::sys::resolve::SystemResolver::new()
        .protocol_name(p)
        .or_else(|| show::default_proto_name(p))
}

fn show_rules(c: &mut Client, verbose: u8, debug: bool, anchor: &AnchorOpt) -> Result<(), Error> {
    let resolver = libpf::sys::resolve::SystemResolver::new();
    let l = anchors::show_rules(c, anchor, verbose, debug, &resolver)?;
    print!("{}", l.out);
    let _ = std::io::stdout().flush();
    for w in l.warnings {
        eprintln!("pfctl: {w}");
    }
    Ok(())
}

fn show_states(c: &mut Client, verbose: u8, iface: Option<&str>) -> Result<(), Error> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Each protocol's name is looked up once: getprotobynumber reads
    // /etc/protocols on every call (12 s for a million states).
    let names: Vec<std::cell::OnceCell<Option<String>>> = vec![Default::default(); 256];
    let name = |p: u8| names[p as usize].get_or_init(|| proto_name(p)).clone();
    // -i: the states bound to that interface (`all`: the floating ones).
    c.states_each(|chunk| {
        for s in chunk.iter().filter(|s| iface.is_none_or(|i| s.ifname == i)) {
            let _ = out.write_all(show::state(s, verbose, &name).as_bytes());
        }
    })
}

/// `-s labels`: the labelled rules of the main ruleset (or of the anchor
/// `-a` names) with their counters.
fn labels(c: &mut Client, anchor: &AnchorOpt) -> Result<String, Error> {
    let Reply::Rules { rules, .. } = c.call(&Request::GetRules {
        anchor: anchor.path.clone(),
    })?
    else {
        return Err(Error::Protocol("expected rules".into()));
    };
    Ok(rules
        .iter()
        .filter_map(|r| Some(show::label_line(r.rule.label.as_deref()?, &r.counters)))
        .collect())
}

fn show_cmd(
    c: &mut Client,
    what: &str,
    verbose: u8,
    topts: &tablectl::Opts,
    anchor: &AnchorOpt,
    iface: Option<&str>,
) -> Result<(), Error> {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut o = tablectl::Out {
        out: &mut out,
        err: &mut err,
    };
    match what {
        "rules" => show_rules(c, verbose, topts.debug, anchor),
        "Anchors" => match anchors::show_anchors(c, &anchor.path, verbose)? {
            Some(out) => {
                print!("{out}");
                Ok(())
            }
            None => die("Anchor does not exist"),
        },
        "states" => show_states(c, verbose, iface),
        "info" => match c.call(&Request::GetStatus)? {
            Reply::Status(s) => {
                print!("{}", show::status(&s, verbose > 0));
                Ok(())
            }
            other => Err(Error::Protocol(format!("{other:?}"))),
        },
        "timeouts" => match c.call(&Request::GetTimeouts)? {
            Reply::Timeouts(t) => {
                print!("{}", show::timeouts(&t));
                Ok(())
            }
            other => Err(Error::Protocol(format!("{other:?}"))),
        },
        "memory" => match c.call(&Request::GetLimits)? {
            Reply::Limits(l) => {
                print!("{}", show::limits(&l));
                Ok(())
            }
            other => Err(Error::Protocol(format!("{other:?}"))),
        },
        "all" => {
            let mut first = true;
            // LABEL COUNTERS only when some rule has a label.
            let have_labels = !labels(c, anchor)?.is_empty();
            for (title, w) in [
                ("FILTER RULES:", "rules"),
                ("STATES:", "states"),
                ("SOURCE TRACKING NODES:", "Sources"),
                ("INFO:", "info"),
                ("LABEL COUNTERS:", "labels"),
                ("TIMEOUTS:", "timeouts"),
                ("LIMITS:", "memory"),
            ] {
                if w == "labels" && !have_labels {
                    continue;
                }
                // pfctl prints the nodes' title only when there are some.
                if w == "Sources" && src_nodes(c)?.is_empty() {
                    continue;
                }
                if !first {
                    println!();
                }
                first = false;
                println!("{title}");
                let _ = std::io::stdout().flush();
                show_cmd(c, w, verbose, topts, anchor, iface)?;
                let _ = std::io::stdout().flush();
            }
            // pfctl prints TABLES: only when there is a table.
            if !tablectl::get_tables(c, Some(&topts.anchor))?.is_empty() {
                println!();
            }
            tablectl::show_tables(c, topts, true, &mut o)?;
            let fp = fingerprints(c)?;
            if !fp.is_empty() {
                println!("\nOS FINGERPRINTS:\n{} fingerprints loaded", fp.len());
            }
            Ok(())
        }
        "Tables" => tablectl::show_tables(c, topts, false, &mut o),
        "Interfaces" => match c.call(&Request::GetIfaces {
            filter: iface.map(str::to_string),
        })? {
            Reply::Ifaces(v) => {
                print!("{}", show::interfaces(&v, verbose, libpf::sys::time::ctime));
                Ok(())
            }
            other => Err(Error::Protocol(format!("{other:?}"))),
        },
        "labels" => {
            print!("{}", labels(c, anchor)?);
            Ok(())
        }
        "osfp" => {
            print!("{}", fingerprints(c)?.show());
            Ok(())
        }
        "LimiterStates" => match c.call(&Request::GetStateLimiters)? {
            Reply::StateLimiters(l) => {
                print!("{}", show::state_limiters(&l, verbose > 0));
                Ok(())
            }
            other => Err(Error::Protocol(format!("{other:?}"))),
        },
        "LimiterSrcs" => match c.call(&Request::GetSourceLimiters {
            entries: verbose > 0,
        })? {
            Reply::SourceLimiters(l) => {
                print!("{}", show::source_limiters(&l, verbose > 0));
                Ok(())
            }
            other => Err(Error::Protocol(format!("{other:?}"))),
        },
        "Sources" => {
            let mut out = String::new();
            for n in src_nodes(c)? {
                out.push_str(&show::src_node(&n, verbose > 0));
            }
            print!("{out}");
            Ok(())
        }
        _ => Ok(()),
    }
}

fn flush(
    c: &mut Client,
    what: &str,
    quiet: bool,
    topts: &tablectl::Opts,
    anchor: &AnchorOpt,
    iface: Option<&str>,
) -> Result<(), Error> {
    if matches!(what, "Tables" | "all") {
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        let mut o = tablectl::Out {
            out: &mut out,
            err: &mut err,
        };
        tablectl::clear_tables(c, topts, &mut o)?;
    }
    let rules = matches!(what, "rules" | "all");
    // -F all with an anchor clears that anchor only.
    let all = what == "all" && anchor.path.is_empty();
    let states = what == "states" || all;
    let info = what == "info" || all;
    if rules && anchor.recurse {
        // pfctl_recurse: the anchor and all below it, deepest first.
        let Some(list) = anchors::anchors_to_flush(c, &anchor.path)? else {
            die("Anchor does not exist");
        };
        let mut out = String::from("Removing:\n");
        for path in &list {
            out.push_str(&format!("  {}\n", if path.is_empty() { "/" } else { path }));
        }
        print!("{out}");
        let _ = std::io::stdout().flush();
        for path in list {
            if let Err(e) = c.call_ok(&Request::FlushRules { anchor: path }) {
                eprintln!("pfctl: {e}");
            }
        }
    } else if rules {
        c.call_ok(&Request::FlushRules {
            anchor: anchor.path.clone(),
        })?;
        if !quiet {
            eprintln!("rules cleared");
        }
    }
    if states {
        if let Reply::Count(n) = c.call(&Request::ClearStates {
            ifname: iface.map(str::to_string),
        })? {
            if !quiet {
                eprintln!("{n} states cleared");
            }
        }
    }
    if what == "Sources" || all {
        c.call(&Request::ClrSrcNodes)?;
        if !quiet {
            eprintln!("source tracking entries cleared");
        }
    }
    if info {
        // With -i, only that interface's (or group's) counters.
        match iface {
            Some(i) => {
                c.call_ok(&Request::ClearIfStats { ifname: i.into() })?;
                if !quiet {
                    eprintln!("pf: statistics cleared for interface {i}");
                }
            }
            None => {
                c.call_ok(&Request::ClearStatus)?;
                if !quiet {
                    eprintln!("pf: statistics cleared");
                }
            }
        }
    }
    if what == "osfp" || all {
        c.call_ok(&Request::OsfpFlush)?;
    }
    Ok(())
}

/// DIOCGETSRCNODES.
fn src_nodes(c: &mut Client) -> Result<Vec<libpf::engine::srcnode::SrcNodeInfo>, Error> {
    match c.call(&Request::GetSrcNodes)? {
        Reply::SrcNodes(v) => Ok(v),
        other => Err(Error::Protocol(format!("{other:?}"))),
    }
}

/// The addresses `-k`/`-K` name: `addr[/prefix]` (numeric), or every
/// address of a host name (pfctl_addrprefix).
fn host_nets(s: &str) -> Vec<libpf::addr::IpNet> {
    if let Ok(n) = s.parse::<libpf::addr::IpNet>() {
        return vec![n];
    }
    if let Ok(a) = s.parse::<std::net::IpAddr>() {
        return vec![libpf::addr::IpNet::host(a)];
    }
    if s.contains('/') {
        die(format!("getaddrinfo: {s}: Name or service not known"));
    }
    use libpf::conf::Resolver;
    let mut v: Vec<libpf::addr::IpNet> = libpf::sys::resolve::SystemResolver::new()
        .host(s)
        .into_iter()
        .map(libpf::addr::IpNet::host)
        .collect();
    v.dedup();
    if v.is_empty() {
        die(format!("getaddrinfo: {s}: Name or service not known"));
    }
    v
}

/// `-K src [-K dst]` (pfctl_kill_src_nodes).
fn kill_src_nodes(c: &mut Client, args: &[String], quiet: bool) -> Result<(), Error> {
    if args.len() > 2 {
        usage("can only specify -K twice");
    }
    let srcs = host_nets(&args[0]);
    let dsts = args.get(1).map(|d| host_nets(d));
    let (mut killed, mut sources, mut dests) = (0u64, 0, 0);
    for src in &srcs {
        sources += 1;
        match &dsts {
            Some(dsts) => {
                dests = 0;
                for dst in dsts.iter().filter(|d| d.af() == src.af()) {
                    dests += 1;
                    if let Reply::Count(n) = c.call(&Request::KillSrcNodes {
                        src: *src,
                        dst: Some(*dst),
                    })? {
                        killed += n;
                    }
                }
            }
            None => {
                if let Reply::Count(n) = c.call(&Request::KillSrcNodes {
                    src: *src,
                    dst: None,
                })? {
                    killed += n;
                }
            }
        }
    }
    if !quiet {
        eprintln!("killed {killed} src nodes from {sources} sources and {dests} destinations");
    }
    Ok(())
}

/// `-I id -k source -k host[/prefix]`: the entries of source limiter `id`
/// for host (DIOCCLRSOURCE).
fn kill_limiter_sources(
    c: &mut Client,
    args: &[String],
    id: Option<&str>,
    quiet: bool,
) -> Result<(), Error> {
    let Some(id) = id else {
        usage("-k source needs a source limiter id (-I id)");
    };
    let Ok(id) = id.parse::<u32>() else {
        usage(format!("invalid source limiter id: {id}"));
    };
    if args.len() != 2 {
        usage("-k source takes one address: -k source -k host");
    }
    let mut killed = 0;
    for net in host_nets(&args[1]) {
        match c.call(&Request::KillLimiterSources { id, net })? {
            Reply::Count(n) => killed += n,
            Reply::Error { message, .. } => die(message),
            _ => {}
        }
    }
    if !quiet {
        eprintln!("killed {killed} source entries of source limiter {id}");
    }
    Ok(())
}

fn host_net(s: &str) -> libpf::addr::IpNet {
    if let Ok(n) = s.parse() {
        return n;
    }
    use libpf::conf::Resolver;
    match libpf::sys::resolve::SystemResolver::new().host(s).first() {
        Some(a) => libpf::addr::IpNet::host(*a),
        None => die(format!("no IP address found for {s}")),
    }
}

fn kill(c: &mut Client, args: &[String], quiet: bool, iface: Option<&str>) -> Result<(), Error> {
    use libpf::conf::Resolver;
    use libpf::statekill::{KillCmd, KillError};
    let resolver = libpf::sys::resolve::SystemResolver::new();
    let protocol = |n: &str| resolver.protocol(n);
    let cmd = match libpf::statekill::parse(args, &protocol) {
        Ok(c) => c,
        Err(KillError::Usage(m)) => usage(m),
        Err(KillError::Fatal(m)) => die(m),
    };
    match cmd {
        KillCmd::Hosts(src, dst) => {
            let src = host_net(&src);
            let dst = dst.map(|d| host_net(&d));
            let k = libpf::engine::state::StateKill {
                af: Some(libpf::addr::Af::of(&src.addr)),
                src: Some(src),
                dst,
                // -i: only the states bound to that interface.
                ifname: iface.map(str::to_string),
                ..Default::default()
            };
            if let Reply::Count(n) = c.call(&Request::KillStates(k))? {
                if !quiet {
                    eprintln!(
                        "killed {n} states from 1 sources and {} destinations",
                        if dst.is_some() { 1 } else { 0 }
                    );
                }
            }
        }
        KillCmd::Filter(mut k) => {
            if k.ifname.is_none() {
                k.ifname = iface.map(str::to_string);
            }
            if let Reply::Count(n) = c.call(&Request::KillStates(k))? {
                if !quiet {
                    eprintln!("killed {n} states");
                }
            }
        }
    }
    Ok(())
}

/// The loaded fingerprints, as pfctl -s osfp reads them back.
fn fingerprints(c: &mut Client) -> Result<libpf::osfp::OsfpDb, Error> {
    let Reply::Fingerprints(entries) = c.call(&Request::OsfpGet)? else {
        return Err(Error::Protocol("expected fingerprints".into()));
    };
    let mut db = libpf::osfp::OsfpDb::default();
    for e in entries {
        let _ = db.add(e);
    }
    Ok(db)
}

/// `-S file`: the state table, as raw pfsync_state records.
fn store_states(c: &mut Client, file: &str) -> Result<(), String> {
    let states = c.states().map_err(|e| format!("DIOCGETSTATES: {e}"))?;
    std::fs::write(file, libpf::statefile::encode(&states))
        .map_err(|e| format!("open: {file}: {e}"))
}

/// `-L file`: put the stored states back (those pfd refuses are skipped,
/// as pfctl skips EEXIST and EINVAL).
fn load_states(c: &mut Client, file: &str) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("open: {file}: {e}"))?;
    let (states, _) = libpf::statefile::decode(&bytes);
    for chunk in states.chunks(libpf::ioctl::STATES_PER_FRAME) {
        c.call(&Request::AddStates {
            states: chunk.to_vec(),
        })
        .map_err(|e| format!("DIOCADDSTATE: {e}"))?;
    }
    Ok(())
}

//! pfctl: control the packet filter, as OpenBSD's pfctl(8) does.

use clap::Parser;
use libpf::conf::{self, print};
use libpf::ioctl::client::Client;
use libpf::ioctl::{Error, Reply, Request};
use libpf::{ctl, show};
use std::io::{Read, Write};
use std::process::exit;

#[derive(Parser)]
#[command(
    name = "pfctl",
    about = "control the packet filter",
    disable_help_flag = true
)]
struct Args {
    /// Disable the packet filter.
    #[arg(short = 'd')]
    disable: bool,
    /// Enable the packet filter.
    #[arg(short = 'e')]
    enable: bool,
    /// Flush: rules, states, info, all.
    #[arg(short = 'F')]
    flush: Option<String>,
    /// Load the rules in file (- for standard input).
    #[arg(short = 'f')]
    file: Option<String>,
    /// Kill states from host (twice: from host to host).
    #[arg(short = 'k')]
    kill: Vec<String>,
    /// Parse only, load nothing.
    #[arg(short = 'n')]
    noaction: bool,
    /// Ruleset optimisation level (accepted, not used).
    #[arg(short = 'o')]
    optimize: Option<String>,
    /// Quiet.
    #[arg(short = 'q')]
    quiet: bool,
    /// Show: rules, states, info, timeouts, memory, all (or a prefix).
    #[arg(short = 's')]
    show: Option<String>,
    /// Verbose (twice for more).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Clear per-rule statistics.
    #[arg(short = 'z')]
    zero: bool,
    /// Print help.
    #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
}

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("pfctl: {msg}");
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
    "states",
    "info",
    "timeouts",
    "memory",
    "all",
    "Interfaces",
    "labels",
    "Sources",
    "Tables",
];
const FLUSH: &[&str] = &["rules", "states", "info", "all", "Sources", "Tables"];

fn main() {
    let a = Args::parse();
    let _ = &a.optimize;
    let mut status = 0;
    let mut client: Option<Client> = None;
    macro_rules! c {
        () => {
            get(&mut client)
        };
    }

    if a.disable {
        // pfd gone and its fail-closed hooks still in place: -d must still
        // be able to let traffic through.
        if client.is_none() && Client::connect_default().is_err() {
            // pfd's policy-routing rules and tables go too.
            let routes = libpf::sys::policy_routing::remove_all();
            match libpf::sys::hooks::remove().and(routes) {
                Ok(()) => {
                    if !a.quiet {
                        eprintln!("pf disabled (pfd not running: packet hooks removed)");
                    }
                }
                Err(e) => die(format!(
                    "pfd not running and cannot remove the packet hooks: {e}"
                )),
            }
            exit(0);
        }
        match c!().call(&Request::Stop) {
            Ok(_) => {
                if !a.quiet {
                    eprintln!("pf disabled");
                }
            }
            Err(e) => {
                eprintln!("pfctl: {e}");
                status = 1;
            }
        }
    }

    if let Some(word) = &a.show {
        let what =
            lookup(word, SHOW).unwrap_or_else(|| die(format!("Unknown show modifier '{word}'")));
        if let Err(e) = show_cmd(c!(), what, a.verbose) {
            die(e);
        }
    }

    if let Some(word) = &a.flush {
        let what =
            lookup(word, FLUSH).unwrap_or_else(|| die(format!("Unknown flush modifier '{word}'")));
        if let Err(e) = flush(c!(), what, a.quiet) {
            die(e);
        }
    }

    if a.zero {
        if let Err(e) = c!().call_ok(&Request::ClearRuleCounters) {
            die(e);
        }
        if !a.quiet {
            eprintln!("pf: statistics cleared");
        }
    }

    if !a.kill.is_empty() {
        if let Err(e) = kill(c!(), &a.kill, a.quiet) {
            die(e);
        }
    }

    if let Some(file) = &a.file {
        if let Err(code) = load(&mut client, file, a.noaction, a.verbose) {
            exit(code);
        }
    }

    if a.enable {
        match c!().call(&Request::Start) {
            Ok(_) => {
                if !a.quiet {
                    eprintln!("pf enabled");
                }
            }
            Err(e) => {
                eprintln!("pfctl: {e}");
                status = 1;
            }
        }
    }
    let _ = std::io::stdout().flush();
    exit(status);
}

fn load(client: &mut Option<Client>, file: &str, noaction: bool, verbose: u8) -> Result<(), i32> {
    let (text, name) = if file == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("pfctl: stdin: {e}");
            return Err(1);
        }
        (s, "stdin".to_string())
    } else {
        match std::fs::read_to_string(file) {
            Ok(s) => (s, file.to_string()),
            Err(e) => {
                eprintln!("pfctl: {file}: {e}");
                return Err(1);
            }
        }
    };
    // Without -n we need pfd anyway; with -n, use it for carp addresses
    // when it is there.
    if client.is_none() {
        match Client::connect_default() {
            Ok(c) => *client = Some(c),
            Err(e) if !noaction => {
                eprintln!("pfctl: {e}");
                return Err(1);
            }
            Err(_) => {}
        }
    }
    let resolver = ctl::resolver(client.as_mut());
    let (rs, errs) = conf::parse_partial(&text, &name, &resolver, &|p: &str| {
        std::fs::read_to_string(p)
    });
    // warnings are printed and do not stop the load
    let failed = errs.iter().any(|e| !e.warning);
    let mut rs = if !failed {
        for e in &errs {
            eprintln!("{e}");
        }
        rs
    } else {
        {
            for e in errs {
                eprintln!("{e}");
            }
            if verbose > 0 {
                // pfctl has printed options and tables as it read them
                print!("{}", print::print_directives(&rs));
            }
            if !noaction {
                eprintln!("pfctl: Syntax error in config file: pf rules not loaded");
            }
            return Err(1);
        }
    };
    if verbose > 0 {
        // The main ruleset, then each `load anchor` file as pfctl loads it.
        let loads = std::mem::take(&mut rs.loads);
        print!("{}", print::print_ruleset_nv(&rs, &resolver));
        for l in &loads {
            let _ = std::io::stdout().flush();
            eprintln!("\nLoading anchor {} from {}", l.path, l.file);
            print!("{}", print::print_ruleset_nv(&l.ruleset, &resolver));
        }
        rs.loads = loads;
    }
    if noaction {
        return Ok(());
    }
    // What pfd cannot enforce is refused here, the whole ruleset with it.
    let support = libpf::ruleset::support::check(&rs);
    for w in &support.warnings {
        eprintln!("pfctl: warning: {}", w.message(&name));
    }
    if !support.ok() {
        for u in &support.refused {
            eprintln!("{}", u.message(&name));
        }
        eprintln!("pfctl: pf rules not loaded");
        return Err(1);
    }
    let Some(c) = client.as_mut() else {
        return Err(1);
    };
    if let Err(e) = ctl::load(c, &rs) {
        eprintln!("pfctl: {e}");
        eprintln!("pfctl: pf rules not loaded");
        return Err(1);
    }
    Ok(())
}

fn proto_name(p: u8) -> Option<String> {
    use libpf::conf::Resolver;
    libpf::sys::resolve::SystemResolver::new()
        .protocol_name(p)
        .or_else(|| show::default_proto_name(p))
}

fn show_rules(c: &mut Client, verbose: u8) -> Result<(), Error> {
    let Reply::Rules { rules, loader } = c.call(&Request::GetRules)? else {
        return Err(Error::Protocol("expected rules".into()));
    };
    let resolver = libpf::sys::resolve::SystemResolver::new();
    let mut out = String::new();
    // The rules of an inline anchor follow it one level deeper: shown in
    // braces as pfctl does (indented unless -v); those loaded into an
    // anchor called by name are not shown (pfctl -a would show them).
    let indent = |d: u16| {
        if verbose == 0 {
            "  ".repeat(d as usize)
        } else {
            String::new()
        }
    };
    let mut open: Vec<u16> = vec![];
    let mut hide_below: Option<u16> = None;
    for (i, ri) in rules.iter().enumerate() {
        if let Some(h) = hide_below {
            if ri.depth > h {
                continue;
            }
            hide_below = None;
        }
        while let Some(&d) = open.last().filter(|d| **d >= ri.depth) {
            open.pop();
            out.push_str(&format!("{}}}\n", indent(d)));
        }
        out.push_str(&indent(ri.depth));
        if verbose >= 2 {
            out.push_str(&format!("@{i} "));
        }
        out.push_str(&print::print_rule(&ri.rule, &resolver));
        let nested = rules.get(i + 1).is_some_and(|n| n.depth > ri.depth);
        match &ri.rule.anchor {
            Some(a) if a.inline && nested => {
                out.push_str(" {");
                open.push(ri.depth);
            }
            _ if nested => hide_below = Some(ri.depth),
            _ => {}
        }
        out.push('\n');
        if verbose >= 1 {
            out.push_str(&show::rule_counters(&ri.counters, &loader));
        }
    }
    while let Some(d) = open.pop() {
        out.push_str(&format!("{}}}\n", indent(d)));
    }
    print!("{out}");
    Ok(())
}

fn show_states(c: &mut Client, verbose: u8) -> Result<(), Error> {
    let states = c.states()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for s in &states {
        let _ = out.write_all(show::state(s, verbose, &proto_name).as_bytes());
    }
    Ok(())
}

fn show_cmd(c: &mut Client, what: &str, verbose: u8) -> Result<(), Error> {
    match what {
        "rules" => show_rules(c, verbose),
        "states" => show_states(c, verbose),
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
            for (title, w) in [
                ("FILTER RULES:", "rules"),
                ("STATES:", "states"),
                ("INFO:", "info"),
                ("TIMEOUTS:", "timeouts"),
                ("LIMITS:", "memory"),
            ] {
                if !first {
                    println!();
                }
                first = false;
                println!("{title}");
                let _ = std::io::stdout().flush();
                show_cmd(c, w, verbose)?;
                let _ = std::io::stdout().flush();
            }
            Ok(())
        }
        "Interfaces" => match c.call(&Request::ListInterfaces)? {
            Reply::Interfaces(v) => {
                for n in v {
                    println!("{n}");
                }
                Ok(())
            }
            other => Err(Error::Protocol(format!("{other:?}"))),
        },
        // No labels, source nodes or tables exist yet: nothing to list.
        _ => Ok(()),
    }
}

fn flush(c: &mut Client, what: &str, quiet: bool) -> Result<(), Error> {
    let rules = matches!(what, "rules" | "all");
    let states = matches!(what, "states" | "all");
    let info = matches!(what, "info" | "all");
    if rules {
        c.call_ok(&Request::FlushRules)?;
        if !quiet {
            eprintln!("rules cleared");
        }
    }
    if states {
        if let Reply::Count(n) = c.call(&Request::ClearStates { ifname: None })? {
            if !quiet {
                eprintln!("{n} states cleared");
            }
        }
    }
    if info {
        c.call_ok(&Request::ClearStatus)?;
        if !quiet {
            eprintln!("pf: statistics cleared");
        }
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

fn kill(c: &mut Client, hosts: &[String], quiet: bool) -> Result<(), Error> {
    if hosts.len() > 2 {
        die("can only specify -k twice");
    }
    let src = hosts.first().map(|h| host_net(h));
    let dst = hosts.get(1).map(|h| host_net(h));
    if let Reply::Count(n) = c.call(&Request::KillStates { src, dst })? {
        if !quiet {
            eprintln!(
                "killed {n} states from 1 sources and {} destinations",
                if dst.is_some() { 1 } else { 0 }
            );
        }
    }
    Ok(())
}

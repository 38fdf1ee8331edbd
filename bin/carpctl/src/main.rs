//! carpctl: ifconfig(8) for pfd's pseudo-interfaces (carpN, pfsync0).

use libpf::ioctl::client::Client;
use libpf::ioctl::{Reply, Request};
use libpf::{carpctl, ctl};
use std::process::exit;

#[derive(clap::Parser)]
#[command(
    name = "carpctl",
    about = "configure carp and pfsync interfaces",
    override_usage = "carpctl -s [pfsync0]\n       carpctl [-ak] [-D dir] [-g group [-]carpdemote [N]] [interface [parameters]]\n       carpctl interface [group name] [-group name]\n       carpctl sysctl name[=value] ..."
)]
struct Args {
    /// Show every carp and pfsync interface.
    #[arg(short = 'a')]
    all: bool,
    /// Show CARP statistics, or pfsync's with `pfsync0`.
    #[arg(short = 's')]
    stats: bool,
    /// Show the carp passphrase (root only; others see whether one is set).
    #[arg(short = 'k')]
    keys: bool,
    /// Directory of the hostname.if files checked for a world-readable
    /// passphrase.
    #[arg(short = 'D', default_value = "/etc")]
    dir: String,
    /// Act on an interface group (carpdemote).
    #[arg(short = 'g')]
    group: Option<String>,
    /// Interface, then ifconfig parameters.
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    args: Vec<String>,
}

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("carpctl: {msg}");
    exit(1);
}

fn connect() -> Client {
    Client::connect_default().unwrap_or_else(|e| die(e))
}

fn main() {
    let a: Args = libpf::cli::parse(libpf::cli::Kind::Command);
    if a.stats {
        return match a.args.first().map(String::as_str) {
            None => stats(&mut connect()),
            Some("pfsync0") => pfsync_stats(&mut connect()),
            Some(other) => die(format!("{other}: -s shows carp (no interface) or pfsync0")),
        };
    }
    if let Some(g) = &a.group {
        return group(&mut connect(), g, &a.args);
    }
    if a.all || a.args.is_empty() {
        let mut c = connect();
        let names = match c.call(&Request::ListInterfaces) {
            Ok(Reply::Interfaces(v)) => v,
            Ok(other) => die(format!("unexpected reply {other:?}")),
            Err(e) => die(e),
        };
        for n in names {
            if let Err(e) = show(&mut c, &n, &a) {
                eprintln!("carpctl: {e}");
            }
        }
        return;
    }
    let name = &a.args[0];
    let rest = &a.args[1..];
    if name == "sysctl" {
        return sysctl(&mut connect(), rest);
    }
    if !ctl::is_pseudo(name) {
        // Any other interface: only its administrative groups, which pfd
        // keeps (Linux has none).
        let mut c = connect();
        let r = if rest.is_empty() {
            ctl::show_groups(&mut c, name).map(|s| print!("{s}"))
        } else {
            ctl::configure_groups(&mut c, name, rest)
        };
        if let Err(e) = r {
            die(e);
        }
        return;
    }
    let mut c = connect();
    if rest.is_empty() {
        if let Err(e) = show(&mut c, name, &a) {
            die(e);
        }
    } else {
        if let Err(e) = ctl::configure_pseudo(&mut c, name, rest) {
            die(e);
        }
        if name != "pfsync0" {
            if let Ok(Some(st)) = carpctl::status(&mut c, name) {
                warn(&st, &a);
            }
        }
    }
}

/// The block of a carp or pfsync interface, and carp's warnings.
fn show(c: &mut Client, name: &str, a: &Args) -> Result<(), String> {
    if name == "pfsync0" {
        print!("{}", ctl::show_pseudo(c, name)?);
        return Ok(());
    }
    let st = carpctl::status(c, name)?.ok_or_else(|| format!("{name}: no such interface"))?;
    print!("{}", carpctl::block(&st, a.keys));
    warn(&st, a);
    Ok(())
}

fn warn(st: &libpf::carp::CarpStatus, a: &Args) {
    for w in carpctl::warnings(st, std::path::Path::new(&a.dir)) {
        eprintln!("carpctl: {w}");
    }
}

/// `-g group carpdemote [N]` / `-carpdemote [N]`, or show the group.
fn group(c: &mut Client, g: &str, args: &[String]) {
    if args.is_empty() {
        match c.call(&Request::GetGroupDemote { group: g.into() }) {
            Ok(Reply::Demote(n)) => println!("{g}: carp demote count {n}"),
            Ok(other) => die(format!("unexpected reply {other:?}")),
            Err(e) => die(e),
        }
        return;
    }
    let delta = libpf::ifconfig::parse_group_args(g, args).unwrap_or_else(|e| die(e));
    if let Err(e) = c.call(&Request::DemoteGroup {
        group: g.into(),
        delta,
        reason: "carpctl".into(),
    }) {
        die(e);
    }
}

/// sysctl(8) style: `net.inet.carp.preempt` or `net.inet.carp.preempt=1`.
fn sysctl(c: &mut Client, args: &[String]) {
    let names: Vec<String> = if args.is_empty() {
        [
            "net.inet.carp.allow",
            "net.inet.carp.preempt",
            "net.inet.carp.log",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    } else {
        args.to_vec()
    };
    for a in names {
        let (name, value) = match a.split_once('=') {
            Some((n, v)) => (
                n.to_string(),
                Some(
                    v.parse::<i64>()
                        .unwrap_or_else(|_| die(format!("{a}: invalid value"))),
                ),
            ),
            None => (a.clone(), None),
        };
        match c.call(&Request::Sysctl {
            name: name.clone(),
            value,
        }) {
            Ok(Reply::Sysctl(v)) => println!("{name}={v}"),
            Ok(other) => die(format!("unexpected reply {other:?}")),
            Err(e) => die(e),
        }
    }
}

fn pfsync_stats(c: &mut Client) {
    let (text, warning) = carpctl::pfsync_stats(c).unwrap_or_else(|e| die(e));
    print!("{text}");
    if let Some(w) = warning {
        eprintln!("carpctl: {w}");
    }
}

fn stats(c: &mut Client) {
    let s = match c.call(&Request::GetCarpStats) {
        Ok(Reply::CarpStats(s)) => s,
        Ok(other) => die(format!("unexpected reply {other:?}")),
        Err(e) => die(e),
    };
    println!("carp:");
    println!("\t{} packets received (IPv4)", s.ipackets);
    println!("\t{} packets received (IPv6)", s.ipackets6);
    println!("\t\t{} packets discarded for bad interface", s.badif);
    println!("\t\t{} packets discarded for wrong TTL", s.badttl);
    println!("\t\t{} packets shorter than header", s.hdrops);
    println!("\t\t{} discarded for bad checksums", s.badsum);
    println!("\t\t{} discarded packets with a bad version", s.badver);
    println!("\t\t{} discarded because packet too short", s.badlen);
    println!("\t\t{} discarded for bad authentication", s.badauth);
    println!("\t\t{} discarded for unknown vhid", s.badvhid);
    println!("\t\t{} discarded because of a bad address list", s.badaddrs);
    println!("\t{} packets sent (IPv4)", s.opackets);
    println!("\t{} packets sent (IPv6)", s.opackets6);
    println!("\t\t{} send failed due to mbuf memory error", s.onomem);
    println!("\t{} transitions to master", s.preempt);
    println!("\t{} discarded as replayed", s.replay);
    println!("\t{} discarded as rewritten", s.rewritten);
    println!("\t{} elections lost to ties", s.ties);
    println!("\t{} packets dropped as another host's share", s.lsdrop);
}

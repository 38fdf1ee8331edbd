//! netstart: bring interfaces up from hostname.if(5) files, as OpenBSD's
//! /etc/netstart does. Real interfaces are configured through netlink,
//! carp and pfsync interfaces through pfd. Called without interface names
//! (at boot) it configures every interface that has a file, real ones
//! first and pfsync0 last, and holds CARP demoted by 128 meanwhile as
//! OpenBSD's /etc/rc does around it, so a booting firewall does not take
//! over before it is ready.

use crate::ctl;
use crate::hostname_if::{self, HostnameLine};
use crate::ifconfig::{parse_args, IfOp};
use crate::ioctl::client::Client;
use crate::ioctl::Request;
use crate::sys::netlink::Netlink;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;

pub struct Options {
    pub dir: PathBuf,
    pub socket: String,
    pub verbose: bool,
}

/// Demotion held while netstart configures everything at boot.
pub const BOOT_DEMOTE: i32 = 128;

struct Ctx<'a> {
    opts: &'a Options,
    nl: Option<Netlink>,
    client: Option<Client>,
    ok: bool,
}

impl Ctx<'_> {
    fn error(&mut self, msg: String) {
        eprintln!("netstart: {msg}");
        self.ok = false;
    }

    fn client(&mut self) -> Result<&mut Client, String> {
        if self.client.is_none() {
            self.client = Some(Client::connect(&self.opts.socket).map_err(|e| e.to_string())?);
        }
        self.client.as_mut().ok_or_else(|| "no pfd".to_string())
    }

    fn netlink(&mut self) -> Result<&mut Netlink, String> {
        if self.nl.is_none() {
            self.nl = Some(Netlink::open().map_err(|e| format!("netlink: {e}"))?);
        }
        self.nl.as_mut().ok_or_else(|| "no netlink".to_string())
    }

    fn ifconfig(&mut self, ifname: &str, args: &[String]) -> Result<(), String> {
        if self.opts.verbose {
            println!("ifconfig {ifname} {}", args.join(" "));
        }
        if ctl::is_pseudo(ifname) {
            let c = self.client()?;
            return ctl::configure_pseudo(c, ifname, args);
        }
        let ops = parse_args(args).map_err(|e| format!("{ifname}: {e}"))?;
        let nl = self.netlink()?;
        let link = nl
            .link_by_name(ifname)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{ifname}: no such interface"))?;
        let idx = link.index;
        let mut bring_up = false;
        let mut groups = Vec::new();
        for op in ops {
            match op {
                IfOp::Inet {
                    net,
                    broadcast,
                    alias,
                } => {
                    if !alias {
                        // `inet` without `alias` replaces the first IPv4 address.
                        let cur = nl.addrs(Some(idx)).map_err(|e| e.to_string())?;
                        if let Some(first) = cur.iter().find(|a| a.net.addr.is_ipv4()) {
                            if first.net != net {
                                nl.del_addr(idx, first.net).map_err(|e| e.to_string())?;
                            }
                        }
                    }
                    let bcast = broadcast.or_else(|| match net.broadcast() {
                        IpAddr::V4(b) if net.prefix < 31 => Some(b),
                        _ => None,
                    });
                    nl.add_addr(idx, net, bcast, false)
                        .map_err(|e| e.to_string())?;
                    bring_up = true;
                }
                IfOp::Inet6 { net, .. } => {
                    nl.add_addr(idx, net, None, false)
                        .map_err(|e| e.to_string())?;
                    bring_up = true;
                }
                IfOp::DeleteAddr(net) => nl.del_addr(idx, net).map_err(|e| e.to_string())?,
                IfOp::Up => bring_up = true,
                IfOp::Down => {
                    bring_up = false;
                    nl.set_up(idx, false).map_err(|e| e.to_string())?;
                }
                IfOp::Mtu(m) => nl.set_mtu(idx, m).map_err(|e| e.to_string())?,
                IfOp::Description(d) => nl.set_alias(idx, &d).map_err(|e| e.to_string())?,
                IfOp::Create => {}
                // Interface groups live in pfd (Linux has none).
                op @ (IfOp::Group(_) | IfOp::NoGroup(_)) => groups.push(op),
                other => {
                    return Err(format!(
                        "{ifname}: {}: only for carp and pfsync interfaces",
                        other.keyword()
                    ))
                }
            }
        }
        if bring_up {
            nl.set_up(idx, true).map_err(|e| e.to_string())?;
        }
        if !groups.is_empty() {
            let c = self.client()?;
            ctl::apply_groups(c, ifname, &groups)?;
        }
        Ok(())
    }

    fn command(&mut self, ifname: &str, cmd: &str) {
        if self.opts.verbose {
            println!("{cmd}");
        }
        match Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .env("if", ifname)
            .status()
        {
            Ok(s) if s.success() => {}
            Ok(s) => self.error(format!("hostname.{ifname}: `{cmd}` failed ({s})")),
            Err(e) => self.error(format!("hostname.{ifname}: `{cmd}`: {e}")),
        }
    }

    fn interface(&mut self, ifname: &str, required: bool) {
        let path = self.opts.dir.join(format!("hostname.{ifname}"));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                if required {
                    self.error(format!("{}: {e}", path.display()));
                }
                return;
            }
        };
        let lines = match hostname_if::parse(&text, ifname) {
            Ok(l) => l,
            Err(e) => return self.error(e.to_string()),
        };
        for line in lines {
            match line {
                HostnameLine::Ifconfig(args) => {
                    if let Err(e) = self.ifconfig(ifname, &args) {
                        self.error(e);
                    }
                }
                HostnameLine::Command(cmd) => self.command(ifname, &cmd),
            }
        }
    }
}

/// Every interface with a hostname.* file in `dir`, in boot order.
pub fn interfaces_in(dir: &std::path::Path) -> Vec<String> {
    let names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_prefix("hostname."))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    hostname_if::interface_order(&names)
}

/// Configure `ifs` (or every interface at boot). False if anything failed.
pub fn run(opts: &Options, ifs: &[String]) -> bool {
    let mut ctx = Ctx {
        opts,
        nl: None,
        client: None,
        ok: true,
    };
    let boot = ifs.is_empty();
    let names = if boot {
        interfaces_in(&opts.dir)
    } else {
        ifs.to_vec()
    };
    let demoted = boot
        && names.iter().any(|n| ctl::is_pseudo(n))
        && ctx
            .client()
            .and_then(|c| {
                c.call(&Request::DemoteGroup {
                    group: "carp".into(),
                    delta: BOOT_DEMOTE,
                    reason: "netstart".into(),
                })
                .map_err(|e| e.to_string())
            })
            .is_ok();
    for n in &names {
        ctx.interface(n, !boot);
    }
    if demoted {
        if let Ok(c) = ctx.client() {
            let _ = c.call(&Request::DemoteGroup {
                group: "carp".into(),
                delta: -BOOT_DEMOTE,
                reason: "netstart done".into(),
            });
        }
    }
    ctx.ok
}

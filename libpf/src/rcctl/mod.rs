//! rcctl(8) over systemd: OpenBSD's rcctl for the services of this
//! project (pf, pfd, pflogd, pfsyncd), each command carried out as systemctl
//! calls. The logic is pure: a `Manager` answers the calls (the real one,
//! `host::Systemd`, runs systemctl; the tests record them), and the flags
//! live where OpenBSD keeps them, `NAME_flags=` lines of
//! /etc/rc.conf.local, which the units read as their environment.

pub mod conf;
pub mod host;
#[cfg(test)]
mod tests;

use std::io::{self, Write};

/// A service rcctl knows: its name, its unit, and the units enabling it
/// enables (pf is pfd, its rules and netstart).
#[derive(Debug)]
pub struct Service {
    pub name: &'static str,
    pub unit: &'static str,
    pub enables: &'static [&'static str],
    /// The rc.conf.local variable of its flags (pf's are pfd's).
    pub flags_var: &'static str,
    /// A daemon (`NAME_flags=`), or a service (`NAME=YES|NO`), as pf is
    /// on OpenBSD.
    pub daemon: bool,
}

pub const SERVICES: &[Service] = &[
    Service {
        name: "pf",
        unit: "pf.service",
        enables: &["pfd.service", "pf.service", "netstart.service"],
        flags_var: "pfd_flags",
        daemon: false,
    },
    Service {
        name: "pfd",
        unit: "pfd.service",
        enables: &["pfd.service"],
        flags_var: "pfd_flags",
        daemon: true,
    },
    Service {
        name: "pflogd",
        unit: "pflogd.service",
        enables: &["pflogd.service"],
        flags_var: "pflogd_flags",
        daemon: true,
    },
    Service {
        name: "pfsyncd",
        unit: "pfsyncd.service",
        enables: &["pfsyncd.service"],
        flags_var: "pfsyncd_flags",
        daemon: true,
    },
];

/// What carries the commands out: systemctl and rc.conf.local.
pub trait Manager {
    /// Run systemctl with `args`: its exit status and standard output.
    fn systemctl(&mut self, args: &[&str]) -> io::Result<(i32, String)>;
    /// rc.conf.local's text ("" when there is none).
    fn read_conf(&mut self) -> io::Result<String>;
    fn write_conf(&mut self, text: &str) -> io::Result<()>;
    /// What is wrong with running service `name` beyond what systemd
    /// sees (pfsyncd: the pfsync health check of pfmetrics(8)); empty
    /// when nothing is, or when the service has no such check.
    fn health(&mut self, _name: &str) -> io::Result<Vec<String>> {
        Ok(vec![])
    }
}

/// rcctl's options.
#[derive(Debug, Default, Clone, Copy)]
pub struct Opts {
    /// -d: show each systemctl call on standard error.
    pub debug: bool,
    /// -f: start a service that is not enabled.
    pub force: bool,
}

pub const USAGE: &str = "usage:\trcctl get|getdef|set service | daemon [variable [arguments]]
\trcctl [-df] start|stop|restart|reload|check daemon ...
\trcctl disable|enable [daemon ...]
\trcctl ls all|failed|off|on|started|stopped
";

/// The `ls` arguments.
const LS: &[&str] = &["all", "failed", "off", "on", "started", "stopped"];

/// One rcctl run: the words after the options. Output and messages go
/// to `out` and `err`; the result is the exit status (2: no such service).
pub fn run(
    m: &mut dyn Manager,
    o: Opts,
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut r = Run { m, o, out, err };
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match r.dispatch(&words) {
        Ok(code) => code,
        Err(Fail::Usage) => {
            let _ = r.err.write_all(USAGE.as_bytes());
            1
        }
        Err(Fail::Msg(code, msg)) => {
            let _ = writeln!(r.err, "rcctl: {msg}");
            code
        }
    }
}

enum Fail {
    Usage,
    /// Exit status and message.
    Msg(i32, String),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        Fail::Msg(1, e.to_string())
    }
}

/// The service named `name`, or rcctl's error (exit 2).
fn service(name: &str) -> Result<&'static Service, Fail> {
    SERVICES
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Fail::Msg(2, format!("service {name} does not exist")))
}

struct Run<'a> {
    m: &'a mut dyn Manager,
    o: Opts,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

impl Run<'_> {
    fn dispatch(&mut self, w: &[&str]) -> Result<i32, Fail> {
        let (&cmd, rest) = w.split_first().ok_or(Fail::Usage)?;
        match cmd {
            "enable" | "disable" => {
                if rest.is_empty() {
                    return Err(Fail::Usage);
                }
                let svcs = rest
                    .iter()
                    .map(|n| service(n))
                    .collect::<Result<Vec<_>, _>>()?;
                for s in svcs {
                    self.status(s, cmd == "enable")?;
                }
                Ok(0)
            }
            "get" | "getdef" => match rest {
                [name] => self.get(service(name)?, None, cmd == "getdef"),
                [name, var] => self.get(service(name)?, Some(var), cmd == "getdef"),
                _ => Err(Fail::Usage),
            },
            "set" => match rest {
                [name, "status", v @ ("on" | "off")] => {
                    self.status(service(name)?, *v == "on")?;
                    Ok(0)
                }
                [name, "flags", flags @ ..] => self.set_flags(service(name)?, flags),
                [name, var, ..] => {
                    service(name)?;
                    Err(self.no_variable(var))
                }
                _ => Err(Fail::Usage),
            },
            "ls" => match rest {
                [what] if LS.contains(what) => self.ls(what),
                _ => Err(Fail::Usage),
            },
            "start" | "stop" | "restart" | "reload" | "check" => {
                if rest.is_empty() {
                    return Err(Fail::Usage);
                }
                let svcs = rest
                    .iter()
                    .map(|n| service(n))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut code = 0;
                for s in svcs {
                    code = code.max(self.action(cmd, s)?);
                }
                Ok(code)
            }
            _ => Err(Fail::Usage),
        }
    }

    fn systemctl(&mut self, args: &[&str]) -> Result<(i32, String), Fail> {
        if self.o.debug {
            let _ = writeln!(self.err, "doing systemctl {}", args.join(" "));
        }
        self.m
            .systemctl(args)
            .map_err(|e| Fail::Msg(1, format!("systemctl: {e}")))
    }

    /// enable (`set NAME status on`) or disable: the units' [Install].
    fn status(&mut self, s: &Service, on: bool) -> Result<(), Fail> {
        let verb = if on { "enable" } else { "disable" };
        let mut args = vec![verb, "--quiet"];
        args.extend_from_slice(s.enables);
        match self.systemctl(&args)? {
            (0, _) => Ok(()),
            (c, _) => Err(Fail::Msg(
                1,
                format!("{verb} {}: systemctl exit {c}", s.name),
            )),
        }
    }

    fn enabled(&mut self, s: &Service) -> Result<bool, Fail> {
        Ok(self.systemctl(&["is-enabled", "--quiet", s.unit])?.0 == 0)
    }

    fn active(&mut self, s: &Service) -> Result<bool, Fail> {
        Ok(self.systemctl(&["is-active", "--quiet", s.unit])?.0 == 0)
    }

    /// The service's own health check; its problems on standard error.
    fn healthy(&mut self, s: &Service) -> Result<bool, Fail> {
        match self.m.health(s.name) {
            Ok(problems) => {
                for p in &problems {
                    writeln!(self.err, "{}: {p}", s.name)?;
                }
                Ok(problems.is_empty())
            }
            Err(e) => {
                writeln!(self.err, "{}: health check: {e}", s.name)?;
                Ok(false)
            }
        }
    }

    /// `get NAME [variable]`: exit 0 if enabled, 1 if not, as OpenBSD's.
    fn get(&mut self, s: &Service, var: Option<&str>, default: bool) -> Result<i32, Fail> {
        let on = if default { false } else { self.enabled(s)? };
        let flags = if default {
            String::new()
        } else {
            conf::get(&self.m.read_conf()?, s.flags_var).unwrap_or_default()
        };
        let shown = if on { flags } else { "NO".to_string() };
        match (var, s.daemon) {
            (None, false) => writeln!(self.out, "{}={}", s.name, if on { "YES" } else { "NO" })?,
            (None, true) => writeln!(self.out, "{}={shown}", s.flags_var)?,
            (Some("flags"), _) => writeln!(self.out, "{shown}")?,
            (Some("status"), _) => {}
            (Some(v), _) => return Err(self.no_variable(v)),
        }
        Ok(if on { 0 } else { 1 })
    }

    fn no_variable(&self, v: &str) -> Fail {
        Fail::Msg(
            1,
            format!("{v}: no such variable here (flags and status only: systemd runs the units)"),
        )
    }

    /// `set NAME flags [flags]`: rc.conf.local; none given, the default.
    fn set_flags(&mut self, s: &Service, flags: &[&str]) -> Result<i32, Fail> {
        if flags == ["NO"] {
            return Err(Fail::Msg(1, "\"flags NO\" contradicts \"enable\"".into()));
        }
        let value = flags.join(" ");
        let text = self.m.read_conf()?;
        let new = conf::set(
            &text,
            s.flags_var,
            (!value.is_empty()).then_some(value.as_str()),
        );
        if new != text {
            self.m.write_conf(&new)?;
        }
        Ok(0)
    }

    /// `ls WHAT`: the services that match, one a line. `failed` exits 1
    /// when an enabled service is not running.
    fn ls(&mut self, what: &str) -> Result<i32, Fail> {
        let mut code = 0;
        for s in SERVICES {
            let show = match what {
                "all" => true,
                "on" => self.enabled(s)?,
                "off" => !self.enabled(s)?,
                "started" => self.active(s)?,
                "stopped" => !self.active(s)?,
                _ => self.enabled(s)? && !self.active(s)?,
            };
            if show {
                writeln!(self.out, "{}", s.name)?;
                if what == "failed" {
                    code = 1;
                }
            }
        }
        Ok(code)
    }

    /// start, stop, restart, reload, check: `NAME(ok)` or `NAME(failed)`.
    fn action(&mut self, cmd: &str, s: &Service) -> Result<i32, Fail> {
        if cmd == "start" && !self.o.force && !self.enabled(s)? {
            // As OpenBSD's rc.d: a disabled service starts with -f only.
            let _ = writeln!(self.err, "{}: not enabled (rcctl -f start {0})", s.name);
            return Ok(1);
        }
        let ok = match cmd {
            "check" => self.active(s)? && self.healthy(s)?,
            _ => self.systemctl(&[cmd, s.unit])?.0 == 0,
        };
        writeln!(self.out, "{}({})", s.name, if ok { "ok" } else { "failed" })?;
        Ok(if ok { 0 } else { 1 })
    }
}

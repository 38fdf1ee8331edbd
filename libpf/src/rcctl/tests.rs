//! rcctl's commands as the systemctl calls they make, against a manager
//! that records them and answers from a table of enabled and active units.

use super::*;
use std::collections::BTreeSet;

#[derive(Default)]
struct Fake {
    calls: Vec<String>,
    enabled: BTreeSet<String>,
    active: BTreeSet<String>,
    conf: String,
    /// Units whose start fails.
    broken: BTreeSet<String>,
    /// What the health check of a service finds (Err: it cannot ask).
    sick: Vec<(String, Result<Vec<String>, String>)>,
}

impl Manager for Fake {
    fn systemctl(&mut self, args: &[&str]) -> io::Result<(i32, String)> {
        self.calls.push(args.join(" "));
        let units = args
            .iter()
            .filter(|a| a.ends_with(".service"))
            .map(|u| u.to_string());
        let code = match args[0] {
            "enable" => {
                self.enabled.extend(units);
                0
            }
            "disable" => {
                for u in units {
                    self.enabled.remove(&u);
                }
                0
            }
            "is-enabled" => i32::from(!self.enabled.contains(args[2])),
            "is-active" => 3 * i32::from(!self.active.contains(args[2])),
            "start" | "restart" | "reload" if self.broken.contains(args[1]) => 1,
            "start" | "restart" => {
                self.active.insert(args[1].into());
                0
            }
            "stop" => {
                self.active.remove(args[1]);
                0
            }
            _ => 0,
        };
        Ok((code, String::new()))
    }
    fn read_conf(&mut self) -> io::Result<String> {
        Ok(self.conf.clone())
    }
    fn write_conf(&mut self, text: &str) -> io::Result<()> {
        self.conf = text.into();
        Ok(())
    }
    fn health(&mut self, name: &str) -> io::Result<Vec<String>> {
        self.calls.push(format!("health {name}"));
        match self.sick.iter().find(|(n, _)| n == name) {
            Some((_, r)) => r.clone().map_err(io::Error::other),
            None => Ok(vec![]),
        }
    }
}

#[test]
fn check_runs_the_health_check_of_an_active_service() {
    let mut f = Fake::default();
    f.active.insert("pfsyncd.service".into());
    assert_eq!(
        rc(&mut f, "check pfsyncd"),
        (0, "pfsyncd(ok)\n".into(), String::new())
    );
    assert_eq!(
        f.calls,
        ["is-active --quiet pfsyncd.service", "health pfsyncd"]
    );
    f.sick = vec![(
        "pfsyncd".into(),
        Ok(vec!["sync peer silent for 7.0 s".into()]),
    )];
    assert_eq!(
        rc(&mut f, "check pfsyncd"),
        (
            1,
            "pfsyncd(failed)\n".into(),
            "pfsyncd: sync peer silent for 7.0 s\n".into()
        )
    );
    f.sick = vec![("pfsyncd".into(), Err("no pfd".into()))];
    assert_eq!(
        rc(&mut f, "check pfsyncd"),
        (
            1,
            "pfsyncd(failed)\n".into(),
            "pfsyncd: health check: no pfd\n".into()
        )
    );
    // Not running: no health check asked.
    f.active.clear();
    f.calls.clear();
    assert_eq!(rc(&mut f, "check pfsyncd").0, 1);
    assert_eq!(f.calls, ["is-active --quiet pfsyncd.service"]);
}

/// Run rcctl with `line` (options first): exit status, stdout, stderr.
fn rc(f: &mut Fake, line: &str) -> (i32, String, String) {
    let mut o = Opts::default();
    let mut words: Vec<String> = Vec::new();
    for w in line.split_whitespace() {
        match w {
            "-d" if words.is_empty() => o.debug = true,
            "-f" if words.is_empty() => o.force = true,
            _ => words.push(w.into()),
        }
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(f, o, &words, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).expect("utf8"),
        String::from_utf8(err).expect("utf8"),
    )
}

#[test]
fn enable_pf_enables_pfd_its_rules_and_netstart() {
    let mut f = Fake::default();
    assert_eq!(rc(&mut f, "enable pf pfsyncd").0, 0);
    assert_eq!(
        f.calls,
        [
            "enable --quiet pfd.service pf.service netstart.service",
            "enable --quiet pfsyncd.service"
        ]
    );
    f.calls.clear();
    assert_eq!(rc(&mut f, "set pfsyncd status off").0, 0);
    assert_eq!(rc(&mut f, "disable pf").0, 0);
    assert_eq!(
        f.calls,
        [
            "disable --quiet pfsyncd.service",
            "disable --quiet pfd.service pf.service netstart.service"
        ]
    );
    assert!(f.enabled.is_empty());
}

#[test]
fn actions_print_ok_or_failed() {
    let mut f = Fake::default();
    rc(&mut f, "enable pf pfsyncd");
    f.calls.clear();
    assert_eq!(
        rc(&mut f, "start pf pfsyncd"),
        (0, "pf(ok)\npfsyncd(ok)\n".into(), String::new())
    );
    assert_eq!(
        f.calls,
        [
            "is-enabled --quiet pf.service",
            "start pf.service",
            "is-enabled --quiet pfsyncd.service",
            "start pfsyncd.service"
        ]
    );
    f.calls.clear();
    assert_eq!(rc(&mut f, "check pfsyncd").1, "pfsyncd(ok)\n");
    assert_eq!(
        f.calls,
        ["is-active --quiet pfsyncd.service", "health pfsyncd"]
    );
    assert_eq!(rc(&mut f, "reload pf").1, "pf(ok)\n");
    assert_eq!(rc(&mut f, "restart pfd").1, "pfd(ok)\n");
    assert_eq!(rc(&mut f, "stop pfsyncd").1, "pfsyncd(ok)\n");
    assert_eq!(
        rc(&mut f, "check pfsyncd"),
        (1, "pfsyncd(failed)\n".into(), String::new())
    );
    f.broken.insert("pfsyncd.service".into());
    assert_eq!(
        rc(&mut f, "start pfsyncd"),
        (1, "pfsyncd(failed)\n".into(), String::new())
    );
}

#[test]
fn a_disabled_service_starts_with_f_only() {
    let mut f = Fake::default();
    let (code, out, err) = rc(&mut f, "start pfd");
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("not enabled"), "{err}");
    assert!(!f.calls.iter().any(|c| c.starts_with("start")));
    assert_eq!(rc(&mut f, "-f start pfd").1, "pfd(ok)\n");
    assert_eq!(
        f.calls.last().map(String::as_str),
        Some("start pfd.service")
    );
    let (_, _, err) = rc(&mut f, "-d check pfd");
    assert_eq!(err, "doing systemctl is-active --quiet pfd.service\n");
}

#[test]
fn get_and_set_flags_as_openbsd_shows_them() {
    let mut f = Fake::default();
    assert_eq!(rc(&mut f, "get pf"), (1, "pf=NO\n".into(), String::new()));
    assert_eq!(
        rc(&mut f, "get pfd"),
        (1, "pfd_flags=NO\n".into(), String::new())
    );
    rc(&mut f, "enable pf");
    assert_eq!(rc(&mut f, "get pf"), (0, "pf=YES\n".into(), String::new()));
    assert_eq!(
        rc(&mut f, "get pfd"),
        (0, "pfd_flags=\n".into(), String::new())
    );
    assert_eq!(rc(&mut f, "set pf flags -P -n 2").0, 0);
    assert_eq!(f.conf, "pfd_flags=\"-P -n 2\"\n");
    assert_eq!(
        rc(&mut f, "get pfd"),
        (0, "pfd_flags=-P -n 2\n".into(), String::new())
    );
    assert_eq!(rc(&mut f, "get pfd flags").1, "-P -n 2\n");
    assert_eq!(
        rc(&mut f, "get pfd status"),
        (0, String::new(), String::new())
    );
    assert_eq!(rc(&mut f, "get pfsyncd status").0, 1);
    assert_eq!(
        rc(&mut f, "getdef pfd"),
        (1, "pfd_flags=NO\n".into(), String::new())
    );
    assert_eq!(rc(&mut f, "set pfd flags").0, 0);
    assert_eq!(f.conf, "");
    assert_eq!(rc(&mut f, "set pfd flags NO").0, 1);
    assert_eq!(rc(&mut f, "set pfd user _pfd").0, 1);
    assert_eq!(rc(&mut f, "get pfd timeout").0, 1);
}

#[test]
fn ls_lists_by_state() {
    let mut f = Fake::default();
    assert_eq!(rc(&mut f, "ls all").1, "pf\npfd\npflogd\npfsyncd\n");
    rc(&mut f, "enable pf pfsyncd");
    rc(&mut f, "start pf");
    f.active.insert("pfd.service".into());
    assert_eq!(rc(&mut f, "ls on").1, "pf\npfd\npfsyncd\n");
    assert_eq!(rc(&mut f, "ls off").1, "pflogd\n");
    assert_eq!(rc(&mut f, "ls started").1, "pf\npfd\n");
    assert_eq!(rc(&mut f, "ls stopped").1, "pflogd\npfsyncd\n");
    assert_eq!(
        rc(&mut f, "ls failed"),
        (1, "pfsyncd\n".into(), String::new())
    );
    rc(&mut f, "start pfsyncd");
    assert_eq!(rc(&mut f, "ls failed"), (0, String::new(), String::new()));
}

#[test]
fn bad_command_lines() {
    let mut f = Fake::default();
    for line in [
        "",
        "enable",
        "start",
        "ls",
        "ls rogue",
        "order pfd",
        "get",
        "set pfd",
    ] {
        let (code, out, err) = rc(&mut f, line);
        assert_eq!((code, out.as_str()), (1, ""), "{line}");
        assert!(err.starts_with("usage:"), "{line}: {err}");
    }
    assert_eq!(
        rc(&mut f, "enable pfd sshd"),
        (
            2,
            String::new(),
            "rcctl: service sshd does not exist\n".into()
        )
    );
    // Nothing was enabled: the names are checked first.
    assert!(f.calls.is_empty());
}

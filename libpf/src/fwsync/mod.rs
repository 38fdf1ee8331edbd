//! fwsync(8): push pf.conf, the hostname.if files and other files to the
//! other member of a pair over OpenSSH, with the peer's differences.
//! `push` runs on the node the admin edits: it reads fwsync.conf and the
//! files, refuses a ruleset that does not parse here, and runs the
//! system's ssh with `fwsync -r` on the peer, the files on its standard
//! input. `receive` is that `fwsync -r`: it stages the files, applies the
//! differences, checks the staged ruleset with `pfctl -nf`, and only then
//! renames the files into place, loads the ruleset and runs netstart,
//! putting everything back when a step fails. The configuration language,
//! the rewrites and the stream are pfcore's (`pfcore::fwsync`).

pub mod push;
pub mod receive;

use crate::ctl;
use crate::ioctl::client::Client;
use std::io::Write;
use std::path::PathBuf;

/// The default configuration file.
pub const CONFIG: &str = "/etc/fwsync.conf";

/// A tool of ours (pfctl, netstart): the one beside this executable when
/// there is one (an installed pair, or a build tree), else from PATH.
pub fn tool(name: &str) -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(p) = exe.parent().map(|d| d.join(name)) {
            if p.is_file() {
                return p;
            }
        }
    }
    PathBuf::from(name)
}

/// `text` (the ruleset `name`) as `pfctl -f` would take it, without
/// loading it: parsed (pfd asked about interface groups and CARP
/// addresses when it runs here, as pfctl does) and checked for what pfd
/// cannot enforce. Every diagnostic is printed; whether it would load.
pub fn check_ruleset(text: &str, name: &str) -> bool {
    let mut client = Client::connect_default().ok();
    let resolver = ctl::resolver(client.as_mut());
    let (rs, errs) = pfcore::conf::parse_partial_raw(text, name, &resolver, &|p: &str| {
        std::fs::read_to_string(p)
    });
    let mut err = std::io::stderr();
    for e in &errs {
        let _ = writeln!(err, "{e}");
    }
    if !errs.iter().all(|e| e.warning) {
        return false;
    }
    let support = pfcore::ruleset::support::check(&rs);
    for w in &support.warnings {
        let _ = writeln!(err, "fwsync: warning: {}", w.message(name));
    }
    for u in &support.refused {
        let _ = writeln!(err, "{}", u.message(name));
    }
    support.ok()
}

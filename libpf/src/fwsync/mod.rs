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

//! What carpctl says about a carp interface beyond ifconfig's block: the
//! passphrase (`-k`: root sees it, others whether one is set), and its
//! warnings: a hostname.if file holding the passphrase that anyone may
//! read, and an election tie with the peer the vhid hears.

use crate::carp::CarpStatus;
use crate::ioctl::client::Client;
use crate::ioctl::{Reply, Request};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A peer heard within this long counts for the tie warning.
pub const TIE_RECENT_MS: u64 = 10_000;

/// The status of carp interface `name` (None: no such interface).
pub fn status(client: &mut Client, name: &str) -> Result<Option<CarpStatus>, String> {
    match client
        .call(&Request::GetCarp { name: name.into() })
        .map_err(|e| e.to_string())?
    {
        Reply::Carp(st) => Ok(st),
        other => Err(format!("unexpected reply {other:?}")),
    }
}

/// `carpctl -s pfsync0`: OpenBSD's `netstat -s -p pfsync` counters of
/// pfsyncd's last report, then the bulk update and the peer's last word.
/// Without a pfsyncd the counters are zeros and the error says why.
pub fn pfsync_stats(client: &mut Client) -> Result<(String, Option<String>), String> {
    use crate::pfsync::stats::{netstat, status_lines};
    match client
        .call(&Request::GetPfsyncStats)
        .map_err(|e| e.to_string())?
    {
        Reply::PfsyncStats(Some(r)) => Ok((netstat(&r.stats) + &status_lines(&r), None)),
        Reply::PfsyncStats(None) => Ok((
            netstat(&Default::default()),
            Some("pfsync0: no pfsyncd attached".into()),
        )),
        other => Err(format!("unexpected reply {other:?}")),
    }
}

/// The ` pass ...` words `-k` appends to the `carp:` line: the passphrase
/// quoted when pfd sent it (to root), `set` when only its presence is
/// known, nothing without one.
pub fn pass_words(st: &CarpStatus) -> String {
    if !st.config.key.is_empty() {
        format!(" pass \"{}\"", String::from_utf8_lossy(&st.config.key))
    } else if st.key_set {
        " pass set".to_string()
    } else {
        String::new()
    }
}

/// The ifconfig block, with the passphrase words on the `carp:` line
/// when `keys`.
pub fn block(st: &CarpStatus, keys: bool) -> String {
    let text = crate::ifconfig::print_carp(st);
    if !keys {
        return text;
    }
    let words = pass_words(st);
    text.lines()
        .map(|l| {
            if l.starts_with("\tcarp: ") {
                format!("{l}{words}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// Does a hostname.if text set a passphrase (`pass WORD` on some line)?
pub fn holds_pass(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.split('#').next().unwrap_or("");
        let w: Vec<&str> = l.split_whitespace().collect();
        w.windows(2).any(|p| p[0] == "pass")
    })
}

/// A warning when `dir/hostname.NAME` holds a passphrase and others may
/// read it (OpenBSD's netstart calls such a file insecure and chmods it;
/// carpctl only says so).
pub fn file_warning(dir: &Path, name: &str) -> Option<String> {
    let path = dir.join(format!("hostname.{name}"));
    let meta = std::fs::metadata(&path).ok()?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o004 == 0 {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    if !holds_pass(&text) {
        return None;
    }
    Some(format!(
        "warning: {} holds the carp passphrase and is world-readable (mode {mode:04o}): chmod o-rwx it",
        path.display()
    ))
}

/// Every warning for carp interface `st` (file in `dir`, election tie).
pub fn warnings(st: &CarpStatus, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(file_warning(dir, &st.name));
    out.extend(
        st.tie_warning(TIE_RECENT_MS)
            .map(|w| format!("warning: {w}")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn pass_in_hostname_files() {
        assert!(holds_pass(
            "inet 192.0.2.1/24 vhid 1 carpdev em0 pass s3cret\n"
        ));
        assert!(!holds_pass("inet 192.0.2.1/24 vhid 1 # pass s3cret\n"));
        assert!(!holds_pass("inet 192.0.2.1/24 vhid 1 pass\n"));
        let dir = std::env::temp_dir().join(format!("carpctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("hostname.carp7");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"vhid 7 pass s3cret\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let w = file_warning(&dir, "carp7").unwrap();
        assert!(w.contains("world-readable (mode 0644)"), "{w}");
        assert!(!w.contains("s3cret"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(file_warning(&dir, "carp7"), None);
        assert_eq!(file_warning(&dir, "carp8"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

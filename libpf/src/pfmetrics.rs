//! pfmetrics: the metrics export and the health check, over pfd's control socket:
//! collects a `metrics::Snapshot` (status, every ruleset's rules with
//! their counters, CARP, demotion counters, pfsyncd's report), renders it
//! (pfcore's `metrics`), writes it for node_exporter's textfile collector
//! (whole, to a temporary file renamed over the old one), and runs the
//! pfsync health check (pfcore's `pfsync::health`).

use crate::conf::print::print_rule;
use crate::conf::Resolver;
use crate::ioctl::client::Client;
use crate::ioctl::{Error, Reply, Request};
use crate::metrics::{RuleSample, Snapshot};
use crate::pfsync::health::{self, Problem, SyncView, Thresholds};
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Anchors deeper than this are not walked (a loop guard; pf.conf
/// cannot nest that deep in practice).
const MAX_DEPTH: usize = 32;

fn unexpected(r: Reply) -> Error {
    Error::Protocol(format!("unexpected reply {r:?}"))
}

/// What the health check and the pfsync metrics read: pfsync0's state and
/// pfsyncd's report.
pub fn sync_view(c: &mut Client) -> Result<SyncView, Error> {
    let (configured, attached) = match c.call(&Request::GetPfsync)? {
        Reply::Pfsync(p) => (p.config.up && p.config.syncdev.is_some(), p.running),
        r => return Err(unexpected(r)),
    };
    let report = match c.call(&Request::GetPfsyncStats)? {
        Reply::PfsyncStats(r) => r,
        r => return Err(unexpected(r)),
    };
    Ok(SyncView {
        configured,
        attached,
        report,
    })
}

/// The health check's problems (none: healthy).
pub fn check(c: &mut Client, t: &Thresholds) -> Result<Vec<Problem>, Error> {
    Ok(health::check(&sync_view(c)?, t))
}

/// The rules of `anchor` and, depth first, of its children.
fn rules(
    c: &mut Client,
    anchor: &str,
    depth: usize,
    resolver: &dyn Resolver,
    out: &mut Vec<RuleSample>,
) -> Result<(), Error> {
    let list = match c.call(&Request::GetRules {
        anchor: anchor.into(),
    })? {
        Reply::Rules { rules, .. } => rules,
        r => return Err(unexpected(r)),
    };
    for (nr, ri) in list.iter().enumerate() {
        out.push(RuleSample {
            anchor: anchor.to_string(),
            nr: nr as u32,
            label: ri.rule.label.clone().unwrap_or_default(),
            text: print_rule(&ri.rule, resolver),
            counters: ri.counters,
        });
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let children = match c.call(&Request::GetRulesets {
        anchor: anchor.into(),
    })? {
        Reply::Rulesets(v) => v,
        r => return Err(unexpected(r)),
    };
    for child in children {
        let path = if anchor.is_empty() {
            child
        } else {
            format!("{anchor}/{child}")
        };
        rules(c, &path, depth + 1, resolver, out)?;
    }
    Ok(())
}

/// Every interface group's carp demotion counter (group `carp` always).
fn demotions(c: &mut Client) -> Result<Vec<(String, u32)>, Error> {
    let mut groups: Vec<String> = match c.call(&Request::GetGroupMembers)? {
        Reply::GroupMembers(g) => g.into_iter().map(|(name, _)| name).collect(),
        r => return Err(unexpected(r)),
    };
    if !groups.iter().any(|g| g == "carp") {
        groups.push("carp".into());
    }
    groups.sort();
    let mut out = vec![];
    for g in groups {
        match c.call(&Request::GetGroupDemote { group: g.clone() })? {
            Reply::Demote(n) => out.push((g, n)),
            r => return Err(unexpected(r)),
        }
    }
    Ok(out)
}

/// Everything the metrics show, read now.
pub fn collect(c: &mut Client, t: Thresholds, resolver: &dyn Resolver) -> Result<Snapshot, Error> {
    let status = match c.call(&Request::GetStatus)? {
        Reply::Status(s) => *s,
        r => return Err(unexpected(r)),
    };
    let mut rule_samples = vec![];
    rules(c, "", 0, resolver, &mut rule_samples)?;
    let names = match c.call(&Request::ListInterfaces)? {
        Reply::Interfaces(v) => v,
        r => return Err(unexpected(r)),
    };
    let mut carp = vec![];
    for n in names.iter().filter(|n| n.starts_with("carp")) {
        match c.call(&Request::GetCarp { name: n.clone() })? {
            Reply::Carp(Some(st)) => carp.push(st),
            Reply::Carp(None) => {}
            r => return Err(unexpected(r)),
        }
    }
    let carp_stats = match c.call(&Request::GetCarpStats)? {
        Reply::CarpStats(s) => s,
        r => return Err(unexpected(r)),
    };
    Ok(Snapshot {
        status,
        rules: rule_samples,
        carp,
        carp_stats,
        demote: demotions(c)?,
        pfsync: sync_view(c)?,
        thresholds: t,
        now_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    })
}

/// Writes `text` to `path` as a whole: a temporary file in the same
/// directory (mode 0644), flushed to disk, renamed over `path`, so that
/// node_exporter never reads half a file.
pub fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let ctx = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let name = path
        .file_name()
        .ok_or_else(|| ctx(io::Error::from(io::ErrorKind::InvalidInput)))?;
    // node_exporter reads *.prom only: the temporary name is not one.
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let r = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.map_err(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("pfmetrics-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pf.prom");
        write_atomic(&p, "a 1\n").unwrap();
        write_atomic(&p, "b 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "b 2\n");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1);
        let e = write_atomic(&dir.join("no/such/dir.prom"), "x").unwrap_err();
        assert!(e.to_string().contains("no/such/dir.prom"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

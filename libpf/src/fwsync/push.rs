//! The pushing side: fwsync.conf, the files it names (globs expanded,
//! directories walked), the ruleset parsed in-process as `pfctl -nf`
//! would, then `ssh PEER REMOTE -r` with the files on its standard input.
//! What the peer says comes back on our standard output and error; its
//! exit status is ours.

use pfcore::fwsync::bundle::{Bundle, File};
use pfcore::fwsync::conf::{is_glob, Config};
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// A line to standard error, a closed one ignored.
macro_rules! warn {
    ($($a:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($a)*);
    }};
}

/// What the command line asks for.
pub struct Options {
    pub config: String,
    pub dry: bool,
    pub verbose: bool,
}

/// Runs a push; the exit status.
pub fn push(o: &Options) -> i32 {
    let text = match fs::read_to_string(&o.config) {
        Ok(t) => t,
        Err(e) => {
            warn!("fwsync: {}: {e}", o.config);
            return 1;
        }
    };
    let conf = match pfcore::fwsync::conf::parse(&text, &o.config) {
        Ok(c) => c,
        Err(errs) => {
            for e in errs {
                warn!("{e}");
            }
            return 1;
        }
    };
    let files = match collect(&conf) {
        Ok(f) => f,
        Err(e) => {
            warn!("fwsync: {e}");
            return 1;
        }
    };
    if !check_ruleset(&conf) {
        warn!(
            "fwsync: {}: errors: nothing pushed to {}",
            conf.ruleset, conf.peer
        );
        return 1;
    }
    if o.verbose {
        for f in &files {
            warn!("fwsync: send {} ({} bytes)", f.path, f.data.len());
        }
    }
    let bundle = Bundle {
        dry: o.dry,
        verbose: o.verbose,
        config: text,
        files,
    };
    ssh(&conf, &bundle)
}

/// Every file the `sync` lines name, each once, in their order.
pub fn collect(conf: &Config) -> Result<Vec<File>, String> {
    let mut paths: Vec<String> = vec![];
    for s in &conf.syncs {
        let mut found = vec![];
        if is_glob(&s.pattern) {
            glob(&s.pattern, &mut found)?;
        } else {
            match fs::metadata(&s.pattern) {
                Ok(m) if m.is_dir() => walk(Path::new(&s.pattern), &mut found)?,
                Ok(_) => found.push(s.pattern.clone()),
                Err(e) => return Err(format!("{}: {e}", s.pattern)),
            }
        }
        for p in found {
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
    }
    paths
        .into_iter()
        .map(|path| {
            let meta = fs::metadata(&path).map_err(|e| format!("{path}: {e}"))?;
            let data = fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
            Ok(File {
                mode: meta.permissions().mode() & 0o7777,
                path,
                data,
            })
        })
        .collect()
}

/// The regular files of the glob's directory that match it, sorted.
fn glob(pattern: &str, out: &mut Vec<String>) -> Result<(), String> {
    let (dir, _) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    if is_glob(dir) {
        return Err(format!("{pattern}: a glob only in the last component"));
    }
    let dir = if dir.is_empty() { "/" } else { dir };
    let mut names = vec![];
    for e in fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))? {
        let e = e.map_err(|e| format!("{dir}: {e}"))?;
        let path = format!(
            "{}/{}",
            dir.trim_end_matches('/'),
            e.file_name().to_string_lossy()
        );
        if pfcore::fwsync::conf::glob(pattern, &path)
            && fs::metadata(&path).is_ok_and(|m| m.is_file())
        {
            names.push(path);
        }
    }
    names.sort();
    out.extend(names);
    Ok(())
}

/// Every regular file under `dir`, sorted, depth first.
fn walk(dir: &Path, out: &mut Vec<String>) -> Result<(), String> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .and_then(|r| r.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let ft = e.file_type().map_err(|e| format!("{}: {e}", p.display()))?;
        if ft.is_dir() {
            walk(&p, out)?;
        } else if fs::metadata(&p).is_ok_and(|m| m.is_file()) {
            out.push(p.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// The ruleset read and checked (`super::check_ruleset`).
fn check_ruleset(conf: &Config) -> bool {
    match fs::read_to_string(&conf.ruleset) {
        Ok(text) => super::check_ruleset(&text, &conf.ruleset),
        Err(e) => {
            warn!("fwsync: {}: {e}", conf.ruleset);
            false
        }
    }
}

/// `ssh [options] PEER REMOTE -r [-n] [-v]`, the bundle on its input.
fn ssh(conf: &Config, bundle: &Bundle) -> i32 {
    let remote = format!("{} -r", conf.remote);
    let mut cmd = Command::new(&conf.ssh[0]);
    cmd.args(&conf.ssh[1..])
        .arg("--")
        .arg(&conf.peer)
        .arg(&remote)
        .stdin(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            warn!("fwsync: {}: {e}", conf.ssh[0]);
            return 1;
        }
    };
    let sent = match child.stdin.take() {
        Some(mut stdin) => bundle.write(&mut stdin).and_then(|_| stdin.flush()),
        None => Ok(()),
    };
    let status = match child.wait() {
        Ok(s) => s,
        Err(e) => {
            warn!("fwsync: {}: {e}", conf.ssh[0]);
            return 1;
        }
    };
    match (status.code(), sent) {
        (Some(0), Ok(())) => 0,
        (Some(255), _) => {
            warn!("fwsync: {}: ssh failed (exit status 255)", conf.peer);
            1
        }
        (Some(0), Err(e)) if e.kind() == ErrorKind::BrokenPipe => {
            warn!("fwsync: {}: the peer stopped reading", conf.peer);
            1
        }
        (Some(0), Err(e)) => {
            warn!("fwsync: {}: {e}", conf.peer);
            1
        }
        (Some(n), _) => {
            warn!("fwsync: {}: push failed (exit status {n})", conf.peer);
            1
        }
        (None, _) => {
            warn!("fwsync: {}: ssh killed by a signal", conf.peer);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collect_expands_globs_walks_directories_and_keeps_order() {
        let d = std::env::temp_dir().join(format!("fwsync-collect.{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("zones/sub")).unwrap();
        for (f, mode) in [
            ("pf.conf", 0o600),
            ("hostname.carp1", 0o640),
            ("hostname.em0", 0o640),
            ("zones/b.zone", 0o644),
            ("zones/sub/a.zone", 0o644),
        ] {
            fs::write(d.join(f), f).unwrap();
            fs::set_permissions(d.join(f), fs::Permissions::from_mode(mode)).unwrap();
        }
        fs::create_dir(d.join("hostname.dir")).unwrap();
        let top = d.display();
        let text = format!(
            "peer p\nruleset {top}/pf.conf\nsync \"{top}/hostname.*\"\nsync {top}/zones/\nsync {top}/hostname.em0\n"
        );
        let conf = pfcore::fwsync::conf::parse(&text, "t").unwrap();
        let files = collect(&conf).unwrap();
        let got: Vec<(String, u32)> = files
            .iter()
            .map(|f| {
                (
                    f.path
                        .strip_prefix(&*top.to_string())
                        .unwrap_or(&f.path)
                        .to_string(),
                    f.mode,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("/pf.conf".to_string(), 0o600),
                ("/hostname.carp1".to_string(), 0o640),
                ("/hostname.em0".to_string(), 0o640),
                ("/zones/b.zone".to_string(), 0o644),
                ("/zones/sub/a.zone".to_string(), 0o644),
            ]
        );
        assert_eq!(files[0].data, b"pf.conf");
        let missing = pfcore::fwsync::conf::parse(
            &format!("peer p\nruleset {top}/pf.conf\nsync {top}/nope\n"),
            "t",
        )
        .unwrap();
        assert!(collect(&missing)
            .unwrap_err()
            .contains("/nope: No such file"));
        fs::remove_dir_all(&d).unwrap();
    }
}

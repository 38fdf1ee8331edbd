//! The peer's side of a push, `fwsync -r` run by ssh: the stream read
//! from standard input, every file written to a staging directory with
//! the peer's differences applied, the staged ruleset checked with
//! `pfctl -nf` and the staged hostname.if files parsed. Only then are the
//! changed files renamed into place (each rename atomic), the ruleset
//! loaded (`pfctl -f`, one transaction in pfd) when a file other than a
//! hostname.if file changed, netstart run for the changed interfaces and
//! the `run` commands of the changed files. A failed load or netstart
//! puts the old files back (and the old ruleset, when it had been
//! loaded); the exit status says what happened. With `-n` nothing is
//! changed: a diff per file is printed.

use super::tool;
use pfcore::fwsync::bundle::Bundle;
use pfcore::fwsync::conf::Config;
use pfcore::fwsync::rewrite::{hostname_if, rewrite};
use std::fs;
use std::io::{BufRead, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A line to standard output: what ssh carries back. A closed
/// connection does not stop a push half done (SIGPIPE is ignored, the
/// error too).
macro_rules! say {
    ($($a:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($a)*);
    }};
}

/// `say!` to standard error.
macro_rules! warn {
    ($($a:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($a)*);
    }};
}

/// One file of the push as the peer has it and will have it.
struct Staged {
    path: String,
    staged: PathBuf,
    data: Vec<u8>,
    mode: u32,
    /// The live file's contents and mode, if there is one.
    old: Option<(Vec<u8>, u32)>,
}

impl Staged {
    fn changed(&self) -> bool {
        match &self.old {
            Some((d, m)) => *d != self.data || *m != self.mode,
            None => true,
        }
    }
}

/// The staging directory, removed with everything in it when dropped.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "peer".into())
}

/// Runs the peer's side on `input`; the exit status.
pub fn receive(input: &mut dyn BufRead) -> i32 {
    let h = host();
    match receive_on(input, &h) {
        Ok(()) => 0,
        Err(msg) => {
            warn!("fwsync: {h}: {msg}");
            1
        }
    }
}

fn receive_on(input: &mut dyn BufRead, h: &str) -> Result<(), String> {
    let b = Bundle::read(input).map_err(|e| format!("bad stream: {e}"))?;
    let conf = pfcore::fwsync::conf::parse(&b.config, "fwsync.conf").map_err(|errs| {
        let v: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        format!("the pushed configuration: {}", v.join("; "))
    })?;
    let _lock = lock()?;
    let dir = staging_dir()?;
    let staging = Staging(dir);
    let mut files = vec![];
    for f in &b.files {
        files.push(stage(&staging.0, &conf, f)?);
    }
    check(&conf, &files)?;
    if b.dry {
        return diff(&files, h);
    }
    let changed: Vec<&Staged> = files.iter().filter(|f| f.changed()).collect();
    if changed.is_empty() {
        if b.verbose {
            say!("fwsync: {h}: no changes");
        }
        return Ok(());
    }
    commit(&conf, &changed, b.verbose, h)?;
    run_commands(&conf, &changed, b.verbose, h)
}

fn run_dir() -> &'static str {
    if Path::new("/run").is_dir() {
        "/run"
    } else {
        "/tmp"
    }
}

/// One push at a time on this node: /run/fwsync.lock, held (flock) until
/// the push ends; a second push fails at once rather than interleave.
fn lock() -> Result<nix::fcntl::Flock<fs::File>, String> {
    let path = format!("{}/fwsync.lock", run_dir());
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{path}: {e}"))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| format!("{path}: another push is in progress ({e})"))
}

/// A new directory of our own: /run/fwsync.PID (/tmp without /run).
fn staging_dir() -> Result<PathBuf, String> {
    let base = run_dir();
    let dir = PathBuf::from(format!("{base}/fwsync.{}", std::process::id()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn stage(dir: &Path, conf: &Config, f: &pfcore::fwsync::bundle::File) -> Result<Staged, String> {
    let data = rewrite(&f.path, &conf.edits_for(&f.path), &f.data);
    let staged = dir.join(f.path.trim_start_matches('/'));
    if let Some(p) = staged.parent() {
        fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    write_new(&staged, &data, f.mode)?;
    let old = match fs::read(&f.path) {
        Ok(d) => {
            let m = fs::metadata(&f.path).map_err(|e| format!("{}: {e}", f.path))?;
            Some((d, m.permissions().mode() & 0o7777))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", f.path)),
    };
    Ok(Staged {
        path: f.path.clone(),
        staged,
        data,
        mode: f.mode,
        old,
    })
}

/// `path` created (or truncated) with `data`, flushed to disk, `mode`.
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(data).map_err(err)?;
    f.sync_all().map_err(err)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(err)
}

/// The staged ruleset through `pfctl -nf`, the staged hostname.if files
/// through netstart's parser.
fn check(conf: &Config, files: &[Staged]) -> Result<(), String> {
    for f in files {
        let Some(ifname) = hostname_if(&f.path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&f.data);
        if let Err(e) = pfcore::hostname_if::parse(&text, ifname) {
            return Err(format!("{}: {e}: nothing changed", f.path));
        }
    }
    let Some(rs) = files.iter().find(|f| f.path == conf.ruleset) else {
        return Ok(());
    };
    let out = Command::new(tool("pfctl"))
        .arg("-nf")
        .arg(&rs.staged)
        .output()
        .map_err(|e| format!("pfctl: {e}"))?;
    // pfctl's messages name the live path, as the admin knows it
    let staged = rs.staged.to_string_lossy();
    for (text, to_err) in [(&out.stdout, false), (&out.stderr, true)] {
        let text = String::from_utf8_lossy(text).replace(&*staged, &rs.path);
        for line in text.lines() {
            if to_err {
                warn!("{line}");
            } else {
                say!("{line}");
            }
        }
    }
    if !out.status.success() {
        return Err(format!(
            "{} refused by pfctl -nf (staged, with this node's differences): nothing changed",
            rs.path
        ));
    }
    // what pfctl -f would refuse after -nf passed: pfd's limits
    if !super::check_ruleset(&String::from_utf8_lossy(&rs.data), &rs.path) {
        return Err(format!(
            "{} would not load (staged, with this node's differences): nothing changed",
            rs.path
        ));
    }
    Ok(())
}

/// `-n`: a unified diff of every file that would change.
fn diff(files: &[Staged], h: &str) -> Result<(), String> {
    let mut any = false;
    for f in files.iter().filter(|f| f.changed()) {
        any = true;
        let _ = std::io::stdout().flush();
        let live = if f.old.is_some() {
            f.path.as_str()
        } else {
            "/dev/null"
        };
        let status = Command::new("diff")
            .args([
                "-u",
                "--label",
                &f.path,
                "--label",
                &format!("{} ({h}, new)", f.path),
            ])
            .arg(live)
            .arg(&f.staged)
            .status()
            .map_err(|e| format!("diff: {e}"))?;
        if status.code().is_some_and(|c| c > 1) {
            return Err(format!("diff {} failed", f.path));
        }
        match &f.old {
            Some((_, m)) if *m != f.mode => say!("mode {}: {m:o} -> {:o}", f.path, f.mode),
            _ => {}
        }
    }
    if !any {
        say!("fwsync: {h}: no changes");
    }
    Ok(())
}

/// Puts `data` at `path` atomically: a temporary file beside it, renamed.
fn install(path: &str, data: &[u8], mode: u32) -> Result<(), String> {
    let p = Path::new(path);
    let dir = p.parent().ok_or_else(|| format!("{path}: no directory"))?;
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.fwsync.{}", std::process::id()));
    let r = write_new(&tmp, data, mode)
        .and_then(|_| fs::rename(&tmp, p).map_err(|e| format!("{path}: {e}")));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

/// The live files as they were before `done` were installed.
fn restore(done: &[&Staged], h: &str) {
    for f in done.iter().rev() {
        let r = match &f.old {
            Some((d, m)) => install(&f.path, d, *m),
            None => fs::remove_file(&f.path).map_err(|e| format!("{}: {e}", f.path)),
        };
        if let Err(e) = r {
            warn!("fwsync: {h}: cannot restore {e}");
        }
    }
}

/// Runs `cmd`; Ok when it exits 0.
fn run(mut cmd: Command, what: &str, verbose: bool, h: &str) -> Result<(), String> {
    if verbose {
        say!("fwsync: {h}: {what}");
    }
    let _ = std::io::stdout().flush();
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{what}: {s}")),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

fn pfctl_f(ruleset: &str) -> Command {
    let mut c = Command::new(tool("pfctl"));
    c.arg("-f").arg(ruleset);
    c
}

/// netstart for the changed hostname.if files, by directory.
fn netstart(files: &[&Staged], verbose: bool, h: &str) -> Result<(), String> {
    let mut by_dir: Vec<(String, Vec<String>)> = vec![];
    for f in files {
        let (Some(ifname), Some((dir, _))) = (hostname_if(&f.path), f.path.rsplit_once('/')) else {
            continue;
        };
        let dir = if dir.is_empty() { "/" } else { dir };
        match by_dir.iter_mut().find(|(d, _)| d == dir) {
            Some((_, ifs)) => ifs.push(ifname.to_string()),
            None => by_dir.push((dir.to_string(), vec![ifname.to_string()])),
        }
    }
    for (dir, ifs) in by_dir {
        let mut c = Command::new(tool("netstart"));
        c.arg("-D").arg(&dir).args(&ifs);
        run(c, &format!("netstart {}", ifs.join(" ")), verbose, h)?;
    }
    Ok(())
}

/// The changed files into place, the ruleset loaded, netstart; on a
/// failure the old files (and ruleset) back.
fn commit(conf: &Config, changed: &[&Staged], verbose: bool, h: &str) -> Result<(), String> {
    let mut done: Vec<&Staged> = vec![];
    for f in changed {
        if let Err(e) = install(&f.path, &f.data, f.mode) {
            restore(&done, h);
            return Err(format!("{e}: the old files are back"));
        }
        if verbose {
            say!("fwsync: {h}: installed {}", f.path);
        }
        done.push(f);
    }
    let reload = changed.iter().any(|f| hostname_if(&f.path).is_none());
    if reload {
        if let Err(e) = run(
            pfctl_f(&conf.ruleset),
            &format!("pfctl -f {}", conf.ruleset),
            verbose,
            h,
        ) {
            restore(&done, h);
            return Err(format!("{e}: ruleset not loaded, the old files are back"));
        }
    }
    let ifs: Vec<&Staged> = changed
        .iter()
        .copied()
        .filter(|f| hostname_if(&f.path).is_some())
        .collect();
    if let Err(e) = netstart(&ifs, verbose, h) {
        restore(&done, h);
        let mut msg = format!("{e}: the old files are back");
        if reload {
            match run(
                pfctl_f(&conf.ruleset),
                "pfctl -f (the old ruleset)",
                verbose,
                h,
            ) {
                Ok(()) => msg.push_str(", the old ruleset loaded"),
                Err(e) => msg.push_str(&format!(", {e}")),
            }
        }
        let _ = netstart(&ifs, verbose, h);
        return Err(msg);
    }
    Ok(())
}

/// The `run` commands of the changed files, each once, in order.
fn run_commands(conf: &Config, changed: &[&Staged], verbose: bool, h: &str) -> Result<(), String> {
    let mut cmds: Vec<String> = vec![];
    for f in changed {
        for c in conf.edits_for(&f.path).run {
            if !cmds.contains(&c) {
                cmds.push(c);
            }
        }
    }
    let mut failed = vec![];
    for c in cmds {
        let mut sh = Command::new("/bin/sh");
        sh.arg("-c").arg(&c);
        if let Err(e) = run(sh, &c, verbose, h) {
            warn!("fwsync: {h}: {e}");
            failed.push(c);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the files are in place but {} failed",
            failed.join(", ")
        ))
    }
}

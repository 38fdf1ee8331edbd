//! What pfd keeps across a restart, in its state directory (`pfd -D`,
//! default `/var/lib/pfd`): `ruleset`, the configuration as committed
//! (`engine::persist`: rules of every anchor, options, tables, OS
//! fingerprints, debug level, host id, enabled), rewritten atomically
//! after every change a client commits; and `states`, the state table,
//! written on SIGTERM and read back (then removed) at the next start;
//! and `interfaces`, the pseudo-interfaces' configuration (carp
//! interfaces, pfsync0, the net.inet.carp sysctls), rewritten after each
//! change and put back at start, so that a restarted pfd runs CARP again
//! and pfsyncd asks the peer for a bulk update without `netstart`.
//!
//! At start the configuration goes into the engine before any packet is
//! read from the queues, and the hooks are installed only then, so there
//! is no moment when a packet passes unfiltered. Without a configuration
//! ever committed (no file), or with one that cannot be read, pfd runs
//! the boot ruleset (`engine::persist::boot_rules_text`: everything
//! blocked but loopback, CARP and pfsync on the interfaces configured for
//! them) until the first `pfctl -f`; a bad file is kept as `ruleset.bad`.

use super::Shared;
use crate::conf::StaticResolver;
use crate::engine::anchor::Loader;
use crate::engine::persist::{self as snap, Snapshot};
use crate::log;
use crate::statefile;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

/// The state directory when `pfd -D` does not name one.
pub const DEFAULT_DIR: &str = "/var/lib/pfd";
const CONFIG_FILE: &str = "ruleset";
const STATES_FILE: &str = "states";
const PSEUDO_FILE: &str = "interfaces";
const PSEUDO_MAGIC: &[u8; 8] = b"PFDIFACE";
/// 2: pfsync0's pass; version 1 files are read too.
const PSEUDO_VERSION: u32 = 2;

/// The pseudo-interfaces as configured.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Pseudo {
    pub carp: Vec<(String, crate::carp::CarpConfig)>,
    pub pfsync: crate::pfsync::PfsyncConfig,
    /// net.inet.carp.preempt, .allow, .log
    pub sysctls: (bool, bool, i64),
}

/// Version 1 of the file: pfsync0 without a pass.
#[derive(serde::Deserialize)]
struct PseudoV1 {
    carp: Vec<(String, crate::carp::CarpConfig)>,
    pfsync: PfsyncConfigV1,
    sysctls: (bool, bool, i64),
}

#[derive(serde::Deserialize)]
struct PfsyncConfigV1 {
    syncdev: Option<String>,
    syncpeer: Option<std::net::Ipv4Addr>,
    maxupd: u8,
    defer: bool,
    up: bool,
    description: Option<String>,
}

impl From<PseudoV1> for Pseudo {
    fn from(v: PseudoV1) -> Pseudo {
        let p = v.pfsync;
        Pseudo {
            carp: v.carp,
            pfsync: crate::pfsync::PfsyncConfig {
                syncdev: p.syncdev,
                syncpeer: p.syncpeer,
                maxupd: p.maxupd,
                defer: p.defer,
                up: p.up,
                description: p.description,
                pass: None,
            },
            sysctls: v.sysctls,
        }
    }
}

/// The state directory (None: `pfd -D none`, nothing kept).
#[derive(Debug, Default)]
pub struct Store {
    dir: Option<PathBuf>,
    /// One writer at a time, so that an older snapshot never replaces a
    /// newer one.
    writing: Mutex<()>,
}

/// The configuration file at start.
pub enum Saved {
    /// No file: no ruleset was ever committed.
    Never,
    Config(Box<Snapshot>),
    /// A file that cannot be used, and why.
    Bad(String),
}

/// Write `bytes` to `dir/name` so that the file is either the old one or
/// the new one whole: a temporary file, synced, renamed over it, and the
/// directory synced.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(name))?;
    fs::File::open(dir)?.sync_all()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Store {
    pub fn new(dir: Option<PathBuf>) -> Store {
        Store {
            dir,
            writing: Mutex::new(()),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The configuration file as pfd finds it at start.
    pub fn read_config(&self) -> Saved {
        let Some(dir) = &self.dir else {
            return Saved::Never;
        };
        let path = dir.join(CONFIG_FILE);
        match fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Saved::Never,
            Err(e) => Saved::Bad(format!("{}: {e}", path.display())),
            Ok(b) => match snap::decode(&b) {
                Ok(s) => Saved::Config(Box::new(s)),
                Err(e) => {
                    let bad = dir.join(format!("{CONFIG_FILE}.bad"));
                    let _ = fs::rename(&path, &bad);
                    Saved::Bad(format!(
                        "{}: {e} (kept as {})",
                        path.display(),
                        bad.display()
                    ))
                }
            },
        }
    }

    /// The pseudo-interfaces' configuration, if there is one to use.
    pub fn read_pseudo(&self) -> Result<Option<Pseudo>, String> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let path = dir.join(PSEUDO_FILE);
        match fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
            Ok(b) => snap::unseal(PSEUDO_MAGIC, PSEUDO_VERSION, &b)
                .or_else(|e| {
                    snap::unseal::<PseudoV1>(PSEUDO_MAGIC, 1, &b)
                        .map(Pseudo::from)
                        .map_err(|_| e)
                })
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
        }
    }

    /// The saved states still alive, removing the file (they live in the
    /// engine from now on).
    pub fn take_states(&self) -> Result<statefile::Saved, String> {
        let Some(dir) = &self.dir else {
            return Ok(statefile::Saved::default());
        };
        let path = dir.join(STATES_FILE);
        let b = match fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(statefile::Saved::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
            Ok(b) => b,
        };
        let _ = fs::remove_file(&path);
        statefile::decode_saved(&b, unix_now()).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl Shared {
    /// Write the configuration as committed now (not the boot ruleset:
    /// nothing was committed yet).
    pub fn save_config(&self) {
        let Some(dir) = self.store.dir() else { return };
        let _w = self.store.writing.lock().unwrap_or_else(|e| e.into_inner());
        if self.provisional.load(Ordering::Relaxed) {
            return;
        }
        let bytes = snap::encode(&self.engine().snapshot());
        if let Err(e) = write_atomic(dir, CONFIG_FILE, &bytes) {
            log::err(&format!(
                "{}: {e}: the configuration will not survive a restart",
                dir.join(CONFIG_FILE).display()
            ));
        }
    }

    /// Write the pseudo-interfaces' configuration.
    pub fn save_pseudo(&self) {
        let Some(dir) = self.store.dir() else { return };
        let _w = self.store.writing.lock().unwrap_or_else(|e| e.into_inner());
        // One lock at a time: others take these in other orders.
        let pfsync = self.pfsync().config.clone();
        let p = {
            let c = self.carp();
            Pseudo {
                carp: c
                    .names()
                    .into_iter()
                    .filter_map(|n| Some((n.clone(), c.status(&n)?.config)))
                    .collect(),
                pfsync,
                sysctls: (c.preempt, c.allow, c.log_level),
            }
        };
        let bytes = snap::seal(PSEUDO_MAGIC, PSEUDO_VERSION, &p);
        if let Err(e) = write_atomic(dir, PSEUDO_FILE, &bytes) {
            log::err(&format!("{}: {e}", dir.join(PSEUDO_FILE).display()));
        }
    }

    /// Write the state table (on SIGTERM).
    pub fn save_states(&self) {
        let Some(dir) = self.store.dir() else { return };
        let states = {
            let now = self.now_ms();
            self.engine().export_all(now)
        };
        let bytes = statefile::encode_saved(&states, unix_now());
        match write_atomic(dir, STATES_FILE, &bytes) {
            Ok(()) => log::notice(&format!(
                "{} states written to {}",
                states.len(),
                dir.join(STATES_FILE).display()
            )),
            Err(e) => log::err(&format!("{}: {e}", dir.join(STATES_FILE).display())),
        }
    }

    /// While the boot ruleset is in force, make it follow the carp and
    /// pfsync configuration (their carpdevs and syncdev).
    pub fn refresh_boot_rules(&self) {
        if !self.provisional.load(Ordering::Relaxed) {
            return;
        }
        let carpdevs: Vec<String> = {
            let c = self.carp();
            c.names()
                .iter()
                .filter_map(|n| c.status(n)?.config.carpdev)
                .collect()
        };
        let syncdev = self.pfsync().config.syncdev.clone();
        let text = snap::boot_rules_text(&carpdevs, syncdev.as_deref());
        match crate::conf::parse(&text, "boot ruleset", &StaticResolver::new()) {
            Ok(rs) => {
                let mut e = self.engine();
                // Checked again under the lock: a commit may have come.
                if self.provisional.load(Ordering::Relaxed) {
                    if let Err(err) = e.load(rs, Loader::default(), String::new()) {
                        log::err(&format!("boot ruleset: {err}"));
                    }
                }
            }
            Err(errs) => log::err(&format!("boot ruleset: {errs:?}")),
        }
    }
}

/// Put back what the last pfd left (configuration, then states) into the
/// engine, before any packet is read. Returns whether pf is to be
/// enabled: as saved, or (boot ruleset) yes; with `pfd -D none`, no.
pub fn restore(shared: &Shared) -> bool {
    if shared.store.dir().is_none() {
        return false;
    }
    let now = shared.now_ms();
    restore_pseudo(shared, now);
    let enabled = match shared.store.read_config() {
        Saved::Config(s) => {
            let (on, nr) = (s.enabled, s.rulesets.len());
            match shared.engine().restore(*s, now) {
                Ok(()) => {
                    log::notice(&format!(
                        "configuration restored from {}: {nr} rulesets, pf {}",
                        shared.store.dir().unwrap_or(Path::new("")).display(),
                        if on { "enabled" } else { "disabled" }
                    ));
                    Some(on)
                }
                Err(e) => {
                    log::err(&format!("configuration not restored: {e}: pf blocks everything but CARP and pfsync until `pfctl -f`"));
                    None
                }
            }
        }
        Saved::Bad(why) => {
            log::err(&format!(
                "configuration unreadable: {why}: pf blocks everything but CARP and pfsync until `pfctl -f`"
            ));
            None
        }
        Saved::Never => {
            log::notice("no ruleset ever committed: pf blocks everything but CARP and pfsync until `pfctl -f`");
            None
        }
    };
    let enabled = match enabled {
        Some(on) => on,
        None => {
            shared.provisional.store(true, Ordering::Relaxed);
            shared.refresh_boot_rules();
            true
        }
    };
    if enabled {
        shared.engine().set_enabled(true, now);
    }
    match shared.store.take_states() {
        Ok(saved) if saved.states.is_empty() && saved.expired == 0 => {}
        Ok(saved) => {
            let mut e = shared.engine();
            let n = saved
                .states
                .iter()
                .filter(|s| e.import_state(s, false, now).is_ok())
                .count();
            log::notice(&format!(
                "{n} states restored ({} expired meanwhile, {} refused)",
                saved.expired,
                saved.bad + saved.states.len() - n
            ));
        }
        Err(e) => log::err(&format!("states not restored: {e}")),
    }
    enabled
}

/// Put back the carp interfaces, pfsync0 and the carp sysctls as last
/// configured (a carp interface whose carpdev is missing is left to
/// `netstart`).
fn restore_pseudo(shared: &Shared, now: u64) {
    let p = match shared.store.read_pseudo() {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            log::err(&format!("interfaces not restored: {e}"));
            return;
        }
    };
    {
        let mut c = shared.carp();
        (c.preempt, c.allow, c.log_level) = p.sysctls;
    }
    let mut n = 0;
    for (name, config) in p.carp {
        match shared.carp().configure(&name, config, None, shared.now()) {
            Ok(()) => n += 1,
            Err(e) => log::warning(&format!("{name} not restored: {e}")),
        }
    }
    let _ = super::ifwatch::sync_links(shared);
    let pfsync_up = p.pfsync.up && p.pfsync.syncdev.is_some();
    let _ = super::control::set_pfsync(shared, p.pfsync, now);
    log::notice(&format!(
        "interfaces restored: {n} carp interfaces, pfsync0 {}",
        if pfsync_up { "up" } else { "down" }
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_interfaces_round_trip_and_damage_is_refused() {
        let p = Pseudo {
            carp: vec![("carp1".into(), crate::carp::CarpConfig::default())],
            pfsync: crate::pfsync::PfsyncConfig {
                syncdev: Some("eth2".into()),
                up: true,
                ..Default::default()
            },
            sysctls: (true, true, 2),
        };
        let b = snap::seal(PSEUDO_MAGIC, PSEUDO_VERSION, &p);
        let back: Pseudo = snap::unseal(PSEUDO_MAGIC, PSEUDO_VERSION, &b).unwrap();
        assert_eq!(back.carp, p.carp);
        assert_eq!(back.pfsync, p.pfsync);
        assert_eq!(back.sysctls, (true, true, 2));
        let mut bad = b.clone();
        bad[40] ^= 0xff;
        assert!(snap::unseal::<Pseudo>(PSEUDO_MAGIC, PSEUDO_VERSION, &bad).is_err());
        assert!(snap::unseal::<Pseudo>(snap::MAGIC, PSEUDO_VERSION, &b).is_err());
        // A version 1 file (no pass) is still read.
        let v1 = (
            vec![("carp1".to_string(), crate::carp::CarpConfig::default())],
            (
                Some("eth2".to_string()),
                None::<std::net::Ipv4Addr>,
                128u8,
                true,
                true,
                None::<String>,
            ),
            (true, true, 2i64),
        );
        let b = snap::seal(PSEUDO_MAGIC, 1, &v1);
        let back = Pseudo::from(snap::unseal::<PseudoV1>(PSEUDO_MAGIC, 1, &b).unwrap());
        assert_eq!(back.pfsync.syncdev.as_deref(), Some("eth2"));
        assert!(back.pfsync.defer && back.pfsync.pass.is_none());
    }

    #[test]
    fn files_are_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("pfd-persist-{}", std::process::id()));
        write_atomic(&dir, "f", b"one").unwrap();
        write_atomic(&dir, "f", b"two").unwrap();
        assert_eq!(fs::read(dir.join("f")).unwrap(), b"two");
        assert!(!dir.join(".f.tmp").exists());
        let _ = fs::remove_dir_all(&dir);
    }
}

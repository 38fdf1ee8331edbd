//! What pfd keeps across a restart, in its state directory (`pfd -D`,
//! default `/var/lib/pfd`): `ruleset`, the configuration as committed
//! (`engine::persist`: rules of every anchor, options, tables, OS
//! fingerprints, debug level, host id, enabled), rewritten atomically
//! after every change a client commits; and `states`, the state table,
//! written on SIGTERM and read back (then removed) at the next start.
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

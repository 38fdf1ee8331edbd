//! Logging for the daemons: the back-end of the `log` facade. Lines go
//! to syslog (facility daemon) when /dev/log is there, and to standard
//! error as well when running in the foreground or when syslog is
//! unavailable, so a line is never lost. Under systemd with standard
//! error going to the journal (-d in a unit), the lines go there alone,
//! with their priority (sd-daemon(3)'s `<N>` prefix), and not through
//! syslog as well: the journal gets each line once.
//!
//! syslog has two priorities `log` lacks: crit and notice. They are
//! carried as `log::Level::Error` with target [`CRIT`] and
//! `log::Level::Info` with target [`NOTICE`]; the helpers below
//! ([`crit`], [`notice`], ...) set them. Any other record (from `log::info!`
//! in any crate) maps Error→err, Warn→warning, Info→info, Debug and
//! Trace→debug.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

/// Target of a record logged at syslog's LOG_CRIT.
pub const CRIT: &str = "crit";
/// Target of a record logged at syslog's LOG_NOTICE.
pub const NOTICE: &str = "notice";

/// [`init`] installed the logger; before it, lines go to standard error.
static LOGGER_SET: AtomicBool = AtomicBool::new(false);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

impl Level {
    /// The syslog level of a facade record.
    fn of(r: &log::Record) -> Level {
        match (r.level(), r.target()) {
            (log::Level::Error, CRIT) => Level::Crit,
            (log::Level::Error, _) => Level::Err,
            (log::Level::Warn, _) => Level::Warning,
            (log::Level::Info, NOTICE) => Level::Notice,
            (log::Level::Info, _) => Level::Info,
            (log::Level::Debug | log::Level::Trace, _) => Level::Debug,
        }
    }

    /// The facade's level and target for this syslog level.
    fn facade(self) -> (log::Level, &'static str) {
        match self {
            Level::Crit => (log::Level::Error, CRIT),
            Level::Err => (log::Level::Error, "pf"),
            Level::Warning => (log::Level::Warn, "pf"),
            Level::Notice => (log::Level::Info, NOTICE),
            Level::Info => (log::Level::Info, "pf"),
            Level::Debug => (log::Level::Debug, "pf"),
        }
    }

    fn filter(self) -> log::LevelFilter {
        match self {
            Level::Crit | Level::Err => log::LevelFilter::Error,
            Level::Warning => log::LevelFilter::Warn,
            Level::Notice | Level::Info => log::LevelFilter::Info,
            Level::Debug => log::LevelFilter::Debug,
        }
    }
}

struct Sink {
    ident: String,
    syslog: Mutex<Option<Logger<LoggerBackend, Formatter3164>>>,
    stderr: bool,
    /// Standard error is the journal's stream: `<priority>` prefixes.
    journal: bool,
    max: Level,
}

/// Set up logging for program `ident` and install it as the `log`
/// facade's logger. `foreground` copies every line to standard error;
/// `max` is the most verbose level kept. A second call changes nothing.
pub fn init(ident: &str, foreground: bool, max: Level) {
    let formatter = Formatter3164 {
        facility: Facility::LOG_DAEMON,
        hostname: None,
        process: ident.to_string(),
        pid: std::process::id(),
    };
    let journal = foreground && stderr_is_journal();
    let syslog = if journal {
        None
    } else {
        syslog::unix(formatter).ok()
    };
    let stderr = foreground || syslog.is_none();
    let sink = Sink {
        ident: ident.to_string(),
        syslog: Mutex::new(syslog),
        stderr,
        journal,
        max,
    };
    if log::set_boxed_logger(Box::new(sink)).is_ok() {
        log::set_max_level(max.filter());
        LOGGER_SET.store(true, Ordering::Relaxed);
    }
}

impl log::Log for Sink {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.max.filter()
    }

    fn log(&self, r: &log::Record) {
        let level = Level::of(r);
        if level > self.max {
            return;
        }
        let msg = r.args().to_string();
        if let Ok(mut g) = self.syslog.lock() {
            if let Some(l) = g.as_mut() {
                let _ = match level {
                    Level::Crit => l.crit(&msg),
                    Level::Err => l.err(&msg),
                    Level::Warning => l.warning(&msg),
                    Level::Notice => l.notice(&msg),
                    Level::Info => l.info(&msg),
                    Level::Debug => l.debug(&msg),
                };
            }
        }
        // Not eprintln!: a closed standard error must not stop the daemon.
        // One write per line so lines of two threads do not interleave.
        if self.journal {
            let _ =
                std::io::stderr().write_all(format!("<{}>{}\n", priority(level), msg).as_bytes());
        } else if self.stderr {
            let _ = std::io::stderr().write_all(format!("{}: {}\n", self.ident, msg).as_bytes());
        }
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Log `msg` at syslog level `level` through the facade. Before [`init`]
/// (no logger installed) the line goes to standard error, as it did.
pub fn log(level: Level, msg: &str) {
    let (l, target) = level.facade();
    if !LOGGER_SET.load(Ordering::Relaxed) {
        let _ = writeln!(std::io::stderr(), "{msg}");
        return;
    }
    log::log!(target: target, l, "{msg}");
}

/// syslog(3)'s priority of a level (sd-daemon(3)'s `<N>` prefix).
fn priority(level: Level) -> u8 {
    match level {
        Level::Crit => 2,
        Level::Err => 3,
        Level::Warning => 4,
        Level::Notice => 5,
        Level::Info => 6,
        Level::Debug => 7,
    }
}

/// Standard error is journald's stream: systemd names its device and
/// inode in $JOURNAL_STREAM.
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(m) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    v == format!("{}:{}", m.dev(), m.ino())
}

pub fn crit(msg: &str) {
    log(Level::Crit, msg)
}
pub fn err(msg: &str) {
    log(Level::Err, msg)
}
pub fn warning(msg: &str) {
    log(Level::Warning, msg)
}
pub fn notice(msg: &str) {
    log(Level::Notice, msg)
}
pub fn info(msg: &str) {
    log(Level::Info, msg)
}
pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_levels_round_trip_through_the_facade() {
        for l in [
            Level::Crit,
            Level::Err,
            Level::Warning,
            Level::Notice,
            Level::Info,
            Level::Debug,
        ] {
            let (fl, target) = l.facade();
            let r = log::Record::builder().level(fl).target(target).build();
            assert_eq!(Level::of(&r), l);
        }
        let r = log::Record::builder()
            .level(log::Level::Trace)
            .target("x")
            .build();
        assert_eq!(Level::of(&r), Level::Debug);
    }
}

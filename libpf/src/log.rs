//! Logging for the daemons: syslog (facility daemon) when /dev/log is
//! there, and standard error as well when running in the foreground or
//! when syslog is unavailable, so a line is never lost. Under systemd
//! with standard error going to the journal (-d in a unit), the lines go
//! there alone, with their priority, and not through syslog as well: the
//! journal gets each line once.

use std::io::Write;
use std::sync::Mutex;
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

struct Sink {
    ident: String,
    syslog: Option<Logger<LoggerBackend, Formatter3164>>,
    stderr: bool,
    /// Standard error is the journal's stream: `<priority>` prefixes.
    journal: bool,
    max: Level,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Set up logging for program `ident`. `foreground` copies every line to
/// standard error; `max` is the most verbose level kept.
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
    if let Ok(mut s) = SINK.lock() {
        *s = Some(Sink {
            ident: ident.to_string(),
            syslog,
            stderr,
            journal,
            max,
        });
    }
}

pub fn log(level: Level, msg: &str) {
    let Ok(mut guard) = SINK.lock() else { return };
    let Some(sink) = guard.as_mut() else {
        let _ = writeln!(std::io::stderr(), "{msg}");
        return;
    };
    if level > sink.max {
        return;
    }
    if let Some(l) = sink.syslog.as_mut() {
        let _ = match level {
            Level::Crit => l.crit(msg),
            Level::Err => l.err(msg),
            Level::Warning => l.warning(msg),
            Level::Notice => l.notice(msg),
            Level::Info => l.info(msg),
            Level::Debug => l.debug(msg),
        };
    }
    if sink.journal {
        let _ = writeln!(std::io::stderr(), "<{}>{}", priority(level), msg);
    } else if sink.stderr {
        // Not eprintln!: a closed standard error must not stop the daemon.
        let _ = writeln!(std::io::stderr(), "{}: {}", sink.ident, msg);
    }
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

//! pfd: the packet filter daemon (the part OpenBSD keeps in its kernel).

use libpf::daemon::{self, Options};
use libpf::sys::hooks::HookConfig;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// One queue per CPU, at most 8: the threads share one state table, and
/// beyond that they mostly wait for it.
fn default_queues() -> u16 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8) as u16)
}

#[derive(clap::Parser)]
#[command(
    name = "pfd",
    about = "packet filter daemon: PF, CARP and pfsync for Linux"
)]
struct Args {
    /// Log to standard error as well as syslog.
    #[arg(short = 'd')]
    foreground: bool,
    /// Control socket.
    #[arg(short = 's', default_value_t = libpf::ioctl::socket_path())]
    socket: String,
    /// First NFQUEUE number.
    #[arg(short = 'q', default_value_t = HookConfig::default().queue)]
    queue: u16,
    /// Number of queues (and data path threads); default: one per CPU,
    /// at most 8.
    #[arg(short = 'n', default_value_t = default_queues(), value_parser = clap::value_parser!(u16).range(1..=64))]
    queues: u16,
    /// Start with net.inet.carp.preempt=1.
    #[arg(short = 'P')]
    preempt: bool,
    /// Milliseconds to keep forwarding after bowing out on SIGTERM.
    #[arg(short = 'g', default_value_t = 300)]
    grace_ms: u64,
    /// Group (numeric gid) allowed to read (pfctl -s..., carpctl show).
    #[arg(short = 'G')]
    readonly_gid: Option<u32>,
    /// Leave established flows in the queue: no in-kernel fast path
    /// (for debugging).
    #[arg(long = "no-fastpath")]
    no_fastpath: bool,
    /// Let the fast path pass established flows to the kernel's IP
    /// forwarding instead of forwarding them at TC ingress.
    #[arg(long = "no-fastforward")]
    no_fastforward: bool,
    /// State directory: the committed configuration and, across a
    /// restart, the states (`none`: keep nothing, start disabled).
    #[arg(short = 'D', default_value = libpf::daemon::persist::DEFAULT_DIR)]
    state_dir: String,
    /// The socket pflogd reads logged packets from (`none`: no socket);
    /// default /var/run/pflog.sock, or the control socket's path with
    /// `.pflog` added when -s names another.
    #[arg(short = 'L')]
    pflog_socket: Option<String>,
    /// NFLOG group of pflog0's logged packets, pflogN's N more, for
    /// `tcpdump -i nflog:GROUP` (`none`: no NFLOG).
    #[arg(short = 'N', default_value = "117", value_parser = nflog_group)]
    nflog_group: NflogGroup,
}

#[derive(Clone, Copy)]
struct NflogGroup(Option<u16>);

fn nflog_group(s: &str) -> Result<NflogGroup, String> {
    if s == "none" {
        return Ok(NflogGroup(None));
    }
    let max = libpf::daemon::pflog::MAX_NFLOG_GROUP;
    match s.parse::<u16>() {
        Ok(g) if g <= max => Ok(NflogGroup(Some(g))),
        _ => Err(format!("`none` or a group from 0 to {max}")),
    }
}

fn main() {
    let a: Args = libpf::cli::parse(libpf::cli::Kind::Daemon);
    libpf::log::init("pfd", a.foreground, libpf::log::Level::Info);
    let term = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, term.clone()) {
            eprintln!("pfd: signal {sig}: {e}");
            std::process::exit(1);
        }
    }
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone()) {
        eprintln!("pfd: SIGHUP: {e}");
        std::process::exit(1);
    }
    let pflog_socket = match a.pflog_socket.as_deref() {
        Some("none") => None,
        Some(p) => Some(p.to_string()),
        None if a.socket == libpf::ioctl::DEFAULT_SOCKET => {
            Some(libpf::daemon::pflog::DEFAULT_SOCKET.to_string())
        }
        None => Some(format!("{}.pflog", a.socket)),
    };
    let opts = Options {
        socket: a.socket,
        pflog_socket,
        nflog_group: a.nflog_group.0,
        hooks: HookConfig {
            queue: a.queue,
            queues: a.queues,
        },
        preempt: a.preempt,
        shutdown_grace: Duration::from_millis(a.grace_ms),
        readonly_gid: a.readonly_gid,
        fastpath: !a.no_fastpath,
        fastforward: !a.no_fastforward,
        state_dir: (a.state_dir != "none").then(|| a.state_dir.into()),
    };
    if let Err(e) = daemon::run(opts, term, hup) {
        libpf::log::crit(&format!("fatal: {e}"));
        eprintln!("pfd: {e}");
        std::process::exit(1);
    }
}

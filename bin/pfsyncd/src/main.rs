//! pfsyncd: replicate pf states with a peer firewall (pfsync protocol 6).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(clap::Parser)]
#[command(name = "pfsyncd", about = "pfsync state replication daemon")]
struct Args {
    /// Log to standard error as well as syslog.
    #[arg(short = 'd')]
    foreground: bool,
    /// pfd's control socket.
    #[arg(short = 's', default_value_t = libpf::ioctl::socket_path())]
    socket: String,
}

fn main() {
    let a: Args = libpf::cli::parse(libpf::cli::Kind::Daemon);
    libpf::log::init("pfsyncd", a.foreground, libpf::log::Level::Info);
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, term.clone()) {
            eprintln!("pfsyncd: signal {sig}: {e}");
            std::process::exit(1);
        }
    }
    let hup = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone()) {
        eprintln!("pfsyncd: SIGHUP: {e}");
        std::process::exit(1);
    }
    if let Err(e) = libpf::syncd::run(&a.socket, term, hup) {
        libpf::log::crit(&format!("fatal: {e}"));
        std::process::exit(1);
    }
}

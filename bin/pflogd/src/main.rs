//! pflogd: write the packets pf logs on a pflog interface to a pcap file.

use libpf::pflogd::{self, Options};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(clap::Parser)]
#[command(
    name = "pflogd",
    about = "packet filter logging daemon: pflog packets to a pcap file"
)]
struct Args {
    /// Debugging: log to standard error as well as syslog (pflogd never
    /// forks; systemd keeps it in the foreground).
    #[arg(short = 'D')]
    foreground: bool,
    /// The log file (`-`: standard output).
    #[arg(short = 'f', default_value = pflogd::DEFAULT_FILE)]
    file: String,
    /// Snapshot length: bytes of each record kept, pflog header included.
    #[arg(short = 's', default_value_t = pflogd::DEFAULT_SNAPLEN,
          value_parser = clap::value_parser!(u32).range(101..=65535))]
    snaplen: u32,
    /// The pflog interface to read.
    #[arg(short = 'i', default_value = "pflog0")]
    interface: String,
    /// pfd's pflog socket.
    #[arg(short = 'L', default_value = libpf::daemon::pflog::DEFAULT_SOCKET)]
    socket: String,
    /// Move the file to FILE.0 and begin a new one past this many bytes.
    #[arg(short = 'S')]
    max_size: Option<u64>,
}

fn main() {
    let a: Args = libpf::cli::parse(libpf::cli::Kind::Daemon);
    libpf::log::init("pflogd", a.foreground, libpf::log::Level::Info);
    let unit = match pflogd::unit_of(&a.interface) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("pflogd: {e}");
            std::process::exit(1);
        }
    };
    let term = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [
        (signal_hook::consts::SIGTERM, &term),
        (signal_hook::consts::SIGINT, &term),
        (signal_hook::consts::SIGHUP, &hup),
    ] {
        if let Err(e) = signal_hook::flag::register(sig, flag.clone()) {
            eprintln!("pflogd: signal {sig}: {e}");
            std::process::exit(1);
        }
    }
    let opts = Options {
        file: a.file,
        snaplen: a.snaplen,
        socket: a.socket,
        unit,
        max_size: a.max_size,
    };
    match pflogd::run(&opts, &term, &hup) {
        Ok(()) => {}
        // The reader of standard output went: done, quietly.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            libpf::log::crit(&format!("fatal: {e}"));
            eprintln!("pflogd: {e}");
            std::process::exit(1);
        }
    }
}

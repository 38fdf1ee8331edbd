//! fwsync: push pf.conf and the hostname.if files to the other member of
//! the pair over ssh (libpf::fwsync).

use libpf::fwsync::{self, push};

#[derive(clap::Parser)]
#[command(
    name = "fwsync",
    about = "synchronise the firewall configuration with the other member of a pair",
    override_usage = "fwsync [-nv] [-f file]\n       fwsync -r"
)]
struct Args {
    /// The configuration file.
    #[arg(short = 'f', default_value = fwsync::CONFIG)]
    file: String,
    /// Show what would change on the peer, a diff per file; change nothing.
    #[arg(short = 'n')]
    dry: bool,
    /// Receive a push on standard input: what ssh runs on the peer.
    #[arg(short = 'r', conflicts_with_all = ["file", "dry", "verbose"])]
    receive: bool,
    /// Print every file sent and every step taken on the peer.
    #[arg(short = 'v')]
    verbose: bool,
}

fn main() {
    // SIGPIPE stays ignored: ssh going away mid-push is an error to
    // report (pushing side) or to finish the step under way (`-r`), not
    // a silent death with half the files renamed.
    let a: Args = libpf::cli::parse(libpf::cli::Kind::Daemon);
    let code = if a.receive {
        fwsync::receive::receive(&mut std::io::stdin().lock())
    } else {
        push::push(&push::Options {
            config: a.file,
            dry: a.dry,
            verbose: a.verbose,
        })
    };
    std::process::exit(code);
}

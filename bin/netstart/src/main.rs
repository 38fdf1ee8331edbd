//! netstart: configure interfaces from hostname.if(5) files.

#[derive(clap::Parser)]
#[command(
    name = "netstart",
    about = "configure network interfaces from hostname.if files"
)]
struct Args {
    /// Directory holding the hostname.* files.
    #[arg(short = 'D', default_value = "/etc")]
    dir: String,
    /// pfd's control socket (for carp and pfsync interfaces).
    #[arg(short = 's', default_value_t = libpf::ioctl::socket_path())]
    socket: String,
    /// Print what is done.
    #[arg(short = 'v')]
    verbose: bool,
    /// Interfaces to configure (all with a hostname.* file when none).
    interfaces: Vec<String>,
}

fn main() {
    let a: Args = libpf::cli::parse(libpf::cli::Kind::Command);
    let ok = libpf::netstart::run(
        &libpf::netstart::Options {
            dir: a.dir.into(),
            socket: a.socket,
            verbose: a.verbose,
        },
        &a.interfaces,
    );
    std::process::exit(if ok { 0 } else { 1 });
}

//! rcctl: configure and control pf, pfd and pfsyncd, as OpenBSD's
//! rcctl(8) does, over systemd (libpf::rcctl).

use libpf::rcctl::{self, host::Systemd, Opts};

#[derive(clap::Parser)]
#[command(
    name = "rcctl",
    about = "configure and control daemons and services",
    override_usage = "rcctl get|getdef|set service | daemon [variable [arguments]]\n       rcctl [-df] start|stop|restart|reload|check daemon ...\n       rcctl disable|enable [daemon ...]\n       rcctl ls all|failed|off|on|started|stopped"
)]
struct Args {
    /// Show each systemctl call.
    #[arg(short = 'd')]
    debug: bool,
    /// Start a service that is not enabled.
    #[arg(short = 'f')]
    force: bool,
    /// The command and its arguments.
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    args: Vec<String>,
}

fn main() {
    let a: Args = libpf::cli::parse(libpf::cli::Kind::Command);
    let o = Opts {
        debug: a.debug,
        force: a.force,
    };
    let code = rcctl::run(
        &mut Systemd::default(),
        o,
        &a.args,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::exit(code);
}

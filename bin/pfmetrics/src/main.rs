//! pfmetrics: pf, CARP and pfsync as Prometheus metrics (standard output,
//! or a file for node_exporter's textfile collector), and the pfsync
//! health check (libpf::pfmetrics).

use libpf::ioctl::client::Client;
use libpf::pfmetrics;
use libpf::pfsync::health::Thresholds;
use std::process::exit;

#[derive(clap::Parser)]
#[command(
    name = "pfmetrics",
    about = "export pf, carp and pfsync metrics; check pfsync's health",
    override_usage = "pfmetrics [-b seconds] [-w seconds] [-o file]\n       pfmetrics -c [-q] [-b seconds] [-w seconds]"
)]
struct Args {
    /// Health check: exit 1 when the sync peer is silent or a bulk
    /// update is stuck.
    #[arg(short = 'c')]
    check: bool,
    /// With -c: print nothing when healthy.
    #[arg(short = 'q')]
    quiet: bool,
    /// Write the metrics to this file, atomically, instead of standard output.
    #[arg(short = 'o', value_name = "file")]
    output: Option<std::path::PathBuf>,
    /// Seconds the sync peer may stay silent.
    #[arg(short = 'w', value_name = "seconds", default_value_t = 5.0)]
    silent: f64,
    /// Seconds a bulk update may stay pending.
    #[arg(short = 'b', value_name = "seconds", default_value_t = 60.0)]
    bulk: f64,
}

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("pfmetrics: {msg}");
    exit(1);
}

fn ms(secs: f64, opt: &str) -> u64 {
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        die(format!("-{opt} {secs}: seconds from 0 to 1000000000"));
    }
    (secs * 1000.0) as u64
}

fn main() {
    let a: Args = libpf::cli::parse(libpf::cli::Kind::Command);
    let t = Thresholds {
        silent_ms: ms(a.silent, "w"),
        bulk_ms: ms(a.bulk, "b"),
    };
    if a.check {
        let mut c = Client::connect_default().unwrap_or_else(|e| die(e));
        let problems = pfmetrics::check(&mut c, &t).unwrap_or_else(|e| die(e));
        for p in &problems {
            eprintln!("pfmetrics: {p}");
        }
        if problems.is_empty() && !a.quiet {
            println!("pfsync: ok");
        }
        exit(if problems.is_empty() { 0 } else { 1 });
    }
    let resolver = libpf::sys::resolve::SystemResolver::new();
    let snap = Client::connect_default().and_then(|mut c| pfmetrics::collect(&mut c, t, &resolver));
    let text = match &snap {
        Ok(s) => libpf::metrics::render(s),
        Err(_) => libpf::metrics::render_unavailable(),
    };
    // The file is replaced either way: stale values must not stay.
    match &a.output {
        Some(p) => pfmetrics::write_atomic(p, &text).unwrap_or_else(|e| die(e)),
        None => print!("{text}"),
    }
    if let Err(e) = snap {
        die(e);
    }
}

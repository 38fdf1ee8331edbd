//! The load generators of regress/bench/datapath (run them through that
//! script): what iperf3 does not measure.
//!
//!   flowbench serve ADDR:PORT THREADS
//!       accepts TCP connections and closes each at once (the far end of
//!       `conns`); runs until killed
//!   flowbench conns ADDR:PORT SECONDS THREADS [RATE]
//!       opens and closes TCP connections to ADDR:PORT from THREADS threads
//!       for SECONDS, as fast as they can or RATE per second in all (each
//!       thread keeps its share of a fixed schedule); prints
//!       `conns_per_s=N failed=N`
//!   flowbench flows SRC DST COUNT [RATE]
//!       sends one UDP datagram on each of COUNT distinct flows from SRC to
//!       DST (source ports 1024..65535, then the next destination port from
//!       20000), as fast as it can or RATE flows per second (a fixed
//!       schedule, late flows sent at once): a firewall that keeps state
//!       gets COUNT states; prints `flows=N flows_per_s=N`
//!
//! std and socket2 (SO_LINGER) only; every error is printed and ends the run with status 1.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fail(msg: String) -> ! {
    eprintln!("flowbench: {msg}");
    std::process::exit(1)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fail(format!("argument {i}: expected {what}")))
}

fn serve(addr: SocketAddr, threads: usize) {
    let l = TcpListener::bind(addr).unwrap_or_else(|e| fail(format!("bind {addr}: {e}")));
    let l = Arc::new(l);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let l = Arc::clone(&l);
            std::thread::spawn(move || loop {
                if let Ok((mut s, _)) = l.accept() {
                    // wait for the client's close so that it, not we,
                    // holds TIME_WAIT (no port exhaustion on our side)
                    let mut b = [0u8; 16];
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = s.read(&mut b);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
}

fn conns(addr: SocketAddr, secs: u64, threads: usize, rate: Option<f64>) {
    // Each thread's interval between two connections, for a paced run.
    let every = rate.map(|r| Duration::from_secs_f64(threads as f64 / r.max(1.0)));
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, ok, bad) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&bad));
            std::thread::spawn(move || {
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(every) = every {
                        // behind schedule: no sleep, catch up
                        next += every;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                        Ok(s) => {
                            // RST instead of FIN: no TIME_WAIT on the client,
                            // so the source ports are not used up
                            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            bad.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let t = start.elapsed().as_secs_f64();
    println!(
        "conns_per_s={:.0} failed={}",
        ok.load(Ordering::Relaxed) as f64 / t,
        bad.load(Ordering::Relaxed)
    );
}

fn flows(src: IpAddr, dst: IpAddr, count: u64, rate: Option<f64>) {
    let start = Instant::now();
    let mut sent = 0u64;
    let (mut sport, mut dport) = (1024u16, 20000u16);
    while sent < count {
        if let Some(r) = rate.filter(|r| *r > 0.0) {
            // Sleep in steps of at least a millisecond's worth of flows.
            let due = start + Duration::from_secs_f64(sent as f64 / r);
            let now = Instant::now();
            if due > now + Duration::from_micros(500) {
                std::thread::sleep(due - now);
            }
        }
        let s = UdpSocket::bind(SocketAddr::new(src, sport));
        if let Ok(s) = s {
            if s.send_to(b"x", SocketAddr::new(dst, dport)).is_ok() {
                sent += 1;
            }
        }
        if sport == u16::MAX {
            sport = 1024;
            dport = dport
                .checked_add(1)
                .unwrap_or_else(|| fail("out of ports".into()));
        } else {
            sport += 1;
        }
    }
    let t = start.elapsed().as_secs_f64();
    println!("flows={sent} flows_per_s={:.0}", sent as f64 / t);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => serve(arg(&args, 2, "ADDR:PORT"), arg(&args, 3, "THREADS")),
        Some("conns") => conns(
            arg(&args, 2, "ADDR:PORT"),
            arg(&args, 3, "SECONDS"),
            arg(&args, 4, "THREADS"),
            args.get(5).map(|_| arg(&args, 5, "RATE")),
        ),
        Some("flows") => flows(
            arg(&args, 2, "SRC"),
            arg(&args, 3, "DST"),
            arg(&args, 4, "COUNT"),
            args.get(5).map(|_| arg(&args, 5, "RATE")),
        ),
        _ => fail("usage: flowbench serve|conns|flows ...".into()),
    }
}

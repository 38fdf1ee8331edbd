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
//!       schedule, late flows sent at once), all through one raw socket
//!       (cheap enough for 50,000 a second): a firewall that keeps state
//!       gets COUNT states; prints `flows=N flows_per_s=N`
//!   flowbench states SOCKET COUNT RATE
//!       adds COUNT UDP states to the pfd behind SOCKET at RATE a second
//!       (DIOCADDSTATES, no packets): what pfsync replicates, past what
//!       the data path makes; prints `states=N states_per_s=N`
//!
//! std, socket2 (SO_LINGER, the raw UDP socket) and libpf's control client (states); every error is printed and ends the run with status 1.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
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

/// Sends one UDP datagram on each of `count` flows (source ports
/// 1024..65535, then the next destination port from 20000) through one
/// raw socket: the kernel adds the IP header, and no socket is made,
/// bound and closed per flow, so that the generator's own cost stays
/// small beside the firewall's (the pfsync bench asks for 50,000 flows
/// a second on two shared cores).
fn flows(src: IpAddr, dst: IpAddr, count: u64, rate: Option<f64>) {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let domain = if dst.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::RAW, Some(Protocol::UDP))
        .unwrap_or_else(|e| fail(format!("raw UDP socket: {e}")));
    s.bind(&SockAddr::from(SocketAddr::new(src, 0)))
        .unwrap_or_else(|e| fail(format!("bind {src}: {e}")));
    let to = SockAddr::from(SocketAddr::new(dst, 0));
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
        let dgram = udp_datagram(src, dst, sport, dport, b"x");
        match s.send_to(&dgram, &to) {
            Ok(_) => sent += 1,
            // The interface's queue is full: the same flow again shortly.
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                std::thread::sleep(Duration::from_micros(50));
                continue;
            }
            Err(e) => fail(format!("send to {dst}: {e}")),
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

/// A UDP header and `data`, with the checksum over the pseudo header
/// (IPv6 requires one; IPv4 gets one as well).
fn udp_datagram(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let len = 8 + data.len();
    let mut d = Vec::with_capacity(len);
    d.extend_from_slice(&sport.to_be_bytes());
    d.extend_from_slice(&dport.to_be_bytes());
    d.extend_from_slice(&(len as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(data);
    let mut pseudo = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(t)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&t.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(t)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&t.octets());
        }
        _ => fail("SRC and DST of different families".into()),
    }
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(len as u16).to_be_bytes());
    let mut sum = 0u32;
    for c in pseudo.chunks(2).chain(d.chunks(2)) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = match !(sum as u16) {
        0 => 0xffff,
        c => c,
    };
    d[6..8].copy_from_slice(&c.to_be_bytes());
    d
}

/// Adds `count` UDP states to the pfd behind `socket` (DIOCADDSTATES, as
/// `pfctl -L` does), `rate` a second in pieces every 5 ms: states made
/// without a packet, so that what pfsync replicates can be driven past
/// what the data path of a small machine makes (the states are pfd's own,
/// with its host id, and go to the pfsync peer like new ones). Keys
/// 10.77.0.0/16 port 1024.. -> 10.78.0.1 port 7; prints `states=N
/// states_per_s=N`.
fn states(socket: &str, count: u64, rate: f64) {
    use libpf::ioctl::{client::Client, Reply, Request};
    use libpf::wire::pfsync::{KeyRepr, StateRepr};
    use std::net::Ipv4Addr;
    let mut c = Client::connect(socket).unwrap_or_else(|e| fail(format!("{socket}: {e}")));
    let hostid = match c.call(&Request::GetStatus) {
        Ok(Reply::Status(st)) => st.hostid,
        other => fail(format!("status: {other:?}")),
    };
    let piece = ((rate / 200.0).ceil() as u64).max(1);
    let start = Instant::now();
    let mut added = 0u64;
    let mut made = 0u64;
    while made < count {
        let due = start + Duration::from_secs_f64(made as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let n = piece.min(count - made);
        let batch: Vec<StateRepr> = (made..made + n)
            .map(|i| {
                let src =
                    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 77, 0, 0)) + (i / 60000) as u32);
                let key = KeyRepr {
                    addr: [IpAddr::V4(src), IpAddr::V4(Ipv4Addr::new(10, 78, 0, 1))],
                    port: [1024 + (i % 60000) as u16, 7],
                    rdomain: 0,
                    af: 2,
                };
                let mut s = StateRepr {
                    id: 0x5eed_0000_0000 + i,
                    ifname: "all".into(),
                    key: [key, key],
                    rule: u32::MAX,
                    anchor: u32::MAX,
                    nat_rule: u32::MAX,
                    expire: 600,
                    creatorid: hostid,
                    rtableid: [u32::MAX; 2],
                    af: 2,
                    proto: 17,
                    direction: 1,
                    // PFTM_UDP_SINGLE; the initiator SINGLE, the other end NO_TRAFFIC.
                    timeout: 7,
                    ..StateRepr::default()
                };
                s.src.state = 1;
                s
            })
            .collect();
        match c.call(&Request::AddStates { states: batch }) {
            Ok(Reply::Count(k)) => added += k,
            other => fail(format!("add states: {other:?}")),
        }
        made += n;
    }
    let t = start.elapsed().as_secs_f64();
    println!("states={added} states_per_s={:.0}", added as f64 / t);
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
        Some("states") => states(
            &args
                .get(2)
                .cloned()
                .unwrap_or_else(|| fail("argument 2: expected SOCKET".into())),
            arg(&args, 3, "COUNT"),
            arg(&args, 4, "RATE"),
        ),
        _ => fail("usage: flowbench serve|conns|flows|states ...".into()),
    }
}

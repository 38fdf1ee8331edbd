//! Times the engine's holds while its state table fills: each packet
//! that makes a new UDP state is one `Engine::test` (one hold of pfd's
//! engine lock); the slowest of them show what growing the table's
//! indexes costs. Then the expiry at that size: a second's run checking
//! the whole table against one checking its share (`set timeout
//! interval` 10), in pieces of 4096 slots as pfd's maintenance does.
//! `cargo run --release -p pfcore --example statebench [states]`
//! (default 1,000,000). A benchmark, not a test: it prints figures and
//! judges nothing.

use pfcore::conf::{parse, StaticResolver};
use pfcore::engine::anchor::Loader;
use pfcore::engine::packet::Dir;
use pfcore::engine::verdict::PacketMeta;
use pfcore::engine::Engine;
use std::time::{Duration, Instant};

fn sum16(b: &[u8]) -> u32 {
    b.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A UDP datagram from 10.a.b.c:sport to 10.2.0.9:53 (the flow `i`).
fn udp(i: u32) -> Vec<u8> {
    let mut b = vec![0u8; 28];
    b[0] = 0x45;
    b[2..4].copy_from_slice(&28u16.to_be_bytes());
    b[8] = 64;
    b[9] = 17;
    let src = 0x0a40_0000u32 | (i / 50_000);
    b[12..16].copy_from_slice(&src.to_be_bytes());
    b[16..20].copy_from_slice(&[10, 2, 0, 9]);
    let c = fold(sum16(&b[..20]));
    b[10..12].copy_from_slice(&c.to_be_bytes());
    let sport = 10_000 + (i % 50_000) as u16;
    b[20..22].copy_from_slice(&sport.to_be_bytes());
    b[22..24].copy_from_slice(&53u16.to_be_bytes());
    b[24..26].copy_from_slice(&8u16.to_be_bytes());
    b
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One second's expiry over `share` slots from slot `at`, in pieces of
/// 4096 (nothing has expired: the cost of looking).
fn run(e: &mut Engine, mut at: usize, share: usize, now: u64) -> (Duration, Duration, usize) {
    let len = e.states.len().max(1);
    let (mut total, mut worst, mut pieces, mut left) = (Duration::ZERO, Duration::ZERO, 0, share);
    while left > 0 {
        let n = left.min(4096);
        let t = Instant::now();
        let (_, next) = e.purge_states_in(at, n, 256, now);
        let d = t.elapsed();
        total += d;
        worst = worst.max(d);
        pieces += 1;
        let stop = next.unwrap_or(len);
        left -= (stop - at).min(left);
        at = next.unwrap_or(0);
    }
    (total, worst, pieces)
}

fn main() {
    let states: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let conf = format!(
        "set limit states {}\nset timeout udp.first 600\npass\n",
        states as u64 * 2
    );
    let resolver = StaticResolver::new().iface("int0", &["10.1.0.1/24"]);
    let rs = match parse(&conf, "pf.conf", &resolver) {
        Ok(rs) => rs,
        Err(e) => {
            eprintln!("statebench: {e:?}");
            std::process::exit(1);
        }
    };
    let mut e = Engine::new(1, 1);
    if let Err(err) = e.load(rs, Loader::default(), String::new()) {
        eprintln!("statebench: {err:?}");
        std::process::exit(1);
    }
    e.set_enabled(true, 0);
    let meta = PacketMeta {
        dir: Dir::In,
        ifname: "int0",
        uid: None,
        gid: None,
        mtag: Default::default(),
    };
    let mut holds: Vec<(Duration, u32)> = Vec::with_capacity(states as usize);
    // The inserts that began a move of the indexes, and the time spent
    // in inserts while a move was on (and their number).
    let (mut starts, mut moving, mut moving_n) = (Vec::new(), Duration::ZERO, 0u32);
    let t0 = Instant::now();
    for i in 0..states {
        let mut p = udp(i);
        let was = e.states.index_moving();
        let t = Instant::now();
        let v = e.test(&meta, &mut p, 1_000);
        let d = t.elapsed();
        holds.push((d, i));
        if e.states.index_moving() {
            if !was {
                starts.push(format!("{:.2}ms@{i}", ms(d)));
            }
            moving += d;
            moving_n += 1;
        }
        if !v.pass {
            eprintln!("statebench: flow {i} blocked");
            std::process::exit(1);
        }
    }
    let fill = t0.elapsed();
    let n = e.states.len();
    let mut sorted: Vec<Duration> = holds.iter().map(|h| h.0).collect();
    sorted.sort_unstable();
    let pct = |p: f64| ms(sorted[((sorted.len() - 1) as f64 * p) as usize]);
    holds.sort_unstable_by_key(|h| std::cmp::Reverse(h.0));
    let over1 = sorted.iter().filter(|d| ms(**d) > 1.0).count();
    let over5 = sorted.iter().filter(|d| ms(**d) > 5.0).count();
    println!("bench.statebench.states={n}");
    println!("bench.statebench.fill_s={:.2}", fill.as_secs_f64());
    println!(
        "bench.statebench.insert_ms.p50={:.4} p99={:.4} p9999={:.3} max={:.2}",
        pct(0.5),
        pct(0.99),
        pct(0.9999),
        ms(holds[0].0)
    );
    println!("bench.statebench.inserts_over_1ms={over1} inserts_over_5ms={over5}");
    let worst: Vec<String> = holds
        .iter()
        .take(6)
        .map(|(d, i)| format!("{:.1}ms@{}", ms(*d), i))
        .collect();
    println!("bench.statebench.slowest={}", worst.join(","));
    println!("bench.statebench.move_starts={}", starts.join(","));
    let all: Duration = holds.iter().map(|h| h.0).sum();
    println!(
        "bench.statebench.insert_us.mean={:.3} while_moving={:.3} ({moving_n} inserts)",
        all.as_secs_f64() * 1e6 / holds.len().max(1) as f64,
        moving.as_secs_f64() * 1e6 / moving_n.max(1) as f64
    );
    // Expiry: all of the table against a tenth of it, a second's run.
    let len = n;
    let (whole, wmax, wp) = run(&mut e, 0, len, 2_000);
    let share = len.div_ceil(10).max(4096).min(len);
    let (part, pmax, pp) = run(&mut e, 0, share, 2_000);
    println!(
        "bench.statebench.expiry_whole_ms={:.2} pieces={wp} piece_max_ms={:.3}",
        ms(whole),
        ms(wmax)
    );
    println!(
        "bench.statebench.expiry_share_ms={:.2} pieces={pp} piece_max_ms={:.3}",
        ms(part),
        ms(pmax)
    );
}

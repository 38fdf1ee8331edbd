//! The measuring half of regress/bench/tables (run it through that script).
//!
//!   tablebench gen N DIR   N prefixes, IPv4 (/8../32) and IPv6 (/32../128)
//!                          mixed, none overlapping (so that an nftables
//!                          interval set holds exactly the same), shuffled:
//!                          DIR/prefixes.txt (a pf table file), DIR/bench4.nft
//!                          and bench6.nft (the two sets), DIR/probe4.nft and
//!                          probe6.nft (`nft get element` of 100 members each)
//!   tablebench run DIR     loads DIR/prefixes.txt into a table as pfd does
//!                          (parse, build, commit), then looks addresses up;
//!                          prints bench.tables.* lines
//!
//! Deterministic: the same N gives the same files.

use libpf::addr::IpNet;
use libpf::engine::table::{Limits, Shadow, Tables};
use libpf::ruleset::{TableEntry, TableFlags};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

/// xorshift64*: deterministic, fast.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// (prefix length, share in thousandths) of the IPv4 and IPv6 parts.
const V4: [(u8, u32); 10] = [
    (8, 0),
    (12, 1),
    (16, 8),
    (20, 30),
    (22, 40),
    (24, 380),
    (26, 40),
    (28, 40),
    (30, 31),
    (32, 430),
];
const V6: [(u8, u32); 6] = [
    (32, 1),
    (40, 9),
    (48, 200),
    (56, 190),
    (64, 400),
    (128, 200),
];

/// Non-overlapping prefixes: each length bucket takes consecutive aligned
/// blocks from a cursor that only moves up (longest blocks first).
fn generate(n: usize) -> Vec<IpNet> {
    let n4 = n * 7 / 10;
    let n6 = n - n4;
    let mut out = Vec::with_capacity(n);
    let count = |share: u32, total: usize| (total as u64 * share as u64 / 1000) as usize;
    let mut cursor: u64 = 1 << 24; // 1.0.0.0
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut made4 = 0;
    for (i, &(len, share)) in V4.iter().enumerate() {
        let mut k = if i == V4.len() - 1 {
            n4.saturating_sub(made4)
        } else {
            count(share, n4)
        };
        if len == 8 {
            k = (n4 / 1000).min(20);
        }
        let size = 1u64 << (32 - len);
        for _ in 0..k {
            cursor = cursor.div_ceil(size) * size;
            // Leave random gaps so that lookups miss as well as hit.
            cursor += size * rng.below(2);
            if cursor + size > 1 << 32 {
                break;
            }
            out.push(IpNet {
                addr: IpAddr::V4(Ipv4Addr::from(cursor as u32)),
                prefix: len,
            });
            cursor += size;
            made4 += 1;
        }
    }
    let mut cursor: u128 = 0x2001_0000u128 << 96;
    let mut made6 = 0;
    for (i, &(len, share)) in V6.iter().enumerate() {
        let k = if i == V6.len() - 1 {
            n6.saturating_sub(made6)
        } else {
            count(share, n6)
        };
        let size = 1u128 << (128 - len);
        for _ in 0..k {
            cursor = cursor.div_ceil(size) * size;
            cursor += size * rng.below(2) as u128;
            out.push(IpNet {
                addr: IpAddr::V6(Ipv6Addr::from(cursor)),
                prefix: len,
            });
            cursor += size;
            made6 += 1;
        }
    }
    // Shuffle (Fisher-Yates).
    for i in (1..out.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        out.swap(i, j);
    }
    out
}

/// Addresses to look up: half inside a prefix of the table (a random
/// host of it), half random (mostly misses); v4 and v6 as in the table.
fn probes(nets: &[IpNet], n: usize, seed: u64) -> Vec<IpAddr> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let p = nets[rng.below(nets.len() as u64) as usize];
            let host = rng.next();
            match p.addr {
                IpAddr::V4(a) => {
                    let a = u32::from(a);
                    let v = if i % 2 == 0 {
                        let hostbits = if p.prefix == 32 {
                            0
                        } else {
                            (host as u32) & (u32::MAX >> p.prefix)
                        };
                        a | hostbits
                    } else {
                        host as u32
                    };
                    IpAddr::V4(Ipv4Addr::from(v))
                }
                IpAddr::V6(a) => {
                    let a = u128::from(a);
                    let r = ((rng.next() as u128) << 64) | host as u128;
                    let v = if i % 2 == 0 {
                        let hostbits = if p.prefix == 128 {
                            0
                        } else {
                            r & (u128::MAX >> p.prefix)
                        };
                        a | hostbits
                    } else {
                        (0x2001_0000u128 << 96) | (r >> 32)
                    };
                    IpAddr::V6(Ipv6Addr::from(v))
                }
            }
        })
        .collect()
}

fn gen(n: usize, dir: &str) -> std::io::Result<()> {
    let nets = generate(n);
    let mut f = std::io::BufWriter::new(std::fs::File::create(format!("{dir}/prefixes.txt"))?);
    for p in &nets {
        writeln!(f, "{}/{}", p.addr, p.prefix)?;
    }
    f.flush()?;
    // One file per set: nft 1.0.6 crashes loading both big sets at once.
    for (file, set, ty, v6) in [
        ("bench4.nft", "s4", "ipv4_addr", false),
        ("bench6.nft", "s6", "ipv6_addr", true),
    ] {
        let mut f = std::io::BufWriter::new(std::fs::File::create(format!("{dir}/{file}"))?);
        writeln!(f, "table inet bench {{")?;
        writeln!(
            f,
            "\tset {set} {{\n\t\ttype {ty}; flags interval;\n\t\telements = {{"
        )?;
        let list: Vec<&IpNet> = nets
            .iter()
            .filter(|p| matches!(p.addr, IpAddr::V6(_)) == v6)
            .collect();
        for (i, chunk) in list.chunks(8).enumerate() {
            let s: Vec<String> = chunk
                .iter()
                .map(|p| format!("{}/{}", p.addr, p.prefix))
                .collect();
            let last = (i + 1) * 8 >= list.len();
            writeln!(f, "\t\t\t{}{}", s.join(", "), if last { "" } else { "," })?;
        }
        writeln!(f, "\t\t}}\n\t}}\n}}")?;
        f.flush()?;
    }
    // `nft get element` with 100 addresses that are in the set (a miss
    // fails the whole command, more than about 100 crash nft 1.0.6).
    let pr = probes(&nets, 1000, 77);
    for (name, set, v6) in [("probe4.nft", "s4", false), ("probe6.nft", "s6", true)] {
        let a: Vec<String> = pr
            .iter()
            .step_by(2)
            .filter(|a| a.is_ipv6() == v6)
            .take(100)
            .map(|a| a.to_string())
            .collect();
        std::fs::write(
            format!("{dir}/{name}"),
            format!("get element inet bench {set} {{ {} }}\n", a.join(", ")),
        )?;
    }
    Ok(())
}

fn run(dir: &str) -> Result<(), String> {
    let path = format!("{dir}/prefixes.txt");
    let data = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    // As pfctl: read the file.
    let t0 = Instant::now();
    let mut entries: Vec<TableEntry> = vec![];
    let mut msgs = vec![];
    libpf::conf::tablefile::parse_table_data(&data, &mut entries, &mut msgs, &mut |_, _, _| {
        Err(libpf::conf::tablefile::LoadError::BadData)
    })
    .map_err(|_| format!("{path}: bad data {msgs:?}"))?;
    let parse = t0.elapsed().as_secs_f64();
    let n = entries.len();
    // As pfd: build the table (in chunks as they arrive), commit it.
    let t1 = Instant::now();
    let flags = TableFlags {
        persist: true,
        ..TableFlags::default()
    };
    let mut sh = Shadow::new("", "big", flags, true);
    for chunk in entries.chunks(libpf::ioctl::ADDRS_PER_FRAME) {
        sh.add(chunk);
    }
    sh.finish().map_err(|e| e.to_string())?;
    let mut tables = Tables::new();
    let limits = Limits {
        tables: 1000,
        entries: n as u32,
    };
    tables
        .check_commit(std::slice::from_ref(&sh), &[], false, limits)
        .map_err(|e| e.to_string())?;
    tables.commit(vec![sh], 1);
    let build = t1.elapsed().as_secs_f64();
    let id = tables.attach("", "big", 1);
    let mem = tables.memory();
    // Lookups.
    let nets: Vec<IpNet> = entries.iter().map(|e| e.net).collect();
    let pr = probes(&nets, 4_000_000, 4242);
    let t2 = Instant::now();
    let mut hits = 0u64;
    for _ in 0..2 {
        for a in &pr {
            hits += tables.match_addr(id, a) as u64;
        }
    }
    let look = t2.elapsed().as_secs_f64();
    let nlook = 2 * pr.len();
    // The same with a table of 10,000 of the prefixes, which the caches
    // hold: the cost of the structure itself.
    let small: Vec<TableEntry> = entries.iter().take(10_000).copied().collect();
    let mut ss = Shadow::new("", "small", flags, true);
    ss.add(&small);
    ss.finish().map_err(|e| e.to_string())?;
    tables.commit(vec![ss], 1);
    let sid = tables.attach("", "small", 1);
    let snets: Vec<IpNet> = small.iter().map(|e| e.net).collect();
    let spr = probes(&snets, 4_000_000, 4343);
    let t3 = Instant::now();
    let mut small_hits = 0u64;
    for a in &spr {
        small_hits += tables.match_addr(sid, a) as u64;
    }
    let slook = t3.elapsed().as_secs_f64();
    let v4 = nets.iter().filter(|p| p.addr.is_ipv4()).count();
    println!("bench.tables.prefixes={n}");
    println!("bench.tables.prefixes_v4={v4}");
    println!("bench.tables.prefixes_v6={}", n - v4);
    println!("bench.tables.parse_s={parse:.3}");
    println!("bench.tables.build_s={build:.3}");
    println!("bench.tables.load_s={:.3}", parse + build);
    println!("bench.tables.bytes={mem}");
    println!("bench.tables.bytes_per_prefix={:.1}", mem as f64 / n as f64);
    println!("bench.tables.lookups={nlook}");
    println!(
        "bench.tables.lookup_hit_share={:.2}",
        hits as f64 / nlook as f64
    );
    println!("bench.tables.lookups_per_s={:.0}", nlook as f64 / look);
    println!(
        "bench.tables.ns_per_lookup={:.1}",
        look * 1e9 / nlook as f64
    );
    println!(
        "bench.tables.small_table_ns_per_lookup={:.1}",
        slook * 1e9 / spr.len() as f64
    );
    println!(
        "bench.tables.small_table_hit_share={:.2}",
        small_hits as f64 / spr.len() as f64
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let r = match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 4 => match args[2].parse() {
            Ok(n) => gen(n, &args[3]).map_err(|e| e.to_string()),
            Err(_) => Err("gen: N must be a number".into()),
        },
        Some("run") if args.len() == 3 => run(&args[2]),
        _ => Err("usage: tablebench gen N DIR | tablebench run DIR".into()),
    };
    if let Err(e) = r {
        eprintln!("tablebench: {e}");
        std::process::exit(1);
    }
}

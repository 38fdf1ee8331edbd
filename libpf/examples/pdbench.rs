//! Times the packet descriptor (engine::packet) and in-place NAT rewriting
//! (engine::translate) on a few typical packets: ns per call, best of 5
//! runs. `cargo run --release -p libpf --example pdbench [iterations]`.
//! A benchmark, not a test: it prints figures and judges nothing.

use libpf::engine::packet::{describe, describe_quoted};
use libpf::engine::translate::{set_end, End};
use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

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

fn v4(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 20 + l4.len()];
    b[0] = 0x45;
    b[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    b[6] = 0x40;
    b[8] = 64;
    b[9] = proto;
    b[12..16].copy_from_slice(&[192, 168, 1, 10]);
    b[16..20].copy_from_slice(&[192, 0, 2, 20]);
    let c = fold(sum16(&b[..20]));
    b[10..12].copy_from_slice(&c.to_be_bytes());
    b[20..].copy_from_slice(l4);
    b
}

fn v6(nh: u8, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 40 + rest.len()];
    b[0] = 0x60;
    b[4..6].copy_from_slice(&(rest.len() as u16).to_be_bytes());
    b[6] = nh;
    b[7] = 64;
    b[8] = 0x20;
    b[9] = 0x01;
    b[23] = 1;
    b[24] = 0x20;
    b[25] = 0x01;
    b[39] = 2;
    b[40..].copy_from_slice(rest);
    b
}

fn tcp_syn() -> Vec<u8> {
    let mut t = vec![0u8; 40];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&80u16.to_be_bytes());
    t[4..8].copy_from_slice(&12345u32.to_be_bytes());
    t[12] = 10 << 4;
    t[13] = 0x02;
    t[14..16].copy_from_slice(&65535u16.to_be_bytes());
    // mss 1460, sackOK, timestamp, nop, wscale 7
    t[20..40].copy_from_slice(&[
        2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ]);
    t
}

fn tcp_ack(payload: usize) -> Vec<u8> {
    let mut t = vec![0u8; 20 + payload];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&80u16.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = 0x10;
    t
}

fn udp(payload: usize) -> Vec<u8> {
    let mut u = vec![0u8; 8 + payload];
    u[0..2].copy_from_slice(&5353u16.to_be_bytes());
    u[2..4].copy_from_slice(&53u16.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    u
}

fn echo(t: u8) -> Vec<u8> {
    let mut e = vec![0u8; 64];
    e[0] = t;
    e[4..6].copy_from_slice(&777u16.to_be_bytes());
    e
}

fn time(name: &str, n: u64, mut f: impl FnMut()) {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    println!("bench.pd.{name}_ns={best:.1}");
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000_000);
    let mut dstopts = vec![6u8, 0, 1, 4, 0, 0, 0, 0];
    dstopts.extend_from_slice(&tcp_ack(100));
    let pkts: Vec<(&str, Vec<u8>)> = vec![
        ("v4_tcp_syn", v4(6, &tcp_syn())),
        ("v4_tcp_ack", v4(6, &tcp_ack(1000))),
        ("v4_udp", v4(17, &udp(100))),
        ("v4_icmp_echo", v4(1, &echo(8))),
        ("v6_tcp_ack", v6(6, &tcp_ack(1000))),
        ("v6_dstopts_tcp", v6(60, &dstopts)),
        ("v6_icmp6_echo", v6(58, &echo(128))),
    ];
    for (name, p) in &pkts {
        describe(p).expect(name);
        time(name, n, || {
            black_box(describe(black_box(p)).ok());
        });
    }
    let quoted = v4(17, &udp(100));
    describe_quoted(&quoted[..28]).expect("quote");
    time("quoted_v4_udp", n, || {
        black_box(describe_quoted(black_box(&quoted[..28])).ok());
    });
    let mut p = v4(6, &tcp_ack(1000));
    let pd0 = describe(&p).expect("nat");
    let (a, b): (IpAddr, IpAddr) = ("198.51.100.1".parse().unwrap(), pd0.src);
    let mut flip = false;
    let mut pd = pd0;
    time("nat_set_end_v4_tcp", n, || {
        let (addr, port) = if flip { (b, 40000) } else { (a, 50001) };
        flip = !flip;
        black_box(set_end(black_box(&mut p), &mut pd, End::Src, addr, port));
    });
}

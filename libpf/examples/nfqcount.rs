//! A stand-in for the intrusion detection system that reads a
//! `divert-packet` queue (Suricata in NFQ mode and the like), for the
//! regress suite: binds NFQUEUE `QUEUE`, accepts every packet, and writes
//! how many it has seen to `FILE` after each.
//!
//!     nfqcount QUEUE FILE

use nfq::{Queue, Verdict};
use std::process::exit;

fn write(path: &str, n: u64) {
    if let Err(e) = std::fs::write(path, format!("{n}\n")) {
        eprintln!("nfqcount: {path}: {e}");
        exit(1);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(qnum), Some(path)) = (args.get(1).and_then(|s| s.parse::<u16>().ok()), args.get(2))
    else {
        eprintln!("usage: nfqcount QUEUE FILE");
        exit(2);
    };
    let mut q = match Queue::open().and_then(|mut q| q.bind(qnum).map(|_| q)) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("nfqcount: NFQUEUE {qnum}: {e}");
            exit(1);
        }
    };
    let mut n = 0u64;
    write(path, n);
    loop {
        let mut msg = match q.recv() {
            Ok(m) => m,
            Err(e) => {
                eprintln!("nfqcount: {e}");
                continue;
            }
        };
        msg.set_verdict(Verdict::Accept);
        if let Err(e) = q.verdict(msg) {
            eprintln!("nfqcount: verdict: {e}");
        }
        n += 1;
        write(path, n);
    }
}

//! The control-socket codec, as pfd reads a client and a client reads
//! pfd: the input is the byte stream of one connection. `read_frame` takes
//! frames off it until the end or an error (magic, version, length over
//! MAX_FRAME, a body that does not decode); independently every frame the
//! header delimits is decoded as a Request and as a Reply. Whatever
//! decodes must encode again and decode to the same value. pfd's server
//! reads the stream with the incremental `Assembler`, in pieces whose size
//! the input's first byte chooses: it must find the same requests.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libpf::ioctl::assembler::Assembler;
use libpf::ioctl::frame::{decode, encode, parse_header, read_frame, HEADER_LEN, MAX_FRAME};
use libpf::ioctl::{Reply, Request};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;

/// At most this many frames from one input (bounded work).
const MAX_FRAMES: usize = 64;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T) {
    let f = encode(v).expect("a decoded message encodes");
    let back: T = read_frame(&mut &f[..])
        .expect("an encoded message reads back")
        .expect("one frame");
    assert_eq!(&back, v, "encode/decode round trip");
}

fuzz_target!(|data: &[u8]| {
    // A client's side of pfd's stream, and the requests a blocking reader
    // finds.
    let mut r = data;
    let mut requests = Vec::new();
    for _ in 0..MAX_FRAMES {
        match read_frame::<Request>(&mut r) {
            Ok(Some(req)) => {
                round_trip(&req);
                requests.push(req);
            }
            Ok(None) => break,
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
    // pfd's server: the same requests, however the bytes arrive.
    let step = 1 + data.first().map_or(0, |b| *b as usize % 97);
    let mut a = Assembler::new(MAX_FRAME);
    let mut found = Vec::new();
    let mut rest = data;
    while !rest.is_empty() && found.len() < requests.len() {
        let k = step.min(a.want()).min(rest.len());
        let Ok(used) = a.push(&rest[..k]) else { break };
        assert!(used <= k, "the assembler took more than it was given");
        rest = &rest[used..];
        if let Some(body) = a.take() {
            let Ok(req) = decode::<Request>(&body) else { break };
            found.push(req);
        }
    }
    assert_eq!(found, requests, "the assembler and read_frame disagree");
    // Both message types out of every frame the headers delimit.
    let mut rest = data;
    for _ in 0..MAX_FRAMES {
        let Some(h) = rest.first_chunk::<HEADER_LEN>() else {
            break;
        };
        let Ok(len) = parse_header(h) else {
            break;
        };
        let body = &rest[HEADER_LEN..];
        let body = &body[..len.min(body.len())];
        if let Ok(req) = decode::<Request>(body) {
            round_trip(&req);
        }
        match decode::<Reply>(body) {
            Ok(rep) => round_trip(&rep),
            Err(e) => drop(e.to_string()),
        }
        rest = &rest[HEADER_LEN + body.len()..];
    }
});

//! The control-socket codec, as pfd reads a client and a client reads
//! pfd: the input is the byte stream of one connection. `read_frame` takes
//! frames off it until the end or an error (magic, version, length over
//! MAX_FRAME, a body that does not decode); independently every frame the
//! header delimits is decoded as a Request and as a Reply. Whatever
//! decodes must encode again and decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libpf::ioctl::frame::{decode, encode, parse_header, read_frame, HEADER_LEN};
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
    // pfd's side: requests off the stream, as its connection loop reads them.
    let mut r = data;
    for _ in 0..MAX_FRAMES {
        match read_frame::<Request>(&mut r) {
            Ok(Some(req)) => round_trip(&req),
            Ok(None) => break,
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
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

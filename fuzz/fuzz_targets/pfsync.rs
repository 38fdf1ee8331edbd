//! pfsync frames as pfsyncd and pfd handle them: the IP packet through
//! `pfsync::input::received` (header, TTL), the frame through
//! `wire::pfsync::parse_frame` (header, sections, every message type, the
//! receiver's value checks), the messages into an engine with the fuzz
//! ruleset (`Engine::pfsync_input`: inserts, updates with the stale checks,
//! deletes, clears, update requests), then packets of the connections the
//! imported states describe through `Engine::test` both ways, so a forged
//! state meets the data path. What the engine then sends (its own updates
//! and answers) is framed with `FrameBuilder` and applied to a second
//! engine, the peer, which must accept all of it.
//!
//! Records (`libpf_fuzz::records`), one frame each:
//!   a: bit 0 the bytes are an IPv4 packet (else the frame alone),
//!      bit 1 probe the imported states with packets, bits 2-7 TCP flags
//!      of the probes (shifted: SYN, RST, PSH, ACK, URG, ECE)
//!   b: time step before the frame, b seconds.
//!
//! The bytes also go through the pass's trailer check (`pfsync::auth`).
//!
//! Each message is also parsed, emitted and parsed again on its own:
//! emit(parse(emit(m))) must equal emit(m). The record's bytes are also
//! read as a `pfctl -L` state file (`statefile::decode`, the same 264-byte
//! records) and its states added as DIOCADDSTATES adds them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libpf::engine::packet::Dir;
use libpf::engine::PacketMeta;
use libpf::pfsync::auth;
use libpf::pfsync::input::received;
use libpf::statefile;
use libpf::wire::pfsync::{
    message_len, parse_frame, FrameBuilder, Message, ACT_MAX, HEADER_LEN, SUBHEADER_LEN,
};
use libpf_fuzz::net::{engine, probe, IFACES};
use libpf_fuzz::records::records;

/// The pass's trailer (`pfsync::auth`): whatever the bytes, `verify`
/// answers without a panic and never gives more than it was given; the
/// frame (cut at its header's length) signed here verifies with its
/// number, and not under another key, and its number is new once.
fn authenticated(frame: &[u8], window: &mut auth::ReplayWindow) {
    if let Ok((f, seq)) = auth::verify(b"fuzz", frame) {
        assert!(f.len() + auth::TRAILER_LEN <= frame.len());
        let _ = window.accept(std::net::Ipv4Addr::new(169, 254, 0, 1), seq);
    }
    let Some(len) = frame
        .get(2..4)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    else {
        return;
    };
    // A frame shorter than its header is refused by verify, signed or not.
    let Some(body) = frame.get(..len).filter(|b| b.len() >= HEADER_LEN) else {
        return;
    };
    let seq = u64::from(frame.len() as u32);
    let mut signed = body.to_vec();
    auth::sign(b"fuzz", seq, &mut signed);
    assert_eq!(auth::verify(b"fuzz", &signed), Ok((body, seq)));
    assert!(auth::verify(b"other", &signed).is_err());
}

/// Every message type over the first bytes of the frame's first section.
fn each_message(frame: &[u8]) {
    let body = frame.get(HEADER_LEN + SUBHEADER_LEN..).unwrap_or(&[]);
    for action in 0..ACT_MAX {
        let Ok(m) = Message::parse(action, body) else {
            continue;
        };
        let _ = m.validate();
        let n = m.wire_len();
        assert_eq!(Some(n), message_len(action), "wire_len of action {action}");
        let mut b1 = vec![0u8; n];
        if m.emit(&mut b1).is_err() {
            continue;
        }
        let m2 = Message::parse(action, &b1).expect("an emitted message parses");
        let mut b2 = vec![0u8; n];
        m2.emit(&mut b2).expect("a parsed message emits");
        assert_eq!(b1, b2, "action {action}: emit(parse(emit(m))) != emit(m)");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut a = engine(0x0a0a0a0a);
    let mut peer = engine(0x0b0b0b0b);
    let mut now = 10_000u64;
    let mut msgs = Vec::new();
    let mut window = auth::ReplayWindow::new();
    let mut echo = Vec::new();
    let mut buf = Vec::with_capacity(128);
    for r in records(data) {
        now += u64::from(r.b) * 1000;
        let frame = if r.a & 1 != 0 {
            match received(r.bytes) {
                Ok(rx) => rx.frame,
                Err(_) => continue,
            }
        } else {
            r.bytes
        };
        each_message(frame);
        authenticated(frame, &mut window);
        let (states, _) = statefile::decode(r.bytes);
        for s in states.iter().take(8) {
            let _ = a.import_state(s, false, now);
        }
        msgs.clear();
        let st = parse_frame(frame, &mut msgs);
        assert_eq!(st.messages as usize, msgs.len());
        for m in &msgs {
            assert!(m.validate().is_ok(), "parse_frame let through {m:?}");
        }
        let _ = a.pfsync_input(&msgs, now);
        a.purge(now);
        if r.a & 2 != 0 {
            let flags = r.a >> 2;
            let tcp = (flags & 1) << 1 // SYN
                | (flags & 2) << 1     // RST
                | (flags & 4) << 1     // PSH
                | (flags & 8) << 1     // ACK
                | (flags & 16) << 1    // URG
                | (flags & 32) << 1; // ECE
            for s in a.export_all(now).iter().take(8) {
                let ifname = IFACES
                    .iter()
                    .find(|i| **i == s.ifname)
                    .copied()
                    .unwrap_or("hvn3");
                for (fwd, dir) in [(true, Dir::In), (false, Dir::Out), (true, Dir::Out)] {
                    let Some(p) = probe(s, fwd, tcp) else {
                        continue;
                    };
                    buf.clear();
                    buf.extend_from_slice(&p);
                    let meta = PacketMeta {
                        dir,
                        ifname,
                        uid: None,
                        gid: None,
                        mtag: Default::default(),
                    };
                    let _ = a.test(&meta, &mut buf, now);
                }
            }
        }
        // What `a` tells its peer goes through the wire format to `peer`,
        // which must take every message of it.
        let out = a.take_sync(now);
        let mut fb = FrameBuilder::new(1500);
        for m in &out {
            assert!(m.validate().is_ok(), "engine exports an invalid {m:?}");
            if !fb.push(m) {
                flush(&mut fb, &mut peer, &mut echo, now);
                assert!(fb.push(m), "a message larger than a frame");
            }
        }
        flush(&mut fb, &mut peer, &mut echo, now);
        drop(peer.take_sync(now));
    }
    let _ = a.status(now);
});

fn flush(
    fb: &mut FrameBuilder,
    peer: &mut libpf::engine::Engine,
    echo: &mut Vec<Message>,
    now: u64,
) {
    if fb.is_empty() {
        return;
    }
    let n = fb.count();
    let f = fb.finish();
    echo.clear();
    let st = parse_frame(&f, echo);
    assert_eq!(
        (st.messages as usize, st.badval, st.badlen, st.badact),
        (n, 0, 0, 0),
        "a built frame does not parse back whole"
    );
    let _ = peer.pfsync_input(echo, now);
}

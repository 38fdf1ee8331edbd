//! Packets into the whole engine (`Engine::test`), as pfd's data path hands
//! them over: IPv4/IPv6 with options and extension headers, fragments,
//! TCP/UDP/ICMP/ICMPv6, ICMP errors quoting a header, against a ruleset
//! with states, NAT, rdr-to, af-to, synproxy, scrub and source tracking
//! (`libpf_fuzz::net`). The input is records (`libpf_fuzz::records`), one
//! packet each, so the states one packet creates meet the next:
//!
//!   a: bit 0 out (else in), bits 1-2 the interface (hvn3 outside, hvn4
//!      inside, hvn2 sync, carp1), bit 3 forward (an `in` that passes goes `out` again on
//!      interface bits 4-5, carrying the verdict's mark, as a routed
//!      packet does), bit 6 a local socket owner (uid/gid 1000)
//!   b: time step before the packet: b² × 50 ms (0 to about 54 min), so
//!      timeouts, purges and fragment expiry are reached.
//!
//! Every input runs twice: with the ruleset's `set reassemble yes` (each
//! fragment held until its datagram is whole) and with `set reassemble
//! no` (fragments filtered one by one). Nothing may panic; pf's own
//! replies must be packets the engine itself can read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libpf::engine::packet::{describe, Dir};
use libpf::engine::{PacketMeta, Verdict};
use libpf_fuzz::net::{engine_with, IFACES};
use libpf_fuzz::records::records;

fn check_out(v: &Verdict) {
    if let Some(r) = &v.reply {
        // pf's own replies (RST, ICMP errors) must be well-formed.
        assert!(
            describe(r).is_ok(),
            "engine built a reply it cannot read: {r:02x?}"
        );
    }
    for o in &v.send {
        let _ = describe(&o.packet);
    }
}

fuzz_target!(|data: &[u8]| {
    run(data, false);
    run(data, true);
});

fn run(data: &[u8], no_reassembly: bool) {
    let mut e = engine_with(0x0f1e2d3c, no_reassembly);
    let mut now = 1_000u64;
    let mut buf = Vec::with_capacity(2048);
    let mut released = Vec::new();
    for r in records(data) {
        let step = u64::from(r.b) * u64::from(r.b) * 50;
        if step > 0 {
            now += step;
            e.purge(now);
        }
        let dir = if r.a & 1 != 0 { Dir::Out } else { Dir::In };
        let ifname = IFACES[usize::from(r.a >> 1) & 3];
        let owner = (r.a & 0x40 != 0).then_some(1000);
        buf.clear();
        buf.extend_from_slice(r.bytes);
        let meta = PacketMeta {
            dir,
            ifname,
            uid: owner,
            gid: owner,
            mtag: Default::default(),
        };
        let v = e.test(&meta, &mut buf, now);
        check_out(&v);
        if dir == Dir::In && r.a & 0x08 != 0 && v.pass && v.hold.is_none() {
            let meta = PacketMeta {
                dir: Dir::Out,
                ifname: IFACES[usize::from(r.a >> 4) & 3],
                uid: None,
                gid: None,
                mtag: v.mtag.unwrap_or_default(),
            };
            let v2 = e.test(&meta, &mut buf, now);
            check_out(&v2);
        }
        e.take_releases(|_| true, &mut released);
        for rel in released.drain(..) {
            check_out(&rel.verdict);
        }
        drop(e.take_outgoing());
        drop(e.take_notices());
    }
    // What the engine would tell pfctl and the pfsync peer.
    let _ = e.status(now);
    let _ = e.export_all(now);
    let _ = e.take_sync(now);
}

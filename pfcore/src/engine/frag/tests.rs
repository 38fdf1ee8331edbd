//! Fragments through the engine: held until complete, filtered whole,
//! released with the datagram's verdict; overlaps, duplicates, timeouts,
//! limits, IPv6, NAT and scrub on fragments; `set reassemble no`.

use super::*;
use crate::conf::{parse, StaticResolver};
use crate::engine::anchor::Loader;
use crate::engine::packet::tests::*;
use crate::wire::{ipv4, ipv6, ipv6ext, udp};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

fn resolver() -> StaticResolver {
    StaticResolver::new()
        .iface("eth0", &["192.0.2.10/24"])
        .iface("eth1", &["10.1.0.1/24"])
}

fn engine(rules: &str) -> Engine {
    let rs = parse(rules, "pf.conf", &resolver())
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let mut e = Engine::new(1, 42);
    e.load(rs, Loader::default(), String::new()).unwrap();
    e.set_enabled(true, 0);
    e
}

fn meta(dir: Dir, ifname: &str) -> PacketMeta<'_> {
    PacketMeta {
        dir,
        ifname,
        uid: None,
        gid: None,
        mtag: Default::default(),
    }
}

/// A UDP datagram with `n` bytes of payload (0, 1, 2, ... mod 251).
fn udp4(dport: u16, n: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    let mut p = v4(
        "10.1.0.2",
        "192.0.2.20",
        17,
        &udp_dgram(4000, dport, &payload),
    );
    // No DF: it is going to be fragmented.
    ipv4::Packet::new_unchecked(&mut p[..]).clear_flags();
    set_id(&mut p, 0x1234);
    p
}

/// Give an IPv4 packet another IP id (checksum refilled).
fn set_id(p: &mut [u8], id: u16) {
    let mut ip = ipv4::Packet::new_unchecked(p);
    ip.set_ident(id);
    ip.fill_checksum();
}

/// Cut an IPv4 packet into fragments of data `[start, end)` each.
fn frags4(p: &[u8], cuts: &[(usize, usize)]) -> Vec<Vec<u8>> {
    let hl = usize::from(ipv4::Packet::new_checked(p).unwrap().header_len());
    let data = &p[hl..];
    cuts.iter()
        .map(|&(s, e)| {
            let mut f = p[..hl].to_vec();
            f.extend_from_slice(&data[s..e]);
            let mut ip = ipv4::Packet::new_unchecked(&mut f[..]);
            ip.set_total_len((hl + e - s) as u16);
            ip.clear_flags();
            ip.set_frag_offset(s as u16);
            ip.set_more_frags(e < data.len());
            ip.fill_checksum();
            f
        })
        .collect()
}

/// An IPv6 UDP datagram.
fn udp6(dport: u16, n: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    let u = udp_dgram(4000, dport, &payload);
    let (s, d): (Ipv6Addr, Ipv6Addr) = (
        "2001:db8:1::2".parse().unwrap(),
        "2001:db8:2::20".parse().unwrap(),
    );
    let mut p = vec![0u8; 40];
    ipv6::Repr {
        src_addr: s,
        dst_addr: d,
        next_header: 17,
        payload_len: u.len(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut ipv6::Packet::new_unchecked(&mut p[..]));
    p.extend_from_slice(&u);
    udp::Packet::new_unchecked(&mut p[40..]).fill_checksum(&s.into(), &d.into());
    p
}

/// An IPv6 fragment header.
fn frag_header(next: u8, off: usize, more: bool, id: u32) -> [u8; 8] {
    let mut h = [0u8; 8];
    ipv6ext::FragRepr {
        next_header: next,
        frag_offset: off as u16,
        more_frags: more,
        ident: id,
    }
    .emit(&mut ipv6ext::FragHeader::new_unchecked(&mut h[..]));
    h
}

/// Cut an IPv6 packet (no extension headers) into fragments.
fn frags6(p: &[u8], id: u32, cuts: &[(usize, usize)]) -> Vec<Vec<u8>> {
    let data = &p[40..];
    cuts.iter()
        .map(|&(s, e)| {
            let mut f = p[..40].to_vec();
            f.extend_from_slice(&frag_header(p[6], s, e < data.len(), id));
            f.extend_from_slice(&data[s..e]);
            let mut ip = ipv6::Packet::new_unchecked(&mut f[..]);
            ip.set_next_header(44);
            ip.set_payload_len((8 + e - s) as u16);
            f
        })
        .collect()
}

/// The data path's part: send fragments in, keep what is held, apply
/// releases. Returns the packets that went out, in release order, and
/// how many were dropped.
struct Path {
    held: HashMap<u64, Vec<u8>>,
    out: Vec<Vec<u8>>,
    dropped: usize,
    verdicts: Vec<Verdict>,
}

impl Path {
    fn new() -> Path {
        Path {
            held: HashMap::new(),
            out: Vec::new(),
            dropped: 0,
            verdicts: Vec::new(),
        }
    }

    fn send(&mut self, e: &mut Engine, m: &PacketMeta, mut p: Vec<u8>, now: u64) {
        let v = e.test(m, &mut p, now);
        self.verdicts.push(v.clone());
        match v.hold {
            Some(t) => {
                self.held.insert(t, p);
            }
            None if v.pass => self.out.push(p),
            None => self.dropped += 1,
        }
        self.drain(e);
    }

    fn drain(&mut self, e: &mut Engine) {
        let mut rel = Vec::new();
        e.take_releases(|_| true, &mut rel);
        for r in rel {
            let p = self
                .held
                .remove(&r.ticket)
                .expect("release of a held packet");
            if r.verdict.pass {
                if r.verdict.modified {
                    self.out.push(r.bytes);
                } else {
                    assert_eq!(r.bytes, p, "an unmodified release carries the packet");
                    self.out.push(p);
                }
            } else {
                self.dropped += 1;
            }
            self.verdicts.push(r.verdict);
        }
    }
}

/// Reassemble what went out (as the receiver would), checking that no two
/// fragments overlap.
fn receive4(out: &[Vec<u8>]) -> Vec<u8> {
    let mut parts: Vec<(usize, Vec<u8>)> = out
        .iter()
        .map(|f| {
            let ip = ipv4::Packet::new_checked(&f[..]).unwrap();
            assert!(ip.verify_checksum());
            (usize::from(ip.frag_offset()), ip.payload().to_vec())
        })
        .collect();
    parts.sort_by_key(|(o, _)| *o);
    let mut whole = out[0][..20].to_vec();
    let mut at = 0;
    for (off, d) in parts {
        assert_eq!(off, at, "fragments must not overlap or leave holes");
        whole.extend_from_slice(&d);
        at += d.len();
    }
    let mut ip = ipv4::Packet::new_unchecked(&mut whole[..]);
    ip.set_total_len((20 + at) as u16);
    ip.clear_flags();
    ip.fill_checksum();
    whole
}

fn udp_ok(p: &[u8]) -> bool {
    let pd = describe(p).unwrap();
    udp::Packet::new_checked(&p[pd.l4_off..pd.tot_len])
        .unwrap()
        .verify_checksum(&pd.src, &pd.dst)
}

const CUTS: [(usize, usize); 3] = [(0, 1480), (1480, 2960), (2960, 3008)];

#[test]
fn in_order_datagram_passes_whole_and_makes_a_state() {
    let mut e = engine("block\npass in on eth1 proto udp to port 53\npass out\n");
    let m = meta(Dir::In, "eth1");
    let p = udp4(53, 3000);
    let mut path = Path::new();
    for (i, f) in frags4(&p, &CUTS).into_iter().enumerate() {
        path.send(&mut e, &m, f, 1000);
        if i < 2 {
            assert!(path.out.is_empty(), "held until the datagram is complete");
        }
    }
    assert_eq!((path.out.len(), path.dropped), (3, 0));
    assert!(
        path.out.iter().zip(frags4(&p, &CUTS)).all(|(a, b)| *a == b),
        "untouched"
    );
    assert_eq!(receive4(&path.out), p);
    assert_eq!(e.states.len(), 1, "the datagram made a state");
    assert_eq!(e.status(1000).fragments, 0);
    assert_eq!(e.rules().main().counters[1].packets[0], 1, "counted once");
    // The reply, fragmented too, matches the state.
    let mut r = p.clone();
    let ip = ipv4::Packet::new_checked(&p[..]).unwrap();
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    let mut rip = ipv4::Packet::new_unchecked(&mut r[..]);
    rip.set_src_addr(ip.dst_addr());
    rip.set_dst_addr(ip.src_addr());
    rip.fill_checksum();
    let mut ru = udp::Packet::new_unchecked(rip.payload_mut());
    ru.set_src_port(u.dst_port());
    ru.set_dst_port(u.src_port());
    crate::engine::packet::tests::fill_l4_checksum(&mut r);
    let mut back = Path::new();
    for f in frags4(&r, &CUTS) {
        back.send(&mut e, &meta(Dir::Out, "eth1"), f, 1001);
    }
    assert_eq!((back.out.len(), back.dropped), (3, 0));
}

#[test]
fn out_of_order_and_block_by_port() {
    let mut e = engine("pass\nblock in proto udp to port 9999\n");
    let m = meta(Dir::In, "eth1");
    // Last fragment first, then the middle, then the first.
    for port in [9999u16, 53] {
        let p = udp4(port, 3000);
        let mut fr = frags4(&p, &CUTS);
        fr.reverse();
        let mut path = Path::new();
        for f in fr {
            path.send(&mut e, &m, f, 1000);
        }
        if port == 9999 {
            assert_eq!(
                (path.out.len(), path.dropped),
                (0, 3),
                "no fragment to 9999 passes"
            );
            assert!(path.verdicts.iter().any(|v| v.rule == Some(1)));
        } else {
            assert_eq!((path.out.len(), path.dropped), (3, 0));
            assert_eq!(receive4(&path.out), p);
        }
    }
    assert_eq!(
        e.rules().main().counters[1].packets[0],
        1,
        "one datagram blocked"
    );
}

#[test]
fn ipv4_overlaps_are_trimmed_duplicates_dropped() {
    let mut e = engine("pass\nblock in proto udp to port 9999\n");
    let m = meta(Dir::In, "eth1");
    let p = udp4(53, 3000);
    // [0,1480) [1000,2000) overlaps its head; [1480,3008) then overlaps
    // the tail of the second; a duplicate of the first; and a fragment
    // [1480,1600) fully covered by what came before.
    let fr = frags4(
        &p,
        &[
            (0, 1480),
            (1000, 2000),
            (1480, 1600),
            (0, 1480),
            (1480, 3008),
        ],
    );
    let mut path = Path::new();
    for f in fr {
        path.send(&mut e, &m, f, 1000);
    }
    // The covered and duplicate ones are dropped; three go out, trimmed
    // so that they no longer overlap and carry the data pf kept.
    assert_eq!(path.dropped, 2);
    assert_eq!(path.out.len(), 3);
    let got = receive4(&path.out);
    assert_eq!(got, p);
    assert!(udp_ok(&got));
}

#[test]
fn an_overlap_cannot_rewrite_the_port_after_the_check() {
    // The classic attack: a fragment at offset 0 carries port 53, a second
    // one overlapping the header says 9999. pf keeps the first data, so
    // the datagram is checked (and delivered) with port 53 throughout.
    let mut e = engine("pass\nblock in proto udp to port 9999\n");
    let m = meta(Dir::In, "eth1");
    let good = udp4(53, 40);
    let mut evil = udp4(9999, 40);
    set_id(
        &mut evil,
        ipv4::Packet::new_checked(&good[..]).unwrap().ident(),
    );
    // Data: UDP header (8) + 40 bytes; the payloads are the same, the
    // port (and checksum) differ.
    let a = frags4(&good, &[(0, 16), (24, 48)]);
    let b = frags4(&evil, &[(0, 24)]);
    let mut path = Path::new();
    path.send(&mut e, &m, a[0].clone(), 0);
    path.send(&mut e, &m, b[0].clone(), 0);
    path.send(&mut e, &m, a[1].clone(), 0);
    assert_eq!(path.out.len(), 3);
    let got = receive4(&path.out);
    assert_eq!(describe(&got).unwrap().dport, 53);
    assert_eq!(got, good, "the second header's bytes were cut off");
    // The other order: the 9999 header came first, it is the one checked
    // (the later copy of the header is wholly overlapped and dropped).
    let mut path = Path::new();
    path.send(&mut e, &m, b[0].clone(), 0);
    path.send(&mut e, &m, a[0].clone(), 0);
    path.send(&mut e, &m, a[1].clone(), 0);
    assert!(path.out.is_empty());
    assert_eq!(path.dropped, 3);
}

#[test]
fn incomplete_datagrams_time_out() {
    let mut e = engine("pass\n");
    let m = meta(Dir::In, "eth1");
    let p = udp4(53, 3000);
    let fr = frags4(&p, &CUTS);
    let mut path = Path::new();
    path.send(&mut e, &m, fr[0].clone(), 1000);
    path.send(&mut e, &m, fr[2].clone(), 1000);
    assert_eq!(e.status(1000).fragments, 2);
    e.purge(1000 + 59_000);
    path.drain(&mut e);
    assert_eq!(path.dropped, 0);
    e.purge(1000 + 60_000);
    path.drain(&mut e);
    assert_eq!(
        path.dropped, 2,
        "both held fragments dropped at the frag timeout"
    );
    assert_eq!(e.status(0).fragments, 0);
    assert!(path.held.is_empty());
    // The late middle fragment starts a new datagram and is held again.
    path.send(&mut e, &m, fr[1].clone(), 62_000);
    assert_eq!(path.held.len(), 1);
}

#[test]
fn frag_limit_flushes_the_oldest() {
    let mut e = engine("set limit frags 4\npass\n");
    let m = meta(Dir::In, "eth1");
    let mut path = Path::new();
    for id in 0..4u16 {
        let mut p = udp4(53, 3000);
        set_id(&mut p, id);
        path.send(&mut e, &m, frags4(&p, &CUTS)[0].clone(), 1000 + id as u64);
    }
    assert_eq!(e.status(0).fragments, 4);
    let mut p = udp4(53, 3000);
    set_id(&mut p, 99u16);
    path.send(&mut e, &m, frags4(&p, &CUTS)[0].clone(), 2000);
    assert!(path.dropped >= 1, "the oldest datagram made room");
    assert!(e.status(0).fragments <= 4);
    assert!(path
        .verdicts
        .iter()
        .filter(|v| v.hold.is_none() && !v.pass)
        .all(|v| v.reason == Reason::Memory));
    // `set limit frags 0`: nothing can be held.
    let mut e = engine("set limit frags 0\npass\n");
    let mut path = Path::new();
    path.send(&mut e, &m, frags4(&udp4(53, 3000), &CUTS)[0].clone(), 0);
    assert_eq!((path.dropped, path.held.len()), (1, 0));
    assert_eq!(e.status(0).counters[Reason::Memory as usize], 1);
}

#[test]
fn the_data_paths_hold_limit_caps_set_limit_frags() {
    // The data path has room for 2 held packets; the ruleset allows 100.
    let mut e = engine("set limit frags 100\npass\n");
    e.set_hold_limit(2);
    let m = meta(Dir::In, "eth1");
    let mut path = Path::new();
    for id in 0..3u16 {
        let mut p = udp4(53, 3000);
        set_id(&mut p, id);
        path.send(&mut e, &m, frags4(&p, &CUTS)[0].clone(), 1000 + id as u64);
    }
    assert!(
        e.status(0).fragments <= 2,
        "never more held than the data path can"
    );
    assert!(path.dropped >= 1);
    assert!(path.held.len() <= 2);
}

#[test]
fn ipv6_fragments_reassemble_and_overlaps_discard_all() {
    let mut e = engine("pass\nblock in inet6 proto udp to port 9999\n");
    let m = meta(Dir::In, "eth1");
    let p = udp6(53, 3000);
    let cuts = [(0, 1448), (1448, 2896), (2896, 3008)];
    let mut path = Path::new();
    let mut fr = frags6(&p, 7, &cuts);
    fr.swap(0, 2);
    for f in fr {
        path.send(&mut e, &m, f, 0);
    }
    assert_eq!((path.out.len(), path.dropped), (3, 0));
    assert_eq!(e.states.len(), 1);
    // Blocked by port.
    let mut path = Path::new();
    for f in frags6(&udp6(9999, 3000), 8, &cuts) {
        path.send(&mut e, &m, f, 0);
    }
    assert_eq!((path.out.len(), path.dropped), (0, 3));
    // An overlap throws the whole datagram away (RFC 5722), the held
    // fragments included.
    let mut path = Path::new();
    let fr = frags6(&p, 9, &[(0, 1448), (1440, 2896), (2896, 3008)]);
    for f in fr {
        path.send(&mut e, &m, f, 0);
    }
    assert_eq!((path.out.len(), path.dropped), (0, 2));
    assert_eq!(path.held.len(), 1, "only the last, a new datagram, waits");
    assert_eq!(e.status(0).fragments, 1);
}

/// Cut an IPv6 packet whose first 8 bytes after the fixed header are a
/// destination options header into fragments after that header.
fn frags6_behind_dstopts(p: &[u8], id: u32, cuts: &[(usize, usize)]) -> Vec<Vec<u8>> {
    let data = &p[48..];
    cuts.iter()
        .map(|&(s, e)| {
            let mut f = p[..48].to_vec();
            f[40] = 44; // the destination options' next header
            f.extend_from_slice(&frag_header(p[40], s, e < data.len(), id));
            f.extend_from_slice(&data[s..e]);
            ipv6::Packet::new_unchecked(&mut f[..]).set_payload_len((16 + e - s) as u16);
            f
        })
        .collect()
}

/// Fragments behind a destination options header: reassembled with the
/// header's next-header pointing at UDP again, and each fragment
/// rewritten from the translated datagram keeping its own headers.
#[test]
fn ipv6_fragments_behind_an_extension_header() {
    let mut e = engine(
        "pass allow-opts\n\
         pass out on eth0 inet6 from 2001:db8:1::/64 nat-to 2001:db8:2::99 allow-opts\n",
    );
    let out = meta(Dir::Out, "eth0");
    let plain = udp6(53, 3000);
    let mut p = plain[..40].to_vec();
    p[6] = 60;
    p.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    p.extend_from_slice(&plain[40..]);
    let plen = (p.len() - 40) as u16;
    ipv6::Packet::new_unchecked(&mut p[..]).set_payload_len(plen);
    let cuts = [(0, 1448), (1448, 2896), (2896, 3008)];
    let mut path = Path::new();
    let mut fr = frags6_behind_dstopts(&p, 11, &cuts);
    fr.swap(0, 1);
    for f in fr {
        path.send(&mut e, &out, f, 0);
    }
    assert_eq!((path.out.len(), path.dropped), (3, 0));
    let nat: Ipv6Addr = "2001:db8:2::99".parse().unwrap();
    let mut parts: Vec<(usize, Vec<u8>)> = vec![];
    for f in &path.out {
        assert_eq!(
            &f[8..24],
            &nat.octets(),
            "source translated in every fragment"
        );
        let ip = ipv6::Packet::new_checked(&f[..]).unwrap();
        let fh = ipv6ext::FragHeader::new_checked(&f[48..]).unwrap();
        assert_eq!(
            (ip.next_header(), f[40], fh.next_header()),
            (60, 44, 17),
            "the header chain kept"
        );
        assert_eq!(usize::from(ip.payload_len()), f.len() - 40);
        parts.push((usize::from(fh.frag_offset()), f[56..].to_vec()));
    }
    parts.sort_by_key(|(o, _)| *o);
    let mut whole = path.out[0][..48].to_vec();
    whole[40] = 17;
    for (off, d) in parts {
        assert_eq!(off, whole.len() - 48, "no overlap, no hole");
        whole.extend_from_slice(&d);
    }
    let plen = (whole.len() - 40) as u16;
    ipv6::Packet::new_unchecked(&mut whole[..]).set_payload_len(plen);
    let pd = describe(&whole).unwrap();
    assert_eq!((pd.src, pd.l4_off), (IpAddr::V6(nat), 48));
    assert!(
        udp_ok(&whole),
        "the datagram's checksum follows the translation"
    );
}

#[test]
fn nat_rewrites_every_fragment() {
    let mut e = engine("pass\npass out on eth0 from 10.1.0.0/24 nat-to 192.0.2.10\n");
    let out = meta(Dir::Out, "eth0");
    let p = udp4(53, 3000);
    let mut path = Path::new();
    for f in frags4(&p, &CUTS) {
        path.send(&mut e, &out, f, 0);
    }
    assert_eq!(path.out.len(), 3);
    for f in &path.out {
        assert_eq!(
            &f[12..16],
            &[192, 0, 2, 10],
            "source translated in every fragment"
        );
        assert!(ipv4::Packet::new_checked(&f[..]).unwrap().verify_checksum());
    }
    let got = receive4(&path.out);
    let pd = describe(&got).unwrap();
    assert_eq!(pd.src, "192.0.2.10".parse::<IpAddr>().unwrap());
    assert_ne!(pd.sport, 0);
    assert!(
        udp_ok(&got),
        "the datagram's checksum follows the translation"
    );
    assert!(e.states.len() == 1 && e.states.get(0).unwrap().translated());
}

#[test]
fn scrub_applies_to_the_datagram_consistently() {
    let mut e = engine("pass scrub (random-id, min-ttl 100) set tos 0x20\n");
    let m = meta(Dir::In, "eth1");
    let p = udp4(53, 3000);
    let mut path = Path::new();
    for f in frags4(&p, &CUTS) {
        path.send(&mut e, &m, f, 0);
    }
    assert_eq!(path.out.len(), 3);
    let id = &path.out[0][4..6];
    assert_ne!(id, &p[4..6], "random-id");
    for f in &path.out {
        assert_eq!(&f[4..6], id, "one new id for all fragments");
        assert_eq!((f[8], f[1]), (100, 0x20));
    }
    assert_eq!(describe(&receive4(&path.out)).unwrap().dport, 53);
}

#[test]
fn df_fragments_are_dropped_unless_reassemble_no_df() {
    let m = meta(Dir::In, "eth1");
    let mut f = frags4(&udp4(53, 3000), &CUTS);
    for x in f.iter_mut() {
        let mut ip = ipv4::Packet::new_unchecked(&mut x[..]);
        ip.set_dont_frag(true);
        ip.fill_checksum();
    }
    let mut e = engine("pass\n");
    let mut path = Path::new();
    path.send(&mut e, &m, f[0].clone(), 0);
    assert_eq!(path.dropped, 1);
    assert_eq!(e.status(0).counters[Reason::Fragment as usize], 1);
    let mut e = engine("set reassemble yes no-df\npass\n");
    let mut path = Path::new();
    for x in f {
        path.send(&mut e, &m, x, 0);
    }
    assert_eq!(path.out.len(), 3);
    assert!(path.out.iter().all(|x| x[6] & 0x40 == 0), "DF cleared");
}

#[test]
fn without_reassembly_fragments_match_on_ip_header_only() {
    let m = meta(Dir::In, "eth1");
    // OpenBSD's matching: a rule with ports never matches a fragment.
    let mut e = engine("set reassemble no\nblock\npass in proto udp to port 53\n");
    let mut path = Path::new();
    for f in frags4(&udp4(53, 3000), &CUTS) {
        path.send(&mut e, &m, f, 0);
    }
    assert_eq!((path.out.len(), path.dropped), (0, 3));
    assert_eq!(e.states.len(), 0);
    // `fragment` rules (and port-less ones) let them through.
    let mut e = engine(
        "set reassemble no\nblock\npass in proto udp to port 53\npass in proto udp fragment\n",
    );
    let mut path = Path::new();
    for f in frags4(&udp4(53, 3000), &CUTS) {
        path.send(&mut e, &m, f, 0);
    }
    assert_eq!(
        (path.out.len(), path.dropped),
        (3, 0),
        "{:?}",
        path.verdicts
    );
    assert_eq!(e.states.len(), 0, "fragments make no state");
    assert_eq!(e.rules().main().counters[2].packets[0], 3);
}

#[test]
fn without_reassembly_the_first_fragment_still_binds_the_rest() {
    let m = meta(Dir::In, "eth1");
    let mut e = engine("set reassemble no\npass\nblock in proto udp to port 9999\n");
    // In order: the first fragment is blocked by port, the others follow.
    let mut path = Path::new();
    for f in frags4(&udp4(9999, 3000), &CUTS) {
        path.send(&mut e, &m, f, 0);
    }
    assert_eq!((path.out.len(), path.dropped), (0, 3));
    // Later fragments first: held until the first decides.
    let mut p = udp4(9999, 3000);
    set_id(&mut p, 0x4321u16);
    let mut fr = frags4(&p, &CUTS);
    fr.reverse();
    let mut path = Path::new();
    path.send(&mut e, &m, fr[0].clone(), 0);
    path.send(&mut e, &m, fr[1].clone(), 0);
    assert_eq!(path.held.len(), 2);
    path.send(&mut e, &m, fr[2].clone(), 0);
    assert_eq!((path.out.len(), path.dropped, path.held.len()), (0, 3, 0));
    // To a passed port the same order goes through.
    let mut fr = frags4(&udp4(53, 3000), &CUTS);
    fr.reverse();
    let mut path = Path::new();
    for f in fr {
        path.send(&mut e, &m, f, 0);
    }
    assert_eq!((path.out.len(), path.dropped), (3, 0));
    // An overlapping fragment condemns the datagram.
    let mut p = udp4(53, 3000);
    set_id(&mut p, 0x777u16);
    let fr = frags4(&p, &[(0, 1480), (8, 1480), (1480, 3008)]);
    let mut path = Path::new();
    for f in fr {
        path.send(&mut e, &m, f, 0);
    }
    assert_eq!((path.out.len(), path.dropped), (1, 2));
}

#[test]
fn ip_options_need_allow_opts() {
    let m = meta(Dir::In, "eth1");
    // An IPv4 packet with a record-route option.
    let mut p = udp4(53, 10);
    let mut opt = vec![7u8, 7, 4, 0, 0, 0, 0, 1];
    opt.truncate(8);
    p.splice(20..20, opt);
    let tot = p.len() as u16;
    let mut ip = ipv4::Packet::new_unchecked(&mut p[..]);
    ip.set_header_len(28);
    ip.set_total_len(tot);
    ip.fill_checksum();
    let mut e = engine("pass\n");
    let v = e.test(&m, &mut p.clone(), 0);
    assert!(!v.pass);
    assert_eq!(v.reason, Reason::IpOption);
    let mut e = engine("pass allow-opts\n");
    assert!(e.test(&m, &mut p.clone(), 0).pass);
    // No rule at all: the default rule does not allow options either.
    let mut e = engine("pass in proto tcp\n");
    assert!(!e.test(&m, &mut p.clone(), 0).pass);
    // A malformed option is refused outright.
    let mut bad = p.clone();
    bad[21] = 40; // the option's length, past the header
    ipv4::Packet::new_unchecked(&mut bad[..]).fill_checksum();
    let mut e = engine("pass allow-opts\n");
    assert_eq!(e.test(&m, &mut bad, 0).reason, Reason::IpOption);
}

//! ICMP and ICMPv6 error messages through the engine, against what
//! pf_test_state_icmp does: errors for NATed and rdr'd TCP, UDP and echo in
//! both directions, modulated sequence numbers, IPv6, and the errors pf
//! drops.

use super::anchor::Loader;
use super::packet::tests::*;
use super::packet::{describe, describe_quoted, Dir};
use super::state::StateKey;
use super::status::Reason;
use super::*;
use crate::conf::{parse, StaticResolver};
use crate::wire::checksum;
use crate::wire::tcp::SYN;
use std::net::IpAddr;

const CLIENT: &str = "10.1.0.2";
const SERVER: &str = "10.2.0.2";
const EXT: &str = "10.2.0.1";
const ROUTER: &str = "10.2.0.99";

fn engine(rules: &str) -> Engine {
    let res = StaticResolver::new()
        .iface("int0", &["10.1.0.1/24", "2001:db8:1::1/64"])
        .iface("ext0", &["10.2.0.1/24", "2001:db8:2::1/64"]);
    let rs = parse(rules, "pf.conf", &res)
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let mut e = Engine::new(0x4242, 99);
    e.load(rs, Loader::default(), String::new()).unwrap();
    e.set_enabled(true, 0);
    e
}

const NAT: &str = "block\npass in on int0\npass out on int0\npass out on ext0 inet from int0:network nat-to ext0\n\
                   pass in on ext0 inet proto tcp to port 8080 rdr-to 10.1.0.2 port 80\n";

fn meta(dir: Dir, ifname: &str) -> PacketMeta<'_> {
    PacketMeta {
        dir,
        ifname,
        uid: None,
        gid: None,
        mtag: Mtag::default(),
    }
}

/// Client to server: in on int0, out on ext0.
fn outbound(e: &mut Engine, mut p: Vec<u8>, now: u64) -> (Verdict, Verdict, Vec<u8>) {
    let a = e.test(&meta(Dir::In, "int0"), &mut p, now);
    let b = e.test(&meta(Dir::Out, "ext0"), &mut p, now);
    (a, b, p)
}

/// Server side to client: in on ext0, out on int0.
fn inbound(e: &mut Engine, mut p: Vec<u8>, now: u64) -> (Verdict, Verdict, Vec<u8>) {
    let a = e.test(&meta(Dir::In, "ext0"), &mut p, now);
    let b = e.test(&meta(Dir::Out, "int0"), &mut p, now);
    (a, b, p)
}

/// An ICMP error of `typ`/`code` from `from` to `to` quoting `quoted`.
fn icmp_err(from: &str, to: &str, typ: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let mut m = vec![typ, code, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(quoted);
    v4(from, to, 1, &m)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Every checksum of an ICMP error is right: outer IP, ICMP, quoted IP.
fn checksums_ok(p: &[u8]) -> bool {
    let pd = describe(p).unwrap();
    let outer_ip = checksum::checksum(&p[..20]) == 0;
    let icmp = match pd.af {
        crate::addr::Af::Inet => checksum::checksum(&p[pd.l4_off..pd.tot_len]) == 0,
        crate::addr::Af::Inet6 => {
            checksum::finish(checksum::combine(
                checksum::pseudo_header(&pd.src, &pd.dst, 58, (pd.tot_len - pd.l4_off) as u32),
                checksum::sum(&p[pd.l4_off..pd.tot_len]),
            )) == 0
        }
    };
    let inner = &p[pd.l4_off + 8..];
    let inner_ip = inner[0] >> 4 == 6 || checksum::checksum(&inner[..20]) == 0;
    (pd.af == crate::addr::Af::Inet6 || outer_ip) && icmp && inner_ip
}

#[test]
fn time_exceeded_for_natted_udp_reaches_the_client() {
    let mut e = engine(NAT);
    let (a, b, out) = outbound(
        &mut e,
        v4(CLIENT, SERVER, 17, &udp_dgram(5000, 33434, b"probe")),
        0,
    );
    assert!(a.pass && b.pass);
    let nat_port = describe(&out).unwrap().sport;
    let (a, b, back) = inbound(&mut e, icmp_err(ROUTER, EXT, 11, 0, &out), 1);
    assert!(a.pass && b.pass && a.modified, "{a:?} {b:?}");
    let pd = describe(&back).unwrap();
    assert_eq!((pd.src, pd.dst), (ip(ROUTER), ip(CLIENT)));
    let q = describe_quoted(&back[28..]).unwrap();
    assert_eq!(
        (q.src, q.sport, q.dst, q.dport),
        (ip(CLIENT), 5000, ip(SERVER), 33434)
    );
    assert_ne!(nat_port, 5000);
    assert!(checksums_ok(&back));
    // Counted on the state, both directions' passes.
    let st = e.export_all(1);
    assert!(st.iter().any(|s| s.packets[1] == 1 && s.proto == 17));
}

#[test]
fn port_unreachable_for_natted_udp_and_no_state_is_made() {
    let mut e = engine(NAT);
    let (_, _, out) = outbound(&mut e, v4(CLIENT, SERVER, 17, &udp_dgram(5001, 9, b"x")), 0);
    let n = e.states.len();
    let (a, b, back) = inbound(&mut e, icmp_err(SERVER, EXT, 3, 3, &out[..28]), 1);
    assert!(a.pass && b.pass);
    assert_eq!(describe(&back).unwrap().dst, ip(CLIENT));
    assert!(checksums_ok(&back));
    assert_eq!(e.states.len(), n, "an error makes no state");
}

#[test]
fn time_exceeded_for_natted_echo_gets_the_id_back() {
    let mut e = engine(NAT);
    let (_, _, out) = outbound(&mut e, v4(CLIENT, SERVER, 1, &echo(8, 777, 1)), 0);
    let nat_id = describe(&out).unwrap().sport;
    let (a, b, back) = inbound(&mut e, icmp_err(ROUTER, EXT, 11, 0, &out[..28]), 1);
    assert!(a.pass && b.pass, "{a:?} {b:?}");
    let q = describe_quoted(&back[28..]).unwrap();
    assert_eq!((q.src, q.icmp.unwrap().id), (ip(CLIENT), 777));
    assert_ne!(nat_id, 777);
    assert!(checksums_ok(&back));
    // An error quoting an echo reply of that state went the wrong way.
    let mut reply = out[..28].to_vec();
    reply[20] = 0; // echo reply
    let (a, _, _) = inbound(&mut e, icmp_err(ROUTER, EXT, 11, 0, &reply), 2);
    assert!(!a.pass);
}

#[test]
fn tcp_error_checks_the_window_and_demodulates() {
    let mut e = engine(
        "block\npass in on int0 proto tcp modulate state\npass out on ext0 inet from int0:network nat-to ext0\n",
    );
    let (a, b, out) = outbound(
        &mut e,
        v4(
            CLIENT,
            SERVER,
            6,
            &tcp_seg(40000, 80, 1000, 0, SYN, 64240, b""),
        ),
        0,
    );
    assert!(a.pass && b.pass);
    let wire_seq = describe(&out).unwrap().tcp.unwrap().seq;
    assert_ne!(wire_seq, 1000, "modulated");
    // Fragmentation needed, quoting the SYN as it went out.
    let (a, b, back) = inbound(&mut e, icmp_err(ROUTER, EXT, 3, 4, &out[..28]), 1);
    assert!(a.pass && b.pass, "{a:?} {b:?}");
    let q = describe_quoted(&back[28..]).unwrap();
    assert_eq!(
        q.tcp.unwrap().seq,
        1000,
        "the client sees its own sequence number"
    );
    assert_eq!((q.src, q.sport), (ip(CLIENT), 40000));
    assert!(checksums_ok(&back));
    // A quoted sequence number far outside the window is not believed.
    let mut forged = out[..28].to_vec();
    forged[24..28].copy_from_slice(&wire_seq.wrapping_add(0x4000_0000).to_be_bytes());
    let (a, _, _) = inbound(&mut e, icmp_err(ROUTER, EXT, 3, 4, &forged), 2);
    assert!(!a.pass);
    assert_eq!(a.reason, Reason::StateMismatch);
}

#[test]
fn errors_pf_drops() {
    let mut e = engine(NAT);
    let (_, _, out) = outbound(
        &mut e,
        v4(CLIENT, SERVER, 17, &udp_dgram(5002, 53, b"q")),
        0,
    );
    // Not addressed to the quoted packet's sender.
    let (a, _, _) = inbound(&mut e, icmp_err(ROUTER, "10.2.0.77", 3, 3, &out[..28]), 1);
    assert!(!a.pass);
    assert_eq!(a.reason, Reason::StateMismatch);
    // A quoted non-first fragment.
    let mut frag = out[..28].to_vec();
    frag[6] = 0x00;
    frag[7] = 0x10;
    let (a, _, _) = inbound(&mut e, icmp_err(ROUTER, EXT, 11, 1, &frag), 1);
    assert!(!a.pass);
    assert_eq!(a.reason, Reason::Fragment);
    // A quote too short for the UDP header.
    let (a, _, _) = inbound(&mut e, icmp_err(ROUTER, EXT, 3, 3, &out[..24]), 1);
    assert!(!a.pass);
    assert_eq!(a.reason, Reason::Short);
    // No state for the quoted packet: the rules decide (here: block).
    let other = v4(EXT, SERVER, 17, &udp_dgram(7, 7, b""));
    let (a, _, _) = inbound(&mut e, icmp_err(ROUTER, EXT, 3, 3, &other[..28]), 1);
    assert!(!a.pass);
    assert_eq!(a.reason, Reason::Match);
}

#[test]
fn error_from_behind_an_rdr_shows_the_public_address() {
    let mut e = engine(NAT);
    // An outside host connects to the public port; rdr to the client.
    let outside = "10.2.0.50";
    let mut syn = v4(outside, EXT, 6, &tcp_seg(41000, 8080, 5, 0, SYN, 1000, b""));
    let a = e.test(&meta(Dir::In, "ext0"), &mut syn, 0);
    let b = e.test(&meta(Dir::Out, "int0"), &mut syn, 0);
    assert!(a.pass && b.pass);
    let pd = describe(&syn).unwrap();
    assert_eq!((pd.dst, pd.dport), (ip(CLIENT), 80));
    // Something on the inside answers with an error about that packet: on
    // its way out the quoted destination and the error's source become the
    // public address again.
    let (a, b, back) = outbound(&mut e, icmp_err("10.1.0.9", outside, 3, 1, &syn[..28]), 1);
    assert!(a.pass && b.pass, "{a:?} {b:?}");
    let pd = describe(&back).unwrap();
    assert_eq!(pd.src, ip(EXT));
    let q = describe_quoted(&back[28..]).unwrap();
    assert_eq!((q.dst, q.dport), (ip(EXT), 8080));
    assert!(checksums_ok(&back));
}

/// An IPv6 packet with the transport bytes given (checksums filled).
fn v6(src: &str, dst: &str, proto: u8, l4: &[u8]) -> Vec<u8> {
    let (s, d): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
    let mut b = vec![0u8; 40];
    b[0] = 0x60;
    b[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
    b[6] = proto;
    b[7] = 64;
    if let (IpAddr::V6(s), IpAddr::V6(d)) = (s, d) {
        b[8..24].copy_from_slice(&s.octets());
        b[24..40].copy_from_slice(&d.octets());
    }
    let mut l = l4.to_vec();
    let off = match proto {
        17 => 6,
        58 => 2,
        _ => return [b, l].concat(),
    };
    l[off] = 0;
    l[off + 1] = 0;
    let c = checksum::finish(checksum::combine(
        checksum::pseudo_header(&s, &d, proto, l.len() as u32),
        checksum::sum(&l),
    ));
    l[off..off + 2].copy_from_slice(&c.to_be_bytes());
    [b, l].concat()
}

#[test]
fn icmp6_time_exceeded_follows_the_udp_state() {
    let mut e = engine("block\npass inet6 proto udp\npass inet6 proto icmp6 icmp6-type { neighbrsol, neighbradv }\n");
    let (c6, s6, r6) = ("2001:db8:1::2", "2001:db8:3::1", "2001:db8:2::99");
    let (a, b, out) = outbound(&mut e, v6(c6, s6, 17, &udp_dgram(6000, 33434, b"probe")), 0);
    assert!(a.pass && b.pass);
    let mut m = vec![3, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&out[..48]);
    let (a, b, back) = inbound(&mut e, v6(r6, c6, 58, &m), 1);
    assert!(
        a.pass && b.pass,
        "time exceeded passes by the state: {a:?} {b:?}"
    );
    assert!(checksums_ok(&back));
    // The same error for a flow without a state is blocked.
    let other = v6(c6, s6, 17, &udp_dgram(6001, 33435, b"probe"));
    let mut m = vec![3, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&other[..48]);
    let (a, _, _) = inbound(&mut e, v6(r6, c6, 58, &m), 1);
    assert!(!a.pass);
    // An IPv6 error quoting a non-first fragment is dropped.
    let mut fragd = out[..40].to_vec();
    fragd[6] = 44;
    fragd.extend_from_slice(&[17, 0, 0x00, 0x08, 0, 0, 0, 1]);
    fragd.extend_from_slice(&out[40..48]);
    let mut m = vec![3, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&fragd);
    let (a, _, _) = inbound(&mut e, v6(r6, c6, 58, &m), 1);
    assert_eq!((a.pass, a.reason), (false, Reason::Fragment));
}

#[test]
fn echo_replies_do_not_match_stateful_rules() {
    let mut e = engine("block\npass in on ext0 inet proto icmp\n");
    // A lone echo reply: the stateful pass does not match it.
    let mut p = v4(SERVER, EXT, 1, &echo(0, 5, 1));
    let v = e.test(&meta(Dir::In, "ext0"), &mut p, 0);
    assert!(!v.pass);
    // A query does, and makes a state its reply then uses.
    let mut p = v4(SERVER, EXT, 1, &echo(8, 5, 1));
    assert!(e.test(&meta(Dir::In, "ext0"), &mut p, 0).pass);
    let mut r = v4(EXT, SERVER, 1, &echo(0, 5, 1));
    assert!(e.test(&meta(Dir::Out, "ext0"), &mut r, 0).pass);
    // `no state` rules still match replies.
    let mut e = engine("block\npass in on ext0 inet proto icmp no state\n");
    let mut p = v4(SERVER, EXT, 1, &echo(0, 5, 1));
    assert!(e.test(&meta(Dir::In, "ext0"), &mut p, 0).pass);
}

/// A neighbour discovery message (hop limit 255) of type `t` about
/// `target`, as Linux sends them (NS with a source, NA with a target
/// link-layer address option).
fn nd(t: u8, src: &str, dst: &str, target: &str, flags: u8) -> Vec<u8> {
    let mut m = vec![t, 0, 0, 0, flags, 0, 0, 0];
    m.extend_from_slice(&target.parse::<std::net::Ipv6Addr>().unwrap().octets());
    m.extend_from_slice(&[if t == 135 { 1 } else { 2 }, 1, 2, 0, 0, 0, 0, 1]);
    let mut p = v6(src, dst, 58, &m);
    p[7] = 255;
    p
}

const HOST: &str = "fe80::1";
const SNM: &str = "ff02::1:ff00:1";
const TARGET: &str = "2001:db8:2::1";

#[test]
fn nd_virtual_id_is_the_folded_target() {
    let pd = describe(&nd(135, HOST, SNM, "2001:db8:2::1:2:3", 0)).unwrap();
    // 2001 ^ 0db8 ^ 0002 ^ 0 ^ 0 ^ 0001 ^ 0002 ^ 0003: the eight words.
    let fold = 0x2001 ^ 0x0db8 ^ 0x0002 ^ 0x0001 ^ 0x0002 ^ 0x0003;
    assert_eq!((pd.sport, pd.dport), (fold, 135));
    let pd = describe(&nd(136, TARGET, HOST, "2001:db8:2::1:2:3", 0x60)).unwrap();
    assert_eq!(
        (pd.sport, pd.dport),
        (135, fold),
        "the advertisement swaps them"
    );
    // Neighbour discovery from further than a link away, or cut short.
    let mut p = nd(135, HOST, SNM, TARGET, 0);
    p[7] = 64;
    assert_eq!(describe(&p), Err(PdError::Normalize));
    let short = v6(HOST, SNM, 58, &[135, 0, 0, 0, 0, 0, 0, 0, 0x20, 1]);
    let mut short = short;
    short[7] = 255;
    assert_eq!(describe(&short), Err(PdError::Short));
}

#[test]
fn nd_advertisement_matches_the_solicitation_by_target() {
    // icmp6.sh:repeat: only solicitations pass by rule; the unicast
    // advertisement answering one sent to the solicited-node group
    // passes by its state, and so does every later solicitation.
    let mut e = engine(
        "block all\npass quick inet6 proto ipv6-icmp icmp6-type neighbrsol keep state (if-bound)\n",
    );
    for n in 0..3 {
        let mut ns = nd(135, HOST, SNM, TARGET, 0);
        let v = e.test(&meta(Dir::In, "ext0"), &mut ns, n);
        assert!(v.pass, "solicitation {n}: {v:?}");
        let mut na = nd(136, TARGET, HOST, TARGET, 0x60);
        let v = e.test(&meta(Dir::Out, "ext0"), &mut na, n);
        assert!(v.pass, "advertisement {n}: {v:?}");
        assert_eq!(e.states.len(), 1, "one state, keyed by the target");
    }
    let st = e.states.get(e.states.all_slots().next().unwrap()).unwrap();
    assert_eq!(st.key[0].addr, [ip(HOST), ip(TARGET)]);
    assert_eq!(st.ifname.as_deref(), Some("ext0"));
    // An advertisement for another target, or on another interface (the
    // state is if-bound), has no state; nor has an unsolicited one.
    let mut na = nd(136, "2001:db8:2::7", HOST, "2001:db8:2::7", 0x60);
    assert!(!e.test(&meta(Dir::Out, "ext0"), &mut na, 5).pass);
    let mut na = nd(136, TARGET, HOST, TARGET, 0x60);
    assert!(!e.test(&meta(Dir::Out, "int0"), &mut na, 5).pass);
    let mut na = nd(136, TARGET, "ff02::1", TARGET, 0x20);
    assert!(!e.test(&meta(Dir::Out, "ext0"), &mut na, 5).pass);
}

#[test]
fn nd_advertisements_make_no_state() {
    let mut e = engine("block all\npass inet6 proto ipv6-icmp icmp6-type neighbradv keep state\n");
    let mut na = nd(136, TARGET, HOST, TARGET, 0x60);
    assert!(e.test(&meta(Dir::Out, "ext0"), &mut na, 0).pass);
    assert_eq!(e.states.len(), 0);
    // An advertisement to a group is keyed with the unspecified address.
    let mut e = engine("block all\npass in inet6 proto ipv6-icmp icmp6-type neighbrsol\n");
    let mut ns = nd(135, HOST, SNM, TARGET, 0);
    assert!(e.test(&meta(Dir::In, "ext0"), &mut ns, 0).pass);
    let na = describe(&nd(136, TARGET, "ff02::1", TARGET, 0x20)).unwrap();
    let k = StateKey::from_pd(&na, Dir::Out);
    assert_eq!(k.addr, [ip("::"), ip(TARGET)]);
}

#[test]
fn echo_reply_to_all_nodes_matches_the_request() {
    // pf_test_state_icmp's second try: a reply to a request sent to
    // ff02::1 comes from a unicast address.
    let mut e = engine("block all\npass out inet6 proto ipv6-icmp icmp6-type echoreq keep state\n");
    let mut req = v6("fe80::a", "ff02::1", 58, &echo(128, 77, 1));
    assert!(e.test(&meta(Dir::Out, "ext0"), &mut req, 0).pass);
    let mut rep = v6("fe80::b", "fe80::a", 58, &echo(129, 77, 1));
    assert!(e.test(&meta(Dir::In, "ext0"), &mut rep, 0).pass);
    // Another id has no state.
    let mut rep = v6("fe80::b", "fe80::a", 58, &echo(129, 78, 1));
    assert!(!e.test(&meta(Dir::In, "ext0"), &mut rep, 0).pass);
    assert_eq!(e.states.len(), 1);
}

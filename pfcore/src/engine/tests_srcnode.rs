//! Source tracking and pools through the whole engine: the limits of
//! stateful rules per source, overload tables and flushes, the `src.track`
//! life of a node, and the address each pool type gives new connections.

use super::anchor::Loader;
use super::nat::pool::{pool_hash, poolmask};
use super::packet::tests::{udp_dgram, v4};
use super::packet::{describe, Dir};
use super::srcnode::{SnType, LCNT_OVERLOAD_FLUSH, LCNT_OVERLOAD_TABLE, LCNT_SRCCONN};
use super::srcnode::{LCNT_SRCCONNRATE, LCNT_SRCNODES, LCNT_SRCSTATES};
use super::status::Reason;
use super::synproxy::tests::{meta, resolver, seg};
use super::table::Shadow;
use super::*;
use crate::addr::IpNet;
use crate::conf::parse;
use crate::ruleset::TableEntry;
use crate::wire::tcp::{ACK, SYN};
use std::net::IpAddr;

const C1: &str = "10.1.0.50";
const C2: &str = "10.1.0.51";
const SRV: &str = "10.2.0.9";

/// An engine with `conf` loaded as pfctl loads it (tables defined).
fn engine(conf: &str) -> Engine {
    let rs = parse(conf, "pf.conf", &resolver())
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let shadows: Vec<Shadow> = rs
        .loaded_tables()
        .into_iter()
        .map(|t| {
            let mut s = Shadow::new(&t.anchor, &t.name, t.flags, t.init_addr);
            let all: Vec<TableEntry> = t.entries().copied().collect();
            s.add(&all);
            s.finish().unwrap();
            s
        })
        .collect();
    let mut e = Engine::new(7, 42);
    let sets = crate::ruleset::flatten(&rs, "");
    e.commit(
        sets,
        Some((rs.options, String::new())),
        shadows,
        Loader::default(),
        0,
    )
    .unwrap();
    e.set_enabled(true, 0);
    e
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A client's SYN in on int0.
fn syn(e: &mut Engine, client: &str, sport: u16, now: u64) -> Verdict {
    let mut p = seg((client, sport), (SRV, 80), 1000, 0, SYN, 65535, 1460, b"");
    e.test(&meta(Dir::In, "int0"), &mut p, now)
}

/// A whole handshake through one state (in on int0, the SYN|ACK out on
/// int0): the verdict of the client's ACK.
fn handshake(e: &mut Engine, client: &str, sport: u16, now: u64) -> Verdict {
    let v = syn(e, client, sport, now);
    assert!(v.pass, "{v:?}");
    let mut p = seg(
        (SRV, 80),
        (client, sport),
        5000,
        1001,
        SYN | ACK,
        65535,
        1460,
        b"",
    );
    let v = e.test(&meta(Dir::Out, "int0"), &mut p, now);
    assert!(v.pass, "{v:?}");
    let mut p = seg((client, sport), (SRV, 80), 1001, 5001, ACK, 65535, 0, b"");
    e.test(&meta(Dir::In, "int0"), &mut p, now)
}

fn lcounter(e: &Engine, i: usize) -> u64 {
    e.status(0).limit_counters[i]
}

fn states_of(e: &Engine, client: &str) -> usize {
    let c = ip(client);
    e.states
        .all_slots()
        .filter(|&s| e.states.get(s).is_some_and(|st| st.key[0].addr[0] == c))
        .count()
}

#[test]
fn a_node_counts_states_and_lives_src_track_seconds_after_the_last() {
    let mut e = engine(
        "set timeout src.track 30\npass\npass in on int0 proto tcp keep state (source-track rule)\n",
    );
    assert!(syn(&mut e, C1, 4000, 1000).pass);
    assert!(syn(&mut e, C1, 4001, 1000).pass);
    let n = e.src_nodes(2000);
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].addr, n[0].states, n[0].rule), (ip(C1), 2, Some(1)));
    assert_eq!((n[0].packets, n[0].age), ([2, 0], 1));
    assert_eq!(e.status(0).src_nodes, 1);
    // The states go; the node stays 30 s.
    e.kill_states(10_000, false, |_| true);
    assert_eq!(e.src_nodes(10_000)[0].states, 0);
    assert_eq!(e.src_nodes(10_000)[0].expire, 30);
    e.purge(39_000);
    assert_eq!(e.src_nodes(39_000).len(), 1);
    e.purge(40_000);
    assert!(e.src_nodes(40_000).is_empty());
    assert_eq!(e.status(0).src_node_counters[2], 1, "removals");
}

#[test]
fn max_src_states_limits_each_source() {
    let mut e = engine("pass\npass in on int0 proto tcp keep state (max-src-states 2)\n");
    assert!(syn(&mut e, C1, 4000, 0).pass);
    assert!(syn(&mut e, C1, 4001, 0).pass);
    let v = syn(&mut e, C1, 4002, 0);
    assert_eq!((v.pass, v.reason), (false, Reason::SrcLimit));
    assert!(syn(&mut e, C2, 4000, 0).pass, "another source");
    assert_eq!(lcounter(&e, LCNT_SRCSTATES), 1);
    assert_eq!(e.status(0).counters[Reason::SrcLimit as usize], 1);
    // Without `source-track rule`, the node is global: one for the source.
    let n = e.src_nodes(0);
    assert_eq!(n.len(), 2);
    assert_eq!(n[0].rule, None);
}

#[test]
fn global_nodes_are_shared_by_rules_rule_nodes_are_not() {
    let conf = "pass\n\
        pass in on int0 proto tcp from port 4000:4009 keep state (max-src-states 2, source-track global)\n\
        pass in on int0 proto tcp from port 4010:4019 keep state (max-src-states 2, source-track global)\n";
    let mut e = engine(conf);
    assert!(syn(&mut e, C1, 4000, 0).pass);
    assert!(syn(&mut e, C1, 4010, 0).pass);
    assert!(
        !syn(&mut e, C1, 4011, 0).pass,
        "both rules count in one node"
    );
    assert_eq!(e.src_nodes(0).len(), 1);
    let mut e = engine(&conf.replace("global", "rule"));
    assert!(syn(&mut e, C1, 4000, 0).pass);
    assert!(syn(&mut e, C1, 4001, 0).pass);
    assert!(syn(&mut e, C1, 4010, 0).pass);
    assert!(syn(&mut e, C1, 4011, 0).pass);
    assert!(!syn(&mut e, C1, 4012, 0).pass);
    let n = e.src_nodes(0);
    assert_eq!(n.len(), 2);
    assert_eq!((n[0].rule, n[1].rule), (Some(1), Some(2)));
}

#[test]
fn max_src_nodes_limits_the_sources_of_a_rule() {
    let mut e =
        engine("pass\npass in on int0 proto tcp keep state (max-src-nodes 2, source-track rule)\n");
    assert!(syn(&mut e, C1, 4000, 0).pass);
    assert!(syn(&mut e, C2, 4000, 0).pass);
    let v = syn(&mut e, "10.1.0.52", 4000, 0);
    assert_eq!((v.pass, v.reason), (false, Reason::SrcLimit));
    assert_eq!(lcounter(&e, LCNT_SRCNODES), 1);
    // A known source still gets in.
    assert!(syn(&mut e, C1, 4001, 0).pass);
}

#[test]
fn set_limit_src_nodes_caps_the_table() {
    let mut e = engine(
        "set limit src-nodes 1\npass\npass in on int0 proto tcp keep state (source-track rule)\n",
    );
    assert!(syn(&mut e, C1, 4000, 0).pass);
    let v = syn(&mut e, C2, 4000, 0);
    assert_eq!((v.pass, v.reason), (false, Reason::SrcLimit));
}

#[test]
fn max_src_conn_overload_flush_global() {
    let mut e = engine(
        "table <bad> persist\nblock in quick on int0 from <bad>\npass\n\
         pass in on int0 proto tcp keep state (max-src-conn 2, overload <bad> flush global)\n\
         pass in on int0 proto udp\n",
    );
    let mut u = v4(C1, SRV, 17, &udp_dgram(5353, 53, b"q"));
    assert!(e.test(&meta(Dir::In, "int0"), &mut u, 0).pass);
    assert!(handshake(&mut e, C1, 4000, 0).pass);
    assert!(handshake(&mut e, C1, 4001, 0).pass);
    assert!(handshake(&mut e, C2, 4000, 0).pass, "another source");
    let n = e.src_nodes(0);
    assert_eq!(n.iter().find(|n| n.addr == ip(C1)).unwrap().conn, 2);
    assert_eq!(states_of(&e, C1), 3);
    // The third completed connection: over the limit.
    let v = handshake(&mut e, C1, 4002, 0);
    assert_eq!((v.pass, v.reason), (false, Reason::SrcLimit));
    assert_eq!(lcounter(&e, LCNT_SRCCONN), 1);
    assert_eq!(lcounter(&e, LCNT_OVERLOAD_TABLE), 1);
    assert_eq!(lcounter(&e, LCNT_OVERLOAD_FLUSH), 1);
    // In the table, and every state of it gone (global: the UDP one too).
    let id = e.tables.id("", "bad").unwrap();
    assert!(e.tables.match_addr(id, &ip(C1)));
    assert_eq!(states_of(&e, C1), 0);
    assert_eq!(states_of(&e, C2), 1);
    // Blocked from now on.
    assert!(!syn(&mut e, C1, 4003, 0).pass);
}

#[test]
fn overload_flush_without_global_keeps_other_rules_states() {
    let mut e = engine(
        "table <bad> persist\npass\n\
         pass in on int0 proto tcp keep state (max-src-conn 1, overload <bad> flush)\n\
         pass in on int0 proto udp\n",
    );
    let mut u = v4(C1, SRV, 17, &udp_dgram(5353, 53, b"q"));
    assert!(e.test(&meta(Dir::In, "int0"), &mut u, 0).pass);
    assert!(handshake(&mut e, C1, 4000, 0).pass);
    assert!(!handshake(&mut e, C1, 4001, 0).pass);
    assert_eq!(states_of(&e, C1), 1, "the UDP state of another rule stays");
}

#[test]
fn max_src_conn_rate_counts_new_connections_per_period() {
    let mut e = engine(
        "table <bad> persist\npass\n\
         pass in on int0 proto tcp keep state (max-src-conn-rate 2/10, overload <bad>)\n",
    );
    assert!(handshake(&mut e, C1, 4000, 0).pass);
    assert!(handshake(&mut e, C1, 4001, 1000).pass);
    let v = handshake(&mut e, C1, 4002, 2000);
    assert_eq!((v.pass, v.reason), (false, Reason::SrcLimit));
    assert_eq!(lcounter(&e, LCNT_SRCCONNRATE), 1);
    let id = e.tables.id("", "bad").unwrap();
    assert!(e.tables.match_addr(id, &ip(C1)));
    // Slower connections from another source are fine.
    assert!(handshake(&mut e, C2, 4000, 0).pass);
    assert!(handshake(&mut e, C2, 4001, 20_000).pass);
    assert!(handshake(&mut e, C2, 4002, 40_000).pass);
    let n = e.src_nodes(40_000);
    let c2 = n.iter().find(|n| n.addr == ip(C2)).unwrap();
    assert_eq!((c2.conn, c2.rate_seconds), (3, 10));
    assert_eq!(c2.rate_count, 1000, "one connection in the last 10 s");
}

#[test]
fn synproxy_counts_the_connection_when_the_client_completes() {
    let mut e = engine(
        "pass\npass in on int0 proto tcp synproxy state (max-src-conn 1, source-track rule)\n",
    );
    let client_done = |e: &mut Engine, sport: u16| {
        let mut p = seg((C1, sport), (SRV, 80), 1000, 0, SYN, 65535, 1460, b"");
        let v = e.test(&meta(Dir::In, "int0"), &mut p, 0);
        let synack = &v.send[0].packet;
        let isn = super::synproxy::tests::fields(synack).4;
        let mut p = seg((C1, sport), (SRV, 80), 1001, isn + 1, ACK, 65535, 0, b"");
        e.test(&meta(Dir::In, "int0"), &mut p, 0)
    };
    let v = client_done(&mut e, 4000);
    assert_eq!(v.reason, Reason::Synproxy, "PROXY:DST, SYN to the server");
    assert_eq!(v.send.len(), 1);
    let v = client_done(&mut e, 4001);
    assert_eq!((v.pass, v.reason), (false, Reason::SrcLimit));
    assert!(v.send.is_empty(), "no SYN to the server");
    assert_eq!(e.states.len(), 1);
}

#[test]
fn kill_and_clear_source_nodes() {
    let mut e = engine("pass\npass in on int0 proto tcp keep state (source-track rule)\n");
    assert!(syn(&mut e, C1, 4000, 0).pass);
    assert!(syn(&mut e, C2, 4000, 0).pass);
    let killed = e.kill_src_nodes(&IpNet::host(ip(C1)), None, 0);
    assert_eq!(killed, 1);
    let n = e.src_nodes(0);
    assert_eq!((n.len(), n[0].addr), (1, ip(C2)));
    assert_eq!(e.states.len(), 2, "states stay");
    assert_eq!(e.clear_src_nodes(0), 1);
    assert!(e.src_nodes(0).is_empty());
    // The states, untracked, go without touching a node.
    e.kill_states(0, false, |_| true);
    assert!(e.src_nodes(0).is_empty());
}

/// The rdr-to destination a SYN from `client:sport` gets.
fn rdr_dst(e: &mut Engine, client: &str, sport: u16, now: u64) -> (IpAddr, u16) {
    let mut p = seg(
        (client, sport),
        ("10.2.0.1", 80),
        1000,
        0,
        SYN,
        65535,
        1460,
        b"",
    );
    let v = e.test(&meta(Dir::In, "ext0"), &mut p, now);
    assert!(v.pass, "{v:?}");
    let pd = describe(&p).unwrap();
    (pd.dst, pd.dport)
}

#[test]
fn round_robin_spreads_over_the_list_in_address_order() {
    let mut e = engine(
        "pass\npass in on ext0 proto tcp to port 80 rdr-to { 10.1.0.7, 10.1.0.5, 10.1.0.6 } round-robin\n",
    );
    let got: Vec<IpAddr> = (0..6).map(|i| rdr_dst(&mut e, C1, 4000 + i, 0).0).collect();
    let want: Vec<IpAddr> = ["10.1.0.5", "10.1.0.6", "10.1.0.7"]
        .iter()
        .cycle()
        .take(6)
        .map(|s| ip(s))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn round_robin_over_a_network_and_a_table() {
    let mut e =
        engine("pass\npass in on ext0 proto tcp to port 80 rdr-to 10.1.0.4/31 round-robin\n");
    let got: Vec<IpAddr> = (0..3).map(|i| rdr_dst(&mut e, C1, 4000 + i, 0).0).collect();
    assert_eq!(got, vec![ip("10.1.0.4"), ip("10.1.0.5"), ip("10.1.0.4")]);
    // A table: its entries in order, a network entry address by address,
    // skipping what a more specific entry covers.
    let mut e = engine(
        "table <srv> { 10.1.0.8/30 !10.1.0.9 10.1.0.20 }\npass\n\
         pass in on ext0 proto tcp to port 80 rdr-to <srv> round-robin\n",
    );
    let got: Vec<IpAddr> = (0..5).map(|i| rdr_dst(&mut e, C1, 4000 + i, 0).0).collect();
    let want = [
        "10.1.0.8",
        "10.1.0.10",
        "10.1.0.11",
        "10.1.0.20",
        "10.1.0.8",
    ];
    assert_eq!(got, want.iter().map(|s| ip(s)).collect::<Vec<_>>());
}

#[test]
fn random_picks_members_only_and_all_of_them() {
    let mut e = engine(
        "pass\npass in on ext0 proto tcp to port 80 rdr-to { 10.1.0.5, 10.1.0.6, 10.1.0.7 } random\n",
    );
    let mut seen = std::collections::HashSet::new();
    for i in 0..60 {
        let a = rdr_dst(&mut e, C1, 4000 + i, 0).0;
        assert!(["10.1.0.5", "10.1.0.6", "10.1.0.7"].contains(&a.to_string().as_str()));
        seen.insert(a);
    }
    assert_eq!(seen.len(), 3);
    // A network: addresses inside it.
    let mut e = engine("pass\npass in on ext0 proto tcp to port 80 rdr-to 10.1.0.0/28 random\n");
    let net: IpNet = "10.1.0.0/28".parse().unwrap();
    for i in 0..20 {
        assert!(net.contains(&rdr_dst(&mut e, C1, 4000 + i, 0).0));
    }
}

#[test]
fn source_hash_is_pfs_siphash_and_stable_per_source() {
    let conf = "pass\npass in on ext0 proto tcp to port 80 rdr-to { 10.1.0.5, 10.1.0.6, 10.1.0.7 } source-hash 0x0123456789abcdef0123456789abcdef\n";
    let mut e = engine(conf);
    let key = [0x01234567, 0x89abcdef, 0x01234567, 0x89abcdef];
    let members = ["10.1.0.5", "10.1.0.6", "10.1.0.7"];
    let mut seen = std::collections::HashSet::new();
    for c in 0..20u8 {
        let client = format!("10.1.1.{c}");
        let a = rdr_dst(&mut e, &client, 4000, 0).0;
        assert_eq!(rdr_dst(&mut e, &client, 4001, 0).0, a, "stable");
        let (h, _) = pool_hash(&ip(&client), &key, crate::addr::Af::Inet);
        assert_eq!(a, ip(members[(h % 3) as usize]));
        seen.insert(a);
    }
    assert!(seen.len() > 1);
    // A network: the hash's host bits.
    let mut e = engine("pass\npass in on ext0 proto tcp to port 80 rdr-to 10.1.0.0/24 source-hash 0x0123456789abcdef0123456789abcdef\n");
    let (_, h) = pool_hash(&ip(C1), &key, crate::addr::Af::Inet);
    let want = poolmask(&"10.1.0.0/24".parse().unwrap(), &h);
    assert_eq!(rdr_dst(&mut e, C1, 4000, 0).0, want);
}

#[test]
fn siphash_pool_hash_known_answer() {
    // SipHash-2-4 with key 00..0f over 00 01 02 03 (the reference vector
    // for a 4-byte message: 0xcf2794e0277187b7), read as pf reads it.
    let key = [0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c];
    let (h, a) = pool_hash(&ip("0.1.2.3"), &key, crate::addr::Af::Inet);
    assert_eq!(h, 0xcf27_94e0_2771_87b7);
    assert_eq!(a, ip("183.135.113.39"), "low 32 bits in host order");
}

#[test]
fn bitmask_keeps_the_host_bits() {
    let mut e = engine(
        "pass\npass in on ext0 proto tcp to 10.2.0.0/24 port 80 rdr-to 10.1.7.0/24 bitmask\n",
    );
    let mut p = seg(
        (C1, 4000),
        ("10.2.0.77", 80),
        1000,
        0,
        SYN,
        65535,
        1460,
        b"",
    );
    assert!(e.test(&meta(Dir::In, "ext0"), &mut p, 0).pass);
    assert_eq!(describe(&p).unwrap().dst, ip("10.1.7.77"));
    // nat-to: the source's host bits.
    let mut e = engine("pass\npass out on ext0 from 10.1.0.0/24 nat-to 10.2.5.0/24 bitmask\n");
    let mut p = seg((C1, 4000), (SRV, 80), 1000, 0, SYN, 65535, 1460, b"");
    assert!(e.test(&meta(Dir::Out, "ext0"), &mut p, 0).pass);
    assert_eq!(describe(&p).unwrap().src, ip("10.2.5.50"));
}

#[test]
fn least_states_takes_the_least_loaded_address() {
    let mut e = engine(
        "pass\npass in on ext0 proto tcp to port 80 rdr-to { 10.1.0.5, 10.1.0.6, 10.1.0.7 } least-states\n",
    );
    let a: Vec<IpAddr> = (0..3).map(|i| rdr_dst(&mut e, C1, 4000 + i, 0).0).collect();
    let mut sorted = a.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 3, "one each: {a:?}");
    // The state of .6 goes: .6 is the least loaded.
    let six = ip("10.1.0.6");
    e.kill_states(0, false, |st| st.key[1].addr[1] == six);
    assert_eq!(rdr_dst(&mut e, C1, 4010, 0).0, six);
    let r1 = crate::engine::ruleref::RuleRef {
        anchor: anchor::MAIN,
        nr: 1,
        gen: e.rules().main().generation,
    };
    assert_eq!(e.pool_load(r1, SnType::Rdr, &six), 1);
}

#[test]
fn sticky_address_keeps_a_source_on_its_address() {
    let mut e = engine(
        "set timeout src.track 20\npass\n\
         pass in on ext0 proto tcp to port 80 rdr-to { 10.1.0.5, 10.1.0.6, 10.1.0.7 } round-robin sticky-address\n",
    );
    let c1 = rdr_dst(&mut e, C1, 4000, 0).0;
    let c2 = rdr_dst(&mut e, C2, 4000, 0).0;
    assert_ne!(c1, c2);
    for i in 1..6 {
        assert_eq!(rdr_dst(&mut e, C1, 4000 + i, 0).0, c1);
        assert_eq!(rdr_dst(&mut e, C2, 4000 + i, 0).0, c2);
    }
    let n = e.src_nodes(0);
    let n1 = n.iter().find(|n| n.addr == ip(C1)).unwrap();
    assert_eq!((n1.kind, n1.raddr, n1.states), (SnType::Rdr, Some(c1), 6));
    // The states go; the node keeps the mapping for src.track seconds.
    e.kill_states(1000, false, |_| true);
    e.purge(15_000);
    assert_eq!(rdr_dst(&mut e, C1, 5000, 15_000).0, c1);
    e.kill_states(16_000, false, |_| true);
    e.purge(40_000);
    assert!(e.src_nodes(40_000).is_empty());
}

#[test]
fn sticky_address_forgets_an_address_the_pool_lost() {
    let mut e = engine(
        "table <srv> { 10.1.0.5 10.1.0.6 }\npass\n\
         pass in on ext0 proto tcp to port 80 rdr-to <srv> round-robin sticky-address\n",
    );
    let first = rdr_dst(&mut e, C1, 4000, 0).0;
    let id = e.tables.id("", "srv").unwrap();
    let gone = TableEntry::new(false, IpNet::host(first));
    e.tables.del_addrs("", "srv", &[gone], false).unwrap();
    assert!(!e.tables.match_addr(id, &first));
    let next = rdr_dst(&mut e, C1, 4001, 0).0;
    assert_ne!(next, first);
    let n = e.src_nodes(0);
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].raddr, n[0].states), (Some(next), 1));
}

/// The translated source of a SYN from C1:sport to `dst`:80 going out.
fn nat_src(e: &mut Engine, sport: u16, dst: &str) -> Option<(IpAddr, u16)> {
    let mut p = seg((C1, sport), (dst, 80), 1000, 0, SYN, 65535, 1460, b"");
    let v = e.test(&meta(Dir::Out, "ext0"), &mut p, 0);
    if !v.pass {
        assert_eq!(v.reason, Reason::Translate);
        return None;
    }
    let pd = describe(&p).unwrap();
    Some((pd.src, pd.sport))
}

#[test]
fn nat_port_ranges_static_port_and_exhaustion() {
    let mut e =
        engine("pass\npass out on ext0 from 10.1.0.0/24 nat-to 10.2.0.1 port 60000:60001\n");
    let a = nat_src(&mut e, 4000, SRV).unwrap();
    let b = nat_src(&mut e, 4001, SRV).unwrap();
    let mut ports = [a.1, b.1];
    ports.sort();
    assert_eq!(ports, [60000, 60001]);
    assert_eq!(nat_src(&mut e, 4002, SRV), None, "no port left");
    assert!(
        nat_src(&mut e, 4002, "10.2.0.10").is_some(),
        "another destination"
    );
    let mut e = engine("pass\npass out on ext0 from 10.1.0.0/24 nat-to 10.2.0.1 static-port\n");
    assert_eq!(nat_src(&mut e, 4000, SRV), Some((ip("10.2.0.1"), 4000)));
}

#[test]
fn nat_round_robin_moves_on_when_an_address_has_no_port_left() {
    let mut e = engine(
        "pass\npass out on ext0 from 10.1.0.0/24 nat-to { 10.2.0.1, 10.2.0.2 } port 60000 round-robin\n",
    );
    let a = nat_src(&mut e, 4000, SRV).unwrap();
    let b = nat_src(&mut e, 4001, SRV).unwrap();
    assert_eq!((a.1, b.1), (60000, 60000));
    assert_ne!(a.0, b.0);
    assert_eq!(nat_src(&mut e, 4002, SRV), None);
}

#[test]
fn rdr_port_ranges_map_as_openbsd_does() {
    let mut e = engine(
        "pass\npass in on ext0 proto tcp to port 8000:8009 rdr-to 10.1.0.5 port 9000:9004\n",
    );
    let mut p = seg(
        (C1, 4000),
        ("10.2.0.1", 8007),
        1000,
        0,
        SYN,
        65535,
        1460,
        b"",
    );
    assert!(e.test(&meta(Dir::In, "ext0"), &mut p, 0).pass);
    let pd = describe(&p).unwrap();
    assert_eq!(
        (pd.dst, pd.dport),
        (ip("10.1.0.5"), 9002),
        "9000 + (8007-8000) % 5"
    );
    // `port 9000:*` keeps the offset.
    let mut e =
        engine("pass\npass in on ext0 proto tcp to port 8000:8009 rdr-to 10.1.0.5 port 9000:*\n");
    let mut p = seg(
        (C1, 4000),
        ("10.2.0.1", 8007),
        1000,
        0,
        SYN,
        65535,
        1460,
        b"",
    );
    assert!(e.test(&meta(Dir::In, "ext0"), &mut p, 0).pass);
    assert_eq!(describe(&p).unwrap().dport, 9007);
}

#[test]
fn route_to_pools_and_sticky_next_hops() {
    let mut e = engine(
        "pass\npass in on int0 proto tcp route-to { 10.2.0.253, 10.2.0.254 } round-robin sticky-address\n",
    );
    let hop = |e: &mut Engine, c: &str, sport: u16| {
        let v = syn(e, c, sport, 0);
        let sel = v.mtag.unwrap().route;
        e.route_targets().target(sel).unwrap()
    };
    let h1 = hop(&mut e, C1, 4000);
    let h2 = hop(&mut e, C2, 4000);
    assert_ne!(h1, h2);
    assert_eq!(hop(&mut e, C1, 4001), h1);
    assert_eq!(hop(&mut e, C2, 4001), h2);
    let n = e.src_nodes(0);
    assert!(n.iter().all(|n| n.kind == SnType::Route && n.states == 2));
}

#[test]
fn rules_in_anchors_track_sources_and_keep_their_pools() {
    let mut e = engine(
        "pass\nanchor \"foo\" {\n pass in on int0 proto tcp keep state (source-track rule, max-src-states 1)\n}\n\
         anchor \"bar\" {\n pass in on ext0 proto tcp to port 80 rdr-to { 10.1.0.5, 10.1.0.6 } round-robin sticky-address\n}\n",
    );
    assert!(syn(&mut e, C1, 4000, 0).pass);
    let v = syn(&mut e, C1, 4001, 0);
    assert_eq!((v.pass, v.reason), (false, Reason::SrcLimit));
    assert!(syn(&mut e, C2, 4000, 0).pass);
    // The node names its rule by its number in the anchor.
    let n = e.src_nodes(0);
    assert_eq!(n.len(), 2);
    assert!(n.iter().all(|n| n.rule == Some(0) && n.states == 1));
    // The sticky pool of anchor bar: one address per source.
    let a = rdr_dst(&mut e, C1, 5000, 0).0;
    let b = rdr_dst(&mut e, C2, 5000, 0).0;
    assert_ne!(a, b, "round-robin between sources");
    assert_eq!(rdr_dst(&mut e, C1, 5001, 0).0, a);
    assert_eq!(rdr_dst(&mut e, C2, 5001, 0).0, b);
    // pfctl -a foo -f: a new rule, new nodes; the old ones stay with their
    // states (pf keeps a replaced rule while its nodes need it).
    let rs = parse(
        "pass in on int0 proto tcp keep state (source-track rule, max-src-states 1)\n",
        "stdin",
        &resolver(),
    )
    .unwrap();
    e.commit(
        crate::ruleset::flatten(&rs, "foo"),
        None,
        vec![],
        Loader::default(),
        0,
    )
    .unwrap();
    assert!(syn(&mut e, C1, 4002, 0).pass, "the new rule's own node");
    let v = syn(&mut e, C1, 4003, 0);
    assert_eq!((v.pass, v.reason), (false, Reason::SrcLimit));
    let rdr_nodes = e
        .src_nodes(0)
        .iter()
        .filter(|n| n.kind == SnType::Rdr)
        .count();
    assert_eq!(rdr_nodes, 2, "bar's sticky nodes are untouched");
    assert_eq!(e.src_nodes(0).len(), 5);
}

//! Interface-bound behaviour through the whole engine: if-bound and
//! floating states, `received-on` on both passes (the mark's in_slot),
//! `urpf-failed` and `no-route` against a route snapshot, `egress`
//! following the default route, administrative groups in `on` and
//! `set skip`, carp traffic seen on the carpdev, and the interface
//! counters.

use super::anchor::Loader;
use super::fib::{Route, RouteChange, RTN_UNICAST, RT_TABLE_MAIN};
use super::iface::LinkInfo;
use super::packet::tests::*;
use super::packet::Dir;
use super::*;
use crate::conf::{parse, StaticResolver};

fn link(index: u32, name: &str, addr: &str) -> LinkInfo {
    LinkInfo {
        index,
        name: name.into(),
        addrs: vec![addr.parse().unwrap()],
        carpdev: None,
        own_groups: None,
    }
}

/// eth0 10.1.0.1 (clients), eth1 10.2.0.1 (servers), eth2 10.3.0.1
/// (another network), lo; routes to the three networks, no default.
fn engine(rules: &str) -> Engine {
    let res = StaticResolver::new()
        .iface("eth0", &["10.1.0.1/24"])
        .iface("eth1", &["10.2.0.1/24"])
        .iface("eth2", &["10.3.0.1/24"]);
    let rs = parse(rules, "pf.conf", &res)
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let mut e = Engine::new(1, 1);
    e.sync_links(
        vec![
            link(1, "lo", "127.0.0.1/8"),
            link(2, "eth0", "10.1.0.1/24"),
            link(3, "eth1", "10.2.0.1/24"),
            link(4, "eth2", "10.3.0.1/24"),
        ],
        0,
    );
    let route = |dst: &str, oif: u32| Route {
        table: RT_TABLE_MAIN,
        dst: dst.parse().unwrap(),
        tos: 0,
        metric: 0,
        kind: RTN_UNICAST,
        oifs: vec![oif],
    };
    e.set_fib(
        Fib::from_routes([
            route("10.1.0.0/24", 2),
            route("10.2.0.0/24", 3),
            route("10.3.0.0/24", 4),
        ]),
        0,
    );
    e.load(rs, Loader::default(), String::new()).unwrap();
    e.set_enabled(true, 0);
    e
}

fn meta(dir: Dir, ifname: &str, mtag: Mtag) -> PacketMeta<'_> {
    PacketMeta {
        dir,
        ifname,
        uid: None,
        gid: None,
        mtag,
    }
}

fn udp(src: &str, dst: &str) -> Vec<u8> {
    v4(src, dst, 17, &udp_dgram(5000, 7, b"x"))
}

fn pass(e: &mut Engine, dir: Dir, ifname: &str, p: &[u8]) -> bool {
    e.test(&meta(dir, ifname, Mtag::default()), &mut p.to_vec(), 0)
        .pass
}

#[test]
fn if_bound_state_matches_only_its_interface() {
    let rules = "block in\npass out\npass in on eth0 proto udp keep state (if-bound)\n";
    let mut e = engine(rules);
    let p = udp("10.1.0.2", "10.2.0.2");
    assert!(pass(&mut e, Dir::In, "eth0", &p));
    let st = e.states.get(e.states.all_slots().next().unwrap()).unwrap();
    assert_eq!(st.ifname.as_deref(), Some("eth0"));
    assert_eq!(e.export_all(0)[0].ifname, "eth0");
    // The same packet arriving on eth2 has no state there: the rules
    // decide, and `block in` wins.
    assert!(!pass(&mut e, Dir::In, "eth2", &p));
    assert!(pass(&mut e, Dir::In, "eth0", &p));

    // Floating (the default): the state passes it on any interface.
    let mut e = engine("block in\npass out\npass in on eth0 proto udp\n");
    assert!(pass(&mut e, Dir::In, "eth0", &p));
    assert_eq!(e.export_all(0)[0].ifname, "all");
    assert!(pass(&mut e, Dir::In, "eth2", &p));

    // set state-policy if-bound binds every stateful rule that does not
    // say (floating).
    let mut e = engine(
        "set state-policy if-bound\nblock in\npass out\npass in on eth0 proto udp\n\
         pass in on eth0 proto udp to port 9 keep state (floating)\n",
    );
    assert!(e.rules().main().rules[2].state_opts.if_bound);
    assert!(!e.rules().main().rules[3].state_opts.if_bound);
    assert!(pass(&mut e, Dir::In, "eth0", &p));
    assert!(!pass(&mut e, Dir::In, "eth2", &p));
    let q = v4("10.1.0.2", "10.2.0.2", 17, &udp_dgram(5000, 9, b"x"));
    assert!(pass(&mut e, Dir::In, "eth0", &q));
    assert!(pass(&mut e, Dir::In, "eth2", &q));
}

#[test]
fn received_on_uses_the_in_slot_on_out() {
    let rules = "block out\npass in\npass out on eth1 received-on eth0\n\
                 pass out on eth2 ! received-on eth0\n";
    let mut e = engine(rules);
    // In on eth0: the verdict marks the packet with eth0's slot.
    let mut p = udp("10.1.0.2", "10.2.0.2");
    let v = e.test(&meta(Dir::In, "eth0", Mtag::default()), &mut p, 0);
    let t = v.mtag.expect("in_slot set on the in pass");
    let eth0 = e.ifaces.lookup("eth0").unwrap();
    assert_eq!(t.in_slot, e.ifaces.kif(eth0).unwrap().slot);
    assert!(e.test(&meta(Dir::Out, "eth1", t), &mut p, 0).pass);
    // Received on eth2: not eth0.
    let mut p = udp("10.3.0.2", "10.2.0.2");
    let t2 = e
        .test(&meta(Dir::In, "eth2", Mtag::default()), &mut p, 0)
        .mtag
        .unwrap();
    assert_ne!(t2.in_slot, t.in_slot);
    assert!(!e.test(&meta(Dir::Out, "eth1", t2), &mut p, 0).pass);
    // Locally generated: received nowhere, so only `! received-on` matches.
    let mut p = udp("10.2.0.1", "10.2.0.2");
    assert!(
        !e.test(&meta(Dir::Out, "eth1", Mtag::default()), &mut p, 0)
            .pass
    );
    let mut p = udp("10.3.0.1", "10.3.0.2");
    assert!(
        e.test(&meta(Dir::Out, "eth2", Mtag::default()), &mut p, 0)
            .pass
    );
    // On `in`, received-on is the interface itself, groups included.
    let mut e = engine("block in\npass in received-on lan\n");
    let p = udp("10.1.0.2", "10.2.0.2");
    assert!(!pass(&mut e, Dir::In, "eth0", &p));
    e.ifaces.add_group("eth0", "lan", 0).unwrap();
    assert!(pass(&mut e, Dir::In, "eth0", &p));
    assert!(!pass(&mut e, Dir::In, "eth2", &udp("10.3.0.2", "10.2.0.2")));
}

#[test]
fn urpf_and_no_route_follow_the_routes() {
    let rules = "pass\nblock in quick from urpf-failed\nblock in quick to no-route\n";
    let mut e = engine(rules);
    assert!(pass(&mut e, Dir::In, "eth0", &udp("10.1.0.2", "10.2.0.2")));
    // A source whose route goes out eth1 arriving on eth0: spoofed.
    assert!(!pass(&mut e, Dir::In, "eth0", &udp("10.2.0.9", "10.3.0.2")));
    assert!(pass(&mut e, Dir::In, "eth1", &udp("10.2.0.9", "10.3.0.2")));
    // No route to 192.0.2.1 (and none back from it) until a default.
    assert!(!pass(
        &mut e,
        Dir::In,
        "eth0",
        &udp("10.1.0.2", "192.0.2.1")
    ));
    assert!(!pass(
        &mut e,
        Dir::In,
        "eth1",
        &udp("192.0.2.1", "10.1.0.2")
    ));
    e.route_change(
        RouteChange::Add {
            route: Route {
                table: RT_TABLE_MAIN,
                dst: "0.0.0.0/0".parse().unwrap(),
                tos: 0,
                metric: 0,
                kind: RTN_UNICAST,
                oifs: vec![3],
            },
            replace: false,
            append: false,
        },
        0,
    );
    assert!(pass(&mut e, Dir::In, "eth0", &udp("10.1.0.2", "192.0.2.1")));
    assert!(pass(&mut e, Dir::In, "eth1", &udp("192.0.2.1", "10.1.0.2")));
    // (another source port: the packet above made a floating state)
    let other = v4("192.0.2.1", "10.1.0.2", 17, &udp_dgram(5001, 7, b"x"));
    assert!(!pass(&mut e, Dir::In, "eth2", &other));
    let rs = "block in quick from ! urpf-failed to 10.3.0.0/24\npass\n";
    let mut e = engine(rs);
    assert!(!pass(&mut e, Dir::In, "eth0", &udp("10.1.0.2", "10.3.0.2")));
    assert!(pass(&mut e, Dir::In, "eth1", &udp("10.1.0.2", "10.3.0.2")));
}

#[test]
fn egress_and_groups_follow_changes() {
    let mut e = engine("block out\npass out on egress\n");
    let p = udp("10.1.0.2", "192.0.2.1");
    assert!(!pass(&mut e, Dir::Out, "eth1", &p));
    let default = |oif| Route {
        table: RT_TABLE_MAIN,
        dst: "0.0.0.0/0".parse().unwrap(),
        tos: 0,
        metric: 0,
        kind: RTN_UNICAST,
        oifs: vec![oif],
    };
    e.route_change(
        RouteChange::Add {
            route: default(3),
            replace: false,
            append: false,
        },
        0,
    );
    assert_eq!(e.ifaces.members("egress"), ["eth1"]);
    assert!(pass(&mut e, Dir::Out, "eth1", &p));
    assert!(!pass(
        &mut e,
        Dir::Out,
        "eth2",
        &udp("10.1.0.2", "192.0.2.2")
    ));
    e.route_change(
        RouteChange::Add {
            route: default(4),
            replace: true,
            append: false,
        },
        0,
    );
    assert!(!pass(
        &mut e,
        Dir::Out,
        "eth1",
        &udp("10.1.0.2", "192.0.2.3")
    ));
    assert!(pass(
        &mut e,
        Dir::Out,
        "eth2",
        &udp("10.1.0.2", "192.0.2.4")
    ));

    // An administrative group in `on`, `(group)` and `set skip`.
    let mut e = engine("set skip on vpn\nblock\npass in on dmz to (dmz)\n");
    let p = udp("10.3.0.2", "10.3.0.1");
    assert!(!pass(&mut e, Dir::In, "eth2", &p));
    e.ifaces.add_group("eth2", "dmz", 0).unwrap();
    assert!(pass(&mut e, Dir::In, "eth2", &p));
    assert!(!pass(&mut e, Dir::In, "eth2", &udp("10.3.0.2", "10.1.0.1")));
    e.ifaces.add_group("eth0", "vpn", 0).unwrap();
    assert!(pass(&mut e, Dir::In, "eth0", &udp("10.1.0.2", "10.2.0.2")));
    e.ifaces.del_group("eth0", "vpn", 0).unwrap();
    assert!(!pass(&mut e, Dir::In, "eth0", &udp("10.1.0.2", "10.2.0.3")));
}

#[test]
fn carp_traffic_is_the_carpdevs_and_counters_move() {
    let mut e = engine("set loginterface eth1\nblock\npass in on eth1\n");
    let mut links: Vec<LinkInfo> = e
        .ifaces
        .iter()
        .map(|k| LinkInfo {
            index: k.index,
            name: k.name.clone(),
            addrs: k.addrs.clone(),
            carpdev: None,
            own_groups: None,
        })
        .collect();
    let mut carp = link(9, "carp1", "10.2.0.254/24");
    carp.carpdev = Some("eth1".into());
    carp.own_groups = Some(vec![]);
    links.push(carp);
    e.sync_links(links, 0);
    let p = udp("10.2.0.2", "10.2.0.254");
    assert!(pass(&mut e, Dir::In, "carp1", &p));
    assert!(pass(&mut e, Dir::In, "eth1", &p));
    let q = v4("10.2.0.2", "10.2.0.254", 17, &udp_dgram(5001, 7, b"x"));
    assert!(!pass(&mut e, Dir::In, "eth0", &q));
    let eth1 = e.ifaces.kif(e.ifaces.lookup("eth1").unwrap()).unwrap();
    assert_eq!(eth1.packets[0][0][0], 2);
    assert_eq!(eth1.bytes[0][0][0], 2 * p.len() as u64);
    let eth0 = e.ifaces.kif(e.ifaces.lookup("eth0").unwrap()).unwrap();
    assert_eq!(eth0.packets[0][0][1], 1);
    let s = e.status(0);
    assert_eq!(s.if_packets[0][0][0], 2);
    assert_eq!(s.if_bytes[0][0], 2 * p.len() as u64);
    let list = e.interfaces(Some("eth1"), 0, 0);
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].rules, list[0].packets[0][0][0]), (1, 2));
    assert_eq!(e.interfaces(None, 0, 0)[0].name, "all");
}

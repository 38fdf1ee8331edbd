//! Tests against the running kernel. Each one runs in a private network
//! namespace of its own thread, so nothing touches the host; they need root
//! and fail (never skip) without it.

use super::*;
use crate::sys::sysctl;
use std::time::{Duration, Instant};

/// Runs `f` on a thread of its own in a fresh network namespace, with a
/// `Netlink` opened there. Panics loudly when not root.
pub(crate) fn in_netns<F: FnOnce(&mut Netlink) + Send + 'static>(f: F) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root: it creates a private network namespace \
         (unshare(CLONE_NEWNET)) and links in it; run `cargo test` as root, as CI does"
    );
    let h = std::thread::spawn(move || {
        // SAFETY: plain syscall; it moves only this thread to a new netns.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            panic!(
                "unshare(CLONE_NEWNET): {}: this test needs root with CAP_SYS_ADMIN",
                io::Error::last_os_error()
            );
        }
        let mut nl = Netlink::open().expect("netlink socket");
        f(&mut nl)
    });
    if let Err(p) = h.join() {
        std::panic::resume_unwind(p);
    }
}

fn link(nl: &mut Netlink, name: &str) -> Link {
    nl.link_by_name(name)
        .unwrap()
        .unwrap_or_else(|| panic!("{name} not found"))
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// Waits up to 5 s for `cond`.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn veth_up(nl: &mut Netlink, a: &str, b: &str) -> (u32, u32) {
    let (ia, ib) = nl.create_veth(a, b).unwrap();
    nl.set_up(ia, true).unwrap();
    nl.set_up(ib, true).unwrap();
    wait_for("veth carrier", || {
        link(nl, a).lower_up && link(nl, b).lower_up
    });
    (ia, ib)
}

/// (destination, prefix length, oif) of every route in the main table.
fn routes(nl: &mut Netlink) -> Vec<(IpNet, u32)> {
    use netlink_packet_route::route::RouteMessage;
    const RTA_DST: u16 = 1;
    const RTA_OIF: u16 = 4;
    const RT_TABLE_MAIN: u8 = 254;
    let replies = nl
        .dump(
            || RouteNetlinkMessage::GetRoute(RouteMessage::default()),
            "RTM_GETROUTE",
        )
        .unwrap();
    let mut out = Vec::new();
    for r in replies.iter().filter(|r| r.ty == 24 /* RTM_NEWROUTE */) {
        let p = &r.payload;
        if p.len() < 12 || p[4] != RT_TABLE_MAIN {
            continue;
        }
        let (mut dst, mut oif) = (None, 0);
        for (ty, v) in decode::attrs(&p[12..]) {
            match (ty, v.len()) {
                (RTA_DST, 4) => dst = Some(IpAddr::from(<[u8; 4]>::try_from(v).unwrap())),
                (RTA_DST, 16) => dst = Some(IpAddr::from(<[u8; 16]>::try_from(v).unwrap())),
                (RTA_OIF, 4) => oif = u32::from_ne_bytes(v.try_into().unwrap()),
                _ => {}
            }
        }
        if let Some(dst) = dst {
            out.push((IpNet::new(dst, p[1]).unwrap(), oif));
        }
    }
    out
}

#[test]
fn netlink_links() {
    in_netns(|nl| {
        let (ia, ib) = nl.create_veth("va", "vb").unwrap();
        let a = link(nl, "va");
        let b = link(nl, "vb");
        assert_eq!((a.index, b.index), (ia, ib));
        assert_eq!(a.kind.as_deref(), Some("veth"));
        assert_eq!(a.parent, Some(ib), "a veth's IFLA_LINK is its peer");
        assert_eq!(b.parent, Some(ia));
        assert!(!a.up && !a.running && !a.lower_up);
        assert_eq!(a.mtu, 1500);
        assert!(a.mac.is_some());
        assert_eq!(a.alias, None);
        assert_eq!(nl.link_by_index(ia).unwrap(), Some(a.clone()));

        let all = nl.links().unwrap();
        let names: Vec<&str> = all.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&"lo") && names.contains(&"va") && names.contains(&"vb"));
        let lo = all.iter().find(|l| l.name == "lo").unwrap();
        assert_eq!((lo.kind.as_deref(), lo.parent), (None, None));

        // Missing and impossible names, missing indexes.
        assert_eq!(nl.link_by_name("nosuchif").unwrap(), None);
        assert_eq!(nl.link_by_name("").unwrap(), None);
        assert_eq!(nl.link_by_name("much-too-long-for-linux").unwrap(), None);
        assert_eq!(nl.link_by_name("a/b").unwrap(), None);
        assert_eq!(nl.link_by_index(0).unwrap(), None);
        assert_eq!(nl.link_by_index(424242).unwrap(), None);

        nl.set_mtu(ia, 1400).unwrap();
        assert_eq!(link(nl, "va").mtu, 1400);
        nl.set_alias(ia, "uplink to core").unwrap();
        assert_eq!(link(nl, "va").alias.as_deref(), Some("uplink to core"));
        nl.set_alias(ia, "").unwrap();
        assert_eq!(link(nl, "va").alias, None);
        assert_eq!(
            nl.set_alias(ia, &"x".repeat(256)).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let mac = [0x02, 0, 0, 0, 0, 0x42];
        nl.set_mac(ia, mac).unwrap();
        assert_eq!(link(nl, "va").mac, Some(mac));

        nl.set_up(ia, true).unwrap();
        let a = link(nl, "va");
        assert!(a.up && !a.lower_up, "peer still down: no carrier");
        nl.set_up(ib, true).unwrap();
        wait_for("carrier on va", || link(nl, "va").lower_up);
        wait_for("va running", || link(nl, "va").running);
        nl.set_up(ia, false).unwrap();
        let a = link(nl, "va");
        assert!(!a.up && !a.running);

        // Errors name the interface and the request, keep the errno.
        let e = nl.set_mtu(ia, 1_000_000).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("va: RTM_SETLINK mtu 1000000: Invalid argument"),
            "{e}"
        );
        assert_eq!(errno(&e), Some(libc::EINVAL));
        let e = nl.create_veth("va", "vc").unwrap_err();
        assert_eq!(e.to_string(), "va: RTM_NEWLINK: File exists");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(errno(&e), Some(libc::EEXIST));
        let e = nl.set_up(424242, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ifindex 424242: RTM_SETLINK up: No such device"
        );
        assert_eq!(
            nl.create_veth("bad name", "vc").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );

        nl.delete_link(ia).unwrap();
        assert_eq!(nl.link_by_name("va").unwrap(), None);
        assert_eq!(
            nl.link_by_name("vb").unwrap(),
            None,
            "deleting a veth end deletes both"
        );
        assert_eq!(errno(&nl.delete_link(ia).unwrap_err()), Some(libc::ENODEV));
    });
}

#[test]
fn netlink_addresses() {
    in_netns(|nl| {
        let (ia, ib) = veth_up(nl, "va", "vb");

        let v4 = net("192.0.2.1/24");
        let v4_norte = net("198.51.100.1/24");
        let v6 = net("2001:db8::1/64");
        let v6_norte = net("2001:db8:1::1/64");
        nl.add_addr(ia, v4, Some(Ipv4Addr::new(192, 0, 2, 255)), false)
            .unwrap();
        nl.add_addr(ia, v4, Some(Ipv4Addr::new(192, 0, 2, 255)), false)
            .unwrap(); // EEXIST is fine
        nl.add_addr(ia, v4_norte, None, true).unwrap();
        nl.add_addr(ia, v6, None, false).unwrap();
        nl.add_addr(ia, v6, None, false).unwrap();
        nl.add_addr(ia, v6_norte, None, true).unwrap();
        nl.add_addr(ib, net("192.0.2.2/24"), None, false).unwrap();

        let infos = nl.addr_infos(Some(ia)).unwrap();
        let find = |n: IpNet| {
            infos
                .iter()
                .find(|a| a.addr.net == n)
                .unwrap_or_else(|| panic!("{n} missing"))
        };
        assert_eq!(find(v4).addr.broadcast, Some(Ipv4Addr::new(192, 0, 2, 255)));
        assert_eq!(find(v4).addr.index, ia);
        assert_eq!(find(v4_norte).addr.broadcast, None);
        assert_eq!(find(v6).addr.broadcast, None);
        const IFA_F_NOPREFIXROUTE: u32 = 0x200;
        assert_eq!(find(v4).flags & IFA_F_NOPREFIXROUTE, 0);
        assert_ne!(find(v4_norte).flags & IFA_F_NOPREFIXROUTE, 0);
        assert_eq!(find(v6).flags & IFA_F_NOPREFIXROUTE, 0);
        assert_ne!(find(v6_norte).flags & IFA_F_NOPREFIXROUTE, 0);
        // Only ia's addresses (and its link-local) were listed.
        assert!(infos.iter().all(|a| a.addr.index == ia));
        assert!(nl
            .addrs(None)
            .unwrap()
            .iter()
            .any(|a| a.index == ib && a.net == net("192.0.2.2/24")));

        // noprefixroute: no route to the prefix.
        let rt = routes(nl);
        let has = |n: &str| rt.contains(&(net(n), ia));
        assert!(has("192.0.2.0/24"), "{rt:?}");
        assert!(!has("198.51.100.0/24"), "{rt:?}");
        assert!(has("2001:db8::/64"), "{rt:?}");
        assert!(!has("2001:db8:1::/64"), "{rt:?}");

        // Errors.
        let e = nl
            .add_addr(ia, v6, Some(Ipv4Addr::new(1, 2, 3, 4)), false)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = nl.add_addr(424242, v4, None, false).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("ifindex 424242: RTM_NEWADDR 192.0.2.1/24: No such device"),
            "{e}"
        );

        // Deleting needs the same prefix length; absent addresses are fine.
        nl.del_addr(ia, net("192.0.2.1/25")).unwrap();
        nl.del_addr(ia, net("2001:db8::1/48")).unwrap();
        assert_eq!(
            nl.addrs(Some(ia))
                .unwrap()
                .iter()
                .filter(|a| a.net == v4 || a.net == v6)
                .count(),
            2
        );
        for n in [v4, v4_norte, v6, v6_norte] {
            nl.del_addr(ia, n).unwrap();
            nl.del_addr(ia, n).unwrap();
        }
        let left = nl.addrs(Some(ia)).unwrap();
        assert!(
            left.iter()
                .all(|a| matches!(a.net.addr, IpAddr::V6(v6) if v6.segments()[0] == 0xfe80)),
            "{left:?}"
        );
    });
}

#[test]
fn netlink_macvlan() {
    in_netns(|nl| {
        let (ia, _) = veth_up(nl, "va", "vb");
        let mac = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x01];
        let ic = nl.create_macvlan("carp1", ia, mac).unwrap();
        let c = link(nl, "carp1");
        assert_eq!(c.index, ic);
        assert_eq!(c.mac, Some(mac));
        assert_eq!(c.kind.as_deref(), Some("macvlan"));
        assert_eq!(c.parent, Some(ia));
        assert!(!c.up);
        assert_eq!(
            sysctl::read("net.ipv6.conf.carp1.addr_gen_mode").unwrap(),
            "1"
        );

        let e = nl.create_macvlan("carp1", ia, mac).unwrap_err();
        assert_eq!(e.to_string(), "carp1: RTM_NEWLINK: File exists");
        let e = nl
            .create_macvlan("carp2", 424242, [0, 0, 0x5e, 0, 1, 2])
            .unwrap_err();
        assert!(e.to_string().starts_with("carp2: RTM_NEWLINK: "), "{e}");
        assert_eq!(nl.link_by_name("carp2").unwrap(), None);

        nl.set_up(ic, true).unwrap();
        wait_for("carp1 carrier", || link(nl, "carp1").lower_up);
        // The veth gets its link-local address; the macvlan must not.
        let is_ll = |a: &Addr| matches!(a.net.addr, IpAddr::V6(v6) if v6.segments()[0] == 0xfe80);
        wait_for("link-local on va", || {
            nl.addrs(Some(ia)).unwrap().iter().any(is_ll)
        });
        std::thread::sleep(Duration::from_millis(200));
        let on_carp = nl.addrs(Some(ic)).unwrap();
        assert!(
            on_carp.is_empty(),
            "carp1 has addresses it was not given: {on_carp:?}"
        );

        nl.add_addr(ic, net("192.0.2.1/24"), None, false).unwrap();
        nl.add_addr(ic, net("2001:db8::1/64"), None, false).unwrap();
        assert_eq!(nl.addrs(Some(ic)).unwrap().len(), 2);

        nl.delete_link(ic).unwrap();
        assert_eq!(nl.link_by_name("carp1").unwrap(), None);
        assert!(nl.link_by_name("va").unwrap().is_some());
    });
}

fn poll_in(fd: RawFd, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, ms) > 0 }
}

/// Drains `mon` until a notification for `index` satisfies `cond`.
fn wait_event(mon: &mut LinkMonitor, index: u32, what: &str, cond: impl Fn(&Link) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if mon
            .drain()
            .unwrap()
            .iter()
            .any(|l| l.index == index && cond(l))
        {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no notification: {what}");
        poll_in(mon.as_raw_fd(), left.as_millis() as i32);
    }
}

#[test]
fn netlink_link_monitor() {
    in_netns(|nl| {
        let mut mon = LinkMonitor::open().unwrap();
        let (ia, ib) = veth_up(nl, "va", "vb");
        wait_event(&mut mon, ia, "va comes up with carrier", |l| {
            l.name == "va" && l.up && l.lower_up
        });
        assert!(mon
            .drain()
            .unwrap()
            .iter()
            .all(|l| l.name == "va" || l.name == "vb"));
        let t = Instant::now();
        mon.drain().unwrap(); // nothing (or a late operstate change) pending: must not block
        assert!(t.elapsed() < Duration::from_secs(1));

        nl.set_up(ib, false).unwrap();
        wait_event(&mut mon, ia, "va loses carrier when vb goes down", |l| {
            l.up && !l.lower_up && !l.running
        });
        nl.set_up(ib, true).unwrap();
        wait_event(&mut mon, ia, "va regains carrier", |l| l.lower_up);
        nl.set_mtu(ia, 1400).unwrap();
        wait_event(&mut mon, ia, "mtu change", |l| l.mtu == 1400);
        nl.delete_link(ib).unwrap();
        wait_event(&mut mon, ia, "va deleted with its peer", |l| {
            !l.up && !l.lower_up
        });
    });
}

#[test]
fn netlink_monitor_resyncs_after_overflow() {
    in_netns(|nl| {
        let mut mon = LinkMonitor::open().unwrap();
        // Shrink the receive buffer so a burst of changes overflows it.
        mon.sock.set_rx_buf_sz(1024).unwrap();
        let (ia, _) = veth_up(nl, "va", "vb");
        for i in 0..200 {
            nl.set_mtu(ia, 1300 + i).unwrap();
        }
        let got = mon.drain().unwrap();
        assert_eq!(mon.overflows(), 1, "the burst did not overflow the socket");
        let last = got
            .iter()
            .rev()
            .find(|l| l.index == ia)
            .expect("va in the resync");
        assert_eq!(last.mtu, 1499, "the last entry is the current state");
    });
}

#[test]
fn routes_dump_and_monitor() {
    use crate::engine::fib::{Fib, RouteChange, RTN_LOCAL, RT_TABLE_LOCAL, RT_TABLE_MAIN};
    in_netns(|nl| {
        let mut mon = NetMonitor::open().unwrap();
        let (ia, _) = veth_up(nl, "rt0", "rt1");
        nl.add_addr(ia, net("10.7.0.1/24"), None, false).unwrap();
        let mut routes = Vec::new();
        wait_for("the prefix route", || {
            routes = nl.routes().unwrap();
            routes
                .iter()
                .any(|r| r.table == RT_TABLE_MAIN && r.dst == net("10.7.0.0/24"))
        });
        let prefix = routes
            .iter()
            .find(|r| r.table == RT_TABLE_MAIN && r.dst == net("10.7.0.0/24"))
            .unwrap();
        assert_eq!(prefix.oifs, vec![ia]);
        assert!(routes.iter().any(|r| r.table == RT_TABLE_LOCAL
            && r.dst == net("10.7.0.1/32")
            && r.kind == RTN_LOCAL));
        let fib = Fib::from_routes(routes.clone());
        assert!(fib.routable_via(0, &"10.7.0.9".parse().unwrap(), |o| o == ia));
        assert!(!fib.routable(0, &"10.8.0.9".parse().unwrap()));
        // The monitor saw the link, the address and the route come.
        let mut ev = Vec::new();
        let added = |ev: &Vec<NetEvent>| {
            ev.iter().any(|e| {
                matches!(e, NetEvent::Route(RouteChange::Add { route, .. })
                    if route.dst == net("10.7.0.0/24") && route.oifs == vec![ia])
            })
        };
        wait_for("route notification", || {
            mon.wait(10);
            ev.extend(mon.drain().unwrap());
            added(&ev)
        });
        assert!(ev.contains(&NetEvent::Links));
        nl.del_addr(ia, net("10.7.0.1/24")).unwrap();
        wait_for("route removal", || {
            mon.wait(10);
            mon.drain().unwrap().iter().any(|e| {
                matches!(e, NetEvent::Route(RouteChange::Del(r)) if r.dst == net("10.7.0.0/24"))
            })
        });
    });
}

//! `carpnodes` and `balancing`: parsed, applied as OpenBSD's
//! carp_vhids_ioctl applies them, and printed as ifconfig prints a carp
//! interface with several carpnodes (seed 002's active/active pair).

use super::*;
use crate::carp::balance::{Balancing, CarpNode};
use crate::carp::NodeStatus;

fn node(vhid: u8, advskew: u8) -> CarpNode {
    CarpNode { vhid, advskew }
}

#[test]
fn parse_carpnodes_and_balancing() {
    assert_eq!(
        p("balancing ip carpnodes 4:100,3:0"),
        vec![
            IfOp::Balancing(Balancing::Ip),
            IfOp::Carpnodes(vec![node(3, 0), node(4, 100)])
        ]
    );
    assert_eq!(p("balancing ARP"), vec![IfOp::Balancing(Balancing::Arp)]);
    assert!(perr("balancing fast").contains("balancing fast: unknown mode"));
    assert!(perr("carpnodes 1:0,1:100").contains("twice"));
    assert!(perr("carpnodes 1:300").contains("advskew 300"));
    assert!(perr("carpnodes").contains("carpnodes"));
}

#[test]
fn apply_as_the_kernel_does() {
    let mut c = CarpConfig::default();
    apply_carp(
        &mut c,
        &p("inet 172.16.240.102/24 carpdev em0 carpnodes 3:0,4:100 pass password3"),
    )
    .unwrap();
    // Several nodes default to balancing ip; the leader is vhid 3.
    assert_eq!(c.balancing, Balancing::Ip);
    assert_eq!(c.nodes(), vec![node(3, 0), node(4, 100)]);
    assert_eq!((c.vhid, c.advskew), (3, 0));
    assert_eq!(c.vhids().collect::<Vec<_>>(), vec![3, 4]);
    apply_carp(&mut c, &p("balancing arp")).unwrap();
    assert_eq!(c.balancing, Balancing::Arp);
    // advskew is the leader's.
    apply_carp(&mut c, &p("advskew 7")).unwrap();
    assert_eq!(c.nodes(), vec![node(3, 7), node(4, 100)]);
    // One node is a plain vhid again, balancing none.
    apply_carp(&mut c, &p("carpnodes 5:9")).unwrap();
    assert_eq!((c.vhid, c.advskew, c.balancing), (5, 9, Balancing::None));
    assert!(!c.balanced());
    assert_eq!(c.vhids().collect::<Vec<_>>(), vec![5]);
    // Balancing needs several nodes; all or nothing.
    let before = c.clone();
    let e = apply_carp(&mut c, &p("balancing ip"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs carpnodes"), "{e}");
    assert_eq!(c, before);
    // IPv6 is balanced by the ip modes, not by arp (either order).
    let mut b = CarpConfig::default();
    apply_carp(
        &mut b,
        &p("inet6 2001:db8::1 carpdev em0 carpnodes 1:0,2:100"),
    )
    .unwrap();
    assert_eq!(b.balancing, Balancing::Ip);
    apply_carp(&mut b, &p("balancing ip-stealth")).unwrap();
    let before = b.clone();
    let e = apply_carp(&mut b, &p("balancing arp"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("balancing arp: IPv6 addresses cannot be balanced"),
        "{e}"
    );
    assert_eq!(b, before);
    let mut a = CarpConfig::default();
    apply_carp(
        &mut a,
        &p("inet 10.0.0.1/24 carpdev em0 carpnodes 1:0,2:100 balancing arp"),
    )
    .unwrap();
    let e = apply_carp(&mut a, &p("inet6 2001:db8::1"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("use balancing ip, ip-stealth or ip-unicast"),
        "{e}"
    );
    // vhid replaces a carpnodes list.
    apply_carp(&mut c, &p("carpnodes 1:0,2:100 balancing ip-stealth")).unwrap();
    assert_eq!(c.balancing, Balancing::IpStealth);
    apply_carp(&mut c, &p("vhid 9")).unwrap();
    assert_eq!(
        (c.vhid, c.balanced(), c.balancing),
        (9, false, Balancing::None)
    );
}

#[test]
fn print_as_ifconfig_does() {
    let mut c = CarpConfig::default();
    apply_carp(
        &mut c,
        &p("inet 172.16.240.102/24 carpdev r11 balancing ip carpnodes 3:0,4:100"),
    )
    .unwrap();
    let mut s = status("carp0", c, CarpState::Master, 5);
    s.lladdr = [1, 0, 0x5e, 0, 1, 3];
    s.nodes = vec![
        NodeStatus {
            vhid: 3,
            advskew: 0,
            state: CarpState::Master,
        },
        NodeStatus {
            vhid: 4,
            advskew: 100,
            state: CarpState::Backup,
        },
    ];
    let out = print_carp(&s);
    let want = "\tlladdr 01:00:5e:00:01:03\n";
    assert!(out.contains(want), "{out}");
    let want = "\tcarp: carpdev r11 advbase 1 balancing ip\n\t\tstate MASTER vhid 3 advskew 0\n\t\tstate BACKUP vhid 4 advskew 100\n\tgroups: carp\n";
    assert!(out.contains(want), "{out}");
}

#[test]
fn seed_002_hostname_files() {
    // The article's /etc/hostname.carp0 of Donald and Daisy (with the
    // carpdev current systems need).
    for (line, nodes) in [
        (
            "inet 172.16.240.102 255.255.255.0 172.16.240.255 balancing ip carpnodes 3:0,4:100 carpdev r11\npass password3\n",
            [node(3, 0), node(4, 100)],
        ),
        (
            "inet 172.16.240.102 255.255.255.0 172.16.240.255 balancing ip carpnodes 3:100,4:0 carpdev r11\npass password3\n",
            [node(3, 100), node(4, 0)],
        ),
    ] {
        let mut cfg = CarpConfig::default();
        for l in hostname_if::parse(line, "carp0").unwrap() {
            match l {
                HostnameLine::Ifconfig(a) => {
                    let ops = parse_args(&a).unwrap();
                    apply_carp(&mut cfg, &ops).unwrap();
                }
                HostnameLine::Command(c) => panic!("unexpected command {c}"),
            }
        }
        assert_eq!(cfg.nodes(), nodes.to_vec());
        assert_eq!(cfg.balancing, Balancing::Ip);
        assert_eq!(cfg.key, b"password3");
        assert_eq!(cfg.addrs.len(), 1);
    }
}

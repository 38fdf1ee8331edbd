//! Step 2: ops applied to carp and pfsync configurations.

use super::*;

fn carp_with(line: &str) -> (CarpConfig, CarpActions) {
    let mut c = CarpConfig::default();
    let a = apply_carp(&mut c, &p(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
    (c, a)
}

fn addr(n: &str, b: Option<&str>) -> IfAddr {
    IfAddr {
        net: net(n),
        broadcast: b.map(v4),
    }
}

#[test]
fn apply_seed_line() {
    let (c, a) = carp_with("inet 192.0.2.1 netmask 255.255.255.0 broadcast 192.0.2.255 vhid 1 carpdev hvn3 pass hvn3pass advskew 128");
    assert_eq!(c.vhid, 1);
    assert_eq!(c.advbase, 1);
    assert_eq!(c.advskew, 128);
    assert_eq!(c.key, b"hvn3pass".to_vec());
    assert_eq!(c.carpdev.as_deref(), Some("hvn3"));
    assert_eq!(c.carppeer, None);
    assert_eq!(c.addrs, vec![addr("192.0.2.1/24", Some("192.0.2.255"))]);
    assert!(c.up, "adding an address brings a carp interface up");
    assert_eq!(a, CarpActions::default());
}

#[test]
fn address_needs_carpdev() {
    // carpdev later on the same line is fine: the address is set last
    let (c, _) = carp_with("inet 192.0.2.1/24 vhid 1 carpdev em0");
    assert_eq!(c.addrs.len(), 1);
    // no carpdev at all
    let mut c = CarpConfig::default();
    let e = apply_carp(&mut c, &p("inet 192.0.2.1/24 vhid 1")).unwrap_err();
    assert!(
        e.message().starts_with("SIOCAIFADDR: Invalid argument"),
        "{e}"
    );
    assert_eq!(c, CarpConfig::default(), "nothing applied on error");
    // carpdev from an earlier command
    let mut c = CarpConfig::default();
    apply_carp(&mut c, &p("vhid 1 carpdev em0")).unwrap();
    apply_carp(&mut c, &p("inet 192.0.2.1/24")).unwrap();
    assert_eq!(c.addrs.len(), 1);
    // -carpdev on the same line wins, wherever it is
    let mut c2 = c.clone();
    assert!(apply_carp(&mut c2, &p("inet alias 192.0.2.2/32 -carpdev")).is_err());
    assert_eq!(c2, c);
    // hand-built op lists: address ops are deferred whatever their position
    let mut c = CarpConfig::default();
    let ops = vec![
        inet("192.0.2.9/24", None, false),
        IfOp::Carpdev("em1".into()),
        IfOp::Vhid(9),
    ];
    apply_carp(&mut c, &ops).unwrap();
    assert_eq!(c.addrs, vec![addr("192.0.2.9/24", Some("192.0.2.255"))]);
    // deleting needs no carpdev
    let mut c = CarpConfig {
        addrs: vec![addr("192.0.2.9/24", None)],
        ..CarpConfig::default()
    };
    apply_carp(&mut c, &p("inet 192.0.2.9 delete")).unwrap();
    assert!(c.addrs.is_empty());
}

#[test]
fn replace_alias_delete() {
    let (mut c, _) = carp_with("inet 192.0.2.1/24 carpdev em0 vhid 1");
    // the same in two commands
    let mut c0 = CarpConfig::default();
    apply_carp(&mut c0, &p("carpdev em0 vhid 1")).unwrap();
    apply_carp(&mut c0, &p("inet 192.0.2.1/24")).unwrap();
    assert_eq!(c, c0);

    apply_carp(&mut c, &p("inet alias 192.0.2.2/24")).unwrap();
    apply_carp(&mut c, &p("inet6 2001:db8::1 64")).unwrap();
    assert_eq!(
        c.addrs,
        vec![
            addr("192.0.2.1/24", Some("192.0.2.255")),
            addr("192.0.2.2/24", Some("192.0.2.255")),
            addr("2001:db8::1/64", None),
        ]
    );
    // without alias: the first IPv4 address is replaced, the new one goes last
    apply_carp(&mut c, &p("inet 192.0.2.3/25")).unwrap();
    assert_eq!(
        c.addrs,
        vec![
            addr("192.0.2.2/24", Some("192.0.2.255")),
            addr("2001:db8::1/64", None),
            addr("192.0.2.3/25", Some("192.0.2.127")),
        ]
    );
    // alias of an existing address updates it in place
    apply_carp(&mut c, &p("inet alias 192.0.2.2/26 broadcast 192.0.2.1")).unwrap();
    assert_eq!(c.addrs[0], addr("192.0.2.2/26", Some("192.0.2.1")));
    // inet6 without alias does not replace anything
    apply_carp(&mut c, &p("inet6 2001:db8::2")).unwrap();
    assert_eq!(c.addrs.len(), 4);
    apply_carp(&mut c, &p("inet6 2001:db8::2 delete")).unwrap();
    apply_carp(&mut c, &p("inet 192.0.2.2 -alias")).unwrap();
    assert_eq!(
        c.addrs,
        vec![
            addr("2001:db8::1/64", None),
            addr("192.0.2.3/25", Some("192.0.2.127"))
        ]
    );
    let e = apply_carp(&mut c, &p("inet 198.51.100.1 delete")).unwrap_err();
    assert!(
        e.message()
            .starts_with("SIOCDIFADDR: Can't assign requested address"),
        "{e}"
    );
}

#[test]
fn broadcast_derivation() {
    let b = |line: &str| carp_with(&format!("{line} carpdev em0")).0.addrs[0].broadcast;
    assert_eq!(b("inet 192.0.2.1 255.255.255.0"), Some(v4("192.0.2.255")));
    assert_eq!(
        b("inet 10.1.2.3"),
        Some(v4("10.255.255.255")),
        "classful /8"
    );
    assert_eq!(b("inet 169.254.0.1 255.255.255.254"), None, "RFC 3021 /31");
    assert_eq!(b("inet 192.0.2.1/32"), Some(v4("192.0.2.1")));
    assert_eq!(
        b("inet 192.0.2.1/24 broadcast 192.0.2.0"),
        Some(v4("192.0.2.0"))
    );
}

#[test]
fn pass_is_cut_to_19_bytes() {
    let (c, _) = carp_with("pass 0123456789abcdefghijklmnop");
    assert_eq!(c.key, b"0123456789abcdefghi".to_vec());
    assert_eq!(c.key.len(), CARP_KEY_MAX);
    let (c, _) = carp_with("pass 0123456789abcdefghi");
    assert_eq!(c.key.len(), 19);
    let mut c = CarpConfig::default();
    apply_carp(&mut c, &[IfOp::Pass(String::new())]).unwrap();
    assert!(c.key.is_empty());
}

#[test]
fn carp_fields() {
    let (c, _) = carp_with("vhid 7 advbase 0 advskew 254 carppeer 192.0.2.2 carpdev eth1");
    assert_eq!((c.vhid, c.advbase, c.advskew), (7, 0, 254));
    assert_eq!(c.carppeer, Some(v4("192.0.2.2")));
    assert!(!c.up);
    let mut c2 = c.clone();
    apply_carp(&mut c2, &p("-carppeer -carpdev")).unwrap();
    assert_eq!((c2.carppeer, c2.carpdev), (None, None));
    for peer in ["224.0.0.18", "0.0.0.0"] {
        let (c, _) = carp_with(&format!("carppeer {peer}"));
        assert_eq!(c.carppeer, None, "{peer} means the multicast group");
    }
    let mut c = CarpConfig::default();
    assert!(apply_carp(&mut c, &p("carppeer 224.0.0.1")).is_err());
    assert!(apply_carp(&mut c, &p("carppeer 255.255.255.255")).is_err());
    assert_eq!(
        apply_carp(&mut c, &p("carpdev carp0"))
            .unwrap_err()
            .to_string(),
        "carpdev carp0: not an Ethernet interface"
    );
    let (c, _) = carp_with("description \"x\" up");
    assert_eq!(c.description.as_deref(), Some("\"x\""));
    let mut c = c;
    apply_carp(&mut c, &p("-description down")).unwrap();
    assert_eq!(c.description, None);
    assert!(!c.up);
}

#[test]
fn hand_built_ops_are_checked() {
    let mut c = CarpConfig::default();
    for (op, msg) in [
        (IfOp::Vhid(0), "vhid 0: too small"),
        (IfOp::Advbase(255), "advbase 255: too large"),
        (IfOp::Advskew(255), "advskew 255: too large"),
        (IfOp::Mtu(u32::MAX), "mtu 4294967295: too large"),
        (
            IfOp::Carpdev(String::new()),
            "carpdev: interface name required",
        ),
        (
            IfOp::Group("x1".into()),
            "setifgroup: group names may not end in a digit",
        ),
        (
            IfOp::Description("d".repeat(64)),
            "description: too long (64 bytes, at most 63)",
        ),
        (
            IfOp::Inet6 {
                net: net("192.0.2.1/24"),
                alias: false,
            },
            "192.0.2.1: bad value",
        ),
    ] {
        let ops = vec![IfOp::Carpdev("em0".into()), op];
        assert_eq!(apply_carp(&mut c, &ops).unwrap_err().to_string(), msg);
    }
    assert_eq!(c, CarpConfig::default());
}

#[test]
fn state_destroy_create_groups_mtu() {
    let (_, a) = carp_with("state master");
    assert_eq!(a.force_state, Some(CarpState::Master));
    let (_, a) = carp_with("state BACKUP");
    assert_eq!(a.force_state, Some(CarpState::Backup));
    let (_, a) = carp_with("state init");
    assert_eq!(
        a.force_state, None,
        "state init is a no-op, as in the kernel"
    );
    let (_, a) = carp_with("destroy");
    assert!(a.destroy);
    let mut c = CarpConfig::default();
    assert_eq!(
        apply_carp(&mut c, &p("destroy up"))
            .unwrap_err()
            .to_string(),
        "up: not allowed after destroy"
    );
    let (_, a) = carp_with("create");
    assert!(a.create && !a.destroy);
    let (_, a) = carp_with("mtu 1400 group dmz group carp group dmz -group lan");
    assert_eq!(a.mtu, Some(1400));
    assert_eq!(a.groups_add, vec!["dmz".to_string()]);
    assert_eq!(a.groups_del, vec!["lan".to_string()]);
    let (_, a) = carp_with("group dmz -group dmz");
    assert!(a.groups_add.is_empty());
    assert_eq!(a.groups_del, vec!["dmz".to_string()]);
    let mut c = CarpConfig::default();
    assert_eq!(
        apply_carp(&mut c, &p("-group carp"))
            .unwrap_err()
            .to_string(),
        "-group carp: the interface cannot leave its own group"
    );
}

#[test]
fn carp_refuses_foreign_ops() {
    let mut c = CarpConfig::default();
    for (line, msg) in [
        ("syncdev em2", "syncdev: not supported on carp interfaces"),
        ("-syncdev", "-syncdev: not supported on carp interfaces"),
        (
            "syncpeer 10.0.0.1",
            "syncpeer: not supported on carp interfaces",
        ),
        ("maxupd 10", "maxupd: not supported on carp interfaces"),
        ("defer", "defer: not supported on carp interfaces"),
        ("carpdemote 10", "carpdemote: only valid with -g group"),
        ("-carpdemote", "-carpdemote: only valid with -g group"),
    ] {
        assert_eq!(
            apply_carp(&mut c, &p(line)).unwrap_err().to_string(),
            msg,
            "{line}"
        );
    }
    assert_eq!(c, CarpConfig::default());
}

#[test]
fn down_then_address_ends_up() {
    // as on OpenBSD: "down" is an immediate SIOCSIFFLAGS, the address is
    // added afterwards and carp's SIOCSIFADDR sets IFF_UP again
    let (c, _) = carp_with("inet 192.0.2.1/24 carpdev em0 down");
    assert!(c.up);
    let (c, _) = carp_with("carpdev em0 down");
    assert!(!c.up);
}

// ------------------------------------------------------------ apply_pfsync

fn pf(cfg: &mut PfsyncConfig, line: &str) -> Result<PfsyncActions, IfconfigError> {
    apply_pfsync(cfg, &p(line))
}

#[test]
fn pfsync_seed_line_and_rerun() {
    let mut c = PfsyncConfig::default();
    pf(&mut c, "up syncdev hvn2").unwrap();
    assert!(c.up);
    assert_eq!(c.syncdev.as_deref(), Some("hvn2"));
    assert_eq!(c.maxupd, 128);
    // rc(8) runs netstart pfsync0 again after loading pf.conf
    let before = c.clone();
    pf(&mut c, "up syncdev hvn2").unwrap();
    assert_eq!(c, before);
}

#[test]
fn pfsync_busy_rules() {
    let mut c = PfsyncConfig::default();
    pf(&mut c, "up syncdev em2").unwrap();
    let e = pf(&mut c, "syncdev em3").unwrap_err();
    assert!(e.message().starts_with("SIOCSETPFSYNC: Device busy"), "{e}");
    assert!(pf(&mut c, "-syncdev").is_err());
    assert_eq!(c.syncdev.as_deref(), Some("em2"));
    // maxupd, defer, the peer and the pass may change while running
    pf(&mut c, "maxupd 64 defer syncpeer 10.0.0.9 pass s3cret").unwrap();
    assert_eq!((c.maxupd, c.defer), (64, true));
    assert_eq!(c.syncpeer, Some(v4("10.0.0.9")));
    assert_eq!(c.pass.as_deref(), Some("s3cret"));
    pf(&mut c, "-syncpeer -pass").unwrap();
    assert_eq!((c.syncpeer, c.pass.clone()), (None, None));
    // the syncdev: bring it down first, on the same line
    pf(&mut c, "down syncdev em3 syncpeer 10.0.0.2 up").unwrap();
    assert_eq!(c.syncdev.as_deref(), Some("em3"));
    assert_eq!(c.syncpeer, Some(v4("10.0.0.2")));
    assert!(c.up);
    // not running without a syncdev: "up" then "syncdev" on separate lines
    let mut c = PfsyncConfig::default();
    pf(&mut c, "up").unwrap();
    pf(&mut c, "syncdev em2").unwrap();
    assert!(c.up && c.syncdev.is_some());
}

#[test]
fn pfsync_fields() {
    let mut c = PfsyncConfig::default();
    pf(
        &mut c,
        "syncdev em2 syncpeer 10.0.0.2 maxupd 0 -defer description sync",
    )
    .unwrap();
    assert_eq!(c.syncpeer, Some(v4("10.0.0.2")));
    assert_eq!(c.maxupd, 0);
    assert!(!c.defer);
    assert_eq!(c.description.as_deref(), Some("sync"));
    pf(&mut c, "-syncpeer -syncdev").unwrap();
    assert_eq!((c.syncpeer, c.syncdev.clone()), (None, None));
    for peer in ["224.0.0.240", "0.0.0.0"] {
        pf(&mut c, &format!("syncpeer {peer}")).unwrap();
        assert_eq!(c.syncpeer, None);
    }
    assert!(pf(&mut c, "syncpeer 255.255.255.255").is_err());
    let a = pf(&mut c, "create mtu 1400 group sync").unwrap();
    assert!(a.create && a.mtu == Some(1400) && a.groups_add == vec!["sync".to_string()]);
    let a = pf(&mut c, "destroy").unwrap();
    assert!(a.destroy);
    // pfsync is in group carp too, but that is not its own group
    assert!(pf(&mut c, "-group pfsync").is_err());
}

#[test]
fn pfsync_refuses_foreign_ops() {
    let mut c = PfsyncConfig::default();
    for (line, msg) in [
        ("vhid 1", "vhid: not supported on pfsync interfaces"),
        ("advskew 100", "advskew: not supported on pfsync interfaces"),
        ("carpdev em0", "carpdev: not supported on pfsync interfaces"),
        ("state master", "state: not supported on pfsync interfaces"),
        ("-carppeer", "-carppeer: not supported on pfsync interfaces"),
        (
            "inet 10.0.0.1/24",
            "inet: addresses are not supported on pfsync interfaces",
        ),
        (
            "inet6 2001:db8::1",
            "inet6: addresses are not supported on pfsync interfaces",
        ),
        ("carpdemote", "carpdemote: only valid with -g group"),
    ] {
        assert_eq!(pf(&mut c, line).unwrap_err().to_string(), msg, "{line}");
    }
    assert_eq!(c, PfsyncConfig::default());
}

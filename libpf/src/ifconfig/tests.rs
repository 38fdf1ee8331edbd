use super::*;
use crate::hostname_if::{self, HostnameLine};

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn p(s: &str) -> Vec<IfOp> {
    parse_args(&args(s)).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn perr(s: &str) -> String {
    match parse_args(&args(s)) {
        Ok(ops) => panic!("{s}: accepted as {ops:?}"),
        Err(e) => e.to_string(),
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn inet(n: &str, b: Option<&str>, alias: bool) -> IfOp {
    IfOp::Inet {
        net: net(n),
        broadcast: b.map(v4),
        alias,
    }
}

// ---------------------------------------------------------------- strtonum

#[test]
fn strtonum_like_openbsd() {
    assert_eq!(strtonum("1", 1, 255), Ok(1));
    assert_eq!(strtonum("  42", 0, 255), Ok(42));
    assert_eq!(strtonum("+7", 0, 255), Ok(7));
    assert_eq!(strtonum("0", 1, 255), Err("too small"));
    assert_eq!(strtonum("-1", 0, 255), Err("too small"));
    assert_eq!(strtonum("256", 0, 255), Err("too large"));
    assert_eq!(
        strtonum("99999999999999999999999999", 0, 255),
        Err("too large")
    );
    assert_eq!(
        strtonum("-99999999999999999999999999", 0, 255),
        Err("too small")
    );
    assert_eq!(strtonum("", 0, 255), Err("invalid"));
    assert_eq!(strtonum("-", 0, 255), Err("invalid"));
    assert_eq!(strtonum("1 ", 0, 255), Err("invalid"));
    assert_eq!(strtonum("0x10", 0, 255), Err("invalid"));
    assert_eq!(strtonum("abc", 0, 255), Err("invalid"));
}

#[test]
fn masks() {
    assert_eq!(v4_mask_prefix("255.255.255.0"), Some(24));
    assert_eq!(v4_mask_prefix("0xffffff00"), Some(24));
    assert_eq!(v4_mask_prefix("0XFFFFFFFE"), Some(31));
    assert_eq!(v4_mask_prefix("0xffffffff"), Some(32));
    assert_eq!(v4_mask_prefix("0x0"), Some(0));
    assert_eq!(v4_mask_prefix("255.0.255.0"), None);
    assert_eq!(v4_mask_prefix("0x1ffffffff"), None);
    assert_eq!(v4_mask_prefix("4294967040"), Some(24));
    assert_eq!(v4_mask_prefix("24"), None);
    assert_eq!(v4_mask_prefix("mask"), None);
    assert_eq!(classful_prefix(v4("10.1.2.3")), 8);
    assert_eq!(classful_prefix(v4("172.16.0.1")), 16);
    assert_eq!(classful_prefix(v4("192.0.2.1")), 24);
    assert_eq!(classful_prefix(v4("224.0.0.1")), 24);
}

// ------------------------------------------------------------- parse_args

#[test]
fn inet_forms() {
    let want = vec![inet("192.0.2.1/24", Some("192.0.2.255"), false)];
    assert_eq!(p("inet 192.0.2.1 255.255.255.0 192.0.2.255"), want);
    assert_eq!(p("inet 192.0.2.1 0xffffff00 192.0.2.255"), want);
    assert_eq!(
        p("inet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255"),
        want
    );
    assert_eq!(
        p("inet 192.0.2.1 netmask 255.255.255.0 broadcast 192.0.2.255"),
        want
    );
    assert_eq!(p("inet 192.0.2.1/24 broadcast 192.0.2.255"), want);
    assert_eq!(
        p("inet 192.0.2.1/24"),
        vec![inet("192.0.2.1/24", None, false)]
    );
    assert_eq!(
        p("inet 192.0.2.1 prefixlen 24"),
        vec![inet("192.0.2.1/24", None, false)]
    );
    assert_eq!(
        p("inet 192.0.2.1 255.255.255.0"),
        vec![inet("192.0.2.1/24", None, false)]
    );
    // second word not a mask: a broadcast (destination) address
    assert_eq!(
        p("inet 192.0.2.1/25 192.0.2.127"),
        vec![inet("192.0.2.1/25", Some("192.0.2.127"), false)]
    );
    // the address family may be left out
    assert_eq!(p("192.0.2.1/24"), vec![inet("192.0.2.1/24", None, false)]);
    // no mask: classful, as the kernel does
    assert_eq!(p("inet 10.1.2.3"), vec![inet("10.1.2.3/8", None, false)]);
    assert_eq!(
        p("inet 172.16.5.4"),
        vec![inet("172.16.5.4/16", None, false)]
    );
    assert_eq!(p("inet 192.0.2.7"), vec![inet("192.0.2.7/24", None, false)]);
    // alias, before or after the address
    assert_eq!(
        p("inet alias 192.0.2.2/32"),
        vec![inet("192.0.2.2/32", None, true)]
    );
    assert_eq!(
        p("inet 192.0.2.2/32 alias"),
        vec![inet("192.0.2.2/32", None, true)]
    );
    assert_eq!(
        p("inet alias 10.0.1.13 netmask 255.255.255.255 broadcast 10.0.1.13"),
        vec![inet("10.0.1.13/32", Some("10.0.1.13"), true)]
    );
    // a later netmask wins over /len
    assert_eq!(
        p("inet 192.0.2.1/16 netmask 255.255.255.0"),
        vec![inet("192.0.2.1/24", None, false)]
    );
}

#[test]
fn inet6_forms() {
    let want = vec![IfOp::Inet6 {
        net: net("2001:db8::1/64"),
        alias: false,
    }];
    assert_eq!(p("inet6 2001:db8::1 64"), want);
    assert_eq!(p("inet6 2001:db8::1/64"), want);
    assert_eq!(p("inet6 2001:db8::1 prefixlen 64"), want);
    assert_eq!(p("inet6 2001:db8::1"), want, "default prefixlen 64");
    assert_eq!(
        p("inet6 alias 2001:db8::2 prefixlen 128"),
        vec![IfOp::Inet6 {
            net: net("2001:db8::2/128"),
            alias: true
        }]
    );
    assert_eq!(
        p("inet6 2001:db8::3 netmask ffff:ffff:ffff:ffff:ffff:ffff::"),
        vec![IfOp::Inet6 {
            net: net("2001:db8::3/96"),
            alias: false
        }]
    );
    assert_eq!(perr("inet6 2001:db8::1 129"), "prefix 129: too large");
    assert_eq!(perr("inet6 2001:db8::1/129"), "prefix 129: too large");
    assert_eq!(perr("inet6 2001:db8::1 prefixlen x"), "prefix x: invalid");
    assert_eq!(perr("inet6 192.0.2.1"), "192.0.2.1: bad value");
    assert_eq!(
        perr("inet6 2001:db8::1 broadcast 2001:db8::ff"),
        "broadcast: not allowed for inet6"
    );
    assert_eq!(
        perr("inet6 2001:db8::1 2001:db8::2"),
        "2001:db8::2: bad value"
    );
}

#[test]
fn delete_forms() {
    let want = vec![IfOp::DeleteAddr(net("192.0.2.1/32"))];
    assert_eq!(p("inet 192.0.2.1 delete"), want);
    assert_eq!(p("inet 192.0.2.1 -alias"), want);
    assert_eq!(p("inet -alias 192.0.2.1"), want);
    assert_eq!(
        p("inet delete 192.0.2.1/24"),
        vec![IfOp::DeleteAddr(net("192.0.2.1/24"))]
    );
    assert_eq!(
        p("inet6 2001:db8::1 delete"),
        vec![IfOp::DeleteAddr(net("2001:db8::1/128"))]
    );
    assert_eq!(perr("delete"), "delete: no address given");
    assert_eq!(perr("inet -alias"), "-alias: no address given");
}

#[test]
fn address_errors() {
    assert_eq!(perr("inet 300.1.1.1"), "300.1.1.1: bad value");
    assert_eq!(perr("inet 192.0.2.1/33"), "192.0.2.1/33: bad value");
    assert_eq!(perr("inet 192.0.2.1/x"), "192.0.2.1/x: bad value");
    assert_eq!(
        perr("inet 192.0.2.1 netmask 255.0.255.0"),
        "255.0.255.0: non-contiguous mask"
    );
    assert_eq!(perr("inet 192.0.2.1 netmask 24"), "24: non-contiguous mask");
    assert_eq!(perr("inet 192.0.2.1 netmask foo"), "foo: bad value");
    assert_eq!(perr("inet 192.0.2.1 prefixlen 33"), "prefix 33: too large");
    assert_eq!(perr("inet 192.0.2.1 broadcast 1.2.3"), "1.2.3: bad value");
    assert_eq!(
        perr("inet 192.0.2.1 255.255.255.0 192.0.2.255 10.0.0.1"),
        "10.0.0.1: bad value"
    );
    assert_eq!(
        perr("inet 192.0.2.1 192.0.2.255 10.0.0.1"),
        "10.0.0.1: bad value"
    );
    assert_eq!(perr("inet 192.0.2.1 NONE"), "NONE: bad value");
    assert_eq!(perr("netmask 255.255.255.0"), "netmask: no address given");
    assert_eq!(
        perr("broadcast 192.0.2.255 up"),
        "broadcast: no address given"
    );
    assert_eq!(perr("alias"), "alias: no address given");
    assert_eq!(
        perr("inet 192.0.2.1 netmask"),
        "'netmask' requires argument"
    );
    assert_eq!(
        perr("vhid 1 inet 192.0.2.1"),
        "inet: the address family must be the first argument"
    );
    assert_eq!(
        perr("up inet6 2001:db8::1"),
        "inet6: the address family must be the first argument"
    );
}

#[test]
fn address_comes_last() {
    // ifconfig sets the address after every other argument
    assert_eq!(
        p("inet 192.0.2.1 255.255.255.0 192.0.2.255 vhid 1 carpdev hvn3 pass hvn3pass advskew 128"),
        vec![
            IfOp::Vhid(1),
            IfOp::Carpdev("hvn3".into()),
            IfOp::Pass("hvn3pass".into()),
            IfOp::Advskew(128),
            inet("192.0.2.1/24", Some("192.0.2.255"), false),
        ]
    );
    assert_eq!(
        p("inet6 2001:db8::1 64 up"),
        vec![
            IfOp::Up,
            IfOp::Inet6 {
                net: net("2001:db8::1/64"),
                alias: false
            }
        ]
    );
}

#[test]
fn flag_and_generic_ops() {
    assert_eq!(p("up"), vec![IfOp::Up]);
    assert_eq!(p("down"), vec![IfOp::Down]);
    assert_eq!(p("create"), vec![IfOp::Create]);
    assert_eq!(
        p("create vhid 3 up"),
        vec![IfOp::Create, IfOp::Vhid(3), IfOp::Up]
    );
    assert_eq!(
        p("inet create 192.0.2.1/24"),
        vec![IfOp::Create, inet("192.0.2.1/24", None, false)]
    );
    assert_eq!(perr("up create"), "create: must be the first argument");
    assert_eq!(p("destroy"), vec![IfOp::Destroy]);
    assert_eq!(p("mtu 1400"), vec![IfOp::Mtu(1400)]);
    assert_eq!(p("mtu 0"), vec![IfOp::Mtu(0)]);
    assert_eq!(perr("mtu -1"), "mtu -1: too small");
    assert_eq!(perr("mtu 2147483648"), "mtu 2147483648: too large");
    assert_eq!(perr("mtu big"), "mtu big: invalid");
    assert_eq!(perr("mtu"), "'mtu' requires argument");
    let d = vec!["description".to_string(), "name server 1".to_string()];
    assert_eq!(
        parse_args(&d).unwrap(),
        vec![IfOp::Description("name server 1".into())]
    );
    assert_eq!(p("descr uplink"), vec![IfOp::Description("uplink".into())]);
    assert_eq!(p("-description"), vec![IfOp::Description(String::new())]);
    assert_eq!(p("-descr"), vec![IfOp::Description(String::new())]);
    let long = vec!["description".to_string(), "x".repeat(64)];
    assert_eq!(
        parse_args(&long).unwrap_err().to_string(),
        "description: too long (64 bytes, at most 63)"
    );
    let ok = vec!["description".to_string(), "x".repeat(63)];
    assert!(parse_args(&ok).is_ok());
    assert_eq!(p("group dmz"), vec![IfOp::Group("dmz".into())]);
    assert_eq!(p("-group dmz"), vec![IfOp::NoGroup("dmz".into())]);
    assert_eq!(
        perr("group dmz1"),
        "setifgroup: group names may not end in a digit"
    );
    assert_eq!(
        perr("group abcdefghijklmnop"),
        "setifgroup: group name too long"
    );
    assert_eq!(
        perr("-group abcdefghijklmnop"),
        "unsetifgroup: group name too long"
    );
    assert_eq!(
        parse_args(&["group".to_string(), String::new()])
            .unwrap_err()
            .to_string(),
        "setifgroup: group name empty"
    );
}

#[test]
fn carp_ops() {
    assert_eq!(p("vhid 1"), vec![IfOp::Vhid(1)]);
    assert_eq!(p("vhid 255"), vec![IfOp::Vhid(255)]);
    assert_eq!(perr("vhid 0"), "vhid 0: too small");
    assert_eq!(perr("vhid 256"), "vhid 256: too large");
    assert_eq!(perr("vhid 300"), "vhid 300: too large");
    assert_eq!(perr("vhid one"), "vhid one: invalid");
    assert_eq!(perr("vhid"), "'vhid' requires argument");
    assert_eq!(p("advbase 0"), vec![IfOp::Advbase(0)]);
    assert_eq!(p("advbase 254"), vec![IfOp::Advbase(254)]);
    assert_eq!(perr("advbase 255"), "advbase 255: too large");
    assert_eq!(p("advskew 0"), vec![IfOp::Advskew(0)]);
    assert_eq!(p("advskew 254"), vec![IfOp::Advskew(254)]);
    assert_eq!(perr("advskew 255"), "advskew 255: too large");
    assert_eq!(perr("advskew -1"), "advskew -1: too small");
    assert_eq!(p("pass s3cret"), vec![IfOp::Pass("s3cret".into())]);
    assert_eq!(perr("pass"), "'pass' requires argument");
    assert_eq!(p("carpdev em0"), vec![IfOp::Carpdev("em0".into())]);
    assert_eq!(p("-carpdev"), vec![IfOp::NoCarpdev]);
    assert_eq!(
        perr("carpdev abcdefghijklmnop"),
        "carpdev abcdefghijklmnop: interface name too long"
    );
    assert_eq!(
        parse_args(&["carpdev".to_string(), String::new()])
            .unwrap_err()
            .to_string(),
        "carpdev: interface name required"
    );
    assert_eq!(
        p("carppeer 192.0.2.2"),
        vec![IfOp::Carppeer(v4("192.0.2.2"))]
    );
    assert_eq!(p("-carppeer"), vec![IfOp::NoCarppeer]);
    assert_eq!(
        perr("carppeer 2001:db8::1"),
        "carppeer 2001:db8::1: not a valid IPv4 address"
    );
    assert_eq!(
        perr("carppeer peerhost"),
        "carppeer peerhost: not a valid IPv4 address"
    );
    for (w, s) in [
        ("init", CarpState::Init),
        ("INIT", CarpState::Init),
        ("backup", CarpState::Backup),
        ("Backup", CarpState::Backup),
        ("master", CarpState::Master),
        ("MASTER", CarpState::Master),
    ] {
        assert_eq!(p(&format!("state {w}")), vec![IfOp::State(s)]);
    }
    assert_eq!(
        perr("state primary"),
        "state primary: unknown state (init, backup or master)"
    );
}

#[test]
fn pfsync_ops() {
    assert_eq!(p("syncdev em2"), vec![IfOp::Syncdev("em2".into())]);
    assert_eq!(p("syncif em2"), vec![IfOp::Syncdev("em2".into())]);
    assert_eq!(p("-syncdev"), vec![IfOp::NoSyncdev]);
    assert_eq!(p("-syncif"), vec![IfOp::NoSyncdev]);
    assert_eq!(p("syncpeer 10.0.0.2"), vec![IfOp::Syncpeer(v4("10.0.0.2"))]);
    assert_eq!(p("-syncpeer"), vec![IfOp::NoSyncpeer]);
    assert_eq!(
        perr("syncpeer ::1"),
        "syncpeer ::1: not a valid IPv4 address"
    );
    assert_eq!(p("maxupd 0"), vec![IfOp::Maxupd(0)]);
    assert_eq!(p("maxupd 255"), vec![IfOp::Maxupd(255)]);
    assert_eq!(perr("maxupd 256"), "maxupd 256: too large");
    assert_eq!(p("defer"), vec![IfOp::Defer(true)]);
    assert_eq!(p("-defer"), vec![IfOp::Defer(false)]);
    assert_eq!(
        p("up syncpeer 10.254.254.2 syncdev bnx1"),
        vec![
            IfOp::Up,
            IfOp::Syncpeer(v4("10.254.254.2")),
            IfOp::Syncdev("bnx1".into())
        ]
    );
}

#[test]
fn carpdemote_ops() {
    assert_eq!(p("carpdemote"), vec![IfOp::Carpdemote(1)]);
    assert_eq!(p("carpdemote 50"), vec![IfOp::Carpdemote(50)]);
    assert_eq!(p("carpdemote 0"), vec![IfOp::Carpdemote(0)]);
    assert_eq!(p("-carpdemote 128"), vec![IfOp::NoCarpdemote(128)]);
    assert_eq!(p("-carpdemote"), vec![IfOp::NoCarpdemote(1)]);
    assert_eq!(p("carpdemote up"), vec![IfOp::Carpdemote(1), IfOp::Up]);
    assert_eq!(
        perr("carpdemote 129"),
        "invalid carp demotion 129: too large"
    );
    assert_eq!(
        perr("carpdemote lots"),
        "invalid carp demotion lots: invalid"
    );

    let g = |a: &str| parse_group_args("carp", &args(a));
    assert_eq!(g("carpdemote"), Ok(1));
    assert_eq!(g("carpdemote 128"), Ok(128));
    assert_eq!(g("-carpdemote 128"), Ok(-128));
    assert_eq!(g("-carpdemote"), Ok(-1));
    assert_eq!(
        g("carpdemote 129").unwrap_err().to_string(),
        "carp: invalid carp demotion: too large"
    );
    assert_eq!(
        g("carpdemote x").unwrap_err().to_string(),
        "carp: invalid carp demotion: invalid"
    );
    assert!(g("up").is_err());
    assert!(g("").is_err());
    assert!(g("carpdemote 1 2").is_err());
}

#[test]
fn unknown_and_unsupported() {
    assert_eq!(perr("foo"), "unknown option: foo");
    assert_eq!(perr("vhid 1 vhdi 2"), "unknown option: vhdi");
    assert_eq!(
        perr("media autoselect"),
        "media: not supported on carp and pfsync interfaces"
    );
    assert_eq!(
        perr("carpnodes 1:0,2:100"),
        "carpnodes: not supported on carp and pfsync interfaces"
    );
    assert_eq!(
        perr("balancing ip"),
        "balancing: not supported on carp and pfsync interfaces"
    );
    assert_eq!(
        perr("-inet"),
        "-inet: not supported on carp and pfsync interfaces"
    );
    assert_eq!(
        perr("inet autoconf"),
        "autoconf: not supported (carp and pfsync interfaces have static addresses; netstart leaves DHCP and SLAAC to the system's own client)"
    );
    assert_eq!(p(""), vec![]);
    assert_eq!(parse_args(&[]).unwrap(), vec![]);
}

// -------------------------------------------------------------- apply_carp

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
    assert!(pf(&mut c, "syncpeer 10.0.0.2").is_err());
    assert_eq!(c.syncdev.as_deref(), Some("em2"));
    // maxupd and defer may change while running
    pf(&mut c, "maxupd 64 defer").unwrap();
    assert_eq!((c.maxupd, c.defer), (64, true));
    // bring it down first, on the same line
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
        ("pass x", "pass: not supported on pfsync interfaces"),
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

// ---------------------------------------------------------------- printing

/// The seed's blocks are rendered with 8 spaces where OpenBSD prints a tab.
fn seed(block: &str) -> String {
    block.replace("\n        ", "\n\t")
}

const SEED_FW1_CARP1: &str = "carp1: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500
        lladdr 00:00:5e:00:01:01
        index 8 priority 15 llprio 3
        carp: MASTER carpdev hvn3 vhid 1 advbase 1 advskew 0
        groups: carp
        status: master
        inet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255
";

const SEED_FW1_CARP2: &str = "carp2: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500
        lladdr 00:00:5e:00:01:01
        index 9 priority 15 llprio 3
        carp: MASTER carpdev hvn4 vhid 1 advbase 1 advskew 0
        groups: carp
        status: master
        inet 192.168.99.254 netmask 0xffffff00 broadcast 192.168.99.255
";

const SEED_FW2_CARP1_BACKUP: &str =
    "carp1: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500
        lladdr 00:00:5e:00:01:01
        index 8 priority 15 llprio 3
        carp: BACKUP carpdev hvn3 vhid 1 advbase 1 advskew 128
        groups: carp
        status: backup
        inet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255
";

const SEED_FW2_CARP2_BACKUP: &str =
    "carp2: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500
        lladdr 00:00:5e:00:01:01
        index 9 priority 15 llprio 3
        carp: BACKUP carpdev hvn4 vhid 1 advbase 1 advskew 128
        groups: carp
        status: backup
        inet 192.168.99.254 netmask 0xffffff00 broadcast 192.168.99.255
";

/// Printed with real tabs in the seed (fw2 after the failover).
const SEED_FW2_CARP1_MASTER: &str =
    "carp1: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500
\tlladdr 00:00:5e:00:01:01
\tindex 8 priority 15 llprio 3
\tcarp: MASTER carpdev hvn3 vhid 1 advbase 1 advskew 128
\tgroups: carp
\tstatus: master
\tinet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255
";

const SEED_FW2_CARP2_MASTER: &str =
    "carp2: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500
\tlladdr 00:00:5e:00:01:01
\tindex 9 priority 15 llprio 3
\tcarp: MASTER carpdev hvn4 vhid 1 advbase 1 advskew 128
\tgroups: carp
\tstatus: master
\tinet 192.168.99.254 netmask 0xffffff00 broadcast 192.168.99.255
";

/// Seed hostname.carp files, fw1 then fw2.
const FW1_HOSTNAME_CARP1: &str =
    "inet 192.0.2.1 255.255.255.0 192.0.2.255 vhid 1 carpdev hvn3 pass hvn3pass\n";
const FW1_HOSTNAME_CARP2: &str =
    "inet 192.168.99.254 255.255.255.0 192.168.99.255 vhid 1 carpdev hvn4 pass hvn4pass \n";
const FW2_HOSTNAME_CARP1: &str =
    "inet 192.0.2.1 255.255.255.0 192.0.2.255 vhid 1 carpdev hvn3 pass hvn3pass advskew 128\n";
const FW2_HOSTNAME_CARP2: &str =
    "inet 192.168.99.254 255.255.255.0 192.168.99.255 vhid 1 carpdev hvn4 pass hvn4pass advskew 128\n";

/// netstart: read the file, run each line through ifconfig.
fn netstart_carp(file: &str, ifname: &str) -> CarpConfig {
    let mut cfg = CarpConfig::default();
    for line in hostname_if::parse(file, ifname).unwrap() {
        match line {
            HostnameLine::Ifconfig(a) => {
                let ops = parse_args(&a).unwrap();
                apply_carp(&mut cfg, &ops).unwrap();
            }
            HostnameLine::Command(c) => panic!("unexpected command {c}"),
        }
    }
    cfg
}

fn status(name: &str, cfg: CarpConfig, state: CarpState, ifindex: u32) -> CarpStatus {
    let lladdr = [0, 0, 0x5e, 0, 1, cfg.vhid];
    CarpStatus {
        name: name.into(),
        config: cfg,
        state,
        ifindex,
        lladdr,
        demote: 0,
        mtu: 1500,
    }
}

#[test]
fn seed_blocks_byte_for_byte() {
    let cases = [
        (
            FW1_HOSTNAME_CARP1,
            "carp1",
            CarpState::Master,
            8,
            seed(SEED_FW1_CARP1),
        ),
        (
            FW1_HOSTNAME_CARP2,
            "carp2",
            CarpState::Master,
            9,
            seed(SEED_FW1_CARP2),
        ),
        (
            FW2_HOSTNAME_CARP1,
            "carp1",
            CarpState::Backup,
            8,
            seed(SEED_FW2_CARP1_BACKUP),
        ),
        (
            FW2_HOSTNAME_CARP2,
            "carp2",
            CarpState::Backup,
            9,
            seed(SEED_FW2_CARP2_BACKUP),
        ),
        (
            FW2_HOSTNAME_CARP1,
            "carp1",
            CarpState::Master,
            8,
            SEED_FW2_CARP1_MASTER.to_string(),
        ),
        (
            FW2_HOSTNAME_CARP2,
            "carp2",
            CarpState::Master,
            9,
            SEED_FW2_CARP2_MASTER.to_string(),
        ),
    ];
    for (file, name, state, idx, want) in cases {
        let cfg = netstart_carp(file, name);
        assert_eq!(
            print_carp(&status(name, cfg, state, idx)),
            want,
            "{name} {state:?}"
        );
    }
}

#[test]
fn seed_round_trip_ops() {
    let ops = |file: &str, ifname: &str| -> Vec<Vec<IfOp>> {
        hostname_if::parse(file, ifname)
            .unwrap()
            .into_iter()
            .map(|l| match l {
                HostnameLine::Ifconfig(a) => parse_args(&a).unwrap(),
                HostnameLine::Command(c) => panic!("{c}"),
            })
            .collect()
    };
    assert_eq!(
        ops(FW2_HOSTNAME_CARP1, "carp1"),
        vec![vec![
            IfOp::Vhid(1),
            IfOp::Carpdev("hvn3".into()),
            IfOp::Pass("hvn3pass".into()),
            IfOp::Advskew(128),
            inet("192.0.2.1/24", Some("192.0.2.255"), false),
        ]]
    );
    assert_eq!(
        ops(FW1_HOSTNAME_CARP2, "carp2"),
        vec![vec![
            IfOp::Vhid(1),
            IfOp::Carpdev("hvn4".into()),
            IfOp::Pass("hvn4pass".into()),
            inet("192.168.99.254/24", Some("192.168.99.255"), false),
        ]]
    );
    assert_eq!(
        ops("up syncdev hvn2\n", "pfsync0"),
        vec![vec![IfOp::Up, IfOp::Syncdev("hvn2".into())]]
    );
    assert_eq!(
        ops("inet 169.254.0.1 255.255.255.254\n", "hvn2"),
        vec![vec![inet("169.254.0.1/31", None, false)]]
    );
    assert_eq!(
        ops("inet 192.0.2.10 255.255.255.0\n", "hvn3"),
        vec![vec![inet("192.0.2.10/24", None, false)]]
    );
    assert_eq!(
        ops("inet 192.168.99.1 255.255.255.0\n", "hvn4"),
        vec![vec![inet("192.168.99.1/24", None, false)]]
    );
    // Seed 001 (fw2's hostname.carp2): no address, a quoted description.
    assert_eq!(
        ops(
            "vhid 133 carpdev vr0 pass vhid133passwd advskew 128 description \"name server 2\"\n",
            "carp2"
        ),
        vec![vec![
            IfOp::Vhid(133),
            IfOp::Carpdev("vr0".into()),
            IfOp::Pass("vhid133passwd".into()),
            IfOp::Advskew(128),
            IfOp::Description("name server 2".into()),
        ]]
    );
    // Seed 001 as scraped ("inet vhid 132 ..."; its address, mask and
    // broadcast were lost): netstart's positional unpacking turns it into
    // "inet vhid netmask 132 ...", which ifconfig rejects the same way.
    let lines = hostname_if::parse(
        "inet vhid 132 carpdev vr0 pass vhid132passwd advskew 128 description \"name server 1\"\n",
        "carp1",
    )
    .unwrap();
    let HostnameLine::Ifconfig(a) = &lines[0] else {
        panic!()
    };
    assert_eq!(
        parse_args(a).unwrap_err().to_string(),
        "vhid netmask: invalid"
    );
    // ... and with an address put back it is fine:
    assert_eq!(
        ops(
            "inet 192.0.2.53 255.255.255.0 NONE vhid 132 carpdev vr0 pass vhid132passwd advskew 128 description \"name server 1\"\n",
            "carp1"
        ),
        vec![vec![
            IfOp::Vhid(132),
            IfOp::Carpdev("vr0".into()),
            IfOp::Pass("vhid132passwd".into()),
            IfOp::Advskew(128),
            IfOp::Description("name server 1".into()),
            inet("192.0.2.53/24", None, false),
        ]]
    );
}

#[test]
fn seed_pfsync_block() {
    let mut cfg = PfsyncConfig::default();
    for line in hostname_if::parse("up syncdev hvn2\n", "pfsync0").unwrap() {
        let HostnameLine::Ifconfig(a) = line else {
            panic!()
        };
        apply_pfsync(&mut cfg, &parse_args(&a).unwrap()).unwrap();
    }
    let st = PfsyncStatus {
        config: cfg,
        running: true,
        mtu: 1500,
    };
    assert_eq!(
        print_pfsync_indexed(&st, 7),
        "pfsync0: flags=41<UP,RUNNING> mtu 1500\n\
         \tindex 7 priority 0 llprio 3\n\
         \tpfsync: syncdev: hvn2 maxupd: 128 defer: off\n\
         \tgroups: carp pfsync\n"
    );
    assert_eq!(
        print_pfsync(&st),
        "pfsync0: flags=41<UP,RUNNING> mtu 1500\n\
         \tpriority 0 llprio 3\n\
         \tpfsync: syncdev: hvn2 maxupd: 128 defer: off\n\
         \tgroups: carp pfsync\n"
    );
}

#[test]
fn pfsync_block_variants() {
    let mut cfg = PfsyncConfig::default();
    let st = |cfg: &PfsyncConfig, running| PfsyncStatus {
        config: cfg.clone(),
        running,
        mtu: 1500,
    };
    assert_eq!(
        print_pfsync_indexed(&st(&cfg, false), 5),
        "pfsync0: flags=0<> mtu 1500\n\tindex 5 priority 0 llprio 3\n\tgroups: carp pfsync\n"
    );
    apply_pfsync(
        &mut cfg,
        &p("syncdev em2 syncpeer 10.0.0.2 maxupd 64 defer"),
    )
    .unwrap();
    let desc = vec!["description".to_string(), "sync link".to_string()];
    apply_pfsync(&mut cfg, &parse_args(&desc).unwrap()).unwrap();
    apply_pfsync(&mut cfg, &p("up")).unwrap();
    assert_eq!(
        print_pfsync_indexed(&st(&cfg, false), 5),
        "pfsync0: flags=1<UP> mtu 1500\n\
         \tdescription: sync link\n\
         \tindex 5 priority 0 llprio 3\n\
         \tpfsync: syncdev: em2 syncpeer: 10.0.0.2 maxupd: 64 defer: on\n\
         \tgroups: carp pfsync\n"
    );
    let mut s = st(&cfg, true);
    s.mtu = 0;
    assert!(print_pfsync(&s).starts_with("pfsync0: flags=41<UP,RUNNING>\n"));
    // the group address is not printed as a peer
    s.config.syncpeer = Some(PFSYNC_GROUP);
    assert!(print_pfsync(&s).contains("\tpfsync: syncdev: em2 maxupd: 64 defer: on\n"));
}

fn basic_carp() -> CarpConfig {
    let mut c = CarpConfig::default();
    apply_carp(&mut c, &p("inet 192.0.2.1/24 vhid 1 carpdev em0")).unwrap();
    c
}

#[test]
fn carp_block_flags() {
    // up and running
    let s = status("carp1", basic_carp(), CarpState::Backup, 4);
    assert!(print_carp(&s)
        .starts_with("carp1: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n"));
    // up but INIT: no RUNNING
    let s = status("carp1", basic_carp(), CarpState::Init, 4);
    let out = print_carp(&s);
    assert!(
        out.starts_with("carp1: flags=8803<UP,BROADCAST,SIMPLEX,MULTICAST> mtu 1500\n"),
        "{out}"
    );
    assert!(out.contains("\tcarp: INIT carpdev em0 vhid 1 advbase 1 advskew 0\n"));
    assert!(out.contains("\tstatus: invalid\n"));
    // down
    let mut c = basic_carp();
    apply_carp(&mut c, &p("down")).unwrap();
    let s = status("carp1", c, CarpState::Init, 4);
    assert_eq!(
        print_carp(&s),
        "carp1: flags=8802<BROADCAST,SIMPLEX,MULTICAST> mtu 1500\n\
         \tlladdr 00:00:5e:00:01:01\n\
         \tindex 4 priority 15 llprio 3\n\
         \tcarp: INIT carpdev em0 vhid 1 advbase 1 advskew 0\n\
         \tgroups: carp\n\
         \tstatus: invalid\n\
         \tinet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255\n"
    );
}

#[test]
fn carp_block_fresh_interface() {
    // just created: no vhid, no carp line, zero lladdr, no index yet
    let s = CarpStatus {
        name: "carp5".into(),
        config: CarpConfig::default(),
        state: CarpState::Init,
        ifindex: 0,
        lladdr: [0; 6],
        demote: 0,
        mtu: 1500,
    };
    assert_eq!(
        print_carp(&s),
        "carp5: flags=8802<BROADCAST,SIMPLEX,MULTICAST> mtu 1500\n\
         \tlladdr 00:00:00:00:00:00\n\
         \tpriority 15 llprio 3\n\
         \tgroups: carp\n\
         \tstatus: invalid\n"
    );
}

#[test]
fn carp_block_everything() {
    let mut c = CarpConfig::default();
    apply_carp(
        &mut c,
        &p("vhid 18 advbase 2 advskew 100 carpdev vlan10 carppeer 192.0.2.2"),
    )
    .unwrap();
    let d = vec!["description".to_string(), "web VIP".to_string()];
    apply_carp(&mut c, &parse_args(&d).unwrap()).unwrap();
    apply_carp(&mut c, &p("inet 198.51.100.10/28")).unwrap();
    apply_carp(&mut c, &p("inet alias 198.51.100.11/32")).unwrap();
    apply_carp(&mut c, &p("inet6 2001:db8::10 64")).unwrap();
    apply_carp(&mut c, &p("inet6 fe80::1 64")).unwrap();
    apply_carp(&mut c, &p("inet alias 203.0.113.1/31")).unwrap();
    let s = status("carp18", c, CarpState::Master, 27);
    assert_eq!(
        print_carp(&s),
        "carp18: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n\
         \tlladdr 00:00:5e:00:01:12\n\
         \tdescription: web VIP\n\
         \tindex 27 priority 15 llprio 3\n\
         \tcarp: MASTER carpdev vlan10 vhid 18 advbase 2 advskew 100 carppeer 192.0.2.2\n\
         \tgroups: carp\n\
         \tstatus: master\n\
         \tinet 198.51.100.10 netmask 0xfffffff0 broadcast 198.51.100.15\n\
         \tinet 198.51.100.11 netmask 0xffffffff broadcast 198.51.100.11\n\
         \tinet6 2001:db8::10 prefixlen 64\n\
         \tinet6 fe80::1%carp18 prefixlen 64 scopeid 0x1b\n\
         \tinet 203.0.113.1 netmask 0xfffffffe\n"
    );
}

#[test]
fn carp_block_misc() {
    let mut c = basic_carp();
    c.carpdev = None;
    c.carppeer = Some(CARP_GROUP);
    let s = status("carp1", c, CarpState::Backup, 4);
    let out = print_carp(&s);
    assert!(
        out.contains("\tcarp: BACKUP carpdev none vhid 1 advbase 1 advskew 0\n"),
        "{out}"
    );
    assert!(out.contains("\tstatus: backup\n"));
    let mut s = s;
    s.mtu = 0;
    s.config.addrs.push(IfAddr {
        net: net("0.0.0.0/0"),
        broadcast: None,
    });
    let out = print_carp(&s);
    assert!(out.starts_with("carp1: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>\n"));
    assert!(out.ends_with("\tinet 0.0.0.0 netmask 0x0\n"));
}

#[test]
fn flags_and_macs() {
    assert_eq!(format_flags(0), "flags=0<>");
    assert_eq!(
        format_flags(0x8843),
        "flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>"
    );
    assert_eq!(
        format_flags(0x8b43),
        "flags=8b43<UP,BROADCAST,RUNNING,PROMISC,ALLMULTI,SIMPLEX,MULTICAST>"
    );
    assert_eq!(
        format_flags(0x8a43),
        "flags=8a43<UP,BROADCAST,RUNNING,ALLMULTI,SIMPLEX,MULTICAST>"
    );
    assert_eq!(
        format_mac(&[0, 0x15, 0x5d, 0xf4, 0x91, 0xef]),
        "00:15:5d:f4:91:ef"
    );
}

// --------------------------------------------------------------- proptests

mod props {
    use super::*;
    use proptest::prelude::*;

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("inet".to_string()),
            Just("inet6".to_string()),
            Just("alias".to_string()),
            Just("-alias".to_string()),
            Just("delete".to_string()),
            Just("netmask".to_string()),
            Just("broadcast".to_string()),
            Just("prefixlen".to_string()),
            Just("vhid".to_string()),
            Just("advbase".to_string()),
            Just("advskew".to_string()),
            Just("pass".to_string()),
            Just("carpdev".to_string()),
            Just("-carpdev".to_string()),
            Just("carppeer".to_string()),
            Just("state".to_string()),
            Just("syncdev".to_string()),
            Just("syncpeer".to_string()),
            Just("maxupd".to_string()),
            Just("defer".to_string()),
            Just("carpdemote".to_string()),
            Just("-carpdemote".to_string()),
            Just("group".to_string()),
            Just("-group".to_string()),
            Just("create".to_string()),
            Just("destroy".to_string()),
            Just("up".to_string()),
            Just("down".to_string()),
            Just("mtu".to_string()),
            Just("description".to_string()),
            "[0-9]{1,4}",
            "-?[0-9]{1,25}",
            "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(/[0-9]{1,3})?",
            "0x[0-9a-fA-F]{0,18}",
            "[0-9a-f:]{0,20}(/[0-9]{1,3})?",
            "[a-z]{1,8}[0-9]{0,2}",
            "\\PC{0,20}",
        ]
    }

    proptest! {
        #[test]
        fn parse_args_never_panics(words in proptest::collection::vec(word(), 0..12)) {
            if let Ok(ops) = parse_args(&words) {
                let mut c = CarpConfig::default();
                if apply_carp(&mut c, &ops).is_ok() {
                    let s = CarpStatus {
                        name: "carp1".into(), config: c, state: CarpState::Master,
                        ifindex: 3, lladdr: [0, 0, 0x5e, 0, 1, 1], demote: 0, mtu: 1500,
                    };
                    let _ = print_carp(&s);
                }
                let mut f = PfsyncConfig::default();
                if apply_pfsync(&mut f, &ops).is_ok() {
                    let _ = print_pfsync(&PfsyncStatus { config: f, running: true, mtu: 1500 });
                }
            }
        }

        #[test]
        fn parse_args_never_panics_on_anything(words in proptest::collection::vec("\\PC{0,30}", 0..10)) {
            let _ = parse_args(&words);
            if let Some(g) = words.first() {
                let _ = parse_group_args(g, &words[1..]);
            }
        }

        #[test]
        fn hostname_then_ifconfig_never_panics(text in "\\PC{0,200}") {
            if let Ok(lines) = hostname_if::parse(&text, "carp1") {
                for l in lines {
                    if let HostnameLine::Ifconfig(a) = l {
                        let _ = parse_args(&a);
                    }
                }
            }
        }

        #[test]
        fn failed_apply_changes_nothing(words in proptest::collection::vec(word(), 0..12)) {
            if let Ok(ops) = parse_args(&words) {
                let mut c = basic_carp();
                let before = c.clone();
                if apply_carp(&mut c, &ops).is_err() {
                    prop_assert_eq!(c, before);
                }
            }
        }
    }
}

//! Step 1: words into ops (strtonum, masks, every keyword, the errors).

use super::*;

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

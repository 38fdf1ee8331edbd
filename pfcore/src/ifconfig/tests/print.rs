//! Step 3: the blocks ifconfig prints, byte for byte against the seed.

use super::*;

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
    // A pass (or a hidden one) shows as auth, never itself.
    s.config.pass = Some("s3cret".into());
    let out = print_pfsync(&s);
    assert!(
        out.contains("defer: on auth: on\n") && !out.contains("s3cret"),
        "{out}"
    );
    s.config = s.config.redacted();
    assert_eq!(s.config.pass.as_deref(), Some(""));
    assert!(print_pfsync(&s).contains("defer: on auth: on\n"));
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
        key_set: false,
        peer: None,
        transitions: 0,
        nodes: Vec::new(),
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

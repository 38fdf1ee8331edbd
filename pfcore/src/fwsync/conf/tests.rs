use super::*;

fn ok(text: &str) -> Config {
    parse(text, "fwsync.conf").unwrap_or_else(|e| panic!("{e:?}"))
}

fn errs(text: &str) -> Vec<String> {
    parse(text, "fwsync.conf")
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn defaults() {
    let c = ok("peer root@fw2\n");
    assert_eq!(c.peer, "root@fw2");
    assert_eq!(c.ssh, ["ssh"]);
    assert_eq!(c.remote, "fwsync");
    assert_eq!(c.ruleset, "/etc/pf.conf");
    let pats: Vec<&str> = c.syncs.iter().map(|s| s.pattern.as_str()).collect();
    assert_eq!(pats, ["/etc/pf.conf", "/etc/hostname.*"]);
}

#[test]
fn full_config() {
    let c = ok(r#"
# fw1 pushes to fw2
peer fw2                           # ssh destination
ssh "ssh -i /etc/fwsync.key -p 2222"
remote "env PF_SOCKET=/run/x.sock /usr/sbin/fwsync"
ruleset /etc/pf/main.conf
replace 10.0.0.2 10.0.0.3
advskew 128
sync "/etc/hostname.*"
sync /etc/ntpd.conf {
	replace "listen on 192.0.2.2" "listen on \"x\""
	run "rcctl restart ntpd"
}
sync /var/nsd/zones/
"#);
    assert_eq!(c.ssh, ["ssh", "-i", "/etc/fwsync.key", "-p", "2222"]);
    assert_eq!(c.remote, "env PF_SOCKET=/run/x.sock /usr/sbin/fwsync");
    assert_eq!(c.ruleset, "/etc/pf/main.conf");
    let pats: Vec<&str> = c.syncs.iter().map(|s| s.pattern.as_str()).collect();
    // the ruleset is synced though no sync line names it
    assert_eq!(
        pats,
        [
            "/etc/pf/main.conf",
            "/etc/hostname.*",
            "/etc/ntpd.conf",
            "/var/nsd/zones/"
        ]
    );
    assert_eq!(c.global.advskew, Some(128));
    let e = c.edits_for("/etc/ntpd.conf");
    assert_eq!(
        e.replace,
        [
            ("10.0.0.2".to_string(), "10.0.0.3".to_string()),
            (
                "listen on 192.0.2.2".to_string(),
                "listen on \"x\"".to_string()
            )
        ]
    );
    assert_eq!(e.run, ["rcctl restart ntpd"]);
    assert!(c.edits_for("/etc/hostname.carp1").run.is_empty());
    assert_eq!(c.edits_for("/var/nsd/zones/a/b").replace.len(), 1);
}

#[test]
fn per_file_advskew_overrides_the_global_one() {
    let c = ok("peer p\nadvskew 100\nsync /etc/hostname.carp2 {\n advskew 200\n}\n");
    assert_eq!(c.edits_for("/etc/hostname.carp1").advskew, Some(100));
    assert_eq!(c.edits_for("/etc/hostname.carp2").advskew, Some(200));
}

#[test]
fn errors_name_file_and_line_and_all_are_reported() {
    let e = errs("peer a\nbogus 1\nadvskew 300\nsync etc/pf.conf\nrun\nreplace x\n");
    assert_eq!(
        e,
        [
            "fwsync.conf:2: unknown keyword bogus",
            "fwsync.conf:3: advskew 300: not a number from 0 to 254",
            "fwsync.conf:4: sync etc/pf.conf: not an absolute path",
            "fwsync.conf:5: run takes one command (quote it)",
            "fwsync.conf:6: replace takes two strings: replace OLD NEW",
        ]
    );
}

#[test]
fn structural_errors() {
    assert_eq!(errs("sync /x\n"), ["fwsync.conf: no peer given"]);
    assert_eq!(
        errs("peer a\npeer b\n"),
        ["fwsync.conf:2: peer given twice"]
    );
    assert_eq!(
        errs("peer \"a\n"),
        ["fwsync.conf:1: unterminated quoted string"]
    );
    assert_eq!(
        errs("peer a\nsync /x {\nrun y\n"),
        ["fwsync.conf:2: sync /x: no closing brace"]
    );
    assert_eq!(
        errs("peer a {\n"),
        ["fwsync.conf:1: peer: a block follows only sync"]
    );
    assert_eq!(
        errs("peer -oProxyCommand=x\n"),
        ["fwsync.conf:1: peer -oProxyCommand=x: begins with -"]
    );
    assert_eq!(
        errs("peer a\nsync /etc/../x\n"),
        ["fwsync.conf:2: sync /etc/../x: .. in the path"]
    );
    assert_eq!(
        errs("peer a\nssh \"\"\n"),
        ["fwsync.conf:2: ssh takes one argument"]
    );
}

#[test]
fn globs() {
    assert!(glob("/etc/hostname.*", "/etc/hostname.carp1"));
    assert!(!glob("/etc/hostname.*", "/etc/hostname.d/x"));
    assert!(glob("/etc/hostname.carp?", "/etc/hostname.carp1"));
    assert!(!glob("/etc/hostname.carp?", "/etc/hostname.carp10"));
    assert!(covers("/var/nsd/zones/", "/var/nsd/zones/x.zone"));
    assert!(covers("/var/nsd/zones", "/var/nsd/zones/x.zone"));
    assert!(!covers("/var/nsd/zones", "/var/nsd/zonesx"));
    assert!(covers("/etc/pf.conf", "/etc/pf.conf"));
    assert!(is_glob("/etc/hostname.*") && !is_glob("/etc/pf.conf"));
}

/// The example fwsync.conf of fw1 makes fw2's files of the example pair
/// out of fw1's, byte for byte.
#[test]
fn the_example_makes_fw2_out_of_fw1() {
    let c = ok(include_str!("../../../../etc-examples/fwsync.conf"));
    assert_eq!(c.peer, "root@169.254.0.0");
    let pairs: &[(&str, &str, &str)] = &[
        (
            "pf.conf",
            include_str!("../../../../etc-examples/fw1/pf.conf"),
            include_str!("../../../../etc-examples/fw2/pf.conf"),
        ),
        (
            "hostname.carp1",
            include_str!("../../../../etc-examples/fw1/hostname.carp1"),
            include_str!("../../../../etc-examples/fw2/hostname.carp1"),
        ),
        (
            "hostname.carp2",
            include_str!("../../../../etc-examples/fw1/hostname.carp2"),
            include_str!("../../../../etc-examples/fw2/hostname.carp2"),
        ),
        (
            "hostname.hvn2",
            include_str!("../../../../etc-examples/fw1/hostname.hvn2"),
            include_str!("../../../../etc-examples/fw2/hostname.hvn2"),
        ),
        (
            "hostname.hvn3",
            include_str!("../../../../etc-examples/fw1/hostname.hvn3"),
            include_str!("../../../../etc-examples/fw2/hostname.hvn3"),
        ),
        (
            "hostname.hvn4",
            include_str!("../../../../etc-examples/fw1/hostname.hvn4"),
            include_str!("../../../../etc-examples/fw2/hostname.hvn4"),
        ),
        (
            "hostname.pfsync0",
            include_str!("../../../../etc-examples/fw1/hostname.pfsync0"),
            include_str!("../../../../etc-examples/fw2/hostname.pfsync0"),
        ),
    ];
    for (name, fw1, fw2) in pairs {
        let path = format!("/etc/{name}");
        assert!(
            c.syncs.iter().any(|s| covers(&s.pattern, &path)),
            "{path} synced"
        );
        let got = crate::fwsync::rewrite::rewrite(&path, &c.edits_for(&path), fw1.as_bytes());
        assert_eq!(String::from_utf8_lossy(&got), *fw2, "{path}");
    }
}

//! Whatever the words: no panic, and a refused line changes nothing.

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
                    ifindex: 3, lladdr: [0, 0, 0x5e, 0, 1, 1], demote: 0, mtu: 1500, key_set: false, peer: None, transitions: 0, nodes: Vec::new(),
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

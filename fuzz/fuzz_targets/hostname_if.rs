//! hostname.if(5) files as netstart reads them, and the ifconfig
//! arguments they turn into: `hostname_if::parse`, then for every ifconfig
//! line `ifconfig::parse_args` and, as carpctl and netstart apply them for
//! pseudo-interfaces, `apply_carp` / `apply_pfsync` on the configuration
//! the earlier lines left (then a `CarpIf` is built from it, as pfd does,
//! and printed as `carpctl carp1` prints it); `parse_group_args` (`carpctl
//! -g GROUP carpdemote N`) and netstart's interface order on the words.
//!
//! The first byte picks the file's interface (carp1, pfsync0, em0,
//! vlan5); the rest is the file, lossily as UTF-8.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libpf::carp::config::{CarpConfig, CarpState, CarpStatus};
use libpf::carp::iface::CarpIf;
use libpf::hostname_if::{self, HostnameLine};
use libpf::ifconfig::{apply_carp, apply_pfsync, parse_args, parse_group_args, print_carp};
use libpf::pfsync::PfsyncConfig;

const NAMES: [&str; 4] = ["carp1", "pfsync0", "em0", "vlan5"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let ifname = NAMES[usize::from(pick) & 3];
    let text = String::from_utf8_lossy(rest);
    let mut carp = CarpConfig::default();
    let mut pfsync = PfsyncConfig::default();
    match hostname_if::parse(&text, ifname) {
        Ok(lines) => {
            for line in lines {
                let HostnameLine::Ifconfig(args) = line else {
                    continue;
                };
                let _ = parse_group_args("carp", &args);
                let Ok(ops) = parse_args(&args) else {
                    continue;
                };
                for o in &ops {
                    let _ = o.keyword();
                }
                match ifname {
                    "carp1" => {
                        let before = carp.clone();
                        if apply_carp(&mut carp, &ops).is_err() {
                            assert_eq!(carp, before, "apply_carp is all or nothing");
                        }
                    }
                    "pfsync0" => {
                        let before = pfsync.clone();
                        if apply_pfsync(&mut pfsync, &ops).is_err() {
                            assert_eq!(pfsync, before, "apply_pfsync is all or nothing");
                        }
                    }
                    _ => {}
                }
            }
        }
        Err(e) => drop(e.to_string()),
    }
    if ifname == "carp1" {
        let mut c = CarpIf::new("carp1", carp.clone());
        let _ = c.advert(false, 0, std::net::Ipv4Addr::new(192, 0, 2, 10), 1);
        let _ = print_carp(&CarpStatus {
            name: "carp1".into(),
            config: carp,
            state: CarpState::Backup,
            ifindex: 7,
            lladdr: [0, 0, 0x5e, 0, 1, 1],
            demote: 0,
            mtu: 1500,
            key_set: false,
            peer: None,
            transitions: 0,
            nodes: Vec::new(),
        });
    }
    let names: Vec<String> = text
        .split_whitespace()
        .take(64)
        .map(|w| w.trim_start_matches("hostname.").to_string())
        .collect();
    let _ = hostname_if::interface_order(&names);
});

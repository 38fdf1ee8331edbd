//! Tests of ifconfig, one file a step (`parse`, `apply`, `print`) and
//! property tests (`props`); the helpers they share are here.

mod apply;
mod balance;
mod parse;
mod print;
mod props;

use super::address::{classful_prefix, v4_mask_prefix};
use super::check::strtonum;
use super::*;
use crate::addr::IpNet;
use crate::carp::{CarpConfig, CarpState, CarpStatus, IfAddr, CARP_KEY_MAX};
use crate::hostname_if::{self, HostnameLine};
use crate::pfsync::{PfsyncConfig, PfsyncStatus};
use std::net::Ipv4Addr;

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

fn basic_carp() -> CarpConfig {
    let mut c = CarpConfig::default();
    apply_carp(&mut c, &p("inet 192.0.2.1/24 vhid 1 carpdev em0")).unwrap();
    c
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
        key_set: false,
        peer: None,
        transitions: 0,
        nodes: Vec::new(),
    }
}

//! libpf: OpenBSD's PF, CARP and pfsync on Linux: the system side.
//!
//! The pure modules live in the `pfcore` crate and are re-exported here
//! under their own names (`libpf::engine` is `pfcore::engine`). This crate
//! adds what touches the running system: `sys` (netlink, raw sockets,
//! netfilter hooks, NFQUEUE, sysctl, name resolution, local time),
//! `ioctl` (the control protocol between pfd and its tools), `daemon`
//! (pfd itself), `syncd` (pfsyncd), `ctl`, `tablectl` and `anchors`
//! (pfctl's requests), `carpctl` (carpctl's passphrase words and
//! warnings), `netstart`, `statefile`, `log` (the daemons' syslog), `cli`
//! (what every tool's main does first), `rcctl` (OpenBSD's rcctl over
//! systemctl), `fwsync` (config sync between the pair over ssh) and
//! `pfmetrics` (the Prometheus export and the health check).

pub use pfcore::{
    addr, carp, conf, engine, errno, fastpath, hostname_if, ifconfig, metrics, osfp, pfsync,
    ruleset, show, statekill, wire,
};

pub mod anchors;
pub mod carpctl;
pub mod cli;
pub mod ctl;
pub mod daemon;
pub mod fwsync;
pub mod ioctl;
pub mod log;
pub mod netstart;
pub mod pflogd;
pub mod pfmetrics;
pub mod rcctl;
pub mod statefile;
pub mod syncd;
pub mod sys;
pub mod tablectl;

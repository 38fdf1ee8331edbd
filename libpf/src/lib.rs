//! libpf: OpenBSD's PF, CARP and pfsync as a library for Linux.
//!
//! Pure modules (no I/O, time passed in): `addr`, `conf`, `ruleset`,
//! `engine`, `wire`, `carp`, `pfsync`, `ifconfig`, `hostname_if`, `show`,
//! and the codec of `ioctl`. `sys` holds the Linux glue (netlink, raw
//! sockets, netfilter hooks, name resolution); `daemon` is pfd itself;
//! `log` is the daemons' syslog.

pub mod addr;
pub mod anchors;
pub mod carp;
pub mod conf;
pub mod ctl;
pub mod daemon;
pub mod engine;
pub mod errno;
pub mod hostname_if;
pub mod ifconfig;
pub mod ioctl;
pub mod log;
pub mod netstart;
pub mod osfp;
pub mod pfsync;
pub mod ruleset;
pub mod show;
pub mod statefile;
pub mod statekill;
pub mod syncd;
pub mod sys;
pub mod tablectl;
pub mod wire;

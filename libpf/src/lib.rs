//! libpf: OpenBSD's PF, CARP and pfsync as a library for Linux.
//!
//! Pure modules (no I/O, time passed in): `addr`, `conf`, `ruleset`,
//! `engine`, `wire`, `carp`, `pfsync`, `ifconfig`, `hostname_if`, and the
//! codec of `ioctl`. `sys` holds the Linux glue (netlink, raw sockets,
//! NFQUEUE, name resolution).

pub mod addr;
pub mod carp;
pub mod conf;
pub mod engine;
pub mod hostname_if;
pub mod ifconfig;
pub mod pfsync;
pub mod ruleset;
pub mod sys;
pub mod wire;
pub mod ioctl;
pub mod show;

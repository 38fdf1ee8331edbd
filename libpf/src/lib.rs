//! libpf: OpenBSD's PF, CARP and pfsync as a library for Linux.
//!
//! Pure modules (no I/O, time passed in): `addr`, `conf`, `ruleset`,
//! `engine`, `wire`, `carp`, `pfsync`, `hostname_if`, and the codec of
//! `ioctl`. `sys` holds the Linux glue (netlink, raw sockets, NFQUEUE).

pub mod addr;
pub mod ruleset;
pub mod carp;
pub mod pfsync;
pub mod ifconfig;
pub mod hostname_if;

//! pfcore: OpenBSD's PF, CARP and pfsync without the system. The pf.conf
//! language (`conf`: parse, expand, print) and the loaded form of a
//! ruleset (`ruleset`), the packet filter (`engine`: rules, states, NAT,
//! tables), the wire formats (`wire`), the CARP and pfsync state machines
//! (`carp`, `pfsync`), the ifconfig and hostname.if languages
//! (`ifconfig`, `hostname_if`), pfctl's output formats (`show`), fwsync's
//! configuration, rewrites and stream (`fwsync`) and the Prometheus
//! exposition of it all (`metrics`).
//!
//! Nothing here opens a socket, reads the clock or calls the C library:
//! time, names and packets are passed in, so every module is tested
//! without root. The one I/O is `conf` reading the files a pf.conf names
//! (`include`, `table ... file`), through std. The `libpf` crate holds the Linux glue and the daemons.

extern crate alloc;

pub mod addr;
pub mod carp;
pub mod conf;
pub mod engine;
pub mod errno;
pub mod fastpath;
pub mod fwsync;
pub mod hostname_if;
pub mod ifconfig;
pub mod metrics;
pub mod osfp;
pub mod pfsync;
pub mod ruleset;
pub mod show;
pub mod statekill;
pub mod wire;

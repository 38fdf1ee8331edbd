//! Linux glue: the parts of libpf that ask the running system.

pub mod netlink;
pub mod resolve;
pub mod sysctl;

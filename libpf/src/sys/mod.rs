//! Linux glue: the parts of libpf that ask or change the running system
//! (netfilter hooks, NFQUEUE, raw sockets, netlink, name resolution).

pub mod hooks;
pub mod raw;
pub mod resolve;

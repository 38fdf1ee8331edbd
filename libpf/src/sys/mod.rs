//! Linux glue: the parts of libpf that ask or change the running system
//! (netfilter hooks, NFQUEUE, raw sockets, netlink, sysctl, name
//! resolution).

pub mod fastpath;
pub mod hooks;
pub mod netlink;
pub mod nfqueue;
pub mod nft_rules;
pub mod policy_routing;
pub mod raw;
pub mod resolve;
pub mod route_query;
pub mod sysctl;
pub mod time;
pub mod xfrm;

//! Linux glue: the parts of libpf that ask or change the running system
//! (netfilter hooks, NFQUEUE, raw sockets, netlink, sysctl, name
//! resolution, readiness for systemd).

pub mod fastpath;
pub mod heap;
pub mod hooks;
pub mod netlink;
pub mod nflog;
pub mod nfqueue;
pub mod nft_rules;
pub mod nftgate;
pub mod notify;
pub mod packet;
pub mod policy_routing;
pub mod raw;
pub mod resolve;
pub mod route_query;
pub mod syncpass;
pub mod sysctl;
pub mod time;
pub mod timer;
pub mod tun;
pub mod xfrm;

/// A read that found nothing yet (timeout, would block, interrupted):
/// the caller tries again rather than treating it as an error.
pub fn transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

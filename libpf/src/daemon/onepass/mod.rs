//! One queueing per forwarded packet: pf's `in` and `out` passes both at
//! PREROUTING, where the packet first comes to pfd, instead of a second
//! trip through NFQUEUE at POSTROUTING.
//!
//! After the `in` pass lets a packet through, pfd asks the kernel where it
//! will go (`sys::route_query`: the kernel's own input route lookup, with
//! the packet as the `in` pass left it: rewritten destination, route-to
//! selector in the mark). When it is forwarded by a single-path unicast
//! route, pfd runs the `out` pass on that interface right away, with the
//! TTL as forwarding will leave it, and gives the packet a mark saying so
//! (`done_mark`): bit 31 (pfd's "not again" bit) and, in the low byte, a
//! code for the interface. pfd's POSTROUTING chain lets such a packet go
//! unqueued only on the interface of that code (one rule per interface,
//! `sys::hooks::allow_filtered`); anywhere else it is queued as before, and
//! pfd filters it `out` on the interface it really takes (a route changed
//! in between).
//!
//! An `out` pass that rewrote the packet (or diverts it) leaves that to
//! POSTROUTING: routed rewritten, the packet could go elsewhere, or be
//! dropped for a source address of the host's own. It goes on as the `in`
//! pass left it with a ticket in its mark (`defer_mark`), is queued again
//! at POSTROUTING, and gets the rewrite kept in `Deferrals` there, without
//! a second `out` pass.
//!
//! Everything else keeps the second queueing: packets for the host, not
//! routed by one unicast path (multipath, broadcast, unreachable),
//! fragments, IP options and IPv6 extension headers, TTL/hop limit 1,
//! bridged packets, tag numbers above 255, an `in` pass that does more
//! than pass (route-to after routing, dup-to, divert, af-to, replies), and
//! everything while the system has netfilter rules of its own between
//! pfd's hooks (`sys::nft_rules`), ip rules on mark bits beyond pfd's route
//! selector, IPsec policies, or IPv6 forwarding off. The design and its
//! limits are in README ("How it maps onto Linux") and pfd(8).

mod codes;
mod defer;
mod mark;
mod predict;

pub use codes::OutCodes;
pub use defer::{prefix_len, Deferrals, Deferred};
pub use mark::{
    defer_mark, defer_ticket, done_mark, from_done_mark, ttl_down, ttl_up, CODE_MASK, DEFER_CODE,
    DONE_BIT,
};
pub use predict::{question, single_path, Predictor};

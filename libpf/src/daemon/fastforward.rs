//! Whether the fast path's program may forward the packets of offloaded
//! flows itself (bpf/fastpath.c, `forward`): that skips the IP stack,
//! netfilter and pfd's hooks, so only while nothing there would act on
//! them besides pfd: no netfilter rules of the system's own where
//! forwarded packets pass (sys::nft_rules::forward_path_clear), no IPsec
//! policies, no ip rules on mark bits beyond pfd's route selector (the
//! program's route lookup takes the mark, as the stack's does), and a
//! kernel whose eBPF route lookup takes the mark at all (Linux 6.10).
//! Carp interfaces do not stand in the way: their gates (netdev ingress
//! chains, which the program would skip) hold the program off their
//! packets while closed (FastPath::hold). Otherwise the program leaves
//! offloaded flows to the stack as before.
//!
//! Checked by the maintenance thread each quarter second when the
//! nftables ruleset changed (its notifications), every 2 s in any case.

use super::fastpath::FastPath;
use crate::log;
use crate::sys::nft_rules::{self, RulesMonitor};
use crate::sys::route_query::RouteQuery;
use std::time::{Duration, Instant};

/// How often everything is checked without a notification (ip rules,
/// IPsec policies and legacy iptables tables come without one).
const FULL_CHECK: Duration = Duration::from_secs(2);

/// The maintenance thread's view of the system, for the fast path.
pub struct ForwardCheck {
    kernel_ok: bool,
    rules: Option<RulesMonitor>,
    rq: Option<RouteQuery>,
    checked: Option<Instant>,
}

impl ForwardCheck {
    pub fn new() -> ForwardCheck {
        let kernel_ok = crate::sys::fastpath::fib_lookup_takes_mark();
        if !kernel_ok {
            log::info(
                "fast path: the kernel's eBPF route lookup does not take packet marks (Linux 6.10): \
                 offloaded flows are forwarded by the IP stack",
            );
        }
        ForwardCheck {
            kernel_ok,
            rules: RulesMonitor::open().ok(),
            rq: RouteQuery::open().ok(),
            checked: None,
        }
    }

    /// Check again when due, and tell the fast path.
    pub fn tick(&mut self, fp: &FastPath) {
        if !self.kernel_ok || !fp.is_on() {
            return;
        }
        // Without notifications: every time.
        let changed = self.rules.as_mut().is_none_or(|m| m.changed());
        if !changed && self.checked.is_some_and(|t| t.elapsed() < FULL_CHECK) {
            return;
        }
        self.checked = Some(Instant::now());
        fp.set_forward(self.allowed());
    }

    /// Nothing but pfd on forwarded packets' way (unknown counts as
    /// something).
    fn allowed(&mut self) -> bool {
        let clear = nft_rules::forward_path_clear().unwrap_or(false);
        let ipsec = crate::sys::xfrm::has_policies().unwrap_or(true);
        let marks = match self.rq.as_mut().map(|rq| rq.rule_use()) {
            Some(Ok(u)) => u.mark_bits & !crate::engine::mtag::ROUTE_MASK != 0,
            _ => true,
        };
        clear && !ipsec && !marks
    }
}

impl Default for ForwardCheck {
    fn default() -> Self {
        ForwardCheck::new()
    }
}

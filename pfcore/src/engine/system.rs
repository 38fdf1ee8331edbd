//! What the engine knows of the system it filters for, pushed in by the
//! daemon (the engine does no I/O): the interfaces with their groups and
//! addresses, the routing tables (`no-route`, `urpf-failed`, `egress`), and
//! `pfctl -s Interfaces`.

use super::fib::{Fib, RouteChange};
use super::iface::{self, IfaceInfo, LinkInfo};
use super::Engine;
use std::collections::HashMap;

impl Engine {
    /// Take in the system's interfaces (every one: the others are gone).
    pub fn sync_links(&mut self, links: Vec<LinkInfo>, now: u64) {
        self.ifaces.sync(links, now);
        self.ifaces.set_egress(self.fib.default_oifs(), now);
    }

    /// Replace the routing tables (a full dump).
    pub fn set_fib(&mut self, fib: Fib, now: u64) {
        self.fib = fib;
        self.ifaces.set_egress(self.fib.default_oifs(), now);
    }

    /// One route added or removed.
    pub fn route_change(&mut self, ch: RouteChange, now: u64) {
        if self.fib.apply(ch) {
            self.ifaces.set_egress(self.fib.default_oifs(), now);
        }
    }

    pub fn fib(&self) -> &Fib {
        &self.fib
    }

    /// `pfctl -s Interfaces` (`-i filter`), dated with `wall_now` (seconds
    /// since the epoch).
    pub fn interfaces(&mut self, filter: Option<&str>, now: u64, wall_now: i64) -> Vec<IfaceInfo> {
        let rules = iface::rule_refs(self.rules.iter().flat_map(|a| a.rules.rules.iter()));
        let mut states: HashMap<String, u32> = HashMap::new();
        for slot in self.states.all_slots() {
            if let Some(st) = self.states.get(slot) {
                let n = st.ifname.as_deref().unwrap_or(iface::IFG_ALL);
                match states.get_mut(n) {
                    Some(c) => *c += 1,
                    None => {
                        states.insert(n.to_string(), 1);
                    }
                }
            }
        }
        self.ifaces.list(filter, &rules, &states, now, wall_now)
    }
}

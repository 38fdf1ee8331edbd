//! What a packet counts for once pf decided it (pf_counters_inc and
//! pfr_update_stats): the deciding rule and the anchor rule it was reached
//! through, the match rules of its state, and the tables those rules name.
//! No allocation.

use super::packet::Dir;
use super::ruleref::RuleRef;
use super::state::Slot;
use super::table;
use super::Engine;
use std::net::IpAddr;

impl Engine {
    /// A packet of `len` bytes in direction `dir` counts for `rules` (the
    /// deciding rule, or a state's rule, and the anchor rule it was
    /// reached through): their packets and bytes that way.
    pub(in crate::engine) fn count_rules(
        &mut self,
        rules: [Option<RuleRef>; 2],
        dir: Dir,
        len: u64,
    ) {
        let d = if dir == Dir::In { 0 } else { 1 };
        for r in rules.into_iter().flatten() {
            if let Some(c) = self.rules.counters_mut(r) {
                c.packets[d] += 1;
                c.bytes[d] += len;
            }
        }
    }

    /// pf_counters_inc for the match rules of state `slot`: a packet of
    /// `len` bytes in direction `dir` counts for each (its packets and
    /// bytes by the state's direction, the statistics of the tables it
    /// names with the addresses the state's rule saw).
    pub(in crate::engine) fn count_match_rules(&mut self, slot: Slot, dir: Dir, len: u64) {
        let Some(st) = self.states.get(slot) else {
            return;
        };
        let list = st.match_rules;
        if list == 0 {
            return;
        }
        let d = if dir == st.direction { 0 } else { 1 };
        let (src, dst) = st.rule_addrs();
        for i in 0..self.matchlists.get(list).len() {
            let mi = self.matchlists.get(list)[i];
            if let Some(c) = self.rules.counters_mut(mi) {
                c.packets[d] += 1;
                c.bytes[d] += len;
            }
            self.table_stats(mi, &src, &dst, dir, table::OP_MATCH, len);
        }
    }

    /// pfr_update_stats for the tables rule `ri` names: a packet from
    /// `src` to `dst` was passed, blocked or matched (`op`).
    pub(in crate::engine) fn table_stats(
        &mut self,
        ri: RuleRef,
        src: &IpAddr,
        dst: &IpAddr,
        dir: Dir,
        op: usize,
        len: u64,
    ) {
        let (Some(rt), Some(r)) = (self.rules.rule_tables(ri), self.rules.rule(ri)) else {
            return;
        };
        let (sneg, dneg) = (r.from.neg, r.to.neg);
        let out = dir == Dir::Out;
        if let Some(id) = rt.src {
            self.tables.update_stats(id, src, out, op, sneg, len);
        }
        if let Some(id) = rt.dst {
            self.tables.update_stats(id, dst, out, op, dneg, len);
        }
    }
}

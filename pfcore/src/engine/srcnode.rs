//! Source tracking (OpenBSD's pf_src_node): one node per source address
//! and rule (or one for all rules, `source-track global`) counting the
//! states and the completed TCP connections of that source, and the rate
//! of its new connections; the limits a stateful rule puts on them
//! (`max-src-nodes`, `max-src-states`, `max-src-conn`, `max-src-conn-rate`)
//! and what happens to a source that goes over (`overload <table> [flush
//! [global]]`).
//!
//! The same nodes remember `sticky-address` choices: a node of type
//! `Nat`, `Rdr` or `Route` maps a source to the address its rule's pool
//! gave it (see `nat::pool`).
//!
//! A node lives while states use it, and `src.track` seconds after its
//! last state went (pf_src_tree_remove_state, pf_purge_expired_src_nodes);
//! `pfctl -K`, `-F Sources` and `-F all` remove nodes whatever their
//! states. Node ids are never reused, so a state's link to a removed node
//! is simply stale.

use super::ruleref::RuleRef;
use super::status::Reason;
use super::threshold::Threshold;
use super::Engine;
use crate::addr::{Af, IpNet};
use crate::ruleset::{Limit, SourceTrack, Timeout};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// A node's id.
pub type SnId = u64;

/// What a node tracks (pf's `enum pf_sn_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum SnType {
    /// `source-track`: states, connections and rate of a source.
    None = 0,
    /// `nat-to ... sticky-address`
    Nat = 1,
    /// `rdr-to ... sticky-address`
    Rdr = 2,
    /// `route-to ... sticky-address`
    Route = 3,
}

pub const SN_TYPES: usize = 4;

/// `Limit Counters` of `pfctl -vsi` this module counts.
pub const LCNT_SRCSTATES: usize = 1;
pub const LCNT_SRCNODES: usize = 2;
pub const LCNT_SRCCONN: usize = 3;
pub const LCNT_SRCCONNRATE: usize = 4;
pub const LCNT_OVERLOAD_TABLE: usize = 5;
pub const LCNT_OVERLOAD_FLUSH: usize = 6;

/// `Source Tracking Table` counters of `pfctl -vsi`.
pub const SCNT_SEARCH: usize = 0;
pub const SCNT_INSERT: usize = 1;
pub const SCNT_REMOVALS: usize = 2;

/// The nodes a connection being created has collected so far, one per
/// type (pf's `sns[PF_SN_MAX]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sns(pub [Option<SnId>; SN_TYPES]);

impl Sns {
    pub fn get(&self, t: SnType) -> Option<SnId> {
        self.0[t as usize]
    }
}

/// A least-states pool address a state holds (pf_postprocess_addr gives
/// it back when the state goes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LbRef {
    /// The rule whose pool chose the address.
    pub rule: RuleRef,
    pub kind: SnType,
    pub addr: IpAddr,
}

/// What a state keeps of source tracking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateLinks {
    /// Its nodes, by type.
    pub nodes: Sns,
    /// The connection completed its handshake and counts in its node's
    /// `connections` (pf's `src.tcp_est`).
    pub tcp_est: bool,
    /// The least-states pool addresses it was given (translation, route).
    pub lb: [Option<LbRef>; 2],
}

impl StateLinks {
    /// Tracked by no node (the default).
    pub const NONE: StateLinks = StateLinks {
        nodes: Sns([None; SN_TYPES]),
        tcp_est: false,
        lb: [None, None],
    };
}

impl StateLinks {
    /// The link to node `id` goes (pf_state_rm_src_node).
    pub fn unlink(&mut self, id: SnId) {
        for x in self.nodes.0.iter_mut() {
            if *x == Some(id) {
                *x = None;
            }
        }
    }

    /// No node tracks the state any more.
    pub fn untrack(&mut self) {
        self.nodes = Sns::default();
        self.tcp_est = false;
    }

    /// pfsync's sync_flags: the state has a source-track node (0x04), a
    /// sticky nat node (0x08).
    pub fn sync_flags(&self) -> u8 {
        let mut f = 0;
        if self.nodes.get(SnType::None).is_some() {
            f |= 0x04;
        }
        if self.nodes.get(SnType::Nat).is_some() {
            f |= 0x08;
        }
        f
    }
}

/// What a rule does to a source that goes over its connection limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLimits {
    pub max_conn: u32,
    pub max_rate: Option<(u32, u32)>,
    /// `overload <table>`: (anchor of the rule, table name).
    pub overload: Option<(String, String)>,
    pub flush: bool,
    pub flush_global: bool,
}

/// One source node.
#[derive(Debug, Clone)]
pub struct SrcNode {
    pub id: SnId,
    pub kind: SnType,
    pub addr: IpAddr,
    /// The address a sticky pool gave this source (None for `None` nodes).
    pub raddr: Option<IpAddr>,
    /// The rule it belongs to; None for `source-track global`.
    pub rule: Option<RuleRef>,
    /// The rule that created it (counts against its `max-src-nodes`).
    pub creator: RuleRef,
    pub states: u32,
    /// Completed TCP connections of its live states.
    pub conn: u32,
    pub conn_rate: Threshold,
    /// Creation time, ms.
    pub creation: u64,
    /// When it may go once it has no state, ms (0: at once).
    pub expire: u64,
    /// [out of the source, back to it], as pf counts them.
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// The creating rule's connection limits, if it has any.
    pub limits: Option<Arc<ConnLimits>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SnKey {
    rule: Option<RuleRef>,
    kind: SnType,
    addr: IpAddr,
}

/// The source tracking table.
#[derive(Debug, Clone, Default)]
pub struct SrcNodes {
    nodes: HashMap<SnId, SrcNode>,
    by_key: HashMap<SnKey, SnId>,
    /// Nodes each rule created (pf's `rule->src_nodes`).
    per_rule: HashMap<RuleRef, u32>,
    next_id: SnId,
    /// search, insert, removals (pf_status.scounters).
    pub counters: [u64; 3],
}

impl SrcNodes {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn get(&self, id: SnId) -> Option<&SrcNode> {
        self.nodes.get(&id)
    }

    fn find(&mut self, rule: Option<RuleRef>, kind: SnType, addr: IpAddr) -> Option<SnId> {
        self.counters[SCNT_SEARCH] += 1;
        self.by_key.get(&SnKey { rule, kind, addr }).copied()
    }

    fn remove(&mut self, id: SnId) -> Option<SrcNode> {
        let n = self.nodes.remove(&id)?;
        self.by_key.remove(&SnKey {
            rule: n.rule,
            kind: n.kind,
            addr: n.addr,
        });
        if let Some(c) = self.per_rule.get_mut(&n.creator) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                self.per_rule.remove(&n.creator);
            }
        }
        self.counters[SCNT_REMOVALS] += 1;
        Some(n)
    }

    /// Every node, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &SrcNode> {
        self.nodes.values()
    }

    /// pf_src_connlimit's count: the TCP connection of a state (its links
    /// `sn`) completed its handshake and counts in its source's node. Some:
    /// that put the source over its rule's `max-src-conn` or
    /// `max-src-conn-rate`.
    pub fn conn_established(&mut self, sn: &mut StateLinks, now: u64) -> Option<Overload> {
        let id = sn.nodes.get(SnType::None)?;
        let n = self.nodes.get_mut(&id)?;
        sn.tcp_est = true;
        n.conn += 1;
        n.conn_rate.add(secs(now));
        let limits = n.limits.clone()?;
        let conn = limits.max_conn != 0 && limits.max_conn < n.conn;
        let rate = limits.max_rate.is_some() && n.conn_rate.exceeded();
        (conn || rate).then_some(Overload {
            src: n.addr,
            limits,
            conn,
            rate,
        })
    }
}

/// A source over its connection limits (see `SrcNodes::conn_established`).
#[derive(Debug, Clone)]
pub struct Overload {
    pub src: IpAddr,
    /// The limits of the rule that made its node.
    pub limits: Arc<ConnLimits>,
    /// Over `max-src-conn`.
    pub conn: bool,
    /// Over `max-src-conn-rate`.
    pub rate: bool,
}

/// A source node as DIOCGETSRCNODES returns it (pfctl -s Sources).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SrcNodeInfo {
    pub addr: IpAddr,
    /// The address a sticky pool maps it to.
    pub raddr: Option<IpAddr>,
    pub kind: SnType,
    /// The rule's number in its ruleset; None for a global node.
    pub rule: Option<u32>,
    pub states: u32,
    pub conn: u32,
    /// The connection rate estimate now, in thousandths, and its period.
    pub rate_count: u64,
    pub rate_seconds: u32,
    /// Seconds since it was made.
    pub age: u32,
    /// Seconds until it goes (when it has no state).
    pub expire: u32,
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
}

/// The connection limits of each rule of a ruleset (that of anchor
/// `path`), made once when it is installed so that the nodes its rules
/// make share them.
pub fn conn_limits_of(rules: &[crate::ruleset::Rule], path: &str) -> Vec<Option<Arc<ConnLimits>>> {
    rules
        .iter()
        .map(|r| {
            let so = &r.state_opts;
            if so.max_src_conn == 0 && so.max_src_conn_rate.is_none() {
                return None;
            }
            Some(Arc::new(ConnLimits {
                max_conn: so.max_src_conn,
                max_rate: so.max_src_conn_rate,
                overload: so
                    .overload
                    .as_ref()
                    .map(|o| (path.to_string(), o.table.clone())),
                flush: so.overload.as_ref().is_some_and(|o| o.flush),
                flush_global: so.overload.as_ref().is_some_and(|o| o.global),
            }))
        })
        .collect()
}

/// The same address in family `af`: a mapped or truncated copy of its
/// bytes, as pf would read the other family's address.
pub fn as_family(a: &IpAddr, af: Af) -> IpAddr {
    match (a, af) {
        (IpAddr::V4(_), Af::Inet) | (IpAddr::V6(_), Af::Inet6) => *a,
        (IpAddr::V6(v6), Af::Inet) => {
            let o = v6.octets();
            IpAddr::V4([o[0], o[1], o[2], o[3]].into())
        }
        (IpAddr::V4(v4), Af::Inet6) => {
            let mut o = [0u8; 16];
            o[..4].copy_from_slice(&v4.octets());
            IpAddr::V6(o.into())
        }
    }
}

fn secs(ms: u64) -> u64 {
    ms / 1000
}

impl Engine {
    /// The node key's rule for rule `ri` and node type `kind`: sticky
    /// nodes are per rule; `source-track` nodes per rule unless global.
    fn sn_rule(&self, ri: RuleRef, kind: SnType) -> Option<RuleRef> {
        let r = self.rules.rule(ri)?;
        let per_rule = kind != SnType::None || r.state_opts.source_track == Some(SourceTrack::Rule);
        per_rule.then_some(ri)
    }

    /// pf_insert_src_node: find the node of `src` for rule `ri` and type
    /// `kind`, or make it (within the rule's `max-src-nodes` and `set limit
    /// src-nodes`); an existing `None` node must be under the rule's
    /// `max-src-states`. Err: a limit said no.
    pub(in crate::engine) fn insert_src_node(
        &mut self,
        slot: &mut Option<SnId>,
        ri: RuleRef,
        kind: SnType,
        src: IpAddr,
        raddr: Option<IpAddr>,
        now: u64,
    ) -> Result<(), ()> {
        let rule = self.sn_rule(ri, kind);
        if slot.is_none_or(|id| self.srcnodes.get(id).is_none()) {
            *slot = self.srcnodes.find(rule, kind, src);
        }
        let Some(r) = self.rules.rule(ri) else {
            return Err(());
        };
        let (max_nodes, max_states) = (r.state_opts.max_src_nodes, r.state_opts.max_src_states);
        let rate = r.state_opts.max_src_conn_rate;
        let creator = ri;
        if let Some(id) = *slot {
            let states = self.srcnodes.get(id).map_or(0, |n| n.states);
            if max_states != 0 && states >= max_states {
                self.status.limit_counters[LCNT_SRCSTATES] += 1;
                return Err(());
            }
            return Ok(());
        }
        let made = self.srcnodes.per_rule.get(&creator).copied().unwrap_or(0);
        if max_nodes != 0 && made >= max_nodes {
            self.status.limit_counters[LCNT_SRCNODES] += 1;
            return Err(());
        }
        if self.srcnodes.len() as u64 >= self.limit(Limit::SrcNodes) as u64 {
            return Err(());
        }
        let (limit, seconds) = rate.unwrap_or((0, 0));
        let id = self.srcnodes.next_id;
        self.srcnodes.next_id += 1;
        let node = SrcNode {
            id,
            kind,
            addr: src,
            raddr,
            rule,
            creator,
            states: 0,
            conn: 0,
            conn_rate: Threshold::new(limit, seconds, secs(now)),
            creation: now,
            expire: 0,
            packets: [0; 2],
            bytes: [0; 2],
            limits: if kind == SnType::None {
                self.rules.conn_limits(ri)
            } else {
                None
            },
        };
        self.srcnodes.by_key.insert(
            SnKey {
                rule,
                kind,
                addr: src,
            },
            id,
        );
        self.srcnodes.nodes.insert(id, node);
        *self.srcnodes.per_rule.entry(creator).or_insert(0) += 1;
        self.srcnodes.counters[SCNT_INSERT] += 1;
        *slot = Some(id);
        Ok(())
    }

    /// pf_remove_src_node: remove a node no state uses and whose time is
    /// up.
    pub(in crate::engine) fn remove_src_node(&mut self, id: SnId, now: u64) {
        if self
            .srcnodes
            .get(id)
            .is_some_and(|n| n.states == 0 && n.expire <= now)
        {
            self.srcnodes.remove(id);
        }
    }

    /// A connection that was not made lets go of the nodes it collected
    /// (pf_create_state's csfailed).
    pub(in crate::engine) fn release_sns(&mut self, sns: &Sns, now: u64) {
        for id in sns.0.iter().flatten() {
            self.remove_src_node(*id, now);
        }
    }

    /// A new state takes its nodes (pf_create_state: `sni->sn->states++`).
    pub(in crate::engine) fn attach_sns(&mut self, sns: &Sns) -> Sns {
        let mut out = Sns::default();
        for (i, id) in sns.0.iter().enumerate() {
            if let Some(n) = id.and_then(|id| self.srcnodes.nodes.get_mut(&id)) {
                n.states += 1;
                out.0[i] = Some(n.id);
            }
        }
        out
    }

    /// The `src.track` timeout for the nodes of a state (the rule's own,
    /// else the global one), seconds.
    fn src_track_secs(&self, rule: Option<RuleRef>) -> u64 {
        if let Some(r) = rule.and_then(|r| self.rules.rule(r)) {
            if let Some((_, v)) = r
                .state_opts
                .timeouts
                .iter()
                .find(|(k, _)| *k == Timeout::SrcTrack)
            {
                if *v != 0 {
                    return *v as u64;
                }
            }
        }
        self.timeouts[Timeout::SrcTrack as usize] as u64
    }

    /// pf_src_tree_remove_state: a state (its links `sn`, made by rule
    /// `rule`) goes; its nodes count it no more and, when it was their
    /// last, live on for `src.track` seconds.
    pub(in crate::engine) fn src_tree_remove_state(
        &mut self,
        sn: &StateLinks,
        rule: Option<RuleRef>,
        now: u64,
    ) {
        let keep = self.src_track_secs(rule) * 1000;
        for id in sn.nodes.0.iter().flatten() {
            if let Some(n) = self.srcnodes.nodes.get_mut(id) {
                if sn.tcp_est {
                    n.conn = n.conn.saturating_sub(1);
                }
                n.states = n.states.saturating_sub(1);
                if n.states == 0 {
                    n.expire = now + keep;
                }
            }
        }
    }

    /// pf_counters_inc for the nodes of a state: a packet of `len` bytes
    /// the way the state's first packet went (`d` 0) or back (1).
    pub(in crate::engine) fn src_nodes_count(&mut self, nodes: &Sns, d: usize, len: u64) {
        for id in nodes.0.iter().flatten() {
            if let Some(n) = self.srcnodes.nodes.get_mut(id) {
                n.packets[d] += 1;
                n.bytes[d] += len;
            }
        }
    }

    /// pf_purge_expired_src_nodes: remove the nodes no state uses whose
    /// time is up. Returns how many.
    pub fn purge_src_nodes(&mut self, now: u64) -> usize {
        let gone: Vec<SnId> = self
            .srcnodes
            .iter()
            .filter(|n| n.states == 0 && n.expire <= now)
            .map(|n| n.id)
            .collect();
        for id in &gone {
            self.srcnodes.remove(*id);
        }
        gone.len()
    }

    /// Unlink node `id` from every state (pf_state_rm_src_node).
    fn unlink_src_node(&mut self, id: SnId) {
        for sn in self.states.links_mut() {
            sn.unlink(id);
        }
        if let Some(n) = self.srcnodes.nodes.get_mut(&id) {
            n.states = 0;
        }
    }

    /// The node of `addr` for `rule` and `kind`, if there is one.
    pub(in crate::engine) fn srcnodes_find(
        &mut self,
        rule: Option<RuleRef>,
        kind: SnType,
        addr: &IpAddr,
    ) -> Option<SnId> {
        self.srcnodes.find(rule, kind, *addr)
    }

    /// Remove node `id` whatever its states (they lose their link).
    pub(in crate::engine) fn kill_src_node_id(&mut self, id: SnId, now: u64) {
        let _ = now;
        if self.srcnodes.get(id).is_some_and(|n| n.states != 0) {
            self.unlink_src_node(id);
        }
        self.srcnodes.remove(id);
    }

    /// DIOCCLRSRCNODES (`pfctl -F Sources`): every node goes; states stay,
    /// untracked. Returns how many nodes went.
    pub fn clear_src_nodes(&mut self, now: u64) -> usize {
        for sn in self.states.links_mut() {
            sn.untrack();
        }
        let n = self.srcnodes.len();
        let ids: Vec<SnId> = self.srcnodes.iter().map(|n| n.id).collect();
        for id in ids {
            self.srcnodes.remove(id);
        }
        let _ = now;
        n
    }

    /// DIOCKILLSRCNODES (`pfctl -K src [-K dst]`): remove the nodes of the
    /// sources in `src` (whose sticky address is in `dst`, if given).
    /// Returns how many.
    pub fn kill_src_nodes(&mut self, src: &IpNet, dst: Option<&IpNet>, now: u64) -> u64 {
        let ids: Vec<SnId> = self
            .srcnodes
            .iter()
            .filter(|n| {
                Af::of(&n.addr) == src.af()
                    && src.contains(&n.addr)
                    && dst.is_none_or(|d| {
                        let ra = n.raddr.unwrap_or(match Af::of(&n.addr) {
                            Af::Inet => IpAddr::V4(0u32.into()),
                            Af::Inet6 => IpAddr::V6(0u128.into()),
                        });
                        Af::of(&ra) == d.af() && d.contains(&ra)
                    })
            })
            .map(|n| n.id)
            .collect();
        for id in &ids {
            self.kill_src_node_id(*id, now);
        }
        ids.len() as u64
    }

    /// DIOCGETSRCNODES: every node, oldest first.
    pub fn src_nodes(&self, now: u64) -> Vec<SrcNodeInfo> {
        let mut v: Vec<&SrcNode> = self.srcnodes.iter().collect();
        v.sort_by_key(|n| n.id);
        v.into_iter()
            .map(|n| {
                let (count, seconds) = n.conn_rate.estimate(secs(now));
                SrcNodeInfo {
                    addr: n.addr,
                    raddr: n.raddr,
                    kind: n.kind,
                    rule: n.rule.map(|r| r.nr),
                    states: n.states,
                    conn: n.conn,
                    rate_count: count,
                    rate_seconds: seconds as u32,
                    age: (secs(now.saturating_sub(n.creation))).min(u32::MAX as u64) as u32,
                    expire: (secs(n.expire.saturating_sub(now))).min(u32::MAX as u64) as u32,
                    packets: n.packets,
                    bytes: n.bytes,
                }
            })
            .collect()
    }

    /// A source limit said no to a new state.
    pub(in crate::engine) fn src_limit_drop(&mut self, sns: &Sns, now: u64) -> Reason {
        self.release_sns(sns, now);
        Reason::SrcLimit
    }
}

//! Translation as the rules go (OpenBSD's pf_get_transaddr): which
//! address and port `nat-to` and `rdr-to` give a new connection, applied
//! to the packet as the rules see it. A matching `match` rule translates
//! at once, so the rules after it match the translated addresses and
//! ports; the deciding pass rule's own translation comes last, on top.
//! The packet itself is rewritten only when the evaluation is over. The
//! choice of address is the pool's (see `pool`), for `route-to` next hops
//! too; `af-to` takes its addresses here as well (`afto`).

mod afto;
pub mod pool;

use super::packet::{Dir, Pd};
use super::route::StateRoute;
use super::ruleref::RuleRef;
use super::srcnode::{LbRef, SnType, Sns};
use super::status::Reason;
use super::Engine;
use crate::addr::Af;
use crate::ruleset::route::Target;
use crate::ruleset::Divert;
use std::net::IpAddr;

pub use pool::{NAT_PORT_HIGH, NAT_PORT_LOW};

/// The packet as the rules see it while they are evaluated (pf_pdesc's
/// nsaddr, ndaddr, nsport, ndport), and what the translations so far
/// took from their pools.
#[derive(Debug, Clone, Copy)]
pub struct Translation {
    /// The packet's addresses and ports after the translations so far.
    pub view: Pd,
    /// Source nodes of sticky pools the translations made.
    pub sns: Sns,
    /// The least-states pool address the last translation took.
    pub lb: Option<LbRef>,
}

impl Translation {
    /// Nothing translated yet.
    pub fn new(pd: &Pd) -> Translation {
        Translation {
            view: *pd,
            sns: Sns::default(),
            lb: None,
        }
    }
}

impl Engine {
    /// Source address and port for the `nat-to` of rule `ri`.
    pub(in crate::engine) fn nat_target(
        &mut self,
        ri: RuleRef,
        pd: &Pd,
        dir: Dir,
        sns: &mut Sns,
        now: u64,
    ) -> Option<(IpAddr, u16)> {
        self.get_sport(ri, pd, dir, sns, now)
    }

    /// Destination address and port for the `rdr-to` of rule `ri`.
    pub(in crate::engine) fn rdr_target(
        &mut self,
        ri: RuleRef,
        pd: &Pd,
        sns: &mut Sns,
        now: u64,
    ) -> Option<(IpAddr, u16)> {
        self.rdr_map(ri, pd, sns, now)
    }

    /// pf_get_transaddr: rule `ri`'s `nat-to` (source address and port
    /// from the translated source), then its `rdr-to` (destination from
    /// the translated ends), applied to `t.view` for a packet seen in
    /// `dir`. A rule translating again replaces what an earlier one gave.
    /// Err: its pool had nothing to give (pf drops the packet,
    /// PFRES_TRANSLATE).
    pub(in crate::engine) fn get_transaddr(
        &mut self,
        ri: RuleRef,
        t: &mut Translation,
        dir: Dir,
        now: u64,
    ) -> Result<(), Reason> {
        let Some((nat, rdr)) = self
            .rules
            .rule(ri)
            .map(|r| (r.nat_to.is_some(), r.rdr_to.is_some()))
        else {
            return Ok(());
        };
        if nat {
            let (a, p) = self
                .nat_target(ri, &t.view, dir, &mut t.sns, now)
                .ok_or(Reason::Translate)?;
            t.view.src = a;
            t.view.sport = p;
            t.lb = self.lb_ref(ri, SnType::Nat, a);
        }
        if rdr {
            let (a, p) = self
                .rdr_target(ri, &t.view, &mut t.sns, now)
                .ok_or(Reason::Translate)?;
            t.view.dst = a;
            t.view.dport = p;
            t.lb = self.lb_ref(ri, SnType::Rdr, a);
        }
        Ok(())
    }

    /// The next hop for a new state of rule `ri` in family `af`, for a
    /// connection from `saddr` (pf_set_rt_ifp: pf_map_addr on the route
    /// pool, any pool type, `sticky-address` through a Route source node
    /// the state takes from `sns`).
    pub(in crate::engine) fn next_hop(
        &mut self,
        ri: RuleRef,
        af: Af,
        saddr: &IpAddr,
        sns: &mut Sns,
        now: u64,
    ) -> Option<IpAddr> {
        let mut init = None;
        let kind = SnType::Route;
        self.map_addr(ri, kind, af, saddr, &mut init, sns, now)
    }

    /// The policy routing a new state of rule `ri` gets (`rtable` may come
    /// from a `match` rule before it). Err: no next hop for the packet's
    /// family, or no selector left.
    pub(in crate::engine) fn state_route(
        &mut self,
        ri: RuleRef,
        af: Af,
        rtable: Option<u32>,
        saddr: &IpAddr,
        sns: &mut Sns,
        now: u64,
    ) -> Result<StateRoute, Reason> {
        let Some(r) = self.rules.rule(ri) else {
            return Ok(StateRoute::default());
        };
        let kind = r.extras.route.as_ref().map(|(k, _)| *k);
        let divert = r.extras.divert;
        let mut sr = StateRoute::default();
        if let Some(kind) = kind {
            let hop = self
                .next_hop(ri, af, saddr, sns, now)
                .ok_or(Reason::NoRoute)?;
            sr.rt = Some((kind, hop));
            sr.rt_sel = self
                .routing
                .targets
                .get(Target::NextHop(hop))
                .ok_or(Reason::NoRoute)?;
        }
        if let Some(t) = rtable {
            sr.rtable = Some(t);
            sr.rtable_sel = self
                .routing
                .targets
                .get(Target::Table(t))
                .ok_or(Reason::NoRoute)?;
        }
        let divert_target = match divert {
            Divert::To(a, p) => Some(Target::Divert(a, p)),
            Divert::Reply => Some(Target::Local),
            Divert::Packet(q) => {
                sr.queue = Some(q);
                None
            }
            Divert::None => None,
        };
        if let Some(t) = divert_target {
            sr.divert_sel = self.routing.targets.get(t).ok_or(Reason::NoRoute)?;
        }
        Ok(sr)
    }
}

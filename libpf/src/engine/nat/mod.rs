//! Translation as the rules go (OpenBSD's pf_get_transaddr): which
//! address and port `nat-to` and `rdr-to` give a new connection, applied
//! to the packet as the rules see it. A matching `match` rule translates
//! at once, so the rules after it match the translated addresses and
//! ports; the deciding pass rule's own translation comes last, on top.
//! The packet itself is rewritten only when the evaluation is over. The
//! choice of address is the pool's (see `pool`).

pub mod pool;

use super::iface::KifId;
use super::matchctx::MatchCtx;
use super::packet::{Dir, Pd};
use super::ruleref::RuleRef;
use super::rules::{Evaluation, Step, Walk};
use super::srcnode::{LbRef, SnType, Sns};
use super::status::Reason;
use super::{Engine, PacketMeta};
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
    /// The ruleset walk for a packet without a state (pf_match_rule),
    /// translating as it goes: each matching `match` rule with `nat-to` or
    /// `rdr-to` translates the packet's view at once, and the rules after
    /// it match that. `whole` is the packet's bytes (for `os`), None for a
    /// fragment filtered on its IP header (no socket owner, no OS). Err:
    /// anchors nested too deep (a call loop), or a translation had no
    /// address; the source nodes made so far are let go.
    pub(in crate::engine) fn match_rules(
        &mut self,
        meta: &PacketMeta,
        kif: Option<KifId>,
        pd: &Pd,
        whole: Option<&[u8]>,
        now: u64,
    ) -> Result<(Evaluation, Translation), Reason> {
        // The receiving interface: this one on `in`; on `out`, the one
        // the `in` pass left in the mark (none for local traffic).
        let rcv = match meta.dir {
            Dir::In => kif,
            Dir::Out => self.ifaces.by_slot(meta.mtag.in_slot),
        };
        let mut walk = Walk::new(pd, false);
        let mut t = Translation::new(pd);
        loop {
            let ctx = MatchCtx {
                dir: meta.dir,
                ifname: meta.ifname,
                uid: whole.and(meta.uid),
                gid: whole.and(meta.gid),
                ifaces: &self.ifaces,
                fib: &self.fib,
                kif,
                rcv,
                tables: &self.tables,
                tag: meta.mtag.tag,
                now,
                os: match whole {
                    Some(buf) if self.rules.uses_os() => super::os_of(&self.osfp, pd, buf),
                    _ => None,
                },
            };
            match walk.run(&mut self.rules, &t.view, &ctx) {
                Step::Done => break,
                Step::Translate(ri) => {
                    if let Err(reason) = self.get_transaddr(ri, &mut t, meta.dir, now) {
                        self.release_sns(&t.sns, now);
                        return Err(reason);
                    }
                }
            }
        }
        if walk.ev.overflow {
            // pf_step_into_anchor: anchors nested too deep.
            self.release_sns(&t.sns, now);
            return Err(Reason::Match);
        }
        Ok((walk.ev, t))
    }

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
}

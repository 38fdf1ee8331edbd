//! A rule's filter options (pfctl's `filter_opts`): each checked as the
//! grammar reads it (values, "cannot be redefined"), collected for the
//! rule, translations and divert resolved once for the whole statement.

use super::hosts::HostNode;
use super::redirections::RedirSpec;
use super::values::{icmp_item, prio_value, probability, scrub_options, tos_value};
use super::{err, Expander, Res};
use crate::conf::ast::{FilterOpt, IfName, KeepAst, StateOptAst};
use crate::conf::names;
use crate::ruleset::{Divert, IdOp, IfMatch, KeepState, RouteKind, Rule, TcpFlags};

/// What the filter options of a rule statement gave that is not a field
/// of the rule yet: lists to multiply, state and translations to apply
/// once the rule's family and direction are settled.
#[derive(Default)]
pub(super) struct FilterOpts {
    pub(super) uids: Vec<IdOp>,
    pub(super) gids: Vec<IdOp>,
    pub(super) flags: Option<TcpFlags>,
    pub(super) icmp: Option<Vec<(u8, Option<u8>, u8)>>,
    pub(super) keep: Option<(KeepState, Vec<StateOptAst>)>,
    pub(super) nat: Option<RedirSpec>,
    pub(super) rdr: Option<RedirSpec>,
    /// `nat` came from `binat-to`.
    pub(super) binat: bool,
    pub(super) route: Option<(RouteKind, RedirSpec)>,
    pub(super) divert: Option<(Option<Vec<HostNode>>, Divert)>,
    set_prio_given: bool,
    received_on_given: bool,
}

impl Expander<'_> {
    /// One filter option of a rule statement ending on `line`.
    pub(super) fn filter_opt(
        &mut self,
        o: &FilterOpt,
        r: &mut Rule,
        f: &mut FilterOpts,
        file: &str,
        line: u32,
    ) -> Res<()> {
        match o {
            FilterOpt::User(items) => {
                let mut v = self.id_items(items, false)?;
                v.append(&mut f.uids);
                f.uids = v;
            }
            FilterOpt::Group(items) => {
                let mut v = self.id_items(items, true)?;
                v.append(&mut f.gids);
                f.gids = v;
            }
            FilterOpt::Flags(fl, m) => {
                if f.flags.is_some() {
                    return err("flags cannot be redefined");
                }
                let parse = |s: &Option<String>| -> Res<u8> {
                    match s {
                        None => Ok(0),
                        Some(s) => {
                            names::parse_flags(s).ok_or_else(|| vec![format!("bad flags {s}")])
                        }
                    }
                };
                let (fv, mv) = match (fl, m) {
                    (None, None) => (0, 0),
                    _ => (parse(fl)?, parse(m)?),
                };
                f.flags = Some(TcpFlags {
                    flags: fv,
                    mask: mv,
                });
            }
            FilterOpt::IcmpType { v6, items } => {
                if f.icmp.is_some() {
                    return err("icmp-type cannot be redefined");
                }
                let mut v = vec![];
                for it in items {
                    v.push(icmp_item(it, *v6)?);
                }
                f.icmp = Some(v);
            }
            FilterOpt::Keep(k, opts) => {
                if f.keep.is_some() {
                    return err("modulate or keep cannot be redefined");
                }
                let k = match k {
                    KeepAst::No => KeepState::None,
                    KeepAst::Keep => KeepState::Keep,
                    KeepAst::Modulate => KeepState::Modulate,
                    KeepAst::Synproxy => KeepState::Synproxy,
                };
                f.keep = Some((k, opts.clone()));
            }
            FilterOpt::Label(l) => {
                if r.label.is_some() {
                    return err("label cannot be redefined");
                }
                r.label = Some(l.clone());
            }
            FilterOpt::Tag(t) => r.tag = Some(t.clone()),
            FilterOpt::Tagged { neg, name } => r.tagged = Some((*neg, name.clone())),
            FilterOpt::NatTo(_)
            | FilterOpt::RdrTo(_)
            | FilterOpt::BinatTo(_)
            | FilterOpt::AfTo { .. }
            | FilterOpt::Route(..) => self.translation_opt(o, r, f)?,
            FilterOpt::DivertTo { .. } | FilterOpt::DivertReply | FilterOpt::DivertPacket(_) => {
                self.divert_opt(o, f)?
            }
            _ => self.packet_opt(o, r, f, file, line)?,
        }
        Ok(())
    }

    /// `nat-to`, `rdr-to`, `binat-to`, `af-to`, `route-to` and its kin.
    fn translation_opt(&self, o: &FilterOpt, r: &mut Rule, f: &mut FilterOpts) -> Res<()> {
        match o {
            FilterOpt::NatTo(rd) => {
                if f.nat.is_some() {
                    return err("cannot respecify nat-to/binat-to");
                }
                f.nat = Some(self.redir(rd, "nat-to")?);
            }
            FilterOpt::RdrTo(rd) => {
                if f.rdr.is_some() {
                    return err("cannot respecify rdr-to");
                }
                f.rdr = Some(self.redir(rd, "rdr-to")?);
            }
            FilterOpt::BinatTo(rd) => {
                if f.nat.is_some() {
                    return err("cannot respecify nat-to/binat-to");
                }
                let mut spec = self.redir(rd, "binat-to")?;
                spec.static_port = true;
                f.nat = Some(spec);
                f.binat = true;
            }
            FilterOpt::AfTo { af, from, to } => {
                if f.nat.is_some() {
                    return err("cannot respecify af-to");
                }
                let from_spec = self.redir(from, "af-to")?;
                let t = match to {
                    Some(t) => Some(self.redir(t, "af-to")?),
                    None => None,
                };
                let wrong =
                    |sp: &RedirSpec| sp.hosts.iter().any(|h| h.af.is_some_and(|a| a != *af));
                if to.is_some() && (wrong(&from_spec) || t.as_ref().is_some_and(wrong)) {
                    return err("af-to addresses must be in the target address family");
                }
                f.nat = Some(from_spec);
                f.rdr = t;
                r.extras.af_to = Some(*af);
            }
            FilterOpt::Route(kind, rd) => {
                if f.route.is_some() {
                    return err("cannot respecify route-to/reply-to/dup-to");
                }
                f.route = Some((*kind, self.redir(rd, "route")?));
            }
            _ => {}
        }
        Ok(())
    }

    /// `divert-to`, `divert-reply`, `divert-packet`.
    fn divert_opt(&self, o: &FilterOpt, f: &mut FilterOpts) -> Res<()> {
        match o {
            FilterOpt::DivertTo { host, port } => {
                if f.divert.is_some() {
                    return err("more than one divert option");
                }
                let Ok(hosts) = self.host_name(host, None) else {
                    return err(format!("could not parse divert address: {host}"));
                };
                let p = self.port_plain(port)?;
                if p == 0 {
                    return err("invalid divert port: 0");
                }
                f.divert = Some((
                    Some(hosts),
                    Divert::To(std::net::Ipv4Addr::UNSPECIFIED.into(), p),
                ));
            }
            FilterOpt::DivertReply => {
                if f.divert.is_some() {
                    return err("more than one divert option");
                }
                f.divert = Some((None, Divert::Reply));
            }
            FilterOpt::DivertPacket(port) => {
                if f.divert.is_some() {
                    return err("more than one divert option");
                }
                let p = self.port_plain(port)?;
                if p == 0 {
                    return err("invalid divert port: 0");
                }
                f.divert = Some((None, Divert::Packet(p)));
            }
            _ => {}
        }
        Ok(())
    }

    /// The options that mark, shape or steer packets, and the others.
    fn packet_opt(
        &mut self,
        o: &FilterOpt,
        r: &mut Rule,
        f: &mut FilterOpts,
        file: &str,
        line: u32,
    ) -> Res<()> {
        match o {
            FilterOpt::Prio(n) => {
                if r.extras.prio.is_some() {
                    return err("prio cannot be redefined");
                }
                r.extras.prio = Some(prio_value(n)?);
            }
            FilterOpt::Tos(t) => {
                if r.extras.tos.is_some() {
                    return err("tos cannot be redefined");
                }
                r.extras.tos = Some(tos_value(t)?);
            }
            FilterOpt::Probability(p) => r.extras.probability = probability(p)?,
            FilterOpt::Rtable(n) => r.extras.rtable = Some(self.rtable(n)?),
            FilterOpt::ReceivedOn { neg, name } => {
                if f.received_on_given {
                    return err("cannot respecify received-on");
                }
                f.received_on_given = true;
                let name = match name {
                    IfName::Any => "any".to_string(),
                    IfName::Name(n) => {
                        if n.len() >= 16 {
                            return err("interface name too long");
                        }
                        n.clone()
                    }
                    IfName::Rdomain(n) => {
                        // an rdomain has no interface name: pfctl keeps
                        // nothing of it
                        if !matches!(n.parse::<i64>(), Ok(0..=255)) {
                            self.error(file, line, format!("rdomain {n} outside range"));
                        }
                        return Ok(());
                    }
                };
                r.extras.received_on = Some(IfMatch { name, neg: *neg });
            }
            FilterOpt::Limiter {
                source,
                name,
                block,
            } => {
                let slot = if *source {
                    &r.extras.source_limiter
                } else {
                    &r.extras.state_limiter
                };
                if slot.is_some() {
                    let kind = if *source { "source" } else { "state" };
                    return err(format!("{kind} limiter cannot be redefined"));
                }
                let u = self.limiter_use(*source, name, *block)?;
                if *source {
                    r.extras.source_limiter = Some(u);
                } else {
                    r.extras.state_limiter = Some(u);
                }
            }
            FilterOpt::MaxPktRate(a, b) => {
                let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) else {
                    return err("only positive values permitted");
                };
                if r.extras.max_pkt_rate.is_some() {
                    return err("cannot respecify max-pkt-rate");
                }
                r.extras.max_pkt_rate = Some((a, b));
            }
            FilterOpt::Queue(q, pq) => {
                if r.extras.queue.is_some() {
                    return err("queue cannot be redefined");
                }
                for name in std::iter::once(q).chain(pq.iter()) {
                    if !self.queue_defined(name) {
                        return err(format!("queue {name} is not defined"));
                    }
                }
                r.extras.queue = Some((q.clone(), pq.clone()));
            }
            FilterOpt::SetPrio(a, b) => {
                if f.set_prio_given {
                    return err("prio cannot be redefined");
                }
                f.set_prio_given = true;
                r.extras.set_prio = Some((prio_value(a)?, prio_value(b)?));
            }
            FilterOpt::SetTos(t) => {
                if r.extras.set_tos.is_some() {
                    return err("tos cannot be respecified");
                }
                r.extras.set_tos = Some(tos_value(t)?);
            }
            FilterOpt::SetDelay(d) => {
                if r.extras.delay.is_some() {
                    return err("delay cannot be respecified");
                }
                match d.parse::<i64>() {
                    Ok(v) if (0..=0xffff).contains(&v) => r.extras.delay = Some(v as u16),
                    _ => return err(format!("illegal delay value {d} (0-65535)")),
                }
            }
            FilterOpt::Scrub(opts) => r.extras.scrub = scrub_options(opts)?,
            FilterOpt::Fragment => r.extras.fragment = true,
            FilterOpt::AllowOpts => r.extras.allow_opts = true,
            FilterOpt::Once => r.extras.once = true,
            _ => {}
        }
        Ok(())
    }
}

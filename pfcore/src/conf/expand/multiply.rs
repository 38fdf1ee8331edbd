//! One rule statement × its lists → rules (pfctl's `expand_rule` and
//! LOOP_THROUGH): interfaces, protocols, ICMP types, source hosts,
//! destination hosts, source ports, destination ports, OS fingerprints,
//! users, groups, in that order. Each combination gets its translation
//! pools collapsed to its family, its labels expanded, and pfctl's checks;
//! combinations of clashing families or scopes are dropped silently.

use super::consistent::rule_consistent;
use super::hosts::HostNode;
use super::labels::expand_label;
use super::redirections::{
    apply_redir, binat_checks, binat_inbound, collapse, normalize_dyn_masks, Collapsed,
    Translations,
};
use super::{bare, is_warning, Expander, IPPROTO_TCP, NAME_MAX, RDOMAIN};
use crate::conf::error::ConfError;
use crate::ruleset::{Direction, Endpoint, IdOp, IfMatch, KeepState, PortOp, Rule};

/// The lists of one rule statement, each resolved.
pub(super) struct Lists {
    pub(super) ifaces: Vec<Option<IfMatch>>,
    pub(super) protos: Vec<Option<u8>>,
    pub(super) icmp: Option<Vec<(u8, Option<u8>, u8)>>,
    pub(super) src_hosts: Option<Vec<HostNode>>,
    pub(super) dst_hosts: Option<Vec<HostNode>>,
    pub(super) src_ports: Vec<PortOp>,
    pub(super) dst_ports: Vec<PortOp>,
    pub(super) oses: Vec<String>,
    pub(super) uids: Vec<IdOp>,
    pub(super) gids: Vec<IdOp>,
}

/// One element of each list.
struct Combo<'a> {
    iface: &'a Option<IfMatch>,
    proto: Option<u8>,
    icmp: Option<(u8, Option<u8>, u8)>,
    src: &'a HostNode,
    dst: &'a HostNode,
    src_port: Option<PortOp>,
    dst_port: Option<PortOp>,
    os: &'a Option<String>,
    uid: Option<IdOp>,
    gid: Option<IdOp>,
}

/// What became of one combination.
enum Step {
    Added,
    Skipped,
    /// pfctl exits (errx): nothing more is read.
    Fatal,
}

/// A list as the loops see it: its elements, or one `None` when empty.
fn opt_list<T: Clone>(v: &[T]) -> Vec<Option<T>> {
    if v.is_empty() {
        vec![None]
    } else {
        v.iter().cloned().map(Some).collect()
    }
}

impl Expander<'_> {
    /// Adds the rules of `base` × `lists`; "rule expands to no valid
    /// combination" when none is left.
    pub(super) fn expand(
        &mut self,
        base: Rule,
        lists: Lists,
        trans: Translations,
        file: &str,
        line: u32,
    ) {
        let icmps: Vec<Option<(u8, Option<u8>, u8)>> = match &lists.icmp {
            Some(v) => opt_list(v),
            None => vec![None],
        };
        let srcs = lists.src_hosts.unwrap_or_else(|| vec![HostNode::any()]);
        let dsts = lists.dst_hosts.unwrap_or_else(|| vec![HostNode::any()]);
        let sports = opt_list(&lists.src_ports);
        let dports = opt_list(&lists.dst_ports);
        let us = opt_list(&lists.uids);
        let gs = opt_list(&lists.gids);
        let oses = opt_list(&lists.oses);
        // LOOP_THROUGH order: ... dst port, src os, uid, gid
        let mut combos = vec![];
        for os in &oses {
            for uid in &us {
                for gid in &gs {
                    combos.push((os, *uid, *gid));
                }
            }
        }
        let mut added = 0;
        for iface in &lists.ifaces {
            for proto in &lists.protos {
                for icmp in &icmps {
                    for src in &srcs {
                        for dst in &dsts {
                            for sp in &sports {
                                for dp in &dports {
                                    for (os, uid, gid) in &combos {
                                        let c = Combo {
                                            iface,
                                            proto: *proto,
                                            icmp: *icmp,
                                            src,
                                            dst,
                                            src_port: *sp,
                                            dst_port: *dp,
                                            os,
                                            uid: *uid,
                                            gid: *gid,
                                        };
                                        match self.one(&base, &c, &trans, file, line) {
                                            Step::Added => added += 1,
                                            Step::Skipped => {}
                                            Step::Fatal => return,
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if added == 0 {
            self.error(file, line, "rule expands to no valid combination");
        }
    }

    /// The translation pools collapsed for `r` (each may set its family),
    /// automatic tables recorded.
    fn collapse_pools(
        &mut self,
        r: &mut Rule,
        trans: &Translations,
        errors: &mut Vec<String>,
    ) -> [Option<Collapsed>; 3] {
        let mut tables = std::mem::take(&mut self.auto_tables);
        let rdr_addrs = collapse(trans.rdr.as_ref(), r, errors, false, &mut tables);
        let nat_addrs = collapse(trans.nat.as_ref(), r, errors, false, &mut tables);
        let route_spec = trans.route.as_ref().map(|(_, sp)| sp);
        let route_addrs = collapse(route_spec, r, errors, true, &mut tables);
        let here = self.anchor_path.join("/");
        for d in &mut tables.made {
            if let crate::ruleset::Directive::Table(t) = d {
                t.anchor = here.clone();
            }
        }
        self.ruleset.directives.append(&mut tables.made);
        self.auto_tables = tables;
        [rdr_addrs, nat_addrs, route_addrs]
    }

    /// One combination: the rule, or the reason it is not one.
    fn one(
        &mut self,
        base: &Rule,
        c: &Combo<'_>,
        trans: &Translations,
        file: &str,
        line: u32,
    ) -> Step {
        let (src, dst) = (c.src, c.dst);
        let af = base.af;
        let mut r = base.clone();
        r.af = af;
        let mut errors: Vec<String> = vec![];
        let [rdr_addrs, nat_addrs, route_addrs] = self.collapse_pools(&mut r, trans, &mut errors);
        if (r.af.is_some() && src.af.is_some() && r.af != src.af)
            || (r.af.is_some() && dst.af.is_some() && r.af != dst.af)
            || (src.af.is_some() && dst.af.is_some() && src.af != dst.af)
        {
            // pfctl has already printed the pools' errors
            self.errors_from(file, line, errors);
            return Step::Skipped;
        }
        // `on rdomain N` names no interface
        let rdomain = c
            .iface
            .as_ref()
            .and_then(|i| i.name.strip_prefix(RDOMAIN).map(|n| (n, i.neg)));
        let iface = if rdomain.is_some() { &None } else { c.iface };
        let on_name = iface.as_ref().map(|i| i.name.as_str());
        let scope_clash = |sc: &Option<String>| {
            sc.as_deref()
                .is_some_and(|s| on_name.is_some_and(|n| n != s))
        };
        if (src.scope.is_some() && dst.scope.is_some() && src.scope != dst.scope)
            || scope_clash(&src.scope)
            || scope_clash(&dst.scope)
        {
            return Step::Skipped;
        }
        if r.af.is_none() {
            r.af = src.af.or(dst.af);
        }
        r.on = match (iface, &src.scope, &dst.scope) {
            (Some(i), _, _) => Some(i.clone()),
            (None, Some(s), _) | (None, None, Some(s)) => Some(IfMatch {
                name: s.clone(),
                neg: false,
            }),
            (None, None, None) => None,
        };
        if let Some((n, neg)) = rdomain {
            r.extras.on_rdomain = n.parse().ok();
            r.extras.on_rdomain_not = neg;
        }
        fill(&mut r, c);
        // check_netmask: more than 32 bits on an IPv4 address
        for h in [src, dst] {
            if let Some(b) = h.bad_mask {
                errors.push(bare(format!("netmask {b} invalid for IPv4 address")));
            }
        }
        if let Some((_, _, ip)) = c.icmp {
            if r.proto != Some(ip) {
                errors.push("icmp-type mismatch".into());
            }
        }
        if !self.labels(base, &mut r) {
            return Step::Fatal;
        }
        if trans.binat {
            errors.extend(binat_checks(src, nat_addrs.as_ref(), &r, af));
            r.direction = Direction::Out;
        }
        r.nat_to = apply_redir(
            trans.nat.as_ref(),
            nat_addrs,
            false,
            c.dst_port,
            &mut errors,
        );
        r.rdr_to = apply_redir(trans.rdr.as_ref(), rdr_addrs, true, c.dst_port, &mut errors);
        r.extras.route = trans.route.as_ref().and_then(|(kind, spec)| {
            apply_redir(Some(spec), route_addrs, true, None, &mut errors).map(|p| (*kind, p))
        });
        normalize_dyn_masks(&mut r);
        errors.extend(rule_consistent(&r, trans.route.is_some()));
        if errors.iter().all(|m| is_warning(m)) {
            self.errors_from(file, line, errors);
            let inbound = if trans.binat {
                binat_inbound(&r, src)
            } else {
                None
            };
            self.ruleset.rules.push(r);
            if let Some(rb) = inbound {
                self.ruleset.rules.push(rb);
            }
            Step::Added
        } else {
            errors.push("skipping rule due to errors".into());
            self.errors_from(file, line, errors);
            Step::Skipped
        }
    }

    /// expand_label on the label, the tag and the tag matched; false when
    /// one outgrows its buffer (pfctl's errx in expand_label_str).
    fn labels(&mut self, base: &Rule, r: &mut Rule) -> bool {
        if let Some(t) = &base.label {
            r.label = Some(expand_label(t, r, self.resolver));
        }
        if let Some(t) = &base.tag {
            r.tag = Some(expand_label(t, r, self.resolver));
        }
        if let Some((neg, t)) = &base.tagged {
            r.tagged = Some((*neg, expand_label(t, r, self.resolver)));
        }
        if r.label.as_ref().is_some_and(|l| l.len() > NAME_MAX)
            || r.tag.as_ref().is_some_and(|l| l.len() > NAME_MAX)
            || r.tagged.as_ref().is_some_and(|t| t.1.len() > NAME_MAX)
        {
            self.errors
                .push(ConfError::global("expand_label: label too long"));
            self.fatal = true;
            return false;
        }
        true
    }
}

/// The combination's protocol, addresses, ports, ids and OS; state
/// and flags only where the protocol takes them.
fn fill(r: &mut Rule, c: &Combo<'_>) {
    r.proto = c.proto;
    r.from = Endpoint {
        addr: c.src.addr.clone(),
        neg: c.src.neg,
        port: c.src_port,
    };
    r.to = Endpoint {
        addr: c.dst.addr.clone(),
        neg: c.dst.neg,
        port: c.dst_port,
    };
    r.user = c.uid;
    r.group = c.gid;
    // pfctl_get_fingerprint: "unknown" in any case is the special one
    r.extras.os = c.os.as_ref().map(|o| {
        if o.eq_ignore_ascii_case("unknown") {
            "unknown".to_string()
        } else {
            o.clone()
        }
    });
    r.icmp_type = c.icmp.map(|(t, c, _)| (t, c));
    let non_tcp = r.proto.is_some_and(|p| p != IPPROTO_TCP);
    if non_tcp && matches!(r.keep_state, KeepState::Modulate | KeepState::Synproxy) {
        r.keep_state = KeepState::Keep;
    }
    if non_tcp {
        r.flags = None;
    }
}

//! The rule path (pf_test_rule): a packet no state knows goes through the
//! ruleset. The walk (`rules`) translates as it goes when a `match` rule
//! says so (`nat`); the deciding rule says block or pass (`decision`), the
//! default rule passes what no rule decided. A pass takes the rule's own
//! translation and policy routing (`nat`), makes the rule's state
//! (`state`), and rewrites the packet to what the translations gave
//! (`af` for `af-to`).

use super::decision::Decision;
use super::iface::KifId;
use super::logmark::{LogMark, LogMarks};
use super::matchctx::MatchCtx;
use super::nat::Translation;
use super::normalize::{self, Actions};
use super::packet::{Dir, Pd};
use super::reply;
use super::route::{Forward, StateRoute};
use super::rules::{icmp_makes_no_state, Evaluation, Step, Walk};
use super::srcnode::SnType;
use super::state::Slot;
use super::status::Reason;
use super::table;
use super::tcp::bare_syn;
use super::translate::{set_end, set_seq_ack, End};
use super::verdict::{tag_packet, PacketMeta, Verdict};
use super::{af, Engine};
use crate::addr::Af;
use crate::osfp::{OsId, OsfpDb};
use crate::ruleset::route::Target;
use crate::ruleset::{Action, BlockReturn, KeepState};
use crate::wire::IPPROTO_TCP;

/// A packet a rule passes, on its way to its state and its verdict.
struct Passing<'a> {
    /// The packet as it came.
    pd: Pd,
    /// Its addresses and ports after the translations, and what they
    /// took from their pools.
    tr: Translation,
    /// What the walk found.
    ev: &'a Evaluation,
    /// `af-to`: the family the rule translates a packet coming in to.
    afto: Option<Af>,
    len: u64,
}

/// The systems the OS fingerprint of a TCP SYN names (pf_osfp_fingerprint).
fn os_of<'a>(db: &'a OsfpDb, pd: &Pd, buf: &[u8]) -> Option<&'a [(OsId, usize)]> {
    let t = pd.tcp.filter(|_| pd.proto == IPPROTO_TCP && !pd.fragment)?;
    let ip = crate::osfp::IpFacts {
        len: pd.tot_len as u16,
        ttl: pd.ttl,
        df: pd.af == Af::Inet && buf.get(6).is_some_and(|b| b & 0x40 != 0),
        v6: pd.af == Af::Inet6,
    };
    let sig = crate::osfp::packet_signature(ip, buf.get(pd.l4_off..pd.l4_off + t.hdr_len)?)?;
    db.lookup(&sig)
}

/// `modulate state`: the packet that made the state carries the
/// modulated sequence number (`seqdiff` from the state's creation, 0: not
/// modulated). True: the packet was rewritten.
fn modulate_first(buf: &mut [u8], pd: &Pd, seqdiff: u32) -> bool {
    match (seqdiff != 0, pd.tcp) {
        (true, Some(t)) => {
            set_seq_ack(buf, pd, Some(t.seq.wrapping_add(seqdiff)), None);
            true
        }
        _ => false,
    }
}

impl Engine {
    /// Evaluate the ruleset for a packet without a state.
    pub(in crate::engine) fn test_rules(
        &mut self,
        meta: &PacketMeta,
        kif: Option<KifId>,
        buf: &mut [u8],
        pd: Pd,
        len: u64,
        now: u64,
    ) -> Verdict {
        let (mut v, mut marks) = self.test_rules_marked(meta, kif, buf, pd, len, now);
        // pflog: the deciding rule is logged with the verdict's reason; a
        // packet is logged when a rule said so, not when an overridden
        // rule had `log`.
        if let Some(m) = marks.decided_mut() {
            m.reason = v.reason as u8;
        }
        v.log = !marks.is_empty();
        v.logs = v.log.then(|| Box::new(marks));
        v
    }

    /// `test_rules` but for the pflog marks, given back beside the verdict.
    fn test_rules_marked(
        &mut self,
        meta: &PacketMeta,
        kif: Option<KifId>,
        buf: &mut [u8],
        pd: Pd,
        len: u64,
        now: u64,
    ) -> (Verdict, LogMarks) {
        let (ev, tr) = match self.match_rules(meta, kif, &pd, Some(buf), now) {
            Ok(x) => x,
            Err(reason) => return (self.dropped(reason), LogMarks::default()),
        };
        let mut marks = ev.marks;
        let decided = self.decide(&ev);
        if let Some(d) = &decided {
            self.mark_decided(
                &mut marks,
                d,
                &ev,
                pd.badopts != 0 && d.action == Action::Pass && !d.allow_opts,
            );
        }
        (
            self.test_rules_decided(meta, buf, pd, len, now, decided, ev, tr),
            marks,
        )
    }

    /// The deciding rule's pflog mark: its own `log`, or a `log (matches)`
    /// before it (then it is marked already), or a packet dropped for IP
    /// options (`forced`, PF_LOG_FORCE).
    fn mark_decided(&self, marks: &mut LogMarks, d: &Decision, ev: &Evaluation, forced: bool) {
        if marks.decided_mut().is_some() {
            return;
        }
        let Some(r) = self.rules.rule(d.rule) else {
            return;
        };
        if r.log.enabled || forced {
            let action = LogMark::action_of(d.action == Action::Pass);
            let mut m = self.rules.log_mark(d.rule, ev.anchor, action, r.log);
            m.decided = true;
            marks.push(m);
        }
    }

    /// The verdict of the rule that decided (None: the default rule).
    #[allow(clippy::too_many_arguments)]
    fn test_rules_decided(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        pd: Pd,
        len: u64,
        now: u64,
        decided: Option<Decision>,
        ev: Evaluation,
        tr: Translation,
    ) -> Verdict {
        if decided.is_none_or(|d| d.action != Action::Pass) {
            // No state comes of it: the source nodes the match rules'
            // translations made are let go.
            self.release_sns(&tr.sns, now);
        }
        let Some(d) = decided else {
            return self.default_rule(meta, &pd, &ev);
        };
        if d.action == Action::Pass && pd.badopts != 0 && !d.allow_opts {
            // IP options pass only by a rule with `allow-opts`.
            self.release_sns(&tr.sns, now);
            return self.bad_options(Some(d.rule.nr));
        }
        // The deciding rule and the anchor rule it was reached through
        // count the packet (pf_counters_inc).
        self.count_rules([Some(d.rule), d.anchor], meta.dir, len);
        if d.action == Action::Block {
            return self.block(meta.dir, buf, &pd, &d, &ev, len);
        }
        let afto = self
            .rules
            .rule(d.rule)
            .and_then(|r| r.extras.af_to)
            .filter(|_| meta.dir == Dir::In);
        let p = Passing {
            pd,
            tr,
            ev: &ev,
            afto,
            len,
        };
        self.pass(meta, buf, p, d, now)
    }

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
                    Some(buf) if self.rules.uses_os() => os_of(&self.osfp, pd, buf),
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

    /// What the deciding rule of `ev` says, with what the evaluation adds
    /// (None: no rule decided, the default rule applies).
    fn decide(&self, ev: &Evaluation) -> Option<Decision> {
        let ri = ev.rule?;
        let r = self.rules.rule(ri)?;
        let mut d = Decision::of(ri, r);
        if ev.limiter_block {
            // Over its limiter's limit, `(block)`: the rule blocks.
            d.action = Action::Block;
            d.block = BlockReturn::Drop;
        }
        d.anchor = ev.anchor;
        d.tag = ev.tag.unwrap_or(0);
        // The normalisation actions: match rules', then the deciding rule's.
        d.actions = ev.actions;
        d.actions.add(r);
        Some(d)
    }

    /// The default rule: pass, no state, no IP options (a `match` rule's
    /// tag and rtable still go on the packet).
    fn default_rule(&mut self, meta: &PacketMeta, pd: &Pd, ev: &Evaluation) -> Verdict {
        if pd.badopts != 0 {
            return self.bad_options(None);
        }
        let mut v = Verdict::pass(false);
        v.log = ev.log;
        tag_packet(&mut v, meta, ev.tag.unwrap_or(0));
        if let Some(t) = ev.rtable {
            if let Some(sel) = self.routing.targets.get(Target::Table(t)) {
                let sr = StateRoute {
                    rtable: Some(t),
                    rtable_sel: sel,
                    ..Default::default()
                };
                v.route(&sr, true, meta);
            }
        }
        v
    }

    /// A packet with IP options no rule allowed (of rule number `rule`).
    fn bad_options(&mut self, rule: Option<u32>) -> Verdict {
        let mut v = self.dropped(Reason::IpOption);
        v.log = true;
        v.rule = rule;
        v
    }

    /// A `block` rule decided: the packet goes, with the reply the rule
    /// asks for.
    fn block(
        &mut self,
        dir: Dir,
        buf: &[u8],
        pd: &Pd,
        d: &Decision,
        ev: &Evaluation,
        len: u64,
    ) -> Verdict {
        self.count(Reason::Match);
        self.table_stats(d.rule, &pd.src, &pd.dst, dir, table::OP_BLOCK, len);
        let mut v = Verdict::drop(Reason::Match);
        v.log = ev.log;
        v.rule = Some(d.rule.nr);
        v.reply = reply::block_reply(d.block, pd, buf);
        v
    }

    /// A `pass` rule decided: its own translation on top of the match
    /// rules', its policy routing, its state; then the packet rewritten
    /// and passed.
    fn pass(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        mut p: Passing,
        mut d: Decision,
        now: u64,
    ) -> Verdict {
        if let Err(reason) = self.pass_targets(&mut p, &mut d, meta.dir, now) {
            self.release_sns(&p.tr.sns, now);
            return self.dropped(reason);
        }
        if let Some(naf) = p.afto {
            let mut v = self.test_rules_afto(meta, buf, &p, &mut d, naf, now);
            v.log |= p.ev.log;
            return v;
        }
        let (state, modified) = match self.keep_state(meta, buf, &p, &d, now) {
            Ok(made) => made,
            Err(v) => return v,
        };
        let mut pd = p.pd;
        let (orig, translated) = (p.pd, p.tr.view);
        let mut modified = modified;
        if translated.src != orig.src || translated.sport != orig.sport {
            modified |= set_end(buf, &mut pd, End::Src, translated.src, translated.sport);
        }
        if translated.dst != orig.dst || translated.dport != orig.dport {
            modified |= set_end(buf, &mut pd, End::Dst, translated.dst, translated.dport);
        }
        self.table_stats(
            d.rule,
            &orig.src,
            &orig.dst,
            meta.dir,
            table::OP_PASS,
            p.len,
        );
        if let Some(slot) = state {
            // pf_counters_inc: the match rules count the packets of the
            // state they helped make (a stateless packet, only its rule).
            self.count_match_rules(slot, meta.dir, p.len);
        }
        let mut v = Verdict::pass(modified);
        v.log = p.ev.log;
        v.rule = Some(d.rule.nr);
        v.route(&d.route, true, meta);
        tag_packet(&mut v, meta, d.tag);
        match state {
            Some(slot) => self.state_pass(buf, &pd, slot, v),
            None => self.stateless_scrub(buf, &pd, &d, v),
        }
    }

    /// The pass rule's own translation (unless af-to, which translates on
    /// its own), then its policy routing; the source nodes of sticky pools
    /// and the least-states addresses go with the decision to the state.
    /// Err: no address to translate to, or no route.
    fn pass_targets(
        &mut self,
        p: &mut Passing,
        d: &mut Decision,
        dir: Dir,
        now: u64,
    ) -> Result<(), Reason> {
        let ri = d.rule;
        if p.afto.is_none() {
            self.get_transaddr(ri, &mut p.tr, dir, now)?;
        }
        d.route = self.state_route(ri, p.pd.af, p.ev.rtable, &p.pd.src, &mut p.tr.sns, now)?;
        if let Some((_, hop)) = d.route.rt {
            d.lb[1] = self.lb_ref(ri, SnType::Route, hop);
        }
        if p.afto.is_none() {
            d.lb[0] = p.tr.lb;
        }
        d.sns = p.tr.sns;
        Ok(())
    }

    /// The state of a rule that keeps state (pf_create_state), unless the
    /// packet makes none: the state's slot, if one was made, and whether
    /// the packet was rewritten (`scrub (reassemble tcp)`, `modulate
    /// state`). Err: the verdict is decided here (synproxy answers, or
    /// no state could be made). Source nodes no state took are let go.
    fn keep_state(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        p: &Passing,
        d: &Decision,
        now: u64,
    ) -> Result<(Option<Slot>, bool), Verdict> {
        let pd = &p.pd;
        if d.keep_state == KeepState::None || pd.fragment || icmp_makes_no_state(pd) {
            self.release_sns(&d.sns, now);
            return Ok((None, false));
        }
        let matches = p.ev.matches.as_slice();
        let made = self.create_state(meta, d, matches, (pd, &p.tr.view), p.len, now);
        let (slot, seqdiff) = match made {
            Ok(made) => made,
            Err(reason) => return Err(self.dropped(reason)),
        };
        if d.keep_state == KeepState::Synproxy && meta.dir == Dir::In && bare_syn(pd) {
            // pf answers the client itself; without an answer (a SYN
            // rebuilt from a syncookie) the packet goes on, stateless.
            return match self.synproxy_open(slot, pd) {
                Some(mut v) => {
                    v.log = p.ev.log;
                    v.rule = Some(d.rule.nr);
                    Err(v)
                }
                None => Ok((None, false)),
            };
        }
        let mut modified = false;
        if d.actions.flags & normalize::PFSTATE_SCRUB_TCP != 0 && pd.tcp.is_some() {
            match self.scrub_first_packet(buf, pd, slot, now) {
                Ok(m) => modified |= m,
                Err(reason) => {
                    self.remove_state(slot, now, true);
                    return Err(self.dropped(reason));
                }
            }
        }
        modified |= modulate_first(buf, pd, seqdiff);
        Ok((Some(slot), modified))
    }

    /// Without a state the deciding rule's own scrub applies (pf_test:
    /// r->scrub_flags, not the match rules').
    fn stateless_scrub(
        &mut self,
        buf: &mut [u8],
        pd: &Pd,
        d: &Decision,
        mut v: Verdict,
    ) -> Verdict {
        let a = self
            .rules
            .rule(d.rule)
            .map(Actions::of_rule)
            .unwrap_or_default();
        if !a.is_empty() {
            let rid = self.random() as u16;
            v.modified |= normalize::scrub(buf, pd, &a, rid);
        }
        v
    }

    /// A packet that an `af-to` rule passes (coming in): the new
    /// connection's addresses, its state (keys of both families), and the
    /// translated packet for the data path to send instead. The new
    /// addresses are taken from the packet as the rules saw it (after the
    /// match rules' translations).
    fn test_rules_afto(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        p: &Passing,
        d: &mut Decision,
        naf: Af,
        now: u64,
    ) -> Verdict {
        let pd = p.pd;
        if pd.fragment {
            // The header to translate is in the first fragment only.
            self.release_sns(&d.sns, now);
            return self.dropped(Reason::Fragment);
        }
        let Some(to) = self.af_target(d.rule, &p.tr.view, naf, &mut d.sns, now) else {
            self.release_sns(&d.sns, now);
            return self.dropped(Reason::Translate);
        };
        let mut t = pd;
        t.af = naf;
        t.src = to.src;
        t.dst = to.dst;
        t.sport = to.sport;
        t.dport = to.dport;
        t.proto = af::other_proto(pd.proto);
        if d.keep_state == KeepState::None || icmp_makes_no_state(&pd) {
            self.release_sns(&d.sns, now);
        } else {
            let matches = p.ev.matches.as_slice();
            match self.create_state(meta, d, matches, (&pd, &t), p.len, now) {
                Ok((slot, seqdiff)) => {
                    self.count_match_rules(slot, meta.dir, p.len);
                    modulate_first(buf, &pd, seqdiff);
                }
                Err(reason) => return self.dropped(reason),
            }
        }
        let ident = self.random() as u16;
        let Some(mut pkt) = af::translate(buf, &pd, &to, ident, true) else {
            // Out of TTL, or nothing pf knows how to translate.
            return self.dropped(Reason::Translate);
        };
        // The normalisation actions apply to the packet sent.
        if !d.actions.is_empty() {
            let rid = self.random() as u16;
            normalize::scrub_packet(&mut pkt, &d.actions, rid);
        }
        let mut v = Verdict::pass(false);
        v.rule = Some(d.rule.nr);
        v.forward = Forward::AfTo(pkt);
        v
    }
}

//! What rules keep at run time, and the last checks and effects of
//! pf_match_rule that use it: `probability` (pf's random compare),
//! `[!] tagged` (against the tag so far), `max-pkt-rate` (the rule's packet
//! rate threshold, counted last), then `tag` (the last matching rule with a
//! tag decides the packet's tag) and `once` (the first matching packet
//! expires the rule; expired rules are skipped and `pfctl -sr` hides them).
//!
//! One `RuleRun` per flattened rule, built when a ruleset is loaded: tag
//! names become numbers of the engine's `TagTable` (referenced while the
//! ruleset runs, released when it is replaced).

use super::matchctx::MatchCtx;
use super::packet::Pd;
use super::tag::TagTable;
use super::threshold::Threshold;
use crate::osfp::{self, OsSpec, OsfpDb};
use crate::ruleset::Rule;
use crate::wire::IPPROTO_TCP;
use std::sync::Arc;

/// The run-time part of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleRun {
    /// `tag NAME`: its number, 0 = none.
    pub tag: u16,
    /// `[!] tagged NAME`: (negated, number).
    pub match_tag: Option<(bool, u16)>,
    /// `probability`: a fraction of 2^32, 0 = always.
    pub prob: u32,
    /// `max-pkt-rate`.
    pub pktrate: Option<Threshold>,
    pub once: bool,
    /// A `once` rule that has matched: skipped from now on.
    pub expired: bool,
    /// A tag name the table had no number left for: the rule matches
    /// nothing (pfd refuses such a ruleset before it gets here).
    pub unusable: bool,
    /// The rule's label, shared with the states it makes.
    pub label: Option<Arc<str>>,
    /// `os "name"`, resolved against the loaded fingerprints.
    pub os: Option<OsSpec>,
}

/// The run-time part of a loaded ruleset, rule by rule (flat indices, as
/// `LoadedRules` numbers them), and the random source of `probability`.
#[derive(Debug, Clone, Default)]
pub struct RuleStates {
    runs: Vec<RuleRun>,
    rng: u64,
    /// Some rule has `os`: packets need a fingerprint.
    uses_os: bool,
}

impl RuleStates {
    /// Number the tags of `rules` (flattened) in `tags` and set up their
    /// thresholds. `seed` starts the random source of `probability`.
    pub fn bind(
        rules: &[Rule],
        tags: &mut TagTable,
        fingerprints: &OsfpDb,
        seed: u64,
        now_ms: u64,
    ) -> RuleStates {
        let now_s = now_ms / 1000;
        let runs = rules
            .iter()
            .map(|r| {
                let mut run = RuleRun {
                    prob: r.extras.probability,
                    pktrate: r
                        .extras
                        .max_pkt_rate
                        .map(|(n, s)| Threshold::new(n, s, now_s)),
                    once: r.extras.once,
                    label: r.label.as_deref().map(Arc::from),
                    os: r.extras.os.as_deref().map(|n| fingerprints.resolve(n)),
                    ..RuleRun::default()
                };
                if let Some(name) = &r.tag {
                    match tags.get_or_add(name) {
                        Some(id) => run.tag = id,
                        None => run.unusable = true,
                    }
                }
                if let Some((neg, name)) = &r.tagged {
                    match tags.get_or_add(name) {
                        Some(id) => run.match_tag = Some((*neg, id)),
                        None => run.unusable = true,
                    }
                }
                run
            })
            .collect::<Vec<RuleRun>>();
        RuleStates {
            uses_os: runs.iter().any(|r| r.os.is_some()),
            runs,
            rng: seed | 1,
        }
    }

    /// Resolve the rules' `os` names again, after the fingerprints changed.
    pub fn rebind_os(&mut self, rules: &[Rule], fingerprints: &OsfpDb) {
        for (run, r) in self.runs.iter_mut().zip(rules) {
            run.os = r.extras.os.as_deref().map(|n| fingerprints.resolve(n));
        }
    }

    /// Do the rules need the packets' OS fingerprints?
    pub fn uses_os(&self) -> bool {
        self.uses_os
    }

    /// Give the tag numbers back (the ruleset is being replaced).
    pub fn release(&self, tags: &mut TagTable) {
        for run in &self.runs {
            tags.unref(run.tag);
            if let Some((_, id)) = run.match_tag {
                tags.unref(id);
            }
        }
    }

    pub fn get(&self, i: usize) -> Option<&RuleRun> {
        self.runs.get(i)
    }

    /// A `once` rule that has fired: skipped, before it is even counted.
    pub fn expired(&self, i: usize) -> bool {
        self.runs.get(i).is_some_and(|r| r.expired)
    }

    /// Tag numbers the rules use, for the check before a load.
    pub fn tag_names(rules: &[Rule]) -> impl Iterator<Item = &str> {
        rules.iter().flat_map(|r| {
            r.tag
                .as_deref()
                .into_iter()
                .chain(r.tagged.as_ref().map(|(_, n)| n.as_str()))
        })
    }

    fn random(&mut self) -> u32 {
        // xorshift64*, as the engine's other random choices.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    /// The checks pf makes after the addresses, ports and flags matched,
    /// and what a matching rule does to the evaluation: `os` (TCP only),
    /// `probability`, `tagged`, `max-pkt-rate`, then `tag` and `once`.
    /// `tag` is pf's `ctx->tag`: None until a rule sets a tag or a
    /// `tagged` test reads the packet's (`ctx.tag`). Returns false when rule
    /// `i` does not match.
    /// `dry`: a second look at a packet; the packet-rate window and `once`
    /// stay as they are.
    pub fn admit(
        &mut self,
        i: usize,
        pd: &Pd,
        ctx: &MatchCtx,
        tag: &mut Option<u16>,
        dry: bool,
    ) -> bool {
        let (pkt_tag, now_ms) = (ctx.tag, ctx.now);
        if i >= self.runs.len() {
            return true;
        }
        if self.runs[i].unusable {
            return false;
        }
        if let Some(spec) = self.runs[i].os {
            if pd.proto == IPPROTO_TCP && !pd.fragment && !osfp::matches(ctx.os, spec) {
                return false;
            }
        }
        // r->prob <= arc4random_uniform(UINT_MAX - 1) + 1: no match.
        let prob = self.runs[i].prob;
        if prob != 0 {
            let draw = ((self.random() as u64 * (u32::MAX as u64 - 1)) >> 32) as u32 + 1;
            if prob <= draw {
                return false;
            }
        }
        let run = &mut self.runs[i];
        if let Some((neg, id)) = run.match_tag {
            let cur = *tag.get_or_insert(pkt_tag);
            if (cur == id) == neg {
                return false;
            }
        }
        // Must be last: the packet counts whether or not it then matches.
        if let Some(t) = run.pktrate.as_mut() {
            if !dry {
                t.add(now_ms / 1000);
            }
            if t.exceeded() {
                return false;
            }
        }
        if run.tag != 0 {
            *tag = Some(run.tag);
        }
        if run.once && !dry {
            run.expired = true;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{parse, StaticResolver};
    use crate::engine::packet::tests::{udp_dgram, v4};
    use crate::engine::packet::{describe, Dir};

    /// `admit` for a UDP packet carrying tag `pkt_tag`.
    fn adm(st: &mut RuleStates, i: usize, pkt_tag: u16, tag: &mut Option<u16>, now: u64) -> bool {
        let p = v4("10.0.0.1", "10.0.0.2", 17, &udp_dgram(1, 2, b""));
        let pd = describe(&p).unwrap();
        let ifaces = crate::engine::iface::IfTable::default();
        let fib = crate::engine::fib::Fib::default();
        let ctx = MatchCtx {
            dir: Dir::In,
            ifname: "eth0",
            uid: None,
            gid: None,
            ifaces: &ifaces,
            fib: &fib,
            kif: None,
            rcv: None,
            tables: &crate::engine::table::Tables::new(),
            tag: pkt_tag,
            now,
            os: None,
        };
        st.admit(i, &pd, &ctx, tag, false)
    }

    fn states(src: &str) -> (RuleStates, TagTable) {
        let rs = parse(src, "t.conf", &StaticResolver::new())
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        let mut tags = TagTable::default();
        let st = RuleStates::bind(&rs.rules, &mut tags, &OsfpDb::default(), 42, 0);
        (st, tags)
    }

    #[test]
    fn tags_are_numbered_and_released() {
        let (st, mut tags) = states("pass tag FOO\nblock ! tagged FOO\npass tagged BAR\n");
        assert_eq!(st.get(0).unwrap().tag, 1);
        assert_eq!(st.get(1).unwrap().match_tag, Some((true, 1)));
        assert_eq!(st.get(2).unwrap().match_tag, Some((false, 2)));
        assert_eq!(tags.len(), 2);
        st.release(&mut tags);
        assert!(tags.is_empty());
    }

    #[test]
    fn tagged_reads_the_packet_tag_once_then_follows_tag_rules() {
        let (mut st, _) =
            states("pass tagged FOO\nmatch tag BAR\npass tagged BAR\npass ! tagged FOO\n");
        // Packet tagged FOO (1): the first rule matches and pf's ctx tag is
        // now the packet's.
        let mut tag = None;
        assert!(adm(&mut st, 0, 1, &mut tag, 0));
        assert_eq!(tag, Some(1));
        // The match rule retags it BAR (2); later tests see BAR.
        assert!(adm(&mut st, 1, 1, &mut tag, 0));
        assert_eq!(tag, Some(2));
        assert!(adm(&mut st, 2, 1, &mut tag, 0));
        assert!(adm(&mut st, 3, 1, &mut tag, 0));
        // An untagged packet.
        let mut tag = None;
        assert!(!adm(&mut st, 0, 0, &mut tag, 0));
        assert_eq!(tag, Some(0));
        assert!(adm(&mut st, 3, 0, &mut tag, 0));
    }

    #[test]
    fn once_expires_on_the_first_match() {
        let (mut st, _) = states("pass once\n");
        assert!(!st.expired(0));
        let mut tag = None;
        assert!(adm(&mut st, 0, 0, &mut tag, 0));
        assert!(st.expired(0));
    }

    #[test]
    fn probability_passes_about_its_share() {
        let (mut st, _) = states("pass probability 30%\npass probability 100%\n");
        let mut hits = 0;
        for _ in 0..10000 {
            if adm(&mut st, 0, 0, &mut None, 0) {
                hits += 1;
            }
            assert!(adm(&mut st, 1, 0, &mut None, 0));
        }
        assert!((2700..3300).contains(&hits), "{hits}");
    }

    #[test]
    fn max_pkt_rate_stops_matching_over_the_rate() {
        let (mut st, _) = states("pass max-pkt-rate 3/2\n");
        let got: Vec<bool> = (0..5)
            .map(|_| adm(&mut st, 0, 0, &mut None, 1000))
            .collect();
        assert_eq!(got, vec![true, true, true, false, false]);
        // Two seconds later the window has passed.
        assert!(adm(&mut st, 0, 0, &mut None, 3000));
    }
}

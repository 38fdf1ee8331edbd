//! State limiters and source limiters at run time (OpenBSD 7.8): the pools
//! of states the rules that name them draw from, their rate windows and
//! counters, and the per-source entries of a source limiter.
//!
//! A rule naming a limiter is checked while the ruleset is walked, once
//! the rest of the rule matched (`check`): over the limit (`limit` states
//! in use, or `rate N/S` new states spent, or for a source limiter no room
//! for another source entry) the rule does not match (`no-match`, the
//! default) or blocks the packet (`block`); the refusal is counted
//! (`hardlim`, `ratelim`, `addrlim`). A state made by the deciding rule
//! takes its place in the limiters (`acquire`) and gives it back when it
//! goes (`release`). A source entry lives while it has states.
//!
//! Definitions come with the main ruleset (`configure`); a limiter whose id
//! and kind stay across a reload keeps its states, entries and counters.
//! The walk allocates nothing; a new source entry is one map insertion,
//! made with its state.

use super::threshold::Threshold;
use super::Engine;
use crate::addr::IpNet;
use crate::ruleset::{LimiterDef, LimiterRate, SourceLimiterDef, StateLimiterDef};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;

/// What a rule's limiters say about one more state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Room for it: the rule matches.
    Admit,
    /// Over a limit: the rule does not match.
    NoMatch,
    /// Over a limit: the rule blocks the packet.
    Block,
}

/// The limiters a rule names: (id, block) of each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleLimiters {
    pub state: Option<(u32, bool)>,
    pub source: Option<(u32, bool)>,
}

impl RuleLimiters {
    pub fn of(r: &crate::ruleset::Rule) -> RuleLimiters {
        RuleLimiters {
            state: r.extras.state_limiter.as_ref().map(|u| (u.id, u.block)),
            source: r.extras.source_limiter.as_ref().map(|u| (u.id, u.block)),
        }
    }

    pub fn any(&self) -> bool {
        self.state.is_some() || self.source.is_some()
    }
}

/// Where a state sits in the limiters, to give its place back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimiterLinks {
    /// The state limiter's id (0: none).
    pub state: u32,
    /// The source limiter's id (0: none), the source entry's key and the
    /// entry's generation (a killed entry's states no longer count for a
    /// new entry of the same source).
    pub source: u32,
    pub source_key: Option<IpAddr>,
    pub source_gen: u64,
}

impl LimiterLinks {
    /// In no limiter (the default).
    pub const NONE: LimiterLinks = LimiterLinks {
        state: 0,
        source: 0,
        source_key: None,
        source_gen: 0,
    };
}

/// Counters of a limiter or of a source entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimiterCounters {
    /// States in the limiter (or entry) now.
    pub inuse: u32,
    /// States admitted since it was made.
    pub admitted: u64,
    /// Refused: the state limit was reached.
    pub hardlim: u64,
    /// Refused: the rate was spent.
    pub ratelim: u64,
}

#[derive(Debug, Clone)]
struct StateLim {
    def: StateLimiterDef,
    c: LimiterCounters,
    rate: Option<Threshold>,
}

#[derive(Debug, Clone)]
struct SrcEntry {
    c: LimiterCounters,
    rate: Option<Threshold>,
    gen: u64,
}

#[derive(Debug, Clone)]
struct SourceLim {
    def: SourceLimiterDef,
    c: LimiterCounters,
    /// Refused: no room for another source entry (`entries`).
    addrlim: u64,
    entries: HashMap<IpAddr, SrcEntry>,
}

/// The limiters of the loaded ruleset.
#[derive(Debug, Clone, Default)]
pub struct Limiters {
    states: Vec<StateLim>,
    sources: Vec<SourceLim>,
    next_gen: u64,
}

/// A state limiter as `pfctl -s LimiterStates` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateLimiterInfo {
    pub def: StateLimiterDef,
    pub counters: LimiterCounters,
}

/// A source entry of a source limiter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntryInfo {
    pub source: IpNet,
    pub counters: LimiterCounters,
}

/// A source limiter as `pfctl -s LimiterSrcs [-v]` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLimiterInfo {
    pub def: SourceLimiterDef,
    pub counters: LimiterCounters,
    pub addrlim: u64,
    /// Source entries in use.
    pub nentries: u32,
    /// The entries themselves (asked for with -v), by address.
    pub entries: Vec<SourceEntryInfo>,
}

/// Would one more event fit in `rate`'s window at `now_s`?
fn rate_allows(t: &Option<Threshold>, now_s: u64) -> bool {
    match t {
        None => true,
        Some(t) => {
            let mut probe = *t;
            probe.add(now_s);
            !probe.exceeded()
        }
    }
}

fn threshold(r: Option<LimiterRate>, now_s: u64) -> Option<Threshold> {
    r.map(|r| Threshold::new(r.limit, r.seconds, now_s))
}

/// The key of `src` in a source limiter: the address reduced to the
/// limiter's prefix for its family.
fn source_key(d: &SourceLimiterDef, src: IpAddr) -> IpAddr {
    let prefix = match src {
        IpAddr::V4(_) => d.inet_prefix,
        IpAddr::V6(_) => d.inet6_prefix,
    };
    IpNet { addr: src, prefix }.network()
}

impl Limiters {
    /// Install the definitions of a new main ruleset. A limiter keeping its
    /// id and kind keeps its states, entries and counters (its limits are
    /// the new ones); the others start empty.
    pub fn configure(&mut self, defs: &[LimiterDef], now_ms: u64) {
        let now_s = now_ms / 1000;
        let mut old_states = std::mem::take(&mut self.states);
        let mut old_sources = std::mem::take(&mut self.sources);
        for d in defs {
            match d {
                LimiterDef::State(d) => {
                    let kept = old_states
                        .iter()
                        .position(|o| o.def.id == d.id)
                        .map(|i| old_states.swap_remove(i));
                    let (c, rate) = match kept {
                        Some(o) if o.def.rate == d.rate => (o.c, o.rate),
                        Some(o) => (o.c, threshold(d.rate, now_s)),
                        None => (LimiterCounters::default(), threshold(d.rate, now_s)),
                    };
                    self.states.push(StateLim {
                        def: d.clone(),
                        c,
                        rate,
                    });
                }
                LimiterDef::Source(d) => {
                    let kept = old_sources
                        .iter()
                        .position(|o| o.def.id == d.id)
                        .map(|i| old_sources.swap_remove(i));
                    let mut s = SourceLim {
                        def: d.clone(),
                        c: LimiterCounters::default(),
                        addrlim: 0,
                        entries: HashMap::new(),
                    };
                    if let Some(o) = kept {
                        s.c = o.c;
                        s.addrlim = o.addrlim;
                        if o.def.inet_prefix == d.inet_prefix
                            && o.def.inet6_prefix == d.inet6_prefix
                        {
                            s.entries = o.entries;
                            if o.def.rate != d.rate {
                                for e in s.entries.values_mut() {
                                    e.rate = threshold(d.rate, now_s);
                                }
                            }
                        }
                    }
                    self.sources.push(s);
                }
            }
        }
        self.states.sort_by_key(|s| s.def.id);
        self.sources.sort_by_key(|s| s.def.id);
    }

    pub fn has_state(&self, id: u32) -> bool {
        self.states.iter().any(|s| s.def.id == id)
    }

    pub fn has_source(&self, id: u32) -> bool {
        self.sources.iter().any(|s| s.def.id == id)
    }

    fn state_mut(&mut self, id: u32) -> Option<&mut StateLim> {
        self.states.iter_mut().find(|s| s.def.id == id)
    }

    fn source_mut(&mut self, id: u32) -> Option<&mut SourceLim> {
        self.sources.iter_mut().find(|s| s.def.id == id)
    }

    /// May the rule naming `lims` make one more state for a packet from
    /// `src`? A refusal is counted unless `dry` (a second look at a
    /// packet). A limiter that is not loaded refuses nothing (pfd refuses
    /// such a ruleset at load).
    pub fn check(&mut self, lims: RuleLimiters, src: IpAddr, now_ms: u64, dry: bool) -> Admission {
        let now_s = now_ms / 1000;
        let refuse = |block: bool| {
            if block {
                Admission::Block
            } else {
                Admission::NoMatch
            }
        };
        if let Some((id, block)) = lims.state {
            if let Some(s) = self.state_mut(id) {
                if s.c.inuse >= s.def.limit {
                    if !dry {
                        s.c.hardlim += 1;
                    }
                    return refuse(block);
                }
                if !rate_allows(&s.rate, now_s) {
                    if !dry {
                        s.c.ratelim += 1;
                    }
                    return refuse(block);
                }
            }
        }
        if let Some((id, block)) = lims.source {
            if let Some(s) = self.source_mut(id) {
                let key = source_key(&s.def, src);
                match s.entries.get_mut(&key) {
                    Some(e) => {
                        if e.c.inuse >= s.def.limit {
                            if !dry {
                                e.c.hardlim += 1;
                                s.c.hardlim += 1;
                            }
                            return refuse(block);
                        }
                        if !rate_allows(&e.rate, now_s) {
                            if !dry {
                                e.c.ratelim += 1;
                                s.c.ratelim += 1;
                            }
                            return refuse(block);
                        }
                    }
                    None => {
                        if s.entries.len() as u64 >= s.def.entries as u64 {
                            if !dry {
                                s.addrlim += 1;
                            }
                            return refuse(block);
                        }
                    }
                }
            }
        }
        Admission::Admit
    }

    /// A state made by a rule naming `lims` takes its places.
    pub fn acquire(&mut self, lims: RuleLimiters, src: IpAddr, now_ms: u64) -> LimiterLinks {
        let now_s = now_ms / 1000;
        let mut links = LimiterLinks::default();
        if let Some((id, _)) = lims.state {
            if let Some(s) = self.state_mut(id) {
                s.c.inuse += 1;
                s.c.admitted += 1;
                if let Some(t) = s.rate.as_mut() {
                    t.add(now_s);
                }
                links.state = id;
            }
        }
        if let Some((id, _)) = lims.source {
            self.next_gen += 1;
            let gen = self.next_gen;
            if let Some(s) = self.sources.iter_mut().find(|s| s.def.id == id) {
                let key = source_key(&s.def, src);
                let rate = s.def.rate;
                let e = s.entries.entry(key).or_insert_with(|| SrcEntry {
                    c: LimiterCounters::default(),
                    rate: threshold(rate, now_s),
                    gen,
                });
                e.c.inuse += 1;
                e.c.admitted += 1;
                if let Some(t) = e.rate.as_mut() {
                    t.add(now_s);
                }
                s.c.inuse += 1;
                s.c.admitted += 1;
                links.source = id;
                links.source_key = Some(key);
                links.source_gen = e.gen;
            }
        }
        links
    }

    /// A state goes: its places are given back; a source entry without
    /// states goes too.
    pub fn release(&mut self, l: &LimiterLinks) {
        if l.state != 0 {
            if let Some(s) = self.state_mut(l.state) {
                s.c.inuse = s.c.inuse.saturating_sub(1);
            }
        }
        if let (true, Some(key)) = (l.source != 0, l.source_key) {
            if let Some(s) = self.source_mut(l.source) {
                let Some(e) = s.entries.get_mut(&key) else {
                    return;
                };
                if e.gen != l.source_gen {
                    return;
                }
                s.c.inuse = s.c.inuse.saturating_sub(1);
                e.c.inuse = e.c.inuse.saturating_sub(1);
                if e.c.inuse == 0 {
                    s.entries.remove(&key);
                }
            }
        }
    }

    /// `pfctl -I id -k source -k net`: drop the entries of source limiter
    /// `id` inside `net`, or holding `net` (their states stay, no longer
    /// counted). Returns
    /// how many went, None for no such limiter.
    pub fn kill_sources(&mut self, id: u32, net: &IpNet) -> Option<u64> {
        let s = self.source_mut(id)?;
        let before = s.entries.len();
        let mut freed = 0u32;
        let (p4, p6) = (s.def.inet_prefix, s.def.inet6_prefix);
        s.entries.retain(|k, e| {
            // The entries inside `net`, and the one `net` lies in.
            let p = if k.is_ipv4() { p4 } else { p6 };
            let entry = IpNet {
                addr: *k,
                prefix: p,
            };
            if net.contains(k) || (net.prefix >= p && entry.contains(&net.addr)) {
                freed += e.c.inuse;
                false
            } else {
                true
            }
        });
        s.c.inuse = s.c.inuse.saturating_sub(freed);
        Some((before - s.entries.len()) as u64)
    }

    /// The state limiters, by id.
    pub fn state_info(&self) -> Vec<StateLimiterInfo> {
        self.states
            .iter()
            .map(|s| StateLimiterInfo {
                def: s.def.clone(),
                counters: s.c,
            })
            .collect()
    }

    /// The source limiters, by id, with their entries when `entries`.
    pub fn source_info(&self, entries: bool) -> Vec<SourceLimiterInfo> {
        self.sources
            .iter()
            .map(|s| {
                let mut list: Vec<SourceEntryInfo> = if entries {
                    s.entries
                        .iter()
                        .map(|(k, e)| SourceEntryInfo {
                            source: IpNet {
                                addr: *k,
                                prefix: match k {
                                    IpAddr::V4(_) => s.def.inet_prefix,
                                    IpAddr::V6(_) => s.def.inet6_prefix,
                                },
                            },
                            counters: e.c,
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                list.sort_by_key(|e| e.source.addr);
                SourceLimiterInfo {
                    def: s.def.clone(),
                    counters: s.c,
                    addrlim: s.addrlim,
                    nentries: s.entries.len() as u32,
                    entries: list,
                }
            })
            .collect()
    }
}

impl Engine {
    /// The state limiters and their counters (`pfctl -s LimiterStates`).
    pub fn state_limiters(&self) -> Vec<StateLimiterInfo> {
        self.rules.limiters.state_info()
    }

    /// The source limiters, with their entries when `entries`
    /// (`pfctl -s LimiterSrcs [-v]`).
    pub fn source_limiters(&self, entries: bool) -> Vec<SourceLimiterInfo> {
        self.rules.limiters.source_info(entries)
    }

    /// `pfctl -I id -k source -k net`: the entries of source limiter `id`
    /// inside `net` go.
    pub fn kill_limiter_sources(&mut self, id: u32, net: &crate::addr::IpNet) -> Option<u64> {
        self.rules.limiters.kill_sources(id, net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(limit: u32, rate: Option<(u32, u32)>) -> LimiterDef {
        LimiterDef::State(StateLimiterDef {
            name: "s".into(),
            id: 1,
            limit,
            rate: rate.map(|(limit, seconds)| LimiterRate { limit, seconds }),
        })
    }

    fn src(entries: u32, limit: u32, mask: u8) -> LimiterDef {
        LimiterDef::Source(SourceLimiterDef {
            name: "src".into(),
            id: 2,
            entries,
            limit,
            rate: None,
            inet_prefix: mask,
            inet6_prefix: 128,
            overload: None,
            src_line: 0,
        })
    }

    const S: RuleLimiters = RuleLimiters {
        state: Some((1, false)),
        source: None,
    };
    const SB: RuleLimiters = RuleLimiters {
        state: Some((1, true)),
        source: None,
    };
    const SRC: RuleLimiters = RuleLimiters {
        state: None,
        source: Some((2, false)),
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_state_limit_holds_and_frees_with_the_states() {
        let mut l = Limiters::default();
        l.configure(&[st(1, None)], 0);
        let a = ip("10.0.0.1");
        assert_eq!(l.check(S, a, 0, false), Admission::Admit);
        let link = l.acquire(S, a, 0);
        assert_eq!(l.check(S, a, 0, false), Admission::NoMatch);
        assert_eq!(l.check(SB, a, 0, false), Admission::Block);
        assert_eq!(l.check(S, a, 0, true), Admission::NoMatch);
        let i = &l.state_info()[0].counters;
        assert_eq!((i.inuse, i.admitted, i.hardlim, i.ratelim), (1, 1, 2, 0));
        l.release(&link);
        assert_eq!(l.state_info()[0].counters.inuse, 0);
        assert_eq!(l.check(S, a, 0, false), Admission::Admit);
    }

    #[test]
    fn the_rate_window_refuses_then_lets_go() {
        let mut l = Limiters::default();
        l.configure(&[st(1000, Some((1, 5)))], 10_000);
        let a = ip("10.0.0.1");
        assert_eq!(l.check(S, a, 10_000, false), Admission::Admit);
        l.acquire(S, a, 10_000);
        assert_eq!(l.check(S, a, 12_000, false), Admission::NoMatch);
        assert_eq!(l.check(S, a, 14_999, false), Admission::NoMatch);
        assert_eq!(l.state_info()[0].counters.ratelim, 2);
        assert_eq!(l.check(S, a, 16_000, false), Admission::Admit);
    }

    #[test]
    fn sources_are_limited_each_and_entries_in_number() {
        let mut l = Limiters::default();
        l.configure(&[src(2, 1, 24)], 0);
        let (a, a2, b, c) = (
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            ip("10.0.1.1"),
            ip("10.0.2.1"),
        );
        assert_eq!(l.check(SRC, a, 0, false), Admission::Admit);
        let la = l.acquire(SRC, a, 0);
        // a2 is in a's /24: the same entry, full.
        assert_eq!(l.check(SRC, a2, 0, false), Admission::NoMatch);
        assert_eq!(l.check(SRC, b, 0, false), Admission::Admit);
        l.acquire(SRC, b, 0);
        // A third source finds no room for its entry.
        assert_eq!(l.check(SRC, c, 0, false), Admission::NoMatch);
        let info = &l.source_info(true)[0];
        assert_eq!(info.nentries, 2);
        assert_eq!(info.addrlim, 1);
        assert_eq!(info.counters.hardlim, 1);
        assert_eq!(info.entries[0].source.to_string(), "10.0.0.0/24");
        assert_eq!(info.entries[0].counters.hardlim, 1);
        // Killing a's entry frees it; a's old state no longer counts.
        assert_eq!(l.kill_sources(2, &IpNet::host(a)), Some(1));
        assert_eq!(l.check(SRC, a2, 0, false), Admission::Admit);
        let la2 = l.acquire(SRC, a2, 0);
        l.release(&la);
        assert_eq!(l.source_info(true)[0].entries[0].counters.inuse, 1);
        l.release(&la2);
        assert_eq!(l.source_info(true)[0].nentries, 1);
        assert_eq!(l.kill_sources(9, &IpNet::host(a)), None);
    }

    #[test]
    fn a_reload_keeps_a_limiter_of_the_same_id() {
        let mut l = Limiters::default();
        l.configure(&[st(1, None)], 0);
        let link = l.acquire(S, ip("10.0.0.1"), 0);
        l.configure(&[st(2, None)], 0);
        assert_eq!(l.state_info()[0].counters.inuse, 1);
        assert_eq!(l.state_info()[0].def.limit, 2);
        l.configure(&[], 0);
        l.release(&link);
        assert!(l.state_info().is_empty());
    }
}

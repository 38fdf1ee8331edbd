//! The anchor tree pfd runs (pf_ruleset.c): the main ruleset and every
//! anchor below it, each owning its rules, their counters and who loaded
//! them. A transaction replaces the rulesets of the anchors it names and
//! nothing else: `pfctl -a foo -f` changes foo alone, `pfctl -f` the main
//! ruleset and its inline anchors; an anchor loaded later is found by the
//! calls already there.
//!
//! An anchor exists while it has rules, is called by an anchor rule (of
//! any ruleset) or has a child that exists (pf_remove_if_empty_ruleset);
//! `set limit anchors` caps how many exist. Calls are resolved to anchor
//! ids when a transaction commits, so evaluation follows indices only. A
//! rule is named by a `RuleRef` (see `ruleref`).

use super::logmark::{LogMark, LogMarks};
use super::nat::pool::{Cursor, Cursors};
use super::ruleref::RuleRef;
use super::rulestate::{RuleRun, RuleStates};
use super::srcnode::{ConnLimits, SnType};
use super::table::{RuleTables, Tables};
use crate::ruleset::{resolve, LogOpts, Rule};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// pf's PF_ANCHOR_STACK_MAX: how deep evaluation steps into anchors.
pub const MAX_DEPTH: usize = 64;
/// Longest anchor name (PF_ANCHOR_NAME_SIZE less the NUL).
pub const NAME_MAX: usize = 63;
/// Longest anchor path (MAXPATHLEN less the NUL).
pub const PATH_MAX: usize = 1023;
/// The main ruleset's id.
pub const MAIN: u32 = 0;

/// What `pfctl -vsr` shows under a rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleCounters {
    pub evaluations: u64,
    /// [in, out]
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    pub states_cur: u32,
    pub states_tot: u32,
}

/// Who loaded the ruleset (`Inserted: uid 0 pid 4242`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Loader {
    pub uid: u32,
    pub pid: u32,
}

/// What an anchor rule calls, resolved at commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Not an anchor rule.
    None,
    /// The rules of that anchor.
    Anchor(u32),
    /// `name/*`: the rules of each child of that anchor, by name.
    Children(u32),
}

/// One anchor's ruleset as the engine runs it.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub rules: Vec<Rule>,
    pub counters: Vec<RuleCounters>,
    /// Per rule: the anchor it calls.
    pub calls: Vec<Call>,
    /// Per rule: the tables it names, in this anchor (attached by the
    /// engine when the ruleset is installed).
    pub tables: Vec<RuleTables>,
    /// Per rule: its run-time state (tags, once, max-pkt-rate), bound by
    /// the engine when the ruleset is installed.
    pub run: RuleStates,
    /// Per rule: the positions of its address pools (nat, rdr, route)
    /// and their states per address (`nat::pool`).
    pub pools: Cursors,
    /// Per rule: its source connection limits, for the source nodes it
    /// makes (`srcnode`; set by the engine when the ruleset is installed).
    pub conn_limits: Vec<Option<Arc<ConnLimits>>>,
    /// Per rule: its skip steps (pf_calc_skip_steps at commit), for
    /// `pfctl -g`.
    pub skip: Vec<crate::ruleset::skip::SkipSteps>,
    pub generation: u64,
    pub loader: Loader,
}

impl Rules {
    fn new(rules: Vec<Rule>, generation: u64, loader: Loader) -> Rules {
        Rules {
            counters: vec![RuleCounters::default(); rules.len()],
            calls: vec![Call::None; rules.len()],
            tables: vec![],
            run: RuleStates::default(),
            pools: Cursors::new(&rules),
            conn_limits: vec![],
            skip: crate::ruleset::skip::calc(&rules),
            rules,
            generation,
            loader,
        }
    }

    /// Attach every table the rules name, in anchor `path` (`table::refs`).
    pub fn attach_tables(&mut self, path: &str, tables: &mut Tables, now: u32) {
        self.tables = super::table::attach_rules(&self.rules, path, tables, now);
    }

    /// Drop the rules' table references (the ruleset is being replaced).
    pub fn detach_tables(&mut self, tables: &mut Tables) {
        super::table::detach_rules(std::mem::take(&mut self.tables), tables);
    }
}

/// What `AnchorTree::apply` changed, for the engine to finish: the
/// rulesets it replaced or removed (their tags and tables to give back)
/// and the anchors whose rulesets are new (to bind and attach).
#[derive(Debug, Default)]
pub struct Applied {
    pub old: Vec<Rules>,
    pub fresh: Vec<u32>,
}

/// A node of the tree.
#[derive(Debug, Clone)]
pub struct Anchor {
    /// Last component of the path (`""` for the main ruleset).
    pub name: String,
    /// Full path without a leading `/` (`""` for the main ruleset).
    pub path: String,
    /// Children ids, ordered by name.
    pub children: Vec<u32>,
    /// Anchor rules calling it.
    pub refs: u32,
    pub rules: Rules,
}

/// The main ruleset and the anchors below it.
#[derive(Debug, Clone)]
pub struct AnchorTree {
    nodes: Vec<Option<Anchor>>,
    ids: HashMap<String, u32>,
    free: Vec<u32>,
    next_gen: u64,
    /// Some rule has `os`: packets need a fingerprint.
    uses_os: bool,
    /// The state and source limiters rules name (`limiter`).
    pub limiters: super::limiter::Limiters,
}

impl Default for AnchorTree {
    fn default() -> AnchorTree {
        AnchorTree::new()
    }
}

/// Is `path` a valid anchor path (`""` is the main ruleset)?
pub fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    if path.len() > PATH_MAX {
        return Err(format!("anchor path {path} is longer than {PATH_MAX}"));
    }
    for c in path.split('/') {
        if c.is_empty() {
            return Err(format!("bad anchor path {path}"));
        }
        if c.len() > NAME_MAX {
            return Err(format!("anchor name {c} is longer than {NAME_MAX}"));
        }
    }
    Ok(())
}

impl AnchorTree {
    /// A tree holding an empty main ruleset.
    pub fn new() -> AnchorTree {
        let main = Anchor {
            name: String::new(),
            path: String::new(),
            children: vec![],
            refs: 0,
            rules: Rules::new(vec![], 1, Loader::default()),
        };
        AnchorTree {
            nodes: vec![Some(main)],
            ids: HashMap::from([(String::new(), MAIN)]),
            free: vec![],
            next_gen: 2,
            uses_os: false,
            limiters: Default::default(),
        }
    }

    /// Every anchor, to change what rules keep at run time.
    pub(in crate::engine) fn nodes_mut(&mut self) -> impl Iterator<Item = &mut Anchor> {
        self.nodes.iter_mut().flatten()
    }

    /// Do some rules need the packets' OS fingerprints?
    pub fn uses_os(&self) -> bool {
        self.uses_os
    }

    /// Recount what depends on every ruleset (after a change of their
    /// run-time state).
    pub(in crate::engine) fn refresh(&mut self) {
        self.uses_os = self.nodes.iter().flatten().any(|a| a.rules.run.uses_os());
    }

    /// The main ruleset.
    pub fn main(&self) -> &Rules {
        &self.nodes[MAIN as usize]
            .as_ref()
            .expect("the main ruleset always exists")
            .rules
    }

    /// The anchor with this id.
    pub fn node(&self, id: u32) -> Option<&Anchor> {
        self.nodes.get(id as usize).and_then(|n| n.as_ref())
    }

    pub(in crate::engine) fn node_mut(&mut self, id: u32) -> Option<&mut Anchor> {
        self.nodes.get_mut(id as usize).and_then(|n| n.as_mut())
    }

    /// The anchor at `path` (`""`: the main ruleset).
    pub fn find(&self, path: &str) -> Option<&Anchor> {
        self.ids.get(path).and_then(|&id| self.node(id))
    }

    /// How many anchors exist (the main ruleset not counted).
    pub fn anchors(&self) -> usize {
        self.ids.len() - 1
    }

    /// Every anchor, the main ruleset first, then by path.
    pub fn iter(&self) -> impl Iterator<Item = &Anchor> {
        let mut paths: Vec<&String> = self.ids.keys().collect();
        paths.sort();
        paths.into_iter().filter_map(|p| self.find(p))
    }

    /// The names of the children of the anchor at `path`, in order
    /// (DIOCGETRULESETS); None if there is no such anchor.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        let a = self.find(path)?;
        Some(
            a.children
                .iter()
                .filter_map(|&c| self.node(c))
                .map(|c| c.name.clone())
                .collect(),
        )
    }

    /// The rule `r` names, if its ruleset is still loaded.
    /// The pflog mark of rule `rule`, reached through anchor rule `via`
    /// (see `LogMark::of`).
    pub fn log_mark(
        &self,
        rule: RuleRef,
        via: Option<RuleRef>,
        action: u8,
        opts: LogOpts,
    ) -> LogMark {
        let name = self.node(rule.anchor).map_or("", |a| a.name.as_str());
        LogMark::of(rule, via.map(|v| (v, name)), action, opts)
    }

    /// The marks of a state's packet logged for `log (all)`: the state's
    /// rule, passing (None when that rule was replaced since).
    pub fn state_log(&self, rule: Option<RuleRef>, via: Option<RuleRef>) -> Option<Box<LogMarks>> {
        let (ri, opts) = rule.and_then(|ri| self.rule(ri).map(|r| (ri, r.log)))?;
        let mut ms = LogMarks::default();
        ms.push(self.log_mark(ri, via, crate::wire::pflog::PF_PASS, opts));
        Some(Box::new(ms))
    }

    pub fn rule(&self, r: RuleRef) -> Option<&Rule> {
        let rs = &self.node(r.anchor)?.rules;
        (rs.generation == r.gen)
            .then(|| rs.rules.get(r.nr as usize))
            .flatten()
    }

    /// The run-time state of the rule `r` names.
    pub fn run(&self, r: RuleRef) -> Option<&RuleRun> {
        let rs = &self.node(r.anchor)?.rules;
        (rs.generation == r.gen)
            .then(|| rs.run.get(r.nr as usize))
            .flatten()
    }

    /// The tables the rule `r` names.
    pub fn rule_tables(&self, r: RuleRef) -> Option<RuleTables> {
        let rs = &self.node(r.anchor)?.rules;
        (rs.generation == r.gen)
            .then(|| rs.tables.get(r.nr as usize).copied())
            .flatten()
    }

    /// The pool of type `kind` of the rule `r` names: its position and
    /// per-address states.
    pub(in crate::engine) fn cursor(&self, r: RuleRef, kind: SnType) -> Option<&Cursor> {
        let rs = &self.node(r.anchor)?.rules;
        (rs.generation == r.gen)
            .then(|| rs.pools.get(r.nr as usize, kind))
            .flatten()
    }

    pub(in crate::engine) fn cursor_mut(
        &mut self,
        r: RuleRef,
        kind: SnType,
    ) -> Option<&mut Cursor> {
        let rs = &mut self.node_mut(r.anchor)?.rules;
        if rs.generation != r.gen {
            return None;
        }
        rs.pools.get_mut(r.nr as usize, kind)
    }

    /// The connection limits of the rule `r` names.
    pub(in crate::engine) fn conn_limits(&self, r: RuleRef) -> Option<Arc<ConnLimits>> {
        let rs = &self.node(r.anchor)?.rules;
        (rs.generation == r.gen)
            .then(|| rs.conn_limits.get(r.nr as usize).cloned().flatten())
            .flatten()
    }

    /// The counters of the rule `r` names, if its ruleset is still loaded.
    pub fn counters(&self, r: RuleRef) -> Option<&RuleCounters> {
        let rs = &self.node(r.anchor)?.rules;
        (rs.generation == r.gen)
            .then(|| rs.counters.get(r.nr as usize))
            .flatten()
    }

    pub fn counters_mut(&mut self, r: RuleRef) -> Option<&mut RuleCounters> {
        let rs = &mut self.node_mut(r.anchor)?.rules;
        if rs.generation != r.gen {
            return None;
        }
        rs.counters.get_mut(r.nr as usize)
    }

    /// `pfctl -z` (with `-a path`): zero the evaluations, packets and
    /// bytes of that anchor's rules. False if there is no such anchor.
    pub fn clear_counters(&mut self, path: &str) -> bool {
        let Some(&id) = self.ids.get(path) else {
            return false;
        };
        if let Some(a) = self.node_mut(id) {
            for c in &mut a.rules.counters {
                c.evaluations = 0;
                c.packets = [0; 2];
                c.bytes = [0; 2];
            }
        }
        true
    }

    /// Replace the rulesets of the anchors named in `sets` (path, rules;
    /// a later entry for a path wins) in one step: every call resolved,
    /// anchors created and removed as they become needed or not. With an
    /// error (a bad path, a call above the main ruleset, more anchors than
    /// `limit`) nothing changes.
    pub fn commit(
        &mut self,
        sets: Vec<(String, Vec<Rule>)>,
        loader: Loader,
        limit: u32,
    ) -> Result<Applied, String> {
        self.check(&sets, limit)?;
        Ok(self.apply(sets, loader))
    }

    /// The rulesets after `sets` replaced theirs: (path, rules), each
    /// path once (a later entry of `sets` wins).
    fn after<'a>(&'a self, sets: &'a [(String, Vec<Rule>)]) -> Vec<(&'a str, &'a [Rule])> {
        let mut new: HashMap<&str, &[Rule]> = HashMap::new();
        for (path, rules) in sets {
            new.insert(path.trim_start_matches('/'), rules);
        }
        let kept: Vec<(&str, &[Rule])> = self
            .ids
            .iter()
            .filter(|(p, _)| !new.contains_key(p.as_str()))
            .filter_map(|(p, &id)| Some((p.as_str(), &self.node(id)?.rules.rules[..])))
            .collect();
        let mut all: Vec<(&str, &[Rule])> = new.into_iter().collect();
        all.extend(kept);
        all
    }

    /// Every (anchor, table) the rules name once `sets` replaced their
    /// rulesets, one per reference (for the tables' limits).
    pub fn table_refs_after(&self, sets: &[(String, Vec<Rule>)]) -> Vec<(String, String)> {
        let mut v = vec![];
        for (path, rules) in self.after(sets) {
            for r in rules {
                for n in super::table::rule_table_names(r).into_iter().flatten() {
                    v.push((path.to_string(), n.to_string()));
                }
            }
        }
        v
    }

    /// Could `sets` be committed: valid paths, calls that stay below the
    /// main ruleset, no more anchors than `limit`? Nothing changes.
    pub fn check(&self, sets: &[(String, Vec<Rule>)], limit: u32) -> Result<(), String> {
        for (path, _) in sets {
            check_path(path.trim_start_matches('/'))?;
        }
        for (path, rules) in self.after(sets) {
            for r in rules {
                let Some(call) = &r.anchor else { continue };
                let (target, _) = resolve(path, &call.name).ok_or_else(|| {
                    format!(
                        "anchor \"{}\" in /{path}: .. beyond the main ruleset",
                        call.name
                    )
                })?;
                check_path(&target)?;
                if target.is_empty() {
                    return Err(format!(
                        "anchor \"{}\" in /{path}: calls the main ruleset",
                        call.name
                    ));
                }
            }
        }
        let needed = self.needed(sets);
        if needed.len() > limit as usize {
            return Err(format!(
                "anchor limit reached: {} anchors needed, set limit anchors {limit}",
                needed.len()
            ));
        }
        Ok(())
    }

    /// The anchors `sets` need: those with rules, those called, and the
    /// anchors above them.
    fn needed(&self, sets: &[(String, Vec<Rule>)]) -> BTreeSet<String> {
        let mut needed = BTreeSet::new();
        let need = |path: &str, needed: &mut BTreeSet<String>| {
            let mut p = path;
            while !p.is_empty() && needed.insert(p.to_string()) {
                p = p.rsplit_once('/').map_or("", |(d, _)| d);
            }
        };
        for (path, rules) in self.after(sets) {
            if !rules.is_empty() {
                need(path, &mut needed);
            }
            for r in rules {
                let Some(call) = &r.anchor else { continue };
                if let Some((target, _)) = resolve(path, &call.name) {
                    need(&target, &mut needed);
                }
            }
        }
        needed
    }

    /// Replace the rulesets as `check` allowed (nothing here can fail).
    pub fn apply(&mut self, sets: Vec<(String, Vec<Rule>)>, loader: Loader) -> Applied {
        let needed = self.needed(&sets);
        let mut applied = Applied::default();
        let mut new: HashMap<String, Vec<Rule>> = HashMap::new();
        for (path, rules) in sets {
            new.insert(path.trim_start_matches('/').to_string(), rules);
        }
        let gone: Vec<(String, u32)> = self
            .ids
            .iter()
            .filter(|(p, _)| !p.is_empty() && !needed.contains(*p))
            .map(|(p, &id)| (p.clone(), id))
            .collect();
        for (p, id) in gone {
            self.ids.remove(&p);
            if let Some(a) = self.nodes[id as usize].take() {
                applied.old.push(a.rules);
            }
            self.free.push(id);
        }
        for path in &needed {
            if self.ids.contains_key(path) {
                continue;
            }
            let node = Anchor {
                name: path.rsplit('/').next().unwrap_or(path).to_string(),
                path: path.clone(),
                children: vec![],
                refs: 0,
                rules: Rules::new(vec![], self.next_gen, loader),
            };
            self.next_gen += 1;
            let id = match self.free.pop() {
                Some(id) => {
                    self.nodes[id as usize] = Some(node);
                    id
                }
                None => {
                    self.nodes.push(Some(node));
                    (self.nodes.len() - 1) as u32
                }
            };
            self.ids.insert(path.clone(), id);
            applied.fresh.push(id);
        }
        for (path, rules) in new {
            // An anchor replaced by nothing, and needed by nobody, is gone.
            let Some(&id) = self.ids.get(&path) else {
                continue;
            };
            let gen = self.next_gen;
            self.next_gen += 1;
            if let Some(a) = self.node_mut(id) {
                let old = std::mem::replace(&mut a.rules, Rules::new(rules, gen, loader));
                applied.old.push(old);
            }
            if !applied.fresh.contains(&id) {
                applied.fresh.push(id);
            }
        }
        self.link();
        applied
    }

    /// Rebuild the children lists, resolve every call, count references.
    fn link(&mut self) {
        for n in self.nodes.iter_mut().flatten() {
            n.children.clear();
            n.refs = 0;
        }
        let mut paths: Vec<(String, u32)> =
            self.ids.iter().map(|(p, &id)| (p.clone(), id)).collect();
        paths.sort();
        for (path, id) in &paths {
            if path.is_empty() {
                continue;
            }
            let parent = path.rsplit_once('/').map_or("", |(d, _)| d);
            if let Some(&pid) = self.ids.get(parent) {
                if let Some(p) = self.node_mut(pid) {
                    p.children.push(*id);
                }
            }
        }
        for (_, id) in &paths {
            let mut kids = match self.node(*id) {
                Some(a) => a.children.clone(),
                None => continue,
            };
            kids.sort_by(|a, b| {
                let name = |i: &u32| self.node(*i).map(|n| n.name.as_str()).unwrap_or("");
                name(a).cmp(name(b))
            });
            let calls: Vec<Call> = match self.node(*id) {
                Some(a) => a
                    .rules
                    .rules
                    .iter()
                    .map(|r| {
                        let Some(call) = &r.anchor else {
                            return Call::None;
                        };
                        match resolve(&a.path, &call.name)
                            .and_then(|(p, w)| Some((*self.ids.get(&p)?, w)))
                        {
                            Some((t, true)) => Call::Children(t),
                            Some((t, false)) => Call::Anchor(t),
                            None => Call::None,
                        }
                    })
                    .collect(),
                None => continue,
            };
            for c in &calls {
                if let Call::Anchor(t) | Call::Children(t) = c {
                    if let Some(n) = self.node_mut(*t) {
                        n.refs += 1;
                    }
                }
            }
            if let Some(a) = self.node_mut(*id) {
                a.children = kids;
                a.rules.calls = calls;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ruleset::{Action, AnchorCall};

    fn call(name: &str) -> Rule {
        let mut r = Rule::new(Action::Pass);
        r.anchor = Some(Box::new(AnchorCall {
            name: name.into(),
            inline: false,
            rules: vec![],
        }));
        r
    }

    fn pass() -> Rule {
        Rule::new(Action::Pass)
    }

    fn paths(t: &AnchorTree) -> Vec<String> {
        t.iter().map(|a| a.path.clone()).collect()
    }

    #[test]
    fn calls_create_anchors_and_loads_keep_them() {
        let mut t = AnchorTree::new();
        t.commit(
            vec![("".into(), vec![call("foo"), call("bar/*"), call("/x/y")])],
            Loader::default(),
            512,
        )
        .unwrap();
        assert_eq!(paths(&t), ["", "bar", "foo", "x", "x/y"]);
        let foo = t.find("foo").unwrap();
        assert_eq!(foo.refs, 1);
        let fid = t.ids["foo"];
        let bid = t.ids["bar"];
        assert_eq!(
            t.main().calls,
            [
                Call::Anchor(fid),
                Call::Children(bid),
                Call::Anchor(t.ids["x/y"])
            ]
        );
        // Loading an anchor touches nothing else; the call sees it.
        let gen = t.main().generation;
        t.commit(
            vec![
                ("bar/b".into(), vec![pass()]),
                ("bar/a".into(), vec![pass()]),
            ],
            Loader::default(),
            512,
        )
        .unwrap();
        assert_eq!(t.main().generation, gen);
        assert_eq!(t.children("bar").unwrap(), ["a", "b"]);
        assert_eq!(t.ids["foo"], fid);
        // A new main ruleset without the calls: empty anchors go, loaded
        // ones stay (with their parent).
        t.commit(vec![("".into(), vec![pass()])], Loader::default(), 512)
            .unwrap();
        assert_eq!(paths(&t), ["", "bar", "bar/a", "bar/b"]);
        // Flushing an anchor removes it once nothing needs it.
        t.commit(vec![("bar/a".into(), vec![])], Loader::default(), 512)
            .unwrap();
        assert_eq!(paths(&t), ["", "bar", "bar/b"]);
        assert!(t.children("nope").is_none());
    }

    #[test]
    fn errors_change_nothing() {
        let mut t = AnchorTree::new();
        t.commit(vec![("a".into(), vec![pass()])], Loader::default(), 512)
            .unwrap();
        let before = paths(&t);
        for bad in [
            vec![("".into(), vec![call("../x")])],
            vec![("a//b".into(), vec![])],
            vec![("a".into(), vec![call("/")])],
            vec![("x".into(), vec![]), ("".into(), vec![call("p/q/r")])],
        ] {
            assert!(t.commit(bad, Loader::default(), 2).is_err());
            assert_eq!(paths(&t), before);
        }
        let long = "n".repeat(64);
        assert!(t
            .commit(vec![(long, vec![])], Loader::default(), 512)
            .is_err());
    }

    #[test]
    fn rule_refs_follow_generations() {
        let mut t = AnchorTree::new();
        t.commit(vec![("a".into(), vec![pass()])], Loader::default(), 512)
            .unwrap();
        let id = t.ids["a"];
        let r = RuleRef {
            anchor: id,
            nr: 0,
            gen: t.node(id).unwrap().rules.generation,
        };
        t.counters_mut(r).unwrap().evaluations = 3;
        assert_eq!(t.counters(r).unwrap().evaluations, 3);
        assert!(t.clear_counters("a"));
        assert_eq!(t.counters(r).unwrap().evaluations, 0);
        t.commit(vec![("a".into(), vec![pass()])], Loader::default(), 512)
            .unwrap();
        assert!(t.rule(r).is_none() && t.counters_mut(r).is_none());
    }
}

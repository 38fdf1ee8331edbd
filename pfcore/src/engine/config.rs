//! The configuration the engine runs with, and how it changes: a
//! transaction's rulesets, tables and options committed all or nothing
//! (DIOCXCOMMIT), `pfctl -F rules`, the options' timeouts and limits,
//! `set debug`, the OS fingerprints `os` rules match against, and the
//! room the tag table has for new tag names; the secrets and the first
//! state id the daemon gives.

use super::anchor::Loader;
use super::rules::LoadedRules;
use super::rulestate::RuleStates;
use super::table::{Limits, Shadow, TableError};
use super::{siphash, srcnode, status, table_now, tag, Engine};
use crate::osfp::{FpEntry, OsfpDb};
use crate::ruleset::{Limit, Options, Rule, Ruleset, SyncookiesMode, Timeout, TIMEOUT_COUNT};

/// Why a transaction did not commit (nothing changed): an errno as pf
/// would give and the message pfctl prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitError {
    pub errno: i32,
    pub message: String,
}

impl From<TableError> for CommitError {
    fn from(e: TableError) -> CommitError {
        CommitError {
            errno: e.errno,
            message: e.message,
        }
    }
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A limit as a ruleset's options set it, or its default.
fn limit_in(o: &Options, l: Limit) -> u32 {
    o.limits
        .iter()
        .rev()
        .find(|(k, _)| *k == l)
        .map_or(l.default_value(), |(_, v)| *v)
}

impl Engine {
    /// Key the secret random numbers (synproxy sequence numbers, syncookie
    /// secrets) from the kernel's randomness; the seed of `new` is only a
    /// fallback.
    pub fn set_secret(&mut self, k0: u64, k1: u64) {
        self.secret = siphash::SecretRng::new(k0, k1);
    }

    /// The id of the next state this host creates. pf starts at the boot
    /// time (seconds) shifted left by 32, so ids of an earlier boot, or
    /// small numbers such as `pfctl -k id -k 1`, name no live state; the
    /// daemon passes its start time here.
    pub fn set_first_state_id(&mut self, id: u64) {
        self.next_id = id.max(1);
    }

    pub fn rules(&self) -> &LoadedRules {
        &self.rules
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn timeout_value(&self, t: Timeout) -> u32 {
        self.timeouts[t as usize]
    }

    pub fn limit(&self, l: Limit) -> u32 {
        self.limits
            .get(&l)
            .copied()
            .unwrap_or_else(|| l.default_value())
    }

    /// Timeouts in effect, index order.
    pub fn timeouts(&self) -> [u32; TIMEOUT_COUNT] {
        self.timeouts
    }

    /// Limits in effect, `pfctl -sm` order.
    pub fn limits(&self) -> Vec<(Limit, u32)> {
        Limit::ALL.iter().map(|l| (*l, self.limit(*l))).collect()
    }

    /// DIOCSETDEBUG (`pfctl -x`).
    pub fn set_debug(&mut self, level: u8) {
        self.debug = level.min(7);
    }

    pub fn debug_level(&self) -> u8 {
        self.debug
    }

    /// Swap in a new main ruleset with its inline and `load anchor`
    /// anchors, and its options (what `pfctl -f` loads, without tables).
    /// States keep working; their rule counters stay with the old rules.
    /// With an error (see `commit`) nothing changes.
    pub fn load(
        &mut self,
        rs: Ruleset,
        loader: Loader,
        checksum: String,
    ) -> Result<(), CommitError> {
        let sets = crate::ruleset::flatten(&rs, "");
        self.commit(
            sets,
            Some((rs.options, checksum)),
            Vec::new(),
            loader,
            self.clock,
        )
    }

    /// The commit of a transaction, all or nothing: the rulesets of the
    /// anchors named in `sets` (`""` is the main ruleset; the other anchors
    /// keep theirs), the options when the main ruleset comes with them,
    /// and the tables the transaction defines. Fails, changing nothing, for
    /// a bad anchor path, a call above the main ruleset, more anchors than
    /// `set limit anchors` allows, or tables beyond `set limit tables` /
    /// `table-entries` (the new options' limits when they come along).
    pub fn commit(
        &mut self,
        sets: Vec<(String, Vec<Rule>)>,
        options: Option<(Options, String)>,
        tables: Vec<Shadow>,
        loader: Loader,
        now: u64,
    ) -> Result<(), CommitError> {
        let limit = |l| match &options {
            Some((o, _)) => limit_in(o, l),
            None => self.limit(l),
        };
        let limits = Limits {
            tables: limit(Limit::Tables),
            entries: limit(Limit::TableEntries),
        };
        self.rules
            .check(&sets, limit(Limit::Anchors))
            .map_err(|m| CommitError {
                errno: crate::errno::EINVAL,
                message: m,
            })?;
        let refs = self.rules.table_refs_after(&sets);
        self.tables.check_commit(&tables, &refs, true, limits)?;
        let defs = options.as_ref().map(|(o, _)| o.limiters.as_slice());
        self.check_limiters(&sets, defs)?;
        if let Some((o, checksum)) = options {
            self.rules.limiters.configure(&o.limiters, now);
            self.set_options(o);
            self.checksum = checksum;
        }
        let applied = self.rules.apply(sets, loader);
        // Tables the new rules name exist before the definitions commit
        // (so a definition without `persist` stays when a rule uses it);
        // the old rules let go of theirs last.
        let secs = table_now(now);
        for id in applied.fresh {
            let seed = (self.random() as u64) << 32 | self.random() as u64;
            if let Some(a) = self.rules.node_mut(id) {
                a.rules.run = RuleStates::bind(&a.rules.rules, &mut self.tags, &self.osfp, seed, 0);
                a.rules.attach_tables(&a.path, &mut self.tables, secs);
                a.rules.conn_limits = srcnode::conn_limits_of(&a.rules.rules, &a.path);
            }
        }
        self.tables.commit(tables, secs);
        for mut old in applied.old {
            old.run.release(&mut self.tags);
            old.detach_tables(&mut self.tables);
        }
        self.rules.refresh();
        let in_use = self.selectors_in_use();
        self.routing.load(
            self.rules.iter().flat_map(|a| a.rules.rules.iter()),
            &in_use,
        );
        Ok(())
    }

    /// Every limiter the rules of `sets` name is defined: in `defs` (the
    /// new main ruleset's) or, without them, among the loaded ones.
    fn check_limiters(
        &self,
        sets: &[(String, Vec<Rule>)],
        defs: Option<&[crate::ruleset::LimiterDef]>,
    ) -> Result<(), CommitError> {
        for r in sets.iter().flat_map(|(_, rules)| rules.iter()) {
            let uses = [
                (&r.extras.state_limiter, true),
                (&r.extras.source_limiter, false),
            ];
            for (u, state) in uses {
                let Some(u) = u else { continue };
                let known = match defs {
                    Some(d) => d.iter().any(|d| d.is_state() == state && d.id() == u.id),
                    None if state => self.rules.limiters.has_state(u.id),
                    None => self.rules.limiters.has_source(u.id),
                };
                if !known {
                    let kind = if state { "state" } else { "source" };
                    return Err(CommitError {
                        errno: crate::errno::ENOENT,
                        message: format!("{kind} limiter id {} is not loaded", u.id),
                    });
                }
            }
        }
        Ok(())
    }

    /// `pfctl -T load`: define tables, leave the rules alone.
    pub fn commit_tables(&mut self, tables: Vec<Shadow>, now: u64) -> Result<(), TableError> {
        self.tables
            .check_commit(&tables, &[], false, self.table_limits())?;
        self.tables.commit(tables, table_now(now));
        Ok(())
    }

    /// The table limits in effect.
    pub fn table_limits(&self) -> Limits {
        Limits {
            tables: self.limit(Limit::Tables),
            entries: self.limit(Limit::TableEntries),
        }
    }

    /// The options of a new main ruleset: what it does not set goes back
    /// to its default.
    fn set_options(&mut self, o: Options) {
        for t in Timeout::ALL {
            self.timeouts[t as usize] = t.default_value();
        }
        self.limits = Limit::ALL.iter().map(|l| (*l, l.default_value())).collect();
        for (t, v) in &o.timeouts {
            self.timeouts[*t as usize] = *v;
        }
        for (l, v) in &o.limits {
            self.limits.insert(*l, *v);
            let adaptive_set = o
                .timeouts
                .iter()
                .any(|(t, _)| matches!(t, Timeout::AdaptiveStart | Timeout::AdaptiveEnd));
            if *l == Limit::States && !adaptive_set {
                // pfctl_load_options: a states limit without explicit
                // adaptive thresholds (neither of them) puts them at 60%
                // and 120% of it, in tenths.
                let tenth = *v / 10;
                self.timeouts[Timeout::AdaptiveStart as usize] = tenth.saturating_mul(6);
                self.timeouts[Timeout::AdaptiveEnd as usize] = tenth.saturating_mul(12);
            }
        }
        // Like pfctl, a ruleset changes the debug level only if it sets it.
        if let Some(level) = o.debug.as_deref().and_then(status::debug_level) {
            self.debug = level;
        }
        if let Some(h) = o.hostid {
            if h != 0 && h != self.hostid {
                self.hostid = h;
                self.halfopen_recount();
            }
        }
        self.ifaces.set_skip(&o.skip);
        let limit = self.limit(Limit::States);
        self.syncookies_configure(
            o.syncookies.unwrap_or(SyncookiesMode::Never),
            o.syncookies_watermarks,
            limit,
            self.clock,
        );
        self.options = o;
    }

    /// `pfctl [-a path] -F rules`: remove the rules of the main ruleset
    /// or of one anchor; the other anchors keep theirs.
    pub fn flush_rules(&mut self, path: &str, loader: Loader) -> Result<(), CommitError> {
        let now = self.clock;
        self.commit(
            vec![(path.to_string(), Vec::new())],
            None,
            Vec::new(),
            loader,
            now,
        )
    }

    /// Would the tag names of the rulesets `sets` fit in the tag table next
    /// to the ones in use? (pf refuses a rule whose tag gets no number.)
    pub fn tags_fit<'a>(&self, sets: impl IntoIterator<Item = &'a [Rule]>) -> bool {
        let mut new: Vec<&str> = sets
            .into_iter()
            .flat_map(RuleStates::tag_names)
            .filter(|n| self.tags.id(n).is_none())
            .collect();
        new.sort_unstable();
        new.dedup();
        self.tags.len() + new.len() <= tag::TAGID_MAX as usize
    }

    /// DIOCOSFPFLUSH: no OS fingerprints; `os` rules then match only
    /// `unknown`.
    pub fn flush_fingerprints(&mut self) {
        self.osfp = OsfpDb::default();
        self.rebind_os();
    }

    /// DIOCOSFPADD: more OS fingerprints; the rules' `os` names are
    /// resolved again. Returns what was refused as a duplicate.
    pub fn add_fingerprints(&mut self, entries: Vec<FpEntry>) -> Vec<String> {
        let dups = entries
            .into_iter()
            .filter_map(|e| self.osfp.add(e).err().map(|d| d.0))
            .collect();
        self.rebind_os();
        dups
    }

    fn rebind_os(&mut self) {
        for a in self.rules.nodes_mut() {
            a.rules.run.rebind_os(&a.rules.rules, &self.osfp);
        }
        self.rules.refresh();
    }

    /// DIOCOSFPGET: the loaded fingerprints.
    pub fn fingerprints(&self) -> &[FpEntry] {
        self.osfp.entries()
    }

    /// Selectors the live states use (kept across a ruleset load).
    pub(in crate::engine) fn selectors_in_use(&self) -> Vec<u8> {
        let mut v: Vec<u8> = self
            .states
            .all_slots()
            .filter_map(|s| self.states.get(s))
            .flat_map(|st| {
                [
                    st.cold().route.rt_sel,
                    st.cold().route.rtable_sel,
                    st.cold().route.divert_sel,
                ]
            })
            .filter(|&s| s != 0)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

//! Anchors: rules that call a sub-ruleset (pf.conf(5) ANCHORS).
//!
//! An `anchor` rule is a `Rule` whose `anchor` field is set. Like in pf its
//! action is `Pass` (pfctl leaves `r.action` at 0) but it never decides by
//! itself: when it matches, the rules of the anchor it calls are evaluated
//! in its place. The call is a path, as written: relative to the anchor
//! the rule is in (`"a/b"`, `"../x"`), absolute (`"/x"`), or a wildcard
//! (`"x/*"`: each child anchor of `x` in turn). pfd resolves it when the
//! rule is loaded (see `engine::anchor`).
//!
//! As pfctl parses it, an inline anchor (`anchor "x" { ... }`) carries its
//! rules here; an anonymous one (`anchor { ... }`) is named `_N` like
//! pfctl names it (N counts the brace blocks of the file), which printers
//! hide. `flatten` cuts a parsed ruleset into the per-anchor rulesets pfd
//! loads: the file's own rules, one ruleset per inline anchor, one per
//! `load anchor` file. The types (`AnchorCall`, `LoadedAnchor`) are in
//! `rule.rs`, with the `Rule` and `Ruleset` that hold them and that they
//! hold.

use super::rule::{Rule, Ruleset};
use std::collections::HashSet;

impl Rule {
    /// An `anchor` rule?
    pub fn is_anchor(&self) -> bool {
        self.anchor.is_some()
    }
}

/// pfctl's test for the anchors it names itself (`_N`): the last path
/// component begins with `_`. Their names are not printed.
pub fn is_anonymous(name: &str) -> bool {
    match name.rsplit_once('/') {
        Some((_, last)) => last.starts_with('_'),
        None => name.starts_with('_'),
    }
}

/// `a` and `b` joined as anchor paths (`""` is the main ruleset).
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// Where a call by `name` from the anchor at `base` goes (pf_anchor_setup):
/// `/x` is absolute, each leading `../` climbs one level, anything else is
/// below `base`; a trailing `/*` makes it a wildcard call of that path's
/// children. The path and the wildcard flag; None if `../` climbs above the
/// main ruleset.
pub fn resolve(base: &str, name: &str) -> Option<(String, bool)> {
    let mut path = if let Some(abs) = name.strip_prefix('/') {
        abs.to_string()
    } else {
        let mut path = base.to_string();
        let mut rest = name;
        while let Some(r) = rest.strip_prefix("../") {
            if path.is_empty() {
                return None;
            }
            match path.rfind('/') {
                Some(i) => path.truncate(i),
                None => path.clear(),
            }
            rest = r;
        }
        join(&path, rest)
    };
    let wildcard = path.ends_with("/*");
    if wildcard {
        path.truncate(path.len() - 2);
    }
    Some((path, wildcard))
}

/// The rulesets pfd loads for `rs` loaded at anchor `base` (`""` for the
/// main ruleset), in the order pfctl opens their transactions: the file's
/// own rules first, then each inline anchor that has rules (depth first,
/// at its path below the anchor holding it), then each `load anchor` file
/// (at its path below `base`) with its own inline anchors. Anchor rules
/// keep their call and lose their inline rules. An inline anchor without
/// rules gets no ruleset: whatever its anchor holds stays, as with pfctl.
pub fn flatten(rs: &Ruleset, base: &str) -> Vec<(String, Vec<Rule>)> {
    let mut out = vec![];
    let mut seen = HashSet::new();
    flatten_rules(&rs.rules, base, &mut out, &mut seen);
    for l in &rs.loads {
        let path = join(base, &l.path);
        flatten_rules(&l.ruleset.rules, &path, &mut out, &mut seen);
    }
    out
}

fn flatten_rules(
    rules: &[Rule],
    path: &str,
    out: &mut Vec<(String, Vec<Rule>)>,
    seen: &mut HashSet<String>,
) {
    let at = out.len();
    out.push((path.to_string(), Vec::with_capacity(rules.len())));
    seen.insert(path.to_string());
    for r in rules {
        let mut r = r.clone();
        if let Some(call) = r.anchor.as_deref_mut() {
            let inner = std::mem::take(&mut call.rules);
            // A list in the anchor rule repeats the rule, not the body:
            // the copies call the same anchor.
            if call.inline && !inner.is_empty() {
                let sub = join(path, &call.name);
                if !seen.contains(&sub) {
                    flatten_rules(&inner, &sub, out, seen);
                }
            }
        }
        out[at].1.push(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ruleset::{Action, AnchorCall, LoadedAnchor};

    fn call(name: &str, inline: bool, rules: Vec<Rule>) -> Rule {
        let mut r = Rule::new(Action::Pass);
        r.anchor = Some(Box::new(AnchorCall {
            name: name.into(),
            inline,
            rules,
        }));
        r
    }

    #[test]
    fn paths_resolve_like_pf_anchor_setup() {
        let r = |b, n| resolve(b, n);
        assert_eq!(r("", "a"), Some(("a".into(), false)));
        assert_eq!(r("a/b", "c"), Some(("a/b/c".into(), false)));
        assert_eq!(r("a/b", "/c"), Some(("c".into(), false)));
        assert_eq!(r("a/b", "../c"), Some(("a/c".into(), false)));
        assert_eq!(r("a/b", "../../c/*"), Some(("c".into(), true)));
        assert_eq!(r("", "x/*"), Some(("x".into(), true)));
        assert_eq!(r("a", "../../c"), None);
        assert!(is_anonymous("_3") && is_anonymous("x/_2") && !is_anonymous("x_/y"));
    }

    #[test]
    fn flatten_cuts_inline_anchors_and_loads() {
        let block = Rule::new(Action::Block);
        let inner = vec![block.clone(), call("_2", true, vec![block.clone()])];
        let sub = Ruleset {
            rules: vec![call("_1", true, vec![block.clone()])],
            ..Default::default()
        };
        let mut rs = Ruleset {
            rules: vec![
                call("a", true, inner.clone()),
                call("a", true, inner),
                call("b", false, vec![]),
                call("e", true, vec![]),
            ],
            ..Default::default()
        };
        rs.loads.push(LoadedAnchor {
            path: "b".into(),
            file: "f".into(),
            ruleset: sub,
            src_line: 1,
        });
        let f = flatten(&rs, "top");
        let paths: Vec<(&str, usize)> = f.iter().map(|(p, r)| (p.as_str(), r.len())).collect();
        assert_eq!(
            paths,
            [
                ("top", 4),
                ("top/a", 2),
                ("top/a/_2", 1),
                ("top/b", 1),
                ("top/b/_1", 1)
            ]
        );
        assert!(f[0]
            .1
            .iter()
            .all(|r| r.anchor.as_ref().unwrap().rules.is_empty()));
        assert!(f[0].1[0].anchor.as_ref().unwrap().inline);
    }
}

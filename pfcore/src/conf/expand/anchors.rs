//! Anchor statements (pf.conf(5) ANCHORS; pfctl's `anchorrule`,
//! `pfa_anchor` and `loadrule`): an anchor rule is expanded as an ordinary
//! rule (`ActionAst::Anchor`: same options, lists and checks as pass
//! rules, no state, no default flags) and each rule it gives carries an
//! `AnchorCall`; an inline anchor's rules (read by the statement loop,
//! `read.rs`) go into the call; `load anchor` is recorded for
//! `conf::parse_partial` to load once the main ruleset is good.

use super::Expander;
use crate::conf::ast::{AnchorAst, RuleAst};
use crate::conf::error::ConfError;
use crate::ruleset::{AnchorCall, LoadedAnchor, Rule, Ruleset};

/// pfctl's PFCTL_ANCHOR_STACK_DEPTH (and the kernel's PF_ANCHOR_STACK_MAX).
const MAX_ANCHOR_DEPTH: usize = 64;

/// pfctl's PATH_MAX for anchor paths.
const ANCHOR_PATH_MAX: usize = 1024;

/// pfctl's `anchorname` checks.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("anchor name must not be empty".into());
    }
    if name.len() + 1 >= ANCHOR_PATH_MAX {
        return Err(format!(
            "anchor name is longer than {}",
            ANCHOR_PATH_MAX - 1
        ));
    }
    if name.starts_with('_') || name.contains("/_") {
        return Err("anchor names beginning with '_' are reserved for internal use".into());
    }
    Ok(())
}

impl Expander<'_> {
    /// Expands the anchor rule and attaches `call` to each rule it gives.
    fn anchor_call(&mut self, rule: &RuleAst, file: &str, line: u32, call: AnchorCall) {
        let start = self.ruleset.rules.len();
        self.rule(rule, file, line);
        for r in &mut self.ruleset.rules[start..] {
            r.anchor = Some(Box::new(call.clone()));
        }
    }

    /// The opening brace of an inline anchor at nesting `nest`: counted as
    /// pfctl counts it, before the body (an anonymous anchor is named
    /// `_N` after it); the depth and the name checked on the rule's first
    /// line. The anonymous name, or None when an error was reported.
    pub fn open_inline_anchor(
        &mut self,
        name: Option<&str>,
        file: &str,
        first: u32,
        nest: usize,
    ) -> Option<String> {
        self.braces += 1;
        let anonymous = format!("_{}", self.braces);
        if nest + 1 >= MAX_ANCHOR_DEPTH {
            self.errors
                .push(ConfError::new(file, first, "pfa_anchor: anchors too deep"));
            return None;
        }
        if let Some(Err(m)) = name.map(check_name) {
            self.errors.push(ConfError::new(file, first, m));
            return None;
        }
        Some(anonymous)
    }

    /// An inline anchor once its body is read: the checks on its name
    /// (reported on `line`, its closing brace), then the rule with the
    /// body's `rules`. False when the name was refused.
    pub fn inline_anchor(
        &mut self,
        ast: AnchorAst,
        anonymous: String,
        rules: Vec<Rule>,
        file: &str,
        line: u32,
    ) -> bool {
        if let Some(name) = &ast.name {
            if name.contains('/') {
                self.errors.push(ConfError::new(
                    file,
                    line,
                    "anchor paths containing '/' cannot be used for inline anchors.",
                ));
                return false;
            }
            let taken = self
                .ruleset
                .rules
                .iter()
                .filter_map(|r| r.anchor.as_deref())
                .any(|a| a.inline && a.name == *name && !a.rules.is_empty());
            if taken {
                self.errors.push(ConfError::new(
                    file,
                    line,
                    format!("inline anchor '{name}' already exists"),
                ));
                return false;
            }
        }
        let call = AnchorCall {
            name: ast.name.unwrap_or(anonymous),
            inline: true,
            rules,
        };
        self.anchor_call(&ast.rule, file, line, call);
        true
    }

    /// An anchor rule without a body: a call by name.
    pub fn anchor_rule(&mut self, ast: &AnchorAst, file: &str, first: u32, line: u32) {
        let Some(name) = &ast.name else {
            self.errors.push(ConfError::new(
                file,
                line,
                "anchors without explicit rules must specify a name",
            ));
            return;
        };
        if let Err(m) = check_name(name) {
            self.errors.push(ConfError::new(file, first, m));
            return;
        }
        if name.ends_with('/') {
            self.errors.push(ConfError::new(
                file,
                line,
                format!("anchorrule: bad anchor name {name}"),
            ));
            return;
        }
        let call = AnchorCall {
            name: name.clone(),
            inline: false,
            rules: vec![],
        };
        self.anchor_call(&ast.rule, file, line, call);
    }

    /// `load anchor name from "file"`: recorded, loaded by
    /// `conf::parse_partial` once the main ruleset is good.
    pub fn load_anchor(&mut self, name: Option<String>, path: String, file: &str, line: u32) {
        let Some(name) = name else {
            self.errors
                .push(ConfError::new(file, line, "anchor name is missing"));
            return;
        };
        if let Err(m) = check_name(&name) {
            self.errors.push(ConfError::new(file, line, m));
            return;
        }
        self.ruleset.loads.push(LoadedAnchor {
            path: name,
            file: path,
            ruleset: Ruleset::default(),
            src_line: line,
        });
    }
}

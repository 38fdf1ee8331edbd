//! Anchors: rules that call a sub-ruleset (pf.conf(5) ANCHORS).
//!
//! An `anchor` rule is a `Rule` whose `anchor` field is set. Like in pf its
//! action is `Pass` (pfctl leaves `r.action` at 0) but it never decides by
//! itself: when it matches, the anchor's rules are evaluated in its place.
//! Inline anchors (`anchor "x" { ... }`) carry their rules; an anchor called
//! by name only has none, unless `load anchor` filled that path (then the
//! rules of the loaded file are linked in, see `conf::anchor`).

use super::rule::{Rule, Ruleset};
use serde::{Deserialize, Serialize};

/// The anchor an `anchor` rule calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorCall {
    /// The name as pfctl prints it: the path as written for an anchor
    /// called by name (`"a/b"`, `"/x"`, `"x/*"`), the name of an inline
    /// anchor, empty for an anonymous inline anchor (`anchor { ... }`).
    pub name: String,
    /// The rules were given in braces (`pfctl -nv` prints them nested).
    pub inline: bool,
    /// The anchor's rules: the inline ones, or those `load anchor` put at
    /// the path called; empty for an anchor nothing was loaded into.
    pub rules: Vec<Rule>,
}

/// `load anchor name from "file"`: the file's ruleset, loaded at `path`
/// after the main ruleset (pfctl's `pfctl_load_anchors`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedAnchor {
    /// Full anchor path (`"x"`, or `"x/y"` for a load inside a loaded file).
    pub path: String,
    /// The file, as written.
    pub file: String,
    pub ruleset: Ruleset,
    /// Line of the `load anchor` statement, for messages.
    pub src_line: u32,
}

impl Rule {
    /// An `anchor` rule?
    pub fn is_anchor(&self) -> bool {
        self.anchor.is_some()
    }
}

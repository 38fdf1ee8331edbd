//! How the engine names a loaded rule: its anchor's id, its number there
//! and the generation of that anchor's ruleset (see `anchor`), so a state
//! made by a rule that has since been replaced no longer touches the new
//! rules' counters.

/// A rule in the anchor tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RuleRef {
    pub anchor: u32,
    /// The rule's number in its ruleset (`@nr` of `pfctl -vvsr`).
    pub nr: u32,
    /// The generation of the ruleset it belongs to.
    pub gen: u64,
}

//! State limiters and source limiters (OpenBSD 7.8): named pools a rule
//! draws its new states from. A `state limiter` caps the states of the
//! rules that name it (`limit N`) and the rate they are made at (`rate
//! N/S`); a `source limiter` does so per source address (or per network,
//! `inet mask N` / `inet6 mask N`), for at most `entries N` sources at once.
//! When a limit is reached the rule does not match (`no-match`, the
//! default) or blocks the packet (`block`). Definitions travel with the
//! main ruleset's options; the engine enforces them (`engine::limiter`).

use serde::{Deserialize, Serialize};

/// `rate N/S`: at most `limit` new states in `seconds`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimiterRate {
    pub limit: u32,
    pub seconds: u32,
}

/// `state limiter "NAME" id N limit N [rate N/S]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateLimiterDef {
    pub name: String,
    pub id: u32,
    pub limit: u32,
    pub rate: Option<LimiterRate>,
}

/// `source limiter "NAME" id N entries N limit N [rate N/S]
/// [inet mask N] [inet6 mask N]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLimiterDef {
    pub name: String,
    pub id: u32,
    /// How many source addresses (networks) are tracked at once.
    pub entries: u32,
    /// States per source.
    pub limit: u32,
    pub rate: Option<LimiterRate>,
    /// Prefix length a source IPv4 address is reduced to (32: the host).
    pub inet_prefix: u8,
    /// Likewise for IPv6 (128: the host).
    pub inet6_prefix: u8,
    /// `table <name> above N [below N]`: (table, above, below; 0 = none).
    #[serde(default)]
    pub overload: Option<(String, u32, u32)>,
    /// The line of the definition, for messages.
    #[serde(default)]
    pub src_line: u32,
}

/// A limiter definition, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimiterDef {
    State(StateLimiterDef),
    Source(SourceLimiterDef),
}

impl LimiterDef {
    pub fn id(&self) -> u32 {
        match self {
            LimiterDef::State(d) => d.id,
            LimiterDef::Source(d) => d.id,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            LimiterDef::State(d) => &d.name,
            LimiterDef::Source(d) => &d.name,
        }
    }

    pub fn is_state(&self) -> bool {
        matches!(self, LimiterDef::State(_))
    }
}

/// A rule's `state limiter NAME [(block|no-match)]` or `source limiter
/// NAME [...]`: the limiter's id (resolved from its name when the rule is
/// read), its name for printing, and what the rule does when the limit is
/// reached (true: block the packet; false: the rule does not match).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimiterUse {
    pub id: u32,
    pub name: String,
    pub block: bool,
}

/// The largest limiter id (pf keeps ids in a byte-sized range).
pub const LIMITER_ID_MAX: u32 = 255;

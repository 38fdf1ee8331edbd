//! What the rules decided for a packet without a state: the deciding
//! rule's verdict and state options, copied out of it (no allocation on
//! the packet path), with what the evaluation added (the anchor rule it
//! was reached through, the match rules' actions, the tag) and what the
//! pass step chose (route, source nodes, pool addresses). A new state is
//! made from it (`state`).

use super::normalize::Actions;
use super::route::StateRoute;
use super::ruleref::RuleRef;
use super::srcnode::{LbRef, Sns};
use crate::ruleset::{Action, BlockReturn, KeepState, Rule};

/// A rule's log bits (pf's PF_LOG, PF_LOG_ALL), which its states keep and
/// pfsync carries: `log`, and `log (all)` which logs every packet of the
/// state, not only the first.
pub const LOG: u8 = 0x01;
pub const LOG_ALL: u8 = 0x02;

#[derive(Debug, Clone, Copy)]
pub struct Decision {
    /// The deciding rule.
    pub rule: RuleRef,
    /// The anchor rule it was reached through: it counts the packet and
    /// the state too.
    pub anchor: Option<RuleRef>,
    pub action: Action,
    pub block: BlockReturn,
    pub keep_state: KeepState,
    pub max_states: u32,
    pub no_sync: bool,
    pub if_bound: bool,
    /// LOG / LOG_ALL bits.
    pub log: u8,
    /// The normalisation actions: the match rules', then the deciding
    /// rule's (kept for every packet of a new state).
    pub actions: Actions,
    /// Policy routing a new state gets (set once the state is made).
    pub route: StateRoute,
    /// Source nodes the new connection collected (sticky pools); the
    /// state takes them, or they are let go.
    pub sns: Sns,
    /// Least-states pool addresses the new state holds (translation,
    /// route).
    pub lb: [Option<LbRef>; 2],
    /// The tag the evaluation ended with (pf's `ctx.tag`), 0 = none: a
    /// state made here carries it.
    pub tag: u16,
    pub allow_opts: bool,
    pub sloppy: bool,
}

impl Decision {
    /// What rule `r` (named `ri`) says, before the evaluation's additions.
    pub fn of(ri: RuleRef, r: &Rule) -> Decision {
        Decision {
            rule: ri,
            anchor: None,
            action: r.action,
            block: r.block,
            keep_state: r.keep_state,
            max_states: r.state_opts.max_states,
            no_sync: r.state_opts.no_sync,
            if_bound: r.state_opts.if_bound,
            log: if r.log.enabled {
                LOG | if r.log.all { LOG_ALL } else { 0 }
            } else {
                0
            },
            actions: Actions::default(),
            route: StateRoute::default(),
            sns: Sns::default(),
            lb: [None; 2],
            tag: 0,
            allow_opts: r.extras.allow_opts,
            sloppy: r.state_opts.sloppy,
        }
    }
}

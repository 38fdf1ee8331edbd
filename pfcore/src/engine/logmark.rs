//! What pf logs about a packet: one mark per pflog_packet() call, naming
//! the rule as pflog's header does (rule number, or anchor rule number,
//! anchor name and rule number inside), its action, the reason and the
//! pflog interface (`log (to pflogN)`). The engine collects at most
//! LOG_MAX marks per packet in a fixed array (no allocation on the hot
//! path; more are counted in `lost`); the daemon writes each as a pflog
//! header before the packet (`wire::pflog`).
//!
//! When pf logs (pf.conf(5), OpenBSD's pf_match_rule and pf_test_rule):
//! a `match` rule with `log` at once; the deciding pass/block rule with
//! `log` after the walk; after a rule with `log (matches)`, every rule
//! that matches later; the packets of a state made by a rule with
//! `log (all)`; packets dropped for IP options (always).

use super::ruleref::RuleRef;
use super::status::Reason;
use crate::ruleset::rule::LogOpts;
use crate::wire::pflog;

/// How many marks a packet carries at most.
pub const LOG_MAX: usize = 8;

/// One logged rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogMark {
    /// The rule's number, or the anchor rule's for a rule in an anchor.
    pub rulenr: u32,
    /// The rule's number inside the anchor (pflog::NO_SUBRULE: none).
    pub subrulenr: u32,
    /// The anchor's name, NUL-padded (empty: the main ruleset).
    pub ruleset: [u8; pflog::NAME_LEN],
    /// pflog::PF_PASS, PF_DROP or PF_MATCH.
    pub action: u8,
    pub reason: u8,
    /// N of `log (to pflogN)`.
    pub ifnum: u8,
    /// `log (user)`: the socket owner goes into the header.
    pub user: bool,
    /// The deciding rule's mark (its reason is the verdict's).
    pub decided: bool,
}

impl Default for LogMark {
    fn default() -> LogMark {
        LogMark {
            rulenr: 0,
            subrulenr: pflog::NO_SUBRULE,
            ruleset: [0; pflog::NAME_LEN],
            action: pflog::PF_PASS,
            reason: Reason::Match as u8,
            ifnum: 0,
            user: false,
            decided: false,
        }
    }
}

impl LogMark {
    /// The mark of rule `rule`, reached through anchor rule `via` (in
    /// the anchor named `anchor`), logged with `opts` (the rule's own log
    /// options, or the `log (matches)` rule's that made it logged).
    pub fn of(rule: RuleRef, via: Option<(RuleRef, &str)>, action: u8, opts: LogOpts) -> LogMark {
        let mut m = LogMark {
            rulenr: rule.nr,
            action,
            ifnum: opts.ifnum,
            user: opts.user,
            ..LogMark::default()
        };
        if let Some((a, name)) = via {
            m.rulenr = a.nr;
            m.subrulenr = rule.nr;
            m.ruleset = pflog::name_field(name);
        }
        m
    }

    /// The header action of a rule that passes (`pass`) or blocks.
    pub fn action_of(pass: bool) -> u8 {
        if pass {
            pflog::PF_PASS
        } else {
            pflog::PF_DROP
        }
    }
}

/// The marks of one packet, in the order pf logs them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogMarks {
    marks: [LogMark; LOG_MAX],
    len: u8,
    /// Marks that did not fit.
    pub lost: u8,
}

impl LogMarks {
    pub fn push(&mut self, m: LogMark) {
        match self.marks.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = m;
                self.len += 1;
            }
            None => self.lost = self.lost.saturating_add(1),
        }
    }

    pub fn as_slice(&self) -> &[LogMark] {
        &self.marks[..usize::from(self.len)]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The deciding rule's mark, if it was logged already.
    pub fn decided_mut(&mut self) -> Option<&mut LogMark> {
        self.marks[..usize::from(self.len)]
            .iter_mut()
            .find(|m| m.decided)
    }
}

/// A verdict logged without marks (a fragment, a state whose rule was
/// replaced): one mark of the verdict's own rule number and action
/// (u32::MAX: the default rule, or none known).
pub fn fallback(v: &mut super::Verdict) {
    if v.log && v.logs.is_none() {
        let mut ms = LogMarks::default();
        ms.push(LogMark {
            rulenr: v.rule.unwrap_or(u32::MAX),
            action: LogMark::action_of(v.pass),
            reason: v.reason as u8,
            decided: true,
            ..LogMark::default()
        });
        v.logs = Some(Box::new(ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_beyond_the_array_are_counted_not_kept() {
        let mut ms = LogMarks::default();
        for nr in 0..10 {
            ms.push(LogMark {
                rulenr: nr,
                ..LogMark::default()
            });
        }
        assert_eq!(ms.as_slice().len(), LOG_MAX);
        assert_eq!(ms.lost, 2);
        assert_eq!(ms.as_slice()[7].rulenr, 7);
        assert!(ms.decided_mut().is_none());
    }

    #[test]
    fn a_rule_in_an_anchor_is_named_by_the_anchor_rule() {
        let main = LogMark::of(
            RuleRef {
                anchor: 0,
                nr: 3,
                gen: 0,
            },
            None,
            pflog::PF_DROP,
            LogOpts {
                enabled: true,
                ifnum: 1,
                ..LogOpts::default()
            },
        );
        assert_eq!((main.rulenr, main.subrulenr), (3, pflog::NO_SUBRULE));
        assert_eq!((main.action, main.ifnum), (pflog::PF_DROP, 1));
        let via = RuleRef {
            anchor: 0,
            nr: 5,
            gen: 0,
        };
        let sub = LogMark::of(
            RuleRef { nr: 2, ..via },
            Some((via, "ftp")),
            0,
            LogOpts::default(),
        );
        assert_eq!((sub.rulenr, sub.subrulenr), (5, 2));
        assert_eq!(&sub.ruleset[..4], b"ftp\0");
    }
}

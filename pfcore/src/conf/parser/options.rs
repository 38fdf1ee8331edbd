//! `set ...` statements: grammar pairs → `SetOption`.

use super::filteropt::state_opt;
use super::host::interface_spec;
use super::pairs::{children, is_keyword, string_of, Rule};
use crate::conf::ast::SetOption;
use pest::iterators::Pair;

pub(super) fn set_option(p: Pair<'_, Rule>) -> SetOption {
    let Some(o) = children(p).next() else {
        return SetOption::Debug(String::new());
    };
    let rule = o.as_rule();
    let args: Vec<Pair<'_, Rule>> = o.clone().into_inner().collect();
    let plain: Vec<String> = args
        .iter()
        .filter(|a| !is_keyword(a.as_rule()))
        .cloned()
        .map(string_of)
        .collect();
    let arg0 = plain.first().cloned().unwrap_or_default();
    match rule {
        Rule::set_block_policy => {
            SetOption::BlockPolicyReturn(args.iter().any(|a| a.as_rule() == Rule::k_return))
        }
        Rule::set_skip => {
            let spec = args
                .into_iter()
                .find(|a| a.as_rule() == Rule::interface_spec);
            SetOption::Skip(spec.map(interface_spec).unwrap_or_default())
        }
        Rule::set_timeout | Rule::set_limit => {
            let pairs = args
                .into_iter()
                .filter(|a| matches!(a.as_rule(), Rule::timeout_spec | Rule::limit_spec))
                .map(|s| {
                    let mut it = s.into_inner();
                    let n = it.next().map(string_of).unwrap_or_default();
                    let v = it
                        .next()
                        .map(|x| x.as_str().to_string())
                        .unwrap_or_default();
                    (n, v)
                })
                .collect();
            if rule == Rule::set_timeout {
                SetOption::Timeout(pairs)
            } else {
                SetOption::Limit(pairs)
            }
        }
        Rule::set_fail_policy => SetOption::FailPolicy(arg0),
        Rule::set_hostid => SetOption::HostId(arg0),
        Rule::set_loginterface => {
            if args.iter().any(|a| a.as_rule() == Rule::k_all) {
                SetOption::LogInterface("all".into())
            } else {
                SetOption::LogInterface(arg0)
            }
        }
        Rule::set_debug => {
            if args.iter().filter(|a| a.as_rule() == Rule::k_debug).count() > 1 {
                SetOption::Debug("debug".into())
            } else {
                SetOption::Debug(arg0)
            }
        }
        Rule::set_ruleset_optimization => SetOption::RulesetOptimization(arg0),
        Rule::set_reassemble => {
            let word = if args.iter().any(|a| a.as_rule() == Rule::k_no) {
                "no".to_string()
            } else {
                arg0
            };
            SetOption::Reassemble(word, args.iter().any(|a| a.as_rule() == Rule::k_no_df))
        }
        Rule::set_state_policy => {
            SetOption::StatePolicyIfBound(args.iter().any(|a| a.as_rule() == Rule::k_if_bound))
        }
        Rule::set_state_defaults => SetOption::StateDefaults(
            args.into_iter()
                .filter(|a| a.as_rule() == Rule::state_opt)
                .map(state_opt)
                .collect(),
        ),
        Rule::set_fingerprints => SetOption::Fingerprints(arg0),
        Rule::set_syncookies => {
            let opts = args
                .into_iter()
                .filter(|a| a.as_rule() == Rule::syncookie_opt)
                .map(|o| {
                    let mut it = o.into_inner().map(string_of);
                    (it.next().unwrap_or_default(), it.next().unwrap_or_default())
                })
                .collect();
            SetOption::Syncookies(arg0, opts)
        }
        _ => SetOption::Optimization(arg0),
    }
}

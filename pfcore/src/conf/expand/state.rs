//! `keep state ( ... )` options (and `set state-defaults`): pfctl's
//! `state_opt_item` checks as each is read, then the rule action's checks
//! of their combination, source tracking and adaptive timeouts.

use super::{err, parse_u32, Res};
use crate::conf::ast::StateOptAst;
use crate::ruleset::{Overload, SourceTrack, StateOpts, Timeout};

/// The checks of pfctl's `state_opt_item` alone (value ranges, timeout
/// names), without those of their combination.
pub(super) fn state_option_items(opts: &[StateOptAst]) -> Res<()> {
    for o in opts {
        match o {
            StateOptAst::Max(v)
            | StateOptAst::MaxSrcStates(v)
            | StateOptAst::MaxSrcConn(v)
            | StateOptAst::MaxSrcNodes(v) => {
                parse_u32(v)?;
            }
            StateOptAst::MaxSrcConnRate(a, b) => {
                parse_u32(a)?;
                parse_u32(b)?;
            }
            StateOptAst::Overload { table, .. } if table.len() >= 32 => {
                return err(format!("table name '{table}' too long"));
            }
            StateOptAst::Timeout(name, v) => {
                parse_u32(v)?;
                let Some(t) = Timeout::from_name(name) else {
                    return err(format!("illegal timeout name {name}"));
                };
                if !t.name().contains('.') {
                    return err(format!("illegal state timeout {name}"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The state options read so far, and what pfctl notes on the way.
#[derive(Default)]
struct Acc {
    s: StateOpts,
    srctrack: Option<Option<bool>>,
    rule_srctrack: bool,
    statelock: bool,
    adaptive: bool,
    timeouts: Vec<(Timeout, u32)>,
}

/// Resolves the `( ... )` state options as pfctl's rule action does.
pub(super) fn state_options(opts: &[StateOptAst]) -> Res<StateOpts> {
    state_option_items(opts)?;
    let mut acc = Acc::default();
    for o in opts {
        state_option(o, &mut acc)?;
    }
    let Acc {
        mut s,
        srctrack,
        rule_srctrack,
        adaptive,
        mut timeouts,
        ..
    } = acc;
    if !adaptive && s.max_states != 0 {
        timeouts.push((Timeout::AdaptiveStart, (s.max_states / 10) * 6));
        timeouts.push((Timeout::AdaptiveEnd, (s.max_states / 10) * 12));
    }
    let tracking = srctrack.is_some() || s.max_src_states != 0 || rule_srctrack;
    if tracking {
        let global = srctrack == Some(Some(true));
        if global && s.max_src_nodes != 0 {
            return err("'max-src-nodes' is incompatible with 'source-track global'");
        }
        if global && s.max_src_conn != 0 {
            return err("'max-src-conn' is incompatible with 'source-track global'");
        }
        if global && s.max_src_conn_rate.is_some() {
            return err("'max-src-conn-rate' is incompatible with 'source-track global'");
        }
        if let Some((_, secs)) = s.max_src_conn_rate {
            let cur = timeouts
                .iter()
                .find(|(t, _)| *t == Timeout::SrcTrack)
                .map(|x| x.1)
                .unwrap_or(0);
            if cur < secs {
                timeouts.retain(|(t, _)| *t != Timeout::SrcTrack);
                timeouts.push((Timeout::SrcTrack, secs));
            }
        }
        s.source_track = Some(if rule_srctrack || srctrack == Some(Some(false)) {
            SourceTrack::Rule
        } else {
            SourceTrack::Global
        });
    }
    if s.overload.is_some() && s.max_src_conn == 0 && s.max_src_conn_rate.is_none() {
        return err("'overload' requires 'max-src-conn' or 'max-src-conn-rate'");
    }
    timeouts.sort_by_key(|(t, _)| *t as u8);
    s.timeouts = timeouts;
    Ok(s)
}

/// One option, against those before it.
fn state_option(o: &StateOptAst, acc: &mut Acc) -> Res<()> {
    let Acc {
        s,
        srctrack,
        rule_srctrack,
        statelock,
        adaptive,
        timeouts,
    } = acc;
    match o {
        StateOptAst::Max(v) => {
            if s.max_states != 0 {
                return err("state option 'max' multiple definitions");
            }
            s.max_states = parse_u32(v)?;
        }
        StateOptAst::NoSync => {
            if s.no_sync {
                return err("state option 'sync' multiple definitions");
            }
            s.no_sync = true;
        }
        StateOptAst::SourceTrack(g) => {
            if srctrack.is_some() {
                return err("state option 'source-track' multiple definitions");
            }
            *srctrack = Some(*g);
        }
        StateOptAst::MaxSrcStates(v) => {
            if s.max_src_states != 0 {
                return err("state option 'max-src-states' multiple definitions");
            }
            s.max_src_states = parse_u32(v)?;
            if s.max_src_states == 0 {
                return err("'max-src-states' must be > 0");
            }
        }
        StateOptAst::MaxSrcConn(v) => {
            if s.max_src_conn != 0 {
                return err("state option 'max-src-conn' multiple definitions");
            }
            s.max_src_conn = parse_u32(v)?;
            if s.max_src_conn == 0 {
                return err("'max-src-conn' must be > 0");
            }
            *rule_srctrack = true;
        }
        StateOptAst::MaxSrcConnRate(a, b) => {
            if s.max_src_conn_rate.is_some() {
                return err("state option 'max-src-conn-rate' multiple definitions");
            }
            let (a, b) = (parse_u32(a)?, parse_u32(b)?);
            if a == 0 || b == 0 {
                return err("'max-src-conn-rate' values must be > 0");
            }
            // PF_THRESHOLD_MAX: UINT_MAX / PF_THRESHOLD_MULT (1000)
            if a > u32::MAX / 1000 {
                return err(format!(
                    "'max-src-conn-rate' maximum rate must be < {}",
                    u32::MAX / 1000
                ));
            }
            s.max_src_conn_rate = Some((a, b));
            *rule_srctrack = true;
        }
        StateOptAst::MaxSrcNodes(v) => {
            if s.max_src_nodes != 0 {
                return err("state option 'max-src-nodes' multiple definitions");
            }
            s.max_src_nodes = parse_u32(v)?;
            if s.max_src_nodes == 0 {
                return err("'max-src-nodes' must be > 0");
            }
            *rule_srctrack = true;
        }
        StateOptAst::Overload {
            table,
            flush,
            global,
        } => {
            if s.overload.is_some() {
                return err("multiple 'overload' table definitions");
            }
            s.overload = Some(Overload {
                table: table.clone(),
                flush: *flush,
                global: *global,
            });
        }
        StateOptAst::IfBound | StateOptAst::Floating => {
            if *statelock {
                return err("state locking option: multiple definitions");
            }
            *statelock = true;
            s.if_bound = matches!(o, StateOptAst::IfBound);
        }
        StateOptAst::Sloppy => {
            if s.sloppy {
                return err("state sloppy option: multiple definitions");
            }
            s.sloppy = true;
        }
        StateOptAst::Pflow => {
            if s.pflow {
                return err("state pflow option: multiple definitions");
            }
            s.pflow = true;
        }
        StateOptAst::Timeout(name, v) => {
            let v = parse_u32(v)?;
            let Some(t) = Timeout::from_name(name) else {
                return err(format!("illegal timeout name {name}"));
            };
            if !t.name().contains('.') {
                return err(format!("illegal state timeout {name}"));
            }
            if matches!(t, Timeout::AdaptiveStart | Timeout::AdaptiveEnd) {
                *adaptive = true;
            }
            if timeouts.iter().any(|(x, _)| *x == t) {
                return err(format!("state timeout {} multiple definitions", t.name()));
            }
            timeouts.push((t, v));
        }
    }
    Ok(())
}

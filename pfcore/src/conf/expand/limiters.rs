//! `state limiter "name" id N limit N [rate N/S]` and `source limiter
//! "name" id N entries N limit N [rate N/S] [inet mask N] [inet6 mask N]`:
//! the options checked (each once, numbers in range, the required ones
//! given), the id and the name unique among the limiters of their kind,
//! the definition recorded as `Directive::Limiter` and in the options.
//! A rule's `state limiter NAME` / `source limiter NAME` names a limiter
//! defined before it; the name becomes the limiter's id.

use super::{err, Expander, Res};
use crate::addr::Af;
use crate::conf::ast::{LimiterAst, LimiterOptAst};
use crate::ruleset::{
    Directive, LimiterDef, LimiterRate, LimiterUse, SourceLimiterDef, StateLimiterDef,
    LIMITER_ID_MAX,
};

/// A number of a limiter option: 1 and up (0 with `zero`), at most `max`.
fn num(what: &str, s: &str, zero: bool, max: u32) -> Res<u32> {
    match s.parse::<i64>() {
        Ok(n) if (n > 0 || (zero && n == 0)) && n <= max as i64 => Ok(n as u32),
        _ => err(format!("{what} {s} out of range")),
    }
}

impl Expander<'_> {
    /// A limiter definition ending on `line`.
    pub fn limiter(&mut self, l: &LimiterAst, file: &str, line: u32) {
        match self.limiter_def(l, line) {
            Ok(d) => {
                self.ruleset.directives.push(Directive::Limiter(d.clone()));
                self.ruleset.options.limiters.push(d);
            }
            Err(m) => self.errors_from(file, line, m),
        }
    }

    fn limiter_def(&self, l: &LimiterAst, line: u32) -> Res<LimiterDef> {
        let kind = if l.source { "source" } else { "state" };
        if l.name.is_empty() || l.name.len() >= 16 {
            return err(format!("{kind} limiter name \"{}\" is invalid", l.name));
        }
        let (mut id, mut entries, mut limit, mut rate) = (None, None, None, None);
        let (mut m4, mut m6) = (None, None);
        let mut overload = None;
        for o in &l.opts {
            let twice = |what: &str| err(format!("{kind} limiter {what} cannot be respecified"));
            match o {
                LimiterOptAst::Id(n) => {
                    if id.is_some() {
                        return twice("id");
                    }
                    id = Some(num("id", n, false, LIMITER_ID_MAX)?);
                }
                LimiterOptAst::Entries(n) if l.source => {
                    if entries.is_some() {
                        return twice("entries");
                    }
                    entries = Some(num("entries", n, false, u32::MAX)?);
                }
                LimiterOptAst::Limit(n) => {
                    if limit.is_some() {
                        return twice("limit");
                    }
                    limit = Some(num("limit", n, false, u32::MAX)?);
                }
                LimiterOptAst::Rate(a, b) => {
                    if rate.is_some() {
                        return twice("rate");
                    }
                    rate = Some(LimiterRate {
                        limit: num("rate", a, false, u32::MAX)?,
                        seconds: num("rate interval", b, false, u32::MAX)?,
                    });
                }
                LimiterOptAst::Mask(Af::Inet, n) if l.source => {
                    if m4.is_some() {
                        return twice("inet mask");
                    }
                    m4 = Some(num("inet mask", n, true, 32)? as u8);
                }
                LimiterOptAst::Table(t, above, below) if l.source => {
                    if overload.is_some() {
                        return twice("table");
                    }
                    if t.is_empty() || t.len() >= crate::ruleset::TABLE_NAME_MAX {
                        return err(format!("invalid table name <{t}>"));
                    }
                    let hwm = num("above", above, false, u32::MAX)?;
                    let lwm = match below {
                        Some(b) => num("below", b, false, u32::MAX)?,
                        None => 0,
                    };
                    if lwm > hwm {
                        return err("source limiter below is above its above");
                    }
                    overload = Some((t.clone(), hwm, lwm));
                }
                LimiterOptAst::Mask(_, n) if l.source => {
                    if m6.is_some() {
                        return twice("inet6 mask");
                    }
                    m6 = Some(num("inet6 mask", n, true, 128)? as u8);
                }
                _ => {
                    return err(format!(
                        "{kind} limiter does not take {}",
                        match o {
                            LimiterOptAst::Entries(_) => "entries",
                            LimiterOptAst::Table(..) => "a table",
                            _ => "a mask",
                        }
                    ))
                }
            }
        }
        let Some(id) = id else {
            return err(format!("{kind} limiter id not specified"));
        };
        let Some(limit) = limit else {
            return err(format!("{kind} limiter limit not specified"));
        };
        let defs = &self.ruleset.options.limiters;
        if defs
            .iter()
            .any(|d| d.is_state() != l.source && d.id() == id)
        {
            return err(format!("{kind} limiter id {id} is already in use"));
        }
        if defs
            .iter()
            .any(|d| d.is_state() != l.source && d.name() == l.name)
        {
            return err(format!("{kind} limiter {} is already defined", l.name));
        }
        Ok(if l.source {
            let Some(entries) = entries else {
                return err("source limiter entries not specified");
            };
            LimiterDef::Source(SourceLimiterDef {
                name: l.name.clone(),
                id,
                entries,
                limit,
                rate,
                inet_prefix: m4.unwrap_or(32),
                inet6_prefix: m6.unwrap_or(128),
                overload,
                src_line: line,
            })
        } else {
            LimiterDef::State(StateLimiterDef {
                name: l.name.clone(),
                id,
                limit,
                rate,
            })
        })
    }

    /// A rule's `state|source limiter NAME [(block|no-match)]`: the
    /// limiter it names, defined before it.
    pub(super) fn limiter_use(
        &self,
        source: bool,
        name: &str,
        block: Option<bool>,
    ) -> Res<LimiterUse> {
        let kind = if source { "source" } else { "state" };
        let Some(d) = self
            .ruleset
            .options
            .limiters
            .iter()
            .find(|d| d.is_state() != source && d.name() == name)
        else {
            return err(format!("{kind} limiter {name} is not defined"));
        };
        Ok(LimiterUse {
            id: d.id(),
            name: name.to_string(),
            block: block.unwrap_or(false),
        })
    }
}

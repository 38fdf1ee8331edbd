//! `set ...`: each option updates `Options` (what pfd enforces) and is
//! recorded as a `Directive` (what `pfctl -nv` prints), with pfctl's
//! checks and messages (parse.y `option`, pfctl.c `pfctl_set_*`).

use super::state::state_option_items;
use super::{err, global, parse_u32, Expander, Res};
use crate::conf::ast::{IfItem, IfName, SetOption};
use crate::conf::names;
use crate::ruleset::{BlockPolicy, Directive, Limit, Timeout};

impl Expander<'_> {
    pub fn set_option(&mut self, opt: &SetOption, file: &str, line: u32) {
        if let Err(msgs) = self.set_option_inner(opt) {
            self.errors_from(file, line, msgs);
        }
    }

    fn set_option_inner(&mut self, opt: &SetOption) -> Res<()> {
        let rs = &mut self.ruleset;
        match opt {
            SetOption::BlockPolicyReturn(ret) => {
                self.block_policy_return = *ret;
                let p = if *ret {
                    BlockPolicy::Return
                } else {
                    BlockPolicy::Drop
                };
                rs.options.block_policy = Some(p);
                rs.directives.push(Directive::BlockPolicy(p));
            }
            SetOption::Skip(items) => self.set_skip(items)?,
            SetOption::Timeout(list) => {
                for (name, v) in list {
                    let v = parse_u32(v)?;
                    // pfctl_set_timeout: strcasecmp, a warning, then the
                    // parser's message
                    let Some(t) = Timeout::from_name(&name.to_ascii_lowercase()) else {
                        return Err(vec![
                            global("Bad timeout name."),
                            format!("unknown timeout {name}"),
                        ]);
                    };
                    rs.options.timeouts.push((t, v));
                    rs.directives.push(Directive::Timeout(name.clone(), v));
                }
            }
            SetOption::Limit(list) => {
                for (name, v) in list {
                    let v = parse_u32(v)?;
                    let Some(l) = Limit::from_name(&name.to_ascii_lowercase()) else {
                        return Err(vec![
                            global("Bad pool name."),
                            format!("unable to set limit {name} {v}"),
                        ]);
                    };
                    rs.options.limits.push((l, v));
                    rs.directives.push(Directive::Limit(name.clone(), v));
                }
            }
            SetOption::HostId(s) => {
                let v = hostid(s)?;
                rs.options.hostid = Some(v);
                rs.directives.push(Directive::HostId(v));
            }
            SetOption::LogInterface(s) => {
                rs.options.loginterface = Some(s.clone());
                rs.directives.push(Directive::LogInterface(s.clone()));
            }
            SetOption::Debug(s) => {
                check_debug_level(s)?;
                rs.options.debug = Some(s.clone());
                rs.directives.push(Directive::Debug(s.clone()));
            }
            SetOption::RulesetOptimization(s) => {
                if !matches!(s.as_str(), "none" | "basic" | "profile") {
                    return err(format!("unknown ruleset-optimization {s}"));
                }
                rs.options.ruleset_optimization = Some(s.clone());
                rs.directives
                    .push(Directive::RulesetOptimization(s.clone()));
            }
            SetOption::Optimization(s) => {
                let Some(preset) = optimization_preset(s) else {
                    return Err(vec![
                        global("invalid state timeouts optimization"),
                        format!("unknown optimization {s}"),
                    ]);
                };
                // pfctl sets the hint's timeouts here, in order: a later
                // `set timeout` overrides them, an earlier one does not.
                rs.options.timeouts.extend_from_slice(preset);
                rs.options.optimization = Some(s.clone());
                rs.directives.push(Directive::Optimization(s.clone()));
            }
            SetOption::Reassemble(word, no_df) => {
                let on = match word.as_str() {
                    "yes" => true,
                    "no" => false,
                    w => return err(format!("invalid value '{w}', expected 'yes' or 'no'")),
                };
                rs.options.reassemble = Some((on, *no_df));
                rs.directives
                    .push(Directive::Reassemble { on, no_df: *no_df });
            }
            SetOption::StatePolicyIfBound(b) => {
                rs.options.state_policy_if_bound = Some(*b);
                self.default_if_bound = *b;
                rs.directives.push(Directive::StatePolicyIfBound(*b));
            }
            SetOption::StateDefaults(opts) => {
                if self.state_defaults.is_some() {
                    return err("cannot redefine state-defaults");
                }
                // each option is checked as it is read; their combination
                // only on the rules that take them
                state_option_items(opts)?;
                self.state_defaults = Some(opts.clone());
            }
            SetOption::Fingerprints(f) => {
                rs.directives.push(Directive::Fingerprints(f.clone()));
            }
            SetOption::Syncookies(mode, opts) => self.set_syncookies(mode, opts)?,
            SetOption::FailPolicy(p) => {
                let open = match p.as_str() {
                    "open" => true,
                    "closed" => false,
                    _ => return err(format!("unknown fail-policy {p}")),
                };
                self.ruleset.options.fail_open = Some(open);
                self.ruleset.directives.push(Directive::FailOpen(open));
            }
        }
        Ok(())
    }

    /// `set skip on ...` (pfctl's expand_skip_interface).
    fn set_skip(&mut self, items: &[IfItem]) -> Res<()> {
        let rs = &mut self.ruleset;
        // expand_skip_interface: no list, or a lone `none`, clears
        if items.is_empty() {
            rs.options.skip.clear();
            rs.directives.push(Directive::Skip(vec![]));
            return Ok(());
        }
        if let [IfItem {
            neg: false,
            name: IfName::Name(n),
        }] = items
        {
            if n == "none" {
                rs.options.skip.clear();
                rs.directives.push(Directive::Skip(vec![]));
                return Ok(());
            }
        }
        // pfctl prints each name (an rdomain has none) before it
        // checks it
        let mut names = vec![];
        let mut printed = vec![];
        let mut errs = vec![];
        for i in items {
            let name = match &i.name {
                IfName::Any => "any".to_string(),
                IfName::Name(n) => n.clone(),
                IfName::Rdomain(_) => String::new(),
            };
            printed.push(name.clone());
            if i.neg {
                errs.push("skip on ! <interface> is not supported".to_string());
            } else if matches!(i.name, IfName::Rdomain(_)) {
                errs.push("skip on rdomain <num> is not supported".to_string());
            } else {
                names.push(name);
            }
        }
        rs.directives.push(Directive::Skip(printed));
        if !errs.is_empty() {
            errs.push("error setting skip interface(s)".to_string());
            return Err(errs);
        }
        for n in names {
            if !rs.options.skip.contains(&n) {
                rs.options.skip.push(n);
            }
        }
        Ok(())
    }

    /// `set syncookies mode [(start N%, end N%)]`.
    fn set_syncookies(&mut self, mode: &str, opts: &[(String, String)]) -> Res<()> {
        // syncookie_val, syncookie_opt, then pfctl_set_syncookies
        if !matches!(mode, "never" | "adaptive" | "always") {
            return err("illegal value for syncookies");
        }
        let mut wat: Option<(u32, u32)> = None;
        if !opts.is_empty() {
            let (mut hi, mut lo) = (0u32, 0u32);
            for (k, v) in opts {
                // strtod(3) and a `%` after the number
                let pct = v.strip_suffix('%').and_then(|x| x.parse::<f64>().ok());
                let p = match pct {
                    Some(p) if p > 0.0 && p <= 100.0 => p,
                    Some(_) => return err("illegal percentage value"),
                    None => return err("syntax error"),
                };
                match k.as_str() {
                    "start" => hi = p as u32,
                    "end" => lo = p as u32,
                    _ => return err("illegal syncookie option"),
                }
            }
            if mode != "adaptive" {
                return Err(vec![
                    global("syncookies start/end only apply to adaptive"),
                    "error setting syncookies".to_string(),
                ]);
            }
            if hi == 0 {
                hi = 25;
            }
            if lo == 0 {
                lo = hi / 2;
            }
            if lo >= hi {
                return Err(vec![
                    global("start must be higher than end"),
                    "error setting syncookies".to_string(),
                ]);
            }
            wat = Some((hi, lo));
        }
        if wat.is_some() {
            self.syncookie_wat = wat;
        }
        // what pfd enforces: the last mode, the last watermarks given
        self.ruleset.options.syncookies = crate::ruleset::SyncookiesMode::from_name(mode);
        self.ruleset.options.syncookies_watermarks = self.syncookie_wat;
        // the watermarks, once set, are printed with any later
        // `adaptive` (pfctl keeps them in a global)
        let text = match (mode, self.syncookie_wat) {
            ("adaptive", Some((hi, lo))) => format!("adaptive (start {hi}%, end {lo}%)"),
            _ => mode.to_string(),
        };
        self.ruleset.directives.push(Directive::Syncookies(text));
        Ok(())
    }
}

/// `set hostid`: a NUMBER (negative ones pass the check and wrap, as in
/// pfctl) or a STRING read by strtoul(3); never 0.
fn hostid(s: &str) -> Res<u32> {
    // `number`: a NUMBER (negative ones pass the check and
    // wrap, as in pfctl) or a STRING read by strtoul(3).
    let v: i128 = match s.parse::<i64>() {
        Ok(n) => n as i128,
        Err(_) => match names::strtoul(s) {
            Some(v) => v as i128,
            None => return err(format!("{s} is not a number")),
        },
    };
    if v == 0 || v > u32::MAX as i128 {
        return err("hostid must be non-zero");
    }
    Ok(v as u32)
}

/// `set debug`: pfctl's string_to_loglevel.
fn check_debug_level(s: &str) -> Res<()> {
    // string_to_loglevel: 0 to 7, or a syslog priority name
    // (any case) other than "none"
    const LEVELS: &[&str] = &[
        "alert", "crit", "debug", "emerg", "err", "error", "info", "notice", "panic", "warn",
        "warning",
    ];
    let lower = s.to_ascii_lowercase();
    let ok = if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.bytes().all(|b| b.is_ascii_digit()) && matches!(s.parse::<u8>(), Ok(0..=7))
    } else {
        LEVELS.contains(&lower.as_str())
    };
    if !ok {
        return Err(vec![
            global(format!("unknown debug level \"{s}\"")),
            format!("error setting debuglevel {s}"),
        ]);
    }
    Ok(())
}

/// The TCP timeouts `set optimization` sets (pfctl's pf_hints).
fn optimization_preset(hint: &str) -> Option<&'static [(Timeout, u32)]> {
    use Timeout::*;
    const NORMAL: [(Timeout, u32); 7] = [
        (TcpFirst, 120),
        (TcpOpening, 30),
        (TcpEstablished, 86400),
        (TcpClosing, 900),
        (TcpFinWait, 45),
        (TcpClosed, 90),
        (TcpTsDiff, 30),
    ];
    const SATELLITE: [(Timeout, u32); 7] = [
        (TcpFirst, 180),
        (TcpOpening, 35),
        (TcpEstablished, 86400),
        (TcpClosing, 905),
        (TcpFinWait, 50),
        (TcpClosed, 95),
        (TcpTsDiff, 60),
    ];
    const CONSERVATIVE: [(Timeout, u32); 7] = [
        (TcpFirst, 3600),
        (TcpOpening, 900),
        (TcpEstablished, 432000),
        (TcpClosing, 3600),
        (TcpFinWait, 600),
        (TcpClosed, 180),
        (TcpTsDiff, 60),
    ];
    const AGGRESSIVE: [(Timeout, u32); 7] = [
        (TcpFirst, 30),
        (TcpOpening, 5),
        (TcpEstablished, 18000),
        (TcpClosing, 60),
        (TcpFinWait, 30),
        (TcpClosed, 30),
        (TcpTsDiff, 10),
    ];
    Some(match hint.to_ascii_lowercase().as_str() {
        "normal" => &NORMAL,
        "satellite" | "high-latency" => &SATELLITE,
        "conservative" => &CONSERVATIVE,
        "aggressive" => &AGGRESSIVE,
        _ => return None,
    })
}

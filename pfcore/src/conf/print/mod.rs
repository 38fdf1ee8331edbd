//! Step 4 of the pipeline, ruleset → text: what `pfctl -nv` prints for a
//! ruleset (directives in source order, then the rules, then each `load
//! anchor` file) and what `pfctl -sr` prints for a rule.
//!
//! - `rule.rs`  — one rule (pfctl's `print_rule`);
//! - `table.rs` — a table definition (`print_tabledef`);
//! - `queue.rs` — a queue (`print_queuespec`);
//! - here: `set` lines and macros (`print_options`, the directives), and
//!   the whole `-nv` output.

pub mod queue;
pub mod rule;
pub mod table;

pub use rule::print_rule;

use crate::conf::resolver::Resolver;
use crate::ruleset::*;
use std::fmt::Write;

/// The net effect of the `set` options, one `set ...` line each, in a fixed
/// order (what a reload would apply). Macros and repeated settings are only
/// in `print_ruleset_nv`.
pub fn print_options(opts: &Options) -> String {
    let mut s = String::new();
    if !opts.skip.is_empty() {
        let _ = writeln!(s, "set skip on {{ {} }}", opts.skip.join(" "));
    }
    if let Some(p) = opts.block_policy {
        let _ = writeln!(
            s,
            "set block-policy {}",
            if p == BlockPolicy::Return {
                "return"
            } else {
                "drop"
            }
        );
    }
    if let Some(o) = &opts.optimization {
        let _ = writeln!(s, "set optimization {o}");
    }
    for (t, v) in &opts.timeouts {
        let _ = writeln!(s, "set timeout {} {v}", t.name());
    }
    for (l, v) in &opts.limits {
        let _ = writeln!(s, "set limit {} {v}", l.name());
    }
    if let Some(i) = &opts.loginterface {
        let _ = writeln!(s, "set loginterface {i}");
    }
    if let Some(h) = opts.hostid {
        let _ = writeln!(s, "set hostid 0x{h:08x}");
    }
    if let Some(d) = &opts.debug {
        let _ = writeln!(s, "set debug {d}");
    }
    s
}

fn directive_line(d: &Directive) -> Option<String> {
    Some(match d {
        Directive::Macro { name, value } => format!("{name} = \"{value}\""),
        Directive::BlockPolicy(p) => {
            format!(
                "set block-policy {}",
                if *p == BlockPolicy::Return {
                    "return"
                } else {
                    "drop"
                }
            )
        }
        Directive::Skip(list) if list.is_empty() => "set skip on none".to_string(),
        Directive::Skip(list) => format!("set skip on {{ {} }}", list.join(" ")),
        // pfctl prints the values with %d
        Directive::Timeout(n, v) => format!("set timeout {n} {}", *v as i32),
        Directive::Limit(n, v) => format!("set limit {n} {}", *v as i32),
        Directive::HostId(h) => format!("set hostid 0x{h:08x}"),
        Directive::LogInterface(i) => format!("set loginterface {i}"),
        Directive::Debug(d) => format!("set debug {d}"),
        Directive::Optimization(o) => format!("set optimization {o}"),
        Directive::RulesetOptimization(_) => return None,
        Directive::Reassemble { on, no_df } => {
            format!(
                "set reassemble {} {}",
                if *on { "yes" } else { "no" },
                if *no_df { "no-df" } else { "" }
            )
        }
        Directive::StatePolicyIfBound(b) => {
            format!(
                "set state-policy {}",
                if *b { "if-bound" } else { "floating" }
            )
        }
        Directive::Fingerprints(f) => format!("set fingerprints \"{f}\""),
        Directive::Syncookies(s) => format!("set syncookies {s}"),
        Directive::FailOpen(open) => {
            format!("set fail-policy {}", if *open { "open" } else { "closed" })
        }
        Directive::Queue(q) => queue::print_queuespec(q),
        // the optimizer's tables of an inline anchor print in its braces
        Directive::Table(t) if t.nested => return None,
        Directive::Table(t) => table::print_tabledef(t),
        Directive::Limiter(l) => limiter_line(l),
    })
}

/// A limiter definition as pfctl prints it.
pub fn limiter_line(l: &crate::ruleset::LimiterDef) -> String {
    use crate::ruleset::LimiterDef;
    use std::fmt::Write;
    let mut s = String::new();
    let rate = match l {
        LimiterDef::State(d) => {
            let _ = write!(s, "state limiter {} id {} limit {}", d.name, d.id, d.limit);
            d.rate
        }
        LimiterDef::Source(d) => {
            let _ = write!(
                s,
                "source limiter {} id {} entries {} limit {}",
                d.name, d.id, d.entries, d.limit
            );
            d.rate
        }
    };
    if let Some(r) = rate {
        let _ = write!(s, " rate {}/{}", r.limit, r.seconds);
    }
    if let LimiterDef::Source(d) = l {
        if let Some((t, above, below)) = &d.overload {
            let _ = write!(s, " table <{t}> above {above}");
            if *below != 0 {
                let _ = write!(s, " below {below}");
            }
        }
        if d.inet_prefix < 32 {
            let _ = write!(s, " inet mask {}", d.inet_prefix);
        }
        if d.inet6_prefix < 128 {
            let _ = write!(s, " inet6 mask {}", d.inet6_prefix);
        }
    }
    s
}

/// The `set` lines, macros and tables of `pfctl -nv`, in source order:
/// what pfctl prints while it parses, even when the file has errors.
pub fn print_directives(rs: &Ruleset) -> String {
    let mut s = String::new();
    for d in &rs.directives {
        if let Some(l) = directive_line(d) {
            s.push_str(&l);
            s.push('\n');
        }
    }
    s
}

/// The whole output of `pfctl -nv`: macro definitions and `set` lines in
/// source order, then the rules (inline anchors nested in braces, two
/// spaces per level), then each `load anchor` file's output in turn.
pub fn print_ruleset_nv(rs: &Ruleset, resolver: &dyn Resolver) -> String {
    let mut s = print_directives(rs);
    let nested: Vec<&TableDef> = rs.tables().filter(|t| t.nested).collect();
    let nv = Nv {
        resolver,
        nested: &nested,
    };
    nv.rules(&mut s, &rs.rules, 0, "");
    for l in &rs.loads {
        s.push_str(&print_ruleset_nv(&l.ruleset, resolver));
    }
    s
}

/// What the rules of `-nv` print with.
struct Nv<'a> {
    resolver: &'a dyn Resolver,
    /// The optimizer's tables of inline anchors.
    nested: &'a [&'a TableDef],
}

impl Nv<'_> {
    /// pfctl's pfctl_load_ruleset output: an anchor with inline rules is
    /// followed by ` {`, the tables the optimizer made for it, its rules
    /// one level deeper and a closing `}`. `path` is the anchor's path
    /// below the ruleset printed (a table's may begin with the path of the
    /// `load anchor` it is in).
    fn rules(&self, s: &mut String, rules: &[Rule], depth: usize, path: &str) {
        let resolver = self.resolver;
        for r in rules {
            s.push_str(&"  ".repeat(depth));
            s.push_str(&print_rule(r, resolver));
            match &r.anchor {
                Some(a) if a.inline && !a.rules.is_empty() => {
                    s.push_str(" {\n");
                    let sub = join(path, &a.name);
                    let tail = format!("/{sub}");
                    for t in self
                        .nested
                        .iter()
                        .filter(|t| t.anchor == sub || t.anchor.ends_with(&tail))
                    {
                        s.push_str(&table::print_tabledef(t));
                        s.push('\n');
                    }
                    self.rules(s, &a.rules, depth + 1, &sub);
                    s.push_str(&"  ".repeat(depth));
                    s.push_str("}\n");
                }
                _ => s.push('\n'),
            }
        }
    }
}

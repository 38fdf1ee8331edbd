//! pfctl's side of anchors: the `-a` option, rule listings that follow the
//! anchor tree (pfctl_show_rules), `-s Anchors` (pfctl_show_anchors) and
//! the list a recursive flush walks (pfctl_get_anchors). They read the
//! tree through `Tree`: pfd over the control socket, or an engine's tree.

use crate::conf::print::print_rule;
use crate::conf::print::rule::print_rule_tblcnt;
use crate::conf::Resolver;
use crate::engine::anchor::{AnchorTree, Loader, MAX_DEPTH};
use crate::engine::table::{tflag, TableInfo};
use crate::ioctl::client::Client;
use crate::ioctl::{Error, Reply, Request, RuleInfo};
use crate::ruleset::skip;
use crate::ruleset::{is_anonymous, join, resolve};
use crate::show::{rule_counters, rule_evaluations};
use std::fmt::Write;

/// What `-a` says, as pfctl reads it: a trailing `*` asks for recursion
/// (`-a '*'`: from the main ruleset; `-a 'x/*'`: x and, as a wildcard, its
/// children).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnchorOpt {
    /// The anchor path (`""`: the main ruleset).
    pub path: String,
    pub recurse: bool,
    pub wildcard: bool,
}

impl AnchorOpt {
    /// pfctl's checks and trailing `*` handling; `modify` is true when the
    /// command changes something (`-f`, `-F`, `-z`, ...).
    pub fn parse(s: &str, modify: bool) -> Result<AnchorOpt, String> {
        if s.is_empty() {
            return Err("anchor name must not be empty".into());
        }
        if modify && (s.starts_with('_') || s.contains("/_")) {
            return Err(
                "anchor names beginning with '_' cannot be modified from the command line".into(),
            );
        }
        let mut o = AnchorOpt {
            path: s.to_string(),
            ..Default::default()
        };
        if let Some(p) = s.strip_suffix('*') {
            match p.strip_suffix('/') {
                Some(q) => {
                    o.path = q.to_string();
                    o.wildcard = true;
                }
                None => o.path = p.to_string(),
            }
            o.recurse = true;
        }
        if o.path.len() >= 1024 {
            return Err(format!("anchor name '{s}' too long"));
        }
        o.path = o.path.trim_start_matches('/').to_string();
        Ok(o)
    }
}

/// Where the anchor tree is read from.
pub trait Tree {
    /// The rules of the anchor at `path`; None if there is no such anchor.
    fn rules(&mut self, path: &str) -> Result<Option<(Vec<RuleInfo>, Loader)>, Error>;
    /// The names of the children of the anchor at `path`; None if there is
    /// no such anchor.
    fn children(&mut self, path: &str) -> Result<Option<Vec<String>>, Error>;
    /// Every table of every anchor with its size (for `-vv -sr`'s
    /// `<name:N>`); none where the tree has no tables.
    fn tables(&mut self) -> Result<Vec<TableInfo>, Error> {
        Ok(vec![])
    }
}

/// pfd answers ENOENT for an anchor that does not exist.
fn missing<T>(r: Result<T, Error>) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::Daemon { errno: 2, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Tree for Client {
    fn rules(&mut self, path: &str) -> Result<Option<(Vec<RuleInfo>, Loader)>, Error> {
        let r = self.call(&Request::GetRules {
            anchor: path.to_string(),
        });
        match missing(r)? {
            Some(Reply::Rules { rules, loader }) => Ok(Some((rules, loader))),
            Some(other) => Err(Error::Protocol(format!("expected rules, got {other:?}"))),
            None => Ok(None),
        }
    }

    fn children(&mut self, path: &str) -> Result<Option<Vec<String>>, Error> {
        let r = self.call(&Request::GetRulesets {
            anchor: path.to_string(),
        });
        match missing(r)? {
            Some(Reply::Rulesets(v)) => Ok(Some(v)),
            Some(other) => Err(Error::Protocol(format!("expected anchors, got {other:?}"))),
            None => Ok(None),
        }
    }

    fn tables(&mut self) -> Result<Vec<TableInfo>, Error> {
        match self.call(&Request::GetTables { anchor: None })? {
            Reply::Tables(t) => Ok(t),
            other => Err(Error::Protocol(format!("expected tables, got {other:?}"))),
        }
    }
}

impl Tree for AnchorTree {
    fn rules(&mut self, path: &str) -> Result<Option<(Vec<RuleInfo>, Loader)>, Error> {
        Ok(self.find(path).map(|a| {
            let rules = a
                .rules
                .rules
                .iter()
                .zip(&a.rules.counters)
                .enumerate()
                .map(|(i, (rule, c))| RuleInfo {
                    rule: rule.clone(),
                    counters: *c,
                    expired: a.rules.run.expired(i),
                    skip: a.rules.skip.get(i).copied().unwrap_or(
                        [crate::ruleset::skip::SKIP_END; crate::ruleset::skip::SKIP_COUNT],
                    ),
                })
                .collect();
            (rules, a.rules.loader)
        }))
    }

    fn children(&mut self, path: &str) -> Result<Option<Vec<String>>, Error> {
        Ok(AnchorTree::children(self, path))
    }
}

/// A rule listing (`pfctl [-a path] -sr [-v]`): what goes to standard
/// output and the warnings pfctl prints on standard error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub out: String,
    pub warnings: Vec<String>,
}

/// `pfctl -sr` as pfctl_show_rules prints it, from the anchor `opt` names.
/// An anchor rule is followed by the rules of the anchor it calls, in
/// braces one level deeper (indented two spaces a level unless `-v`), when
/// the anchor is anonymous, when its rules were given inline, or when `-a`
/// asked for recursion; `name/*` then lists each child as `anchor "child"
/// all { ... }`.
/// `debug` is pfctl's `-g`: the rule numbers, table sizes and expired
/// rules as with `-vv`, and each rule's skip steps and queues (instead of
/// its `Inserted` line under `-v`).
pub fn show_rules(
    tree: &mut dyn Tree,
    opt: &AnchorOpt,
    verbose: u8,
    debug: bool,
    resolver: &dyn Resolver,
) -> Result<Listing, Error> {
    let mut l = Listing::default();
    let tables = if verbose >= 2 || debug {
        tree.tables()?
    } else {
        vec![]
    };
    let mut v = View {
        tree,
        tables,
        recurse: opt.recurse,
        verbose,
        debug,
        resolver,
        l: &mut l,
    };
    v.rules("", &opt.path, 0, opt.wildcard)?;
    Ok(l)
}

struct View<'a> {
    tree: &'a mut dyn Tree,
    /// With -vv (or -g): the tables, for the sizes rules print.
    tables: Vec<TableInfo>,
    recurse: bool,
    verbose: u8,
    debug: bool,
    resolver: &'a dyn Resolver,
    l: &'a mut Listing,
}

impl View<'_> {
    fn indent(&mut self, depth: usize) {
        if self.verbose == 0 {
            self.l.out.push_str(&"  ".repeat(depth));
        }
    }

    /// pfctl_show_rules for the anchor `name` called from `path`.
    fn rules(&mut self, path: &str, name: &str, depth: usize, wildcard: bool) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            self.l.warnings.push(format!(
                "pfctl_show_rules: max stack depth exceeded for {path}"
            ));
            return Ok(());
        }
        let npath = match resolve(path, name) {
            Some((p, _)) => p,
            None => join(path, name),
        };
        let Some((rules, loader)) = self.tree.rules(&npath)? else {
            self.l.warnings.push("Anchor does not exist".into());
            return Ok(());
        };
        // pfctl lists a wildcard anchor's children only if all its rules
        // (if any) are wildcard calls themselves.
        let mut wildcard = wildcard;
        for (nr, ri) in rules.iter().enumerate() {
            let call = ri.rule.anchor.as_deref();
            let call_wildcard = call.is_some_and(|c| c.name.ends_with("/*"));
            if !call_wildcard {
                wildcard = false;
            }
            // A `once` rule that fired is hidden unless -vv (or -g).
            let numbered = self.verbose >= 2 || self.debug;
            if ri.expired && !numbered {
                continue;
            }
            self.indent(depth);
            if numbered {
                let _ = write!(self.l.out, "@{nr} ");
            }
            if numbered {
                let tables = &self.tables;
                let count = |t: &str| table_count(tables, &npath, t);
                self.l
                    .out
                    .push_str(&print_rule_tblcnt(&ri.rule, self.resolver, Some(&count)));
            } else {
                self.l.out.push_str(&print_rule(&ri.rule, self.resolver));
            }
            if ri.expired {
                self.l.out.push_str(" # expired");
            }
            match call {
                Some(c) if is_anonymous(&c.name) || c.inline || self.recurse => {
                    self.l.out.push_str(" {\n");
                    self.counters(nr, ri, &loader);
                    self.rules(&npath, &c.name, depth + 1, call_wildcard)?;
                    self.indent(depth);
                    self.l.out.push_str("}\n");
                }
                _ => {
                    self.l.out.push('\n');
                    self.counters(nr, ri, &loader);
                }
            }
        }
        if wildcard && self.recurse {
            for child in self.tree.children(&npath)?.unwrap_or_default() {
                self.indent(depth);
                let _ = writeln!(self.l.out, "anchor \"{child}\" all {{");
                self.rules(&npath, &child, depth + 1, false)?;
                self.indent(depth);
                self.l.out.push_str("}\n");
            }
        }
        Ok(())
    }

    /// pfctl_print_rule_counters for rule `nr`.
    fn counters(&mut self, nr: usize, ri: &RuleInfo, loader: &Loader) {
        if self.debug {
            self.l.out.push_str(&skip::format(nr as u32, &ri.skip));
            // `set queue` is refused: no rule has a queue.
            self.l
                .out
                .push_str("  [ queue: qname= qid=0 pqname= pqid=0 ]\n");
        }
        if self.verbose > 0 {
            // Under -g the Inserted line gives way to the debugging output.
            let c = if self.debug {
                rule_evaluations(&ri.counters)
            } else {
                rule_counters(&ri.counters, loader)
            };
            self.l.out.push_str(&c);
        }
    }
}

/// pf's `tblcnt` of table `name` named by a rule of anchor `path`: the
/// anchor's own table if active, else the main ruleset's; -1 if neither.
fn table_count(tables: &[TableInfo], path: &str, name: &str) -> i64 {
    let active = |a: &str| {
        tables
            .iter()
            .find(|t| t.anchor == a && t.name == name && t.flags & tflag::ACTIVE != 0)
    };
    active(path)
        .or_else(|| active(""))
        .map_or(-1, |t| t.count as i64)
}

/// `pfctl [-a path] -s Anchors [-v]` (pfctl_show_anchors): every anchor
/// below `path`, depth first, one `  path` line each; those under a path
/// beginning with `_` (pfctl's own names) only with `-v`. None if there
/// is no anchor at `path`.
pub fn show_anchors(tree: &mut dyn Tree, path: &str, verbose: u8) -> Result<Option<String>, Error> {
    let mut out = String::new();
    let mut found = true;
    walk(
        tree,
        path,
        &mut |parent, name| {
            let hidden = if parent.is_empty() {
                name.starts_with('_')
            } else {
                parent.starts_with('_')
            };
            if !hidden || verbose > 0 {
                let _ = writeln!(out, "  {}", join(parent, name));
            }
        },
        &mut found,
        0,
    )?;
    Ok(found.then_some(out))
}

/// pfctl_walk_anchors: `f(parent, name)` for each anchor below `path`,
/// depth first, children in order.
fn walk(
    tree: &mut dyn Tree,
    path: &str,
    f: &mut dyn FnMut(&str, &str),
    found: &mut bool,
    depth: usize,
) -> Result<(), Error> {
    let Some(names) = tree.children(path)? else {
        *found = false;
        return Ok(());
    };
    if depth > MAX_DEPTH {
        return Ok(());
    }
    for name in names {
        f(path, &name);
        let mut ok = true;
        walk(tree, &join(path, &name), f, &mut ok, depth + 1)?;
    }
    Ok(())
}

/// The anchors a recursive flush (`-a 'path/*' -F rules`) clears, in
/// pfctl_get_anchors' order: the deepest last-listed first, `path` itself
/// last. None if there is no anchor at `path`.
pub fn anchors_to_flush(tree: &mut dyn Tree, path: &str) -> Result<Option<Vec<String>>, Error> {
    let mut list = vec![path.to_string()];
    let mut found = true;
    walk(
        tree,
        path,
        &mut |parent, name| list.push(join(parent, name)),
        &mut found,
        0,
    )?;
    if !found {
        return Ok(None);
    }
    list.reverse();
    Ok(Some(list))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{parse, StaticResolver};
    use crate::ruleset::flatten;

    fn tree(loads: &[(&str, &str)]) -> AnchorTree {
        let res = StaticResolver::new().iface("eth0", &["192.0.2.1/24"]);
        let mut t = AnchorTree::new();
        for (at, src) in loads {
            let rs = parse(src, "stdin", &res).unwrap();
            t.commit(flatten(&rs, at), Loader::default(), 512).unwrap();
        }
        t
    }

    fn sr(t: &mut AnchorTree, a: &str, v: u8) -> String {
        let opt = if a.is_empty() {
            AnchorOpt::default()
        } else {
            AnchorOpt::parse(a, false).unwrap()
        };
        let res = StaticResolver::new();
        show_rules(t, &opt, v, false, &res).unwrap().out
    }

    #[test]
    fn anchor_option_as_pfctl_reads_it() {
        let p = |s, m| AnchorOpt::parse(s, m);
        assert_eq!(
            p("*", false).unwrap(),
            AnchorOpt {
                path: "".into(),
                recurse: true,
                wildcard: false
            }
        );
        assert_eq!(
            p("foo/*", true).unwrap(),
            AnchorOpt {
                path: "foo".into(),
                recurse: true,
                wildcard: true
            }
        );
        assert_eq!(p("/a/b", true).unwrap().path, "a/b");
        assert!(p("", false).is_err());
        assert_eq!(
            p("x/_1", true).unwrap_err(),
            "anchor names beginning with '_' cannot be modified from the command line"
        );
        assert!(p("_1", false).is_ok());
    }

    #[test]
    fn rules_nest_as_pfctl_shows_them() {
        let mut t = tree(&[(
            "",
            "anchor \"foo\" {\n anchor \"bar\" {\n  pass on eth0\n }\n}\nanchor {\n block\n}\nanchor named\n",
        )]);
        // Inline and anonymous anchors are shown in braces; a call by name
        // is not, unless -a asks for recursion.
        assert_eq!(
            sr(&mut t, "", 0),
            "anchor \"foo\" all {\n  anchor \"bar\" all {\n    pass on eth0 all flags S/SA\n  }\n}\n\
             anchor all {\n  block drop all\n}\nanchor \"named\" all\n"
        );
        assert_eq!(sr(&mut t, "foo/bar", 0), "pass on eth0 all flags S/SA\n");
        let mut t = tree(&[
            ("", "anchor named\nanchor \"w/*\"\n"),
            ("named", "pass\n"),
            ("w/x", "block\n"),
        ]);
        assert_eq!(
            sr(&mut t, "", 0),
            "anchor \"named\" all\nanchor \"w/*\" all\n"
        );
        assert_eq!(
            sr(&mut t, "*", 0),
            "anchor \"named\" all {\n  pass all flags S/SA\n}\nanchor \"w/*\" all {\n  anchor \"x\" all {\n    block drop all\n  }\n}\n"
        );
        assert_eq!(
            sr(&mut t, "w/*", 0),
            "anchor \"x\" all {\n  block drop all\n}\n"
        );
        // -v: no indentation, counters under each rule, @nr with -vv.
        let v = sr(&mut t, "*", 2);
        assert!(
            v.starts_with("@0 anchor \"named\" all {\n  [ Evaluations: 0 "),
            "{v}"
        );
        assert!(v.contains("}\n@1 anchor \"w/*\" all {\n"), "{v}");
        assert!(
            v.contains("anchor \"x\" all {\n@0 block drop all\n  [ Evaluations"),
            "{v}"
        );
        // An anchor that is not there.
        let res = StaticResolver::new();
        let l = show_rules(
            &mut t,
            &AnchorOpt::parse("nope", false).unwrap(),
            0,
            false,
            &res,
        )
        .unwrap();
        assert_eq!(
            (l.out.as_str(), l.warnings.as_slice()),
            ("", &["Anchor does not exist".to_string()][..])
        );
    }

    #[test]
    fn anchors_listed_and_flushed_in_pfctl_order() {
        let mut t = tree(&[(
            "",
            "anchor \"foo\" {\n anchor \"bar\" {\n  anchor \"foobar\" {\n   pass\n  }\n  anchor \"quux\" {\n   pass\n  }\n }\n anchor \"baz\" {\n  pass\n }\n anchor \"qux\" {\n  pass\n }\n}\nanchor {\n pass\n}\n",
        )]);
        assert_eq!(
            show_anchors(&mut t, "", 0).unwrap().unwrap(),
            "  foo\n  foo/bar\n  foo/bar/foobar\n  foo/bar/quux\n  foo/baz\n  foo/qux\n"
        );
        assert_eq!(
            show_anchors(&mut t, "", 1).unwrap().unwrap(),
            "  _7\n  foo\n  foo/bar\n  foo/bar/foobar\n  foo/bar/quux\n  foo/baz\n  foo/qux\n"
        );
        assert_eq!(
            show_anchors(&mut t, "foo/bar", 0).unwrap().unwrap(),
            "  foo/bar/foobar\n  foo/bar/quux\n"
        );
        assert_eq!(show_anchors(&mut t, "nope", 0).unwrap(), None);
        assert_eq!(
            anchors_to_flush(&mut t, "foo/bar").unwrap().unwrap(),
            ["foo/bar/quux", "foo/bar/foobar", "foo/bar"]
        );
    }
}

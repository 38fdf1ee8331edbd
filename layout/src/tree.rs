//! A crate's module tree, and the modules a piece of code names in it.
//!
//! Code names module B when it holds a path into B: `use super::x`,
//! `crate::x::Item`, `self::x`, a `use` of a child module, or a plain
//! `child::item`. The module named is the deepest one the path reaches
//! (`crate::a::b::Item` names `a::b` when `a/b.rs` exists, else `a`).
//! Paths into other crates (`libpf::...`, `std::...`) name nothing here.

use crate::lex::{is_ident, Tok, Token};
use std::collections::BTreeSet;

/// A module path below the crate root (`[]` is the root).
pub type Module = Vec<String>;

/// The modules of one crate.
pub struct Tree {
    pub modules: BTreeSet<Module>,
}

impl Tree {
    fn child(&self, m: &Module, name: &str) -> Option<Module> {
        let mut c = m.clone();
        c.push(name.to_string());
        self.modules.contains(&c).then_some(c)
    }

    /// Follows `:: seg ...` from token `i`, starting in module `m`;
    /// records the modules the path reaches into `out`; returns the index
    /// after the path.
    fn walk(&self, toks: &[Token], mut i: usize, mut m: Module, out: &mut Vec<Module>) -> usize {
        loop {
            if toks.get(i).map(|t| &t.0) != Some(&Tok::Path) {
                out.push(m);
                return i;
            }
            match toks.get(i + 1) {
                Some((Tok::Ident(s), _)) if s == "super" => {
                    m.pop();
                    i += 2;
                }
                Some((Tok::Ident(s), _)) => match self.child(&m, s) {
                    Some(c) => {
                        m = c;
                        i += 2;
                    }
                    None => {
                        out.push(m);
                        return i + 2;
                    }
                },
                Some((Tok::Punct('{'), _)) => return self.use_tree(toks, i + 2, m, out),
                _ => {
                    out.push(m);
                    return i + 2;
                }
            }
        }
    }

    /// The elements of a use tree (`{a, b::c, self}`) from token `i`,
    /// each from module `m`; returns the index after the closing `}`.
    fn use_tree(&self, toks: &[Token], mut i: usize, m: Module, out: &mut Vec<Module>) -> usize {
        loop {
            match toks.get(i) {
                None => return i,
                Some((Tok::Punct('}'), _)) => return i + 1,
                Some((Tok::Ident(s), _)) if s == "self" => {
                    out.push(m.clone());
                    i += 1;
                }
                Some((Tok::Ident(s), _)) if s == "super" => {
                    let mut up = m.clone();
                    up.pop();
                    i = self.walk(toks, i + 1, up, out);
                }
                Some((Tok::Ident(s), _)) => match self.child(&m, s) {
                    Some(c) => i = self.walk(toks, i + 1, c, out),
                    None => {
                        out.push(m.clone());
                        i += 1;
                    }
                },
                Some(_) => i += 1,
            }
        }
    }

    /// The modules `toks` (code of module `m`) names, `m` itself left out.
    pub fn references(&self, m: &Module, toks: &[Token]) -> BTreeSet<Module> {
        let mut out = vec![];
        let mut i = 0;
        while i < toks.len() {
            let prev_path = i > 0 && toks[i - 1].0 == Tok::Path;
            let next_path = toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Path);
            let in_use = i > 0 && is_ident(toks.get(i - 1), "use");
            let start = match &toks[i].0 {
                Tok::Ident(_) if prev_path || (!next_path && !in_use) => None,
                Tok::Ident(s) if s == "crate" => Some(vec![]),
                Tok::Ident(s) if s == "super" => {
                    let mut up = m.clone();
                    up.pop();
                    Some(up)
                }
                Tok::Ident(s) if s == "self" => Some(m.clone()),
                // `use child::...` and plain `child::item` paths
                Tok::Ident(s) => self.child(m, s),
                _ => None,
            };
            match start {
                Some(from) => i = self.walk(toks, i + 1, from, &mut out),
                None => i += 1,
            }
        }
        out.into_iter().filter(|t| t != m).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lex::tokens;

    fn module(path: &str) -> Module {
        path.split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    fn tree(paths: &[&str]) -> Tree {
        Tree {
            modules: paths.iter().map(|p| module(p)).collect(),
        }
    }

    fn refs(tree: &Tree, m: &str, code: &str) -> Vec<String> {
        tree.references(&module(m), &tokens(code))
            .iter()
            .map(|m| m.join("::"))
            .collect()
    }

    #[test]
    fn paths_reach_the_deepest_module() {
        let t = tree(&["", "a", "a::b", "c"]);
        let code = "use super::super::{c, a::Item};\nuse super::X;";
        assert_eq!(refs(&t, "a::b", code), ["a", "c"]);
        assert_eq!(
            refs(&t, "c", "fn f() { crate::a::b::g(); self::h(); }"),
            ["a::b"]
        );
        assert_eq!(
            refs(&t, "", "use a::{self, b};\nfn f() -> c::T { std::a::x() }"),
            ["a", "a::b", "c"]
        );
        // another crate's modules, and names that are not modules
        assert_eq!(
            refs(&t, "c", "use libpf::a; fn f() { x::a(); a.b(); }"),
            Vec::<String>::new()
        );
    }
}

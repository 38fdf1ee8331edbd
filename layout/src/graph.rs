//! The import graph of a crate and its loops.
//!
//! Each module's non-test code names modules (see `tree`). An edge from A
//! to B counts between their ancestors that are siblings (children of the
//! same parent): `engine::state::x` naming `engine::af::y` is an edge
//! `engine::state -> engine::af`. A module naming its parent's own items
//! (`super::Verdict` in mod.rs) or its children is no edge: the parent is
//! the hall its rooms open on. A loop is siblings using each other,
//! directly or around a ring.
//!
//! Test code is left out (`#[cfg(test)]` items, and modules named
//! `tests*` or `*_tests`): a test may drive a module from anywhere.

use crate::lex::{drop_test_items, tokens};
use crate::tree::{Module, Tree};
use crate::workspace::Crate;
use std::collections::{BTreeMap, BTreeSet};

/// Modules and the modules each names.
pub type Edges = BTreeMap<Module, BTreeSet<Module>>;

/// The modules the non-test code of each non-test module of `krate` names
/// (the modules themselves, not yet their sibling ancestors).
pub fn references(krate: &Crate) -> Edges {
    let files: Vec<_> = krate
        .files
        .iter()
        .filter_map(|f| Some((f.module.clone()?, &f.code)))
        .collect();
    let tree = Tree {
        modules: files.iter().map(|f| f.0.clone()).collect(),
    };
    let mut tests: BTreeSet<Module> = BTreeSet::new();
    let mut code = vec![];
    for (m, text) in &files {
        let mut toks = tokens(text);
        for t in drop_test_items(&mut toks) {
            tests.insert([m.clone(), vec![t]].concat());
        }
        code.push((m, toks));
    }
    let is_test = |m: &Module| {
        tests.iter().any(|t| m.starts_with(t))
            || m.iter()
                .any(|s| s.starts_with("tests") || s.ends_with("_tests"))
    };
    let mut out = Edges::new();
    for (m, toks) in code {
        if is_test(m) {
            continue;
        }
        let refs = tree
            .references(m, &toks)
            .into_iter()
            .filter(|r| !is_test(r));
        out.entry(m.clone()).or_default().extend(refs);
    }
    out
}

/// The edges of `refs` between sibling ancestors.
pub fn siblings(refs: &Edges) -> Edges {
    let mut out = Edges::new();
    for (m, targets) in refs {
        for r in targets {
            let k = m.iter().zip(r).take_while(|(a, b)| a == b).count();
            // an ancestor or a descendant is no edge
            if k < m.len() && k < r.len() {
                out.entry(m[..=k].to_vec())
                    .or_default()
                    .insert(r[..=k].to_vec());
            }
        }
    }
    out
}

/// A loop in `graph`, if any: the modules along it, the first again last.
pub fn find_loop(graph: &Edges) -> Option<Vec<Module>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        OnStack,
        Done,
    }
    fn visit(
        m: &Module,
        graph: &Edges,
        seen: &mut BTreeMap<Module, Seen>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        seen.insert(m.clone(), Seen::OnStack);
        stack.push(m.clone());
        for n in graph.get(m).into_iter().flatten() {
            match seen.get(n) {
                Some(Seen::OnStack) => {
                    let from = stack.iter().position(|x| x == n).unwrap_or(0);
                    return Some([&stack[from..], std::slice::from_ref(n)].concat());
                }
                None => {
                    if let Some(c) = visit(n, graph, seen, stack) {
                        return Some(c);
                    }
                }
                Some(Seen::Done) => {}
            }
        }
        stack.pop();
        seen.insert(m.clone(), Seen::Done);
        None
    }
    let mut seen = BTreeMap::new();
    for m in graph.keys() {
        if !seen.contains_key(m) {
            if let Some(c) = visit(m, graph, &mut seen, &mut vec![]) {
                return Some(c);
            }
        }
    }
    None
}

/// Every loop of `graph`: finds one, takes out the edge that closes it,
/// and looks again, so each loop listed has at least one edge no other
/// listed loop has.
pub fn loops(graph: &Edges) -> Vec<Vec<Module>> {
    let mut g = graph.clone();
    let mut out = vec![];
    while let Some(c) = find_loop(&g) {
        if let [.., a, b] = &c[..] {
            if let Some(targets) = g.get_mut(a) {
                targets.remove(b);
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lex::strip;
    use crate::workspace::File;
    use std::path::PathBuf;

    fn module(path: &str) -> Module {
        path.split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    fn krate(files: &[(&str, &str)]) -> Crate {
        let files = files
            .iter()
            .map(|(m, code)| File {
                path: PathBuf::new(),
                module: Some(module(m)),
                lines: 0,
                code: strip(code),
            })
            .collect();
        Crate {
            name: "k".into(),
            dir: PathBuf::new(),
            files,
        }
    }

    fn show(edges: &Edges) -> Vec<String> {
        edges
            .iter()
            .flat_map(|(m, t)| {
                t.iter()
                    .map(move |t| format!("{} -> {}", m.join("::"), t.join("::")))
            })
            .collect()
    }

    #[test]
    fn halls_are_not_loops_but_rooms_are() {
        let k = krate(&[
            ("", "mod a; mod b; pub struct Hall;"),
            ("a", "use crate::Hall; use self::x::Y; mod x;"),
            ("a::x", "use super::super::b::Z; pub struct Y;"),
            ("b", "use super::a; pub struct Z; #[cfg(test)] mod tests;"),
            ("b::tests", "use crate::a::x::Y;"),
            ("c_tests", "use crate::a::x::Y;"),
        ]);
        let refs = references(&k);
        assert_eq!(show(&refs), ["a -> ", "a -> a::x", "a::x -> b", "b -> a"]);
        let sib = siblings(&refs);
        assert_eq!(show(&sib), ["a -> b", "b -> a"]);
        let l: Vec<Vec<String>> = loops(&sib)
            .iter()
            .map(|c| c.iter().map(|m| m.join("::")).collect())
            .collect();
        assert_eq!(l, [["a", "b", "a"]]);
    }
}

//! The shape of `conf/` itself, checked on its source files: the modules'
//! import graph has no loop (each step uses only the steps before it), no
//! file is over 1,200 lines, no function over 150. `cargo test -p libpf
//! layout -- --nocapture` prints the graph.
//!
//! The graph has an edge from module A to module B when A's non-test code
//! names a path into B (`use super::x`, `crate::conf::x::Item`, a `use`
//! of a child module): B is the deepest module the path reaches, or the
//! module whose items it names. Test modules (`#[cfg(test)] mod ...`) are
//! left out: a test may drive the whole pipeline from any step.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 1200;
const MAX_FN_LINES: usize = 150;

/// A module path below `conf` (`[]` is `conf` itself).
type Module = Vec<String>;

struct Source {
    module: Module,
    path: PathBuf,
    /// The text with comments, strings and char literals blanked
    /// (newlines kept, so lines still count).
    code: String,
    lines: usize,
}

fn conf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/conf")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("conf/ is readable")
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn module_of(rel: &Path) -> Module {
    let mut m: Module = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if m.last().is_some_and(|l| l == "mod") {
        m.pop();
    }
    m
}

/// Blanks comments, string literals and char literals.
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, s: &[char]| {
        for &c in s {
            out.push(if c == '\n' { '\n' } else { ' ' });
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(&['/', '/']) {
            let end = rest.iter().position(|&c| c == '\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(&['/', '*']) {
            let (mut depth, mut j) = (0, 0);
            while j < rest.len() {
                if rest[j..].starts_with(&['/', '*']) {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(&['*', '/']) {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if let Some(len) = raw_string(rest) {
            blank(&mut out, &rest[..len]);
            i += len;
        } else if rest[0] == '"' || rest.starts_with(&['b', '"']) {
            let mut j = if rest[0] == 'b' { 2 } else { 1 };
            while j < rest.len() && rest[j] != '"' {
                j += if rest[j] == '\\' { 2 } else { 1 };
            }
            let j = (j + 1).min(rest.len());
            blank(&mut out, &rest[..j]);
            i += j;
        } else if rest[0] == '\'' {
            // a char literal, else a lifetime
            let len = if rest.get(1) == Some(&'\\') {
                rest[2..].iter().position(|&c| c == '\'').map(|p| p + 3)
            } else if rest.get(2) == Some(&'\'') {
                Some(3)
            } else {
                None
            };
            let len = len.unwrap_or(1);
            if len == 1 {
                out.push('\'');
            } else {
                blank(&mut out, &rest[..len]);
            }
            i += len;
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    out
}

/// The length of a raw string literal (`r"..."`, `br#"..."#`) at the
/// start of `s`.
fn raw_string(s: &[char]) -> Option<usize> {
    let mut j = usize::from(s.first() == Some(&'b'));
    if s.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = s[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if s.get(j) != Some(&'"') {
        return None;
    }
    // `r` must not end an identifier (`bar"` is not a raw string)
    j += 1;
    while j < s.len() {
        if s[j] == '"'
            && s[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(s.len())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Punct(char),
    Path,
}

/// Tokens of stripped code with the line each is on.
fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let b: Vec<char> = code.chars().collect();
    let mut out = vec![];
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(b[start..i].iter().collect()), line));
        } else if c == ':' && b.get(i + 1) == Some(&':') {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

fn is_ident(t: Option<&(Tok, usize)>, name: &str) -> bool {
    matches!(t, Some((Tok::Ident(s), _)) if s == name)
}

/// Removes `#[cfg(test)] mod x;` and `#[cfg(test)] mod x { ... }` (and
/// any other `#[cfg(test)]` item with a body); returns the names of the
/// test modules declared by file.
fn drop_test_items(toks: &mut Vec<(Tok, usize)>) -> Vec<String> {
    let cfg_test = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    let mut test_mods = vec![];
    let mut i = 0;
    while i + cfg_test.len() <= toks.len() {
        if toks[i..i + cfg_test.len()]
            .iter()
            .map(|t| &t.0)
            .ne(cfg_test.iter())
        {
            i += 1;
            continue;
        }
        let mut j = i + cfg_test.len();
        if is_ident(toks.get(j), "mod") {
            if let Some((Tok::Ident(name), _)) = toks.get(j + 1) {
                test_mods.push(name.clone());
            }
        }
        // to the end of the item: `;` or its matching `}`
        let mut depth = 0;
        while j < toks.len() {
            match toks[j].0 {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                Tok::Punct(';') if depth == 0 => break,
                _ => {}
            }
            j += 1;
        }
        toks.drain(i..=j.min(toks.len() - 1));
    }
    test_mods
}

struct Tree {
    modules: BTreeSet<Module>,
}

impl Tree {
    fn child(&self, m: &Module, name: &str) -> Option<Module> {
        let mut c = m.clone();
        c.push(name.to_string());
        self.modules.contains(&c).then_some(c)
    }

    /// Follows `:: seg` from `at` in module `m`; records the modules the
    /// path reaches into `out`; returns the index after the path.
    fn walk(
        &self,
        toks: &[(Tok, usize)],
        mut i: usize,
        mut m: Module,
        out: &mut Vec<Module>,
    ) -> usize {
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
                Some((Tok::Punct('{'), _)) => {
                    // a use tree: each element from `m`
                    i += 2;
                    loop {
                        match toks.get(i) {
                            None => return i,
                            Some((Tok::Punct('}'), _)) => return i + 1,
                            Some((Tok::Punct(','), _)) => i += 1,
                            Some((Tok::Ident(s), _)) if s == "self" => {
                                out.push(m.clone());
                                i += 1;
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
                _ => {
                    out.push(m);
                    return i + 2;
                }
            }
        }
    }

    /// The modules `toks` (the non-test code of module `m`) refers to.
    fn references(&self, m: &Module, toks: &[(Tok, usize)]) -> BTreeSet<Module> {
        let mut out = vec![];
        let mut i = 0;
        while i < toks.len() {
            let prev_path = i > 0 && toks[i - 1].0 == Tok::Path;
            let next_path = toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Path);
            let in_use = i > 0 && is_ident(toks.get(i - 1), "use");
            match &toks[i].0 {
                Tok::Ident(s)
                    if !prev_path
                        && next_path
                        && s == "crate"
                        && is_ident(toks.get(i + 2), "conf") =>
                {
                    i = self.walk(toks, i + 3, vec![], &mut out);
                    continue;
                }
                Tok::Ident(s) if !prev_path && next_path && s == "super" => {
                    let mut up = m.clone();
                    up.pop();
                    i = self.walk(toks, i + 1, up, &mut out);
                    continue;
                }
                Tok::Ident(s) if !prev_path && next_path && s == "self" => {
                    i = self.walk(toks, i + 1, m.clone(), &mut out);
                    continue;
                }
                // `use child::...` and plain `child::item` paths
                Tok::Ident(s) if !prev_path && (next_path || in_use) => {
                    if let Some(c) = self.child(m, s) {
                        i = self.walk(toks, i + 1, c, &mut out);
                        continue;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        out.into_iter().filter(|t| t != m).collect()
    }
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "conf".to_string()
    } else {
        format!("conf::{}", m.join("::"))
    }
}

/// Functions longer than `max` lines: (lines, first line, name).
fn long_functions(toks: &[(Tok, usize)], max: usize) -> Vec<(usize, usize, String)> {
    let mut out = vec![];
    for (k, (t, line)) in toks.iter().enumerate() {
        if *t != Tok::Ident("fn".into()) {
            continue;
        }
        let Some((Tok::Ident(fname), _)) = toks.get(k + 1) else {
            continue;
        };
        let Some(open) = toks[k..]
            .iter()
            .position(|t| matches!(t.0, Tok::Punct('{') | Tok::Punct(';')))
            .map(|p| p + k)
        else {
            continue;
        };
        if toks[open].0 == Tok::Punct(';') {
            continue;
        }
        let mut depth = 0;
        for (t, end) in &toks[open..] {
            match t {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => {
                    depth -= 1;
                    if depth == 0 {
                        let len = end - line + 1;
                        if len > max {
                            out.push((len, *line, fname.clone()));
                        }
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn sources() -> (Vec<Source>, BTreeSet<Module>) {
    let dir = conf_dir();
    let mut files = vec![];
    rust_files(&dir, &mut files);
    let mut out = vec![];
    for path in files {
        let text = std::fs::read_to_string(&path).expect("source file");
        let rel = path.strip_prefix(&dir).expect("under conf/").to_path_buf();
        out.push(Source {
            module: module_of(&rel),
            lines: text.lines().count(),
            code: strip(&text),
            path: rel,
        });
    }
    let modules = out.iter().map(|s| s.module.clone()).collect();
    (out, modules)
}

/// A loop in `graph`, if any, as the modules along it.
fn find_loop(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    // 0 new, 1 on the stack, 2 done
    fn visit(
        m: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(m.clone(), 1);
        stack.push(m.clone());
        for n in graph.get(m).into_iter().flatten() {
            match state.get(n).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|x| x == n).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(n.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(n, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in graph.keys() {
        if state.get(m).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(m, graph, &mut state, &mut vec![]) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_import_graph_has_no_loop() {
    let (srcs, modules) = sources();
    let tree = Tree { modules };
    // test modules and everything below them
    let mut tests: BTreeSet<Module> = BTreeSet::new();
    let mut code: BTreeMap<Module, Vec<(Tok, usize)>> = BTreeMap::new();
    for s in &srcs {
        let mut toks = tokens(&s.code);
        for t in drop_test_items(&mut toks) {
            let mut m = s.module.clone();
            m.push(t);
            tests.insert(m);
        }
        code.insert(s.module.clone(), toks);
    }
    let is_test = |m: &Module| tests.iter().any(|t| m.starts_with(t));
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, toks) in &code {
        if is_test(m) {
            continue;
        }
        let refs = tree.references(m, toks);
        graph.insert(
            m.clone(),
            refs.into_iter().filter(|r| !is_test(r)).collect(),
        );
    }
    for (m, refs) in &graph {
        let list: Vec<String> = refs.iter().map(name).collect();
        println!("{} -> {}", name(m), list.join(", "));
    }
    if let Some(c) = find_loop(&graph) {
        let path: Vec<String> = c.iter().map(name).collect();
        panic!("import loop: {}", path.join(" -> "));
    }
    // the steps in order: nothing before a step uses it
    let order = ["source", "parser", "expand", "print"];
    for (a, step) in order.iter().enumerate() {
        for earlier in &order[..a] {
            let uses = graph
                .iter()
                .filter(|(m, _)| m.first().is_some_and(|f| f == earlier))
                .any(|(_, refs)| refs.iter().any(|r| r.first().is_some_and(|f| f == step)));
            assert!(!uses, "conf::{earlier} uses the later step conf::{step}");
        }
    }
}

#[test]
fn files_and_functions_are_short() {
    let (srcs, _) = sources();
    let mut problems = vec![];
    for s in &srcs {
        if s.lines > MAX_FILE_LINES {
            problems.push(format!("{}: {} lines", s.path.display(), s.lines));
        }
        for (len, line, f) in long_functions(&tokens(&s.code), MAX_FN_LINES) {
            problems.push(format!("{}:{line}: fn {f}: {len} lines", s.path.display()));
        }
    }
    let largest = srcs.iter().max_by_key(|s| s.lines);
    if let Some(s) = largest {
        println!("largest file: {} ({} lines)", s.path.display(), s.lines);
    }
    let mut fns: Vec<(usize, String)> = srcs
        .iter()
        .flat_map(|s| {
            long_functions(&tokens(&s.code), 0)
                .into_iter()
                .map(move |(len, line, f)| (len, format!("{}:{line} {f}", s.path.display())))
        })
        .collect();
    fns.sort();
    if let Some((len, f)) = fns.last() {
        println!("largest function: {f} ({len} lines)");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_what_it_checks() {
    // strings, comments and char literals are not code
    let code = strip("let s = \"fn a() {\"; // fn b() {\nlet c = '{'; fn d<'a>(x: &'a u8) {}\n");
    let toks = tokens(&code);
    assert_eq!(long_functions(&toks, 0).len(), 1);
    assert_eq!(strip("r#\"a\"b\"#x").trim(), "x");
    // paths into modules, through use trees and `super`
    let tree = Tree {
        modules: [
            vec![],
            vec!["a".to_string()],
            vec!["a".into(), "b".into()],
            vec!["c".into()],
        ]
        .into_iter()
        .collect(),
    };
    let m: Module = vec!["a".into(), "b".into()];
    let refs = tree.references(
        &m,
        &tokens("use super::super::{c, a::Item};\nuse super::X;"),
    );
    let want: BTreeSet<Module> = [vec!["c".to_string()], vec!["a".to_string()]]
        .into_iter()
        .collect();
    assert_eq!(refs, want);
    let mut toks = tokens(
        "fn f() {}\n#[cfg(test)]\nmod tests {\n use crate::conf::c;\n}\n#[cfg(test)]\nmod more;\n",
    );
    assert_eq!(drop_test_items(&mut toks), ["tests", "more"]);
    assert_eq!(tree.references(&vec![], &toks), BTreeSet::new());
}

//! The shape of the whole workspace (every member of the workspace
//! Cargo.toml, tests and examples included): no import loop between
//! sibling modules of any crate, no .rs file over 1,200 lines, no function
//! over 150, and conf's steps in pipeline order.
//! `cargo test -p layout -- --nocapture` prints every crate's graph.

use layout::graph::{find_loop, loops, references, siblings, Edges};
use layout::lex::{functions, tokens};
use layout::tree::Module;
use layout::workspace::{crates, root, Crate};
use layout::{MAX_FILE_LINES, MAX_FN_LINES};
use std::path::Path;

/// Modules whose children are steps run in this order: no step names a
/// later one. Checked in whichever crate has the module.
const PIPELINES: &[(&str, &[&str])] = &[("conf", &["source", "parser", "expand", "print"])];

fn workspace() -> Vec<Crate> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = root(here).expect("a workspace Cargo.toml above the layout crate");
    let crates = crates(&root).expect("the workspace's sources are readable");
    assert!(
        crates.len() > 1,
        "the workspace has crates besides this one"
    );
    crates
}

fn name(krate: &Crate, m: &[String]) -> String {
    [std::slice::from_ref(&krate.name), m].concat().join("::")
}

#[test]
fn no_file_is_too_long() {
    let mut problems = vec![];
    let mut files = 0;
    for f in workspace().iter().flat_map(|c| &c.files) {
        files += 1;
        if f.lines > MAX_FILE_LINES {
            problems.push(format!("{}: {} lines", f.path.display(), f.lines));
        }
    }
    println!("{files} files");
    assert!(
        problems.is_empty(),
        "files over {MAX_FILE_LINES} lines:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_function_is_too_long() {
    let mut problems = vec![];
    let mut longest = (0, String::new());
    for f in workspace().iter().flat_map(|c| &c.files) {
        for func in functions(&tokens(&f.code)) {
            let at = format!(
                "{}:{}: fn {}: {} lines",
                f.path.display(),
                func.line,
                func.name,
                func.lines
            );
            if func.lines > MAX_FN_LINES {
                problems.push(at.clone());
            }
            longest = longest.max((func.lines, at));
        }
    }
    println!("longest: {}", longest.1);
    assert!(
        problems.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        problems.join("\n")
    );
}

/// Prints the sibling graph of `krate`: one line per module that names a
/// sibling, `parent::module -> sibling, ...`.
fn print_graph(krate: &Crate, graph: &Edges) {
    println!("{} ({})", krate.name, krate.dir.display());
    for (m, targets) in graph {
        let names: Vec<&str> = targets
            .iter()
            .filter_map(|t| t.last().map(String::as_str))
            .collect();
        println!("  {} -> {}", m.join("::"), names.join(", "));
    }
}

#[test]
fn no_crate_has_an_import_loop() {
    let mut problems = vec![];
    for krate in &workspace() {
        let graph = siblings(&references(krate));
        print_graph(krate, &graph);
        for l in loops(&graph) {
            let ring: Vec<String> = l.iter().map(|m| name(krate, m)).collect();
            problems.push(ring.join(" -> "));
        }
    }
    assert!(
        problems.is_empty(),
        "import loops:\n{}",
        problems.join("\n")
    );
}

#[test]
fn pipelines_run_in_order() {
    for (module, steps) in PIPELINES {
        let module: Module = module.split("::").map(String::from).collect();
        let crates = workspace();
        let krate = crates
            .iter()
            .find(|c| c.files.iter().any(|f| f.module.as_ref() == Some(&module)))
            .unwrap_or_else(|| panic!("no crate has a module {}", module.join("::")));
        let refs = references(krate);
        let graph = siblings(&refs);
        let step = |s: &str| [module.clone(), vec![s.to_string()]].concat();
        for (i, earlier) in steps.iter().enumerate() {
            let exists = krate.files.iter().any(|f| {
                f.module
                    .as_ref()
                    .is_some_and(|m| m.starts_with(&step(earlier)))
            });
            assert!(exists, "{} has no step {earlier}", name(krate, &module));
            for later in &steps[i + 1..] {
                let uses = graph
                    .get(&step(earlier))
                    .is_some_and(|t| t.contains(&step(later)));
                assert!(
                    !uses,
                    "{} uses the later step {}",
                    name(krate, &step(earlier)),
                    name(krate, &step(later))
                );
            }
        }
        // and no loop inside it at all, not even through its mod.rs
        let inside: Edges = refs
            .iter()
            .filter(|(m, _)| m.starts_with(&module))
            .map(|(m, t)| {
                (
                    m.clone(),
                    t.iter()
                        .filter(|t| t.starts_with(&module))
                        .cloned()
                        .collect(),
                )
            })
            .collect();
        if let Some(l) = find_loop(&inside) {
            let ring: Vec<String> = l.iter().map(|m| name(krate, m)).collect();
            panic!(
                "import loop inside {}: {}",
                name(krate, &module),
                ring.join(" -> ")
            );
        }
    }
}

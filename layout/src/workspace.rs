//! The workspace as sources: its crates (the `members` of the workspace
//! Cargo.toml, `dir/*` globs expanded), and every .rs file of each, read,
//! stripped and placed in the crate's module tree.

use crate::lex::strip;
use crate::tree::Module;
use std::io;
use std::path::{Path, PathBuf};

/// One package of the workspace.
pub struct Crate {
    /// The package name (`libpf`, `pfctl`).
    pub name: String,
    /// Its directory, relative to the workspace root.
    pub dir: PathBuf,
    pub files: Vec<File>,
}

/// One .rs file of a package.
pub struct File {
    /// Relative to the workspace root.
    pub path: PathBuf,
    /// Its place in the library's or binary's module tree (`src/lib.rs`
    /// and `src/main.rs` are the root); `None` outside it (tests/,
    /// examples/, src/bin/, build.rs).
    pub module: Option<Module>,
    pub lines: usize,
    /// The text with comments and literals blanked.
    pub code: String,
}

/// The nearest directory at or above `start` whose Cargo.toml has a
/// `[workspace]` section.
pub fn root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| section(&read(&d.join("Cargo.toml")), "workspace").is_some())
        .map(Path::to_path_buf)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The lines of TOML section `[name]`, up to the next section header.
fn section(toml: &str, name: &str) -> Option<String> {
    let header = format!("[{name}]");
    let mut lines = toml.lines().skip_while(|l| l.trim() != header);
    lines.next()?;
    Some(
        lines
            .take_while(|l| !l.trim_start().starts_with('['))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// The quoted strings of array `key = [...]` in a TOML section.
fn string_array(section: &str, key: &str) -> Vec<String> {
    let Some(start) = section
        .lines()
        .position(|l| l.split('=').next().is_some_and(|k| k.trim() == key))
    else {
        return vec![];
    };
    let text: String = section.lines().skip(start).collect::<Vec<_>>().join("\n");
    let text = &text[text.find('[').map_or(text.len(), |p| p + 1)..];
    let text = &text[..text.find(']').unwrap_or(text.len())];
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

/// The member directories of the workspace at `root`, relative to it.
pub fn members(root: &Path) -> Vec<PathBuf> {
    let workspace = section(&read(&root.join("Cargo.toml")), "workspace").unwrap_or_default();
    let exclude: Vec<PathBuf> = string_array(&workspace, "exclude")
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let mut out = vec![];
    for m in string_array(&workspace, "members") {
        match m.strip_suffix("/*") {
            Some(parent) => {
                let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join(parent))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| e.path().join("Cargo.toml").is_file())
                    .map(|e| Path::new(parent).join(e.file_name()))
                    .filter(|d| !exclude.contains(d))
                    .collect();
                dirs.sort();
                out.extend(dirs);
            }
            None => out.push(PathBuf::from(m)),
        }
    }
    out
}

/// The crate in directory `dir` (relative to `root`).
pub fn load(root: &Path, dir: &Path) -> io::Result<Crate> {
    let manifest = read(&root.join(dir).join("Cargo.toml"));
    let name = section(&manifest, "package")
        .and_then(|p| {
            p.lines()
                .find(|l| l.split('=').next().is_some_and(|k| k.trim() == "name"))
                .and_then(|l| l.split('"').nth(1).map(String::from))
        })
        .unwrap_or_else(|| dir.display().to_string());
    let mut paths = vec![];
    rust_files(&root.join(dir), true, &mut paths)?;
    let mut files = vec![];
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        let path = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let in_crate = path.strip_prefix(dir).unwrap_or(&path);
        files.push(File {
            module: in_crate.strip_prefix("src").ok().and_then(module_of),
            lines: text.lines().count(),
            code: strip(&text),
            path,
        });
    }
    Ok(Crate {
        name,
        dir: dir.to_path_buf(),
        files,
    })
}

/// Every crate of the workspace at `root`.
pub fn crates(root: &Path) -> io::Result<Vec<Crate>> {
    members(root).iter().map(|d| load(root, d)).collect()
}

/// The .rs files under `dir`, sorted, leaving out `target/`, hidden
/// directories and packages of their own (a directory with a Cargo.toml
/// below the top one).
fn rust_files(dir: &Path, top: bool, out: &mut Vec<PathBuf>) -> io::Result<()> {
    if !top && dir.join("Cargo.toml").exists() {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&p, false, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
    Ok(())
}

/// The module of a file at `rel` below src/.
fn module_of(rel: &Path) -> Option<Module> {
    let mut m: Module = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if m.first().is_some_and(|f| f == "bin") {
        return None;
    }
    if m.len() == 1 && (m[0] == "lib" || m[0] == "main") || m.last().is_some_and(|l| l == "mod") {
        m.pop();
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_names_come_from_the_manifests() {
        let toml = "[package]\nname = \"x\"\n[workspace]\nresolver = \"2\"\nmembers = [\"a\",\n  \"b/c\", # comment\n]\nexclude = [\"fuzz\"]\n[workspace.package]\nversion = \"1\"\n";
        let ws = section(toml, "workspace").unwrap_or_default();
        assert_eq!(string_array(&ws, "members"), ["a", "b/c"]);
        assert_eq!(string_array(&ws, "exclude"), ["fuzz"]);
        assert_eq!(string_array(&ws, "version"), Vec::<String>::new());
    }

    #[test]
    fn files_have_their_module() {
        let m = |p: &str| module_of(Path::new(p)).map(|m| m.join("::"));
        assert_eq!(m("lib.rs").as_deref(), Some(""));
        assert_eq!(m("main.rs").as_deref(), Some(""));
        assert_eq!(m("engine/mod.rs").as_deref(), Some("engine"));
        assert_eq!(
            m("engine/state/lifecycle.rs").as_deref(),
            Some("engine::state::lifecycle")
        );
        assert_eq!(m("conf/lib.rs").as_deref(), Some("conf::lib"));
        assert_eq!(m("bin/tool.rs"), None);
    }
}

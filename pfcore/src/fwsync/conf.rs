//! fwsync.conf: the peer to push to, how to reach it, the files and
//! directories to sync and what differs on the peer. One statement a
//! line, `#` comments, words or "quoted strings" (`\"` and `\\` inside):
//!
//! ```text
//! peer root@fw2                    # the ssh destination (required)
//! ssh "ssh -i /etc/fwsync.key"     # the ssh command (default: ssh)
//! remote "/usr/sbin/fwsync"        # fwsync on the peer (default: fwsync)
//! ruleset /etc/pf.conf             # checked and loaded (the default)
//! replace "192.0.2.2" "192.0.2.3"  # in every synced file
//! advskew 128                      # in every hostname.carp* file
//! sync "/etc/hostname.*"           # files, globs, directories/
//! sync /etc/ntpd.conf {
//!     replace "listen on 192.0.2.2" "listen on 192.0.2.3"
//!     run "rcctl restart ntpd"     # on the peer, once it changed
//! }
//! ```
//!
//! Without a `sync` line, /etc/pf.conf and /etc/hostname.* are synced;
//! the ruleset is synced in any case.

use std::fmt;

/// The files synced when the configuration names none.
pub const DEFAULT_SYNC: &[&str] = &["/etc/pf.conf", "/etc/hostname.*"];
/// The ruleset when the configuration names none.
pub const DEFAULT_RULESET: &str = "/etc/pf.conf";

/// What differs on the peer: for every synced file (top level) or for
/// the files of one `sync` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edits {
    /// Literal substitutions, every occurrence, in order.
    pub replace: Vec<(String, String)>,
    /// The advskew of the CARP lines of hostname.carp* files.
    pub advskew: Option<u8>,
    /// Shell commands run on the peer after the files changed.
    pub run: Vec<String>,
}

impl Edits {
    fn is_empty(&self) -> bool {
        self.replace.is_empty() && self.advskew.is_none() && self.run.is_empty()
    }
}

/// One `sync` line: a file, a glob (`*` and `?` in the last component)
/// or a directory (every file under it), and its own edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sync {
    pub pattern: String,
    pub line: u32,
    pub edits: Edits,
}

/// A parsed fwsync.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub peer: String,
    /// The ssh command and its options, as words.
    pub ssh: Vec<String>,
    /// The command run through ssh on the peer (`-r` is appended).
    pub remote: String,
    pub ruleset: String,
    pub syncs: Vec<Sync>,
    pub global: Edits,
}

/// `file:line: message` (`file: message` for the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: u32,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file, self.message),
            n => write!(f, "{}:{}: {}", self.file, n, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
}

/// A line's number and its tokens.
type Line = (u32, Vec<Tok>);

/// The tokens of each line, comments dropped; an error's line and message.
fn lex(text: &str) -> Result<Vec<Line>, (u32, String)> {
    let mut lines = vec![];
    for (i, raw) in text.lines().enumerate() {
        let n = i as u32 + 1;
        let mut toks = vec![];
        let mut chars = raw.chars().peekable();
        while let Some(&c) = chars.peek() {
            match c {
                '#' => break,
                c if c.is_whitespace() => {
                    chars.next();
                }
                '{' | '}' => {
                    chars.next();
                    toks.push(if c == '{' { Tok::Open } else { Tok::Close });
                }
                '"' => {
                    chars.next();
                    let mut s = String::new();
                    loop {
                        match chars.next() {
                            None => return Err((n, "unterminated quoted string".into())),
                            Some('"') => break,
                            Some('\\') => match chars.next() {
                                Some(e @ ('"' | '\\')) => s.push(e),
                                Some(e) => {
                                    s.push('\\');
                                    s.push(e);
                                }
                                None => return Err((n, "unterminated quoted string".into())),
                            },
                            Some(c) => s.push(c),
                        }
                    }
                    toks.push(Tok::Word(s));
                }
                _ => {
                    let mut s = String::new();
                    while let Some(&c) = chars.peek() {
                        if c.is_whitespace() || matches!(c, '{' | '}' | '"' | '#') {
                            break;
                        }
                        s.push(c);
                        chars.next();
                    }
                    toks.push(Tok::Word(s));
                }
            }
        }
        if !toks.is_empty() {
            lines.push((n, toks));
        }
    }
    Ok(lines)
}

/// Parses fwsync.conf text; `file` names it in messages. Every error is
/// reported, not just the first.
pub fn parse(text: &str, file: &str) -> Result<Config, Vec<ConfigError>> {
    let err = |line: u32, message: String| ConfigError {
        file: file.to_string(),
        line,
        message,
    };
    let lines = lex(text).map_err(|(l, m)| vec![err(l, m)])?;
    let mut p = Parsed::default();
    let mut errors = vec![];
    let mut block: Option<Sync> = None;
    for (n, toks) in lines {
        if let Err(m) = p.line(n, &toks, &mut block) {
            errors.push(err(n, m));
        }
    }
    if let Some(s) = block {
        errors.push(err(s.line, format!("sync {}: no closing brace", s.pattern)));
    }
    let Some(peer) = p.peer else {
        if errors.is_empty() {
            errors.push(err(0, "no peer given".into()));
        }
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let ruleset = p.ruleset.unwrap_or_else(|| DEFAULT_RULESET.to_string());
    if p.syncs.is_empty() {
        for d in DEFAULT_SYNC {
            p.syncs.push(Sync {
                pattern: d.to_string(),
                line: 0,
                edits: Edits::default(),
            });
        }
    }
    if !p.syncs.iter().any(|s| s.pattern == ruleset) {
        p.syncs.insert(
            0,
            Sync {
                pattern: ruleset.clone(),
                line: 0,
                edits: Edits::default(),
            },
        );
    }
    Ok(Config {
        peer,
        ssh: p.ssh.unwrap_or_else(|| vec!["ssh".to_string()]),
        remote: p.remote.unwrap_or_else(|| "fwsync".to_string()),
        ruleset,
        syncs: p.syncs,
        global: p.global,
    })
}

#[derive(Default)]
struct Parsed {
    peer: Option<String>,
    ssh: Option<Vec<String>>,
    remote: Option<String>,
    ruleset: Option<String>,
    syncs: Vec<Sync>,
    global: Edits,
}

fn words(toks: &[Tok]) -> Result<Vec<&str>, String> {
    toks.iter()
        .map(|t| match t {
            Tok::Word(w) => Ok(w.as_str()),
            _ => Err("unexpected brace".to_string()),
        })
        .collect()
}

fn one<'a>(kw: &str, args: &[&'a str]) -> Result<&'a str, String> {
    match args {
        [a] if !a.is_empty() => Ok(a),
        _ => Err(format!("{kw} takes one argument")),
    }
}

fn absolute(kw: &str, p: &str) -> Result<String, String> {
    if !p.starts_with('/') {
        return Err(format!("{kw} {p}: not an absolute path"));
    }
    if p.split('/').any(|c| c == "..") {
        return Err(format!("{kw} {p}: .. in the path"));
    }
    Ok(p.to_string())
}

impl Parsed {
    fn line(&mut self, n: u32, toks: &[Tok], block: &mut Option<Sync>) -> Result<(), String> {
        if let Some(s) = block.as_mut() {
            return match toks {
                [Tok::Close] => {
                    self.syncs.extend(block.take());
                    Ok(())
                }
                _ => edit(&mut s.edits, &words(toks)?),
            };
        }
        let (opens, toks) = match toks {
            [rest @ .., Tok::Open] => (true, rest),
            _ => (false, toks),
        };
        let w = words(toks)?;
        let (kw, args) = w.split_first().ok_or("expected a statement")?;
        if opens && *kw != "sync" {
            return Err(format!("{kw}: a block follows only sync"));
        }
        let once = |set: bool| {
            if set {
                Err(format!("{kw} given twice"))
            } else {
                Ok(())
            }
        };
        match *kw {
            "peer" => {
                once(self.peer.is_some())?;
                let p = one(kw, args)?;
                if p.starts_with('-') {
                    return Err(format!("peer {p}: begins with -"));
                }
                self.peer = Some(p.to_string());
            }
            "ssh" => {
                once(self.ssh.is_some())?;
                let argv: Vec<String> = one(kw, args)?
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                if argv.is_empty() {
                    return Err("ssh: empty command".into());
                }
                self.ssh = Some(argv);
            }
            "remote" => {
                once(self.remote.is_some())?;
                self.remote = Some(one(kw, args)?.to_string());
            }
            "ruleset" => {
                once(self.ruleset.is_some())?;
                self.ruleset = Some(absolute(kw, one(kw, args)?)?);
            }
            "sync" => {
                let s = Sync {
                    pattern: absolute(kw, one(kw, args)?)?,
                    line: n,
                    edits: Edits::default(),
                };
                if opens {
                    *block = Some(s);
                } else {
                    self.syncs.push(s);
                }
            }
            _ => edit(&mut self.global, &w)?,
        }
        Ok(())
    }
}

/// `replace OLD NEW`, `advskew N`, `run CMD`.
fn edit(e: &mut Edits, w: &[&str]) -> Result<(), String> {
    match w {
        ["replace", old, new] => {
            if old.is_empty() {
                return Err("replace: empty string to replace".into());
            }
            e.replace.push((old.to_string(), new.to_string()));
        }
        ["replace", ..] => return Err("replace takes two strings: replace OLD NEW".into()),
        ["advskew", n] => {
            let v: u8 = n
                .parse()
                .ok()
                .filter(|v| *v < 255)
                .ok_or_else(|| format!("advskew {n}: not a number from 0 to 254"))?;
            if e.advskew.replace(v).is_some() {
                return Err("advskew given twice".into());
            }
        }
        ["advskew", ..] => return Err("advskew takes one number".into()),
        ["run", cmd] if !cmd.is_empty() => e.run.push(cmd.to_string()),
        ["run", ..] => return Err("run takes one command (quote it)".into()),
        [kw, ..] => return Err(format!("unknown keyword {kw}")),
        [] => return Err("expected a statement".into()),
    }
    Ok(())
}

impl Config {
    /// The edits for `path`: the top level's, then those of every `sync`
    /// line naming it, in order.
    pub fn edits_for(&self, path: &str) -> Edits {
        let mut e = self.global.clone();
        for s in self.syncs.iter().filter(|s| covers(&s.pattern, path)) {
            if s.edits.is_empty() {
                continue;
            }
            e.replace.extend(s.edits.replace.iter().cloned());
            if s.edits.advskew.is_some() {
                e.advskew = s.edits.advskew;
            }
            e.run.extend(s.edits.run.iter().cloned());
        }
        e
    }
}

/// Whether the `sync` pattern names `path`: the same path, a glob
/// matching it, or a directory (with or without its trailing /) above it.
pub fn covers(pattern: &str, path: &str) -> bool {
    let dir = pattern.trim_end_matches('/');
    if glob(pattern, path) {
        return true;
    }
    !dir.is_empty()
        && path.len() > dir.len()
        && path.starts_with(dir)
        && path.as_bytes()[dir.len()] == b'/'
}

/// Shell-style match: `*` any run and `?` any one character, neither
/// crossing a `/`.
pub fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != b'/')
                .any(|i| go(rest, &n[i..])),
            Some((b'?', rest)) => {
                matches!(n.split_first(), Some((c, nr)) if *c != b'/' && go(rest, nr))
            }
            Some((c, rest)) => matches!(n.split_first(), Some((d, nr)) if d == c && go(rest, nr)),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Whether a pattern has glob characters.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

#[cfg(test)]
mod tests;

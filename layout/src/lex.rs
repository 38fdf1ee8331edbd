//! Rust source as the checker sees it: the text with comments and literals
//! blanked, cut into tokens (identifiers, `::`, single punctuation) with
//! their line numbers; test items cut out; the length of every function.

/// Blanks comments, string literals and char literals (newlines kept, so
/// lines still count).
pub fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let after_ident = i > 0 && is_ident_char(b[i - 1]);
        let len = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|&c| c == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            block_comment(rest)
        } else if let Some(len) = raw_string(rest).filter(|_| !after_ident) {
            len
        } else if rest[0] == '"' || (rest.starts_with(&['b', '"']) && !after_ident) {
            string(rest)
        } else if rest[0] == '\'' {
            char_literal(rest).unwrap_or(0)
        } else {
            0
        };
        if len == 0 {
            out.push(rest[0]);
            i += 1;
        } else {
            out.extend(
                rest[..len]
                    .iter()
                    .map(|&c| if c == '\n' { '\n' } else { ' ' }),
            );
            i += len;
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The length of the (nested) block comment at the start of `s`.
fn block_comment(s: &[char]) -> usize {
    let (mut depth, mut j) = (0, 0);
    while j < s.len() {
        if s[j..].starts_with(&['/', '*']) {
            depth += 1;
            j += 2;
        } else if s[j..].starts_with(&['*', '/']) {
            depth -= 1;
            j += 2;
            if depth == 0 {
                break;
            }
        } else {
            j += 1;
        }
    }
    j.min(s.len())
}

/// The length of the string literal (`"..."`, `b"..."`) at the start of `s`.
fn string(s: &[char]) -> usize {
    let mut j = if s[0] == 'b' { 2 } else { 1 };
    while j < s.len() && s[j] != '"' {
        j += if s[j] == '\\' { 2 } else { 1 };
    }
    (j + 1).min(s.len())
}

/// The length of the char literal at the start of `s`; `None` for a
/// lifetime (`'a`).
fn char_literal(s: &[char]) -> Option<usize> {
    if s.get(1) == Some(&'\\') {
        // the escaped char, then up to the closing quote (`'\u{..}'`)
        s.get(3..)?.iter().position(|&c| c == '\'').map(|p| p + 4)
    } else if s.get(2) == Some(&'\'') {
        Some(3)
    } else {
        None
    }
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
pub enum Tok {
    Ident(String),
    Punct(char),
    /// `::`
    Path,
}

/// A token and the line it is on.
pub type Token = (Tok, usize);

/// Tokens of stripped code.
pub fn tokens(code: &str) -> Vec<Token> {
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
        } else if is_ident_char(c) {
            let start = i;
            while i < b.len() && is_ident_char(b[i]) {
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

pub fn is_ident(t: Option<&Token>, name: &str) -> bool {
    matches!(t, Some((Tok::Ident(s), _)) if s == name)
}

/// Removes every `#[cfg(test)]` item (`mod x;`, `mod x { ... }`, a test
/// helper `fn`, a `use`); returns the names of the test modules among them.
pub fn drop_test_items(toks: &mut Vec<Token>) -> Vec<String> {
    let cfg_test: Vec<Tok> = tokens("#[cfg(test)]").into_iter().map(|t| t.0).collect();
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
        let start = i + cfg_test.len();
        if let Some(name) = module_name(&toks[start..]) {
            test_mods.push(name);
        }
        let end = start + item_len(&toks[start..]);
        toks.drain(i..end);
    }
    test_mods
}

/// The name of the module `toks` declares, after its other attributes
/// and its visibility.
fn module_name(toks: &[Token]) -> Option<String> {
    let mut j = 0;
    loop {
        match toks.get(j).map(|t| &t.0) {
            Some(Tok::Punct('#')) => j += 1 + balanced_len(&toks[j + 1..]),
            Some(Tok::Ident(s)) if s == "pub" => {
                j += 1;
                if toks.get(j).map(|t| &t.0) == Some(&Tok::Punct('(')) {
                    j += balanced_len(&toks[j..]);
                }
            }
            Some(Tok::Ident(s)) if s == "mod" => {
                return match toks.get(j + 1) {
                    Some((Tok::Ident(name), _)) => Some(name.clone()),
                    _ => None,
                }
            }
            _ => return None,
        }
    }
}

/// The length of the bracketed group at the start of `toks`.
fn balanced_len(toks: &[Token]) -> usize {
    let mut depth = 0i32;
    for (j, (t, _)) in toks.iter().enumerate() {
        match t {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => depth -= 1,
            _ => {}
        }
        if depth <= 0 {
            return j + 1;
        }
    }
    toks.len()
}

/// The length of the item (or field, or statement) at the start of `toks`:
/// to its `;` or `,`, or the `}` closing its body, or just before the
/// bracket closing what it is in.
fn item_len(toks: &[Token]) -> usize {
    let mut depth = 0i32;
    for (j, (t, _)) in toks.iter().enumerate() {
        match t {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']') if depth == 0 => return j,
            Tok::Punct(')' | ']') => depth -= 1,
            Tok::Punct('}') if depth == 0 => return j,
            Tok::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            Tok::Punct(';' | ',') if depth == 0 => return j + 1,
            _ => {}
        }
    }
    toks.len()
}

/// A function with a body: its name, first line and length in lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    pub line: usize,
    pub lines: usize,
}

/// Every function with a body in `toks`, nested ones too (and counted in
/// the function around them).
pub fn functions(toks: &[Token]) -> Vec<Function> {
    let mut out = vec![];
    for (k, (t, line)) in toks.iter().enumerate() {
        if !matches!(t, Tok::Ident(s) if s == "fn") {
            continue;
        }
        let Some((Tok::Ident(name), _)) = toks.get(k + 1) else {
            continue;
        };
        // the body's `{`, or the `;` of a declaration (not one in `[u8; 2]`)
        let mut depth = 0i32;
        let Some(open) = toks[k..].iter().position(|t| {
            match t.0 {
                Tok::Punct('(' | '[') => depth += 1,
                Tok::Punct(')' | ']') => depth -= 1,
                _ => {}
            }
            depth == 0 && matches!(t.0, Tok::Punct('{' | ';'))
        }) else {
            continue;
        };
        if toks[k + open].0 == Tok::Punct(';') {
            continue;
        }
        let body = &toks[k + open..];
        let end = body[balanced_len(body) - 1].1;
        out.push(Function {
            name: name.clone(),
            line: *line,
            lines: end - line + 1,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_comments_and_chars_are_not_code() {
        let code =
            strip("let s = \"fn a() {\"; // fn b() {\nlet c = '{'; fn d<'a>(x: &'a u8) {}\n");
        let fns = functions(&tokens(&code));
        assert_eq!(
            fns,
            [Function {
                name: "d".into(),
                line: 2,
                lines: 1
            }]
        );
        assert_eq!(strip("r#\"a\"b\"#x").trim(), "x");
        assert_eq!(
            strip("'\\'' x '\\u{7b}' y b'{' /* /* } */ */ z")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["x", "y", "b", "z"]
        );
        // `r` ending an identifier does not open a raw string
        assert_eq!(
            strip("bar\"{\" x").split_whitespace().collect::<Vec<_>>(),
            ["bar", "x"]
        );
    }

    #[test]
    fn functions_are_measured_to_their_closing_brace() {
        let toks = tokens("fn a() {\n fn b() -> [u8; 2] {\n [0; 2]\n }\n}\ntrait T { fn c(); }");
        let fns = functions(&toks);
        let got: Vec<(&str, usize, usize)> =
            fns.iter().map(|f| (&f.name[..], f.line, f.lines)).collect();
        assert_eq!(got, [("a", 1, 5), ("b", 2, 3)]);
    }

    #[test]
    fn test_items_are_cut_out() {
        let mut toks = tokens(
            "fn f() {}\n#[cfg(test)]\nmod tests {\n use crate::c;\n}\n#[cfg(test)]\n#[path = \"x.rs\"]\npub(crate) mod more;\n\
             struct S { #[cfg(test)] a: Vec<(u8, u8)>, b: u8 }\nfn g() { #[cfg(test)] h(); }\n#[cfg(test)]\nfn helper() {}\n",
        );
        assert_eq!(drop_test_items(&mut toks), ["tests", "more"]);
        let left: Vec<String> = toks
            .iter()
            .map(|t| match &t.0 {
                Tok::Ident(s) => s.clone(),
                Tok::Punct(c) => c.to_string(),
                Tok::Path => "::".into(),
            })
            .collect();
        assert_eq!(left.concat(), "fnf(){}structS{b:u8}fng(){}");
    }
}

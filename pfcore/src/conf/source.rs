//! The lexical layer under the grammar: splits a pf.conf text into
//! statements the way pfctl's lexer sees them, one logical line at a time.
//!
//! - `#` starts a comment that runs to the end of the line (a `\` before the
//!   newline continues the comment, as in pfctl);
//! - a `\` before a newline joins the two lines (nothing is inserted); a `\`
//!   before any other character outside quotes is dropped and that
//!   character read as if written alone (`\\` is a backslash);
//! - a newline ends the statement unless it is inside `{ }` (so an inline
//!   anchor arrives whole, body included; `anchor.rs` cuts the body into
//!   statements of its own);
//! - a newline inside quotes is dropped;
//! - `$name` where a token starts (outside quotes, not inside a word) is
//!   replaced by the macro's value, textually, so the value is lexed again in
//!   place (a `$` inside the value is not expanded again), exactly like
//!   pfctl's lexer pushes the value back into its input;
//! - the lexer's own errors (an undefined macro, a string too long, a NUL or
//!   the end of the file in a quoted string) end the statement there
//!   (`Statement::lex_error`); `lex` cuts a statement into pfctl's tokens
//!   and finds the others (numbers out of range, words too long). What the
//!   parser makes of them (a syntax error, the next line dropped) is
//!   `mod.rs`'s business.
//!
//! Every statement keeps a map from byte offsets to source lines so that the
//! parser can report a syntax error on the line where it happened.

use super::error::ConfError;
use std::collections::HashMap;

/// Byte offset → source line for one statement's text.
#[derive(Debug, Clone, Default)]
pub struct LineMap {
    /// (offset where a line starts, line number), increasing.
    marks: Vec<(usize, u32)>,
}

impl LineMap {
    fn mark(&mut self, offset: usize, line: u32) {
        match self.marks.last_mut() {
            Some(last) if last.0 == offset => last.1 = line,
            _ => self.marks.push((offset, line)),
        }
    }

    /// The map of the statement's text from `start` to `end` (offsets
    /// relative to `start`): for a part of a statement cut out of it, like
    /// a rule in an inline anchor's body.
    pub fn slice(&self, start: usize, end: usize) -> LineMap {
        let mut m = LineMap::default();
        m.mark(0, self.line_at(start));
        let from = self.marks.partition_point(|&(off, _)| off <= start);
        let to = self.marks.partition_point(|&(off, _)| off <= end);
        for &(off, line) in &self.marks[from..to.max(from)] {
            m.mark(off - start, line);
        }
        m
    }

    /// Line of the character at `offset` (the last line for offsets past the
    /// end).
    pub fn line_at(&self, offset: usize) -> u32 {
        match self.marks.partition_point(|&(off, _)| off <= offset) {
            0 => self.marks.first().map(|m| m.1).unwrap_or(1),
            i => self.marks[i - 1].1,
        }
    }
}

/// One logical statement, macros expanded.
#[derive(Debug, Clone)]
pub struct Statement {
    pub text: String,
    pub lines: LineMap,
    /// Line of the newline (or end of file) that ends the statement: what
    /// pfctl reports for semantic errors.
    pub end_line: u32,
    /// An error of pfctl's lexer that cut the statement short: `text` is
    /// what came before the bad token.
    pub lex_error: Option<LexError>,
}

/// An error of pfctl's lexer (`yylex`): reported where the bad token
/// starts; the lexer then skips to the end of the line (`findeol`) and the
/// parser, handed an error token, reports a syntax error in turn and
/// drops the tokens of the following line while it recovers (the newline
/// it waits for was eaten by `findeol`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub line: u32,
    pub msg: String,
    /// The line whose tokens the parser's recovery drops (None at the end
    /// of the input).
    pub eats_line: Option<u32>,
}

/// Macro table: name → value.
pub type Macros = HashMap<String, String>;

/// The longest quoted string and macro name pfctl's lexer takes (its
/// buffer is 8096 bytes; one more byte is refused with "string too long").
pub const MAX_QUOTED: usize = 8094;
/// The longest unquoted word or number.
pub const MAX_WORD: usize = 8095;

/// pfctl's `allowed_in_string`: what continues an unquoted word.
pub fn allowed_in_string(c: u8) -> bool {
    c.is_ascii_alphanumeric() || (c.is_ascii_punctuation() && !b"(){}<>!=/#,".contains(&c))
}

/// pfctl's `allowed_to_end_number`.
fn allowed_to_end_number(c: u8) -> bool {
    c.is_ascii_whitespace() || b"),/}=".contains(&c)
}

/// Cuts a source text into statements; call `next_statement` with the
/// macros defined so far (definitions take effect for the following
/// statements only).
pub struct Splitter<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
}

/// A lexer error found inside a token: where, what, and whether pfctl's
/// `findeol` drops the rest of the line.
struct LexFail {
    line: u32,
    msg: String,
    skip: bool,
}

impl<'a> Splitter<'a> {
    /// `_file` names the source for messages (they are located by the
    /// statement processing, which knows it).
    pub fn new(src: &'a str, _file: &str) -> Splitter<'a> {
        Splitter {
            src: src.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    /// pfctl's `findeol`: skips to the end of the current line, honouring
    /// `\` continuations; the line after it, if any, is returned.
    fn skip_to_eol(&mut self) -> Option<u32> {
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == b'\\' && self.peek() == Some(b'\n') {
                self.pos += 1;
                self.line += 1;
                continue;
            }
            if c == b'\n' {
                self.line += 1;
                return (self.pos < self.src.len()).then_some(self.line);
            }
        }
        None
    }

    /// A statement cut short by a lexer error at `line`.
    fn lex_error(
        &mut self,
        text: Vec<u8>,
        lines: LineMap,
        line: u32,
        msg: impl Into<String>,
        skip: bool,
    ) -> Statement {
        let eats_line = if skip { self.skip_to_eol() } else { None };
        let mut st = self.finish(text, lines, line);
        st.lex_error = Some(LexError {
            line,
            msg: msg.into(),
            eats_line,
        });
        st
    }

    /// The next non-empty statement, `None` at end of input. A lexer error
    /// ends the statement (see `Statement::lex_error`); `Err` is not used.
    pub fn next_statement(&mut self, macros: &Macros) -> Option<Result<Statement, ConfError>> {
        let mut text: Vec<u8> = Vec::new();
        let mut lines = LineMap::default();
        let mut depth: u32 = 0;
        // Inside an unquoted word: a `$` there is a plain character (pfctl
        // expands macros only where a token starts).
        let mut in_word = false;
        loop {
            let Some(c) = self.peek() else {
                // End of input ends the statement.
                if text.iter().all(|b| b.is_ascii_whitespace()) {
                    return None;
                }
                return Some(Ok(self.finish(text, lines, self.line)));
            };
            if text.is_empty() {
                lines.mark(0, self.line);
            }
            match c {
                b'\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'\n') => {
                            self.pos += 1;
                            self.line += 1;
                            lines.mark(text.len(), self.line);
                        }
                        // lgetc: `\\` is a backslash; `\x` is x, read
                        // as if it had been written alone (`\$m` expands)
                        Some(b'\\') => {
                            self.pos += 1;
                            in_word = word_step(in_word, b'\\');
                            text.push(b'\\');
                        }
                        _ => {}
                    }
                }
                b'#' => {
                    self.comment();
                    in_word = false;
                }
                b'\n' => {
                    self.pos += 1;
                    let l = self.line;
                    self.line += 1;
                    in_word = false;
                    if depth > 0 {
                        text.push(b'\n');
                        lines.mark(text.len(), self.line);
                    } else if text.iter().all(|b| b.is_ascii_whitespace()) {
                        text.clear();
                        lines = LineMap::default();
                    } else {
                        return Some(Ok(self.finish(text, lines, l)));
                    }
                }
                b'"' | b'\'' if !in_word => {
                    if let Some(f) = self.quoted(c, &mut text, &mut lines) {
                        return Some(Ok(self.lex_error(text, lines, f.line, f.msg, f.skip)));
                    }
                    in_word = false;
                }
                b'$' if !in_word => {
                    if let Some(f) = self.macro_ref(macros, &mut text, &mut in_word) {
                        return Some(Ok(self.lex_error(text, lines, f.line, f.msg, f.skip)));
                    }
                }
                b'{' => {
                    self.pos += 1;
                    depth += 1;
                    in_word = false;
                    text.push(c);
                }
                b'}' => {
                    self.pos += 1;
                    depth = depth.saturating_sub(1);
                    in_word = false;
                    text.push(c);
                }
                _ => {
                    self.pos += 1;
                    in_word = word_step(in_word, c);
                    text.push(c);
                }
            }
        }
    }

    /// A comment: to the end of the line; `\` + newline continues it.
    fn comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'\n' {
                break;
            }
            self.pos += 1;
            if c == b'\\' && self.peek() == Some(b'\n') {
                self.pos += 1;
                self.line += 1;
            }
        }
    }

    /// A quoted string opened by `q` (at the current position), copied to
    /// `text` with its quotes; a lexer error drops it from `text`.
    fn quoted(&mut self, q: u8, text: &mut Vec<u8>, lines: &mut LineMap) -> Option<LexFail> {
        let start_line = self.line;
        let start_len = text.len();
        let fail = |text: &mut Vec<u8>, msg: &str, skip: bool| {
            text.truncate(start_len);
            Some(LexFail {
                line: start_line,
                msg: msg.to_string(),
                skip,
            })
        };
        let mut content = 0usize;
        self.pos += 1;
        text.push(q);
        loop {
            let Some(c) = self.peek() else {
                return fail(
                    text,
                    "reached end of file while parsing quoted string",
                    false,
                );
            };
            self.pos += 1;
            match c {
                b'\n' => {
                    self.line += 1;
                    lines.mark(text.len(), self.line);
                    continue;
                }
                b'\\' => match self.peek() {
                    Some(b'\n') => {
                        self.pos += 1;
                        self.line += 1;
                        lines.mark(text.len(), self.line);
                        continue;
                    }
                    Some(n) => {
                        self.pos += 1;
                        text.push(b'\\');
                        text.push(n);
                    }
                    None => text.push(b'\\'),
                },
                _ if c == q => {
                    text.push(q);
                    return None;
                }
                0 => return fail(text, "syntax error", true),
                _ => text.push(c),
            }
            content += 1;
            if content > MAX_QUOTED {
                return fail(text, "string too long", true);
            }
        }
    }

    /// `$name` (at the current position): the macro's value read again in
    /// place (its own `$` are not expanded).
    fn macro_ref(
        &mut self,
        macros: &Macros,
        text: &mut Vec<u8>,
        in_word: &mut bool,
    ) -> Option<LexFail> {
        let line = self.line;
        self.pos += 1;
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos - start >= MAX_QUOTED {
            return Some(LexFail {
                line,
                msg: "string too long".to_string(),
                skip: true,
            });
        }
        let name = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
        match macros.get(&name) {
            Some(v) => {
                for &b in v.as_bytes() {
                    *in_word = word_step(*in_word, b);
                }
                text.extend_from_slice(v.as_bytes());
                None
            }
            None => Some(LexFail {
                line,
                msg: format!("macro '{name}' not defined"),
                skip: true,
            }),
        }
    }

    fn finish(&self, text: Vec<u8>, lines: LineMap, end_line: u32) -> Statement {
        Statement {
            text: String::from_utf8_lossy(&text).into_owned(),
            lines,
            end_line,
            lex_error: None,
        }
    }
}

/// Whether the character after `c` is still inside an unquoted word:
/// a word starts with a letter, digit, `:` or `_` and goes on with
/// `allowed_in_string` characters (digits that end up a number count too).
fn word_step(in_word: bool, c: u8) -> bool {
    if in_word {
        allowed_in_string(c)
    } else {
        c.is_ascii_alphanumeric() || c == b':' || c == b'_'
    }
}

/// One statement's tokens as pfctl's lexer cuts them.
#[derive(Debug, Clone, Default)]
pub struct Lexed {
    /// Where each token starts (newlines inside braces are tokens too).
    pub starts: Vec<usize>,
    /// The first lexer error among them: (offset of the token, message).
    pub error: Option<(usize, String)>,
}

/// Cuts a statement's text into pfctl's tokens: words, NUMBERs, quoted
/// strings, `!=` `<=` `>=` `<>` `><`, newlines and single characters.
/// Finds the lexer's own errors: a NUMBER out of the range of a long long
/// ("\"N\" invalid number: too large"), a word or number too long.
pub fn lex(text: &str) -> Lexed {
    let b = text.as_bytes();
    let mut out = Lexed::default();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b' ' || c == b'\t' {
            i += 1;
            continue;
        }
        let start = i;
        out.starts.push(start);
        match c {
            b'"' | b'\'' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'!' | b'<' | b'>' => {
                i += 1;
                let two = matches!(
                    (c, b.get(i)),
                    (b'!', Some(b'=')) | (b'<', Some(b'>' | b'=')) | (b'>', Some(b'<' | b'='))
                );
                if two {
                    i += 1;
                }
            }
            b'-' | b'0'..=b'9' => {
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                let digits = &text[i..j];
                if digits == "-" {
                    // a lone minus sign
                    i += 1;
                } else if j == b.len() || allowed_to_end_number(b[j]) {
                    if out.error.is_none() {
                        if digits.len() > MAX_WORD {
                            out.error = Some((start, "string too long".into()));
                        } else if digits.parse::<i64>().is_err() {
                            let why = if c == b'-' { "too small" } else { "too large" };
                            out.error =
                                Some((start, format!("\"{digits}\" invalid number: {why}")));
                        }
                    }
                    i = j;
                } else if c == b'-' {
                    i += 1;
                } else {
                    i = word_end(b, i, start, &mut out);
                }
            }
            _ if c.is_ascii_alphanumeric() || c == b':' || c == b'_' => {
                i = word_end(b, i, start, &mut out);
            }
            _ => {
                // one character (whole, if it is not ASCII)
                i += 1;
                while i < b.len() && !text.is_char_boundary(i) {
                    i += 1;
                }
            }
        }
    }
    out
}

fn word_end(b: &[u8], mut i: usize, start: usize, out: &mut Lexed) -> usize {
    i += 1;
    while i < b.len() && allowed_in_string(b[i]) {
        i += 1;
    }
    if i - start > MAX_WORD && out.error.is_none() {
        out.error = Some((start, "string too long".into()));
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(src: &str, macros: &Macros) -> Vec<Result<(String, u32), String>> {
        let mut s = Splitter::new(src, "t");
        let mut out = vec![];
        while let Some(r) = s.next_statement(macros) {
            out.push(
                r.map_err(|e| e.to_string())
                    .and_then(|st| match st.lex_error {
                        Some(e) => Err(format!("t:{}: {} [{}]", e.line, e.msg, st.text)),
                        None => Ok((st.text, st.end_line)),
                    }),
            );
        }
        out
    }

    #[test]
    fn comments_continuations_braces() {
        let m = Macros::new();
        let r = all("# c\npass \\\n in # x\n\nblock {\n a b\n} all\n", &m);
        assert_eq!(
            r,
            vec![
                Ok(("pass  in ".to_string(), 3)),
                Ok(("block {\n a b\n} all".to_string(), 7))
            ]
        );
    }

    #[test]
    fn macros_expand_outside_quotes_only() {
        let mut m = Macros::new();
        m.insert("a".into(), "1.2.3.4".into());
        let r = all("pass from $a label \"$a\"\npass $b\npass\npass x$a $a", &m);
        assert_eq!(r[0], Ok(("pass from 1.2.3.4 label \"$a\"".to_string(), 1)));
        assert_eq!(r[1], Err("t:2: macro 'b' not defined [pass ]".to_string()));
        assert_eq!(r[2], Ok(("pass".to_string(), 3)));
        // only where a token starts
        assert_eq!(r[3], Ok(("pass x$a 1.2.3.4".to_string(), 4)));
    }

    #[test]
    fn unterminated_quote() {
        let r = all("label \"abc", &Macros::new());
        assert_eq!(
            r,
            vec![Err(
                "t:1: reached end of file while parsing quoted string [label ]".into()
            )]
        );
    }

    #[test]
    fn tokens_and_lexer_errors() {
        let l = lex("pass in proto tcp to port != 22 label \"a b\" 10.0.0.1/8 -x");
        assert_eq!(l.starts.len(), 15);
        assert!(l.error.is_none());
        let l = lex("max 99999999999999999999 x");
        assert_eq!(
            l.error,
            Some((
                4,
                "\"99999999999999999999\" invalid number: too large".into()
            ))
        );
        let l = lex("max -99999999999999999999)");
        assert_eq!(
            l.error,
            Some((
                4,
                "\"-99999999999999999999\" invalid number: too small".into()
            ))
        );
        // a character that is not ASCII is one token
        assert_eq!(lex("pass é ü").starts, vec![0, 5, 8]);
        // digits glued to a word are no number
        assert!(lex("99999999999999999999x").error.is_none());
        let w = "a".repeat(MAX_WORD + 1);
        assert_eq!(lex(&w).error, Some((0, "string too long".into())));
        assert!(lex(&w[1..]).error.is_none());
    }

    #[test]
    fn line_map() {
        let mut s = Splitter::new("\n\npass {\n a,\n b }", "t");
        let st = s.next_statement(&Macros::new()).unwrap().unwrap();
        assert_eq!(st.lines.line_at(0), 3);
        assert_eq!(st.lines.line_at(st.text.find('b').unwrap()), 5);
        assert_eq!(st.end_line, 5);
    }
}

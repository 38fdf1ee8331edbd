//! The lexical layer under the grammar: splits a pf.conf text into
//! statements the way pfctl's lexer sees them, one logical line at a time.
//!
//! - `#` starts a comment that runs to the end of the line (a `\` before the
//!   newline continues the comment, as in pfctl);
//! - a `\` before a newline joins the two lines (nothing is inserted); a `\`
//!   before any other character outside quotes stands for that character;
//! - a newline ends the statement unless it is inside `{ }` (so an inline
//!   anchor arrives whole, body included; `anchor.rs` cuts the body into
//!   statements of its own);
//! - a newline inside quotes is dropped;
//! - `$name` outside quotes is replaced by the macro's value, textually, so
//!   the value is lexed again in place (a `$` inside the value is not expanded
//!   again), exactly like pfctl's lexer pushes the value back into its input.
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
}

/// Macro table: name → value.
pub type Macros = HashMap<String, String>;

/// Cuts a source text into statements; call `next_statement` with the
/// macros defined so far (definitions take effect for the following
/// statements only).
pub struct Splitter<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
    file: String,
}

impl<'a> Splitter<'a> {
    pub fn new(src: &'a str, file: &str) -> Splitter<'a> {
        Splitter {
            src: src.as_bytes(),
            pos: 0,
            line: 1,
            file: file.to_string(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    /// Skips to the end of the current line (used after an error, like
    /// pfctl's `findeol`), honouring `\` continuations.
    fn skip_to_eol(&mut self) -> u32 {
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == b'\\' && self.peek() == Some(b'\n') {
                self.pos += 1;
                self.line += 1;
                continue;
            }
            if c == b'\n' {
                let l = self.line;
                self.line += 1;
                return l;
            }
        }
        self.line
    }

    /// The next non-empty statement, `Err` for a lexical error (the rest of
    /// that line is skipped), `None` at end of input.
    pub fn next_statement(&mut self, macros: &Macros) -> Option<Result<Statement, ConfError>> {
        let mut text: Vec<u8> = Vec::new();
        let mut lines = LineMap::default();
        let mut depth: u32 = 0;
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
                        Some(n) => {
                            self.pos += 1;
                            text.push(n);
                        }
                        None => {}
                    }
                }
                b'#' => {
                    // Comment: to end of line, `\` + newline continues it.
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
                b'\n' => {
                    self.pos += 1;
                    let l = self.line;
                    self.line += 1;
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
                b'"' | b'\'' => {
                    let q = c;
                    self.pos += 1;
                    text.push(q);
                    loop {
                        let Some(c) = self.peek() else {
                            let l = self.line;
                            return Some(Err(ConfError::new(
                                &self.file,
                                l,
                                "reached end of file while parsing quoted string",
                            )));
                        };
                        self.pos += 1;
                        match c {
                            b'\n' => {
                                self.line += 1;
                                lines.mark(text.len(), self.line);
                            }
                            b'\\' => match self.peek() {
                                Some(b'\n') => {
                                    self.pos += 1;
                                    self.line += 1;
                                    lines.mark(text.len(), self.line);
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
                                break;
                            }
                            _ => text.push(c),
                        }
                    }
                }
                b'$' => {
                    self.pos += 1;
                    let start = self.pos;
                    while let Some(c) = self.peek() {
                        if c.is_ascii_alphanumeric() || c == b'_' {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                    let name = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                    match macros.get(&name) {
                        Some(v) => text.extend_from_slice(v.as_bytes()),
                        None => {
                            let l = self.line;
                            let msg = format!("macro '{name}' not defined");
                            self.skip_to_eol();
                            return Some(Err(ConfError::new(&self.file, l, msg)));
                        }
                    }
                }
                b'{' => {
                    self.pos += 1;
                    depth += 1;
                    text.push(c);
                }
                b'}' => {
                    self.pos += 1;
                    depth = depth.saturating_sub(1);
                    text.push(c);
                }
                _ => {
                    self.pos += 1;
                    text.push(c);
                }
            }
        }
    }

    fn finish(&self, text: Vec<u8>, lines: LineMap, end_line: u32) -> Statement {
        Statement {
            text: String::from_utf8_lossy(&text).into_owned(),
            lines,
            end_line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(src: &str, macros: &Macros) -> Vec<Result<(String, u32), String>> {
        let mut s = Splitter::new(src, "t");
        let mut out = vec![];
        while let Some(r) = s.next_statement(macros) {
            out.push(
                r.map(|st| (st.text, st.end_line))
                    .map_err(|e| e.to_string()),
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
        let r = all("pass from $a label \"$a\"\npass $b\npass", &m);
        assert_eq!(r[0], Ok(("pass from 1.2.3.4 label \"$a\"".to_string(), 1)));
        assert_eq!(r[1], Err("t:2: macro 'b' not defined".to_string()));
        assert_eq!(r[2], Ok(("pass".to_string(), 3)));
    }

    #[test]
    fn unterminated_quote() {
        let r = all("label \"abc", &Macros::new());
        assert_eq!(
            r,
            vec![Err(
                "t:1: reached end of file while parsing quoted string".into()
            )]
        );
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

//! The statement loop, pfctl's parser driving the steps: each statement
//! `source.rs` cuts is parsed (`parser/`) and handed to the expander
//! (`expand/`), with what yacc does around it: error recovery (a syntax
//! error is reported only once three tokens were shifted after the last
//! one; a lexer error drops the rest of its line), the actions pfctl has
//! run before its parser stops at a bad token, `include` files, and the
//! statements of inline anchor bodies (`anchor.rs` cuts them out).

use super::anchor;
use super::ast;
use super::error::ConfError;
use super::expand::Expander;
use super::parser;
use super::source::{self, Macros, Statement};
use crate::errno::{strerror, EMFILE};

/// Maximum nesting of `include`.
const MAX_INCLUDE_DEPTH: usize = 16;

/// What became of a statement, for the parser state around it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    /// The line a lexer error makes pfctl's parser drop.
    pub eats: Option<u32>,
    /// pfctl's parser went into error recovery (a syntax error, or an
    /// error of a grammar action): inside an inline anchor's body that
    /// takes it out of the body, back to the top level.
    pub recovered: bool,
}

impl Outcome {
    fn recovered(eats: Option<u32>) -> Outcome {
        Outcome {
            eats,
            recovered: true,
        }
    }
}

/// pfctl's parser over one file and the files it includes: statements
/// from `source.rs`, each parsed (`parser/`) and handed to the expander.
pub struct Reader<'a, 'r> {
    pub ex: &'a mut Expander<'r>,
    macros: Macros,
    loader: &'a dyn Fn(&str) -> std::io::Result<String>,
}

impl<'a, 'r> Reader<'a, 'r> {
    /// A reader of one file (macros start empty) into `ex`; `loader`
    /// reads `include` files.
    pub fn new(
        ex: &'a mut Expander<'r>,
        loader: &'a dyn Fn(&str) -> std::io::Result<String>,
    ) -> Reader<'a, 'r> {
        Reader {
            ex,
            macros: Macros::new(),
            loader,
        }
    }

    /// The statements of `src`; `nest` is the inline anchor nesting (0 at
    /// the top), `depth` the `include` nesting.
    pub fn run(&mut self, src: &str, file: &str, depth: usize, nest: usize) {
        let mut sp = source::Splitter::new(src, file);
        // The line a lexer error made pfctl's parser drop, and the last
        // line of the previous statement (the newlines between are tokens
        // too).
        let mut eats: Option<u32> = None;
        let mut prev_end: u32 = 0;
        while let Some(st) = sp.next_statement(&self.macros) {
            if self.ex.fatal {
                return;
            }
            let st = match st {
                Ok(st) => st,
                Err(e) => {
                    self.ex.errors.push(e);
                    continue;
                }
            };
            let first = st.lines.line_at(0);
            if eats.take() == Some(first) {
                // dropped while recovering, up to its newline
                self.ex.errflag = 2;
                prev_end = st.end_line;
                continue;
            }
            let blank_lines = first.saturating_sub(prev_end + 1);
            self.ex.errflag = self.ex.errflag.saturating_sub(blank_lines);
            prev_end = st.end_line;
            eats = self.statement(&st, file, depth, nest).eats;
        }
    }

    /// One statement (of a file, or of an inline anchor's body when `nest`
    /// > 0).
    fn statement(&mut self, st: &Statement, file: &str, depth: usize, nest: usize) -> Outcome {
        let lexed = source::lex(&st.text);
        if let Some((off, le)) = lexer_error(st, &lexed) {
            lexer_error_tokens(st, file, self.ex, &lexed, off, &le);
            return Outcome::recovered(le.eats_line);
        }
        if let Some(block) = anchor::split_inline(st, file) {
            return self.inline(block, st, file, depth, nest);
        }
        // pfctl's lists take a newline after an item (`optnl`), never
        // after a comma: the parser stops at that newline, and what
        // follows is read line by line as new statements.
        let comma_nl = lexed.starts.windows(2).find_map(|w| {
            (st.text.as_bytes()[w[0]] == b',' && st.text.as_bytes()[w[1]] == b'\n').then_some(w[1])
        });
        if let Some(nl) = comma_nl {
            self.comma_newline(st, file, &lexed, nl, depth, nest);
            return Outcome::recovered(None);
        }
        let line = st.end_line;
        let errors_before = self.ex.errors.len();
        let ex = &mut *self.ex;
        match parser::parse_statement_at(st, file) {
            Err((e, at)) => {
                if !prefix_actions(st, file, ex, &lexed, at) {
                    let n = lexed.starts.iter().take_while(|&&s| s < at).count();
                    syntax_error(ex, e, n);
                }
                // the statement's newline is shifted once recovered
                ex.errflag = 2;
                return Outcome::recovered(None);
            }
            Ok(s) if nest > 0 && !parser::allowed_inside_anchor(&s) => {
                syntax_error(
                    ex,
                    ConfError::new(file, st.lines.line_at(0), "syntax error"),
                    0,
                );
                ex.errflag = 2;
                return Outcome::recovered(None);
            }
            Ok(ast::Statement::Macro { name, value }) => {
                // pfctl prints the definition, then checks the name (from
                // its second character on, as its loop does).
                ex.macro_def(&name, &value);
                if name.chars().skip(1).any(|c| c.is_ascii_whitespace()) {
                    ex.errors.push(ConfError::new(
                        file,
                        line,
                        "macro name cannot contain whitespace",
                    ));
                } else {
                    self.macros.insert(name, value);
                }
            }
            Ok(ast::Statement::Set(opt)) => ex.set_option(&opt, file, line),
            Ok(ast::Statement::Rule(r)) => ex.rule(&r, file, line),
            Ok(ast::Statement::Antispoof(a)) => ex.antispoof(&a, file, line),
            Ok(ast::Statement::Queue(q)) => ex.queue(&q, file, line),
            Ok(ast::Statement::Table(t)) => ex.table(&t, file, line),
            Ok(ast::Statement::Limiter(l)) => ex.limiter(&l, file, line),
            Ok(ast::Statement::Anchor(a)) => ex.anchor_rule(&a, file, st.lines.line_at(0), line),
            Ok(ast::Statement::LoadAnchor { name, file: path }) => {
                ex.load_anchor(name, path, file, line)
            }
            Ok(ast::Statement::Include(path)) => self.include(&path, file, line, depth, nest),
        }
        // A semantic error pfctl reports from a grammar action (YYERROR)
        // puts its parser into recovery as a syntax error does; those of
        // the rule expansion do not.
        let ex = &mut *self.ex;
        let new: Vec<&ConfError> = ex.errors[errors_before..]
            .iter()
            .filter(|e| !e.warning)
            .collect();
        if !new.is_empty()
            && !new.iter().any(|e| {
                e.message == "rule expands to no valid combination"
                    || e.message == "skipping rule due to errors"
            })
        {
            ex.errflag = 2;
            return Outcome::recovered(None);
        }
        let tokens = lexed.starts.len() as u32 + 1;
        ex.errflag = ex.errflag.saturating_sub(tokens);
        Outcome::default()
    }

    /// A newline after a comma at `nl`: a syntax error there, and what
    /// follows read line by line as statements of their own.
    fn comma_newline(
        &mut self,
        st: &Statement,
        file: &str,
        lexed: &source::Lexed,
        nl: usize,
        depth: usize,
        nest: usize,
    ) {
        let n = lexed.starts.iter().take_while(|&&s| s < nl).count();
        syntax_error(
            self.ex,
            ConfError::new(file, st.lines.line_at(nl), "syntax error"),
            n,
        );
        self.ex.errflag = 2;
        let mut from = nl + 1;
        let text = st.text.as_bytes();
        while from < text.len() {
            let end = text[from..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(text.len(), |i| from + i);
            let piece = Statement {
                text: st.text[from..end].to_string(),
                lines: st.lines.slice(from, end),
                end_line: st.lines.line_at(end.min(text.len().saturating_sub(1))),
                lex_error: None,
            };
            if !piece.text.trim().is_empty() {
                self.statement(&piece, file, depth, nest);
            } else {
                self.ex.errflag = self.ex.errflag.saturating_sub(1);
            }
            from = end + 1;
        }
    }

    /// `include "path"` on `line` of `file`.
    fn include(&mut self, path: &str, file: &str, line: u32, depth: usize, nest: usize) {
        let text = if depth >= MAX_INCLUDE_DEPTH {
            // pfctl has no limit of its own: it stops when it cannot open
            // one more file
            Err(std::io::Error::from_raw_os_error(EMFILE))
        } else {
            (self.loader)(path)
        };
        match text {
            Ok(text) => self.run(&text, path, depth + 1, nest),
            Err(e) => {
                // pushfile's warn(3), then the parser's message
                let why = match e.raw_os_error() {
                    Some(n) => strerror(n),
                    None if e.kind() == std::io::ErrorKind::NotFound => {
                        "No such file or directory".to_string()
                    }
                    None => e.to_string(),
                };
                self.ex
                    .errors
                    .push(ConfError::global(format!("pushfile: {path}: {why}")));
                self.ex.errors.push(ConfError::new(
                    file,
                    line,
                    format!("failed to include file {path}"),
                ));
            }
        }
    }

    /// An anchor rule with an inline body: the body's statements read as a
    /// file's, their rules handed to the anchor rule. Errors about the
    /// rule itself are reported on the line of its closing brace (where
    /// pfctl reduces the rule), errors about its name on its first line.
    fn inline(
        &mut self,
        block: anchor::Inline,
        st: &Statement,
        file: &str,
        depth: usize,
        nest: usize,
    ) -> Outcome {
        let anchor::Inline {
            ast,
            body,
            unterminated,
        } = block;
        let first = st.lines.line_at(0);
        let Some(anonymous) = self
            .ex
            .open_inline_anchor(ast.name.as_deref(), file, first, nest)
        else {
            return Outcome::recovered(None);
        };
        let outer = std::mem::take(&mut self.ex.ruleset.rules);
        self.ex
            .anchor_path
            .push(ast.name.clone().unwrap_or_else(|| anonymous.clone()));
        // pfctl's parser recovers from an error at the top level only (its
        // `ruleset error '\n'`): after one in the body, the rest of the
        // body is read as top-level statements and its closing brace is an
        // error.
        let mut escaped = false;
        let mut eats: Option<u32> = None;
        for sub in &body {
            if eats.take() == Some(sub.lines.line_at(0)) {
                self.ex.errflag = 2;
                continue;
            }
            let n = if escaped { 0 } else { nest + 1 };
            let o = self.statement(sub, file, depth, n);
            eats = o.eats;
            escaped |= o.recovered;
        }
        self.ex.anchor_path.pop();
        if escaped {
            // the `}` (after what precedes it on its line)
            let close = unterminated.unwrap_or(st.end_line);
            let before = unterminated.map_or(0, |_| 1);
            self.ex.ruleset.rules = outer;
            if before as u32 >= self.ex.errflag {
                self.ex
                    .errors
                    .push(ConfError::new(file, close, "syntax error"));
            }
            self.ex.errflag = 2;
            return Outcome::recovered(None);
        }
        if let Some(l) = unterminated {
            self.ex.errors.push(ConfError::new(file, l, "syntax error"));
        }
        let rules = std::mem::replace(&mut self.ex.ruleset.rules, outer);
        let errors = self.ex.errors.len();
        if !self
            .ex
            .inline_anchor(ast, anonymous, rules, file, st.end_line)
        {
            return Outcome::recovered(None);
        }
        Outcome {
            eats: None,
            recovered: self.ex.errors.len() > errors && unterminated.is_some(),
        }
    }
}

/// A lexer error at `off`: the parser sees the tokens before the bad one,
/// then an error token: a syntax error before it comes first, else the
/// lexer's message and a syntax error on its line.
fn lexer_error_tokens(
    st: &Statement,
    file: &str,
    ex: &mut Expander<'_>,
    lexed: &source::Lexed,
    off: usize,
    le: &source::LexError,
) {
    let prefix = Statement {
        text: st.text[..off].to_string(),
        lex_error: None,
        ..st.clone()
    };
    let before = lexed.starts.iter().take_while(|&&s| s < off).count();
    let early = match parser::parse_statement_at(&prefix, file) {
        Err((e, at)) if at < prefix.text.trim_end().len() => Some((e, at)),
        _ => None,
    };
    match early {
        Some((e, at)) => {
            let n = lexed.starts.iter().take_while(|&&s| s < at).count();
            syntax_error(ex, e, n);
            ex.errors
                .push(ConfError::new(file, le.line, le.msg.clone()));
        }
        None => {
            ex.errors
                .push(ConfError::new(file, le.line, le.msg.clone()));
            syntax_error(ex, ConfError::new(file, le.line, "syntax error"), before);
        }
    }
}

/// Before pfctl's parser stops at a bad token, it has reduced what came
/// before it, running the actions of those productions: `set timeout a 1,
/// b 2` has applied (and printed) `set timeout a 1`; `pass proto foo bogus`
/// has reported "unknown protocol foo" and is recovering, so no syntax
/// error follows. Do the same with the longest part before `at` that is a
/// statement: a `set` is applied, a rule's own checks are run (not those
/// of the whole rule, which is never reduced). True when that reported an
/// error (pfctl's YYERROR: no syntax error then).
fn prefix_actions(
    st: &Statement,
    file: &str,
    ex: &mut Expander<'_>,
    lexed: &source::Lexed,
    at: usize,
) -> bool {
    let starts: Vec<usize> = lexed.starts.iter().copied().filter(|&s| s < at).collect();
    let line = st.lines.line_at(at);
    for k in (1..=starts.len()).rev() {
        let cut = if k == starts.len() { at } else { starts[k] };
        let prefix = Statement {
            text: st.text[..cut].to_string(),
            lex_error: None,
            ..st.clone()
        };
        let Ok(s) = parser::parse_statement(&prefix, file) else {
            continue;
        };
        // a `set` is taken whole or not at all: without the tokens it had
        // shifted, its productions would not be the ones pfctl reduced
        if k < starts.len() && matches!(s, ast::Statement::Set(_)) {
            return false;
        }
        let before = ex.errors.len();
        match s {
            ast::Statement::Set(opt) => ex.set_option(&opt, file, line),
            ast::Statement::Rule(r) => ex.rule_prefix(&r, file, line),
            ast::Statement::Anchor(a) => ex.rule_prefix(&a.rule, file, line),
            _ => {}
        }
        return ex.errors[before..].iter().any(|e| !e.warning);
    }
    false
}

/// A syntax error at the `tokens`-th token of a statement: pfctl's parser
/// (yacc) reports it unless it is still recovering from the previous one
/// (three tokens must be shifted after an error before the next is told).
fn syntax_error(ex: &mut Expander<'_>, e: ConfError, tokens: usize) {
    if tokens as u32 >= ex.errflag {
        ex.errors.push(e);
    }
    ex.errflag = 3;
}

/// The lexer errors of a statement: its own (`lex_error`, at its end) or
/// one in a token of its text. (offset where the text stops, the error)
fn lexer_error(st: &Statement, lexed: &source::Lexed) -> Option<(usize, source::LexError)> {
    if let Some((off, msg)) = &lexed.error {
        let line = st.lines.line_at(*off);
        // findeol skips the rest of that line; the parser drops the next
        let eats_line = if line == st.end_line {
            st.lex_error
                .as_ref()
                .map_or(Some(line + 1), |e| e.eats_line.or(Some(line + 1)))
        } else {
            None
        };
        return Some((
            *off,
            source::LexError {
                line,
                msg: msg.clone(),
                eats_line,
            },
        ));
    }
    st.lex_error.clone().map(|e| (st.text.len(), e))
}

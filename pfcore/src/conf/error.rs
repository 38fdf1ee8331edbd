//! Errors of pf.conf parsing and expansion, printed as pfctl prints them:
//! `file:line: message`.

use std::fmt;

/// One diagnostic. `line` is the line pfctl would report: for a syntax
/// error the line of the offending token, for a semantic error the line on
/// which the statement ends (pfctl reports the line of the terminating
/// newline, so for a rule continued with `\` that is its last line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    pub file: String,
    pub line: u32,
    pub message: String,
    /// A warning pfctl prints without counting it as an error (the file
    /// still loads): `file:line: warning: ...`.
    pub warning: bool,
}

impl ConfError {
    pub fn new(file: &str, line: u32, message: impl Into<String>) -> ConfError {
        ConfError {
            file: file.to_string(),
            line,
            message: message.into(),
            warning: false,
        }
    }

    /// `file:line: warning: message`, which does not fail the parse.
    pub fn warning(file: &str, line: u32, message: impl std::fmt::Display) -> ConfError {
        ConfError {
            warning: true,
            ..ConfError::new(file, line, format!("warning: {message}"))
        }
    }

    /// A check of the whole ruleset after parsing, which pfctl reports
    /// without a location (`errx(3)`): printed as `pfctl: message`.
    pub fn global(message: impl Into<String>) -> ConfError {
        ConfError::new("pfctl", 0, message)
    }

    /// A message pfctl prints on its standard output while it refuses a
    /// statement (e.g. `A root queue is already defined on em0`): printed
    /// as is. pfctl's buffered stdout comes out after its diagnostics, so
    /// these are listed last.
    pub fn plain(message: impl Into<String>) -> ConfError {
        ConfError::new("", 0, message)
    }

    /// A message pfctl prints without `file:line:` (its `fprintf(stderr)`
    /// ones, e.g. `no IP address found for x`): no file, line 0.
    pub fn bare(message: impl Into<String>) -> ConfError {
        ConfError {
            file: String::new(),
            line: 0,
            message: message.into(),
            warning: false,
        }
    }

    pub fn is_bare(&self) -> bool {
        self.line == 0 && self.file.is_empty()
    }
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.file.as_str()) {
            (0, "") => write!(f, "{}", self.message),
            (0, file) => write!(f, "{}: {}", file, self.message),
            _ => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

impl std::error::Error for ConfError {}

//! The pest side of the parser: the grammar (`grammar.pest`) compiled into
//! `PfParser` and its `Rule`s, and the helpers every production's builder
//! uses to read pairs: inner pairs, keywords, and the text of a token as
//! pfctl's lexer hands it to the grammar (quotes removed, NUMBERs printed
//! back with `%lld`).

use pest::iterators::Pair;

#[derive(pest_derive::Parser)]
#[grammar = "conf/parser/grammar.pest"]
pub(super) struct PfParser;

/// First inner pair (the grammar guarantees its presence where used).
pub(super) fn first(p: Pair<'_, Rule>) -> Pair<'_, Rule> {
    let fallback = p.clone();
    p.into_inner().next().unwrap_or(fallback)
}

/// Inner pairs that are not bare keyword tokens.
pub(super) fn children(p: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    p.into_inner().filter(|c| !is_keyword(c.as_rule()))
}

pub(super) fn is_keyword(r: Rule) -> bool {
    format!("{r:?}").starts_with("k_")
}

/// The value of a `string`/`word`/`quoted`/`macro_value` pair: quotes
/// removed and escapes resolved like pfctl's lexer does.
pub(super) fn string_of(p: Pair<'_, Rule>) -> String {
    match p.as_rule() {
        Rule::number => number_text(p.as_str()),
        Rule::strings => p.into_inner().map(string_of).collect::<Vec<_>>().join(" "),
        Rule::string | Rule::macro_value | Rule::quoted | Rule::numstr => {
            let s = p.as_str().to_string();
            match p.into_inner().next() {
                Some(inner) => string_of(inner),
                None => s,
            }
        }
        Rule::quoted_dq | Rule::quoted_sq => unquote(p.as_str()),
        _ => p.as_str().to_string(),
    }
}

/// A NUMBER token as pfctl turns it back into text (`%lld`): `0022` is
/// `22`, `-0` is `0`. The lexer has refused numbers out of range already.
pub(super) fn number_text(s: &str) -> String {
    match s.parse::<i64>() {
        Ok(v) => v.to_string(),
        Err(_) => s.to_string(),
    }
}

fn unquote(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if chars.len() < 2 {
        return String::new();
    }
    let q = chars[0];
    chars.remove(0);
    chars.pop();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            if n == q || n == ' ' || n == '\t' {
                out.push(n);
                i += 2;
                continue;
            }
            out.push('\\');
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

//! The Prometheus text exposition format, version 0.0.4: `# HELP` and
//! `# TYPE` once per family, then its samples, label values escaped
//! (backslash, double quote, newline), HELP text escaped (backslash,
//! newline).

use core::fmt::Write;

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// The text being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
    /// Families written so far (a family appears once).
    names: Vec<&'static str>,
}

/// The samples of one family.
pub struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

/// A label value with `\`, `"` and newline escaped.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// HELP text with `\` and newline escaped.
pub fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: integers as they are, floats as Prometheus reads them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(v.into())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v.into())
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

impl core::fmt::Display for Value {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) if x.is_nan() => f.write_str("NaN"),
            Value::Float(x) if x.is_infinite() => {
                f.write_str(if x > 0.0 { "+Inf" } else { "-Inf" })
            }
            Value::Float(x) => write!(f, "{x}"),
        }
    }
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Starts family `name` (HELP and TYPE lines) and gives its samples to
    /// `f`. A name used twice is a programming error: its second HELP and
    /// TYPE are left out so that the text stays valid.
    pub fn family(
        &mut self,
        name: &'static str,
        kind: Kind,
        help: &str,
        f: impl FnOnce(&mut Family<'_>),
    ) {
        if !self.names.contains(&name) {
            self.names.push(name);
            let t = match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
            let _ = writeln!(self.out, "# TYPE {name} {t}");
        }
        f(&mut Family {
            out: &mut self.out,
            name,
        });
    }

    /// A family of one sample without labels.
    pub fn single(&mut self, name: &'static str, kind: Kind, help: &str, v: impl Into<Value>) {
        self.family(name, kind, help, |f| f.sample(&[], v));
    }

    pub fn finish(self) -> String {
        self.out
    }
}

impl Family<'_> {
    /// One sample with these labels (names are the caller's constants).
    pub fn sample(&mut self, labels: &[(&str, &str)], v: impl Into<Value>) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(val));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", v.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values_and_help() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_label("plain é"), "plain é");
        assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
    }

    #[test]
    fn families_have_help_type_and_samples() {
        let mut e = Exposition::new();
        e.family("pf_x_total", Kind::Counter, "X.\nsecond", |f| {
            f.sample(&[("a", "1"), ("b", "q\"")], 3u64);
            f.sample(&[], 4u64);
        });
        e.single("pf_y", Kind::Gauge, "Y.", 1.5);
        e.single("pf_y", Kind::Gauge, "Y.", f64::INFINITY);
        e.single("pf_z", Kind::Gauge, "Z.", f64::NAN);
        assert_eq!(
            e.finish(),
            "# HELP pf_x_total X.\\nsecond\n# TYPE pf_x_total counter\n\
             pf_x_total{a=\"1\",b=\"q\\\"\"} 3\npf_x_total 4\n\
             # HELP pf_y Y.\n# TYPE pf_y gauge\npf_y 1.5\npf_y +Inf\n\
             # HELP pf_z Z.\n# TYPE pf_z gauge\npf_z NaN\n"
        );
    }
}

//! /etc/rc.conf.local as rcctl edits it: `NAME_flags=...` lines, one per
//! daemon, which the systemd units read as their environment
//! (EnvironmentFile=), so `pfd $pfd_flags` starts with what `rcctl set
//! pfd flags` wrote. Pure text in, text out; other lines are kept as
//! they are.

/// The value of `var` (`pfd_flags`), None when no line sets it.
pub fn get(text: &str, var: &str) -> Option<String> {
    text.lines()
        .rev()
        .find_map(|l| line_value(l, var))
        .map(|v| unquote(v).to_string())
}

/// `text` with `var` set to `value` (None: the line removed, the default
/// back), every earlier line for it replaced by one at the end.
pub fn set(text: &str, var: &str, value: Option<&str>) -> String {
    let mut out: String = text
        .lines()
        .filter(|l| line_value(l, var).is_none())
        .map(|l| format!("{l}\n"))
        .collect();
    if let Some(v) = value {
        out.push_str(&format!("{var}={}\n", quote(v)));
    }
    out
}

/// A line's value if it sets `var`.
fn line_value<'a>(line: &'a str, var: &str) -> Option<&'a str> {
    let rest = line.trim_start().strip_prefix(var)?;
    rest.trim_start().strip_prefix('=').map(str::trim)
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// Quoted for systemd's EnvironmentFile= (and sh): double quotes unless
/// the value holds one, then single quotes.
fn quote(v: &str) -> String {
    if v.is_empty() {
        String::new()
    } else if v.contains('"') {
        format!("'{v}'")
    } else {
        format!("\"{v}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_and_remove() {
        let t = "# local\nsshd_flags=NO\n";
        let t = set(t, "pfd_flags", Some("-P -n 2"));
        assert_eq!(t, "# local\nsshd_flags=NO\npfd_flags=\"-P -n 2\"\n");
        assert_eq!(get(&t, "pfd_flags").as_deref(), Some("-P -n 2"));
        let t = set(&t, "pfd_flags", Some("-g 500"));
        assert_eq!(t.matches("pfd_flags").count(), 1);
        assert_eq!(get(&t, "pfd_flags").as_deref(), Some("-g 500"));
        let t = set(&t, "pfd_flags", None);
        assert_eq!(t, "# local\nsshd_flags=NO\n");
        assert_eq!(get(&t, "pfd_flags"), None);
        assert_eq!(
            get("pfsyncd_flags = '-s x'\n", "pfsyncd_flags").as_deref(),
            Some("-s x")
        );
        assert_eq!(get("pfd_flagsx=1\n", "pfd_flags"), None);
    }
}

//! The peer's differences applied to a file's text: `replace` as literal
//! substitutions (bytes, so any file goes through unchanged but for
//! them), then `advskew` in the CARP lines of a hostname.carp* file
//! (the word after `advskew` replaced, or `advskew N` added to a line
//! with a `vhid`), the rest of each line as it was.

use super::conf::Edits;

/// Whether `path` is a hostname.if(5) file: what netstart reads.
pub fn hostname_if(path: &str) -> Option<&str> {
    let base = path.rsplit('/').next()?;
    base.strip_prefix("hostname.").filter(|i| !i.is_empty())
}

/// `text` as the peer has it.
pub fn rewrite(path: &str, edits: &Edits, text: &[u8]) -> Vec<u8> {
    let mut out = text.to_vec();
    for (old, new) in &edits.replace {
        out = replace(&out, old.as_bytes(), new.as_bytes());
    }
    match (edits.advskew, hostname_if(path)) {
        (Some(skew), Some(ifname)) if ifname.starts_with("carp") => advskew(&out, skew),
        _ => out,
    }
}

fn replace(text: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(old) {
            out.extend_from_slice(new);
            i += old.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// Every line with a `vhid` word gets `advskew N`.
fn advskew(text: &[u8], skew: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 16);
    for line in text.split_inclusive(|&b| b == b'\n') {
        let (body, nl) = match line.strip_suffix(b"\n") {
            Some(b) => (b, &b"\n"[..]),
            None => (line, &b""[..]),
        };
        out.extend_from_slice(&advskew_line(body, skew));
        out.extend_from_slice(nl);
    }
    out
}

fn advskew_line(line: &[u8], skew: u8) -> Vec<u8> {
    // the words and where they are; a comment ends the line's words
    let code_end = line.iter().position(|&b| b == b'#').unwrap_or(line.len());
    let mut words = vec![];
    let mut i = 0;
    while i < code_end {
        if line[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < code_end && !line[i].is_ascii_whitespace() {
            i += 1;
        }
        words.push((start, i));
    }
    let word = |k: usize| &line[words[k].0..words[k].1];
    if !(0..words.len()).any(|k| word(k) == b"vhid") {
        return line.to_vec();
    }
    let value = skew.to_string();
    if let Some(k) = (0..words.len()).position(|k| word(k) == b"advskew") {
        let mut out = line.to_vec();
        match words.get(k + 1) {
            Some(&(s, e)) => {
                out.splice(s..e, value.bytes());
            }
            None => {
                let e = words[k].1;
                out.splice(e..e, format!(" {value}").bytes());
            }
        }
        return out;
    }
    // after the last word
    let e = words.last().map(|w| w.1).unwrap_or(0);
    let mut out = line.to_vec();
    out.splice(e..e, format!(" advskew {value}").bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skew(n: u8) -> Edits {
        Edits {
            advskew: Some(n),
            ..Edits::default()
        }
    }

    #[test]
    fn advskew_replaced_in_carp_lines() {
        let t = b"inet 192.0.2.1 255.255.255.0 vhid 1 carpdev hvn3 pass x advskew 0\n";
        assert_eq!(
            rewrite("/etc/hostname.carp1", &skew(128), t),
            b"inet 192.0.2.1 255.255.255.0 vhid 1 carpdev hvn3 pass x advskew 128\n"
        );
    }

    #[test]
    fn advskew_added_before_a_comment_and_kept_out_of_other_lines() {
        let t = b"# master\nvhid 7 carpdev eth0 pass p # the vip\ninet 10.0.0.1/24\nup";
        assert_eq!(
            String::from_utf8(rewrite("/etc/hostname.carp7", &skew(100), t)).unwrap(),
            "# master\nvhid 7 carpdev eth0 pass p advskew 100 # the vip\ninet 10.0.0.1/24\nup"
        );
    }

    #[test]
    fn advskew_only_in_carp_files() {
        let t = b"inet 10.0.0.1/24 vhid 1\n";
        assert_eq!(rewrite("/etc/hostname.eth0", &skew(5), t), t.to_vec());
        assert_eq!(rewrite("/etc/pf.conf", &skew(5), t), t.to_vec());
    }

    #[test]
    fn advskew_without_a_value_gets_one() {
        assert_eq!(
            rewrite("/etc/hostname.carp0", &skew(9), b"vhid 1 advskew\n"),
            b"vhid 1 advskew 9\n"
        );
    }

    #[test]
    fn replace_every_occurrence_in_order() {
        let e = Edits {
            replace: vec![
                ("192.0.2.2".into(), "192.0.2.3".into()),
                ("192.0.2.3/24".into(), "192.0.2.3/25".into()),
            ],
            ..Edits::default()
        };
        assert_eq!(
            rewrite(
                "/etc/ntpd.conf",
                &e,
                b"listen on 192.0.2.2\nx 192.0.2.2/24\n"
            ),
            b"listen on 192.0.2.3\nx 192.0.2.3/25\n"
        );
    }

    #[test]
    fn binary_text_passes_through() {
        let e = Edits {
            replace: vec![("a".into(), "b".into())],
            ..Edits::default()
        };
        assert_eq!(
            rewrite("/x", &e, &[0xff, b'a', 0, 0xfe]),
            vec![0xff, b'b', 0, 0xfe]
        );
    }

    #[test]
    fn hostname_if_names() {
        assert_eq!(hostname_if("/etc/hostname.carp1"), Some("carp1"));
        assert_eq!(hostname_if("/etc/hostname."), None);
        assert_eq!(hostname_if("/etc/pf.conf"), None);
    }
}

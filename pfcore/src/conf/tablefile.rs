//! Table files and `pfctl -T` address lists (pfctl_radix.c
//! `pfr_buf_load` / `pfr_next_token`, then pfctl_parser.c `host()`): a
//! hand-written tokenizer with a fast path for numeric addresses (a
//! million-line file must load in a blink); anything else goes to the
//! `SlowHost` the caller gives (the expander's `host()`: interfaces,
//! names, `10/8`).

use crate::addr::IpNet;
use crate::errno::{EFBIG, EINVAL, EISDIR, ERANGE};
use crate::ruleset::TableEntry;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a table file could not be loaded, as `process_tabledef` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// `cannot load "f": <strerror>`
    Errno(i32),
    /// `file "f" contains bad data` (a host that does not parse; its own
    /// message came first).
    BadData,
}

/// pfctl's token buffer (`BUF_SIZE`): longer tokens are refused.
const TOKEN_MAX: usize = 256;

/// Resolves a file token that is not a numeric address: `(name, bits,
/// messages)` → its networks; messages (bare) explain a failure.
pub type SlowHost<'a> =
    dyn FnMut(&str, Option<u8>, &mut Vec<String>) -> Result<Vec<IpNet>, LoadError> + 'a;

/// Reads `path` (pfctl_fopen: a directory is `EISDIR`) and appends its
/// addresses to `out`. `-` is standard input, which pf.conf from stdin has
/// already used up: nothing. `slow` resolves what is not a numeric address.
pub fn load_table_file(
    path: &str,
    out: &mut Vec<TableEntry>,
    msgs: &mut Vec<String>,
    slow: &mut SlowHost<'_>,
) -> Result<bool, LoadError> {
    if path == "-" {
        return Ok(false);
    }
    let data = read_file(path).map_err(LoadError::Errno)?;
    parse_table_data(&data, out, msgs, slow)
}

pub(super) fn read_file(path: &str) -> Result<Vec<u8>, i32> {
    use std::io::Read;
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(EINVAL);
    let f = std::fs::File::open(path).map_err(errno)?;
    let md = f.metadata().map_err(errno)?;
    if md.is_dir() {
        return Err(EISDIR);
    }
    // A bound, so that a device such as /dev/zero cannot exhaust memory.
    const MAX: u64 = 256 << 20;
    let mut data = Vec::with_capacity(md.len().min(MAX) as usize + 1);
    f.take(MAX + 1).read_to_end(&mut data).map_err(errno)?;
    if data.len() as u64 > MAX {
        return Err(EFBIG);
    }
    Ok(data)
}

/// C's `isspace` in the C locale.
#[inline]
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// The contents of a table file: whitespace-separated tokens, `#` at the
/// start of a token comments out the rest of the line. A token is
/// `[!...]address[/bits]` (each `!` toggles negation), a host or interface
/// name, or `weight N` (the load-balancing weight of the previous
/// address, checked and not kept). No allocation per token on the numeric
/// path; `out` only grows. Ok(true): a weight other than 1 was given
/// (pfd has no weighted pools: `ruleset::support` refuses such a pool).
pub fn parse_table_data(
    data: &[u8],
    out: &mut Vec<TableEntry>,
    msgs: &mut Vec<String>,
    slow: &mut SlowHost<'_>,
) -> Result<bool, LoadError> {
    let n = data.len();
    let mut i = 0;
    let mut expect_weight = false;
    let mut weighted = false;
    loop {
        loop {
            while i < n && is_space(data[i]) {
                i += 1;
            }
            if i < n && data[i] == b'#' {
                while i < n && data[i] != b'\n' {
                    i += 1;
                }
            } else {
                break;
            }
        }
        if i >= n {
            return Ok(weighted);
        }
        let start = i;
        while i < n && !is_space(data[i]) {
            i += 1;
        }
        let tok = &data[start..i];
        if tok.len() >= TOKEN_MAX {
            return Err(LoadError::Errno(EINVAL));
        }
        if expect_weight {
            expect_weight = false;
            match strtonum(tok, 1, 65535) {
                Err((_, errno)) => {
                    msgs.push(format!(
                        "failed to convert weight {}",
                        String::from_utf8_lossy(tok)
                    ));
                    return Err(LoadError::Errno(errno));
                }
                Ok(w) => weighted |= w != 1,
            }
            continue;
        }
        if tok == b"weight" {
            expect_weight = true;
            continue;
        }
        let mut neg = false;
        let mut t = tok;
        while let [b'!', rest @ ..] = t {
            neg = !neg;
            t = rest;
        }
        // host(): the mask after the first '/', then the address.
        let (a, mask) = match t.iter().position(|&c| c == b'/') {
            None => (t, None),
            Some(p) => {
                let m = &t[p + 1..];
                match strtonum(m, 0, 128) {
                    Ok(v) => (&t[..p], Some(v as u8)),
                    Err((what, _)) => {
                        msgs.push(format!(
                            "netmask is {what}: /{}",
                            String::from_utf8_lossy(m)
                        ));
                        return Err(LoadError::BadData);
                    }
                }
            }
        };
        match numeric(a) {
            Some(addr) => {
                let net = match (addr, mask) {
                    (_, None) => IpNet::host(addr),
                    (IpAddr::V4(_), Some(m)) if m > 32 => return Err(LoadError::Errno(EINVAL)),
                    (_, Some(m)) => IpNet { addr, prefix: m }.to_network(),
                };
                out.push(TableEntry { neg, net });
            }
            None => {
                let a = match a.iter().position(|&c| c == 0) {
                    Some(z) => &a[..z],
                    None => a,
                };
                let name = String::from_utf8_lossy(a);
                for net in slow(&name, mask, msgs)? {
                    out.push(TableEntry { neg, net });
                }
            }
        }
    }
}

/// OpenBSD's `strtonum`: Ok(value) or Err((errstr, errno)).
fn strtonum(s: &[u8], min: i64, max: i64) -> Result<i64, (&'static str, i32)> {
    let (neg, digits) = match s {
        [b'-', r @ ..] => (true, r),
        [b'+', r @ ..] => (false, r),
        r => (false, r),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(("invalid", EINVAL));
    }
    let mut v: i128 = 0;
    for &d in digits {
        v = (v * 10 + (d - b'0') as i128).min(i64::MAX as i128 + 1);
    }
    if neg {
        v = -v;
    }
    if v < min as i128 {
        Err(("too small", ERANGE))
    } else if v > max as i128 {
        Err(("too large", ERANGE))
    } else {
        Ok(v as i64)
    }
}

/// A numeric address (`getaddrinfo(AI_NUMERICHOST)` without a scope):
/// dotted-quad IPv4 or IPv6. None for anything else.
#[inline]
fn numeric(s: &[u8]) -> Option<IpAddr> {
    if let Some(a) = ipv4(s) {
        return Some(IpAddr::V4(a));
    }
    if s.contains(&b':') && !s.contains(&b'%') {
        return std::str::from_utf8(s)
            .ok()?
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6);
    }
    None
}

/// `a.b.c.d`, each part 0-255 in decimal without leading zeros.
#[inline]
fn ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut idx = 0;
    let mut val: u32 = 0;
    let mut len = 0;
    let mut first = 0u8;
    for &c in s {
        match c {
            b'0'..=b'9' => {
                if len == 0 {
                    first = c;
                } else if first == b'0' {
                    return None;
                }
                len += 1;
                val = val * 10 + (c - b'0') as u32;
                if len > 3 || val > 255 {
                    return None;
                }
            }
            b'.' => {
                if len == 0 || idx == 3 {
                    return None;
                }
                octets[idx] = val as u8;
                idx += 1;
                val = 0;
                len = 0;
            }
            _ => return None,
        }
    }
    if idx != 3 || len == 0 {
        return None;
    }
    octets[3] = val as u8;
    Some(Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    fn no_slow(_: &str, _: Option<u8>, _: &mut Vec<String>) -> Result<Vec<IpNet>, LoadError> {
        Err(LoadError::BadData)
    }

    fn read(text: &str) -> Result<Vec<String>, (LoadError, Vec<String>)> {
        let mut out = vec![];
        let mut msgs = vec![];
        match parse_table_data(text.as_bytes(), &mut out, &mut msgs, &mut no_slow) {
            Ok(_) => Ok(out
                .iter()
                .map(|e| format!("{}{}", if e.neg { "!" } else { "" }, e.net))
                .collect()),
            Err(e) => Err((e, msgs)),
        }
    }

    #[test]
    fn file_tokens_comments_and_negation() {
        assert_eq!(read("").unwrap(), Vec::<String>::new());
        assert_eq!(
            read("# header\n\n1.2.3.4\n  10.0.0.0/8   # trailing\n!192.0.2.1 !!192.0.2.2\n2001:db8::1/32\n\t::1\r\n").unwrap(),
            vec!["1.2.3.4", "10.0.0.0/8", "!192.0.2.1", "192.0.2.2", "2001:db8::/32", "::1"]
        );
        // Host bits are masked off, as pfctl's set_ipmask does.
        assert_eq!(
            read("10.1.2.3/8 1.2.3.4/0").unwrap(),
            vec!["10.0.0.0/8", "0.0.0.0/0"]
        );
        // '#' inside a token is part of it; a comment needs to start one.
        assert_eq!(read("1.2.3.4#x").unwrap_err().0, LoadError::BadData);
        assert_eq!(
            read("1.2.3.4 weight 5 5.6.7.8").unwrap(),
            vec!["1.2.3.4", "5.6.7.8"]
        );
        assert_eq!(
            read("1.2.3.4 weight x").unwrap_err(),
            (
                LoadError::Errno(EINVAL),
                vec!["failed to convert weight x".to_string()]
            )
        );
        assert_eq!(
            read("1.2.3.4 weight 0").unwrap_err().0,
            LoadError::Errno(ERANGE)
        );
        assert_eq!(
            read("1.2.3.4/129").unwrap_err(),
            (
                LoadError::BadData,
                vec!["netmask is too large: /129".to_string()]
            )
        );
        assert_eq!(
            read("1.2.3.4/x").unwrap_err().1,
            vec!["netmask is invalid: /x".to_string()]
        );
        assert_eq!(
            read("1.2.3.4/-1").unwrap_err().1,
            vec!["netmask is too small: /-1".to_string()]
        );
        assert_eq!(read("1.2.3.4/33").unwrap_err().0, LoadError::Errno(EINVAL));
        assert_eq!(
            read(&"1".repeat(256)).unwrap_err().0,
            LoadError::Errno(EINVAL)
        );
        // Not numeric: handed to the slow path.
        for t in [
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "host",
            "10/8",
            "fe80::1%lo0",
        ] {
            assert_eq!(read(t).unwrap_err().0, LoadError::BadData, "{t}");
        }
    }

    #[test]
    fn a_large_file_loads_quickly() {
        let mut text = String::with_capacity(20 << 20);
        for i in 0..1_000_000u32 {
            let _ = writeln!(
                text,
                "{}.{}.{}.{}",
                10 + (i >> 24),
                (i >> 16) & 255,
                (i >> 8) & 255,
                i & 255
            );
            if i % 100_000 == 0 {
                text.push_str("# comment\n\n2001:db8::/64\n");
            }
        }
        let t0 = std::time::Instant::now();
        let mut out = Vec::new();
        parse_table_data(text.as_bytes(), &mut out, &mut vec![], &mut no_slow).unwrap();
        let dt = t0.elapsed();
        assert_eq!(out.len(), 1_000_010);
        assert_eq!(out[1].net.to_string(), "2001:db8::/64");
        assert_eq!(out[1_000_009].net.to_string(), "10.15.66.63");
        // Generous even for an unoptimised build on a slow machine.
        assert!(dt.as_secs() < 10, "{dt:?}");
    }
}

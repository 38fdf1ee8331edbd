//! Fixed name tables pfctl knows without asking the system: ICMP and ICMPv6
//! type and code names, TCP flag letters, and small numeric parsers that
//! behave like the C library calls pfctl uses (`strtoul` with base 0).

/// (name, type) for `icmp-type`, in pfctl's table order (the first name
/// of a number is the one printed).
pub const ICMP_TYPES: &[(&str, u8)] = &[
    ("echoreq", 8),
    ("echorep", 0),
    ("unreach", 3),
    ("squench", 4),
    ("redir", 5),
    ("althost", 6),
    ("routeradv", 9),
    ("routersol", 10),
    ("timex", 11),
    ("paramprob", 12),
    ("timereq", 13),
    ("timerep", 14),
    ("inforeq", 15),
    ("inforep", 16),
    ("maskreq", 17),
    ("maskrep", 18),
    ("trace", 30),
    ("dataconv", 31),
    ("mobredir", 32),
    ("ipv6-where", 33),
    ("ipv6-here", 34),
    ("mobregreq", 35),
    ("mobregrep", 36),
    ("skip", 39),
    ("photuris", 40),
];

/// (name, type) for `icmp6-type`.
pub const ICMP6_TYPES: &[(&str, u8)] = &[
    ("unreach", 1),
    ("toobig", 2),
    ("timex", 3),
    ("paramprob", 4),
    ("echoreq", 128),
    ("echorep", 129),
    ("groupqry", 130),
    ("listqry", 130),
    ("grouprep", 131),
    ("listenrep", 131),
    ("groupterm", 132),
    ("listendone", 132),
    ("routersol", 133),
    ("routeradv", 134),
    ("neighbrsol", 135),
    ("neighbradv", 136),
    ("redir", 137),
    ("routrrenum", 138),
    ("wrureq", 139),
    ("wrurep", 140),
    ("fqdnreq", 139),
    ("fqdnrep", 140),
    ("niqry", 139),
    ("nirep", 140),
    ("mtraceresp", 200),
    ("mtrace", 201),
    ("listenrepv2", 143),
];

/// (name, type, code) for ICMP codes.
pub const ICMP_CODES: &[(&str, u8, u8)] = &[
    ("net-unr", 3, 0),
    ("host-unr", 3, 1),
    ("proto-unr", 3, 2),
    ("port-unr", 3, 3),
    ("needfrag", 3, 4),
    ("srcfail", 3, 5),
    ("net-unk", 3, 6),
    ("host-unk", 3, 7),
    ("isolate", 3, 8),
    ("net-prohib", 3, 9),
    ("host-prohib", 3, 10),
    ("net-tos", 3, 11),
    ("host-tos", 3, 12),
    ("filter-prohib", 3, 13),
    ("host-preced", 3, 14),
    ("cutoff-preced", 3, 15),
    ("redir-net", 5, 0),
    ("redir-host", 5, 1),
    ("redir-tos-net", 5, 2),
    ("redir-tos-host", 5, 3),
    ("normal-adv", 9, 0),
    ("common-adv", 9, 16),
    ("transit", 11, 0),
    ("reassemb", 11, 1),
    ("badhead", 12, 0),
    ("optmiss", 12, 1),
    ("badlen", 12, 2),
    ("unknown-ind", 40, 1),
    ("auth-fail", 40, 2),
    ("decrypt-fail", 40, 3),
];

/// (name, type, code) for ICMPv6 codes.
pub const ICMP6_CODES: &[(&str, u8, u8)] = &[
    ("admin-unr", 1, 1),
    ("noroute-unr", 1, 0),
    ("beyond-unr", 1, 2),
    ("addr-unr", 1, 3),
    ("port-unr", 1, 4),
    ("transit", 3, 0),
    ("reassemb", 3, 1),
    ("badhead", 4, 0),
    ("nxthdr", 4, 1),
    ("redironlink", 137, 0),
    ("redirrouter", 137, 1),
];

pub fn icmp_type_by_name(name: &str, v6: bool) -> Option<u8> {
    let t = if v6 { ICMP6_TYPES } else { ICMP_TYPES };
    t.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

pub fn icmp_type_name(typ: u8, v6: bool) -> Option<&'static str> {
    let t = if v6 { ICMP6_TYPES } else { ICMP_TYPES };
    t.iter().find(|(_, v)| *v == typ).map(|&(n, _)| n)
}

pub fn icmp_code_by_name(typ: u8, name: &str, v6: bool) -> Option<u8> {
    let t = if v6 { ICMP6_CODES } else { ICMP_CODES };
    t.iter()
        .find(|(n, ty, _)| *ty == typ && *n == name)
        .map(|&(_, _, c)| c)
}

pub fn icmp_code_name(typ: u8, code: u8, v6: bool) -> Option<&'static str> {
    let t = if v6 { ICMP6_CODES } else { ICMP_CODES };
    t.iter()
        .find(|(_, ty, c)| *ty == typ && *c == code)
        .map(|&(n, _, _)| n)
}

/// TCP flag letters in bit order (`F` = 0x01 ... `W` = 0x80).
pub const TCP_FLAGS: &str = "FSRPAUEW";

/// Parses a flag word (`SA`); an empty word means all flags, as in pfctl.
pub fn parse_flags(s: &str) -> Option<u8> {
    let mut f = 0u8;
    for c in s.chars() {
        let i = TCP_FLAGS.find(c)?;
        f |= 1 << i;
    }
    Some(if f == 0 { 0xff } else { f })
}

pub fn flags_to_string(f: u8) -> String {
    TCP_FLAGS
        .chars()
        .enumerate()
        .filter(|(i, _)| f & (1 << i) != 0)
        .map(|(_, c)| c)
        .collect()
}

/// pfctl's `atoul`: `strtoul(s, &end, 0)` that must consume the whole
/// (non-empty) string: leading blanks and a sign are allowed, `0x` is hex,
/// a leading `0` octal; a minus sign wraps (`-1` is 2^64-1, as strtoul
/// returns it); an overflow is refused.
pub fn atoul(s: &str) -> Option<u64> {
    strtoul(s)
}

/// `strtoul(3)` with base 0 over the whole string (None if anything is
/// left over, nothing was read, or the value overflows).
pub fn strtoul(s: &str) -> Option<u64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (digits, radix) = if (t.starts_with("0x") || t.starts_with("0X"))
        && t[2..].starts_with(|c: char| c.is_ascii_hexdigit())
    {
        (&t[2..], 16)
    } else if t.len() > 1 && t.starts_with('0') {
        (&t[1..], 8)
    } else {
        (t, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        // "0" alone reads as octal with no further digits
        if t == "0" {
            return Some(0);
        }
        return None;
    }
    let v = u64::from_str_radix(digits, radix).ok()?;
    Some(if neg { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        assert_eq!(icmp_type_by_name("echoreq", false), Some(8));
        assert_eq!(icmp_type_name(130, true), Some("groupqry"));
        assert_eq!(icmp_code_name(3, 3, false), Some("port-unr"));
        assert_eq!(icmp_code_by_name(1, "admin-unr", true), Some(1));
        assert_eq!(parse_flags("SA"), Some(0x12));
        assert_eq!(parse_flags("X"), None);
        assert_eq!(flags_to_string(0x12), "SA");
        assert_eq!(atoul("0x10"), Some(16));
        assert_eq!(atoul("010"), Some(8));
        assert_eq!(atoul("22"), Some(22));
        assert_eq!(atoul("ssh"), None);
        assert_eq!(atoul("0"), Some(0));
        assert_eq!(atoul("-1"), Some(u64::MAX));
        assert_eq!(atoul(" +7"), Some(7));
        assert_eq!(atoul("0x"), None);
        assert_eq!(atoul("08"), None);
        assert_eq!(atoul(""), None);
    }
}

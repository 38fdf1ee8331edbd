//! The limits ifconfig and the kernel put on values, with their messages:
//! numbers (strtonum(3) and ranges), interface and group names,
//! descriptions, the MTU. Both parsing and applying check them (an op can
//! be built by hand).

use super::{err, IfconfigError, IFDESCRSIZE, IFNAMSIZ};

/// strtonum(3): decimal, optional leading blanks and sign, nothing after.
pub(super) fn strtonum(s: &str, min: i64, max: i64) -> Result<i64, &'static str> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid");
    }
    let mut v: i128 = 0;
    for b in digits.bytes() {
        v = v * 10 + i128::from(b - b'0');
        if v > i128::from(u64::MAX) {
            break; // far out of any range; strtoll would say ERANGE
        }
    }
    let v = if neg { -v } else { v };
    if v < i128::from(min) {
        Err("too small")
    } else if v > i128::from(max) {
        Err("too large")
    } else {
        Ok(v as i64)
    }
}

pub(super) fn check_name(kw: &str, v: &str, what: &str) -> Result<(), IfconfigError> {
    if v.is_empty() {
        return err(format!("{kw}: {what} name required"));
    }
    if v.len() >= IFNAMSIZ {
        return err(format!("{kw} {v}: {what} name too long"));
    }
    if v.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return err(format!("{kw} {v}: invalid {what} name"));
    }
    Ok(())
}

pub(super) fn check_group(kw: &str, g: &str) -> Result<(), IfconfigError> {
    // setifgroup's checks and wording
    let who = if kw == "group" {
        "setifgroup"
    } else {
        "unsetifgroup"
    };
    if g.len() >= IFNAMSIZ {
        return err(format!("{who}: group name too long"));
    }
    if kw == "group" {
        if g.is_empty() {
            return err("setifgroup: group name empty");
        }
        if g.bytes().last().is_some_and(|b| b.is_ascii_digit()) {
            return err("setifgroup: group names may not end in a digit");
        }
    }
    if g.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return err(format!("{who}: invalid group name {g}"));
    }
    Ok(())
}

pub(super) fn check_description(d: &str) -> Result<(), IfconfigError> {
    if d.len() >= IFDESCRSIZE {
        return err(format!(
            "description: too long ({} bytes, at most {})",
            d.len(),
            IFDESCRSIZE - 1
        ));
    }
    Ok(())
}

pub(super) fn range_u8(kw: &str, v: u8, min: u8, max: u8) -> Result<(), IfconfigError> {
    if v < min {
        err(format!("{kw} {v}: too small"))
    } else if v > max {
        err(format!("{kw} {v}: too large"))
    } else {
        Ok(())
    }
}

pub(super) fn check_mtu(m: u32) -> Result<(), IfconfigError> {
    if i64::from(m) > i64::from(i32::MAX) {
        return err(format!("mtu {m}: too large"));
    }
    Ok(())
}

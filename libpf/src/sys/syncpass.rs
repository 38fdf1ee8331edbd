//! The kernel side of pfsync's way past pfd's queue: an nftables table
//! (`ip pfd_syncpass`) whose chains run before pfd's hooks (priority
//! -350, before the raw table's -300) and mark pfsync frames (IP protocol
//! 240) of flows listed in its sets so that those hooks let them go
//! unqueued: frames coming in (set `in`, by input interface, source and
//! destination) get the mark of a packet already filtered, frames going
//! out (set `out`) the mark of a packet pfd generated. Every element
//! counts its packets and bytes. Which flows are listed is
//! daemon::syncpass's business: only those whose frames pf passed by a
//! state.
//!
//! Made and removed with pfd's hooks (sys::hooks); the elements are added
//! and read through nft(8), a few times a second at most.

use crate::sys::nftgate::nft;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The table's name (family ip).
pub const TABLE: &str = "pfd_syncpass";

/// Bumped each time the table is made afresh (its elements are gone).
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Whether this process made the table and did not remove it since.
static PRESENT: AtomicBool = AtomicBool::new(false);

/// The table's generation: a change means the elements must be added
/// again. None: no table (pf disabled, or not made yet).
pub fn generation() -> Option<u64> {
    PRESENT
        .load(Ordering::Relaxed)
        .then(|| GENERATION.load(Ordering::Relaxed))
}

/// Which way a listed frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Way {
    In,
    Out,
}

impl Way {
    fn set(self) -> &'static str {
        match self {
            Way::In => "in",
            Way::Out => "out",
        }
    }
}

/// One listed flow: frames from `src` to `dst` going `way` through
/// interface `ifname`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flow {
    pub way: Way,
    pub ifname: String,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

impl Flow {
    fn element(&self) -> String {
        format!("\"{}\" . {} . {}", self.ifname, self.src, self.dst)
    }
}

/// The script that makes the table (empty sets), replacing any left.
fn script() -> String {
    // The marks (see sys::hooks and daemon::onepass::mark): in, bit 31
    // and a code that is neither 0 (pfd's own) nor 0xff (deferred), which
    // PREROUTING's chain lets by; out, bit 31 and code 0, which
    // POSTROUTING's chain lets by. Bits 8..30 are kept.
    let set = "type ifname . ipv4_addr . ipv4_addr; counter;";
    format!(
        "table ip {TABLE} {{}}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n\
         \tset in {{ {set} }}\n\
         \tset out {{ {set} }}\n\
         \tchain pre {{ type filter hook prerouting priority -350; policy accept; \
         ip protocol 240 iifname . ip saddr . ip daddr @in meta mark set meta mark & 0x7fffff00 | 0x800000fe; }}\n\
         \tchain out {{ type filter hook output priority -350; policy accept; \
         ip protocol 240 oifname . ip saddr . ip daddr @out meta mark set meta mark & 0x7fffff00 | 0x80000000; }}\n\
         }}\n"
    )
}

/// Make the table afresh (no flow listed).
pub fn install() -> Result<(), String> {
    nft(&script()).map_err(|e| format!("nft table {TABLE}: {e}"))?;
    GENERATION.fetch_add(1, Ordering::Relaxed);
    PRESENT.store(true, Ordering::Relaxed);
    Ok(())
}

/// Remove the table, if there.
pub fn remove() -> Result<(), String> {
    PRESENT.store(false, Ordering::Relaxed);
    nft(&format!("table ip {TABLE} {{}}\ndelete table ip {TABLE}\n"))
        .map_err(|e| format!("nft table {TABLE}: {e}"))
}

/// Add `add` and delete `del`, in one transaction.
pub fn change(add: &[Flow], del: &[Flow]) -> Result<(), String> {
    let mut s = String::new();
    for (verb, flows) in [("delete", del), ("add", add)] {
        for f in flows {
            s.push_str(&format!(
                "{verb} element ip {TABLE} {} {{ {} }}\n",
                f.way.set(),
                f.element()
            ));
        }
    }
    if s.is_empty() {
        return Ok(());
    }
    nft(&s).map_err(|e| format!("nft table {TABLE}: {e}"))
}

/// Packets and bytes counted for one listed flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub packets: u64,
    pub bytes: u64,
}

/// The counters of every listed flow.
pub fn counters() -> Result<Vec<(Flow, Count)>, String> {
    let mut v = Vec::new();
    for way in [Way::In, Way::Out] {
        let out = Command::new("nft")
            .args(["list", "set", "ip", TABLE, way.set()])
            .output()
            .map_err(|e| format!("nft: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "nft list set {}: {}",
                way.set(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        parse_elements(way, &String::from_utf8_lossy(&out.stdout), &mut v);
    }
    Ok(v)
}

/// The elements of `nft list set` output: `"if" . a . b counter packets
/// N bytes M`, comma-separated inside `elements = { ... }`. Elements
/// that do not read so are skipped.
fn parse_elements(way: Way, text: &str, v: &mut Vec<(Flow, Count)>) {
    let Some(start) = text.find("elements = {") else {
        return;
    };
    let body = &text[start + "elements = {".len()..];
    let body = body.split('}').next().unwrap_or("");
    for e in body.split(',') {
        let w: Vec<&str> = e.split_whitespace().collect();
        // "if" . a . b counter packets N bytes M
        if w.len() != 10 || w[1] != "." || w[3] != "." || w[5] != "counter" {
            continue;
        }
        let (Ok(src), Ok(dst)) = (w[2].parse(), w[4].parse()) else {
            continue;
        };
        let (Ok(packets), Ok(bytes)) = (w[7].parse(), w[9].parse()) else {
            continue;
        };
        let ifname = w[0].trim_matches('"').to_string();
        v.push((
            Flow {
                way,
                ifname,
                src,
                dst,
            },
            Count { packets, bytes },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_listed_elements() {
        let text = "table ip pfd_syncpass {\n\tset out {\n\t\ttype ifname . ipv4_addr . ipv4_addr\n\t\tcounter\n\t\telements = { \"sync0\" . 10.0.0.1 . 224.0.0.240 counter packets 12 bytes 3400,\n\t\t\t     \"sync0\" . 10.0.0.1 . 10.0.0.2 counter packets 0 bytes 0 }\n\t}\n}\n";
        let mut v = Vec::new();
        parse_elements(Way::Out, text, &mut v);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].0.ifname, "sync0");
        assert_eq!(v[0].0.dst, Ipv4Addr::new(224, 0, 0, 240));
        assert_eq!(
            v[0].1,
            Count {
                packets: 12,
                bytes: 3400
            }
        );
        assert_eq!(v[1].0.dst, Ipv4Addr::new(10, 0, 0, 2));
        // An empty set has no elements line.
        let mut v = Vec::new();
        parse_elements(
            Way::In,
            "table ip pfd_syncpass {\n\tset in {\n\t}\n}\n",
            &mut v,
        );
        assert!(v.is_empty());
    }

    #[test]
    fn script_hooks_before_pfd() {
        let s = script();
        assert!(s.contains("hook prerouting priority -350"));
        assert!(s.contains("hook output priority -350"));
        assert!(s.starts_with("table ip pfd_syncpass {}\ndelete table ip pfd_syncpass\n"));
    }
}

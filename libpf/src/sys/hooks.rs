//! pfd's packet hooks in netfilter: packets go to NFQUEUE at PREROUTING
//! (pf's `in`) and POSTROUTING (pf's `out`), untracked by conntrack so the
//! kernel does not translate behind pf's back. Installed by `pfctl -e`,
//! removed by `pfctl -d`, in chains of their own (PFD_*) so no other rule
//! of the system is touched. Without `--queue-bypass`: when pfd is not
//! reading the queue, packets are dropped (fail-closed). Packets of
//! established flows that pfd's fast path (sys::fastpath) passed in the
//! kernel carry the mark of a packet filtered both ways and are not
//! queued.
//!
//! The kernels this runs on build the xtables NFQUEUE target but not the
//! nftables `queue` expression, so the rules go in through iptables (which
//! is iptables-nft on Debian).

use std::io;
use std::process::Command;

/// The mark bit of packets pfd generates itself (RSTs, ICMP errors): they
/// skip the queue, as OpenBSD tags its own replies (see engine::mtag).
pub const GENERATED_MARK: u32 = crate::engine::mtag::GENERATED_BIT;
/// What the POSTROUTING chain looks at: the generated bit, and the low
/// byte, which on a packet filtered `out` ahead of time is the code of the
/// interface it was filtered for (0 for pfd's own packets; see
/// daemon::onepass).
pub const GENERATED_MASK: u32 = crate::engine::mtag::GENERATED_BIT | 0xff;

/// pfd's changes to its chains, one at a time (`with_lock`).
static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Run `f` while no other thread of this process changes the chains
/// through `with_lock`.
pub fn with_lock<T>(f: impl FnOnce() -> T) -> T {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

const PRE_CHAIN: &str = "PFD_PRE";
const OUT_CHAIN: &str = "PFD_OUT";
const POST_CHAIN: &str = "PFD_POST";

/// Where the hooks send packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookConfig {
    /// First NFQUEUE number.
    pub queue: u16,
    /// Number of queues. More than one: each packet goes to the queue of
    /// the CPU it came in on (--queue-balance with --queue-cpu-fanout), so
    /// flows spread as the NIC's receive hash (RSS, RPS) spreads them,
    /// ports and all; --queue-balance alone hashes the addresses only,
    /// and put every flow between two hosts on one queue.
    pub queues: u16,
}

impl Default for HookConfig {
    fn default() -> Self {
        HookConfig {
            queue: 7066,
            queues: 1,
        }
    }
}

fn run(tool: &str, args: &[&str]) -> io::Result<bool> {
    let out = Command::new(tool)
        .arg("-w")
        .args(args)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{tool}: {e}")))?;
    Ok(out.status.success())
}

fn must(tool: &str, args: &[&str]) -> io::Result<()> {
    let out = Command::new(tool)
        .arg("-w")
        .args(args)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{tool}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{tool} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The iptables front ends present (iptables, ip6tables).
pub fn available_tools() -> Vec<&'static str> {
    ["iptables", "ip6tables"]
        .into_iter()
        .filter(|t| {
            Command::new(t)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect()
}

fn queue_target(cfg: &HookConfig) -> Vec<String> {
    let mut v = vec!["-j".to_string(), "NFQUEUE".to_string()];
    if cfg.queues > 1 {
        v.push("--queue-balance".into());
        v.push(format!("{}:{}", cfg.queue, cfg.queue + cfg.queues - 1));
        v.push("--queue-cpu-fanout".into());
    } else {
        v.push("--queue-num".into());
        v.push(cfg.queue.to_string());
    }
    v
}

/// Install the hooks (replacing any left over).
pub fn install(cfg: &HookConfig) -> io::Result<()> {
    let tools = available_tools();
    if !tools.contains(&"iptables") {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "iptables not found: cannot hook into netfilter",
        ));
    }
    remove_chains()?;
    let mark = format!("0x{GENERATED_MARK:08x}/0x{GENERATED_MASK:08x}");
    let own = mark.clone();
    let defer = format!("0x{:08x}/0x{GENERATED_MASK:08x}", GENERATED_MARK | 0xff);
    let fast = format!("0x{GENERATED_MARK:08x}/0x{GENERATED_MARK:08x}");
    let target = queue_target(cfg);
    let target: Vec<&str> = target.iter().map(|s| s.as_str()).collect();
    for tool in tools {
        // raw PREROUTING: untrack, then queue (pf "in").
        must(tool, &["-t", "raw", "-N", PRE_CHAIN])?;
        must(
            tool,
            &["-t", "raw", "-A", PRE_CHAIN, "-j", "CT", "--notrack"],
        )?;
        // Packets the fast path passed (sys::fastpath) come with the mark
        // of both passes done (the generated bit and an interface code,
        // daemon::onepass): not queued. pfd's own packets (code 0) and
        // anything else are.
        for m in [&own, &defer] {
            let mut q = vec!["-t", "raw", "-A", PRE_CHAIN, "-m", "mark", "--mark", m];
            q.extend_from_slice(&target);
            must(tool, &q)?;
        }
        must(
            tool,
            &[
                "-t", "raw", "-A", PRE_CHAIN, "-m", "mark", "--mark", &fast, "-j", "RETURN",
            ],
        )?;
        let mut q = vec!["-t", "raw", "-A", PRE_CHAIN];
        q.extend_from_slice(&target);
        must(tool, &q)?;
        // raw OUTPUT: untrack locally generated packets too.
        must(tool, &["-t", "raw", "-N", OUT_CHAIN])?;
        must(
            tool,
            &["-t", "raw", "-A", OUT_CHAIN, "-j", "CT", "--notrack"],
        )?;
        // mangle POSTROUTING: queue (pf "out"), except pfd's own replies
        // (and, by rules `allow_filtered` inserts after this one, packets
        // filtered `out` already for the interface they leave by).
        must(tool, &["-t", "mangle", "-N", POST_CHAIN])?;
        must(
            tool,
            &[
                "-t", "mangle", "-A", POST_CHAIN, "-m", "mark", "--mark", &mark, "-j", "RETURN",
            ],
        )?;
        let mut q = vec!["-t", "mangle", "-A", POST_CHAIN];
        q.extend_from_slice(&target);
        must(tool, &q)?;
        must(
            tool,
            &["-t", "raw", "-I", "PREROUTING", "1", "-j", PRE_CHAIN],
        )?;
        must(tool, &["-t", "raw", "-I", "OUTPUT", "1", "-j", OUT_CHAIN])?;
        must(
            tool,
            &["-t", "mangle", "-I", "POSTROUTING", "1", "-j", POST_CHAIN],
        )?;
    }
    // pfsync's frames past the queue once pf passed their flow
    // (daemon::syncpass): an empty table now.
    crate::sys::syncpass::install().map_err(io::Error::other)?;
    Ok(())
}

/// Let packets marked as filtered `out` for interface `ifname` (code
/// `code`, see daemon::onepass) leave by that interface without being
/// queued again; marked so but leaving by another, they are still queued.
pub fn allow_filtered(ifname: &str, code: u8) -> io::Result<()> {
    let mark = format!(
        "0x{:08x}/0x{GENERATED_MASK:08x}",
        GENERATED_MARK | code as u32
    );
    for tool in available_tools() {
        must(
            tool,
            &[
                "-t", "mangle", "-I", POST_CHAIN, "2", "-o", ifname, "-m", "mark", "--mark", &mark,
                "-j", "RETURN",
            ],
        )?;
    }
    Ok(())
}

/// Remove the hooks, if present, and the raw and mangle tables that
/// iptables made for them when nothing else is left in them (their empty
/// base chains would still see every packet). Other rules are left alone.
pub fn remove() -> io::Result<()> {
    remove_chains()?;
    for family in ["ip", "ip6"] {
        for table in ["raw", "mangle"] {
            drop_if_empty(family, table);
        }
    }
    Ok(())
}

/// Delete nftables table `family` `table` when it holds nothing but base
/// chains without rules that accept (iptables-nft's built-in chains as
/// iptables leaves them). Nothing happens otherwise, or without nft.
fn drop_if_empty(family: &str, table: &str) {
    let Ok(out) = Command::new("nft")
        .args(["list", "table", family, table])
        .output()
    else {
        return;
    };
    if out.status.success() && only_empty_base_chains(&String::from_utf8_lossy(&out.stdout)) {
        let _ = Command::new("nft")
            .args(["delete", "table", family, table])
            .output();
    }
}

/// Does this `nft list table` text hold nothing but base chains with no
/// rules and an accept policy?
fn only_empty_base_chains(listing: &str) -> bool {
    let mut lines = listing.lines().map(str::trim).filter(|l| !l.is_empty());
    if !lines
        .next()
        .is_some_and(|l| l.starts_with("table ") && l.ends_with('{'))
    {
        return false;
    }
    loop {
        match lines.next() {
            Some("}") => return lines.next().is_none(),
            Some(l) if l.starts_with("chain ") && l.ends_with('{') => {
                let base = lines.next().is_some_and(|l| {
                    l.starts_with("type filter hook ") && l.ends_with("policy accept;")
                });
                if !base || lines.next() != Some("}") {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Remove pfd's chains and the rules that jump to them, if present.
fn remove_chains() -> io::Result<()> {
    for tool in available_tools() {
        for (table, hook, chain) in [
            ("raw", "PREROUTING", PRE_CHAIN),
            ("raw", "OUTPUT", OUT_CHAIN),
            ("mangle", "POSTROUTING", POST_CHAIN),
        ] {
            while run(tool, &["-t", table, "-D", hook, "-j", chain])? {}
            run(tool, &["-t", table, "-F", chain])?;
            run(tool, &["-t", table, "-X", chain])?;
        }
    }
    crate::sys::syncpass::remove().map_err(io::Error::other)?;
    Ok(())
}

/// Are the hooks in place?
pub fn installed() -> bool {
    run(
        "iptables",
        &["-t", "raw", "-C", "PREROUTING", "-j", PRE_CHAIN],
    )
    .unwrap_or(false)
}

/// The rules of `chain` in `table` as `tool -S` prints them.
fn rules_of(tool: &str, table: &str, chain: &str) -> Option<String> {
    let out = Command::new(tool)
        .args(["-w", "-t", table, "-S", chain])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Are the hooks in place, in every front end, sending packets to the
/// queues of `cfg`? (Hooks found so are kept at start: replacing them
/// would let packets by meanwhile.)
pub fn installed_for(cfg: &HookConfig) -> bool {
    if !installed() {
        return false;
    }
    let target = queue_target(cfg)[2..].join(" ");
    available_tools().into_iter().all(|tool| {
        [("raw", PRE_CHAIN), ("mangle", POST_CHAIN)]
            .iter()
            .all(|(table, chain)| {
                rules_of(tool, table, chain).is_some_and(|r| {
                    r.lines()
                        .any(|l| l.contains("NFQUEUE") && l.ends_with(&target))
                })
            })
    })
}

/// Remove the rules `allow_filtered` added (the interface codes of an
/// earlier pfd mean nothing to this one); the rest of the chain stays.
pub fn forget_filtered() -> io::Result<()> {
    for tool in available_tools() {
        let Some(rules) = rules_of(tool, "mangle", POST_CHAIN) else {
            continue;
        };
        for l in rules.lines() {
            let words: Vec<&str> = l.split_whitespace().collect();
            if words.first() != Some(&"-A") || !words.contains(&"-o") {
                continue;
            }
            let mut args = vec!["-t", "mangle", "-D"];
            args.extend_from_slice(&words[1..]);
            must(tool, &args)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::only_empty_base_chains;

    #[test]
    fn empty_tables_are_only_iptables_leftovers() {
        let left = "table ip raw {\n\tchain PREROUTING {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t}\n\n\tchain OUTPUT {\n\t\ttype filter hook output priority raw; policy accept;\n\t}\n}\n";
        assert!(only_empty_base_chains(left));
        let rule = left.replace(
            "policy accept;\n\t}\n\n",
            "policy accept;\n\t\tcounter packets 0 bytes 0 drop\n\t}\n\n",
        );
        assert!(!only_empty_base_chains(&rule));
        assert!(!only_empty_base_chains(
            &left.replace("policy accept", "policy drop")
        ));
        let set = left.replace(
            "{\n\tchain",
            "{\n\tset s {\n\t\ttype ipv4_addr\n\t}\n\tchain",
        );
        assert!(!only_empty_base_chains(&set));
        let regular = "table ip mangle {\n\tchain mine {\n\t}\n}\n";
        assert!(!only_empty_base_chains(regular));
        assert!(!only_empty_base_chains(""));
    }
}

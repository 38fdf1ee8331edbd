//! pfcore stays pure: `cargo tree -p pfcore -e normal,no-proc-macro` (what
//! pfcore links) names none of the crates that reach the system: libc,
//! nix, socket2, the netlink and NFQUEUE crates, syslog, signal-hook.
//! pest is used without its `std` feature, whose stack guard would bring
//! libc (pest_stack_guard -> stacker); conf::parser bounds the nesting
//! itself (MAX_NESTING). The proc-macros (pest_derive, serde_derive) run
//! in the compiler and link nothing into pfcore.

use std::process::Command;

const SYSTEM: &[&str] = &[
    "libc",
    "nix",
    "socket2",
    "nfq",
    "netlink-sys",
    "netlink-packet-core",
    "netlink-packet-route",
    "syslog",
    "signal-hook",
    "stacker",
    "psm",
];

/// The crates `cargo tree` lists for pfcore, one name per line.
fn linked_crates() -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "-p", "pfcore"])
        .args(["-e", "normal,no-proc-macro", "--prefix", "none"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn pfcore_links_no_system_crate() {
    let all = linked_crates();
    assert!(all.iter().any(|c| c == "pfcore"), "{all:?}");
    assert!(all.iter().any(|c| c == "pest"), "{all:?}");
    let found: Vec<&String> = all
        .iter()
        .filter(|c| SYSTEM.contains(&c.as_str()))
        .collect();
    assert!(found.is_empty(), "pfcore links system crates: {found:?}");
}

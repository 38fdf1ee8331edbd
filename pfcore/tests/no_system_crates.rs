//! pfcore stays pure: `cargo tree -p pfcore` (normal dependencies) names
//! none of the crates that reach the system (libc, nix, socket2, the
//! netlink and NFQUEUE crates, syslog, signal-hook), with one exception
//! checked as such: pest's stack guard (pest -> pest_stack_guard ->
//! stacker -> libc) asks the C library for the thread's stack bounds, so
//! that a pf.conf nested too deep is a syntax error, not a stack overflow.

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
];

/// `cargo tree -p pfcore -e normal --prefix depth` with `args`: (depth,
/// crate name) per line.
fn tree(args: &[&str]) -> Vec<(usize, String)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "-p", "pfcore", "-e", "normal"])
        .args(["--prefix", "depth"])
        .args(args)
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
        .filter_map(|l| {
            let digits = l.chars().take_while(char::is_ascii_digit).count();
            let depth = l[..digits].parse().ok()?;
            let name = l[digits..].split_whitespace().next()?;
            Some((depth, name.to_string()))
        })
        .collect()
}

/// Whether every path from `users` (the inverted tree of libc) up to
/// pfcore goes through pest's stack guard: libc's users are stacker and
/// psm only, theirs stacker and pest_stack_guard only.
fn only_pests_guard(users: &[(usize, String)]) -> bool {
    users.iter().all(|(depth, name)| match depth {
        0 => name == "libc",
        1 => name == "stacker" || name == "psm",
        2 => name == "stacker" || name == "pest_stack_guard",
        _ => true,
    })
}

#[test]
fn pfcore_depends_on_no_system_crate() {
    let all = tree(&[]);
    assert!(all.iter().any(|(_, c)| c == "pfcore"), "{all:?}");
    for c in SYSTEM {
        if !all.iter().any(|(_, n)| n == c) {
            continue;
        }
        let users = tree(&["-i", c]);
        assert!(
            *c == "libc" && only_pests_guard(&users),
            "pfcore reaches the system crate {c}: {users:?}"
        );
    }
}

#[test]
fn the_check_tells_pests_guard_from_a_direct_use() {
    let t = |v: &[(usize, &str)]| -> Vec<(usize, String)> {
        v.iter().map(|(d, n)| (*d, n.to_string())).collect()
    };
    let guard = t(&[
        (0, "libc"),
        (1, "stacker"),
        (2, "pest_stack_guard"),
        (3, "pest"),
    ]);
    assert!(only_pests_guard(&guard));
    assert!(!only_pests_guard(&t(&[(0, "libc"), (1, "pfcore")])));
    assert!(!only_pests_guard(&t(&[
        (0, "libc"),
        (1, "stacker"),
        (2, "pfcore")
    ])));
}

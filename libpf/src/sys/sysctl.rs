//! Kernel parameters under /proc/sys, named as sysctl(8) names them.
//!
//! This module owns reading and writing sysctls (arp_ignore/arp_announce
//! on carp interfaces, accept_dad, forwarding, ...). Keys come in the
//! dotted form, `net.ipv4.conf.eth0.arp_ignore`, where a `/` stands for a
//! `.` inside a component (`net.ipv4.conf.eth0/100.arp_ignore` for the
//! VLAN interface `eth0.100`), or in the slash form,
//! `net/ipv4/conf/eth0.100/arp_ignore`, where dots are literal: as
//! procps' sysctl decides, the form is the first separator's. A leading
//! `/proc/sys/` is accepted. Keys never reach outside /proc/sys.
//!
//! The net.* tree is per network namespace: it is the one of the calling
//! thread.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;

const ROOT: &str = "/proc/sys";

/// The file behind `key`.
pub fn path(key: &str) -> io::Result<PathBuf> {
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sysctl {key:?}: {why}"),
        )
    };
    let rel = key.strip_prefix("/proc/sys/").unwrap_or(key);
    let slash_form = rel
        .find(['.', '/'])
        .is_none_or(|i| rel.as_bytes()[i] == b'/');
    let rel: String = if slash_form {
        rel.to_string()
    } else {
        rel.chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect()
    };
    if rel.contains('\0') {
        return Err(bad("contains NUL"));
    }
    if rel
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad("not a sysctl name"));
    }
    Ok(PathBuf::from(ROOT).join(rel))
}

fn fail(key: &str, what: &str, e: io::Error) -> io::Error {
    let detail = match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    };
    io::Error::new(e.kind(), format!("sysctl {key}{what}: {detail}"))
}

/// Sets `key` to `value` (written as is, in one write).
pub fn write(key: &str, value: &str) -> io::Result<()> {
    let p = path(key)?;
    let ctx = |e| fail(key, &format!("={value}"), e);
    let mut f = fs::OpenOptions::new().write(true).open(p).map_err(ctx)?;
    f.write_all(value.as_bytes()).map_err(ctx)
}

/// The value of `key`, without its trailing newline.
pub fn read(key: &str) -> io::Result<String> {
    let p = path(key)?;
    let mut s = fs::read_to_string(p).map_err(|e| fail(key, "", e))?;
    while s.ends_with('\n') {
        s.pop();
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::netlink::tests::in_netns;

    fn p(key: &str) -> String {
        path(key).unwrap().to_string_lossy().into_owned()
    }

    #[test]
    fn sysctl_key_forms() {
        assert_eq!(
            p("net.ipv4.conf.eth0.arp_ignore"),
            "/proc/sys/net/ipv4/conf/eth0/arp_ignore"
        );
        assert_eq!(
            p("net.ipv4.conf.eth0/100.arp_ignore"),
            "/proc/sys/net/ipv4/conf/eth0.100/arp_ignore"
        );
        assert_eq!(
            p("net/ipv4/conf/eth0.100/arp_ignore"),
            "/proc/sys/net/ipv4/conf/eth0.100/arp_ignore"
        );
        assert_eq!(
            p("/proc/sys/net/ipv4/ip_forward"),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(p("kernel"), "/proc/sys/kernel");
        for bad in [
            "",
            "net..ipv4",
            "net.ipv4.",
            "net/../../etc/passwd",
            "/etc/passwd",
            "net/./x",
            "a\0b",
        ] {
            let e = path(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn sysctl_read_host_key() {
        assert_eq!(read("kernel.ostype").unwrap(), "Linux");
        assert_eq!(read("kernel/ostype").unwrap(), "Linux");
        let e = read("net.ipv4.conf.no-such-if.arp_ignore").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "sysctl net.ipv4.conf.no-such-if.arp_ignore: No such file or directory"
        );
    }

    /// Needs root: writes happen in a private network namespace.
    #[test]
    fn sysctl_write_in_private_netns() {
        in_netns(|nl| {
            nl.create_veth("v.1", "v.2").unwrap();
            write("net.ipv4.conf.v/1.arp_ignore", "1").unwrap();
            assert_eq!(read("net/ipv4/conf/v.1/arp_ignore").unwrap(), "1");
            write("net/ipv4/conf/v.1/arp_ignore", "2\n").unwrap();
            assert_eq!(read("net.ipv4.conf.v/1.arp_ignore").unwrap(), "2");
            assert_eq!(read("net.ipv4.conf.v/2.arp_ignore").unwrap(), "0");
            let e = write("net.ipv4.conf.v/1.arp_ignore", "bogus").unwrap_err();
            assert_eq!(
                e.to_string(),
                "sysctl net.ipv4.conf.v/1.arp_ignore=bogus: Invalid argument"
            );
            let e = write("net.ipv4.conf.nope.arp_ignore", "1").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
        });
    }
}

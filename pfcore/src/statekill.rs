//! pfctl's `-k` arguments: which states to kill (pfctl_net_kill_states,
//! pfctl_label_kill_states, pfctl_id_kill_states, pfctl_key_kill_states),
//! with pfctl's messages for what it refuses.
//!
//! ```text
//! -k host [-k host]        states from a host or network (to another)
//! -k label -k NAME         states made by rules labelled NAME
//! -k id -k ID[/CREATORID]  one state, ids in hex as pfctl -vvss shows them
//! -k key -k "proto h1:p1 -> h2:p2"
//!                          one connection, written as pfctl -ss writes it
//!                          (<- for inbound states; IPv6 hosts as addr[port])
//! ```

use crate::engine::state::StateKill;
use std::net::IpAddr;

/// What `-k` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillCmd {
    /// `-k host [-k host]`: names or networks, resolved by the caller.
    Hosts(String, Option<String>),
    /// `-k label`, `-k id`, `-k key`: a ready filter.
    Filter(StateKill),
}

/// Why `-k` arguments are refused, as pfctl says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillError {
    /// pfctl warns and prints its usage (exit 1).
    Usage(String),
    /// pfctl exits with the message (errx).
    Fatal(String),
}

/// Read the `-k` arguments. `protocol` maps a protocol name to its number
/// (getprotobyname).
pub fn parse(args: &[String], protocol: &dyn Fn(&str) -> Option<u8>) -> Result<KillCmd, KillError> {
    let usage = |m: &str| Err(KillError::Usage(m.to_string()));
    let (first, second) = match args {
        [] => return usage("no state given"),
        [a] => (a.as_str(), None),
        [a, b] => (a.as_str(), Some(b.as_str())),
        _ => return usage("can only specify -k twice"),
    };
    let arg = second.filter(|s| !s.is_empty());
    match first {
        "label" => {
            let Some(label) = arg else {
                return usage("no label specified");
            };
            // PF_RULE_LABEL_SIZE (64) with its NUL.
            if label.len() >= 64 {
                return Err(KillError::Fatal(format!("label too long: {label}")));
            }
            Ok(KillCmd::Filter(StateKill {
                label: Some(label.to_string()),
                ..StateKill::default()
            }))
        }
        "id" => {
            let Some(text) = arg else {
                return usage("no id specified");
            };
            let (id, creator) = parse_id(text)
                .ok_or_else(|| KillError::Usage("wrong id format specified".to_string()))?;
            if id == 0 {
                return usage("cannot kill id 0");
            }
            Ok(KillCmd::Filter(StateKill {
                id: Some((id, creator)),
                ..StateKill::default()
            }))
        }
        "key" => {
            let Some(text) = arg else {
                return usage("no key specified");
            };
            parse_key(text, protocol).map(KillCmd::Filter)
        }
        host => Ok(KillCmd::Hosts(host.to_string(), second.map(str::to_string))),
    }
}

/// Leading hex digits of `s` as sscanf's `%llx` reads them (an optional
/// `0x`), and the rest.
fn hex_prefix(s: &str) -> Option<(u64, &str)> {
    let s = s.trim_start();
    let body = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let n = body.bytes().take_while(u8::is_ascii_hexdigit).count();
    if n == 0 {
        return None;
    }
    let v = u64::from_str_radix(&body[..n], 16).ok()?;
    Some((v, &body[n..]))
}

/// `ID` or `ID/CREATORID`, both hex (sscanf "%llx/%x", then "%llx").
fn parse_id(s: &str) -> Option<(u64, u32)> {
    let (id, rest) = hex_prefix(s)?;
    if let Some(c) = rest.strip_prefix('/') {
        if let Some((creator, _)) = hex_prefix(c) {
            return Some((id, u32::try_from(creator).ok()?));
        }
    }
    Some((id, 0))
}

/// `host:port` for IPv4, `addr[port]` for IPv6 (pfctl_parse_host).
fn parse_host(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = if let (Some(b), Some(e)) = (s.find('['), s.rfind(']')) {
        if e < b {
            return None;
        }
        let a: std::net::Ipv6Addr = s[..b].parse().ok()?;
        (IpAddr::V6(a), &s[b + 1..e])
    } else {
        let (a, p) = s.split_once(':')?;
        let a: std::net::Ipv4Addr = a.parse().ok()?;
        (IpAddr::V4(a), p)
    };
    Some((addr, port.parse().ok()?))
}

fn parse_key(text: &str, protocol: &dyn Fn(&str) -> Option<u8>) -> Result<StateKill, KillError> {
    let fatal = |m: String| Err(KillError::Fatal(m));
    let tokens: Vec<&str> = text.split([' ', '\t']).filter(|t| !t.is_empty()).collect();
    let [proto, a, dir, b] = tokens.as_slice() else {
        return fatal(
            "pfctl_key_kill_states: key must be \"protocol host1:port1 direction host2:port2\" format"
                .to_string(),
        );
    };
    let Some(proto) = protocol(proto) else {
        return fatal(format!("invalid protocol: {proto}"));
    };
    let (src, dst) = match *dir {
        "->" => (a, b),
        "<-" => (b, a),
        d => return fatal(format!("invalid direction: {d}")),
    };
    let Some((sa, sp)) = parse_host(src) else {
        return fatal(format!("invalid host: {src}"));
    };
    let Some((da, dp)) = parse_host(dst) else {
        return fatal(format!("invalid host: {dst}"));
    };
    Ok(StateKill {
        proto: Some(proto),
        src: Some(crate::addr::IpNet::host(sa)),
        dst: Some(crate::addr::IpNet::host(da)),
        src_port: Some(sp),
        dst_port: Some(dp),
        ..StateKill::default()
    })
}

/// `-x level`: pfctl's list of level names, matched by prefix (an
/// ambiguous prefix is an error), as a syslog priority.
pub fn debug_arg(word: &str) -> Result<u8, String> {
    const LEVELS: [&str; 8] = [
        "debug", "info", "notice", "warning", "error", "crit", "alert", "emerg",
    ];
    let hits: Vec<&str> = if word.is_empty() {
        vec![]
    } else {
        LEVELS
            .iter()
            .copied()
            .filter(|l| l.starts_with(word))
            .collect()
    };
    match hits.as_slice() {
        [one] => crate::engine::status::debug_level(one)
            .ok_or_else(|| format!("Unknown debug level '{word}'")),
        [] => Err(format!("Unknown debug level '{word}'")),
        _ => Err(format!("{word} is ambigious")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(n: &str) -> Option<u8> {
        match n {
            "tcp" => Some(6),
            "udp" => Some(17),
            "icmp" => Some(1),
            _ => None,
        }
    }

    fn p(args: &[&str]) -> Result<KillCmd, KillError> {
        parse(
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &proto,
        )
    }

    #[test]
    fn hosts_labels_and_ids() {
        assert_eq!(
            p(&["10.0.0.1"]),
            Ok(KillCmd::Hosts("10.0.0.1".into(), None))
        );
        assert_eq!(
            p(&["10.0.0.1", "10.0.0.0/24"]),
            Ok(KillCmd::Hosts(
                "10.0.0.1".into(),
                Some("10.0.0.0/24".into())
            ))
        );
        assert_eq!(
            p(&["label"]),
            Err(KillError::Usage("no label specified".into()))
        );
        assert_eq!(
            p(&["label", ""]),
            Err(KillError::Usage("no label specified".into()))
        );
        let Ok(KillCmd::Filter(k)) = p(&["label", "web"]) else {
            panic!()
        };
        assert_eq!(k.label.as_deref(), Some("web"));
        let Ok(KillCmd::Filter(k)) = p(&["id", "000000005f1a2b3c/8f1e2d3c"]) else {
            panic!()
        };
        assert_eq!(k.id, Some((0x5f1a2b3c, 0x8f1e2d3c)));
        let Ok(KillCmd::Filter(k)) = p(&["id", "1a"]) else {
            panic!()
        };
        assert_eq!(k.id, Some((0x1a, 0)));
        assert_eq!(
            p(&["id", "0"]),
            Err(KillError::Usage("cannot kill id 0".into()))
        );
        assert_eq!(
            p(&["id", "zz"]),
            Err(KillError::Usage("wrong id format specified".into()))
        );
        assert_eq!(p(&["id"]), Err(KillError::Usage("no id specified".into())));
    }

    #[test]
    fn keys_as_pfctl_ss_writes_them() {
        let Ok(KillCmd::Filter(k)) = p(&["key", "tcp 10.1.0.2:40000 -> 10.2.0.2:80"]) else {
            panic!()
        };
        assert_eq!(
            (
                k.proto,
                k.src.map(|n| n.addr),
                k.src_port,
                k.dst.map(|n| n.addr),
                k.dst_port
            ),
            (
                Some(6),
                Some("10.1.0.2".parse().unwrap()),
                Some(40000),
                Some("10.2.0.2".parse().unwrap()),
                Some(80)
            )
        );
        // `<-` turns it around; IPv6 hosts in brackets.
        let Ok(KillCmd::Filter(k)) = p(&["key", "udp  2001:db8::1[53]\t<- 2001:db8::2[5353]"])
        else {
            panic!()
        };
        assert_eq!(k.src.map(|n| n.addr), Some("2001:db8::2".parse().unwrap()));
        assert_eq!((k.src_port, k.dst_port), (Some(5353), Some(53)));
        let fatal = |m: &str| Err(KillError::Fatal(m.to_string()));
        assert_eq!(p(&["key", "tcp 1.2.3.4:1 ->"]), fatal("pfctl_key_kill_states: key must be \"protocol host1:port1 direction host2:port2\" format"));
        assert_eq!(
            p(&["key", "xyz 1.2.3.4:1 -> 1.2.3.5:2"]),
            fatal("invalid protocol: xyz")
        );
        assert_eq!(
            p(&["key", "tcp 1.2.3.4:1 => 1.2.3.5:2"]),
            fatal("invalid direction: =>")
        );
        assert_eq!(
            p(&["key", "tcp 1.2.3.4 -> 1.2.3.5:2"]),
            fatal("invalid host: 1.2.3.4")
        );
    }

    #[test]
    fn debug_levels_by_prefix() {
        assert_eq!(debug_arg("debug"), Ok(7));
        assert_eq!(debug_arg("n"), Ok(5));
        assert_eq!(debug_arg("error"), Ok(3));
        assert_eq!(debug_arg("e"), Err("e is ambigious".into()));
        assert_eq!(debug_arg("loud"), Err("Unknown debug level 'loud'".into()));
        assert_eq!(
            crate::engine::status::debug_name(debug_arg("warning").unwrap()),
            "warn"
        );
    }
}

//! What the command-line tools share on the client side of the control
//! socket: a name resolver that knows pfd's carp interfaces, loading a
//! ruleset (into the main ruleset or an anchor) as one transaction, and the
//! ruleset checksum.

use crate::ioctl::client::Client;
use crate::ioctl::frame::FrameError;
use crate::ioctl::{Error, Reply, Request, ADDRS_PER_FRAME};
use crate::ruleset::{Rule, Ruleset};
use crate::sys::resolve::SystemResolver;
use sha1::{Digest, Sha1};

/// The system resolver, plus the configured addresses of pfd's carp
/// interfaces (Linux only carries them while MASTER; pf.conf expects them
/// on the BACKUP too, as on OpenBSD) and pfd's interface groups (`egress`,
/// administrative groups), so that `from egress` expands as pfctl does.
pub fn resolver(client: Option<&mut Client>) -> SystemResolver {
    let mut r = SystemResolver::new();
    let Some(c) = client else { return r };
    if let Ok(Reply::GroupMembers(g)) = c.call(&Request::GetGroupMembers) {
        r.groups = g.into_iter().collect();
    }
    let Ok(Reply::Interfaces(names)) = c.call(&Request::ListInterfaces) else {
        return r;
    };
    for name in names {
        if let Ok(Reply::Carp(Some(st))) = c.call(&Request::GetCarp { name: name.clone() }) {
            r.extra_ifaces
                .insert(name, st.config.addrs.iter().map(|a| a.net).collect());
        }
    }
    r
}

/// A digest of the ruleset, as `pfctl -vsi` shows under "Checksum" (OpenBSD
/// uses MD5 of the rules; this is the first 16 bytes of a SHA-1 of them).
pub fn checksum(rs: &Ruleset) -> String {
    let body = postcard::to_stdvec(&rs.rules).unwrap_or_default();
    let d = Sha1::digest(&body);
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Load `rs` at anchor `anchor` (`""`: the main ruleset, with its
/// options) in one transaction, as pfctl does: the file's rules, each
/// inline anchor that has rules and each `load anchor` file replace the
/// rulesets of their anchors (every other anchor keeps its rules), and the
/// tables they define are defined in their anchors. Nothing changes unless
/// every step works.
pub fn load(client: &mut Client, rs: &Ruleset, anchor: &str) -> Result<(), Error> {
    let ticket = match client.call(&Request::XBegin)? {
        Reply::Ticket(t) => t,
        other => return Err(Error::Protocol(format!("expected a ticket, got {other:?}"))),
    };
    let result = (|| {
        for (path, rules) in crate::ruleset::flatten(rs, anchor) {
            // An empty ruleset is sent too: it empties its anchor.
            let mut chunks = rules.chunks(1000).peekable();
            if chunks.peek().is_none() {
                client.call_ok(&Request::AddRules {
                    ticket,
                    anchor: path.clone(),
                    rules: vec![],
                })?;
            }
            for chunk in chunks {
                add_rules(client, ticket, &path, chunk)?;
            }
        }
        if anchor.is_empty() {
            client.call_ok(&Request::SetOptions {
                ticket,
                options: rs.options.clone(),
                checksum: checksum(rs),
            })?;
        }
        send_tables(client, ticket, rs, anchor)?;
        client.call_ok(&Request::XCommit { ticket })
    })();
    if result.is_err() {
        let _ = client.call(&Request::XRollback { ticket });
    }
    result
}

/// Add `rules` to `anchor` in the transaction, in halves if they do not
/// fit one request (rules with long address pools).
fn add_rules(client: &mut Client, ticket: u32, anchor: &str, rules: &[Rule]) -> Result<(), Error> {
    let req = Request::AddRules {
        ticket,
        anchor: anchor.to_string(),
        rules: rules.to_vec(),
    };
    match client.call_ok(&req) {
        Err(Error::Frame(FrameError::TooLarge { .. })) if rules.len() > 1 => {
            let (a, b) = rules.split_at(rules.len() / 2);
            add_rules(client, ticket, anchor, a)?;
            add_rules(client, ticket, anchor, b)
        }
        r => r,
    }
}

/// `pfctl -T load`: only the table definitions of `rs`, in one
/// transaction; the rules stay.
pub fn load_tables(client: &mut Client, rs: &Ruleset) -> Result<(), Error> {
    let ticket = match client.call(&Request::XBeginTables)? {
        Reply::Ticket(t) => t,
        other => return Err(Error::Protocol(format!("expected a ticket, got {other:?}"))),
    };
    let result = send_tables(client, ticket, rs, "")
        .and_then(|()| client.call_ok(&Request::XCommit { ticket }));
    if result.is_err() {
        let _ = client.call(&Request::XRollback { ticket });
    }
    result
}

/// The table definitions of `rs` loaded at anchor `base`, each in its
/// anchor below `base`.
fn send_tables(client: &mut Client, ticket: u32, rs: &Ruleset, base: &str) -> Result<(), Error> {
    for t in rs.loaded_tables() {
        let anchor = crate::ruleset::join(base, &t.anchor);
        client.call_ok(&Request::InaDefine {
            ticket,
            anchor: anchor.clone(),
            name: t.name.clone(),
            flags: t.flags,
            init_addr: t.init_addr,
        })?;
        let mut chunk = Vec::with_capacity(ADDRS_PER_FRAME.min(t.len()));
        for e in t.entries() {
            chunk.push(*e);
            if chunk.len() == ADDRS_PER_FRAME {
                client.call_ok(&Request::InaAddrs {
                    ticket,
                    anchor: anchor.clone(),
                    name: t.name.clone(),
                    addrs: std::mem::take(&mut chunk),
                })?;
            }
        }
        if !chunk.is_empty() {
            client.call_ok(&Request::InaAddrs {
                ticket,
                anchor: anchor.clone(),
                name: t.name.clone(),
                addrs: chunk,
            })?;
        }
    }
    Ok(())
}

/// Is `name` one of pfd's pseudo-interfaces (carpN, pfsync0)?
pub fn is_pseudo(name: &str) -> bool {
    name == "pfsync0"
        || (name.len() > 4
            && name.starts_with("carp")
            && name[4..].chars().all(|c| c.is_ascii_digit()))
}

/// `ifconfig NAME ARGS...` for a carp or pfsync interface: fetch its
/// configuration from pfd, apply the arguments the way ifconfig would, and
/// hand the result back to pfd. Nothing changes if any argument is wrong.
pub fn configure_pseudo(client: &mut Client, name: &str, args: &[String]) -> Result<(), String> {
    use crate::ifconfig::{apply_carp, apply_pfsync, parse_args};
    let ops = parse_args(args).map_err(|e| format!("{name}: {e}"))?;
    if name == "pfsync0" {
        let mut cfg = match client
            .call(&Request::GetPfsync)
            .map_err(|e| e.to_string())?
        {
            Reply::Pfsync(st) => st.config,
            other => return Err(format!("unexpected reply {other:?}")),
        };
        let acts = apply_pfsync(&mut cfg, &ops).map_err(|e| format!("{name}: {e}"))?;
        let req = if acts.destroy {
            Request::Destroy { name: name.into() }
        } else {
            Request::SetPfsync { config: cfg }
        };
        return client.call_ok(&req).map_err(|e| e.to_string());
    }
    if !is_pseudo(name) {
        return Err(format!("{name}: not a carp or pfsync interface"));
    }
    let (mut cfg, exists) = match client
        .call(&Request::GetCarp { name: name.into() })
        .map_err(|e| e.to_string())?
    {
        Reply::Carp(Some(st)) => (st.config, true),
        Reply::Carp(None) => (crate::carp::CarpConfig::default(), false),
        other => return Err(format!("unexpected reply {other:?}")),
    };
    let acts = apply_carp(&mut cfg, &ops).map_err(|e| format!("{name}: {e}"))?;
    if acts.destroy {
        if !exists {
            return Err(format!("{name}: no such interface"));
        }
        return client
            .call_ok(&Request::Destroy { name: name.into() })
            .map_err(|e| e.to_string());
    }
    client
        .call_ok(&Request::SetCarp {
            name: name.into(),
            config: cfg,
            force_state: acts.force_state,
        })
        .map_err(|e| e.to_string())
}

/// `ifconfig IF group NAME` / `-group NAME` for an interface that is not
/// a carp or pfsync interface (Linux has no interface groups: pfd keeps
/// them). Only those two words are taken; nothing changes if any
/// argument is wrong.
pub fn configure_groups(client: &mut Client, name: &str, args: &[String]) -> Result<(), String> {
    let ops = crate::ifconfig::parse_args(args).map_err(|e| format!("{name}: {e}"))?;
    apply_groups(client, name, &ops)
}

/// The `group` / `-group` operations of an ifconfig line, sent to pfd in
/// order; any other operation is refused before anything is sent.
pub fn apply_groups(
    client: &mut Client,
    name: &str,
    ops: &[crate::ifconfig::IfOp],
) -> Result<(), String> {
    use crate::ifconfig::IfOp;
    if let Some(op) = ops
        .iter()
        .find(|o| !matches!(o, IfOp::Group(_) | IfOp::NoGroup(_)))
    {
        return Err(format!(
            "{name}: {}: not a carp or pfsync interface: only group and -group apply (use ip(8))",
            op.keyword()
        ));
    }
    for op in ops {
        let req = match op {
            IfOp::Group(g) => Request::AddIfGroup {
                ifname: name.into(),
                group: g.clone(),
            },
            IfOp::NoGroup(g) => Request::DelIfGroup {
                ifname: name.into(),
                group: g.clone(),
            },
            _ => continue,
        };
        client.call_ok(&req).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// ifconfig's `groups:` line for any interface, as pfd sees it (`all`,
/// which every interface is in, left out as ifconfig does).
pub fn show_groups(client: &mut Client, name: &str) -> Result<String, String> {
    match client
        .call(&Request::GetIfGroups {
            ifname: name.into(),
        })
        .map_err(|e| e.to_string())?
    {
        Reply::Groups(g) => {
            let g: Vec<String> = g.into_iter().filter(|g| g != "all").collect();
            Ok(if g.is_empty() {
                format!("{name}:\n")
            } else {
                format!("{name}:\n\tgroups: {}\n", g.join(" "))
            })
        }
        other => Err(format!("unexpected reply {other:?}")),
    }
}

/// The ifconfig block of a carp or pfsync interface.
pub fn show_pseudo(client: &mut Client, name: &str) -> Result<String, String> {
    if name == "pfsync0" {
        return match client
            .call(&Request::GetPfsync)
            .map_err(|e| e.to_string())?
        {
            Reply::Pfsync(st) => Ok(crate::ifconfig::print_pfsync(&st)),
            other => Err(format!("unexpected reply {other:?}")),
        };
    }
    match client
        .call(&Request::GetCarp { name: name.into() })
        .map_err(|e| e.to_string())?
    {
        Reply::Carp(Some(st)) => Ok(crate::ifconfig::print_carp(&st)),
        Reply::Carp(None) => Err(format!("{name}: no such interface")),
        other => Err(format!("unexpected reply {other:?}")),
    }
}

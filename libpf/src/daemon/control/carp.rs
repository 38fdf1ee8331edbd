//! CARP requests: carp interfaces (SIOCSVH/SIOCGVH), destroying them,
//! and the net.inet.carp sysctls.

use super::Peer;
use crate::carp::{CarpConfig, CarpState, CarpStatus};
use crate::daemon::Shared;
use crate::errno::{EINVAL, ENOENT};
use crate::ioctl::Reply;

/// The pseudo-interfaces pfd knows.
pub(super) fn list_interfaces(shared: &Shared) -> Reply {
    let mut v = shared.carp().names();
    v.push("pfsync0".into());
    Reply::Interfaces(v)
}

/// SIOCGVH: a carp interface's status. The passphrase goes to root only
/// (as OpenBSD's SIOCGVH copies the key out for the superuser alone);
/// others learn whether one is set.
pub(super) fn get(shared: &Shared, peer: &Peer, name: &str) -> Reply {
    // The addresses as the state says, not still on their way.
    let settle = shared.carp().settler();
    if let Some(s) = settle {
        s.wait(std::time::Duration::from_secs(1));
    }
    let st = shared.carp().status_at(name, Some(shared.now()));
    Reply::Carp(if peer.uid == 0 {
        st
    } else {
        st.map(CarpStatus::redacted)
    })
}

/// SIOCSVH: create or reconfigure a carp interface.
pub(super) fn set(
    shared: &Shared,
    name: String,
    config: CarpConfig,
    force_state: Option<CarpState>,
) -> Reply {
    if config.balanced() && config.balancing.is_ip() && !shared.engine().enabled() {
        // The share is kept in pf's data path, which runs while pf is on.
        crate::log::warning(&format!(
            "{name}: balancing {}: pf is disabled, so this host forwards every flow it receives (both hosts do) until pfctl -e",
            config.balancing.name()
        ));
    }
    let r = shared
        .carp()
        .configure(&name, config, force_state, shared.now());
    match r {
        Ok(()) => {
            // The engine sees the interface and its addresses at once.
            let _ = crate::daemon::ifwatch::sync_links(shared);
            Reply::Ok
        }
        Err(m) => Reply::error(EINVAL, m),
    }
}

pub(super) fn destroy(shared: &Shared, name: String) -> Reply {
    let r = shared.carp().destroy(&name, shared.now());
    match r {
        Ok(()) => {
            let _ = crate::daemon::ifwatch::sync_links(shared);
            Reply::Ok
        }
        Err(m) => Reply::error(ENOENT, m),
    }
}

pub(super) fn sysctl(shared: &Shared, name: &str, value: Option<i64>) -> Reply {
    if let Some(v) = value {
        if !(0..=7).contains(&v) {
            return Reply::error(EINVAL, format!("{name}: {v}: invalid value"));
        }
    }
    let mut c = shared.carp();
    let current = match name {
        "net.inet.carp.preempt" => {
            if let Some(v) = value {
                c.preempt = v != 0;
            }
            c.preempt as i64
        }
        "net.inet.carp.allow" => {
            if let Some(v) = value {
                c.allow = v != 0;
            }
            c.allow as i64
        }
        "net.inet.carp.log" => {
            if let Some(v) = value {
                c.log_level = v;
            }
            c.log_level
        }
        _ => return Reply::error(ENOENT, format!("{name}: unknown oid")),
    };
    Reply::Sysctl(current)
}

//! Interface requests: the interface table (`pfctl -s Interfaces`,
//! `-i IF -F info`) and administrative interface groups (SIOCAIFGROUP,
//! SIOCDIFGROUP, SIOCGIFGROUP, SIOCGIFGMEMB), which Linux does not have and
//! pfd keeps in its interface table.

use crate::daemon::ifwatch;
use crate::daemon::Shared;
use crate::errno::ENOENT;
use crate::ioctl::Reply;

fn wall_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// DIOCIGETIFACES
pub(super) fn get(shared: &Shared, filter: Option<String>, now: u64) -> Reply {
    Reply::Ifaces(
        shared
            .engine()
            .interfaces(filter.as_deref(), now, wall_now()),
    )
}

/// DIOCCLRSTATUS for one interface or group.
pub(super) fn clear_stats(shared: &Shared, ifname: &str, now: u64) -> Reply {
    shared.engine().ifaces.clear_counters(ifname, now);
    Reply::Ok
}

/// Make sure the engine has seen `ifname` (it may have been created a
/// moment ago).
fn known(shared: &Shared, ifname: &str) -> bool {
    if shared.engine().ifaces.lookup(ifname).is_some() {
        return true;
    }
    let _ = ifwatch::sync_links(shared);
    shared.engine().ifaces.lookup(ifname).is_some()
}

/// SIOCAIFGROUP / SIOCDIFGROUP
pub(super) fn group(shared: &Shared, ifname: &str, group: &str, add: bool) -> Reply {
    known(shared, ifname);
    let now = shared.now_ms();
    let mut e = shared.engine();
    let r = if add {
        e.ifaces.add_group(ifname, group, now)
    } else {
        e.ifaces.del_group(ifname, group, now)
    };
    match r {
        Ok(()) => Reply::Ok,
        Err(g) => Reply::error(g.errno, g.message),
    }
}

/// SIOCGIFGROUP
pub(super) fn groups_of(shared: &Shared, ifname: &str) -> Reply {
    if !known(shared, ifname) {
        return Reply::error(ENOENT, format!("{ifname}: no such interface"));
    }
    let e = shared.engine();
    match e.ifaces.lookup(ifname).and_then(|i| e.ifaces.kif(i)) {
        Some(k) => Reply::Groups(k.groups.clone()),
        None => Reply::error(ENOENT, format!("{ifname}: no such interface")),
    }
}

/// SIOCGIFGMEMB for every group.
pub(super) fn members(shared: &Shared) -> Reply {
    let e = shared.engine();
    Reply::GroupMembers(
        e.ifaces
            .groups()
            .iter()
            .map(|(g, m)| (g.clone(), m.clone()))
            .collect(),
    )
}

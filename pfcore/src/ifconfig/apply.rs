//! Step 2: ops applied to a carp interface's or pfsync0's configuration
//! the way ifconfig and the kernel would, all or nothing, with what pfd
//! must do besides storing the new configuration.

use super::address::derived_broadcast;
use super::check::{check_description, check_group, check_mtu, check_name, range_u8};
use super::{err, CarpActions, IfOp, IfconfigError, PfsyncActions, CARP_GROUP, PFSYNC_GROUP};
use crate::carp::balance::{Balancing, CarpNode};
use crate::carp::{CarpConfig, CarpState, IfAddr, CARP_KEY_MAX};
use crate::pfsync::PfsyncConfig;
use std::net::Ipv4Addr;

/// What every interface kind takes: flags, description, mtu, groups,
/// create/destroy.
#[derive(Default)]
struct Common {
    up: bool,
    description: Option<String>,
    create: bool,
    destroy: bool,
    mtu: Option<u32>,
    groups_add: Vec<String>,
    groups_del: Vec<String>,
}

impl Common {
    /// Apply `op` if it is a common one; Ok(false) if it is not.
    fn apply(&mut self, op: &IfOp, own_group: &str) -> Result<bool, IfconfigError> {
        match op {
            IfOp::Up => self.up = true,
            IfOp::Down => self.up = false,
            IfOp::Create => self.create = true,
            IfOp::Destroy => self.destroy = true,
            IfOp::Description(d) => {
                check_description(d)?;
                self.description = if d.is_empty() { None } else { Some(d.clone()) };
            }
            IfOp::Mtu(m) => {
                check_mtu(*m)?;
                self.mtu = Some(*m);
            }
            IfOp::Group(g) => {
                check_group("group", g)?;
                self.groups_del.retain(|x| x != g);
                // Already a member of its own group (EEXIST is ignored).
                if g != own_group && !self.groups_add.contains(g) {
                    self.groups_add.push(g.clone());
                }
            }
            IfOp::NoGroup(g) => {
                check_group("-group", g)?;
                if g == own_group {
                    return err(format!(
                        "-group {g}: the interface cannot leave its own group"
                    ));
                }
                self.groups_add.retain(|x| x != g);
                if !self.groups_del.contains(g) {
                    self.groups_del.push(g.clone());
                }
            }
            IfOp::Carpdemote(_) | IfOp::NoCarpdemote(_) => {
                return err(format!("{}: only valid with -g group", op.keyword()))
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn upsert(addrs: &mut Vec<IfAddr>, entry: IfAddr) {
    match addrs.iter_mut().find(|x| x.net.addr == entry.net.addr) {
        Some(x) => *x = entry,
        None => addrs.push(entry),
    }
}

/// Apply `ops` to a carp interface's configuration, as ifconfig and the
/// kernel would. All or nothing: on error `cfg` is unchanged.
pub fn apply_carp(cfg: &mut CarpConfig, ops: &[IfOp]) -> Result<CarpActions, IfconfigError> {
    let mut new = cfg.clone();
    let mut com = Common {
        up: cfg.up,
        description: cfg.description.clone(),
        ..Common::default()
    };
    let mut force_state = None;
    let mut deferred: Vec<&IfOp> = Vec::new();

    for op in ops {
        if com.destroy {
            return err(format!("{}: not allowed after destroy", op.keyword()));
        }
        if com.apply(op, "carp")? {
            continue;
        }
        match op {
            IfOp::State(s) => {
                if *s != CarpState::Init {
                    force_state = Some(*s);
                }
            }
            op if op.is_address() => deferred.push(op),
            op => carp_option(&mut new, op)?,
        }
    }
    new.up = com.up;
    new.description = com.description;
    if new.balancing != Balancing::None && !new.balanced() {
        return err(format!(
            "balancing {}: needs carpnodes with two or more nodes",
            new.balancing.name()
        ));
    }
    if new.balanced() && new.balancing == Balancing::None {
        new.balancing = Balancing::Ip;
    }

    // The address ioctls come after every other argument (see module docs).
    if carp_addresses(&mut new, &deferred)? {
        // carp_ioctl(SIOCSIFADDR) sets IFF_UP.
        new.up = true;
    }
    if new.balanced()
        && new.balancing == Balancing::Arp
        && new.addrs.iter().any(|a| a.net.addr.is_ipv6())
    {
        return err(
            "balancing arp: IPv6 addresses cannot be balanced by the requester's MAC (pfd balances ARP only in this mode, which current OpenBSD no longer has): use balancing ip, ip-stealth or ip-unicast",
        );
    }
    new.groups.retain(|g| !com.groups_del.contains(g));
    for g in &com.groups_add {
        if !new.groups.contains(g) {
            new.groups.push(g.clone());
        }
    }
    if com.mtu.is_some() {
        new.mtu = com.mtu;
    }
    *cfg = new;
    Ok(CarpActions {
        destroy: com.destroy,
        create: com.create,
        force_state,
        mtu: com.mtu,
        groups_add: com.groups_add,
        groups_del: com.groups_del,
    })
}

/// A carp option (vhid, advbase, advskew, pass, carpdev, carppeer) into
/// `new`; an error for anything a carp interface does not take.
fn carp_option(new: &mut CarpConfig, op: &IfOp) -> Result<(), IfconfigError> {
    match op {
        IfOp::Vhid(v) => {
            range_u8("vhid", *v, 1, 255)?;
            // One vhid replaces a carpnodes list (ifconfig sends it as
            // the only entry).
            let advskew = new.advskew;
            new.set_carpnodes(vec![CarpNode { vhid: *v, advskew }]);
        }
        IfOp::Advbase(v) => {
            range_u8("advbase", *v, 0, 254)?;
            new.advbase = *v;
        }
        IfOp::Advskew(v) => {
            range_u8("advskew", *v, 0, 254)?;
            new.advskew = *v;
            // The leader's, as ifconfig sets carpr_advskews[0].
            if let Some(n) = new.carpnodes.first_mut() {
                n.advskew = *v;
            }
        }
        IfOp::Pass(p) => {
            // strlcpy into a CARP_KEY_LEN (20) buffer: 19 bytes survive.
            let b = p.as_bytes();
            new.key = b[..b.len().min(CARP_KEY_MAX)].to_vec();
        }
        IfOp::Carpdev(d) => {
            check_name("carpdev", d, "interface")?;
            if is_carp_name(d) {
                return err(format!("carpdev {d}: not an Ethernet interface"));
            }
            new.carpdev = Some(d.clone());
        }
        IfOp::NoCarpdev => new.carpdev = None,
        IfOp::Carppeer(p) => {
            new.carppeer = if *p == CARP_GROUP || p.is_unspecified() {
                None
            } else if p.is_multicast() || p.is_broadcast() {
                return err(format!(
                    "carppeer {p}: must be a unicast address (or {CARP_GROUP})"
                ));
            } else {
                Some(*p)
            };
        }
        IfOp::NoCarppeer => new.carppeer = None,
        IfOp::Carpnodes(nodes) => new.set_carpnodes(nodes.clone()),
        IfOp::Balancing(b) => new.balancing = *b,
        op => {
            return err(format!(
                "{}: not supported on carp interfaces",
                op.keyword()
            ));
        }
    }
    Ok(())
}

/// The address ops of a line, in order, into `new`; true when an address
/// was added.
fn carp_addresses(new: &mut CarpConfig, ops: &[&IfOp]) -> Result<bool, IfconfigError> {
    let mut added = false;
    for op in ops {
        match op {
            IfOp::Inet {
                net,
                broadcast,
                alias,
            } => {
                if !net.addr.is_ipv4() {
                    return err(format!("{}: bad value", net.addr));
                }
                need_carpdev(new)?;
                let broadcast = broadcast.or_else(|| derived_broadcast(net));
                if !*alias {
                    if let Some(pos) = new.addrs.iter().position(|x| x.net.addr.is_ipv4()) {
                        new.addrs.remove(pos);
                    }
                }
                upsert(
                    &mut new.addrs,
                    IfAddr {
                        net: *net,
                        broadcast,
                    },
                );
                added = true;
            }
            IfOp::Inet6 { net, .. } => {
                if !net.addr.is_ipv6() {
                    return err(format!("{}: bad value", net.addr));
                }
                need_carpdev(new)?;
                upsert(
                    &mut new.addrs,
                    IfAddr {
                        net: *net,
                        broadcast: None,
                    },
                );
                added = true;
            }
            IfOp::DeleteAddr(net) => match new.addrs.iter().position(|x| x.net.addr == net.addr) {
                Some(pos) => {
                    new.addrs.remove(pos);
                }
                None => {
                    return err(format!(
                        "SIOCDIFADDR: Can't assign requested address ({} is not configured)",
                        net.addr
                    ))
                }
            },
            _ => {}
        }
    }
    Ok(added)
}

fn need_carpdev(cfg: &CarpConfig) -> Result<(), IfconfigError> {
    if cfg.carpdev.is_none() {
        return err(
            "SIOCAIFADDR: Invalid argument: a carp interface needs a carpdev before an \
             address (give carpdev on the same line or earlier)",
        );
    }
    Ok(())
}

fn is_carp_name(n: &str) -> bool {
    n.strip_prefix("carp")
        .is_some_and(|u| !u.is_empty() && u.bytes().all(|b| b.is_ascii_digit()))
}

fn norm_syncpeer(p: Ipv4Addr) -> Result<Option<Ipv4Addr>, IfconfigError> {
    if p == PFSYNC_GROUP || p.is_unspecified() {
        Ok(None)
    } else if p.is_broadcast() {
        // pfsync_up refuses it (EDESTADDRREQ)
        err(format!("syncpeer {p}: not a usable destination"))
    } else {
        Ok(Some(p))
    }
}

/// Apply `ops` to pfsync0's configuration. All or nothing.
///
/// pfsync0 counts as running (so syncdev is locked, `EBUSY`)
/// when it was up with a syncdev before this line; a `down` on the line
/// unlocks them, an `up` on the line takes effect at its end, so
/// `up syncdev em2` (the seed, pfsync(4)) works on a fresh pfsync0 and a
/// second run of the same line (rc(8) runs netstart for pfsync0 twice)
/// changes nothing.
pub fn apply_pfsync(cfg: &mut PfsyncConfig, ops: &[IfOp]) -> Result<PfsyncActions, IfconfigError> {
    let mut new = cfg.clone();
    let mut com = Common {
        up: cfg.up,
        description: cfg.description.clone(),
        ..Common::default()
    };
    let mut running = cfg.up && cfg.syncdev.is_some();
    let busy = |what: &str| -> Result<(), IfconfigError> {
        err(format!(
            "SIOCSETPFSYNC: Device busy: {what} cannot change while pfsync0 is running \
             (bring it down first)"
        ))
    };

    for op in ops {
        if com.destroy {
            return err(format!("{}: not allowed after destroy", op.keyword()));
        }
        if *op == IfOp::Down {
            running = false;
        }
        if com.apply(op, "pfsync")? {
            continue;
        }
        match op {
            IfOp::Syncdev(d) => {
                check_name("syncdev", d, "interface")?;
                if running && new.syncdev.as_deref() != Some(d.as_str()) {
                    busy("syncdev")?;
                }
                new.syncdev = Some(d.clone());
            }
            IfOp::NoSyncdev => {
                if running && new.syncdev.is_some() {
                    busy("syncdev")?;
                }
                new.syncdev = None;
            }
            // The peer may change while running: pfsyncd sends to the new
            // one from its next frame on.
            IfOp::Syncpeer(p) => new.syncpeer = norm_syncpeer(*p)?,
            IfOp::NoSyncpeer => new.syncpeer = None,
            IfOp::Maxupd(n) => new.maxupd = *n,
            IfOp::Defer(d) => new.defer = *d,
            IfOp::Pass(p) => {
                new.pass = (!p.is_empty()).then(|| p.clone());
            }
            op if op.is_address() => {
                return err(format!(
                    "{}: addresses are not supported on pfsync interfaces",
                    op.keyword()
                ))
            }
            op => {
                return err(format!(
                    "{}: not supported on pfsync interfaces",
                    op.keyword()
                ));
            }
        }
    }
    new.up = com.up;
    new.description = com.description;
    *cfg = new;
    Ok(PfsyncActions {
        destroy: com.destroy,
        create: com.create,
        mtu: com.mtu,
        groups_add: com.groups_add,
        groups_del: com.groups_del,
    })
}

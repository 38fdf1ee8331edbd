//! pfd's side of policy routing: keeping the system's rules and tables
//! (`sys::policy_routing`) in step with the route selectors the engine
//! numbers, while pf is enabled, and carrying out the data path's
//! `Forward` actions (send again on another path, copy, af-to).

use super::Shared;
use crate::engine::mtu;
use crate::engine::route::Forward;
use crate::log;
use crate::sys::policy_routing::{PolicyRouting, RouteSender};
use std::sync::atomic::Ordering;

impl Shared {
    /// Bring the rules and tables in line with the engine: the engine's
    /// selectors while pf is enabled, nothing while it is disabled.
    pub fn sync_routes(&self) {
        let (enabled, gen, targets) = {
            let e = self.engine();
            let t = e.route_targets();
            (e.enabled(), t.generation(), t.iter().collect::<Vec<_>>())
        };
        let mut guard = self.policy.lock().unwrap_or_else(|e| e.into_inner());
        let Some(pr) = guard.as_mut() else {
            // No netlink: nothing to install, and nothing to retry per packet.
            self.routes_gen.store(gen, Ordering::Relaxed);
            return;
        };
        let res = if enabled && !targets.is_empty() {
            pr.sync(&targets)
        } else {
            pr.sync(&[])
        };
        drop(guard);
        match res {
            Ok(ifnames) => {
                let mut e = self.engine();
                for (sel, name) in ifnames {
                    e.set_route_ifname(sel, name);
                }
                self.routes_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
            }
            Err(err) => {
                let msg = format!("policy routing: {err}");
                let mut last = self.routes_error.lock().unwrap_or_else(|e| e.into_inner());
                if last.as_deref() != Some(msg.as_str()) {
                    log::err(&msg);
                    *last = Some(msg);
                }
            }
        }
        if self.routes_gen.swap(gen, Ordering::Relaxed) != gen {
            self.net_gen.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Has the engine numbered selectors the system does not have yet?
    pub fn routes_stale(&self, engine_gen: u64) -> bool {
        self.routes_gen.load(Ordering::Relaxed) != engine_gen
    }

    /// Remove every rule and table of ours (`pfctl -d`, exit).
    pub fn clear_routes(&self) {
        let mut guard = self.policy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pr) = guard.as_mut() {
            if let Err(e) = pr.clear() {
                log::err(&format!("policy routing: {e}"));
            }
        }
    }
}

/// Open the policy routing: the system's rules and tables with what an
/// earlier pfd left removed.
pub fn open() -> Option<PolicyRouting> {
    match PolicyRouting::open() {
        Ok(mut pr) => {
            if pr.present() {
                log::notice("removing the policy routing rules an earlier pfd left");
            }
            if let Err(e) = pr.clear() {
                log::err(&format!("policy routing: {e}"));
            }
            Some(pr)
        }
        Err(e) => {
            log::err(&format!(
                "policy routing unavailable ({e}): route-to, rtable and divert-to cannot work"
            ));
            None
        }
    }
}

/// What the data path does with a packet after its verdict: `Some(true)`
/// accept it, `Some(false)` drop it, None leave the verdict as it is.
/// `pkt` is the packet as the engine left it; `copy` a buffer for a
/// `dup-to` copy (kept between packets).
pub fn forward(
    sender: Option<&mut RouteSender>,
    f: &Forward,
    pkt: &[u8],
    copy: &mut Vec<u8>,
) -> Option<bool> {
    let Some(rs) = sender else {
        // Without the raw sockets these cannot happen: drop rather than
        // let the packet take a path the rules did not give it.
        return match f {
            Forward::Normal | Forward::Queue(_) => None,
            Forward::Dup { .. } => Some(true),
            Forward::Resend(_) | Forward::AfTo(_) => Some(false),
        };
    };
    let res = match f {
        Forward::Normal | Forward::Queue(_) => return None,
        Forward::Resend(sel) => {
            let r = rs.send(*sel, pkt, true);
            log_send(r, "route-to");
            return Some(false);
        }
        Forward::Dup { sel, dec_ttl } => {
            copy.clear();
            copy.extend_from_slice(pkt);
            if !*dec_ttl || mtu::decrement_ttl(copy) {
                rs.send(*sel, copy, false)
            } else {
                Ok(())
            }
        }
        Forward::AfTo(p) => {
            let r = rs.send(0, p, true);
            log_send(r, "af-to");
            return Some(false);
        }
    };
    log_send(res, "dup-to");
    Some(true)
}

/// Send `pkt`, a packet translated to the other address family (one
/// segment of an af-to GSO packet), by the normal route.
pub fn send_af(rs: &mut RouteSender, pkt: &[u8]) {
    log_send(rs.send(0, pkt, true), "af-to");
}

fn log_send(r: std::io::Result<()>, what: &str) {
    if let Err(e) = r {
        log::debug(&format!("{what}: send: {e}"));
    }
}

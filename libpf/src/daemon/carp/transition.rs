//! What a state change of a carp interface does to the kernel, and in
//! which order: a takeover opens the gate (`sys::nftgate`; or brings the
//! link up where there is none), sends the advertisement and the
//! gratuitous ARP/NA, then has the addresses added (by the address
//! thread, `addrs`, for a gated interface) and logs; stepping down closes
//! the gate first and withdraws the addresses after.

use super::CarpTable;
use crate::carp::fsm::{Action, Actions};
use crate::carp::CarpState;
use crate::log;
use crate::sys::nftgate;
use std::sync::Arc;
use std::time::Duration;

impl CarpTable {
    /// The addresses up (MASTER) or down. A gated interface opens or
    /// closes its gate first, at once, and leaves the addresses to the
    /// address thread; another has its addresses changed here and its
    /// link brought along.
    pub(super) fn apply_addrs(&mut self, name: &str, up: bool) {
        let Some(e) = self.entries.get_mut(name) else {
            return;
        };
        e.addrs_up = up;
        let (idx, gated) = (e.ifindex, e.gated);
        if idx == 0 {
            return;
        }
        let addrs: Vec<_> = e
            .cif
            .config
            .addrs
            .iter()
            .map(|a| (a.net, a.broadcast))
            .collect();
        if gated {
            self.set_gate(name, up);
            if let Some(q) = &self.addrs {
                q.queue(name, idx, addrs, up);
                self.mark("addrs queued");
                return;
            }
        }
        for (net, broadcast) in &addrs {
            let r = if up {
                // No prefix route: traffic leaves by the carpdev, as on
                // OpenBSD; the carp interface only owns the address.
                self.nl.add_carp_addr(idx, *net, *broadcast)
            } else {
                self.nl.del_addr(idx, *net)
            };
            if let Err(err) = r {
                log::err(&format!(
                    "{name}: {} {net}: {err}",
                    if up { "adding" } else { "removing" },
                ));
            }
        }
        self.mark("addrs");
        if !gated {
            self.set_link(name, up);
        }
    }

    /// Make the closed gate of new macvlan `name` (`idx`) and bring its
    /// link up for good; false (and the link left down) when it cannot.
    pub(super) fn make_gate(&mut self, name: &str, idx: u32) -> bool {
        if self.gates.is_none() {
            return false;
        }
        // Made closed.
        self.gate_closed(idx, true);
        if let Err(err) = nftgate::create(name) {
            self.gate_closed(idx, false);
            log::warning(&format!(
                "{name}: no nftables gate ({err}): the link goes up and down with the state"
            ));
            return false;
        }
        if let Err(err) = self.nl.set_up(idx, true) {
            log::err(&format!("{name}: link up: {err}"));
            nftgate::remove(name);
            self.gate_closed(idx, false);
            return false;
        }
        true
    }

    /// Open or close the gate of `name` (no-op when it already is). A
    /// gate that went missing (`nft flush ruleset`) is made again.
    fn set_gate(&mut self, name: &str, open: bool) {
        let Some(e) = self.entries.get(name) else {
            return;
        };
        if !e.gated || e.gate_open == open || self.gates.is_none() {
            return;
        }
        let idx = e.ifindex;
        // The fast path leaves the interface's packets to the gate before
        // it closes, and takes them again once it is open.
        if !open {
            self.gate_closed(idx, true);
        }
        let Some(g) = self.gates.as_mut() else {
            return;
        };
        let mut r = g.set(name, open);
        if r.is_err() && nftgate::create(name).is_ok() {
            r = g.set(name, open);
        }
        match r {
            Ok(()) => {
                if let Some(e) = self.entries.get_mut(name) {
                    e.gate_open = open;
                }
                if open {
                    self.gate_closed(idx, false);
                }
            }
            Err(err) => log::err(&format!(
                "{name}: {} the gate: {err}",
                if open { "opening" } else { "closing" }
            )),
        }
        self.mark("gate");
    }

    /// A takeover's first step: traffic to the virtual MAC passes.
    fn activate(&mut self, name: &str) {
        if self.entries.get(name).is_some_and(|e| e.gated) {
            self.set_gate(name, true);
        } else {
            self.set_link(name, true);
        }
    }

    /// Wait (a second at most) for the address thread to finish what it
    /// was asked.
    pub(super) fn settle(&self) {
        if let Some(q) = &self.addrs {
            q.settle().wait(Duration::from_secs(1));
        }
    }

    /// What `settle` waits on, for a caller that must not hold the lock
    /// meanwhile (the control socket, before it shows the interfaces).
    pub fn settler(&self) -> Option<Arc<super::Settle>> {
        self.addrs.as_ref().map(|q| q.settle())
    }

    /// Bring the macvlan's link up or down (no-op when it already is).
    fn set_link(&mut self, name: &str, up: bool) {
        let Some(e) = self.entries.get_mut(name) else {
            return;
        };
        let idx = e.ifindex;
        if idx == 0 || e.link_up == up {
            return;
        }
        match self.nl.set_up(idx, up) {
            Ok(()) => {
                if let Some(e) = self.entries.get_mut(name) {
                    e.link_up = up;
                }
            }
            Err(err) => log::err(&format!(
                "{name}: link {}: {err}",
                if up { "up" } else { "down" }
            )),
        }
        self.mark("up");
    }

    /// Log a state transition as OpenBSD's carp does: to or from INIT at
    /// `log` level 4 (warning), between BACKUP and MASTER at 2 (crit).
    pub(super) fn log_transition(&self, msg: &str, from: CarpState, to: CarpState) {
        if from == CarpState::Init || to == CarpState::Init {
            if self.log_level >= 4 {
                log::warning(msg);
            }
        } else if self.log_level >= 2 {
            log::crit(msg);
        }
    }

    /// Carry out what a state machine asked for. A takeover (to MASTER,
    /// one vhid) is ordered for the shortest interruption: the link
    /// first (a frame to the virtual MAC reaches the stack from then on,
    /// and forwarding and pf's NAT need nothing more), then the
    /// advertisement and the gratuitous ARP/NA (frames on a packet
    /// socket: no lock to wait for), then the addresses (the kernel
    /// answers ARP for them and delivers to them locally), and the log
    /// line last.
    pub(super) fn execute(&mut self, name: &str, acts: Actions, _now: Duration) {
        let takeover = !self.is_balanced(name)
            && acts.iter().any(|a| {
                matches!(
                    a,
                    Action::Transition {
                        to: CarpState::Master,
                        ..
                    }
                )
            });
        if takeover {
            self.activate(name);
        }
        let mut deferred = None;
        for a in acts.iter() {
            match a {
                Action::Transition { from, to } if takeover => deferred = Some((from, to)),
                Action::Transition { from, to } => self.transition(name, from, to),
                Action::SendAdvert { bow_out } => {
                    self.send_advert(name, 0, bow_out);
                    self.mark("advert");
                }
                // Balanced: no gratuitous ARP (carp_master_down), but the
                // NAs that correct stale neighbour entries (carp.4).
                Action::SendGratuitous if self.is_balanced(name) => {
                    self.send_na(name);
                    self.mark("na");
                }
                Action::SendGratuitous => {
                    self.send_gratuitous(name);
                    self.mark("garp");
                }
            }
        }
        if let Some((from, to)) = deferred {
            self.transition(name, from, to);
        }
    }

    /// The leader changed state: count it, bring the addresses (and the
    /// link) along, log it.
    fn transition(&mut self, name: &str, from: CarpState, to: CarpState) {
        if let Some(e) = self.entries.get_mut(name) {
            e.transitions += 1;
        }
        self.node_transition(name);
        let msg = format!("{name}: state transition: {} -> {}", from.name(), to.name());
        self.log_transition(&msg, from, to);
    }
}

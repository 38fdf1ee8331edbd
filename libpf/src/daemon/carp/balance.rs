//! Several carpnodes on one carp interface (`carpnodes`, `balancing`) in
//! pfd: the nodes after the leader, each with its own state machine,
//! counter and peers; what their transitions change (the addresses are up
//! while any node is MASTER); and what a balanced interface asks of Linux
//! besides: the shares the data path and the ARP and neighbour
//! discovery responders read (`Owners`), the carpdev's ingress rules (nft,
//! see `carp::balance::ingress_script`) and the kernel kept from answering
//! ARP and neighbour solicitations for the addresses itself (arp_ignore
//! 8, and `carp::balance::nd_script`: pfd answers, with the MAC the mode
//! gives).

use super::{CarpTable, Entry};
use crate::carp::balance::{ingress_script, master_mask, nd_script, node_mac, ArpHashKey, Share};
use crate::carp::fsm::{Action, Actions, Vhid};
use crate::carp::iface::CarpIf;
use crate::carp::{CarpConfig, CarpState, NodeStatus};
use crate::log;
use crate::sys::nftgate::nft;
use crate::sys::sysctl;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// One balanced carp interface as the data path sees it.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The carp interface (macvlan) packets of the address arrive on.
    pub ifindex: u32,
    /// Its carpdev, where ARP requests arrive.
    pub carpdev: u32,
    pub share: Share,
}

/// The shares of every balanced carp interface, read per packet.
#[derive(Debug, Default)]
pub struct Owners {
    any: AtomicBool,
    list: RwLock<Arc<Vec<Owner>>>,
    /// Packets dropped because another host owns them.
    pub dropped: std::sync::atomic::AtomicU64,
    /// Bumped by every `set`.
    generation: std::sync::atomic::AtomicU64,
}

impl Owners {
    pub fn set(&self, list: Vec<Owner>) {
        self.any.store(!list.is_empty(), Ordering::Release);
        *self.list.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(list);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Changes with every `set` (for readers that keep something derived).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn snapshot(&self) -> Arc<Vec<Owner>> {
        self.list.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// carp_lsdrop: a packet (IP header first) that came in on `ifindex`
    /// belongs to another host. No allocation; a read lock only while
    /// some interface is balanced.
    pub fn drops(&self, ifindex: u32, pkt: &[u8]) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let l = self.list.read().unwrap_or_else(|e| e.into_inner());
        let drop = l.iter().any(|o| o.ifindex == ifindex && o.share.drops(pkt));
        if drop {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop
    }

    /// The reply to an ARP request that arrived on `carpdev`, if this
    /// host answers it.
    pub fn arp_reply(&self, carpdev: u32, frame: &[u8]) -> Option<[u8; 42]> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let l = self.list.read().unwrap_or_else(|e| e.into_inner());
        l.iter()
            .filter(|o| o.carpdev == carpdev)
            .find_map(|o| o.share.arp_reply(frame))
    }

    /// The reply to a neighbour solicitation that arrived on `ifindex`
    /// (a balanced carp interface: a multicast one reaches its carpdev
    /// too, and is answered once), and the carpdev to send it by, if this
    /// host answers it.
    pub fn nd_reply(&self, ifindex: u32, frame: &[u8]) -> Option<(u32, Vec<u8>)> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let l = self.list.read().unwrap_or_else(|e| e.into_inner());
        l.iter()
            .filter(|o| o.ifindex == ifindex)
            .find_map(|o| o.share.nd_reply(frame).map(|r| (o.carpdev, r)))
    }
}

/// The nft table of a carp interface's ingress rules.
fn table(name: &str) -> String {
    format!("pfd_{name}")
}

/// Remove a carp interface's ingress and neighbour discovery rules.
pub(super) fn drop_ingress(name: &str) {
    let t = table(name);
    let _ = nft(&format!(
        "table netdev {t} {{}}\ndelete table netdev {t}\ntable inet {t} {{}}\ndelete table inet {t}\n"
    ));
}

impl Entry {
    /// Every carpnode, the leader first.
    pub(super) fn all(&self) -> impl Iterator<Item = &CarpIf> {
        std::iter::once(&self.cif).chain(self.nodes.iter())
    }

    pub(super) fn all_mut(&mut self) -> impl Iterator<Item = &mut CarpIf> {
        std::iter::once(&mut self.cif).chain(self.nodes.iter_mut())
    }

    /// Carpnode `i` (0: the leader).
    pub(super) fn node_mut(&mut self, i: usize) -> Option<&mut CarpIf> {
        match i {
            0 => Some(&mut self.cif),
            i => self.nodes.get_mut(i - 1),
        }
    }

    /// The interface's state: MASTER if any node is, else BACKUP if any
    /// is, else INIT (OpenBSD's link state of a carp interface).
    pub(super) fn state(&self) -> CarpState {
        let st = |s| self.all().any(|c| c.state() == s);
        if st(CarpState::Master) {
            CarpState::Master
        } else if st(CarpState::Backup) {
            CarpState::Backup
        } else {
            CarpState::Init
        }
    }

    /// The per-node lines of a balanced interface (none otherwise).
    pub(super) fn node_status(&self) -> Vec<NodeStatus> {
        if !self.cif.config.balanced() {
            return Vec::new();
        }
        self.all()
            .map(|c| NodeStatus {
                vhid: c.config.vhid,
                advskew: c.fsm.advskew(),
                state: c.state(),
            })
            .collect()
    }

    /// The Ethernet source of node `i`'s frames: the carpdev's own MAC
    /// under balancing ip and ip-stealth, else the node's virtual MAC.
    pub(super) fn frame_source(&self, i: usize) -> [u8; 6] {
        let c = &self.cif.config;
        let vhid = self.all().nth(i).map_or(c.vhid, |n| n.config.vhid);
        if c.balanced() && c.balancing.hides_source_mac() {
            self.carpdev_mac.unwrap_or([0; 6])
        } else {
            node_mac(c.balancing, i == 0, vhid)
        }
    }

    fn share(&self) -> Share {
        let c = &self.cif.config;
        Share {
            balancing: c.balancing,
            vhids: self.all().map(|n| n.config.vhid).collect(),
            mask: master_mask(self.all().map(|n| n.state() == CarpState::Master)),
            key: ArpHashKey::new(&c.key),
            carpdev_mac: self.carpdev_mac.unwrap_or([0; 6]),
            addrs: self.cif.ipv4_addrs(),
            addrs6: self.cif.ipv6_addrs(),
            router: false,
        }
    }
}

/// Node `node`'s configuration: the interface's, with its vhid and advskew.
fn node_config(c: &CarpConfig, vhid: u8, advskew: u8) -> CarpConfig {
    CarpConfig {
        vhid,
        advskew,
        ..c.clone()
    }
}

impl CarpTable {
    pub(super) fn is_balanced(&self, name: &str) -> bool {
        self.entries
            .get(name)
            .is_some_and(|e| e.cif.config.balanced())
    }

    /// Run `f` on every node's state machine and carry out what each asks.
    pub(super) fn each_node(
        &mut self,
        name: &str,
        mut f: impl FnMut(&mut Vhid) -> Actions,
        now: Duration,
    ) {
        let n = self.entries.get(name).map_or(0, |e| 1 + e.nodes.len());
        for i in 0..n {
            let Some(c) = self.entries.get_mut(name).and_then(|e| e.node_mut(i)) else {
                return;
            };
            let acts = f(&mut c.fsm);
            self.execute_node(name, i, acts, now);
        }
    }

    /// Carry out what node `i`'s state machine asked for.
    pub(super) fn execute_node(&mut self, name: &str, i: usize, acts: Actions, now: Duration) {
        if i == 0 {
            return self.execute(name, acts, now);
        }
        for a in acts.iter() {
            match a {
                Action::Transition { from, to } => {
                    let vhid = self
                        .entries
                        .get_mut(name)
                        .and_then(|e| {
                            e.transitions += 1;
                            e.node_mut(i)
                        })
                        .map_or(0, |c| c.config.vhid);
                    let msg = format!(
                        "{name}: state transition (vhid {vhid}): {} -> {}",
                        from.name(),
                        to.name()
                    );
                    self.log_transition(&msg, from, to);
                    self.node_transition(name);
                }
                Action::SendAdvert { bow_out } => self.send_advert(name, i, bow_out),
                // No gratuitous ARP in balancing modes (carp_master_down).
                Action::SendGratuitous => {}
            }
        }
    }

    /// A node changed state: the addresses are up while some node is
    /// MASTER (for a single vhid: while it is), and the shares follow.
    pub(super) fn node_transition(&mut self, name: &str) {
        let Some(e) = self.entries.get(name) else {
            return;
        };
        let up = e.state() == CarpState::Master;
        let balanced = e.cif.config.balanced();
        let share = balanced || !e.ingress.is_empty();
        if !balanced || up != e.addrs_up {
            self.apply_addrs(name, up);
        }
        if share {
            self.sync_share(name);
        }
    }

    /// Bring the nodes after the leader in line with the configuration:
    /// a changed list of vhids starts them anew (the old ones bow out),
    /// otherwise each takes the new configuration.
    pub(super) fn sync_nodes(&mut self, name: &str, now: Duration) {
        let Some(e) = self.entries.get_mut(name) else {
            return;
        };
        let c = e.cif.config.clone();
        let want: Vec<_> = c.nodes().into_iter().skip(1).collect();
        let same = want.len() == e.nodes.len()
            && want
                .iter()
                .zip(&e.nodes)
                .all(|(w, n)| w.vhid == n.config.vhid);
        if !same {
            let n = e.nodes.len();
            for i in 1..=n {
                if let Some(c) = self.entries.get_mut(name).and_then(|e| e.node_mut(i)) {
                    let acts = c.fsm.set_runnable(false, now);
                    self.execute_node(name, i, acts, now);
                }
            }
            let Some(e) = self.entries.get_mut(name) else {
                return;
            };
            let src = e.src;
            e.nodes = want
                .iter()
                .map(|w| {
                    let mut n = CarpIf::new(name, node_config(&c, w.vhid, w.advskew));
                    n.set_src(src);
                    n
                })
                .collect();
            return;
        }
        for (i, w) in want.iter().enumerate() {
            let Some(n) = self.entries.get_mut(name).and_then(|e| e.node_mut(i + 1)) else {
                return;
            };
            let acts = n.reconfigure(node_config(&c, w.vhid, w.advskew), now);
            self.execute_node(name, i + 1, acts, now);
        }
    }

    /// A balanced interface's share (for the data path and the ARP
    /// responder), its carpdev's ingress rules and the kernel's ARP
    /// answers follow its configuration and its nodes' states.
    pub(super) fn sync_share(&mut self, name: &str) {
        let Some(e) = self.entries.get_mut(name) else {
            return;
        };
        let balanced = e.cif.config.balanced() && e.ifindex != 0;
        let script = match (&e.cif.config.carpdev, balanced) {
            (Some(dev), true) => {
                let (t, share) = (table(name), e.share());
                ingress_script(&t, dev, virtual_mac_of(&e.cif.config), &share)
                    + &nd_script(&t, name, &share)
            }
            _ => String::new(),
        };
        if script != e.ingress {
            let r = if script.is_empty() {
                drop_ingress(name);
                Ok(())
            } else {
                nft(&script)
            };
            match r {
                Ok(()) => e.ingress = script,
                Err(err) => log::err(&format!("{name}: carpdev ingress rules: {err}")),
            }
            if e.ifindex != 0 {
                // pfd answers ARP for a balanced interface's addresses.
                let v = if balanced { "8" } else { "0" };
                let _ = sysctl::write(&format!("net.ipv4.conf.{name}.arp_ignore"), v);
            }
        }
        self.publish_owners();
    }

    /// Publish every balanced interface's share.
    pub(super) fn publish_owners(&self) {
        let list = self
            .entries
            .iter()
            .filter(|(_, e)| e.cif.config.balanced() && e.ifindex != 0)
            .map(|(name, e)| {
                let mut share = e.share();
                share.router = !share.addrs6.is_empty()
                    && sysctl::read(&format!("net.ipv6.conf.{name}.forwarding"))
                        .is_ok_and(|v| v.trim() == "1");
                Owner {
                    ifindex: e.ifindex,
                    carpdev: e.carpdev_index,
                    share,
                }
            })
            .collect();
        self.owners.set(list);
    }
}

/// The unicast MAC of the carp interface's macvlan (Linux refuses a
/// multicast one, so under balancing ip it is the leader's MAC without
/// the multicast bit).
pub(super) fn virtual_mac_of(c: &CarpConfig) -> [u8; 6] {
    node_mac(crate::carp::balance::Balancing::None, true, c.vhid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::carp::balance::Balancing;

    fn owner(ifindex: u32, carpdev: u32, mask: u32) -> Owner {
        Owner {
            ifindex,
            carpdev,
            share: Share {
                balancing: Balancing::Ip,
                vhids: vec![1, 2],
                mask,
                key: ArpHashKey::new(b"s"),
                carpdev_mac: [2, 0, 0, 0, 0, 1],
                addrs: vec!["10.0.0.1".parse().unwrap()],
                addrs6: Vec::new(),
                router: false,
            },
        }
    }

    #[test]
    fn owners_drop_by_interface_and_count() {
        let o = Owners::default();
        let mut p = [0u8; 20];
        p[0] = 0x45;
        p[12..16].copy_from_slice(&[10, 0, 0, 11]);
        p[16..20].copy_from_slice(&[10, 1, 0, 100]);
        // Nothing balanced: nothing dropped.
        assert!(!o.drops(5, &p));
        // 10.0.0.11 <-> 10.1.0.100 is node 1's; we are MASTER of node 0.
        o.set(vec![owner(5, 2, 0b01)]);
        assert!(o.drops(5, &p));
        assert!(!o.drops(6, &p));
        o.set(vec![owner(5, 2, 0b10)]);
        assert!(!o.drops(5, &p));
        assert_eq!(o.dropped.load(Ordering::Relaxed), 1);
        // ARP: asked by carpdev, answered while the leader is MASTER here.
        let mut req = vec![0xff; 6];
        req.extend_from_slice(&[2, 0, 0, 0, 0, 0x11, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        req.extend_from_slice(&[2, 0, 0, 0, 0, 0x11, 10, 0, 0, 11, 0, 0, 0, 0, 0, 0]);
        req.extend_from_slice(&[10, 0, 0, 1]);
        assert_eq!(o.arp_reply(2, &req), None);
        o.set(vec![owner(5, 2, 0b01)]);
        assert!(o.arp_reply(2, &req).is_some());
        assert_eq!(o.arp_reply(3, &req), None);
        o.set(Vec::new());
        assert_eq!(o.arp_reply(2, &req), None);
    }
}

//! What an administrator sets on a carp interface (`carpctl carp1 ...`,
//! `hostname.carp1`): the analogue of OpenBSD's SIOCSVH plus the interface's
//! addresses and flags.

use super::balance::{Balancing, CarpNode};
use crate::addr::IpNet;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// Longest significant passphrase (OpenBSD copies it into a 20-byte,
/// NUL-terminated key buffer).
pub const CARP_KEY_MAX: usize = 19;

/// An address configured on an interface, as ifconfig takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfAddr {
    pub net: IpNet,
    /// IPv4 broadcast, if given (`inet A M B`) or derived.
    pub broadcast: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarpConfig {
    /// 0 = not configured yet.
    pub vhid: u8,
    pub advbase: u8,
    pub advskew: u8,
    /// Passphrase bytes (at most `CARP_KEY_MAX` are used).
    pub key: Vec<u8>,
    pub carpdev: Option<String>,
    /// Unicast peer instead of 224.0.0.18.
    pub carppeer: Option<Ipv4Addr>,
    pub addrs: Vec<IfAddr>,
    /// Administratively up (`up` / `down`).
    pub up: bool,
    pub description: Option<String>,
    /// Interface groups besides `carp`, which every carp interface is in;
    /// the demotion it advertises is the sum of its groups' counters.
    pub groups: Vec<String>,
    /// MTU of the interface (`mtu N`); None is the carpdev's default.
    pub mtu: Option<u32>,
    /// `balancing`: none unless several carpnodes are configured.
    #[serde(default)]
    pub balancing: Balancing,
    /// `carpnodes vhid:advskew,...` when more than one (sorted by vhid; the
    /// first is also `vhid`/`advskew`); empty for a single vhid.
    #[serde(default)]
    pub carpnodes: Vec<CarpNode>,
}

impl Default for CarpConfig {
    fn default() -> Self {
        CarpConfig {
            vhid: 0,
            advbase: 1,
            advskew: 0,
            key: Vec::new(),
            carpdev: None,
            carppeer: None,
            addrs: Vec::new(),
            up: false,
            description: None,
            groups: Vec::new(),
            mtu: None,
            balancing: Balancing::None,
            carpnodes: Vec::new(),
        }
    }
}

impl CarpConfig {
    /// The carpnodes this interface runs, leader first: the `carpnodes`
    /// list, or the single `vhid` with `advskew` (none while vhid is 0).
    pub fn nodes(&self) -> Vec<CarpNode> {
        if self.carpnodes.len() > 1 {
            self.carpnodes.clone()
        } else if self.vhid != 0 {
            vec![CarpNode {
                vhid: self.vhid,
                advskew: self.advskew,
            }]
        } else {
            Vec::new()
        }
    }

    /// Every vhid the interface uses.
    pub fn vhids(&self) -> impl Iterator<Item = u8> + '_ {
        let single = (self.carpnodes.len() <= 1 && self.vhid != 0).then_some(self.vhid);
        self.carpnodes
            .iter()
            .filter(|_| self.carpnodes.len() > 1)
            .map(|n| n.vhid)
            .chain(single)
    }

    /// Set the carpnodes (carp_vhids_ioctl): one node is a plain vhid with
    /// balancing none; several default balancing none to ip.
    pub fn set_carpnodes(&mut self, nodes: Vec<CarpNode>) {
        if let Some(first) = nodes.first() {
            self.vhid = first.vhid;
            self.advskew = first.advskew;
        }
        if nodes.len() > 1 {
            if self.balancing == Balancing::None {
                self.balancing = Balancing::Ip;
            }
            self.carpnodes = nodes;
        } else {
            self.balancing = Balancing::None;
            self.carpnodes = Vec::new();
        }
    }

    /// Several carpnodes share the interface.
    pub fn balanced(&self) -> bool {
        self.carpnodes.len() > 1
    }
}

/// CARP state of a vhid, numbered as OpenBSD numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CarpState {
    Init = 0,
    Backup = 1,
    Master = 2,
}

impl CarpState {
    /// `INIT`, `BACKUP`, `MASTER`, as in `carp: MASTER carpdev ...`.
    pub fn name(self) -> &'static str {
        match self {
            CarpState::Init => "INIT",
            CarpState::Backup => "BACKUP",
            CarpState::Master => "MASTER",
        }
    }
}

/// Everything `carpctl carp1` prints: configuration plus run-time facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarpStatus {
    pub name: String,
    pub config: CarpConfig,
    pub state: CarpState,
    /// Linux ifindex of the macvlan, 0 when it does not exist.
    pub ifindex: u32,
    /// 00:00:5e:00:01:<vhid>, or zeros when there is no vhid or carpdev.
    pub lladdr: [u8; 6],
    /// Demotion this host advertises (sum of its groups' counters).
    pub demote: u8,
    pub mtu: u32,
    /// A passphrase is set. `config.key` itself is sent to root only
    /// (OpenBSD's SIOCGVH copies the key out for the superuser only).
    #[serde(default)]
    pub key_set: bool,
    /// The peer this vhid heard last, if any.
    #[serde(default)]
    pub peer: Option<CarpPeer>,
    /// State transitions since the interface was created.
    #[serde(default)]
    pub transitions: u64,
    /// With several carpnodes: each node's vhid, advskew and state, in
    /// vhid order (`state` is then MASTER if any node is).
    #[serde(default)]
    pub nodes: Vec<NodeStatus>,
}

/// One carpnode's line in `ifconfig carpN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub vhid: u8,
    pub advskew: u8,
    pub state: CarpState,
}

/// The last advertisement heard from another host on a vhid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarpPeer {
    pub addr: std::net::IpAddr,
    pub advbase: u8,
    pub advskew: u8,
    pub demote: u8,
    /// Milliseconds since it arrived.
    pub age_ms: u64,
    /// Its counter was made by pfd (bound, replay-checked) rather than
    /// by OpenBSD or ucarp.
    pub bound: bool,
}

impl CarpStatus {
    /// What a client other than root may see: everything but the
    /// passphrase, whose presence `key_set` still tells.
    pub fn redacted(mut self) -> CarpStatus {
        self.key_set = !self.config.key.is_empty();
        self.config.key.clear();
        self
    }

    /// A warning when this vhid and the peer it hears have the same
    /// advbase, advskew and demotion: neither wins an election (on
    /// OpenBSD, and here, both masters step down and then both time out
    /// again together), so they flap. Only a peer heard within the last
    /// `recent_ms` counts.
    pub fn tie_warning(&self, recent_ms: u64) -> Option<String> {
        let p = self.peer.as_ref()?;
        let c = &self.config;
        if p.age_ms > recent_ms
            || (p.advbase, p.advskew, p.demote) != (c.advbase, c.advskew, self.demote)
        {
            return None;
        }
        Some(format!(
            "{}: vhid {} advbase {} advskew {} equals peer {}'s: election tie (both step down and flap); give one node a different advskew",
            self.name, c.vhid, c.advbase, c.advskew, p.addr
        ))
    }
}

//! What an administrator sets on a carp interface (`carpctl carp1 ...`,
//! `hostname.carp1`): the analogue of OpenBSD's SIOCSVH plus the interface's
//! addresses and flags.

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
        }
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
}

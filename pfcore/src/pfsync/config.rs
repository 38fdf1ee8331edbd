//! What an administrator sets on pfsync0 (`carpctl pfsync0 syncdev eth2`,
//! `hostname.pfsync0`): the analogue of OpenBSD's SIOCSETPFSYNC.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// Default `maxupd`: updates merged into one pending compressed update
/// before it is sent at once.
pub const DEFAULT_MAXUPD: u8 = 128;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfsyncConfig {
    pub syncdev: Option<String>,
    /// Unicast peer instead of 224.0.0.240.
    pub syncpeer: Option<Ipv4Addr>,
    pub maxupd: u8,
    pub defer: bool,
    pub up: bool,
    pub description: Option<String>,
    /// `pass SECRET`: every frame carries an HMAC-SHA1 of itself keyed
    /// with it, and frames without a good one are dropped (not in
    /// OpenBSD: off unless set). Empty in what a non-root client is shown
    /// (set, but hidden).
    pub pass: Option<String>,
}

impl Default for PfsyncConfig {
    fn default() -> Self {
        PfsyncConfig {
            syncdev: None,
            syncpeer: None,
            maxupd: DEFAULT_MAXUPD,
            defer: false,
            up: false,
            description: None,
            pass: None,
        }
    }
}

impl PfsyncConfig {
    /// What a client other than root may see: whether a pass is set, not
    /// the pass.
    pub fn redacted(mut self) -> PfsyncConfig {
        if self.pass.is_some() {
            self.pass = Some(String::new());
        }
        self
    }
}

/// Everything `carpctl pfsync0` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfsyncStatus {
    pub config: PfsyncConfig,
    /// True while pfsyncd is attached to pfd.
    pub running: bool,
    pub mtu: u32,
}

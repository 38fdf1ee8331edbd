//! Translation targets: which address and port `nat-to` and `rdr-to` give
//! a new connection. The choice of address is the pool's (see `pool`).

pub mod pool;

use super::anchor::RuleRef;
use super::packet::{Dir, Pd};
use super::srcnode::Sns;
use super::Engine;
use std::net::IpAddr;

pub use pool::{NAT_PORT_HIGH, NAT_PORT_LOW};

impl Engine {
    /// Source address and port for the `nat-to` of rule `ri`.
    pub(in crate::engine) fn nat_target(
        &mut self,
        ri: RuleRef,
        pd: &Pd,
        dir: Dir,
        sns: &mut Sns,
        now: u64,
    ) -> Option<(IpAddr, u16)> {
        self.get_sport(ri, pd, dir, sns, now)
    }

    /// Destination address and port for the `rdr-to` of rule `ri`.
    pub(in crate::engine) fn rdr_target(
        &mut self,
        ri: RuleRef,
        pd: &Pd,
        sns: &mut Sns,
        now: u64,
    ) -> Option<(IpAddr, u16)> {
        self.rdr_map(ri, pd, sns, now)
    }
}

//! Which states `pfctl -k` removes (DIOCKILLSTATES): by state id, or by
//! the connection as its initiator saw it (family, protocol, source and
//! destination networks and ports), the label of the rule that made the
//! state, the interface it is bound to.

use super::{State, SK_STACK, SK_WIRE};
use crate::addr::{Af, IpNet};
use crate::engine::packet::Dir;
use crate::engine::Engine;
use serde::{Deserialize, Serialize};

/// What `pfctl -k` asks to kill (`struct pfioc_state_kill`). Unset fields
/// match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateKill {
    /// `-k id -k ID[/CREATORID]`: only this state; creator id 0 is this
    /// host's.
    pub id: Option<(u64, u32)>,
    pub af: Option<Af>,
    pub proto: Option<u8>,
    /// The initiator's address and its peer's.
    pub src: Option<IpNet>,
    pub dst: Option<IpNet>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// `-k label -k NAME`: the creating rule's label.
    pub label: Option<String>,
    /// `-i ifname`: states bound to that interface.
    pub ifname: Option<String>,
}

impl StateKill {
    /// Does `st` fall under this kill (pf's generic DIOCKILLSTATES loop)?
    pub fn matches(&self, st: &State) -> bool {
        // The connection as its initiator saw it: the stack side of an
        // outbound state, the wire side of an inbound one.
        let (k, s, d) = match st.direction {
            Dir::Out => (&st.key[SK_STACK], 1, 0),
            Dir::In => (&st.key[SK_WIRE], 0, 1),
        };
        self.af.is_none_or(|af| af == Af::of(&k.addr[0]))
            && self.proto.is_none_or(|p| p == k.proto)
            && self.src.is_none_or(|n| n.contains(&k.addr[s]))
            && self.dst.is_none_or(|n| n.contains(&k.addr[d]))
            && self.src_port.is_none_or(|p| p == k.port[s])
            && self.dst_port.is_none_or(|p| p == k.port[d])
            && self
                .label
                .as_deref()
                .is_none_or(|l| st.cold().label.as_deref() == Some(l))
            && self
                .ifname
                .as_deref()
                .is_none_or(|i| st.ifname.as_deref().unwrap_or("all") == i)
    }
}

impl Engine {
    /// DIOCKILLSTATES: remove the states `k` selects, telling the pfsync
    /// peer. Returns how many.
    pub fn kill_matching(&mut self, k: &StateKill, now: u64) -> usize {
        if let Some((id, creator)) = k.id {
            let creator = if creator == 0 { self.hostid() } else { creator };
            return match self.states.by_id(id, creator) {
                Some(slot) => self.remove_state(slot, now, true).map_or(0, |_| 1),
                None => 0,
            };
        }
        self.kill_states(now, true, |st| k.matches(st))
    }
}

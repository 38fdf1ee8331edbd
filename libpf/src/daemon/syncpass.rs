//! pfsync frames past pfd's queue. pf filters pfsync like any traffic,
//! so the first frames of a pfsync flow go through pfd's queue as every
//! packet does; once pf passed one by a state (plainly: no log, no
//! translation, no route option), the flow and its reverse are listed in
//! sys::syncpass's nftables sets and their frames go by unqueued, so that
//! they never wait behind the data path's packets nor are lost with them
//! when pfd stalls. The state stays the truth: what the sets counted is
//! brought into it each second (packets, bytes, last activity, so it does
//! not expire while frames flow), and a flow is unlisted within 250 ms of
//! its state going (expiry, `pfctl -k`, `pfctl -F states`), after which
//! its frames are filtered again, so a rule loaded since then has its say
//! as it would on OpenBSD once the state is gone.

use super::Shared;
use crate::engine::packet::Dir;
use crate::engine::state::{Offloaded, Slot};
use crate::log;
use crate::sys::syncpass::{self as kernel, Count, Flow, Way};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

/// IP protocol number of pfsync.
pub const IPPROTO_PFSYNC: u8 = 240;

/// Flows listed at most (each state lists two): beyond, frames are
/// queued as before.
const MAX_STATES: usize = 64;

/// The listed flows of pfd's pfsync states.
#[derive(Debug, Default)]
pub struct SyncPass {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// By state slot: the state's flows, the way its first packet went
    /// first, and whether they are in the sets yet.
    states: HashMap<Slot, Listed>,
    /// The sets' generation the listed flows are in.
    generation: u64,
    /// Unlisting failed: the table is suspect until made afresh.
    failed: bool,
}

#[derive(Debug, Clone)]
struct Listed {
    flows: [Flow; 2],
    listed: bool,
    /// What the sets had counted for `flows` when last read.
    seen: [Count; 2],
}

/// Source and destination of an IPv4 pfsync frame (None: anything else,
/// or a fragment).
pub fn frame_addrs(pkt: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 || pkt[9] != IPPROTO_PFSYNC {
        return None;
    }
    // More fragments, or an offset: not a whole frame.
    if u16::from_be_bytes([pkt[6], pkt[7]]) & 0x3fff != 0 {
        return None;
    }
    let a = |o: usize| Ipv4Addr::new(pkt[o], pkt[o + 1], pkt[o + 2], pkt[o + 3]);
    Some((a(12), a(16)))
}

/// An interface name nft(8) takes quoted as it is.
fn plain_ifname(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

impl SyncPass {
    /// Packet `pkt`, which went `dir` through `ifname`, was passed by
    /// state `slot` plainly: list its flow if it is pfsync's.
    pub fn offer(&self, pkt: &[u8], dir: Dir, ifname: &str, slot: Slot) {
        let Some((src, dst)) = frame_addrs(pkt) else {
            return;
        };
        if !plain_ifname(ifname) {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.states.contains_key(&slot) || g.states.len() >= MAX_STATES {
            return;
        }
        let (way, back) = match dir {
            Dir::In => (Way::In, Way::Out),
            Dir::Out => (Way::Out, Way::In),
        };
        let flow = |way, src, dst| Flow {
            way,
            ifname: ifname.to_string(),
            src,
            dst,
        };
        g.states.insert(
            slot,
            Listed {
                flows: [flow(way, src, dst), flow(back, dst, src)],
                listed: false,
                seen: [Count::default(); 2],
            },
        );
    }

    /// Keep the sets as the states are: list new flows, unlist those
    /// whose state went, and (`count`) bring what the sets counted into
    /// the states. Called from pfd's maintenance, every 250 ms.
    pub fn tick(&self, shared: &Shared, now: u64, count: bool) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // No table: pf is disabled, nothing is filtered.
        let Some(generation) = kernel::generation() else {
            return;
        };
        if generation != g.generation {
            // The table was made afresh (pfctl -e, a restart): empty.
            for l in g.states.values_mut() {
                l.listed = false;
                l.seen = [Count::default(); 2];
            }
            g.generation = generation;
            g.failed = false;
        }
        if g.states.is_empty() || g.failed {
            return;
        }
        let counts = if count && g.states.values().any(|l| l.listed) {
            match kernel::counters() {
                Ok(c) => c,
                Err(e) => {
                    log::warning(&format!("pfsync past the queue: {e}"));
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let (mut add, mut del) = (Vec::new(), Vec::new());
        {
            let mut e = shared.engine();
            g.states.retain(|&slot, l| {
                let alive = e.states.get(slot).is_some_and(|st| {
                    let k = &st.key[0];
                    let (a, b) = (IpAddr::V4(l.flows[0].src), IpAddr::V4(l.flows[0].dst));
                    k.proto == IPPROTO_PFSYNC && (k.addr == [a, b] || k.addr == [b, a])
                });
                if !alive {
                    if l.listed {
                        del.extend(l.flows.iter().cloned());
                    }
                    return false;
                }
                if !l.listed {
                    add.extend(l.flows.iter().cloned());
                    return true;
                }
                let mut o = Offloaded::default();
                for (i, f) in l.flows.iter().enumerate() {
                    if let Some((_, c)) = counts.iter().find(|(cf, _)| cf == f) {
                        o.packets[i] = c.packets.saturating_sub(l.seen[i].packets);
                        o.bytes[i] = c.bytes.saturating_sub(l.seen[i].bytes);
                        l.seen[i] = *c;
                    }
                }
                if o.packets != [0, 0] {
                    o.last = Some(now);
                    e.offloaded(slot, &o, now);
                }
                true
            });
        }
        drop(g);
        if add.is_empty() && del.is_empty() {
            return;
        }
        let r = kernel::change(&add, &del);
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match r {
            Ok(()) => {
                for l in g.states.values_mut() {
                    if add.contains(&l.flows[0]) {
                        l.listed = true;
                    }
                }
            }
            Err(e) => {
                // A flow may still be listed whose state is gone: keep
                // every frame queued until the table is made afresh.
                log::warning(&format!("pfsync past the queue: {e}"));
                if !del.is_empty() {
                    g.failed = true;
                    drop(g);
                    if let Err(e) = kernel::install() {
                        log::err(&format!("pfsync past the queue: {e}"));
                        let _ = kernel::remove();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(proto: u8, frag: u16) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[6..8].copy_from_slice(&frag.to_be_bytes());
        p[9] = proto;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[224, 0, 0, 240]);
        p
    }

    #[test]
    fn only_whole_ipv4_pfsync_frames() {
        assert_eq!(
            frame_addrs(&frame(240, 0x4000)),
            Some((Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(224, 0, 0, 240)))
        );
        assert_eq!(frame_addrs(&frame(17, 0)), None);
        assert_eq!(frame_addrs(&frame(240, 0x2000)), None);
        assert_eq!(frame_addrs(&frame(240, 0x0010)), None);
        assert_eq!(frame_addrs(&frame(240, 0)[..19]), None);
    }

    #[test]
    fn a_state_lists_its_flow_and_the_reverse() {
        let sp = SyncPass::default();
        sp.offer(&frame(240, 0), Dir::Out, "sync0", 7);
        sp.offer(&frame(240, 0), Dir::Out, "sync0", 7);
        sp.offer(&frame(240, 0), Dir::In, "bad\"name", 8);
        let g = sp.inner.lock().unwrap();
        assert_eq!(g.states.len(), 1);
        let l = &g.states[&7];
        assert_eq!(l.flows[0].way, Way::Out);
        assert_eq!(l.flows[1].way, Way::In);
        assert_eq!(l.flows[1].src, Ipv4Addr::new(224, 0, 0, 240));
    }
}

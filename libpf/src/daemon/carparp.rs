//! The ARP responder of balanced carp interfaces (carp(4) carp_iamatch):
//! pfd answers ARP requests for their addresses itself, as the kernel
//! cannot answer with the MAC the mode gives (a multicast MAC under
//! balancing ip, the MAC of the node the requester hashes to under
//! balancing arp, the carpdev's own MAC as Ethernet source under ip and
//! ip-stealth), and makes the carpdevs accept the multicast virtual MAC
//! of balancing ip and the nodes' MACs of balancing arp.

use super::carp::Owners;
use super::Shared;
use crate::carp::balance::{node_mac, Balancing};
use crate::log;
use crate::sys::packet::{PacketSocket, PACKET_OUTGOING};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The MACs the carpdevs must accept besides their own and the
/// macvlan's (OpenBSD puts the carpdev in promiscuous mode instead):
/// (carpdev, MAC) of the multicast MAC of every interface under
/// balancing ip, and of every node after the leader under arp.
fn wanted(owners: &Owners) -> BTreeSet<(u32, [u8; 6])> {
    let mut out = BTreeSet::new();
    for o in owners.snapshot().iter() {
        let b = o.share.balancing;
        for (i, &vhid) in o.share.vhids.iter().enumerate() {
            if (b == Balancing::Ip && i == 0) || (b == Balancing::Arp && i > 0) {
                out.insert((o.carpdev, node_mac(b, i == 0, vhid)));
            }
        }
    }
    out
}

/// Serve ARP requests until pfd shuts down.
pub fn run(shared: Arc<Shared>) {
    let owners = shared.carp().owners();
    let sock = match PacketSocket::arp(Duration::from_millis(200)) {
        Ok(s) => s,
        Err(e) => {
            log::err(&format!("carp: ARP socket: {e}"));
            return;
        }
    };
    let mut joined: BTreeSet<(u32, [u8; 6])> = BTreeSet::new();
    let mut seen = u64::MAX;
    let mut buf = vec![0u8; 2048];
    while !shared.shutdown.load(Ordering::Relaxed) {
        let gen = owners.generation();
        if gen != seen {
            seen = gen;
            let want = wanted(&owners);
            for &(i, m) in joined.difference(&want) {
                let _ = sock.accept_mac(i, m, false);
            }
            for &(i, m) in want.difference(&joined) {
                if let Err(e) = sock.accept_mac(i, m, true) {
                    log::err(&format!("carp: accepting {m:02x?} on ifindex {i}: {e}"));
                }
            }
            joined = want;
        }
        let r = match sock.recv(&mut buf) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                log::err(&format!("carp: ARP receive: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if r.pkttype == PACKET_OUTGOING {
            continue;
        }
        if let Some(reply) = owners.arp_reply(r.ifindex, &buf[..r.len]) {
            if let Err(e) = sock.send(r.ifindex, &reply) {
                log::err(&format!("carp: ARP reply: {e}"));
            }
        }
    }
}

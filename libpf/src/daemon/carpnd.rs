//! The neighbour discovery responder of balanced carp interfaces (carp(4)
//! carp_iamatch for IPv6): pfd answers neighbour solicitations for their
//! IPv6 addresses itself, with the MAC the mode gives (the multicast
//! virtual MAC under balancing ip, from the carpdev's own MAC under ip and
//! ip-stealth), on the host that is MASTER of the leading carpnode only;
//! the kernel's own answers on the carp interface are dropped (nft, see
//! `carp::balance::nd_script`).

use super::Shared;
use crate::log;
use crate::sys::packet::{PacketSocket, PACKET_OUTGOING};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Serve neighbour solicitations until pfd shuts down.
pub fn run(shared: Arc<Shared>) {
    let owners = shared.carp().owners();
    let sock = match PacketSocket::neighbour_solicitations(Duration::from_millis(200)) {
        Ok(s) => s,
        Err(e) => {
            // A kernel without IPv6 has no solicitations to answer.
            log::info(&format!("carp: neighbour discovery socket: {e}"));
            return;
        }
    };
    let mut buf = vec![0u8; 2048];
    while !shared.shutdown.load(Ordering::Relaxed) {
        let r = match sock.recv(&mut buf) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                log::err(&format!("carp: neighbour solicitation receive: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if r.pkttype == PACKET_OUTGOING {
            continue;
        }
        if let Some((dev, reply)) = owners.nd_reply(r.ifindex, &buf[..r.len]) {
            if let Err(e) = sock.send(dev, &reply) {
                log::err(&format!("carp: neighbour advertisement: {e}"));
            }
        }
    }
}

//! IPv6 CARP in pfd (carp.4): advertisements to ff02::12 with hop limit
//! 255 from the carpdev's link-local address, as whole frames from the
//! virtual MAC; received ones from the raw IPv6 socket; unsolicited
//! neighbour advertisements on takeover (OpenBSD's carp_send_na).

use super::{advert_seq, CarpTable, Shared};
use crate::addr::IpNet;
use crate::carp::balance::node_mac;
use crate::log;
use crate::sys::raw::Raw6Receiver;
use crate::sys::sysctl;
use crate::wire::carp::{build_ipv6_advert, CARP6_GROUP};
use crate::wire::ethernet::{self, EthernetAddress};
use crate::wire::icmpv6::{neighbor_advert_packet, ND_NA_FLAG_OVERRIDE, ND_NA_FLAG_ROUTER};
use crate::wire::ipv6;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// The IPv6 address advertisements leave a carpdev from: its link-local
/// address, else its first other IPv6 address (carp_send_ad).
pub(super) fn ipv6_of(nets: &[IpNet]) -> Option<Ipv6Addr> {
    let v6 = || {
        nets.iter().filter_map(|n| match n.addr {
            IpAddr::V6(a) => Some(a),
            _ => None,
        })
    };
    v6().find(|a| a.segments()[0] & 0xffc0 == 0xfe80)
        .or_else(|| v6().next())
}

impl CarpTable {
    /// The IPv6 advertisement of carpnode `node` (0: the leader).
    pub(super) fn send_advert6(&mut self, name: &str, node: usize, bow_out: bool) {
        if self.entries.get(name).is_some_and(|e| e.src6.is_none()) {
            self.refresh_src(name);
        }
        let Some(e) = self.entries.get(name) else {
            return;
        };
        let demote = self.demote_of(&e.cif.config);
        let Some(src) = e.src6 else {
            self.log_drop(
                "nosrc6",
                format!("{name}: no IPv6 address to send advertisements from"),
            );
            return;
        };
        let Some(e) = self.entries.get_mut(name) else {
            return;
        };
        let dev_index = e.carpdev_index;
        let carpdev_mac = e.carpdev_mac;
        let Some(cif) = e.node_mut(node) else {
            return;
        };
        let repr = cif.advert(bow_out, demote, src, advert_seq());
        let mut pkt = build_ipv6_advert(src, CARP6_GROUP, &repr);
        // Exactly one advertisement a period leaves from the virtual MAC:
        // the IPv4 one when there is one. A new MASTER that takes over on
        // the first of two advertisements (a bow-out, a demotion) sends its
        // gratuitous ARP and NAs at once; a second frame from the virtual
        // MAC by the old master right after them taught the switch the
        // wrong port again, until the next advertisement (a second of
        // traffic lost in carp6.sh, one run in three on a loaded machine).
        let dual = cif.fsm.families()[0];
        let Some(e) = self.entries.get(name) else {
            return;
        };
        let eth_src = match (dual, carpdev_mac) {
            (true, Some(mac)) => EthernetAddress(mac),
            _ => EthernetAddress(e.frame_source(node)),
        };
        let carpdev = e.cif.config.carpdev.clone().unwrap_or_default();
        if !self.pf_passes(name, &carpdev, "IPv6 advertisement", &mut pkt) {
            return;
        }
        let frame = ipv6_frame(eth_src, &CARP6_GROUP, &pkt);
        match self.frames.send(dev_index, &frame) {
            Ok(()) => {
                if let Some(c) = self.entries.get_mut(name).and_then(|e| e.node_mut(node)) {
                    c.stats.opackets6 += 1;
                }
            }
            Err(err) => log::err(&format!("{name}: sending IPv6 advertisement: {err}")),
        }
    }

    /// carp_send_na: an unsolicited neighbour advertisement to ff02::1 for
    /// each IPv6 address, Override set (Router too when forwarding), the
    /// virtual MAC as target link-layer address (under balancing ip the
    /// multicast one, and the carpdev's MAC as the frame's source under ip
    /// and ip-stealth), hop limit 255, from the address itself (the carp
    /// interface has no link-local address; Linux sends its own
    /// unsolicited NAs that way too).
    pub(super) fn send_na(&mut self, name: &str) {
        let Some(e) = self.entries.get(name) else {
            return;
        };
        let targets = e.cif.ipv6_addrs();
        if targets.is_empty() {
            return;
        }
        let c = &e.cif.config;
        let mac = EthernetAddress(node_mac(c.balancing, true, c.vhid));
        let (src, idx) = (EthernetAddress(e.frame_source(0)), e.ifindex);
        let forwarding = sysctl::read(&format!("net.ipv6.conf.{name}.forwarding"))
            .is_ok_and(|v| v.trim() == "1");
        let flags = ND_NA_FLAG_OVERRIDE | if forwarding { ND_NA_FLAG_ROUTER } else { 0 };
        let dst = ipv6::ALL_NODES;
        for t in targets {
            let mut pkt = neighbor_advert_packet(&t, &dst, &t, mac, flags);
            if !self.pf_passes(name, name, "neighbour advertisement", &mut pkt) {
                continue;
            }
            let frame = ipv6_frame(src, &dst, &pkt);
            if let Err(err) = self.frames.send(idx, &frame) {
                log::err(&format!("{name}: neighbour advertisement for {t}: {err}"));
            }
        }
    }

    /// An IPv6 advertisement arrived on `ifindex`: `payload` after the
    /// IPv6 header, which said `src`, `hop_limit`. (carppeer is IPv4 only,
    /// so any carp interface with the vhid matches.)
    pub fn input6(
        &mut self,
        payload: &[u8],
        src: Ipv6Addr,
        hop_limit: u8,
        ifindex: u32,
        now: Duration,
    ) {
        if !self.allow || self.leaving {
            return;
        }
        let vhid = payload.get(1).copied().unwrap_or(0);
        self.deliver(
            hop_limit,
            IpAddr::V6(src),
            None,
            vhid,
            payload,
            ifindex,
            now,
        );
    }
}

/// An Ethernet frame around IPv6 packet `pkt` to multicast `dst` from `src`.
fn ipv6_frame(src: EthernetAddress, dst: &Ipv6Addr, pkt: &[u8]) -> Vec<u8> {
    ethernet::Repr {
        src_addr: src,
        dst_addr: EthernetAddress::from_ipv6_multicast(*dst),
        ethertype: ethernet::ETHERTYPE_IPV6,
    }
    .frame(pkt)
}

/// Take every IPv6 advertisement waiting on the socket.
pub(super) fn receive_all6(shared: &Shared, rx: &Raw6Receiver, buf: &mut [u8]) {
    loop {
        match rx.recv_nonblocking(buf) {
            Ok(Some(r)) => {
                let now = shared.now();
                shared
                    .carp()
                    .input6(&buf[..r.len], r.src, r.hop_limit, r.ifindex, now);
            }
            Ok(None) => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::err(&format!("carp: receive (IPv6): {e}"));
                return;
            }
        }
    }
}

//! What pfsyncd checks of a received IPv4 packet before it parses the
//! pfsync frame inside (OpenBSD's pfsync_input: a whole IP header, TTL
//! 255), so the checks are one pure function the fuzz target shares with
//! the daemon.

use crate::wire::pfsync::PFSYNC_DFLTTL;
use std::net::Ipv4Addr;

/// Why a packet was dropped before its frame was read, as OpenBSD counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// Shorter than an IP header, or a header length under 20 bytes or
    /// beyond the packet (`hdrops`).
    Header,
    /// Not sent from the link itself (`badttl`): the TTL it had.
    Ttl(u8),
}

/// A packet that passed: its source and the pfsync frame (header first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    pub src: Ipv4Addr,
    pub frame: &'a [u8],
}

/// Checks an IPv4 packet from the pfsync socket.
pub fn received(pkt: &[u8]) -> Result<Received<'_>, Drop> {
    if pkt.len() < 20 {
        return Err(Drop::Header);
    }
    let hl = usize::from(pkt[0] & 0x0f) * 4;
    if hl < 20 {
        return Err(Drop::Header);
    }
    if pkt[8] != PFSYNC_DFLTTL {
        return Err(Drop::Ttl(pkt[8]));
    }
    let frame = pkt.get(hl..).ok_or(Drop::Header)?;
    Ok(Received {
        src: Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]),
        frame,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(ihl: u8, ttl: u8, len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x40 | ihl;
        p[8] = ttl;
        p[12..16].copy_from_slice(&[169, 254, 0, 1]);
        p
    }

    #[test]
    fn frame_after_the_header() {
        let pkt = ip(5, 255, 48);
        let r = received(&pkt).unwrap();
        assert_eq!(r.src, Ipv4Addr::new(169, 254, 0, 1));
        assert_eq!(r.frame.len(), 28);
        // IP options: the frame starts after them.
        assert_eq!(received(&ip(6, 255, 48)).unwrap().frame.len(), 24);
    }

    #[test]
    fn short_or_bad_headers_and_ttl() {
        assert_eq!(received(&ip(5, 255, 19)), Err(Drop::Header));
        assert_eq!(received(&ip(5, 64, 48)), Err(Drop::Ttl(64)));
        // A header length beyond the packet.
        assert_eq!(received(&ip(15, 255, 48)), Err(Drop::Header));
        // A header length under 20 (IHL < 5) left the frame inside the IP
        // header (seen while writing the pfsync fuzz target): hdrops now.
        assert_eq!(received(&ip(0, 255, 48)), Err(Drop::Header));
        assert_eq!(received(&ip(4, 255, 48)), Err(Drop::Header));
    }
}

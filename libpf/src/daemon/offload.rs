//! What the kernel's offloads leave to pfd when it takes packets whole
//! from NFQUEUE (NFQA_CFG_F_GSO): a transport checksum not computed yet
//! (CHECKSUM_PARTIAL: the field holds the pseudo-header sum, the card or
//! the kernel's segmentation fills it in), and GSO packets, several
//! segments' worth that are cut up only on the way out.
//!
//! The kernel finishes both for a packet that goes back through the queue
//! unchanged. Bytes that leave pfd otherwise need them done here: a
//! rewritten packet given back (the kernel then takes its checksum as
//! final), a packet sent again through a raw socket, which sends what it is
//! given as one IP packet.
//!
//! Pure: byte buffers in, byte buffers out.

use crate::engine::packet::describe;
use crate::wire::checksum;
use crate::wire::{IPPROTO_TCP, IPPROTO_UDP};

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;

/// The checksum field's offset in the transport header, and whether the
/// pseudo-header is part of the sum.
fn csum_field(proto: u8) -> Option<(usize, bool)> {
    match proto {
        IPPROTO_TCP => Some((16, true)),
        IPPROTO_UDP => Some((6, true)),
        IPPROTO_ICMPV6 => Some((2, true)),
        IPPROTO_ICMP => Some((2, false)),
        _ => None,
    }
}

/// Compute the transport checksum of the IP packet in `buf` from scratch
/// (whatever its field holds). False: not a packet whose checksum this
/// knows (a fragment, another protocol, malformed); it is left alone.
pub fn complete_checksum(buf: &mut [u8]) -> bool {
    let Ok(pd) = describe(buf) else {
        return false;
    };
    if pd.fragment || pd.tot_len > buf.len() || pd.l4_off > pd.tot_len {
        return false;
    }
    let Some((off, pseudo)) = csum_field(pd.proto) else {
        return false;
    };
    let l4 = &mut buf[pd.l4_off..pd.tot_len];
    if l4.len() < off + 2 {
        return false;
    }
    l4[off] = 0;
    l4[off + 1] = 0;
    let mut s = checksum::sum(l4);
    if pseudo {
        s = checksum::combine(
            checksum::pseudo_header(&pd.src, &pd.dst, pd.proto, l4.len() as u32),
            s,
        );
    }
    let mut c = checksum::finish(s);
    if c == 0 && pd.proto == IPPROTO_UDP {
        // 0 means "no checksum" for UDP over IPv4 (and is not allowed
        // over IPv6): the same sum is written as all ones.
        c = 0xffff;
    }
    l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// The payload size of the segments of a GSO packet: the payload of the
/// first of the segments the kernel made of it (`seg`, an IP packet).
pub fn segment_size(seg: &[u8]) -> Option<usize> {
    let pd = describe(seg).ok()?;
    let hdr = transport_header_len(seg, pd.l4_off, pd.proto)?;
    pd.tot_len.checked_sub(pd.l4_off + hdr).filter(|n| *n > 0)
}

/// The length of the IP and TCP/UDP headers of `pkt`.
pub fn headers_len(pkt: &[u8]) -> Option<usize> {
    let pd = describe(pkt).ok()?;
    Some(pd.l4_off + transport_header_len(pkt, pd.l4_off, pd.proto)?)
}

fn transport_header_len(b: &[u8], l4_off: usize, proto: u8) -> Option<usize> {
    match proto {
        IPPROTO_TCP => Some(((*b.get(l4_off + 12)? >> 4) as usize) * 4).filter(|n| *n >= 20),
        IPPROTO_UDP => Some(8),
        _ => None,
    }
}

/// Cut the TCP or UDP packet `pkt` (checksum complete or not) into
/// packets of at most `size` bytes of payload, as the kernel's
/// segmentation does: TCP sequence numbers advance, FIN and PSH stay on
/// the last segment and CWR on the first, IPv4 ids count up, lengths and
/// checksums are computed. Each segment is handed to `out`. False, and
/// nothing handed over: not a TCP or UDP packet, or `size` is 0.
pub fn segment(pkt: &[u8], size: usize, buf: &mut Vec<u8>, mut out: impl FnMut(&[u8])) -> bool {
    let Ok(pd) = describe(pkt) else {
        return false;
    };
    if pd.fragment || size == 0 || pd.tot_len > pkt.len() {
        return false;
    }
    let Some(th) = transport_header_len(pkt, pd.l4_off, pd.proto) else {
        return false;
    };
    let hdr = pd.l4_off + th;
    if hdr > pd.tot_len {
        return false;
    }
    let payload = &pkt[hdr..pd.tot_len];
    let v4 = pkt[0] >> 4 == 4;
    let id = u16::from_be_bytes([pkt[4], pkt[5]]);
    let seq = u32::from_be_bytes(
        pkt[pd.l4_off + 4..pd.l4_off + 8]
            .try_into()
            .unwrap_or([0; 4]),
    );
    let n = payload.len().div_ceil(size).max(1);
    for i in 0..n {
        let chunk = payload
            .get(i * size..((i + 1) * size).min(payload.len()))
            .unwrap_or(&[]);
        buf.clear();
        buf.extend_from_slice(&pkt[..hdr]);
        buf.extend_from_slice(chunk);
        let len = buf.len();
        if v4 {
            buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            buf[4..6].copy_from_slice(&id.wrapping_add(i as u16).to_be_bytes());
            crate::engine::normalize::ipv4_header_checksum(buf);
        } else {
            buf[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
        }
        let t = pd.l4_off;
        if pd.proto == IPPROTO_TCP {
            let s = seq.wrapping_add((i * size) as u32);
            buf[t + 4..t + 8].copy_from_slice(&s.to_be_bytes());
            const FIN: u8 = 0x01;
            const PSH: u8 = 0x08;
            const CWR: u8 = 0x80;
            if i + 1 < n {
                buf[t + 13] &= !(FIN | PSH);
            }
            if i > 0 {
                buf[t + 13] &= !CWR;
            }
        } else {
            buf[t + 4..t + 6].copy_from_slice(&((len - t) as u16).to_be_bytes());
        }
        complete_checksum(buf);
        out(buf);
    }
    true
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::{ipv4, tcp};

    /// An IPv4 packet (id 1, DF, TTL 64) around transport bytes `l4`,
    /// checksums filled.
    pub(crate) fn v4(src: &str, dst: &str, proto: u8, l4: &[u8]) -> Vec<u8> {
        let (s, d): (std::net::Ipv4Addr, std::net::Ipv4Addr) =
            (src.parse().unwrap(), dst.parse().unwrap());
        let mut b = vec![0x45, 0];
        b.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        b.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
        b.extend_from_slice(&s.octets());
        b.extend_from_slice(&d.octets());
        crate::engine::normalize::ipv4_header_checksum(&mut b);
        b.extend_from_slice(l4);
        fill_l4_checksum(&mut b);
        b
    }

    pub(crate) fn fill_l4_checksum(b: &mut [u8]) {
        complete_checksum(b);
    }

    /// A TCP header (no options) and payload.
    pub(crate) fn tcp_seg(
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        win: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut t = vec![0u8; 20 + payload.len()];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&win.to_be_bytes());
        t[20..].copy_from_slice(payload);
        t
    }

    /// Do the IPv4 header and the transport checksum verify (the sum over
    /// pseudo-header and segment, field included, is all ones)?
    fn ok(p: &[u8]) -> bool {
        let pd = describe(p).unwrap();
        let l4 = &p[pd.l4_off..pd.tot_len];
        let s = checksum::combine(
            checksum::pseudo_header(&pd.src, &pd.dst, pd.proto, l4.len() as u32),
            checksum::sum(l4),
        );
        checksum::finish(s) == 0 && ipv4::Packet::new_checked(p).unwrap().verify_checksum()
    }

    #[test]
    fn partial_checksum_is_completed() {
        let mut p = v4(
            "10.0.0.1",
            "10.0.0.2",
            6,
            &tcp_seg(1000, 80, 7, 9, 0x18, 512, b"hello"),
        );
        let good = p.clone();
        assert!(ok(&good));
        // CHECKSUM_PARTIAL: the field holds the pseudo-header sum.
        let pd = describe(&p).unwrap();
        let ph = checksum::pseudo_header(&pd.src, &pd.dst, 6, (p.len() - 20) as u32);
        let folded = !checksum::finish(ph);
        p[36..38].copy_from_slice(&folded.to_be_bytes());
        assert_ne!(p, good);
        assert!(complete_checksum(&mut p));
        assert_eq!(p, good);
        // Not TCP/UDP/ICMP: left alone.
        let mut gre = v4("10.0.0.1", "10.0.0.2", 47, &[0; 8]);
        assert!(!complete_checksum(&mut gre));
        assert!(!complete_checksum(&mut [0x45, 0]));
    }

    #[test]
    fn udp_zero_sum_becomes_all_ones() {
        // Find a payload whose checksum computes to 0.
        for x in 0..=u16::MAX {
            let mut u = vec![0u8; 10];
            u[0..2].copy_from_slice(&1000u16.to_be_bytes());
            u[2..4].copy_from_slice(&53u16.to_be_bytes());
            u[4..6].copy_from_slice(&10u16.to_be_bytes());
            u[8..10].copy_from_slice(&x.to_be_bytes());
            let mut p = v4("10.0.0.1", "10.0.0.2", 17, &u);
            assert!(complete_checksum(&mut p));
            if p[26..28] == [0xff, 0xff] {
                return;
            }
            assert_ne!(p[26..28], [0, 0]);
        }
        panic!("no payload summed to zero");
    }

    #[test]
    fn tcp_segments_like_the_kernel() {
        let payload: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        // FIN|PSH|ACK|CWR
        let p = v4(
            "10.0.0.1",
            "10.0.0.2",
            6,
            &tcp_seg(1000, 80, 100, 9, 0x80 | 0x19, 512, &payload),
        );
        let mut segs = Vec::new();
        let mut buf = Vec::new();
        assert!(segment(&p, 1000, &mut buf, |s| segs.push(s.to_vec())));
        assert_eq!(segs.len(), 3);
        let mut got = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            assert!(ok(s), "segment {i} checksums");
            let ip = ipv4::Packet::new_checked(&s[..]).unwrap();
            assert_eq!(ip.ident(), 1 + i as u16);
            let t = tcp::Packet::new_checked(&s[20..]).unwrap();
            assert_eq!(t.seq_number(), 100 + 1000 * i as u32);
            assert_eq!(s[33] & 0x01 != 0, i == 2, "FIN on the last only");
            assert_eq!(s[33] & 0x08 != 0, i == 2, "PSH on the last only");
            assert_eq!(s[33] & 0x80 != 0, i == 0, "CWR on the first only");
            got.extend_from_slice(&s[40..]);
        }
        assert_eq!(got, payload);
        assert_eq!(segment_size(&segs[0]), Some(1000));
        assert_eq!(segs[2].len(), 40 + 500);
    }

    #[test]
    fn udp_segments_have_their_own_lengths() {
        let mut u = vec![0u8; 8 + 300];
        u[0..2].copy_from_slice(&1000u16.to_be_bytes());
        u[2..4].copy_from_slice(&53u16.to_be_bytes());
        u[4..6].copy_from_slice(&(308u16).to_be_bytes());
        let p = v4("10.0.0.1", "10.0.0.2", 17, &u);
        let mut segs = Vec::new();
        let mut buf = Vec::new();
        assert!(segment(&p, 128, &mut buf, |s| segs.push(s.to_vec())));
        assert_eq!(
            segs.iter().map(|s| s.len()).collect::<Vec<_>>(),
            [156, 156, 72]
        );
        for s in &segs {
            assert!(ok(s));
            assert_eq!(u16::from_be_bytes([s[24], s[25]]) as usize, s.len() - 20);
        }
        assert!(!segment(&p, 0, &mut buf, |_| {}));
    }
}

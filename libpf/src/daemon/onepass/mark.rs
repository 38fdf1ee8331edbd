//! The marks of packets filtered `out` when they came in, and the TTL
//! step forwarding takes between the two passes.

use crate::engine::Mtag;
use crate::wire::checksum::update16;

/// Layout of the mark of a packet both of whose passes are done:
/// bit 31 set, bits 24..30 the route selector (where it was), bits 16..23
/// the tag, bits 8..15 the receiving interface's slot, bits 0..7 the code
/// of the interface the `out` pass was for (never 0: 0 is a packet pfd
/// generated, `engine::mtag`).
pub const DONE_BIT: u32 = crate::engine::mtag::GENERATED_BIT;
pub const CODE_MASK: u32 = 0xff;

/// The mark of a packet filtered `in` and `out` (on the interface of
/// `code`), carrying `m`: None when `m` does not fit (a tag above 255).
pub fn done_mark(m: Mtag, code: u8) -> Option<u32> {
    if m.tag > 0xff || code == 0 || m.generated {
        return None;
    }
    Some(
        DONE_BIT
            | (m.route as u32 & 0x7f) << 24
            | (m.tag as u32) << 16
            | (m.in_slot as u32) << 8
            | code as u32,
    )
}

/// The pf header of a packet marked by `done_mark` (None: another mark).
pub fn from_done_mark(mark: u32) -> Option<Mtag> {
    if mark & DONE_BIT == 0 || mark & CODE_MASK == 0 || mark & CODE_MASK == DEFER_CODE {
        return None;
    }
    Some(Mtag {
        generated: false,
        route: ((mark >> 24) & 0x7f) as u8,
        tag: ((mark >> 16) & 0xff) as u16,
        in_slot: ((mark >> 8) & 0xff) as u8,
    })
}

/// The code of a packet whose `out` pass rewrote it: the rewrite waits
/// for POSTROUTING (see `Deferrals`), where the packet is queued again.
/// Its mark: bit 31, the route selector, the ticket in bits 8..23, 0xff.
pub const DEFER_CODE: u32 = 0xff;

pub fn defer_mark(route: u8, ticket: u16) -> u32 {
    DONE_BIT | (route as u32 & 0x7f) << 24 | (ticket as u32) << 8 | DEFER_CODE
}

/// The ticket of a packet marked by `defer_mark`.
pub fn defer_ticket(mark: u32) -> Option<u16> {
    (mark & DONE_BIT != 0 && mark & CODE_MASK == DEFER_CODE)
        .then_some(((mark >> 8) & 0xffff) as u16)
}

/// Forwarding's TTL (hop limit) decrement, done ahead of the kernel so the
/// `out` pass sees what POSTROUTING would.
pub fn ttl_down(pkt: &mut [u8]) -> bool {
    crate::engine::mtu::decrement_ttl(pkt)
}

/// Undo `ttl_down` on a packet that goes back to the kernel, which
/// decrements it again when it forwards it.
pub fn ttl_up(pkt: &mut [u8]) {
    match pkt.first().map(|b| b >> 4) {
        Some(4) if pkt.len() >= 20 && pkt[8] < 255 => {
            let old = u16::from_be_bytes([pkt[8], pkt[9]]);
            pkt[8] += 1;
            let new = u16::from_be_bytes([pkt[8], pkt[9]]);
            let c = update16(u16::from_be_bytes([pkt[10], pkt[11]]), old, new);
            pkt[10..12].copy_from_slice(&c.to_be_bytes());
        }
        Some(6) if pkt.len() >= 40 && pkt[7] < 255 => pkt[7] += 1,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::offload::tests::{tcp_seg, v4};
    use crate::wire::ipv4;

    #[test]
    fn done_marks_round_trip() {
        let m = Mtag {
            generated: false,
            route: 5,
            tag: 0x42,
            in_slot: 3,
        };
        let mark = done_mark(m, 9).unwrap();
        assert_eq!(mark, 0x8542_0309);
        assert_eq!(from_done_mark(mark), Some(m));
        // Too large a tag, no code, generated: no such mark.
        assert_eq!(done_mark(Mtag { tag: 256, ..m }, 9), None);
        assert_eq!(done_mark(m, 0), None);
        // pfd's own packets (code 0) and normal marks are not done marks.
        assert_eq!(from_done_mark(crate::engine::mtag::generated_mark(5)), None);
        assert_eq!(from_done_mark(m.to_mark()), None);
        // The route selector stays where the ip rules look for it.
        assert_eq!(
            mark & crate::engine::mtag::ROUTE_MASK,
            m.to_mark() & crate::engine::mtag::ROUTE_MASK
        );
    }

    #[test]
    fn defer_marks() {
        let m = defer_mark(5, 0xbeef);
        assert_eq!(m, 0x85be_efff);
        assert_eq!(defer_ticket(m), Some(0xbeef));
        assert_eq!(from_done_mark(m), None);
        assert_eq!(defer_ticket(done_mark(Mtag::default(), 3).unwrap()), None);
        assert_eq!(defer_ticket(0xff), None);
    }

    #[test]
    fn ttl_down_and_up_keep_the_checksum() {
        let mut p = v4(
            "10.0.0.1",
            "10.0.0.2",
            6,
            &tcp_seg(1, 2, 3, 4, 0x10, 5, b""),
        );
        let orig = p.clone();
        assert!(ttl_down(&mut p));
        assert_eq!(p[8], 63);
        assert!(ipv4::Packet::new_checked(&p[..]).unwrap().verify_checksum());
        ttl_up(&mut p);
        assert_eq!(p, orig);
    }
}

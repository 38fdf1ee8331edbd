//! The per-packet pf header (OpenBSD's `pf_mtag`): what pf remembers about a
//! packet between its `in` and `out` passes, and how it rides on Linux in
//! the packet mark (skb->mark), which survives forwarding.
//!
//! Layout of the 32-bit mark:
//!
//! | bits   | field     | meaning |
//! |--------|-----------|---------|
//! | 31     | generated | a packet pfd made or re-sent itself: not filtered again on `out` |
//! | 24..30 | route     | policy-routing selector (route-to, reply-to, rtable, divert-to): an `ip rule fwmark` picks the table; 0 = none |
//! | 8..23  | tag       | the pf tag (`tag` / `tagged`), 0 = none |
//! | 0..7   | in_slot   | the interface the packet came in on, as the engine numbers interfaces (`received-on` on `out`); 0 = unknown |
//!
//! pfd owns the whole mark of the packets it filters: marks set by other
//! netfilter rules before pf's hooks are overwritten.

/// Bits of the mark.
pub const GENERATED_BIT: u32 = 0x8000_0000;
pub const ROUTE_SHIFT: u32 = 24;
pub const ROUTE_MASK: u32 = 0x7f00_0000;
pub const TAG_SHIFT: u32 = 8;
pub const TAG_MASK: u32 = 0x00ff_ff00;
pub const SLOT_MASK: u32 = 0x0000_00ff;

/// Largest route selector.
pub const ROUTE_MAX: u8 = 0x7f;
const _: () = assert!(ROUTE_MAX as usize == crate::ruleset::route::MAX_SELECTORS);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Mtag {
    pub generated: bool,
    /// Policy-routing selector, 0 = the normal route.
    pub route: u8,
    /// pf tag number (see `Engine::tag_id`), 0 = untagged.
    pub tag: u16,
    /// Engine interface slot of the receiving interface, 0 = unknown.
    pub in_slot: u8,
}

impl Mtag {
    pub fn from_mark(mark: u32) -> Mtag {
        Mtag {
            generated: mark & GENERATED_BIT != 0,
            route: ((mark & ROUTE_MASK) >> ROUTE_SHIFT) as u8,
            tag: ((mark & TAG_MASK) >> TAG_SHIFT) as u16,
            in_slot: (mark & SLOT_MASK) as u8,
        }
    }

    pub fn to_mark(self) -> u32 {
        (if self.generated { GENERATED_BIT } else { 0 })
            | ((self.route.min(ROUTE_MAX) as u32) << ROUTE_SHIFT)
            | ((self.tag as u32) << TAG_SHIFT)
            | self.in_slot as u32
    }
}

/// The mark of a packet pfd sends itself (RSTs, ICMP errors, re-routed
/// packets) with routing selector `route`.
pub fn generated_mark(route: u8) -> u32 {
    Mtag {
        generated: true,
        route,
        ..Mtag::default()
    }
    .to_mark()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let t = Mtag {
            generated: false,
            route: 5,
            tag: 0xbeef,
            in_slot: 7,
        };
        assert_eq!(t.to_mark(), 0x05be_ef07);
        assert_eq!(Mtag::from_mark(t.to_mark()), t);
        assert_eq!(generated_mark(0), 0x8000_0000);
        assert_eq!(Mtag::from_mark(0xffff_ffff).route, 0x7f);
        assert_eq!(Mtag::default().to_mark(), 0);
    }
}

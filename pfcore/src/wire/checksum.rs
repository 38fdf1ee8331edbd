//! The Internet checksum (RFC 1071): partial sums, pseudo-headers, and
//! incremental updates (RFC 1624) for rewriting addresses and ports in
//! place (NAT) without re-summing the packet.
//!
//! A *partial sum* (`u32`) is the ones'-complement sum of 16-bit big-endian
//! words, not yet folded to 16 bits; partial sums of even-length pieces can
//! be added with [`combine`]. [`finish`] folds and complements it into the
//! value stored in a header.
//!
//! UDP note: on the wire a UDP checksum of 0 means "no checksum" (IPv4
//! only). The functions here know nothing about that: a caller updating a
//! UDP checksum must leave a 0 alone, and must send a computed 0 as
//! 0xffff. [`super::udp::Packet::fill_checksum`] does the latter.

use std::net::IpAddr;

/// Folds a 64-bit accumulator into 32 bits, preserving the value modulo
/// 0xffff (2^32 ≡ 1).
#[inline]
fn fold64(mut acc: u64) -> u32 {
    while acc >> 32 != 0 {
        acc = (acc & 0xffff_ffff) + (acc >> 32);
    }
    acc as u32
}

/// Folds a partial sum to 16 bits (end-around carry), without complement.
#[inline]
pub fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Ones'-complement partial sum of `data` as big-endian 16-bit words; an
/// odd trailing byte is padded with a zero low byte. Only the last piece
/// of a [`combine`]d sequence may have odd length.
pub fn sum(data: &[u8]) -> u32 {
    // Summing 32-bit words is equivalent modulo 0xffff (2^16 ≡ 1).
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    match *words.remainder() {
        [a, b, c] => acc += u64::from(u16::from_be_bytes([a, b])) + (u64::from(c) << 8),
        [a, b] => acc += u64::from(u16::from_be_bytes([a, b])),
        [a] => acc += u64::from(a) << 8,
        _ => {}
    }
    fold64(acc)
}

/// Adds two partial sums.
#[inline]
pub fn combine(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    // s <= u32::MAX - 1 when carry is set, so this cannot overflow.
    s.wrapping_add(u32::from(carry))
}

/// Folds and complements a partial sum: the value for the header field.
/// A buffer that includes a correct checksum finishes to 0.
#[inline]
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// The checksum of `data` (with its checksum field zeroed by the caller).
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data))
}

fn addr_sum(a: &IpAddr) -> u32 {
    match a {
        IpAddr::V4(a) => sum(&a.octets()),
        IpAddr::V6(a) => sum(&a.octets()),
    }
}

/// Partial sum of the TCP/UDP/ICMPv6 pseudo-header: source, destination,
/// upper-layer length and protocol (RFC 793 / RFC 8200 §8.1). The layout
/// differs between IPv4 and IPv6 but the ones'-complement sum is the same
/// expression. `src` and `dst` are expected to be of the same family.
pub fn pseudo_header(src: &IpAddr, dst: &IpAddr, proto: u8, len: u32) -> u32 {
    let s = combine(addr_sum(src), addr_sum(dst));
    let s = combine(s, u32::from(proto));
    combine(s, (len >> 16) + (len & 0xffff))
}

/// RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')` with `sum_old` = m and
/// `sum_new` = m' as partial sums.
#[inline]
fn update_sums(cksum: u16, sum_old: u32, sum_new: u32) -> u16 {
    let s = u32::from(!cksum) + u32::from(!fold(sum_old));
    finish(combine(s, sum_new))
}

/// Updates `cksum` after a 16-bit word at an even offset changed from
/// `old` to `new`. The result equals a full recomputation, except for
/// data that becomes all zeros (full: 0xffff, incremental: 0x0000, both
/// valid encodings of the same sum).
pub fn update16(cksum: u16, old: u16, new: u16) -> u16 {
    let s = u32::from(!cksum) + u32::from(!old) + u32::from(new);
    finish(s)
}

/// Like [`update16`] for a 32-bit field at an even offset.
pub fn update32(cksum: u16, old: u32, new: u32) -> u16 {
    let s = u32::from(!cksum)
        + u32::from(!((old >> 16) as u16))
        + u32::from(!(old as u16))
        + (new >> 16)
        + (new & 0xffff);
    finish(s)
}

/// Like [`update16`] for an address (at an even offset, in a header or in
/// a pseudo-header). Different families are allowed: the old address's
/// words are removed and the new one's added (as af-to translation needs
/// for the pseudo-header part).
pub fn update_addr(cksum: u16, old: &IpAddr, new: &IpAddr) -> u16 {
    match (old, new) {
        (IpAddr::V4(o), IpAddr::V4(n)) => update32(cksum, u32::from(*o), u32::from(*n)),
        _ => update_sums(cksum, addr_sum(old), addr_sum(new)),
    }
}

/// Like [`update16`] for arbitrary bytes replaced at an even offset:
/// removes `old`'s sum and adds `new`'s.
pub fn update_bytes(cksum: u16, old: &[u8], new: &[u8]) -> u16 {
    update_sums(cksum, sum(old), sum(new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn words_to_bytes(w: &[u16]) -> Vec<u8> {
        w.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    /// Naive reference: 16-bit words with end-around carry at each step.
    fn naive(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0]) << 8
            };
            s += u32::from(w);
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d)), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }

    #[test]
    fn odd_length_and_zero() {
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0x12]), !0x1200);
        assert_eq!(checksum(&[0x12, 0x34, 0x56]), naive(&[0x12, 0x34, 0x56]));
    }

    #[test]
    fn corner_checksums() {
        // Data summing to 0xffff → checksum 0x0000.
        let d = words_to_bytes(&[0x1234, 0xedcb]);
        assert_eq!(checksum(&d), 0x0000);
        // Update one word: stays exact.
        let c = update16(0x0000, 0x1234, 0x1235);
        assert_eq!(c, checksum(&words_to_bytes(&[0x1235, 0xedcb])));
        // Moving into the 0x0000 case from elsewhere.
        let before = checksum(&words_to_bytes(&[0x1233, 0xedcb]));
        assert_eq!(update16(before, 0x1233, 0x1234), 0x0000);
        // All-zero data: full gives 0xffff, incremental 0x0000 (same sum).
        let c = update16(checksum(&[0, 1]), 0x0001, 0x0000);
        assert_eq!(c, 0x0000);
        assert_eq!(checksum(&[0, 0]), 0xffff);
    }

    #[test]
    fn pseudo_header_v4() {
        // Classic UDP example: 192.168.0.31 -> 192.168.0.30, proto 17, len 10.
        let s: IpAddr = Ipv4Addr::new(192, 168, 0, 31).into();
        let d: IpAddr = Ipv4Addr::new(192, 168, 0, 30).into();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&[192, 168, 0, 31, 192, 168, 0, 30, 0, 17, 0, 10]);
        assert_eq!(fold(pseudo_header(&s, &d, 17, 10)), fold(sum(&bytes)));
    }

    #[test]
    fn pseudo_header_v6() {
        let s: IpAddr = "2001:db8::1".parse::<Ipv6Addr>().unwrap().into();
        let d: IpAddr = "ff02::12".parse::<Ipv6Addr>().unwrap().into();
        let mut bytes = Vec::new();
        if let (IpAddr::V6(a), IpAddr::V6(b)) = (s, d) {
            bytes.extend_from_slice(&a.octets());
            bytes.extend_from_slice(&b.octets());
        }
        bytes.extend_from_slice(&0x0001_0024u32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(
            fold(pseudo_header(&s, &d, 58, 0x0001_0024)),
            fold(sum(&bytes))
        );
    }

    fn word() -> impl Strategy<Value = u16> {
        prop_oneof![
            Just(0u16),
            Just(0xffff),
            Just(0xfffe),
            Just(1),
            any::<u16>()
        ]
    }

    fn all_zero(d: &[u8]) -> bool {
        d.iter().all(|&b| b == 0)
    }

    /// Incremental result must equal full recomputation, except for the
    /// all-zero datum where both 0 and 0xffff are the same sum.
    fn check_same(incr: u16, data: &[u8]) {
        let full = checksum(data);
        if all_zero(data) {
            assert!(incr == 0 || incr == 0xffff, "incr {incr:#x}");
        } else {
            assert_eq!(incr, full);
        }
    }

    proptest! {
        #[test]
        fn sum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(checksum(&data), naive(&data));
        }

        #[test]
        fn combine_matches(a in proptest::collection::vec(any::<u16>(), 0..50),
                           b in proptest::collection::vec(any::<u8>(), 0..50)) {
            let a = words_to_bytes(&a);
            let mut all = a.clone();
            all.extend_from_slice(&b);
            prop_assert_eq!(fold(combine(sum(&a), sum(&b))), fold(sum(&all)));
        }

        #[test]
        fn incr16(mut words in proptest::collection::vec(word(), 1..40), idx in any::<usize>(), new in word()) {
            let i = idx % words.len();
            let c = checksum(&words_to_bytes(&words));
            let c2 = update16(c, words[i], new);
            words[i] = new;
            check_same(c2, &words_to_bytes(&words));
        }

        #[test]
        fn incr32(mut words in proptest::collection::vec(word(), 2..40), idx in any::<usize>(), hi in word(), lo in word()) {
            let i = idx % (words.len() - 1);
            let c = checksum(&words_to_bytes(&words));
            let old = (u32::from(words[i]) << 16) | u32::from(words[i + 1]);
            let new = (u32::from(hi) << 16) | u32::from(lo);
            let c2 = update32(c, old, new);
            words[i] = hi;
            words[i + 1] = lo;
            check_same(c2, &words_to_bytes(&words));
        }

        #[test]
        fn incr_addr_v6(pre in proptest::collection::vec(word(), 0..10), old in any::<[u8; 16]>(), new in any::<[u8; 16]>(),
                        zero_old in any::<bool>()) {
            let old = if zero_old { [0u8; 16] } else { old };
            let mut data = words_to_bytes(&pre);
            data.extend_from_slice(&old);
            let c = checksum(&data);
            let c2 = update_addr(c, &IpAddr::from(old), &IpAddr::from(new));
            let n = data.len();
            data[n - 16..].copy_from_slice(&new);
            check_same(c2, &data);
        }

        #[test]
        fn incr_addr_v4(pre in proptest::collection::vec(word(), 0..10), old in any::<[u8; 4]>(), new in any::<[u8; 4]>()) {
            let mut data = words_to_bytes(&pre);
            data.extend_from_slice(&old);
            let c = checksum(&data);
            let c2 = update_addr(c, &IpAddr::from(old), &IpAddr::from(new));
            let n = data.len();
            data[n - 4..].copy_from_slice(&new);
            check_same(c2, &data);
        }

        #[test]
        fn incr_bytes(pre in proptest::collection::vec(word(), 0..10), old in proptest::collection::vec(word(), 0..8)) {
            let new: Vec<u16> = old.iter().map(|w| w.wrapping_mul(7).wrapping_add(3)).collect();
            let mut data = words_to_bytes(&pre);
            data.extend_from_slice(&words_to_bytes(&old));
            let c = checksum(&data);
            let c2 = update_bytes(c, &words_to_bytes(&old), &words_to_bytes(&new));
            let mut data2 = words_to_bytes(&pre);
            data2.extend_from_slice(&words_to_bytes(&new));
            check_same(c2, &data2);
        }
    }
}

//! Authenticated pfsync (not in OpenBSD): with `pass SECRET` on pfsync0,
//! each frame is followed, right after the length its pfsync header gives,
//! by a trailer: a 64-bit sequence number and an HMAC-SHA1, keyed with the
//! secret, of the frame and that number. A receiver with a pass drops
//! frames without a good HMAC, and frames whose number it has seen from
//! that sender or that are older than its last 64 (`ReplayWindow`: a
//! captured frame sent again is refused). OpenBSD, and a pfsyncd without a
//! pass, read only the header's length and ignore the trailer.
//!
//! A sender numbers its frames from the time it started, in microseconds
//! since 1970, one more each frame: a restarted sender goes on above what
//! it sent before.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// The sequence number's length, then the HMAC's.
pub const SEQ_LEN: usize = 8;
pub const MAC_LEN: usize = 20;
/// The whole trailer.
pub const TRAILER_LEN: usize = SEQ_LEN + MAC_LEN;
/// How far behind the highest number seen a frame may come (reordered
/// between pfsyncd's sending threads) and still be taken once.
pub const WINDOW: u64 = 64;
/// Senders remembered (only those with a good HMAC count).
pub const MAX_SENDERS: usize = 256;

type HmacSha1 = Hmac<Sha1>;

/// Why a frame failed authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No header, or no room for a trailer after the header's length.
    Missing,
    /// A trailer that is not the frame's HMAC under our key.
    Bad,
}

fn mac(key: &[u8], frame: &[u8], seq: &[u8]) -> HmacSha1 {
    // HMAC takes a key of any length.
    let mut m = <HmacSha1 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <HmacSha1 as KeyInit>::new(&Default::default()));
    m.update(frame);
    m.update(seq);
    m
}

/// Append the trailer with number `seq` to a whole frame (header first,
/// its length field covering all of `frame`).
pub fn sign(key: &[u8], seq: u64, frame: &mut Vec<u8>) {
    let s = seq.to_be_bytes();
    let tag = mac(key, frame, &s).finalize().into_bytes();
    frame.extend_from_slice(&s);
    frame.extend_from_slice(&tag);
}

/// Check the trailer of a received frame (the IP payload); Ok gives the
/// frame without it, and its sequence number.
pub fn verify<'a>(key: &[u8], payload: &'a [u8]) -> Result<(&'a [u8], u64), AuthError> {
    let len = payload
        .get(2..4)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or(AuthError::Missing)?;
    let frame = payload.get(..len).ok_or(AuthError::Missing)?;
    let seq = payload.get(len..len + SEQ_LEN).ok_or(AuthError::Missing)?;
    let tag = payload
        .get(len + SEQ_LEN..len + TRAILER_LEN)
        .ok_or(AuthError::Missing)?;
    mac(key, frame, seq)
        .verify_slice(tag)
        .map_err(|_| AuthError::Bad)?;
    let mut b = [0u8; SEQ_LEN];
    b.copy_from_slice(seq);
    Ok((frame, u64::from_be_bytes(b)))
}

/// The sequence numbers seen from each sender: the highest, and which of
/// the `WINDOW` before it.
#[derive(Debug, Default)]
pub struct ReplayWindow {
    senders: HashMap<Ipv4Addr, (u64, u64)>,
}

impl ReplayWindow {
    pub fn new() -> ReplayWindow {
        ReplayWindow::default()
    }

    /// A frame with a good HMAC, numbered `seq`, from `src`: new (true,
    /// and remembered) or a replay (false)? The first frame of a sender
    /// not seen yet is new.
    pub fn accept(&mut self, src: Ipv4Addr, seq: u64) -> bool {
        if !self.senders.contains_key(&src) && self.senders.len() >= MAX_SENDERS {
            self.senders.clear();
        }
        let Some((top, seen)) = self.senders.get_mut(&src) else {
            self.senders.insert(src, (seq, 1));
            return true;
        };
        if seq > *top {
            let shift = seq - *top;
            *seen = if shift >= WINDOW { 0 } else { *seen << shift };
            *seen |= 1;
            *top = seq;
            return true;
        }
        let back = *top - seq;
        if back >= WINDOW || *seen & (1 << back) != 0 {
            return false;
        }
        *seen |= 1 << back;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Vec<u8> {
        let mut f = vec![6, 0, 0, 28];
        f.extend_from_slice(&[0u8; 24]);
        f
    }

    #[test]
    fn signed_frame_verifies_with_the_key_only() {
        let mut f = frame();
        sign(b"secret", 77, &mut f);
        assert_eq!(f.len(), 28 + TRAILER_LEN);
        assert_eq!(verify(b"secret", &f), Ok((&f[..28], 77)));
        assert_eq!(verify(b"other", &f), Err(AuthError::Bad));
        // One bit changed anywhere, the number included.
        for i in [0, 5, 27, 30, 35, 40] {
            let mut g = f.clone();
            g[i] ^= 1;
            assert!(verify(b"secret", &g).is_err(), "byte {i}");
        }
    }

    #[test]
    fn missing_or_short_trailer() {
        let f = frame();
        assert_eq!(verify(b"secret", &f), Err(AuthError::Missing));
        let mut g = f.clone();
        sign(b"secret", 1, &mut g);
        g.truncate(g.len() - 1);
        assert_eq!(verify(b"secret", &g), Err(AuthError::Missing));
        assert_eq!(verify(b"secret", &[6]), Err(AuthError::Missing));
        // A length beyond the payload.
        let mut h = f.clone();
        h[2] = 0xff;
        assert_eq!(verify(b"secret", &h), Err(AuthError::Missing));
    }

    #[test]
    fn replays_refused_reordering_taken_once() {
        let a = Ipv4Addr::new(169, 254, 0, 1);
        let b = Ipv4Addr::new(169, 254, 0, 2);
        let mut w = ReplayWindow::new();
        assert!(w.accept(a, 1000));
        assert!(!w.accept(a, 1000), "the same frame again");
        assert!(w.accept(a, 1002));
        assert!(w.accept(a, 1001), "reordered, within the window");
        assert!(!w.accept(a, 1001));
        assert!(w.accept(b, 5), "each sender its own numbers");
        assert!(w.accept(a, 1000 + 200));
        assert!(!w.accept(a, 1002), "older than the window");
        assert!(w.accept(a, 1200 - WINDOW + 1));
        assert!(!w.accept(a, 1200 - WINDOW));
        // A restarted sender numbers from its start time: higher.
        assert!(w.accept(a, 5_000_000));
    }
}

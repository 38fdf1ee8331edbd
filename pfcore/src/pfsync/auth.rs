//! Authenticated pfsync (not in OpenBSD): with `pass SECRET` on pfsync0,
//! each frame is followed by an HMAC-SHA1 of it keyed with the secret,
//! right after the length the pfsync header gives. A receiver with a pass
//! drops frames without a good one; OpenBSD, and a pfsyncd without a pass,
//! read only the header's length and ignore the trailer.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The trailer's length.
pub const MAC_LEN: usize = 20;

type HmacSha1 = Hmac<Sha1>;

/// Why a frame failed authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No header, or no room for a trailer after the header's length.
    Missing,
    /// A trailer that is not the frame's HMAC under our key.
    Bad,
}

fn mac(key: &[u8], frame: &[u8]) -> HmacSha1 {
    // HMAC takes a key of any length.
    let mut m = <HmacSha1 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <HmacSha1 as KeyInit>::new(&Default::default()));
    m.update(frame);
    m
}

/// Append the trailer to a whole frame (header first, its length field
/// covering all of `frame`).
pub fn sign(key: &[u8], frame: &mut Vec<u8>) {
    let tag = mac(key, frame).finalize().into_bytes();
    frame.extend_from_slice(&tag);
}

/// Check the trailer of a received frame (the IP payload); Ok gives the
/// frame without it.
pub fn verify<'a>(key: &[u8], payload: &'a [u8]) -> Result<&'a [u8], AuthError> {
    let len = payload
        .get(2..4)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or(AuthError::Missing)?;
    let frame = payload.get(..len).ok_or(AuthError::Missing)?;
    let tag = payload.get(len..len + MAC_LEN).ok_or(AuthError::Missing)?;
    mac(key, frame)
        .verify_slice(tag)
        .map_err(|_| AuthError::Bad)?;
    Ok(frame)
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
        sign(b"secret", &mut f);
        assert_eq!(f.len(), 28 + MAC_LEN);
        assert_eq!(verify(b"secret", &f), Ok(&f[..28]));
        assert_eq!(verify(b"other", &f), Err(AuthError::Bad));
        // One bit changed anywhere.
        for i in [0, 5, 27, 30] {
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
        sign(b"secret", &mut g);
        g.truncate(g.len() - 1);
        assert_eq!(verify(b"secret", &g), Err(AuthError::Missing));
        assert_eq!(verify(b"secret", &[6]), Err(AuthError::Missing));
        // A length beyond the payload.
        let mut h = f.clone();
        h[2] = 0xff;
        assert_eq!(verify(b"secret", &h), Err(AuthError::Missing));
    }
}

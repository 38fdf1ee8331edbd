//! `pfctl -S file` / `pfctl -L file`: the state table stored in a file and
//! loaded back, as OpenBSD's pfctl_state_store and pfctl_state_load do it:
//! the states one after the other as raw 264-byte `pfsync_state` records,
//! the format pfsync sends (so such a file moves between OpenBSD and pfd).

use crate::wire::pfsync::StateRepr;

/// Bytes of one record.
pub const RECORD_LEN: usize = StateRepr::LEN;

/// The file's bytes for `states`.
pub fn encode(states: &[StateRepr]) -> Vec<u8> {
    let mut out = vec![0u8; states.len() * RECORD_LEN];
    for (s, chunk) in states.iter().zip(out.chunks_exact_mut(RECORD_LEN)) {
        // A chunk is exactly one record long: emit cannot run short.
        let _ = s.emit(chunk);
    }
    out
}

/// The states in a file's bytes. As pfctl, a trailing partial record is
/// ignored (fread reads whole records) and so are records the kernel would
/// refuse (EINVAL): they are counted in the second value.
pub fn decode(bytes: &[u8]) -> (Vec<StateRepr>, usize) {
    let mut states = Vec::with_capacity(bytes.len() / RECORD_LEN);
    let mut bad = 0;
    for rec in bytes.chunks_exact(RECORD_LEN) {
        match StateRepr::parse(rec) {
            Ok(s) if s.validate().is_ok() => states.push(s),
            _ => bad += 1,
        }
    }
    (states, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let mut s = StateRepr {
            id: 7,
            ifname: "all".into(),
            af: 2,
            proto: 6,
            direction: 1,
            creatorid: 0x1234,
            timeout: 2,
            ..StateRepr::default()
        };
        s.key[0].af = 2;
        s.key[1].af = 2;
        let bytes = encode(&[s.clone(), s.clone()]);
        assert_eq!(bytes.len(), 2 * RECORD_LEN);
        let (back, bad) = decode(&bytes);
        assert_eq!((back.len(), bad), (2, 0));
        assert_eq!(back[0].id, 7);
        assert_eq!(back[0].creatorid, 0x1234);
        // A broken record and a trailing fragment.
        let mut broken = bytes.clone();
        broken[RECORD_LEN + 255] = 99; // timeout out of range
        broken.extend_from_slice(&[1, 2, 3]);
        let (back, bad) = decode(&broken);
        assert_eq!((back.len(), bad), (1, 1));
        assert_eq!(decode(&[]), (vec![], 0));
    }
}

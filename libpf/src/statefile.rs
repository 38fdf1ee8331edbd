//! `pfctl -S file` / `pfctl -L file`: the state table stored in a file and
//! loaded back, as OpenBSD's pfctl_state_store and pfctl_state_load do it:
//! the states one after the other as raw 264-byte `pfsync_state` records,
//! the format pfsync sends (so such a file moves between OpenBSD and pfd).
//!
//! pfd's own state file (written on SIGTERM, read back at start) is the
//! same records behind a header: a magic, a format version, the Unix time
//! it was written and the number of records, so that states which expired
//! while pfd was down are dropped and the others keep only what they had
//! left.

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

/// The first bytes of pfd's state file.
pub const SAVED_MAGIC: &[u8; 8] = b"PFDSTATE";
/// Its format version.
pub const SAVED_VERSION: u32 = 1;
const SAVED_HEADER: usize = 8 + 4 + 8 + 4;

/// pfd's state file: `states` as they are at Unix time `written`.
pub fn encode_saved(states: &[StateRepr], written: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(SAVED_HEADER + states.len() * RECORD_LEN);
    out.extend_from_slice(SAVED_MAGIC);
    out.extend_from_slice(&SAVED_VERSION.to_be_bytes());
    out.extend_from_slice(&written.to_be_bytes());
    out.extend_from_slice(&(states.len() as u32).to_be_bytes());
    out.extend_from_slice(&encode(states));
    out
}

/// What a state file held at Unix time `now`.
#[derive(Debug, Default, PartialEq)]
pub struct Saved {
    /// The states still alive, their expiry and age moved on by the time
    /// the file waited.
    pub states: Vec<StateRepr>,
    /// States that expired meanwhile.
    pub expired: usize,
    /// Records refused (as `decode`).
    pub bad: usize,
}

/// The live states of pfd's state file at Unix time `now`; an error for a
/// file that is not one (wrong magic, version or length).
pub fn decode_saved(bytes: &[u8], now: u64) -> Result<Saved, String> {
    if bytes.len() < SAVED_HEADER || &bytes[..8] != SAVED_MAGIC {
        return Err("not a pfd state file".into());
    }
    let word =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let version = word(8);
    if version != SAVED_VERSION {
        return Err(format!(
            "state file format version {version}, this pfd reads version {SAVED_VERSION}"
        ));
    }
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[12..20]);
    let written = u64::from_be_bytes(w);
    let count = word(20) as usize;
    let body = &bytes[SAVED_HEADER..];
    if body.len() != count.saturating_mul(RECORD_LEN) {
        return Err(format!(
            "state file truncated: {} bytes for {count} states",
            body.len()
        ));
    }
    let waited = now.saturating_sub(written).min(u32::MAX as u64) as u32;
    let (all, bad) = decode(body);
    let mut out = Saved {
        bad,
        ..Saved::default()
    };
    for mut s in all {
        if s.expire <= waited {
            out.expired += 1;
            continue;
        }
        s.expire -= waited;
        s.creation = s.creation.saturating_add(waited);
        out.states.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_states_age_while_pfd_is_down() {
        let mk = |id, expire| {
            let mut s = StateRepr {
                id,
                ifname: "all".into(),
                af: 2,
                proto: 6,
                direction: 1,
                creatorid: 1,
                timeout: 2,
                expire,
                creation: 5,
                ..StateRepr::default()
            };
            s.key[0].af = 2;
            s.key[1].af = 2;
            s
        };
        let bytes = encode_saved(&[mk(1, 10), mk(2, 100)], 1000);
        let got = decode_saved(&bytes, 1030).unwrap();
        assert_eq!((got.states.len(), got.expired, got.bad), (1, 1, 0));
        assert_eq!((got.states[0].id, got.states[0].expire), (2, 70));
        assert_eq!(got.states[0].creation, 35);
        // A clock that went back takes nothing off.
        assert_eq!(decode_saved(&bytes, 10).unwrap().states.len(), 2);
        assert!(decode_saved(&bytes[..bytes.len() - 1], 1030).is_err());
        assert!(decode_saved(b"PFDSTATE", 0).is_err());
        let mut v = bytes.clone();
        v[11] = 7;
        assert!(decode_saved(&v, 1030).unwrap_err().contains("version 7"));
        assert!(decode_saved(&encode(&[mk(1, 1)]), 0).is_err());
    }

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

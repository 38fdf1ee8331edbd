//! The framing several targets use to get more than one packet out of one
//! fuzzer input: records of `[a][b][len_hi][len_lo][len bytes]`, where `a`
//! and `b` are two control bytes each target reads its own way
//! (direction, interface, time step...). A record whose length runs past
//! the input takes what is left, so every input is a valid sequence and a
//! single captured packet is a one-record seed (`fuzz/seedcap.py` writes
//! them).

/// At most this many records are read from one input (bounded work).
pub const MAX_RECORDS: usize = 32;

/// One record.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub a: u8,
    pub b: u8,
    pub bytes: &'a [u8],
}

/// Splits `data` into records (see the module comment).
pub fn records(data: &[u8]) -> impl Iterator<Item = Record<'_>> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let (a, b) = (rest[0], rest[1]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let body = &rest[4..];
        let n = len.min(body.len());
        let r = Record {
            a,
            b,
            bytes: &body[..n],
        };
        rest = &body[n..];
        Some(r)
    })
    .take(MAX_RECORDS)
}

/// Encodes records (for seeds and regression inputs).
pub fn encode(recs: &[(u8, u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (a, b, bytes) in recs {
        let n = bytes.len().min(usize::from(u16::MAX));
        out.push(*a);
        out.push(*b);
        out.extend_from_slice(&(n as u16).to_be_bytes());
        out.extend_from_slice(&bytes[..n]);
    }
    out
}

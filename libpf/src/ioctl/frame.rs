//! Framing of control messages: magic, version, length, then the body
//! encoded with postcard. A frame longer than `MAX_FRAME`, a wrong magic or
//! version, or a body that does not decode is an error, never a panic.

use serde::{de::DeserializeOwned, Serialize};
use std::fmt;
use std::io::{Read, Write};

pub const MAGIC: [u8; 2] = *b"PF";
/// Bumped whenever a Request or Reply changes shape.
pub const VERSION: u16 = 1;
pub const HEADER_LEN: usize = 8;
/// Largest body a client accepts in a reply.
pub const MAX_FRAME: usize = 16 << 20;
/// Largest body pfd accepts in a request. The largest real requests are
/// a `pfctl -L` chunk of 2000 states (about 1.2 MB), a table chunk of
/// `ADDRS_PER_FRAME` IPv6 entries (0.95 MB, `pfctl -f` and `-T add -f` of
/// any size travel in such chunks) and 1000 rules (0.4 MB with long
/// labels and pools): 4 MiB leaves room to spare.
pub const MAX_REQUEST: usize = 4 << 20;

#[derive(Debug)]
pub enum FrameError {
    Io(std::io::Error),
    BadMagic,
    Version(u16),
    TooLarge { len: usize, max: usize },
    Decode(String),
    Encode(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::BadMagic => write!(f, "not a pf control frame"),
            FrameError::Version(v) => write!(f, "control protocol version {v}, expected {VERSION} (pfd and tools from different builds?)"),
            FrameError::TooLarge { len, max } => {
                write!(f, "control frame of {len} bytes exceeds the limit of {max}")
            }
            FrameError::Decode(e) => write!(f, "malformed control frame: {e}"),
            FrameError::Encode(e) => write!(f, "cannot encode control frame: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<std::io::Error> for FrameError {
    fn from(e: std::io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// Encode a message into one frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = postcard::to_stdvec(msg).map_err(|e| FrameError::Encode(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len: body.len(),
            max: MAX_FRAME,
        });
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Check a header; returns the body length.
pub fn parse_header(h: &[u8; HEADER_LEN]) -> Result<usize, FrameError> {
    parse_header_max(h, MAX_FRAME)
}

/// Check a header whose body may be at most `max` bytes.
pub fn parse_header_max(h: &[u8; HEADER_LEN], max: usize) -> Result<usize, FrameError> {
    if h[0..2] != MAGIC {
        return Err(FrameError::BadMagic);
    }
    let v = u16::from_be_bytes([h[2], h[3]]);
    if v != VERSION {
        return Err(FrameError::Version(v));
    }
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

/// Decode a body.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    postcard::from_bytes(body).map_err(|e| FrameError::Decode(e.to_string()))
}

pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), FrameError> {
    let f = encode(msg)?;
    w.write_all(&f)?;
    w.flush()?;
    Ok(())
}

/// Read one frame; `Ok(None)` on a clean end of stream before a header.
pub fn read_frame<T: DeserializeOwned>(r: &mut impl Read) -> Result<Option<T>, FrameError> {
    let mut h = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = r.read(&mut h[got..])?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        got += n;
    }
    let len = parse_header(&h)?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    decode(&body).map(Some)
}

#[cfg(test)]
mod tests {
    use super::super::{Reply, Request};
    use super::*;

    #[test]
    fn round_trip() {
        let reqs = vec![
            Request::Start,
            Request::KillStates(crate::engine::state::StateKill {
                src: Some("10.0.0.0/8".parse().unwrap()),
                label: Some("web".into()),
                ..Default::default()
            }),
            Request::AddIfGroup {
                ifname: "em0".into(),
                group: "dmz".into(),
            },
            Request::Sysctl {
                name: "net.inet.carp.preempt".into(),
                value: Some(1),
            },
        ];
        for r in reqs {
            let f = encode(&r).unwrap();
            let back: Request = read_frame(&mut &f[..]).unwrap().unwrap();
            assert_eq!(back, r);
        }
        let f = encode(&Reply::error(1, "Operation not permitted")).unwrap();
        let back: Reply = read_frame(&mut &f[..]).unwrap().unwrap();
        assert_eq!(back, Reply::error(1, "Operation not permitted"));
    }

    #[test]
    fn rejects_bad_frames() {
        let mut f = encode(&Request::Start).unwrap();
        f[0] = b'X';
        assert!(matches!(
            read_frame::<Request>(&mut &f[..]),
            Err(FrameError::BadMagic)
        ));
        let mut f = encode(&Request::Start).unwrap();
        f[3] = 99;
        assert!(matches!(
            read_frame::<Request>(&mut &f[..]),
            Err(FrameError::Version(_))
        ));
        let mut f = encode(&Request::Start).unwrap();
        f[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            read_frame::<Request>(&mut &f[..]),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(read_frame::<Request>(&mut &[][..]).unwrap().is_none());
        assert!(read_frame::<Request>(&mut &b"PF"[..]).is_err());
    }

    /// regress/lib/ctlflood.py builds this request by hand.
    #[test]
    fn get_status_is_variant_17() {
        let f = encode(&Request::GetStatus).unwrap();
        assert_eq!(f, [b'P', b'F', 0, VERSION as u8, 0, 0, 0, 1, 17]);
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decode::<Request>(&body);
            let _ = decode::<Reply>(&body);
        }
    }
}

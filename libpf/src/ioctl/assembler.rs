//! Incremental reading of one control frame from a non-blocking socket:
//! the header, then the body, into a buffer that grows only as bytes
//! arrive (never reserved from the length a peer claims), asking for no
//! more bytes than the frame still needs, so that a pipelined next frame
//! stays in the kernel's socket buffer. Pure: the caller does the reads.

use super::frame::{parse_header_max, FrameError, HEADER_LEN};

/// Smallest allocation for a body (a typical request fits).
const MIN_GROW: usize = 4096;

#[derive(Debug)]
pub struct Assembler {
    /// Header bytes so far, then the body bytes so far.
    head: [u8; HEADER_LEN],
    head_len: usize,
    /// Body length, once the header is complete and valid.
    body_len: Option<usize>,
    body: Vec<u8>,
    /// Largest body accepted.
    max: usize,
}

impl Assembler {
    pub fn new(max: usize) -> Assembler {
        Assembler {
            head: [0; HEADER_LEN],
            head_len: 0,
            body_len: None,
            body: Vec::new(),
            max,
        }
    }

    /// How many bytes the current frame still needs (never 0 between
    /// frames: the next header's).
    pub fn want(&self) -> usize {
        match self.body_len {
            None => HEADER_LEN - self.head_len,
            Some(n) => n - self.body.len(),
        }
    }

    /// Has a frame begun (some of its bytes arrived)?
    pub fn started(&self) -> bool {
        self.head_len > 0
    }

    /// Bytes this assembler holds in memory (its allocation).
    pub fn held(&self) -> usize {
        self.body.capacity()
    }

    /// Take in bytes (at most `want()` of them are used; the count used is
    /// returned). A header that is not a control frame's, or claims more
    /// than the maximum, is an error; the assembler is then useless.
    pub fn push(&mut self, data: &[u8]) -> Result<usize, FrameError> {
        let mut used = 0;
        if self.body_len.is_none() {
            let n = (HEADER_LEN - self.head_len).min(data.len());
            self.head[self.head_len..self.head_len + n].copy_from_slice(&data[..n]);
            self.head_len += n;
            used = n;
            if self.head_len < HEADER_LEN {
                return Ok(used);
            }
            self.body_len = Some(parse_header_max(&self.head, self.max)?);
        }
        let total = self.body_len.unwrap_or(0);
        let n = (total - self.body.len()).min(data.len() - used);
        let need = self.body.len() + n;
        if need > self.body.capacity() {
            // Doubling, but never past the claimed length: at most twice
            // what arrived, at most what the frame can use.
            let cap = (self.body.capacity() * 2)
                .max(need)
                .max(MIN_GROW)
                .min(total);
            self.body.reserve_exact(cap - self.body.len());
        }
        self.body.extend_from_slice(&data[used..used + n]);
        Ok(used + n)
    }

    /// The body of the completed frame, if it is; the assembler is ready
    /// for the next one (its memory given back).
    pub fn take(&mut self) -> Option<Vec<u8>> {
        if self.body_len != Some(self.body.len()) {
            return None;
        }
        self.head_len = 0;
        self.body_len = None;
        Some(std::mem::take(&mut self.body))
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::{decode, encode};
    use super::super::Request;
    use super::*;

    fn feed(a: &mut Assembler, mut data: &[u8], step: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let k = step.min(a.want()).min(data.len());
            let used = a.push(&data[..k]).unwrap();
            assert_eq!(used, k);
            data = &data[used..];
            if let Some(b) = a.take() {
                out.push(b);
            }
        }
        out
    }

    #[test]
    fn frames_byte_by_byte_and_pipelined() {
        let r1 = Request::GetStatus;
        let r2 = Request::GetRules {
            anchor: "x".repeat(5000),
        };
        let mut bytes = encode(&r1).unwrap();
        bytes.extend(encode(&r2).unwrap());
        for step in [1, 3, 8, 100, 1 << 20] {
            let mut a = Assembler::new(1 << 20);
            let bodies = feed(&mut a, &bytes, step);
            assert_eq!(bodies.len(), 2, "step {step}");
            assert_eq!(decode::<Request>(&bodies[0]).unwrap(), r1);
            assert_eq!(decode::<Request>(&bodies[1]).unwrap(), r2);
            assert!(!a.started());
            assert_eq!(a.held(), 0);
        }
    }

    #[test]
    fn never_uses_more_than_the_frame() {
        let mut bytes = encode(&Request::GetStatus).unwrap();
        let len = bytes.len();
        bytes.extend(encode(&Request::GetLimits).unwrap());
        let mut a = Assembler::new(1 << 20);
        let mut used = 0;
        while a.take().is_none() {
            used += a.push(&bytes[used..]).unwrap();
        }
        assert_eq!(used, len);
    }

    #[test]
    fn memory_follows_the_bytes_not_the_claim() {
        let mut h = Vec::from(*b"PF");
        h.extend(super::super::frame::VERSION.to_be_bytes());
        h.extend((4u32 << 20).to_be_bytes());
        let mut a = Assembler::new(4 << 20);
        a.push(&h).unwrap();
        assert_eq!(a.held(), 0);
        assert_eq!(a.want(), 4 << 20);
        a.push(&[0; 10]).unwrap();
        assert!(a.held() <= MIN_GROW, "{}", a.held());
        let chunk = vec![0u8; 100_000];
        let mut got = 10;
        for _ in 0..10 {
            got += a.push(&chunk).unwrap();
            assert!(a.held() <= 2 * got, "held {} for {got}", a.held());
        }
        assert!(a.started());
        assert!(a.take().is_none());
    }

    #[test]
    fn refuses_bad_headers() {
        let mut a = Assembler::new(1000);
        let mut f = encode(&Request::GetRules {
            anchor: "y".repeat(2000),
        })
        .unwrap();
        assert!(matches!(
            a.push(&f),
            Err(FrameError::TooLarge { len, max: 1000 }) if len > 1000
        ));
        f[0] = b'X';
        let mut a = Assembler::new(1 << 20);
        assert!(matches!(a.push(&f[..4]), Ok(4)));
        assert!(matches!(a.push(&f[4..]), Err(FrameError::BadMagic)));
        assert_eq!(a.held(), 0);
    }

    #[test]
    fn exact_capacity_at_the_end() {
        let body_len = 300_000;
        let mut h = Vec::from(*b"PF");
        h.extend(super::super::frame::VERSION.to_be_bytes());
        h.extend((body_len as u32).to_be_bytes());
        h.extend(vec![7u8; body_len]);
        let mut a = Assembler::new(1 << 20);
        let bodies = feed(&mut a, &h, 65536);
        assert_eq!(bodies.len(), 1);
        assert_eq!(bodies[0].len(), body_len);
        assert_eq!(bodies[0].capacity(), body_len);
    }
}

//! The repair extension (not in OpenBSD): 16 bytes carried in the pfsync
//! header's `pfcksum` field, which current OpenBSD zeroes on output and
//! never reads on input (older releases compared it with their ruleset's
//! MD5 and, on a mismatch, as with the zeros pfd always sent, took states
//! without linking their rule numbers). Layout, big-endian:
//!
//! ```text
//! 0  'p' 'R'                  magic
//! 2  version << 4 | kind      version 1; kind 1 DATA, 2 ALIVE, 3 NACK, 4 GONE
//! 3  0                        reserved
//! 4  epoch                    the sender's stream (a random number at start)
//! 8  seq                      DATA: this frame's number; ALIVE: the last
//!                             DATA frame sent; NACK, GONE: first frame
//! 12 stamp / count            DATA, ALIVE: Unix time in ms (low 32 bits) of
//!                             the oldest new state in the frame (0: none);
//!                             NACK, GONE: how many frames from `seq`
//! ```
//!
//! NACK and GONE name the epoch of the stream they are about (the peer's),
//! DATA and ALIVE the sender's own. ALIVE, NACK and GONE ride in frames
//! with no messages (the pfsync header alone), which OpenBSD takes as
//! empty frames.

use crate::wire::{rd16, rd32, rdarr, wr16, wr32};

pub const REPAIR_MAGIC: [u8; 2] = *b"pR";
pub const REPAIR_VERSION: u8 = 1;

/// What a frame with the extension is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepairKind {
    /// A numbered frame of the sender's stream.
    Data,
    /// No messages: the sender's last DATA frame was `seq`.
    Alive,
    /// Please send frames `seq .. seq + count` of your stream `epoch` again.
    Nack,
    /// Frames `seq .. seq + count` of my stream `epoch` are no longer held.
    Gone,
}

impl RepairKind {
    fn code(self) -> u8 {
        match self {
            RepairKind::Data => 1,
            RepairKind::Alive => 2,
            RepairKind::Nack => 3,
            RepairKind::Gone => 4,
        }
    }

    fn from_code(c: u8) -> Option<RepairKind> {
        Some(match c {
            1 => RepairKind::Data,
            2 => RepairKind::Alive,
            3 => RepairKind::Nack,
            4 => RepairKind::Gone,
            _ => return None,
        })
    }
}

/// The 16 bytes of the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepairExt {
    pub kind: RepairKind,
    pub epoch: u32,
    pub seq: u32,
    /// `stamp` (DATA, ALIVE) or `count` (NACK, GONE).
    pub arg: u32,
}

impl RepairExt {
    /// The extension in a header's `pfcksum` field, if it is one (zeros,
    /// an MD5 or anything else: None).
    pub fn parse(f: &[u8; 16]) -> Option<RepairExt> {
        if f[..2] != REPAIR_MAGIC || f[2] >> 4 != REPAIR_VERSION || f[3] != 0 {
            return None;
        }
        let kind = RepairKind::from_code(f[2] & 0x0f)?;
        let epoch = rd32(f, 4);
        // Epoch 0 is never sent: a field of zeros is not ours.
        (epoch != 0).then_some(RepairExt {
            kind,
            epoch,
            seq: rd32(f, 8),
            arg: rd32(f, 12),
        })
    }

    pub fn emit(&self) -> [u8; 16] {
        let mut f = [0u8; 16];
        f[..2].copy_from_slice(&REPAIR_MAGIC);
        f[2] = REPAIR_VERSION << 4 | self.kind.code();
        wr32(&mut f, 4, self.epoch);
        wr32(&mut f, 8, self.seq);
        wr32(&mut f, 12, self.arg);
        f
    }

    /// The extension of a whole frame (header first), if it has one.
    pub fn of_frame(frame: &[u8]) -> Option<RepairExt> {
        if frame.len() < super::HEADER_LEN {
            return None;
        }
        RepairExt::parse(&rdarr(frame, 4))
    }

    /// Write it into a whole frame's header (no-op on a short buffer).
    pub fn write_to(&self, frame: &mut [u8]) {
        if frame.len() >= super::HEADER_LEN {
            frame[4..20].copy_from_slice(&self.emit());
        }
    }
}

/// An empty frame (header alone) carrying `ext`.
pub fn control_frame(ext: &RepairExt) -> Vec<u8> {
    let mut f = vec![0u8; super::HEADER_LEN];
    f[0] = super::PFSYNC_VERSION;
    wr16(&mut f, 2, super::HEADER_LEN as u16);
    ext.write_to(&mut f);
    debug_assert_eq!(rd16(&f, 2), 20);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_foreign_fields() {
        for kind in [
            RepairKind::Data,
            RepairKind::Alive,
            RepairKind::Nack,
            RepairKind::Gone,
        ] {
            let e = RepairExt {
                kind,
                epoch: 0xdead_beef,
                seq: 7,
                arg: 0xffff_fff0,
            };
            assert_eq!(RepairExt::parse(&e.emit()), Some(e));
        }
        // OpenBSD's zeros, an MD5, a wrong version or kind: not ours.
        assert_eq!(RepairExt::parse(&[0; 16]), None);
        let md5 = [
            0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0, 0xb2, 4, 0xe9, 0x80, 9, 0x98, 0xec, 0xf8, 0x42, 0x7e,
        ];
        assert_eq!(RepairExt::parse(&md5), None);
        let mut f = RepairExt {
            kind: RepairKind::Data,
            epoch: 1,
            seq: 1,
            arg: 0,
        }
        .emit();
        f[2] = 0x21;
        assert_eq!(RepairExt::parse(&f), None);
        f[2] = 0x15;
        assert_eq!(RepairExt::parse(&f), None);
        f[2] = 0x11;
        f[4..8].fill(0);
        assert_eq!(RepairExt::parse(&f), None, "epoch 0");
    }

    #[test]
    fn control_frame_is_an_empty_pfsync_frame() {
        let e = RepairExt {
            kind: RepairKind::Nack,
            epoch: 9,
            seq: 100,
            arg: 3,
        };
        let f = control_frame(&e);
        assert_eq!(f.len(), 20);
        let mut msgs = Vec::new();
        let st = super::super::parse_frame(&f, &mut msgs);
        assert!(msgs.is_empty());
        assert_eq!(st.badlen + st.badact + st.badver + st.hdrops, 0);
        assert_eq!(RepairExt::of_frame(&f), Some(e));
    }
}

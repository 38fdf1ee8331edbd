//! The pcap file format (libpcap's savefile, version 2.4): the 24-byte
//! file header and the 16-byte record header before each packet, written
//! little-endian with microsecond timestamps (readers take either byte
//! order from the magic number). What pflogd writes; the file itself is
//! the caller's.

use super::{Error, Result};

pub const FILE_HEADER_LEN: usize = 24;
pub const RECORD_HEADER_LEN: usize = 16;
/// The magic number of a microsecond pcap file.
pub const MAGIC: u32 = 0xa1b2_c3d4;
pub const VERSION_MAJOR: u16 = 2;
pub const VERSION_MINOR: u16 = 4;

/// The file header: snapshot length and link type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub snaplen: u32,
    pub linktype: u32,
}

impl FileHeader {
    pub fn emit(&self) -> [u8; FILE_HEADER_LEN] {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..6].copy_from_slice(&VERSION_MAJOR.to_le_bytes());
        b[6..8].copy_from_slice(&VERSION_MINOR.to_le_bytes());
        // thiszone and sigfigs stay 0.
        b[16..20].copy_from_slice(&self.snaplen.to_le_bytes());
        b[20..24].copy_from_slice(&self.linktype.to_le_bytes());
        b
    }

    /// Reads a file header written in either byte order. Err: too short,
    /// not a microsecond pcap file, or not version 2.
    pub fn parse(b: &[u8]) -> Result<FileHeader> {
        let b = b.get(..FILE_HEADER_LEN).ok_or(Error::Truncated)?;
        let le = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let swap = match le(0) {
            MAGIC => false,
            m if m.swap_bytes() == MAGIC => true,
            _ => return Err(Error::Malformed("pcap magic")),
        };
        let rd = |o: usize| if swap { le(o).swap_bytes() } else { le(o) };
        let major = if swap {
            u16::from_be_bytes([b[4], b[5]])
        } else {
            u16::from_le_bytes([b[4], b[5]])
        };
        if major != VERSION_MAJOR {
            return Err(Error::Unsupported("pcap version"));
        }
        Ok(FileHeader {
            snaplen: rd(16),
            linktype: rd(20),
        })
    }
}

/// A record header: when, how many bytes follow, how long the packet was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub sec: u32,
    pub usec: u32,
    pub caplen: u32,
    pub len: u32,
}

impl RecordHeader {
    pub fn emit(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut b = [0u8; RECORD_HEADER_LEN];
        b[0..4].copy_from_slice(&self.sec.to_le_bytes());
        b[4..8].copy_from_slice(&self.usec.to_le_bytes());
        b[8..12].copy_from_slice(&self.caplen.to_le_bytes());
        b[12..16].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    /// Reads a little-endian record header (as `emit` writes).
    pub fn parse(b: &[u8]) -> Result<RecordHeader> {
        let b = b.get(..RECORD_HEADER_LEN).ok_or(Error::Truncated)?;
        let rd = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let r = RecordHeader {
            sec: rd(0),
            usec: rd(4),
            caplen: rd(8),
            len: rd(12),
        };
        if r.usec >= 1_000_000 || r.caplen > r.len {
            return Err(Error::Malformed("pcap record"));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_header_is_libpcaps() {
        let h = FileHeader {
            snaplen: 160,
            linktype: 117,
        };
        let b = h.emit();
        assert_eq!(
            b,
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 160, 0, 0, 0, 117, 0,
                0, 0
            ]
        );
        assert_eq!(FileHeader::parse(&b), Ok(h));
    }

    #[test]
    fn big_endian_files_are_read_too() {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        b[4..6].copy_from_slice(&2u16.to_be_bytes());
        b[16..20].copy_from_slice(&65535u32.to_be_bytes());
        b[20..24].copy_from_slice(&117u32.to_be_bytes());
        let h = FileHeader::parse(&b).unwrap();
        assert_eq!((h.snaplen, h.linktype), (65535, 117));
    }

    #[test]
    fn records_round_trip_and_bad_ones_are_refused() {
        let r = RecordHeader {
            sec: 1_700_000_000,
            usec: 999_999,
            caplen: 160,
            len: 1500,
        };
        assert_eq!(RecordHeader::parse(&r.emit()), Ok(r));
        assert_eq!(RecordHeader::parse(&[0; 15]), Err(Error::Truncated));
        let bad = RecordHeader { caplen: 1501, ..r };
        assert!(RecordHeader::parse(&bad.emit()).is_err());
        assert!(FileHeader::parse(&[0u8; 24]).is_err());
        assert_eq!(FileHeader::parse(&[0u8; 3]), Err(Error::Truncated));
    }
}

//! Packet formats: zero-copy views over packet bytes and plain `Repr`
//! structs that parse from and emit into them, in smoltcp's `wire` style.
//!
//! Every format has a `Packet<T: AsRef<[u8]>>` (or `Frame`, `Header`) view
//! with `new_unchecked`, `new_checked`, `check_len` and `into_inner`. A view
//! built with `new_checked` never panics in any accessor, whatever the bytes.
//! Views built with `new_unchecked` over too-short buffers may panic: that
//! constructor is for buffers the caller sized itself (emitting). Views do
//! not allocate.
//!
//! This module owns the shared error type, the IP protocol numbers, the
//! big-endian field helpers used by the format modules and `view!`, which
//! writes the part every view shares.

/// `view! { /// docs
///         Name }` writes the view struct over a buffer with
/// `new_unchecked`, `new_checked` (which runs the view's own `check_len`)
/// and `into_inner`; the format module writes `check_len` and the field
/// accessors.
macro_rules! view {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            #[inline]
            pub const fn new_unchecked(buffer: T) -> $name<T> {
                $name { buffer }
            }
            #[inline]
            pub fn new_checked(buffer: T) -> $crate::wire::Result<$name<T>> {
                let v = Self::new_unchecked(buffer);
                v.check_len()?;
                Ok(v)
            }
            #[inline]
            pub fn into_inner(self) -> T {
                self.buffer
            }
        }
    };
}

pub mod arp;
pub mod carp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6ext;
pub mod nflog;
pub mod pcap;
pub mod pflog;
pub mod pfsync;
pub mod tcp;
pub mod transport;
pub mod udp;

use core::fmt;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_CARP: u8 = 112;
pub const IPPROTO_PFSYNC: u8 = 240;

/// Why bytes could not be parsed as a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the format (or a length field) requires.
    Truncated,
    /// A field holds a value the format does not allow.
    Malformed(&'static str),
    /// The checksum does not verify.
    Checksum,
    /// Well-formed, but a version/type this code does not handle.
    Unsupported(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated packet"),
            Error::Malformed(what) => write!(f, "malformed packet: {what}"),
            Error::Checksum => f.write_str("bad checksum"),
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = core::result::Result<T, Error>;

// Big-endian field helpers. Callers guarantee `off + size <= b.len()`
// (checked by `check_len` / an explicit length test before use).

#[inline]
pub(crate) fn rd16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

#[inline]
pub(crate) fn rd32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

#[inline]
pub(crate) fn rd64(b: &[u8], off: usize) -> u64 {
    (u64::from(rd32(b, off)) << 32) | u64::from(rd32(b, off + 4))
}

#[inline]
pub(crate) fn rdarr<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[off..off + N]);
    a
}

#[inline]
pub(crate) fn wr16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn wr32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn wr64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_be_bytes());
}

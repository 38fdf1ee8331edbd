//! nfnetlink_log's packet message (NFULNL_MSG_PACKET, linux/netfilter/
//! nfnetlink_log.h): what the kernel's NFLOG target sends a group's
//! reader, and what libpcap's `nflog:N` device (DLT_NFLOG) hands on whole.
//! pfd sends one per logged packet to the reader of an NFLOG group, laid
//! out as the kernel does: netlink header, nfgenmsg (address family,
//! version 0, the group big-endian), then attributes of 4-byte-aligned
//! host-order length and type. Attribute values are big-endian as the
//! kernel writes them; the prefix is a NUL-terminated string.

use super::{rd16, wr16, Error, Result};

/// NETLINK_NETFILTER's nfnetlink_log subsystem and its packet message.
pub const NFNL_SUBSYS_ULOG: u16 = 4;
pub const NFULNL_MSG_PACKET: u16 = 0;
/// The netlink message type of a packet message.
pub const MSG_TYPE: u16 = NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET;

/// The attributes (enum nfulnl_attr_type).
pub const NFULA_PACKET_HDR: u16 = 1;
pub const NFULA_MARK: u16 = 2;
pub const NFULA_TIMESTAMP: u16 = 3;
pub const NFULA_IFINDEX_INDEV: u16 = 4;
pub const NFULA_IFINDEX_OUTDEV: u16 = 5;
pub const NFULA_PAYLOAD: u16 = 9;
pub const NFULA_PREFIX: u16 = 10;
pub const NFULA_UID: u16 = 11;

/// Linux's address families (nfgenmsg's family).
pub const LINUX_AF_INET: u8 = 2;
pub const LINUX_AF_INET6: u8 = 10;

/// Netfilter hooks (enum nf_inet_hooks): where pf's `in` and `out` run.
pub const NF_INET_PRE_ROUTING: u8 = 0;
pub const NF_INET_POST_ROUTING: u8 = 4;

/// struct nlmsghdr, struct nfgenmsg.
pub const NLMSG_HDR_LEN: usize = 16;
pub const NFGENMSG_LEN: usize = 4;
const ATTR_HDR_LEN: usize = 4;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// One packet message as plain fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// The NFLOG group (nfgenmsg's res_id).
    pub group: u16,
    /// LINUX_AF_INET or LINUX_AF_INET6.
    pub family: u8,
    /// NF_INET_PRE_ROUTING (in) or NF_INET_POST_ROUTING (out).
    pub hook: u8,
    /// The interface, as NFULA_IFINDEX_INDEV (`in`) or _OUTDEV (`out`).
    pub ifindex: Option<u32>,
    pub sec: u64,
    pub usec: u64,
    /// The local socket's owner (NFULA_UID).
    pub uid: Option<u32>,
    /// NFULA_PREFIX, without its NUL.
    pub prefix: &'a str,
    /// The packet, from its IP header.
    pub payload: &'a [u8],
}

fn attr(out: &mut Vec<u8>, ty: u16, value: &[u8]) {
    let len = ATTR_HDR_LEN + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (4 - len % 4) % 4, 0);
}

impl Repr<'_> {
    /// The ethertype of the payload (NFULA_PACKET_HDR's hw_protocol).
    fn hw_protocol(&self) -> u16 {
        if self.family == LINUX_AF_INET6 {
            0x86dd
        } else {
            0x0800
        }
    }

    /// Replaces `out` with the whole netlink message (`seq` its sequence
    /// number), attributes in the kernel's order.
    pub fn emit(&self, seq: u32, out: &mut Vec<u8>) {
        out.clear();
        out.resize(NLMSG_HDR_LEN, 0);
        out.extend_from_slice(&[self.family, 0]);
        out.extend_from_slice(&self.group.to_be_bytes());
        let mut hdr = [0u8; 4];
        wr16(&mut hdr, 0, self.hw_protocol());
        hdr[2] = self.hook;
        attr(out, NFULA_PACKET_HDR, &hdr);
        let mut prefix = [0u8; 256];
        let n = self.prefix.len().min(prefix.len() - 1);
        prefix[..n].copy_from_slice(&self.prefix.as_bytes()[..n]);
        attr(out, NFULA_PREFIX, &prefix[..=n]);
        if let Some(i) = self.ifindex {
            let ty = if self.hook == NF_INET_POST_ROUTING {
                NFULA_IFINDEX_OUTDEV
            } else {
                NFULA_IFINDEX_INDEV
            };
            attr(out, ty, &i.to_be_bytes());
        }
        let mut ts = [0u8; 16];
        ts[..8].copy_from_slice(&self.sec.to_be_bytes());
        ts[8..].copy_from_slice(&self.usec.to_be_bytes());
        attr(out, NFULA_TIMESTAMP, &ts);
        if let Some(u) = self.uid {
            attr(out, NFULA_UID, &u.to_be_bytes());
        }
        attr(out, NFULA_PAYLOAD, self.payload);
        let len = out.len() as u32;
        out[0..4].copy_from_slice(&len.to_ne_bytes());
        out[4..6].copy_from_slice(&MSG_TYPE.to_ne_bytes());
        // flags and the port id in the header stay 0, as in the kernel's
        // messages (the socket address says who sent it).
        out[8..12].copy_from_slice(&seq.to_ne_bytes());
    }
}

/// A view over a packet message, as a reader sees it.
#[derive(Debug, Clone)]
pub struct Message<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Message<T> {
    pub const fn new_unchecked(buffer: T) -> Message<T> {
        Message { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Message<T>> {
        let m = Self::new_unchecked(buffer);
        m.check_len()?;
        Ok(m)
    }

    /// Rejects: shorter than the two headers, a netlink length that does
    /// not fit the buffer, a type other than a packet message.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < NLMSG_HDR_LEN + NFGENMSG_LEN {
            return Err(Error::Truncated);
        }
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len < NLMSG_HDR_LEN + NFGENMSG_LEN || len > b.len() {
            return Err(Error::Malformed("nflog message length"));
        }
        if u16::from_ne_bytes([b[4], b[5]]) != MSG_TYPE {
            return Err(Error::Malformed("not an nflog packet message"));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The message, as long as its netlink header says.
    fn bytes(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        &b[..len.min(b.len())]
    }

    pub fn family(&self) -> u8 {
        self.buffer.as_ref()[NLMSG_HDR_LEN]
    }

    pub fn group(&self) -> u16 {
        rd16(self.buffer.as_ref(), NLMSG_HDR_LEN + 2)
    }

    /// The first attribute of type `ty` (None: absent, or the attributes
    /// are malformed before it).
    pub fn attr(&self, ty: u16) -> Option<&[u8]> {
        let b = self.bytes();
        let mut off = NLMSG_HDR_LEN + NFGENMSG_LEN;
        while off + ATTR_HDR_LEN <= b.len() {
            let len = usize::from(u16::from_ne_bytes([b[off], b[off + 1]]));
            let t = u16::from_ne_bytes([b[off + 2], b[off + 3]]) & NLA_TYPE_MASK;
            if len < ATTR_HDR_LEN || off + len > b.len() {
                return None;
            }
            if t == ty {
                return Some(&b[off + ATTR_HDR_LEN..off + len]);
            }
            off += (len + 3) & !3;
        }
        None
    }

    /// NFULA_PREFIX up to its NUL.
    pub fn prefix(&self) -> Option<&[u8]> {
        let p = self.attr(NFULA_PREFIX)?;
        Some(&p[..p.iter().position(|&c| c == 0).unwrap_or(p.len())])
    }

    /// A 32-bit big-endian attribute.
    pub fn u32_attr(&self, ty: u16) -> Option<u32> {
        let v = self.attr(ty)?;
        Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(payload: &'a [u8]) -> Repr<'a> {
        Repr {
            group: 117,
            family: LINUX_AF_INET,
            hook: NF_INET_PRE_ROUTING,
            ifindex: Some(3),
            sec: 1_700_000_000,
            usec: 250_000,
            uid: None,
            prefix: "rule 1/(match) block in on int0",
            payload,
        }
    }

    #[test]
    fn layout_is_the_kernels() {
        let mut m = Vec::new();
        sample(&[0x45, 0, 0, 20, 9]).emit(7, &mut m);
        assert_eq!(m.len() % 4, 0);
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), 0x0400);
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 7);
        // nfgenmsg: AF_INET, version 0, group 117 big-endian
        assert_eq!(&m[16..20], &[2, 0, 0, 117]);
        // NFULA_PACKET_HDR: length 8, type 1, 0x0800, hook 0, pad
        assert_eq!(
            &m[20..24],
            &[8u16.to_ne_bytes(), 1u16.to_ne_bytes()].concat()[..]
        );
        assert_eq!(&m[24..28], &[8, 0, 0, 0]);
        // NFULA_PREFIX with its NUL, padded to 4
        let p = b"rule 1/(match) block in on int0\0";
        assert_eq!(&m[28..30], &((4 + p.len()) as u16).to_ne_bytes());
        assert_eq!(&m[32..32 + p.len()], p);
        let msg = Message::new_checked(&m[..]).unwrap();
        assert_eq!((msg.family(), msg.group()), (2, 117));
        assert_eq!(msg.prefix(), Some(&p[..p.len() - 1]));
        assert_eq!(msg.u32_attr(NFULA_IFINDEX_INDEV), Some(3));
        assert_eq!(msg.attr(NFULA_IFINDEX_OUTDEV), None);
        assert_eq!(msg.attr(NFULA_UID), None);
        let ts = msg.attr(NFULA_TIMESTAMP).unwrap();
        assert_eq!(&ts[..8], &1_700_000_000u64.to_be_bytes());
        assert_eq!(&ts[8..], &250_000u64.to_be_bytes());
        // the payload is last, its padding after it
        assert_eq!(msg.attr(NFULA_PAYLOAD), Some(&[0x45, 0, 0, 20, 9][..]));
        let end = &m[m.len() - 12..];
        assert_eq!(
            &end[..4],
            &[9u16.to_ne_bytes(), 9u16.to_ne_bytes()].concat()[..]
        );
        assert_eq!(&end[4..], &[0x45, 0, 0, 20, 9, 0, 0, 0]);
    }

    #[test]
    fn out_ipv6_and_a_uid() {
        let mut m = Vec::new();
        let r = Repr {
            family: LINUX_AF_INET6,
            hook: NF_INET_POST_ROUTING,
            uid: Some(1000),
            ..sample(&[0x60])
        };
        r.emit(0, &mut m);
        let msg = Message::new_checked(&m[..]).unwrap();
        assert_eq!(msg.attr(NFULA_PACKET_HDR), Some(&[0x86, 0xdd, 4, 0][..]));
        assert_eq!(msg.u32_attr(NFULA_IFINDEX_OUTDEV), Some(3));
        assert_eq!(msg.attr(NFULA_IFINDEX_INDEV), None);
        assert_eq!(msg.u32_attr(NFULA_UID), Some(1000));
    }

    #[test]
    fn a_long_prefix_is_cut_and_still_terminated() {
        let long = "x".repeat(400);
        let mut m = Vec::new();
        Repr {
            prefix: &long,
            ..sample(&[])
        }
        .emit(0, &mut m);
        let msg = Message::new_checked(&m[..]).unwrap();
        assert_eq!(msg.prefix().map(<[u8]>::len), Some(255));
        assert_eq!(msg.attr(NFULA_PREFIX).map(|p| p[255]), Some(0));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(
            Message::new_checked(&[0u8; 10][..]).err(),
            Some(Error::Truncated)
        );
        let mut m = Vec::new();
        sample(&[1, 2, 3]).emit(0, &mut m);
        // a length past the buffer
        let mut bad = m.clone();
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(Message::new_checked(&bad[..]).is_err());
        // another message type
        let mut bad = m.clone();
        bad[4] = 1;
        assert!(Message::new_checked(&bad[..]).is_err());
        // an attribute claiming more than there is
        let mut bad = m.clone();
        bad[20..22].copy_from_slice(&600u16.to_ne_bytes());
        let msg = Message::new_checked(&bad[..]).unwrap();
        assert_eq!(msg.attr(NFULA_PAYLOAD), None);
        // one claiming less than its own header
        bad[20..22].copy_from_slice(&2u16.to_ne_bytes());
        assert_eq!(Message::new_checked(&bad[..]).unwrap().prefix(), None);
    }
}

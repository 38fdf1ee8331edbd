//! Whether IPsec (xfrm) policies could touch forwarded packets: the
//! counts of the security policy database (XFRM_MSG_GETSPDINFO) and the
//! default forward policy (XFRM_MSG_GETDEFAULT), over NETLINK_XFRM. The
//! data path filters a packet `out` before it is routed only when nothing
//! of the kind can send it elsewhere or drop it (`daemon::onepass`).

use nix::sys::socket::{recv, send, MsgFlags};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

const NETLINK_XFRM: i32 = 6;
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const XFRM_MSG_NEWSPDINFO: u16 = 0x24;
const XFRM_MSG_GETSPDINFO: u16 = 0x25;
const XFRM_MSG_GETDEFAULT: u16 = 0x28;
const XFRMA_SPD_INFO: u16 = 1;
const XFRM_USERPOLICY_BLOCK: u8 = 1;

fn u16_ne(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_ne(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Ask `ty` with a payload of `len` zero bytes; the first answer.
fn ask(fd: &OwnedFd, ty: u16, len: usize, seq: u32, buf: &mut [u8]) -> io::Result<usize> {
    let mut req = [0u8; NLMSG_HDRLEN + 4];
    let total = NLMSG_HDRLEN + len;
    req[0..4].copy_from_slice(&(total as u32).to_ne_bytes());
    req[4..6].copy_from_slice(&ty.to_ne_bytes());
    req[6..8].copy_from_slice(&1u16.to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    let req = req
        .get(..total)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    send(fd.as_raw_fd(), req, MsgFlags::empty())?;
    Ok(recv(fd.as_raw_fd(), buf, MsgFlags::empty())?)
}

/// Policies in the SPD (in, out or forward), from a NEWSPDINFO answer.
fn spd_count(b: &[u8]) -> Option<u64> {
    if u16_ne(b, 4)? != XFRM_MSG_NEWSPDINFO {
        return None;
    }
    let end = (u32_ne(b, 0)? as usize).min(b.len());
    let mut at = NLMSG_HDRLEN + 4;
    while let (Some(len), Some(ty)) = (u16_ne(b, at), u16_ne(b, at + 2)) {
        let len = len as usize;
        if len < 4 || at + len > end {
            break;
        }
        if ty & 0x3fff == XFRMA_SPD_INFO {
            // incnt, outcnt, fwdcnt, inscnt, outscnt, fwdscnt
            return Some(
                (0..6)
                    .filter_map(|i| u32_ne(b, at + 4 + 4 * i))
                    .map(u64::from)
                    .sum(),
            );
        }
        at += (len + 3) & !3;
    }
    Some(0)
}

/// Are there IPsec policies, or is forwarding blocked by default? Ok(false)
/// where the kernel has no xfrm at all.
pub fn has_policies() -> io::Result<bool> {
    let fd = match super::netlink::open_socket(NETLINK_XFRM, 0) {
        Ok(fd) => fd,
        Err(e) => {
            return match e.raw_os_error() {
                Some(libc::EPROTONOSUPPORT) | Some(libc::EAFNOSUPPORT) => Ok(false),
                _ => Err(e),
            }
        }
    };
    nix::sys::socket::setsockopt(
        &fd,
        nix::sys::socket::sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(1, 0),
    )?;
    let mut buf = [0u8; 512];
    let n = ask(&fd, XFRM_MSG_GETSPDINFO, 4, 1, &mut buf)?;
    if spd_count(&buf[..n]).unwrap_or(0) > 0 {
        return Ok(true);
    }
    // struct xfrm_userpolicy_default { u8 in, fwd, out; } (kernels since
    // 5.17; older ones answer with an error).
    let n = ask(&fd, XFRM_MSG_GETDEFAULT, 4, 2, &mut buf)?;
    if u16_ne(&buf[..n], 4) == Some(NLMSG_ERROR) {
        return Ok(false);
    }
    Ok(buf.get(NLMSG_HDRLEN + 1) == Some(&XFRM_USERPOLICY_BLOCK))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spdinfo(counts: [u32; 6]) -> Vec<u8> {
        let mut m = vec![0u8; NLMSG_HDRLEN + 4];
        m[4..6].copy_from_slice(&XFRM_MSG_NEWSPDINFO.to_ne_bytes());
        m.extend_from_slice(&28u16.to_ne_bytes());
        m.extend_from_slice(&XFRMA_SPD_INFO.to_ne_bytes());
        for c in counts {
            m.extend_from_slice(&c.to_ne_bytes());
        }
        let l = m.len() as u32;
        m[0..4].copy_from_slice(&l.to_ne_bytes());
        m
    }

    #[test]
    fn counts_policies() {
        assert_eq!(spd_count(&spdinfo([0; 6])), Some(0));
        assert_eq!(spd_count(&spdinfo([0, 0, 2, 0, 0, 0])), Some(2));
        assert_eq!(spd_count(&[0; 8]), None);
        let mut m = spdinfo([1; 6]);
        m.truncate(30);
        let _ = spd_count(&m);
    }

    #[test]
    fn asks_the_kernel() {
        // Wherever the tests run: an answer, not an error.
        assert!(has_policies().is_ok());
    }
}

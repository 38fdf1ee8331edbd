//! A carp interface's gate: an nftables netdev table on its macvlan with
//! an ingress and an egress chain, whose policy is drop while no node of
//! the vhid is MASTER and accept while one is. The macvlan stays up, so
//! that a takeover only opens the gate: one nfnetlink batch that changes
//! the two policies, under nftables' own per-namespace mutex. Bringing a
//! link up or adding an address waits for the kernel's RTNL lock instead,
//! which any interface change anywhere on the host holds, for tens of
//! milliseconds when a link goes down (measured: 4 to 42 ms of a 20 ms
//! takeover spent waiting for it while the crashed peer's links went down
//! in another namespace).
//!
//! The table is made once with nft(8), when the macvlan is (hooking a
//! chain to a device takes the RTNL lock too), closed.

use nix::sys::socket::{recv, send, MsgFlags};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};

const NETLINK_NETFILTER: i32 = 12;
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_ACK: u16 = 0x04;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFPROTO_NETDEV: u8 = 5;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;

/// The chains of a gate, one per direction.
const CHAINS: [&str; 2] = ["in", "out"];

/// What the names of the gates' tables start with.
pub const TABLE_PREFIX: &str = "pfd_gate_";

/// The gate table of carp interface `name`.
pub fn table(name: &str) -> String {
    format!("{TABLE_PREFIX}{name}")
}

/// Run an nft(8) script (the gates' tables, and balancing's in
/// daemon::carp::balance).
pub fn nft(script: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft: {e}"))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(script.as_bytes())
            .map_err(|e| format!("nft: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The script that (re)makes the closed gate of carp interface `name`
/// (any table of that name goes first: one left by a pfd that was killed).
pub fn script(name: &str) -> String {
    let t = table(name);
    let mut s = format!("table netdev {t} {{}}\ndelete table netdev {t}\ntable netdev {t} {{\n");
    for (chain, hook) in CHAINS.iter().zip(["ingress", "egress"]) {
        s.push_str(&format!(
            "\tchain {chain} {{ type filter hook {hook} device \"{name}\" priority -500; policy drop; }}\n"
        ));
    }
    s.push_str("}\n");
    s
}

/// Make the closed gate of carp interface `name` (its macvlan must exist).
pub fn create(name: &str) -> Result<(), String> {
    nft(&script(name))
}

/// Remove it (nothing if there is none).
pub fn remove(name: &str) {
    let t = table(name);
    let _ = nft(&format!("table netdev {t} {{}}\ndelete table netdev {t}\n"));
}

fn push_attr(m: &mut Vec<u8>, ty: u16, v: &[u8]) {
    let len = 4 + v.len();
    m.extend_from_slice(&(len as u16).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(v);
    m.resize((m.len() + 3) & !3, 0);
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// One netlink message: header, nfgenmsg (`family`, `res_id`), `attrs`.
fn message(ty: u16, flags: u16, seq: u32, family: u8, res_id: u16, attrs: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + 4 + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[family, 0]);
    m.extend_from_slice(&res_id.to_be_bytes());
    m.extend_from_slice(attrs);
    m
}

/// The batch that sets both chains of `table` to accept (`open`) or
/// drop; its chain messages carry sequence numbers `seq + 1` and `seq + 2`.
pub fn batch(table: &str, open: bool, seq: u32) -> Vec<u8> {
    let policy = if open { NF_ACCEPT } else { NF_DROP };
    let res = NFNL_SUBSYS_NFTABLES;
    let mut b = message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, 0, res, &[]);
    for (i, chain) in CHAINS.iter().enumerate() {
        let mut a = Vec::new();
        push_attr(&mut a, NFTA_CHAIN_TABLE, &cstr(table));
        push_attr(&mut a, NFTA_CHAIN_NAME, &cstr(chain));
        push_attr(&mut a, NFTA_CHAIN_POLICY, &policy.to_be_bytes());
        b.extend(message(
            NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWCHAIN,
            NLM_F_REQUEST | NLM_F_ACK,
            seq.wrapping_add(1 + i as u32),
            NFPROTO_NETDEV,
            0,
            &a,
        ));
    }
    b.extend(message(
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        seq.wrapping_add(3),
        0,
        res,
        &[],
    ));
    b
}

/// Opens and closes gates.
pub struct Gates {
    fd: OwnedFd,
    seq: u32,
}

impl Gates {
    pub fn open() -> io::Result<Gates> {
        Ok(Gates {
            fd: super::netlink::open_socket(NETLINK_NETFILTER, 0)?,
            seq: 1,
        })
    }

    /// Open (accept) or close (drop) the gate of carp interface `name`.
    /// The kernel has applied the change when `send` returns; the acks
    /// are read to report an error.
    pub fn set(&mut self, name: &str, open: bool) -> io::Result<()> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(4);
        let b = batch(&table(name), open, seq);
        send(self.fd.as_raw_fd(), &b, MsgFlags::empty())?;
        let mut buf = [0u8; 4096];
        let mut acked = 0;
        while acked < CHAINS.len() {
            let n = match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut at = 0;
            while at + NLMSG_HDRLEN <= n {
                let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap_or([0; 4])) as usize;
                let ty = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
                let mseq = u32::from_ne_bytes(buf[at + 8..at + 12].try_into().unwrap_or([0; 4]));
                if len < NLMSG_HDRLEN || at + len > n {
                    break;
                }
                if ty == NLMSG_ERROR && mseq.wrapping_sub(seq) <= 3 && len >= NLMSG_HDRLEN + 4 {
                    let b = &buf[at + NLMSG_HDRLEN..at + NLMSG_HDRLEN + 4];
                    let e = i32::from_ne_bytes(b.try_into().unwrap_or([0; 4]));
                    if e != 0 {
                        return Err(io::Error::from_raw_os_error(-e));
                    }
                    acked += 1;
                }
                at += (len + 3) & !3;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_hooks_both_directions_closed() {
        let s = script("carp1");
        assert!(
            s.starts_with("table netdev pfd_gate_carp1 {}\ndelete table netdev pfd_gate_carp1\n")
        );
        assert!(s.contains(
            "chain in { type filter hook ingress device \"carp1\" priority -500; policy drop; }"
        ));
        assert!(s.contains(
            "chain out { type filter hook egress device \"carp1\" priority -500; policy drop; }"
        ));
    }

    #[test]
    fn batch_layout() {
        let b = batch("pfd_gate_carp1", true, 10);
        // begin (20) + two chain messages + end (20).
        let len = |at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        let ty = |at: usize| u16::from_ne_bytes([b[at + 4], b[at + 5]]);
        assert_eq!(len(0), 20);
        assert_eq!(ty(0), NFNL_MSG_BATCH_BEGIN);
        assert_eq!(&b[18..20], &NFNL_SUBSYS_NFTABLES.to_be_bytes());
        let c1 = 20;
        assert_eq!(ty(c1), (10 << 8) | 3);
        assert_eq!(b[c1 + 16], NFPROTO_NETDEV);
        let m = &b[c1..c1 + len(c1)];
        // The policy attribute: type 5, accept (1) in network order.
        let p = m.windows(8).any(|w| w == [8, 0, 5, 0, 0, 0, 0, 1]);
        assert!(p, "{m:?}");
        let c2 = c1 + len(c1);
        let end = c2 + len(c2);
        assert_eq!(ty(end), NFNL_MSG_BATCH_END);
        assert_eq!(end + 20, b.len());
        let closed = batch("pfd_gate_carp1", false, 10);
        assert!(closed.windows(8).any(|w| w == [8, 0, 5, 0, 0, 0, 0, 0]));
    }
}

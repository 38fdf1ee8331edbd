//! The state-carrying structures of pfsync (wire-facts §2.4–2.7): scrub,
//! peer, key and the full 264-byte `pfsync_state` used by INS, UPD, DEL
//! and the control socket.

use super::{
    af_of, need, read_addr, read_ifname, valid_af, write_addr, write_ifname, PFTM_MAX, PF_IN,
    PF_OUT, PF_TCPS_PROXY_DST, STATE_LEN,
};
use crate::wire::{rd16, rd32, rd64, wr16, wr32, wr64, Result};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

/// `struct pfsync_state_scrub` (8 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScrubRepr {
    pub flags: u16,
    pub ttl: u8,
    /// `PFSYNC_SCRUB_FLAG_VALID` when the block is meaningful.
    pub scrub_flag: u8,
    pub ts_mod: u32,
}

impl ScrubRepr {
    pub const LEN: usize = 8;
    pub fn parse(buf: &[u8]) -> Result<ScrubRepr> {
        need(buf, Self::LEN)?;
        Ok(ScrubRepr {
            flags: rd16(buf, 0),
            ttl: buf[2],
            scrub_flag: buf[3],
            ts_mod: rd32(buf, 4),
        })
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        need(buf, Self::LEN)?;
        wr16(buf, 0, self.flags);
        buf[2] = self.ttl;
        buf[3] = self.scrub_flag;
        wr32(buf, 4, self.ts_mod);
        Ok(())
    }
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }
}

/// `struct pfsync_state_peer` (32 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PeerRepr {
    pub scrub: ScrubRepr,
    pub seqlo: u32,
    pub seqhi: u32,
    pub seqdiff: u32,
    pub max_win: u16,
    pub mss: u16,
    /// Protocol state (TCP FSM 0..10, 11/12 synproxy; UDP/other 0..2).
    pub state: u8,
    /// 0x80 = negotiated, low 4 bits = shift.
    pub wscale: u8,
}

impl PeerRepr {
    pub const LEN: usize = 32;
    pub fn parse(buf: &[u8]) -> Result<PeerRepr> {
        need(buf, Self::LEN)?;
        Ok(PeerRepr {
            scrub: ScrubRepr::parse(buf)?,
            seqlo: rd32(buf, 8),
            seqhi: rd32(buf, 12),
            seqdiff: rd32(buf, 16),
            max_win: rd16(buf, 20),
            mss: rd16(buf, 22),
            state: buf[24],
            wscale: buf[25],
        })
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        need(buf, Self::LEN)?;
        self.scrub.emit(buf)?;
        wr32(buf, 8, self.seqlo);
        wr32(buf, 12, self.seqhi);
        wr32(buf, 16, self.seqdiff);
        wr16(buf, 20, self.max_win);
        wr16(buf, 22, self.mss);
        buf[24] = self.state;
        buf[25] = self.wscale;
        buf[26..32].fill(0);
        Ok(())
    }
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }
}

/// `struct pfsync_state_key` (40 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyRepr {
    /// `addr[0]`: inbound states: the packet source; outbound: destination.
    pub addr: [IpAddr; 2],
    /// Ports (or ICMP id) belonging to `addr[0]` and `addr[1]`.
    pub port: [u16; 2],
    pub rdomain: u16,
    /// 2, 24, or 0 = "same as the state's af".
    pub af: u8,
}

impl Default for KeyRepr {
    fn default() -> KeyRepr {
        let z = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        KeyRepr {
            addr: [z, z],
            port: [0, 0],
            rdomain: 0,
            af: 0,
        }
    }
}

impl KeyRepr {
    pub const LEN: usize = 40;
    /// The family the addresses are in: `af`, or `state_af` when `af` is 0.
    pub fn effective_af(&self, state_af: u8) -> u8 {
        if self.af != 0 {
            self.af
        } else {
            state_af
        }
    }
    /// Addresses are decoded with the key's af, or `state_af` if it is 0.
    pub fn parse(buf: &[u8], state_af: u8) -> Result<KeyRepr> {
        need(buf, Self::LEN)?;
        let af = buf[38];
        let eff = if af != 0 { af } else { state_af };
        Ok(KeyRepr {
            addr: [read_addr(buf, 0, eff), read_addr(buf, 16, eff)],
            port: [rd16(buf, 32), rd16(buf, 34)],
            rdomain: rd16(buf, 36),
            af,
        })
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        need(buf, Self::LEN)?;
        write_addr(buf, 0, &self.addr[0]);
        write_addr(buf, 16, &self.addr[1]);
        wr16(buf, 32, self.port[0]);
        wr16(buf, 34, self.port[1]);
        wr16(buf, 36, self.rdomain);
        buf[38] = self.af;
        buf[39] = 0;
        Ok(())
    }
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }
}

/// Byte offsets of `struct pfsync_state` (§2.7).
pub mod state_field {
    pub const ID: usize = 0;
    pub const IFNAME: usize = 8;
    pub const KEY0: usize = 24;
    pub const KEY1: usize = 64;
    pub const SRC: usize = 104;
    pub const DST: usize = 136;
    pub const RT_ADDR: usize = 168;
    pub const RULE: usize = 184;
    pub const ANCHOR: usize = 188;
    pub const NAT_RULE: usize = 192;
    pub const CREATION: usize = 196;
    pub const EXPIRE: usize = 200;
    pub const PACKETS: usize = 204;
    pub const BYTES: usize = 220;
    pub const CREATORID: usize = 236;
    pub const RTABLEID: usize = 240;
    pub const MAX_MSS: usize = 248;
    pub const AF: usize = 250;
    pub const PROTO: usize = 251;
    pub const DIRECTION: usize = 252;
    pub const LOG: usize = 253;
    pub const RT: usize = 254;
    pub const TIMEOUT: usize = 255;
    pub const SYNC_FLAGS: usize = 256;
    pub const UPDATES: usize = 257;
    pub const MIN_TTL: usize = 258;
    pub const SET_TOS: usize = 259;
    pub const STATE_FLAGS: usize = 260;
    pub const SET_PRIO: usize = 262;
}

/// `struct pfsync_state` (264 bytes): INS, UPD, DEL, and how states travel
/// on the control socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateRepr {
    pub id: u64,
    /// Bound interface, "all" for floating states (at most 15 bytes sent).
    pub ifname: String,
    /// `[0]` = wire side, `[1]` = stack side (after translation).
    pub key: [KeyRepr; 2],
    pub src: PeerRepr,
    pub dst: PeerRepr,
    /// route-to/reply-to/dup-to gateway (decoded with the stack key's family).
    pub rt_addr: IpAddr,
    /// Rule number, 0xffffffff = none.
    pub rule: u32,
    pub anchor: u32,
    pub nat_rule: u32,
    /// Age in seconds at export.
    pub creation: u32,
    /// Seconds left at export.
    pub expire: u32,
    /// `[0]` initiator → responder, `[1]` reverse.
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    pub creatorid: u32,
    /// Per key (wire, stack); 0xffffffff = unset.
    pub rtableid: [u32; 2],
    pub max_mss: u16,
    /// Family of the wire key: 2 or 24.
    pub af: u8,
    pub proto: u8,
    /// 1 = in, 2 = out.
    pub direction: u8,
    pub log: u8,
    pub rt: u8,
    pub timeout: u8,
    pub sync_flags: u8,
    pub updates: u8,
    pub min_ttl: u8,
    pub set_tos: u8,
    pub state_flags: u16,
    pub set_prio: [u8; 2],
    /// Interface a route-to/reply-to/dup-to next hop leads to, for `pfctl
    /// -vvss` (FreeBSD's `rt_ifname`). Not on the pfsync wire: empty when
    /// parsed.
    #[serde(default)]
    pub rt_ifname: String,
    /// The state's tag name (pf.conf `tag`). OpenBSD's `pfsync_state` has
    /// no tag field: it travels on the control socket (`pfctl -vss`) only,
    /// is not sent by pfsync, and is empty in what pfsync receives.
    pub tag: String,
}

impl Default for StateRepr {
    /// All zero, IPv4 unspecified addresses, empty ifname (not valid as is).
    fn default() -> StateRepr {
        StateRepr {
            id: 0,
            ifname: String::new(),
            key: [KeyRepr::default(); 2],
            src: PeerRepr::default(),
            dst: PeerRepr::default(),
            rt_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            rule: 0,
            anchor: 0,
            nat_rule: 0,
            creation: 0,
            expire: 0,
            packets: [0; 2],
            bytes: [0; 2],
            creatorid: 0,
            rtableid: [0; 2],
            max_mss: 0,
            af: 0,
            proto: 0,
            direction: 0,
            log: 0,
            rt: 0,
            timeout: 0,
            sync_flags: 0,
            updates: 0,
            min_ttl: 0,
            set_tos: 0,
            state_flags: 0,
            set_prio: [0; 2],
            rt_ifname: String::new(),
            tag: String::new(),
        }
    }
}

impl StateRepr {
    pub const LEN: usize = STATE_LEN;

    /// Parses the first 264 bytes. Fails only on a short buffer or a
    /// non-UTF-8 interface name; values are checked by [`Self::validate`].
    pub fn parse(buf: &[u8]) -> Result<StateRepr> {
        use state_field as f;
        need(buf, Self::LEN)?;
        let af = buf[f::AF];
        let key0 = KeyRepr::parse(&buf[f::KEY0..f::KEY0 + KeyRepr::LEN], af)?;
        let key1 = KeyRepr::parse(&buf[f::KEY1..f::KEY1 + KeyRepr::LEN], af)?;
        // The route target lives on the translated (stack) side.
        let rt_af = key1.effective_af(af);
        Ok(StateRepr {
            id: rd64(buf, f::ID),
            ifname: read_ifname(buf, f::IFNAME)?,
            key: [key0, key1],
            src: PeerRepr::parse(&buf[f::SRC..f::SRC + PeerRepr::LEN])?,
            dst: PeerRepr::parse(&buf[f::DST..f::DST + PeerRepr::LEN])?,
            rt_addr: read_addr(buf, f::RT_ADDR, rt_af),
            rule: rd32(buf, f::RULE),
            anchor: rd32(buf, f::ANCHOR),
            nat_rule: rd32(buf, f::NAT_RULE),
            creation: rd32(buf, f::CREATION),
            expire: rd32(buf, f::EXPIRE),
            packets: [rd64(buf, f::PACKETS), rd64(buf, f::PACKETS + 8)],
            bytes: [rd64(buf, f::BYTES), rd64(buf, f::BYTES + 8)],
            creatorid: rd32(buf, f::CREATORID),
            rtableid: [rd32(buf, f::RTABLEID), rd32(buf, f::RTABLEID + 4)],
            max_mss: rd16(buf, f::MAX_MSS),
            af,
            proto: buf[f::PROTO],
            direction: buf[f::DIRECTION],
            log: buf[f::LOG],
            rt: buf[f::RT],
            timeout: buf[f::TIMEOUT],
            sync_flags: buf[f::SYNC_FLAGS],
            updates: buf[f::UPDATES],
            min_ttl: buf[f::MIN_TTL],
            set_tos: buf[f::SET_TOS],
            state_flags: rd16(buf, f::STATE_FLAGS),
            set_prio: [buf[f::SET_PRIO], buf[f::SET_PRIO + 1]],
            rt_ifname: String::new(),
            tag: String::new(),
        })
    }

    /// Writes 264 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        use state_field as f;
        need(buf, Self::LEN)?;
        wr64(buf, f::ID, self.id);
        write_ifname(buf, f::IFNAME, &self.ifname);
        self.key[0].emit(&mut buf[f::KEY0..f::KEY0 + KeyRepr::LEN])?;
        self.key[1].emit(&mut buf[f::KEY1..f::KEY1 + KeyRepr::LEN])?;
        self.src.emit(&mut buf[f::SRC..f::SRC + PeerRepr::LEN])?;
        self.dst.emit(&mut buf[f::DST..f::DST + PeerRepr::LEN])?;
        write_addr(buf, f::RT_ADDR, &self.rt_addr);
        wr32(buf, f::RULE, self.rule);
        wr32(buf, f::ANCHOR, self.anchor);
        wr32(buf, f::NAT_RULE, self.nat_rule);
        wr32(buf, f::CREATION, self.creation);
        wr32(buf, f::EXPIRE, self.expire);
        wr64(buf, f::PACKETS, self.packets[0]);
        wr64(buf, f::PACKETS + 8, self.packets[1]);
        wr64(buf, f::BYTES, self.bytes[0]);
        wr64(buf, f::BYTES + 8, self.bytes[1]);
        wr32(buf, f::CREATORID, self.creatorid);
        wr32(buf, f::RTABLEID, self.rtableid[0]);
        wr32(buf, f::RTABLEID + 4, self.rtableid[1]);
        wr16(buf, f::MAX_MSS, self.max_mss);
        buf[f::AF] = self.af;
        buf[f::PROTO] = self.proto;
        buf[f::DIRECTION] = self.direction;
        buf[f::LOG] = self.log;
        buf[f::RT] = self.rt;
        buf[f::TIMEOUT] = self.timeout;
        buf[f::SYNC_FLAGS] = self.sync_flags;
        buf[f::UPDATES] = self.updates;
        buf[f::MIN_TTL] = self.min_ttl;
        buf[f::SET_TOS] = self.set_tos;
        wr16(buf, f::STATE_FLAGS, self.state_flags);
        buf[f::SET_PRIO] = self.set_prio[0];
        buf[f::SET_PRIO + 1] = self.set_prio[1];
        Ok(())
    }

    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// The receiver's INS checks (§2.7): timeout < 20, both peer states
    /// ≤ 12, direction in or out, key families both 2/24 if either is
    /// set, af 2 or 24, creatorid non-zero. Additionally (never failing
    /// for parsed states) each key's addresses must be of its family.
    pub fn validate(&self) -> core::result::Result<(), &'static str> {
        if self.timeout >= PFTM_MAX {
            return Err("invalid timeout");
        }
        if self.src.state > PF_TCPS_PROXY_DST || self.dst.state > PF_TCPS_PROXY_DST {
            return Err("invalid peer state");
        }
        if !(PF_IN..=PF_OUT).contains(&self.direction) {
            return Err("invalid direction");
        }
        let (a1, a2) = (self.key[0].af, self.key[1].af);
        if (a1 != 0 || a2 != 0) && !(valid_af(a1) && valid_af(a2)) {
            return Err("invalid key address family");
        }
        if !valid_af(self.af) {
            return Err("invalid address family");
        }
        if self.creatorid == 0 {
            return Err("invalid creator id");
        }
        for k in &self.key {
            let eff = k.effective_af(self.af);
            if k.addr.iter().any(|a| af_of(a) != eff) {
                return Err("key address does not match its family");
            }
        }
        Ok(())
    }
}

//! The small pfsync messages (wire-facts §2.8: CLR, INS_ACK, UPD_C,
//! UPD_REQ, DEL_C, BUS) and the `Message` enum over every current action.

use super::*;
use crate::wire::{rd32, rd64, wr32, wr64, Error, Result};
use serde::{Deserialize, Serialize};

/// CLR (20 bytes): remove every state of `creatorid` (on `ifname`, or on
/// all interfaces if empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClrRepr {
    pub ifname: String,
    pub creatorid: u32,
}

impl ClrRepr {
    pub const LEN: usize = CLR_LEN;
    pub fn parse(buf: &[u8]) -> Result<ClrRepr> {
        need(buf, Self::LEN)?;
        Ok(ClrRepr {
            ifname: read_ifname(buf, 0)?,
            creatorid: rd32(buf, 16),
        })
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        need(buf, Self::LEN)?;
        write_ifname(buf, 0, &self.ifname);
        wr32(buf, 16, self.creatorid);
        Ok(())
    }
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }
}

macro_rules! id_message {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub struct $name {
            pub id: u64,
            pub creatorid: u32,
        }

        impl $name {
            pub const LEN: usize = $len;
            pub fn parse(buf: &[u8]) -> Result<$name> {
                need(buf, Self::LEN)?;
                Ok($name { id: rd64(buf, 0), creatorid: rd32(buf, 8) })
            }
            pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
                need(buf, Self::LEN)?;
                wr64(buf, 0, self.id);
                wr32(buf, 8, self.creatorid);
                Ok(())
            }
            pub const fn buffer_len(&self) -> usize {
                Self::LEN
            }
        }
    };
}

id_message!(
    /// INS_ACK (12 bytes): acknowledges an INS that carried `PFSTATE_ACK`.
    InsAckRepr,
    INS_ACK_LEN
);
id_message!(
    /// UPD_REQ (12 bytes): asks for a full UPD of a state; id 0 with
    /// creatorid 0 asks for a bulk update.
    UpdReqRepr,
    UPD_REQ_LEN
);
id_message!(
    /// DEL_C (12 bytes): remove that state.
    DelCRepr,
    DEL_C_LEN
);

impl UpdReqRepr {
    /// The "send me everything" request.
    pub const BULK: UpdReqRepr = UpdReqRepr {
        id: 0,
        creatorid: 0,
    };
    pub fn is_bulk(&self) -> bool {
        self.id == 0 && self.creatorid == 0
    }
}

/// UPD_C (84 bytes): compressed update of a state's peers and timeout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UpdCRepr {
    pub id: u64,
    pub src: PeerRepr,
    pub dst: PeerRepr,
    pub creatorid: u32,
    /// Current OpenBSD sends 0.
    pub expire: u32,
    pub timeout: u8,
    /// Current OpenBSD sends 0.
    pub state_flags: u8,
}

impl UpdCRepr {
    pub const LEN: usize = UPD_C_LEN;
    pub fn parse(buf: &[u8]) -> Result<UpdCRepr> {
        need(buf, Self::LEN)?;
        Ok(UpdCRepr {
            id: rd64(buf, 0),
            src: PeerRepr::parse(&buf[8..40])?,
            dst: PeerRepr::parse(&buf[40..72])?,
            creatorid: rd32(buf, 72),
            expire: rd32(buf, 76),
            timeout: buf[80],
            state_flags: buf[81],
        })
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        need(buf, Self::LEN)?;
        wr64(buf, 0, self.id);
        self.src.emit(&mut buf[8..40])?;
        self.dst.emit(&mut buf[40..72])?;
        wr32(buf, 72, self.creatorid);
        wr32(buf, 76, self.expire);
        buf[80] = self.timeout;
        buf[81] = self.state_flags;
        buf[82..84].fill(0);
        Ok(())
    }
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }
    /// The receiver's UPD_C checks: timeout < 20, peer states ≤ 12.
    pub fn validate(&self) -> core::result::Result<(), &'static str> {
        if self.timeout >= PFTM_MAX {
            return Err("invalid timeout");
        }
        if self.src.state > PF_TCPS_PROXY_DST || self.dst.state > PF_TCPS_PROXY_DST {
            return Err("invalid peer state");
        }
        Ok(())
    }
}

/// BUS (12 bytes): bulk update start/end marker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BusRepr {
    pub creatorid: u32,
    /// Current OpenBSD sends 0.
    pub endtime: u32,
    /// `BUS_START` or `BUS_END`.
    pub status: u8,
}

impl BusRepr {
    pub const LEN: usize = BUS_LEN;
    pub fn parse(buf: &[u8]) -> Result<BusRepr> {
        need(buf, Self::LEN)?;
        Ok(BusRepr {
            creatorid: rd32(buf, 0),
            endtime: rd32(buf, 4),
            status: buf[8],
        })
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        need(buf, Self::LEN)?;
        wr32(buf, 0, self.creatorid);
        wr32(buf, 4, self.endtime);
        buf[8] = self.status;
        buf[9..12].fill(0);
        Ok(())
    }
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }
}

/// One pfsync message of a current action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    Clr(ClrRepr),
    InsAck(InsAckRepr),
    UpdC(UpdCRepr),
    UpdReq(UpdReqRepr),
    Del(StateRepr),
    DelC(DelCRepr),
    Bus(BusRepr),
    Ins(StateRepr),
    Upd(StateRepr),
}

impl Message {
    /// The action code of the section this message travels in.
    pub fn action(&self) -> u8 {
        match self {
            Message::Clr(_) => ACT_CLR,
            Message::InsAck(_) => ACT_INS_ACK,
            Message::UpdC(_) => ACT_UPD_C,
            Message::UpdReq(_) => ACT_UPD_REQ,
            Message::Del(_) => ACT_DEL,
            Message::DelC(_) => ACT_DEL_C,
            Message::Bus(_) => ACT_BUS,
            Message::Ins(_) => ACT_INS,
            Message::Upd(_) => ACT_UPD,
        }
    }
    /// Bytes the message occupies (without subheader).
    pub fn wire_len(&self) -> usize {
        match self {
            Message::Clr(_) => CLR_LEN,
            Message::InsAck(_) => INS_ACK_LEN,
            Message::UpdC(_) => UPD_C_LEN,
            Message::UpdReq(_) => UPD_REQ_LEN,
            Message::DelC(_) => DEL_C_LEN,
            Message::Bus(_) => BUS_LEN,
            Message::Del(_) | Message::Ins(_) | Message::Upd(_) => STATE_LEN,
        }
    }
    /// Parses one message of `action` from the start of `buf` (no value
    /// checks). Obsolete, TDB and unknown actions are `Unsupported`.
    pub fn parse(action: u8, buf: &[u8]) -> Result<Message> {
        Ok(match action {
            ACT_CLR => Message::Clr(ClrRepr::parse(buf)?),
            ACT_INS_ACK => Message::InsAck(InsAckRepr::parse(buf)?),
            ACT_UPD_C => Message::UpdC(UpdCRepr::parse(buf)?),
            ACT_UPD_REQ => Message::UpdReq(UpdReqRepr::parse(buf)?),
            ACT_DEL => Message::Del(StateRepr::parse(buf)?),
            ACT_DEL_C => Message::DelC(DelCRepr::parse(buf)?),
            ACT_BUS => Message::Bus(BusRepr::parse(buf)?),
            ACT_INS => Message::Ins(StateRepr::parse(buf)?),
            ACT_UPD => Message::Upd(StateRepr::parse(buf)?),
            _ => return Err(Error::Unsupported("pfsync action")),
        })
    }
    /// Writes the message at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        match self {
            Message::Clr(m) => m.emit(buf),
            Message::InsAck(m) => m.emit(buf),
            Message::UpdC(m) => m.emit(buf),
            Message::UpdReq(m) => m.emit(buf),
            Message::DelC(m) => m.emit(buf),
            Message::Bus(m) => m.emit(buf),
            Message::Del(m) | Message::Ins(m) | Message::Upd(m) => m.emit(buf),
        }
    }
    /// The receiver's value checks: INS and UPD states
    /// ([`StateRepr::validate`]), UPD_C ([`UpdCRepr::validate`]); the rest
    /// always pass.
    pub fn validate(&self) -> core::result::Result<(), &'static str> {
        match self {
            Message::Ins(s) | Message::Upd(s) => s.validate(),
            Message::UpdC(u) => u.validate(),
            _ => Ok(()),
        }
    }
}

//! The address a line gives, assembled as the line is walked (ifconfig's
//! `in_addreq` / `in6_addreq` and `doalias`): the positional words
//! (`A[/len] [MASK [BCAST]]`, `A PREFIXLEN`), `alias`/`-alias`/`delete`,
//! `netmask`, `broadcast`, `prefixlen`; the kernel's defaults for a missing
//! mask (classful) and broadcast.

use super::check::strtonum;
use super::{err, IfOp, IfconfigError};
use crate::addr::{mask_to_prefix, IpNet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// inet_aton(3)-like parsing of a netmask: dotted quad, `0x` hex or a
/// plain decimal number, as a 32-bit value.
fn parse_mask_v4(s: &str) -> Option<u32> {
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Some(u32::from(a));
    }
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return u64::from_str_radix(hex, 16)
            .ok()
            .and_then(|v| u32::try_from(v).ok());
    }
    if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().ok().and_then(|v| u32::try_from(v).ok());
    }
    None
}

/// A contiguous IPv4 netmask as a prefix length.
pub(super) fn v4_mask_prefix(s: &str) -> Option<u8> {
    parse_mask_v4(s).and_then(|m| mask_to_prefix(&IpAddr::V4(Ipv4Addr::from(m))))
}

/// Classful prefix the kernel picks when an IPv4 address comes without a
/// mask (in_ifinit).
pub(super) fn classful_prefix(a: Ipv4Addr) -> u8 {
    let first = a.octets()[0];
    if first & 0x80 == 0 {
        8
    } else if first & 0xc0 == 0x80 {
        16
    } else {
        24
    }
}

/// Broadcast the kernel derives: network | ~mask, none for /31.
pub(super) fn derived_broadcast(net: &IpNet) -> Option<Ipv4Addr> {
    match net.addr {
        IpAddr::V4(_) if net.prefix == 31 => None,
        IpAddr::V4(_) => match net.broadcast() {
            IpAddr::V4(b) => Some(b),
            IpAddr::V6(_) => None,
        },
        IpAddr::V6(_) => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Inet,
    Inet6,
}

/// The address being assembled while the line is walked (ifconfig's
/// `in_addreq` / `in6_addreq` plus `doalias`).
pub(super) struct AddrState {
    af: Family,
    addr: Option<IpAddr>,
    /// Prefix from `A/len`, a packed mask, `netmask` or `prefixlen`.
    prefix: Option<u8>,
    broadcast: Option<Ipv4Addr>,
    /// -1 delete, 0 replace, 1 alias (ifconfig's doalias).
    doalias: i8,
    positionals: usize,
    /// The second positional word was a mask (packed `inet A MASK BCAST`).
    packed_mask: bool,
    /// First address-related keyword seen, for "no address" errors.
    first_addr_kw: Option<&'static str>,
}

impl AddrState {
    pub(super) fn new(af: Family) -> AddrState {
        AddrState {
            af,
            addr: None,
            prefix: None,
            broadcast: None,
            doalias: 0,
            positionals: 0,
            packed_mask: false,
            first_addr_kw: None,
        }
    }

    /// An address keyword (`alias`, `-alias`, `delete`, `netmask`,
    /// `broadcast`, `prefixlen`) with its value; Ok(false) for any other
    /// word.
    pub(super) fn keyword(&mut self, w: &str, value: &str) -> Result<bool, IfconfigError> {
        match w {
            "alias" => {
                self.note("alias");
                self.doalias = 1;
            }
            "-alias" | "delete" => {
                self.note(if w == "delete" { "delete" } else { "-alias" });
                self.doalias = -1;
            }
            "netmask" => {
                self.note("netmask");
                self.prefix = Some(self.parse_netmask(value)?);
            }
            "broadcast" => {
                self.note("broadcast");
                if self.af == Family::Inet6 {
                    return err("broadcast: not allowed for inet6");
                }
                match value.parse::<Ipv4Addr>() {
                    Ok(b) => self.broadcast = Some(b),
                    Err(_) => return err(format!("{value}: bad value")),
                }
            }
            "prefixlen" => {
                self.note("prefixlen");
                self.prefix = Some(self.parse_prefixlen(value)?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `netmask MASK` as a prefix length.
    fn parse_netmask(&self, value: &str) -> Result<u8, IfconfigError> {
        let mask = match self.af {
            Family::Inet => parse_mask_v4(value).map(|m| IpAddr::V4(Ipv4Addr::from(m))),
            Family::Inet6 => value.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        };
        let Some(mask) = mask else {
            return err(format!("{value}: bad value"));
        };
        match mask_to_prefix(&mask) {
            Some(p) => Ok(p),
            None => err(format!("{value}: non-contiguous mask")),
        }
    }

    fn note(&mut self, kw: &'static str) {
        if self.first_addr_kw.is_none() {
            self.first_addr_kw = Some(kw);
        }
    }

    fn max_prefix(&self) -> u8 {
        match self.af {
            Family::Inet => 32,
            Family::Inet6 => 128,
        }
    }

    fn parse_prefixlen(&self, v: &str) -> Result<u8, IfconfigError> {
        match strtonum(v, 0, i64::from(self.max_prefix())) {
            Ok(n) => Ok(n as u8),
            Err(e) => err(format!("prefix {v}: {e}")),
        }
    }

    /// An address with an optional `/len`, for this family.
    fn parse_address(&self, w: &str) -> Result<(IpAddr, Option<u8>), IfconfigError> {
        let (a, p) = match w.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (w, None),
        };
        let addr = match self.af {
            Family::Inet => a.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
            Family::Inet6 => a.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        };
        let Some(addr) = addr else {
            return if looks_like_address(w) {
                err(format!("{w}: bad value"))
            } else {
                err(format!("unknown option: {w}"))
            };
        };
        let prefix = match p {
            None => None,
            Some(p) if self.af == Family::Inet => match strtonum(p, 0, 32) {
                Ok(n) => Some(n as u8),
                // inet_net_pton fails, inet_aton fails: "bad value"
                Err(_) => return err(format!("{w}: bad value")),
            },
            Some(p) => Some(self.parse_prefixlen(p)?),
        };
        Ok((addr, prefix))
    }

    pub(super) fn positional(&mut self, w: &str) -> Result<(), IfconfigError> {
        let n = self.positionals;
        self.positionals += 1;
        match (self.af, n) {
            (_, 0) => {
                let (addr, prefix) = self.parse_address(w)?;
                self.addr = Some(addr);
                if prefix.is_some() {
                    self.prefix = prefix;
                }
                Ok(())
            }
            (Family::Inet, 1) => {
                if let Some(p) = v4_mask_prefix(w) {
                    self.prefix = Some(p);
                    self.packed_mask = true;
                    Ok(())
                } else if let Ok(b) = w.parse::<Ipv4Addr>() {
                    self.broadcast = Some(b);
                    Ok(())
                } else {
                    err(format!("{w}: bad value"))
                }
            }
            (Family::Inet, 2) if self.packed_mask => match w.parse::<Ipv4Addr>() {
                Ok(b) => {
                    self.broadcast = Some(b);
                    Ok(())
                }
                Err(_) => err(format!("{w}: bad value")),
            },
            (Family::Inet6, 1) if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => {
                self.prefix = Some(self.parse_prefixlen(w)?);
                Ok(())
            }
            _ => err(format!("{w}: bad value")),
        }
    }

    pub(super) fn finish(self) -> Result<Option<IfOp>, IfconfigError> {
        let Some(addr) = self.addr else {
            return match self.first_addr_kw {
                Some(kw) => err(format!("{kw}: no address given")),
                None => Ok(None),
            };
        };
        let max = self.max_prefix();
        if self.doalias < 0 {
            let net = IpNet {
                addr,
                prefix: self.prefix.unwrap_or(max),
            };
            return Ok(Some(IfOp::DeleteAddr(net)));
        }
        let alias = self.doalias > 0;
        Ok(Some(match addr {
            IpAddr::V4(a) => {
                let prefix = self.prefix.unwrap_or_else(|| classful_prefix(a));
                IfOp::Inet {
                    net: IpNet { addr, prefix },
                    broadcast: self.broadcast,
                    alias,
                }
            }
            IpAddr::V6(_) => {
                let prefix = self.prefix.unwrap_or(64);
                IfOp::Inet6 {
                    net: IpNet { addr, prefix },
                    alias,
                }
            }
        }))
    }
}

fn looks_like_address(w: &str) -> bool {
    w.bytes().next().is_some_and(|b| b.is_ascii_digit())
        || w.contains(':')
        || w.contains('/')
        || (w.contains('.') && !w.starts_with('-'))
}

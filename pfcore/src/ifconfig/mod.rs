//! ifconfig(8) for the pseudo-interfaces pfd owns: `carpN` and `pfsync0`.
//!
//! Three steps, all pure:
//!
//! 1. [`parse_args`] turns the words after the interface name
//!    (`carpctl carp1 inet 192.0.2.1/24 vhid 1 carpdev eth1 ...`, or one
//!    line of a hostname.if(5) file once [`crate::hostname_if`] has unpacked
//!    it) into a list of [`IfOp`].
//! 2. [`apply_carp`] / [`apply_pfsync`] apply the ops to a [`CarpConfig`] /
//!    [`PfsyncConfig`] the way OpenBSD's ifconfig and kernel would, and say
//!    what the caller (pfd) must do besides storing the new configuration.
//! 3. [`print_carp`] / [`print_pfsync`] print the block `ifconfig carp1` /
//!    `ifconfig pfsync0` prints.
//!
//! One file a step: `parse.rs`, `apply.rs`, `print.rs`; beside them
//! `address.rs` (the address a line gives, assembled word by word) and
//! `check.rs` (the limits on values both parsing and applying enforce).
//! The ops, errors and results they share are here.
//!
//! # How OpenBSD's ifconfig processes its arguments (and what we copy)
//!
//! Read from `sbin/ifconfig/ifconfig.c` (1.472) and the kernel
//! (`ip_carp.c`, `if_pfsync.c`, `in.c`):
//!
//! * The address family (`inet`, `inet6`) is recognised only as the first
//!   argument; `create` only right after it. Everywhere else they are errors
//!   here (ifconfig would try to resolve them as host names).
//! * Arguments are processed strictly left to right, and every carp/pfsync
//!   keyword is an immediate `SIOCGVH`+`SIOCSVH` (or `SIOCSETPFSYNC`)
//!   round trip. ifconfig does **not** reorder anything, **but** the address
//!   is never set where it appears: `setifaddr` only records it, and the
//!   `SIOCDIFADDR`/`SIOCAIFADDR` ioctls are issued after the whole argument
//!   list has been walked. That is why
//!   `inet 192.0.2.1 255.255.255.0 192.0.2.255 vhid 1 carpdev hvn3` works
//!   even though the current kernel refuses an address (`EINVAL`) on a carp
//!   interface without a carpdev: by the time the address is added, `carpdev`
//!   has been set. [`parse_args`] mirrors this by emitting the address op
//!   last, and the apply functions apply address ops after all others,
//!   wherever they are in the slice. An address is refused only if no carpdev
//!   is set at the end of the line (or before it).
//! * Adding an address to a carp interface marks it UP (`carp_ioctl`,
//!   `SIOCSIFADDR`), which is why the seed's hostname.carp1 lines need no
//!   `up`. Because the address comes last, `inet A down` still ends up UP,
//!   as on OpenBSD.
//! * `inet A` without `alias` first deletes the interface's first IPv4
//!   address (then adds A at the end of the list); `alias` adds; `-alias` /
//!   `delete` removes A. With `inet6`, `alias` makes no difference: an
//!   existing address is never replaced.
//! * No mask given: the kernel uses the classful mask (`in_ifinit`: /8, /16
//!   or /24); inet6 defaults to prefixlen 64 (ifconfig). Broadcast not given:
//!   network | ~mask, none for /31 (RFC 3021).
//! * Ranges (strtonum): vhid 1..255, advbase 0..254, advskew 0..254,
//!   maxupd 0..255, mtu 0..INT_MAX, prefixlen 0..32/128, carpdemote 0..128.
//!   Messages are ifconfig's: `vhid 300: too large`, `advskew abc: invalid`,
//!   `'vhid' requires argument`, `300.1.1.1: bad value`,
//!   `255.0.255.0: non-contiguous mask`.
//! * `pass` is copied with strlcpy into a 20-byte buffer: only the first 19
//!   bytes count ([`CARP_KEY_MAX`]); longer passphrases are silently cut.
//! * `state master|backup` forces the state (kernel: only when the carp
//!   interface is not in INIT); `state init` is accepted and does nothing,
//!   because the kernel reads state 0 as "no change".
//! * `carppeer 0.0.0.0` / `224.0.0.18` and `syncpeer 0.0.0.0` / `224.0.0.240`
//!   mean "back to the multicast group".
//! * pfsync (2023 rewrite): syncdev and syncpeer cannot change while pfsync0
//!   is running (`EBUSY`); `down syncdev em3 up` is the way to change them.
//!
//! # Deliberate differences
//!
//! * Unlike ifconfig, nothing is applied when any argument is wrong:
//!   [`parse_args`] checks the whole line first, and the apply functions are
//!   all-or-nothing. (ifconfig has already applied everything to the left of
//!   the bad argument when it exits.)
//! * The packed hostname.if forms are accepted directly:
//!   `inet A MASK [BCAST]` (dotted or `0x` mask) and `inet6 A PREFIXLEN`,
//!   as in the design's `carpctl carp1 inet 192.0.2.1 255.255.255.0 ...`.
//!   Real ifconfig would take the second word as a destination/broadcast
//!   address. No host names are resolved.
//! * Unknown words give `unknown option: foo`; words of ifconfig that make
//!   no sense here (media, lladdr, tunnel, ...) give `foo: not supported
//!   on carp and pfsync interfaces`.
//! * `-carpdev` (present in older ifconfig, gone from 1.472) is accepted.
//! * `netmask`/`broadcast`/`prefixlen`/`alias`/`delete` without an address,
//!   and `delete` without naming the address, are errors (ifconfig ignores the
//!   first ones and deletes the first address for the last one).
//! * `carpdemote [N]` / `-carpdemote [N]` are parsed, but only
//!   [`parse_group_args`] (for `-g group`) accepts them.
//! * `autoconf` (`dhcp` in hostname.if) is refused: pseudo-interfaces have no
//!   dynamic addressing.
//!
//! # Printing
//!
//! Line order and wording are ifconfig's `status()`: header
//! (`flags=…` from printb, ` mtu N` unless 0), `lladdr` (carp only; pfsync
//! has no Ethernet address), `description:`, `index N priority P llprio 3`,
//! the `carp:` line (only with a vhid) or the `pfsync:` line (only with a
//! syncdev), `groups:`, `status:` (carp only: pfsync's link state is
//! unknown), then the addresses in configuration order. Where the data has
//! no interface index (0), the `index N` word is left out, as ifconfig does
//! for an interface without a link-level address. Only the cloner groups are
//! printed (`carp`, `carp pfsync`): the configuration types keep no group
//! list. pfsync0 shows RUNNING when it is up and pfsyncd is attached.

mod address;
mod apply;
mod check;
mod parse;
mod print;

pub use apply::{apply_carp, apply_pfsync};
pub use parse::{parse_args, parse_group_args};
pub use print::*;

use crate::addr::IpNet;
use crate::carp::balance::{Balancing, CarpNode};
use crate::carp::CarpState;
use std::fmt;
use std::net::Ipv4Addr;

/// Interface name buffer size (names are at most 15 bytes).
pub const IFNAMSIZ: usize = 16;
/// Description buffer size (descriptions are at most 63 bytes).
pub const IFDESCRSIZE: usize = 64;
/// Multicast group of CARP advertisements, and the "no carppeer" value.
pub const CARP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Multicast group of pfsync, and the "no syncpeer" value.
pub const PFSYNC_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 240);
/// `priority` OpenBSD gives carp interfaces (IF_CARP_DEFAULT_PRIORITY).
pub const CARP_PRIORITY: u8 = 15;
/// Default `llprio` of every interface (IFQ_DEFPRIO).
pub const DEFAULT_LLPRIO: u8 = 3;
/// Largest carpdemote adjustment `ifconfig -g group carpdemote N` accepts.
pub const CARPDEMOTE_MAX: i32 = 128;

/// One ifconfig argument (or keyword with its value), resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfOp {
    /// Add (or, without `alias`, replace the first) IPv4 address.
    /// `broadcast: None` means "derive it from the mask".
    Inet {
        net: IpNet,
        broadcast: Option<Ipv4Addr>,
        alias: bool,
    },
    /// Add an IPv6 address (`alias` changes nothing, kept for printing back).
    Inet6 {
        net: IpNet,
        alias: bool,
    },
    /// `-alias` / `delete`: remove this address (the prefix is ignored).
    DeleteAddr(IpNet),
    Up,
    Down,
    Create,
    Destroy,
    /// `description TEXT`; empty for `-description`.
    Description(String),
    Mtu(u32),
    Vhid(u8),
    Advbase(u8),
    Advskew(u8),
    Pass(String),
    Carpdev(String),
    NoCarpdev,
    Carppeer(Ipv4Addr),
    NoCarppeer,
    /// `carpnodes vhid:advskew,...`, checked and sorted by vhid.
    Carpnodes(Vec<CarpNode>),
    Balancing(Balancing),
    State(CarpState),
    Syncdev(String),
    NoSyncdev,
    Syncpeer(Ipv4Addr),
    NoSyncpeer,
    Maxupd(u8),
    Defer(bool),
    Group(String),
    NoGroup(String),
    /// `carpdemote [N]`: only meaningful as `ifconfig -g group carpdemote N`.
    Carpdemote(i32),
    /// `-carpdemote [N]`.
    NoCarpdemote(i32),
}

impl IfOp {
    /// The keyword that produces this op, for error messages.
    pub fn keyword(&self) -> &'static str {
        match self {
            IfOp::Inet { .. } => "inet",
            IfOp::Inet6 { .. } => "inet6",
            IfOp::DeleteAddr(_) => "delete",
            IfOp::Up => "up",
            IfOp::Down => "down",
            IfOp::Create => "create",
            IfOp::Destroy => "destroy",
            IfOp::Description(_) => "description",
            IfOp::Mtu(_) => "mtu",
            IfOp::Vhid(_) => "vhid",
            IfOp::Advbase(_) => "advbase",
            IfOp::Advskew(_) => "advskew",
            IfOp::Pass(_) => "pass",
            IfOp::Carpdev(_) => "carpdev",
            IfOp::NoCarpdev => "-carpdev",
            IfOp::Carppeer(_) => "carppeer",
            IfOp::NoCarppeer => "-carppeer",
            IfOp::Carpnodes(_) => "carpnodes",
            IfOp::Balancing(_) => "balancing",
            IfOp::State(_) => "state",
            IfOp::Syncdev(_) => "syncdev",
            IfOp::NoSyncdev => "-syncdev",
            IfOp::Syncpeer(_) => "syncpeer",
            IfOp::NoSyncpeer => "-syncpeer",
            IfOp::Maxupd(_) => "maxupd",
            IfOp::Defer(true) => "defer",
            IfOp::Defer(false) => "-defer",
            IfOp::Group(_) => "group",
            IfOp::NoGroup(_) => "-group",
            IfOp::Carpdemote(_) => "carpdemote",
            IfOp::NoCarpdemote(_) => "-carpdemote",
        }
    }

    fn is_address(&self) -> bool {
        matches!(
            self,
            IfOp::Inet { .. } | IfOp::Inet6 { .. } | IfOp::DeleteAddr(_)
        )
    }
}

/// A refused argument or operation, worded like ifconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfconfigError {
    message: String,
}

impl IfconfigError {
    pub fn new(message: impl Into<String>) -> IfconfigError {
        IfconfigError {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for IfconfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for IfconfigError {}

fn err<T>(message: impl Into<String>) -> Result<T, IfconfigError> {
    Err(IfconfigError::new(message))
}

/// What pfd must do for a carp interface besides storing the new config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarpActions {
    /// `destroy`: remove the interface (nothing may follow it).
    pub destroy: bool,
    /// `create`: create it if it does not exist yet.
    pub create: bool,
    /// `state backup|master`. The kernel acts on it only when the interface
    /// is not in INIT; `state init` never shows up here (it is a no-op).
    pub force_state: Option<CarpState>,
    /// `mtu N` (CarpConfig has no MTU; the macvlan gets it).
    pub mtu: Option<u32>,
    /// `group NAME`, in order (CarpConfig has no group list).
    pub groups_add: Vec<String>,
    /// `-group NAME`, in order.
    pub groups_del: Vec<String>,
}

/// What pfd must do for pfsync0 besides storing the new config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PfsyncActions {
    pub destroy: bool,
    pub create: bool,
    pub mtu: Option<u32>,
    pub groups_add: Vec<String>,
    pub groups_del: Vec<String>,
}

#[cfg(test)]
mod tests;

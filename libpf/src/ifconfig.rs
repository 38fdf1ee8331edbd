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
//!   no sense here (media, lladdr, carpnodes, ...) give `foo: not supported
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

use crate::addr::{mask_to_prefix, IpNet};
use crate::carp::{CarpConfig, CarpState, CarpStatus, IfAddr, CARP_KEY_MAX};
use crate::pfsync::{PfsyncConfig, PfsyncStatus};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

// ---------------------------------------------------------------------------
// Argument parsing
// ---------------------------------------------------------------------------

/// strtonum(3): decimal, optional leading blanks and sign, nothing after.
fn strtonum(s: &str, min: i64, max: i64) -> Result<i64, &'static str> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid");
    }
    let mut v: i128 = 0;
    for b in digits.bytes() {
        v = v * 10 + i128::from(b - b'0');
        if v > i128::from(u64::MAX) {
            break; // far out of any range; strtoll would say ERANGE
        }
    }
    let v = if neg { -v } else { v };
    if v < i128::from(min) {
        Err("too small")
    } else if v > i128::from(max) {
        Err("too large")
    } else {
        Ok(v as i64)
    }
}

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
fn v4_mask_prefix(s: &str) -> Option<u8> {
    parse_mask_v4(s).and_then(|m| mask_to_prefix(&IpAddr::V4(Ipv4Addr::from(m))))
}

/// Classful prefix the kernel picks when an IPv4 address comes without a
/// mask (in_ifinit).
fn classful_prefix(a: Ipv4Addr) -> u8 {
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
fn derived_broadcast(net: &IpNet) -> Option<Ipv4Addr> {
    match net.addr {
        IpAddr::V4(_) if net.prefix == 31 => None,
        IpAddr::V4(_) => match net.broadcast() {
            IpAddr::V4(b) => Some(b),
            IpAddr::V6(_) => None,
        },
        IpAddr::V6(_) => None,
    }
}

/// Words that are ifconfig keywords but make no sense on carp/pfsync.
const UNSUPPORTED: &[&str] = &[
    "arp",
    "-arp",
    "debug",
    "-debug",
    "nwid",
    "-nwid",
    "join",
    "-join",
    "joinlist",
    "-joinlist",
    "bssid",
    "-bssid",
    "nwkey",
    "-nwkey",
    "wpa",
    "-wpa",
    "wpaakms",
    "wpaciphers",
    "wpagroupcipher",
    "wpaprotos",
    "wpakey",
    "-wpakey",
    "chan",
    "-chan",
    "scan",
    "vnetid",
    "-vnetid",
    "parent",
    "-parent",
    "vlan",
    "-vlan",
    "vlandev",
    "-vlandev",
    "trunkport",
    "-trunkport",
    "trunkproto",
    "lacpmode",
    "lacptimeout",
    "anycast",
    "-anycast",
    "tentative",
    "-tentative",
    "pltime",
    "vltime",
    "eui64",
    "temporary",
    "-temporary",
    "soii",
    "-soii",
    "monitor",
    "-monitor",
    "tcplro",
    "-tcplro",
    "hwfeatures",
    "metric",
    "powersave",
    "-powersave",
    "priority",
    "rtlabel",
    "-rtlabel",
    "rdomain",
    "-rdomain",
    "staticarp",
    "-staticarp",
    "mpls",
    "-mpls",
    "mplslabel",
    "-mplslabel",
    "carpnodes",
    "balancing",
    "tunnel",
    "tunneladdr",
    "-tunnel",
    "tunneldomain",
    "-tunneldomain",
    "tunnelttl",
    "tunneldf",
    "-tunneldf",
    "tunnelecn",
    "-tunnelecn",
    "txprio",
    "rxprio",
    "-inet",
    "-inet6",
    "keepalive",
    "-keepalive",
    "link0",
    "-link0",
    "link1",
    "-link1",
    "link2",
    "-link2",
    "media",
    "mediaopt",
    "-mediaopt",
    "mode",
    "-mode",
    "instance",
    "inst",
    "lladdr",
    "llprio",
    "patch",
    "-patch",
    "wol",
    "-wol",
    "ipdst",
    "transceiver",
    "sff",
    "sffdump",
];

/// Keywords this parser knows, with whether they take an argument.
const KEYWORDS: &[(&str, bool)] = &[
    ("up", false),
    ("down", false),
    ("alias", false),
    ("-alias", false),
    ("delete", false),
    ("netmask", true),
    ("broadcast", true),
    ("prefixlen", true),
    ("mtu", true),
    ("description", true),
    ("descr", true),
    ("-description", false),
    ("-descr", false),
    ("group", true),
    ("-group", true),
    ("create", false),
    ("destroy", false),
    ("vhid", true),
    ("advbase", true),
    ("advskew", true),
    ("pass", true),
    ("carpdev", true),
    ("-carpdev", false),
    ("carppeer", true),
    ("-carppeer", false),
    ("state", true),
    ("syncdev", true),
    ("syncif", true),
    ("-syncdev", false),
    ("-syncif", false),
    ("syncpeer", true),
    ("-syncpeer", false),
    ("maxupd", true),
    ("defer", false),
    ("-defer", false),
    ("carpdemote", false),
    ("-carpdemote", false),
    ("autoconf", false),
    ("-autoconf", false),
    ("inet", false),
    ("inet6", false),
];

fn is_keyword(w: &str) -> bool {
    KEYWORDS.iter().any(|(k, _)| *k == w) || UNSUPPORTED.contains(&w)
}

fn takes_arg(w: &str) -> bool {
    KEYWORDS.iter().any(|(k, a)| *k == w && *a)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Inet,
    Inet6,
}

/// The address being assembled while the line is walked (ifconfig's
/// `in_addreq` / `in6_addreq` plus `doalias`).
struct AddrState {
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

    fn positional(&mut self, w: &str) -> Result<(), IfconfigError> {
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

    fn finish(self) -> Result<Option<IfOp>, IfconfigError> {
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

fn parse_v4_value(kw: &str, v: &str) -> Result<Ipv4Addr, IfconfigError> {
    v.parse::<Ipv4Addr>()
        .or_else(|_| err(format!("{kw} {v}: not a valid IPv4 address")))
}

fn check_name(kw: &str, v: &str, what: &str) -> Result<(), IfconfigError> {
    if v.is_empty() {
        return err(format!("{kw}: {what} name required"));
    }
    if v.len() >= IFNAMSIZ {
        return err(format!("{kw} {v}: {what} name too long"));
    }
    if v.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return err(format!("{kw} {v}: invalid {what} name"));
    }
    Ok(())
}

fn check_group(kw: &str, g: &str) -> Result<(), IfconfigError> {
    // setifgroup's checks and wording
    let who = if kw == "group" {
        "setifgroup"
    } else {
        "unsetifgroup"
    };
    if g.len() >= IFNAMSIZ {
        return err(format!("{who}: group name too long"));
    }
    if kw == "group" {
        if g.is_empty() {
            return err("setifgroup: group name empty");
        }
        if g.bytes().last().is_some_and(|b| b.is_ascii_digit()) {
            return err("setifgroup: group names may not end in a digit");
        }
    }
    if g.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return err(format!("{who}: invalid group name {g}"));
    }
    Ok(())
}

fn check_description(d: &str) -> Result<(), IfconfigError> {
    if d.len() >= IFDESCRSIZE {
        return err(format!(
            "description: too long ({} bytes, at most {})",
            d.len(),
            IFDESCRSIZE - 1
        ));
    }
    Ok(())
}

fn parse_state(v: &str) -> Result<CarpState, IfconfigError> {
    match v.to_ascii_lowercase().as_str() {
        "init" => Ok(CarpState::Init),
        "backup" => Ok(CarpState::Backup),
        "master" => Ok(CarpState::Master),
        _ => err(format!("state {v}: unknown state (init, backup or master)")),
    }
}

fn parse_demotion(v: &str) -> Result<i32, IfconfigError> {
    match strtonum(v, 0, i64::from(CARPDEMOTE_MAX)) {
        Ok(n) => Ok(n as i32),
        Err(e) => err(format!("invalid carp demotion {v}: {e}")),
    }
}

/// Parse the words after the interface name, as ifconfig(8) does (see the
/// module documentation for the rules). The address op, if any, comes last:
/// that is when ifconfig sets it.
pub fn parse_args(args: &[String]) -> Result<Vec<IfOp>, IfconfigError> {
    let mut ops = Vec::new();
    let mut i = 0;
    let mut af = Family::Inet;
    match args.first().map(String::as_str) {
        Some("inet") => i = 1,
        Some("inet6") => {
            af = Family::Inet6;
            i = 1;
        }
        _ => {}
    }
    if args.get(i).map(String::as_str) == Some("create") {
        ops.push(IfOp::Create);
        i += 1;
    }
    let mut a = AddrState {
        af,
        addr: None,
        prefix: None,
        broadcast: None,
        doalias: 0,
        positionals: 0,
        packed_mask: false,
        first_addr_kw: None,
    };

    while i < args.len() {
        let w = args[i].as_str();
        let value = if takes_arg(w) {
            match args.get(i + 1) {
                Some(v) => {
                    i += 1;
                    v.as_str()
                }
                None => return err(format!("'{w}' requires argument")),
            }
        } else {
            ""
        };
        i += 1;
        match w {
            "up" => ops.push(IfOp::Up),
            "down" => ops.push(IfOp::Down),
            "alias" => {
                a.note("alias");
                a.doalias = 1;
            }
            "-alias" | "delete" => {
                a.note(if w == "delete" { "delete" } else { "-alias" });
                a.doalias = -1;
            }
            "netmask" => {
                a.note("netmask");
                a.prefix = Some(match a.af {
                    Family::Inet => match parse_mask_v4(value) {
                        None => return err(format!("{value}: bad value")),
                        Some(m) => match mask_to_prefix(&IpAddr::V4(Ipv4Addr::from(m))) {
                            Some(p) => p,
                            None => return err(format!("{value}: non-contiguous mask")),
                        },
                    },
                    Family::Inet6 => match value.parse::<Ipv6Addr>() {
                        Err(_) => return err(format!("{value}: bad value")),
                        Ok(m) => match mask_to_prefix(&IpAddr::V6(m)) {
                            Some(p) => p,
                            None => return err(format!("{value}: non-contiguous mask")),
                        },
                    },
                });
            }
            "broadcast" => {
                a.note("broadcast");
                if a.af == Family::Inet6 {
                    return err("broadcast: not allowed for inet6");
                }
                match value.parse::<Ipv4Addr>() {
                    Ok(b) => a.broadcast = Some(b),
                    Err(_) => return err(format!("{value}: bad value")),
                }
            }
            "prefixlen" => {
                a.note("prefixlen");
                a.prefix = Some(a.parse_prefixlen(value)?);
            }
            "mtu" => match strtonum(value, 0, i64::from(i32::MAX)) {
                Ok(n) => ops.push(IfOp::Mtu(n as u32)),
                Err(e) => return err(format!("mtu {value}: {e}")),
            },
            "description" | "descr" => {
                check_description(value)?;
                ops.push(IfOp::Description(value.to_string()));
            }
            "-description" | "-descr" => ops.push(IfOp::Description(String::new())),
            "group" | "-group" => {
                check_group(w, value)?;
                ops.push(if w == "group" {
                    IfOp::Group(value.to_string())
                } else {
                    IfOp::NoGroup(value.to_string())
                });
            }
            "create" => return err("create: must be the first argument"),
            "destroy" => ops.push(IfOp::Destroy),
            "vhid" => match strtonum(value, 1, 255) {
                Ok(n) => ops.push(IfOp::Vhid(n as u8)),
                Err(e) => return err(format!("vhid {value}: {e}")),
            },
            "advbase" => match strtonum(value, 0, 254) {
                Ok(n) => ops.push(IfOp::Advbase(n as u8)),
                Err(e) => return err(format!("advbase {value}: {e}")),
            },
            "advskew" => match strtonum(value, 0, 254) {
                Ok(n) => ops.push(IfOp::Advskew(n as u8)),
                Err(e) => return err(format!("advskew {value}: {e}")),
            },
            "pass" => ops.push(IfOp::Pass(value.to_string())),
            "carpdev" => {
                check_name("carpdev", value, "interface")?;
                ops.push(IfOp::Carpdev(value.to_string()));
            }
            "-carpdev" => ops.push(IfOp::NoCarpdev),
            "carppeer" => ops.push(IfOp::Carppeer(parse_v4_value("carppeer", value)?)),
            "-carppeer" => ops.push(IfOp::NoCarppeer),
            "state" => ops.push(IfOp::State(parse_state(value)?)),
            "syncdev" | "syncif" => {
                check_name(w, value, "interface")?;
                ops.push(IfOp::Syncdev(value.to_string()));
            }
            "-syncdev" | "-syncif" => ops.push(IfOp::NoSyncdev),
            "syncpeer" => ops.push(IfOp::Syncpeer(parse_v4_value("syncpeer", value)?)),
            "-syncpeer" => ops.push(IfOp::NoSyncpeer),
            "maxupd" => match strtonum(value, 0, 255) {
                Ok(n) => ops.push(IfOp::Maxupd(n as u8)),
                Err(e) => return err(format!("maxupd {value}: {e}")),
            },
            "defer" => ops.push(IfOp::Defer(true)),
            "-defer" => ops.push(IfOp::Defer(false)),
            "carpdemote" | "-carpdemote" => {
                // The count is optional; take the next word unless it is a
                // keyword.
                let n = match args.get(i) {
                    Some(v) if !is_keyword(v) => {
                        i += 1;
                        parse_demotion(v)?
                    }
                    _ => 1,
                };
                ops.push(if w == "carpdemote" {
                    IfOp::Carpdemote(n)
                } else {
                    IfOp::NoCarpdemote(n)
                });
            }
            "autoconf" | "-autoconf" => return err(format!(
                "{w}: not supported (carp and pfsync interfaces have static addresses; netstart leaves DHCP and SLAAC to the system's own client)"
            )),
            "inet" | "inet6" => {
                return err(format!(
                    "{w}: the address family must be the first argument"
                ))
            }
            _ if UNSUPPORTED.contains(&w) => {
                return err(format!("{w}: not supported on carp and pfsync interfaces"))
            }
            _ => a.positional(w)?,
        }
    }
    if let Some(op) = a.finish()? {
        ops.push(op);
    }
    Ok(ops)
}

/// `ifconfig -g GROUP carpdemote [N]` / `-carpdemote [N]`: the signed
/// adjustment to the group's demotion counter (setgroupattribs).
pub fn parse_group_args(group: &str, args: &[String]) -> Result<i32, IfconfigError> {
    let sign = match args.first().map(String::as_str) {
        Some("carpdemote") => 1,
        Some("-carpdemote") => -1,
        Some(other) => {
            return err(format!(
                "{other}: only carpdemote and -carpdemote can be given with -g"
            ))
        }
        None => return err("-g: carpdemote or -carpdemote required"),
    };
    let n = match args.get(1) {
        None => 1,
        Some(v) => match strtonum(v, 0, i64::from(CARPDEMOTE_MAX)) {
            Ok(n) => n as i32,
            Err(e) => return err(format!("{group}: invalid carp demotion: {e}")),
        },
    };
    if args.len() > 2 {
        return err(format!("{}: unexpected argument", args[2]));
    }
    Ok(sign * n)
}

// ---------------------------------------------------------------------------
// Applying ops
// ---------------------------------------------------------------------------

fn range_u8(kw: &str, v: u8, min: u8, max: u8) -> Result<(), IfconfigError> {
    if v < min {
        err(format!("{kw} {v}: too small"))
    } else if v > max {
        err(format!("{kw} {v}: too large"))
    } else {
        Ok(())
    }
}

fn check_mtu(m: u32) -> Result<(), IfconfigError> {
    if i64::from(m) > i64::from(i32::MAX) {
        return err(format!("mtu {m}: too large"));
    }
    Ok(())
}

/// What every interface kind takes: flags, description, mtu, groups,
/// create/destroy.
#[derive(Default)]
struct Common {
    up: bool,
    description: Option<String>,
    create: bool,
    destroy: bool,
    mtu: Option<u32>,
    groups_add: Vec<String>,
    groups_del: Vec<String>,
}

impl Common {
    /// Apply `op` if it is a common one; Ok(false) if it is not.
    fn apply(&mut self, op: &IfOp, own_group: &str) -> Result<bool, IfconfigError> {
        match op {
            IfOp::Up => self.up = true,
            IfOp::Down => self.up = false,
            IfOp::Create => self.create = true,
            IfOp::Destroy => self.destroy = true,
            IfOp::Description(d) => {
                check_description(d)?;
                self.description = if d.is_empty() { None } else { Some(d.clone()) };
            }
            IfOp::Mtu(m) => {
                check_mtu(*m)?;
                self.mtu = Some(*m);
            }
            IfOp::Group(g) => {
                check_group("group", g)?;
                self.groups_del.retain(|x| x != g);
                // Already a member of its own group (EEXIST is ignored).
                if g != own_group && !self.groups_add.contains(g) {
                    self.groups_add.push(g.clone());
                }
            }
            IfOp::NoGroup(g) => {
                check_group("-group", g)?;
                if g == own_group {
                    return err(format!(
                        "-group {g}: the interface cannot leave its own group"
                    ));
                }
                self.groups_add.retain(|x| x != g);
                if !self.groups_del.contains(g) {
                    self.groups_del.push(g.clone());
                }
            }
            IfOp::Carpdemote(_) | IfOp::NoCarpdemote(_) => {
                return err(format!("{}: only valid with -g group", op.keyword()))
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn upsert(addrs: &mut Vec<IfAddr>, entry: IfAddr) {
    match addrs.iter_mut().find(|x| x.net.addr == entry.net.addr) {
        Some(x) => *x = entry,
        None => addrs.push(entry),
    }
}

/// Apply `ops` to a carp interface's configuration, as ifconfig and the
/// kernel would. All or nothing: on error `cfg` is unchanged.
pub fn apply_carp(cfg: &mut CarpConfig, ops: &[IfOp]) -> Result<CarpActions, IfconfigError> {
    let mut new = cfg.clone();
    let mut com = Common {
        up: cfg.up,
        description: cfg.description.clone(),
        ..Common::default()
    };
    let mut force_state = None;
    let mut deferred: Vec<&IfOp> = Vec::new();

    for op in ops {
        if com.destroy {
            return err(format!("{}: not allowed after destroy", op.keyword()));
        }
        if com.apply(op, "carp")? {
            continue;
        }
        match op {
            IfOp::Vhid(v) => {
                range_u8("vhid", *v, 1, 255)?;
                new.vhid = *v;
            }
            IfOp::Advbase(v) => {
                range_u8("advbase", *v, 0, 254)?;
                new.advbase = *v;
            }
            IfOp::Advskew(v) => {
                range_u8("advskew", *v, 0, 254)?;
                new.advskew = *v;
            }
            IfOp::Pass(p) => {
                // strlcpy into a CARP_KEY_LEN (20) buffer: 19 bytes survive.
                let b = p.as_bytes();
                new.key = b[..b.len().min(CARP_KEY_MAX)].to_vec();
            }
            IfOp::Carpdev(d) => {
                check_name("carpdev", d, "interface")?;
                if is_carp_name(d) {
                    return err(format!("carpdev {d}: not an Ethernet interface"));
                }
                new.carpdev = Some(d.clone());
            }
            IfOp::NoCarpdev => new.carpdev = None,
            IfOp::Carppeer(p) => {
                new.carppeer = if *p == CARP_GROUP || p.is_unspecified() {
                    None
                } else if p.is_multicast() || p.is_broadcast() {
                    return err(format!(
                        "carppeer {p}: must be a unicast address (or {CARP_GROUP})"
                    ));
                } else {
                    Some(*p)
                };
            }
            IfOp::NoCarppeer => new.carppeer = None,
            IfOp::State(s) => {
                if *s != CarpState::Init {
                    force_state = Some(*s);
                }
            }
            op if op.is_address() => deferred.push(op),
            op => {
                return err(format!(
                    "{}: not supported on carp interfaces",
                    op.keyword()
                ));
            }
        }
    }
    new.up = com.up;
    new.description = com.description;

    // The address ioctls come after every other argument (see module docs).
    let mut added = false;
    for op in deferred {
        match op {
            IfOp::Inet {
                net,
                broadcast,
                alias,
            } => {
                if !net.addr.is_ipv4() {
                    return err(format!("{}: bad value", net.addr));
                }
                need_carpdev(&new)?;
                let broadcast = broadcast.or_else(|| derived_broadcast(net));
                if !*alias {
                    if let Some(pos) = new.addrs.iter().position(|x| x.net.addr.is_ipv4()) {
                        new.addrs.remove(pos);
                    }
                }
                upsert(
                    &mut new.addrs,
                    IfAddr {
                        net: *net,
                        broadcast,
                    },
                );
                added = true;
            }
            IfOp::Inet6 { net, .. } => {
                if !net.addr.is_ipv6() {
                    return err(format!("{}: bad value", net.addr));
                }
                need_carpdev(&new)?;
                upsert(
                    &mut new.addrs,
                    IfAddr {
                        net: *net,
                        broadcast: None,
                    },
                );
                added = true;
            }
            IfOp::DeleteAddr(net) => match new.addrs.iter().position(|x| x.net.addr == net.addr) {
                Some(pos) => {
                    new.addrs.remove(pos);
                }
                None => {
                    return err(format!(
                        "SIOCDIFADDR: Can't assign requested address ({} is not configured)",
                        net.addr
                    ))
                }
            },
            _ => {}
        }
    }
    if added {
        // carp_ioctl(SIOCSIFADDR) sets IFF_UP.
        new.up = true;
    }
    new.groups.retain(|g| !com.groups_del.contains(g));
    for g in &com.groups_add {
        if !new.groups.contains(g) {
            new.groups.push(g.clone());
        }
    }
    if com.mtu.is_some() {
        new.mtu = com.mtu;
    }
    *cfg = new;
    Ok(CarpActions {
        destroy: com.destroy,
        create: com.create,
        force_state,
        mtu: com.mtu,
        groups_add: com.groups_add,
        groups_del: com.groups_del,
    })
}

fn need_carpdev(cfg: &CarpConfig) -> Result<(), IfconfigError> {
    if cfg.carpdev.is_none() {
        return err(
            "SIOCAIFADDR: Invalid argument: a carp interface needs a carpdev before an \
             address (give carpdev on the same line or earlier)",
        );
    }
    Ok(())
}

fn is_carp_name(n: &str) -> bool {
    n.strip_prefix("carp")
        .is_some_and(|u| !u.is_empty() && u.bytes().all(|b| b.is_ascii_digit()))
}

fn norm_syncpeer(p: Ipv4Addr) -> Result<Option<Ipv4Addr>, IfconfigError> {
    if p == PFSYNC_GROUP || p.is_unspecified() {
        Ok(None)
    } else if p.is_broadcast() {
        // pfsync_up refuses it (EDESTADDRREQ)
        err(format!("syncpeer {p}: not a usable destination"))
    } else {
        Ok(Some(p))
    }
}

/// Apply `ops` to pfsync0's configuration. All or nothing.
///
/// pfsync0 counts as running (so syncdev and syncpeer are locked, `EBUSY`)
/// when it was up with a syncdev before this line; a `down` on the line
/// unlocks them, an `up` on the line takes effect at its end, so
/// `up syncdev em2` (the seed, pfsync(4)) works on a fresh pfsync0 and a
/// second run of the same line (rc(8) runs netstart for pfsync0 twice)
/// changes nothing.
pub fn apply_pfsync(cfg: &mut PfsyncConfig, ops: &[IfOp]) -> Result<PfsyncActions, IfconfigError> {
    let mut new = cfg.clone();
    let mut com = Common {
        up: cfg.up,
        description: cfg.description.clone(),
        ..Common::default()
    };
    let mut running = cfg.up && cfg.syncdev.is_some();
    let busy = |what: &str| -> Result<(), IfconfigError> {
        err(format!(
            "SIOCSETPFSYNC: Device busy: {what} cannot change while pfsync0 is running \
             (bring it down first)"
        ))
    };

    for op in ops {
        if com.destroy {
            return err(format!("{}: not allowed after destroy", op.keyword()));
        }
        if *op == IfOp::Down {
            running = false;
        }
        if com.apply(op, "pfsync")? {
            continue;
        }
        match op {
            IfOp::Syncdev(d) => {
                check_name("syncdev", d, "interface")?;
                if running && new.syncdev.as_deref() != Some(d.as_str()) {
                    busy("syncdev")?;
                }
                new.syncdev = Some(d.clone());
            }
            IfOp::NoSyncdev => {
                if running && new.syncdev.is_some() {
                    busy("syncdev")?;
                }
                new.syncdev = None;
            }
            IfOp::Syncpeer(p) => {
                let p = norm_syncpeer(*p)?;
                if running && new.syncpeer != p {
                    busy("syncpeer")?;
                }
                new.syncpeer = p;
            }
            IfOp::NoSyncpeer => {
                if running && new.syncpeer.is_some() {
                    busy("syncpeer")?;
                }
                new.syncpeer = None;
            }
            IfOp::Maxupd(n) => new.maxupd = *n,
            IfOp::Defer(d) => new.defer = *d,
            op if op.is_address() => {
                return err(format!(
                    "{}: addresses are not supported on pfsync interfaces",
                    op.keyword()
                ))
            }
            op => {
                return err(format!(
                    "{}: not supported on pfsync interfaces",
                    op.keyword()
                ));
            }
        }
    }
    new.up = com.up;
    new.description = com.description;
    *cfg = new;
    Ok(PfsyncActions {
        destroy: com.destroy,
        create: com.create,
        mtu: com.mtu,
        groups_add: com.groups_add,
        groups_del: com.groups_del,
    })
}

// ---------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------

pub const IFF_UP: u32 = 0x1;
pub const IFF_BROADCAST: u32 = 0x2;
pub const IFF_RUNNING: u32 = 0x40;
pub const IFF_SIMPLEX: u32 = 0x800;
pub const IFF_MULTICAST: u32 = 0x8000;

/// Names of the interface flag bits, in the order printb(3) prints them.
const IFF_BITS: &[(u32, &str)] = &[
    (0x1, "UP"),
    (0x2, "BROADCAST"),
    (0x4, "DEBUG"),
    (0x8, "LOOPBACK"),
    (0x10, "POINTOPOINT"),
    (0x20, "STATICARP"),
    (0x40, "RUNNING"),
    (0x80, "NOARP"),
    (0x100, "PROMISC"),
    (0x200, "ALLMULTI"),
    (0x400, "OACTIVE"),
    (0x800, "SIMPLEX"),
    (0x1000, "LINK0"),
    (0x2000, "LINK1"),
    (0x4000, "LINK2"),
    (0x8000, "MULTICAST"),
];

/// `flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>`.
pub fn format_flags(v: u32) -> String {
    let names: Vec<&str> = IFF_BITS
        .iter()
        .filter(|(b, _)| v & b != 0)
        .map(|(_, n)| *n)
        .collect();
    format!("flags={:x}<{}>", v, names.join(","))
}

/// Interface flags of a carp interface: BROADCAST|SIMPLEX|MULTICAST always
/// (carp_clone_create), UP when administratively up, RUNNING when up and
/// not in INIT.
pub fn carp_flags(st: &CarpStatus) -> u32 {
    let mut f = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST;
    if st.config.up {
        f |= IFF_UP;
        if st.state != CarpState::Init {
            f |= IFF_RUNNING;
        }
    }
    f
}

/// Interface flags of pfsync0: UP when up, RUNNING when also running
/// (pfsyncd attached).
pub fn pfsync_flags(st: &PfsyncStatus) -> u32 {
    let mut f = 0;
    if st.config.up {
        f |= IFF_UP;
        if st.running {
            f |= IFF_RUNNING;
        }
    }
    f
}

/// `00:00:5e:00:01:01`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn header(out: &mut String, name: &str, flags: u32, mtu: u32) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(&format_flags(flags));
    if mtu != 0 {
        out.push_str(&format!(" mtu {mtu}"));
    }
    out.push('\n');
}

/// `\tindex N priority P llprio 3` (index left out when there is none,
/// as ifconfig does without a link-level address).
fn index_line(out: &mut String, ifindex: u32, priority: u8) {
    out.push('\t');
    if ifindex != 0 {
        out.push_str(&format!("index {ifindex} "));
    }
    out.push_str(&format!("priority {priority} llprio {DEFAULT_LLPRIO}\n"));
}

fn description_line(out: &mut String, d: &Option<String>) {
    if let Some(d) = d {
        if !d.is_empty() {
            out.push_str(&format!("\tdescription: {d}\n"));
        }
    }
}

fn addr_line(out: &mut String, a: &IfAddr, ifname: &str, ifindex: u32) {
    match a.net.addr {
        IpAddr::V4(addr) => {
            let mask = u32::from(match a.net.netmask() {
                IpAddr::V4(m) => m,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            });
            out.push_str(&format!("\tinet {addr} netmask 0x{mask:x}"));
            if let Some(b) = a.broadcast {
                if !b.is_unspecified() {
                    out.push_str(&format!(" broadcast {b}"));
                }
            }
            out.push('\n');
        }
        IpAddr::V6(addr) => {
            let link_local = addr.segments()[0] & 0xffc0 == 0xfe80;
            if link_local {
                out.push_str(&format!(
                    "\tinet6 {addr}%{ifname} prefixlen {}",
                    a.net.prefix
                ));
                if ifindex != 0 {
                    out.push_str(&format!(" scopeid 0x{ifindex:x}"));
                }
                out.push('\n');
            } else {
                out.push_str(&format!("\tinet6 {addr} prefixlen {}\n", a.net.prefix));
            }
        }
    }
}

/// The block `ifconfig carpN` prints (tabs as on OpenBSD).
pub fn print_carp(st: &CarpStatus) -> String {
    let c = &st.config;
    let mut out = String::new();
    header(&mut out, &st.name, carp_flags(st), st.mtu);
    out.push_str(&format!("\tlladdr {}\n", format_mac(&st.lladdr)));
    description_line(&mut out, &c.description);
    index_line(&mut out, st.ifindex, CARP_PRIORITY);
    if c.vhid != 0 {
        out.push_str(&format!(
            "\tcarp: {} carpdev {} vhid {} advbase {} advskew {}",
            st.state.name(),
            c.carpdev.as_deref().unwrap_or("none"),
            c.vhid,
            c.advbase,
            c.advskew
        ));
        if let Some(p) = c.carppeer {
            if p != CARP_GROUP {
                out.push_str(&format!(" carppeer {p}"));
            }
        }
        out.push('\n');
    }
    out.push_str("\tgroups: carp");
    for g in &c.groups {
        out.push(' ');
        out.push_str(g);
    }
    out.push('\n');
    let status = match st.state {
        CarpState::Master => "master",
        CarpState::Backup => "backup",
        CarpState::Init => "invalid",
    };
    out.push_str(&format!("\tstatus: {status}\n"));
    for a in &c.addrs {
        addr_line(&mut out, a, &st.name, st.ifindex);
    }
    out
}

/// The block `ifconfig pfsync0` prints. pfsync0 need not exist as a Linux
/// network device, so it has no index; see [`print_pfsync_indexed`].
pub fn print_pfsync(st: &PfsyncStatus) -> String {
    print_pfsync_indexed(st, 0)
}

/// [`print_pfsync`] with an interface index (0: none, the `index` word is
/// left out).
pub fn print_pfsync_indexed(st: &PfsyncStatus, ifindex: u32) -> String {
    let c = &st.config;
    let mut out = String::new();
    header(&mut out, "pfsync0", pfsync_flags(st), st.mtu);
    description_line(&mut out, &c.description);
    index_line(&mut out, ifindex, 0);
    if let Some(dev) = &c.syncdev {
        out.push_str(&format!("\tpfsync: syncdev: {dev} "));
        if let Some(p) = c.syncpeer {
            if p != PFSYNC_GROUP {
                out.push_str(&format!("syncpeer: {p} "));
            }
        }
        out.push_str(&format!(
            "maxupd: {} defer: {}\n",
            c.maxupd,
            if c.defer { "on" } else { "off" }
        ));
    }
    out.push_str("\tgroups: carp pfsync\n");
    out
}

#[cfg(test)]
mod tests;

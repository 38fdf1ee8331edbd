//! Step 1: the words after the interface name into a list of [`IfOp`],
//! as ifconfig(8) reads them (see the module documentation of `ifconfig`
//! for the rules), and `ifconfig -g GROUP carpdemote [N]`.

use super::address::{AddrState, Family};
use super::check::{check_description, check_group, check_name, strtonum};
use super::{err, IfOp, IfconfigError, CARPDEMOTE_MAX};
use crate::carp::balance::{parse_carpnodes, Balancing};
use crate::carp::CarpState;
use std::net::Ipv4Addr;

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
    ("-pass", false),
    ("carpdev", true),
    ("-carpdev", false),
    ("carppeer", true),
    ("-carppeer", false),
    ("carpnodes", true),
    ("balancing", true),
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

fn parse_v4_value(kw: &str, v: &str) -> Result<Ipv4Addr, IfconfigError> {
    v.parse::<Ipv4Addr>()
        .or_else(|_| err(format!("{kw} {v}: not a valid IPv4 address")))
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
    let (mut ops, mut i, af) = leading(args);
    let mut a = AddrState::new(af);
    while i < args.len() {
        let w = args[i].as_str();
        let value = if takes_arg(w) {
            i += 1;
            match args.get(i) {
                Some(v) => v.as_str(),
                None => return err(format!("'{w}' requires argument")),
            }
        } else {
            ""
        };
        i += 1;
        if a.keyword(w, value)? {
            continue;
        }
        if w == "carpdemote" || w == "-carpdemote" {
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
            continue;
        }
        match op(w, value)? {
            Some(op) => ops.push(op),
            None => a.positional(w)?,
        }
    }
    if let Some(op) = a.finish()? {
        ops.push(op);
    }
    Ok(ops)
}

/// The words only the start of a line may hold: the address family first,
/// then `create`. The ops so far, where the rest starts, the family.
fn leading(args: &[String]) -> (Vec<IfOp>, usize, Family) {
    let mut ops = Vec::new();
    let (mut i, af) = match args.first().map(String::as_str) {
        Some("inet") => (1, Family::Inet),
        Some("inet6") => (1, Family::Inet6),
        _ => (0, Family::Inet),
    };
    if args.get(i).map(String::as_str) == Some("create") {
        ops.push(IfOp::Create);
        i += 1;
    }
    (ops, i, af)
}

/// The op of keyword `w` with its `value` (empty when it takes none);
/// None when `w` is no keyword (a word of the address).
fn op(w: &str, value: &str) -> Result<Option<IfOp>, IfconfigError> {
    let op = match w {
        "up" => IfOp::Up,
        "down" => IfOp::Down,
        "mtu" => match strtonum(value, 0, i64::from(i32::MAX)) {
            Ok(n) => IfOp::Mtu(n as u32),
            Err(e) => return err(format!("mtu {value}: {e}")),
        },
        "description" | "descr" => {
            check_description(value)?;
            IfOp::Description(value.to_string())
        }
        "-description" | "-descr" => IfOp::Description(String::new()),
        "group" | "-group" => {
            check_group(w, value)?;
            if w == "group" {
                IfOp::Group(value.to_string())
            } else {
                IfOp::NoGroup(value.to_string())
            }
        }
        "create" => return err("create: must be the first argument"),
        "destroy" => IfOp::Destroy,
        "vhid" => match strtonum(value, 1, 255) {
            Ok(n) => IfOp::Vhid(n as u8),
            Err(e) => return err(format!("vhid {value}: {e}")),
        },
        "advbase" => match strtonum(value, 0, 254) {
            Ok(n) => IfOp::Advbase(n as u8),
            Err(e) => return err(format!("advbase {value}: {e}")),
        },
        "advskew" => match strtonum(value, 0, 254) {
            Ok(n) => IfOp::Advskew(n as u8),
            Err(e) => return err(format!("advskew {value}: {e}")),
        },
        "pass" => IfOp::Pass(value.to_string()),
        // No key (pfsync0's authentication off; a carp interface's key
        // cleared).
        "-pass" => IfOp::Pass(String::new()),
        "carpdev" => {
            check_name("carpdev", value, "interface")?;
            IfOp::Carpdev(value.to_string())
        }
        "-carpdev" => IfOp::NoCarpdev,
        "carppeer" => IfOp::Carppeer(parse_v4_value("carppeer", value)?),
        "-carppeer" => IfOp::NoCarppeer,
        "carpnodes" => IfOp::Carpnodes(parse_carpnodes(value).or_else(err)?),
        "balancing" => match Balancing::parse(value) {
            Some(b) => IfOp::Balancing(b),
            None => {
                return err(format!(
                    "balancing {value}: unknown mode (none, ip, ip-stealth, ip-unicast, arp)"
                ))
            }
        },
        "state" => IfOp::State(parse_state(value)?),
        "syncdev" | "syncif" => {
            check_name(w, value, "interface")?;
            IfOp::Syncdev(value.to_string())
        }
        "-syncdev" | "-syncif" => IfOp::NoSyncdev,
        "syncpeer" => IfOp::Syncpeer(parse_v4_value("syncpeer", value)?),
        "-syncpeer" => IfOp::NoSyncpeer,
        "maxupd" => match strtonum(value, 0, 255) {
            Ok(n) => IfOp::Maxupd(n as u8),
            Err(e) => return err(format!("maxupd {value}: {e}")),
        },
        "defer" => IfOp::Defer(true),
        "-defer" => IfOp::Defer(false),
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
        _ => return Ok(None),
    };
    Ok(Some(op))
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

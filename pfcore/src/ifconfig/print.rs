//! Step 3: the block `ifconfig carp1` / `ifconfig pfsync0` prints, in
//! ifconfig's `status()` order and wording.

use super::{CARP_GROUP, CARP_PRIORITY, DEFAULT_LLPRIO, PFSYNC_GROUP};
use crate::carp::{CarpState, CarpStatus, IfAddr};
use crate::pfsync::PfsyncStatus;
use std::net::{IpAddr, Ipv4Addr};

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

/// ` carppeer A` when a unicast peer is set, and the end of the line.
fn carppeer_word(out: &mut String, c: &crate::carp::CarpConfig) {
    if let Some(p) = c.carppeer {
        if p != CARP_GROUP {
            out.push_str(&format!(" carppeer {p}"));
        }
    }
    out.push('\n');
}

/// The block `ifconfig carpN` prints (tabs as on OpenBSD).
pub fn print_carp(st: &CarpStatus) -> String {
    let c = &st.config;
    let mut out = String::new();
    header(&mut out, &st.name, carp_flags(st), st.mtu);
    out.push_str(&format!("\tlladdr {}\n", format_mac(&st.lladdr)));
    description_line(&mut out, &c.description);
    index_line(&mut out, st.ifindex, CARP_PRIORITY);
    if c.balanced() {
        // Several carpnodes: the interface line, then one per node.
        out.push_str(&format!(
            "\tcarp: carpdev {} advbase {} balancing {}",
            c.carpdev.as_deref().unwrap_or("none"),
            c.advbase,
            c.balancing.name()
        ));
        carppeer_word(&mut out, c);
        for n in &st.nodes {
            out.push_str(&format!(
                "\t\tstate {} vhid {} advskew {}\n",
                n.state.name(),
                n.vhid,
                n.advskew
            ));
        }
    } else if c.vhid != 0 {
        out.push_str(&format!(
            "\tcarp: {} carpdev {} vhid {} advbase {} advskew {}",
            st.state.name(),
            c.carpdev.as_deref().unwrap_or("none"),
            c.vhid,
            c.advbase,
            c.advskew
        ));
        carppeer_word(&mut out, c);
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
            "maxupd: {} defer: {}{}\n",
            c.maxupd,
            if c.defer { "on" } else { "off" },
            if c.pass.is_some() { " auth: on" } else { "" }
        ));
    }
    out.push_str("\tgroups: carp pfsync\n");
    out
}

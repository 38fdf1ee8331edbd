//! The interface table (OpenBSD's `pfi_kif` list, pf_if.c): every
//! interface the engine knows, with its addresses, its groups, a small slot
//! number (the packet mark's `in_slot`, 1..255) and its counters (packets
//! and bytes in/out, IPv4/IPv6, passed/blocked, since `tzero`).
//!
//! Groups: every interface is in `all`; in the group named after its
//! driver (`eth0` → `eth`, `carp1` → `carp`); in `egress` when a default
//! route of the main table leaves through it; and in the administrative
//! groups set with `carpctl IF group NAME` (OpenBSD's `ifconfig em0 group
//! NAME`; Linux has no named groups, so pfd keeps them here). `on NAME`,
//! `received-on NAME`, `(NAME)` addresses and `set skip on NAME` name an
//! interface or a group, and follow membership as it changes.
//!
//! A packet on a carp interface is pf's on the carp interface's carpdev,
//! as OpenBSD does (`pf_test`: `ifp->if_carpdevidx`).
//!
//! The daemon pushes what it learns from netlink (`sync`, `set_egress`);
//! pure otherwise, time passed in.

use crate::addr::IpNet;
use crate::ruleset::{AddrKind, Rule};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// Interface names are at most 15 bytes.
pub const IFNAMSIZ: usize = 16;
/// The group of every interface.
pub const IFG_ALL: &str = "all";
/// The group of the interfaces default routes leave through.
pub const IFG_EGRESS: &str = "egress";

/// Packets or bytes by [IPv4, IPv6][in, out][passed, blocked]
/// (`pfik_packets`, `pfik_bytes`).
pub type IfCounters = [[[u64; 2]; 2]; 2];

/// What the daemon knows about one interface of the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub addrs: Vec<IpNet>,
    /// A carp interface's carpdev: packets on the carp interface are pf's
    /// on the carpdev.
    pub carpdev: Option<String>,
    /// Administrative groups that are part of the interface's own
    /// configuration (carp interfaces: `carpctl carp1 group NAME` is kept
    /// in the carp configuration, where demotion reads it). None for the
    /// others, whose groups the table keeps.
    pub own_groups: Option<Vec<String>>,
}

/// One interface.
#[derive(Debug, Clone)]
pub struct Kif {
    pub name: String,
    pub index: u32,
    /// 1..=255, 0 when all slots are taken.
    pub slot: u8,
    pub addrs: Vec<IpNet>,
    /// Groups it is a member of: driver group, `all`, `egress`, then the
    /// administrative ones in the order they were added.
    pub groups: Vec<String>,
    pub carpdev: Option<String>,
    own_groups: Option<Vec<String>>,
    /// `set skip on` names it or one of its groups.
    pub skip: bool,
    pub packets: IfCounters,
    pub bytes: IfCounters,
    /// When the counters started (engine ms).
    pub tzero: u64,
}

impl Kif {
    /// pfi_kif_match: does a rule naming `name` apply to this interface?
    pub fn is(&self, name: &str) -> bool {
        self.name == name || self.groups.iter().any(|g| g == name)
    }
}

/// Index of a `Kif` in the table.
pub type KifId = usize;

/// `pfctl -s Interfaces` for one interface, group or name rules use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfaceInfo {
    pub name: String,
    /// `(skip)`
    pub skip: bool,
    /// When its counters were cleared, seconds since the epoch.
    pub cleared: i64,
    /// States bound to it (`all`: floating states).
    pub states: u32,
    /// Rules referring to it.
    pub rules: u32,
    pub packets: IfCounters,
    pub bytes: IfCounters,
}

/// Why an administrative group change was refused (errno, message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupError {
    pub errno: i32,
    pub message: String,
}

/// The driver group of an interface name: the name without its unit
/// number (`eth0` → `eth`, `carp12` → `carp`); None when there is no
/// number to drop (`lo` has no driver group besides itself).
pub fn driver_group(name: &str) -> Option<&str> {
    let g = name.trim_end_matches(|c: char| c.is_ascii_digit());
    (!g.is_empty() && g.len() < name.len()).then_some(g)
}

/// The interface group a Linux interface name falls in: the name without
/// its trailing unit number (`eth0` → `eth`, `carp12` → `carp`, `lo` → `lo`).
pub fn if_group(name: &str) -> &str {
    name.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// `on ifname` matches the interface itself or its driver group (for an
/// interface not in the interface table yet).
pub fn if_matches(rule_if: &str, ifname: &str) -> bool {
    rule_if == ifname || (if_group(ifname) == rule_if && !if_group(ifname).is_empty())
}

/// A group name ifconfig accepts: 1..15 bytes, not ending in a digit.
pub fn valid_group_name(g: &str) -> bool {
    !g.is_empty()
        && g.len() < IFNAMSIZ
        && !g.ends_with(|c: char| c.is_ascii_digit())
        && !g.contains(|c: char| c.is_whitespace() || c == '/' || c == '\0')
}

/// An interface name copied onto the stack (names fit IFNAMSIZ): lets the
/// packet path hand the engine's own name of an interface around without
/// allocating.
#[derive(Clone, Copy)]
pub struct IfName {
    buf: [u8; IFNAMSIZ * 2],
    len: usize,
}

impl IfName {
    pub fn new(s: &str) -> IfName {
        let mut n = IfName {
            buf: [0; IFNAMSIZ * 2],
            len: 0,
        };
        let mut end = s.len().min(n.buf.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        n.buf[..end].copy_from_slice(&s.as_bytes()[..end]);
        n.len = end;
        n
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

#[derive(Debug, Default)]
pub struct IfTable {
    kifs: Vec<Option<Kif>>,
    by_name: HashMap<String, KifId>,
    /// slot → kif (index 0 unused).
    by_slot: Vec<Option<KifId>>,
    /// ifname → administrative groups, in the order added.
    admin: HashMap<String, Vec<String>>,
    /// Interface indexes of the default routes.
    egress: Vec<u32>,
    /// `set skip on` names.
    skip: Vec<String>,
    /// group → members (interface names, table order).
    groups: BTreeMap<String, Vec<String>>,
    /// Addresses of every interface and group, and `self`.
    addrs: HashMap<String, Vec<IpNet>>,
    /// Counter start of groups and of names only rules use.
    tzero_other: HashMap<String, u64>,
    /// The clock of the last update.
    now: u64,
}

impl IfTable {
    /// The interface called `name`.
    pub fn lookup(&self, name: &str) -> Option<KifId> {
        self.by_name.get(name).copied()
    }

    pub fn kif(&self, id: KifId) -> Option<&Kif> {
        self.kifs.get(id).and_then(|k| k.as_ref())
    }

    fn kif_mut(&mut self, id: KifId) -> Option<&mut Kif> {
        self.kifs.get_mut(id).and_then(|k| k.as_mut())
    }

    /// Every interface, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Kif> {
        self.kifs.iter().flatten()
    }

    /// The interface pf treats a packet on `name` as seen on: the
    /// interface itself, or the carpdev of a carp interface.
    pub fn packet_kif(&self, name: &str) -> Option<KifId> {
        self.lookup(name).map(|id| self.effective(id))
    }

    /// The interface pf treats packets on interface `id` as seen on: its
    /// carpdev for a carp interface, else itself.
    pub fn effective(&self, id: KifId) -> KifId {
        match self.kif(id).and_then(|k| k.carpdev.as_deref()) {
            Some(dev) => self.lookup(dev).unwrap_or(id),
            None => id,
        }
    }

    /// The interface with mark slot `slot` (the receiving interface of a
    /// packet on its `out` pass), carp interfaces mapped to their carpdev.
    pub fn by_slot(&self, slot: u8) -> Option<KifId> {
        if slot == 0 {
            return None;
        }
        let id = (*self.by_slot.get(slot as usize)?)?;
        self.kif(id)?;
        Some(self.effective(id))
    }

    /// Does a rule naming `name` (`on`, `received-on`) apply to interface
    /// `id`?
    pub fn matches(&self, name: &str, id: KifId) -> bool {
        self.kif(id).is_some_and(|k| k.is(name))
    }

    /// `set skip` applies to the interface.
    pub fn skipped(&self, id: KifId) -> bool {
        self.kif(id).is_some_and(|k| k.skip)
    }

    /// Addresses of every interface and group by name, `self` included.
    pub fn addr_map(&self) -> &HashMap<String, Vec<IpNet>> {
        &self.addrs
    }

    /// Members of a group (empty when there is no such group).
    pub fn members(&self, group: &str) -> &[String] {
        self.groups.get(group).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// Every group with its members.
    pub fn groups(&self) -> &BTreeMap<String, Vec<String>> {
        &self.groups
    }

    /// Take in the system's interfaces (all of them: interfaces missing
    /// from `links` are gone, and their administrative groups with them).
    pub fn sync(&mut self, links: Vec<LinkInfo>, now: u64) {
        let present: BTreeSet<&str> = links.iter().map(|l| l.name.as_str()).collect();
        let gone: Vec<KifId> = self
            .iter()
            .filter(|k| !present.contains(k.name.as_str()))
            .filter_map(|k| self.lookup(&k.name))
            .collect();
        for id in gone {
            if let Some(k) = self.kifs[id].take() {
                self.by_name.remove(&k.name);
                self.admin.remove(&k.name);
                if let Some(s) = self.by_slot.get_mut(k.slot as usize) {
                    *s = None;
                }
            }
        }
        if self.by_slot.len() < 256 {
            self.by_slot.resize(256, None);
        }
        for l in links {
            match self.lookup(&l.name) {
                Some(id) => {
                    if let Some(k) = self.kif_mut(id) {
                        k.index = l.index;
                        k.addrs = l.addrs;
                        k.carpdev = l.carpdev;
                        k.own_groups = l.own_groups;
                    }
                }
                None => {
                    let slot = (1..256usize)
                        .find(|&s| self.by_slot[s].is_none())
                        .unwrap_or(0);
                    let id = match self.kifs.iter().position(|k| k.is_none()) {
                        Some(i) => i,
                        None => {
                            self.kifs.push(None);
                            self.kifs.len() - 1
                        }
                    };
                    if slot != 0 {
                        self.by_slot[slot] = Some(id);
                    }
                    self.by_name.insert(l.name.clone(), id);
                    self.kifs[id] = Some(Kif {
                        name: l.name,
                        index: l.index,
                        slot: slot as u8,
                        addrs: l.addrs,
                        groups: Vec::new(),
                        carpdev: l.carpdev,
                        own_groups: l.own_groups,
                        skip: false,
                        packets: Default::default(),
                        bytes: Default::default(),
                        tzero: now,
                    });
                }
            }
        }
        self.regroup(now);
    }

    /// The interfaces default routes leave through (`egress`). Returns
    /// whether the group changed.
    pub fn set_egress(&mut self, mut oifs: Vec<u32>, now: u64) -> bool {
        oifs.sort_unstable();
        oifs.dedup();
        if oifs == self.egress {
            return false;
        }
        self.egress = oifs;
        self.regroup(now);
        true
    }

    /// `set skip on` of the ruleset in force.
    pub fn set_skip(&mut self, names: &[String]) {
        self.skip = names.to_vec();
        self.regroup(self.now);
    }

    /// SIOCAIFGROUP: `ifconfig IF group NAME`.
    pub fn add_group(&mut self, ifname: &str, group: &str, now: u64) -> Result<(), GroupError> {
        self.check_group_change(ifname, group)?;
        let v = self.admin.entry(ifname.to_string()).or_default();
        if !v.iter().any(|g| g == group) {
            v.push(group.to_string());
        }
        self.regroup(now);
        Ok(())
    }

    /// SIOCDIFGROUP: `ifconfig IF -group NAME`.
    pub fn del_group(&mut self, ifname: &str, group: &str, now: u64) -> Result<(), GroupError> {
        self.check_group_change(ifname, group)?;
        let v = self.admin.entry(ifname.to_string()).or_default();
        let Some(i) = v.iter().position(|g| g == group) else {
            return Err(GroupError {
                errno: crate::errno::ENOENT,
                message: format!("{ifname}: not a member of group {group}"),
            });
        };
        v.remove(i);
        self.regroup(now);
        Ok(())
    }

    fn check_group_change(&self, ifname: &str, group: &str) -> Result<(), GroupError> {
        let Some(id) = self.lookup(ifname) else {
            return Err(GroupError {
                errno: crate::errno::ENXIO,
                message: format!("{ifname}: no such interface"),
            });
        };
        if !valid_group_name(group) {
            return Err(GroupError {
                errno: crate::errno::EINVAL,
                message: format!(
                    "{group}: invalid group name (1 to 15 bytes, not ending in a digit)"
                ),
            });
        }
        if self.kif(id).is_some_and(|k| k.own_groups.is_some()) {
            return Err(GroupError {
                errno: crate::errno::EINVAL,
                message: format!(
                    "{ifname}: its groups are part of its configuration (carpctl {ifname} group {group})"
                ),
            });
        }
        let k = self.kif(id).map(|k| k.name.as_str()).unwrap_or("");
        if group == IFG_ALL || group == IFG_EGRESS || driver_group(k) == Some(group) {
            return Err(GroupError {
                errno: crate::errno::EPERM,
                message: format!("{ifname}: group {group} is managed by the system"),
            });
        }
        Ok(())
    }

    /// Recompute group memberships, skip flags and the address map.
    fn regroup(&mut self, now: u64) {
        self.now = self.now.max(now);
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        groups.insert(IFG_ALL.to_string(), Vec::new());
        let mut ids: Vec<KifId> = (0..self.kifs.len())
            .filter(|&i| self.kifs[i].is_some())
            .collect();
        ids.sort_by(|a, b| {
            let n = |i: &KifId| self.kif(*i).map(|k| k.index).unwrap_or(0);
            n(a).cmp(&n(b))
        });
        for id in ids {
            let Some(k) = self.kifs[id].as_mut() else {
                continue;
            };
            let mut g: Vec<String> = Vec::new();
            if let Some(d) = driver_group(&k.name) {
                g.push(d.to_string());
            }
            g.push(IFG_ALL.to_string());
            if self.egress.contains(&k.index) {
                g.push(IFG_EGRESS.to_string());
            }
            let admin = self.admin.get(&k.name).into_iter().flatten();
            for a in admin.chain(k.own_groups.iter().flatten()) {
                if !g.contains(a) {
                    g.push(a.clone());
                }
            }
            for x in &g {
                groups.entry(x.clone()).or_default().push(k.name.clone());
            }
            k.skip = self.skip.iter().any(|s| *s == k.name || g.contains(s));
            k.groups = g;
        }
        let mut addrs: HashMap<String, Vec<IpNet>> = HashMap::new();
        for k in self.kifs.iter().flatten() {
            addrs.insert(k.name.clone(), k.addrs.clone());
        }
        for (g, members) in &groups {
            if self.by_name.contains_key(g) {
                continue;
            }
            let mut v = Vec::new();
            for m in members {
                if let Some(a) = addrs.get(m) {
                    v.extend(a.iter().copied());
                }
            }
            addrs.insert(g.clone(), v);
            self.tzero_other.entry(g.clone()).or_insert(now);
        }
        if let Some(all) = addrs.get(IFG_ALL).cloned() {
            addrs.insert("self".to_string(), all);
        }
        self.groups = groups;
        self.addrs = addrs;
    }

    /// Count one packet (pf_counters_inc's interface part).
    pub fn count(&mut self, id: KifId, v6: bool, out: bool, blocked: bool, len: u64) {
        if let Some(k) = self.kif_mut(id) {
            let (a, d, b) = (v6 as usize, out as usize, blocked as usize);
            k.packets[a][d][b] += 1;
            k.bytes[a][d][b] += len;
        }
    }

    /// Interfaces a name stands for: the interface itself, or a group's
    /// members.
    fn resolve(&self, name: &str) -> Vec<KifId> {
        if let Some(id) = self.lookup(name) {
            return vec![id];
        }
        self.members(name)
            .iter()
            .filter_map(|m| self.lookup(m))
            .collect()
    }

    /// pfi_update_status for `set loginterface`: the counters of the
    /// interface, or the sum over a group's members; bytes by [af][dir].
    pub fn log_counters(&self, name: &str) -> ([[[u64; 2]; 2]; 2], [[u64; 2]; 2]) {
        let mut p = [[[0u64; 2]; 2]; 2];
        let mut b = [[0u64; 2]; 2];
        for id in self.resolve(name) {
            if let Some(k) = self.kif(id) {
                for (i, j, a) in (0..8).map(|x| (x >> 2, (x >> 1) & 1, x & 1)) {
                    p[i][j][a] += k.packets[i][j][a];
                    b[i][j] += k.bytes[i][j][a];
                }
            }
        }
        (p, b)
    }

    /// DIOCCLRSTATUS with an interface: clear the counters of the
    /// interface, or of a group's members. Returns how many interfaces.
    pub fn clear_counters(&mut self, name: &str, now: u64) -> usize {
        let ids = self.resolve(name);
        for &id in &ids {
            if let Some(k) = self.kif_mut(id) {
                k.packets = Default::default();
                k.bytes = Default::default();
                k.tzero = now;
            }
        }
        ids.len()
    }

    /// pfi_skip_if: does the `-i` filter select this name? An exact name,
    /// or (for a filter not ending in a digit) a group the interface is in.
    pub fn filter_selects(&self, filter: Option<&str>, name: &str) -> bool {
        let Some(f) = filter.filter(|f| !f.is_empty()) else {
            return true;
        };
        if f == name {
            return true;
        }
        if f.len() >= IFNAMSIZ || f.ends_with(|c: char| c.is_ascii_digit()) {
            return false;
        }
        self.lookup(name)
            .and_then(|id| self.kif(id))
            .is_some_and(|k| k.groups.iter().any(|g| g == f))
    }

    /// `pfctl -s Interfaces`: interfaces, groups and the names rules and
    /// states refer to, sorted by name, with `-i` applied. `rules` and
    /// `states` count references by name; `wall_now` (seconds since the
    /// epoch) dates the counters.
    pub fn list(
        &mut self,
        filter: Option<&str>,
        rules: &HashMap<String, u32>,
        states: &HashMap<String, u32>,
        now: u64,
        wall_now: i64,
    ) -> Vec<IfaceInfo> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        names.extend(self.by_name.keys().cloned());
        names.extend(self.groups.keys().cloned());
        names.extend(rules.keys().cloned());
        names.extend(states.keys().cloned());
        names.extend(self.skip.iter().cloned());
        let wall = |t: u64| wall_now - (now.saturating_sub(t) / 1000) as i64;
        let mut out = Vec::new();
        for name in names {
            if !self.filter_selects(filter, &name) {
                continue;
            }
            let (skip, packets, bytes, tzero) = match self.lookup(&name).and_then(|i| self.kif(i)) {
                Some(k) => (k.skip, k.packets, k.bytes, k.tzero),
                None => {
                    let t = *self.tzero_other.entry(name.clone()).or_insert(now);
                    (
                        self.skip.contains(&name),
                        Default::default(),
                        Default::default(),
                        t,
                    )
                }
            };
            out.push(IfaceInfo {
                skip,
                cleared: wall(tzero),
                states: states.get(&name).copied().unwrap_or(0),
                rules: rules.get(&name).copied().unwrap_or(0),
                packets,
                bytes,
                name,
            });
        }
        out
    }
}

/// How many rules refer to each interface or group name (pfik_rules): `on`,
/// `received-on`, and `(if)` addresses in `from`, `to` and pools.
pub fn rule_refs<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> HashMap<String, u32> {
    let mut m: HashMap<String, u32> = HashMap::new();
    let mut add = |n: &str| {
        let n = if n == "self" { IFG_ALL } else { n };
        *m.entry(n.to_string()).or_default() += 1;
    };
    for r in rules {
        if let Some(on) = &r.on {
            add(&on.name);
        }
        if let Some(rcv) = &r.extras.received_on {
            add(&rcv.name);
        }
        let pools = r
            .nat_to
            .iter()
            .chain(r.rdr_to.iter())
            .chain(r.extras.route.iter().map(|(_, p)| p));
        let addrs = [&r.from.addr, &r.to.addr]
            .into_iter()
            .chain(pools.flat_map(|p| p.addrs.iter()));
        for a in addrs {
            if let AddrKind::Dynamic { ifname, .. } = a {
                add(ifname);
            }
        }
    }
    m
}

/// Length and family of an IP packet for the interface counters: (IPv6,
/// bytes). None when it is not IP.
pub fn ip_len(buf: &[u8]) -> Option<(bool, u64)> {
    let v = buf.first()? >> 4;
    let n = buf.len() as u64;
    match v {
        4 => {
            let l = buf
                .get(2..4)
                .map(|b| u16::from_be_bytes([b[0], b[1]]) as u64);
            Some((false, l.unwrap_or(n).min(n)))
        }
        6 => {
            let l = buf
                .get(4..6)
                .map(|b| 40 + u16::from_be_bytes([b[0], b[1]]) as u64);
            Some((true, l.unwrap_or(n).min(n)))
        }
        _ => None,
    }
}

/// Is `a` one of the addresses of interface (or group) `name`?
pub fn has_addr(t: &IfTable, name: &str, a: &IpAddr) -> bool {
    t.addr_map()
        .get(name)
        .is_some_and(|v| v.iter().any(|n| n.addr == *a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, addrs: &[&str]) -> LinkInfo {
        LinkInfo {
            index,
            name: name.into(),
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            carpdev: None,
            own_groups: None,
        }
    }

    fn table() -> IfTable {
        let mut t = IfTable::default();
        let mut carp = link(5, "carp1", &["192.0.2.1/24"]);
        carp.carpdev = Some("eth1".into());
        carp.own_groups = Some(vec!["ext".into()]);
        t.sync(
            vec![
                link(1, "lo", &["127.0.0.1/8"]),
                link(2, "eth0", &["10.1.0.1/24"]),
                link(3, "eth1", &["192.0.2.10/24"]),
                link(4, "wg0", &["10.9.0.1/24"]),
                carp,
            ],
            1000,
        );
        t
    }

    #[test]
    fn groups_follow_membership() {
        let mut t = table();
        let eth0 = t.lookup("eth0").unwrap();
        let wg0 = t.lookup("wg0").unwrap();
        assert!(t.matches("eth0", eth0) && t.matches("eth", eth0) && t.matches("all", eth0));
        assert!(!t.matches("egress", eth0) && !t.matches("eth1", eth0));
        assert_eq!(t.members("eth"), ["eth0", "eth1"]);
        assert!(t.members("egress").is_empty());
        // egress follows the default route.
        assert!(t.set_egress(vec![3], 2000));
        assert!(!t.set_egress(vec![3], 2000));
        assert!(t.matches("egress", t.lookup("eth1").unwrap()));
        assert_eq!(
            t.addr_map()["egress"],
            vec!["192.0.2.10/24".parse().unwrap()]
        );
        assert!(t.set_egress(vec![2, 3], 2000));
        assert_eq!(t.members("egress"), ["eth0", "eth1"]);
        // Administrative groups: on, (group) addresses and set skip.
        t.add_group("wg0", "vpn", 3000).unwrap();
        t.add_group("eth0", "vpn", 3000).unwrap();
        assert!(t.matches("vpn", wg0));
        assert_eq!(t.addr_map()["vpn"].len(), 2);
        assert!(has_addr(&t, "vpn", &"10.9.0.1".parse().unwrap()));
        t.set_skip(&["vpn".into()]);
        assert!(t.skipped(wg0) && t.skipped(eth0));
        assert!(!t.skipped(t.lookup("eth1").unwrap()));
        t.del_group("eth0", "vpn", 4000).unwrap();
        assert!(!t.skipped(eth0) && t.skipped(wg0));
        assert!(t.del_group("eth0", "vpn", 4000).is_err());
        // carp interfaces carry their groups in their configuration.
        let carp = t.lookup("carp1").unwrap();
        assert!(t.matches("ext", carp) && t.matches("carp", carp));
        assert_eq!(
            t.add_group("carp1", "dmz", 0).unwrap_err().errno,
            crate::errno::EINVAL
        );
        // Refused: system groups, bad names, unknown interfaces.
        assert_eq!(
            t.add_group("eth0", "eth", 0).unwrap_err().errno,
            crate::errno::EPERM
        );
        assert_eq!(
            t.add_group("eth0", "egress", 0).unwrap_err().errno,
            crate::errno::EPERM
        );
        assert_eq!(
            t.add_group("eth0", "foo1", 0).unwrap_err().errno,
            crate::errno::EINVAL
        );
        assert_eq!(
            t.add_group("nope0", "foo", 0).unwrap_err().errno,
            crate::errno::ENXIO
        );
        // An interface that goes away takes its groups with it.
        t.sync(
            vec![
                link(1, "lo", &[]),
                link(2, "eth0", &["10.1.0.1/24"]),
                link(3, "eth1", &[]),
            ],
            5000,
        );
        assert!(t.lookup("wg0").is_none() && t.members("vpn").is_empty());
        t.sync(vec![link(7, "wg0", &[])], 6000);
        assert!(!t.matches("vpn", t.lookup("wg0").unwrap()));
    }

    #[test]
    fn slots_carp_and_counters() {
        let mut t = table();
        let eth1 = t.lookup("eth1").unwrap();
        let carp = t.lookup("carp1").unwrap();
        // carp traffic is pf's on the carpdev.
        assert_eq!(t.packet_kif("carp1"), Some(eth1));
        assert_eq!(t.packet_kif("eth1"), Some(eth1));
        assert_eq!(t.packet_kif("nope"), None);
        let s = t.kif(carp).unwrap().slot;
        assert_ne!(s, 0);
        assert_eq!(t.by_slot(s), Some(eth1));
        let s0 = t.kif(t.lookup("eth0").unwrap()).unwrap().slot;
        assert_eq!(t.by_slot(s0), t.lookup("eth0"));
        assert_eq!(t.by_slot(0), None);
        // Slots are unique and reused after the interface goes.
        let slots: BTreeSet<u8> = t.iter().map(|k| k.slot).collect();
        assert_eq!(slots.len(), 5);
        t.sync(vec![link(2, "eth0", &[])], 0);
        t.sync(vec![link(2, "eth0", &[]), link(9, "eth9", &[])], 0);
        assert!(t.kif(t.lookup("eth9").unwrap()).unwrap().slot != s0);
        let mut t = table();
        let eth0 = t.lookup("eth0").unwrap();
        t.count(eth0, false, false, false, 84);
        t.count(eth0, false, true, true, 60);
        t.count(eth0, true, false, false, 104);
        let k = t.kif(eth0).unwrap();
        assert_eq!(k.packets[0][0][0], 1);
        assert_eq!(k.packets[0][1][1], 1);
        assert_eq!(k.bytes[1][0][0], 104);
        let (p, b) = t.log_counters("eth");
        assert_eq!((p[0][1][1], b[0][0], b[0][1]), (1, 84, 60));
        assert_eq!(t.clear_counters("eth0", 9000), 1);
        assert_eq!(t.kif(eth0).unwrap().packets, IfCounters::default());
        assert_eq!(t.kif(eth0).unwrap().tzero, 9000);
    }

    #[test]
    fn interface_listing() {
        let mut t = table();
        t.set_skip(&["lo".into()]);
        let mut rules = HashMap::new();
        rules.insert("eth0".to_string(), 2);
        rules.insert("ghost0".to_string(), 1);
        let mut states = HashMap::new();
        states.insert("all".to_string(), 3);
        let l = t.list(None, &rules, &states, 11_000, 1_700_000_000);
        let names: Vec<&str> = l.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            ["all", "carp", "carp1", "eth", "eth0", "eth1", "ext", "ghost0", "lo", "wg", "wg0"]
        );
        let lo = l.iter().find(|i| i.name == "lo").unwrap();
        assert!(lo.skip);
        assert_eq!(lo.cleared, 1_700_000_000 - 10);
        assert_eq!(l[0].states, 3);
        assert_eq!(l.iter().find(|i| i.name == "eth0").unwrap().rules, 2);
        // -i: a name, or a group's members (groups do not end in a digit).
        let f: Vec<String> = t
            .list(Some("eth"), &rules, &states, 0, 0)
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(f, ["eth", "eth0", "eth1"]);
        assert_eq!(t.list(Some("eth0"), &rules, &states, 0, 0).len(), 1);
    }

    #[test]
    fn helpers() {
        assert_eq!(driver_group("eth0"), Some("eth"));
        assert_eq!(driver_group("lo"), None);
        assert_eq!(driver_group("0"), None);
        assert!(valid_group_name("dmz") && !valid_group_name("dmz1") && !valid_group_name(""));
        assert_eq!(IfName::new("eth0").as_str(), "eth0");
        assert_eq!(ip_len(&[0x45, 0, 0, 28, 0]), Some((false, 5)));
        assert_eq!(ip_len(&[0x60]), Some((true, 1)));
        assert_eq!(ip_len(&[0x10]), None);
        assert_eq!(ip_len(&[]), None);
    }
}

//! CARP in pfd: the table of carp interfaces, each a macvlan named carpN on
//! its carpdev with the virtual MAC; the thread that receives
//! advertisements, fires the state machines' timers (a timerfd armed for
//! the earliest deadline, so advertisements go out every advbase +
//! advskew/256 s down to 1/256 s) and follows the carpdevs' links; and the
//! execution of what the state machines ask for (addresses up or down,
//! advertisements, gratuitous ARP and unsolicited neighbour
//! advertisements).
//!
//! IPv6 (carp.4): advertisements to ff02::12 (IPv6 next header 112, hop
//! limit 255) from the carpdev's link-local address, received on a raw
//! IPv6 socket joined to ff02::12 on every carpdev; the virtual IPv6
//! addresses go up without DAD on the MASTER (the peer holds them while it
//! hands over) and are withdrawn on the BACKUP with the link down, so only
//! the MASTER answers neighbour solicitations (Linux answers them strictly
//! per interface, so the carpdev never does with its own MAC).

mod inet6;

mod balance;

mod addrs;

mod trace;

mod transition;

pub use addrs::Settle;
pub use balance::Owners;

use super::Shared;
use crate::addr::IpNet;
use crate::carp::balance::node_mac;
use crate::carp::fsm::Actions;
use crate::carp::iface::{wall_seq, CarpIf, CarpStats, Drop, Received};
use crate::carp::{virtual_mac, CarpConfig, CarpPeer, CarpState, CarpStatus};
use crate::log;
use crate::sys::netlink::{Link, Netlink};
use crate::sys::nftgate::{self, Gates};
use crate::sys::raw::{FrameSender, Raw6Receiver, RawReceiver, RawSender};
use crate::sys::sysctl;
use crate::sys::timer::{self, TimerFd};
use crate::wire::arp::gratuitous_request;
use crate::wire::carp::{build_ipv4_advert, CARP6_GROUP, INADDR_CARP_GROUP};
use crate::wire::ethernet::{self, EthernetAddress};
use crate::wire::IPPROTO_CARP;
use inet6::{ipv6_of, receive_all6};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Group every carp interface belongs to (and pfsync demotes).
pub const CARP_GROUP: &str = "carp";

struct Entry {
    cif: CarpIf,
    /// ifindex of the macvlan (0 while it cannot exist: no carpdev/vhid).
    ifindex: u32,
    carpdev_index: u32,
    /// The carpdev's own MAC address (the Ethernet source of a
    /// dual-stack interface's IPv6 advertisements).
    carpdev_mac: Option<[u8; 6]>,
    carpdev_up: bool,
    sender: Option<RawSender>,
    /// Whether this vhid demoted the group because its carpdev is down.
    carpdev_demoted: bool,
    /// The address advertisements leave from (the carpdev's first IPv4
    /// address, else one of the carp interface's), looked up when the
    /// interface is configured and when links are checked, not for every
    /// advertisement.
    src: Option<Ipv4Addr>,
    /// The IPv6 address they leave from: the carpdev's link-local address
    /// (else another of its IPv6 addresses, else one of the carp
    /// interface's), looked up likewise.
    src6: Option<Ipv6Addr>,
    /// State transitions so far (the metrics' per-vhid counter).
    transitions: u64,
    /// The carpnodes after the leader (`cif`), with several carpnodes.
    nodes: Vec<CarpIf>,
    /// Whether the addresses are up (some node is MASTER).
    addrs_up: bool,
    /// Whether the macvlan's link is up (set up ahead of the addresses
    /// on a takeover).
    link_up: bool,
    /// Whether the macvlan has its gate (`sys::nftgate`): then its link
    /// stays up and the gate opens and closes instead.
    gated: bool,
    gate_open: bool,
    /// The nft script last applied for the carpdev's ingress.
    ingress: String,
}

pub struct CarpTable {
    entries: BTreeMap<String, Entry>,
    groups: HashMap<String, u32>,
    pub preempt: bool,
    pub allow: bool,
    /// net.inet.carp.log (0..7, default 2 = crit).
    pub log_level: i64,
    nl: Netlink,
    rx: Arc<RawReceiver>,
    /// IPv6 advertisements (None when the kernel has no IPv6).
    rx6: Option<Arc<Raw6Receiver>>,
    /// Advertisements out as whole frames (kept open: see FrameSender).
    frames: FrameSender,
    joined: HashMap<u32, usize>,
    /// Drops of packets that matched no carp interface.
    pub stats: CarpStats,
    last_drop_log: HashMap<&'static str, Instant>,
    ident: u16,
    /// Bowed out on the way down: no more advertisements, no more
    /// elections, but the addresses stay until `destroy_all`.
    leaving: bool,
    /// pf's verdict on an outgoing advertisement (`out on <carpdev>`), as
    /// OpenBSD's pf sees carp output; None passes everything.
    filter: Option<OutputFilter>,
    /// What the data path and the ARP responder read of balanced
    /// interfaces.
    owners: Arc<Owners>,
    /// The takeover being timed (net.inet.carp.log 7).
    trace: Option<trace::Takeover>,
    /// The gates' nfnetlink socket (None: no gates, links go up and down).
    gates: Option<Gates>,
    /// The address thread of gated interfaces.
    addrs: Option<addrs::Addrs>,
    /// Told of every gate before it closes and after it opens.
    gate_hook: Option<GateHook>,
}

/// Told (interface index, closed) when a carp interface's gate is about
/// to close (true) or has opened or gone (false): the fast path's program,
/// which runs before the gate, leaves the packets of a closed one alone.
pub type GateHook = Box<dyn Fn(u32, bool) + Send>;

/// Asks pf about a locally generated packet leaving by an interface; may
/// rewrite it; true lets it go.
pub type OutputFilter = Box<dyn Fn(&str, &mut [u8]) -> bool + Send>;

/// The sequence number of an advertisement sent now (`wall_seq` of the
/// wall clock), for both address families.
pub(super) fn advert_seq() -> u32 {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    wall_seq(wall)
}

fn ipv4_of(nets: &[IpNet]) -> Option<Ipv4Addr> {
    nets.iter().find_map(|n| match n.addr {
        IpAddr::V4(a) => Some(a),
        _ => None,
    })
}

impl CarpTable {
    pub fn new(preempt: bool) -> io::Result<CarpTable> {
        Ok(CarpTable {
            entries: BTreeMap::new(),
            groups: HashMap::new(),
            preempt,
            allow: true,
            log_level: 2,
            nl: Netlink::open()?,
            rx: Arc::new(RawReceiver::ipv4(IPPROTO_CARP)?),
            rx6: match Raw6Receiver::new(IPPROTO_CARP) {
                Ok(r) => Some(Arc::new(r)),
                Err(e) => {
                    log::info(&format!("carp: no IPv6 advertisements: {e}"));
                    None
                }
            },
            frames: FrameSender::new()?,
            joined: HashMap::new(),
            stats: CarpStats::default(),
            last_drop_log: HashMap::new(),
            ident: 1,
            leaving: false,
            filter: None,
            owners: Arc::new(Owners::default()),
            trace: None,
            gates: match Gates::open() {
                Ok(g) => Some(g),
                Err(e) => {
                    log::info(&format!(
                        "carp: no nftables gates ({e}): links go up and down"
                    ));
                    None
                }
            },
            addrs: addrs::Addrs::start(),
            gate_hook: None,
        })
    }

    pub fn set_filter(&mut self, f: OutputFilter) {
        self.filter = Some(f);
    }

    pub fn set_gate_hook(&mut self, f: GateHook) {
        self.gate_hook = Some(f);
    }

    /// Tell the gate hook.
    fn gate_closed(&self, idx: u32, closed: bool) {
        if let Some(f) = &self.gate_hook {
            f(idx, closed);
        }
    }

    /// The balanced interfaces' shares, for the data path.
    pub fn owners(&self) -> Arc<Owners> {
        self.owners.clone()
    }

    pub fn receiver(&self) -> Arc<RawReceiver> {
        self.rx.clone()
    }

    pub fn receiver6(&self) -> Option<Arc<Raw6Receiver>> {
        self.rx6.clone()
    }

    /// The demotion a carp interface advertises: the sum of the counters
    /// of its groups (`carp` and those it was put in), at most 255.
    fn demote_of(&self, c: &CarpConfig) -> u8 {
        let extra = c.groups.iter().filter(|g| g.as_str() != CARP_GROUP);
        std::iter::once(CARP_GROUP)
            .chain(extra.map(String::as_str))
            .map(|g| self.group_demote(g) as u64)
            .sum::<u64>()
            .min(255) as u8
    }

    pub fn group_demote(&self, group: &str) -> u32 {
        self.groups.get(group).copied().unwrap_or(0)
    }

    pub fn names(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    pub fn status(&self, name: &str) -> Option<CarpStatus> {
        self.status_at(name, None)
    }

    /// The status with the age of the peer heard last (`now` on the CARP
    /// clock; None leaves it 0).
    pub fn status_at(&self, name: &str, now: Option<Duration>) -> Option<CarpStatus> {
        let e = self.entries.get(name)?;
        let c = &e.cif.config;
        let peer = e.cif.last_peer().map(|p| CarpPeer {
            addr: p.src,
            advbase: p.advbase,
            advskew: p.advskew,
            demote: p.demote,
            age_ms: now.map_or(0, |n| n.saturating_sub(p.at).as_millis() as u64),
            bound: p.seq.is_some(),
        });
        Some(CarpStatus {
            name: name.to_string(),
            config: c.clone(),
            state: e.state(),
            ifindex: e.ifindex,
            lladdr: if c.carpdev.is_some() {
                node_mac(c.balancing, true, c.vhid)
            } else {
                [0; 6]
            },
            demote: self.demote_of(c),
            mtu: c.mtu.unwrap_or(1500),
            key_set: !c.key.is_empty(),
            peer,
            transitions: e.transitions,
            nodes: e.node_status(),
        })
    }

    /// Statistics summed over every interface plus unmatched packets.
    pub fn stats_total(&self) -> CarpStats {
        let mut t = self.stats;
        for c in self.entries.values().flat_map(Entry::all) {
            let s = &c.stats;
            t.ipackets += s.ipackets;
            t.ipackets6 += s.ipackets6;
            t.opackets6 += s.opackets6;
            t.badttl += s.badttl;
            t.badlen += s.badlen;
            t.badsum += s.badsum;
            t.badver += s.badver;
            t.badauth += s.badauth;
            t.badvhid += s.badvhid;
            t.opackets += s.opackets;
            t.replay += s.replay;
            t.rewritten += s.rewritten;
            t.preempt += c.fsm.became_master;
            t.ties += c.fsm.ties_lost;
        }
        t.lsdrop = self
            .owners
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed);
        t
    }

    /// Configured addresses of every carp interface, whatever its state.
    pub fn configured_addrs(&self) -> Vec<(String, Vec<IpNet>)> {
        self.entries
            .iter()
            .map(|(n, e)| {
                (
                    n.clone(),
                    e.cif.config.addrs.iter().map(|a| a.net).collect(),
                )
            })
            .collect()
    }

    fn log_drop(&mut self, what: &'static str, detail: String) {
        let now = Instant::now();
        let due = self
            .last_drop_log
            .get(what)
            .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(1));
        if due {
            self.last_drop_log.insert(what, now);
            log::warning(&detail);
        }
    }

    fn join(&mut self, ifindex: u32) {
        let n = self.joined.entry(ifindex).or_insert(0);
        if *n == 0 {
            if let Err(e) = self.rx.join(INADDR_CARP_GROUP, ifindex) {
                log::err(&format!(
                    "carp: joining 224.0.0.18 on ifindex {ifindex}: {e}"
                ));
            }
            if let Some(rx6) = &self.rx6 {
                // Fails where the carpdev has IPv6 disabled: IPv4 only.
                if let Err(e) = rx6.join(&CARP6_GROUP, ifindex) {
                    log::info(&format!("carp: joining ff02::12 on ifindex {ifindex}: {e}"));
                }
            }
        }
        *n += 1;
    }

    fn leave(&mut self, ifindex: u32) {
        if let Some(n) = self.joined.get_mut(&ifindex) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                let _ = self.rx.leave(INADDR_CARP_GROUP, ifindex);
                if let Some(rx6) = &self.rx6 {
                    let _ = rx6.leave(&CARP6_GROUP, ifindex);
                }
                self.joined.remove(&ifindex);
            }
        }
    }

    /// Create or reconfigure carp interface `name` (SIOCSVH + addresses +
    /// flags). Errors leave the previous configuration in place.
    pub fn configure(
        &mut self,
        name: &str,
        config: CarpConfig,
        force: Option<CarpState>,
        now: Duration,
    ) -> Result<(), String> {
        if !name.starts_with("carp")
            || name.len() > 15
            || !name[4..].chars().all(|c| c.is_ascii_digit())
            || name.len() == 4
        {
            return Err(format!("{name}: not a carp interface name (carpN)"));
        }
        if config.vhid != 0 {
            if let Some(dev) = &config.carpdev {
                let clash = config.vhids().find(|v| {
                    self.entries.iter().any(|(n, e)| {
                        n != name
                            && e.cif.config.vhids().any(|w| w == *v)
                            && e.cif.config.carpdev.as_ref() == Some(dev)
                    })
                });
                if let Some(v) = clash {
                    return Err(format!("{name}: vhid {v} already in use on {dev}"));
                }
            }
        }
        let carpdev = match &config.carpdev {
            Some(d) => match self
                .nl
                .link_by_name(d)
                .map_err(|e| format!("{name}: {e}"))?
            {
                Some(l) => Some(l),
                None => return Err(format!("{name}: carpdev {d}: no such interface")),
            },
            None => None,
        };
        // What the address thread was asked before goes first.
        self.settle();
        let existed = self.entries.contains_key(name);
        if !existed {
            let cif = CarpIf::new(
                name,
                CarpConfig {
                    addrs: Vec::new(),
                    up: false,
                    ..config.clone()
                },
            );
            self.entries.insert(
                name.to_string(),
                Entry {
                    cif,
                    ifindex: 0,
                    carpdev_index: 0,
                    carpdev_mac: None,
                    carpdev_up: false,
                    sender: None,
                    carpdev_demoted: false,
                    src: None,
                    src6: None,
                    transitions: 0,
                    nodes: Vec::new(),
                    addrs_up: false,
                    link_up: false,
                    gated: false,
                    gate_open: false,
                    ingress: String::new(),
                },
            );
            self.groups.entry(CARP_GROUP.to_string()).or_insert(0);
        }
        // Take the vhid down while the interface changes under it.
        let old = self
            .entries
            .get(name)
            .map(|e| e.cif.config.clone())
            .unwrap_or_default();
        let needs_new_link = old.carpdev != config.carpdev || old.vhid != config.vhid || !existed;
        if needs_new_link {
            self.stop(name, now, true);
            self.remove_link(name);
        }
        if let Some(dev) = &carpdev {
            if config.vhid != 0 && self.entries.get(name).is_some_and(|e| e.ifindex == 0) {
                self.create_link(name, config.vhid, dev)?;
            }
        }
        let e = self.entries.get_mut(name).ok_or("vanished")?;
        if e.ifindex != 0 && (needs_new_link || e.cif.config.mtu != config.mtu) {
            if let Some(m) = config.mtu {
                let idx = e.ifindex;
                self.nl
                    .set_mtu(idx, m)
                    .map_err(|err| format!("{name}: mtu {m}: {err}"))?;
            }
        }
        let e = self.entries.get_mut(name).ok_or("vanished")?;
        let master = e.addrs_up;
        let addrs_changed = e.cif.config.addrs != config.addrs;
        if master && addrs_changed {
            // Withdraw what goes away; MASTER adds the rest below.
            let idx = e.ifindex;
            for a in &e.cif.config.addrs {
                if !config.addrs.contains(a) {
                    let _ = self.nl.del_addr(idx, a.net);
                }
            }
        }
        let e = self.entries.get_mut(name).ok_or("vanished")?;
        let acts = e.cif.reconfigure(config, now);
        self.refresh_src(name);
        self.execute(name, acts, now);
        self.sync_nodes(name, now);
        if master && addrs_changed {
            self.apply_addrs(name, true);
        }
        self.update_runnable(name, now);
        if let Some(s) = force {
            self.each_node(name, |v| v.force_state(s, now), now);
        }
        self.sync_share(name);
        // The kernel has what was asked when the change is answered.
        self.settle();
        Ok(())
    }

    /// Make the macvlan of `name` (vhid `vhid`) on carpdev `dev`, its
    /// sysctls, its sending socket and its gate.
    fn create_link(&mut self, name: &str, vhid: u8, dev: &Link) -> Result<(), String> {
        // A macvlan left by an earlier pfd goes first.
        if let Ok(Some(stale)) = self.nl.link_by_name(name) {
            let _ = self.nl.delete_link(stale.index);
        }
        let idx = self
            .nl
            .create_macvlan(name, dev.index, virtual_mac(vhid).0)
            .map_err(|e| format!("{name}: {e}"))?;
        let _ = sysctl::write(&format!("net.ipv4.conf.{name}.promote_secondaries"), "1");
        let _ = sysctl::write(&format!("net.ipv4.conf.{name}.rp_filter"), "0");
        let _ = sysctl::write(&format!("net.ipv6.conf.{name}.accept_dad"), "0");
        // Only the carp interface answers ARP for the virtual
        // addresses, not the carpdev with its own MAC.
        let _ = sysctl::write(&format!("net.ipv4.conf.{}.arp_ignore", dev.name), "1");
        let sender =
            RawSender::ipv4(None, Some(name)).map_err(|e| format!("{name}: raw socket: {e}"))?;
        let gated = self.make_gate(name, idx);
        let e = self.entries.get_mut(name).ok_or("vanished")?;
        e.gated = gated;
        e.link_up = gated;
        e.gate_open = false;
        e.ifindex = idx;
        e.carpdev_index = dev.index;
        e.carpdev_mac = dev.mac;
        e.carpdev_up = dev.up && dev.lower_up;
        e.sender = Some(sender);
        self.join(dev.index);
        Ok(())
    }

    /// Destroy a carp interface (bowing out first if MASTER).
    pub fn destroy(&mut self, name: &str, now: Duration) -> Result<(), String> {
        if !self.entries.contains_key(name) {
            return Err(format!("{name}: no such interface"));
        }
        self.stop(name, now, true);
        self.remove_link(name);
        self.entries.remove(name);
        self.publish_owners();
        Ok(())
    }

    /// Run the vhid down: bow out if MASTER (`bow`), INIT.
    fn stop(&mut self, name: &str, now: Duration, bow: bool) {
        if bow {
            self.each_node(name, |v| v.set_runnable(false, now), now);
        } else {
            self.each_node(name, |v| v.suppress(now), now);
        }
    }

    fn remove_link(&mut self, name: &str) {
        // What the address thread was asked for this link goes first.
        self.settle();
        let Some(e) = self.entries.get_mut(name) else {
            return;
        };
        let (idx, dev) = (e.ifindex, e.carpdev_index);
        let had_ingress = !e.ingress.is_empty();
        let gated = e.gated;
        e.ingress.clear();
        e.addrs_up = false;
        e.link_up = false;
        e.gated = false;
        e.gate_open = false;
        e.ifindex = 0;
        e.carpdev_index = 0;
        e.sender = None;
        if e.carpdev_demoted {
            e.carpdev_demoted = false;
            self.adjust_group(CARP_GROUP, -1);
        }
        if had_ingress {
            balance::drop_ingress(name);
        }
        if gated {
            nftgate::remove(name);
            self.gate_closed(idx, false);
        }
        if idx != 0 {
            let _ = self.nl.delete_link(idx);
        }
        if dev != 0 {
            self.leave(dev);
        }
    }

    /// Bring the vhid in or out of the running set after a change.
    fn update_runnable(&mut self, name: &str, now: Duration) {
        let Some(e) = self.entries.get_mut(name) else {
            return;
        };
        let runnable = e.ifindex != 0 && e.cif.runnable(e.carpdev_up);
        self.each_node(name, |v| v.set_runnable(runnable, now), now);
    }

    /// Look up the address advertisements of `name` leave from.
    fn refresh_src(&mut self, name: &str) {
        let Some(e) = self.entries.get(name) else {
            return;
        };
        let dev_nets: Vec<IpNet> = if e.carpdev_index != 0 {
            self.nl
                .addrs(Some(e.carpdev_index))
                .map(|v| v.iter().map(|a| a.net).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let src = ipv4_of(&dev_nets).or_else(|| e.cif.ipv4_addrs().first().copied());
        let src6 = ipv6_of(&dev_nets).or_else(|| e.cif.ipv6_addrs().first().copied());
        if let Some(e) = self.entries.get_mut(name) {
            e.src = src;
            e.cif.set_src(src);
            e.src6 = src6;
            e.cif.set_src6(src6);
        }
    }

    /// One advertisement by each family the interface has addresses of
    /// (carp_send_ad: IPv4 then IPv6), for carpnode `node` (0: the
    /// leader).
    fn send_advert(&mut self, name: &str, node: usize, bow_out: bool) {
        let Some(e) = self.entries.get(name) else {
            return;
        };
        let Some(c) = e.all().nth(node) else {
            return;
        };
        let [inet, inet6] = c.fsm.families();
        if inet {
            self.send_advert4(name, node, bow_out);
        }
        if inet6 {
            self.send_advert6(name, node, bow_out);
        }
    }

    /// Lets pf see a packet CARP sends out on `ifname`; false (and
    /// logged) when a rule blocks it.
    fn pf_passes(&mut self, name: &str, ifname: &str, what: &str, pkt: &mut [u8]) -> bool {
        if let Some(f) = &self.filter {
            if !f(ifname, pkt) {
                self.log_drop(
                    "blocked",
                    format!("{name}: {what} blocked by pf (out on {ifname})"),
                );
                return false;
            }
        }
        true
    }

    fn send_advert4(&mut self, name: &str, node: usize, bow_out: bool) {
        let ident = self.ident;
        self.ident = self.ident.wrapping_add(1);
        if self.entries.get(name).is_some_and(|e| e.src.is_none()) {
            self.refresh_src(name);
        }
        let Some(e) = self.entries.get(name) else {
            return;
        };
        let demote = self.demote_of(&e.cif.config);
        let Some(src) = e.src else {
            log::err(&format!(
                "{name}: no IPv4 address to send advertisements from"
            ));
            return;
        };
        let Some(e) = self.entries.get_mut(name) else {
            return;
        };
        let Some(cif) = e.node_mut(node) else {
            return;
        };
        let repr = cif.advert(bow_out, demote, src, advert_seq());
        let Some(e) = self.entries.get(name) else {
            return;
        };
        let Some(sender) = e.sender.as_ref() else {
            return;
        };
        let dst = e.cif.config.carppeer.unwrap_or(INADDR_CARP_GROUP);
        let mut pkt = build_ipv4_advert(src, dst, ident, &repr);
        let carpdev = e.cif.config.carpdev.clone().unwrap_or_default();
        let result = if dst.is_multicast() {
            // As on OpenBSD, pf sees advertisements going out on the
            // carpdev; they leave as whole frames from the virtual MAC (so
            // switches learn where it lives), at once (a bow-out is followed
            // by the interface going down).
            if !self.pf_passes(name, &carpdev, "advertisement", &mut pkt) {
                return;
            }
            let Some(e) = self.entries.get(name) else {
                return;
            };
            let frame = ethernet::Repr {
                src_addr: EthernetAddress(e.frame_source(node)),
                dst_addr: EthernetAddress::from_ipv4_multicast(dst),
                ethertype: ethernet::ETHERTYPE_IPV4,
            }
            .frame(&pkt);
            self.frames.send(e.carpdev_index, &frame)
        } else {
            // carppeer: let the stack resolve the peer; pf filters it on the
            // way out like any local packet.
            sender.send(&pkt)
        };
        match result {
            Ok(()) => {
                if let Some(c) = self.entries.get_mut(name).and_then(|e| e.node_mut(node)) {
                    c.stats.opackets += 1;
                }
            }
            Err(err) => log::err(&format!("{name}: sending advertisement: {err}")),
        }
    }

    fn send_gratuitous(&mut self, name: &str) {
        let Some(e) = self.entries.get(name) else {
            return;
        };
        let mac = virtual_mac(e.cif.config.vhid);
        for ip in e.cif.ipv4_addrs() {
            let frame = gratuitous_request(mac, ip);
            if let Err(err) = self.frames.send(e.ifindex, &frame) {
                log::err(&format!("{name}: gratuitous ARP for {ip}: {err}"));
            }
        }
        self.send_na(name);
    }

    /// An IPv4 advertisement arrived on `ifindex` (IP packet in `pkt`).
    pub fn input(&mut self, pkt: &[u8], ifindex: u32, now: Duration) {
        if !self.allow || self.leaving {
            return;
        }
        let Some(Received {
            ttl,
            src,
            dst,
            vhid,
            payload,
        }) = Received::parse(pkt)
        else {
            self.stats.hdrops += 1;
            return;
        };
        self.deliver(
            ttl,
            IpAddr::V4(src),
            Some(dst.is_multicast()),
            vhid,
            payload,
            ifindex,
            now,
        );
    }

    /// Find the carp interface of an advertisement (by carpdev, vhid and,
    /// for IPv4, multicast or unicast peer), check it and feed its state
    /// machine.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        ttl: u8,
        src: IpAddr,
        multicast: Option<bool>,
        vhid: u8,
        payload: &[u8],
        ifindex: u32,
        now: Duration,
    ) {
        // Arrived on a carpdev (or a carp macvlan: map it to its carpdev).
        let dev = self
            .entries
            .values()
            .find(|e| e.ifindex == ifindex && ifindex != 0)
            .map(|e| e.carpdev_index)
            .unwrap_or(ifindex);
        let found = self.entries.iter().find_map(|(n, e)| {
            let i = e.all().position(|c| c.config.vhid == vhid)?;
            (e.carpdev_index == dev
                && multicast.is_none_or(|m| e.cif.config.carppeer.is_none() == m))
            .then_some((n, i))
        });
        let Some((name, node)) = found else {
            if self.entries.values().any(|e| e.carpdev_index == dev) {
                self.stats.badvhid += 1;
            } else {
                self.stats.badif += 1;
            }
            return;
        };
        let name = name.clone();
        let demote = self
            .entries
            .get(&name)
            .map(|e| self.demote_of(&e.cif.config))
            .unwrap_or(0);
        let preempt = self.preempt;
        let Some(cif) = self.entries.get_mut(&name).and_then(|e| e.node_mut(node)) else {
            return;
        };
        match cif.check(ttl, src, payload, now) {
            Ok(ad) => {
                if ad.is_bow_out() {
                    log::info(&format!("{name}: bow-out advertisement from {src}"));
                }
                let acts = cif.fsm.on_advert(&ad, demote, preempt, now);
                self.execute_node(&name, node, acts, now);
            }
            Err(Drop::Own) => {}
            Err(d @ (Drop::Replay | Drop::Rewritten)) => self.log_drop(
                d.describe(),
                format!(
                    "{name}: advertisement from {src} dropped: {} (vhid {vhid})",
                    d.describe()
                ),
            ),
            Err(d) => self.log_drop(
                d.describe(),
                format!("{name}: advertisement from {src} dropped: {}", d.describe()),
            ),
        }
    }

    /// Fire due timers.
    pub fn tick(&mut self, now: Duration) {
        if self.leaving {
            return;
        }
        let names: Vec<String> = self.entries.keys().cloned().collect();
        for n in names {
            if self.log_level >= 7 {
                self.trace = self.master_down_late(&n, now).map(trace::Takeover::new);
            }
            self.each_node(
                &n,
                |v| {
                    if v.next_deadline().is_some_and(|d| d <= now) {
                        v.on_timer(now)
                    } else {
                        Actions::default()
                    }
                },
                now,
            );
            if let Some(t) = self.trace.take() {
                log::info(&t.line(&n));
            }
        }
    }

    /// How late the master-down timer of a BACKUP node of `name` fires
    /// at `now`, if it is due.
    fn master_down_late(&self, name: &str, now: Duration) -> Option<Duration> {
        self.entries
            .get(name)?
            .all()
            .filter(|c| c.state() == CarpState::Backup)
            .filter_map(|c| c.fsm.next_deadline())
            .filter(|&d| d <= now)
            .map(|d| now - d)
            .max()
    }

    /// A step of the takeover being timed ended.
    fn mark(&mut self, step: &'static str) {
        if let Some(t) = &mut self.trace {
            t.mark(step);
        }
    }

    pub fn next_deadline(&self) -> Option<Duration> {
        self.entries
            .values()
            .flat_map(Entry::all)
            .filter_map(|c| c.fsm.next_deadline())
            .min()
    }

    /// The carpdevs to look at: (carp interface, carpdev ifindex).
    pub fn carpdevs(&self) -> Vec<(String, u32)> {
        self.entries
            .iter()
            .filter(|(_, e)| e.carpdev_index != 0)
            .map(|(n, e)| (n.clone(), e.carpdev_index))
            .collect()
    }

    /// Follow the carpdevs' links, as `links_thread` found them: down
    /// suppresses the vhid (INIT) and demotes the group by one until the
    /// link returns. Also takes the carpdev's first IPv4 address as the
    /// source of advertisements.
    pub fn apply_links(&mut self, found: &[LinkSeen], now: Duration) {
        for f in found {
            let Some(e) = self.entries.get_mut(&f.name) else {
                continue;
            };
            if e.carpdev_index != f.carpdev {
                continue; // reconfigured meanwhile
            }
            let src = f.src.or_else(|| e.cif.ipv4_addrs().first().copied());
            e.src = src;
            let src6 = f.src6.or_else(|| e.cif.ipv6_addrs().first().copied());
            e.src6 = src6;
            for c in e.all_mut() {
                c.set_src(src);
                c.set_src6(src6);
            }
            if e.carpdev_up == f.up {
                continue;
            }
            e.carpdev_up = f.up;
            let demoted = e.carpdev_demoted;
            let n = f.name.clone();
            if !f.up {
                e.carpdev_demoted = true;
                self.each_node(&n, |v| v.suppress(now), now);
                if !demoted {
                    self.adjust_group(CARP_GROUP, 1);
                    log::err(&format!(
                        "{n}: carpdev down, demoted group carp to {}",
                        self.group_demote(CARP_GROUP)
                    ));
                }
            } else {
                e.carpdev_demoted = false;
                if demoted {
                    self.adjust_group(CARP_GROUP, -1);
                }
                self.update_runnable(&n, now);
            }
        }
    }

    fn adjust_group(&mut self, group: &str, delta: i32) -> (u32, u32) {
        let v = self.groups.entry(group.to_string()).or_insert(0);
        let old = *v;
        *v = (*v as i64 + delta as i64).clamp(0, u32::MAX as i64) as u32;
        (old, *v)
    }

    /// `carpdemote`: change a group's counter; masters tell their peers.
    pub fn demote(&mut self, group: &str, delta: i32, reason: &str, now: Duration) -> u32 {
        let (old, new) = self.adjust_group(group, delta);
        if old != new {
            log::err(&format!(
                "{group} demoted group {group} by {delta} to {new} ({reason})"
            ));
            let names: Vec<String> = self
                .entries
                .iter()
                .filter(|(_, e)| {
                    group == CARP_GROUP || e.cif.config.groups.iter().any(|g| g == group)
                })
                .map(|(n, _)| n.clone())
                .collect();
            for n in names {
                self.each_node(&n, |v| v.demote_changed(now), now);
            }
        }
        new
    }

    /// SIGTERM: every MASTER sends its bow-out advertisement and the
    /// elections stop (a regular advertisement now would undo the bow-out).
    /// Returns how many bowed out. The addresses stay, so packets already
    /// on their way here still go through, until `destroy_all`.
    pub fn bow_out_all(&mut self, _now: Duration) -> usize {
        self.leaving = true;
        let names: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.state() == CarpState::Master)
            .map(|(n, _)| n.clone())
            .collect();
        for n in &names {
            log::notice(&format!("{n}: bowing out"));
            let masters: Vec<usize> = self.entries.get(n).map_or(Vec::new(), |e| {
                e.all()
                    .enumerate()
                    .filter(|(_, c)| c.state() == CarpState::Master)
                    .map(|(i, _)| i)
                    .collect()
            });
            for i in masters {
                self.send_advert(n, i, true);
            }
        }
        names.len()
    }

    /// Remove every carp interface pfd made.
    pub fn destroy_all(&mut self) {
        let names: Vec<String> = self.entries.keys().cloned().collect();
        for n in names {
            self.each_node(&n, |v| v.suppress(Duration::ZERO), Duration::ZERO);
            self.remove_link(&n);
        }
        self.entries.clear();
        self.owners.set(Vec::new());
    }
}

/// A carpdev as the links thread saw it.
#[derive(Debug, Clone)]
pub struct LinkSeen {
    pub name: String,
    pub carpdev: u32,
    pub up: bool,
    pub src: Option<Ipv4Addr>,
    pub src6: Option<Ipv6Addr>,
}

/// Every 100 ms: the carpdevs' link state and source addresses, asked
/// of netlink without the CARP lock held (a netlink request waits for
/// the kernel's RTNL lock, which namespace and interface changes hold
/// for tens of milliseconds: the advertisements must not wait with it).
fn links_thread(shared: Arc<Shared>) {
    let mut nl = match Netlink::open() {
        Ok(n) => n,
        Err(e) => {
            log::err(&format!("carp: links: netlink: {e}"));
            return;
        }
    };
    while !shared.shutdown.load(Ordering::Relaxed) {
        let devs = shared.carp().carpdevs();
        let mut found = Vec::with_capacity(devs.len());
        for (name, idx) in devs {
            let up = match nl.link_by_index(idx) {
                Ok(Some(l)) => l.up && l.lower_up,
                Ok(None) => false,
                Err(_) => continue,
            };
            let nets: Vec<IpNet> = nl
                .addrs(Some(idx))
                .map(|v| v.iter().map(|a| a.net).collect())
                .unwrap_or_default();
            found.push(LinkSeen {
                name,
                carpdev: idx,
                up,
                src: ipv4_of(&nets),
                src6: ipv6_of(&nets),
            });
        }
        let now = shared.now();
        shared.carp().apply_links(&found, now);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The CARP thread: advertisements in, timers. It sleeps in poll(2) on
/// the CARP socket and a timerfd armed for the earliest deadline of any
/// vhid, in SCHED_FIFO when it may; link changes come from a thread of
/// their own.
pub fn run(shared: Arc<Shared>) {
    let s = shared.clone();
    if let Err(e) = std::thread::Builder::new()
        .name("carplinks".into())
        .spawn(move || links_thread(s))
    {
        log::err(&format!("carp: links thread: {e}"));
    }
    let rx = shared.carp().receiver();
    let rx6 = shared.carp().receiver6();
    let timer = match TimerFd::new() {
        Ok(t) => t,
        Err(e) => {
            log::err(&format!("carp: timerfd: {e}"));
            return;
        }
    };
    if let Err(e) = timer::realtime(10) {
        log::info(&format!("carp: no real-time scheduling ({e})"));
    }
    let mut buf = vec![0u8; 2048];
    while !shared.shutdown.load(Ordering::Relaxed) {
        // Advertisements that arrived first: a thread that was kept off
        // the CPU past a master-down deadline must not take over from a
        // master whose advertisements are waiting in the socket.
        receive_all(&shared, &rx, &mut buf);
        if let Some(rx6) = &rx6 {
            receive_all6(&shared, rx6, &mut buf);
        }
        let deadline = {
            let mut t = shared.carp();
            let now = shared.now();
            t.tick(now);
            t.next_deadline()
                .map(|d| Instant::now() + d.saturating_sub(shared.now()))
        };
        if let Err(e) = timer.arm_at(deadline) {
            log::err(&format!("carp: timerfd: {e}"));
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let (one, both);
        let fds: &[_] = match &rx6 {
            Some(r6) => {
                both = [rx.as_fd(), r6.as_fd()];
                &both
            }
            None => {
                one = [rx.as_fd()];
                &one
            }
        };
        if let Err(e) = timer.wait_any(fds, Duration::from_millis(100)) {
            log::err(&format!("carp: poll: {e}"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Take every advertisement waiting on the socket.
fn receive_all(shared: &Shared, rx: &RawReceiver, buf: &mut [u8]) {
    loop {
        match rx.recv_nonblocking(buf) {
            Ok(Some(r)) => {
                let now = shared.now();
                shared.carp().input(&buf[..r.len], r.ifindex, now);
            }
            Ok(None) => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::err(&format!("carp: receive: {e}"));
                return;
            }
        }
    }
}

//! The packet filter, OpenBSD's pf_test: `Engine::test(meta, packet)`
//! gives a `Verdict`. Rule evaluation, the state table, TCP window
//! tracking, NAT and rdr, policy routing, block return, timeouts,
//! counters, and the feed of state changes for pfsync. Pure: time
//! (monotonic milliseconds) is passed in, there is no I/O; the caller
//! sends whatever reply packet a verdict carries, and the packets pf sends
//! on its own (`Verdict::send`, `take_outgoing`).
//!
//! Start here. A packet goes through these steps, each a few lines below
//! calling into the module that owns it:
//!
//! 1. `test_iface`: the interface pf sees it on, `set skip`, the interface
//!    counters, the receiving interface left in the mark (`iface`,
//!    `localhost`, `mtag`);
//! 2. `test_packet`: its description (`packet`) and IP normalisation
//!    (`normalize`); a fragment waits for its datagram (`frag`), which
//!    comes back here whole;
//! 3. `test_whole`: TCP normalisation, then the state the packet belongs
//!    to (`state::matched`, with `tcp` window tracking, `translate`, `af`,
//!    `synproxy`, `syncookie`);
//! 4. without a state, the rules (`rulepath`: the walk of `rules` through
//!    the `anchor` tree, translations and pools in `nat`, the deciding
//!    rule's `decision`);
//! 5. a passing rule's new state (`state::create`);
//! 6. the verdict (`verdict`): pass or block, the packet rewritten, its
//!    route (`route`), what pf sends in answer (`reply`).
//!
//! Besides packets: the configuration (`config`), the system's interfaces
//! and routes (`system`), the status counters (`status`), state expiry
//! and kills (`state`), source nodes (`srcnode`), tables (`table`), and
//! pfsync (`export`).

// What the caller gives and gets.
pub mod mtag;
pub mod packet;
pub mod verdict;

// pf_test's steps: normalisation and reassembly, the state lookup, the
// rules, the new state.
pub mod frag;
pub mod normalize;
mod rulepath;
pub mod state;

// The rules: the anchor tree, its walk and what rules match against and
// leave behind.
pub mod anchor;
pub mod decision;
pub mod limiter;
pub mod logmark;
pub mod matchctx;
pub mod matchrules;
pub mod ruleref;
pub mod rules;
pub mod rulestate;
pub mod table;
pub mod tag;
pub mod threshold;

// Translation, routing, and what states do to their packets.
pub mod af;
pub mod nat;
pub mod peer;
pub mod reply;
pub mod route;
pub mod srcnode;
pub mod syncookie;
pub mod synproxy;
pub mod tcp;
pub mod translate;

// The engine's configuration, what it learns from the system and what it
// tells.
mod config;
mod counters;
pub mod export;
pub mod fib;
pub mod iface;
pub mod localhost;
pub mod mtu;
pub mod persist;
pub mod siphash;
pub mod status;
mod system;

pub use config::CommitError;
pub use mtag::Mtag;
pub use verdict::{Notice, Outgoing, PacketMeta, Toward, Verdict};

use crate::osfp::OsfpDb;
use crate::pfsync::queue::SyncQueue;
use crate::ruleset::{Limit, Options, Timeout, TIMEOUT_COUNT};
use crate::wire::IPPROTO_TCP;
use fib::Fib;
use iface::{if_matches, IfName, IfTable, KifId};
use packet::{describe, Dir, Pd, PdError};
use rules::LoadedRules;
use state::StateTable;
use status::{Reason, Status};
use std::collections::HashMap;
use table::Tables;

/// pf in one value: the loaded rulesets and tables, the states, the
/// source nodes, and what the daemon told it about the system.
pub struct Engine {
    enabled: bool,
    enabled_since: u64,
    rules: LoadedRules,
    options: Options,
    timeouts: [u32; TIMEOUT_COUNT],
    limits: HashMap<Limit, u32>,
    pub states: StateTable,
    /// Tag names in use by rules and states (`tag`, `tagged`).
    pub tags: tag::TagTable,
    /// The OS fingerprints `os` rules match against (pf.os).
    osfp: OsfpDb,
    status: Status,
    pub sync: SyncQueue,
    /// The interfaces and their groups, addresses and counters.
    pub ifaces: IfTable,
    /// The kernel's routes (`no-route`, `urpf-failed`, `egress`).
    fib: Fib,
    /// Route selectors (policy routing).
    routing: route::Routing,
    /// Address tables (`table <t>`), see `table`.
    pub tables: Tables,
    /// Source nodes (`source-track`, `sticky-address`), see `srcnode`.
    srcnodes: srcnode::SrcNodes,
    /// The match rules states remember, see `matchrules`.
    matchlists: matchrules::MatchLists,
    hostid: u32,
    next_id: u64,
    rng: u64,
    checksum: String,
    /// pf's debug level (a syslog priority): `set debug`, `pfctl -x`.
    debug: u8,
    /// Packets pf sends on its own, waiting for the caller.
    outbox: Vec<Outgoing>,
    /// Log lines waiting for the caller.
    notices: Vec<Notice>,
    /// Names of the interfaces states were bound to here, shared by those
    /// states (one allocation per interface, not per state).
    bound_names: std::collections::HashSet<std::sync::Arc<str>>,
    /// Key for secret random numbers (synproxy ISNs, syncookie secrets).
    secret: siphash::SecretRng,
    syncookies: syncookie::Syncookies,
    /// TCP states of ours whose initiator has not completed its handshake
    /// (pf_status.states_halfopen).
    halfopen: u64,
    /// A SYN rebuilt from a syncookie is being filtered.
    recreating: bool,
    /// The latest time (ms) a packet or a tick brought, for what happens
    /// without one (a ruleset load starting syncookies).
    clock: u64,
    /// Fragments held for reassembly, and their late verdicts.
    frags: frag::Fragments,
    /// The state the last packet `test` saw matched (its slot, and
    /// whether it went the way the state's first packet did), for the
    /// fast path (pfcore::fastpath).
    pub last_state: Option<(state::Slot, bool)>,
}

impl Engine {
    /// A disabled engine with no rules (everything passes), host id `hostid`
    /// (random unless `set hostid`), `seed` for port and id randomisation.
    pub fn new(hostid: u32, seed: u64) -> Engine {
        let mut timeouts = [0u32; TIMEOUT_COUNT];
        for t in Timeout::ALL {
            timeouts[t as usize] = t.default_value();
        }
        Engine {
            enabled: false,
            enabled_since: 0,
            rules: LoadedRules::default(),
            options: Options::default(),
            timeouts,
            limits: Limit::ALL.iter().map(|l| (*l, l.default_value())).collect(),
            states: StateTable::default(),
            tags: tag::TagTable::default(),
            osfp: OsfpDb::default(),
            status: Status::default(),
            sync: SyncQueue::new(crate::pfsync::DEFAULT_MAXUPD),
            ifaces: IfTable::default(),
            fib: Fib::default(),
            routing: route::Routing::default(),
            tables: Tables::new(),
            srcnodes: srcnode::SrcNodes::default(),
            matchlists: matchrules::MatchLists::default(),
            hostid: if hostid == 0 { 1 } else { hostid },
            next_id: 1,
            rng: seed | 1,
            checksum: "0".repeat(32),
            debug: status::DEBUG_DEFAULT,
            outbox: Vec::new(),
            notices: Vec::new(),
            bound_names: Default::default(),
            secret: siphash::SecretRng::new(seed, seed.rotate_left(32) ^ hostid as u64),
            syncookies: syncookie::Syncookies::default(),
            halfopen: 0,
            recreating: false,
            clock: 0,
            frags: frag::Fragments::default(),
            last_state: None,
        }
    }

    /// What pf has to tell since the last call (the caller logs it).
    /// Empty most of the time: taking nothing allocates nothing.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Packets pf decided to send outside any verdict (the RST of an
    /// expired synproxy state): the caller sends them.
    pub fn take_outgoing(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.outbox)
    }
    fn random(&mut self) -> u32 {
        // xorshift64*: only for spreading NAT ports and modulation offsets.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    /// `set skip` applies to a packet on `ifname` (interface `kif`).
    fn skipped(&self, kif: Option<KifId>, ifname: &str) -> bool {
        match kif {
            Some(k) => self.ifaces.skipped(k),
            // Not in the table yet: by name and driver group.
            None => self.options.skip.iter().any(|s| if_matches(s, ifname)),
        }
    }

    fn count(&mut self, r: Reason) {
        self.status.counters[r as usize] += 1;
    }

    /// Drop a packet for reason `r`, counted.
    fn dropped(&mut self, r: Reason) -> Verdict {
        self.count(r);
        Verdict::drop(r)
    }

    /// Filter one packet. `buf` holds the IP packet and may be rewritten.
    /// The verdict carries whatever packets pf sends in answer.
    pub fn test(&mut self, meta: &PacketMeta, buf: &mut [u8], now: u64) -> Verdict {
        self.clock = self.clock.max(now);
        self.last_state = None;
        let mut v = self.test_iface(meta, buf, now);
        logmark::fallback(&mut v);
        if !self.outbox.is_empty() {
            v.send.append(&mut self.outbox);
        }
        v
    }

    /// pf_test's interface part: the interface pf sees the packet on,
    /// `set skip`, the interface counters, and the receiving interface
    /// left in the mark for the `out` pass.
    fn test_iface(&mut self, meta: &PacketMeta, buf: &mut [u8], now: u64) -> Verdict {
        if !self.enabled {
            return Verdict::pass(false);
        }
        // The interface pf sees the packet on (a carp interface's carpdev),
        // by the engine's own name for it.
        let rcv = self.ifaces.lookup(meta.ifname);
        let kif = rcv.map(|i| self.ifaces.effective(i));
        let name = match kif.and_then(|k| self.ifaces.kif(k)) {
            Some(k) => IfName::new(&k.name),
            None => IfName::new(meta.ifname),
        };
        let m = PacketMeta {
            ifname: name.as_str(),
            ..*meta
        };
        let rcv_kif = rcv.and_then(|i| self.ifaces.kif(i));
        let lo = localhost::is_loopback_if(meta.ifname, rcv_kif.map(|k| k.index));
        if meta.dir == Dir::In && !lo && localhost::on_wire(buf) {
            // ip_input drops it before pf sees it (RFC 1122): no counter
            // of pf's counts it.
            return Verdict::drop(Reason::Normalize);
        }
        let slot = rcv_kif.map_or(0, |k| k.slot);
        let skipped = self.skipped(kif, meta.ifname);
        let len = iface::ip_len(buf);
        let released = self.frags.releases_len();
        let mut v = if skipped {
            Verdict::pass(false)
        } else {
            self.test_packet(&m, buf, now)
        };
        if let (Some(k), Some((v6, n)), false) = (kif, len, skipped) {
            // A held fragment counts as passed here (its verdict comes
            // with its datagram).
            let blocked = !v.pass && v.hold.is_none();
            self.ifaces.count(k, v6, m.dir == Dir::Out, blocked, n);
        }
        if m.dir == Dir::In {
            // On this packet and on the fragments its datagram released.
            mark_received(&mut v, buf, meta.mtag, slot, lo);
            self.frags.released_since(released, |r| {
                mark_received(&mut r.verdict, &r.bytes, meta.mtag, slot, lo)
            });
        }
        v
    }

    /// pf_test proper, past the interface checks (a SYN rebuilt from a
    /// syncookie comes back here). `meta.ifname` is the engine's name of
    /// the interface.
    fn test_packet(&mut self, meta: &PacketMeta, buf: &mut [u8], now: u64) -> Verdict {
        let pd = match describe(buf) {
            Ok(pd) => pd,
            // Not IP at all: pf never sees it; let it through.
            Err(PdError::NotIp) => return Verdict::pass(false),
            Err(e) => return self.dropped(frag::pd_reason(e)),
        };
        // pf_normalize_ip: header sanity, then fragments are queued for
        // reassembly (or filtered on their own with `set reassemble no`).
        let modified = match normalize::ip_header(buf, &pd, self.reassemble_no_df()) {
            Ok(m) => m,
            Err(r) => return self.dropped(r),
        };
        if pd.fragment {
            return self.test_fragment(meta, buf, pd, modified, now);
        }
        let mut v = self.test_whole(meta, buf, pd, now);
        v.modified |= modified && v.pass;
        v
    }

    /// A whole packet (or a reassembled datagram): pf_normalize_tcp, the
    /// state lookup, else the rules.
    pub(in crate::engine) fn test_whole(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        mut pd: Pd,
        now: u64,
    ) -> Verdict {
        let kif = self.ifaces.lookup(meta.ifname);
        let len = pd.tot_len as u64;
        self.status.searches += 1;
        let mut modified = false;
        if pd.proto == IPPROTO_TCP {
            match normalize::tcp_flags(buf, &mut pd) {
                Ok(m) => modified = m,
                Err(r) => return self.dropped(r),
            }
        }
        let mut v = match self.test_known(meta, buf, &mut pd, len, now) {
            Some(v) => v,
            None => self.test_rules(meta, kif, buf, pd, len, now),
        };
        v.modified |= modified && v.pass;
        v
    }
}

/// Remember the receiving interface (`slot`) for the `out` pass
/// (`received-on`) on a passed packet coming in, and flag what pf
/// redirected to the loopback network (not for packets on a loopback
/// interface, `lo`). `mtag`: the packet's mark as it came.
fn mark_received(v: &mut Verdict, pkt: &[u8], mtag: Mtag, slot: u8, lo: bool) {
    let mut t = v.mtag.unwrap_or(mtag);
    if v.pass && slot != 0 && t.in_slot != slot {
        t.in_slot = slot;
        v.mtag = Some(t);
    }
    v.localhost = v.pass && !lo && localhost::to_loopback(pkt);
}

/// The tables' clock: engine seconds.
pub fn table_now(now_ms: u64) -> u32 {
    (now_ms / 1000).min(u32::MAX as u64) as u32
}

#[cfg(test)]
mod ifroute_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_expiry;
#[cfg(test)]
mod tests_icmp;
#[cfg(test)]
mod tests_limiter;
#[cfg(test)]
mod tests_matchnat;
#[cfg(test)]
mod tests_pflog;
#[cfg(test)]
mod tests_srcnode;
#[cfg(test)]
mod tests_tags;

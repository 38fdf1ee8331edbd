//! The packet filter: `test(dir, interface, packet) -> verdict`. Rule
//! evaluation, the state table, TCP window tracking, NAT and rdr, block
//! return, timeouts, counters, and the feed of state changes for pfsync.
//! Pure: time (monotonic milliseconds) is passed in, there is no I/O; the
//! caller sends whatever reply packet a verdict carries.

pub mod af;
pub mod export;
pub mod mtag;
pub mod mtu;
pub mod nat;
pub mod packet;
pub mod reply;
pub mod route;
pub mod rules;
pub mod state;
pub mod status;
pub mod tcp;
pub mod translate;

use crate::addr::{Af, IpNet};
use crate::pfsync::queue::SyncQueue;
use crate::ruleset::{
    Action, BlockReturn, KeepState, Limit, Options, Rule, Ruleset, Timeout, TIMEOUT_COUNT,
};
use crate::wire::{icmp, icmpv6, IPPROTO_TCP};
pub use mtag::Mtag;
use packet::{describe, Dir, Pd, PdError};
use rules::{evaluate, if_matches, LoadedRules, Loader, MatchCtx};
use state::{tcps, StateKey, StateTable};
use status::{Reason, Status};
use std::collections::HashMap;
use translate::{set_end, set_seq_ack, End};

/// A state's log bits (as pfsync carries them): `log`, and `log (all)`
/// which logs every packet of the state, not only the first.
pub const LOG: u8 = 0x01;
pub const LOG_ALL: u8 = 0x02;

/// The pfsync state flag for `no-sync`.
pub const PFSTATE_NOSYNC: u16 = 0x0008;

/// What the caller knows about a packet besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct PacketMeta<'a> {
    pub dir: Dir,
    pub ifname: &'a str,
    /// Socket owner of locally generated packets, when known.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// What an earlier pass left on the packet (tag, receiving interface).
    pub mtag: Mtag,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub pass: bool,
    /// The packet bytes were rewritten (translation, modulation).
    pub modified: bool,
    /// A packet to send back (TCP RST / ICMP unreachable), IP header first.
    pub reply: Option<Vec<u8>>,
    /// A matching rule asked for logging.
    pub log: bool,
    pub reason: Reason,
    /// The deciding rule's number (None: the default rule or a state).
    pub rule: Option<u32>,
    /// A new pf header for the packet (it goes back as the packet mark);
    /// None leaves the mark alone.
    pub mtag: Option<Mtag>,
    /// Policy routing: what the data path does besides accept/drop (send
    /// again on another path, copy, queue, af-to); see [`route`].
    pub forward: route::Forward,
}

impl Verdict {
    fn pass(modified: bool) -> Verdict {
        Verdict {
            pass: true,
            modified,
            reply: None,
            log: false,
            reason: Reason::Match,
            rule: None,
            mtag: None,
            forward: route::Forward::Normal,
        }
    }
    fn drop(reason: Reason) -> Verdict {
        Verdict {
            pass: false,
            modified: false,
            reply: None,
            log: false,
            reason,
            rule: None,
            mtag: None,
            forward: route::Forward::Normal,
        }
    }

    /// Carry out a state's or rule's policy routing for a packet that
    /// passes: the route selector into the mark, the rest as `forward`.
    fn route(&mut self, sr: &route::StateRoute, fwd: bool, meta: &PacketMeta) {
        let (mark, forward) = sr.decide(fwd, meta.dir, meta.mtag.route);
        if let Some(sel) = mark {
            self.mtag = Some(Mtag {
                route: sel,
                ..self.mtag.unwrap_or(meta.mtag)
            });
        }
        self.forward = forward;
    }
}

/// Where packet ends map onto key positions: addr[0] is the remote end.
fn end_for(i: usize, dir: Dir) -> End {
    match (dir, i) {
        (Dir::In, 0) | (Dir::Out, 1) => End::Src,
        _ => End::Dst,
    }
}

/// Rewrite a packet that matched key `from` (seen in `dir`) so that it
/// carries key `to`.
fn rewrite_to_key(buf: &mut [u8], pd: &mut Pd, dir: Dir, from: &StateKey, to: &StateKey) -> bool {
    let mut changed = false;
    for i in 0..2 {
        if from.addr[i] != to.addr[i] || from.port[i] != to.port[i] {
            changed |= set_end(buf, pd, end_for(i, dir), to.addr[i], to.port[i]);
        }
    }
    changed
}

/// What the deciding rule says, copied out of it (no allocation on the
/// packet path).
#[derive(Debug, Clone, Copy)]
struct Decision {
    action: Action,
    block: BlockReturn,
    keep_state: KeepState,
    max_states: u32,
    no_sync: bool,
    if_bound: bool,
    /// LOG / LOG_ALL bits.
    log: u8,
    /// Policy routing a new state gets (set once the state is made).
    route: route::StateRoute,
}

impl Decision {
    fn of(r: &Rule) -> Decision {
        Decision {
            action: r.action,
            block: r.block,
            keep_state: r.keep_state,
            max_states: r.state_opts.max_states,
            no_sync: r.state_opts.no_sync,
            if_bound: r.state_opts.if_bound,
            log: if r.log.enabled {
                LOG | if r.log.all { LOG_ALL } else { 0 }
            } else {
                0
            },
            route: route::StateRoute::default(),
        }
    }
}

/// The packet a `block` rule sends back. The parser already turned a bare
/// `block` into `block return` under `set block-policy return`.
fn block_reply(how: BlockReturn, pd: &Pd, buf: &[u8]) -> Option<Vec<u8>> {
    let unreach = |code4, code6| {
        reply::icmp_unreach(
            pd,
            buf,
            if pd.af == Af::Inet { code4 } else { code6 },
            reply::DEFAULT_TTL,
        )
    };
    match how {
        BlockReturn::Drop => None,
        BlockReturn::ReturnRst { ttl } => {
            reply::tcp_rst(pd, if ttl == 0 { reply::DEFAULT_TTL } else { ttl })
        }
        BlockReturn::Return if pd.proto == IPPROTO_TCP => reply::tcp_rst(pd, reply::DEFAULT_TTL),
        BlockReturn::Return => unreach(icmp::UNREACH_PORT, icmpv6::UNREACH_NOPORT),
        BlockReturn::ReturnIcmp {
            icmp: (_, c4),
            icmp6: (_, c6),
        } => unreach(c4, c6),
    }
}

pub struct Engine {
    enabled: bool,
    enabled_since: u64,
    rules: LoadedRules,
    options: Options,
    timeouts: [u32; TIMEOUT_COUNT],
    limits: HashMap<Limit, u32>,
    pub states: StateTable,
    status: Status,
    pub sync: SyncQueue,
    /// Interface addresses, for `(if)` addresses and interface-group tests.
    pub ifaddrs: HashMap<String, Vec<IpNet>>,
    /// Route selectors and route pools (policy routing).
    routing: route::Routing,
    hostid: u32,
    next_id: u64,
    rng: u64,
    generation: u64,
    checksum: String,
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
            status: Status::default(),
            sync: SyncQueue::new(crate::pfsync::DEFAULT_MAXUPD),
            ifaddrs: HashMap::new(),
            routing: route::Routing::default(),
            hostid: if hostid == 0 { 1 } else { hostid },
            next_id: 1,
            rng: seed | 1,
            generation: 0,
            checksum: "0".repeat(32),
        }
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

    pub fn hostid(&self) -> u32 {
        self.hostid
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// `pfctl -e` / `-d`. Returns false if already in that state.
    pub fn set_enabled(&mut self, on: bool, now: u64) -> bool {
        if self.enabled == on {
            return false;
        }
        self.enabled = on;
        self.enabled_since = now;
        true
    }

    pub fn rules(&self) -> &LoadedRules {
        &self.rules
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn timeout_value(&self, t: Timeout) -> u32 {
        self.timeouts[t as usize]
    }

    pub fn limit(&self, l: Limit) -> u32 {
        self.limits
            .get(&l)
            .copied()
            .unwrap_or_else(|| l.default_value())
    }

    /// Swap in a new ruleset and options (the commit of a transaction).
    /// States keep working; their rule counters stay with the old rules.
    pub fn load(&mut self, rs: Ruleset, loader: Loader, checksum: String) {
        self.generation += 1;
        let o = rs.options;
        // What the new file does not set goes back to its default.
        for t in Timeout::ALL {
            self.timeouts[t as usize] = t.default_value();
        }
        self.limits = Limit::ALL.iter().map(|l| (*l, l.default_value())).collect();
        for (t, v) in &o.timeouts {
            self.timeouts[*t as usize] = *v;
        }
        for (l, v) in &o.limits {
            self.limits.insert(*l, *v);
            if *l == Limit::States {
                // pfctl derives the adaptive thresholds from the limit when
                // they are not set explicitly.
                if !o.timeouts.iter().any(|(t, _)| *t == Timeout::AdaptiveStart) {
                    self.timeouts[Timeout::AdaptiveStart as usize] = (*v as u64 * 6 / 10) as u32;
                }
                if !o.timeouts.iter().any(|(t, _)| *t == Timeout::AdaptiveEnd) {
                    self.timeouts[Timeout::AdaptiveEnd as usize] = (*v as u64 * 12 / 10) as u32;
                }
            }
        }
        if let Some(h) = o.hostid {
            if h != 0 {
                self.hostid = h;
            }
        }
        self.options = o;
        self.rules = LoadedRules::new(rs.rules, self.generation, loader);
        let in_use = self.selectors_in_use();
        self.routing.load(&self.rules.rules, &in_use);
        self.checksum = checksum;
    }

    /// Remove every rule (`pfctl -F rules`).
    pub fn flush_rules(&mut self, loader: Loader) {
        self.generation += 1;
        self.rules = LoadedRules::new(Vec::new(), self.generation, loader);
        let in_use = self.selectors_in_use();
        self.routing.load(&self.rules.rules, &in_use);
    }

    fn skipped(&self, ifname: &str) -> bool {
        self.options.skip.iter().any(|s| if_matches(s, ifname))
    }

    fn count(&mut self, r: Reason) {
        self.status.counters[r as usize] += 1;
    }

    /// Filter one packet. `buf` holds the IP packet and may be rewritten.
    pub fn test(&mut self, meta: &PacketMeta, buf: &mut [u8], now: u64) -> Verdict {
        if !self.enabled || self.skipped(meta.ifname) {
            return Verdict::pass(false);
        }
        let mut pd = match describe(buf) {
            Ok(pd) => pd,
            Err(e) => {
                let r = match e {
                    PdError::Short => Reason::Short,
                    PdError::BadOffset => Reason::BadOffset,
                    // Not IP at all: pf never sees it; let it through.
                    PdError::NotIp => return Verdict::pass(false),
                };
                self.count(r);
                return Verdict::drop(r);
            }
        };
        let len = pd.tot_len as u64;
        self.status.searches += 1;

        if pd.icmp.is_some_and(|i| i.is_error) {
            if let Some(v) = self.test_icmp_error(meta, buf, &mut pd) {
                return v;
            }
        } else if !pd.fragment || pd.proto != IPPROTO_TCP {
            let key = StateKey::from_pd(&pd, meta.dir);
            if let Some(slot) = self.states.lookup(&key, meta.dir) {
                if let Some(v) = self.test_state(meta, buf, &mut pd, slot, &key, len, now) {
                    return v;
                }
            }
        }
        self.test_rules(meta, buf, pd, len, now)
    }

    /// Evaluate the ruleset for a packet without a state.
    fn test_rules(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        mut pd: Pd,
        len: u64,
        now: u64,
    ) -> Verdict {
        let ctx = MatchCtx {
            dir: meta.dir,
            ifname: meta.ifname,
            uid: meta.uid,
            gid: meta.gid,
            ifaddrs: &self.ifaddrs,
        };
        let ev = evaluate(&mut self.rules, &pd, &ctx);
        let d = if meta.dir == Dir::In { 0 } else { 1 };
        let Some(ri) = ev.rule else {
            // The default rule: pass, no state (a match rule's rtable
            // still applies).
            let mut v = Verdict::pass(false);
            v.log = ev.log;
            if let Some(t) = ev.rtable {
                if let Some(sel) = self.routing.targets.get(route::Target::Table(t)) {
                    let sr = route::StateRoute {
                        rtable: Some(t),
                        rtable_sel: sel,
                        ..Default::default()
                    };
                    v.route(&sr, true, meta);
                }
            }
            return v;
        };
        let c = &mut self.rules.counters[ri];
        c.packets[d] += 1;
        c.bytes[d] += len;
        let mut r = Decision::of(&self.rules.rules[ri]);
        if r.action == Action::Block {
            self.count(Reason::Match);
            let mut v = Verdict::drop(Reason::Match);
            v.log = ev.log;
            v.rule = Some(ri as u32);
            v.reply = block_reply(r.block, &pd, buf);
            return v;
        }
        // Pass: its policy routing, then its translation.
        r.route = match self.state_route(ri, pd.af, ev.rtable) {
            Ok(sr) => sr,
            Err(reason) => {
                self.count(reason);
                return Verdict::drop(reason);
            }
        };
        if let Some(naf) = self.rules.rules[ri].extras.af_to {
            if meta.dir == Dir::In {
                let mut v = self.test_rules_afto(meta, buf, pd, ri, &r, naf, len, now);
                v.log |= ev.log;
                return v;
            }
        }
        let orig = pd;
        let mut translated = pd;
        let target = match meta.dir {
            Dir::Out => ev.nat.map(|i| {
                self.nat_target(i, &pd, meta.dir)
                    .map(|(a, p)| (End::Src, a, p))
            }),
            Dir::In => ev
                .rdr
                .map(|i| self.rdr_target(i, &pd).map(|(a, p)| (End::Dst, a, p))),
        };
        match target {
            None => {}
            Some(None) => {
                self.count(Reason::Translate);
                return Verdict::drop(Reason::Translate);
            }
            Some(Some((End::Src, a, p))) => {
                translated.src = a;
                translated.sport = p;
            }
            Some(Some((End::Dst, a, p))) => {
                translated.dst = a;
                translated.dport = p;
            }
        }
        let mut modified = false;
        if r.keep_state != KeepState::None && !pd.fragment {
            match self.create_state(meta, &r, ri, &orig, &translated, len, now) {
                Ok(seqdiff) => {
                    if seqdiff != 0 {
                        if let Some(t) = orig.tcp {
                            set_seq_ack(buf, &pd, Some(t.seq.wrapping_add(seqdiff)), None);
                            modified = true;
                        }
                    }
                }
                Err(reason) => {
                    self.count(reason);
                    return Verdict::drop(reason);
                }
            }
        }
        if translated.src != orig.src || translated.sport != orig.sport {
            modified |= set_end(buf, &mut pd, End::Src, translated.src, translated.sport);
        }
        if translated.dst != orig.dst || translated.dport != orig.dport {
            modified |= set_end(buf, &mut pd, End::Dst, translated.dst, translated.dport);
        }
        let mut v = Verdict::pass(modified);
        v.log = ev.log;
        v.rule = Some(ri as u32);
        v.route(&r.route, true, meta);
        v
    }

    pub fn status(&self, now: u64) -> Status {
        let mut s = self.status.clone();
        s.running = self.enabled;
        s.uptime_secs = if self.enabled {
            now.saturating_sub(self.enabled_since) / 1000
        } else {
            0
        };
        s.states = self.states.len() as u64;
        s.half_open_tcp = self
            .states
            .all_slots()
            .filter_map(|sl| self.states.get(sl))
            .filter(|st| {
                st.key[0].proto == IPPROTO_TCP
                    && (st.src.state < tcps::ESTABLISHED || st.dst.state < tcps::ESTABLISHED)
            })
            .count() as u64;
        s.hostid = self.hostid;
        s.checksum = self.checksum.clone();
        s.debug = self.options.debug.clone().unwrap_or_else(|| "err".into());
        s.loginterface = self.options.loginterface.clone();
        s
    }

    /// `pfctl -F info`: reset the status counters.
    pub fn clear_status(&mut self) {
        self.status = Status::default();
    }

    /// `pfctl -z`: reset every rule's evaluations, packets and bytes.
    pub fn clear_rule_counters(&mut self) {
        for c in &mut self.rules.counters {
            c.evaluations = 0;
            c.packets = [0; 2];
            c.bytes = [0; 2];
        }
    }

    /// Timeouts in effect, index order.
    pub fn timeouts(&self) -> [u32; TIMEOUT_COUNT] {
        self.timeouts
    }

    /// Limits in effect, `pfctl -sm` order.
    pub fn limits(&self) -> Vec<(Limit, u32)> {
        Limit::ALL.iter().map(|l| (*l, self.limit(*l))).collect()
    }
}

#[cfg(test)]
mod tests;

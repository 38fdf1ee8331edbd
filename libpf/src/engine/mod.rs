//! The packet filter: `test(dir, interface, packet) -> verdict`. Rule
//! evaluation, the state table, TCP window tracking, NAT and rdr, block
//! return, timeouts, counters, and the feed of state changes for pfsync.
//! Pure: time (monotonic milliseconds) is passed in, there is no I/O; the
//! caller sends whatever reply packet a verdict carries.

pub mod export;
pub mod packet;
pub mod reply;
pub mod rules;
pub mod state;
pub mod status;
pub mod tcp;
pub mod translate;

use crate::addr::{Af, IpNet};
use crate::pfsync::queue::SyncQueue;
use crate::ruleset::{
    Action, AddrKind, BlockReturn, KeepState, Limit, Options, Pool, Rule, Ruleset, Timeout,
    TIMEOUT_COUNT,
};
use crate::wire::{
    icmp, icmpv6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_PFSYNC, IPPROTO_TCP, IPPROTO_UDP,
};
use packet::{describe, Dir, Pd, PdError};
use rules::{evaluate, if_matches, LoadedRules, Loader, MatchCtx};
use state::{tcps, udps, Peer, Slot, State, StateKey, StateTable, SyncMeta, SK_STACK, SK_WIRE};
use status::{Reason, Status};
use std::collections::HashMap;
use std::net::IpAddr;
use translate::{set_end, set_seq_ack, End};

/// Port range pf picks translated source ports (and ICMP ids) from.
pub const NAT_PORT_LOW: u16 = 50001;
pub const NAT_PORT_HIGH: u16 = 65535;

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
        }
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

/// The first usable address of a pool for a packet of family `af`; a
/// network pool keeps the host part of `hint` (bitmask).
fn pool_addr(
    pool: &Pool,
    ifaddrs: &HashMap<String, Vec<IpNet>>,
    af: Af,
    hint: &IpAddr,
) -> Option<IpAddr> {
    pool.addrs.iter().find_map(|a| match a {
        AddrKind::Net(n) if n.af() == af => Some(if n.is_host() {
            n.addr
        } else {
            match (n.network(), hint) {
                (IpAddr::V4(net), IpAddr::V4(h)) => {
                    let m = crate::addr::v4_mask(n.prefix);
                    IpAddr::V4((u32::from(net) | (u32::from(*h) & !m)).into())
                }
                (IpAddr::V6(net), IpAddr::V6(h)) => {
                    let m = crate::addr::v6_mask(n.prefix);
                    IpAddr::V6((u128::from(net) | (u128::from(*h) & !m)).into())
                }
                _ => return None,
            }
        }),
        AddrKind::Dynamic { ifname, .. } => ifaddrs
            .get(ifname)
            .and_then(|v| v.iter().find(|n| n.af() == af))
            .map(|n| n.addr),
        _ => None,
    })
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
        self.checksum = checksum;
    }

    /// Remove every rule (`pfctl -F rules`).
    pub fn flush_rules(&mut self, loader: Loader) {
        self.generation += 1;
        self.rules = LoadedRules::new(Vec::new(), self.generation, loader);
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

    /// A packet of an existing state. None: the state was removed (a new
    /// SYN on a closed connection) and the rules decide.
    #[allow(clippy::too_many_arguments)]
    fn test_state(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        pd: &mut Pd,
        slot: Slot,
        key: &StateKey,
        len: u64,
        now: u64,
    ) -> Option<Verdict> {
        let random = self.random();
        let st = self.states.get_mut(slot)?;
        let dir = meta.dir;
        let mut modulation = tcp::Modulation::default();
        match (pd.proto, pd.tcp) {
            (IPPROTO_TCP, Some(t)) => {
                let (src, dst) = st.peers_mut(dir);
                if t.flags & (crate::wire::tcp::SYN | crate::wire::tcp::ACK)
                    == crate::wire::tcp::SYN
                    && src.state >= tcps::FIN_WAIT_2
                    && dst.state >= tcps::FIN_WAIT_2
                {
                    // The connection is over and a new one reuses the ports.
                    self.remove_state(slot, now, true);
                    return None;
                }
                match tcp::track_full(src, dst, &t, pd.p_len, random, &mut modulation) {
                    tcp::Track::Pass { timeout, refresh } => {
                        if let Some(to) = timeout {
                            st.timeout = to;
                        }
                        if refresh {
                            st.expire = now;
                        }
                    }
                    tcp::Track::Drop { send_rst } => {
                        self.count(Reason::StateMismatch);
                        let mut v = Verdict::drop(Reason::StateMismatch);
                        if send_rst {
                            v.reply = reply::tcp_rst(pd, reply::DEFAULT_TTL);
                        }
                        return Some(v);
                    }
                }
            }
            (IPPROTO_ICMP, _) | (IPPROTO_ICMPV6, _) => {
                st.expire = now;
                st.timeout = Timeout::IcmpError;
            }
            (proto, _) => {
                let (src, dst) = st.peers_mut(dir);
                if src.state < udps::SINGLE {
                    src.state = udps::SINGLE;
                }
                if dst.state == udps::SINGLE {
                    dst.state = udps::MULTIPLE;
                }
                let both = src.state == udps::MULTIPLE && dst.state == udps::MULTIPLE;
                st.expire = now;
                st.timeout = match (proto == IPPROTO_UDP, both) {
                    (true, true) => Timeout::UdpMultiple,
                    (true, false) => Timeout::UdpSingle,
                    (false, true) => Timeout::OtherMultiple,
                    (false, false) => Timeout::OtherSingle,
                };
            }
        }
        let ci = st.counter_index(dir);
        st.packets[ci] += 1;
        st.bytes[ci] += len;
        let (from, to) = match dir {
            Dir::In => (st.key[SK_WIRE], st.key[SK_STACK]),
            Dir::Out => (st.key[SK_STACK], st.key[SK_WIRE]),
        };
        debug_assert_eq!(from, *key);
        let sref = (st.id, st.creatorid);
        let tcp_state = st.key[0].proto == IPPROTO_TCP;
        let syncable = !st.sync.no_sync && st.key[0].proto != IPPROTO_PFSYNC;
        let peer_recent = st
            .sync
            .peer_updated
            .is_some_and(|t| now.saturating_sub(t) < crate::pfsync::queue::PEER_RECENT_MS);
        let (rule, gen, log) = (st.rule, st.rule_gen, st.log & LOG_ALL != 0);
        if rule.is_some() && gen == self.rules.generation {
            if let Some(c) = rule.and_then(|r| self.rules.counters.get_mut(r as usize)) {
                let d = if dir == Dir::In { 0 } else { 1 };
                c.packets[d] += 1;
                c.bytes[d] += len;
            }
        }
        let mut modified = false;
        if modulation != tcp::Modulation::default() {
            set_seq_ack(buf, pd, modulation.seq, modulation.ack);
            modified = true;
        }
        modified |= rewrite_to_key(buf, pd, dir, &from, &to);
        if syncable {
            self.sync.update(sref, tcp_state, peer_recent, now);
        }
        let mut v = Verdict::pass(modified);
        v.log = log;
        Some(v)
    }

    /// ICMP errors belong to the state of the packet they quote. None: no
    /// such state, the rules decide.
    fn test_icmp_error(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        pd: &mut Pd,
    ) -> Option<Verdict> {
        let inner_off = pd.l4_off + 8;
        let inner = buf.get(inner_off..pd.tot_len)?;
        let ipd = packet::describe_quoted(inner).ok()?;
        if ipd.af != pd.af {
            return None;
        }
        // The quoted packet travelled the other way.
        let idir = match meta.dir {
            Dir::In => Dir::Out,
            Dir::Out => Dir::In,
        };
        // Its key is built in its own direction, but it is looked up (and
        // translated) in the role of the packet carrying it, as pf does.
        let key = StateKey::from_pd(&ipd, idir);
        let slot = self.states.lookup(&key, meta.dir)?;
        let st = self.states.get_mut(slot)?;
        let (from, to) = match meta.dir {
            Dir::In => (st.key[SK_WIRE], st.key[SK_STACK]),
            Dir::Out => (st.key[SK_STACK], st.key[SK_WIRE]),
        };
        if from == to {
            return Some(Verdict::pass(false));
        }
        // Rewrite the quoted packet, then the outer address that mirrors
        // each changed inner end, then the ICMP checksum from scratch.
        let mut ipd_m = ipd;
        let tot = pd.tot_len;
        for i in 0..2 {
            if from.addr[i] != to.addr[i] || from.port[i] != to.port[i] {
                let e = end_for(i, idir);
                set_end(
                    &mut buf[inner_off..tot],
                    &mut ipd_m,
                    e,
                    to.addr[i],
                    to.port[i],
                );
                let outer = match e {
                    End::Src => End::Dst,
                    End::Dst => End::Src,
                };
                let port = match outer {
                    End::Src => pd.sport,
                    End::Dst => pd.dport,
                };
                set_end(buf, pd, outer, to.addr[i], port);
            }
        }
        translate::refill_icmp_checksum(buf, pd);
        Some(Verdict::pass(true))
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
            // The default rule: pass, no state.
            let mut v = Verdict::pass(false);
            v.log = ev.log;
            return v;
        };
        let c = &mut self.rules.counters[ri];
        c.packets[d] += 1;
        c.bytes[d] += len;
        let r = Decision::of(&self.rules.rules[ri]);
        if r.action == Action::Block {
            self.count(Reason::Match);
            let mut v = Verdict::drop(Reason::Match);
            v.log = ev.log;
            v.rule = Some(ri as u32);
            v.reply = block_reply(r.block, &pd, buf);
            return v;
        }
        // Pass. Work out the translation.
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
        v
    }

    /// Source address and port for the `nat-to` of rule `ri`: a free port
    /// from the proxy range (50001-65535 by default) unless `static-port`.
    fn nat_target(&mut self, ri: usize, pd: &Pd, dir: Dir) -> Option<(IpAddr, u16)> {
        let start = self.random();
        let pool = self.rules.rules.get(ri)?.nat_to.as_ref()?;
        let addr = pool_addr(pool, &self.ifaddrs, pd.af, &pd.src)?;
        let ported = pd.has_ports() || pd.icmp.is_some_and(|i| !i.is_error && i.id_is_sport);
        if !ported || pool.static_port {
            return Some((addr, pd.sport));
        }
        let (lo, hi) = match pool.proxy_port {
            (0, 0) => (NAT_PORT_LOW, NAT_PORT_HIGH),
            (a, 0) => (a, a),
            (a, b) => (a.min(b), a.max(b)),
        };
        let span = (hi - lo) as u32 + 1;
        let start = start % span;
        (0..span)
            .map(|i| lo + ((start + i) % span) as u16)
            .find_map(|port| {
                let mut t = *pd;
                t.src = addr;
                t.sport = port;
                (!self.states.key_in_use(&StateKey::from_pd(&t, dir))).then_some((addr, port))
            })
    }

    /// Destination for the `rdr-to` of rule `ri`: the pool address, and its
    /// port if given.
    fn rdr_target(&self, ri: usize, pd: &Pd) -> Option<(IpAddr, u16)> {
        let pool = self.rules.rules.get(ri)?.rdr_to.as_ref()?;
        let addr = pool_addr(pool, &self.ifaddrs, pd.af, &pd.dst)?;
        let port = match pool.proxy_port {
            (0, _) => pd.dport,
            (a, _) => a,
        };
        Some((addr, if pd.has_ports() { port } else { pd.dport }))
    }

    /// pf_create_state. Returns the modulation offset applied to the
    /// packet's sequence number (0 without `modulate state`).
    #[allow(clippy::too_many_arguments)]
    fn create_state(
        &mut self,
        meta: &PacketMeta,
        r: &Decision,
        ri: usize,
        orig: &Pd,
        translated: &Pd,
        len: u64,
        now: u64,
    ) -> Result<u32, Reason> {
        if self.states.len() as u64 >= self.limit(Limit::States) as u64 {
            return Err(Reason::Memory);
        }
        if r.max_states != 0 {
            if let Some(c) = self.rules.counters.get(ri) {
                if c.states_cur >= r.max_states {
                    self.status.limit_counters[0] += 1;
                    return Err(Reason::StateLimit);
                }
            }
        }
        let dir = meta.dir;
        let pre = StateKey::from_pd(orig, dir);
        let post = StateKey::from_pd(translated, dir);
        let (wire, stack) = match dir {
            Dir::In => (pre, post),
            Dir::Out => (post, pre),
        };
        let mut seqdiff = 0;
        let (src, dst, timeout) = match (orig.proto, orig.tcp) {
            (IPPROTO_TCP, Some(t)) => {
                if r.keep_state == KeepState::Modulate
                    && t.flags & (crate::wire::tcp::SYN | crate::wire::tcp::ACK)
                        == crate::wire::tcp::SYN
                {
                    loop {
                        seqdiff = self.random().wrapping_sub(t.seq);
                        if seqdiff != 0 {
                            break;
                        }
                    }
                }
                let (s, d) = tcp::create_peers(&t, orig.p_len, seqdiff);
                (s, d, Timeout::TcpFirst)
            }
            (IPPROTO_ICMP, _) | (IPPROTO_ICMPV6, _) => {
                (Peer::default(), Peer::default(), Timeout::IcmpFirst)
            }
            // UDP and other protocols: the same pseudo-state machine
            (proto, _) => (
                Peer {
                    state: udps::SINGLE,
                    ..Peer::default()
                },
                Peer {
                    state: udps::NO_TRAFFIC,
                    ..Peer::default()
                },
                if proto == IPPROTO_UDP {
                    Timeout::UdpFirst
                } else {
                    Timeout::OtherFirst
                },
            ),
        };
        let id = self.next_id;
        self.next_id += 1;
        let no_sync = r.no_sync;
        let st = State {
            id,
            creatorid: self.hostid,
            key: [wire, stack],
            direction: dir,
            ifname: r.if_bound.then(|| meta.ifname.to_string()),
            rule: Some(ri as u32),
            rule_gen: self.rules.generation,
            src,
            dst,
            timeout,
            creation: now,
            expire: now,
            packets: [1, 0],
            bytes: [len, 0],
            log: r.log,
            state_flags: if no_sync { PFSTATE_NOSYNC } else { 0 },
            sync: SyncMeta {
                peer_updated: None,
                no_sync,
            },
            seq: 0,
        };
        if self.states.insert(st).is_err() {
            return Err(Reason::StateInsert);
        }
        self.status.inserts += 1;
        if let Some(c) = self.rules.counters.get_mut(ri) {
            c.states_cur += 1;
            c.states_tot += 1;
        }
        if !no_sync && orig.proto != IPPROTO_PFSYNC {
            self.sync.insert((id, self.hostid), now);
        }
        Ok(seqdiff)
    }

    /// Remove a state; `announce` queues a pfsync delete for it.
    pub fn remove_state(&mut self, slot: Slot, now: u64, announce: bool) -> Option<State> {
        let st = self.states.remove(slot)?;
        self.status.removals += 1;
        if st.rule_gen == self.rules.generation {
            if let Some(c) = st
                .rule
                .and_then(|r| self.rules.counters.get_mut(r as usize))
            {
                c.states_cur = c.states_cur.saturating_sub(1);
            }
        }
        if announce && !st.sync.no_sync && st.key[0].proto != IPPROTO_PFSYNC {
            self.sync.delete((st.id, st.creatorid), now);
        }
        Some(st)
    }

    /// The timeout (seconds) governing a state now, adaptive scaling applied.
    pub fn state_timeout_secs(&self, st: &State) -> u64 {
        let mut t = self.timeouts[st.timeout as usize] as u64;
        if st.rule_gen == self.rules.generation {
            if let Some(r) = st.rule.and_then(|i| self.rules.rules.get(i as usize)) {
                if let Some((_, v)) = r.state_opts.timeouts.iter().find(|(k, _)| *k == st.timeout) {
                    t = *v as u64;
                }
            }
        }
        let start = self.timeouts[Timeout::AdaptiveStart as usize] as u64;
        let end = self.timeouts[Timeout::AdaptiveEnd as usize] as u64;
        let n = self.states.len() as u64;
        if end > start && start > 0 && n > start {
            if n >= end {
                return 0;
            }
            t = t * (end - n) / (end - start);
        }
        t
    }

    /// When (ms) a state expires.
    pub fn expires_at(&self, st: &State) -> u64 {
        st.expire + self.state_timeout_secs(st) * 1000
    }

    /// Drop expired states (pf_purge_expired_states). Returns how many.
    pub fn purge(&mut self, now: u64) -> usize {
        let expired: Vec<Slot> = self
            .states
            .all_slots()
            .filter(|&s| {
                self.states
                    .get(s)
                    .is_some_and(|st| self.expires_at(st) <= now)
            })
            .collect();
        let n = expired.len();
        for s in expired {
            self.remove_state(s, now, true);
        }
        n
    }

    /// `pfctl -F states` (or `-k`): remove the states `pred` selects.
    pub fn kill_states(
        &mut self,
        now: u64,
        announce: bool,
        pred: impl Fn(&State) -> bool,
    ) -> usize {
        let slots: Vec<Slot> = self
            .states
            .all_slots()
            .filter(|&s| self.states.get(s).is_some_and(&pred))
            .collect();
        let n = slots.len();
        for s in slots {
            self.remove_state(s, now, announce);
        }
        n
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

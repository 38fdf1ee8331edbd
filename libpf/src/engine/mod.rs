//! The packet filter: `test(dir, interface, packet) -> verdict`. Rule
//! evaluation, the state table, TCP window tracking, NAT and rdr, block
//! return, timeouts, counters, and the feed of state changes for pfsync.
//! Pure: time (monotonic milliseconds) is passed in, there is no I/O; the
//! caller sends whatever reply packet a verdict carries, and the packets
//! pf sends on its own (`Verdict::send`, `take_outgoing`).

pub mod export;
pub mod mtag;
pub mod nat;
pub mod packet;
pub mod reply;
pub mod rules;
pub mod rulestate;
pub mod siphash;
pub mod state;
pub mod status;
pub mod syncookie;
pub mod synproxy;
pub mod table;
pub mod tag;
pub mod tcp;
pub mod translate;

use crate::addr::{Af, IpNet};
use crate::osfp::{FpEntry, OsfpDb};
use crate::pfsync::queue::SyncQueue;
use crate::ruleset::{
    Action, BlockReturn, KeepState, Limit, Options, Rule, Ruleset, SyncookiesMode, Timeout,
    TIMEOUT_COUNT,
};
use crate::wire::{icmp, icmpv6, IPPROTO_TCP};
pub use mtag::Mtag;
use packet::{describe, Dir, Pd, PdError};
use rules::{evaluate, if_matches, LoadedRules, Loader, MatchCtx};
use rulestate::RuleStates;
use state::{StateKey, StateTable};
use status::{Reason, Status};
use std::collections::HashMap;
use std::net::IpAddr;
use table::{Limits, Shadow, TableError, Tables};
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

/// Which way a packet pf sends travels, relative to the packet that made
/// pf send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    /// Back to where the packet came from (a SYN|ACK to the client). For
    /// a packet pf sends on its own timer, to the connection's initiator.
    Sender,
    /// On towards where the packet was going (the SYN to the server).
    Destination,
}

/// A packet pf sends on its own (OpenBSD's pf_send_tcp): synproxy and
/// syncookie handshakes, the RST of a proxied connection that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The whole IP packet, header first, checksums filled.
    pub packet: Vec<u8>,
    pub toward: Toward,
    /// The packet mark to send it with (see `mtag`): the generated bit for
    /// packets pf must not filter again, 0 for packets that go through
    /// pf's `out` pass like anything else the host sends (the SYN and ACK
    /// a synproxy sends the server, which make its state there).
    pub mark: u32,
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
    /// Packets to send besides this one, in order, after the verdict
    /// (raw sockets, each with its own mark).
    pub send: Vec<Outgoing>,
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
            send: Vec::new(),
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
            send: Vec::new(),
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
    /// The tag the evaluation ended with (pf's `ctx.tag`), 0 = none: a
    /// state made here carries it.
    tag: u16,
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
            tag: 0,
        }
    }
}

/// The systems the OS fingerprint of a TCP SYN names (pf_osfp_fingerprint).
fn os_of<'a>(db: &'a OsfpDb, pd: &Pd, buf: &[u8]) -> Option<&'a [(crate::osfp::OsId, usize)]> {
    let t = pd.tcp.filter(|_| pd.proto == IPPROTO_TCP && !pd.fragment)?;
    let ip = crate::osfp::IpFacts {
        len: pd.tot_len as u16,
        ttl: pd.ttl,
        df: pd.af == Af::Inet && buf.get(6).is_some_and(|b| b & 0x40 != 0),
        v6: pd.af == Af::Inet6,
    };
    let sig = crate::osfp::packet_signature(ip, buf.get(pd.l4_off..pd.l4_off + t.hdr_len)?)?;
    db.lookup(&sig)
}

/// Give a passed packet tag `tag` (pf_tag_packet): its pf header goes back
/// as the packet mark. 0 leaves the packet's tag alone.
pub(in crate::engine) fn tag_packet(v: &mut Verdict, meta: &PacketMeta, tag: u16) {
    if tag == 0 {
        return;
    }
    let mut m = v.mtag.unwrap_or(meta.mtag);
    if m.tag != tag {
        m.tag = tag;
        v.mtag = Some(m);
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
    /// Tag names in use by rules and states (`tag`, `tagged`).
    pub tags: tag::TagTable,
    /// The OS fingerprints `os` rules match against (pf.os).
    osfp: OsfpDb,
    status: Status,
    pub sync: SyncQueue,
    /// Interface addresses, for `(if)` addresses and interface-group tests.
    pub ifaddrs: HashMap<String, Vec<IpNet>>,
    /// Address tables (`table <t>`), see `table`.
    pub tables: Tables,
    hostid: u32,
    next_id: u64,
    rng: u64,
    generation: u64,
    checksum: String,
    /// pf's debug level (a syslog priority): `set debug`, `pfctl -x`.
    debug: u8,
    /// Packets pf sends on its own, waiting for the caller.
    outbox: Vec<Outgoing>,
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
            ifaddrs: HashMap::new(),
            tables: Tables::new(),
            hostid: if hostid == 0 { 1 } else { hostid },
            next_id: 1,
            rng: seed | 1,
            generation: 0,
            checksum: "0".repeat(32),
            debug: status::DEBUG_DEFAULT,
            outbox: Vec::new(),
            secret: siphash::SecretRng::new(seed, seed.rotate_left(32) ^ hostid as u64),
            syncookies: syncookie::Syncookies::default(),
            halfopen: 0,
            recreating: false,
            clock: 0,
        }
    }

    /// Key the secret random numbers (synproxy sequence numbers, syncookie
    /// secrets) from the kernel's randomness; the seed of `new` is only a
    /// fallback.
    pub fn set_secret(&mut self, k0: u64, k1: u64) {
        self.secret = siphash::SecretRng::new(k0, k1);
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

    /// DIOCSETDEBUG (`pfctl -x`).
    pub fn set_debug(&mut self, level: u8) {
        self.debug = level.min(7);
    }

    pub fn debug_level(&self) -> u8 {
        self.debug
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

    /// Swap in a new ruleset and options. States keep working; their rule
    /// counters stay with the old rules. (No tables are defined and no
    /// limit is checked: `commit` is what pfctl's load goes through.)
    pub fn load(&mut self, rs: Ruleset, loader: Loader, checksum: String) {
        let rules = LoadedRules::new(rs.rules, self.generation + 1, loader);
        self.install(rs.options, rules, Vec::new(), checksum, 0);
    }

    /// The commit of a transaction: the ruleset, its options and the
    /// tables it defines, all or nothing. Fails, changing nothing, when
    /// the tables would exceed `set limit tables` / `table-entries` (the
    /// new ruleset's limits).
    pub fn commit(
        &mut self,
        rs: Ruleset,
        tables: Vec<Shadow>,
        loader: Loader,
        checksum: String,
        now: u64,
    ) -> Result<(), TableError> {
        let limits = Limits {
            tables: limit_in(&rs.options, Limit::Tables),
            entries: limit_in(&rs.options, Limit::TableEntries),
        };
        let rules = LoadedRules::new(rs.rules, self.generation + 1, loader);
        self.tables
            .check_commit(&tables, &rules.table_refs(), true, limits)?;
        self.install(rs.options, rules, tables, checksum, now);
        Ok(())
    }

    /// `pfctl -T load`: define tables, leave the rules alone.
    pub fn commit_tables(&mut self, tables: Vec<Shadow>, now: u64) -> Result<(), TableError> {
        self.tables
            .check_commit(&tables, &[], false, self.table_limits())?;
        self.tables.commit(tables, table_now(now));
        Ok(())
    }

    /// The table limits in effect.
    pub fn table_limits(&self) -> Limits {
        Limits {
            tables: self.limit(Limit::Tables),
            entries: self.limit(Limit::TableEntries),
        }
    }

    fn install(
        &mut self,
        o: Options,
        mut rules: LoadedRules,
        tables: Vec<Shadow>,
        checksum: String,
        now: u64,
    ) {
        self.generation += 1;
        rules.generation = self.generation;
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
        // Like pfctl, a ruleset changes the debug level only if it sets it.
        if let Some(level) = o.debug.as_deref().and_then(status::debug_level) {
            self.debug = level;
        }
        if let Some(h) = o.hostid {
            if h != 0 && h != self.hostid {
                self.hostid = h;
                self.halfopen_recount();
            }
        }
        let limit = self.limit(Limit::States);
        self.syncookies_configure(
            o.syncookies.unwrap_or(SyncookiesMode::Never),
            o.syncookies_watermarks,
            limit,
            self.clock,
        );
        self.options = o;
        // Tables the new rules name exist before the definitions commit
        // (so a definition without `persist` stays when a rule uses it);
        // the old rules let go of theirs last (install_rules).
        let secs = table_now(now);
        rules.attach_tables(&mut self.tables, secs);
        self.tables.commit(tables, secs);
        self.install_rules(rules);
        self.checksum = checksum;
    }

    /// Make `lr` the running ruleset: its rules' tags get numbers, the
    /// replaced ruleset's are given back.
    fn install_rules(&mut self, mut lr: LoadedRules) {
        let seed = (self.random() as u64) << 32 | self.random() as u64;
        lr.run = RuleStates::bind(&lr.rules, &mut self.tags, &self.osfp, seed, 0);
        let mut old = std::mem::replace(&mut self.rules, lr);
        old.run.release(&mut self.tags);
        old.detach_tables(&mut self.tables);
    }

    /// DIOCOSFPFLUSH: no OS fingerprints; `os` rules then match only
    /// `unknown`.
    pub fn flush_fingerprints(&mut self) {
        self.osfp = OsfpDb::default();
        self.rules.run.rebind_os(&self.rules.rules, &self.osfp);
    }

    /// DIOCOSFPADD: more OS fingerprints; the rules' `os` names are
    /// resolved again. Returns what was refused as a duplicate.
    pub fn add_fingerprints(&mut self, entries: Vec<FpEntry>) -> Vec<String> {
        let dups = entries
            .into_iter()
            .filter_map(|e| self.osfp.add(e).err().map(|d| d.0))
            .collect();
        self.rules.run.rebind_os(&self.rules.rules, &self.osfp);
        dups
    }

    /// DIOCOSFPGET: the loaded fingerprints.
    pub fn fingerprints(&self) -> &[FpEntry] {
        self.osfp.entries()
    }

    /// Would the tag names of `rules` fit in the tag table next to the ones
    /// in use? (pf refuses a rule whose tag gets no number.)
    pub fn tags_fit(&self, rules: &[Rule]) -> bool {
        let mut new: Vec<&str> = RuleStates::tag_names(rules)
            .filter(|n| self.tags.id(n).is_none())
            .collect();
        new.sort_unstable();
        new.dedup();
        self.tags.len() + new.len() <= tag::TAGID_MAX as usize
    }

    /// Remove every rule (`pfctl -F rules`).
    pub fn flush_rules(&mut self, loader: Loader) {
        self.generation += 1;
        self.install_rules(LoadedRules::new(Vec::new(), self.generation, loader));
    }

    fn skipped(&self, ifname: &str) -> bool {
        self.options.skip.iter().any(|s| if_matches(s, ifname))
    }

    fn count(&mut self, r: Reason) {
        self.status.counters[r as usize] += 1;
    }

    /// Filter one packet. `buf` holds the IP packet and may be rewritten.
    /// The verdict carries whatever packets pf sends in answer.
    pub fn test(&mut self, meta: &PacketMeta, buf: &mut [u8], now: u64) -> Verdict {
        self.clock = self.clock.max(now);
        let mut v = self.test_packet(meta, buf, now);
        if !self.outbox.is_empty() {
            v.send.append(&mut self.outbox);
        }
        v
    }

    /// pf_test proper (a SYN rebuilt from a syncookie comes back here).
    fn test_packet(&mut self, meta: &PacketMeta, buf: &mut [u8], now: u64) -> Verdict {
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
            if let Some(v) = self.test_icmp_error(meta, buf, &mut pd, len, now) {
                return v;
            }
        } else if !pd.fragment || pd.proto != IPPROTO_TCP {
            if let Some(v) = self.syncookie_syn(meta, &pd, now) {
                return v;
            }
            let key = StateKey::from_pd(&pd, meta.dir);
            let mut slot = self.states.lookup(&key, meta.dir);
            if pd.proto == IPPROTO_TCP {
                slot = match self.syncookie_ack(meta, &pd, &key, slot, now) {
                    Ok(s) => s,
                    Err(v) => return v,
                };
            }
            if let Some(slot) = slot {
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
            tables: &self.tables,
            tag: meta.mtag.tag,
            now,
            os: if self.rules.run.uses_os() {
                os_of(&self.osfp, &pd, buf)
            } else {
                None
            },
        };
        let ev = evaluate(&mut self.rules, &pd, &ctx);
        let d = if meta.dir == Dir::In { 0 } else { 1 };
        let Some(ri) = ev.rule else {
            // The default rule: pass, no state (a `match` rule's tag still
            // goes on the packet).
            let mut v = Verdict::pass(false);
            v.log = ev.log;
            tag_packet(&mut v, meta, ev.tag.unwrap_or(0));
            return v;
        };
        let c = &mut self.rules.counters[ri];
        c.packets[d] += 1;
        c.bytes[d] += len;
        let mut r = Decision::of(&self.rules.rules[ri]);
        r.tag = ev.tag.unwrap_or(0);
        if r.action == Action::Block {
            self.count(Reason::Match);
            self.table_stats(ri, &pd.src, &pd.dst, meta.dir, table::OP_BLOCK, len);
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
        if r.keep_state != KeepState::None && !pd.fragment && !rules::icmp_makes_no_state(&pd) {
            match self.create_state(meta, &r, ri, &orig, &translated, len, now) {
                Ok((slot, _))
                    if r.keep_state == KeepState::Synproxy
                        && meta.dir == Dir::In
                        && orig.tcp.is_some_and(|t| {
                            t.flags & (crate::wire::tcp::SYN | crate::wire::tcp::ACK)
                                == crate::wire::tcp::SYN
                        }) =>
                {
                    if let Some(mut v) = self.synproxy_open(slot, &orig) {
                        v.log = ev.log;
                        v.rule = Some(ri as u32);
                        return v;
                    }
                }
                Ok((_, seqdiff)) => {
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
        self.table_stats(ri, &orig.src, &orig.dst, meta.dir, table::OP_PASS, len);
        for &mi in &ev.match_tables[..ev.n_match_tables as usize] {
            self.table_stats(
                mi as usize,
                &orig.src,
                &orig.dst,
                meta.dir,
                table::OP_MATCH,
                len,
            );
        }
        let mut v = Verdict::pass(modified);
        v.log = ev.log;
        v.rule = Some(ri as u32);
        tag_packet(&mut v, meta, r.tag);
        v
    }

    /// pfr_update_stats for the tables rule `ri` names: a packet from
    /// `src` to `dst` was passed, blocked or matched (`op`).
    fn table_stats(
        &mut self,
        ri: usize,
        src: &IpAddr,
        dst: &IpAddr,
        dir: Dir,
        op: usize,
        len: u64,
    ) {
        let Some(rt) = self.rules.tables.get(ri).copied() else {
            return;
        };
        let out = dir == Dir::Out;
        if let Some(id) = rt.src {
            let neg = self.rules.rules[ri].from.neg;
            self.tables.update_stats(id, src, out, op, neg, len);
        }
        if let Some(id) = rt.dst {
            let neg = self.rules.rules[ri].to.neg;
            self.tables.update_stats(id, dst, out, op, neg, len);
        }
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
        s.half_open_tcp = self.halfopen;
        s.syncookies_start = self.syncookies.hiwat;
        s.syncookies_end = self.syncookies.lowat;
        s.hostid = self.hostid;
        s.checksum = self.checksum.clone();
        s.debug = status::debug_name(self.debug).to_string();
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

/// A limit as a ruleset's options set it, or its default.
fn limit_in(o: &Options, l: Limit) -> u32 {
    o.limits
        .iter()
        .rev()
        .find(|(k, _)| *k == l)
        .map_or(l.default_value(), |(_, v)| *v)
}

/// The tables' clock: engine seconds.
pub fn table_now(now_ms: u64) -> u32 {
    (now_ms / 1000).min(u32::MAX as u64) as u32
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_icmp;
#[cfg(test)]
mod tests_tags;

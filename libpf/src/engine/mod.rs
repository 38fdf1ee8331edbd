//! The packet filter: `test(dir, interface, packet) -> verdict`. Rule
//! evaluation, the state table, TCP window tracking, NAT and rdr, block
//! return, timeouts, counters, and the feed of state changes for pfsync.
//! Pure: time (monotonic milliseconds) is passed in, there is no I/O; the
//! caller sends whatever reply packet a verdict carries, and the packets
//! pf sends on its own (`Verdict::send`, `take_outgoing`).

pub mod af;
pub mod anchor;
pub mod export;
pub mod fib;
pub mod frag;
pub mod iface;
pub mod limiter;
pub mod localhost;
pub mod matchctx;
pub mod matchrules;
pub mod mtag;
pub mod mtu;
pub mod nat;
pub mod normalize;
pub mod packet;
pub mod peer;
pub mod reply;
pub mod route;
pub mod ruleref;
pub mod rules;
pub mod rulestate;
pub mod siphash;
pub mod srcnode;
pub mod state;
pub mod status;
pub mod syncookie;
pub mod synproxy;
pub mod table;
pub mod tag;
pub mod tcp;
pub mod threshold;
pub mod translate;

use crate::addr::Af;
use crate::osfp::{FpEntry, OsfpDb};
use crate::pfsync::queue::SyncQueue;
use crate::ruleset::{
    Action, BlockReturn, KeepState, Limit, Options, Rule, Ruleset, SyncookiesMode, Timeout,
    TIMEOUT_COUNT,
};
use crate::wire::{icmp, icmpv6, IPPROTO_TCP};
use anchor::Loader;
use fib::{Fib, RouteChange};
use iface::if_matches;
use iface::{IfName, IfTable, IfaceInfo, KifId, LinkInfo};
pub use mtag::Mtag;
use packet::{describe, Dir, Pd, PdError};
use ruleref::RuleRef;
use rules::LoadedRules;
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

/// Something pf tells the administrator about (the kernel's log lines):
/// the engine queues them, the daemon logs them (`Engine::take_notices`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Adaptive syncookies switched on: half-open states passed the start
    /// watermark.
    SynfloodDetected,
    /// Adaptive syncookies switched off again.
    SyncookiesDisabled,
}

impl Notice {
    /// The log line, as OpenBSD's pf writes it.
    pub fn message(self) -> &'static str {
        match self {
            Notice::SynfloodDetected => "pf: synflood detected, enabling syncookies",
            Notice::SyncookiesDisabled => "pf: syncookies disabled",
        }
    }
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
    /// Policy routing: what the data path does besides accept/drop (send
    /// again on another path, copy, queue, af-to); see [`route`].
    pub forward: route::Forward,
    /// Packets to send besides this one, in order, after the verdict
    /// (raw sockets, each with its own mark).
    pub send: Vec<Outgoing>,
    /// The packet is held (a fragment waiting for its datagram): keep it
    /// and give it the verdict of the `frag::Release` with this ticket,
    /// from `Engine::take_releases`. `pass` means nothing then.
    pub hold: Option<u64>,
    /// pf redirected this incoming packet to the loopback network (pf's
    /// PF_TAG_TRANSLATE_LOCALHOST): the host must deliver it (see
    /// `localhost`).
    pub localhost: bool,
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
            send: Vec::new(),
            hold: None,
            localhost: false,
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
            send: Vec::new(),
            hold: None,
            localhost: false,
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
    /// Source nodes the new connection collected (sticky pools); the
    /// state takes them, or they are let go.
    sns: srcnode::Sns,
    /// Least-states pool addresses the new state holds (translation,
    /// route).
    lb: [Option<srcnode::LbRef>; 2],
    /// The tag the evaluation ended with (pf's `ctx.tag`), 0 = none: a
    /// state made here carries it.
    tag: u16,
    allow_opts: bool,
    sloppy: bool,
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
            sns: srcnode::Sns::default(),
            lb: [None; 2],
            tag: 0,
            allow_opts: r.extras.allow_opts,
            sloppy: r.state_opts.sloppy,
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

/// Why a transaction did not commit (nothing changed): an errno as pf
/// would give and the message pfctl prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitError {
    pub errno: i32,
    pub message: String,
}

impl From<TableError> for CommitError {
    fn from(e: TableError) -> CommitError {
        CommitError {
            errno: e.errno,
            message: e.message,
        }
    }
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
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
            secret: siphash::SecretRng::new(seed, seed.rotate_left(32) ^ hostid as u64),
            syncookies: syncookie::Syncookies::default(),
            halfopen: 0,
            recreating: false,
            clock: 0,
            frags: frag::Fragments::default(),
        }
    }

    /// Key the secret random numbers (synproxy sequence numbers, syncookie
    /// secrets) from the kernel's randomness; the seed of `new` is only a
    /// fallback.
    pub fn set_secret(&mut self, k0: u64, k1: u64) {
        self.secret = siphash::SecretRng::new(k0, k1);
    }

    /// The id of the next state this host creates. pf starts at the boot
    /// time (seconds) shifted left by 32, so ids of an earlier boot, or
    /// small numbers such as `pfctl -k id -k 1`, name no live state; the
    /// daemon passes its start time here.
    pub fn set_first_state_id(&mut self, id: u64) {
        self.next_id = id.max(1);
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

    /// Swap in a new main ruleset with its inline and `load anchor`
    /// anchors, and its options (what `pfctl -f` loads, without tables).
    /// States keep working; their rule counters stay with the old rules.
    /// With an error (see `commit`) nothing changes.
    pub fn load(
        &mut self,
        rs: Ruleset,
        loader: Loader,
        checksum: String,
    ) -> Result<(), CommitError> {
        let sets = crate::ruleset::flatten(&rs, "");
        self.commit(
            sets,
            Some((rs.options, checksum)),
            Vec::new(),
            loader,
            self.clock,
        )
    }

    /// The commit of a transaction, all or nothing: the rulesets of the
    /// anchors named in `sets` (`""` is the main ruleset; the other anchors
    /// keep theirs), the options when the main ruleset comes with them,
    /// and the tables the transaction defines. Fails, changing nothing, for
    /// a bad anchor path, a call above the main ruleset, more anchors than
    /// `set limit anchors` allows, or tables beyond `set limit tables` /
    /// `table-entries` (the new options' limits when they come along).
    pub fn commit(
        &mut self,
        sets: Vec<(String, Vec<Rule>)>,
        options: Option<(Options, String)>,
        tables: Vec<Shadow>,
        loader: Loader,
        now: u64,
    ) -> Result<(), CommitError> {
        let limit = |l| match &options {
            Some((o, _)) => limit_in(o, l),
            None => self.limit(l),
        };
        let limits = Limits {
            tables: limit(Limit::Tables),
            entries: limit(Limit::TableEntries),
        };
        self.rules
            .check(&sets, limit(Limit::Anchors))
            .map_err(|m| CommitError {
                errno: libc::EINVAL,
                message: m,
            })?;
        let refs = self.rules.table_refs_after(&sets);
        self.tables.check_commit(&tables, &refs, true, limits)?;
        let defs = options.as_ref().map(|(o, _)| o.limiters.as_slice());
        self.check_limiters(&sets, defs)?;
        if let Some((o, checksum)) = options {
            self.rules.limiters.configure(&o.limiters, now);
            self.set_options(o);
            self.checksum = checksum;
        }
        let applied = self.rules.apply(sets, loader);
        // Tables the new rules name exist before the definitions commit
        // (so a definition without `persist` stays when a rule uses it);
        // the old rules let go of theirs last.
        let secs = table_now(now);
        for id in applied.fresh {
            let seed = (self.random() as u64) << 32 | self.random() as u64;
            if let Some(a) = self.rules.node_mut(id) {
                a.rules.run = RuleStates::bind(&a.rules.rules, &mut self.tags, &self.osfp, seed, 0);
                a.rules.attach_tables(&a.path, &mut self.tables, secs);
                a.rules.conn_limits = srcnode::conn_limits_of(&a.rules.rules, &a.path);
            }
        }
        self.tables.commit(tables, secs);
        for mut old in applied.old {
            old.run.release(&mut self.tags);
            old.detach_tables(&mut self.tables);
        }
        self.rules.refresh();
        let in_use = self.selectors_in_use();
        self.routing.load(
            self.rules.iter().flat_map(|a| a.rules.rules.iter()),
            &in_use,
        );
        Ok(())
    }

    /// Every limiter the rules of `sets` name is defined: in `defs` (the
    /// new main ruleset's) or, without them, among the loaded ones.
    fn check_limiters(
        &self,
        sets: &[(String, Vec<Rule>)],
        defs: Option<&[crate::ruleset::LimiterDef]>,
    ) -> Result<(), CommitError> {
        for r in sets.iter().flat_map(|(_, rules)| rules.iter()) {
            let uses = [
                (&r.extras.state_limiter, true),
                (&r.extras.source_limiter, false),
            ];
            for (u, state) in uses {
                let Some(u) = u else { continue };
                let known = match defs {
                    Some(d) => d.iter().any(|d| d.is_state() == state && d.id() == u.id),
                    None if state => self.rules.limiters.has_state(u.id),
                    None => self.rules.limiters.has_source(u.id),
                };
                if !known {
                    let kind = if state { "state" } else { "source" };
                    return Err(CommitError {
                        errno: libc::ENOENT,
                        message: format!("{kind} limiter id {} is not loaded", u.id),
                    });
                }
            }
        }
        Ok(())
    }

    /// The state limiters and their counters (`pfctl -s LimiterStates`).
    pub fn state_limiters(&self) -> Vec<limiter::StateLimiterInfo> {
        self.rules.limiters.state_info()
    }

    /// The source limiters, with their entries when `entries`
    /// (`pfctl -s LimiterSrcs [-v]`).
    pub fn source_limiters(&self, entries: bool) -> Vec<limiter::SourceLimiterInfo> {
        self.rules.limiters.source_info(entries)
    }

    /// `pfctl -I id -k source -k net`: the entries of source limiter `id`
    /// inside `net` go.
    pub fn kill_limiter_sources(&mut self, id: u32, net: &crate::addr::IpNet) -> Option<u64> {
        self.rules.limiters.kill_sources(id, net)
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

    /// The options of a new main ruleset: what it does not set goes back
    /// to its default.
    fn set_options(&mut self, o: Options) {
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
        self.ifaces.set_skip(&o.skip);
        let limit = self.limit(Limit::States);
        self.syncookies_configure(
            o.syncookies.unwrap_or(SyncookiesMode::Never),
            o.syncookies_watermarks,
            limit,
            self.clock,
        );
        self.options = o;
    }

    /// DIOCOSFPFLUSH: no OS fingerprints; `os` rules then match only
    /// `unknown`.
    pub fn flush_fingerprints(&mut self) {
        self.osfp = OsfpDb::default();
        self.rebind_os();
    }

    /// DIOCOSFPADD: more OS fingerprints; the rules' `os` names are
    /// resolved again. Returns what was refused as a duplicate.
    pub fn add_fingerprints(&mut self, entries: Vec<FpEntry>) -> Vec<String> {
        let dups = entries
            .into_iter()
            .filter_map(|e| self.osfp.add(e).err().map(|d| d.0))
            .collect();
        self.rebind_os();
        dups
    }

    fn rebind_os(&mut self) {
        for a in self.rules.nodes_mut() {
            a.rules.run.rebind_os(&a.rules.rules, &self.osfp);
        }
        self.rules.refresh();
    }

    /// DIOCOSFPGET: the loaded fingerprints.
    pub fn fingerprints(&self) -> &[FpEntry] {
        self.osfp.entries()
    }

    /// Would the tag names of the rulesets `sets` fit in the tag table next
    /// to the ones in use? (pf refuses a rule whose tag gets no number.)
    pub fn tags_fit<'a>(&self, sets: impl IntoIterator<Item = &'a [Rule]>) -> bool {
        let mut new: Vec<&str> = sets
            .into_iter()
            .flat_map(RuleStates::tag_names)
            .filter(|n| self.tags.id(n).is_none())
            .collect();
        new.sort_unstable();
        new.dedup();
        self.tags.len() + new.len() <= tag::TAGID_MAX as usize
    }

    /// `pfctl [-a path] -F rules`: remove the rules of the main ruleset
    /// or of one anchor; the other anchors keep theirs.
    pub fn flush_rules(&mut self, path: &str, loader: Loader) -> Result<(), CommitError> {
        let now = self.clock;
        self.commit(
            vec![(path.to_string(), Vec::new())],
            None,
            Vec::new(),
            loader,
            now,
        )
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

    /// Filter one packet. `buf` holds the IP packet and may be rewritten.
    /// The verdict carries whatever packets pf sends in answer.
    pub fn test(&mut self, meta: &PacketMeta, buf: &mut [u8], now: u64) -> Verdict {
        self.clock = self.clock.max(now);
        let mut v = self.test_iface(meta, buf, now);
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
        let lo = localhost::is_loopback_if(
            meta.ifname,
            rcv.and_then(|i| self.ifaces.kif(i)).map(|k| k.index),
        );
        if meta.dir == Dir::In && !lo && localhost::on_wire(buf) {
            // ip_input drops it before pf sees it (RFC 1122): no counter
            // of pf's counts it.
            return Verdict::drop(Reason::Normalize);
        }
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
        // Remember the receiving interface for the `out` pass
        // (`received-on`), on this packet and on the fragments its
        // datagram released; flag what pf redirected to the loopback
        // network.
        if m.dir == Dir::In {
            let slot = rcv.and_then(|i| self.ifaces.kif(i)).map_or(0, |k| k.slot);
            let mark = |v: &mut Verdict, pkt: &[u8]| {
                let mut t = v.mtag.unwrap_or(meta.mtag);
                if v.pass && slot != 0 && t.in_slot != slot {
                    t.in_slot = slot;
                    v.mtag = Some(t);
                }
                v.localhost = v.pass && !lo && localhost::to_loopback(pkt);
            };
            mark(&mut v, buf);
            self.frags
                .released_since(released, |r| mark(&mut r.verdict, &r.bytes));
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
            Err(e) => {
                let r = frag::pd_reason(e);
                self.count(r);
                return Verdict::drop(r);
            }
        };
        // pf_normalize_ip: header sanity, then fragments are queued for
        // reassembly (or filtered on their own with `set reassemble no`).
        let modified = match normalize::ip_header(buf, &pd, self.reassemble_no_df()) {
            Ok(m) => m,
            Err(r) => {
                self.count(r);
                return Verdict::drop(r);
            }
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
                Err(r) => {
                    self.count(r);
                    return Verdict::drop(r);
                }
            }
        }
        let mut v = self.test_state_or_rules(meta, kif, buf, pd, len, now);
        v.modified |= modified && v.pass;
        v
    }

    fn test_state_or_rules(
        &mut self,
        meta: &PacketMeta,
        kif: Option<KifId>,
        buf: &mut [u8],
        mut pd: Pd,
        len: u64,
        now: u64,
    ) -> Verdict {
        if pd.icmp.is_some_and(|i| i.is_error) {
            if let Some(v) = self.test_icmp_error(meta, buf, &mut pd, len, now) {
                return v;
            }
        } else {
            if let Some(v) = self.syncookie_syn(meta, &pd, now) {
                return v;
            }
            let mut key = StateKey::from_pd(&pd, meta.dir);
            let mut slot = self.states.lookup(&key, meta.dir, meta.ifname);
            if slot.is_none() {
                if let Some(k) = StateKey::multicast_reply(&pd, meta.dir) {
                    slot = self.states.lookup(&k, meta.dir, meta.ifname);
                    if slot.is_some() {
                        key = k;
                    }
                }
            }
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
        self.test_rules(meta, kif, buf, pd, len, now)
    }

    /// Evaluate the ruleset for a packet without a state.
    fn test_rules(
        &mut self,
        meta: &PacketMeta,
        kif: Option<KifId>,
        buf: &mut [u8],
        mut pd: Pd,
        len: u64,
        now: u64,
    ) -> Verdict {
        let (ev, mut tr) = match self.match_rules(meta, kif, &pd, Some(buf), now) {
            Ok(x) => x,
            Err(reason) => {
                self.count(reason);
                return Verdict::drop(reason);
            }
        };
        let d = if meta.dir == Dir::In { 0 } else { 1 };
        let decided = ev.rule.and_then(|ri| {
            let mut r = self.rules.rule(ri).map(Decision::of)?;
            if ev.limiter_block {
                // Over its limiter's limit, `(block)`: the rule blocks.
                r.action = Action::Block;
                r.block = BlockReturn::Drop;
            }
            Some((ri, r))
        });
        if decided.is_none_or(|(_, r)| r.action != Action::Pass) {
            // No state comes of it: the source nodes the match rules'
            // translations made are let go.
            self.release_sns(&tr.sns, now);
        }
        let Some((ri, mut r)) = decided else {
            // The default rule: pass, no state, no IP options (a `match`
            // rule's tag still goes on the packet).
            if pd.badopts != 0 {
                self.count(Reason::IpOption);
                let mut v = Verdict::drop(Reason::IpOption);
                v.log = true;
                return v;
            }
            let mut v = Verdict::pass(false);
            v.log = ev.log;
            tag_packet(&mut v, meta, ev.tag.unwrap_or(0));
            if let Some(t) = ev.rtable {
                if let Some(sel) = self
                    .routing
                    .targets
                    .get(crate::ruleset::route::Target::Table(t))
                {
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
        if r.action == Action::Pass && pd.badopts != 0 && !r.allow_opts {
            // IP options pass only by a rule with `allow-opts`.
            self.release_sns(&tr.sns, now);
            self.count(Reason::IpOption);
            let mut v = Verdict::drop(Reason::IpOption);
            v.log = true;
            v.rule = Some(ri.nr);
            return v;
        }
        // The deciding rule and the anchor rule it was reached through
        // count the packet (pf_counters_inc).
        for r in [Some(ri), ev.anchor].into_iter().flatten() {
            if let Some(c) = self.rules.counters_mut(r) {
                c.packets[d] += 1;
                c.bytes[d] += len;
            }
        }
        r.tag = ev.tag.unwrap_or(0);
        // The normalisation actions: match rules', then the deciding rule's.
        let mut actions = ev.actions;
        if let Some(rule) = self.rules.rule(ri) {
            actions.add(rule);
        }
        if r.action == Action::Block {
            self.count(Reason::Match);
            self.table_stats(ri, &pd.src, &pd.dst, meta.dir, table::OP_BLOCK, len);
            let mut v = Verdict::drop(Reason::Match);
            v.log = ev.log;
            v.rule = Some(ri.nr);
            v.reply = block_reply(r.block, &pd, buf);
            return v;
        }
        // Pass: its own translation on top of the match rules', then its
        // policy routing; the source nodes of sticky pools go to the
        // state, or are let go.
        let afto = self
            .rules
            .rule(ri)
            .and_then(|r| r.extras.af_to)
            .filter(|_| meta.dir == Dir::In);
        if afto.is_none() {
            if let Err(reason) = self.get_transaddr(ri, &mut tr, meta.dir, now) {
                self.release_sns(&tr.sns, now);
                self.count(reason);
                return Verdict::drop(reason);
            }
        }
        r.route = match self.state_route(ri, pd.af, ev.rtable, &pd.src, &mut tr.sns, now) {
            Ok(sr) => sr,
            Err(reason) => {
                self.release_sns(&tr.sns, now);
                self.count(reason);
                return Verdict::drop(reason);
            }
        };
        if let Some((_, hop)) = r.route.rt {
            r.lb[1] = self.lb_ref(ri, srcnode::SnType::Route, hop);
        }
        if afto.is_none() {
            r.lb[0] = tr.lb;
        }
        r.sns = tr.sns;
        if let Some(naf) = afto {
            let mut v = self.test_rules_afto(
                meta,
                buf,
                (pd, tr.view),
                (ri, ev.anchor),
                ev.matches.as_slice(),
                &mut r,
                &actions,
                naf,
                len,
                now,
            );
            v.log |= ev.log;
            return v;
        }
        let orig = pd;
        let translated = tr.view;
        let mut modified = false;
        let mut state = None;
        if r.keep_state != KeepState::None && !pd.fragment && !rules::icmp_makes_no_state(&pd) {
            let made = self.create_state(
                meta,
                &r,
                (ri, ev.anchor),
                ev.matches.as_slice(),
                &orig,
                &translated,
                &actions,
                len,
                now,
            );
            match made {
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
                        v.rule = Some(ri.nr);
                        return v;
                    }
                }
                Ok((slot, seqdiff)) => {
                    state = Some(slot);
                    if actions.flags & normalize::PFSTATE_SCRUB_TCP != 0 && orig.tcp.is_some() {
                        match self.scrub_first_packet(buf, &pd, slot, now) {
                            Ok(m) => modified |= m,
                            Err(reason) => {
                                self.remove_state(slot, now, true);
                                self.count(reason);
                                return Verdict::drop(reason);
                            }
                        }
                    }
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
        if r.keep_state == KeepState::None || pd.fragment || rules::icmp_makes_no_state(&pd) {
            self.release_sns(&r.sns, now);
        }
        if translated.src != orig.src || translated.sport != orig.sport {
            modified |= set_end(buf, &mut pd, End::Src, translated.src, translated.sport);
        }
        if translated.dst != orig.dst || translated.dport != orig.dport {
            modified |= set_end(buf, &mut pd, End::Dst, translated.dst, translated.dport);
        }
        self.table_stats(ri, &orig.src, &orig.dst, meta.dir, table::OP_PASS, len);
        if let Some(slot) = state {
            // pf_counters_inc: the match rules count the packets of the
            // state they helped make (a stateless packet, only its rule).
            self.count_match_rules(slot, meta.dir, len);
        }
        let mut v = Verdict::pass(modified);
        v.log = ev.log;
        v.rule = Some(ri.nr);
        v.route(&r.route, true, meta);
        tag_packet(&mut v, meta, r.tag);
        match state {
            Some(slot) => self.state_pass(buf, &pd, slot, v),
            None => {
                // Without a state the deciding rule's own scrub applies
                // (pf_test: r->scrub_flags, not the match rules').
                let a = self
                    .rules
                    .rule(ri)
                    .map(normalize::Actions::of_rule)
                    .unwrap_or_default();
                if !a.is_empty() {
                    let rid = self.random() as u16;
                    v.modified |= normalize::scrub(buf, &pd, &a, rid);
                }
                v
            }
        }
    }

    /// `scrub (reassemble tcp)` on the packet that created state `slot`
    /// (pf_normalize_tcp_init and _stateful in pf_create_state).
    fn scrub_first_packet(
        &mut self,
        buf: &mut [u8],
        pd: &Pd,
        slot: state::Slot,
        now: u64,
    ) -> Result<bool, Reason> {
        let random = self.random();
        let fudge = self.timeout_value(Timeout::TcpTsDiff);
        let Some(st) = self.states.get_mut(slot) else {
            return Ok(false);
        };
        let mut sc: normalize::StateScrub = [Some(normalize::tcp_init(buf, pd, now, random)), None];
        let conn = normalize::conn_of(&st.src, &st.dst, st.creation, fudge);
        let [a, b] = &mut sc;
        let r = normalize::tcp_stateful(buf, pd, a, b, conn, now);
        st.scrub = Some(Box::new(sc));
        r
    }

    /// pf_counters_inc for the match rules of state `slot`: a packet of
    /// `len` bytes in direction `dir` counts for each (its packets and
    /// bytes by the state's direction, the statistics of the tables it
    /// names with the addresses the state's rule saw). No allocation.
    pub(in crate::engine) fn count_match_rules(&mut self, slot: state::Slot, dir: Dir, len: u64) {
        let Some(st) = self.states.get(slot) else {
            return;
        };
        let list = st.match_rules;
        if list == 0 {
            return;
        }
        let d = if dir == st.direction { 0 } else { 1 };
        let (src, dst) = st.rule_addrs();
        for i in 0..self.matchlists.get(list).len() {
            let mi = self.matchlists.get(list)[i];
            if let Some(c) = self.rules.counters_mut(mi) {
                c.packets[d] += 1;
                c.bytes[d] += len;
            }
            self.table_stats(mi, &src, &dst, dir, table::OP_MATCH, len);
        }
    }

    /// pfr_update_stats for the tables rule `ri` names: a packet from
    /// `src` to `dst` was passed, blocked or matched (`op`).
    fn table_stats(
        &mut self,
        ri: RuleRef,
        src: &IpAddr,
        dst: &IpAddr,
        dir: Dir,
        op: usize,
        len: u64,
    ) {
        let (Some(rt), Some(r)) = (self.rules.rule_tables(ri), self.rules.rule(ri)) else {
            return;
        };
        let (sneg, dneg) = (r.from.neg, r.to.neg);
        let out = dir == Dir::Out;
        if let Some(id) = rt.src {
            self.tables.update_stats(id, src, out, op, sneg, len);
        }
        if let Some(id) = rt.dst {
            self.tables.update_stats(id, dst, out, op, dneg, len);
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
        s.src_nodes = self.srcnodes.len() as u64;
        s.src_node_counters = self.srcnodes.counters;
        s.half_open_tcp = self.halfopen;
        s.fragments = self.frags.count() as u64;
        s.frag_counters = self.frags.counters();
        s.syncookies_start = self.syncookies.hiwat;
        s.syncookies_end = self.syncookies.lowat;
        s.hostid = self.hostid;
        s.checksum = self.checksum.clone();
        s.debug = status::debug_name(self.debug).to_string();
        s.loginterface = self.options.loginterface.clone();
        if let Some(name) = &s.loginterface {
            (s.if_packets, s.if_bytes) = self.ifaces.log_counters(name);
        }
        s
    }

    /// Take in the system's interfaces (every one: the others are gone).
    pub fn sync_links(&mut self, links: Vec<LinkInfo>, now: u64) {
        self.ifaces.sync(links, now);
        self.ifaces.set_egress(self.fib.default_oifs(), now);
    }

    /// Replace the routing tables (a full dump).
    pub fn set_fib(&mut self, fib: Fib, now: u64) {
        self.fib = fib;
        self.ifaces.set_egress(self.fib.default_oifs(), now);
    }

    /// One route added or removed.
    pub fn route_change(&mut self, ch: RouteChange, now: u64) {
        if self.fib.apply(ch) {
            self.ifaces.set_egress(self.fib.default_oifs(), now);
        }
    }

    pub fn fib(&self) -> &Fib {
        &self.fib
    }

    /// `pfctl -s Interfaces` (`-i filter`), dated with `wall_now` (seconds
    /// since the epoch).
    pub fn interfaces(&mut self, filter: Option<&str>, now: u64, wall_now: i64) -> Vec<IfaceInfo> {
        let rules = iface::rule_refs(self.rules.iter().flat_map(|a| a.rules.rules.iter()));
        let mut states: HashMap<String, u32> = HashMap::new();
        for slot in self.states.all_slots() {
            if let Some(st) = self.states.get(slot) {
                let n = st.ifname.as_deref().unwrap_or(iface::IFG_ALL);
                match states.get_mut(n) {
                    Some(c) => *c += 1,
                    None => {
                        states.insert(n.to_string(), 1);
                    }
                }
            }
        }
        self.ifaces.list(filter, &rules, &states, now, wall_now)
    }

    /// `pfctl -F info`: reset the status counters.
    pub fn clear_status(&mut self) {
        self.status = Status::default();
        self.srcnodes.counters = [0; 3];
    }

    /// `pfctl [-a path] -z`: reset the evaluations, packets and bytes of
    /// the rules of the main ruleset or of one anchor. False if there is
    /// no such anchor.
    pub fn clear_rule_counters(&mut self, path: &str) -> bool {
        self.rules.clear_counters(path)
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
mod ifroute_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_icmp;
#[cfg(test)]
mod tests_limiter;
#[cfg(test)]
mod tests_matchnat;
#[cfg(test)]
mod tests_srcnode;
#[cfg(test)]
mod tests_tags;

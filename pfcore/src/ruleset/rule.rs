//! One expanded rule, the global options (`set ...`) loaded with it, and the
//! anchors rules call or load (the rulesets inside them are rules again).

use crate::addr::{Af, IpNet};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Pass,
    Block,
    Match,
}

/// `in`, `out`, or neither (both directions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    InOut,
    In,
    Out,
}

/// What a `block` rule does with the packet it blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockReturn {
    /// `block drop` (also the default with `set block-policy drop`).
    Drop,
    /// `block return`: TCP RST for TCP, ICMP port unreachable otherwise.
    Return,
    /// `block return-rst [(ttl N)]`.
    ReturnRst { ttl: u8 },
    /// `block return-icmp [(code [, code6])]`: (type, code) for IPv4 and IPv6.
    ReturnIcmp { icmp: (u8, u8), icmp6: (u8, u8) },
}

/// A comparison of a port (u16) or a uid/gid (u32), as pf's `PF_OP_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op<T> {
    /// `= v`
    Eq(T),
    /// `!= v`
    Ne(T),
    /// `< v`
    Lt(T),
    /// `<= v`
    Le(T),
    /// `> v`
    Gt(T),
    /// `>= v`
    Ge(T),
    /// `a >< b`: strictly between.
    Inside(T, T),
    /// `a <> b`: strictly outside.
    Outside(T, T),
    /// `a:b`: inclusive range.
    Range(T, T),
}

impl<T: PartialOrd + Copy> Op<T> {
    pub fn matches(&self, v: T) -> bool {
        match *self {
            Op::Eq(a) => v == a,
            Op::Ne(a) => v != a,
            Op::Lt(a) => v < a,
            Op::Le(a) => v <= a,
            Op::Gt(a) => v > a,
            Op::Ge(a) => v >= a,
            Op::Inside(a, b) => v > a && v < b,
            Op::Outside(a, b) => v < a || v > b,
            Op::Range(a, b) => v >= a && v <= b,
        }
    }
}

/// Port comparison (`port = 22`, `port 6000:6010`).
pub type PortOp = Op<u16>;

/// uid/gid comparison (`user = 55`, `group >= 1000`). OpenBSD prints
/// `unknown` for the magic id -1.
pub type IdOp = Op<u32>;

/// The address part of `from`/`to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddrKind {
    /// `any`
    Any,
    /// An address or network (`10.0.0.0/8`, `192.0.2.1`).
    Net(IpNet),
    /// `a.b.c.d - e.f.g.h`
    Range(std::net::IpAddr, std::net::IpAddr),
    /// `no-route`
    NoRoute,
    /// `urpf-failed`
    UrpfFailed,
    /// `<table>`
    Table(String),
    /// `(ifname[:mod])`: the interface's addresses, followed at run time.
    /// `(ifname[:mod])/bits` masks each address with `/bits`.
    Dynamic {
        ifname: String,
        modifier: DynModifier,
        #[serde(default)]
        mask: Option<u8>,
    },
    /// `route "label"`: addresses whose route carries the label.
    RouteLabel(String),
}

/// The modifiers of `(ifname:...)`: at most one of `:network`,
/// `:broadcast`, `:peer`, each possibly with `:0` (first address of each
/// family only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DynModifier {
    None,
    Network,
    Broadcast,
    Peer,
    NoAlias,
    NetworkNoAlias,
    BroadcastNoAlias,
    PeerNoAlias,
}

impl DynModifier {
    /// Which addresses: the modifier without `:0` (`None`, `Network`,
    /// `Broadcast` or `Peer`).
    pub fn mode(self) -> DynModifier {
        match self {
            DynModifier::NoAlias => DynModifier::None,
            DynModifier::NetworkNoAlias => DynModifier::Network,
            DynModifier::BroadcastNoAlias => DynModifier::Broadcast,
            DynModifier::PeerNoAlias => DynModifier::Peer,
            m => m,
        }
    }

    /// `:0` given.
    pub fn no_alias(self) -> bool {
        matches!(
            self,
            DynModifier::NoAlias
                | DynModifier::NetworkNoAlias
                | DynModifier::BroadcastNoAlias
                | DynModifier::PeerNoAlias
        )
    }

    /// A mode (`None`, `Network`, `Broadcast`, `Peer`) with or without `:0`.
    pub fn with(mode: DynModifier, no_alias: bool) -> DynModifier {
        match (mode.mode(), no_alias) {
            (m, false) => m,
            (DynModifier::Network, true) => DynModifier::NetworkNoAlias,
            (DynModifier::Broadcast, true) => DynModifier::BroadcastNoAlias,
            (DynModifier::Peer, true) => DynModifier::PeerNoAlias,
            (_, true) => DynModifier::NoAlias,
        }
    }
}

/// One side of `from ... to ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub addr: AddrKind,
    /// `!` before the address.
    pub neg: bool,
    pub port: Option<PortOp>,
}

impl Endpoint {
    pub fn any() -> Endpoint {
        Endpoint {
            addr: AddrKind::Any,
            neg: false,
            port: None,
        }
    }
}

/// `on [!]ifname`. Interface groups (`on egress`) are names too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfMatch {
    pub name: String,
    pub neg: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeepState {
    /// `no state`
    None,
    /// `keep state` (the default for pass rules)
    Keep,
    /// `modulate state`
    Modulate,
    /// `synproxy state`
    Synproxy,
}

/// `log` options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogOpts {
    pub enabled: bool,
    pub all: bool,
    pub matches: bool,
    pub user: bool,
    /// pflog interface number (`to pflogN`), 0 by default.
    pub ifnum: u8,
}

/// How a translation pool picks an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolType {
    None,
    Bitmask,
    Random,
    SourceHash,
    RoundRobin,
    LeastStates,
}

/// The target of `nat-to`, `rdr-to` (and later `binat-to`, `route-to`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub addrs: Vec<AddrKind>,
    /// Port or port range (`port 8080`, `port 50000:60000`); (0,0) = unchanged.
    pub proxy_port: (u16, u16),
    pub pool_type: PoolType,
    pub static_port: bool,
    pub sticky_address: bool,
    /// `source-hash` key (four 32-bit words as pfctl prints them).
    pub hash_key: [u32; 4],
    /// pfctl turns a pool of several addresses into a const table
    /// `__automatic_N`; its name, for printing (`addrs` keeps the members).
    #[serde(default)]
    pub auto_table: Option<String>,
    /// A `weight` other than 1 was given to a member (refused: pfd has
    /// no weighted round-robin).
    #[serde(default)]
    pub weighted: bool,
}

/// `route-to`, `reply-to`, `dup-to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteKind {
    RouteTo,
    ReplyTo,
    DupTo,
}

/// `divert-to`, `divert-reply`, `divert-packet`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Divert {
    #[default]
    None,
    To(std::net::IpAddr, u16),
    Reply,
    Packet(u16),
}

/// `scrub (...)` of a rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scrub {
    pub no_df: bool,
    pub random_id: bool,
    pub min_ttl: u8,
    pub max_mss: u16,
    pub reassemble_tcp: bool,
}

impl Scrub {
    pub fn any(&self) -> bool {
        self.no_df
            || self.random_id
            || self.min_ttl != 0
            || self.max_mss != 0
            || self.reassemble_tcp
    }
}

/// Options pfctl parses and prints that the engine does not act on yet
/// (Linux has no equivalent wired in: priorities, queues, ToS rewriting,
/// routing tables, divert sockets, fragment matching, probability).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleExtras {
    /// `os "fingerprint"`
    pub os: Option<String>,
    /// `on rdomain N`
    pub on_rdomain: Option<u32>,
    /// `on ! rdomain N`
    #[serde(default)]
    pub on_rdomain_not: bool,
    /// `[!] received-on if`
    pub received_on: Option<IfMatch>,
    /// `tos N` (match)
    pub tos: Option<u8>,
    /// `prio N` (match)
    pub prio: Option<u8>,
    /// `max-pkt-rate N/S`
    pub max_pkt_rate: Option<(u32, u32)>,
    /// `set prio N` / `set prio (N, M)`
    pub set_prio: Option<(u8, u8)>,
    /// `set queue q` / `set queue (q, pq)`
    pub queue: Option<(String, Option<String>)>,
    /// `set tos N`
    pub set_tos: Option<u8>,
    /// `set delay N` (ms)
    pub delay: Option<u16>,
    /// `probability N%` as pf stores it (fraction of 2^32), 0 = always.
    pub probability: u32,
    pub fragment: bool,
    pub allow_opts: bool,
    pub once: bool,
    /// `rtable N`
    pub rtable: Option<u32>,
    pub divert: Divert,
    pub scrub: Scrub,
    /// `af-to inet|inet6`: the target family (nat_to / rdr_to are the
    /// `from` and `to` pools).
    pub af_to: Option<Af>,
    /// `route-to` / `reply-to` / `dup-to` and their pool.
    pub route: Option<(RouteKind, Pool)>,
    /// `state limiter NAME [(block|no-match)]`
    #[serde(default)]
    pub state_limiter: Option<super::LimiterUse>,
    /// `source limiter NAME [(block|no-match)]`
    #[serde(default)]
    pub source_limiter: Option<super::LimiterUse>,
}

/// `flags F/M` (`flags any` is `Some((0,0))`, no flags clause is `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpFlags {
    pub flags: u8,
    pub mask: u8,
}

/// `source-track` of a stateful rule, as pfctl resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceTrack {
    Global,
    Rule,
}

/// `overload <table> [flush [global]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overload {
    pub table: String,
    pub flush: bool,
    pub global: bool,
}

/// State options (`keep state (max 100, no-sync, ...)`), resolved the way
/// pfctl resolves them: 0 means "not set" for the counters, `timeouts` is in
/// timeout-index order and includes the adaptive values pfctl derives from
/// `max`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateOpts {
    pub max_states: u32,
    pub no_sync: bool,
    pub source_track: Option<SourceTrack>,
    pub max_src_states: u32,
    pub max_src_conn: u32,
    /// `max-src-conn-rate limit/seconds`
    pub max_src_conn_rate: Option<(u32, u32)>,
    pub max_src_nodes: u32,
    pub overload: Option<Overload>,
    pub if_bound: bool,
    pub sloppy: bool,
    pub pflow: bool,
    pub timeouts: Vec<(Timeout, u32)>,
}

impl StateOpts {
    /// True when pfctl would print a `( ... )` option list.
    pub fn any(&self) -> bool {
        self.max_states != 0
            || self.max_src_nodes != 0
            || self.max_src_states != 0
            || self.no_sync
            || self.source_track.is_some()
            || self.if_bound
            || self.sloppy
            || self.pflow
            || !self.timeouts.is_empty()
    }
}

/// One expanded rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub action: Action,
    /// For block rules; ignored for pass and match.
    pub block: BlockReturn,
    pub direction: Direction,
    pub log: LogOpts,
    pub quick: bool,
    pub on: Option<IfMatch>,
    pub af: Option<Af>,
    /// IP protocol number.
    pub proto: Option<u8>,
    pub from: Endpoint,
    pub to: Endpoint,
    pub user: Option<IdOp>,
    pub group: Option<IdOp>,
    pub flags: Option<TcpFlags>,
    /// ICMP type and optional code (`icmp-type echoreq code 0`).
    pub icmp_type: Option<(u8, Option<u8>)>,
    pub keep_state: KeepState,
    /// The `( ... )` options of `keep/modulate/synproxy state`.
    pub state_opts: StateOpts,
    pub nat_to: Option<Pool>,
    pub rdr_to: Option<Pool>,
    pub label: Option<String>,
    pub tag: Option<String>,
    pub tagged: Option<(bool, String)>,
    pub extras: RuleExtras,
    /// Line in the source file, for messages.
    pub src_line: u32,
    /// Set on `anchor` rules: the anchor they call (see `anchor.rs`).
    pub anchor: Option<Box<AnchorCall>>,
}

impl Rule {
    /// A rule with every optional part absent, the way `pass` alone parses
    /// before defaults are applied.
    pub fn new(action: Action) -> Rule {
        Rule {
            action,
            block: BlockReturn::Drop,
            direction: Direction::InOut,
            log: LogOpts::default(),
            quick: false,
            on: None,
            af: None,
            proto: None,
            from: Endpoint::any(),
            to: Endpoint::any(),
            user: None,
            group: None,
            flags: None,
            icmp_type: None,
            keep_state: KeepState::None,
            state_opts: StateOpts::default(),
            nat_to: None,
            rdr_to: None,
            label: None,
            tag: None,
            tagged: None,
            extras: RuleExtras::default(),
            src_line: 0,
            anchor: None,
        }
    }
}

/// `set block-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockPolicy {
    Drop,
    Return,
}

/// Timeout classes, in OpenBSD's `PFTM_*` order (the index is what pfsync
/// carries in a state's `timeout` byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Timeout {
    TcpFirst = 0,
    TcpOpening = 1,
    TcpEstablished = 2,
    TcpClosing = 3,
    TcpFinWait = 4,
    TcpClosed = 5,
    UdpFirst = 6,
    UdpSingle = 7,
    UdpMultiple = 8,
    IcmpFirst = 9,
    IcmpError = 10,
    OtherFirst = 11,
    OtherSingle = 12,
    OtherMultiple = 13,
    Frag = 14,
    Interval = 15,
    AdaptiveStart = 16,
    AdaptiveEnd = 17,
    SrcTrack = 18,
    TcpTsDiff = 19,
}

/// Number of timeout classes (`PFTM_MAX`).
pub const TIMEOUT_COUNT: usize = 20;

impl Timeout {
    pub const ALL: [Timeout; TIMEOUT_COUNT] = [
        Timeout::TcpFirst,
        Timeout::TcpOpening,
        Timeout::TcpEstablished,
        Timeout::TcpClosing,
        Timeout::TcpFinWait,
        Timeout::TcpClosed,
        Timeout::UdpFirst,
        Timeout::UdpSingle,
        Timeout::UdpMultiple,
        Timeout::IcmpFirst,
        Timeout::IcmpError,
        Timeout::OtherFirst,
        Timeout::OtherSingle,
        Timeout::OtherMultiple,
        Timeout::Frag,
        Timeout::Interval,
        Timeout::AdaptiveStart,
        Timeout::AdaptiveEnd,
        Timeout::SrcTrack,
        Timeout::TcpTsDiff,
    ];

    pub fn from_index(i: u8) -> Option<Timeout> {
        Timeout::ALL.get(i as usize).copied()
    }

    /// The name pf.conf and `pfctl -st` use.
    pub fn name(self) -> &'static str {
        match self {
            Timeout::TcpFirst => "tcp.first",
            Timeout::TcpOpening => "tcp.opening",
            Timeout::TcpEstablished => "tcp.established",
            Timeout::TcpClosing => "tcp.closing",
            Timeout::TcpFinWait => "tcp.finwait",
            Timeout::TcpClosed => "tcp.closed",
            Timeout::UdpFirst => "udp.first",
            Timeout::UdpSingle => "udp.single",
            Timeout::UdpMultiple => "udp.multiple",
            Timeout::IcmpFirst => "icmp.first",
            Timeout::IcmpError => "icmp.error",
            Timeout::OtherFirst => "other.first",
            Timeout::OtherSingle => "other.single",
            Timeout::OtherMultiple => "other.multiple",
            Timeout::Frag => "frag",
            Timeout::Interval => "interval",
            Timeout::AdaptiveStart => "adaptive.start",
            Timeout::AdaptiveEnd => "adaptive.end",
            Timeout::SrcTrack => "src.track",
            Timeout::TcpTsDiff => "tcp.tsdiff",
        }
    }

    pub fn from_name(s: &str) -> Option<Timeout> {
        Timeout::ALL.iter().copied().find(|t| t.name() == s)
    }

    /// Compiled-in default, in seconds (states for the adaptive pair).
    pub fn default_value(self) -> u32 {
        match self {
            Timeout::TcpFirst => 120,
            Timeout::TcpOpening => 30,
            Timeout::TcpEstablished => 86400,
            Timeout::TcpClosing => 900,
            Timeout::TcpFinWait => 45,
            Timeout::TcpClosed => 90,
            Timeout::UdpFirst => 60,
            Timeout::UdpSingle => 30,
            Timeout::UdpMultiple => 60,
            Timeout::IcmpFirst => 20,
            Timeout::IcmpError => 10,
            Timeout::OtherFirst => 60,
            Timeout::OtherSingle => 30,
            Timeout::OtherMultiple => 60,
            Timeout::Frag => 60,
            Timeout::Interval => 10,
            Timeout::AdaptiveStart => 60000,
            Timeout::AdaptiveEnd => 120000,
            Timeout::SrcTrack => 0,
            Timeout::TcpTsDiff => 30,
        }
    }
}

/// The order `pfctl -st` prints timeouts in (differs from the index order).
pub const TIMEOUT_PRINT_ORDER: [Timeout; TIMEOUT_COUNT] = [
    Timeout::TcpFirst,
    Timeout::TcpOpening,
    Timeout::TcpEstablished,
    Timeout::TcpClosing,
    Timeout::TcpFinWait,
    Timeout::TcpClosed,
    Timeout::TcpTsDiff,
    Timeout::UdpFirst,
    Timeout::UdpSingle,
    Timeout::UdpMultiple,
    Timeout::IcmpFirst,
    Timeout::IcmpError,
    Timeout::OtherFirst,
    Timeout::OtherSingle,
    Timeout::OtherMultiple,
    Timeout::Frag,
    Timeout::Interval,
    Timeout::AdaptiveStart,
    Timeout::AdaptiveEnd,
    Timeout::SrcTrack,
];

/// Memory limits (`set limit`), in `pfctl -sm` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Limit {
    States,
    SrcNodes,
    Frags,
    Tables,
    TableEntries,
    PktDelayPkts,
    Anchors,
    /// Packets the kernel queues for pfd (NFQUEUE's queue length), besides
    /// the fragments pf holds: Linux's, not OpenBSD's.
    Queue,
}

impl Limit {
    pub const ALL: [Limit; 8] = [
        Limit::States,
        Limit::SrcNodes,
        Limit::Frags,
        Limit::Tables,
        Limit::TableEntries,
        Limit::PktDelayPkts,
        Limit::Anchors,
        Limit::Queue,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Limit::States => "states",
            Limit::SrcNodes => "src-nodes",
            Limit::Frags => "frags",
            Limit::Tables => "tables",
            Limit::TableEntries => "table-entries",
            Limit::PktDelayPkts => "pktdelay-pkts",
            Limit::Anchors => "anchors",
            Limit::Queue => "nfqueue",
        }
    }
    pub fn from_name(s: &str) -> Option<Limit> {
        Limit::ALL.iter().copied().find(|l| l.name() == s)
    }
    pub fn default_value(self) -> u32 {
        match self {
            Limit::States => 100_000,
            Limit::SrcNodes => 10_000,
            Limit::Frags => 65_536,
            Limit::Tables => 1_000,
            Limit::TableEntries => 200_000,
            Limit::PktDelayPkts => 10_000,
            Limit::Anchors => 512,
            Limit::Queue => 8192,
        }
    }
}

/// Global options loaded together with the rules (`set ...`). Each field is
/// `None`/empty when pf.conf did not set it, so a reload only changes what
/// the file says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    pub block_policy: Option<BlockPolicy>,
    /// `set skip on { ... }`: interface (or group) names.
    pub skip: Vec<String>,
    pub timeouts: Vec<(Timeout, u32)>,
    pub limits: Vec<(Limit, u32)>,
    pub hostid: Option<u32>,
    pub loginterface: Option<String>,
    pub debug: Option<String>,
    /// `set ruleset-optimization none|basic|profile` (the last given;
    /// pfctl's optimizer, `ruleset::optimize`, uses the first, unless
    /// `pfctl -o` overrides it).
    pub ruleset_optimization: Option<String>,
    /// `set optimization normal|high-latency|...`
    pub optimization: Option<String>,
    /// `set reassemble yes|no [no-df]` (not enforced: Linux reassembles)
    pub reassemble: Option<(bool, bool)>,
    /// `set state-policy if-bound` (true) or `floating`
    pub state_policy_if_bound: Option<bool>,
    /// `set syncookies never|always|adaptive`
    pub syncookies: Option<SyncookiesMode>,
    /// `set syncookies adaptive (start N%, end M%)`: (start, end) in
    /// percent of the state limit, once given (pfctl keeps them for later
    /// `set syncookies` lines).
    pub syncookies_watermarks: Option<(u32, u32)>,
    /// `state limiter ...` and `source limiter ...` definitions, in
    /// source order.
    #[serde(default)]
    pub limiters: Vec<super::LimiterDef>,
    /// `set fail-policy open|closed`: what the kernel does with packets
    /// when pfd's queue is full (true: pass them unfiltered).
    #[serde(default)]
    pub fail_open: Option<bool>,
}

/// When pf answers a SYN with a syncookie instead of creating a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncookiesMode {
    Never,
    Always,
    /// On while the half-open states exceed the start watermark, off again
    /// below the end watermark.
    Adaptive,
}

impl SyncookiesMode {
    pub fn from_name(s: &str) -> Option<SyncookiesMode> {
        match s {
            "never" => Some(SyncookiesMode::Never),
            "always" => Some(SyncookiesMode::Always),
            "adaptive" => Some(SyncookiesMode::Adaptive),
            _ => None,
        }
    }
}

/// One `set ...` statement, macro definition or table definition, in
/// source order: what `pfctl -nv` echoes before the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Directive {
    /// `name = "value"`
    Macro {
        name: String,
        value: String,
    },
    BlockPolicy(BlockPolicy),
    /// `set skip on { ... }`; empty for `set skip on none`.
    Skip(Vec<String>),
    /// `set timeout name N` (the name as written).
    Timeout(String, u32),
    /// `set limit name N` (the name as written).
    Limit(String, u32),
    HostId(u32),
    LogInterface(String),
    Debug(String),
    Optimization(String),
    RulesetOptimization(String),
    /// `set reassemble yes|no [no-df]`
    Reassemble {
        on: bool,
        no_df: bool,
    },
    /// `set state-policy if-bound|floating` (true = if-bound)
    StatePolicyIfBound(bool),
    Fingerprints(String),
    /// `set syncookies mode [(start N%, end N%)]`, as printed
    Syncookies(String),
    /// `set fail-policy open|closed` (true: open)
    FailOpen(bool),
    /// `queue ...`: added after parsing, once the queue tree is checked, in
    /// the order pfctl loads (and prints) them: each root queue followed by
    /// its children, depth first. Not enforced on Linux yet.
    Queue(super::QueueSpec),
    /// `table <name> ...` (pfctl prints definitions where they occur).
    Table(super::table::TableDef),
    /// `state limiter ...` / `source limiter ...`
    Limiter(super::LimiterDef),
}

/// What `pfctl -f` loads: options and the main ruleset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {
    pub options: Options,
    pub rules: Vec<Rule>,
    /// `set` statements and macro definitions in source order (for
    /// `pfctl -nv`); `options` holds their net effect.
    pub directives: Vec<Directive>,
    /// `load anchor` statements, in the order pfctl loads them.
    pub loads: Vec<LoadedAnchor>,
}

/// The anchor an `anchor` rule calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorCall {
    /// The path as written for an anchor called by name (`"a/b"`, `"/x"`,
    /// `"x/*"`), the name of an inline anchor, `_N` for an anonymous
    /// inline anchor (`anchor { ... }`).
    pub name: String,
    /// The rules were given in braces (`pfctl -nv` prints them nested).
    pub inline: bool,
    /// The inline anchor's rules, as parsed; empty for an anchor called by
    /// name, and in what pfd holds (the anchor owns its rules there).
    pub rules: Vec<Rule>,
}

/// `load anchor name from "file"`: the file's ruleset, loaded at `path`
/// after the main ruleset (pfctl's `pfctl_load_anchors`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedAnchor {
    /// Full anchor path (`"x"`, or `"x/y"` for a load inside a loaded file).
    pub path: String,
    /// The file, as written.
    pub file: String,
    pub ruleset: Ruleset,
    /// Line of the `load anchor` statement, for messages.
    pub src_line: u32,
}

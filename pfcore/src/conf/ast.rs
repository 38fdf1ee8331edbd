//! The typed syntax tree of one pf.conf statement, as written: names are
//! still names (interfaces, hosts, services, users, protocols), lists are
//! still lists. Every AST type is here (rules, options, tables, queues,
//! anchors): `parser/` builds them, `expand/` resolves and multiplies them
//! into rules, tables and queues.

use crate::addr::Af;
use crate::ruleset::{Direction, RouteKind};

/// One statement of pf.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    Include(String),
    Macro {
        name: String,
        value: String,
    },
    Set(SetOption),
    Rule(Box<RuleAst>),
    /// `table <name> ...`
    Table(TableAst),
    /// `queue ...`
    Queue(Box<QueueAst>),
    Antispoof(Box<AntispoofAst>),
    /// `anchor ...` without braces (an inline body is split off by
    /// `anchor.rs` before the grammar sees the statement).
    Anchor(Box<AnchorAst>),
    /// `load anchor [name] from "file"` (name None: pfctl's "anchor name
    /// is missing").
    LoadAnchor {
        name: Option<String>,
        file: String,
    },
    /// `state limiter ...` / `source limiter ...`
    Limiter(Box<LimiterAst>),
}

/// `state|source limiter "name" option...`: the options as written (the
/// numbers as their text), checked when expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimiterAst {
    /// `source limiter` (false: `state limiter`).
    pub source: bool,
    pub name: String,
    pub opts: Vec<LimiterOptAst>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimiterOptAst {
    Id(String),
    Entries(String),
    Limit(String),
    Rate(String, String),
    /// `inet mask N` / `inet6 mask N`
    Mask(Af, String),
    /// `table <name> above N [below N]`
    Table(String, String, Option<String>),
}

/// `antispoof [log] [quick] for ifspec [af] [label "..."] [rtable N]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AntispoofAst {
    pub log: Option<Vec<LogOpt>>,
    pub quick: bool,
    /// Interface names; true = written `(if)` (addresses followed at run time).
    pub ifaces: Vec<(String, bool)>,
    pub af: Option<Af>,
    pub label: Option<String>,
    /// `label` given more than once ("label cannot be redefined").
    pub label_twice: bool,
    pub rtable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOption {
    /// `set block-policy drop|return` (true = return)
    BlockPolicyReturn(bool),
    /// `set skip on ...`
    Skip(Vec<IfItem>),
    /// `set timeout name N` / `set timeout { ... }`
    Timeout(Vec<(String, String)>),
    /// `set limit name N` / `set limit { ... }`
    Limit(Vec<(String, String)>),
    HostId(String),
    LogInterface(String),
    Debug(String),
    RulesetOptimization(String),
    Optimization(String),
    /// `set reassemble yes|no [no-df]` (the yes/no word as written)
    Reassemble(String, bool),
    /// `set state-policy if-bound|floating` (true = if-bound)
    StatePolicyIfBound(bool),
    /// `set state-defaults opt, ...`
    StateDefaults(Vec<StateOptAst>),
    Fingerprints(String),
    /// `set syncookies never|adaptive|always [(start N%, end N%)]`
    Syncookies(String, Vec<(String, String)>),
    /// `set fail-policy open|closed` (as written)
    FailPolicy(String),
}

/// `on [!] name`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfItem {
    pub neg: bool,
    pub name: IfName,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfName {
    Any,
    Rdomain(String),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionAst {
    Pass,
    Match,
    Block(Option<BlockSpec>),
    /// An `anchor` rule: filter options as for pass rules, but no state,
    /// no default flags and no translation (pfctl's `anchorrule`).
    Anchor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockSpec {
    Drop,
    Return,
    ReturnRst {
        ttl: Option<String>,
    },
    /// `return-icmp [(code [, code6])]`
    ReturnIcmp {
        code: Option<String>,
        code6: Option<String>,
    },
    /// `return-icmp6 [(code6)]`
    ReturnIcmp6 {
        code6: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOpt {
    All,
    Matches,
    User,
    To(String),
}

/// A host in `from`/`to`/`nat-to`/`rdr-to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAst {
    /// An address, network, host name or interface name (with `:network`
    /// etc.), optionally followed by `/bits`.
    Name { name: String, mask: Option<String> },
    /// `a - b`
    Range(String, String),
    /// `(ifname[:mod...])[/bits]`
    Dynamic { spec: String, mask: Option<String> },
    /// `<table>`
    Table(String),
    /// `route "label"`
    RouteLabel(String),
}

/// One element of an address list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostItem {
    Any,
    Host { neg: bool, host: HostAst },
    NoRoute { neg: bool },
    UrpfFailed { neg: bool },
    List(Vec<HostItem>),
}

/// Comparison operator of ports and ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpAst {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `><`
    Inside,
    /// `<>`
    Outside,
}

/// A port or id item: `p`, `op p`, `a binop b` (ranges `a:b` are inside the
/// word and split during expansion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemAst {
    Plain(String),
    Unary(OpAst, String),
    Binary(String, OpAst, String),
}

/// `[from|to] hosts [port ports]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostPort {
    /// None = `any` / not given.
    pub hosts: Option<HostItem>,
    pub ports: Vec<ItemAst>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepAst {
    No,
    Keep,
    Modulate,
    Synproxy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateOptAst {
    Max(String),
    NoSync,
    SourceTrack(Option<bool>), // Some(true) = global, Some(false) = rule
    MaxSrcStates(String),
    MaxSrcConn(String),
    MaxSrcConnRate(String, String),
    MaxSrcNodes(String),
    Overload {
        table: String,
        flush: bool,
        global: bool,
    },
    IfBound,
    Floating,
    Sloppy,
    Pflow,
    Timeout(String, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolOptAst {
    Bitmask,
    Random,
    SourceHash(Option<String>),
    RoundRobin,
    LeastStates,
    StaticPort,
    StickyAddress,
}

/// `nat-to` / `rdr-to` target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RedirAst {
    pub hosts: Vec<HostAst>,
    /// `weight N` of each host, as written.
    pub weights: Vec<Option<String>>,
    /// The hosts were given in braces (`{ ... }`).
    pub braced: bool,
    pub port: Option<String>,
    pub opts: Vec<PoolOptAst>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpItemAst {
    pub typ: String,
    pub code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterOpt {
    /// `state limiter NAME` / `source limiter NAME` with `(block)` (Some
    /// true), `(no-match)` (Some false) or nothing.
    Limiter {
        source: bool,
        name: String,
        block: Option<bool>,
    },
    User(Vec<ItemAst>),
    Group(Vec<ItemAst>),
    /// `flags F/M`; None, None = `flags any`
    Flags(Option<String>, Option<String>),
    IcmpType {
        v6: bool,
        items: Vec<IcmpItemAst>,
    },
    Keep(KeepAst, Vec<StateOptAst>),
    Label(String),
    Tag(String),
    Tagged {
        neg: bool,
        name: String,
    },
    NatTo(RedirAst),
    RdrTo(RedirAst),
    BinatTo(RedirAst),
    /// `af-to inet6 from pool [to pool]`
    AfTo {
        af: Af,
        from: RedirAst,
        to: Option<RedirAst>,
    },
    /// `route-to|reply-to|dup-to pool`
    Route(RouteKind, RedirAst),
    DivertTo {
        host: String,
        port: String,
    },
    DivertReply,
    DivertPacket(String),
    Scrub(Vec<ScrubOptAst>),
    Prio(String),
    Tos(String),
    Probability(String),
    Rtable(String),
    ReceivedOn {
        neg: bool,
        name: IfName,
    },
    MaxPktRate(String, String),
    /// `queue q` / `queue (q, pq)` (also `set queue`)
    Queue(String, Option<String>),
    SetPrio(String, String),
    SetTos(String),
    SetDelay(String),
    Fragment,
    AllowOpts,
    Once,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrubOptAst {
    NoDf,
    MinTtl(String),
    MaxMss(String),
    /// `reassemble <word>` (only `tcp` is valid)
    Reassemble(String),
    RandomId,
}

/// A `pass`/`block`/`match` rule as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleAst {
    pub action: ActionAst,
    pub direction: Direction,
    pub log: Option<Vec<LogOpt>>,
    pub quick: bool,
    pub on: Vec<IfItem>,
    pub af: Option<Af>,
    pub proto: Vec<String>,
    pub from: HostPort,
    pub to: HostPort,
    /// `os "fingerprint"` after the source
    pub os: Vec<String>,
    pub opts: Vec<FilterOpt>,
}

/// `anchor [name] [in|out] [quick] [on ...] [af] [proto ...] [from/to]
/// [filter options]`: the rule part is a `RuleAst` with action `Anchor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorAst {
    pub name: Option<String>,
    pub rule: RuleAst,
}

// ---------------------------------------------------------------- tables

/// `table <name> opts...` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableAst {
    pub name: String,
    pub opts: Vec<TableOptAst>,
}

/// One table option, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableOptAst {
    /// `const`, `persist`, `counters` (or anything else: an error later).
    Flag { word: String, line: u32 },
    /// `{ ... }`, possibly empty; nested lists are flattened.
    Hosts {
        hosts: Vec<TableHostAst>,
        close_line: u32,
    },
    /// `file "path"`
    File(String),
}

/// One element of a `{ }` list: an `xhost` and its optional `weight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableHostAst {
    pub item: HostItem,
    pub weight: Option<String>,
    pub line: u32,
}

// ---------------------------------------------------------------- queues

/// A bandwidth as written: pfctl's NUMBER or STRING token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BwAst {
    Number(String),
    Str(String),
}

/// `bw [burst bw for time]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScAst {
    pub m2: BwAst,
    /// (`burst` bandwidth, `for` time)
    pub burst: Option<(BwAst, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOptAst {
    /// `bandwidth sc [, min sc] [, max sc]`; `extra` in source order,
    /// true for `min`, false for `max`.
    Bandwidth {
        linkshare: ScAst,
        extra: Vec<(bool, ScAst)>,
    },
    Parent(String),
    Default,
    /// Numbers as written (pfctl's NUMBER tokens).
    Qlimit(String),
    Flows(String),
    Quantum(String),
}

/// One `queue` statement as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAst {
    pub name: String,
    /// `on ...` (empty without).
    pub on: Vec<IfItem>,
    /// Line of the interface list, for its errors.
    pub on_line: u32,
    /// Options in source order, each with the line it ends on.
    pub opts: Vec<(QueueOptAst, u32)>,
}

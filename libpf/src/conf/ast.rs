//! The typed syntax tree of one pf.conf statement, as written: names are
//! still names (interfaces, hosts, services, users, protocols), lists are
//! still lists. `expand.rs` resolves and multiplies them into rules.

use crate::addr::Af;
use crate::ruleset::Direction;

/// One statement of pf.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    Include(String),
    Macro { name: String, value: String },
    Set(SetOption),
    Rule(Box<RuleAst>),
    /// `table <name> ...` (see `table.rs`).
    Table(super::table::TableAst),
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockSpec {
    Drop,
    Return,
    ReturnRst { ttl: Option<String> },
    /// `return-icmp [(code [, code6])]`
    ReturnIcmp { code: Option<String>, code6: Option<String> },
    /// `return-icmp6 [(code6)]`
    ReturnIcmp6 { code6: Option<String> },
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
    Overload { table: String, flush: bool, global: bool },
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirAst {
    pub hosts: Vec<HostAst>,
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
    User(Vec<ItemAst>),
    Group(Vec<ItemAst>),
    /// `flags F/M`; None, None = `flags any`
    Flags(Option<String>, Option<String>),
    IcmpType { v6: bool, items: Vec<IcmpItemAst> },
    Keep(KeepAst, Vec<StateOptAst>),
    Label(String),
    Tag(String),
    Tagged { neg: bool, name: String },
    NatTo(RedirAst),
    RdrTo(RedirAst),
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
    pub opts: Vec<FilterOpt>,
}

//! The control protocol between pfd and its clients (pfctl, carpctl,
//! pfsyncd, netstart): the "ioctl" commands, named after OpenBSD's, their
//! replies, the framing, and a blocking client.

pub mod assembler;
pub mod client;
pub mod frame;

use crate::addr::IpNet;
use crate::carp::iface::CarpStats;
use crate::carp::{CarpConfig, CarpState, CarpStatus};
use crate::engine::anchor::{Loader, RuleCounters};
use crate::engine::iface::IfaceInfo;
use crate::engine::limiter::{SourceLimiterInfo, StateLimiterInfo};
use crate::engine::srcnode::SrcNodeInfo;
use crate::engine::state::StateKill;
use crate::engine::status::Status;
use crate::engine::table::{AddrChange, AddrInfo, TableInfo};
use crate::osfp::FpEntry;
use crate::pfsync::stats::PfsyncReport;
use crate::pfsync::{PfsyncConfig, PfsyncStatus};
use crate::ruleset::{Limit, Options, Rule, TableEntry, TableFlags, Timeout};
use crate::wire::pfsync::{BusRepr, Message, StateRepr};
use serde::{Deserialize, Serialize};

/// Default path of pfd's control socket.
pub const DEFAULT_SOCKET: &str = "/var/run/pf.sock";
/// Environment variable that overrides the socket path (tests).
pub const SOCKET_ENV: &str = "PF_SOCKET";

/// The socket path to use: $PF_SOCKET or the default.
pub fn socket_path() -> String {
    std::env::var(SOCKET_ENV).unwrap_or_else(|_| DEFAULT_SOCKET.to_string())
}

/// States travel in chunks of this many per reply frame.
pub const STATES_PER_FRAME: usize = 2000;

/// Table addresses travel in chunks of this many per frame (an IPv6
/// entry is about 20 bytes, with statistics about 130).
pub const ADDRS_PER_FRAME: usize = 50_000;

/// What a `TableAddrs` request does with its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddrOp {
    /// DIOCRADDADDRS (`-T add`)
    Add,
    /// DIOCRDELADDRS (`-T delete`, `-T expire`)
    Delete,
    /// DIOCRSETADDRS (`-T replace`)
    Replace,
    /// DIOCRTSTADDRS (`-T test`): host addresses only
    Test,
    /// DIOCRCLRASTATS (`-T zero ADDRESS...`)
    Zero,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// DIOCSTART: enable pf (installs the packet hooks).
    Start,
    /// DIOCSTOP: disable pf (removes the hooks).
    Stop,
    /// DIOCXBEGIN: open a ruleset transaction; replies `Ticket`.
    XBegin,
    /// DIOCADDRULE: add rules to the ruleset of anchor `anchor` (`""`:
    /// the main ruleset) in the open transaction. An anchor named in a
    /// transaction, even with no rules, has its ruleset replaced at commit;
    /// the others keep theirs.
    AddRules {
        ticket: u32,
        anchor: String,
        rules: Vec<Rule>,
    },
    /// DIOCSETOPTIONS (set skip, timeouts, limits...) for the transaction.
    SetOptions {
        ticket: u32,
        options: Options,
        checksum: String,
    },
    /// DIOCXCOMMIT: swap the transaction's rulesets (and options, if set)
    /// in atomically.
    XCommit { ticket: u32 },
    /// DIOCXROLLBACK: drop the transaction.
    XRollback { ticket: u32 },
    /// DIOCGETRULES: the running rules of anchor `anchor` (`""`: the main
    /// ruleset) with their counters.
    GetRules { anchor: String },
    /// DIOCGETRULESETS: the names of the child anchors of `anchor`.
    GetRulesets { anchor: String },
    /// DIOCGETSTATES: every state; replies `States` chunks then `Done`.
    GetStates,
    /// DIOCCLRSTATES: remove every state (on `ifname`, if given).
    ClearStates { ifname: Option<String> },
    /// DIOCKILLSTATES: remove the states the filter selects; replies
    /// `Count`.
    KillStates(StateKill),
    /// DIOCSETDEBUG (`pfctl -x`): pf's debug level, a syslog priority.
    SetDebug { level: u8 },
    /// DIOCOSFPFLUSH: remove the OS fingerprints.
    OsfpFlush,
    /// DIOCOSFPADD: add OS fingerprints; replies `Duplicates`.
    OsfpAdd { entries: Vec<FpEntry> },
    /// DIOCOSFPGET: the OS fingerprints; replies `Fingerprints`.
    OsfpGet,
    /// Flush the rules of an anchor (`pfctl [-a anchor] -F rules`).
    FlushRules { anchor: String },
    /// DIOCGETSTATUS
    GetStatus,
    /// DIOCCLRSTATUS
    ClearStatus,
    /// DIOCCLRRULECTRS (`pfctl [-a anchor] -z`)
    ClearRuleCounters { anchor: String },
    /// DIOCGETTIMEOUT for all timeouts.
    GetTimeouts,
    /// DIOCGETLIMIT for all limits.
    GetLimits,
    /// DIOCADDSTATES: insert states (from pfsync or a state import).
    AddStates { states: Vec<StateRepr> },
    /// SIOCGVH: a carp interface; `None` name lists all.
    GetCarp { name: String },
    /// CARP statistics (netstat -s -p carp).
    GetCarpStats,
    /// List the pseudo-interfaces pfd knows (carpN, pfsync0).
    ListInterfaces,
    /// SIOCSVH plus addresses and flags: create or reconfigure carpN.
    SetCarp {
        name: String,
        config: CarpConfig,
        force_state: Option<CarpState>,
    },
    /// Destroy a pseudo-interface.
    Destroy { name: String },
    /// `carpdemote` on an interface group (delta may be negative).
    DemoteGroup {
        group: String,
        delta: i32,
        reason: String,
    },
    /// The demotion counter of a group.
    GetGroupDemote { group: String },
    /// SIOCGETPFSYNC
    GetPfsync,
    /// SIOCSETPFSYNC
    SetPfsync { config: PfsyncConfig },
    /// pfsyncd attaches: this connection becomes the stream of local
    /// changes (`SyncOut` frames) until it closes.
    PfsyncAttach,
    /// pfsyncd hands over what arrived from the peer.
    PfsyncInput { messages: Vec<Message> },
    /// pfsyncd's bulk-update demotion (+32 while pending): held by pfd
    /// on behalf of the pfsyncd connection and dropped with it.
    PfsyncDemote { on: bool },
    /// pfsyncd received a whole bulk update from the peer `creatorid`,
    /// which began `age_ms` ago: that peer's states not touched since
    /// then (by a packet or an update) are gone on the peer; remove them
    /// without announcing it.
    PfsyncPurgeStale { creatorid: u32, age_ms: u64 },
    /// sysctl-style knobs: net.inet.carp.preempt, .allow, .log.
    Sysctl { name: String, value: Option<i64> },
    /// DIOCIGETIFACES: the interface table (`pfctl -s Interfaces`); with a
    /// filter, the interface of that name or a group's members (`-i`).
    GetIfaces { filter: Option<String> },
    /// DIOCCLRSTATUS with an interface (`pfctl -i IF -F info`): clear the
    /// interface's counters, or its members' for a group.
    ClearIfStats { ifname: String },
    /// SIOCAIFGROUP: put an interface in an administrative group
    /// (`carpctl IF group NAME`).
    AddIfGroup { ifname: String, group: String },
    /// SIOCDIFGROUP: `carpctl IF -group NAME`.
    DelIfGroup { ifname: String, group: String },
    /// SIOCGIFGROUP: the groups of an interface; replies `Groups`.
    GetIfGroups { ifname: String },
    /// SIOCGIFGMEMB for every group; replies `GroupMembers`.
    GetGroupMembers,
    /// DIOCXBEGIN for `pfctl -T load`: a transaction that only defines
    /// tables (the rules stay); replies `Ticket`.
    XBeginTables,
    /// DIOCRINADEFINE: define table `name` of `anchor` in the open
    /// transaction (a second definition replaces the first).
    InaDefine {
        ticket: u32,
        anchor: String,
        name: String,
        flags: TableFlags,
        /// The definition gives the contents (even none): they replace
        /// the table's at commit. Without, the contents stay.
        init_addr: bool,
    },
    /// DIOCRINADEFINE's addresses, in chunks of `ADDRS_PER_FRAME`.
    InaAddrs {
        ticket: u32,
        anchor: String,
        name: String,
        addrs: Vec<TableEntry>,
    },
    /// DIOCRCLRTABLES (`-F Tables`): replies `Count`.
    ClrTables { anchor: String, dummy: bool },
    /// DIOCRADDTABLES: create a persistent table if needed (`-T add`,
    /// `-T replace`); replies `Count` (1 if created).
    AddTable {
        anchor: String,
        name: String,
        dummy: bool,
    },
    /// DIOCRDELTABLES (`-T kill`): replies `Count`.
    DelTable {
        anchor: String,
        name: String,
        dummy: bool,
    },
    /// DIOCRGETTSTATS: tables with statistics, of `anchor` or (None) of
    /// every anchor; replies `Tables`.
    GetTables { anchor: Option<String> },
    /// DIOCRCLRTSTATS (`-T zero`): replies `Count`.
    ClrTstats {
        anchor: String,
        name: String,
        dummy: bool,
    },
    /// DIOCRCLRADDRS (`-T flush`): replies `Count`.
    ClrAddrs {
        anchor: String,
        name: String,
        dummy: bool,
    },
    /// DIOCRGETASTATS (`-T show`): replies `Addrs` chunks, then `Done`.
    GetAstats { anchor: String, name: String },
    /// An address operation. With `more`, the addresses continue in
    /// `MoreAddrs` frames (each answered `Ok`) until one without; then the
    /// operation runs on all of them at once and replies `AddrChange`,
    /// followed, with `feedback`, by `Addrs` chunks and `Done`.
    TableAddrs {
        op: AddrOp,
        anchor: String,
        name: String,
        dummy: bool,
        feedback: bool,
        addrs: Vec<TableEntry>,
        more: bool,
    },
    /// The next chunk of a `TableAddrs` request.
    MoreAddrs { addrs: Vec<TableEntry>, more: bool },
    /// DIOCGETSRCNODES: the source tracking nodes; replies `SrcNodes`.
    GetSrcNodes,
    /// DIOCCLRSRCNODES (`pfctl -F Sources`): replies `Count`.
    ClrSrcNodes,
    /// DIOCKILLSRCNODES (`pfctl -K src [-K dst]`): the nodes of the
    /// sources in `src` (whose sticky address is in `dst`); replies
    /// `Count`.
    KillSrcNodes { src: IpNet, dst: Option<IpNet> },
    /// DIOCGETSTATELIM: the state limiters and their counters; replies
    /// `StateLimiters`.
    GetStateLimiters,
    /// DIOCGETSOURCELIM: the source limiters, with their source entries
    /// when `entries`; replies `SourceLimiters`.
    GetSourceLimiters { entries: bool },
    /// DIOCCLRSOURCE (`pfctl -I id -k source -k net`): the entries of
    /// source limiter `id` inside (or holding) `net`; replies `Count`.
    KillLimiterSources { id: u32, net: IpNet },
    /// pfsyncd's counters, bulk phase and the peer's last word, sent
    /// whenever they change; replies `Ok`.
    PfsyncReport(PfsyncReport),
    /// pfsyncd's last report, aged to now (`carpctl -s pfsync0`, the
    /// metrics); replies `PfsyncStats`.
    GetPfsyncStats,
}

impl Request {
    /// Requests anyone allowed on the socket may make; everything else
    /// needs uid 0.
    pub fn read_only(&self) -> bool {
        matches!(
            self,
            Request::GetRules { .. }
                | Request::GetRulesets { .. }
                | Request::GetStates
                | Request::GetStatus
                | Request::GetTimeouts
                | Request::GetLimits
                | Request::GetCarp { .. }
                | Request::GetCarpStats
                | Request::ListInterfaces
                | Request::GetGroupDemote { .. }
                | Request::GetPfsync
                | Request::GetPfsyncStats
                | Request::OsfpGet
                | Request::Sysctl { value: None, .. }
                | Request::GetIfaces { .. }
                | Request::GetIfGroups { .. }
                | Request::GetGroupMembers
                | Request::GetTables { .. }
                | Request::GetSrcNodes
                | Request::GetStateLimiters
                | Request::GetSourceLimiters { .. }
                | Request::GetAstats { .. }
                | Request::TableAddrs {
                    op: AddrOp::Test,
                    ..
                }
        )
    }
}

/// A rule as DIOCGETRULES returns it: an anchor rule carries its call
/// (as written, `_N` for an anonymous anchor), not the anchor's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub rule: Rule,
    pub counters: RuleCounters,
    /// A `once` rule that has matched (PFRULE_EXPIRED): skipped by the
    /// filter, hidden by `pfctl -sr` unless -vv.
    pub expired: bool,
    /// Its skip steps, as pfd computed them when the ruleset was committed.
    pub skip: crate::ruleset::skip::SkipSteps,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Ok,
    /// An error, with an errno-like code and pfd's message.
    Error {
        errno: i32,
        message: String,
    },
    Ticket(u32),
    Rules {
        rules: Vec<RuleInfo>,
        loader: Loader,
    },
    /// Names of child anchors, in order.
    Rulesets(Vec<String>),
    /// One chunk of a state listing.
    States(Vec<StateRepr>),
    /// End of a streamed listing.
    Done,
    Count(u64),
    Status(Box<Status>),
    Timeouts(Vec<(Timeout, u32)>),
    Limits(Vec<(Limit, u32)>),
    Carp(Option<CarpStatus>),
    CarpStats(CarpStats),
    Interfaces(Vec<String>),
    Demote(u32),
    Pfsync(PfsyncStatus),
    /// What pfd made of a PfsyncInput.
    PfsyncInput {
        bulk_requested: bool,
        bus: Vec<BusRepr>,
        stale: u32,
        badstate: u32,
    },
    /// Local changes for pfsyncd to send, and the Unix time (ms) the
    /// oldest new state among them was made (0: no new state).
    SyncOut(Vec<Message>, u64),
    /// pfsync configuration changed (sent on the attached stream).
    PfsyncConfig(PfsyncConfig),
    Sysctl(i64),
    /// The interface table.
    Ifaces(Vec<IfaceInfo>),
    /// The groups of an interface.
    Groups(Vec<String>),
    /// Every group with its members.
    GroupMembers(Vec<(String, Vec<String>)>),
    /// Tables with their statistics.
    Tables(Vec<TableInfo>),
    /// A chunk of table addresses (with statistics or feedback).
    Addrs(Vec<AddrInfo>),
    /// What a `TableAddrs` operation did (its feedback follows apart).
    AddrChange(AddrChange),
    /// Fingerprints refused by OsfpAdd, as pfctl warns about them.
    Duplicates(Vec<String>),
    /// Source tracking nodes (DIOCGETSRCNODES).
    SrcNodes(Vec<SrcNodeInfo>),
    Fingerprints(Vec<FpEntry>),
    StateLimiters(Vec<StateLimiterInfo>),
    SourceLimiters(Vec<SourceLimiterInfo>),
    /// pfsyncd's report (None: no pfsyncd has reported since it attached).
    PfsyncStats(Option<PfsyncReport>),
}

impl Reply {
    pub fn error(errno: i32, message: impl Into<String>) -> Reply {
        Reply::Error {
            errno,
            message: message.into(),
        }
    }
}

/// Errors a client sees.
#[derive(Debug)]
pub enum Error {
    /// Could not reach pfd.
    Connect(String, std::io::Error),
    Io(std::io::Error),
    Frame(frame::FrameError),
    /// pfd said no.
    Daemon {
        errno: i32,
        message: String,
    },
    /// pfd answered something unexpected.
    Protocol(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Connect(p, e) => write!(f, "{p}: {e} (is pfd running?)"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Frame(e) => write!(f, "{e}"),
            Error::Daemon { message, .. } => write!(f, "{message}"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<frame::FrameError> for Error {
    fn from(e: frame::FrameError) -> Self {
        match e {
            frame::FrameError::Io(io) => Error::Io(io),
            other => Error::Frame(other),
        }
    }
}

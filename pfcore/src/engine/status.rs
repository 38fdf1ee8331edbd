//! The counters `pfctl -si` shows: state-table activity and the packets
//! dropped or matched for each of pf's reasons; whether pf is enabled
//! (`pfctl -e`, `-d`) and the status it reports.

use super::Engine;
use serde::{Deserialize, Serialize};

/// pf's reason codes, in `pfctl -si` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reason {
    Match = 0,
    BadOffset,
    Fragment,
    Short,
    Normalize,
    Memory,
    BadTimestamp,
    Congestion,
    IpOption,
    ProtoCksum,
    StateMismatch,
    StateInsert,
    StateLimit,
    SrcLimit,
    Synproxy,
    Translate,
    NoRoute,
}

pub const REASON_NAMES: [&str; 17] = [
    "match",
    "bad-offset",
    "fragment",
    "short",
    "normalize",
    "memory",
    "bad-timestamp",
    "congestion",
    "ip-option",
    "proto-cksum",
    "state-mismatch",
    "state-insert",
    "state-limit",
    "src-limit",
    "synproxy",
    "translate",
    "no-route",
];

/// `Limit Counters` of `pfctl -vsi`, in order.
pub const LIMIT_COUNTER_NAMES: [&str; 10] = [
    "max states per rule",
    "max-src-states",
    "max-src-nodes",
    "max-src-conn",
    "max-src-conn-rate",
    "overload table insertion",
    "overload flush states",
    "synfloods detected",
    "syncookies sent",
    "syncookies validated",
];

/// A snapshot of pf's status, as DIOCGETSTATUS returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub running: bool,
    /// Seconds since pf was enabled (0 when disabled).
    pub uptime_secs: u64,
    pub states: u64,
    pub half_open_tcp: u64,
    pub searches: u64,
    pub inserts: u64,
    pub removals: u64,
    pub counters: [u64; 17],
    pub limit_counters: [u64; 10],
    pub src_nodes: u64,
    /// Source tracking table: searches, inserts, removals.
    #[serde(default)]
    pub src_node_counters: [u64; 3],
    /// Fragments held for reassembly now.
    pub fragments: u64,
    /// Fragment searches, inserts, removals (`pfctl -vsi`, `Fragments`).
    #[serde(default)]
    pub frag_counters: [u64; 3],
    pub hostid: u32,
    /// MD5 of the ruleset as `pfctl -vsi` prints it (32 hex digits).
    pub checksum: String,
    pub debug: String,
    /// loginterface statistics (pfi_update_status): name, bytes
    /// [IPv4/IPv6][in/out], packets [IPv4/IPv6][in/out][pass/block].
    pub loginterface: Option<String>,
    pub if_bytes: [[u64; 2]; 2],
    pub if_packets: [[[u64; 2]; 2]; 2],
    pub syncookies_start: u32,
    pub syncookies_end: u32,
    /// pfd's queue (`pfctl -vsi`): packets waiting, its length, and
    /// whether it fails open; None where there is no queue.
    #[serde(default)]
    pub queue: Option<(u64, u64, bool)>,
    /// pfd's fast path (`pfctl -vsi`), None when it is off.
    #[serde(default)]
    pub fastpath: Option<FastPathStatus>,
    /// pfd's packet threads and the engine they share (`pfctl -si`,
    /// Packet Queue), None where there is no queue.
    #[serde(default)]
    pub threads: Option<ThreadStatus>,
}

/// pfd's packet threads (one per queue) and the one engine they share:
/// how often a thread (of the data path or another) found it taken and
/// waited, and how long in all. Waits that grow with the queues say the
/// state table's one lock, not the threads, bounds the data path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadStatus {
    pub queues: u64,
    pub engine_waits: u64,
    pub engine_wait_us: u64,
}

/// What pfd's fast path for established flows did (pfcore::fastpath).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FastPathStatus {
    /// Flows and map entries now.
    pub flows: u64,
    pub entries: u64,
    /// Packets pfd's queues gave it.
    pub queued: u64,
    /// Packets and bytes the kernel passed on its own.
    pub passed: u64,
    pub bytes: u64,
    /// Packets rewritten at egress (nat-to, rdr-to replies).
    pub egress: u64,
    /// Packets of offloaded flows left to pfd: outside the window, with
    /// SYN, FIN or RST.
    pub window: u64,
    pub flags: u64,
    /// Of the packets passed in the kernel: forwarded by the program
    /// itself, left to the kernel's IP forwarding (another route, too
    /// big, ...). Neither while forwarding in the program is off.
    pub forwarded: u64,
    pub to_stack: u64,
    /// Whether the program forwards offloaded flows itself now
    /// (daemon::fastforward), or leaves them to the IP stack.
    #[serde(default)]
    pub forwarding: bool,
}

/// pf's default debug level (`LOG_ERR`).
pub const DEBUG_DEFAULT: u8 = 3;

/// A debug level by name, as pfctl reads `set debug` and `-x`
/// (string_to_loglevel): a syslog priority name or number, or one of pf's
/// old level names (`none`, `urgent`, `misc`, `loud`), which pfctl maps to
/// crit, err, notice and debug.
pub fn debug_level(name: &str) -> Option<u8> {
    if let Ok(n) = name.parse::<u8>() {
        return (n <= 7).then_some(n);
    }
    Some(match name.to_ascii_lowercase().as_str() {
        "emerg" | "panic" => 0,
        "alert" => 1,
        "crit" | "none" => 2,
        "err" | "error" | "urgent" => 3,
        "warn" | "warning" => 4,
        "notice" | "misc" => 5,
        "info" => 6,
        "debug" | "loud" => 7,
        _ => return None,
    })
}

/// The name pfctl prints for a debug level (loglevel_to_string: the first
/// of syslog's names for it).
pub fn debug_name(level: u8) -> &'static str {
    match level {
        0 => "emerg",
        1 => "alert",
        2 => "crit",
        3 => "err",
        4 => "warn",
        5 => "notice",
        6 => "info",
        7 => "debug",
        _ => "unknown",
    }
}

impl Engine {
    /// pf is running (`pfctl -e`).
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

    /// The host id states are created with (`set hostid`).
    pub fn hostid(&self) -> u32 {
        self.hostid
    }

    /// `pfctl -si`: the status and counters as of `now`.
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
        s.debug = debug_name(self.debug).to_string();
        s.loginterface = self.options.loginterface.clone();
        if let Some(name) = &s.loginterface {
            (s.if_packets, s.if_bytes) = self.ifaces.log_counters(name);
        }
        s
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
}

//! The counters `pfctl -si` shows: state-table activity and the packets
//! dropped or matched for each of pf's reasons.

use serde::{Deserialize, Serialize};

/// pf's reason codes, in `pfctl -si` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
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
    pub fragments: u64,
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
}

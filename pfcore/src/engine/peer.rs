//! One end of a connection as pf tracks it (pf_state_peer): the sequence
//! window, the window scale and MSS, and where the end is in its state
//! machine (TCP's, or the pseudo states of UDP and other protocols).

/// TCP states of the BSD FSM plus pf's two proxy states; UDP and other
/// protocols use 0..2 (NO_TRAFFIC, SINGLE, MULTIPLE).
pub mod tcps {
    pub const CLOSED: u8 = 0;
    pub const LISTEN: u8 = 1;
    pub const SYN_SENT: u8 = 2;
    pub const SYN_RECEIVED: u8 = 3;
    pub const ESTABLISHED: u8 = 4;
    pub const CLOSE_WAIT: u8 = 5;
    pub const FIN_WAIT_1: u8 = 6;
    pub const CLOSING: u8 = 7;
    pub const LAST_ACK: u8 = 8;
    pub const FIN_WAIT_2: u8 = 9;
    pub const TIME_WAIT: u8 = 10;
    pub const PROXY_SRC: u8 = 11;
    pub const PROXY_DST: u8 = 12;
    pub const NAMES: [&str; 11] = [
        "CLOSED",
        "LISTEN",
        "SYN_SENT",
        "SYN_RCVD",
        "ESTABLISHED",
        "CLOSE_WAIT",
        "FIN_WAIT_1",
        "CLOSING",
        "LAST_ACK",
        "FIN_WAIT_2",
        "TIME_WAIT",
    ];
}

pub mod udps {
    pub const NO_TRAFFIC: u8 = 0;
    pub const SINGLE: u8 = 1;
    pub const MULTIPLE: u8 = 2;
    pub const NAMES: [&str; 3] = ["NO_TRAFFIC", "SINGLE", "MULTIPLE"];
}

/// One end of a connection, as pf tracks it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peer {
    pub seqlo: u32,
    pub seqhi: u32,
    pub seqdiff: u32,
    pub max_win: u16,
    pub mss: u16,
    pub state: u8,
    /// Window scale with the 0x80 "negotiated" flag.
    pub wscale: u8,
}

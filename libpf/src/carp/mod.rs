//! CARP: configuration, the per-vhid state machine (timers and packets in,
//! actions out) and the advertisement HMAC.

pub mod config;

pub use config::*;

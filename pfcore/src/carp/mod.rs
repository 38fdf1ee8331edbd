//! CARP: configuration, the per-vhid state machine (timers and packets in,
//! actions out) and the virtual MAC.

pub mod balance;
pub mod config;
pub mod fsm;
pub mod iface;

pub use config::*;

pub use crate::wire::carp::virtual_mac;

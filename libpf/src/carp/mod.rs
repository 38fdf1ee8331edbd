//! CARP: configuration, the per-vhid state machine (timers and packets in,
//! actions out) and the virtual MAC.

pub mod config;
pub mod fsm;

pub use config::*;

/// The virtual MAC of a vhid: 00:00:5e:00:01:<vhid> (zeros without a vhid).
pub fn virtual_mac(vhid: u8) -> [u8; 6] {
    if vhid == 0 {
        [0; 6]
    } else {
        [0x00, 0x00, 0x5e, 0x00, 0x01, vhid]
    }
}

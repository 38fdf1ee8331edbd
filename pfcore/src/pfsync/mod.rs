//! pfsync: configuration, the queue of local state changes waiting to be
//! sent, the bulk-update state machine, and the checks of a received packet.

pub mod bulk;
pub mod config;
pub mod health;
pub mod input;
pub mod queue;
pub mod stats;

pub use config::*;

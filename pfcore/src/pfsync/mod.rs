//! pfsync: configuration, the queue of local state changes waiting to be
//! sent, and the bulk-update state machine.

pub mod bulk;
pub mod config;
pub mod queue;

pub use config::*;

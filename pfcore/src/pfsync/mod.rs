//! pfsync: configuration, the queue of local state changes waiting to be
//! sent, the bulk-update state machine, the checks of a received packet,
//! frame authentication, the rate limit on bulk requests, and `defer`.

pub mod auth;
pub mod bulk;
pub mod config;
pub mod defer;
pub mod health;
pub mod input;
pub mod queue;
pub mod ratelimit;
pub mod repair;
pub mod stats;

pub use config::*;

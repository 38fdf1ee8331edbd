//! The compiled ruleset: what `pfctl -f` hands to pfd after pf.conf has been
//! parsed and expanded, what the engine evaluates and what `pfctl -sr` prints.
//! Everything here is resolved: no macros, no lists, no interface names
//! standing for addresses.

pub mod anchor;
pub mod limiter;
pub mod optimize;
pub mod queue;
pub mod route;
pub mod rule;
pub mod skip;
pub mod support;
pub mod table;

pub use anchor::*;
pub use limiter::*;
pub use queue::*;
pub use rule::*;
pub use table::*;

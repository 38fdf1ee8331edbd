//! fwsync's pure side: the configuration language of fwsync.conf(5)
//! (`conf`: the peer, the files to sync and the peer's differences), the
//! differences applied to a file's text (`rewrite`) and the stream one
//! fwsync sends the other through ssh (`bundle`). The ssh process, the
//! staging directory and the commands run on the peer are libpf's
//! (`libpf::fwsync`).

pub mod bundle;
pub mod conf;
pub mod rewrite;

pub use conf::{Config, ConfigError, Edits, Sync};

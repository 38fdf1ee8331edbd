//! Linux glue: the parts of libpf that ask the running system.

pub mod resolve;

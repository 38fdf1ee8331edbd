//! Arbitrary bytes into the pf.conf parser: it may refuse them, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static RESOLVER: OnceLock<libpf::conf::StaticResolver> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let r = RESOLVER.get_or_init(libpf_fuzz::resolver);
    match libpf_fuzz::parse(data, r) {
        Ok(rs) => drop(rs),
        // Errors are formatted as pfctl prints them: that must not panic either.
        Err(errs) => errs.iter().for_each(|e| drop(e.to_string())),
    }
});

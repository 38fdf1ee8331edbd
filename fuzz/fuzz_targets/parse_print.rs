//! Parse, and print what parsed as `pfctl -nv` does: neither step may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libpf::conf;
use std::sync::OnceLock;

static RESOLVER: OnceLock<conf::StaticResolver> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let r = RESOLVER.get_or_init(libpf_fuzz::resolver);
    match libpf_fuzz::parse(data, r) {
        Ok(rs) => drop(conf::print_ruleset_nv(&rs, r)),
        Err(errs) => errs.iter().for_each(|e| drop(e.to_string())),
    }
});

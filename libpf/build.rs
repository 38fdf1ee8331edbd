//! Builds pfd's fast path (bpf/fastpath.c, a TC eBPF program) with clang
//! into OUT_DIR; libpf::sys::fastpath includes the object. Needs clang and
//! libbpf's headers (Debian: clang, libbpf-dev; regress/deps installs
//! them): without them the build stops and says so, rather than making a
//! pfd without its fast path.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let src = manifest.join("../bpf/fastpath.c");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("fastpath.o");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".into());
    // The C library's per-architecture headers (asm/types.h).
    let multiarch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86_64-linux-gnu",
        Ok("aarch64") => "aarch64-linux-gnu",
        Ok("arm") => "arm-linux-gnueabihf",
        Ok("riscv64") => "riscv64-linux-gnu",
        Ok("powerpc64") => "powerpc64le-linux-gnu",
        Ok("s390x") => "s390x-linux-gnu",
        _ => "x86_64-linux-gnu",
    };
    if !std::path::Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
        panic!(
            "libpf: /usr/include/bpf/bpf_helpers.h not found: pfd's fast path (bpf/fastpath.c) \
             needs libbpf's headers and clang; install them (Debian: apt-get install clang libbpf-dev, \
             or run regress/deps)"
        );
    }
    let status = Command::new(&clang)
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
        .arg(format!("-I/usr/include/{multiarch}"))
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("libpf: {clang} failed on bpf/fastpath.c ({s})"),
        Err(e) => panic!(
            "libpf: cannot run {clang} ({e}): pfd's fast path (bpf/fastpath.c) is built with \
             clang and libbpf's headers; install them (Debian: apt-get install clang libbpf-dev, \
             or run regress/deps)"
        ),
    }
}

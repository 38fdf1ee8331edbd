//! What the fuzz targets share: for the pf.conf targets a resolver shaped
//! like OpenBSD's pfctl regress host, an in-memory `include` loader and
//! the entry point that turns fuzzer bytes into a `conf::parse` call; for
//! the packet, CARP and pfsync targets the record framing (`records`) and
//! a small firewall engine (`net`).

pub mod net;
pub mod records;

use libpf::conf::{self, StaticResolver};
use libpf::ruleset::Ruleset;

/// lo0 (127.0.0.1/8, ::1/128, fe80::1/64) and the other interfaces and
/// groups the corpus names, a few hosts, OpenBSD's users and groups, plus
/// the protocols and services `StaticResolver::new()` knows.
pub fn resolver() -> StaticResolver {
    StaticResolver::new()
        .iface("lo0", &["127.0.0.1/8", "::1/128", "fe80::1/64"])
        .iface("lo", &["127.0.0.1/8", "::1/128", "fe80::1/64"])
        .iface("lo1000000", &[])
        .iface("tun1000000", &[])
        .iface("tun1000001", &[])
        .iface("tun", &[])
        .iface("enc0", &[])
        .iface("em0", &["192.0.2.10/24", "2001:db8::10/64"])
        .iface("em1", &["198.51.100.1/24"])
        .iface("carp1", &["192.0.2.1/24"])
        .host("localhost", &["127.0.0.1", "::1"])
        .host("www.example.com", &["192.0.2.80", "2001:db8::80"])
        .host("mail.example.com", &["192.0.2.25"])
        .host("v6only.example.com", &["2001:db8::6"])
        .host("empty.example.com", &[])
        .user("root", 0)
        .user("daemon", 1)
        .user("bin", 3)
        .user("sshd", 27)
        .user("nobody", 32767)
        .group("wheel", 0)
        .group("daemon", 1)
        .group("bin", 7)
        .group("staff", 20)
        .group("nobody", 32767)
        .group("nogroup", 32766)
}

/// `include` never touches the file system while fuzzing (an input could
/// name /dev/zero or /dev/stdin): a few fixed files, one of which includes
/// itself (the depth limit), everything else is "not found".
pub fn loader(path: &str) -> std::io::Result<String> {
    let text = match path.trim_start_matches("./") {
        "pf.inc" | "pf95.include" => "pass in on lo0 proto tcp to port 22\n",
        "nested.inc" => "ext = \"em0\"\ninclude \"pf.inc\"\nblock out on $ext\n",
        "self.inc" => "include \"self.inc\"\npass\n",
        _ => return Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
    };
    Ok(text.to_string())
}

/// Fuzzer bytes as text: invalid UTF-8 is replaced (U+FFFD), so every input
/// reaches the parser.
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// `conf::parse` as pfctl calls it for `-f -` (file name `stdin`), with the
/// in-memory loader instead of the file system.
pub fn parse(data: &[u8], resolver: &StaticResolver) -> Result<Ruleset, Vec<conf::ConfError>> {
    conf::parse_with_loader(&text(data), "stdin", resolver, &loader)
}

//! Tests of the whole pipeline: the seed ruleset, every supported construct,
//! errors with file:line, macro expansion, list multiplication order, the
//! printer, a no-panic property test, and the OpenBSD regress fixtures read
//! from `../shared/corpus/openbsd-pfctl` when that directory is present.

use super::*;
use proptest::prelude::*;

/// A resolver shaped like the OpenBSD regress host (see the corpus README).
fn corpus_resolver() -> StaticResolver {
    StaticResolver::new()
        .iface("lo0", &["::1/128", "fe80::1/64", "127.0.0.1/8"])
        .iface("lo1000000", &[])
        .iface("tun1000000", &[])
        .iface("tun1000001", &[])
        .iface("enc0", &[])
        .iface("em0", &[])
        .host("localhost", &["127.0.0.1", "::1"])
        .user("root", 0)
        .user("bin", 3)
        .group("wheel", 0)
        .group("bin", 7)
        .group("nobody", 32767)
}

/// The interfaces of the seed article's firewall.
fn seed_resolver() -> StaticResolver {
    StaticResolver::new()
        .iface("hvn0", &["172.18.22.197/20"])
        .iface("hvn2", &["169.254.0.1/31"])
        .iface("hvn3", &["192.0.2.10/24"])
        .iface("hvn4", &["192.168.99.1/24"])
        .iface("lo0", &["127.0.0.1/8", "::1/128"])
        .iface("carp1", &["192.0.2.1/24"])
        .iface("carp2", &["192.168.99.254/24"])
        .user("_pbuild", 55)
        .host("gw.example", &["198.51.100.1", "2001:db8::1"])
        .group("staff", 20)
}

/// Rules of `src` printed one per line (panics with the errors on failure).
fn rules(src: &str) -> String {
    let r = seed_resolver();
    match parse(src, "t.conf", &r) {
        Ok(rs) => rs.rules.iter().map(|x| print_rule(x, &r) + "\n").collect(),
        Err(e) => panic!(
            "unexpected errors: {:?}",
            e.iter().map(|e| e.to_string()).collect::<Vec<_>>()
        ),
    }
}

/// The diagnostics of `src` (panics if it parses).
fn errors(src: &str) -> Vec<String> {
    match parse(src, "t.conf", &seed_resolver()) {
        Ok(rs) => panic!("expected errors, got {} rules", rs.rules.len()),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

const SEED: &str = r#"#       $OpenBSD: pf.conf,v 1.55 2017/12/03 20:40:04 sthen Exp $
#
# See pf.conf(5) and /etc/examples/pf.conf
ext_if="hvn3"
carp_ext_if="carp1"
carp_int_if="carp2"
int_if="hvn4"
sync_if="hvn2"
internet_if="hvn0"

set skip on lo

block return    # block stateless traffic
pass            # establish keep-state

# By default, do not permit remote connections to X11
block return in on ! lo0 proto tcp to port 6000:6010

# Port build user does not need network
block return out log proto {tcp udp} user _pbuild

# Allow PFSync
pass quick on $sync_if proto pfsync 

# Allow CARP on in and out ints
pass quick on { $ext_if $int_if } proto carp

# NAT to net-01
pass out on $ext_if inet from $int_if:network to any nat-to $carp_ext_if
pass out on $ext_if inet from $carp_int_if:network to any nat-to $carp_ext_if

# NAT to the Internet
pass out on $internet_if inet from $int_if:network to any nat-to $internet_if
pass out on $internet_if inet from $carp_int_if:network to any nat-to $internet_if
"#;

/// The article's `pfctl -s rules` output (after OpenBSD's optimizer, which
/// dropped the duplicate nat rules and moved the carp rules first).
const SEED_SR: &str = "block return all
pass all flags S/SA
block return in on ! lo0 proto tcp from any to any port 6000:6010
block return out log proto tcp all user = 55
block return out log proto udp all user = 55
pass quick on hvn3 proto carp all
pass quick on hvn4 proto carp all
pass quick on hvn2 proto pfsync all
pass out on hvn3 inet from 192.168.99.0/24 to any flags S/SA nat-to 192.0.2.1
pass out on hvn0 inet from 192.168.99.0/24 to any flags S/SA nat-to 172.18.22.197
";

#[test]
fn seed_ruleset_prints_like_the_article() {
    let got = rules(SEED);
    // Without the optimizer the rules stay in source order, duplicates kept.
    let unoptimised = "block return all
pass all flags S/SA
block return in on ! lo0 proto tcp from any to any port 6000:6010
block return out log proto tcp all user = 55
block return out log proto udp all user = 55
pass quick on hvn2 proto pfsync all
pass quick on hvn3 proto carp all
pass quick on hvn4 proto carp all
pass out on hvn3 inet from 192.168.99.0/24 to any flags S/SA nat-to 192.0.2.1
pass out on hvn3 inet from 192.168.99.0/24 to any flags S/SA nat-to 192.0.2.1
pass out on hvn0 inet from 192.168.99.0/24 to any flags S/SA nat-to 172.18.22.197
pass out on hvn0 inet from 192.168.99.0/24 to any flags S/SA nat-to 172.18.22.197
";
    assert_eq!(got, unoptimised);
    // Same lines as the article, once duplicates are removed.
    let mut ours: Vec<&str> = got.lines().collect();
    ours.sort();
    ours.dedup();
    let mut theirs: Vec<&str> = SEED_SR.lines().collect();
    theirs.sort();
    assert_eq!(ours, theirs);
    // With pfctl's default optimizer the output is the article's exactly:
    // duplicates gone, the carp rules grouped before pfsync.
    let r = seed_resolver();
    let (mut rs, errs) = parse_partial_raw(SEED, "t.conf", &r, &|_: &str| {
        Err(std::io::Error::other("no include"))
    });
    assert!(errs.is_empty());
    finish(&mut rs, crate::ruleset::optimize::Level::Basic, None);
    let opt: String = rs.rules.iter().map(|x| print_rule(x, &r) + "\n").collect();
    assert_eq!(opt, SEED_SR);

    let r = seed_resolver();
    let rs = parse(SEED, "/etc/pf.conf", &r).unwrap_or_default();
    assert_eq!(rs.options.skip, vec!["lo".to_string()]);
    let nv = print_ruleset_nv(&rs, &r);
    assert!(nv.starts_with("ext_if = \"hvn3\"\ncarp_ext_if = \"carp1\"\n"));
    assert!(nv.contains("internet_if = \"hvn0\"\nset skip on { lo }\nblock return all\n"));
    // The resolved rules carry what the engine needs.
    let nat = &rs.rules[8];
    assert_eq!(nat.src_line, 29);
    assert_eq!(
        nat.nat_to.as_ref().map(|p| p.addrs.clone()),
        Some(vec![AddrKind::Net("192.0.2.1".parse().unwrap())])
    );
    assert_eq!(rs.rules[3].user, Some(IdOp::Eq(55)));
    assert_eq!(rs.rules[5].proto, Some(240));
}

use crate::ruleset::{AddrKind, IdOp, KeepState, PortOp};

#[test]
fn macros_expand_in_lists_and_values() {
    let src = "foo = \"ssh, ftp\"\nbar = \"other thing\"\ninside=\"10.0.0.0/8\"\n\
               block in proto udp from $inside port { echo, $foo, ident } \\\n\tto 12.34.56.78 port { 6667, 0x10 }\n";
    let r = corpus_resolver();
    let rs = parse(src, "stdin", &r).unwrap_or_default();
    assert_eq!(
        print_ruleset_nv(&rs, &r),
        "foo = \"ssh, ftp\"\nbar = \"other thing\"\ninside = \"10.0.0.0/8\"\n\
block drop in inet proto udp from 10.0.0.0/8 port = 7 to 12.34.56.78 port = 6667
block drop in inet proto udp from 10.0.0.0/8 port = 7 to 12.34.56.78 port = 16
block drop in inet proto udp from 10.0.0.0/8 port = 22 to 12.34.56.78 port = 6667
block drop in inet proto udp from 10.0.0.0/8 port = 22 to 12.34.56.78 port = 16
block drop in inet proto udp from 10.0.0.0/8 port = 21 to 12.34.56.78 port = 6667
block drop in inet proto udp from 10.0.0.0/8 port = 21 to 12.34.56.78 port = 16
block drop in inet proto udp from 10.0.0.0/8 port = 113 to 12.34.56.78 port = 6667
block drop in inet proto udp from 10.0.0.0/8 port = 113 to 12.34.56.78 port = 16
"
    );
    // Macros built from macros; no expansion inside quotes; lists in macros.
    let got = rules(
        "a = \"hvn3\"\nb = $a\nifs = \"{ hvn3, hvn4 }\"\npass on $ifs label \"$a\"\nblock on $b\n",
    );
    assert_eq!(got, "pass on hvn3 all flags S/SA label \"$a\"\npass on hvn4 all flags S/SA label \"$a\"\nblock drop on hvn3 all\n");
}

#[test]
fn list_multiplication_order() {
    // pfctl's order: interface, proto, src host, dst host, src port, dst port.
    let got = rules("block in on { hvn3 hvn4 } proto { tcp, udp } from { 10.0.0.1 10.0.0.2 } port { 1, 2 } to { 10.0.0.3 } port { 3 4 }\n");
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 32);
    assert_eq!(
        lines[0],
        "block drop in on hvn3 inet proto tcp from 10.0.0.1 port = 1 to 10.0.0.3 port = 3"
    );
    assert_eq!(
        lines[1],
        "block drop in on hvn3 inet proto tcp from 10.0.0.1 port = 1 to 10.0.0.3 port = 4"
    );
    assert_eq!(
        lines[2],
        "block drop in on hvn3 inet proto tcp from 10.0.0.1 port = 2 to 10.0.0.3 port = 3"
    );
    assert_eq!(
        lines[4],
        "block drop in on hvn3 inet proto tcp from 10.0.0.2 port = 1 to 10.0.0.3 port = 3"
    );
    assert_eq!(
        lines[8],
        "block drop in on hvn3 inet proto udp from 10.0.0.1 port = 1 to 10.0.0.3 port = 3"
    );
    assert_eq!(
        lines[16],
        "block drop in on hvn4 inet proto tcp from 10.0.0.1 port = 1 to 10.0.0.3 port = 3"
    );
    // users multiply after ports; any element `any` makes a list `any`.
    assert_eq!(
        rules("pass proto tcp to port { 1 2 } user { 55 0 }\npass from { any, 10.0.0.1 }\n"),
        "pass proto tcp from any to any port = 1 user = 55 flags S/SA\n\
pass proto tcp from any to any port = 1 user = 0 flags S/SA\n\
pass proto tcp from any to any port = 2 user = 55 flags S/SA\n\
pass proto tcp from any to any port = 2 user = 0 flags S/SA\n\
pass all flags S/SA\n"
    );
}

#[test]
fn mixed_address_families_split_and_drop_impossible_pairs() {
    assert_eq!(
        rules("pass from { 10.0.0.1, ::1 } to { 10.0.0.2, ::2 }\n"),
        "pass inet from 10.0.0.1 to 10.0.0.2 flags S/SA\npass inet6 from ::1 to ::2 flags S/SA\n"
    );
    assert_eq!(
        rules("pass from gw.example to any\n"),
        "pass inet from 198.51.100.1 to any flags S/SA\npass inet6 from 2001:db8::1 to any flags S/SA\n"
    );
    assert_eq!(
        rules("pass inet from gw.example\n"),
        "pass inet from 198.51.100.1 to any flags S/SA\n"
    );
    assert_eq!(
        errors("pass inet6 from 10.0.0.1\n"),
        vec!["t.conf:1: rule expands to no valid combination"]
    );
}

#[test]
fn fail_policy_and_the_queue_limit() {
    let r = corpus_resolver();
    let src =
        "set limit { nfqueue 64, frags 8 }\nset fail-policy open\nset fail-policy closed\npass\n";
    let rs = parse(src, "stdin", &r).unwrap_or_default();
    assert_eq!(
        print_ruleset_nv(&rs, &r),
        "set limit nfqueue 64\nset limit frags 8\nset fail-policy open\nset fail-policy closed\npass all flags S/SA\n"
    );
    assert_eq!(rs.options.fail_open, Some(false));
    assert!(rs
        .options
        .limits
        .contains(&(crate::ruleset::Limit::Queue, 64)));
    assert_eq!(
        errors("set fail-policy maybe\n"),
        vec!["t.conf:1: unknown fail-policy maybe".to_string()]
    );
}

#[test]
fn set_options() {
    let src = "set timeout { tcp.closing 6, tcp.opening 6 }\nset timeout tcp.first 6\nset limit states 500\n\
               set limit {states 1000,frags 1000}\nset loginterface lo0\nset hostid 1\nset block-policy return\n\
               set skip on { lo0 hvn2 }\nset debug crit\nset ruleset-optimization none\nset optimization aggressive\nblock\n";
    let r = corpus_resolver();
    let rs = parse(src, "stdin", &r).unwrap_or_default();
    assert_eq!(
        print_ruleset_nv(&rs, &r),
        "set timeout tcp.closing 6\nset timeout tcp.opening 6\nset timeout tcp.first 6\nset limit states 500\n\
set limit states 1000\nset limit frags 1000\nset loginterface lo0\nset hostid 0x00000001\nset block-policy return\n\
set skip on { lo0 hvn2 }\nset debug crit\nset optimization aggressive\nblock return all\n"
    );
    let o = &rs.options;
    assert_eq!(o.hostid, Some(1));
    assert_eq!(o.skip, vec!["lo0".to_string(), "hvn2".to_string()]);
    assert_eq!(o.block_policy, Some(crate::ruleset::BlockPolicy::Return));
    assert_eq!(o.limits.len(), 3);
    assert_eq!(o.ruleset_optimization.as_deref(), Some("none"));
    assert!(print_options(o).contains("set limit frags 1000\n"));
    assert_eq!(
        errors("set hostid 0\nset timeout bogus 5\nset limit bogus 5\nset debug nonsense\n"),
        vec![
            "t.conf:1: hostid must be non-zero",
            "pfctl: Bad timeout name.",
            "t.conf:2: unknown timeout bogus",
            "pfctl: Bad pool name.",
            "t.conf:3: unable to set limit bogus 5",
            "pfctl: unknown debug level \"nonsense\"",
            "t.conf:4: error setting debuglevel nonsense",
        ]
    );
}

#[test]
fn block_policy_and_return_variants() {
    assert_eq!(
        rules("block in\nset block-policy return\nblock in\nblock drop in\nblock return-rst in proto tcp\n\
               block return-rst(ttl 10) in inet proto tcp\nblock return-icmp in inet proto udp\n\
               block return-icmp(host-prohib) in inet\nblock return-icmp6(admin-unr) in inet6\n\
               block return-icmp(srcfail, admin-unr) in\nblock return-icmp in proto udp\n"),
        "block drop in all\nblock return in all\nblock drop in all\nblock return-rst in proto tcp all\n\
block return-rst(ttl 10) in inet proto tcp all\nblock return-icmp(port-unr) in inet proto udp all\n\
block return-icmp(host-prohib) in inet all\nblock return-icmp6(admin-unr) in inet6 all\n\
block return-icmp(srcfail, admin-unr) in all\nblock return-icmp(port-unr, port-unr) in proto udp all\n"
    );
}

#[test]
fn log_quick_on_af_proto() {
    assert_eq!(
        rules("pass in log quick on hvn3 inet proto icmp\npass log (all, user, to pflog1) quick on ! hvn4 inet6 proto 58\n\
               match out log (matches) on any proto 250\npass quick log proto { tcp 17 }\n"),
        "pass in log quick on hvn3 inet proto icmp all\n\
pass log (all, user, to pflog1) quick on ! hvn4 inet6 proto ipv6-icmp all\n\
match out log (matches) on any proto 250 all\n\
pass log quick proto tcp all flags S/SA\npass log quick proto udp all\n"
    );
}

#[test]
fn addresses() {
    assert_eq!(
        rules("pass from 10.1.2.3/8 to ! 192.0.2.0/24\npass from 10.0.0.1 - 10.0.0.9\npass to <bad>\n\
               block from no-route\nblock from ! urpf-failed\npass from hvn3\npass from hvn3:network to hvn4:broadcast\n\
               pass from lo0:0\npass to (carp1)\npass to (carp1:network)\npass from 10/8\npass from 172.16/12\n\
               pass from 0.0.0.0/0\n"),
        "pass inet from 10.0.0.0/8 to ! 192.0.2.0/24 flags S/SA\n\
pass inet from 10.0.0.1 - 10.0.0.9 to any flags S/SA\n\
pass from any to <bad> flags S/SA\n\
block drop from no-route to any\n\
block drop from ! urpf-failed to any\n\
pass inet from 192.0.2.10 to any flags S/SA\n\
pass inet from 192.0.2.0/24 to 192.168.99.255 flags S/SA\n\
pass inet from 127.0.0.1 to any flags S/SA\n\
pass inet6 from ::1 to any flags S/SA\n\
pass from any to (carp1) flags S/SA\n\
pass from any to (carp1:network) flags S/SA\n\
pass inet from 10.0.0.0/8 to any flags S/SA\n\
pass inet from 172.16.0.0/12 to any flags S/SA\n\
pass inet all flags S/SA\n"
    );
}

#[test]
fn link_local_scopes_pick_the_interface() {
    let r = StaticResolver::new()
        .iface("lo0", &["::1/128", "fe80::1/64", "127.0.0.1/8"])
        .iface("em0", &[]);
    let rs = parse(
        "pass in from fe80::1%lo0 to any\npass in on em0 from lo0\n",
        "t",
        &r,
    );
    let got: Vec<String> = rs
        .unwrap_or_default()
        .rules
        .iter()
        .map(|x| print_rule(x, &r))
        .collect();
    assert_eq!(
        got,
        vec![
            "pass in on lo0 inet6 from fe80::1 to any flags S/SA",
            "pass in on em0 inet6 from ::1 to any flags S/SA",
            "pass in on em0 inet from 127.0.0.1 to any flags S/SA",
        ]
    );
    let e = parse("pass in on em0 from fe80::1%lo0\n", "t", &r)
        .err()
        .unwrap_or_default();
    assert_eq!(
        e.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        vec!["t:1: rule expands to no valid combination"]
    );
}

#[test]
fn ports_with_every_operator() {
    assert_eq!(
        rules("pass proto tcp to port { 22, != 23, < 24, <= 25, > 26, >= 27, 28 >< 30, 31 <> 33, 34:36, www, 40:40 }\n")
            .lines()
            .map(|l| l.trim_start_matches("pass proto tcp from any to any port").trim_end_matches(" flags S/SA"))
            .collect::<Vec<_>>(),
        vec![" = 22", " != 23", " < 24", " <= 25", " > 26", " >= 27", " 28 >< 30", " 31 <> 33", " 34:36", " = 80", " = 40"]
    );
    let r = seed_resolver();
    let rs = parse("pass proto udp from port 1024:2048\n", "t", &r).unwrap_or_default();
    assert_eq!(rs.rules[0].from.port, Some(PortOp::Range(1024, 2048)));
}

#[test]
fn users_and_groups() {
    assert_eq!(
        rules("pass proto tcp user { _pbuild, >= 1000, 10 >< 20 } group staff\npass proto udp group != unknown\n"),
        "pass proto tcp all user = 55 group = 20 flags S/SA\n\
pass proto tcp all user >= 1000 group = 20 flags S/SA\n\
pass proto tcp all user 10 >< 20 group = 20 flags S/SA\n\
pass proto udp all group != unknown\n"
    );
    assert_eq!(
        errors("pass proto tcp user nobodyhere\n"),
        vec!["t.conf:1: unknown user nobodyhere"]
    );
    assert_eq!(
        errors("pass proto tcp group nogroup\n"),
        vec!["t.conf:1: unknown group nogroup"]
    );
}

#[test]
fn flags_icmp_and_state() {
    assert_eq!(
        rules("pass proto tcp flags S/SAFR\npass proto tcp flags any\npass proto tcp flags /SA\npass proto udp\n\
               pass inet proto icmp icmp-type echoreq code 0\npass inet6 proto icmp6 icmp6-type { echoreq, 135 }\n\
               pass inet proto icmp icmp-type 3 code 13\npass proto tcp no state\npass proto tcp modulate state\n\
               pass proto udp modulate state\npass in proto tcp synproxy state\n\
               pass proto tcp keep state (max 100, no-sync, tcp.established 60)\n\
               pass keep state (source-track rule, max-src-conn 5, max-src-conn-rate 10/5, overload <bad> flush global, if-bound)\n\
               block proto tcp flags S/SA\n"),
        "pass proto tcp all flags S/FSRA\n\
pass proto tcp all flags any\n\
pass proto tcp all flags /SA\n\
pass proto udp all\n\
pass inet proto icmp all icmp-type echoreq code 0\n\
pass inet6 proto ipv6-icmp all icmp6-type echoreq\n\
pass inet6 proto ipv6-icmp all icmp6-type neighbrsol\n\
pass inet proto icmp all icmp-type unreach code filter-prohib\n\
pass proto tcp all no state\n\
pass proto tcp all flags S/SA modulate state\n\
pass proto udp all\n\
pass in proto tcp all flags S/SA synproxy state\n\
pass proto tcp all flags S/SA keep state (max 100, no-sync, tcp.established 60, adaptive.start 60, adaptive.end 120)\n\
pass all flags S/SA keep state (source-track rule, max-src-conn 5, max-src-conn-rate 10/5, overload <bad> flush global, if-bound, src.track 5)\n\
block drop proto tcp all flags S/SA\n"
    );
    let r = seed_resolver();
    let rs = parse("pass proto udp modulate state\n", "t", &r).unwrap_or_default();
    assert_eq!(rs.rules[0].keep_state, KeepState::Keep);
}

#[test]
fn nat_and_rdr() {
    assert_eq!(
        rules("pass out on hvn3 from 10.0.0.0/8 nat-to hvn3\npass out on hvn3 inet nat-to (hvn3) static-port\n\
               pass out on hvn3 inet nat-to 192.0.2.1 port 1024:2048\npass out on hvn3 inet nat-to 192.0.2.1 port 5000\n\
               pass in on hvn3 proto tcp to port 80 rdr-to 10.0.0.5 port 8080\n\
               pass in on hvn3 proto tcp to port 80 rdr-to 10.0.0.5 port 8080:8090\n\
               match out on hvn3 inet nat-to 192.0.2.0/24 bitmask sticky-address\n\
               match out on hvn3 inet nat-to 192.0.2.0/24 source-hash 0x0123456789abcdef0123456789abcdef\n\
               match out on hvn3 inet nat-to { 192.0.2.1 192.0.2.2 } random\n\
               match out on hvn3 inet nat-to <pool> round-robin\n\
               match in on hvn3 inet rdr-to carp1\n"),
        "pass out on hvn3 inet from 10.0.0.0/8 to any flags S/SA nat-to 192.0.2.10\n\
pass out on hvn3 inet all flags S/SA nat-to (hvn3) round-robin static-port\n\
pass out on hvn3 inet all flags S/SA nat-to 192.0.2.1 port 1024:2048\n\
pass out on hvn3 inet all flags S/SA nat-to 192.0.2.1 port 5000\n\
pass in on hvn3 inet proto tcp from any to any port = 80 flags S/SA rdr-to 10.0.0.5 port 8080\n\
pass in on hvn3 inet proto tcp from any to any port = 80 flags S/SA rdr-to 10.0.0.5 port 8080:8090\n\
match out on hvn3 inet all nat-to 192.0.2.0/24 bitmask sticky-address\n\
match out on hvn3 inet all nat-to 192.0.2.0/24 source-hash 0x0123456789abcdef0123456789abcdef\n\
match out on hvn3 inet all nat-to <__automatic_0> random\n\
match out on hvn3 inet all nat-to <pool> round-robin\n\
match in on hvn3 inet all rdr-to 192.0.2.1\n"
    );
}

#[test]
fn label_tag_tagged() {
    assert_eq!(
        rules("pass on { hvn3 hvn4 } proto tcp from 10.0.0.1 to port 22 label \"$if:$srcaddr:$dstport:$proto:$nr\" tag T\n\
               block in ! tagged T\npass tagged T\n"),
        "pass on hvn3 inet proto tcp from 10.0.0.1 to any port = 22 flags S/SA label \"hvn3:10.0.0.1:22:tcp:0\" tag T\n\
pass on hvn4 inet proto tcp from 10.0.0.1 to any port = 22 flags S/SA label \"hvn4:10.0.0.1:22:tcp:1\" tag T\n\
block drop in all ! tagged T\n\
pass all flags S/SA tagged T\n"
    );
    assert_eq!(
        errors(&format!("block tag {}\n", "x".repeat(64))),
        vec!["t.conf:1: tag too long, max 63 chars"]
    );
}

#[test]
fn semantic_errors_with_lines() {
    assert_eq!(
        errors("pass in all\npass in from any port <= 1024 to any\n"),
        vec![
            "t.conf:2: port only applies to tcp/udp",
            "t.conf:2: skipping rule due to errors",
            "t.conf:2: rule expands to no valid combination",
        ]
    );
    // pfctl takes nat-to inbound and rdr-to outbound; pfd refuses them at
    // load (ruleset::support), pfctl -n does not.
    let r = seed_resolver();
    for (src, what) in [
        (
            "pass in on hvn3 inet nat-to 192.0.2.1\n",
            "nat-to on an inbound rule",
        ),
        (
            "pass out on hvn3 inet rdr-to 192.0.2.1\n",
            "rdr-to on an outbound rule",
        ),
    ] {
        let rs = parse(src, "t.conf", &r).expect("pfctl -n takes it");
        let s = crate::ruleset::support::check(&rs);
        assert!(
            s.refused.iter().any(|u| u.what == what),
            "{src}: {:?}",
            s.refused
        );
    }
    assert_eq!(
        errors("pass inet nat-to 192.0.2.1\n")[0],
        "t.conf:1: nat-to and rdr-to require a direction"
    );
    assert_eq!(
        errors("pass from nosuchhost\n"),
        // pfctl's host() prints its message without file:line.
        vec![
            "no IP address found for nosuchhost",
            "t.conf:1: could not parse host specification"
        ]
    );
    assert_eq!(
        errors("pass out nat-to nosuchif0\n"),
        // pfctl's host() prints its message without file:line.
        vec![
            "no IP address found for nosuchif0",
            "t.conf:1: could not parse host specification"
        ]
    );
    assert_eq!(
        errors("pass on $nothere\n"),
        vec![
            "t.conf:1: macro 'nothere' not defined",
            "t.conf:1: syntax error"
        ]
    );
    assert_eq!(
        errors("pass proto bogus\n"),
        vec!["t.conf:1: unknown protocol bogus"]
    );
    assert_eq!(
        errors("pass proto tcp to port nosuchsvc\n"),
        vec!["t.conf:1: unknown port nosuchsvc"]
    );
    assert_eq!(
        errors("pass proto tcp to port 65536\n"),
        vec!["t.conf:1: illegal port value 65536"]
    );
    assert_eq!(
        errors("pass proto udp flags S/SA\n"),
        vec!["t.conf:1: flags only apply to tcp"]
    );
    assert_eq!(
        errors("pass in inet6 proto icmp all\n")[0],
        "t.conf:1: proto icmp doesn't match address family inet6"
    );
    assert_eq!(
        errors("block return-rst proto udp\n")[0],
        "t.conf:1: return-rst can only be applied to TCP rules"
    );
    assert_eq!(
        errors("block keep state\n")[0],
        "t.conf:1: keep state is great, but only for pass rules"
    );
    // Every error of the file is reported; a multi-line rule reports the
    // line it ends on, as pfctl does; syntax errors their own line.
    assert_eq!(
        errors("pass proto tcp flags S\npass in proto tcp from any to any port 123 \\\n  keep state (source-track global, max-src-nodes 1000)\n\
                pass in \\\n bogus\npass\n"),
        vec![
            "t.conf:1: syntax error",
            "t.conf:3: 'max-src-nodes' is incompatible with 'source-track global'",
            "t.conf:5: syntax error",
        ]
    );
}

#[test]
fn include_files() {
    let r = seed_resolver();
    let loader = |p: &str| -> std::io::Result<String> {
        match p {
            "/etc/pf.d/a.conf" => Ok("x = \"hvn3\"\npass on $x\nblock bogus\n".into()),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        }
    };
    let res = parse_with_loader(
        "include \"/etc/pf.d/a.conf\"\nblock on $x\ninclude \"/nope\"\n",
        "main.conf",
        &r,
        &loader,
    );
    let errs: Vec<String> = res
        .err()
        .unwrap_or_default()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        errs,
        vec![
            "/etc/pf.d/a.conf:3: syntax error",
            "pfctl: pushfile: /nope: No such file or directory",
            "main.conf:3: failed to include file /nope"
        ]
    );
    let ok = parse_with_loader("include \"/etc/pf.d/a.conf\"\n", "m", &r, &|_| {
        Ok("pass on hvn3\n".into())
    });
    assert_eq!(ok.map(|rs| rs.rules.len()).unwrap_or(0), 1);
}

/// OpenBSD regress cases (`pfN.in` → `pfctl -nv` must print `pfN.ok`;
/// `pfailN.in` → the diagnostics in `pfailN.ok`) whose features this parser
/// supports. Read from the shared corpus when
/// it is there; never copied into the repository.
#[test]
fn corpus_fixtures() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/openbsd-pfctl");
    if !dir.is_dir() {
        return;
    }
    let r = corpus_resolver();
    let cases = [
        "pfail1", "pfail2", "pfail4", "pfail7", "pfail12", "pfail17", "pfail20", "pfail37",
        "pfail38", "pfail47", "pfail48", "pfail49", "pfail50", "pfail52", "pf5", "pf6", "pf10",
        "pf11", "pf14", "pf18", "pf20", "pf22", "pf30", "pf31", "pf38", "pf49", "pf56", "pf66",
        "pf69", "pf70", "pf81", "pf82", "pf87", "pf114", "pfail27",
    ];
    let mut failed = vec![];
    for name in cases {
        let (Ok(input), Ok(expected)) = (
            std::fs::read_to_string(dir.join(format!("{name}.in"))),
            std::fs::read_to_string(dir.join(format!("{name}.ok"))),
        ) else {
            continue;
        };
        let got = match parse(&input, "stdin", &r) {
            Ok(rs) => print_ruleset_nv(&rs, &r),
            Err(e) => e.iter().map(|e| e.to_string() + "\n").collect(),
        };
        if got != expected {
            failed.push(format!("{name}:\n--- expected\n{expected}--- got\n{got}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The anchor cases of the corpus: each `.ok` read back prints itself
/// (pfctl's selfpf test), and pf92 (no `.ok`) loads.
#[test]
fn corpus_anchor_fixtures() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/openbsd-pfctl");
    if !dir.is_dir() {
        return;
    }
    let r = corpus_resolver();
    let mut failed = vec![];
    for name in ["pf41", "pf91", "pf100"] {
        let Ok(expected) = std::fs::read_to_string(dir.join(format!("{name}.ok"))) else {
            continue;
        };
        let got = match parse(&expected, "stdin", &r) {
            Ok(rs) => print_ruleset_nv(&rs, &r),
            Err(e) => e.iter().map(|e| e.to_string() + "\n").collect(),
        };
        if got != expected {
            failed.push(format!(
                "self{name}:\n--- expected\n{expected}--- got\n{got}"
            ));
        }
    }
    if let Ok(input) = std::fs::read_to_string(dir.join("pf92.in")) {
        if let Err(e) = parse(&input, "stdin", &r) {
            failed.push(format!("pf92: {e:?}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

const TOKENS: &[&str] = &[
    "pass",
    "block",
    "match",
    "in",
    "out",
    "log",
    "(",
    ")",
    "all",
    "user",
    "quick",
    "on",
    "!",
    "hvn3",
    "lo0",
    "{",
    "}",
    ",",
    "inet",
    "inet6",
    "proto",
    "tcp",
    "udp",
    "icmp",
    "from",
    "to",
    "any",
    "port",
    "=",
    "!=",
    "<",
    ">",
    "<=",
    "><",
    "<>",
    "22",
    "1024:2048",
    "10.0.0.1",
    "10/8",
    "::1",
    "/",
    "24",
    "-",
    "<t>",
    "no-route",
    "urpf-failed",
    "(hvn3)",
    "hvn3:network",
    "flags",
    "S/SA",
    "keep",
    "modulate",
    "synproxy",
    "no",
    "state",
    "max",
    "nat-to",
    "rdr-to",
    "static-port",
    "round-robin",
    "label",
    "\"x\"",
    "tag",
    "tagged",
    "icmp-type",
    "echoreq",
    "code",
    "set",
    "skip",
    "timeout",
    "limit",
    "states",
    "block-policy",
    "drop",
    "return",
    "return-icmp",
    "$a",
    "a",
    "\\\n",
    "\n",
    "#",
    "\"",
    "'",
    "include",
    "source-hash",
    "0x",
    "group",
    "_pbuild",
    "65536",
    "99999999999999999999",
    "anchor",
    "\"x/*\"",
    "{\n",
    "\n}\n",
    "load",
    "\"f\"",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn never_panics_on_token_soup(idx in proptest::collection::vec(0..TOKENS.len(), 0..40)) {
        let src: Vec<&str> = idx.iter().map(|&i| TOKENS[i]).collect();
        let src = format!("a = \"10.0.0.1\"\n{}", src.join(" "));
        let r = seed_resolver();
        if let Ok(rs) = parse(&src, "p", &r) {
            let _ = print_ruleset_nv(&rs, &r);
        }
    }

    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let r = seed_resolver();
        if let Ok(rs) = parse(&s, "p", &r) {
            let _ = print_ruleset_nv(&rs, &r);
        }
    }
}

#[test]
fn filter_options_print_in_pfctl_order() {
    assert_eq!(
        rules(
            "pass in on hvn3 inet proto tcp to port 25 divert-to 127.0.0.1 port 8025\n\
             pass out on hvn3 inet proto tcp scrub (no-df, min-ttl 15, max-mss 1400) tos 0x10 set (prio 3, tos lowdelay) probability 50% allow-opts label \"x\" once rtable 0\n\
             pass in on hvn3 inet from 10.0.0.0/8 route-to { 192.0.2.1, 192.0.2.2 } round-robin\n\
             match on hvn3 from 192.168.1.1 binat-to 192.0.2.7\n\
             pass in on hvn3 fragment no state received-on hvn4 prio 2 max-pkt-rate 100/10\n"
        ),
        "pass in on hvn3 inet proto tcp from any to any port = 25 flags S/SA divert-to 127.0.0.1 port 8025\n\
         pass out on hvn3 inet proto tcp all flags S/SA tos 0x10 set (prio 3, tos 0x10) probability 50% scrub (no-df min-ttl 15 max-mss 1400) allow-opts label \"x\" once rtable 0\n\
         pass in on hvn3 inet from 10.0.0.0/8 to any flags S/SA route-to <__automatic_0> round-robin\n\
         match out on hvn3 inet from 192.168.1.1 to any nat-to 192.0.2.7 static-port\n\
         match in on hvn3 inet from any to 192.0.2.7 rdr-to 192.168.1.1\n\
         pass in on hvn3 all received-on hvn4 prio 2 max-pkt-rate 100/10 no state fragment\n"
    );
}

#[test]
fn filter_option_errors() {
    assert_eq!(
        errors("pass set prio 8\n")[0],
        "t.conf:1: prio must be 0 - 7"
    );
    assert_eq!(
        errors("match scrub (no-df no-df)\n")[0],
        "t.conf:1: no-df cannot be respecified"
    );
    assert_eq!(
        errors("pass out divert-to 127.0.0.1 port 1\n")[0],
        "t.conf:1: divert-to used with outgoing rule"
    );
    assert_eq!(
        errors("block in on hvn3 dup-to 192.0.2.1\n")[0..2],
        [
            "t.conf:1: route-to, reply-to and dup-to require keep state",
            "t.conf:1: route-to, reply-to and dup-to are not supported on block rules"
        ]
    );
    assert_eq!(
        errors("pass in inet af-to inet6 from 2001:db8::1 route-to hvn3\n")[0],
        "t.conf:1: af-to cannot be used together with route-to, reply-to, dup-to"
    );
}

#[test]
fn limiters_parse_print_and_read_back() {
    let src = "state limiter \"dns\" id 1 limit 1000 rate 1/10\n\
               source limiter \"web\" id 2 entries 2 limit 3 rate 4/5 inet mask 16 inet6 mask 48\n\
               pass in proto udp to port 53 state limiter \"dns\"\n\
               pass in proto tcp to port 80 keep state (no-sync) source limiter web (block)\n";
    let r = seed_resolver();
    let rs = parse(src, "t.conf", &r).unwrap();
    let out = print_ruleset_nv(&rs, &r);
    assert_eq!(
        out,
        "state limiter dns id 1 limit 1000 rate 1/10\n\
         source limiter web id 2 entries 2 limit 3 rate 4/5 inet mask 16 inet6 mask 48\n\
         pass in proto udp from any to any port = 53 state limiter dns (no-match)\n\
         pass in proto tcp from any to any port = 80 flags S/SA keep state (no-sync) \
         source limiter web (block)\n"
    );
    // What -nv prints reads back the same.
    let again = parse(&out, "t.conf", &r).unwrap();
    assert_eq!(print_ruleset_nv(&again, &r), out);
    assert_eq!(
        rs.rules[1].extras.source_limiter.as_ref().map(|u| u.id),
        Some(2)
    );
    // A source limiter's table option reads and prints too.
    let t =
        "table <o> persist\nsource limiter s id 3 entries 1 limit 1 table <o> above 5 below 2\n";
    let rs = parse(t, "t.conf", &r).unwrap();
    assert!(print_ruleset_nv(&rs, &r).contains("table <o> above 5 below 2\n"));
}

#[test]
fn limiter_errors() {
    let e = errors("pass state limiter x\n");
    assert_eq!(e, ["t.conf:1: state limiter x is not defined"]);
    let e = errors("state limiter a id 1 limit 1\nsource limiter a id 1 limit 1\n");
    assert_eq!(e, ["t.conf:2: source limiter entries not specified"]);
    let e = errors("state limiter a id 1 limit 1\nstate limiter b id 1 limit 2\n");
    assert_eq!(e, ["t.conf:2: state limiter id 1 is already in use"]);
    let e = errors("state limiter a id 1 limit 1 entries 3\n");
    assert_eq!(e, ["t.conf:1: state limiter does not take entries"]);
    let e = errors("state limiter a id 300 limit 1\n");
    assert_eq!(e, ["t.conf:1: id 300 out of range"]);
    let e = errors("source limiter a id 1 entries 1 limit 1 inet mask 33\n");
    assert_eq!(e, ["t.conf:1: inet mask 33 out of range"]);
    let e = errors("state limiter a id 1 limit 1\npass state limiter a state limiter a\n");
    assert_eq!(e, ["t.conf:2: state limiter cannot be redefined"]);
}

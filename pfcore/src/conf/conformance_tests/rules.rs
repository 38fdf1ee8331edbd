//! Conformance cases about rules as a whole: numbers and ranges, antispoof,
//! translation pools, tables, labels, return options, binat/af-to/divert/
//! scrub, anchors and queues (see the parent module for the method).

use super::*;

/// Numbers the grammar takes where pfctl takes a NUMBER, and their ranges.
#[test]
fn numbers_and_ranges() {
    check(&[
        ("pass proto -1\n", "stdin:1: protocol outside range\n"),
        ("pass proto 256\n", "stdin:1: protocol outside range\n"),
        ("pass proto 0\n", "stdin:1: proto 0 cannot be used\n"),
        ("pass proto 103\n", "pass proto pim all\n"),
        (
            "pass proto tcp user -1\n",
            "stdin:1: illegal uid value -1\n",
        ),
        (
            "pass proto tcp user 4294967295\n",
            "stdin:1: illegal uid value 4294967295\n",
        ),
        (
            "pass proto tcp group 4294967294\n",
            "pass proto tcp all group = 4294967294 flags S/SA\n",
        ),
        (
            "pass proto tcp user unknown\n",
            "pass proto tcp all user = unknown flags S/SA\n",
        ),
        (
            "pass proto tcp user > unknown\n",
            "stdin:1: user unknown requires operator = or !=\n",
        ),
        (
            "pass proto tcp from port -1\n",
            "stdin:1: illegal port value 18446744073709551615\n",
        ),
        (
            "pass proto tcp from port 65536\n",
            "stdin:1: illegal port value 65536\n",
        ),
        (
            "pass proto tcp to port 10 >< 10\n",
            "stdin:1: invalid port range\n",
        ),
        (
            "pass proto tcp to port 20:10\n",
            "stdin:1: invalid port range\n",
        ),
        (
            "pass proto tcp to port 20 <> 10\n",
            "stdin:1: invalid port range\n",
        ),
        (
            "pass proto tcp to port > 10:20\n",
            "stdin:1: ':' cannot be used with an other port operator\n",
        ),
        (
            "pass proto tcp to port 10:10\n",
            "pass proto tcp from any to any port = 10 flags S/SA\n",
        ),
        (
            "pass proto tcp to port foo\n",
            "stdin:1: unknown port foo\n",
        ),
        ("pass prio 8\n", "stdin:1: prio must be 0 - 7\n"),
        ("pass prio -1\n", "stdin:1: prio must be 0 - 7\n"),
        ("pass prio 0\n", "pass all flags S/SA prio 0\n"),
        ("pass prio x\n", "stdin:1: syntax error\n"),
        ("pass set prio (1, 8)\n", "stdin:1: prio must be 0 - 7\n"),
        (
            "pass set prio (1 2)\n",
            "pass all flags S/SA set (prio(1, 2))\n",
        ),
        ("pass tos 256\n", "stdin:1: illegal tos value 256\n"),
        ("pass tos ef\n", "pass all flags S/SA tos 0xb8\n"),
        ("pass tos AF11\n", "pass all flags S/SA tos 0x28\n"),
        ("pass tos Cs7\n", "pass all flags S/SA tos 0xe0\n"),
        ("pass tos 0x\n", "stdin:1: illegal tos value 0x\n"),
        ("pass tos 0X10\n", "stdin:1: illegal tos value 0X10\n"),
        ("pass tos 0x100\n", "stdin:1: illegal tos value 0x100\n"),
        (
            "pass set tos lowdelay\n",
            "pass all flags S/SA set (tos 0x10)\n",
        ),
        ("pass rtable 256\n", "stdin:1: invalid rtable id\n"),
        ("pass rtable -1\n", "stdin:1: invalid rtable id\n"),
        (
            "pass probability 50\n",
            "stdin:1: invalid probability: 5000%\n",
        ),
        (
            "pass probability 0.5\n",
            "pass all flags S/SA probability 50%\n",
        ),
        (
            "pass probability 0%\n",
            "pass all flags S/SA probability 0%\n",
        ),
        (
            "pass probability 33.3%\n",
            "pass all flags S/SA probability 33.3%\n",
        ),
        (
            "pass probability x%\n",
            "stdin:1: invalid probability: x%\n",
        ),
    ]);
}

/// Numbers in block return options, ICMP types and codes, and their ranges.
#[test]
fn numbers_and_ranges_in_returns_and_icmp() {
    check(&[
        (
            "block return-rst(ttl 256) proto tcp\n",
            "stdin:1: illegal ttl value 256\n",
        ),
        (
            "block return-icmp(300)\n",
            "stdin:1: invalid icmp code 300\n",
        ),
        ("block return-icmp(-1)\n", "stdin:1: invalid icmp code -1\n"),
        (
            "block return-icmp(host-unr, 300)\n",
            "stdin:1: invalid icmp code 300\n",
        ),
        (
            "block return-icmp(bogus)\n",
            "stdin:1: unknown icmp code bogus\n",
        ),
        (
            "block return-icmp(3) inet\n",
            "block return-icmp(port-unr) inet all\n",
        ),
        (
            "pass inet proto icmp icmp-type 256\n",
            "stdin:1: illegal icmp-type 256\n",
        ),
        (
            "pass inet proto icmp icmp-type -1\n",
            "stdin:1: illegal icmp-type -1\n",
        ),
        (
            "pass inet6 proto icmp6 icmp6-type 256\n",
            "stdin:1: illegal icmp6-type 256\n",
        ),
        (
            "pass inet proto icmp icmp-type echoreq code 300\n",
            "stdin:1: illegal icmp-code 300\n",
        ),
        (
            "pass inet6 proto icmp6 icmp6-type echoreq code 256\n",
            "stdin:1: illegal icmp-code 256\n",
        ),
        (
            "pass inet proto icmp icmp-type unreach code foo\n",
            "stdin:1: unknown icmp-code foo\n",
        ),
        (
            "pass inet6 proto icmp6 icmp6-type unreach code foo\n",
            "stdin:1: unknown icmp6-code foo\n",
        ),
        (
            "pass inet proto icmp icmp-type 200 code 7\n",
            "pass inet proto icmp all icmp-type 200 code 7\n",
        ),
        (
            "pass max-pkt-rate 10/-1\n",
            "stdin:1: only positive values permitted\n",
        ),
        (
            "pass set delay 65536\n",
            "stdin:1: illegal delay value 65536 (0-65535)\n",
        ),
        (
            "pass keep state (max -1)\n",
            "stdin:1: only positive values permitted\n",
        ),
        (
            "pass keep state (tcp.first -1)\n",
            "stdin:1: only positive values permitted\n",
        ),
        (
            "pass keep state (foo 5)\n",
            "stdin:1: illegal timeout name foo\n",
        ),
        (
            "pass keep state (interval 5)\n",
            "stdin:1: illegal state timeout interval\n",
        ),
        ("pass keep state (max 0x10)\n", "stdin:1: syntax error\n"),
        (
            "pass scrub (min-ttl 256)\n",
            "stdin:1: illegal min-ttl value 256\n",
        ),
        (
            "pass scrub (max-mss 65536)\n",
            "stdin:1: illegal max-mss value 65536\n",
        ),
        ("pass scrub (max-mss x)\n", "stdin:1: syntax error\n"),
        (
            "table <t> { 10.0.0.1 weight 0 }\n",
            "stdin:1: weight out of range\n",
        ),
        (
            "table <t> { 10.0.0.1 weight x }\n",
            "stdin:1: syntax error\n",
        ),
    ]);
}

/// antispoof: per interface, `block in on ! if from <its networks>` and,
/// unless the interface is a loopback one (a group has no flags), `block
/// in from <its addresses>`; `(if)` follows the interface; an interface
/// without addresses gives nothing; if_item and antispoof_opt checks.
#[test]
fn antispoof() {
    check(&[
        (
            "antispoof for lo0\n",
            "block drop in on ! lo0 inet6 from ::1 to any\n\
             block drop in on ! lo0 inet from 127.0.0.0/8 to any\n",
        ),
        (
            "antispoof for (lo0)\n",
            "block drop in on ! lo0 from (lo0:network) to any\n",
        ),
        (
            "antispoof for lo\n",
            "block drop in on ! lo inet6 from ::1 to any\n\
             block drop in on ! lo inet from 127.0.0.0/8 to any\n\
             block drop in inet6 from ::1 to any\n\
             block drop in on lo0 inet6 from fe80::1 to any\n\
             block drop in inet from 127.0.0.1 to any\n",
        ),
        (
            "antispoof log quick for { lo0 em0 } inet label \"$if\"\n",
            "block drop in log quick on ! lo0 inet from 127.0.0.0/8 to any label \"lo0\"\n",
        ),
        ("antispoof for em0\n", ""),
        ("antispoof for nosuch0\n", ""),
        (
            "antispoof for lo0 label \"x\" label \"y\"\n",
            "stdin:1: label cannot be redefined\n",
        ),
        (
            "antispoof for lo0 inet rtable 0 rtable 0\n",
            "block drop in on ! lo0 inet from 127.0.0.0/8 to any rtable 0\n",
        ),
        ("antispoof for lo0 rtable 1\n", "stdin:1: rtable 1 does not exist\n"),
        ("antispoof for lo0 rtable 300\n", "stdin:1: invalid rtable id\n"),
        (
            "antispoof for abcdefghijklmnopq\n",
            "stdin:1: interface name too long\n",
        ),
        ("antispoof for ! lo0\n", "stdin:1: syntax error\n"),
        (
            "antispoof quick log (all, to pflog1) for lo0 inet6 label \"$srcaddr $nr\"\n",
            "block drop in log (all, to pflog1) quick on ! lo0 inet6 from ::1 to any label \"::1 0\"\n",
        ),
        ("pass rtable 1\n", "stdin:1: rtable 1 does not exist\n"),
    ]);
}

/// redirspec / redir_host_list / collapse_redirspec / apply_redirspec:
/// translation and routing pools.
#[test]
fn translation_pools() {
    check(&[
        (
            "pass out nat-to { 10.0.0.1 10.0.0.2 }\n",
            "table <__automatic_0> const { 10.0.0.1 10.0.0.2 }\n\
             pass out inet all flags S/SA nat-to <__automatic_0> round-robin\n",
        ),
        (
            "pass out nat-to { 10.0.0.1 10.0.0.2 } bitmask\n",
            "stdin:1: pool type is not valid for multiple translation or routing addresses\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass out nat-to 10.0.0.0/24 bitmask\n",
            "pass out inet all flags S/SA nat-to 10.0.0.0/24 bitmask\n",
        ),
        // optweight: checked, printed nowhere
        (
            "pass out nat-to 10.0.0.1 weight 5\n",
            "pass out inet all flags S/SA nat-to 10.0.0.1\n",
        ),
        (
            "pass out nat-to { 10.0.0.1 weight 2, 10.0.0.2 weight 3 }\n",
            "table <__automatic_0> const { 10.0.0.1 10.0.0.2 }\n\
             pass out inet all flags S/SA nat-to <__automatic_0> round-robin\n",
        ),
        ("pass out nat-to 10.0.0.1 weight 0\n", "stdin:1: weight out of range\n"),
        (
            "pass out nat-to { 10.0.0.1 weight 65536 }\n",
            "stdin:1: weight out of range\n",
        ),
        // only the first host of a braced list must be an address
        (
            "pass out nat-to { (lo0) 10.0.0.1 }\n",
            "stdin:1: only addresses can be listed for redirection pools \n",
        ),
        (
            "pass out nat-to { <t> }\n",
            "stdin:1: only addresses can be listed for redirection pools \n",
        ),
        (
            "pass out nat-to <t>\n",
            "pass out all flags S/SA nat-to <t> round-robin\n",
        ),
        (
            "pass out nat-to <t> bitmask\n",
            "stdin:1: tables are not supported by pool type\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass out nat-to (lo0) static-port\n",
            "pass out all flags S/SA nat-to (lo0) round-robin static-port\n",
        ),
        (
            "pass out nat-to (lo0:0) bitmask\n",
            "pass out all flags S/SA nat-to (lo0:0) bitmask\n",
        ),
        (
            "pass out nat-to (lo0) bitmask\n",
            "stdin:1: interface (lo0) is not supported by pool type\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass out nat-to 10.0.0.1 port 1000:2000 static-port\n",
            "stdin:1: the 'static-port' option can't be used when specifying a port range\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass in proto tcp to port 1000:2000 rdr-to 10.0.0.1 port 3000:*\n",
            "pass in inet proto tcp from any to any port 1000:2000 flags S/SA rdr-to 10.0.0.1 port 3000:4000\n",
        ),
        (
            "pass in rdr-to 10.0.0.1 port 3000:2000\n",
            "stdin:1: invalid rdr-to port range\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass in rdr-to 10.0.0.1 static-port\n",
            "stdin:1: the 'static-port' option is only valid with nat rules\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass out nat-to lo0\n",
            "stdin:1: translation spec contains addresses with different address families\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass out inet6 nat-to lo0\n",
            "table <__automatic_0> const { ::1 fe80::1 }\n\
             pass out inet6 all flags S/SA nat-to <__automatic_0> round-robin\n",
        ),
        (
            "pass out inet nat-to 10.0.0.1/64\n",
            "pass out inet all flags S/SA nat-to 10.0.0.1\n",
        ),
        (
            "pass out nat-to 10.0.0.1 source-hash foobarlicious sticky-address\n",
            "pass out inet all flags S/SA nat-to 10.0.0.1 source-hash \
             0x4da8e393fd22f577426cfdf7fe52d3b0 sticky-address\n",
        ),
        (
            "pass out nat-to 10.0.0.1 source-hash 0x1234\n",
            "stdin:1: hex key must be 128 bits (32 hex digits) long\n",
        ),
        (
            "pass out nat-to 10.0.0.1 random random\n",
            "stdin:1: pool type cannot be redefined\n",
        ),
        (
            "pass out nat-to 10.0.0.1 static-port static-port\n",
            "stdin:1: static-port cannot be redefined\n",
        ),
        // routing
        (
            "pass out route-to (lo0)\n",
            "stdin:1: route spec requires :peer with dynamic interface addresses\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass out route-to (lo0:peer)\n",
            "pass out all flags S/SA route-to (lo0:peer) round-robin\n",
        ),
        (
            "block out route-to 10.0.0.1\n",
            "stdin:1: route-to, reply-to and dup-to require keep state\n\
             stdin:1: route-to, reply-to and dup-to are not supported on block rules\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass route-to 10.0.0.1\n",
            "stdin:1: direction must be explicit with rules that specify routing\n",
        ),
        ("pass dup-to 10.0.0.1\n", "pass inet all flags S/SA dup-to 10.0.0.1\n"),
        (
            "pass out route-to 10.0.0.1 reply-to 10.0.0.2\n",
            "stdin:1: cannot respecify route-to/reply-to/dup-to\n",
        ),
        (
            "pass out nat-to 10.0.0.1 nat-to 10.0.0.2\n",
            "stdin:1: cannot respecify nat-to/binat-to\n",
        ),
    ]);
}

/// Lists (`{ ... }`): `optnl` lets a newline follow `{` and each item, not
/// a comma: the parser stops at such a newline and reads the rest line by
/// line (errors in its first tokens silenced by yacc's recovery).
#[test]
fn newlines_in_lists() {
    check(&[
        (
            "table <t> { 10.0.0.1,\n10.0.0.2 }\n",
            "stdin:1: syntax error\n",
        ),
        (
            "table <t> { 10.0.0.1, 10.0.0.2\n10.0.0.3 }\n",
            "table <t> { 10.0.0.1 10.0.0.2 10.0.0.3 }\n",
        ),
        (
            "pass from {\n10.0.0.1\n10.0.0.2\n} to any\n",
            "pass inet from 10.0.0.1 to any flags S/SA\npass inet from 10.0.0.2 to any flags S/SA\n",
        ),
        (
            "pass proto tcp to port { 22,\n25, 80 }\npass\n",
            "stdin:1: syntax error\n",
        ),
        (
            "pass on {\n lo0\n em0 } proto { tcp\n udp }\n",
            "pass on lo0 proto tcp all flags S/SA\npass on lo0 proto udp all\n\
             pass on em0 proto tcp all flags S/SA\npass on em0 proto udp all\n",
        ),
        (
            "set timeout {\n tcp.first 5\n tcp.opening 6\n}\n",
            "set timeout tcp.first 5\nset timeout tcp.opening 6\n",
        ),
    ]);
}

/// tabledef / table_opts / tablespec and process_tabledef.
#[test]
fn table_definitions() {
    check(&[
        (
            "table <t> persist const counters\n",
            "table <t> const persist counters\n",
        ),
        ("table <t> foo\n", "stdin:1: invalid table option 'foo'\n"),
        (
            "table <t> { 10.0.0.1/33 }\n",
            "stdin:1: cannot create address buffer: Invalid argument\n",
        ),
        (
            "table <t> { !10.0.0.1 ! 10/8 }\n",
            "table <t> { !10.0.0.1 !10.0.0.0/8 }\n",
        ),
        (
            "table <t> { 10.0.0.1 - 10.0.0.5 }\n",
            "stdin:1: address ranges are not permitted inside tables\n",
        ),
        (
            "table <t> { (lo0) }\n",
            "stdin:1: dynamic addresses are not permitted inside tables\n",
        ),
        (
            "table <t> { <u> }\n",
            "stdin:1: tables cannot contain tables\n",
        ),
        (
            "table <t> { no-route }\n",
            "stdin:1: \"no-route\" is not permitted inside tables\n",
        ),
        (
            "table <t> { urpf-failed }\n",
            "stdin:1: \"urpf-failed\" is not permitted inside tables\n",
        ),
        ("table <t> { any }\n", "stdin:1: syntax error\n"),
        ("table <t> {}\n", "table <t> { }\n"),
        (
            "table <abcdefghijklmnopqrstuvwxyz123456> { 1.2.3.4 }\n",
            "stdin:1: table name too long, max 31 chars\n",
        ),
        (
            "pass from <abcdefghijklmnopqrstuvwxyz123456>\n",
            "stdin:1: table name 'abcdefghijklmnopqrstuvwxyz123456' too long\n",
        ),
        ("table <pass> { 1.2.3.4 }\n", "stdin:1: syntax error\n"),
        ("table <\"a b\"> { 1.2.3.4 }\n", "table <a b> { 1.2.3.4 }\n"),
        (
            "table <t> { lo0:network em0 }\n",
            "no IP address found for em0\nstdin:1: could not parse host specification\n",
        ),
        (
            "table <t> { lo0 }\n",
            "table <t> { ::1 fe80::1 127.0.0.1 }\n",
        ),
        (
            "table <t> { 10.0.0.1 weight 5 }\n",
            "table <t> { 10.0.0.1 }\n",
        ),
        (
            "table <t> { 10.0.0.1 weight 0 }\n",
            "stdin:1: weight out of range\n",
        ),
        (
            "table <t> file \"/does/not/exist\"\n",
            "stdin:1: cannot load \"/does/not/exist\": No such file or directory\n",
        ),
    ]);
}

/// expand_label_str: an expansion longer than the label buffer is fatal
/// (errx), after what pfctl printed so far.
#[test]
fn label_expansion_overflow() {
    check(&[(
        "set block-policy drop\npass on tun1000000 label \"$if$if$if$if$if$if$if\"\npass\n",
        "pfctl: expand_label: label too long\nset block-policy drop\n",
    )]);
}

/// logopts, flags, icmpspec, blockspec.
#[test]
fn log_flags_icmp_return() {
    check(&[
        (
            "pass log (all, to pflog1, user, matches)\n",
            "pass log (all, matches, user, to pflog1) all flags S/SA\n",
        ),
        ("pass log (to pflog256)\n", "stdin:1: pflog256: too large\n"),
        ("pass log (to pflog-1)\n", "stdin:1: pflog-1: too small\n"),
        ("pass log (to pflog)\n", "stdin:1: pflog: invalid\n"),
        (
            "pass log (to pflog+1)\n",
            "pass log (to pflog1) all flags S/SA\n",
        ),
        ("pass log (to pflog0)\n", "pass log all flags S/SA\n"),
        (
            "pass log (to foo0)\n",
            "stdin:1: foo0: should be a pflog interface\n",
        ),
        ("pass log quick log\n", "stdin:1: syntax error\n"),
        ("pass quick log\n", "pass log quick all flags S/SA\n"),
        (
            "pass proto tcp flags /SA\n",
            "pass proto tcp all flags /SA\n",
        ),
        (
            "pass proto tcp flags any\n",
            "pass proto tcp all flags any\n",
        ),
        ("pass proto tcp flags S/\n", "stdin:1: syntax error\n"),
        ("pass proto tcp flags SA\n", "stdin:1: syntax error\n"),
        ("pass proto tcp flags X/SA\n", "stdin:1: bad flags X\n"),
        (
            "pass proto tcp flags S/SA flags S/SA\n",
            "stdin:1: flags cannot be redefined\n",
        ),
        (
            "pass proto udp flags S/SA\n",
            "stdin:1: flags only apply to tcp\n",
        ),
        ("pass proto udp flags any\n", "pass proto udp all\n"),
        ("pass fragment\n", "pass all fragment\n"),
        (
            "pass proto tcp to port 22 fragment\n",
            "stdin:1: fragments can be filtered only on IP header fields\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass inet proto icmp icmp-type echoreq icmp-type echorep\n",
            "stdin:1: icmp-type cannot be redefined\n",
        ),
        (
            "pass proto icmp icmp-type echoreq\n",
            "stdin:1: must indicate address family with icmp-type/code\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass inet6 proto icmp icmp-type echoreq\n",
            "stdin:1: proto icmp doesn't match address family inet6\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass inet proto { icmp tcp } icmp-type echoreq\n",
            "stdin:1: icmp-type mismatch\nstdin:1: icmp-type/code only applies to icmp\n\
             stdin:1: skipping rule due to errors\n",
        ),
        (
            "pass inet proto icmp icmp6-type echoreq\n",
            "stdin:1: icmp-type mismatch\nstdin:1: skipping rule due to errors\n\
             stdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass inet proto icmp icmp-type { echoreq unreach code port-unr 3 code 1 }\n",
            "pass inet proto icmp all icmp-type echoreq\n\
             pass inet proto icmp all icmp-type unreach code port-unr\n\
             pass inet proto icmp all icmp-type unreach code host-unr\n",
        ),
        (
            "pass inet6 proto icmp6 icmp6-type { neighbrsol 135 listqry }\n",
            "pass inet6 proto ipv6-icmp all icmp6-type neighbrsol\n\
             pass inet6 proto ipv6-icmp all icmp6-type neighbrsol\n\
             pass inet6 proto ipv6-icmp all icmp6-type groupqry\n",
        ),
        (
            "block return-icmp6(port-unr) inet6\n",
            "block return-icmp6(port-unr) inet6 all\n",
        ),
        (
            "block return-icmp(port-unr, admin-unr)\n",
            "block return-icmp(port-unr, admin-unr) all\n",
        ),
        // one code: pfctl leaves the ICMPv4 default in the ICMPv6 slot
        (
            "block return-icmp(net-unr)\n",
            "block return-icmp(net-unr, 3) all\n",
        ),
        (
            "block return-rst(ttl 5) proto tcp\n",
            "block return-rst(ttl 5) proto tcp all\n",
        ),
        (
            "block return-rst proto udp\n",
            "stdin:1: return-rst can only be applied to TCP rules\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        ("block in return\n", "stdin:1: syntax error\n"),
        (
            "set block-policy return\nblock\nblock drop\n",
            "set block-policy return\nblock return all\nblock drop all\n",
        ),
    ]);
}

/// binat-to, af-to, divert-*, scrub: filter_opt productions and the
/// checks of expand_rule, collapse_redirspec and expand_divertspec.
#[test]
fn binat_afto_divert_scrub() {
    check(&[
        (
            "match out on lo0 from 10.0.0.1 binat-to 10.0.0.2\n",
            "stdin:1: binat-to cannot be specified with a direction\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "match on lo0 from 10.0.0.0/24 to any binat-to 10.1.0.0/24\n",
            "match out on lo0 inet from 10.0.0.0/24 to any nat-to 10.1.0.0/24 static-port\n\
             match in on lo0 inet from any to 10.1.0.0/24 rdr-to 10.0.0.0/24\n",
        ),
        // af-to: a rule without a family takes the other one
        (
            "pass in af-to inet from 10.0.0.1\n",
            "pass in inet6 all flags S/SA af-to inet from 10.0.0.1\n",
        ),
        (
            "pass in on lo0 inet af-to inet6 from 2001::1 to 2001::2\n",
            "pass in on lo0 inet all flags S/SA af-to inet6 from 2001::1 to 2001::2\n",
        ),
        (
            "pass in inet af-to inet from 10.0.0.1\n",
            "stdin:1: must indicate different address family with af-to\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass in inet af-to inet6 from 10.0.0.1\n",
            "stdin:1: translation spec contains addresses that don't match target address family\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass in af-to inet6 from 2001::1 to 10.0.0.1\n",
            "stdin:1: af-to addresses must be in the target address family\n",
        ),
        (
            "match in af-to inet6 from 2001::1\n",
            "stdin:1: af-to is not supported on match rules\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass in divert-to localhost port 8080\n",
            "pass in inet all flags S/SA divert-to 127.0.0.1 port 8080\n",
        ),
        (
            "pass out divert-to 127.0.0.1 port 8080\n",
            "stdin:1: divert-to used with outgoing rule\n",
        ),
        (
            "pass in inet6 divert-to 127.0.0.1 port 8080\n",
            "stdin:1: divert-to address family mismatch\n",
        ),
        (
            "pass in divert-to 127.0.0.1 port 0\n",
            "stdin:1: invalid divert port: 0\n",
        ),
        (
            "pass in divert-to 127.0.0.1 port 1:2\n",
            "stdin:1: port is invalid: 1:2\n",
        ),
        (
            "pass out divert-reply\n",
            "pass out all flags S/SA divert-reply\n",
        ),
        (
            "pass in divert-reply\n",
            "stdin:1: divert-reply used with incoming rule\n",
        ),
        (
            "pass divert-packet port 700\n",
            "pass all flags S/SA divert-packet port 700\n",
        ),
        (
            "match divert-packet port 700\n",
            "stdin:1: divert is not supported on match rules\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass divert-reply divert-packet port 1\n",
            "stdin:1: more than one divert option\n",
        ),
        (
            "pass scrub (no-df random-id min-ttl 5 max-mss 1400 reassemble tcp)\n",
            "pass all flags S/SA scrub (no-df random-id min-ttl 5 reassemble tcp max-mss 1400)\n",
        ),
        (
            "pass inet6 scrub (no-df)\n",
            "stdin:1: address family inet6 does not support scrub options no-df, random-id\n\
             stdin:1: skipping rule due to errors\nstdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass scrub (no-df no-df)\n",
            "stdin:1: no-df cannot be respecified\n",
        ),
        (
            "pass scrub (reassemble udp)\n",
            "stdin:1: scrub reassemble supports only tcp, not 'udp'\n",
        ),
        ("pass scrub ()\n", "stdin:1: syntax error\n"),
    ]);
}

/// yacc runs the actions of what it reduced before the token it stops at:
/// a `set` is applied and printed, a rule's parts are checked (an error
/// there is pfctl's YYERROR: it recovers without a syntax error).
#[test]
fn actions_before_a_syntax_error() {
    check(&[
        ("pass proto foo bogus\n", "stdin:1: unknown protocol foo\n"),
        (
            "pass from nosuchhost to any flags S\n",
            "no IP address found for nosuchhost\nstdin:1: could not parse host specification\n",
        ),
        (
            "pass proto tcp to port 99999 flags S\n",
            "stdin:1: illegal port value 99999\n",
        ),
        (
            "pass label \"a\" label \"b\" bogus\n",
            "stdin:1: label cannot be redefined\n",
        ),
        (
            "pass on abcdefghijklmnopqrstu proto tcp flags\n",
            "stdin:1: interface name too long\n",
        ),
        (
            "block return-icmp(foo) in bogus\n",
            "stdin:1: unknown icmp code foo\n",
        ),
        ("pass in all bogus\n", "stdin:1: syntax error\n"),
        (
            "set timeout tcp.closing 6, tcp.opening 6\n",
            "stdin:1: syntax error\nset timeout tcp.closing 6\n",
        ),
        (
            "set skip on lo0 bogus\n",
            "stdin:1: syntax error\nset skip on { lo0 }\n",
        ),
        ("set skip on\n", "stdin:1: syntax error\n"),
    ]);
}

/// Characters outside ASCII are tokens of their own to pfctl (syntax
/// errors), inside quotes they are kept; nothing of it may panic.
#[test]
fn non_ascii_text() {
    check(&[
        ("pass é\n", "stdin:1: syntax error\n"),
        ("pass proto tcp é to port 22\n", "stdin:1: syntax error\n"),
        ("pass label \"é\"\n", "pass all flags S/SA label \"é\"\n"),
        ("é = 1\npass\n", "stdin:1: syntax error\n"),
        ("pass from { é,\né }\n", "stdin:1: syntax error\n"),
    ]);
}

/// ipspec, host_list, xhost, host: lists, any, negation, ranges, route
/// labels, no-route and urpf-failed.
#[test]
fn address_forms() {
    check(&[
        (
            "pass on { lo0 !em0 }\n",
            "pass on lo0 all flags S/SA\npass on ! em0 all flags S/SA\n",
        ),
        ("pass on !any\n", "pass on ! any all flags S/SA\n"),
        ("pass from { any 10.0.0.1 }\n", "pass all flags S/SA\n"),
        (
            "pass from { 10.0.0.1 { 10.0.0.2 } }\n",
            "pass inet from 10.0.0.1 to any flags S/SA\npass inet from 10.0.0.2 to any flags S/SA\n",
        ),
        ("pass from ! { 10.0.0.1 }\n", "stdin:1: syntax error\n"),
        ("pass from !any\n", "stdin:1: syntax error\n"),
        (
            "pass from ! <t> to ! (lo0)\n",
            "pass from ! <t> to ! (lo0) flags S/SA\n",
        ),
        (
            "pass from route \"foo\"\n",
            "pass from route \"foo\" to any flags S/SA\n",
        ),
        (
            "pass from route \"abcdefghijklmnopqrstuvwxyz0123456\"\n",
            "stdin:1: route label too long, max 31 chars\n",
        ),
        (
            "pass from ! no-route\n",
            "pass from ! no-route to any flags S/SA\n",
        ),
        (
            "pass to ! urpf-failed\n",
            "stdin:1: \"urpf-failed\" is not permitted in a destination address\n",
        ),
        // ranges: two addresses of one family, no order check
        (
            "pass from 1.2.3.4 - 1.2.3.1\n",
            "pass inet from 1.2.3.4 - 1.2.3.1 to any flags S/SA\n",
        ),
        ("pass from 1.2.3.4 - ::1\n", "stdin:1: invalid address range\n"),
        ("pass from 1.2.3.0/24 - 1.2.3.9\n", "stdin:1: syntax error\n"),
        (
            "pass from ::1 - ::5 label \"$srcaddr\"\n",
            "pass inet6 from ::1 - ::5 to any flags S/SA label \"?\"\n",
        ),
        // a later `user` comes first (filter_opt prepends)
        (
            "pass proto tcp user bin user root group { wheel bin }\n",
            "pass proto tcp all user = 0 group = 0 flags S/SA\n\
             pass proto tcp all user = 0 group = 7 flags S/SA\n\
             pass proto tcp all user = 3 group = 0 flags S/SA\n\
             pass proto tcp all user = 3 group = 7 flags S/SA\n",
        ),
        (
            "pass proto tcp to port { www ssh auth }\n",
            "pass proto tcp from any to any port = 80 flags S/SA\n\
             pass proto tcp from any to any port = 22 flags S/SA\n\
             pass proto tcp from any to any port = 113 flags S/SA\n",
        ),
        ("pass all all\n", "stdin:1: syntax error\n"),
        ("pass to any from any\n", "stdin:1: syntax error\n"),
    ]);
}

/// anchorrule, loadrule and anchorname.
#[test]
fn anchors() {
    check(&[
        ("anchor foo/*\n", "stdin:1: syntax error\n"),
        ("anchor \"foo/*\"\n", "anchor \"foo/*\" all\n"),
        ("anchor quick foo\n", "stdin:1: syntax error\n"),
        ("anchor foo in quick\n", "anchor \"foo\" in quick all\n"),
        // translation on an anchor rule is dropped
        ("anchor foo out nat-to 1.2.3.4\n", "anchor \"foo\" out all\n"),
        (
            "anchor foo keep state\n",
            "stdin:1: cannot specify state handling on anchors\n",
        ),
        ("anchor foo once\n", "stdin:1: 'once' only applies to pass/block rules\n"),
        (
            "anchor \"_foo\"\n",
            "stdin:1: anchor names beginning with '_' are reserved for internal use\n",
        ),
        (
            "anchor \"foo/_bar\"\n",
            "stdin:1: anchor names beginning with '_' are reserved for internal use\n",
        ),
        ("anchor foo { pass }\n", "stdin:1: syntax error\n"),
        ("load anchor from \"/x\"\n", "stdin:1: anchor name is missing\n"),
        (
            "anchor {\npass\n}\n",
            "anchor all {\n  pass all flags S/SA\n}\n",
        ),
        (
            "anchor foo {\n pass in label \"$nr\"\n anchor bar {\n  pass out label \"$nr\"\n }\n}\n",
            "anchor \"foo\" all {\n  pass in all flags S/SA label \"0\"\n  anchor \"bar\" all {\n    \
             pass out all flags S/SA label \"0\"\n  }\n}\n",
        ),
    ]);
}

/// queuespec and queue_opt numbers.
#[test]
fn queue_numbers() {
    check(&[
        (
            "queue q on lo0 flows -5 default\n",
            "stdin:1: number of flows out of range: max 32767\n",
        ),
        (
            "queue q on lo0 bandwidth 1M qlimit 70000 default\n",
            "stdin:1: qlimit out of range: max 65535\n",
        ),
        (
            "queue q on lo0 flows 10 quantum 0 default\n",
            "stdin:1: quantum out of range: max 65535\n",
        ),
        (
            "queue 5 on lo0 bandwidth 1M default\n",
            "stdin:1: syntax error\n",
        ),
        (
            "queue q on lo0 bandwidth -1M default\n",
            "stdin:1: syntax error\n",
        ),
        (
            "queue q bandwidth 10M\n",
            "stdin:1: root queue without interface\n",
        ),
        (
            "queue q on lo0 bandwidth 10M default\n",
            "queue q on lo0 bandwidth 10M default\n",
        ),
    ]);
}

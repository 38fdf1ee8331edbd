//! Conformance with OpenBSD's pfctl, case by case, derived from its sources
//! (`sbin/pfctl/parse.y` 1.719, `pfctl_parser.c` 1.352, `pfctl.c` 1.397,
//! `pf_print_state.c`): each check feeds a pf.conf text to the parser and
//! compares what `pfctl -o none -nv -f -` prints, stderr and stdout merged
//! as OpenBSD's regress `pfail` targets merge them (diagnostics first, then
//! what pfctl printed on its buffered stdout). The comment on each group
//! names the production or function that decides it.

use super::*;

mod rules;

/// The OpenBSD regress host (see the corpus README): lo0 with ::1, fe80::1
/// and 127.0.0.1/8, interfaces without addresses, the group `lo`.
fn resolver() -> StaticResolver {
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
        // only routing table 0, as on the regress host
        .rtables(&[])
}

/// `pfctl -o none -nv -f -` on `src`: the diagnostics and what pfctl
/// prints while parsing when there are errors, else the whole output.
fn nv(src: &str) -> String {
    let r = resolver();
    let no_files = |p: &str| -> std::io::Result<String> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{p}: not here"),
        ))
    };
    let (rs, errs) = parse_partial(src, "stdin", &r, &no_files);
    if errs.iter().all(|e| e.warning) {
        // warnings go to stderr, before what pfctl prints at exit
        let mut s: String = errs.iter().map(|e| e.to_string() + "\n").collect();
        s.push_str(&print_ruleset_nv(&rs, &r));
        s
    } else {
        let mut s: String = errs.iter().map(|e| e.to_string() + "\n").collect();
        s.push_str(&print::print_directives(&rs));
        s
    }
}

/// Checks every (input, expected output) pair, reporting all mismatches.
fn check(cases: &[(&str, &str)]) {
    let mut bad = vec![];
    for (input, want) in cases {
        let got = nv(input);
        if got != *want {
            bad.push(format!(
                "input:\n{input}\n--- expected\n{want}--- got\n{got}"
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} differ:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}

/// yylex: a NUMBER is `-`? digits followed by a blank, a newline, `)`,
/// `,`, `/`, `}` or `=`; it is not a STRING, so the productions that take
/// only a STRING refuse it (label, tag, tagged, interface names, hosts
/// other than `NUMBER '/' NUMBER`, anchor names, table options).
#[test]
fn number_is_not_a_string() {
    check(&[
        ("pass label 5\n", "stdin:1: syntax error\n"),
        ("pass label \"5\"\n", "pass all flags S/SA label \"5\"\n"),
        ("pass tag 5\n", "stdin:1: syntax error\n"),
        ("pass tagged 5\n", "stdin:1: syntax error\n"),
        ("pass on 5\n", "stdin:1: syntax error\n"),
        ("pass from 5\n", "stdin:1: syntax error\n"),
        ("pass to 0\n", "stdin:1: syntax error\n"),
        ("anchor 5\n", "stdin:1: syntax error\n"),
        ("table <t> 5\n", "stdin:1: syntax error\n"),
        ("set loginterface 5\n", "stdin:1: syntax error\n"),
        ("set debug 5\n", "stdin:1: syntax error\n"),
        ("set optimization 5\n", "stdin:1: syntax error\n"),
        ("5 = x\n", "stdin:1: syntax error\n"),
        ("pass os 5\n", "stdin:1: syntax error\n"),
        // a number glued to other characters is a word
        ("pass label 5x\n", "pass all flags S/SA label \"5x\"\n"),
        // NUMBER '/' NUMBER is a host (10/8)
        (
            "pass to 10/8\n",
            "pass inet from any to 10.0.0.0/8 flags S/SA\n",
        ),
        // a table name may be a word of digits: `>` does not end a NUMBER
        ("pass to <5>\n", "pass from any to <5> flags S/SA\n"),
    ]);
}

/// numberstring: a NUMBER in a port or a macro value is printed back with
/// %lld before it is used, so leading zeros are decimal, not octal; a
/// quoted word goes through strtoul(3) with base 0.
#[test]
fn numbers_in_ports_and_macros_are_decimal() {
    check(&[
        (
            "pass proto tcp to port 0022\n",
            "pass proto tcp from any to any port = 22 flags S/SA\n",
        ),
        (
            "pass proto tcp to port \"0022\"\n",
            "pass proto tcp from any to any port = 18 flags S/SA\n",
        ),
        (
            "pass proto tcp to port 0x16\n",
            "pass proto tcp from any to any port = 22 flags S/SA\n",
        ),
        (
            "p = 0022\npass proto tcp to port $p\n",
            "p = \"22\"\npass proto tcp from any to any port = 22 flags S/SA\n",
        ),
    ]);
}

/// pfctl's `string` nonterminal joins several STRINGs with a blank: `tag`,
/// `tagged` and `log (to ...)` take it, `label` takes one STRING.
#[test]
fn multi_word_strings() {
    check(&[
        ("pass tag a b\n", "pass all flags S/SA tag a b\n"),
        ("pass tagged a b\n", "pass all flags S/SA tagged a b\n"),
        ("pass label a b\n", "stdin:1: syntax error\n"),
    ]);
}

/// varset: the name is a STRING (a quoted one too); pfctl prints the
/// definition before it refuses a name with whitespace (its loop starts
/// at the second character).
#[test]
fn macro_names() {
    check(&[
        (
            "\"a b\" = c\n",
            "stdin:1: macro name cannot contain whitespace\na b = \"c\"\n",
        ),
        ("\" ab\" = c\npass\n", " ab = \"c\"\npass all flags S/SA\n"),
    ]);
}

/// option (parse.y) and pfctl_set_* (pfctl.c): value ranges, the warnx(3)
/// lines pfctl prints before the parser's message, what -v prints.
#[test]
fn set_options() {
    check(&[
        // timeout_spec / limit_spec: STRING NUMBER, 0 to UINT_MAX, printed %d
        (
            "set timeout tcp.first -1\n",
            "stdin:1: only positive values permitted\n",
        ),
        (
            "set timeout tcp.first 4294967296\n",
            "stdin:1: only positive values permitted\n",
        ),
        (
            "set timeout tcp.first 4294967295\n",
            "set timeout tcp.first -1\n",
        ),
        ("set timeout TCP.First 5\n", "set timeout TCP.First 5\n"),
        ("set timeout tcp.first 5s\n", "stdin:1: syntax error\n"),
        (
            "set timeout foo 5\n",
            "pfctl: Bad timeout name.\nstdin:1: unknown timeout foo\n",
        ),
        (
            "set limit foo 5\n",
            "pfctl: Bad pool name.\nstdin:1: unable to set limit foo 5\n",
        ),
        ("set limit States 5\n", "set limit States 5\n"),
        (
            "set limit { states 10, pktdelay-pkts 5 anchors 7 }\n",
            "set limit states 10\nset limit pktdelay-pkts 5\nset limit anchors 7\n",
        ),
        // hostid: `number`, NUMBER or a STRING through strtoul
        ("set hostid 0\n", "stdin:1: hostid must be non-zero\n"),
        ("set hostid 4294967296\n", "stdin:1: hostid must be non-zero\n"),
        ("set hostid -1\n", "set hostid 0xffffffff\n"),
        ("set hostid 0x10\n", "set hostid 0x00000010\n"),
        ("set hostid abc\n", "stdin:1: abc is not a number\n"),
        // debug: STRING, string_to_loglevel (syslog names but "none", 0-7)
        ("set debug warn\n", "set debug warn\n"),
        ("set debug DEBUG\n", "set debug DEBUG\n"),
        ("set debug debug\n", "set debug debug\n"),
        ("set debug \"7\"\n", "set debug 7\n"),
        (
            "set debug \"8\"\n",
            "pfctl: unknown debug level \"8\"\nstdin:1: error setting debuglevel 8\n",
        ),
        (
            "set debug none\n",
            "pfctl: unknown debug level \"none\"\nstdin:1: error setting debuglevel none\n",
        ),
        (
            "set debug misc\n",
            "pfctl: unknown debug level \"misc\"\nstdin:1: error setting debuglevel misc\n",
        ),
        // optimization: pf_hints, strcasecmp
        ("set optimization Satellite\n", "set optimization Satellite\n"),
        (
            "set optimization foo\n",
            "pfctl: invalid state timeouts optimization\nstdin:1: unknown optimization foo\n",
        ),
        // loginterface: STRING or `all`, no interface check any more
        ("set loginterface foo0\n", "set loginterface foo0\n"),
        ("set loginterface all\n", "set loginterface all\n"),
        // skip: each name is printed before it is checked
        (
            "set skip on { lo0 ! em0 }\n",
            "stdin:1: skip on ! <interface> is not supported\n\
             stdin:1: error setting skip interface(s)\nset skip on { lo0 em0 }\n",
        ),
        (
            "set skip on rdomain 1\n",
            "stdin:1: skip on rdomain <num> is not supported\n\
             stdin:1: error setting skip interface(s)\nset skip on {  }\n",
        ),
        ("set skip\n", "set skip on none\n"),
        ("set skip on { none }\n", "set skip on none\n"),
        ("set skip on\n", "stdin:1: syntax error\n"),
        // reassemble: yesno, optnodf; pfctl prints a blank after "yes"
        ("set reassemble yes\n", "set reassemble yes \n"),
        ("set reassemble no no-df\n", "set reassemble no no-df\n"),
        (
            "set reassemble maybe\n",
            "stdin:1: invalid value 'maybe', expected 'yes' or 'no'\n",
        ),
        // syncookies: watermarks default to 25% and half the start
        (
            "set syncookies adaptive (end 10%)\n",
            "set syncookies adaptive (start 25%, end 10%)\n",
        ),
        (
            "set syncookies adaptive (start 30%)\n",
            "set syncookies adaptive (start 30%, end 15%)\n",
        ),
        (
            "set syncookies adaptive (end 12% start 25.7%)\nset syncookies adaptive\n",
            "set syncookies adaptive (start 25%, end 12%)\nset syncookies adaptive (start 25%, end 12%)\n",
        ),
        (
            "set syncookies adaptive (start 10%, end 20%)\n",
            "pfctl: start must be higher than end\nstdin:1: error setting syncookies\n",
        ),
        (
            "set syncookies always (start 10%)\n",
            "pfctl: syncookies start/end only apply to adaptive\nstdin:1: error setting syncookies\n",
        ),
        (
            "set syncookies adaptive (start 0%)\n",
            "stdin:1: illegal percentage value\n",
        ),
        (
            "set syncookies adaptive (begin 10%)\n",
            "stdin:1: illegal syncookie option\n",
        ),
        ("set syncookies sometimes\n", "stdin:1: illegal value for syncookies\n"),
        // state-defaults: items are checked when read, their combination on
        // each rule that takes them
        (
            "set state-defaults max 5, max 6\npass\n",
            "stdin:2: state option 'max' multiple definitions\n",
        ),
        (
            "set state-defaults max -1\n",
            "stdin:1: only positive values permitted\n",
        ),
        (
            "set state-defaults no-sync\nset state-defaults pflow\n",
            "stdin:2: cannot redefine state-defaults\n",
        ),
    ]);
}

/// dynaddr: `(if[:mod...])`: one of :network, :broadcast, :peer, with or
/// without :0 (PFI_AFLAG_MODEMASK), a modifier repeated is the same flag;
/// print_addr prints them in that order.
#[test]
fn dynamic_interface_modifiers() {
    check(&[
        (
            "pass in from (lo0:network:0)\n",
            "pass in from (lo0:network:0) to any flags S/SA\n",
        ),
        (
            "pass in from (lo0:0:network)\n",
            "pass in from (lo0:network:0) to any flags S/SA\n",
        ),
        (
            "pass in from (lo0:network:network)\n",
            "pass in from (lo0:network) to any flags S/SA\n",
        ),
        (
            "pass in from (lo0:peer:0)\n",
            "pass in from (lo0:peer:0) to any flags S/SA\n",
        ),
        (
            "pass in from (lo0:broadcast:0)\n",
            "pass in from (lo0:broadcast:0) to any flags S/SA\n",
        ),
        (
            "pass in from (lo0:0)\n",
            "pass in from (lo0:0) to any flags S/SA\n",
        ),
        (
            "pass in from (lo0:peer:broadcast)\n",
            "stdin:1: illegal combination of interface modifiers\n",
        ),
        (
            "pass in from (lo0:network:peer:0)\n",
            "stdin:1: illegal combination of interface modifiers\n",
        ),
        // the name as it stands when the bad modifier is met
        (
            "pass in from (lo0:foo:network)\n",
            "stdin:1: interface lo0:foo has bad modifier\n",
        ),
        (
            "pass in from (0lo)\n",
            "stdin:1: invalid interface name '0lo'\n",
        ),
        (
            "pass in from (abcdefghijklmnop)\n",
            "stdin:1: interface name too long\n",
        ),
        ("pass in from (5)\n", "stdin:1: syntax error\n"),
        // groups and unknown names are not checked: followed at run time
        (
            "pass in from (nosuch0) to (lo)\n",
            "pass in from (nosuch0) to (lo) flags S/SA\n",
        ),
    ]);
}

/// dynaddr '/' NUMBER: 0 to 128 ("bit number too big"); gen_dynnode keeps
/// at most 32 bits in an inet rule; print_addr prints bits shorter than
/// the family's (128 without a family) and nothing for a zero mask.
#[test]
fn dynamic_interface_masks() {
    check(&[
        (
            "pass in from (lo0)/24\n",
            "pass in from (lo0)/24 to any flags S/SA\n",
        ),
        (
            "pass in inet from (lo0)/64\n",
            "pass in inet from (lo0) to any flags S/SA\n",
        ),
        (
            "pass in inet from (lo0)/32\n",
            "pass in inet from (lo0) to any flags S/SA\n",
        ),
        (
            "pass in from (lo0)/32\n",
            "pass in from (lo0)/32 to any flags S/SA\n",
        ),
        (
            "pass in inet6 from (lo0)/64\n",
            "pass in inet6 from (lo0)/64 to any flags S/SA\n",
        ),
        (
            "pass in inet6 from (lo0)/128\n",
            "pass in inet6 from (lo0) to any flags S/SA\n",
        ),
        (
            "pass in from (lo0)/0\n",
            "pass in from (lo0) to any flags S/SA\n",
        ),
        (
            "pass in from (lo0:network)/16 to (lo0:0)/24\n",
            "pass in from (lo0:network)/16 to (lo0:0)/24 flags S/SA\n",
        ),
        ("pass in from (lo0)/129\n", "stdin:1: bit number too big\n"),
        ("pass in from (lo0)/-1\n", "stdin:1: bit number too big\n"),
        // the family comes from the other address
        (
            "pass in from (lo0)/64 to 10.0.0.1\n",
            "pass in inet from (lo0) to 10.0.0.1 flags S/SA\n",
        ),
        (
            "pass in from (lo0)/64 to ::1\n",
            "pass in inet6 from (lo0)/64 to ::1 flags S/SA\n",
        ),
        // translation pools print the same way
        (
            "pass out inet from any to any nat-to (lo0)/24\n",
            "pass out inet all flags S/SA nat-to (lo0)/24 round-robin\n",
        ),
        (
            "pass out inet from any to any nat-to (lo0:0)/64\n",
            "pass out inet all flags S/SA nat-to (lo0:0)\n",
        ),
    ]);
}

/// host_if: modifiers on interface names (not in parentheses) resolve at
/// load time; an illegal combination or a mask with :network/:broadcast is
/// reported by host_if itself, then host() tries the name as an address
/// and as a host name before it gives up.
#[test]
fn interface_name_modifiers() {
    check(&[
        (
            "pass in from lo0:network\n",
            "pass in inet6 from ::1 to any flags S/SA\n\
             pass in inet from 127.0.0.0/8 to any flags S/SA\n",
        ),
        // :0 first address per family; :network skips link-local ones first
        (
            "pass in from lo0:network:0\n",
            "pass in inet6 from ::1 to any flags S/SA\n\
             pass in inet from 127.0.0.0/8 to any flags S/SA\n",
        ),
        (
            "pass in to lo0:0\n",
            "pass in inet6 from any to ::1 flags S/SA\n\
             pass in inet from any to 127.0.0.1 flags S/SA\n",
        ),
        (
            "pass in from lo0:network:peer\n",
            "illegal combination of interface modifiers\n\
             no IP address found for lo0:network:peer\n\
             stdin:1: could not parse host specification\n",
        ),
        (
            "pass in from lo0:network/24\n",
            "network or broadcast lookup, but extra netmask given\n\
             no IP address found for lo0:network/24\n\
             stdin:1: could not parse host specification\n",
        ),
        (
            "pass in from lo0:broadcast/24\n",
            "network or broadcast lookup, but extra netmask given\n\
             no IP address found for lo0:broadcast/24\n\
             stdin:1: could not parse host specification\n",
        ),
        // lo0 has no broadcast address and no peer
        (
            "pass in from lo0:broadcast\n",
            "no IP address found for lo0:broadcast\n\
             stdin:1: could not parse host specification\n",
        ),
        (
            "pass in from lo0:peer\n",
            "no IP address found for lo0:peer\n\
             stdin:1: could not parse host specification\n",
        ),
        // an interface without addresses is no host
        (
            "pass in from lo1000000\n",
            "no IP address found for lo1000000\n\
             stdin:1: could not parse host specification\n",
        ),
        (
            "pass in from lo0:bogus\n",
            "no IP address found for lo0:bogus\n\
             stdin:1: could not parse host specification\n",
        ),
        // groups and `self`: a link-local address names its interface
        (
            "pass in from lo\n",
            "pass in inet6 from ::1 to any flags S/SA\n\
             pass in on lo0 inet6 from fe80::1 to any flags S/SA\n\
             pass in inet from 127.0.0.1 to any flags S/SA\n",
        ),
        (
            "pass in from self\n",
            "pass in inet6 from ::1 to any flags S/SA\n\
             pass in on lo0 inet6 from fe80::1 to any flags S/SA\n\
             pass in inet from 127.0.0.1 to any flags S/SA\n",
        ),
        (
            "pass in on lo0 from fe80::1%lo0\n",
            "pass in on lo0 inet6 from fe80::1 to any flags S/SA\n",
        ),
        // the interface of a scoped address must match the rule's
        (
            "pass in on em0 from fe80::1%lo0\n",
            "stdin:1: rule expands to no valid combination\n",
        ),
    ]);
}

/// host(): the mask is strtonum(0, 128); set_ipmask applies it to every
/// address of an interface or name, IPv6 ones too; more than 32 bits on an
/// IPv4 address is refused only where a rule uses it (check_netmask, a
/// plain message) and an address of the other family is dropped first.
#[test]
fn netmasks_by_address_family() {
    check(&[
        (
            "pass in from lo0/8\n",
            "pass in inet6 from ::/8 to any flags S/SA\n\
             pass in on lo0 inet6 from fe00::/8 to any flags S/SA\n\
             pass in inet from 127.0.0.0/8 to any flags S/SA\n",
        ),
        (
            "pass in inet6 from lo0/64\n",
            "pass in inet6 from ::/64 to any flags S/SA\n\
             pass in on lo0 inet6 from fe80::/64 to any flags S/SA\n",
        ),
        (
            "pass in inet from lo0/64\n",
            "netmask 64 invalid for IPv4 address\n\
             stdin:1: skipping rule due to errors\n\
             stdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass in from lo0/64\n",
            "netmask 64 invalid for IPv4 address\n\
             stdin:1: skipping rule due to errors\n",
        ),
        (
            "pass in inet6 from 10.0.0.1/64\n",
            "stdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass in from 10.0.0.1/33 to 10.0.0.2/40\n",
            "netmask 33 invalid for IPv4 address\n\
             netmask 40 invalid for IPv4 address\n\
             stdin:1: skipping rule due to errors\n\
             stdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass in from ::1/64\n",
            "pass in inet6 from ::/64 to any flags S/SA\n",
        ),
        (
            "pass in from 10.0.0.1/129\n",
            "netmask is too large: /129\nstdin:1: could not parse host specification\n",
        ),
        (
            "pass in from 10.0.0.1/-1\n",
            "netmask is too small: /-1\nstdin:1: could not parse host specification\n",
        ),
        (
            "pass in from localhost/24\n",
            "pass in inet from 127.0.0.0/24 to any flags S/SA\n\
             pass in inet6 from ::/24 to any flags S/SA\n",
        ),
        (
            "pass in from 10/8 to 172.16/12\n",
            "pass in inet from 10.0.0.0/8 to 172.16.0.0/12 flags S/SA\n",
        ),
        // a quoted STRING carries its own mask
        (
            "pass in from \"10.1.2.3/16\"\n",
            "pass in inet from 10.1.0.0/16 to any flags S/SA\n",
        ),
        (
            "pass in from 0.0.0.0/0 to ::/0\n",
            "stdin:1: rule expands to no valid combination\n",
        ),
        ("pass in from 0.0.0.0/0\n", "pass in inet all flags S/SA\n"),
        (
            "pass in from any to ::/0\n",
            "pass in inet6 all flags S/SA\n",
        ),
        ("pass in from 10.0.0.0/8/8\n", "stdin:1: syntax error\n"),
    ]);
}

/// yylex and yacc's error recovery: a lexer error (findeol) is followed by
/// the parser's syntax error, and the newline it waits for to recover was
/// eaten, so the next line's tokens are dropped; yacc reports no syntax
/// error until three tokens were shifted after the previous one (a blank
/// line's newline is one).
#[test]
fn lexer_errors_and_recovery() {
    check(&[
        (
            "pass from $x\npass bogus\npass in bogus2\n",
            "stdin:1: macro 'x' not defined\nstdin:1: syntax error\nstdin:3: syntax error\n",
        ),
        (
            "pass from $x\n\npass bogus\n",
            "stdin:1: macro 'x' not defined\nstdin:1: syntax error\n",
        ),
        ("pass log-all\nblock log-all\n", "stdin:1: syntax error\n"),
        (
            "pass log-all\nblock out log-all\n",
            "stdin:1: syntax error\nstdin:2: syntax error\n",
        ),
        ("foo\nbar\n", "stdin:1: syntax error\n"),
        (
            "foo\n\nbar\n",
            "stdin:1: syntax error\nstdin:3: syntax error\n",
        ),
        // a grammar action's error recovers like a syntax error
        ("pass proto foo\nbar\n", "stdin:1: unknown protocol foo\n"),
        // the expansion's errors do not
        (
            "pass proto icmp to port 1\nbar\n",
            "stdin:1: port only applies to tcp/udp\nstdin:1: skipping rule due to errors\n\
             stdin:1: rule expands to no valid combination\nstdin:2: syntax error\n",
        ),
        // numbers beyond a long long
        (
            "pass proto tcp to port 99999999999999999999\n",
            "stdin:1: \"99999999999999999999\" invalid number: too large\nstdin:1: syntax error\n",
        ),
        (
            "set timeout tcp.first -99999999999999999999\n",
            "stdin:1: \"-99999999999999999999\" invalid number: too small\nstdin:1: syntax error\n",
        ),
        // a syntax error before the bad token comes first
        (
            "pass bogus 99999999999999999999\n",
            "stdin:1: syntax error\nstdin:1: \"99999999999999999999\" invalid number: too large\n",
        ),
        (
            "pass label \"abc",
            "stdin:1: reached end of file while parsing quoted string\nstdin:1: syntax error\n",
        ),
        (
            "pass\npass label \"abc\ndef",
            "stdin:2: reached end of file while parsing quoted string\nstdin:2: syntax error\n",
        ),
        ("pass\r\n", "stdin:1: syntax error\n"),
    ]);
}

/// yylex: `$name` is a macro only where a token starts (a `$` inside a
/// word is a character); the value is read again where it stands, but its
/// own `$` are not expanded; `\x` outside quotes is x read afresh; `#`
/// starts a comment where a token would, `\` continues it.
#[test]
fn macros_comments_continuations() {
    check(&[
        (
            "x = \"1.2.3.4\"\npass from foo$x\n",
            "no IP address found for foo$x\nstdin:2: could not parse host specification\nx = \"1.2.3.4\"\n",
        ),
        (
            "x = \"10.0.0.1\"\npass from \\$x\n",
            "x = \"10.0.0.1\"\npass inet from 10.0.0.1 to any flags S/SA\n",
        ),
        (
            "x = \"10.0.0.1\"\npass from ($x:network)\n",
            "stdin:2: invalid interface name '10.0.0.1:network'\nx = \"10.0.0.1\"\n",
        ),
        (
            "i = \"lo0\"\npass on $i from $i:network\n",
            "i = \"lo0\"\npass on lo0 inet6 from ::1 to any flags S/SA\n\
             pass on lo0 inet from 127.0.0.0/8 to any flags S/SA\n",
        ),
        // no recursion: "$a" stays as it is written
        ("a = \"$a\"\npass from $a\n", "stdin:2: syntax error\na = \"$a\"\n"),
        (
            "a = \"10.0.0.1\"\nb = $a\npass from $b\n",
            "a = \"10.0.0.1\"\nb = \"10.0.0.1\"\npass inet from 10.0.0.1 to any flags S/SA\n",
        ),
        (
            "a = \"10.0.0.1\"\nb = \"$a\"\npass from $b\n",
            "stdin:3: syntax error\na = \"10.0.0.1\"\nb = \"$a\"\n",
        ),
        (
            "pass label \"a#b\" # a comment \"with a quote\n",
            "pass all flags S/SA label \"a#b\"\n",
        ),
        ("# a comment \\\npass\nblock\n", "block drop all\n"),
        ("pa\\\nss\n", "pass all flags S/SA\n"),
        ("pass \\\n bogus\n", "stdin:2: syntax error\n"),
        ("pass#x\n", "pass all flags S/SA\n"),
        // a quoted newline is dropped
        ("pass label \"a\nb\"\n", "pass all flags S/SA label \"ab\"\n"),
        // escapes inside quotes: the quote, a blank or a tab
        (
            "pass label \"a\\\"b\\ c\\d\"\n",
            "pass all flags S/SA label \"a\"b c\\d\"\n",
        ),
    ]);
}

/// yylex's buffer: a quoted string of more than 8094 bytes, a word of more
/// than 8095, is "string too long".
#[test]
fn string_length_limits() {
    let q = |n: usize| format!("pass label \"{}\"\n", "a".repeat(n));
    let w = |n: usize| format!("pass label {}\n", "a".repeat(n));
    check(&[
        (
            &q(8095),
            "stdin:1: string too long\nstdin:1: syntax error\n",
        ),
        (&q(8094), "stdin:1: rule label too long (max 63 chars)\n"),
        (
            &w(8096),
            "stdin:1: string too long\nstdin:1: syntax error\n",
        ),
        (&w(8095), "stdin:1: rule label too long (max 63 chars)\n"),
    ]);
}

/// pfrule and filteropts_to_rule: the checks of a whole rule, in pfctl's
/// order; rule_consistent on each expansion, and its one warning.
#[test]
fn rule_checks() {
    check(&[
        ("match once\n", "stdin:1: 'once' only applies to pass/block rules\n"),
        ("block once\n", "block drop all once\n"),
        (
            "pass out af-to inet6 from ::1\n",
            "stdin:1: af-to can only be used with direction in\n",
        ),
        (
            "pass in af-to inet6 from ::1 route-to 10.0.0.1\n",
            "stdin:1: af-to cannot be used together with route-to, reply-to, dup-to\n",
        ),
        // `os`: tcp only (both messages when flags are there too)
        (
            "pass proto udp os \"OpenBSD\" flags S/SA\n",
            "stdin:1: flags only apply to tcp\nstdin:1: OS fingerprinting only apply to tcp\n",
        ),
        (
            "anchor a proto udp os \"OpenBSD\"\n",
            "stdin:1: OS fingerprinting only applies to tcp\n",
        ),
        (
            "pass os \"OpenBSD\"\n",
            "stdin:1: os only applies to tcp\nstdin:1: skipping rule due to errors\n\
             stdin:1: rule expands to no valid combination\n",
        ),
        (
            "pass proto tcp from any os { \"OpenBSD\", UNKNOWN } to port 22\n",
            "pass proto tcp from any os \"OpenBSD\" to any port = 22 flags S/SA\n\
             pass proto tcp from any os \"unknown\" to any port = 22 flags S/SA\n",
        ),
        (
            "pass proto tcp os \"Linux\"\n",
            "pass proto tcp from any os \"Linux\" to any flags S/SA\n",
        ),
        // state options
        (
            "pass keep state (max-src-conn-rate 4294968/5)\n",
            "stdin:1: 'max-src-conn-rate' maximum rate must be < 4294967\n",
        ),
        (
            "pass keep state (max-src-conn-rate 4294967/5)\n",
            "pass all flags S/SA keep state (source-track rule, max-src-conn-rate 4294967/5, src.track 5)\n",
        ),
        // set state-policy if-bound: later stateful rules without their own
        (
            "pass\nset state-policy if-bound\npass\npass keep state (floating)\nblock\n",
            "set state-policy if-bound\npass all flags S/SA\n\
             pass all flags S/SA keep state (if-bound)\npass all flags S/SA\nblock drop all\n",
        ),
        // synproxy: a warning for rules that are not inbound, no error
        (
            "pass proto tcp synproxy state\npass in proto tcp synproxy state\n",
            "stdin:1: warning: synproxy used for inbound rules only, ignored for outbound\n\
             pass proto tcp all flags S/SA synproxy state\n\
             pass in proto tcp all flags S/SA synproxy state\n",
        ),
        // pfctl takes translation in either direction
        (
            "pass in inet nat-to 10.0.0.1\npass out inet rdr-to 10.0.0.1\n",
            "pass in inet all flags S/SA nat-to 10.0.0.1\n\
             pass out inet all flags S/SA rdr-to 10.0.0.1\n",
        ),
    ]);
}

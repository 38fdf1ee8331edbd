//! The text `pfctl -s ...` prints: states (`-ss`, `-vss`, `-vvss`), rule
//! counters (`-vsr`), status (`-si`), source nodes (`-sS`), timeouts
//! (`-st`), limits (`-sm`), interfaces (`-sI`), in OpenBSD's exact
//! formats.

use crate::addr::Af;
use crate::engine::anchor::{Loader, RuleCounters};
use crate::engine::iface::IfaceInfo;
use crate::engine::srcnode::{SnType, SrcNodeInfo};
use crate::engine::state::{tcps, udps};
use crate::engine::status::{FastPathStatus, Status, LIMIT_COUNTER_NAMES, REASON_NAMES};
use crate::ruleset::{Limit, Timeout, TIMEOUT_PRINT_ORDER};
use crate::wire::pfsync::{KeyRepr, PeerRepr, StateRepr};
use crate::wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP};
use std::fmt::Write;
use std::net::IpAddr;

/// `a.b.c.d:port` or `addr[port]`, the port left out when 0, a routing
/// domain in front when not 0.
fn host(addr: &IpAddr, port: u16, rdomain: u16) -> String {
    let mut s = String::new();
    if rdomain != 0 {
        let _ = write!(s, "({rdomain}) ");
    }
    let _ = write!(s, "{addr}");
    if port != 0 {
        match addr {
            IpAddr::V4(_) => {
                let _ = write!(s, ":{port}");
            }
            IpAddr::V6(_) => {
                let _ = write!(s, "[{port}]");
            }
        }
    }
    s
}

fn seq(p: &PeerRepr) -> String {
    let span = p.seqhi.wrapping_sub(p.seqlo);
    if p.seqdiff != 0 {
        format!("[{} + {}](+{})", p.seqlo, span, p.seqdiff)
    } else {
        format!("[{} + {}]", p.seqlo, span)
    }
}

fn hms(secs: u32) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// One state as `pfctl -ss` prints it (`verbose` 1 for -v, 2 for -vv),
/// with a trailing newline. `proto_name` maps protocol numbers to names.
pub fn state(s: &StateRepr, verbose: u8, proto_name: &dyn Fn(u8) -> Option<String>) -> String {
    let mut o = String::new();
    state_hosts(&mut o, s, proto_name);
    state_levels(&mut o, s, verbose);
    if verbose >= 1 {
        state_counters(&mut o, s);
    }
    if verbose >= 2 {
        state_ids(&mut o, s);
    }
    o
}

/// The first line of a state up to its levels: interface, protocol, the
/// stack-side key's hosts with the wire-side ones in parentheses where
/// translation changed them.
fn state_hosts(o: &mut String, s: &StateRepr, proto_name: &dyn Fn(u8) -> Option<String>) {
    let out_dir = s.direction == 2;
    let (mut sk, nk): (KeyRepr, &KeyRepr) = if out_dir {
        (s.key[1], &s.key[0])
    } else {
        (s.key[0], &s.key[1])
    };
    let icmp = s.proto == IPPROTO_ICMP || s.proto == IPPROTO_ICMPV6;
    if icmp {
        if out_dir {
            sk.port[0] = nk.port[0];
        } else {
            sk.port[1] = nk.port[1];
        }
    }
    let afto = sk.af != nk.af;
    let _ = write!(o, "{} ", s.ifname);
    match proto_name(s.proto) {
        Some(n) => {
            let _ = write!(o, "{n} ");
        }
        None => {
            let _ = write!(o, "{} ", s.proto);
        }
    }
    o.push_str(&host(&nk.addr[1], nk.port[1], nk.rdomain));
    if nk.af != sk.af
        || nk.addr[1] != sk.addr[1]
        || nk.port[1] != sk.port[1]
        || nk.rdomain != sk.rdomain
    {
        let i = if afto { 0 } else { 1 };
        let _ = write!(o, " ({})", host(&sk.addr[i], sk.port[i], sk.rdomain));
    }
    o.push_str(if out_dir || afto { " -> " } else { " <- " });
    o.push_str(&host(&nk.addr[0], nk.port[0], nk.rdomain));
    if nk.af != sk.af
        || nk.addr[0] != sk.addr[0]
        || nk.port[0] != sk.port[0]
        || nk.rdomain != sk.rdomain
    {
        let i = if afto { 1 } else { 0 };
        let _ = write!(o, " ({})", host(&sk.addr[i], sk.port[i], sk.rdomain));
    }
}

/// The connection's levels (`ESTABLISHED:ESTABLISHED`, `MULTIPLE:SINGLE`)
/// ending the first line; with `verbose`, a TCP state's sequence windows.
fn state_levels(o: &mut String, s: &StateRepr, verbose: u8) {
    let (src, dst) = if s.direction == 2 {
        (&s.src, &s.dst)
    } else {
        (&s.dst, &s.src)
    };
    let icmp = s.proto == IPPROTO_ICMP || s.proto == IPPROTO_ICMPV6;
    o.push_str("    ");
    let (a, b) = (src.state, dst.state);
    if s.proto == IPPROTO_TCP {
        if a <= tcps::TIME_WAIT && b <= tcps::TIME_WAIT {
            let _ = writeln!(
                o,
                "   {}:{}",
                tcps::NAMES[a as usize],
                tcps::NAMES[b as usize]
            );
        } else if a == tcps::PROXY_SRC || b == tcps::PROXY_SRC {
            o.push_str("   PROXY:SRC\n");
        } else if a == tcps::PROXY_DST || b == tcps::PROXY_DST {
            o.push_str("   PROXY:DST\n");
        } else {
            let _ = writeln!(o, "   <BAD STATE LEVELS {a}:{b}>");
        }
        if verbose >= 1 {
            o.push_str("   ");
            o.push_str(&seq(src));
            if src.wscale != 0 && dst.wscale != 0 {
                let _ = write!(o, " wscale {}", src.wscale & 0x0f);
            }
            o.push_str("  ");
            o.push_str(&seq(dst));
            if src.wscale != 0 && dst.wscale != 0 {
                let _ = write!(o, " wscale {}", dst.wscale & 0x0f);
            }
            o.push('\n');
        }
    } else if !icmp && (a as usize) < udps::NAMES.len() && (b as usize) < udps::NAMES.len() {
        // UDP and "other" protocols share the same three names.
        let _ = writeln!(
            o,
            "   {}:{}",
            udps::NAMES[a as usize],
            udps::NAMES[b as usize]
        );
    } else {
        let _ = writeln!(o, "   {a}:{b}");
    }
}

/// `-v`: age, expiry, counters, rule and flags.
fn state_counters(o: &mut String, s: &StateRepr) {
    let _ = write!(
        o,
        "   age {}, expires in {}, {}:{} pkts, {}:{} bytes",
        hms(s.creation),
        hms(s.expire),
        s.packets[0],
        s.packets[1],
        s.bytes[0],
        s.bytes[1]
    );
    if s.anchor != u32::MAX {
        let _ = write!(o, ", anchor {}", s.anchor);
    }
    if s.rule != u32::MAX {
        let _ = write!(o, ", rule {}", s.rule);
    }
    if s.state_flags & 0x0002 != 0 {
        o.push_str(", sloppy");
    }
    if s.state_flags & 0x0004 != 0 {
        o.push_str(", pflow");
    }
    if s.sync_flags & 0x04 != 0 {
        o.push_str(", source-track");
    }
    if s.sync_flags & 0x08 != 0 {
        o.push_str(", sticky-address");
    }
    // Not in OpenBSD's output (its pfsync_state has no tag): pfd shows
    // the tag a state puts on its packets.
    if !s.tag.is_empty() {
        let _ = write!(o, ", tag {}", s.tag);
    }
    o.push('\n');
}

/// `-vv`: the state's id and creator, its route and routing table.
fn state_ids(o: &mut String, s: &StateRepr) {
    let _ = write!(o, "   id: {:016x} creatorid: {:08x}", s.id, s.creatorid);
    // OpenBSD's pfctl stops here; FreeBSD's goes on with the route
    // (`route-to: 192.0.2.1@em1`) and the rtable, which pfd shows too.
    let rt = match s.rt {
        1 => Some("route-to"),
        2 => Some("dup-to"),
        3 => Some("reply-to"),
        _ => None,
    };
    if let Some(kind) = rt {
        let _ = write!(o, " {kind}: {}", host(&s.rt_addr, 0, 0));
        if !s.rt_ifname.is_empty() {
            let _ = write!(o, "@{}", s.rt_ifname);
        }
    }
    let table = match s.direction {
        1 => s.rtableid[1],
        _ => s.rtableid[0],
    };
    if table != u32::MAX {
        let _ = write!(o, " rtable: {table}");
    }
    o.push('\n');
}

/// One line of `pfctl -s labels` for a rule with a label: evaluations,
/// packets, bytes, packets in, bytes in, packets out, bytes out, state
/// creations.
pub fn label_line(label: &str, c: &RuleCounters) -> String {
    format!(
        "{label} {} {} {} {} {} {} {} {}\n",
        c.evaluations,
        c.packets[0] + c.packets[1],
        c.bytes[0] + c.bytes[1],
        c.packets[0],
        c.bytes[0],
        c.packets[1],
        c.bytes[1],
        c.states_tot
    )
}

/// The two bracketed lines `pfctl -vsr` prints under a rule.
pub fn rule_counters(c: &RuleCounters, loader: &Loader) -> String {
    format!(
        "{}  [ Inserted: uid {} pid {} State Creations: {:<6}]\n",
        rule_evaluations(c),
        loader.uid,
        loader.pid,
        c.states_tot
    )
}

/// The first of them, alone under `pfctl -g -vsr`.
pub fn rule_evaluations(c: &RuleCounters) -> String {
    format!(
        "  [ Evaluations: {:<8}  Packets: {:<8}  Bytes: {:<10}  States: {:<6}]\n",
        c.evaluations,
        c.packets[0] + c.packets[1],
        c.bytes[0] + c.bytes[1],
        c.states_cur,
    )
}

fn rate_line(o: &mut String, name: &str, v: u64, runtime: u64) {
    let _ = write!(o, "  {name:<25} {v:>14} ");
    if runtime > 0 {
        let _ = writeln!(o, "{:>14.1}/s", v as f64 / runtime as f64);
    } else {
        let _ = writeln!(o, "{:>14}", "");
    }
}

/// `pfctl -si` (`verbose` for -vsi).
pub fn status(s: &Status, verbose: bool) -> String {
    let mut o = String::new();
    let runtime = s.uptime_secs;
    let running = if s.running { "Enabled" } else { "Disabled" };
    let statline = if runtime > 0 {
        let (day, rem) = (runtime / 86400, runtime % 86400);
        format!(
            "Status: {running} for {day} days {:02}:{:02}:{:02}",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        )
    } else {
        format!("Status: {running}")
    };
    let _ = write!(o, "{statline:<44}");
    let _ = writeln!(o, "{:>15}\n", format!("Debug: {}", s.debug));
    if verbose {
        let _ = writeln!(o, "Hostid:   0x{:08x}", s.hostid);
        let _ = writeln!(o, "Checksum: 0x{}\n", s.checksum);
    }
    if let Some(ifname) = &s.loginterface {
        let _ = writeln!(
            o,
            "Interface Stats for {:<16} {:>5} {:>16}",
            ifname, "IPv4", "IPv6"
        );
        let _ = writeln!(
            o,
            "  {:<25} {:>14} {:>16}",
            "Bytes In", s.if_bytes[0][0], s.if_bytes[1][0]
        );
        let _ = writeln!(
            o,
            "  {:<25} {:>14} {:>16}",
            "Bytes Out", s.if_bytes[0][1], s.if_bytes[1][1]
        );
        o.push_str("  Packets In\n");
        let _ = writeln!(
            o,
            "    {:<23} {:>14} {:>16}",
            "Passed", s.if_packets[0][0][0], s.if_packets[1][0][0]
        );
        let _ = writeln!(
            o,
            "    {:<23} {:>14} {:>16}",
            "Blocked", s.if_packets[0][0][1], s.if_packets[1][0][1]
        );
        o.push_str("  Packets Out\n");
        let _ = writeln!(
            o,
            "    {:<23} {:>14} {:>16}",
            "Passed", s.if_packets[0][1][0], s.if_packets[1][1][0]
        );
        let _ = writeln!(
            o,
            "    {:<23} {:>14} {:>16}\n",
            "Blocked", s.if_packets[0][1][1], s.if_packets[1][1][1]
        );
    }
    let _ = writeln!(o, "{:<27} {:>14} {:>16}", "State Table", "Total", "Rate");
    let _ = writeln!(o, "  {:<25} {:>14} {:>14}", "current entries", s.states, "");
    let _ = writeln!(
        o,
        "  {:<25} {:>14} {:>14}",
        "half-open tcp", s.half_open_tcp, ""
    );
    rate_line(&mut o, "searches", s.searches, runtime);
    rate_line(&mut o, "inserts", s.inserts, runtime);
    rate_line(&mut o, "removals", s.removals, runtime);
    if verbose {
        o.push_str("Source Tracking Table\n");
        let _ = writeln!(
            o,
            "  {:<25} {:>14} {:>14}",
            "current entries", s.src_nodes, ""
        );
        for (i, n) in ["searches", "inserts", "removals"].iter().enumerate() {
            rate_line(&mut o, n, s.src_node_counters[i], runtime);
        }
        o.push_str("Fragments\n");
        let _ = writeln!(
            o,
            "  {:<25} {:>14} {:>14}",
            "current entries", s.fragments, ""
        );
        for (i, n) in ["searches", "inserts", "removals"].iter().enumerate() {
            rate_line(&mut o, n, s.frag_counters[i], runtime);
        }
        if let Some((waiting, limit, open)) = s.queue {
            // pfd's NFQUEUE: Linux's, not in OpenBSD's output.
            o.push_str(
                "Packet Queue
",
            );
            let _ = writeln!(o, "  {:<25} {:>14} {:>14}", "waiting", waiting, "");
            let _ = writeln!(o, "  {:<25} {:>14} {:>14}", "limit", limit, "");
            let policy = if open { "open" } else { "closed" };
            let _ = writeln!(o, "  {:<25} {:>14} {:>14}", "fail-policy", policy, "");
            if let Some(t) = &s.threads {
                let _ = writeln!(o, "  {:<25} {:>14} {:>14}", "queues", t.queues, "");
                rate_line(&mut o, "engine waits", t.engine_waits, runtime);
                rate_line(&mut o, "engine wait ms", t.engine_wait_us / 1000, runtime);
            }
        }
    }
    o.push_str("Counters\n");
    for (i, n) in REASON_NAMES.iter().enumerate() {
        rate_line(&mut o, n, s.counters[i], runtime);
    }
    if verbose {
        o.push_str("Limit Counters\n");
        for (i, n) in LIMIT_COUNTER_NAMES.iter().enumerate() {
            rate_line(&mut o, n, s.limit_counters[i], runtime);
        }
        o.push_str("Adaptive Syncookies Watermarks\n");
        let _ = writeln!(o, "  {:<25} {:>14} states", "start", s.syncookies_start);
        let _ = writeln!(o, "  {:<25} {:>14} states", "end", s.syncookies_end);
        if let Some(f) = &s.fastpath {
            fastpath_status(&mut o, f, runtime);
        }
    }
    o
}

/// pfd's fast path in `pfctl -vsi` (Linux only: no such section in
/// OpenBSD's pfctl).
fn fastpath_status(o: &mut String, f: &FastPathStatus, runtime: u64) {
    o.push_str("Fast Path\n");
    let _ = writeln!(o, "  {:<25} {:>14} {:>14}", "flows", f.flows, "");
    let _ = writeln!(o, "  {:<25} {:>14} {:>14}", "map entries", f.entries, "");
    let by = if f.forwarding { "program" } else { "stack" };
    let _ = writeln!(o, "  {:<25} {:>14} {:>14}", "forwarding by", by, "");
    rate_line(o, "queued to pfd", f.queued, runtime);
    rate_line(o, "passed in kernel", f.passed, runtime);
    rate_line(o, "bytes in kernel", f.bytes, runtime);
    rate_line(o, "forwarded by the program", f.forwarded, runtime);
    rate_line(o, "forwarded by the stack", f.to_stack, runtime);
    rate_line(o, "rewritten at egress", f.egress, runtime);
    rate_line(o, "left to pfd: window", f.window, runtime);
    rate_line(o, "left to pfd: flags", f.flags, runtime);
}

/// One source node as `pfctl -s Sources` prints it (print_src_node), with
/// the `-v` line.
pub fn src_node(n: &SrcNodeInfo, verbose: bool) -> String {
    let mut o = format!("{}", n.addr);
    if let Some(ra) = n.raddr.filter(|a| !a.is_unspecified()) {
        let kw = match n.kind {
            SnType::Nat => "nat-to",
            SnType::Rdr => "rdr-to",
            SnType::Route => "route-to",
            SnType::None => "???",
        };
        let _ = write!(o, " {kw} {ra}");
    }
    let _ = writeln!(
        o,
        " ( states {}, connections {}, rate {}.{}/{}s )",
        n.states,
        n.conn,
        n.rate_count / 1000,
        (n.rate_count % 1000) / 100,
        n.rate_seconds
    );
    if verbose {
        let _ = write!(o, "   age {}", hms(n.age));
        if n.states == 0 {
            let _ = write!(o, ", expires in {}", hms(n.expire));
        }
        let _ = write!(
            o,
            ", {} pkts, {} bytes",
            n.packets[0] + n.packets[1],
            n.bytes[0] + n.bytes[1]
        );
        if let Some(r) = n.rule {
            let _ = write!(o, ", rule {r}");
        }
        o.push('\n');
    }
    o
}

/// `pfctl -st`, from timeouts in index order.
pub fn timeouts(values: &[(Timeout, u32)]) -> String {
    let mut o = String::new();
    for t in TIMEOUT_PRINT_ORDER {
        let v = values
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| t.default_value());
        let unit = if matches!(t, Timeout::AdaptiveStart | Timeout::AdaptiveEnd) {
            " states"
        } else {
            "s"
        };
        let _ = writeln!(o, "{:<20} {:>10}{}", t.name(), v, unit);
    }
    o
}

/// `pfctl -sm`.
pub fn limits(values: &[(Limit, u32)]) -> String {
    let mut o = String::new();
    for (l, v) in values {
        let _ = write!(o, "{:<13} ", l.name());
        if *v == u32::MAX {
            o.push_str("unlimited\n");
        } else {
            let _ = writeln!(o, "hard limit {v:>8}");
        }
    }
    o
}

/// A logged packet, in the style of `tcpdump -n -e -i pflog0`:
/// `rule 3/(match) block in on hvn3: 192.0.2.20.53 > 192.0.2.1.4242: udp`.
pub fn log_line(
    rule: Option<u32>,
    pass: bool,
    dir_in: bool,
    ifname: &str,
    packet: &[u8],
) -> String {
    let rule = rule.map(|r| r.to_string()).unwrap_or_else(|| "-1".into());
    let action = if pass { "pass" } else { "block" };
    let dir = if dir_in { "in" } else { "out" };
    let what = match crate::engine::packet::describe(packet) {
        Ok(pd) => {
            let proto = default_proto_name(pd.proto).unwrap_or_else(|| pd.proto.to_string());
            if pd.has_ports() {
                format!("{}.{} > {}.{}: {proto}", pd.src, pd.sport, pd.dst, pd.dport)
            } else {
                format!("{} > {}: {proto}", pd.src, pd.dst)
            }
        }
        Err(_) => format!("{} bytes, not IP", packet.len()),
    };
    format!("rule {rule}/(match) {action} {dir} on {ifname}: {what}")
}

/// What OpenBSD's `tcpdump -e` prints of a pflog header, without the
/// colon: `rule 3/(match) block in on eth0`, `rule 5.ftp.2/(match) pass
/// out on eth1`, `rule def/(short) block in on eth0` (the default rule).
/// The text of the NFLOG prefix pfd sends (`wire::nflog`).
pub fn pflog_prefix<T: AsRef<[u8]>>(h: &crate::wire::pflog::Header<T>, out: &mut String) {
    use crate::wire::pflog;
    out.clear();
    out.push_str("rule ");
    if h.rulenr() == u32::MAX {
        out.push_str("def");
    } else {
        let _ = write!(out, "{}", h.rulenr());
        if !h.ruleset().is_empty() {
            let _ = write!(out, ".{}", String::from_utf8_lossy(h.ruleset()));
            if h.subrulenr() == pflog::NO_SUBRULE {
                out.push_str(".def");
            } else {
                let _ = write!(out, ".{}", h.subrulenr());
            }
        }
    }
    match crate::engine::status::REASON_NAMES.get(usize::from(h.reason())) {
        Some(r) => {
            let _ = write!(out, "/({r}) ");
        }
        None => {
            let _ = write!(out, "/(unkn {}) ", h.reason());
        }
    }
    match h.action() {
        pflog::PF_PASS => out.push_str("pass"),
        pflog::PF_DROP => out.push_str("block"),
        pflog::PF_MATCH => out.push_str("match"),
        a => {
            let _ = write!(out, "unkn({a})");
        }
    }
    let dir = if h.dir() == pflog::PF_OUT {
        "out"
    } else {
        "in"
    };
    let _ = write!(out, " {dir} on {}", String::from_utf8_lossy(h.ifname()));
}

/// Default protocol names for states when the system has none.
pub fn default_proto_name(p: u8) -> Option<String> {
    Some(
        match p {
            1 => "icmp",
            2 => "igmp",
            6 => "tcp",
            17 => "udp",
            41 => "ipv6",
            47 => "gre",
            50 => "esp",
            51 => "ah",
            58 => "ipv6-icmp",
            103 => "pim",
            112 => "carp",
            240 => "pfsync",
            _ => return None,
        }
        .to_string(),
    )
}

/// Address family of a state, for filters.
/// Names of the interface counters, [IPv4, IPv6][in, out][pass, block].
const ISTATS_TEXT: [[[&str; 2]; 2]; 2] = [
    [["In4/Pass:", "In4/Block:"], ["Out4/Pass:", "Out4/Block:"]],
    [["In6/Pass:", "In6/Block:"], ["Out6/Pass:", "Out6/Block:"]],
];

/// `pfctl -s Interfaces` (print_iface): the name, ` (skip)` with -v, the
/// counters with -vv; `ctime` formats the `Cleared:` time (local time,
/// `sys::time::ctime`).
pub fn interfaces(list: &[IfaceInfo], verbose: u8, ctime: impl Fn(i64) -> String) -> String {
    let mut o = String::new();
    for p in list {
        o.push_str(&p.name);
        if verbose >= 1 && p.skip {
            o.push_str(" (skip)");
        }
        o.push('\n');
        if verbose < 2 {
            continue;
        }
        let _ = write!(o, "\tCleared:     {}", ctime(p.cleared));
        let _ = writeln!(
            o,
            "\tReferences:  [ States:  {:<18} Rules: {:<18} ]",
            p.states, p.rules
        );
        for i in 0..8 {
            let (af, dir, act) = ((i >> 2) & 1, (i >> 1) & 1, i & 1);
            let _ = writeln!(
                o,
                "\t{:<12} [ Packets: {:<18} Bytes: {:<18} ]",
                ISTATS_TEXT[af][dir][act], p.packets[af][dir][act], p.bytes[af][dir][act]
            );
        }
    }
    o
}

pub fn state_af(s: &StateRepr) -> Option<Af> {
    Af::from_openbsd_number(s.af)
}

/// `pfctl -s LimiterStates`: a header, then one line per state limiter
/// (the fifth column is `HARDLIM`, the sixth `RATELIM`, as FreeBSD's
/// pfctl has them); `-v` adds each limiter's definition below it.
pub fn state_limiters(list: &[crate::engine::limiter::StateLimiterInfo], verbose: bool) -> String {
    let mut o = format!(
        "{:>4} {:>8} {:>8} {:>10} {:>10} {:>10} NAME\n",
        "ID", "INUSE", "LIMIT", "ADMIT", "HARDLIM", "RATELIM"
    );
    for l in list {
        let c = &l.counters;
        let _ = writeln!(
            o,
            "{:>4} {:>8} {:>8} {:>10} {:>10} {:>10} {}",
            l.def.id, c.inuse, l.def.limit, c.admitted, c.hardlim, c.ratelim, l.def.name
        );
        if verbose {
            let d = crate::ruleset::LimiterDef::State(l.def.clone());
            let _ = writeln!(o, "  {}", crate::conf::limiter_line(&d));
        }
    }
    o
}

/// `pfctl -s LimiterSrcs`: a header, then one line per source limiter (the
/// fifth column is `HARDLIM`); `-v` adds its definition and its source
/// entries, one a line: `ADDR/PREFIX inuse N admit N hardlim N ratelim N`.
pub fn source_limiters(
    list: &[crate::engine::limiter::SourceLimiterInfo],
    verbose: bool,
) -> String {
    let mut o = format!(
        "{:>4} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10} NAME\n",
        "ID", "ENTRIES", "LIMIT", "INUSE", "HARDLIM", "RATELIM", "ADDRLIM"
    );
    for l in list {
        let c = &l.counters;
        let _ = writeln!(
            o,
            "{:>4} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10} {}",
            l.def.id, l.nentries, l.def.limit, c.inuse, c.hardlim, c.ratelim, l.addrlim, l.def.name
        );
        if verbose {
            let d = crate::ruleset::LimiterDef::Source(l.def.clone());
            let _ = writeln!(o, "  {}", crate::conf::limiter_line(&d));
            for e in &l.entries {
                let c = &e.counters;
                let _ = writeln!(
                    o,
                    "  {}/{} inuse {} admit {} hardlim {} ratelim {}",
                    e.source.addr, e.source.prefix, c.inuse, c.admitted, c.hardlim, c.ratelim
                );
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::pfsync::{PeerRepr, ScrubRepr};

    #[test]
    fn pflog_prefix_is_openbsd_tcpdumps() {
        use crate::wire::pflog::{self, Header, Repr};
        let text = |r: Repr| {
            let mut b = [0u8; pflog::HEADER_LEN];
            r.emit(&mut b).unwrap();
            let mut s = String::new();
            pflog_prefix(&Header::new_unchecked(&b[..]), &mut s);
            s
        };
        let r = Repr {
            action: pflog::PF_DROP,
            ifname: pflog::name_field("eth0"),
            rulenr: 3,
            dir: pflog::PF_IN,
            ..Repr::default()
        };
        assert_eq!(text(r), "rule 3/(match) block in on eth0");
        let sub = Repr {
            action: pflog::PF_PASS,
            dir: pflog::PF_OUT,
            ruleset: pflog::name_field("ftp"),
            rulenr: 5,
            subrulenr: 2,
            reason: 3,
            ..r
        };
        assert_eq!(text(sub), "rule 5.ftp.2/(short) pass out on eth0");
        let def = Repr {
            rulenr: u32::MAX,
            action: pflog::PF_MATCH,
            reason: 200,
            ..r
        };
        assert_eq!(text(def), "rule def/(unkn 200) match in on eth0");
        let anchor_def = Repr {
            subrulenr: pflog::NO_SUBRULE,
            action: 9,
            ..sub
        };
        assert_eq!(
            text(anchor_def),
            "rule 5.ftp.def/(short) unkn(9) out on eth0"
        );
    }

    fn key(a: &str, pa: u16, b: &str, pb: u16) -> KeyRepr {
        KeyRepr {
            addr: [a.parse().unwrap(), b.parse().unwrap()],
            port: [pa, pb],
            rdomain: 0,
            af: 2,
        }
    }

    fn st(proto: u8, dir: u8, wire: KeyRepr, stack: KeyRepr, s: u8, d: u8) -> StateRepr {
        let peer = |state| PeerRepr {
            scrub: ScrubRepr::default(),
            seqlo: 0,
            seqhi: 0,
            seqdiff: 0,
            max_win: 0,
            mss: 0,
            state,
            wscale: 0,
        };
        StateRepr {
            id: 0x5f1a2b3c00000001,
            ifname: "all".into(),
            key: [wire, stack],
            src: peer(s),
            dst: peer(d),
            rt_addr: "0.0.0.0".parse().unwrap(),
            rule: u32::MAX,
            anchor: u32::MAX,
            nat_rule: u32::MAX,
            creation: 3723,
            expire: 86398,
            packets: [120, 95],
            bytes: [15360, 82011],
            creatorid: 0x8f1e2d3c,
            rtableid: [u32::MAX; 2],
            max_mss: 0,
            af: 2,
            proto,
            direction: dir,
            log: 0,
            rt: 0,
            timeout: 2,
            sync_flags: 0,
            updates: 0,
            min_ttl: 0,
            set_tos: 0,
            state_flags: 0,
            set_prio: [0; 2],
            rt_ifname: String::new(),
            tag: String::new(),
        }
    }

    fn names(p: u8) -> Option<String> {
        default_proto_name(p)
    }

    #[test]
    fn seed_icmp_states() {
        // The two states of the seed article's ping through NAT.
        let inbound = st(
            1,
            1,
            key("192.168.99.50", 5463, "192.0.2.20", 8),
            key("192.168.99.50", 5463, "192.0.2.20", 8),
            0,
            0,
        );
        assert_eq!(
            state(&inbound, 0, &names),
            "all icmp 192.0.2.20:8 <- 192.168.99.50:5463       0:0\n"
        );
        let outbound = st(
            1,
            2,
            key("192.0.2.20", 8, "192.0.2.1", 63341),
            key("192.0.2.20", 8, "192.168.99.50", 5463),
            0,
            0,
        );
        assert_eq!(
            state(&outbound, 0, &names),
            "all icmp 192.0.2.1:63341 (192.168.99.50:5463) -> 192.0.2.20:8       0:0\n"
        );
    }

    #[test]
    fn seed_pfsync_and_tcp_states() {
        let out = st(
            240,
            2,
            key("224.0.0.240", 0, "169.254.0.1", 0),
            key("224.0.0.240", 0, "169.254.0.1", 0),
            1,
            0,
        );
        assert_eq!(
            state(&out, 0, &names),
            "all pfsync 169.254.0.1 -> 224.0.0.240       SINGLE:NO_TRAFFIC\n"
        );
        let inb = st(
            240,
            1,
            key("169.254.0.0", 0, "224.0.0.240", 0),
            key("169.254.0.0", 0, "224.0.0.240", 0),
            1,
            0,
        );
        assert_eq!(
            state(&inb, 0, &names),
            "all pfsync 224.0.0.240 <- 169.254.0.0       NO_TRAFFIC:SINGLE\n"
        );
        let mut tcp = st(
            6,
            1,
            key("192.168.1.50", 51744, "192.168.1.1", 22),
            key("192.168.1.50", 51744, "192.168.1.1", 22),
            4,
            4,
        );
        tcp.src.seqlo = 987654321;
        tcp.src.seqhi = 987654321 + 64240;
        tcp.src.wscale = 0x87;
        tcp.dst.seqlo = 1234567890;
        tcp.dst.seqhi = 1234567890 + 65535;
        tcp.dst.seqdiff = 12345;
        tcp.dst.wscale = 0x87;
        tcp.rule = 3;
        assert_eq!(
            state(&tcp, 2, &names),
            "all tcp 192.168.1.1:22 <- 192.168.1.50:51744       ESTABLISHED:ESTABLISHED\n   \
             [1234567890 + 65535](+12345) wscale 7  [987654321 + 64240] wscale 7\n   \
             age 01:02:03, expires in 23:59:58, 120:95 pkts, 15360:82011 bytes, rule 3\n   \
             id: 5f1a2b3c00000001 creatorid: 8f1e2d3c\n"
        );
    }

    #[test]
    fn counters_timeouts_limits() {
        let c = RuleCounters {
            evaluations: 1169,
            packets: [11000, 829],
            bytes: [3762000, 548],
            states_cur: 11,
            states_tot: 6645,
        };
        assert_eq!(
            rule_counters(&c, &Loader { uid: 0, pid: 45241 }),
            "  [ Evaluations: 1169      Packets: 11829     Bytes: 3762548     States: 11    ]\n  [ Inserted: uid 0 pid 45241 State Creations: 6645  ]\n"
        );
        let t = timeouts(&[]);
        assert!(
            t.starts_with("tcp.first                   120s\ntcp.opening                  30s\n")
        );
        assert!(t.contains("adaptive.start            60000 states\n"));
        assert!(t.ends_with("src.track                     0s\n"));
        assert_eq!(
            limits(&[(Limit::States, 100000)]),
            "states        hard limit   100000\n"
        );
    }

    #[test]
    fn status_layout() {
        let s = Status {
            running: true,
            uptime_secs: 3 * 86400 + 4 * 3600 + 5 * 60 + 6,
            states: 42,
            debug: "err".into(),
            ..Status::default()
        };
        let out = status(&s, false);
        let mut lines = out.lines();
        assert_eq!(
            lines.next().unwrap(),
            "Status: Enabled for 3 days 04:05:06              Debug: err"
        );
        assert_eq!(lines.next().unwrap(), "");
        assert_eq!(
            lines.next().unwrap(),
            "State Table                          Total             Rate"
        );
        assert_eq!(
            lines.next().unwrap(),
            "  current entries                       42               "
        );
        assert!(out.contains("  match                                  0            0.0/s\n"));
        assert!(!out.contains("Fast Path"));
        let fast = Status {
            fastpath: Some(FastPathStatus {
                flows: 3,
                forwarding: true,
                ..FastPathStatus::default()
            }),
            ..s
        };
        let out = status(&fast, true);
        assert!(
            out.contains("Fast Path\n  flows                                  3               \n")
        );
        assert!(out.contains("  forwarding by                    program               \n"));
        let queued = Status {
            queue: Some((0, 8192, false)),
            threads: Some(crate::engine::status::ThreadStatus {
                queues: 2,
                engine_waits: 50,
                engine_wait_us: 12_345,
            }),
            ..fast
        };
        let out = status(&queued, true);
        assert!(out.contains("  queues                                 2               \n"));
        assert!(out.contains("  engine waits                          50 "));
        assert!(out.contains("  engine wait ms                        12 "));
    }

    #[test]
    fn interfaces_format() {
        let mut p = IfaceInfo {
            name: "em0".into(),
            skip: true,
            cleared: 0,
            states: 2,
            rules: 3,
            packets: Default::default(),
            bytes: Default::default(),
        };
        p.packets[0][0][0] = 10;
        p.bytes[0][0][0] = 840;
        p.packets[1][1][1] = 1;
        p.bytes[1][1][1] = 72;
        let l = std::slice::from_ref(&p);
        let ctime = |t: i64| format!("at {t}\n");
        assert_eq!(interfaces(l, 0, ctime), "em0\n");
        assert_eq!(interfaces(l, 1, ctime), "em0 (skip)\n");
        let vv = interfaces(l, 2, ctime);
        let lines: Vec<&str> = vv.lines().collect();
        assert_eq!(lines.len(), 11);
        assert_eq!(lines[1], "\tCleared:     at 0");
        assert_eq!(
            lines[2],
            "\tReferences:  [ States:  2                  Rules: 3                  ]"
        );
        assert_eq!(
            lines[3],
            "\tIn4/Pass:    [ Packets: 10                 Bytes: 840                ]"
        );
        assert_eq!(
            lines[10],
            "\tOut6/Block:  [ Packets: 1                  Bytes: 72                 ]"
        );
    }
}

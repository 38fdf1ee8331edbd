//! A small firewall for the packet-path targets, shaped like fw1 of the
//! seed article's HA pair (etc-examples/fw1, regress/lib/topo.sh), so the
//! packets fuzz/seed.sh captures there are seeds that mean something:
//! hvn3 outside (192.0.2.10, carp1 192.0.2.1), hvn4 inside (192.168.99.1),
//! hvn2 the sync link (169.254.0.1), IPv6 on both sides as seed.sh adds
//! it; their routes, and a ruleset that reaches most of the engine
//! (block/pass, block return, keep/modulate/synproxy state, NAT, rdr-to
//! with a pool, af-to, scrub and reassembly, source tracking and
//! overload, tables, route-to, tags, pfsync and carp traffic). The engine
//! is built fresh for every input from a ruleset parsed once, so an input
//! replays alike.

use libpf::conf::{self, StaticResolver};
use libpf::engine::anchor::Loader;
use libpf::engine::fib::{Fib, Route, RTN_UNICAST, RT_TABLE_MAIN};
use libpf::engine::iface::LinkInfo;
use libpf::engine::Engine;
use libpf::ruleset::Ruleset;
use std::sync::OnceLock;

/// The interfaces a record can name (two bits of its control byte).
pub const IFACES: [&str; 4] = ["hvn3", "hvn4", "hvn2", "carp1"];

pub const RULES: &str = r#"
ext = "hvn3"
int = "hvn4"
sync = "hvn2"
table <bad> persist { 203.0.113.0/24 2001:db8:bad::/48 }
table <web> { 192.168.99.10 192.168.99.11 }
set skip on lo
set reassemble yes
set limit { states 256, frags 64, src-nodes 64 }
set timeout { tcp.established 600, tcp.first 30, udp.single 20, interval 5, frag 10 }
match in all scrub (no-df random-id max-mss 1400 reassemble tcp)
match out on $ext inet6 scrub (min-ttl 2)
match out on $ext inet from $int:network nat-to carp1
block return log all
block in quick from <bad>
block in quick on $ext from urpf-failed
block return in on ! lo0 proto tcp to port 6000:6010
pass quick on $sync proto pfsync keep state (no-sync)
pass quick on { $ext $int } proto carp
pass in on $int inet proto tcp to port { 22 443 } modulate state
pass in on $ext inet proto tcp to port 8080 synproxy state
pass in on $ext proto tcp to ($ext) port 80 rdr-to <web> round-robin sticky-address
pass in on $ext inet proto udp to ($ext) port 5353 rdr-to 192.168.99.12 port 53
pass out on $ext inet6 from $int:network nat-to ($ext)
pass proto { udp icmp } keep state
pass inet6 proto icmp6 keep state
pass in on $int inet6 from any to 64:ff9b::/96 af-to inet from 192.0.2.1
pass in on $int proto tcp to port 25 keep state (max-src-conn 2, max-src-conn-rate 3/5, overload <bad> flush global)
pass in on $int proto udp to port 53 keep state (source-track rule, max-src-states 3, max-src-nodes 4)
pass in on $int proto tcp to port 7000:7010 flags S/SA keep state (sloppy)
pass in on $int proto tcp to port 8000 route-to 192.0.2.254
pass in on $int inet proto udp to port 9999 tag fuzz
pass out on $ext tagged fuzz
pass in on $int proto tcp from $int:network
pass out all
"#;

pub fn resolver() -> StaticResolver {
    StaticResolver::new()
        .iface("hvn3", &["192.0.2.10/24", "2001:db8:2::10/64"])
        .iface("hvn4", &["192.168.99.1/24", "fd00:99::1/64"])
        .iface("hvn2", &["169.254.0.1/31"])
        .iface("carp1", &["192.0.2.1/24"])
        .iface("carp2", &["192.168.99.254/24"])
        .iface("lo", &["127.0.0.1/8", "::1/128"])
}

fn parsed(text: &str) -> Ruleset {
    match conf::parse(text, "fuzz.conf", &resolver()) {
        Ok(rs) => rs,
        Err(e) => panic!("the fuzz ruleset does not parse: {e:?}"),
    }
}

/// `RULES`, or with `reassemble` (fragments filtered one by one, pf's
/// fragment cache) when `no_reassembly`.
fn ruleset(no_reassembly: bool) -> &'static Ruleset {
    static RS: OnceLock<[Ruleset; 2]> = OnceLock::new();
    let both = RS.get_or_init(|| {
        let no = RULES
            .replace("set reassemble yes", "set reassemble no")
            .replace(
                "pass out all",
                "pass out all\npass in on $int inet fragment",
            );
        [parsed(RULES), parsed(&no)]
    });
    &both[usize::from(no_reassembly)]
}

fn link(index: u32, name: &str, addrs: &[&str], carpdev: Option<&str>) -> LinkInfo {
    LinkInfo {
        index,
        name: name.into(),
        addrs: addrs.iter().filter_map(|a| a.parse().ok()).collect(),
        carpdev: carpdev.map(Into::into),
        own_groups: None,
    }
}

fn route(dst: &str, oif: u32) -> Option<Route> {
    Some(Route {
        table: RT_TABLE_MAIN,
        dst: dst.parse().ok()?,
        tos: 0,
        metric: 0,
        kind: RTN_UNICAST,
        oifs: vec![oif],
    })
}

/// An enabled engine with the ruleset loaded, its interfaces and routes,
/// pfsync on (so state changes queue up), host id `hostid`.
pub fn engine(hostid: u32) -> Engine {
    engine_with(hostid, false)
}

/// The same, with `set reassemble no` when `no_reassembly`.
pub fn engine_with(hostid: u32, no_reassembly: bool) -> Engine {
    let mut e = Engine::new(hostid, 0x5eed ^ u64::from(hostid));
    e.sync_links(
        vec![
            link(1, "lo", &["127.0.0.1/8", "::1/128"], None),
            link(2, "hvn3", &["192.0.2.10/24", "2001:db8:2::10/64"], None),
            link(3, "hvn4", &["192.168.99.1/24", "fd00:99::1/64"], None),
            link(4, "hvn2", &["169.254.0.1/31"], None),
            link(5, "carp1", &["192.0.2.1/24"], Some("hvn3")),
            link(6, "carp2", &["192.168.99.254/24"], Some("hvn4")),
        ],
        0,
    );
    e.set_fib(
        Fib::from_routes(
            [
                route("0.0.0.0/0", 2),
                route("::/0", 2),
                route("192.0.2.0/24", 2),
                route("2001:db8:2::/64", 2),
                route("192.168.99.0/24", 3),
                route("fd00:99::/64", 3),
                route("169.254.0.0/31", 4),
            ]
            .into_iter()
            .flatten(),
        ),
        0,
    );
    if let Err(err) = e.load(
        ruleset(no_reassembly).clone(),
        Loader::default(),
        String::new(),
    ) {
        panic!("the fuzz ruleset does not load: {err:?}");
    }
    e.set_enabled(true, 0);
    e.sync.set_enabled(true);
    e
}

/// A packet of the connection a (possibly forged) state describes, as it
/// is on the wire: from `key[0].addr[0]` to `addr[1]` (`forward`), or
/// back. TCP carries `flags` and the sequence numbers the state holds,
/// ICMP(v6) is an echo request or reply with the state's id. Checksums
/// filled. None for families the key does not make an IP address of.
pub fn probe(st: &libpf::wire::pfsync::StateRepr, forward: bool, flags: u8) -> Option<Vec<u8>> {
    use libpf::wire::{checksum, ipv4, ipv6, tcp, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP};
    use std::net::IpAddr;
    let k = &st.key[0];
    let (i, j) = if forward { (0, 1) } else { (1, 0) };
    let (src, dst) = (k.addr[i], k.addr[j]);
    let (sport, dport) = (k.port[i], k.port[j]);
    let (sp, dp) = if forward {
        (&st.src, &st.dst)
    } else {
        (&st.dst, &st.src)
    };
    let mut l4 = match st.proto {
        IPPROTO_TCP => {
            let mut t = vec![0u8; 20];
            t[0..2].copy_from_slice(&sport.to_be_bytes());
            t[2..4].copy_from_slice(&dport.to_be_bytes());
            t[4..8].copy_from_slice(&sp.seqlo.to_be_bytes());
            t[8..12].copy_from_slice(&dp.seqlo.to_be_bytes());
            t[12] = 5 << 4;
            t[13] = flags;
            t[14..16].copy_from_slice(&sp.max_win.to_be_bytes());
            t
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            let v6 = st.proto == IPPROTO_ICMPV6;
            let t = match (v6, forward) {
                (false, true) => 8,
                (false, false) => 0,
                (true, true) => 128,
                (true, false) => 129,
            };
            let mut e = vec![0u8; 16];
            e[0] = t;
            e[4..6].copy_from_slice(&k.port[0].to_be_bytes());
            e
        }
        _ => {
            let mut u = vec![0u8; 12];
            u[0..2].copy_from_slice(&sport.to_be_bytes());
            u[2..4].copy_from_slice(&dport.to_be_bytes());
            u[4..6].copy_from_slice(&12u16.to_be_bytes());
            u
        }
    };
    let mut out;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out = vec![0u8; ipv4::HEADER_LEN];
            let r = ipv4::Repr {
                src_addr: s,
                dst_addr: d,
                protocol: st.proto,
                payload_len: l4.len(),
                ttl: 64,
                tos: 0,
                ident: 7,
                dont_frag: true,
            };
            r.emit(&mut ipv4::Packet::new_unchecked(&mut out[..]));
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            out = vec![0u8; ipv6::HEADER_LEN];
            let r = ipv6::Repr {
                src_addr: s,
                dst_addr: d,
                next_header: st.proto,
                payload_len: l4.len(),
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
            };
            r.emit(&mut ipv6::Packet::new_unchecked(&mut out[..]));
        }
        _ => return None,
    }
    match st.proto {
        IPPROTO_TCP => tcp::Packet::new_unchecked(&mut l4[..]).fill_checksum(&src, &dst),
        IPPROTO_ICMP => {
            let c = checksum::checksum(&l4);
            l4[2..4].copy_from_slice(&c.to_be_bytes());
        }
        p => {
            let off = if p == IPPROTO_ICMPV6 { 2 } else { 6 };
            let c = checksum::finish(checksum::combine(
                checksum::pseudo_header(&src, &dst, p, l4.len() as u32),
                checksum::sum(&l4),
            ));
            l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
        }
    }
    out.extend_from_slice(&l4);
    Some(out)
}

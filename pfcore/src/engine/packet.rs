//! The packet descriptor (OpenBSD's `pf_pdesc`): what the engine needs to
//! know about one IPv4/IPv6 packet, read once from its bytes. Offsets are
//! kept so that translation can rewrite fields in place afterwards.

use crate::addr::Af;
use crate::wire::{
    icmp, icmpv6, ipv4, ipv6, ipv6ext, tcp, transport, udp, Error as WireError, IPPROTO_ICMP,
    IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a packet could not be described (pf's reason codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdError {
    /// Shorter than its headers say (`short`).
    Short,
    /// Header fields that make no sense (`bad-offset`, `normalize`).
    BadOffset,
    /// Not IPv4 or IPv6.
    NotIp,
    /// Malformed or forbidden IP options / IPv6 extension headers
    /// (`ip-option`: bad option lengths, a type 0 routing header, ...).
    IpOption,
    /// A malformed fragment (`fragment`: two IPv6 fragment headers).
    Fragment,
    /// Something pf refuses outright (`normalize`: IPv6 jumbograms).
    Normalize,
}

/// `Pd::badopts` bits (pf's `PF_OPT_*`): options only a rule with
/// `allow-opts` lets through.
pub const OPT_OTHER: u8 = 0x01;
pub const OPT_JUMBO: u8 = 0x02;
pub const OPT_ROUTER_ALERT: u8 = 0x04;

/// Direction of a packet relative to the interface it is seen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Dir {
    In,
    Out,
}

impl Dir {
    /// The number pfsync and the state export use: 1 in, 2 out.
    pub fn number(self) -> u8 {
        match self {
            Dir::In => 1,
            Dir::Out => 2,
        }
    }
    pub fn from_number(n: u8) -> Option<Dir> {
        match n {
            1 => Some(Dir::In),
            2 => Some(Dir::Out),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    /// Header length in bytes.
    pub hdr_len: usize,
    /// Window scale option on a SYN, with pf's 0x80 "present" flag.
    pub wscale: u8,
    pub mss: u16,
}

impl TcpInfo {
    /// The MSS a SYN announces (pf_get_mss): its MSS option, the default
    /// (tcp_mssdflt) when it has options but no MSS, 0 without options.
    pub fn syn_mss(&self) -> u16 {
        if self.mss != 0 {
            self.mss
        } else if self.hdr_len > tcp::HEADER_LEN {
            tcp::MSS_DEFAULT
        } else {
            0
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpInfo {
    pub icmp_type: u8,
    pub code: u8,
    /// Echo id (0 for types without one).
    pub id: u16,
    /// An error message quoting another packet (unreachable, time exceeded...).
    pub is_error: bool,
    /// Which position of (sport, dport) holds the id: true when the id is
    /// the source "port" (queries), false when it is the destination (replies).
    pub id_is_sport: bool,
    /// The target of an IPv6 neighbour solicitation or advertisement: pf
    /// keys their states by it rather than by the packets' addresses
    /// (pf_state_key_addr_setup), so the unicast advertisement answering
    /// a solicitation sent to the solicited-node multicast group matches
    /// the solicitation's state.
    pub nd_target: Option<Ipv6Addr>,
}

impl IcmpInfo {
    /// The addresses a state key holds for a packet from `src` to `dst`
    /// (pf_state_key_addr_setup): a neighbour solicitation is keyed to its
    /// target, an advertisement from its target (to the unspecified
    /// address when it went to a multicast group); other packets by their
    /// own addresses.
    pub fn key_addrs(&self, src: IpAddr, dst: IpAddr) -> (IpAddr, IpAddr) {
        match (self.nd_target, self.icmp_type) {
            (Some(t), icmpv6::ND_NEIGHBOR_SOLICIT) => (src, IpAddr::V6(t)),
            (Some(t), icmpv6::ND_NEIGHBOR_ADVERT) if dst.is_multicast() => {
                (IpAddr::V6(t), IpAddr::V6(Ipv6Addr::UNSPECIFIED))
            }
            (Some(t), icmpv6::ND_NEIGHBOR_ADVERT) => (IpAddr::V6(t), dst),
            _ => (src, dst),
        }
    }
}

/// One packet, described.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pd {
    pub af: Af,
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Ports, or for ICMP the (id, type) pair in pf's "virtual port" order.
    pub sport: u16,
    pub dport: u16,
    /// Offset of the transport header.
    pub l4_off: usize,
    /// Bytes of IP packet (total length), never more than the buffer.
    pub tot_len: usize,
    /// TCP payload length.
    pub p_len: u32,
    pub tcp: Option<TcpInfo>,
    pub icmp: Option<IcmpInfo>,
    /// A fragment (other than a whole packet): ports are unknown. An IPv6
    /// packet whose fragment header says offset 0 and no more fragments
    /// (an atomic fragment, RFC 6946) is not one.
    pub fragment: bool,
    pub ttl: u8,
    /// Type of service (IPv4) or traffic class (IPv6) without the ECN
    /// bits, what `tos` matches.
    pub tos: u8,
    /// IP options or IPv6 option headers present (`OPT_*` bits): the
    /// packet passes only by a rule (or state) with `allow-opts`.
    pub badopts: u8,
    /// A fragment whose transport header was read anyway: the first
    /// fragment of a datagram, checked with its ports when fragments are
    /// filtered without reassembly (`set reassemble no`).
    pub frag_l4: bool,
}

impl Pd {
    /// Does this packet carry transport ports (TCP/UDP, not a fragment)?
    pub fn has_ports(&self) -> bool {
        (!self.fragment || self.frag_l4) && (self.proto == IPPROTO_TCP || self.proto == IPPROTO_UDP)
    }
}

/// The IPv6 fragment header, and the protocol pf gives later fragments.
pub const V6_FRAGMENT: u8 = ipv6::NEXTHDR_FRAGMENT;
const IPPROTO_IGMP: u8 = 2;
/// The IGMP all-hosts group (RFC 1112).
const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);

/// Describe the IP packet in `buf` (starting with the IP header).
pub fn describe(buf: &[u8]) -> Result<Pd, PdError> {
    let first = *buf.first().ok_or(PdError::Short)?;
    match first >> 4 {
        4 => describe_v4(buf),
        6 => describe_v6(buf),
        _ => Err(PdError::NotIp),
    }
}

/// pf's reason for a header the wire views refuse: a length field that
/// contradicts another is `bad-offset`, bytes missing are `short`.
fn ip_error(e: WireError) -> PdError {
    match e {
        WireError::Malformed(_) => PdError::BadOffset,
        _ => PdError::Short,
    }
}

fn describe_v4(buf: &[u8]) -> Result<Pd, PdError> {
    let ip = ipv4::Packet::new_checked(buf).map_err(ip_error)?;
    let tot = usize::from(ip.total_len());
    let dst = ip.dst_addr();
    let mut badopts = if usize::from(ip.header_len()) > ipv4::HEADER_LEN {
        v4_options(&ip)?
    } else {
        0
    };
    let proto = ip.protocol();
    if proto == IPPROTO_IGMP {
        // IGMP carries router alert options (RFC 2236); a report to
        // all-hosts must have TTL 1 (RFC 1112).
        if ip.ttl() != 1 && dst == ALL_HOSTS {
            return Err(PdError::IpOption);
        }
        badopts &= !OPT_ROUTER_ALERT;
    }
    let mut pd = Pd {
        af: Af::Inet,
        proto,
        src: IpAddr::V4(ip.src_addr()),
        dst: IpAddr::V4(dst),
        sport: 0,
        dport: 0,
        l4_off: usize::from(ip.header_len()),
        tot_len: tot,
        p_len: 0,
        tcp: None,
        icmp: None,
        fragment: ip.is_fragment(),
        ttl: ip.ttl(),
        tos: ip.tos() & !0x03,
        badopts,
        frag_l4: false,
    };
    if pd.fragment {
        // pf matches every fragment, the first one too, on its IP header
        // only; the transport header is read after reassembly.
        return Ok(pd);
    }
    describe_l4(&buf[..tot], &mut pd)?;
    Ok(pd)
}

/// Walk IPv4 options (pf_walk_option): malformed ones are refused; what
/// is there is reported as `OPT_*` bits. Options that are only padding
/// count as "other" too.
fn v4_options(ip: &ipv4::Packet<&[u8]>) -> Result<u8, PdError> {
    let mut bad = 0u8;
    for opt in ip.options_iter() {
        match opt.map_err(|_| PdError::IpOption)?.kind {
            ipv4::OPT_NOP => {}
            ipv4::OPT_ROUTER_ALERT => bad |= OPT_ROUTER_ALERT,
            _ => bad |= OPT_OTHER,
        }
    }
    Ok(if bad == 0 { OPT_OTHER } else { bad })
}

/// How many extension headers pf walks before giving up (pf_hdr_limit).
const V6_HDR_LIMIT: usize = 20;

fn describe_v6(buf: &[u8]) -> Result<Pd, PdError> {
    let ip = ipv6::Packet::new_checked(buf).map_err(|_| PdError::Short)?;
    let plen = usize::from(ip.payload_len());
    let tot = ipv6::HEADER_LEN + plen;
    let mut pd = Pd {
        af: Af::Inet6,
        proto: ip.next_header(),
        src: IpAddr::V6(ip.src_addr()),
        dst: IpAddr::V6(ip.dst_addr()),
        sport: 0,
        dport: 0,
        l4_off: ipv6::HEADER_LEN,
        tot_len: tot,
        p_len: 0,
        tcp: None,
        icmp: None,
        fragment: false,
        ttl: ip.hop_limit(),
        tos: ip.traffic_class() & !0x03,
        badopts: 0,
        frag_l4: false,
    };
    let buf = &buf[..tot];
    if walk_v6(buf, plen, &mut pd)? {
        return Ok(pd);
    }
    if pd.proto == IPPROTO_ICMPV6 {
        // MLD messages carry router alerts; they must come from a
        // link-local address with hop limit 1 (RFC 2710).
        if let Some(&t) = buf.get(pd.l4_off) {
            if matches!(
                t,
                icmpv6::MLD_LISTENER_QUERY
                    ..=icmpv6::MLD_LISTENER_DONE | icmpv6::MLDV2_LISTENER_REPORT
            ) {
                let ll = matches!(pd.src, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80);
                if pd.ttl != 1 || !ll {
                    return Err(PdError::IpOption);
                }
                pd.badopts &= !OPT_ROUTER_ALERT;
            }
        }
    }
    if pd.badopts & OPT_JUMBO != 0 {
        // pf does not support jumbograms.
        return Err(PdError::Normalize);
    }
    if pd.fragment {
        return Ok(pd);
    }
    describe_l4(buf, &mut pd)?;
    Ok(pd)
}

/// Walk the extension headers as pf_walk_header6 does, leaving `pd.proto`
/// and `pd.l4_off` on the upper layer. Ok(true): the packet is a later
/// fragment (or a first one cut inside its headers), described as far as
/// it goes: protocol "fragment" (44), no transport header.
fn walk_v6(buf: &[u8], plen: usize, pd: &mut Pd) -> Result<bool, PdError> {
    let mut walk = ipv6ext::Walk::new(buf, pd.proto, pd.l4_off);
    let (mut frag_seen, mut rthdr_seen) = (false, false);
    for n in 0..V6_HDR_LIMIT {
        // What needs no byte of the header is checked first.
        let proto = walk.proto();
        match proto {
            V6_FRAGMENT if frag_seen => return Err(PdError::Fragment),
            V6_FRAGMENT => frag_seen = true,
            ipv6::NEXTHDR_ROUTING if rthdr_seen => return Err(PdError::IpOption),
            ipv6::NEXTHDR_ROUTING => rthdr_seen = true,
            // RFC 8200 4.1: hop-by-hop only right after the header.
            ipv6::NEXTHDR_HOPOPTS if n > 0 => return Err(PdError::IpOption),
            _ => {}
        }
        let ext = match walk.next() {
            None => return Ok(false),
            Some(Ok(ext)) => ext,
            Some(Err(_)) if pd.fragment => {
                // A short first fragment: its headers go on in the next
                // one. Match it as a fragment.
                pd.proto = V6_FRAGMENT;
                return Ok(true);
            }
            Some(Err(_)) => return Err(PdError::Short),
        };
        if let Some(fh) = ext.frag() {
            if fh.frag_offset() != 0 {
                // A later fragment: nothing more to read here.
                pd.fragment = true;
                return Ok(true);
            }
            // RFC 6946: only non-atomic fragments are reassembled.
            pd.fragment = fh.more_frags();
        }
        match proto {
            ipv6::NEXTHDR_ROUTING => {
                if ext.header.routing_type() == ipv6ext::ROUTING_TYPE0 {
                    // Type 0 routing headers are always dropped.
                    return Err(PdError::IpOption);
                }
                pd.badopts |= OPT_OTHER;
            }
            ipv6::NEXTHDR_DSTOPTS => pd.badopts |= OPT_OTHER,
            ipv6::NEXTHDR_HOPOPTS => {
                let b = v6_options(ext.header.options(), plen)?;
                pd.badopts |= if b == 0 { OPT_OTHER } else { b };
            }
            _ => {}
        }
        pd.proto = walk.proto();
        pd.l4_off = walk.offset();
    }
    Err(PdError::IpOption)
}

/// Options of a hop-by-hop header (pf_walk_option6).
fn v6_options(opts: ipv6ext::Options, plen: usize) -> Result<u8, PdError> {
    let mut bad = 0u8;
    for opt in opts {
        match opt.map_err(|_| PdError::IpOption)?.kind {
            ipv6ext::OPT_PAD1 | ipv6ext::OPT_PADN => {}
            ipv6ext::OPT_JUMBO => {
                // Jumbo payload: only valid with a zero payload length.
                if plen != 0 {
                    return Err(PdError::IpOption);
                }
                bad |= OPT_JUMBO;
            }
            ipv6ext::OPT_ROUTER_ALERT => bad |= OPT_ROUTER_ALERT,
            _ => bad |= OPT_OTHER,
        }
    }
    Ok(bad)
}

/// Where a query or reply message's virtual id comes from
/// (pf_icmp_mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vid {
    /// The message's identifier field (echo, timestamp, information,
    /// address mask).
    Header,
    /// Nothing sane to match on: 0.
    Zero,
    /// The IPv6 address of the message (the target of a neighbour
    /// solicitation or advertisement, the group of an MLD message),
    /// folded to 16 bits.
    Fold,
}

/// ICMP query/reply mapping (pf_icmp_mapping): the virtual type both
/// directions share, whether the message is the query (its id is the
/// source "port", icmp_dir `in`) or the reply (the destination "port"),
/// and where the id comes from. None: an error (it belongs to the state
/// of the packet it quotes) or a type that gets a state of its own and
/// matches in one direction only (type as destination "port", id 0).
fn icmp_mapping(af: Af, t: u8) -> Option<(u8, bool, Vid)> {
    use Vid::*;
    match af {
        Af::Inet => match t {
            icmp::ECHO_REQUEST => Some((icmp::ECHO_REQUEST, true, Header)),
            icmp::ECHO_REPLY => Some((icmp::ECHO_REQUEST, false, Header)),
            icmp::TIMESTAMP => Some((icmp::TIMESTAMP, true, Header)),
            icmp::TIMESTAMP_REPLY => Some((icmp::TIMESTAMP, false, Header)),
            icmp::INFO_REQUEST => Some((icmp::INFO_REQUEST, true, Header)),
            icmp::INFO_REPLY => Some((icmp::INFO_REQUEST, false, Header)),
            icmp::MASK_REQUEST => Some((icmp::MASK_REQUEST, true, Header)),
            icmp::MASK_REPLY => Some((icmp::MASK_REQUEST, false, Header)),
            icmp::IPV6_WHERE_ARE_YOU => Some((icmp::IPV6_WHERE_ARE_YOU, true, Zero)),
            icmp::IPV6_I_AM_HERE => Some((icmp::IPV6_WHERE_ARE_YOU, false, Zero)),
            icmp::MOBILE_REG_REQUEST => Some((icmp::MOBILE_REG_REQUEST, true, Zero)),
            icmp::MOBILE_REG_REPLY => Some((icmp::MOBILE_REG_REQUEST, false, Zero)),
            icmp::ROUTER_SOLICIT => Some((icmp::ROUTER_SOLICIT, true, Zero)),
            icmp::ROUTER_ADVERT => Some((icmp::ROUTER_SOLICIT, false, Zero)),
            _ => None,
        },
        Af::Inet6 => match t {
            icmpv6::ECHO_REQUEST => Some((icmpv6::ECHO_REQUEST, true, Header)),
            icmpv6::ECHO_REPLY => Some((icmpv6::ECHO_REQUEST, false, Header)),
            // A report may come without a query, and answers one from
            // other addresses: both are "queries" keyed by the group.
            icmpv6::MLD_LISTENER_QUERY | icmpv6::MLD_LISTENER_REPORT => {
                Some((icmpv6::MLD_LISTENER_QUERY, true, Fold))
            }
            icmpv6::ICMP6_WRUREQUEST => Some((icmpv6::ICMP6_WRUREQUEST, true, Zero)),
            icmpv6::ICMP6_WRUREPLY => Some((icmpv6::ICMP6_WRUREQUEST, false, Zero)),
            icmpv6::MLD_MTRACE => Some((icmpv6::MLD_MTRACE, true, Zero)),
            icmpv6::MLD_MTRACE_RESP => Some((icmpv6::MLD_MTRACE, false, Zero)),
            icmpv6::ND_NEIGHBOR_SOLICIT => Some((icmpv6::ND_NEIGHBOR_SOLICIT, true, Fold)),
            icmpv6::ND_NEIGHBOR_ADVERT => Some((icmpv6::ND_NEIGHBOR_SOLICIT, false, Fold)),
            _ => None,
        },
    }
}

/// pf's fake id for ND and MLD messages: the address's four 32-bit words
/// XORed, then the two halves of that (in network order: the XOR of the
/// address's eight 16-bit words).
fn fold_addr(a: Ipv6Addr) -> u16 {
    a.segments().iter().fold(0u16, |h, w| h ^ w)
}

/// ICMP's "ports": (id, type) for queries, (type, id) for replies.
fn set_icmp_ports(pd: &mut Pd, vtype: u8, id: u16, id_is_sport: bool) {
    if id_is_sport {
        pd.sport = id;
        pd.dport = vtype as u16;
    } else {
        pd.sport = vtype as u16;
        pd.dport = id;
    }
}

/// Read the transport header at `pd.l4_off` into `pd` (ports, TCP
/// fields, ICMP type and id). Also used on the first fragment of a
/// datagram when fragments are filtered without reassembly.
pub fn describe_l4(buf: &[u8], pd: &mut Pd) -> Result<(), PdError> {
    let l4 = buf.get(pd.l4_off..).ok_or(PdError::Short)?;
    match pd.proto {
        IPPROTO_TCP => describe_tcp(l4, pd),
        IPPROTO_UDP => describe_udp(l4, pd),
        IPPROTO_ICMP if pd.af == Af::Inet => describe_icmp(l4, pd),
        IPPROTO_ICMPV6 if pd.af == Af::Inet6 => describe_icmp6(l4, pd),
        // ICMP over IPv6 or ICMPv6 over IPv4: an "other" protocol.
        _ => Ok(()),
    }
}

fn describe_tcp(l4: &[u8], pd: &mut Pd) -> Result<(), PdError> {
    let p = tcp::Packet::new_checked(l4).map_err(|_| PdError::Short)?;
    let hdr_len = p.header_len() as usize;
    let mut wscale = 0u8;
    let mut mss = 0u16;
    let flags = p.flags();
    if flags & tcp::SYN != 0 {
        for opt in p.options_iter() {
            match opt {
                tcp::TcpOption::WindowScale(s) => wscale = s.min(14) | 0x80,
                tcp::TcpOption::MaxSegmentSize(m) => mss = m,
                _ => {}
            }
        }
    }
    pd.sport = p.src_port();
    pd.dport = p.dst_port();
    pd.p_len = (l4.len() - hdr_len) as u32;
    pd.tcp = Some(TcpInfo {
        flags,
        seq: p.seq_number(),
        ack: p.ack_number(),
        win: p.window_len(),
        hdr_len,
        wscale,
        mss,
    });
    Ok(())
}

fn describe_udp(l4: &[u8], pd: &mut Pd) -> Result<(), PdError> {
    let p = match udp::Packet::new_checked(l4) {
        Ok(p) => p,
        Err(_) if l4.len() < udp::HEADER_LEN => return Err(PdError::Short),
        // A first fragment carries only the start of the datagram.
        Err(WireError::Truncated) if pd.fragment => udp::Packet::new_unchecked(l4),
        Err(_) => return Err(PdError::BadOffset),
    };
    pd.sport = p.src_port();
    pd.dport = p.dst_port();
    Ok(())
}

/// An ICMP message: its type, code and id, the virtual ports of pf's
/// mapping.
fn describe_icmp(l4: &[u8], pd: &mut Pd) -> Result<(), PdError> {
    let p = icmp::Packet::new_checked(l4).map_err(|_| PdError::Short)?;
    let t = p.msg_type();
    let (vtype, id_is_sport, vid) = match icmp_mapping(Af::Inet, t) {
        Some((vt, s, Vid::Header)) => (vt, s, p.echo_ident()),
        Some((vt, s, _)) => (vt, s, 0),
        // Errors and types of their own: the type is the only key part.
        None => (t, true, 0),
    };
    set_icmp_ports(pd, vtype, vid, id_is_sport);
    pd.icmp = Some(IcmpInfo {
        icmp_type: t,
        code: p.msg_code(),
        id: p.echo_ident(),
        is_error: icmp::is_error(t),
        id_is_sport,
        nd_target: None,
    });
    Ok(())
}

/// An ICMPv6 message, as `describe_icmp`; neighbour discovery and MLD
/// messages are keyed by the address they carry.
fn describe_icmp6(l4: &[u8], pd: &mut Pd) -> Result<(), PdError> {
    let p = icmpv6::Packet::new_checked(l4).map_err(|_| PdError::Short)?;
    let t = p.msg_type();
    // pf_setup_pdesc: neighbour discovery only from a neighbour (hop
    // limit 255); ND and MLD messages whole.
    if (icmpv6::ND_ROUTER_SOLICIT..=icmpv6::ND_REDIRECT).contains(&t) && pd.ttl != 255 {
        return Err(PdError::Normalize);
    }
    let nd = matches!(t, icmpv6::ND_NEIGHBOR_SOLICIT | icmpv6::ND_NEIGHBOR_ADVERT);
    let mld = matches!(t, icmpv6::MLD_LISTENER_QUERY | icmpv6::MLD_LISTENER_REPORT);
    // The target or group (24 bytes into the message; the first
    // fragment of one may lack it).
    let addr = if nd { p.nd_target() } else { p.mld_addr() };
    if (nd || mld) && addr.is_none() && !pd.fragment {
        return Err(PdError::Short);
    }
    let mut nd_target = None;
    let (vtype, id_is_sport, vid) = match icmp_mapping(Af::Inet6, t) {
        Some((vt, s, Vid::Header)) => (vt, s, p.echo_ident()),
        Some((vt, s, Vid::Zero)) => (vt, s, 0),
        Some((vt, s, Vid::Fold)) => {
            if nd {
                nd_target = addr;
            }
            (vt, s, addr.map_or(0, fold_addr))
        }
        None => (t, true, 0),
    };
    set_icmp_ports(pd, vtype, vid, id_is_sport);
    pd.icmp = Some(IcmpInfo {
        icmp_type: t,
        code: p.msg_code(),
        id: p.echo_ident(),
        // pf's list: the other types below 128 get states of their own.
        is_error: matches!(
            t,
            icmpv6::DST_UNREACH
                | icmpv6::PACKET_TOO_BIG
                | icmpv6::TIME_EXCEEDED
                | icmpv6::PARAM_PROB
        ),
        id_is_sport,
        nd_target,
    });
    Ok(())
}

/// Describe the packet quoted inside an ICMP error: an IP header (IPv6
/// extension headers walked as for a packet of its own) and at least the
/// first 8 bytes of its transport header (ports, ICMP id). The quoted length
/// field may exceed what was quoted; only what is there counts. A quoted
/// non-first fragment is described with `fragment` set and no ports (pf
/// drops such an error: errors never refer to them). A quoted ICMP message
/// that is not a query or reply is `BadOffset` (no state can match it).
pub fn describe_quoted(buf: &[u8]) -> Result<Pd, PdError> {
    let first = *buf.first().ok_or(PdError::Short)?;
    let (af, hl, proto, src, dst, later_fragment) = match first >> 4 {
        4 => {
            let ip = ipv4::Packet::new_quoted(buf).map_err(ip_error)?;
            (
                Af::Inet,
                usize::from(ip.header_len()),
                ip.protocol(),
                IpAddr::V4(ip.src_addr()),
                IpAddr::V4(ip.dst_addr()),
                ip.frag_offset() != 0,
            )
        }
        6 => {
            let ip = ipv6::Packet::new_quoted(buf).map_err(|_| PdError::Short)?;
            let (proto, off, later) = walk_quoted_v6(buf, ip.next_header())?;
            (
                Af::Inet6,
                off,
                proto,
                IpAddr::V6(ip.src_addr()),
                IpAddr::V6(ip.dst_addr()),
                later,
            )
        }
        _ => return Err(PdError::NotIp),
    };
    let mut pd = Pd {
        af,
        proto,
        src,
        dst,
        sport: 0,
        dport: 0,
        l4_off: hl,
        tot_len: buf.len(),
        p_len: 0,
        tcp: None,
        icmp: None,
        fragment: later_fragment,
        ttl: 0,
        tos: 0,
        badopts: 0,
        frag_l4: false,
    };
    if later_fragment {
        return Ok(pd);
    }
    let l4 = buf.get(hl..).ok_or(PdError::Short)?;
    if !matches!(
        proto,
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_ICMP | IPPROTO_ICMPV6
    ) {
        return Ok(pd);
    }
    let h = transport::Head::new_checked(l4, proto).map_err(|_| PdError::Short)?;
    match proto {
        IPPROTO_TCP | IPPROTO_UDP => {
            pd.sport = h.src_port();
            pd.dport = h.dst_port();
            if proto == IPPROTO_TCP {
                pd.tcp = Some(TcpInfo {
                    flags: 0,
                    seq: h.tcp_seq(),
                    ack: 0,
                    win: 0,
                    hdr_len: 0,
                    wscale: 0,
                    mss: 0,
                });
            }
        }
        _ if (proto == IPPROTO_ICMP) != (af == Af::Inet) => {
            // ICMP quoted in IPv6 or ICMPv6 in IPv4: no ICMP info (pf
            // drops the error, "normalize").
        }
        _ => {
            let t = h.icmp_type();
            let id = h.icmp_ident();
            let Some((vtype, id_is_sport, how)) = icmp_mapping(af, t) else {
                return Err(PdError::BadOffset);
            };
            // Only the quote's first 8 bytes count (an ND target or MLD
            // group past them is not looked at).
            let vid = if how == Vid::Header { id } else { 0 };
            set_icmp_ports(&mut pd, vtype, vid, id_is_sport);
            pd.icmp = Some(IcmpInfo {
                icmp_type: t,
                code: h.icmp_code(),
                id,
                is_error: false,
                id_is_sport,
                nd_target: None,
            });
        }
    }
    Ok(pd)
}

/// How many extension headers of a quoted IPv6 packet are walked.
const QUOTED_HDR_LIMIT: usize = 8;

/// The extension headers of a quoted IPv6 packet (AH is not stepped
/// over): (upper-layer protocol, its offset, a non-first fragment). A
/// header cut short is `Short`; the walk ends at a non-first fragment
/// (as pf_walk_header6 does: nothing after it is the datagram's header).
fn walk_quoted_v6(buf: &[u8], first: u8) -> Result<(u8, usize, bool), PdError> {
    let mut walk = ipv6ext::Walk::new(buf, first, ipv6::HEADER_LEN);
    let mut walked = 0;
    while walk.proto() != ipv6::NEXTHDR_AH {
        let Some(ext) = walk.next() else { break };
        let ext = ext.map_err(|_| PdError::Short)?;
        if ext.frag().is_some_and(|fh| fh.frag_offset() != 0) {
            return Ok((V6_FRAGMENT, ext.off, true));
        }
        walked += 1;
        if walked > QUOTED_HDR_LIMIT {
            return Err(PdError::BadOffset);
        }
    }
    Ok((walk.proto(), walk.offset(), false))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Build an IPv4 packet with the given transport bytes (checksums filled).
    pub fn v4(src: &str, dst: &str, proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 20 + l4.len()];
        let repr = ipv4::Repr {
            src_addr: src.parse().unwrap(),
            dst_addr: dst.parse().unwrap(),
            protocol: proto,
            payload_len: l4.len(),
            ttl: 64,
            tos: 0,
            ident: 1,
            dont_frag: true,
        };
        repr.emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
        b[20..].copy_from_slice(l4);
        fill_l4_checksum(&mut b);
        b
    }

    pub fn fill_l4_checksum(b: &mut [u8]) {
        let pd = describe(b).unwrap();
        let (s, d) = (pd.src, pd.dst);
        let l4 = &mut b[pd.l4_off..pd.tot_len];
        match pd.proto {
            6 => tcp::Packet::new_unchecked(&mut *l4).fill_checksum(&s, &d),
            17 => udp::Packet::new_unchecked(&mut *l4).fill_checksum(&s, &d),
            1 => icmp::Packet::new_unchecked(&mut *l4).fill_checksum(),
            _ => {}
        }
    }

    pub fn tcp_seg(
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        win: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut t = vec![0u8; tcp::HEADER_LEN + payload.len()];
        tcp::Repr {
            src_port: sport,
            dst_port: dport,
            seq_number: seq,
            ack_number: ack,
            flags,
            window_len: win,
        }
        .emit(&mut tcp::Packet::new_unchecked(&mut t[..]));
        t[tcp::HEADER_LEN..].copy_from_slice(payload);
        t
    }

    pub fn udp_dgram(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = vec![0u8; udp::HEADER_LEN + payload.len()];
        udp::Repr {
            src_port: sport,
            dst_port: dport,
            payload_len: payload.len(),
        }
        .emit(&mut udp::Packet::new_unchecked(&mut u[..]));
        u[udp::HEADER_LEN..].copy_from_slice(payload);
        u
    }

    /// An echo-like ICMP message of type `t` (16 bytes, checksum not
    /// filled).
    pub fn echo(t: u8, id: u16, seq: u16) -> Vec<u8> {
        let mut e = vec![0u8; 16];
        let mut p = icmp::Packet::new_unchecked(&mut e[..]);
        p.set_msg_type(t);
        p.set_echo_ident(id);
        p.set_echo_seq_no(seq);
        e
    }

    #[test]
    fn describes_tcp_udp_icmp() {
        let p = v4(
            "10.0.0.1",
            "10.0.0.2",
            6,
            &tcp_seg(1234, 80, 100, 0, tcp::SYN, 65535, b""),
        );
        let pd = describe(&p).unwrap();
        assert_eq!((pd.sport, pd.dport, pd.proto), (1234, 80, 6));
        assert_eq!(pd.tcp.unwrap().seq, 100);
        let p = v4("10.0.0.1", "10.0.0.2", 17, &udp_dgram(53, 5353, b"xx"));
        let pd = describe(&p).unwrap();
        assert_eq!((pd.sport, pd.dport), (53, 5353));
        let p = v4("10.0.0.1", "10.0.0.2", 1, &echo(8, 5463, 1));
        let pd = describe(&p).unwrap();
        assert_eq!((pd.sport, pd.dport), (5463, 8));
        let p = v4("10.0.0.2", "10.0.0.1", 1, &echo(0, 5463, 1));
        let pd = describe(&p).unwrap();
        assert_eq!((pd.sport, pd.dport), (8, 5463));
    }

    #[test]
    fn rejects_truncated() {
        let p = v4("10.0.0.1", "10.0.0.2", 6, &tcp_seg(1, 2, 3, 4, 0, 5, b""));
        for n in 0..p.len() {
            assert!(describe(&p[..n]).is_err(), "len {n}");
        }
    }

    /// An IPv6 packet from 2001:db8::1 (or fe80::1) to 2001:db8::2:
    /// next header `nh`, then `rest` (extension headers and payload).
    fn v6(nh: u8, hop: u8, link_local: bool, rest: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 40];
        let r = ipv6::Repr {
            src_addr: if link_local {
                "fe80::1".parse().unwrap()
            } else {
                "2001:db8::1".parse().unwrap()
            },
            dst_addr: "2001:db8::2".parse().unwrap(),
            next_header: nh,
            payload_len: rest.len(),
            hop_limit: hop,
            traffic_class: 0,
            flow_label: 0,
        };
        r.emit(&mut ipv6::Packet::new_unchecked(&mut b[..]));
        b.extend_from_slice(rest);
        b
    }

    /// An 8-byte extension header (options, destination options or
    /// routing) leading to `next`, its 6 other bytes as given.
    fn ext(next: u8, opts: [u8; 6]) -> Vec<u8> {
        let mut h = vec![next, 0];
        h.extend_from_slice(&opts);
        h
    }

    fn frag(next: u8, off: u16, more: bool) -> Vec<u8> {
        let mut h = [0u8; 8];
        ipv6ext::FragRepr {
            next_header: next,
            frag_offset: off,
            more_frags: more,
            ident: 77,
        }
        .emit(&mut ipv6ext::FragHeader::new_unchecked(&mut h[..]));
        h.to_vec()
    }

    const PADN: [u8; 6] = [1, 4, 0, 0, 0, 0];

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn ipv6_extension_headers() {
        use ipv6::{NEXTHDR_DSTOPTS as DST, NEXTHDR_HOPOPTS as HOP, NEXTHDR_ROUTING as RT};
        let udp = udp_dgram(53, 5353, b"x");
        // Hop-by-hop with a router alert, destination options: both seen.
        let p = v6(
            HOP,
            64,
            false,
            &cat(&[&ext(DST, [5, 2, 0, 0, 1, 0]), &ext(17, PADN), &udp]),
        );
        let pd = describe(&p).unwrap();
        assert_eq!((pd.proto, pd.l4_off, pd.dport), (17, 56, 5353));
        assert_eq!(pd.badopts, OPT_ROUTER_ALERT | OPT_OTHER);
        // Hop-by-hop only first; one routing header; no type 0.
        let p = v6(
            DST,
            64,
            false,
            &cat(&[&ext(HOP, PADN), &ext(17, PADN), &udp]),
        );
        assert_eq!(describe(&p), Err(PdError::IpOption));
        let rt2 = ext(17, [2, 0, 0, 0, 0, 0]);
        let p = v6(
            RT,
            64,
            false,
            &cat(&[&ext(RT, [2, 0, 0, 0, 0, 0]), &rt2, &udp]),
        );
        assert_eq!(describe(&p), Err(PdError::IpOption));
        let p = v6(RT, 64, false, &cat(&[&ext(17, [0, 0, 0, 0, 0, 0]), &udp]));
        assert_eq!(describe(&p), Err(PdError::IpOption));
        assert_eq!(
            describe(&v6(RT, 64, false, &cat(&[&rt2, &udp])))
                .unwrap()
                .badopts,
            OPT_OTHER
        );
        // A malformed option; a jumbo option with a payload length.
        let p = v6(HOP, 64, false, &cat(&[&ext(17, [1, 9, 0, 0, 0, 0]), &udp]));
        assert_eq!(describe(&p), Err(PdError::IpOption));
        let p = v6(
            HOP,
            64,
            false,
            &cat(&[&ext(17, [0xc2, 4, 0, 1, 0, 0]), &udp]),
        );
        assert_eq!(describe(&p), Err(PdError::IpOption));
        // A header running past the packet.
        let mut long = ext(17, PADN);
        long[1] = 1;
        assert_eq!(describe(&v6(DST, 64, false, &long)), Err(PdError::Short));
        // Nineteen headers pass, twenty are too many.
        let chain = |n: usize| {
            let mut r: Vec<u8> = (0..n)
                .flat_map(|i| ext(if i + 1 == n { 17 } else { DST }, PADN))
                .collect();
            r.extend_from_slice(&udp);
            v6(DST, 64, false, &r)
        };
        assert!(describe(&chain(19)).is_ok());
        assert_eq!(describe(&chain(20)), Err(PdError::IpOption));
    }

    #[test]
    fn ipv6_fragments() {
        let udp = udp_dgram(53, 5353, b"0123456789abcdef");
        // An atomic fragment is a whole packet.
        let pd = describe(&v6(44, 64, false, &cat(&[&frag(17, 0, false), &udp]))).unwrap();
        assert!(!pd.fragment && pd.has_ports() && pd.l4_off == 48);
        // The first fragment: its transport header is not read.
        let pd = describe(&v6(44, 64, false, &cat(&[&frag(17, 0, true), &udp]))).unwrap();
        assert!(pd.fragment && pd.proto == 17 && pd.sport == 0);
        // A later one: protocol "fragment", at the fragment header.
        let pd = describe(&v6(44, 64, false, &cat(&[&frag(17, 8, false), &udp]))).unwrap();
        assert_eq!((pd.fragment, pd.proto, pd.l4_off), (true, V6_FRAGMENT, 40));
        // A first fragment cut inside a header after it.
        let mut cut = ext(17, PADN);
        cut[1] = 3;
        let pd = describe(&v6(44, 64, false, &cat(&[&frag(60, 0, true), &cut]))).unwrap();
        assert_eq!((pd.fragment, pd.proto, pd.l4_off), (true, V6_FRAGMENT, 48));
        // Two fragment headers; a fragment header cut short.
        let two = cat(&[&frag(44, 0, true), &frag(17, 0, true), &udp]);
        assert_eq!(describe(&v6(44, 64, false, &two)), Err(PdError::Fragment));
        assert_eq!(
            describe(&v6(44, 64, false, &[17, 0, 0])),
            Err(PdError::Short)
        );
    }

    #[test]
    fn mld_and_neighbour_discovery() {
        let mut mld = vec![0u8; 24];
        mld[0] = icmpv6::MLD_LISTENER_REPORT;
        mld[8] = 0xff;
        mld[9] = 2;
        mld[23] = 7;
        let hop = ext(58, [5, 2, 0, 0, 1, 0]);
        // From a link-local address with hop limit 1: its router alert allowed.
        let pd = describe(&v6(0, 1, true, &cat(&[&hop, &mld]))).unwrap();
        assert_eq!(pd.badopts, 0);
        assert_eq!(pd.sport, 0xff02 ^ 7, "keyed by the group, folded");
        assert_eq!(
            describe(&v6(0, 1, false, &cat(&[&hop, &mld]))),
            Err(PdError::IpOption)
        );
        assert_eq!(
            describe(&v6(0, 2, true, &cat(&[&hop, &mld]))),
            Err(PdError::IpOption)
        );
        // A neighbour solicitation: hop limit 255, keyed by its target.
        let mut ns = mld.clone();
        ns[0] = icmpv6::ND_NEIGHBOR_SOLICIT;
        let pd = describe(&v6(58, 255, false, &ns)).unwrap();
        let t: Ipv6Addr = "ff02::7".parse().unwrap();
        assert_eq!(pd.icmp.unwrap().nd_target, Some(t));
        assert_eq!(describe(&v6(58, 64, false, &ns)), Err(PdError::Normalize));
        assert_eq!(
            describe(&v6(58, 255, false, &ns[..20])),
            Err(PdError::Short)
        );
    }

    #[test]
    fn ipv4_options() {
        let udp = udp_dgram(53, 5353, b"x");
        let with = |opts: &[u8]| {
            let mut p = v4("10.0.0.1", "10.0.0.2", 17, &udp);
            p.splice(20..20, opts.iter().copied());
            let mut ip = ipv4::Packet::new_unchecked(&mut p[..]);
            ip.set_header_len(20 + opts.len() as u8);
            ip.set_total_len((28 + opts.len() + 1) as u16);
            ip.fill_checksum();
            describe(&p)
        };
        assert_eq!(with(&[148, 4, 0, 0]).unwrap().badopts, OPT_ROUTER_ALERT);
        assert_eq!(with(&[1, 1, 1, 0]).unwrap().badopts, OPT_OTHER);
        assert_eq!(with(&[7, 3, 0, 0]).unwrap().badopts, OPT_OTHER);
        assert_eq!(with(&[7, 9, 0, 0]), Err(PdError::IpOption));
        assert_eq!(with(&[7, 1, 0, 0]), Err(PdError::IpOption));
    }

    #[test]
    fn quoted_packets() {
        // An IPv4 UDP header and its first 8 bytes.
        let p = v4(
            "10.0.0.1",
            "10.0.0.2",
            17,
            &udp_dgram(53, 5353, b"xxxxxxxx"),
        );
        let q = describe_quoted(&p[..28]).unwrap();
        assert_eq!((q.sport, q.dport, q.tot_len), (53, 5353, 28));
        assert_eq!(describe_quoted(&p[..27]), Err(PdError::Short));
        // IPv6 behind a destination options header; AH is not walked.
        let udp = udp_dgram(53, 5353, b"x");
        let p = v6(60, 64, false, &cat(&[&ext(17, PADN), &udp]));
        assert_eq!(describe_quoted(&p[..56]).unwrap().dport, 5353);
        let p = v6(51, 64, false, &cat(&[&ext(17, PADN), &udp]));
        let q = describe_quoted(&p).unwrap();
        assert_eq!((q.proto, q.l4_off, q.sport), (51, 40, 0));
        // A quoted non-first fragment: no ports.
        let p = v6(44, 64, false, &cat(&[&frag(17, 16, false), &udp]));
        let q = describe_quoted(&p).unwrap();
        assert!(q.fragment && q.sport == 0);
        // A quoted echo request; a quoted error is nothing a state holds.
        let p = v4("10.0.0.1", "10.0.0.2", 1, &echo(8, 99, 1));
        assert_eq!(describe_quoted(&p[..28]).unwrap().sport, 99);
        let p = v4("10.0.0.1", "10.0.0.2", 1, &echo(3, 99, 1));
        assert_eq!(describe_quoted(&p[..28]), Err(PdError::BadOffset));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = describe(&bytes);
            let _ = describe_quoted(&bytes);
        }
    }
}

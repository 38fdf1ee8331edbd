//! The reassembly queue (pf_norm.c's pf_fillup_fragment and
//! pf_join_fragment): fragments are kept per datagram (af, protocol,
//! addresses, direction, id) sorted by offset; IPv4 overlaps are trimmed
//! the way pf trims them (the data already queued wins), an IPv6 overlap
//! discards the whole datagram (RFC 5722); a complete datagram is joined
//! into one packet. Each fragment keeps its own bytes and a ticket, so that
//! the caller can give the original packet the datagram's verdict later and
//! rewrite it from the (possibly translated) datagram (`refragment`).
//!
//! Limits as pf's: at most 64 fragments per 4096-byte stretch of a
//! datagram (PF_FRAG_ENTRY_LIMIT), datagrams of a node older than
//! `frag timeout × 200` newer ones are stale (PF_FRAG_STALE), fragments
//! past 65535 bytes are refused.

use crate::addr::Af;
use crate::engine::packet::{Dir, Pd};
use crate::engine::status::Reason;
use crate::wire::{ipv4, ipv6, ipv6ext};
use std::collections::HashMap;
use std::net::IpAddr;

/// Fragments per 4096-byte entry point (PF_FRAG_ENTRY_LIMIT).
pub const ENTRY_LIMIT: u8 = 64;
const ENTRY_POINTS: usize = 16;
/// Stale after this many newer datagrams per second of `frag` timeout.
pub const STALE_PER_SEC: u32 = 200;
/// The largest IP packet.
pub const MAXPACKET: usize = 65535;

/// Source, destination, protocol and direction: pf's `pf_frnode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeKey {
    pub af: Af,
    /// The protocol for IPv4; 0 for IPv6, where only the first fragment
    /// says what it carries.
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub dir: Dir,
}

/// One datagram: its node and the IP id (IPv6: the fragment header's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub node: NodeKey,
    pub id: u32,
}

/// Where a fragment's data sits, read from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragHdr {
    pub id: u32,
    /// Offset of the data in the datagram, bytes.
    pub off: u16,
    /// Bytes of data.
    pub len: u16,
    /// More fragments follow.
    pub mff: bool,
    /// Bytes of header before the data (IPv6: up to and including the
    /// fragment header).
    pub hdrlen: usize,
    /// IPv6: offset of the fragment header, and of the last extension
    /// header before it (0: none) with its kind.
    pub fragoff: usize,
    pub extoff: usize,
    pub extproto: u8,
}

/// How many IPv6 extension headers are walked to find the fragment header.
const V6_HDR_LIMIT: usize = 20;

/// Read the fragment fields of a packet `describe` called a fragment.
pub fn parse(buf: &[u8], pd: &Pd) -> Option<FragHdr> {
    let tot = pd.tot_len.min(buf.len());
    match pd.af {
        Af::Inet => {
            let ip = ipv4::Packet::new_checked(buf).ok()?;
            let hl = usize::from(ip.header_len());
            Some(FragHdr {
                id: u32::from(ip.ident()),
                off: ip.frag_offset(),
                len: u16::try_from(tot.checked_sub(hl)?).ok()?,
                mff: ip.more_frags(),
                hdrlen: hl,
                fragoff: 0,
                extoff: 0,
                extproto: 0,
            })
        }
        Af::Inet6 => {
            let ip = ipv6::Packet::new_checked(buf).ok()?;
            let (mut extoff, mut extproto) = (0, 0);
            let walk = ipv6ext::Walk::new(buf, ip.next_header(), ipv6::HEADER_LEN);
            for ext in walk.take(V6_HDR_LIMIT) {
                let ext = ext.ok()?;
                if let Some(fh) = ext.frag() {
                    let hdrlen = ext.off + ipv6ext::FRAG_HEADER_LEN;
                    return Some(FragHdr {
                        id: fh.ident(),
                        off: fh.frag_offset(),
                        len: u16::try_from(tot.checked_sub(hdrlen)?).ok()?,
                        mff: fh.more_frags(),
                        hdrlen,
                        fragoff: ext.off,
                        extoff,
                        extproto,
                    });
                }
                (extoff, extproto) = (ext.off, ext.proto());
            }
            None
        }
    }
}

/// One queued fragment.
#[derive(Debug, Clone)]
pub struct Frent {
    pub ticket: u64,
    /// The fragment as it arrived (after IP header normalisation).
    pub bytes: Vec<u8>,
    pub hdr: FragHdr,
    /// The part of its data still in use after overlap trimming: datagram
    /// offset and length, and where that data starts in `bytes`.
    pub off: u16,
    pub len: u16,
    pub data_at: usize,
    /// `bytes` differ from what came in (trimmed, DF cleared): the
    /// fragment must be rewritten when it is let through.
    pub changed: bool,
}

impl Frent {
    pub fn new(ticket: u64, bytes: Vec<u8>, hdr: FragHdr, changed: bool) -> Frent {
        Frent {
            ticket,
            bytes,
            off: hdr.off,
            len: hdr.len,
            data_at: hdr.hdrlen,
            hdr,
            changed,
        }
    }
    fn end(&self) -> u32 {
        self.off as u32 + self.len as u32
    }
    fn index(&self) -> usize {
        (self.off as usize) / (0x10000 / ENTRY_POINTS)
    }
}

#[derive(Debug)]
struct Datagram {
    frents: Vec<Frent>,
    /// Creation (the `frag` timeout runs from here) and last use (ms).
    created: u64,
    last: u64,
    /// Generation within its node, for staleness.
    gen: u32,
    entries: [u8; ENTRY_POINTS],
}

#[derive(Debug, Default)]
struct Node {
    gen: u32,
    datagrams: u32,
}

/// What happened to an inserted fragment.
#[derive(Debug)]
pub enum Insert {
    /// Queued; the datagram is not complete yet.
    Held,
    /// The datagram is complete: its fragments in offset order (this one
    /// among them), removed from the queue.
    Complete(Vec<Frent>),
    /// Refused (this fragment only; any queued ones that went with it are
    /// in `dropped`).
    Dropped(Reason),
}

/// Fragment counters `pfctl -vsi` shows under `Fragments`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub searches: u64,
    pub inserts: u64,
    pub removals: u64,
}

/// The reassembly queue.
#[derive(Debug, Default)]
pub struct Queue {
    nodes: HashMap<NodeKey, Node>,
    datagrams: HashMap<FragKey, Datagram>,
    /// Fragments queued, and their bytes.
    pub count: usize,
    pub bytes: usize,
    pub counters: Counters,
}

impl Queue {
    fn account_add(&mut self, fe: &Frent) {
        self.count += 1;
        self.bytes += fe.bytes.len();
        self.counters.inserts += 1;
    }

    fn account_remove(&mut self, fe: &Frent) {
        self.count = self.count.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(fe.bytes.len());
        self.counters.removals += 1;
    }

    /// Remove a datagram; its fragments' tickets go to `dropped`.
    fn free(&mut self, key: &FragKey, dropped: &mut Vec<u64>) {
        if let Some(dg) = self.take(key) {
            for fe in &dg.frents {
                self.account_remove(fe);
                dropped.push(fe.ticket);
            }
        }
    }

    /// Take a datagram out of the tables (its fragments stay counted).
    fn take(&mut self, key: &FragKey) -> Option<Datagram> {
        let dg = self.datagrams.remove(key)?;
        if let Some(n) = self.nodes.get_mut(&key.node) {
            n.datagrams = n.datagrams.saturating_sub(1);
            if n.datagrams == 0 {
                self.nodes.remove(&key.node);
            }
        }
        Some(dg)
    }

    /// A new datagram, with its first fragment.
    fn start(&mut self, key: FragKey, fe: Frent, now: u64) {
        let node = self.nodes.entry(key.node).or_default();
        let gen = node.gen;
        node.gen = node.gen.wrapping_add(1);
        node.datagrams += 1;
        let mut entries = [0u8; ENTRY_POINTS];
        entries[fe.index()] = 1;
        self.account_add(&fe);
        self.datagrams.insert(
            key,
            Datagram {
                frents: vec![fe],
                created: now,
                last: now,
                gen,
                entries,
            },
        );
    }

    /// Queue one fragment (pf_fillup_fragment). `stale` is how many newer
    /// datagrams of the same node make an old one stale.
    pub fn insert(
        &mut self,
        key: FragKey,
        mut fe: Frent,
        now: u64,
        stale: u32,
        dropped: &mut Vec<u64>,
    ) -> Insert {
        let v6 = key.node.af == Af::Inet6;
        // No empty fragments; all but the last 8-byte aligned; nothing
        // past the largest packet.
        if fe.len == 0
            || (fe.hdr.mff && !fe.len.is_multiple_of(8))
            || fe.off as usize + fe.len as usize > MAXPACKET
        {
            return Insert::Dropped(Reason::Fragment);
        }
        self.counters.searches += 1;
        let node_gen = self.nodes.get(&key.node).map_or(0, |n| n.gen);
        if self
            .datagrams
            .get(&key)
            .is_some_and(|dg| node_gen.wrapping_sub(dg.gen) >= stale)
        {
            self.free(&key, dropped);
        }
        if !self.datagrams.contains_key(&key) {
            self.start(key, fe, now);
            return Insert::Held;
        }
        let Some(dg) = self.datagrams.get_mut(&key) else {
            return Insert::Dropped(Reason::Fragment);
        };
        dg.last = now;
        let Some(last) = dg.frents.last() else {
            return Insert::Dropped(Reason::Fragment);
        };
        let total = last.end();
        let end = fe.end();
        // Only the last fragment may lack "more fragments"; nothing after
        // the last one; the last one only once.
        let inconsistent = (end < total && !fe.hdr.mff)
            || if !last.hdr.mff {
                end > total || (end == total && fe.hdr.mff)
            } else {
                end == total && !fe.hdr.mff
            };
        if inconsistent {
            if v6 {
                self.free(&key, dropped);
            }
            return Insert::Dropped(Reason::Fragment);
        }
        let pos = dg.frents.partition_point(|f| f.off <= fe.off);
        if pos > 0 {
            let prev_end = dg.frents[pos - 1].end();
            if prev_end > fe.off as u32 {
                if v6 {
                    self.free(&key, dropped);
                    return Insert::Dropped(Reason::Fragment);
                }
                // The head overlaps data already queued: cut it off.
                let precut = prev_end - fe.off as u32;
                if precut >= fe.len as u32 {
                    // Nothing new in it (a duplicate).
                    return Insert::Dropped(Reason::Fragment);
                }
                fe.off += precut as u16;
                fe.len -= precut as u16;
                fe.data_at += precut as usize;
                fe.changed = true;
            }
        }
        // Fragments after it that it overlaps: trim them, or lose them if
        // it covers them completely.
        let mut requeue_failed = false;
        while pos < dg.frents.len() && fe.end() > dg.frents[pos].off as u32 {
            if v6 {
                break;
            }
            let aftercut = fe.end() - dg.frents[pos].off as u32;
            if aftercut < dg.frents[pos].len as u32 {
                let a = &mut dg.frents[pos];
                dg.entries[a.index()] = dg.entries[a.index()].saturating_sub(1);
                a.off += aftercut as u16;
                a.len -= aftercut as u16;
                a.data_at += aftercut as usize;
                a.changed = true;
                let i = a.index();
                if dg.entries[i] >= ENTRY_LIMIT {
                    requeue_failed = true;
                } else {
                    dg.entries[i] += 1;
                }
                break;
            }
            let gone = dg.frents.remove(pos);
            dg.entries[gone.index()] = dg.entries[gone.index()].saturating_sub(1);
            dropped.push(gone.ticket);
            self.count = self.count.saturating_sub(1);
            self.bytes = self.bytes.saturating_sub(gone.bytes.len());
            self.counters.removals += 1;
        }
        let Some(dg) = self.datagrams.get_mut(&key) else {
            return Insert::Dropped(Reason::Fragment);
        };
        let overlap6 = v6 && pos < dg.frents.len() && fe.end() > dg.frents[pos].off as u32;
        if overlap6 || requeue_failed || dg.entries[fe.index()] >= ENTRY_LIMIT {
            // RFC 5722 for IPv6; a queue part too long for IPv4.
            self.free(&key, dropped);
            return Insert::Dropped(Reason::Fragment);
        }
        dg.entries[fe.index()] += 1;
        dg.frents.insert(pos, fe);
        let complete = dg.frents.first().is_some_and(|f| f.off == 0)
            && dg.frents.windows(2).all(|w| w[1].off as u32 == w[0].end())
            && dg.frents.last().is_some_and(|f| !f.hdr.mff);
        self.count += 1;
        self.counters.inserts += 1;
        if let Some(f) = dg.frents.get(pos) {
            self.bytes += f.bytes.len();
        }
        if !complete {
            return Insert::Held;
        }
        let Some(dg) = self.take(&key) else {
            return Insert::Dropped(Reason::Fragment);
        };
        for fe in &dg.frents {
            self.account_remove(fe);
        }
        // account_remove counted removals; a completed datagram's
        // fragments leave the queue as pf_join_fragment's do.
        Insert::Complete(dg.frents)
    }

    /// Drop datagrams older than `timeout_ms` (pf_purge_expired_fragments).
    pub fn purge(&mut self, now: u64, timeout_ms: u64, dropped: &mut Vec<u64>) {
        let old: Vec<FragKey> = self
            .datagrams
            .iter()
            .filter(|(_, d)| d.created.saturating_add(timeout_ms) <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            self.free(&k, dropped);
        }
    }

    /// Make room (pf_flush_fragments): drop the least recently used
    /// datagrams until at most `goal_count` fragments and `goal_bytes`
    /// bytes are queued.
    pub fn flush(&mut self, goal_count: usize, goal_bytes: usize, dropped: &mut Vec<u64>) {
        if self.count <= goal_count && self.bytes <= goal_bytes {
            return;
        }
        let mut by_age: Vec<(u64, FragKey)> =
            self.datagrams.iter().map(|(k, d)| (d.last, *k)).collect();
        by_age.sort_unstable_by_key(|(t, _)| *t);
        for (_, k) in by_age {
            if self.count <= goal_count && self.bytes <= goal_bytes {
                break;
            }
            self.free(&k, dropped);
        }
    }

    /// Datagrams queued.
    pub fn datagrams(&self) -> usize {
        self.datagrams.len()
    }
}

/// Join a complete datagram's fragments into one packet. Err: larger
/// than an IP packet can be.
pub fn join(frents: &[Frent], af: Af) -> Result<Vec<u8>, Reason> {
    let first = frents.first().ok_or(Reason::Fragment)?;
    let total: usize = frents.iter().map(|f| f.len as usize).sum();
    let (hl, mut out) = match af {
        Af::Inet => {
            let hl = first.hdr.hdrlen;
            (hl, first.bytes.get(..hl).ok_or(Reason::Short)?.to_vec())
        }
        Af::Inet6 => {
            // The headers before the fragment header, the fragment
            // header's next-header put where it pointed from.
            let fo = first.hdr.fragoff;
            let mut h = first.bytes.get(..fo).ok_or(Reason::Short)?.to_vec();
            let fh = first.bytes.get(fo..).ok_or(Reason::Short)?;
            let nxt = ipv6ext::FragHeader::new_checked(fh)
                .map_err(|_| Reason::Short)?
                .next_header();
            if first.hdr.extoff != 0 {
                let ext = h.get_mut(first.hdr.extoff..).ok_or(Reason::Short)?;
                ipv6ext::Header::new_checked(ext, first.hdr.extproto)
                    .map_err(|_| Reason::Short)?
                    .set_next_header(nxt);
            } else if h.len() >= ipv6::HEADER_LEN {
                ipv6::Packet::new_unchecked(&mut h[..]).set_next_header(nxt);
            } else {
                return Err(Reason::Short);
            }
            (fo, h)
        }
    };
    if hl + total > MAXPACKET + if af == Af::Inet6 { 40 } else { 0 } {
        return Err(Reason::Short);
    }
    out.reserve(total);
    for f in frents {
        let data = f
            .bytes
            .get(f.data_at..f.data_at + f.len as usize)
            .ok_or(Reason::Short)?;
        out.extend_from_slice(data);
    }
    match af {
        Af::Inet => {
            let mut ip = ipv4::Packet::new_unchecked(&mut out[..]);
            ip.set_total_len((hl + total) as u16);
            // Only "don't fragment" stays (pf_normalize_ip).
            let df = ip.dont_frag();
            ip.clear_flags();
            ip.set_dont_frag(df);
            ip.fill_checksum();
        }
        Af::Inet6 => {
            let plen = (hl - ipv6::HEADER_LEN + total) as u16;
            ipv6::Packet::new_unchecked(&mut out[..]).set_payload_len(plen);
        }
    }
    Ok(out)
}

/// Rebuild one fragment from the datagram as the filter left it: its own
/// headers with the datagram's addresses, TTL, TOS and id, its (trimmed)
/// range of the datagram's data. `whole_hl` is the datagram's header
/// length.
pub fn refragment(fe: &Frent, whole: &[u8], whole_hl: usize, af: Af) -> Option<Vec<u8>> {
    let hl = fe.hdr.hdrlen;
    let data = whole.get(whole_hl + fe.off as usize..whole_hl + fe.end() as usize)?;
    let mut out = Vec::with_capacity(hl + data.len());
    out.extend_from_slice(fe.bytes.get(..hl)?);
    out.extend_from_slice(data);
    match af {
        Af::Inet => {
            let w = ipv4::Packet::new_checked(whole).ok()?;
            let mut ip = ipv4::Packet::new_unchecked(&mut out[..]);
            ip.set_tos(w.tos());
            ip.set_total_len((hl + data.len()) as u16);
            ip.set_ident(w.ident());
            ip.clear_flags();
            ip.set_frag_offset(fe.off);
            ip.set_more_frags(fe.hdr.mff);
            ip.set_dont_frag(w.dont_frag());
            ip.set_ttl(w.ttl());
            ip.set_src_addr(w.src_addr());
            ip.set_dst_addr(w.dst_addr());
            ip.fill_checksum();
        }
        Af::Inet6 => {
            let w = ipv6::Packet::new_checked(whole).ok()?;
            let mut ip = ipv6::Packet::new_unchecked(&mut out[..]);
            ip.set_traffic_class(w.traffic_class());
            ip.set_flow_label(w.flow_label());
            ip.set_payload_len((hl - ipv6::HEADER_LEN + data.len()) as u16);
            ip.set_hop_limit(w.hop_limit());
            ip.set_src_addr(w.src_addr());
            ip.set_dst_addr(w.dst_addr());
            ipv6ext::FragHeader::new_checked(out.get_mut(fe.hdr.fragoff..)?)
                .ok()?
                .set_frag_offset(fe.off, fe.hdr.mff);
        }
    }
    Some(out)
}

//! `synproxy state` (OpenBSD's pf_synproxy): pf completes the client's
//! handshake itself, and only then opens the connection to the server on
//! the client's behalf; a SYN flood never reaches the server.
//!
//!   client            pf                  server
//!   SYN      ->   state PROXY_SRC, SYN dropped
//!            <-   SYN|ACK (pf's ISN, pf's MSS, window 0)
//!   ACK      ->   PROXY_DST, ACK dropped
//!                 SYN (client's address, pf's ISN)  ->
//!                 <-  SYN|ACK, dropped
//!                 ACK                               ->
//!            <-   ACK (the server's window)
//!                 ESTABLISHED: sequence numbers translated both ways
//!                 (the peers' seqdiff), window scaling off.
//!
//! The packets pf sends go out with the verdict (`Verdict::send`); those
//! towards the server go through pf's `out` pass like any packet the host
//! sends, those to the client are marked generated.

use super::mtag::generated_mark;
use super::packet::{Dir, Pd};
use super::srcnode::SnType;
use super::state::{tcps, Slot, SK_STACK, SK_WIRE};
use super::status::Reason;
use super::{Engine, Outgoing, PacketMeta, Toward, Verdict};
use crate::wire::tcp::{ACK, FIN, RST, SYN};
use crate::wire::{ipv4, ipv6, tcp, IPPROTO_TCP};
use std::net::IpAddr;

/// Default TTL / hop limit of the segments pf builds (ip_defttl,
/// IPV6_DEFHLIM).
const DEFAULT_TTL: u8 = 64;
/// IPTOS_LOWDELAY, the TOS pf_build_tcp sets.
const TOS_LOWDELAY: u8 = 0x10;
/// Smallest MSS pf announces (room for the largest options).
const MIN_MSS: u16 = 64;

/// A TCP segment pf sends on its own (pf_build_tcp): no payload, an MSS
/// option when `mss` is not 0, IPv4 with DF and TOS low-delay (the kernel
/// picks the IP id), hop limit 64. None when the families differ.
#[allow(clippy::too_many_arguments)]
pub fn build_tcp(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    win: u16,
    mss: u16,
) -> Option<Vec<u8>> {
    let tlen = tcp::HEADER_LEN + if mss != 0 { 4 } else { 0 };
    let (mut out, off) = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut b = vec![0u8; 20 + tlen];
            ipv4::Repr {
                src_addr: s,
                dst_addr: d,
                protocol: IPPROTO_TCP,
                payload_len: tlen,
                ttl: DEFAULT_TTL,
                tos: TOS_LOWDELAY,
                ident: 0,
                dont_frag: true,
            }
            .emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
            (b, 20)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut b = vec![0u8; 40 + tlen];
            ipv6::Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IPPROTO_TCP,
                payload_len: tlen,
                hop_limit: DEFAULT_TTL,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(&mut ipv6::Packet::new_unchecked(&mut b[..]));
            (b, 40)
        }
        _ => return None,
    };
    let mut seg = tcp::Packet::new_unchecked(&mut out[off..]);
    seg.set_src_port(sport);
    seg.set_dst_port(dport);
    seg.set_seq_number(seq);
    seg.set_ack_number(ack);
    seg.set_header_len(tlen as u8);
    seg.set_flags(flags);
    seg.set_window_len(win);
    if mss != 0 {
        tcp::TcpOption::MaxSegmentSize(mss).emit(seg.options_mut());
    }
    seg.fill_checksum(&src, &dst);
    Some(out)
}

impl Engine {
    /// Queue a segment pf sends itself; `filtered`: it goes through pf's
    /// `out` pass (OpenBSD's pf_send_tcp with tag 0), else it is marked
    /// generated and pf leaves it alone.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::engine) fn send_tcp(
        &mut self,
        toward: Toward,
        filtered: bool,
        (src, sport): (IpAddr, u16),
        (dst, dport): (IpAddr, u16),
        seq: u32,
        ack: u32,
        flags: u8,
        win: u16,
        mss: u16,
    ) {
        if let Some(packet) = build_tcp(src, dst, sport, dport, seq, ack, flags, win, mss) {
            self.outbox.push(Outgoing {
                packet,
                toward,
                mark: if filtered { 0 } else { generated_mark(0) },
            });
        }
    }

    fn synproxy_drop(&mut self, how: Reason) -> Verdict {
        self.count(how);
        Verdict::drop(how)
    }

    /// pf_create_state's last step for `synproxy state`: the client's SYN
    /// made state `slot`; pf answers it (PROXY_SRC) and drops it. A SYN
    /// rebuilt from a syncookie passes: its ACK is already here.
    pub(in crate::engine) fn synproxy_open(&mut self, slot: Slot, pd: &Pd) -> Option<Verdict> {
        let t = pd.tcp?;
        if self.recreating {
            return None;
        }
        let isn = self.secret.next_u32();
        // pf_get_mss and pf_calc_mss without the route MTUs: the client's
        // own offer (0 without options), at least 64.
        let mss = t.syn_mss().max(MIN_MSS);
        let was = self.halfopen_of(slot);
        {
            let st = self.states.get_mut(slot)?;
            st.src.state = tcps::PROXY_SRC;
            st.src.seqhi = isn;
            st.src.mss = mss;
        }
        self.halfopen_update(slot, was);
        self.send_tcp(
            Toward::Sender,
            false,
            (pd.dst, pd.dport),
            (pd.src, pd.sport),
            isn,
            t.seq.wrapping_add(1),
            SYN | ACK,
            0,
            mss,
        );
        Some(self.synproxy_drop(Reason::Synproxy))
    }

    /// pf_synproxy: a packet of a state still in its proxy phase. None:
    /// the state is established (or never was a proxy), track it as usual.
    pub(in crate::engine) fn synproxy(
        &mut self,
        meta: &PacketMeta,
        pd: &Pd,
        slot: Slot,
        now: u64,
    ) -> Option<Verdict> {
        let t = pd.tcp?;
        let st = self.states.get(slot)?;
        if st.src.state != tcps::PROXY_SRC && st.src.state != tcps::PROXY_DST {
            return None;
        }
        let same_dir = meta.dir == st.direction;
        let (src, key) = (st.src, st.key.clone());
        let (a, b) = if st.direction == Dir::In {
            (0, 1)
        } else {
            (1, 0)
        };
        // The client's and the server's end, as the server sees them
        // (stack side) and as the client sees them (wire side).
        let stack_client = (key[SK_STACK].addr[a], key[SK_STACK].port[a]);
        let stack_server = (key[SK_STACK].addr[b], key[SK_STACK].port[b]);
        let wire_client = (key[SK_WIRE].addr[a], key[SK_WIRE].port[a]);
        let wire_server = (key[SK_WIRE].addr[b], key[SK_WIRE].port[b]);

        if src.state == tcps::PROXY_SRC {
            if !same_dir {
                return Some(self.synproxy_drop(Reason::Synproxy));
            }
            if t.flags & SYN != 0 {
                if t.seq != src.seqlo {
                    return Some(self.synproxy_drop(Reason::Synproxy));
                }
                // The client did not get our SYN|ACK: again, same ISN.
                self.send_tcp(
                    Toward::Sender,
                    false,
                    (pd.dst, pd.dport),
                    (pd.src, pd.sport),
                    src.seqhi,
                    t.seq.wrapping_add(1),
                    SYN | ACK,
                    0,
                    src.mss,
                );
                return Some(self.synproxy_drop(Reason::Synproxy));
            }
            if t.flags & (ACK | RST | FIN) != ACK
                || t.ack != src.seqhi.wrapping_add(1)
                || t.seq != src.seqlo.wrapping_add(1)
            {
                return Some(self.synproxy_drop(Reason::Synproxy));
            }
            // The client completed its handshake with pf: its connection
            // counts for its source, within the rule's limits.
            let tracked = self.states.get(slot)?.cold().sn.nodes.get(SnType::None);
            if tracked.is_some() && self.src_connlimit(slot, now) {
                return Some(self.synproxy_drop(Reason::SrcLimit));
            }
            self.states.get_mut(slot)?.src.state = tcps::PROXY_DST;
        }

        // PROXY_DST
        let st = self.states.get(slot)?;
        let (src, dst) = (st.src, st.dst);
        if same_dir {
            if t.flags & (SYN | ACK) != ACK
                || t.ack != src.seqhi.wrapping_add(1)
                || t.seq != src.seqlo.wrapping_add(1)
            {
                return Some(self.synproxy_drop(Reason::Synproxy));
            }
            let isn = if dst.seqhi == 1 {
                self.secret.next_u32()
            } else {
                dst.seqhi
            };
            {
                let st = self.states.get_mut(slot)?;
                st.src.max_win = t.win.max(1);
                st.dst.seqhi = isn;
            }
            // Open the connection to the server, from the client's
            // address, with the rule's translation applied.
            self.send_tcp(
                Toward::Destination,
                true,
                stack_client,
                stack_server,
                isn,
                0,
                SYN,
                0,
                src.mss,
            );
            return Some(self.synproxy_drop(Reason::Synproxy));
        }
        if t.flags & (SYN | ACK) != SYN | ACK || t.ack != dst.seqhi.wrapping_add(1) {
            return Some(self.synproxy_drop(Reason::Synproxy));
        }
        // The server's SYN|ACK: complete its handshake, tell the client
        // the server's window, splice the two.
        let client_win;
        let server_win = t.win.max(1);
        {
            let st = self.states.get_mut(slot)?;
            st.dst.max_win = server_win;
            st.dst.seqlo = t.seq;
            client_win = st.src.max_win;
        }
        self.send_tcp(
            Toward::Sender,
            true,
            (pd.dst, pd.dport),
            (pd.src, pd.sport),
            t.ack,
            t.seq.wrapping_add(1),
            ACK,
            client_win,
            0,
        );
        self.send_tcp(
            Toward::Destination,
            false,
            wire_server,
            wire_client,
            src.seqhi.wrapping_add(1),
            src.seqlo.wrapping_add(1),
            ACK,
            server_win,
            0,
        );
        let was = self.halfopen_of(slot);
        {
            let st = self.states.get_mut(slot)?;
            st.src.seqdiff = st.dst.seqhi.wrapping_sub(st.src.seqlo);
            st.dst.seqdiff = st.src.seqhi.wrapping_sub(st.dst.seqlo);
            st.src.seqhi = st.src.seqlo.wrapping_add(st.dst.max_win as u32);
            st.dst.seqhi = st.dst.seqlo.wrapping_add(st.src.max_win as u32);
            st.src.wscale = 0;
            st.dst.wscale = 0;
            st.src.state = tcps::ESTABLISHED;
            st.dst.state = tcps::ESTABLISHED;
        }
        self.halfopen_update(slot, was);
        Some(self.synproxy_drop(Reason::Synproxy))
    }

    /// pf_remove_state's word to a client whose connection pf had accepted
    /// but could not open to the server: a RST.
    pub(in crate::engine) fn synproxy_abort(&mut self, st: &super::state::State) {
        if st.src.state != tcps::PROXY_DST {
            return;
        }
        let (a, b) = if st.direction == Dir::In {
            (0, 1)
        } else {
            (1, 0)
        };
        let k = st.key[SK_WIRE];
        self.send_tcp(
            Toward::Sender,
            false,
            (k.addr[b], k.port[b]),
            (k.addr[a], k.port[a]),
            st.src.seqhi,
            st.src.seqlo.wrapping_add(1),
            RST | ACK,
            0,
            0,
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::conf::{parse, StaticResolver};
    use crate::engine::anchor::Loader;
    use crate::engine::packet::describe;
    use crate::engine::packet::tests::fill_l4_checksum;
    use crate::engine::status::Reason;
    use crate::wire::tcp::PSH;

    pub fn resolver() -> StaticResolver {
        StaticResolver::new()
            .iface("int0", &["10.1.0.1/24", "2001:db8:1::1/64"])
            .iface("ext0", &["10.2.0.1/24", "2001:db8:2::1/64"])
            .iface("lo", &["127.0.0.1/8"])
    }

    pub fn engine(conf: &str) -> Engine {
        let rs = parse(conf, "pf.conf", &resolver())
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        let mut e = Engine::new(7, 42);
        e.load(rs, Loader::default(), String::new()).unwrap();
        e.set_enabled(true, 0);
        e
    }

    pub fn meta(dir: Dir, ifname: &str) -> PacketMeta<'_> {
        PacketMeta {
            dir,
            ifname,
            uid: None,
            gid: None,
            mtag: Default::default(),
        }
    }

    /// A TCP segment with an optional MSS option and payload.
    #[allow(clippy::too_many_arguments)]
    pub fn seg(
        (src, sport): (&str, u16),
        (dst, dport): (&str, u16),
        seq: u32,
        ack: u32,
        flags: u8,
        win: u16,
        mss: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let (s, d): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
        let mut p = build_tcp(s, d, sport, dport, seq, ack, flags, win, mss).unwrap();
        p.extend_from_slice(payload);
        let n = p.len();
        if s.is_ipv4() {
            let mut ip = ipv4::Packet::new_unchecked(&mut p[..]);
            ip.set_total_len(n as u16);
            ip.fill_checksum();
        } else {
            ipv6::Packet::new_unchecked(&mut p[..]).set_payload_len((n - 40) as u16);
        }
        fill_l4_checksum(&mut p);
        p
    }

    /// (src, sport, dst, dport, seq, ack, flags, win, mss) of a segment.
    pub fn fields(p: &[u8]) -> (IpAddr, u16, IpAddr, u16, u32, u32, u8, u16, u16) {
        let pd = describe(p).unwrap();
        let t = pd.tcp.unwrap();
        let seg = tcp::Packet::new_checked(&p[pd.l4_off..pd.tot_len]).unwrap();
        assert!(seg.verify_checksum(&pd.src, &pd.dst), "TCP checksum");
        if pd.src.is_ipv4() {
            assert!(ipv4::Packet::new_checked(p).unwrap().verify_checksum());
        }
        (
            pd.src, pd.sport, pd.dst, pd.dport, t.seq, t.ack, t.flags, t.win, t.mss,
        )
    }

    pub fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const RULES: &str = "set skip on lo\nblock\npass out\n\
        pass in on int0 proto tcp to port 7000 synproxy state\n";
    const C: (&str, u16) = ("10.1.0.2", 40000);
    const S: (&str, u16) = ("10.2.0.2", 7000);

    fn state_of(e: &Engine) -> super::super::state::State {
        let slot = e
            .states
            .all_slots()
            .find(|&s| e.states.get(s).unwrap().direction == Dir::In)
            .unwrap();
        e.states.get(slot).unwrap().clone()
    }

    /// Steps 1-3 of the handshake: the client's SYN answered by pf (a
    /// retransmission alike), stray packets dropped. Returns pf's ISN.
    fn proxy_client_syn(e: &mut Engine) -> u32 {
        let (int_in, int_out) = (meta(Dir::In, "int0"), meta(Dir::Out, "int0"));
        // 1. The client's SYN: answered by pf, dropped.
        let mut syn = seg(C, S, 1000, 0, SYN, 64240, 1460, b"");
        let v = e.test(&int_in, &mut syn, 1);
        assert!(!v.pass);
        assert_eq!(v.reason, Reason::Synproxy);
        assert_eq!(v.send.len(), 1);
        let o = &v.send[0];
        assert_eq!((o.toward, o.mark), (Toward::Sender, generated_mark(0)));
        let (s, sp, d, dp, isn, ack, fl, win, mss) = fields(&o.packet);
        assert_eq!((s, sp, d, dp), (ip(S.0), S.1, ip(C.0), C.1));
        assert_eq!((ack, fl, win, mss), (1001, SYN | ACK, 0, 1460));
        let st = state_of(e);
        assert_eq!(
            (st.src.state, st.dst.state),
            (tcps::PROXY_SRC, tcps::CLOSED)
        );
        assert_eq!((st.src.seqlo, st.src.seqhi, st.src.mss), (1000, isn, 1460));
        assert_eq!(e.status(1).counters[Reason::Synproxy as usize], 1);
        assert_eq!(e.status(1).half_open_tcp, 0, "a proxied client is answered");

        // 2. A retransmitted SYN gets the same answer; another one nothing.
        let v = e.test(&int_in, &mut seg(C, S, 1000, 0, SYN, 64240, 1460, b""), 2);
        assert_eq!(fields(&v.send[0].packet).4, isn);
        let v = e.test(&int_in, &mut seg(C, S, 999, 0, SYN, 64240, 1460, b""), 2);
        assert!(!v.pass && v.send.is_empty());
        // 3. A wrong ACK, a packet the other way: dropped, state unchanged.
        let v = e.test(
            &int_in,
            &mut seg(C, S, 1001, isn.wrapping_add(2), ACK, 502, 0, b""),
            3,
        );
        assert!(!v.pass && v.send.is_empty());
        let v = e.test(
            &int_out,
            &mut seg(S, C, 77, 1001, SYN | ACK, 100, 0, b""),
            3,
        );
        assert!(!v.pass && v.send.is_empty());
        assert_eq!(state_of(e).src.state, tcps::PROXY_SRC);
        isn
    }

    /// Step 4: the client's ACK makes pf open the connection to the
    /// server. Returns the ISN pf used towards the server.
    fn proxy_client_ack(e: &mut Engine, isn: u32) -> u32 {
        let int_in = meta(Dir::In, "int0");
        let ext_out = meta(Dir::Out, "ext0");
        // 4. The client's ACK: pf opens the connection to the server.
        let v = e.test(
            &int_in,
            &mut seg(C, S, 1001, isn.wrapping_add(1), ACK, 502, 0, b""),
            4,
        );
        assert!(!v.pass);
        assert_eq!(v.send.len(), 1);
        let o = &v.send[0];
        assert_eq!((o.toward, o.mark), (Toward::Destination, 0));
        let (s, sp, d, dp, sisn, ack, fl, win, mss) = fields(&o.packet);
        assert_eq!((s, sp, d, dp), (ip(C.0), C.1, ip(S.0), S.1));
        assert_eq!((ack, fl, win, mss), (0, SYN, 0, 1460));
        assert_eq!(state_of(e).src.state, tcps::PROXY_DST);
        assert_eq!(state_of(e).src.max_win, 502);
        // It leaves through pf's `out` pass and makes the state there.
        let mut to_server = o.packet.clone();
        assert!(e.test(&ext_out, &mut to_server, 4).pass);
        assert_eq!(e.states.len(), 2);
        sisn
    }

    /// Step 5: the server's SYN|ACK completes both halves (the splice).
    fn proxy_server_synack(e: &mut Engine, isn: u32, sisn: u32) {
        let (ext_in, ext_out) = (meta(Dir::In, "ext0"), meta(Dir::Out, "ext0"));
        let int_out = meta(Dir::Out, "int0");
        // 5. The server's SYN|ACK: in through its state, out to the client
        // through the proxy: two ACKs, the splice.
        let mut synack = seg(
            S,
            C,
            5000,
            sisn.wrapping_add(1),
            SYN | ACK,
            65160,
            1400,
            b"",
        );
        assert!(e.test(&ext_in, &mut synack, 5).pass);
        let v = e.test(&int_out, &mut synack, 5);
        assert!(!v.pass);
        assert_eq!(v.reason, Reason::Synproxy);
        assert_eq!(v.send.len(), 2);
        let (a, b) = (&v.send[0], &v.send[1]);
        assert_eq!((a.toward, a.mark), (Toward::Sender, 0));
        assert_eq!(
            fields(&a.packet),
            (
                ip(C.0),
                C.1,
                ip(S.0),
                S.1,
                sisn.wrapping_add(1),
                5001,
                ACK,
                502,
                0
            )
        );
        assert_eq!((b.toward, b.mark), (Toward::Destination, generated_mark(0)));
        assert_eq!(
            fields(&b.packet),
            (
                ip(S.0),
                S.1,
                ip(C.0),
                C.1,
                isn.wrapping_add(1),
                1001,
                ACK,
                65160,
                0
            )
        );
        let st = state_of(e);
        assert_eq!(
            (st.src.state, st.dst.state),
            (tcps::ESTABLISHED, tcps::ESTABLISHED)
        );
        assert_eq!(st.src.seqdiff, sisn.wrapping_sub(1000));
        assert_eq!(st.dst.seqdiff, isn.wrapping_sub(5000));
        assert_eq!((st.src.wscale, st.dst.wscale), (0, 0));
        let mut ack = a.packet.clone();
        assert!(
            e.test(&ext_out, &mut ack, 5).pass,
            "the ACK completes the server side"
        );
    }

    /// Step 6: data both ways, sequence numbers translated at pf.
    fn proxy_data(e: &mut Engine, isn: u32, sisn: u32) {
        let (int_in, int_out) = (meta(Dir::In, "int0"), meta(Dir::Out, "int0"));
        let (ext_in, ext_out) = (meta(Dir::In, "ext0"), meta(Dir::Out, "ext0"));
        // 6. Data both ways, sequence numbers translated at pf.
        let mut data = seg(C, S, 1001, isn.wrapping_add(1), ACK | PSH, 502, 0, b"hello");
        let v = e.test(&int_in, &mut data, 6);
        assert!(v.pass && v.modified);
        let f = fields(&data);
        assert_eq!((f.4, f.5), (sisn.wrapping_add(1), 5001));
        assert!(e.test(&ext_out, &mut data, 6).pass);
        let mut back = seg(
            S,
            C,
            5001,
            sisn.wrapping_add(6),
            ACK | PSH,
            65160,
            0,
            b"world",
        );
        assert!(e.test(&ext_in, &mut back, 7).pass);
        let v = e.test(&int_out, &mut back, 7);
        assert!(v.pass && v.modified);
        let f = fields(&back);
        assert_eq!((f.4, f.5), (isn.wrapping_add(1), 1006));
        for i in 0..20u32 {
            let mut d = seg(
                C,
                S,
                1006 + i * 100,
                isn.wrapping_add(6),
                ACK,
                502,
                0,
                &[b'x'; 100],
            );
            assert!(e.test(&int_in, &mut d, 8).pass, "segment {i}");
            assert_eq!(fields(&d).4, sisn.wrapping_add(6 + i * 100));
        }
    }

    /// The whole handshake of a forwarded connection, sequence numbers
    /// checked at every step, then data both ways across the splice.
    #[test]
    fn forwarded_handshake_and_data() {
        let mut e = engine(RULES);
        let isn = proxy_client_syn(&mut e);
        let sisn = proxy_client_ack(&mut e, isn);
        proxy_server_synack(&mut e, isn, sisn);
        proxy_data(&mut e, isn, sisn);
        assert_eq!(e.halfopen, 0);
    }

    /// A connection to a service on the firewall itself, over IPv6: the
    /// SYN to the local stack, the local stack's SYN|ACK leaving by int0.
    #[test]
    fn local_service_over_ipv6() {
        let mut e = engine(
            "set skip on lo\nblock\npass out\npass in on int0 inet6 proto tcp to port 22 synproxy state\n",
        );
        let c = ("2001:db8:1::2", 50000);
        let fw = ("2001:db8:1::1", 22);
        let (int_in, int_out) = (meta(Dir::In, "int0"), meta(Dir::Out, "int0"));
        let v = e.test(&int_in, &mut seg(c, fw, 7, 0, SYN, 64800, 1440, b""), 1);
        let f = fields(&v.send[0].packet);
        assert_eq!((f.0, f.2, f.6, f.8), (ip(fw.0), ip(c.0), SYN | ACK, 1440));
        let isn = f.4;
        let mut ack = seg(c, fw, 8, isn.wrapping_add(1), ACK, 1000, 0, b"");
        let v = e.test(&int_in, &mut ack, 2);
        let f = fields(&v.send[0].packet);
        assert_eq!(
            (f.0, f.1, f.2, f.3, f.6),
            (ip(c.0), c.1, ip(fw.0), fw.1, SYN)
        );
        let sisn = f.4;
        // The local stack answers; its SYN|ACK is seen leaving by int0.
        let mut synack = seg(
            fw,
            c,
            900,
            sisn.wrapping_add(1),
            SYN | ACK,
            65000,
            1440,
            b"",
        );
        let v = e.test(&int_out, &mut synack, 3);
        assert!(!v.pass);
        assert_eq!(v.send.len(), 2);
        assert_eq!(fields(&v.send[0].packet).2, ip(fw.0));
        assert_eq!(fields(&v.send[1].packet).2, ip(c.0));
        let mut data = seg(c, fw, 8, isn.wrapping_add(1), ACK | PSH, 1000, 0, b"ssh");
        assert!(e.test(&int_in, &mut data, 4).pass);
        assert_eq!(fields(&data).4, sisn.wrapping_add(1));
    }

    /// A proxied connection whose server never answers: its state expires
    /// and the client gets a RST, as pf_remove_state sends.
    #[test]
    fn expired_proxy_state_resets_the_client() {
        let mut e = engine(RULES);
        let int_in = meta(Dir::In, "int0");
        let v = e.test(&int_in, &mut seg(C, S, 1000, 0, SYN, 64240, 1460, b""), 1);
        let isn = fields(&v.send[0].packet).4;
        e.test(
            &int_in,
            &mut seg(C, S, 1001, isn.wrapping_add(1), ACK, 502, 0, b""),
            2,
        );
        assert_eq!(e.purge(1000), 0);
        assert!(e.take_outgoing().is_empty());
        assert_eq!(e.purge(10_000_000), 1);
        let out = e.take_outgoing();
        assert_eq!(out.len(), 1);
        assert_eq!(
            fields(&out[0].packet),
            (ip(S.0), S.1, ip(C.0), C.1, isn, 1001, RST | ACK, 0, 0)
        );
        assert_eq!(out[0].mark, generated_mark(0));
    }

    /// With rdr-to the client talks to the address it asked for, the
    /// server hears from pf's SYN at the translated one.
    #[test]
    fn translation_applies_to_both_halves() {
        let mut e = engine(
            "block\npass out\npass in on int0 proto tcp to 10.1.0.1 port 8080 rdr-to 10.2.0.2 port 7000 synproxy state\n",
        );
        let fw = ("10.1.0.1", 8080);
        let int_in = meta(Dir::In, "int0");
        let v = e.test(&int_in, &mut seg(C, fw, 10, 0, SYN, 1000, 1460, b""), 1);
        let f = fields(&v.send[0].packet);
        assert_eq!((f.0, f.1, f.2, f.3), (ip(fw.0), fw.1, ip(C.0), C.1));
        let isn = f.4;
        let v = e.test(
            &int_in,
            &mut seg(C, fw, 11, isn.wrapping_add(1), ACK, 1000, 0, b""),
            2,
        );
        let f = fields(&v.send[0].packet);
        assert_eq!((f.0, f.1, f.2, f.3, f.6), (ip(C.0), C.1, ip(S.0), S.1, SYN));
        let sisn = f.4;
        assert!(
            e.test(&meta(Dir::Out, "ext0"), &mut v.send[0].packet.clone(), 2)
                .pass
        );
        let mut synack = seg(S, C, 70, sisn.wrapping_add(1), SYN | ACK, 2000, 1460, b"");
        assert!(e.test(&meta(Dir::In, "ext0"), &mut synack, 3).pass);
        let v = e.test(&meta(Dir::Out, "int0"), &mut synack, 3);
        assert_eq!(v.send.len(), 2);
        let (a, b) = (fields(&v.send[0].packet), fields(&v.send[1].packet));
        assert_eq!((a.0, a.1, a.2, a.3), (ip(C.0), C.1, ip(S.0), S.1));
        assert_eq!((b.0, b.1, b.2, b.3), (ip(fw.0), fw.1, ip(C.0), C.1));
        // Data from the client reaches the server at the translated end.
        let mut d = seg(C, fw, 11, isn.wrapping_add(1), ACK | PSH, 1000, 0, b"x");
        assert!(e.test(&int_in, &mut d, 4).pass);
        let f = fields(&d);
        assert_eq!(
            (f.2, f.3, f.4, f.5),
            (ip(S.0), S.1, sisn.wrapping_add(1), 71)
        );
    }

    /// Without an MSS option the client is offered pf's minimum, as
    /// OpenBSD's pf_calc_mss does.
    #[test]
    fn mss_without_options() {
        let mut e = engine(RULES);
        let v = e.test(
            &meta(Dir::In, "int0"),
            &mut seg(C, S, 1, 0, SYN, 100, 0, b""),
            1,
        );
        assert_eq!(fields(&v.send[0].packet).8, MIN_MSS);
    }

    /// Outbound connections and non-SYN packets are not proxied.
    #[test]
    fn outbound_rules_keep_state_only() {
        let mut e = engine("block\npass out proto tcp synproxy state\n");
        let mut syn = seg(
            ("10.2.0.1", 1234),
            ("10.2.0.2", 80),
            1,
            0,
            SYN,
            100,
            1460,
            b"",
        );
        let v = e.test(&meta(Dir::Out, "ext0"), &mut syn, 1);
        assert!(v.pass && v.send.is_empty());
    }
}

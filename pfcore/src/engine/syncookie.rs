//! Syncookies (OpenBSD's pf_syncookies.c): under a SYN flood pf answers
//! every inbound SYN with a SYN|ACK whose sequence number encodes the
//! connection (a MAC keyed by a secret that changes every 15 seconds, the
//! MSS and window-scale classes) and keeps no state; the client's ACK
//! proves the handshake, the SYN is rebuilt from it, runs through the
//! rules, and the state it creates continues as `synproxy state` does
//! (PROXY_DST: pf opens the connection to the server).
//!
//! Cookie layout (the initial sequence number pf sends):
//!   bits 8..31  the MAC's upper 24 bits
//!   bits 0..7   (the MAC's top byte) XOR (the cookie byte:
//!               odd/even key 1 bit, SACK 1 bit, window-scale class 3 bits,
//!               MSS class 3 bits)
//!
//! Modes: `never`, `always`, `adaptive` (on when the half-open TCP states
//! exceed the start watermark, off at a key rotation when half-open states
//! plus unanswered cookies are below the end watermark).

use super::packet::{Dir, Pd};
use super::siphash::siphash24;
use super::state::{tcps, Slot, StateKey};
use super::synproxy::build_tcp;
use super::{Engine, PacketMeta, Toward, Verdict};
use crate::ruleset::SyncookiesMode;
use crate::wire::tcp::{ACK, RST, SYN};
use crate::wire::IPPROTO_TCP;
use std::net::IpAddr;

/// How long a secret lives before the next one takes over (ms).
pub const SECRET_LIFETIME_MS: u64 = 15_000;
/// Default watermarks: percent of OpenBSD's PFSTATE_HIWAT (100000).
pub const HIWAT_PCT: u32 = 25;
pub const LOWAT_PCT: u32 = HIWAT_PCT / 2;
const PFSTATE_HIWAT: u64 = 100_000;
/// The MSS a host assumes without an MSS option (OpenBSD's tcp_mssdflt).
pub const TCP_MSSDFLT: u16 = crate::wire::tcp::MSS_DEFAULT;

/// MSS classes (values in between round down) and window-scale classes
/// (index 0: no window scaling), as OpenBSD chose them from measurements.
const MSSTAB: [u16; 8] = [216, 536, 1200, 1360, 1400, 1440, 1452, 1460];
const WSTAB: [u8; 8] = [0, 0, 1, 2, 4, 6, 7, 8];

/// The cookie byte: mss_idx (bits 5..7), wscale_idx (2..4), sack_ok (1),
/// odd/even secret (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cookie(u8);

impl Cookie {
    fn new(oddeven: usize, sack: bool, wscale_idx: usize, mss_idx: usize) -> Cookie {
        Cookie(
            (oddeven as u8 & 1)
                | (sack as u8) << 1
                | ((wscale_idx as u8) & 7) << 2
                | ((mss_idx as u8) & 7) << 5,
        )
    }
    fn oddeven(self) -> usize {
        (self.0 & 1) as usize
    }
    fn wscale_idx(self) -> usize {
        ((self.0 >> 2) & 7) as usize
    }
    fn mss_idx(self) -> usize {
        ((self.0 >> 5) & 7) as usize
    }
}

/// The addresses and ports a cookie is bound to, as the client's SYN
/// carried them.
#[derive(Debug, Clone, Copy)]
struct Conn {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
}

impl Conn {
    fn of(pd: &Pd) -> Conn {
        Conn {
            src: pd.src,
            dst: pd.dst,
            sport: pd.sport,
            dport: pd.dport,
        }
    }
}

/// The syncookie machinery's state (pf_syncookie_status plus the syncookie
/// fields of pf_status).
#[derive(Debug, Clone)]
pub struct Syncookies {
    pub mode: SyncookiesMode,
    /// Cookies are being sent.
    pub active: bool,
    keys: [(u64, u64); 2],
    oddeven: usize,
    /// Cookies sent with each key and not yet validated.
    pub inflight: [u64; 2],
    /// Half-open states above which adaptive mode switches on, and
    /// (half-open states plus cookies in flight) below which it goes off.
    pub hiwat: u32,
    pub lowat: u32,
    /// When the current secret is replaced (ms); None: no key in use.
    next_rotate: Option<u64>,
}

impl Default for Syncookies {
    fn default() -> Syncookies {
        Syncookies {
            mode: SyncookiesMode::Never,
            active: false,
            keys: [(0, 0); 2],
            oddeven: 0,
            inflight: [0; 2],
            hiwat: (PFSTATE_HIWAT * HIWAT_PCT as u64 / 100) as u32,
            lowat: (PFSTATE_HIWAT * LOWAT_PCT as u64 / 100) as u32,
            next_rotate: None,
        }
    }
}

impl Syncookies {
    /// The MAC over the connection, the client's sequence number and the
    /// cookie byte, under the key the cookie byte names.
    fn mac(&self, c: &Conn, cookie: Cookie, seq: u32) -> u32 {
        let mut b = [0u8; 16 + 16 + 2 + 2 + 4 + 1];
        let mut n = 0;
        for a in [c.src, c.dst] {
            match a {
                IpAddr::V4(a) => {
                    b[n..n + 4].copy_from_slice(&a.octets());
                    n += 4;
                }
                IpAddr::V6(a) => {
                    b[n..n + 16].copy_from_slice(&a.octets());
                    n += 16;
                }
            }
        }
        b[n..n + 2].copy_from_slice(&c.sport.to_be_bytes());
        b[n + 2..n + 4].copy_from_slice(&c.dport.to_be_bytes());
        b[n + 4..n + 8].copy_from_slice(&seq.to_be_bytes());
        b[n + 8] = cookie.0;
        n += 9;
        let (k0, k1) = self.keys[cookie.oddeven()];
        let h = siphash24(k0, k1, &b[..n]);
        (h as u32) ^ ((h >> 32) as u32)
    }

    /// pf_syncookie_generate: the ISN for a SYN|ACK answering `c`'s SYN
    /// with sequence number `seq`, announcing `mss` and window scale
    /// `wscale` (None: the SYN had no window-scale option).
    fn generate(&self, c: &Conn, seq: u32, mss: u16, wscale: Option<u8>) -> u32 {
        let mss_idx = (0..MSSTAB.len())
            .rev()
            .find(|&i| MSSTAB[i] <= mss)
            .unwrap_or(0);
        let ws_idx = match wscale {
            None => 0,
            Some(w) => (1..WSTAB.len()).rev().find(|&i| WSTAB[i] <= w).unwrap_or(1),
        };
        let cookie = Cookie::new(self.oddeven, false, ws_idx, mss_idx);
        let hash = self.mac(c, cookie, seq);
        // The flags ride in the low byte, mixed with the MAC's top byte so
        // they do not show on the wire as they are.
        (hash & !0xff) | (cookie.0 ^ (hash >> 24) as u8) as u32
    }

    /// The cookie byte an ACK's acknowledgement number carries.
    fn cookie_of(ack: u32) -> Cookie {
        let iss = ack.wrapping_sub(1);
        Cookie((iss & 0xff) as u8 ^ (iss >> 24) as u8)
    }

    /// pf_syncookie_validate: does this ACK (sequence `seq`, acknowledgement
    /// `ack`) answer a cookie pf sent? Counts it off the cookies in flight.
    fn validate(&mut self, c: &Conn, seq: u32, ack: u32) -> bool {
        let cookie = Self::cookie_of(ack);
        if self.inflight[cookie.oddeven()] == 0 {
            return false;
        }
        let hash = self.mac(c, cookie, seq.wrapping_sub(1));
        if ack.wrapping_sub(1) & !0xff != hash & !0xff {
            return false;
        }
        self.inflight[cookie.oddeven()] -= 1;
        true
    }

    /// (MSS, window scale) the cookie in `ack` encodes.
    fn decode(ack: u32) -> (u16, u8) {
        let c = Self::cookie_of(ack);
        (MSSTAB[c.mss_idx()], WSTAB[c.wscale_idx()])
    }
}

impl Engine {
    /// Apply `set syncookies` and its watermarks at ruleset load
    /// (pf_syncookies_setmode, pf_syncookies_setwats).
    pub(in crate::engine) fn syncookies_configure(
        &mut self,
        mode: SyncookiesMode,
        watermarks_pct: Option<(u32, u32)>,
        state_limit: u32,
        now: u64,
    ) {
        let sc = &mut self.syncookies;
        match watermarks_pct {
            Some((start, end)) => {
                sc.hiwat = (state_limit as u64 * start as u64 / 100) as u32;
                sc.lowat = (state_limit as u64 * end as u64 / 100) as u32;
            }
            None => {
                let d = Syncookies::default();
                sc.hiwat = d.hiwat;
                sc.lowat = d.lowat;
            }
        }
        if sc.mode == mode {
            return;
        }
        sc.mode = mode;
        if mode == SyncookiesMode::Always {
            self.syncookie_newkey(now);
            self.syncookies.active = true;
        }
    }

    /// A fresh secret for the other key slot; cookies of the previous one
    /// stay valid until the next rotation.
    fn syncookie_newkey(&mut self, now: u64) {
        let k = (self.secret.next_u64(), self.secret.next_u64());
        let sc = &mut self.syncookies;
        sc.oddeven = (sc.oddeven + 1) & 1;
        sc.inflight[sc.oddeven] = 0;
        sc.keys[sc.oddeven] = k;
        sc.next_rotate = Some(now + SECRET_LIFETIME_MS);
    }

    /// pf_syncookie_rotate, when its time has come: switch adaptive
    /// cookies off once the flood is over, drop the keys when nothing is
    /// in flight, else start a new secret.
    pub fn syncookie_tick(&mut self, now: u64) {
        let Some(t) = self.syncookies.next_rotate else {
            return;
        };
        if now < t {
            return;
        }
        let halfopen = self.halfopen;
        let sc = &mut self.syncookies;
        if sc.active
            && ((sc.mode == SyncookiesMode::Adaptive
                && halfopen + sc.inflight[0] + sc.inflight[1] < sc.lowat as u64)
                || sc.mode == SyncookiesMode::Never)
        {
            sc.active = false;
            self.notices.push(super::Notice::SyncookiesDisabled);
        }
        if !sc.active && sc.inflight == [0, 0] {
            sc.keys = [(0, 0); 2];
            sc.next_rotate = None;
            return;
        }
        self.syncookie_newkey(now);
    }

    /// pf_synflood_check: answer this SYN with a cookie? In adaptive mode
    /// this is where a flood is detected.
    fn synflood_check(&mut self, now: u64) -> bool {
        if self.recreating {
            return false;
        }
        self.syncookie_tick(now);
        match self.syncookies.mode {
            SyncookiesMode::Never => false,
            SyncookiesMode::Always => true,
            SyncookiesMode::Adaptive => {
                if !self.syncookies.active && self.halfopen > self.syncookies.hiwat as u64 {
                    self.syncookie_newkey(now);
                    self.syncookies.active = true;
                    self.notices.push(super::Notice::SynfloodDetected);
                    self.status.limit_counters[LCNT_SYNFLOODS] += 1;
                }
                self.syncookies.active
            }
        }
    }

    /// An inbound SYN under syncookies: answered with a cookie SYN|ACK and
    /// dropped, no state (pf_syncookie_send). None: the rules decide.
    pub(in crate::engine) fn syncookie_syn(
        &mut self,
        meta: &PacketMeta,
        pd: &Pd,
        now: u64,
    ) -> Option<Verdict> {
        let t = pd.tcp?;
        if meta.dir != Dir::In || pd.proto != IPPROTO_TCP || t.flags & (SYN | ACK) != SYN {
            return None;
        }
        if !self.synflood_check(now) {
            return None;
        }
        let mss = t.syn_mss().max(TCP_MSSDFLT);
        let wscale = (t.wscale & 0x80 != 0).then_some(t.wscale & 0x0f);
        let iss = self.syncookies.generate(&Conn::of(pd), t.seq, mss, wscale);
        self.send_tcp(
            Toward::Sender,
            false,
            (pd.dst, pd.dport),
            (pd.src, pd.sport),
            iss,
            t.seq.wrapping_add(1),
            SYN | ACK,
            0,
            mss,
        );
        let sc = &mut self.syncookies;
        sc.inflight[sc.oddeven] += 1;
        self.status.limit_counters[LCNT_SYNCOOKIES_SENT] += 1;
        Some(Verdict::drop(super::status::Reason::Match))
    }

    /// An inbound ACK without a live state: if it answers one of our
    /// cookies, rebuild the client's SYN, run it through the rules, and
    /// turn the state it creates into a synproxy state waiting for the
    /// server (PROXY_DST). Returns the state the ACK now belongs to, or a
    /// verdict that ends the packet.
    pub(in crate::engine) fn syncookie_ack(
        &mut self,
        meta: &PacketMeta,
        pd: &Pd,
        key: &StateKey,
        slot: Option<Slot>,
        now: u64,
    ) -> Result<Option<Slot>, Verdict> {
        let Some(t) = pd.tcp else { return Ok(slot) };
        if meta.dir != Dir::In || t.flags & (SYN | ACK | RST) != ACK || self.recreating {
            return Ok(slot);
        }
        let closed = |e: &Engine, s: Slot| {
            e.states.get(s).is_some_and(|st| {
                st.src.state >= tcps::FIN_WAIT_2 && st.dst.state >= tcps::FIN_WAIT_2
            })
        };
        if slot.is_some_and(|s| !closed(self, s)) {
            return Ok(slot);
        }
        if !self.syncookies.validate(&Conn::of(pd), t.seq, t.ack) {
            return Ok(slot);
        }
        self.status.limit_counters[LCNT_SYNCOOKIES_VALID] += 1;
        let (mss, wscale) = Syncookies::decode(t.ack);
        let seq = t.seq.wrapping_sub(1);
        // pf_syncookie_recreate_syn: the window field carries the scale
        // class, as OpenBSD's does (the state only needs the SYN's shape).
        let Some(mut syn) = build_tcp(
            pd.src,
            pd.dst,
            pd.sport,
            pd.dport,
            seq,
            0,
            SYN,
            wscale as u16,
            mss,
        ) else {
            return Err(Verdict::drop(super::status::Reason::Match));
        };
        self.recreating = true;
        let v = self.test_packet(meta, &mut syn, now);
        self.recreating = false;
        if !v.pass {
            // Blocked: the ACK goes on to the rules (and state lookup found
            // nothing), as in pf_test.
            return Ok(slot);
        }
        let Some(s) = self.states.lookup(key, meta.dir, meta.ifname) else {
            return Err(Verdict::drop(super::status::Reason::Match));
        };
        let was = self.halfopen_of(s);
        if let Some(st) = self.states.get_mut(s) {
            let cookie = t.ack.wrapping_sub(1);
            st.src.seqhi = cookie;
            st.dst.seqhi = cookie;
            st.src.seqlo = seq;
            st.src.state = tcps::PROXY_DST;
        }
        self.halfopen_update(s, was);
        Ok(Some(s))
    }
}

/// Limit counter slots (`pfctl -vsi`).
pub const LCNT_SYNFLOODS: usize = 7;
pub const LCNT_SYNCOOKIES_SENT: usize = 8;
pub const LCNT_SYNCOOKIES_VALID: usize = 9;

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Conn {
        Conn {
            src: "10.1.0.2".parse().unwrap(),
            dst: "10.2.0.2".parse().unwrap(),
            sport: 40000,
            dport: 7000,
        }
    }

    fn keyed() -> Syncookies {
        Syncookies {
            keys: [(1, 2), (3, 4)],
            ..Syncookies::default()
        }
    }

    #[test]
    fn cookie_round_trip() {
        let mut s = keyed();
        let c = conn();
        for (mss, want) in [
            (1460, 1460),
            (1400, 1400),
            (1300, 1200),
            (512, 216),
            (9000, 1460),
        ] {
            let iss = s.generate(&c, 1000, mss, Some(7));
            s.inflight[s.oddeven] += 1;
            assert!(s.validate(&c, 1001, iss.wrapping_add(1)), "mss {mss}");
            assert_eq!(Syncookies::decode(iss.wrapping_add(1)), (want, 7));
        }
        assert_eq!(s.inflight, [0, 0]);
    }

    #[test]
    fn forged_acks_fail() {
        let mut s = keyed();
        let c = conn();
        let iss = s.generate(&c, 1000, 1460, None);
        s.inflight[0] = 5;
        s.inflight[1] = 5;
        // Another sequence number, another port, another source, a flipped
        // bit of the MAC: all refused.
        assert!(!s.validate(&c, 2001, iss.wrapping_add(1)));
        let mut c2 = c;
        c2.sport = 40001;
        assert!(!s.validate(&c2, 1001, iss.wrapping_add(1)));
        let mut c3 = c;
        c3.src = "10.1.0.3".parse().unwrap();
        assert!(!s.validate(&c3, 1001, iss.wrapping_add(1)));
        assert!(!s.validate(&c, 1001, (iss ^ 0x0100_0000).wrapping_add(1)));
        // A guessed ACK almost never matches: 24 bits of MAC.
        let hits = (0..100_000u32)
            .filter(|g| s.validate(&c, 1001, g.wrapping_mul(2_654_435_761)))
            .count();
        assert!(hits <= 1, "{hits} of 100000 guesses validated");
        assert!(s.validate(&c, 1001, iss.wrapping_add(1)));
    }

    #[test]
    fn nothing_validates_without_cookies_in_flight() {
        let mut s = keyed();
        let c = conn();
        let iss = s.generate(&c, 1000, 1460, None);
        assert!(!s.validate(&c, 1001, iss.wrapping_add(1)));
    }

    #[test]
    fn ipv6_connections_are_bound_too() {
        let mut s = keyed();
        let c = Conn {
            src: "2001:db8:1::2".parse().unwrap(),
            dst: "2001:db8:2::2".parse().unwrap(),
            sport: 1,
            dport: 2,
        };
        let iss = s.generate(&c, 7, 1440, Some(0));
        s.inflight = [1, 1];
        let mut other = c;
        other.dst = "2001:db8:2::3".parse().unwrap();
        assert!(!s.validate(&other, 8, iss.wrapping_add(1)));
        assert!(s.validate(&c, 8, iss.wrapping_add(1)));
        assert_eq!(Syncookies::decode(iss.wrapping_add(1)), (1440, 0));
    }

    use crate::engine::mtag::generated_mark;
    use crate::engine::packet::Dir;
    use crate::engine::status::Reason;
    use crate::engine::synproxy::tests::{engine, fields, ip, meta, seg};
    use crate::engine::Toward;
    use crate::ruleset::SyncookiesMode;
    use crate::wire::tcp::{ACK, SYN};

    const C: (&str, u16) = ("10.1.0.2", 40000);
    const S: (&str, u16) = ("10.2.0.2", 7000);

    fn lcounters(e: &Engine) -> (u64, u64, u64) {
        let l = e.status(0).limit_counters;
        (
            l[LCNT_SYNFLOODS],
            l[LCNT_SYNCOOKIES_SENT],
            l[LCNT_SYNCOOKIES_VALID],
        )
    }

    /// `always`: the SYN gets a cookie and no state; the ACK carrying it
    /// makes the state, already waiting for the server (PROXY_DST), and
    /// pf opens the connection.
    #[test]
    fn always_cookie_then_proxy() {
        let mut e = engine(
            "set syncookies always\nblock\npass out\npass in on int0 proto tcp to port 7000\n",
        );
        let int_in = meta(Dir::In, "int0");
        let v = e.test(&int_in, &mut seg(C, S, 1000, 0, SYN, 64240, 1460, b""), 1);
        assert!(!v.pass);
        assert_eq!(v.send.len(), 1);
        assert_eq!(
            (v.send[0].toward, v.send[0].mark),
            (Toward::Sender, generated_mark(0))
        );
        let f = fields(&v.send[0].packet);
        assert_eq!(
            (f.0, f.2, f.5, f.6, f.7, f.8),
            (ip(S.0), ip(C.0), 1001, SYN | ACK, 0, 1460)
        );
        let cookie = f.4;
        assert!(e.states.is_empty());
        assert_eq!(lcounters(&e), (0, 1, 0));
        // A forged ACK: no state, the rules decide (block).
        let v = e.test(
            &int_in,
            &mut seg(C, S, 1001, cookie ^ 0x100, ACK, 502, 0, b""),
            2,
        );
        assert!(!v.pass && v.send.is_empty());
        assert!(e.states.is_empty());
        assert_eq!(lcounters(&e), (0, 1, 0));
        // The real ACK.
        let v = e.test(
            &int_in,
            &mut seg(C, S, 1001, cookie.wrapping_add(1), ACK, 502, 0, b""),
            3,
        );
        assert!(!v.pass);
        assert_eq!(lcounters(&e), (0, 1, 1));
        assert_eq!(e.states.len(), 1);
        let st = e
            .states
            .get(e.states.all_slots().next().unwrap())
            .unwrap()
            .clone();
        assert_eq!(st.src.state, crate::engine::state::tcps::PROXY_DST);
        assert_eq!((st.src.seqlo, st.src.seqhi), (1000, cookie));
        assert_eq!(v.send.len(), 1);
        let f = fields(&v.send[0].packet);
        assert_eq!(
            (f.0, f.1, f.2, f.3, f.6, f.8),
            (ip(C.0), C.1, ip(S.0), S.1, SYN, 1460)
        );
        assert_eq!(v.send[0].mark, 0);
        // The same ACK again is not a second cookie.
        let v = e.test(
            &int_in,
            &mut seg(C, S, 1001, cookie.wrapping_add(1), ACK, 502, 0, b""),
            4,
        );
        assert!(!v.pass);
        assert_eq!(lcounters(&e), (0, 1, 1));
        assert_eq!(e.states.len(), 1);
    }

    /// The rules still decide: a cookie answered for a blocked port makes
    /// no state when its ACK comes.
    #[test]
    fn blocked_connections_stay_blocked() {
        let mut e =
            engine("set syncookies always\nblock\npass in on int0 proto tcp to port 7000\n");
        let int_in = meta(Dir::In, "int0");
        let other = ("10.2.0.2", 7001);
        let v = e.test(&int_in, &mut seg(C, other, 5, 0, SYN, 100, 1460, b""), 1);
        let cookie = fields(&v.send[0].packet).4;
        let v = e.test(
            &int_in,
            &mut seg(C, other, 6, cookie.wrapping_add(1), ACK, 100, 0, b""),
            2,
        );
        assert!(!v.pass);
        assert!(v.send.is_empty());
        assert!(e.states.is_empty());
        assert_eq!(lcounters(&e), (0, 1, 1));
    }

    /// A cookie lives for one to two secret lifetimes.
    #[test]
    fn cookies_expire_with_their_secret() {
        let mut e = engine("set syncookies always\npass\n");
        let int_in = meta(Dir::In, "int0");
        let v = e.test(&int_in, &mut seg(C, S, 1000, 0, SYN, 100, 1460, b""), 1000);
        let old = fields(&v.send[0].packet).4;
        let v = e.test(
            &int_in,
            &mut seg(("10.1.0.3", 1), S, 50, 0, SYN, 100, 1460, b""),
            1000,
        );
        let kept = fields(&v.send[0].packet).4;
        // One rotation later the first still validates.
        e.syncookie_tick(1000 + SECRET_LIFETIME_MS);
        let v = e.test(
            &int_in,
            &mut seg(
                ("10.1.0.3", 1),
                S,
                51,
                kept.wrapping_add(1),
                ACK,
                100,
                0,
                b"",
            ),
            1000 + SECRET_LIFETIME_MS,
        );
        assert_eq!(lcounters(&e).2, 1);
        assert_eq!(v.send.len(), 1);
        // Two rotations later it is gone.
        e.syncookie_tick(1000 + 2 * SECRET_LIFETIME_MS);
        e.test(
            &int_in,
            &mut seg(C, S, 1001, old.wrapping_add(1), ACK, 100, 0, b""),
            1000 + 2 * SECRET_LIFETIME_MS,
        );
        assert_eq!(lcounters(&e).2, 1);
    }

    /// `adaptive`: cookies start above the start watermark of half-open
    /// states and stop at a rotation once half-open states and unanswered
    /// cookies are below the end watermark.
    #[test]
    fn adaptive_switches_on_and_off() {
        let mut e = engine(
            "set limit states 100\nset syncookies adaptive (start 10%, end 5%)\nblock\npass in on int0 proto tcp\n",
        );
        assert_eq!(e.options().syncookies, Some(SyncookiesMode::Adaptive));
        assert_eq!(
            (e.status(0).syncookies_start, e.status(0).syncookies_end),
            (10, 5)
        );
        let int_in = meta(Dir::In, "int0");
        let mut cookies = 0;
        for i in 0..30u16 {
            let src = format!("10.1.0.{}", 10 + i);
            let v = e.test(
                &int_in,
                &mut seg((&src, 1000 + i), S, 1, 0, SYN, 100, 1460, b""),
                1,
            );
            if !v.send.is_empty() {
                cookies += 1;
            } else {
                assert!(v.pass);
            }
        }
        // Half-open states up to the watermark and one more (pf tests
        // `more than start`), cookies after.
        assert_eq!(e.states.len(), 11);
        assert_eq!(e.status(0).half_open_tcp, 11);
        assert_eq!(cookies, 19);
        assert_eq!(lcounters(&e), (1, 19, 0));
        assert_eq!(
            e.take_notices(),
            vec![super::super::Notice::SynfloodDetected]
        );
        assert!(e.take_notices().is_empty());
        // The flood ends: its states go away; the cookies in flight keep
        // the mode on until their secrets are rotated out.
        e.kill_states(2, false, |_| true);
        assert_eq!(e.status(0).half_open_tcp, 0);
        e.syncookie_tick(1 + SECRET_LIFETIME_MS);
        assert!(e.syncookies.active);
        e.syncookie_tick(1 + 2 * SECRET_LIFETIME_MS);
        assert!(e.syncookies.active);
        e.syncookie_tick(1 + 3 * SECRET_LIFETIME_MS);
        assert!(!e.syncookies.active);
        assert_eq!(
            e.take_notices(),
            vec![super::super::Notice::SyncookiesDisabled]
        );
        let v = e.test(
            &int_in,
            &mut seg(C, S, 1, 0, SYN, 100, 1460, b""),
            1 + 3 * SECRET_LIFETIME_MS,
        );
        assert!(v.pass && v.send.is_empty(), "a state again");
        assert_eq!(lcounters(&e).0, 1);
    }

    /// Half-open accounting stays exact through handshakes, proxies,
    /// cookies and removals.
    #[test]
    fn halfopen_count_matches_the_table() {
        let mut e = engine(
            "set syncookies never\npass\npass in on int0 proto tcp to port 7000 synproxy state\n",
        );
        let int_in = meta(Dir::In, "int0");
        let ext_in = meta(Dir::In, "ext0");
        e.test(
            &int_in,
            &mut seg(C, ("10.2.0.2", 80), 1, 0, SYN, 100, 1460, b""),
            1,
        );
        e.test(&int_in, &mut seg(C, S, 1, 0, SYN, 100, 1460, b""), 1);
        e.test(
            &ext_in,
            &mut seg(("10.2.0.9", 5), ("10.1.0.2", 6), 1, 0, SYN, 100, 1460, b""),
            1,
        );
        // An answer establishes the first connection's initiator.
        let int_out = meta(Dir::Out, "int0");
        e.test(
            &int_out,
            &mut seg(("10.2.0.2", 80), C, 900, 2, SYN | ACK, 100, 1460, b""),
            2,
        );
        e.test(
            &int_in,
            &mut seg(C, ("10.2.0.2", 80), 2, 901, ACK, 100, 0, b""),
            2,
        );
        let count = e.halfopen;
        e.halfopen_recount();
        assert_eq!(count, e.halfopen);
        assert_eq!(count, 1, "only the unanswered inbound SYN from ext0");
        e.kill_states(3, false, |_| true);
        assert_eq!(e.halfopen, 0);
        assert_eq!(e.status(0).counters[Reason::Synproxy as usize], 1);
    }
}

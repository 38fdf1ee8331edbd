//! TCP connection tracking: the sequence-window algorithm pf uses (Guido van
//! Rooij's), state creation from the first packet, and the timeout class a
//! pair of peer states implies. Pure: the caller applies `seq`/`ack`
//! rewrites (modulate state) that come back.

use super::packet::{Pd, TcpInfo};
use super::peer::{tcps, Peer};
use crate::ruleset::Timeout;
use crate::wire::tcp::{ACK, FIN, RST, SYN};

/// Largest unscaled window.
const TCP_MAXWIN: u32 = 65535;
/// One window plus a fudge factor, as pf allows for ack skew.
const MAXACKWINDOW: i64 = 0xffff + 1500;

pub fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
pub fn seq_leq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}
pub fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}
pub fn seq_geq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

/// A TCP SYN without ACK: what opens a connection (synproxy answers it,
/// `modulate state` starts on it).
pub fn bare_syn(pd: &Pd) -> bool {
    pd.tcp.is_some_and(|t| t.flags & (SYN | ACK) == SYN)
}

/// Peers of a new state from its first packet (pf_create_state). `seqdiff`
/// is the modulation offset for `modulate state` (0 otherwise).
pub fn create_peers(t: &TcpInfo, p_len: u32, seqdiff: u32) -> (Peer, Peer) {
    let mut src = Peer {
        seqlo: t.seq,
        ..Peer::default()
    };
    src.seqhi = src.seqlo.wrapping_add(p_len).wrapping_add(1);
    src.seqdiff = seqdiff;
    if t.flags & SYN != 0 {
        src.seqhi = src.seqhi.wrapping_add(1);
        src.wscale = t.wscale;
    }
    src.max_win = t.win.max(1);
    if src.wscale & 0x0f != 0 {
        let s = (src.wscale & 0x0f) as u32;
        let win = src.max_win as u32 + (1 << s);
        src.max_win = ((win - 1) >> s) as u16;
    }
    if t.flags & FIN != 0 {
        src.seqhi = src.seqhi.wrapping_add(1);
    }
    src.mss = t.mss;
    src.state = tcps::SYN_SENT;
    let dst = Peer {
        seqhi: 1,
        max_win: 1,
        state: tcps::CLOSED,
        ..Peer::default()
    };
    (src, dst)
}

/// The timeout class two TCP peer states call for.
pub fn timeout_for(src: &Peer, dst: &Peer) -> Timeout {
    if src.state >= tcps::FIN_WAIT_2 && dst.state >= tcps::FIN_WAIT_2 {
        Timeout::TcpClosed
    } else if src.state >= tcps::CLOSING && dst.state >= tcps::CLOSING {
        Timeout::TcpFinWait
    } else if src.state < tcps::ESTABLISHED || dst.state < tcps::ESTABLISHED {
        Timeout::TcpOpening
    } else if src.state >= tcps::CLOSING || dst.state >= tcps::CLOSING {
        Timeout::TcpClosing
    } else {
        Timeout::TcpEstablished
    }
}

/// What tracking decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// In window: pass. `timeout` is the new class (None: unchanged, the
    /// loose match does not refresh the state).
    Pass {
        timeout: Option<Timeout>,
        refresh: bool,
    },
    /// Out of window (`state-mismatch`). `send_rst` asks for a RST to the
    /// sender (mismatch during the handshake).
    Drop { send_rst: bool },
    /// `reassemble tcp` refused the segment's timestamps (`bad-timestamp`).
    BadTimestamp,
}

/// pf_tcp_track_sloppy (`keep state (sloppy)`): follow the connection's
/// flags without checking sequence numbers, for states that see only one
/// direction of a connection.
pub fn track_sloppy(src: &mut Peer, dst: &mut Peer, t: &TcpInfo) -> Track {
    if t.flags & SYN != 0 && src.state < tcps::SYN_SENT {
        src.state = tcps::SYN_SENT;
    }
    if t.flags & FIN != 0 && src.state < tcps::CLOSING {
        src.state = tcps::CLOSING;
    }
    if t.flags & ACK != 0 {
        if dst.state == tcps::SYN_SENT {
            dst.state = tcps::ESTABLISHED;
        } else if dst.state == tcps::CLOSING {
            dst.state = tcps::FIN_WAIT_2;
        } else if src.state == tcps::SYN_SENT && dst.state < tcps::SYN_SENT {
            // Only one half of the connection is seen: an ACK after the
            // SYN without a word from the other end establishes it.
            src.state = tcps::ESTABLISHED;
            dst.state = tcps::ESTABLISHED;
        } else if src.state == tcps::CLOSING && dst.state == tcps::ESTABLISHED && dst.seqlo == 0 {
            // The closing of a half connection.
            dst.state = tcps::CLOSING;
        }
    }
    if t.flags & RST != 0 {
        src.state = tcps::TIME_WAIT;
        dst.state = tcps::TIME_WAIT;
    }
    Track::Pass {
        timeout: Some(timeout_for(src, dst)),
        refresh: true,
    }
}

/// Rewrites modulation asks for: new seq and ack to put in the packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Modulation {
    pub seq: Option<u32>,
    pub ack: Option<u32>,
}

/// pf_tcp_track_full: check the segment `t` (with `p_len` payload bytes)
/// sent by `src` to `dst`, update both peers. `random` supplies the
/// modulator for a server's first packet when modulation is on.
pub fn track_full(
    src: &mut Peer,
    dst: &mut Peer,
    t: &TcpInfo,
    p_len: u32,
    random: u32,
    modulation: &mut Modulation,
) -> Track {
    track_full_norm(src, dst, t, p_len, random, modulation, &mut |_, _| true)
}

/// A segment as the window check sees it (pf_tcp_track_full's locals):
/// its window, scaled as negotiated, and its sequence span and ack in the
/// state's sequence space (modulation undone).
#[derive(Debug, Clone, Copy)]
struct Segment {
    win: u32,
    /// Window scale shifts of the sender and the receiver.
    sws: u32,
    dws: u32,
    /// The sequence number as sent.
    orig_seq: u32,
    seq: u32,
    ack: u32,
    /// Past the segment's data, SYN and FIN.
    end: u32,
    /// Past its data and SYN.
    data_end: u32,
}

/// The first segment from `src`: it sets up that end (its sequence start,
/// window scale, window), and the modulator of a server's first packet
/// when the client's is modulated.
fn first_segment(
    s: &mut Segment,
    src: &mut Peer,
    dst: &mut Peer,
    t: &TcpInfo,
    p_len: u32,
    random: u32,
    modulation: &mut Modulation,
) {
    if dst.seqdiff != 0 && src.seqdiff == 0 {
        let mut r = random;
        if r.wrapping_sub(s.seq) == 0 {
            r = r.wrapping_add(1);
        }
        src.seqdiff = r.wrapping_sub(s.seq);
        s.ack = t.ack.wrapping_sub(dst.seqdiff);
        modulation.seq = Some(s.seq.wrapping_add(src.seqdiff));
        modulation.ack = Some(s.ack);
    } else {
        s.ack = t.ack;
    }
    s.end = s.seq.wrapping_add(p_len);
    if t.flags & SYN != 0 {
        s.end = s.end.wrapping_add(1);
        if dst.wscale & 0x80 != 0 {
            src.wscale = t.wscale;
            if src.wscale & 0x80 != 0 {
                s.sws = (src.wscale & 0x0f) as u32;
                s.win = (s.win + (1 << s.sws) - 1) >> s.sws;
                s.dws = (dst.wscale & 0x0f) as u32;
            } else {
                dst.max_win = TCP_MAXWIN.min((dst.max_win as u32) << (dst.wscale & 0x0f)) as u16;
                dst.wscale = 0;
            }
        }
    }
    s.data_end = s.end;
    if t.flags & FIN != 0 {
        s.end = s.end.wrapping_add(1);
    }
    src.seqlo = s.seq;
    if src.state < tcps::SYN_SENT {
        src.state = tcps::SYN_SENT;
    }
    let span = ((dst.max_win as u32) << s.dws).max(1);
    if src.seqhi == 1 || seq_geq(s.end.wrapping_add(span), src.seqhi) {
        src.seqhi = s.end.wrapping_add(span);
    }
    if s.win > src.max_win as u32 {
        src.max_win = s.win.min(u16::MAX as u32) as u16;
    }
}

/// A later segment from `src`: its span, its ack demodulated, and the
/// modulated numbers to put in it.
fn later_segment(
    s: &mut Segment,
    src: &Peer,
    dst: &Peer,
    t: &TcpInfo,
    p_len: u32,
    modulation: &mut Modulation,
) {
    s.ack = t.ack.wrapping_sub(dst.seqdiff);
    if src.seqdiff != 0 {
        modulation.seq = Some(s.seq.wrapping_add(src.seqdiff));
        modulation.ack = Some(s.ack);
    }
    s.end = s.seq.wrapping_add(p_len);
    if t.flags & SYN != 0 {
        s.end = s.end.wrapping_add(1);
    }
    s.data_end = s.end;
    if t.flags & FIN != 0 {
        s.end = s.end.wrapping_add(1);
    }
}

/// Segment `t` from `src` to `dst` as the window check sees it; a first
/// segment sets up its end.
fn segment_of(
    src: &mut Peer,
    dst: &mut Peer,
    t: &TcpInfo,
    p_len: u32,
    random: u32,
    modulation: &mut Modulation,
) -> Segment {
    let (sws, dws) = if src.wscale != 0 && dst.wscale != 0 && t.flags & SYN == 0 {
        ((src.wscale & 0x0f) as u32, (dst.wscale & 0x0f) as u32)
    } else {
        (0, 0)
    };
    let mut s = Segment {
        win: t.win as u32,
        sws,
        dws,
        orig_seq: t.seq,
        seq: t.seq,
        ack: 0,
        end: 0,
        data_end: 0,
    };
    if src.seqlo == 0 {
        first_segment(&mut s, src, dst, t, p_len, random, modulation);
    } else {
        later_segment(&mut s, src, dst, t, p_len, modulation);
    }
    // No ACK to check: let it through the ack skew test. Many stacks also
    // send an RST|ACK with ack 0, and a peer that never sent has nothing
    // to acknowledge.
    if t.flags & ACK == 0
        || (s.ack == 0 && t.flags & (ACK | RST) == (ACK | RST))
        || dst.state < tcps::SYN_SENT
    {
        s.ack = dst.seqlo;
    }
    if s.seq == s.end {
        // Ease sequencing restrictions on no-data packets.
        s.seq = src.seqlo;
        s.end = s.seq;
        s.data_end = s.end;
    }
    s
}

/// The segment is within the windows of both ends (and an RST has the
/// exact sequence number).
fn in_window(s: &Segment, src: &Peer, dst: &Peer, t: &TcpInfo) -> bool {
    let ackskew = dst.seqlo.wrapping_sub(s.ack) as i32 as i64;
    let dst_span = (dst.max_win as u32) << s.dws;
    seq_geq(src.seqhi, s.data_end)
        && seq_geq(s.seq, src.seqlo.wrapping_sub(dst_span))
        && ackskew >= -MAXACKWINDOW
        && ackskew <= (MAXACKWINDOW << s.sws)
        && (t.flags & RST == 0
            || s.orig_seq == src.seqlo
            || s.orig_seq == src.seqlo.wrapping_add(1)
            || s.orig_seq.wrapping_add(1) == src.seqlo)
}

/// Loose match: shotgunned SYNs, a stream picked up mid-way, packets just
/// after close.
fn loose_match(s: &Segment, src: &Peer, dst: &Peer) -> bool {
    (dst.state < tcps::SYN_SENT || dst.state >= tcps::FIN_WAIT_2 || src.state >= tcps::FIN_WAIT_2)
        && seq_geq(src.seqhi.wrapping_add(MAXACKWINDOW as u32), s.data_end)
        && seq_geq(s.seq, src.seqlo.wrapping_sub(MAXACKWINDOW as u32))
}

/// The windows move on with an accepted segment.
fn update_seq(s: &Segment, src: &mut Peer, dst: &mut Peer) {
    if (src.max_win as u32) < s.win {
        src.max_win = s.win.min(u16::MAX as u32) as u16;
    }
    if seq_gt(s.end, src.seqlo) {
        src.seqlo = s.end;
    }
    let w = s.win << s.sws;
    if seq_geq(s.ack.wrapping_add(w), dst.seqhi) {
        dst.seqhi = s.ack.wrapping_add(w.max(1));
    }
}

/// The ends' states after a segment in window.
fn in_window_states(src: &mut Peer, dst: &mut Peer, t: &TcpInfo) {
    if t.flags & SYN != 0 && src.state < tcps::SYN_SENT {
        src.state = tcps::SYN_SENT;
    }
    if t.flags & FIN != 0 && src.state < tcps::CLOSING {
        src.state = tcps::CLOSING;
    }
    if t.flags & ACK != 0 {
        if dst.state == tcps::SYN_SENT {
            dst.state = tcps::ESTABLISHED;
        } else if dst.state == tcps::CLOSING {
            dst.state = tcps::FIN_WAIT_2;
        }
    }
    if t.flags & RST != 0 {
        src.state = tcps::TIME_WAIT;
        dst.state = tcps::TIME_WAIT;
    }
}

/// `track_full` with `scrub (reassemble tcp)`: `normalize` sees each
/// segment that is in window (or loosely matches) before the windows move,
/// as pf_normalize_tcp_stateful does, and may refuse it
/// (`Track::BadTimestamp`).
pub fn track_full_norm(
    src: &mut Peer,
    dst: &mut Peer,
    t: &TcpInfo,
    p_len: u32,
    random: u32,
    modulation: &mut Modulation,
    normalize: &mut dyn FnMut(&Peer, &Peer) -> bool,
) -> Track {
    let s = segment_of(src, dst, t, p_len, random, modulation);
    if in_window(&s, src, dst, t) {
        if !normalize(src, dst) {
            return Track::BadTimestamp;
        }
        update_seq(&s, src, dst);
        in_window_states(src, dst, t);
        Track::Pass {
            timeout: Some(timeout_for(src, dst)),
            refresh: true,
        }
    } else if loose_match(&s, src, dst) {
        // Does not refresh the state's expiry.
        if !normalize(src, dst) {
            return Track::BadTimestamp;
        }
        update_seq(&s, src, dst);
        if t.flags & FIN != 0 && src.state < tcps::CLOSING {
            src.state = tcps::CLOSING;
        }
        if t.flags & RST != 0 {
            src.state = tcps::TIME_WAIT;
            dst.state = tcps::TIME_WAIT;
        }
        Track::Pass {
            timeout: None,
            refresh: false,
        }
    } else {
        let handshake = dst.state == tcps::SYN_SENT && src.state == tcps::SYN_SENT;
        if handshake {
            src.seqlo = 0;
            src.seqhi = 1;
            src.max_win = 1;
        }
        Track::Drop {
            send_rst: handshake && t.flags & RST == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: u8, seq: u32, ack: u32, win: u16) -> TcpInfo {
        TcpInfo {
            flags,
            seq,
            ack,
            win,
            hdr_len: 20,
            wscale: 0,
            mss: 0,
        }
    }

    /// A client (c) and server (s) through pf: handshake, data both ways,
    /// FIN close. Returns the peers (state src = client).
    #[test]
    fn handshake_data_close() {
        let mut m = Modulation::default();
        let syn = seg(SYN, 1000, 0, 64240);
        let (mut c, mut s) = create_peers(&syn, 0, 0);
        assert_eq!(c.state, tcps::SYN_SENT);
        // SYN|ACK from the server.
        let r = track_full(
            &mut s,
            &mut c,
            &seg(SYN | ACK, 5000, 1001, 65160),
            0,
            0,
            &mut m,
        );
        assert!(matches!(r, Track::Pass { .. }));
        // ACK from the client.
        let r = track_full(&mut c, &mut s, &seg(ACK, 1001, 5001, 502), 0, 0, &mut m);
        assert_eq!(
            r,
            Track::Pass {
                timeout: Some(Timeout::TcpEstablished),
                refresh: true
            }
        );
        assert_eq!((c.state, s.state), (tcps::ESTABLISHED, tcps::ESTABLISHED));
        // Data.
        for i in 0..100u32 {
            let r = track_full(
                &mut c,
                &mut s,
                &seg(ACK, 1001 + i * 100, 5001, 502),
                100,
                0,
                &mut m,
            );
            assert!(
                matches!(r, Track::Pass { refresh: true, .. }),
                "segment {i}"
            );
            let r = track_full(
                &mut s,
                &mut c,
                &seg(ACK, 5001, 1001 + (i + 1) * 100, 509),
                0,
                0,
                &mut m,
            );
            assert!(matches!(r, Track::Pass { refresh: true, .. }));
        }
        // A segment far outside the window is refused.
        let r = track_full(
            &mut c,
            &mut s,
            &seg(ACK, 1001 + 10_000_000, 5001, 502),
            100,
            0,
            &mut m,
        );
        assert_eq!(r, Track::Drop { send_rst: false });
        // Close.
        let fin_seq = 1001 + 100 * 100;
        track_full(
            &mut c,
            &mut s,
            &seg(FIN | ACK, fin_seq, 5001, 502),
            0,
            0,
            &mut m,
        );
        track_full(
            &mut s,
            &mut c,
            &seg(ACK, 5001, fin_seq + 1, 509),
            0,
            0,
            &mut m,
        );
        track_full(
            &mut s,
            &mut c,
            &seg(FIN | ACK, 5001, fin_seq + 1, 509),
            0,
            0,
            &mut m,
        );
        let r = track_full(
            &mut c,
            &mut s,
            &seg(ACK, fin_seq + 1, 5002, 502),
            0,
            0,
            &mut m,
        );
        assert_eq!(
            r,
            Track::Pass {
                timeout: Some(Timeout::TcpClosed),
                refresh: true
            }
        );
    }

    #[test]
    fn rst_needs_exact_sequence() {
        let mut m = Modulation::default();
        let (mut c, mut s) = create_peers(&seg(SYN, 1000, 0, 64240), 0, 0);
        track_full(
            &mut s,
            &mut c,
            &seg(SYN | ACK, 5000, 1001, 65160),
            0,
            0,
            &mut m,
        );
        track_full(&mut c, &mut s, &seg(ACK, 1001, 5001, 502), 0, 0, &mut m);
        let r = track_full(&mut s, &mut c, &seg(RST, 5100, 0, 0), 0, 0, &mut m);
        assert!(matches!(r, Track::Drop { .. }));
        let r = track_full(&mut s, &mut c, &seg(RST, 5001, 0, 0), 0, 0, &mut m);
        assert!(matches!(r, Track::Pass { .. }));
        assert_eq!(c.state, tcps::TIME_WAIT);
    }

    #[test]
    fn sloppy_follows_flags_only() {
        let (mut c, mut s) = create_peers(&seg(SYN, 1000, 0, 64240), 0, 0);
        // Only the client's half is seen: its ACK establishes both ends,
        // whatever the numbers.
        let r = track_sloppy(&mut c, &mut s, &seg(ACK, 77, 99_999, 1));
        assert_eq!(
            r,
            Track::Pass {
                timeout: Some(Timeout::TcpEstablished),
                refresh: true
            }
        );
        assert_eq!((c.state, s.state), (tcps::ESTABLISHED, tcps::ESTABLISHED));
        // A segment far out of any window still passes (full tracking
        // refuses it).
        assert!(matches!(
            track_sloppy(&mut c, &mut s, &seg(ACK, 1 << 31, 5, 1)),
            Track::Pass { .. }
        ));
        track_sloppy(&mut c, &mut s, &seg(FIN | ACK, 5, 5, 1));
        assert_eq!(c.state, tcps::CLOSING);
        assert_eq!(s.state, tcps::CLOSING, "half-connection close");
        track_sloppy(&mut s, &mut c, &seg(RST, 0, 0, 0));
        assert_eq!((c.state, s.state), (tcps::TIME_WAIT, tcps::TIME_WAIT));
    }

    #[test]
    fn normalize_hook_can_refuse() {
        let mut m = Modulation::default();
        let (mut c, mut s) = create_peers(&seg(SYN, 1000, 0, 64240), 0, 0);
        let r = track_full_norm(
            &mut s,
            &mut c,
            &seg(SYN | ACK, 5000, 1001, 65160),
            0,
            0,
            &mut m,
            &mut |_, _| false,
        );
        assert_eq!(r, Track::BadTimestamp);
        assert_eq!(s.seqlo, 5000, "first packet of the end was recorded");
        assert_eq!(c.seqhi, 1002, "but the windows did not move");
    }

    #[test]
    fn sequence_comparisons_wrap() {
        assert!(seq_lt(u32::MAX, 1));
        assert!(seq_gt(1, u32::MAX));
        assert!(seq_geq(5, 5));
    }
}

//! Repair of lost pfsync frames (not in OpenBSD; the idea of conntrackd's
//! FTFW): the sender numbers its frames per stream (`SendRing`, keeping the
//! last `RING_BYTES` of them), the receiver (`RepairRx`) hands frames on in
//! the sender's order, holds those behind a gap, asks for the missing ones
//! (NACK) at once and again every `NACK_RETRY_MS`, and gives up on a frame
//! after `GIVE_UP_MS` or when the sender says it no longer has it (GONE).
//! The numbers travel in the header's `pfcksum` field
//! (`wire::pfsync::RepairExt`); a peer that never sends them (OpenBSD) is
//! not tracked, and nothing is asked of it. Pure: time is passed in (ms).

use crate::wire::pfsync::{RepairExt, RepairKind};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;

/// Frames kept for resending (bytes): at 20,000 full frames a second
/// (100,000 new states) about the last 1.1 s, the receiver's `GIVE_UP_MS`
/// and a NACK's way back; 2.2 s at 50,000 new states a second. (8 Mbytes,
/// half a second at 50,000, were outrun by stalls of a loaded machine.)
pub const RING_BYTES: usize = 32 << 20;
/// A missing frame is asked for again after this long (ms), twice as
/// long after each further NACK (10, 20, 40, ... 320 ms: seven NACKs in
/// the second before it is given up), so that a receiver that fell
/// behind does not ask for every frame 100 times a second. Frames behind
/// a gap wait for its repair: at 40 ms, a NACK or resend lost with 1% of
/// the frames made the lag's p99 39 ms at 50,000 new states a second.
pub const NACK_RETRY_MS: u64 = 10;
/// With many frames missing, the first retry waits at least for the
/// sender to send them all again at this many a millisecond (a receiver
/// stopped for a second lost 2,768 frames; asked again every 10 ms, the
/// sender sent 8,803).
pub const RESEND_FRAMES_PER_MS: u64 = 32;
/// ...and given up on after this long (ms); frames held behind it go on.
pub const GIVE_UP_MS: u64 = 1000;
/// A jump in numbers further than this is a new start, not a gap: more
/// than the sender's ring holds (`RING_BYTES` is 22,000 full frames).
pub const MAX_GAP: u64 = 32768;
/// Frames one NACK may ask for.
pub const MAX_NACK: u32 = 1024;
/// A frame is sent again at most this often (ms), however often asked
/// (less than `NACK_RETRY_MS`, so that a retry is answered).
pub const RESEND_HOLDOFF_MS: u64 = 5;
/// After the last DATA frame, with nothing sent since, ALIVE frames go
/// out at these delays (ms) so that a lost last frame is noticed.
pub const TAIL_ALIVE_MS: [u64; 3] = [30, 150, 400];
/// A new stream starting at or below this number is taken to have begun
/// at 1 (the sender restarted): what came before is asked for.
pub const START_GUESS: u32 = 64;
/// Senders tracked at once.
pub const MAX_SENDERS: usize = 16;

#[derive(Debug)]
struct Kept {
    seq: u32,
    frame: Vec<u8>,
    resent_at: Option<u64>,
}

/// The sender's numbered frames, the last `max_bytes` of them kept.
#[derive(Debug)]
pub struct SendRing {
    epoch: u32,
    next: u32,
    frames: VecDeque<Kept>,
    bytes: usize,
    max_bytes: usize,
    /// Frames sent again, NACKs taken, GONE answers.
    pub resent: u64,
    pub nacks: u64,
    pub gone: u64,
}

impl SendRing {
    /// A stream `epoch` (0 is taken as 1: 0 is never sent).
    pub fn new(epoch: u32, max_bytes: usize) -> SendRing {
        SendRing {
            epoch: epoch.max(1),
            next: 1,
            frames: VecDeque::new(),
            bytes: 0,
            max_bytes,
            resent: 0,
            nacks: 0,
            gone: 0,
        }
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The last frame numbered, if any.
    pub fn last(&self) -> Option<u32> {
        (self.next != 1 || !self.frames.is_empty()).then(|| self.next.wrapping_sub(1))
    }

    /// Number a whole frame (header first) as the stream's next DATA
    /// frame, `stamp` its oldest new state (Unix ms, low 32 bits; 0:
    /// none), and keep a copy.
    pub fn number(&mut self, frame: &mut [u8], stamp: u32) -> u32 {
        let seq = self.next;
        self.next = self.next.wrapping_add(1);
        RepairExt {
            kind: RepairKind::Data,
            epoch: self.epoch,
            seq,
            arg: stamp,
        }
        .write_to(frame);
        self.bytes += frame.len();
        self.frames.push_back(Kept {
            seq,
            frame: frame.to_vec(),
            resent_at: None,
        });
        while self.bytes > self.max_bytes {
            match self.frames.pop_front() {
                Some(k) => self.bytes -= k.frame.len(),
                None => break,
            }
        }
        seq
    }

    /// The ALIVE extension: the last DATA frame (0 before any).
    pub fn alive(&self, stamp: u32) -> RepairExt {
        RepairExt {
            kind: RepairKind::Alive,
            epoch: self.epoch,
            seq: self.last().unwrap_or(0),
            arg: stamp,
        }
    }

    /// A NACK for `count` frames from `first` of stream `epoch`: the
    /// frames still kept go into `out` (each at most once per
    /// `RESEND_HOLDOFF_MS`); the GONE answer for those no longer kept.
    /// Frames never sent are ignored, as are other streams' NACKs.
    pub fn nack(
        &mut self,
        epoch: u32,
        first: u32,
        count: u32,
        now: u64,
        out: &mut Vec<Vec<u8>>,
    ) -> Option<RepairExt> {
        if epoch != self.epoch {
            return None;
        }
        self.nacks += 1;
        let oldest = self.frames.front().map_or(self.next, |k| k.seq);
        let mut gone: Option<(u32, u32)> = None;
        for i in 0..count.min(MAX_NACK) {
            let seq = first.wrapping_add(i);
            let d = seq.wrapping_sub(oldest) as i32;
            if d < 0 {
                let g = gone.get_or_insert((seq, 0));
                g.1 += 1;
                continue;
            }
            let Some(k) = self.frames.get_mut(d as usize) else {
                continue;
            };
            if k.resent_at
                .is_some_and(|t| now.saturating_sub(t) < RESEND_HOLDOFF_MS)
            {
                continue;
            }
            k.resent_at = Some(now);
            self.resent += 1;
            out.push(k.frame.clone());
        }
        gone.map(|(seq, n)| {
            self.gone += 1;
            RepairExt {
                kind: RepairKind::Gone,
                epoch: self.epoch,
                seq,
                arg: n,
            }
        })
    }
}

/// What the receiving side counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RxStats {
    /// Gaps seen (a frame or ALIVE beyond the next expected one).
    pub gaps: u64,
    /// Frames asked for (NACKed), retries included.
    pub nacked: u64,
    /// Missing frames that came.
    pub repaired: u64,
    /// Missing frames given up on (timeout, GONE, restart of the sender).
    pub lost: u64,
    /// Frames seen twice.
    pub dups: u64,
}

#[derive(Debug, Clone, Copy)]
struct Miss {
    since: u64,
    nack_at: u64,
    nacks: u32,
}

/// Numbers are kept unwrapped from this offset, so they never go below 0.
const BASE: u64 = 1 << 32;

#[derive(Debug)]
struct Stream<T> {
    epoch: u32,
    /// The next frame to hand on.
    next: u64,
    /// The highest frame known to exist (seen or announced by ALIVE).
    top: u64,
    held: BTreeMap<u64, T>,
    missing: BTreeMap<u64, Miss>,
}

impl<T> Stream<T> {
    /// A stream first seen at `seq`.
    fn new(epoch: u32, seq: u32) -> Stream<T> {
        let start = if seq <= START_GUESS { 1 } else { seq };
        Stream {
            epoch,
            next: BASE + u64::from(start),
            top: BASE + u64::from(start) - 1,
            held: BTreeMap::new(),
            missing: BTreeMap::new(),
        }
    }

    fn unwrap(&self, seq: u32) -> u64 {
        let d = seq.wrapping_sub(self.next as u32) as i32;
        self.next.wrapping_add_signed(i64::from(d))
    }

    /// Hand on what is in order; step over frames given up on.
    fn advance(&mut self, out: &mut Vec<T>) {
        loop {
            if let Some(it) = self.held.remove(&self.next) {
                out.push(it);
            } else if self.next > self.top || self.missing.contains_key(&self.next) {
                break;
            }
            self.next += 1;
        }
    }

    /// Frames up to `upto` exist: those not seen are missing.
    fn announce(&mut self, upto: u64, now: u64, st: &mut RxStats) {
        if upto > self.top {
            st.gaps += 1;
            for s in self.top + 1..=upto {
                if !self.held.contains_key(&s) {
                    self.missing.insert(
                        s,
                        Miss {
                            since: now,
                            nack_at: now,
                            nacks: 0,
                        },
                    );
                }
            }
            self.top = upto;
        }
    }

    /// Give up on everything missing and hand on what is held.
    fn flush(&mut self, out: &mut Vec<T>, st: &mut RxStats) {
        st.lost += self.missing.len() as u64;
        self.missing.clear();
        self.advance(out);
    }

    fn data(&mut self, seq: u32, item: T, now: u64, out: &mut Vec<T>, st: &mut RxStats) {
        let mut s = self.unwrap(seq);
        if s < self.next {
            st.dups += 1;
            return;
        }
        if s - self.next > MAX_GAP {
            // Not a gap: a new start (or a forgery); begin again there.
            self.flush(out, st);
            s = BASE + u64::from(seq);
            self.next = s;
            self.top = s - 1;
        }
        if self.held.contains_key(&s) {
            st.dups += 1;
            return;
        }
        if self.missing.remove(&s).is_some() {
            st.repaired += 1;
        }
        if s > self.top + 1 {
            self.announce(s - 1, now, st);
        }
        self.top = self.top.max(s);
        self.held.insert(s, item);
        self.advance(out);
    }

    fn alive(&mut self, last: u32, now: u64, st: &mut RxStats) {
        let l = self.unwrap(last);
        if l >= self.next && l - self.next <= MAX_GAP {
            self.announce(l, now, st);
        }
    }

    fn gone(&mut self, first: u32, count: u32, out: &mut Vec<T>, st: &mut RxStats) {
        let f = self.unwrap(first);
        for s in f..f + u64::from(count.min(MAX_NACK)) {
            if self.missing.remove(&s).is_some() {
                st.lost += 1;
            }
        }
        self.advance(out);
    }

    /// NACK ranges due now (pushed as (first, count)); missing frames
    /// too old are given up.
    fn poll(
        &mut self,
        now: u64,
        behind: bool,
        nacks: &mut Vec<(u32, u32)>,
        out: &mut Vec<T>,
        st: &mut RxStats,
    ) {
        let mut range: Option<(u64, u32)> = None;
        let mut expired = Vec::new();
        // Many missing: the sender takes a while to send them all again.
        let retry = NACK_RETRY_MS.max(self.missing.len() as u64 / RESEND_FRAMES_PER_MS);
        for (&s, m) in self.missing.iter_mut() {
            if now.saturating_sub(m.since) >= GIVE_UP_MS {
                expired.push(s);
                continue;
            }
            if m.nack_at > now || (behind && m.nacks > 0) {
                continue;
            }
            m.nack_at = now + (retry << m.nacks.min(8));
            m.nacks += 1;
            st.nacked += 1;
            match range.as_mut() {
                Some((f, n)) if *f + u64::from(*n) == s && *n < MAX_NACK => *n += 1,
                _ => {
                    if let Some((f, n)) = range.replace((s, 1)) {
                        nacks.push((f as u32, n));
                    }
                }
            }
        }
        if let Some((f, n)) = range {
            nacks.push((f as u32, n));
        }
        st.lost += expired.len() as u64;
        for s in expired {
            self.missing.remove(&s);
        }
        self.advance(out);
    }
}

/// The receiving side: one stream per sender `K`, items `T` (a frame's
/// messages) handed on in the sender's order.
#[derive(Debug)]
pub struct RepairRx<K, T> {
    streams: HashMap<K, Stream<T>>,
    pub stats: RxStats,
    /// Frames are waiting to be read (`set_behind`).
    behind: bool,
}

impl<K: Hash + Eq + Copy, T> Default for RepairRx<K, T> {
    fn default() -> Self {
        RepairRx {
            streams: HashMap::new(),
            stats: RxStats::default(),
            behind: false,
        }
    }
}

/// The stream of `from` for `epoch`: a new epoch ends the old stream
/// (what it held is handed on, what it missed is lost).
fn stream<'a, K: Hash + Eq + Copy, T>(
    streams: &'a mut HashMap<K, Stream<T>>,
    st: &mut RxStats,
    from: K,
    epoch: u32,
    seq: u32,
    out: &mut Vec<T>,
) -> &'a mut Stream<T> {
    let stale = streams.get(&from).is_some_and(|s| s.epoch != epoch);
    let full = !streams.contains_key(&from) && streams.len() >= MAX_SENDERS;
    let evict = if stale {
        Some(from)
    } else if full {
        streams.keys().next().copied()
    } else {
        None
    };
    if let Some(mut old) = evict.and_then(|k| streams.remove(&k)) {
        old.flush(out, st);
    }
    streams
        .entry(from)
        .or_insert_with(|| Stream::new(epoch, seq))
}

impl<K: Hash + Eq + Copy, T> RepairRx<K, T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A DATA frame from `from`: `item`, and whatever it unblocks, go
    /// into `out` in order (or it is held behind a gap).
    pub fn data(&mut self, from: K, ext: &RepairExt, item: T, now: u64, out: &mut Vec<T>) {
        let st = &mut self.stats;
        stream(&mut self.streams, st, from, ext.epoch, ext.seq, out)
            .data(ext.seq, item, now, out, st);
    }

    /// An ALIVE from `from`: frames up to its `seq` exist.
    pub fn alive(&mut self, from: K, ext: &RepairExt, now: u64, out: &mut Vec<T>) {
        // An ALIVE of a stream not seen yet: only a restart's first
        // frames are worth asking for.
        let known = self
            .streams
            .get(&from)
            .is_some_and(|s| s.epoch == ext.epoch);
        if ext.seq == 0 || (!known && ext.seq > START_GUESS) {
            return;
        }
        let st = &mut self.stats;
        stream(&mut self.streams, st, from, ext.epoch, 1, out).alive(ext.seq, now, st);
    }

    /// A GONE from `from` about its stream.
    pub fn gone(&mut self, from: K, ext: &RepairExt, out: &mut Vec<T>) {
        if let Some(s) = self.streams.get_mut(&from).filter(|s| s.epoch == ext.epoch) {
            s.gone(ext.seq, ext.arg, out, &mut self.stats);
        }
    }

    /// NACKs due now, as extensions to send to each sender; frames given
    /// up on let those held behind them go into `out`.
    /// Is the receiver behind (frames it has not read yet are waiting)?
    /// Then missing frames already asked for are not asked for again:
    /// the answer is likely among those waiting, and asking again only
    /// made the sender send them twice more (a receiver stopped for a
    /// second: 8,803 frames resent for 2,768 lost). A first NACK still
    /// goes out, and the give-up time runs on.
    pub fn set_behind(&mut self, behind: bool) {
        self.behind = behind;
    }

    pub fn poll(&mut self, now: u64, nacks: &mut Vec<(K, RepairExt)>, out: &mut Vec<T>) {
        let mut ranges = Vec::new();
        for (k, s) in self.streams.iter_mut() {
            ranges.clear();
            s.poll(now, self.behind, &mut ranges, out, &mut self.stats);
            nacks.extend(ranges.iter().map(|&(seq, n)| {
                (
                    *k,
                    RepairExt {
                        kind: RepairKind::Nack,
                        epoch: s.epoch,
                        seq,
                        arg: n,
                    },
                )
            }));
        }
    }

    /// Frames missing now, over all senders.
    pub fn missing(&self) -> usize {
        self.streams.values().map(|s| s.missing.len()).sum()
    }
}

/// Replication lag (ms) of received frames: 1 ms buckets up to 1 s.
#[derive(Debug, Clone)]
pub struct LagHistogram {
    buckets: Vec<u64>,
    count: u64,
    max: u64,
}

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram {
            buckets: vec![0; 1001],
            count: 0,
            max: 0,
        }
    }
}

impl LagHistogram {
    pub fn record(&mut self, ms: u64) {
        self.buckets[ms.min(1000) as usize] += 1;
        self.count += 1;
        self.max = self.max.max(ms);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The lag at or under which `pct` percent of the frames came (ms;
    /// 1000 means a second or more).
    pub fn percentile(&self, pct: u64) -> u64 {
        let want = (self.count * pct).div_ceil(100).max(1);
        let mut seen = 0;
        for (ms, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return ms as u64;
            }
        }
        0
    }
}

/// Lag (ms) from a stamp (Unix ms, low 32 bits) to `now_unix_ms`, if the
/// stamp is set and not in the future.
pub fn lag_ms(stamp: u32, now_unix_ms: u64) -> Option<u64> {
    let d = (now_unix_ms as u32).wrapping_sub(stamp) as i32;
    (stamp != 0 && d >= 0).then_some(d as u64)
}

#[cfg(test)]
mod tests;

use super::*;

fn ext(kind: RepairKind, epoch: u32, seq: u32, arg: u32) -> RepairExt {
    RepairExt {
        kind,
        epoch,
        seq,
        arg,
    }
}

fn data(seq: u32) -> RepairExt {
    ext(RepairKind::Data, 7, seq, 0)
}

#[test]
fn ring_numbers_keeps_and_resends() {
    let mut r = SendRing::new(7, 100);
    assert_eq!(r.last(), None);
    let mut frames = Vec::new();
    for i in 0..5u8 {
        let mut f = vec![6, 0, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        f.extend_from_slice(&[i; 10]);
        assert_eq!(r.number(&mut f, 99), u32::from(i) + 1);
        assert_eq!(
            RepairExt::of_frame(&f),
            Some(ext(RepairKind::Data, 7, u32::from(i) + 1, 99))
        );
        frames.push(f);
    }
    // 100 bytes hold three 30-byte frames: 3, 4, 5.
    assert_eq!(r.last(), Some(5));
    assert_eq!(r.alive(0).seq, 5);
    let mut out = Vec::new();
    let gone = r.nack(7, 1, 5, 0, &mut out);
    assert_eq!(out, frames[2..].to_vec());
    assert_eq!(gone, Some(ext(RepairKind::Gone, 7, 1, 2)));
    assert_eq!((r.resent, r.nacks, r.gone), (3, 1, 1));
    // Asked again at once: held off; later: sent again.
    out.clear();
    assert_eq!(r.nack(7, 4, 1, RESEND_HOLDOFF_MS - 1, &mut out), None);
    assert!(out.is_empty());
    assert_eq!(r.nack(7, 4, 1, RESEND_HOLDOFF_MS, &mut out), None);
    assert_eq!(out, vec![frames[3].clone()]);
    // Another stream's NACK, frames never sent: nothing.
    out.clear();
    assert_eq!(r.nack(8, 4, 1, 1000, &mut out), None);
    assert_eq!(r.nack(7, 6, 10, 1000, &mut out), None);
    assert!(out.is_empty());
}

#[test]
fn in_order_frames_pass_at_once() {
    let mut rx = RepairRx::<u8, u32>::new();
    let mut out = Vec::new();
    for s in 1..=5 {
        rx.data(1, &data(s), s, 0, &mut out);
    }
    assert_eq!(out, vec![1, 2, 3, 4, 5]);
    let mut nacks = Vec::new();
    rx.poll(10, &mut nacks, &mut out);
    assert!(nacks.is_empty());
    assert_eq!(rx.stats, RxStats::default());
}

#[test]
fn gap_is_held_nacked_and_repaired_in_order() {
    let mut rx = RepairRx::<u8, u32>::new();
    let mut out = Vec::new();
    rx.data(1, &data(100), 100, 0, &mut out);
    rx.data(1, &data(101), 101, 0, &mut out);
    // 102 and 103 lost.
    rx.data(1, &data(104), 104, 1, &mut out);
    rx.data(1, &data(105), 105, 1, &mut out);
    assert_eq!(out, vec![100, 101], "held behind the gap");
    assert_eq!(rx.missing(), 2);
    let mut nacks = Vec::new();
    rx.poll(1, &mut nacks, &mut out);
    assert_eq!(nacks, vec![(1, ext(RepairKind::Nack, 7, 102, 2))]);
    // Not again before the retry time.
    nacks.clear();
    rx.poll(1 + NACK_RETRY_MS - 1, &mut nacks, &mut out);
    assert!(nacks.is_empty());
    rx.data(1, &data(103), 103, 2, &mut out);
    assert_eq!(out, vec![100, 101]);
    rx.poll(1 + NACK_RETRY_MS, &mut nacks, &mut out);
    assert_eq!(nacks, vec![(1, ext(RepairKind::Nack, 7, 102, 1))], "retry");
    // Then after twice the time.
    nacks.clear();
    rx.poll(1 + 3 * NACK_RETRY_MS - 1, &mut nacks, &mut out);
    assert!(nacks.is_empty());
    rx.poll(1 + 3 * NACK_RETRY_MS, &mut nacks, &mut out);
    assert_eq!(
        nacks,
        vec![(1, ext(RepairKind::Nack, 7, 102, 1))],
        "backed off"
    );
    rx.data(1, &data(102), 102, 150, &mut out);
    assert_eq!(out, vec![100, 101, 102, 103, 104, 105]);
    rx.data(1, &data(102), 102, 150, &mut out);
    assert_eq!(
        rx.stats,
        RxStats {
            gaps: 1,
            nacked: 4,
            repaired: 2,
            lost: 0,
            dups: 1
        }
    );
}

#[test]
fn lost_tail_found_by_alive() {
    let mut rx = RepairRx::<u8, u32>::new();
    let mut out = Vec::new();
    rx.data(1, &data(500), 500, 0, &mut out);
    rx.alive(1, &ext(RepairKind::Alive, 7, 502, 0), 30, &mut out);
    let mut nacks = Vec::new();
    rx.poll(30, &mut nacks, &mut out);
    assert_eq!(nacks, vec![(1, ext(RepairKind::Nack, 7, 501, 2))]);
    rx.data(1, &data(502), 502, 31, &mut out);
    rx.data(1, &data(501), 501, 31, &mut out);
    assert_eq!(out, vec![500, 501, 502]);
    // An ALIVE saying nothing new changes nothing.
    rx.alive(1, &ext(RepairKind::Alive, 7, 502, 0), 40, &mut out);
    assert_eq!(rx.missing(), 0);
}

#[test]
fn give_up_after_timeout_or_gone() {
    let mut rx = RepairRx::<u8, u32>::new();
    let mut out = Vec::new();
    let mut nacks = Vec::new();
    rx.data(1, &data(1000), 1000, 0, &mut out);
    rx.data(1, &data(1002), 1002, 0, &mut out);
    rx.poll(GIVE_UP_MS, &mut nacks, &mut out);
    assert_eq!(out, vec![1000, 1002]);
    assert_eq!(rx.stats.lost, 1);
    // The sender says it no longer has 1004.
    rx.data(1, &data(1005), 1005, 2000, &mut out);
    rx.data(1, &data(1003), 1003, 2000, &mut out);
    rx.gone(1, &ext(RepairKind::Gone, 7, 1004, 1), &mut out);
    assert_eq!(out, vec![1000, 1002, 1003, 1005]);
    assert_eq!(rx.stats.lost, 2);
    // A late copy of a frame given up on is not handed on.
    rx.data(1, &data(1004), 1004, 2001, &mut out);
    assert_eq!(out.len(), 4);
}

#[test]
fn restart_and_resync() {
    let mut rx = RepairRx::<u8, u32>::new();
    let mut out = Vec::new();
    let mut nacks = Vec::new();
    rx.data(1, &data(9000), 9000, 0, &mut out);
    rx.data(1, &data(9002), 9002, 0, &mut out);
    // The sender restarted (new epoch) and its first two frames were
    // lost: the old stream's held frame goes on, the new one's start is
    // asked for.
    rx.data(1, &ext(RepairKind::Data, 8, 3, 0), 3, 1, &mut out);
    assert_eq!(out, vec![9000, 9002]);
    rx.poll(1, &mut nacks, &mut out);
    assert_eq!(nacks, vec![(1, ext(RepairKind::Nack, 8, 1, 2))]);
    // Frames of the old stream now: a new start again, not a gap.
    nacks.clear();
    rx.data(1, &ext(RepairKind::Data, 8, 1, 0), 1, 2, &mut out);
    rx.data(1, &ext(RepairKind::Data, 8, 2, 0), 2, 2, &mut out);
    assert_eq!(out, vec![9000, 9002, 1, 2, 3]);
    // A jump far beyond MAX_GAP (forged or a long outage): no hold.
    rx.data(1, &ext(RepairKind::Data, 8, 100_000, 0), 4, 3, &mut out);
    assert_eq!(*out.last().unwrap_or(&0), 4);
    assert_eq!(rx.missing(), 0);
    // Numbers wrap.
    let mut rx = RepairRx::<u8, u32>::new();
    out.clear();
    rx.data(2, &data(u32::MAX - 1), 1, 0, &mut out);
    rx.data(2, &data(0), 3, 0, &mut out);
    rx.data(2, &data(u32::MAX), 2, 0, &mut out);
    assert_eq!(out, vec![1, 2, 3]);
}

#[test]
fn senders_are_separate_and_bounded() {
    let mut rx = RepairRx::<u8, u32>::new();
    let mut out = Vec::new();
    rx.data(1, &data(100), 1, 0, &mut out);
    rx.data(2, &data(100), 2, 0, &mut out);
    rx.data(2, &data(102), 3, 0, &mut out);
    rx.data(1, &data(101), 4, 0, &mut out);
    assert_eq!(out, vec![1, 2, 4]);
    for k in 3..40u8 {
        rx.data(k, &data(100), 0, 0, &mut out);
    }
    assert!(rx.streams.len() <= MAX_SENDERS);
}

#[test]
fn lag_percentiles() {
    let mut h = LagHistogram::default();
    for ms in 1..=100 {
        h.record(ms);
    }
    h.record(5000);
    assert_eq!(h.count(), 101);
    assert_eq!(h.percentile(50), 51);
    assert_eq!(h.percentile(99), 100);
    assert_eq!(h.percentile(100), 1000);
    assert_eq!(h.max(), 5000);
    assert_eq!(lag_ms(1000, 1007), Some(7));
    assert_eq!(lag_ms(0, 1007), None);
    assert_eq!(lag_ms(u32::MAX, 1u64 << 32 | 2), Some(3));
    assert_eq!(lag_ms(10, 5), None);
}

#[test]
fn no_retry_while_behind() {
    let mut rx = RepairRx::<u8, u32>::new();
    let data = |seq| ext(RepairKind::Data, 7, seq, 0);
    let (mut out, mut nacks) = (Vec::new(), Vec::new());
    rx.data(1, &data(1), 1, 0, &mut out);
    rx.data(1, &data(3), 3, 0, &mut out);
    // Behind: the first NACK all the same.
    rx.set_behind(true);
    rx.poll(0, &mut nacks, &mut out);
    assert_eq!(nacks, vec![(1, ext(RepairKind::Nack, 7, 2, 1))]);
    // No retry while behind...
    nacks.clear();
    rx.poll(NACK_RETRY_MS, &mut nacks, &mut out);
    assert!(nacks.is_empty());
    // ...at once when caught up.
    rx.set_behind(false);
    rx.poll(NACK_RETRY_MS + 1, &mut nacks, &mut out);
    assert_eq!(nacks, vec![(1, ext(RepairKind::Nack, 7, 2, 1))]);
    // The give-up time runs on while behind.
    rx.set_behind(true);
    rx.poll(GIVE_UP_MS, &mut nacks, &mut out);
    assert_eq!(rx.missing(), 0);
    assert_eq!(out, vec![1, 3]);
}

#[test]
fn many_missing_retry_later() {
    let mut rx = RepairRx::<u8, u32>::new();
    let data = |seq| ext(RepairKind::Data, 7, seq, 0);
    let (mut out, mut nacks) = (Vec::new(), Vec::new());
    rx.data(1, &data(1), 1, 0, &mut out);
    rx.data(1, &data(1002), 1002, 0, &mut out);
    rx.poll(0, &mut nacks, &mut out);
    assert_eq!(nacks.len(), 1);
    nacks.clear();
    let wait = 1000 / RESEND_FRAMES_PER_MS;
    assert!(wait > NACK_RETRY_MS);
    rx.poll(wait - 1, &mut nacks, &mut out);
    assert!(nacks.is_empty());
    rx.poll(wait, &mut nacks, &mut out);
    assert_eq!(nacks, vec![(1, ext(RepairKind::Nack, 7, 2, 1000))]);
}

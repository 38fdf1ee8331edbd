//! The state machine of one carp vhid (OpenBSD's carp_vhost_entry): INIT,
//! BACKUP, MASTER, its two timers and the election rules of wire-facts §1.8
//! and §1.9. Pure: time comes in as a monotonic `Duration`, packets come in
//! parsed, and what the caller must do comes back as `Action`s.
//!
//! Timers: a MASTER advertises every advbase + advskew/256 s (1/256 s at
//! the least), each deadline counted from the one before, not from when
//! the caller got round to it, so the period holds on average; a BACKUP
//! takes over 3 × advbase + advskew/256 s after the last advertisement
//! (advbase 0 counting as 1/256 s), the rule of RFC 3768's
//! Master_Down_Interval, of ucarp and of OpenBSD before 2016.
//!
//! Dual stack (an inet and an inet6 address on one carp interface): one
//! vhid, one state, but a master-down timer per address family, as
//! OpenBSD's md_tmo and md6_tmo: an IPv4 advertisement restarts only the
//! IPv4 timer, so a backup that stops hearing either family takes over.

use super::config::CarpState;
use std::time::Duration;

/// advbase/advskew 255/255 marks the last advertisement of a master that is
/// going away ("bow out").
pub const BOW_OUT: u8 = 255;

/// The address family an advertisement came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Inet = 0,
    Inet6 = 1,
}

/// The timing and demotion fields of a received advertisement, after the
/// caller checked TTL, checksum, version and HMAC, and its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    pub advbase: u8,
    pub advskew: u8,
    pub demote: u8,
    pub family: Family,
}

impl Advert {
    pub fn is_bow_out(&self) -> bool {
        self.advbase == BOW_OUT && self.advskew == BOW_OUT
    }
}

/// What the caller must do after feeding the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement now with the current advbase/advskew; when
    /// `bow_out` is set, with 255/255 instead.
    SendAdvert { bow_out: bool },
    /// The state changed: MASTER brings the virtual addresses up, BACKUP and
    /// INIT withdraw them.
    Transition { from: CarpState, to: CarpState },
    /// Announce the virtual addresses (gratuitous ARP, unsolicited NA).
    SendGratuitous,
}

/// Up to four actions come out of one event; no allocation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Actions {
    items: [Option<Action>; 4],
    len: usize,
}

impl Actions {
    fn push(&mut self, a: Action) {
        if self.len < self.items.len() {
            self.items[self.len] = Some(a);
            self.len += 1;
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = Action> + '_ {
        self.items[..self.len].iter().flatten().copied()
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn contains(&self, a: Action) -> bool {
        self.iter().any(|x| x == a)
    }
}

/// Interval between advertisements: advbase + advskew/256 seconds, and
/// 1/256 s when both are zero (as OpenBSD computes it, in microseconds).
pub fn interval(advbase: u8, advskew: u8) -> Duration {
    let us = advbase as u64 * 1_000_000 + advskew as u64 * 1_000_000 / 256;
    Duration::from_micros(if us == 0 { 1_000_000 / 256 } else { us })
}

/// Master-down timeout of a vhid with this advbase and advskew:
/// 3 × advbase + advskew/256 s, advbase 0 counting as 1/256 s (at
/// advbase 0 advskew 1 vs 2 the backup waits 19.5 ms, five periods of
/// the master's 3.9 ms).
pub fn master_down(advbase: u8, advskew: u8) -> Duration {
    let base = (advbase as u64 * 1_000_000).max(1_000_000 / 256);
    Duration::from_micros(3 * base + advskew as u64 * 1_000_000 / 256)
}

/// The first multiple of `iv` on the clock after `now`: when a MASTER's
/// next advertisement is due. Every vhid with the same interval
/// advertises in the same wake-up, so a crash leaves the backup's
/// master-down timers of all of them running from the same moment (the
/// last of several staggered ones would take over up to an interval
/// later), and an interval is never longer than `iv`.
pub fn next_tick(now: Duration, iv: Duration) -> Duration {
    let iv_ns = iv.as_nanos().max(1);
    let k = now.as_nanos() / iv_ns + 1;
    Duration::from_nanos(u64::try_from(k * iv_ns).unwrap_or(u64::MAX))
}

/// (seconds, microseconds) pair compared the way OpenBSD compares timevals.
fn tv(advbase: u64, advskew: u8) -> (u64, u64) {
    (advbase, advskew as u64 * 1_000_000 / 256)
}

/// One vhid's election state.
#[derive(Debug, Clone)]
pub struct Vhid {
    state: CarpState,
    advbase: u8,
    advskew: u8,
    /// Next advertisement (MASTER only).
    ad_deadline: Option<Duration>,
    /// Master-down timers (BACKUP only), IPv4 and IPv6.
    md_deadline: [Option<Duration>; 2],
    /// The families the interface has addresses of (and so sends and
    /// expects advertisements by): IPv4, IPv6.
    families: [bool; 2],
    /// Advertisements left before the delayed second round of gratuitous
    /// ARP; None when none is pending.
    delayed_arp: Option<u8>,
    /// Transitions to MASTER (OpenBSD's `preempt` statistic).
    pub became_master: u64,
    /// Times this MASTER stepped down for an advertisement with the same
    /// advbase, advskew and demotion as its own (an election tie: both
    /// step down, as on OpenBSD).
    pub ties_lost: u64,
}

impl Vhid {
    pub fn new(advbase: u8, advskew: u8) -> Vhid {
        Vhid {
            state: CarpState::Init,
            advbase,
            advskew,
            ad_deadline: None,
            md_deadline: [None; 2],
            families: [true, false],
            delayed_arp: None,
            became_master: 0,
            ties_lost: 0,
        }
    }

    pub fn state(&self) -> CarpState {
        self.state
    }

    pub fn advbase(&self) -> u8 {
        self.advbase
    }

    pub fn advskew(&self) -> u8 {
        self.advskew
    }

    pub fn interval(&self) -> Duration {
        interval(self.advbase, self.advskew)
    }

    /// Master-down timeout: 3 × advbase + advskew/256 s, advbase 0
    /// counting as 1/256 s.
    pub fn master_down_interval(&self) -> Duration {
        master_down(self.advbase, self.advskew)
    }

    /// The families whose advertisements this vhid sends and waits for
    /// (those it has addresses of; IPv4 alone until told). A BACKUP arms
    /// the timer of a family that appears and drops that of one that goes.
    pub fn set_families(&mut self, inet: bool, inet6: bool, now: Duration) {
        let new = [inet, inet6];
        if new == self.families {
            return;
        }
        let old = self.families;
        self.families = new;
        if self.state == CarpState::Backup {
            for (i, (&was, &is)) in old.iter().zip(new.iter()).enumerate() {
                if is && !was {
                    self.md_deadline[i] = Some(now + self.master_down_interval());
                } else if !is {
                    self.md_deadline[i] = None;
                }
            }
        }
    }

    /// Whether advertisements go out by IPv4 and by IPv6.
    pub fn families(&self) -> [bool; 2] {
        self.families
    }

    /// The earliest time `on_timer` has something to do.
    pub fn next_deadline(&self) -> Option<Duration> {
        [self.ad_deadline, self.md_deadline[0], self.md_deadline[1]]
            .into_iter()
            .flatten()
            .min()
    }

    fn master_down_due(&self, now: Duration) -> bool {
        self.md_deadline.iter().flatten().any(|&d| d <= now)
    }

    fn set_state(&mut self, to: CarpState, out: &mut Actions) {
        if self.state != to {
            out.push(Action::Transition {
                from: self.state,
                to,
            });
            self.state = to;
        }
    }

    /// carp_setrun: arm the timer that belongs to the current state; a
    /// BACKUP restarts the master-down timer of `af` only, or of every
    /// family it has addresses of.
    fn setrun_af(&mut self, now: Duration, af: Option<Family>) {
        match self.state {
            CarpState::Init => {
                self.ad_deadline = None;
                self.md_deadline = [None; 2];
            }
            CarpState::Backup => {
                self.ad_deadline = None;
                let at = Some(now + self.master_down_interval());
                match af {
                    Some(f) => self.md_deadline[f as usize] = at,
                    None => {
                        for i in 0..2 {
                            self.md_deadline[i] = if self.families[i] { at } else { None };
                        }
                    }
                }
            }
            CarpState::Master => {
                self.md_deadline = [None; 2];
                self.ad_deadline = Some(next_tick(now, self.interval()));
            }
        }
    }

    fn setrun(&mut self, now: Duration) {
        self.setrun_af(now, None)
    }

    /// An advertisement goes out: count down the delayed ARP round. The
    /// next one is due at the next multiple of the interval on the clock
    /// (`next_tick`): one interval after the deadline this one was for,
    /// so a late wake-up does not stretch the period, and at most one
    /// interval after `now` when there was none or it is far behind.
    fn send_ad(&mut self, now: Duration, out: &mut Actions) {
        out.push(Action::SendAdvert { bow_out: false });
        if let Some(n) = self.delayed_arp {
            let n = n.saturating_sub(1);
            if n == 0 {
                out.push(Action::SendGratuitous);
                self.delayed_arp = None;
            } else {
                self.delayed_arp = Some(n);
            }
        }
        self.ad_deadline = Some(next_tick(now, self.interval()));
    }

    /// carp_master_down: a BACKUP takes over.
    fn master_down(&mut self, now: Duration, out: &mut Actions) {
        if self.state != CarpState::Backup {
            return;
        }
        self.set_state(CarpState::Master, out);
        self.md_deadline = [None; 2];
        self.send_ad(now, out);
        out.push(Action::SendGratuitous);
        self.delayed_arp = Some(2);
        self.became_master += 1;
    }

    /// The vhid becomes able to run (interface up, vhid and address set,
    /// carpdev up) or stops being able to. Going from running to not running
    /// while MASTER sends the bow-out advertisement first.
    pub fn set_runnable(&mut self, runnable: bool, now: Duration) -> Actions {
        let mut out = Actions::default();
        match (runnable, self.state) {
            (true, CarpState::Init) => {
                self.set_state(CarpState::Backup, &mut out);
                self.setrun(now);
            }
            (true, _) => {}
            (false, CarpState::Init) => {}
            (false, st) => {
                if st == CarpState::Master {
                    out.push(Action::SendAdvert { bow_out: true });
                }
                self.set_state(CarpState::Init, &mut out);
                self.delayed_arp = None;
                self.setrun(now);
            }
        }
        out
    }

    /// The carpdev went away or down: no bow-out is possible, just INIT.
    pub fn suppress(&mut self, now: Duration) -> Actions {
        let mut out = Actions::default();
        self.set_state(CarpState::Init, &mut out);
        self.delayed_arp = None;
        self.setrun(now);
        out
    }

    /// New advbase/advskew. A MASTER advertises the change at once.
    pub fn set_timing(&mut self, advbase: u8, advskew: u8, now: Duration) -> Actions {
        let mut out = Actions::default();
        if (advbase, advskew) == (self.advbase, self.advskew) {
            return out;
        }
        self.advbase = advbase;
        self.advskew = advskew;
        match self.state {
            CarpState::Master => {
                self.ad_deadline = None;
                self.send_ad(now, &mut out)
            }
            _ => self.setrun(now),
        }
        out
    }

    /// `state backup|master|init` from the administrator.
    pub fn force_state(&mut self, to: CarpState, now: Duration) -> Actions {
        let mut out = Actions::default();
        match to {
            CarpState::Master => {
                if self.state == CarpState::Backup {
                    self.master_down(now, &mut out);
                }
            }
            CarpState::Backup => {
                if self.state != CarpState::Init {
                    self.set_state(CarpState::Backup, &mut out);
                    self.delayed_arp = None;
                    self.setrun(now);
                }
            }
            CarpState::Init => {
                self.set_state(CarpState::Init, &mut out);
                self.setrun(now);
            }
        }
        out
    }

    /// This host's advertised demotion changed: a MASTER tells its peers at
    /// once instead of waiting for the next period.
    pub fn demote_changed(&mut self, now: Duration) -> Actions {
        let mut out = Actions::default();
        if self.state == CarpState::Master {
            self.ad_deadline = None;
            self.send_ad(now, &mut out);
        }
        out
    }

    /// Fire whatever timer is due.
    pub fn on_timer(&mut self, now: Duration) -> Actions {
        let mut out = Actions::default();
        match self.state {
            CarpState::Master => {
                if self.ad_deadline.is_some_and(|d| d <= now) {
                    self.send_ad(now, &mut out);
                }
            }
            CarpState::Backup => {
                if self.master_down_due(now) {
                    self.master_down(now, &mut out);
                }
            }
            CarpState::Init => {}
        }
        out
    }

    /// A valid advertisement from another host for this vhid arrived.
    /// `my_demote` is the demotion this host advertises; `preempt` is
    /// net.inet.carp.preempt.
    pub fn on_advert(
        &mut self,
        ad: &Advert,
        my_demote: u8,
        preempt: bool,
        now: Duration,
    ) -> Actions {
        let mut out = Actions::default();
        let mine = tv(self.advbase as u64, self.advskew);
        let theirs = tv(ad.advbase as u64, ad.advskew);
        match self.state {
            CarpState::Init => {}
            CarpState::Master => {
                // M1/M2: step down for a more frequent (or equal) master that
                // is not more demoted, or for any less demoted one.
                if (mine >= theirs && ad.demote <= my_demote) || ad.demote < my_demote {
                    if mine == theirs && ad.demote == my_demote {
                        self.ties_lost += 1;
                    }
                    self.set_state(CarpState::Backup, &mut out);
                    self.delayed_arp = None;
                    self.setrun(now);
                }
            }
            CarpState::Backup => {
                if preempt && mine < theirs && ad.demote >= my_demote {
                    // B1: pre-empt a slower master.
                    self.master_down(now, &mut out);
                } else if ad.demote > my_demote {
                    // B2: the master is more demoted than we are.
                    self.master_down(now, &mut out);
                } else if ad.is_bow_out()
                    || self.master_down_interval() < interval(ad.advbase, ad.advskew)
                {
                    // B3: the master will time out anyway (or said goodbye).
                    // OpenBSD compares 3 × advbase + advskew/256 with the
                    // master's interval and skips this when our advbase is
                    // 0, so a bow-out would wait for the master-down timer;
                    // we compare our master-down timeout, whatever advbase.
                    self.master_down(now, &mut out);
                } else {
                    self.setrun_af(now, Some(ad.family));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn ad(advbase: u8, advskew: u8, demote: u8) -> Advert {
        Advert {
            advbase,
            advskew,
            demote,
            family: Family::Inet,
        }
    }

    #[test]
    fn dual_stack_master_down_per_family() {
        let mut v = Vhid::new(1, 100);
        v.set_families(true, true, s(0.0));
        v.set_runnable(true, s(0.0));
        assert_eq!(v.next_deadline(), Some(s(0.0) + v.master_down_interval()));
        // IPv4 and IPv6 advertisements keep it waiting.
        for i in 1..5 {
            let t = s(i as f64);
            assert!(v.on_advert(&ad(1, 0, 0), 0, false, t).is_empty());
            let a6 = Advert {
                family: Family::Inet6,
                ..ad(1, 0, 0)
            };
            assert!(v.on_advert(&a6, 0, false, t).is_empty());
        }
        assert_eq!(v.state(), CarpState::Backup);
        // Only IPv4 heard from now on: the IPv6 timer runs out.
        for i in 5..8 {
            assert!(v.on_advert(&ad(1, 0, 0), 0, false, s(i as f64)).is_empty());
        }
        let md = v.master_down_interval();
        assert_eq!(v.next_deadline(), Some(s(4.0) + md));
        let a = v.on_timer(s(4.0) + md);
        assert!(a.contains(Action::Transition {
            from: CarpState::Backup,
            to: CarpState::Master
        }));
        // The next advertisement on the interval's grid, within one.
        let next = v.next_deadline().unwrap();
        assert_eq!(next, next_tick(s(4.0) + md, v.interval()));
        assert!(next > s(4.0) + md && next <= s(4.0) + md + v.interval());
        // IPv6 only: an IPv4 timer is never armed.
        let mut w = Vhid::new(1, 0);
        w.set_families(false, true, s(0.0));
        w.set_runnable(true, s(0.0));
        let a6 = Advert {
            family: Family::Inet6,
            ..ad(1, 0, 0)
        };
        assert!(w.on_advert(&a6, 0, false, s(2.0)).is_empty());
        assert!(w.on_timer(s(4.5)).is_empty());
        assert_eq!(w.next_deadline(), Some(s(5.0)));
        // A family added while BACKUP gets its timer; one removed, none.
        w.set_families(true, false, s(3.0));
        assert_eq!(w.next_deadline(), Some(s(6.0)));
    }

    #[test]
    fn intervals() {
        assert_eq!(interval(1, 0), s(1.0));
        assert_eq!(interval(0, 0), Duration::from_micros(3906));
        assert_eq!(interval(1, 100), Duration::from_micros(1_390_625));
        let v = Vhid::new(1, 100);
        assert_eq!(v.master_down_interval(), Duration::from_micros(3_390_625));
        // advbase 0: 1/256 s stands for advbase.
        assert_eq!(master_down(0, 2), Duration::from_micros(3 * 3906 + 7812));
        assert_eq!(master_down(0, 0), Duration::from_micros(3 * 3906));
        assert!(master_down(0, 2) <= s(0.020));
    }

    #[test]
    fn backup_times_out_to_master() {
        let mut v = Vhid::new(1, 0);
        let a = v.set_runnable(true, s(0.0));
        assert!(a.contains(Action::Transition {
            from: CarpState::Init,
            to: CarpState::Backup
        }));
        assert_eq!(v.next_deadline(), Some(s(3.0)));
        assert!(v.on_timer(s(2.9)).is_empty());
        let a = v.on_timer(s(3.0));
        assert!(a.contains(Action::Transition {
            from: CarpState::Backup,
            to: CarpState::Master
        }));
        assert!(a.contains(Action::SendAdvert { bow_out: false }));
        assert!(a.contains(Action::SendGratuitous));
        assert_eq!(v.state(), CarpState::Master);
        assert_eq!(v.next_deadline(), Some(s(4.0)));
        assert_eq!(v.became_master, 1);
    }

    #[test]
    fn delayed_arp_after_two_more_ads() {
        let mut v = Vhid::new(1, 0);
        v.set_runnable(true, s(0.0));
        v.on_timer(s(3.0));
        let a = v.on_timer(s(4.0));
        assert!(!a.contains(Action::SendGratuitous));
        let a = v.on_timer(s(5.0));
        assert!(a.contains(Action::SendGratuitous));
        let a = v.on_timer(s(6.0));
        assert!(!a.contains(Action::SendGratuitous));
    }

    #[test]
    fn adverts_keep_backup_waiting() {
        let mut v = Vhid::new(1, 128);
        v.set_runnable(true, s(0.0));
        for i in 1..10 {
            let a = v.on_advert(&ad(1, 0, 0), 0, false, s(i as f64));
            assert!(a.is_empty());
        }
        assert_eq!(v.state(), CarpState::Backup);
        assert_eq!(v.next_deadline(), Some(s(9.0) + v.master_down_interval()));
    }

    #[test]
    fn master_steps_down_for_more_frequent_or_equal() {
        let mut v = Vhid::new(1, 100);
        v.set_runnable(true, s(0.0));
        v.force_state(CarpState::Master, s(0.0));
        assert_eq!(v.state(), CarpState::Master);
        // Slower master: stay.
        assert!(v.on_advert(&ad(1, 200, 0), 0, false, s(1.0)).is_empty());
        // Equal: both step down (no tie-break in OpenBSD).
        let a = v.on_advert(&ad(1, 100, 0), 0, false, s(1.0));
        assert!(a.contains(Action::Transition {
            from: CarpState::Master,
            to: CarpState::Backup
        }));
    }

    #[test]
    fn advertisements_keep_their_period_when_woken_late() {
        let mut v = Vhid::new(0, 1);
        v.set_runnable(true, s(0.0));
        v.force_state(CarpState::Master, s(0.0));
        let iv = v.interval();
        assert_eq!(iv, Duration::from_micros(3906));
        let mut sent = 0;
        let mut now = Duration::ZERO;
        // Wake up 1 ms late every time: still one advertisement per period.
        while now < s(1.0) {
            let d = v.next_deadline().unwrap();
            now = d + Duration::from_millis(1);
            if v.on_timer(now)
                .contains(Action::SendAdvert { bow_out: false })
            {
                sent += 1;
            }
        }
        assert!((255..=257).contains(&sent), "{sent}");
        // Far behind (a stall): start again from now instead of bursting.
        let d = v.next_deadline().unwrap();
        v.on_timer(d + s(0.5));
        let next = v.next_deadline().unwrap();
        assert!(next > d + s(0.5) && next <= d + s(0.5) + iv, "{next:?}");
    }

    #[test]
    fn masters_with_one_interval_advertise_together() {
        // Two vhids become MASTER at different times: their advertisements
        // fall on the same instants from then on.
        let mut a = Vhid::new(0, 1);
        let mut b = Vhid::new(0, 1);
        for v in [&mut a, &mut b] {
            v.set_runnable(true, s(0.0));
        }
        a.force_state(CarpState::Master, s(0.1001));
        b.force_state(CarpState::Master, s(0.1027));
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        for _ in 0..6 {
            let d = a.next_deadline().unwrap();
            ta.push(d);
            a.on_timer(d + Duration::from_micros(30));
        }
        for _ in 0..5 {
            let d = b.next_deadline().unwrap();
            tb.push(d);
            b.on_timer(d);
        }
        // a's first is before b became MASTER; the rest are b's.
        assert!(ta[0] < s(0.1027));
        assert_eq!(ta[1..], tb[..]);
        assert_eq!(next_tick(s(0.0), s(1.0)), s(1.0));
        assert_eq!(next_tick(s(1.0), s(1.0)), s(2.0));
        assert_eq!(next_tick(s(1.5), s(1.0)), s(2.0));
    }

    #[test]
    fn ties_are_counted() {
        let mut v = Vhid::new(0, 1);
        v.set_runnable(true, s(0.0));
        v.force_state(CarpState::Master, s(0.0));
        v.on_advert(&ad(0, 1, 0), 0, false, s(0.01));
        assert_eq!((v.state(), v.ties_lost), (CarpState::Backup, 1));
        v.force_state(CarpState::Master, s(0.02));
        // A better master is no tie.
        v.on_advert(&ad(0, 0, 0), 0, false, s(0.03));
        assert_eq!((v.state(), v.ties_lost), (CarpState::Backup, 1));
    }

    #[test]
    fn backup_with_advbase_0() {
        let mut v = Vhid::new(0, 2);
        v.set_runnable(true, s(0.0));
        // A master at advskew 1 keeps it waiting.
        for i in 1..100 {
            assert!(v
                .on_advert(&ad(0, 1, 0), 0, false, s(i as f64 * 0.0039))
                .is_empty());
        }
        let last = s(99.0 * 0.0039);
        assert_eq!(
            v.next_deadline(),
            Some(last + Duration::from_micros(19_530))
        );
        // A master slower than our master-down timeout is taken over at once.
        let a = v.on_advert(&ad(0, 200, 0), 0, false, last);
        assert!(a.contains(Action::Transition {
            from: CarpState::Backup,
            to: CarpState::Master
        }));
    }

    #[test]
    fn demotion_beats_timing() {
        let mut v = Vhid::new(1, 0);
        v.set_runnable(true, s(0.0));
        v.force_state(CarpState::Master, s(0.0));
        // A slower but less demoted master wins (M2).
        let a = v.on_advert(&ad(1, 200, 0), 1, false, s(1.0));
        assert!(a.contains(Action::Transition {
            from: CarpState::Master,
            to: CarpState::Backup
        }));
        // B2: a backup takes over from a more demoted master without preempt.
        let a = v.on_advert(&ad(1, 0, 33), 1, false, s(2.0));
        assert!(a.contains(Action::Transition {
            from: CarpState::Backup,
            to: CarpState::Master
        }));
    }

    #[test]
    fn preemption() {
        let mut v = Vhid::new(1, 0);
        v.set_runnable(true, s(0.0));
        // Without preempt a faster backup waits.
        assert!(v.on_advert(&ad(1, 128, 0), 0, false, s(1.0)).is_empty());
        assert_eq!(v.state(), CarpState::Backup);
        // With preempt it takes over.
        let a = v.on_advert(&ad(1, 128, 0), 0, true, s(2.0));
        assert!(a.contains(Action::Transition {
            from: CarpState::Backup,
            to: CarpState::Master
        }));
        // But not from a master that is less demoted than us.
        let mut w = Vhid::new(1, 0);
        w.set_runnable(true, s(0.0));
        assert!(w.on_advert(&ad(1, 128, 0), 32, true, s(1.0)).is_empty());
    }

    #[test]
    fn bow_out_means_immediate_takeover() {
        let mut master = Vhid::new(1, 0);
        master.set_runnable(true, s(0.0));
        master.force_state(CarpState::Master, s(0.0));
        let a = master.set_runnable(false, s(5.0));
        assert!(a.contains(Action::SendAdvert { bow_out: true }));
        assert_eq!(master.state(), CarpState::Init);

        let mut backup = Vhid::new(1, 128);
        backup.set_runnable(true, s(0.0));
        let a = backup.on_advert(&ad(BOW_OUT, BOW_OUT, 0), 0, false, s(5.0));
        assert!(a.contains(Action::Transition {
            from: CarpState::Backup,
            to: CarpState::Master
        }));
        // Also with a sub-second advbase of 0, where OpenBSD's B3 rule would
        // not fire.
        let mut fast = Vhid::new(0, 60);
        fast.set_runnable(true, s(0.0));
        let a = fast.on_advert(&ad(BOW_OUT, BOW_OUT, 0), 0, false, s(0.1));
        assert!(a.contains(Action::Transition {
            from: CarpState::Backup,
            to: CarpState::Master
        }));
    }

    #[test]
    fn suppress_and_init_ignore_adverts() {
        let mut v = Vhid::new(1, 0);
        v.set_runnable(true, s(0.0));
        v.suppress(s(1.0));
        assert_eq!(v.state(), CarpState::Init);
        assert!(v.on_advert(&ad(1, 0, 200), 0, true, s(2.0)).is_empty());
        assert!(v.on_timer(s(100.0)).is_empty());
        assert_eq!(v.next_deadline(), None);
    }
}

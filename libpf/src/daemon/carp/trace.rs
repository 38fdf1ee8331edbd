//! The timing of one takeover, for `net.inet.carp.log` 7 (LOG_DEBUG):
//! how late the master-down timer fired and when each step of becoming
//! MASTER ended, in microseconds from the timer's deadline, logged as
//! one line per virtual host. The deadline is also given in Unix time
//! (microseconds), to line the steps up with a packet capture.

use std::fmt::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const STEPS: usize = 8;

pub(super) struct Takeover {
    /// When the master-down deadline was, on the monotonic clock.
    deadline: Instant,
    /// The same instant in Unix time (µs).
    deadline_unix_us: u128,
    /// How late the thread got to it.
    late: Duration,
    steps: [(&'static str, Duration); STEPS],
    n: usize,
}

impl Takeover {
    /// A takeover whose timer fired `late` after its deadline, now.
    pub(super) fn new(late: Duration) -> Takeover {
        let now = Instant::now();
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(late);
        Takeover {
            deadline: now.checked_sub(late).unwrap_or(now),
            deadline_unix_us: unix.as_micros(),
            late,
            steps: [("", Duration::ZERO); STEPS],
            n: 0,
        }
    }

    /// `step` ended now.
    pub(super) fn mark(&mut self, step: &'static str) {
        if self.n < STEPS {
            self.steps[self.n] = (step, self.deadline.elapsed());
            self.n += 1;
        }
    }

    /// "carp1: takeover: deadline 1733350000.123456, timer +45 us,
    /// transition +60 us, ..." (µs after the deadline).
    pub(super) fn line(&self, name: &str) -> String {
        let mut s = format!(
            "{name}: takeover: deadline {}.{:06}, timer +{} us",
            self.deadline_unix_us / 1_000_000,
            self.deadline_unix_us % 1_000_000,
            self.late.as_micros()
        );
        for (step, at) in &self.steps[..self.n] {
            let _ = write!(s, ", {step} +{} us", at.as_micros());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_in_order_after_the_deadline() {
        let mut t = Takeover::new(Duration::from_micros(250));
        t.mark("advert");
        t.mark("up");
        let l = t.line("carp1");
        assert!(l.starts_with("carp1: takeover: deadline "), "{l}");
        assert!(l.contains(", timer +250 us, advert +"), "{l}");
        let at = |k: &str| -> u128 {
            let i = l.find(k).unwrap() + k.len();
            l[i..].split(' ').next().unwrap().parse().unwrap()
        };
        assert!(at("advert +") >= 250);
        assert!(at("up +") >= at("advert +"));
        for _ in 0..20 {
            t.mark("x");
        }
        assert_eq!(t.line("c").matches(", ").count(), 1 + STEPS);
    }
}

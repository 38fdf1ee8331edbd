//! A rate limit (pf_threshold): events counted in a window that decays
//! linearly, as `max-pkt-rate`, `max-src-conn-rate` and the limiters' rates
//! keep them.

/// pf's `PF_THRESHOLD_MULT`: counts are kept in thousandths.
const THRESHOLD_MULT: u64 = 1000;

/// A rate limit (pf_threshold): `limit` events in `seconds`, decaying
/// linearly, in whole seconds of uptime as pf keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Threshold {
    limit: u64,
    seconds: u64,
    count: u64,
    last: u64,
}

impl Threshold {
    pub fn new(limit: u32, seconds: u32, now_s: u64) -> Threshold {
        Threshold {
            limit: limit as u64 * THRESHOLD_MULT,
            seconds: seconds as u64,
            count: 0,
            last: now_s,
        }
    }

    /// One more event at `now_s` (pf_add_threshold).
    pub fn add(&mut self, now_s: u64) {
        let diff = now_s.saturating_sub(self.last);
        if diff >= self.seconds {
            self.count = 0;
        } else {
            self.count -= self.count * diff / self.seconds;
        }
        self.count += THRESHOLD_MULT;
        self.last = now_s;
    }

    /// The count (thousandths of an event) decayed to `now_s`, and the
    /// period in seconds: the estimate DIOCGETSRCNODES reports.
    pub fn estimate(&self, now_s: u64) -> (u64, u64) {
        let diff = now_s.saturating_sub(self.last);
        let c = if diff >= self.seconds {
            0
        } else {
            self.count - self.count * diff / self.seconds
        };
        (c, self.seconds)
    }

    /// Over the limit (pf_check_threshold).
    pub fn exceeded(&self) -> bool {
        self.count > self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_decays_like_pf() {
        let mut t = Threshold::new(2, 10, 100);
        t.add(100);
        t.add(100);
        assert!(!t.exceeded());
        t.add(100);
        assert!(t.exceeded());
        // Half the window later half the count is gone.
        t.add(105);
        assert_eq!(t.count, 2500);
        assert!(t.exceeded());
        // A whole window later it starts over.
        t.add(115);
        assert_eq!(t.count, 1000);
        assert!(!t.exceeded());
        // A zero window never divides by zero.
        let mut z = Threshold::new(1, 0, 0);
        z.add(0);
        z.add(0);
        assert!(!z.exceeded());
    }
}

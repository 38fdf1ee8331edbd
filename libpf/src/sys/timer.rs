//! A timerfd on CLOCK_MONOTONIC and a wait for it or a socket: how the
//! CARP thread sleeps until its next deadline (to the microsecond, not a
//! receive timeout's jiffy) or until an advertisement arrives. Also the
//! real-time scheduling class for such a thread: libc's
//! pthread_setschedparam, which nix does not wrap.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{self, ClockId, Expiration, TimerFlags, TimerSetTimeFlags};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

/// nix's timerfd (timerfd_create/settime behind a safe API).
pub struct TimerFd {
    fd: timerfd::TimerFd,
}

/// What woke [`TimerFd::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    pub timer: bool,
    pub readable: bool,
}

impl TimerFd {
    pub fn new() -> io::Result<TimerFd> {
        let fd = timerfd::TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        Ok(TimerFd { fd })
    }

    /// Fire once at `when` (None disarms). A time already past fires at
    /// once.
    pub fn arm_at(&self, when: Option<Instant>) -> io::Result<()> {
        let Some(w) = when else {
            return Ok(self.fd.unset()?);
        };
        let d = w.saturating_duration_since(Instant::now());
        // Zero would disarm: 1 ns is "now".
        let d = d.max(Duration::from_nanos(1));
        let e = Expiration::OneShot(TimeSpec::from_duration(d));
        Ok(self.fd.set(e, TimerSetTimeFlags::empty())?)
    }

    /// Read off an expiry (so the descriptor is no longer readable).
    fn drain(&self) {
        let mut n = [0u8; 8];
        // EAGAIN is fine: nothing to read off.
        let _ = nix::unistd::read(self.fd.as_fd(), &mut n);
    }

    /// Sleep until the timer fires, `other` is readable or `max` passes.
    pub fn wait(&self, other: BorrowedFd<'_>, max: Duration) -> io::Result<Wake> {
        self.wait_any(&[other], max)
    }

    /// Sleep until the timer fires, one of `others` (at most three) is
    /// readable or `max` passes (`readable`: any of them). No allocation:
    /// the CARP thread calls it up to 256 times a second.
    pub fn wait_any(&self, others: &[BorrowedFd<'_>], max: Duration) -> io::Result<Wake> {
        let n = 1 + others.len().min(3);
        let mut all: [PollFd<'_>; 4] = std::array::from_fn(|i| match i {
            0 => PollFd::new(self.fd.as_fd(), PollFlags::POLLIN),
            i if i < n => PollFd::new(others[i - 1], PollFlags::POLLIN),
            _ => PollFd::new(self.fd.as_fd(), PollFlags::empty()),
        });
        let fds = &mut all[..n];
        let ms = PollTimeout::try_from(max).unwrap_or(PollTimeout::MAX);
        match poll(fds, ms) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {
                return Ok(Wake {
                    timer: false,
                    readable: false,
                })
            }
            Err(e) => return Err(e.into()),
        }
        let has = |i: usize, f: PollFlags| fds[i].revents().is_some_and(|r| r.intersects(f));
        let timer = has(0, PollFlags::POLLIN);
        let readable = (1..fds.len()).any(|i| has(i, PollFlags::POLLIN | PollFlags::POLLERR));
        if timer {
            self.drain();
        }
        Ok(Wake { timer, readable })
    }
}

/// Put the calling thread in SCHED_FIFO at `prio` (as keepalived's
/// vrrp_rt_priority does), so a busy machine does not delay its
/// advertisements by a time slice. Fails without CAP_SYS_NICE.
pub fn realtime(prio: i32) -> io::Result<()> {
    let p = libc::sched_param {
        sched_priority: prio,
    };
    // SAFETY: pthread_self() is the calling thread; p is a valid param.
    let r = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &p) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

/// Put the calling thread back in the normal class (SCHED_OTHER), for a
/// thread that inherited the real-time class and must not keep it.
pub fn normal() -> io::Result<()> {
    let p = libc::sched_param { sched_priority: 0 };
    // SAFETY: pthread_self() is the calling thread; p is a valid param.
    let r = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_OTHER, &p) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_on_time() {
        let t = TimerFd::new().unwrap();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let start = Instant::now();
        t.arm_at(Some(start + Duration::from_micros(3906))).unwrap();
        let w = t.wait(a.as_fd(), Duration::from_secs(1)).unwrap();
        let took = start.elapsed();
        assert!(w.timer && !w.readable, "{w:?}");
        assert!(took >= Duration::from_micros(3906), "{took:?}");
        assert!(took < Duration::from_millis(200), "{took:?}");
        // Disarmed: only the socket wakes it.
        t.arm_at(None).unwrap();
        std::io::Write::write_all(&mut &b, b"x").unwrap();
        let w = t.wait(a.as_fd(), Duration::from_secs(1)).unwrap();
        assert!(!w.timer && w.readable, "{w:?}");
    }
}

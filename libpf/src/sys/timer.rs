//! A timerfd on CLOCK_MONOTONIC and a wait for it or a socket: how the
//! CARP thread sleeps until its next deadline (to the microsecond, not a
//! receive timeout's jiffy) or until an advertisement arrives. Also the
//! real-time scheduling class for such a thread.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

pub struct TimerFd {
    fd: OwnedFd,
}

/// What woke [`TimerFd::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    pub timer: bool,
    pub readable: bool,
}

impl TimerFd {
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: a plain timerfd_create(2) call.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by timerfd_create and is owned here.
        Ok(TimerFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Fire once at `when` (None disarms). A time already past fires at
    /// once.
    pub fn arm_at(&self, when: Option<Instant>) -> io::Result<()> {
        let mut value = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if let Some(w) = when {
            let d = w.saturating_duration_since(Instant::now());
            // Zero would disarm: 1 ns is "now".
            let d = d.max(Duration::from_nanos(1));
            value.tv_sec = d.as_secs() as libc::time_t;
            value.tv_nsec = d.subsec_nanos() as libc::c_long;
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        // SAFETY: a valid timerfd and a valid itimerspec; old value unused.
        let r =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Read off an expiry (so the descriptor is no longer readable).
    fn drain(&self) {
        let mut n = [0u8; 8];
        // SAFETY: reading 8 bytes into an 8-byte buffer; EAGAIN is fine.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), n.as_mut_ptr().cast(), 8) };
    }

    /// Sleep until the timer fires, `other` is readable or `max` passes.
    pub fn wait(&self, other: RawFd, max: Duration) -> io::Result<Wake> {
        let mut fds = [
            libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: other,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = max.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: fds is a valid array of two pollfd for the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(Wake {
                    timer: false,
                    readable: false,
                });
            }
            return Err(e);
        }
        let timer = fds[0].revents & libc::POLLIN != 0;
        if timer {
            self.drain();
        }
        Ok(Wake {
            timer,
            readable: fds[1].revents & (libc::POLLIN | libc::POLLERR) != 0,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_on_time() {
        let t = TimerFd::new().unwrap();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let start = Instant::now();
        t.arm_at(Some(start + Duration::from_micros(3906))).unwrap();
        let w = t.wait(a.as_raw_fd(), Duration::from_secs(1)).unwrap();
        let took = start.elapsed();
        assert!(w.timer && !w.readable, "{w:?}");
        assert!(took >= Duration::from_micros(3906), "{took:?}");
        assert!(took < Duration::from_millis(200), "{took:?}");
        // Disarmed: only the socket wakes it.
        t.arm_at(None).unwrap();
        std::io::Write::write_all(&mut &b, b"x").unwrap();
        let w = t.wait(a.as_raw_fd(), Duration::from_secs(1)).unwrap();
        assert!(!w.timer && w.readable, "{w:?}");
    }
}

//! Local time, as the C library sees it (TZ, /etc/localtime): what
//! pfctl prints for `Cleared:` times. The pure modules take it as a
//! function.
//!
//! libc for localtime_r, which nix does not wrap.

/// `ctime(3)`: `Thu Jan  1 00:00:00 1970\n`, local time.
pub fn ctime(t: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let tt = t as libc::time_t;
    // SAFETY: an all-zero `tm` is valid; localtime_r only writes to it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&tt, &mut tm) }.is_null() {
        return format!("{t}\n");
    }
    format!(
        "{} {}{:3} {:02}:{:02}:{:02} {}\n",
        DAYS[tm.tm_wday.clamp(0, 6) as usize],
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year as i64 + 1900
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_is_ctimes_format() {
        let s = ctime(0);
        assert_eq!(s.len(), 25, "{s:?}");
        assert!(s.ends_with('\n'));
    }

    #[test]
    fn errno_values_are_the_c_librarys() {
        use crate::errno::*;
        let pairs = [
            (EPERM, libc::EPERM),
            (ENOENT, libc::ENOENT),
            (ESRCH, libc::ESRCH),
            (EIO, libc::EIO),
            (ENXIO, libc::ENXIO),
            (ENOMEM, libc::ENOMEM),
            (EBUSY, libc::EBUSY),
            (EEXIST, libc::EEXIST),
            (EISDIR, libc::EISDIR),
            (EINVAL, libc::EINVAL),
            (EMFILE, libc::EMFILE),
            (EFBIG, libc::EFBIG),
            (ERANGE, libc::ERANGE),
        ];
        for (ours, c) in pairs {
            assert_eq!(ours, c);
        }
    }
}

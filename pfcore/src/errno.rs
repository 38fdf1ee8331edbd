//! The errno values pf's requests answer with and pfctl reports, as on
//! Linux (the control protocol carries them between pfd and its tools),
//! and their text. Pure: no libc, so the pure modules can name them.

pub const EPERM: i32 = 1;
pub const ENOENT: i32 = 2;
pub const ESRCH: i32 = 3;
pub const EIO: i32 = 5;
pub const ENXIO: i32 = 6;
pub const ENOMEM: i32 = 12;
pub const EBUSY: i32 = 16;
pub const EEXIST: i32 = 17;
pub const EISDIR: i32 = 21;
pub const EINVAL: i32 = 22;
pub const EMFILE: i32 = 24;
pub const EFBIG: i32 = 27;
pub const ERANGE: i32 = 34;

/// `strerror` with OpenBSD's wording where it differs from glibc's.
pub fn strerror(errno: i32) -> String {
    match errno {
        ERANGE => "Result too large".to_string(),
        EINVAL => "Invalid argument".to_string(),
        _ => {
            // std's text is strerror's, followed by " (os error N)"
            let s = std::io::Error::from_raw_os_error(errno).to_string();
            match s.rfind(" (os error ") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openbsd_wording_and_the_system_text_for_the_rest() {
        assert_eq!(strerror(ERANGE), "Result too large");
        assert_eq!(strerror(EINVAL), "Invalid argument");
        assert_eq!(strerror(ENOENT), "No such file or directory");
        assert_eq!(strerror(EFBIG), "File too large");
    }
}

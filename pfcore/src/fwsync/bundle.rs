//! What the pushing fwsync writes to the peer's `fwsync -r` through ssh:
//! a version line, the options, the configuration text and every file
//! with its mode, each as a header line and its bytes:
//!
//! ```text
//! fwsync 1
//! options dry=0 verbose=0
//! config LEN
//! <LEN bytes>
//! file MODE LEN PATH
//! <LEN bytes>
//! end
//! ```
//!
//! The reader checks everything it is given (absolute paths without `..`,
//! sizes bounded) and fails with a message on the first fault.

use std::io::{self, BufRead, Write};

/// The version this side speaks.
pub const VERSION: u32 = 1;
/// No file (nor the configuration) larger than this.
pub const MAX_FILE: usize = 64 << 20;
/// No more files than this in one push.
pub const MAX_FILES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub mode: u32,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    /// `-n`: show what would change, change nothing.
    pub dry: bool,
    pub verbose: bool,
    /// fwsync.conf's text, as the pushing side read it.
    pub config: String,
    pub files: Vec<File>,
}

impl Bundle {
    pub fn write(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w, "fwsync {VERSION}")?;
        writeln!(
            w,
            "options dry={} verbose={}",
            self.dry as u8, self.verbose as u8
        )?;
        writeln!(w, "config {}", self.config.len())?;
        w.write_all(self.config.as_bytes())?;
        writeln!(w)?;
        for f in &self.files {
            writeln!(w, "file {:o} {} {}", f.mode, f.data.len(), f.path)?;
            w.write_all(&f.data)?;
            writeln!(w)?;
        }
        writeln!(w, "end")?;
        w.flush()
    }

    pub fn read(r: &mut dyn BufRead) -> Result<Bundle, String> {
        let mut b = Bundle::default();
        match line(r)?.as_str() {
            "fwsync 1" => {}
            l if l.starts_with("fwsync ") => {
                return Err(format!("peer speaks {l}, this fwsync version {VERSION}"))
            }
            l => return Err(format!("not an fwsync stream: {l:?}")),
        }
        let opts = line(r)?;
        let opts = opts.strip_prefix("options ").ok_or("expected options")?;
        for o in opts.split(' ') {
            match o {
                "dry=0" | "dry=1" => b.dry = o.ends_with('1'),
                "verbose=0" | "verbose=1" => b.verbose = o.ends_with('1'),
                _ => return Err(format!("unknown option {o}")),
            }
        }
        let len = line(r)?;
        let len = len
            .strip_prefix("config ")
            .ok_or("expected the configuration")?;
        let config = body(r, size(len)?)?;
        b.config = String::from_utf8(config).map_err(|_| "configuration not UTF-8")?;
        loop {
            let l = line(r)?;
            if l == "end" {
                return Ok(b);
            }
            let rest = l
                .strip_prefix("file ")
                .ok_or_else(|| format!("unexpected {l:?}"))?;
            let mut parts = rest.splitn(3, ' ');
            let (Some(mode), Some(len), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("bad file line {l:?}"));
            };
            let mode = u32::from_str_radix(mode, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| format!("bad mode {mode}"))?;
            check_path(path)?;
            if b.files.len() >= MAX_FILES {
                return Err(format!("more than {MAX_FILES} files"));
            }
            if b.files.iter().any(|f| f.path == path) {
                return Err(format!("{path} sent twice"));
            }
            let data = body(r, size(len)?)?;
            b.files.push(File {
                path: path.to_string(),
                mode,
                data,
            });
        }
    }
}

/// An absolute path, without `.` or `..` components or empty ones.
pub fn check_path(p: &str) -> Result<(), String> {
    let rest = p
        .strip_prefix('/')
        .ok_or_else(|| format!("{p}: not absolute"))?;
    if rest.is_empty()
        || rest
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        || p.contains('\0')
    {
        return Err(format!("{p}: not a plain absolute path"));
    }
    Ok(())
}

fn line(r: &mut dyn BufRead) -> Result<String, String> {
    let mut buf = vec![];
    io::Read::take(&mut *r, 4096 + 1)
        .read_until(b'\n', &mut buf)
        .map_err(|e| e.to_string())?;
    match buf.pop() {
        Some(b'\n') => String::from_utf8(buf).map_err(|_| "header not UTF-8".to_string()),
        _ => Err("stream ends early (or a header line is too long)".into()),
    }
}

fn size(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| *n <= MAX_FILE)
        .ok_or_else(|| format!("bad size {s}"))
}

fn body(r: &mut dyn BufRead, len: usize) -> Result<Vec<u8>, String> {
    let mut data = vec![0; len + 1];
    r.read_exact(&mut data)
        .map_err(|_| "stream ends early".to_string())?;
    if data.pop() != Some(b'\n') {
        return Err("no newline after a body".into());
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Bundle {
        Bundle {
            dry: true,
            verbose: false,
            config: "peer fw2\n".into(),
            files: vec![
                File {
                    path: "/etc/pf.conf".into(),
                    mode: 0o600,
                    data: b"pass\n".to_vec(),
                },
                File {
                    path: "/etc/with space".into(),
                    mode: 0o644,
                    data: vec![0, 10, 255],
                },
            ],
        }
    }

    #[test]
    fn round_trip() {
        let mut out = vec![];
        sample().write(&mut out).unwrap();
        assert_eq!(Bundle::read(&mut &out[..]).unwrap(), sample());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut out = vec![];
        sample().write(&mut out).unwrap();
        for n in 0..out.len() {
            assert!(Bundle::read(&mut &out[..n]).is_err(), "cut at {n}");
        }
    }

    #[test]
    fn forged_paths_and_sizes_refused() {
        for bad in [
            "file 644 1 etc/x\nx\nend\n",
            "file 644 1 /etc/../x\nx\nend\n",
            "file 644 1 /etc//x\nx\nend\n",
            "file 644 99999999999 /x\nend\n",
            "file 17777 1 /x\nx\nend\n",
            "file 644 1 /x\nx\nfile 644 1 /x\nx\nend\n",
            "bogus\n",
        ] {
            let s = format!("fwsync 1\noptions dry=0 verbose=0\nconfig 0\n\n{bad}");
            assert!(Bundle::read(&mut s.as_bytes()).is_err(), "{bad}");
        }
        assert!(Bundle::read(&mut &b"fwsync 2\n"[..])
            .unwrap_err()
            .contains("version"));
    }
}

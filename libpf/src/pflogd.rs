//! pflogd(8): reads the logged packets of one pflog interface from pfd's
//! pflog socket (pcap records of pflog header and packet, see
//! `daemon::pflog`) and writes them to a pcap file of link type DLT_PFLOG
//! (`wire::pcap`, `wire::pflog`), cut to the snapshot length; or to
//! standard output (`-f -`) for a live `tcpdump -r -`. SIGHUP reopens the
//! file (after newsyslog moved it); past the size limit the file is moved
//! to FILE.0 and a new one begun. A file whose header is not pflog's (or
//! another snapshot length) is moved aside to FILE.bad, as OpenBSD's does.

use crate::log;
use crate::wire::pcap::{FileHeader, RecordHeader, FILE_HEADER_LEN, RECORD_HEADER_LEN};
use crate::wire::pflog::{Header, DLT_PFLOG, HEADER_LEN};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// OpenBSD's default snapshot length (pflog header and the packet's
/// first 60 bytes).
pub const DEFAULT_SNAPLEN: u32 = 160;
pub const DEFAULT_FILE: &str = "/var/log/pflog";
/// A record longer than this is not pfd's: the stream is dropped.
const RECORD_MAX: u32 = 65_536;

#[derive(Debug, Clone)]
pub struct Options {
    /// The pcap file, `-` for standard output.
    pub file: String,
    pub snaplen: u32,
    /// pfd's pflog socket.
    pub socket: String,
    /// N of pflogN.
    pub unit: u8,
    /// Move the file to FILE.0 past this many bytes (None: never).
    pub max_size: Option<u64>,
}

/// The pflogN interface name as a unit number. Err: not pflogN.
pub fn unit_of(ifname: &str) -> Result<u8, String> {
    ifname
        .strip_prefix("pflog")
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|&n| n < crate::daemon::pflog::UNITS)
        .ok_or_else(|| format!("{ifname}: not a pflog interface (pflog0 to pflog15)"))
}

/// Where records go: a file (with its size) or standard output.
enum Out {
    File { f: io::BufWriter<File>, size: u64 },
    Stdout(io::Stdout),
}

/// The pcap output of pflogd.
pub struct Writer {
    opts: Options,
    out: Out,
}

impl Writer {
    pub fn open(opts: &Options) -> io::Result<Writer> {
        let mut w = Writer {
            opts: opts.clone(),
            out: Out::Stdout(io::stdout()),
        };
        if opts.file == "-" {
            w.put(&w.file_header())?;
            w.flush()?;
        } else {
            w.reopen()?;
        }
        Ok(w)
    }

    fn file_header(&self) -> [u8; FILE_HEADER_LEN] {
        FileHeader {
            snaplen: self.opts.snaplen,
            linktype: DLT_PFLOG,
        }
        .emit()
    }

    /// (Re)opens the file: appends to a pflog file of the same snapshot
    /// length; moves anything else aside to FILE.bad.
    pub fn reopen(&mut self) -> io::Result<()> {
        if self.opts.file == "-" {
            return Ok(());
        }
        let path = self.opts.file.clone();
        let ctx = |e: io::Error| io::Error::new(e.kind(), format!("{path}: {e}"));
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(ctx)?;
        let size = f.metadata().map_err(ctx)?.len();
        let mut head = [0u8; FILE_HEADER_LEN];
        let ours = size >= FILE_HEADER_LEN as u64
            && f.read_exact(&mut head).is_ok()
            && FileHeader::parse(&head)
                .is_ok_and(|h| h.linktype == DLT_PFLOG && h.snaplen == self.opts.snaplen);
        if size > 0 && !ours {
            let bad = format!("{path}.bad");
            log::warning(&format!(
                "{path}: not a pflog file of snaplen {}, moved to {bad}",
                self.opts.snaplen
            ));
            std::fs::rename(&path, &bad).map_err(ctx)?;
            return self.reopen();
        }
        let mut out = io::BufWriter::new(f);
        let mut size = size;
        if size == 0 {
            out.write_all(&self.file_header()).map_err(ctx)?;
            out.flush().map_err(ctx)?;
            size = FILE_HEADER_LEN as u64;
        }
        self.out = Out::File { f: out, size };
        Ok(())
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        match &mut self.out {
            Out::File { f, size } => {
                f.write_all(b)?;
                *size += b.len() as u64;
                Ok(())
            }
            Out::Stdout(s) => s.write_all(b),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Out::File { f, .. } => f.flush(),
            Out::Stdout(s) => s.flush(),
        }
    }

    /// Writes one record (`data`: pflog header and packet), cut to the
    /// snapshot length; rotates past the size limit.
    pub fn record(&mut self, rh: &RecordHeader, data: &[u8]) -> io::Result<()> {
        let cap = data.len().min(self.opts.snaplen as usize);
        let rh = RecordHeader {
            caplen: cap as u32,
            len: rh.len.max(cap as u32),
            ..*rh
        };
        if let (Out::File { size, .. }, Some(max)) = (&self.out, self.opts.max_size) {
            if *size + (RECORD_HEADER_LEN + cap) as u64 > max && *size > FILE_HEADER_LEN as u64 {
                self.rotate()?;
            }
        }
        self.put(&rh.emit())?;
        self.put(&data[..cap])?;
        self.flush()
    }

    /// The full file goes to FILE.0 (replacing the last), a new one begins.
    fn rotate(&mut self) -> io::Result<()> {
        let _ = self.flush();
        let path = &self.opts.file;
        std::fs::rename(path, format!("{path}.0"))
            .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
        self.reopen()
    }
}

/// Takes the complete records at the front of `buf`, gives each to `w`.
/// Err: a record that is not pfd's (the stream is out of step), or the
/// output failed.
fn drain(buf: &mut Vec<u8>, w: &mut Writer) -> io::Result<()> {
    let mut off = 0;
    while buf.len() - off >= RECORD_HEADER_LEN {
        let rh = RecordHeader::parse(&buf[off..]).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("pflog stream: {e}"))
        })?;
        if rh.caplen > RECORD_MAX || (rh.caplen as usize) < HEADER_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "pflog stream: bad record length",
            ));
        }
        let end = off + RECORD_HEADER_LEN + rh.caplen as usize;
        if buf.len() < end {
            break;
        }
        let data = &buf[off + RECORD_HEADER_LEN..end];
        Header::new_checked(data).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("pflog stream: {e}"))
        })?;
        w.record(&rh, data)?;
        off = end;
    }
    buf.drain(..off);
    Ok(())
}

/// Runs until `term`: connects to pfd (again after it went), writes what
/// it logs; SIGHUP (`hup`) reopens the file.
pub fn run(opts: &Options, term: &AtomicBool, hup: &AtomicBool) -> io::Result<()> {
    let mut w = Writer::open(opts)?;
    crate::sys::notify::ready();
    let mut said = false;
    while !term.load(Ordering::Relaxed) {
        let s = match UnixStream::connect(&opts.socket).and_then(|s| {
            (&s).write_all(&[opts.unit])?;
            s.set_read_timeout(Some(Duration::from_millis(500)))?;
            Ok(s)
        }) {
            Ok(s) => s,
            Err(e) => {
                if !said {
                    log::warning(&format!("{}: {e}; waiting for pfd", opts.socket));
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(500));
                check_hup(&mut w, hup)?;
                continue;
            }
        };
        log::info(&format!("reading pflog{} from {}", opts.unit, opts.socket));
        said = false;
        read_stream(&s, &mut w, term, hup)?;
    }
    Ok(())
}

fn check_hup(w: &mut Writer, hup: &AtomicBool) -> io::Result<()> {
    if hup.swap(false, Ordering::Relaxed) {
        w.reopen()?;
    }
    Ok(())
}

/// Reads one connection until pfd closes it. Err: the output failed.
fn read_stream(
    s: &UnixStream,
    w: &mut Writer,
    term: &AtomicBool,
    hup: &AtomicBool,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(65_536);
    let mut chunk = [0u8; 16_384];
    while !term.load(Ordering::Relaxed) {
        check_hup(w, hup)?;
        match (&*s).read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if crate::sys::transient(&e) => continue,
            Err(e) => {
                log::warning(&format!("pflog socket: {e}"));
                return Ok(());
            }
        }
        if let Err(e) = drain(&mut buf, w) {
            if e.kind() == io::ErrorKind::InvalidData {
                log::err(&format!("{e}; reconnecting"));
                return Ok(());
            }
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::pflog::Repr;

    fn opts(dir: &std::path::Path, max: Option<u64>) -> Options {
        Options {
            file: dir.join("pflog").to_string_lossy().into_owned(),
            snaplen: 120,
            socket: String::new(),
            unit: 0,
            max_size: max,
        }
    }

    fn record(payload: usize) -> Vec<u8> {
        let mut data = vec![0u8; HEADER_LEN + payload];
        Repr {
            rulenr: 3,
            ..Repr::default()
        }
        .emit(&mut data)
        .unwrap();
        let rh = RecordHeader {
            sec: 1,
            usec: 2,
            caplen: data.len() as u32,
            len: data.len() as u32,
        };
        let mut b = rh.emit().to_vec();
        b.extend_from_slice(&data);
        b
    }

    fn tmpdir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("pflogd-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn records_are_cut_to_the_snaplen_and_appended() {
        let d = tmpdir("snap");
        let o = opts(&d, None);
        let mut w = Writer::open(&o).unwrap();
        let mut buf = record(60);
        let two = record(10);
        buf.extend_from_slice(&two[..20]);
        drain(&mut buf, &mut w).unwrap();
        assert_eq!(buf.len(), 20, "a partial record waits for the rest");
        buf.extend_from_slice(&two[20..]);
        drain(&mut buf, &mut w).unwrap();
        assert!(buf.is_empty());
        drop(w);
        // Reopened: appended after the same header.
        let mut w = Writer::open(&o).unwrap();
        let mut one = record(0);
        drain(&mut one, &mut w).unwrap();
        let f = std::fs::read(&o.file).unwrap();
        let h = FileHeader::parse(&f).unwrap();
        assert_eq!((h.snaplen, h.linktype), (120, 117));
        let r1 = RecordHeader::parse(&f[24..]).unwrap();
        assert_eq!((r1.caplen, r1.len), (120, 160));
        let r2 = RecordHeader::parse(&f[24 + 16 + 120..]).unwrap();
        assert_eq!((r2.caplen, r2.len), (110, 110));
        assert_eq!(f.len(), 24 + (16 + 120) + (16 + 110) + (16 + 100));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_foreign_file_is_moved_aside_and_the_size_limit_rotates() {
        let d = tmpdir("rotate");
        let o = opts(&d, Some(400));
        std::fs::write(&o.file, b"not a pcap file at all, certainly not").unwrap();
        let mut w = Writer::open(&o).unwrap();
        assert!(std::fs::metadata(format!("{}.bad", o.file)).is_ok());
        for _ in 0..4 {
            let mut r = record(20);
            drain(&mut r, &mut w).unwrap();
        }
        let old = std::fs::metadata(format!("{}.0", o.file)).unwrap().len();
        let new = std::fs::metadata(&o.file).unwrap().len();
        assert_eq!((old, new), (24 + 2 * 136, 24 + 2 * 136));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_stream_out_of_step_is_an_error() {
        let d = tmpdir("bad");
        let mut w = Writer::open(&opts(&d, None)).unwrap();
        let mut junk = vec![0xffu8; 40];
        assert!(drain(&mut junk, &mut w).is_err());
        let mut short = record(0);
        short[16] = 63; // pflog header length field
        assert!(drain(&mut short, &mut w).is_err());
        assert_eq!(unit_of("pflog1"), Ok(1));
        assert!(unit_of("pflog16").is_err() && unit_of("eth0").is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}

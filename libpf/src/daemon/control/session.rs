//! One client connection of the control socket as it passes between the
//! server's loop (while it waits for a frame) and a worker (while its
//! request runs): the socket, who is at the other end, what its requests
//! left open (a ruleset transaction, an address request in chunks) and
//! the frame being read. Replies go out through `Out`, which gives a peer
//! that does not read a deadline instead of a thread.

use super::ruleset::Transaction;
use super::tables::PendingAddrs;
use super::Peer;
use crate::ioctl::assembler::Assembler;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub(super) struct Session {
    /// Non-blocking, always (but for a pfsyncd's stream, handed over).
    pub stream: UnixStream,
    pub peer: Peer,
    /// The server's name for the connection.
    pub token: u64,
    /// Is the peer in the read-only group? (Asked once.)
    pub reader: Option<bool>,
    pub tx: Option<Transaction>,
    pub pending: Option<PendingAddrs>,
    pub frame: Assembler,
}

impl Session {
    pub fn new(stream: UnixStream, peer: Peer, token: u64, max_frame: usize) -> Session {
        Session {
            stream,
            peer,
            token,
            reader: None,
            tx: None,
            pending: None,
            frame: Assembler::new(max_frame),
        }
    }

    /// May the peer make read-only requests (root, or in group `gid`)?
    pub fn may_read(&mut self, gid: Option<u32>) -> bool {
        if self.peer.uid == 0 {
            return true;
        }
        let Some(gid) = gid else { return false };
        *self.reader.get_or_insert_with(|| self.peer.in_group(gid))
    }
}

/// A writer for replies on a non-blocking socket: each frame (from its
/// first write to the `flush` that ends it) must be taken by the peer
/// within the deadline, or the write fails with `TimedOut`.
pub(super) struct Out<'a> {
    stream: &'a UnixStream,
    deadline: Duration,
    started: Option<Instant>,
}

impl<'a> Out<'a> {
    pub fn new(stream: &'a UnixStream, deadline: Duration) -> Out<'a> {
        Out {
            stream,
            deadline,
            started: None,
        }
    }
}

impl Write for Out<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let start = *self.started.get_or_insert_with(Instant::now);
        loop {
            match (&*self.stream).write(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let left = (start + self.deadline)
                        .checked_duration_since(Instant::now())
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))?;
                    wait_writable(self.stream, left)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The end of a frame: the next one has its own deadline.
    fn flush(&mut self) -> io::Result<()> {
        self.started = None;
        Ok(())
    }
}

fn wait_writable(s: &UnixStream, left: Duration) -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(s.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(io::Error::from(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_does_not_read_times_out() {
        let (a, _b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut out = Out::new(&a, Duration::from_millis(200));
        let big = vec![0u8; 8 << 20];
        let t = Instant::now();
        let e = out.write_all(&big).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_reading_peer_gets_it_all() {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            io::Read::read_to_end(&mut &b, &mut v).unwrap();
            v.len()
        });
        {
            let mut out = Out::new(&a, Duration::from_secs(5));
            for _ in 0..4 {
                out.write_all(&vec![1u8; 1 << 20]).unwrap();
                out.flush().unwrap();
            }
        }
        drop(a);
        assert_eq!(reader.join().unwrap(), 4 << 20);
    }
}

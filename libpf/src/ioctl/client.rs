//! A blocking client of pfd's control socket: one request, one reply (or a
//! stream of replies for listings).

use super::frame::{encode, read_frame, FrameError, HEADER_LEN, MAX_REQUEST};
use super::{Error, Reply, Request};
use crate::wire::pfsync::StateRepr;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

pub struct Client {
    stream: UnixStream,
}

impl Client {
    pub fn connect(path: &str) -> Result<Client, Error> {
        let stream = UnixStream::connect(path).map_err(|e| Error::Connect(path.to_string(), e))?;
        Ok(Client { stream })
    }

    /// Connect to $PF_SOCKET or /var/run/pf.sock.
    pub fn connect_default() -> Result<Client, Error> {
        Client::connect(&super::socket_path())
    }

    pub fn set_timeout(&self, t: Option<Duration>) -> Result<(), Error> {
        self.stream.set_read_timeout(t)?;
        self.stream.set_write_timeout(t)?;
        Ok(())
    }

    /// Send a request (no larger than pfd takes: `MAX_REQUEST`).
    pub fn send(&mut self, req: &Request) -> Result<(), Error> {
        let f = encode(req)?;
        let len = f.len() - HEADER_LEN;
        if len > MAX_REQUEST {
            return Err(FrameError::TooLarge {
                len,
                max: MAX_REQUEST,
            }
            .into());
        }
        if let Err(e) = NoSigPipe(&self.stream).write_all(&f) {
            // pfd may have said why it closed the connection (a limit).
            if let Ok(Some(Reply::Error { errno, message })) = read_frame(&mut self.stream) {
                return Err(Error::Daemon { errno, message });
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// The next reply; pfd's errors become `Error::Daemon`.
    pub fn recv(&mut self) -> Result<Reply, Error> {
        match read_frame::<Reply>(&mut self.stream)? {
            None => Err(Error::Protocol("pfd closed the connection".into())),
            Some(Reply::Error { errno, message }) => Err(Error::Daemon { errno, message }),
            Some(r) => Ok(r),
        }
    }

    /// One request, one reply.
    pub fn call(&mut self, req: &Request) -> Result<Reply, Error> {
        self.send(req)?;
        self.recv()
    }

    /// A request answered with `Ok`.
    pub fn call_ok(&mut self, req: &Request) -> Result<(), Error> {
        match self.call(req)? {
            Reply::Ok => Ok(()),
            other => Err(Error::Protocol(format!("expected Ok, got {other:?}"))),
        }
    }

    /// DIOCGETSTATES: all states, collected from the chunks.
    pub fn states(&mut self) -> Result<Vec<StateRepr>, Error> {
        let mut all = Vec::new();
        self.states_each(|chunk| all.extend(chunk))?;
        Ok(all)
    }

    /// The state listing, a chunk at a time as pfd sends it (a million
    /// states need not all be held at once).
    pub fn states_each(&mut self, mut f: impl FnMut(Vec<StateRepr>)) -> Result<(), Error> {
        self.send(&Request::GetStates)?;
        loop {
            match self.recv()? {
                Reply::States(chunk) => f(chunk),
                Reply::Done => return Ok(()),
                other => {
                    return Err(Error::Protocol(format!(
                        "unexpected {other:?} in state listing"
                    )))
                }
            }
        }
    }

    pub fn into_stream(self) -> UnixStream {
        self.stream
    }
}

/// Writes with MSG_NOSIGNAL: a pfd that went away mid-request is an error
/// the tool reports, not a SIGPIPE (the tools die of SIGPIPE only on
/// their output, as OpenBSD's do: see `cli`).
struct NoSigPipe<'a>(&'a UnixStream);

impl Write for NoSigPipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use nix::sys::socket::{send, MsgFlags};
        send(self.0.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL).map_err(io::Error::from)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

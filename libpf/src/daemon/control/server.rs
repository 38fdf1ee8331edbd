//! The control socket's server: one thread with an epoll loop accepts
//! connections, reads every connection's frames incrementally and hands
//! each complete request, with its connection, to a worker of the pool;
//! the worker gives the connection back when it has replied. The loop
//! does only I/O: a long request (a ruleset commit, a listing of a million
//! states) occupies a worker, not the loop. The `limits` are applied here:
//! connections refused at accept, bytes pending, deadlines.

use super::limits::{Closed, Limits, Tells, Usage};
use super::pool::Pool;
use super::session::{Out, Session};
use super::{peer_cred, work};
use crate::daemon::Shared;
use crate::errno::EINVAL;
use crate::ioctl::frame::write_frame;
use crate::ioctl::Reply;
use crate::log;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Worker threads (one of them kept for root's requests).
pub const WORKERS: usize = 4;
const LISTENER: u64 = 0;
const WAKE: u64 = 1;
/// Connections accepted per turn of the loop, reads per connection per
/// turn: a flood of either does not hold the loop.
const ACCEPTS_PER_TURN: usize = 128;
const READS_PER_TURN: usize = 8;
/// How often deadlines are checked.
const SWEEP: Duration = Duration::from_millis(250);
/// How often what the limits closed is logged (if anything).
const REPORT: Duration = Duration::from_secs(60);

/// A connection the server knows: in the loop (`session`) or with a
/// worker (None).
struct Slot {
    uid: u32,
    deadline: Instant,
    /// Bytes charged to the connection in `Usage`.
    held: usize,
    session: Option<Session>,
}

/// A connection a worker is done with.
struct Back {
    token: u64,
    session: Option<Session>,
}

struct Server {
    limits: Limits,
    epoll: Epoll,
    listener: UnixListener,
    wake: Arc<EventFd>,
    pool: Pool<(Session, Vec<u8>)>,
    back: Receiver<Back>,
    slots: HashMap<u64, Slot>,
    usage: Usage,
    closed: Closed,
    /// Quotas of messages: for connections refused at accept, and for
    /// the others (so that a storm of refusals does not silence them).
    tells: [Tells; 2],
    next_token: u64,
    scratch: Vec<u8>,
}

/// Serve `listener` until `term` is set.
pub fn run(shared: &Arc<Shared>, listener: UnixListener, term: &AtomicBool) -> io::Result<()> {
    let mut s = Server::new(shared, listener, Limits::default())?;
    let mut events = vec![EpollEvent::empty(); 256];
    let mut next_sweep = Instant::now() + SWEEP;
    let mut next_report = Instant::now() + REPORT;
    while !term.load(Ordering::Relaxed) {
        let n = match s.epoll.wait(&mut events, 100u16) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        for ev in &events[..n] {
            match ev.data() {
                LISTENER => s.accept(),
                WAKE => {
                    let _ = s.wake.read();
                }
                t => s.readable(t),
            }
        }
        s.returned();
        let now = Instant::now();
        if now >= next_sweep {
            s.sweep(now);
            next_sweep = now + SWEEP;
        }
        if now >= next_report {
            if let Some(line) = std::mem::take(&mut s.closed).report(REPORT.as_secs()) {
                log::warning(&line);
            }
            next_report = now + REPORT;
        }
    }
    Ok(())
}

fn interest() -> EpollFlags {
    EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLONESHOT
}

impl Server {
    /// Tell a peer why it is being dropped, if its socket takes it at
    /// once and the second's quota of messages allows.
    fn tell(
        &mut self,
        at_accept: bool,
        stream: &UnixStream,
        errno: i32,
        msg: impl FnOnce() -> String,
    ) {
        if self.tells[at_accept as usize].allow(&self.limits, Instant::now()) {
            let _ = write_frame(
                &mut Out::new(stream, Duration::ZERO),
                &Reply::error(errno, msg()),
            );
        }
    }

    fn new(shared: &Arc<Shared>, listener: UnixListener, limits: Limits) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        // Room for a burst of connections while the loop is busy.
        let _ = nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::MAXCONN);
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let wake = Arc::new(EventFd::from_flags(
            EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC,
        )?);
        epoll.add(&listener, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))?;
        epoll.add(wake.as_ref(), EpollEvent::new(EpollFlags::EPOLLIN, WAKE))?;
        let (tx, back) = channel::<Back>();
        let pool = {
            let shared = shared.clone();
            let wake = wake.clone();
            let write = limits.write_deadline;
            Pool::start(WORKERS, move |(session, body): (Session, Vec<u8>)| {
                let token = session.token;
                let session = work(&shared, session, body, write);
                let _ = tx.send(Back { token, session });
                let _ = wake.write(1);
            })?
        };
        Ok(Server {
            limits,
            epoll,
            listener,
            wake,
            pool,
            back,
            slots: HashMap::new(),
            usage: Usage::default(),
            closed: Closed::default(),
            tells: Default::default(),
            next_token: WAKE + 1,
            scratch: vec![0; 64 << 10],
        })
    }

    /// Accept what is waiting (up to a turn's worth), refusing what is
    /// over the limits.
    fn accept(&mut self) {
        for _ in 0..ACCEPTS_PER_TURN {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::err(&format!("control socket: accept: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                    break;
                }
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let Some(peer) = peer_cred(&stream) else {
                continue;
            };
            let uid = peer.uid;
            if let Err(r) = self.usage.admit(&self.limits, uid) {
                self.closed.refused += 1;
                self.tell(true, &stream, libc::EAGAIN, || r.to_string());
                continue;
            }
            let token = self.next_token;
            self.next_token += 1;
            if self
                .epoll
                .add(&stream, EpollEvent::new(interest(), token))
                .is_err()
            {
                self.usage.release(uid, 0);
                continue;
            }
            let session = Session::new(stream, peer, token, self.limits.frame);
            self.slots.insert(
                token,
                Slot {
                    uid,
                    deadline: Instant::now() + self.limits.deadline(uid),
                    held: 0,
                    session: Some(session),
                },
            );
        }
        // What is left in the listen queue is taken next turn (the
        // listener is level-triggered).
    }

    /// Read what connection `token` has, up to one frame; a complete frame
    /// goes to a worker.
    fn readable(&mut self, token: u64) {
        let Some(slot) = self.slots.get_mut(&token) else {
            return;
        };
        let Some(mut session) = slot.session.take() else {
            return;
        };
        let mut closing: Option<Option<(i32, String)>> = None;
        let mut body = None;
        let was_started = session.frame.started();
        for _ in 0..READS_PER_TURN {
            let want = session.frame.want().min(self.scratch.len());
            let n = match (&session.stream).read(&mut self.scratch[..want]) {
                Ok(0) => {
                    closing = Some(None);
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    closing = Some(None);
                    break;
                }
            };
            if let Err(e) = session.frame.push(&self.scratch[..n]) {
                self.closed.frames += 1;
                closing = Some(Some((EINVAL, e.to_string())));
                break;
            }
            let held = session.frame.held();
            let charged = self.usage.charge(&self.limits, slot.uid, slot.held, held);
            slot.held = held;
            if let Err(r) = charged {
                self.closed.bytes += 1;
                closing = Some(Some((libc::EAGAIN, r.to_string())));
                break;
            }
            if let Some(b) = session.frame.take() {
                let _ = self.usage.charge(&self.limits, slot.uid, slot.held, 0);
                slot.held = 0;
                body = Some(b);
                break;
            }
        }
        if let Some(why) = closing {
            if let Some((errno, msg)) = why {
                self.tell(false, &session.stream, errno, || msg);
            }
            if let Some(slot) = self.slots.get_mut(&token) {
                slot.session = Some(session);
            }
            self.close(token);
            return;
        }
        if let Some(body) = body {
            self.pool.push(slot.uid == 0, (session, body));
            return;
        }
        if slot.uid == 0 && !was_started && session.frame.started() {
            // Root's clock runs from a frame's first byte.
            slot.deadline = Instant::now() + self.limits.root_deadline;
        }
        let rearmed = self
            .epoll
            .modify(&session.stream, &mut EpollEvent::new(interest(), token));
        slot.session = Some(session);
        if rearmed.is_err() {
            self.close(token);
        }
    }

    /// Connections the workers are done with: back into the loop, with
    /// a fresh deadline for their next request.
    fn returned(&mut self) {
        while let Ok(Back { token, session }) = self.back.try_recv() {
            let Some(slot) = self.slots.get_mut(&token) else {
                continue;
            };
            let Some(session) = session else {
                self.close(token);
                continue;
            };
            slot.deadline = Instant::now() + self.limits.deadline(slot.uid);
            let rearmed = self
                .epoll
                .modify(&session.stream, &mut EpollEvent::new(interest(), token));
            slot.session = Some(session);
            if rearmed.is_err() {
                self.close(token);
            }
        }
    }

    /// Close the connections in the loop that are past their deadline
    /// (root's only in the middle of a frame).
    fn sweep(&mut self, now: Instant) {
        let late: Vec<u64> = self
            .slots
            .iter()
            .filter(|(_, s)| {
                s.session
                    .as_ref()
                    .is_some_and(|x| s.uid != 0 || x.frame.started())
                    && s.deadline <= now
            })
            .map(|(t, _)| *t)
            .collect();
        for t in late {
            self.closed.deadline += 1;
            let session = self.slots.get_mut(&t).and_then(|s| s.session.take());
            if let Some(session) = &session {
                let secs = self.limits.deadline(session.peer.uid).as_secs();
                self.tell(false, &session.stream, libc::ETIMEDOUT, || {
                    format!("control connection closed: no complete request in {secs} s")
                });
            }
            self.close(t);
        }
    }

    fn close(&mut self, token: u64) {
        if let Some(slot) = self.slots.remove(&token) {
            if let Some(s) = &slot.session {
                let _ = self.epoll.delete(&s.stream);
            }
            self.usage.release(slot.uid, slot.held);
        }
    }
}

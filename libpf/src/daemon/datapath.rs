//! The data path: read packets from NFQUEUE, ask the engine, give the
//! verdict back (with the rewritten packet when it was translated, the
//! route selector in the mark, or another queue for divert-packet), send
//! whatever reply a `block return` produced, the packets pf sends on its
//! own (synproxy, syncookies) each with the mark the engine chose, and what
//! policy routing sends on another path (route-to after routing, dup-to
//! copies, af-to).

use super::ifnames::IfNames;
use super::{routing, Shared};
use crate::engine::packet::Dir;
use crate::engine::route::Forward;
use crate::engine::status::Reason;
use crate::engine::{Mtag, Outgoing, PacketMeta};
use crate::log;
use crate::sys::hooks::GENERATED_MARK;
use crate::sys::policy_routing::RouteSender;
use crate::sys::raw::RawSender;
use nfq::{Queue, Verdict};
use std::io;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// NF_INET_PRE_ROUTING and NF_INET_POST_ROUTING.
const HOOK_PREROUTING: u8 = 0;
const HOOK_POSTROUTING: u8 = 4;
/// pf's debug level from which it tells about dropped packets (LOG_NOTICE).
const DEBUG_NOTICE: u8 = 5;
/// Logged packets written to syslog per second, at most.
const LOG_PER_SEC: u32 = 100;
/// How many packets the kernel holds for us before dropping.
const QUEUE_MAXLEN: u32 = 8192;

fn open(queue_num: u16) -> io::Result<Queue> {
    let mut q = Queue::open()?;
    q.bind(queue_num)
        .map_err(|e| io::Error::new(e.kind(), format!("NFQUEUE {queue_num}: {e}")))?;
    q.set_queue_max_len(queue_num, QUEUE_MAXLEN)?;
    q.set_recv_uid_gid(queue_num, true)?;
    q.set_fail_open(queue_num, false)?;
    Ok(q)
}

/// Raw sockets for the packets pf sends on its own, each sent with the
/// mark the engine gave it (generated, or filtered by pf's `out` pass).
pub(super) struct Outbound {
    v4: Option<RawSender>,
    v6: Option<RawSender>,
    /// The mark each socket carries now.
    marks: [u32; 2],
}

impl Outbound {
    pub(super) fn new() -> Outbound {
        Outbound {
            v4: RawSender::ipv4(Some(0), None).ok(),
            v6: RawSender::ipv6(Some(0)).ok(),
            marks: [0; 2],
        }
    }

    pub(super) fn send(&mut self, o: &Outgoing) {
        let i = usize::from(o.packet.first().is_some_and(|b| b >> 4 == 6));
        let Some(s) = (if i == 1 { &self.v6 } else { &self.v4 }) else {
            return;
        };
        if self.marks[i] != o.mark {
            if let Err(e) = s.set_mark(o.mark) {
                log::err(&format!("raw socket mark: {e}"));
                return;
            }
            self.marks[i] = o.mark;
        }
        let _ = s.send(&o.packet);
    }
}

/// Serve one queue forever. `ready` hears whether the queue could be bound.
pub fn run(shared: Arc<Shared>, queue_num: u16, ready: Sender<io::Result<()>>) {
    let mut q = match open(queue_num) {
        Ok(q) => {
            let _ = ready.send(Ok(()));
            q
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let v4 = RawSender::ipv4(Some(GENERATED_MARK), None).ok();
    let v6 = RawSender::ipv6(Some(GENERATED_MARK)).ok();
    let mut outbound = Outbound::new();
    let mut route_sender = RouteSender::open()
        .map_err(|e| log::err(&format!("NFQUEUE {queue_num}: policy routing sockets: {e}")))
        .ok();
    let mut dup_buf = Vec::with_capacity(65536);
    let mut names = IfNames::default();
    let mut names_age = Instant::now();
    let mut scratch = vec![0u8; 65536];
    let mut last_full_log = Instant::now() - Duration::from_secs(60);
    let (mut log_window, mut log_count, mut log_suppressed) = (Instant::now(), 0u32, 0u64);
    loop {
        let mut msg = match q.recv() {
            Ok(m) => m,
            Err(e) => {
                log::err(&format!("NFQUEUE {queue_num}: {e}"));
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if names_age.elapsed() > Duration::from_secs(2) {
            names.clear();
            names_age = Instant::now();
        }
        let (dir, ifindex) = match msg.get_hook() {
            HOOK_PREROUTING => (Dir::In, msg.get_indev()),
            HOOK_POSTROUTING => (Dir::Out, msg.get_outdev()),
            _ => {
                msg.set_verdict(Verdict::Accept);
                let _ = q.verdict(msg);
                continue;
            }
        };
        let payload = msg.get_payload();
        let n = payload.len().min(scratch.len());
        scratch[..n].copy_from_slice(&payload[..n]);
        let meta = PacketMeta {
            dir,
            ifname: names.get(ifindex),
            uid: msg.get_uid(),
            gid: msg.get_gid(),
            mtag: Mtag::from_mark(msg.get_nfmark()),
        };
        let (verdict, debug, route_gen) = {
            let now = shared.now_ms();
            let mut e = shared.engine();
            let v = e.test(&meta, &mut scratch[..n], now);
            if e.sync.is_urgent() {
                shared.sync_cv.notify_all();
            }
            (v, e.debug_level(), e.route_targets().generation())
        };
        if shared.routes_stale(route_gen) {
            // A new next hop: its rule and table before its first packet.
            shared.sync_routes();
        }
        // pf's notices (debug level notice and up, `pfctl -x`): packets
        // dropped for what they are rather than by a rule.
        let notice = debug >= DEBUG_NOTICE && !verdict.pass && verdict.reason != Reason::Match;
        if verdict.log || notice {
            // pflog's job: one syslog line per logged packet, at most
            // LOG_PER_SEC a second.
            if log_window.elapsed() >= Duration::from_secs(1) {
                if log_suppressed > 0 {
                    log::info(&format!(
                        "pf: {log_suppressed} more logged packets not shown"
                    ));
                }
                log_window = Instant::now();
                log_count = 0;
                log_suppressed = 0;
            }
            if log_count < LOG_PER_SEC {
                log_count += 1;
                let line = crate::show::log_line(
                    verdict.rule,
                    verdict.pass,
                    dir == Dir::In,
                    meta.ifname,
                    msg.get_payload(),
                );
                if verdict.log {
                    log::info(&line);
                } else {
                    log::notice(&format!(
                        "pf: dropped, {}: {line}",
                        crate::engine::status::REASON_NAMES[verdict.reason as usize]
                    ));
                }
            } else {
                log_suppressed += 1;
            }
        }
        if verdict.pass && verdict.modified {
            msg.get_payload_mut()[..n].copy_from_slice(&scratch[..n]);
        }
        if verdict.reason == Reason::Memory && last_full_log.elapsed() >= Duration::from_secs(10) {
            last_full_log = Instant::now();
            let limit = shared.engine().limit(crate::ruleset::Limit::States);
            log::warning(&format!("state table full ({limit} states, `set limit states`): new connections are dropped"));
        }
        if let Some(t) = verdict.mtag {
            msg.set_nfmark(t.to_mark());
        }
        // Policy routing: send again on another path, copy, af-to.
        let accept = routing::forward(
            route_sender.as_mut(),
            &verdict.forward,
            &scratch[..n],
            &mut dup_buf,
        )
        .unwrap_or(verdict.pass);
        msg.set_verdict(match (&verdict.forward, accept) {
            (Forward::Queue(q), true) => Verdict::Queue(*q),
            (_, true) => Verdict::Accept,
            (_, false) => Verdict::Drop,
        });
        if let Err(e) = q.verdict(msg) {
            log::err(&format!("NFQUEUE {queue_num} verdict: {e}"));
        }
        if let Some(reply) = verdict.reply {
            let sender = if reply.first().is_some_and(|b| b >> 4 == 6) {
                v6.as_ref()
            } else {
                v4.as_ref()
            };
            if let Some(s) = sender {
                let _ = s.send(&reply);
            }
        }
        for o in &verdict.send {
            outbound.send(o);
        }
    }
}

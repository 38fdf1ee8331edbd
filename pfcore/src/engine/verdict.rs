//! What the caller and the engine tell each other about a packet: what
//! the caller knows besides its bytes (`PacketMeta`), what pf decided
//! (`Verdict`), and what pf hands over outside any verdict: the packets it
//! sends on its own (`Outgoing`) and the lines it logs (`Notice`).

use super::logmark::{LogMark, LogMarks};
use super::mtag::Mtag;
use super::packet::Dir;
use super::route::{Forward, StateRoute};
use super::status::Reason;

/// What the caller knows about a packet besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct PacketMeta<'a> {
    pub dir: Dir,
    pub ifname: &'a str,
    /// Socket owner of locally generated packets, when known.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// What an earlier pass left on the packet (tag, receiving interface).
    pub mtag: Mtag,
}

/// Which way a packet pf sends travels, relative to the packet that made
/// pf send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    /// Back to where the packet came from (a SYN|ACK to the client). For
    /// a packet pf sends on its own timer, to the connection's initiator.
    Sender,
    /// On towards where the packet was going (the SYN to the server).
    Destination,
}

/// Something pf tells the administrator about (the kernel's log lines):
/// the engine queues them, the daemon logs them (`Engine::take_notices`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Adaptive syncookies switched on: half-open states passed the start
    /// watermark.
    SynfloodDetected,
    /// Adaptive syncookies switched off again.
    SyncookiesDisabled,
}

impl Notice {
    /// The log line, as OpenBSD's pf writes it.
    pub fn message(self) -> &'static str {
        match self {
            Notice::SynfloodDetected => "pf: synflood detected, enabling syncookies",
            Notice::SyncookiesDisabled => "pf: syncookies disabled",
        }
    }
}

/// A packet pf sends on its own (OpenBSD's pf_send_tcp): synproxy and
/// syncookie handshakes, the RST of a proxied connection that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The whole IP packet, header first, checksums filled.
    pub packet: Vec<u8>,
    pub toward: Toward,
    /// The packet mark to send it with (see `mtag`): the generated bit for
    /// packets pf must not filter again, 0 for packets that go through
    /// pf's `out` pass like anything else the host sends (the SYN and ACK
    /// a synproxy sends the server, which make its state there).
    pub mark: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub pass: bool,
    /// The packet bytes were rewritten (translation, modulation).
    pub modified: bool,
    /// A packet to send back (TCP RST / ICMP unreachable), IP header first.
    pub reply: Option<Vec<u8>>,
    /// A matching rule asked for logging.
    pub log: bool,
    /// What pflog is told, rule by rule (see `logmark`): boxed, so that
    /// only a logged packet pays for it.
    pub logs: Option<Box<LogMarks>>,
    pub reason: Reason,
    /// The deciding rule's number (None: the default rule or a state).
    pub rule: Option<u32>,
    /// A new pf header for the packet (it goes back as the packet mark);
    /// None leaves the mark alone.
    pub mtag: Option<Mtag>,
    /// Policy routing: what the data path does besides accept/drop (send
    /// again on another path, copy, queue, af-to); see `route`.
    pub forward: Forward,
    /// Packets to send besides this one, in order, after the verdict
    /// (raw sockets, each with its own mark).
    pub send: Vec<Outgoing>,
    /// The packet is held (a fragment waiting for its datagram): keep it
    /// and give it the verdict of the `frag::Release` with this ticket,
    /// from `Engine::take_releases`. `pass` means nothing then.
    pub hold: Option<u64>,
    /// pf redirected this incoming packet to the loopback network (pf's
    /// PF_TAG_TRANSLATE_LOCALHOST): the host must deliver it (see
    /// `localhost`).
    pub localhost: bool,
}

impl Verdict {
    /// The pflog marks of this verdict, in the order pf logs them.
    pub fn log_marks(&self) -> &[LogMark] {
        self.logs.as_deref().map_or(&[], |l| l.as_slice())
    }

    pub(in crate::engine) fn pass(modified: bool) -> Verdict {
        Verdict {
            pass: true,
            modified,
            reply: None,
            log: false,
            logs: None,
            reason: Reason::Match,
            rule: None,
            mtag: None,
            forward: Forward::Normal,
            send: Vec::new(),
            hold: None,
            localhost: false,
        }
    }

    pub(in crate::engine) fn drop(reason: Reason) -> Verdict {
        Verdict {
            pass: false,
            modified: false,
            reply: None,
            log: false,
            logs: None,
            reason,
            rule: None,
            mtag: None,
            forward: Forward::Normal,
            send: Vec::new(),
            hold: None,
            localhost: false,
        }
    }

    /// Carry out a state's or rule's policy routing for a packet that
    /// passes: the route selector into the mark, the rest as `forward`.
    pub(in crate::engine) fn route(&mut self, sr: &StateRoute, fwd: bool, meta: &PacketMeta) {
        let (mark, forward) = sr.decide(fwd, meta.dir, meta.mtag.route);
        if let Some(sel) = mark {
            self.mtag = Some(Mtag {
                route: sel,
                ..self.mtag.unwrap_or(meta.mtag)
            });
        }
        self.forward = forward;
    }
}

/// Give a passed packet tag `tag` (pf_tag_packet): its pf header goes back
/// as the packet mark. 0 leaves the packet's tag alone.
pub(in crate::engine) fn tag_packet(v: &mut Verdict, meta: &PacketMeta, tag: u16) {
    if tag == 0 {
        return;
    }
    let mut m = v.mtag.unwrap_or(meta.mtag);
    if m.tag != tag {
        m.tag = tag;
        v.mtag = Some(m);
    }
}

//! ICMP and ICMPv6 error messages (pf_test_state_icmp, error branch): an
//! error belongs to the state of the packet it quotes, is checked against
//! that state and translated the way the state translates, the quoted
//! packet and the outer addresses that mirror it.

use super::matched::end_for;
use super::{State, StateKey, SK_STACK, SK_WIRE};
use crate::engine::af::{self, Ends};
use crate::engine::decision::LOG_ALL;
use crate::engine::packet::{self, Dir, Pd};
use crate::engine::route::Forward;
use crate::engine::status::Reason;
use crate::engine::translate::{self, set_end, set_seq_ack, End};
use crate::engine::verdict::{tag_packet, PacketMeta, Verdict};
use crate::engine::Engine;
use crate::wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP};

/// The packet an ICMP error quotes: where it starts in the error, and
/// its description.
struct Quote {
    off: usize,
    end: usize,
    pd: Pd,
}

/// Does the quoted packet `q` fit its state `st`: a TCP segment within the
/// sender's window, an ICMP query the way queries went? `quoted_fwd`: it
/// travelled the way the state's first packet did. Ok: the quoted TCP
/// sequence number to put back (the state modulates it), if any.
fn quote_fits(st: &State, q: &Pd, quoted_fwd: bool) -> Result<Option<u32>, ()> {
    match (q.proto, q.tcp, q.icmp) {
        (IPPROTO_TCP, Some(t), _) => {
            // The sender of the quoted segment, and its peer.
            let (src, dst) = if quoted_fwd {
                (&st.src, &st.dst)
            } else {
                (&st.dst, &st.src)
            };
            let dws = if src.wscale != 0 && dst.wscale != 0 {
                dst.wscale & 0x0f
            } else {
                0
            };
            let seq = t.seq.wrapping_sub(src.seqdiff);
            let geq = |a: u32, b: u32| a.wrapping_sub(b) as i32 >= 0;
            let lo = src.seqlo.wrapping_sub((dst.max_win as u32) << dws);
            if !geq(src.seqhi, seq) || !geq(seq, lo) {
                return Err(());
            }
            Ok((src.seqdiff != 0).then_some(seq))
        }
        // Only a query the state's first packet's way (or a reply the
        // other way) can be quoted back.
        (_, _, Some(ic)) if ic.id_is_sport != quoted_fwd => Err(()),
        _ => Ok(None),
    }
}

/// Rewrite each quoted end the state translates (key `from` to key `to`,
/// the quoted packet seen in `idir`), and the outer address that mirrors
/// it (the quoted source is the outer destination and the other way
/// round). True: something changed.
fn rewrite_quote(
    buf: &mut [u8],
    pd: &mut Pd,
    q: &mut Quote,
    idir: Dir,
    (from, to): (&StateKey, &StateKey),
) -> bool {
    let mut modified = false;
    for i in 0..2 {
        if from.addr[i] != to.addr[i] || from.port[i] != to.port[i] {
            let e = end_for(i, idir);
            set_end(&mut buf[q.off..q.end], &mut q.pd, e, to.addr[i], to.port[i]);
            let outer = match e {
                End::Src => End::Dst,
                End::Dst => End::Src,
            };
            let port = match outer {
                End::Src => pd.sport,
                End::Dst => pd.dport,
            };
            set_end(buf, pd, outer, to.addr[i], port);
            modified = true;
        }
    }
    modified
}

impl Engine {
    /// An ICMP or ICMPv6 error message. None: no state has the quoted
    /// packet, the rules decide. A drop verdict for what pf drops: a quote
    /// too short to read, a quoted non-first fragment, an error not
    /// addressed to the quoted packet's sender, a TCP sequence number
    /// outside the state's window, a quoted ICMP query that went the other
    /// way, ICMP quoted in the wrong family.
    pub(in crate::engine) fn test_icmp_error(
        &mut self,
        meta: &PacketMeta,
        buf: &mut [u8],
        pd: &mut Pd,
        len: u64,
        now: u64,
    ) -> Option<Verdict> {
        let mut q = match self.quote_of(buf, pd) {
            Ok(q) => q,
            Err(v) => return v,
        };
        // The quoted packet travelled the other way. Its key is built in its
        // own direction, but it is looked up (and translated) in the role
        // of the packet carrying it, as pf does.
        let idir = match meta.dir {
            Dir::In => Dir::Out,
            Dir::Out => Dir::In,
        };
        let key = StateKey::from_pd(&q.pd, idir);
        let slot = self.states.lookup(&key, meta.dir, meta.ifname)?;
        let st = self.states.get(slot)?;
        let afto = st.is_afto();
        // Did the quoted packet travel the way the state's first one did?
        // (For an af-to state, whose packets all come in, the key tells.)
        let quoted_fwd = if afto {
            st.key[SK_STACK] == key
        } else {
            meta.dir != st.direction
        };
        let Ok(demodulated) = quote_fits(st, &q.pd, quoted_fwd) else {
            return Some(self.dropped(Reason::StateMismatch));
        };
        let (from, to) = match meta.dir {
            Dir::In => (st.key[SK_WIRE], st.key[SK_STACK]),
            Dir::Out => (st.key[SK_STACK], st.key[SK_WIRE]),
        };
        let (tag, log) = (st.tag, st.log & LOG_ALL != 0);
        let logged_by = (st.rule, st.cold().anchor);
        // The error travels the other way than the packet it quotes, and
        // is routed as the state's packets that way are.
        let (sroute, fwd) = (st.cold().route, !quoted_fwd);
        let other = if st.key[SK_WIRE] == key {
            st.key[SK_STACK]
        } else {
            st.key[SK_WIRE]
        };
        self.count_state_packet(slot, fwd, meta.dir, len);
        self.sync_state_update(slot, false, now);
        let mut modified = false;
        if let Some(seq) = demodulated {
            set_seq_ack(&mut buf[q.off..q.end], &q.pd, Some(seq), None);
            modified = true;
        }
        if afto {
            return Some(self.icmp_error_afto(buf, pd, &other, log));
        }
        modified |= rewrite_quote(buf, pd, &mut q, idir, (&from, &to));
        if modified {
            translate::refill_icmp_checksum(buf, pd);
        }
        let mut v = Verdict::pass(modified);
        v.log = log;
        if log {
            v.logs = self.rules.state_log(logged_by.0, logged_by.1);
        }
        v.route(&sroute, fwd, meta);
        tag_packet(&mut v, meta, tag);
        Some(self.state_pass(buf, pd, slot, v))
    }

    /// The packet the error `pd` quotes, if a state could hold it. Err:
    /// the verdict (None: the rules decide; a drop for a quote pf refuses).
    fn quote_of(&mut self, buf: &[u8], pd: &Pd) -> Result<Quote, Option<Verdict>> {
        let off = pd.l4_off + 8;
        let end = pd.tot_len;
        let Some(inner) = buf.get(off..end) else {
            return Err(Some(self.dropped(Reason::Short)));
        };
        let q = match packet::describe_quoted(inner) {
            Ok(q) => q,
            Err(packet::PdError::Short) => return Err(Some(self.dropped(Reason::Short))),
            // Not something a state can hold: the rules decide.
            Err(_) => return Err(None),
        };
        if q.af != pd.af {
            return Err(None);
        }
        if q.fragment {
            return Err(Some(self.dropped(Reason::Fragment)));
        }
        // The error goes back to whoever sent the quoted packet.
        if q.src != pd.dst {
            return Err(Some(self.dropped(Reason::StateMismatch)));
        }
        let icmp_quoted = q.proto == IPPROTO_ICMP || q.proto == IPPROTO_ICMPV6;
        if icmp_quoted && q.icmp.is_none() {
            return Err(Some(self.dropped(Reason::Normalize)));
        }
        Ok(Quote { off, end, pd: q })
    }

    /// An error about an af-to state's packet: the quoted packet gets the
    /// state's other key `other` in its own orientation, and the error
    /// goes from its destination back to its source in the other family
    /// (pf_change_icmp_af).
    fn icmp_error_afto(&mut self, buf: &[u8], pd: &Pd, other: &StateKey, log: bool) -> Verdict {
        let inner = Ends {
            src: other.addr[0],
            dst: other.addr[1],
            sport: other.port[0],
            dport: other.port[1],
        };
        let ident = self.random() as u16;
        let Some(p) = af::translate_icmp_error(buf, pd, (inner.dst, inner.src), &inner, ident)
        else {
            return self.dropped(Reason::Translate);
        };
        let mut v = Verdict::pass(false);
        v.log = log;
        v.forward = Forward::AfTo(p);
        v
    }
}

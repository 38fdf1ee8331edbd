//! pfd's side of the fast path (pfcore::fastpath, sys::fastpath): which
//! flows the kernel passes on its own, offered by the data path after a
//! packet went through both of pf's passes, and kept in step with the
//! state table, which stays the truth. Once a second (and before `pfctl
//! -ss`/`-si` answers) their counters, last activity and window data go
//! back into the states (Engine::offloaded, which also queues the pfsync
//! update); a flow whose states went (expiry, kill, flush, pfsync delete)
//! or no longer qualify (a FIN seen, pf disabled) leaves the maps. Fast
//! flows (fp::Pace) are brought back every `fp::FAST_PULL_MS`, their
//! pfsync updates sent at once (`pull_fast`).
//!
//! A flow is the pair of states a forwarded connection has on its way
//! in and out (the same state twice when one state answers both passes).
//! Its window data is kept once, by the ends of its first state (`canon`).

use crate::engine::state::{Offloaded, Peer, Slot};
use crate::engine::status::FastPathStatus;
use crate::engine::Engine;
use crate::fastpath::{self as fp, Counts, Tuple, HOOK_EGRESS, HOOK_INGRESS, KEY_LEN, WINDOW_LEN};
use crate::log;
use crate::sys::fastpath::{interfaces, monotonic_ns, Kernel};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

type StateId = (u64, u32);
type EngineGuard<'a> = std::sync::MutexGuard<'a, Engine>;

/// Packets a state has seen before its flow is offered: short
/// connections end in pfd without the map updates (and their removal)
/// costing more than they save.
const OFFER_AFTER: u64 = 8;

struct Flow {
    /// canon first; the other state's counters run the same way as
    /// canon's (`same`) or the other way.
    states: [StateId; 2],
    same: bool,
    keys: Vec<[u8; KEY_LEN]>,
    /// The ingress keys of the answers to the offered packets, for
    /// `pull_for` alone: until an answer is offered in turn, it reaches
    /// pfd and must be judged by the window the program moved on.
    answers: Vec<[u8; KEY_LEN]>,
    /// The counters as last brought back.
    seen: Counts,
    /// The window entry as pfd last wrote or read it: what the program
    /// moved on from since.
    synced: Option<[u8; WINDOW_LEN]>,
    /// A window hint is in fp_hints (`offer`).
    hint: bool,
    tcp: bool,
    /// How fast it moves (`pull_fast`).
    pace: fp::Pace,
}

/// A packet pf passed both ways, as the data path offers it.
pub struct Offer {
    pub in_if: u32,
    pub out_if: u32,
    /// Its tuple as it came in, after the `in` pass, after the `out` pass.
    pub wire: Tuple,
    pub mid: Tuple,
    pub out: Tuple,
    /// The mark pfd gave it after both passes.
    pub mark: u32,
    /// The states the two passes matched, and whether it went their way.
    pub in_state: (Slot, bool),
    pub out_state: (Slot, bool),
}

#[derive(Default)]
struct Table {
    kernel: Option<Kernel>,
    flows: HashMap<u32, Flow>,
    by_pair: HashMap<[StateId; 2], u32>,
    /// The flow of each ingress key in the maps.
    by_key: HashMap<[u8; KEY_LEN], u32>,
    next: u32,
    /// Offers refused by the kernel (map full).
    refused: u64,
    /// The program may forward packets itself (daemon::fastforward).
    forward: bool,
    /// Interfaces whose packets the program leaves alone: carp
    /// interfaces with their gates closed (`hold`).
    held: HashSet<u32>,
    /// The flows moving `fp::FAST_BYTES_PER_S` or more (`pull_fast`).
    fast: HashSet<u32>,
    /// Route changes counted (`routes_changed`).
    routes: u64,
}

impl Table {
    /// fp_conf as `forward` and `held` have it.
    fn conf(&self) -> u32 {
        (if self.forward { fp::CONF_FORWARD } else { 0 })
            | (if self.held.is_empty() {
                0
            } else {
                fp::CONF_HELD
            })
    }
}

/// The fast path of one pfd.
#[derive(Default)]
pub struct FastPath {
    t: Mutex<Table>,
    /// Packets pfd's queues gave it (what the fast path saves).
    pub queued: AtomicU64,
    on: AtomicBool,
}

fn id_of(e: &Engine, slot: Slot) -> Option<StateId> {
    e.states.get(slot).map(|s| (s.id, s.creatorid))
}

impl FastPath {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.t.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Load the program; on failure pfd goes on without the fast path
    /// (and says why).
    pub fn start(&self) {
        match Kernel::load() {
            Ok(mut k) => {
                for e in k.follow(&interfaces()) {
                    log::warning(&e.to_string());
                }
                let mut t = self.table();
                for &i in &t.held {
                    if let Err(e) = k.set_held(i, true) {
                        log::warning(&e.to_string());
                    }
                }
                let r = k
                    .set_conf(t.conf())
                    .and_then(|()| k.set_route_gen(fp::route_gen(t.routes)));
                if let Err(e) = r {
                    log::warning(&e.to_string());
                }
                t.kernel = Some(k);
                drop(t);
                self.on.store(true, Ordering::Relaxed);
                log::info("fast path loaded");
            }
            Err(e) => log::err(&format!("{e}: every packet goes through the queue")),
        }
    }

    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Let the program forward offloaded flows' packets itself, or leave
    /// them to the kernel's IP forwarding (see daemon::fastforward).
    pub fn set_forward(&self, on: bool) {
        let mut t = self.table();
        if t.forward == on {
            return;
        }
        let conf = t.conf() & !fp::CONF_FORWARD | if on { fp::CONF_FORWARD } else { 0 };
        let Some(k) = t.kernel.as_mut() else {
            return;
        };
        match k.set_conf(conf) {
            Ok(()) => {
                t.forward = on;
                log::info(if on {
                    "fast path: offloaded flows are forwarded at TC ingress"
                } else {
                    "fast path: offloaded flows are forwarded by the IP stack (netfilter rules, IPsec policies or ip rules on marks of the system's own)"
                });
            }
            Err(e) => log::warning(&e.to_string()),
        }
    }

    /// Routes, rules, next hops, addresses, links or forwarding changed
    /// (daemon::ifwatch), or a second went by (the maintenance thread):
    /// the program's cached route lookups are done again.
    pub fn routes_changed(&self) {
        let mut t = self.table();
        t.routes = t.routes.wrapping_add(1);
        let gen = fp::route_gen(t.routes);
        if let Some(k) = t.kernel.as_mut() {
            if let Err(e) = k.set_route_gen(gen) {
                log::warning(&e.to_string());
            }
        }
    }

    /// Have the program leave the packets that come in by interface
    /// `index` alone (`held`), or handle them again: a carp interface's
    /// gate (a netdev ingress chain, which runs after TC ingress) is
    /// closed only once it is held, and released once open
    /// (daemon::carp::transition). Kept while the fast path is off, and
    /// written when it loads.
    pub fn hold(&self, index: u32, held: bool) {
        let mut t = self.table();
        let changed = if held {
            t.held.insert(index)
        } else {
            t.held.remove(&index)
        };
        if !changed {
            return;
        }
        let conf = t.conf();
        if let Some(k) = t.kernel.as_mut() {
            // The entry before the flag on; the flag off before the
            // last entry goes.
            let r = if held {
                k.set_held(index, true).and_then(|()| k.set_conf(conf))
            } else {
                k.set_conf(conf).and_then(|()| k.set_held(index, false))
            };
            if let Err(e) = r {
                log::warning(&format!("interface {index}: {e}"));
            }
        }
    }

    /// Attach to interfaces that appeared.
    pub fn follow_interfaces(&self) {
        let ifs = interfaces();
        if let Some(k) = self.table().kernel.as_mut() {
            for e in k.follow(&ifs) {
                log::warning(&e.to_string());
            }
        }
    }

    /// Offer a flow (see `Offer`); `e` is the engine, locked by the
    /// caller. Nothing happens unless both states qualify.
    pub fn offer(&self, e: &mut Engine, o: &Offer, now: u64) {
        if !e.enabled() {
            return;
        }
        let ok = |s: Slot| e.states.get(s).is_some_and(fp::eligible);
        if !ok(o.in_state.0) || !ok(o.out_state.0) {
            return;
        }
        let seen = e
            .states
            .get(o.in_state.0)
            .map_or(0, |st| st.packets[0].wrapping_add(st.packets[1]));
        if seen < OFFER_AFTER {
            return;
        }
        if !fp::ingress_ok(&o.wire, &o.mid) || !fp::same_kind(&o.mid, &o.out) {
            return;
        }
        let (Some(a), Some(b)) = (id_of(e, o.in_state.0), id_of(e, o.out_state.0)) else {
            return;
        };
        let mut t = self.table();
        if t.kernel.is_none() {
            return;
        }
        let pair = if a <= b { [a, b] } else { [b, a] };
        let id = match t.by_pair.get(&pair) {
            Some(id) => *id,
            None => {
                t.next = t.next.wrapping_add(1).max(1);
                let id = t.next;
                let flow = Flow {
                    states: [a, b],
                    same: o.in_state.1 == o.out_state.1,
                    keys: Vec::new(),
                    answers: Vec::new(),
                    seen: Counts::default(),
                    synced: None,
                    hint: false,
                    tcp: o.wire.proto == crate::wire::IPPROTO_TCP,
                    pace: fp::Pace::new(0, now),
                };
                let k = t.kernel.as_mut().expect("checked");
                if k.new_flow(id).is_err() {
                    t.refused += 1;
                    return;
                }
                t.flows.insert(id, flow);
                t.by_pair.insert(pair, id);
                id
            }
        };
        // Bring back what the program did so far, then give it the
        // state's window (at least as far on as its own).
        pull_one(&mut t, e, id, now, false);
        let Some(f) = t.flows.get(&id) else {
            return;
        };
        let canon_fwd = if f.states[0] == a {
            o.in_state.1
        } else {
            o.out_state.1
        };
        let side = if canon_fwd { 0 } else { 1 };
        let Some(canon) = e.states.by_id(f.states[0].0, f.states[0].1) else {
            return;
        };
        let Some(st) = e.states.get(canon) else {
            return;
        };
        let window = fp::window(&[st.src, st.dst], f.tcp);
        let ingress = fp::key(o.in_if, HOOK_INGRESS, &o.wire);
        let answer = fp::key(o.out_if, HOOK_INGRESS, &o.out.reversed());
        let rw_in = fp::rewrite(id, side, o.mark, &o.wire, &o.mid, o.out_if);
        let egress = (o.mid != o.out).then(|| {
            (
                fp::key(o.out_if, HOOK_EGRESS, &o.mid),
                fp::rewrite(id, side, 0, &o.mid, &o.out, 0),
            )
        });
        let t = &mut *t;
        let k = t.kernel.as_mut().expect("checked");
        let f = t.flows.get_mut(&id).expect("checked");
        // The window entry is written only while no ingress entry leads
        // to it. After that the program moves it on by itself, and a
        // write would take back what it did between pfd's read above and
        // the write (at 10 Gbit/s a 64 KB GSO packet every 50 us: the
        // next ACK is then outside the window it is judged by). What the
        // state knows beyond it (the answers pfd passed until their own
        // direction is offered) goes in as a hint, which the program
        // takes in where it is further on.
        let in_use = f.keys.iter().any(|key| !fp::is_egress(key));
        let mut ok = true;
        if !in_use {
            ok = k.put_window(id, &window).is_ok();
            if ok {
                f.synced = Some(window);
            }
        } else if f.tcp {
            f.hint |= k.put_hint(id, &window).is_ok();
        }
        if let Some((ek, ev)) = &egress {
            ok = ok && k.put_key(ek, ev).is_ok();
            if ok && !f.keys.contains(ek) {
                f.keys.push(*ek);
            }
        }
        // The ingress entry last: the packet it lets by needs the rest.
        ok = ok && k.put_key(&ingress, &rw_in).is_ok();
        if ok && !f.keys.contains(&ingress) {
            f.keys.push(ingress);
            t.by_key.insert(ingress, id);
        }
        if ok && !f.answers.contains(&answer) {
            f.answers.push(answer);
            t.by_key.entry(answer).or_insert(id);
        }
        if !ok {
            t.refused += 1;
        }
    }

    /// Bring every flow's counters back into its states, and drop the
    /// flows whose states went or no longer qualify. `e` locked by the
    /// caller.
    pub fn pull(&self, e: &mut Engine, now: u64) {
        let mut t = self.table();
        if t.kernel.is_none() || t.flows.is_empty() {
            return;
        }
        let ids: Vec<u32> = t.flows.keys().copied().collect();
        for id in ids {
            pull_one(&mut t, e, id, now, true);
        }
    }

    /// Bring the fast flows back (`fp::FAST_BYTES_PER_S`), every
    /// `fp::FAST_PULL_MS` between the once-a-second pulls; `engine` is
    /// taken only when there are any. True: pfsync's sender has to be
    /// woken (the engine let go by then).
    pub fn pull_fast<'a>(&self, engine: impl FnOnce() -> EngineGuard<'a>, now: u64) -> bool {
        if self.table().fast.is_empty() {
            return false;
        }
        let mut e = engine();
        let mut t = self.table();
        let ids: Vec<u32> = t.fast.iter().copied().collect();
        for id in ids {
            pull_one(&mut t, &mut e, id, now, true);
        }
        e.sync.take_wake()
    }

    /// A packet that came in on `in_if` as `wire` reached pfd's queue:
    /// when it belongs to an offloaded flow (the program left it to pfd:
    /// SYN, FIN or RST, or outside the window as the program saw it; or
    /// an answer whose own direction is not offered yet, such as the
    /// ACKs of data the program forwarded),
    /// bring that flow's counters and window into its states first, so
    /// that pf judges it by the window as it is, not as it was at the
    /// last pull (up to a second and gigabytes earlier).
    pub fn pull_for<'a>(
        &self,
        engine: impl FnOnce() -> EngineGuard<'a>,
        in_if: u32,
        wire: &Tuple,
        now: u64,
    ) {
        let key = fp::key(in_if, HOOK_INGRESS, wire);
        let Some(id) = self.table().by_key.get(&key).copied() else {
            return;
        };
        // The engine first, as everywhere (offer, pull).
        let mut e = engine();
        pull_one(&mut self.table(), &mut e, id, now, false);
    }

    /// What `pfctl -vsi` prints of it (None: off).
    pub fn status(&self) -> Option<FastPathStatus> {
        let t = self.table();
        let st = t.kernel.as_ref()?.stats();
        Some(FastPathStatus {
            flows: t.flows.len() as u64,
            entries: t.flows.values().map(|f| f.keys.len() as u64).sum(),
            queued: self.queued.load(Ordering::Relaxed),
            passed: st[fp::ST_FAST as usize],
            bytes: st[fp::ST_BYTES as usize],
            egress: st[fp::ST_EGRESS as usize],
            window: st[fp::ST_WINDOW as usize],
            flags: st[fp::ST_FLAGS as usize],
            forwarded: st[fp::ST_FORWARD as usize],
            to_stack: st[fp::ST_STACK as usize],
            forwarding: t.forward,
        })
    }
}

/// Flow `id`'s counters and window into its states; the flow goes when
/// they do, or when they no longer qualify. `regular`: one of the pulls
/// every second or `fp::FAST_PULL_MS` (not one for a packet), at which a
/// fast flow's pfsync update goes out at once.
fn pull_one(t: &mut Table, e: &mut Engine, id: u32, now: u64, regular: bool) {
    let Some(k) = t.kernel.as_mut() else {
        return;
    };
    let Some(f) = t.flows.get_mut(&id) else {
        return;
    };
    // A hint left since the last regular pull is stale: the program took
    // in what it needed of it, or needed none.
    if regular && f.hint {
        k.del_hint(id);
        f.hint = false;
    }
    let (window, counts) = k.flow(id).map(|v| fp::split_flow(&v)).unzip();
    let slots = [
        e.states.by_id(f.states[0].0, f.states[0].1),
        e.states.by_id(f.states[1].0, f.states[1].1),
    ];
    if let (Some(c), [Some(s0), Some(s1)]) = (counts, slots) {
        let d = c.since(&f.seen);
        f.seen = c;
        let fast = f.pace.at(c.bytes[0].wrapping_add(c.bytes[1]), now);
        if fast {
            t.fast.insert(id);
        } else {
            t.fast.remove(&id);
        }
        let last = (c.last_ns != 0 && d.packets != [0, 0]).then(|| {
            let age_ms = monotonic_ns().saturating_sub(c.last_ns) / 1_000_000;
            now.saturating_sub(age_ms)
        });
        // What the program moved on since pfd last wrote or read the
        // entry, with that as the base (canon's ends, then the other
        // state's way round).
        let synced = f.synced;
        if window.is_some() {
            f.synced = window;
        }
        let win = |same: bool| -> Option<([Peer; 2], [Peer; 2])> {
            let st = e.states.get(s0)?;
            let cur = window.as_ref()?;
            let base = synced.as_ref()?;
            if !f.tcp || cur == base {
                return None;
            }
            let w = fp::flow_window(cur, [st.src, st.dst]);
            let b = fp::flow_window(base, [st.src, st.dst]);
            Some(if same {
                (b, w)
            } else {
                ([b[1], b[0]], [w[1], w[0]])
            })
        };
        let w0 = win(true);
        let w1 = win(f.same);
        let (p0, b0) = d.for_state(true);
        let o0 = Offloaded {
            packets: p0,
            bytes: b0,
            last,
            window: w0,
            urgent: regular && fast,
        };
        e.offloaded(s0, &o0, now);
        if s1 != s0 {
            let (p1, b1) = d.for_state(f.same);
            let o1 = Offloaded {
                packets: p1,
                bytes: b1,
                last,
                window: w1,
                urgent: regular && fast,
            };
            e.offloaded(s1, &o1, now);
        }
    }
    let keep = e.enabled()
        && slots
            .iter()
            .all(|s| s.and_then(|s| e.states.get(s)).is_some_and(fp::eligible));
    if !keep {
        remove(t, id);
    }
}

fn remove(t: &mut Table, id: u32) {
    let Some(f) = t.flows.remove(&id) else {
        return;
    };
    let [a, b] = f.states;
    let pair = if a <= b { [a, b] } else { [b, a] };
    t.by_pair.remove(&pair);
    t.fast.remove(&id);
    for key in f.keys.iter().chain(&f.answers) {
        if t.by_key.get(key) == Some(&id) {
            t.by_key.remove(key);
        }
    }
    if let Some(k) = t.kernel.as_mut() {
        for key in &f.keys {
            k.del_key(key);
        }
        k.del_flow(id);
    }
}

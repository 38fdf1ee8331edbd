//! Address pools (OpenBSD's pf_lb.c): which address of a rule's pool a
//! new connection gets, for `nat-to`, `rdr-to` (and so `binat-to`) and
//! `route-to` / `reply-to` / `dup-to`, and which source port `nat-to`
//! gives it.
//!
//! A pool is one address or network, an interface's addresses (`(if)`),
//! or a table (`<t>`, or the `__automatic_N` table pfctl makes of a list);
//! its entries are taken in the table's order (pfr_pool_get), a network
//! entry address by address. The pool types:
//!
//! - none / `bitmask`: the pool's network bits over the source's host
//!   bits (for `rdr-to`, the original destination's);
//! - `round-robin`: the next address, cycling through the pool;
//! - `random`: a random entry (a random address of a single network);
//! - `source-hash [key]`: an entry (or host bits) chosen by the SipHash of
//!   the source address under the key, the same for a source every time;
//! - `least-states`: the address holding the fewest states of the rule,
//!   looking from the round-robin position;
//! - `sticky-address`: a source keeps the address it got first, through a
//!   source node of type Nat, Rdr or Route (see `srcnode`), while the node
//!   lives.
//!
//! Each pool keeps its round-robin position and its per-address state
//! counts (`Cursor`), reset when a ruleset is loaded.
//!
//! `Engine::map_addr` is the one place an address is chosen; `route-to`
//! calls it with `SnType::Route` (see `route::next_hop`).

use super::super::packet::{Dir, Pd};
use super::super::ruleref::RuleRef;
use super::super::siphash::siphash24;
use super::super::srcnode::{as_family, LbRef, SnType, Sns};
use super::super::state::StateKey;
use super::super::table::TableId;
use super::super::Engine;
use crate::addr::{Af, IpNet};
use crate::ruleset::{AddrKind, DynModifier, Pool, PoolType, PortOp, Rule};
use crate::wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use std::collections::HashMap;
use std::net::IpAddr;

/// Port range pf picks translated source ports from by default.
pub const NAT_PORT_LOW: u16 = 50001;
pub const NAT_PORT_HIGH: u16 = 65535;

/// The moving parts of one pool (pf_pool's `counter` and `tblidx`), the
/// states each address holds (for `least-states`), and a braced list's
/// entries per family in table order, sorted once at load so that the
/// packet path walks a slice.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    counter: Option<IpAddr>,
    tblidx: Option<usize>,
    loads: HashMap<IpAddr, u32>,
    list: [Vec<IpNet>; 2],
}

/// The cursors of the pools (nat, rdr, route) of each rule of a ruleset,
/// by rule number (kept with the ruleset, `anchor::Rules::pools`).
#[derive(Debug, Clone, Default)]
pub struct Cursors {
    v: Vec<[Cursor; 3]>,
}

impl Cursors {
    /// Fresh cursors for a ruleset's rules.
    pub fn new(rules: &[Rule]) -> Cursors {
        let v = rules
            .iter()
            .map(|r| {
                let mut c: [Cursor; 3] = Default::default();
                for (i, kind) in [SnType::Nat, SnType::Rdr, SnType::Route]
                    .into_iter()
                    .enumerate()
                {
                    if let Some(p) = rule_pool(r, kind).filter(|p| p.auto_table.is_some()) {
                        c[i].list = [list_sorted(p, Af::Inet), list_sorted(p, Af::Inet6)];
                    }
                }
                c
            })
            .collect();
        Cursors { v }
    }

    /// The cursor of pool `kind` of rule number `nr`.
    pub fn get_mut(&mut self, nr: usize, kind: SnType) -> Option<&mut Cursor> {
        let k = kind as usize;
        self.v
            .get_mut(nr)
            .and_then(|c| c.get_mut(k.checked_sub(1)?))
    }

    pub fn get(&self, nr: usize, kind: SnType) -> Option<&Cursor> {
        let k = kind as usize;
        self.v.get(nr).and_then(|c| c.get(k.checked_sub(1)?))
    }
}

impl Cursor {
    /// A braced list's entries in family `af`.
    fn list(&self, af: Af) -> &[IpNet] {
        &self.list[if af == Af::Inet { 0 } else { 1 }]
    }

    /// States at `addr` (least-states).
    fn load(&self, addr: &IpAddr) -> u32 {
        self.loads.get(addr).copied().unwrap_or(0)
    }
}

/// Where a pool's addresses come from.
#[derive(Debug, Clone, Copy)]
enum Members {
    One(IpNet),
    /// The addresses of a braced list (pfctl's `__automatic_N` table,
    /// constant: taken from the rule, in the table's address order).
    List,
    Table(TableId),
    /// The addresses of the interface of the pool's first entry.
    Iface,
    Nothing,
}

fn to_u128(a: &IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(*v) as u128,
        IpAddr::V6(v) => u128::from(*v),
    }
}

fn from_u128(v: u128, af: Af) -> IpAddr {
    match af {
        Af::Inet => IpAddr::V4((v as u32).into()),
        Af::Inet6 => IpAddr::V6(v.into()),
    }
}

fn mask_of(prefix: u8, af: Af) -> u128 {
    match af {
        Af::Inet => crate::addr::v4_mask(prefix) as u128,
        Af::Inet6 => crate::addr::v6_mask(prefix),
    }
}

/// PF_POOLMASK: the network bits of `net`, the host bits of `host`.
pub fn poolmask(net: &IpNet, host: &IpAddr) -> IpAddr {
    let af = net.af();
    let m = mask_of(net.prefix, af);
    let h = to_u128(&as_family(host, af));
    from_u128((to_u128(&net.addr) & m) | (h & !m), af)
}

/// PF_AINC: the next address (wrapping).
fn inc(a: &IpAddr) -> IpAddr {
    let af = Af::of(a);
    let all = mask_of(af.max_prefix(), af);
    from_u128(to_u128(a).wrapping_add(1) & all, af)
}

/// pf_hash: SipHash-2-4 of the address under the pool key, as pf keys it
/// (the key words as they lie in memory, the address in network order),
/// and the hash spread over an address of the family.
pub fn pool_hash(addr: &IpAddr, key: &[u32; 4], af: Af) -> (u64, IpAddr) {
    let mut kb = [0u8; 16];
    for (i, w) in key.iter().enumerate() {
        kb[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    let mut k0 = [0u8; 8];
    let mut k1 = [0u8; 8];
    k0.copy_from_slice(&kb[..8]);
    k1.copy_from_slice(&kb[8..]);
    let (k0, k1) = (u64::from_le_bytes(k0), u64::from_le_bytes(k1));
    match as_family(addr, af) {
        IpAddr::V4(a) => {
            let h = siphash24(k0, k1, &a.octets());
            (h, IpAddr::V4((h as u32).to_le_bytes().into()))
        }
        IpAddr::V6(a) => {
            let h = siphash24(k0, k1, &a.octets());
            let (lo, hi) = (h as u32, (h >> 32) as u32);
            let mut o = [0u8; 16];
            o[0..4].copy_from_slice(&lo.to_le_bytes());
            o[4..8].copy_from_slice(&hi.to_le_bytes());
            o[8..12].copy_from_slice(&(!hi).to_le_bytes());
            o[12..16].copy_from_slice(&(!lo).to_le_bytes());
            (h, IpAddr::V6(o.into()))
        }
    }
}

/// The interface addresses of `(ifname[:mod])` a pool uses, in family
/// `af` (no IPv6 link-local address, as pf's dynamic pools).
fn iface_members<'a>(
    kind: &'a AddrKind,
    ifaddrs: &'a HashMap<String, Vec<IpNet>>,
    af: Af,
) -> impl Iterator<Item = IpNet> + 'a {
    let (ifname, modifier, mask) = match kind {
        AddrKind::Dynamic {
            ifname,
            modifier,
            mask,
        } => (Some(ifname.as_str()), *modifier, *mask),
        _ => (None, DynModifier::None, None),
    };
    let take = if modifier.no_alias() { 1 } else { usize::MAX };
    ifname
        .and_then(|n| ifaddrs.get(n))
        .into_iter()
        .flatten()
        .filter(move |n| n.af() == af)
        .filter(|n| match n.addr {
            IpAddr::V6(a) => (a.segments()[0] & 0xffc0) != 0xfe80,
            IpAddr::V4(_) => true,
        })
        .take(take)
        .filter_map(move |n| match (modifier.mode(), mask) {
            (_, Some(m)) => IpNet::new(n.addr, m).ok().map(|x| x.to_network()),
            (DynModifier::Network, _) => Some(n.to_network()),
            (DynModifier::Broadcast, _) if af == Af::Inet => Some(IpNet::host(n.broadcast())),
            (DynModifier::Broadcast, _) | (DynModifier::Peer, _) => None,
            _ => Some(IpNet::host(n.addr)),
        })
}

/// Rule `r`'s pool of kind `kind`.
fn rule_pool(r: &Rule, kind: SnType) -> Option<&Pool> {
    match kind {
        SnType::Nat => r.nat_to.as_ref(),
        SnType::Rdr => r.rdr_to.as_ref(),
        SnType::Route => r.extras.route.as_ref().map(|(_, p)| p),
        SnType::None => None,
    }
}

/// The networks of a braced pool list in family `af`, in the order the
/// table pfctl makes of it walks them (by address), without duplicates.
fn list_sorted(p: &Pool, af: Af) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = p
        .addrs
        .iter()
        .filter_map(|a| match a {
            AddrKind::Net(n) if n.af() == af => Some(n.to_network()),
            _ => None,
        })
        .collect();
    v.sort_by_key(|x| (to_u128(&x.addr), x.prefix));
    v.dedup();
    v
}

/// What a pool decision needs of its rule, copied out.
#[derive(Debug, Clone, Copy)]
struct PoolOpts {
    pool_type: PoolType,
    sticky: bool,
    key: [u32; 4],
}

impl Engine {
    fn pool_of(&self, ri: RuleRef, kind: SnType) -> Option<&Pool> {
        rule_pool(self.rules.rule(ri)?, kind)
    }

    /// The entries of a braced list pool in family `af`.
    fn pool_list(&self, ri: RuleRef, kind: SnType, af: Af) -> &[IpNet] {
        self.rules.cursor(ri, kind).map_or(&[], |c| c.list(af))
    }

    /// States at `addr` of pool `kind` of rule `ri` (least-states).
    pub(in crate::engine) fn pool_load(&self, ri: RuleRef, kind: SnType, addr: &IpAddr) -> u32 {
        self.rules.cursor(ri, kind).map_or(0, |c| c.load(addr))
    }

    fn members(&self, ri: RuleRef, kind: SnType, af: Af) -> Members {
        if self
            .pool_of(ri, kind)
            .is_some_and(|p| p.auto_table.is_some())
        {
            return Members::List;
        }
        let rt = self.rules.rule_tables(ri).unwrap_or_default();
        let id = match kind {
            SnType::Nat => rt.nat,
            SnType::Rdr => rt.rdr,
            SnType::Route => rt.route,
            SnType::None => None,
        };
        if let Some(id) = id {
            return Members::Table(id);
        }
        let Some(pool) = self.pool_of(ri, kind) else {
            return Members::Nothing;
        };
        match pool.addrs.first() {
            Some(AddrKind::Net(n)) if n.af() == af => Members::One(*n),
            Some(AddrKind::Dynamic { .. }) => Members::Iface,
            _ => Members::Nothing,
        }
    }

    fn member_count(&self, ri: RuleRef, kind: SnType, m: Members, af: Af) -> usize {
        match m {
            Members::One(_) => 1,
            Members::List => self.pool_list(ri, kind, af).len(),
            Members::Table(id) => self.tables.pool_count(id, af),
            Members::Iface => self
                .pool_of(ri, kind)
                .and_then(|p| p.addrs.first())
                .map_or(0, |k| iface_members(k, self.ifaces.addr_map(), af).count()),
            Members::Nothing => 0,
        }
    }

    fn member_nth(&self, ri: RuleRef, kind: SnType, m: Members, af: Af, n: usize) -> Option<IpNet> {
        match m {
            Members::One(net) => (n == 0).then_some(net),
            Members::List => self.pool_list(ri, kind, af).get(n).copied(),
            Members::Table(id) => self.tables.pool_nth(id, af, n),
            Members::Iface => self
                .pool_of(ri, kind)
                .and_then(|p| p.addrs.first())
                .and_then(|k| iface_members(k, self.ifaces.addr_map(), af).nth(n)),
            Members::Nothing => None,
        }
    }

    /// How many addresses the pool has (at most 2^16 counted).
    fn pool_size(&self, ri: RuleRef, kind: SnType, af: Af) -> usize {
        let m = self.members(ri, kind, af);
        let cnt = self.member_count(ri, kind, m, af);
        let mut n = 0usize;
        for i in 0..cnt.min(1 << 16) {
            let Some(e) = self.member_nth(ri, kind, m, af, i) else {
                break;
            };
            let bits = af.max_prefix() - e.prefix;
            n = n.saturating_add(if bits >= 16 { 1 << 16 } else { 1 << bits });
            if n >= 1 << 16 {
                break;
            }
        }
        n
    }

    /// Is `a` still an address of the pool (sticky nodes are checked)?
    fn member_contains(&self, ri: RuleRef, kind: SnType, m: Members, a: &IpAddr) -> bool {
        let af = Af::of(a);
        match m {
            Members::One(n) => n.contains(a),
            Members::List => self.pool_list(ri, kind, af).iter().any(|n| n.contains(a)),
            Members::Table(id) => self.tables.lookup(id, a).is_some_and(|e| !e.neg),
            Members::Iface => self
                .pool_of(ri, kind)
                .and_then(|p| p.addrs.first())
                .is_some_and(|k| {
                    iface_members(k, self.ifaces.addr_map(), af).any(|n| n.contains(a))
                }),
            Members::Nothing => false,
        }
    }

    /// pfr_pool_get: the address at the cursor of rule `ri`'s pool `kind`
    /// (the first address of the entry `tblidx`, or the counter if it is
    /// still inside that entry), skipping addresses a more specific entry
    /// of the table covers. Moves the cursor there.
    fn pool_get(&mut self, ri: RuleRef, kind: SnType, m: Members, af: Af) -> Option<IpAddr> {
        let cnt = self.member_count(ri, kind, m, af);
        if cnt == 0 {
            return None;
        }
        let (idx, counter) = {
            let c = self.rules.cursor_mut(ri, kind)?;
            (c.tblidx, c.counter)
        };
        let mut use_counter = matches!(idx, Some(i) if i < cnt) && counter.is_some();
        let mut i = idx.filter(|&i| i < cnt).unwrap_or(0);
        let start = i;
        let mut looped = false;
        // Every address of every entry at most once, and the entries once.
        loop {
            if looped && i == start {
                return None;
            }
            let e = match self.member_nth(ri, kind, m, af, i) {
                Some(e) => e,
                None => {
                    if looped {
                        return None;
                    }
                    looped = true;
                    i = 0;
                    self.member_nth(ri, kind, m, af, 0)?
                }
            };
            let block = e.to_network();
            let mut addr = match counter {
                Some(c) if use_counter && Af::of(&c) == af => {
                    if !block.contains(&c) {
                        i += 1;
                        use_counter = false;
                        continue;
                    }
                    c
                }
                _ => block.addr,
            };
            if block.is_host() {
                let c = self.rules.cursor_mut(ri, kind)?;
                c.counter = Some(addr);
                c.tblidx = Some(i);
                return Some(addr);
            }
            // A network: its addresses not in a nested entry.
            let mut steps = 0u32;
            loop {
                let nested = match m {
                    Members::Table(id) => self
                        .tables
                        .lookup(id, &addr)
                        .map(|x| x.net)
                        .filter(|n| n.prefix > block.prefix),
                    _ => None,
                };
                match nested {
                    None => {
                        let c = self.rules.cursor_mut(ri, kind)?;
                        c.counter = Some(addr);
                        c.tblidx = Some(i);
                        return Some(addr);
                    }
                    Some(n) => {
                        let all = mask_of(af.max_prefix(), af);
                        let past = to_u128(&n.addr) | (!mask_of(n.prefix, af) & all);
                        addr = inc(&from_u128(past, af));
                        steps += 1;
                        if !block.contains(&addr) || steps > 1 << 16 {
                            i += 1;
                            use_counter = false;
                            break;
                        }
                    }
                }
            }
        }
    }

    /// pf_map_addr: an address of pool `kind` of rule `ri`, in family `af`,
    /// for a connection from `saddr`. `init` is the first address this
    /// connection was offered (pf_get_sport tries the others until it comes
    /// back there). A sticky pool's choice goes into the connection's
    /// source node (`sns`). None: the pool has nothing for the family, or a
    /// source limit said no.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::engine) fn map_addr(
        &mut self,
        ri: RuleRef,
        kind: SnType,
        af: Af,
        saddr: &IpAddr,
        init: &mut Option<IpAddr>,
        sns: &mut Sns,
        now: u64,
    ) -> Option<IpAddr> {
        let o = {
            let p = self.pool_of(ri, kind)?;
            PoolOpts {
                pool_type: p.pool_type,
                sticky: p.sticky_address,
                key: p.hash_key,
            }
        };
        let m = self.members(ri, kind, af);
        let k = kind as usize;
        if sns.0[k].is_none() && o.sticky && o.pool_type != PoolType::None {
            if let Some(a) = self.sticky_addr(ri, kind, m, af, saddr, sns, now) {
                return Some(a);
            }
        }
        let naddr = match o.pool_type {
            PoolType::None | PoolType::Bitmask => match m {
                Members::One(n) => poolmask(&n, saddr),
                Members::Iface | Members::List => {
                    let n = self.member_nth(ri, kind, m, af, 0)?;
                    poolmask(&n, saddr)
                }
                // pf: tables need a pool type that picks an entry.
                Members::Table(_) | Members::Nothing => return None,
            },
            PoolType::Random => match m {
                Members::One(n) if !n.is_host() => {
                    let c = self.rules.cursor_mut(ri, kind)?;
                    let a = match (init.is_none(), c.counter) {
                        (false, Some(prev)) if Af::of(&prev) == af => inc(&prev),
                        _ => {
                            let r = (self.random() as u128) << 96
                                | (self.random() as u128) << 64
                                | (self.random() as u128) << 32
                                | self.random() as u128;
                            from_u128(r & mask_of(af.max_prefix(), af), af)
                        }
                    };
                    let a = poolmask(&n, &a);
                    if let Some(c) = self.rules.cursor_mut(ri, kind) {
                        c.counter = Some(a);
                    }
                    a
                }
                _ => {
                    let cnt = self.member_count(ri, kind, m, af);
                    if cnt == 0 {
                        return None;
                    }
                    let i = self.random() as usize % cnt;
                    let c = self.rules.cursor_mut(ri, kind)?;
                    c.tblidx = Some(i);
                    c.counter = None;
                    self.pool_get(ri, kind, m, af)?
                }
            },
            PoolType::SourceHash => {
                let (h, haddr) = pool_hash(saddr, &o.key, af);
                match m {
                    Members::One(n) => poolmask(&n, &haddr),
                    _ => {
                        let cnt = self.member_count(ri, kind, m, af);
                        if cnt == 0 {
                            return None;
                        }
                        let c = self.rules.cursor_mut(ri, kind)?;
                        c.tblidx = Some((h % cnt as u64) as usize);
                        c.counter = None;
                        self.pool_get(ri, kind, m, af)?
                    }
                }
            }
            PoolType::RoundRobin => {
                let a = match self.pool_get(ri, kind, m, af) {
                    Some(a) => a,
                    None => {
                        // The counter's address left the pool: start over.
                        let c = self.rules.cursor_mut(ri, kind)?;
                        c.counter = None;
                        c.tblidx = None;
                        self.pool_get(ri, kind, m, af)?
                    }
                };
                if let Some(c) = self.rules.cursor_mut(ri, kind) {
                    c.counter = Some(inc(&a));
                }
                a
            }
            PoolType::LeastStates => self.least_states(ri, kind, m, af)?,
        };
        if init.is_none() {
            *init = Some(naddr);
        }
        if o.sticky {
            if let Some(id) = sns.0[k].take() {
                self.remove_src_node(id, now);
            }
            let mut slot = None;
            self.insert_src_node(&mut slot, ri, kind, *saddr, Some(naddr), now)
                .ok()?;
            sns.0[k] = slot;
        }
        Some(naddr)
    }

    /// pf_map_addr_sticky: the address a source node of this rule's pool
    /// keeps for `saddr`, if it is still in the pool (else the node goes).
    #[allow(clippy::too_many_arguments)]
    fn sticky_addr(
        &mut self,
        ri: RuleRef,
        kind: SnType,
        m: Members,
        af: Af,
        saddr: &IpAddr,
        sns: &mut Sns,
        now: u64,
    ) -> Option<IpAddr> {
        let mut slot = None;
        let rule = Some(ri);
        let id = self.srcnodes_find(rule, kind, saddr)?;
        let cached = self.srcnodes.get(id)?.raddr;
        let valid = match cached {
            None => true,
            Some(a) => Af::of(&a) == af && self.member_contains(ri, kind, m, &a),
        };
        if !valid {
            // The pool changed under it: forget the node.
            self.kill_src_node_id(id, now);
            return None;
        }
        slot.replace(id);
        sns.0[kind as usize] = slot;
        cached
    }

    /// least-states: from the round-robin position, once round the pool,
    /// the address with the fewest states (the first such; stop at one
    /// with none).
    fn least_states(&mut self, ri: RuleRef, kind: SnType, m: Members, af: Af) -> Option<IpAddr> {
        let first = match self.pool_get(ri, kind, m, af) {
            Some(a) => a,
            None => {
                let c = self.rules.cursor_mut(ri, kind)?;
                c.counter = None;
                c.tblidx = None;
                self.pool_get(ri, kind, m, af)?
            }
        };
        let mut best = first;
        let mut load = self.pool_load(ri, kind, &first);
        // Bounded: a network pool could hold 2^128 addresses.
        let mut budget = 1 << 16;
        while load > 0 && budget > 0 {
            budget -= 1;
            let next = {
                let c = self.rules.cursor_mut(ri, kind)?;
                c.counter = c.counter.map(|a| inc(&a));
                self.pool_get(ri, kind, m, af)
            };
            let next = match next {
                Some(a) => a,
                None => {
                    let c = self.rules.cursor_mut(ri, kind)?;
                    c.counter = None;
                    c.tblidx = None;
                    self.pool_get(ri, kind, m, af)?
                }
            };
            if next == first {
                break;
            }
            let l = self.pool_load(ri, kind, &next);
            if l < load {
                best = next;
                load = l;
            }
        }
        Some(best)
    }

    /// A state was made with `lb`: its address holds one more state.
    pub(in crate::engine) fn lb_take(&mut self, lb: &LbRef) {
        if let Some(c) = self.rules.cursor_mut(lb.rule, lb.kind) {
            *c.loads.entry(lb.addr).or_insert(0) += 1;
        }
    }

    /// pf_postprocess_addr: a state of this ruleset's least-states pool
    /// went.
    pub(in crate::engine) fn lb_give(&mut self, lb: &LbRef) {
        if let Some(c) = self.rules.cursor_mut(lb.rule, lb.kind) {
            if let Some(n) = c.loads.get_mut(&lb.addr) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.loads.remove(&lb.addr);
                }
            }
        }
    }

    /// The least-states record a new state of pool `kind` of rule `ri`
    /// holding `addr` keeps, if the pool is least-states.
    pub(in crate::engine) fn lb_ref(
        &self,
        ri: RuleRef,
        kind: SnType,
        addr: IpAddr,
    ) -> Option<LbRef> {
        let p = self.pool_of(ri, kind)?;
        (p.pool_type == PoolType::LeastStates).then_some(LbRef {
            rule: ri,
            kind,
            addr,
        })
    }

    /// pf_get_sport: source address and port for the `nat-to` of rule `ri`
    /// (a connection seen in `dir`): a free port of the rule's range
    /// (50001-65535 by default; the packet's own with `static-port`), or,
    /// with round-robin, random and least-states pools, the next address
    /// when one has no port left. ICMP echo gets a free id (1-65535), other
    /// ICMP keeps its header.
    pub(in crate::engine) fn get_sport(
        &mut self,
        ri: RuleRef,
        pd: &Pd,
        dir: Dir,
        sns: &mut Sns,
        now: u64,
    ) -> Option<(IpAddr, u16)> {
        let (static_port, proxy, pool_type) = {
            let p = self.pool_of(ri, SnType::Nat)?;
            (p.static_port, p.proxy_port, p.pool_type)
        };
        let mut init = None;
        let mut naddr = self.map_addr(ri, SnType::Nat, pd.af, &pd.src, &mut init, sns, now)?;
        let (mut lo, mut hi) = match (static_port, proxy) {
            (true, _) => (0, 0),
            (false, (0, 0)) => (NAT_PORT_LOW, NAT_PORT_HIGH),
            (false, (a, 0)) => (a, a),
            (false, (a, b)) => (a.min(b), a.max(b)),
        };
        let icmp = pd.proto == IPPROTO_ICMP || pd.proto == IPPROTO_ICMPV6;
        if icmp {
            match pd.icmp {
                // pf_get_sport: only an echo request's id is free to
                // change; other ICMP keeps its virtual id.
                Some(i)
                    if i.id_is_sport
                        && (i.icmp_type == crate::wire::icmp::ECHO_REQUEST
                            && pd.proto == IPPROTO_ICMP
                            || i.icmp_type == crate::wire::icmpv6::ECHO_REQUEST
                                && pd.proto == IPPROTO_ICMPV6) =>
                {
                    (lo, hi) = (1, 65535)
                }
                _ => return Some((naddr, pd.sport)),
            }
        }
        let ported = matches!(pd.proto, IPPROTO_TCP | IPPROTO_UDP) || icmp;
        let free = |e: &Engine, a: IpAddr, port: u16| {
            let mut t = *pd;
            t.src = a;
            t.sport = port;
            !e.states.key_in_use(&StateKey::from_pd(&t, dir))
        };
        // Other addresses of the pool while there are (at most 64: each
        // try may walk the whole port range).
        let mut tries = self.pool_size(ri, SnType::Nat, pd.af).clamp(1, 64);
        loop {
            if !ported || (lo == 0 && hi == 0) {
                if free(self, naddr, pd.sport) {
                    return Some((naddr, pd.sport));
                }
            } else if lo == hi {
                if free(self, naddr, lo) {
                    return Some((naddr, lo));
                }
            } else {
                if lo > hi {
                    std::mem::swap(&mut lo, &mut hi);
                }
                let span = (hi - lo) as u32 + 1;
                let cut = lo + (self.random() % span) as u16;
                if let Some(p) = (cut..=hi)
                    .chain((lo..cut).rev())
                    .find(|&p| free(self, naddr, p))
                {
                    return Some((naddr, p));
                }
            }
            match pool_type {
                PoolType::Random | PoolType::RoundRobin | PoolType::LeastStates => {}
                _ => return None,
            }
            tries -= 1;
            if tries == 0 {
                return None;
            }
            naddr = self.map_addr(ri, SnType::Nat, pd.af, &pd.src, &mut init, sns, now)?;
            if Some(naddr) == init {
                return None;
            }
        }
    }

    /// The `rdr-to` of rule `ri`: the pool's address (with a bitmask pool,
    /// the original destination's host bits) and port: a single port, or
    /// OpenBSD's mapping of the rule's destination port range onto the
    /// pool's range (`rdr-to ... port a:b`).
    pub(in crate::engine) fn rdr_map(
        &mut self,
        ri: RuleRef,
        pd: &Pd,
        sns: &mut Sns,
        now: u64,
    ) -> Option<(IpAddr, u16)> {
        let mut init = None;
        let naddr = self.map_addr(ri, SnType::Rdr, pd.af, &pd.src, &mut init, sns, now)?;
        let r = self.rules.rule(ri)?;
        let pool = r.rdr_to.as_ref()?;
        let naddr = match (pool.pool_type, self.members(ri, SnType::Rdr, pd.af)) {
            (PoolType::Bitmask | PoolType::None, Members::One(n)) => poolmask(&n, &pd.dst),
            _ => naddr,
        };
        if !pd.has_ports() {
            return Some((naddr, pd.dport));
        }
        let (a, b) = pool.proxy_port;
        let port = if b != 0 {
            let low = match r.to.port {
                Some(PortOp::Eq(x) | PortOp::Ne(x) | PortOp::Lt(x) | PortOp::Le(x)) => x,
                Some(PortOp::Gt(x) | PortOp::Ge(x)) => x,
                Some(PortOp::Range(x, _) | PortOp::Inside(x, _) | PortOp::Outside(x, _)) => x,
                None => 0,
            };
            // As pf computes it: in int, then as u_int32_t, wrapped once.
            let span = (b as i64 - a as i64 + 1).max(1);
            let v = (pd.dport as i64 - low as i64) % span + a as i64;
            let mut p = v as u32;
            if p > 65535 {
                p = p.wrapping_sub(65535);
            }
            p as u16
        } else if a != 0 {
            a
        } else {
            pd.dport
        };
        Some((naddr, port))
    }
}

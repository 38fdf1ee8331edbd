//! Policy routing: `route-to`, `reply-to`, `dup-to`, `rtable`,
//! `divert-to`, `divert-reply` and `divert-packet` (pf_route, pf_route6
//! and the divert handling of pf_test). Which packets take a path other
//! than the one the routing table gives, and what the data path does to
//! make them take it.
//!
//! On Linux a path is a *route selector*, the 7 bits of the packet mark
//! that `mtag` reserves for it: for each selector `sys::policy_routing`
//! installs an `ip rule fwmark` that looks up a table (a next hop's table
//! holding `default via NEXTHOP`, the user's table N for `rtable N`, or a
//! table delivering locally for the divert options). This module is pure:
//! it numbers the targets rules name (`ruleset::route`) with selectors
//! ([`Targets`]), keeps on each state the route its rule chose
//! ([`StateRoute`]; `nat` picks the next hop from the rule's pool), and
//! says per packet what the data path does
//! ([`Forward`]):
//!
//! - a packet to be routed while it comes *in* (before the kernel's
//!   routing decision) gets the selector in its mark and the kernel routes
//!   it; it meets the `out` pass on the next hop's interface with that mark
//!   (tag, receiving interface), which is pf_route's pf_test(PF_OUT) there;
//! - a packet to be routed while it goes *out* (routed already) is taken
//!   off its path and sent again through a raw socket whose mark carries
//!   the selector ([`Forward::Resend`]), and the generated bit, so it is not
//!   filtered again: pf_route runs pf_test only for packets coming in;
//! - `dup-to` sends such a copy and lets the original go on;
//! - `divert-packet` hands the packet to another NFQUEUE.
//!
//! As in pf, `route-to` routes the packets that travel the way the state's
//! first packet did, `reply-to` the others, and `dup-to` copies every packet
//! of the state (each packet meets a given state once: a forwarded
//! connection has a state on each interface it crosses).

use super::packet::Dir;
use super::Engine;
use crate::ruleset::route::{rule_targets, Target, MAX_SELECTORS};
use crate::ruleset::{RouteKind, Rule};
use std::collections::HashMap;
use std::net::IpAddr;

/// The numbering of targets with selectors. Selectors of targets still in
/// use keep their number across ruleset loads, so states made under an
/// older ruleset stay on their path.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// Index = selector - 1.
    slots: Vec<Option<Target>>,
    by_target: HashMap<Target, u8>,
    /// Interface a next hop's table sends packets out of, as the system
    /// resolved it (shown by `pfctl -vvss`).
    ifnames: HashMap<u8, String>,
    generation: u64,
}

impl Targets {
    /// The selector of `t`, if it has one.
    pub fn selector(&self, t: &Target) -> Option<u8> {
        self.by_target.get(t).copied()
    }

    /// The selector of `t`, numbered now if new; None when all
    /// [`MAX_SELECTORS`] are taken.
    pub fn get(&mut self, t: Target) -> Option<u8> {
        if let Some(s) = self.by_target.get(&t) {
            return Some(*s);
        }
        let i = match self.slots.iter().position(|s| s.is_none()) {
            Some(i) => i,
            None if self.slots.len() < MAX_SELECTORS => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return None,
        };
        self.slots[i] = Some(t);
        let sel = (i + 1) as u8;
        self.by_target.insert(t, sel);
        self.generation += 1;
        Some(sel)
    }

    pub fn target(&self, sel: u8) -> Option<Target> {
        self.slots
            .get((sel as usize).wrapping_sub(1))
            .copied()
            .flatten()
    }

    /// Every numbered target.
    pub fn iter(&self) -> impl Iterator<Item = (u8, Target)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| ((i + 1) as u8, t)))
    }

    pub fn len(&self) -> usize {
        self.by_target.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_target.is_empty()
    }

    /// Bumped whenever a target is numbered or dropped: the data path
    /// compares it with what it installed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Drop the targets `keep` does not want.
    pub fn retain(&mut self, keep: impl Fn(u8, &Target) -> bool) {
        let mut changed = false;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let sel = (i + 1) as u8;
            if let Some(t) = slot {
                if !keep(sel, t) {
                    self.by_target.remove(t);
                    self.ifnames.remove(&sel);
                    *slot = None;
                    changed = true;
                }
            }
        }
        while self.slots.last().is_some_and(|s| s.is_none()) {
            self.slots.pop();
        }
        if changed {
            self.generation += 1;
        }
    }

    /// Record the interface a next hop leads to (the daemon resolves it).
    pub fn set_ifname(&mut self, sel: u8, ifname: Option<String>) {
        match ifname {
            Some(n) => self.ifnames.insert(sel, n),
            None => self.ifnames.remove(&sel),
        };
    }

    pub fn ifname(&self, sel: u8) -> Option<&str> {
        self.ifnames.get(&sel).map(|s| s.as_str())
    }
}

/// What the data path does with a passed packet besides accepting it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Forward {
    /// Nothing: accept (or drop) as the verdict says.
    #[default]
    Normal,
    /// Drop the packet where it is and send it (as rewritten) again with
    /// this route selector in its mark: a packet routed already that
    /// `route-to`/`reply-to` sends elsewhere. It goes with pfd's generated
    /// bit and is not filtered again, whatever interface the next hop is
    /// behind (pf_route hands a packet going out to the interface without
    /// pf_test).
    Resend(u8),
    /// Accept the packet and send a copy with this selector (`dup-to`);
    /// `dec_ttl`: the copy is being forwarded (seen coming in), so its TTL
    /// goes down by one as a router's would.
    Dup { sel: u8, dec_ttl: bool },
    /// Hand the packet to this NFQUEUE (`divert-packet`); the program
    /// reading it gives the verdict.
    Queue(u16),
    /// Drop the packet and send this one instead: the packet translated to
    /// the other address family (`af-to`), complete with its IP header.
    AfTo(Vec<u8>),
}

/// The policy routing of a state (pf's `rt`, `rt_addr`, `rtableid` and the
/// divert of its rule), with the selectors it uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateRoute {
    /// `route-to` / `reply-to` / `dup-to` and the next hop chosen for the
    /// state.
    pub rt: Option<(RouteKind, IpAddr)>,
    pub rt_sel: u8,
    /// `rtable N` of the rule (or of a `match` rule before it).
    pub rtable: Option<u32>,
    pub rtable_sel: u8,
    /// `divert-to` / `divert-reply`: the selector for packets coming in.
    pub divert_sel: u8,
    /// `divert-packet port N`.
    pub queue: Option<u16>,
}

impl StateRoute {
    /// No route option (the default).
    pub const NONE: StateRoute = StateRoute {
        rt: None,
        rt_sel: 0,
        rtable: None,
        rtable_sel: 0,
        divert_sel: 0,
        queue: None,
    };
}

impl StateRoute {
    pub fn is_none(&self) -> bool {
        *self == StateRoute::default()
    }

    /// pf's `rt` number: 1 route-to, 2 dup-to, 3 reply-to, 0 none.
    pub fn rt_number(&self) -> u8 {
        match self.rt {
            None => 0,
            Some((RouteKind::RouteTo, _)) => 1,
            Some((RouteKind::DupTo, _)) => 2,
            Some((RouteKind::ReplyTo, _)) => 3,
        }
    }

    pub fn kind_from_number(n: u8) -> Option<RouteKind> {
        match n {
            1 => Some(RouteKind::RouteTo),
            2 => Some(RouteKind::DupTo),
            3 => Some(RouteKind::ReplyTo),
            _ => None,
        }
    }

    /// What happens to a packet of the state seen in direction `dir`;
    /// `fwd`: it travels the way the state's first packet did. Returns the
    /// selector to put in the mark (packets coming in, routed by the
    /// kernel after this) and what else the data path does. `marked` is
    /// the selector the packet already carries (an earlier pass routed it).
    pub fn decide(&self, fwd: bool, dir: Dir, marked: u8) -> (Option<u8>, Forward) {
        if let Some(q) = self.queue {
            return (None, Forward::Queue(q));
        }
        if let Some((kind, _)) = self.rt {
            let sel = self.rt_sel;
            match kind {
                RouteKind::DupTo => {
                    return (
                        self.in_mark(dir),
                        Forward::Dup {
                            sel,
                            dec_ttl: dir == Dir::In,
                        },
                    )
                }
                RouteKind::RouteTo | RouteKind::ReplyTo => {
                    if fwd == (kind == RouteKind::RouteTo) {
                        return match dir {
                            Dir::In => (Some(sel), Forward::Normal),
                            // Routed by our mark already: it is on its way.
                            Dir::Out if marked == sel => (None, Forward::Normal),
                            Dir::Out => (None, Forward::Resend(sel)),
                        };
                    }
                }
            }
        }
        (self.in_mark(dir), Forward::Normal)
    }

    /// The selector a packet coming in gets without route-to: divert, then
    /// rtable (pf: routing decided after `in`, so these only work there).
    fn in_mark(&self, dir: Dir) -> Option<u8> {
        if dir != Dir::In {
            return None;
        }
        [self.divert_sel, self.rtable_sel]
            .into_iter()
            .find(|&s| s != 0)
    }
}

/// Policy-routing state of the engine: the selector numbering (the route
/// pools' positions are with the other pools, `nat::pool`).
#[derive(Debug, Clone, Default)]
pub struct Routing {
    pub targets: Targets,
}

impl Routing {
    /// After a ruleset load: number the targets of the rules (of every
    /// anchor), drop those no rule and no state (`in_use`) needs any more.
    pub fn load<'a>(&mut self, rules: impl Iterator<Item = &'a Rule>, in_use: &[u8]) {
        let mut wanted = Vec::new();
        for r in rules {
            rule_targets(r, &mut wanted);
        }
        self.targets
            .retain(|sel, t| wanted.contains(t) || in_use.contains(&sel));
        for t in wanted {
            // More than MAX_SELECTORS targets are refused at load
            // (ruleset::support), so this does not fail for a checked
            // ruleset.
            let _ = self.targets.get(t);
        }
    }
}

impl Engine {
    /// The route numbering, for the daemon to install.
    pub fn route_targets(&self) -> &Targets {
        &self.routing.targets
    }

    /// Record where a next hop's table leads (see [`Targets::set_ifname`]).
    pub fn set_route_ifname(&mut self, sel: u8, ifname: Option<String>) {
        self.routing.targets.set_ifname(sel, ifname);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{parse, StaticResolver};
    use crate::engine::anchor::Loader;
    use crate::engine::packet::tests::*;
    use crate::engine::{Mtag, PacketMeta};
    use crate::wire::tcp::{ACK, SYN};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A firewall between lan (10.1.0.0/24) and two uplinks, wan1
    /// (10.2.0.0/24) and wan2 (10.3.0.0/24).
    fn engine(rules: &str) -> Engine {
        let res = StaticResolver::new()
            .iface("lan", &["10.1.0.1/24"])
            .iface("wan1", &["10.2.0.1/24"])
            .iface("wan2", &["10.3.0.1/24"]);
        let rs = parse(rules, "pf.conf", &res)
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        let mut e = Engine::new(1, 1);
        e.load(rs, Loader::default(), String::new()).unwrap();
        e.set_enabled(true, 0);
        e
    }

    fn meta(dir: Dir, ifname: &str) -> PacketMeta<'_> {
        PacketMeta {
            dir,
            ifname,
            uid: None,
            gid: None,
            mtag: Mtag::default(),
        }
    }

    fn syn() -> Vec<u8> {
        v4(
            "10.1.0.50",
            "192.0.2.20",
            6,
            &tcp_seg(40000, 80, 100, 0, SYN, 65535, b""),
        )
    }

    fn synack() -> Vec<u8> {
        v4(
            "192.0.2.20",
            "10.1.0.50",
            6,
            &tcp_seg(80, 40000, 900, 101, SYN | ACK, 65535, b""),
        )
    }

    fn ack() -> Vec<u8> {
        v4(
            "10.1.0.50",
            "192.0.2.20",
            6,
            &tcp_seg(40000, 80, 101, 901, ACK, 65535, b""),
        )
    }

    #[test]
    fn route_to_on_in_marks_the_connection_and_not_its_replies() {
        let mut e = engine("pass\npass in on lan proto tcp route-to 10.3.0.254\n");
        let sel = e
            .route_targets()
            .selector(&Target::NextHop(ip("10.3.0.254")));
        assert!(sel.is_some(), "literal next hops are numbered at load");
        let v = e.test(&meta(Dir::In, "lan"), &mut syn(), 0);
        assert!(v.pass);
        assert_eq!(v.mtag.map(|m| m.route), sel);
        assert_eq!(v.forward, Forward::Normal);
        let st = e.states.get(e.states.all_slots().next().unwrap()).unwrap();
        assert_eq!(
            st.cold().route.rt,
            Some((RouteKind::RouteTo, ip("10.3.0.254")))
        );
        // The reply going back out on lan is routed normally.
        let v = e.test(&meta(Dir::Out, "lan"), &mut synack(), 1);
        assert!(v.pass && v.mtag.is_none() && v.forward == Forward::Normal);
        let v = e.test(&meta(Dir::In, "lan"), &mut ack(), 2);
        assert_eq!(v.mtag.map(|m| m.route), sel);
        // pfctl -ss shows the route.
        let s = e.export_all(3);
        let st = s.iter().find(|s| s.rt != 0).unwrap();
        assert_eq!((st.rt, st.rt_addr), (1, ip("10.3.0.254")));
        e.set_route_ifname(sel.unwrap(), Some("wan2".into()));
        let line = crate::show::state(&e.export_all(3)[0], 2, &|_| None);
        assert!(line.contains(" route-to: 10.3.0.254@wan2"), "{line}");
    }

    #[test]
    fn route_to_on_out_resends_reply_to_routes_replies() {
        let mut e = engine("pass\npass out on wan1 proto tcp route-to 10.3.0.254\n");
        let sel = e
            .route_targets()
            .selector(&Target::NextHop(ip("10.3.0.254")))
            .unwrap();
        let v = e.test(&meta(Dir::Out, "wan1"), &mut syn(), 0);
        assert!(v.pass);
        assert_eq!(v.forward, Forward::Resend(sel));
        // Routed by our mark already (an earlier pass): it goes as it is.
        let mut m = meta(Dir::Out, "wan1");
        m.mtag.route = sel;
        let v = e.test(&m, &mut ack(), 1);
        assert_eq!(v.forward, Forward::Normal);

        // reply-to on an inbound rule: the server's answers leave by the
        // path the connection came in on.
        let mut e = engine("pass\npass in on wan2 proto tcp reply-to 10.3.0.254\n");
        let sel = e
            .route_targets()
            .selector(&Target::NextHop(ip("10.3.0.254")))
            .unwrap();
        let mut p = v4(
            "198.51.100.7",
            "10.1.0.50",
            6,
            &tcp_seg(5555, 22, 1, 0, SYN, 65535, b""),
        );
        let v = e.test(&meta(Dir::In, "wan2"), &mut p, 0);
        assert!(v.pass && v.mtag.is_none() && v.forward == Forward::Normal);
        let mut r = v4(
            "10.1.0.50",
            "198.51.100.7",
            6,
            &tcp_seg(22, 5555, 50, 2, SYN | ACK, 65535, b""),
        );
        e.set_route_ifname(sel, Some("wan2".into()));
        let v = e.test(&meta(Dir::Out, "wan2"), &mut r, 1);
        assert_eq!(v.forward, Forward::Resend(sel));
        assert_eq!(e.export_all(2)[0].rt, 3);
    }

    /// The interfaces the states are bound to (None: floating), sorted.
    fn bound(e: &Engine) -> Vec<Option<String>> {
        let mut v: Vec<_> = e
            .states
            .all_slots()
            .filter_map(|s| e.states.get(s))
            .map(|st| st.ifname.as_deref().map(str::to_string))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn packets_routed_coming_in_are_filtered_out_where_they_leave() {
        // pf_route on a packet coming in runs pf_test(PF_OUT) on the
        // interface of the next hop. Here the kernel routes the marked
        // packet and pfd's out pass meets it on that interface, with the
        // mark of the in pass (selector, tag): if-bound, it gets a state
        // of its own there, which its replies coming in there match.
        let mut e = engine(
            "set state-policy if-bound\nblock\npass in on lan proto tcp route-to 10.3.0.254 tag RT\npass out on wan2 proto tcp tagged RT\n",
        );
        let sel = e
            .route_targets()
            .selector(&Target::NextHop(ip("10.3.0.254")))
            .unwrap();
        let v = e.test(&meta(Dir::In, "lan"), &mut syn(), 0);
        assert!(v.pass && v.forward == Forward::Normal, "{v:?}");
        let t = v.mtag.unwrap();
        assert_eq!(t.route, sel);
        assert_ne!(t.tag, 0, "the tag rides along to the out pass");
        let mut out = meta(Dir::Out, "wan2");
        out.mtag = t;
        let v = e.test(&out, &mut syn(), 0);
        assert!(v.pass, "pass out on wan2 tagged RT: {v:?}");
        assert_eq!(v.forward, Forward::Normal, "routed by the mark already");
        assert_eq!(bound(&e), vec![Some("lan".into()), Some("wan2".into())]);
        // The replies: in on wan2 (its state there), out on lan.
        assert!(e.test(&meta(Dir::In, "wan2"), &mut synack(), 1).pass);
        assert!(e.test(&meta(Dir::Out, "lan"), &mut synack(), 1).pass);
        // The next packet of the connection meets both states, no rule.
        let v = e.test(&meta(Dir::In, "lan"), &mut ack(), 2);
        assert_eq!(v.mtag.map(|m| m.route), Some(sel));
        assert!(e.test(&out, &mut ack(), 2).pass);
        assert_eq!(e.states.len(), 2, "no state made twice");

        // Out rules on the new interface decide: without the tag the
        // packet meets "block" there.
        let mut e = engine(
            "set state-policy if-bound\nblock\npass in on lan proto tcp route-to 10.3.0.254\npass out on wan2 proto tcp tagged RT\n",
        );
        let v = e.test(&meta(Dir::In, "lan"), &mut syn(), 0);
        let mut out = meta(Dir::Out, "wan2");
        out.mtag = v.mtag.unwrap();
        assert!(!e.test(&out, &mut syn(), 0).pass);

        // And so does nat-to on it.
        let mut e = engine(
            "match out on wan2 nat-to 10.3.0.1\npass\npass in on lan proto tcp route-to 10.3.0.254\n",
        );
        let v = e.test(&meta(Dir::In, "lan"), &mut syn(), 0);
        let mut out = meta(Dir::Out, "wan2");
        out.mtag = v.mtag.unwrap();
        let mut p = syn();
        let v = e.test(&out, &mut p, 0);
        assert!(v.pass && v.modified, "{v:?}");
        assert_eq!(&p[12..16], &[10, 3, 0, 1], "source translated on wan2");
    }

    #[test]
    fn packets_routed_going_out_are_not_filtered_again() {
        // pf_route on a packet going out hands it to the next hop's
        // interface without pf_test (OpenBSD runs pf_test(PF_OUT) only
        // for pd->dir == PF_IN): pfd sends it again with the generated
        // bit, which the out hook skips, whatever the interface. An
        // if-bound state stays on the interface the packet was leaving by,
        // so replies coming in by the next hop's interface meet the rules.
        let mut e =
            engine("set state-policy if-bound\nblock\npass out proto tcp route-to 10.3.0.254\n");
        let sel = e
            .route_targets()
            .selector(&Target::NextHop(ip("10.3.0.254")))
            .unwrap();
        e.set_route_ifname(sel, Some("wan2".into()));
        let v = e.test(&meta(Dir::Out, "wan1"), &mut syn(), 0);
        assert!(v.pass);
        assert_eq!(v.forward, Forward::Resend(sel));
        assert_eq!(bound(&e), vec![Some("wan1".into())]);
        let v = e.test(&meta(Dir::In, "wan2"), &mut synack(), 1);
        assert!(!v.pass, "no state on wan2, and block: {v:?}");
        // Floating, the replies match the state wherever they come in.
        let mut e = engine("block\npass out proto tcp route-to 10.3.0.254\n");
        e.set_route_ifname(sel, Some("wan2".into()));
        assert_eq!(
            e.test(&meta(Dir::Out, "wan1"), &mut syn(), 0).forward,
            Forward::Resend(sel)
        );
        assert!(e.test(&meta(Dir::In, "wan2"), &mut synack(), 1).pass);
    }

    #[test]
    fn routes_travel_with_states_over_pfsync() {
        // pfsync_state carries rt and rt_addr (pf_state_export/import): a
        // peer whose ruleset has no route-to routes the connection the
        // same way, with a selector of its own for the next hop.
        let mut a = engine(
            "pass\npass in on lan proto tcp route-to 10.3.0.254\npass in on wan2 proto tcp reply-to 10.3.0.254\n",
        );
        assert!(a.test(&meta(Dir::In, "lan"), &mut syn(), 0).pass);
        let mut p = v4(
            "198.51.100.7",
            "10.1.0.50",
            6,
            &tcp_seg(5555, 22, 1, 0, SYN, 65535, b""),
        );
        assert!(a.test(&meta(Dir::In, "wan2"), &mut p, 0).pass);
        let mut b = engine("pass\n");
        assert!(b.route_targets().is_empty());
        for sr in a.export_all(1) {
            b.import_state(&sr, true, 1).unwrap();
        }
        let sel = b
            .route_targets()
            .selector(&Target::NextHop(ip("10.3.0.254")))
            .expect("numbered on import");
        let got: Vec<_> = b.export_all(1).iter().map(|s| (s.rt, s.rt_addr)).collect();
        assert!(got.contains(&(1, ip("10.3.0.254"))) && got.contains(&(3, ip("10.3.0.254"))));
        // route-to: the connection's next packet coming in gets the mark.
        let v = b.test(&meta(Dir::In, "lan"), &mut ack(), 2);
        assert!(v.pass);
        assert_eq!(v.mtag.map(|m| m.route), Some(sel));
        // reply-to: the answer going out is sent again by the next hop.
        let mut r = v4(
            "10.1.0.50",
            "198.51.100.7",
            6,
            &tcp_seg(22, 5555, 50, 2, SYN | ACK, 65535, b""),
        );
        let v = b.test(&meta(Dir::Out, "wan2"), &mut r, 2);
        assert_eq!(v.forward, Forward::Resend(sel));
        // The selector stays while the imported states use it.
        let res = StaticResolver::new().iface("lan", &["10.1.0.1/24"]);
        b.load(
            parse("pass\n", "pf.conf", &res).unwrap(),
            Loader::default(),
            String::new(),
        )
        .unwrap();
        assert_eq!(
            b.route_targets()
                .selector(&Target::NextHop(ip("10.3.0.254"))),
            Some(sel)
        );
    }

    #[test]
    fn a_packet_its_state_translated_is_resent_unfiltered() {
        // FreeBSD's route_to.sh:multiwan: connections redirected to the
        // loopback, answered by reply-to through the interface they came
        // in on. The answer leaves by the default route (wan1), translated
        // back by the state, and is resent to wan2 unfiltered (pf_route
        // filters again only what it routes coming in): filtered again it
        // would not find its state any more, and `block out` would drop it.
        let mut e = engine(
            "match in on wan2 inet proto tcp to 10.3.0.1 port 7 rdr-to 127.0.0.1 port 7\n\
             block in\nblock out\n\
             pass in quick on wan2 inet proto tcp to 127.0.0.1 port 7 reply-to 10.3.0.254\n",
        );
        let sel = e
            .route_targets()
            .selector(&Target::NextHop(ip("10.3.0.254")))
            .unwrap();
        e.set_route_ifname(sel, Some("wan2".into()));
        let mut p = v4(
            "192.0.2.20",
            "10.3.0.1",
            6,
            &tcp_seg(40000, 7, 100, 0, SYN, 65535, b""),
        );
        assert!(e.test(&meta(Dir::In, "wan2"), &mut p, 0).pass);
        let mut r = v4(
            "127.0.0.1",
            "192.0.2.20",
            6,
            &tcp_seg(7, 40000, 900, 101, SYN | ACK, 65535, b""),
        );
        let v = e.test(&meta(Dir::Out, "wan1"), &mut r, 0);
        assert!(v.pass && v.modified, "{v:?}");
        assert_eq!(v.forward, Forward::Resend(sel));
    }

    #[test]
    fn icmp_errors_follow_their_state_route() {
        // reply-to: an error about the connection's first packet goes back
        // the way a reply would.
        let mut e = engine("pass\npass in on wan2 proto tcp reply-to 10.3.0.254\n");
        let sel = e
            .route_targets()
            .selector(&Target::NextHop(ip("10.3.0.254")))
            .unwrap();
        let mut p = v4(
            "198.51.100.7",
            "10.1.0.50",
            6,
            &tcp_seg(5555, 22, 1, 0, SYN, 65535, b""),
        );
        assert!(e.test(&meta(Dir::In, "wan2"), &mut p, 0).pass);
        let mut body = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
        body.extend_from_slice(&p[..28]);
        let mut err = v4("10.1.0.50", "198.51.100.7", 1, &body);
        e.set_route_ifname(sel, Some("wan2".into()));
        let v = e.test(&meta(Dir::Out, "wan2"), &mut err, 1);
        assert!(v.pass, "{v:?}");
        assert_eq!(v.forward, Forward::Resend(sel));
    }

    #[test]
    fn dup_to_copies_both_ways_and_round_robin_spreads() {
        let mut e = engine("pass\npass in on lan proto tcp dup-to 10.2.0.9\n");
        let sel = e
            .route_targets()
            .selector(&Target::NextHop(ip("10.2.0.9")))
            .unwrap();
        let v = e.test(&meta(Dir::In, "lan"), &mut syn(), 0);
        assert_eq!(v.forward, Forward::Dup { sel, dec_ttl: true });
        let v = e.test(&meta(Dir::Out, "lan"), &mut synack(), 1);
        assert_eq!(
            v.forward,
            Forward::Dup {
                sel,
                dec_ttl: false
            }
        );

        let mut e = engine("pass\npass in on lan proto tcp route-to { 10.2.0.254, 10.3.0.254 }\n");
        let mut hops = vec![];
        for port in 0..4u16 {
            let mut p = v4(
                "10.1.0.50",
                "192.0.2.20",
                6,
                &tcp_seg(41000 + port, 80, 1, 0, SYN, 100, b""),
            );
            let v = e.test(&meta(Dir::In, "lan"), &mut p, 0);
            let sel = v.mtag.unwrap().route;
            hops.push(e.route_targets().target(sel).unwrap());
        }
        let a = Target::NextHop(ip("10.2.0.254"));
        let b = Target::NextHop(ip("10.3.0.254"));
        assert_eq!(hops, vec![a, b, a, b]);
    }

    #[test]
    fn rtable_from_a_match_rule_and_divert_packet() {
        let mut e = engine("match in on lan rtable 5\npass\n");
        let sel = e.route_targets().selector(&Target::Table(5)).unwrap();
        let v = e.test(&meta(Dir::In, "lan"), &mut syn(), 0);
        assert_eq!(v.mtag.map(|m| m.route), Some(sel));
        let st = e.export_all(0);
        assert_eq!(st[0].rtableid, [u32::MAX, 5]);
        // Out: routing is done, rtable changes nothing.
        let v = e.test(&meta(Dir::Out, "wan1"), &mut syn(), 0);
        assert!(v.mtag.is_none());

        let mut e = engine("pass in on lan proto tcp divert-packet port 700\n");
        let v = e.test(&meta(Dir::In, "lan"), &mut syn(), 0);
        assert_eq!(v.forward, Forward::Queue(700));
        let v = e.test(&meta(Dir::Out, "lan"), &mut synack(), 0);
        assert_eq!(v.forward, Forward::Queue(700));
    }

    #[test]
    fn divert_to_and_divert_reply_mark_incoming_packets() {
        let mut e = engine("pass\npass in on lan proto tcp to port 80 divert-to 127.0.0.1 port 3128\npass out on wan1 proto tcp divert-reply\n");
        let d = e
            .route_targets()
            .selector(&Target::Divert(ip("127.0.0.1"), 3128))
            .unwrap();
        let l = e.route_targets().selector(&Target::Local).unwrap();
        let v = e.test(&meta(Dir::In, "lan"), &mut syn(), 0);
        assert_eq!(v.mtag.map(|m| m.route), Some(d));
        // The proxy's answer goes out normally.
        let v = e.test(&meta(Dir::Out, "lan"), &mut synack(), 0);
        assert!(v.mtag.is_none());
        // divert-reply: the replies to a transparent socket's connection.
        let mut out = v4(
            "203.0.113.9",
            "192.0.2.20",
            6,
            &tcp_seg(33000, 443, 1, 0, SYN, 100, b""),
        );
        let v = e.test(&meta(Dir::Out, "wan1"), &mut out, 0);
        assert!(v.mtag.is_none());
        let mut back = v4(
            "192.0.2.20",
            "203.0.113.9",
            6,
            &tcp_seg(443, 33000, 7, 2, SYN | ACK, 100, b""),
        );
        let v = e.test(&meta(Dir::In, "wan1"), &mut back, 0);
        assert_eq!(v.mtag.map(|m| m.route), Some(l));
    }

    #[test]
    fn selectors_survive_a_reload_while_states_use_them() {
        let mut e = engine("pass in on lan proto tcp route-to 10.3.0.254\n");
        let sel = e
            .route_targets()
            .selector(&Target::NextHop(ip("10.3.0.254")))
            .unwrap();
        e.test(&meta(Dir::In, "lan"), &mut syn(), 0);
        let res = StaticResolver::new().iface("lan", &["10.1.0.1/24"]);
        let rs = parse("pass\n", "pf.conf", &res).unwrap();
        e.load(rs, Loader::default(), String::new()).unwrap();
        assert_eq!(
            e.route_targets().target(sel),
            Some(Target::NextHop(ip("10.3.0.254")))
        );
        let v = e.test(&meta(Dir::In, "lan"), &mut ack(), 1);
        assert_eq!(v.mtag.map(|m| m.route), Some(sel));
        e.kill_states(2, false, |_| true);
        let rs = parse("pass\n", "pf.conf", &res).unwrap();
        e.load(rs, Loader::default(), String::new()).unwrap();
        assert!(e.route_targets().is_empty());
    }

    #[test]
    fn selectors_are_numbered_kept_and_reused() {
        let mut t = Targets::default();
        let a = t.get(Target::NextHop(ip("10.0.0.1"))).unwrap();
        let b = t.get(Target::Table(5)).unwrap();
        assert_eq!((a, b), (1, 2));
        assert_eq!(t.get(Target::NextHop(ip("10.0.0.1"))), Some(1));
        let g = t.generation();
        t.retain(|_, x| *x == Target::Table(5));
        assert!(t.generation() > g);
        assert_eq!(t.target(1), None);
        assert_eq!(t.target(2), Some(Target::Table(5)));
        // The freed number is given to the next new target.
        assert_eq!(t.get(Target::Local), Some(1));
        for i in 0..200u32 {
            let _ = t.get(Target::Table(1000 + i));
        }
        assert_eq!(t.len(), MAX_SELECTORS);
        assert_eq!(t.get(Target::Table(99_999)), None);
        assert_eq!(t.target(0), None);
        assert_eq!(t.target(200), None);
    }

    fn route(kind: RouteKind) -> StateRoute {
        StateRoute {
            rt: Some((kind, ip("10.0.0.1"))),
            rt_sel: 3,
            ..StateRoute::default()
        }
    }

    #[test]
    fn route_to_routes_the_state_direction_reply_to_the_other() {
        let r = route(RouteKind::RouteTo);
        // `pass in ... route-to`: coming in, before routing: the mark.
        assert_eq!(r.decide(true, Dir::In, 0), (Some(3), Forward::Normal));
        // `pass out ... route-to`: going out, routed already: send again.
        assert_eq!(r.decide(true, Dir::Out, 0), (None, Forward::Resend(3)));
        assert_eq!(r.decide(true, Dir::Out, 3), (None, Forward::Normal));
        // Replies are routed normally.
        assert_eq!(r.decide(false, Dir::Out, 0), (None, Forward::Normal));
        assert_eq!(r.decide(false, Dir::In, 0), (None, Forward::Normal));
        let r = route(RouteKind::ReplyTo);
        assert_eq!(r.decide(true, Dir::In, 0), (None, Forward::Normal));
        assert_eq!(r.decide(false, Dir::Out, 0), (None, Forward::Resend(3)));
        assert_eq!(r.decide(false, Dir::In, 0), (Some(3), Forward::Normal));
    }

    #[test]
    fn dup_to_copies_every_packet_and_queue_wins() {
        let r = route(RouteKind::DupTo);
        assert_eq!(
            r.decide(true, Dir::In, 0),
            (
                None,
                Forward::Dup {
                    sel: 3,
                    dec_ttl: true
                }
            )
        );
        assert_eq!(
            r.decide(false, Dir::Out, 0),
            (
                None,
                Forward::Dup {
                    sel: 3,
                    dec_ttl: false
                }
            )
        );
        let q = StateRoute {
            queue: Some(700),
            ..route(RouteKind::RouteTo)
        };
        assert_eq!(q.decide(true, Dir::In, 0), (None, Forward::Queue(700)));
    }

    #[test]
    fn divert_and_rtable_mark_incoming_packets_only() {
        let d = StateRoute {
            divert_sel: 4,
            rtable_sel: 5,
            rtable: Some(7),
            ..StateRoute::default()
        };
        assert_eq!(d.decide(true, Dir::In, 0), (Some(4), Forward::Normal));
        assert_eq!(d.decide(false, Dir::In, 0), (Some(4), Forward::Normal));
        assert_eq!(d.decide(true, Dir::Out, 0), (None, Forward::Normal));
        let t = StateRoute {
            rtable_sel: 5,
            rtable: Some(7),
            ..StateRoute::default()
        };
        assert_eq!(t.decide(false, Dir::In, 0), (Some(5), Forward::Normal));
        assert_eq!(t.decide(true, Dir::Out, 0), (None, Forward::Normal));
    }

    #[test]
    fn rt_numbers_are_pfs() {
        assert_eq!(route(RouteKind::RouteTo).rt_number(), 1);
        assert_eq!(route(RouteKind::DupTo).rt_number(), 2);
        assert_eq!(route(RouteKind::ReplyTo).rt_number(), 3);
        assert_eq!(StateRoute::default().rt_number(), 0);
        for n in 1..=3 {
            let k = StateRoute::kind_from_number(n).unwrap();
            assert_eq!(route(k).rt_number(), n);
        }
    }
}

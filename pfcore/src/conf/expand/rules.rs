//! A rule statement (`pass`, `block`, `match`, `anchor`): its action,
//! `log`, interfaces, protocols, addresses and ports, then its filter
//! options (`filteropts.rs`), the checks pfctl's grammar actions make
//! (`filteropts_to_rule`, `anchorrule`), state and default flags, divert;
//! then the statement goes to `multiply.rs`. `antispoof` is written here
//! as the rules it stands for.

use super::filteropts::FilterOpts;
use super::hosts::{decide_af, HostNode};
use super::multiply::Lists;
use super::redirections::Translations;
use super::state::state_options;
use super::values::icmp_code;
use super::{err, Expander, Res, IPPROTO_TCP, NAME_MAX, RDOMAIN};
use crate::addr::IpNet;
use crate::conf::ast::{
    ActionAst, AntispoofAst, BlockSpec, FilterOpt, HostAst, HostItem, HostPort, IfItem, IfName,
    LogOpt, RuleAst, StateOptAst,
};
use crate::ruleset::{
    Action, AddrKind, BlockReturn, Direction, Divert, IfMatch, KeepState, RouteKind, Rule, TcpFlags,
};

impl Expander<'_> {
    /// `antispoof for if`: per interface, `block drop in on ! if from
    /// <if's networks>`, and for non-loopback interfaces also `block drop
    /// in from <if's addresses>`. Interfaces without addresses give no rule.
    pub fn antispoof(&mut self, a: &AntispoofAst, file: &str, line: u32) {
        // the checks of if_item and antispoof_opt come first
        if a.ifaces.iter().any(|(n, _)| n.len() >= 16) {
            return self.error(file, line, "interface name too long");
        }
        if a.label_twice {
            return self.error(file, line, "label cannot be redefined");
        }
        if let Some(t) = &a.rtable {
            if let Err(m) = self.rtable(t) {
                return self.errors_from(file, line, m);
            }
        }
        if a.label.as_ref().is_some_and(|l| l.len() > NAME_MAX) {
            return self.error(
                file,
                line,
                format!("rule label too long (max {NAME_MAX} chars)"),
            );
        }
        let mut opts = vec![];
        if let Some(l) = &a.label {
            opts.push(FilterOpt::Label(l.clone()));
        }
        if let Some(t) = &a.rtable {
            opts.push(FilterOpt::Rtable(t.clone()));
        }
        for (name, dynamic) in &a.ifaces {
            let owners = self.resolver.if_addr_owners(name).unwrap_or_default();
            let addrs: Vec<IpNet> = owners.iter().map(|(_, a)| *a).collect();
            if addrs.is_empty() && !dynamic {
                continue;
            }
            // IFF_LOOPBACK of the interface: a group (or `self`) has no
            // flags of its own
            let group = owners.iter().any(|(o, _)| o != name);
            let loopback = !group && addrs.iter().any(|n| n.addr.is_loopback());
            let host_of = |spec: String| {
                if *dynamic {
                    HostAst::Dynamic { spec, mask: None }
                } else {
                    HostAst::Name {
                        name: spec,
                        mask: None,
                    }
                }
            };
            let rule = |on: Vec<IfItem>, host: HostAst| RuleAst {
                action: ActionAst::Block(Some(BlockSpec::Drop)),
                direction: Direction::In,
                log: a.log.clone(),
                quick: a.quick,
                on,
                af: a.af,
                proto: vec![],
                from: HostPort {
                    hosts: Some(HostItem::Host { neg: false, host }),
                    ports: vec![],
                },
                to: HostPort::default(),
                os: vec![],
                opts: opts.clone(),
            };
            let not_if = vec![IfItem {
                neg: true,
                name: IfName::Name(name.to_string()),
            }];
            self.rule(
                &rule(not_if, host_of(format!("{name}:network"))),
                file,
                line,
            );
            if !loopback {
                self.rule(&rule(vec![], host_of(name.clone())), file, line);
            }
        }
    }

    /// The checks of a rule's own parts (protocols, hosts, ports, each
    /// filter option), without those of the whole rule and without adding
    /// it: what pfctl has done when its parser stops later in the line.
    pub fn rule_prefix(&mut self, ast: &RuleAst, file: &str, line: u32) {
        self.prefix_only = true;
        let r = self.rule_inner(ast, file, line);
        self.prefix_only = false;
        if let Err(msgs) = r {
            self.errors_from(file, line, msgs);
        }
    }

    pub fn rule(&mut self, ast: &RuleAst, file: &str, line: u32) {
        match self.rule_inner(ast, file, line) {
            Ok(()) => {}
            Err(msgs) => self.errors_from(file, line, msgs),
        }
    }

    fn rule_inner(&mut self, ast: &RuleAst, file: &str, line: u32) -> Res<()> {
        let mut r = Rule::new(match ast.action {
            ActionAst::Pass | ActionAst::Anchor => Action::Pass,
            ActionAst::Match => Action::Match,
            ActionAst::Block(_) => Action::Block,
        });
        r.src_line = line;
        if let ActionAst::Block(spec) = &ast.action {
            r.block = self.block_return(spec)?;
        }
        r.direction = ast.direction;
        r.quick = ast.quick;
        if let Some(opts) = &ast.log {
            log_options(&mut r, opts)?;
        }
        r.af = ast.af;
        let ifaces = self.interfaces(&ast.on, file, line)?;

        // Protocols.
        let mut protos: Vec<Option<u8>> = vec![];
        for p in &ast.proto {
            protos.push(Some(self.protocol(p)?));
        }
        let proto_given = !protos.is_empty();
        if protos.is_empty() {
            protos.push(None);
        }

        // Addresses and ports.
        let src_hosts = self.resolve_hosts(&ast.from.hosts)?;
        let src_ports = self.port_items(&ast.from.ports)?;
        let dst_hosts = self.resolve_hosts(&ast.to.hosts)?;
        if let Some(h) = &dst_hosts {
            if h.iter().any(|n| n.addr == AddrKind::UrpfFailed) {
                return err("\"urpf-failed\" is not permitted in a destination address");
            }
        }
        let dst_ports = self.port_items(&ast.to.ports)?;

        let mut f = FilterOpts::default();
        for o in &ast.opts {
            self.filter_opt(o, &mut r, &mut f, file, line)?;
        }
        if self.prefix_only {
            return Ok(());
        }
        filteropts_to_rule(ast, &mut r, &mut f, &protos, proto_given)?;
        self.state_and_flags(&mut r, &mut f)?;

        // decide_address_family
        if r.af.is_none() {
            r.af = decide_af(&src_hosts);
        }
        if r.af.is_none() {
            r.af = decide_af(&dst_hosts);
        }

        if let Some((kind, _)) = &f.route {
            if *kind != RouteKind::DupTo && r.direction == Direction::InOut {
                return err("direction must be explicit with rules that specify routing");
            }
        }
        if let Some((hosts, d)) = f.divert.take() {
            divert_spec(&mut r, hosts, d)?;
        }

        let trans = Translations {
            nat: f.nat,
            rdr: f.rdr,
            route: f.route,
            binat: f.binat,
        };
        let lists = Lists {
            ifaces,
            protos,
            icmp: f.icmp,
            src_hosts,
            dst_hosts,
            src_ports,
            dst_ports,
            oses: ast.os.clone(),
            uids: f.uids,
            gids: f.gids,
        };
        self.expand(r, lists, trans, file, line);
        Ok(())
    }

    /// `block drop`, `block return ...`, or `set block-policy` for a bare
    /// `block`.
    fn block_return(&self, spec: &Option<BlockSpec>) -> Res<BlockReturn> {
        const RET_ICMP: (u8, u8) = (3, 3);
        const RET_ICMP6: (u8, u8) = (1, 4);

        Ok(match spec {
            None if self.block_policy_return => BlockReturn::Return,
            None | Some(BlockSpec::Drop) => BlockReturn::Drop,
            Some(BlockSpec::Return) => BlockReturn::Return,
            Some(BlockSpec::ReturnRst { ttl }) => {
                let ttl = match ttl {
                    None => 0,
                    Some(t) => match t.parse::<u32>() {
                        Ok(v) if v <= 255 => v as u8,
                        _ => return err(format!("illegal ttl value {t}")),
                    },
                };
                BlockReturn::ReturnRst { ttl }
            }
            Some(BlockSpec::ReturnIcmp { code, code6 }) => match (code, code6) {
                (None, _) => BlockReturn::ReturnIcmp {
                    icmp: RET_ICMP,
                    icmp6: RET_ICMP6,
                },
                (Some(c), None) => {
                    // pfctl stores the IPv4 default in the IPv6 slot here.
                    BlockReturn::ReturnIcmp {
                        icmp: (3, icmp_code(c, false)?),
                        icmp6: RET_ICMP,
                    }
                }
                (Some(c), Some(c6)) => BlockReturn::ReturnIcmp {
                    icmp: (3, icmp_code(c, false)?),
                    icmp6: (1, icmp_code(c6, true)?),
                },
            },
            Some(BlockSpec::ReturnIcmp6 { code6 }) => match code6 {
                None => BlockReturn::ReturnIcmp {
                    icmp: RET_ICMP,
                    icmp6: RET_ICMP6,
                },
                Some(c6) => BlockReturn::ReturnIcmp {
                    icmp: RET_ICMP,
                    icmp6: (1, icmp_code(c6, true)?),
                },
            },
        })
    }

    /// `on ...`: the interfaces of the rule (an `rdomain N` item marked
    /// with `RDOMAIN`), or one `None` for any.
    fn interfaces(&mut self, on: &[IfItem], file: &str, line: u32) -> Res<Vec<Option<IfMatch>>> {
        let mut ifaces: Vec<Option<IfMatch>> = vec![];
        for i in on {
            let name = match &i.name {
                IfName::Any => "any".to_string(),
                IfName::Name(n) => {
                    if n.len() >= 16 {
                        return err("interface name too long");
                    }
                    n.clone()
                }
                IfName::Rdomain(n) => {
                    // if_item: out of range is reported, and parsing goes on
                    let v = n.parse::<i64>().unwrap_or(-1);
                    if !(0..=255).contains(&v) {
                        self.error(file, line, format!("rdomain {n} outside range"));
                    }
                    format!("{RDOMAIN}{}", v as u32)
                }
            };
            ifaces.push(Some(IfMatch { name, neg: i.neg }));
        }
        if ifaces.is_empty() {
            ifaces.push(None);
        }
        Ok(ifaces)
    }

    /// State: explicit, or `keep state` by default on pass rules (with `set
    /// state-defaults`, and if-bound after `set state-policy if-bound`);
    /// `flags S/SA` by default on stateful pass rules.
    fn state_and_flags(&self, r: &mut Rule, f: &mut FilterOpts) -> Res<()> {
        let (keep_state, state_opts) = match f.keep.take() {
            Some((k, o)) => (k, o),
            None if r.action == Action::Pass => (
                KeepState::Keep,
                self.state_defaults.clone().unwrap_or_default(),
            ),
            None => (KeepState::None, vec![]),
        };
        r.keep_state = keep_state;
        r.state_opts = state_options(&state_opts)?;
        if r.keep_state != KeepState::None
            && self.default_if_bound
            && !state_opts
                .iter()
                .any(|o| matches!(o, StateOptAst::IfBound | StateOptAst::Floating))
        {
            r.state_opts.if_bound = true;
        }

        // 'flags S/SA' by default on stateful pass rules.
        if r.action == Action::Pass
            && f.flags.is_none()
            && r.keep_state != KeepState::None
            && !r.extras.fragment
        {
            f.flags = Some(TcpFlags {
                flags: 0x02,
                mask: 0x12,
            });
        }
        r.flags = f.flags;
        Ok(())
    }
}

/// `log (all, matches, user, to pflogN)`.
fn log_options(r: &mut Rule, opts: &[LogOpt]) -> Res<()> {
    r.log.enabled = true;
    for o in opts {
        match o {
            LogOpt::All => r.log.all = true,
            LogOpt::Matches => r.log.matches = true,
            LogOpt::User => r.log.user = true,
            LogOpt::To(s) => {
                let Some(n) = s.strip_prefix("pflog") else {
                    return err(format!("{s}: should be a pflog interface"));
                };
                // strtonum(3), 0 to 255
                let t = n.trim_start_matches([' ', '\t']);
                let v = t.strip_prefix('+').unwrap_or(t);
                let num = !v.is_empty()
                    && v.trim_start_matches('-')
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                    && !v.trim_start_matches('-').is_empty();
                match v.parse::<i64>() {
                    Ok(v) if num && (0..=255).contains(&v) => r.log.ifnum = v as u8,
                    Ok(v) if num && v < 0 => return err(format!("{s}: too small")),
                    Ok(_) if num => return err(format!("{s}: too large")),
                    Err(_) if num && v.starts_with('-') => return err(format!("{s}: too small")),
                    Err(_) if num => return err(format!("{s}: too large")),
                    _ => return err(format!("{s}: invalid")),
                }
            }
        }
    }
    Ok(())
}

/// The checks of pfctl's `filteropts_to_rule` and `anchorrule` on the
/// options of the whole statement; on an anchor rule state, routing,
/// translations and divert are refused or dropped.
fn filteropts_to_rule(
    ast: &RuleAst,
    r: &mut Rule,
    f: &mut FilterOpts,
    protos: &[Option<u8>],
    proto_given: bool,
) -> Res<()> {
    let anchor = ast.action == ActionAst::Anchor;
    // flags and os want tcp among the protocols (checked first in
    // anchorrule, after filteropts_to_rule in pfrule)
    let flags = f.flags;
    let tcp_check = || -> Res<()> {
        let fl = flags.is_some_and(|f| f.flags != 0 || f.mask != 0);
        if (fl || !ast.os.is_empty()) && proto_given && !protos.contains(&Some(IPPROTO_TCP)) {
            let mut m = vec![];
            if fl {
                m.push("flags only apply to tcp".to_string());
            }
            if !ast.os.is_empty() {
                m.push(if anchor {
                    "OS fingerprinting only applies to tcp".to_string()
                } else {
                    "OS fingerprinting only apply to tcp".to_string()
                });
            }
            return Err(m);
        }
        Ok(())
    };
    if anchor {
        tcp_check()?;
    }
    let x = &r.extras;
    if x.once && (anchor || !matches!(r.action, Action::Pass | Action::Block)) {
        return err("'once' only applies to pass/block rules");
    }
    if r.tag.as_ref().is_some_and(|t| t.len() > NAME_MAX)
        || r.tagged.as_ref().is_some_and(|t| t.1.len() > NAME_MAX)
    {
        return err(format!("tag too long, max {NAME_MAX} chars"));
    }
    if r.label.as_ref().is_some_and(|l| l.len() > NAME_MAX) {
        return err(format!("rule label too long (max {NAME_MAX} chars)"));
    }
    if x.af_to.is_some() && r.direction != Direction::In {
        return err("af-to can only be used with direction in");
    }
    if x.af_to.is_some() && f.route.is_some() {
        return err("af-to cannot be used together with route-to, reply-to, dup-to");
    }
    if let Some(f) = flags {
        if f.flags & f.mask != f.flags {
            return err("flags always false");
        }
    }
    if !anchor {
        tcp_check()?;
    }
    if anchor {
        // pfctl's anchorrule: no state or route handling on anchors (so
        // no default state or flags either); translations and divert
        // are dropped.
        if f.keep.as_ref().is_some_and(|(k, _)| *k != KeepState::None) {
            return err("cannot specify state handling on anchors");
        }
        if f.route.is_some() {
            return err("cannot specify route handling on anchors");
        }
        f.keep = Some((KeepState::None, vec![]));
        (f.nat, f.rdr, f.binat, f.divert, r.extras.af_to) = (None, None, false, None, None);
    }
    Ok(())
}

/// pfctl's `expand_divertspec`: `divert-to` takes the address of the
/// rule's family (and gives the rule that family if it had none).
fn divert_spec(r: &mut Rule, hosts: Option<Vec<HostNode>>, d: Divert) -> Res<()> {
    r.extras.divert = match d {
        Divert::To(_, port) => {
            if r.direction == Direction::Out {
                return err("divert-to used with outgoing rule");
            }
            let hosts = hosts.unwrap_or_default();
            let pick = match r.af {
                Some(af) => hosts.iter().find(|h| h.af == Some(af)),
                None => hosts.first(),
            };
            let Some(HostNode {
                addr: AddrKind::Net(n),
                af,
                ..
            }) = pick
            else {
                return err("divert-to address family mismatch");
            };
            if r.af.is_none() {
                r.af = *af;
            }
            Divert::To(n.addr, port)
        }
        Divert::Reply if r.direction == Direction::In => {
            return err("divert-reply used with incoming rule");
        }
        other => other,
    };
    Ok(())
}

//! AST → resolved rules. Resolves names through the `Resolver` (interfaces,
//! hosts, services, users, groups, protocols), applies pfctl's defaults
//! (`keep state` and `flags S/SA` on pass rules, `set block-policy` on bare
//! `block`), multiplies lists in pfctl's order (interface, protocol,
//! icmp-type, source host, destination host, source port, destination port,
//! user, group), drops address-family-impossible combinations, and checks
//! each resulting rule the way pfctl's `rule_consistent` does. `set`
//! statements update `Options` and are recorded as `Directive`s.

use super::ast::*;
use super::error::ConfError;
use super::names;
use super::Resolver;
use crate::addr::{Af, IpNet};
use crate::ruleset::*;
use std::net::IpAddr;

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;

/// Marks an `on rdomain N` item among the interfaces of a rule.
const RDOMAIN: char = '\u{2}';

/// Maximum label / tag length pfctl accepts (the kernel's buffers are 64).
const NAME_MAX: usize = 63;

/// Interpreter state for one `parse` call.
pub struct Expander<'r> {
    pub(crate) resolver: &'r dyn Resolver,
    block_policy_return: bool,
    /// `set state-defaults`: applied to pass rules without `keep state`.
    state_defaults: Option<Vec<StateOptAst>>,
    /// `set syncookies adaptive (start, end)` watermarks once set.
    syncookie_wat: Option<(u32, u32)>,
    /// `set state-policy if-bound`: stateful rules read after it without a
    /// state locking option of their own are if-bound (pfctl's
    /// default_statelock).
    default_if_bound: bool,
    auto_tables: AutoTables,
    pub ruleset: Ruleset,
    pub errors: Vec<ConfError>,
    /// Queue definitions seen so far (`queue.rs`).
    pub queues: super::queue::Queues,
    /// The inline anchors being read (`a`, `b` inside `anchor a { anchor b
    /// { ... } }`), for the anchor of table definitions.
    pub anchor_path: Vec<String>,
    /// pfctl's yacc `yyerrflag`: after an error, the number of tokens the
    /// parser must still shift before it reports a syntax error again.
    pub errflag: u32,
    /// pfctl has exited (errx): nothing more is read.
    pub fatal: bool,
    /// `rule_prefix` at work: stop after the checks of the rule's parts.
    prefix_only: bool,
    /// Inline anchor bodies opened so far (pfctl's `bn`): an anonymous one
    /// is named `_N` after it.
    pub braces: u32,
}

/// One resolved address of a list.
#[derive(Debug, Clone)]
pub(super) struct HostNode {
    pub(super) addr: AddrKind,
    pub(super) neg: bool,
    pub(super) af: Option<Af>,
    /// Interface of a link-local IPv6 address (`fe80::1%lo0`, or a
    /// link-local address taken from an interface).
    pub(super) scope: Option<String>,
    /// An IPv4 address given a mask longer than 32 bits (pfctl's
    /// check_netmask refuses it in a rule: "netmask N invalid for IPv4
    /// address").
    pub(super) bad_mask: Option<u8>,
}

impl HostNode {
    fn any() -> HostNode {
        HostNode {
            addr: AddrKind::Any,
            neg: false,
            af: None,
            scope: None,
            bad_mask: None,
        }
    }
}

/// The translations and routing of one rule, resolved but not expanded.
struct Translations {
    nat: Option<RedirSpec>,
    rdr: Option<RedirSpec>,
    route: Option<(RouteKind, RedirSpec)>,
    /// `nat` came from `binat-to`.
    binat: bool,
}

/// A resolved `nat-to` / `rdr-to`.
#[derive(Debug, Clone)]
struct RedirSpec {
    hosts: Vec<HostNode>,
    /// (a, b, is_range, star)
    port: Option<(u16, u16, bool, bool)>,
    pool_type: PoolType,
    sticky: bool,
    static_port: bool,
    key: [u32; 4],
}

/// Per-rule error context: the messages of one statement.
pub(super) type Res<T> = Result<T, Vec<String>>;

/// Marks a message pfctl prints bare on stderr (plain `fprintf`, as
/// `host()` does), without the `file:line:` of `yyerror`; `errors_from`
/// turns it into a `ConfError::bare`.
const BARE: char = '\u{1}';

/// Marks a warning (`file:line: warning: ...`) among the messages of a
/// statement: printed, but no error.
const WARN: char = '\u{3}';

fn warn_msg(m: impl std::fmt::Display) -> String {
    format!("{WARN}{m}")
}

fn is_warning(m: &str) -> bool {
    m.starts_with(WARN)
}

pub(super) fn bare(m: impl std::fmt::Display) -> String {
    format!("{BARE}{m}")
}

/// A message pfctl prints with warnx(3): `pfctl: message`, no location.
pub(super) fn global(m: impl std::fmt::Display) -> String {
    bare(format!("pfctl: {m}"))
}

/// The text of a message made by `bare`, None for a `yyerror` one.
pub(super) fn bare_text(m: &str) -> Option<&str> {
    m.strip_prefix(BARE)
}

fn err<T>(m: impl Into<String>) -> Res<T> {
    Err(vec![m.into()])
}

fn is_v6_link_local(a: &IpAddr) -> bool {
    match a {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

/// A NUMBER that must fit an unsigned 32-bit value (timeouts, limits,
/// state options): pfctl's `$n < 0 || $n > UINT_MAX` check. The lexer has
/// refused what does not fit a long long already.
fn parse_u32(s: &str) -> Res<u32> {
    match s.parse::<i64>() {
        Ok(v) if (0..=u32::MAX as i64).contains(&v) => Ok(v as u32),
        _ => err("only positive values permitted"),
    }
}

impl<'r> Expander<'r> {
    pub fn new(resolver: &'r dyn Resolver) -> Expander<'r> {
        Expander {
            resolver,
            block_policy_return: false,
            state_defaults: None,
            syncookie_wat: None,
            default_if_bound: false,
            auto_tables: AutoTables::default(),
            ruleset: Ruleset::default(),
            errors: vec![],
            queues: Default::default(),
            anchor_path: vec![],
            errflag: 0,
            fatal: false,
            prefix_only: false,
            braces: 0,
        }
    }

    fn error(&mut self, file: &str, line: u32, msg: impl Into<String>) {
        self.errors.push(ConfError::new(file, line, msg));
    }

    pub(super) fn errors_from(&mut self, file: &str, line: u32, msgs: Vec<String>) {
        for m in msgs {
            if let Some(w) = m.strip_prefix(WARN) {
                self.errors.push(ConfError::warning(file, line, w));
                continue;
            }
            match bare_text(&m) {
                Some(b) => self.errors.push(ConfError::bare(b)),
                None => self.error(file, line, m),
            }
        }
    }

    // ------------------------------------------------------------ macros, set

    pub fn macro_def(&mut self, name: &str, value: &str) {
        self.ruleset.directives.push(Directive::Macro {
            name: name.to_string(),
            value: value.to_string(),
        });
    }

    pub fn set_option(&mut self, opt: &SetOption, file: &str, line: u32) {
        if let Err(msgs) = self.set_option_inner(opt) {
            self.errors_from(file, line, msgs);
        }
    }

    fn set_option_inner(&mut self, opt: &SetOption) -> Res<()> {
        let rs = &mut self.ruleset;
        match opt {
            SetOption::BlockPolicyReturn(ret) => {
                self.block_policy_return = *ret;
                let p = if *ret {
                    BlockPolicy::Return
                } else {
                    BlockPolicy::Drop
                };
                rs.options.block_policy = Some(p);
                rs.directives.push(Directive::BlockPolicy(p));
            }
            SetOption::Skip(items) => {
                // expand_skip_interface: no list, or a lone `none`, clears
                if items.is_empty() {
                    rs.options.skip.clear();
                    rs.directives.push(Directive::Skip(vec![]));
                    return Ok(());
                }
                if let [IfItem {
                    neg: false,
                    name: IfName::Name(n),
                }] = items.as_slice()
                {
                    if n == "none" {
                        rs.options.skip.clear();
                        rs.directives.push(Directive::Skip(vec![]));
                        return Ok(());
                    }
                }
                // pfctl prints each name (an rdomain has none) before it
                // checks it
                let mut names = vec![];
                let mut printed = vec![];
                let mut errs = vec![];
                for i in items {
                    let name = match &i.name {
                        IfName::Any => "any".to_string(),
                        IfName::Name(n) => n.clone(),
                        IfName::Rdomain(_) => String::new(),
                    };
                    printed.push(name.clone());
                    if i.neg {
                        errs.push("skip on ! <interface> is not supported".to_string());
                    } else if matches!(i.name, IfName::Rdomain(_)) {
                        errs.push("skip on rdomain <num> is not supported".to_string());
                    } else {
                        names.push(name);
                    }
                }
                rs.directives.push(Directive::Skip(printed));
                if !errs.is_empty() {
                    errs.push("error setting skip interface(s)".to_string());
                    return Err(errs);
                }
                for n in names {
                    if !rs.options.skip.contains(&n) {
                        rs.options.skip.push(n);
                    }
                }
            }
            SetOption::Timeout(list) => {
                for (name, v) in list {
                    let v = parse_u32(v)?;
                    // pfctl_set_timeout: strcasecmp, a warning, then the
                    // parser's message
                    let Some(t) = Timeout::from_name(&name.to_ascii_lowercase()) else {
                        return Err(vec![
                            global("Bad timeout name."),
                            format!("unknown timeout {name}"),
                        ]);
                    };
                    rs.options.timeouts.push((t, v));
                    rs.directives.push(Directive::Timeout(name.clone(), v));
                }
            }
            SetOption::Limit(list) => {
                for (name, v) in list {
                    let v = parse_u32(v)?;
                    let Some(l) = Limit::from_name(&name.to_ascii_lowercase()) else {
                        return Err(vec![
                            global("Bad pool name."),
                            format!("unable to set limit {name} {v}"),
                        ]);
                    };
                    rs.options.limits.push((l, v));
                    rs.directives.push(Directive::Limit(name.clone(), v));
                }
            }
            SetOption::HostId(s) => {
                // `number`: a NUMBER (negative ones pass the check and
                // wrap, as in pfctl) or a STRING read by strtoul(3).
                let v: i128 = match s.parse::<i64>() {
                    Ok(n) => n as i128,
                    Err(_) => match names::strtoul(s) {
                        Some(v) => v as i128,
                        None => return err(format!("{s} is not a number")),
                    },
                };
                if v == 0 || v > u32::MAX as i128 {
                    return err("hostid must be non-zero");
                }
                let v = v as u32;
                rs.options.hostid = Some(v);
                rs.directives.push(Directive::HostId(v));
            }
            SetOption::LogInterface(s) => {
                rs.options.loginterface = Some(s.clone());
                rs.directives.push(Directive::LogInterface(s.clone()));
            }
            SetOption::Debug(s) => {
                // string_to_loglevel: 0 to 7, or a syslog priority name
                // (any case) other than "none"
                const LEVELS: &[&str] = &[
                    "alert", "crit", "debug", "emerg", "err", "error", "info", "notice", "panic",
                    "warn", "warning",
                ];
                let lower = s.to_ascii_lowercase();
                let ok = if s.starts_with(|c: char| c.is_ascii_digit()) {
                    s.bytes().all(|b| b.is_ascii_digit()) && matches!(s.parse::<u8>(), Ok(0..=7))
                } else {
                    LEVELS.contains(&lower.as_str())
                };
                if !ok {
                    return Err(vec![
                        global(format!("unknown debug level \"{s}\"")),
                        format!("error setting debuglevel {s}"),
                    ]);
                }
                rs.options.debug = Some(s.clone());
                rs.directives.push(Directive::Debug(s.clone()));
            }
            SetOption::RulesetOptimization(s) => {
                if !matches!(s.as_str(), "none" | "basic" | "profile") {
                    return err(format!("unknown ruleset-optimization {s}"));
                }
                rs.options.ruleset_optimization = Some(s.clone());
                rs.directives
                    .push(Directive::RulesetOptimization(s.clone()));
            }
            SetOption::Optimization(s) => {
                let Some(preset) = optimization_preset(s) else {
                    return Err(vec![
                        global("invalid state timeouts optimization"),
                        format!("unknown optimization {s}"),
                    ]);
                };
                // pfctl sets the hint's timeouts here, in order: a later
                // `set timeout` overrides them, an earlier one does not.
                rs.options.timeouts.extend_from_slice(preset);
                rs.options.optimization = Some(s.clone());
                rs.directives.push(Directive::Optimization(s.clone()));
            }
            SetOption::Reassemble(word, no_df) => {
                let on = match word.as_str() {
                    "yes" => true,
                    "no" => false,
                    w => return err(format!("invalid value '{w}', expected 'yes' or 'no'")),
                };
                rs.options.reassemble = Some((on, *no_df));
                rs.directives
                    .push(Directive::Reassemble { on, no_df: *no_df });
            }
            SetOption::StatePolicyIfBound(b) => {
                rs.options.state_policy_if_bound = Some(*b);
                self.default_if_bound = *b;
                rs.directives.push(Directive::StatePolicyIfBound(*b));
            }
            SetOption::StateDefaults(opts) => {
                if self.state_defaults.is_some() {
                    return err("cannot redefine state-defaults");
                }
                // each option is checked as it is read; their combination
                // only on the rules that take them
                state_option_items(opts)?;
                self.state_defaults = Some(opts.clone());
            }
            SetOption::Fingerprints(f) => {
                rs.directives.push(Directive::Fingerprints(f.clone()));
            }
            SetOption::Syncookies(mode, opts) => {
                // syncookie_val, syncookie_opt, then pfctl_set_syncookies
                if !matches!(mode.as_str(), "never" | "adaptive" | "always") {
                    return err("illegal value for syncookies");
                }
                let mut wat: Option<(u32, u32)> = None;
                if !opts.is_empty() {
                    let (mut hi, mut lo) = (0u32, 0u32);
                    for (k, v) in opts {
                        // strtod(3) and a `%` after the number
                        let pct = v.strip_suffix('%').and_then(|x| x.parse::<f64>().ok());
                        let p = match pct {
                            Some(p) if p > 0.0 && p <= 100.0 => p,
                            Some(_) => return err("illegal percentage value"),
                            None => return err("syntax error"),
                        };
                        match k.as_str() {
                            "start" => hi = p as u32,
                            "end" => lo = p as u32,
                            _ => return err("illegal syncookie option"),
                        }
                    }
                    if mode != "adaptive" {
                        return Err(vec![
                            global("syncookies start/end only apply to adaptive"),
                            "error setting syncookies".to_string(),
                        ]);
                    }
                    if hi == 0 {
                        hi = 25;
                    }
                    if lo == 0 {
                        lo = hi / 2;
                    }
                    if lo >= hi {
                        return Err(vec![
                            global("start must be higher than end"),
                            "error setting syncookies".to_string(),
                        ]);
                    }
                    wat = Some((hi, lo));
                }
                if wat.is_some() {
                    self.syncookie_wat = wat;
                }
                // what pfd enforces: the last mode, the last watermarks given
                self.ruleset.options.syncookies = crate::ruleset::SyncookiesMode::from_name(mode);
                self.ruleset.options.syncookies_watermarks = self.syncookie_wat;
                // the watermarks, once set, are printed with any later
                // `adaptive` (pfctl keeps them in a global)
                let text = match (mode.as_str(), self.syncookie_wat) {
                    ("adaptive", Some((hi, lo))) => format!("adaptive (start {hi}%, end {lo}%)"),
                    _ => mode.clone(),
                };
                self.ruleset.directives.push(Directive::Syncookies(text));
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ name resolution

    /// pfctl's `host()`: interface (with modifiers), numeric address, then
    /// host name. A STRING may carry its own `/bits` (a quoted
    /// "10.0.0.0/8", a table file line).
    pub(super) fn host_name(&self, name: &str, mask: Option<&str>) -> Res<Vec<HostNode>> {
        let (name, mask) = match (mask, name.split_once('/')) {
            (None, Some((n, m))) => (n, Some(m)),
            _ => (name, mask),
        };
        let full = match mask {
            Some(m) => format!("{name}/{m}"),
            None => name.to_string(),
        };
        // strtonum(3) on the mask, 0 to 128
        let mask = match mask {
            None => None,
            Some(m) => match m.parse::<i64>() {
                Ok(b) if (0..=128).contains(&b) => Some(b as u8),
                r => {
                    let why = match r {
                        Ok(b) if b < 0 => "too small",
                        Ok(_) => "too large",
                        Err(_) if is_number(m) => {
                            if m.starts_with('-') {
                                "too small"
                            } else {
                                "too large"
                            }
                        }
                        Err(_) => "invalid",
                    };
                    return Err(vec![
                        bare(format!("netmask is {why}: /{m}")),
                        "could not parse host specification".to_string(),
                    ]);
                }
            },
        };
        // host_if's warnings are printed even when a later lookup is tried
        let mut warnings = vec![];
        if let Some(h) = self.host_if(name, mask, &mut warnings) {
            return Ok(h);
        }
        if let Some((addr, scope)) = name.split_once('%') {
            // A scoped IPv6 address: valid only with an existing interface.
            if let (Ok(IpAddr::V6(a)), Some(_)) =
                (addr.parse::<IpAddr>(), self.resolver.if_addrs(scope))
            {
                let mut n = net_node(IpAddr::V6(a), mask);
                n.scope = Some(scope.to_string());
                return Ok(vec![n]);
            }
        } else if let Some(h) = host_ip(name, mask) {
            return Ok(h);
        }
        let (lookup, noalias) = match name.strip_suffix(":0") {
            Some(n) => (n, true),
            None => (name, false),
        };
        let addrs = if lookup.is_empty() {
            vec![]
        } else {
            self.resolver.host(lookup)
        };
        let mut out = vec![];
        let (mut got4, mut got6) = (false, false);
        for a in addrs {
            if noalias {
                let got = if a.is_ipv4() { &mut got4 } else { &mut got6 };
                if *got {
                    continue;
                }
                *got = true;
            }
            out.push(net_node(a, mask));
        }
        if out.is_empty() {
            warnings.push(bare(format!("no IP address found for {full}")));
            warnings.push("could not parse host specification".to_string());
            return Err(warnings);
        }
        Ok(out)
    }

    /// pfctl's `host_if`: an interface or group name with `:network`,
    /// `:broadcast`, `:peer` and `:0` (the first three exclusive), `self`
    /// for every address. None sends `host()` on to the next lookup; the
    /// warnings it prints on the way go to `warnings`.
    fn host_if(
        &self,
        spec: &str,
        mask: Option<u8>,
        warnings: &mut Vec<String>,
    ) -> Option<Vec<HostNode>> {
        let mut name = spec;
        let (mut network, mut broadcast, mut peer, mut noalias) = (false, false, false, false);
        while let Some(i) = name.rfind(':') {
            match &name[i + 1..] {
                "network" => network = true,
                "broadcast" => broadcast = true,
                "peer" => peer = true,
                "0" => noalias = true,
                _ => return None,
            }
            name = &name[..i];
        }
        if [network, broadcast, peer].iter().filter(|x| **x).count() > 1 {
            warnings.push(bare("illegal combination of interface modifiers"));
            return None;
        }
        if (network || broadcast) && mask.is_some() {
            warnings.push(bare("network or broadcast lookup, but extra netmask given"));
            return None;
        }
        if name.is_empty() {
            return None;
        }
        let addrs = if peer {
            // pfi's PFI_AFLAG_PEER: the far end of point-to-point links.
            self.resolver
                .if_peers(name)?
                .into_iter()
                .map(|(n, a)| (n, IpNet::host(a)))
                .collect()
        } else {
            self.resolver.if_addr_owners(name)?
        };
        let mut out = vec![];
        let (mut got4, mut got6) = (false, false);
        let mut last_if: Option<&str> = None;
        for (owner, n) in &addrs {
            if broadcast && (n.af() != Af::Inet || n.prefix >= 31 || n.addr.is_loopback()) {
                continue;
            }
            if network && is_v6_link_local(&n.addr) {
                continue;
            }
            // ifa_lookup: `:0` takes the first address of each family of
            // each member interface
            if last_if != Some(owner.as_str()) {
                got4 = false;
                got6 = false;
            }
            last_if = Some(owner.as_str());
            if noalias {
                let got = if n.af() == Af::Inet {
                    &mut got4
                } else {
                    &mut got6
                };
                if *got {
                    continue;
                }
                *got = true;
            }
            let net = if network {
                n.to_network()
            } else if broadcast {
                IpNet::host(n.broadcast())
            } else {
                IpNet::host(n.addr)
            };
            let mut node = match mask {
                Some(m) => net_node(net.addr, Some(m)),
                None => net_node(net.addr, None),
            };
            if let (None, AddrKind::Net(x)) = (mask, &mut node.addr) {
                *x = net;
            }
            if is_v6_link_local(&n.addr) {
                node.scope = Some(owner.clone());
            }
            out.push(node);
        }
        if out.is_empty() {
            None
        } else {
            Some(out)
        }
    }

    fn resolve_host(&self, h: &HostAst) -> Res<Vec<HostNode>> {
        match h {
            HostAst::Name { name, mask } => self.host_name(name, mask.as_deref()),
            HostAst::Table(t) => {
                if t.len() > 31 {
                    return err(format!("table name '{t}' too long"));
                }
                Ok(vec![HostNode {
                    addr: AddrKind::Table(t.clone()),
                    neg: false,
                    af: None,
                    scope: None,
                    bad_mask: None,
                }])
            }
            HostAst::RouteLabel(l) => {
                if l.len() > 31 {
                    return err("route label too long, max 31 chars");
                }
                Ok(vec![HostNode {
                    addr: AddrKind::RouteLabel(l.clone()),
                    neg: false,
                    af: None,
                    scope: None,
                    bad_mask: None,
                }])
            }
            HostAst::Range(a, b) => {
                let (Ok(x), Ok(y)) = (self.host_name(a, None), self.host_name(b, None)) else {
                    return err("could not parse host specification");
                };
                match (x.as_slice(), y.as_slice()) {
                    (
                        [HostNode {
                            addr: AddrKind::Net(p),
                            ..
                        }],
                        [HostNode {
                            addr: AddrKind::Net(q),
                            ..
                        }],
                    ) if p.is_host() && q.is_host() && p.af() == q.af() => Ok(vec![HostNode {
                        addr: AddrKind::Range(p.addr, q.addr),
                        neg: false,
                        af: Some(p.af()),
                        scope: None,
                        bad_mask: None,
                    }]),
                    _ => err("invalid address range"),
                }
            }
            HostAst::Dynamic { spec, mask } => {
                if !spec
                    .as_bytes()
                    .first()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                {
                    return err(format!("invalid interface name '{spec}'"));
                }
                // dynaddr: modifiers from the right; a bad one is
                // reported with what is left of the name at that point
                let mut name = spec.as_str();
                let mut mode = DynModifier::None;
                let (mut modes, mut noalias) = (0, false);
                while let Some(i) = name.rfind(':') {
                    let m = match &name[i + 1..] {
                        "network" => DynModifier::Network,
                        "broadcast" => DynModifier::Broadcast,
                        "peer" => DynModifier::Peer,
                        "0" => DynModifier::NoAlias,
                        _ => return err(format!("interface {name} has bad modifier")),
                    };
                    if m == DynModifier::NoAlias {
                        noalias = true;
                    } else if m != mode {
                        modes += 1;
                        mode = m;
                    }
                    name = &name[..i];
                }
                // flags & (flags - 1) & PFI_AFLAG_MODEMASK
                if modes > 1 {
                    return err("illegal combination of interface modifiers");
                }
                let modifier = DynModifier::with(mode, noalias);
                if name.len() >= 16 {
                    return err("interface name too long");
                }
                // dynaddr '/' NUMBER
                let mask = match mask {
                    None => None,
                    Some(m) => match m.parse::<i64>() {
                        Ok(b) if (0..=128).contains(&b) => Some(b as u8),
                        _ => return err("bit number too big"),
                    },
                };
                Ok(vec![HostNode {
                    addr: AddrKind::Dynamic {
                        ifname: name.to_string(),
                        modifier,
                        mask,
                    },
                    neg: false,
                    af: None,
                    scope: None,
                    bad_mask: None,
                }])
            }
        }
    }

    /// A `from`/`to` address list; None = any (pfctl: any element being
    /// `any` makes the whole list `any`).
    pub(super) fn resolve_hosts(&self, item: &Option<HostItem>) -> Res<Option<Vec<HostNode>>> {
        let Some(item) = item else { return Ok(None) };
        match item {
            HostItem::Any => Ok(None),
            HostItem::Host { neg, host } => {
                let mut v = self.resolve_host(host)?;
                for n in &mut v {
                    n.neg = *neg;
                }
                Ok(Some(v))
            }
            HostItem::NoRoute { neg } => Ok(Some(vec![HostNode {
                addr: AddrKind::NoRoute,
                neg: *neg,
                af: None,
                scope: None,
                bad_mask: None,
            }])),
            HostItem::UrpfFailed { neg } => Ok(Some(vec![HostNode {
                addr: AddrKind::UrpfFailed,
                neg: *neg,
                af: None,
                scope: None,
                bad_mask: None,
            }])),
            HostItem::List(items) => {
                let mut out = vec![];
                let mut any = false;
                for i in items {
                    match self.resolve_hosts(&Some(i.clone()))? {
                        None => any = true,
                        Some(v) => out.extend(v),
                    }
                }
                Ok(if any { None } else { Some(out) })
            }
        }
    }

    /// pfctl's `getservice`: number or service name (tcp, then udp).
    fn service(&self, s: &str) -> Res<u16> {
        if let Some(v) = names::atoul(s) {
            if v > 65535 {
                return err(format!("illegal port value {v}"));
            }
            return Ok(v as u16);
        }
        match self
            .resolver
            .service(s, "tcp")
            .or_else(|| self.resolver.service(s, "udp"))
        {
            Some(p) => Ok(p),
            None => err(format!("unknown port {s}")),
        }
    }

    /// `parseport` without extensions (pfctl's `portplain`): no `:`.
    fn port_plain(&self, s: &str) -> Res<u16> {
        if s.contains(':') {
            return err(format!("port is invalid: {s}"));
        }
        self.service(s)
    }

    /// `parseport` with ranges (`a:b`) and optionally `a:*`: (a, b, range, star).
    fn port_range(&self, s: &str, star: bool) -> Res<(u16, u16, bool, bool)> {
        match s.split_once(':') {
            None => Ok((self.service(s)?, 0, false, false)),
            Some((a, "*")) if star => Ok((self.service(a)?, 0, false, true)),
            Some((a, b)) => {
                let a = self.service(a)?;
                let b = self.service(b)?;
                if a == b {
                    Ok((a, 0, false, false))
                } else {
                    Ok((a, b, true, false))
                }
            }
        }
    }

    fn port_items(&self, items: &[ItemAst]) -> Res<Vec<PortOp>> {
        let mut out = vec![];
        for it in items {
            out.push(match it {
                ItemAst::Plain(w) => {
                    let (a, b, range, _) = self.port_range(w, false)?;
                    if range {
                        if a > b {
                            return err("invalid port range");
                        }
                        PortOp::Range(a, b)
                    } else {
                        PortOp::Eq(a)
                    }
                }
                ItemAst::Unary(op, w) => {
                    let (a, _, range, _) = self.port_range(w, false)?;
                    if range {
                        return err("':' cannot be used with an other port operator");
                    }
                    match op {
                        OpAst::Ne => PortOp::Ne(a),
                        OpAst::Lt => PortOp::Lt(a),
                        OpAst::Le => PortOp::Le(a),
                        OpAst::Gt => PortOp::Gt(a),
                        OpAst::Ge => PortOp::Ge(a),
                        _ => PortOp::Eq(a),
                    }
                }
                ItemAst::Binary(x, op, y) => {
                    let (a, _, r1, _) = self.port_range(x, false)?;
                    let (b, _, r2, _) = self.port_range(y, false)?;
                    if r1 || r2 {
                        return err("':' cannot be used with an other port operator");
                    }
                    if *op == OpAst::Inside {
                        if a >= b {
                            return err("invalid port range");
                        }
                        PortOp::Inside(a, b)
                    } else {
                        if a > b {
                            return err("invalid port range");
                        }
                        PortOp::Outside(a, b)
                    }
                }
            });
        }
        Ok(out)
    }

    /// `rtable N`: 0 to RT_TABLEID_MAX, and a table the host has
    /// (lookup_rtable).
    fn rtable(&self, n: &str) -> Res<u32> {
        match n.parse::<i64>() {
            Ok(v) if (0..=255).contains(&v) => {
                if !self.resolver.rtable_exists(v as u32) {
                    return err(format!("rtable {v} does not exist"));
                }
                Ok(v as u32)
            }
            _ => err("invalid rtable id"),
        }
    }

    fn id_value(&self, s: &str, group: bool) -> Res<u32> {
        if s == "unknown" {
            return Ok(u32::MAX);
        }
        let what = if group { "gid" } else { "uid" };
        // a NUMBER: 0 to UID_MAX - 1 (UID_MAX is the unsigned maximum)
        if is_number(s) {
            return match s.parse::<i64>() {
                Ok(v) if (0..u32::MAX as i64).contains(&v) => Ok(v as u32),
                _ => err(format!("illegal {what} value {s}")),
            };
        }
        let r = if group {
            self.resolver.group(s)
        } else {
            self.resolver.user(s)
        };
        match r {
            Some(v) => Ok(v),
            None => err(format!(
                "unknown {} {s}",
                if group { "group" } else { "user" }
            )),
        }
    }

    fn id_items(&self, items: &[ItemAst], group: bool) -> Res<Vec<IdOp>> {
        let what = if group { "group" } else { "user" };
        let unknown_err = || err(format!("{what} unknown requires operator = or !="));
        let mut out = vec![];
        for it in items {
            out.push(match it {
                ItemAst::Plain(w) => IdOp::Eq(self.id_value(w, group)?),
                ItemAst::Unary(op, w) => {
                    let v = self.id_value(w, group)?;
                    if v == u32::MAX && !matches!(op, OpAst::Eq | OpAst::Ne) {
                        return unknown_err();
                    }
                    match op {
                        OpAst::Ne => IdOp::Ne(v),
                        OpAst::Lt => IdOp::Lt(v),
                        OpAst::Le => IdOp::Le(v),
                        OpAst::Gt => IdOp::Gt(v),
                        OpAst::Ge => IdOp::Ge(v),
                        _ => IdOp::Eq(v),
                    }
                }
                ItemAst::Binary(x, op, y) => {
                    let a = self.id_value(x, group)?;
                    let b = self.id_value(y, group)?;
                    if a == u32::MAX || b == u32::MAX {
                        return unknown_err();
                    }
                    if *op == OpAst::Inside {
                        IdOp::Inside(a, b)
                    } else {
                        IdOp::Outside(a, b)
                    }
                }
            });
        }
        Ok(out)
    }

    fn protocol(&self, s: &str) -> Res<u8> {
        let p = if is_number(s) {
            match s.parse::<i64>() {
                Ok(v) if (0..=255).contains(&v) => v as u8,
                _ => return err("protocol outside range"),
            }
        } else {
            match self.resolver.protocol(s) {
                Some(p) => p,
                None => return err(format!("unknown protocol {s}")),
            }
        };
        if p == 0 {
            return err("proto 0 cannot be used");
        }
        Ok(p)
    }

    fn redir(&self, r: &RedirAst, what: &str) -> Res<RedirSpec> {
        let mut hosts = vec![];
        for (i, h) in r.hosts.iter().enumerate() {
            let v = self.resolve_host(h)?;
            // optweight: 1 to USHRT_MAX (pfctl keeps it for tables only,
            // and prints it nowhere)
            if let Some(Some(w)) = r.weights.get(i) {
                if !matches!(w.parse::<i64>(), Ok(1..=65535)) {
                    return err("weight out of range");
                }
            }
            // redir_host_list checks the first host of a braced list only
            if r.braced
                && i == 0
                && v.first()
                    .is_some_and(|n| !matches!(n.addr, AddrKind::Net(_)))
            {
                return err("only addresses can be listed for redirection pools ");
            }
            hosts.extend(v);
        }
        let port = match &r.port {
            Some(p) => Some(self.port_range(p, true)?),
            None => None,
        };
        let mut spec = RedirSpec {
            hosts,
            port,
            pool_type: PoolType::None,
            sticky: false,
            static_port: false,
            key: [0; 4],
        };
        for o in &r.opts {
            let t = match o {
                PoolOptAst::Bitmask => PoolType::Bitmask,
                PoolOptAst::Random => PoolType::Random,
                PoolOptAst::RoundRobin => PoolType::RoundRobin,
                PoolOptAst::LeastStates => PoolType::LeastStates,
                PoolOptAst::SourceHash(k) => {
                    spec.key = hash_key(k.as_deref())?;
                    PoolType::SourceHash
                }
                PoolOptAst::StaticPort => {
                    if spec.static_port {
                        return err("static-port cannot be redefined");
                    }
                    spec.static_port = true;
                    continue;
                }
                PoolOptAst::StickyAddress => {
                    if spec.sticky {
                        return err("sticky-address cannot be redefined");
                    }
                    spec.sticky = true;
                    continue;
                }
            };
            if spec.pool_type != PoolType::None {
                return err("pool type cannot be redefined");
            }
            spec.pool_type = t;
        }
        let _ = what;
        Ok(spec)
    }

    // ------------------------------------------------------------ rules

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
        const RET_ICMP: (u8, u8) = (3, 3);
        const RET_ICMP6: (u8, u8) = (1, 4);
        if let ActionAst::Block(spec) = &ast.action {
            r.block = match spec {
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
            };
        }
        r.direction = ast.direction;
        r.quick = ast.quick;
        if let Some(opts) = &ast.log {
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
                            Err(_) if num && v.starts_with('-') => {
                                return err(format!("{s}: too small"))
                            }
                            Err(_) if num => return err(format!("{s}: too large")),
                            _ => return err(format!("{s}: invalid")),
                        }
                    }
                }
            }
        }
        r.af = ast.af;

        // Interfaces.
        let mut ifaces: Vec<Option<IfMatch>> = vec![];
        for i in &ast.on {
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

        // Filter options.
        let mut uids: Vec<IdOp> = vec![];
        let mut gids: Vec<IdOp> = vec![];
        let mut flags: Option<TcpFlags> = None;
        let mut icmp: Option<Vec<(u8, Option<u8>, u8)>> = None;
        let mut keep: Option<(KeepState, Vec<StateOptAst>)> = None;
        let mut nat: Option<RedirSpec> = None;
        let mut rdr: Option<RedirSpec> = None;
        let mut binat = false;
        let mut route: Option<(RouteKind, RedirSpec)> = None;
        let mut divert: Option<(Option<Vec<HostNode>>, Divert)> = None;
        let mut set_prio_given = false;
        let mut received_on_given = false;
        let x = &mut r.extras;
        for o in &ast.opts {
            match o {
                FilterOpt::User(items) => {
                    let mut v = self.id_items(items, false)?;
                    v.extend(uids);
                    uids = v;
                }
                FilterOpt::Group(items) => {
                    let mut v = self.id_items(items, true)?;
                    v.extend(gids);
                    gids = v;
                }
                FilterOpt::Flags(f, m) => {
                    if flags.is_some() {
                        return err("flags cannot be redefined");
                    }
                    let parse = |s: &Option<String>| -> Res<u8> {
                        match s {
                            None => Ok(0),
                            Some(s) => {
                                names::parse_flags(s).ok_or_else(|| vec![format!("bad flags {s}")])
                            }
                        }
                    };
                    let (fv, mv) = match (f, m) {
                        (None, None) => (0, 0),
                        _ => (parse(f)?, parse(m)?),
                    };
                    flags = Some(TcpFlags {
                        flags: fv,
                        mask: mv,
                    });
                }
                FilterOpt::IcmpType { v6, items } => {
                    if icmp.is_some() {
                        return err("icmp-type cannot be redefined");
                    }
                    let mut v = vec![];
                    for it in items {
                        v.push(icmp_item(it, *v6)?);
                    }
                    icmp = Some(v);
                }
                FilterOpt::Keep(k, opts) => {
                    if keep.is_some() {
                        return err("modulate or keep cannot be redefined");
                    }
                    let k = match k {
                        KeepAst::No => KeepState::None,
                        KeepAst::Keep => KeepState::Keep,
                        KeepAst::Modulate => KeepState::Modulate,
                        KeepAst::Synproxy => KeepState::Synproxy,
                    };
                    keep = Some((k, opts.clone()));
                }
                FilterOpt::Label(l) => {
                    if r.label.is_some() {
                        return err("label cannot be redefined");
                    }
                    r.label = Some(l.clone());
                }
                FilterOpt::Tag(t) => r.tag = Some(t.clone()),
                FilterOpt::Tagged { neg, name } => r.tagged = Some((*neg, name.clone())),
                FilterOpt::NatTo(rd) => {
                    if nat.is_some() {
                        return err("cannot respecify nat-to/binat-to");
                    }
                    nat = Some(self.redir(rd, "nat-to")?);
                }
                FilterOpt::RdrTo(rd) => {
                    if rdr.is_some() {
                        return err("cannot respecify rdr-to");
                    }
                    rdr = Some(self.redir(rd, "rdr-to")?);
                }
                FilterOpt::BinatTo(rd) => {
                    if nat.is_some() {
                        return err("cannot respecify nat-to/binat-to");
                    }
                    let mut spec = self.redir(rd, "binat-to")?;
                    spec.static_port = true;
                    nat = Some(spec);
                    binat = true;
                }
                FilterOpt::AfTo { af, from, to } => {
                    if nat.is_some() {
                        return err("cannot respecify af-to");
                    }
                    let f = self.redir(from, "af-to")?;
                    let t = match to {
                        Some(t) => Some(self.redir(t, "af-to")?),
                        None => None,
                    };
                    let wrong =
                        |sp: &RedirSpec| sp.hosts.iter().any(|h| h.af.is_some_and(|a| a != *af));
                    if to.is_some() && (wrong(&f) || t.as_ref().is_some_and(wrong)) {
                        return err("af-to addresses must be in the target address family");
                    }
                    nat = Some(f);
                    rdr = t;
                    x.af_to = Some(*af);
                }
                FilterOpt::Route(kind, rd) => {
                    if route.is_some() {
                        return err("cannot respecify route-to/reply-to/dup-to");
                    }
                    route = Some((*kind, self.redir(rd, "route")?));
                }
                FilterOpt::DivertTo { host, port } => {
                    if divert.is_some() {
                        return err("more than one divert option");
                    }
                    let Ok(hosts) = self.host_name(host, None) else {
                        return err(format!("could not parse divert address: {host}"));
                    };
                    let p = self.port_plain(port)?;
                    if p == 0 {
                        return err("invalid divert port: 0");
                    }
                    divert = Some((
                        Some(hosts),
                        Divert::To(std::net::Ipv4Addr::UNSPECIFIED.into(), p),
                    ));
                }
                FilterOpt::DivertReply => {
                    if divert.is_some() {
                        return err("more than one divert option");
                    }
                    divert = Some((None, Divert::Reply));
                }
                FilterOpt::DivertPacket(port) => {
                    if divert.is_some() {
                        return err("more than one divert option");
                    }
                    let p = self.port_plain(port)?;
                    if p == 0 {
                        return err("invalid divert port: 0");
                    }
                    divert = Some((None, Divert::Packet(p)));
                }
                FilterOpt::Scrub(opts) => x.scrub = scrub_options(opts)?,
                FilterOpt::Prio(n) => {
                    if x.prio.is_some() {
                        return err("prio cannot be redefined");
                    }
                    x.prio = Some(prio_value(n)?);
                }
                FilterOpt::Tos(t) => {
                    if x.tos.is_some() {
                        return err("tos cannot be redefined");
                    }
                    x.tos = Some(tos_value(t)?);
                }
                FilterOpt::Probability(p) => x.probability = probability(p)?,
                FilterOpt::Rtable(n) => x.rtable = Some(self.rtable(n)?),
                FilterOpt::ReceivedOn { neg, name } => {
                    if received_on_given {
                        return err("cannot respecify received-on");
                    }
                    received_on_given = true;
                    let name = match name {
                        IfName::Any => "any".to_string(),
                        IfName::Name(n) => {
                            if n.len() >= 16 {
                                return err("interface name too long");
                            }
                            n.clone()
                        }
                        IfName::Rdomain(n) => {
                            // an rdomain has no interface name: pfctl keeps
                            // nothing of it
                            if !matches!(n.parse::<i64>(), Ok(0..=255)) {
                                self.error(file, line, format!("rdomain {n} outside range"));
                            }
                            continue;
                        }
                    };
                    x.received_on = Some(IfMatch { name, neg: *neg });
                }
                FilterOpt::MaxPktRate(a, b) => {
                    let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) else {
                        return err("only positive values permitted");
                    };
                    if x.max_pkt_rate.is_some() {
                        return err("cannot respecify max-pkt-rate");
                    }
                    x.max_pkt_rate = Some((a, b));
                }
                FilterOpt::Queue(q, pq) => {
                    if x.queue.is_some() {
                        return err("queue cannot be redefined");
                    }
                    for name in std::iter::once(q).chain(pq.iter()) {
                        if !self.queue_defined(name) {
                            return err(format!("queue {name} is not defined"));
                        }
                    }
                    x.queue = Some((q.clone(), pq.clone()));
                }
                FilterOpt::SetPrio(a, b) => {
                    if set_prio_given {
                        return err("prio cannot be redefined");
                    }
                    set_prio_given = true;
                    x.set_prio = Some((prio_value(a)?, prio_value(b)?));
                }
                FilterOpt::SetTos(t) => {
                    if x.set_tos.is_some() {
                        return err("tos cannot be respecified");
                    }
                    x.set_tos = Some(tos_value(t)?);
                }
                FilterOpt::SetDelay(d) => {
                    if x.delay.is_some() {
                        return err("delay cannot be respecified");
                    }
                    match d.parse::<i64>() {
                        Ok(v) if (0..=0xffff).contains(&v) => x.delay = Some(v as u16),
                        _ => return err(format!("illegal delay value {d} (0-65535)")),
                    }
                }
                FilterOpt::Fragment => x.fragment = true,
                FilterOpt::AllowOpts => x.allow_opts = true,
                FilterOpt::Once => x.once = true,
            }
        }
        if self.prefix_only {
            return Ok(());
        }
        let anchor = ast.action == ActionAst::Anchor;
        // flags and os want tcp among the protocols (checked first in
        // anchorrule, after filteropts_to_rule in pfrule)
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

        // filteropts_to_rule
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
        if x.af_to.is_some() && route.is_some() {
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
            if keep.as_ref().is_some_and(|(k, _)| *k != KeepState::None) {
                return err("cannot specify state handling on anchors");
            }
            if route.is_some() {
                return err("cannot specify route handling on anchors");
            }
            keep = Some((KeepState::None, vec![]));
            (nat, rdr, binat, divert, r.extras.af_to) = (None, None, false, None, None);
        }

        // State: explicit, or 'keep state' by default on pass rules.
        let (keep_state, state_opts) = match keep {
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
            && flags.is_none()
            && r.keep_state != KeepState::None
            && !r.extras.fragment
        {
            flags = Some(TcpFlags {
                flags: 0x02,
                mask: 0x12,
            });
        }
        r.flags = flags;

        // decide_address_family
        if r.af.is_none() {
            r.af = decide_af(&src_hosts);
        }
        if r.af.is_none() {
            r.af = decide_af(&dst_hosts);
        }

        if let Some((kind, _)) = &route {
            if *kind != RouteKind::DupTo && r.direction == Direction::InOut {
                return err("direction must be explicit with rules that specify routing");
            }
        }
        // expand_divertspec
        if let Some((hosts, d)) = divert {
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
        }

        let trans = Translations {
            nat,
            rdr,
            route,
            binat,
        };
        let oses = ast.os.clone();
        self.expand(
            r, ifaces, protos, icmp, src_hosts, dst_hosts, src_ports, dst_ports, oses, uids, gids,
            trans, file, line,
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        base: Rule,
        ifaces: Vec<Option<IfMatch>>,
        protos: Vec<Option<u8>>,
        icmp: Option<Vec<(u8, Option<u8>, u8)>>,
        src_hosts: Option<Vec<HostNode>>,
        dst_hosts: Option<Vec<HostNode>>,
        src_ports: Vec<PortOp>,
        dst_ports: Vec<PortOp>,
        oses: Vec<String>,
        uids: Vec<IdOp>,
        gids: Vec<IdOp>,
        trans: Translations,
        file: &str,
        line: u32,
    ) {
        let Translations {
            nat,
            rdr,
            route,
            binat,
        } = trans;
        fn opt_list<T: Clone>(v: &[T]) -> Vec<Option<T>> {
            if v.is_empty() {
                vec![None]
            } else {
                v.iter().cloned().map(Some).collect()
            }
        }
        let route_spec = route.as_ref().map(|(_, sp)| sp.clone());
        let icmps: Vec<Option<(u8, Option<u8>, u8)>> = match &icmp {
            Some(v) => opt_list(v),
            None => vec![None],
        };
        let srcs = src_hosts.unwrap_or_else(|| vec![HostNode::any()]);
        let dsts = dst_hosts.unwrap_or_else(|| vec![HostNode::any()]);
        let sports = opt_list(&src_ports);
        let dports = opt_list(&dst_ports);
        let us = opt_list(&uids);
        let gs = opt_list(&gids);
        let oses = opt_list(&oses);
        // LOOP_THROUGH order: ... dst port, src os, uid, gid
        let mut combos = vec![];
        for os in &oses {
            for uid in &us {
                for gid in &gs {
                    combos.push((os.clone(), *uid, *gid));
                }
            }
        }
        let af = base.af;
        let mut added = 0;

        for iface in &ifaces {
            for proto in &protos {
                for ic in &icmps {
                    for src in &srcs {
                        for dst in &dsts {
                            for sp in &sports {
                                for dp in &dports {
                                    for (os, uid, gid) in &combos {
                                        let mut r = base.clone();
                                        r.af = af;
                                        let mut errors: Vec<String> = vec![];
                                        let mut tables = std::mem::take(&mut self.auto_tables);
                                        let rdr_addrs =
                                            collapse(&rdr, &mut r, &mut errors, false, &mut tables);
                                        let nat_addrs =
                                            collapse(&nat, &mut r, &mut errors, false, &mut tables);
                                        let route_addrs = collapse(
                                            &route_spec,
                                            &mut r,
                                            &mut errors,
                                            true,
                                            &mut tables,
                                        );
                                        let here = self.anchor_path.join("/");
                                        for d in &mut tables.made {
                                            if let Directive::Table(t) = d {
                                                t.anchor = here.clone();
                                            }
                                        }
                                        self.ruleset.directives.append(&mut tables.made);
                                        self.auto_tables = tables;
                                        if (r.af.is_some() && src.af.is_some() && r.af != src.af)
                                            || (r.af.is_some()
                                                && dst.af.is_some()
                                                && r.af != dst.af)
                                            || (src.af.is_some()
                                                && dst.af.is_some()
                                                && src.af != dst.af)
                                        {
                                            // pfctl has already printed the pools' errors
                                            self.errors_from(file, line, errors);
                                            continue;
                                        }
                                        // `on rdomain N` names no interface
                                        let rdomain = iface.as_ref().and_then(|i| {
                                            i.name.strip_prefix(RDOMAIN).map(|n| (n, i.neg))
                                        });
                                        let iface = if rdomain.is_some() { &None } else { iface };
                                        let on_name = iface.as_ref().map(|i| i.name.as_str());
                                        let scope_clash = |sc: &Option<String>| {
                                            sc.as_deref()
                                                .is_some_and(|s| on_name.is_some_and(|n| n != s))
                                        };
                                        if (src.scope.is_some()
                                            && dst.scope.is_some()
                                            && src.scope != dst.scope)
                                            || scope_clash(&src.scope)
                                            || scope_clash(&dst.scope)
                                        {
                                            continue;
                                        }
                                        if r.af.is_none() {
                                            r.af = src.af.or(dst.af);
                                        }
                                        r.on = match (iface, &src.scope, &dst.scope) {
                                            (Some(i), _, _) => Some(i.clone()),
                                            (None, Some(s), _) | (None, None, Some(s)) => {
                                                Some(IfMatch {
                                                    name: s.clone(),
                                                    neg: false,
                                                })
                                            }
                                            (None, None, None) => None,
                                        };
                                        if let Some((n, neg)) = rdomain {
                                            r.extras.on_rdomain = n.parse().ok();
                                            r.extras.on_rdomain_not = neg;
                                        }
                                        r.proto = *proto;
                                        r.from = Endpoint {
                                            addr: src.addr.clone(),
                                            neg: src.neg,
                                            port: *sp,
                                        };
                                        r.to = Endpoint {
                                            addr: dst.addr.clone(),
                                            neg: dst.neg,
                                            port: *dp,
                                        };
                                        r.user = *uid;
                                        r.group = *gid;
                                        // pfctl_get_fingerprint: "unknown"
                                        // in any case is the special one
                                        r.extras.os = os.as_ref().map(|o| {
                                            if o.eq_ignore_ascii_case("unknown") {
                                                "unknown".to_string()
                                            } else {
                                                o.clone()
                                            }
                                        });
                                        r.icmp_type = ic.map(|(t, c, _)| (t, c));
                                        let non_tcp = r.proto.is_some_and(|p| p != IPPROTO_TCP);
                                        if non_tcp
                                            && matches!(
                                                r.keep_state,
                                                KeepState::Modulate | KeepState::Synproxy
                                            )
                                        {
                                            r.keep_state = KeepState::Keep;
                                        }
                                        if non_tcp {
                                            r.flags = None;
                                        }
                                        // check_netmask: more than 32 bits
                                        // on an IPv4 address
                                        for h in [src, dst] {
                                            if let Some(b) = h.bad_mask {
                                                errors.push(bare(format!(
                                                    "netmask {b} invalid for IPv4 address"
                                                )));
                                            }
                                        }
                                        if let Some((_, _, ip)) = ic {
                                            if r.proto != Some(*ip) {
                                                errors.push("icmp-type mismatch".into());
                                            }
                                        }
                                        // expand_label on the label, the tag
                                        // and the tag matched
                                        if let Some(t) = &base.label {
                                            r.label = Some(expand_label(t, &r, self.resolver));
                                        }
                                        if let Some(t) = &base.tag {
                                            r.tag = Some(expand_label(t, &r, self.resolver));
                                        }
                                        if let Some((neg, t)) = &base.tagged {
                                            r.tagged =
                                                Some((*neg, expand_label(t, &r, self.resolver)));
                                        }
                                        // expand_label_str: errx(3) when the expansion outgrows the
                                        // buffer
                                        if r.label.as_ref().is_some_and(|l| l.len() > NAME_MAX)
                                            || r.tag.as_ref().is_some_and(|l| l.len() > NAME_MAX)
                                            || r.tagged
                                                .as_ref()
                                                .is_some_and(|t| t.1.len() > NAME_MAX)
                                        {
                                            self.errors.push(ConfError::global(
                                                "expand_label: label too long",
                                            ));
                                            self.fatal = true;
                                            return;
                                        }
                                        if binat {
                                            errors.extend(binat_checks(
                                                src,
                                                nat_addrs.as_ref(),
                                                &r,
                                                af,
                                            ));
                                            r.direction = Direction::Out;
                                        }
                                        r.nat_to =
                                            apply_redir(&nat, nat_addrs, false, *dp, &mut errors);
                                        r.rdr_to =
                                            apply_redir(&rdr, rdr_addrs, true, *dp, &mut errors);
                                        r.extras.route = route.as_ref().and_then(|(kind, _)| {
                                            apply_redir(
                                                &route_spec,
                                                route_addrs,
                                                true,
                                                None,
                                                &mut errors,
                                            )
                                            .map(|p| (*kind, p))
                                        });
                                        normalize_dyn_masks(&mut r);
                                        errors.extend(rule_consistent(&r, route.is_some()));
                                        if errors.iter().all(|m| is_warning(m)) {
                                            self.errors_from(file, line, errors);
                                            let inbound =
                                                if binat { binat_inbound(&r, src) } else { None };
                                            self.ruleset.rules.push(r);
                                            added += 1;
                                            if let Some(rb) = inbound {
                                                self.ruleset.rules.push(rb);
                                            }
                                        } else {
                                            errors.push("skipping rule due to errors".into());
                                            self.errors_from(file, line, errors);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if added == 0 {
            self.error(file, line, "rule expands to no valid combination");
        }
    }
}

// ---------------------------------------------------------------- helpers

/// The text of a NUMBER token (`-`? digits), as the parser hands it on.
fn is_number(s: &str) -> bool {
    let d = s.strip_prefix('-').unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

/// An address with pfctl's `set_ipmask`: the mask applied to it. An IPv4
/// address given more than 32 bits keeps them to itself (`bad_mask`): pfctl
/// only refuses it when a rule uses it (check_netmask), and prints it as a
/// host elsewhere.
fn net_node(a: IpAddr, mask: Option<u8>) -> HostNode {
    let (net, bad_mask) = match mask {
        Some(m) if a.is_ipv4() && m > 32 => (IpNet::host(a), Some(m)),
        Some(m) => (
            IpNet::new(a, m)
                .map(|n| n.to_network())
                .unwrap_or_else(|_| IpNet::host(a)),
            None,
        ),
        None => (IpNet::host(a), None),
    };
    HostNode {
        af: Some(net.af()),
        addr: AddrKind::Net(net),
        neg: false,
        scope: None,
        bad_mask,
    }
}

/// pfctl's `host_ip`: a numeric address, or with a mask the short IPv4
/// network forms (`10/8`, `172.16/12`).
fn host_ip(s: &str, mask: Option<u8>) -> Option<Vec<HostNode>> {
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(vec![net_node(a, mask)]);
    }
    let m = mask?;
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        match p.parse::<u8>() {
            Ok(v) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => octets[i] = v,
            _ => return None,
        }
    }
    Some(vec![net_node(IpAddr::from(octets), Some(m))])
}

fn decide_af(hosts: &Option<Vec<HostNode>>) -> Option<Af> {
    let h = hosts.as_ref()?;
    let first = h.first()?.af;
    if h.iter().all(|n| n.af == first) {
        first
    } else {
        None
    }
}

fn icmp_code(s: &str, v6: bool) -> Res<u8> {
    let typ = if v6 { 1 } else { 3 };
    // reticmpspec: a NUMBER must be 0 to 255; a STRING is parseicmpspec's
    if let Some(n) = s.strip_prefix('-').filter(|n| is_number(n)) {
        return err(format!("invalid icmp code -{n}"));
    }
    if let Some(v) = names::atoul(s) {
        if v > 255 {
            return err(format!("invalid icmp code {v}"));
        }
        return Ok(v as u8);
    }
    names::icmp_code_by_name(typ, s, v6).ok_or_else(|| vec![format!("unknown icmp code {s}")])
}

fn icmp_item(it: &IcmpItemAst, v6: bool) -> Res<(u8, Option<u8>, u8)> {
    let suffix = if v6 { "6" } else { "" };
    let typ = if is_number(&it.typ) {
        match it.typ.parse::<i64>() {
            Ok(v) if (0..=255).contains(&v) => v as u8,
            _ => return err(format!("illegal icmp{suffix}-type {}", it.typ)),
        }
    } else {
        match names::icmp_type_by_name(&it.typ, v6) {
            Some(t) => t,
            None => return err(format!("unknown icmp{suffix}-type {}", it.typ)),
        }
    };
    let code = match &it.code {
        None => None,
        Some(c) if is_number(c) => match c.parse::<i64>() {
            Ok(v) if (0..=255).contains(&v) => Some(v as u8),
            _ => return err(format!("illegal icmp-code {c}")),
        },
        Some(c) => match names::icmp_code_by_name(typ, c, v6) {
            Some(v) => Some(v),
            None => return err(format!("unknown icmp{suffix}-code {c}")),
        },
    };
    Ok((typ, code, if v6 { IPPROTO_ICMPV6 } else { IPPROTO_ICMP }))
}

fn hash_key(k: Option<&str>) -> Res<[u32; 4]> {
    match k {
        None => {
            use std::hash::{BuildHasher, Hasher};
            let mut key = [0u32; 4];
            for (i, w) in key.iter_mut().enumerate() {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_usize(i);
                *w = h.finish() as u32;
            }
            Ok(key)
        }
        Some(s) if s.starts_with("0x") => {
            if s.len() != 34 {
                return err("hex key must be 128 bits (32 hex digits) long");
            }
            let mut key = [0u32; 4];
            for (i, w) in key.iter_mut().enumerate() {
                let part = &s[2 + i * 8..10 + i * 8];
                *w = u32::from_str_radix(part, 16).or_else(|_| err("invalid hex key"))?;
            }
            Ok(key)
        }
        Some(s) => {
            // pfctl: the MD5 digest of the string, read as four
            // big-endian words.
            use md5::{Digest, Md5};
            let d = Md5::digest(s.as_bytes());
            let mut key = [0u32; 4];
            for (i, w) in key.iter_mut().enumerate() {
                *w = u32::from_be_bytes([d[i * 4], d[i * 4 + 1], d[i * 4 + 2], d[i * 4 + 3]]);
            }
            Ok(key)
        }
    }
}

/// The checks of pfctl's `state_opt_item` alone (value ranges, timeout
/// names), without those of their combination.
fn state_option_items(opts: &[StateOptAst]) -> Res<()> {
    for o in opts {
        match o {
            StateOptAst::Max(v)
            | StateOptAst::MaxSrcStates(v)
            | StateOptAst::MaxSrcConn(v)
            | StateOptAst::MaxSrcNodes(v) => {
                parse_u32(v)?;
            }
            StateOptAst::MaxSrcConnRate(a, b) => {
                parse_u32(a)?;
                parse_u32(b)?;
            }
            StateOptAst::Overload { table, .. } if table.len() >= 32 => {
                return err(format!("table name '{table}' too long"));
            }
            StateOptAst::Timeout(name, v) => {
                parse_u32(v)?;
                let Some(t) = Timeout::from_name(name) else {
                    return err(format!("illegal timeout name {name}"));
                };
                if !t.name().contains('.') {
                    return err(format!("illegal state timeout {name}"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Resolves the `( ... )` state options as pfctl's rule action does.
fn state_options(opts: &[StateOptAst]) -> Res<StateOpts> {
    state_option_items(opts)?;
    let mut s = StateOpts::default();
    let mut srctrack: Option<Option<bool>> = None;
    let mut rule_srctrack = false;
    let mut statelock = false;
    let mut adaptive = false;
    let mut timeouts: Vec<(Timeout, u32)> = vec![];
    for o in opts {
        match o {
            StateOptAst::Max(v) => {
                if s.max_states != 0 {
                    return err("state option 'max' multiple definitions");
                }
                s.max_states = parse_u32(v)?;
            }
            StateOptAst::NoSync => {
                if s.no_sync {
                    return err("state option 'sync' multiple definitions");
                }
                s.no_sync = true;
            }
            StateOptAst::SourceTrack(g) => {
                if srctrack.is_some() {
                    return err("state option 'source-track' multiple definitions");
                }
                srctrack = Some(*g);
            }
            StateOptAst::MaxSrcStates(v) => {
                if s.max_src_states != 0 {
                    return err("state option 'max-src-states' multiple definitions");
                }
                s.max_src_states = parse_u32(v)?;
                if s.max_src_states == 0 {
                    return err("'max-src-states' must be > 0");
                }
            }
            StateOptAst::MaxSrcConn(v) => {
                if s.max_src_conn != 0 {
                    return err("state option 'max-src-conn' multiple definitions");
                }
                s.max_src_conn = parse_u32(v)?;
                if s.max_src_conn == 0 {
                    return err("'max-src-conn' must be > 0");
                }
                rule_srctrack = true;
            }
            StateOptAst::MaxSrcConnRate(a, b) => {
                if s.max_src_conn_rate.is_some() {
                    return err("state option 'max-src-conn-rate' multiple definitions");
                }
                let (a, b) = (parse_u32(a)?, parse_u32(b)?);
                if a == 0 || b == 0 {
                    return err("'max-src-conn-rate' values must be > 0");
                }
                // PF_THRESHOLD_MAX: UINT_MAX / PF_THRESHOLD_MULT (1000)
                if a > u32::MAX / 1000 {
                    return err(format!(
                        "'max-src-conn-rate' maximum rate must be < {}",
                        u32::MAX / 1000
                    ));
                }
                s.max_src_conn_rate = Some((a, b));
                rule_srctrack = true;
            }
            StateOptAst::MaxSrcNodes(v) => {
                if s.max_src_nodes != 0 {
                    return err("state option 'max-src-nodes' multiple definitions");
                }
                s.max_src_nodes = parse_u32(v)?;
                if s.max_src_nodes == 0 {
                    return err("'max-src-nodes' must be > 0");
                }
                rule_srctrack = true;
            }
            StateOptAst::Overload {
                table,
                flush,
                global,
            } => {
                if s.overload.is_some() {
                    return err("multiple 'overload' table definitions");
                }
                s.overload = Some(Overload {
                    table: table.clone(),
                    flush: *flush,
                    global: *global,
                });
            }
            StateOptAst::IfBound | StateOptAst::Floating => {
                if statelock {
                    return err("state locking option: multiple definitions");
                }
                statelock = true;
                s.if_bound = matches!(o, StateOptAst::IfBound);
            }
            StateOptAst::Sloppy => {
                if s.sloppy {
                    return err("state sloppy option: multiple definitions");
                }
                s.sloppy = true;
            }
            StateOptAst::Pflow => {
                if s.pflow {
                    return err("state pflow option: multiple definitions");
                }
                s.pflow = true;
            }
            StateOptAst::Timeout(name, v) => {
                let v = parse_u32(v)?;
                let Some(t) = Timeout::from_name(name) else {
                    return err(format!("illegal timeout name {name}"));
                };
                if !t.name().contains('.') {
                    return err(format!("illegal state timeout {name}"));
                }
                if matches!(t, Timeout::AdaptiveStart | Timeout::AdaptiveEnd) {
                    adaptive = true;
                }
                if timeouts.iter().any(|(x, _)| *x == t) {
                    return err(format!("state timeout {} multiple definitions", t.name()));
                }
                timeouts.push((t, v as u32));
            }
        }
    }
    if !adaptive && s.max_states != 0 {
        timeouts.push((Timeout::AdaptiveStart, (s.max_states / 10) * 6));
        timeouts.push((Timeout::AdaptiveEnd, (s.max_states / 10) * 12));
    }
    let tracking = srctrack.is_some() || s.max_src_states != 0 || rule_srctrack;
    if tracking {
        let global = srctrack == Some(Some(true));
        if global && s.max_src_nodes != 0 {
            return err("'max-src-nodes' is incompatible with 'source-track global'");
        }
        if global && s.max_src_conn != 0 {
            return err("'max-src-conn' is incompatible with 'source-track global'");
        }
        if global && s.max_src_conn_rate.is_some() {
            return err("'max-src-conn-rate' is incompatible with 'source-track global'");
        }
        if let Some((_, secs)) = s.max_src_conn_rate {
            let cur = timeouts
                .iter()
                .find(|(t, _)| *t == Timeout::SrcTrack)
                .map(|x| x.1)
                .unwrap_or(0);
            if cur < secs {
                timeouts.retain(|(t, _)| *t != Timeout::SrcTrack);
                timeouts.push((Timeout::SrcTrack, secs));
            }
        }
        s.source_track = Some(if rule_srctrack || srctrack == Some(Some(false)) {
            SourceTrack::Rule
        } else {
            SourceTrack::Global
        });
    }
    if s.overload.is_some() && s.max_src_conn == 0 && s.max_src_conn_rate.is_none() {
        return err("'overload' requires 'max-src-conn' or 'max-src-conn-rate'");
    }
    timeouts.sort_by_key(|(t, _)| *t as u8);
    s.timeouts = timeouts;
    Ok(s)
}

/// collapse_redirspec: the pool addresses usable with the rule's address
/// family (setting it if it was open).
/// Automatic tables made so far (pfctl numbers them across the file).
#[derive(Default)]
struct AutoTables {
    count: usize,
    made: Vec<Directive>,
}

/// collapse_redirspec: the pool's addresses in the rule's family; several
/// addresses become an automatic table (returned as its name).
fn collapse(
    spec: &Option<RedirSpec>,
    r: &mut Rule,
    errors: &mut Vec<String>,
    routing: bool,
    tables: &mut AutoTables,
) -> Option<(Vec<HostNode>, Option<String>)> {
    let nodes = collapse_hosts(spec, r, errors, routing)?;
    if nodes.len() < 2 {
        return Some((nodes, None));
    }
    let mut addrs = vec![];
    for n in &nodes {
        match &n.addr {
            AddrKind::Net(a) => addrs.push(*a),
            _ => {
                errors.push("multiple tables or dynamic interfaces not supported for translation or routing".into());
                return None;
            }
        }
    }
    let name = format!("__automatic_{}", tables.count);
    tables.count += 1;
    let flags = TableFlags {
        constant: true,
        ..TableFlags::default()
    };
    let entries = addrs
        .into_iter()
        .map(|a| TableEntry::new(false, a))
        .collect();
    tables.made.push(Directive::Table(TableDef::new(
        name.clone(),
        flags,
        entries,
    )));
    Some((nodes, Some(name)))
}

fn collapse_hosts(
    spec: &Option<RedirSpec>,
    r: &mut Rule,
    errors: &mut Vec<String>,
    routing: bool,
) -> Option<Vec<HostNode>> {
    let spec = spec.as_ref()?;
    let what = if routing { "routing" } else { "translation" };
    let mut chosen: Option<Af> = None;
    let mut out = vec![];
    for h in &spec.hosts {
        if let (Some(naf), false) = (r.extras.af_to, routing) {
            // af-to: the rule without a family takes the other one
            if r.af.is_none() && chosen.is_none() {
                chosen = Some(if naf == Af::Inet { Af::Inet6 } else { Af::Inet });
            }
            // af-to: the pool is in the target family
            if h.af.is_some_and(|a| a != naf) {
                errors.push(format!(
                    "{what} spec contains addresses that don't match target address family"
                ));
                return None;
            }
            out.push(h.clone());
            continue;
        }
        if routing {
            if let AddrKind::Dynamic { modifier, .. } = &h.addr {
                if *modifier != DynModifier::Peer {
                    errors
                        .push("route spec requires :peer with dynamic interface addresses".into());
                    return None;
                }
            }
        }
        if let Some(haf) = h.af {
            if r.af.is_some_and(|a| a != haf) {
                continue;
            }
            if r.af.is_none() && chosen.is_some_and(|a| a != haf) {
                errors.push(format!(
                    "{what} spec contains addresses with different address families"
                ));
                return None;
            }
        }
        if r.af.is_none() && chosen.is_none() {
            chosen = h.af;
        }
        if !out.is_empty() && spec.pool_type != PoolType::None && !dyn_pool_type(spec.pool_type) {
            errors.push(
                "pool type is not valid for multiple translation or routing addresses".into(),
            );
            return None;
        }
        out.push(h.clone());
    }
    if r.af.is_none() {
        r.af = chosen;
    }
    if out.is_empty() {
        errors.push(format!("af mismatch in {what} spec"));
        return None;
    }
    Some(out)
}

fn dyn_pool_type(t: PoolType) -> bool {
    matches!(
        t,
        PoolType::RoundRobin | PoolType::LeastStates | PoolType::Random | PoolType::SourceHash
    )
}

/// `(if)/bits` once the rule's family is known: pfctl keeps at most 32
/// bits for IPv4 (gen_dynnode) and prints no mask of full length, so a
/// full-length mask is no mask.
fn normalize_dyn_masks(r: &mut Rule) {
    let full = if r.af == Some(Af::Inet) { 32 } else { 128 };
    let fix = |a: &mut AddrKind| {
        if let AddrKind::Dynamic { mask, .. } = a {
            if mask.is_some_and(|m| m >= full) {
                *mask = None;
            }
        }
    };
    fix(&mut r.from.addr);
    fix(&mut r.to.addr);
    for p in [&mut r.nat_to, &mut r.rdr_to]
        .into_iter()
        .flatten()
        .chain(r.extras.route.as_mut().map(|(_, p)| p))
    {
        p.addrs.iter_mut().for_each(fix);
    }
}

fn dyn_multiaddr(a: &AddrKind) -> bool {
    match a {
        AddrKind::Dynamic {
            ifname, modifier, ..
        } => !modifier.no_alias() || !ifname.ends_with(|c: char| c.is_ascii_digit()),
        _ => false,
    }
}

/// apply_redirspec: ports, pool type and options of a translation.
fn apply_redir(
    spec: &Option<RedirSpec>,
    collapsed: Option<(Vec<HostNode>, Option<String>)>,
    is_rdr: bool,
    dst_port: Option<PortOp>,
    errors: &mut Vec<String>,
) -> Option<Pool> {
    let spec = spec.as_ref()?;
    let (nodes, auto_table) = collapsed?;
    let addrs: Vec<AddrKind> = nodes.into_iter().map(|h| h.addr).collect();
    let (a, b, range, star) = spec.port.unwrap_or((0, 0, false, false));
    let proxy_port = if is_rdr {
        if star {
            let width = match dst_port {
                Some(PortOp::Range(x, y)) => y.saturating_sub(x),
                _ => 0,
            };
            (a, a.saturating_add(width))
        } else {
            if range && a > b {
                errors.push("invalid rdr-to port range".into());
            }
            (a, b)
        }
    } else if b == 0 {
        (a, a)
    } else {
        (a, b)
    };
    let mut pool_type = spec.pool_type;
    if pool_type == PoolType::None
        && (addrs.len() > 1
            || addrs
                .iter()
                .any(|a| matches!(a, AddrKind::Table(_)) || dyn_multiaddr(a)))
    {
        pool_type = PoolType::RoundRobin;
    }
    if !dyn_pool_type(pool_type) {
        for x in &addrs {
            if let AddrKind::Table(_) = x {
                errors.push("tables are not supported by pool type".into());
            } else if let AddrKind::Dynamic { ifname, .. } = x {
                if dyn_multiaddr(x) {
                    errors.push(format!(
                        "interface ({ifname}) is not supported by pool type"
                    ));
                }
            }
        }
    }
    if spec.static_port {
        if is_rdr {
            errors.push("the 'static-port' option is only valid with nat rules".into());
        } else if proxy_port != (0, 0) {
            errors
                .push("the 'static-port' option can't be used when specifying a port range".into());
        }
    }
    Some(Pool {
        addrs,
        proxy_port,
        pool_type,
        static_port: spec.static_port,
        sticky_address: spec.sticky,
        hash_key: if pool_type == PoolType::SourceHash {
            spec.key
        } else {
            [0; 4]
        },
        auto_table,
    })
}

/// The checks pfctl's expand_rule makes on a `binat-to` rule.
fn binat_checks(
    src: &HostNode,
    nat: Option<&(Vec<HostNode>, Option<String>)>,
    r: &Rule,
    rule_af: Option<Af>,
) -> Vec<String> {
    let mut p = vec![];
    let auto_table = nat
        .and_then(|(_, t)| t.as_ref())
        .map(|t| AddrKind::Table(t.clone()));
    let nat_addr = auto_table
        .as_ref()
        .or_else(|| nat.and_then(|(n, _)| n.first()).map(|h| &h.addr));
    match &src.addr {
        AddrKind::Table(t) => {
            p.push(format!(
                "invalid use of table <{t}> as the source address of a binat-to rule"
            ));
        }
        a @ AddrKind::Dynamic { ifname, .. } if dyn_multiaddr(a) => {
            p.push(format!(
                "invalid use of interface ({ifname}) as the source address of a binat-to rule"
            ));
        }
        _ => {
            // a pool that failed to collapse is an all-zero address to pfctl
            let specified = |a: Option<&AddrKind>| {
                matches!(
                    a,
                    None | Some(AddrKind::Net(_)) | Some(AddrKind::Dynamic { .. })
                )
            };
            let src_ok = matches!(
                src.addr,
                AddrKind::Net(_) | AddrKind::Dynamic { .. } | AddrKind::Any
            );
            if !src_ok || !specified(nat_addr) {
                p.push("binat-to requires a specified source and redirect address".into());
            }
        }
    }
    if dyn_multiaddr(&src.addr) || nat_addr.is_some_and(dyn_multiaddr) {
        p.push("dynamic interfaces must be used with :0 in a binat-to rule".into());
    }
    let zero_mask = |a: Option<&AddrKind>| match a {
        Some(AddrKind::Net(n)) => n.prefix == 0,
        Some(AddrKind::Dynamic { .. }) => false,
        _ => true,
    };
    // pfctl compares the masks in the rule's own address family only
    if rule_af.is_some() && (zero_mask(Some(&src.addr)) || zero_mask(nat_addr)) {
        p.push("source and redir addresess must have a matching network mask in binat-rule".into());
    }
    if matches!(nat_addr, Some(AddrKind::Table(_))) {
        p.push("tables cannot be used as the redirect address of a binat-to rule".into());
    }
    if r.direction != Direction::InOut {
        p.push("binat-to cannot be specified with a direction".into());
    }
    p
}

/// The inbound half of a `binat-to` rule: traffic to the translated
/// address is redirected back to the source.
fn binat_inbound(out: &Rule, src: &HostNode) -> Option<Rule> {
    let nat = out.nat_to.as_ref()?;
    let mut rb = out.clone();
    rb.direction = Direction::In;
    rb.nat_to = None;
    rb.from = Endpoint {
        addr: out.to.addr.clone(),
        neg: out.to.neg,
        port: out.to.port,
    };
    rb.to = Endpoint {
        addr: nat.addrs.first()?.clone(),
        neg: false,
        port: out.from.port,
    };
    rb.rdr_to = Some(Pool {
        addrs: vec![src.addr.clone()],
        proxy_port: (0, 0),
        pool_type: nat.pool_type,
        static_port: false,
        sticky_address: nat.sticky_address,
        hash_key: nat.hash_key,
        auto_table: None,
    });
    Some(rb)
}

fn scrub_options(opts: &[ScrubOptAst]) -> Res<Scrub> {
    let mut sc = Scrub::default();
    let (mut ttl_set, mut mss_set) = (false, false);
    for o in opts {
        match o {
            ScrubOptAst::NoDf => {
                if sc.no_df {
                    return err("no-df cannot be respecified");
                }
                sc.no_df = true;
            }
            ScrubOptAst::RandomId => {
                if sc.random_id {
                    return err("random-id cannot be respecified");
                }
                sc.random_id = true;
            }
            ScrubOptAst::MinTtl(v) => {
                if ttl_set {
                    return err("min-ttl cannot be respecified");
                }
                ttl_set = true;
                match v.parse::<i64>() {
                    Ok(n) if (0..=255).contains(&n) => sc.min_ttl = n as u8,
                    _ => return err(format!("illegal min-ttl value {v}")),
                }
            }
            ScrubOptAst::MaxMss(v) => {
                if mss_set {
                    return err("max-mss cannot be respecified");
                }
                mss_set = true;
                match v.parse::<i64>() {
                    Ok(n) if (0..=65535).contains(&n) => sc.max_mss = n as u16,
                    _ => return err(format!("illegal max-mss value {v}")),
                }
            }
            ScrubOptAst::Reassemble(w) => {
                if !w.eq_ignore_ascii_case("tcp") {
                    return err(format!("scrub reassemble supports only tcp, not '{w}'"));
                }
                if sc.reassemble_tcp {
                    return err("reassemble tcp cannot be respecified");
                }
                sc.reassemble_tcp = true;
            }
        }
    }
    Ok(sc)
}

/// `prio N`: 0 to 7 (IFQ_MAXPRIO).
fn prio_value(s: &str) -> Res<u8> {
    match s.parse::<i64>() {
        Ok(v) if (0..=7).contains(&v) => Ok(v as u8),
        _ => err("prio must be 0 - 7"),
    }
}

/// `tos`: a NUMBER 0 to 255, or a STRING: map_tos's names (any case),
/// else `0x` and hex digits.
fn tos_value(s: &str) -> Res<u8> {
    const TOS: &[(&str, i64)] = &[
        ("af11", 0x28),
        ("af12", 0x30),
        ("af13", 0x38),
        ("af21", 0x48),
        ("af22", 0x50),
        ("af23", 0x58),
        ("af31", 0x68),
        ("af32", 0x70),
        ("af33", 0x78),
        ("af41", 0x88),
        ("af42", 0x90),
        ("af43", 0x98),
        ("critical", 0xa0),
        ("cs0", 0x00),
        ("cs1", 0x20),
        ("cs2", 0x40),
        ("cs3", 0x60),
        ("cs4", 0x80),
        ("cs5", 0xa0),
        ("cs6", 0xc0),
        ("cs7", 0xe0),
        ("ef", 0xb8),
        ("inetcontrol", 0xc0),
        ("lowdelay", 0x10),
        ("netcontrol", 0xe0),
        ("reliability", 0x04),
        ("throughput", 0x08),
    ];
    let v: Option<i64> = if is_number(s) {
        s.parse::<i64>().ok()
    } else if let Some(&(_, v)) = TOS.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        Some(v)
    } else if let Some(h) = s.strip_prefix("0x") {
        // strtoul(3) base 16 over the whole rest
        if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()) {
            Some(i64::from_str_radix(h, 16).unwrap_or(256))
        } else {
            None
        }
    } else {
        None
    };
    match v {
        Some(v) if (0..=255).contains(&v) => Ok(v as u8),
        _ => err(format!("illegal tos value {s}")),
    }
}

/// The TCP timeouts `set optimization` sets (pfctl's pf_hints).
fn optimization_preset(hint: &str) -> Option<&'static [(Timeout, u32)]> {
    use Timeout::*;
    const NORMAL: [(Timeout, u32); 7] = [
        (TcpFirst, 120),
        (TcpOpening, 30),
        (TcpEstablished, 86400),
        (TcpClosing, 900),
        (TcpFinWait, 45),
        (TcpClosed, 90),
        (TcpTsDiff, 30),
    ];
    const SATELLITE: [(Timeout, u32); 7] = [
        (TcpFirst, 180),
        (TcpOpening, 35),
        (TcpEstablished, 86400),
        (TcpClosing, 905),
        (TcpFinWait, 50),
        (TcpClosed, 95),
        (TcpTsDiff, 60),
    ];
    const CONSERVATIVE: [(Timeout, u32); 7] = [
        (TcpFirst, 3600),
        (TcpOpening, 900),
        (TcpEstablished, 432000),
        (TcpClosing, 3600),
        (TcpFinWait, 600),
        (TcpClosed, 180),
        (TcpTsDiff, 60),
    ];
    const AGGRESSIVE: [(Timeout, u32); 7] = [
        (TcpFirst, 30),
        (TcpOpening, 5),
        (TcpEstablished, 18000),
        (TcpClosing, 60),
        (TcpFinWait, 30),
        (TcpClosed, 30),
        (TcpTsDiff, 10),
    ];
    Some(match hint.to_ascii_lowercase().as_str() {
        "normal" => &NORMAL,
        "satellite" | "high-latency" => &SATELLITE,
        "conservative" => &CONSERVATIVE,
        "aggressive" => &AGGRESSIVE,
        _ => return None,
    })
}

/// `probability N%` (or a fraction) as pf stores it: a fraction of 2^32.
fn probability(s: &str) -> Res<u32> {
    let (num, pct) = match s.strip_suffix('%') {
        Some(n) => (n, true),
        None => (s, false),
    };
    let Ok(mut p) = num.parse::<f64>() else {
        return err(format!("invalid probability: {s}"));
    };
    if pct {
        p *= 0.01;
    }
    let v = (p * u32::MAX as f64 + 0.5).floor();
    if !(0.0..=u32::MAX as f64).contains(&v) {
        return err(format!("invalid probability: {}%", p * 100.0));
    }
    Ok(if v == 0.0 { 1 } else { v as u32 })
}

/// pfctl's rule_consistent.
fn rule_consistent(r: &Rule, routed: bool) -> Vec<String> {
    let mut p = vec![];
    let tcp_udp = matches!(r.proto, Some(IPPROTO_TCP) | Some(IPPROTO_UDP));
    if r.proto != Some(IPPROTO_TCP) && r.extras.os.is_some() {
        p.push("os only applies to tcp".to_string());
    }
    if !tcp_udp && (r.from.port.is_some() || r.to.port.is_some()) {
        p.push("port only applies to tcp/udp".to_string());
    }
    if !tcp_udp && r.user.is_some() {
        p.push("user only applies to tcp/udp".to_string());
    }
    if !tcp_udp && r.group.is_some() {
        p.push("group only applies to tcp/udp".to_string());
    }
    if r.icmp_type.is_some() && !matches!(r.proto, Some(IPPROTO_ICMP) | Some(IPPROTO_ICMPV6)) {
        p.push("icmp-type/code only applies to icmp".to_string());
    }
    if r.af.is_none() && r.icmp_type.is_some() {
        p.push("must indicate address family with icmp-type/code".to_string());
    }
    match (r.proto, r.af) {
        (Some(IPPROTO_ICMP), Some(Af::Inet6)) => {
            p.push("proto icmp doesn't match address family inet6".into())
        }
        (Some(IPPROTO_ICMPV6), Some(Af::Inet)) => {
            p.push("proto icmp6 doesn't match address family inet".into())
        }
        _ => {}
    }
    if r.action == Action::Block
        && matches!(r.block, BlockReturn::ReturnRst { .. })
        && r.proto != Some(IPPROTO_TCP)
    {
        p.push("return-rst can only be applied to TCP rules".into());
    }
    if r.extras.af_to.is_some() && r.af == r.extras.af_to {
        p.push("must indicate different address family with af-to".into());
    }
    if r.extras.allow_opts && r.action != Action::Pass {
        p.push("allow-opts can only be specified for pass rules".into());
    }
    if r.extras.fragment
        && (r.from.port.is_some()
            || r.to.port.is_some()
            || r.flags.is_some_and(|f| f.mask != 0)
            || r.icmp_type.is_some())
    {
        p.push("fragments can be filtered only on IP header fields".into());
    }
    if r.action != Action::Pass && r.keep_state != KeepState::None {
        p.push("keep state is great, but only for pass rules".into());
    }
    if routed && r.keep_state == KeepState::None {
        p.push("route-to, reply-to and dup-to require keep state".into());
    }
    if r.state_opts.sloppy && matches!(r.keep_state, KeepState::Modulate | KeepState::Synproxy) {
        p.push("sloppy state matching cannot be used with synproxy state or modulate state".into());
    }
    if r.keep_state == KeepState::Synproxy && r.direction != Direction::In {
        p.push(warn_msg(
            "synproxy used for inbound rules only, ignored for outbound",
        ));
    }
    let translates = r.nat_to.is_some() || r.rdr_to.is_some();
    if translates && r.action != Action::Match && r.keep_state == KeepState::None {
        p.push("nat-to and rdr-to require keep state".into());
    }
    if translates && r.direction == Direction::InOut {
        p.push("nat-to and rdr-to require a direction".into());
    }
    if r.af == Some(Af::Inet6) && (r.extras.scrub.no_df || r.extras.scrub.random_id) {
        p.push("address family inet6 does not support scrub options no-df, random-id".into());
    }
    match r.action {
        Action::Match => {
            if r.extras.divert != Divert::None {
                p.push("divert is not supported on match rules".into());
            }
            if routed {
                p.push("route-to, reply-to and dup-to are not supported on match rules".into());
            }
            if r.extras.af_to.is_some() {
                p.push("af-to is not supported on match rules".into());
            }
        }
        Action::Block => {
            if routed {
                p.push("route-to, reply-to and dup-to are not supported on block rules".into());
            }
        }
        Action::Pass => {}
    }
    p
}

/// Label / tag macros: `$if`, `$srcaddr`, `$dstaddr`, `$srcport`,
/// `$dstport`, `$proto` (`$nr` is done after the whole ruleset is read).
fn expand_label(text: &str, r: &Rule, resolver: &dyn Resolver) -> String {
    let mut s = text.to_string();
    if s.contains("$if") {
        let name =
            r.on.as_ref()
                .map(|i| i.name.clone())
                .unwrap_or_else(|| "any".into());
        s = s.replace("$if", &name);
    }
    let addr = |e: &Endpoint| -> String {
        let a = match &e.addr {
            AddrKind::Net(n) if n.prefix == 0 && n.addr.is_unspecified() => "any".to_string(),
            AddrKind::Any => "any".to_string(),
            AddrKind::Dynamic { ifname, .. } => format!("({ifname})"),
            AddrKind::Table(t) => format!("<{t}>"),
            AddrKind::NoRoute => "no-route".into(),
            AddrKind::UrpfFailed => "urpf-failed".into(),
            AddrKind::Net(n) => n.to_string(),
            AddrKind::Range(..) | AddrKind::RouteLabel(_) => "?".into(),
        };
        if e.neg {
            format!("! {a}")
        } else {
            a
        }
    };
    let port = |p: &Option<PortOp>| -> String {
        match p {
            None => String::new(),
            Some(PortOp::Eq(a)) => a.to_string(),
            Some(PortOp::Ne(a)) => format!("!={a}"),
            Some(PortOp::Lt(a)) => format!("<{a}"),
            Some(PortOp::Le(a)) => format!("<={a}"),
            Some(PortOp::Gt(a)) => format!(">{a}"),
            Some(PortOp::Ge(a)) => format!(">={a}"),
            Some(PortOp::Inside(a, b)) => format!("{a}><{b}"),
            Some(PortOp::Outside(a, b)) => format!("{a}<>{b}"),
            Some(PortOp::Range(..)) => String::new(),
        }
    };
    if s.contains("$srcaddr") {
        s = s.replace("$srcaddr", &addr(&r.from));
    }
    if s.contains("$dstaddr") {
        s = s.replace("$dstaddr", &addr(&r.to));
    }
    if s.contains("$srcport") {
        s = s.replace("$srcport", &port(&r.from.port));
    }
    if s.contains("$dstport") {
        s = s.replace("$dstport", &port(&r.to.port));
    }
    if s.contains("$proto") {
        // getprotobynumber(3): no protocol is 0, "ip"
        let p = r.proto.unwrap_or(0);
        let p = resolver.protocol_name(p).unwrap_or_else(|| p.to_string());
        s = s.replace("$proto", &p);
    }
    s
}

/// `$nr` in labels and tags: the rule's number in the final ruleset (in
/// its anchor's ruleset for rules inside an anchor).
pub fn expand_rule_numbers(rules: &mut [Rule]) {
    for (i, r) in rules.iter_mut().enumerate() {
        if let Some(a) = &mut r.anchor {
            expand_rule_numbers(&mut a.rules);
        }
        let n = i.to_string();
        for t in [&mut r.label, &mut r.tag].into_iter().flatten() {
            if t.contains("$nr") {
                *t = t.replace("$nr", &n);
            }
        }
        if let Some((_, t)) = &mut r.tagged {
            if t.contains("$nr") {
                *t = t.replace("$nr", &n);
            }
        }
    }
}

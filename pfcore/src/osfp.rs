//! Passive OS fingerprinting, as pf does it (pf_osfp.c, pfctl_osfp.c,
//! pf.os(5)): the fingerprint file format, the list of signatures with
//! the operating systems each stands for, the numbering of OS names that
//! rules' `os "name"` resolves against, and the signature of a TCP SYN.
//!
//! A line of the file is
//! `window:ttl:df:packet size:tcp options:class:version:subtype:description`,
//! where the window may be `*` (any), `%n` (a multiple of n), `Sn` (n
//! times the MSS) or `Tn` (n times the MTU), the packet size `*` or `%n`,
//! and the options a comma list of `N` (nop), `S` (sack permitted), `T`
//! (timestamp; `T0` a zero one), `Mn` (mss), `Wn` (window scale), the
//! last two also as `M*`, `M%n`, `W*`, `W%n`; `.` for none. A version or
//! subtype written as a range (`2.0-2.6`, `1-4`) stands for each value.
//! Every signature is also added in its IPv6 form.

use serde::{Deserialize, Serialize};

/// Bits of `Signature::flags` (pf's `PF_OSFP_*`).
pub mod flag {
    pub const WSIZE_MOD: u16 = 0x0001;
    pub const WSIZE_DC: u16 = 0x0002;
    pub const WSIZE_MSS: u16 = 0x0004;
    pub const WSIZE_MTU: u16 = 0x0008;
    pub const PSIZE_MOD: u16 = 0x0010;
    pub const PSIZE_DC: u16 = 0x0020;
    pub const WSCALE_MOD: u16 = 0x0080;
    pub const WSCALE_DC: u16 = 0x0100;
    pub const MSS_MOD: u16 = 0x0400;
    pub const MSS_DC: u16 = 0x0800;
    pub const DF: u16 = 0x1000;
    pub const TS0: u16 = 0x2000;
    pub const INET6: u16 = 0x4000;
}

/// How TCP options are packed into `Signature::tcpopts`, 3 bits each.
const OPT_NOP: u64 = 0;
const OPT_WSCALE: u64 = 1;
const OPT_MSS: u64 = 2;
const OPT_SACK: u64 = 3;
const OPT_TS: u64 = 4;
const OPT_BITS: u32 = 3;
const MAX_OPTS: u8 = 21;
/// How much lower than the signature's a packet's TTL may be.
pub const MAXTTL_OFFSET: u8 = 40;
/// Default fingerprint file.
pub const DEFAULT_FILE: &str = "/etc/pf.os";

/// What a TCP SYN looks like (`struct pf_os_fingerprint` without its list).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature {
    pub tcpopts: u64,
    pub wsize: u16,
    pub psize: u16,
    pub mss: u16,
    pub flags: u16,
    pub optcnt: u8,
    pub wscale: u8,
    pub ttl: u8,
}

/// One signature and the system it names (`struct pf_osfp_ioctl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FpEntry {
    pub sig: Signature,
    pub class: String,
    pub version: String,
    pub subtype: String,
}

/// Numbers of an OS name; 0 for a version or subtype is "any".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OsId {
    pub class: u16,
    pub version: u16,
    pub subtype: u16,
}

/// What a rule's `os "name"` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsSpec {
    /// `os unknown`: a SYN no signature knows.
    Unknown,
    /// A name the loaded fingerprints do not know: matches nothing.
    NoMatch,
    Id(OsId),
}

#[derive(Debug, Clone, Default)]
struct Name {
    name: String,
    num: u16,
    /// Versions of a class, subtypes of a version.
    sub: Vec<Name>,
    sub_count: u16,
}

fn find_name<'a>(list: &'a [Name], name: &str) -> Option<&'a Name> {
    list.iter().find(|n| n.name.eq_ignore_ascii_case(name))
}

/// The fingerprints loaded into the filter (pf_osfp_list) and the names
/// pfctl numbers (its `classes` list).
#[derive(Debug, Clone, Default)]
pub struct OsfpDb {
    /// Signatures in the order they were added, each with its systems.
    sigs: Vec<(Signature, Vec<(OsId, usize)>)>,
    /// Every entry as added (DIOCOSFPGET).
    entries: Vec<FpEntry>,
    classes: Vec<Name>,
    class_count: u16,
}

/// Adding a signature the list already has for that system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate(pub String);

impl OsfpDb {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries loaded (what `pfctl -sa` counts as fingerprints).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn entries(&self) -> &[FpEntry] {
        &self.entries
    }

    /// Number the names of `e` as pfctl's add_fingerprint does.
    fn number(&mut self, e: &FpEntry) -> OsId {
        let ci = match self
            .classes
            .iter()
            .position(|n| n.name.eq_ignore_ascii_case(&e.class))
        {
            Some(i) => i,
            None => {
                self.class_count += 1;
                self.classes.push(Name {
                    name: e.class.clone(),
                    num: self.class_count,
                    ..Name::default()
                });
                self.classes.len() - 1
            }
        };
        let class = &mut self.classes[ci];
        let mut id = OsId {
            class: class.num,
            version: 0,
            subtype: 0,
        };
        if e.version.is_empty() {
            return id;
        }
        let vi = match class
            .sub
            .iter()
            .position(|n| n.name.eq_ignore_ascii_case(&e.version))
        {
            Some(i) => i,
            None => {
                class.sub_count += 1;
                class.sub.push(Name {
                    name: e.version.clone(),
                    num: class.sub_count,
                    ..Name::default()
                });
                class.sub.len() - 1
            }
        };
        let version = &mut class.sub[vi];
        id.version = version.num;
        if e.subtype.is_empty() {
            return id;
        }
        let si = match version
            .sub
            .iter()
            .position(|n| n.name.eq_ignore_ascii_case(&e.subtype))
        {
            Some(i) => i,
            None => {
                version.sub_count += 1;
                version.sub.push(Name {
                    name: e.subtype.clone(),
                    num: version.sub_count,
                    ..Name::default()
                });
                version.sub.len() - 1
            }
        };
        id.subtype = version.sub[si].num;
        id
    }

    /// Add one entry (DIOCOSFPADD). The same signature for the same system
    /// twice is refused.
    pub fn add(&mut self, e: FpEntry) -> Result<(), Duplicate> {
        let same =
            |x: &FpEntry| x.class == e.class && x.version == e.version && x.subtype == e.subtype;
        if let Some((_, list)) = self.sigs.iter().find(|(s, _)| *s == e.sig) {
            if list.iter().any(|(_, i)| same(&self.entries[*i])) {
                return Err(Duplicate(format!(
                    "Duplicate signature for {} {} {}",
                    e.class, e.version, e.subtype
                )));
            }
        }
        let id = self.number(&e);
        let idx = self.entries.len();
        match self.sigs.iter_mut().find(|(s, _)| *s == e.sig) {
            Some((_, list)) => list.insert(0, (id, idx)),
            None => self.sigs.push((e.sig, vec![(id, idx)])),
        }
        self.entries.push(e);
        Ok(())
    }

    /// The systems whose signature a packet's matches (pf_osfp_find with
    /// pf's TTL allowance), None if none does.
    pub fn lookup(&self, find: &Signature) -> Option<&[(OsId, usize)]> {
        self.sigs
            .iter()
            .find(|(f, _)| sig_matches(f, find, MAXTTL_OFFSET))
            .map(|(_, l)| l.as_slice())
    }

    /// What `os "name"` means (pfctl_get_fingerprint): `unknown`, a class,
    /// a class and version, or a class, version and subtype written with
    /// a space, dot or dash between version and subtype.
    pub fn resolve(&self, name: &str) -> OsSpec {
        if name.eq_ignore_ascii_case("unknown") {
            return OsSpec::Unknown;
        }
        let id = |c: &Name, v: u16, s: u16| {
            OsSpec::Id(OsId {
                class: c.num,
                version: v,
                subtype: s,
            })
        };
        if let Some(c) = find_name(&self.classes, name) {
            return id(c, 0, 0);
        }
        let Some((cname, rest)) = name.split_once(' ') else {
            return OsSpec::NoMatch;
        };
        let Some(c) = find_name(&self.classes, cname) else {
            return OsSpec::NoMatch;
        };
        if let Some(v) = find_name(&c.sub, rest) {
            return id(c, v.num, 0);
        }
        let connector = |b: u8| matches!(b, b'.' | b' ' | b'\t' | b'-');
        let r = rest.as_bytes();
        for v in &c.sub {
            let vl = v.name.len();
            if r.len() < vl + 2 || !connector(r[vl]) || !rest[..vl].eq_ignore_ascii_case(&v.name) {
                continue;
            }
            for s in &v.sub {
                if r.len() == vl + s.name.len() + 1 && rest[vl + 1..].eq_ignore_ascii_case(&s.name)
                {
                    return id(c, v.num, s.num);
                }
            }
        }
        OsSpec::NoMatch
    }

    /// `pfctl -s osfp`: the header and the names, sorted, each level
    /// indented by a tab after its parents.
    pub fn show(&self) -> String {
        let mut out = String::new();
        if self.classes.is_empty() {
            return out;
        }
        out.push_str("Class\tVersion\tSubtype(subversion)\n");
        out.push_str("-----\t-------\t-------------------\n");
        fn walk(list: &[Name], prefix: &str, out: &mut String) {
            let mut sorted: Vec<&Name> = list.iter().collect();
            sorted.sort_by_key(|n| n.name.to_ascii_lowercase());
            for n in sorted {
                let mut p = format!("{prefix}{}\t", n.name);
                // pfctl's prefix buffer holds 31 characters.
                if p.len() > 31 {
                    let mut cut = 31;
                    while !p.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    p.truncate(cut);
                }
                out.push_str(&p);
                out.push('\n');
                walk(&n.sub, &p, out);
            }
        }
        walk(&self.classes, "", &mut out);
        out
    }
}

/// Does signature `f` (from the file) match a packet's `find`
/// (pf_osfp_find)?
fn sig_matches(f: &Signature, find: &Signature, ttldiff: u8) -> bool {
    use flag::*;
    if f.tcpopts != find.tcpopts
        || f.optcnt != find.optcnt
        || f.ttl < find.ttl
        || f.ttl - find.ttl > ttldiff
        || f.flags & (DF | TS0) != find.flags & (DF | TS0)
    {
        return false;
    }
    let int_ok = |dc: u16, m: u16, fv: u16, pv: u16| {
        if f.flags & dc != 0 {
            true
        } else if f.flags & m == 0 {
            fv == pv
        } else {
            fv != 0 && pv.is_multiple_of(fv)
        }
    };
    if !int_ok(PSIZE_DC, PSIZE_MOD, f.psize, find.psize)
        || !int_ok(MSS_DC, MSS_MOD, f.mss, find.mss)
        || !int_ok(WSCALE_DC, WSCALE_MOD, f.wscale as u16, find.wscale as u16)
    {
        return false;
    }
    if f.flags & WSIZE_DC != 0 {
        return true;
    }
    // "Smart" NAT boxes and DSL routers set the MSS for their link.
    const SMART_MSS: u32 = 1460;
    const MTUOFF: u32 = 40;
    let (w, mss) = (find.wsize as u32, find.mss as u32);
    let multiple = |unit: u32, smart: u32| {
        (w % unit == 0 && w / unit == f.wsize as u32)
            || (w % smart == 0 && w / smart == f.wsize as u32)
    };
    if f.flags & WSIZE_MSS != 0 {
        mss != 0 && multiple(mss, SMART_MSS)
    } else if f.flags & WSIZE_MTU != 0 {
        mss != 0 && multiple(mss + MTUOFF, SMART_MSS + MTUOFF)
    } else if f.flags & WSIZE_MOD != 0 {
        f.wsize != 0 && find.wsize.is_multiple_of(f.wsize)
    } else {
        f.wsize == find.wsize
    }
}

/// Do the systems of a packet's signature (None: no signature matched)
/// satisfy `spec` (pf_osfp_match)?
pub fn matches(list: Option<&[(OsId, usize)]>, spec: OsSpec) -> bool {
    match (spec, list) {
        (OsSpec::NoMatch, _) => false,
        (OsSpec::Unknown, l) => l.is_none(),
        (OsSpec::Id(_), None) => false,
        (OsSpec::Id(want), Some(l)) => l.iter().any(|(got, _)| {
            (want.class == 0 || got.class == want.class)
                && (want.version == 0 || got.version == want.version)
                && (want.subtype == 0 || got.subtype == want.subtype)
        }),
    }
}

/// The IP facts a signature needs besides the TCP header.
#[derive(Debug, Clone, Copy)]
pub struct IpFacts {
    /// IPv4 total length, or 40 + IPv6 payload length.
    pub len: u16,
    pub ttl: u8,
    /// IPv4 don't-fragment bit (always set for IPv6).
    pub df: bool,
    pub v6: bool,
}

/// The signature of a TCP segment, `tcp` its header with options (pf's
/// pf_osfp_fingerprint_hdr): only for a SYN without ACK, and not when an
/// option is malformed or unknown to pf.
pub fn packet_signature(ip: IpFacts, tcp: &[u8]) -> Option<Signature> {
    let flags = *tcp.get(13)?;
    if flags & 0x12 != 0x02 {
        return None;
    }
    let hlen = ((*tcp.get(12)? >> 4) as usize) * 4;
    let opts = tcp.get(20..hlen)?;
    let mut fp = Signature {
        psize: ip.len,
        ttl: ip.ttl,
        wsize: u16::from_be_bytes([tcp[14], tcp[15]]),
        flags: if ip.df || ip.v6 { flag::DF } else { 0 } | if ip.v6 { flag::INET6 } else { 0 },
        ..Signature::default()
    };
    let mut i = 0;
    while i < opts.len() {
        let kind = opts[i];
        if kind == 0 {
            break;
        }
        fp.optcnt = fp.optcnt.wrapping_add(1);
        if kind == 1 {
            fp.tcpopts = (fp.tcpopts << OPT_BITS) | OPT_NOP;
            i += 1;
            continue;
        }
        let olen = *opts.get(i + 1)? as usize;
        if olen < 2 || olen > opts.len() - i {
            return None;
        }
        let o = &opts[i..i + olen];
        let code = match kind {
            2 => {
                if olen >= 4 {
                    fp.mss = u16::from_be_bytes([o[2], o[3]]);
                }
                OPT_MSS
            }
            3 => {
                if olen >= 3 {
                    fp.wscale = o[2];
                }
                OPT_WSCALE
            }
            4 => OPT_SACK,
            8 => {
                if olen >= 10 && o[2..6] == [0, 0, 0, 0] {
                    fp.flags |= flag::TS0;
                }
                OPT_TS
            }
            _ => return None,
        };
        fp.tcpopts = (fp.tcpopts << OPT_BITS) | code;
        i += olen;
    }
    Some(fp)
}

/// How a number field of the file may be written.
const T_DC: u8 = 1;
const T_MSS: u8 = 2;
const T_MTU: u8 = 4;
const T_MOD: u8 = 8;

/// One number of a line (get_int): the value and how it was written.
fn get_int(field: &str, name: &str, allow: u8, max: u32, at: &str) -> Result<(u32, u8), String> {
    if field.is_empty() {
        return Err(format!("{at} empty {name}"));
    }
    let mut m = 0u8;
    let mut digits = field;
    let first = field.as_bytes()[0];
    let single = field.len() == 1;
    if matches!(first, b'%' | b'S' | b'T' | b'*') {
        let modulus = |m: &mut u8| {
            if allow & T_MOD != 0 {
                *m = T_MOD;
            }
            if single {
                Err(format!("{at} modulus {name} must have a value"))
            } else {
                Ok(())
            }
        };
        match first {
            b'S' | b'T' => {
                let t = if first == b'S' { T_MSS } else { T_MTU };
                if allow & t != 0 {
                    m = t;
                }
                if single {
                    return Ok((0, m));
                }
            }
            b'*' => {
                if !single {
                    return Err(format!("{at} long '*' {name}"));
                }
                if allow & T_DC != 0 {
                    return Ok((0, T_DC));
                }
                modulus(&mut m)?;
            }
            _ => modulus(&mut m)?,
        }
        if m == 0 {
            return Err(format!("{at} does not allow {}' {name}", first as char));
        }
        digits = &field[1..];
    }
    let mut val: u64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return Err(format!("{at} non-digit character in {name}"));
        }
        val = val * 10 + (b - b'0') as u64;
        if val > i32::MAX as u64 {
            return Err(format!("{at} {name} overflowed"));
        }
    }
    if val > max as u64 {
        return Err(format!("{at} {name} value {val} > {max}"));
    }
    Ok((val as u32, m))
}

/// The TCP options field (get_tcpopts).
fn get_tcpopts(s: &str, at: &str, sig: &mut Signature) -> Result<(), String> {
    sig.flags |= flag::WSCALE_DC | flag::MSS_DC;
    if s == "." {
        return Ok(());
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && sig.optcnt < MAX_OPTS {
        let opt = b[i].to_ascii_uppercase();
        i += 1;
        match opt {
            b'N' => sig.tcpopts = (sig.tcpopts << OPT_BITS) | OPT_NOP,
            b'S' => sig.tcpopts = (sig.tcpopts << OPT_BITS) | OPT_SACK,
            b'W' | b'M' => {
                let (code, dc, modf) = if opt == b'W' {
                    (OPT_WSCALE, flag::WSCALE_DC, flag::WSCALE_MOD)
                } else {
                    (OPT_MSS, flag::MSS_DC, flag::MSS_MOD)
                };
                sig.flags &= !dc;
                sig.tcpopts = (sig.tcpopts << OPT_BITS) | code;
                let mut val: u32 = 0;
                if b.get(i) == Some(&b'*') && matches!(b.get(i + 1), None | Some(b',')) {
                    sig.flags |= dc;
                    i += 1;
                } else {
                    if b.get(i) == Some(&b'%') {
                        sig.flags |= modf;
                        i += 1;
                    }
                    loop {
                        match b.get(i) {
                            Some(d) if d.is_ascii_digit() => {
                                val = val.saturating_mul(10).saturating_add((d - b'0') as u32);
                                i += 1;
                            }
                            other => {
                                let c = other.map(|c| (*c as char).to_string()).unwrap_or_default();
                                return Err(format!(
                                    "{at} unknown character '{c}' in {} TCP opt",
                                    opt as char
                                ));
                            }
                        }
                        if matches!(b.get(i), None | Some(b',')) {
                            break;
                        }
                    }
                }
                if opt == b'W' {
                    sig.wscale = val as u8;
                } else {
                    sig.mss = val as u16;
                }
            }
            b'T' => {
                if b.get(i) == Some(&b'0') {
                    sig.flags |= flag::TS0;
                    i += 1;
                }
                sig.tcpopts = (sig.tcpopts << OPT_BITS) | OPT_TS;
            }
            _ => {}
        }
        sig.optcnt += 1;
        match b.get(i) {
            None => break,
            Some(b',') => i += 1,
            Some(_) => return Err(format!("{at} unknown option to {} TCP opt", opt as char)),
        }
    }
    Ok(())
}

/// A version or subtype range (`3-5`, `2.0-2.6`) as its values; None if
/// the field is not a range (pfctl's EXPAND).
fn expand(field: &str) -> Option<Vec<String>> {
    let b = field.as_bytes();
    let d = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| (c - b'0') as u32)
    };
    let mut i = 0;
    let mut dot = None;
    if d(0).is_some() && b.get(1) == Some(&b'.') {
        dot = d(0);
        i = 2;
    }
    let mut start = d(i)?;
    i += 1;
    if let Some(x) = d(i) {
        start = start * 10 + x;
        i += 1;
    }
    if b.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    if d(i).is_some() && b.get(i + 1) == Some(&b'.') && d(i) == dot {
        i += 2;
    } else if dot.is_some() {
        return None;
    }
    let mut end = d(i)?;
    i += 1;
    for _ in 0..2 {
        if let Some(x) = d(i) {
            end = end * 10 + x;
            i += 1;
        }
    }
    if i != b.len() {
        return None;
    }
    Some(
        (start..=end)
            .map(|v| match dot {
                Some(m) => format!("{m}.{v}"),
                None => v.to_string(),
            })
            .collect(),
    )
}

/// Read a fingerprint file (pfctl_file_fingerprints): the entries, each
/// in its IPv4 and IPv6 forms with ranges expanded, and the messages
/// about the lines skipped, `file:line message` as pfctl prints them.
pub fn parse_file(text: &str, filename: &str) -> Result<(Vec<FpEntry>, Vec<String>), String> {
    let mut out = Vec::new();
    let mut msgs = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let at = format!("{filename}:{}", n + 1);
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match parse_line(line, &at) {
            Ok(e) => {
                if e.class.eq_ignore_ascii_case("nomatch") {
                    return Err("fingerprint class \"nomatch\" is reserved".to_string());
                }
                let mut v6 = e.clone();
                v6.sig.flags |= flag::DF | flag::INET6;
                v6.sig.psize = v6.sig.psize.wrapping_add(20);
                for e in [e, v6] {
                    push_expanded(e, &mut out);
                }
            }
            Err(m) => msgs.push(m),
        }
    }
    Ok((out, msgs))
}

fn push_expanded(e: FpEntry, out: &mut Vec<FpEntry>) {
    if let Some(vs) = expand(&e.version) {
        for v in vs {
            push_expanded(
                FpEntry {
                    version: v,
                    ..e.clone()
                },
                out,
            );
        }
        return;
    }
    if let Some(ss) = expand(&e.subtype) {
        for s in ss {
            out.push(FpEntry {
                subtype: s,
                ..e.clone()
            });
        }
        return;
    }
    out.push(e);
}

fn parse_line(line: &str, at: &str) -> Result<FpEntry, String> {
    let mut fields: Vec<&str> = line.split(':').map(str::trim).collect();
    let excess = fields.len() > 9;
    fields.resize(9, "");
    let too_short = |f: &str, min: usize, name: &str| {
        if f.len() < min {
            Err(format!("{at} too short {name}"))
        } else {
            Ok(())
        }
    };
    let (window, wmod) = get_int(
        fields[0],
        "window size",
        T_DC | T_MSS | T_MTU | T_MOD,
        0xffff,
        at,
    )?;
    let (ttl, _) = get_int(fields[1], "ttl", 0, 0xff, at)?;
    let (df, _) = get_int(fields[2], "don't fragment frag", 0, 1, at)?;
    let (psize, pmod) = get_int(fields[3], "overall packet size", T_MOD | T_DC, 8192, at)?;
    too_short(fields[4], 1, "TCP Options")?;
    too_short(fields[5], 1, "OS class")?;
    too_short(fields[8], 2, "OS description")?;
    let mut sig = Signature {
        ttl: ttl as u8,
        wsize: window as u16,
        psize: psize as u16,
        flags: if df != 0 { flag::DF } else { 0 },
        ..Signature::default()
    };
    sig.flags |= match wmod {
        T_DC => flag::WSIZE_DC,
        T_MSS => flag::WSIZE_MSS,
        T_MTU => flag::WSIZE_MTU,
        T_MOD => flag::WSIZE_MOD,
        _ => 0,
    };
    sig.flags |= match pmod {
        T_DC => flag::PSIZE_DC,
        T_MOD => flag::PSIZE_MOD,
        _ => 0,
    };
    get_tcpopts(fields[4], at, &mut sig)?;
    if excess {
        return Err(format!("{at} excess field"));
    }
    // `@class` marks a generic signature, `*class` one without details.
    let class = fields[5].strip_prefix(['@', '*']).unwrap_or(fields[5]);
    Ok(FpEntry {
        sig,
        class: class.to_string(),
        version: fields[6].to_string(),
        subtype: fields[7].to_string(),
    })
}

/// A fingerprint file as read: its name, its entries, and the messages
/// about the lines skipped.
#[derive(Debug, Clone)]
pub struct FingerprintFile {
    pub file: String,
    pub entries: Vec<FpEntry>,
    pub messages: Vec<String>,
}

/// What `pfctl -f` loads as fingerprints: the file `set fingerprints`
/// names, or /etc/pf.os. None when the default file is not there (Linux
/// systems have none unless one is installed; OpenBSD's pfctl would warn).
/// The error is pfctl's message for a file it cannot read.
pub fn read_for_ruleset(
    rs: &crate::ruleset::Ruleset,
    read: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<Option<FingerprintFile>, String> {
    let named = rs.directives.iter().rev().find_map(|d| match d {
        crate::ruleset::Directive::Fingerprints(f) => Some(f.as_str()),
        _ => None,
    });
    let file = named.unwrap_or(DEFAULT_FILE);
    let text = match read(file) {
        Ok(t) => t,
        Err(e) if named.is_none() && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{file}: {e}")),
    };
    let (entries, messages) = parse_file(&text, file)?;
    Ok(Some(FingerprintFile {
        file: file.to_string(),
        entries,
        messages,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# window:ttl:df:size:options:class:version:subtype:description
S4:64:1:60:M*,S,T,N,W7:Linux:2.6-3:ALT:Linux as a test sees it
16384:64:1:64:M*,N,N,S,N,W3,N,N,T:OpenBSD:3.0-3.4::OpenBSD 3.0-3.4
*:128:1:48:M*,N,N,S:Windows:XP:SP1:Windows XP SP1
%8192:64:0:44:M%512:@Test:1.0:beta:test modulus
bad:64:1:60:.:X:1::broken window
16384:64:1:60:M*,W:Y:1::no digits
";

    fn db() -> OsfpDb {
        let (entries, msgs) = parse_file(FILE, "pf.os").unwrap();
        assert_eq!(
            msgs,
            vec![
                "pf.os:6 non-digit character in window size".to_string(),
                "pf.os:7 unknown character '' in W TCP opt".to_string()
            ]
        );
        let mut db = OsfpDb::default();
        for e in entries {
            db.add(e).unwrap();
        }
        db
    }

    #[test]
    fn ranges_expand_and_both_families_load() {
        let db = db();
        // Linux 2.6-3 is not a range pfctl expands (different majors): one
        // version; OpenBSD 3.0-3.4 is five; each twice (IPv4, IPv6).
        assert_eq!(db.len(), 2 + 10 + 2 + 2);
        assert!(db.entries().iter().any(|e| e.version == "3.4"));
        assert_eq!(expand("1-4").unwrap(), vec!["1", "2", "3", "4"]);
        assert_eq!(expand("2.0-2.10").unwrap().len(), 11);
        assert_eq!(expand("2.0-3.1"), None);
        assert_eq!(expand("XP"), None);
        let dup = db.entries()[0].clone();
        let mut db2 = db.clone();
        assert!(db2.add(dup).is_err());
    }

    #[test]
    fn names_resolve_as_pfctl_resolves_them() {
        let db = db();
        let OsSpec::Id(obsd) = db.resolve("openbsd") else {
            panic!()
        };
        assert_eq!((obsd.version, obsd.subtype), (0, 0));
        let OsSpec::Id(v) = db.resolve("OpenBSD 3.3") else {
            panic!()
        };
        assert!(v.version != 0 && v.subtype == 0);
        let OsSpec::Id(s) = db.resolve("Windows XP SP1") else {
            panic!()
        };
        assert!(s.subtype != 0);
        let OsSpec::Id(s) = db.resolve("Linux 2.6-3.ALT") else {
            panic!()
        };
        assert!(s.subtype != 0);
        assert_eq!(db.resolve("unknown"), OsSpec::Unknown);
        assert_eq!(db.resolve("Plan9"), OsSpec::NoMatch);
        assert_eq!(db.resolve("OpenBSD 9.9"), OsSpec::NoMatch);
    }

    fn syn(win: u16, opts: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[12] = (((20 + opts.len()) / 4) as u8) << 4;
        t[13] = 0x02;
        t[14..16].copy_from_slice(&win.to_be_bytes());
        t.extend_from_slice(opts);
        t
    }

    /// A Linux SYN: mss 1460, sack ok, timestamp, nop, wscale 7.
    const LINUX_OPTS: [u8; 20] = [
        2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 1, 2, 0, 0, 0, 0, 1, 3, 3, 7,
    ];

    #[test]
    fn packets_are_fingerprinted_and_matched() {
        let db = db();
        let ip = IpFacts {
            len: 60,
            ttl: 64,
            df: true,
            v6: false,
        };
        let sig = packet_signature(ip, &syn(5840, &LINUX_OPTS)).unwrap();
        assert_eq!((sig.mss, sig.wscale, sig.optcnt), (1460, 7, 5));
        let hit = db.lookup(&sig);
        assert!(matches(hit, db.resolve("Linux")));
        assert!(!matches(hit, db.resolve("OpenBSD")));
        assert!(!matches(hit, OsSpec::Unknown));
        // A TTL lowered by hops still matches, a higher one does not.
        let mut low = sig;
        low.ttl = 50;
        assert!(matches(db.lookup(&low), db.resolve("Linux")));
        let mut high = sig;
        high.ttl = 65;
        assert!(db.lookup(&high).is_none());
        assert!(matches(db.lookup(&high), OsSpec::Unknown));
        // The window must be 4 MSS (or 4 x 1460).
        let other = packet_signature(ip, &syn(5000, &LINUX_OPTS)).unwrap();
        assert!(db.lookup(&other).is_none());
        // IPv6: 20 bytes more.
        let v6 = IpFacts {
            len: 80,
            ttl: 64,
            df: true,
            v6: true,
        };
        let sig6 = packet_signature(v6, &syn(5840, &LINUX_OPTS)).unwrap();
        assert!(matches(db.lookup(&sig6), db.resolve("Linux 2.6-3")));
        // Not a SYN, an unknown option, a bad length: no signature.
        let mut ack = syn(5840, &LINUX_OPTS);
        ack[13] = 0x12;
        assert!(packet_signature(ip, &ack).is_none());
        assert!(packet_signature(ip, &syn(5840, &[99, 2, 0, 0])).is_none());
        assert!(packet_signature(ip, &syn(5840, &[2, 9, 0, 0])).is_none());
        // Modulus fields.
        let m = packet_signature(
            IpFacts {
                len: 44,
                ttl: 60,
                df: false,
                v6: false,
            },
            &syn(16384, &[2, 4, 4, 0]),
        )
        .unwrap();
        assert!(matches(db.lookup(&m), db.resolve("Test 1.0 beta")));
    }

    #[test]
    fn show_lists_names_sorted() {
        let s = db().show();
        assert!(s.starts_with(
            "Class\tVersion\tSubtype(subversion)\n-----\t-------\t-------------------\n"
        ));
        let lines: Vec<&str> = s.lines().skip(2).collect();
        assert_eq!(lines[0], "Linux\t");
        assert_eq!(lines[1], "Linux\t2.6-3\t");
        assert_eq!(lines[2], "Linux\t2.6-3\tALT\t");
        assert_eq!(lines[3], "OpenBSD\t");
        assert!(lines.contains(&"Windows\tXP\tSP1\t"));
        assert_eq!(OsfpDb::default().show(), "");
    }

    #[test]
    fn bad_files_never_panic() {
        for junk in [
            "::::::::",
            "1:2:3:4:M%:a:b:c:dd",
            "%:1:1:1:.:a:b:c:dd",
            "1:999:1:1:.:a:b:c:dd",
            "S:64:1:60:W*,M,:a:::dd",
        ] {
            let _ = parse_file(junk, "f");
        }
        assert!(parse_file("1:1:1:1:.:nomatch:::xx", "f").is_err());
    }
}

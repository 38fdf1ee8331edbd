//! What pfd keeps of the engine's configuration across a restart: the
//! rulesets of every anchor as they were committed, the options (with
//! the ruleset's checksum), the tables that are defined (flags and
//! addresses, those `pfctl -t` added included), the OS fingerprints,
//! the debug level, the host id and whether pf is enabled. `snapshot`
//! takes it, `restore` commits it back through the same path a `pfctl
//! -f` takes, and `encode`/`decode` give the file's bytes: a magic, a
//! format version, a SHA-1 of the body and the body (postcard). A file
//! that is short, of another version, or whose body does not match its
//! digest is refused whole: nothing of it is loaded.
//!
//! `boot_rules` is the ruleset of a pfd that never had one committed:
//! everything blocked but loopback and the CARP and pfsync traffic of the
//! interfaces its configuration names.

use super::anchor::Loader;
use super::config::CommitError;
use super::table::{tflag, Shadow};
use super::Engine;
use crate::osfp::FpEntry;
use crate::ruleset::{Options, Rule, TableEntry, TableFlags};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"PFDCONF\0";
/// The format of the body; bumped on any change of what is stored.
pub const VERSION: u32 = 1;
/// Magic, version, SHA-1 of the body.
const HEADER_LEN: usize = 8 + 4 + 20;

/// One defined table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedTable {
    pub anchor: String,
    pub name: String,
    pub flags: TableFlags,
    pub entries: Vec<TableEntry>,
}

/// The engine's configuration, as committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub enabled: bool,
    /// (anchor path, rules), the main ruleset (`""`) first.
    pub rulesets: Vec<(String, Vec<Rule>)>,
    pub options: Options,
    pub checksum: String,
    pub tables: Vec<SavedTable>,
    pub fingerprints: Vec<FpEntry>,
    pub debug: u8,
    pub hostid: u32,
    /// Who loaded the main ruleset (`pfctl -vsr`'s `Inserted:`).
    pub loader: (u32, u32),
}

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Short,
    Magic,
    /// The file's version and the one this pfd reads.
    Version(u32, u32),
    Digest,
    Body(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Short => f.write_str("truncated"),
            DecodeError::Magic => f.write_str("not a file of this kind"),
            DecodeError::Version(v, want) => {
                write!(f, "format version {v}, this pfd reads version {want}")
            }
            DecodeError::Digest => f.write_str("SHA-1 of the contents does not match"),
            DecodeError::Body(e) => write!(f, "undecodable contents: {e}"),
        }
    }
}

/// `value` in a file of its own kind: `magic`, `version`, the SHA-1 of
/// the body, the body (postcard).
pub fn seal<T: Serialize>(magic: &[u8; 8], version: u32, value: &T) -> Vec<u8> {
    // Plain data (rules, options, addresses): serialising cannot fail.
    let body = postcard::to_allocvec(value).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&Sha1::digest(&body));
    out.extend_from_slice(&body);
    out
}

/// The value `seal` wrote, or why the bytes are not one whole.
pub fn unseal<T: for<'de> Deserialize<'de>>(
    magic: &[u8; 8],
    version: u32,
    b: &[u8],
) -> Result<T, DecodeError> {
    if b.len() < HEADER_LEN {
        return Err(DecodeError::Short);
    }
    if &b[..8] != magic {
        return Err(DecodeError::Magic);
    }
    let v = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
    if v != version {
        return Err(DecodeError::Version(v, version));
    }
    let body = &b[HEADER_LEN..];
    if Sha1::digest(body).as_slice() != &b[12..32] {
        return Err(DecodeError::Digest);
    }
    let (s, rest): (T, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| DecodeError::Body(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Body(format!(
            "{} bytes after the end",
            rest.len()
        )));
    }
    Ok(s)
}

/// The configuration file's bytes.
pub fn encode(s: &Snapshot) -> Vec<u8> {
    seal(MAGIC, VERSION, s)
}

/// The snapshot in a configuration file's bytes, or why not.
pub fn decode(b: &[u8]) -> Result<Snapshot, DecodeError> {
    unseal(MAGIC, VERSION, b)
}

/// The rules of a pfd that never had a ruleset: block everything but
/// loopback, CARP on the carp interfaces' carpdevs and pfsync on the
/// syncdev (no states: they would outlive the first ruleset).
pub fn boot_rules_text(carpdevs: &[String], syncdev: Option<&str>) -> String {
    let mut t = String::from("block drop all\npass quick on lo no state\n");
    let mut devs: Vec<&String> = carpdevs.iter().collect();
    devs.sort();
    devs.dedup();
    for d in devs {
        t.push_str(&format!("pass quick on {d} proto carp no state\n"));
    }
    if let Some(d) = syncdev {
        t.push_str(&format!("pass quick on {d} proto pfsync no state\n"));
    }
    t
}

impl Engine {
    /// The configuration as committed now.
    pub fn snapshot(&self) -> Snapshot {
        let rulesets = self
            .rules
            .iter()
            .map(|a| (a.path.clone(), a.rules.rules.clone()))
            .collect();
        let tables = self
            .tables
            .get_tables(None)
            .into_iter()
            .filter(|t| t.flags & tflag::ACTIVE != 0)
            .map(|t| {
                let entries = self
                    .tables
                    .get_astats(&t.anchor, &t.name)
                    .map(|v| v.into_iter().map(|a| a.entry).collect())
                    .unwrap_or_default();
                SavedTable {
                    flags: TableFlags {
                        constant: t.flags & tflag::CONST != 0,
                        persist: t.flags & tflag::PERSIST != 0,
                        counters: t.flags & tflag::COUNTERS != 0,
                    },
                    anchor: t.anchor,
                    name: t.name,
                    entries,
                }
            })
            .collect();
        let l = self.rules.main().loader;
        Snapshot {
            enabled: self.enabled,
            rulesets,
            options: self.options.clone(),
            checksum: self.checksum.clone(),
            tables,
            fingerprints: self.fingerprints().to_vec(),
            debug: self.debug,
            hostid: self.hostid,
            loader: (l.uid, l.pid),
        }
    }

    /// Commit a snapshot into this engine (rules, options, tables,
    /// fingerprints, debug level, host id), all or nothing as a
    /// transaction; `enabled` is the caller's to apply (the hooks go
    /// with it).
    pub fn restore(&mut self, s: Snapshot, now: u64) -> Result<(), CommitError> {
        let mut shadows = Vec::with_capacity(s.tables.len());
        for t in &s.tables {
            let mut sh = Shadow::new(&t.anchor, &t.name, t.flags, true);
            sh.add(&t.entries);
            sh.finish()?;
            shadows.push(sh);
        }
        let old_fp = self.fingerprints().to_vec();
        self.flush_fingerprints();
        self.add_fingerprints(s.fingerprints);
        let loader = Loader {
            uid: s.loader.0,
            pid: s.loader.1,
        };
        if let Err(e) = self.commit(
            s.rulesets,
            Some((s.options, s.checksum)),
            shadows,
            loader,
            now,
        ) {
            self.flush_fingerprints();
            self.add_fingerprints(old_fp);
            return Err(e);
        }
        self.set_debug(s.debug);
        if s.hostid != 0 && s.hostid != self.hostid {
            self.hostid = s.hostid;
            self.halfopen_recount();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{parse, StaticResolver};
    use crate::ruleset::flatten;

    fn engine_with(src: &str) -> Engine {
        let rs = parse(src, "pf.conf", &StaticResolver::new()).unwrap();
        let mut e = Engine::new(0x1234, 1);
        e.load(rs, Loader { uid: 0, pid: 42 }, "abc".into())
            .unwrap();
        e.set_enabled(true, 0);
        e
    }

    const CONF: &str = "set limit states 500\nset timeout tcp.established 600\n\
block in from <bad>\npass out keep state\nanchor \"a\" {\n pass in proto tcp to port 22\n}\n";

    #[test]
    fn a_snapshot_restores_the_same_configuration() {
        let mut e = engine_with(CONF);
        let added = [TableEntry::new(false, "203.0.113.5/32".parse().unwrap())];
        e.tables.add_table("", "bad", false, 5, 100).unwrap();
        e.tables
            .add_addrs("", "bad", &added, false, 5, 1000)
            .unwrap();
        e.set_debug(6);
        let snap = e.snapshot();
        assert!(snap.enabled);
        assert_eq!(snap.rulesets.len(), 2);
        assert_eq!(snap.tables.len(), 1);
        assert_eq!(snap.tables[0].entries.len(), 1);
        assert!(snap.tables[0].flags.persist);
        let bytes = encode(&snap);
        let back = decode(&bytes).unwrap();
        assert_eq!(back, snap);
        let mut f = Engine::new(0x9999, 2);
        f.restore(back, 0).unwrap();
        assert_eq!(
            f.snapshot(),
            Snapshot {
                enabled: false,
                ..snap
            }
        );
        assert_eq!(f.hostid(), 0x1234);
        assert_eq!(f.limit(crate::ruleset::Limit::States), 500);
        assert_eq!(f.debug_level(), 6);
    }

    #[test]
    fn damaged_files_are_refused() {
        let bytes = encode(&engine_with(CONF).snapshot());
        assert_eq!(decode(&bytes[..10]), Err(DecodeError::Short));
        let mut b = bytes.clone();
        b[0] = b'X';
        assert_eq!(decode(&b), Err(DecodeError::Magic));
        let mut b = bytes.clone();
        b[11] = 9;
        assert_eq!(decode(&b), Err(DecodeError::Version(9, VERSION)));
        let mut b = bytes.clone();
        let last = b.len() - 1;
        b[last] ^= 1;
        assert_eq!(decode(&b), Err(DecodeError::Digest));
        // A body that matches its digest but is cut short.
        let body = &bytes[HEADER_LEN..bytes.len() - 5];
        let mut b = bytes[..12].to_vec();
        b.extend_from_slice(&Sha1::digest(body));
        b.extend_from_slice(body);
        assert!(matches!(decode(&b), Err(DecodeError::Body(_))));
    }

    #[test]
    fn boot_rules_block_all_but_carp_and_pfsync() {
        let t = boot_rules_text(&["eth1".into(), "eth1".into()], Some("eth2"));
        let rs = parse(&t, "boot", &StaticResolver::new()).unwrap();
        let sets = flatten(&rs, "");
        assert_eq!(sets[0].1.len(), 4);
        assert_eq!(t.matches("proto carp").count(), 1);
        assert!(t.contains("pass quick on eth2 proto pfsync no state"));
        assert_eq!(boot_rules_text(&[], None).lines().count(), 2);
    }
}

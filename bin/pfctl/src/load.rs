//! `pfctl -f FILE` (and `-T load -f FILE`, the table definitions alone):
//! read pf.conf, parse and expand it, optimize it, print it with `-v`,
//! refuse what pfd cannot enforce, then hand pfd the OS fingerprints and
//! the ruleset as one transaction. Failures print pfctl's messages; the
//! error is the exit status.

use libpf::conf::{self, print, Resolver};
use libpf::ctl;
use libpf::ioctl::client::Client;
use libpf::ioctl::{Error, Reply, Request};
use libpf::osfp::FingerprintFile;
use libpf::ruleset::optimize::Level;
use libpf::ruleset::Ruleset;
use std::io::{Read, Write};

/// What `load` is asked to do besides loading `file`.
pub struct LoadOpts<'a> {
    pub noaction: bool,
    pub verbose: u8,
    /// `-T load`: the table definitions only.
    pub tables_only: bool,
    /// `-a`: the anchor the rules go to.
    pub anchor: &'a str,
    /// `-o`, if given.
    pub optimize: Option<Level>,
}

pub fn load(client: &mut Option<Client>, file: &str, o: &LoadOpts) -> Result<(), i32> {
    let (text, name) = read(file)?;
    // Without -n we need pfd anyway; with -n, use it for carp addresses
    // when it is there.
    if client.is_none() {
        match Client::connect_default() {
            Ok(c) => *client = Some(c),
            Err(e) if !o.noaction => {
                eprintln!("pfctl: {e}");
                return Err(1);
            }
            Err(_) => {}
        }
    }
    let resolver = ctl::resolver(client.as_mut());
    let mut rs = parse(&text, &name, &resolver, client, o)?;
    if o.verbose > 0 {
        print_nv(&mut rs, &resolver);
    }
    if o.noaction {
        return Ok(());
    }
    if o.tables_only {
        let Some(c) = client.as_mut() else {
            return Err(1);
        };
        return ctl::load_tables(c, &rs).map_err(|e| {
            eprintln!("pfctl: {e}");
            1
        });
    }
    // What pfd cannot enforce is refused here, the whole ruleset with it.
    check_support(&rs, &name)?;
    let fingerprints = read_fingerprints(&rs, o.verbose)?;
    let Some(c) = client.as_mut() else {
        return Err(1);
    };
    send(c, &rs, fingerprints, o.anchor)
}

/// The text of `file` (`-`: standard input) and the name messages give it.
fn read(file: &str) -> Result<(String, String), i32> {
    if file == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("pfctl: stdin: {e}");
            return Err(1);
        }
        return Ok((s, "stdin".to_string()));
    }
    match std::fs::read_to_string(file) {
        Ok(s) => Ok((s, file.to_string())),
        Err(e) => {
            eprintln!("pfctl: {file}: {e}");
            Err(1)
        }
    }
}

/// The ruleset of `text`, optimized and with `$nr` filled in, its
/// warnings printed; on an error, every message (and with -v the options
/// read so far, as pfctl has printed them as it read them).
fn parse(
    text: &str,
    name: &str,
    resolver: &dyn Resolver,
    client: &mut Option<Client>,
    o: &LoadOpts,
) -> Result<Ruleset, i32> {
    let (mut rs, errs) =
        conf::parse_partial_raw(text, name, resolver, &|p: &str| std::fs::read_to_string(p));
    // warnings are printed and do not stop the load
    if errs.iter().any(|e| !e.warning) {
        for e in errs {
            eprintln!("{e}");
        }
        if o.verbose > 0 {
            print!("{}", print::print_directives(&rs));
        }
        if !o.noaction {
            eprintln!("pfctl: Syntax error in config file: pf rules not loaded");
        }
        return Err(1);
    }
    for e in &errs {
        eprintln!("{e}");
    }
    // The optimizer, then `$nr`: as pfctl_load_ruleset does (-T load
    // loads no rules, so it makes no tables for them either).
    let level = if o.tables_only {
        Level::None
    } else {
        Level::effective(o.optimize, &rs)
    };
    let profile = match (level, client.as_mut()) {
        (Level::Profile, Some(c)) => match loaded_profile(c) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("pfctl: {e}");
                return Err(1);
            }
        },
        _ => None,
    };
    conf::finish(&mut rs, level, profile.as_deref());
    Ok(rs)
}

/// `profile`: the loaded main ruleset's rules and the packets each
/// matched (pfctl's load_feedback_profile reads the main ruleset).
fn loaded_profile(c: &mut Client) -> Result<Vec<(libpf::ruleset::Rule, u64)>, Error> {
    match c.call(&Request::GetRules {
        anchor: String::new(),
    })? {
        Reply::Rules { rules, .. } => Ok(rules
            .into_iter()
            .map(|r| (r.rule, r.counters.packets[0] + r.counters.packets[1]))
            .collect()),
        other => Err(Error::Protocol(format!("expected rules, got {other:?}"))),
    }
}

/// `-v`: the main ruleset, then each `load anchor` file as pfctl loads it.
fn print_nv(rs: &mut Ruleset, resolver: &dyn Resolver) {
    let loads = std::mem::take(&mut rs.loads);
    print!("{}", print::print_ruleset_nv(rs, resolver));
    for l in &loads {
        let _ = std::io::stdout().flush();
        eprintln!("\nLoading anchor {} from {}", l.path, l.file);
        print!("{}", print::print_ruleset_nv(&l.ruleset, resolver));
    }
    rs.loads = loads;
}

/// Refuses the ruleset when it holds anything pfd cannot enforce
/// (`ruleset::support`); prints the warnings.
fn check_support(rs: &Ruleset, name: &str) -> Result<(), i32> {
    let support = libpf::ruleset::support::check(rs);
    for w in &support.warnings {
        eprintln!("pfctl: warning: {}", w.message(name));
    }
    if !support.ok() {
        for u in &support.refused {
            eprintln!("{}", u.message(name));
        }
        eprintln!("pfctl: pf rules not loaded");
        return Err(1);
    }
    Ok(())
}

/// The OS fingerprints the `os` rules are matched against (none when the
/// ruleset needs none); with -vv, how many and which `os` names none
/// matches.
fn read_fingerprints(rs: &Ruleset, verbose: u8) -> Result<Option<FingerprintFile>, i32> {
    let fingerprints =
        match libpf::osfp::read_for_ruleset(rs, &|p: &str| std::fs::read_to_string(p)) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("pfctl: {e}");
                eprintln!("pfctl: pf rules not loaded");
                return Err(1);
            }
        };
    if let Some(f) = &fingerprints {
        for m in &f.messages {
            eprintln!("{m}");
        }
        if verbose >= 2 {
            println!("Loaded {} passive OS fingerprints", f.entries.len());
        }
    }
    if verbose >= 2 {
        let mut db = libpf::osfp::OsfpDb::default();
        for e in fingerprints.iter().flat_map(|f| f.entries.iter()) {
            let _ = db.add(e.clone());
        }
        for os in rs.rules.iter().filter_map(|r| r.extras.os.as_deref()) {
            if db.resolve(os) == libpf::osfp::OsSpec::NoMatch {
                eprintln!("warning: unknown '{os}' OS fingerprint");
            }
        }
    }
    Ok(fingerprints)
}

/// The fingerprints go first, then the ruleset at `anchor`.
fn send(
    c: &mut Client,
    rs: &Ruleset,
    fingerprints: Option<FingerprintFile>,
    anchor: &str,
) -> Result<(), i32> {
    if let Some(f) = fingerprints {
        if let Err(e) = load_fingerprints(c, f.entries) {
            eprintln!("pfctl: {e}");
            return Err(1);
        }
    }
    if let Err(e) = ctl::load(c, rs, anchor) {
        eprintln!("pfctl: {e}");
        eprintln!("pfctl: pf rules not loaded");
        return Err(1);
    }
    Ok(())
}

/// DIOCOSFPFLUSH, then DIOCOSFPADD for each fingerprint.
fn load_fingerprints(c: &mut Client, entries: Vec<libpf::osfp::FpEntry>) -> Result<(), Error> {
    c.call_ok(&Request::OsfpFlush)?;
    for chunk in entries.chunks(4096) {
        if let Reply::Duplicates(d) = c.call(&Request::OsfpAdd {
            entries: chunk.to_vec(),
        })? {
            for m in d {
                eprintln!("pfctl: {m}: File exists");
            }
        }
    }
    Ok(())
}

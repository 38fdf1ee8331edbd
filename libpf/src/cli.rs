//! What every command-line tool does before its own work, the same way in
//! each: OpenBSD's behaviour on a closed output pipe (the tool dies of
//! SIGPIPE, silently, so `pfctl -sr | head -1` prints no panic), a
//! `--version`, usage errors with exit status 1 as OpenBSD's tools have,
//! and bash and zsh completions generated from the tool's clap command
//! (`TOOL --completions bash|zsh`, a hidden option `make install` uses).

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};
use std::io::Write;

/// The version every tool reports (the workspace's).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The shells completions are generated for.
pub const SHELLS: &[&str] = &["bash", "zsh"];

const COMPLETIONS: &str = "completions";

/// What kind of program parses its command line: a command writing to
/// standard output, or a daemon whose writes go to sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A closed output pipe ends it, silently (SIGPIPE's default action).
    Command,
    /// SIGPIPE stays ignored (Rust's default): a peer that closes a socket
    /// is an error to handle, not a reason to die. Its output (help,
    /// version, completions, logs) ignores a closed pipe.
    Daemon,
}

/// The tool's clap command with `--version` (long only: `-V` is pfctl's
/// rdomain): what the completions describe.
pub fn base<A: CommandFactory>() -> Command {
    A::command()
        .version(VERSION)
        .disable_version_flag(true)
        .arg(
            Arg::new("version")
                .long("version")
                .action(ArgAction::Version)
                .help("Print the version and exit"),
        )
}

/// `base` and the hidden `--completions SHELL` (bash's generator would
/// list a hidden option, so the completions are made from `base`).
pub fn command<A: CommandFactory>() -> Command {
    base::<A>().arg(
        Arg::new(COMPLETIONS)
            .long(COMPLETIONS)
            .value_name("SHELL")
            .value_parser(SHELLS.to_vec())
            .hide(true),
    )
}

/// Parse the command line into `A`; help, version and completions print
/// and exit 0, a bad command line prints clap's message and exits 1.
pub fn parse<A: CommandFactory + FromArgMatches>(kind: Kind) -> A {
    if kind == Kind::Command {
        default_sigpipe();
    }
    let mut cmd = command::<A>();
    let m = cmd
        .try_get_matches_from_mut(std::env::args_os())
        .unwrap_or_else(|e| fail(e));
    if let Some(shell) = m.get_one::<String>(COMPLETIONS) {
        let script = completions(base::<A>(), shell).unwrap_or_default();
        let _ = std::io::stdout().write_all(&script);
        std::process::exit(0);
    }
    A::from_arg_matches(&m).unwrap_or_else(|e| fail(e.format(&mut cmd)))
}

fn fail(e: clap::Error) -> ! {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            std::process::exit(0)
        }
        _ => {
            let _ = e.print();
            std::process::exit(1)
        }
    }
}

/// The completion script of `cmd` for `shell` (`bash` or `zsh`).
pub fn completions(mut cmd: Command, shell: &str) -> Option<Vec<u8>> {
    let sh = match shell {
        "bash" => clap_complete::Shell::Bash,
        "zsh" => clap_complete::Shell::Zsh,
        _ => return None,
    };
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(sh, &mut cmd, name, &mut out);
    Some(out)
}

/// SIGPIPE back to its default action (Rust starts programs with it
/// ignored, which turns a closed pipe into a panic in `println!`).
pub fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_DFL installs no handler, so no code of ours runs in
    // signal context; called at the start of main, before any thread.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    #[command(name = "tool")]
    struct Args {
        /// A flag.
        #[arg(short = 'V')]
        rdomain: Option<String>,
        rest: Vec<String>,
    }

    #[test]
    fn version_is_long_only() {
        let m = command::<Args>().try_get_matches_from(["tool", "-V", "3"]);
        let a = Args::from_arg_matches(&m.expect("-V is the tool's")).expect("args");
        assert_eq!(a.rdomain.as_deref(), Some("3"));
        let e = command::<Args>()
            .try_get_matches_from(["tool", "--version"])
            .expect_err("--version exits");
        assert_eq!(e.kind(), ErrorKind::DisplayVersion);
        assert_eq!(e.to_string(), format!("tool {VERSION}\n"));
    }

    #[test]
    fn completions_name_the_options_but_not_the_hidden_one() {
        for sh in SHELLS {
            let s = String::from_utf8(completions(base::<Args>(), sh).expect(sh)).expect("utf8");
            assert!(s.contains("--version"), "{sh}: {s}");
            assert!(s.contains("-V"), "{sh}");
            assert!(!s.contains("--completions"), "{sh}");
        }
        assert!(completions(base::<Args>(), "fish").is_none());
    }
}

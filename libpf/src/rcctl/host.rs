//! The real `Manager`: systemctl(1) and /etc/rc.conf.local.

use super::Manager;
use std::io;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct Systemd {
    /// systemctl, and arguments that come first (`--root=DIR`, `--user`).
    pub systemctl: Vec<String>,
    pub conf: PathBuf,
}

impl Default for Systemd {
    /// $RCCTL_SYSTEMCTL (words) or systemctl; $RCCTL_CONF or
    /// /etc/rc.conf.local.
    fn default() -> Systemd {
        let systemctl = std::env::var("RCCTL_SYSTEMCTL")
            .map(|s| s.split_whitespace().map(String::from).collect::<Vec<_>>())
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| vec!["systemctl".into()]);
        let conf = std::env::var_os("RCCTL_CONF")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/rc.conf.local"));
        Systemd { systemctl, conf }
    }
}

impl Manager for Systemd {
    fn systemctl(&mut self, args: &[&str]) -> io::Result<(i32, String)> {
        let (prog, first) = self
            .systemctl
            .split_first()
            .ok_or_else(|| io::Error::other("no systemctl"))?;
        let out = Command::new(prog)
            .args(first)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()?;
        Ok((
            out.status.code().unwrap_or(1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    }

    fn read_conf(&mut self) -> io::Result<String> {
        match std::fs::read_to_string(&self.conf) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            r => r.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.conf.display()))),
        }
    }

    /// Written whole to a temporary file beside it, then renamed; an
    /// empty file is removed, as rcctl removes an empty rc.conf.local.
    fn write_conf(&mut self, text: &str) -> io::Result<()> {
        let ctx = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", self.conf.display()));
        if text.trim().is_empty() {
            return match std::fs::remove_file(&self.conf) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ctx(e)),
                _ => Ok(()),
            };
        }
        let tmp = self
            .conf
            .with_extension(format!("rcctl{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(ctx)?;
        std::fs::rename(&tmp, &self.conf).map_err(ctx)
    }

    /// pfsyncd: the health check of `pfmetrics -c` with its default
    /// thresholds, over pfd's control socket.
    fn health(&mut self, name: &str) -> io::Result<Vec<String>> {
        if name != "pfsyncd" {
            return Ok(vec![]);
        }
        let t = crate::pfsync::health::Thresholds::default();
        crate::ioctl::client::Client::connect_default()
            .and_then(|mut c| crate::pfmetrics::check(&mut c, &t))
            .map(|p| p.iter().map(|p| p.to_string()).collect())
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

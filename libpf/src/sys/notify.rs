//! Readiness for the service manager: sd_notify(3)'s protocol, one
//! datagram of `KEY=VALUE` lines to the socket named in $NOTIFY_SOCKET
//! (a path, or `@name` in the abstract namespace). Without the variable
//! (not started by systemd with Type=notify) nothing is sent.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The daemon is up: its control socket listens (pfd), or it is ready
/// to attach (pfsyncd).
pub fn ready() {
    let _ = notify("READY=1");
}

/// The daemon is stopping (a clean stop in progress).
pub fn stopping() {
    let _ = notify("STOPPING=1");
}

/// Send `state` to $NOTIFY_SOCKET; Ok(false) when there is none.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let addr = address(path.to_str().unwrap_or_default())?;
    let sock = UnixDatagram::unbound()?;
    sock.send_to_addr(state.as_bytes(), &addr)?;
    Ok(true)
}

/// $NOTIFY_SOCKET as a socket address.
fn address(path: &str) -> io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None if path.starts_with('/') => SocketAddr::from_pathname(path),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("NOTIFY_SOCKET={path}: neither a path nor @abstract"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("pfnotify{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify");
        let rx = UnixDatagram::bind(&path).expect("bind");
        let addr = address(path.to_str().expect("utf8")).expect("address");
        let tx = UnixDatagram::unbound().expect("socket");
        tx.send_to_addr(b"READY=1", &addr).expect("send");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn abstract_and_bad_addresses() {
        assert!(address("@pf-test-notify").is_ok());
        assert!(address("relative/path").is_err());
    }
}

//! Delivery of packets pf redirected to the loopback network (`rdr-to
//! 127.0.0.1`; pf's PF_TAG_TRANSLATE_LOCALHOST, see engine::localhost).
//! Linux routes a packet to 127.0.0.0/8 that came in on another interface
//! than `lo`, and a host's answer from 127.0.0.0/8 out of one, only with
//! `net.ipv4.conf.all.route_localnet` set. pfd sets it the first time pf
//! redirects a packet there, before that packet's verdict, and puts the
//! previous value back when pf is disabled or pfd exits. Meanwhile the
//! engine drops what Linux would have: loopback addresses arriving from
//! the wire.

use crate::log;
use crate::sys::sysctl;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

const KEY: &str = "net.ipv4.conf.all.route_localnet";

/// route_localnet as pfd changed it.
#[derive(Debug, Default)]
pub struct Localnet {
    on: AtomicBool,
    /// The value before pfd set it.
    saved: Mutex<Option<String>>,
}

impl Localnet {
    /// An IPv4 packet pf redirected to 127.0.0.0/8 is about to get its
    /// verdict: let Linux deliver it.
    pub fn need(&self) {
        if self.on.load(Ordering::Acquire) {
            return;
        }
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        if self.on.load(Ordering::Acquire) {
            return;
        }
        let before = match sysctl::read(KEY) {
            Ok(v) => v,
            Err(e) => {
                log::err(&format!("rdr-to the loopback network: {e}"));
                self.on.store(true, Ordering::Release);
                return;
            }
        };
        if before != "1" {
            if let Err(e) = sysctl::write(KEY, "1") {
                log::err(&format!(
                    "rdr-to the loopback network: {e}: Linux drops such packets"
                ));
            } else {
                log::notice(&format!(
                    "{KEY} set to 1: pf redirected a packet to the loopback network"
                ));
                *saved = Some(before);
            }
        }
        self.on.store(true, Ordering::Release);
    }

    /// pf is disabled, or pfd exits: route_localnet as it was.
    pub fn restore(&self) {
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = saved.take() {
            if let Err(e) = sysctl::write(KEY, &v) {
                log::err(&format!("restoring {KEY}: {e}"));
            }
        }
        self.on.store(false, Ordering::Release);
    }
}

//! The interfaces pfd's POSTROUTING chain lets packets filtered `out`
//! ahead of time go by, each with its code.

use super::super::Shared;
use super::mark::DEFER_CODE;
use crate::log;
use std::sync::{Arc, Mutex};

/// The codes of the interfaces packets are filtered `out` for ahead of
/// time, and whether pfd's POSTROUTING chain knows them yet. Shared by the
/// data path threads; the chain's rules are added by a thread of their
/// own (iptables takes milliseconds), and forgotten when `pfctl -e`
/// installs the chains afresh.
#[derive(Debug, Default)]
pub struct OutCodes {
    inner: Mutex<Codes>,
}

#[derive(Debug, Default)]
struct Codes {
    /// Index + 1 is the code.
    names: Vec<(String, CodeState)>,
    /// Bumped when the chains are installed again.
    generation: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeState {
    Pending,
    Ready,
    Failed,
}

impl OutCodes {
    /// The code of `ifname` when the chain lets its packets pass; asks for
    /// the rule the first time.
    pub fn code(shared: &Arc<Shared>, ifname: &str) -> Option<u8> {
        let mut c = shared
            .out_codes
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(i) = c.names.iter().position(|(n, _)| n == ifname) {
            return (c.names[i].1 == CodeState::Ready).then_some((i + 1) as u8);
        }
        if c.names.len() >= (DEFER_CODE - 1) as usize || ifname.is_empty() {
            return None;
        }
        c.names.push((ifname.to_string(), CodeState::Pending));
        let code = c.names.len() as u8;
        let generation = c.generation;
        drop(c);
        let s = Arc::clone(shared);
        let name = ifname.to_string();
        let spawned = std::thread::Builder::new()
            .name("onepass-hook".into())
            .spawn(move || {
                // Only into the chains the code was given for: a `pfctl
                // -e` since then made new ones, and new codes.
                let r = crate::sys::hooks::with_lock(|| {
                    let current = s
                        .out_codes
                        .inner
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .generation;
                    if current == generation {
                        crate::sys::hooks::allow_filtered(&name, code).map(Some)
                    } else {
                        Ok(None)
                    }
                });
                let r = match r {
                    Ok(None) => return,
                    Ok(Some(())) => Ok(()),
                    Err(e) => Err(e),
                };
                if let Err(e) = &r {
                    log::err(&format!(
                        "{name}: packets filtered ahead of time cannot skip POSTROUTING: {e}"
                    ));
                }
                let mut c = s.out_codes.inner.lock().unwrap_or_else(|e| e.into_inner());
                if c.generation == generation {
                    if let Some(slot) = c.names.get_mut(code as usize - 1) {
                        slot.1 = if r.is_ok() {
                            CodeState::Ready
                        } else {
                            CodeState::Failed
                        };
                    }
                }
            });
        if spawned.is_err() {
            let mut c = shared
                .out_codes
                .inner
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = c.names.get_mut(code as usize - 1) {
                slot.1 = CodeState::Failed;
            }
        }
        None
    }

    /// The chains were installed again (or removed): no interface has its
    /// rule.
    pub fn reset(&self) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        c.names.clear();
        c.generation += 1;
    }
}

//! Keeps the engine's interface table and routes current: a dump of the
//! links, addresses and routes at start, then the kernel's notifications.
//! A route notification is applied as it comes; a link or address change
//! (or lost notifications) re-reads the interfaces and the whole routing
//! table, because the kernel drops the routes of a link going down without
//! a word. The interfaces are also re-read once a second, as a safety net.
//!
//! carp interfaces are listed with their configured addresses (Linux only
//! carries them while MASTER) and their carpdev.

use super::Shared;
use crate::engine::fib::Fib;
use crate::engine::iface::LinkInfo;
use crate::log;
use crate::sys::netlink::{NetEvent, NetMonitor, Netlink};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the interfaces are re-read without a notification.
const LINK_REFRESH: Duration = Duration::from_secs(1);

/// Every interface with its addresses, carp interfaces as pfd configured
/// them.
fn links(nl: &mut Netlink, shared: &Shared) -> io::Result<Vec<LinkInfo>> {
    let links = nl.links()?;
    let addrs = nl.addrs(None)?;
    let mut out: Vec<LinkInfo> = links
        .iter()
        .map(|l| LinkInfo {
            index: l.index,
            name: l.name.clone(),
            addrs: addrs
                .iter()
                .filter(|a| a.index == l.index)
                .map(|a| a.net)
                .collect(),
            carpdev: None,
            own_groups: None,
        })
        .collect();
    // Lock order: carp before engine (the carp thread filters through the
    // engine while holding its own lock); nothing here holds the engine.
    type Carp = (String, Vec<crate::addr::IpNet>, Option<String>, Vec<String>);
    let carp: Vec<Carp> = {
        let c = shared.carp();
        c.configured_addrs()
            .into_iter()
            .map(|(name, nets)| {
                let cfg = c.status(&name).map(|s| s.config);
                let dev = cfg.as_ref().and_then(|c| c.carpdev.clone());
                let groups = cfg.map(|c| c.groups).unwrap_or_default();
                (name, nets, dev, groups)
            })
            .collect()
    };
    for (name, nets, dev, groups) in carp {
        match out.iter_mut().find(|l| l.name == name) {
            Some(l) => {
                l.addrs = nets;
                l.carpdev = dev;
                l.own_groups = Some(groups);
            }
            None => out.push(LinkInfo {
                index: 0,
                name,
                addrs: nets,
                carpdev: dev,
                own_groups: Some(groups),
            }),
        }
    }
    Ok(out)
}

/// Re-read the interfaces into the engine now (after pfd changed a carp
/// interface, or before a group change names an interface the engine has
/// not seen yet).
pub fn sync_links(shared: &Shared) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    let l = links(&mut nl, shared)?;
    let now = shared.now_ms();
    shared.engine().sync_links(l, now);
    Ok(())
}

fn sync_all(nl: &mut Netlink, shared: &Shared) -> io::Result<()> {
    let l = links(nl, shared)?;
    let fib = Fib::from_routes(nl.routes()?);
    let now = shared.now_ms();
    let mut e = shared.engine();
    e.sync_links(l, now);
    e.set_fib(fib, now);
    Ok(())
}

/// The watch thread.
pub fn run(shared: Arc<Shared>) {
    let mut mon = match NetMonitor::open() {
        Ok(m) => Some(m),
        Err(e) => {
            log::err(&format!(
                "{e}: interfaces and routes re-read every second instead"
            ));
            None
        }
    };
    let mut nl = match Netlink::open() {
        Ok(n) => n,
        Err(e) => {
            log::err(&format!("{e}: no interface table, no routes"));
            return;
        }
    };
    if let Err(e) = sync_all(&mut nl, &shared) {
        log::err(&format!("reading interfaces and routes: {e}"));
    }
    let mut last = Instant::now();
    let mut lost_logged = 0;
    while !shared.shutdown.load(Ordering::Relaxed) {
        let events = match mon.as_mut() {
            Some(m) => {
                m.wait(250);
                m.drain().unwrap_or_else(|e| {
                    log::err(&format!("{e}"));
                    vec![NetEvent::Lost]
                })
            }
            None => {
                std::thread::sleep(LINK_REFRESH);
                vec![NetEvent::Lost]
            }
        };
        if !events.is_empty() {
            shared.net_gen.fetch_add(1, Ordering::Relaxed);
            shared.fastpath.routes_changed();
        }
        let resync = events
            .iter()
            .any(|e| matches!(e, NetEvent::Links | NetEvent::Lost));
        if let Some(m) = &mon {
            if m.overflows() > lost_logged {
                lost_logged = m.overflows();
                log::warning("route notifications lost: routes re-read");
            }
        }
        if resync {
            if let Err(e) = sync_all(&mut nl, &shared) {
                log::err(&format!("reading interfaces and routes: {e}"));
            }
            last = Instant::now();
            continue;
        }
        if !events.is_empty() {
            let now = shared.now_ms();
            let mut e = shared.engine();
            for ev in events {
                if let NetEvent::Route(ch) = ev {
                    e.route_change(ch, now);
                }
            }
        }
        if last.elapsed() >= LINK_REFRESH {
            last = Instant::now();
            match links(&mut nl, &shared) {
                Ok(l) => {
                    let now = shared.now_ms();
                    shared.engine().sync_links(l, now);
                }
                Err(e) => log::err(&format!("reading interfaces: {e}")),
            }
        }
    }
}

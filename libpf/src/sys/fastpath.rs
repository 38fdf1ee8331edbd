//! The fast path's kernel side: loads pfd's eBPF program (bpf/fastpath.c,
//! built by libpf/build.rs with clang and included here), attaches it to
//! the interfaces (TC ingress and egress: TCX on Linux 6.6 and later,
//! cls_bpf on a clsact qdisc before), and reads and writes its maps with
//! the entries pfcore::fastpath encodes. The programs stay attached while
//! this value lives: when pfd exits they go, and every packet goes back to
//! pfd's queue (fail-closed as before).

use crate::fastpath::{FLOW_LEN, KEY_LEN, RW_LEN, ST_MAX, WINDOW_LEN};
use aya::maps::{Array, HashMap, MapData, PerCpuArray};
use aya::programs::{tc, SchedClassifier, TcAttachType};
use aya::Ebpf;
use std::collections::HashMap as StdMap;
use std::io;

/// Aligned as the ELF parser needs (include_bytes! promises no alignment).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/fastpath.o"));

fn err(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("fast path: {what}: {e}"))
}

/// The loaded programs and their maps.
pub struct Kernel {
    bpf: Ebpf,
    keys: HashMap<MapData, [u8; KEY_LEN], [u8; RW_LEN]>,
    flows: HashMap<MapData, u32, [u8; FLOW_LEN]>,
    hints: HashMap<MapData, u32, [u8; WINDOW_LEN]>,
    stats: PerCpuArray<MapData, u64>,
    conf: Array<MapData, u32>,
    held: HashMap<MapData, u32, u32>,
    /// Interfaces the programs are attached to: index -> name.
    attached: StdMap<u32, String>,
}

const PROGRAMS: [(&str, TcAttachType); 2] = [
    ("fp_ingress", TcAttachType::Ingress),
    ("fp_egress", TcAttachType::Egress),
];

impl Kernel {
    /// Load the programs and create their maps (attached nowhere yet).
    pub fn load() -> io::Result<Kernel> {
        let mut bpf = Ebpf::load(OBJECT).map_err(|e| err("load", e))?;
        for (name, _) in PROGRAMS {
            let p: &mut SchedClassifier = bpf
                .program_mut(name)
                .ok_or_else(|| err(name, "not in the object"))?
                .try_into()
                .map_err(|e| err(name, e))?;
            p.load().map_err(|e| err(name, e))?;
        }
        let mut map = |name: &str| bpf.take_map(name).ok_or_else(|| err(name, "no such map"));
        let keys = HashMap::try_from(map("fp_keys")?).map_err(|e| err("fp_keys", e))?;
        let flows = HashMap::try_from(map("fp_flows")?).map_err(|e| err("fp_flows", e))?;
        let hints = HashMap::try_from(map("fp_hints")?).map_err(|e| err("fp_hints", e))?;
        let stats = PerCpuArray::try_from(map("fp_stats")?).map_err(|e| err("fp_stats", e))?;
        let conf = Array::try_from(map("fp_conf")?).map_err(|e| err("fp_conf", e))?;
        let held = HashMap::try_from(map("fp_held")?).map_err(|e| err("fp_held", e))?;
        // Loading parsed the kernel's BTF (several MB of allocations, all
        // freed by now): +16 MB RSS for pfd's lifetime unless given back.
        super::heap::release_free();
        Ok(Kernel {
            bpf,
            keys,
            flows,
            hints,
            stats,
            conf,
            held,
            attached: StdMap::new(),
        })
    }

    /// Attach both programs to interface `name` (index `index`).
    fn attach(&mut self, index: u32, name: &str) -> io::Result<()> {
        // Before TCX (Linux 6.6) the programs hang off a clsact qdisc.
        let _ = tc::qdisc_add_clsact(name);
        for (prog, at) in PROGRAMS {
            let p: &mut SchedClassifier = self
                .bpf
                .program_mut(prog)
                .ok_or_else(|| err(prog, "not in the object"))?
                .try_into()
                .map_err(|e| err(prog, e))?;
            p.attach(name, at)
                .map_err(|e| err(&format!("{prog} on {name}"), e))?;
        }
        self.attached.insert(index, name.to_string());
        Ok(())
    }

    /// Attach to every Ethernet-like interface not seen yet (`ifaces`:
    /// index and name of each with its ARP hardware type), forget those
    /// gone. Errors are returned per interface.
    pub fn follow(&mut self, ifaces: &[(u32, String, u16)]) -> Vec<io::Error> {
        self.attached
            .retain(|i, n| ifaces.iter().any(|(j, m, _)| j == i && m == n));
        let mut errs = Vec::new();
        for (index, name, hw) in ifaces {
            // ARPHRD_ETHER: the programs read an Ethernet header.
            if *hw != 1 || self.attached.contains_key(index) {
                continue;
            }
            if let Err(e) = self.attach(*index, name) {
                errs.push(e);
                // Not again every time.
                self.attached.insert(*index, name.clone());
            }
        }
        errs
    }

    pub fn put_key(&mut self, k: &[u8; KEY_LEN], v: &[u8; RW_LEN]) -> io::Result<()> {
        self.keys.insert(k, v, 0).map_err(|e| err("fp_keys", e))
    }

    pub fn del_key(&mut self, k: &[u8; KEY_LEN]) {
        let _ = self.keys.remove(k);
    }

    /// A new flow: window and counters at zero (fp_flows).
    pub fn new_flow(&mut self, id: u32) -> io::Result<()> {
        self.flows
            .insert(id, [0u8; FLOW_LEN], 0)
            .map_err(|e| err("fp_flows", e))
    }

    /// Flow `id`'s window, its counters at zero: only while no ingress
    /// entry leads to it (the program has counted nothing then, and
    /// writes the entry itself after).
    pub fn put_window(&mut self, id: u32, w: &[u8; WINDOW_LEN]) -> io::Result<()> {
        let mut v = [0u8; FLOW_LEN];
        v[..WINDOW_LEN].copy_from_slice(w);
        self.flows.insert(id, v, 0).map_err(|e| err("fp_flows", e))
    }

    /// pfd's window data for a flow the program already moves on by
    /// itself (fp_hints: taken in where further on, at the first packet
    /// outside its own).
    pub fn put_hint(&mut self, id: u32, w: &[u8; WINDOW_LEN]) -> io::Result<()> {
        self.hints.insert(id, w, 0).map_err(|e| err("fp_hints", e))
    }

    pub fn del_hint(&mut self, id: u32) {
        let _ = self.hints.remove(&id);
    }

    /// Flow `id`'s window and counters (fastpath::split_flow).
    pub fn flow(&self, id: u32) -> Option<[u8; FLOW_LEN]> {
        self.flows.get(&id, 0).ok()
    }

    pub fn del_flow(&mut self, id: u32) {
        let _ = self.flows.remove(&id);
        let _ = self.hints.remove(&id);
    }

    /// What the program may do (fp_conf: fastpath::CONF_*).
    pub fn set_conf(&mut self, bits: u32) -> io::Result<()> {
        self.conf.set(0, bits, 0).map_err(|e| err("fp_conf", e))
    }

    /// The route generation (fp_conf[fastpath::CONF_GEN], never 0): the
    /// program's cached route lookups made under another one are done
    /// again.
    pub fn set_route_gen(&mut self, gen: u32) -> io::Result<()> {
        self.conf
            .set(crate::fastpath::CONF_GEN, gen, 0)
            .map_err(|e| err("fp_conf", e))
    }

    /// Have the program leave the packets that come in by interface
    /// `index` alone, or not (fp_held).
    pub fn set_held(&mut self, index: u32, held: bool) -> io::Result<()> {
        if held {
            self.held.insert(index, 1, 0).map_err(|e| err("fp_held", e))
        } else {
            // Not there: nothing to do.
            let _ = self.held.remove(&index);
            Ok(())
        }
    }

    /// The program's statistics (fastpath::ST_*), summed over the CPUs.
    pub fn stats(&self) -> [u64; ST_MAX as usize] {
        let mut out = [0u64; ST_MAX as usize];
        for (i, o) in out.iter_mut().enumerate() {
            if let Ok(v) = self.stats.get(&(i as u32), 0) {
                *o = v.iter().sum();
            }
        }
        out
    }
}

/// The interfaces of this namespace: index, name, ARP hardware type
/// (from /sys/class/net).
pub fn interfaces() -> Vec<(u32, String, u16)> {
    let Ok(rd) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let num = |p: std::path::PathBuf| -> Option<u32> {
        std::fs::read_to_string(p).ok()?.trim().parse().ok()
    };
    rd.flatten()
        .filter_map(|d| {
            let name = d.file_name().into_string().ok()?;
            let index = num(d.path().join("ifindex"))?;
            let hw = num(d.path().join("type"))? as u16;
            Some((index, name, hw))
        })
        .collect()
}

/// Does the kernel's route lookup for eBPF take the packet mark
/// (BPF_FIB_LOOKUP_MARK, Linux 6.10)? Without it the program does not
/// forward packets itself.
pub fn fib_lookup_takes_mark() -> bool {
    let Ok(rel) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut v = rel
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    (major, minor) >= (6, 10)
}

/// The monotonic clock the program stamps packets with
/// (bpf_ktime_get_ns), in ns.
pub fn monotonic_ns() -> u64 {
    // CLOCK_MONOTONIC cannot fail; 0 is what the zeroed timespec gave.
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |ts| {
        ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
    })
}

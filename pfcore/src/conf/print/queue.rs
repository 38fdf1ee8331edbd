//! A queue as `pfctl -nv` prints it (pfctl_parser.c `print_queuespec`).

use crate::ruleset::{QueueBw, QueueSc, QueueSpec};
use std::fmt::Write;

fn print_bw(s: &mut String, prefix: &str, bw: &QueueBw) {
    if bw.percent != 0 {
        let _ = write!(s, "{prefix}{}%", bw.percent);
    } else if bw.absolute != 0 {
        // pfctl's unit table is " KMG" with its terminating NUL.
        const UNIT: [char; 5] = [' ', 'K', 'M', 'G', '\0'];
        let mut rate = bw.absolute;
        let mut i = 0;
        while rate >= 1000 && i <= 3 && rate.is_multiple_of(1000) {
            rate /= 1000;
            i += 1;
        }
        let _ = write!(s, "{prefix}{rate}{}", UNIT[i]);
    }
}

fn print_sc(s: &mut String, prefix: &str, sc: &QueueSc) {
    print_bw(s, prefix, &sc.m2);
    if sc.d != 0 {
        s.push_str(" burst ");
        print_bw(s, "", &sc.m1);
        let _ = write!(s, " for {}ms", sc.d);
    }
}

/// One queue as `pfctl -nv` prints it (pfctl_parser.c `print_queuespec`),
/// without the newline.
pub fn print_queuespec(q: &QueueSpec) -> String {
    let mut s = format!("queue {}", q.name);
    if !q.parent.is_empty() {
        let _ = write!(s, " parent {}", q.parent);
    } else if !q.ifname.is_empty() {
        let _ = write!(s, " on {}", q.ifname);
    }
    if q.flowqueue {
        let _ = write!(s, " flows {}", q.flows);
        if q.quantum > 0 {
            let _ = write!(s, " quantum {}", q.quantum);
        }
        if q.interval > 0 {
            let _ = write!(s, " interval {}ms", q.interval / 1_000_000);
        }
        if q.target > 0 {
            let _ = write!(s, " target {}ms", q.target / 1_000_000);
        }
    }
    if q.linkshare.m1.absolute != 0 || q.linkshare.m2.absolute != 0 {
        print_sc(&mut s, " bandwidth ", &q.linkshare);
        print_sc(&mut s, ", min ", &q.realtime);
        print_sc(&mut s, ", max ", &q.upperlimit);
    }
    if q.default {
        s.push_str(" default");
    }
    if q.qlimit != 0 {
        let _ = write!(s, " qlimit {}", q.qlimit);
    }
    s
}

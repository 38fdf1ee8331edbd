#!/usr/bin/env python3
"""Inputs for regress/bench/parse: the same ruleset written for pf.conf and
for nftables, and a big address table for both.

    gen.py rules N DIR        DIR/rules.pf.conf (N rules, one per line)
                              DIR/rules.nft     (the same N rules in one chain)
    gen.py table N DIR        DIR/table.txt     (N IPv4 addresses and networks,
                                                 no two overlapping, shuffled)
                              DIR/table.pf.conf (table <big> persist file ...)
                              DIR/table.nft     (a set of N elements, flags interval)
    gen.py check-table FILE N  FILE is a well-formed pf table file of N
                              distinct, non-overlapping entries (exit 1 if not)

The output is the same for the same N (fixed random seed).
"""

import ipaddress
import os
import random
import sys

IFACES = ["em0", "em1", "em2", "vlan10", "vlan20", "vlan30", "wg0"]
TCP_PORTS = [22, 25, 53, 80, 110, 143, 443, 465, 587, 993, 995, 3306, 5432, 8080, 8443]
UDP_PORTS = [53, 67, 68, 123, 161, 500, 514, 1194, 4500, 51820]


def v4_host(r):
    return "10.%d.%d.%d" % (r.randrange(256), r.randrange(256), r.randrange(1, 255))


def v4_net(r):
    plen = r.choice([8, 12, 16, 20, 22, 24, 24, 24, 26, 28, 30])
    a = ipaddress.IPv4Address((172 << 24) | (r.randrange(1 << 24)))
    return str(ipaddress.IPv4Network("%s/%d" % (a, plen), strict=False))


def v6_host(r):
    return "2001:db8:%x:%x::%x" % (r.randrange(1 << 16), r.randrange(1 << 16), r.randrange(1, 1 << 16))


def v6_net(r):
    return "2001:db8:%x::/48" % r.randrange(1 << 16)


def port_match(r, proto):
    """(pf, nft) text of a destination port match."""
    ports = TCP_PORTS if proto == "tcp" else UDP_PORTS
    k = r.random()
    if k < 0.70:
        p = r.choice(ports)
        return "port %d" % p, "%s dport %d" % (proto, p)
    if k < 0.85:
        lo = r.randrange(1024, 60000)
        hi = lo + r.randrange(1, 2000)
        return "port %d:%d" % (lo, hi), "%s dport %d-%d" % (proto, lo, hi)
    if k < 0.92:
        p = r.choice(ports)
        return "port != %d" % p, "%s dport != %d" % (proto, p)
    if k < 0.97:
        return "port > 1023", "%s dport > 1023" % proto
    lo = r.randrange(1024, 60000)
    hi = lo + r.randrange(2, 2000)
    # pf's >< excludes both ends
    return "port %d >< %d" % (lo, hi), "%s dport %d-%d" % (proto, lo + 1, hi - 1)


def rule(r, i):
    """One rule as (pf.conf line, nft rule)."""
    pf, nft = [], []
    action = r.random()
    if action < 0.60:
        pf.append("pass")
        verdict = "accept"
    elif action < 0.85:
        pf.append("block drop")
        verdict = "drop"
    else:
        pf.append("block return")
        verdict = "reject"
    direction = "in" if r.random() < 0.7 else "out"
    pf.append(direction)
    log = r.random() < 0.1
    if log:
        pf.append("log")
    if r.random() < 0.5:
        pf.append("quick")
    ifname = r.choice(IFACES)
    pf.append("on " + ifname)
    nft.append('%s "%s"' % ("iifname" if direction == "in" else "oifname", ifname))

    six = r.random() < 0.15
    pf.append("inet6" if six else "inet")
    nft.append("meta nfproto %s" % ("ipv6" if six else "ipv4"))
    proto = "tcp" if r.random() < 0.7 else "udp"
    pf.append("proto " + proto)
    fam = "ip6" if six else "ip"

    # from
    k = r.random()
    if k < 0.3:
        pf.append("from any")
    else:
        a = (v6_host(r) if k < 0.6 else v6_net(r)) if six else (v4_host(r) if k < 0.6 else v4_net(r))
        neg = r.random() < 0.05
        pf.append("from %s%s" % ("! " if neg else "", a))
        nft.append("%s saddr %s%s" % (fam, "!= " if neg else "", a))
    if r.random() < 0.05:
        pf.append("port > 1023")
        nft.append("%s sport > 1023" % proto)
    # to
    k = r.random()
    if k < 0.15:
        pf.append("to any")
    else:
        a = (v6_host(r) if k < 0.7 else v6_net(r)) if six else (v4_host(r) if k < 0.7 else v4_net(r))
        pf.append("to " + a)
        nft.append("%s daddr %s" % (fam, a))
    if r.random() < 0.9:
        p, n = port_match(r, proto)
        pf.append(p)
        nft.append(n)
    else:
        nft.append("meta l4proto %s" % proto)

    if verdict == "accept" and r.random() < 0.5:
        pf.append("keep state")  # pf's default for pass; nft's conntrack always runs
    label = None
    if r.random() < 0.4:
        label = "r%d-%s" % (i, r.choice(["web", "mail", "dns", "admin", "vpn", "db"]))
        pf.append('label "%s"' % label)
    if log:
        nft.append("log")
    if verdict == "reject":
        # pf's block return: RST for tcp, ICMP unreachable otherwise
        nft.append("reject with tcp reset" if proto == "tcp" else "reject")
    else:
        nft.append(verdict)
    if label:
        nft.append('comment "%s"' % label)
    return " ".join(pf), " ".join(nft)


def gen_rules(n, d):
    r = random.Random(20260101)
    with open(os.path.join(d, "rules.pf.conf"), "w") as pf, open(os.path.join(d, "rules.nft"), "w") as nft:
        pf.write("# %d generated rules (regress/bench/gen.py)\n" % n)
        nft.write("# %d generated rules (regress/bench/gen.py)\n" % n)
        nft.write("table inet bench {\n\tchain filter {\n\t\ttype filter hook forward priority 0; policy accept;\n")
        for i in range(n):
            p, t = rule(r, i)
            pf.write(p + "\n")
            nft.write("\t\t" + t + "\n")
        nft.write("\t}\n}\n")


def table_entries(n):
    """n non-overlapping IPv4 entries: entry i lives in its own /26 slot of
    16.0.0.0 upwards (a host in it, or a /26../30 at its start), 80 % hosts."""
    if n > (1 << 26):
        sys.exit("gen.py: at most %d table entries" % (1 << 26))
    r = random.Random(20260102)
    out = []
    base = 16 << 24
    for i in range(n):
        slot = base + (i << 6)
        if r.random() < 0.8:
            out.append(str(ipaddress.IPv4Address(slot + r.randrange(64))))
        else:
            plen = r.choice([26, 27, 28, 29, 30])
            out.append("%s/%d" % (ipaddress.IPv4Address(slot), plen))
    r.shuffle(out)
    return out


def gen_table(n, d):
    entries = table_entries(n)
    path = os.path.abspath(os.path.join(d, "table.txt"))
    with open(path, "w") as f:
        f.write("# %d generated addresses and networks (regress/bench/gen.py)\n" % n)
        for e in entries:
            f.write(e + "\n")
    with open(os.path.join(d, "table.pf.conf"), "w") as f:
        f.write('table <big> persist file "%s"\n' % path)
        f.write("block in quick from <big>\n")
    with open(os.path.join(d, "table.nft"), "w") as f:
        f.write("table inet bench {\n\tset big {\n\t\ttype ipv4_addr; flags interval;\n\t\telements = {\n")
        for k in range(0, n, 8):
            f.write("\t\t\t" + ", ".join(entries[k:k + 8]) + ("\n" if k + 8 >= n else ",\n"))
        f.write("\t\t}\n\t}\n")
        f.write("\tchain filter {\n\t\ttype filter hook forward priority 0; policy accept;\n")
        f.write("\t\tip saddr @big drop\n\t}\n}\n")


def check_table(path, n):
    nets = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                nets.append(ipaddress.ip_network(line, strict=True))
            except ValueError as e:
                sys.exit("%s:%d: %s" % (path, lineno, e))
    if len(nets) != n:
        sys.exit("%s: %d entries, want %d" % (path, len(nets), n))
    nets.sort(key=lambda x: (x.version, int(x.network_address)))
    for a, b in zip(nets, nets[1:]):
        if a.version == b.version and int(a.broadcast_address) >= int(b.network_address):
            sys.exit("%s: %s overlaps %s" % (path, a, b))
    print("%s: %d entries, well-formed, no overlaps" % (path, n))


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("rules", "table", "check-table"):
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd == "check-table":
        check_table(sys.argv[2], int(sys.argv[3]))
        return
    n, d = int(sys.argv[2]), sys.argv[3]
    os.makedirs(d, exist_ok=True)
    (gen_rules if cmd == "rules" else gen_table)(n, d)


if __name__ == "__main__":
    main()

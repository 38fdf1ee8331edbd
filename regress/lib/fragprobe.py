#!/usr/bin/env python3
"""Fragments and odd IP headers for regress/netns/frag.sh, built by hand and
sent through a raw socket (IP_HDRINCL) from inside a test namespace.

  fragprobe.py udp DST DPORT SIZE [opts]
      one UDP datagram of SIZE payload bytes from the address the route to
      DST uses, cut in fragments of --frag bytes (default 1000, a multiple
      of 8) unless --frag 0, sent in --order: normal, reverse, nofirst
      (every fragment but the first), firstlast (the first sent last).
      --df sets DF on every fragment, --id N the IPv4 id, --ttl N, --tos N,
      --opt adds an IP option (record route, 8 bytes), --sport N.
  fragprobe.py udp6 DST DPORT SIZE [--frag N] [--order ...]
      the same over IPv6 (fragment header, id 0x4242).
  fragprobe.py server OUT PORT...
      UDP (IPv4 and IPv6) on each PORT: one line "PORT LEN" appended to OUT
      per datagram received. Runs until killed.
  fragprobe.py tcp-oow DST DPORT MARK
      open a TCP connection to DST:DPORT, then send one segment of the same
      connection far outside its window, carrying MARK as data; exits 0
      when the segment was sent.
  fragprobe.py tcp-server PORT
      accept TCP connections on PORT and read them until they close.
"""
import os
import select
import socket
import struct
import sys
import time

from checksum import csum


def src_for(dst, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.connect((dst, 9))
    return s.getsockname()[0]


def opts(argv, defaults):
    o = dict(defaults)
    i = 0
    rest = []
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            k = a[2:]
            if isinstance(o.get(k), bool):
                o[k] = True
                i += 1
                continue
            v = argv[i + 1]
            o[k] = v if k == "order" else int(v, 0)
            i += 2
        else:
            rest.append(a)
            i += 1
    return o, rest


def order(frags, how):
    if how == "reverse":
        return list(reversed(frags))
    if how == "nofirst":
        return frags[1:]
    if how == "firstlast":
        return frags[1:] + frags[:1]
    return frags


def udp4(dst, dport, size, o):
    src = src_for(dst)
    data = bytes((i * 7 + 3) & 0xFF for i in range(size))
    sport = o["sport"]
    ulen = 8 + len(data)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, ulen)
    u = struct.pack("!HHHH", sport, dport, ulen, 0) + data
    c = csum(pseudo + u) or 0xFFFF
    u = u[:6] + struct.pack("!H", c) + u[8:]
    opt = bytes([7, 7, 4, 0, 0, 0, 0, 0]) if o["opt"] else b""  # record route, one slot, NOP pad
    hl = 20 + len(opt)
    step = o["frag"] or len(u)
    frags = []
    for off in range(0, len(u), step):
        part = u[off:off + step]
        mf = 0x2000 if off + step < len(u) else 0
        df = 0x4000 if o["df"] else 0
        fo = df | mf | (off // 8)
        h = struct.pack("!BBHHHBBH4s4s", 0x40 | (hl // 4), o["tos"], hl + len(part), o["id"], fo,
                        o["ttl"], 17, 0, socket.inet_aton(src), socket.inet_aton(dst)) + opt
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
        frags.append(h + part)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    for f in order(frags, o["order"]):
        s.sendto(f, (dst, 0))
        time.sleep(0.02)


def udp6(dst, dport, size, o):
    src = src_for(dst, socket.AF_INET6)
    data = bytes((i * 7 + 3) & 0xFF for i in range(size))
    sport = o["sport"]
    ulen = 8 + len(data)
    s6, d6 = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    pseudo = s6 + d6 + struct.pack("!I3xB", ulen, 17)
    u = struct.pack("!HHHH", sport, dport, ulen, 0) + data
    c = csum(pseudo + u) or 0xFFFF
    u = u[:6] + struct.pack("!H", c) + u[8:]
    step = o["frag"] or len(u)
    frags = []
    for off in range(0, len(u), step):
        part = u[off:off + step]
        m = 1 if off + step < len(u) else 0
        fh = struct.pack("!BBHI", 17, 0, off | m, 0x4242)
        h = struct.pack("!IHBB16s16s", 6 << 28, 8 + len(part), 44, 64, s6, d6)
        frags.append(h + fh + part)
    # A raw IPv6 socket takes the whole packet with IPPROTO_RAW.
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for f in order(frags, o["order"]):
        s.sendto(f, (dst, 0))
        time.sleep(0.02)


def server(out, ports):
    socks = []
    for p in ports:
        for fam, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(fam, socket.SOCK_DGRAM)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((host, p))
            socks.append((s, p))
    by_fd = {s.fileno(): (s, p) for s, p in socks}
    while True:
        r, _, _ = select.select([s for s, _ in socks], [], [])
        for s in r:
            data = s.recv(70000)
            with open(out, "a") as f:
                f.write("%d %d\n" % (by_fd[s.fileno()][1], len(data)))


def tcp_server(port):
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", port))
    l.listen(16)
    conns = [l]
    while True:
        r, _, _ = select.select(conns, [], [])
        for s in r:
            if s is l:
                c, _ = l.accept()
                conns.append(c)
            else:
                try:
                    d = s.recv(4096)
                except OSError:
                    d = b""
                if not d:
                    conns.remove(s)
                    s.close()


def tcp_oow(dst, dport, mark):
    c = socket.create_connection((dst, dport), timeout=5)
    c.sendall(b"hello")
    time.sleep(0.2)
    src, sport = c.getsockname()
    # A segment of this connection with a sequence number a quarter of the
    # sequence space away: no window holds it.
    seq = int.from_bytes(os.urandom(4), "big")
    payload = mark.encode()
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x18, 65535, 0, 0) + payload
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(t))
    t = t[:16] + struct.pack("!H", csum(pseudo + t)) + t[18:]
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(t), 0x5151, 0, 64, 6, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    s.sendto(h + t, (dst, 0))
    time.sleep(0.5)
    c.close()


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = a[0]
    if cmd in ("udp", "udp6"):
        o, rest = opts(a[1:], {"frag": 1000, "order": "normal", "df": False, "id": 0x4242,
                               "ttl": 64, "tos": 0, "opt": False, "sport": 40000})
        dst, dport, size = rest[0], int(rest[1]), int(rest[2])
        (udp4 if cmd == "udp" else udp6)(dst, dport, size, o)
        return 0
    if cmd == "server":
        server(a[1], [int(p) for p in a[2:]])
    if cmd == "tcp-server":
        tcp_server(int(a[1]))
    if cmd == "tcp-oow":
        tcp_oow(a[1], int(a[2]), a[3])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

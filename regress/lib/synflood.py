#!/usr/bin/env python3
"""TCP handshakes by hand for the synproxy suite, with raw sockets (no
scapy needed). Run inside a test namespace.

  synflood.py flood DST PORT COUNT RATE
      COUNT SYNs to DST:PORT from random sources in 198.18.0.0/15 (ports
      random too), RATE a second, out of $FORGE_DEV (default eth0)
  synflood.py handshake SRC DST PORT SPORT ack|syn
      a SYN from SRC:SPORT (an address the firewall routes to us but we do
      not own, so our kernel keeps quiet), the SYN|ACK captured on
      $FORGE_DEV; with `ack`, the ACK that completes it. Prints
      synack=1 seq=N ack=N win=N mss=N (or synack=0)
  synflood.py count IFACE PORT SECONDS
      count the SYNs to PORT seen on IFACE for SECONDS (AF_PACKET), split
      by source: flood=N (198.18.0.0/15) other=N
  synflood.py resets IFACE DST SECONDS
      count the TCP resets to DST seen on IFACE for SECONDS: rst=N seq=...
  synflood.py echo PORT
      an echo server on PORT, IPv4 and IPv6, every connection, forever
  synflood.py client HOST PORT LINES
      connect, send LINES numbered lines, read every echo back; prints
      ok=1|0 sent=N echoed=N error=...
"""
import os
import random
import socket
import struct
import sys
import threading
import time

from checksum import csum
from tcpecho import echo_forever

DEV = os.environ.get("FORGE_DEV", "eth0")
ETH_P_ALL = 0x0003
FLOOD_NET = (0xC6120000, 0xFFFE0000)  # 198.18.0.0/15


def tcp4(src, dst, sport, dport, seq, ack, flags, win, mss=0):
    opts = struct.pack("!BBH", 2, 4, mss) if mss else b""
    off = (20 + len(opts)) // 4
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, win, 0, 0) + opts
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(t))
    t = t[:16] + struct.pack("!H", csum(ph + t)) + t[18:]
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(t), random.randrange(1, 65535), 0x4000,
                    64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + t


def raw_sender():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, DEV.encode())
    return s


def flood(dst, port, count, rate):
    s = raw_sender()
    t0 = time.monotonic()
    for i in range(count):
        a = FLOOD_NET[0] | random.getrandbits(17)
        src = socket.inet_ntoa(struct.pack("!I", a))
        p = tcp4(src, dst, random.randrange(1024, 65535), port, random.getrandbits(32), 0,
                 0x02, 64240, 1460)
        try:
            s.sendto(p, (dst, 0))
        except OSError:
            pass
        ahead = (i + 1) / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    print("sent=%d seconds=%.1f" % (count, time.monotonic() - t0))


def packets(sock, until):
    """IPv4 packets seen on an AF_PACKET socket until the deadline."""
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return
        sock.settimeout(left)
        try:
            f = sock.recv(65535)
        except socket.timeout:
            return
        if len(f) < 34 or f[12:14] != b"\x08\x00":
            continue
        yield f[14:]


def tcp_fields(ip):
    hl = (ip[0] & 15) * 4
    if ip[9] != 6 or len(ip) < hl + 20:
        return None
    t = ip[hl:]
    sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", t[:16])
    mss = 0
    opts = t[20:(off >> 4) * 4]
    i = 0
    while i < len(opts):
        if opts[i] == 0:
            break
        if opts[i] == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        if opts[i] == 2 and opts[i + 1] == 4:
            mss = struct.unpack("!H", opts[i + 2:i + 4])[0]
        i += opts[i + 1]
    return dict(src=socket.inet_ntoa(ip[12:16]), dst=socket.inet_ntoa(ip[16:20]), sport=sport,
                dport=dport, seq=seq, ack=ack, flags=flags, win=win, mss=mss)


def handshake(src, dst, port, sport, step):
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    cap.bind((DEV, 0))
    s = raw_sender()
    isn = random.getrandbits(32)
    s.sendto(tcp4(src, dst, sport, port, isn, 0, 0x02, 64240, 1460), (dst, 0))
    for ip in packets(cap, time.monotonic() + 3):
        t = tcp_fields(ip)
        if (t and t["src"] == dst and t["dst"] == src and t["sport"] == port
                and t["dport"] == sport and t["flags"] & 0x12 == 0x12):
            if step == "ack":
                s.sendto(tcp4(src, dst, sport, port, (isn + 1) & 0xFFFFFFFF,
                              (t["seq"] + 1) & 0xFFFFFFFF, 0x10, 502), (dst, 0))
            print("synack=1 seq=%d ack=%d ackok=%d win=%d mss=%d" %
                  (t["seq"], t["ack"], int(t["ack"] == (isn + 1) & 0xFFFFFFFF), t["win"],
                   t["mss"]))
            return
    print("synack=0")


def count(iface, port, seconds):
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    cap.bind((iface, 0))
    n = {"flood": 0, "other": 0}
    print("ready", file=sys.stderr, flush=True)
    for ip in packets(cap, time.monotonic() + seconds):
        t = tcp_fields(ip)
        if not t or t["dport"] != port or t["flags"] & 0x12 != 0x02:
            continue
        a = struct.unpack("!I", socket.inet_aton(t["src"]))[0]
        n["flood" if a & FLOOD_NET[1] == FLOOD_NET[0] else "other"] += 1
    print("flood=%d other=%d" % (n["flood"], n["other"]), flush=True)


def resets(iface, dst, seconds):
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    cap.bind((iface, 0))
    print("ready", file=sys.stderr, flush=True)
    n, seqs = 0, []
    for ip in packets(cap, time.monotonic() + seconds):
        t = tcp_fields(ip)
        if t and t["dst"] == dst and t["flags"] & 0x04:
            n += 1
            seqs.append("%s:%d>%d" % (t["src"], t["sport"], t["dport"]))
    print("rst=%d from=%s" % (n, ",".join(seqs) or "none"), flush=True)


def echo(port):
    def serve(fam, addr):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        s.listen(64)
        echo_forever(s)

    threading.Thread(target=serve, args=(socket.AF_INET6, "::"), daemon=True).start()
    serve(socket.AF_INET, "0.0.0.0")


def client(host, port, lines):
    res = {"ok": 0, "sent": 0, "echoed": 0, "error": "none"}
    try:
        s = socket.create_connection((host, port), timeout=10)
        want = b""
        got = b""
        for i in range(lines):
            line = ("line %d %s\n" % (i, "x" * (i % 200))).encode()
            s.sendall(line)
            want += line
            res["sent"] += 1
        while len(got) < len(want):
            d = s.recv(65536)
            if not d:
                break
            got += d
        res["echoed"] = got.count(b"\n")
        res["ok"] = int(got == want)
        s.close()
    except OSError as e:
        res["error"] = str(e).replace(" ", "_")
    print(" ".join("%s=%s" % kv for kv in res.items()))


def main(a):
    if a[0] == "flood":
        flood(a[1], int(a[2]), int(a[3]), float(a[4]))
    elif a[0] == "handshake":
        handshake(a[1], a[2], int(a[3]), int(a[4]), a[5])
    elif a[0] == "count":
        count(a[1], int(a[2]), float(a[3]))
    elif a[0] == "resets":
        resets(a[1], a[2], float(a[3]))
    elif a[0] == "echo":
        echo(int(a[1]))
    elif a[0] == "client":
        client(a[1], int(a[2]), int(a[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:] or ["help"])

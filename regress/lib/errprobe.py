#!/usr/bin/env python3
"""UDP and ICMP probes for the netns suite: what comes back, and ICMP errors
as the sender's kernel reports them (IP_RECVERR), traceroute style.

  errprobe.py echo-server PORT...
      echo every UDP datagram back, on each port, forever
  errprobe.py udp HOST PORT COUNT [GAP_MS]
      send COUNT datagrams from one socket, GAP_MS apart (default 2), then
      wait a second for echoes; prints "sent=N echoed=N"
  errprobe.py udp-error HOST PORT TTL
      send one datagram with that TTL (hop limit) and wait for an ICMP
      error; prints "type=T code=C from=ADDR" or "none"
  errprobe.py icmp-error HOST TTL
      send an echo request with that TTL on a raw socket and wait for a
      time exceeded (or echo reply) quoting our id; prints
      "type=T from=ADDR id_ok=0|1 seq_ok=0|1" or "none"

IPv6 addresses (with a colon) use the IPv6 forms of the same probes.
"""
import os
import select
import socket
import struct
import sys
import time

from checksum import csum

IP_RECVERR = 11
IPV6_RECVERR = 25


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def echo_server(ports):
    socks = []
    for p in ports:
        for fam, any_addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(fam, socket.SOCK_DGRAM)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                s.bind((any_addr, int(p)))
            except OSError:
                continue
            socks.append(s)
    while True:
        r, _, _ = select.select(socks, [], [])
        for s in r:
            try:
                d, a = s.recvfrom(65535)
                s.sendto(d, a)
            except OSError:
                pass


def udp(host, port, count, gap_ms=2):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.connect((host, port))
    s.setblocking(False)
    seen = set()

    def drain():
        while True:
            try:
                d = s.recv(100)
            except (BlockingIOError, ConnectionRefusedError):
                return
            seen.add(d)

    for i in range(count):
        try:
            s.send(b"%d" % i)
        except (ConnectionRefusedError, BlockingIOError):
            pass
        drain()
        time.sleep(gap_ms / 1000.0)
    end = time.time() + 1.0
    while time.time() < end:
        select.select([s], [], [], 0.1)
        drain()
    print("sent=%d echoed=%d" % (count, len(seen)))


def udp_error(host, port, ttl):
    fam = family(host)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET:
        s.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
        s.setsockopt(socket.SOL_IP, socket.IP_TTL, ttl)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    s.connect((host, port))
    s.send(b"probe")
    end = time.time() + 3.0
    while time.time() < end:
        try:
            _, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        except OSError:
            continue
        for lvl, typ, data in anc:
            if (lvl, typ) in ((socket.SOL_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)):
                _errno, _origin, etype, ecode = struct.unpack("=IBBB", data[:7])
                off = data[16:]
                if fam == socket.AF_INET:
                    addr = socket.inet_ntop(socket.AF_INET, off[4:8])
                else:
                    addr = socket.inet_ntop(socket.AF_INET6, off[8:24])
                print("type=%d code=%d from=%s" % (etype, ecode, addr))
                return
    print("none")


def icmp_error(host, ttl):
    fam = family(host)
    ident = os.getpid() & 0xFFFF
    seq = 7
    if fam == socket.AF_INET:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        s.setsockopt(socket.SOL_IP, socket.IP_TTL, ttl)
        m = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"pfprobe!"
        m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
        # The kernel fills in ICMPv6 checksums on raw sockets.
        m = struct.pack("!BBHHH", 128, 0, 0, ident, seq) + b"pfprobe!"
    s.sendto(m, (host, 0))
    end = time.time() + 3.0
    while time.time() < end:
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        d, a = s.recvfrom(2048)
        if fam == socket.AF_INET:
            hl = (d[0] & 0x0F) * 4
            icmp = d[hl:]
        else:
            icmp = d
        t = icmp[0]
        if fam == socket.AF_INET and t == 0 or fam == socket.AF_INET6 and t == 129:
            rid, rseq = struct.unpack("!HH", icmp[4:8])
            if rid == ident:
                print("type=%d from=%s id_ok=1 seq_ok=%d" % (t, a[0], int(rseq == seq)))
                return
            continue
        if t not in (11, 3):
            continue
        q = icmp[8:]
        if fam == socket.AF_INET:
            qhl = (q[0] & 0x0F) * 4
            qicmp = q[qhl:]
        else:
            qicmp = q[40:]
        if len(qicmp) < 8 or qicmp[0] not in (8, 128):
            continue
        qid, qseq = struct.unpack("!HH", qicmp[4:8])
        print("type=%d from=%s id_ok=%d seq_ok=%d" % (t, a[0], int(qid == ident), int(qseq == seq)))
        return
    print("none")


def main(a):
    if a[0] == "echo-server":
        echo_server(a[1:])
    elif a[0] == "udp":
        udp(a[1], int(a[2]), int(a[3]), int(a[4]) if len(a) > 4 else 2)
    elif a[0] == "udp-error":
        udp_error(a[1], int(a[2]), int(a[3]))
    elif a[0] == "icmp-error":
        icmp_error(a[1], int(a[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

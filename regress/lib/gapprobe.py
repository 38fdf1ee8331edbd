#!/usr/bin/env python3
"""Echo requests at a fixed rate and the longest silence between replies:
how long a failover interrupts traffic, to the millisecond.

  gapprobe.py DST SECONDS [INTERVAL_MS]
      ping DST every INTERVAL_MS (default 1) for SECONDS; prints
      "sent=N received=N lost=N maxgap_ms=X.X" where maxgap_ms is the
      longest time between two consecutive replies (about INTERVAL_MS when
      nothing is lost).
"""
import os
import select
import socket
import struct
import sys
import time

from checksum import csum


def main():
    dst = sys.argv[1]
    secs = float(sys.argv[2])
    iv = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.001
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setblocking(False)
    ident = os.getpid() & 0xFFFF
    start = time.monotonic()
    nxt = start
    seq = 0
    got = set()
    last = None
    maxgap = 0.0
    while True:
        now = time.monotonic()
        if now - start >= secs:
            break
        if now >= nxt:
            hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq & 0xFFFF)
            pkt = hdr + b"gapprobe"
            pkt = pkt[:2] + struct.pack("!H", csum(pkt)) + pkt[4:]
            try:
                s.sendto(pkt, (dst, 0))
            except OSError:
                pass
            seq += 1
            nxt += iv
            if nxt < now - 0.1:
                nxt = now + iv
        r, _, _ = select.select([s], [], [], max(0.0, min(nxt - time.monotonic(), 0.01)))
        if not r:
            continue
        while True:
            try:
                data = s.recv(2048)
            except BlockingIOError:
                break
            ihl = (data[0] & 0x0F) * 4
            icmp = data[ihl:]
            if len(icmp) < 8 or icmp[0] != 0:
                continue
            rid, rseq = struct.unpack("!HH", icmp[4:8])
            if rid != ident or rseq in got:
                continue
            got.add(rseq)
            t = time.monotonic()
            if last is not None:
                maxgap = max(maxgap, t - last)
            last = t
    time.sleep(0.2)
    print("sent=%d received=%d lost=%d maxgap_ms=%.1f" % (seq, len(got), seq - len(got), maxgap * 1000))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Hostile clients of pfd's control socket, and a sampler that watches pfd
while they run (regress/netns/ctlflood.sh).

  ctlflood.py flood SOCKET CONNS SECONDS
      CONNS connections at once for SECONDS, each kept up (reconnected
      when pfd closes it): a quarter idle, a quarter claiming a 16 MiB
      frame, a quarter claiming a frame pfd would take (4,000,000 bytes)
      and sending it a kilobyte at a time, slowly, and a quarter connecting
      and closing at once. Prints key=value counts: connections made,
      refused at connect (listen queue full), closed by pfd, and the
      distinct error messages pfd sent before closing.

  ctlflood.py sample PID SECONDS INTERVAL CMD...
      Runs CMD every INTERVAL seconds for SECONDS, timing each run, then
      times one GetStatus request of its own on $PF_SOCKET (pfd's part of
      the answer, without a process to start), and reads pfd's VmRSS and
      Threads (/proc/PID/status) each time. Prints runs=, failed=, max_ms=,
      p95_ms=, median_ms= (CMD), rtt_max_ms=, rtt_p95_ms=, rtt_median_ms=
      (the request), max_rss_kb=, max_threads=.
"""

import errno
import os
import resource
import selectors
import socket
import struct
import subprocess
import sys
import time

HEADER = struct.Struct("!2sHI")
VERSION = 1
# Request::GetStatus's variant index (postcard: one byte).
GET_STATUS = 17


def header(length):
    return HEADER.pack(b"PF", VERSION, length)


def error_message(data):
    """The message of a Reply::Error frame (postcard: variant 1, errno as
    a zigzag varint, then a length-prefixed string), or None."""
    if len(data) < HEADER.size + 3:
        return None
    body = data[HEADER.size:]
    if body[0] != 1:
        return None
    i = 1
    while i < len(body) and body[i] & 0x80:
        i += 1
    i += 1
    n, shift = 0, 0
    while i < len(body):
        b = body[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return body[i:i + n].decode(errors="replace")


class Flood:
    KINDS = ("idle", "big", "slow", "churn")

    def __init__(self, path, conns, seconds):
        self.path = path
        self.conns = conns
        self.end = time.monotonic() + seconds
        self.sel = selectors.DefaultSelector()
        self.socks = {}  # fd -> [sock, kind, next_send_time, sent, received bytes]
        self.waiting = []  # (time, kind): slots to reconnect
        self.stats = {"made": 0, "queue_full": 0, "closed_by_pfd": 0, "peak_open": 0}
        self.messages = {}

    def connect(self, kind):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(self.path)
        except BlockingIOError:
            s.close()
            self.stats["queue_full"] += 1
            self.waiting.append((time.monotonic() + 0.05, kind))
            return
        except OSError:
            s.close()
            self.waiting.append((time.monotonic() + 0.1, kind))
            return
        self.stats["made"] += 1
        if kind == "churn":
            s.close()
            self.waiting.append((time.monotonic(), kind))
            return
        if kind == "big":
            try:
                s.send(header(16 << 20) + b"\0" * 1024)
            except OSError:
                pass
        if kind == "slow":
            try:
                s.send(header(4_000_000) + b"\0" * (512 << 10))
            except OSError:
                pass
        self.socks[s.fileno()] = [s, kind, time.monotonic() + 0.5, 0, b""]
        self.sel.register(s, selectors.EVENT_READ)

    def closed(self, fd):
        s, kind, _, _, got = self.socks.pop(fd)
        self.sel.unregister(s)
        s.close()
        self.stats["closed_by_pfd"] += 1
        m = error_message(got)
        if m:
            self.messages[m] = self.messages.get(m, 0) + 1
        self.waiting.append((time.monotonic() + 0.1, kind))

    def drip(self, now):
        for fd, v in list(self.socks.items()):
            s, kind, at, sent, _ = v
            if kind != "slow" or now < at:
                continue
            try:
                s.send(b"\0" * 1024)
                v[3] = sent + 1024
            except BlockingIOError:
                pass
            except OSError:
                self.closed(fd)
                continue
            v[2] = now + 0.5

    def run(self):
        for i in range(self.conns):
            self.connect(self.KINDS[i % 4])
        while time.monotonic() < self.end:
            self.stats["peak_open"] = max(self.stats["peak_open"], len(self.socks))
            for key, _ in self.sel.select(timeout=0.05):
                fd = key.fd
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if data:
                    self.socks[fd][4] += data
                else:
                    self.closed(fd)
            now = time.monotonic()
            self.drip(now)
            due = [w for w in self.waiting if w[0] <= now]
            self.waiting = [w for w in self.waiting if w[0] > now]
            for _, kind in due:
                self.connect(kind)
        for k, v in self.stats.items():
            print(f"{k}={v}")
        for m, n in sorted(self.messages.items()):
            print(f"message={n} {m}")


def status_rtt(path):
    """Milliseconds for one GetStatus request on a new connection (its
    reply read whole), or None if it failed."""
    t = time.monotonic()
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        s.sendall(header(1) + bytes([GET_STATUS]))
        h = b""
        while len(h) < HEADER.size:
            d = s.recv(HEADER.size - len(h))
            if not d:
                return None
            h += d
        n = HEADER.unpack(h)[2]
        while n > 0:
            d = s.recv(min(n, 65536))
            if not d:
                return None
            n -= len(d)
        s.close()
    except OSError:
        return None
    return (time.monotonic() - t) * 1000


def percentile(v, p):
    return v[min(len(v) - 1, int(len(v) * p))] if v else 0


def sample(pid, seconds, interval, cmd):
    end = time.monotonic() + seconds
    path = os.environ.get("PF_SOCKET", "/var/run/pf.sock")
    times, rtts, failed, rss, threads = [], [], 0, 0, 0
    while time.monotonic() < end:
        t = time.monotonic()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ms = (time.monotonic() - t) * 1000
        times.append(ms)
        if ms > 100:
            print(f"slow={time.time():.2f} {ms:.1f}")
        if r.returncode != 0:
            failed += 1
        rtt = status_rtt(path)
        if rtt is None:
            failed += 1
        else:
            rtts.append(rtt)
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = max(rss, int(line.split()[1]))
                    if line.startswith("Threads:"):
                        threads = max(threads, int(line.split()[1]))
        except OSError:
            failed += 1
        time.sleep(interval)
    times.sort()
    rtts.sort()
    print(f"runs={len(times)}")
    print(f"failed={failed}")
    print(f"max_ms={percentile(times, 1):.1f}")
    print(f"p95_ms={percentile(times, 0.95):.1f}")
    print(f"median_ms={percentile(times, 0.5):.1f}")
    print(f"rtt_max_ms={percentile(rtts, 1):.1f}")
    print(f"rtt_p95_ms={percentile(rtts, 0.95):.1f}")
    print(f"rtt_median_ms={percentile(rtts, 0.5):.1f}")
    print(f"max_rss_kb={rss}")
    print(f"max_threads={threads}")


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "flood":
        conns = int(sys.argv[3])
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = conns + 256
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        Flood(sys.argv[2], conns, float(sys.argv[4])).run()
    elif len(sys.argv) >= 6 and sys.argv[1] == "sample":
        sample(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

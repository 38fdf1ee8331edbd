#!/usr/bin/env python3
"""Capture real traffic and turn it into fuzz seeds (used by fuzz/seed.sh).

  seedcap.py sniff IFACE OUT
      AF_PACKET capture of every frame IFACE sends or receives, until
      SIGTERM; OUT gets one record per frame: 8-byte timestamp (us), 1 byte
      outgoing, 2-byte length, the Ethernet frame. Prints "ready" on stderr
      once the socket is bound.

  seedcap.py proxy LISTEN TARGET OUTDIR
      A unix-socket proxy in front of pfd's control socket: every client
      connection to LISTEN is relayed to TARGET and both byte streams are
      written to OUTDIR/N.req and OUTDIR/N.rep, until SIGTERM.

  seedcap.py echo PORT
      A dual-stack TCP echo server (traffic to capture), until SIGTERM.

  seedcap.py talk HOST PORT
      One TCP connection to HOST: a few lines echoed, then a clean close
      (a refused or reset connection is fine: that is traffic too).

  seedcap.py udp HOST PORT
      One UDP datagram to HOST (a closed port answers with an ICMP error).

  seedcap.py seeds CAPDIR CORPUS [TARGET...]
      Turns CAPDIR/*.cap (named NS-IFACE.cap) and CAPDIR/control/* into
      seed files under CORPUS/<target>/ in the input formats of the fuzz
      targets (see fuzz/fuzz_targets/*.rs and fuzz/src/records.rs), for
      the targets named (default: carp pfsync packet wire control).
"""
import errno
import glob
import hashlib
import os
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4

# The packet target's interfaces (fuzz/src/net.rs IFACES), by fw1's names.
IFACES = {"hvn3": 0, "hvn4": 1, "hvn2": 2, "carp1": 3}


def stop_on_term():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def sniff(iface, out):
    stop_on_term()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    print("ready", file=sys.stderr, flush=True)
    with open(out, "wb") as f:
        try:
            while True:
                try:
                    frame, addr = s.recvfrom(65535)
                except OSError as e:
                    # The interface is down (it comes up later): wait.
                    if e.errno == errno.ENETDOWN:
                        time.sleep(0.05)
                        continue
                    raise
                outgoing = 1 if addr[2] == PACKET_OUTGOING else 0
                f.write(struct.pack("!QBH", int(time.time() * 1e6), outgoing, len(frame)))
                f.write(frame)
                f.flush()
        except SystemExit:
            pass


def proxy(listen, target, outdir):
    stop_on_term()
    os.makedirs(outdir, exist_ok=True)
    try:
        os.unlink(listen)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(listen)
    ls.listen(16)
    print("ready", file=sys.stderr, flush=True)
    conns = {}  # socket -> (peer socket, file)
    n = 0
    try:
        while True:
            r, _, _ = select.select([ls] + list(conns), [], [])
            for s in r:
                if s is ls:
                    c, _ = ls.accept()
                    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    u.connect(target)
                    n += 1
                    conns[c] = (u, open(os.path.join(outdir, f"{n}.req"), "wb"))
                    conns[u] = (c, open(os.path.join(outdir, f"{n}.rep"), "wb"))
                    continue
                peer, f = conns[s]
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if data:
                    f.write(data)
                    try:
                        peer.sendall(data)
                    except OSError:
                        pass
                    continue
                for x in (s, peer):
                    if x in conns:
                        conns[x][1].close()
                        del conns[x]
                    try:
                        x.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    x.close()
    except SystemExit:
        for _, f in conns.values():
            f.close()


def echo(port):
    stop_on_term()
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", int(port)))
    s.listen(16)
    print("ready", file=sys.stderr, flush=True)
    try:
        while True:
            c, _ = s.accept()
            with c:
                c.settimeout(2)
                try:
                    while True:
                        d = c.recv(65536)
                        if not d:
                            break
                        c.sendall(d)
                except OSError:
                    pass
    except SystemExit:
        pass


def talk(host, port):
    try:
        c = socket.create_connection((host, int(port)), timeout=2)
    except OSError:
        return
    with c:
        try:
            for i in range(3):
                c.sendall(b"seed line %d\n" % i)
                c.recv(100)
            c.sendall(b"x" * 3000)
            got = 0
            while got < 3000:
                d = c.recv(65536)
                if not d:
                    break
                got += len(d)
            c.shutdown(socket.SHUT_WR)
            c.recv(100)
        except OSError:
            pass


def udp(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    try:
        s.connect((host, int(port)))
        s.send(b"seed datagram")
        s.recv(100)
    except OSError:
        pass


# ---------------------------------------------------------------------
# Seeds


def read_cap(path):
    """(timestamp, outgoing, frame) of a capture file."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off + 11 <= len(data):
        ts, outgoing, n = struct.unpack("!QBH", data[off:off + 11])
        out.append((ts, outgoing, data[off + 11:off + 11 + n]))
        off += 11 + n
    return out


def ip_of(frame):
    """The IP packet in an Ethernet frame (None for other ethertypes)."""
    if len(frame) < 14:
        return None
    et = struct.unpack("!H", frame[12:14])[0]
    if et in (0x0800, 0x86DD):
        return frame[14:]
    return None


def proto_of(ip):
    if not ip:
        return None
    if ip[0] >> 4 == 4 and len(ip) >= 20:
        return ip[9]
    if ip[0] >> 4 == 6 and len(ip) >= 40:
        return ip[6]
    return None


def record(a, b, data):
    data = data[:65535]
    return struct.pack("!BBH", a, b, len(data)) + data


class Corpus:
    def __init__(self, root, targets):
        self.root = root
        self.targets = targets
        self.count = {}

    def add(self, target, data, limit):
        n = self.count.get(target, 0)
        if target not in self.targets or n >= limit or not data:
            return
        d = os.path.join(self.root, target)
        os.makedirs(d, exist_ok=True)
        name = "seed-cap-" + hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        self.count[target] = n + 1


def seeds(capdir, root, targets):
    c = Corpus(root, targets or ["carp", "pfsync", "packet", "wire", "control"])
    caps = {}
    for p in sorted(glob.glob(os.path.join(capdir, "*.cap"))):
        name = os.path.basename(p)[:-4]  # NS-IFACE
        caps[name] = read_cap(p)

    # Everything fw1 saw, in time order: (ts, iface, outgoing, frame).
    seen = []
    for name, frames in caps.items():
        host, _, iface = name.partition("-")
        if host != "fw1":
            continue
        for ts, outgoing, frame in frames:
            seen.append((ts, iface, outgoing, frame))
    seen.sort(key=lambda x: x[0])

    # carp: fw1's own advertisements (outgoing on hvn3, the carp1 fw2
    # authenticates), fw2's after fw1 bowed out, and those on hvn4.
    adverts = [(iface, f) for _, iface, _, f in seen if proto_of(ip_of(f)) == 112]
    uniq = []
    for iface, f in adverts:
        ip = ip_of(f)
        if ip not in [u for _, u in uniq]:
            uniq.append((iface, ip))
    for setup in (1, 2, 3):
        for _, ip in uniq[:8]:
            c.add("carp", bytes([setup]) + record(0, 10, ip), 40)
    seq = b"".join(record(8, 10, ip) for _, ip in uniq[:8])
    if seq:
        c.add("carp", bytes([1]) + seq, 40)
        c.add("carp", bytes([2 | 4]) + seq, 40)

    # pfsync: every frame on the sync link, alone and in runs of four,
    # as IP packets (record bit 0), probed (bit 1) with ACK (bit 5).
    frames = [ip_of(f) for _, iface, _, f in seen if iface == "hvn2" and proto_of(ip_of(f)) == 240]
    for ip in frames[:40]:
        c.add("pfsync", record(1, 1, ip), 80)
        c.add("pfsync", record(1 | 2 | (8 << 2), 1, ip), 80)
    for i in range(0, len(frames), 4):
        c.add("pfsync", b"".join(record(3 | (8 << 2), 1, ip) for ip in frames[i:i + 4]), 80)

    # packet: the data path, in bursts (a gap of 300 ms or 16 packets ends
    # one), each packet on the interface and in the direction fw1 saw it.
    burst, last = [], None
    bursts = []
    for ts, iface, outgoing, f in seen:
        ip = ip_of(f)
        p = proto_of(ip)
        if p is None or p in (112, 240) or iface not in IFACES:
            continue
        if burst and (ts - last > 300_000 or len(burst) >= 16):
            bursts.append(burst)
            burst = []
        burst.append(record(outgoing | IFACES[iface] << 1, 1, ip))
        last = ts
    if burst:
        bursts.append(burst)
    for b in bursts:
        c.add("packet", b"".join(b), 200)

    # wire: every distinct frame, as the Ethernet frame and as IP packet.
    done = set()
    for _, _, _, f in seen:
        for d in (f, ip_of(f)):
            if d and d not in done:
                done.add(d)
                c.add("wire", d, 400)

    # control: both directions of every connection to pfd.
    for p in sorted(glob.glob(os.path.join(capdir, "control", "*"))):
        with open(p, "rb") as f:
            c.add("control", f.read(), 200)

    for t in sorted(c.count):
        print(f"seedcap.py: {c.count[t]} captured seeds into {root}/{t}")


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "sniff" and len(args) == 2:
        sniff(*args)
    elif cmd == "proxy" and len(args) == 3:
        proxy(*args)
    elif cmd == "echo" and len(args) == 1:
        echo(*args)
    elif cmd == "talk" and len(args) == 2:
        talk(*args)
    elif cmd == "udp" and len(args) == 2:
        udp(*args)
    elif cmd == "seeds" and len(args) >= 2:
        seeds(args[0], args[1], args[2:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

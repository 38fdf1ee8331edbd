#!/usr/bin/env python3
"""Capture IPv4/IPv6 TCP, UDP and ICMP packets on one interface (AF_PACKET)
and print one line per packet, for the netns suite to grep:

  sniff.py IFACE SECONDS [MAX]
      "proto=tcp src=A sport=P dst=B dport=Q ttl=T flags=SA seq=N"
      "proto=udp src=A sport=P dst=B dport=Q ttl=T"
      "proto=icmp src=A dst=B ttl=T type=X code=Y"
      "proto=pfsync src=A dst=B ttl=T actions=13:1,4:2" (action:count)
      "proto=N src=A dst=B ttl=T" (any other protocol)
  until SECONDS have passed or MAX packets were printed. Prints "ready" on
  stderr once the socket is bound, so a caller can wait for it.

  sniff.py --tun IFACE SECONDS [MAX]
      the same, as the reader of an existing tun device (`ip tuntap add
      dev IFACE mode tun`): the far end of a point-to-point link, which
      receives what the host sends to its peer address.
"""
import fcntl
import os
import ipaddress
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
FLAGS = "FSRPAUEW"


def describe(frame):
    if len(frame) < 14:
        return None
    etype = struct.unpack("!H", frame[12:14])[0]
    p = frame[14:]
    if etype == 0x0800 and len(p) >= 20:
        ihl = (p[0] & 15) * 4
        proto, ttl = p[9], p[8]
        src, dst = ipaddress.ip_address(p[12:16]), ipaddress.ip_address(p[16:20])
        l4 = p[ihl:]
        icmp = 1
    elif etype == 0x86DD and len(p) >= 40:
        proto, ttl = p[6], p[7]
        src, dst = ipaddress.ip_address(p[8:24]), ipaddress.ip_address(p[24:40])
        l4 = p[40:]
        icmp = 58
    else:
        return None
    if proto == 6 and len(l4) >= 20:
        sport, dport, seq = struct.unpack("!HHI", l4[:8])
        fl = "".join(c for i, c in enumerate(FLAGS) if l4[13] & (1 << i))
        return f"proto=tcp src={src} sport={sport} dst={dst} dport={dport} ttl={ttl} flags={fl} seq={seq}"
    if proto == 17 and len(l4) >= 8:
        sport, dport = struct.unpack("!HH", l4[:4])
        return f"proto=udp src={src} sport={sport} dst={dst} dport={dport} ttl={ttl}"
    if proto == icmp and len(l4) >= 2:
        return f"proto=icmp src={src} dst={dst} ttl={ttl} type={l4[0]} code={l4[1]}"
    if proto == 240:
        return f"proto=pfsync src={src} dst={dst} ttl={ttl} actions={pfsync_actions(l4)}"
    return f"proto={proto} src={src} dst={dst} ttl={ttl}"


def pfsync_actions(p):
    """The subheaders of a pfsync frame: a 20-byte header, then per section
    action, message length in words and count."""
    out, off = [], 20
    while off + 4 <= len(p):
        action, words, count = p[off], p[off + 1], struct.unpack("!H", p[off + 2:off + 4])[0]
        out.append(f"{action}:{count}")
        if action == 12:  # EOF
            break
        off += 4 + words * 4 * count
    return ",".join(out)


def tun(iface, seconds, most):
    TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", iface.encode(), IFF_TUN | IFF_NO_PI))
    print("ready", file=sys.stderr, flush=True)
    end = time.time() + seconds
    n = 0
    while n < most:
        left = end - time.time()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        pkt = os.read(fd, 65535)
        etype = b"\x86\xdd" if pkt and pkt[0] >> 4 == 6 else b"\x08\x00"
        d = describe(bytes(12) + etype + pkt)
        if d:
            print(d, flush=True)
            n += 1


def main():
    if sys.argv[1] == "--tun":
        most = int(sys.argv[4]) if len(sys.argv) > 4 else 1 << 30
        return tun(sys.argv[2], float(sys.argv[3]), most)
    iface, seconds = sys.argv[1], float(sys.argv[2])
    most = int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 30
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    print("ready", file=sys.stderr, flush=True)
    end = time.time() + seconds
    n = 0
    while n < most:
        left = end - time.time()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            break
        frame, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING and len(sys.argv) > 4 and sys.argv[4] == "in":
            continue
        d = describe(frame)
        if d:
            print(d, flush=True)
            n += 1


if __name__ == "__main__":
    main()

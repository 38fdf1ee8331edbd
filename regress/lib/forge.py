#!/usr/bin/env python3
"""Hostile packets for the netns suite, sent out of $FORGE_DEV (default eth0)
from inside a test namespace.

  forge.py carp DST VHID PASS TTL [ADVSKEW]
      a CARP advertisement to DST (224.0.0.18) with the given password and
      IP TTL, for virtual address 192.0.2.1 (the demo's carp1)
  forge.py pfsync DST KIND
      a malformed pfsync frame to DST (224.0.0.240): KIND is one of
      badver, badlen, truncated, badact, badval, junk; or bulkreq, a
      well-formed bulk update request (UPD_REQ 0/0), sent $FORGE_COUNT
      times (default 1) back to back
  forge.py replay PCAP
      send again the IPv4 packets of PCAP (an Ethernet capture), as they
      were captured (source address, TTL and all)
"""
import hashlib
import hmac
import os
import socket
import struct
import sys

from checksum import csum


def ipv4(src, dst, proto, ttl, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0x10, 20 + len(payload), os.getpid() & 0xFFFF, 0x4000,
                    ttl, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


DEV = os.environ.get("FORGE_DEV", "eth0")


def send(pkt, dst):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, DEV.encode())
    s.sendto(pkt, (dst, 0))


def src_for(dst):
    """The IPv4 address of $FORGE_DEV (default eth0)."""
    import fcntl
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    req = struct.pack("256s", DEV.encode()[:15])
    try:
        return socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24])  # SIOCGIFADDR
    except OSError:
        return "0.0.0.0"


def carp(dst, vhid, password, ttl, advskew=0):
    counter = os.urandom(8)
    msg = bytes([2, 1, vhid]) + socket.inet_aton("192.0.2.1") + counter
    mac = hmac.new(password.encode()[:19], msg, hashlib.sha1).digest()
    hdr = struct.pack("!BBBBBBH", 0x21, vhid, advskew, 7, 0, 1, 0) + counter + mac
    hdr = hdr[:6] + struct.pack("!H", csum(hdr)) + hdr[8:]
    send(ipv4(src_for(dst), dst, 112, ttl, hdr), dst)


def pfsync(dst, kind):
    sub = struct.pack("!BBH", 5, 3, 1) + struct.pack("!QI", 1, 1)  # UPD_REQ id 1
    body = sub
    if kind == "badver":
        hdr = struct.pack("!BBH", 5, 0, 20 + len(body)) + bytes(16)
    elif kind == "badlen":
        hdr = struct.pack("!BBH", 6, 0, 2000) + bytes(16)
    elif kind == "truncated":
        body = struct.pack("!BBH", 13, 66, 3) + bytes(40)  # three 264-byte INS promised
        hdr = struct.pack("!BBH", 6, 0, 20 + len(body)) + bytes(16)
    elif kind == "badact":
        body = struct.pack("!BBH", 200, 0, 0)
        hdr = struct.pack("!BBH", 6, 0, 20 + len(body)) + bytes(16)
    elif kind == "badval":
        st = bytearray(264)
        st[255] = 99  # timeout index out of range
        st[250] = 2
        body = struct.pack("!BBH", 13, 66, 1) + bytes(st)
        hdr = struct.pack("!BBH", 6, 0, 20 + len(body)) + bytes(16)
    elif kind == "bulkreq":
        body = struct.pack("!BBH", 5, 3, 1) + struct.pack("!QI", 0, 0)
        hdr = struct.pack("!BBH", 6, 0, 20 + len(body)) + bytes(16)
    else:
        hdr, body = os.urandom(7), b""
    for _ in range(int(os.environ.get("FORGE_COUNT", "1")) if kind == "bulkreq" else 1):
        send(ipv4(src_for(dst), dst, 240, 255, hdr + body), dst)


def replay(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "IIII", data[off:off + 16])[2]
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(frame) < 34 or frame[12:14] != b"\x08\x00":
            continue
        pkt = frame[14:]
        send(pkt, socket.inet_ntoa(pkt[16:20]))


def main():
    a = sys.argv[1:]
    if len(a) >= 5 and a[0] == "carp":
        carp(a[1], int(a[2]), a[3], int(a[4]), int(a[5]) if len(a) > 5 else 0)
    elif len(a) == 2 and a[0] == "replay":
        replay(a[1])
    elif len(a) == 3 and a[0] == "pfsync":
        pfsync(a[1], a[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

"""Forged IPv6 CARP advertisements: carp6forge.py IFACE HOPLIMIT COUNT
[VHID [ADVSKEW]] sends COUNT advertisements to ff02::12 on IFACE with the
given hop limit, advbase 1, advskew ADVSKEW (default 0), demote 0 and a
random counter and HMAC (so a wrong one). Prints what it sent."""

import os
import socket
import struct
import sys

from checksum import csum

ifname, hops, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
vhid = int(sys.argv[4]) if len(sys.argv) > 4 else 1
advskew = int(sys.argv[5]) if len(sys.argv) > 5 else 0
idx = socket.if_nametoindex(ifname)
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
for _ in range(count):
    body = os.urandom(28)  # counter and HMAC: nobody's key made them
    hdr = struct.pack("!BBBBBBH", 0x21, vhid, advskew, 7, 0, 1, 0) + body
    hdr = hdr[:6] + struct.pack("!H", csum(hdr)) + hdr[8:]
    s.sendto(hdr, ("ff02::12", 0, 0, idx))
print("sent %d advertisements, vhid %d advskew %d hop limit %d on %s" % (count, vhid, advskew, hops, ifname))

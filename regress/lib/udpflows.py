#!/usr/bin/env python3
"""New one-datagram UDP flows from the seed topology's client, each from
its own source port, to the server: a socket per flow, as an application
would make them.

  udpflows.py N RATE [FIRST_PORT]
      N flows at RATE a second (0: as fast as it can), source ports
      FIRST_PORT (default 10000) on, from 192.168.99.50 to
      192.0.2.20:20000.
"""
import socket
import sys
import time


def main():
    n, rate = int(sys.argv[1]), float(sys.argv[2])
    first = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    t0 = time.monotonic()
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("192.168.99.50", first + i))
        s.sendto(b"x", ("192.0.2.20", 20000))
        s.close()
        if rate > 0:
            ahead = t0 + (i + 1) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""UDP round trips, each from a new socket (a new source port, so a new
state on the firewalls between).

  udprtt.py serve PORT
      echo every datagram, forever
  udprtt.py probe HOST PORT N [TIMEOUT]
      N questions, one at a time, each from a fresh socket; prints one
      line "answered A of N rtt_ms R1 R2 ..." (a lost one's rtt is "lost")
"""
import socket
import sys
import time


def serve(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(d, a)


def probe(host, port, n, timeout):
    rtts = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        t0 = time.monotonic()
        s.sendto(b"q%d" % i, (host, port))
        try:
            s.recv(2048)
            rtts.append("%.2f" % ((time.monotonic() - t0) * 1000))
        except OSError:
            rtts.append("lost")
        s.close()
        time.sleep(0.05)
    answered = sum(1 for r in rtts if r != "lost")
    print("answered %d of %d rtt_ms %s" % (answered, n, " ".join(rtts)))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        probe(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
              float(sys.argv[5]) if len(sys.argv) > 5 else 0.5)

#!/usr/bin/env python3
"""Round trips of new flows, each from a new socket (a new source port, so
a new state on the firewalls between).

  flowrtt.py serve PORT
      echo UDP datagrams and TCP connections on PORT, forever
  flowrtt.py probe udp|tcp HOST PORT N [TIMEOUT]
      N flows, one at a time: a UDP question and its answer, or a TCP
      connection, one byte and its echo; prints one line
      "answered A of N rtt_ms R1 R2 ..." (a lost one's rtt is "lost")
"""
import socket
import sys
import threading
import time


def serve(port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("0.0.0.0", port))
    t.listen(64)

    def tcp():
        while True:
            c, _ = t.accept()
            with c:
                try:
                    d = c.recv(16)
                    if d:
                        c.sendall(d)
                except OSError:
                    pass

    threading.Thread(target=tcp, daemon=True).start()
    while True:
        d, a = u.recvfrom(2048)
        u.sendto(d, a)


def one(proto, host, port, i, timeout):
    t0 = time.monotonic()
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        s.sendto(b"q%d" % i, (host, port))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(b"q")
    with s:
        s.recv(2048)
    return "%.2f" % ((time.monotonic() - t0) * 1000)


def probe(proto, host, port, n, timeout):
    rtts = []
    for i in range(n):
        try:
            rtts.append(one(proto, host, port, i, timeout))
        except OSError:
            rtts.append("lost")
        time.sleep(0.05)
    answered = sum(1 for r in rtts if r != "lost")
    print("answered %d of %d rtt_ms %s" % (answered, n, " ".join(rtts)))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        probe(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
              float(sys.argv[6]) if len(sys.argv) > 6 else 0.5)

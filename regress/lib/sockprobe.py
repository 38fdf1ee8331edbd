#!/usr/bin/env python3
"""Small sockets for the policy-routing tests (IPv4 and IPv6 alike).

  sockprobe.py echo PORT
      TCP: echo every connection's bytes back, forever (any address)
  sockprobe.py say HOST PORT [SRC]
      TCP: connect (from SRC if given), send "hello", print what comes
      back (or "error ...")
  sockprobe.py proxy ADDR PORT
      TCP: a transparent proxy's listener (IP_TRANSPARENT) on ADDR:PORT;
      answers each connection with "proxy <original destination>" as
      getsockname() gives it
  sockprobe.py nonlocal SRC HOST PORT
      TCP: connect from SRC, an address this host does not have
      (IP_TRANSPARENT), send "hello", print the answer
  sockprobe.py udpcount PORT FILE
      UDP: count datagrams on PORT, writing the count to FILE each time
  sockprobe.py udpsend HOST PORT N
      UDP: send N datagrams
"""
import socket
import sys

from tcpecho import echo_forever

IP_TRANSPARENT = 19


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def echo(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(16)
    echo_forever(s)


def say(host, port, src=None, transparent=False):
    try:
        s = socket.socket(family(host), socket.SOCK_STREAM)
        if transparent:
            s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
        if src:
            s.bind((src, 0))
        s.settimeout(4)
        s.connect((host, port))
        s.sendall(b"hello")
        print(s.recv(200).decode(errors="replace"))
    except OSError as e:
        print("error", e)


def proxy(addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
    s.bind((addr, port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        with c:
            h, p = c.getsockname()[:2]
            try:
                c.sendall(("proxy %s:%d" % (h, p)).encode())
            except OSError:
                pass


def udpcount(port, path):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    n = 0
    with open(path, "w") as f:
        f.write("0\n")
    while True:
        s.recv(65536)
        n += 1
        with open(path, "w") as f:
            f.write("%d\n" % n)


def udpsend(host, port, n):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    for i in range(n):
        s.sendto(b"datagram %d" % i, (host, port))


def main(a):
    cmd = a[0]
    if cmd == "echo":
        echo(int(a[1]))
    elif cmd == "say":
        say(a[1], int(a[2]), a[3] if len(a) > 3 else None)
    elif cmd == "proxy":
        proxy(a[1], int(a[2]))
    elif cmd == "nonlocal":
        say(a[2], int(a[3]), a[1], transparent=True)
    elif cmd == "udpcount":
        udpcount(int(a[1]), a[2])
    elif cmd == "udpsend":
        udpsend(a[1], int(a[2]), int(a[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

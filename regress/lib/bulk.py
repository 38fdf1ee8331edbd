#!/usr/bin/env python3
"""Bulk TCP transfers whose bytes are checked end to end (IPv4 and IPv6).

  bulk.py serve PORT
      answer "up N" (read N bytes, reply with their SHA-256 and the
      client's address) and "down N" (send N bytes), forever
  bulk.py up HOST PORT N
      send N bytes; print "ok PEER" when the server saw exactly them
      (PEER: the address the server saw), else "bad ..."
  bulk.py down HOST PORT N
      receive N bytes; print "ok" when they are the ones sent, else "bad"

The bytes are a fixed pseudo-random pattern, so both ends know them.
Large writes let the sender's stack build GSO packets.
"""
import hashlib
import random
import socket
import sys
import threading

BLOCK = random.Random(7).randbytes(1 << 20)


def pattern(n):
    """The first n bytes of the pattern, in blocks."""
    while n > 0:
        b = BLOCK[: min(n, len(BLOCK))]
        n -= len(b)
        yield b


def digest(n):
    h = hashlib.sha256()
    for b in pattern(n):
        h.update(b)
    return h.hexdigest()


def handle(c, peer):
    with c:
        c.settimeout(30)
        f = c.makefile("rb")
        words = f.readline().split()
        if len(words) != 2:
            return
        n = int(words[1])
        if words[0] == b"up":
            h = hashlib.sha256()
            left = n
            while left > 0:
                d = f.read1(min(left, 1 << 16))
                if not d:
                    break
                h.update(d)
                left -= len(d)
            addr = peer[0].removeprefix("::ffff:")
            c.sendall(f"{h.hexdigest()} {addr}\n".encode())
        elif words[0] == b"down":
            for b in pattern(n):
                c.sendall(b)


def serve(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(16)
    while True:
        c, peer = s.accept()
        threading.Thread(target=handle, args=(c, peer), daemon=True).start()


def connect(host, port):
    c = socket.create_connection((host, port), timeout=30)
    return c


def up(host, port, n):
    with connect(host, port) as c:
        c.sendall(f"up {n}\n".encode())
        for b in pattern(n):
            c.sendall(b)
        c.shutdown(socket.SHUT_WR)
        answer = c.makefile("rb").readline().decode().split()
    if len(answer) == 2 and answer[0] == digest(n):
        print("ok", answer[1])
    else:
        print("bad", *answer)


def down(host, port, n):
    h = hashlib.sha256()
    got = 0
    with connect(host, port) as c:
        c.sendall(f"down {n}\n".encode())
        while got < n:
            d = c.recv(1 << 16)
            if not d:
                break
            h.update(d)
            got += len(d)
    print("ok" if got == n and h.hexdigest() == digest(n) else f"bad {got}")


def main():
    a = sys.argv[1:]
    try:
        if a[0] == "serve":
            serve(int(a[1]))
        elif a[0] == "up":
            up(a[1], int(a[2]), int(a[3]))
        elif a[0] == "down":
            down(a[1], int(a[2]), int(a[3]))
        else:
            sys.exit(f"bulk.py: unknown command {a[0]}")
    except OSError as e:
        print("error", e)


if __name__ == "__main__":
    main()

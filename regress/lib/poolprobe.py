#!/usr/bin/env python3
"""TCP servers that say who they are and clients that hold connections, for
the source tracking and pool suite. Run inside a test namespace.

  poolprobe.py server PORT...
      listen on every address, IPv4, on each PORT; each connection gets
      one line "HELLO LOCALADDR:LOCALPORT PEERADDR:PEERPORT", then every
      line it sends is echoed back
  poolprobe.py connect SRC[:SPORT] HOST PORT [HOLD]
      connect from address SRC (port SPORT, else any) to HOST:PORT (3 s
      timeout) and print the
      server's HELLO line (exit 0), or "failed ERROR" (exit 1). With HOLD
      seconds, keep the connection and send a line every 0.2 s: prints
      "cut" as soon as one is not echoed within 1.5 s, else "alive" after
      HOLD seconds.
"""
import socket
import sys
import threading
import time


def server(ports):
    def serve(c, peer):
        try:
            local = c.getsockname()
            c.sendall(("HELLO %s:%d %s:%d\n" % (local[0], local[1], peer[0], peer[1])).encode())
            while True:
                b = c.recv(4096)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
        finally:
            c.close()

    def listen(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(256)
        while True:
            c, peer = s.accept()
            threading.Thread(target=serve, args=(c, peer), daemon=True).start()

    for p in ports:
        threading.Thread(target=listen, args=(p,), daemon=True).start()
    while True:
        time.sleep(3600)


def readline(s):
    buf = b""
    while not buf.endswith(b"\n"):
        b = s.recv(4096)
        if not b:
            raise OSError("closed")
        buf += b
    return buf.decode().strip()


def connect(src, host, port, hold):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(3)
    addr, _, sport = src.partition(":")
    try:
        s.bind((addr, int(sport or 0)))
        s.connect((host, port))
        hello = readline(s)
    except OSError as e:
        print("failed %s" % (e.strerror or e))
        sys.stdout.flush()
        return 1
    print(hello)
    sys.stdout.flush()
    if hold <= 0:
        s.close()
        return 0
    s.settimeout(1.5)
    end = time.monotonic() + hold
    n = 0
    while time.monotonic() < end:
        n += 1
        try:
            s.sendall(b"ping %d\n" % n)
            if readline(s) != "ping %d" % n:
                raise OSError("bad echo")
        except OSError:
            print("cut")
            return 0
        time.sleep(0.2)
    print("alive")
    s.close()
    return 0


def main():
    a = sys.argv[1:]
    if len(a) >= 2 and a[0] == "server":
        server([int(p) for p in a[1:]])
    elif len(a) in (4, 5) and a[0] == "connect":
        hold = float(a[4]) if len(a) == 5 else 0
        sys.exit(connect(a[1], a[2], int(a[3]), hold))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A TCP connection that keeps talking, to tell whether it survives a
firewall failover.

  tcpprobe.py server PORT
      echo every byte back, on every connection, forever
  tcpprobe.py client HOST PORT SECONDS [INTERVAL]
      send a numbered line every INTERVAL (0.01) seconds for SECONDS,
      read the echoes, then print key=value results:
      survived=1|0 sent=N echoed=N maxgap_ms=M error=...
  tcpprobe.py poll HOST PORT SECONDS FILE
      open a new connection every 20 ms or so (50 ms timeout) for
      SECONDS; FILE gets "attempts connected" (a port that must stay
      closed shows 0 connected)
"""
import socket
import sys
import threading
import time

from tcpecho import echo_forever


def server(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    echo_forever(s)


def client(host, port, seconds, interval):
    res = {"survived": 0, "sent": 0, "echoed": 0, "maxgap_ms": 0, "error": "none"}
    try:
        s = socket.create_connection((host, port), timeout=5)
    except OSError as e:
        res["error"] = "connect:" + str(e).replace(" ", "_")
        return res
    s.settimeout(None)
    received = bytearray()
    state = {"last": time.monotonic(), "maxgap": 0.0, "err": None}

    def reader():
        while True:
            try:
                d = s.recv(65536)
            except OSError as e:
                state["err"] = "recv:" + str(e).replace(" ", "_")
                return
            if not d:
                state["err"] = state["err"] or "closed_by_peer"
                return
            now = time.monotonic()
            state["maxgap"] = max(state["maxgap"], now - state["last"])
            state["last"] = now
            received.extend(d)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    expected = bytearray()
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end and state["err"] is None:
        line = b"%08d\n" % n
        try:
            s.sendall(line)
        except OSError as e:
            state["err"] = "send:" + str(e).replace(" ", "_")
            break
        expected.extend(line)
        n += 1
        time.sleep(interval)
    # Wait for the last echoes (a retransmitting TCP may need a while).
    deadline = time.monotonic() + 15
    while len(received) < len(expected) and time.monotonic() < deadline and state["err"] is None:
        time.sleep(0.05)
    res["sent"] = n
    res["echoed"] = received.count(b"\n")
    res["maxgap_ms"] = int(state["maxgap"] * 1000)
    ok = state["err"] is None and bytes(received) == bytes(expected)
    if state["err"]:
        res["error"] = state["err"]
    elif not ok:
        res["error"] = "data_mismatch"
    res["survived"] = 1 if ok else 0
    try:
        s.close()
    except OSError:
        pass
    return res


def poll(host, port, seconds, path):
    end = time.time() + seconds
    n = ok = 0
    while time.time() < end:
        n += 1
        try:
            socket.create_connection((host, port), timeout=0.05).close()
            ok += 1
        except OSError:
            pass
        time.sleep(0.02)
    with open(path, "w") as f:
        f.write("%d %d\n" % (n, ok))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "server":
        server(int(sys.argv[2]))
    elif len(sys.argv) >= 5 and sys.argv[1] == "client":
        interval = float(sys.argv[5]) if len(sys.argv) > 5 else 0.01
        r = client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), interval)
        print(" ".join("%s=%s" % kv for kv in r.items()))
    elif len(sys.argv) == 6 and sys.argv[1] == "poll":
        poll(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

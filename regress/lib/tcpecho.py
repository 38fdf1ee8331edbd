"""The TCP echo service the probes share: every connection's bytes back,
one thread a connection, until the peer closes or an error ends it."""

import threading


def echo_forever(listener):
    def echo(c):
        with c:
            while True:
                try:
                    d = c.recv(65536)
                    if not d:
                        return
                    c.sendall(d)
                except OSError:
                    return

    while True:
        c, _ = listener.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()

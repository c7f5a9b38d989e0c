#!/usr/bin/env python3
"""slow_clients.py: one misbehaving client next to well-behaved ones, for
tests/integration/web_slow_clients.sh.  Standard library only.

    slow_clients.py MODE ADDR OFFENDER [COUNT]

MODE is "http" (ADDR is HOST:PORT of a web server; requests are HTTP/1.1
GETs of /v1/websocket/server) or "fcgi" (ADDR is the pool's unix socket or
HOST:PORT; requests are raw FastCGI, as fcgi_conn.py sends them).

OFFENDER (or several joined by '+', all at once: "trickle+silent"),
started first and kept going while COUNT (default 30) plain requests are
timed one after another, each on a fresh connection:

    trickle    a request whose 3,000-byte body comes at 100 bytes/s
    silent     20 connections that send nothing
    half       half a FastCGI record, then nothing (fcgi only)
    slowread   a request whose answer is read one byte every 100 ms

Prints one line: "<answered 200> <slowest ms> <median ms> <offender status>
<slowest ms alone>", where the offender status is the HTTP status the (first)
offender itself got by the end (0 for none, "-" when it asks nothing), and
the last figure the slowest of COUNT plain requests timed the same way just
before the offenders start: what the machine itself takes now.
"""
import os
import select
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fcgi_conn  # noqa: E402  (record building and answer reading)

PATH = "/v1/websocket/server"


def connect(addr):
    return fcgi_conn.connect(addr)


def http_head(body_len=0):
    extra = "Content-Length: %d\r\nContent-Type: application/octet-stream\r\n" % body_len if body_len else ""
    return ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n" % (PATH, extra)).encode()


def http_status(s):
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            return 0
        data += chunk
    return int(data.split(b" ", 2)[1])


def ask(mode, addr):
    """One plain request on a fresh connection: (status, ms)."""
    t0 = time.monotonic()
    try:
        s = connect(addr)
        if mode == "http":
            s.sendall(http_head())
            status = http_status(s)
        else:
            status = fcgi_conn.answer(s, keep=False)
        s.close()
    except (OSError, EOFError, ValueError):
        status = 0
    return status, (time.monotonic() - t0) * 1000


class Offender(threading.Thread):
    def __init__(self, mode, addr, kind):
        super().__init__(daemon=True)
        self.mode, self.addr, self.kind = mode, addr, kind
        self.status = "-"
        self.stop = threading.Event()
        self.held = []

    def trickle_bytes(self):
        if self.mode == "http":
            return http_head(3000), [b"x" * 10] * 300
        whole = fcgi_conn.request_bytes()
        end = fcgi_conn.record(fcgi_conn.STDIN, 1)
        return whole[:-len(end)], [fcgi_conn.record(fcgi_conn.STDIN, 1, b"x" * 10)] * 300 + [end]

    def run(self):
        try:
            getattr(self, "run_" + self.kind)()
        except (OSError, EOFError, ValueError):
            pass

    def run_trickle(self):
        s = connect(self.addr)
        self.held.append(s)
        head, pieces = self.trickle_bytes()
        s.sendall(head)
        self.status = 0
        for p in pieces:
            if self.stop.wait(0.1):
                break
            if self.status == 0 and select.select([s], [], [], 0)[0]:
                self.read_status(s)   # answered before its body ended
            s.sendall(p)
        if self.status == 0:
            self.read_status(s)

    def read_status(self, s):
        s.settimeout(2)
        self.status = http_status(s) if self.mode == "http" else fcgi_conn.read_answer(s)

    def run_silent(self):
        for _ in range(20):
            self.held.append(connect(self.addr))
        self.stop.wait(60)

    def run_half(self):
        s = connect(self.addr)
        self.held.append(s)
        s.sendall(fcgi_conn.request_bytes()[:4])
        self.stop.wait(60)

    def run_slowread(self):
        s = connect(self.addr)
        self.held.append(s)
        s.sendall(http_head() if self.mode == "http" else fcgi_conn.request_bytes(keep=False))
        got = b""
        self.status = 0
        while not self.stop.wait(0.1):
            b = s.recv(1)
            if not b:
                break
            got += b
        parts = got.split(b" ", 2)
        if self.mode == "http" and len(parts) == 3:
            self.status = int(parts[1])
        elif self.mode != "http" and got:
            self.status = 200


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    mode, addr, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 30
    alone = max(ask(mode, addr)[1] for _ in range(count))
    offenders = [Offender(mode, addr, k) for k in kind.split("+")]
    for off in offenders:
        off.start()
    time.sleep(0.5)   # the offenders are at it before the first plain request
    results = [ask(mode, addr) for _ in range(count)]
    for off in offenders:
        off.stop.set()
        off.join(5)
    ms = sorted(r[1] for r in results)
    ok = sum(1 for r in results if r[0] == 200)
    print(ok, int(ms[-1]), int(ms[len(ms) // 2]), offenders[0].status, int(alone), flush=True)
    for off in offenders:
        for s in off.held:
            s.close()


if __name__ == "__main__":
    main()

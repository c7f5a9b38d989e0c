#!/usr/bin/env python3
"""fcgi_conn.py: drives a FastCGI responder over raw connections, for the
tests of wsb-handler's event loop (kept connections, idle connections,
garbage, half-sent requests).  Standard library only.

    fcgi_conn.py SOCKET SCENARIO [ARGS]

SOCKET is a unix socket path or HOST:PORT.  Each scenario prints one line of
results (words separated by spaces) that the calling test asserts on:

    kept N            N requests on one kept connection (FCGI_KEEP_CONN):
                      "<answered> <same-connection:0|1>"
    idle N            opens N connections that send nothing, then asks once
                      on a fresh one: "<opened> <status> <ms>"; the idle
                      ones stay open until stdin closes (or 60 s)
    idle-kept N       opens N connections, each asked once and kept, then
                      asks once on a fresh one: "<kept> <status> <ms>
                      <kept ones the responder closed>"
    interleave N      two kept connections taking turns, N rounds each:
                      "<answered>"
    garbage           a kept connection, then garbage on another: "<kept
                      still answers:0|1> <garbage closed:0|1>"
    half              sends half a request on one connection, then asks on
                      another: "<status> <ms>"; the half stays open
    close-kept N      N kept connections, each asked once then closed by
                      this side: "<answered>"
    late-stdin N      N requests on one kept connection, each sending its
                      end-of-stdin record 10 ms after the rest (as Apache
                      mod_proxy_fcgi may): "<answered>"
    body N            one kept connection, a request with an N-byte body,
                      then a plain one: "<status> <status or 0 if closed>"
    paced N MS        N requests on one kept connection, each MS milliseconds
                      after the last answer: "<answered> <late>", late: the
                      gaps this side made over MS + 6 ms (scheduling delays)
    half-closed       half a request, then this side's write half shut:
                      "<ms until the responder closed, or 0 if not in 5 s>"
"""
import os
import select
import socket
import struct
import sys
import time

BEGIN, END, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6


def connect(addr):
    if "/" in addr:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr)
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    s.settimeout(5)
    return s


def record(rtype, rid, content=b""):
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), 0, 0) + content


def nv(name, value):
    def length(n):
        return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)
    name, value = name.encode(), value.encode()
    return length(len(name)) + length(len(value)) + name + value


def request_bytes(rid=1, keep=True, path="/v1/websocket/server"):
    params = b"".join(nv(k, v) for k, v in (
        ("REQUEST_METHOD", "GET"), ("REQUEST_URI", path), ("SCRIPT_NAME", path),
        ("REMOTE_ADDR", "81.2.69.142"), ("GATEWAY_INTERFACE", "CGI/1.1")))
    begin = struct.pack(">HB5x", 1, 1 if keep else 0)
    return (record(BEGIN, rid, begin) + record(PARAMS, rid, params) + record(PARAMS, rid) +
            record(STDIN, rid))


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def answer(s, rid=1, keep=True, data=None):
    """Sends one request (data: the bytes to send instead), returns the HTTP
    status of the answer (0 on none)."""
    s.sendall(request_bytes(rid, keep) if data is None else data)
    return read_answer(s)


def read_answer(s):
    out = b""
    while True:
        _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", read_exact(s, 8))
        body = read_exact(s, clen + plen)[:clen]
        if rtype == STDOUT:
            out += body
        elif rtype == END:
            break
    head = out.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n"):
        if line.lower().startswith("status:"):
            return int(line.split()[1])
    return 200 if out else 0


def closed_by_peer(s, wait=2.0):
    r, _, _ = select.select([s], [], [], wait)
    if not r:
        return False
    try:
        return s.recv(1) == b""
    except OSError:
        return True


def hold_until_stdin_closes():
    select.select([sys.stdin], [], [], 60)


def main():
    addr, what = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if what == "kept":
        s = connect(addr)
        ok = sum(1 for i in range(n) if answer(s, rid=1 + i % 3) == 200)
        # The same connection still answers: nothing closed it in between.
        same = 1 if answer(s) == 200 else 0
        print(ok, same)
    elif what == "idle":
        idle = []
        for _ in range(n):
            idle.append(connect(addr))
        t0 = time.monotonic()
        try:
            status = answer(connect(addr), keep=False)
        except (OSError, EOFError):
            status = 0
        print(len(idle), status, int((time.monotonic() - t0) * 1000), flush=True)
        hold_until_stdin_closes()
    elif what == "idle-kept":
        kept = []
        for _ in range(n):
            k = connect(addr)
            if answer(k) == 200:
                kept.append(k)
        t0 = time.monotonic()
        try:
            status = answer(connect(addr), keep=False)
        except (OSError, EOFError):
            status = 0
        ms = int((time.monotonic() - t0) * 1000)
        time.sleep(0.2)
        closed = sum(1 for k in kept if select.select([k], [], [], 0)[0] and k.recv(1) == b"")
        print(len(kept), status, ms, closed, flush=True)
    elif what == "paced":
        gap = float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.005
        s = connect(addr)
        ok = late = 0
        last = None
        for _ in range(n):
            if last is not None and time.monotonic() - last > gap + 0.006:
                late += 1
            ok += answer(s) == 200
            last = time.monotonic()
            time.sleep(gap)
        print(ok, late)
    elif what == "interleave":
        a, b = connect(addr), connect(addr)
        ok = 0
        for _ in range(n):
            ok += answer(a) == 200
            ok += answer(b) == 200
        print(ok)
    elif what == "garbage":
        kept = connect(addr)
        answer(kept)
        g = connect(addr)
        g.sendall(b"\x07" * 64 + b"GET / HTTP/1.1\r\n\r\n")
        gone = 1 if closed_by_peer(g) else 0
        print(1 if answer(kept) == 200 else 0, gone)
    elif what == "half":
        h = connect(addr)
        h.sendall(request_bytes()[:20])
        time.sleep(0.2)
        t0 = time.monotonic()
        try:
            status = answer(connect(addr), keep=False)
        except (OSError, EOFError):
            status = 0
        print(status, int((time.monotonic() - t0) * 1000), flush=True)
        hold_until_stdin_closes()
    elif what == "late-stdin":
        s = connect(addr)
        whole = request_bytes()
        stdin_end = record(STDIN, 1)
        ok = 0
        for _ in range(n):
            s.sendall(whole[:-len(stdin_end)])
            time.sleep(0.01)
            s.sendall(stdin_end)
            ok += read_answer(s) == 200
        print(ok)
    elif what == "body":
        s = connect(addr)
        whole = request_bytes()
        stdin_end = record(STDIN, 1)
        body = b""
        left = n
        while left > 0:
            k = min(left, 65535)
            body += record(STDIN, 1, b"x" * k)
            left -= k
        first = answer(s, data=whole[:-len(stdin_end)] + body + stdin_end)
        try:
            second = answer(s)
        except (OSError, EOFError):
            second = 0
        print(first, second)
    elif what == "half-closed":
        s = connect(addr)
        s.sendall(request_bytes()[:20])
        s.shutdown(socket.SHUT_WR)
        t0 = time.monotonic()
        print(int((time.monotonic() - t0) * 1000) or 1 if closed_by_peer(s, 5.0) else 0)
    elif what == "close-kept":
        ok = 0
        for _ in range(n):
            s = connect(addr)
            ok += answer(s) == 200
            s.close()
        print(ok)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    try:
        main()
    except (OSError, EOFError) as e:
        print("error", e)
        sys.exit(1)

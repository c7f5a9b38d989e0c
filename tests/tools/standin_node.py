#!/usr/bin/env python3
"""standin_node.py - stand-in WebSocket node server for wsbalancer tests.

Integration tests and benchmarks of the wsbalancer probe need many "nodes"
whose behaviour can be scripted: healthy WebSocket endpoints, nodes that hang,
talk garbage, fail the upgrade, serve broken load reports, and so on.  This
script serves any number of such nodes (1,000+ ports) from ONE process, using
only the Python standard library (asyncio + ssl).  It binds loopback only.

Usage:
    standin_node.py --config FILE [--pidfile FILE] [--ready-file FILE]
                    [--host 127.0.0.1|::1] [--quiet]

    --pidfile     written at start, removed at exit.
    --ready-file  written (atomically) once every port is listening; removed at
                  start (if stale) and at exit.  Tests wait for it to appear.
    --host        listen address; must be a loopback literal (127.x.y.z, ::1).
    --quiet       do not log per-connection errors (startup errors still are).
    SIGTERM/SIGINT exit cleanly with status 0.

Config (JSON).  The set of ports is fixed at start; everything else is re-read
whenever an accepted connection finds that the file changed (mtime/size/inode),
so a test can rewrite the file to change a node's behaviour while running:

    {
      "nodes": {
        "20001": {"mode": "ok", "connections": 1234, "capacity": 20000,
                  "tls": false},
        "20002": {"mode": "ok", "load": 0.42, "tls": true,
                  "cert": "other.pem", "key": "other.key"}
      },
      "port_ranges": [{"from": 21000, "to": 21999, "mode": "ok"}],
      "tls_cert": "/path/cert.pem",
      "tls_key": "/path/key.pem"
    }

  Node fields (port_ranges entries take the same fields plus from/to, both
  inclusive; an entry in "nodes" wins over a range, the first matching range
  wins over later ones):
    mode         see below; default "ok"
    connections  reported by /status; if absent the live number of upgraded
                 WebSocket connections on that port is reported
    capacity     reported by /status when present
    load         if present /status reports {"load": L} instead
    tls          true: the port speaks TLS (cert/key, else tls_cert/tls_key)
    cert, key    per-node TLS certificate chain / key (relative paths are
                 relative to the config file's directory)
    delay_ms     wait before answering a request (default 1500 in "slow" mode,
                 0 otherwise, but honoured in every HTTP-speaking mode)
    report_bytes body size for "huge_report" (default 10 MiB)
    echo         true: an upgraded connection sends every text or binary
                 message back as it came (a client can prove an exchange)
  A port that is no longer described by the config behaves like "close".

Modes:
    ok           HTTP/1.1.  A GET with "Upgrade: websocket", "Connection:
                 Upgrade", a valid Sec-WebSocket-Key and Sec-WebSocket-Version 13
                 gets 101 with the correct Sec-WebSocket-Accept; the connection
                 is then held (pings answered, a close frame is answered with a
                 close frame) until the client goes away.  Bad key -> 400, bad
                 version -> 426.  GET /health -> 200 {"status":"ok"};
                 GET /status and any other path -> 200 load report JSON.
    hang         accept (and complete TLS if tls), never answer, hold.
    hang_after_connect_tls
                 accept TCP, never start/complete the TLS handshake, hold.
    garbage      answer any request with non-HTTP bytes, then close.
    bad_accept   like ok, but the 101 carries a wrong Sec-WebSocket-Accept.
    no_upgrade   like ok, but an upgrade request gets 200 OK instead of 101.
    http_500     every request -> 500 with a small JSON body.
    bad_report   like ok, but the load report (/status, other paths) is
                 "not json{{".
    huge_report  like ok, but the load report is a 10 MiB (valid JSON) body.
    slow         like ok, but waits delay_ms (default 1500) before answering.
    close        accept and immediately close.
  /health stays {"status":"ok"} in ok/slow/bad_accept/no_upgrade/bad_report/
  huge_report.  Every response carries Content-Length and Connection: close.

Stats: GET /__stats on any port of an HTTP-speaking mode (all but hang*,
garbage, http_500, close) returns
    {"hits": {"PORT": n}, "accepts": {"PORT": n}, "upgrades": {"PORT": n},
     "total_hits": n}
  for all ports with non-zero counters.  hits = HTTP requests served (all
  requests read, including upgrades, excluding /__stats itself), accepts =
  TCP connections accepted, upgrades = 101 answers sent.  /__stats?reset=1
  zeroes the counters after reporting.

Robustness: malformed requests and abrupt disconnects only end that one
connection; each error is logged as at most one line on stderr.
"""

import argparse
import asyncio
import base64
import errno
import hashlib
import ipaddress
import json
import os
import resource
import signal
import socket
import ssl
import struct
import sys
from urllib.parse import urlsplit, parse_qs

# RFC 6455 section 1.3 GUID.  (Note the ending "...0DC85B11"; a mistyped
# "...0DC11B85" circulates and yields wrong accept values.)
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MODES = {
    "ok", "hang", "hang_after_connect_tls", "garbage", "bad_accept",
    "no_upgrade", "http_500", "bad_report", "huge_report", "slow", "close",
}
# Modes that parse HTTP requests and serve /health, /status, /__stats.
REPORT_MODES = {"ok", "slow", "bad_accept", "no_upgrade", "bad_report",
                "huge_report"}
HEADER_LIMIT = 64 * 1024          # max request head size
REQUEST_IDLE_TIMEOUT = 60.0       # silently drop connections that send nothing
TLS_HANDSHAKE_TIMEOUT = 10.0
MAX_WS_PAYLOAD = 16 * 1024 * 1024
DEFAULT_REPORT_BYTES = 10 * 1024 * 1024
DEFAULT_SLOW_MS = 1500
LISTEN_BACKLOG = 1024

REASONS = {
    101: "Switching Protocols", 200: "OK", 400: "Bad Request",
    404: "Not Found", 405: "Method Not Allowed", 426: "Upgrade Required",
    431: "Request Header Fields Too Large", 500: "Internal Server Error",
}

QUIET = False


def log(msg, always=False):
    """One line on stderr (per-connection messages are muted by --quiet)."""
    if QUIET and not always:
        return
    msg = " ".join(str(msg).split())
    try:
        sys.stderr.write("standin_node: %s\n" % msg)
        sys.stderr.flush()
    except Exception:
        pass


def ws_accept(key):
    digest = hashlib.sha1((key + WS_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_ws_key(key):
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except Exception:
        return False


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

class ConfigError(Exception):
    pass


def _check_node(where, node):
    if not isinstance(node, dict):
        raise ConfigError("%s: must be an object" % where)
    mode = node.get("mode", "ok")
    if mode not in MODES:
        raise ConfigError("%s: unknown mode %r" % (where, mode))
    for field in ("connections", "capacity", "delay_ms", "report_bytes"):
        v = node.get(field)
        if v is not None and (not isinstance(v, (int, float))
                              or isinstance(v, bool) or v < 0):
            raise ConfigError("%s: %s must be a non-negative number"
                              % (where, field))
    v = node.get("load")
    if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)):
        raise ConfigError("%s: load must be a number" % where)


def _check_port(where, p):
    if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 65535:
        raise ConfigError("%s: bad port %r" % (where, p))
    return p


def parse_config(text):
    """Parse and validate config text -> (nodes{int:dict}, ranges[(lo,hi,dict)], top)."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ConfigError("invalid JSON: %s" % e)
    if not isinstance(data, dict):
        raise ConfigError("top level must be an object")
    nodes = {}
    raw_nodes = data.get("nodes", {})
    if not isinstance(raw_nodes, dict):
        raise ConfigError("nodes must be an object")
    for k, node in raw_nodes.items():
        try:
            port = int(k)
        except ValueError:
            raise ConfigError("nodes: bad port %r" % k)
        _check_port("nodes", port)
        _check_node("nodes[%s]" % k, node)
        nodes[port] = node
    ranges = []
    raw_ranges = data.get("port_ranges", [])
    if not isinstance(raw_ranges, list):
        raise ConfigError("port_ranges must be a list")
    for i, r in enumerate(raw_ranges):
        where = "port_ranges[%d]" % i
        _check_node(where, r)
        lo = _check_port(where, r.get("from"))
        hi = _check_port(where, r.get("to"))
        if lo > hi:
            raise ConfigError("%s: from > to" % where)
        ranges.append((lo, hi, r))
    return nodes, ranges, data


class Config:
    """The config file, reloaded on demand when its stat signature changes."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.base = os.path.dirname(self.path)
        self.sig = None
        self.nodes, self.ranges, self.top = {}, [], {}
        self._ssl_cache = {}
        self.load(initial=True)

    def _stat_sig(self):
        st = os.stat(self.path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def load(self, initial=False):
        # The signature is taken before reading: if the file changes while we
        # read it, the next check sees a new signature and reloads again.  It
        # is remembered even on failure, so a broken file is reported once.
        try:
            self.sig = self._stat_sig()
            with open(self.path, "r", encoding="utf-8") as f:
                text = f.read()
            self.nodes, self.ranges, self.top = parse_config(text)
        except (OSError, ConfigError) as e:
            if initial:
                raise ConfigError("%s: %s" % (self.path, e))
            log("config %s not reloaded (keeping previous): %s" % (self.path, e),
                always=True)

    def maybe_reload(self):
        try:
            sig = self._stat_sig()
        except OSError:
            return
        if sig != self.sig:
            self.load()

    def all_ports(self):
        ports = set(self.nodes)
        for lo, hi, _ in self.ranges:
            ports.update(range(lo, hi + 1))
        return sorted(ports)

    def node(self, port):
        """Effective settings for a port, or None if not configured."""
        n = self.nodes.get(port)
        if n is not None:
            return n
        for lo, hi, r in self.ranges:
            if lo <= port <= hi:
                return r
        return None

    def _path(self, p):
        return p if os.path.isabs(p) else os.path.join(self.base, p)

    def ssl_context(self, node):
        cert = node.get("cert") or self.top.get("tls_cert")
        key = node.get("key") or self.top.get("tls_key")
        if not cert:
            raise ConfigError("tls requested but no cert/tls_cert configured")
        cert = self._path(cert)
        key = self._path(key) if key else None
        try:
            sig = (cert, key, os.stat(cert).st_mtime_ns,
                   os.stat(key).st_mtime_ns if key else 0)
        except OSError as e:
            raise ConfigError("cannot stat TLS files: %s" % e)
        ctx = self._ssl_cache.get(sig)
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                ctx.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as e:
                raise ConfigError("cannot load TLS cert %s: %s" % (cert, e))
            ctx.set_alpn_protocols(["http/1.1"])
            self._ssl_cache[sig] = ctx
        return ctx


# --------------------------------------------------------------------------
# Counters
# --------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.reset()
        self.live_ws = {}     # port -> currently open upgraded connections

    def reset(self):
        self.hits, self.accepts, self.upgrades = {}, {}, {}

    @staticmethod
    def _inc(d, port, n=1):
        d[port] = d.get(port, 0) + n

    def snapshot(self):
        def fmt(d):
            return {str(p): n for p, n in sorted(d.items()) if n}
        return {"hits": fmt(self.hits), "accepts": fmt(self.accepts),
                "upgrades": fmt(self.upgrades),
                "total_hits": sum(self.hits.values())}


# --------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------

class BadRequest(Exception):
    def __init__(self, code, why):
        super().__init__(why)
        self.code = code


class Request:
    def __init__(self, method, target, version, headers):
        self.method, self.target, self.version = method, target, version
        self.headers = headers                  # lower-case name -> value
        parts = urlsplit(target)
        self.path = parts.path or "/"
        self.query = parse_qs(parts.query)

    def tokens(self, name):
        return {t.strip().lower() for t in self.headers.get(name, "").split(",")}


def parse_head(raw):
    try:
        text = raw.decode("latin-1")
    except Exception:
        raise BadRequest(400, "undecodable request head")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/") or not parts[0].isalpha():
        raise BadRequest(400, "malformed request line %r" % lines[0][:80])
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, "malformed header line %r" % line[:80])
        name = name.lower()
        value = value.strip()
        headers[name] = headers[name] + ", " + value if name in headers else value
    return Request(parts[0], parts[1], parts[2], headers)


def http_response(code, body=b"", ctype="application/json", extra=(),
                  head_only=False):
    lines = ["HTTP/1.1 %d %s" % (code, REASONS.get(code, "Unknown")),
             "Server: standin-node"]
    if code != 101:
        lines += ["Content-Type: %s" % ctype,
                  "Content-Length: %d" % len(body),
                  "Connection: close"]
    lines += list(extra)
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return out if head_only or code == 101 else out + body


def json_bytes(obj):
    return json.dumps(obj, separators=(",", ":")).encode("ascii")


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------

class StandinServer:
    def __init__(self, cfg, host):
        self.cfg = cfg
        self.host = host
        self.stats = Stats()
        self.listeners = {}        # port -> listening socket
        self.tasks = set()
        self.loop = None
        self._huge_cache = {}

    # --- listening ------------------------------------------------------

    def listen_all(self, ports):
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for port in ports:
            s = socket.socket(family, socket.SOCK_STREAM)
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((self.host, port))
                s.listen(LISTEN_BACKLOG)
                s.setblocking(False)
            except OSError as e:
                s.close()
                raise OSError(e.errno, "cannot listen on %s port %d: %s"
                              % (self.host, port, e.strerror))
            self.listeners[port] = s
            self.loop.add_reader(s.fileno(), self._on_acceptable, port, s)

    def _on_acceptable(self, port, lsock):
        for _ in range(128):
            try:
                conn, _addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS,
                               errno.ENOMEM):
                    # Out of descriptors: back off for a moment, like asyncio.
                    log("port %d: accept: %s (pausing 1s)" % (port, e))
                    self.loop.remove_reader(lsock.fileno())
                    self.loop.call_later(1.0, self._resume_accept, port, lsock)
                else:
                    log("port %d: accept: %s" % (port, e))
                return
            conn.setblocking(False)
            t = self.loop.create_task(self._connection(port, conn))
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)

    def _resume_accept(self, port, lsock):
        if self.listeners.get(port) is lsock:
            self.loop.add_reader(lsock.fileno(), self._on_acceptable, port, lsock)

    def close_listeners(self):
        for s in self.listeners.values():
            try:
                self.loop.remove_reader(s.fileno())
            except Exception:
                pass
            s.close()
        self.listeners.clear()

    # --- per connection -------------------------------------------------

    async def _connection(self, port, sock):
        Stats._inc(self.stats.accepts, port)
        writer = None
        try:
            self.cfg.maybe_reload()
            node = self.cfg.node(port)
            mode = node.get("mode", "ok") if node is not None else "close"
            if mode == "close":
                return
            if mode == "hang_after_connect_tls":
                await self._hold_raw(sock)
                return
            ctx = None
            if node.get("tls"):
                try:
                    ctx = self.cfg.ssl_context(node)
                except ConfigError as e:
                    log("port %d: %s" % (port, e))
                    return
            reader = asyncio.StreamReader(limit=HEADER_LIMIT, loop=self.loop)
            proto = asyncio.StreamReaderProtocol(reader, loop=self.loop)
            try:
                transport, _ = await self.loop.connect_accepted_socket(
                    lambda: proto, sock, ssl=ctx,
                    ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if ctx else None)
            except (ssl.SSLError, OSError, asyncio.TimeoutError) as e:
                if ctx is not None:
                    log("port %d: TLS handshake failed: %s" % (port, e or type(e).__name__))
                return
            sock = None      # now owned by the transport
            writer = asyncio.StreamWriter(transport, proto, reader, self.loop)
            if mode == "hang":
                await self._hold(reader)
            else:
                await self._serve_http(port, node, mode, reader, writer)
        except asyncio.CancelledError:
            if writer is not None:
                writer.transport.abort()
                writer = None
            raise
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass               # client went away or TLS torn down: normal
        except Exception as e:  # never let one connection kill the server
            log("port %d: %s: %s" % (port, type(e).__name__, e))
        finally:
            if writer is not None:
                writer.close()
            if sock is not None:
                sock.close()

    async def _hold_raw(self, sock):
        """Keep a raw socket open, discarding input, until the peer closes."""
        while True:
            try:
                data = await self.loop.sock_recv(sock, 65536)
            except OSError:
                return
            if not data:
                return

    @staticmethod
    async def _hold(reader):
        while await reader.read(65536):
            pass

    async def _read_request(self, reader):
        """Read one request head (+ small body). None if the client left."""
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                         REQUEST_IDLE_TIMEOUT)
        except asyncio.LimitOverrunError:
            raise BadRequest(431, "request head too large")
        except (asyncio.IncompleteReadError, asyncio.TimeoutError):
            return None
        req = parse_head(raw[:-4])
        cl = req.headers.get("content-length")
        if cl:
            try:
                n = int(cl)
            except ValueError:
                raise BadRequest(400, "bad Content-Length %r" % cl)
            if n < 0 or n > 1024 * 1024:
                raise BadRequest(400, "unacceptable Content-Length %r" % cl)
            await reader.readexactly(n)
        return req

    def _status_body(self, port, node):
        if node.get("load") is not None:
            return json_bytes({"load": node["load"]})
        conns = node.get("connections")
        if conns is None:
            conns = self.stats.live_ws.get(port, 0)
        body = {"connections": conns}
        if node.get("capacity") is not None:
            body["capacity"] = node["capacity"]
        return json_bytes(body)

    def _huge_body(self, port, node):
        size = int(node.get("report_bytes", DEFAULT_REPORT_BYTES))
        prefix = b'{"connections":%d,"pad":"' % int(node.get("connections") or 0)
        pad = max(0, size - len(prefix) - 2)
        key = (prefix, pad)
        body = self._huge_cache.get(key)
        if body is None:
            body = prefix + b"x" * pad + b'"}'
            self._huge_cache.clear()     # keep at most one around
            self._huge_cache[key] = body
        return body

    async def _serve_http(self, port, node, mode, reader, writer):
        try:
            req = await self._read_request(reader)
        except BadRequest as e:
            if mode in ("garbage", "http_500"):
                req = True     # these modes answer anything the same way
            else:
                log("port %d: %s" % (port, e))
                writer.write(http_response(e.code, json_bytes({"error": str(e)})))
                await writer.drain()
                return
        if req is None:
            return

        method = getattr(req, "method", "GET")
        if (mode in REPORT_MODES and req is not True and req.path == "/__stats"
                and req.method in ("GET", "HEAD")):
            body = json_bytes(self.stats.snapshot())
            if req.query.get("reset", ["0"])[0] not in ("0", ""):
                self.stats.reset()
            writer.write(http_response(200, body, head_only=req.method == "HEAD"))
            await writer.drain()
            return

        Stats._inc(self.stats.hits, port)
        delay = node.get("delay_ms", DEFAULT_SLOW_MS if mode == "slow" else 0)
        if delay:
            await asyncio.sleep(delay / 1000.0)

        if mode == "garbage":
            writer.write(b"\x00\xff\x13 this is not HTTP at all \xfe\x01"
                         + os.urandom(200) + b"\r\n\r\n")
            await writer.drain()
            return
        if mode == "http_500":
            writer.write(http_response(500, json_bytes(
                {"error": "standin node configured to fail"}),
                head_only=method == "HEAD"))
            await writer.drain()
            return

        if "websocket" in req.tokens("upgrade"):
            await self._upgrade(port, node, mode, req, reader, writer)
            return

        head_only = req.method == "HEAD"
        if req.method not in ("GET", "HEAD"):
            resp = http_response(405, json_bytes({"error": "method not allowed"}),
                                 extra=["Allow: GET, HEAD"])
        elif req.path == "/health":
            resp = http_response(200, json_bytes({"status": "ok"}),
                                 head_only=head_only)
        elif mode == "bad_report":
            resp = http_response(200, b"not json{{", head_only=head_only)
        elif mode == "huge_report":
            resp = http_response(200, self._huge_body(port, node),
                                 head_only=head_only)
        else:
            resp = http_response(200, self._status_body(port, node),
                                 head_only=head_only)
        writer.write(resp)
        await writer.drain()

    async def _upgrade(self, port, node, mode, req, reader, writer):
        if mode == "no_upgrade":
            writer.write(http_response(200, self._status_body(port, node)))
            await writer.drain()
            return
        key = req.headers.get("sec-websocket-key", "").strip()
        problem = None
        if req.method != "GET":
            problem = (405, "upgrade needs GET")
        elif req.version != "HTTP/1.1":
            problem = (400, "upgrade needs HTTP/1.1")
        elif "upgrade" not in req.tokens("connection"):
            problem = (400, "Connection header lacks 'upgrade'")
        elif not valid_ws_key(key):
            problem = (400, "missing or invalid Sec-WebSocket-Key")
        elif req.headers.get("sec-websocket-version", "").strip() != "13":
            problem = (426, "unsupported Sec-WebSocket-Version")
        if problem:
            extra = ["Sec-WebSocket-Version: 13"] if problem[0] == 426 else []
            writer.write(http_response(problem[0], json_bytes({"error": problem[1]}),
                                       extra=extra))
            await writer.drain()
            return
        accept = ws_accept(key + "x" if mode == "bad_accept" else key)
        writer.write(http_response(101, extra=[
            "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Accept: " + accept]))
        await writer.drain()
        Stats._inc(self.stats.upgrades, port)
        Stats._inc(self.stats.live_ws, port)
        try:
            await self._ws_session(reader, writer, bool(node.get("echo")))
        finally:
            Stats._inc(self.stats.live_ws, port, -1)

    @staticmethod
    def _frame(opcode, payload=b""):
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        return head + payload

    async def _ws_session(self, reader, writer, echo=False):
        """Hold an upgraded connection: answer ping and close; data is
        ignored, or sent back when echo (single-frame messages)."""
        while True:
            b0, b1 = await reader.readexactly(2)
            opcode, masked, n = b0 & 0x0F, b1 & 0x80, b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await reader.readexactly(8))
            if not masked or n > MAX_WS_PAYLOAD:
                code = 1002 if not masked else 1009
                writer.write(self._frame(0x8, struct.pack("!H", code)))
                await writer.drain()
                return
            mask = await reader.readexactly(4)
            data = await reader.readexactly(n)
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(data)) if n < 4096 \
                else _unmask_large(data, mask)
            if opcode == 0x8:                       # close: echo status code
                writer.write(self._frame(0x8, data[:2]))
                await writer.drain()
                return
            if opcode == 0x9:                       # ping -> pong
                writer.write(self._frame(0xA, data[:125]))
                await writer.drain()
            elif echo and opcode in (0x1, 0x2) and b0 & 0x80:
                writer.write(self._frame(opcode, data))
                await writer.drain()


def _unmask_large(data, mask):
    n = len(data)
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ m).to_bytes(n, "big")


# --------------------------------------------------------------------------
# Process setup
# --------------------------------------------------------------------------

def raise_nofile_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        try:
            with open("/proc/sys/fs/nr_open") as f:
                target = int(f.read())
        except (OSError, ValueError):
            target = 1048576
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as e:
            log("could not raise RLIMIT_NOFILE to %s: %s" % (target, e), always=True)
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def remove_quietly(path):
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def check_host(host):
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback


async def amain(args):
    loop = asyncio.get_running_loop()

    def exc_handler(_loop, context):
        exc = context.get("exception")
        log("asyncio: %s%s" % (context.get("message", ""),
                               ": %r" % exc if exc else ""))
    loop.set_exception_handler(exc_handler)

    cfg = Config(args.config)
    ports = cfg.all_ports()
    if not ports:
        raise ConfigError("no ports configured")
    limit = raise_nofile_limit()
    if limit != resource.RLIM_INFINITY and len(ports) + 64 > limit:
        log("warning: %d ports but RLIMIT_NOFILE is %d" % (len(ports), limit),
            always=True)

    server = StandinServer(cfg, args.host)
    server.loop = loop
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        server.listen_all(ports)
        if args.ready_file:
            write_atomic(args.ready_file, json_bytes(
                {"pid": os.getpid(), "ports": len(ports)}).decode() + "\n")
        await stop.wait()
    finally:
        server.close_listeners()
        tasks = list(server.tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=3)


def main():
    global QUIET
    if sys.version_info < (3, 7):
        sys.exit("standin_node.py needs Python 3.7+")
    ap = argparse.ArgumentParser(description="Stand-in WebSocket node server "
                                 "for wsbalancer tests (loopback only).")
    ap.add_argument("--config", required=True, help="JSON config file")
    ap.add_argument("--pidfile", help="write our pid here")
    ap.add_argument("--ready-file", help="written once all ports listen")
    ap.add_argument("--host", default="127.0.0.1",
                    help="loopback address to bind (127.x.y.z or ::1)")
    ap.add_argument("--quiet", action="store_true",
                    help="do not log per-connection errors")
    args = ap.parse_args()
    QUIET = args.quiet
    if not check_host(args.host):
        log("refusing to bind non-loopback host %r" % args.host, always=True)
        sys.exit(2)

    remove_quietly(args.ready_file)
    if args.pidfile:
        write_atomic(args.pidfile, "%d\n" % os.getpid())
    rc = 0
    try:
        asyncio.run(amain(args))
    except ConfigError as e:
        log("config error: %s" % e, always=True)
        rc = 2
    except OSError as e:
        log(str(e), always=True)
        rc = 1
    except KeyboardInterrupt:
        pass
    finally:
        remove_quietly(args.ready_file)
        remove_quietly(args.pidfile)
    sys.exit(rc)


if __name__ == "__main__":
    main()

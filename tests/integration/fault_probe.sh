#!/usr/bin/env bash
# fault_probe.sh: the probe killed in the middle of a round, and stopped
# for good, with 40 stand-in nodes (10 of them hang until the 2 s check
# timeout, so a round takes a while).
#
#   - killed while checking: the state stays exactly the previous round's;
#   - killed while its MULTI/EXEC is in flight (a proxy holds back EXEC):
#     Redis drops the transaction, the state stays the previous round's;
#   - a reader polling Redis all through a real round sees one round or the
#     other, never a mixture (every record's checked_at equals the round's
#     "at"), and sees the switch;
#   - the probe stopped: the state expires and the handler answers 101.
. "$(dirname "$0")/fault_lib.sh"

PROBE="$BUILD/wsb-probe"
t_redis_start
f_ports 40 || { t_fail "no free ports"; t_summary; exit 1; }
OK_FROM=$F_PORT_BASE OK_TO=$((F_PORT_BASE + 29)) HANG_FROM=$((F_PORT_BASE + 30)) HANG_TO=$((F_PORT_BASE + 39))
cat > "$T_DIR/standin.json" <<JSON
{"port_ranges": [{"from": $OK_FROM, "to": $OK_TO, "mode": "ok", "load": 0.2},
                 {"from": $HANG_FROM, "to": $HANG_TO, "mode": "hang"}]}
JSON
f_standin "$T_DIR/standin.json" || { t_fail "stand-in did not start"; t_summary; exit 1; }
python3 - "$T_DIR/inventory.json" "$F_PORT_BASE" <<'PY'
import json, sys
base = int(sys.argv[2])
nodes = [{"id": "n%02d" % i, "endpoint": "ws://127.0.0.1:%d/ws" % (base + i), "location": "Node %d" % i}
         for i in range(40)]
json.dump({"allow_insecure_ws": True,
           "defaults": {"versions": ["v1"], "capacity": 1000,
                        "check": {"type": "websocket", "timeout_ms": 2000, "rise": 1, "fall": 1}},
           "nodes": nodes}, open(sys.argv[1], "w"), indent=1)
PY

# A RESP client: reads nodes and round in one MULTI/EXEC, as one picture.
cat > "$T_DIR/resp.py" <<'PY'
import json, socket, sys, time
class Redis:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")
    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
    def reply(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t in (b"+", b"-"):
            return rest.decode()
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError(line)
    def picture(self):
        for c in (("MULTI",), ("HGETALL", "wsb:nodes"), ("HGETALL", "wsb:round"), ("EXEC",)):
            self.send(*c)
        for _ in range(3):
            self.reply()
        nodes, rnd = self.reply()
        nodes = dict(zip(nodes[::2], nodes[1::2]))
        rnd = dict(zip(rnd[::2], rnd[1::2]))
        return nodes, rnd
def describe(nodes, rnd):
    """(round at, set of checked_at, number of nodes, number online)"""
    recs = [json.loads(v) for v in nodes.values()]
    return (rnd.get("at"), sorted({str(r.get("checked_at")) for r in recs}), len(recs),
            sum(1 for r in recs if r.get("online")))
if __name__ == "__main__":
    port, mode = int(sys.argv[1]), sys.argv[2]
    r = Redis(port)
    if mode == "dump":            # the whole state, canonical
        nodes, rnd = r.picture()
        print(json.dumps({"nodes": nodes, "round_at": rnd.get("at")}, sort_keys=True))
    elif mode == "describe":
        print(json.dumps(describe(*r.picture())))
    elif mode == "watch":         # until the stop file appears: one line per distinct picture
        stop, seen, reads, bad = sys.argv[3], [], 0, 0
        while True:
            nodes, rnd = r.picture()
            reads += 1
            d = describe(nodes, rnd)
            if d[0] is None or d[1] != [d[0]] or d[2] != 40:
                bad += 1
                print("MIXED", json.dumps(d), flush=True)
            if not seen or seen[-1] != d[0]:
                seen.append(d[0])
                print("ROUND", d[0], flush=True)
            if stop and __import__("os").path.exists(stop):
                break
        print("READS", reads, "BAD", bad, flush=True)
PY
dump() { python3 "$T_DIR/resp.py" "$T_REDIS_PORT" dump; }
describe() { python3 "$T_DIR/resp.py" "$T_REDIS_PORT" describe; }

# --- round 1, complete --------------------------------------------------
"$PROBE" --inventory "$T_DIR/inventory.json" --redis "$T_REDIS_URL" --once --ttl 60 2>"$T_DIR/probe1.err"
t_eq "round 1 completes" 0 "$?"
D1=$(describe)
t_match "round 1: 40 nodes, 30 online, one checked_at equal to the round's" \
    '^\["([0-9]+)", \["\1"\], 40, 30\]$' "$D1"
S1=$(dump)

# --- killed while checking ---------------------------------------------
sleep 1.1   # the next round starts in another second, so its records differ
"$PROBE" --inventory "$T_DIR/inventory.json" --redis "$T_REDIS_URL" --once --ttl 60 2>"$T_DIR/probe2.err" &
P2=$!
sleep 1     # the hanging nodes hold the round for 2 s
kill -9 "$P2"
wait "$P2" 2>/dev/null
t_eq "probe killed by SIGKILL while checking" 137 "$?"
t_eq "killed while checking: the state is exactly round 1's" "$S1" "$(dump)"
t_rcli DEL wsb:lock >/dev/null   # the killed probe's lock would hold off the next run until it expires

# --- killed with its transaction in flight ------------------------------
# A proxy between probe and Redis passes everything up to the EXEC of the
# round and holds that back; the probe is killed while it waits.
PROXY_PORT=$(t_free_port)
cat > "$T_DIR/proxy.py" <<'PY'
import os, select, socket, sys
listen_port, redis_port, held = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
EXEC = b"*1\r\n$4\r\nEXEC\r\n"
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", listen_port)); ls.listen(8)
conns = {}
while True:
    rd, _, _ = select.select([ls] + list(conns), [], [])
    for s in rd:
        if s is ls:
            c, _ = ls.accept()
            u = socket.create_connection(("127.0.0.1", redis_port))
            conns[c] = [u, b"", False, False]   # upstream, pending, in MULTI, holding
            conns[u] = [c, None, False, False]
            continue
        data = s.recv(65536)
        peer, pending, in_multi, holding = conns[s]
        if not data:
            for x in (s, peer):
                conns.pop(x, None)
                x.close()
            continue
        if pending is None:          # Redis -> client
            peer.sendall(data)
            continue
        if holding:
            continue                 # nothing more reaches Redis from this client
        buf = pending + data
        if not in_multi and b"\r\nMULTI\r\n" in buf:
            in_multi = conns[s][2] = True
        i = buf.find(EXEC) if in_multi else -1
        if i >= 0:
            peer.sendall(buf[:i])    # MULTI ... everything but EXEC
            conns[s][3] = True
            open(held, "w").close()
            continue
        # Hold back only a tail that may be the start of EXEC.
        keep = 0
        for k in range(min(len(buf), len(EXEC) - 1), 0, -1):
            if EXEC.startswith(buf[-k:]):
                keep = k
                break
        peer.sendall(buf[:len(buf) - keep])
        conns[s][1] = buf[len(buf) - keep:]
PY
python3 "$T_DIR/proxy.py" "$PROXY_PORT" "$T_REDIS_PORT" "$T_DIR/held" 2>"$T_DIR/proxy.err" &
T_PIDS+=($!)
t_wait_for python3 -c "import socket; socket.create_connection(('127.0.0.1', $PROXY_PORT))"
"$PROBE" --inventory "$T_DIR/inventory.json" --redis "redis://127.0.0.1:$PROXY_PORT/0" --once --ttl 60 \
    2>"$T_DIR/probe3.err" &
P3=$!
for _ in $(seq 100); do [ -e "$T_DIR/held" ] && break; sleep 0.05; done
t_true "the probe sent its round up to EXEC" test -e "$T_DIR/held"
queued=$(t_rcli CLIENT LIST | sed -n 's/.* multi=\([0-9]*\) .*/\1/p' | sort -n | tail -1)
t_true "mid-transaction: Redis holds the probe's MULTI with ${queued:-no} commands queued" test "${queued:-0}" -ge 3
t_eq "mid-transaction: none of it is applied yet" "$S1" "$(dump)"
kill -9 "$P3"
wait "$P3" 2>/dev/null
sleep 0.2    # the proxy closes the connection: Redis discards the MULTI
t_eq "killed mid-transaction: the state is exactly round 1's" "$S1" "$(dump)"
t_rcli DEL wsb:lock >/dev/null

# --- a real round, watched from outside ----------------------------------
rm -f "$T_DIR/watch.stop"
python3 "$T_DIR/resp.py" "$T_REDIS_PORT" watch "$T_DIR/watch.stop" > "$T_DIR/watch.log" &
W=$!
T_PIDS+=("$W")
sleep 0.3
"$PROBE" --inventory "$T_DIR/inventory.json" --redis "$T_REDIS_URL" --once --ttl 60 2>"$T_DIR/probe4.err"
t_eq "round 4 completes" 0 "$?"
sleep 0.3
touch "$T_DIR/watch.stop"
wait "$W"
reads=$(sed -n 's/^READS \([0-9]*\) BAD \([0-9]*\)$/\1/p' "$T_DIR/watch.log")
bad=$(sed -n 's/^READS \([0-9]*\) BAD \([0-9]*\)$/\2/p' "$T_DIR/watch.log")
t_true "the reader read many times during the round ($reads)" test "${reads:-0}" -gt 100
t_eq "no read saw a mixture of rounds (of $reads)" 0 "${bad:-x}"
t_eq "the reader saw exactly two rounds: round 1, then round 4" 2 "$(grep -c '^ROUND' "$T_DIR/watch.log")"
D4=$(describe)
t_match "round 4: 40 nodes, 30 online, one checked_at" '^\["([0-9]+)", \["\1"\], 40, 30\]$' "$D4"
t_true "round 4 is newer than round 1" test "$(echo "$D4" | cut -d'"' -f2)" -gt "$(echo "$D1" | cut -d'"' -f2)"

# --- the probe stopped for good ------------------------------------------
cgi_code() {
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server \
        REMOTE_ADDR=127.0.0.1 WSB_REDIS_URL="$T_REDIS_URL" WSB_ALLOW_INSECURE_WS=1 "$BUILD/wsb-handler" \
        </dev/null 2>>"$T_DIR/cgi.err" | sed -n 's/.*"error_code":\([0-9]*\).*/\1/p; s/.*"endpoint":"\([^"]*\)".*/200/p'
}
"$PROBE" --inventory "$T_DIR/inventory.json" --redis "$T_REDIS_URL" --once --ttl 3 2>"$T_DIR/probe5.err"
t_eq "a round with a 3 s TTL" 0 "$?"
t_eq "while the state is live: served" 200 "$(cgi_code)"
ttl=$(t_rcli TTL wsb:round)
t_true "the round key expires (TTL $ttl s)" test "$ttl" -ge 1 -a "$ttl" -le 3
expired() { [ "$(cgi_code)" = 101 ]; }
t0=$(f_now_ms)
for _ in $(seq 100); do expired && break; sleep 0.1; done
t_eq "probe stopped: once the state expires the answer is 101 (no servers online)" 101 "$(cgi_code)"
t_true "  ... within the TTL and a second ($(( $(f_now_ms) - t0 )) ms)" test $(( $(f_now_ms) - t0 )) -lt 4500
t_eq "  ... while the records are still there for operators" 40 "$(t_rcli HLEN wsb:nodes)"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR"/probe*.err "$T_DIR/cgi.err"
t_summary

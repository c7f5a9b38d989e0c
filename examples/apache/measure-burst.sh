#!/usr/bin/env bash
# measure-burst.sh: how long a burst of clients waits behind Apache, for
# the examples in this folder: mod_fcgid with its default process settings,
# mod_fcgid as configured in wsbalancer-fcgid.conf, and mod_proxy_fcgi to a
# wsb-handler pool (wsbalancer-proxy-fcgi.conf).  Each runs on a private
# Apache on a free loopback port with a private Redis (nothing else is
# touched), and `wrk -t2 -c32 -d5s --latency` measures the burst:
#   cold: the first burst after Apache starts;
#   warm: a burst after 6 s of heavier load (-c128) let mod_fcgid grow.
# Run from the source tree after `make`: examples/apache/measure-burst.sh
# (or `make bench-apache`).  Needs apache2, libapache2-mod-fcgid, wrk, redis.
# Prints one line per case: p50, p90, p99 and requests/s.
set -u
. "$(dirname "$0")/../../tests/integration/web_lib.sh"
. "$T_ROOT/tests/contract.sh"
command -v wrk >/dev/null || { echo "measure-burst: wrk is missing (apt-get install wrk)" >&2; exit 1; }
EX="$T_ROOT/examples/apache"
CONC=${CONC:-32}

w_redis_acl_start >/dev/null
printf '[{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.5,"lon":-0.1,"versions":["v1"],"online":true,"load":0.1},{"id":"fra","endpoint":"wss://fra.example.net/ws","location":"Frankfurt","lat":50.1,"lon":8.7,"versions":["v1"],"online":true,"load":0.2}]' > "$T_DIR/s.json"
t_state "$T_DIR/s.json" 3600 >/dev/null

burst() {   # label URL: one wrk run, one line
    local out
    out=$(wrk -t2 -c"$CONC" -d5s --latency "$2" 2>&1)
    printf '%-40s p50 %8s  p90 %8s  p99 %8s  %8s req/s%s\n' "$1" \
        "$(awk '$1=="50%"{print $2}' <<<"$out")" "$(awk '$1=="90%"{print $2}' <<<"$out")" \
        "$(awk '$1=="99%"{print $2}' <<<"$out")" "$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
        "$(grep -q 'Non-2xx' <<<"$out" && echo '  (non-2xx answers!)')"
}

apache_case() {   # label site-file module
    local pid
    w_apache_start "$2" "$3" || { echo "apache2 -t failed: $(cat "$T_DIR/apache-configtest.log")" >&2; return 1; }
    pid=${T_PIDS[-1]}
    w_http_up "$BASE/" || { echo "Apache did not start" >&2; return 1; }
    burst "$1, cold" "$BASE/v1/websocket/server"
    wrk -t2 -c128 -d6s "$BASE/v1/websocket/server" >/dev/null 2>&1
    burst "$1, warm" "$BASE/v1/websocket/server"
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    sleep 1
}

PORT=$(t_free_port)
BASE="http://127.0.0.1:$PORT"
fcgid_site() {
    sed -e "s|127.0.0.1:8080|127.0.0.1:$PORT|g" -e "s|/var/log/apache2/|$T_DIR/apache-|g" \
        -e "s|/usr/local/bin|$BUILD|g" -e "s|redis://127.0.0.1:6379/0|$T_REDIS_URL|" \
        -e "s|/var/lib/GeoIP/GeoLite2-City.mmdb|$CONTRACT_GEOIP_DB|" "$EX/wsbalancer-fcgid.conf"
}
echo "burst of $CONC clients (wrk -t2 -c$CONC -d5s), $(nproc) CPUs"
fcgid_site | sed -E '/^\s*Fcgid(SpawnScore|TerminationScore|TimeScore|SpawnScoreUpLimit|IdleScanInterval|MaxProcesses|MaxProcessesPerClass|MinProcessesPerClass|IdleTimeout|ProcessLifeTime|MaxRequestsPerProcess|IOTimeout|ConnectTimeout)\b/d' > "$T_DIR/default.conf"
apache_case "mod_fcgid, default settings" "$T_DIR/default.conf" fcgid
fcgid_site > "$T_DIR/tuned.conf"
apache_case "mod_fcgid, wsbalancer-fcgid.conf" "$T_DIR/tuned.conf" fcgid

SOCK="$T_DIR/run/handler.sock"
w_pool_from_unit wsb-handler.service "$SOCK" www-data >/dev/null || { echo "pool did not start" >&2; exit 1; }
sed -e "s|127.0.0.1:8080|127.0.0.1:$PORT|g" -e "s|/var/log/apache2/|$T_DIR/apache-|g" \
    -e "s|unix:/run/wsbalancer/handler.sock|unix:$SOCK|" "$EX/wsbalancer-proxy-fcgi.conf" > "$T_DIR/proxy.conf"
chmod 755 "$T_DIR"; chgrp www-data "$T_DIR/run"; chmod 750 "$T_DIR/run"
apache_case "mod_proxy_fcgi + pool (wsb-handler.service)" "$T_DIR/proxy.conf" proxy_fcgi

#!/usr/bin/env bash
# package.sh (`make test-deb`; .ci/run runs it after `make test`): the
# Debian package end to end, as an operator meets it.  Builds it (make deb's
# scripts/deb.sh: lintian clean, no compiler warning, nothing written into
# the tree), installs it with `apt-get install ./wsbalancer_*.deb`, checks
# what it put where (programs and their version, man pages, units installed
# and not enabled, the wsbalancer user, conffiles, examples), configures it
# as README "Install" says (password files, edits of the environment
# files), runs the installed units' ExecStart= command lines as their User=
# and Group= with their EnvironmentFile= and RuntimeDirectory= (systemd is
# not PID 1 here) against a private Redis, puts the packaged nginx example
# in front (nginx workers as www-data) and passes the contract suite through
# it, runs the probe's unit, then upgrades to a rebuilt package (version
# bumped with dch, two conffiles changed: the edited one is kept, the other
# replaced, no prompt), removes (configuration kept) and purges (nothing
# left: files, user, /etc/wsbalancer).  Root only: skipped otherwise, and
# skipped when wsbalancer is already on this machine.  The EXIT trap purges.
. "$(dirname "$0")/../integration/web_lib.sh"
. "$T_ROOT/tests/contract.sh"

skip() { echo "SKIP $T_NAME: $*"; t_summary; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root (apt-get install of the package, a system user)"
command -v apt-get >/dev/null && command -v dpkg >/dev/null || skip "not a Debian system (no apt-get, dpkg)"
if dpkg-query -W -f='${Status}' wsbalancer 2>/dev/null | grep -q installed || getent passwd wsbalancer >/dev/null \
    || [ -e /etc/wsbalancer ]; then
    skip "wsbalancer (package, user or /etc/wsbalancer) is already on this machine: the test would replace it"
fi

APT=(apt-get -y -q -o DPkg::Lock::Timeout=120)
export DEBIAN_FRONTEND=noninteractive
DOCEX=/usr/share/doc/wsbalancer/examples
INSTALLED=""
leftovers() {   # everything of the package's that could stay behind
    find /etc /lib/systemd /usr/lib/systemd /usr/bin /usr/sbin /usr/share/doc /usr/share/man /run \
        /var/lib/systemd /var/lib/dpkg/info /nonexistent -name '*wsb*' 2>/dev/null | sort
    getent passwd wsbalancer; getent group wsbalancer
    grep -s '^Package: wsbalancer$' /var/lib/apt/extended_states
}
user_procs() { pgrep -u wsbalancer 2>/dev/null | tr '\n' ' '; }
pool_stop() {   # SIGTERM to the pool (as systemctl stop), then its workers are gone
    kill "$POOL_PID" 2>/dev/null; wait "$POOL_PID" 2>/dev/null
    for _ in $(seq 100); do [ -z "$(user_procs)" ] && break; sleep 0.05; done
}
d_cleanup() {
    t_cleanup
    if [ -n "$INSTALLED" ]; then
        for _ in $(seq 100); do [ -z "$(user_procs)" ] && break; sleep 0.05; done
        "${APT[@]}" purge wsbalancer >/dev/null 2>&1 || dpkg --purge wsbalancer >/dev/null 2>&1
    fi
}
trap d_cleanup EXIT
BEFORE=$(leftovers)
chmod 755 "$T_DIR"   # the packaged user and www-data reach the socket, the GeoIP file, the inventory

# --- build: make deb's script, in its own copy of the tree ---
git_state() { git -C "$T_ROOT" status --porcelain 2>/dev/null; ls "$T_ROOT/.." | grep '^wsbalancer_' ; }
tree_before=$(git_state)
touch "$T_DIR/marker"
start=$SECONDS
DEB_OUT="$T_DIR/v1" "$T_ROOT/scripts/deb.sh" >"$T_DIR/deb-v1.out" 2>&1
rc=$?
t_eq "make deb (scripts/deb.sh): exit 0" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -30 "$T_DIR/deb-v1.out" >&2; t_summary; exit 1; }
echo "$T_NAME: package built in $((SECONDS - start)) s"
V1=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$T_ROOT/debian/changelog")
ARCH=$(dpkg --print-architecture)
DEB1="$T_DIR/v1/wsbalancer_${V1}_$ARCH.deb"
t_true "the .deb is where deb.sh puts it" test -f "$DEB1"
t_true "lintian: no error, no warning (deb.sh fails on either)" grep -q "^deb: lintian: no errors, no warnings" "$T_DIR/deb-v1.out"
t_eq "no compiler or packaging warning in the build log" "" "$(grep -i 'warning' "$T_DIR/v1/build-$V1.log" | head -3)"
t_true "built with dpkg-buildflags (hardening: fortify, stack protector, relro/now)" \
    grep -q -- "-fstack-protector-strong.*-D_FORTIFY_SOURCE=2.*-Wl,-z,relro -Wl,-z,now" "$T_DIR/v1/build-$V1.log"
t_true "... ahead of the strict warnings (-Wformat=2 after dpkg's -Wformat)" \
    grep -q -- "-Wformat -Werror=format-security .*-Wformat=2" "$T_DIR/v1/build-$V1.log"
t_eq "the build wrote nothing into the tree or next to it" "$tree_before" "$(git_state)"
t_eq "... not even into its build folder" "" "$(find "$T_ROOT" -newer "$T_DIR/marker" ! -path "$T_ROOT/.git" | head -3)"

# --- install ---
INSTALLED=1
"${APT[@]}" install "$DEB1" </dev/null >"$T_DIR/apt-install.log" 2>&1
t_eq "apt-get install ./wsbalancer_${V1}_$ARCH.deb: exit 0" 0 "$?"
t_eq "installed, version $V1" "install ok installed $V1" "$(dpkg-query -W -f='${Status} ${Version}' wsbalancer 2>/dev/null)"
t_eq "wsb-handler --version is the package's" "wsb-handler $V1" "$(/usr/bin/wsb-handler --version 2>&1)"
t_eq "wsb-probe --version is the package's" "wsb-probe $V1" "$(/usr/bin/wsb-probe --version 2>&1)"
IFS=: read -r _ _ uid gid _ home shell <<< "$(getent passwd wsbalancer)"
t_true "a system user wsbalancer (uid $uid)" test -n "$uid" -a "${uid:-1000}" -lt 1000
t_eq "... in group www-data, no home, no shell" "$(getent group www-data | cut -d: -f3) /nonexistent /usr/sbin/nologin" \
    "$gid $home $shell"
t_true "... and no home made" test ! -e /nonexistent
t_eq "conffiles: the environment files and the inventory" \
    "/etc/wsbalancer/handler.env /etc/wsbalancer/inventory.json /etc/wsbalancer/probe.env" \
    "$(dpkg-query -W -f='${Conffiles}\n' wsbalancer | awk 'NF {print $1}' | sort | tr '\n' ' ' | sed 's/ $//')"
for u in wsb-handler.service wsb-probe.service wsb-probe.timer; do
    t_true "unit $u installed" test -f "/lib/systemd/system/$u"
done
t_true "the units run /usr/bin's programs" grep -q '^ExecStart=/usr/bin/wsb-handler ' /lib/systemd/system/wsb-handler.service
t_eq "no unit enabled" "" "$(find /etc/systemd/system -name 'wsb-*' 2>/dev/null)"
if command -v systemctl >/dev/null; then
    t_eq "systemctl: wsb-handler.service and wsb-probe.timer disabled" "disabled disabled" \
        "$(systemctl is-enabled wsb-handler.service wsb-probe.timer 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
fi
t_eq "nothing started: no process of the wsbalancer user" "" "$(user_procs)"
(cd "$T_DIR" && systemd-analyze verify --man=no /lib/systemd/system/wsb-handler.service \
    /lib/systemd/system/wsb-probe.service /lib/systemd/system/wsb-probe.timer) >"$T_DIR/verify.log" 2>&1
t_eq "systemd-analyze verify of the installed units: no complaint" "" "$(cat "$T_DIR/verify.log")"
for m in wsb-handler wsb-probe; do
    t_true "man page $m(1)" test -f "/usr/share/man/man1/$m.1.gz"
done
t_true "the man pages name the packaged examples" zgrep -q "$DOCEX" /usr/share/man/man1/wsb-handler.1.gz
t_true "web server examples in $DOCEX" test -f "$DOCEX/nginx/wsbalancer.conf" -a -f "$DOCEX/lighttpd/lighttpd.conf" \
    -a -f "$DOCEX/apache/wsbalancer-proxy-fcgi.conf"
t_eq "no /usr/local path in the packaged examples" "" "$(grep -rl /usr/local "$DOCEX")"
t_true "the packaged inventory validates, read as the wsbalancer user" \
    bash -c '"$@" >/dev/null' _ setpriv --reuid=wsbalancer --regid=www-data --init-groups wsb-probe --inventory /etc/wsbalancer/inventory.json --check-inventory

# --- configure, as README "Install" says ---
w_redis_acl_start || { t_fail "redis did not start"; t_summary; exit 1; }
for p in handler probe; do
    install -m 0400 -o wsbalancer "$T_DIR/$p.redis-password" "/etc/wsbalancer/$p.redis-password"
done
cp "$CONTRACT_GEOIP_DB" "$T_DIR/city.mmdb"; chmod 644 "$T_DIR/city.mmdb"
sed -i -e "s|127.0.0.1:6379|127.0.0.1:$T_REDIS_PORT|" -e "s|^WSB_GEOIP_DB=.*|WSB_GEOIP_DB=$T_DIR/city.mmdb|" \
    -e "s|^WSB_CACHE_MS=.*|WSB_CACHE_MS=$CONTRACT_CACHE_MS|" /etc/wsbalancer/handler.env
printf 'WSB_STALE_MAX_MS=%s\nWSB_REDIS_RETRY_MS=%s\n' "$CONTRACT_STALE_MAX_MS" "$CONTRACT_RETRY_MS" >> /etc/wsbalancer/handler.env
sed -i "s|127.0.0.1:6379|127.0.0.1:$T_REDIS_PORT|" /etc/wsbalancer/probe.env
EDITED_HANDLER=$(sha256sum < /etc/wsbalancer/handler.env)
EDITED_PROBE=$(sha256sum < /etc/wsbalancer/probe.env)

# unit_get UNIT KEY: the value of KEY= in an installed unit.
unit_get() { sed -n "s/^$2=//p" "/lib/systemd/system/$1" | tail -1; }
# unit_run UNIT LOG: the unit's ExecStart= as systemd would start it: its
# User= and Group= (setpriv), NoNewPrivileges=, the environment of its
# EnvironmentFile= only, and its RuntimeDirectory= (made here, under $T_DIR,
# owned by User:Group with RuntimeDirectoryMode=; /run/NAME/ in the command
# line points there).  In the background; sets UNIT_ARGS, UNIT_RUN, W_POOL_PID.
unit_run() {
    local unit=$1 log=$2 user group rundir mode nnp=()
    user=$(unit_get "$unit" User); group=$(unit_get "$unit" Group); group=${group:-www-data}
    rundir=$(unit_get "$unit" RuntimeDirectory); mode=$(unit_get "$unit" RuntimeDirectoryMode)
    [ "$(unit_get "$unit" NoNewPrivileges)" = yes ] && nnp=(--no-new-privs)
    w_env_file "$(unit_get "$unit" EnvironmentFile)" 's|^||'
    read -r -a UNIT_ARGS <<< "$(unit_get "$unit" ExecStart)"
    if [ -n "$rundir" ]; then
        UNIT_RUN="$T_DIR/run/$rundir"
        install -d -m "${mode:-0755}" -o "$user" -g "$group" "$UNIT_RUN"
        UNIT_ARGS=("${UNIT_ARGS[@]//\/run\/$rundir\//$UNIT_RUN/}")
    fi
    UNIT_ARGS=("${UNIT_ARGS[@]//\/etc\/wsbalancer\/inventory.json/$T_DIR/inventory.json}")
    w_pool_start "$log" W_ENV setpriv --reuid="$user" --regid="$group" --init-groups "${nnp[@]}" -- "${UNIT_ARGS[@]}"
}

# --- the handler pool, from its installed unit ---
printf '[{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.5,"lon":-0.1,"versions":["v1"],"online":true,"load":0.1}]' > "$T_DIR/one.json"
t_state "$T_DIR/one.json"
unit_run wsb-handler.service "$T_DIR/pool.log"
POOL_PID=$W_POOL_PID
SOCK="$UNIT_RUN/handler.sock"
t_true "the pool listens on its runtime directory's socket" w_wait_socket "$SOCK"
t_eq "the pool runs as wsbalancer:www-data" "wsbalancer www-data" "$(ps -o user:20=,group:20= -p "$POOL_PID" | xargs)"
t_eq "socket wsbalancer:www-data 660 in a 750 directory" "wsbalancer:www-data 660 750" \
    "$(stat -c '%U:%G %a' "$SOCK") $(stat -c %a "$UNIT_RUN")"

# --- nginx (workers as www-data) with the packaged example ---
HTTP_PORT=$(t_free_port)
sed -e "s|listen 127.0.0.1:8080;|listen 127.0.0.1:$HTTP_PORT;|" -e "s|unix:/run/wsbalancer/handler.sock|unix:$SOCK|" \
    -e "s|/var/log/nginx/|$T_DIR/nginx-|g" \
    "$DOCEX/nginx/wsbalancer.conf" > "$T_DIR/site.conf"
t_true "the packaged nginx example templated" grep -q "unix:$SOCK" "$T_DIR/site.conf"
mkdir -p "$T_DIR/nginx-tmp"
cat > "$T_DIR/nginx.conf" <<EOF
user www-data;
worker_processes 2;
pid $T_DIR/nginx.pid;
error_log $T_DIR/nginx-main.log;
events { worker_connections 1024; }
http {
    client_body_temp_path $T_DIR/nginx-tmp;
    include $T_DIR/site.conf;
}
EOF
nginx -t -c "$T_DIR/nginx.conf" -p "$T_DIR" >"$T_DIR/nginx-configtest.log" 2>&1 \
    || { t_fail "nginx config test failed"; cat "$T_DIR/nginx-configtest.log" >&2; t_summary; exit 1; }
nginx -c "$T_DIR/nginx.conf" -p "$T_DIR" -g 'daemon off;' 2>>"$T_DIR/nginx-main.log" &
T_PIDS+=($!)
BASE="http://127.0.0.1:$HTTP_PORT"
w_http_up "$BASE/" || { t_fail "nginx did not start"; cat "$T_DIR/nginx-main.log" >&2; t_summary; exit 1; }
t_match "through nginx (workers www-data) to the packaged pool" '^200 \{"endpoint":"wss://lon.example.net/ws"' \
    "$(curl -s -w '%{http_code} ' -o "$T_DIR/first" "$BASE/v1/websocket/server")$(cat "$T_DIR/first")"
contract_suite "$BASE" "$T_DIR/pool.log"
t_true "no upstream errors in nginx's log" bash -c "! grep -E '\\[(error|crit|alert)\\]' '$T_DIR/nginx-wsbalancer-error.log'"

# --- the probe, from its installed unit (inventory: one stand-in node) ---
A_PORT=$(t_free_port)
printf '{"nodes": {"%s": {"mode": "ok", "connections": 10, "capacity": 100}}}' "$A_PORT" > "$T_DIR/standin.json"
t_standin_start "$T_DIR/standin.json" || { t_fail "stand-in node did not start"; t_summary; exit 1; }
printf '{ "allow_insecure_ws": true, "defaults": { "versions": ["v1"], "check": { "type": "websocket", "timeout_ms": 2000, "rise": 1, "fall": 1 } },\n  "nodes": [ { "id": "a", "endpoint": "ws://127.0.0.1:%s/ws", "location": "A" } ] }\n' \
    "$A_PORT" > "$T_DIR/inventory.json"
chmod 644 "$T_DIR/inventory.json"
unit_run wsb-probe.service "$T_DIR/probe.log"
probe_pid=$W_POOL_PID
wait "$probe_pid"
t_eq "wsb-probe.service's command as wsbalancer, with probe.env: exit 0" 0 "$?"
t_match "its round is in Redis" '"online":true' "$(t_rcli HGET wsb:nodes a)"

# --- upgrade to a rebuilt package: version bumped, two conffiles changed ---
V2="$V1+upgradetest1"
mkdir -p "$T_DIR/src2"
tar -C "$T_ROOT" --exclude=./build --exclude='./build-*' --exclude=./.git -cf - . | tar -C "$T_DIR/src2" -xf -
(cd "$T_DIR/src2" && DEBFULLNAME="wsbalancer tests" DEBEMAIL="tests@localhost" \
    dch --newversion "$V2" --distribution unstable --force-distribution "Upgrade test." >"$T_DIR/dch.log" 2>&1)
echo "# a line the new version adds" >> "$T_DIR/src2/examples/wsbalancer/handler.env"
sed -i 's/Validate after every edit/Validate after each edit/' "$T_DIR/src2/examples/wsbalancer/inventory.json"
start=$SECONDS
DEB_SRC="$T_DIR/src2" DEB_OUT="$T_DIR/v2" DEB_LINTIAN=0 "$T_ROOT/scripts/deb.sh" >"$T_DIR/deb-v2.out" 2>&1
t_eq "the bumped package $V2 builds" 0 "$?"
echo "$T_NAME: upgrade package built in $((SECONDS - start)) s"
"${APT[@]}" -o Dpkg::Options::=--force-confold install "$T_DIR/v2/wsbalancer_${V2}_$ARCH.deb" </dev/null >"$T_DIR/apt-upgrade.log" 2>&1
t_eq "apt-get install of $V2 over $V1 (--force-confold, stdin closed): exit 0" 0 "$?"
t_eq "upgraded" "install ok installed $V2" "$(dpkg-query -W -f='${Status} ${Version}' wsbalancer 2>/dev/null)"
t_eq "wsb-handler --version follows" "wsb-handler $V2" "$(/usr/bin/wsb-handler --version 2>&1)"
t_eq "the operator's handler.env is kept" "$EDITED_HANDLER" "$(sha256sum < /etc/wsbalancer/handler.env)"
t_true "... the new one is beside it as handler.env.dpkg-dist" grep -q "a line the new version adds" /etc/wsbalancer/handler.env.dpkg-dist
t_eq "the edited probe.env, unchanged in the package, is kept" "$EDITED_PROBE" "$(sha256sum < /etc/wsbalancer/probe.env)"
t_true "the unedited inventory.json is replaced by the new one" grep -q "Validate after each edit" /etc/wsbalancer/inventory.json
t_true "the password files stay" test -s /etc/wsbalancer/handler.redis-password -a -s /etc/wsbalancer/probe.redis-password
t_eq "the user stays (same uid)" "$uid" "$(id -u wsbalancer 2>/dev/null)"
# The pool restarted from the upgraded unit serves.
pool_stop
t_state "$T_DIR/one.json"
unit_run wsb-handler.service "$T_DIR/pool2.log"
POOL_PID=$W_POOL_PID
w_wait_socket "$SOCK"
t_match "the upgraded pool serves through nginx" '^200 \{"endpoint":"wss://lon.example.net/ws"' \
    "$(curl -s -w '%{http_code} ' -o "$T_DIR/after" "$BASE/v1/websocket/server")$(cat "$T_DIR/after")"
pool_stop
t_eq "the pool stopped: no process of the wsbalancer user" "" "$(user_procs)"

# --- remove keeps the configuration, purge takes everything ---
"${APT[@]}" remove wsbalancer </dev/null >"$T_DIR/apt-remove.log" 2>&1
t_eq "apt-get remove: exit 0" 0 "$?"
t_eq "removed, configuration kept" "deinstall ok config-files" "$(dpkg-query -W -f='${Status}' wsbalancer 2>/dev/null)"
t_true "... programs gone" test ! -e /usr/bin/wsb-handler -a ! -e /usr/bin/wsb-probe -a ! -e /lib/systemd/system/wsb-handler.service
t_eq "... the operator's handler.env still there" "$EDITED_HANDLER" "$(sha256sum < /etc/wsbalancer/handler.env 2>/dev/null)"
t_true "... and the user" bash -c "getent passwd wsbalancer >/dev/null"
"${APT[@]}" purge wsbalancer </dev/null >"$T_DIR/apt-purge.log" 2>&1
t_eq "apt-get purge: exit 0" 0 "$?"
t_true "purged: dpkg knows no wsbalancer" bash -c "! dpkg-query -W -f='\${Status}' wsbalancer 2>/dev/null | grep -q ok"
t_true "/etc/wsbalancer gone (conffiles, password files, .dpkg-dist)" test ! -e /etc/wsbalancer
t_true "the user gone" bash -c "! getent passwd wsbalancer"
t_eq "nothing left behind (files, user, dpkg and apt records)" "$BEFORE" "$(leftovers)"
grep -h 'warning' "$T_DIR"/apt-*.log | grep -v 'apt does not have a stable CLI' >&2
INSTALLED=""
t_summary

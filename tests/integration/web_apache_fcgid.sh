#!/usr/bin/env bash
# web_apache_fcgid.sh: the HTTP contract (tests/contract.sh) through a real
# Apache 2.4 with mod_fcgid, configured from
# examples/apache/wsbalancer-fcgid.conf (Apache starts the handler processes
# itself; FcgidInitialEnv carries the configuration).  A private Apache:
# own ServerRoot, pid file, port; children run as www-data.  Templated only
# for ports, paths and the test's cache timings.
. "$(dirname "$0")/web_lib.sh"
. "$T_ROOT/tests/contract.sh"
EX="$T_ROOT/examples/apache/wsbalancer-fcgid.conf"
w_sandbox_ok || { t_fail "no www-data user to run Apache's children"; t_summary; exit 1; }

t_redis_start
HTTP_PORT=$(t_free_port)
sed -e "s|127.0.0.1:8080|127.0.0.1:$HTTP_PORT|g" \
    -e "s|/var/log/apache2/|$T_DIR/apache-|g" \
    -e "s|/usr/local/bin|$BUILD|g" \
    -e "s|redis://127.0.0.1:6379/0|$T_REDIS_URL|" \
    -e "s|/var/lib/GeoIP/GeoLite2-City.mmdb|$CONTRACT_GEOIP_DB|" \
    -e "s|WSB_CACHE_MS        \"1000\"|WSB_CACHE_MS \"$CONTRACT_CACHE_MS\"\n        FcgidInitialEnv WSB_STALE_MAX_MS \"$CONTRACT_STALE_MAX_MS\"\n        FcgidInitialEnv WSB_REDIS_RETRY_MS \"$CONTRACT_RETRY_MS\"|" \
    "$EX" > "$T_DIR/site.conf"
grep -q "WSB_STALE_MAX_MS" "$T_DIR/site.conf" || { t_fail "example template did not apply"; t_summary; exit 1; }
t_true "the example trusts the loopback proxy" grep -q "WSB_TRUSTED_PROXIES \"$CONTRACT_TRUSTED_PROXIES\"" "$T_DIR/site.conf"
t_true "the example allows the contract's CORS origin" grep -q "WSB_CORS_ORIGINS    \"$CONTRACT_CORS_ORIGINS\"" "$T_DIR/site.conf"
for d in FcgidMaxRequestsPerProcess FcgidMinProcessesPerClass FcgidMaxProcessesPerClass FcgidSpawnScoreUpLimit; do
    t_true "the example sets $d" grep -q "^ *$d " "$T_DIR/site.conf"
done

w_apache_start "$T_DIR/site.conf" fcgid \
    || { t_fail "apache2 -t failed"; cat "$T_DIR/apache-configtest.log" >&2; t_summary; exit 1; }
BASE="http://127.0.0.1:$HTTP_PORT"
w_http_up "$BASE/" || { t_fail "Apache did not start"; cat "$T_DIR/apache-main.log" >&2; t_summary; exit 1; }

# mod_fcgid sends the handler's stderr to Apache's main error log.
contract_suite "$BASE" "$T_DIR/apache-main.log"

# The handler processes run as www-data, started by Apache.
t_true "handler processes run under Apache as www-data" \
    bash -c "ps -o user=,args= -C wsb-handler | grep -q '^www-data .*$BUILD/wsb-handler'"
t_true "no mod_fcgid errors" bash -c "! grep -E 'mod_fcgid.*(error|can.t apply process slot)' '$T_DIR/apache-main.log' '$T_DIR/apache-wsbalancer-error.log'"
t_no_sanitizer_reports "no sanitizer reports from the handler" "$T_DIR/apache-main.log"
t_summary

/* handler_config.c: the handler's WSB_* settings, checked once at start. */
#include "handler_config.h"
#include "affinity.h"
#include "config.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

int wsb_handler_config_from_env(struct wsb_handler_config *c, char *err)
{
    char why[WSB_ERRLEN];
    memset(c, 0, sizeof *c);
    c->geoip_check_ms = 1000;
    c->snap.max_load = 0.9;
    c->snap.allow_ws = 0;
    c->snap.near_km = 300;
    c->snap.unknown_load = 0.5;
    c->snap.assumed_capacity = 10000;
    c->snap.slow_start_s = 30;
    c->snap.slow_start_min = 0.1;
    c->snap.slow_start_aggression = 1.0;
    c->cache_ms = 1000;
    c->stale_max_ms = 10000;
    c->retry_ms = 250;
    c->retry_after = 5;
    c->affinity_balance = WSB_AFFINITY_BALANCE;
    c->full_read_ms = WSB_FULL_READ_MS;
    c->log_level = WSB_LOG_INFO;
    long connect_ms = 200, command_ms = 500;
    int status;

    const char *level = wsb_env("WSB_LOG_LEVEL");
    if (level != NULL && wsb_log_level_parse(level, &c->log_level) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "WSB_LOG_LEVEL: '%.20s' is not one of error, warn, info, debug", level);
    if ((status = wsb_env_double("WSB_MAX_LOAD", 0, 1, &c->snap.max_load, err)) != WSB_OK ||
        (status = wsb_env_double("WSB_NEAR_KM", 0, 20038, &c->snap.near_km, err)) != WSB_OK ||
        (status = wsb_env_double("WSB_UNKNOWN_LOAD", 0, 1, &c->snap.unknown_load, err)) != WSB_OK ||
        (status = wsb_env_double("WSB_ASSUMED_CAPACITY", 1, 1e9, &c->snap.assumed_capacity, err)) != WSB_OK ||
        (status = wsb_env_double("WSB_SLOW_START_S", 0, 86400, &c->snap.slow_start_s, err)) != WSB_OK ||
        (status = wsb_env_double("WSB_SLOW_START_MIN", 0.01, 1, &c->snap.slow_start_min, err)) != WSB_OK ||
        (status = wsb_env_double("WSB_SLOW_START_AGGRESSION", 0.1, 10, &c->snap.slow_start_aggression, err)) !=
            WSB_OK ||
        (status = wsb_env_long("WSB_CACHE_MS", 0, 60000, &c->cache_ms, err)) != WSB_OK ||
        (status = wsb_env_long("WSB_STALE_MAX_MS", 0, 3600000, &c->stale_max_ms, err)) != WSB_OK ||
        (status = wsb_env_long("WSB_REDIS_RETRY_MS", 10, 60000, &c->retry_ms, err)) != WSB_OK ||
        (status = wsb_env_long("WSB_RETRY_AFTER", 0, 86400, &c->retry_after, err)) != WSB_OK ||
        (status = wsb_env_double("WSB_AFFINITY_BALANCE", 0.01, 10, &c->affinity_balance, err)) != WSB_OK ||
        (status = wsb_env_long("WSB_GEOIP_CHECK_MS", 100, 3600000, &c->geoip_check_ms, err)) != WSB_OK ||
        (status = wsb_env_long("WSB_BUSY_POLL_US", 0, WSB_BUSY_POLL_US_MAX, &c->busy_poll_us, err)) != WSB_OK ||
        (status = wsb_env_long("WSB_REDIS_CONNECT_TIMEOUT_MS", 10, 10000, &connect_ms, err)) != WSB_OK ||
        (status = wsb_env_long("WSB_REDIS_TIMEOUT_MS", 10, 10000, &command_ms, err)) != WSB_OK ||
        (status = wsb_env_bool("WSB_ALLOW_INSECURE_WS", &c->snap.allow_ws, err)) != WSB_OK)
        return status;

    const char *url = wsb_env("WSB_REDIS_URL");
    if (url == NULL)
        url = "redis://127.0.0.1:6379/0";
    status = wsb_redis_config_parse(url, wsb_env("WSB_REDIS_PASSWORD_FILE"), (int)connect_ms, (int)command_ms,
                                    &c->redis, why);
    if (status != WSB_OK)
        return wsb_fail(err, status, "%s: %s", status == WSB_EIO ? "WSB_REDIS_PASSWORD_FILE" : "WSB_REDIS_URL",
                        why);

    const char *prefix = wsb_env("WSB_KEY_PREFIX");
    if (prefix == NULL)
        prefix = "wsb:";
    if (wsb_keys_init(&c->keys, prefix, why) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "WSB_KEY_PREFIX: %s", why);
    snprintf(c->prefix, sizeof c->prefix, "%s", prefix);

    const char *geo = wsb_env("WSB_GEOIP_DB");
    if (geo != NULL) {
        if (strlen(geo) >= sizeof c->geoip_path)
            return wsb_fail(err, WSB_EINVAL, "WSB_GEOIP_DB: path is too long");
        strcpy(c->geoip_path, geo);
    }

    const char *trusted = wsb_env("WSB_TRUSTED_PROXIES");
    if (trusted != NULL && (status = wsb_cidr_list_parse(trusted, &c->trusted, why)) != WSB_OK)
        return wsb_fail(err, status, "WSB_TRUSTED_PROXIES: %s", why);
    if ((status = wsb_cors_parse(wsb_env("WSB_CORS_ORIGINS"), &c->cors, why)) != WSB_OK) {
        wsb_cidr_list_free(&c->trusted);
        return wsb_fail(err, status, "WSB_CORS_ORIGINS: %s", why);
    }
    /* /metrics: loopback only unless said otherwise; "none" lets nobody. */
    const char *allow = wsb_env("WSB_METRICS_ALLOW");
    if (allow == NULL)
        allow = "127.0.0.0/8,::1";
    else if (strcmp(allow, "none") == 0)
        allow = "";
    if ((status = wsb_cidr_list_parse(allow, &c->metrics_allow, why)) != WSB_OK) {
        wsb_handler_config_free(c);
        return wsb_fail(err, status, "WSB_METRICS_ALLOW: %s", why);
    }
    const char *host = wsb_env("WSB_METRICS_HOST");
    if (host == NULL) {
        wsb_metrics_default_host(c->metrics_host);
    } else if (wsb_metrics_host_check(host, why) != WSB_OK) {
        wsb_handler_config_free(c);
        return wsb_fail(err, WSB_EINVAL, "WSB_METRICS_HOST: %s", why);
    } else {
        snprintf(c->metrics_host, sizeof c->metrics_host, "%s", host);
    }
    return WSB_OK;
}

void wsb_handler_config_free(struct wsb_handler_config *c)
{
    if (c == NULL)
        return;
    wsb_cidr_list_free(&c->trusted);
    wsb_cors_free(&c->cors);
    wsb_cidr_list_free(&c->metrics_allow);
    memset(&c->redis, 0, sizeof c->redis);
}


/* handler_config.h: the handler's settings, read once from the WSB_*
 * environment at start; every error names the variable. */
#ifndef WSB_HANDLER_CONFIG_H
#define WSB_HANDLER_CONFIG_H

#include "cors.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "redis.h"
#include "snapshot.h"
#include "keys.h"

/* Even when change detection says nothing changed, the whole state is read
 * at least this often (see state_cache.c). */
#define WSB_FULL_READ_MS 30000

/* The longest WSB_BUSY_POLL_US: a loop never polls more than 10 ms
 * without a request or a connection. */
#define WSB_BUSY_POLL_US_MAX 10000

struct wsb_handler_config {
    struct wsb_redis_config redis;
    struct wsb_keys keys;
    char prefix[WSB_MAX_PREFIX + 1];
    char geoip_path[4096];          /* "" for no geography */
    long geoip_check_ms;
    struct wsb_cidr_list trusted;   /* owned */
    struct wsb_cors cors;           /* owned */
    struct wsb_cidr_list metrics_allow; /* owned; who may read /metrics (WSB_METRICS_ALLOW) */
    char metrics_host[WSB_METRICS_HOST_MAX + 1]; /* the host label (WSB_METRICS_HOST) */
    struct wsb_snapshot_params snap;
    long cache_ms;                  /* how long a snapshot is fresh */
    long stale_max_ms;              /* how long the last good one serves while Redis is down */
    long retry_ms;                  /* least time between reconnect attempts */
    long retry_after;               /* Retry-After of 503 answers, seconds */
    long busy_poll_us;              /* after its last request or connection, how long an event
                                       loop polls before it sleeps (0: never; event_loop.c) */
    double affinity_balance;        /* ?affinity=: a node keeps its keys while its load is
                                       within (1 + this) x the candidates' mean (affinity.h) */
    long full_read_ms;              /* the whole state is read at least this often, changed or not
                                       (30 s; not from the environment: tests may lower it) */
    enum wsb_log_level log_level;
};

/* Reads every WSB_* variable.  Returns WSB_OK, or WSB_EINVAL/WSB_EIO/
 * WSB_ENOMEM with a reason naming the variable in err; on error nothing
 * needs freeing. */
int wsb_handler_config_from_env(struct wsb_handler_config *c, char *err);

/* Frees what the config owns; NULL accepted. */
void wsb_handler_config_free(struct wsb_handler_config *c);

#endif

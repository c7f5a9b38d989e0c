/* handler.h: the balancer handler's configuration (WSB_* environment) and
 * its per-process runtime: Redis state cache, GeoIP database, and the
 * request function that turns CGI parameters into a response. */
#ifndef WSB_HANDLER_H
#define WSB_HANDLER_H

#include "clock.h"
#include "log.h"
#include "netaddr.h"
#include "redis.h"
#include "request.h"
#include "select.h"
#include "snapshot.h"
#include "state.h"

#include <stdint.h>

struct wsb_handler_config {
    struct wsb_redis_config redis;
    struct wsb_keys keys;
    char prefix[WSB_MAX_PREFIX + 1];
    char geoip_path[4096];          /* "" for no geography */
    long geoip_check_ms;
    struct wsb_cidr_list trusted;   /* owned */
    struct wsb_cors cors;           /* owned */
    struct wsb_snapshot_params snap;
    long cache_ms;                  /* how long a snapshot is fresh */
    long stale_max_ms;              /* how long the last good one serves while Redis is down */
    long retry_ms;                  /* least time between reconnect attempts */
    long retry_after;               /* Retry-After of 503 answers, seconds */
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

struct wsb_handler;

/* Takes ownership of *c (which is zeroed).  Opens the GeoIP database (a
 * failure is logged, not fatal) and prepares the state cache; Redis is
 * first contacted by the first request.  NULL on ENOMEM. */
struct wsb_handler *wsb_handler_new(struct wsb_handler_config *c);
void wsb_handler_free(struct wsb_handler *h);

/* Per-thread working state: selection scratch and random generator. */
struct wsb_worker {
    struct wsb_select_scratch scratch;
    uint64_t rng;
};

void wsb_worker_init(struct wsb_worker *w);
void wsb_worker_free(struct wsb_worker *w);

/* Answers one request whose parameters get() returns.  Never fails: every
 * outcome is an HTTP answer in *out. */
void wsb_handle(struct wsb_handler *h, struct wsb_worker *w, wsb_param_fn get, void *ctx,
                struct wsb_response *out);

/* Starts a thread that refreshes the snapshot in the background whenever
 * it falls due (every WSB_CACHE_MS, requests or not: with change detection
 * an unchanged state costs four small commands), so that requests never
 * wait for Redis and an idle process's snapshot stays current.  For
 * long-lived FastCGI processes; start it after any fork.  With
 * WSB_CACHE_MS=0 no thread is started (every request reads Redis).
 * Returns WSB_OK or WSB_ESYS (requests then refresh by themselves, as
 * without it). */
int wsb_handler_start_refresher(struct wsb_handler *h);

/* Stops and joins the refresher; a no-op when none runs. */
void wsb_handler_stop_refresher(struct wsb_handler *h);

/* For --check: fetches the state once and describes it in buf.
 * Returns WSB_OK or the status of the failure (reason in buf). */
int wsb_handler_check(struct wsb_handler *h, char *buf, size_t len);

#endif

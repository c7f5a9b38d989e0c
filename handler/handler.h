/* handler.h: one handler process's runtime: its settings, its state cache
 * over Redis and its GeoIP database, and the request function that turns
 * CGI parameters into a response. */
#ifndef WSB_HANDLER_H
#define WSB_HANDLER_H

#include "clock.h"
#include "geo.h"
#include "handler_config.h"
#include "http.h"
#include "metrics.h"
#include "select.h"
#include "state_cache.h"

#include <stddef.h>
#include <stdint.h>

/* What a process serves with.  Built by wsb_handler_new, read by the
 * request threads (handle.c) and by --check (check.c). */
struct wsb_metrics_reader;

struct wsb_handler {
    struct wsb_handler_config cfg;  /* owned */
    struct wsb_state_cache *cache;  /* owned; borrows cfg */
    struct wsb_geo *geo;            /* owned; NULL without WSB_GEOIP_DB */
    struct wsb_metrics *metrics;    /* owned; this process's counters */
    struct wsb_metrics_reader *reader; /* owned; what a /metrics scrape reads Redis with */
};

/* Takes ownership of *c (which is zeroed).  Opens the GeoIP database (a
 * failure is logged, not fatal) and prepares the state cache; Redis is
 * first contacted by the first request.  NULL on ENOMEM, with *c freed. */
struct wsb_handler *wsb_handler_new(struct wsb_handler_config *c);

/* Stops the refresher, then frees everything; NULL accepted. */
void wsb_handler_free(struct wsb_handler *h);

struct wsb_query;

/* Per-thread working state: selection scratch, query buffer and random
 * generator. */
struct wsb_worker {
    struct wsb_select_scratch scratch;
    uint64_t rng;
    int uncounted;            /* answers are not clients (the priming request): not tallied */
    struct wsb_query *query;  /* owned; the parsed query parameters (query.h), NULL until needed */
};

void wsb_worker_init(struct wsb_worker *w);
void wsb_worker_free(struct wsb_worker *w);

/* Answers one request whose parameters get() returns.  Never fails: every
 * outcome is an HTTP answer in *out. */
void wsb_handle(struct wsb_handler *h, struct wsb_worker *w, wsb_param_fn get, void *ctx,
                struct wsb_response *out);

/* Answers one made-up GET, so that the state is read once before the
 * first real request: a process does not then meet its first burst
 * without a snapshot.  Costs one Redis round trip (or the connect
 * timeout, when Redis is down: then requests would answer 503 anyway). */
void wsb_handler_prime(struct wsb_handler *h);

/* A long-lived process: its reads watch the state from the first on
 * (wsb_state_cache_watch). */
void wsb_handler_watch_state(struct wsb_handler *h);

/* The refresher of the state cache (state_cache.h). */
int wsb_handler_start_refresher(struct wsb_handler *h);
void wsb_handler_stop_refresher(struct wsb_handler *h);

/* For --check: fetches the state once and describes it in buf.
 * Returns WSB_OK or the status of the failure (reason in buf). */
int wsb_handler_check(struct wsb_handler *h, char *buf, size_t len);

#endif

/* state_cache.h: the process's current snapshot of the Redis state, kept
 * fresh by a refresher thread (FastCGI) or by the requests themselves
 * (CGI), with the stale window of a Redis outage. */
#ifndef WSB_STATE_CACHE_H
#define WSB_STATE_CACHE_H

#include "handler_config.h"
#include "redis.h"
#include "snapshot.h"

struct wsb_state_cache;

/* A cache over the settings in cfg, which it borrows (cfg must outlive
 * it).  Redis is first contacted by the first wsb_state_cache_get.
 * Returns NULL on ENOMEM.  Free with wsb_state_cache_free. */
struct wsb_state_cache *wsb_state_cache_new(const struct wsb_handler_config *cfg);

/* Stops the refresher first (it uses everything else), then frees; NULL
 * accepted. */
void wsb_state_cache_free(struct wsb_state_cache *c);

/* Returns a referenced snapshot (release with wsb_snapshot_unref), or NULL
 * when there is no usable state: the answer is then 503 with error 100.
 * With a refresher running it never waits for Redis; without one, a
 * snapshot that fell due is refreshed by the caller (bounded by the Redis
 * timeouts, and by WSB_REDIS_RETRY_MS while Redis is down). */
struct wsb_snapshot *wsb_state_cache_get(struct wsb_state_cache *c, long long now_ms);

/* Starts a thread that refreshes the snapshot whenever it falls due
 * (every WSB_CACHE_MS, requests or not: with change detection an unchanged
 * state costs four small commands), so that requests never wait for Redis
 * and an idle process's snapshot stays current.  For long-lived FastCGI
 * processes; start it after any fork.  With WSB_CACHE_MS=0 no thread is
 * started (every request reads Redis).  Returns WSB_OK or WSB_ESYS
 * (requests then refresh by themselves, as without it). */
int wsb_state_cache_start_refresher(struct wsb_state_cache *c);

/* The reads watch the state from the first on (state_watch.h), for a
 * process that will keep its snapshot: its first refresh then asks whether
 * anything changed instead of reading the whole state again (at 100,000
 * nodes, a second full read per process start).  A CGI run never calls it.
 * Call before the first read; wsb_state_cache_start_refresher calls it. */
void wsb_state_cache_watch(struct wsb_state_cache *c);

/* Stops and joins the refresher; a no-op when none runs. */
void wsb_state_cache_stop_refresher(struct wsb_state_cache *c);

/* Writes the answers counted since the last refresh to Redis (assign.h)
 * at once, as a refresh would: for a process about to end (a CGI request,
 * a stopping FastCGI process).  Waits for a refresh under way.  Failures
 * are logged; cannot fail otherwise. */
void wsb_state_cache_flush(struct wsb_state_cache *c);

/* Counts the refreshes, full reads and Redis errors in m (borrowed: it
 * outlives c; NULL: none), and flushes m at every refresh (metrics.h) and
 * at wsb_state_cache_flush.  Call before the refresher starts. */
struct wsb_metrics;
void wsb_state_cache_set_metrics(struct wsb_state_cache *c, struct wsb_metrics *m);

/* How old the process's view of the state is: ms since the last read
 * that found it (a full read, or a check that it had not changed); -1
 * when there is no snapshot.  now_ms is monotonic (wsb_now_ms). */
long long wsb_state_cache_age_ms(struct wsb_state_cache *c, long long now_ms);

/* The cache's Redis connection, for a one-off read (--check) while no
 * refresher runs. */
struct wsb_redis *wsb_state_cache_redis(struct wsb_state_cache *c);

#endif

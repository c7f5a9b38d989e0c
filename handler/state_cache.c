/* state_cache.c: the current snapshot over Redis, its refresh (change
 * check, full read, build, install) and the refresher thread. */
#define _GNU_SOURCE
#include "state_cache.h"
#include "assign.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "state_watch.h"
#include "status.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_SHIFT_MAX 2         /* timed-out reads in a row wait up to 4 x WSB_REDIS_RETRY_MS */

struct wsb_state_cache {
    const struct wsb_handler_config *cfg;   /* borrowed */
    struct wsb_redis *redis;        /* used under refresh_lock only */
    struct wsb_assign *assign;      /* the answers' accounting; refresh_lock only */
    struct wsb_metrics *metrics;    /* borrowed, NULL: none; flushed under refresh_lock */
    int flush_at_refresh;           /* a long-lived process (start_refresher was called): the
                                       counters go at the refreshes; a CGI process flushes
                                       once, after its answer */
    pthread_mutex_t snap_lock;      /* guards the fields below */
    struct wsb_snapshot *snap;      /* NULL: no usable state (answers 100) */
    long long fresh_until_ms;
    long long good_at_ms;           /* the last read that found the state (monotonic), 0 never */
    long long down_since_ms;        /* first failed read of the current outage, 0 when up */
    int refresher_running;
    pthread_mutex_t refresh_lock;   /* one refresh at a time; others serve on; guards the fields below */
    long long next_try_ms;
    int attempted;                  /* a full read has ended, well or not (set under snap_lock) */
    int redis_down;
    char down_reason[WSB_ERRLEN];   /* the last reason logged while redis_down */
    size_t last_skipped;
    /* Change detection (state_watch.h): the snapshot's read is watched,
     * and a refresh first asks whether anything changed since. */
    struct wsb_state_watch watch;
    int watching;                   /* 0 until the first good read or wsb_state_cache_watch: a CGI
                                     * process reads once, never watches */
    int watch_warned;               /* the refusal was logged */
    int round_id_warned;            /* a refused read of the round's id was logged */
    int chunk_warned;               /* a refused HLEN or HSCAN was logged */
    long long fault_seen_at;        /* the fault_at of the probe fault last logged (0 none) */
    long long full_read_due_ms;     /* a full read from then on, changed or not */
    int timeouts;                   /* full reads in a row that timed out (Redis busy): the back-off */
    /* The background refresher (FastCGI modes). */
    pthread_t refresher;
    pthread_mutex_t refresher_lock;
    pthread_cond_t refresher_cond;  /* signalled to stop the refresher */
    int refresher_stop;             /* under refresher_lock */
};

struct wsb_state_cache *wsb_state_cache_new(const struct wsb_handler_config *cfg)
{
    struct wsb_state_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->cfg = cfg;
    c->redis = wsb_redis_new(&cfg->redis);
    c->assign = wsb_assign_new(&cfg->redis, &cfg->keys, cfg->retry_ms, cfg->cache_ms);
    if (c->redis == NULL || c->assign == NULL) {
        wsb_redis_free(c->redis);
        wsb_assign_free(c->assign);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->snap_lock, NULL);
    pthread_mutex_init(&c->refresh_lock, NULL);
    pthread_mutex_init(&c->refresher_lock, NULL);
    /* The refresher sleeps on the monotonic clock, as every deadline here
     * is: a wall clock stepped back must not hold its refresh. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->refresher_cond, &ca);
    pthread_condattr_destroy(&ca);
    return c;
}

void wsb_state_cache_free(struct wsb_state_cache *c)
{
    if (c == NULL)
        return;
    wsb_state_cache_stop_refresher(c);
    wsb_assign_free(c->assign);
    wsb_snapshot_unref(c->snap);
    wsb_redis_free(c->redis);
    pthread_mutex_destroy(&c->snap_lock);
    pthread_mutex_destroy(&c->refresh_lock);
    pthread_mutex_destroy(&c->refresher_lock);
    pthread_cond_destroy(&c->refresher_cond);
    free(c);
}

struct wsb_redis *wsb_state_cache_redis(struct wsb_state_cache *c)
{
    return c->redis;
}

/* Entry i of the snapshot as a memo entry for wsb_state_read_memo: the
 * decode of its record, which wsb_snapshot_build leaves as the record
 * says (the state's expiry and run-time drains live in the snap node). */
static const struct wsb_node *snapshot_memo_get(const void *ctx, size_t i)
{
    const struct wsb_snapshot *s = ctx;
    return &s->nodes[i].node;
}

/* Logs, once per process, that Redis refuses change detection. */
static void note_refusal(struct wsb_state_cache *c)
{
    if (!c->watch.refused || c->watch_warned)
        return;
    c->watch_warned = 1;
    wsb_log_warn("redis %s: no change detection (%s): reading the whole state every %ld ms; "
                 "grant the handler's user +watch +multi +exec",
                 wsb_redis_current(c->redis), c->watch.why_refused, c->cfg->cache_ms);
}

/* Where one refresh stands between its steps. */
struct refresh {
    long long now;
    int reused;                     /* the read goes over a connection kept from before */
    char was[300];                  /* the Redis address before the refresh */
    char lost[WSB_ERRLEN];          /* why a kept connection was found dead, "" if not */
    char err[WSB_ERRLEN];
    int timed_out;                  /* the full read failed after waiting the command timeout */
};

/* Step 1: the cheap question, when a watched read stands behind the
 * snapshot: did anything change since?  Four small commands in one round
 * trip.  Returns 1 when unchanged (the snapshot was kept fresh), 0 when the
 * state must be read in full. */
static int ask_unchanged(struct wsb_state_cache *c, struct refresh *r)
{
    if (!c->watching || c->watch.refused || c->snap == NULL || r->now >= c->full_read_due_ms)
        return 0;
    enum wsb_state_change change = wsb_state_check(c->redis, &c->cfg->keys, &c->watch, r->err);
    if (change == WSB_STATE_UNCHANGED) {
        pthread_mutex_lock(&c->snap_lock);
        c->fresh_until_ms = r->now + c->cfg->cache_ms;
        c->good_at_ms = r->now;
        pthread_mutex_unlock(&c->snap_lock);
        return 1;
    }
    wsb_log_debug("state: %s (%s): reading it whole", wsb_state_change_name(change), r->err);
    /* A kept connection that died shows here first; the read below, on a
     * new one, is the one more try. */
    if (change == WSB_STATE_CHECK_FAILED && r->reused && !wsb_redis_connected(c->redis)) {
        snprintf(r->lost, sizeof r->lost, "%s", r->err);
        r->reused = 0;
    }
    return 0;
}

/* Step 2: the full read.  Records unchanged since the current snapshot are
 * copied from it, not decoded again (only a refresh replaces c->snap, under
 * refresh_lock, so it stays put during the read).  A connection kept from
 * before may have died quietly (Redis restarted while this process was
 * idle, or a replica went away): one more try on a new connection, address
 * after address, tells that apart from Redis being down. */
static int read_full(struct wsb_state_cache *c, struct refresh *r, struct wsb_state *st)
{
    struct wsb_state_memo memo = { 0, snapshot_memo_get, c->snap, 0 };
    if (c->snap != NULL)
        memo.n = c->snap->n_nodes;
    /* The last read found a small hash: read it in one round trip.  After
     * a failure its size is asked first again (it may have grown). */
    memo.small = c->snap != NULL && c->timeouts == 0 && c->snap->n_nodes + c->last_skipped <= WSB_STATE_CHUNK;
    struct wsb_state_watch *watch = c->watching ? &c->watch : NULL;
    long long t0 = wsb_now_ms();
    int status = wsb_state_read_watched(c->redis, &c->cfg->keys, &memo, watch, st, r->err);
    /* One more try only for a connection found closed, not for one that
     * timed out: Redis is then busy, and the read just abandoned is still
     * queued there. */
    r->timed_out = status == WSB_EREDIS && wsb_now_ms() - t0 >= c->cfg->redis.command_timeout_ms;
    if (status == WSB_EREDIS && r->reused && !r->timed_out && !wsb_redis_connected(c->redis)) {
        snprintf(r->lost, sizeof r->lost, "%s", r->err);
        status = wsb_state_read_watched(c->redis, &c->cfg->keys, &memo, watch, st, r->err);
    }
    if (r->lost[0] != '\0' && status == WSB_OK) {
        if (strcmp(r->was, wsb_redis_current(c->redis)) != 0)
            wsb_log_warn("redis %s: connection lost (%s); now reading from redis %s", r->was, r->lost,
                         wsb_redis_current(c->redis));
        else
            wsb_log_info("redis %s: connection lost (%s); reconnected", r->was, r->lost);
    }
    if (status == WSB_OK)
        note_refusal(c);
    return status;
}

/* Logs once when the probe starts or stops reporting a fault on the live
 * round (README "When nodes are down: the all-down policy"): once an
 * episode, known by its fault_at, whatever its text says round by round. */
static void note_fault(struct wsb_state_cache *c, const struct wsb_state *st)
{
    int faulty = st->live && st->fault[0] != '\0';
    long long since = faulty ? (st->fault_at > 0 ? st->fault_at : 1) : 0;
    if (since == c->fault_seen_at)
        return;
    if (faulty) {
        long long age = st->round_at > 0 ? (long long)time(NULL) - st->round_at : -1;
        wsb_log_warn("state: the probe reports a fault (%s); answering from the last counted round (%lld s old) "
                     "until it expires", st->fault, age);
    } else if (st->live) {
        wsb_log_info("state: the probe counts rounds again (the fault has cleared)");
    }
    c->fault_seen_at = since;
}

/* Step 3: the snapshot of a good read (which it consumes). */
static int build(struct wsb_state_cache *c, struct refresh *r, struct wsb_state *st, struct wsb_snapshot **out)
{
    size_t skipped = st->n_skipped;
    if (skipped != c->last_skipped && skipped > 0)
        wsb_log_warn("state: skipped %zu malformed node record(s); first: %s", skipped, st->skip_reason);
    else if (skipped == 0 && c->last_skipped > 0)
        wsb_log_info("state: no malformed node records any more");
    c->last_skipped = skipped;
    if (st->round_err[0] != '\0' && st->live && !c->round_id_warned) {
        wsb_log_warn("redis %s: the round's id is unreadable (%s): no assignment accounting; grant the handler's "
                     "user +hmget +hincrby +expire and ~%sassigned:* ~%sstarts:* (examples/redis/users.acl)",
                     wsb_redis_current(c->redis), st->round_err, c->cfg->prefix, c->cfg->prefix);
        c->round_id_warned = 1;
    }
    note_fault(c, st);
    /* Said only where it matters: a hash that is read in one reply although
     * chunks were due (with an ACL from before, small ones read as always). */
    if (st->chunk_err[0] != '\0' && st->n + skipped > WSB_STATE_CHUNK && !c->chunk_warned) {
        wsb_log_warn("redis %s: the node hash cannot be read in chunks (%s): reading it in one reply, which at "
                     "100,000 nodes keeps Redis busy for each read; grant the handler's user +hlen +hscan "
                     "(examples/redis/users.acl)", wsb_redis_current(c->redis), st->chunk_err);
        c->chunk_warned = 1;
    }
    int status = wsb_snapshot_build(st->nodes, st->n, st->live, st->drain_ids, st->n_drain, skipped, &c->cfg->snap,
                                    c->snap, out);
    if (status != WSB_OK) {
        snprintf(r->err, sizeof r->err, "building the snapshot: %s", wsb_strerror(status));
    } else {
        snprintf((*out)->round_id, sizeof (*out)->round_id, "%s", st->round_id);
        (*out)->round_ttl = st->round_ttl;
        (*out)->round_at = st->round_at;
        wsb_assign_adopt(c->snap, *out);
    }
    wsb_state_clear(st);
    return status;
}

/* Step 4a: the new snapshot serves from now on.  Returns the old one, to
 * release outside the lock. */
static struct wsb_snapshot *install(struct wsb_state_cache *c, long long now, struct wsb_snapshot *fresh)
{
    pthread_mutex_lock(&c->snap_lock);
    struct wsb_snapshot *old = c->snap;
    c->snap = fresh;
    c->fresh_until_ms = now + c->cfg->cache_ms;
    c->good_at_ms = now;
    c->down_since_ms = 0;
    pthread_mutex_unlock(&c->snap_lock);
    c->full_read_due_ms = now + c->cfg->full_read_ms;
    c->watching = 1;
    c->timeouts = 0;
    return old;
}

/* Step 4b: the refresh failed.  The stale window opens at the outage's
 * first failed read, not at the last good one, so that a process that was
 * idle before the outage still serves its last state for the whole window;
 * past it the snapshot is dropped.  Returns the dropped snapshot or NULL. */
static struct wsb_snapshot *fail(struct wsb_state_cache *c, long long now, int timed_out)
{
    /* Nothing watched covers the snapshot now: the next refresh reads the
     * whole state. */
    wsb_state_watch_forget(&c->watch);
    /* Counted from the end of the failed attempt: when Redis is slow rather
     * than gone, the attempt itself took up to the command timeout, and
     * counting from its start would let every request wait for it again. */
    long long ended = wsb_now_ms();
    /* A read that timed out found Redis busy (a large state on a loaded
     * host): each further one in a row waits twice as long, up to
     * BACKOFF_MAX times WSB_REDIS_RETRY_MS, and never less than the failed
     * attempt took, so that the processes' retries cannot keep Redis busy
     * (README "Large fleets").  A refused connection retries at the
     * plain pace. */
    long long wait = c->cfg->retry_ms;
    if (timed_out) {
        c->timeouts++;
        int shift = c->timeouts - 1 < BACKOFF_SHIFT_MAX ? c->timeouts - 1 : BACKOFF_SHIFT_MAX;
        wait = c->cfg->retry_ms << shift;
        if (wait < ended - now)
            wait = ended - now;
    }
    c->next_try_ms = ended + wait;
    struct wsb_snapshot *old = NULL;
    pthread_mutex_lock(&c->snap_lock);
    if (c->down_since_ms == 0)
        c->down_since_ms = now;
    /* Measured to the end of this attempt: against a Redis that accepts
     * but never answers, the first attempt alone may outlast the window. */
    if (c->snap != NULL && ended - c->down_since_ms > c->cfg->stale_max_ms) {
        old = c->snap;
        c->snap = NULL;
    }
    pthread_mutex_unlock(&c->snap_lock);
    return old;
}

/* Step 5: one log line per change of Redis's condition. */
static void log_outcome(struct wsb_state_cache *c, int status, const char *err, int dropped)
{
    if (status == WSB_OK && c->redis_down) {
        wsb_log_info("redis %s: state readable again", wsb_redis_current(c->redis));
        c->redis_down = 0;
    } else if (status != WSB_OK && !c->redis_down) {
        wsb_log_error("state unreadable: %s; serving the last good state for up to %ld ms, then 503", err,
                      c->cfg->stale_max_ms);
        c->redis_down = 1;
        snprintf(c->down_reason, sizeof c->down_reason, "%s", err);
    } else if (status != WSB_OK) {
        /* A new reason while down (the connection dropped, then the login
         * refused) is what an operator needs: log each change once. */
        if (strcmp(err, c->down_reason) != 0) {
            wsb_log_error("state still unreadable: %s", err);
            snprintf(c->down_reason, sizeof c->down_reason, "%s", err);
        }
        if (dropped)
            wsb_log_error("state unreadable for more than %ld ms: answering 503 (error 100) until redis returns",
                          c->cfg->stale_max_ms);
    }
}

/* Step 6, after a good refresh: this process's answers since the last one
 * go to Redis, and every process's come back (assign.h).  retired is the
 * snapshot just replaced, NULL when none.  Its failures log themselves and
 * never fail the refresh: the snapshot serves on. */
static void exchange(struct wsb_state_cache *c, struct wsb_snapshot *retired)
{
    char err[WSB_ERRLEN];
    if (c->snap != NULL)
        wsb_assign_exchange(c->assign, retired, c->snap, wsb_unix_ms(), err);
}

/* After a good refresh: the process's counters go to Redis when due
 * (metrics.h); a failure logs itself. */
static void flush_metrics(struct wsb_state_cache *c, int force)
{
    char err[WSB_ERRLEN];
    if (c->metrics != NULL && (force || c->flush_at_refresh))
        wsb_metrics_flush(c->metrics, wsb_assign_writer(c->assign), wsb_unix_ms(), force, err);
}

void wsb_state_cache_flush(struct wsb_state_cache *c)
{
    pthread_mutex_lock(&c->refresh_lock);
    exchange(c, NULL);
    flush_metrics(c, 1);
    pthread_mutex_unlock(&c->refresh_lock);
}

void wsb_state_cache_set_metrics(struct wsb_state_cache *c, struct wsb_metrics *m)
{
    c->metrics = m;
}

long long wsb_state_cache_age_ms(struct wsb_state_cache *c, long long now_ms)
{
    pthread_mutex_lock(&c->snap_lock);
    long long at = c->snap != NULL ? c->good_at_ms : 0;
    pthread_mutex_unlock(&c->snap_lock);
    return at > 0 ? now_ms - at : -1;
}

/* Fetches the state and installs a new snapshot, or keeps the current one
 * when nothing changed.  Called with refresh_lock held; takes snap_lock
 * only to swap. */
static void refresh(struct wsb_state_cache *c, long long now)
{
    if (now < c->next_try_ms)
        return;
    struct refresh r;
    memset(&r, 0, sizeof r);
    r.now = now;
    r.reused = wsb_redis_connected(c->redis);
    snprintf(r.was, sizeof r.was, "%s", wsb_redis_current(c->redis));
    wsb_metrics_add(c->metrics, WSB_M_REFRESHES, 1);
    if (ask_unchanged(c, &r)) {
        exchange(c, NULL);
        flush_metrics(c, 0);
        return;
    }
    struct wsb_state st;
    struct wsb_snapshot *fresh = NULL, *old = NULL;
    wsb_metrics_add(c->metrics, WSB_M_FULL_READS, 1);
    int status = read_full(c, &r, &st);
    if (status == WSB_OK)
        status = build(c, &r, &st, &fresh);
    int dropped = 0;
    if (status == WSB_OK) {
        old = install(c, now, fresh);
        exchange(c, old);
    } else {
        wsb_metrics_add(c->metrics, WSB_M_REFRESH_FAILURES, 1);
        if (status == WSB_EREDIS || status == WSB_EREPLY)
            wsb_metrics_add(c->metrics, WSB_M_REDIS_ERRORS, 1);
        old = fail(c, now, r.timed_out);
        dropped = old != NULL;
    }
    /* A read is over: from now on requests take what it left (until it,
     * they wait for it: a process's first read). */
    pthread_mutex_lock(&c->snap_lock);
    c->attempted = 1;
    pthread_mutex_unlock(&c->snap_lock);
    if (status == WSB_OK)
        flush_metrics(c, 0);   /* Redis down: the state's read says so, and the counts wait */
    wsb_snapshot_unref(old);
    /* The Redis reply and the replaced snapshot were freed: give the memory
     * back, so that resident memory is one snapshot, not the peak of a
     * refresh (measured with 10,000 nodes: 18 MB without, see make bench). */
    if (status == WSB_OK)
        malloc_trim(0);
    log_outcome(c, status, r.err, dropped);
}

/* Runs a refresh if the snapshot is still due once refresh_lock is held
 * (another thread may have refreshed it meanwhile). */
static void refresh_if_due(struct wsb_state_cache *c)
{
    pthread_mutex_lock(&c->snap_lock);
    int due = c->snap == NULL || wsb_now_ms() >= c->fresh_until_ms;
    pthread_mutex_unlock(&c->snap_lock);
    if (due)
        refresh(c, wsb_now_ms());
}

struct wsb_snapshot *wsb_state_cache_get(struct wsb_state_cache *c, long long now)
{
    pthread_mutex_lock(&c->snap_lock);
    struct wsb_snapshot *s = NULL;
    int fresh = c->snap != NULL && now < c->fresh_until_ms;
    if (c->refresher_running && c->attempted) {
        /* The refresher reads Redis; a request never waits for it (only
         * for the process's first read).  It drops the snapshot at the end
         * of the stale window (fail()): then the answer is 100 at once.  A
         * refresher held up longer than a refresh can take (the change
         * check, the read and its one retry on a new connection; a new
         * connection tries each address: connect, AUTH, SELECT; each bounded
         * by the Redis timeouts) is not trusted either. */
        long long attempt_ms = 3LL * (long long)(c->cfg->redis.n + 1) *
                               (c->cfg->redis.connect_timeout_ms + 3LL * c->cfg->redis.command_timeout_ms);
        if (c->snap != NULL && now <= c->fresh_until_ms + c->cfg->stale_max_ms + attempt_ms)
            s = wsb_snapshot_ref(c->snap);
        pthread_mutex_unlock(&c->snap_lock);
        return s;
    }
    /* Without a refresher (CGI, WSB_CACHE_MS=0) the request refreshes.
     * Just past its time, the snapshot keeps serving while one request
     * thread reads Redis; long past it (the process sat idle), waiting for
     * the refresh beats answering from state of unknown age. */
    int long_past = c->snap == NULL || now >= c->fresh_until_ms + c->cfg->cache_ms;
    if (fresh)
        s = wsb_snapshot_ref(c->snap);
    pthread_mutex_unlock(&c->snap_lock);
    if (s != NULL)
        return s;
    if (long_past ? pthread_mutex_lock(&c->refresh_lock) == 0 : pthread_mutex_trylock(&c->refresh_lock) == 0) {
        refresh_if_due(c);
        pthread_mutex_unlock(&c->refresh_lock);
    }
    pthread_mutex_lock(&c->snap_lock);
    s = c->snap != NULL ? wsb_snapshot_ref(c->snap) : NULL;
    pthread_mutex_unlock(&c->snap_lock);
    return s;
}

/* When the refresher should next refresh: when the snapshot falls due, but
 * no sooner than WSB_REDIS_RETRY_MS after a failure. */
static long long next_due(struct wsb_state_cache *c, long long now)
{
    pthread_mutex_lock(&c->snap_lock);
    long long due = c->snap != NULL ? c->fresh_until_ms : now;
    pthread_mutex_unlock(&c->snap_lock);
    pthread_mutex_lock(&c->refresh_lock);
    if (c->next_try_ms > due)
        due = c->next_try_ms;
    pthread_mutex_unlock(&c->refresh_lock);
    return due;
}

/* Refreshes whenever the snapshot falls due, requests or not: with change
 * detection an unchanged state costs four small commands, so an idle
 * process keeps a current snapshot (and meets a Redis outage when it
 * happens, so that its stale window opens then). */
static void *refresher_main(void *arg)
{
    struct wsb_state_cache *c = arg;
    pthread_mutex_lock(&c->refresher_lock);
    while (!c->refresher_stop) {
        long long now = wsb_now_ms();
        long long due = next_due(c, now);
        if (now >= due) {
            pthread_mutex_unlock(&c->refresher_lock);
            pthread_mutex_lock(&c->refresh_lock);
            refresh_if_due(c);
            pthread_mutex_unlock(&c->refresh_lock);
            pthread_mutex_lock(&c->refresher_lock);
            continue;
        }
        /* Sleep until due (or a stop), on the monotonic clock. */
        struct timespec ts = { (time_t)(due / 1000), (long)(due % 1000) * 1000000L };
        pthread_cond_timedwait(&c->refresher_cond, &c->refresher_lock, &ts);
    }
    pthread_mutex_unlock(&c->refresher_lock);
    return NULL;
}

void wsb_state_cache_watch(struct wsb_state_cache *c)
{
    pthread_mutex_lock(&c->refresh_lock);
    c->watching = 1;
    pthread_mutex_unlock(&c->refresh_lock);
}

int wsb_state_cache_start_refresher(struct wsb_state_cache *c)
{
    /* With WSB_CACHE_MS=0 every request reads Redis itself: a refresher
     * would only read it in a loop (and the counters go, at most every
     * WSB_METRICS_FLUSH_MS, after a request's refresh). */
    c->flush_at_refresh = 1;
    if (c->refresher_running || c->cfg->cache_ms == 0)
        return WSB_OK;
    c->refresher_stop = 0;
    wsb_state_cache_watch(c);
    /* Set before the thread runs its first exchange. */
    wsb_assign_set_periodic(c->assign, 1);
    if (pthread_create(&c->refresher, NULL, refresher_main, c) != 0) {
        wsb_assign_set_periodic(c->assign, 0);
        return WSB_ESYS;
    }
    pthread_mutex_lock(&c->snap_lock);
    c->refresher_running = 1;
    pthread_mutex_unlock(&c->snap_lock);
    return WSB_OK;
}

void wsb_state_cache_stop_refresher(struct wsb_state_cache *c)
{
    if (c == NULL || !c->refresher_running)
        return;
    pthread_mutex_lock(&c->refresher_lock);
    c->refresher_stop = 1;
    pthread_cond_signal(&c->refresher_cond);
    pthread_mutex_unlock(&c->refresher_lock);
    pthread_join(c->refresher, NULL);
    pthread_mutex_lock(&c->snap_lock);
    c->refresher_running = 0;
    pthread_mutex_unlock(&c->snap_lock);
}

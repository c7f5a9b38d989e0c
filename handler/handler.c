/* handler.c: configuration, the snapshot cache over Redis, and wsb_handle. */
#define _GNU_SOURCE
#include "handler.h"
#include "config.h"
#include "geo.h"
#include "status.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct wsb_handler {
    struct wsb_handler_config cfg;
    struct wsb_redis *redis;        /* used under refresh_lock only */
    struct wsb_geo *geo;            /* NULL without WSB_GEOIP_DB */
    pthread_mutex_t snap_lock;      /* guards the fields below */
    struct wsb_snapshot *snap;      /* NULL: no usable state (answers 100) */
    long long fresh_until_ms;
    long long last_ok_ms;
    long long down_since_ms;        /* first failed read of the current outage, 0 when up */
    pthread_mutex_t refresh_lock;   /* one refresh at a time; others serve on; guards the fields below */
    long long next_try_ms;
    int redis_down;
    char down_reason[WSB_ERRLEN];   /* the last reason logged while redis_down */
    int stale_dropped;
    size_t last_skipped;
    /* Change detection (state.h): the snapshot's read is watched, and a
     * refresh first asks whether anything changed since. */
    struct wsb_state_watch watch;
    int watching;                   /* 0 until the first good read: a CGI process reads once, never watches */
    int watch_warned;               /* the refusal was logged */
    long long full_read_due_ms;     /* a full read from then on, changed or not */
    /* The background refresher (FastCGI modes): reads Redis when the
     * snapshot falls due, so that no request waits for a refresh, and so
     * that an idle process's snapshot stays current too. */
    pthread_t refresher;
    int refresher_running;
    pthread_mutex_t refresher_lock;
    pthread_cond_t refresher_cond;  /* signalled to stop the refresher */
    int refresher_stop;             /* under refresher_lock */
};

/* Even when change detection says nothing changed, the whole state is read
 * at least this often: a safety net for anything WATCH would not see (a
 * gap between EXEC and the next WATCH, a proxy that answers MULTI/EXEC
 * without the meaning).  A full read costs what every refresh cost before
 * change detection, so once per 30 s is cheap. */
#define FULL_READ_MS 30000

int wsb_handler_config_from_env(struct wsb_handler_config *c, char *err)
{
    char why[WSB_ERRLEN];
    memset(c, 0, sizeof *c);
    c->geoip_check_ms = 1000;
    c->snap.max_load = 0.9;
    c->snap.allow_ws = 0;
    c->snap.near_km = 300;
    c->snap.unknown_load = 0.5;
    c->cache_ms = 1000;
    c->stale_max_ms = 10000;
    c->retry_ms = 250;
    c->retry_after = 5;
    c->full_read_ms = FULL_READ_MS;
    c->log_level = WSB_LOG_INFO;
    long connect_ms = 200, command_ms = 500;
    int status;

    const char *level = wsb_env("WSB_LOG_LEVEL");
    if (level != NULL && wsb_log_level_parse(level, &c->log_level) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "WSB_LOG_LEVEL: '%.20s' is not one of error, warn, info, debug", level);
    if ((status = wsb_env_double("WSB_MAX_LOAD", 0, 1, &c->snap.max_load, err)) != WSB_OK ||
        (status = wsb_env_double("WSB_NEAR_KM", 0, 20038, &c->snap.near_km, err)) != WSB_OK ||
        (status = wsb_env_double("WSB_UNKNOWN_LOAD", 0, 1, &c->snap.unknown_load, err)) != WSB_OK ||
        (status = wsb_env_long("WSB_CACHE_MS", 0, 60000, &c->cache_ms, err)) != WSB_OK ||
        (status = wsb_env_long("WSB_STALE_MAX_MS", 0, 3600000, &c->stale_max_ms, err)) != WSB_OK ||
        (status = wsb_env_long("WSB_REDIS_RETRY_MS", 10, 60000, &c->retry_ms, err)) != WSB_OK ||
        (status = wsb_env_long("WSB_RETRY_AFTER", 0, 86400, &c->retry_after, err)) != WSB_OK ||
        (status = wsb_env_long("WSB_GEOIP_CHECK_MS", 100, 3600000, &c->geoip_check_ms, err)) != WSB_OK ||
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
    return WSB_OK;
}

void wsb_handler_config_free(struct wsb_handler_config *c)
{
    if (c == NULL)
        return;
    wsb_cidr_list_free(&c->trusted);
    wsb_cors_free(&c->cors);
    memset(&c->redis, 0, sizeof c->redis);
}

struct wsb_handler *wsb_handler_new(struct wsb_handler_config *c)
{
    struct wsb_handler *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->cfg = *c;
    memset(c, 0, sizeof *c);
    h->redis = wsb_redis_new(&h->cfg.redis);
    if (h->redis == NULL)
        goto fail;
    if (h->cfg.geoip_path[0] != '\0') {
        h->geo = wsb_geo_new(h->cfg.geoip_path, h->cfg.geoip_check_ms);
        if (h->geo == NULL)
            goto fail;
        char why[WSB_ERRLEN];
        if (wsb_geo_status(h->geo, why) != WSB_OK)
            wsb_log_error("geoip: %s; serving without geography until the file is fixed", why);
    }
    pthread_mutex_init(&h->snap_lock, NULL);
    pthread_mutex_init(&h->refresh_lock, NULL);
    pthread_mutex_init(&h->refresher_lock, NULL);
    pthread_cond_init(&h->refresher_cond, NULL);
    return h;
fail:
    wsb_redis_free(h->redis);
    wsb_handler_config_free(&h->cfg);
    free(h);
    return NULL;
}

void wsb_handler_free(struct wsb_handler *h)
{
    if (h == NULL)
        return;
    wsb_snapshot_unref(h->snap);
    wsb_redis_free(h->redis);
    wsb_geo_free(h->geo);
    wsb_handler_config_free(&h->cfg);
    wsb_handler_stop_refresher(h);
    pthread_mutex_destroy(&h->snap_lock);
    pthread_mutex_destroy(&h->refresh_lock);
    pthread_mutex_destroy(&h->refresher_lock);
    pthread_cond_destroy(&h->refresher_cond);
    free(h);
}

void wsb_worker_init(struct wsb_worker *w)
{
    memset(w, 0, sizeof *w);
    if (getrandom(&w->rng, sizeof w->rng, GRND_NONBLOCK) != (ssize_t)sizeof w->rng)
        w->rng = (uint64_t)wsb_now_ms() ^ ((uint64_t)getpid() << 32);
    if (w->rng == 0)
        w->rng = 0x9e3779b97f4a7c15ull;
}

void wsb_worker_free(struct wsb_worker *w)
{
    if (w != NULL)
        wsb_select_scratch_free(&w->scratch);
}

static uint64_t next_random(struct wsb_worker *w)
{
    /* xorshift64* */
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Entry i of the snapshot as a memo entry for wsb_state_read_memo: the
 * decode of its record, which wsb_snapshot_build leaves as the record
 * says (the state's expiry and run-time drains live in the snap node). */
static const struct wsb_node *snapshot_memo_get(const void *ctx, size_t i)
{
    const struct wsb_snapshot *s = ctx;
    return &s->nodes[i].node;
}

/* The current snapshot stays: change detection says the state it was
 * built from is still the state in Redis.  Called with refresh_lock held. */
static void keep_snapshot(struct wsb_handler *h, long long now)
{
    pthread_mutex_lock(&h->snap_lock);
    h->last_ok_ms = now;
    h->fresh_until_ms = now + h->cfg.cache_ms;
    pthread_mutex_unlock(&h->snap_lock);
}

/* Logs, once per process, that Redis refuses change detection. */
static void note_refusal(struct wsb_handler *h)
{
    if (!h->watch.refused || h->watch_warned)
        return;
    h->watch_warned = 1;
    wsb_log_warn("redis %s: no change detection (%s): reading the whole state every %ld ms; "
                 "grant the handler's user +watch +multi +exec",
                 wsb_redis_current(h->redis), h->watch.why_refused, h->cfg.cache_ms);
}

/* Fetches the state and installs a new snapshot.  Called with refresh_lock
 * held; takes snap_lock only to swap. */
static void refresh(struct wsb_handler *h, long long now)
{
    if (now < h->next_try_ms)
        return;
    char err[WSB_ERRLEN], lost[WSB_ERRLEN] = "";
    struct wsb_state st;
    int reused = wsb_redis_connected(h->redis);
    char was[300];
    snprintf(was, sizeof was, "%s", wsb_redis_current(h->redis));
    /* First the cheap question: did anything change since the read the
     * snapshot was built from?  Four small commands in one round trip
     * instead of the whole state and a new snapshot.  Any other answer than "unchanged" leads to
     * the full read below. */
    if (h->watching && !h->watch.refused && h->snap != NULL && now < h->full_read_due_ms) {
        enum wsb_state_change change = wsb_state_check(h->redis, &h->cfg.keys, &h->watch, err);
        if (change == WSB_STATE_UNCHANGED) {
            keep_snapshot(h, now);
            return;
        }
        wsb_log_debug("state: %s (%s): reading it whole", wsb_state_change_name(change), err);
        /* A kept connection that died shows here first; the read below, on
         * a new one, is the one more try. */
        if (change == WSB_STATE_CHECK_FAILED && reused && !wsb_redis_connected(h->redis)) {
            snprintf(lost, sizeof lost, "%s", err);
            reused = 0;
        }
    }
    /* Records unchanged since the current snapshot are copied from it, not
     * decoded again.  Only refresh replaces h->snap, and it runs under
     * refresh_lock: h->snap stays put (and immutable) during the read. */
    struct wsb_state_memo memo = { 0, snapshot_memo_get, h->snap };
    if (h->snap != NULL)
        memo.n = h->snap->n_nodes;
    struct wsb_state_watch *watch = h->watching ? &h->watch : NULL;
    int status = wsb_state_read_watched(h->redis, &h->cfg.keys, &memo, watch, &st, err);
    /* A connection kept from before may have died quietly (Redis restarted
     * while this process was idle, or a replica went away): one more try on
     * a new connection, address after address, tells that apart from Redis
     * being down. */
    if (status == WSB_EREDIS && reused && !wsb_redis_connected(h->redis)) {
        snprintf(lost, sizeof lost, "%s", err);
        status = wsb_state_read_watched(h->redis, &h->cfg.keys, &memo, watch, &st, err);
    }
    if (lost[0] != '\0' && status == WSB_OK) {
        if (strcmp(was, wsb_redis_current(h->redis)) != 0)
            wsb_log_warn("redis %s: connection lost (%s); now reading from redis %s", was, lost,
                         wsb_redis_current(h->redis));
        else
            wsb_log_info("redis %s: connection lost (%s); reconnected", was, lost);
    }
    if (status == WSB_OK)
        note_refusal(h);
    struct wsb_snapshot *fresh = NULL;
    if (status == WSB_OK) {
        size_t skipped = st.n_skipped;
        if (skipped != h->last_skipped && skipped > 0)
            wsb_log_warn("state: skipped %zu malformed node record(s); first: %s", skipped, st.skip_reason);
        else if (skipped == 0 && h->last_skipped > 0)
            wsb_log_info("state: no malformed node records any more");
        h->last_skipped = skipped;
        /* Only refresh replaces h->snap, and it runs under refresh_lock:
         * reading h->snap here needs no other lock. */
        status = wsb_snapshot_build(st.nodes, st.n, st.live, st.drain_ids, st.n_drain, skipped, &h->cfg.snap,
                                    h->snap, &fresh);
        if (status != WSB_OK)
            snprintf(err, sizeof err, "building the snapshot: %s", wsb_strerror(status));
        wsb_state_clear(&st);
    }
    struct wsb_snapshot *old = NULL;
    pthread_mutex_lock(&h->snap_lock);
    if (status == WSB_OK) {
        old = h->snap;
        h->snap = fresh;
        h->last_ok_ms = now;
        h->fresh_until_ms = now + h->cfg.cache_ms;
        h->stale_dropped = 0;
        h->down_since_ms = 0;
        h->full_read_due_ms = now + h->cfg.full_read_ms;
        h->watching = 1;
    } else {
        /* Nothing watched covers the snapshot now (the read failed, or its
         * snapshot was not built): the next refresh reads the whole state. */
        h->watch.gen = 0;
        /* Counted from the end of the failed attempt: when Redis is slow
         * rather than gone, the attempt itself took up to the command
         * timeout, and counting from its start would let every request
         * wait for that timeout again. */
        h->next_try_ms = wsb_now_ms() + h->cfg.retry_ms;
        /* The stale window opens at the outage's first failed read, not at
         * the last good one: a process that was idle before the outage
         * still serves its last state for the whole window. */
        if (h->down_since_ms == 0)
            h->down_since_ms = now;
        if (h->snap != NULL && now - h->down_since_ms > h->cfg.stale_max_ms) {
            old = h->snap;
            h->snap = NULL;
            h->stale_dropped = 1;
        }
    }
    pthread_mutex_unlock(&h->snap_lock);
    wsb_snapshot_unref(old);
    /* The Redis reply and the replaced snapshot were freed: give the memory
     * back, so that resident memory is one snapshot, not the peak of a
     * refresh (measured with 10,000 nodes: 18 MB without, see make bench). */
    if (status == WSB_OK)
        malloc_trim(0);

    if (status == WSB_OK && h->redis_down) {
        wsb_log_info("redis %s: state readable again", wsb_redis_current(h->redis));
        h->redis_down = 0;
    } else if (status != WSB_OK && !h->redis_down) {
        wsb_log_error("state unreadable: %s; serving the last good state for up to %ld ms, then 503", err,
                      h->cfg.stale_max_ms);
        h->redis_down = 1;
        snprintf(h->down_reason, sizeof h->down_reason, "%s", err);
    } else if (status != WSB_OK) {
        /* A new reason while down (the connection dropped, then the login
         * refused) is what an operator needs: log each change once. */
        if (strcmp(err, h->down_reason) != 0) {
            wsb_log_error("state still unreadable: %s", err);
            snprintf(h->down_reason, sizeof h->down_reason, "%s", err);
        }
        if (old != NULL)
            wsb_log_error("state unreadable for more than %ld ms: answering 503 (error 100) until redis returns",
                          h->cfg.stale_max_ms);
    }
}

/* Returns a referenced snapshot, or NULL when there is no usable state. */
static struct wsb_snapshot *current_snapshot(struct wsb_handler *h, long long now)
{
    pthread_mutex_lock(&h->snap_lock);
    int fresh = h->snap != NULL && now < h->fresh_until_ms;
    /* Just past its time, the snapshot keeps serving while the refresher
     * (or one request thread, without a refresher) reads Redis.  Long past
     * it (a process without a refresher that sat idle, or a refresher held
     * up by a slow Redis), waiting for the refresh beats answering from
     * state of unknown age; the wait is bounded by the Redis timeouts, and
     * by WSB_REDIS_RETRY_MS while Redis is down. */
    int long_past = h->snap == NULL || now >= h->fresh_until_ms + h->cfg.cache_ms;
    struct wsb_snapshot *s = fresh || (h->refresher_running && !long_past) ? wsb_snapshot_ref(h->snap) : NULL;
    pthread_mutex_unlock(&h->snap_lock);
    if (s != NULL)
        return s;
    if (long_past ? pthread_mutex_lock(&h->refresh_lock) == 0 : pthread_mutex_trylock(&h->refresh_lock) == 0) {
        pthread_mutex_lock(&h->snap_lock);
        int still_stale = h->snap == NULL || now >= h->fresh_until_ms;
        pthread_mutex_unlock(&h->snap_lock);
        if (still_stale)
            refresh(h, now);
        pthread_mutex_unlock(&h->refresh_lock);
    }
    pthread_mutex_lock(&h->snap_lock);
    s = h->snap != NULL ? wsb_snapshot_ref(h->snap) : NULL;
    pthread_mutex_unlock(&h->snap_lock);
    return s;
}

/* Refreshes whenever the snapshot falls due, requests or not: with change
 * detection an unchanged state costs four small commands, so an idle
 * process keeps a current snapshot (and meets a Redis outage when it
 * happens, so that its stale window opens then). */
static void *refresher_main(void *arg)
{
    struct wsb_handler *h = arg;
    pthread_mutex_lock(&h->refresher_lock);
    while (!h->refresher_stop) {
        long long now = wsb_now_ms();
        pthread_mutex_lock(&h->snap_lock);
        long long due = h->snap != NULL ? h->fresh_until_ms : now;
        pthread_mutex_unlock(&h->snap_lock);
        pthread_mutex_lock(&h->refresh_lock);
        if (h->next_try_ms > due)
            due = h->next_try_ms;   /* Redis is down: no faster than WSB_REDIS_RETRY_MS */
        pthread_mutex_unlock(&h->refresh_lock);
        if (now >= due) {
            pthread_mutex_unlock(&h->refresher_lock);
            pthread_mutex_lock(&h->refresh_lock);
            pthread_mutex_lock(&h->snap_lock);
            int stale = h->snap == NULL || wsb_now_ms() >= h->fresh_until_ms;
            pthread_mutex_unlock(&h->snap_lock);
            if (stale)
                refresh(h, wsb_now_ms());
            pthread_mutex_unlock(&h->refresh_lock);
            pthread_mutex_lock(&h->refresher_lock);
            continue;
        }
        /* Sleep until due (or a stop).  The condition variable uses the
         * realtime clock by default: convert the monotonic wait. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long wait_ms = due - now;
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (wait_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&h->refresher_cond, &h->refresher_lock, &ts);
    }
    pthread_mutex_unlock(&h->refresher_lock);
    return NULL;
}

int wsb_handler_start_refresher(struct wsb_handler *h)
{
    /* With WSB_CACHE_MS=0 every request reads Redis itself: a refresher
     * would only read it in a loop. */
    if (h->refresher_running || h->cfg.cache_ms == 0)
        return WSB_OK;
    h->refresher_stop = 0;
    if (pthread_create(&h->refresher, NULL, refresher_main, h) != 0)
        return WSB_ESYS;
    pthread_mutex_lock(&h->snap_lock);
    h->refresher_running = 1;
    pthread_mutex_unlock(&h->snap_lock);
    return WSB_OK;
}

void wsb_handler_stop_refresher(struct wsb_handler *h)
{
    if (h == NULL || !h->refresher_running)
        return;
    pthread_mutex_lock(&h->refresher_lock);
    h->refresher_stop = 1;
    pthread_cond_signal(&h->refresher_cond);
    pthread_mutex_unlock(&h->refresher_lock);
    pthread_join(h->refresher, NULL);
    pthread_mutex_lock(&h->snap_lock);
    h->refresher_running = 0;
    pthread_mutex_unlock(&h->snap_lock);
}

static void check_geo(struct wsb_handler *h, long long now)
{
    if (h->geo == NULL || !wsb_geo_maybe_reload(h->geo, now))
        return;
    char why[WSB_ERRLEN];
    int status = wsb_geo_status(h->geo, why);
    if (status == WSB_OK)
        wsb_log_info("geoip: %s (re)opened", h->cfg.geoip_path);
    else
        wsb_log_error("geoip: %s; serving without geography until the file is fixed", why);
}

static void answer_error(struct wsb_answer *a, int http, int code)
{
    a->status = http;
    a->body = wsb_error_body(code, &a->body_len);
}

void wsb_handle(struct wsb_handler *h, struct wsb_worker *w, wsb_param_fn get, void *ctx,
                struct wsb_response *out)
{
    struct wsb_answer a;
    memset(&a, 0, sizeof a);
    a.retry_after = (int)h->cfg.retry_after;
    enum wsb_method method = wsb_method_parse(get("REQUEST_METHOD", ctx));
    a.head = method == WSB_HEAD;
    a.allow_origin = wsb_cors_allow(&h->cfg.cors, get("HTTP_ORIGIN", ctx));
    unsigned version = 0;
    struct wsb_snapshot *snap = NULL;

    if (!wsb_route_from_params(get, ctx, &version)) {
        answer_error(&a, 404, 404);
    } else if (method == WSB_OTHER) {
        answer_error(&a, 405, 405);
    } else if (method == WSB_OPTIONS) {
        a.status = 204;
        a.preflight = 1;
    } else {
        long long now = wsb_now_ms();
        snap = current_snapshot(h, now);
        struct wsb_client_loc loc;
        memset(&loc, 0, sizeof loc);
        if (h->geo != NULL) {
            check_geo(h, now);
            struct wsb_ip ip;
            if (wsb_client_addr(get("REMOTE_ADDR", ctx), get("HTTP_X_FORWARDED_FOR", ctx), &h->cfg.trusted, &ip))
                wsb_geo_lookup(h->geo, &ip, &loc);
        }
        const struct wsb_snap_node *node = NULL;
        int code = WSB_NO_SERVERS_AVAILABLE;
        if (snap != NULL && wsb_select_scratch_reserve(&w->scratch, snap->max_eligible) == WSB_OK)
            code = wsb_select(snap, version, &loc, next_random(w), &w->scratch, &node);
        if (code == WSB_SELECT_OK) {
            a.status = 200;
            a.body = node->body;
            a.body_len = node->body_len;
        } else {
            answer_error(&a, 503, code);
        }
    }
    if (wsb_response_build(&a, out) != WSB_OK) {
        struct wsb_answer e;
        memset(&e, 0, sizeof e);
        answer_error(&e, 500, 500);
        wsb_response_build(&e, out);
    }
    wsb_snapshot_unref(snap);
}

int wsb_handler_check(struct wsb_handler *h, char *buf, size_t len)
{
    char err[WSB_ERRLEN];
    struct wsb_state st;
    int status = wsb_state_read(h->redis, &h->cfg.keys, &st, err);
    if (status != WSB_OK) {
        snprintf(buf, len, "redis: %s", err);
        return status;
    }
    struct wsb_snapshot *s = NULL;
    size_t skipped = st.n_skipped;
    char first[WSB_ERRLEN];
    snprintf(first, sizeof first, "%s", st.skip_reason);
    status = wsb_snapshot_build(st.nodes, st.n, st.live, st.drain_ids, st.n_drain, skipped, &h->cfg.snap, NULL, &s);
    wsb_state_clear(&st);
    if (status != WSB_OK) {
        snprintf(buf, len, "snapshot: %s", wsb_strerror(status));
        return status;
    }
    char geo[WSB_ERRLEN] = "off";
    if (h->geo != NULL && wsb_geo_status(h->geo, geo) == WSB_OK)
        snprintf(geo, sizeof geo, "%.200s", h->cfg.geoip_path);
    snprintf(buf, len,
             "redis %s: %zu nodes (%zu online, %zu eligible, %zu draining, %zu overloaded), "
             "%zu skipped%s%s, state %s; geoip: %s",
             wsb_redis_current(h->redis), s->n_nodes, s->n_online, s->n_eligible, s->n_draining, s->n_overloaded,
             skipped, skipped ? ": " : "", skipped ? first : "", s->live ? "live" : "EXPIRED (probe not running?)",
             geo);
    wsb_snapshot_unref(s);
    return WSB_OK;
}

/* metrics.c: a handler process's counters and their flush to Redis
 * (metrics.h). */
#include "metrics.h"
#include "redis_writer.h"
#include "clock.h"
#include "log.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Distinct (status, code, version) triples a process keeps apart; past
 * ANSWER_VERSIONED of them a new version counts as "other", which leaves
 * room for every (status, code) pair. */
#define ANSWER_SLOTS 128
#define ANSWER_VERSIONED 96

static const char *const COUNTER_NAMES[WSB_M_COUNT] = {
    [WSB_M_GEO_LOCATED] = "geoip_located",
    [WSB_M_GEO_UNLOCATED] = "geoip_unlocated",
    [WSB_M_REFRESHES] = "refreshes",
    [WSB_M_FULL_READS] = "full_reads",
    [WSB_M_REFRESH_FAILURES] = "refresh_failures",
    [WSB_M_REDIS_ERRORS] = "redis_errors",
};

/* A counter: requests add to live; the flush moves live into pending and
 * pending into Redis. */
struct counter {
    uint64_t live;             /* __atomic */
    uint64_t pending;          /* the flush's own */
    uint64_t flushed;          /* the flush's own: what Redis took */
};

/* An answer counter; key 0 is a free slot, else key_of()'s value, set once
 * (compare-and-swap) and never changed. */
struct answer_slot {
    uint64_t key;              /* __atomic */
    struct counter n;
};

struct wsb_metrics {
    struct wsb_redis *redis;   /* the writer's connection, during a flush */
    struct wsb_keys keys;
    char host[WSB_METRICS_HOST_MAX + 1];
    long retry_ms;
    long long next_flush_ms;   /* monotonic */
    int failures;              /* flushes failed in a row */
    int refused;               /* the last one was Redis's answer (NOPERM, READONLY, ...) */
    int failing;               /* that was logged */
    int geoip;                 /* __atomic: 1 good, 0 broken, -1 none */
    unsigned used;             /* __atomic: answer slots taken */
    struct counter counters[WSB_M_COUNT];
    struct answer_slot answers[ANSWER_SLOTS];
};

const char *wsb_metric_counter_name(enum wsb_metric_counter c)
{
    return (unsigned)c < WSB_M_COUNT ? COUNTER_NAMES[c] : "unknown";
}

int wsb_metrics_host_check(const char *host, char *err)
{
    size_t n = strlen(host);
    if (n == 0 || n > WSB_METRICS_HOST_MAX)
        return wsb_fail(err, WSB_EINVAL, "a host label has 1 to %d bytes", WSB_METRICS_HOST_MAX);
    for (size_t i = 0; i < n; i++) {
        char ch = host[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return wsb_fail(err, WSB_EINVAL, "a host label holds only A-Z a-z 0-9 . _ - (byte %zu is not one)",
                            i + 1);
    }
    return WSB_OK;
}

void wsb_metrics_default_host(char *out)
{
    char name[256];
    if (gethostname(name, sizeof name) != 0 || name[0] == '\0') {
        strcpy(out, "localhost");
        return;
    }
    name[sizeof name - 1] = '\0';
    size_t n = strnlen(name, WSB_METRICS_HOST_MAX);
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                 ch == '-';
        out[i] = ok ? ch : '_';
    }
    out[n] = '\0';
}

struct wsb_metrics *wsb_metrics_new(const struct wsb_keys *k, const char *host, long retry_ms)
{
    struct wsb_metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->keys = *k;
    snprintf(m->host, sizeof m->host, "%s", host);
    m->retry_ms = retry_ms;
    m->geoip = -1;
    return m;
}

void wsb_metrics_free(struct wsb_metrics *m)
{
    free(m);
}

const char *wsb_metrics_host(const struct wsb_metrics *m)
{
    return m->host;
}

/* The key of an answer triple: never 0. */
static uint64_t key_of(int status, int code, unsigned version)
{
    return (1ull << 63) | ((uint64_t)(status & 0x3ff) << 42) | ((uint64_t)(code & 0x3ff) << 32) | version;
}

/* The slot of key, taken when free; NULL when the table is full. */
static struct answer_slot *slot_of(struct wsb_metrics *m, uint64_t key, int may_take)
{
    size_t h = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 57) % ANSWER_SLOTS;
    for (size_t i = 0; i < ANSWER_SLOTS; i++, h = (h + 1) % ANSWER_SLOTS) {
        struct answer_slot *s = &m->answers[h];
        uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
        if (k == key)
            return s;
        if (k != 0)
            continue;
        if (!may_take)
            return NULL;
        uint64_t expected = 0;
        if (__atomic_compare_exchange_n(&s->key, &expected, key, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            __atomic_add_fetch(&m->used, 1, __ATOMIC_RELAXED);
            return s;
        }
        if (expected == key)
            return s;   /* another thread took it for the same key */
    }
    return NULL;
}

void wsb_metrics_answer(struct wsb_metrics *m, int status, int code, unsigned version)
{
    if (m == NULL)
        return;
    uint64_t key = key_of(status, code, version);
    struct answer_slot *s = slot_of(m, key, 0);
    if (s == NULL) {
        /* A new triple: a new version only while there is room for it. */
        if (version != WSB_METRICS_VERSION_NONE && version != WSB_METRICS_VERSION_OTHER &&
            __atomic_load_n(&m->used, __ATOMIC_RELAXED) >= ANSWER_VERSIONED)
            key = key_of(status, code, WSB_METRICS_VERSION_OTHER);
        s = slot_of(m, key, 1);
    }
    if (s != NULL)
        __atomic_add_fetch(&s->n.live, 1, __ATOMIC_RELAXED);
}

void wsb_metrics_add(struct wsb_metrics *m, enum wsb_metric_counter c, uint64_t n)
{
    if (m != NULL && (unsigned)c < WSB_M_COUNT)
        __atomic_add_fetch(&m->counters[c].live, n, __ATOMIC_RELAXED);
}

void wsb_metrics_set_geoip(struct wsb_metrics *m, int state)
{
    if (m != NULL)
        __atomic_store_n(&m->geoip, state, __ATOMIC_RELAXED);
}

uint64_t wsb_metrics_answers(struct wsb_metrics *m, int status, int code, unsigned version)
{
    struct answer_slot *s = slot_of(m, key_of(status, code, version), 0);
    if (s == NULL)
        return 0;
    return __atomic_load_n(&s->n.live, __ATOMIC_RELAXED) + s->n.pending + s->n.flushed;
}

/* Moves what requests counted since the last flush into pending. */
static void harvest(struct counter *c)
{
    c->pending += __atomic_exchange_n(&c->live, 0, __ATOMIC_RELAXED);
}

/* After Redis took a counter's pending counts. */
static void settle(struct counter *c)
{
    c->flushed += c->pending;
    c->pending = 0;
}

/* The answer field "<host>|answers|<status>|<code>|<version>" of key. */
static void answer_field(const struct wsb_metrics *m, uint64_t key, char *out, size_t len)
{
    unsigned version = (unsigned)(key & 0xffffffffu);
    int status = (int)((key >> 42) & 0x3ff), code = (int)((key >> 32) & 0x3ff);
    char v[16];
    if (version == WSB_METRICS_VERSION_NONE)
        strcpy(v, "none");
    else if (version == WSB_METRICS_VERSION_OTHER)
        strcpy(v, "other");
    else
        snprintf(v, sizeof v, "v%u", version);
    snprintf(out, len, "%s|answers|%d|%d|%s", m->host, status, code, v);
}

/* One queued HINCRBY: the counter it adds, and its field. */
struct sent {
    struct counter *c;
    char field[WSB_METRICS_HOST_MAX + 64];
};

/* The counters with pending counts, and their fields: *out (malloc'ed,
 * the caller frees it) and *n.  WSB_OK or WSB_ENOMEM. */
static int collect(struct wsb_metrics *m, struct sent **out, size_t *n)
{
    struct sent *v = malloc((WSB_M_COUNT + ANSWER_SLOTS) * sizeof *v);
    if (v == NULL)
        return WSB_ENOMEM;
    size_t k = 0;
    for (int i = 0; i < WSB_M_COUNT; i++)
        if (m->counters[i].pending > 0) {
            v[k].c = &m->counters[i];
            snprintf(v[k++].field, sizeof v->field, "%s|%s", m->host, COUNTER_NAMES[i]);
        }
    for (size_t i = 0; i < ANSWER_SLOTS; i++)
        if (m->answers[i].n.pending > 0) {
            v[k].c = &m->answers[i].n;
            answer_field(m, __atomic_load_n(&m->answers[i].key, __ATOMIC_ACQUIRE), v[k++].field, sizeof v->field);
        }
    *out = v;
    *n = k;
    return WSB_OK;
}

/* Sends cmd ("HINCRBY" or "HSET") for each of v[0..n) with its pending
 * count, then the gauges; settles each counter that Redis took.  A field
 * whose value is not a count (edited by hand) is listed in *repair (the
 * caller sets it anew); any other refusal fails the flush, keeping the
 * counts.  WSB_OK or WSB_EREDIS/WSB_ENOMEM with err. */
static int send_cmds(struct wsb_metrics *m, const char *cmd, struct sent *v, size_t n, long long now_ms,
                     struct sent *repair, size_t *n_repair, char *err)
{
    redisContext *c = wsb_redis_get(m->redis, err);
    if (c == NULL)
        return WSB_EREDIS;
    const char *key = m->keys.metrics_handlers;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++)
        ok = redisAppendCommand(c, "%s %s %s %llu", cmd, key, v[i].field, (unsigned long long)v[i].c->pending) ==
             REDIS_OK;
    char at[32], geo[8], f_at[WSB_METRICS_HOST_MAX + 16], f_geo[WSB_METRICS_HOST_MAX + 16];
    snprintf(at, sizeof at, "%.3f", (double)now_ms / 1000.0);
    snprintf(geo, sizeof geo, "%d", __atomic_load_n(&m->geoip, __ATOMIC_RELAXED));
    snprintf(f_at, sizeof f_at, "%s|flushed_at", m->host);
    snprintf(f_geo, sizeof f_geo, "%s|geoip_up", m->host);
    ok = ok && redisAppendCommand(c, "HSET %s %s %s %s %s", key, f_at, at, f_geo, geo) == REDIS_OK;
    redisReply **rep = ok ? calloc(n + 1, sizeof *rep) : NULL;
    if (rep == NULL) {
        wsb_redis_drop(m->redis);
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
    }
    int status = wsb_redis_get_replies(m->redis, c, rep, (int)n + 1, NULL, err);
    for (size_t i = 0; status == WSB_OK && i <= n; i++) {
        if (rep[i]->type != REDIS_REPLY_ERROR) {
            if (i < n)
                settle(v[i].c);
        } else if (i < n && repair != NULL && strstr(rep[i]->str, "not an integer") != NULL) {
            repair[(*n_repair)++] = v[i];
        } else {
            m->refused = 1;
            status = wsb_fail(err, WSB_EREDIS, "redis %s: %.160s", wsb_redis_current(m->redis), rep[i]->str);
        }
    }
    for (size_t i = 0; i <= n; i++)
        if (rep[i] != NULL)
            freeReplyObject(rep[i]);
    free(rep);
    return status;
}

/* Sends the pending counts; on WSB_OK Redis took them all.  A field that
 * an edit left without a count is set to this process's count (a reset,
 * as Prometheus reads counters), once, with a warning: else it would
 * refuse every flush of the host from then on. */
static int send_flush_once(struct wsb_metrics *m, long long now_ms, char *err)
{
    struct sent *v = NULL, *repair = NULL;
    size_t n = 0, n_repair = 0;
    if (collect(m, &v, &n) != WSB_OK || (repair = malloc((n ? n : 1) * sizeof *repair)) == NULL) {
        free(v);
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
    }
    int status = send_cmds(m, "HINCRBY", v, n, now_ms, repair, &n_repair, err);
    if (status == WSB_OK && n_repair > 0) {
        wsb_log_warn("metrics: %s field '%s' holds no count (edited by hand?): set anew to this process's count",
                     m->keys.metrics_handlers, repair[0].field);
        status = send_cmds(m, "HSET", repair, n_repair, now_ms, NULL, NULL, err);
    }
    free(v);
    free(repair);
    return status;
}

/* The flush at the first address that takes writes: past a replica
 * (READONLY) at once, on the next address, each tried once (nothing was
 * added where the writes were refused, so nothing counts twice). */
static int send_flush(struct wsb_metrics *m, struct wsb_redis_writer *w, long long now_ms, char *err)
{
    int status = WSB_EREDIS;
    for (size_t tries = 0; tries < wsb_redis_writer_addresses(w); tries++) {
        m->redis = wsb_redis_writer_conn(w);
        m->refused = 0;
        status = send_flush_once(m, now_ms, err);
        if (status == WSB_OK || strstr(err, "READONLY") == NULL || !wsb_redis_writer_next(w))
            break;
    }
    return status;
}

int wsb_metrics_flush(struct wsb_metrics *m, struct wsb_redis_writer *w, long long now_ms, int force, char *err)
{
    err[0] = '\0';
    long long mono = wsb_now_ms();
    if (!force && mono < m->next_flush_ms)
        return WSB_OK;
    for (int i = 0; i < WSB_M_COUNT; i++)
        harvest(&m->counters[i]);
    for (size_t i = 0; i < ANSWER_SLOTS; i++)
        harvest(&m->answers[i].n);
    int status = send_flush(m, w, now_ms, err);
    if (status != WSB_OK) {
        m->next_flush_ms = wsb_now_ms() + m->retry_ms;
        m->failures++;
        __atomic_add_fetch(&m->counters[WSB_M_REDIS_ERRORS].live, 1, __ATOMIC_RELAXED);
        /* Redis refusing the counts is said at once; Redis gone is said by
         * the state's read, and here only when the state still reads (the
         * counts' address alone is down): a second failure in a row. */
        if (!m->failing && (m->refused || m->failures >= 2))
            wsb_log_warn("metrics: %s; the counts are kept until Redis takes them (the handler's user needs "
                         "+hincrby on ~%s and +hset there, examples/redis/users.acl)",
                         err, m->keys.metrics_handlers);
        m->failing = 1;
        return status;
    }
    if (m->failing)
        wsb_log_info("metrics: redis %s takes the counts again", wsb_redis_current(m->redis));
    m->failing = 0;
    m->failures = 0;
    m->next_flush_ms = wsb_now_ms() + WSB_METRICS_FLUSH_MS;
    return WSB_OK;
}

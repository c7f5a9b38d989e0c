/* assign.c: fleet-wide assignment accounting (assign.h): the tally of each
 * answer, and its exchange with Redis at every refresh. */
#include "assign.h"
#include "redis_writer.h"
#include "clock.h"
#include "hash.h"
#include "log.h"
#include "status.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A <prefix>assigned key outlives its round by this much when the round
 * gives no ttl (state written by hand with an id). */
#define ASSIGNED_TTL_DEFAULT_S 3600

/* The field of <prefix>starts:<second> that counts the processes: each
 * exchange of a process that exchanges every WSB_CACHE_MS adds WSB_CACHE_MS
 * (so 1000 a second per process, whatever its WSB_CACHE_MS; a CGI process
 * adds 0), from which a process tells how many share the budgets.  No node
 * id is empty. */
#define EXCHANGES_FIELD ""

struct wsb_assign {
    struct wsb_redis_writer *writer; /* the first address that takes writes */
    struct wsb_redis *redis;       /* the writer's current connection (refreshed before each use) */
    struct wsb_keys keys;
    long retry_ms;
    long cache_ms;                 /* WSB_CACHE_MS: how often each process exchanges */
    int periodic;                  /* it exchanges every cache_ms (a refresher runs) */
    long long next_try_ms;         /* monotonic; no exchange before it after a failure */
    int failures;                  /* exchanges failed in a row */
    int logged;                    /* the failure was logged */
    int refused;                   /* the last failure was Redis's answer (NOPERM, READONLY, ...) */
    int metrics_refused;           /* the answers per node were refused (logged) */
    /* The counts not yet in Redis, one per node of held, which they follow
     * from snapshot to snapshot by id. */
    struct wsb_snapshot *held;     /* a reference, NULL before the first exchange */
    uint32_t *pending;             /* held->n_nodes entries */
    uint32_t *pending_excl;        /* the exclusions (?exclude=) not yet in the metrics, per node */
    uint32_t *slots;               /* id table of held: node index + 1, 0 empty */
    size_t mask;                   /* slots has mask + 1 entries */
    uint32_t *read;                /* working memory: the counts read back */
    uint32_t *budgeted;            /* working memory: indexes of the nodes with a budget */
    struct own_starts *own;        /* this process's written starts, per node of held */
};

/* What this process wrote to <prefix>starts:<second> for one node, in the
 * last two seconds it wrote: its part of the fleet's window. */
struct own_starts {
    long long sec;                 /* the second of cur; 0 none yet */
    uint32_t cur, prev;            /* in sec, and in sec - 1 */
};

/* Moves o to second sec (the counts of older seconds drop out). */
static void own_roll(struct own_starts *o, long long sec)
{
    if (o->sec == sec)
        return;
    o->prev = o->sec == sec - 1 ? o->cur : 0;
    o->cur = 0;
    o->sec = sec;
}

void wsb_assign_note(const struct wsb_snapshot *s, const struct wsb_snap_node *n)
{
    size_t i = (size_t)(n - s->nodes);
    __atomic_add_fetch(&s->tally[i].unflushed, 1, __ATOMIC_RELAXED);
}

struct wsb_assign *wsb_assign_new(const struct wsb_redis_config *cfg, const struct wsb_keys *k, long retry_ms,
                                  long cache_ms)
{
    struct wsb_assign *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    /* The counts are written: a sentinel address read from a replica
     * (role=replica) writes them to the primary. */
    a->keys = *k;
    a->retry_ms = retry_ms;
    a->cache_ms = cache_ms;
    if ((a->writer = wsb_redis_writer_new(cfg)) == NULL) {
        free(a);
        return NULL;
    }
    a->redis = wsb_redis_writer_conn(a->writer);
    return a;
}

static void forget_held(struct wsb_assign *a)
{
    wsb_snapshot_unref(a->held);
    a->held = NULL;
    free(a->pending);
    free(a->pending_excl);
    free(a->slots);
    free(a->read);
    free(a->budgeted);
    free(a->own);
    a->pending = a->pending_excl = a->slots = a->read = a->budgeted = NULL;
    a->own = NULL;
    a->mask = 0;
}

void wsb_assign_free(struct wsb_assign *a)
{
    if (a == NULL)
        return;
    forget_held(a);
    wsb_redis_writer_free(a->writer);
    free(a);
}

/* The index of node id (len bytes) in held, or -1. */
static long find(const struct wsb_assign *a, const char *id, size_t len)
{
    const struct wsb_snapshot *s = a->held;
    if (a->slots == NULL)
        return -1;
    for (size_t h = (size_t)wsb_fnv1a(WSB_FNV_OFFSET, id, len) & a->mask; a->slots[h] != 0; h = (h + 1) & a->mask) {
        const char *nid = s->nodes[a->slots[h] - 1].node.id;
        if (strlen(nid) == len && memcmp(nid, id, len) == 0)
            return (long)a->slots[h] - 1;
    }
    return -1;
}

/* The index in b of node i of a: the same position when the ids agree
 * (most refreshes change loads, not the node list), else by id; -1 when b
 * has no such node.  tb is b's table (assign's, once b is held). */
static long same_node(const struct wsb_snapshot *a, size_t i, const struct wsb_assign *tb)
{
    const struct wsb_snapshot *b = tb->held;
    const char *id = a->nodes[i].node.id;
    if (i < b->n_nodes && strcmp(b->nodes[i].node.id, id) == 0)
        return (long)i;
    return find(tb, id, strlen(id));
}

/* Makes s the snapshot the pending counts follow: its id table, and the
 * counts of the one held before moved over by id (a node gone from the
 * state loses its count).  WSB_OK or WSB_ENOMEM (nothing changed). */
static int hold(struct wsb_assign *a, struct wsb_snapshot *s)
{
    if (a->held == s)
        return WSB_OK;
    size_t n = s->n_nodes, cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    struct wsb_assign next = { .held = s, .mask = cap - 1 };
    next.pending = calloc(n ? n : 1, sizeof *next.pending);
    next.pending_excl = calloc(n ? n : 1, sizeof *next.pending_excl);
    next.slots = calloc(cap, sizeof *next.slots);
    next.read = calloc(n ? n : 1, sizeof *next.read);
    next.budgeted = calloc(n ? n : 1, sizeof *next.budgeted);
    next.own = calloc(n ? n : 1, sizeof *next.own);
    if (next.pending == NULL || next.pending_excl == NULL || next.slots == NULL || next.read == NULL ||
        next.budgeted == NULL || next.own == NULL) {
        free(next.pending);
        free(next.pending_excl);
        free(next.slots);
        free(next.read);
        free(next.budgeted);
        free(next.own);
        return WSB_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const char *id = s->nodes[i].node.id;
        size_t h = (size_t)wsb_fnv1a(WSB_FNV_OFFSET, id, strlen(id)) & next.mask;
        while (next.slots[h] != 0)
            h = (h + 1) & next.mask;
        next.slots[h] = (uint32_t)i + 1;
    }
    if (a->held != NULL)
        for (size_t i = 0; i < a->held->n_nodes; i++) {
            long j = a->pending[i] || a->pending_excl[i] || a->own[i].sec ? same_node(a->held, i, &next) : -1;
            if (j >= 0) {
                next.pending[j] += a->pending[i];
                next.pending_excl[j] += a->pending_excl[i];
                next.own[j] = a->own[i];
            }
        }
    forget_held(a);
    a->held = wsb_snapshot_ref(s);
    a->pending = next.pending;
    a->pending_excl = next.pending_excl;
    a->slots = next.slots;
    a->mask = next.mask;
    a->read = next.read;
    a->budgeted = next.budgeted;
    a->own = next.own;
    return WSB_OK;
}

struct wsb_redis_writer *wsb_assign_writer(struct wsb_assign *a)
{
    return a->writer;
}

void wsb_assign_set_periodic(struct wsb_assign *a, int periodic)
{
    a->periodic = periodic;
}

void wsb_assign_adopt(const struct wsb_snapshot *cur, struct wsb_snapshot *fresh)
{
    if (cur == NULL || cur->tally == NULL || fresh->tally == NULL)
        return;
    /* How many processes share the budgets, and the starts of the last
     * second, are the fleet's, whatever the round; what was assigned since
     * the check belongs to one round. */
    fresh->processes = __atomic_load_n(&cur->processes, __ATOMIC_RELAXED);
    fresh->window_read_ms = __atomic_load_n(&cur->window_read_ms, __ATOMIC_RELAXED);
    int same_round = fresh->round_id[0] != '\0' && strcmp(cur->round_id, fresh->round_id) == 0;
    for (size_t i = 0; i < fresh->n_nodes; i++) {
        const char *id = fresh->nodes[i].node.id;
        size_t j = i;
        if (j >= cur->n_nodes || strcmp(cur->nodes[j].node.id, id) != 0)
            for (j = 0; j < cur->n_nodes && strcmp(cur->nodes[j].node.id, id) != 0; j++)
                ;
        if (j >= cur->n_nodes)
            continue;
        if (same_round)
            fresh->tally[i].fleet = __atomic_load_n(&cur->tally[j].fleet, __ATOMIC_RELAXED);
        fresh->tally[i].window = __atomic_load_n(&cur->tally[j].window, __ATOMIC_RELAXED);
        fresh->tally[i].own_recent = __atomic_load_n(&cur->tally[j].own_recent, __ATOMIC_RELAXED);
    }
}

/* Moves the answers counted in s since the last exchange into the pending
 * counts (s is held, or the one it replaced), and into the fleet counts of
 * the held snapshot, so that selection keeps seeing them until the read. */
static void harvest(struct wsb_assign *a, struct wsb_snapshot *s)
{
    struct wsb_snapshot *h = a->held;
    for (size_t i = 0; i < s->n_nodes; i++) {
        uint32_t d = __atomic_exchange_n(&s->tally[i].unflushed, 0, __ATOMIC_RELAXED);
        uint32_t e = __atomic_exchange_n(&s->tally[i].excluded, 0, __ATOMIC_RELAXED);
        if (d == 0 && e == 0)
            continue;
        long j = s == h ? (long)i : same_node(s, i, a);
        if (j < 0)
            continue;
        a->pending_excl[j] = a->pending_excl[j] > UINT32_MAX - e ? UINT32_MAX : a->pending_excl[j] + e;
        if (d == 0)
            continue;
        a->pending[j] = a->pending[j] > UINT32_MAX - d ? UINT32_MAX : a->pending[j] + d;
        /* The refresher is the only writer of fleet: a plain add, saturated. */
        uint32_t f = __atomic_load_n(&h->tally[j].fleet, __ATOMIC_RELAXED);
        __atomic_store_n(&h->tally[j].fleet, f > UINT32_MAX - d ? UINT32_MAX : f + d, __ATOMIC_RELAXED);
    }
}

static int is_string(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

/* A count as Redis holds it (a decimal string), clamped to uint32; 0 for
 * anything else (a value edited by hand). */
static uint32_t count_of(const redisReply *r)
{
    if (r == NULL || !is_string(r) || r->len == 0 || r->len > 20)
        return 0;
    unsigned long long v = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9')
            return 0;
        if (v <= UINT32_MAX)   /* past it the count is clamped: never wraps */
            v = v * 10 + (unsigned long long)(r->str[i] - '0');
    }
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* v rounded to a uint32. */
static uint32_t clamp_u32(double v)
{
    return v >= (double)UINT32_MAX ? UINT32_MAX : v <= 0 ? 0 : (uint32_t)(v + 0.5);
}

/* What one exchange sends: which commands, in which order. */
struct exchange {
    char assigned[WSB_MAX_KEY], starts[WSB_MAX_KEY], starts_before[WSB_MAX_KEY];
    size_t n_incr;                 /* nodes with pending counts: three HINCRBY each */
    size_t n_budgeted;             /* nodes whose starts are read (two HMGET) */
    size_t n_excl;                 /* nodes with exclusions to count: one HINCRBY each, last */
    int n_cmds;
};

/* Queues HMGET key "" <ids of the budgeted nodes>: the exchanges, then
 * the starts.  WSB_OK or WSB_ENOMEM. */
static int queue_hmget(redisContext *c, const struct wsb_assign *a, const char *key, size_t n)
{
    const char **argv = malloc((n + 3) * sizeof *argv);
    size_t *lens = malloc((n + 3) * sizeof *lens);
    int status = WSB_ENOMEM;
    if (argv == NULL || lens == NULL)
        goto cleanup;
    argv[0] = "HMGET";
    argv[1] = key;
    argv[2] = EXCHANGES_FIELD;
    for (size_t i = 0; i < n; i++)
        argv[i + 3] = a->held->nodes[a->budgeted[i]].node.id;
    for (size_t i = 0; i < n + 3; i++)
        lens[i] = strlen(argv[i]);
    if (redisAppendCommandArgv(c, (int)(n + 3), argv, lens) == REDIS_OK)
        status = WSB_OK;
cleanup:
    free(argv);
    free(lens);
    return status;
}

static int queue(struct wsb_assign *a, redisContext *c, struct exchange *x)
{
    const struct wsb_snapshot *s = a->held;
    long long ttl = s->round_ttl > 0 ? s->round_ttl : ASSIGNED_TTL_DEFAULT_S;
    for (size_t i = 0; i < s->n_nodes; i++) {
        if (a->pending[i] == 0)
            continue;
        const char *id = s->nodes[i].node.id;
        /* The third is the node's lifetime count, for the metrics
         * (metrics.h): it needs no reply of its own. */
        if (redisAppendCommand(c, "HINCRBY %s %s %u", x->assigned, id, a->pending[i]) != REDIS_OK ||
            redisAppendCommand(c, "HINCRBY %s %s %u", x->starts, id, a->pending[i]) != REDIS_OK ||
            redisAppendCommand(c, "HINCRBY %s answers|%s %u", a->keys.metrics_nodes, id, a->pending[i]) != REDIS_OK)
            return WSB_ENOMEM;
        x->n_incr++;
    }
    x->n_cmds = (int)(3 * x->n_incr);
    for (size_t i = 0; i < s->n_nodes; i++)
        if (s->nodes[i].eligible && s->nodes[i].budget > 0)
            a->budgeted[x->n_budgeted++] = (uint32_t)i;
    /* Every exchange is counted, budgets or not, so that a budget set
     * later knows at once how many processes share it. */
    if (redisAppendCommand(c, "HINCRBY %s %s %ld", x->starts, EXCHANGES_FIELD, a->periodic ? a->cache_ms : 0L) !=
        REDIS_OK)
        return WSB_ENOMEM;
    x->n_cmds++;
    if (redisAppendCommand(c, "EXPIRE %s %lld", x->assigned, ttl) != REDIS_OK ||
        redisAppendCommand(c, "EXPIRE %s %d", x->starts, WSB_STARTS_TTL_S) != REDIS_OK)
        return WSB_ENOMEM;
    x->n_cmds += 2;
    if (redisAppendCommand(c, "HGETALL %s", x->assigned) != REDIS_OK)
        return WSB_ENOMEM;
    x->n_cmds++;
    if (x->n_budgeted > 0) {
        if (queue_hmget(c, a, x->starts, x->n_budgeted) != WSB_OK ||
            queue_hmget(c, a, x->starts_before, x->n_budgeted) != WSB_OK)
            return WSB_ENOMEM;
        x->n_cmds += 2;
    }
    /* The exclusions per node, for the metrics (metrics.h), last. */
    for (size_t i = 0; i < s->n_nodes; i++) {
        if (a->pending_excl[i] == 0)
            continue;
        if (redisAppendCommand(c, "HINCRBY %s excluded|%s %u", a->keys.metrics_nodes, s->nodes[i].node.id,
                               a->pending_excl[i]) != REDIS_OK)
            return WSB_ENOMEM;
        x->n_excl++;
    }
    x->n_cmds += (int)x->n_excl;
    return WSB_OK;
}

/* The first error reply among rep[0..n), or NULL. */
static const redisReply *first_error(redisReply **rep, int n)
{
    for (int i = 0; i < n; i++)
        if (rep[i]->type == REDIS_REPLY_ERROR)
            return rep[i];
    return NULL;
}

/* WSB_OK when bad (a write's error reply) is NULL, else the refusal. */
static int refused(struct wsb_assign *a, const redisReply *bad, char *err)
{
    if (bad == NULL)
        return WSB_OK;
    a->refused = 1;
    return wsb_fail(err, WSB_EREDIS, "redis %s: %.160s", wsb_redis_current(a->redis), bad->str);
}

/* Takes the replies: the pending counts that Redis added are cleared, the
 * fleet counts and windows read back go into the held snapshot's tally. */
static int take(struct wsb_assign *a, const struct exchange *x, redisReply **rep, long long now_ms, char *err)
{
    struct wsb_snapshot *s = a->held;
    long long sec = now_ms / 1000;
    size_t r = 0;
    const redisReply *bad = NULL, *metrics_bad = NULL;
    /* The exclusions' counts, at the end: taken whatever else happened. */
    size_t e = (size_t)x->n_cmds - x->n_excl;
    for (size_t i = 0; i < s->n_nodes && x->n_excl > 0; i++) {
        if (a->pending_excl[i] == 0)
            continue;
        /* Taken, or refused (said once below): never sent again and again. */
        if (rep[e]->type == REDIS_REPLY_INTEGER || rep[e]->type == REDIS_REPLY_ERROR)
            a->pending_excl[i] = 0;
        if (metrics_bad == NULL && rep[e]->type == REDIS_REPLY_ERROR)
            metrics_bad = rep[e];
        e++;
    }
    for (size_t i = 0; i < s->n_nodes; i++) {
        if (a->pending[i] == 0)
            continue;
        if (bad == NULL)
            bad = first_error(rep + r, 2);
        if (metrics_bad == NULL && rep[r + 2]->type == REDIS_REPLY_ERROR)
            metrics_bad = rep[r + 2];
        if (rep[r]->type == REDIS_REPLY_INTEGER) {
            if (rep[r + 1]->type == REDIS_REPLY_INTEGER) {
                own_roll(&a->own[i], sec);
                a->own[i].cur += a->pending[i];
            }
            a->pending[i] = 0;
        }
        r += 3;
    }
    /* A write refused (NOPERM, READONLY, a count edited into something
     * HINCRBY cannot add to) does not keep the counts from being read: it
     * fails the exchange once they are.  The metrics' count refused fails
     * nothing: it is said once. */
    if (bad == NULL)
        bad = first_error(rep + r, 3);   /* HINCRBY of the exchanges, the EXPIREs */
    r += 3;
    if (metrics_bad != NULL && !a->metrics_refused)
        wsb_log_warn("metrics: redis %s refuses the answers per node (%.160s): grant the handler's user +hincrby on "
                     "~%s (examples/redis/users.acl)",
                     wsb_redis_current(a->redis), metrics_bad->str, a->keys.metrics_nodes);
    if (x->n_incr > 0 || x->n_excl > 0)
        a->metrics_refused = metrics_bad != NULL;
    const redisReply *h = rep[r++];
    if (h->type == REDIS_REPLY_ERROR)
        return refused(a, h, err);
    if (h->type != REDIS_REPLY_ARRAY || h->elements % 2 != 0)
        return wsb_fail(err, WSB_EREPLY, "HGETALL %s: expected a hash, got reply type %d", x->assigned, h->type);
    memset(a->read, 0, s->n_nodes * sizeof *a->read);
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i];
        long j = is_string(f) ? find(a, f->str, f->len) : -1;
        if (j >= 0)
            a->read[j] = count_of(h->element[i + 1]);
    }
    for (size_t i = 0; i < s->n_nodes; i++)
        __atomic_store_n(&s->tally[i].fleet, a->read[i], __ATOMIC_RELAXED);
    if (x->n_budgeted == 0)
        return refused(a, bad, err);
    const redisReply *now = rep[r], *before = rep[r + 1];
    if (now->type == REDIS_REPLY_ERROR || before->type == REDIS_REPLY_ERROR)
        return refused(a, now->type == REDIS_REPLY_ERROR ? now : before, err);
    if (now->type != REDIS_REPLY_ARRAY || before->type != REDIS_REPLY_ARRAY ||
        now->elements != x->n_budgeted + 1 || before->elements != x->n_budgeted + 1)
        return wsb_fail(err, WSB_EREPLY, "HMGET %s: unexpected reply", x->starts);
    /* The starts of the last second, as a sliding window over two
     * one-second buckets: all of this second's, and of the second before
     * the part that is still within one second of now.  The same of this
     * process's own writes tells its part from the others'. */
    double part = 1.0 - (double)(now_ms % 1000) / 1000.0;
    /* How many processes share the budgets: the exchanges of the last
     * second, each process making 1000 / WSB_CACHE_MS a second. */
    double exchanges = (double)count_of(now->element[0]) + part * (double)count_of(before->element[0]);
    double procs = exchanges / 1000.0;
    /* Rounded up: a process too many only slows a storm's first second. */
    __atomic_store_n(&s->processes, clamp_u32(procs < 1 ? 1 : ceil(procs - 0.05)), __ATOMIC_RELAXED);
    for (size_t b = 0; b < x->n_budgeted; b++) {
        uint32_t i = a->budgeted[b];
        own_roll(&a->own[i], sec);
        double fleet = (double)count_of(now->element[b + 1]) + part * (double)count_of(before->element[b + 1]);
        double own = (double)a->own[i].cur + part * (double)a->own[i].prev;
        double others = fleet > own ? fleet - own : 0;
        __atomic_store_n(&s->tally[i].window, clamp_u32(others), __ATOMIC_RELAXED);
        __atomic_store_n(&s->tally[i].own_recent, clamp_u32(own), __ATOMIC_RELAXED);
    }
    __atomic_store_n(&s->window_read_ms, now_ms, __ATOMIC_RELAXED);
    return refused(a, bad, err);
}

/* Sends one exchange and takes its replies; *readonly says whether the
 * address answered READONLY (a replica). */
static int send_once(struct wsb_assign *a, long long now_ms, int *readonly, char *err)
{
    struct exchange x;
    memset(&x, 0, sizeof x);
    wsb_keys_assigned(&a->keys, a->held->round_id, x.assigned);
    wsb_keys_starts(&a->keys, now_ms / 1000, x.starts);
    wsb_keys_starts(&a->keys, now_ms / 1000 - 1, x.starts_before);
    redisContext *c = wsb_redis_get(a->redis, err);
    if (c == NULL)
        return WSB_EREDIS;
    if (queue(a, c, &x) != WSB_OK) {
        wsb_redis_drop(a->redis);
        return wsb_fail(err, WSB_ENOMEM, "redis %s: cannot queue commands", wsb_redis_current(a->redis));
    }
    redisReply **rep = calloc((size_t)x.n_cmds, sizeof *rep);
    if (rep == NULL) {
        wsb_redis_drop(a->redis);
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
    }
    int status = wsb_redis_get_replies(a->redis, c, rep, x.n_cmds, NULL, err);
    if (status == WSB_OK)
        status = take(a, &x, rep, now_ms, err);
    *readonly = status != WSB_OK && strstr(err, "READONLY") != NULL;
    for (int i = 0; i < x.n_cmds; i++)
        if (rep[i] != NULL)
            freeReplyObject(rep[i]);
    free(rep);
    return status;
}

/* One exchange, at the first address of WSB_REDIS_URL that takes writes:
 * past a replica (READONLY) at once, on the next address, each tried once
 * (nothing was added where the writes were refused, so nothing counts
 * twice). */
static int send_exchange(struct wsb_assign *a, long long now_ms, char *err)
{
    int readonly = 0, status = WSB_EREDIS;
    for (size_t tries = 0; tries < wsb_redis_writer_addresses(a->writer); tries++) {
        a->redis = wsb_redis_writer_conn(a->writer);
        status = send_once(a, now_ms, &readonly, err);
        if (!readonly || !wsb_redis_writer_next(a->writer))
            break;
        a->redis = wsb_redis_writer_conn(a->writer);
        a->refused = 0;
    }
    return status;
}

int wsb_assign_exchange(struct wsb_assign *a, struct wsb_snapshot *retired, struct wsb_snapshot *cur,
                        long long now_ms, char *err)
{
    err[0] = '\0';
    int same_round = a->held != NULL && strcmp(a->held->round_id, cur->round_id) == 0;
    if (hold(a, cur) != WSB_OK)
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
    /* Counts that could not be written in their own round would land,
     * late and all at once, in a round that measured them already. */
    if (!same_round && a->failures > 0)
        memset(a->pending, 0, cur->n_nodes * sizeof *a->pending);
    if (retired != NULL && retired != cur && retired->tally != NULL)
        harvest(a, retired);
    harvest(a, cur);
    if (cur->round_id[0] == '\0') {
        /* State written by hand: no round will ever measure the nodes, so
         * counts would only grow.  None are kept. */
        memset(a->pending, 0, cur->n_nodes * sizeof *a->pending);
        memset(a->pending_excl, 0, cur->n_nodes * sizeof *a->pending_excl);
        for (size_t i = 0; i < cur->n_nodes; i++)
            __atomic_store_n(&cur->tally[i].fleet, 0, __ATOMIC_RELAXED);
        return WSB_OK;
    }
    long long mono = wsb_now_ms();
    if (mono < a->next_try_ms)
        return wsb_fail(err, WSB_EREDIS, "waiting %lld ms before trying again", a->next_try_ms - mono);
    a->refused = 0;
    int status = send_exchange(a, now_ms, err);
    if (status != WSB_OK) {
        a->next_try_ms = wsb_now_ms() + a->retry_ms;
        a->failures++;
        /* Redis refusing the counts is logged at once.  Redis gone is
         * logged by the state's read at the next refresh; only when the
         * state still reads (the counts' address alone is down) does a
         * second failure in a row say so here: one line either way. */
        if (!a->logged && (a->refused || a->failures >= 2)) {
            wsb_log_warn("assignment accounting: %s; choosing from the last fleet-wide counts and this "
                         "process's own until Redis takes them again",
                         err);
            a->logged = 1;
        }
    } else {
        if (a->logged)
            wsb_log_info("assignment accounting: redis %s takes the counts again", wsb_redis_current(a->redis));
        a->failures = a->logged = 0;
    }
    return status;
}

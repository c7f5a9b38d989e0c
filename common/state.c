/* state.c: reads and writes the Redis state layout described in state.h. */
#include "state.h"
#include "hash.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wsb_keys_init(struct wsb_keys *k, const char *prefix, char *err)
{
    size_t len = strlen(prefix);
    if (len > WSB_MAX_PREFIX)
        return wsb_fail(err, WSB_EINVAL, "longer than %d bytes", WSB_MAX_PREFIX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)prefix[i] <= 0x20 || (unsigned char)prefix[i] >= 0x7f)
            return wsb_fail(err, WSB_EINVAL, "may only hold printable ASCII without blanks");
    snprintf(k->nodes, sizeof k->nodes, "%snodes", prefix);
    snprintf(k->round, sizeof k->round, "%sround", prefix);
    snprintf(k->admin, sizeof k->admin, "%sadmin", prefix);
    snprintf(k->lock, sizeof k->lock, "%slock", prefix);
    return WSB_OK;
}

void wsb_state_clear(struct wsb_state *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        wsb_node_clear(&s->nodes[i]);
    free(s->nodes);
    for (size_t i = 0; i < s->n_drain; i++)
        free(s->drain_ids[i]);
    free(s->drain_ids);
    memset(s, 0, sizeof *s);
}

static int is_string(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

/* Finds the memo entry for a record: the entry at the record's position
 * when it has the record's id, else the entry with that id through an
 * open-addressing table of the entries' ids, built on the first miss (one
 * pass over the memo) and freed by memo_lookup_free. */
struct memo_lookup {
    const struct wsb_state_memo *memo;   /* NULL: nothing to find */
    uint32_t *slots;                     /* entry index + 1, 0 for empty; NULL until built */
    size_t mask;                         /* slots has mask + 1 entries, a power of two */
    int no_table;                        /* the table could not be built: positions only */
};

static int has_id(const struct wsb_node *e, const char *id, size_t len)
{
    return e != NULL && e->id != NULL && strlen(e->id) == len && memcmp(e->id, id, len) == 0;
}

/* Builds the id table over the entries that can be reused.  Without memory
 * for it, lookups fall back to positions only: records are then decoded,
 * which is slower but gives the same state. */
static void memo_table_build(struct memo_lookup *m)
{
    const struct wsb_state_memo *memo = m->memo;
    if (memo->n > UINT32_MAX / 4) {
        m->no_table = 1;
        return;
    }
    size_t cap = 16;
    while (cap < 2 * memo->n)
        cap <<= 1;
    if ((m->slots = calloc(cap, sizeof *m->slots)) == NULL) {
        m->no_table = 1;
        return;
    }
    m->mask = cap - 1;
    for (size_t i = 0; i < memo->n; i++) {
        const struct wsb_node *e = memo->get(memo->ctx, i);
        if (e == NULL || e->id == NULL || e->raw == NULL)
            continue;
        size_t h = (size_t)wsb_fnv1a(WSB_FNV_OFFSET, e->id, strlen(e->id)) & m->mask;
        while (m->slots[h] != 0)
            h = (h + 1) & m->mask;
        m->slots[h] = (uint32_t)i + 1;
    }
}

static const struct wsb_node *memo_find(struct memo_lookup *m, size_t pos, const char *id, size_t len)
{
    const struct wsb_state_memo *memo = m->memo;
    if (memo == NULL || memo->n == 0)
        return NULL;
    if (pos < memo->n) {
        const struct wsb_node *e = memo->get(memo->ctx, pos);
        if (has_id(e, id, len))
            return e;
    }
    if (m->slots == NULL && !m->no_table)
        memo_table_build(m);
    if (m->slots == NULL)
        return NULL;
    for (size_t h = (size_t)wsb_fnv1a(WSB_FNV_OFFSET, id, len) & m->mask; m->slots[h] != 0; h = (h + 1) & m->mask) {
        const struct wsb_node *e = memo->get(memo->ctx, m->slots[h] - 1);
        if (has_id(e, id, len))
            return e;
    }
    return NULL;
}

static void memo_lookup_free(struct memo_lookup *m)
{
    free(m->slots);
    m->slots = NULL;
}

/* Decodes record v of field f into *node, or copies the memo's decode of
 * the same bytes.  Returns what wsb_node_decode returns, reason in why. */
static int node_from_record(struct memo_lookup *m, size_t pos, const redisReply *f, const redisReply *v,
                            struct wsb_node *node, int *reused, char *why)
{
    const struct wsb_node *prev = memo_find(m, pos, f->str, f->len);
    *reused = 0;
    if (prev != NULL && prev->raw != NULL && prev->raw_len == v->len && memcmp(prev->raw, v->str, v->len) == 0) {
        if (wsb_node_copy(node, prev) != WSB_OK)
            return wsb_fail(why, WSB_ENOMEM, "out of memory");
        *reused = 1;
        return WSB_OK;
    }
    return wsb_node_decode(f->str, f->len, v->str, v->len, node, why);
}

static int decode_nodes(const redisReply *h, const struct wsb_state_memo *memo, struct wsb_state *out, char *err)
{
    if (h->type != REDIS_REPLY_ARRAY || h->elements % 2 != 0)
        return wsb_fail(err, WSB_EREPLY, "node hash: expected a hash, got reply type %d", h->type);
    size_t pairs = h->elements / 2;
    if (pairs > WSB_MAX_NODES)
        return wsb_fail(err, WSB_ETOOBIG, "node hash has %zu nodes, more than %d", pairs, WSB_MAX_NODES);
    if (pairs == 0)
        return WSB_OK;
    out->nodes = calloc(pairs, sizeof *out->nodes);
    if (out->nodes == NULL)
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
    struct memo_lookup m = { .memo = memo };
    int status = WSB_OK;
    for (size_t i = 0; i < pairs; i++) {
        const redisReply *f = h->element[2 * i], *v = h->element[2 * i + 1];
        char why[WSB_ERRLEN];
        int reused = 0, decoded = WSB_EINVAL;
        if (!is_string(f) || !is_string(v))
            snprintf(why, sizeof why, "field or value is not a string");
        else
            decoded = node_from_record(&m, out->n, f, v, &out->nodes[out->n], &reused, why);
        if (decoded == WSB_ENOMEM) {
            status = wsb_fail(err, WSB_ENOMEM, "out of memory");
            goto cleanup;
        }
        if (decoded != WSB_OK) {
            if (out->n_skipped++ == 0) {
                int idlen = is_string(f) ? (int)(f->len > 64 ? 64 : f->len) : 1;
                snprintf(out->skip_reason, sizeof out->skip_reason, "node %.*s: %.180s", idlen,
                         is_string(f) ? f->str : "?", why);
            }
            continue;
        }
        out->n_reused += (size_t)reused;
        out->n++;
    }
cleanup:
    memo_lookup_free(&m);
    return status;
}

static int decode_admin(const redisReply *h, struct wsb_state *out, char *err)
{
    if (h->type != REDIS_REPLY_ARRAY || h->elements % 2 != 0)
        return wsb_fail(err, WSB_EREPLY, "admin hash: expected a hash, got reply type %d", h->type);
    size_t pairs = h->elements / 2;
    if (pairs > WSB_MAX_NODES)
        return wsb_fail(err, WSB_ETOOBIG, "admin hash has more than %d entries", WSB_MAX_NODES);
    if (pairs == 0)
        return WSB_OK;
    out->drain_ids = calloc(pairs, sizeof *out->drain_ids);
    if (out->drain_ids == NULL)
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
    for (size_t i = 0; i < pairs; i++) {
        const redisReply *f = h->element[2 * i], *v = h->element[2 * i + 1];
        if (!is_string(f) || !is_string(v) || v->len != 5 || memcmp(v->str, "drain", 5) != 0)
            continue;
        if (wsb_node_id_check(f->str, f->len, NULL) != WSB_OK)
            continue;
        char *id = strndup(f->str, f->len);
        if (id == NULL)
            return wsb_fail(err, WSB_ENOMEM, "out of memory");
        out->drain_ids[out->n_drain++] = id;
    }
    return WSB_OK;
}

int wsb_state_read(struct wsb_redis *r, const struct wsb_keys *k, struct wsb_state *out, char *err)
{
    return wsb_state_read_watched(r, k, NULL, NULL, out, err);
}

int wsb_state_read_memo(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_state_memo *memo,
                        struct wsb_state *out, char *err)
{
    return wsb_state_read_watched(r, k, memo, NULL, out, err);
}

/* 1 when the peer closed or reset connection c (its last error), as a proxy
 * does on a command it does not know; saved_errno is errno right after the
 * failed call. */
static int closed_by_peer(const redisContext *c, int saved_errno)
{
    return c->err == REDIS_ERR_EOF ||
           (c->err == REDIS_ERR_IO && (saved_errno == ECONNRESET || saved_errno == EPIPE));
}

/* Collects the replies rep[from..to) of commands queued on c.  On a
 * failure the connection is dropped (it is out of step), the reason is in
 * err, *peer_closed (may be NULL) says whether the peer closed the
 * connection before the first of them, and WSB_EREDIS is returned; the
 * replies read so far stay in rep for the caller to free. */
static int get_replies(struct wsb_redis *r, redisContext *c, redisReply **rep, int from, int to,
                       int *peer_closed, char *err)
{
    for (int i = from; i < to; i++) {
        void *reply = NULL;
        if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) {
            if (peer_closed != NULL)
                *peer_closed = i == from && closed_by_peer(c, errno);
            wsb_fail(err, WSB_EREDIS, "redis %s: %s", wsb_redis_current(r), c->errstr[0] ? c->errstr : "no reply");
            wsb_redis_drop(r);
            return WSB_EREDIS;
        }
        rep[i] = reply;
    }
    return WSB_OK;
}

/* Reads the state on c in one write: WATCH <nodes> <admin> <round> first
 * when watch is set, then HGETALL <nodes>, HGETALL <admin>, EXISTS <round>.
 * An error reply to WATCH is copied to watch_err ("" when WATCH was not sent
 * or answered OK) and does not fail the read.  *closed_early is 1 when the
 * peer closed the connection before the first reply.  Returns as
 * wsb_state_read; the connection is dropped when it may be out of step. */
static int read_pipeline(struct wsb_redis *r, redisContext *c, const struct wsb_keys *k, int watch,
                         const struct wsb_state_memo *memo, struct wsb_state *out, char *watch_err,
                         int *closed_early, char *err)
{
    redisReply *rep[4] = { NULL, NULL, NULL, NULL };   /* WATCH, HGETALL, HGETALL, EXISTS */
    int first = watch ? 0 : 1;
    int status = WSB_EREDIS;
    memset(out, 0, sizeof *out);
    watch_err[0] = '\0';
    *closed_early = 0;
    if ((watch && redisAppendCommand(c, "WATCH %s %s %s", k->nodes, k->admin, k->round) != REDIS_OK) ||
        redisAppendCommand(c, "HGETALL %s", k->nodes) != REDIS_OK ||
        redisAppendCommand(c, "HGETALL %s", k->admin) != REDIS_OK ||
        redisAppendCommand(c, "EXISTS %s", k->round) != REDIS_OK) {
        wsb_fail(err, WSB_ENOMEM, "redis %s: cannot queue commands", wsb_redis_current(r));
        wsb_redis_drop(r);
        status = WSB_ENOMEM;
        goto cleanup;
    }
    if (get_replies(r, c, rep, first, 4, closed_early, err) != WSB_OK)
        goto cleanup;
    if (watch && rep[0]->type == REDIS_REPLY_ERROR)
        snprintf(watch_err, WSB_ERRLEN, "%.160s", rep[0]->str);
    else if (watch && rep[0]->type != REDIS_REPLY_STATUS)
        snprintf(watch_err, WSB_ERRLEN, "unexpected reply type %d", rep[0]->type);
    for (int i = 1; i < 4; i++) {
        if (rep[i]->type == REDIS_REPLY_ERROR) {
            wsb_fail(err, WSB_EREDIS, "redis %s: %.160s", wsb_redis_current(r), rep[i]->str);
            goto cleanup;
        }
    }
    if ((status = decode_nodes(rep[1], memo, out, err)) != WSB_OK ||
        (status = decode_admin(rep[2], out, err)) != WSB_OK)
        goto cleanup;
    if (rep[3]->type != REDIS_REPLY_INTEGER) {
        status = wsb_fail(err, WSB_EREPLY, "EXISTS %s: not an integer reply", k->round);
        goto cleanup;
    }
    out->live = rep[3]->integer > 0;
    status = WSB_OK;
cleanup:
    for (int i = 0; i < 4; i++)
        if (rep[i] != NULL)
            freeReplyObject(rep[i]);
    if (status != WSB_OK)
        wsb_state_clear(out);
    return status;
}

int wsb_state_read_watched(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_state_memo *memo,
                           struct wsb_state_watch *w, struct wsb_state *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (w != NULL)
        w->gen = 0;
    unsigned long long before = wsb_redis_generation(r);
    redisContext *c = wsb_redis_get(r, err);
    if (c == NULL)
        return WSB_EREDIS;
    unsigned long long gen = wsb_redis_generation(r);
    int watch = w != NULL && !w->refused, closed_early = 0;
    char watch_err[WSB_ERRLEN];
    int status = read_pipeline(r, c, k, watch, memo, out, watch_err, &closed_early, err);
    if (status == WSB_OK && watch && watch_err[0] == '\0') {
        w->gen = gen;
        w->live = out->live;
    } else if (status == WSB_OK && watch) {
        w->refused = 1;
        snprintf(w->why_refused, sizeof w->why_refused, "WATCH: %.200s", watch_err);
    } else if (status == WSB_EREDIS && watch && closed_early && gen != before) {
        /* A connection opened for this read closed before answering WATCH:
         * a proxy that drops a connection on a command it does not know
         * (twemproxy) looks like that.  One more read without WATCH on a
         * new connection tells it apart from Redis going away. */
        char first[WSB_ERRLEN];
        snprintf(first, sizeof first, "%s", err);
        if ((c = wsb_redis_get(r, err)) == NULL)
            return WSB_EREDIS;
        status = read_pipeline(r, c, k, 0, memo, out, watch_err, &closed_early, err);
        if (status == WSB_OK) {
            w->refused = 1;
            snprintf(w->why_refused, sizeof w->why_refused, "the connection closed after WATCH (%.200s)", first);
        }
    }
    return status;
}

static const char *const change_names[] = { "unchanged", "changed", "unwatched", "refused", "check_failed" };

const char *wsb_state_change_name(enum wsb_state_change c)
{
    return (unsigned)c < sizeof change_names / sizeof change_names[0] ? change_names[c] : "?";
}

enum wsb_state_change wsb_state_check(struct wsb_redis *r, const struct wsb_keys *k, struct wsb_state_watch *w,
                                      char *err)
{
    if (w->refused) {
        w->gen = 0;
        wsb_fail(err, WSB_EREDIS, "%s", w->why_refused);
        return WSB_STATE_REFUSED;
    }
    unsigned long long gen = w->gen;
    w->gen = 0;
    if (gen == 0 || gen != wsb_redis_generation(r)) {
        wsb_fail(err, WSB_OK, "nothing watched on this connection");
        return WSB_STATE_UNWATCHED;
    }
    redisContext *c = wsb_redis_get(r, err);   /* connected: returns the current context */
    if (c == NULL)
        return WSB_STATE_CHECK_FAILED;
    static const char *const names[] = { "MULTI", "EXEC", "WATCH", "EXISTS" };
    redisReply *rep[4] = { NULL, NULL, NULL, NULL };
    enum wsb_state_change change = WSB_STATE_CHECK_FAILED;
    if (redisAppendCommand(c, "MULTI") != REDIS_OK || redisAppendCommand(c, "EXEC") != REDIS_OK ||
        redisAppendCommand(c, "WATCH %s %s %s", k->nodes, k->admin, k->round) != REDIS_OK ||
        redisAppendCommand(c, "EXISTS %s", k->round) != REDIS_OK) {
        wsb_fail(err, WSB_ENOMEM, "redis %s: cannot queue commands", wsb_redis_current(r));
        wsb_redis_drop(r);
        goto cleanup;
    }
    if (get_replies(r, c, rep, 0, 4, NULL, err) != WSB_OK)
        goto cleanup;
    /* Refused: MULTI, EXEC or WATCH answered an error (NOPERM, an unknown
     * command); EXEC may then have left the connection inside MULTI. */
    for (int i = 0; i < 3; i++) {
        if (rep[i]->type == REDIS_REPLY_ERROR) {
            w->refused = 1;
            snprintf(w->why_refused, sizeof w->why_refused, "%s: %.160s", names[i], rep[i]->str);
            wsb_fail(err, WSB_EREDIS, "redis %s: %s", wsb_redis_current(r), w->why_refused);
            wsb_redis_drop(r);
            change = WSB_STATE_REFUSED;
            goto cleanup;
        }
    }
    if (rep[3]->type == REDIS_REPLY_ERROR) {   /* LOADING, MASTERDOWN: the read will say */
        wsb_fail(err, WSB_EREDIS, "redis %s: EXISTS: %.160s", wsb_redis_current(r), rep[3]->str);
        goto cleanup;
    }
    if (rep[0]->type != REDIS_REPLY_STATUS || rep[2]->type != REDIS_REPLY_STATUS ||
        rep[3]->type != REDIS_REPLY_INTEGER ||
        (rep[1]->type != REDIS_REPLY_NIL && !(rep[1]->type == REDIS_REPLY_ARRAY && rep[1]->elements == 0))) {
        int bad = rep[0]->type != REDIS_REPLY_STATUS ? 0 : rep[2]->type != REDIS_REPLY_STATUS ? 2
                : rep[3]->type != REDIS_REPLY_INTEGER ? 3 : 1;
        wsb_fail(err, WSB_EREPLY, "redis %s: %s: unexpected reply type %d", wsb_redis_current(r), names[bad],
                 rep[bad]->type);
        wsb_redis_drop(r);   /* out of step, or not the Redis it seems */
        goto cleanup;
    }
    if (rep[1]->type == REDIS_REPLY_NIL) {
        wsb_fail(err, WSB_OK, "a watched key was touched");
        change = WSB_STATE_CHANGED;
    } else if ((rep[3]->integer > 0) != w->live) {
        wsb_fail(err, WSB_OK, "%s %s", k->round, w->live ? "is gone" : "is back");
        change = WSB_STATE_CHANGED;
    } else {
        w->gen = gen;
        change = WSB_STATE_UNCHANGED;
    }
cleanup:
    for (int i = 0; i < 4; i++)
        if (rep[i] != NULL)
            freeReplyObject(rep[i]);
    return change;
}

/* Appends one command given as argv; returns WSB_OK or WSB_ENOMEM. */
static int append_argv(redisContext *c, int argc, const char **argv, const size_t *lens)
{
    return redisAppendCommandArgv(c, argc, argv, lens) == REDIS_OK ? WSB_OK : WSB_ENOMEM;
}

#define HSET_BATCH 512

int wsb_state_write_round(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_node *nodes,
                          size_t n, const struct wsb_round_summary *sum, int ttl_s, char *err)
{
    int status = WSB_ENOMEM;
    char **records = NULL;
    const char **argv = NULL;
    size_t *lens = NULL;
    size_t queued = 0;
    redisContext *c = NULL;

    if (n > WSB_MAX_NODES)
        return wsb_fail(err, WSB_ETOOBIG, "%zu nodes, more than %d", n, WSB_MAX_NODES);
    if (n > 0 && (records = calloc(n, sizeof *records)) == NULL)
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        char why[WSB_ERRLEN];
        if (wsb_node_id_check(nodes[i].id ? nodes[i].id : "", nodes[i].id ? strlen(nodes[i].id) : 0, why) !=
            WSB_OK) {
            status = wsb_fail(err, WSB_EINVAL, "nodes[%zu]: %s", i, why);
            goto cleanup;
        }
        status = wsb_node_encode(&nodes[i], &records[i], why);
        if (status != WSB_OK) {
            wsb_fail(err, status, "node %s: %s", nodes[i].id, why);
            goto cleanup;
        }
    }
    argv = malloc((2 + 2 * HSET_BATCH) * sizeof *argv);
    lens = malloc((2 + 2 * HSET_BATCH) * sizeof *lens);
    if (argv == NULL || lens == NULL) {
        status = wsb_fail(err, WSB_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((c = wsb_redis_get(r, err)) == NULL) {
        status = WSB_EREDIS;
        goto cleanup;
    }
    status = WSB_ENOMEM;
    if (redisAppendCommand(c, "MULTI") != REDIS_OK)
        goto cleanup;
    queued++;
    if (redisAppendCommand(c, "DEL %s", k->nodes) != REDIS_OK)
        goto cleanup;
    queued++;
    for (size_t i = 0; i < n; i += HSET_BATCH) {
        size_t end = i + HSET_BATCH < n ? i + HSET_BATCH : n;
        int argc = 0;
        argv[argc] = "HSET";
        lens[argc++] = 4;
        argv[argc] = k->nodes;
        lens[argc++] = strlen(k->nodes);
        for (size_t j = i; j < end; j++) {
            argv[argc] = nodes[j].id;
            lens[argc++] = strlen(nodes[j].id);
            argv[argc] = records[j];
            lens[argc++] = strlen(records[j]);
        }
        if (append_argv(c, argc, argv, lens) != WSB_OK)
            goto cleanup;
        queued++;
    }
    if (redisAppendCommand(c, "DEL %s", k->round) != REDIS_OK)
        goto cleanup;
    queued++;
    /* hiredis formats with its own parser: no %zu, so sizes go as long long. */
    if (redisAppendCommand(c, "HSET %s at %lld duration_ms %lld nodes %llu up %llu down %llu draining %llu ttl %d probe %s",
                           k->round, sum->at, sum->duration_ms, (unsigned long long)sum->nodes,
                           (unsigned long long)sum->up, (unsigned long long)sum->down,
                           (unsigned long long)sum->draining, ttl_s, sum->probe ? sum->probe : "?") != REDIS_OK)
        goto cleanup;
    queued++;
    if (redisAppendCommand(c, "EXPIRE %s %d", k->round, ttl_s) != REDIS_OK)
        goto cleanup;
    queued++;
    if (redisAppendCommand(c, "EXEC") != REDIS_OK)
        goto cleanup;
    queued++;

    /* Read every reply; the last one (EXEC) says whether the round landed. */
    status = WSB_OK;
    for (size_t i = 0; i < queued; i++) {
        void *reply = NULL;
        if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) {
            status = wsb_fail(err, WSB_EREDIS, "redis %s: %s", wsb_redis_current(r),
                              c->errstr[0] ? c->errstr : "no reply");
            wsb_redis_drop(r);
            c = NULL;
            break;
        }
        redisReply *rr = reply;
        if (status == WSB_OK && rr->type == REDIS_REPLY_ERROR)
            status = wsb_fail(err, WSB_EREDIS, "redis %s: %.160s", wsb_redis_current(r), rr->str);
        else if (status == WSB_OK && i == queued - 1 && rr->type != REDIS_REPLY_ARRAY)
            status = wsb_fail(err, WSB_EREPLY, "redis %s: EXEC did not run the round", wsb_redis_current(r));
        else if (status == WSB_OK && i == queued - 1) {
            for (size_t j = 0; j < rr->elements; j++)
                if (rr->element[j]->type == REDIS_REPLY_ERROR) {
                    status = wsb_fail(err, WSB_EREDIS, "redis %s: %.160s", wsb_redis_current(r),
                                      rr->element[j]->str);
                    break;
                }
        }
        freeReplyObject(rr);
    }
    queued = 0;
cleanup:
    if (status == WSB_ENOMEM && err != NULL)
        wsb_fail(err, WSB_ENOMEM, "out of memory writing the round");
    if (queued > 0 && c != NULL)
        wsb_redis_drop(r);   /* replies are pending: the connection is out of step */
    if (records != NULL)
        for (size_t i = 0; i < n; i++)
            free(records[i]);
    free(records);
    free(argv);
    free(lens);
    return status;
}

int wsb_state_set_drain(struct wsb_redis *r, const struct wsb_keys *k, const char *id, int drain,
                        char *err)
{
    char why[WSB_ERRLEN];
    if (wsb_node_id_check(id, strlen(id), why) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "%s", why);
    redisReply *reply = drain ? wsb_redis_command(r, err, "HSET %s %s drain", k->admin, id)
                              : wsb_redis_command(r, err, "HDEL %s %s", k->admin, id);
    if (reply == NULL)
        return WSB_EREDIS;
    freeReplyObject(reply);
    return WSB_OK;
}

int wsb_state_lock(struct wsb_redis *r, const struct wsb_keys *k, const char *token, long ttl_ms,
                   char *err)
{
    redisReply *reply = wsb_redis_command(r, err, "SET %s %s NX PX %ld", k->lock, token, ttl_ms);
    if (reply == NULL)
        return WSB_EREDIS;
    int taken = reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(reply);
    return taken ? WSB_OK : WSB_EBUSY;
}

static const char *const REFRESH_LUA =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
static const char *const UNLOCK_LUA =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) else return 0 end";

int wsb_state_lock_refresh(struct wsb_redis *r, const struct wsb_keys *k, const char *token,
                           long ttl_ms, char *err)
{
    redisReply *reply = wsb_redis_command(r, err, "EVAL %s 1 %s %s %ld", REFRESH_LUA, k->lock, token, ttl_ms);
    if (reply == NULL)
        return WSB_EREDIS;
    int held = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    freeReplyObject(reply);
    return held ? WSB_OK : WSB_EBUSY;
}

int wsb_state_unlock(struct wsb_redis *r, const struct wsb_keys *k, const char *token, char *err)
{
    redisReply *reply = wsb_redis_command(r, err, "EVAL %s 1 %s %s", UNLOCK_LUA, k->lock, token);
    if (reply == NULL)
        return WSB_EREDIS;
    freeReplyObject(reply);
    return WSB_OK;
}

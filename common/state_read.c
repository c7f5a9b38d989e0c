/* state_read.c: reading and decoding the state (state_read.h) in one
 * pipelined round trip, reusing the decode of unchanged records. */
#include "state_read.h"
#include "hash.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A decimal of at most 18 digits from a reply, or -1. */
static long long reply_number(const redisReply *v)
{
    if (!is_string(v) || v->len == 0 || v->len > 18)
        return -1;
    long long n = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->str[i] < '0' || v->str[i] > '9')
            return -1;
        n = n * 10 + (v->str[i] - '0');
    }
    return n;
}

/* The round's fields from HMGET <round> id ttl at fault fault_at; a field
 * that is missing or malformed is left empty (no accounting, no ttl, ...). */
static void round_fields(const redisReply *h, struct wsb_state *out)
{
    if (h->type == REDIS_REPLY_ERROR)
        snprintf(out->round_err, sizeof out->round_err, "HMGET: %.160s", h->str);
    if (h->type != REDIS_REPLY_ARRAY || h->elements != 5)
        return;
    const redisReply *id = h->element[0], *fault = h->element[3];
    if (is_string(id) && wsb_round_id_ok(id->str, id->len)) {
        memcpy(out->round_id, id->str, id->len);
        out->round_id[id->len] = '\0';
    }
    long long ttl = reply_number(h->element[1]), at = reply_number(h->element[2]);
    out->round_ttl = ttl > 0 && ttl < 1000000000 ? ttl : 0;
    out->round_at = at > 0 ? at : 0;
    if (is_string(fault) && fault->len > 0) {
        size_t n = fault->len < sizeof out->fault - 1 ? fault->len : sizeof out->fault - 1;
        for (size_t i = 0; i < n; i++)   /* shown in logs: printable ASCII only */
            out->fault[i] = fault->str[i] >= 0x20 && fault->str[i] < 0x7f ? fault->str[i] : '?';
        out->fault[n] = '\0';
        long long fat = reply_number(h->element[4]);
        out->fault_at = fat > 0 ? fat : 0;
    }
}

int wsb_state_read_on(struct wsb_redis *r, redisContext *c, const struct wsb_keys *k, int watch,
                      const struct wsb_state_memo *memo, struct wsb_state *out, char *watch_err,
                      int *closed_early, char *err)
{
    redisReply *rep[5] = { NULL, NULL, NULL, NULL, NULL };   /* WATCH, HGETALL, HGETALL, EXISTS, HMGET */
    int first = watch ? 0 : 1;
    int status = WSB_EREDIS;
    memset(out, 0, sizeof *out);
    watch_err[0] = '\0';
    *closed_early = 0;
    if ((watch && redisAppendCommand(c, "WATCH %s %s %s", k->nodes, k->admin, k->round) != REDIS_OK) ||
        redisAppendCommand(c, "HGETALL %s", k->nodes) != REDIS_OK ||
        redisAppendCommand(c, "HGETALL %s", k->admin) != REDIS_OK ||
        redisAppendCommand(c, "EXISTS %s", k->round) != REDIS_OK ||
        redisAppendCommand(c, "HMGET %s id ttl at fault fault_at", k->round) != REDIS_OK) {
        wsb_fail(err, WSB_ENOMEM, "redis %s: cannot queue commands", wsb_redis_current(r));
        wsb_redis_drop(r);
        status = WSB_ENOMEM;
        goto cleanup;
    }
    if (wsb_redis_get_replies(r, c, rep + first, 5 - first, closed_early, err) != WSB_OK)
        goto cleanup;
    if (watch && rep[0]->type == REDIS_REPLY_ERROR)
        snprintf(watch_err, WSB_ERRLEN, "%.160s", rep[0]->str);
    else if (watch && rep[0]->type != REDIS_REPLY_STATUS)
        snprintf(watch_err, WSB_ERRLEN, "unexpected reply type %d", rep[0]->type);
    /* HMGET's error (a round key that is not a hash) fails nothing: the
     * round then has no id, and the state reads as before. */
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
    round_fields(rep[4], out);
    status = WSB_OK;
cleanup:
    for (int i = 0; i < 5; i++)
        if (rep[i] != NULL)
            freeReplyObject(rep[i]);
    if (status != WSB_OK)
        wsb_state_clear(out);
    return status;
}

/* A plain read (no WATCH) on the current connection, or a new one. */
static int read_plain(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_state_memo *memo,
                      struct wsb_state *out, char *err)
{
    char watch_err[WSB_ERRLEN];
    int closed_early;
    memset(out, 0, sizeof *out);
    redisContext *c = wsb_redis_get(r, err);
    if (c == NULL)
        return WSB_EREDIS;
    return wsb_state_read_on(r, c, k, 0, memo, out, watch_err, &closed_early, err);
}

int wsb_state_read(struct wsb_redis *r, const struct wsb_keys *k, struct wsb_state *out, char *err)
{
    return read_plain(r, k, NULL, out, err);
}

int wsb_state_read_memo(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_state_memo *memo,
                        struct wsb_state *out, char *err)
{
    return read_plain(r, k, memo, out, err);
}

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

/* The pairs of the node hash, in one reply (HGETALL) or several (the
 * HSCAN chunks of a large hash). */
struct node_parts {
    const redisReply *const *arr;   /* each an array of field, value, ... */
    size_t n;
    int dedupe;                     /* HSCAN may return a record twice: keep the first */
};

/* Whether id (len bytes) was seen before; notes it when not.  seen has
 * mask + 1 slots of pointers to field replies. */
static int seen_before(const redisReply **seen, size_t mask, const redisReply *f)
{
    size_t h = (size_t)wsb_fnv1a(WSB_FNV_OFFSET, f->str, f->len) & mask;
    for (; seen[h] != NULL; h = (h + 1) & mask)
        if (seen[h]->len == f->len && memcmp(seen[h]->str, f->str, f->len) == 0)
            return 1;
    seen[h] = f;
    return 0;
}

static int decode_nodes(const struct node_parts *p, const struct wsb_state_memo *memo, struct wsb_state *out,
                        char *err)
{
    size_t pairs = 0;
    for (size_t a = 0; a < p->n; a++) {
        const redisReply *h = p->arr[a];
        if (h->type != REDIS_REPLY_ARRAY || h->elements % 2 != 0)
            return wsb_fail(err, WSB_EREPLY, "node hash: expected a hash, got reply type %d", h->type);
        pairs += h->elements / 2;
    }
    if (pairs > WSB_MAX_NODES && !p->dedupe)
        return wsb_fail(err, WSB_ETOOBIG, "node hash has %zu nodes, more than %d", pairs, WSB_MAX_NODES);
    if (pairs == 0)
        return WSB_OK;
    const redisReply **seen = NULL;
    size_t mask = 0;
    if (p->dedupe) {
        size_t cap = 16;
        while (cap < 2 * pairs)
            cap <<= 1;
        if ((seen = calloc(cap, sizeof *seen)) == NULL)
            return wsb_fail(err, WSB_ENOMEM, "out of memory");
        mask = cap - 1;
    }
    out->nodes = calloc(pairs, sizeof *out->nodes);
    if (out->nodes == NULL) {
        free(seen);
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
    }
    struct memo_lookup m = { .memo = memo };
    int status = WSB_OK;
    size_t unique = 0;
    for (size_t a = 0; a < p->n; a++) {
        const redisReply *h = p->arr[a];
        for (size_t i = 0; i < h->elements / 2; i++) {
            const redisReply *f = h->element[2 * i], *v = h->element[2 * i + 1];
            char why[WSB_ERRLEN];
            int reused = 0, decoded = WSB_EINVAL;
            if (seen != NULL && is_string(f) && seen_before(seen, mask, f))
                continue;
            if (++unique > WSB_MAX_NODES) {
                status = wsb_fail(err, WSB_ETOOBIG, "node hash has more than %d nodes", WSB_MAX_NODES);
                goto cleanup;
            }
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
    }
cleanup:
    memo_lookup_free(&m);
    free(seen);
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

/* Sends what is queued on c and reads n replies into rep (freed by the
 * caller, also on failure). */
static int queue_failed(struct wsb_redis *r, char *err)
{
    wsb_fail(err, WSB_ENOMEM, "redis %s: cannot queue commands", wsb_redis_current(r));
    wsb_redis_drop(r);
    return WSB_ENOMEM;
}

/* The replies of a read, freed together. */
struct read_replies {
    redisReply *head[5];            /* WATCH, HGETALL nodes or HLEN nodes, HGETALL admin, EXISTS, HMGET */
    redisReply *nodes;              /* HGETALL nodes after HLEN */
    redisReply **chunks;            /* HSCAN replies */
    size_t n_chunks, cap_chunks;
    const redisReply **arrays;      /* the pairs of each chunk */
};

static void replies_free(struct read_replies *rr)
{
    for (int i = 0; i < 5; i++)
        if (rr->head[i] != NULL)
            freeReplyObject(rr->head[i]);
    if (rr->nodes != NULL)
        freeReplyObject(rr->nodes);
    for (size_t i = 0; i < rr->n_chunks; i++)
        freeReplyObject(rr->chunks[i]);
    free(rr->chunks);
    free(rr->arrays);
    memset(rr, 0, sizeof *rr);
}

/* Reads the node hash of hlen records after the head: in one HGETALL up
 * to WSB_STATE_CHUNK records, else in HSCAN chunks of about
 * WSB_STATE_SCAN_COUNT, so
 * that no single command keeps Redis busy (and builds a reply in its
 * memory) for the whole hash, and a timed-out read leaves one chunk behind
 * at most.  Fills parts. */
static int read_nodes(struct wsb_redis *r, redisContext *c, const struct wsb_keys *k, long long hlen,
                      struct read_replies *rr, struct node_parts *parts, char *refused, char *err)
{
    if (hlen <= WSB_STATE_CHUNK || refused[0] != '\0') {
        if (redisAppendCommand(c, "HGETALL %s", k->nodes) != REDIS_OK)
            return queue_failed(r, err);
        if (wsb_redis_get_replies(r, c, &rr->nodes, 1, NULL, err) != WSB_OK)
            return WSB_EREDIS;
        if (rr->nodes->type == REDIS_REPLY_ERROR)
            return wsb_fail(err, WSB_EREDIS, "redis %s: %.160s", wsb_redis_current(r), rr->nodes->str);
        parts->arr = (const redisReply *const *)&rr->nodes;
        parts->n = 1;
        return WSB_OK;
    }
    /* A hash that keeps growing (or a cursor that never ends) is bounded:
     * each call returns about WSB_STATE_SCAN_COUNT records of the limit. */
    size_t max_calls = 4 * (WSB_MAX_NODES / WSB_STATE_SCAN_COUNT + 2);
    char cursor[32] = "0";
    do {
        if (rr->n_chunks == max_calls)
            return wsb_fail(err, WSB_ETOOBIG, "node hash: HSCAN did not end within %zu calls", max_calls);
        if (rr->n_chunks == rr->cap_chunks) {
            size_t cap = rr->cap_chunks ? 2 * rr->cap_chunks : 16;
            redisReply **ch = realloc(rr->chunks, cap * sizeof *ch);
            if (ch == NULL)
                return wsb_fail(err, WSB_ENOMEM, "out of memory");
            rr->chunks = ch;
            rr->cap_chunks = cap;
        }
        if (redisAppendCommand(c, "HSCAN %s %s COUNT %d", k->nodes, cursor, WSB_STATE_SCAN_COUNT) != REDIS_OK)
            return queue_failed(r, err);
        redisReply *rep = NULL;
        if (wsb_redis_get_replies(r, c, &rep, 1, NULL, err) != WSB_OK)
            return WSB_EREDIS;
        rr->chunks[rr->n_chunks++] = rep;
        if (rep->type == REDIS_REPLY_ERROR && rr->n_chunks == 1) {
            /* An ACL from before chunked reads (no +hscan): the hash in
             * one reply, as then. */
            snprintf(refused, WSB_ERRLEN, "HSCAN: %.160s", rep->str);
            return read_nodes(r, c, k, hlen, rr, parts, refused, err);
        }
        if (rep->type == REDIS_REPLY_ERROR)
            return wsb_fail(err, WSB_EREDIS, "redis %s: HSCAN: %.160s", wsb_redis_current(r), rep->str);
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || !is_string(rep->element[0]) ||
            rep->element[0]->len >= sizeof cursor || rep->element[1]->type != REDIS_REPLY_ARRAY)
            return wsb_fail(err, WSB_EREPLY, "node hash: HSCAN: unexpected reply");
        memcpy(cursor, rep->element[0]->str, rep->element[0]->len);
        cursor[rep->element[0]->len] = '\0';
    } while (strcmp(cursor, "0") != 0);
    if ((rr->arrays = calloc(rr->n_chunks, sizeof *rr->arrays)) == NULL)
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
    for (size_t i = 0; i < rr->n_chunks; i++)
        rr->arrays[i] = rr->chunks[i]->element[1];
    parts->arr = rr->arrays;
    parts->n = rr->n_chunks;
    parts->dedupe = rr->n_chunks > 1;
    return WSB_OK;
}

/* After a read in several HSCAN chunks: whether the probe wrote a new
 * round meanwhile (the round's id read again differs).  A change of
 * another kind (an operator's edit, a drain) during a watched read is
 * found by the next change check, which reads the state again
 * (state_watch.h).  Returns WSB_OK with *changed, or an error. */
static int verify_unchanged(struct wsb_redis *r, redisContext *c, const struct wsb_keys *k,
                            const struct wsb_state *out, int *changed, char *err)
{
    redisReply *rep = NULL;
    *changed = 0;
    if (redisAppendCommand(c, "HMGET %s id", k->round) != REDIS_OK)
        return queue_failed(r, err);
    if (wsb_redis_get_replies(r, c, &rep, 1, NULL, err) != WSB_OK)
        return WSB_EREDIS;
    if (rep->type == REDIS_REPLY_ERROR) {
        *changed = out->round_id[0] != '\0';   /* the id was read before: it is not now */
    } else {
        const redisReply *v = rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 ? rep->element[0] : NULL;
        const char *id = v != NULL && is_string(v) && wsb_round_id_ok(v->str, v->len) ? v->str : "";
        *changed = strcmp(id, out->round_id) != 0;
    }
    freeReplyObject(rep);
    return WSB_OK;
}

/* One attempt of wsb_state_read_on; *changed: the state changed during a
 * read in several commands (the caller reads again). */
static int read_once(struct wsb_redis *r, redisContext *c, const struct wsb_keys *k, int watch,
                     const struct wsb_state_memo *memo, struct wsb_state *out, char *watch_err, int *closed_early,
                     int *changed, char *err)
{
    struct read_replies rr;
    redisReply **rep = rr.head;
    int first = watch ? 0 : 1;
    int status = WSB_EREDIS;
    /* A hash known to be small is read in the same round trip as the rest;
     * else its size is asked first. */
    int small = memo != NULL && memo->small;
    memset(&rr, 0, sizeof rr);
    memset(out, 0, sizeof *out);
    watch_err[0] = '\0';
    *closed_early = 0;
    *changed = 0;
    if ((watch && redisAppendCommand(c, "WATCH %s %s %s", k->nodes, k->admin, k->round) != REDIS_OK) ||
        redisAppendCommand(c, small ? "HGETALL %s" : "HLEN %s", k->nodes) != REDIS_OK ||
        redisAppendCommand(c, "HGETALL %s", k->admin) != REDIS_OK ||
        redisAppendCommand(c, "EXISTS %s", k->round) != REDIS_OK ||
        redisAppendCommand(c, "HMGET %s id ttl at fault fault_at", k->round) != REDIS_OK) {
        status = queue_failed(r, err);
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
    char refused[WSB_ERRLEN] = "";
    if (!small && rep[1]->type == REDIS_REPLY_ERROR)   /* an ACL from before chunked reads (no +hlen) */
        snprintf(refused, sizeof refused, "HLEN: %.160s", rep[1]->str);
    for (int i = refused[0] != '\0' ? 2 : 1; i < 4; i++) {
        if (rep[i]->type == REDIS_REPLY_ERROR) {
            wsb_fail(err, WSB_EREDIS, "redis %s: %.160s", wsb_redis_current(r), rep[i]->str);
            goto cleanup;
        }
    }
    if (rep[3]->type != REDIS_REPLY_INTEGER) {
        status = wsb_fail(err, WSB_EREPLY, "EXISTS %s: not an integer reply", k->round);
        goto cleanup;
    }
    struct node_parts parts = { (const redisReply *const *)&rep[1], 1, 0 };
    if (!small) {
        if (refused[0] == '\0' && rep[1]->type != REDIS_REPLY_INTEGER) {
            status = wsb_fail(err, WSB_EREPLY, "HLEN %s: not an integer reply", k->nodes);
            goto cleanup;
        }
        /* Refused before it is read: a hash over the limit is never read whole. */
        if (refused[0] == '\0' && rep[1]->integer > WSB_MAX_NODES) {
            status = wsb_fail(err, WSB_ETOOBIG, "node hash has %lld nodes, more than %d", rep[1]->integer,
                              WSB_MAX_NODES);
            goto cleanup;
        }
        long long hlen = refused[0] == '\0' ? rep[1]->integer : 0;
        if ((status = read_nodes(r, c, k, hlen, &rr, &parts, refused, err)) != WSB_OK)
            goto cleanup;
    }
    if ((status = decode_nodes(&parts, memo, out, err)) != WSB_OK ||
        (status = decode_admin(rep[2], out, err)) != WSB_OK)
        goto cleanup;
    out->live = rep[3]->integer > 0;
    round_fields(rep[4], out);
    snprintf(out->chunk_err, sizeof out->chunk_err, "%s", refused);
    if (parts.n > 1)
        status = verify_unchanged(r, c, k, out, changed, err);
cleanup:
    replies_free(&rr);
    if (status != WSB_OK || *changed)
        wsb_state_clear(out);
    return status;
}

int wsb_state_read_on(struct wsb_redis *r, redisContext *c, const struct wsb_keys *k, int watch,
                      const struct wsb_state_memo *memo, struct wsb_state *out, char *watch_err,
                      int *closed_early, char *err)
{
    for (int attempt = 0; attempt < WSB_STATE_READ_TRIES; attempt++) {
        int changed = 0;
        int status = read_once(r, c, k, watch, memo, out, watch_err, closed_early, &changed, err);
        if (status != WSB_OK || !changed)
            return status;
        if (!wsb_redis_connected(r) || (c = wsb_redis_get(r, err)) == NULL)
            return WSB_EREDIS;
    }
    memset(out, 0, sizeof *out);
    return wsb_fail(err, WSB_EREDIS, "redis %s: the state changed during each of %d reads", wsb_redis_current(r),
                    WSB_STATE_READ_TRIES);
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

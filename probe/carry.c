/* carry.c: the starts the handlers counted since each node's check, summed
 * for the next round's assignment counts (carry.h). */
#include "carry.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

long long wsb_carry_first_second(const struct wsb_node *nodes, size_t n, long long now)
{
    long long floor = now - WSB_STARTS_TTL_S, first = now;
    for (size_t i = 0; i < n; i++)
        if (nodes[i].checked_at < first)
            first = nodes[i].checked_at;
    return first < floor ? floor : first;
}

/* The nodes ordered by id, for looking up the fields of a reply. */
struct id_index {
    const struct wsb_node *nodes;
    const struct wsb_node **sorted;   /* n pointers into nodes */
    size_t n;
};

static int by_id(const void *a, const void *b)
{
    return strcmp((*(const struct wsb_node *const *)a)->id, (*(const struct wsb_node *const *)b)->id);
}

/* WSB_OK, or WSB_ENOMEM with nothing to free. */
static int index_build(struct id_index *x, const struct wsb_node *nodes, size_t n)
{
    x->nodes = nodes;
    x->n = n;
    x->sorted = malloc((n ? n : 1) * sizeof *x->sorted);
    if (x->sorted == NULL)
        return WSB_ENOMEM;
    for (size_t i = 0; i < n; i++)
        x->sorted[i] = &nodes[i];
    qsort(x->sorted, n, sizeof *x->sorted, by_id);
    return WSB_OK;
}

/* The position in nodes of the node whose id is the len bytes at s, or -1. */
static long index_find(const struct id_index *x, const char *s, size_t len)
{
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *id = x->sorted[mid]->id;
        size_t idlen = strlen(id);
        int d = memcmp(id, s, idlen < len ? idlen : len);
        if (d == 0)
            d = (idlen > len) - (idlen < len);
        if (d == 0)
            return (long)(x->sorted[mid] - x->nodes);
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int is_string(const redisReply *r)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* A count as Redis holds it (decimal digits), clamped to WSB_CARRY_MAX;
 * 0 for anything else. */
static long long count_of(const redisReply *r)
{
    if (!is_string(r) || r->len == 0 || r->len > 20)
        return 0;
    long long v = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9')
            return 0;
        if (v < WSB_CARRY_MAX)
            v = v * 10 + (r->str[i] - '0');
    }
    return v > WSB_CARRY_MAX ? WSB_CARRY_MAX : v;
}

int wsb_carry_sum(const struct wsb_node *nodes, size_t n, long long first, redisReply *const *hashes,
                  size_t n_hashes, long long *counts, char *err)
{
    struct id_index x;
    if (n > 0)
        memset(counts, 0, n * sizeof *counts);
    if (n == 0 || n_hashes == 0)
        return WSB_OK;
    for (size_t j = 0; j < n_hashes; j++) {
        const redisReply *h = hashes[j];
        if (h == NULL || h->type != REDIS_REPLY_ARRAY || h->elements % 2 != 0)
            return wsb_fail(err, WSB_EREPLY, "starts of second %lld: expected a hash, got reply type %d",
                            first + (long long)j, h ? h->type : -1);
    }
    if (index_build(&x, nodes, n) != WSB_OK)
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
    for (size_t j = 0; j < n_hashes; j++) {
        const redisReply *h = hashes[j];
        long long second = first + (long long)j;
        for (size_t e = 0; e + 1 < h->elements; e += 2) {
            const redisReply *f = h->element[e];
            if (!is_string(f))
                continue;
            long i = index_find(&x, f->str, f->len);
            if (i < 0 || second < nodes[i].checked_at)
                continue;
            counts[i] += count_of(h->element[e + 1]);
            if (counts[i] > WSB_CARRY_MAX)
                counts[i] = WSB_CARRY_MAX;
        }
    }
    free(x.sorted);
    return WSB_OK;
}

int wsb_carry_read(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_node *nodes, size_t n,
                   long long now, long long *counts, char *err)
{
    if (n > 0)
        memset(counts, 0, n * sizeof *counts);
    if (n == 0)
        return WSB_OK;
    long long first = wsb_carry_first_second(nodes, n, now);
    size_t n_keys = (size_t)(now - first + 1);
    redisReply **rep = calloc(n_keys, sizeof *rep);
    if (rep == NULL)
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
    int status = WSB_EREDIS;
    redisContext *c = wsb_redis_get(r, err);
    if (c == NULL)
        goto cleanup;
    for (size_t j = 0; j < n_keys; j++) {
        char key[WSB_MAX_KEY];
        wsb_keys_starts(k, first + (long long)j, key);
        if (redisAppendCommand(c, "HGETALL %s", key) != REDIS_OK) {
            wsb_redis_drop(r);   /* some may be queued: out of step */
            status = wsb_fail(err, WSB_ENOMEM, "redis %s: cannot queue commands", wsb_redis_current(r));
            goto cleanup;
        }
    }
    if ((status = wsb_redis_get_replies(r, c, rep, (int)n_keys, NULL, err)) != WSB_OK)
        goto cleanup;
    for (size_t j = 0; j < n_keys; j++)
        if (rep[j]->type == REDIS_REPLY_ERROR) {
            status = wsb_fail(err, WSB_EREDIS, "redis %s: HGETALL %s%lld: %.160s", wsb_redis_current(r), k->starts,
                              first + (long long)j, rep[j]->str);
            goto cleanup;
        }
    status = wsb_carry_sum(nodes, n, first, rep, n_keys, counts, err);
cleanup:
    for (size_t j = 0; j < n_keys; j++)
        if (rep[j] != NULL)
            freeReplyObject(rep[j]);
    free(rep);
    if (status != WSB_OK)
        memset(counts, 0, n * sizeof *counts);
    return status;
}

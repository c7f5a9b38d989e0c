/* state_write.c: the probe's writes to the state: a round in one
 * MULTI/EXEC, and run-time drains. */
#include "state_write.h"
#include "clock.h"
#include "log.h"
#include "state_read.h"
#include "status.h"

#include <hiredis/sds.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HSET_BATCH 512
#define EVENTS_BATCH 256   /* XADDs queued between two looks at the output buffer */

/* hiredis queues every command in its output buffer until the replies
 * are read; a round of a large fleet would be held there whole (a few
 * hundred bytes a node).  The buffer is written out once it holds this
 * much; nothing is read until EXEC, so the round is still one
 * transaction, only no longer one buffer. */
#define FLUSH_AT (128 * 1024)

/* Writes out what c has queued when it holds FLUSH_AT bytes or more (any
 * bytes when force).  WSB_OK, or WSB_EREDIS (the caller drops the
 * connection). */
static int flush_queued(redisContext *c, int force)
{
    if (c->obuf == NULL || sdslen(c->obuf) == 0 || (!force && sdslen(c->obuf) < FLUSH_AT))
        return WSB_OK;
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return WSB_EREDIS;
    return WSB_OK;
}

/* Checks every node's id before anything is queued.  WSB_OK, or
 * WSB_EINVAL with the reason in err. */
static int check_ids(const struct wsb_node *nodes, size_t n, char *err)
{
    for (size_t i = 0; i < n; i++) {
        char why[WSB_ERRLEN];
        const char *id = nodes[i].id ? nodes[i].id : "";
        if (wsb_node_id_check(id, strlen(id), why) != WSB_OK)
            return wsb_fail(err, WSB_EINVAL, "nodes[%zu]: %s", i, why);
    }
    return WSB_OK;
}

/* The value of nodes[i] in an HSET: its encoded record (malloc'ed into
 * *owned), or a text of values (borrowed; NULL: not written). */
struct hset_values {
    const char *const *texts;      /* NULL: encode the node records */
    char *err;                     /* with texts NULL: why a record could not be encoded */
};

/* Queues HSET key id value ... for every node with a value, in batches of
 * HSET_BATCH pairs, writing the output buffer out as it fills; records
 * are encoded a batch at a time, just before they are queued, and freed
 * once queued (hiredis has copied them).  Counts what it queued in
 * *queued.  WSB_OK, WSB_ENOMEM, WSB_EREDIS (writing out), or what
 * wsb_node_encode returned (with v->err). */
static int queue_hset_batches(redisContext *c, const char *key, const struct wsb_node *nodes,
                              const struct hset_values *v, size_t n, size_t *queued)
{
    int status = WSB_ENOMEM;
    const char **argv = malloc((2 + 2 * HSET_BATCH) * sizeof *argv);
    size_t *lens = malloc((2 + 2 * HSET_BATCH) * sizeof *lens);
    char **owned = calloc(HSET_BATCH, sizeof *owned);
    size_t n_owned = 0;
    if (argv == NULL || lens == NULL || owned == NULL)
        goto cleanup;
    argv[0] = "HSET";
    lens[0] = 4;
    argv[1] = key;
    lens[1] = strlen(key);
    for (size_t i = 0; i < n;) {
        int argc = 2;
        for (; i < n && argc < 2 + 2 * HSET_BATCH; i++) {
            const char *value;
            if (v->texts != NULL) {
                value = v->texts[i];
            } else {
                char why[WSB_ERRLEN];
                int st = wsb_node_encode(&nodes[i], &owned[n_owned], why);
                if (st != WSB_OK) {
                    status = wsb_fail(v->err, st, "node %s: %s", nodes[i].id, why);
                    goto cleanup;
                }
                value = owned[n_owned++];
            }
            if (value == NULL)
                continue;
            argv[argc] = nodes[i].id;
            lens[argc++] = strlen(nodes[i].id);
            argv[argc] = value;
            lens[argc++] = strlen(value);
        }
        if (argc > 2) {
            if (redisAppendCommandArgv(c, argc, argv, lens) != REDIS_OK)
                goto cleanup;
            (*queued)++;
        }
        for (; n_owned > 0; n_owned--) {
            free(owned[n_owned - 1]);
            owned[n_owned - 1] = NULL;
        }
        if (flush_queued(c, 0) != WSB_OK) {
            status = WSB_EREDIS;
            goto cleanup;
        }
    }
    status = WSB_OK;
cleanup:
    for (size_t j = 0; owned != NULL && j < n_owned; j++)
        free(owned[j]);
    free(owned);
    free(argv);
    free(lens);
    return status;
}

/* The carried counts as decimal text: texts[i] for nodes[i], NULL where
 * the count is 0, pointing into *buf.  The caller frees *buf and texts.
 * Returns the number of non-zero counts, or -1 on ENOMEM (nothing to free). */
static long carry_texts(const long long *counts, size_t n, char **buf, const char ***texts)
{
    long non_zero = 0;
    *buf = malloc((n ? n : 1) * 24);
    *texts = calloc(n ? n : 1, sizeof **texts);
    if (*buf == NULL || *texts == NULL) {
        free(*buf);
        free(*texts);
        *buf = NULL;
        *texts = NULL;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (counts[i] <= 0)
            continue;
        snprintf(*buf + 24 * i, 24, "%lld", counts[i]);
        (*texts)[i] = *buf + 24 * i;
        non_zero++;
    }
    return non_zero;
}

/* Queues the carry's part of the transaction: DEL of the previous round's
 * assigned key, HSET and EXPIRE of the new one.  WSB_OK, WSB_ENOMEM or
 * WSB_EREDIS (writing out). */
static int queue_carry(redisContext *c, const struct wsb_keys *k, const struct wsb_node *nodes, size_t n,
                       const struct wsb_round_carry *carry, const char *id, int ttl_s, size_t *queued)
{
    char old_key[WSB_MAX_KEY], new_key[WSB_MAX_KEY];
    wsb_keys_assigned(k, id, new_key);
    const char *prev = carry->prev_id;
    if (prev != NULL && wsb_round_id_ok(prev, strlen(prev)) && strcmp(prev, id) != 0) {
        wsb_keys_assigned(k, prev, old_key);
        if (redisAppendCommand(c, "DEL %s", old_key) != REDIS_OK)
            return WSB_ENOMEM;
        (*queued)++;
    }
    if (carry->counts == NULL || n == 0)
        return WSB_OK;
    char *buf;
    const char **texts;
    long non_zero = carry_texts(carry->counts, n, &buf, &texts);
    if (non_zero < 0)
        return WSB_ENOMEM;
    int status = WSB_OK;
    struct hset_values v = { .texts = texts, .err = NULL };
    if (non_zero > 0) {
        if ((status = queue_hset_batches(c, new_key, nodes, &v, n, queued)) == WSB_OK) {
            if (redisAppendCommand(c, "EXPIRE %s %d", new_key, ttl_s) != REDIS_OK)
                status = WSB_ENOMEM;
            else
                (*queued)++;
        }
    }
    free(buf);
    free(texts);
    return status;
}

/* Where the events' XADDs are among the queued commands, and whether
 * Redis refused one (why). */
struct xadd_span {
    size_t from, n;
    int refused;
    char why[200];
};

static int in_span(const struct xadd_span *x, size_t i)
{
    return x != NULL && x->n > 0 && i >= x->from && i < x->from + x->n;
}

/* Queues the whole transaction on c (written out as it fills: nothing is
 * read before EXEC); counts what it queued in *queued; with events (not
 * NULL) queues the summary's events last, at events->from.  WSB_OK,
 * WSB_ENOMEM, WSB_EREDIS (writing out) or a record that cannot be
 * encoded (err); the caller drops the connection on failure, which
 * discards the transaction. */
static int queue_round(redisContext *c, const struct wsb_keys *k, const struct wsb_node *nodes, size_t n,
                       const struct wsb_round_summary *sum, const struct wsb_round_carry *carry, int ttl_s,
                       struct xadd_span *events, size_t *queued, char *err)
{
    int status;
    struct hset_values records = { .texts = NULL, .err = err };
    if (redisAppendCommand(c, "MULTI") != REDIS_OK)
        return WSB_ENOMEM;
    (*queued)++;
    if (redisAppendCommand(c, "DEL %s", k->nodes) != REDIS_OK)
        return WSB_ENOMEM;
    (*queued)++;
    if ((status = queue_hset_batches(c, k->nodes, nodes, &records, n, queued)) != WSB_OK)
        return status;
    if (redisAppendCommand(c, "DEL %s", k->round) != REDIS_OK)
        return WSB_ENOMEM;
    (*queued)++;
    /* The id names the round's assignment counts (keys.h): unique, as two
     * rounds never overlap and take more than a millisecond each.  A round
     * without one (sum->id < 0: state as written by hand) has no accounting. */
    long long id = sum->id > 0 ? sum->id : wsb_unix_ms();
    /* hiredis formats with its own parser: no %zu, so sizes go as long long;
     * and an argument is never split, so the id is a command of its own. */
    if (redisAppendCommand(c, "HSET %s at %lld duration_ms %lld nodes %llu up %llu down %llu draining %llu ttl %d probe %s",
                           k->round, sum->at, sum->duration_ms, (unsigned long long)sum->nodes,
                           (unsigned long long)sum->up, (unsigned long long)sum->down,
                           (unsigned long long)sum->draining, ttl_s, sum->probe ? sum->probe : "?") != REDIS_OK)
        return WSB_ENOMEM;
    (*queued)++;
    if (sum->id >= 0) {
        if (redisAppendCommand(c, "HSET %s id %lld", k->round, id) != REDIS_OK)
            return WSB_ENOMEM;
        (*queued)++;
    }
    if (redisAppendCommand(c, "EXPIRE %s %d", k->round, ttl_s) != REDIS_OK)
        return WSB_ENOMEM;
    (*queued)++;
    char id_text[WSB_MAX_ROUND_ID + 1];
    snprintf(id_text, sizeof id_text, "%lld", id);
    if (carry != NULL && (status = queue_carry(c, k, nodes, n, carry, id_text, ttl_s, queued)) != WSB_OK)
        return status;
    if (events != NULL) {
        events->from = *queued;
        for (size_t i = 0; i < sum->events->n; i += EVENTS_BATCH) {
            if (wsb_events_queue(c, k, sum->events, i, EVENTS_BATCH, sum->stamp, queued) != WSB_OK)
                return WSB_ENOMEM;
            if (flush_queued(c, 0) != WSB_OK)
                return WSB_EREDIS;
        }
        events->n = *queued - events->from;
    }
    if (redisAppendCommand(c, "EXEC") != REDIS_OK)
        return WSB_ENOMEM;
    (*queued)++;
    return WSB_OK;
}

/* The first error inside EXEC's answer, or WSB_OK.  An error of an
 * event's XADD is not one: it is noted in events. */
static int exec_status(struct wsb_redis *r, const redisReply *rr, struct xadd_span *events, char *err)
{
    if (rr->type == REDIS_REPLY_NIL)
        return wsb_fail(err, WSB_EBUSY, "the probe lock or the round changed while this round was written "
                                        "(another probe?); round not written");
    if (rr->type != REDIS_REPLY_ARRAY)
        return wsb_fail(err, WSB_EREPLY, "redis %s: EXEC did not run the round", wsb_redis_current(r));
    for (size_t j = 0; j < rr->elements; j++) {
        if (rr->element[j]->type != REDIS_REPLY_ERROR)
            continue;
        if (in_span(events, j + 1)) {   /* element j answers the command queued after MULTI, j + 1 */
            if (!events->refused)
                snprintf(events->why, sizeof events->why, "%s", rr->element[j]->str);
            events->refused = 1;
            continue;
        }
        return wsb_fail(err, WSB_EREDIS, "redis %s: %.160s", wsb_redis_current(r), rr->element[j]->str);
    }
    return WSB_OK;
}

/* Reads every one of the queued replies; the last one (EXEC) says whether
 * the round landed.  WSB_OK, or the first failure with its reason in err;
 * on an I/O error the connection is dropped.  An event's XADD refused when
 * queued (an ACL: then EXEC is aborted) or inside EXEC is noted in events
 * (may be NULL). */
static int collect_replies(struct wsb_redis *r, redisContext *c, size_t queued, struct xadd_span *events,
                           char *err)
{
    int status = WSB_OK;
    for (size_t i = 0; i < queued; i++) {
        void *reply = NULL;
        if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) {
            status = wsb_fail(err, WSB_EREDIS, "redis %s: %s", wsb_redis_current(r),
                              c->errstr[0] ? c->errstr : "no reply");
            wsb_redis_drop(r);
            return status;
        }
        redisReply *rr = reply;
        wsb_redis_note_reply(r, rr);   /* READONLY after a failover: re-resolve next time */
        if (rr->type == REDIS_REPLY_ERROR && in_span(events, i)) {
            if (!events->refused)
                snprintf(events->why, sizeof events->why, "%s", rr->str);
            events->refused = 1;
        } else if (status == WSB_OK && rr->type == REDIS_REPLY_ERROR) {
            status = wsb_fail(err, WSB_EREDIS, "redis %s: %.160s", wsb_redis_current(r), rr->str);
        } else if (status == WSB_OK && i == queued - 1) {
            status = exec_status(r, rr, events, err);
        }
        freeReplyObject(rr);
    }
    return status;
}

/* The round id a reply holds, as wsb_state_read reads it: "" when absent
 * or malformed. */
static void reply_round_id(const redisReply *rr, char out[WSB_MAX_ROUND_ID + 1])
{
    out[0] = '\0';
    if (rr->type != REDIS_REPLY_ARRAY || rr->elements != 1 || rr->element[0]->type != REDIS_REPLY_STRING)
        return;
    const redisReply *id = rr->element[0];
    if (wsb_round_id_ok(id->str, id->len)) {
        memcpy(out, id->str, id->len);
        out[id->len] = '\0';
    }
}

/* Watches the lock and the round and checks the fence; on WSB_OK the
 * watch stays for the transaction, else it is dropped (UNWATCH) and err
 * says why.  A round key that is gone (expired) fences nothing off: there
 * is no newer round to keep.  When WATCH itself is refused (a user without
 * +watch) the fence is still checked, once, outside the transaction, and
 * that is logged.  Returns WSB_OK, WSB_EBUSY or WSB_EREDIS. */
static int fence_check(struct wsb_redis *r, redisContext *c, const struct wsb_keys *k,
                       const struct wsb_round_fence *fence, char *err)
{
    redisReply *rep[3] = { NULL, NULL, NULL };
    if (redisAppendCommand(c, "WATCH %s %s", k->lock, k->round) != REDIS_OK ||
        redisAppendCommand(c, "GET %s", k->lock) != REDIS_OK ||
        redisAppendCommand(c, "HMGET %s id", k->round) != REDIS_OK) {
        wsb_redis_drop(r);
        return wsb_fail(err, WSB_ENOMEM, "out of memory queueing the fence");
    }
    int status = wsb_redis_get_replies(r, c, rep, 3, NULL, err);
    if (status == WSB_OK && rep[0]->type == REDIS_REPLY_ERROR)
        wsb_log_warn("redis %s: WATCH refused (%.120s): this round's write is fenced by a check just before it, "
                     "not in the same transaction; grant the probe's user +watch +unwatch",
                     wsb_redis_current(r), rep[0]->str);
    for (int i = 1; i < 3 && status == WSB_OK; i++)
        if (rep[i]->type == REDIS_REPLY_ERROR)
            status = wsb_fail(err, WSB_EREDIS, "redis %s: %s: %.160s", wsb_redis_current(r),
                              i == 1 ? "GET lock" : "HMGET round id", rep[i]->str);
    char now_id[WSB_MAX_ROUND_ID + 1];
    if (status == WSB_OK && fence->lock_token != NULL &&
        (rep[1]->type != REDIS_REPLY_STRING || strcmp(rep[1]->str, fence->lock_token) != 0))
        status = wsb_fail(err, WSB_EBUSY, "the probe lock %s is %s%.80s now; round not written", k->lock,
                          rep[1]->type == REDIS_REPLY_STRING ? "held by " : "free",
                          rep[1]->type == REDIS_REPLY_STRING ? rep[1]->str : "");
    if (status == WSB_OK) {
        reply_round_id(rep[2], now_id);
        const char *was = fence->round_id ? fence->round_id : "";
        if (now_id[0] != '\0' && strcmp(now_id, was) != 0)
            status = wsb_fail(err, WSB_EBUSY, "round %s was written since this round began (from round %s): this "
                                              "round is older; not written", now_id, was[0] ? was : "(none)");
    }
    for (int i = 0; i < 3; i++)
        if (rep[i] != NULL)
            freeReplyObject(rep[i]);
    if (status != WSB_OK && wsb_redis_connected(r)) {
        redisReply *u = wsb_redis_command(r, NULL, "UNWATCH");
        if (u != NULL)
            freeReplyObject(u);
    }
    return status;
}

int wsb_state_write_round(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_node *nodes,
                          size_t n, const struct wsb_round_summary *sum, const struct wsb_round_carry *carry,
                          const struct wsb_round_fence *fence, int ttl_s, char *err)
{
    int status;
    size_t queued = 0;
    redisContext *c = NULL;

    if (n > WSB_MAX_NODES)
        return wsb_fail(err, WSB_ETOOBIG, "%zu nodes, more than %d", n, WSB_MAX_NODES);
    if ((status = check_ids(nodes, n, err)) != WSB_OK)
        goto cleanup;
    if ((c = wsb_redis_get(r, err)) == NULL) {
        status = WSB_EREDIS;
        goto cleanup;
    }
    struct xadd_span events = { 0 };
    int with_events = sum->events != NULL && sum->events->n > 0 && sum->stamp != NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (fence != NULL && (status = fence_check(r, c, k, fence, err)) != WSB_OK)
            goto cleanup;
        if ((status = queue_round(c, k, nodes, n, sum, carry, ttl_s, with_events ? &events : NULL, &queued,
                                  err)) != WSB_OK) {
            if (status == WSB_EREDIS)
                wsb_fail(err, WSB_EREDIS, "redis %s: %s", wsb_redis_current(r),
                         c->errstr[0] ? c->errstr : "write failed");
            goto cleanup;
        }
        if ((status = flush_queued(c, 1)) != WSB_OK) {
            wsb_fail(err, WSB_EREDIS, "redis %s: %s", wsb_redis_current(r), c->errstr[0] ? c->errstr : "write failed");
            goto cleanup;
        }
        status = collect_replies(r, c, queued, with_events ? &events : NULL, err);
        queued = 0;
        if (!with_events)
            break;
        if (events.refused)
            wsb_events_refused(wsb_redis_current(r), events.why);
        else if (status == WSB_OK)
            wsb_events_accepted();
        /* An XADD refused when queued aborts the EXEC: the round again, without its events. */
        if (status == WSB_OK || !events.refused || (c = wsb_redis_get(r, err)) == NULL)
            break;
        with_events = 0;
    }
cleanup:
    if (status == WSB_ENOMEM && err != NULL)
        wsb_fail(err, WSB_ENOMEM, "out of memory writing the round");
    if (queued > 0)
        wsb_redis_drop(r);   /* commands are queued: the connection is out of step */
    return status;
}

/* Returns {-1} lock lost, {0} no round, {1} marked, {2} marked as the
 * episode's start (and the event appended), {3, why} the same with the
 * XADD refused.  ARGV[4] '' appends no event. */
static const char *const MARK_FAULT_LUA =
    "if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end "
    "if redis.call('EXISTS', KEYS[2]) == 0 then return {0} end "
    "redis.call('HSET', KEYS[2], 'fault', ARGV[2]) "
    "if redis.call('HEXISTS', KEYS[2], 'fault_at') == 1 then return {1} end "
    "redis.call('HSET', KEYS[2], 'fault_at', ARGV[3]) "
    "if ARGV[4] == '' then return {2} end "
    "local ok = redis.pcall('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'event', 'probe_fault', "
    "'reason', ARGV[2], 'at', ARGV[3], 'probe', ARGV[4], 'round', ARGV[5]) "
    "if type(ok) == 'table' and ok.err then return {3, ok.err} end "
    "return {2}";

int wsb_state_mark_fault(struct wsb_redis *r, const struct wsb_keys *k, const char *lock_token, const char *cause,
                         long long at, const struct wsb_event_stamp *stamp, int *started, char *err)
{
    if (started != NULL)
        *started = 0;
    redisReply *reply = wsb_redis_command(r, err, "EVAL %s 3 %s %s %s %s %s %lld %s %s %ld", MARK_FAULT_LUA, k->lock,
                                          k->round, k->events, lock_token ? lock_token : "", cause, at,
                                          stamp && stamp->probe ? stamp->probe : "",
                                          stamp && stamp->round ? stamp->round : "",
                                          stamp && stamp->maxlen > 0 ? stamp->maxlen : (long)WSB_EVENTS_MAXLEN);
    if (reply == NULL)
        return WSB_EREDIS;
    long long code = reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
                             reply->element[0]->type == REDIS_REPLY_INTEGER ? reply->element[0]->integer : 0;
    if (code == 3 && reply->elements >= 2 && reply->element[1]->type == REDIS_REPLY_STRING)
        wsb_events_refused(wsb_redis_current(r), reply->element[1]->str);
    else if (code == 2 && stamp != NULL)
        wsb_events_accepted();
    freeReplyObject(reply);
    if (code < 0)
        return wsb_fail(err, WSB_EBUSY, "the probe lock %s is another's now", k->lock);
    if (started != NULL)
        *started = code >= 2;
    return WSB_OK;
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

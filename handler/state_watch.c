/* state_watch.c: change detection for the handler's state reads
 * (WATCH, then MULTI/EXEC to ask whether a watched key was touched). */
#include "state_watch.h"

#include <stdio.h>
#include <string.h>

void wsb_state_watch_forget(struct wsb_state_watch *w)
{
    w->gen = 0;
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
    int status = wsb_state_read_on(r, c, k, watch, memo, out, watch_err, &closed_early, err);
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
        status = wsb_state_read_on(r, c, k, 0, memo, out, watch_err, &closed_early, err);
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
    if (wsb_redis_get_replies(r, c, rep, 4, NULL, err) != WSB_OK)
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

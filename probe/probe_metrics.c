/* probe_metrics.c: a round's counts into <prefix>metrics:probe
 * (probe_metrics.h). */
#include "probe_metrics.h"
#include "outcome.h"
#include "status.h"

#include <stdlib.h>

int wsb_probe_metrics_write(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_round_stats *st,
                            int status, char *err)
{
    redisContext *c = wsb_redis_get(r, err);
    if (c == NULL)
        return WSB_EREDIS;
    int n = 0, ok = redisAppendCommand(c, "HINCRBY %s rounds 1", k->metrics_probe) == REDIS_OK;
    n++;
    if (status != WSB_OK) {
        ok = ok && redisAppendCommand(c, "HINCRBY %s failed_rounds 1", k->metrics_probe) == REDIS_OK;
        n++;
    } else if (st->fault.fault) {
        ok = ok && redisAppendCommand(c, "HINCRBY %s fault_rounds 1", k->metrics_probe) == REDIS_OK;
        n++;
    }
    for (int o = 0; o < WSB_OUT_COUNT; o++) {
        if (st->outcomes[o] == 0)
            continue;
        ok = ok && redisAppendCommand(c, "HINCRBY %s checks|%s %llu", k->metrics_probe,
                                      wsb_outcome_name((enum wsb_outcome)o),
                                      (unsigned long long)st->outcomes[o]) == REDIS_OK;
        n++;
    }
    if (!ok) {
        wsb_redis_drop(r);
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
    }
    redisReply *rep[2 + WSB_OUT_COUNT] = { NULL };
    int rc = wsb_redis_get_replies(r, c, rep, n, NULL, err);
    for (int i = 0; rc == WSB_OK && i < n; i++)
        if (rep[i]->type == REDIS_REPLY_ERROR)
            rc = wsb_fail(err, WSB_EREDIS, "redis %s: HINCRBY %s: %.160s", wsb_redis_current(r), k->metrics_probe,
                          rep[i]->str);
    for (int i = 0; i < n; i++)
        if (rep[i] != NULL)
            freeReplyObject(rep[i]);
    return rc;
}

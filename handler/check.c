/* check.c: --check: the configuration and the Redis state read once and
 * described in one line for the operator. */
#include "explain.h"
#include "handler.h"
#include "state_read.h"
#include "status.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int wsb_handler_check(struct wsb_handler *h, char *buf, size_t len)
{
    char err[WSB_ERRLEN];
    struct wsb_state st;
    int status = wsb_state_read(wsb_state_cache_redis(h->cache), &h->cfg.keys, &st, err);
    if (status != WSB_OK) {
        snprintf(buf, len, "redis: %s", err);
        return status;
    }
    struct wsb_snapshot *s = NULL;
    size_t skipped = st.n_skipped;
    char state[WSB_ERRLEN + 200];
    wsb_explain_state(&st, state, sizeof state);
    char first[WSB_ERRLEN];
    snprintf(first, sizeof first, "%s", st.skip_reason);
    status = wsb_snapshot_build(st.nodes, st.n, st.live, st.drain_ids, st.n_drain, skipped, &h->cfg.snap, NULL, &s);
    wsb_state_clear(&st);
    if (status != WSB_OK) {
        snprintf(buf, len, "snapshot: %s", wsb_strerror(status));
        return status;
    }
    char why[768];
    wsb_explain_filters(s, why, sizeof why);
    char geo[WSB_ERRLEN] = "off";
    if (h->geo != NULL && wsb_geo_status(h->geo, geo) == WSB_OK)
        snprintf(geo, sizeof geo, "%.200s", h->cfg.geoip_path);
    snprintf(buf, len,
             "redis %s: %zu nodes (%zu online, %zu eligible%s%s, %zu draining, %zu overloaded), "
             "%zu skipped%s%s, state %s; geoip: %s%s",
             wsb_redis_current(wsb_state_cache_redis(h->cache)), s->n_nodes, s->n_online, s->n_eligible,
             why[0] ? ": " : "", why, s->n_draining, s->n_overloaded,
             skipped, skipped ? ": " : "", skipped ? first : "", state, geo,
             s->n_nodes > 0 && s->n_online == 0 ? "; every node is offline: answers are 503 (101)" : "");
    wsb_snapshot_unref(s);
    return WSB_OK;
}

/* check.c: --check: the configuration and the Redis state read once and
 * described in one line for the operator. */
#include "handler.h"
#include "state_read.h"
#include "status.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Which case of the all-down policy holds (README "When nodes are
 * down"): live, live while the probe reports a fault, or expired. */
static void describe_state(const struct wsb_state *st, char *buf, size_t len)
{
    long long now = (long long)time(NULL);
    if (!st->live) {
        snprintf(buf, len, "EXPIRED (no round within its TTL: probe not running, or failing; every node counts as "
                           "offline)");
    } else if (st->fault[0] != '\0') {
        snprintf(buf, len, "live, round %lld s old, but the probe reports a fault since %lld s: %.200s (answers "
                           "come from that round until it expires)",
                 st->round_at ? now - st->round_at : -1, st->fault_at ? now - st->fault_at : -1, st->fault);
    } else if (st->round_at > 0) {
        snprintf(buf, len, "live, round %lld s old", now - st->round_at);
    } else {
        snprintf(buf, len, "live");
    }
}

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
    describe_state(&st, state, sizeof state);
    char first[WSB_ERRLEN];
    snprintf(first, sizeof first, "%s", st.skip_reason);
    status = wsb_snapshot_build(st.nodes, st.n, st.live, st.drain_ids, st.n_drain, skipped, &h->cfg.snap, NULL, &s);
    wsb_state_clear(&st);
    if (status != WSB_OK) {
        snprintf(buf, len, "snapshot: %s", wsb_strerror(status));
        return status;
    }
    char geo[WSB_ERRLEN] = "off";
    if (h->geo != NULL && wsb_geo_status(h->geo, geo) == WSB_OK)
        snprintf(geo, sizeof geo, "%.200s", h->cfg.geoip_path);
    snprintf(buf, len,
             "redis %s: %zu nodes (%zu online, %zu eligible, %zu draining, %zu overloaded), "
             "%zu skipped%s%s, state %s; geoip: %s%s",
             wsb_redis_current(wsb_state_cache_redis(h->cache)), s->n_nodes, s->n_online, s->n_eligible, s->n_draining, s->n_overloaded,
             skipped, skipped ? ": " : "", skipped ? first : "", state, geo,
             s->n_nodes > 0 && s->n_online == 0 ? "; every node is offline: answers are 503 (101)" : "");
    wsb_snapshot_unref(s);
    return WSB_OK;
}

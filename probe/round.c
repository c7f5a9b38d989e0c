/* round.c: one probe round, from the previous state to the next. */
#include "round.h"
#include "health.h"
#include "lock.h"
#include "log.h"
#include "status.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int node_by_id(const void *a, const void *b)
{
    const struct wsb_node *x = *(const struct wsb_node *const *)a, *y = *(const struct wsb_node *const *)b;
    return strcmp(x->id, y->id);
}

static const struct wsb_node *find_prev(const struct wsb_node **sorted, size_t n, const char *id)
{
    struct wsb_node key;
    key.id = (char *)(uintptr_t)id;   /* only read by node_by_id */
    const struct wsb_node *kp = &key;
    const struct wsb_node **hit = bsearch(&kp, sorted, n, sizeof *sorted, node_by_id);
    return hit ? *hit : NULL;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Logs the nodes of the previous live round that the inventory dropped. */
static int log_removed(const struct wsb_inventory *inv, const struct wsb_state *prev)
{
    if (!prev->live || prev->n == 0)
        return WSB_OK;
    const char **ids = malloc((inv->n ? inv->n : 1) * sizeof *ids);
    if (ids == NULL)
        return WSB_ENOMEM;
    for (size_t i = 0; i < inv->n; i++)
        ids[i] = inv->nodes[i].node.id;
    qsort(ids, inv->n, sizeof *ids, str_cmp);
    for (size_t i = 0; i < prev->n; i++) {
        const char *id = prev->nodes[i].id;
        if (bsearch(&id, ids, inv->n, sizeof *ids, str_cmp) == NULL)
            wsb_log_info("node %s: removed from the inventory", id);
    }
    free(ids);
    return WSB_OK;
}

static int str_in(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

/* "timeout: no answer within 2000 ms" or just "timeout". */
static void describe(char *buf, size_t len, const char *name, const char *detail)
{
    if (detail != NULL && detail[0] != '\0')
        snprintf(buf, len, "%s: %s", name, detail);
    else
        snprintf(buf, len, "%s", name);
}

/* One line per change of a node's state; nothing when nothing changed. */
static void log_node(const struct wsb_inv_node *inv, const struct wsb_node *prev, const struct wsb_node *now,
                     const struct wsb_check_result *res, enum wsb_health_change change)
{
    const char *id = now->id;
    char why[2 * WSB_DETAIL_LEN + 40];
    int report_shown = res->check == WSB_OUT_OK && strcmp(now->last_error, "ok") != 0;
    if (report_shown)
        describe(why, sizeof why, now->last_error, res->report_detail);
    else
        describe(why, sizeof why, wsb_outcome_name(res->check), res->detail);

    switch (change) {
    case WSB_HEALTH_FIRST_UP:
        wsb_log_info("node %s: online (first check: %s)", id, why);
        break;
    case WSB_HEALTH_FIRST_DOWN:
        wsb_log_warn("node %s: offline (first check: %s)", id, why);
        break;
    case WSB_HEALTH_UP:
        wsb_log_info("node %s: offline -> online (%u checks ok%s%s)", id, now->ok_streak,
                     report_shown ? "; " : "", report_shown ? why : "");
        break;
    case WSB_HEALTH_DOWN:
        if (wsb_outcome_is_probe_fault(res->check))
            wsb_log_warn("node %s: online -> offline (no check for too long: probe fault %s)", id, why);
        else
            wsb_log_warn("node %s: online -> offline (%s, %u failures in a row)", id, why, now->fail_streak);
        break;
    case WSB_HEALTH_SAME:
        if (prev != NULL && strcmp(prev->last_error, now->last_error) != 0) {
            if (res->check != WSB_OUT_OK)
                wsb_log_warn("node %s: %s, check failed (%s; %u of %u before offline)", id,
                             now->online ? "still online" : "offline", why, now->fail_streak, inv->check.fall);
            else if (report_shown)
                wsb_log_warn("node %s: load report failed (%s); load unknown", id, why);
            else if (!now->online)
                wsb_log_info("node %s: offline, check ok (%u of %u before online)", id, now->ok_streak,
                             inv->check.rise);
            else
                wsb_log_info("node %s: check ok again (was %s)", id, prev->last_error);
        }
        break;
    case WSB_HEALTH_KEPT:
        break;   /* counted and logged once for the round */
    }
    if (prev != NULL && prev->drain != now->drain)
        wsb_log_info("node %s: %s (inventory)", id, now->drain ? "draining" : "no longer draining");
}

int wsb_round_keep_lock(const struct wsb_round_ctx *c, char *err)
{
    int status = wsb_lock_refresh(c->redis, c->keys, c->lock_token, c->lock_ttl_ms, err);
    if (status != WSB_EBUSY)
        return status;
    status = wsb_lock_take(c->redis, c->keys, c->lock_token, c->lock_ttl_ms, err);
    if (status == WSB_OK)
        wsb_log_warn("the probe lock %s had expired; taken again", c->keys->lock);
    return status;
}

int wsb_round_run(const struct wsb_round_ctx *c, struct wsb_round_stats *st, char *err)
{
    const struct wsb_inventory *inv = c->inv;
    struct wsb_state prev;
    struct wsb_check_result *results = NULL;
    struct wsb_node *records = NULL;
    const struct wsb_node **sorted = NULL;
    size_t built = 0;
    int status;
    char why[WSB_ERRLEN];

    memset(st, 0, sizeof *st);
    long long started = monotonic_ms();
    long long now = (long long)time(NULL);
    if ((status = wsb_state_read(c->redis, c->keys, &prev, err)) != WSB_OK)
        return status;
    status = WSB_ENOMEM;
    if (inv->n > 0 && ((results = calloc(inv->n, sizeof *results)) == NULL ||
                       (records = calloc(inv->n, sizeof *records)) == NULL))
        goto cleanup;
    /* History only from a live state: after expiry every node starts over. */
    size_t n_prev = prev.live ? prev.n : 0;
    if (n_prev > 0) {
        if ((sorted = malloc(n_prev * sizeof *sorted)) == NULL)
            goto cleanup;
        for (size_t i = 0; i < n_prev; i++)
            sorted[i] = &prev.nodes[i];
        qsort(sorted, n_prev, sizeof *sorted, node_by_id);
    }
    if (!prev.live && prev.n > 0)
        wsb_log_info("the previous state had expired: every node starts without history");

    if (wsb_check_all(inv, &c->check, results, why) != WSB_OK)
        wsb_log_error("probe fault: the checks could not run: %s", why);

    for (size_t i = 0; i < inv->n; i++) {
        const struct wsb_inv_node *in = &inv->nodes[i];
        const struct wsb_node *p = n_prev ? find_prev(sorted, n_prev, in->node.id) : NULL;
        enum wsb_health_change change;
        if (wsb_health_record(in, p, &results[i], now, c->ttl_s, &records[i], &change) != WSB_OK)
            goto cleanup;
        built++;
        log_node(in, p, &records[i], &results[i], change);
        if (wsb_outcome_is_probe_fault(results[i].check) || wsb_outcome_is_probe_fault(results[i].report)) {
            if (st->probe_faults++ == 0) {
                int rep = !wsb_outcome_is_probe_fault(results[i].check);
                snprintf(st->probe_fault, sizeof st->probe_fault, "node %s: %s: %.120s", in->node.id,
                         wsb_outcome_name(rep ? results[i].report : results[i].check),
                         rep ? results[i].report_detail : results[i].detail);
            }
        }
        st->up += records[i].online != 0;
        st->down += records[i].online == 0;
        st->draining += records[i].drain || str_in(prev.drain_ids, prev.n_drain, in->node.id);
    }
    st->nodes = inv->n;
    if (log_removed(inv, &prev) != WSB_OK)
        goto cleanup;
    if (st->probe_faults > 0)
        wsb_log_error("probe fault: %zu of %zu checks could not run (first: %s); those nodes keep their "
                      "previous state", st->probe_faults, inv->n, st->probe_fault);

    if (c->lock_token != NULL && (status = wsb_round_keep_lock(c, why)) != WSB_OK) {
        if (status == WSB_EBUSY)
            wsb_fail(err, WSB_EBUSY, "lost the probe lock %s (another probe took over?); round not written",
                     c->keys->lock);
        else
            wsb_fail(err, status, "%s", why);
        goto cleanup;
    }
    st->duration_ms = monotonic_ms() - started;
    struct wsb_round_summary sum = {
        .at = now, .duration_ms = st->duration_ms, .nodes = st->nodes, .up = st->up, .down = st->down,
        .draining = st->draining, .probe = c->probe_id,
    };
    status = wsb_state_write_round(c->redis, c->keys, records, inv->n, &sum, c->ttl_s, err);
cleanup:
    if (status == WSB_ENOMEM)
        wsb_fail(err, WSB_ENOMEM, "out of memory in the round");
    for (size_t i = 0; i < built; i++)
        wsb_node_clear(&records[i]);
    free(records);
    free(results);
    free(sorted);
    wsb_state_clear(&prev);
    return status;
}

/* round.c: one probe round, from the previous state to the next. */
#include "round.h"
#include "carry.h"
#include "check_order.h"
#include "clock.h"
#include "events.h"
#include "fault.h"
#include "health.h"
#include "lock.h"
#include "log.h"
#include "status.h"

#include <malloc.h>   /* malloc_trim: glibc, as on Debian */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

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

/* The nodes of s by id (an array of n pointers into s, for find_prev), or
 * NULL without memory. */
static const struct wsb_node **nodes_by_id(const struct wsb_state *s)
{
    const struct wsb_node **sorted = malloc((s->n ? s->n : 1) * sizeof *sorted);
    if (sorted == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        sorted[i] = &s->nodes[i];
    qsort(sorted, s->n, sizeof *sorted, node_by_id);
    return sorted;
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

/* The run-time drains of the previous state as a sorted array of
 * pointers into it (*out NULL when there are none), so that a node's drain
 * is a binary search, not a scan.  WSB_OK or WSB_ENOMEM. */
static int drains_sort(const struct wsb_state *prev, const char ***out)
{
    *out = NULL;
    if (prev->n_drain == 0)
        return WSB_OK;
    const char **ids = malloc(prev->n_drain * sizeof *ids);
    if (ids == NULL)
        return WSB_ENOMEM;
    for (size_t i = 0; i < prev->n_drain; i++)
        ids[i] = prev->drain_ids[i];
    qsort(ids, prev->n_drain, sizeof *ids, str_cmp);
    *out = ids;
    return WSB_OK;
}

static int is_drained(const char *const *sorted, size_t n, const char *id)
{
    return n > 0 && bsearch(&id, sorted, n, sizeof *sorted, str_cmp) != NULL;
}

/* "timeout: no answer within 2000 ms" or just "timeout". */
static void describe(char *buf, size_t len, const char *name, const char *detail)
{
    if (detail != NULL && detail[0] != '\0')
        snprintf(buf, len, "%s: %s", name, detail);
    else
        snprintf(buf, len, "%s", name);
}

/* One line per change of a node's state, nothing when nothing changed;
 * and the change as an event in events (may be NULL), at now.  WSB_OK, or
 * WSB_ENOMEM (logged all the same). */
static int log_node(const struct wsb_inv_node *inv, const struct wsb_node *prev, const struct wsb_node *now,
                    const struct wsb_check_result *res, enum wsb_health_change change,
                    struct wsb_event_list *events, long long at)
{
    const char *id = now->id;
    char why[2 * WSB_DETAIL_LEN + 40], reason[WSB_EVENT_REASON_LEN];
    int report_shown = res->check == WSB_OUT_OK && strcmp(now->last_error, "ok") != 0;
    if (report_shown)
        describe(why, sizeof why, now->last_error, wsb_check_detail(res->report_detail));
    else
        describe(why, sizeof why, wsb_outcome_name(res->check), wsb_check_detail(res->detail));

    int kind = -1;   /* the event, if any */
    switch (change) {
    case WSB_HEALTH_FIRST_UP:
    case WSB_HEALTH_FIRST_DOWN:
        snprintf(reason, sizeof reason, "first check: %s", why);
        kind = change == WSB_HEALTH_FIRST_UP ? WSB_EVENT_ONLINE : WSB_EVENT_OFFLINE;
        wsb_log(kind == WSB_EVENT_ONLINE ? WSB_LOG_INFO : WSB_LOG_WARN, "node %s: %s (%s)", id,
                kind == WSB_EVENT_ONLINE ? "online" : "offline", reason);
        break;
    case WSB_HEALTH_UP:
        snprintf(reason, sizeof reason, "%u checks ok%s%s", now->ok_streak, report_shown ? "; " : "",
                 report_shown ? why : "");
        kind = WSB_EVENT_ONLINE;
        wsb_log_info("node %s: offline -> online (%s)", id, reason);
        break;
    case WSB_HEALTH_DOWN:
        if (wsb_outcome_is_probe_fault(res->check))
            snprintf(reason, sizeof reason, "no check for too long: probe fault %s", why);
        else if (now->fail_streak < inv->check.fall)
            snprintf(reason, sizeof reason, "flapping: %u of its last %u checks failed; this one: %s",
                     wsb_health_recent_failures(now->recent, inv->check.flap_checks), inv->check.flap_checks, why);
        else
            snprintf(reason, sizeof reason, "%s, %u failures in a row", why, now->fail_streak);
        kind = WSB_EVENT_OFFLINE;
        wsb_log_warn("node %s: online -> offline (%s)", id, reason);
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
    int status = WSB_OK;
    if (kind >= 0 && events != NULL)
        status = wsb_events_add(events, (enum wsb_event_kind)kind, id, at, "%s", reason);
    if (prev != NULL && prev->drain != now->drain) {
        wsb_log_info("node %s: %s (inventory)", id, now->drain ? "draining" : "no longer draining");
        if (events != NULL && status == WSB_OK)
            status = wsb_events_add(events, now->drain ? WSB_EVENT_DRAINED : WSB_EVENT_UNDRAINED, id, at,
                                    "inventory");
    }
    return status;
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

/* What one round holds between its steps; freed by work_free. */
struct round_work {
    struct wsb_state prev;                 /* the previous state */
    const struct wsb_node **prev_sorted;   /* its nodes by id, when it was live; n_prev of them */
    size_t n_prev;
    const char **drained;                  /* its run-time drains, sorted (drains_sort) */
    struct wsb_check_result *results;      /* one per inventory node (n_results) */
    size_t n_results;
    struct wsb_node *records;              /* one per inventory node; built of them hold data */
    size_t built;
    long long now;                         /* unix seconds at the round's start */
    struct wsb_state began;                /* the state read at the start (check_order),
                                            * its nodes and drains let go: its round id
                                            * fences the write, and a round judged a
                                            * probe fault keeps its round (skip_round) */
};

static void work_free(struct round_work *w)
{
    for (size_t i = 0; i < w->built; i++)
        wsb_node_clear(&w->records[i]);
    free(w->records);
    wsb_check_results_clear(w->results, w->n_results);
    free(w->results);
    free(w->prev_sorted);
    free(w->drained);
    wsb_state_clear(&w->prev);
    wsb_state_clear(&w->began);
}

/* The probe never compares record bytes (the handler does, to skip
 * decoding unchanged records): the previous state's copies of them (about
 * 350 bytes a node) are freed as soon as it is read. */
static void drop_raw(struct wsb_state *prev)
{
    for (size_t i = 0; i < prev->n; i++) {
        free(prev->nodes[i].raw);
        prev->nodes[i].raw = NULL;
        prev->nodes[i].raw_len = 0;
    }
    malloc_trim(0);   /* and what the replies took */
}

/* The previous state's nodes, once the records are built of them: not
 * held through the write, whose commands are the round's other peak (its
 * round id and drains stay for the write).  Sorted pointers go too. */
static void drop_prev_nodes(struct round_work *w)
{
    for (size_t i = 0; i < w->prev.n; i++)
        wsb_node_clear(&w->prev.nodes[i]);
    free(w->prev.nodes);
    w->prev.nodes = NULL;
    w->prev.n = 0;
    free(w->prev_sorted);
    w->prev_sorted = NULL;
    w->n_prev = 0;
    malloc_trim(0);
}

/* The order the checks start in (check_order.h; *order NULL: the
 * inventory's), from the previous round's records, which are read for it
 * and let go before the checks: the state (about 500 bytes a node: 5 MB at
 * 10,000 nodes) is not held while the transfers are in flight, the part of
 * a round whose memory peaks.  It is read again after the checks, for the
 * history the new records carry on (wsb_round_run).  WSB_OK, or the read's
 * error (err). */
static int check_order(const struct wsb_round_ctx *c, struct round_work *w, size_t **order, char *err)
{
    const struct wsb_inventory *inv = c->inv;
    struct wsb_state prev;
    *order = NULL;
    int status = wsb_state_read(c->redis, c->keys, &prev, err);
    if (status != WSB_OK)
        return status;
    const struct wsb_node **sorted = NULL;
    unsigned char *failed = NULL;
    /* History only from a live state (as work_prepare). */
    if (prev.live && prev.n > 0 && inv->n > 0 && (sorted = nodes_by_id(&prev)) != NULL &&
        (failed = malloc(inv->n)) != NULL) {
        for (size_t i = 0; i < inv->n; i++)
            failed[i] = (unsigned char)wsb_check_failed_last(find_prev(sorted, prev.n, inv->nodes[i].node.id));
        *order = wsb_check_order(failed, inv->n);   /* NULL without memory: the inventory's order */
    }
    free(failed);
    free(sorted);
    /* The round it found is kept: a round written after this read (by
     * another probe, while this one was stopped, say) fences the write
     * off, whatever the read after the checks finds, since its checks are
     * newer than this round's. */
    w->began = prev;
    w->began.nodes = NULL;
    w->began.n = 0;
    w->began.drain_ids = NULL;
    w->began.n_drain = 0;
    wsb_state_clear(&prev);
    /* The heap's free pages (the replies, the inventory's parse) go back,
     * so that the transfers reuse that memory rather than add to it. */
    malloc_trim(0);
    return WSB_OK;
}

/* Makes room for the round's records and sorts the previous state
 * (w->prev, read) for lookups.  WSB_OK or WSB_ENOMEM. */
static int work_prepare(const struct wsb_round_ctx *c, struct round_work *w)
{
    size_t n = c->inv->n;
    if (n > 0 && (w->records = calloc(n, sizeof *w->records)) == NULL)
        return WSB_ENOMEM;
    /* History only from a live state: after expiry every node starts over. */
    w->n_prev = w->prev.live ? w->prev.n : 0;
    if (w->n_prev > 0) {
        if ((w->prev_sorted = nodes_by_id(&w->prev)) == NULL)
            return WSB_ENOMEM;
    }
    if (!w->prev.live && w->prev.n > 0)
        wsb_log_info("the previous state had expired: every node starts without history");
    return drains_sort(&w->prev, &w->drained);
}

/* Counts a check the probe itself could not run; keeps the first for the log. */
static void note_probe_fault(const struct wsb_inv_node *in, const struct wsb_check_result *res,
                             struct wsb_round_stats *st)
{
    if (!wsb_outcome_is_probe_fault(res->check) && !wsb_outcome_is_probe_fault(res->report))
        return;
    if (st->probe_faults++ == 0) {
        int rep = !wsb_outcome_is_probe_fault(res->check);
        snprintf(st->probe_fault, sizeof st->probe_fault, "node %s: %s: %.120s", in->node.id,
                 wsb_outcome_name(rep ? res->report : res->check), wsb_check_detail(rep ? res->report_detail : res->detail));
    }
}

/* Turns every check result into the node's next record, logs the changes
 * and counts.  WSB_OK or WSB_ENOMEM. */
static int build_records(const struct wsb_round_ctx *c, struct round_work *w, struct wsb_round_stats *st)
{
    const struct wsb_inventory *inv = c->inv;
    size_t n_drain = w->prev.n_drain;
    if (c->events != NULL && w->prev.live && w->prev.fault[0] != '\0' &&
        wsb_events_add(c->events, WSB_EVENT_PROBE_OK, NULL, w->now, "rounds are counted again (probe fault since %lld: %s)",
                       w->prev.fault_at, w->prev.fault) != WSB_OK)
        return WSB_ENOMEM;
    for (size_t i = 0; i < inv->n; i++) {
        const struct wsb_inv_node *in = &inv->nodes[i];
        const struct wsb_node *p = w->n_prev ? find_prev(w->prev_sorted, w->n_prev, in->node.id) : NULL;
        enum wsb_health_change change;
        if (wsb_health_record(in, p, &w->results[i], w->now, c->ttl_s, &w->records[i], &change) != WSB_OK)
            return WSB_ENOMEM;
        w->built++;
        if (log_node(in, p, &w->records[i], &w->results[i], change, c->events, w->now) != WSB_OK)
            return WSB_ENOMEM;
        note_probe_fault(in, &w->results[i], st);
        st->up += w->records[i].online != 0;
        st->down += w->records[i].online == 0;
        st->draining += w->records[i].drain || is_drained(w->drained, n_drain, in->node.id);
    }
    st->nodes = inv->n;
    return WSB_OK;
}

/* What the handlers assigned since each node's check (carry.h), for the
 * new round's assignment counts: *counts (malloc'ed, one per node; the
 * caller frees it) or NULL when they could not be read, which is logged
 * and does not stop the round. */
static long long *carry_counts(const struct wsb_round_ctx *c, const struct round_work *w)
{
    char why[WSB_ERRLEN];
    size_t n = c->inv->n;
    long long *counts = malloc((n ? n : 1) * sizeof *counts);
    if (counts == NULL) {
        wsb_log_warn("assignment carry-over: out of memory; the new round's counts start from zero");
        return NULL;
    }
    if (wsb_carry_read(c->redis, c->keys, w->records, n, (long long)time(NULL), counts, why) != WSB_OK) {
        wsb_log_warn("assignment carry-over: cannot read %s*: %s; the new round's counts start from zero",
                     c->keys->starts, why);
        free(counts);
        return NULL;
    }
    long long total = 0;
    size_t nodes = 0;
    for (size_t i = 0; i < n; i++) {
        total += counts[i];
        nodes += counts[i] > 0;
    }
    if (total > 0)
        wsb_log_debug("assignment carry-over: %lld clients sent since their check, to %zu nodes", total, nodes);
    return counts;
}

/* Keeps the lock, then writes the round with what it carries over.
 * Returns as wsb_round_run. */
static int write_round(const struct wsb_round_ctx *c, struct round_work *w, struct wsb_round_stats *st,
                       long long started, char *err)
{
    char why[WSB_ERRLEN];
    int status;
    long long took = wsb_now_ms() - started;
    if (c->lock_token != NULL && took > c->lock_ttl_ms)   /* paused past its lock, say */
        return wsb_fail(err, WSB_EBUSY, "this round took %lld ms, longer than the probe lock's lifetime (%ld ms): "
                                        "its checks are too old to write; not written", took, c->lock_ttl_ms);
    if (c->lock_token != NULL && (status = wsb_round_keep_lock(c, why)) != WSB_OK) {
        if (status == WSB_EBUSY)
            return wsb_fail(err, WSB_EBUSY, "lost the probe lock %s (another probe took over?); round not written",
                            c->keys->lock);
        return wsb_fail(err, status, "%s", why);
    }
    long long *counts = carry_counts(c, w);
    st->duration_ms = wsb_now_ms() - started;
    st->round_id = wsb_unix_ms();   /* the id queue_round would take; the events name it */
    snprintf(st->round_text, sizeof st->round_text, "%lld", st->round_id);
    struct wsb_event_stamp stamp = { .probe = c->probe_id, .round = st->round_text, .maxlen = c->events_max };
    struct wsb_round_summary sum = {
        .id = st->round_id, .at = w->now, .duration_ms = st->duration_ms, .nodes = st->nodes, .up = st->up,
        .down = st->down, .draining = st->draining, .probe = c->probe_id, .events = c->events, .stamp = &stamp,
    };
    struct wsb_round_carry carry = { .prev_id = w->prev.round_id, .counts = counts };
    struct wsb_round_fence fence = { .lock_token = c->lock_token, .round_id = w->began.round_id };
    status = wsb_state_write_round(c->redis, c->keys, w->records, c->inv->n, &sum, &carry, &fence, c->ttl_s, err);
    free(counts);
    return status;
}

/* Checks the canary, when there is one, into st->fault.  WSB_OK, or
 * WSB_ENOMEM/WSB_ESYS when the check could not start (err). */
static int check_canary(const struct wsb_round_ctx *c, struct wsb_round_stats *st, char *err)
{
    const struct wsb_inventory *inv = c->inv;
    if (inv->canary == NULL)
        return WSB_OK;
    struct wsb_inventory one = { .allow_insecure_ws = 1, .ca_file = inv->ca_file, .n = 1, .nodes = inv->canary,
                                 .max_timeout_ms = inv->canary->check.timeout_ms };
    struct wsb_check_result r;
    int status = wsb_check_all(&one, &c->check, NULL, &r, err);
    if (status == WSB_OK)
        wsb_fault_canary(inv->canary, &r, &st->fault);
    wsb_check_results_clear(&r, 1);
    return status;
}

/* A round judged a probe fault: nothing of it is counted.  Says so in one
 * loud line and marks the live round (wsb_state_mark_fault).  Returns
 * WSB_OK, or WSB_EBUSY when the lock turned out to be another's. */
static int skip_round(const struct wsb_round_ctx *c, const struct round_work *w, struct wsb_round_stats *st,
                      char *err)
{
    char why[WSB_ERRLEN];
    const struct wsb_state *prev = &w->began;   /* the round this one began from */
    if (prev->live && prev->round_at > 0) {
        long long age = w->now - prev->round_at;
        long long left = prev->round_ttl > 0 ? prev->round_ttl - age : -1;
        if (left >= 0)
            wsb_log_error("probe fault: %s: this round is not counted; the nodes keep the verdicts of the last "
                          "counted round (%lld s old, expiring in %lld s unless a round is counted)",
                          st->fault.cause, age, left);
        else
            wsb_log_error("probe fault: %s: this round is not counted; the nodes keep the verdicts of the last "
                          "counted round (%lld s old) until it expires", st->fault.cause, age);
    } else {
        wsb_log_error("probe fault: %s: this round is not counted; there are no verdicts to keep (the state %s)",
                      st->fault.cause, prev->live ? "has no round time" : "has expired or was never written");
    }
    st->nodes = c->inv->n;
    /* The event names the round whose verdicts are kept. */
    snprintf(st->round_text, sizeof st->round_text, "%s", prev->round_id);
    struct wsb_event_stamp stamp = { .probe = c->probe_id, .round = st->round_text, .maxlen = c->events_max };
    int started = 0;
    int status = wsb_state_mark_fault(c->redis, c->keys, c->lock_token, st->fault.cause, w->now,
                                      c->events ? &stamp : NULL, &started, why);
    if (status == WSB_EBUSY)
        return wsb_fail(err, WSB_EBUSY, "lost the probe lock %s (another probe took over?)", c->keys->lock);
    if (status != WSB_OK)
        wsb_log_warn("could not mark the round as a probe fault: %s", why);
    if (started && c->events != NULL &&
        wsb_events_add(c->events, WSB_EVENT_PROBE_FAULT, NULL, w->now, "%s", st->fault.cause) != WSB_OK)
        wsb_log_warn("--on-change: out of memory; the probe_fault event is in the stream only");
    return WSB_OK;
}

/* CPU time of the process so far (user and system), ms. */
static long long cpu_ms(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

int wsb_round_run(const struct wsb_round_ctx *c, struct wsb_round_stats *st, char *err)
{
    const struct wsb_inventory *inv = c->inv;
    struct round_work w;
    char why[WSB_ERRLEN];
    int status;

    memset(st, 0, sizeof *st);
    memset(&w, 0, sizeof w);
    err[0] = '\0';
    if (c->events != NULL)
        wsb_events_reset(c->events);
    long long started = wsb_now_ms();
    w.now = (long long)time(NULL);
    size_t *order = NULL;
    if ((status = check_order(c, &w, &order, err)) != WSB_OK)
        return status;
    if (inv->n > 0 && (w.results = calloc(inv->n, sizeof *w.results)) == NULL) {
        free(order);
        return wsb_fail(err, WSB_ENOMEM, "out of memory in the round");
    }
    w.n_results = inv->n;
    if (check_canary(c, st, why) != WSB_OK)
        wsb_log_error("probe fault: the canary's check could not run: %s", why);
    if (!st->fault.fault) {
        long long checks_from = wsb_now_ms(), cpu_from = cpu_ms();
        if (wsb_check_all(inv, &c->check, order, w.results, why) != WSB_OK)
            wsb_log_error("probe fault: the checks could not run: %s", why);
        wsb_log_debug("checks: %zu nodes in %lld ms (%lld ms of CPU)", inv->n, wsb_now_ms() - checks_from,
                      cpu_ms() - cpu_from);
        /* The transfers' memory (easy handles, connections) is free now:
         * given back before the state is read again and the records and
         * the write are built. */
        malloc_trim(0);
        for (size_t i = 0; i < inv->n; i++)
            if ((unsigned)w.results[i].check < WSB_OUT_COUNT)
                st->outcomes[w.results[i].check]++;
        wsb_fault_judge(inv, w.results, &st->fault);
    }
    free(order);
    if (st->fault.fault) {
        status = skip_round(c, &w, st, err);
        goto cleanup;
    }
    /* The previous state again (check_order let it go): the history the
     * records carry on.  Once more after a Redis error: the checks are
     * done, and a dropped connection is opened again. */
    if ((status = wsb_state_read(c->redis, c->keys, &w.prev, why)) == WSB_EREDIS) {
        wsb_log_warn("reading the previous state again after the checks: %s; trying once more", why);
        status = wsb_state_read(c->redis, c->keys, &w.prev, why);
    }
    if (status != WSB_OK) {
        wsb_fail(err, status, "reading the previous state again after the checks: %s", why);
        goto cleanup;
    }
    drop_raw(&w.prev);
    if ((status = work_prepare(c, &w)) != WSB_OK)
        goto cleanup;
    if ((status = build_records(c, &w, st)) != WSB_OK || (status = log_removed(inv, &w.prev)) != WSB_OK)
        goto cleanup;
    /* The records say all of it now: the results are not held through the
     * write. */
    wsb_check_results_clear(w.results, w.n_results);
    free(w.results);
    w.results = NULL;
    drop_prev_nodes(&w);
    if (st->probe_faults > 0)
        wsb_log_error("probe fault: %zu of %zu checks could not run (first: %s); those nodes keep their "
                      "previous state", st->probe_faults, inv->n, st->probe_fault);
    status = write_round(c, &w, st, started, err);
cleanup:
    if (status == WSB_ENOMEM && err[0] == '\0')
        wsb_fail(err, WSB_ENOMEM, "out of memory in the round");
    work_free(&w);
    return status;
}

/* health.c: hysteresis and the node records of a round (policy only). */
#include "health.h"
#include "report.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned bump(unsigned v)
{
    return v < WSB_STREAK_MAX ? v + 1 : v;
}

unsigned wsb_health_recent_failures(const char *recent, unsigned window)
{
    unsigned n = 0;
    for (unsigned i = 0; i < window && recent[i] != '\0'; i++)
        n += recent[i] == '-';
    return n;
}

/* Puts this check's mark in front of the previous ones, keeping `keep`. */
static void remember(char recent[WSB_RECENT_LEN + 1], const char *before, int ok, unsigned keep)
{
    char was[WSB_RECENT_LEN + 1];
    snprintf(was, sizeof was, "%s", before);
    if (keep < 1)
        keep = 1;
    if (keep > WSB_RECENT_LEN)
        keep = WSB_RECENT_LEN;
    recent[0] = ok ? '+' : '-';
    size_t i = 1;
    for (; i < keep && was[i - 1] != '\0'; i++)
        recent[i] = was[i - 1];
    recent[i] = '\0';
}

enum wsb_health_change wsb_health_step(const struct wsb_health *prev, enum wsb_outcome check,
                                       const struct wsb_health_policy *pol, long long now, struct wsb_health *next)
{
    int ok = check == WSB_OUT_OK;
    if (wsb_outcome_is_probe_fault(check)) {
        if (prev != NULL) {
            *next = *prev;
            return WSB_HEALTH_KEPT;
        }
        memset(next, 0, sizeof *next);
        next->changed_at = now;
        return WSB_HEALTH_KEPT;
    }
    if (prev == NULL) {
        next->online = ok;
        next->ok_streak = ok ? 1 : 0;
        next->fail_streak = ok ? 0 : 1;
        next->changed_at = now;
        remember(next->recent, "", ok, pol->flap_checks);
        return ok ? WSB_HEALTH_FIRST_UP : WSB_HEALTH_FIRST_DOWN;
    }
    *next = *prev;
    remember(next->recent, prev->recent, ok, pol->flap_checks);
    if (ok) {
        next->ok_streak = bump(prev->ok_streak);
        next->fail_streak = 0;
        if (!prev->online && next->ok_streak >= pol->rise) {
            next->online = 1;
            next->changed_at = now;
            /* The window starts afresh from the successes that brought it
             * back: the failures of the outage are not counted twice. */
            next->recent[next->ok_streak < WSB_RECENT_LEN ? next->ok_streak : WSB_RECENT_LEN] = '\0';
            return WSB_HEALTH_UP;
        }
    } else {
        next->fail_streak = bump(prev->fail_streak);
        next->ok_streak = 0;
        int flapping = pol->flap_failures > 0 &&
                       wsb_health_recent_failures(next->recent, pol->flap_checks) >= pol->flap_failures;
        if (prev->online && (next->fail_streak >= pol->fall || flapping)) {
            next->online = 0;
            next->changed_at = now;
            return WSB_HEALTH_DOWN;
        }
    }
    return WSB_HEALTH_SAME;
}

static void copy_load(const struct wsb_node *from, struct wsb_node *to)
{
    to->load_known = from->load_known;
    to->load = from->load;
    to->connections = from->connections;
    to->capacity = from->capacity;
}

int wsb_health_record(const struct wsb_inv_node *inv, const struct wsb_node *prev,
                      const struct wsb_check_result *res, long long now, long long max_age,
                      struct wsb_node *out, enum wsb_health_change *change)
{
    const struct wsb_node *in = &inv->node;
    int was_online = prev != NULL && prev->online;
    if (prev != NULL && (prev->endpoint == NULL || strcmp(prev->endpoint, in->endpoint) != 0))
        prev = NULL;   /* a new endpoint is a new server: no history */
    if (prev != NULL && wsb_outcome_is_probe_fault(res->check) && now - prev->checked_at > max_age)
        prev = NULL;   /* nothing fresh enough to keep */

    wsb_node_init(out);
    out->id = strdup(in->id);
    out->endpoint = strdup(in->endpoint);
    out->location = strdup(in->location);
    if (out->id == NULL || out->endpoint == NULL || out->location == NULL) {
        wsb_node_clear(out);
        return WSB_ENOMEM;
    }
    out->has_coords = in->has_coords;
    out->lat = in->lat;
    out->lon = in->lon;
    memcpy(out->country, in->country, sizeof out->country);
    memcpy(out->continent, in->continent, sizeof out->continent);
    memcpy(out->versions, in->versions, sizeof out->versions);
    out->n_versions = in->n_versions;
    out->drain = in->drain;
    out->slow_start_s = in->slow_start_s;
    out->max_new_per_s = in->max_new_per_s;

    struct wsb_health before, after;
    if (prev != NULL) {
        before.online = prev->online;
        before.ok_streak = prev->ok_streak;
        before.fail_streak = prev->fail_streak;
        before.changed_at = prev->changed_at;
        snprintf(before.recent, sizeof before.recent, "%s", prev->recent);
    }
    const struct wsb_health_policy pol = { inv->check.rise, inv->check.fall, inv->check.flap_checks,
                                           inv->check.flap_failures };
    *change = wsb_health_step(prev ? &before : NULL, res->check, &pol, now, &after);
    if (*change == WSB_HEALTH_KEPT && prev == NULL && was_online)
        *change = WSB_HEALTH_DOWN;   /* kept too long: given up */
    out->online = after.online;
    out->ok_streak = after.ok_streak;
    out->fail_streak = after.fail_streak;
    out->changed_at = after.changed_at;
    memcpy(out->recent, after.recent, sizeof out->recent);

    if (wsb_outcome_is_probe_fault(res->check)) {
        /* Nothing was learnt about the node: keep what the last round said. */
        if (prev != NULL) {
            out->checked_at = prev->checked_at;
            copy_load(prev, out);
            snprintf(out->last_error, sizeof out->last_error, "%s", prev->last_error);
        } else {
            wsb_report_apply(NULL, inv->capacity, out);
            snprintf(out->last_error, sizeof out->last_error, "%s", wsb_outcome_name(res->check));
        }
        return WSB_OK;
    }
    out->checked_at = now;
    enum wsb_outcome shown = res->check;
    if (res->check != WSB_OUT_OK) {
        wsb_report_apply(NULL, inv->capacity, out);
    } else if (res->report == WSB_OUT_OK) {
        wsb_report_apply(&res->load, inv->capacity, out);
    } else if (wsb_outcome_is_probe_fault(res->report) && prev != NULL) {
        copy_load(prev, out);
    } else {
        wsb_report_apply(NULL, inv->capacity, out);
        if (res->report != WSB_OUT_NO_REPORT && !wsb_outcome_is_probe_fault(res->report))
            shown = res->report;
    }
    snprintf(out->last_error, sizeof out->last_error, "%s", wsb_outcome_name(shown));
    return WSB_OK;
}

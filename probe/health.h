/* health.h: the one place that turns check outcomes into node state
 * (hysteresis) and builds the node records of a round.  Pure functions:
 * no I/O, no clock (the caller passes "now").
 *
 * Policy (README "Health and hysteresis"):
 *   - a node with history goes offline after `fall` failed checks in a row,
 *     or when flapping: at a failed check that makes flap_failures failures
 *     among its last flap_checks checks (`recent` in its record); it comes
 *     back online after `rise` successes in a row, its window starting
 *     afresh from them;
 *   - a node without history (new, its endpoint changed, or the state had
 *     expired) takes the result of its first check: online on a success,
 *     offline on a failure;
 *   - a probe fault (no file descriptor, no memory, libcurl setup) changes
 *     nothing: the node keeps its previous state and counters, but only as
 *     long as its last real check is at most max_age seconds old (the state
 *     TTL); after that it is offline, never stale-online. */
#ifndef WSB_PROBE_HEALTH_H
#define WSB_PROBE_HEALTH_H

#include "check.h"
#include "inventory.h"
#include "node.h"
#include "outcome.h"

#define WSB_STREAK_MAX 1000000u

struct wsb_health {
    int online;
    unsigned ok_streak, fail_streak;
    long long changed_at;   /* unix seconds of the last online change */
    char recent[WSB_RECENT_LEN + 1];   /* the last checks, newest first ('+', '-') */
};

/* When a node changes state: a check spec's rise, fall and flap damping
 * (flap_failures 0: none). */
struct wsb_health_policy {
    unsigned rise, fall;
    unsigned flap_checks, flap_failures;
};

enum wsb_health_change {
    WSB_HEALTH_SAME = 0,    /* online state unchanged (with history) */
    WSB_HEALTH_UP,          /* offline -> online */
    WSB_HEALTH_DOWN,        /* online -> offline */
    WSB_HEALTH_FIRST_UP,    /* no history, now online */
    WSB_HEALTH_FIRST_DOWN,  /* no history, now offline */
    WSB_HEALTH_KEPT         /* probe fault: nothing changed */
};

/* Applies one check outcome to prev (NULL: no history) into *next. */
enum wsb_health_change wsb_health_step(const struct wsb_health *prev, enum wsb_outcome check,
                                       const struct wsb_health_policy *pol, long long now, struct wsb_health *next);

/* The failed checks among the first `window` of recent ('-' count). */
unsigned wsb_health_recent_failures(const char *recent, unsigned window);

/* Builds the record of inventory node inv for this round into *out (which
 * the caller releases with wsb_node_clear).  prev is the node's record of
 * the previous live round, or NULL; it counts as history only when its
 * endpoint is inv's (and, after a probe fault, when it is younger than
 * max_age seconds).  last_error becomes the check's outcome name, or the
 * report's when the check passed and the report failed.  Returns WSB_OK
 * with *change set, or WSB_ENOMEM with *out empty. */
int wsb_health_record(const struct wsb_inv_node *inv, const struct wsb_node *prev,
                      const struct wsb_check_result *res, long long now, long long max_age,
                      struct wsb_node *out, enum wsb_health_change *change);

#endif

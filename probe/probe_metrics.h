/* probe_metrics.h: the probe's counters for the handlers' /metrics
 * exposition: rounds run, rounds judged a probe fault, rounds not
 * written, and checks by outcome, added to <prefix>metrics:probe (keys.h)
 * after each round, in one pipeline. */
#ifndef WSB_PROBE_PROBE_METRICS_H
#define WSB_PROBE_PROBE_METRICS_H

#include "keys.h"
#include "redis.h"
#include "round.h"

/* Adds one round's counts: st as wsb_round_run left it, status what it
 * returned (not WSB_OK: a failed round, whose checks are still counted).
 * Returns WSB_OK, or WSB_EREDIS with the reason in err; nothing else
 * depends on it (the caller logs it, once a run of failures). */
int wsb_probe_metrics_write(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_round_stats *st,
                            int status, char *err);

#endif

/* round.h: one probe round: read the previous state, check every node,
 * apply hysteresis (health.c), write the round atomically, and log one
 * line per change of a node's state. */
#ifndef WSB_PROBE_ROUND_H
#define WSB_PROBE_ROUND_H

#include "check.h"
#include "events.h"
#include "fault.h"
#include "inventory.h"
#include "outcome.h"
#include "redis.h"
#include "state_read.h"
#include "state_write.h"

#include <stddef.h>

struct wsb_round_ctx {
    const struct wsb_inventory *inv;          /* borrowed */
    struct wsb_redis *redis;                  /* borrowed, connected on demand */
    const struct wsb_keys *keys;
    struct wsb_check_options check;
    int ttl_s;                                /* state TTL */
    const char *probe_id;                     /* "host:pid" */
    const char *lock_token;                   /* refreshed before the write */
    long lock_ttl_ms;
    struct wsb_event_list *events;            /* borrowed; emptied by every round, then holds its
                                               * events (those written, or a probe fault's start);
                                               * NULL: no events at all */
    long events_max;                          /* the stream's cap (0: WSB_EVENTS_MAXLEN) */
};

struct wsb_round_stats {
    size_t nodes, up, down, draining;
    size_t probe_faults;                      /* checks the probe itself could not run */
    size_t outcomes[WSB_OUT_COUNT];           /* the round's checks by outcome (none when the
                                               * canary judged it a fault before any ran) */
    struct wsb_round_fault fault;             /* the round as a whole was the probe's fault:
                                               * nothing of it was written (fault.h) */
    char probe_fault[WSB_ERRLEN];             /* the first of them, for the log */
    long long duration_ms;
    long long round_id;                       /* the written round's id */
    char round_text[WSB_MAX_ROUND_ID + 1];    /* the round id the events name ("" none) */
};

/* Keeps the probe lock: extends it if this probe still holds it, or takes
 * it again if it has expired meanwhile (a Redis outage longer than its
 * lifetime).  WSB_OK, WSB_EBUSY when another probe holds it now, or
 * WSB_EREDIS with the reason in err. */
int wsb_round_keep_lock(const struct wsb_round_ctx *c, char *err);

/* Runs one round.  Returns WSB_OK when the round was written (nodes may be
 * down, and st->probe_faults may be non-zero) or judged a probe fault as a
 * whole (st->fault.fault: not written, the live round marked), WSB_EBUSY when the lock was
 * lost, or WSB_EREDIS/WSB_EREPLY/WSB_ENOMEM/WSB_EINVAL with the reason in
 * err; on error nothing was written and the previous round stays whole. */
int wsb_round_run(const struct wsb_round_ctx *c, struct wsb_round_stats *st, char *err);

#endif

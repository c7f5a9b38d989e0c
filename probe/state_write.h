/* state_write.h: the probe's writes to the state (keys.h): a whole round
 * in one transaction (with the assignment counts it carries over), and
 * run-time drains. */
#ifndef WSB_PROBE_STATE_WRITE_H
#define WSB_PROBE_STATE_WRITE_H

#include "keys.h"
#include "node.h"
#include "redis.h"

#include <stddef.h>

/* What <prefix>round says of a round.  Plain values; probe is borrowed. */
struct wsb_round_summary {
    long long id;                  /* the round's id (keys.h); 0: the unix ms of the write;
                                    * < 0: none (as written by hand: no accounting) */
    long long at;                  /* unix seconds at the round's start */
    long long duration_ms;
    size_t nodes, up, down, draining;
    const char *probe;             /* "host:pid" of the writer */
};

/* What a round's write does with the handlers' assignment counts
 * (keys.h, carry.h).  Plain values, borrowed. */
struct wsb_round_carry {
    const char *prev_id;           /* the previous round's id: its <prefix>assigned key is
                                    * deleted; NULL or "" when there was none */
    const long long *counts;       /* counts[i] for nodes[i]: the non-zero ones go into the new
                                    * round's <prefix>assigned key; NULL: none */
};

/* Replaces the whole node hash with nodes[0..n) and the round summary
 * (expiring after ttl_s seconds) in one MULTI/EXEC.  With carry (may be
 * NULL: the assignment keys are not touched), the same transaction deletes
 * the previous round's <prefix>assigned:<prev id> and writes the new
 * round's with the non-zero counts, expiring with the round.  Returns
 * WSB_OK.  On error WSB_EINVAL (a node fails its checks), WSB_ETOOBIG,
 * WSB_EREDIS, WSB_EREPLY or WSB_ENOMEM is returned with a reason in err,
 * and Redis is unaltered: nothing was sent, or the transaction was
 * discarded, so the previous round stays whole.  nodes and carry stay the
 * caller's. */
int wsb_state_write_round(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_node *nodes,
                          size_t n, const struct wsb_round_summary *sum, const struct wsb_round_carry *carry,
                          int ttl_s, char *err);

/* Drains (drain=1) or undrains a node at run time through <prefix>admin.
 * Returns WSB_OK; on error WSB_EINVAL (a bad id: nothing sent) or
 * WSB_EREDIS is returned with a reason in err and the admin hash is
 * unaltered. */
int wsb_state_set_drain(struct wsb_redis *r, const struct wsb_keys *k, const char *id, int drain,
                        char *err);

#endif

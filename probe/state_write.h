/* state_write.h: the probe's writes to the state (keys.h): a whole round
 * in one transaction (with the assignment counts it carries over), and
 * run-time drains. */
#ifndef WSB_PROBE_STATE_WRITE_H
#define WSB_PROBE_STATE_WRITE_H

#include "events.h"
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
    const struct wsb_event_list *events;  /* the round's events, appended to <prefix>events in
                                           * the same transaction; NULL: none */
    const struct wsb_event_stamp *stamp;  /* their probe, round id and cap; needed with events */
};

/* What a round's write does with the handlers' assignment counts
 * (keys.h, carry.h).  Plain values, borrowed. */
struct wsb_round_carry {
    const char *prev_id;           /* the previous round's id: its <prefix>assigned key is
                                    * deleted; NULL or "" when there was none */
    const long long *counts;       /* counts[i] for nodes[i]: the non-zero ones go into the new
                                    * round's <prefix>assigned key; NULL: none */
};

/* What a round's write is fenced by (README "Several probe hosts"): it
 * lands only while lock_token holds <prefix>lock (NULL: not checked) and
 * the round key, when there is one, still names the round this one was
 * computed from (round_id, "" when there was none or it had no id): a
 * probe that was paused past its lock, or lost it, never writes an older
 * round over a newer one.  (A round key that expired meanwhile fences
 * nothing off.)  Both are watched (WATCH) through the write.  Borrowed. */
struct wsb_round_fence {
    const char *lock_token;
    const char *round_id;
};

/* Replaces the whole node hash with nodes[0..n) and the round summary
 * (expiring after ttl_s seconds) in one MULTI/EXEC.  With carry (may be
 * NULL: the assignment keys are not touched), the same transaction deletes
 * the previous round's <prefix>assigned:<prev id> and writes the new
 * round's with the non-zero counts, expiring with the round.  Returns
 * WSB_OK.  On error WSB_EINVAL (a node fails its checks), WSB_ETOOBIG,
 * WSB_EREDIS, WSB_EREPLY or WSB_ENOMEM is returned with a reason in err,
 * and Redis is unaltered: nothing was sent, or the transaction was
 * discarded, so the previous round stays whole.  The summary's events
 * are in the same transaction; when Redis refuses their XADD (a user
 * without +xadd: the EXEC is aborted) the round is written again without
 * them, and that is logged (once: wsb_events_refused), not an error.
 * With fence (may be NULL) the write lands only as the fence says;
 * WSB_EBUSY with the reason in err when it did not.  nodes, carry and fence stay the caller's. */
int wsb_state_write_round(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_node *nodes,
                          size_t n, const struct wsb_round_summary *sum, const struct wsb_round_carry *carry,
                          const struct wsb_round_fence *fence, int ttl_s, char *err);

/* Marks the live round as judged by a probe fault since at (unix seconds):
 * HSET <prefix>round fault <cause>, and fault_at <at> unless it is there
 * already (the episode's start), which handlers and
 * --check show.  At the episode's start (and only then) the same script
 * appends a probe_fault event as stamp says (NULL: none) and sets
 * *started to 1 (else 0; started may be NULL); a refused XADD is logged
 * (wsb_events_refused), not an error.  Only while lock_token (NULL: not
 * checked) holds the lock and the round key exists (an expired state stays expired; the TTL is
 * not touched); one EVAL.  Returns WSB_OK (marked, or nothing to mark),
 * WSB_EBUSY when the lock is another's, or WSB_EREDIS with err. */
int wsb_state_mark_fault(struct wsb_redis *r, const struct wsb_keys *k, const char *lock_token, const char *cause,
                         long long at, const struct wsb_event_stamp *stamp, int *started, char *err);

/* Drains (drain=1) or undrains a node at run time through <prefix>admin.
 * Returns WSB_OK; on error WSB_EINVAL (a bad id: nothing sent) or
 * WSB_EREDIS is returned with a reason in err and the admin hash is
 * unaltered. */
int wsb_state_set_drain(struct wsb_redis *r, const struct wsb_keys *k, const char *id, int drain,
                        char *err);

#endif

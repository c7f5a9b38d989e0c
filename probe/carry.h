/* carry.h: what the handlers assigned during a round, carried into the
 * next one.
 *
 * A node's measured connections (its check and load report, at its
 * checked_at) do not hold the clients the handlers sent it after that.
 * The handlers count those per second in <prefix>starts:<unix second>
 * (keys.h).  Before the probe writes a round, it adds up, for every node,
 * the counts of the seconds from the node's own checked_at (that second
 * included: an overestimate of at most one second, never an underestimate)
 * up to now, at most WSB_STARTS_TTL_S seconds back; the new round's
 * <prefix>assigned:<id> starts with those sums (state_write.h), so the
 * handlers' first reads of the new round do not see a node emptier than it
 * is. */
#ifndef WSB_PROBE_CARRY_H
#define WSB_PROBE_CARRY_H

#include "keys.h"
#include "node.h"
#include "redis.h"

#include <stddef.h>

#define WSB_CARRY_MAX 4294967295LL   /* a carried count is clamped here (as handlers read it) */

/* The first second whose starts are read for nodes[0..n) at unix second
 * now: the earliest checked_at, but not before now - WSB_STARTS_TTL_S (a
 * node never checked, checked_at 0, reaches that far).  now when n is 0. */
long long wsb_carry_first_second(const struct wsb_node *nodes, size_t n, long long now);

/* Adds up the starts: hashes[j] is the HGETALL reply of
 * <prefix>starts:<first + j>; every field that names one of nodes[0..n)
 * adds its count to counts[i] when first + j >= nodes[i].checked_at.
 * Fields of other ids and values that are not decimal counts (edited by
 * hand) are ignored; a sum stops at WSB_CARRY_MAX.  counts[0..n) is set
 * (not added to).  Pure: no I/O.  Returns WSB_OK; on error WSB_EREPLY (a
 * reply that is not a hash) or WSB_ENOMEM with the reason in err, and
 * counts all zero. */
int wsb_carry_sum(const struct wsb_node *nodes, size_t n, long long first, redisReply *const *hashes,
                  size_t n_hashes, long long *counts, char *err);

/* Reads the starts of every second from wsb_carry_first_second(nodes, n,
 * now) to now in one pipelined round trip (HGETALL each) and sums them as
 * wsb_carry_sum into counts[0..n).  Returns WSB_OK; on error WSB_EREDIS,
 * WSB_EREPLY or WSB_ENOMEM with the reason in err, counts all zero, and
 * the connection dropped when it may be out of step.  nodes stay the
 * caller's. */
int wsb_carry_read(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_node *nodes, size_t n,
                   long long now, long long *counts, char *err);

#endif

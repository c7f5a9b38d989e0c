/* affinity.h: rendezvous hashing with a load bound, for clients that send
 * ?affinity=<key> (see query.h).
 *
 * Among the candidates that geography kept (select.h, steps 1 to 4), each
 * node gets a score from the key and its id alone (weighted rendezvous
 * hashing: capacity / -ln(u), u a uniform hash of key and id in (0, 1)),
 * so that every process on every host orders the candidates of a key the
 * same way with no shared state, and removing one of n nodes moves only
 * the keys that node held (about 1/n).  The first node in the key's order
 * is taken while its projected load stays within the bound, else the next:
 *
 *     used_i + 1 <= ceil((1 + balance) x (sum of used + 1) x C_i / sum of C)
 *
 * (connections: used_i as selection counts it, at the check plus what was
 * assigned since; C_i its capacity; the sums over the candidates), so that
 * the most loaded candidate carries at most (1 + balance) times the mean
 * load, as HAProxy's hash-balance-factor and Envoy's hash_balance_factor
 * bound it.  A node over its session-start budget is skipped.  After
 * WSB_AFFINITY_TRIES nodes over the bound, the least loaded candidate is
 * taken (the bound holds for some candidate, so this is rare). */
#ifndef WSB_AFFINITY_H
#define WSB_AFFINITY_H

#include "select.h"
#include "snapshot.h"

#include <stddef.h>
#include <stdint.h>

#define WSB_AFFINITY_BALANCE 0.25   /* default of WSB_AFFINITY_BALANCE */
#define WSB_AFFINITY_TRIES 32

/* The hash of an affinity key (len bytes, any bytes), the same on every
 * host and in every process.  Cannot fail. */
uint64_t wsb_affinity_hash(const void *key, size_t len);

/* The rendezvous score of node i of s for a key hash: larger comes first
 * in the key's order.  Cannot fail. */
double wsb_affinity_score(const struct wsb_snapshot *s, uint32_t i, uint64_t key_hash);

/* Whether node i of s may take one more client under the bound, among the
 * candidates whose used connections and capacities add up to sum_used and
 * sum_capacity.  Cannot fail. */
int wsb_affinity_within(const struct wsb_snapshot *s, uint32_t i, double balance, double sum_used,
                        double sum_capacity);

/* Connections node i of s has as selection counts them: at its check plus
 * what every handler assigned since.  Cannot fail. */
double wsb_affinity_used(const struct wsb_snapshot *s, uint32_t i);

/* Picks for a key among the k >= 1 candidates in sc->cand (indexes into
 * s->nodes; sc->sim is overwritten): the first in the key's order within
 * the bound, as above, at unix time now_ms (budgets).  NULL when every
 * candidate is over its budget.  Pure: reads the tally, writes nothing of
 * s. */
const struct wsb_snap_node *wsb_affinity_pick(const struct wsb_snapshot *s, struct wsb_select_scratch *sc,
                                              size_t k, uint64_t key_hash, double balance, long long now_ms);

#endif

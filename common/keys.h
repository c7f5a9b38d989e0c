/* keys.h: the Redis key layout of the state, written by the probe and
 * read by the handler.  With the default prefix "wsb:":
 *
 *   wsb:nodes   hash   node id -> JSON node record (node.h), the last round
 *   wsb:round   hash   summary of the last round; expires after the state
 *                      TTL.  When it is gone the state has expired and every
 *                      node counts as offline.
 *   wsb:admin   hash   node id -> "drain": drained at run time; never
 *                      written by a round, so it outlives them
 *   wsb:lock    string the probe's run lock (SET NX PX)
 *   wsb:events  stream every change of a node's state and every probe
 *                      fault (probe/events.h), capped (XADD MAXLEN ~);
 *                      a round's node events are in its MULTI/EXEC
 *   wsb:assigned:<round id>
 *               hash   node id -> clients the handlers sent to it since
 *                      its check in that round (HINCRBY by every handler
 *                      process at its refresh; created by the probe with
 *                      what was assigned during the round); expires with
 *                      the round
 *   wsb:starts:<unix second>
 *               hash   node id -> clients the handlers sent to it, flushed
 *                      in that second (session-start budgets, and what the
 *                      probe carries into a new round); expires after
 *                      WSB_STARTS_TTL_S
 *   wsb:metrics:handlers
 *               hash   "<host>|<counter>[|<labels>]" -> the counters of
 *                      every handler process of that host (HINCRBY at a
 *                      refresh), "<host>|flushed_at" and other gauges
 *                      (HSET); read by a /metrics scrape (handler/metrics.h)
 *   wsb:metrics:nodes
 *               hash   "answers|<node id>", "excluded|<node id>" -> the
 *                      answers with that node, and the requests that
 *                      excluded it, of every handler process on every host
 *   wsb:metrics:probe
 *               hash   the probe's counters (rounds, checks by outcome,
 *                      probe faults), HINCRBY after each round
 *
 * A round replaces wsb:nodes and wsb:round in one MULTI/EXEC, so a reader
 * sees all of one round or all of the previous one. */
#ifndef WSB_KEYS_H
#define WSB_KEYS_H

#include <stddef.h>

#define WSB_MAX_PREFIX 64
#define WSB_MAX_ROUND_ID 20       /* digits of a round id */
#define WSB_STARTS_TTL_S 120      /* lifetime of a <prefix>starts:<second> key */

/* The key names; plain arrays, nothing to free. */
struct wsb_keys {
    char nodes[WSB_MAX_PREFIX + 8];
    char round[WSB_MAX_PREFIX + 8];
    char admin[WSB_MAX_PREFIX + 8];
    char lock[WSB_MAX_PREFIX + 8];
    char events[WSB_MAX_PREFIX + 8];
    char assigned[WSB_MAX_PREFIX + 16];   /* "<prefix>assigned:", the round id follows */
    char starts[WSB_MAX_PREFIX + 16];     /* "<prefix>starts:", the unix second follows */
    char metrics_handlers[WSB_MAX_PREFIX + 20];
    char metrics_nodes[WSB_MAX_PREFIX + 20];
    char metrics_probe[WSB_MAX_PREFIX + 20];
};

/* Room for a key built by the two functions below. */
#define WSB_MAX_KEY (WSB_MAX_PREFIX + 48)

/* Builds the key names from a prefix of at most 64 printable bytes without
 * blanks.  Returns WSB_OK; on error WSB_EINVAL is returned with the reason
 * in err and *k is unaltered. */
int wsb_keys_init(struct wsb_keys *k, const char *prefix, char *err);

/* Checks a round id: 1..WSB_MAX_ROUND_ID decimal digits.  Returns 1 when
 * good, else 0. */
int wsb_round_id_ok(const char *id, size_t len);

/* Writes "<prefix>assigned:<round_id>" into out (WSB_MAX_KEY bytes);
 * round_id must pass wsb_round_id_ok.  Cannot fail. */
void wsb_keys_assigned(const struct wsb_keys *k, const char *round_id, char *out);

/* Writes "<prefix>starts:<second>" into out (WSB_MAX_KEY bytes).  Cannot
 * fail. */
void wsb_keys_starts(const struct wsb_keys *k, long long second, char *out);

#endif

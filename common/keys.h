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
 *
 * A round replaces wsb:nodes and wsb:round in one MULTI/EXEC, so a reader
 * sees all of one round or all of the previous one. */
#ifndef WSB_KEYS_H
#define WSB_KEYS_H

#define WSB_MAX_PREFIX 64

/* The key names; plain arrays, nothing to free. */
struct wsb_keys {
    char nodes[WSB_MAX_PREFIX + 8];
    char round[WSB_MAX_PREFIX + 8];
    char admin[WSB_MAX_PREFIX + 8];
    char lock[WSB_MAX_PREFIX + 8];
};

/* Builds the key names from a prefix of at most 64 printable bytes without
 * blanks.  Returns WSB_OK; on error WSB_EINVAL is returned with the reason
 * in err and *k is unaltered. */
int wsb_keys_init(struct wsb_keys *k, const char *prefix, char *err);

#endif

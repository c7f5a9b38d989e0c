/* state.h: the Redis state layout, written by the probe and read by the
 * handler, both through this module.  With the default prefix "wsb:":
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
#ifndef WSB_STATE_H
#define WSB_STATE_H

#include "node.h"
#include "redis.h"
#include "status.h"

#include <stddef.h>

#define WSB_MAX_PREFIX 64
#define WSB_MAX_NODES 100000

struct wsb_keys {
    char nodes[WSB_MAX_PREFIX + 8];
    char round[WSB_MAX_PREFIX + 8];
    char admin[WSB_MAX_PREFIX + 8];
    char lock[WSB_MAX_PREFIX + 8];
};

/* Builds the key names from a prefix of at most 64 printable bytes without
 * blanks.  Returns WSB_OK, or WSB_EINVAL with a reason in err. */
int wsb_keys_init(struct wsb_keys *k, const char *prefix, char *err);

/* The state as read from Redis.  Owned by the caller: release with
 * wsb_state_clear (which accepts a zeroed or cleared struct). */
struct wsb_state {
    struct wsb_node *nodes;
    size_t n;
    char **drain_ids;              /* ids drained through <prefix>admin */
    size_t n_drain;
    int live;                      /* the round key exists */
    size_t n_skipped;              /* malformed records left out */
    char skip_reason[WSB_ERRLEN];  /* the first of them: "node eu-1: endpoint: ..." */
    size_t n_reused;               /* of the n nodes, copied from a memo, not decoded */
};

void wsb_state_clear(struct wsb_state *s);

/* Reads nodes, admin and round in one pipelined round trip.  On success
 * *out holds the state (malformed records skipped and counted).  On error
 * returns WSB_EREDIS, WSB_EREPLY or WSB_ENOMEM with a reason in err, the
 * connection is dropped when it may be out of step, and *out is empty. */
int wsb_state_read(struct wsb_redis *r, const struct wsb_keys *k, struct wsb_state *out, char *err);

/* Nodes decoded by an earlier read, which the next one may copy instead of
 * decoding a record again: entry i (0 <= i < n) is get(ctx, i), or NULL
 * when that entry must not be reused (its fields no longer say what its
 * record said).  An entry is used only for a record of the same id whose
 * bytes equal its raw bytes in full (an entry with raw NULL never is), so
 * what the read returns is exactly what decoding would return.  The memo
 * stays the caller's and must not change during the read. */
struct wsb_state_memo {
    size_t n;
    const struct wsb_node *(*get)(const void *ctx, size_t i);
    const void *ctx;
};

/* wsb_state_read, with memo (may be NULL: decode every record).  Each
 * record is looked for at its own position among the good records first
 * (HGETALL keeps the order of an unchanged hash), then, from the first
 * miss on, by id through an index built for this read.  Malformed records
 * are decoded every time, so they are skipped, counted and reported as by
 * wsb_state_read.  Same return values and failure contract. */
int wsb_state_read_memo(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_state_memo *memo,
                        struct wsb_state *out, char *err);

struct wsb_round_summary {
    long long at;                  /* unix seconds at the round's start */
    long long duration_ms;
    size_t nodes, up, down, draining;
    const char *probe;             /* "host:pid" of the writer */
};

/* Replaces the whole node hash with nodes[0..n) and the round summary
 * (expiring after ttl_s seconds) in one MULTI/EXEC.  Returns WSB_OK, or
 * WSB_EINVAL (a node fails its checks; nothing was written), WSB_EREDIS,
 * WSB_EREPLY or WSB_ENOMEM with a reason in err; on a Redis error the
 * transaction is discarded, so the previous round stays whole. */
int wsb_state_write_round(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_node *nodes,
                          size_t n, const struct wsb_round_summary *sum, int ttl_s, char *err);

/* Drains (drain=1) or undrains a node at run time through <prefix>admin.
 * Returns WSB_OK or WSB_EREDIS/WSB_EINVAL with a reason in err. */
int wsb_state_set_drain(struct wsb_redis *r, const struct wsb_keys *k, const char *id, int drain,
                        char *err);

/* Takes the probe lock with a token for ttl_ms.  WSB_OK when taken,
 * WSB_EBUSY when another holder has it, WSB_EREDIS on error. */
int wsb_state_lock(struct wsb_redis *r, const struct wsb_keys *k, const char *token, long ttl_ms,
                   char *err);

/* Extends the lock if the token still holds it: WSB_OK, WSB_EBUSY (lost)
 * or WSB_EREDIS. */
int wsb_state_lock_refresh(struct wsb_redis *r, const struct wsb_keys *k, const char *token,
                           long ttl_ms, char *err);

/* Releases the lock if the token holds it.  WSB_OK or WSB_EREDIS. */
int wsb_state_unlock(struct wsb_redis *r, const struct wsb_keys *k, const char *token, char *err);

#endif

/* state_read.h: reading the state (keys.h) from Redis in one pipelined
 * round trip: the node records, decoded (node.h), the run-time drains and
 * whether the round is live.  The handler reads it for every snapshot, the
 * probe for the previous round's history. */
#ifndef WSB_STATE_READ_H
#define WSB_STATE_READ_H

#include "keys.h"
#include "node.h"
#include "redis.h"
#include "status.h"

#include <stddef.h>

#define WSB_MAX_NODES 100000
/* Node hashes up to this many records are read in one HGETALL; larger ones
 * in HSCAN chunks of about WSB_STATE_SCAN_COUNT (README "Large fleets"):
 * each a few milliseconds of Redis's time, far below its command timeout. */
#define WSB_STATE_CHUNK 16384
#define WSB_STATE_SCAN_COUNT 4096
/* A read in chunks that finds the state changed during it is tried this
 * many times, then fails (the snapshot serves on). */
#define WSB_STATE_READ_TRIES 3
#define WSB_FAULT_LEN 256          /* bytes kept of a round's "fault", with the NUL */

/* The state as read from Redis.  Owned by the caller: release with
 * wsb_state_clear (which accepts a zeroed or cleared struct). */
struct wsb_state {
    struct wsb_node *nodes;        /* owned, n of them */
    size_t n;
    char **drain_ids;              /* owned; ids drained through <prefix>admin */
    size_t n_drain;
    int live;                      /* the round key exists */
    char round_id[WSB_MAX_ROUND_ID + 1]; /* the round's "id" ("" none: written by hand,
                                    * or by a probe before ids); names its assigned key */
    long long round_ttl;           /* the round's "ttl" in seconds, 0 when not given */
    char round_err[WSB_ERRLEN];    /* why the round's id could not be read ("" when it was
                                    * or when there is none): Redis refused HMGET */
    long long round_at;            /* the round's "at" (unix seconds), 0 when not given */
    char fault[WSB_FAULT_LEN];     /* the round's "fault": why the probe's later rounds were
                                    * not counted ("" none: README "Probe faults") */
    long long fault_at;            /* the round's "fault_at" (unix seconds), 0 when none */
    size_t n_skipped;              /* malformed records left out */
    char skip_reason[WSB_ERRLEN];  /* the first of them: "node eu-1: endpoint: ..." */
    size_t n_reused;               /* of the n nodes, copied from a memo, not decoded */
    char chunk_err[WSB_ERRLEN];    /* why the hash was read in one reply whatever its size
                                    * (Redis refused HLEN or HSCAN: an ACL from before), "" */
};

/* Frees what s holds and zeroes it; NULL is accepted. */
void wsb_state_clear(struct wsb_state *s);

/* Reads nodes, admin and round (whether it exists, its id and ttl): the
 * hash's size (HLEN) with admin and round in one pipelined round trip, then
 * the nodes in one HGETALL up to WSB_STATE_CHUNK records, else in HSCAN
 * chunks (each command's reply bounded, whatever the fleet), then, after a
 * read in chunks, whether the probe wrote a new round meanwhile (the
 * round's id read again): if so it is read again, up to
 * WSB_STATE_READ_TRIES times.  With a memo that says the hash is small,
 * the nodes come in the first round trip (no HLEN).  On success
 * *out holds the state (malformed records skipped and counted).  On error
 * returns WSB_EREDIS, WSB_EREPLY, WSB_ETOOBIG or WSB_ENOMEM with a reason
 * in err, the connection is dropped when it may be out of step, and *out is
 * empty (zeroed, nothing to free). */
int wsb_state_read(struct wsb_redis *r, const struct wsb_keys *k, struct wsb_state *out, char *err);

/* Nodes decoded by an earlier read, which the next one may copy instead of
 * decoding a record again: entry i (0 <= i < n) is get(ctx, i), or NULL
 * when that entry must not be reused (its fields no longer say what its
 * record said).  An entry is used only for a record of the same id whose
 * bytes equal its raw bytes in full (an entry with raw NULL never is), so
 * what the read returns is exactly what decoding would return.  The memo
 * stays the caller's (borrowed by the read) and must not change during it. */
struct wsb_state_memo {
    size_t n;
    const struct wsb_node *(*get)(const void *ctx, size_t i);
    const void *ctx;
    int small;   /* the caller knows the hash holds at most WSB_STATE_CHUNK records
                  * (its last read found so): read it in the same round trip as the
                  * rest, without asking its size first */
};

/* wsb_state_read, with memo (may be NULL: decode every record).  Each
 * record is looked for at its own position among the good records first
 * (HGETALL keeps the order of an unchanged hash), then, from the first
 * miss on, by id through an index built for this read.  Malformed records
 * are decoded every time, so they are skipped, counted and reported as by
 * wsb_state_read.  Same return values and failure contract. */
int wsb_state_read_memo(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_state_memo *memo,
                        struct wsb_state *out, char *err);

/* The read itself on the connected context c of r, for a reader that
 * watches the keys (handler/state_watch.c): with watch set, WATCH <nodes>
 * <admin> <round> goes first in the same write.  An error reply to WATCH
 * does not fail the read: its text goes to watch_err (WSB_ERRLEN bytes;
 * "" when WATCH was not sent or answered OK).  *closed_early is set to 1
 * when the peer closed the connection before the first reply, else 0.
 * Same return values and failure contract as wsb_state_read. */
int wsb_state_read_on(struct wsb_redis *r, redisContext *c, const struct wsb_keys *k, int watch,
                      const struct wsb_state_memo *memo, struct wsb_state *out, char *watch_err,
                      int *closed_early, char *err);

#endif

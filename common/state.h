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

/* Change detection, so that a reader need not fetch the whole state to
 * learn that it did not change.  A read made with a watch
 * (wsb_state_read_watched) starts with WATCH <nodes> <admin> <round> on its
 * connection; wsb_state_check then asks in one round trip, MULTI, EXEC,
 * WATCH <nodes> <admin> <round>, EXISTS <round>, whether the state may have
 * changed since.  EXEC answers nil when a watched key was written, deleted,
 * renamed, flushed or (Redis >= 6.0.9) expired since the WATCH, and an
 * empty array when none was; EXISTS catches an expired round on older
 * servers too.  The four commands go in one write, so Redis runs them back
 * to back.  A WATCH belongs to one connection (wsb_redis_generation): after
 * a reconnect or a failover there is nothing to check until the next read.
 *
 * Owned by the caller, zeroed before first use; only the functions below
 * change it; nothing to free. */
struct wsb_state_watch {
    unsigned long long gen;        /* the connection whose WATCH covers the last read; 0: none */
    int live;                      /* the round key existed at that read */
    int refused;                   /* Redis refused WATCH, MULTI or EXEC: plain reads from now on */
    char why_refused[WSB_ERRLEN];  /* how: "MULTI: NOPERM this user has no permissions ..." */
};

enum wsb_state_change {
    WSB_STATE_UNCHANGED = 0,   /* nothing watched was touched: the last read still holds */
    WSB_STATE_CHANGED,         /* EXEC aborted, or the round key came or went: read again */
    WSB_STATE_UNWATCHED,       /* nothing watched on this connection (none open, a new one, no good read yet) */
    WSB_STATE_REFUSED,         /* Redis refuses MULTI, EXEC or WATCH (w->refused): read again, plainly */
    WSB_STATE_CHECK_FAILED     /* an I/O error, an error or an unexpected reply (reason in err): read again */
};

/* "unchanged", "changed", "unwatched", "refused", "check_failed"; "?" for
 * any other value. */
const char *wsb_state_change_name(enum wsb_state_change c);

/* Asks whether the state last read with w may have changed.  Sends nothing
 * and never connects when there is nothing to ask: UNWATCHED (w->gen is not
 * the current connection's) or REFUSED (w->refused was already set).  Only
 * UNCHANGED leaves w covering the last read; every other answer means "read
 * again" and leaves w->gen 0.  A refusal sets w->refused and w->why_refused
 * for good.  On REFUSED and CHECK_FAILED the connection is dropped when it
 * may be out of step (an I/O error, or a refusal that can leave it inside
 * MULTI); err then holds the reason. */
enum wsb_state_change wsb_state_check(struct wsb_redis *r, const struct wsb_keys *k, struct wsb_state_watch *w,
                                      char *err);

/* wsb_state_read_memo with change detection: unless w->refused, the read
 * starts with WATCH in the same write, and on success w covers it.  Change
 * detection being unavailable never fails the read: when Redis refuses
 * WATCH the replies of the reads still count, and when a connection opened
 * for this read closes before answering WATCH (a proxy without
 * transactions) the read is made once more without it on a new connection;
 * either way w->refused is set with the reason when the read succeeds.  w
 * may be NULL (a plain read).  Same return values and failure contract as
 * wsb_state_read; on failure w->gen is 0. */
int wsb_state_read_watched(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_state_memo *memo,
                           struct wsb_state_watch *w, struct wsb_state *out, char *err);

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

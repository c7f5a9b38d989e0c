/* state_watch.h: change detection, so that the handler need not fetch the
 * whole state (state_read.h) to learn that it did not change.
 *
 * A read made with a watch (wsb_state_read_watched) starts with WATCH
 * <nodes> <admin> <round> on its connection; wsb_state_check then asks in
 * one round trip, MULTI, EXEC, WATCH <nodes> <admin> <round>, EXISTS
 * <round>, whether the state may have changed since.  EXEC answers nil when
 * a watched key was written, deleted, renamed, flushed or (Redis >= 6.0.9)
 * expired since the WATCH, and an empty array when none was; EXISTS catches
 * an expired round on older servers too.  The four commands go in one
 * write, so Redis runs them back to back.  A WATCH belongs to one
 * connection (wsb_redis_generation): after a reconnect or a failover there
 * is nothing to check until the next read. */
#ifndef WSB_STATE_WATCH_H
#define WSB_STATE_WATCH_H

#include "keys.h"
#include "redis.h"
#include "state_read.h"
#include "status.h"

/* What one watch covers.  Owned by the caller, zeroed before first use;
 * only the functions below change it; nothing to free.  The caller reads
 * refused and why_refused. */
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
 * any other value.  A static string, never NULL. */
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

/* The state the caller holds is covered by no watch any more (its read
 * failed, or what was built from it was not kept): the next wsb_state_check
 * answers UNWATCHED, so the next refresh reads in full.  A refusal stays.
 * Cannot fail. */
void wsb_state_watch_forget(struct wsb_state_watch *w);

#endif

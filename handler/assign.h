/* assign.h: fleet-wide assignment accounting.  Every answer a process gives
 * is counted in its snapshot's tally (wsb_assign_note); at every refresh
 * (WSB_CACHE_MS, never per request) the process adds its counts to the
 * shared per-node counts in Redis, <prefix>assigned:<round id> and
 * <prefix>starts:<unix second> (keys.h), and reads back what every handler
 * process on every host assigned, into the tally that selection reads
 * (select.h).  A new probe round has a new id, so its counts start afresh
 * (with what the probe carried over from the round's own duration).
 *
 * The writes go over a connection of their own, to the first address of
 * WSB_REDIS_URL that takes writes: a handler that reads the state from a
 * local replica still counts on the primary.  Redis unreachable or refusing
 * the writes: selection goes on from the last counts plus the process's own,
 * one log line says so, and the counts not yet written are kept (up to the
 * next round) and written when Redis takes them again.  An exchange cut
 * short after Redis ran it (a timeout) is sent again, so the counts err on
 * the high side, as every part of the estimate does: a node looks fuller,
 * never emptier, than it is. */
#ifndef WSB_ASSIGN_H
#define WSB_ASSIGN_H

#include "keys.h"
#include "redis.h"
#include "snapshot.h"

/* Counts one answer with node n of snapshot s (n points into s->nodes).
 * Lock-free; cannot fail. */
void wsb_assign_note(const struct wsb_snapshot *s, const struct wsb_snap_node *n);

struct wsb_assign;

/* An accounting over Redis config cfg (copied, with every sentinel address
 * turned to the primary: the counts are writes) and the keys k (copied);
 * retry_ms is the least time between attempts after a failure, cache_ms
 * the refresh interval (WSB_CACHE_MS: how many processes share a budget is
 * told from the exchanges per second).  NULL on ENOMEM.  Free with wsb_assign_free (NULL accepted), which writes
 * nothing. */
struct wsb_assign *wsb_assign_new(const struct wsb_redis_config *cfg, const struct wsb_keys *k, long retry_ms,
                                  long cache_ms);
void wsb_assign_free(struct wsb_assign *a);

/* The connection the counts are written over (redis_writer.h), owned by
 * a; the metrics' flush (metrics.h) writes over it too. */
struct wsb_redis_writer;
struct wsb_redis_writer *wsb_assign_writer(struct wsb_assign *a);

/* Says whether the process exchanges every WSB_CACHE_MS (a refresher
 * runs), so that it counts as one of the processes sharing the budgets; a
 * CGI process does not.  0 until called.  Cannot fail. */
void wsb_assign_set_periodic(struct wsb_assign *a, int periodic);

/* Before fresh replaces cur as the process's snapshot (neither shared yet
 * by fresh): gives fresh the counts cur knows when both belong to the same
 * round, so that no request sees a node emptier than it is, and in any
 * case the starts of the last second and the number of processes sharing
 * the budgets.  Cannot fail. */
void wsb_assign_adopt(const struct wsb_snapshot *cur, struct wsb_snapshot *fresh);

/* One exchange with Redis, at a refresh: takes the answers counted in
 * retired (the snapshot cur replaced, NULL when none) and in cur since the
 * last exchange, adds them to the fleet-wide counts of cur's round, and
 * reads those back into cur's tally.  now_ms is the unix time.  Nothing is
 * sent when cur's round has no id (state written by hand: no accounting;
 * the counts are dropped) or within retry_ms of a failure.  Returns WSB_OK,
 * or WSB_EREDIS / WSB_EREPLY / WSB_ENOMEM with the reason in err: the counts
 * stay to be written at the next exchange. */
int wsb_assign_exchange(struct wsb_assign *a, struct wsb_snapshot *retired, struct wsb_snapshot *cur,
                        long long now_ms, char *err);

#endif

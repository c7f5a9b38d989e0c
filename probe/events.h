/* events.h: the probe's state-change events (README "Monitoring"): every
 * change of a node's state, and the start and end of a probe fault, as an
 * entry of the capped Redis stream <prefix>events (keys.h), and the
 * operator's --on-change command run once per event. */
#ifndef WSB_PROBE_EVENTS_H
#define WSB_PROBE_EVENTS_H

#include "keys.h"
#include "node.h"
#include "redis.h"

#include <stddef.h>

#define WSB_EVENTS_MAXLEN 10000      /* default cap of the stream (XADD MAXLEN ~) */
#define WSB_EVENT_REASON_LEN 400     /* bytes kept of a reason, with the NUL */
#define WSB_ON_CHANGE_TIMEOUT_S 10   /* default bound of one --on-change run */

enum wsb_event_kind {
    WSB_EVENT_ONLINE = 0,
    WSB_EVENT_OFFLINE,
    WSB_EVENT_DRAINED,
    WSB_EVENT_UNDRAINED,
    WSB_EVENT_PROBE_FAULT,      /* a round was judged the probe's fault: the first of an episode */
    WSB_EVENT_PROBE_OK          /* a round was counted again after one */
};

/* "online", "offline", "drained", "undrained", "probe_fault", "probe_ok". */
const char *wsb_event_name(enum wsb_event_kind kind);

/* One event.  The reason is allocated to its length (a first round of a
 * large fleet has one event per node: a fixed buffer of the longest
 * reason would be most of the probe's memory). */
struct wsb_event {
    enum wsb_event_kind kind;
    char node[WSB_MAX_ID + 1];           /* "" for the probe events */
    char *reason;                        /* owned by the list, at most WSB_EVENT_REASON_LEN - 1 bytes */
    long long at;                        /* unix seconds */
};

/* A growing list of events; zero-initialised is empty.  Owns v and the
 * reasons; freed by wsb_events_free. */
struct wsb_event_list {
    struct wsb_event *v;
    size_t n, cap;
};

/* What every event of a batch shares, and where it goes.  Borrowed. */
struct wsb_event_stamp {
    const char *probe;                   /* "host:pid" */
    const char *round;                   /* the round id, "" none */
    long maxlen;                         /* the stream's cap (MAXLEN ~) */
};

/* Appends an event (reason formatted, truncated to fit).  Returns WSB_OK,
 * or WSB_ENOMEM with the list unaltered. */
int wsb_events_add(struct wsb_event_list *l, enum wsb_event_kind kind, const char *node, long long at,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Empties the list (frees the reasons, keeps the array). */
void wsb_events_reset(struct wsb_event_list *l);

/* Frees the list's memory; l may be NULL.  The list is empty after. */
void wsb_events_free(struct wsb_event_list *l);

/* Queues XADD <prefix>events MAXLEN ~ maxlen * event ... for the events
 * l->v[from..from+count) (clipped to the list) on c (inside the caller's
 * MULTI); counts them in *queued.  WSB_OK or WSB_ENOMEM (some may be
 * queued: the caller drops the connection). */
int wsb_events_queue(redisContext *c, const struct wsb_keys *k, const struct wsb_event_list *l, size_t from,
                     size_t count, const struct wsb_event_stamp *s, size_t *queued);

/* Appends the events on their own (no transaction: wsb-probe drain).
 * Returns WSB_OK, or WSB_EREDIS with err (the entries before the failing
 * one are in the stream). */
int wsb_events_append(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_event_list *l,
                      const struct wsb_event_stamp *s, char *err);

/* Redis refused an XADD (a user without +xadd): logged as a warning the
 * first time, then quietly until wsb_events_accepted (logged once too). */
void wsb_events_refused(const char *redis_name, const char *why);
void wsb_events_accepted(void);

/* Runs cmd through /bin/sh -c once per event, one after the other, with
 * the event in WSB_EVENT, WSB_NODE, WSB_REASON, WSB_AT, WSB_ROUND and
 * WSB_PROBE, stdin /dev/null, stdout onto stderr, in its own process
 * group.  Each run is bounded by each_s seconds and all of them by
 * total_ms (<= 0: 3 x each_s); a run past its bound is killed (SIGKILL to
 * its group); once the total is spent the events left are skipped
 * (logged).  A failure, a signal or a timeout is logged
 * as a warning; nothing is returned: a command never stops the probe. */
void wsb_events_run(const char *cmd, const struct wsb_event_list *l, const struct wsb_event_stamp *s,
                    long each_s, long long total_ms);

#endif

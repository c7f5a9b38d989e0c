/* metrics.h: what a handler process counts for the Prometheus exposition
 * (answers by status, code and version; GeoIP lookups; state refreshes,
 * full reads and Redis errors), and how the counts of every process on
 * every host meet: each process adds its counts since the last flush to
 * <prefix>metrics:handlers in Redis (keys.h), under its host's name, at
 * its refresh (at most every WSB_METRICS_FLUSH_MS, never per request),
 * and a scrape of any process reads them all back (metrics_expose.h).
 * The answers per node travel with the assignment counts (assign.h).
 *
 * Counting is lock-free and cannot fail.  A flush that Redis does not take
 * keeps its counts for the next one, so none is lost while Redis is away;
 * a flush cut short after Redis ran it (a timeout) is sent again, so a
 * count errs on the high side, never the low. */
#ifndef WSB_METRICS_H
#define WSB_METRICS_H

#include "keys.h"
#include "redis.h"

#include <stdint.h>

#define WSB_METRICS_FLUSH_MS 1000   /* least time between two flushes of a process */
#define WSB_METRICS_HOST_MAX 64     /* bytes of a host label */

/* The counters of a process other than the answers. */
enum wsb_metric_counter {
    WSB_M_GEO_LOCATED,        /* GeoIP lookups that gave a location */
    WSB_M_GEO_UNLOCATED,      /* lookups (or clients) without one: no address, a local one, no record */
    WSB_M_REFRESHES,          /* refreshes of the state: change checks and full reads */
    WSB_M_FULL_READS,         /* of them, full reads of every node */
    WSB_M_REFRESH_FAILURES,   /* of them, those that found no state (the last one serves on) */
    WSB_M_REDIS_ERRORS,       /* refreshes, and flushes of the counts, that failed on Redis */
    WSB_M_COUNT
};

/* The field name of a counter in <prefix>metrics:handlers ("geoip_located"). */
const char *wsb_metric_counter_name(enum wsb_metric_counter c);

/* The version label of an answer whose route named no version (404) or a
 * version no node lists (kept apart so that requests cannot make up
 * label values). */
#define WSB_METRICS_VERSION_NONE 0u
#define WSB_METRICS_VERSION_OTHER 0xffffffffu

struct wsb_metrics;

/* Counters for host (a label of at most WSB_METRICS_HOST_MAX bytes of
 * [A-Za-z0-9._-], as wsb_metrics_host_check says), flushed to the keys k
 * (copied).  retry_ms: the least time between flushes after a failure.
 * NULL on ENOMEM.  Free with wsb_metrics_free (NULL accepted), which
 * writes nothing. */
struct wsb_metrics *wsb_metrics_new(const struct wsb_keys *k, const char *host, long retry_ms);
void wsb_metrics_free(struct wsb_metrics *m);

/* The host label m was made with. */
const char *wsb_metrics_host(const struct wsb_metrics *m);

/* Checks a host label: 1..WSB_METRICS_HOST_MAX bytes of [A-Za-z0-9._-].
 * WSB_OK or WSB_EINVAL with the reason in err. */
int wsb_metrics_host_check(const char *host, char *err);

/* The machine's name as a host label: gethostname() with every byte that
 * a label may not hold turned to '_', cut to WSB_METRICS_HOST_MAX bytes;
 * "localhost" when it has none.  out has WSB_METRICS_HOST_MAX + 1 bytes.
 * Cannot fail. */
void wsb_metrics_default_host(char *out);

/* Counts one answer: HTTP status, balancer or request error code (0 for
 * none) and version (WSB_METRICS_VERSION_NONE or _OTHER, or the one the
 * route named when a node lists it).  NULL m accepted.  Lock-free. */
void wsb_metrics_answer(struct wsb_metrics *m, int status, int code, unsigned version);

/* Adds n to counter c.  NULL m accepted.  Lock-free. */
void wsb_metrics_add(struct wsb_metrics *m, enum wsb_metric_counter c, uint64_t n);

/* Says whether the GeoIP database is open and good (1), broken (0), or
 * not configured (-1), for the gauge.  NULL m accepted. */
void wsb_metrics_set_geoip(struct wsb_metrics *m, int state);

/* Adds the counts since the last flush to Redis over w (the first
 * address that takes writes: the assignment accounting's, assign.h),
 * under this process's host, with the host's flushed_at time (now_ms, unix) and GeoIP state.
 * Nothing is sent within WSB_METRICS_FLUSH_MS of the last flush (unless
 * force), or within retry_ms of a failure.  Call from one thread at a time
 * (the refresher).  Returns WSB_OK (flushed, or not due), or WSB_EREDIS /
 * WSB_ENOMEM with the reason in err: the counts are kept for the next
 * flush; the failure is logged by this function (once a run of them). */
struct wsb_redis_writer;
int wsb_metrics_flush(struct wsb_metrics *m, struct wsb_redis_writer *w, long long now_ms, int force, char *err);

/* One answer counter, as the exposition reads a process's own (tests,
 * --check): the count for (status, code, version) not yet flushed plus
 * the flushed.  0 when never counted. */
uint64_t wsb_metrics_answers(struct wsb_metrics *m, int status, int code, unsigned version);

#endif

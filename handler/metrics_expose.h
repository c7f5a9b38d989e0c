/* metrics_expose.h: the answer to a /metrics scrape, in the Prometheus
 * text format (version 0.0.4): the counters of every handler process on
 * every host and of the probe, read from Redis (metrics.h, keys.h), and
 * the scraped process's own view of the state and of every node. */
#ifndef WSB_METRICS_EXPOSE_H
#define WSB_METRICS_EXPOSE_H

#include "redis_url.h"
#include "textbuf.h"

#define WSB_METRICS_MAX_NODES 10000   /* nodes given per-node series; past it, a count of those left out */
#define WSB_METRICS_HOST_STALE_S 86400 /* a host that has not flushed for this long is left out */
#define WSB_METRICS_MAX_FIELDS 200000 /* fields of a counters' hash looked at by one scrape */
#define WSB_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct wsb_handler;

/* What a scrape reads Redis with: a connection of its own (the request
 * threads share it, one scrape at a time), over cfg (copied).  NULL on
 * ENOMEM.  Free with wsb_metrics_reader_free (NULL accepted). */
struct wsb_metrics_reader;
struct wsb_metrics_reader *wsb_metrics_reader_new(const struct wsb_redis_config *cfg);
void wsb_metrics_reader_free(struct wsb_metrics_reader *r);

/* Writes the exposition of h into out (appended).  One pipelined read of
 * Redis, bounded by the Redis timeouts; when it fails, the families read
 * from Redis are left out and wsb_metrics_redis_up says 0 (the failure is
 * logged once a run).  Returns WSB_OK, or WSB_ENOMEM (out incomplete). */
int wsb_metrics_expose(struct wsb_handler *h, struct wsb_textbuf *out);

#endif

/* metrics_view.h: the part of a /metrics answer that the scraped process
 * tells from its own state (metrics_expose.h): whether this scrape read
 * Redis, how old its snapshot and round are, its nodes by state, and per
 * node what its snapshot says (online, eligible, load, room, ...). */
#ifndef WSB_METRICS_VIEW_H
#define WSB_METRICS_VIEW_H

#include "snapshot.h"
#include "textbuf.h"

/* The process's families, labelled host: redis_up (this scrape read
 * Redis), age_ms the snapshot's age (-1: none), s the snapshot (NULL:
 * none: its families stay empty).  Appends; cannot fail otherwise. */
void wsb_metrics_view_process(struct wsb_textbuf *b, const char *host, long long age_ms, const struct wsb_snapshot *s,
                              int redis_up);

/* The per-node families of s (NULL: empty), for at most
 * WSB_METRICS_MAX_NODES nodes, and how many were left out.  Appends;
 * cannot fail otherwise. */
void wsb_metrics_view_nodes(struct wsb_textbuf *b, const struct wsb_snapshot *s);

#endif

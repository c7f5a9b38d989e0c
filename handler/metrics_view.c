/* metrics_view.c: the scraped process's own view in a /metrics answer
 * (metrics_view.h). */
#include "metrics_view.h"
#include "clock.h"
#include "metrics_expose.h"
#include "prom_text.h"
#include "select.h"

#include <stdio.h>

/* A sample with no label but host. */
static void host_sample(struct wsb_textbuf *b, const char *name, const char *host, double v)
{
    wsb_prom_sample_start(b, name, 1);
    wsb_prom_label(b, 1, "host", host);
    wsb_prom_sample_end(b, 1, v);
}

void wsb_metrics_view_process(struct wsb_textbuf *b, const char *host, long long age_ms, const struct wsb_snapshot *s,
                              int redis_up)
{
    wsb_prom_family(b, "wsb_metrics_redis_up", "gauge",
                    "1 when this scrape read the counters from Redis; 0 when it could not (the Redis families are then "
                    "missing).");
    host_sample(b, "wsb_metrics_redis_up", host, redis_up);
    wsb_prom_family(b, "wsb_state_live", "gauge",
                    "1 when the scraped process holds a live state (the probe's round key is there), 0 when it "
                    "expired; "
                    "missing without a snapshot.");
    if (s != NULL)
        host_sample(b, "wsb_state_live", host, s->live);
    wsb_prom_family(b, "wsb_snapshot_age_seconds", "gauge",
                    "How long ago the scraped process last read the state (a full read or a check that nothing "
                    "changed).");
    if (age_ms >= 0)
        host_sample(b, "wsb_snapshot_age_seconds", host, (double)age_ms / 1000.0);
    wsb_prom_family(b, "wsb_round_age_seconds", "gauge",
                    "How old the probe round is that the scraped process answers from.");
    if (s != NULL && s->round_at > 0)
        host_sample(b, "wsb_round_age_seconds", host, (double)(wsb_unix_ms() / 1000 - s->round_at));
    wsb_prom_family(b, "wsb_nodes", "gauge", "Nodes in the scraped process's snapshot, by state.");
    if (s != NULL) {
        const char *names[] = { "all", "online", "eligible", "draining", "overloaded" };
        size_t counts[] = { s->n_nodes, s->n_online, s->n_eligible, s->n_draining, s->n_overloaded };
        for (int i = 0; i < 5; i++) {
            wsb_prom_sample_start(b, "wsb_nodes", 1);
            wsb_prom_label(b, 1, "host", host);
            wsb_prom_label(b, 0, "state", names[i]);
            wsb_prom_sample_end(b, 1, (double)counts[i]);
        }
    }
}

/* One per-node family from the snapshot: value(i) < -0.5 leaves node i out. */
typedef double (*node_value_fn)(const struct wsb_snapshot *s, size_t i);

static double v_online(const struct wsb_snapshot *s, size_t i) { return s->nodes[i].online; }
static double v_eligible(const struct wsb_snapshot *s, size_t i) { return s->nodes[i].eligible; }
static double v_draining(const struct wsb_snapshot *s, size_t i)
{
    int f = s->nodes[i].filter;
    return f == WSB_FILTER_DRAINED || f == WSB_FILTER_DRAINED_RUN_TIME || s->nodes[i].node.drain;
}
static double v_load(const struct wsb_snapshot *s, size_t i)
{
    return s->nodes[i].node.load_known ? s->nodes[i].node.load : -1;
}
static double v_connections(const struct wsb_snapshot *s, size_t i)
{
    return s->nodes[i].node.connections >= 0 ? (double)s->nodes[i].node.connections : -1;
}
static double v_capacity(const struct wsb_snapshot *s, size_t i) { return s->nodes[i].capacity; }
static double v_assigned(const struct wsb_snapshot *s, size_t i)
{
    return (double)__atomic_load_n(&s->tally[i].fleet, __ATOMIC_RELAXED) +
           (double)__atomic_load_n(&s->tally[i].unflushed, __ATOMIC_RELAXED);
}
static double v_checked(const struct wsb_snapshot *s, size_t i)
{
    return s->nodes[i].node.checked_at > 0 ? (double)s->nodes[i].node.checked_at : -1;
}

static void node_family(struct wsb_textbuf *b, const struct wsb_snapshot *s, size_t n, const char *name,
                        const char *help, node_value_fn value)
{
    wsb_prom_family(b, name, "gauge", help);
    for (size_t i = 0; s != NULL && i < n; i++) {
        double v = value(s, i);
        if (v < -0.5)
            continue;
        wsb_prom_sample_start(b, name, 1);
        wsb_prom_label(b, 1, "node", s->nodes[i].node.id);
        wsb_prom_sample_end(b, 1, v);
    }
}

void wsb_metrics_view_nodes(struct wsb_textbuf *b, const struct wsb_snapshot *s)
{
    size_t n = s != NULL ? s->n_nodes : 0;
    if (n > WSB_METRICS_MAX_NODES)
        n = WSB_METRICS_MAX_NODES;
    node_family(b, s, n, "wsb_node_online", "1 when the node is online (its record, and the state live).", v_online);
    node_family(b, s, n, "wsb_node_eligible", "1 when the node may take new clients (wsb-handler --explain says why "
                "not).", v_eligible);
    node_family(b, s, n, "wsb_node_draining", "1 when the node is drained (inventory or run time).", v_draining);
    node_family(b, s, n, "wsb_node_load", "The node's load at its check (1 = at capacity); missing when it reports "
                "none.", v_load);
    node_family(b, s, n, "wsb_node_connections", "The node's connections at its check; missing when unknown.",
                v_connections);
    node_family(b, s, n, "wsb_node_capacity", "The node's capacity in connections, as selection counts it (known, "
                "or assumed).", v_capacity);
    node_family(b, s, n, "wsb_node_assigned", "Clients every handler sent to the node since its check, as the "
                "scraped process last read them.", v_assigned);
    node_family(b, s, n, "wsb_node_last_check_timestamp_seconds", "When the node was last checked (unix seconds).",
                v_checked);
    wsb_prom_family(b, "wsb_node_info", "gauge",
                    "Always 1: the node's endpoint, location, last check outcome and why it is not eligible (filter, "
                    "\"none\" when it is).");
    for (size_t i = 0; i < n; i++) {
        const struct wsb_snap_node *sn = &s->nodes[i];
        wsb_prom_sample_start(b, "wsb_node_info", 1);
        wsb_prom_label(b, 1, "node", sn->node.id);
        wsb_prom_label(b, 0, "endpoint", sn->node.endpoint != NULL ? sn->node.endpoint : "");
        wsb_prom_label(b, 0, "location", sn->node.location != NULL ? sn->node.location : "");
        wsb_prom_label(b, 0, "last_outcome", sn->node.last_error[0] ? sn->node.last_error : "unknown");
        wsb_prom_label(b, 0, "filter", sn->eligible ? "none" : wsb_select_filter_name(sn->filter));
        wsb_prom_sample_end(b, 1, 1);
    }
    wsb_prom_family(b, "wsb_metrics_nodes_omitted", "gauge",
                    "Nodes left out of the per-node series (more than " "10000" " in the snapshot).");
    wsb_textbuf_printf(b, "wsb_metrics_nodes_omitted %zu\n", s != NULL ? s->n_nodes - n : (size_t)0);
}


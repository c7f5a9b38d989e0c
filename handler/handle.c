/* handle.c: one request, from its parameters to its answer: route,
 * method, CORS, the client's location, and the selection. */
#include "handler.h"
#include "affinity.h"
#include "assign.h"
#include "client_addr.h"
#include "log.h"
#include "metrics_expose.h"
#include "query.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

void wsb_worker_init(struct wsb_worker *w)
{
    memset(w, 0, sizeof *w);
    if (getrandom(&w->rng, sizeof w->rng, GRND_NONBLOCK) != (ssize_t)sizeof w->rng)
        w->rng = (uint64_t)wsb_now_ms() ^ ((uint64_t)getpid() << 32);
    if (w->rng == 0)
        w->rng = 0x9e3779b97f4a7c15ull;
}

void wsb_worker_free(struct wsb_worker *w)
{
    if (w == NULL)
        return;
    wsb_select_scratch_free(&w->scratch);
    free(w->query);
    w->query = NULL;
}

static uint64_t next_random(struct wsb_worker *w)
{
    /* xorshift64* */
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Reopens the GeoIP database when its file changed (at most every
 * WSB_GEOIP_CHECK_MS), and logs what came of it. */
static void check_geo(struct wsb_handler *h, long long now)
{
    if (h->geo == NULL || !wsb_geo_maybe_reload(h->geo, now))
        return;
    char why[WSB_ERRLEN];
    int good = wsb_geo_status(h->geo, why) == WSB_OK;
    if (good)
        wsb_log_info("geoip: %s (re)opened", h->cfg.geoip_path);
    else
        wsb_log_error("geoip: %s; serving without geography until the file is fixed", why);
    wsb_metrics_set_geoip(h->metrics, good);
}

/* Where the client is, as far as the address and GeoIP tell; all zero
 * (no location) when they do not. */
static void locate(struct wsb_handler *h, wsb_param_fn get, void *ctx, long long now, struct wsb_client_loc *loc)
{
    memset(loc, 0, sizeof *loc);
    if (h->geo == NULL)
        return;
    check_geo(h, now);
    struct wsb_ip ip;
    int located = wsb_client_addr(get("REMOTE_ADDR", ctx), get("HTTP_X_FORWARDED_FOR", ctx), &h->cfg.trusted, &ip) &&
                  wsb_geo_lookup(h->geo, &ip, loc);
    wsb_metrics_add(h->metrics, located ? WSB_M_GEO_LOCATED : WSB_M_GEO_UNLOCATED, 1);
}

/* Retry-After of a 503: drawn uniformly from [base/2, 3 base/2] (whole
 * seconds, rounded inwards), so that clients turned away together do not
 * come back together; on average base. */
static int jittered_retry_after(long base, uint64_t rnd)
{
    long lo = (base + 1) / 2, hi = base + base / 2;
    return (int)(lo + (long)((rnd >> 33) % (uint64_t)(hi - lo + 1)));
}

static void answer_error(struct wsb_answer *a, int http, int code)
{
    a->status = http;
    a->body = wsb_error_body(code, &a->body_len);
}

/* The version label of an answer (metrics.h): the route's version when a
 * node of the snapshot lists it, so that requests cannot make up labels. */
static unsigned version_label(const struct wsb_snapshot *snap, unsigned version)
{
    if (version == 0)
        return WSB_METRICS_VERSION_NONE;
    return snap != NULL && wsb_snapshot_version(snap, version) != NULL ? version : WSB_METRICS_VERSION_OTHER;
}

/* GET /.../metrics: the Prometheus exposition for the addresses of
 * WSB_METRICS_ALLOW (resolved as for GeoIP: a forwarded address only
 * through trusted proxies), 404 for every other. */
static void answer_metrics(struct wsb_handler *h, wsb_param_fn get, void *ctx, struct wsb_answer *a)
{
    struct wsb_ip ip;
    if (!wsb_client_addr(get("REMOTE_ADDR", ctx), get("HTTP_X_FORWARDED_FOR", ctx), &h->cfg.trusted, &ip) ||
        !wsb_cidr_list_contains(&h->cfg.metrics_allow, &ip)) {
        answer_error(a, 404, 404);
        return;
    }
    struct wsb_textbuf text = WSB_TEXTBUF_INIT;
    if (wsb_metrics_expose(h, &text) != WSB_OK || text.p == NULL) {
        wsb_textbuf_free(&text);
        wsb_log_error("metrics: out of memory building the exposition");
        answer_error(a, 500, 500);
        return;
    }
    a->status = 200;
    a->body_owned = text.p;   /* the response's now */
    a->body_len = text.len;
    a->content_type = WSB_METRICS_CONTENT_TYPE;
}

/* Selection for a request whose query string qs (len bytes) may carry
 * exclude and affinity (query.h): each excluded node's tally counts it
 * (unless w is uncounted); without either, plain wsb_select. */
static int select_with_query(struct wsb_handler *h, struct wsb_worker *w, const struct wsb_snapshot *snap,
                             unsigned version, const struct wsb_client_loc *loc, const char *qs, size_t len,
                             long long now_ms, const struct wsb_snap_node **node)
{
    /* The parsed values, in the worker's own buffer (8 KiB: not on a pool
     * thread's stack), made at its first request with a query. */
    if (w->query == NULL && (w->query = malloc(sizeof *w->query)) == NULL)
        return wsb_select(snap, version, loc, next_random(w), now_ms, &w->scratch, node);
    struct wsb_query *q = w->query;
    wsb_query_parse(qs, len, q);
    if (q->ignored > 0)
        wsb_log_debug("request: %u query value(s) ignored (bad escape, empty, too long or too many)", q->ignored);
    uint32_t ex[2 * WSB_QUERY_MAX_EXCLUDE];
    struct wsb_select_request rq = { .version = version, .client = loc, .exclude = ex,
                                     .balance = h->cfg.affinity_balance };
    rq.n_exclude = wsb_select_match_exclude(snap, version, q->exclude, q->exclude_len, q->n_exclude, ex,
                                            sizeof ex / sizeof ex[0]);
    for (size_t i = 0; i < rq.n_exclude && !w->uncounted; i++)
        __atomic_add_fetch(&snap->tally[ex[i]].excluded, 1, __ATOMIC_RELAXED);
    if (q->affinity != NULL) {
        rq.has_affinity = 1;
        rq.affinity_hash = wsb_affinity_hash(q->affinity, q->affinity_len);
    }
    if (rq.n_exclude == 0 && !rq.has_affinity)
        return wsb_select(snap, version, loc, next_random(w), now_ms, &w->scratch, node);
    return wsb_select_for(snap, &rq, next_random(w), now_ms, &w->scratch, node);
}

/* The answer to a GET or HEAD of the route: the selected node's body, or
 * 503 with the selection's code.  Returns the snapshot it answered from
 * (the body points into it), to release once the response is built. */
static struct wsb_snapshot *select_answer(struct wsb_handler *h, struct wsb_worker *w, wsb_param_fn get, void *ctx,
                                          unsigned version, struct wsb_answer *a)
{
    long long now = wsb_now_ms();
    struct wsb_snapshot *snap = wsb_state_cache_get(h->cache, now);
    struct wsb_client_loc loc;
    locate(h, get, ctx, now, &loc);
    const struct wsb_snap_node *node = NULL;
    int code = WSB_NO_SERVERS_AVAILABLE;
    size_t qlen;
    const char *qs = wsb_query_string(get, ctx, &qlen);
    if (snap != NULL && wsb_select_scratch_reserve(&w->scratch, snap->max_eligible) == WSB_OK)
        code = qs == NULL ? wsb_select(snap, version, &loc, next_random(w), wsb_unix_ms(), &w->scratch, &node)
                          : select_with_query(h, w, snap, version, &loc, qs, qlen, wsb_unix_ms(), &node);
    if (code == WSB_SELECT_OK) {
        if (!w->uncounted)
            wsb_assign_note(snap, node);
        a->status = 200;
        a->body = node->body;
        a->body_len = node->body_len;
    } else {
        answer_error(a, 503, code);
        a->retry_after = jittered_retry_after(h->cfg.retry_after, next_random(w));
    }
    if (!w->uncounted)
        wsb_metrics_answer(h->metrics, a->status, code == WSB_SELECT_OK ? 0 : code, version_label(snap, version));
    return snap;
}

void wsb_handle(struct wsb_handler *h, struct wsb_worker *w, wsb_param_fn get, void *ctx,
                struct wsb_response *out)
{
    struct wsb_answer a;
    memset(&a, 0, sizeof a);
    a.retry_after = (int)h->cfg.retry_after;
    enum wsb_method method = wsb_method_parse(get("REQUEST_METHOD", ctx));
    a.head = method == WSB_HEAD;
    a.allow_origin = wsb_cors_allow(&h->cfg.cors, get("HTTP_ORIGIN", ctx));
    unsigned version = 0;
    struct wsb_snapshot *snap = NULL;
    int counted = 0;   /* a selection's answer: select_answer counted it */

    if (!wsb_route_from_params(get, ctx, &version)) {
        if (wsb_route_is_metrics(get, ctx) && (method == WSB_GET || method == WSB_HEAD)) {
            a.allow_origin = NULL;   /* not for browsers */
            answer_metrics(h, get, ctx, &a);
            counted = 1;             /* scrapes are not client answers */
        } else {
            answer_error(&a, 404, 404);
        }
    } else if (method == WSB_OTHER) {
        answer_error(&a, 405, 405);
    } else if (method == WSB_OPTIONS) {
        a.status = 204;
        a.preflight = 1;
    } else {
        snap = select_answer(h, w, get, ctx, version, &a);
        counted = 1;
    }
    if (!counted && !w->uncounted)
        wsb_metrics_answer(h->metrics, a.status, a.status == 204 ? 0 : a.status, WSB_METRICS_VERSION_NONE);
    if (wsb_response_build(&a, out) != WSB_OK) {
        struct wsb_answer e;
        memset(&e, 0, sizeof e);
        answer_error(&e, 500, 500);
        wsb_response_build(&e, out);
    }
    wsb_snapshot_unref(snap);
}

/* The parameters of the request that primes the state. */
static const char *prime_param(const char *name, void *ctx)
{
    (void)ctx;
    if (strcmp(name, "REQUEST_METHOD") == 0)
        return "GET";
    if (strcmp(name, "REQUEST_URI") == 0)
        return "/v1/websocket/server";
    return NULL;
}

void wsb_handler_prime(struct wsb_handler *h)
{
    struct wsb_worker w;
    struct wsb_response *r = malloc(sizeof *r);
    wsb_worker_init(&w);
    w.uncounted = 1;
    if (r != NULL) {
        wsb_handle(h, &w, prime_param, NULL, r);
        wsb_response_release(r);
    }
    free(r);
    wsb_worker_free(&w);
}

/* bench_decide.c: runs the handler's decision path (route, client address,
 * GeoIP, selection, response bytes; no FastCGI I/O) N times over a list of
 * client addresses, for callgrind to count instructions per request.
 *
 *   WSB_REDIS_URL=... WSB_GEOIP_DB=... WSB_TRUSTED_PROXIES=127.0.0.1 \
 *     bench_decide ADDRESS_FILE N
 *
 * The state is read once from Redis (warm-up); decide_batch() is the
 * function to give to callgrind's --toggle-collect.  It also prints the
 * mean number of candidates near the batch's clients (steps 1 to 4 of the
 * selection: what a decision's cost should grow with, not the fleet). */
#include "clock.h"
#include "geo.h"
#include "handler.h"
#include "log.h"
#include "http.h"
#include "netaddr.h"
#include "select.h"
#include "snapshot.h"
#include "state_cache.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fake_req {
    const char *xff;
};

static const char *param(const char *name, void *ctx)
{
    const struct fake_req *r = ctx;
    if (strcmp(name, "REQUEST_METHOD") == 0)
        return "GET";
    if (strcmp(name, "REQUEST_URI") == 0)
        return "/v1/websocket/server";
    if (strcmp(name, "SCRIPT_NAME") == 0)
        return "/v1/websocket/server";
    if (strcmp(name, "REMOTE_ADDR") == 0)
        return "127.0.0.1";
    if (strcmp(name, "HTTP_X_FORWARDED_FOR") == 0)
        return r->xff;
    return NULL;
}

/* Kept out of line so that callgrind can collect exactly this. */
/* The first request: reads the whole state from Redis and builds the
 * snapshot (callgrind --toggle-collect=full_read counts it alone). */
__attribute__((noinline)) void full_read(struct wsb_handler *h, struct wsb_worker *w, void *req,
                                         struct wsb_response *out);
__attribute__((noinline)) void full_read(struct wsb_handler *h, struct wsb_worker *w, void *req,
                                         struct wsb_response *out)
{
    wsb_handle(h, w, param, req, out);
}

__attribute__((noinline)) size_t decide_batch(struct wsb_handler *h, struct wsb_worker *w, char **addrs,
                                              size_t n_addrs, long n, struct wsb_response *out);

__attribute__((noinline)) size_t decide_batch(struct wsb_handler *h, struct wsb_worker *w, char **addrs,
                                              size_t n_addrs, long n, struct wsb_response *out)
{
    size_t bytes = 0;
    for (long i = 0; i < n; i++) {
        struct fake_req r = { addrs[(size_t)i % n_addrs] };
        wsb_handle(h, w, param, &r, out);
        bytes += out->len;
    }
    return bytes;
}

/* The mean number of candidates for v1 over the clients of addrs (an
 * unlocated client counts every node with room), or -1 without a
 * snapshot. */
static double mean_candidates(struct wsb_handler *h, char **addrs, size_t n_addrs)
{
    struct wsb_snapshot *s = wsb_state_cache_get(h->cache, wsb_now_ms());
    if (s == NULL)
        return -1;
    struct wsb_select_scratch sc = { 0, NULL, NULL };
    double sum = 0;
    size_t counted = 0;
    if (wsb_select_scratch_reserve(&sc, s->max_eligible ? s->max_eligible : 1) == WSB_OK) {
        for (size_t i = 0; i < n_addrs; i++) {
            struct wsb_ip ip;
            struct wsb_client_loc loc;
            if (wsb_ip_parse(addrs[i], strlen(addrs[i]), &ip) != WSB_OK)
                continue;
            int found = h->geo != NULL && wsb_geo_lookup(h->geo, &ip, &loc);
            size_t k = 0;
            wsb_select_candidates(s, 1, found ? &loc : NULL, &sc, &k, NULL);
            sum += (double)k;
            counted++;
        }
    }
    wsb_select_scratch_free(&sc);
    wsb_snapshot_unref(s);
    return counted ? sum / (double)counted : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_decide ADDRESS_FILE N\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) {
        perror(argv[1]);
        return 2;
    }
    size_t n_addrs = 0, cap = 1024;
    char **addrs = malloc(cap * sizeof *addrs), line[128];
    while (addrs != NULL && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        if (n_addrs == cap)
            addrs = realloc(addrs, (cap *= 2) * sizeof *addrs);
        if (addrs != NULL)
            addrs[n_addrs++] = strdup(line);
    }
    fclose(f);
    if (addrs == NULL || n_addrs == 0) {
        fprintf(stderr, "bench_decide: no addresses\n");
        return 2;
    }
    wsb_log_init("bench_decide", WSB_LOG_WARN);
    char err[WSB_ERRLEN];
    struct wsb_handler_config cfg;
    if (wsb_error_bodies_init() != WSB_OK || wsb_handler_config_from_env(&cfg, err) != WSB_OK) {
        fprintf(stderr, "bench_decide: %s\n", err);
        return 2;
    }
    /* Decisions only: the snapshot read at the warm-up stays fresh for the
     * whole batch.  (Under callgrind a 100,000-node read outlasts
     * WSB_CACHE_MS's 60 s bound, and the batch's first request would then
     * refresh: work a process does once per WSB_CACHE_MS, not per request.) */
    cfg.cache_ms = 24L * 3600 * 1000;
    cfg.full_read_ms = 24L * 3600 * 1000;
    struct wsb_handler *h = wsb_handler_new(&cfg);
    struct wsb_worker w;
    wsb_worker_init(&w);
    struct wsb_response *out = malloc(sizeof *out);
    long n = atol(argv[2]);
    /* Warm-up outside decide_batch: loads the snapshot from Redis. */
    struct fake_req first = { addrs[0] };
    long long t0 = wsb_now_us();
    full_read(h, &w, &first, out);
    long long read_us = wsb_now_us() - t0;
    size_t warm = out->len;
    if (strncmp(out->buf, "Status: 200", 11) != 0) {
        fprintf(stderr, "bench_decide: warm-up answer is not 200: %.*s\n", (int)(out->len > 200 ? 200 : out->len),
                out->buf);
        return 1;
    }
    size_t bytes = decide_batch(h, &w, addrs, n_addrs, n, out);
    printf("requests=%ld bytes=%zu warm=%zu full_read_us=%lld candidates=%.1f\n", n, bytes, warm, read_us,
           mean_candidates(h, addrs, n_addrs));
    free(out);
    wsb_worker_free(&w);
    wsb_handler_free(h);
    for (size_t i = 0; i < n_addrs; i++)
        free(addrs[i]);
    free(addrs);
    return 0;
}

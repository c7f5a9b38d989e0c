/* metrics_expose.c: the /metrics answer (metrics_expose.h): Redis's
 * counters of every process and of the probe, then this process's view of
 * the state and of each node, as Prometheus text. */
#include "metrics_expose.h"
#include "clock.h"
#include "handler.h"
#include "log.h"
#include "node.h"
#include "metrics_view.h"
#include "prom_text.h"
#include "redis.h"
#include "select.h"
#include "status.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wsb_metrics_reader {
    pthread_mutex_t lock;          /* one scrape at a time on the connection */
    struct wsb_redis *redis;
    int failing;                   /* the failure was logged */
    long long retry_at_ms;         /* monotonic: no read before it after a failure */
};

struct wsb_metrics_reader *wsb_metrics_reader_new(const struct wsb_redis_config *cfg)
{
    struct wsb_metrics_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    if ((r->redis = wsb_redis_new(cfg)) == NULL) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void wsb_metrics_reader_free(struct wsb_metrics_reader *r)
{
    if (r == NULL)
        return;
    wsb_redis_free(r->redis);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* The replies of one scrape's read, in this order. */
enum { R_HANDLERS, R_NODES, R_PROBE, R_ROUND, R_COUNT };

/* Reads the counters and the round summary in one round trip.  WSB_OK with
 * rep[] filled (the caller frees them), or WSB_EREDIS with err. */
static int read_redis(struct wsb_metrics_reader *r, const struct wsb_keys *k, redisReply **rep, char *err)
{
    redisContext *c = wsb_redis_get(r->redis, err);
    if (c == NULL)
        return WSB_EREDIS;
    if (redisAppendCommand(c, "HGETALL %s", k->metrics_handlers) != REDIS_OK ||
        redisAppendCommand(c, "HGETALL %s", k->metrics_nodes) != REDIS_OK ||
        redisAppendCommand(c, "HGETALL %s", k->metrics_probe) != REDIS_OK ||
        redisAppendCommand(c, "HMGET %s at duration_ms nodes up down draining fault", k->round) != REDIS_OK) {
        wsb_redis_drop(r->redis);
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
    }
    int status = wsb_redis_get_replies(r->redis, c, rep, R_COUNT, NULL, err);
    for (int i = 0; status == WSB_OK && i < R_COUNT; i++)
        if (rep[i]->type == REDIS_REPLY_ERROR)
            status = wsb_fail(err, WSB_EREDIS, "redis %s: %.160s", wsb_redis_current(r->redis), rep[i]->str);
    return status;
}

/* ---- values as Redis holds them (anything may have been edited in) ---- */

static int is_string(const redisReply *r)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* A count: 1..19 decimal digits.  1 and *out, or 0. */
static int count_of(const redisReply *r, double *out)
{
    if (!is_string(r) || r->len == 0 || r->len > 19)
        return 0;
    double v = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9')
            return 0;
        v = v * 10 + (r->str[i] - '0');
    }
    *out = v;
    return 1;
}

/* A finite number (strtod's syntax, nothing after it).  1 and *out, or 0. */
static int number_of(const redisReply *r, double *out)
{
    if (!is_string(r) || r->len == 0 || r->len > 40)
        return 0;
    char buf[48], *end;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    double v = strtod(buf, &end);
    if (*end != '\0' || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* A small decimal with no leading zero ("0", "200"), as the handler
 * writes a status or a code: so that no two fields give one series. */
static int small_of(const char *s, size_t len, int *out)
{
    if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
        return 0;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* ---- <prefix>metrics:handlers ---- */

enum field_kind { F_COUNTER, F_ANSWERS, F_FLUSHED_AT, F_GEOIP };

/* One field of the handlers' hash, parsed. */
struct hfield {
    char host[WSB_METRICS_HOST_MAX + 1];
    enum field_kind kind;
    int counter;                   /* F_COUNTER: enum wsb_metric_counter */
    int status, code;              /* F_ANSWERS */
    char version[12];              /* F_ANSWERS: "none", "other", "v<N>" */
    double value;
};

/* Parses "<host>|<name>[|...]" with its value.  1 when it is a field the
 * handler writes, else 0 (skipped: left by hand, or by another version). */
static int parse_hfield(const redisReply *f, const redisReply *v, struct hfield *out)
{
    if (!is_string(f) || f->len > 200)
        return 0;
    char buf[208];
    memcpy(buf, f->str, f->len);
    buf[f->len] = '\0';
    char *parts[6];
    int n = 0;
    for (char *p = buf, *bar; n < 6; p = bar + 1) {
        parts[n++] = p;
        if ((bar = strchr(p, '|')) == NULL)
            break;
        *bar = '\0';
    }
    char why[WSB_ERRLEN];
    if (n < 2 || wsb_metrics_host_check(parts[0], why) != WSB_OK)
        return 0;
    memset(out, 0, sizeof *out);
    snprintf(out->host, sizeof out->host, "%s", parts[0]);
    const char *name = parts[1];
    if (n == 2 && strcmp(name, "flushed_at") == 0) {
        out->kind = F_FLUSHED_AT;
        return number_of(v, &out->value);
    }
    if (n == 2 && strcmp(name, "geoip_up") == 0) {
        out->kind = F_GEOIP;
        return number_of(v, &out->value);
    }
    if (n == 2) {
        for (int i = 0; i < WSB_M_COUNT; i++)
            if (strcmp(name, wsb_metric_counter_name((enum wsb_metric_counter)i)) == 0) {
                out->kind = F_COUNTER;
                out->counter = i;
                return count_of(v, &out->value);
            }
        return 0;
    }
    if (n != 5 || strcmp(name, "answers") != 0 || !small_of(parts[2], strlen(parts[2]), &out->status) ||
        !small_of(parts[3], strlen(parts[3]), &out->code))
        return 0;
    unsigned ver;
    if (strcmp(parts[4], "none") != 0 && strcmp(parts[4], "other") != 0 &&
        (parts[4][0] != 'v' || wsb_version_parse(parts[4], strlen(parts[4]), &ver) != WSB_OK))
        return 0;
    snprintf(out->version, sizeof out->version, "%s", parts[4]);
    out->kind = F_ANSWERS;
    return count_of(v, &out->value);
}

static int by_host(const void *a, const void *b)
{
    return strcmp(((const struct hfield *)a)->host, ((const struct hfield *)b)->host);
}

/* The handlers' fields of live hosts (flushed within
 * WSB_METRICS_HOST_STALE_S of now_s), grouped by host: *out (malloc'ed)
 * and *n.  At most WSB_METRICS_MAX_FIELDS fields are looked at.  WSB_OK or
 * WSB_ENOMEM. */
static int handler_fields(const redisReply *h, double now_s, struct hfield **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (h == NULL || h->type != REDIS_REPLY_ARRAY || h->elements < 2)
        return WSB_OK;
    size_t pairs = h->elements / 2;
    if (pairs > WSB_METRICS_MAX_FIELDS)
        pairs = WSB_METRICS_MAX_FIELDS;
    struct hfield *v = malloc(pairs * sizeof *v);
    if (v == NULL)
        return WSB_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < pairs; i++)
        if (parse_hfield(h->element[2 * i], h->element[2 * i + 1], &v[k]))
            k++;
    /* Hosts gone for good fall out (their fields stay in Redis): a host
     * is kept when its flushed_at is recent. */
    qsort(v, k, sizeof *v, by_host);
    size_t live = 0;
    for (size_t i = 0, j; i < k; i = j) {
        int fresh = 0;
        for (j = i; j < k && strcmp(v[j].host, v[i].host) == 0; j++)
            fresh |= v[j].kind == F_FLUSHED_AT && now_s - v[j].value < WSB_METRICS_HOST_STALE_S;
        for (size_t m = i; fresh && m < j; m++)
            v[live++] = v[m];
    }
    *out = v;
    *n = live;
    return WSB_OK;
}

/* Every parsed field of kind (and counter, for F_COUNTER) as one family. */
static void emit_hfields(struct wsb_textbuf *b, const struct hfield *v, size_t n, enum field_kind kind, int counter,
                         const char *name, const char *type, const char *help)
{
    wsb_prom_family(b, name, type, help);
    for (size_t i = 0; i < n; i++) {
        if (v[i].kind != kind || (kind == F_COUNTER && v[i].counter != counter))
            continue;
        if (kind == F_GEOIP && v[i].value < 0)
            continue;   /* no GeoIP database configured on that host */
        wsb_prom_sample_start(b, name, 1);
        wsb_prom_label(b, 1, "host", v[i].host);
        if (kind == F_ANSWERS) {
            char st[8], code[8];
            snprintf(st, sizeof st, "%d", v[i].status);
            snprintf(code, sizeof code, "%d", v[i].code);
            wsb_prom_label(b, 0, "status", st);
            wsb_prom_label(b, 0, "code", code);
            wsb_prom_label(b, 0, "version", v[i].version);
        }
        wsb_prom_sample_end(b, 1, v[i].value);
    }
}

static void expose_handlers(struct wsb_textbuf *b, const struct hfield *v, size_t n)
{
    emit_hfields(b, v, n, F_ANSWERS, 0, "wsb_answers_total", "counter",
                 "Answers of every handler process of the host, by HTTP status, error code (0: none) and API "
                 "version (none: no version route; other: a version no node lists).");
    /* Lookups by result: two counters of one family. */
    wsb_prom_family(b, "wsb_geoip_lookups_total", "counter",
                    "Clients the handler processes of the host looked up, by result (unlocated: no address, a local "
                    "one, or "
                    "no record).");
    for (size_t i = 0; i < n; i++)
        if (v[i].kind == F_COUNTER && (v[i].counter == WSB_M_GEO_LOCATED || v[i].counter == WSB_M_GEO_UNLOCATED)) {
            wsb_prom_sample_start(b, "wsb_geoip_lookups_total", 1);
            wsb_prom_label(b, 1, "host", v[i].host);
            wsb_prom_label(b, 0, "result", v[i].counter == WSB_M_GEO_LOCATED ? "located" : "unlocated");
            wsb_prom_sample_end(b, 1, v[i].value);
        }
    emit_hfields(b, v, n, F_COUNTER, WSB_M_REFRESHES, "wsb_state_refreshes_total", "counter",
                 "Refreshes of the state (a change check or a full read) by the handler processes of the host.");
    emit_hfields(b, v, n, F_COUNTER, WSB_M_FULL_READS, "wsb_state_full_reads_total", "counter",
                 "Full reads of every node record by the handler processes of the host.");
    emit_hfields(b, v, n, F_COUNTER, WSB_M_REFRESH_FAILURES, "wsb_state_refresh_failures_total", "counter",
                 "Refreshes that found no state (the last snapshot served on) on the host.");
    emit_hfields(b, v, n, F_COUNTER, WSB_M_REDIS_ERRORS, "wsb_redis_errors_total", "counter",
                 "Refreshes and flushes of the counts that failed on Redis, on the host.");
    emit_hfields(b, v, n, F_GEOIP, 0, "wsb_geoip_database_up", "gauge",
                 "1 when the host's GeoIP database is open and good, 0 when it is broken (hosts without one are "
                 "left out).");
    emit_hfields(b, v, n, F_FLUSHED_AT, 0, "wsb_handler_last_flush_timestamp_seconds", "gauge",
                 "When a handler process of the host last wrote its counts (unix seconds).");
}

/* ---- <prefix>metrics:nodes and <prefix>metrics:probe ---- */

static int by_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The ids of s's nodes, sorted, for lookups: *out (malloc'ed; NULL when s
 * has none).  WSB_OK or WSB_ENOMEM. */
static int sorted_ids(const struct wsb_snapshot *s, const char ***out)
{
    *out = NULL;
    if (s == NULL || s->n_nodes == 0)
        return WSB_OK;
    const char **ids = malloc(s->n_nodes * sizeof *ids);
    if (ids == NULL)
        return WSB_ENOMEM;
    for (size_t i = 0; i < s->n_nodes; i++)
        ids[i] = s->nodes[i].node.id;
    qsort(ids, s->n_nodes, sizeof *ids, by_id);
    *out = ids;
    return WSB_OK;
}

/* The fields "<what>|<node id>" of the nodes' hash as one family, for the
 * nodes of the snapshot (ids, n of them, sorted): a node gone from the
 * state falls out, and hand-made fields never show. */
static void expose_node_counts(struct wsb_textbuf *b, const redisReply *h, const char **ids, size_t n,
                               const char *what, const char *name, const char *help)
{
    wsb_prom_family(b, name, "counter", help);
    if (h == NULL || h->type != REDIS_REPLY_ARRAY || ids == NULL)
        return;
    size_t wl = strlen(what);
    for (size_t i = 0; i + 1 < h->elements && i < 2 * WSB_METRICS_MAX_FIELDS; i += 2) {
        const redisReply *f = h->element[i];
        double v;
        if (!is_string(f) || f->len <= wl + 1 || f->len > wl + 1 + 64 || memcmp(f->str, what, wl) != 0 ||
            f->str[wl] != '|' || !count_of(h->element[i + 1], &v))
            continue;
        char id[80];
        snprintf(id, sizeof id, "%.*s", (int)(f->len - wl - 1), f->str + wl + 1);
        const char *key = id;
        if (bsearch(&key, ids, n, sizeof *ids, by_id) == NULL)
            continue;
        wsb_prom_sample_start(b, name, 1);
        wsb_prom_label(b, 1, "node", id);
        wsb_prom_sample_end(b, 1, v);
    }
}

/* The value of field name in a HGETALL reply; 1 and *v when it is a count. */
static int hash_count(const redisReply *h, const char *name, double *v)
{
    if (h == NULL || h->type != REDIS_REPLY_ARRAY)
        return 0;
    size_t nl = strlen(name);
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (is_string(h->element[i]) && h->element[i]->len == nl && memcmp(h->element[i]->str, name, nl) == 0)
            return count_of(h->element[i + 1], v);
    return 0;
}

static void expose_probe(struct wsb_textbuf *b, const redisReply *p, const redisReply *round)
{
    double v;
    wsb_prom_family(b, "wsb_probe_rounds_total", "counter", "Probe rounds run, written or not.");
    if (hash_count(p, "rounds", &v))
        wsb_textbuf_printf(b, "wsb_probe_rounds_total %.0f\n", v);
    wsb_prom_family(b, "wsb_probe_fault_rounds_total", "counter",
                    "Probe rounds judged the probe's own fault as a whole: not written, the last round kept.");
    if (hash_count(p, "fault_rounds", &v))
        wsb_textbuf_printf(b, "wsb_probe_fault_rounds_total %.0f\n", v);
    wsb_prom_family(b, "wsb_probe_failed_rounds_total", "counter",
                    "Probe rounds that could not be written (Redis, the lock).");
    if (hash_count(p, "failed_rounds", &v))
        wsb_textbuf_printf(b, "wsb_probe_failed_rounds_total %.0f\n", v);
    wsb_prom_family(b, "wsb_probe_checks_total", "counter",
                    "Node checks by outcome (ok, refused, timeout, ...; probe_* outcomes are the probe's own faults).");
    if (p != NULL && p->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < p->elements; i += 2) {
            const redisReply *f = p->element[i];
            if (!is_string(f) || f->len <= 7 || f->len >= 7 + WSB_OUTCOME_LEN || memcmp(f->str, "checks|", 7) != 0 ||
                !count_of(p->element[i + 1], &v))
                continue;
            char outcome[WSB_OUTCOME_LEN];
            snprintf(outcome, sizeof outcome, "%.*s", (int)(f->len - 7), f->str + 7);
            int ok = 1;
            for (const char *c = outcome; *c; c++)
                ok &= (*c >= 'a' && *c <= 'z') || *c == '_';
            if (!ok)
                continue;
            wsb_prom_sample_start(b, "wsb_probe_checks_total", 1);
            wsb_prom_label(b, 1, "outcome", outcome);
            wsb_prom_sample_end(b, 1, v);
        }
    /* The live round's summary (HMGET at duration_ms nodes up down draining fault). */
    const redisReply *e[7] = { NULL };
    if (round != NULL && round->type == REDIS_REPLY_ARRAY && round->elements == 7)
        for (int i = 0; i < 7; i++)
            e[i] = round->element[i];
    wsb_prom_family(b, "wsb_probe_round_timestamp_seconds", "gauge",
                    "When the live probe round started (unix seconds).");
    if (number_of(e[0], &v))
        wsb_textbuf_printf(b, "wsb_probe_round_timestamp_seconds %.0f\n", v);
    wsb_prom_family(b, "wsb_probe_round_duration_seconds", "gauge", "How long the live probe round took.");
    if (number_of(e[1], &v))
        wsb_textbuf_printf(b, "wsb_probe_round_duration_seconds %.3f\n", v / 1000.0);
    wsb_prom_family(b, "wsb_probe_nodes", "gauge",
                    "Nodes of the live probe round, by state (all, up, down, draining).");
    static const char *const states[] = { "all", "up", "down", "draining" };
    for (int i = 0; i < 4; i++)
        if (number_of(e[2 + i], &v))
            wsb_textbuf_printf(b, "wsb_probe_nodes{state=\"%s\"} %.0f\n", states[i], v);
    wsb_prom_family(b, "wsb_probe_fault", "gauge",
                    "1 while the probe reports a fault on the live round (its rounds are not counted), else 0.");
    if (e[0] != NULL && is_string(e[0]))
        wsb_textbuf_printf(b, "wsb_probe_fault %d\n", is_string(e[6]) && e[6]->len > 0);
}

int wsb_metrics_expose(struct wsb_handler *h, struct wsb_textbuf *out)
{
    struct wsb_metrics_reader *r = h->reader;
    redisReply *rep[R_COUNT] = { NULL };
    char err[WSB_ERRLEN];
    pthread_mutex_lock(&r->lock);
    /* After a failure, scrapes within WSB_REDIS_RETRY_MS do not wait on
     * Redis again: they answer with the process's own view at once. */
    int redis_up = 0;
    if (wsb_now_ms() >= r->retry_at_ms) {
        redis_up = read_redis(r, &h->cfg.keys, rep, err) == WSB_OK;
        if (!redis_up)
            r->retry_at_ms = wsb_now_ms() + h->cfg.retry_ms;
    } else {
        snprintf(err, sizeof err, "waiting before trying again");
    }
    if (!redis_up && !r->failing)
        wsb_log_warn("metrics: cannot read the counters: %s; scrapes give this process's view only", err);
    else if (redis_up && r->failing)
        wsb_log_info("metrics: the counters read again");
    r->failing = !redis_up;
    pthread_mutex_unlock(&r->lock);

    struct hfield *fields = NULL;
    size_t n_fields = 0;
    int status = WSB_OK;
    if (redis_up)
        status = handler_fields(rep[R_HANDLERS], (double)wsb_unix_ms() / 1000.0, &fields, &n_fields);
    struct wsb_snapshot *s = NULL;
    const char **ids = NULL;
    if (status == WSB_OK) {
        s = wsb_state_cache_get(h->cache, wsb_now_ms());
        status = sorted_ids(s, &ids);
    }
    if (status == WSB_OK) {
        wsb_metrics_view_process(out, wsb_metrics_host(h->metrics), wsb_state_cache_age_ms(h->cache, wsb_now_ms()), s,
                                 redis_up);
        if (redis_up) {
            size_t n = s != NULL ? s->n_nodes : 0;
            expose_handlers(out, fields, n_fields);
            expose_node_counts(out, rep[R_NODES], ids, n, "answers", "wsb_node_answers_total",
                               "Answers with the node, of every handler process on every host.");
            expose_node_counts(out, rep[R_NODES], ids, n, "excluded", "wsb_node_exclusions_total",
                               "Requests that named the node in ?exclude= (clients that failed to connect to it, "
                               "as they say), of every handler process on every host.");
            expose_probe(out, rep[R_PROBE], rep[R_ROUND]);
        }
        wsb_metrics_view_nodes(out, s);
    }
    wsb_snapshot_unref(s);
    free(ids);
    free(fields);
    for (int i = 0; i < R_COUNT; i++)
        if (rep[i] != NULL)
            freeReplyObject(rep[i]);
    return status == WSB_OK && !out->failed ? WSB_OK : WSB_ENOMEM;
}

/* explain.c: --explain, one client's answer node by node, and the per-filter
 * counts of --check; every verdict comes from select.c's own functions. */
#include "explain.h"
#include "assign.h"
#include "http.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void wsb_explain_state(const struct wsb_state *st, char *buf, size_t len)
{
    long long now = (long long)time(NULL);
    if (!st->live) {
        snprintf(buf, len, "EXPIRED (no round within its TTL: probe not running, or failing; every node counts as "
                           "offline)");
    } else if (st->fault[0] != '\0') {
        snprintf(buf, len, "live, round %lld s old, but the probe reports a fault since %lld s: %.200s (answers "
                           "come from that round until it expires)",
                 st->round_at ? now - st->round_at : -1, st->fault_at ? now - st->fault_at : -1, st->fault);
    } else if (st->round_at > 0) {
        snprintf(buf, len, "live, round %lld s old", now - st->round_at);
    } else {
        snprintf(buf, len, "live");
    }
}

/* Appends to buf (len bytes, NUL-terminated) what fmt says; truncates. */
static void append(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

/* The filter's name as an operator reads it (the setting that causes the
 * scheme filter named). */
static const char *filter_label(int filter)
{
    return filter == WSB_FILTER_SCHEME ? "ws:// endpoint not served (WSB_ALLOW_INSECURE_WS=0)"
                                       : wsb_select_filter_name(filter);
}

void wsb_explain_filters(const struct wsb_snapshot *s, char *buf, size_t len)
{
    size_t count[WSB_FILTER_COUNT] = { 0 };
    for (size_t i = 0; i < s->n_nodes; i++)
        if (s->nodes[i].filter > 0 && s->nodes[i].filter < WSB_FILTER_COUNT)
            count[s->nodes[i].filter]++;
    buf[0] = '\0';
    for (int f = 1; f < WSB_FILTER_COUNT; f++)
        if (count[f] > 0)
            append(buf, len, "%s%zu %s", buf[0] ? ", " : "", count[f], filter_label(f));
}

/* Why a node is or is not a candidate for this client: the filters of
 * select.h in their order, then step 4 (room now, the near band) and step
 * 5 (the start budget). */
enum row_reason {
    ROW_CANDIDATE = 0,
    ROW_VERSION,
    ROW_FILTER,               /* + the node's filter (WSB_FILTER_*) */
    ROW_FULL = ROW_FILTER + WSB_FILTER_COUNT,   /* eligible at its check, no room now */
    ROW_FAR,
    ROW_BUDGET,
    ROW_COUNT
};

struct row {
    uint32_t i;               /* index into s->nodes */
    int reason;               /* enum row_reason */
    double sim;               /* wsb_select_similarity */
    double km;
    double room;              /* wsb_select_room: room now */
    double assigned;          /* since its check, every handler */
    double slow;              /* wsb_select_slow_start */
    double starts;            /* wsb_select_starts */
    double weight;            /* wsb_select_weight (candidates) */
    double p;                 /* weight / total of the candidates */
    char text[320];
};

/* The reason's key in the summary and in JSON. */
static const char *reason_key(int r, char *buf, size_t len, unsigned version)
{
    switch (r) {
    case ROW_CANDIDATE: return "candidate";
    case ROW_VERSION: snprintf(buf, len, "no v%u", version); return buf;
    case ROW_FULL: return "overloaded";
    case ROW_FAR: return "too far";
    case ROW_BUDGET: return "over its start budget";
    default: return filter_label(r - ROW_FILTER);
    }
}

/* n with thousands separators, rounded to an integer: 18,600. */
static const char *num(double v, char *buf, size_t len)
{
    long long n = llround(v);
    unsigned long long a = n < 0 ? (unsigned long long)(-(n + 1)) + 1 : (unsigned long long)n;
    char digits[32], out[48];
    int nd = snprintf(digits, sizeof digits, "%llu", a), k = 0;
    if (n < 0)
        out[k++] = '-';
    for (int d = 0; d < nd; d++) {
        if (d > 0 && (nd - d) % 3 == 0)
            out[k++] = ',';
        out[k++] = digits[d];
    }
    out[k] = '\0';
    snprintf(buf, len, "%s", out);
    return buf;
}

static int lists_version(const struct wsb_node *nd, unsigned version)
{
    for (size_t j = 0; j < nd->n_versions; j++)
        if (nd->versions[j] == version)
            return 1;
    return 0;
}

/* Candidates first, the likeliest first; then the nearest excluded. */
static int cmp_row(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int cx = x->reason == ROW_CANDIDATE, cy = y->reason == ROW_CANDIDATE;
    if (cx != cy)
        return cy - cx;
    if (cx && x->p != y->p)
        return x->p > y->p ? -1 : 1;
    if (x->sim != y->sim)
        return x->sim > y->sim ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Fills the numbers and the text of row r. */
static void describe_row(const struct wsb_snapshot *s, const struct wsb_handler *h, struct row *r,
                         const struct wsb_select_band *band, int client_coords, unsigned version, long long now_ms)
{
    const struct wsb_snap_node *sn = &s->nodes[r->i];
    const struct wsb_node *nd = &sn->node;
    char a[32], b[32], c[32], d[32], e[32], f[32];
    const char *tier = !band->located ? " (client not located)"
                     : client_coords && nd->has_coords ? ""
                     : " by country/continent";
    switch (r->reason) {
    case ROW_CANDIDATE:
        snprintf(r->text, sizeof r->text,
                 "candidate: %s km%s, room %s of %s (%s used + %s assigned), slow start %.2f, weight %s, p %.3f",
                 num(r->km, a, sizeof a), tier, num(r->room, b, sizeof b), num(sn->capacity, c, sizeof c),
                 num(sn->used, d, sizeof d), num(r->assigned, e, sizeof e), r->slow, num(r->weight, f, sizeof f),
                 r->p);
        break;
    case ROW_VERSION:
        snprintf(r->text, sizeof r->text, "no v%u (lists", version);
        for (size_t j = 0; j < nd->n_versions; j++)
            append(r->text, sizeof r->text, " v%u", nd->versions[j]);
        append(r->text, sizeof r->text, "%s)", nd->n_versions ? "" : " none");
        break;
    case ROW_FAR:
        snprintf(r->text, sizeof r->text, "too far (%s km%s; nearest usable %s km, band to %s km)",
                 num(r->km, a, sizeof a), tier, num(wsb_select_km(band->best), b, sizeof b),
                 num(wsb_select_km(band->bound), c, sizeof c));
        break;
    case ROW_BUDGET:
        snprintf(r->text, sizeof r->text, "over its start budget (%.1f starts in the last second, budget %u/s)",
                 r->starts, sn->budget);
        break;
    case ROW_FULL:
    case ROW_FILTER + WSB_FILTER_OVERLOADED:
        snprintf(r->text, sizeof r->text, "overloaded (%.2f >= %g: %s + %s assigned of %s)",
                 sn->capacity > 0 ? (sn->used + r->assigned) / sn->capacity : 0.0, h->cfg.snap.max_load,
                 num(sn->used, a, sizeof a), num(r->assigned, b, sizeof b), num(sn->capacity, c, sizeof c));
        break;
    case ROW_FILTER + WSB_FILTER_OFFLINE:
        if (nd->checked_at > 0)
            snprintf(r->text, sizeof r->text, "offline (last_error %s, checked %lld s ago)",
                     nd->last_error[0] ? nd->last_error : "none", now_ms / 1000 - nd->checked_at);
        else
            snprintf(r->text, sizeof r->text, "offline (last_error %s, never checked)",
                     nd->last_error[0] ? nd->last_error : "none");
        break;
    case ROW_FILTER + WSB_FILTER_EXPIRED:
        snprintf(r->text, sizeof r->text, "offline (state expired: no probe round within its TTL)");
        break;
    default:
        snprintf(r->text, sizeof r->text, "%s", filter_label(r->reason - ROW_FILTER));
    }
}

/* What GeoIP says of ip: fills *loc and writes one phrase into where. */
static void locate(struct wsb_handler *h, const struct wsb_ip *ip, struct wsb_client_loc *loc, int *found,
                   char *why, size_t len)
{
    char err[WSB_ERRLEN];
    memset(loc, 0, sizeof *loc);
    *found = 0;
    if (h->geo == NULL)
        snprintf(why, len, "no database (WSB_GEOIP_DB unset)");
    else if (wsb_geo_status(h->geo, err) != WSB_OK)
        snprintf(why, len, "no database: %.200s", err);
    else if (wsb_ip_is_local(ip))
        snprintf(why, len, "private, loopback or reserved address: not looked up");
    else if (!(*found = wsb_geo_lookup(h->geo, ip, loc)))
        snprintf(why, len, "no record for this address");
    else
        why[0] = '\0';
}

/* The version's code and the k candidates (copied out of the scratch),
 * then every node's row. */
static int judge_rows(struct wsb_handler *h, const struct wsb_snapshot *s, unsigned version,
                      const struct wsb_client_loc *loc, struct wsb_select_scratch *sc, struct row *rows,
                      struct wsb_select_band *band, size_t *n_cand, long long now_ms)
{
    size_t k = 0;
    wsb_select_candidates(s, version, loc, sc, &k, band);   /* its code: answer() asks wsb_select */
    unsigned char *is_cand = calloc(s->n_nodes ? s->n_nodes : 1, 1);
    if (is_cand == NULL)
        return -1;
    for (size_t c = 0; c < k; c++)
        is_cand[sc->cand[c]] = 1;
    double total = 0;
    *n_cand = 0;
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        const struct wsb_snap_node *sn = &s->nodes[i];
        struct row *r = &rows[i];
        memset(r, 0, sizeof *r);
        r->i = i;
        r->sim = band->located ? wsb_select_similarity(s, i, loc) : 1.0;
        r->km = wsb_select_km(r->sim);
        r->room = wsb_select_room(s, i);
        r->assigned = sn->room - r->room;
        r->slow = wsb_select_slow_start(s, i, now_ms);
        r->starts = wsb_select_starts(s, i, now_ms);
        if (!lists_version(&sn->node, version))
            r->reason = ROW_VERSION;
        else if (!sn->eligible)
            r->reason = ROW_FILTER + sn->filter;
        else if (is_cand[i]) {
            r->weight = wsb_select_weight(s, i, now_ms);
            r->reason = r->weight > 0 ? ROW_CANDIDATE : ROW_BUDGET;
            total += r->weight;
            *n_cand += r->weight > 0;
        } else if (!wsb_select_has_room(s, i))
            r->reason = ROW_FULL;
        else
            r->reason = ROW_FAR;
    }
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        if (rows[i].reason == ROW_CANDIDATE)
            rows[i].p = rows[i].weight / total;
        describe_row(s, h, &rows[i], band, loc->has_coords, version, now_ms);
    }
    free(is_cand);
    return 0;
}

/* The answer as the handler gives it: wsb_select itself, with a random
 * word; *node is the node drawn (NULL on a 503). */
static int answer(const struct wsb_snapshot *s, unsigned version, const struct wsb_client_loc *loc,
                  struct wsb_select_scratch *sc, long long now_ms, const struct wsb_snap_node **node)
{
    uint64_t rnd = (uint64_t)now_ms * 0x9e3779b97f4a7c15ull;
    rnd ^= rnd >> 29;
    return wsb_select(s, version, loc, rnd * 0xbf58476d1ce4e5b9ull, now_ms, sc, node);
}

struct report {
    char addr[64];
    const char *db;           /* "" none */
    int found;
    char geo_why[WSB_ERRLEN];
    struct wsb_client_loc loc;
    unsigned version;
    char state[WSB_ERRLEN + 200];
    char assign_err[WSB_ERRLEN];   /* "" when the counts were read */
    size_t n_skipped;
    struct wsb_select_band band;
    size_t n_cand;
    size_t count[ROW_COUNT];
    int code;
    const struct wsb_snap_node *drawn;
};

static void print_text(const struct report *rp, const struct wsb_snapshot *s, const struct row *rows, FILE *out)
{
    char key[32];
    fprintf(out, "client %s\n", rp->addr);
    if (rp->found) {
        fprintf(out, "geoip: %s: ", rp->db);
        if (rp->loc.has_coords)
            fprintf(out, "%.4f, %.4f", rp->loc.lat, rp->loc.lon);
        else
            fprintf(out, "no coordinates");
        fprintf(out, ", country %s, continent %s\n", rp->loc.country[0] ? rp->loc.country : "-",
                rp->loc.continent[0] ? rp->loc.continent : "-");
    } else {
        fprintf(out, "geoip: %s%s%s: no location (every node counts as 0 km away)\n", rp->db, rp->db[0] ? ": " : "",
                rp->geo_why);
    }
    fprintf(out, "version v%u\n", rp->version);
    fprintf(out, "state %s; %zu nodes%s", rp->state, s->n_nodes, rp->n_skipped ? "" : "\n");
    if (rp->n_skipped)
        fprintf(out, ", %zu records skipped as malformed\n", rp->n_skipped);
    if (rp->assign_err[0])
        fprintf(out, "assigned since the round: not read (%s); counted as 0\n", rp->assign_err);
    size_t shown_excluded = s->n_nodes;
    if (s->n_nodes > WSB_EXPLAIN_FULL) {
        for (int r = 0; r < ROW_COUNT; r++)
            if (rp->count[r] > 0)
                fprintf(out, "  %zu %s\n", rp->count[r], reason_key(r, key, sizeof key, rp->version));
        shown_excluded = 10;
    }
    size_t excluded = 0, width = 0;
    for (size_t i = 0; i < s->n_nodes; i++) {
        size_t l = strlen(s->nodes[rows[i].i].node.id);
        width = l > width ? l : width;
    }
    for (size_t i = 0; i < s->n_nodes; i++) {
        const struct row *r = &rows[i];
        if (r->reason != ROW_CANDIDATE && excluded++ >= shown_excluded)
            break;
        fprintf(out, "node %-*s %s\n", (int)width, s->nodes[r->i].node.id, r->text);
    }
    if (excluded > shown_excluded)
        fprintf(out, "(%zu more excluded nodes not shown)\n", s->n_nodes - rp->n_cand - shown_excluded);
    if (rp->code == WSB_SELECT_OK && rp->n_cand == 1)
        fprintf(out, "answer 200 %.*s\n", (int)rp->drawn->body_len, rp->drawn->body);
    else if (rp->code == WSB_SELECT_OK)
        fprintf(out, "answer 200, one of the %zu candidates drawn by weight (this draw: %s %s)\n", rp->n_cand,
                rp->drawn->node.id, rp->drawn->node.endpoint);
    else {
        size_t blen = 0;
        const char *body = wsb_error_body(rp->code, &blen);
        fprintf(out, "answer 503 %.*s\n", (int)blen, body ? body : "");
    }
}

/* cJSON's adders report ENOMEM through NULL; one check at the end. */
static cJSON *json_report(const struct report *rp, const struct wsb_snapshot *s, const struct row *rows)
{
    char key[32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "address", rp->addr);
    cJSON *g = cJSON_AddObjectToObject(o, "geoip");
    if (rp->db[0])
        cJSON_AddStringToObject(g, "database", rp->db);
    else
        cJSON_AddNullToObject(g, "database");
    cJSON_AddBoolToObject(g, "found", rp->found);
    if (rp->found) {
        if (rp->loc.has_coords) {
            cJSON_AddNumberToObject(g, "latitude", rp->loc.lat);
            cJSON_AddNumberToObject(g, "longitude", rp->loc.lon);
        }
        cJSON_AddStringToObject(g, "country", rp->loc.country);
        cJSON_AddStringToObject(g, "continent", rp->loc.continent);
    } else {
        cJSON_AddStringToObject(g, "reason", rp->geo_why);
    }
    cJSON_AddNumberToObject(o, "version", rp->version);
    cJSON_AddStringToObject(o, "state", rp->state);
    cJSON_AddNumberToObject(o, "nodes_total", (double)s->n_nodes);
    cJSON_AddNumberToObject(o, "skipped", (double)rp->n_skipped);
    if (rp->assign_err[0])
        cJSON_AddStringToObject(o, "assigned_error", rp->assign_err);
    cJSON *sum = cJSON_AddObjectToObject(o, "summary");
    for (int r = 0; r < ROW_COUNT; r++)
        if (rp->count[r] > 0)
            cJSON_AddNumberToObject(sum, reason_key(r, key, sizeof key, rp->version), (double)rp->count[r]);
    cJSON *arr = cJSON_AddArrayToObject(o, "nodes");
    size_t excluded = 0, limit = s->n_nodes > WSB_EXPLAIN_FULL ? 10 : s->n_nodes;
    for (size_t i = 0; i < s->n_nodes && arr != NULL; i++) {
        const struct row *r = &rows[i];
        if (r->reason != ROW_CANDIDATE && excluded++ >= limit)
            break;
        const struct wsb_snap_node *sn = &s->nodes[r->i];
        cJSON *n = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, n);
        cJSON_AddStringToObject(n, "id", sn->node.id);
        cJSON_AddStringToObject(n, "endpoint", sn->node.endpoint ? sn->node.endpoint : "");
        cJSON_AddBoolToObject(n, "candidate", r->reason == ROW_CANDIDATE);
        cJSON_AddStringToObject(n, "reason", reason_key(r->reason, key, sizeof key, rp->version));
        cJSON_AddStringToObject(n, "detail", r->text);
        cJSON_AddNumberToObject(n, "distance_km", round(r->km));
        cJSON_AddNumberToObject(n, "capacity", sn->capacity);
        cJSON_AddNumberToObject(n, "used", sn->used);
        cJSON_AddNumberToObject(n, "assigned", r->assigned);
        cJSON_AddNumberToObject(n, "room", r->room);
        cJSON_AddNumberToObject(n, "slow_start", r->slow);
        cJSON_AddNumberToObject(n, "weight", r->weight);
        cJSON_AddNumberToObject(n, "probability", r->p);
    }
    cJSON *a = cJSON_AddObjectToObject(o, "answer");
    cJSON_AddNumberToObject(a, "status", rp->code == WSB_SELECT_OK ? 200 : 503);
    if (rp->code != WSB_SELECT_OK) {
        cJSON_AddNumberToObject(a, "error", rp->code);
        cJSON_AddStringToObject(a, "error_message", wsb_select_error_message(rp->code));
    } else {
        cJSON_AddNumberToObject(a, "candidates", (double)rp->n_cand);
        cJSON_AddStringToObject(a, rp->n_cand == 1 ? "endpoint" : "drawn_endpoint", rp->drawn->node.endpoint);
        cJSON_AddStringToObject(a, rp->n_cand == 1 ? "id" : "drawn_id", rp->drawn->node.id);
    }
    return o;
}

int wsb_explain(struct wsb_handler *h, const struct wsb_ip *ip, unsigned version, int json, FILE *out, char *err)
{
    struct wsb_state st;
    struct wsb_snapshot *s = NULL;
    struct wsb_assign *as = NULL;
    struct wsb_select_scratch sc = { 0, NULL, NULL };
    struct row *rows = NULL;
    struct report rp;
    memset(&rp, 0, sizeof rp);
    int status = wsb_state_read(wsb_state_cache_redis(h->cache), &h->cfg.keys, &st, err);
    if (status != WSB_OK)
        return status;
    wsb_explain_state(&st, rp.state, sizeof rp.state);
    rp.n_skipped = st.n_skipped;
    char round_id[sizeof st.round_id];
    snprintf(round_id, sizeof round_id, "%s", st.round_id);
    long long round_ttl = st.round_ttl;
    status = wsb_snapshot_build(st.nodes, st.n, st.live, st.drain_ids, st.n_drain, st.n_skipped, &h->cfg.snap, NULL,
                                &s);
    wsb_state_clear(&st);
    if (status != WSB_OK) {
        snprintf(err, WSB_ERRLEN, "snapshot: %s", wsb_strerror(status));
        return status;
    }
    status = WSB_ENOMEM;
    snprintf(s->round_id, sizeof s->round_id, "%s", round_id);
    s->round_ttl = round_ttl;
    /* The fleet's assignments since the round, as a CGI process reads them
     * (it adds nothing: this process answered nobody). */
    if (round_id[0] != '\0') {
        if ((as = wsb_assign_new(&h->cfg.redis, &h->cfg.keys, h->cfg.retry_ms, h->cfg.cache_ms)) == NULL)
            goto cleanup;
        if (wsb_assign_exchange(as, NULL, s, wsb_unix_ms(), rp.assign_err) != WSB_OK && rp.assign_err[0] == '\0')
            snprintf(rp.assign_err, sizeof rp.assign_err, "redis");
    }
    long long now_ms = wsb_unix_ms();
    wsb_ip_format(ip, rp.addr, sizeof rp.addr);
    rp.db = h->geo != NULL ? h->cfg.geoip_path : "";
    locate(h, ip, &rp.loc, &rp.found, rp.geo_why, sizeof rp.geo_why);
    rp.version = version;
    if (wsb_select_scratch_reserve(&sc, s->max_eligible ? s->max_eligible : 1) != WSB_OK ||
        (rows = calloc(s->n_nodes ? s->n_nodes : 1, sizeof *rows)) == NULL ||
        judge_rows(h, s, version, &rp.loc, &sc, rows, &rp.band, &rp.n_cand, now_ms) != 0)
        goto cleanup;
    qsort(rows, s->n_nodes, sizeof *rows, cmp_row);
    for (size_t i = 0; i < s->n_nodes; i++)
        rp.count[rows[i].reason]++;
    rp.code = answer(s, version, &rp.loc, &sc, now_ms, &rp.drawn);
    if (json) {
        cJSON *o = json_report(&rp, s, rows);
        char *text = o != NULL ? cJSON_Print(o) : NULL;
        cJSON_Delete(o);
        if (text == NULL)
            goto cleanup;
        fprintf(out, "%s\n", text);
        free(text);
    } else {
        print_text(&rp, s, rows, out);
    }
    status = WSB_OK;
cleanup:
    if (status != WSB_OK)
        snprintf(err, WSB_ERRLEN, "out of memory");
    free(rows);
    wsb_select_scratch_free(&sc);
    wsb_assign_free(as);
    wsb_snapshot_unref(s);
    return status;
}

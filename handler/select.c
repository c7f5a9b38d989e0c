/* select.c: the selection policy, from node eligibility to the weighted draw (see select.h). */
#include "select.h"
#include "affinity.h"
#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *wsb_select_error_message(int code)
{
    switch (code) {
    case WSB_NO_SERVERS_AVAILABLE: return "no servers are currently available";
    case WSB_NO_SERVERS_ONLINE: return "no servers are currently online";
    case WSB_NO_SERVERS_VERSION: return "no servers with this version are available";
    default: return "";
    }
}

const char *wsb_select_filter_name(int filter)
{
    switch (filter) {
    case WSB_FILTER_EXPIRED: return "offline (state expired)";
    case WSB_FILTER_OFFLINE: return "offline";
    case WSB_FILTER_DRAINED: return "draining (inventory)";
    case WSB_FILTER_DRAINED_RUN_TIME: return "draining (run time)";
    case WSB_FILTER_OVERLOADED: return "overloaded";
    case WSB_FILTER_SCHEME: return "ws:// endpoint not served";
    default: return "";
    }
}

void wsb_select_judge(const struct wsb_node *nd, int live, int run_time_drained, double median_capacity,
                      const struct wsb_snapshot_params *p, struct wsb_node_judgement *out)
{
    memset(out, 0, sizeof *out);
    out->online = live && nd->online;
    out->drained = nd->drain || run_time_drained;
    if (nd->capacity >= 1)
        out->capacity = (double)nd->capacity;
    else if (median_capacity >= 1)
        out->capacity = median_capacity;
    else
        out->capacity = p->assumed_capacity >= 1 ? p->assumed_capacity : WSB_ASSUMED_CAPACITY;
    if (nd->load_known && nd->capacity >= 1 && nd->connections >= 0)
        out->used = (double)nd->connections;
    else
        out->used = (nd->load_known ? nd->load : p->unknown_load) * out->capacity;
    out->room = p->max_load * out->capacity - out->used;
    /* Less room than one connection: one more client would take it past
     * max_load.  A node that reports no load is never judged full. */
    out->overloaded = nd->load_known && out->room < 1;
    int scheme_ok = p->allow_ws || strncmp(nd->endpoint, "wss://", 6) == 0;
    out->eligible = out->online && !out->drained && !out->overloaded && scheme_ok;
    out->filter = !live ? WSB_FILTER_EXPIRED
                : !nd->online ? WSB_FILTER_OFFLINE
                : nd->drain ? WSB_FILTER_DRAINED
                : run_time_drained ? WSB_FILTER_DRAINED_RUN_TIME
                : out->overloaded ? WSB_FILTER_OVERLOADED
                : !scheme_ok ? WSB_FILTER_SCHEME
                : WSB_FILTER_NONE;
    out->slow_start_s = nd->slow_start_s >= 0 ? (double)nd->slow_start_s : p->slow_start_s;
    out->budget = nd->max_new_per_s > 0 ? (uint32_t)nd->max_new_per_s : 0;
}

int wsb_select_version_code(size_t n_eligible, size_t n_online)
{
    if (n_eligible > 0)
        return WSB_SELECT_OK;
    return n_online > 0 ? WSB_NO_SERVERS_AVAILABLE : WSB_NO_SERVERS_ONLINE;
}

int wsb_select_scratch_reserve(struct wsb_select_scratch *sc, size_t n)
{
    if (n <= sc->cap)
        return WSB_OK;
    double *sim = malloc(n * sizeof *sim);
    uint32_t *cand = malloc(n * sizeof *cand);
    if (sim == NULL || cand == NULL) {
        free(sim);
        free(cand);
        return WSB_ENOMEM;
    }
    free(sc->sim);
    free(sc->cand);
    sc->sim = sim;
    sc->cand = cand;
    sc->cap = n;
    return WSB_OK;
}

void wsb_select_scratch_free(struct wsb_select_scratch *sc)
{
    if (sc == NULL)
        return;
    free(sc->sim);
    free(sc->cand);
    sc->sim = NULL;
    sc->cand = NULL;
    sc->cap = 0;
}

/* The node's room now: its room at the check less what every handler
 * assigned to it since (as this process last heard, plus its own answers
 * since). */
double wsb_select_room(const struct wsb_snapshot *s, uint32_t i)
{
    const struct wsb_tally *t = &s->tally[i];
    uint32_t fleet = __atomic_load_n(&t->fleet, __ATOMIC_RELAXED);
    uint32_t own = __atomic_load_n(&t->unflushed, __ATOMIC_RELAXED);
    return s->nodes[i].room - (double)fleet - (double)own;
}

/* Whether node i can take one more client: room for one, or a load it
 * does not report (never judged full). */
static int has_room(const struct wsb_snapshot *s, uint32_t i)
{
    return !s->nodes[i].node.load_known || wsb_select_room(s, i) >= 1;
}

/* has_room, and not among the ex[0..n_ex) the request excluded. */
static int open_to(const struct wsb_snapshot *s, uint32_t i, const uint32_t *ex, size_t n_ex)
{
    for (size_t j = 0; j < n_ex; j++)
        if (ex[j] == i)
            return 0;
    return has_room(s, i);
}

double wsb_select_slow_start(const struct wsb_snapshot *s, uint32_t i, long long now_ms)
{
    const struct wsb_snap_node *sn = &s->nodes[i];
    if (sn->slow_start_s <= 0 || sn->node.changed_at <= 0)
        return 1.0;
    double elapsed = (double)now_ms / 1000.0 - (double)sn->node.changed_at;
    if (elapsed >= sn->slow_start_s)
        return 1.0;
    if (elapsed < 0)
        elapsed = 0;   /* a probe clock ahead of ours: the start of the window */
    double f = pow(elapsed / sn->slow_start_s, 1.0 / s->slow_start_aggression);
    return f > s->slow_start_min ? f : s->slow_start_min;
}

/* The part of the starts read at the last exchange still within one
 * second of now_ms: they age out linearly over the second after the read. */
static double window_left(const struct wsb_snapshot *s, long long now_ms)
{
    double age = (double)(now_ms - __atomic_load_n(&s->window_read_ms, __ATOMIC_RELAXED)) / 1000.0;
    return age <= 0 ? 1.0 : age >= 1 ? 0.0 : 1.0 - age;
}

double wsb_select_starts(const struct wsb_snapshot *s, uint32_t i, long long now_ms)
{
    /* The fleet's starts of the second before the read age out over the
     * second after it; this process's unwritten ones all count.  (Taking
     * the others' as a steady rate instead made every process stop and
     * start together: make sim saw 2.2 x the budget against 1.3 x.) */
    const struct wsb_tally *t = &s->tally[i];
    return ((double)__atomic_load_n(&t->window, __ATOMIC_RELAXED) +
            (double)__atomic_load_n(&t->own_recent, __ATOMIC_RELAXED)) * window_left(s, now_ms) +
           (double)__atomic_load_n(&t->unflushed, __ATOMIC_RELAXED);
}

/* Similarity of a node to the client: the cosine of the central angle
 * between them, so that larger is nearer and 1 is "here". */
static double similarity(const struct wsb_snap_node *sn, const struct wsb_client_loc *c, int client_coords,
                         double cx, double cy, double cz, double same_continent)
{
    if (client_coords && sn->node.has_coords)
        return sn->x * cx + sn->y * cy + sn->z * cz;
    if (c->country[0] && memcmp(sn->node.country, c->country, 3) == 0)
        return 1.0;
    if (c->continent[0] && memcmp(sn->node.continent, c->continent, 3) == 0)
        return same_continent;
    return -1.0;
}

/* The similarity bound of the candidates: the nearest (similarity best,
 * at angle a) widened by half its distance, at least WSB_NEAR_MIN_KM and at
 * most near_km: cos(a + min(near, max(a / 2, near_min))), less a rounding
 * margin.  Without acos: the half angle's cosine decides which widening
 * applies, and cos(a + w) = cos a cos w - sin a sin w. */
static double near_bound(const struct wsb_snapshot *s, double best)
{
    double c = best > 1.0 ? 1.0 : best < -1.0 ? -1.0 : best;
    double sa = sqrt(1.0 - c * c);
    double ch = sqrt((1.0 + c) / 2);   /* cos(a / 2) */
    double cw, sw;                     /* cos and sin of the widening w */
    if (ch >= s->near_min_cos) {       /* a / 2 <= near_min */
        cw = s->near_min_cos;
        sw = s->near_min_sin;
    } else if (ch <= s->near_cos) {    /* a / 2 >= near */
        cw = s->near_cos;
        sw = s->near_sin;
    } else {
        cw = ch;
        sw = sqrt((1.0 - c) / 2);
    }
    if (c <= -cw)                      /* a + w >= pi: the band reaches the antipode */
        return -1.0 - 1e-12;
    return c * cw - sa * sw - 1e-12;
}

/* Below every similarity: marks a node without room. */
#define NO_ROOM (-3.0)

/* Puts the scanned nodes within near_km of the nearest one with room in
 * sc->cand (sim[i] is scan[i]'s similarity, NO_ROOM for a node without
 * room; best is the largest of them) and returns their count. */
static size_t within_band(const struct wsb_snapshot *s, const uint32_t *scan, size_t n_scan, double best,
                          struct wsb_select_scratch *sc, struct wsb_select_band *band)
{
    band->best = best;
    band->bound = best;
    if (best <= NO_ROOM)
        return 0;
    double bound = near_bound(s, best);
    band->bound = bound;
    size_t k = 0;
    for (size_t i = 0; i < n_scan; i++) {
        sc->cand[k] = scan[i];
        k += sc->sim[i] >= bound;
    }
    return k;
}

/* Step 4 for a client with coordinates and a version whose eligible nodes
 * all have them: similarity is a dot product, and only the client's cell
 * list (when indexed) is scanned.  A cell's list holds every node near
 * enough to the nearest eligible one; when that one (or a nearer one) has
 * no room left, the band moves outwards, past what the list was built
 * for, and the whole version is scanned.  Puts the candidates in sc->cand
 * and returns their count. */
static size_t near_by_distance(const struct wsb_snapshot *s, const struct wsb_version_entry *e,
                               const struct wsb_client_loc *client, struct wsb_select_scratch *sc,
                               struct wsb_select_band *band, const uint32_t *ex, size_t n_ex)
{
    const uint32_t *scan = e->eligible;
    size_t n_scan = e->n;
    double cx, cy, cz, *sim = sc->sim;
    wsb_geo_unit(client->lat, client->lon, &cx, &cy, &cz);
    int indexed = e->index != NULL;
    if (indexed)
        scan = wsb_cell_index_list(e->index, client->lat, client->lon, &n_scan);
    const struct wsb_snap_node *nodes = s->nodes;
    for (;;) {
        double best = NO_ROOM, best_any = NO_ROOM;
        for (size_t i = 0; i < n_scan; i++) {
            const struct wsb_snap_node *sn = &nodes[scan[i]];
            double d = sn->x * cx + sn->y * cy + sn->z * cz;
            best_any = best_any > d ? best_any : d;
            if (!open_to(s, scan[i], ex, n_ex))
                d = NO_ROOM;
            sim[i] = d;
            best = best > d ? best : d;
        }
        if (!indexed || best >= best_any)
            return within_band(s, scan, n_scan, best, sc, band);
        scan = e->eligible;
        n_scan = e->n;
        indexed = 0;
    }
}

/* Step 4 otherwise: distance where both sides have coordinates, else the
 * country and continent tiers (see select.h).  Puts the candidates in
 * sc->cand and returns their count. */
static size_t near_by_tier(const struct wsb_snapshot *s, const struct wsb_version_entry *e,
                           const struct wsb_client_loc *client, struct wsb_select_scratch *sc,
                           struct wsb_select_band *band, const uint32_t *ex, size_t n_ex)
{
    double cx = 0, cy = 0, cz = 0, best = NO_ROOM;
    if (client->has_coords)
        wsb_geo_unit(client->lat, client->lon, &cx, &cy, &cz);
    const double same_continent = cos(WSB_SAME_CONTINENT_KM / WSB_EARTH_RADIUS_KM);
    for (size_t i = 0; i < e->n; i++) {
        double d = NO_ROOM;
        if (open_to(s, e->eligible[i], ex, n_ex))
            d = similarity(&s->nodes[e->eligible[i]], client, client->has_coords, cx, cy, cz, same_continent);
        sc->sim[i] = d;
        if (d > best)
            best = d;
    }
    return within_band(s, e->eligible, e->n, best, sc, band);
}

/* Step 4 for a client without a location: every node with room. */
static size_t anywhere(const struct wsb_snapshot *s, const struct wsb_version_entry *e, struct wsb_select_scratch *sc,
                       const uint32_t *ex, size_t n_ex)
{
    size_t k = 0;
    for (size_t i = 0; i < e->n; i++) {
        sc->cand[k] = e->eligible[i];
        k += (size_t)open_to(s, e->eligible[i], ex, n_ex);
    }
    return k;
}

int wsb_select_over_budget(const struct wsb_snapshot *s, uint32_t i, long long now_ms)
{
    const struct wsb_snap_node *sn = &s->nodes[i];
    if (sn->budget == 0)
        return 0;
    double budget = (double)sn->budget;
    if (wsb_select_starts(s, i, now_ms) >= budget)
        return 1;
    /* Until the fleet's counts show this process's part, it takes no more
     * than an even share of the budget, so that the first second of a
     * storm, before any process heard of the others, is not one budget per
     * process; then its own share of the last second's starts (or the even
     * one, whichever is more), the fleet's total being held above. */
    const struct wsb_tally *t = &s->tally[i];
    double others = (double)__atomic_load_n(&t->window, __ATOMIC_RELAXED);
    double own = (double)__atomic_load_n(&t->own_recent, __ATOMIC_RELAXED);
    uint32_t procs = __atomic_load_n(&s->processes, __ATOMIC_RELAXED);
    double share = 1.0 / (double)(procs > 0 ? procs : 1);
    if (others + own > 0 && own / (others + own) > share)
        share = own / (others + own);
    double mine = own * window_left(s, now_ms) + (double)__atomic_load_n(&t->unflushed, __ATOMIC_RELAXED);
    return mine >= budget * share;
}

double wsb_select_weight(const struct wsb_snapshot *s, uint32_t i, long long now_ms)
{
    const struct wsb_snap_node *sn = &s->nodes[i];
    if (wsb_select_over_budget(s, i, now_ms))
        return 0;
    double room = wsb_select_room(s, i);
    /* A node that reports no load is never full: at least 1 % of its
     * (assumed) capacity keeps it in the draw. */
    if (room < 0.01 * sn->capacity)
        room = 0.01 * sn->capacity;
    return room * wsb_select_slow_start(s, i, now_ms);
}

/* Step 5: one of the k >= 1 candidates, drawn with probability in
 * proportion to its weight; 53 random bits of rnd make a uniform point in
 * [0, total).  NULL when every candidate is over its budget. */
static const struct wsb_snap_node *weighted_draw(const struct wsb_snapshot *s, struct wsb_select_scratch *sc,
                                                 size_t k, uint64_t rnd, long long now_ms)
{
    double total = 0;
    for (size_t i = 0; i < k; i++) {
        sc->sim[i] = wsb_select_weight(s, sc->cand[i], now_ms);
        total += sc->sim[i];
    }
    if (total <= 0)
        return NULL;
    double point = (double)(rnd >> 11) * (1.0 / 9007199254740992.0) * total;
    size_t last = 0;
    for (size_t i = 0; i < k; i++) {
        if (sc->sim[i] <= 0)
            continue;
        last = i;
        point -= sc->sim[i];
        if (point < 0)
            return &s->nodes[sc->cand[i]];
    }
    return &s->nodes[sc->cand[last]];
}

int wsb_select_has_room(const struct wsb_snapshot *s, uint32_t i)
{
    return has_room(s, i);
}

double wsb_select_similarity(const struct wsb_snapshot *s, uint32_t i, const struct wsb_client_loc *client)
{
    double cx = 0, cy = 0, cz = 0;
    if (client->has_coords)
        wsb_geo_unit(client->lat, client->lon, &cx, &cy, &cz);
    return similarity(&s->nodes[i], client, client->has_coords, cx, cy, cz,
                      cos(WSB_SAME_CONTINENT_KM / WSB_EARTH_RADIUS_KM));
}

double wsb_select_km(double sim)
{
    return wsb_geo_angle(sim) * WSB_EARTH_RADIUS_KM;
}

/* Steps 1 to 4, with the nodes ex[0..n_ex) treated as full. */
static int candidates(const struct wsb_snapshot *s, unsigned version, const struct wsb_client_loc *client,
                      const uint32_t *ex, size_t n_ex, struct wsb_select_scratch *sc, size_t *k,
                      struct wsb_select_band *band)
{
    struct wsb_select_band ignored;
    if (band == NULL)
        band = &ignored;
    memset(band, 0, sizeof *band);
    *k = 0;
    if (s == NULL || s->n_nodes == 0)
        return WSB_NO_SERVERS_AVAILABLE;
    const struct wsb_version_entry *e = wsb_snapshot_version(s, version);
    if (e == NULL)
        return WSB_NO_SERVERS_VERSION;
    if (e->n == 0)
        return e->error;   /* wsb_select_version_code's, precomputed */
    if (sc->cap < e->n)
        return WSB_NO_SERVERS_AVAILABLE;   /* caller did not reserve: refuse, never overrun */
    band->located = client != NULL &&
                    (client->has_coords || client->country[0] != '\0' || client->continent[0] != '\0');
    size_t n;
    if (!band->located)
        n = anywhere(s, e, sc, ex, n_ex);
    else if (client->has_coords && e->coords)
        n = near_by_distance(s, e, client, sc, band, ex, n_ex);
    else
        n = near_by_tier(s, e, client, sc, band, ex, n_ex);
    if (n == 0)
        return WSB_NO_SERVERS_AVAILABLE;   /* every eligible node filled up since its check */
    *k = n;
    return WSB_SELECT_OK;
}

int wsb_select_candidates(const struct wsb_snapshot *s, unsigned version, const struct wsb_client_loc *client,
                          struct wsb_select_scratch *sc, size_t *k, struct wsb_select_band *band)
{
    return candidates(s, version, client, NULL, 0, sc, k, band);
}

int wsb_select_candidates_for(const struct wsb_snapshot *s, const struct wsb_select_request *rq,
                              struct wsb_select_scratch *sc, size_t *k, struct wsb_select_band *band)
{
    return candidates(s, rq->version, rq->client, rq->exclude, rq->n_exclude, sc, k, band);
}

size_t wsb_select_match_exclude(const struct wsb_snapshot *s, unsigned version, const char *const *ends,
                                const size_t *lens, size_t n, uint32_t *out, size_t cap)
{
    const struct wsb_version_entry *e = s != NULL ? wsb_snapshot_version(s, version) : NULL;
    size_t found = 0;
    if (e == NULL || n == 0)
        return 0;
    for (size_t i = 0; i < e->n && found < cap; i++) {
        const char *ep = s->nodes[e->eligible[i]].node.endpoint;
        for (size_t j = 0; j < n; j++)
            if (strncmp(ep, ends[j], lens[j]) == 0 && ep[lens[j]] == '\0') {
                out[found++] = e->eligible[i];
                break;
            }
    }
    return found;
}

int wsb_select(const struct wsb_snapshot *s, unsigned version, const struct wsb_client_loc *client,
               uint64_t rnd, long long now_ms, struct wsb_select_scratch *sc, const struct wsb_snap_node **out)
{
    *out = NULL;
    size_t k;
    int code = wsb_select_candidates(s, version, client, sc, &k, NULL);
    if (code != WSB_SELECT_OK)
        return code;
    *out = weighted_draw(s, sc, k, rnd, now_ms);
    return *out != NULL ? WSB_SELECT_OK : WSB_NO_SERVERS_AVAILABLE;
}

/* Step 5 for a request: the affinity pick or the weighted draw. */
static const struct wsb_snap_node *choose(const struct wsb_snapshot *s, const struct wsb_select_request *rq,
                                          struct wsb_select_scratch *sc, size_t k, uint64_t rnd, long long now_ms)
{
    if (rq->has_affinity)
        return wsb_affinity_pick(s, sc, k, rq->affinity_hash, rq->balance, now_ms);
    return weighted_draw(s, sc, k, rnd, now_ms);
}

int wsb_select_for(const struct wsb_snapshot *s, const struct wsb_select_request *rq, uint64_t rnd,
                   long long now_ms, struct wsb_select_scratch *sc, const struct wsb_snap_node **out)
{
    *out = NULL;
    size_t k;
    int code = candidates(s, rq->version, rq->client, rq->exclude, rq->n_exclude, sc, &k, NULL);
    if (code == WSB_SELECT_OK)
        *out = choose(s, rq, sc, k, rnd, now_ms);
    if (*out == NULL && rq->n_exclude > 0 && (code == WSB_SELECT_OK || code == WSB_NO_SERVERS_AVAILABLE)) {
        /* Nothing usable but what the client excluded: answer as if it
         * had excluded nothing. */
        code = candidates(s, rq->version, rq->client, NULL, 0, sc, &k, NULL);
        if (code == WSB_SELECT_OK)
            *out = choose(s, rq, sc, k, rnd, now_ms);
    }
    if (code != WSB_SELECT_OK)
        return code;
    return *out != NULL ? WSB_SELECT_OK : WSB_NO_SERVERS_AVAILABLE;
}

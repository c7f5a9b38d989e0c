/* select.c: the selection policy, from node eligibility to the weighted draw (see select.h). */
#include "select.h"
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

void wsb_select_judge(const struct wsb_node *nd, int live, int run_time_drained,
                      const struct wsb_snapshot_params *p, struct wsb_node_judgement *out)
{
    memset(out, 0, sizeof *out);
    out->online = live && nd->online;
    out->drained = nd->drain || run_time_drained;
    out->overloaded = nd->load_known && nd->load >= p->max_load;
    int scheme_ok = p->allow_ws || strncmp(nd->endpoint, "wss://", 6) == 0;
    out->eligible = out->online && !out->drained && !out->overloaded && scheme_ok;
    if (out->eligible) {
        double load = nd->load_known ? nd->load : p->unknown_load;
        /* Headroom below the maximum; a floor keeps a node that is nearly
         * full (or assumed so) from vanishing altogether. */
        out->weight = p->max_load - load;
        if (out->weight < 0.001)
            out->weight = 0.001;
    }
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

/* The similarity bound of the candidates: the nearest (similarity best)
 * widened by near_km, cos(acos(best) + near), less a rounding margin. */
static double near_bound(const struct wsb_snapshot *s, double best)
{
    double bound = -1.0;
    if (best > 1.0)
        best = 1.0;
    if (best > -s->near_cos)   /* else acos(best) + near reaches the antipode */
        bound = best * s->near_cos - sqrt((1.0 - best) * (1.0 + best)) * s->near_sin;
    return bound - 1e-12;
}

/* Step 4 for a client with coordinates and a version whose eligible nodes
 * all have them: similarity is a dot product, and only the client's cell
 * list (when indexed) is scanned.  Puts the candidates in sc->cand and
 * returns their count. */
static size_t near_by_distance(const struct wsb_snapshot *s, const struct wsb_version_entry *e,
                               const struct wsb_client_loc *client, struct wsb_select_scratch *sc)
{
    const uint32_t *scan = e->eligible;
    size_t n_scan = e->n, k = 0;
    double cx, cy, cz, best = -2.0, *sim = sc->sim;
    wsb_geo_unit(client->lat, client->lon, &cx, &cy, &cz);
    if (e->index != NULL)
        scan = wsb_cell_index_list(e->index, client->lat, client->lon, &n_scan);
    const struct wsb_snap_node *nodes = s->nodes;
    for (size_t i = 0; i < n_scan; i++) {
        const struct wsb_snap_node *sn = &nodes[scan[i]];
        double d = sn->x * cx + sn->y * cy + sn->z * cz;
        sim[i] = d;
        best = best > d ? best : d;
    }
    double bound = near_bound(s, best);
    for (size_t i = 0; i < n_scan; i++) {
        sc->cand[k] = scan[i];
        k += sim[i] >= bound;
    }
    return k;
}

/* Step 4 otherwise: distance where both sides have coordinates, else the
 * country and continent tiers (see select.h).  Puts the candidates in
 * sc->cand and returns their count. */
static size_t near_by_tier(const struct wsb_snapshot *s, const struct wsb_version_entry *e,
                           const struct wsb_client_loc *client, struct wsb_select_scratch *sc)
{
    double cx = 0, cy = 0, cz = 0, best = -2.0;
    size_t k = 0;
    if (client->has_coords)
        wsb_geo_unit(client->lat, client->lon, &cx, &cy, &cz);
    const double same_continent = cos(WSB_SAME_CONTINENT_KM / WSB_EARTH_RADIUS_KM);
    for (size_t i = 0; i < e->n; i++) {
        double d = similarity(&s->nodes[e->eligible[i]], client, client->has_coords, cx, cy, cz, same_continent);
        sc->sim[i] = d;
        if (d > best)
            best = d;
    }
    double bound = near_bound(s, best);
    for (size_t i = 0; i < e->n; i++)
        if (sc->sim[i] >= bound)
            sc->cand[k++] = e->eligible[i];
    return k;
}

/* Step 5: one of the k >= 1 candidates, drawn with probability in
 * proportion to its weight; 53 random bits of rnd make a uniform point in
 * [0, total). */
static const struct wsb_snap_node *weighted_draw(const struct wsb_snapshot *s, const uint32_t *cand, size_t k,
                                                 uint64_t rnd)
{
    if (k == 1)
        return &s->nodes[cand[0]];
    double total = 0;
    for (size_t i = 0; i < k; i++)
        total += s->nodes[cand[i]].weight;
    double point = (double)(rnd >> 11) * (1.0 / 9007199254740992.0) * total;
    for (size_t i = 0; i < k; i++) {
        point -= s->nodes[cand[i]].weight;
        if (point < 0)
            return &s->nodes[cand[i]];
    }
    return &s->nodes[cand[k - 1]];
}

int wsb_select(const struct wsb_snapshot *s, unsigned version, const struct wsb_client_loc *client,
               uint64_t rnd, struct wsb_select_scratch *sc, const struct wsb_snap_node **out)
{
    *out = NULL;
    if (s == NULL || s->n_nodes == 0)
        return WSB_NO_SERVERS_AVAILABLE;
    const struct wsb_version_entry *e = wsb_snapshot_version(s, version);
    if (e == NULL)
        return WSB_NO_SERVERS_VERSION;
    if (e->n == 0)
        return e->error;   /* wsb_select_version_code's, precomputed */
    if (e->n == 1) {
        *out = &s->nodes[e->eligible[0]];
        return WSB_SELECT_OK;
    }
    if (sc->cap < e->n)
        return WSB_NO_SERVERS_AVAILABLE;   /* caller did not reserve: refuse, never overrun */
    int located = client != NULL &&
                  (client->has_coords || client->country[0] != '\0' || client->continent[0] != '\0');
    size_t k;
    if (!located) {
        memcpy(sc->cand, e->eligible, e->n * sizeof *sc->cand);
        k = e->n;
    } else if (client->has_coords && e->coords) {
        k = near_by_distance(s, e, client, sc);
    } else {
        k = near_by_tier(s, e, client, sc);
    }
    *out = weighted_draw(s, sc->cand, k, rnd);
    return WSB_SELECT_OK;
}

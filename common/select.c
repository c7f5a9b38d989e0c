/* select.c: the pure selection function (see select.h for the policy). */
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

static const struct wsb_version_entry *find_version(const struct wsb_snapshot *s, unsigned v)
{
    size_t lo = 0, hi = s->n_versions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->versions[mid].version < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n_versions && s->versions[lo].version == v ? &s->versions[lo] : NULL;
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

/* Cell of a client with coordinates. */
static size_t cell_of(double lat, double lon)
{
    int a = (int)((lat + 90.0) / WSB_CELL_DEG), b = (int)((lon + 180.0) / WSB_CELL_DEG);
    if (a < 0)
        a = 0;
    if (a >= WSB_LAT_CELLS)
        a = WSB_LAT_CELLS - 1;
    if (b < 0)
        b = 0;
    if (b >= WSB_LON_CELLS)
        b = WSB_LON_CELLS - 1;
    return (size_t)a * WSB_LON_CELLS + (size_t)b;
}

int wsb_select(const struct wsb_snapshot *s, unsigned version, const struct wsb_client_loc *client,
               uint64_t rnd, struct wsb_select_scratch *sc, const struct wsb_snap_node **out)
{
    *out = NULL;
    if (s == NULL || s->n_nodes == 0)
        return WSB_NO_SERVERS_AVAILABLE;
    const struct wsb_version_entry *e = find_version(s, version);
    if (e == NULL)
        return WSB_NO_SERVERS_VERSION;
    if (e->n == 0)
        return e->error;
    if (e->n == 1) {
        *out = &s->nodes[e->eligible[0]];
        return WSB_SELECT_OK;
    }
    if (sc->cap < e->n)
        return WSB_NO_SERVERS_AVAILABLE;   /* caller did not reserve: refuse, never overrun */

    int located = client != NULL &&
                  (client->has_coords || client->country[0] != '\0' || client->continent[0] != '\0');
    const uint32_t *scan = e->eligible;
    size_t n_scan = e->n;
    uint32_t *cand = sc->cand;
    size_t k = 0;
    if (!located) {
        memcpy(cand, e->eligible, e->n * sizeof *cand);
        k = e->n;
    } else {
        double cx = 0, cy = 0, cz = 0;
        if (client->has_coords) {
            wsb_geo_unit(client->lat, client->lon, &cx, &cy, &cz);
            if (e->index != NULL) {
                size_t cell = cell_of(client->lat, client->lon);
                scan = e->index->items + e->index->start[cell];
                n_scan = e->index->start[cell + 1] - e->index->start[cell];
            }
        }
        const double same_continent = cos(WSB_SAME_CONTINENT_KM / WSB_EARTH_RADIUS_KM);
        double best = -2.0;
        for (size_t i = 0; i < n_scan; i++) {
            double sim = similarity(&s->nodes[scan[i]], client, client->has_coords, cx, cy, cz, same_continent);
            sc->sim[i] = sim;
            if (sim > best)
                best = sim;
        }
        /* Widen the nearest distance by near_km, back to a similarity bound. */
        double angle = acos(best > 1.0 ? 1.0 : best) + s->near_km / WSB_EARTH_RADIUS_KM;
        double bound = angle >= M_PI ? -1.0 : cos(angle);
        bound -= 1e-12;
        for (size_t i = 0; i < n_scan; i++)
            if (sc->sim[i] >= bound)
                cand[k++] = scan[i];
    }
    if (k == 1) {
        *out = &s->nodes[cand[0]];
        return WSB_SELECT_OK;
    }
    /* Weighted draw: 53 random bits make a uniform point in [0, total). */
    double total = 0;
    for (size_t i = 0; i < k; i++)
        total += s->nodes[cand[i]].weight;
    double point = (double)(rnd >> 11) * (1.0 / 9007199254740992.0) * total;
    size_t chosen = k - 1;
    for (size_t i = 0; i < k; i++) {
        point -= s->nodes[cand[i]].weight;
        if (point < 0) {
            chosen = i;
            break;
        }
    }
    *out = &s->nodes[cand[chosen]];
    return WSB_SELECT_OK;
}

/* snapshot.c: turns decoded node records into the read-optimised snapshot. */
#include "snapshot.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void wsb_geo_unit(double lat, double lon, double *x, double *y, double *z)
{
    const double rad = M_PI / 180.0;
    double la = lat * rad, lo = lon * rad;
    *x = cos(la) * cos(lo);
    *y = cos(la) * sin(lo);
    *z = sin(la);
}

static char *success_body(const struct wsb_node *n, size_t *len)
{
    char *text = NULL;
    cJSON *o = cJSON_CreateObject();
    if (o != NULL && cJSON_AddStringToObject(o, "endpoint", n->endpoint) &&
        cJSON_AddStringToObject(o, "location", n->location))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text != NULL)
        *len = strlen(text);
    return text;
}

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

static int is_drained(const char *id, char *const *drain_ids, size_t n_drain)
{
    for (size_t i = 0; i < n_drain; i++)
        if (strcmp(drain_ids[i], id) == 0)
            return 1;
    return 0;
}

static void snapshot_free(struct wsb_snapshot *s)
{
    for (size_t i = 0; i < s->n_nodes; i++) {
        wsb_node_clear(&s->nodes[i].node);
        free(s->nodes[i].body);
    }
    free(s->nodes);
    for (size_t i = 0; i < s->n_versions; i++) {
        free(s->versions[i].eligible);
        if (s->versions[i].index != NULL)
            free(s->versions[i].index->items);
        free(s->versions[i].index);
    }
    free(s->versions);
    free(s);
}

struct wsb_snapshot *wsb_snapshot_empty(void)
{
    struct wsb_snapshot *s = calloc(1, sizeof *s);
    if (s != NULL)
        s->refs = 1;
    return s;
}

/* FNV-1a over the bytes of what a cell index depends on. */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static const struct wsb_cell_index *find_index(const struct wsb_snapshot *prev, unsigned version, uint64_t key)
{
    if (prev == NULL)
        return NULL;
    for (size_t i = 0; i < prev->n_versions; i++)
        if (prev->versions[i].version == version && prev->versions[i].index != NULL &&
            prev->versions[i].index->key == key)
            return prev->versions[i].index;
    return NULL;
}

/* Central angle (radians) between two unit vectors. */
static double angle_between(double dot)
{
    return acos(dot > 1.0 ? 1.0 : dot < -1.0 ? -1.0 : dot);
}

/* Builds the cell index of one version's eligible nodes (all with
 * coordinates).  For the cell around centre c with radius r (the farthest
 * a point of the cell can be from c), let D be the distance from c to its
 * nearest node.  A client p in the cell has its nearest node within D + r,
 * so a candidate (within near_km of that) is within D + r + near_km of p,
 * and within D + 2r + near_km of c: only those nodes are listed. */
static struct wsb_cell_index *build_index(const struct wsb_snapshot *s, const struct wsb_version_entry *e,
                                          double near_km, uint64_t key)
{
    struct wsb_cell_index *ix = calloc(1, sizeof *ix);
    uint32_t *list = malloc(e->n * sizeof *list);
    size_t cap = e->n * 4 + 64;
    if (ix == NULL || list == NULL)
        goto fail;
    ix->key = key;
    ix->items = malloc(cap * sizeof *ix->items);
    if (ix->items == NULL)
        goto fail;
    const double R = 6371.0;
    for (int a = 0; a < WSB_LAT_CELLS; a++) {
        double lat0 = -90.0 + a * WSB_CELL_DEG, lat1 = lat0 + WSB_CELL_DEG, clat = lat0 + WSB_CELL_DEG / 2.0;
        for (int b = 0; b < WSB_LON_CELLS; b++) {
            double lon0 = -180.0 + b * WSB_CELL_DEG, clon = lon0 + WSB_CELL_DEG / 2.0;
            double cx, cy, cz, r = 0;
            wsb_geo_unit(clat, clon, &cx, &cy, &cz);
            /* The corners and edge midpoints bound a small lat/lon cell. */
            static const double fx[] = { 0, 0.5, 1 };
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    double px, py, pz;
                    wsb_geo_unit(lat0 + fx[i] * (lat1 - lat0), lon0 + fx[j] * WSB_CELL_DEG, &px, &py, &pz);
                    double d = angle_between(px * cx + py * cy + pz * cz);
                    if (d > r)
                        r = d;
                }
            r += 1.0 / R;   /* rounding margin: 1 km */
            double best = -2.0;
            for (size_t i = 0; i < e->n; i++) {
                const struct wsb_snap_node *sn = &s->nodes[e->eligible[i]];
                double dot = sn->x * cx + sn->y * cy + sn->z * cz;
                if (dot > best)
                    best = dot;
            }
            double reach = angle_between(best) + 2 * r + near_km / R;
            double bound = reach >= M_PI ? -2.0 : cos(reach) - 1e-12;
            size_t k = 0;
            for (size_t i = 0; i < e->n; i++) {
                const struct wsb_snap_node *sn = &s->nodes[e->eligible[i]];
                if (sn->x * cx + sn->y * cy + sn->z * cz >= bound)
                    list[k++] = e->eligible[i];
            }
            size_t cell = (size_t)a * WSB_LON_CELLS + (size_t)b;
            ix->start[cell] = (uint32_t)ix->n_items;
            if (ix->n_items + k > cap) {
                cap = (ix->n_items + k) * 2;
                uint32_t *grown = realloc(ix->items, cap * sizeof *grown);
                if (grown == NULL)
                    goto fail;
                ix->items = grown;
            }
            memcpy(ix->items + ix->n_items, list, k * sizeof *list);
            ix->n_items += k;
        }
    }
    ix->start[WSB_CELLS] = (uint32_t)ix->n_items;
    free(list);
    return ix;
fail:
    free(list);
    if (ix != NULL)
        free(ix->items);
    free(ix);
    return NULL;
}

static struct wsb_cell_index *copy_index(const struct wsb_cell_index *from)
{
    struct wsb_cell_index *ix = malloc(sizeof *ix);
    if (ix == NULL)
        return NULL;
    *ix = *from;
    ix->items = malloc((from->n_items ? from->n_items : 1) * sizeof *ix->items);
    if (ix->items == NULL) {
        free(ix);
        return NULL;
    }
    memcpy(ix->items, from->items, from->n_items * sizeof *ix->items);
    return ix;
}

/* Gives a version with many eligible nodes, all with coordinates, its
 * cell index: copied from prev when built from the same input, else built.
 * Returns WSB_OK or WSB_ENOMEM. */
static int index_version(struct wsb_snapshot *s, struct wsb_version_entry *e, const struct wsb_snapshot *prev)
{
    if (e->n < WSB_INDEX_MIN_NODES)
        return WSB_OK;
    uint64_t key = 0xcbf29ce484222325ull;
    key = fnv(key, &s->near_km, sizeof s->near_km);
    for (size_t i = 0; i < e->n; i++) {
        const struct wsb_snap_node *sn = &s->nodes[e->eligible[i]];
        if (!sn->node.has_coords)
            return WSB_OK;   /* country/continent tiers: scan */
        key = fnv(key, &e->eligible[i], sizeof e->eligible[i]);
        key = fnv(key, &sn->node.lat, sizeof sn->node.lat);
        key = fnv(key, &sn->node.lon, sizeof sn->node.lon);
    }
    const struct wsb_cell_index *old = find_index(prev, e->version, key);
    e->index = old != NULL ? copy_index(old) : build_index(s, e, s->near_km, key);
    return e->index != NULL ? WSB_OK : WSB_ENOMEM;
}

int wsb_snapshot_build(struct wsb_node *nodes, size_t n, int live, char *const *drain_ids,
                       size_t n_drain, size_t n_skipped, const struct wsb_snapshot_params *p,
                       const struct wsb_snapshot *prev, struct wsb_snapshot **out)
{
    int status = WSB_ENOMEM;
    unsigned *all_versions = NULL;
    struct wsb_snapshot *s = wsb_snapshot_empty();
    if (s == NULL)
        goto cleanup;
    s->live = live;
    s->n_skipped = n_skipped;
    s->near_km = p->near_km;
    if (n > 0) {
        s->nodes = calloc(n, sizeof *s->nodes);
        if (s->nodes == NULL)
            goto cleanup;
    }
    size_t n_all = 0;
    for (size_t i = 0; i < n; i++) {
        struct wsb_snap_node *sn = &s->nodes[s->n_nodes++];
        sn->node = nodes[i];
        wsb_node_init(&nodes[i]);
        struct wsb_node *nd = &sn->node;
        n_all += nd->n_versions;
        if (!live)
            nd->online = 0;
        if (is_drained(nd->id, drain_ids, n_drain))
            nd->drain = 1;
        if (nd->has_coords)
            wsb_geo_unit(nd->lat, nd->lon, &sn->x, &sn->y, &sn->z);
        int overloaded = nd->load_known && nd->load >= p->max_load;
        int scheme_ok = p->allow_ws || strncmp(nd->endpoint, "wss://", 6) == 0;
        s->n_online += nd->online != 0;
        s->n_draining += nd->drain != 0;
        s->n_overloaded += nd->online && overloaded;
        sn->eligible = nd->online && !nd->drain && !overloaded && scheme_ok;
        if (sn->eligible) {
            double load = nd->load_known ? nd->load : p->unknown_load;
            /* Headroom below the maximum; a floor keeps a node that is
             * nearly full (or assumed so) from vanishing altogether. */
            sn->weight = p->max_load - load;
            if (sn->weight < 0.001)
                sn->weight = 0.001;
            s->n_eligible++;
            sn->body = success_body(nd, &sn->body_len);
            if (sn->body == NULL)
                goto cleanup;
        }
    }

    /* The distinct versions, sorted. */
    if (n_all > 0) {
        all_versions = malloc(n_all * sizeof *all_versions);
        if (all_versions == NULL)
            goto cleanup;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->n_nodes; i++)
        for (size_t j = 0; j < s->nodes[i].node.n_versions; j++)
            all_versions[k++] = s->nodes[i].node.versions[j];
    if (k > 0)
        qsort(all_versions, k, sizeof *all_versions, cmp_unsigned);
    size_t distinct = 0;
    for (size_t i = 0; i < k; i++)
        if (distinct == 0 || all_versions[distinct - 1] != all_versions[i])
            all_versions[distinct++] = all_versions[i];
    if (distinct > 0) {
        s->versions = calloc(distinct, sizeof *s->versions);
        if (s->versions == NULL)
            goto cleanup;
    }
    for (size_t v = 0; v < distinct; v++) {
        struct wsb_version_entry *e = &s->versions[s->n_versions++];
        e->version = all_versions[v];
        size_t any_online = 0, count = 0;
        for (size_t i = 0; i < s->n_nodes; i++) {
            const struct wsb_snap_node *sn = &s->nodes[i];
            for (size_t j = 0; j < sn->node.n_versions; j++) {
                if (sn->node.versions[j] != e->version)
                    continue;
                any_online += sn->node.online != 0;
                count += sn->eligible != 0;
                break;
            }
        }
        if (count > 0) {
            e->eligible = malloc(count * sizeof *e->eligible);
            if (e->eligible == NULL)
                goto cleanup;
            for (size_t i = 0; i < s->n_nodes; i++) {
                const struct wsb_snap_node *sn = &s->nodes[i];
                if (!sn->eligible)
                    continue;
                for (size_t j = 0; j < sn->node.n_versions; j++)
                    if (sn->node.versions[j] == e->version) {
                        e->eligible[e->n++] = (uint32_t)i;
                        break;
                    }
            }
        }
        e->error = e->n > 0 ? 0 : any_online ? 100 : 101;
        if (index_version(s, e, prev) != WSB_OK)
            goto cleanup;
        if (e->n > s->max_eligible)
            s->max_eligible = e->n;
    }
    *out = s;
    s = NULL;
    status = WSB_OK;
cleanup:
    free(all_versions);
    if (s != NULL)
        snapshot_free(s);
    if (status != WSB_OK)
        for (size_t i = 0; i < n; i++)
            wsb_node_clear(&nodes[i]);
    return status;
}

struct wsb_snapshot *wsb_snapshot_ref(struct wsb_snapshot *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void wsb_snapshot_unref(struct wsb_snapshot *s)
{
    if (s != NULL && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        snapshot_free(s);
}

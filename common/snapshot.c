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

static void index_free(struct wsb_cell_index *ix)
{
    if (ix == NULL)
        return;
    free(ix->start);
    free(ix->items);
    free(ix);
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
        index_free(s->versions[i].index);
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

/* The farthest a point of a deg x deg cell of row a can be from the
 * cell's centre, in radians.  For a fixed latitude the distance to the
 * centre grows with the difference in longitude, and along a meridian it
 * peaks at an end, so the corners bound it (the edge midpoints are checked
 * too, to be safe); 1 km more covers rounding and a client put in a
 * neighbouring cell by rounding.  It does not depend on the column. */
static double cell_radius(double deg, unsigned a)
{
    static const double fx[] = { 0, 0.5, 1 };
    double lat0 = -90.0 + a * deg, cx, cy, cz, r = 0;
    wsb_geo_unit(lat0 + deg / 2, 0, &cx, &cy, &cz);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double px, py, pz;
            wsb_geo_unit(lat0 + fx[i] * deg, (fx[j] - 0.5) * deg, &px, &py, &pz);
            double d = angle_between(px * cx + py * cy + pz * cz);
            if (d > r)
                r = d;
        }
    return r + 1.0 / 6371.0;
}

/* One level of the cell grid while the index is built: for every cell, the
 * positions (into the version's eligible list) of the nodes it lists. */
struct cell_level {
    double deg;
    unsigned rows, cols;
    uint32_t *start;          /* rows * cols + 1 */
    uint32_t *items;
    size_t n_items, cap;
};

static void level_free(struct cell_level *lv)
{
    free(lv->start);
    free(lv->items);
    lv->start = NULL;
    lv->items = NULL;
}

/* Lists the cell around centre c (radius r, radians) from the nodes of
 * from[] (positions into pts, three coordinates each), appending to lv.
 * With D the distance from c to its nearest node, a client p in the cell
 * has its nearest node within D + r, so a candidate (within near of that)
 * is within D + r + near of p, and within D + 2r + near of c: only those
 * nodes are listed.  from[] must hold every candidate of every point of
 * the cell; then it also holds c's nearest node (a candidate for c), so D
 * is exact.  dot is scratch for n_from entries.  WSB_OK or WSB_ENOMEM. */
static int list_cell(struct cell_level *lv, const double *pts, const uint32_t *from, size_t n_from,
                     const double c[3], double r, double near, double *dot)
{
    double best = -2.0;
    for (size_t i = 0; i < n_from; i++) {
        const double *p = pts + 3 * (size_t)from[i];
        double d = p[0] * c[0] + p[1] * c[1] + p[2] * c[2];
        dot[i] = d;
        best = d > best ? d : best;
    }
    double reach = angle_between(best) + 2 * r + near;
    double bound = reach >= M_PI ? -2.0 : cos(reach) - 1e-12;
    if (lv->n_items + n_from > lv->cap) {
        size_t cap = (lv->n_items + n_from) * 2;
        uint32_t *grown = realloc(lv->items, cap * sizeof *grown);
        if (grown == NULL)
            return WSB_ENOMEM;
        lv->items = grown;
        lv->cap = cap;
    }
    uint32_t *out = lv->items + lv->n_items;
    size_t k = 0;
    for (size_t i = 0; i < n_from; i++) {
        out[k] = from[i];
        k += dot[i] >= bound;
    }
    lv->n_items += k;
    return WSB_OK;
}

/* Lists every cell of lv (deg set), each from the list of its parent cell
 * in up (twice the size), or from all n nodes when up is NULL.
 * WSB_OK or WSB_ENOMEM (lv keeps what it had, for level_free). */
static int list_level(struct cell_level *lv, const struct cell_level *up, const double *pts, const uint32_t *all,
                      size_t n, double near, double *dot)
{
    lv->rows = (unsigned)(180.0 / lv->deg + 0.5);
    lv->cols = (unsigned)(360.0 / lv->deg + 0.5);
    size_t cells = (size_t)lv->rows * lv->cols;
    double *lon_cos = malloc(lv->cols * sizeof *lon_cos), *lon_sin = malloc(lv->cols * sizeof *lon_sin);
    lv->start = malloc((cells + 1) * sizeof *lv->start);
    int status = WSB_ENOMEM;
    if (lon_cos == NULL || lon_sin == NULL || lv->start == NULL)
        goto cleanup;
    const double rad = M_PI / 180.0;
    for (unsigned b = 0; b < lv->cols; b++) {
        double clon = (-180.0 + (b + 0.5) * lv->deg) * rad;
        lon_cos[b] = cos(clon);
        lon_sin[b] = sin(clon);
    }
    for (unsigned a = 0; a < lv->rows; a++) {
        double clat = (-90.0 + (a + 0.5) * lv->deg) * rad, r = cell_radius(lv->deg, a);
        double lat_cos = cos(clat), lat_sin = sin(clat);
        for (unsigned b = 0; b < lv->cols; b++) {
            const uint32_t *from = all;
            size_t n_from = n;
            if (up != NULL) {
                size_t parent = (size_t)(a / 2) * up->cols + b / 2;
                from = up->items + up->start[parent];
                n_from = up->start[parent + 1] - up->start[parent];
            }
            const double c[3] = { lat_cos * lon_cos[b], lat_cos * lon_sin[b], lat_sin };
            lv->start[(size_t)a * lv->cols + b] = (uint32_t)lv->n_items;
            if (list_cell(lv, pts, from, n_from, c, r, near, dot) != WSB_OK)
                goto cleanup;
        }
    }
    lv->start[cells] = (uint32_t)lv->n_items;
    status = WSB_OK;
cleanup:
    free(lon_cos);
    free(lon_sin);
    return status;
}

/* Builds the cell index of one version's eligible nodes (all with
 * coordinates).  Only the coarse grid compares every cell with every node;
 * each finer level, with cells half as wide, lists a cell by filtering its
 * parent's list, which holds every candidate of the child's points.
 * Returns the index, or NULL on ENOMEM. */
static struct wsb_cell_index *build_index(const struct wsb_snapshot *s, const struct wsb_version_entry *e,
                                          double near_km, uint64_t key)
{
    struct wsb_cell_index *ix = calloc(1, sizeof *ix);
    double *pts = malloc(3 * e->n * sizeof *pts), *dot = malloc(e->n * sizeof *dot);
    uint32_t *all = malloc(e->n * sizeof *all);
    struct cell_level up = { 0 }, lv = { 0 };
    int ok = 0;
    if (ix == NULL || pts == NULL || dot == NULL || all == NULL)
        goto cleanup;
    for (size_t i = 0; i < e->n; i++) {
        const struct wsb_snap_node *sn = &s->nodes[e->eligible[i]];
        pts[3 * i] = sn->x;
        pts[3 * i + 1] = sn->y;
        pts[3 * i + 2] = sn->z;
        all[i] = (uint32_t)i;
    }
    double deg = e->n >= WSB_FINE_FROM_NODES ? WSB_CELL_DEG_FINE : WSB_CELL_DEG;
    double near = near_km / 6371.0;
    for (lv.deg = WSB_CELL_DEG_COARSE;; lv.deg /= 2) {
        if (list_level(&lv, up.deg > 0 ? &up : NULL, pts, all, e->n, near, dot) != WSB_OK)
            goto cleanup;
        if (lv.deg <= deg)
            break;
        level_free(&up);
        up = lv;
        lv = (struct cell_level){ .deg = up.deg };
    }
    /* Positions into eligible[] become node indexes; the spare room goes. */
    for (size_t i = 0; i < lv.n_items; i++)
        lv.items[i] = e->eligible[lv.items[i]];
    uint32_t *fit = realloc(lv.items, (lv.n_items ? lv.n_items : 1) * sizeof *fit);
    if (fit != NULL)
        lv.items = fit;
    ix->key = key;
    ix->deg = lv.deg;
    ix->lat_cells = lv.rows;
    ix->lon_cells = lv.cols;
    ix->start = lv.start;
    ix->items = lv.items;
    ix->n_items = lv.n_items;
    lv.start = NULL;
    lv.items = NULL;
    ok = 1;
cleanup:
    level_free(&up);
    level_free(&lv);
    free(pts);
    free(dot);
    free(all);
    if (!ok) {
        free(ix);
        ix = NULL;
    }
    return ix;
}

static struct wsb_cell_index *copy_index(const struct wsb_cell_index *from)
{
    size_t cells = (size_t)from->lat_cells * from->lon_cells;
    struct wsb_cell_index *ix = malloc(sizeof *ix);
    if (ix == NULL)
        return NULL;
    *ix = *from;
    ix->start = malloc((cells + 1) * sizeof *ix->start);
    ix->items = malloc((from->n_items ? from->n_items : 1) * sizeof *ix->items);
    if (ix->start == NULL || ix->items == NULL) {
        index_free(ix);
        return NULL;
    }
    memcpy(ix->start, from->start, (cells + 1) * sizeof *ix->start);
    memcpy(ix->items, from->items, from->n_items * sizeof *ix->items);
    return ix;
}

/* Notes whether every eligible node of a version has coordinates, and
 * gives a version with many such nodes its cell index: copied from prev
 * when built from the same input, else built.  Returns WSB_OK or
 * WSB_ENOMEM. */
static int index_version(struct wsb_snapshot *s, struct wsb_version_entry *e, const struct wsb_snapshot *prev)
{
    e->coords = 1;
    for (size_t i = 0; i < e->n && e->coords; i++)
        e->coords = s->nodes[e->eligible[i]].node.has_coords;
    if (e->n < WSB_INDEX_MIN_NODES || !e->coords)
        return WSB_OK;   /* a plain scan: few nodes, or country/continent tiers */
    uint64_t key = 0xcbf29ce484222325ull;
    key = fnv(key, &s->near_km, sizeof s->near_km);
    for (size_t i = 0; i < e->n; i++) {
        const struct wsb_snap_node *sn = &s->nodes[e->eligible[i]];
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
    s->near_cos = cos(p->near_km / 6371.0);
    s->near_sin = sin(p->near_km / 6371.0);
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

/* snapshot.c: turns decoded node records into the read-optimised snapshot. */
#include "snapshot.h"
#include "hash.h"
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

static int same_string(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The 200 body of node i: a copy of prev's when prev's node i has the same
 * id, endpoint and location (a refresh mostly changes loads), else encoded.
 * NULL on ENOMEM. */
static char *body_of(const struct wsb_node *n, size_t i, const struct wsb_snapshot *prev, size_t *len)
{
    const struct wsb_snap_node *old = prev != NULL && i < prev->n_nodes ? &prev->nodes[i] : NULL;
    if (old == NULL || old->body == NULL || !same_string(old->node.id, n->id) ||
        !same_string(old->node.endpoint, n->endpoint) || !same_string(old->node.location, n->location))
        return success_body(n, len);
    char *copy = malloc(old->body_len + 1);
    if (copy != NULL) {
        memcpy(copy, old->body, old->body_len + 1);
        *len = old->body_len;
    }
    return copy;
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

/* The grids the index is built through, coarse to fine: each cell lies in
 * one cell of the grid before (the sizes divide each other).  Only the
 * first is compared with every node; WSB_CELL_DEG and WSB_CELL_DEG_FINE
 * must be among them. */
static const double LEVEL_DEG[] = { 60.0, 20.0, 10.0, 5.0, 2.5 };
#define N_LEVELS (sizeof LEVEL_DEG / sizeof LEVEL_DEG[0])

/* One grid while the index is built: for every cell, its list of
 * positions (into the version's eligible list), packed row after row as
 * the index keeps them. */
struct cell_level {
    double deg;
    unsigned rows, cols;
    uint32_t *start;          /* rows * cols + 1 offsets into items */
    uint32_t *items;
    size_t n_items, cap;
    /* Geometry: centre of cell (a, b) is (lat_cos[a] lon_cos[b],
     * lat_cos[a] lon_sin[b], lat_sin[a]); reach_cos/sin[a] are of 2r + near
     * (r: cell_radius of row a), reach_all[a] when that passes pi. */
    double *lat_cos, *lat_sin, *reach_cos, *reach_sin, *lon_cos, *lon_sin;
    unsigned char *reach_all;
};

static void level_free(struct cell_level *lv)
{
    free(lv->start);
    free(lv->items);
    free(lv->lat_cos);   /* one block with the other geometry arrays */
    free(lv->reach_all);
    memset(lv, 0, sizeof *lv);
}

/* Allocates lv's tables for cells of deg degrees, with room for cap list
 * entries to begin with, and fills its geometry.  WSB_OK or WSB_ENOMEM
 * (what was allocated stays for level_free). */
static int level_init(struct cell_level *lv, double deg, double near, size_t cap)
{
    lv->deg = deg;
    lv->rows = (unsigned)(180.0 / deg + 0.5);
    lv->cols = (unsigned)(360.0 / deg + 0.5);
    lv->cap = cap ? cap : 1;
    lv->start = malloc(((size_t)lv->rows * lv->cols + 1) * sizeof *lv->start);
    lv->items = malloc(lv->cap * sizeof *lv->items);
    lv->lat_cos = malloc((4 * (size_t)lv->rows + 2 * lv->cols) * sizeof *lv->lat_cos);
    lv->reach_all = malloc(lv->rows);
    if (lv->start == NULL || lv->items == NULL || lv->lat_cos == NULL || lv->reach_all == NULL)
        return WSB_ENOMEM;
    lv->lat_sin = lv->lat_cos + lv->rows;
    lv->reach_cos = lv->lat_sin + lv->rows;
    lv->reach_sin = lv->reach_cos + lv->rows;
    lv->lon_cos = lv->reach_sin + lv->rows;
    lv->lon_sin = lv->lon_cos + lv->cols;
    const double rad = M_PI / 180.0;
    for (unsigned a = 0; a < lv->rows; a++) {
        double clat = (-90.0 + (a + 0.5) * deg) * rad, alpha = 2 * cell_radius(deg, a) + near;
        lv->lat_cos[a] = cos(clat);
        lv->lat_sin[a] = sin(clat);
        lv->reach_cos[a] = cos(alpha);
        lv->reach_sin[a] = sin(alpha);
        lv->reach_all[a] = alpha >= M_PI;
    }
    for (unsigned b = 0; b < lv->cols; b++) {
        double clon = (-180.0 + (b + 0.5) * deg) * rad;
        lv->lon_cos[b] = cos(clon);
        lv->lon_sin[b] = sin(clon);
    }
    return WSB_OK;
}

/* cos(D + 2r + near) for the cells of row a from cos D (best), less a
 * rounding margin; -2 when that reaches the antipode. */
static double list_bound(const struct cell_level *lv, unsigned a, double best)
{
    double b = best > 1.0 ? 1.0 : best;
    if (lv->reach_all[a] || b <= -lv->reach_cos[a])
        return -2.0;
    return b * lv->reach_cos[a] - sqrt((1.0 - b) * (1.0 + b)) * lv->reach_sin[a] - 1e-12;
}

/* Cells listed in one pass over their common source list. */
#define GROUP 4

/* Lists g (1..GROUP) cells (row[j], col[j]) of lv from the nodes of
 * from[] (positions into pts, three coordinates each): cell j's list goes
 * to out + j * n_from, its length to len[j].
 *
 * For the cell around centre c with radius r, let D be the distance from
 * c to its nearest node.  A client p in the cell has its nearest node
 * within D + r, so a candidate (within near of that) is within D + r +
 * near of p, and within D + 2r + near of c: only those nodes are listed,
 * in the order of from[].  from[] must hold every candidate of every point
 * of the cells; then it holds each centre's nearest node (a candidate for
 * the centre), so D is exact.  dot is scratch for GROUP * n_from entries.
 * The cells share each pass over from[]; a short group repeats its last
 * cell, writing the same list to the same place. */
static void list_group(const struct cell_level *lv, const double *pts, const uint32_t *from, size_t n_from,
                       const unsigned row[], const unsigned col[], int g, double *dot, uint32_t *out,
                       size_t len[])
{
    double cx[GROUP], cy[GROUP], cz[GROUP];
    uint32_t *o[GROUP];
    unsigned rw[GROUP];
    for (int j = 0; j < GROUP; j++) {
        int c = j < g ? j : g - 1;
        rw[j] = row[c];
        cx[j] = lv->lat_cos[row[c]] * lv->lon_cos[col[c]];
        cy[j] = lv->lat_cos[row[c]] * lv->lon_sin[col[c]];
        cz[j] = lv->lat_sin[row[c]];
        o[j] = out + (size_t)c * n_from;
    }
    double b0 = -2.0, b1 = -2.0, b2 = -2.0, b3 = -2.0;
    for (size_t i = 0; i < n_from; i++) {
        const double *p = pts + 3 * (size_t)from[i];
        double x = p[0], y = p[1], z = p[2], *d = dot + GROUP * i;
        d[0] = x * cx[0] + y * cy[0] + z * cz[0];
        d[1] = x * cx[1] + y * cy[1] + z * cz[1];
        d[2] = x * cx[2] + y * cy[2] + z * cz[2];
        d[3] = x * cx[3] + y * cy[3] + z * cz[3];
        b0 = b0 > d[0] ? b0 : d[0];
        b1 = b1 > d[1] ? b1 : d[1];
        b2 = b2 > d[2] ? b2 : d[2];
        b3 = b3 > d[3] ? b3 : d[3];
    }
    const double q0 = list_bound(lv, rw[0], b0), q1 = list_bound(lv, rw[1], b1);
    const double q2 = list_bound(lv, rw[2], b2), q3 = list_bound(lv, rw[3], b3);
    uint32_t *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3];
    size_t k0 = 0, k1 = 0, k2 = 0, k3 = 0;
    for (size_t i = 0; i < n_from; i++) {
        uint32_t node = from[i];
        const double *d = dot + GROUP * i;
        o0[k0] = node;
        k0 += d[0] >= q0;
        o1[k1] = node;
        k1 += d[1] >= q1;
        o2[k2] = node;
        k2 += d[2] >= q2;
        o3[k3] = node;
        k3 += d[3] >= q3;
    }
    const size_t k[GROUP] = { k0, k1, k2, k3 };
    for (int j = 0; j < g; j++)
        len[j] = k[j];
}

/* Makes room in lv->items for more entries after n_items.  WSB_OK or
 * WSB_ENOMEM. */
static int level_reserve(struct cell_level *lv, size_t more)
{
    if (lv->n_items + more <= lv->cap)
        return WSB_OK;
    size_t cap = lv->cap + lv->cap / 2 + more;
    uint32_t *grown = realloc(lv->items, cap * sizeof *grown);
    if (grown == NULL)
        return WSB_ENOMEM;
    lv->items = grown;
    lv->cap = cap;
    return WSB_OK;
}

/* Entries the lists of a grid of deg degrees can take at most: every node
 * for every cell of the first grid (up NULL), else for every cell its
 * parent's list. */
static size_t level_room(const struct cell_level *up, double deg, size_t n)
{
    if (up == NULL)
        return (size_t)(180.0 / deg + 0.5) * (size_t)(360.0 / deg + 0.5) * n;
    size_t ratio = (size_t)(up->deg / deg + 0.5);
    return ratio * ratio * up->n_items;
}

/* Lists every cell of the first grid lv (set up by level_init) from all
 * n nodes, GROUP cells at a time, row after row.  WSB_OK or WSB_ENOMEM. */
static int list_top_level(struct cell_level *lv, const double *pts, const uint32_t *all, size_t n, double *dot)
{
    size_t cells = (size_t)lv->rows * lv->cols;
    for (size_t first = 0; first < cells; first += GROUP) {
        unsigned row[GROUP], col[GROUP];
        size_t len[GROUP];
        int g = cells - first < GROUP ? (int)(cells - first) : GROUP;
        for (int j = 0; j < g; j++) {
            row[j] = (unsigned)((first + (size_t)j) / lv->cols);
            col[j] = (unsigned)((first + (size_t)j) % lv->cols);
        }
        if (level_reserve(lv, (size_t)g * n) != WSB_OK)
            return WSB_ENOMEM;
        uint32_t *out = lv->items + lv->n_items;
        list_group(lv, pts, all, n, row, col, g, dot, out, len);
        for (int j = 0; j < g; j++) {
            memmove(lv->items + lv->n_items, out + (size_t)j * n, len[j] * sizeof *out);
            lv->start[first + (size_t)j] = (uint32_t)lv->n_items;
            lv->n_items += len[j];
        }
    }
    lv->start[cells] = (uint32_t)lv->n_items;
    return WSB_OK;
}

/* Lists every cell of lv (set up by level_init) from the list of the cell
 * of up that holds it, one row of up at a time: the ratio x ratio cells in
 * each of its cells, GROUP at a time, go to stage (slot (row - first row
 * of them) * cols + column of off[] and len[] says where), and from there
 * row after row to lv->items.  WSB_OK or WSB_ENOMEM. */
static int list_level(struct cell_level *lv, const struct cell_level *up, const double *pts, double *dot)
{
    unsigned ratio = (unsigned)(up->deg / lv->deg + 0.5), per_parent = ratio * ratio;
    size_t stage_cap = 0;
    for (unsigned pa = 0; pa < up->rows; pa++) {
        size_t row_len = up->start[(size_t)(pa + 1) * up->cols] - up->start[(size_t)pa * up->cols];
        stage_cap = per_parent * row_len > stage_cap ? per_parent * row_len : stage_cap;
    }
    uint32_t *stage = malloc((stage_cap ? stage_cap : 1) * sizeof *stage);
    size_t *off = malloc((size_t)per_parent * up->cols * sizeof *off);
    size_t *len = malloc((size_t)per_parent * up->cols * sizeof *len);
    int status = WSB_ENOMEM;
    if (stage == NULL || off == NULL || len == NULL)
        goto cleanup;
    for (unsigned pa = 0; pa < up->rows; pa++) {
        size_t used = 0;
        for (unsigned pb = 0; pb < up->cols; pb++) {
            size_t parent = (size_t)pa * up->cols + pb;
            const uint32_t *from = up->items + up->start[parent];
            size_t n_from = up->start[parent + 1] - up->start[parent];
            for (unsigned first = 0; first < per_parent; first += GROUP) {
                unsigned row[GROUP], col[GROUP];
                size_t k[GROUP];
                int g = per_parent - first < GROUP ? (int)(per_parent - first) : GROUP;
                for (int j = 0; j < g; j++) {
                    row[j] = pa * ratio + (first + (unsigned)j) / ratio;
                    col[j] = pb * ratio + (first + (unsigned)j) % ratio;
                }
                list_group(lv, pts, from, n_from, row, col, g, dot, stage + used, k);
                for (int j = 0; j < g; j++) {
                    size_t slot = (size_t)(row[j] - pa * ratio) * lv->cols + col[j];
                    len[slot] = k[j];
                    off[slot] = used + (size_t)j * n_from;
                }
                used += (size_t)g * n_from;
            }
        }
        for (unsigned i = 0; i < ratio; i++)
            for (unsigned b = 0; b < lv->cols; b++) {
                size_t slot = (size_t)i * lv->cols + b;
                if (level_reserve(lv, len[slot]) != WSB_OK)
                    goto cleanup;
                lv->start[(size_t)(pa * ratio + i) * lv->cols + b] = (uint32_t)lv->n_items;
                memcpy(lv->items + lv->n_items, stage + off[slot], len[slot] * sizeof *stage);
                lv->n_items += len[slot];
            }
    }
    lv->start[(size_t)lv->rows * lv->cols] = (uint32_t)lv->n_items;
    status = WSB_OK;
cleanup:
    free(stage);
    free(off);
    free(len);
    return status;
}

/* Builds the cell index of one version's eligible nodes (all with
 * coordinates), through the grids of LEVEL_DEG down to the cell size for
 * their count; it stops at a coarser grid when the next one's lists could
 * take more than INDEX_ROOM_PER_NODE * n + INDEX_ROOM_MIN entries (a
 * near_km of thousands of km, or a few dense clusters), and gives no index
 * at all when the lists of its last grid hold, on average, half of the
 * nodes or more.  Returns WSB_OK with *out the index or NULL (none), or
 * WSB_ENOMEM. */
#define INDEX_ROOM_PER_NODE 128
#define INDEX_ROOM_MIN (1u << 20)
static int build_index(const struct wsb_snapshot *s, const struct wsb_version_entry *e, double near_km, uint64_t key,
                       struct wsb_cell_index **out)
{
    int status = WSB_ENOMEM;
    struct wsb_cell_index *ix = calloc(1, sizeof *ix);
    double *pts = malloc(3 * e->n * sizeof *pts), *dot = malloc(GROUP * e->n * sizeof *dot);
    uint32_t *all = malloc(e->n * sizeof *all);
    struct cell_level up, lv;
    memset(&up, 0, sizeof up);
    memset(&lv, 0, sizeof lv);
    *out = NULL;
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
    size_t budget = INDEX_ROOM_PER_NODE * e->n + INDEX_ROOM_MIN;
    for (size_t l = 0; l < N_LEVELS; l++) {
        const struct cell_level *parent = l == 0 ? NULL : &up;
        size_t room = level_room(parent, LEVEL_DEG[l], e->n);
        if (l > 0 && room > budget)
            break;   /* up is the last grid */
        /* Lists are typically well under half their bound. */
        if (level_init(&lv, LEVEL_DEG[l], near_km / 6371.0, room / 2 + GROUP * e->n) != WSB_OK ||
            (parent == NULL ? list_top_level(&lv, pts, all, e->n, dot) : list_level(&lv, parent, pts, dot)) != WSB_OK)
            goto cleanup;
        level_free(&up);
        up = lv;
        memset(&lv, 0, sizeof lv);
        if (LEVEL_DEG[l] <= deg)
            break;
    }
    size_t cells = (size_t)up.rows * up.cols;
    if (up.n_items >= cells * e->n / 2) {
        status = WSB_OK;   /* a scan of all nodes is about as short */
        goto cleanup;
    }
    /* The last grid is the index, with node indexes for positions. */
    for (size_t i = 0; i < up.n_items; i++)
        up.items[i] = e->eligible[up.items[i]];
    uint32_t *fit = realloc(up.items, (up.n_items ? up.n_items : 1) * sizeof *fit);
    if (fit != NULL)
        up.items = fit;
    ix->start = up.start;
    ix->items = up.items;
    ix->n_items = up.n_items;
    ix->key = key;
    ix->deg = up.deg;
    ix->lat_cells = up.rows;
    ix->lon_cells = up.cols;
    up.start = NULL;
    up.items = NULL;
    *out = ix;
    ix = NULL;
    status = WSB_OK;
cleanup:
    level_free(&up);
    level_free(&lv);
    free(pts);
    free(dot);
    free(all);
    index_free(ix);
    return status;
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
    uint64_t key = WSB_FNV_OFFSET;   /* over what a cell index depends on */
    key = wsb_fnv1a(key, &s->near_km, sizeof s->near_km);
    for (size_t i = 0; i < e->n; i++) {
        const struct wsb_snap_node *sn = &s->nodes[e->eligible[i]];
        key = wsb_fnv1a(key, &e->eligible[i], sizeof e->eligible[i]);
        key = wsb_fnv1a(key, &sn->node.lat, sizeof sn->node.lat);
        key = wsb_fnv1a(key, &sn->node.lon, sizeof sn->node.lon);
    }
    const struct wsb_cell_index *old = find_index(prev, e->version, key);
    if (old == NULL)
        return build_index(s, e, s->near_km, key, &e->index);
    e->index = copy_index(old);
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
        /* The node stays as its record says (so that the next refresh can
         * copy it when the record is unchanged); what the state adds (its
         * expiry, run-time drains) goes into the snap node. */
        sn->online = live && nd->online;
        int drained = nd->drain || is_drained(nd->id, drain_ids, n_drain);
        if (nd->has_coords)
            wsb_geo_unit(nd->lat, nd->lon, &sn->x, &sn->y, &sn->z);
        int overloaded = nd->load_known && nd->load >= p->max_load;
        int scheme_ok = p->allow_ws || strncmp(nd->endpoint, "wss://", 6) == 0;
        s->n_online += sn->online != 0;
        s->n_draining += drained;
        s->n_overloaded += sn->online && overloaded;
        sn->eligible = sn->online && !drained && !overloaded && scheme_ok;
        if (sn->eligible) {
            double load = nd->load_known ? nd->load : p->unknown_load;
            /* Headroom below the maximum; a floor keeps a node that is
             * nearly full (or assumed so) from vanishing altogether. */
            sn->weight = p->max_load - load;
            if (sn->weight < 0.001)
                sn->weight = 0.001;
            s->n_eligible++;
            sn->body = body_of(nd, i, prev, &sn->body_len);
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
                any_online += sn->online != 0;
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

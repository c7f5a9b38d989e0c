/* cell_index.c: builds, reuses and queries the spherical cell index (see cell_index.h). */
#include "cell_index.h"
#include "hash.h"
#include "select.h"   /* the band's rule: WSB_NEAR_MIN_KM, WSB_EARTH_RADIUS_KM */
#include "status.h"

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

double wsb_geo_angle(double dot)
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
            double d = wsb_geo_angle(px * cx + py * cy + pz * cz);
            if (d > r)
                r = d;
        }
    return r + 1.0 / WSB_EARTH_RADIUS_KM;
}

/* The grids the index is built through, coarse to fine: each cell lies in
 * one cell of the grid before (the sizes divide each other).  Only the
 * first is compared with every node; the cell sizes of cell_index.h must
 * be among them. */
static const double LEVEL_DEG[] = { 60.0, 20.0, 10.0, 5.0, 2.5, 1.25, 0.625 };
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
     * lat_cos[a] lon_sin[b], lat_sin[a]); radius[a] is cell_radius of row
     * a; near and near_min bound the band's widening (radians). */
    double *lat_cos, *lat_sin, *radius, *lon_cos, *lon_sin;
    double near, near_min;
};

static void level_free(struct cell_level *lv)
{
    free(lv->start);
    free(lv->items);
    free(lv->lat_cos);   /* one block with the other geometry arrays */
    memset(lv, 0, sizeof *lv);
}

/* Allocates lv's tables for cells of deg degrees, with room for cap list
 * entries to begin with, and fills its geometry.  WSB_OK or WSB_ENOMEM
 * (what was allocated stays for level_free). */
static int level_init(struct cell_level *lv, double deg, double near, size_t cap)
{
    lv->deg = deg;
    lv->near = near;
    lv->near_min = near < WSB_NEAR_MIN_KM / WSB_EARTH_RADIUS_KM ? near : WSB_NEAR_MIN_KM / WSB_EARTH_RADIUS_KM;
    lv->rows = (unsigned)(180.0 / deg + 0.5);
    lv->cols = (unsigned)(360.0 / deg + 0.5);
    lv->cap = cap ? cap : 1;
    lv->start = malloc(((size_t)lv->rows * lv->cols + 1) * sizeof *lv->start);
    lv->items = malloc(lv->cap * sizeof *lv->items);
    lv->lat_cos = malloc((3 * (size_t)lv->rows + 2 * lv->cols) * sizeof *lv->lat_cos);
    if (lv->start == NULL || lv->items == NULL || lv->lat_cos == NULL)
        return WSB_ENOMEM;
    lv->lat_sin = lv->lat_cos + lv->rows;
    lv->radius = lv->lat_sin + lv->rows;
    lv->lon_cos = lv->radius + lv->rows;
    lv->lon_sin = lv->lon_cos + lv->cols;
    const double rad = M_PI / 180.0;
    for (unsigned a = 0; a < lv->rows; a++) {
        double clat = (-90.0 + (a + 0.5) * deg) * rad;
        lv->lat_cos[a] = cos(clat);
        lv->lat_sin[a] = sin(clat);
        lv->radius[a] = cell_radius(deg, a);
    }
    for (unsigned b = 0; b < lv->cols; b++) {
        double clon = (-180.0 + (b + 0.5) * deg) * rad;
        lv->lon_cos[b] = cos(clon);
        lv->lon_sin[b] = sin(clon);
    }
    return WSB_OK;
}

/* cos(D + 2r + w(D + r)) for the cells of row a from cos D (best), less a
 * rounding margin; -2 when that reaches the antipode.  w(d) is the band's
 * widening for a nearest node at d (select.h): min(near, max(d / 2,
 * near_min)), which never shrinks as d grows (see list_group). */
static double list_bound(const struct cell_level *lv, unsigned a, double best)
{
    double b = best > 1.0 ? 1.0 : best < -1.0 ? -1.0 : best;
    double d = acos(b), r = lv->radius[a], w = (d + r) / 2;
    w = w < lv->near_min ? lv->near_min : w > lv->near ? lv->near : w;
    double reach = d + 2 * r + w;
    if (reach >= M_PI)
        return -2.0;
    return cos(reach) - 1e-12;
}

/* Cells listed in one pass over their common source list. */
#define GROUP 4

/* Lists g (1..GROUP) cells (row[j], col[j]) of lv from the nodes of
 * from[] (positions into pts, three coordinates each): cell j's list goes
 * to out + j * n_from, its length to len[j].
 *
 * For the cell around centre c with radius r, let D be the distance from
 * c to its nearest node.  A client p in the cell has its nearest node at
 * some d <= D + r, so a candidate (within d + w(d) of p, w the band's
 * widening, which grows with d and is at most near) is within D + r +
 * w(D + r) of p, and within D + 2r + w(D + r) of c: only those nodes are
 * listed (where nodes are dense, D is small and w is near_min, not near),
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

/* Room for lists: a grid whose lists could take more than
 * INDEX_ROOM_PER_NODE * n + INDEX_ROOM_MIN entries (a near_km of
 * thousands of km, or a few dense clusters) is not built; the coarser
 * grid before it is the index. */
#define INDEX_ROOM_PER_NODE 128
#define INDEX_ROOM_MIN (1u << 20)

/* Runs the grids of LEVEL_DEG over the n unit vectors pts, from the first
 * down to a cell size of deg or to the last grid within budget; *last is
 * that grid, with positions into pts for items.  WSB_OK or WSB_ENOMEM
 * (*last then empty). */
static int list_levels(const double *pts, size_t n, double near_km, double deg, struct cell_level *last)
{
    int status = WSB_ENOMEM;
    double *dot = malloc(GROUP * n * sizeof *dot);
    uint32_t *all = malloc(n * sizeof *all);
    struct cell_level up, lv;
    memset(&up, 0, sizeof up);
    memset(&lv, 0, sizeof lv);
    if (dot == NULL || all == NULL)
        goto cleanup;
    for (size_t i = 0; i < n; i++)
        all[i] = (uint32_t)i;
    size_t budget = INDEX_ROOM_PER_NODE * n + INDEX_ROOM_MIN;
    for (size_t l = 0; l < N_LEVELS; l++) {
        const struct cell_level *parent = l == 0 ? NULL : &up;
        size_t room = level_room(parent, LEVEL_DEG[l], n);
        if (l > 0 && room > budget)
            break;   /* up is the last grid */
        /* Lists are typically well under half their bound. */
        if (level_init(&lv, LEVEL_DEG[l], near_km / WSB_EARTH_RADIUS_KM, room / 2 + GROUP * n) != WSB_OK ||
            (parent == NULL ? list_top_level(&lv, pts, all, n, dot) : list_level(&lv, parent, pts, dot)) != WSB_OK)
            goto cleanup;
        level_free(&up);
        up = lv;
        memset(&lv, 0, sizeof lv);
        if (LEVEL_DEG[l] <= deg)
            break;
    }
    *last = up;
    memset(&up, 0, sizeof up);
    status = WSB_OK;
cleanup:
    level_free(&up);
    level_free(&lv);
    free(dot);
    free(all);
    return status;
}

/* Builds the index of n points, stamped with key, through the grids of
 * LEVEL_DEG down to the cell size for their count (list_levels), and
 * gives none when the lists of its last grid hold, on average, half of
 * the points or more.  WSB_OK with *out the index or NULL (none), or
 * WSB_ENOMEM. */
static int build_index(const struct wsb_cell_point *points, size_t n, double near_km, uint64_t key,
                       struct wsb_cell_index **out)
{
    int status = WSB_ENOMEM;
    struct wsb_cell_index *ix = calloc(1, sizeof *ix);
    double *pts = malloc(3 * n * sizeof *pts);
    struct cell_level last;
    memset(&last, 0, sizeof last);
    *out = NULL;
    if (ix == NULL || pts == NULL || (ix->points = malloc(n * sizeof *ix->points)) == NULL)
        goto cleanup;
    memcpy(ix->points, points, n * sizeof *points);
    ix->n_points = n;
    ix->near_km = near_km;
    for (size_t i = 0; i < n; i++)
        wsb_geo_unit(points[i].lat, points[i].lon, &pts[3 * i], &pts[3 * i + 1], &pts[3 * i + 2]);
    double deg = n >= WSB_FINEST_FROM_NODES ? WSB_CELL_DEG_FINEST
                 : n >= WSB_FINER_FROM_NODES  ? WSB_CELL_DEG_FINER
                 : n >= WSB_FINE_FROM_NODES   ? WSB_CELL_DEG_FINE
                                              : WSB_CELL_DEG;
    if (list_levels(pts, n, near_km, deg, &last) != WSB_OK)
        goto cleanup;
    size_t cells = (size_t)last.rows * last.cols;
    if (last.n_items >= cells * n / 2) {
        status = WSB_OK;   /* a scan of all points is about as short */
        goto cleanup;
    }
    /* The last grid is the index, with node indexes for positions. */
    for (size_t i = 0; i < last.n_items; i++)
        last.items[i] = points[last.items[i]].node;
    uint32_t *fit = realloc(last.items, (last.n_items ? last.n_items : 1) * sizeof *fit);
    if (fit != NULL)
        last.items = fit;
    ix->start = last.start;
    ix->items = last.items;
    ix->n_items = last.n_items;
    ix->key = key;
    ix->deg = last.deg;
    ix->lat_cells = last.rows;
    ix->lon_cells = last.cols;
    last.start = NULL;
    last.items = NULL;
    *out = ix;
    ix = NULL;
    status = WSB_OK;
cleanup:
    level_free(&last);
    free(pts);
    wsb_cell_index_free(ix);
    return status;
}

/* A copy of from, NULL on ENOMEM. */
static struct wsb_cell_index *copy_index(const struct wsb_cell_index *from)
{
    size_t cells = (size_t)from->lat_cells * from->lon_cells;
    struct wsb_cell_index *ix = malloc(sizeof *ix);
    if (ix == NULL)
        return NULL;
    *ix = *from;
    ix->start = malloc((cells + 1) * sizeof *ix->start);
    ix->items = malloc((from->n_items ? from->n_items : 1) * sizeof *ix->items);
    ix->points = malloc((from->n_points ? from->n_points : 1) * sizeof *ix->points);
    if (ix->start == NULL || ix->items == NULL || ix->points == NULL) {
        wsb_cell_index_free(ix);
        return NULL;
    }
    memcpy(ix->start, from->start, (cells + 1) * sizeof *ix->start);
    memcpy(ix->items, from->items, from->n_items * sizeof *ix->items);
    memcpy(ix->points, from->points, from->n_points * sizeof *ix->points);
    return ix;
}

/* Whether ix was built from exactly these points and near_km. */
static int built_from(const struct wsb_cell_index *ix, const struct wsb_cell_point *points, size_t n,
                      double near_km, uint64_t key)
{
    if (ix->key != key || ix->n_points != n || ix->near_km != near_km)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ix->points[i].node != points[i].node || ix->points[i].lat != points[i].lat ||
            ix->points[i].lon != points[i].lon)
            return 0;
    return 1;
}

/* Hash of everything an index depends on. */
static uint64_t index_key(const struct wsb_cell_point *points, size_t n, double near_km)
{
    uint64_t key = wsb_fnv1a(WSB_FNV_OFFSET, &near_km, sizeof near_km);
    for (size_t i = 0; i < n; i++) {
        key = wsb_fnv1a(key, &points[i].node, sizeof points[i].node);
        key = wsb_fnv1a(key, &points[i].lat, sizeof points[i].lat);
        key = wsb_fnv1a(key, &points[i].lon, sizeof points[i].lon);
    }
    return key;
}

int wsb_cell_index_make(const struct wsb_cell_point *points, size_t n, double near_km,
                        const struct wsb_cell_index *old, struct wsb_cell_index **out)
{
    uint64_t key = index_key(points, n, near_km);
    if (old == NULL || !built_from(old, points, n, near_km, key))
        return build_index(points, n, near_km, key, out);
    *out = copy_index(old);
    return *out != NULL ? WSB_OK : WSB_ENOMEM;
}

const uint32_t *wsb_cell_index_list(const struct wsb_cell_index *ix, double lat, double lon, size_t *len)
{
    int a = (int)((lat + 90.0) / ix->deg), b = (int)((lon + 180.0) / ix->deg);
    int rows = (int)ix->lat_cells, cols = (int)ix->lon_cells;
    if (a < 0)
        a = 0;
    if (a >= rows)
        a = rows - 1;
    if (b < 0)
        b = 0;
    if (b >= cols)
        b = cols - 1;
    size_t cell = (size_t)a * (size_t)cols + (size_t)b;
    *len = ix->start[cell + 1] - ix->start[cell];
    return ix->items + ix->start[cell];
}

void wsb_cell_index_free(struct wsb_cell_index *ix)
{
    if (ix == NULL)
        return;
    free(ix->start);
    free(ix->items);
    free(ix->points);
    free(ix);
}

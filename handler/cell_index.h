/* cell_index.h: the spherical cell index of one version's eligible nodes,
 * so that a request scans a handful of nodes instead of all of them.
 *
 * The sphere is cut into cells of deg x deg degrees of latitude and
 * longitude; every cell lists the only points that can be a candidate for
 * a client anywhere in it (the nearest, widened by near_km: see select.h).
 * The cell size follows the point count, so that a list stays short as
 * points grow denser: WSB_CELL_DEG below WSB_FINE_FROM_NODES points,
 * WSB_CELL_DEG_FINE from there, WSB_CELL_DEG_FINER and WSB_CELL_DEG_FINEST
 * from four and sixteen times as many (a quarter of the area a cell for
 * four times the points), coarser when near_km is so wide that finer
 * lists would take too much memory.  The lists are built grid by
 * grid from a coarse one, each cell's from the list of the coarser cell
 * holding it.
 *
 * Ownership: wsb_cell_index_make() returns an index owned by the caller
 * (a snapshot), freed with wsb_cell_index_free() (NULL accepted).  It
 * keeps its own copy of the points it was built from; nothing in it
 * points into the caller's memory. */
#ifndef WSB_CELL_INDEX_H
#define WSB_CELL_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define WSB_CELL_DEG 5.0
#define WSB_CELL_DEG_FINE 2.5
#define WSB_FINE_FROM_NODES 2000
#define WSB_CELL_DEG_FINER 1.25
#define WSB_FINER_FROM_NODES 8000
#define WSB_CELL_DEG_FINEST 0.625
#define WSB_FINEST_FROM_NODES 32000
#define WSB_INDEX_MIN_NODES 24    /* below this a plain scan is cheaper */

/* One point to index: a node of the snapshot and where it is. */
struct wsb_cell_point {
    uint32_t node;            /* index into the snapshot's nodes[] */
    double lat, lon;          /* degrees */
};

/* Cell (lat_cells rows from the south pole, lon_cells columns from -180)
 * of point p is row floor((lat + 90) / deg), column floor((lon + 180) /
 * deg), clamped to the grid; its list is items[start[cell] ..
 * start[cell + 1]) with cell = row * lon_cells + column. */
struct wsb_cell_index {
    uint64_t key;             /* hash of what it was built from: a quick "maybe the same" */
    double near_km;           /* the band it was built for */
    size_t n_points;
    struct wsb_cell_point *points; /* what it was built from, compared in full before reuse; owned */
    double deg;               /* cell size in degrees */
    unsigned lat_cells, lon_cells;
    uint32_t *start;          /* lat_cells * lon_cells + 1 offsets into items; owned */
    uint32_t *items;          /* node indexes (point.node), cell after cell; owned */
    size_t n_items;
};

/* Gives the index of n points (n > 0) for a band of near_km.  When old
 * (may be NULL) was built from the same points, in the same order, and
 * the same near_km (compared in full, never on the key alone), *out is a
 * copy of it; otherwise the index is built.
 * Returns WSB_OK with *out the index, or NULL when an index would not
 * shorten the scan (the lists of its cells would hold, on average, half
 * of the points or more); or WSB_ENOMEM with *out NULL.  old is not
 * changed either way. */
int wsb_cell_index_make(const struct wsb_cell_point *points, size_t n, double near_km,
                        const struct wsb_cell_index *old, struct wsb_cell_index **out);

/* The list of the cell holding (lat, lon) (clamped into the grid): *len
 * node indexes, owned by the index. */
const uint32_t *wsb_cell_index_list(const struct wsb_cell_index *ix, double lat, double lon, size_t *len);

/* Frees an index; NULL is accepted. */
void wsb_cell_index_free(struct wsb_cell_index *ix);

/* Unit vector of a latitude/longitude in degrees. */
void wsb_geo_unit(double lat, double lon, double *x, double *y, double *z);

/* The central angle (radians) between two unit vectors whose dot product
 * is dot (clamped to -1..1 first, as rounding may overshoot). */
double wsb_geo_angle(double dot);

#endif

/* snapshot.h: an immutable, read-optimised view of all nodes, built once per
 * state refresh so that a request does no parsing and no allocation.
 *
 * Ownership: wsb_snapshot_build() returns a snapshot with one reference;
 * wsb_snapshot_ref()/wsb_snapshot_unref() share it between threads; the last
 * unref frees it.  Everything reachable from a snapshot belongs to it. */
#ifndef WSB_SNAPSHOT_H
#define WSB_SNAPSHOT_H

#include "node.h"

#include <stddef.h>
#include <stdint.h>

struct wsb_snap_node {
    struct wsb_node node;     /* decoded record, as the record says; owned */
    int online;               /* node.online, and the state live */
    int eligible;             /* online, not draining (record or run time), not overloaded */
    double weight;            /* share of new clients: headroom below max_load */
    double x, y, z;           /* unit vector on the sphere when node.has_coords */
    char *body;               /* precomputed 200 body {"endpoint":..,"location":..} */
    size_t body_len;
};

/* The sphere cut into cells of deg x deg degrees of latitude and
 * longitude; for every cell, the only eligible nodes that can be a
 * candidate for a client anywhere in it (see select.h), so that a request
 * scans a handful of nodes instead of all of them.  The cell size follows
 * the node count, so that a list stays short as nodes grow denser:
 * WSB_CELL_DEG below WSB_FINE_FROM_NODES eligible nodes, WSB_CELL_DEG_FINE
 * from there on (coarser when near_km is so wide that finer lists would
 * take too much memory).  The lists are built grid by grid from a coarse
 * one (snapshot.c), each cell's from the list of the coarser cell holding
 * it. */
#define WSB_CELL_DEG 5.0
#define WSB_CELL_DEG_FINE 2.5
#define WSB_FINE_FROM_NODES 2000
#define WSB_INDEX_MIN_NODES 24    /* below this a plain scan is cheaper */

/* Cell (lat_cells rows from the south pole, lon_cells columns from -180)
 * of point p is row floor((lat + 90) / deg), column floor((lon + 180) /
 * deg), clamped to the grid; its list is items[start[cell] ..
 * start[cell + 1]) with cell = row * lon_cells + column. */
struct wsb_cell_index {
    uint64_t key;             /* hash of what it was built from, for reuse */
    double deg;               /* cell size in degrees */
    unsigned lat_cells, lon_cells;
    uint32_t *start;          /* lat_cells * lon_cells + 1 offsets into items; owned */
    uint32_t *items;          /* node indexes (into nodes[]), cell after cell; owned */
    size_t n_items;
};

struct wsb_version_entry {
    unsigned version;
    int error;                /* 0 when some node is eligible, else 100 or 101 */
    size_t n;                 /* eligible nodes for this version */
    uint32_t *eligible;       /* indexes into nodes[] */
    int coords;               /* every eligible node has coordinates */
    struct wsb_cell_index *index; /* NULL: scan eligible[] (few nodes, some lack coordinates,
                                     or near_km so wide that lists would hold most nodes) */
};

struct wsb_snapshot {
    int refs;
    size_t n_nodes;
    struct wsb_snap_node *nodes;
    size_t n_versions;
    struct wsb_version_entry *versions;   /* sorted by version */
    size_t max_eligible;      /* largest versions[i].n: size of a select scratch */
    int live;                 /* the probe's round key was present */
    double near_km;           /* width of the "about as close" band */
    double near_cos, near_sin; /* of near_km as a central angle */
    size_t n_skipped;         /* records the reader skipped as malformed */
    size_t n_online, n_eligible, n_draining, n_overloaded;
};

struct wsb_snapshot_params {
    double max_load;          /* a node at or above this load is overloaded */
    int allow_ws;             /* serve ws:// endpoints (else only wss://) */
    double unknown_load;      /* load assumed for a node that reports none */
    double near_km;           /* nodes this close to the nearest share its clients */
};

/* Builds a snapshot from n decoded nodes, taking ownership of their strings
 * (the array itself stays the caller's, its entries are re-initialised).
 * live == 0 means the state has expired: every node counts as offline.
 * drain_ids (n_drain entries, may be NULL) are ids drained at run time.
 * prev (may be NULL) is the snapshot this one replaces: cell indexes built
 * from the same nodes and coordinates are copied from it, not rebuilt, and
 * the 200 body of a node at the same position with the same id, endpoint
 * and location is copied from it, not encoded again.
 * Returns WSB_OK and *out, or WSB_ENOMEM with the nodes freed and *out
 * untouched. */
int wsb_snapshot_build(struct wsb_node *nodes, size_t n, int live, char *const *drain_ids,
                       size_t n_drain, size_t n_skipped, const struct wsb_snapshot_params *p,
                       const struct wsb_snapshot *prev, struct wsb_snapshot **out);

/* An empty snapshot: every request answers 100.  NULL on ENOMEM. */
struct wsb_snapshot *wsb_snapshot_empty(void);

struct wsb_snapshot *wsb_snapshot_ref(struct wsb_snapshot *s);

/* Drops one reference; frees on the last.  NULL is accepted. */
void wsb_snapshot_unref(struct wsb_snapshot *s);

/* Unit vector of a latitude/longitude in degrees. */
void wsb_geo_unit(double lat, double lon, double *x, double *y, double *z);

#endif

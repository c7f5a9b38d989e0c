/* snapshot.h: an immutable, read-optimised view of all nodes, built once per
 * state refresh so that a request does no parsing and no allocation.
 *
 * Ownership: wsb_snapshot_build() returns a snapshot with one reference;
 * wsb_snapshot_ref()/wsb_snapshot_unref() share it between threads; the last
 * unref frees it.  Everything reachable from a snapshot belongs to it. */
#ifndef WSB_SNAPSHOT_H
#define WSB_SNAPSHOT_H

#include "cell_index.h"
#include "keys.h"
#include "node.h"

#include <stddef.h>
#include <stdint.h>

struct wsb_snap_node {
    struct wsb_node node;     /* decoded record, as the record says; owned */
    int online;               /* node.online, and the state live */
    int eligible;             /* may take new clients at the check (wsb_select_judge in select.h) */
    double capacity;          /* connections: known, or assumed (wsb_select_judge) */
    double used;              /* connections at its check: reported, or estimated */
    double room;              /* max_load x capacity - used: new clients it could take at its check */
    double slow_start_s;      /* its slow-start window, 0 none */
    uint32_t budget;          /* session starts per second, 0 none */
    int filter;               /* enum wsb_select_filter: why it is not eligible (0 when it is) */
    double x, y, z;           /* unit vector on the sphere when node.has_coords */
    char *body;               /* precomputed 200 body {"endpoint":..,"location":..} */
    size_t body_len;
};

struct wsb_version_entry {
    unsigned version;
    int error;                /* wsb_select_version_code: 0 when some node is eligible, else 100 or 101 */
    size_t n;                 /* eligible nodes for this version */
    uint32_t *eligible;       /* indexes into nodes[] */
    int coords;               /* every eligible node has coordinates */
    struct wsb_cell_index *index; /* NULL: scan eligible[] (few nodes, some lack coordinates,
                                     or near_km so wide that lists would hold most nodes) */
};

/* What the handlers assigned to a node since its check: the only part of
 * a snapshot that changes after it is built, and only through __atomic
 * operations.  Requests add to unflushed; handler/assign.c moves it into
 * Redis at every refresh and writes fleet and window from what it reads
 * back. */
struct wsb_tally {
    uint32_t fleet;           /* every handler process on every host, as last read
                                 (this process's flushed answers included) */
    uint32_t unflushed;       /* this process's answers since its last flush */
    uint32_t window;          /* nodes with a budget: the other processes' starts in the
                                 second before the last read */
    uint32_t own_recent;      /* nodes with a budget: this process's written starts in
                                 that second (they age out over the next one) */
    uint32_t excluded;        /* requests of this process that named it in ?exclude= since
                                 the snapshot was built (a signal for operators: it never
                                 changes selection for other clients) */
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
    double near_min_cos, near_min_sin; /* of WSB_NEAR_MIN_KM (at most near_km) as one */
    size_t n_skipped;         /* records the reader skipped as malformed */
    size_t n_online, n_eligible, n_draining, n_overloaded;
    struct wsb_tally *tally;  /* n_nodes entries, zeroed at build; see above */
    long long window_read_ms; /* unix ms of the read that set the windows (__atomic) */
    uint32_t processes;       /* handler processes sharing the budgets, as last read (__atomic;
                                 0 before the first read: taken as 1) */
    char round_id[WSB_MAX_ROUND_ID + 1]; /* "" when the round has none: no accounting */
    long long round_ttl;      /* the round's ttl, s (0 unknown) */
    long long round_at;       /* the round's start, unix s (0 unknown) */
    size_t n_budgeted;        /* eligible nodes with a budget */
    double slow_start_min;    /* wsb_snapshot_params's, for selection */
    double slow_start_aggression;
};

struct wsb_snapshot_params {
    double max_load;          /* a node at or above this load is overloaded */
    int allow_ws;             /* serve ws:// endpoints (else only wss://) */
    double unknown_load;      /* load assumed for a node that reports none */
    double near_km;           /* nodes this close to the nearest share its clients */
    double assumed_capacity;  /* capacity of a node that has none, when no node has one
                                 (0: 10,000); else the median of those known */
    double slow_start_s;      /* slow-start window of a node without its own; 0 off */
    double slow_start_min;    /* share at the start of the window, 0.01..1 (0: 0.1) */
    double slow_start_aggression; /* the ramp's exponent is 1/aggression (0: 1, linear) */
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

/* Takes one more reference to s (not NULL) and returns s; cannot fail. */
struct wsb_snapshot *wsb_snapshot_ref(struct wsb_snapshot *s);

/* Drops one reference; frees on the last.  NULL is accepted. */
void wsb_snapshot_unref(struct wsb_snapshot *s);

/* The entry of a version in s (owned by s), NULL when no node lists it.
 * Binary search; cannot fail. */
const struct wsb_version_entry *wsb_snapshot_version(const struct wsb_snapshot *s, unsigned version);

#endif

/* select.h: endpoint selection, a pure function from (snapshot, client,
 * version, random word) to a decision.  No I/O, no allocation, no clock:
 * the same inputs always give the same answer, so it can be tested and
 * explained.
 *
 * Order of the decision:
 *   version -> online -> not draining -> load below the maximum (all folded
 *   into the snapshot's eligible lists) -> proximity -> load spread.
 * Proximity: with client and node coordinates, great-circle distance;
 * otherwise a node in the client's country counts as 0 km away, one on the
 * client's continent as WSB_SAME_CONTINENT_KM, any other as the far side
 * of the earth.  A client with no location sees every node at 0 km.
 * Candidates are the eligible nodes within near_km (a snapshot parameter)
 * of the nearest; one of
 * them is drawn at random, weighted by its headroom (max_load - load), so
 * new clients flow to nodes in proportion to the room they have left and
 * many processes sharing one snapshot (loads refreshed only once per probe
 * round) do not herd onto the single least loaded node. */
#ifndef WSB_SELECT_H
#define WSB_SELECT_H

#include "snapshot.h"

#include <stdint.h>

#define WSB_EARTH_RADIUS_KM 6371.0
#define WSB_SAME_CONTINENT_KM 2500.0

/* The balancer error codes of the HTTP contract. */
enum wsb_select_error {
    WSB_SELECT_OK = 0,
    WSB_NO_SERVERS_AVAILABLE = 100,  /* no usable node at all */
    WSB_NO_SERVERS_ONLINE = 101,     /* nodes for the version exist, none online */
    WSB_NO_SERVERS_VERSION = 102     /* no node supports the version */
};

/* The error_message of a code (100, 101, 102); "" for others. */
const char *wsb_select_error_message(int code);

struct wsb_client_loc {
    int has_coords;
    double lat, lon;
    char country[3];          /* "" unknown */
    char continent[3];        /* "" unknown */
};

/* Caller-owned working memory: room for snapshot->max_eligible entries.
 * Allocate with wsb_select_scratch_reserve (grows, never shrinks) and free
 * with wsb_select_scratch_free (NULL accepted). */
struct wsb_select_scratch {
    size_t cap;
    double *sim;
    uint32_t *cand;
};

/* Returns WSB_OK, or WSB_ENOMEM with the scratch unchanged. */
int wsb_select_scratch_reserve(struct wsb_select_scratch *sc, size_t n);
void wsb_select_scratch_free(struct wsb_select_scratch *sc);

/* Chooses a node for a client asking for version.  client may be NULL (no
 * location).  rnd is a random 64-bit word.  Returns WSB_SELECT_OK with *out
 * set, or one of the error codes with *out set to NULL.  The scratch must
 * hold at least s->max_eligible entries. */
int wsb_select(const struct wsb_snapshot *s, unsigned version, const struct wsb_client_loc *client,
               uint64_t rnd, struct wsb_select_scratch *sc, const struct wsb_snap_node **out);

#endif

/* select.h: the whole selection policy, in one place.
 *
 * Selection is a pure function from (snapshot with its tally, client,
 * version, random word, time) to a decision.  No I/O, no allocation, no
 * clock of its own: the same inputs always give the same answer, so it
 * can be tested and explained.  Its
 * first steps depend on the node alone and are precomputed once per
 * snapshot: wsb_snapshot_build asks wsb_select_judge about every node and
 * wsb_select_version_code about every version; wsb_select does the rest
 * per request.
 *
 * Order of the decision:
 *   1. version: a node must list it, else 102 (no node of any state lists
 *      it) -- or 100 when there are no nodes at all;
 *   2. online: the node's record says online and the state has not
 *      expired, else (no node of the version online) 101;
 *   3. usable: not drained (its record or a run-time drain), room for
 *      one more client (below), and a wss:// endpoint unless ws:// is
 *      allowed, else (nodes of the version online, none usable) 100;
 *   4. proximity: with client and node coordinates, great-circle
 *      distance; otherwise a node in the client's country counts as 0 km
 *      away, one on the client's continent as WSB_SAME_CONTINENT_KM, any
 *      other as the far side of the earth.  A client with no location sees
 *      every node at 0 km.  Candidates are the usable nodes at most half
 *      again as far as the nearest usable one (at distance d: within 1.5 d),
 *      the band being at least WSB_NEAR_MIN_KM and at most near_km (a
 *      snapshot parameter) wide: d + min(near_km, max(d / 2, 50 km)).  When
 *      the nearest fill up, clients spill to the next nearest;
 *   5. spread: one candidate is drawn at random, weighted by its room now
 *      times its slow-start factor; a candidate that took its session-start
 *      budget in the last second weighs nothing, and when every candidate
 *      did the answer is 100.
 *
 * Room is counted in connections: capacity C (the record's, else the
 * median of the snapshot's known capacities, else assumed_capacity), used
 * U at the check (reported connections, else load x C, else unknown_load x
 * C), and A assigned by every handler since the check (struct wsb_tally):
 * room = max_load x C - U - A.  A node with less room than one connection
 * is full (the overload filter and the weights use the same estimate); a
 * node that reports no load is never full and weighs at least 1 % of C.
 *
 * Slow start: within slow_start_s of its changed_at (it came online), a
 * node's weight is scaled by max(min, (elapsed / window) ^ (1 /
 * aggression)), Envoy's shape.
 *
 * The tally and the clock are the only inputs that change under a built
 * snapshot: selection reads them, never writes. */
#ifndef WSB_SELECT_H
#define WSB_SELECT_H

#include "snapshot.h"

#include <stdint.h>

#define WSB_EARTH_RADIUS_KM 6371.0
#define WSB_SAME_CONTINENT_KM 2500.0
#define WSB_NEAR_MIN_KM 50.0           /* the near band is never narrower (unless near_km is) */
#define WSB_ASSUMED_CAPACITY 10000.0   /* capacity of nodes that have none, when none has one */

/* The balancer error codes of the HTTP contract. */
enum wsb_select_error {
    WSB_SELECT_OK = 0,
    WSB_NO_SERVERS_AVAILABLE = 100,  /* no usable node at all */
    WSB_NO_SERVERS_ONLINE = 101,     /* nodes for the version exist, none online */
    WSB_NO_SERVERS_VERSION = 102     /* no node supports the version */
};

/* Why step 2 or 3 dropped a node: the first test it failed, in the order
 * wsb_select_judge applies them (--explain and --check name it). */
enum wsb_select_filter {
    WSB_FILTER_NONE = 0,      /* eligible */
    WSB_FILTER_EXPIRED,       /* the state expired: every node counts as offline */
    WSB_FILTER_OFFLINE,       /* its record says offline */
    WSB_FILTER_DRAINED,       /* drained by its record (the inventory) */
    WSB_FILTER_DRAINED_RUN_TIME, /* drained at run time (<prefix>admin) */
    WSB_FILTER_OVERLOADED,    /* less room than one connection at its check */
    WSB_FILTER_SCHEME,        /* a ws:// endpoint while ws:// is not allowed */
    WSB_FILTER_COUNT
};

/* The short name of a filter ("offline", "draining (run time)", ...); a
 * static string, "" for WSB_FILTER_NONE or an unknown value. */
const char *wsb_select_filter_name(int filter);

/* Steps 2 and 3 for one node, as the snapshot keeps them. */
struct wsb_node_judgement {
    int online;               /* the record says online and the state is live */
    int drained;              /* drained by its record or at run time */
    int overloaded;           /* it reports a load, and has less room than one connection */
    int eligible;             /* online, not drained, not overloaded, scheme allowed */
    double capacity;          /* connections: its own, else the median, else assumed */
    double used;              /* connections at the check: reported, or load x capacity */
    double room;              /* max_load x capacity - used */
    double slow_start_s;      /* its window, or the global one; 0 none */
    uint32_t budget;          /* session starts per second, 0 none */
    int filter;               /* enum wsb_select_filter: why it is not eligible */
};

/* Judges node nd by p at its check: live says whether the probe's state is
 * current, run_time_drained whether an operator drained it outside its
 * record, median_capacity is the median of the snapshot's known
 * capacities (0 when none is known).  Fills *out; cannot fail. */
void wsb_select_judge(const struct wsb_node *nd, int live, int run_time_drained, double median_capacity,
                      const struct wsb_snapshot_params *p, struct wsb_node_judgement *out);

/* The parts of step 5 for node i of s (an index into s->nodes) at unix
 * time now_ms, as selection computes them: its room now (room at the check
 * less the tally); its slow-start factor (min..1); the session starts it
 * took in the last second as this process knows them; its weight (0 when
 * over its budget).  Cannot fail. */
double wsb_select_room(const struct wsb_snapshot *s, uint32_t i);
double wsb_select_slow_start(const struct wsb_snapshot *s, uint32_t i, long long now_ms);
double wsb_select_starts(const struct wsb_snapshot *s, uint32_t i, long long now_ms);
double wsb_select_weight(const struct wsb_snapshot *s, uint32_t i, long long now_ms);

/* Whether node i is over its session-start budget at now_ms: the fleet's
 * starts of the last second reached it, or this process's own reached its
 * part of it (an even share among the processes, or its share of the last
 * second's starts if more).  0 for a node without a budget. */
int wsb_select_over_budget(const struct wsb_snapshot *s, uint32_t i, long long now_ms);

/* The code of a version that some nodes list, n_eligible of them
 * eligible and n_online online: WSB_SELECT_OK when some node is
 * eligible, else WSB_NO_SERVERS_AVAILABLE when some is online, else
 * WSB_NO_SERVERS_ONLINE.  Cannot fail. */
int wsb_select_version_code(size_t n_eligible, size_t n_online);

/* The error_message of a code (100, 101, 102); "" for others.  A static
 * string; cannot fail. */
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

/* Makes room for n entries.  Returns WSB_OK, or WSB_ENOMEM with the
 * scratch unchanged. */
int wsb_select_scratch_reserve(struct wsb_select_scratch *sc, size_t n);

/* Frees the scratch's arrays and leaves it empty (cap 0); NULL is accepted. */
void wsb_select_scratch_free(struct wsb_select_scratch *sc);

/* Whether node i of s can take one more client now: room for one after
 * what was assigned since its check, or a load it does not report.  Cannot
 * fail. */
int wsb_select_has_room(const struct wsb_snapshot *s, uint32_t i);

/* The similarity of node i of s to client (not NULL) that step 4 ranks
 * by: the cosine of the central angle between them when both have
 * coordinates, else 1 (same country), cos(WSB_SAME_CONTINENT_KM) (same
 * continent) or -1.  wsb_select_km turns one into kilometres.  Cannot
 * fail. */
double wsb_select_similarity(const struct wsb_snapshot *s, uint32_t i, const struct wsb_client_loc *client);
double wsb_select_km(double similarity);

/* Step 4's outcome, for --explain: whether the client was located (else
 * every node with room is a candidate), the similarity of the nearest node
 * with room (best) and the band's lower bound (bound: a node is a
 * candidate when its similarity is at least this). */
struct wsb_select_band {
    int located;
    double best;
    double bound;
};

/* Steps 1 to 4 of wsb_select, with the same arguments and results, but
 * no draw: on WSB_SELECT_OK the k >= 1 candidates are in sc->cand[0..k)
 * (indexes into s->nodes) and *band (may be NULL) says how they were
 * chosen; on an error code *k is 0.  wsb_select is this, then the draw. */
int wsb_select_candidates(const struct wsb_snapshot *s, unsigned version, const struct wsb_client_loc *client,
                          struct wsb_select_scratch *sc, size_t *k, struct wsb_select_band *band);

/* Chooses a node for a client asking for version: steps 1 to 5 above, 1-3
 * read from what the snapshot precomputed.  s may be NULL (no state: 100);
 * client may be NULL (no location).  rnd is a random 64-bit word, now_ms
 * the unix time in ms (slow start, budgets).  It does not count the answer
 * in the tally: the caller does (wsb_assign_note).  Returns
 * WSB_SELECT_OK with *out set (a node of s, which owns it), or one of the
 * error codes with *out set to NULL.  The scratch must hold at least
 * s->max_eligible entries (else WSB_NO_SERVERS_AVAILABLE, never an
 * overrun); it is only working memory. */
int wsb_select(const struct wsb_snapshot *s, unsigned version, const struct wsb_client_loc *client,
               uint64_t rnd, long long now_ms, struct wsb_select_scratch *sc, const struct wsb_snap_node **out);

/* What a client may add to its request (query.h): endpoints it could not
 * connect to, and an affinity key.  A request with neither is answered by
 * wsb_select, on exactly the path and cost of a request without a query.
 *
 *   exclude: the nodes named are treated as full in steps 4 and 5 (so the
 *     band moves to the nearest other node with room); when that leaves no
 *     usable node (every candidate excluded, or over its budget), the answer
 *     is the one without exclusions: never an error for excluding.
 *   affinity: step 5 is affinity.h's pick among the candidates instead of
 *     the weighted draw; geography (step 4) still decides the candidates. */
struct wsb_select_request {
    unsigned version;
    const struct wsb_client_loc *client;  /* NULL: no location */
    const uint32_t *exclude;  /* indexes into s->nodes (wsb_select_match_exclude) */
    size_t n_exclude;
    int has_affinity;
    uint64_t affinity_hash;   /* wsb_affinity_hash of the key */
    double balance;           /* the load bound's epsilon (WSB_AFFINITY_BALANCE) */
};

/* The nodes of s listed for version whose endpoint is one of the n
 * endpoints (ends[j], lens[j] bytes; exact bytes), found among the
 * version's eligible nodes: at most cap indexes (into s->nodes) go to out,
 * each once; returns how many.  s may be NULL (0).  Cannot fail. */
size_t wsb_select_match_exclude(const struct wsb_snapshot *s, unsigned version, const char *const *ends,
                                const size_t *lens, size_t n, uint32_t *out, size_t cap);

/* wsb_select_candidates for a request: the same, with rq's exclusions
 * treated as full (no fallback here: *k 0 and 100 when they leave none). */
int wsb_select_candidates_for(const struct wsb_snapshot *s, const struct wsb_select_request *rq,
                              struct wsb_select_scratch *sc, size_t *k, struct wsb_select_band *band);

/* wsb_select for a request with exclusions and/or an affinity key, as
 * described above; same results and contract as wsb_select.  rnd is only
 * used without affinity. */
int wsb_select_for(const struct wsb_snapshot *s, const struct wsb_select_request *rq, uint64_t rnd,
                   long long now_ms, struct wsb_select_scratch *sc, const struct wsb_snap_node **out);

#endif

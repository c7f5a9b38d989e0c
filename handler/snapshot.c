/* snapshot.c: turns decoded node records into the read-optimised snapshot. */
#include "snapshot.h"
#include "select.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* The ids drained at run time, sorted, so that a node's lookup costs
 * log d, not d.  The strings stay the caller's. */
struct drain_set {
    size_t n;
    const char **ids;         /* owned array; freed with free() */
};

static int cmp_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* WSB_OK, or WSB_ENOMEM with ds empty. */
static int drain_set_init(struct drain_set *ds, char *const *ids, size_t n)
{
    ds->n = 0;
    ds->ids = NULL;
    if (n == 0)
        return WSB_OK;
    ds->ids = malloc(n * sizeof *ds->ids);
    if (ds->ids == NULL)
        return WSB_ENOMEM;
    for (size_t i = 0; i < n; i++)
        ds->ids[i] = ids[i];
    qsort(ds->ids, n, sizeof *ds->ids, cmp_string);
    ds->n = n;
    return WSB_OK;
}

static int drain_set_has(const struct drain_set *ds, const char *id)
{
    return ds->n > 0 && bsearch(&id, ds->ids, ds->n, sizeof *ds->ids, cmp_string) != NULL;
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
        wsb_cell_index_free(s->versions[i].index);
    }
    free(s->versions);
    free(s->tally);
    free(s);
}

/* Position of version in s->versions, or s->n_versions when absent. */
static size_t version_slot(const struct wsb_snapshot *s, unsigned version)
{
    size_t lo = 0, hi = s->n_versions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->versions[mid].version < version)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n_versions && s->versions[lo].version == version ? lo : s->n_versions;
}

const struct wsb_version_entry *wsb_snapshot_version(const struct wsb_snapshot *s, unsigned version)
{
    size_t slot = version_slot(s, version);
    return slot < s->n_versions ? &s->versions[slot] : NULL;
}

struct wsb_snapshot *wsb_snapshot_empty(void)
{
    struct wsb_snapshot *s = calloc(1, sizeof *s);
    if (s != NULL)
        s->refs = 1;
    return s;
}

/* Notes whether every eligible node of a version has coordinates, and
 * gives a version with many such nodes its cell index: copied from prev's
 * index of the same version when built from the same input, else built.
 * Returns WSB_OK or WSB_ENOMEM. */
static int index_version(struct wsb_snapshot *s, struct wsb_version_entry *e, const struct wsb_snapshot *prev)
{
    e->coords = 1;
    for (size_t i = 0; i < e->n && e->coords; i++)
        e->coords = s->nodes[e->eligible[i]].node.has_coords;
    if (e->n < WSB_INDEX_MIN_NODES || !e->coords)
        return WSB_OK;   /* a plain scan: few nodes, or country/continent tiers */
    struct wsb_cell_point *points = malloc(e->n * sizeof *points);
    if (points == NULL)
        return WSB_ENOMEM;
    for (size_t i = 0; i < e->n; i++) {
        const struct wsb_node *nd = &s->nodes[e->eligible[i]].node;
        points[i].node = e->eligible[i];
        points[i].lat = nd->lat;
        points[i].lon = nd->lon;
    }
    const struct wsb_version_entry *old = prev != NULL ? wsb_snapshot_version(prev, e->version) : NULL;
    int status = wsb_cell_index_make(points, e->n, s->near_km, old != NULL ? old->index : NULL, &e->index);
    free(points);
    return status;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of the capacities the n nodes know (0 when none does): what a
 * node without one is assumed to hold.  WSB_OK or WSB_ENOMEM. */
static int median_capacity(const struct wsb_node *nodes, size_t n, double *out)
{
    size_t k = 0;
    *out = 0;
    for (size_t i = 0; i < n; i++)
        k += nodes[i].capacity >= 1;
    if (k == 0)
        return WSB_OK;
    double *caps = malloc(k * sizeof *caps);
    if (caps == NULL)
        return WSB_ENOMEM;
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (nodes[i].capacity >= 1)
            caps[k++] = (double)nodes[i].capacity;
    qsort(caps, k, sizeof *caps, cmp_double);
    *out = k % 2 ? caps[k / 2] : (caps[k / 2 - 1] + caps[k / 2]) / 2;
    free(caps);
    return WSB_OK;
}

/* Moves the n nodes into s (their entries are left initialised), has
 * select.c's policy judge each, and gives the eligible ones their 200
 * body.  The node stays as its record says (so that the next refresh can
 * copy it when the record is unchanged); what the state adds (its expiry,
 * run-time drains) goes into the snap node.  WSB_OK or WSB_ENOMEM (what
 * was moved stays for snapshot_free). */
static int take_nodes(struct wsb_snapshot *s, struct wsb_node *nodes, size_t n, const struct drain_set *drains,
                      const struct wsb_snapshot_params *p, const struct wsb_snapshot *prev)
{
    if (n > 0 && ((s->nodes = calloc(n, sizeof *s->nodes)) == NULL || (s->tally = calloc(n, sizeof *s->tally)) == NULL))
        return WSB_ENOMEM;
    double median;
    if (median_capacity(nodes, n, &median) != WSB_OK)
        return WSB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct wsb_snap_node *sn = &s->nodes[s->n_nodes++];
        sn->node = nodes[i];
        wsb_node_init(&nodes[i]);
        const struct wsb_node *nd = &sn->node;
        struct wsb_node_judgement j;
        wsb_select_judge(nd, s->live, drain_set_has(drains, nd->id), median, p, &j);
        sn->online = j.online;
        sn->eligible = j.eligible;
        sn->capacity = j.capacity;
        sn->used = j.used;
        sn->room = j.room;
        sn->slow_start_s = j.slow_start_s;
        sn->budget = j.budget;
        sn->filter = j.filter;
        s->n_budgeted += j.eligible && j.budget > 0;
        if (nd->has_coords)
            wsb_geo_unit(nd->lat, nd->lon, &sn->x, &sn->y, &sn->z);
        s->n_online += j.online != 0;
        s->n_draining += j.drained != 0;
        s->n_overloaded += j.online && j.overloaded;
        s->n_eligible += j.eligible != 0;
        if (j.eligible && (sn->body = body_of(nd, i, prev, &sn->body_len)) == NULL)
            return WSB_ENOMEM;
    }
    return WSB_OK;
}

/* Gives s one entry per distinct version that its nodes list, sorted (the
 * version number only).  WSB_OK or WSB_ENOMEM. */
static int list_versions(struct wsb_snapshot *s)
{
    size_t n_all = 0, k = 0, distinct = 0;
    for (size_t i = 0; i < s->n_nodes; i++)
        n_all += s->nodes[i].node.n_versions;
    if (n_all == 0)
        return WSB_OK;
    unsigned *all = malloc(n_all * sizeof *all);
    if (all == NULL)
        return WSB_ENOMEM;
    for (size_t i = 0; i < s->n_nodes; i++)
        for (size_t j = 0; j < s->nodes[i].node.n_versions; j++)
            all[k++] = s->nodes[i].node.versions[j];
    qsort(all, k, sizeof *all, cmp_unsigned);
    for (size_t i = 0; i < k; i++)
        if (distinct == 0 || all[distinct - 1] != all[i])
            all[distinct++] = all[i];
    s->versions = calloc(distinct, sizeof *s->versions);
    if (s->versions != NULL) {
        for (size_t v = 0; v < distinct; v++)
            s->versions[v].version = all[v];
        s->n_versions = distinct;
    }
    free(all);
    return s->versions != NULL ? WSB_OK : WSB_ENOMEM;
}

/* Whether position j is where node nd first lists its version j (a
 * version listed twice counts once). */
static int first_listing(const struct wsb_node *nd, size_t j)
{
    for (size_t i = 0; i < j; i++)
        if (nd->versions[i] == nd->versions[j])
            return 0;
    return 1;
}

/* Fills every version's list of eligible nodes (in node order) and its
 * code (select.c's policy): one pass over the nodes counts, one fills,
 * each node's versions found by binary search, so that the cost is
 * nodes x versions per node x log versions.  WSB_OK or WSB_ENOMEM. */
static int list_eligible(struct wsb_snapshot *s)
{
    size_t *online = calloc(s->n_versions ? s->n_versions : 1, sizeof *online);
    if (online == NULL)
        return WSB_ENOMEM;
    for (size_t i = 0; i < s->n_nodes; i++) {
        const struct wsb_snap_node *sn = &s->nodes[i];
        for (size_t j = 0; j < sn->node.n_versions; j++)
            if (first_listing(&sn->node, j)) {
                size_t v = version_slot(s, sn->node.versions[j]);
                online[v] += sn->online != 0;
                s->versions[v].n += sn->eligible != 0;
            }
    }
    int status = WSB_ENOMEM;
    for (size_t v = 0; v < s->n_versions; v++) {
        struct wsb_version_entry *e = &s->versions[v];
        e->error = wsb_select_version_code(e->n, online[v]);
        if (e->n > 0 && (e->eligible = malloc(e->n * sizeof *e->eligible)) == NULL)
            goto cleanup;
        e->n = 0;   /* counted again as the list fills */
    }
    for (size_t i = 0; i < s->n_nodes; i++) {
        const struct wsb_snap_node *sn = &s->nodes[i];
        for (size_t j = 0; j < sn->node.n_versions && sn->eligible; j++)
            if (first_listing(&sn->node, j)) {
                struct wsb_version_entry *e = &s->versions[version_slot(s, sn->node.versions[j])];
                e->eligible[e->n++] = (uint32_t)i;
            }
    }
    status = WSB_OK;
cleanup:
    free(online);
    return status;
}

int wsb_snapshot_build(struct wsb_node *nodes, size_t n, int live, char *const *drain_ids,
                       size_t n_drain, size_t n_skipped, const struct wsb_snapshot_params *p,
                       const struct wsb_snapshot *prev, struct wsb_snapshot **out)
{
    int status = WSB_ENOMEM;
    struct drain_set drains = { 0, NULL };
    struct wsb_snapshot *s = wsb_snapshot_empty();
    if (s == NULL || drain_set_init(&drains, drain_ids, n_drain) != WSB_OK)
        goto cleanup;
    s->live = live;
    s->n_skipped = n_skipped;
    s->near_km = p->near_km;
    s->near_cos = cos(p->near_km / WSB_EARTH_RADIUS_KM);
    s->near_sin = sin(p->near_km / WSB_EARTH_RADIUS_KM);
    double near_min = (p->near_km < WSB_NEAR_MIN_KM ? p->near_km : WSB_NEAR_MIN_KM) / WSB_EARTH_RADIUS_KM;
    s->near_min_cos = cos(near_min);
    s->near_min_sin = sin(near_min);
    s->slow_start_min = p->slow_start_min > 0 ? p->slow_start_min : 0.1;
    s->slow_start_aggression = p->slow_start_aggression > 0 ? p->slow_start_aggression : 1.0;
    if (take_nodes(s, nodes, n, &drains, p, prev) != WSB_OK || list_versions(s) != WSB_OK ||
        list_eligible(s) != WSB_OK)
        goto cleanup;
    for (size_t v = 0; v < s->n_versions; v++) {
        struct wsb_version_entry *e = &s->versions[v];
        if (index_version(s, e, prev) != WSB_OK)
            goto cleanup;
        if (e->n > s->max_eligible)
            s->max_eligible = e->n;
    }
    *out = s;
    s = NULL;
    status = WSB_OK;
cleanup:
    free(drains.ids);
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

/* snapshot.c: turns decoded node records into the read-optimised snapshot. */
#include "snapshot.h"
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
        wsb_cell_index_free(s->versions[i].index);
    }
    free(s->versions);
    free(s);
}

const struct wsb_version_entry *wsb_snapshot_version(const struct wsb_snapshot *s, unsigned version)
{
    size_t lo = 0, hi = s->n_versions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->versions[mid].version < version)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n_versions && s->versions[lo].version == version ? &s->versions[lo] : NULL;
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

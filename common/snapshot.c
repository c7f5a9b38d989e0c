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

static void snapshot_free(struct wsb_snapshot *s)
{
    for (size_t i = 0; i < s->n_nodes; i++) {
        wsb_node_clear(&s->nodes[i].node);
        free(s->nodes[i].body);
    }
    free(s->nodes);
    for (size_t i = 0; i < s->n_versions; i++)
        free(s->versions[i].eligible);
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

int wsb_snapshot_build(struct wsb_node *nodes, size_t n, int live, char *const *drain_ids,
                       size_t n_drain, size_t n_skipped, const struct wsb_snapshot_params *p,
                       struct wsb_snapshot **out)
{
    int status = WSB_ENOMEM;
    unsigned *all_versions = NULL;
    struct wsb_snapshot *s = wsb_snapshot_empty();
    if (s == NULL)
        goto cleanup;
    s->live = live;
    s->n_skipped = n_skipped;
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

/* affinity.c: rendezvous hashing over the near candidates, with a load bound (see affinity.h). */
#include "affinity.h"
#include "hash.h"

#include <math.h>
#include <string.h>

/* splitmix64's finaliser: FNV-1a alone spreads similar ids poorly. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t wsb_affinity_hash(const void *key, size_t len)
{
    return mix(wsb_fnv1a(WSB_FNV_OFFSET, key, len));
}

double wsb_affinity_score(const struct wsb_snapshot *s, uint32_t i, uint64_t key_hash)
{
    const struct wsb_snap_node *sn = &s->nodes[i];
    uint64_t id = wsb_fnv1a(WSB_FNV_OFFSET, sn->node.id, strlen(sn->node.id));
    uint64_t h = mix(key_hash ^ mix(id));
    /* u in (0, 1): 53 bits, never 0 */
    double u = ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    return sn->capacity / -log(u);
}

double wsb_affinity_used(const struct wsb_snapshot *s, uint32_t i)
{
    const struct wsb_snap_node *sn = &s->nodes[i];
    return sn->used + (sn->room - wsb_select_room(s, i));
}

int wsb_affinity_within(const struct wsb_snapshot *s, uint32_t i, double balance, double sum_used,
                        double sum_capacity)
{
    if (sum_capacity <= 0)
        return 1;
    double cap = ceil((1.0 + balance) * (sum_used + 1.0) * s->nodes[i].capacity / sum_capacity);
    return wsb_affinity_used(s, i) + 1.0 <= cap;
}

const struct wsb_snap_node *wsb_affinity_pick(const struct wsb_snapshot *s, struct wsb_select_scratch *sc,
                                              size_t k, uint64_t key_hash, double balance, long long now_ms)
{
    double sum_used = 0, sum_capacity = 0;
    for (size_t j = 0; j < k; j++) {
        uint32_t i = sc->cand[j];
        double used = wsb_affinity_used(s, i);
        sum_used += used > 0 ? used : 0;
        sum_capacity += s->nodes[i].capacity;
        sc->sim[j] = wsb_select_over_budget(s, i, now_ms) ? -INFINITY : wsb_affinity_score(s, i, key_hash);
    }
    for (size_t tries = 0; tries < WSB_AFFINITY_TRIES && tries < k; tries++) {
        size_t best = k;
        for (size_t j = 0; j < k; j++)
            if (sc->sim[j] > -INFINITY && (best == k || sc->sim[j] > sc->sim[best]))
                best = j;
        if (best == k)
            break;   /* the rest are over their budgets */
        if (wsb_affinity_within(s, sc->cand[best], balance, sum_used, sum_capacity))
            return &s->nodes[sc->cand[best]];
        sc->sim[best] = -INFINITY;
    }
    /* Rare: more than WSB_AFFINITY_TRIES over the bound; the least loaded
     * of the rest (ties: the key's order is gone, the lowest index). */
    const struct wsb_snap_node *least = NULL;
    double least_load = INFINITY;
    for (size_t j = 0; j < k; j++) {
        uint32_t i = sc->cand[j];
        if (wsb_select_over_budget(s, i, now_ms))
            continue;
        double load = (wsb_affinity_used(s, i) + 1.0) / s->nodes[i].capacity;
        if (load < least_load) {
            least_load = load;
            least = &s->nodes[i];
        }
    }
    return least;
}

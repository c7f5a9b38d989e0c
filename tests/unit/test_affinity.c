/* test_affinity.c: ?affinity= and ?exclude= through wsb_select_for over built snapshots. */
#include "affinity.h"
#include "assign.h"
#include "node.h"
#include "select.h"
#include "snapshot.h"
#include "status.h"
#include "t.h"

#include <stdint.h>

#define KEYS 10000
#define MAX_NODES 40

/* Nodes n00..n<n-1> without a location, equal capacity, no connections;
 * skip (-1 none) is left out, as if removed. */
static struct wsb_snapshot *fleet(int n, int skip)
{
    struct wsb_node nodes[MAX_NODES];
    char err[WSB_ERRLEN], id[16], json[512];
    size_t m = 0;
    for (int i = 0; i < n; i++) {
        if (i == skip)
            continue;
        snprintf(id, sizeof id, "n%02d", i);
        snprintf(json, sizeof json,
                 "{\"endpoint\":\"wss://n%02d.example.net/ws\",\"location\":\"N%d\",\"versions\":[\"v1\"],"
                 "\"online\":true,\"capacity\":100000,\"connections\":0,\"load\":0}", i, i);
        CHECK(wsb_node_decode(id, strlen(id), json, strlen(json), &nodes[m], err) == WSB_OK, "%s", err);
        m++;
    }
    struct wsb_snapshot_params p = { .max_load = 0.9, .unknown_load = 0.5, .near_km = 300 };
    struct wsb_snapshot *s = NULL;
    CHECK(wsb_snapshot_build(nodes, m, 1, NULL, 0, 0, &p, NULL, &s) == WSB_OK, "build");
    return s;
}

static struct wsb_select_scratch sc;

/* The node's number (n07 -> 7) for key k, or -1; counts it when note. */
static int pick_key(struct wsb_snapshot *s, const struct wsb_client_loc *loc, const char *key, double balance,
                    const uint32_t *ex, size_t n_ex, int note, uint64_t rnd)
{
    wsb_select_scratch_reserve(&sc, s->max_eligible);
    struct wsb_select_request rq = { .version = 1, .client = loc, .exclude = ex, .n_exclude = n_ex,
                                     .balance = balance };
    if (key != NULL) {
        rq.has_affinity = 1;
        rq.affinity_hash = wsb_affinity_hash(key, strlen(key));
    }
    const struct wsb_snap_node *out = NULL;
    if (wsb_select_for(s, &rq, rnd, 0, &sc, &out) != WSB_SELECT_OK || out == NULL)
        return -1;
    if (note)
        wsb_assign_note(s, out);
    return atoi(out->node.id + 1);
}

static const char *key_of(int k)
{
    static char buf[32];
    snprintf(buf, sizeof buf, "user-%d", k);
    return buf;
}

static void test_deterministic(void)
{
    /* Two snapshots built apart (two processes, two hosts): same answers,
     * whatever the random word. */
    struct wsb_snapshot *a = fleet(10, -1), *b = fleet(10, -1);
    int same = 0, seen[10] = { 0 };
    for (int k = 0; k < 1000; k++) {
        int x = pick_key(a, NULL, key_of(k), 0.25, NULL, 0, 0, (uint64_t)k * 7919);
        int y = pick_key(b, NULL, key_of(k), 0.25, NULL, 0, 0, ~(uint64_t)k);
        same += x == y && x >= 0;
        if (x >= 0)
            seen[x]++;
    }
    CHECK_INT(same, 1000);
    for (int i = 0; i < 10; i++)
        CHECK(seen[i] > 50, "node %d has %d of 1000 keys: keys are spread", i, seen[i]);
    wsb_snapshot_unref(a);
    wsb_snapshot_unref(b);
}

static void test_minimal_disruption(void)
{
    static int before[KEYS];
    struct wsb_snapshot *all = fleet(10, -1), *less = fleet(10, 3), *more = fleet(11, -1);
    int moved = 0, moved_elsewhere = 0, added = 0, added_elsewhere = 0;
    for (int k = 0; k < KEYS; k++)
        before[k] = pick_key(all, NULL, key_of(k), 0.25, NULL, 0, 0, 0);
    for (int k = 0; k < KEYS; k++) {
        int x = pick_key(less, NULL, key_of(k), 0.25, NULL, 0, 0, 0);
        moved += x != before[k];
        moved_elsewhere += x != before[k] && before[k] != 3;   /* only node 3's keys may move */
        int y = pick_key(more, NULL, key_of(k), 0.25, NULL, 0, 0, 0);
        added += y != before[k];
        added_elsewhere += y != before[k] && y != 10;          /* only to the new node */
    }
    printf("  node removed: %d of %d keys moved; node added: %d moved\n", moved, KEYS, added);
    CHECK_INT(moved_elsewhere, 0);
    CHECK_INT(added_elsewhere, 0);
    CHECK(moved > KEYS / 10 / 2 && moved < KEYS * 3 / 2 / 10, "about 1/10 moved: %d", moved);
    CHECK(added > KEYS / 11 / 2 && added < KEYS * 3 / 2 / 11, "about 1/11 moved: %d", added);
    wsb_snapshot_unref(all);
    wsb_snapshot_unref(less);
    wsb_snapshot_unref(more);
}

/* max/mean of the answers after KEYS requests, each counted in the tally;
 * same_key: every request sends one key (a hot key). */
static double spread(double balance, int same_key)
{
    struct wsb_snapshot *s = fleet(10, -1);
    int count[10] = { 0 };
    for (int k = 0; k < KEYS; k++) {
        int x = pick_key(s, NULL, key_of(same_key ? 1 : k), balance, NULL, 0, 1, 0);
        CHECK(x >= 0, "answered");
        if (x >= 0)
            count[x]++;
    }
    int max = 0;
    for (int i = 0; i < 10; i++)
        max = count[i] > max ? count[i] : max;
    wsb_snapshot_unref(s);
    return max / (KEYS / 10.0);
}

static void test_load_bound(void)
{
    double mean = KEYS / 10.0;
    double r25 = spread(0.25, 0), r02 = spread(0.02, 0), rfree = spread(10, 0);
    double hot25 = spread(0.25, 1), hotfree = spread(10, 1);
    printf("  max/mean: e=0.25 %.3f, e=0.02 %.3f, e=10 %.3f; one hot key: e=0.25 %.3f, e=10 %.3f\n", r25, r02,
           rfree, hot25, hotfree);
    CHECK(r25 <= 1.25 + 1 / mean, "within 1 + 0.25: %.3f", r25);
    CHECK(r02 <= 1.02 + 1 / mean, "within 1 + 0.02: %.3f", r02);
    CHECK(rfree > 1.02 + 1 / mean, "without a binding bound the spread is wider (%.3f): the test can fail", rfree);
    CHECK(hot25 <= 1.25 + 1 / mean, "a hot key is spread within 1 + 0.25: %.3f", hot25);
    CHECK(hotfree > 5, "a hot key with no binding bound sticks to its node: %.3f", hotfree);
}

static void test_exclude(void)
{
    struct wsb_snapshot *s = fleet(4, -1);
    const char *ends[] = { "wss://n01.example.net/ws", "wss://n02.example.net/w", "wss://n02.example.net/ws",
                           "wss://nowhere/ws" };
    size_t lens[] = { strlen(ends[0]), strlen(ends[1]), strlen(ends[2]), strlen(ends[3]) };
    uint32_t ex[8];
    size_t n = wsb_select_match_exclude(s, 1, ends, lens, 2, ex, 8);
    CHECK_INT(n, 1);   /* a prefix of an endpoint is not it */
    n = wsb_select_match_exclude(s, 1, ends, lens, 4, ex, 8);
    CHECK_INT(n, 2);
    CHECK_INT(wsb_select_match_exclude(s, 2, ends, lens, 4, ex, 8), 0);   /* no node lists v2 */
    CHECK_INT(wsb_select_match_exclude(NULL, 1, ends, lens, 4, ex, 8), 0);
    n = wsb_select_match_exclude(s, 1, ends, lens, 4, ex, 8);
    int seen[4] = { 0 };
    for (uint64_t r = 0; r < 400; r++) {
        int x = pick_key(s, NULL, NULL, 0.25, ex, n, 0, r * 0x9e3779b97f4a7c15ull);
        CHECK(x == 0 || x == 3, "excluded node answered: %d", x);
        if (x >= 0)
            seen[x]++;
    }
    CHECK(seen[0] > 0 && seen[3] > 0, "the rest still spread: %d %d", seen[0], seen[3]);
    /* Everything excluded: the best node all the same, not an error. */
    const char *every[] = { "wss://n00.example.net/ws", "wss://n01.example.net/ws", "wss://n02.example.net/ws",
                            "wss://n03.example.net/ws" };
    size_t elens[4];
    for (int i = 0; i < 4; i++)
        elens[i] = strlen(every[i]);
    uint32_t all[8];
    size_t na = wsb_select_match_exclude(s, 1, every, elens, 4, all, 8);
    CHECK_INT(na, 4);
    CHECK(pick_key(s, NULL, NULL, 0.25, all, na, 0, 5) >= 0, "all excluded: still an answer");
    CHECK(pick_key(s, NULL, "k", 0.25, all, na, 0, 5) == pick_key(s, NULL, "k", 0.25, NULL, 0, 0, 5),
          "all excluded: the key's node, as if nothing were excluded");
    /* Affinity and exclude: the key's next node, the same every time. */
    int first = pick_key(s, NULL, "session-9", 0.25, NULL, 0, 0, 1);
    char end[64];
    snprintf(end, sizeof end, "wss://n%02d.example.net/ws", first);
    const char *e1[] = { end };
    size_t l1[] = { strlen(end) };
    uint32_t x1[1];
    CHECK_INT(wsb_select_match_exclude(s, 1, e1, l1, 1, x1, 1), 1);
    int second = pick_key(s, NULL, "session-9", 0.25, x1, 1, 0, 2);
    CHECK(second >= 0 && second != first, "excluded key's node %d, got %d", first, second);
    CHECK_INT(pick_key(s, NULL, "session-9", 0.25, x1, 1, 0, 99), second);
    CHECK_INT(pick_key(s, NULL, "session-9", 0.25, NULL, 0, 0, 3), first);   /* back when it may */
    wsb_snapshot_unref(s);
}

#define CITY(id, lat, lon, cc, cont)                                                                   \
    { id, "{\"endpoint\":\"wss://" id ".example.net/ws\",\"location\":\"" id "\",\"lat\":" #lat          \
          ",\"lon\":" #lon ",\"country\":\"" cc "\",\"continent\":\"" cont "\",\"versions\":[\"v1\"],"   \
          "\"online\":true,\"capacity\":1000,\"connections\":100}" }

static void test_geography_wins(void)
{
    const struct {
        const char *id, *json;
    } world[] = { CITY("lon", 51.51, -0.13, "GB", "EU"), CITY("ams", 52.37, 4.90, "NL", "EU"),
                  CITY("bru", 50.85, 4.35, "BE", "EU"), CITY("tyo", 35.68, 139.69, "JP", "AS"),
                  CITY("sea", 47.61, -122.33, "US", "NA") };
    struct wsb_node nodes[5];
    char err[WSB_ERRLEN];
    for (int i = 0; i < 5; i++)
        CHECK(wsb_node_decode(world[i].id, 3, world[i].json, strlen(world[i].json), &nodes[i], err) == WSB_OK, "%s",
              err);
    struct wsb_snapshot_params p = { .max_load = 0.9, .unknown_load = 0.5, .near_km = 500 };
    struct wsb_snapshot *s = NULL;
    CHECK(wsb_snapshot_build(nodes, 5, 1, NULL, 0, 0, &p, NULL, &s) == WSB_OK, "build");
    struct wsb_client_loc paris = { .has_coords = 1, .lat = 48.86, .lon = 2.35, .country = "FR", .continent = "EU" };
    wsb_select_scratch_reserve(&sc, s->max_eligible);
    int seen[3] = { 0 };
    for (int k = 0; k < 300; k++) {
        struct wsb_select_request rq = { .version = 1, .client = &paris, .has_affinity = 1, .balance = 0.25,
                                         .affinity_hash = wsb_affinity_hash(key_of(k), strlen(key_of(k))) };
        const struct wsb_snap_node *out = NULL;
        CHECK_INT(wsb_select_for(s, &rq, 0, 0, &sc, &out), 0);
        const char *id = out ? out->node.id : "";
        CHECK(!strcmp(id, "lon") || !strcmp(id, "ams") || !strcmp(id, "bru"), "Paris key %d went to %s", k, id);
        seen[0] += !strcmp(id, "lon");
        seen[1] += !strcmp(id, "ams");
        seen[2] += !strcmp(id, "bru");
    }
    /* Brussels (264 km) is nearest, London (344 km) within its band, Amsterdam (430 km) outside it. */
    CHECK(seen[0] > 0 && seen[2] > 0 && seen[1] == 0, "keys spread over the near band: lon %d ams %d bru %d",
          seen[0], seen[1], seen[2]);
    /* Excluding all three near ones moves the band outwards, not to an error. */
    const char *ends[] = { "wss://lon.example.net/ws", "wss://ams.example.net/ws", "wss://bru.example.net/ws" };
    size_t lens[] = { 24, 24, 24 };
    uint32_t ex[4];
    size_t n = wsb_select_match_exclude(s, 1, ends, lens, 3, ex, 4);
    CHECK_INT(n, 3);
    struct wsb_select_request rq = { .version = 1, .client = &paris, .exclude = ex, .n_exclude = n };
    const struct wsb_snap_node *out = NULL;
    CHECK_INT(wsb_select_for(s, &rq, 12345, 0, &sc, &out), 0);
    CHECK(out != NULL && (!strcmp(out->node.id, "sea") || !strcmp(out->node.id, "tyo")), "next band");
    wsb_snapshot_unref(s);
}

int main(void)
{
    T_RUN(test_deterministic);
    T_RUN(test_minimal_disruption);
    T_RUN(test_load_bound);
    T_RUN(test_exclude);
    T_RUN(test_geography_wins);
    wsb_select_scratch_free(&sc);
    return t_done("affinity");
}

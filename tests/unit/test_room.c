/* test_room.c: room in connections, the tally of answers, slow start and
 * session-start budgets, on built snapshots (select.h, assign.h). */
#include "assign.h"
#include "node.h"
#include "select.h"
#include "snapshot.h"
#include "status.h"
#include "t.h"

#include <stdint.h>

#define NOW_MS 1800000000000LL   /* a fixed "now": selection takes the time as an input */

static struct wsb_snapshot_params params(void)
{
    struct wsb_snapshot_params p = { .max_load = 0.9, .allow_ws = 0, .unknown_load = 0.5, .near_km = 300,
                                     .assumed_capacity = 10000, .slow_start_s = 30, .slow_start_min = 0.1,
                                     .slow_start_aggression = 1.0 };
    return p;
}

/* A snapshot of n records "id=json" with parameters p. */
static struct wsb_snapshot *build_p(const char *const *recs, size_t n, const struct wsb_snapshot_params *p)
{
    struct wsb_node *nodes = calloc(n, sizeof *nodes);
    char err[WSB_ERRLEN];
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(recs[i], '=');
        int st = wsb_node_decode(recs[i], (size_t)(eq - recs[i]), eq + 1, strlen(eq + 1), &nodes[i], err);
        CHECK(st == WSB_OK, "decode %s: %s", recs[i], err);
    }
    struct wsb_snapshot *s = NULL;
    CHECK(wsb_snapshot_build(nodes, n, 1, NULL, 0, 0, p, NULL, &s) == WSB_OK, "build");
    free(nodes);
    snprintf(s->round_id, sizeof s->round_id, "1");
    return s;
}

static struct wsb_snapshot *build(const char *const *recs, size_t n)
{
    struct wsb_snapshot_params p = params();
    return build_p(recs, n, &p);
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static long index_of(const struct wsb_snapshot *s, const char *id)
{
    for (size_t i = 0; i < s->n_nodes; i++)
        if (strcmp(s->nodes[i].node.id, id) == 0)
            return (long)i;
    return -1;
}

/* Draws `draws` clients at client (NULL: no location), counting each
 * answer in the tally when note is set; counts per node into got[] and
 * returns the number of 503s. */
static long draw(struct wsb_snapshot *s, const struct wsb_client_loc *client, long draws, int note, long long now,
                 long *got, uint64_t seed)
{
    struct wsb_select_scratch sc = { 0 };
    wsb_select_scratch_reserve(&sc, s->max_eligible);
    long refused = 0;
    for (long d = 0; d < draws; d++) {
        const struct wsb_snap_node *out = NULL;
        int code = wsb_select(s, 1, client, mix(seed + (uint64_t)d), now, &sc, &out);
        if (code != WSB_SELECT_OK) {
            CHECK_INT(code, WSB_NO_SERVERS_AVAILABLE);
            refused++;
            continue;
        }
        got[out - s->nodes]++;
        if (note)
            wsb_assign_note(s, out);
    }
    wsb_select_scratch_free(&sc);
    return refused;
}

#define REC(id, extra)                                                                           \
    id "={\"endpoint\":\"wss://" id ".example.net/ws\",\"location\":\"" id "\",\"versions\":[\"v1\"]," \
       "\"online\":true" extra "}"

/* The case: capacities 20,000 / 2,000 / 10,000 at 30 / 30 / 60 %:
 * rooms 12,000 / 1,200 / 3,000 connections, and the shares follow them. */
static void test_room_in_connections(void)
{
    const char *recs[] = {
        REC("big", ",\"load\":0.3,\"connections\":6000,\"capacity\":20000"),
        REC("small", ",\"load\":0.3,\"connections\":600,\"capacity\":2000"),
        REC("mid", ",\"load\":0.6,\"connections\":6000,\"capacity\":10000"),
    };
    struct wsb_snapshot *s = build(recs, 3);
    CHECK(fabs(s->nodes[0].room - 12000) < 1e-6, "big room %g", s->nodes[0].room);
    CHECK(fabs(s->nodes[1].room - 1200) < 1e-6, "small room %g", s->nodes[1].room);
    CHECK(fabs(s->nodes[2].room - 3000) < 1e-6, "mid room %g", s->nodes[2].room);
    long got[3] = { 0 };
    long n = 200000;
    CHECK_INT(draw(s, NULL, n, 0, NOW_MS, got, 1), 0);
    double want[3] = { 12000.0 / 16200, 1200.0 / 16200, 3000.0 / 16200 };
    for (int i = 0; i < 3; i++)
        CHECK(fabs((double)got[i] / (double)n / want[i] - 1) < 0.03, "node %d: share %.4f, room share %.4f", i,
              (double)got[i] / (double)n, want[i]);
    wsb_snapshot_unref(s);
}

/* A node that reports only a load is weighed with the median of the known
 * capacities; with none known, with the assumed capacity. */
static void test_capacity_fallback(void)
{
    const char *recs[] = {
        REC("a", ",\"load\":0.3,\"connections\":6000,\"capacity\":20000"),
        REC("b", ",\"load\":0.3"),
        REC("c", ",\"load\":0.3,\"connections\":3000,\"capacity\":10000"),
    };
    struct wsb_snapshot *s = build(recs, 3);
    CHECK(fabs(s->nodes[1].capacity - 15000) < 1e-6, "median of 20,000 and 10,000: %g", s->nodes[1].capacity);
    CHECK(fabs(s->nodes[1].room - 0.6 * 15000) < 1e-6, "room %g", s->nodes[1].room);
    wsb_snapshot_unref(s);

    const char *none[] = { REC("x", ",\"load\":0.4"), REC("y", "") };
    struct wsb_snapshot_params p = params();
    p.assumed_capacity = 500;
    s = build_p(none, 2, &p);
    CHECK(fabs(s->nodes[0].room - 0.5 * 500) < 1e-6, "assumed capacity: room %g", s->nodes[0].room);
    CHECK(fabs(s->nodes[1].used - 0.5 * 500) < 1e-6, "unknown load counts as WSB_UNKNOWN_LOAD: %g",
          s->nodes[1].used);
    wsb_snapshot_unref(s);
}

/* The overload filter and the weights use one estimate: room for one more
 * connection is eligible, less is not. */
static void test_overload_same_estimate(void)
{
    const char *recs[] = {
        REC("edge", ",\"load\":0.89,\"connections\":89,\"capacity\":100"),
        REC("full", ",\"load\":0.8995,\"capacity\":1000"),
        REC("over", ",\"load\":0.95,\"connections\":95,\"capacity\":100"),
    };
    struct wsb_snapshot *s = build(recs, 3);
    CHECK(s->nodes[0].eligible, "room 1: eligible");
    CHECK(!s->nodes[1].eligible, "room 0.5 (899.5 of 900): one more client would pass max_load");
    CHECK(!s->nodes[2].eligible, "over max_load");
    CHECK_INT(s->n_overloaded, 2);
    long got[3] = { 0 };
    CHECK_INT(draw(s, NULL, 5, 1, NOW_MS, got, 2), 4);
    CHECK_INT(got[0], 1);   /* one client fits, then the node is full */
    wsb_snapshot_unref(s);
}

/* A burst of 90 % of the total room, counted as it goes: no node ends
 * above its room, and each gets its share of the room within 10 %. */
static void test_burst_never_overloads(void)
{
    const char *recs[] = {
        REC("n1", ",\"load\":0.3,\"connections\":6000,\"capacity\":20000"),
        REC("n2", ",\"load\":0.3,\"connections\":600,\"capacity\":2000"),
        REC("n3", ",\"load\":0.6,\"connections\":6000,\"capacity\":10000"),
        REC("n4", ",\"load\":0.1,\"connections\":200,\"capacity\":2000"),
    };
    struct wsb_snapshot *s = build(recs, 4);
    double total = 0;
    for (int i = 0; i < 4; i++)
        total += s->nodes[i].room;
    long got[4] = { 0 };
    long burst = (long)(0.9 * total);
    CHECK_INT(draw(s, NULL, burst, 1, NOW_MS, got, 3), 0);
    for (int i = 0; i < 4; i++) {
        CHECK(got[i] <= (long)s->nodes[i].room, "node %d took %ld, room %g", i, got[i], s->nodes[i].room);
        double share = (double)got[i] / (double)burst, want = s->nodes[i].room / total;
        CHECK(fabs(share / want - 1) < 0.10, "node %d: share %.4f, room share %.4f", i, share, want);
        CHECK_INT(s->tally[i].unflushed, got[i]);
    }
    /* Past the total room: every node fills exactly, then 100. */
    long more[4] = { 0 };
    long refused = draw(s, NULL, (long)total, 1, NOW_MS, more, 4);
    for (int i = 0; i < 4; i++)
        CHECK_INT(got[i] + more[i], (long)s->nodes[i].room);
    CHECK(refused > 0, "refused %ld", refused);
    wsb_snapshot_unref(s);
}

/* What other processes assigned (the fleet count, as read from Redis)
 * counts as this process's own. */
static void test_fleet_counts(void)
{
    const char *recs[] = {
        REC("a", ",\"load\":0.5,\"connections\":50,\"capacity\":100"),
        REC("b", ",\"load\":0.5,\"connections\":50,\"capacity\":100"),
    };
    struct wsb_snapshot *s = build(recs, 2);
    s->tally[0].fleet = 39;   /* room 40: one left */
    CHECK(fabs(wsb_select_room(s, 0) - 1) < 1e-9, "room now %g", wsb_select_room(s, 0));
    long got[2] = { 0 };
    draw(s, NULL, 60, 1, NOW_MS, got, 5);
    CHECK(got[0] <= 1, "a took %ld with room 1", got[0]);
    CHECK_INT(got[0] + got[1], 41);   /* 1 + 40, then refused */
    wsb_snapshot_unref(s);
}

/* Clients spill to the next nearest nodes when the near ones fill up,
 * through a cell index too (whose lists only cover the nearest node's
 * band), and only then get 100. */
static void test_spill_outwards(void)
{
    /* 30 nodes: Frankfurt and Paris with room 10 each, the rest along a
     * meridian far away (the index is built from 24 nodes on). */
    const char *recs[30];
    char buf[30][400];
    for (int i = 0; i < 30; i++) {
        double lat = i == 0 ? 50.11 : i == 1 ? 48.86 : -60 + i;
        double lon = i == 0 ? 8.68 : i == 1 ? 2.35 : i == 2 ? 21.0 : 150.0;
        int conns = i < 2 ? 80 : 0;
        snprintf(buf[i], sizeof buf[i],
                 "n%02d={\"endpoint\":\"wss://n%02d.example.net/ws\",\"location\":\"x\",\"lat\":%.2f,\"lon\":%.2f,"
                 "\"versions\":[\"v1\"],\"online\":true,\"load\":%.2f,\"connections\":%d,\"capacity\":100}",
                 i, i, lat, lon, conns / 100.0, conns);
        recs[i] = buf[i];
    }
    struct wsb_snapshot *s = build(recs, 30);
    CHECK(s->versions[0].index != NULL, "a cell index is used");
    struct wsb_client_loc c;
    memset(&c, 0, sizeof c);
    c.has_coords = 1;
    c.lat = 49.5;
    c.lon = 5.5;   /* between Frankfurt and Paris */
    long got[30] = { 0 };
    draw(s, &c, 20, 1, NOW_MS, got, 6);
    CHECK(got[0] == 10 && got[1] == 10, "the two near nodes fill first: %ld %ld", got[0], got[1]);
    memset(got, 0, sizeof got);
    draw(s, &c, 5, 1, NOW_MS, got, 7);
    /* Node 2 (lat -58, lon 21) is the nearest of the rest for this client. */
    CHECK_INT(got[2], 5);
    /* All full: 100. */
    for (int i = 0; i < 30; i++)
        s->tally[i].fleet = 1000;
    memset(got, 0, sizeof got);
    CHECK_INT(draw(s, &c, 3, 1, NOW_MS, got, 8), 3);
    wsb_snapshot_unref(s);
}

/* Slow start: the factor ramps from the floor to 1 over the window after
 * changed_at, with Envoy's exponent; off with a window of 0. */
static void test_slow_start(void)
{
    char rec[2][300];
    long long changed = NOW_MS / 1000 - 15;
    snprintf(rec[0], sizeof rec[0], REC("new", ",\"load\":0.1,\"connections\":10,\"capacity\":100,\"changed_at\":%lld"),
             changed);
    snprintf(rec[1], sizeof rec[1], REC("old", ",\"load\":0.1,\"connections\":10,\"capacity\":100,\"changed_at\":1000"));
    const char *recs[] = { rec[0], rec[1] };
    struct wsb_snapshot *s = build(recs, 2);
    CHECK(fabs(wsb_select_slow_start(s, 0, NOW_MS) - 0.5) < 1e-9, "half way: %g", wsb_select_slow_start(s, 0, NOW_MS));
    CHECK(fabs(wsb_select_slow_start(s, 0, NOW_MS - 14000) - 0.1) < 1e-9, "1 s in: the floor");
    CHECK(fabs(wsb_select_slow_start(s, 0, NOW_MS - 60000) - 0.1) < 1e-9, "a clock behind: the floor");
    CHECK(fabs(wsb_select_slow_start(s, 0, NOW_MS + 15000) - 1) < 1e-9, "window over");
    CHECK(fabs(wsb_select_slow_start(s, 1, NOW_MS) - 1) < 1e-9, "long online");
    long got[2] = { 0 };
    long n = 100000;
    draw(s, NULL, n, 0, NOW_MS, got, 9);
    CHECK(fabs((double)got[0] / (double)n - 1.0 / 3.0) < 0.01, "share of the new node %.4f, want 1/3",
          (double)got[0] / (double)n);
    wsb_snapshot_unref(s);

    struct wsb_snapshot_params p = params();
    p.slow_start_aggression = 2.0;
    s = build_p(recs, 2, &p);
    CHECK(fabs(wsb_select_slow_start(s, 0, NOW_MS) - sqrt(0.5)) < 1e-9, "aggression 2: %g",
          wsb_select_slow_start(s, 0, NOW_MS));
    wsb_snapshot_unref(s);

    p = params();
    p.slow_start_s = 0;   /* off globally ... */
    s = build_p(recs, 2, &p);
    CHECK(fabs(wsb_select_slow_start(s, 0, NOW_MS) - 1) < 1e-9, "off");
    wsb_snapshot_unref(s);
    /* ... or per node, which wins over the global window both ways. */
    snprintf(rec[0], sizeof rec[0],
             REC("new", ",\"load\":0.1,\"capacity\":100,\"changed_at\":%lld,\"slow_start_s\":0"), changed);
    snprintf(rec[1], sizeof rec[1],
             REC("old", ",\"load\":0.1,\"capacity\":100,\"changed_at\":%lld,\"slow_start_s\":60"), changed);
    s = build_p(recs, 2, &p);
    CHECK(fabs(wsb_select_slow_start(s, 0, NOW_MS) - 1) < 1e-9, "node window 0: off");
    CHECK(fabs(wsb_select_slow_start(s, 1, NOW_MS) - 0.25) < 1e-9, "node window 60 s, 15 s in: %g",
          wsb_select_slow_start(s, 1, NOW_MS));
    wsb_snapshot_unref(s);
}

/* Budgets: a node that took max_new_per_s starts in the last second weighs
 * nothing; when every candidate did, the answer is 100.  The starts read
 * from Redis age out over the second after the read. */
static void test_budgets(void)
{
    const char *recs[] = {
        REC("paced", ",\"load\":0.1,\"connections\":100,\"capacity\":10000,\"max_new_per_s\":10"),
        REC("free", ",\"load\":0.1,\"connections\":100,\"capacity\":10000"),
    };
    struct wsb_snapshot *s = build(recs, 2);
    CHECK_INT(s->n_budgeted, 1);
    CHECK_INT(s->nodes[0].budget, 10);
    long got[2] = { 0 };
    draw(s, NULL, 1000, 1, NOW_MS, got, 10);
    CHECK_INT(got[0], 10);
    CHECK_INT(got[1], 990);
    CHECK(wsb_select_weight(s, 0, NOW_MS) == 0, "over budget weighs nothing");
    wsb_snapshot_unref(s);

    const char *alone[] = { recs[0] };
    s = build(alone, 1);
    s->tally[0].window = 5;       /* the other processes took 5 in the second before the read */
    s->tally[0].own_recent = 3;   /* and this one 3 */
    s->window_read_ms = NOW_MS;
    memset(got, 0, sizeof got);
    CHECK_INT(draw(s, NULL, 10, 1, NOW_MS, got, 11), 8);
    CHECK_INT(got[0], 2);
    /* Half a second later the starts read have half aged out; a second
     * later all of them, and only this process's unwritten ones count. */
    CHECK(fabs(wsb_select_starts(s, 0, NOW_MS + 500) - (4 + 2)) < 1e-9, "half a second later: %g",
          wsb_select_starts(s, 0, NOW_MS + 500));
    CHECK(fabs(wsb_select_starts(s, 0, NOW_MS + 1500) - 2) < 1e-9, "a second later: %g",
          wsb_select_starts(s, 0, NOW_MS + 1500));
    memset(got, 0, sizeof got);
    CHECK_INT(draw(s, NULL, 10, 1, NOW_MS + 1500, got, 12), 2);
    CHECK_INT(got[0], 8);   /* 2 + 8 = 10 */
    wsb_snapshot_unref(s);

    /* Four processes share the budget, and the counts show none of this
     * one's starts yet (a storm's first second): an even share, 10 / 4. */
    s = build(alone, 1);
    s->processes = 4;
    memset(got, 0, sizeof got);
    CHECK_INT(draw(s, NULL, 10, 1, NOW_MS, got, 13), 7);
    CHECK_INT(got[0], 3);
    CHECK(wsb_select_over_budget(s, 0, NOW_MS), "over its part");
    /* Once the counts show it took 3 of the fleet's last 5 starts, its
     * part is 3/5 of the budget; still within the fleet's 10. */
    s->tally[0].unflushed = 0;
    s->tally[0].window = 2;
    s->tally[0].own_recent = 3;
    s->window_read_ms = NOW_MS;
    memset(got, 0, sizeof got);
    CHECK_INT(draw(s, NULL, 10, 1, NOW_MS, got, 14), 7);
    CHECK_INT(got[0], 3);   /* 3 + 3 = 6 = 10 x 3/5 */
    wsb_snapshot_unref(s);
}

/* A new snapshot of the same round starts from the counts of the one it
 * replaces; one of a new round starts afresh. */
static void test_adopt(void)
{
    const char *recs[] = {
        REC("a", ",\"load\":0.5,\"connections\":50,\"capacity\":100"),
        REC("b", ",\"load\":0.5,\"connections\":50,\"capacity\":100"),
    };
    const char *swapped[] = { recs[1], recs[0] };
    struct wsb_snapshot *s1 = build(recs, 2), *s2 = build(swapped, 2), *s3 = build(recs, 2);
    s1->tally[0].fleet = 7;
    s1->tally[1].fleet = 3;
    wsb_assign_adopt(s1, s2);
    CHECK_INT(s2->tally[index_of(s2, "a")].fleet, 7);
    CHECK_INT(s2->tally[index_of(s2, "b")].fleet, 3);
    snprintf(s3->round_id, sizeof s3->round_id, "2");
    s1->processes = 6;
    wsb_assign_adopt(s1, s3);
    CHECK_INT(s3->tally[0].fleet, 0);
    CHECK_INT(s3->processes, 6);   /* the fleet's, whatever the round */
    wsb_snapshot_unref(s1);
    wsb_snapshot_unref(s2);
    wsb_snapshot_unref(s3);
}

int main(void)
{
    T_RUN(test_room_in_connections);
    T_RUN(test_capacity_fallback);
    T_RUN(test_overload_same_estimate);
    T_RUN(test_burst_never_overloads);
    T_RUN(test_fleet_counts);
    T_RUN(test_spill_outwards);
    T_RUN(test_slow_start);
    T_RUN(test_budgets);
    T_RUN(test_adopt);
    return t_done("room");
}

/* test_select.c: snapshots built from records and the pure selection. */
#include "node.h"
#include "select.h"
#include "snapshot.h"
#include "status.h"
#include "t.h"

#include <stdint.h>

struct spec {
    const char *id, *json;
};

static struct wsb_snapshot *build(const struct spec *specs, size_t n, int live, char **drain, size_t n_drain,
                                  double max_load)
{
    struct wsb_node nodes[32];
    char err[WSB_ERRLEN];
    for (size_t i = 0; i < n; i++) {
        int st = wsb_node_decode(specs[i].id, strlen(specs[i].id), specs[i].json, strlen(specs[i].json), &nodes[i], err);
        CHECK(st == WSB_OK, "decode %s: %s", specs[i].id, err);
    }
    struct wsb_snapshot_params p = { .max_load = max_load, .allow_ws = 0, .unknown_load = 0.5, .near_km = 300 };
    struct wsb_snapshot *s = NULL;
    CHECK(wsb_snapshot_build(nodes, n, live, drain, n_drain, 0, &p, NULL, &s) == WSB_OK, "build");
    return s;
}

#define NODE(city, lat, lon, cc, cont, vers, online, load)                                          \
    "{\"endpoint\":\"wss://" city ".example.net/ws\",\"location\":\"" city "\",\"lat\":" #lat        \
    ",\"lon\":" #lon ",\"country\":\"" cc "\",\"continent\":\"" cont "\",\"versions\":" vers          \
    ",\"online\":" online ",\"load\":" #load "}"

static const struct spec WORLD[] = {
    { "fra", NODE("Frankfurt", 50.11, 8.68, "DE", "EU", "[\"v1\",\"v2\"]", "true", 0.2) },
    { "lon", NODE("London", 51.51, -0.13, "GB", "EU", "[\"v1\"]", "true", 0.3) },
    { "tyo", NODE("Tokyo", 35.68, 139.69, "JP", "AS", "[\"v1\",\"v2\"]", "true", 0.4) },
    { "sea", NODE("Seattle", 47.61, -122.33, "US", "NA", "[\"v1\"]", "true", 0.1) },
};

static const char *pick(struct wsb_snapshot *s, unsigned v, const struct wsb_client_loc *c, uint64_t rnd, int *code)
{
    struct wsb_select_scratch sc = { 0 };
    wsb_select_scratch_reserve(&sc, s ? s->max_eligible : 0);
    const struct wsb_snap_node *out = NULL;
    *code = wsb_select(s, v, c, rnd, &sc, &out);
    wsb_select_scratch_free(&sc);
    return out ? out->node.id : NULL;
}

static struct wsb_client_loc at(double lat, double lon, const char *cc, const char *cont)
{
    struct wsb_client_loc c;
    memset(&c, 0, sizeof c);
    c.has_coords = 1;
    c.lat = lat;
    c.lon = lon;
    snprintf(c.country, sizeof c.country, "%s", cc);
    snprintf(c.continent, sizeof c.continent, "%s", cont);
    return c;
}

static void test_nearest_by_distance(void)
{
    struct wsb_snapshot *s = build(WORLD, 4, 1, NULL, 0, 0.9);
    int code;
    struct wsb_client_loc london = at(51.5142, -0.0931, "GB", "EU");
    struct wsb_client_loc tokyo = at(35.68536, 139.75309, "JP", "AS");
    struct wsb_client_loc tacoma = at(47.2513, -122.3149, "US", "NA");
    for (uint64_t r = 0; r < 50; r++) {
        CHECK_STR(pick(s, 1, &london, r * 0x9e3779b97f4a7c15ull, &code), "lon");
        CHECK_STR(pick(s, 1, &tokyo, r, &code), "tyo");
        CHECK_STR(pick(s, 1, &tacoma, r, &code), "sea");
    }
    /* v2 exists only in Frankfurt and Tokyo: London's client goes to Frankfurt. */
    CHECK_STR(pick(s, 2, &london, 7, &code), "fra");
    CHECK_INT(code, 0);
    wsb_snapshot_unref(s);
}

static void test_country_and_continent(void)
{
    struct wsb_snapshot *s = build(WORLD, 4, 1, NULL, 0, 0.9);
    int code;
    struct wsb_client_loc c;
    memset(&c, 0, sizeof c);
    strcpy(c.country, "JP");
    strcpy(c.continent, "AS");
    CHECK_STR(pick(s, 1, &c, 1, &code), "tyo");
    strcpy(c.country, "CN");   /* no node in China: same continent wins */
    CHECK_STR(pick(s, 1, &c, 1, &code), "tyo");
    strcpy(c.country, "FR");
    strcpy(c.continent, "EU"); /* two European nodes: either, never Tokyo/Seattle */
    int seen_fra = 0, seen_lon = 0;
    for (uint64_t r = 0; r < 200; r++) {
        const char *id = pick(s, 1, &c, r * 0x9e3779b97f4a7c15ull + 12345, &code);
        CHECK(id && (!strcmp(id, "fra") || !strcmp(id, "lon")), "got %s", id ? id : "null");
        seen_fra += id && !strcmp(id, "fra");
        seen_lon += id && !strcmp(id, "lon");
    }
    CHECK(seen_fra > 0 && seen_lon > 0, "spread over both European nodes: fra %d lon %d", seen_fra, seen_lon);
    wsb_snapshot_unref(s);
}

static void test_no_location_spreads(void)
{
    struct wsb_snapshot *s = build(WORLD, 4, 1, NULL, 0, 0.9);
    int code, seen[4] = { 0 };
    for (uint64_t r = 0; r < 400; r++) {
        uint64_t x = r * 0x9e3779b97f4a7c15ull;
        x ^= x >> 29;
        const char *id = pick(s, 1, NULL, x * 0xbf58476d1ce4e5b9ull, &code);
        for (int i = 0; i < 4; i++)
            seen[i] += id && !strcmp(id, WORLD[i].id);
    }
    /* Weighted by headroom: every node is picked sometimes, the least loaded most. */
    for (int i = 0; i < 4; i++)
        CHECK(seen[i] > 0, "node %s never chosen", WORLD[i].id);
    CHECK(seen[3] > seen[2], "least loaded (sea %d) beats most loaded (tyo %d)", seen[3], seen[2]);
    wsb_snapshot_unref(s);
}

static void test_error_codes(void)
{
    int code;
    /* Nothing registered: 100. */
    struct wsb_snapshot *empty = build(NULL, 0, 1, NULL, 0, 0.9);
    CHECK(pick(empty, 1, NULL, 1, &code) == NULL, "empty");
    CHECK_INT(code, 100);
    wsb_snapshot_unref(empty);
    CHECK(pick(NULL, 1, NULL, 1, &code) == NULL, "no snapshot");
    CHECK_INT(code, 100);

    /* Unknown version while others exist: 102. */
    struct wsb_snapshot *s = build(WORLD, 4, 1, NULL, 0, 0.9);
    pick(s, 3, NULL, 1, &code);
    CHECK_INT(code, 102);
    wsb_snapshot_unref(s);

    /* Expired state: every node offline: 101 for known versions, 102 for unknown. */
    s = build(WORLD, 4, 0, NULL, 0, 0.9);
    pick(s, 1, NULL, 1, &code);
    CHECK_INT(code, 101);
    pick(s, 9, NULL, 1, &code);
    CHECK_INT(code, 102);
    wsb_snapshot_unref(s);

    /* All v2 nodes offline, v1 still served: 101 for v2 only. */
    static const struct spec mixed[] = {
        { "a", NODE("A", 1, 1, "DE", "EU", "[\"v1\"]", "true", 0.1) },
        { "b", NODE("B", 1, 1, "DE", "EU", "[\"v2\"]", "false", 0.1) },
    };
    s = build(mixed, 2, 1, NULL, 0, 0.9);
    CHECK_STR(pick(s, 1, NULL, 1, &code), "a");
    pick(s, 2, NULL, 1, &code);
    CHECK_INT(code, 101);
    wsb_snapshot_unref(s);

    /* Online but overloaded (at or above the maximum): 100. */
    static const struct spec hot[] = {
        { "a", NODE("A", 1, 1, "DE", "EU", "[\"v1\"]", "true", 0.9) },
        { "b", NODE("B", 1, 1, "DE", "EU", "[\"v1\"]", "true", 0.95) },
    };
    s = build(hot, 2, 1, NULL, 0, 0.9);
    pick(s, 1, NULL, 1, &code);
    CHECK_INT(code, 100);
    wsb_snapshot_unref(s);
    s = build(hot, 2, 1, NULL, 0, 0.92);
    CHECK_STR(pick(s, 1, NULL, 1, &code), "a");
    wsb_snapshot_unref(s);

    /* Draining through the admin list: 100; the other node serves. */
    char *drain[] = { "a" };
    static const struct spec two[] = {
        { "a", NODE("A", 1, 1, "DE", "EU", "[\"v1\"]", "true", 0.1) },
        { "b", NODE("B", 1, 1, "DE", "EU", "[\"v1\"]", "true", 0.5) },
    };
    s = build(two, 2, 1, drain, 1, 0.9);
    for (uint64_t r = 0; r < 20; r++)
        CHECK_STR(pick(s, 1, NULL, r * 0x9e3779b97f4a7c15ull, &code), "b");
    CHECK_INT(s->n_draining, 1);
    wsb_snapshot_unref(s);
    char *both[] = { "a", "b" };
    s = build(two, 2, 1, both, 2, 0.9);
    pick(s, 1, NULL, 1, &code);
    CHECK_INT(code, 100);
    wsb_snapshot_unref(s);
}

static void test_unknown_load_and_drain_flag(void)
{
    static const struct spec specs[] = {
        { "k", "{\"endpoint\":\"wss://k.example/ws\",\"location\":\"K\",\"versions\":[\"v1\"],\"online\":true,\"load\":0.95}" },
        { "u", "{\"endpoint\":\"wss://u.example/ws\",\"location\":\"U\",\"versions\":[\"v1\"],\"online\":true}" },
        { "d", "{\"endpoint\":\"wss://d.example/ws\",\"location\":\"D\",\"versions\":[\"v1\"],\"online\":true,\"drain\":true,\"load\":0}" },
        { "w", "{\"endpoint\":\"ws://w.example/ws\",\"location\":\"W\",\"versions\":[\"v1\"],\"online\":true,\"load\":0}" },
    };
    struct wsb_snapshot *s = build(specs, 4, 1, NULL, 0, 0.9);
    int code;
    /* Only the unknown-load node is usable: overloaded, draining and ws:// are not. */
    for (uint64_t r = 0; r < 20; r++)
        CHECK_STR(pick(s, 1, NULL, r * 0x9e3779b97f4a7c15ull, &code), "u");
    CHECK_INT(s->n_eligible, 1);
    wsb_snapshot_unref(s);
}

static void test_body_is_exact(void)
{
    struct wsb_snapshot *s = build(WORLD, 1, 1, NULL, 0, 0.9);
    CHECK_STR(s->nodes[0].body, "{\"endpoint\":\"wss://Frankfurt.example.net/ws\",\"location\":\"Frankfurt\"}");
    CHECK_INT(s->nodes[0].body_len, strlen(s->nodes[0].body));
    wsb_snapshot_unref(s);
}

static void test_near_band(void)
{
    /* Two nodes 100 km apart and one 1000 km away: the far one never wins. */
    static const struct spec specs[] = {
        { "a", NODE("A", 50.0, 8.0, "DE", "EU", "[\"v1\"]", "true", 0.5) },
        { "b", NODE("B", 50.9, 8.0, "DE", "EU", "[\"v1\"]", "true", 0.1) },
        { "c", NODE("C", 59.0, 8.0, "NO", "EU", "[\"v1\"]", "true", 0.0) },
    };
    struct wsb_snapshot *s = build(specs, 3, 1, NULL, 0, 0.9);
    struct wsb_client_loc c = at(50.0, 8.0, "DE", "EU");
    int code, seen_a = 0, seen_b = 0;
    for (uint64_t r = 0; r < 300; r++) {
        const char *id = pick(s, 1, &c, r * 0x9e3779b97f4a7c15ull, &code);
        CHECK(id && strcmp(id, "c") != 0, "far node chosen");
        seen_a += id && !strcmp(id, "a");
        seen_b += id && !strcmp(id, "b");
    }
    /* Headroom 0.8 against 0.4: about two to one, and never all to one. */
    CHECK(seen_a > 50 && seen_b > 150 && seen_b > seen_a, "a %d b %d", seen_a, seen_b);
    wsb_snapshot_unref(s);
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double uniform(void)
{
    return (double)(rng() >> 11) / 9007199254740992.0;
}

/* The cell index must change nothing: for random clients all over the
 * sphere (poles and the antimeridian included) the indexed snapshot picks
 * exactly what a full scan picks. */
static void test_index_equals_scan(void)
{
    for (int round = 0; round < 3; round++) {
        size_t n = round == 0 ? 60 : round == 1 ? 400 : 3000;
        struct wsb_node *nodes = calloc(n, sizeof *nodes), *copy = calloc(n, sizeof *copy);
        char err[WSB_ERRLEN];
        for (size_t i = 0; i < n; i++) {
            char json[256], id[16];
            double z = 2 * uniform() - 1;
            double lat = atan2(z, sqrt(1 - z * z)) * 180 / M_PI, lon = uniform() * 360 - 180;
            if (i % 50 == 0)
                lat = (i % 100 == 0) ? 89.9 : -89.9;   /* polar nodes */
            snprintf(id, sizeof id, "n%zu", i);
            snprintf(json, sizeof json,
                     "{\"endpoint\":\"wss://n%zu/ws\",\"location\":\"L\",\"lat\":%.4f,\"lon\":%.4f,"
                     "\"versions\":[\"v1\"],\"online\":%s,\"load\":%.3f}",
                     i, lat, lon, i % 7 == 0 ? "false" : "true", uniform() * 0.95);
            CHECK(wsb_node_decode(id, strlen(id), json, strlen(json), &nodes[i], err) == WSB_OK, "%s", err);
            CHECK(wsb_node_decode(id, strlen(id), json, strlen(json), &copy[i], err) == WSB_OK, "%s", err);
        }
        struct wsb_snapshot_params p = { .max_load = 0.9, .unknown_load = 0.5, .near_km = 300 };
        struct wsb_snapshot *indexed = NULL, *plain = NULL, *reused = NULL;
        CHECK(wsb_snapshot_build(nodes, n, 1, NULL, 0, 0, &p, NULL, &indexed) == WSB_OK, "build");
        CHECK(wsb_snapshot_build(copy, n, 1, NULL, 0, 0, &p, NULL, &plain) == WSB_OK, "build");
        CHECK(indexed->versions[0].index != NULL && plain->versions[0].index != NULL, "%zu nodes are indexed", n);
        if (indexed->versions[0].index == NULL || plain->versions[0].index == NULL)
            return;
        free(plain->versions[0].index->start);
        free(plain->versions[0].index->items);
        free(plain->versions[0].index);
        plain->versions[0].index = NULL;
        struct wsb_select_scratch sc = { 0 };
        wsb_select_scratch_reserve(&sc, indexed->max_eligible);
        int same = 0, total = 0;
        for (int q = 0; q < 20000; q++) {
            struct wsb_client_loc c;
            memset(&c, 0, sizeof c);
            c.has_coords = 1;
            double z = 2 * uniform() - 1;
            c.lat = atan2(z, sqrt(1 - z * z)) * 180 / M_PI;
            c.lon = uniform() * 360 - 180;
            if (q % 97 == 0)
                c.lon = q % 2 ? 179.999 : -180.0;
            if (q % 89 == 0)
                c.lat = q % 2 ? 90.0 : -90.0;
            uint64_t r = rng();
            const struct wsb_snap_node *a = NULL, *b = NULL;
            int ca = wsb_select(indexed, 1, &c, r, &sc, &a);
            int cb = wsb_select(plain, 1, &c, r, &sc, &b);
            total++;
            same += ca == cb && a == b - plain->nodes + indexed->nodes;
        }
        CHECK(same == total, "%zu nodes: indexed and full scan agree on %d of %d clients", n, same, total);
        /* A rebuild from the same nodes reuses the index instead of building it. */
        struct wsb_node *again = calloc(n, sizeof *again);
        for (size_t i = 0; i < n; i++) {
            char *json = NULL;
            wsb_node_encode(&indexed->nodes[i].node, &json, err);
            wsb_node_decode(indexed->nodes[i].node.id, strlen(indexed->nodes[i].node.id), json, strlen(json), &again[i],
                            err);
            free(json);
        }
        CHECK(wsb_snapshot_build(again, n, 1, NULL, 0, 0, &p, indexed, &reused) == WSB_OK, "rebuild");
        CHECK(reused->versions[0].index && reused->versions[0].index->key == indexed->versions[0].index->key &&
                  reused->versions[0].index->n_items == indexed->versions[0].index->n_items,
              "index reused");
        wsb_select_scratch_free(&sc);
        wsb_snapshot_unref(indexed);
        wsb_snapshot_unref(plain);
        wsb_snapshot_unref(reused);
        free(nodes);
        free(copy);
        free(again);
    }
}

int main(void)
{
    T_RUN(test_index_equals_scan);
    T_RUN(test_nearest_by_distance);
    T_RUN(test_country_and_continent);
    T_RUN(test_no_location_spreads);
    T_RUN(test_error_codes);
    T_RUN(test_unknown_load_and_drain_flag);
    T_RUN(test_body_is_exact);
    T_RUN(test_near_band);
    return t_done("select");
}

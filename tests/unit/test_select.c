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
    *code = wsb_select(s, v, c, rnd, 0, &sc, &out);
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
    /* Two nodes 40 km apart (within WSB_NEAR_MIN_KM) and one 1000 km away:
     * the far one never wins. */
    static const struct spec specs[] = {
        { "a", NODE("A", 50.0, 8.0, "DE", "EU", "[\"v1\"]", "true", 0.5) },
        { "b", NODE("B", 50.36, 8.0, "DE", "EU", "[\"v1\"]", "true", 0.1) },
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

    /* The band is relative: at most half again the nearest's distance.  A
     * client 200 km from A and 290 km from B shares them (within 1.5 x);
     * one 100 km from A and 190 km from B does not (B is 1.9 x as far). */
    static const struct spec pair[] = {
        { "a", NODE("A", 50.0, 8.0, "DE", "EU", "[\"v1\"]", "true", 0.5) },
        { "b", NODE("B", 50.0, 9.26, "DE", "EU", "[\"v1\"]", "true", 0.5) },
    };
    s = build(pair, 2, 1, NULL, 0, 0.9);
    struct wsb_client_loc far = at(50.0, 8.0 - 2.797, "DE", "EU"), near = at(50.0, 8.0 - 1.398, "DE", "EU");
    seen_a = seen_b = 0;
    for (uint64_t r = 0; r < 300; r++) {
        const char *id = pick(s, 1, &far, r * 0x9e3779b97f4a7c15ull, &code);
        seen_b += id && !strcmp(id, "b");
        id = pick(s, 1, &near, r * 0x9e3779b97f4a7c15ull, &code);
        CHECK(id && !strcmp(id, "a"), "100 km against 190 km: %s", id ? id : "null");
    }
    CHECK(seen_b > 50, "200 km against 290 km: b chosen %d of 300", seen_b);
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

enum layout { UNIFORM, CLUSTERED, CLUSTERED_MANY };
static const char *const LAYOUT_NAME[] = { "uniform", "6 clusters", "80 clusters" };

/* Cluster centres: the poles, the antimeridian, and a few cities; more
 * (CLUSTERED_MANY) spread over the sphere. */
#define N_FIXED_CLUSTERS 6
#define N_MANY_CLUSTERS 80
static const double CLUSTERS[N_FIXED_CLUSTERS][2] = {
    { 89.6, 10.0 }, { -89.2, 120.0 }, { 10.0, 179.8 }, { -20.0, -179.9 }, { 50.1, 8.7 }, { 35.7, 139.7 },
};

static void cluster_centre(unsigned k, double *lat, double *lon)
{
    if (k < N_FIXED_CLUSTERS) {
        *lat = CLUSTERS[k][0];
        *lon = CLUSTERS[k][1];
        return;
    }
    uint64_t h = (k + 1) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    double z = 2 * ((double)(h >> 11) / 9007199254740992.0) - 1;
    *lat = asin(z) * 180 / M_PI;
    *lon = (double)(h & 0xffff) / 65536.0 * 360 - 180;
}

static double wrap_lon(double lon)
{
    while (lon >= 180.0)
        lon -= 360.0;
    while (lon < -180.0)
        lon += 360.0;
    return lon;
}

/* n decoded nodes of a layout (the same ones for the same seed): uniform
 * on the sphere with some at the poles and on the antimeridian, or in
 * tight clusters (duplicates included).  Every 7th is offline, loads are
 * spread over 0..0.95 (some overloaded at max_load 0.9). */
static struct wsb_node *layout_nodes(enum layout lay, size_t n, uint64_t seed)
{
    uint64_t saved = rng_state;
    rng_state = seed;
    struct wsb_node *nodes = calloc(n, sizeof *nodes);
    char err[WSB_ERRLEN];
    for (size_t i = 0; i < n; i++) {
        double lat, lon;
        if (lay == UNIFORM) {
            double z = 2 * uniform() - 1;
            lat = atan2(z, sqrt(1 - z * z)) * 180 / M_PI;
            lon = uniform() * 360 - 180;
            if (i % 50 == 0)
                lat = (i % 100 == 0) ? 89.9 : -89.9;
            if (i % 37 == 0)
                lon = (i % 74 == 0) ? -180.0 : 179.99;
        } else {
            double clat, clon, spread = i % 3 == 0 ? 0.05 : 2.0;
            cluster_centre((unsigned)(i % (lay == CLUSTERED ? N_FIXED_CLUSTERS : N_MANY_CLUSTERS)), &clat, &clon);
            lat = clat + (uniform() - 0.5) * spread;
            lon = wrap_lon(clon + (uniform() - 0.5) * spread * 3);
            if (lat > 90.0)
                lat = 180.0 - lat;
            if (lat < -90.0)
                lat = -180.0 - lat;
            if (i % 11 == 0 && i > 0) {   /* exactly where an earlier node is */
                lat = nodes[i - 6].lat;
                lon = nodes[i - 6].lon;
            }
        }
        char json[256], id[24];
        snprintf(id, sizeof id, "n%zu", i);
        snprintf(json, sizeof json,
                 "{\"endpoint\":\"wss://n%zu/ws\",\"location\":\"L\",\"lat\":%.4f,\"lon\":%.4f,"
                 "\"versions\":[\"v1\"],\"online\":%s,\"load\":%.3f}",
                 i, lat, lon, i % 7 == 0 ? "false" : "true", uniform() * 0.95);
        CHECK(wsb_node_decode(id, strlen(id), json, strlen(json), &nodes[i], err) == WSB_OK, "%s", err);
    }
    rng_state = saved;
    return nodes;
}

static struct wsb_snapshot *layout_snapshot(enum layout lay, size_t n, uint64_t seed, double near_km,
                                            const struct wsb_snapshot *prev)
{
    struct wsb_node *nodes = layout_nodes(lay, n, seed);
    struct wsb_snapshot_params p = { .max_load = 0.9, .unknown_load = 0.5, .near_km = near_km };
    struct wsb_snapshot *s = NULL;
    CHECK(wsb_snapshot_build(nodes, n, 1, NULL, 0, 0, &p, prev, &s) == WSB_OK, "build");
    free(nodes);
    return s;
}

static double dot_at(const struct wsb_snap_node *sn, double x, double y, double z)
{
    return sn->x * x + sn->y * y + sn->z * z;
}

static const uint32_t *cell_list(const struct wsb_cell_index *ix, double lat, double lon, size_t *len)
{
    int a = (int)((lat + 90.0) / ix->deg), b = (int)((lon + 180.0) / ix->deg);
    a = a < 0 ? 0 : a >= (int)ix->lat_cells ? (int)ix->lat_cells - 1 : a;
    b = b < 0 ? 0 : b >= (int)ix->lon_cells ? (int)ix->lon_cells - 1 : b;
    size_t cell = (size_t)a * ix->lon_cells + (size_t)b;
    *len = ix->start[cell + 1] - ix->start[cell];
    return ix->items + ix->start[cell];
}

/* The band's widening for a nearest node at d radians (select.h): d / 2,
 * at least WSB_NEAR_MIN_KM (or near_km when narrower), at most near_km. */
static double widening(const struct wsb_snapshot *s, double d)
{
    double near = s->near_km / WSB_EARTH_RADIUS_KM;
    double near_min = (s->near_km < WSB_NEAR_MIN_KM ? s->near_km : WSB_NEAR_MIN_KM) / WSB_EARTH_RADIUS_KM;
    double w = d / 2;
    return w < near_min ? near_min : w > near ? near : w;
}

/* Every candidate of a client at (lat, lon), by a full scan and with a
 * little more slack than select.c allows, is in the client's cell list.
 * Returns the number missed. */
static int missed_candidates(const struct wsb_snapshot *s, const struct wsb_version_entry *e, double lat,
                             double lon)
{
    double x, y, z, best = -2.0;
    wsb_geo_unit(lat, lon, &x, &y, &z);
    for (size_t i = 0; i < e->n; i++) {
        double d = dot_at(&s->nodes[e->eligible[i]], x, y, z);
        best = d > best ? d : best;
    }
    double d = acos(best > 1.0 ? 1.0 : best);
    double reach = d + widening(s, d) + 1e-9;
    double bound = reach >= M_PI ? -2.0 : cos(reach) - 1e-9;
    size_t len;
    const uint32_t *list = cell_list(e->index, lat, lon, &len);
    unsigned char *in_list = calloc(s->n_nodes, 1);
    for (size_t i = 0; i < len; i++)
        in_list[list[i]] = 1;
    int missed = 0;
    for (size_t i = 0; i < e->n; i++)
        missed += dot_at(&s->nodes[e->eligible[i]], x, y, z) >= bound && !in_list[e->eligible[i]];
    free(in_list);
    return missed;
}

/* The brute-force list of a cell: every eligible node within D + 2r +
 * w(D + r) of the centre (w: widening), D and r computed here over all
 * nodes and from the cell's corners and edge midpoints.  The index's list (built from coarser
 * cells' lists) must hold no node outside it; returns the count outside,
 * and the brute-force length in *bf_len. */
static int outside_brute_force(const struct wsb_snapshot *s, const struct wsb_version_entry *e, unsigned a,
                               unsigned b, size_t *bf_len)
{
    const struct wsb_cell_index *ix = e->index;
    double lat0 = -90.0 + a * ix->deg, lon0 = -180.0 + b * ix->deg, cx, cy, cz, r = 0, best = -2.0;
    wsb_geo_unit(lat0 + ix->deg / 2, lon0 + ix->deg / 2, &cx, &cy, &cz);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double px, py, pz;
            wsb_geo_unit(lat0 + i * ix->deg / 2, lon0 + j * ix->deg / 2, &px, &py, &pz);
            double d = px * cx + py * cy + pz * cz;
            d = acos(d > 1.0 ? 1.0 : d);
            r = d > r ? d : r;
        }
    r += 1.0 / WSB_EARTH_RADIUS_KM;
    for (size_t i = 0; i < e->n; i++) {
        double d = dot_at(&s->nodes[e->eligible[i]], cx, cy, cz);
        best = d > best ? d : best;
    }
    double dc = acos(best > 1.0 ? 1.0 : best);
    double reach = dc + 2 * r + widening(s, dc + r);
    double bound = reach >= M_PI ? -2.0 : cos(reach) - 1e-9;
    size_t cell = (size_t)a * ix->lon_cells + b;
    int outside = 0;
    *bf_len = 0;
    for (size_t i = 0; i < e->n; i++)
        *bf_len += dot_at(&s->nodes[e->eligible[i]], cx, cy, cz) >= bound;
    for (uint32_t i = ix->start[cell]; i < ix->start[cell + 1]; i++)
        outside += dot_at(&s->nodes[ix->items[i]], cx, cy, cz) < bound;
    return outside;
}

/* A client for test_index_equals_scan: near a cluster (every other one
 * in clustered layouts) or uniform on the sphere, and now and then on a
 * pole, the antimeridian or a cell edge. */
static struct wsb_client_loc random_client(enum layout lay, int q)
{
    struct wsb_client_loc c;
    memset(&c, 0, sizeof c);
    c.has_coords = 1;
    if (lay != UNIFORM && q % 2 == 0) {
        double clat, clon;
        cluster_centre((unsigned)(q % (lay == CLUSTERED ? N_FIXED_CLUSTERS : N_MANY_CLUSTERS)), &clat, &clon);
        c.lat = clat + (uniform() - 0.5) * 8;
        c.lat = c.lat > 90 ? 90 : c.lat < -90 ? -90 : c.lat;
        c.lon = wrap_lon(clon + (uniform() - 0.5) * 20);
    } else {
        double z = 2 * uniform() - 1;
        c.lat = atan2(z, sqrt(1 - z * z)) * 180 / M_PI;
        c.lon = uniform() * 360 - 180;
    }
    if (q % 97 == 0)
        c.lon = q % 2 ? 179.999 : -180.0;
    if (q % 89 == 0)
        c.lat = q % 2 ? 90.0 : -90.0;
    if (q % 13 == 0)   /* on a cell edge of either size */
        c.lat = -90.0 + 2.5 * (double)(rng() % 73);
    if (q % 17 == 0)
        c.lon = -180.0 + 2.5 * (double)(rng() % 145);
    return c;
}

/* The cell lists of an indexed version e of s, in a sample of cells. */
static void check_cell_sample(const struct wsb_snapshot *s, const struct wsb_version_entry *e, const char *what,
                              size_t n)
{
    /* Cells in a sample (every 3rd in the polar rows and the
     * antimeridian columns, every 29th other): corners, edge
     * midpoints and centre have all their candidates listed, and
     * nothing beyond brute force is. */
    const struct wsb_cell_index *ix = e->index;
    int outside = 0, edge_missed = 0, sampled = 0;
    size_t hier = 0, bf = 0;
    /* Finer grids (tens of thousands of cells) are sampled more thinly:
     * about as many cells as a 2.5-degree grid gives. */
    size_t cells = (size_t)ix->lat_cells * ix->lon_cells, thin = cells > 20000 ? cells / 10368 : 1;
    for (unsigned a = 0; a < ix->lat_cells; a++)
        for (unsigned b = 0; b < ix->lon_cells; b++) {
            int edge = a == 0 || a + 1 == ix->lat_cells || b == 0 || b + 1 == ix->lon_cells;
            if (((size_t)a * ix->lon_cells + b) % ((edge ? 3 : 29) * thin) != 0)
                continue;
            size_t bf_len;
            outside += outside_brute_force(s, e, a, b, &bf_len);
            size_t cell = (size_t)a * ix->lon_cells + b;
            hier += ix->start[cell + 1] - ix->start[cell];
            bf += bf_len;
            sampled++;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    /* A point just inside the cell, as wsb_cell_index_list rounds it. */
                    double lat = -90.0 + (a + i * 0.5) * ix->deg, lon = -180.0 + (b + j * 0.5) * ix->deg;
                    lat = i == 2 ? lat - 1e-9 : lat;
                    lon = j == 2 ? lon - 1e-9 : lon;
                    edge_missed += missed_candidates(s, e, lat, lon);
                }
        }
    CHECK(outside == 0, "%s %zu nodes, near %.0f km: %d listed nodes beyond the brute-force lists", what, n,
          s->near_km, outside);
    CHECK(edge_missed == 0, "%s %zu nodes, near %.0f km: %d candidates of cell corners/edges not listed",
          what, n, s->near_km, edge_missed);
    CHECK(hier <= bf && sampled > 0, "hierarchical lists (%zu) no longer than brute force (%zu)", hier, bf);
}

/* The cell index must change nothing: for random clients all over the
 * sphere (poles, the antimeridian and cell edges included) the indexed
 * snapshot picks exactly what a full scan picks, its lists hold every
 * candidate (checked on cell corners and edges too) and nothing a
 * brute-force list of the cell would not. */
static void test_index_equals_scan(void)
{
    /* deg: the cell size wanted (0: no index); coarser: a coarser one is
     * right too (lists holding whole clusters would take too much memory
     * in small cells). */
    static const struct {
        enum layout lay;
        size_t n;
        double near_km;
        double deg;
        int coarser;
        int clients;
    } cases[] = {
        { UNIFORM, 60, 300, 5.0, 0, 4000 },           { UNIFORM, 400, 300, 5.0, 0, 8000 },
        { UNIFORM, 3000, 300, 2.5, 0, 12000 },        { UNIFORM, 2600, 0, 2.5, 0, 8000 },
        { CLUSTERED_MANY, 3000, 0, 2.5, 0, 6000 },    { CLUSTERED_MANY, 3000, 300, 2.5, 0, 6000 },
        { CLUSTERED_MANY, 1000, 300, 5.0, 0, 4000 },  { CLUSTERED, 3000, 300, 2.5, 1, 4000 },
        { CLUSTERED, 600, 0, 5.0, 0, 4000 },          { CLUSTERED, 1200, 1500, 5.0, 1, 2000 },
        { UNIFORM, 2400, 3000, 5.0, 1, 2000 },        { CLUSTERED, 2400, 20038, 5.0, 1, 1000 },
        { UNIFORM, 400, 20038, 5.0, 0, 1000 },        { UNIFORM, 11000, 300, 1.25, 0, 3000 },
        { UNIFORM, 44000, 300, 0.625, 0, 400 },       { CLUSTERED_MANY, 44000, 300, 0.625, 1, 200 },
    };
    int total_clients = 0;
    /* Under valgrind (make valgrind) the two largest fleets would take
     * minutes: they run natively only. */
    int slow = getenv("WSB_VALGRIND") != NULL;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        size_t n = cases[t].n;
        if (slow && n > 20000) {
            total_clients += cases[t].clients;
            continue;
        }
        uint64_t seed = 0x1234567ull + t * 7919;
        struct wsb_snapshot *indexed = layout_snapshot(cases[t].lay, n, seed, cases[t].near_km, NULL);
        struct wsb_snapshot *plain = layout_snapshot(cases[t].lay, n, seed, cases[t].near_km, NULL);
        struct wsb_version_entry *e = &indexed->versions[0];
        const char *what = LAYOUT_NAME[cases[t].lay];
        double deg = e->index != NULL ? e->index->deg : 0;
        CHECK(deg == cases[t].deg || (cases[t].coarser && deg > cases[t].deg),
              "%s, %zu nodes (%zu eligible), near %.0f km: cells of %g degrees, want %g%s", what, n, e->n,
              cases[t].near_km, deg, cases[t].deg, cases[t].coarser ? " or coarser" : "");
        if (getenv("WSB_TEST_VERBOSE") != NULL)
            fprintf(stderr, "  %s, %zu nodes (%zu eligible), near %.0f km: %g-degree cells, %zu items\n", what, n,
                    e->n, cases[t].near_km, deg, e->index != NULL ? e->index->n_items : 0);
        CHECK(plain->versions[0].index == NULL || plain->versions[0].index->n_items == (e->index ? e->index->n_items : 0),
              "same input, same index");
        wsb_cell_index_free(plain->versions[0].index);
        plain->versions[0].index = NULL;
        struct wsb_select_scratch sc = { 0 };
        wsb_select_scratch_reserve(&sc, indexed->max_eligible);
        int same = 0, missed = 0;
        for (int q = 0; q < cases[t].clients; q++) {
            struct wsb_client_loc c = random_client(cases[t].lay, q);
            uint64_t r = rng();
            const struct wsb_snap_node *a = NULL, *b = NULL;
            int ca = wsb_select(indexed, 1, &c, r, 0, &sc, &a);
            int cb = wsb_select(plain, 1, &c, r, 0, &sc, &b);
            same += ca == cb && a == b - plain->nodes + indexed->nodes;
            if (e->index != NULL)
                missed += missed_candidates(indexed, e, c.lat, c.lon);
        }
        total_clients += cases[t].clients;
        CHECK(same == cases[t].clients, "%s %zu nodes, near %.0f km: indexed and full scan agree on %d of %d clients",
              what, n, cases[t].near_km, same, cases[t].clients);
        CHECK(missed == 0, "%s %zu nodes, near %.0f km: %d candidates missing from cell lists", what, n,
              cases[t].near_km, missed);
        if (e->index != NULL)
            check_cell_sample(indexed, e, what, n);
        wsb_select_scratch_free(&sc);
        wsb_snapshot_unref(indexed);
        wsb_snapshot_unref(plain);
    }
    CHECK(total_clients >= 60000, "%d clients", total_clients);
}

/* A rebuild from the same nodes and coordinates (loads changed) copies
 * the index instead of building it; moved coordinates build it again. */
static void test_index_reused(void)
{
    struct wsb_snapshot *first = layout_snapshot(UNIFORM, 2500, 99, 300, NULL);
    struct wsb_snapshot *again = layout_snapshot(UNIFORM, 2500, 99, 300, first);
    const struct wsb_cell_index *a = first->versions[0].index, *b = again->versions[0].index;
    CHECK(a != NULL && b != NULL && a != b && a->key == b->key && a->n_items == b->n_items && a->deg == b->deg &&
              memcmp(a->items, b->items, a->n_items * sizeof *a->items) == 0 &&
              memcmp(a->start, b->start, ((size_t)a->lat_cells * a->lon_cells + 1) * sizeof *a->start) == 0,
          "index reused");
    struct wsb_snapshot *moved = layout_snapshot(UNIFORM, 2500, 100, 300, again);
    CHECK(moved->versions[0].index != NULL && moved->versions[0].index->key != a->key, "index rebuilt");
    wsb_snapshot_unref(first);
    wsb_snapshot_unref(again);
    wsb_snapshot_unref(moved);
}

/* A key match alone never reuses an index (anyone who can write Redis can
 * aim at a 64-bit FNV collision): prev's index of 2500 other nodes,
 * stamped with the key that 300 new nodes hash to, as a crafted collision
 * would be, is not copied; the new snapshot's index is built from its own
 * nodes, and selection through it stays within them. */
static void test_index_key_collision(void)
{
    struct wsb_snapshot *big = layout_snapshot(UNIFORM, 2500, 7, 300, NULL);
    struct wsb_snapshot *small = layout_snapshot(UNIFORM, 300, 8, 300, NULL);
    struct wsb_cell_index *bi = big->versions[0].index;
    const struct wsb_cell_index *si = small->versions[0].index;
    CHECK(bi != NULL && si != NULL, "both indexed");
    bi->key = si->key;   /* the collision */
    struct wsb_snapshot *s = layout_snapshot(UNIFORM, 300, 8, 300, big);
    const struct wsb_cell_index *ix = s->versions[0].index;
    CHECK(ix != NULL && ix->key == si->key, "indexed, same key");
    size_t beyond = 0;
    for (size_t i = 0; i < ix->n_items; i++)
        beyond += ix->items[i] >= s->n_nodes;
    CHECK(beyond == 0, "%zu of %zu listed nodes beyond the snapshot's %zu nodes", beyond, ix->n_items, s->n_nodes);
    CHECK(ix->n_items == si->n_items && ix->deg == si->deg &&
              memcmp(ix->items, si->items, si->n_items * sizeof *si->items) == 0 &&
              memcmp(ix->start, si->start, ((size_t)si->lat_cells * si->lon_cells + 1) * sizeof *si->start) == 0,
          "index built from the new nodes, not copied from prev's");
    struct wsb_select_scratch sc = { 0 };
    wsb_select_scratch_reserve(&sc, s->max_eligible);
    int same = 0;
    for (int q = 0; q < 2000; q++) {
        struct wsb_client_loc c = at(uniform() * 180 - 90, uniform() * 360 - 180, "", "");
        uint64_t r = rng();
        const struct wsb_snap_node *a = NULL, *b = NULL;
        int ca = wsb_select(s, 1, &c, r, 0, &sc, &a);
        int cb = wsb_select(small, 1, &c, r, 0, &sc, &b);
        same += ca == cb && a - s->nodes == b - small->nodes;
    }
    CHECK(same == 2000, "%d of 2000 clients get what the index built from scratch gives", same);
    wsb_select_scratch_free(&sc);
    wsb_snapshot_unref(big);
    wsb_snapshot_unref(small);
    wsb_snapshot_unref(s);
}

/* The 200 body of a node whose id, endpoint and location are those of the
 * node at the same position in the previous snapshot is copied from it;
 * any difference encodes it again. */
static void test_body_reused(void)
{
    static const struct spec before[] = {
        { "a", NODE("Alpha", 50.0, 8.0, "DE", "EU", "[\"v1\"]", "true", 0.1) },
        { "b", NODE("Beta", 51.0, 0.0, "GB", "EU", "[\"v1\"]", "true", 0.2) },
        { "c", NODE("Gamma", 35.0, 139.0, "JP", "AS", "[\"v1\"]", "true", 0.3) },
        { "d", NODE("Delta", 40.0, -74.0, "US", "NA", "[\"v1\"]", "false", 0.3) },
        { "e", NODE("Eps", 1.0, 1.0, "DE", "EU", "[\"v1\"]", "true", 0.1) },
    };
    static const struct spec after[] = {
        { "a", NODE("Alpha", 50.5, 8.5, "DE", "EU", "[\"v1\"]", "true", 0.7) },     /* load, coordinates */
        { "b", "{\"endpoint\":\"wss://Beta.example.net/ws\",\"location\":\"Beta 2\",\"lat\":51,\"lon\":0,"
               "\"versions\":[\"v1\"],\"online\":true,\"load\":0.2}" },              /* location */
        { "c", "{\"endpoint\":\"wss://Gamma2.example.net/ws\",\"location\":\"Gamma\",\"lat\":35,\"lon\":139,"
               "\"versions\":[\"v1\"],\"online\":true,\"load\":0.3}" },              /* endpoint */
        { "d", NODE("Delta", 40.0, -74.0, "US", "NA", "[\"v1\"]", "true", 0.3) },     /* was offline */
        { "x", NODE("Eps", 1.0, 1.0, "DE", "EU", "[\"v1\"]", "true", 0.1) },          /* another id */
        { "f", NODE("Phi", 2.0, 2.0, "DE", "EU", "[\"v1\"]", "true", 0.1) },          /* new */
    };
    struct wsb_snapshot *s1 = build(before, 5, 1, NULL, 0, 0.9);
    /* Mark every body of s1 (same length), to see which are copied. */
    for (size_t i = 0; i < s1->n_nodes; i++)
        if (s1->nodes[i].body != NULL)
            s1->nodes[i].body[0] = '#';
    CHECK(s1->nodes[3].body == NULL, "offline node has no body");
    struct wsb_node nodes[6];
    char err[WSB_ERRLEN];
    for (size_t i = 0; i < 6; i++)
        CHECK(wsb_node_decode(after[i].id, strlen(after[i].id), after[i].json, strlen(after[i].json), &nodes[i], err) ==
                  WSB_OK,
              "%s", err);
    struct wsb_snapshot_params p = { .max_load = 0.9, .allow_ws = 0, .unknown_load = 0.5, .near_km = 300 };
    struct wsb_snapshot *s2 = NULL;
    CHECK(wsb_snapshot_build(nodes, 6, 1, NULL, 0, 0, &p, s1, &s2) == WSB_OK, "build");
    CHECK_STR(s2->nodes[0].body, "#\"endpoint\":\"wss://Alpha.example.net/ws\",\"location\":\"Alpha\"}");
    CHECK(s2->nodes[0].body != s1->nodes[0].body, "a copy, not shared");
    CHECK_STR(s2->nodes[1].body, "{\"endpoint\":\"wss://Beta.example.net/ws\",\"location\":\"Beta 2\"}");
    CHECK_STR(s2->nodes[2].body, "{\"endpoint\":\"wss://Gamma2.example.net/ws\",\"location\":\"Gamma\"}");
    CHECK_STR(s2->nodes[3].body, "{\"endpoint\":\"wss://Delta.example.net/ws\",\"location\":\"Delta\"}");
    CHECK_STR(s2->nodes[4].body, "{\"endpoint\":\"wss://Eps.example.net/ws\",\"location\":\"Eps\"}");
    CHECK_STR(s2->nodes[5].body, "{\"endpoint\":\"wss://Phi.example.net/ws\",\"location\":\"Phi\"}");
    for (size_t i = 0; i < 6; i++)
        CHECK_INT(s2->nodes[i].body_len, strlen(s2->nodes[i].body));
    wsb_snapshot_unref(s1);
    wsb_snapshot_unref(s2);
}

/* test_select --bench N DRAINS VERSIONS: builds a snapshot of N nodes
 * (uniform, each with 4 of VERSIONS versions, DRAINS of them drained at
 * run time) twice, the second with the first as prev, so that
 *   valgrind --tool=callgrind --toggle-collect=wsb_snapshot_build
 * counts the instructions of snapshot building. */
static int bench(long n, long n_drain, long n_ver)
{
    if (n < 1 || n > 1000000 || n_drain < 0 || n_drain > n || n_ver < 1 || n_ver > 100000) {
        fprintf(stderr, "test_select --bench N DRAINS VERSIONS: 1 <= N <= 1000000, DRAINS <= N, VERSIONS >= 1\n");
        return 2;
    }
    char **drain = calloc((size_t)n_drain + 1, sizeof *drain);
    for (long i = 0; i < n_drain; i++) {
        drain[i] = malloc(24);
        snprintf(drain[i], 24, "n%ld", i * (n / (n_drain ? n_drain : 1)));
    }
    struct wsb_snapshot_params p = { .max_load = 0.9, .unknown_load = 0.5, .near_km = 300 };
    struct wsb_snapshot *prev = NULL;
    for (int round = 0; round < 2; round++) {
        struct wsb_node *nodes = layout_nodes(UNIFORM, (size_t)n, 4242);
        for (long i = 0; i < n; i++) {
            nodes[i].n_versions = 4;
            for (unsigned j = 0; j < 4; j++)
                nodes[i].versions[j] = (unsigned)(((unsigned long)i * 7919u + j * 104729u) % (unsigned long)n_ver) + 1;
        }
        struct wsb_snapshot *s = NULL;
        if (wsb_snapshot_build(nodes, (size_t)n, 1, drain, (size_t)n_drain, 0, &p, prev, &s) != WSB_OK)
            return 1;
        free(nodes);
        fprintf(stderr, "round %d: %zu nodes, %zu versions, %zu eligible, %zu draining\n", round, s->n_nodes,
                s->n_versions, s->n_eligible, s->n_draining);
        wsb_snapshot_unref(prev);
        prev = s;
    }
    wsb_snapshot_unref(prev);
    for (long i = 0; i < n_drain; i++)
        free(drain[i]);
    free(drain);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--bench") == 0)
        return bench(atol(argv[2]), atol(argv[3]), atol(argv[4]));
    if (argc != 1) {
        fprintf(stderr, "usage: test_select [--bench N DRAINS VERSIONS]\n");
        return 2;
    }
    T_RUN(test_index_equals_scan);
    T_RUN(test_index_reused);
    T_RUN(test_index_key_collision);
    T_RUN(test_body_reused);
    T_RUN(test_nearest_by_distance);
    T_RUN(test_country_and_continent);
    T_RUN(test_no_location_spreads);
    T_RUN(test_error_codes);
    T_RUN(test_unknown_load_and_drain_flag);
    T_RUN(test_body_is_exact);
    T_RUN(test_near_band);
    return t_done("select");
}

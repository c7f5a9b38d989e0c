/* test_records.c: node record codec, field checks, addresses, Redis URLs. */
#include "netaddr.h"
#include "node.h"
#include "redis.h"
#include "keys.h"
#include "status.h"
#include "t.h"

#include <unistd.h>

static int decode(const char *json, struct wsb_node *n, char *err)
{
    return wsb_node_decode("eu-1", 4, json, strlen(json), n, err);
}

static void test_roundtrip(void)
{
    struct wsb_node n, back;
    wsb_node_init(&n);
    n.id = strdup("eu-1");
    n.endpoint = strdup("wss://eu-1.example.net/ws");
    n.location = strdup("São Paulo");
    n.has_coords = 1;
    n.lat = -23.55;
    n.lon = -46.63;
    strcpy(n.country, "BR");
    strcpy(n.continent, "SA");
    n.versions[0] = 1;
    n.versions[1] = 2;
    n.n_versions = 2;
    n.online = 1;
    n.load_known = 1;
    n.load = 0.42;
    n.connections = 8400;
    n.capacity = 20000;
    n.checked_at = 1763800000;
    strcpy(n.last_error, "ok");
    n.ok_streak = 5;
    char *json = NULL, err[WSB_ERRLEN];
    CHECK(wsb_node_encode(&n, &json, err) == WSB_OK, "%s", err);
    CHECK(json && decode(json, &back, err) == WSB_OK, "%s", err);
    CHECK_STR(back.endpoint, n.endpoint);
    CHECK_STR(back.location, "São Paulo");
    CHECK(back.has_coords && fabs(back.lat + 23.55) < 1e-9 && fabs(back.lon + 46.63) < 1e-9, "coords");
    CHECK_STR(back.country, "BR");
    CHECK_STR(back.continent, "SA");
    CHECK(back.n_versions == 2 && back.versions[0] == 1 && back.versions[1] == 2, "versions");
    CHECK(back.online && back.load_known && fabs(back.load - 0.42) < 1e-12, "health");
    CHECK_INT(back.connections, 8400);
    CHECK_INT(back.capacity, 20000);
    CHECK_INT(back.checked_at, 1763800000);
    CHECK_STR(back.last_error, "ok");
    CHECK_INT(back.ok_streak, 5);
    free(json);
    wsb_node_clear(&n);
    wsb_node_clear(&back);
}

static void test_bad_records(void)
{
    static const struct {
        const char *json, *want;
    } bad[] = {
        { "", "not JSON" },
        { "not json", "not JSON" },
        { "[1,2]", "not a JSON object" },
        { "{\"location\":\"X\",\"versions\":[\"v1\"]}", "endpoint: missing" },
        { "{\"endpoint\":\"https://x/ws\",\"location\":\"X\",\"versions\":[\"v1\"]}", "endpoint: must start with wss://" },
        { "{\"endpoint\":\"wss://\",\"location\":\"X\",\"versions\":[\"v1\"]}", "endpoint: has no host" },
        { "{\"endpoint\":\"wss://x/ws\\r\\nSet-Cookie: a\",\"location\":\"X\",\"versions\":[\"v1\"]}", "not a URL character" },
        { "{\"endpoint\":\"wss://x/ws\\\"><script>\",\"location\":\"X\",\"versions\":[\"v1\"]}", "not a URL character" },
        { "{\"endpoint\":\"wss://user:pw@x/ws\",\"location\":\"X\",\"versions\":[\"v1\"]}", "user information" },
        { "{\"endpoint\":7,\"location\":\"X\",\"versions\":[\"v1\"]}", "endpoint: must be a string" },
        { "{\"endpoint\":\"wss://x/ws\",\"versions\":[\"v1\"]}", "location: missing" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"\",\"versions\":[\"v1\"]}", "location: is empty" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"a\\u0001b\",\"versions\":[\"v1\"]}", "control characters" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"X\"}", "versions: must be an array" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"X\",\"versions\":[]}", "versions: is empty" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"X\",\"versions\":[\"1\"]}", "versions: entries" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"X\",\"versions\":[\"v0\"]}", "versions: entries" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"X\",\"versions\":[1]}", "versions: entries" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"X\",\"versions\":[\"v1\"],\"lat\":91,\"lon\":0}", "lat: 91 is outside" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"X\",\"versions\":[\"v1\"],\"lat\":1}", "lat and lon go together" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"X\",\"versions\":[\"v1\"],\"load\":-0.1}", "load: -0.1 is outside" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"X\",\"versions\":[\"v1\"],\"load\":\"high\"}", "load: must be a number" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"X\",\"versions\":[\"v1\"],\"online\":1}", "online: must be true or false" },
        { "{\"endpoint\":\"wss://x/ws\",\"location\":\"X\",\"versions\":[\"v1\"],\"country\":\"DEU\"}", "country: must be a two-letter code" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct wsb_node n;
        char err[WSB_ERRLEN] = "";
        int st = decode(bad[i].json, &n, err);
        CHECK(st == WSB_EINVAL, "[%zu] accepted: %s", i, bad[i].json);
        CHECK(strstr(err, bad[i].want) != NULL, "[%zu] error '%s' lacks '%s'", i, err, bad[i].want);
        CHECK(n.id == NULL && n.endpoint == NULL, "[%zu] left allocated", i);
    }
    struct wsb_node n;
    char err[WSB_ERRLEN];
    CHECK(wsb_node_decode("bad id!", 7, "{}", 2, &n, err) == WSB_EINVAL, "bad id");
    char big[WSB_MAX_RECORD + 2];
    memset(big, ' ', sizeof big);
    CHECK(wsb_node_decode("a", 1, big, sizeof big, &n, err) == WSB_ETOOBIG, "too big");
    /* Invalid UTF-8 in a location never reaches a response. */
    CHECK(wsb_location_check("caf\xc3", err) == WSB_EINVAL, "truncated UTF-8");
    CHECK(wsb_location_check("\xc0\xaf", err) == WSB_EINVAL, "overlong");
    CHECK(wsb_location_check("\xed\xa0\x80", err) == WSB_EINVAL, "surrogate");
    CHECK(wsb_location_check("東京", err) == WSB_OK, "CJK: %s", err);
    CHECK(wsb_endpoint_check("ws://x/ws", 0, err) == WSB_EINVAL, "ws:// refused unless allowed");
    CHECK(wsb_endpoint_check("ws://x/ws", 1, err) == WSB_OK, "ws:// allowed");
}

/* A decoded node keeps its record bytes; a copy owns copies of them all. */
static void test_raw_and_copy(void)
{
    static const char json[] = "{\"endpoint\":\"wss://eu-1.example.net/ws\",\"location\":\"Frankfurt\","
                               "\"lat\":50.1,\"lon\":8.7,\"country\":\"de\",\"versions\":[\"v1\",\"v3\"],"
                               "\"online\":true,\"load\":0.25,\"connections\":12,\"last_error\":\"ok\"}";
    struct wsb_node n, c;
    char err[WSB_ERRLEN];
    /* Bytes past len are not part of the record. */
    CHECK(wsb_node_decode("eu-1", 4, json, sizeof json - 1, &n, err) == WSB_OK, "%s", err);
    CHECK(n.raw != NULL && n.raw_len == sizeof json - 1 && memcmp(n.raw, json, n.raw_len) == 0 &&
              n.raw[n.raw_len] == '\0', "raw kept");
    CHECK(wsb_node_copy(&c, &n) == WSB_OK, "copy");
    CHECK(c.id != n.id && c.endpoint != n.endpoint && c.location != n.location && c.raw != n.raw, "own strings");
    CHECK_STR(c.id, "eu-1");
    CHECK_STR(c.endpoint, n.endpoint);
    CHECK_STR(c.location, "Frankfurt");
    CHECK(c.raw_len == n.raw_len && memcmp(c.raw, json, c.raw_len) == 0 && c.raw[c.raw_len] == '\0', "raw copied");
    CHECK(c.has_coords && c.lat == n.lat && c.lon == n.lon, "coords");
    CHECK_STR(c.country, "DE");
    CHECK(c.n_versions == 2 && c.versions[0] == 1 && c.versions[1] == 3, "versions");
    CHECK(c.online && c.load_known && c.load == 0.25 && c.connections == 12 && c.capacity == -1, "health");
    CHECK_STR(c.last_error, "ok");
    wsb_node_clear(&n);   /* the copy outlives its source */
    CHECK_STR(c.endpoint, "wss://eu-1.example.net/ws");
    wsb_node_clear(&c);
    CHECK(c.raw == NULL && c.raw_len == 0 && c.id == NULL, "cleared");
    /* A node made in code (the probe's) has no record bytes; its copy neither. */
    wsb_node_init(&n);
    n.id = strdup("p-1");
    n.connections = 5;
    CHECK(wsb_node_copy(&c, &n) == WSB_OK, "copy");
    CHECK(c.id != NULL && strcmp(c.id, "p-1") == 0 && c.endpoint == NULL && c.location == NULL && c.raw == NULL &&
              c.connections == 5, "NULL strings stay NULL");
    wsb_node_clear(&n);
    wsb_node_clear(&c);
    /* A failed decode keeps nothing. */
    CHECK(decode("{\"endpoint\":1}", &n, err) == WSB_EINVAL && n.raw == NULL, "no raw on failure");
}

static void test_versions(void)
{
    unsigned v;
    CHECK(wsb_version_parse("v1", 2, &v) == WSB_OK && v == 1, "v1");
    CHECK(wsb_version_parse("v1000000", 8, &v) == WSB_OK && v == 1000000, "max");
    CHECK(wsb_version_parse("v1000001", 8, &v) == WSB_EINVAL, "over max");
    CHECK(wsb_version_parse("v99999999", 9, &v) == WSB_EINVAL, "long");
    CHECK(wsb_version_parse("v", 1, &v) == WSB_EINVAL, "bare v");
    CHECK(wsb_version_parse("v1a", 3, &v) == WSB_EINVAL, "suffix");
}

static void test_netaddr(void)
{
    struct wsb_ip ip;
    char buf[64], err[WSB_ERRLEN];
    CHECK(wsb_ip_parse("81.2.69.142", 11, &ip) == WSB_OK && ip.is_v4, "v4");
    CHECK(wsb_ip_parse("2001:218::1", 11, &ip) == WSB_OK && !ip.is_v4, "v6");
    wsb_ip_format(&ip, buf, sizeof buf);
    CHECK_STR(buf, "2001:218::1");
    CHECK(wsb_ip_parse("::ffff:81.2.69.142", 18, &ip) == WSB_OK && ip.is_v4, "mapped is v4");
    wsb_ip_format(&ip, buf, sizeof buf);
    CHECK_STR(buf, "81.2.69.142");
    CHECK(wsb_ip_parse("1.2.3", 5, &ip) == WSB_EINVAL, "short v4");
    CHECK(wsb_ip_parse("1.2.3.256", 9, &ip) == WSB_EINVAL, "octet");
    CHECK(wsb_ip_parse("", 0, &ip) == WSB_EINVAL, "empty");
    struct wsb_cidr_list l;
    CHECK(wsb_cidr_list_parse("10.0.0.0/8,2001:db8::/32, 192.168.1.7", &l, err) == WSB_OK, "%s", err);
    wsb_ip_parse("10.200.1.1", 10, &ip);
    CHECK(wsb_cidr_list_contains(&l, &ip), "10/8");
    wsb_ip_parse("11.0.0.1", 8, &ip);
    CHECK(!wsb_cidr_list_contains(&l, &ip), "11.0.0.1");
    wsb_ip_parse("2001:db8:1::5", 13, &ip);
    CHECK(wsb_cidr_list_contains(&l, &ip), "v6 net");
    wsb_ip_parse("192.168.1.7", 11, &ip);
    CHECK(wsb_cidr_list_contains(&l, &ip), "host");
    wsb_ip_parse("192.168.1.8", 11, &ip);
    CHECK(!wsb_cidr_list_contains(&l, &ip), "next host");
    wsb_cidr_list_free(&l);
    CHECK(wsb_cidr_list_parse("10.0.0.0/33", &l, err) == WSB_EINVAL && strstr(err, "entry 1"), "%s", err);
    CHECK(wsb_cidr_list_parse("10.0.0.0/8,bogus", &l, err) == WSB_EINVAL && strstr(err, "entry 2"), "%s", err);
    CHECK(wsb_cidr_list_parse("::/129", &l, err) == WSB_EINVAL, "v6 prefix");
    CHECK(wsb_cidr_list_parse("0.0.0.0/0", &l, err) == WSB_OK, "all v4");
    wsb_ip_parse("2001:218::1", 11, &ip);
    CHECK(!wsb_cidr_list_contains(&l, &ip), "0.0.0.0/0 holds no IPv6");
    wsb_cidr_list_free(&l);
    static const char *local[] = { "127.0.0.1", "10.1.1.1", "192.168.0.1", "172.16.5.4", "::1", "fe80::1",
                                   "fd00::1", "169.254.1.1", "100.64.0.1", "::" };
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
        wsb_ip_parse(local[i], strlen(local[i]), &ip);
        CHECK(wsb_ip_is_local(&ip), "%s is local", local[i]);
    }
    static const char *global[] = { "81.2.69.142", "2001:218::1", "8.8.8.8", "172.32.0.1" };
    for (size_t i = 0; i < sizeof global / sizeof global[0]; i++) {
        wsb_ip_parse(global[i], strlen(global[i]), &ip);
        CHECK(!wsb_ip_is_local(&ip), "%s is not local", global[i]);
    }
}

static void test_redis_urls(void)
{
    struct wsb_redis_addr a;
    char err[WSB_ERRLEN], buf[300];
    CHECK(wsb_redis_url_parse("redis://127.0.0.1:6380/3", &a, err) == WSB_OK, "%s", err);
    CHECK(!a.is_unix && a.port == 6380 && a.db == 3 && !strcmp(a.host, "127.0.0.1"), "tcp");
    CHECK(wsb_redis_url_parse("redis://:s%40cret@localhost", &a, err) == WSB_OK, "%s", err);
    CHECK_STR(a.password, "s@cret");
    CHECK(a.port == 6379 && a.db == 0 && a.user[0] == '\0', "defaults");
    wsb_redis_addr_format(&a, buf, sizeof buf);
    CHECK(strstr(buf, "cret") == NULL, "password never formatted: %s", buf);
    CHECK(wsb_redis_url_parse("redis://handler:pw@[::1]:7000/2", &a, err) == WSB_OK, "%s", err);
    CHECK(!strcmp(a.user, "handler") && !strcmp(a.password, "pw") && !strcmp(a.host, "::1") && a.port == 7000 &&
              a.db == 2, "v6 with user");
    CHECK(wsb_redis_url_parse("unix:///run/redis/redis.sock?db=5", &a, err) == WSB_OK, "%s", err);
    CHECK(a.is_unix && !strcmp(a.path, "/run/redis/redis.sock") && a.db == 5, "unix");
    CHECK(wsb_redis_url_parse("unix://relative.sock", &a, err) == WSB_EINVAL, "relative");
    CHECK(wsb_redis_url_parse("unix:///run/r.sock?user=wsb-handler&db=2", &a, err) == WSB_OK, "%s", err);
    CHECK(a.is_unix && !strcmp(a.user, "wsb-handler") && a.db == 2, "unix with a user");
    CHECK(wsb_redis_url_parse("unix:///run/r.sock?db=1&db=2", &a, err) == WSB_EINVAL && strstr(err, "each once"),
          "%s", err);
    CHECK(wsb_redis_url_parse("unix:///run/r.sock?user=", &a, err) == WSB_EINVAL && strstr(err, "user"), "%s", err);
    CHECK(wsb_redis_url_parse("unix:///run/r.sock?password=x", &a, err) == WSB_EINVAL, "no password in a unix URL");
    CHECK(wsb_redis_url_parse("http://x", &a, err) == WSB_EINVAL && strstr(err, "redis://"), "%s", err);
    CHECK(wsb_redis_url_parse("redis://x:0", &a, err) == WSB_EINVAL && strstr(err, "port"), "%s", err);
    CHECK(wsb_redis_url_parse("redis://x:99999", &a, err) == WSB_EINVAL, "port range");
    CHECK(wsb_redis_url_parse("redis://x/abc", &a, err) == WSB_EINVAL && strstr(err, "database"), "%s", err);
    CHECK(wsb_redis_url_parse("redis://:hunter2@x:bad", &a, err) == WSB_EINVAL && !strstr(err, "hunter2"),
          "no password in errors: %s", err);
    CHECK(wsb_redis_url_parse("rediss://x", &a, err) == WSB_EINVAL, "tls refused clearly");

    struct wsb_redis_config cfg;
    CHECK(wsb_redis_config_parse("redis://127.0.0.1:1, unix:///tmp/x.sock", NULL, 100, 100, &cfg, err) == WSB_OK,
          "%s", err);
    CHECK_INT(cfg.n, 2);
    CHECK(wsb_redis_config_parse("redis://127.0.0.1:1,,redis://x", NULL, 100, 100, &cfg, err) == WSB_EINVAL, "empty");
    char path[] = "/tmp/wsb-pw-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    CHECK(write(fd, "from-file\n", 10) == 10, "write");
    close(fd);
    CHECK(wsb_redis_config_parse("redis://:inurl@127.0.0.1", path, 100, 100, &cfg, err) == WSB_OK, "%s", err);
    CHECK_STR(cfg.addrs[0].password, "from-file");
    unlink(path);
    CHECK(wsb_redis_config_parse("redis://127.0.0.1", path, 100, 100, &cfg, err) == WSB_EIO && strstr(err, path),
          "missing file named: %s", err);
}

static void test_keys(void)
{
    struct wsb_keys k;
    char err[WSB_ERRLEN];
    CHECK(wsb_keys_init(&k, "wsb:", err) == WSB_OK, "default");
    CHECK_STR(k.nodes, "wsb:nodes");
    CHECK_STR(k.round, "wsb:round");
    CHECK_STR(k.admin, "wsb:admin");
    CHECK(wsb_keys_init(&k, "a b", err) == WSB_EINVAL, "blank");
    CHECK(wsb_keys_init(&k, "", err) == WSB_OK && !strcmp(k.nodes, "nodes"), "empty prefix");
}

int main(void)
{
    T_RUN(test_roundtrip);
    T_RUN(test_bad_records);
    T_RUN(test_raw_and_copy);
    T_RUN(test_versions);
    T_RUN(test_netaddr);
    T_RUN(test_redis_urls);
    T_RUN(test_keys);
    return t_done("records");
}

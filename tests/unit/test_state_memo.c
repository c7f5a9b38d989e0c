/* test_state_memo.c: the state read against a real redis-server on a
 * private unix socket: records whose bytes did not change since the last
 * read are copied from it, changed ones decoded again, malformed ones
 * skipped and counted, and the handler's refresh stays right through
 * expiry and run-time drains.  Change detection (WATCH, then MULTI/EXEC):
 * an unchanged state is not read again, every kind of change is seen at
 * the next refresh, a restart or a new connection leads to a full read,
 * and a user that may not WATCH still serves.
 *
 *   test_state_memo               runs the tests
 *   test_state_memo --bench N [--changed|--full]
 *       writes N nodes and answers four requests, each a refresh
 *       (WSB_CACHE_MS=0); give second_request (the fourth) to callgrind's
 *       --toggle-collect to count a steady-state refresh: a check that
 *       finds nothing changed.  With --full every refresh reads the whole
 *       state (the steady state without change detection); with --changed
 *       a new round rewrites every record before the fourth (the probe's
 *       round: nothing to reuse).  Prints the Redis commands and bytes of
 *       that refresh. */
#include "handler.h"
#include "log.h"
#include "node.h"
#include "redis.h"
#include "http.h"
#include "state_read.h"
#include "state_watch.h"
#include "state_write.h"
#include "status.h"
#include "t.h"

#include <hiredis/hiredis.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The private redis-server: its folder, socket and pid. */
static char t_dir[64];
static char t_sock[128];
static char t_url[160];
static pid_t t_redis_pid = -1;

/* Stops the server and waits for it; the folder stays. */
static void kill_redis(void)
{
    if (t_redis_pid > 0) {
        kill(t_redis_pid, SIGTERM);
        waitpid(t_redis_pid, NULL, 0);
        t_redis_pid = -1;
    }
}

static void stop_redis(void)
{
    kill_redis();
    if (t_dir[0] != '\0') {
        char path[200];
        unlink(t_sock);
        snprintf(path, sizeof path, "%s/redis.log", t_dir);
        unlink(path);
        rmdir(t_dir);
        t_dir[0] = '\0';
    }
}

/* Starts redis-server on t_sock, with no TCP port and no persistence;
 * returns 0 when it answers PING within 5 s. */
static int spawn_redis(void)
{
    t_redis_pid = fork();
    if (t_redis_pid < 0)
        return -1;
    if (t_redis_pid == 0) {
        char log[200];
        snprintf(log, sizeof log, "%s/redis.log", t_dir);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", t_sock, "--save", "",
               "--appendonly", "no", "--dir", t_dir, "--logfile", log, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        redisContext *c = redisConnectUnix(t_sock);
        if (c != NULL && c->err == 0) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
            if (r != NULL)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 0;
        } else if (c != NULL) {
            redisFree(c);
        }
        if (waitpid(t_redis_pid, NULL, WNOHANG) == t_redis_pid) {
            t_redis_pid = -1;
            return -1;
        }
        usleep(10000);
    }
    return -1;
}

/* Starts redis-server on a unix socket in a new folder under /tmp. */
static int start_redis(void)
{
    snprintf(t_dir, sizeof t_dir, "/tmp/wsb-memo.XXXXXX");
    if (mkdtemp(t_dir) == NULL) {
        t_dir[0] = '\0';
        return -1;
    }
    snprintf(t_sock, sizeof t_sock, "%s/redis.sock", t_dir);
    snprintf(t_url, sizeof t_url, "unix://%s", t_sock);
    atexit(stop_redis);
    return spawn_redis();
}

/* One plain command on a connection of our own, as redis-cli would send it. */
static redisContext *t_cli;

static int cli(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(t_cli, fmt, ap);
    va_end(ap);
    int ok = r != NULL && r->type != REDIS_REPLY_ERROR;
    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

static long long t_checked_at = 1763800000;

/* A node as the probe writes it: every field set. */
static void make_node(struct wsb_node *n, size_t i)
{
    char buf[64];
    wsb_node_init(n);
    snprintf(buf, sizeof buf, "n%05zu", i);
    n->id = strdup(buf);
    snprintf(buf, sizeof buf, "wss://n%05zu.ws.example.net/ws", i);
    n->endpoint = strdup(buf);
    snprintf(buf, sizeof buf, "loc-n%05zu", i);
    n->location = strdup(buf);
    n->has_coords = 1;
    n->lat = -80.0 + (double)((i * 7919) % 16000) / 100.0;
    n->lon = -179.0 + (double)((i * 104729) % 35800) / 100.0;
    strcpy(n->country, "DE");
    strcpy(n->continent, "EU");
    n->versions[0] = 1;
    n->versions[1] = 2;
    n->n_versions = 2;
    n->online = 1;
    n->load_known = 1;
    n->load = 0.1 + (double)(i % 70) / 100.0;
    n->connections = (long long)(i % 1000) * 10;
    n->capacity = 20000;
    n->checked_at = t_checked_at;
    n->changed_at = 1763700000;
    strcpy(n->last_error, "ok");
    n->ok_streak = 3;
}

/* Writes nodes n00000..n<count-1> as one probe round (TTL one hour). */
static int write_round(struct wsb_redis *r, const struct wsb_keys *k, size_t count)
{
    struct wsb_node *nodes = calloc(count ? count : 1, sizeof *nodes);
    if (nodes == NULL)
        return WSB_ENOMEM;
    for (size_t i = 0; i < count; i++)
        make_node(&nodes[i], i);
    /* No round id: these tests count the commands of reading the state,
     * and a round without an id has no assignment exchange beside them
     * (tests/unit/test_room.c and tests/integration/assign_fleet.sh test it). */
    struct wsb_round_summary sum = { .id = -1, .at = 1763800000, .nodes = count, .up = count, .probe = "test:1" };
    char err[WSB_ERRLEN];
    int status = wsb_state_write_round(r, k, nodes, count, &sum, NULL, NULL, 3600, err);
    if (status != WSB_OK)
        fprintf(stderr, "write_round: %s\n", err);
    for (size_t i = 0; i < count; i++)
        wsb_node_clear(&nodes[i]);
    free(nodes);
    return status;
}

/* The handler over the private Redis, with WSB_CACHE_MS=cache_ms (0: every
 * request refreshes) and a full read at least every full_read_ms (-1: the
 * default, 0: every refresh reads the whole state). */
static struct wsb_handler *new_handler_with(const char *cache_ms, long full_read_ms)
{
    setenv("WSB_REDIS_URL", t_url, 1);
    setenv("WSB_CACHE_MS", cache_ms, 1);
    setenv("WSB_KEY_PREFIX", "wsb:", 1);
    unsetenv("WSB_GEOIP_DB");
    char err[WSB_ERRLEN];
    struct wsb_handler_config cfg;
    if (wsb_handler_config_from_env(&cfg, err) != WSB_OK) {
        fprintf(stderr, "handler config: %s\n", err);
        return NULL;
    }
    CHECK(cfg.full_read_ms == 30000, "a full read every 30 s by default, not %ld ms", cfg.full_read_ms);
    if (full_read_ms >= 0)
        cfg.full_read_ms = full_read_ms;
    return wsb_handler_new(&cfg);
}

/* The handler over the private Redis: every request refreshes. */
static struct wsb_handler *new_handler(void)
{
    return new_handler_with("0", -1);
}

static const char *param(const char *name, void *ctx)
{
    (void)ctx;
    if (strcmp(name, "REQUEST_METHOD") == 0)
        return "GET";
    if (strcmp(name, "REQUEST_URI") == 0 || strcmp(name, "SCRIPT_NAME") == 0)
        return "/v1/websocket/server";
    if (strcmp(name, "REMOTE_ADDR") == 0)
        return "127.0.0.1";
    return NULL;
}

/* Kept out of line so that callgrind can collect exactly this. */
__attribute__((noinline)) void second_request(struct wsb_handler *h, struct wsb_worker *w,
                                              struct wsb_response *out);

__attribute__((noinline)) void second_request(struct wsb_handler *h, struct wsb_worker *w,
                                              struct wsb_response *out)
{
    wsb_handle(h, w, param, NULL, out);
}

/* ---- the state read ---------------------------------------------------- */

static struct wsb_redis *t_redis;
static struct wsb_keys t_keys;

/* A memo over the nodes of an earlier read, in their order or through a
 * permutation; entries listed in refuse are offered as NULL. */
struct array_memo {
    const struct wsb_state *st;
    const size_t *perm;            /* NULL: identity */
    const unsigned char *refuse;   /* NULL: none */
};

static const struct wsb_node *array_memo_get(const void *ctx, size_t i)
{
    const struct array_memo *a = ctx;
    if (a->refuse != NULL && a->refuse[i])
        return NULL;
    return &a->st->nodes[a->perm != NULL ? a->perm[i] : i];
}

static int read_with(const struct array_memo *a, struct wsb_state *out)
{
    char err[WSB_ERRLEN];
    struct wsb_state_memo memo = { a != NULL ? a->st->n : 0, array_memo_get, a, 0 };
    int status = wsb_state_read_memo(t_redis, &t_keys, a != NULL ? &memo : NULL, out, err);
    if (status != WSB_OK)
        fprintf(stderr, "read: %s\n", err);
    return status;
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Every field, the record bytes included. */
static int node_eq(const struct wsb_node *a, const struct wsb_node *b)
{
    return str_eq(a->id, b->id) && str_eq(a->endpoint, b->endpoint) && str_eq(a->location, b->location) &&
           a->has_coords == b->has_coords && a->lat == b->lat && a->lon == b->lon &&
           strcmp(a->country, b->country) == 0 && strcmp(a->continent, b->continent) == 0 &&
           a->n_versions == b->n_versions && memcmp(a->versions, b->versions, sizeof a->versions) == 0 &&
           a->online == b->online && a->drain == b->drain && a->load_known == b->load_known && a->load == b->load &&
           a->connections == b->connections && a->capacity == b->capacity && a->checked_at == b->checked_at &&
           a->changed_at == b->changed_at && strcmp(a->last_error, b->last_error) == 0 &&
           a->ok_streak == b->ok_streak && a->fail_streak == b->fail_streak && a->raw_len == b->raw_len &&
           ((a->raw == NULL && b->raw == NULL) ||
            (a->raw != NULL && b->raw != NULL && memcmp(a->raw, b->raw, a->raw_len) == 0));
}

/* 1 when st holds exactly what a read without memo holds now, in order. */
static int same_as_fresh_read(const struct wsb_state *st)
{
    struct wsb_state fresh;
    if (read_with(NULL, &fresh) != WSB_OK)
        return 0;
    int same = fresh.n == st->n && fresh.n_skipped == st->n_skipped &&
               strcmp(fresh.skip_reason, st->skip_reason) == 0 && fresh.live == st->live && fresh.n_reused == 0;
    for (size_t i = 0; same && i < st->n; i++)
        same = node_eq(&fresh.nodes[i], &st->nodes[i]);
    wsb_state_clear(&fresh);
    return same;
}

static const struct wsb_node *find_node(const struct wsb_state *st, const char *id)
{
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->nodes[i].id, id) == 0)
            return &st->nodes[i];
    return NULL;
}

/* The record of node i as the probe writes it, with changes applied by fn. */
static int hset_node(size_t i, void (*fn)(struct wsb_node *))
{
    struct wsb_node n;
    char *json = NULL, err[WSB_ERRLEN];
    make_node(&n, i);
    if (fn != NULL)
        fn(&n);
    int ok = wsb_node_encode(&n, &json, err) == WSB_OK && cli("HSET wsb:nodes %s %s", n.id, json) == 0;
    free(json);
    wsb_node_clear(&n);
    return ok ? 0 : -1;
}

static void test_unchanged_reused(void)
{
    CHECK(write_round(t_redis, &t_keys, 300) == WSB_OK, "write");
    struct wsb_state a, b, c;
    CHECK(read_with(NULL, &a) == WSB_OK, "first read");
    CHECK_INT(a.n, 300);
    CHECK_INT(a.n_reused, 0);
    CHECK(a.n > 0 && a.nodes[0].raw != NULL && a.nodes[0].raw_len == strlen(a.nodes[0].raw), "raw kept");
    struct array_memo ma = { &a, NULL, NULL };
    CHECK(read_with(&ma, &b) == WSB_OK, "second read");
    CHECK_INT(b.n, 300);
    CHECK_INT(b.n_reused, 300);
    CHECK_INT(b.n_skipped, 0);
    CHECK(b.live, "live");
    size_t equal = 0, shared = 0;
    for (size_t i = 0; i < b.n && i < a.n; i++) {
        equal += node_eq(&a.nodes[i], &b.nodes[i]);
        shared += a.nodes[i].id == b.nodes[i].id || a.nodes[i].endpoint == b.nodes[i].endpoint ||
                  a.nodes[i].location == b.nodes[i].location || a.nodes[i].raw == b.nodes[i].raw;
    }
    CHECK_INT(equal, 300);
    CHECK_INT(shared, 0);   /* deep copies: a can go first */
    wsb_state_clear(&a);
    CHECK(same_as_fresh_read(&b), "a reused state is what decoding gives");
    struct array_memo mb = { &b, NULL, NULL };
    CHECK(read_with(&mb, &c) == WSB_OK && c.n_reused == 300, "third read reuses the copies");
    wsb_state_clear(&b);
    wsb_state_clear(&c);
    /* Without a memo nothing is reused. */
    char err[WSB_ERRLEN];
    CHECK(wsb_state_read(t_redis, &t_keys, &a, err) == WSB_OK && a.n == 300 && a.n_reused == 0, "plain read");
    wsb_state_clear(&a);
}

static void more_load(struct wsb_node *n)
{
    n->capacity = 20001;   /* "capacity":20000 -> 20001: same length, one byte apart */
}

static void moved(struct wsb_node *n)
{
    free(n->endpoint);
    n->endpoint = strdup("wss://moved.example.net/ws");
}

static void test_changed_record(void)
{
    CHECK(write_round(t_redis, &t_keys, 300) == WSB_OK, "write");
    struct wsb_state a, b;
    CHECK(read_with(NULL, &a) == WSB_OK, "first read");
    CHECK(hset_node(7, more_load) == 0 && hset_node(250, moved) == 0, "HSET");
    struct array_memo ma = { &a, NULL, NULL };
    CHECK(read_with(&ma, &b) == WSB_OK, "second read");
    CHECK_INT(b.n, 300);
    CHECK_INT(b.n_reused, 298);
    const struct wsb_node *n7 = find_node(&b, "n00007"), *n250 = find_node(&b, "n00250");
    const struct wsb_node *old7 = find_node(&a, "n00007");
    CHECK(n7 != NULL && n7->capacity == 20001, "the one-byte change is seen");
    CHECK(n7 != NULL && old7 != NULL && n7->raw_len == old7->raw_len, "same length");
    CHECK(n250 != NULL && strcmp(n250->endpoint, "wss://moved.example.net/ws") == 0, "new endpoint seen");
    CHECK(same_as_fresh_read(&b), "as decoded");
    wsb_state_clear(&a);
    wsb_state_clear(&b);
}

static void test_malformed_record(void)
{
    CHECK(write_round(t_redis, &t_keys, 300) == WSB_OK, "write");
    struct wsb_state a, b, c, d;
    CHECK(read_with(NULL, &a) == WSB_OK, "first read");
    CHECK(cli("HSET wsb:nodes n00003 %s", "{\"endpoint\":\"wss://x\"") == 0, "HSET not JSON");
    CHECK(cli("HSET wsb:nodes n00004 %s", "{\"endpoint\":\"https://x/ws\",\"location\":\"X\",\"versions\":[\"v1\"]}") == 0,
          "HSET bad scheme");
    struct array_memo ma = { &a, NULL, NULL };
    CHECK(read_with(&ma, &b) == WSB_OK, "second read");
    CHECK_INT(b.n, 298);
    CHECK_INT(b.n_skipped, 2);
    CHECK_INT(b.n_reused, 298);
    CHECK(find_node(&b, "n00003") == NULL && find_node(&b, "n00004") == NULL, "skipped");
    CHECK(strstr(b.skip_reason, "node n0000") != NULL, "reason: %s", b.skip_reason);
    CHECK(same_as_fresh_read(&b), "skipped and reported as without a memo: %s", b.skip_reason);
    /* Still malformed on the next read: decoded again, skipped again. */
    struct array_memo mb = { &b, NULL, NULL };
    CHECK(read_with(&mb, &c) == WSB_OK && c.n == 298 && c.n_skipped == 2 && c.n_reused == 298, "again");
    CHECK(strcmp(b.skip_reason, c.skip_reason) == 0, "same reason: %s", c.skip_reason);
    /* Fixed: back, decoded. */
    CHECK(hset_node(3, NULL) == 0 && hset_node(4, NULL) == 0, "HSET good");
    struct array_memo mc = { &c, NULL, NULL };
    CHECK(read_with(&mc, &d) == WSB_OK && d.n == 300 && d.n_skipped == 0 && d.n_reused == 298, "fixed");
    CHECK(find_node(&d, "n00003") != NULL && find_node(&d, "n00004") != NULL, "back");
    CHECK(same_as_fresh_read(&d), "as decoded");
    wsb_state_clear(&a);
    wsb_state_clear(&b);
    wsb_state_clear(&c);
    wsb_state_clear(&d);
}

static void test_removed_record(void)
{
    CHECK(write_round(t_redis, &t_keys, 300) == WSB_OK, "write");
    struct wsb_state a, b;
    CHECK(read_with(NULL, &a) == WSB_OK, "first read");
    CHECK(cli("HDEL wsb:nodes n00010 n00200") == 0, "HDEL");
    struct array_memo ma = { &a, NULL, NULL };
    CHECK(read_with(&ma, &b) == WSB_OK, "second read");
    CHECK_INT(b.n, 298);
    CHECK_INT(b.n_reused, 298);
    CHECK(find_node(&b, "n00010") == NULL && find_node(&b, "n00200") == NULL, "gone");
    CHECK(same_as_fresh_read(&b), "as decoded");
    wsb_state_clear(&a);
    wsb_state_clear(&b);
}

/* The hash written again in reverse order, kept in insertion order (a
 * listpack hash), so that HGETALL returns it reversed. */
static void test_reordered_hash(void)
{
    CHECK(cli("CONFIG SET hash-max-listpack-entries 1024") == 0 && cli("CONFIG SET hash-max-listpack-value 1024") == 0,
          "listpack hashes");
    CHECK(write_round(t_redis, &t_keys, 200) == WSB_OK, "write");
    struct wsb_state a, b;
    CHECK(read_with(NULL, &a) == WSB_OK && a.n == 200, "first read");
    CHECK(cli("DEL wsb:nodes") == 0, "DEL");
    for (size_t i = a.n; i-- > 0;)
        CHECK(cli("HSET wsb:nodes %s %b", a.nodes[i].id, a.nodes[i].raw, a.nodes[i].raw_len) == 0, "HSET");
    struct array_memo ma = { &a, NULL, NULL };
    CHECK(read_with(&ma, &b) == WSB_OK && b.n == 200, "second read");
    CHECK(strcmp(b.nodes[0].id, a.nodes[199].id) == 0 && strcmp(b.nodes[199].id, a.nodes[0].id) == 0,
          "reversed: %s first", b.nodes[0].id);
    CHECK_INT(b.n_reused, 200);
    CHECK(same_as_fresh_read(&b), "as decoded");
    wsb_state_clear(&a);
    wsb_state_clear(&b);
    CHECK(cli("CONFIG SET hash-max-listpack-entries 128") == 0 && cli("CONFIG SET hash-max-listpack-value 64") == 0,
          "defaults again");
}

/* The memo in another order than the hash, some entries refused, and one
 * without record bytes. */
static void test_memo_order_and_refusals(void)
{
    CHECK(write_round(t_redis, &t_keys, 500) == WSB_OK, "write");
    struct wsb_state a, b, c;
    CHECK(read_with(NULL, &a) == WSB_OK && a.n == 500, "first read");
    size_t perm[500];
    unsigned char refuse[500];
    for (size_t i = 0; i < 500; i++) {
        perm[i] = (i * 7 + 3) % 500;   /* 7 and 500 are coprime: a permutation */
        refuse[i] = i % 5 == 0;
    }
    struct array_memo shuffled = { &a, perm, NULL };
    CHECK(read_with(&shuffled, &b) == WSB_OK && b.n == 500, "shuffled memo");
    CHECK_INT(b.n_reused, 500);
    CHECK(same_as_fresh_read(&b), "as decoded");
    wsb_state_clear(&b);
    struct array_memo refusing = { &a, perm, refuse };
    CHECK(read_with(&refusing, &b) == WSB_OK && b.n == 500, "refusing memo");
    CHECK_INT(b.n_reused, 400);
    CHECK(same_as_fresh_read(&b), "as decoded");
    /* A node made by the probe has no record bytes: never reused. */
    struct wsb_node probe_made;
    make_node(&probe_made, 0);
    struct wsb_state one = { .nodes = &probe_made, .n = 1 };
    struct array_memo mp = { &one, NULL, NULL };
    CHECK(read_with(&mp, &c) == WSB_OK && c.n == 500 && c.n_reused == 0, "raw NULL");
    wsb_node_clear(&probe_made);
    wsb_state_clear(&a);
    wsb_state_clear(&b);
    wsb_state_clear(&c);
}

/* Two records with the same bytes: each keeps its own id. */
static void test_same_bytes_other_id(void)
{
    CHECK(cli("DEL wsb:nodes") == 0, "DEL");
    const char *rec = "{\"endpoint\":\"wss://same.example.net/ws\",\"location\":\"X\",\"versions\":[\"v1\"],\"online\":true}";
    CHECK(cli("HSET wsb:nodes a %s b %s", rec, rec) == 0, "HSET");
    struct wsb_state a, b, c;
    CHECK(read_with(NULL, &a) == WSB_OK && a.n == 2, "first read");
    size_t swap[2] = { 1, 0 };
    struct array_memo swapped = { &a, swap, NULL };
    CHECK(read_with(&swapped, &b) == WSB_OK && b.n == 2 && b.n_reused == 2, "swapped memo");
    CHECK(b.n == 2 && strcmp(b.nodes[0].id, a.nodes[0].id) == 0 && strcmp(b.nodes[1].id, a.nodes[1].id) == 0,
          "ids kept");
    struct wsb_state only_first = { .nodes = &a.nodes[1], .n = 1 };
    struct array_memo mo = { &only_first, NULL, NULL };
    CHECK(read_with(&mo, &c) == WSB_OK && c.n == 2 && c.n_reused == 1, "one of two");
    CHECK(same_as_fresh_read(&c), "as decoded");
    wsb_state_clear(&a);
    wsb_state_clear(&b);
    wsb_state_clear(&c);
}

/* ---- the handler's refresh ---------------------------------------------- */

static void handler_close(struct wsb_handler *h, struct wsb_response *out, struct wsb_worker *w)
{
    free(out);
    wsb_worker_free(w);
    wsb_handler_free(h);
}

/* Gives handler h (which may be NULL) a response buffer and a worker.
 * Returns 1 when all is there; else checks a failure, frees everything and
 * returns 0. */
static int handler_open(struct wsb_handler *h, struct wsb_response **out, struct wsb_worker *w)
{
    *out = malloc(sizeof **out);
    wsb_worker_init(w);
    CHECK(h != NULL && *out != NULL, "handler");
    if (h != NULL && *out != NULL)
        return 1;
    handler_close(h, *out, w);
    return 0;
}

static int answer(struct wsb_handler *h, struct wsb_worker *w, struct wsb_response *out, const char *want)
{
    wsb_handle(h, w, param, NULL, out);
    out->buf[out->len < sizeof out->buf ? out->len : sizeof out->buf - 1] = '\0';
    return strstr(out->buf, want) != NULL;
}

/* Each request refreshes (WSB_CACHE_MS=0) with the current snapshot as
 * the memo: the state's expiry and run-time drains from <prefix>admin
 * (kept in the snap nodes) must not stick to the copied records. */
static void test_handler_refresh(void)
{
    CHECK(write_round(t_redis, &t_keys, 30) == WSB_OK, "write");
    CHECK(cli("DEL wsb:admin") == 0, "no drains");
    struct wsb_handler *h = new_handler();
    struct wsb_response *out;
    struct wsb_worker w;
    if (!handler_open(h, &out, &w))
        return;
    /* All but n00000 drained through the admin hash: it answers. */
    for (size_t i = 1; i < 30; i++) {
        char id[16];   /* hiredis formats with its own parser: no %zu */
        snprintf(id, sizeof id, "n%05zu", i);
        CHECK(cli("HSET wsb:admin %s drain", id) == 0, "drain");
    }
    CHECK(answer(h, &w, out, "n00000.ws.example.net"), "the only undrained node: %s", out->buf);
    CHECK(answer(h, &w, out, "n00000.ws.example.net"), "again, from the memo: %s", out->buf);
    CHECK(hset_node(0, moved) == 0, "HSET");
    CHECK(answer(h, &w, out, "moved.example.net"), "a changed record is seen: %s", out->buf);
    /* Drained at run time, then undrained: answers again. */
    CHECK(cli("HSET wsb:admin n00000 drain") == 0, "drain");
    CHECK(answer(h, &w, out, "Status: 503"), "all drained: %s", out->buf);
    CHECK(cli("HDEL wsb:admin n00000") == 0, "undrain");
    CHECK(answer(h, &w, out, "moved.example.net"), "undrained: %s", out->buf);
    /* Expired (round key gone): every node offline; back: online again. */
    CHECK(cli("RENAME wsb:round wsb:round-kept") == 0, "expire");
    CHECK(answer(h, &w, out, "Status: 503"), "expired: %s", out->buf);
    CHECK(answer(h, &w, out, "Status: 503"), "still expired: %s", out->buf);
    CHECK(cli("RENAME wsb:round-kept wsb:round") == 0, "live");
    CHECK(answer(h, &w, out, "moved.example.net"), "live again: %s", out->buf);
    /* Malformed: skipped, no node left; fixed: back. */
    CHECK(cli("HSET wsb:nodes n00000 %s", "{}") == 0, "HSET malformed");
    CHECK(answer(h, &w, out, "Status: 503"), "malformed: %s", out->buf);
    CHECK(hset_node(0, NULL) == 0, "HSET fixed");
    CHECK(answer(h, &w, out, "n00000.ws.example.net"), "fixed: %s", out->buf);
    /* Removed. */
    CHECK(cli("HDEL wsb:nodes n00000") == 0, "HDEL");
    CHECK(answer(h, &w, out, "Status: 503"), "removed: %s", out->buf);
    handler_close(h, out, &w);
    cli("DEL wsb:admin");
}

/* ---- change detection -------------------------------------------------- */

/* A round written on a connection of its own. */
static int write_round_apart(size_t count)
{
    char err[WSB_ERRLEN];
    struct wsb_redis_config rc;
    if (wsb_redis_config_parse(t_url, NULL, 1000, 5000, &rc, err) != WSB_OK)
        return WSB_EINVAL;
    struct wsb_redis *r = wsb_redis_new(&rc);
    int status = r != NULL ? write_round(r, &t_keys, count) : WSB_ENOMEM;
    wsb_redis_free(r);
    return status;
}

/* Calls of a command since the last CONFIG RESETSTAT (INFO commandstats);
 * -1 when INFO fails. */
static long long calls(const char *cmd)
{
    redisReply *r = redisCommand(t_cli, "INFO commandstats");
    long long n = -1;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        char key[64];
        snprintf(key, sizeof key, "cmdstat_%s:calls=", cmd);
        const char *p = strstr(r->str, key);
        n = p != NULL ? atoll(p + strlen(key)) : 0;
    }
    if (r != NULL)
        freeReplyObject(r);
    return n;
}

/* The state read by t_redis under a watch, as the handler reads it. */
static int read_watched(struct wsb_state_watch *w, struct wsb_state *out)
{
    char err[WSB_ERRLEN];
    int status = wsb_state_read_watched(t_redis, &t_keys, NULL, w, out, err);
    if (status != WSB_OK)
        fprintf(stderr, "read: %s\n", err);
    return status;
}

static enum wsb_state_change check(struct wsb_state_watch *w)
{
    char err[WSB_ERRLEN];
    return wsb_state_check(t_redis, &t_keys, w, err);
}

/* After a change the check says so once; a new read watches again. */
static int changed_then_rearmed(struct wsb_state_watch *w, const char *what)
{
    enum wsb_state_change c = check(w);
    CHECK(c == WSB_STATE_CHANGED, "%s: %s", what, wsb_state_change_name(c));
    c = check(w);
    CHECK(c == WSB_STATE_UNWATCHED, "%s, then: %s (a changed state must be read again)", what,
          wsb_state_change_name(c));
    struct wsb_state st;
    int ok = read_watched(w, &st) == WSB_OK;
    wsb_state_clear(&st);
    c = check(w);
    CHECK(ok && c == WSB_STATE_UNCHANGED, "%s: read again, then %s", what, wsb_state_change_name(c));
    return c == WSB_STATE_UNCHANGED;
}

static void test_watch_check(void)
{
    CHECK(write_round(t_redis, &t_keys, 50) == WSB_OK, "write");
    CHECK(cli("DEL wsb:admin") == 0, "no drains");
    struct wsb_state_watch w;
    memset(&w, 0, sizeof w);
    struct wsb_state st;
    CHECK(check(&w) == WSB_STATE_UNWATCHED, "nothing read yet");
    CHECK(read_watched(&w, &st) == WSB_OK && st.n == 50 && st.live, "watched read");
    wsb_state_clear(&st);
    CHECK(w.gen != 0 && w.gen == wsb_redis_generation(t_redis) && w.live && !w.refused, "the watch covers it");
    CHECK(cli("CONFIG RESETSTAT") == 0, "resetstat");
    for (int i = 0; i < 5; i++)
        CHECK(check(&w) == WSB_STATE_UNCHANGED, "unchanged %d", i);
    CHECK_INT(calls("exec"), 5);
    CHECK_INT(calls("hgetall"), 0);
    /* Reads of others, and writes to other keys, are no change. */
    CHECK(cli("HGETALL wsb:nodes") == 0 && cli("SET other:key 1") == 0 && cli("DEL wsb:lock") == 0, "others");
    CHECK(check(&w) == WSB_STATE_UNCHANGED, "others' reads and writes elsewhere");
    /* Every kind of change to the three keys. */
    CHECK(hset_node(7, more_load) == 0, "HSET");
    changed_then_rearmed(&w, "HSET of one record");
    CHECK(hset_node(7, more_load) == 0, "HSET the same bytes");
    changed_then_rearmed(&w, "HSET of the same bytes (any write counts)");
    CHECK(cli("HSET wsb:admin n00003 drain") == 0, "drain");
    changed_then_rearmed(&w, "HSET <prefix>admin id drain");
    CHECK(cli("HDEL wsb:admin n00003") == 0, "undrain");
    changed_then_rearmed(&w, "HDEL <prefix>admin");
    CHECK(cli("HDEL wsb:nodes n00010") == 0, "HDEL");
    changed_then_rearmed(&w, "HDEL of one record");
    CHECK(cli("EXPIRE wsb:round 100") == 0, "EXPIRE");
    changed_then_rearmed(&w, "EXPIRE of the round");
    CHECK(cli("PEXPIRE wsb:round 100") == 0, "PEXPIRE");
    changed_then_rearmed(&w, "PEXPIRE of the round");
    usleep(200000);
    changed_then_rearmed(&w, "the round expired");
    CHECK(read_watched(&w, &st) == WSB_OK && !st.live && w.gen != 0 && !w.live, "read: expired");
    wsb_state_clear(&st);
    CHECK(check(&w) == WSB_STATE_UNCHANGED, "still expired: no change");
    CHECK(write_round(t_redis, &t_keys, 50) == WSB_OK, "a new round");
    changed_then_rearmed(&w, "a round written (MULTI/EXEC of the probe)");
    CHECK(cli("RENAME wsb:round wsb:round-kept") == 0 && cli("RENAME wsb:round-kept wsb:round") == 0, "RENAME");
    changed_then_rearmed(&w, "RENAME away and back");
    CHECK(cli("DEL wsb:nodes") == 0, "DEL");
    changed_then_rearmed(&w, "DEL of the node hash");
    CHECK(cli("FLUSHDB") == 0, "FLUSHDB");
    changed_then_rearmed(&w, "FLUSHDB");
    CHECK(write_round(t_redis, &t_keys, 50) == WSB_OK, "write again");
    changed_then_rearmed(&w, "the state written into an empty database");
    /* EXISTS <round> in the check: a round that came or went is a change
     * even where EXEC would not say so (Redis before 6.0.9 ignores expiry). */
    w.live = 0;
    CHECK(check(&w) == WSB_STATE_CHANGED, "the round exists, the read said it did not");
    /* A new connection holds no WATCH: nothing to check, nothing sent. */
    CHECK(read_watched(&w, &st) == WSB_OK, "read");
    wsb_state_clear(&st);
    long long execs = calls("exec");
    wsb_redis_drop(t_redis);
    CHECK(check(&w) == WSB_STATE_UNWATCHED, "no connection");
    CHECK(read_watched(&w, &st) == WSB_OK && w.gen == wsb_redis_generation(t_redis), "reconnected and read");
    wsb_state_clear(&st);
    unsigned long long gen = w.gen;
    wsb_redis_drop(t_redis);
    char err[WSB_ERRLEN];
    redisReply *pong = wsb_redis_command(t_redis, err, "PING");   /* another connection, nothing read on it */
    if (pong != NULL)
        freeReplyObject(pong);
    w.gen = gen;
    CHECK(wsb_redis_generation(t_redis) > gen && check(&w) == WSB_STATE_UNWATCHED,
          "a watch of an older connection does not count");
    CHECK_INT(calls("exec"), execs);
    /* A plain read leaves nothing to check. */
    struct wsb_state_watch none;
    memset(&none, 0, sizeof none);
    CHECK(read_with(NULL, &st) == WSB_OK && check(&none) == WSB_STATE_UNWATCHED, "plain read");
    wsb_state_clear(&st);
    cli("DEL other:key");
}

/* The state written by another client while the server restarts: the
 * kept connection is dead, the check fails and drops it, the read runs on
 * a new one. */
static void restart_redis(void)
{
    kill_redis();
    CHECK(spawn_redis() == 0, "redis-server restarts");
    if (t_cli != NULL)
        redisFree(t_cli);
    t_cli = redisConnectUnix(t_sock);
}

static void test_watch_restart(void)
{
    CHECK(write_round(t_redis, &t_keys, 20) == WSB_OK, "write");
    struct wsb_state_watch w;
    memset(&w, 0, sizeof w);
    struct wsb_state st;
    CHECK(read_watched(&w, &st) == WSB_OK && st.n == 20, "read");
    wsb_state_clear(&st);
    CHECK(check(&w) == WSB_STATE_UNCHANGED, "unchanged");
    restart_redis();
    CHECK(t_cli != NULL && t_cli->err == 0 && write_round_apart(5) == WSB_OK, "a new state");
    enum wsb_state_change c = check(&w);
    CHECK(c == WSB_STATE_CHECK_FAILED && !wsb_redis_connected(t_redis), "after a restart: %s, dropped",
          wsb_state_change_name(c));
    CHECK(check(&w) == WSB_STATE_UNWATCHED, "then nothing to check");
    CHECK(read_watched(&w, &st) == WSB_OK && st.n == 5, "read the new state");
    wsb_state_clear(&st);
    CHECK(check(&w) == WSB_STATE_UNCHANGED, "watched on the new connection");
}

/* As the handler would: ACLs of the default user (which t_redis uses)
 * refuse WATCH, MULTI or EXEC in turn; t_cli is an admin. */
static void test_watch_refused(void)
{
    CHECK(cli("ACL SETUSER wsb-admin on >admin-pw ~* &* +@all") == 0 && cli("AUTH wsb-admin admin-pw") == 0, "admin");
    CHECK(write_round(t_redis, &t_keys, 10) == WSB_OK, "write");
    struct wsb_state_watch w;
    struct wsb_state st;
    static const char *const refuse[] = { "-watch", "-multi", "-exec" };
    for (int i = 0; i < 3; i++) {
        memset(&w, 0, sizeof w);
        CHECK(cli("ACL SETUSER default on nopass ~* &* +@all %s", refuse[i]) == 0, "ACL %s", refuse[i]);
        int read = read_watched(&w, &st) == WSB_OK && st.n == 10 && st.live;
        wsb_state_clear(&st);
        CHECK(read, "%s: the read serves", refuse[i]);
        enum wsb_state_change c = check(&w);
        CHECK(c == WSB_STATE_REFUSED, "%s: %s", refuse[i], wsb_state_change_name(c));
        CHECK(w.refused && strstr(w.why_refused, "NOPERM") != NULL && w.gen == 0, "%s: why: %s", refuse[i],
              w.why_refused);
        /* From now on plain reads, which serve (and never an EXEC left open). */
        CHECK(cli("HSET wsb:admin n00001 drain") == 0, "drain");
        read = read_watched(&w, &st) == WSB_OK && st.n == 10 && st.n_drain == 1;
        wsb_state_clear(&st);
        CHECK(read, "%s: plain reads see changes", refuse[i]);
        CHECK(check(&w) == WSB_STATE_REFUSED && w.gen == 0, "%s: still refused, nothing sent", refuse[i]);
        CHECK(cli("DEL wsb:admin") == 0, "undrain");
    }
    CHECK(cli("ACL SETUSER default on nopass ~* &* +@all") == 0, "default user restored");
    memset(&w, 0, sizeof w);
    CHECK(read_watched(&w, &st) == WSB_OK && check(&w) == WSB_STATE_UNCHANGED, "watching again");
    wsb_state_clear(&st);
}

/* A request's answer of the handler, the body's start. */
static const char *answer_of(struct wsb_handler *h, struct wsb_worker *w, struct wsb_response *out)
{
    wsb_handle(h, w, param, NULL, out);
    out->buf[out->len < sizeof out->buf ? out->len : sizeof out->buf - 1] = '\0';
    return out->buf;
}

/* Lines of a file holding needle. */
static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int n = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        n += strstr(line, needle) != NULL;
    if (f != NULL)
        fclose(f);
    return n;
}

/* Each request refreshes (WSB_CACHE_MS=0): the first reads plainly (a CGI
 * process reads once), the second reads under a watch, the rest ask
 * whether anything changed and read only when it did. */
static void test_handler_watch(void)
{
    CHECK(write_round(t_redis, &t_keys, 1) == WSB_OK, "one node");
    CHECK(cli("DEL wsb:admin") == 0, "no drains");
    struct wsb_handler *h = new_handler();
    struct wsb_response *out;
    struct wsb_worker w;
    if (!handler_open(h, &out, &w))
        return;
    CHECK(cli("CONFIG RESETSTAT") == 0, "resetstat");
    CHECK(strstr(answer_of(h, &w, out), "n00000.ws") != NULL, "first: %s", out->buf);
    CHECK_INT(calls("watch"), 0);   /* a CGI process makes this read only: no WATCH */
    CHECK(strstr(answer_of(h, &w, out), "n00000.ws") != NULL, "second: %s", out->buf);
    CHECK_INT(calls("hgetall"), 4);
    CHECK_INT(calls("watch"), 1);
    for (int i = 0; i < 20; i++)
        CHECK(strstr(answer_of(h, &w, out), "n00000.ws") != NULL, "unchanged %d: %s", i, out->buf);
    CHECK_INT(calls("hgetall"), 4);   /* no full read while nothing changed */
    CHECK_INT(calls("exec"), 20);
    CHECK_INT(calls("exists"), 22);
    /* One change, one full read, seen by the next request. */
    CHECK(hset_node(0, moved) == 0, "HSET");
    CHECK(strstr(answer_of(h, &w, out), "moved.example.net") != NULL, "HSET seen: %s", out->buf);
    CHECK_INT(calls("hgetall"), 6);
    CHECK(strstr(answer_of(h, &w, out), "moved.example.net") != NULL, "then unchanged: %s", out->buf);
    CHECK_INT(calls("hgetall"), 6);
    /* Drained by an operator: the next answer. */
    CHECK(cli("HSET wsb:admin n00000 drain") == 0, "drain");
    CHECK(strstr(answer_of(h, &w, out), "Status: 503") != NULL, "drained: %s", out->buf);
    CHECK(cli("HDEL wsb:admin n00000") == 0, "undrain");
    CHECK(strstr(answer_of(h, &w, out), "moved.example.net") != NULL, "undrained: %s", out->buf);
    /* The round expires: every node offline, 101. */
    CHECK(cli("PEXPIRE wsb:round 50") == 0, "PEXPIRE");
    CHECK(strstr(answer_of(h, &w, out), "moved.example.net") != NULL, "not yet expired: %s", out->buf);
    usleep(150000);
    CHECK(strstr(answer_of(h, &w, out), "\"error_code\":101") != NULL, "expired: %s", out->buf);
    CHECK(strstr(answer_of(h, &w, out), "\"error_code\":101") != NULL, "still expired: %s", out->buf);
    /* A new round; then the node removed; the hash deleted; a FLUSHDB. */
    CHECK(write_round(t_redis, &t_keys, 1) == WSB_OK, "new round");
    CHECK(strstr(answer_of(h, &w, out), "n00000.ws") != NULL, "new round seen: %s", out->buf);
    CHECK(cli("HDEL wsb:nodes n00000") == 0, "HDEL");
    CHECK(strstr(answer_of(h, &w, out), "\"error_code\":100") != NULL, "HDEL seen: %s", out->buf);
    CHECK(write_round(t_redis, &t_keys, 1) == WSB_OK && cli("DEL wsb:nodes") == 0, "DEL");
    CHECK(strstr(answer_of(h, &w, out), "\"error_code\":100") != NULL, "DEL seen: %s", out->buf);
    CHECK(write_round(t_redis, &t_keys, 1) == WSB_OK, "write");
    CHECK(strstr(answer_of(h, &w, out), "n00000.ws") != NULL, "written: %s", out->buf);
    CHECK(cli("FLUSHDB") == 0, "FLUSHDB");
    CHECK(strstr(answer_of(h, &w, out), "\"error_code\":100") != NULL, "FLUSHDB seen: %s", out->buf);
    /* Redis restarts with another state: the first request after it reads
     * the new state on a new connection. */
    CHECK(write_round(t_redis, &t_keys, 1) == WSB_OK, "write");
    CHECK(strstr(answer_of(h, &w, out), "n00000.ws") != NULL, "before the restart: %s", out->buf);
    restart_redis();
    wsb_redis_drop(t_redis);   /* the test's own connection: a new one for the tests after this */
    CHECK(t_cli != NULL && t_cli->err == 0, "t_cli");
    if (t_cli == NULL || t_cli->err != 0)
        goto done;
    CHECK(cli("HSET wsb:nodes n00000 %s", "{\"endpoint\":\"wss://after-restart.example.net/ws\",\"location\":\"R\","
              "\"versions\":[\"v1\"],\"online\":true}") == 0 && cli("HSET wsb:round at 1") == 0, "new state");
    CHECK(strstr(answer_of(h, &w, out), "after-restart.example.net") != NULL, "after the restart: %s", out->buf);
    CHECK_INT(calls("hgetall"), 2);   /* one full read on the new server */
    CHECK(strstr(answer_of(h, &w, out), "after-restart.example.net") != NULL, "then: %s", out->buf);
    CHECK_INT(calls("hgetall"), 2);   /* watched on the new connection */
done:
    handler_close(h, out, &w);
}

/* The safety net: a full read at least every full_read_ms, unchanged or not. */
static void test_handler_full_read_net(void)
{
    CHECK(write_round(t_redis, &t_keys, 1) == WSB_OK, "one node");
    struct wsb_handler *h = new_handler_with("0", 300);
    struct wsb_response *out;
    struct wsb_worker w;
    if (!handler_open(h, &out, &w))
        return;
    answer_of(h, &w, out);
    answer_of(h, &w, out);   /* the first full read under a watch */
    CHECK(cli("CONFIG RESETSTAT") == 0, "resetstat");
    for (int i = 0; i < 5; i++)
        answer_of(h, &w, out);
    CHECK_INT(calls("hgetall"), 0);
    usleep(350000);
    CHECK(strstr(answer_of(h, &w, out), "n00000.ws") != NULL, "answer: %s", out->buf);
    CHECK_INT(calls("hgetall"), 2);   /* 300 ms on: a full read though nothing changed */
    answer_of(h, &w, out);
    CHECK_INT(calls("hgetall"), 2);   /* and checks again after it */
    handler_close(h, out, &w);
}

/* A handler whose Redis user may not WATCH still serves, with one warn
 * line, and reads the whole state at every refresh. */
static void test_handler_watch_refused(void)
{
    CHECK(cli("ACL SETUSER wsb-admin on >admin-pw ~* &* +@all") == 0 && cli("AUTH wsb-admin admin-pw") == 0, "admin");
    CHECK(write_round(t_redis, &t_keys, 1) == WSB_OK, "one node");
    CHECK(cli("ACL SETUSER default on nopass ~* &* +@all -watch") == 0, "no WATCH for the handler");
    char log[200];
    snprintf(log, sizeof log, "%s/handler.log", t_dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(saved >= 0 && fd >= 0 && dup2(fd, STDERR_FILENO) == STDERR_FILENO, "stderr to %s", log);
    if (fd >= 0)
        close(fd);
    wsb_log_init("test_state_memo", WSB_LOG_WARN);
    struct wsb_handler *h = new_handler();
    struct wsb_response *out = malloc(sizeof *out);
    struct wsb_worker w;
    wsb_worker_init(&w);
    int served = 0;
    CHECK(cli("CONFIG RESETSTAT") == 0, "resetstat");
    for (int i = 0; h != NULL && out != NULL && i < 10; i++)
        served += strstr(answer_of(h, &w, out), "n00000.ws") != NULL;
    long long hgetall = calls("hgetall");
    CHECK(hset_node(0, moved) == 0, "HSET");
    int seen = h != NULL && out != NULL && strstr(answer_of(h, &w, out), "moved.example.net") != NULL;
    handler_close(h, out, &w);
    wsb_log_init("test_state_memo", WSB_LOG_ERROR);
    fflush(stderr);
    if (saved >= 0) {
        dup2(saved, STDERR_FILENO);
        close(saved);
    }
    CHECK_INT(served, 10);
    CHECK_INT(hgetall, 20);   /* every refresh reads the whole state */
    CHECK(seen, "a change is seen");
    CHECK_INT(count_lines(log, "no change detection"), 1);
    CHECK_INT(count_lines(log, "NOPERM"), 1);
    CHECK_INT(count_lines(log, ": warn: "), 1);
    CHECK_INT(count_lines(log, ": error: "), 0);
    unlink(log);
    CHECK(cli("ACL SETUSER default on nopass ~* &* +@all") == 0, "default user restored");
}

/* The refresher refreshes whether requests come or not: an idle process's
 * snapshot stays current. */
static void test_refresher_idle(void)
{
    CHECK(write_round(t_redis, &t_keys, 1) == WSB_OK, "one node");
    struct wsb_handler *h = new_handler_with("50", -1);
    struct wsb_response *out;
    struct wsb_worker w;
    if (!handler_open(h, &out, &w))
        return;
    CHECK(wsb_handler_start_refresher(h) == WSB_OK, "refresher");
    CHECK(strstr(answer_of(h, &w, out), "n00000.ws") != NULL, "answer: %s", out->buf);
    usleep(300000);   /* no requests */
    CHECK(cli("CONFIG RESETSTAT") == 0, "resetstat");
    CHECK(hset_node(0, moved) == 0, "HSET while idle");
    usleep(400000);
    long long hgetall = calls("hgetall"), exec = calls("exec");
    CHECK(hgetall == 2, "the idle refresher read the change once: %lld HGETALL", hgetall);
    CHECK(exec >= 3 && exec <= 12, "and checked about every 50 ms meanwhile: %lld EXEC in 400 ms", exec);
    /* The refresh happened before this request: it just answers. */
    CHECK(strstr(answer_of(h, &w, out), "moved.example.net") != NULL, "current: %s", out->buf);
    CHECK_INT(calls("hgetall"), 2);
    wsb_handler_stop_refresher(h);
    handler_close(h, out, &w);
}

/* A handler freed while its refresher reads Redis: the refresher is
 * stopped before anything it uses is freed (it used to be stopped last,
 * after Redis, GeoIP and the settings were gone: a use after free that
 * ASan reports). */
static void test_free_while_refreshing(void)
{
    CHECK(write_round(t_redis, &t_keys, 2000) == WSB_OK, "2,000 nodes");
    int made = 0;
    for (int i = 0; i < 20; i++) {
        struct wsb_handler *h = new_handler_with("1", 0);   /* a full read every millisecond */
        if (h == NULL)
            continue;
        made++;
        CHECK(wsb_handler_start_refresher(h) == WSB_OK, "refresher");
        usleep((useconds_t)(i * 250));
        wsb_handler_free(h);   /* the refresher is mid-read in most rounds */
    }
    CHECK_INT(made, 20);
}

/* Commands served and bytes sent by the private Redis so far, from INFO
 * (on c; the bytes of INFO's own replies included). */
static void redis_counts(redisContext *c, long long *commands, long long *bytes)
{
    redisReply *r = redisCommand(c, "INFO stats");
    *commands = *bytes = -1;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "total_commands_processed:");
        const char *q = strstr(r->str, "total_net_output_bytes:");
        if (p != NULL)
            *commands = atoll(p + strlen("total_commands_processed:"));
        if (q != NULL)
            *bytes = atoll(q + strlen("total_net_output_bytes:"));
    }
    if (r != NULL)
        freeReplyObject(r);
}

/* --bench N [--changed|--full]: the refresh measured is second_request's.
 * Plain: nothing changed, change detection on (the steady state).  --full:
 * nothing changed, every refresh reads the whole state (the steady state
 * without change detection).  --changed: a new round rewrote every record. */
static int bench(long n, const char *mode)
{
    int changed = strcmp(mode, "--changed") == 0, full = strcmp(mode, "--full") == 0;
    if (n < 1 || n > WSB_MAX_NODES) {
        fprintf(stderr, "test_state_memo: --bench N: 1..%d nodes\n", WSB_MAX_NODES);
        return 2;
    }
    if (start_redis() != 0) {
        fprintf(stderr, "test_state_memo: redis-server did not start\n");
        return 1;
    }
    wsb_log_init("test_state_memo", WSB_LOG_WARN);
    char err[WSB_ERRLEN];
    struct wsb_redis_config rc;
    struct wsb_keys k;
    wsb_keys_init(&k, "wsb:", err);
    if (wsb_redis_config_parse(t_url, NULL, 1000, 5000, &rc, err) != WSB_OK) {
        fprintf(stderr, "test_state_memo: %s\n", err);
        return 1;
    }
    struct wsb_redis *r = wsb_redis_new(&rc);
    if (r == NULL || write_round(r, &k, (size_t)n) != WSB_OK)
        return 1;
    wsb_redis_free(r);
    struct wsb_handler *h = new_handler_with("0", full ? 0 : -1);
    redisContext *stats = redisConnectUnix(t_sock);
    if (h == NULL || stats == NULL || stats->err || wsb_error_bodies_init() != WSB_OK)
        return 1;
    struct wsb_worker w;
    wsb_worker_init(&w);
    struct wsb_response *out = malloc(sizeof *out);
    if (out == NULL)
        return 1;
    /* The first read is plain, the second watched, the third a check. */
    for (int i = 0; i < 3; i++)
        wsb_handle(h, &w, param, NULL, out);
    if (changed) {
        t_checked_at++;
        if ((r = wsb_redis_new(&rc)) == NULL || write_round(r, &k, (size_t)n) != WSB_OK)
            return 1;
        wsb_redis_free(r);
    }
    long long c0, b0, c1, b1, c2, b2;
    redis_counts(stats, &c0, &b0);
    redis_counts(stats, &c1, &b1);   /* what one INFO costs */
    second_request(h, &w, out);
    redis_counts(stats, &c2, &b2);
    int ok = strncmp(out->buf, "Status: 200", 11) == 0;
    struct mallinfo2 mi = mallinfo2();   /* one snapshot of n nodes, the reply freed */
    printf("nodes=%ld answer=%.11s heap_in_use=%zu redis_commands=%lld redis_bytes_out=%lld\n", n, out->buf,
           mi.uordblks, (c2 - c1) - (c1 - c0), (b2 - b1) - (b1 - b0));
    free(out);
    redisFree(stats);
    wsb_worker_free(&w);
    wsb_handler_free(h);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if ((argc == 3 || (argc == 4 && (strcmp(argv[3], "--changed") == 0 || strcmp(argv[3], "--full") == 0))) &&
        strcmp(argv[1], "--bench") == 0)
        return bench(atol(argv[2]), argc == 4 ? argv[3] : "");
    if (argc != 1) {
        fprintf(stderr, "usage: test_state_memo [--bench N [--changed|--full]]\n");
        return 2;
    }
    wsb_log_init("test_state_memo", WSB_LOG_ERROR);
    signal(SIGPIPE, SIG_IGN);   /* as in wsb-handler: a write to a restarted Redis fails, it does not kill */
    char err[WSB_ERRLEN];
    struct wsb_redis_config rc;
    int up = start_redis() == 0;
    CHECK(up, "redis-server starts on a private unix socket");
    if (!up)
        return t_done("state_memo");
    wsb_keys_init(&t_keys, "wsb:", err);
    CHECK(wsb_redis_config_parse(t_url, NULL, 1000, 5000, &rc, err) == WSB_OK, "%s", err);
    t_redis = wsb_redis_new(&rc);
    t_cli = redisConnectUnix(t_sock);
    CHECK(t_redis != NULL && t_cli != NULL && t_cli->err == 0, "connections");
    if (t_redis != NULL && t_cli != NULL && t_cli->err == 0 && wsb_error_bodies_init() == WSB_OK) {
        T_RUN(test_unchanged_reused);
        T_RUN(test_changed_record);
        T_RUN(test_malformed_record);
        T_RUN(test_removed_record);
        T_RUN(test_reordered_hash);
        T_RUN(test_memo_order_and_refusals);
        T_RUN(test_same_bytes_other_id);
        T_RUN(test_handler_refresh);
        T_RUN(test_watch_check);
        T_RUN(test_watch_restart);
        T_RUN(test_watch_refused);
        T_RUN(test_handler_watch);
        T_RUN(test_handler_full_read_net);
        T_RUN(test_handler_watch_refused);
        T_RUN(test_refresher_idle);
        T_RUN(test_free_while_refreshing);
    }
    wsb_redis_free(t_redis);
    if (t_cli != NULL)
        redisFree(t_cli);
    stop_redis();
    return t_done("state_memo");
}

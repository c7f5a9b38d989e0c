/* test_redis_url.c: redis-sentinel:// URLs and their place in the failover
 * list (common/redis_url.c), fed as text: good forms, every error, lists
 * mixing the schemes, and passwords never in error texts. */
#include "redis.h"
#include "status.h"
#include "t.h"

#include <unistd.h>

static void test_sentinel_forms(void)
{
    struct wsb_redis_addr a;
    char err[WSB_ERRLEN] = "", buf[600];
    CHECK(wsb_redis_url_parse("redis-sentinel://127.0.0.1:26379/mymaster", &a, err) == WSB_OK, "%s", err);
    CHECK(a.is_sentinel && !a.is_unix && a.n_sentinels == 1 && a.sentinels[0].port == 26379, "one sentinel");
    CHECK_STR(a.sentinels[0].host, "127.0.0.1");
    CHECK_STR(a.master, "mymaster");
    CHECK_INT(a.role, WSB_REDIS_ROLE_MASTER);
    CHECK_INT(a.db, 0);
    wsb_redis_addr_format(&a, buf, sizeof buf);
    CHECK_STR(buf, "sentinel mymaster (127.0.0.1:26379)/0");

    CHECK(wsb_redis_url_parse("redis-sentinel://wsb-handler:s%40cret@h1,h2:26380,[::1]:26381/my_master.1-a"
                              "?db=3&role=replica",
                              &a, err) == WSB_OK,
          "%s", err);
    CHECK_INT(a.n_sentinels, 3);
    CHECK(!strcmp(a.sentinels[0].host, "h1") && a.sentinels[0].port == 26379, "default port");
    CHECK(!strcmp(a.sentinels[1].host, "h2") && a.sentinels[1].port == 26380, "given port");
    CHECK(!strcmp(a.sentinels[2].host, "::1") && a.sentinels[2].port == 26381, "v6 in brackets");
    CHECK_STR(a.master, "my_master.1-a");
    CHECK_STR(a.user, "wsb-handler");
    CHECK_STR(a.password, "s@cret");
    CHECK(a.db == 3 && a.role == WSB_REDIS_ROLE_REPLICA, "db and role");
    wsb_redis_addr_format(&a, buf, sizeof buf);
    CHECK_STR(buf, "sentinel my_master.1-a replica (h1:26379,h2:26380,[::1]:26381)/3");
    CHECK(strstr(buf, "cret") == NULL, "password never formatted: %s", buf);

    CHECK(wsb_redis_url_parse("redis-sentinel://h/m?role=master&db=65535", &a, err) == WSB_OK, "%s", err);
    CHECK(a.role == WSB_REDIS_ROLE_MASTER && a.db == 65535, "parameters in any order");
    CHECK(wsb_redis_url_parse("redis-sentinel://:pw@h/m", &a, err) == WSB_OK && !strcmp(a.password, "pw") &&
              a.user[0] == '\0',
          "password only");
    CHECK(wsb_redis_url_parse("redis-sentinel://h1,h2,h3,h4,h5,h6,h7,h8/m", &a, err) == WSB_OK && a.n_sentinels == 8,
          "eight sentinels: %s", err);
    char name[WSB_REDIS_MASTER_NAME_MAX + 40];
    snprintf(name, sizeof name, "redis-sentinel://h/%0*d", WSB_REDIS_MASTER_NAME_MAX, 0);
    CHECK(wsb_redis_url_parse(name, &a, err) == WSB_OK && strlen(a.master) == WSB_REDIS_MASTER_NAME_MAX,
          "longest master name: %s", err);
    CHECK_STR(wsb_redis_role_name(WSB_REDIS_ROLE_REPLICA), "replica");
    CHECK_STR(wsb_redis_role_name(WSB_REDIS_ROLE_MASTER), "master");
}

/* url fails with WSB_EINVAL, an error naming want, and *a unaltered. */
static void bad(const char *url, const char *want)
{
    struct wsb_redis_addr a;
    char err[WSB_ERRLEN] = "";
    memset(&a, 0x5a, sizeof a);
    int status = wsb_redis_url_parse(url, &a, err);
    CHECK(status == WSB_EINVAL, "%s: status %d", url, status);
    CHECK(strstr(err, want) != NULL, "%s: error [%s] lacks [%s]", url, err, want);
    CHECK(strstr(err, "hunter2") == NULL, "%s: the password is in the error [%s]", url, err);
    CHECK(a.port == 0x5a5a5a5a, "%s: output altered", url);
}

static void test_sentinel_errors(void)
{
    bad("redis-sentinel://", "needs /mastername");
    bad("redis-sentinel://h1:26379", "needs /mastername");
    bad("redis-sentinel://h1:26379/", "needs /mastername");
    bad("redis-sentinel://h1:26379/?db=1", "needs /mastername");
    bad("redis-sentinel:///m", "names no sentinel");
    bad("redis-sentinel://:hunter2@/m", "names no sentinel");
    bad("redis-sentinel://h1,,h2/m", "sentinel 2: empty host");
    bad("redis-sentinel://h1,/m", "sentinel 2: empty host");
    bad("redis-sentinel://,h1/m", "sentinel 1: empty host");
    bad("redis-sentinel://h1,h2,h3,h4,h5,h6,h7,h8,h9/m", "more than 8 sentinels");
    bad("redis-sentinel://h1:0/m", "sentinel 1: port must be a number 1..65535");
    bad("redis-sentinel://h1,h2:99999/m", "sentinel 2: port must be a number 1..65535");
    bad("redis-sentinel://h1:abc/m", "port must be");
    bad("redis-sentinel://:26379/m", "sentinel 1: has no host");
    bad("redis-sentinel://[::1/m", "closing ']'");
    bad("redis-sentinel://[::1]x/m", "after the IPv6 address");
    bad("redis-sentinel://[not-v6]:26379/m", "IPv6 in brackets");
    bad("redis-sentinel://h%31/m", "letters, digits");
    bad("redis-sentinel://h 1/m", "letters, digits");
    bad("redis-sentinel://::1:26379:5/m", "IPv6 address, in brackets");
    bad("redis-sentinel://h/my master", "master name may hold only");
    bad("redis-sentinel://h/my%20master", "master name may hold only");
    bad("redis-sentinel://h/mymaster/0", "?db=N, not after the master name");
    char name[WSB_REDIS_MASTER_NAME_MAX + 40];
    snprintf(name, sizeof name, "redis-sentinel://h/%0*d", WSB_REDIS_MASTER_NAME_MAX + 1, 0);
    bad(name, "longer than 64 bytes");
    bad("redis-sentinel://h/m?", "nothing after the '?'");
    bad("redis-sentinel://h/m?db=x", "db must be a number 0..65535");
    bad("redis-sentinel://h/m?db=65536", "db must be a number 0..65535");
    bad("redis-sentinel://h/m?db=", "db must be a number");
    bad("redis-sentinel://h/m?db", "parameter 'db' has no value");
    bad("redis-sentinel://h/m?db=1&db=2", "db is given twice");
    bad("redis-sentinel://h/m?role=slave", "role must be master or replica");
    bad("redis-sentinel://h/m?role=replica&role=master", "role is given twice");
    bad("redis-sentinel://h/m?timeout=5", "unknown parameter 'timeout'");
    bad("redis-sentinel://h/m?db=1&&role=master", "empty parameter");
    bad("redis-sentinel://h/m?db=1&", "empty parameter");
    bad("redis-sentinel://us%zzer:hunter2@h/m", "bad user name");
    bad("redis-sentinel://:hunter2%4@h/m", "bad password in URL");
    bad("redis-sentinel://:hunter2@h1,h2:bad/m", "sentinel 2: port");
    bad("redis-sentinel://:hunter2@h/m?role=hunter2", "role must be");
    bad("redis-sentinel://:hunter2@h/my master", "master name");
    bad("sentinel://h/m", "must start with redis://, unix:// or redis-sentinel://");
}

static void test_sentinel_lists(void)
{
    struct wsb_redis_config cfg, w;
    char err[WSB_ERRLEN] = "", buf[600];
    /* The form of the README: a local socket first, then the sentinels. */
    CHECK(wsb_redis_config_parse("unix:///run/redis/redis.sock,redis-sentinel://h1:26379,h2:26379/mymaster"
                                 "?role=replica",
                                 NULL, 100, 200, &cfg, err) == WSB_OK,
          "%s", err);
    CHECK_INT(cfg.n, 2);
    CHECK(cfg.addrs[0].is_unix && !cfg.addrs[0].is_sentinel, "first: the socket");
    CHECK(cfg.addrs[1].is_sentinel && cfg.addrs[1].n_sentinels == 2 && cfg.addrs[1].role == WSB_REDIS_ROLE_REPLICA,
          "second: both sentinels");
    CHECK(cfg.connect_timeout_ms == 100 && cfg.command_timeout_ms == 200, "timeouts");
    /* Spaces after the commas, as in the other lists. */
    CHECK(wsb_redis_config_parse("redis-sentinel://h1, h2, h3:26380/m, redis://127.0.0.1:6379/1", NULL, 100, 100, &cfg,
                                 err) == WSB_OK,
          "%s", err);
    CHECK(cfg.n == 2 && cfg.addrs[0].n_sentinels == 3 && !cfg.addrs[1].is_sentinel && cfg.addrs[1].db == 1,
          "sentinel then redis");
    CHECK_STR(cfg.addrs[0].sentinels[2].host, "h3");
    /* Two sentinel addresses (two groups), a v6 sentinel in the middle. */
    CHECK(wsb_redis_config_parse("redis-sentinel://h1,[::1]:26380/a?role=replica,redis-sentinel://h2/b", NULL, 100,
                                 100, &cfg, err) == WSB_OK,
          "%s", err);
    CHECK(cfg.n == 2 && cfg.addrs[0].n_sentinels == 2 && !strcmp(cfg.addrs[0].sentinels[1].host, "::1") &&
              !strcmp(cfg.addrs[1].master, "b"),
          "two groups");
    wsb_redis_addr_format(&cfg.addrs[0], buf, sizeof buf);
    CHECK_STR(buf, "sentinel a replica (h1:26379,[::1]:26380)/0");

    /* For writes: every sentinel address leads to the primary, nothing else moves. */
    wsb_redis_config_for_writes(&cfg, &w);
    CHECK(w.n == 2 && w.addrs[0].role == WSB_REDIS_ROLE_MASTER && w.addrs[1].role == WSB_REDIS_ROLE_MASTER,
          "roles forced to master");
    CHECK(cfg.addrs[0].role == WSB_REDIS_ROLE_REPLICA, "the original is left as it was");
    CHECK(w.addrs[0].n_sentinels == 2 && !strcmp(w.addrs[0].master, "a"), "the rest copied");

    /* Errors: numbered by address, a sentinel address counting as one. */
    CHECK(wsb_redis_config_parse("unix:///x.sock,redis-sentinel://h1,h2:0/m", NULL, 100, 100, &cfg, err) ==
                  WSB_EINVAL &&
              strstr(err, "address 2: sentinel 2: port") != NULL,
          "%s", err);
    CHECK(wsb_redis_config_parse("redis-sentinel://h1/m,h2:26379", NULL, 100, 100, &cfg, err) == WSB_EINVAL &&
              strstr(err, "follows the master name") != NULL,
          "a sentinel after the name: %s", err);
    CHECK(wsb_redis_config_parse("redis://x,h2:26379", NULL, 100, 100, &cfg, err) == WSB_EINVAL &&
              strstr(err, "address 2: must start with") != NULL,
          "a bare host after redis://: %s", err);
    CHECK(wsb_redis_config_parse("redis-sentinel://h1,,h2/m", NULL, 100, 100, &cfg, err) == WSB_EINVAL &&
              strstr(err, "empty") != NULL,
          "%s", err);
    CHECK(wsb_redis_config_parse("redis-sentinel://h1,h2,h3,h4,h5,h6,h7,h8,h9/m", NULL, 100, 100, &cfg, err) ==
                  WSB_EINVAL &&
              strstr(err, "more than 8 sentinels") != NULL,
          "%s", err);
    CHECK(wsb_redis_config_parse("redis-sentinel://:hunter2@h1,h2/bad name", NULL, 100, 100, &cfg, err) ==
                  WSB_EINVAL &&
              strstr(err, "hunter2") == NULL && strstr(err, "master name") != NULL,
          "no password in list errors: %s", err);
    CHECK(wsb_redis_config_parse("redis-sentinel://:hunter2@h1,h2/m?db=x", NULL, 100, 100, &cfg, err) == WSB_EINVAL &&
              strstr(err, "hunter2") == NULL,
          "%s", err);
    char many[4096];
    size_t used = (size_t)snprintf(many, sizeof many, "redis-sentinel://h0");
    for (int i = 1; i < 600 && used + 8 < sizeof many; i++)
        used += (size_t)snprintf(many + used, sizeof many - used, ",sentinel-%d.example.net", i % 10);
    snprintf(many + used, sizeof many - used, "/m");
    CHECK(wsb_redis_config_parse(many, NULL, 100, 100, &cfg, err) == WSB_EINVAL && strstr(err, "too long") != NULL,
          "an endless sentinel list: %s", err);
    CHECK(wsb_redis_config_parse("redis-sentinel://h/m,redis-sentinel://h/m,redis-sentinel://h/m,"
                                 "redis-sentinel://h/m,redis-sentinel://h/m,redis-sentinel://h/m,"
                                 "redis-sentinel://h/m,redis-sentinel://h/m,redis-sentinel://h/m",
                                 NULL, 100, 100, &cfg, err) == WSB_EINVAL &&
              strstr(err, "more than 8 addresses") != NULL,
          "%s", err);

    /* The password file applies to the data nodes of a sentinel address too. */
    char path[] = "/tmp/wsb-pw-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    CHECK(write(fd, "from-file\n", 10) == 10, "write");
    close(fd);
    CHECK(wsb_redis_config_parse("redis-sentinel://wsb-probe:inurl@h1,h2/m", path, 100, 100, &cfg, err) == WSB_OK,
          "%s", err);
    CHECK_STR(cfg.addrs[0].password, "from-file");
    CHECK_STR(cfg.addrs[0].user, "wsb-probe");
    unlink(path);
}

/* A connection through sentinels that are not there: each one's reason,
 * bounded, under the master's name, and no password. */
static void test_sentinel_unreachable(void)
{
    struct wsb_redis_config cfg;
    char err[WSB_ERRLEN] = "";
    CHECK(wsb_redis_config_parse("redis-sentinel://:hunter2@127.0.0.1:1,127.0.0.1:2,[::1]:3/mymaster", NULL, 200, 200,
                                 &cfg, err) == WSB_OK,
          "%s", err);
    struct wsb_redis *r = wsb_redis_new(&cfg);
    CHECK(r != NULL, "new");
    if (r == NULL)
        return;
    CHECK(wsb_redis_get(r, err) == NULL, "nothing listens");
    CHECK(strstr(err, "redis sentinel mymaster: 127.0.0.1:1: ") != NULL && strstr(err, "; 127.0.0.1:2: ") != NULL &&
              strstr(err, "; [::1]:3: ") != NULL,
          "each sentinel's reason: %s", err);
    CHECK(strstr(err, "hunter2") == NULL, "%s", err);
    CHECK(!wsb_redis_connected(r) && wsb_redis_generation(r) == 0 && wsb_redis_current(r)[0] == '\0', "none open");
    CHECK(wsb_redis_note_reply(r, NULL) == 0, "NULL noted");
    wsb_redis_free(r);
    wsb_redis_free(NULL);
}

int main(void)
{
    T_RUN(test_sentinel_forms);
    T_RUN(test_sentinel_errors);
    T_RUN(test_sentinel_lists);
    T_RUN(test_sentinel_unreachable);
    return t_done("test_redis_url");
}

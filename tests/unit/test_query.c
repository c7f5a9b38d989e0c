/* test_query.c: the route's query parameters (exclude, affinity) fed as bytes. */
#include "query.h"
#include "t.h"

#include <string.h>

static struct wsb_query q;

static void parse(const char *s)
{
    wsb_query_parse(s, s ? strlen(s) : 0, &q);
}

static void test_none(void)
{
    parse(NULL);
    CHECK(!wsb_query_any(&q), "NULL");
    parse("");
    CHECK(!wsb_query_any(&q), "empty");
    parse("v=1&foo=bar&exclude&affinity");   /* other names, bare names */
    CHECK(!wsb_query_any(&q), "other parameters");
    CHECK_INT(q.ignored, 0);
}

static void test_exclude_decoded(void)
{
    parse("exclude=wss%3A%2F%2Flon.example.net%2Fws&x=1&exclude=wss://fra.example.net/ws%3Fa%3Db");
    CHECK_INT(q.n_exclude, 2);
    CHECK_STR(q.exclude[0], "wss://lon.example.net/ws");
    CHECK_INT(q.exclude_len[0], strlen("wss://lon.example.net/ws"));
    CHECK_STR(q.exclude[1], "wss://fra.example.net/ws?a=b");
    CHECK(q.affinity == NULL, "no affinity");
    parse("exclude=a+b%2bc");   /* '+' is a space, %2b a plus */
    CHECK_STR(q.exclude[0], "a b+c");
    parse("exclude=%7e%7E");    /* either case of hex digit */
    CHECK_STR(q.exclude[0], "~~");
}

static void test_exclude_bounds(void)
{
    char buf[4096] = "";
    for (int i = 0; i < 10; i++) {
        char one[64];
        snprintf(one, sizeof one, "%sexclude=wss://n%d/ws", i ? "&" : "", i);
        strcat(buf, one);
    }
    parse(buf);
    CHECK_INT(q.n_exclude, WSB_QUERY_MAX_EXCLUDE);
    CHECK_STR(q.exclude[7], "wss://n7/ws");
    CHECK_INT(q.ignored, 2);
    /* One longer than an endpoint can be: ignored; exactly the longest: kept. */
    static char big[WSB_QUERY_MAX + 64];
    strcpy(big, "exclude=");
    memset(big + 8, 'a', WSB_MAX_ENDPOINT + 1);
    big[8 + WSB_MAX_ENDPOINT + 1] = '\0';
    parse(big);
    CHECK_INT(q.n_exclude, 0);
    CHECK_INT(q.ignored, 1);
    big[8 + WSB_MAX_ENDPOINT] = '\0';
    parse(big);
    CHECK_INT(q.n_exclude, 1);
    CHECK_INT(q.exclude_len[0], WSB_MAX_ENDPOINT);
    /* Escapes count decoded: 1024 escaped bytes still fit. */
    strcpy(big, "exclude=");
    for (int i = 0; i < WSB_MAX_ENDPOINT; i++)
        memcpy(big + 8 + 3 * i, "%41", 4);
    parse(big);
    CHECK_INT(q.n_exclude, 1);
    CHECK_INT(q.exclude_len[0], WSB_MAX_ENDPOINT);
    /* A query longer than WSB_QUERY_MAX is read up to it. */
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big + WSB_QUERY_MAX - 12, "&exclude=abc", 12);
    parse(big);
    CHECK_INT(q.n_exclude, 1);
    CHECK_STR(q.exclude[0], "abc");
    memcpy(big + WSB_QUERY_MAX - 10, "&exclude=abc", 12);
    parse(big);
    CHECK_INT(q.n_exclude, 1);
    CHECK_STR(q.exclude[0], "a");   /* cut at WSB_QUERY_MAX */
}

static void test_malformed(void)
{
    const char *bad[] = { "exclude=%", "exclude=%4", "exclude=%zz", "exclude=ab%g1", "exclude=", "exclude=a%00b",
                          "affinity=", "affinity=%", "affinity=%%41" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parse(bad[i]);
        CHECK(!wsb_query_any(&q), "%s accepted", bad[i]);
        CHECK_INT(q.ignored, 1);
    }
    /* A bad value does not take its good neighbours with it. */
    parse("exclude=%zz&exclude=ok&affinity=%&affinity=k");
    CHECK_INT(q.n_exclude, 1);
    CHECK_STR(q.exclude[0], "ok");
    CHECK(q.affinity != NULL && q.affinity_len == 1 && q.affinity[0] == 'k', "second affinity after a bad one");
    CHECK_INT(q.ignored, 2);
    /* Names are literal: an encoded name is another parameter. */
    parse("%65xclude=a&Exclude=b&exclude%3Dc");
    CHECK(!wsb_query_any(&q), "encoded or other-case names");
}

static void test_affinity(void)
{
    parse("affinity=user-42&affinity=other");
    CHECK(q.affinity != NULL, "affinity");
    CHECK_INT(q.affinity_len, 7);
    CHECK(memcmp(q.affinity, "user-42", 7) == 0, "key");
    CHECK_INT(q.ignored, 1);   /* the repeat */
    parse("affinity=%00%ff%0d%0a");   /* opaque: any byte, NUL included */
    CHECK_INT(q.affinity_len, 4);
    CHECK(q.affinity[0] == 0 && (unsigned char)q.affinity[1] == 0xff && q.affinity[2] == '\r', "bytes");
    char key[256];
    strcpy(key, "affinity=");
    memset(key + 9, 'k', WSB_AFFINITY_MAX);
    key[9 + WSB_AFFINITY_MAX] = '\0';
    parse(key);
    CHECK_INT(q.affinity_len, WSB_AFFINITY_MAX);
    strcat(key, "k");
    parse(key);
    CHECK(q.affinity == NULL, "129 bytes ignored");
    CHECK_INT(q.ignored, 1);
}

struct params {
    const char *qs, *uri;
};

static const char *get(const char *name, void *ctx)
{
    const struct params *p = ctx;
    if (strcmp(name, "QUERY_STRING") == 0)
        return p->qs;
    if (strcmp(name, "REQUEST_URI") == 0)
        return p->uri;
    return NULL;
}

static void test_query_string(void)
{
    size_t len;
    struct params p = { "affinity=a", "/v1/websocket/server?exclude=x" };
    const char *s = wsb_query_string(get, &p, &len);
    CHECK(s != NULL && len == 10 && memcmp(s, "affinity=a", 10) == 0, "QUERY_STRING first");
    p.qs = NULL;
    s = wsb_query_string(get, &p, &len);
    CHECK(s != NULL && len == 9 && memcmp(s, "exclude=x", 9) == 0, "REQUEST_URI's");
    p.uri = "/v1/websocket/server?exclude=x#frag";
    s = wsb_query_string(get, &p, &len);
    CHECK(s != NULL && len == 9, "fragment cut");
    p.uri = "/v1/websocket/server#a?b";
    CHECK(wsb_query_string(get, &p, &len) == NULL && len == 0, "'?' after '#'");
    p.uri = "/v1/websocket/server?";
    CHECK(wsb_query_string(get, &p, &len) == NULL, "empty query");
    p.qs = "";
    CHECK(wsb_query_string(get, &p, &len) == NULL, "empty QUERY_STRING wins over REQUEST_URI");
    p.qs = NULL;
    p.uri = NULL;
    CHECK(wsb_query_string(get, &p, &len) == NULL, "no parameters");
}

int main(void)
{
    T_RUN(test_none);
    T_RUN(test_exclude_decoded);
    T_RUN(test_exclude_bounds);
    T_RUN(test_malformed);
    T_RUN(test_affinity);
    T_RUN(test_query_string);
    return t_done("query");
}

/* test_common.c: the small shared helpers fed bytes: separated lists,
 * host:port, the monotonic clock. */
#include "clock.h"
#include "hostport.h"
#include "status.h"
#include "strlist.h"
#include "t.h"

/* The entries of s joined with '|', empty ones as "". */
static const char *walk(const char *s)
{
    static char out[256];
    struct wsb_list_iter it;
    const char *e;
    size_t len, o = 0;
    out[0] = '\0';
    wsb_list_begin(&it, s, ',');
    while (wsb_list_next(&it, &e, &len) && o + len + 2 < sizeof out) {
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s", o ? "|" : "", (int)len, e);
        if (len == 0)
            o += (size_t)snprintf(out + o, sizeof out - o, "\"\"");
    }
    return out;
}

static void test_lists(void)
{
    CHECK_STR(walk("a, b ,\tc"), "a|b|c");
    CHECK_STR(walk(""), "");
    CHECK_STR(walk(NULL), "");
    CHECK_STR(walk("a,"), "a|\"\"");
    CHECK_STR(walk("a,,b"), "a|\"\"|b");
    CHECK_STR(walk(" , "), "\"\"|\"\"");
    struct wsb_list_iter it;
    const char *e;
    size_t len;
    wsb_list_begin(&it, "x,y", ',');
    CHECK(wsb_list_next(&it, &e, &len) && !wsb_list_done(&it), "x, then more");
    CHECK(wsb_list_next(&it, &e, &len) && wsb_list_done(&it), "y, the last");
    CHECK(!wsb_list_next(&it, &e, &len), "then none");
    const char *t = "  mid \t";
    size_t tl = strlen(t);
    wsb_trim(&t, &tl);
    CHECK(tl == 3 && memcmp(t, "mid", 3) == 0, "trim");
}

static int split(const char *s, struct wsb_hostport *hp, char *err)
{
    return wsb_hostport_split(s, strlen(s), hp, err);
}

static void test_hostport(void)
{
    struct wsb_hostport hp;
    char err[WSB_ERRLEN];
    CHECK(split("example.net:6379", &hp, err) == WSB_OK && hp.port == 6379 && hp.host_len == 11 && !hp.bracketed,
          "host:port");
    CHECK(split("example.net", &hp, err) == WSB_OK && hp.port == 0 && hp.host_len == 11, "host alone");
    CHECK(split("[::1]:80", &hp, err) == WSB_OK && hp.port == 80 && hp.bracketed && hp.host_len == 3 &&
              memcmp(hp.host, "::1", 3) == 0, "[v6]:port");
    CHECK(split("[2001:db8::1]", &hp, err) == WSB_OK && hp.port == 0 && hp.host_len == 11, "[v6]");
    CHECK(split("::1:8080", &hp, err) == WSB_OK && hp.port == 8080 && hp.host_len == 3, "bare v6, last colon");
    CHECK(split(":8080", &hp, err) == WSB_OK && hp.port == 8080 && hp.host_len == 0, ":port");
    CHECK(split("host:1:2", &hp, err) == WSB_EINVAL && strstr(err, "IPv6") != NULL, "host:1:2: %s", err);
    CHECK(split("[::1", &hp, err) == WSB_EINVAL && strstr(err, "closing ']'") != NULL, "unclosed: %s", err);
    CHECK(split("[::1]x", &hp, err) == WSB_EINVAL && strstr(err, "unexpected") != NULL, "after ]: %s", err);
    const char *bad_ports[] = { "h:", "h:0", "h:65536", "h:123456", "h:8a", "h:-1", "[::1]:" };
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++)
        CHECK(split(bad_ports[i], &hp, err) == WSB_EINVAL && strstr(err, "port must be") != NULL, "%s: %s",
              bad_ports[i], err);
    CHECK(split("h:65535", &hp, err) == WSB_OK && hp.port == 65535, "highest port");
}

static void test_clock(void)
{
    long long a = wsb_now_ms(), au = wsb_now_us();
    long long b = wsb_now_ms(), bu = wsb_now_us();
    CHECK(b >= a && bu >= au, "monotonic");
    CHECK(au / 1000 - a <= 1 && au / 1000 - a >= -1, "ms and us agree: %lld %lld", a, au);
}

int main(void)
{
    T_RUN(test_lists);
    T_RUN(test_hostport);
    T_RUN(test_clock);
    return t_done("common");
}

/* test_metrics.c: the handler's counters (metrics.h) fed directly: the
 * answer table keeps (status, code, version) apart and bounds the labels
 * requests can make; the metrics route; a large response body; the text
 * buffer; host labels.  The exposition itself is tested against a real
 * Redis and promtool (tests/integration/metrics_prometheus.sh). */
#include "http.h"
#include "keys.h"
#include "metrics.h"
#include "redis_writer.h"
#include "status.h"
#include "t.h"
#include "textbuf.h"

static struct wsb_metrics *make(void)
{
    char err[WSB_ERRLEN];
    struct wsb_keys k;
    if (wsb_keys_init(&k, "wsb:", err) != WSB_OK)
        return NULL;
    return wsb_metrics_new(&k, "host-1", 100);
}

static void test_answers(void)
{
    struct wsb_metrics *m = make();
    CHECK(m != NULL, "made");
    if (m == NULL)
        return;
    for (int i = 0; i < 5; i++)
        wsb_metrics_answer(m, 200, 0, 1);
    wsb_metrics_answer(m, 503, 100, 1);
    wsb_metrics_answer(m, 404, 404, WSB_METRICS_VERSION_NONE);
    CHECK_INT(wsb_metrics_answers(m, 200, 0, 1), 5);
    CHECK_INT(wsb_metrics_answers(m, 503, 100, 1), 1);
    CHECK_INT(wsb_metrics_answers(m, 404, 404, WSB_METRICS_VERSION_NONE), 1);
    CHECK_INT(wsb_metrics_answers(m, 200, 0, 2), 0);
    /* Requests naming ever more versions: past the table's room they
     * count as "other", and the (status, code) pairs still have room. */
    for (unsigned v = 2; v < 1000; v++)
        wsb_metrics_answer(m, 200, 0, v);
    uint64_t versioned = 0;
    for (unsigned v = 2; v < 1000; v++)
        versioned += wsb_metrics_answers(m, 200, 0, v);
    uint64_t other = wsb_metrics_answers(m, 200, 0, WSB_METRICS_VERSION_OTHER);
    CHECK_INT(versioned + other, 998);
    CHECK(other > 800, "most made-up versions count as other (%llu)", (unsigned long long)other);
    wsb_metrics_answer(m, 405, 405, WSB_METRICS_VERSION_NONE);
    wsb_metrics_answer(m, 503, 102, 77777);
    CHECK_INT(wsb_metrics_answers(m, 405, 405, WSB_METRICS_VERSION_NONE), 1);
    CHECK_INT(wsb_metrics_answers(m, 503, 102, 77777) + wsb_metrics_answers(m, 503, 102, WSB_METRICS_VERSION_OTHER), 1);
    CHECK_INT(wsb_metrics_answers(m, 200, 0, 1), 5);
    wsb_metrics_free(m);
    wsb_metrics_free(NULL);
}

static void test_flush_without_redis(void)
{
    struct wsb_metrics *m = make();
    if (m == NULL)
        return;
    wsb_metrics_answer(m, 200, 0, 1);
    char err[WSB_ERRLEN];
    struct wsb_redis_config cfg;
    memset(&cfg, 0, sizeof cfg);
    CHECK_INT(wsb_redis_config_parse("redis://127.0.0.1:1/0", NULL, 10, 10, &cfg, err), WSB_OK);
    struct wsb_redis_writer *w = wsb_redis_writer_new(&cfg);
    CHECK(w != NULL, "writer");
    if (w == NULL) {
        wsb_metrics_free(m);
        return;
    }
    CHECK_INT(wsb_metrics_flush(m, w, 1700000000000LL, 1, err), WSB_EREDIS);
    wsb_redis_writer_free(w);
    CHECK(strstr(err, "127.0.0.1:1") != NULL, "the error names the address: %s", err);
    /* Kept for the next flush. */
    CHECK_INT(wsb_metrics_answers(m, 200, 0, 1), 1);
    wsb_metrics_free(m);
}

static void test_host_labels(void)
{
    char err[WSB_ERRLEN], host[WSB_METRICS_HOST_MAX + 1];
    CHECK_INT(wsb_metrics_host_check("web-1.example_a", err), WSB_OK);
    CHECK_INT(wsb_metrics_host_check("", err), WSB_EINVAL);
    CHECK_INT(wsb_metrics_host_check("a|b", err), WSB_EINVAL);
    CHECK_INT(wsb_metrics_host_check("a\"b", err), WSB_EINVAL);
    char big[100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_INT(wsb_metrics_host_check(big, err), WSB_EINVAL);
    wsb_metrics_default_host(host);
    CHECK_INT(wsb_metrics_host_check(host, err), WSB_OK);
}

static const char *metrics_param(const char *name, void *ctx)
{
    return strcmp(name, "REQUEST_URI") == 0 ? (const char *)ctx : NULL;
}

static void test_route(void)
{
    CHECK_INT(wsb_route_is_metrics(metrics_param, (void *)"/metrics"), 1);
    CHECK_INT(wsb_route_is_metrics(metrics_param, (void *)"/balancer/metrics?x=1"), 1);
    CHECK_INT(wsb_route_is_metrics(metrics_param, (void *)"/metricsx"), 0);
    CHECK_INT(wsb_route_is_metrics(metrics_param, (void *)"/v1/websocket/server"), 0);
    CHECK_INT(wsb_route_is_metrics(metrics_param, (void *)"metrics"), 0);
}

static void test_large_body(void)
{
    size_t n = 3 * WSB_RESPONSE_MAX;
    char *body = malloc(n);
    if (body == NULL)
        return;
    memset(body, 'x', n);
    struct wsb_answer a;
    memset(&a, 0, sizeof a);
    a.status = 200;
    a.body_owned = body;
    a.body_len = n;
    a.content_type = "text/plain; version=0.0.4; charset=utf-8";
    struct wsb_response *r = malloc(sizeof *r);
    if (r == NULL) {
        free(body);
        return;
    }
    CHECK_INT(wsb_response_build(&a, r), WSB_OK);
    CHECK(r->extra == body && r->extra_len == n, "the body is sent as the extra part");
    CHECK(strstr(r->buf, "Content-Length: 24576\r\n") != NULL, "length of the large body");
    CHECK(strstr(r->buf, "Content-Type: text/plain; version=0.0.4") != NULL, "its type");
    wsb_response_release(r);
    CHECK(r->extra == NULL && r->len == 0, "released");
    /* HEAD: the body is freed, only headers go. */
    a.body_owned = malloc(10);
    a.body_len = 10;
    a.head = 1;
    CHECK_INT(wsb_response_build(&a, r), WSB_OK);
    CHECK(r->extra == NULL, "no body for HEAD");
    wsb_response_release(r);
    free(r);
}

static void test_textbuf(void)
{
    struct wsb_textbuf b = WSB_TEXTBUF_INIT;
    wsb_textbuf_printf(&b, "%s=%d\n", "a", 1);
    for (int i = 0; i < 2000; i++)
        wsb_textbuf_printf(&b, "line %04d with some text to grow the buffer past its first size\n", i);
    CHECK(!b.failed, "no failure");
    CHECK(strncmp(b.p, "a=1\nline 0000", 13) == 0, "start kept");
    CHECK(b.len == strlen(b.p), "NUL-terminated at len");
    char big[1000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    size_t before = b.len;
    wsb_textbuf_printf(&b, "%s", big);
    CHECK_INT(b.len, before + 999);
    wsb_textbuf_append(&b, "", 0);
    CHECK_INT(b.len, before + 999);
    wsb_textbuf_free(&b);
    CHECK(b.p == NULL && b.len == 0, "freed");
    wsb_textbuf_free(NULL);
}

int main(void)
{
    T_RUN(test_answers);
    T_RUN(test_flush_without_redis);
    T_RUN(test_host_labels);
    T_RUN(test_route);
    T_RUN(test_large_body);
    T_RUN(test_textbuf);
    return t_done("metrics");
}

/* test_request.c: routing, client address, CORS and response bytes. */
#include "http.h"
#include "client_addr.h"
#include "cors.h"
#include "status.h"
#include "t.h"

static int route(const char *path, unsigned *v)
{
    return wsb_route_match(path, strlen(path), v);
}

static void test_route_match(void)
{
    unsigned v = 0;
    CHECK(route("/v1/websocket/server", &v) && v == 1, "v1");
    CHECK(route("/v2/websocket/server", &v) && v == 2, "v2");
    CHECK(route("/balancer/v17/websocket/server", &v) && v == 17, "prefix");
    CHECK(route("/a/b/c/v1000000/websocket/server", &v) && v == 1000000, "largest");
    CHECK(!route("/v1000001/websocket/server", &v), "too large");
    CHECK(!route("/v0/websocket/server", &v), "v0");
    CHECK(!route("/v01/websocket/server", &v), "leading zero");
    CHECK(!route("/v/websocket/server", &v), "no number");
    CHECK(!route("/vx/websocket/server", &v), "not a number");
    CHECK(!route("/v-1/websocket/server", &v), "negative");
    CHECK(!route("/xv1/websocket/server", &v), "segment must be vN");
    CHECK(!route("v1/websocket/server", &v), "no leading slash");
    CHECK(!route("/v1/websocket/server/", &v), "trailing slash");
    CHECK(!route("/v1/websocket/servers", &v), "longer tail");
    CHECK(!route("/v1/websocket/", &v), "short");
    CHECK(!route("", &v), "empty");
    CHECK(!route("/websocket/server", &v), "no version");
    CHECK(!route("/V1/websocket/server", &v), "capital V");
    CHECK(!route("/v1/WebSocket/server", &v), "case matters");
}

struct params {
    const char *kv[16];
};

static const char *get(const char *name, void *ctx)
{
    struct params *p = ctx;
    for (int i = 0; p->kv[i] != NULL; i += 2)
        if (strcmp(p->kv[i], name) == 0)
            return p->kv[i + 1];
    return NULL;
}

static void test_route_from_params(void)
{
    unsigned v = 0;
    struct params apache = { { "SCRIPT_NAME", "/lb", "PATH_INFO", "/v2/websocket/server", "REQUEST_URI",
                               "/lb/v2/websocket/server?x=1", NULL } };
    CHECK(wsb_route_from_params(get, &apache, &v) && v == 2, "SCRIPT_NAME+PATH_INFO");
    struct params lighttpd = { { "SCRIPT_NAME", "/v3/websocket/server", "PATH_INFO", "", NULL } };
    CHECK(wsb_route_from_params(get, &lighttpd, &v) && v == 3, "whole path in SCRIPT_NAME");
    struct params nginx = { { "REQUEST_URI", "/api/v4/websocket/server?v=9&path=/v5/websocket/server", NULL } };
    CHECK(wsb_route_from_params(get, &nginx, &v) && v == 4, "REQUEST_URI, query cut");
    struct params nginx_script = { { "SCRIPT_NAME", "/wsb", "REQUEST_URI", "/wsb/v1/websocket/server", NULL } };
    CHECK(wsb_route_from_params(get, &nginx_script, &v) && v == 1, "SCRIPT_NAME alone, then REQUEST_URI");
    struct params query_only = { { "REQUEST_URI", "/other?/v1/websocket/server", NULL } };
    CHECK(!wsb_route_from_params(get, &query_only, &v), "the query string never routes");
    struct params none = { { NULL } };
    CHECK(!wsb_route_from_params(get, &none, &v), "nothing");
    struct params fragment = { { "REQUEST_URI", "/v1/websocket/server#frag", NULL } };
    CHECK(wsb_route_from_params(get, &fragment, &v) && v == 1, "fragment cut");
}

static void check_addr(const struct wsb_cidr_list *trusted, const char *remote, const char *xff, const char *want)
{
    struct wsb_ip addr;
    char text[64];
    int found = wsb_client_addr(remote, xff, trusted, &addr);
    if (want == NULL) {
        CHECK(!found, "expected no address for %s / %.40s", remote ? remote : "-", xff ? xff : "-");
        return;
    }
    CHECK(found, "no address for %s / %.40s", remote ? remote : "-", xff ? xff : "-");
    if (found) {
        wsb_ip_format(&addr, text, sizeof text);
        CHECK_STR(text, want);
    }
}

static void test_client_addr(void)
{
    struct wsb_cidr_list trusted;
    char err[WSB_ERRLEN];
    CHECK(wsb_cidr_list_parse("127.0.0.1/32, 10.0.0.0/8, ::1", &trusted, err) == WSB_OK, "%s", err);
    struct wsb_ip ip;
    char buf[64];
#define ADDR(remote, xff, want) check_addr(&trusted, remote, xff, want)
    ADDR("81.2.69.142", NULL, "81.2.69.142");
    ADDR("81.2.69.142", "1.2.3.4", "81.2.69.142");            /* untrusted peer: header ignored */
    ADDR("127.0.0.1", "81.2.69.142", "81.2.69.142");
    ADDR("127.0.0.1", "6.6.6.6, 81.2.69.142", "81.2.69.142"); /* right-most untrusted */
    ADDR("127.0.0.1", "81.2.69.142, 10.1.2.3", "81.2.69.142"); /* skip trusted hops */
    ADDR("127.0.0.1", "10.1.2.3, 10.2.2.2", "10.1.2.3");       /* all trusted: left-most */
    ADDR("127.0.0.1", "2001:218::1", "2001:218::1");
    ADDR("::1", "[2001:218::1]:443", "2001:218::1");
    ADDR("127.0.0.1", "81.2.69.142:5555", "81.2.69.142");
    ADDR("::ffff:127.0.0.1", "81.2.69.142", "81.2.69.142");  /* mapped form is the same host */
    ADDR("127.0.0.1", "garbage", NULL);
    ADDR("127.0.0.1", "81.2.69.142, garbage", NULL);
    ADDR("127.0.0.1", "", NULL);
    ADDR("127.0.0.1", " 81.2.69.142 ", "81.2.69.142");
    ADDR("127.0.0.1", NULL, "127.0.0.1");
    ADDR(NULL, "81.2.69.142", NULL);
    ADDR("not-an-ip", NULL, NULL);
    ADDR("fe80::1%eth0", NULL, NULL);
    char big[WSB_MAX_XFF + 10];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ADDR("127.0.0.1", big, NULL);
    /* Nothing trusted: the header is never read. */
    struct wsb_cidr_list none = { 0, NULL };
    CHECK(wsb_client_addr("127.0.0.1", "81.2.69.142", &none, &ip), "none");
    wsb_ip_format(&ip, buf, sizeof buf);
    CHECK_STR(buf, "127.0.0.1");
    wsb_cidr_list_free(&trusted);
}

/* WSB_TRUSTED_PROXIES as operators write it: an IPv4 network in its
 * IPv4-mapped IPv6 form is the same network (netaddr.h), a bare IPv4
 * prefix is counted on 32 bits and a mapped one on 32 (/0../32) or on
 * 128 (/96../128); list edges. */
static void test_trusted_proxies_list(void)
{
    struct wsb_cidr_list l;
    char err[WSB_ERRLEN];
    CHECK(wsb_cidr_list_parse("::ffff:10.0.0.0/104", &l, err) == WSB_OK, "mapped /104: %s", err);
    check_addr(&l, "10.9.8.7", "81.2.69.142", "81.2.69.142");        /* peer in 10/8: trusted */
    check_addr(&l, "::ffff:10.9.8.7", "81.2.69.142", "81.2.69.142");
    check_addr(&l, "11.0.0.1", "81.2.69.142", "11.0.0.1");           /* outside: header ignored */
    wsb_cidr_list_free(&l);
    CHECK(wsb_cidr_list_parse("::ffff:10.0.0.0/128, ::ffff:0.0.0.0/96", &l, err) == WSB_OK, "mapped /128, /96: %s", err);
    check_addr(&l, "192.0.2.1", "81.2.69.142", "81.2.69.142");       /* ::ffff:0:0/96 is all of IPv4 */
    check_addr(&l, "2001:218::1", "81.2.69.142", "2001:218::1");
    wsb_cidr_list_free(&l);
    CHECK(wsb_cidr_list_parse("::ffff:10.0.0.0/129", &l, err) == WSB_EINVAL && strstr(err, "entry 1"), "/129: %s", err);
    CHECK(wsb_cidr_list_parse("10.0.0.0/104", &l, err) == WSB_EINVAL, "a bare IPv4 prefix is at most 32");
    /* A mapped address with /0../32 counts IPv4 bits, as it always did: a
     * reading as IPv6 bits (::/8) would trust every IPv4 client. */
    CHECK(wsb_cidr_list_parse("::ffff:10.0.0.0/8", &l, err) == WSB_OK, "mapped /8: %s", err);
    check_addr(&l, "10.9.8.7", "81.2.69.142", "81.2.69.142");        /* in 10/8: trusted */
    check_addr(&l, "11.0.0.1", "81.2.69.142", "11.0.0.1");           /* not trusted */
    wsb_cidr_list_free(&l);
    CHECK(wsb_cidr_list_parse("::ffff:10.0.0.0/64", &l, err) == WSB_EINVAL && strstr(err, "neither"),
          "mapped /64 is neither: %s", err);
    /* A trailing comma is accepted; an empty entry elsewhere is not. */
    CHECK(wsb_cidr_list_parse("10.0.0.0/8,", &l, err) == WSB_OK && l.n == 1, "trailing comma: %s", err);
    wsb_cidr_list_free(&l);
    CHECK(wsb_cidr_list_parse("10.0.0.0/8, ,::1", &l, err) == WSB_EINVAL && l.n == 0, "empty entry");
    CHECK(wsb_cidr_list_parse(",10.0.0.0/8", &l, err) == WSB_EINVAL, "leading comma");
    CHECK(wsb_cidr_list_parse("  ", &l, err) == WSB_EINVAL, "blank list: %s", err);
    CHECK(wsb_cidr_list_parse("", &l, err) == WSB_OK && l.n == 0, "empty list");
}

static void test_cors(void)
{
    struct wsb_cors c;
    char err[WSB_ERRLEN];
    CHECK(wsb_cors_parse("https://app.example.com, http://localhost:3000", &c, err) == WSB_OK, "%s", err);
    CHECK_STR(wsb_cors_allow(&c, "https://app.example.com"), "https://app.example.com");
    CHECK_STR(wsb_cors_allow(&c, "http://localhost:3000"), "http://localhost:3000");
    CHECK(wsb_cors_allow(&c, "https://evil.example.com") == NULL, "other origin");
    CHECK(wsb_cors_allow(&c, "https://app.example.com.evil") == NULL, "suffix");
    CHECK(wsb_cors_allow(&c, NULL) == NULL, "no origin");
    wsb_cors_free(&c);
    CHECK(wsb_cors_parse("*", &c, err) == WSB_OK, "star");
    CHECK_STR(wsb_cors_allow(&c, "https://x.example"), "*");
    wsb_cors_free(&c);
    CHECK(wsb_cors_parse("", &c, err) == WSB_OK && wsb_cors_allow(&c, "https://x") == NULL, "off");
    CHECK(wsb_cors_parse("https://a.example/path", &c, err) == WSB_EINVAL, "path refused");
    CHECK(strstr(err, "entry 1") != NULL, "names the entry: %s", err);
    CHECK(wsb_cors_parse("https://a.example,,https://b.example", &c, err) == WSB_EINVAL, "empty entry");
    CHECK(wsb_cors_parse("app.example.com", &c, err) == WSB_EINVAL, "no scheme");
    CHECK(wsb_cors_parse("https://a\r\nX: y", &c, err) == WSB_EINVAL, "header injection");
}

static void test_response(void)
{
    struct wsb_response r;
    CHECK(wsb_error_bodies_init() == WSB_OK, "init");
    size_t len;
    const char *b = wsb_error_body(101, &len);
    CHECK_STR(b, "{\"error_message\":\"no servers are currently online\",\"error_code\":101}");
    b = wsb_error_body(100, &len);
    CHECK_STR(b, "{\"error_message\":\"no servers are currently available\",\"error_code\":100}");
    b = wsb_error_body(102, &len);
    CHECK_STR(b, "{\"error_message\":\"no servers with this version are available\",\"error_code\":102}");

    struct wsb_answer a = { .status = 503, .retry_after = 5 };
    a.body = wsb_error_body(100, &a.body_len);
    CHECK(wsb_response_build(&a, &r) == WSB_OK, "build");
    r.buf[r.len < sizeof r.buf ? r.len : sizeof r.buf - 1] = '\0';
    CHECK(strncmp(r.buf, "Status: 503 Service Unavailable\r\n", 33) == 0, "%s", r.buf);
    CHECK(strstr(r.buf, "\r\nRetry-After: 5\r\n") != NULL, "retry-after");
    CHECK(strstr(r.buf, "\r\nCache-Control: no-store\r\n") != NULL, "no-store");
    CHECK(strstr(r.buf, "\r\nContent-Type: application/json\r\n") != NULL, "json");
    CHECK(strstr(r.buf, "Access-Control-Expose-Headers") == NULL, "no CORS header without an allowed origin");
    a.allow_origin = "https://app.example.com";
    CHECK(wsb_response_build(&a, &r) == WSB_OK, "build with origin");
    r.buf[r.len < sizeof r.buf ? r.len : sizeof r.buf - 1] = '\0';
    CHECK(strstr(r.buf, "\r\nAccess-Control-Expose-Headers: Retry-After\r\n") != NULL,
          "a 503 to an allowed origin lets its script read Retry-After: %s", r.buf);
    a.allow_origin = NULL;
    CHECK(wsb_response_build(&a, &r) == WSB_OK, "build");
    r.buf[r.len < sizeof r.buf ? r.len : sizeof r.buf - 1] = '\0';
    CHECK(strstr(r.buf, "\r\n\r\n{\"error_message\":\"no servers are currently available\",\"error_code\":100}") != NULL,
          "body");

    const char *ok = "{\"endpoint\":\"wss://x/ws\",\"location\":\"X\"}";
    struct wsb_answer h = { .status = 200, .body = ok, .body_len = strlen(ok), .head = 1,
                            .allow_origin = "https://app.example.com" };
    CHECK(wsb_response_build(&h, &r) == WSB_OK, "head");
    r.buf[r.len] = '\0';
    CHECK(strstr(r.buf, "Content-Length: 40\r\n\r\n") != NULL && r.buf[r.len - 1] == '\n', "HEAD: no body: %s", r.buf);
    CHECK(strstr(r.buf, "Access-Control-Allow-Origin: https://app.example.com\r\nVary: Origin\r\n") != NULL, "cors");
    CHECK(strstr(r.buf, "Retry-After") == NULL, "no retry-after on 200");

    struct wsb_answer pre = { .status = 204, .preflight = 1, .allow_origin = "*" };
    CHECK(wsb_response_build(&pre, &r) == WSB_OK, "preflight");
    r.buf[r.len] = '\0';
    CHECK(strstr(r.buf, "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n") != NULL, "methods");
    CHECK(strstr(r.buf, "Content-Type") == NULL, "no body type on 204");
    CHECK(strstr(r.buf, "Content-Length") == NULL, "no Content-Length on 204 (RFC 9110 8.6): %s", r.buf);
    CHECK(r.len >= 4 && memcmp(r.buf + r.len - 4, "\r\n\r\n", 4) == 0, "204 ends with its headers");

    struct wsb_answer m = { .status = 405 };
    m.body = wsb_error_body(405, &m.body_len);
    CHECK(wsb_response_build(&m, &r) == WSB_OK, "405");
    r.buf[r.len] = '\0';
    CHECK(strstr(r.buf, "\r\nAllow: GET, HEAD, OPTIONS\r\n") != NULL, "Allow");

    char huge[WSB_RESPONSE_MAX];
    memset(huge, 'x', sizeof huge);
    struct wsb_answer big = { .status = 200, .body = huge, .body_len = sizeof huge };
    CHECK(wsb_response_build(&big, &r) == WSB_ETOOBIG, "too big is refused, not overrun");
}

static void test_methods(void)
{
    CHECK_INT(wsb_method_parse("GET"), WSB_GET);
    CHECK_INT(wsb_method_parse("HEAD"), WSB_HEAD);
    CHECK_INT(wsb_method_parse("OPTIONS"), WSB_OPTIONS);
    CHECK_INT(wsb_method_parse("POST"), WSB_OTHER);
    CHECK_INT(wsb_method_parse("get"), WSB_OTHER);
    CHECK_INT(wsb_method_parse(""), WSB_OTHER);
}

int main(void)
{
    T_RUN(test_route_match);
    T_RUN(test_route_from_params);
    T_RUN(test_client_addr);
    T_RUN(test_trusted_proxies_list);
    T_RUN(test_cors);
    T_RUN(test_response);
    T_RUN(test_methods);
    return t_done("request");
}

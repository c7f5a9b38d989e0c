/* test_probe_outcome.c: outcome names and classes, the curl error mapping,
 * URL splitting, and the WebSocket key/accept computation. */
#include "check.h"
#include "node.h"
#include "outcome.h"
#include "status.h"
#include "t.h"
#include "url.h"
#include "wskey.h"

#include <curl/curl.h>
#include <errno.h>

static void test_names(void)
{
    for (int i = 0; i < (int)WSB_OUT_COUNT; i++) {
        const char *name = wsb_outcome_name((enum wsb_outcome)i);
        CHECK(strcmp(name, "unknown") != 0, "outcome %d has a name", i);
        CHECK(strlen(name) < WSB_OUTCOME_LEN, "%s fits last_error", name);
        enum wsb_outcome back;
        CHECK(wsb_outcome_from_name(name, &back) && (int)back == i, "%s round-trips", name);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(name, wsb_outcome_name((enum wsb_outcome)j)) != 0, "%s is unique", name);
    }
    CHECK_STR(wsb_outcome_name(WSB_OUT_OK), "ok");
    CHECK_STR(wsb_outcome_name(WSB_OUT_REFUSED), "refused");
    CHECK_STR(wsb_outcome_name(WSB_OUT_TIMEOUT), "timeout");
    CHECK_STR(wsb_outcome_name(WSB_OUT_TLS_VERIFY), "tls_verify");
    CHECK_STR(wsb_outcome_name(WSB_OUT_BAD_STATUS), "bad_status");
    CHECK_STR(wsb_outcome_name(WSB_OUT_BAD_HANDSHAKE), "bad_handshake");
    CHECK_STR(wsb_outcome_name(WSB_OUT_BAD_REPORT), "bad_report");
    CHECK_STR(wsb_outcome_name(WSB_OUT_REPORT_TOO_LARGE), "report_too_large");
    CHECK_STR(wsb_outcome_name(WSB_OUT_PROBE_NO_FD), "probe_no_fd");
    CHECK_STR(wsb_outcome_name(WSB_OUT_COUNT), "unknown");
    CHECK_STR(wsb_outcome_name((enum wsb_outcome)-1), "unknown");
    enum wsb_outcome o = WSB_OUT_OK;
    CHECK(!wsb_outcome_from_name("nope", &o) && o == WSB_OUT_OK, "unknown name");
}

static void test_classes(void)
{
    for (int i = 0; i < (int)WSB_OUT_COUNT; i++) {
        enum wsb_outcome o = (enum wsb_outcome)i;
        CHECK(!(wsb_outcome_is_probe_fault(o) && wsb_outcome_is_report(o)), "%s in one class", wsb_outcome_name(o));
    }
    CHECK(wsb_outcome_is_probe_fault(WSB_OUT_PROBE_NO_FD), "no_fd");
    CHECK(wsb_outcome_is_probe_fault(WSB_OUT_PROBE_NO_MEMORY), "no_memory");
    CHECK(wsb_outcome_is_probe_fault(WSB_OUT_PROBE_ERROR), "probe_error");
    CHECK(!wsb_outcome_is_probe_fault(WSB_OUT_REFUSED), "refused is the node's");
    CHECK(!wsb_outcome_is_probe_fault(WSB_OUT_TIMEOUT), "timeout is the node's");
    CHECK(wsb_outcome_is_report(WSB_OUT_BAD_REPORT), "bad_report");
    CHECK(wsb_outcome_is_report(WSB_OUT_NO_REPORT), "no_report");
    CHECK(!wsb_outcome_is_report(WSB_OUT_OK), "ok");
}

static void test_curl_mapping(void)
{
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_OK, 0), WSB_OUT_OK);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_COULDNT_CONNECT, ECONNREFUSED), WSB_OUT_REFUSED);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_COULDNT_CONNECT, EHOSTUNREACH), WSB_OUT_UNREACHABLE);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_COULDNT_CONNECT, ENETUNREACH), WSB_OUT_UNREACHABLE);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_COULDNT_CONNECT, ETIMEDOUT), WSB_OUT_TIMEOUT);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_COULDNT_CONNECT, EMFILE), WSB_OUT_PROBE_NO_FD);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_COULDNT_CONNECT, EADDRNOTAVAIL), WSB_OUT_PROBE_NETWORK);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_COULDNT_CONNECT, EACCES), WSB_OUT_PROBE_NETWORK);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_COULDNT_CONNECT, EPERM), WSB_OUT_PROBE_NETWORK);
    CHECK(wsb_outcome_is_probe_fault(WSB_OUT_PROBE_NETWORK), "probe_network is the probe's");
    CHECK(wsb_outcome_is_local_looking(WSB_OUT_DNS) && wsb_outcome_is_local_looking(WSB_OUT_TLS_UNTRUSTED),
          "dns and tls_untrusted look local");
    CHECK(!wsb_outcome_is_local_looking(WSB_OUT_REFUSED) && !wsb_outcome_is_local_looking(WSB_OUT_TIMEOUT) &&
              !wsb_outcome_is_local_looking(WSB_OUT_TLS_VERIFY),
          "refused, timeout and tls_verify are the node's");
    CHECK_INT(wsb_check_verify_outcome(20), WSB_OUT_TLS_UNTRUSTED);   /* unable to get local issuer */
    CHECK_INT(wsb_check_verify_outcome(19), WSB_OUT_TLS_UNTRUSTED);   /* self-signed in chain */
    CHECK_INT(wsb_check_verify_outcome(18), WSB_OUT_TLS_UNTRUSTED);   /* self-signed leaf */
    CHECK_INT(wsb_check_verify_outcome(10), WSB_OUT_TLS_VERIFY);      /* expired: the node's */
    CHECK_INT(wsb_check_verify_outcome(62), WSB_OUT_TLS_VERIFY);      /* wrong host name */
    CHECK_INT(wsb_check_verify_outcome(0), WSB_OUT_TLS_VERIFY);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_COULDNT_CONNECT, ENFILE), WSB_OUT_PROBE_NO_FD);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_COULDNT_CONNECT, ENOBUFS), WSB_OUT_PROBE_NO_MEMORY);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_OPERATION_TIMEDOUT, 0), WSB_OUT_TIMEOUT);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_COULDNT_RESOLVE_HOST, 0), WSB_OUT_DNS);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_PEER_FAILED_VERIFICATION, 0), WSB_OUT_TLS_VERIFY);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_SSL_CONNECT_ERROR, 0), WSB_OUT_TLS_ERROR);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_GOT_NOTHING, 0), WSB_OUT_CLOSED);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_RECV_ERROR, ECONNRESET), WSB_OUT_CLOSED);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_WEIRD_SERVER_REPLY, 0), WSB_OUT_BAD_RESPONSE);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_UNSUPPORTED_PROTOCOL, 0), WSB_OUT_BAD_RESPONSE);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_OUT_OF_MEMORY, 0), WSB_OUT_PROBE_NO_MEMORY);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_SSL_CACERT_BADFILE, 0), WSB_OUT_PROBE_ERROR);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_FAILED_INIT, 0), WSB_OUT_PROBE_ERROR);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_WRITE_ERROR, 0), WSB_OUT_PROBE_ERROR);
    CHECK_INT(wsb_check_outcome_of_curl(CURLE_TFTP_NOTFOUND, 0), WSB_OUT_FAILED);
}

static void test_url_split(void)
{
    struct wsb_url u;
    char err[WSB_ERRLEN];
    CHECK_INT(wsb_url_split("wss://eu-1.example.net/ws", &u, err), WSB_OK);
    CHECK_STR(u.scheme, "wss");
    CHECK_STR(u.host, "eu-1.example.net");
    CHECK_INT(u.port, 443);
    CHECK_INT(u.port_given, 0);
    CHECK_INT(wsb_url_split("ws://127.0.0.1:8080", &u, err), WSB_OK);
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_INT(u.port, 8080);
    CHECK_INT(u.port_given, 1);
    CHECK_INT(wsb_url_split("http://h?x=1", &u, err), WSB_OK);
    CHECK_INT(u.port, 80);
    CHECK_STR(u.host, "h");
    CHECK_INT(wsb_url_split("https://[::1]:9443/s", &u, err), WSB_OK);
    CHECK_STR(u.host, "[::1]");
    CHECK_INT(u.port, 9443);
    CHECK_INT(wsb_url_split("https://[::1]/s", &u, err), WSB_OK);
    CHECK_INT(u.port, 443);

    static const struct {
        const char *url, *why;
    } bad[] = {
        { "ftp://h/", "must start with ws://, wss://, http:// or https://" },
        { "WSS://h/", "must start with ws://, wss://, http:// or https://" },
        { "wss://", "has no host" },
        { "wss://:80/", "has no host" },
        { "wss://h:/", "port must be a number 1..65535" },
        { "wss://h:0/", "port must be a number 1..65535" },
        { "wss://h:65536/", "port must be a number 1..65535" },
        { "wss://h:12a/", "port must be a number 1..65535" },
        { "wss://u:p@h/", "must not carry user information" },
        { "wss://h h/", "byte 7 is not a printable ASCII character" },
        { "wss://h%20/", "host may only hold letters, digits, '.', '-' and '_'" },
        { "wss://[]/", "has no host" },
        { "wss://[::1/", "IPv6 address lacks its closing ']'" },
        { "wss://[::g]/", "bad IPv6 address" },
        { "wss://[::1]x/", "unexpected text after the IPv6 address" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(wsb_url_split(bad[i].url, &u, err) == WSB_EINVAL, "%s accepted", bad[i].url);
        CHECK_STR(err, bad[i].why);
    }
    char longurl[WSB_MAX_URL + 16];
    memcpy(longurl, "wss://h/", 8);
    memset(longurl + 8, 'a', sizeof longurl - 9);
    longurl[sizeof longurl - 1] = '\0';
    CHECK_INT(wsb_url_split(longurl, &u, err), WSB_EINVAL);
}

static void test_url_to_http(void)
{
    char *s = wsb_url_to_http("wss://h:1/ws?x");
    CHECK_STR(s, "https://h:1/ws?x");
    free(s);
    s = wsb_url_to_http("ws://h/");
    CHECK_STR(s, "http://h/");
    free(s);
    s = wsb_url_to_http("https://h/");
    CHECK_STR(s, "https://h/");
    free(s);
}

static void test_address(void)
{
    struct wsb_url u;
    char err[WSB_ERRLEN];
    CHECK_INT(wsb_address_parse("db.example:5432", &u, err), WSB_OK);
    CHECK_STR(u.host, "db.example");
    CHECK_INT(u.port, 5432);
    CHECK_INT(wsb_address_parse("[2001:db8::1]:443", &u, err), WSB_OK);
    CHECK_STR(u.host, "[2001:db8::1]");
    CHECK_INT(wsb_address_parse("h", &u, err), WSB_EINVAL);
    CHECK_STR(err, "must be host:port");
    CHECK_INT(wsb_address_parse("::1:80", &u, err), WSB_EINVAL);
    CHECK_INT(wsb_address_parse("h:1/x", &u, err), WSB_EINVAL);
    CHECK_STR(err, "must be host:port, not a URL");
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha1_base64(void)
{
    uint8_t d[20];
    char h[41], b[64];
    wsb_sha1("", 0, d);
    hex(d, 20, h);
    CHECK_STR(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    wsb_sha1("abc", 3, d);
    hex(d, 20, h);
    CHECK_STR(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";   /* 56 bytes: two blocks */
    wsb_sha1(two, strlen(two), d);
    hex(d, 20, h);
    CHECK_STR(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    char million[1000];
    memset(million, 'a', sizeof million);
    wsb_sha1(million, 64, d);   /* exactly one block of data */
    hex(d, 20, h);
    CHECK_STR(h, "0098ba824b5c16427bd7a1122a5a442a25ec644d");

    CHECK_INT(wsb_base64((const uint8_t *)"", 0, b), 0);
    CHECK_STR(b, "");
    wsb_base64((const uint8_t *)"f", 1, b);
    CHECK_STR(b, "Zg==");
    wsb_base64((const uint8_t *)"fo", 2, b);
    CHECK_STR(b, "Zm8=");
    wsb_base64((const uint8_t *)"foo", 3, b);
    CHECK_STR(b, "Zm9v");
    wsb_base64((const uint8_t *)"foobar", 6, b);
    CHECK_STR(b, "Zm9vYmFy");
    const uint8_t hi[3] = { 0xfb, 0xff, 0xbf };
    wsb_base64(hi, 3, b);
    CHECK_STR(b, "+/+/");
}

static void test_ws_key(void)
{
    char key[WSB_WS_KEY_LEN + 1], accept[WSB_WS_ACCEPT_LEN + 1];
    wsb_ws_key((const uint8_t *)"the sample nonce", key);
    CHECK_STR(key, "dGhlIHNhbXBsZSBub25jZQ==");   /* RFC 6455 section 1.3 */
    wsb_ws_accept(key, accept);
    CHECK_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK_INT(strlen(accept), WSB_WS_ACCEPT_LEN);
}

int main(void)
{
    T_RUN(test_names);
    T_RUN(test_classes);
    T_RUN(test_curl_mapping);
    T_RUN(test_url_split);
    T_RUN(test_url_to_http);
    T_RUN(test_address);
    T_RUN(test_sha1_base64);
    T_RUN(test_ws_key);
    return t_done("test_probe_outcome");
}

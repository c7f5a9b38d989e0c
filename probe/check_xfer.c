/* check_xfer.c: one transfer of a round (see check_xfer.h). */
#include "check_xfer.h"
#include "status.h"
#include "wskey.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* CURLOPT_BUFFERSIZE of a transfer whose body is dropped (libcurl's
 * minimum), and of one whose body may be a report. */
#define HEADER_BUFFER 1024L
#define BODY_BUFFER 8192L
/* Header lines of a websocket check.  At the end of the final header block
 * the answer is judged and the transfer aborted (returning 0): libcurl
 * without WebSocket support would otherwise wait for a body after 101. */
static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct wsb_xfer *x = ud;
    size_t len = size * nitems;
    return wsb_ws_answer_line(&x->ans, x->want_accept, buf, len) ? 0 : len;
}

/* Body bytes: kept (bounded) when they may be a report, else dropped. */
static size_t on_body(char *buf, size_t size, size_t nitems, void *ud)
{
    struct wsb_xfer *x = ud;
    size_t len = size * nitems;
    if (!x->keep_body)
        return len;
    if (x->body_len + len > WSB_REPORT_MAX) {
        x->body_over = 1;
        return 0;
    }
    if (x->body_len + len + 1 > x->body_cap) {
        size_t cap = x->body_cap ? x->body_cap : 1024;
        while (cap < x->body_len + len + 1)
            cap *= 2;
        char *b = realloc(x->body, cap);
        if (b == NULL) {
            x->body_nomem = 1;
            return 0;
        }
        x->body = b;
        x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, buf, len);
    x->body_len += len;
    x->body[x->body_len] = '\0';
    return len;
}

/* Opens the transfer's sockets, remembering why socket() failed, so that
 * running out of descriptors is told apart from a dead node. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct wsb_xfer *x = ud;
    (void)purpose;
    if (a->addrlen <= sizeof x->peer)
        memcpy(&x->peer, &a->addr, a->addrlen);
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0) {
        x->local_errno = errno;
        return CURL_SOCKET_BAD;
    }
    return fd;
}

static void random_nonce(uint8_t nonce[16])
{
    if (getrandom(nonce, 16, GRND_NONBLOCK) == 16)
        return;
    /* No entropy yet: the key only has to differ between requests. */
    static __thread uint64_t s;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() ^ (uint64_t)ts.tv_sec << 20;
    for (int i = 0; i < 16; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        nonce[i] = (uint8_t)s;
    }
}

/* Prepares and adds one transfer.  On failure the node's result says why
 * (a probe fault) and WSB_ENOMEM or WSB_ESYS is returned. */
int wsb_xfer_start(struct wsb_check_pool *pool, struct wsb_xfer *x, const struct wsb_inv_node *node,
                   const struct wsb_check_options *opt, struct wsb_check_result *r)
{
    CURL *e = wsb_check_pool_easy(pool);
    if (e == NULL) {
        wsb_check_result_set(r, x->is_report, WSB_OUT_PROBE_NO_MEMORY, "curl_easy_init failed");
        return WSB_ENOMEM;
    }
    const char *url = x->is_report ? node->status_url : node->check.target;
    long timeout = node->check.timeout_ms;
    CURLcode rc = CURLE_OK;
#define SET(opt_, val_) \
    if (rc == CURLE_OK) \
    rc = curl_easy_setopt(e, opt_, val_)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PRIVATE, (void *)x);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, timeout);
    SET(CURLOPT_CONNECTTIMEOUT_MS, timeout);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_NOPROXY, "*");
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_FORBID_REUSE, 1L);
    SET(CURLOPT_FRESH_CONNECT, 1L);
    SET(CURLOPT_USERAGENT, opt->user_agent);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
    SET(CURLOPT_OPENSOCKETDATA, (void *)x);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, (void *)x);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)WSB_REPORT_MAX);
    /* libcurl's receive buffer is allocated per transfer in flight (16 KiB
     * by default): a header block needs little, a report a few reads more. */
    SET(CURLOPT_BUFFERSIZE, x->keep_body ? BODY_BUFFER : HEADER_BUFFER);
    /* No DNS cache: its entries are per host and port, one per node, and
     * libcurl walks all of them each time a transfer ends, which made a
     * round's time grow with the square of the fleet. */
    SET(CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (opt->ca_file != NULL) {
        SET(CURLOPT_CAINFO, opt->ca_file);
        SET(CURLOPT_CAPATH, (char *)NULL);   /* trust ca_file alone */
    }
    if (!x->is_report && x->type == WSB_CHECK_WEBSOCKET) {
        uint8_t nonce[16];
        char key[WSB_WS_KEY_LEN + 1], line[64];
        random_nonce(nonce);
        wsb_ws_key(nonce, key);
        wsb_ws_accept(key, x->want_accept);
        snprintf(line, sizeof line, "Sec-WebSocket-Key: %s", key);
        const char *lines[] = { "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", line };
        for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
            struct curl_slist *l = curl_slist_append(x->headers, lines[i]);
            if (l == NULL) {
                rc = CURLE_OUT_OF_MEMORY;
                break;
            }
            x->headers = l;
        }
        SET(CURLOPT_HTTPHEADER, x->headers);
        SET(CURLOPT_HEADERFUNCTION, on_header);
        SET(CURLOPT_HEADERDATA, (void *)x);
    } else if (!x->is_report && x->type == WSB_CHECK_TCP) {
        SET(CURLOPT_CONNECT_ONLY, 1L);
    }
#undef SET
    int status = WSB_OK;
    char why[WSB_DETAIL_LEN];
    if (rc != CURLE_OK) {
        snprintf(why, sizeof why, "curl setup: %s", curl_easy_strerror(rc));
        status = rc == CURLE_OUT_OF_MEMORY ? WSB_ENOMEM : WSB_ESYS;
        goto cleanup;
    }
    CURLMcode mc = wsb_check_pool_start(pool, e);
    if (mc != CURLM_OK) {
        snprintf(why, sizeof why, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        status = mc == CURLM_OUT_OF_MEMORY ? WSB_ENOMEM : WSB_ESYS;
        goto cleanup;
    }
    x->easy = e;
cleanup:
    if (status != WSB_OK) {
        wsb_check_result_set(r, x->is_report, status == WSB_ENOMEM ? WSB_OUT_PROBE_NO_MEMORY : WSB_OUT_PROBE_ERROR, why);
        curl_slist_free_all(x->headers);
        x->headers = NULL;
        wsb_check_pool_give_back(pool, e);
    }
    return status;
}

/* The outcome of a transfer that ended with rc, when libcurl's own code
 * is what counts; fills detail. */
static enum wsb_outcome transport_outcome(struct wsb_xfer *x, CURLcode rc, long timeout_ms, char *detail)
{
    long os_errno = 0;
    curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os_errno);
    if (x->local_errno == EMFILE || x->local_errno == ENFILE) {
        snprintf(detail, WSB_DETAIL_LEN, "socket: %s", strerror(x->local_errno));
        return WSB_OUT_PROBE_NO_FD;
    }
    if (x->local_errno == ENOMEM || x->local_errno == ENOBUFS) {
        snprintf(detail, WSB_DETAIL_LEN, "socket: %s", strerror(x->local_errno));
        return WSB_OUT_PROBE_NO_MEMORY;
    }
    if (x->local_errno != 0) {
        snprintf(detail, WSB_DETAIL_LEN, "socket: %s", strerror(x->local_errno));
        return WSB_OUT_PROBE_NETWORK;
    }
    enum wsb_outcome o = wsb_check_outcome_of_curl(rc, os_errno);
    if (o == WSB_OUT_UNREACHABLE && os_errno == ENETUNREACH && wsb_check_no_route_of_own(&x->peer)) {
        snprintf(detail, WSB_DETAIL_LEN, "connect: the probe host has no route to the node's network");
        return WSB_OUT_PROBE_NETWORK;
    }
    if (o == WSB_OUT_TIMEOUT && x->peer.ss_family == 0) {
        /* Not one address to connect to within the budget: the resolver
         * did not answer (a dead one makes glibc wait 5 s a try). */
        snprintf(detail, WSB_DETAIL_LEN, "no answer from the resolver within %ld ms", timeout_ms);
        return WSB_OUT_DNS;
    }
    if (o == WSB_OUT_TLS_VERIFY) {
        long verify = 0;
        curl_easy_getinfo(x->easy, CURLINFO_SSL_VERIFYRESULT, &verify);
        o = wsb_check_verify_outcome(verify);
    }
    if (o == WSB_OUT_TIMEOUT) {
        curl_off_t connect_us = 0;
        curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
        snprintf(detail, WSB_DETAIL_LEN, "%s within %ld ms",
                 connect_us > 0 ? "no answer" : "no connection (TCP, TLS) made", timeout_ms);
    } else if (o == WSB_OUT_REFUSED) {
        snprintf(detail, WSB_DETAIL_LEN, "connection refused");
    } else {
        snprintf(detail, WSB_DETAIL_LEN, "%.120s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    }
    return o;
}

/* The node's report from the body of a 2xx answer (required: a
 * status_url's, which must hold one; else an http check's). */
static void report_of_body(const struct wsb_xfer *x, int required, int too_large, struct wsb_check_result *r)
{
    if (too_large) {
        wsb_check_result_set(r, 1, WSB_OUT_REPORT_TOO_LARGE, "report is larger than 64 KiB");
    } else if (x->body_nomem) {
        wsb_check_result_set(r, 1, WSB_OUT_PROBE_NO_MEMORY, "out of memory reading the report");
    } else {
        char why[WSB_ERRLEN] = "";
        r->report = wsb_report_parse(x->body ? x->body : "", x->body_len, required, &r->load, why);
        wsb_check_detail_set(&r->report_detail, why);
    }
}

/* Turns a finished transfer into its node's result. */
void wsb_xfer_finish(struct wsb_xfer *x, CURLcode rc, const struct wsb_inv_node *node, int node_has_status,
                     struct wsb_check_result *r)
{
    char detail[WSB_DETAIL_LEN] = "";
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    int too_large = (rc == CURLE_WRITE_ERROR && x->body_over) || rc == CURLE_FILESIZE_EXCEEDED;
    int body_ok = rc == CURLE_OK || too_large || (rc == CURLE_WRITE_ERROR && x->body_nomem);

    if (x->is_report) {
        if (body_ok && code >= 200 && code <= 299) {
            report_of_body(x, 1, too_large, r);
        } else if (body_ok) {
            snprintf(detail, sizeof detail, "status_url answered HTTP %ld", code);
            wsb_check_result_set(r, 1, WSB_OUT_REPORT_FAILED, detail);
        } else {
            enum wsb_outcome o = transport_outcome(x, rc, node->check.timeout_ms, detail);
            char why[WSB_DETAIL_LEN];
            snprintf(why, sizeof why, "status_url: %s: %.90s", wsb_outcome_name(o), detail);
            wsb_check_result_set(r, 1, wsb_outcome_is_probe_fault(o) ? o : WSB_OUT_REPORT_FAILED, why);
        }
        return;
    }

    curl_off_t total_us = 0;
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    r->elapsed_ms = (long)(total_us / 1000);
    switch (x->type) {
    case WSB_CHECK_WEBSOCKET:
        if (rc == CURLE_WRITE_ERROR && x->ans.done) {
            wsb_ws_answer_detail(&x->ans, detail, sizeof detail);
            wsb_check_result_set(r, 0, (enum wsb_outcome)x->ans.verdict, detail);
        } else if (rc == CURLE_OK) {
            snprintf(detail, sizeof detail, "HTTP %ld instead of 101", code);
            wsb_check_result_set(r, 0, WSB_OUT_BAD_STATUS, detail);
        } else {
            enum wsb_outcome o = transport_outcome(x, rc, node->check.timeout_ms, detail);
            wsb_check_result_set(r, 0, o, detail);
        }
        break;
    case WSB_CHECK_HTTP:
        if (body_ok && code >= 200 && code <= 299) {
            wsb_check_result_set(r, 0, WSB_OUT_OK, "");
            if (!node_has_status)
                report_of_body(x, 0, too_large, r);
        } else if (body_ok) {
            snprintf(detail, sizeof detail, "HTTP %ld", code);
            wsb_check_result_set(r, 0, WSB_OUT_BAD_STATUS, detail);
        } else {
            enum wsb_outcome o = transport_outcome(x, rc, node->check.timeout_ms, detail);
            wsb_check_result_set(r, 0, o, detail);
        }
        break;
    case WSB_CHECK_TCP:
        if (rc == CURLE_OK)
            wsb_check_result_set(r, 0, WSB_OUT_OK, "");
        else {
            enum wsb_outcome o = transport_outcome(x, rc, node->check.timeout_ms, detail);
            wsb_check_result_set(r, 0, o, detail);
        }
        break;
    }
}

/* Gives a finished transfer's handle back to the pool and frees what it
 * held: the slot is free for the next transfer. */
void wsb_xfer_release(struct wsb_check_pool *pool, struct wsb_xfer *x)
{
    wsb_check_pool_give_back(pool, x->easy);
    x->easy = NULL;
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    free(x->body);
    x->body = NULL;
    x->body_len = x->body_cap = 0;
}


/* check.c: every node's check and load report fetch, run concurrently on
 * a libcurl multi handle per thread (mechanism only; see check.h). */
#include "check.h"
#include "check_pool.h"
#include "parallel.h"
#include "log.h"
#include "status.h"
#include "ws_answer.h"
#include "wskey.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* CURLOPT_BUFFERSIZE of a transfer whose body is dropped (libcurl's
 * minimum), and of one whose body may be a report. */
#define HEADER_BUFFER 1024L
#define BODY_BUFFER 8192L
/* New transfers started before the loop looks at those in flight again.
 * Starting every free slot at once put all --max-parallel transfers in
 * flight at the round's start, each with its easy handle and connection
 * (about 14 KiB), although a check on a near node ends within a
 * millisecond: a round is paced by the probe's CPU, and its transfers
 * piled up only while it was busy starting more.  In batches, the checks
 * that answer end and give their slot back before others start, and what
 * stays in flight is what must: the slow and hanging ones (about the
 * hanging share of the checks started within one timeout).  Measured at
 * 10,000 stand-ins, 10 % hanging, timeout 1 s: at most 720-1,024 in
 * flight, not always 1,024. */
#define START_BATCH 64

/* One transfer in flight.  A round keeps at most max_parallel of these
 * (slots, reused), not one per node: what a node keeps for the round is
 * its wsb_check_result alone. */
struct xfer {
    CURL *easy;
    size_t node;
    int is_report;                /* a status_url fetch, not the check */
    int keep_body;                /* the body may be a load report */
    enum wsb_check_type type;     /* of the check (report fetches: http) */
    struct curl_slist *headers;
    char want_accept[WSB_WS_ACCEPT_LEN + 1];
    struct wsb_ws_answer ans;     /* the answer's header block (websocket check); ans.done:
                                   * judged, transfer aborted */
    /* body */
    char *body;
    size_t body_len, body_cap;
    int body_over, body_nomem;
    int local_errno;              /* socket() failed here with this errno */
    struct sockaddr_storage peer; /* the address of the last socket opened (family 0: none) */
    char errbuf[CURL_ERROR_SIZE];
};

/* Header lines of a websocket check.  At the end of the final header block
 * the answer is judged and the transfer aborted (returning 0): libcurl
 * without WebSocket support would otherwise wait for a body after 101. */
static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * nitems;
    return wsb_ws_answer_line(&x->ans, x->want_accept, buf, len) ? 0 : len;
}

/* Body bytes: kept (bounded) when they may be a report, else dropped. */
static size_t on_body(char *buf, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
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
    struct xfer *x = ud;
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

const char *wsb_check_detail(const char *d)
{
    return d != NULL ? d : "";
}

void wsb_check_detail_set(char **slot, const char *text)
{
    free(*slot);
    *slot = NULL;
    if (text == NULL || text[0] == '\0')
        return;
    size_t len = strnlen(text, WSB_DETAIL_LEN - 1);
    if ((*slot = malloc(len + 1)) == NULL) {
        /* The outcome stays; only its words are lost (said once a run). */
        static int told;
        if (!__atomic_exchange_n(&told, 1, __ATOMIC_RELAXED))
            wsb_log_warn("out of memory keeping a check's detail (\"%.60s\"): such details are left out", text);
        return;
    }
    memcpy(*slot, text, len);
    (*slot)[len] = '\0';
}

void wsb_check_results_clear(struct wsb_check_result *results, size_t n)
{
    for (size_t i = 0; results != NULL && i < n; i++) {
        wsb_check_detail_set(&results[i].detail, NULL);
        wsb_check_detail_set(&results[i].report_detail, NULL);
    }
}

static void set_result(struct wsb_check_result *r, int is_report, enum wsb_outcome o, const char *detail)
{
    if (is_report) {
        r->report = o;
        wsb_check_detail_set(&r->report_detail, detail);
    } else {
        r->check = o;
        wsb_check_detail_set(&r->detail, detail);
    }
}

/* Prepares and adds one transfer.  On failure the node's result says why
 * (a probe fault) and WSB_ENOMEM or WSB_ESYS is returned. */
static int start_xfer(struct wsb_check_pool *pool, struct xfer *x, const struct wsb_inv_node *node,
                      const struct wsb_check_options *opt, struct wsb_check_result *r)
{
    CURL *e = wsb_check_pool_easy(pool);
    if (e == NULL) {
        set_result(r, x->is_report, WSB_OUT_PROBE_NO_MEMORY, "curl_easy_init failed");
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
        set_result(r, x->is_report, status == WSB_ENOMEM ? WSB_OUT_PROBE_NO_MEMORY : WSB_OUT_PROBE_ERROR, why);
        curl_slist_free_all(x->headers);
        x->headers = NULL;
        wsb_check_pool_give_back(pool, e);
    }
    return status;
}

/* The outcome of a transfer that ended with rc, when libcurl's own code
 * is what counts; fills detail. */
static enum wsb_outcome transport_outcome(struct xfer *x, CURLcode rc, long timeout_ms, char *detail)
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

/* Turns a finished transfer into its node's result. */
static void finish_xfer(struct xfer *x, CURLcode rc, const struct wsb_inv_node *node, int node_has_status,
                        struct wsb_check_result *r)
{
    char detail[WSB_DETAIL_LEN] = "";
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    int too_large = (rc == CURLE_WRITE_ERROR && x->body_over) || rc == CURLE_FILESIZE_EXCEEDED;
    int body_ok = rc == CURLE_OK || too_large || (rc == CURLE_WRITE_ERROR && x->body_nomem);

    if (x->is_report) {
        if (body_ok && code >= 200 && code <= 299) {
            if (too_large) {
                set_result(r, 1, WSB_OUT_REPORT_TOO_LARGE, "report is larger than 64 KiB");
            } else if (x->body_nomem) {
                set_result(r, 1, WSB_OUT_PROBE_NO_MEMORY, "out of memory reading the report");
            } else {
                char why[WSB_ERRLEN] = "";
                r->report = wsb_report_parse(x->body ? x->body : "", x->body_len, 1, &r->load, why);
                wsb_check_detail_set(&r->report_detail, why);
            }
        } else if (body_ok) {
            snprintf(detail, sizeof detail, "status_url answered HTTP %ld", code);
            set_result(r, 1, WSB_OUT_REPORT_FAILED, detail);
        } else {
            enum wsb_outcome o = transport_outcome(x, rc, node->check.timeout_ms, detail);
            char why[WSB_DETAIL_LEN];
            snprintf(why, sizeof why, "status_url: %s: %.90s", wsb_outcome_name(o), detail);
            set_result(r, 1, wsb_outcome_is_probe_fault(o) ? o : WSB_OUT_REPORT_FAILED, why);
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
            set_result(r, 0, (enum wsb_outcome)x->ans.verdict, detail);
        }
        else if (rc == CURLE_OK) {
            snprintf(detail, sizeof detail, "HTTP %ld instead of 101", code);
            set_result(r, 0, WSB_OUT_BAD_STATUS, detail);
        } else {
            enum wsb_outcome o = transport_outcome(x, rc, node->check.timeout_ms, detail);
            set_result(r, 0, o, detail);
        }
        break;
    case WSB_CHECK_HTTP:
        if (body_ok && code >= 200 && code <= 299) {
            set_result(r, 0, WSB_OUT_OK, "");
            if (!node_has_status) {
                if (too_large)
                    set_result(r, 1, WSB_OUT_REPORT_TOO_LARGE, "report is larger than 64 KiB");
                else if (x->body_nomem)
                    set_result(r, 1, WSB_OUT_PROBE_NO_MEMORY, "out of memory reading the report");
                else {
                    char why[WSB_ERRLEN] = "";
                    r->report = wsb_report_parse(x->body ? x->body : "", x->body_len, 0, &r->load, why);
                    wsb_check_detail_set(&r->report_detail, why);
                }
            }
        } else if (body_ok) {
            snprintf(detail, sizeof detail, "HTTP %ld", code);
            set_result(r, 0, WSB_OUT_BAD_STATUS, detail);
        } else {
            enum wsb_outcome o = transport_outcome(x, rc, node->check.timeout_ms, detail);
            set_result(r, 0, o, detail);
        }
        break;
    case WSB_CHECK_TCP:
        if (rc == CURLE_OK)
            set_result(r, 0, WSB_OUT_OK, "");
        else {
            enum wsb_outcome o = transport_outcome(x, rc, node->check.timeout_ms, detail);
            set_result(r, 0, o, detail);
        }
        break;
    }
}

/* Gives a finished transfer's handle back to the pool and frees what it
 * held: the slot is free for the next transfer. */
static void release_xfer(struct wsb_check_pool *pool, struct xfer *x)
{
    wsb_check_pool_give_back(pool, x->easy);
    x->easy = NULL;
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    free(x->body);
    x->body = NULL;
    x->body_len = x->body_cap = 0;
}

/* What the parts of a round share (atomics): the position in the start
 * order of the next node to check, which the part with a free slot takes,
 * so that the order holds across parts; and the transfers in flight over
 * all parts, which max_parallel bounds as a whole: the hanging checks of a
 * round may sit in one part's slots, and the other parts go on checking
 * the rest (a share of slots a part left one thread checking alone). */
struct share {
    size_t next;
    size_t in_flight;
    size_t max_parallel;
    size_t most;          /* the most in flight at once */
};

/* Where a part is in the round's list of transfers: a node's check, then
 * its report fetch (when it has a status_url), which start together. */
struct cursor {
    const size_t *order;   /* NULL: inventory order */
    struct share *share;
    size_t pos;            /* in that order, of the node whose report is next */
    int report_next;
};

/* Lays out the part's next transfer in x (a free slot); 0 when every node
 * has been taken. */
static int next_xfer(const struct wsb_inventory *inv, struct cursor *c, struct xfer *x)
{
    if (!c->report_next) {
        size_t pos = __atomic_fetch_add(&c->share->next, 1, __ATOMIC_RELAXED);
        if (pos >= inv->n)
            return 0;
        c->pos = pos;
    }
    size_t i = c->order != NULL ? c->order[c->pos] : c->pos;
    const struct wsb_inv_node *node = &inv->nodes[i];
    memset(x, 0, sizeof *x);
    x->node = i;
    if (c->report_next) {
        x->is_report = 1;
        x->type = WSB_CHECK_HTTP;
        x->keep_body = 1;
        c->report_next = 0;
    } else {
        x->type = node->check.type;
        x->keep_body = x->type == WSB_CHECK_HTTP && node->status_url == NULL;
        c->report_next = node->status_url != NULL;
    }
    return 1;
}

/* Takes one of the round's max_parallel places in flight (1), or none
 * when all are taken (0); keeps the most taken at once. */
static int take_place(struct share *sh)
{
    size_t now = __atomic_load_n(&sh->in_flight, __ATOMIC_RELAXED);
    do {
        if (now >= sh->max_parallel)
            return 0;
    } while (!__atomic_compare_exchange_n(&sh->in_flight, &now, now + 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    size_t most = __atomic_load_n(&sh->most, __ATOMIC_RELAXED);
    while (now + 1 > most &&
           !__atomic_compare_exchange_n(&sh->most, &most, now + 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    return 1;
}

static void give_places(struct share *sh, size_t n)
{
    __atomic_sub_fetch(&sh->in_flight, n, __ATOMIC_RELAXED);
}

/* Whether a node (or the report fetch of the one c took) is left to start. */
static int work_left(const struct wsb_inventory *inv, const struct cursor *c)
{
    return c->report_next || __atomic_load_n(&c->share->next, __ATOMIC_RELAXED) < inv->n;
}

/* Records the outcome of every finished transfer and frees its slot
 * (pushed on free[]); returns how many finished. */
static size_t collect_done(struct wsb_check_pool *pool, const struct wsb_inventory *inv, struct xfer *slots,
                           size_t *free_slots, size_t *n_free, struct wsb_check_result *results)
{
    size_t done = 0;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(pool->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = m->data.result;   /* m is invalid once the handle is removed */
        if (x == NULL)
            continue;
        const struct wsb_inv_node *node = &inv->nodes[x->node];
        finish_xfer(x, rc, node, node->status_url != NULL, &results[x->node]);
        release_xfer(pool, x);
        free_slots[(*n_free)++] = (size_t)(x - slots);
        done++;
    }
    return done;
}

/* One part of a round, run by one thread: its own multi handle, epoll set
 * and slots (max_parallel of them, touched only as used), taking the next
 * node of the start order whenever the round has a place in flight free.
 * Parts share nothing but the cursor and the results, each writing the
 * entries of the nodes it took. */
struct part {
    const struct wsb_inventory *inv;
    const struct wsb_check_options *opt;
    const size_t *order;
    struct share *share;
    size_t max_parallel;
    size_t idle_max;              /* easy handles it keeps for reuse */
    struct wsb_check_result *results;
    int status;                   /* what run_part returned */
    char err[WSB_ERRLEN];
};

/* A part's slots: max_parallel of them (about 0.5 MB at 1,024), of which a
 * part uses as many as it has in flight at once, the first ones (the free
 * list is a stack).  Mapped, so that the pages of the slots never used are
 * never touched: calloc zeroes what it takes from the heap's free space. */
static struct xfer *slots_map(size_t n)
{
    void *p = mmap(NULL, n * sizeof(struct xfer), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void run_part(void *arg)
{
    struct part *part = arg;
    const struct wsb_inventory *inv = part->inv;
    struct wsb_check_result *results = part->results;
    char *err = part->err;
    int status = WSB_OK;
    struct xfer *slots = NULL;
    size_t *free_slots = NULL, n_free = 0, n_slots = part->max_parallel > 0 ? part->max_parallel : 1;
    struct wsb_check_pool pool;
    struct cursor cur = { part->order, part->share, 0, 0 };
    memset(&pool, 0, sizeof pool);
    pool.epfd = -1;
    err[0] = '\0';
    if ((slots = slots_map(n_slots)) == NULL || (free_slots = malloc(n_slots * sizeof *free_slots)) == NULL) {
        status = wsb_fail(err, WSB_ENOMEM, "out of memory preparing %zu transfers at once", n_slots);
        goto cleanup;
    }
    for (size_t k = n_slots; k > 0; k--)
        free_slots[n_free++] = k - 1;
    if ((status = wsb_check_pool_open(&pool, part->idle_max, err)) != WSB_OK)
        goto cleanup;
    size_t active = 0;
    for (;;) {
        /* At most START_BATCH new transfers between two looks at the ones
         * in flight (see START_BATCH). */
        size_t started = 0;
        int more = 0, waiting = 0;   /* waiting: work is left, but no place in flight */
        while (n_free > 0) {
            if (started == START_BATCH) {
                more = 1;
                break;
            }
            if (!take_place(part->share)) {
                waiting = work_left(inv, &cur);
                break;
            }
            struct xfer *x = &slots[free_slots[n_free - 1]];
            if (!next_xfer(inv, &cur, x)) {
                give_places(part->share, 1);
                break;
            }
            started++;
            if (start_xfer(&pool, x, &inv->nodes[x->node], part->opt, &results[x->node]) == WSB_OK) {
                n_free--;
                active++;
            } else {
                give_places(part->share, 1);
            }
        }
        if (active == 0 && !more && !waiting)
            break;
        /* Waiting on the other parts' transfers: a look every millisecond. */
        if ((status = wsb_check_pool_run(&pool, more ? 0 : waiting ? 1 : 1000, err)) != WSB_OK)
            goto cleanup;
        size_t done = collect_done(&pool, inv, slots, free_slots, &n_free, results);
        active -= done;
        give_places(part->share, done);
    }
cleanup:
    if (status != WSB_OK) {
        /* The transfers in flight, and the report fetch of the node it took
         * last; the nodes no part took are told after the round
         * (wsb_check_all). */
        enum wsb_outcome o = status == WSB_ENOMEM ? WSB_OUT_PROBE_NO_MEMORY : WSB_OUT_PROBE_ERROR;
        for (size_t k = 0; slots != NULL && k < n_slots; k++)
            if (slots[k].easy != NULL)
                set_result(&results[slots[k].node], slots[k].is_report, o, "the check machinery failed");
        if (cur.report_next)
            set_result(&results[cur.order != NULL ? cur.order[cur.pos] : cur.pos], 1, o, "the check machinery failed");
    }
    for (size_t k = 0; slots != NULL && k < n_slots; k++) {
        int held = slots[k].easy != NULL;
        release_xfer(&pool, &slots[k]);
        if (held)
            give_places(part->share, 1);
    }
    if (slots != NULL)
        munmap(slots, n_slots * sizeof *slots);
    free(free_slots);
    wsb_check_pool_close(&pool);
    part->status = status;
}

int wsb_check_all(const struct wsb_inventory *inv, const struct wsb_check_options *opt, const size_t *order,
                  struct wsb_check_result *results, char *err)
{
    size_t total = 0;
    for (size_t i = 0; i < inv->n; i++) {
        struct wsb_check_result *r = &results[i];
        memset(r, 0, sizeof *r);
        r->check = WSB_OUT_PROBE_ERROR;
        r->report = WSB_OUT_NO_REPORT;
        r->load.connections = r->load.capacity = -1;
        total += 1 + (inv->nodes[i].status_url != NULL);
    }
    if (total == 0)
        return WSB_OK;
    size_t max_parallel = opt->max_parallel > 0 ? opt->max_parallel : 1;
    if (max_parallel > total)
        max_parallel = total;
    /* A part per thread asked for, but never more than transfers in
     * flight at once: a part has at least one slot. */
    size_t n_parts = opt->threads > 0 ? opt->threads : 1;
    if (n_parts > WSB_CHECK_THREADS_MAX)
        n_parts = WSB_CHECK_THREADS_MAX;
    if (n_parts > max_parallel)
        n_parts = max_parallel;
    struct share share = { .max_parallel = max_parallel };
    struct part parts[WSB_CHECK_THREADS_MAX];
    for (size_t k = 0; k < n_parts; k++)
        parts[k] = (struct part){ .inv = inv, .opt = opt, .order = order, .share = &share,
                                  .max_parallel = max_parallel, .idle_max = max_parallel / n_parts + 1,
                                  .results = results };
    wsb_parallel_run(run_part, parts, sizeof parts[0], n_parts);
    int status = WSB_OK;
    for (size_t k = 0; k < n_parts; k++)
        if (status == WSB_OK && parts[k].status != WSB_OK) {
            status = parts[k].status;
            memcpy(err, parts[k].err, WSB_ERRLEN);
        }
    if (status != WSB_OK) {
        /* Every part failed before all the nodes were taken (a part that
         * runs on takes the rest): those nodes say why. */
        enum wsb_outcome o = status == WSB_ENOMEM ? WSB_OUT_PROBE_NO_MEMORY : WSB_OUT_PROBE_ERROR;
        for (size_t pos = share.next < inv->n ? share.next : inv->n; pos < inv->n; pos++) {
            size_t i = order != NULL ? order[pos] : pos;
            set_result(&results[i], 0, o, "the check machinery failed");
            if (inv->nodes[i].status_url != NULL)
                set_result(&results[i], 1, o, "the check machinery failed");
        }
    }
    wsb_log_debug("checks: %zu transfers on %zu thread%s, at most %zu in flight (--max-parallel %zu)", total, n_parts,
                  n_parts == 1 ? "" : "s", share.most, max_parallel);
    return status;
}

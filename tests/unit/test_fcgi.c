/* test_fcgi.c: FastCGI framing fed bytes, and libfcgi's room (fcgi.c)
 * driven over a real socket pair: kept, closed, unread bodies, rejected
 * requests, and SIGTERM left alone by the initialisation. */
#define _GNU_SOURCE
#include "clock.h"
#include "fcgi.h"
#include "fcgi_direct.h"
#include "fcgi_frame.h"
#include "status.h"
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BEGIN = 1, END = 3, PARAMS = 4, STDIN = 5, STDOUT = 6, GET_VALUES = 9 };

struct buf {
    unsigned char b[8192];
    size_t n;
};

static void record(struct buf *o, unsigned type, unsigned id, const void *content, size_t len, unsigned pad)
{
    unsigned char h[8] = { 1, (unsigned char)type, (unsigned char)(id >> 8), (unsigned char)id,
                           (unsigned char)(len >> 8), (unsigned char)len, (unsigned char)pad, 0 };
    memcpy(o->b + o->n, h, 8);
    o->n += 8;
    if (len > 0)
        memcpy(o->b + o->n, content, len);
    o->n += len;
    memset(o->b + o->n, 0, pad);
    o->n += pad;
}

static void nv(unsigned char *p, size_t *n, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    p[(*n)++] = (unsigned char)nl;
    p[(*n)++] = (unsigned char)vl;
    memcpy(p + *n, name, nl);
    *n += nl;
    memcpy(p + *n, value, vl);
    *n += vl;
}

/* A GET of the route with id 1; keep: FCGI_KEEP_CONN; body: bytes of stdin;
 * end: with the empty stdin record. */
static void request(struct buf *o, int keep, unsigned role, size_t body, int end)
{
    unsigned char begin[8] = { (unsigned char)(role >> 8), (unsigned char)role, (unsigned char)(keep ? 1 : 0) };
    unsigned char p[512];
    size_t n = 0;
    nv(p, &n, "REQUEST_METHOD", "GET");
    nv(p, &n, "REQUEST_URI", "/v1/websocket/server");
    o->n = 0;
    record(o, BEGIN, 1, begin, 8, 0);
    record(o, PARAMS, 1, p, n, 3);
    record(o, PARAMS, 1, NULL, 0, 0);
    if (body > 0) {
        unsigned char x[1000];
        memset(x, 'x', sizeof x);
        record(o, STDIN, 1, x, body, 0);
    }
    if (end)
        record(o, STDIN, 1, NULL, 0, 0);
}

static enum wsb_frame scan(const struct buf *o, size_t len, struct wsb_frame_scan *s)
{
    return wsb_frame_scan(o->b, len, s);
}

static void test_frame_cuts(void)
{
    struct buf o;
    struct wsb_frame_scan s;
    request(&o, 1, 1, 100, 1);
    CHECK_INT(scan(&o, o.n, &s), WSB_FRAME_COMPLETE);
    CHECK_INT(s.request_end, o.n);
    size_t params_end = s.params_end;
    CHECK(params_end > 16 && params_end < o.n, "params end %zu", params_end);
    int wrong = 0;
    for (size_t cut = 0; cut < o.n; cut++) {
        enum wsb_frame want = cut < params_end ? WSB_FRAME_PARTIAL : WSB_FRAME_PARAMS;
        if (scan(&o, cut, &s) != want)
            wrong++;
    }
    CHECK_INT(wrong, 0);
    /* What follows the request is not part of it. */
    struct buf two = o;
    memcpy(two.b + two.n, o.b, o.n);
    two.n += o.n;
    CHECK_INT(scan(&two, two.n, &s), WSB_FRAME_COMPLETE);
    CHECK_INT(s.request_end, o.n);
}

static void test_frame_bad(void)
{
    struct buf o;
    struct wsb_frame_scan s;
    request(&o, 1, 1, 0, 1);
    o.b[0] = 2;
    CHECK_INT(scan(&o, o.n, &s), WSB_FRAME_BAD);           /* version */
    request(&o, 1, 0, 0, 1);
    CHECK_INT(scan(&o, o.n, &s), WSB_FRAME_BAD);           /* role 0 */
    request(&o, 1, 7, 0, 1);
    CHECK_INT(scan(&o, o.n, &s), WSB_FRAME_BAD);           /* unknown role */
    request(&o, 1, 1, 0, 1);
    o.b[1] = STDIN;
    CHECK_INT(scan(&o, o.n, &s), WSB_FRAME_BAD);           /* no BEGIN first */
    CHECK_INT(s.type, STDIN);
    request(&o, 1, 1, 0, 1);
    o.b[16 + 3] = 2;
    CHECK_INT(scan(&o, o.n, &s), WSB_FRAME_BAD);           /* params of another request */
    request(&o, 1, 1, 0, 1);
    o.b[16 + 1] = STDIN;
    CHECK_INT(scan(&o, o.n, &s), WSB_FRAME_BAD);           /* stdin before the params ended */
    request(&o, 1, 1, 0, 1);
    o.b[2] = o.b[3] = 0;
    CHECK_INT(scan(&o, o.n, &s), WSB_FRAME_BAD);           /* BEGIN of request id 0 */
    /* Name-value lengths that run past the parameters (the shape of
     * CVE-2025-23016: 0x7fffffff twice), whole or cut at the record end. */
    struct buf big;
    big.n = 0;
    unsigned char begin[8] = { 0, 1, 1 };
    unsigned char huge[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    record(&big, BEGIN, 1, begin, 8, 0);
    record(&big, PARAMS, 1, huge, 8, 0);
    record(&big, PARAMS, 1, NULL, 0, 0);
    record(&big, STDIN, 1, NULL, 0, 0);
    CHECK_INT(scan(&big, big.n, &s), WSB_FRAME_BAD);
    unsigned char cut[] = { 4, 200, 'P', 'A', 'T', 'H', 'x' };   /* a 200-byte value with 1 byte */
    big.n = 0;
    record(&big, BEGIN, 1, begin, 8, 0);
    record(&big, PARAMS, 1, cut, sizeof cut, 0);
    record(&big, PARAMS, 1, NULL, 0, 0);
    CHECK_INT(scan(&big, big.n, &s), WSB_FRAME_BAD);
    /* A pair split across two params records is whole. */
    unsigned char one[] = { 4, 3, 'P', 'A' }, two[] = { 'T', 'H', '/', 'v', '1' };
    big.n = 0;
    record(&big, BEGIN, 1, begin, 8, 0);
    record(&big, PARAMS, 1, one, sizeof one, 1);
    record(&big, PARAMS, 1, two, sizeof two, 0);
    record(&big, PARAMS, 1, NULL, 0, 0);
    record(&big, STDIN, 1, NULL, 0, 0);
    CHECK_INT(scan(&big, big.n, &s), WSB_FRAME_COMPLETE);
    /* Padding where libfcgi 2.4 loses it: on BEGIN and the empty records. */
    request(&o, 1, 1, 0, 1);
    o.b[6] = 8;
    CHECK_INT(scan(&o, o.n, &s), WSB_FRAME_BAD);
    big.n = 0;
    record(&big, BEGIN, 1, begin, 8, 0);
    record(&big, PARAMS, 1, NULL, 0, 8);
    CHECK_INT(scan(&big, big.n, &s), WSB_FRAME_BAD);
    /* Management records of any kind (libfcgi answers FCGI_GET_VALUES into
     * a 64-byte buffer, and leaks on the others). */
    unsigned char names[64];
    size_t nn = 0;
    for (int i = 0; i < 4; i++)
        nv(names, &nn, "FCGI_MAX_CONNS", "");
    struct buf m4;
    m4.n = 0;
    record(&m4, GET_VALUES, 0, names, nn, 0);
    CHECK_INT(scan(&m4, m4.n, &s), WSB_FRAME_BAD);
    m4.n = 0;
    record(&m4, 10, 0, NULL, 0, 0);                         /* another type: libfcgi 2.4.2 leaks on it */
    CHECK_INT(scan(&m4, m4.n, &s), WSB_FRAME_BAD);
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_INT(wsb_frame_scan((const unsigned char *)http, strlen(http), &s), WSB_FRAME_BAD);
    struct buf m;
    m.n = 0;
    record(&m, GET_VALUES, 0, NULL, 0, 0);                 /* management records: refused */
    request(&o, 1, 1, 0, 1);
    memcpy(m.b + m.n, o.b, o.n);
    m.n += o.n;
    CHECK_INT(scan(&m, m.n, &s), WSB_FRAME_BAD);
    CHECK_INT(scan(&m, 5, &s), WSB_FRAME_PARTIAL);
}

struct pair {
    int ours, theirs;
};

static int pair_open(struct pair *p)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    p->ours = sv[0];
    p->theirs = sv[1];
    return 1;
}

static void respond(void *arg, wsb_param_fn get, void *params, struct wsb_response *r)
{
    int *calls = arg;
    (*calls)++;
    const char *m = get("REQUEST_METHOD", params);
    r->len = (size_t)snprintf(r->buf, sizeof r->buf, "Status: 200 OK\r\n\r\nmethod=%s", m ? m : "-");
}

/* Reads the answer records from the web server's side: the stdout bytes
 * into out, 1 when FCGI_END_REQUEST came. */
static int read_answer(int fd, char *out, size_t cap)
{
    size_t got = 0;
    unsigned char h[8];
    while (read(fd, h, 8) == 8) {
        size_t len = (size_t)h[4] << 8 | h[5];
        unsigned char body[65536 + 256];
        size_t want = len + h[6], have = 0;
        while (have < want) {
            ssize_t k = read(fd, body + have, want - have);
            if (k <= 0)
                return 0;
            have += (size_t)k;
        }
        if (h[1] == STDOUT && got + len < cap) {
            memcpy(out + got, body, len);
            got += len;
        }
        out[got] = '\0';
        if (h[1] == END)
            return 1;
    }
    return 0;
}

static void test_serve_kept(void)
{
    struct pair p;
    CHECK(pair_open(&p), "socketpair");
    struct wsb_fcgi_conn *c = wsb_fcgi_conn_new(p.ours);
    struct wsb_response *r = calloc(1, sizeof *r);   /* extra NULL: respond sets len only */
    int calls = 0, answered = 0;
    struct buf o;
    char out[1024];
    for (int i = 0; i < 3 && c != NULL && r != NULL; i++) {
        request(&o, 1, 1, i * 300, 1);
        CHECK(write(p.theirs, o.b, o.n) == (ssize_t)o.n, "write");
        CHECK_INT(wsb_fcgi_serve(c, 1, respond, &calls, r), WSB_FCGI_KEEP);
        answered += read_answer(p.theirs, out, sizeof out) && strstr(out, "method=GET") != NULL;
        CHECK_INT(wsb_fcgi_conn_fd(c), p.ours);   /* still ours: libfcgi kept it */
    }
    CHECK_INT(calls, 3);
    CHECK_INT(answered, 3);
    /* Not kept by the web server: answered and read to the end. */
    request(&o, 0, 1, 0, 1);
    CHECK(write(p.theirs, o.b, o.n) == (ssize_t)o.n, "write");
    CHECK_INT(wsb_fcgi_serve(c, 1, respond, &calls, r), WSB_FCGI_DONE);
    CHECK(read_answer(p.theirs, out, sizeof out), "answered: %s", out);
    wsb_fcgi_conn_free(c);
    char b;
    CHECK(read(p.theirs, &b, 1) == 0, "closed by conn_free");
    close(p.theirs);
    free(r);
}

/* One request on a fresh socket pair, served with body_complete = whole;
 * the connection is left to the test. */
struct served {
    struct pair p;
    struct wsb_fcgi_conn *c;
    struct wsb_response r;
    int calls;
    enum wsb_fcgi_after after;
    long long ms;
};

static int serve_one(struct served *s, unsigned role, size_t body, int end, int whole)
{
    memset(s, 0, sizeof *s);
    struct buf o;
    if (!pair_open(&s->p) || (s->c = wsb_fcgi_conn_new(s->p.ours)) == NULL)
        return 0;
    request(&o, 1, role, body, end);
    if (write(s->p.theirs, o.b, o.n) != (ssize_t)o.n)
        return 0;
    long long t0 = wsb_now_ms();
    s->after = wsb_fcgi_serve(s->c, whole, respond, &s->calls, &s->r);
    s->ms = wsb_now_ms() - t0;
    return 1;
}

static void test_serve_unread_body(void)
{
    struct served *s = malloc(sizeof *s);
    CHECK(s != NULL && serve_one(s, 1, 500, 0, 0), "served");   /* the body's end has not come */
    if (s == NULL)
        return;
    CHECK_INT(s->after, WSB_FCGI_UNREAD);
    CHECK(s->ms < 500, "no wait for the body");
    char out[1024];
    CHECK(read_answer(s->p.theirs, out, sizeof out), "answered before the body ended: %s", out);
    int fd = wsb_fcgi_conn_release(s->c);
    CHECK_INT(fd, s->p.ours);
    close(fd);
    close(s->p.theirs);
    free(s);
}

static void test_serve_rejected(void)
{
    struct served *s = malloc(sizeof *s);
    CHECK(s != NULL && serve_one(s, 9, 0, 1, 1), "served");   /* a role libfcgi refuses */
    if (s == NULL)
        return;
    CHECK_INT(s->after, WSB_FCGI_FAILED);
    /* The peer never closes its side: libfcgi's own lingering close would
     * wait 2 s for it here. */
    CHECK(s->ms < 500, "closed outright: %lld ms", s->ms);
    CHECK_INT(s->calls, 0);
    CHECK_INT(wsb_fcgi_conn_fd(s->c), -1);
    wsb_fcgi_conn_free(s->c);
    close(s->p.theirs);
    free(s);
}

static void test_sigterm_left_alone(void)
{
    struct sigaction sa;
    sigaction(SIGTERM, NULL, &sa);
    CHECK(sa.sa_handler == SIG_DFL, "SIGTERM default before");
    CHECK_INT(wsb_fcgi_init(), WSB_OK);
    sigaction(SIGTERM, NULL, &sa);
    CHECK(sa.sa_handler == SIG_DFL, "libfcgi's initialisation left SIGTERM as it was");
}

/* The same parameters in one params record and split across three (a
 * pair cut in its lengths and in its value) read the same; a length that
 * runs past the end is refused before any copy. */
static void test_frame_params(void)
{
    unsigned char p[1024];
    size_t n = 0;
    char big[301];
    memset(big, 'v', 300);
    big[300] = '\0';
    nv(p, &n, "REQUEST_METHOD", "GET");
    /* A 300-byte value: a four-byte length. */
    p[n++] = 11;
    p[n++] = 0x80;
    p[n++] = 0;
    p[n++] = 300 >> 8;
    p[n++] = 300 & 0xff;
    memcpy(p + n, "HTTP_COOKIE", 11);
    n += 11;
    memcpy(p + n, big, 300);
    n += 300;
    nv(p, &n, "REMOTE_ADDR", "192.0.2.1");
    unsigned char begin[8] = { 0, 1, 1 };
    struct buf one, three;
    one.n = three.n = 0;
    record(&one, BEGIN, 1, begin, 8, 0);
    record(&one, PARAMS, 1, p, n, 5);
    record(&one, PARAMS, 1, NULL, 0, 0);
    record(&one, STDIN, 1, NULL, 0, 0);
    record(&three, BEGIN, 1, begin, 8, 0);
    record(&three, PARAMS, 1, p, 17, 0);           /* cut inside the second pair's lengths */
    record(&three, PARAMS, 1, p + 17, 100, 2);     /* inside its value */
    record(&three, PARAMS, 1, p + 117, n - 117, 0);
    record(&three, PARAMS, 1, NULL, 0, 0);
    record(&three, STDIN, 1, NULL, 0, 0);
    struct buf *bufs[2] = { &one, &three };
    for (int i = 0; i < 2; i++) {
        struct wsb_frame_scan sc;
        CHECK_INT(scan(bufs[i], bufs[i]->n, &sc), WSB_FRAME_COMPLETE);
        CHECK(sc.role == 1 && sc.keep == 1 && sc.id == 1 && wsb_fcgi_direct_fits(&sc, bufs[i]->n), "%d: begin", i);
        char arena[2048];
        struct wsb_frame_param ps[8];
        size_t k = wsb_frame_params(bufs[i]->b, &sc, arena, sizeof arena, ps, 8);
        CHECK_INT(k, 3);
        if (k == 3) {
            CHECK(strcmp(ps[0].name, "REQUEST_METHOD") == 0 && strcmp(ps[0].value, "GET") == 0, "%d: first", i);
            CHECK(ps[1].name_len == 11 && strcmp(ps[1].value, big) == 0, "%d: four-byte length", i);
            CHECK(strcmp(ps[2].name, "REMOTE_ADDR") == 0 && strcmp(ps[2].value, "192.0.2.1") == 0, "%d: last", i);
        }
        CHECK_INT(wsb_frame_params(bufs[i]->b, &sc, arena, 100, ps, 8), (size_t)-1);   /* no room */
        CHECK_INT(wsb_frame_params(bufs[i]->b, &sc, arena, sizeof arena, ps, 2), (size_t)-1);
    }
    /* A value length past the end of the only params record. */
    p[n - 21] = 0x7f;   /* REMOTE_ADDR's value length, now 127 */
    struct buf bad;
    bad.n = 0;
    record(&bad, BEGIN, 1, begin, 8, 0);
    record(&bad, PARAMS, 1, p, n, 0);
    record(&bad, PARAMS, 1, NULL, 0, 0);
    struct wsb_frame_scan sc;
    CHECK_INT(scan(&bad, bad.n, &sc), WSB_FRAME_BAD);
}

/* The direct answer over a socket pair: a kept connection, the request
 * taken off it whole, a large answer in records of at most 65,535 bytes,
 * and a connection the web server does not keep. */
static void test_direct_serve(void)
{
    struct pair p;
    CHECK(pair_open(&p), "socketpair");
    struct wsb_fcgi_direct *d = wsb_fcgi_direct_new(65536);
    struct wsb_response *r = calloc(1, sizeof *r);
    unsigned char peek[65536];
    int calls = 0;
    char out[1024];
    struct buf o;
    for (int i = 0; i < 2 && d != NULL && r != NULL; i++) {
        request(&o, i == 0, 1, 0, 1);
        CHECK(write(p.theirs, o.b, o.n) == (ssize_t)o.n, "write");
        ssize_t n = recv(p.ours, peek, sizeof peek, MSG_PEEK);
        struct wsb_frame_scan sc;
        CHECK(n > 0 && wsb_frame_scan(peek, (size_t)n, &sc) == WSB_FRAME_COMPLETE && wsb_fcgi_direct_fits(&sc, (size_t)n),
              "%d: whole", i);
        CHECK_INT(wsb_fcgi_direct_serve(d, p.ours, peek, &sc, respond, &calls, r), i == 0 ? WSB_FCGI_KEEP : WSB_FCGI_DONE);
        CHECK(read_answer(p.theirs, out, sizeof out) && strstr(out, "method=GET") != NULL, "%d: answered: %s", i, out);
        char b;
        CHECK(recv(p.ours, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, "%d: the request was taken whole", i);
    }
    CHECK_INT(calls, 2);
    wsb_fcgi_direct_free(d);
    free(r);
    close(p.ours);
    close(p.theirs);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    T_RUN(test_sigterm_left_alone);
    T_RUN(test_frame_cuts);
    T_RUN(test_frame_bad);
    T_RUN(test_frame_params);
    T_RUN(test_direct_serve);
    T_RUN(test_serve_kept);
    T_RUN(test_serve_unread_body);
    T_RUN(test_serve_rejected);
    return t_done("fcgi");
}

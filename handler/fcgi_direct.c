/* fcgi_direct.c: a whole FastCGI request answered from the peeked bytes,
 * without libfcgi (fcgi_direct.h). */
#define _GNU_SOURCE
#include "fcgi_direct.h"
#include "clock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_PARAMS 512                 /* a request with more is refused (closed) */
#define RECORD_MAX 65535               /* content bytes of one record */
#define LARGE_WRITE_MS 2000            /* an answer the socket cannot take at once: the longest wait */
#define TYPE_END_REQUEST 3
#define TYPE_STDOUT 6

struct wsb_fcgi_direct {
    char *arena;
    size_t cap;
    struct wsb_frame_param params[MAX_PARAMS];
    size_t n;
};

struct wsb_fcgi_direct *wsb_fcgi_direct_new(size_t peek_max)
{
    struct wsb_fcgi_direct *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    /* Every pair takes at least two length bytes in the request and two
     * NULs here: the peeked bytes bound the copies. */
    d->cap = peek_max + 2;
    if ((d->arena = malloc(d->cap)) == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

void wsb_fcgi_direct_free(struct wsb_fcgi_direct *d)
{
    if (d == NULL)
        return;
    free(d->arena);
    free(d);
}

int wsb_fcgi_direct_fits(const struct wsb_frame_scan *scan, size_t n)
{
    return scan->role == 1 && n == scan->request_end;
}

/* The first parameter called name, as libfcgi's FCGX_GetParam finds it. */
static const char *param(const char *name, void *ctx)
{
    const struct wsb_fcgi_direct *d = ctx;
    size_t len = strlen(name);
    for (size_t i = 0; i < d->n; i++) {
        const struct wsb_frame_param *p = &d->params[i];
        if (p->name_len == len && p->name[0] == name[0] && memcmp(p->name, name, len) == 0)
            return p->value;
    }
    return NULL;
}

/* An iovec's base for bytes that writev only reads. */
static void *for_writev(const void *p)
{
    void *q;
    memcpy(&q, &p, sizeof q);
    return q;
}

static void header(unsigned char *h, unsigned type, unsigned id, size_t len)
{
    h[0] = 1;
    h[1] = (unsigned char)type;
    h[2] = (unsigned char)(id >> 8);
    h[3] = (unsigned char)id;
    h[4] = (unsigned char)(len >> 8);
    h[5] = (unsigned char)len;
    h[6] = 0;
    h[7] = 0;
}

/* Takes len bytes, all of which wait in the socket, off it. */
static int take(int fd, unsigned char *scratch, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, scratch, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes iov[0..n) whole; waits for room (up to LARGE_WRITE_MS in all)
 * when the socket takes part of it.  Returns 0 or -1. */
static int write_all(int fd, struct iovec *iov, int n)
{
    long long deadline = 0;
    while (n > 0) {
        ssize_t w = writev(fd, iov, n > IOV_MAX ? IOV_MAX : n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            long long now = wsb_now_ms();
            if (deadline == 0)
                deadline = now + LARGE_WRITE_MS;
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
                return -1;
            continue;
        }
        if (w < 0)
            return -1;
        size_t done = (size_t)w;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

/* The answer's records: stdout records of at most RECORD_MAX bytes over
 * r->buf and r->extra, the empty stdout record, FCGI_END_REQUEST. */
static int answer(int fd, unsigned id, const struct wsb_response *r)
{
    unsigned char head[8], tail[24];
    struct iovec small[3];
    header(tail, TYPE_STDOUT, id, 0);
    header(tail + 8, TYPE_END_REQUEST, id, 8);
    memset(tail + 16, 0, 8);   /* application status 0, FCGI_REQUEST_COMPLETE */
    if (r->extra == NULL && r->len > 0 && r->len <= RECORD_MAX) {
        header(head, TYPE_STDOUT, id, r->len);
        small[0] = (struct iovec){ head, sizeof head };
        small[1] = (struct iovec){ for_writev(r->buf), r->len };
        small[2] = (struct iovec){ tail, sizeof tail };
        return write_all(fd, small, 3);
    }
    /* A large answer (the metrics): a header and an iovec per record. */
    size_t records = (r->len + RECORD_MAX - 1) / RECORD_MAX + (r->extra_len + RECORD_MAX - 1) / RECORD_MAX;
    unsigned char *heads = malloc(records * 8 + 8);
    struct iovec *iov = malloc((2 * records + 1) * sizeof *iov);
    int n = 0, rc = -1;
    if (heads != NULL && iov != NULL) {
        const char *parts[2] = { r->buf, r->extra };
        size_t lens[2] = { r->len, r->extra != NULL ? r->extra_len : 0 };
        size_t k = 0;
        for (int p = 0; p < 2; p++) {
            for (size_t off = 0; off < lens[p]; off += RECORD_MAX, k++) {
                size_t len = lens[p] - off < RECORD_MAX ? lens[p] - off : RECORD_MAX;
                header(heads + 8 * k, TYPE_STDOUT, id, len);
                iov[n++] = (struct iovec){ heads + 8 * k, 8 };
                iov[n++] = (struct iovec){ for_writev(parts[p] + off), len };
            }
        }
        iov[n++] = (struct iovec){ tail, sizeof tail };
        rc = write_all(fd, iov, n);
    }
    free(heads);
    free(iov);
    return rc;
}

enum wsb_fcgi_after wsb_fcgi_direct_serve(struct wsb_fcgi_direct *d, int fd, unsigned char *buf,
                                          const struct wsb_frame_scan *scan, wsb_fcgi_respond_fn respond, void *arg,
                                          struct wsb_response *r)
{
    size_t n = wsb_frame_params(buf, scan, d->arena, d->cap, d->params, MAX_PARAMS);
    if (n == (size_t)-1)
        return WSB_FCGI_FAILED;
    d->n = n;
    respond(arg, param, d, r);
    /* The request's bytes (peeked, so all there) go; buf is read into, its
     * parameters copied out already. */
    int failed = take(fd, buf, scan->request_end) != 0;
    failed = failed || answer(fd, scan->id, r) != 0;
    wsb_response_release(r);
    if (failed)
        return WSB_FCGI_FAILED;
    return scan->keep ? WSB_FCGI_KEEP : WSB_FCGI_DONE;
}

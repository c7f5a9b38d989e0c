/* null_backend.c: the floor for `make bench-peer`: a backend behind nginx
 * that does no work.  It answers every request with one constant body read
 * from a file, over kept connections on a unix socket, in one epoll loop:
 *
 *   fastcgi  nginx's fastcgi_pass with fastcgi_keep_conn (a request ends
 *            with its empty FCGI_STDIN record; the connection is closed
 *            after the answer unless FCGI_KEEP_CONN was asked for)
 *   http     nginx's proxy_pass with upstream keepalive (HTTP/1.1 requests
 *            without a body; a request ends with its blank line)
 *
 * It does nothing for a request: what nginx in front of it gives is what
 * nginx's hop leaves for any backend, and what the pool gives beyond that
 * (or short of it) is the pool's own part, measured in the same run.
 *
 * Usage: null_backend fastcgi|http SOCKET BODY-FILE
 * SIGTERM/SIGINT end it.  Exits 1 when it cannot start, 2 on bad usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF_MAX 16384          /* a connection's unanswered bytes; more closes it */
#define BODY_MAX 16384
#define FCGI_HEADER 8
#define FCGI_BEGIN_REQUEST 1
#define FCGI_END_REQUEST 3
#define FCGI_STDIN 5
#define FCGI_STDOUT 6
#define FCGI_KEEP_CONN 1

struct conn {
    int fd;
    int keep;                  /* FastCGI: FCGI_KEEP_CONN of the current request */
    size_t len;
    unsigned char buf[BUF_MAX];
};

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int http_mode;
static char head[256];         /* FastCGI: the CGI header lines; HTTP: the status line and headers */
static size_t head_len;
static char body[BODY_MAX];
static size_t body_len;

static void record_header(unsigned char *h, unsigned type, unsigned id, size_t len)
{
    h[0] = 1;
    h[1] = (unsigned char)type;
    h[2] = (unsigned char)(id >> 8);
    h[3] = (unsigned char)(id & 0xff);
    h[4] = (unsigned char)(len >> 8);
    h[5] = (unsigned char)(len & 0xff);
    h[6] = 0;
    h[7] = 0;
}

/* Writes the whole answer; the socket takes it at once (it is small).
 * Returns 0, or -1 when the connection is to be closed. */
static int write_answer(int fd, struct iovec *iov, int n)
{
    size_t want = 0;
    for (int i = 0; i < n; i++)
        want += iov[i].iov_len;
    ssize_t w = writev(fd, iov, n);
    return w == (ssize_t)want ? 0 : -1;
}

static int answer_fastcgi(int fd, unsigned id)
{
    unsigned char out_h[FCGI_HEADER], eof_h[FCGI_HEADER], end_h[FCGI_HEADER], end_body[8] = { 0 };
    record_header(out_h, FCGI_STDOUT, id, head_len + body_len);
    record_header(eof_h, FCGI_STDOUT, id, 0);
    record_header(end_h, FCGI_END_REQUEST, id, sizeof end_body);
    struct iovec iov[] = {
        { out_h, sizeof out_h }, { head, head_len }, { body, body_len },
        { eof_h, sizeof eof_h }, { end_h, sizeof end_h }, { end_body, sizeof end_body },
    };
    return write_answer(fd, iov, 6);
}

static int answer_http(int fd)
{
    struct iovec iov[] = { { head, head_len }, { body, body_len } };
    return write_answer(fd, iov, 2);
}

/* Answers every whole request in c's buffer and keeps what follows.
 * Returns 0, or -1 when the connection is to be closed. */
static int serve_fastcgi(struct conn *c)
{
    size_t at = 0;
    while (c->len - at >= FCGI_HEADER) {
        const unsigned char *h = c->buf + at;
        size_t rec = FCGI_HEADER + ((size_t)h[4] << 8 | h[5]) + h[6];
        if (h[0] != 1)
            return -1;
        if (c->len - at < rec)
            break;
        unsigned id = (unsigned)h[2] << 8 | h[3];
        if (h[1] == FCGI_BEGIN_REQUEST && rec >= FCGI_HEADER + 3)
            c->keep = h[FCGI_HEADER + 2] & FCGI_KEEP_CONN;
        at += rec;
        if (h[1] == FCGI_STDIN && h[4] == 0 && h[5] == 0) {
            if (answer_fastcgi(c->fd, id) != 0 || !c->keep)
                return -1;
        }
    }
    memmove(c->buf, c->buf + at, c->len - at);
    c->len -= at;
    return 0;
}

static int serve_http(struct conn *c)
{
    unsigned char *end;
    while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) != NULL) {
        size_t used = (size_t)(end - c->buf) + 4;
        if (answer_http(c->fd) != 0)
            return -1;
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
    }
    return 0;
}

/* Reads what waits on c and answers it; `ended`: the peer shut its side or
 * the connection failed (read on to the end).  Returns 0, or -1 when c is
 * to be closed.  Otherwise a read that did not fill the space took all
 * there was: the next bytes raise a new edge, so no read is spent to learn
 * that none are left (one read and one write per request: fewer system
 * calls than any backend that must look at a request before it takes it). */
static int on_readable(struct conn *c, int ended)
{
    for (;;) {
        size_t room = sizeof c->buf - c->len;
        if (room == 0)
            return -1;
        ssize_t n = read(c->fd, c->buf + c->len, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return -1;
        c->len += (size_t)n;
        if ((http_mode ? serve_http(c) : serve_fastcgi(c)) != 0)
            return -1;
        if ((size_t)n < room && !ended)
            return 0;
    }
}

static int load_body(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    body_len = fread(body, 1, sizeof body, f);
    int ok = !ferror(f) && feof(f);
    fclose(f);
    while (ok && body_len > 0 && body[body_len - 1] == '\n')
        body_len--;
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "fastcgi") != 0 && strcmp(argv[1], "http") != 0)) {
        fprintf(stderr, "usage: null_backend fastcgi|http SOCKET BODY-FILE\n");
        return 2;
    }
    http_mode = strcmp(argv[1], "http") == 0;
    if (load_body(argv[3]) != 0) {
        fprintf(stderr, "null_backend: %s: cannot read it (or over %d bytes)\n", argv[3], BODY_MAX);
        return 1;
    }
    int n = snprintf(head, sizeof head, "%sContent-Type: application/json\r\nCache-Control: no-store\r\n"
                     "Content-Length: %lu\r\n\r\n", http_mode ? "HTTP/1.1 200 OK\r\n" : "Status: 200 OK\r\n",
                     (unsigned long)body_len);
    head_len = (size_t)n;

    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(argv[2]) >= sizeof sa.sun_path) {
        fprintf(stderr, "null_backend: %s: socket path too long\n", argv[2]);
        return 1;
    }
    strcpy(sa.sun_path, argv[2]);
    /* SIGTERM and SIGINT are let in only while epoll_pwait waits: one that
     * came just before it would otherwise be seen only after the next event. */
    sigset_t ends, waiting;
    sigemptyset(&ends);
    sigaddset(&ends, SIGTERM);
    sigaddset(&ends, SIGINT);
    sigprocmask(SIG_BLOCK, &ends, &waiting);
    sigdelset(&waiting, SIGTERM);
    sigdelset(&waiting, SIGINT);
    struct sigaction sa_end = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa_end, NULL);
    sigaction(SIGINT, &sa_end, NULL);
    signal(SIGPIPE, SIG_IGN);
    unlink(argv[2]);
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    if (ls < 0 || ep < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(argv[2], 0666) != 0
        || listen(ls, 1024) != 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev) != 0) {
        fprintf(stderr, "null_backend: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    while (!stop) {
        struct epoll_event evs[64];
        int got = epoll_pwait(ep, evs, 64, -1, &waiting);
        for (int i = 0; i < got; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0 || errno == EINTR) {
                    if (fd < 0)
                        continue;
                    struct conn *nc = malloc(sizeof *nc);
                    if (nc != NULL) {
                        nc->fd = fd;
                        nc->keep = 0;
                        nc->len = 0;
                    }
                    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = nc };
                    if (nc == NULL || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
                        free(nc);
                        close(fd);
                    }
                }
                if (errno != EAGAIN && errno != EINTR) {
                    /* Out of descriptors or memory: the listener stays
                     * readable, so say so and wait before the next try. */
                    fprintf(stderr, "null_backend: accept: %s\n", strerror(errno));
                    usleep(100 * 1000);
                }
                continue;
            }
            if (on_readable(c, (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) != 0) {
                close(c->fd);
                free(c);
            }
        }
    }
    close(ep);
    close(ls);
    unlink(argv[2]);
    return 0;
}

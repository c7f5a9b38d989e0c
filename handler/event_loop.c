/* event_loop.c: one FastCGI event loop: accepting, watching connections,
 * deciding from the record headers when a request can be served without
 * blocking, deadlines, lingering close, busy polling (when asked), and the
 * last pass at a stop. */
#define _GNU_SOURCE
#include "event_loop.h"
#include "clock.h"
#include "fcgi.h"
#include "fcgi_direct.h"
#include "fcgi_frame.h"
#include "log.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQUEST_WAIT_MS 10000     /* longest wait for a request's parameters */
#define BODY_WAIT_MS 100          /* longest wait for the end of a body before answering */
#define LINGER_MS 2000            /* after answering early: how long the rest is read and dropped */
#define LINGER_READ_MAX (256 * 1024)   /* dropped per wake-up, so that a fast sender cannot hold the loop */
#define IDLE_MAX_MS 300000        /* a kept connection unused this long is closed */
#define MAX_CONNS 512             /* per process; then the least recently used kept
                                     connection is closed, or (none) accepting pauses */
#define ACCEPT_PAUSE_MS 100
#define ACCEPT_BURST 32           /* connections taken per wake-up */
#define EVENTS_PER_WAIT 32
/* The most of a request looked at before it is served: its parameters
 * must fit (else the connection is closed), a longer body is answered
 * first and dropped. */
#define PEEK_MAX (128 * 1024)

/* Where a connection stands. */
enum conn_state {
    CONN_FRESH,     /* accepted, nothing received yet: deadline REQUEST_WAIT_MS */
    CONN_IDLE,      /* kept by the web server between requests: deadline IDLE_MAX_MS */
    CONN_PARTIAL,   /* part of a request's parameters: deadline REQUEST_WAIT_MS */
    CONN_BODY,      /* parameters complete, body not: answered at BODY_WAIT_MS */
    CONN_LINGER     /* answered; write side shut; the rest is read and dropped */
};

struct conn {
    struct wsb_fcgi_conn *fc;   /* NULL once lingering */
    int fd;
    enum conn_state state;
    int watched;                /* in the epoll set */
    long long deadline_ms;      /* 0: none */
    struct conn *prev, *next;
};

/* What the loops of a process share. */
struct wsb_loops {
    struct wsb_handler *h;
    int listen_fd;
    int tcp;
    atomic_int stopping;
    atomic_long n_conns;        /* open connections of every loop */
    atomic_llong last_complaint_ms;
    long long busy_poll_us;     /* WSB_BUSY_POLL_US; 0: a loop sleeps as soon as it is idle */
};

/* One loop; only the thread that runs it touches it. */
struct wsb_loop {
    struct wsb_loops *srv;
    int epfd;
    int listening;              /* the listening socket is in the epoll set */
    long long resume_ms;        /* paused: when to listen again */
    struct conn *conns;
    long long next_deadline_ms; /* the earliest deadline of a connection, 0 if none */
    struct wsb_worker w;
    struct wsb_response *r;
    unsigned char *peek;
    struct wsb_fcgi_direct *direct;   /* a whole request answered without libfcgi */
    unsigned long accepted;     /* connections accepted, ever (busy polling looks for a change) */
};

/* Logs a shortage at most every 10 s per process. */
static int may_complain(struct wsb_loops *srv, long long now)
{
    long long last = atomic_load(&srv->last_complaint_ms);
    return now - last > 10000 && atomic_compare_exchange_strong(&srv->last_complaint_ms, &last, now);
}

/* Puts the listening socket in the epoll set; when that fails, tries
 * again ACCEPT_PAUSE_MS later. */
static void listen_resume(struct wsb_loop *l)
{
    if (l->listening)
        return;
    /* EPOLLEXCLUSIVE: of the loops (and pool processes) waiting on the
     * one socket, a new connection wakes one, not all. */
    struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL };
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->srv->listen_fd, &ev) == 0) {
        l->listening = 1;
        l->resume_ms = 0;
    } else {
        l->resume_ms = wsb_now_ms() + ACCEPT_PAUSE_MS;
    }
}

static void listen_pause(struct wsb_loop *l, long long until_ms)
{
    if (l->listening && epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->srv->listen_fd, NULL) == 0)
        l->listening = 0;
    l->resume_ms = until_ms;
}

static void set_deadline(struct wsb_loop *l, struct conn *c, long long at)
{
    c->deadline_ms = at;
    if (at > 0 && (l->next_deadline_ms == 0 || at < l->next_deadline_ms))
        l->next_deadline_ms = at;
}

/* Closes c outright (nothing owed to the peer) and frees it. */
static void conn_close(struct wsb_loop *l, struct conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    atomic_fetch_sub(&l->srv->n_conns, 1);
    if (c->fc != NULL)
        wsb_fcgi_conn_free(c->fc);   /* closing the socket takes it out of the epoll set */
    else
        close(c->fd);
    free(c);
}

/* Reads and drops what a lingering connection received, LINGER_READ_MAX
 * at most per wake-up; closes it at its end.  Returns 1 when c stays
 * open. */
static int linger_read(struct wsb_loop *l, struct conn *c)
{
    char buf[16384];
    for (size_t dropped = 0; dropped < LINGER_READ_MAX;) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n > 0) {
            dropped += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        if (n < 0 && errno == EINTR)
            continue;
        conn_close(l, c);   /* the peer closed, or the connection failed */
        return 0;
    }
    return 1;   /* more waits: level-triggered, the loop comes back */
}

/* Answered before the request's body was all read: the write side is shut
 * (the web server sees the answer end), and what still comes is read and
 * dropped until the peer closes or LINGER_MS pass, in the loop, so that no
 * reset cuts the answer short and no thread waits.  The connection is
 * watched level-triggered from now on (what is already there, and what a
 * read cut short at LINGER_READ_MAX leaves, must wake the loop too), and
 * what is already there is dropped at once.  Returns 1 when c stays open. */
static int conn_linger(struct wsb_loop *l, struct conn *c, long long now)
{
    c->fd = wsb_fcgi_conn_release(c->fc);
    c->fc = NULL;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
    if (c->fd < 0 || shutdown(c->fd, SHUT_WR) != 0 ||
        (c->watched && epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)) {
        conn_close(l, c);
        return 0;
    }
    c->state = CONN_LINGER;
    set_deadline(l, c, now + LINGER_MS);
    return linger_read(l, c);
}

static void respond(void *arg, wsb_param_fn get, void *params, struct wsb_response *r)
{
    struct wsb_loop *l = arg;
    wsb_handle(l->srv->h, &l->w, get, params, r);
}

/* Serves the request on c; `whole`: its body is all there too;
 * `close_after`: the connection is closed after the answer even if the web
 * server asked to keep it.  Returns 1 when c stays open, 0 when it was
 * closed (and freed). */
static int after_serve(struct wsb_loop *l, struct conn *c, enum wsb_fcgi_after what, int close_after,
                       long long now);

static int serve(struct wsb_loop *l, struct conn *c, int whole, int close_after, long long now)
{
    return after_serve(l, c, wsb_fcgi_serve(c->fc, whole, respond, l, l->r), close_after, now);
}

/* What follows an answer: the connection kept, lingering or closed.
 * Returns 1 when c stays open. */
static int after_serve(struct wsb_loop *l, struct conn *c, enum wsb_fcgi_after what, int close_after,
                       long long now)
{
    switch (what) {
    case WSB_FCGI_KEEP:
        /* Bytes after the request (a web server does not send its next
         * request before the answer) may have been read with it: the
         * connection's framing is no longer known.  Or the peer shut its
         * side: nothing more will come. */
        if (!close_after) {
            /* The web server checks a kept connection before it reuses it
             * (nginx, Apache): one closed after long disuse, or to make
             * room (conn_add), costs it a reconnect, not a request. */
            c->state = CONN_IDLE;
            set_deadline(l, c, now + IDLE_MAX_MS);
            return 1;
        }
        break;
    case WSB_FCGI_UNREAD:
        return conn_linger(l, c, now);
    case WSB_FCGI_DONE:
    case WSB_FCGI_FAILED:
        break;
    }
    conn_close(l, c);
    return 0;
}

/* Looks at what waits on c (without taking it) and serves, waits or
 * closes accordingly; `ended`: the peer has shut its side (no more bytes
 * will come).  Returns 1 when c stays open, 0 when it was closed (and
 * freed). */
static int on_readable(struct wsb_loop *l, struct conn *c, int ended, long long now)
{
    if (c->state == CONN_LINGER)
        return linger_read(l, c);
    ssize_t n = recv(c->fd, l->peek, PEEK_MAX, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 1;
    if (n <= 0) {
        conn_close(l, c);   /* closed by the web server, or failed */
        return 0;
    }
    struct wsb_frame_scan scan;
    enum wsb_frame f = wsb_frame_scan(l->peek, (size_t)n, &scan);
    int full = n == PEEK_MAX;
    /* The usual request: whole, nothing after it: answered from the peeked
     * bytes with one read and one write, no libfcgi (fcgi_direct.h). */
    if (f == WSB_FRAME_COMPLETE && !full && wsb_fcgi_direct_fits(&scan, (size_t)n))
        return after_serve(l, c, wsb_fcgi_direct_serve(l->direct, c->fd, l->peek, &scan, respond, l, l->r), ended,
                           now);
    if (f == WSB_FRAME_COMPLETE)   /* kept only if nothing follows (or may, unseen), and more may come */
        return serve(l, c, 1, full || (size_t)n > scan.request_end || ended, now);
    if (f == WSB_FRAME_PARAMS && (full || ended || (c->state == CONN_BODY && now >= c->deadline_ms)))
        return serve(l, c, 0, 0, now);
    if (f == WSB_FRAME_PARAMS) {
        if (c->state != CONN_BODY) {
            long long at = now + BODY_WAIT_MS;
            c->state = CONN_BODY;
            set_deadline(l, c, c->deadline_ms != 0 && c->deadline_ms < at ? c->deadline_ms : at);
        }
    } else if (f == WSB_FRAME_PARTIAL && !full && !ended) {
        if (c->state != CONN_PARTIAL) {
            long long at = now + REQUEST_WAIT_MS;
            set_deadline(l, c, c->state == CONN_FRESH && c->deadline_ms != 0 ? c->deadline_ms : at);
            c->state = CONN_PARTIAL;
        }
    } else {
        if (f == WSB_FRAME_BAD)
            wsb_log_debug("fastcgi: closing a connection: not a FastCGI request (record type %u)", scan.type);
        else if (ended)
            wsb_log_debug("fastcgi: closing a connection: the web server closed it mid-request");
        else if (may_complain(l->srv, now))
            wsb_log_warn("fastcgi: closing a connection: request parameters over %d bytes", PEEK_MAX);
        conn_close(l, c);
        return 0;
    }
    return 1;
}

/* Acts on every connection whose deadline passed, and finds the next. */
static void sweep(struct wsb_loop *l, long long now)
{
    l->next_deadline_ms = 0;
    struct conn *next;
    for (struct conn *c = l->conns; c != NULL; c = next) {
        next = c->next;
        if (c->deadline_ms == 0)
            continue;
        if (c->deadline_ms > now) {
            set_deadline(l, c, c->deadline_ms);
            continue;
        }
        if (c->state == CONN_BODY)
            (void)serve(l, c, 0, 0, now);   /* answer now; the body is dropped as it comes */
        else
            conn_close(l, c);         /* nothing came in time, or the linger is over */
    }
}

/* Puts c in the epoll set, edge-triggered: it is looked at again when
 * more bytes come (the bytes already there were peeked, not taken); a
 * lingering one level-triggered (conn_linger). */
static void conn_watch(struct wsb_loop *l, struct conn *c)
{
    uint32_t edge = c->state == CONN_LINGER ? 0 : EPOLLET;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | edge, .data.ptr = c };
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        wsb_log_error("fastcgi: cannot watch a connection: %s; closing it", strerror(errno));
        conn_close(l, c);
        return;
    }
    c->watched = 1;
}

static int accept_error_is_fatal(int e)
{
    return e == EBADF || e == ENOTSOCK || e == EINVAL || e == EOPNOTSUPP || e == EFAULT;
}

/* At the connection limit: closes this loop's kept connection that has
 * waited longest for its next request (the web servers keep more than
 * they use after a burst).  Returns 1 when one was closed. */
static int evict_idle(struct wsb_loop *l)
{
    struct conn *oldest = NULL;
    for (struct conn *c = l->conns; c != NULL; c = c->next)
        if (c->state == CONN_IDLE && (oldest == NULL || c->deadline_ms < oldest->deadline_ms))
            oldest = c;
    if (oldest == NULL)
        return 0;
    conn_close(l, oldest);
    return 1;
}

/* Takes a new connection on fd; NULL when it could not be kept. */
static struct conn *conn_add(struct wsb_loop *l, int fd, long long now)
{
    if (fd == 0) {
        /* Standard input was closed: libfcgi's FCGX_Detach (fcgi.c) does
         * not take descriptor 0. */
        int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        close(fd);
        if (moved < 0)
            return NULL;
        fd = moved;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (c != NULL)
        c->fc = wsb_fcgi_conn_new(fd);
    if (c == NULL || c->fc == NULL) {
        wsb_log_error("fastcgi: cannot take a connection: out of memory");
        close(fd);
        free(c);
        return NULL;
    }
    if (l->srv->tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    c->fd = fd;
    c->state = CONN_FRESH;
    set_deadline(l, c, now + REQUEST_WAIT_MS);
    c->next = l->conns;
    if (c->next != NULL)
        c->next->prev = c;
    l->conns = c;
    if (atomic_fetch_add(&l->srv->n_conns, 1) + 1 >= MAX_CONNS && !evict_idle(l)) {
        listen_pause(l, now + ACCEPT_PAUSE_MS);
        if (may_complain(l->srv, now))
            wsb_log_warn("fastcgi: %d connections open in this process; new ones wait until some close",
                         MAX_CONNS);
    }
    return c;
}

/* Takes the connections waiting on the listening socket, and serves the
 * ones whose request came with them.  Returns 0, or -1 when the
 * listening socket itself failed. */
static int accept_some(struct wsb_loop *l, long long now)
{
    for (int i = 0; i < ACCEPT_BURST && l->listening; i++) {
        int fd = accept4(l->srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED || e == EPROTO)
                return 0;   /* another loop or process took it, or the peer left */
            if (accept_error_is_fatal(e)) {
                wsb_log_error("fastcgi: accept on the listening socket: %s; this process stops", strerror(e));
                return -1;
            }
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM: our own shortage, not the socket's. */
            listen_pause(l, now + ACCEPT_PAUSE_MS);
            if (may_complain(l->srv, now))
                wsb_log_error("fastcgi: accept: %s (%ld connections open); pausing new connections", strerror(e),
                              atomic_load(&l->srv->n_conns));
            return 0;
        }
        /* The request usually came with the connection: served at once,
         * and the connection watched only if it stays open. */
        l->accepted++;
        struct conn *c = conn_add(l, fd, now);
        if (c != NULL && on_readable(l, c, 0, now))
            conn_watch(l, c);
    }
    return 0;
}

/* How long epoll_wait may sleep: until the next deadline or resume. */
static int wait_timeout(const struct wsb_loop *l, long long now)
{
    long long until = l->next_deadline_ms;
    if (!l->listening && l->resume_ms > 0 && (until == 0 || l->resume_ms < until))
        until = l->resume_ms;
    if (until == 0)
        return -1;
    return until <= now ? 0 : until - now > 60000 ? 60000 : (int)(until - now);
}

/* At a stop, one last pass, without waiting for anything: requests that
 * are already whole in their sockets (on open connections, or on
 * connections still in the listening socket's queue) are answered rather
 * than cut off when the process exits. */
static void finish_at_stop(struct wsb_loop *l)
{
    long long now = wsb_now_ms();
    struct conn *next;
    for (struct conn *c = l->conns; c != NULL; c = next) {
        next = c->next;
        if (c->state != CONN_LINGER)
            (void)on_readable(l, c, 0, now);
    }
    (void)accept_some(l, now);
}

/* Busy polling (WSB_BUSY_POLL_US, off by default): for that long after
 * it last had work (a connection accepted, or bytes or a close on one), the
 * loop asks epoll without sleeping, and lets the tasks waiting for its CPU
 * go first between two asks (sched_yield), so that on a busy machine it
 * gives way to the web server sharing that CPU.  A listening-socket event
 * whose connection another loop took is not work: it does not extend the
 * polling.  A sleeping loop is woken by the kernel when a request comes;
 * where an idle CPU halts (a virtual machine), that wake-up alone costs
 * tens of microseconds (README, "Latency at one connection"); a polling
 * loop sees the request at once.  The price: each loop that keeps getting
 * requests at least every WSB_BUSY_POLL_US keeps a CPU busy; a loop with
 * nothing to do for that long sleeps. */
int wsb_loop_run(struct wsb_loop *l)
{
    struct epoll_event ev[EVENTS_PER_WAIT];
    int failed = 0;
    long long busy_us = l->srv->busy_poll_us, busy_until_us = 0;
    while (!failed && !atomic_load(&l->srv->stopping)) {
        int polling = busy_us > 0 && wsb_now_us() < busy_until_us;
        int n = epoll_wait(l->epfd, ev, EVENTS_PER_WAIT, polling ? 0 : wait_timeout(l, wsb_now_ms()));
        if (n < 0 && errno != EINTR) {
            wsb_log_error("fastcgi: epoll_wait: %s; this process stops", strerror(errno));
            return -1;
        }
        if (n == 0 && polling)
            sched_yield();
        long long now = wsb_now_ms();
        unsigned long accepted = l->accepted;
        int worked = 0;
        for (int i = 0; i < n && !failed && !atomic_load(&l->srv->stopping); i++) {
            if (ev[i].data.ptr != NULL) {
                on_readable(l, ev[i].data.ptr, (ev[i].events & (EPOLLRDHUP | EPOLLHUP)) != 0, now);
                worked = 1;
            } else {
                failed = accept_some(l, now) != 0;
            }
        }
        if (busy_us > 0 && (worked || l->accepted != accepted))
            busy_until_us = wsb_now_us() + busy_us;
        if (l->next_deadline_ms != 0 && now >= l->next_deadline_ms)
            sweep(l, now);
        if (!l->listening && l->resume_ms > 0 && now >= l->resume_ms) {
            if (atomic_load(&l->srv->n_conns) < MAX_CONNS)
                listen_resume(l);
            else
                l->resume_ms = now + ACCEPT_PAUSE_MS;
        }
    }
    if (failed)
        return -1;
    finish_at_stop(l);
    return 0;
}

void wsb_loop_free(struct wsb_loop *l)
{
    if (l == NULL)
        return;
    while (l->conns != NULL)
        conn_close(l, l->conns);
    if (l->epfd >= 0)
        close(l->epfd);
    free(l->r);
    free(l->peek);
    wsb_fcgi_direct_free(l->direct);
    wsb_worker_free(&l->w);
    free(l);
}

struct wsb_loop *wsb_loop_new(struct wsb_loops *srv)
{
    struct wsb_loop *l = calloc(1, sizeof *l);
    if (l == NULL) {
        wsb_log_error("fastcgi: cannot set up a loop: out of memory");
        return NULL;
    }
    l->srv = srv;
    wsb_worker_init(&l->w);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->r = malloc(sizeof *l->r);
    l->peek = malloc(PEEK_MAX);
    l->direct = wsb_fcgi_direct_new(PEEK_MAX);
    if (l->epfd < 0 || l->r == NULL || l->peek == NULL || l->direct == NULL) {
        wsb_log_error("fastcgi: cannot set up a loop: %s", l->epfd < 0 ? strerror(errno) : "out of memory");
        wsb_loop_free(l);
        return NULL;
    }
    listen_resume(l);
    if (!l->listening) {
        wsb_log_error("fastcgi: cannot watch the listening socket: %s", strerror(errno));
        wsb_loop_free(l);
        return NULL;
    }
    return l;
}

struct wsb_loops *wsb_loops_new(struct wsb_handler *h, int listen_fd, int tcp)
{
    struct wsb_loops *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        wsb_log_error("fastcgi: out of memory");
        return NULL;
    }
    srv->h = h;
    srv->listen_fd = listen_fd;
    srv->tcp = tcp;
    srv->busy_poll_us = h->cfg.busy_poll_us;
    if (srv->busy_poll_us > 0)
        wsb_log_info("fastcgi: busy polling: each loop polls for %lld us after its last request or connection before it sleeps",
                     srv->busy_poll_us);
    /* Accepted connections inherit a receive buffer that holds a whole
     * peek, so that a request up to PEEK_MAX can be seen whole (TCP does
     * not open its window for bytes that were only peeked). */
    int rcvbuf = 2 * PEEK_MAX;
    setsockopt(listen_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    /* Accepting never blocks: the loops and the pool's processes share the
     * socket, and another may take the connection that woke this one. */
    int fl = fcntl(listen_fd, F_GETFL);
    if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        wsb_log_error("fastcgi: cannot set up the listening socket: %s", strerror(errno));
        free(srv);
        return NULL;
    }
    return srv;
}

void wsb_loops_stop(struct wsb_loops *srv)
{
    atomic_store(&srv->stopping, 1);
}

void wsb_loops_free(struct wsb_loops *srv)
{
    free(srv);
}

/* main.c: wsb-handler, the balancer's FastCGI responder: one process on a
 * socket a web server gave it (fd 0), a pre-forked pool on a socket of its
 * own (--listen, --workers), or plain CGI.  Configuration comes from WSB_*
 * variables. */
#define _GNU_SOURCE
#include "config.h"
#include "handler.h"
#include "log.h"
#include "status.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcgiapp.h>
#include <malloc.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef WSB_VERSION
#define WSB_VERSION "0.1.0"
#endif

#define MAX_WORKERS 1024
#define MAX_THREADS 256
#define STOP_GRACE_MS 5000        /* pool: SIGTERM to SIGKILL */
#define THREAD_STOP_MS 3000       /* worker: how long threads get to finish */
#define IDLE_CONN_TIMEOUT_S 10    /* longest wait for the rest of a request */
#define FAST_DEATH_MS 1000        /* a worker that dies sooner counts as failing */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 10000

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wsb-handler [--listen ADDR [--socket-mode MODE]] [--workers N] [--threads T]\n"
            "       wsb-handler --check | --help | --version\n"
            "\n"
            "The wsbalancer handler answers GET /v{N}/websocket/server with the WebSocket\n"
            "endpoint a client should use.  Three ways to run it:\n"
            "\n"
            "  FastCGI, started by the web server (lighttpd bin-path, Apache mod_fcgid,\n"
            "    spawn-fcgi): the listening socket is standard input.  No options needed.\n"
            "  A pool of its own (Apache mod_proxy_fcgi, nginx fastcgi_pass, systemd):\n"
            "    --listen ADDR opens the socket, --workers N pre-forks N processes that\n"
            "    accept on it; a worker that dies is restarted (with a growing delay if\n"
            "    workers keep dying at once).  SIGTERM, SIGINT or SIGHUP stop the pool.\n"
            "  CGI, when neither applies: one request from the environment.\n"
            "\n"
            "  --listen ADDR      a unix socket path (/run/wsbalancer/handler.sock), or\n"
            "                     HOST:PORT, [V6]:PORT, or :PORT (= 127.0.0.1:PORT).\n"
            "                     FastCGI has no authentication: keep it on loopback or\n"
            "                     a unix socket.\n"
            "  --socket-mode MODE permissions of the unix socket, octal (0660)\n"
            "  --workers N        processes (1..%d); default with --listen: half the\n"
            "                     number of CPUs, at least 1; without --listen, the pool\n"
            "                     accepts on standard input\n"
            "  --threads T        request threads per process (1..%d, default 1), sharing\n"
            "                     one event loop; connections the web server keeps open\n"
            "                     (nginx fastcgi_keep_conn) hold no thread while idle\n"
            "  --check            read the configuration and the Redis state once, print\n"
            "                     what was found, exit 0 when both are usable\n"
            "  --help             this text\n"
            "  --version          the version\n"
            "\n"
            "Configuration (environment): WSB_REDIS_URL, WSB_REDIS_PASSWORD_FILE,\n"
            "WSB_KEY_PREFIX, WSB_GEOIP_DB, WSB_TRUSTED_PROXIES, WSB_CORS_ORIGINS,\n"
            "WSB_MAX_LOAD, WSB_CACHE_MS, WSB_STALE_MAX_MS, WSB_REDIS_CONNECT_TIMEOUT_MS,\n"
            "WSB_REDIS_TIMEOUT_MS, WSB_REDIS_RETRY_MS, WSB_NEAR_KM, WSB_UNKNOWN_LOAD,\n"
            "WSB_RETRY_AFTER, WSB_ALLOW_INSECURE_WS, WSB_GEOIP_CHECK_MS, WSB_LOG_LEVEL.\n"
            "See wsb-handler(1) or README.md for each.\n",
            MAX_WORKERS, MAX_THREADS);
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */

struct options {
    int check;
    const char *listen;       /* NULL: standard input */
    long socket_mode;         /* -1: leave as the umask made it */
    long workers;             /* 0: no pool */
    long threads;
};

static int number_arg(const char *name, const char *v, long lo, long hi, long *out)
{
    if (v == NULL || wsb_parse_long(v, lo, hi, out) != WSB_OK) {
        fprintf(stderr, "wsb-handler: %s: '%s' is not a whole number in %ld..%ld\n", name, v ? v : "", lo, hi);
        return -1;
    }
    return 0;
}

/* Returns 0 to go on, 1 when done (--help, --version), -1 on a usage
 * error (reported on stderr). */
static int parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->socket_mode = -1;
    o->threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "--version") == 0) {
            printf("wsb-handler %s\n", WSB_VERSION);
            return 1;
        } else if (strcmp(a, "--check") == 0) {
            o->check = 1;
            continue;
        } else if (strcmp(a, "--listen") == 0) {
            if (v == NULL || v[0] == '\0') {
                fprintf(stderr, "wsb-handler: --listen: needs a socket path or HOST:PORT\n");
                return -1;
            }
            o->listen = v;
        } else if (strcmp(a, "--workers") == 0) {
            if (number_arg(a, v, 1, MAX_WORKERS, &o->workers) != 0)
                return -1;
        } else if (strcmp(a, "--threads") == 0) {
            if (number_arg(a, v, 1, MAX_THREADS, &o->threads) != 0)
                return -1;
        } else if (strcmp(a, "--socket-mode") == 0) {
            char *end = NULL;
            errno = 0;
            long m = v ? strtol(v, &end, 8) : -1;
            if (v == NULL || *v == '\0' || *end != '\0' || errno != 0 || m < 0 || m > 07777) {
                fprintf(stderr, "wsb-handler: --socket-mode: '%s' is not an octal mode like 0660\n", v ? v : "");
                return -1;
            }
            o->socket_mode = m;
        } else {
            fprintf(stderr, "wsb-handler: unknown argument '%s' (see --help)\n", a);
            return -1;
        }
        i++;   /* the option's value */
    }
    if (o->check && (o->listen || o->workers)) {
        fprintf(stderr, "wsb-handler: --check runs alone, without --listen or --workers\n");
        return -1;
    }
    if (o->socket_mode >= 0 && o->listen == NULL) {
        fprintf(stderr, "wsb-handler: --socket-mode needs --listen with a unix socket path\n");
        return -1;
    }
    if (o->listen != NULL && o->workers == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        /* Behind nginx, nginx does most of the work of a request: measured
         * on 2 CPUs, one worker served 37-42k req/s, two 26-34k (README). */
        long half = cpus / 2;
        o->workers = half < 1 ? 1 : half > MAX_WORKERS ? MAX_WORKERS : half;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The listening socket of --listen                                    */

struct listener {
    int fd;
    int tcp;                  /* accepted connections get TCP_NODELAY */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];   /* unix socket to remove at exit */
};

/* Opens a unix socket at path.  A stale socket file (nobody answers on
 * it) is replaced; a live one or any other file is an error. */
static int listen_unix(const char *path, long mode, struct listener *l, char *err)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        return wsb_fail(err, WSB_EINVAL, "--listen %s: a unix socket path has at most %zu bytes", path,
                        sizeof sa.sun_path - 1);
    strcpy(sa.sun_path, path);
    int fd = -1;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return wsb_fail(err, WSB_EINVAL, "--listen %s: exists and is not a socket", path);
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0)
            close(probe);
        if (live)
            return wsb_fail(err, WSB_EBUSY, "--listen %s: another process is serving this socket", path);
        if (unlink(path) != 0)
            return wsb_fail(err, WSB_ESYS, "--listen %s: cannot remove the stale socket: %s", path,
                            strerror(errno));
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wsb_fail(err, WSB_ESYS, "--listen %s: socket: %s", path, strerror(errno));
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        wsb_fail(err, WSB_ESYS, "--listen %s: bind: %s", path, strerror(errno));
        goto cleanup;
    }
    snprintf(l->path, sizeof l->path, "%s", path);
    if (mode >= 0 && chmod(path, (mode_t)mode) != 0) {
        wsb_fail(err, WSB_ESYS, "--socket-mode %04lo: chmod %s: %s", mode, path, strerror(errno));
        goto cleanup;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        wsb_fail(err, WSB_ESYS, "--listen %s: listen: %s", path, strerror(errno));
        goto cleanup;
    }
    l->fd = fd;
    l->tcp = 0;
    return WSB_OK;
cleanup:
    if (l->path[0] != '\0')
        unlink(l->path);
    l->path[0] = '\0';
    close(fd);
    return WSB_ESYS;
}

/* Opens HOST:PORT, [V6]:PORT or :PORT (127.0.0.1). */
static int listen_tcp(const char *addr, struct listener *l, char *err)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL)
        return wsb_fail(err, WSB_EINVAL, "--listen %s: neither a socket path (with a '/') nor HOST:PORT", addr);
    size_t hlen = (size_t)(colon - addr);
    if (hlen >= sizeof host)
        return wsb_fail(err, WSB_EINVAL, "--listen %s: host name too long", addr);
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    if (host[0] == '\0')
        strcpy(host, "127.0.0.1");
    long port;
    if (wsb_parse_long(colon + 1, 1, 65535, &port) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "--listen %s: '%s' is not a port in 1..65535", addr, colon + 1);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai != 0)
        return wsb_fail(err, WSB_EINVAL, "--listen %s: %s", addr, gai_strerror(gai));
    int fd = -1, status = WSB_OK;
    fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        status = wsb_fail(err, WSB_ESYS, "--listen %s: socket: %s", addr, strerror(errno));
        goto cleanup;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        status = wsb_fail(err, WSB_ESYS, "--listen %s: bind: %s", addr, strerror(errno));
        goto cleanup;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        status = wsb_fail(err, WSB_ESYS, "--listen %s: listen: %s", addr, strerror(errno));
        goto cleanup;
    }
    l->fd = fd;
    l->tcp = 1;
    fd = -1;
cleanup:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return status;
}

/* Returns WSB_OK with l filled, or a status with the reason in err and
 * nothing left open or created. */
static int listener_open(const char *addr, long mode, struct listener *l, char *err)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    if (strncmp(addr, "unix:", 5) == 0)
        addr += 5;
    if (strchr(addr, '/') != NULL)
        return listen_unix(addr, mode, l, err);
    if (mode >= 0)
        return wsb_fail(err, WSB_EINVAL, "--socket-mode applies to a unix socket, not to %s", addr);
    return listen_tcp(addr, l, err);
}

static int socket_is_tcp(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    return getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
           (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
}

static void listener_close(struct listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    if (l->path[0] != '\0')
        unlink(l->path);
    l->fd = -1;
    l->path[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* Serving FastCGI in one process: T threads over one epoll set          */

static atomic_int stopping;

/* One FastCGI connection.  A connection the web server keeps open
 * (FCGI_KEEP_CONN) waits in the epoll set, costing no thread, and is
 * served by whichever thread epoll hands it to when its next request
 * arrives (EPOLLONESHOT: one thread at a time).  libfcgi reads a request
 * from req.ipcFd when it is >= 0, which fcgiapp.h lists among the
 * internal fields; this file sets it to a connection it accepted itself
 * (with keepConnection, also internal, set until the request says) and
 * reads it back after FCGX_Finish_r (< 0: libfcgi closed it).  The
 * request's listening socket is -1, so that a kept connection closed by
 * the web server makes FCGX_Accept_r fail instead of accepting anew. */
struct conn {
    FCGX_Request req;
    int registered;           /* in the epoll set */
    struct conn *prev, *next; /* every open connection, for the stop */
};

struct server {
    struct wsb_handler *h;
    int listen_fd;
    int tcp;
    int epfd;
    int oneshot;              /* several threads: a connection is armed for one event */
    pthread_mutex_t lock;     /* guards the fields below */
    struct conn *conns;
    long n_conns;
    int listening;            /* the listening socket is in the epoll set */
    long long resume_ms;      /* when paused for want of descriptors: when to listen again */
    long long last_complaint_ms;
};

/* More open connections than this per process and accepting pauses: each
 * costs a descriptor and libfcgi buffers while a request is read. */
#define MAX_CONNS 512
#define EVENTS_PER_WAIT 8
#define ACCEPT_PAUSE_MS 100

struct acceptor {
    pthread_t tid;
    struct server *srv;
    int failed;               /* set by the thread when it gave up */
    int joined;
};

static const char *fcgi_param(const char *name, void *ctx)
{
    return FCGX_GetParam(name, (FCGX_ParamArray)ctx);
}

/* The parameters of the request that primes the state (prime_state). */
static const char *prime_param(const char *name, void *ctx)
{
    (void)ctx;
    if (strcmp(name, "REQUEST_METHOD") == 0)
        return "GET";
    if (strcmp(name, "REQUEST_URI") == 0)
        return "/v1/websocket/server";
    return NULL;
}

/* Reads the state once before the first request, so that a process does
 * not meet its first burst without a snapshot: the first request would
 * refresh it while the other threads, finding none yet, answered 100.
 * Costs one Redis round trip (or the connect timeout, when Redis is down:
 * then the requests would have answered 503 anyway). */
static void prime_state(struct wsb_handler *h)
{
    struct wsb_worker w;
    struct wsb_response *r = malloc(sizeof *r);
    wsb_worker_init(&w);
    if (r != NULL)
        wsb_handle(h, &w, prime_param, NULL, r);
    free(r);
    wsb_worker_free(&w);
}

static void on_wake(int sig)
{
    (void)sig;   /* only interrupts a blocking epoll_wait() or read() */
}

/* A request that arrives in pieces is waited for this long at most, so
 * that a stuck sender cannot hold a thread for good. */
static void tune_connection(int fd, int tcp)
{
    struct timeval tv = { IDLE_CONN_TIMEOUT_S, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

static int accept_error_is_fatal(int e)
{
    return e == EBADF || e == ENOTSOCK || e == EINVAL || e == EOPNOTSUPP || e == EFAULT;
}

/* Puts the listening socket in the epoll set (when absent).  Called with
 * srv->lock held. */
static void listen_resume(struct server *srv)
{
    if (srv->listening)
        return;
    /* EPOLLEXCLUSIVE: of the pool's processes waiting on the one socket,
     * a new connection wakes one, not all. */
    struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL };
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->listen_fd, &ev) == 0)
        srv->listening = 1;
}

/* Takes the listening socket out of the epoll set until `until_ms`.
 * Called with srv->lock held. */
static void listen_pause(struct server *srv, long long until_ms)
{
    if (srv->listening && epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL) == 0)
        srv->listening = 0;
    srv->resume_ms = until_ms;
}

static void conn_free(struct server *srv, struct conn *c)
{
    pthread_mutex_lock(&srv->lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->n_conns--;
    if (!srv->listening && srv->resume_ms == 0)
        listen_resume(srv);   /* paused at MAX_CONNS */
    pthread_mutex_unlock(&srv->lock);
    /* Still open here means no answer is owed (stopping, or the connection
     * could not be watched): close it outright, not through libfcgi, which
     * would wait up to 2 s for the web server to hang up first. */
    if (c->req.ipcFd >= 0)
        close(c->req.ipcFd);
    c->req.ipcFd = -1;
    FCGX_Free(&c->req, 0);
    free(c);
}

/* Accepts one connection; NULL when there was none to take or it could not
 * be kept (logged).  Sets *fatal when the listening socket itself failed. */
static struct conn *accept_conn(struct server *srv, int *fatal)
{
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED || e == EPROTO)
            return NULL;   /* another thread or process took it, or the peer left */
        if (accept_error_is_fatal(e)) {
            wsb_log_error("fastcgi: accept on the listening socket: %s; this process stops", strerror(e));
            *fatal = 1;
            return NULL;
        }
        /* EMFILE, ENFILE, ENOBUFS, ENOMEM: our own shortage, not the socket's. */
        long long now = wsb_now_ms();
        pthread_mutex_lock(&srv->lock);
        listen_pause(srv, now + ACCEPT_PAUSE_MS);
        if (now - srv->last_complaint_ms > 10000) {
            wsb_log_error("fastcgi: accept: %s (%ld connections open); pausing new connections", strerror(e),
                          srv->n_conns);
            srv->last_complaint_ms = now;
        }
        pthread_mutex_unlock(&srv->lock);
        return NULL;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL || FCGX_InitRequest(&c->req, -1, 0) != 0) {
        wsb_log_error("fastcgi: cannot take a connection: out of memory");
        free(c);
        close(fd);
        return NULL;
    }
    tune_connection(fd, srv->tcp);
    c->req.ipcFd = fd;
    c->req.keepConnection = 1;   /* else FCGX_Accept_r's opening Finish closes it */
    pthread_mutex_lock(&srv->lock);
    c->next = srv->conns;
    if (c->next != NULL)
        c->next->prev = c;
    srv->conns = c;
    if (++srv->n_conns >= MAX_CONNS) {
        listen_pause(srv, 0);
        long long now = wsb_now_ms();
        if (now - srv->last_complaint_ms > 10000) {
            wsb_log_warn("fastcgi: %d connections open in this process; new ones wait until some close",
                         MAX_CONNS);
            srv->last_complaint_ms = now;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    return c;
}

/* Whether a fresh connection's request has (begun to) come: the web server
 * usually writes it right after connecting, and then it is served at once;
 * a connection with nothing to read waits in the epoll set instead of
 * holding a thread. */
static int has_data(int fd)
{
    char b;
    return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* Puts c in the epoll set until its next request (or its end). */
static void watch_conn(struct server *srv, struct conn *c)
{
    /* With one thread, a connection stays armed (level-triggered) from
     * request to request.  With more, each is armed for one event at a
     * time, and once armed c belongs to whichever thread epoll hands it
     * to next: nothing of it may be touched after epoll_ctl succeeds. */
    if (c->registered && !srv->oneshot)
        return;
    int op = c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    c->registered = 1;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (srv->oneshot ? EPOLLONESHOT : 0), .data.ptr = c };
    if (epoll_ctl(srv->epfd, op, c->req.ipcFd, &ev) != 0) {
        wsb_log_error("fastcgi: cannot watch a connection: %s; closing it", strerror(errno));
        conn_free(srv, c);
    }
}

/* Reads the request's stdin to its end record.  libfcgi returns a request
 * once its parameters are in; an end-of-stdin record still on its way
 * (Apache mod_proxy_fcgi may send it separately) would otherwise be read as
 * the start of the next request on a kept connection, and libfcgi would
 * drop the connection under the web server.  nginx sends it with the
 * parameters, so this costs no system call there.  A body is read and
 * ignored; past MAX_DISCARD the connection is closed after the answer. */
#define MAX_DISCARD (64 * 1024)
static void drain_stdin(FCGX_Request *req)
{
    char buf[1024];
    int n;
    long total = 0;
    while ((n = FCGX_GetStr(buf, (int)sizeof buf, req->in)) > 0) {
        total += n;
        if (total > MAX_DISCARD) {
            req->keepConnection = 0;
            return;
        }
    }
}

/* Serves the request waiting on c, then keeps c in the epoll set for the
 * next one, or frees it when the connection is over. */
static void serve_conn(struct server *srv, struct conn *c, struct wsb_worker *w, struct wsb_response *r)
{
    if (FCGX_Accept_r(&c->req) < 0) {   /* closed by the web server, or garbage */
        conn_free(srv, c);
        return;
    }
    wsb_handle(srv->h, w, fcgi_param, c->req.envp, r);
    drain_stdin(&c->req);
    FCGX_PutStr(r->buf, (int)r->len, c->req.out);
    FCGX_Finish_r(&c->req);
    if (c->req.ipcFd < 0) {   /* not kept, or failed */
        conn_free(srv, c);
        return;
    }
    watch_conn(srv, c);
}

static void *serve_loop(void *arg)
{
    struct acceptor *a = arg;
    struct server *srv = a->srv;
    struct wsb_worker w;
    struct wsb_response *r = malloc(sizeof *r);
    wsb_worker_init(&w);
    if (r == NULL) {
        wsb_log_error("fastcgi: cannot set up a request thread: out of memory");
        a->failed = 1;
        wsb_worker_free(&w);
        kill(getpid(), SIGUSR2);
        return NULL;
    }
    struct epoll_event ev[EVENTS_PER_WAIT];
    while (!atomic_load(&stopping)) {
        int timeout = -1;
        pthread_mutex_lock(&srv->lock);
        if (!srv->listening && srv->resume_ms > 0) {
            long long left = srv->resume_ms - wsb_now_ms();
            if (left <= 0) {
                srv->resume_ms = 0;
                if (srv->n_conns < MAX_CONNS)
                    listen_resume(srv);
            } else {
                timeout = (int)left;
            }
        }
        pthread_mutex_unlock(&srv->lock);
        int n = epoll_wait(srv->epfd, ev, EVENTS_PER_WAIT, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            wsb_log_error("fastcgi: epoll_wait: %s; this process stops", strerror(errno));
            a->failed = 1;
            break;
        }
        for (int i = 0; i < n && !atomic_load(&stopping); i++) {
            struct conn *c = ev[i].data.ptr;
            if (c == NULL) {   /* the listening socket */
                int fatal = 0;
                c = accept_conn(srv, &fatal);
                if (fatal) {
                    a->failed = 1;
                    goto done;
                }
            }
            if (c != NULL && (c->registered || has_data(c->req.ipcFd)))
                serve_conn(srv, c, &w, r);
            else if (c != NULL)
                watch_conn(srv, c);
        }
    }
done:
    free(r);
    wsb_worker_free(&w);
    if (!atomic_load(&stopping))
        kill(getpid(), SIGUSR2);   /* tell the main thread this one is gone */
    return NULL;
}

/* Serves FastCGI on listen_fd with `threads` threads until SIGTERM, SIGINT
 * or SIGHUP, or until the socket fails.  In-flight requests are finished;
 * kept connections are closed.  Returns the process exit status: 0 after a
 * signal, 1 on a failure. */
static int serve_fastcgi(struct wsb_handler *h, int listen_fd, int tcp, long threads)
{
    sigset_t stop_set, old;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGHUP);
    sigaddset(&stop_set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &stop_set, &old);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_wake;            /* no SA_RESTART: epoll_wait() returns EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    int rc = 1;
    long started = 0;
    struct acceptor *acc = NULL;
    struct server srv;
    memset(&srv, 0, sizeof srv);
    srv.h = h;
    srv.listen_fd = listen_fd;
    srv.tcp = tcp;
    srv.oneshot = threads > 1;
    pthread_mutex_init(&srv.lock, NULL);
    /* Accepting never blocks: the pool's processes share the socket, and
     * another may take the connection that woke this one. */
    int fl = fcntl(listen_fd, F_GETFL);
    srv.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) != 0 || srv.epfd < 0) {
        wsb_log_error("fastcgi: cannot set up the listening socket: %s", strerror(errno));
        goto cleanup;
    }
    listen_resume(&srv);
    if (!srv.listening) {
        wsb_log_error("fastcgi: cannot watch the listening socket: %s", strerror(errno));
        goto cleanup;
    }

    prime_state(h);
    /* Started with the stop signals blocked, so they reach only sigwait. */
    if (wsb_handler_start_refresher(h) != WSB_OK)
        wsb_log_warn("cannot start the state refresher thread; requests will refresh the state themselves");
    acc = calloc((size_t)threads, sizeof *acc);
    if (acc == NULL) {
        wsb_log_error("out of memory at start");
        goto cleanup;
    }
    for (started = 0; started < threads; started++) {
        acc[started].srv = &srv;
        int e = pthread_create(&acc[started].tid, NULL, serve_loop, &acc[started]);
        if (e != 0) {
            wsb_log_error("cannot start thread %ld of %ld: %s", started + 1, threads, strerror(e));
            break;
        }
    }
    if (started == threads) {
        int sig = 0;
        sigwait(&stop_set, &sig);
        if (sig != SIGUSR2) {
            wsb_log_debug("stopping on SIG%s", sigabbrev_np(sig));
            rc = 0;
        }
    }

cleanup:
    atomic_store(&stopping, 1);
    /* Wake every thread blocked in epoll_wait() or reading a request;
     * repeatedly, since a thread may be just about to block. */
    if (started > 0) {
        long long deadline = wsb_now_ms() + THREAD_STOP_MS;
        long left = started;
        while (left > 0) {
            for (long i = 0; i < started; i++) {
                if (acc[i].joined)
                    continue;
                if (pthread_tryjoin_np(acc[i].tid, NULL) == 0) {
                    acc[i].joined = 1;
                    left--;
                    if (acc[i].failed)
                        rc = 1;
                } else {
                    pthread_kill(acc[i].tid, SIGUSR1);
                }
            }
            if (left == 0)
                break;
            if (wsb_now_ms() >= deadline) {
                /* Threads still run and use h: leave without freeing anything. */
                wsb_log_warn("%ld request thread(s) did not finish within %d ms; exiting anyway", left,
                             THREAD_STOP_MS);
                fflush(NULL);
                _exit(rc);
            }
            usleep(20 * 1000);
        }
    }
    free(acc);
    while (srv.conns != NULL)
        conn_free(&srv, srv.conns);
    if (srv.epfd >= 0)
        close(srv.epfd);
    pthread_mutex_destroy(&srv.lock);
    wsb_handler_stop_refresher(h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The pool: a supervisor that pre-forks workers and restarts them      */

struct slot {
    pid_t pid;                /* 0: not running */
    long long started_ms;
    long long due_ms;         /* when to (re)start it */
    int quick_deaths;         /* in a row, each within FAST_DEATH_MS of start */
};

static pid_t spawn_worker(struct wsb_handler_config *cfg, int listen_fd, int tcp, long threads,
                          const sigset_t *orig_mask)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* The worker: stops with the pool even if the pool is killed outright. */
    sigprocmask(SIG_SETMASK, orig_mask, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(0);
    struct wsb_handler *h = wsb_handler_new(cfg);
    if (h == NULL) {
        wsb_log_error("out of memory at start");
        exit(1);
    }
    int rc = serve_fastcgi(h, listen_fd, tcp, threads);
    wsb_handler_free(h);
    exit(rc);
}

static void describe_exit(int wstatus, char *buf, size_t len)
{
    if (WIFSIGNALED(wstatus))
        snprintf(buf, len, "was killed by SIG%s", sigabbrev_np(WTERMSIG(wstatus)) ? sigabbrev_np(WTERMSIG(wstatus)) : "?");
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(wstatus));
}

/* Collects exited workers; returns how many of the pool's were reaped.
 * When `restart`, each slot is scheduled again, with a delay that doubles
 * while workers die right after their start. */
static int reap(struct slot *slots, long n, int restart)
{
    int reaped = 0;
    int wstatus;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        long i;
        for (i = 0; i < n && slots[i].pid != pid; i++)
            ;
        if (i == n)
            continue;
        reaped++;
        long long now = wsb_now_ms();
        long long lived = now - slots[i].started_ms;
        slots[i].pid = 0;
        if (!restart)
            continue;
        char how[96];
        describe_exit(wstatus, how, sizeof how);
        long delay = 0;
        if (lived < FAST_DEATH_MS) {
            slots[i].quick_deaths++;
            delay = BACKOFF_FIRST_MS;
            for (int k = 1; k < slots[i].quick_deaths && delay < BACKOFF_MAX_MS; k++)
                delay *= 2;
            if (delay > BACKOFF_MAX_MS)
                delay = BACKOFF_MAX_MS;
        } else {
            slots[i].quick_deaths = 0;
        }
        slots[i].due_ms = now + delay;
        if (delay == 0)
            wsb_log_warn("pool: worker %ld (pid %ld) %s after %lld ms; restarting it", i + 1, (long)pid, how,
                         lived);
        else
            wsb_log_error("pool: worker %ld (pid %ld) %s after %lld ms (%d quick exits in a row); restarting "
                          "it in %ld ms",
                          i + 1, (long)pid, how, lived, slots[i].quick_deaths, delay);
    }
    return reaped;
}

/* Stops the workers: SIGTERM, then SIGKILL after STOP_GRACE_MS (or at once
 * on a second stop signal). */
static void stop_workers(struct slot *slots, long n, const sigset_t *waitset)
{
    long running = 0;
    for (long i = 0; i < n; i++)
        if (slots[i].pid > 0 && kill(slots[i].pid, SIGTERM) == 0)
            running++;
    long long deadline = wsb_now_ms() + STOP_GRACE_MS;
    int forced = 0;
    while (running > 0) {
        running -= reap(slots, n, 0);
        if (running <= 0)
            break;
        long long left = deadline - wsb_now_ms();
        if (left <= 0 && !forced) {
            wsb_log_warn("pool: %ld worker(s) still running after %d ms: killing them", running, STOP_GRACE_MS);
            for (long i = 0; i < n; i++)
                if (slots[i].pid > 0)
                    kill(slots[i].pid, SIGKILL);
            forced = 1;
            left = 1000;
        } else if (left <= 0) {
            break;
        }
        struct timespec ts = { (time_t)(left / 1000), (long)(left % 1000) * 1000000L };
        int sig = sigtimedwait(waitset, NULL, &ts);
        if (sig > 0 && sig != SIGCHLD && !forced) {
            deadline = wsb_now_ms();   /* a second stop signal: no more grace */
        }
    }
}

/* Runs the pool until a stop signal.  Returns the exit status. */
static int run_pool(struct wsb_handler_config *cfg, int listen_fd, int tcp, const char *where, long n,
                    long threads)
{
    sigset_t set, orig;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, &orig);

    struct slot *slots = calloc((size_t)n, sizeof *slots);
    if (slots == NULL) {
        wsb_log_error("out of memory at start");
        sigprocmask(SIG_SETMASK, &orig, NULL);
        return 1;
    }
    wsb_log_info("pool: serving %s with %ld worker(s) of %ld thread(s)", where, n, threads);
    int stop_sig = 0;
    while (stop_sig == 0) {
        long long now = wsb_now_ms();
        long long next_due = now + 60000;
        for (long i = 0; i < n; i++) {
            if (slots[i].pid != 0)
                continue;
            if (slots[i].due_ms <= now) {
                pid_t pid = spawn_worker(cfg, listen_fd, tcp, threads, &orig);
                if (pid < 0) {
                    wsb_log_error("pool: cannot start worker %ld: fork: %s; trying again in 1 s", i + 1,
                                  strerror(errno));
                    slots[i].due_ms = now + 1000;
                } else {
                    slots[i].pid = pid;
                    slots[i].started_ms = now;
                    continue;
                }
            }
            if (slots[i].due_ms < next_due)
                next_due = slots[i].due_ms;
        }
        long long wait_ms = next_due - wsb_now_ms();
        if (wait_ms < 1)
            wait_ms = 1;
        struct timespec ts = { (time_t)(wait_ms / 1000), (long)(wait_ms % 1000) * 1000000L };
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGCHLD)
            reap(slots, n, 1);
        else if (sig > 0)
            stop_sig = sig;
    }
    wsb_log_info("pool: stopping on SIG%s", sigabbrev_np(stop_sig));
    stop_workers(slots, n, &set);
    free(slots);
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return 0;
}

/* ------------------------------------------------------------------ */
/* CGI                                                                 */

static const char *env_param(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Answers one CGI request from the environment on standard output. */
static int serve_cgi(struct wsb_handler *h)
{
    struct wsb_worker w;
    wsb_worker_init(&w);
    struct wsb_response *r = malloc(sizeof *r);
    int rc = 1;
    if (r != NULL) {
        wsb_handle(h, &w, env_param, NULL, r);
        rc = write_all(STDOUT_FILENO, r->buf, r->len) == 0 ? 0 : 1;
    }
    free(r);
    wsb_worker_free(&w);
    return rc;
}

/* A request the handler cannot serve for want of configuration still gets
 * a JSON answer under CGI; the reason goes to the log.  Returns 1. */
static int cgi_config_error(void)
{
    size_t len;
    const char *body = wsb_error_body(500, &len);
    struct wsb_answer a;
    memset(&a, 0, sizeof a);
    a.status = 500;
    a.body = body;
    a.body_len = len;
    struct wsb_response r;
    if (wsb_response_build(&a, &r) == WSB_OK)
        (void)write_all(STDOUT_FILENO, r.buf, r.len);
    return 1;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    /* One malloc arena: each snapshot is built by whichever thread refreshes
     * it, and with an arena per thread the freed snapshots' memory scatters
     * over many arenas (measured, 48 threads, 1,000 nodes: resident memory
     * climbing past 19 MB per process, against a steady 8 MB with one).
     * The decision path does not allocate; libfcgi's few allocations per
     * request ran as fast on one arena (bench-peer).
     * An operator's MALLOC_ARENA_MAX wins. */
    if (getenv("MALLOC_ARENA_MAX") == NULL)
        mallopt(M_ARENA_MAX, 1);
    struct options opt;
    int a = parse_args(argc, argv, &opt);
    if (a != 0)
        return a > 0 ? 0 : 2;

    wsb_log_init("wsb-handler", WSB_LOG_INFO);
    if (FCGX_Init() != 0) {
        wsb_log_error("fastcgi: library initialisation failed");
        return 1;
    }
    int is_cgi = opt.listen == NULL && FCGX_IsCGI();
    if ((opt.workers || opt.threads > 1) && is_cgi && !opt.check) {
        fprintf(stderr, "wsb-handler: --workers and --threads need a FastCGI socket: --listen ADDR, or a "
                        "listening socket on standard input\n");
        return 2;
    }
    if (wsb_error_bodies_init() != WSB_OK) {
        wsb_log_error("out of memory at start");
        return 1;
    }

    char err[WSB_ERRLEN];
    struct wsb_handler_config cfg;
    if (wsb_handler_config_from_env(&cfg, err) != WSB_OK) {
        wsb_log_error("configuration: %s", err);
        if (opt.check) {
            fprintf(stderr, "wsb-handler: configuration: %s\n", err);
            return 2;
        }
        return is_cgi ? cgi_config_error() : 2;
    }
    wsb_log_init("wsb-handler", cfg.log_level);

    if (opt.workers > 0) {
        struct listener l;
        memset(&l, 0, sizeof l);
        l.fd = STDIN_FILENO;
        const char *where = "the socket on standard input";
        if (opt.listen != NULL) {
            if (listener_open(opt.listen, opt.socket_mode, &l, err) != WSB_OK) {
                wsb_log_error("%s", err);
                wsb_handler_config_free(&cfg);
                return 2;
            }
            where = opt.listen;
        } else {
            l.tcp = socket_is_tcp(STDIN_FILENO);
        }
        int rc = run_pool(&cfg, l.fd, l.tcp, where, opt.workers, opt.threads);
        if (opt.listen != NULL)
            listener_close(&l);
        wsb_handler_config_free(&cfg);
        return rc;
    }

    struct wsb_handler *h = wsb_handler_new(&cfg);
    if (h == NULL) {
        wsb_log_error("out of memory at start");
        return 1;
    }
    int rc;
    if (opt.check) {
        char what[1024];
        rc = wsb_handler_check(h, what, sizeof what) == WSB_OK ? 0 : 1;
        printf("%s\n", what);
    } else if (is_cgi) {
        if (getenv("GATEWAY_INTERFACE") == NULL && getenv("REQUEST_METHOD") == NULL && isatty(STDIN_FILENO)) {
            fprintf(stderr, "wsb-handler: not started by a web server (no FastCGI socket, no CGI request); "
                            "see --help, or try --check\n");
            rc = 2;
        } else {
            rc = serve_cgi(h);
        }
    } else {
        rc = serve_fastcgi(h, STDIN_FILENO, socket_is_tcp(STDIN_FILENO), opt.threads);
    }
    wsb_handler_free(h);
    return rc;
}

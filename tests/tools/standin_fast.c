/* standin_fast.c: many stand-in WebSocket nodes on loopback in one epoll
 * loop, for benchmarking the probe at 10,000 nodes, where the Python
 * stand-in (standin_node.py) is itself the bottleneck.  Two behaviours:
 *
 *   ok    a GET with Sec-WebSocket-Key gets 101 with the right
 *         Sec-WebSocket-Accept, any other GET a load report
 *         {"connections":100,"capacity":1000}; then the connection closes
 *   hang  accepted and held, never answered
 *
 * Usage: standin_fast --ok FROM-TO [--hang FROM-TO] [--ready-file F]
 * Binds 127.0.0.1 only; SIGTERM/SIGINT end it.  Exits 1 when a port cannot
 * be bound (the caller tries other ports), 2 on bad usage. */
#define _GNU_SOURCE
#include "wskey.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX 2048
#define LISTENER (1u << 31)

struct conn {
    size_t len;
    char buf[REQ_MAX];
};

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int parse_range(const char *s, long *from, long *to)
{
    char *end;
    *from = strtol(s, &end, 10);
    if (*end != '-')
        return -1;
    *to = strtol(end + 1, &end, 10);
    return *end == '\0' && *from >= 1 && *to <= 65535 && *from <= *to ? 0 : -1;
}

/* Answers a complete request head in c on fd; returns when written. */
static void answer(int fd, struct conn *c)
{
    char out[512], accept[WSB_WS_ACCEPT_LEN + 1];
    const char *k = NULL;
    for (char *line = strstr(c->buf, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Sec-WebSocket-Key:", 18) == 0) {
            k = line + 2 + 18;
            break;
        }
    }
    int n;
    if (k != NULL) {
        while (*k == ' ')
            k++;
        char key[64];
        size_t i = 0;
        while (k[i] != '\r' && k[i] != ' ' && i < sizeof key - 1) {
            key[i] = k[i];
            i++;
        }
        key[i] = '\0';
        wsb_ws_accept(key, accept);
        n = snprintf(out, sizeof out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    } else {
        const char *body = "{\"connections\":100,\"capacity\":1000}";
        n = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s", strlen(body), body);
    }
    if (write(fd, out, (size_t)n) < 0) {
        /* the client left: nothing to do */
    }
}

int main(int argc, char **argv)
{
    long ok_from = 0, ok_to = -1, hang_from = 0, hang_to = -1;
    const char *ready = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ok") == 0 && i + 1 < argc && parse_range(argv[i + 1], &ok_from, &ok_to) == 0)
            i++;
        else if (strcmp(argv[i], "--hang") == 0 && i + 1 < argc && parse_range(argv[i + 1], &hang_from, &hang_to) == 0)
            i++;
        else if (strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc)
            ready = argv[++i];
        else {
            fprintf(stderr, "usage: standin_fast --ok FROM-TO [--hang FROM-TO] [--ready-file F]\n");
            return 2;
        }
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    long n_fd = (long)(getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024);
    struct conn **conns = calloc((size_t)n_fd, sizeof *conns);
    if (ep < 0 || conns == NULL) {
        perror("standin_fast");
        return 1;
    }
    for (int pass = 0; pass < 2; pass++) {
        long from = pass ? hang_from : ok_from, to = pass ? hang_to : ok_to;
        for (long port = from; port <= to; port++) {
            int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
            struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
            if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
                bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 512) != 0) {
                fprintf(stderr, "standin_fast: port %ld: %s\n", port, strerror(errno));
                return 1;
            }
            struct epoll_event ev = { .events = EPOLLIN, .data.u32 = LISTENER | (pass ? 1u << 30 : 0) | (uint32_t)s };
            epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
        }
    }
    if (ready != NULL) {
        FILE *f = fopen(ready, "w");
        if (f != NULL) {
            fprintf(f, "%d\n", (int)getpid());
            fclose(f);
        }
    }
    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, 500);
        for (int i = 0; i < n; i++) {
            uint32_t d = evs[i].data.u32;
            if (d & LISTENER) {
                int ls = (int)(d & ((1u << 30) - 1)), hang = (d >> 30) & 1;
                for (;;) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    if (hang || fd >= n_fd)
                        continue;   /* held open, never read */
                    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)fd };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            int fd = (int)d;
            struct conn *c = conns[fd];
            if (c == NULL && (c = conns[fd] = calloc(1, sizeof *c)) == NULL) {
                close(fd);
                continue;
            }
            ssize_t r = read(fd, c->buf + c->len, REQ_MAX - 1 - c->len);
            if (r > 0) {
                c->len += (size_t)r;
                c->buf[c->len] = '\0';
                if (strstr(c->buf, "\r\n\r\n") == NULL && c->len < REQ_MAX - 1)
                    continue;
                answer(fd, c);
            } else if (r < 0 && errno == EAGAIN) {
                continue;
            }
            free(c);
            conns[fd] = NULL;
            close(fd);
        }
    }
    if (ready != NULL)
        unlink(ready);
    return 0;
}

/* wsb_sim.c: the driver of `make sim` (tests/sim/run.sh): sends requests
 * over FastCGI to handler pools, as the web servers of several hosts
 * would, and follows every answer as a client that connected to the node
 * it was given, against the frozen probe state the pools read.
 *
 *   wsb_sim --state FILE --sockets S1[,S2...] --clients FILE [options]
 *
 *   --state FILE     the JSON array of node records written with
 *                    wsb_statectl (the frozen round the pools answer from)
 *   --sockets LIST   unix sockets of the pools, comma-separated; requests
 *                    go to them in turn, over kept connections
 *                    (FCGI_KEEP_CONN), --conns of them per socket, each
 *                    with one request in flight
 *   --clients FILE   client addresses (REMOTE_ADDR), one a line, used in
 *                    turn; GeoIP (WSB_GEOIP_DB) places them, with the
 *                    handlers' own lookup code (handler/geo.c)
 *   --requests N     fresh clients to send (default 1000)
 *   --rate R         fresh clients per second (0, the default: as fast as
 *                    the pools answer)
 *   --conns C        connections per socket (default 32)
 *   --retry          a client turned away (503) asks again after its
 *                    Retry-After, until --until seconds from the start
 *   --until S        no request is sent after S seconds (default 120)
 *   --per-second     prints, second by second, the clients each node took
 *   --watch ID       prints, second by second, ID's share and the share its
 *                    room and slow-start factor give it
 *   --label TEXT     names the run in the SIM line
 *
 * The pools' settings are read from the same WSB_* variables the pools
 * get (WSB_MAX_LOAD, WSB_NEAR_KM, WSB_SLOW_START_*, WSB_GEOIP_DB).
 *
 * A node's true connections are its frozen connections plus the clients
 * sent to it in this run.  For each placed client the driver works out
 * what a balancer would do that knew what the fleet-wide accounting can
 * know (the clients sent at least one WSB_CACHE_MS ago): the usable nodes
 * (online, not drained, serving v1, room for one more), the nearest of
 * them, the candidates within WSB_NEAR_KM of it, and the probability of
 * each in proportion to its room times its slow-start factor (budgets
 * aside).  Summed over the clients, that is each node's "share of the
 * room"; for a burst faster than one refresh it is the share of the room
 * at the round's check.  The largest relative difference between it and
 * the share each node really took is the share error.  Overload events and
 * the nearest usable node (for "within 1.5 x") go by the true counts.
 * Printed: per node, then the figures, then
 * one line "SIM key=value ..." for the script.  Exit 0, or 1 on an error of
 * the run itself (a pool unreachable, a malformed answer, a bad argument). */
#include "clock.h"
#include "geo.h"
#include "handler_config.h"
#include "netaddr.h"
#include "node.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define EARTH_KM 6371.0
#define MAX_SOCKETS 8
#define MAX_SECONDS 3600
#define MAX_RETRY_AFTER 64
/* The share error counts the nodes expected to take at least this many
 * clients: for fewer, the random draw's own noise (one standard deviation
 * about 1 / sqrt(n)) is more than a third of the +-10 % band. */
#define MIN_COUNTED 500

/* FastCGI record types and the responder role. */
enum { FCGI_BEGIN = 1, FCGI_END = 3, FCGI_PARAMS = 4, FCGI_STDIN = 5, FCGI_STDOUT = 6 };

struct sim_node {
    struct wsb_node nd;
    int usable;                 /* online, not drained, serves v1 */
    double cap, conns;          /* connections: capacity and frozen count */
    double x, y, z;
    long took;                  /* clients sent to it in this run */
    long took_known;            /* of those, sent at least one WSB_CACHE_MS ago */
    long overloads;             /* answers that took it past max_load x capacity */
    double ideal;               /* its share of the room, summed over placed clients */
    double slow_start_s;        /* its window: the record's, else the pools' */
};

struct sim_client {
    char addr[64];
    int located;                /* GeoIP gave coordinates */
    double *dist;               /* km to each node, when located */
    unsigned char req[512];     /* the whole FastCGI request */
    size_t req_len;
};

struct sim_conn {
    int fd;
    int sock;                   /* index of its socket */
    int busy;
    long client;                /* the client of the request in flight */
    size_t sent;                /* bytes of the request written */
    unsigned char in[16384];
    size_t in_len;
    char out[4096];             /* the answer's STDOUT */
    size_t out_len;
};

/* Clients placed farther than 1.5 x the nearest usable distance, by
 * (nearest node, node given). */
struct sim_miss {
    long n;
    double km_nearest, km_given;   /* summed */
};

struct retry {
    double due_ms;
    long client;
};

struct sim {
    /* settings */
    const char *state_path, *clients_path, *label, *watch_id;
    char *sockets[MAX_SOCKETS];
    int n_sockets, conns_per, retry, per_second;
    long requests;
    double rate, until_s;
    struct wsb_handler_config cfg;
    /* the fleet and the clients */
    struct sim_node *nodes;
    size_t n_nodes;
    long watch;                 /* index of --watch, -1 none */
    double *weights;            /* n_nodes: working memory of ideal_share */
    struct sim_miss *misses;    /* n_nodes x n_nodes */
    double *log_ms;             /* every placement in order: when (monotonic ms) */
    uint32_t *log_node;         /* and to which node */
    size_t n_log, cap_log, log_known;   /* log_known: those counted in took_known */
    struct sim_client *clients;
    size_t n_clients;
    /* the run */
    struct sim_conn *conns;
    int n_conns;
    int epfd;
    double t0_ms;               /* monotonic */
    long long t0_unix_ms;
    long fresh_sent, placed, e503, other, inflight, reconnects, placed_located, within, gave_up;
    long turned_away_with_room; /* 503 while some node had room */
    long ra_hist[MAX_RETRY_AFTER + 1];
    long per_socket[MAX_SOCKETS];   /* answers from each pool */
    int cursor[MAX_SOCKETS];        /* the connection of each socket to try first */
    struct retry *heap;
    size_t n_heap, cap_heap;
    long *sec_took;             /* [second][node] */
    long *sec_503;              /* [second] */
    double *sec_ideal;          /* [second]: --watch's share of the room */
    double *sec_factor;         /* [second]: --watch's slow-start factor, summed */
    long *sec_placed;           /* [second] */
    int last_sec;
    double last_answer_ms;
};

static double mono_ms(void)
{
    return (double)wsb_now_us() / 1000.0;
}

static void die(const char *what)
{
    fprintf(stderr, "wsb_sim: %s\n", what);
    exit(1);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, (cap *= 2) + 1);
            if (b == NULL)
                free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static void unit(double lat, double lon, double *x, double *y, double *z)
{
    double la = lat * M_PI / 180.0, lo = lon * M_PI / 180.0;
    *x = cos(la) * cos(lo);
    *y = cos(la) * sin(lo);
    *z = sin(la);
}

static double km_between(double ax, double ay, double az, double bx, double by, double bz)
{
    double d = ax * bx + ay * by + az * bz;
    d = d > 1 ? 1 : d < -1 ? -1 : d;
    return acos(d) * EARTH_KM;
}

/* The nodes of the state file, decoded by the handlers' own decoder. */
static void load_nodes(struct sim *s)
{
    size_t len;
    char *text = slurp(s->state_path, &len);
    if (text == NULL)
        die("cannot read the --state file");
    cJSON *arr = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        die("--state: not a JSON array of node records");
    s->n_nodes = (size_t)cJSON_GetArraySize(arr);
    s->nodes = calloc(s->n_nodes, sizeof *s->nodes);
    s->weights = calloc(s->n_nodes, sizeof *s->weights);
    s->misses = calloc(s->n_nodes * s->n_nodes, sizeof *s->misses);
    if (s->nodes == NULL || s->weights == NULL || s->misses == NULL)
        die("out of memory");
    size_t i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        char *rec = cJSON_PrintUnformatted(o);
        char err[WSB_ERRLEN];
        struct sim_node *n = &s->nodes[i++];
        if (!cJSON_IsString(id) || rec == NULL ||
            wsb_node_decode(id->valuestring, strlen(id->valuestring), rec, strlen(rec), &n->nd, err) != WSB_OK) {
            fprintf(stderr, "wsb_sim: --state: node %zu: %s\n", i - 1, cJSON_IsString(id) ? err : "no id");
            exit(1);
        }
        free(rec);
        int v1 = 0;
        for (size_t v = 0; v < n->nd.n_versions; v++)
            v1 |= n->nd.versions[v] == 1;
        int scheme = s->cfg.snap.allow_ws || strncmp(n->nd.endpoint, "wss://", 6) == 0;
        n->usable = n->nd.online && !n->nd.drain && v1 && scheme;
        if (n->nd.capacity < 1 || n->nd.connections < 0 || !n->nd.has_coords)
            die("--state: every node of a simulation needs capacity, connections, lat and lon");
        n->cap = (double)n->nd.capacity;
        n->conns = (double)n->nd.connections;
        n->slow_start_s = n->nd.slow_start_s >= 0 ? (double)n->nd.slow_start_s : s->cfg.snap.slow_start_s;
        unit(n->nd.lat, n->nd.lon, &n->x, &n->y, &n->z);
        for (size_t j = 0; j + 1 < i; j++)
            if (strcmp(s->nodes[j].nd.endpoint, n->nd.endpoint) == 0)
                die("--state: two nodes share an endpoint: answers could not be told apart");
        if (s->watch_id != NULL && strcmp(s->watch_id, n->nd.id) == 0)
            s->watch = (long)(i - 1);
    }
    cJSON_Delete(arr);
    if (s->watch_id != NULL && s->watch < 0)
        die("--watch: no such node in --state");
}

/* A FastCGI record header into p. */
static unsigned char *record(unsigned char *p, int type, size_t clen)
{
    p[0] = 1;
    p[1] = (unsigned char)type;
    p[2] = 0;
    p[3] = 1;   /* request id 1: one request at a time on a connection */
    p[4] = (unsigned char)(clen >> 8);
    p[5] = (unsigned char)(clen & 0xff);
    p[6] = 0;
    p[7] = 0;
    return p + 8;
}

static unsigned char *name_value(unsigned char *p, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    *p++ = (unsigned char)n;   /* every name and value here is < 128 bytes */
    *p++ = (unsigned char)v;
    memcpy(p, name, n);
    memcpy(p + n, value, v);
    return p + n + v;
}

/* The whole request of a client: BEGIN (responder, keep the connection),
 * its PARAMS, the empty PARAMS and the empty STDIN. */
static void build_request(struct sim_client *c)
{
    unsigned char params[400], *q = params;
    q = name_value(q, "GATEWAY_INTERFACE", "CGI/1.1");
    q = name_value(q, "REQUEST_METHOD", "GET");
    q = name_value(q, "REQUEST_URI", "/v1/websocket/server");
    q = name_value(q, "SCRIPT_NAME", "/v1/websocket/server");
    q = name_value(q, "SERVER_PROTOCOL", "HTTP/1.1");
    q = name_value(q, "REMOTE_ADDR", c->addr);
    size_t plen = (size_t)(q - params);
    unsigned char *p = c->req;
    p = record(p, FCGI_BEGIN, 8);
    static const unsigned char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };   /* responder, FCGI_KEEP_CONN */
    memcpy(p, begin, 8);
    p += 8;
    p = record(p, FCGI_PARAMS, plen);
    memcpy(p, params, plen);
    p += plen;
    p = record(p, FCGI_PARAMS, 0);
    p = record(p, FCGI_STDIN, 0);
    c->req_len = (size_t)(p - c->req);
}

/* The client addresses, placed by the handlers' GeoIP code. */
static void load_clients(struct sim *s)
{
    FILE *f = fopen(s->clients_path, "r");
    if (f == NULL)
        die("cannot read the --clients file");
    struct wsb_geo *geo = NULL;
    if (s->cfg.geoip_path[0] != '\0') {
        geo = wsb_geo_new(s->cfg.geoip_path, 1000);
        char why[WSB_ERRLEN];
        if (geo == NULL || wsb_geo_status(geo, why) != WSB_OK)
            die("WSB_GEOIP_DB: cannot open the database");
    }
    char line[256];
    size_t cap = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, " \t\r\n#")] = '\0';
        if (line[0] == '\0')
            continue;
        size_t len = strlen(line);
        if (len >= sizeof s->clients[0].addr)
            die("--clients: address too long");
        if (s->n_clients == cap) {
            cap = cap ? 2 * cap : 64;
            struct sim_client *c = realloc(s->clients, cap * sizeof *c);
            if (c == NULL)
                die("out of memory");
            s->clients = c;
        }
        struct sim_client *c = &s->clients[s->n_clients++];
        memset(c, 0, sizeof *c);
        memcpy(c->addr, line, len + 1);
        build_request(c);
        struct wsb_ip ip;
        struct wsb_client_loc loc;
        if (geo == NULL || wsb_ip_parse(line, len, &ip) != WSB_OK || !wsb_geo_lookup(geo, &ip, &loc) ||
            !loc.has_coords)
            continue;
        c->located = 1;
        c->dist = malloc(s->n_nodes * sizeof *c->dist);
        if (c->dist == NULL)
            die("out of memory");
        double x, y, z;
        unit(loc.lat, loc.lon, &x, &y, &z);
        for (size_t i = 0; i < s->n_nodes; i++)
            c->dist[i] = km_between(x, y, z, s->nodes[i].x, s->nodes[i].y, s->nodes[i].z);
    }
    fclose(f);
    wsb_geo_free(geo);
    if (s->n_clients == 0)
        die("--clients: no addresses");
}

static void open_conn(struct sim *s, struct sim_conn *c)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", s->sockets[c->sock]);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "wsb_sim: %s: %s\n", s->sockets[c->sock], strerror(errno));
        exit(1);
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl");
    c->busy = 0;
    c->in_len = c->out_len = 0;
}

static void heap_push(struct sim *s, double due, long client)
{
    if (s->n_heap == s->cap_heap) {
        s->cap_heap = s->cap_heap ? 2 * s->cap_heap : 1024;
        struct retry *h = realloc(s->heap, s->cap_heap * sizeof *h);
        if (h == NULL)
            die("out of memory");
        s->heap = h;
    }
    size_t i = s->n_heap++;
    while (i > 0 && s->heap[(i - 1) / 2].due_ms > due) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = (struct retry){ due, client };
}

static struct retry heap_pop(struct sim *s)
{
    struct retry top = s->heap[0], last = s->heap[--s->n_heap];
    size_t i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= s->n_heap)
            break;
        if (k + 1 < s->n_heap && s->heap[k + 1].due_ms < s->heap[k].due_ms)
            k++;
        if (s->heap[k].due_ms >= last.due_ms)
            break;
        s->heap[i] = s->heap[k];
        i = k;
    }
    if (s->n_heap > 0)
        s->heap[i] = last;
    return top;
}

/* Writes what is left of c's request; arms EPOLLOUT when the socket is
 * full. */
static void send_more(struct sim *s, struct sim_conn *c)
{
    const struct sim_client *cl = &s->clients[c->client];
    while (c->sent < cl->req_len) {
        ssize_t w = write(c->fd, cl->req + c->sent, cl->req_len - c->sent);
        if (w > 0) {
            c->sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
            epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
            return;
        }
        return;   /* the read side finds the connection closed */
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void start_request(struct sim *s, struct sim_conn *c, long client)
{
    c->busy = 1;
    c->client = client;
    c->sent = 0;
    c->in_len = c->out_len = 0;
    s->inflight++;
    send_more(s, c);
}

/* The slow-start factor of node n at unix time now_ms, as the pools are
 * configured (Envoy's shape). */
static double slow_start(const struct sim *s, const struct sim_node *n, long long now_ms)
{
    if (n->slow_start_s <= 0 || n->nd.changed_at <= 0)
        return 1.0;
    double elapsed = (double)now_ms / 1000.0 - (double)n->nd.changed_at;
    if (elapsed >= n->slow_start_s)
        return 1.0;
    if (elapsed < 0)
        elapsed = 0;
    double f = pow(elapsed / n->slow_start_s, 1.0 / s->cfg.snap.slow_start_aggression);
    return f > s->cfg.snap.slow_start_min ? f : s->cfg.snap.slow_start_min;
}

/* A node's room: its true room (the clients sent to it so far counted),
 * or the room the fleet can know of (only those sent at least one
 * WSB_CACHE_MS ago counted: the fleet-wide accounting's own lag). */
static double room_of(const struct sim *s, const struct sim_node *n, int known)
{
    return s->cfg.snap.max_load * n->cap - n->conns - (double)(known ? n->took_known : n->took);
}

/* Distance of client c to node i: 0 for a client GeoIP does not place
 * (the pools then choose among every node). */
static double dist_of(const struct sim_client *c, size_t i)
{
    return c->located ? c->dist[i] : 0.0;
}

/* The distance from client c to the nearest usable node with room (true
 * or known, as room_of), its index in *nearest_i; -1 when none has room. */
static double nearest_usable(const struct sim *s, const struct sim_client *c, int known, size_t *nearest_i)
{
    double nearest = -1;
    for (size_t i = 0; i < s->n_nodes; i++) {
        const struct sim_node *n = &s->nodes[i];
        if (n->usable && room_of(s, n, known) >= 1 && (nearest < 0 || dist_of(c, i) < nearest)) {
            nearest = dist_of(c, i);
            *nearest_i = i;
        }
    }
    return nearest;
}

/* Counts as known the answers of one WSB_CACHE_MS ago and more. */
static void catch_up(struct sim *s, double now)
{
    while (s->log_known < s->n_log && s->log_ms[s->log_known] <= now - (double)s->cfg.cache_ms)
        s->nodes[s->log_node[s->log_known++]].took_known++;
}

/* Client c's share of the room, as the fleet can know it now: among the
 * usable nodes in the near band of the nearest with room (select.h), each in
 * proportion to its room times its slow-start factor.  Adds each
 * candidate's probability to its ideal (and the watched node's to
 * sec_ideal). */
static void ideal_share(struct sim *s, const struct sim_client *c, int sec)
{
    double now_mono = mono_ms();
    catch_up(s, now_mono);
    size_t near_i;
    double nearest = nearest_usable(s, c, 1, &near_i);
    if (nearest < 0)
        return;
    long long now = s->t0_unix_ms + (long long)(now_mono - s->t0_ms);
    /* The band of select.h: half again the nearest's distance, at least
     * WSB_NEAR_MIN_KM (unless WSB_NEAR_KM is less), at most WSB_NEAR_KM. */
    double band = fmin(s->cfg.snap.near_km, fmax(nearest / 2, fmin(s->cfg.snap.near_km, 50.0)));
    double *w = s->weights, total = 0;
    for (size_t i = 0; i < s->n_nodes; i++) {
        const struct sim_node *n = &s->nodes[i];
        w[i] = 0;
        if (n->usable && room_of(s, n, 1) >= 1 && dist_of(c, i) <= nearest + band + 1e-6)
            w[i] = room_of(s, n, 1) * slow_start(s, n, now);
        total += w[i];
    }
    for (size_t i = 0; i < s->n_nodes && total > 0; i++)
        s->nodes[i].ideal += w[i] / total;
    if (s->watch >= 0 && total > 0) {
        s->sec_ideal[sec] += w[s->watch] / total;
        s->sec_factor[sec] += slow_start(s, &s->nodes[s->watch], now);
    }
}

/* Logs one answer sent to node j at now (monotonic ms). */
static void log_answer(struct sim *s, size_t j, double now)
{
    if (s->n_log == s->cap_log) {
        s->cap_log = s->cap_log ? 2 * s->cap_log : 65536;
        double *t = realloc(s->log_ms, s->cap_log * sizeof *t);
        if (t != NULL)
            s->log_ms = t;
        uint32_t *n = realloc(s->log_node, s->cap_log * sizeof *n);
        if (n != NULL)
            s->log_node = n;
        if (t == NULL || n == NULL)
            die("out of memory");
    }
    s->log_ms[s->n_log] = now;
    s->log_node[s->n_log++] = (uint32_t)j;
}

/* The value of header name in the CGI head of the answer, or NULL. */
static const char *header(const char *out, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = out; p != NULL && *p != '\0' && !(p[0] == '\r' && p[1] == '\n');) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':')
            return p + n + 1 + (p[n + 1] == ' ');
        p = strstr(p, "\r\n");
        if (p != NULL)
            p += 2;
    }
    return NULL;
}

/* One whole answer on c: counted, and its client followed. */
static void take_answer(struct sim *s, struct sim_conn *c)
{
    double now = mono_ms();
    s->last_answer_ms = now;
    int sec = (int)((now - s->t0_ms) / 1000.0);
    if (sec >= MAX_SECONDS)
        sec = MAX_SECONDS - 1;
    if (sec > s->last_sec)
        s->last_sec = sec;
    c->out[c->out_len < sizeof c->out ? c->out_len : sizeof c->out - 1] = '\0';
    const char *st = header(c->out, "Status");
    int status = st != NULL ? atoi(st) : 200;
    const struct sim_client *cl = &s->clients[c->client];
    if (status == 200) {
        const char *ep = strstr(c->out, "\"endpoint\":\"");
        size_t j = s->n_nodes;
        if (ep != NULL) {
            ep += 12;
            size_t len = strcspn(ep, "\"");
            for (j = 0; j < s->n_nodes; j++)
                if (strlen(s->nodes[j].nd.endpoint) == len && memcmp(s->nodes[j].nd.endpoint, ep, len) == 0)
                    break;
        }
        if (j == s->n_nodes) {
            fprintf(stderr, "wsb_sim: an answer names no node of --state: %.300s\n", c->out);
            exit(1);
        }
        ideal_share(s, cl, sec);
        size_t near_i = 0;
        double nearest = nearest_usable(s, cl, 0, &near_i);
        if (cl->located) {
            s->placed_located++;
            if (nearest >= 0 && cl->dist[j] <= 1.5 * nearest + 1.0) {
                s->within++;
            } else if (nearest >= 0) {
                struct sim_miss *m = &s->misses[near_i * s->n_nodes + j];
                m->n++;
                m->km_nearest += nearest;
                m->km_given += cl->dist[j];
            }
        }
        struct sim_node *n = &s->nodes[j];
        n->took++;
        log_answer(s, j, now);
        if (n->conns + (double)n->took > s->cfg.snap.max_load * n->cap + 1e-9)
            n->overloads++;
        s->placed++;
        s->sec_took[(size_t)sec * s->n_nodes + j]++;
        s->sec_placed[sec]++;
    } else if (status == 503) {
        s->e503++;
        s->sec_503[sec]++;
        size_t near_i;
        s->turned_away_with_room += nearest_usable(s, cl, 0, &near_i) >= 0;
        const char *ra = header(c->out, "Retry-After");
        int r = ra != NULL ? atoi(ra) : 0;
        s->ra_hist[r < 0 ? 0 : r > MAX_RETRY_AFTER ? MAX_RETRY_AFTER : r]++;
        if (s->retry) {
            double due = now + 1000.0 * r;
            if (due - s->t0_ms < s->until_s * 1000.0)
                heap_push(s, due, c->client);
            else
                s->gave_up++;
        }
    } else {
        s->other++;
        fprintf(stderr, "wsb_sim: unexpected answer %d: %.200s\n", status, c->out);
    }
    s->per_socket[c->sock]++;
    c->busy = 0;
    s->inflight--;
}

/* Reads what c has; takes its answer when the END_REQUEST record came. */
static void on_readable(struct sim *s, struct sim_conn *c)
{
    for (;;) {
        ssize_t r = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            break;
        if (r <= 0) {
            /* Closed by the pool: the request (if any) goes again on a new
             * connection. */
            long client = c->client;
            int was_busy = c->busy;
            epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            s->reconnects++;
            open_conn(s, c);
            if (was_busy) {
                s->inflight--;
                start_request(s, c, client);
            }
            return;
        }
        c->in_len += (size_t)r;
        size_t off = 0;
        while (c->in_len - off >= 8) {
            const unsigned char *h = c->in + off;
            size_t clen = ((size_t)h[4] << 8) | h[5], plen = h[6];
            if (c->in_len - off < 8 + clen + plen)
                break;
            if (h[1] == FCGI_STDOUT && clen > 0) {
                size_t room = sizeof c->out - 1 - c->out_len;
                size_t k = clen < room ? clen : room;
                memcpy(c->out + c->out_len, h + 8, k);
                c->out_len += k;
            }
            off += 8 + clen + plen;
            if (h[1] == FCGI_END && c->busy)
                take_answer(s, c);
        }
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

/* An idle connection, taking the sockets in turn and, within a socket,
 * its connections in turn (so that a slow rate still spreads over every
 * connection, hence over every process of the pool). */
static struct sim_conn *idle_conn(struct sim *s, int *turn)
{
    for (int k = 0; k < s->n_sockets; k++) {
        int sock = (*turn + k) % s->n_sockets;
        for (int j = 0; j < s->conns_per; j++) {
            int slot = (s->cursor[sock] + j) % s->conns_per;
            struct sim_conn *c = &s->conns[slot * s->n_sockets + sock];
            if (!c->busy) {
                s->cursor[sock] = slot + 1;
                *turn = sock + 1;
                return c;
            }
        }
    }
    return NULL;
}

static void run(struct sim *s)
{
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0)
        die("epoll_create1");
    s->n_conns = s->n_sockets * s->conns_per;
    s->conns = calloc((size_t)s->n_conns, sizeof *s->conns);
    if (s->conns == NULL)
        die("out of memory");
    for (int i = 0; i < s->n_conns; i++) {
        s->conns[i].sock = i % s->n_sockets;   /* connection i goes to socket i mod n */
        open_conn(s, &s->conns[i]);
    }
    s->t0_ms = mono_ms();
    s->t0_unix_ms = wsb_unix_ms();
    int turn = 0;
    long next_client = 0;
    struct epoll_event evs[256];
    for (;;) {
        double now = mono_ms();
        int stop = now - s->t0_ms >= s->until_s * 1000.0;
        double wake = now + 50;
        struct sim_conn *c;
        while (!stop && (c = idle_conn(s, &turn)) != NULL) {
            if (s->n_heap > 0 && s->heap[0].due_ms <= now) {
                start_request(s, c, heap_pop(s).client);
                continue;
            }
            if (s->fresh_sent >= s->requests)
                break;
            double due = s->rate > 0 ? s->t0_ms + 1000.0 * (double)s->fresh_sent / s->rate : now;
            if (due > now) {
                wake = due < wake ? due : wake;
                break;
            }
            start_request(s, c, next_client);
            next_client = (next_client + 1) % (long)s->n_clients;
            s->fresh_sent++;
        }
        if (s->n_heap > 0 && s->heap[0].due_ms < wake)
            wake = s->heap[0].due_ms;
        int done = s->inflight == 0 && (stop || (s->fresh_sent >= s->requests && s->n_heap == 0));
        if (done)
            break;
        int timeout = (int)ceil(wake - mono_ms());
        int n = epoll_wait(s->epfd, evs, 256, timeout < 0 ? 0 : timeout);
        for (int i = 0; i < n; i++) {
            struct sim_conn *cc = evs[i].data.ptr;
            if (evs[i].events & EPOLLOUT)
                send_more(s, cc);
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(s, cc);
        }
    }
    s->gave_up += (long)s->n_heap;
    for (int i = 0; i < s->n_conns; i++)
        close(s->conns[i].fd);
    close(s->epfd);
}

static void report(struct sim *s)
{
    double secs = (s->last_answer_ms - s->t0_ms) / 1000.0;
    double ml = s->cfg.snap.max_load;
    long asked = s->placed + s->e503 + s->other;
    printf("  %ld answers in %.2f s (%.0f req/s; %d pools x %d connections), %ld placed, %ld answered 503",
           asked, secs, secs > 0 ? (double)asked / secs : 0.0, s->n_sockets, s->conns_per, s->placed, s->e503);
    if (s->retry)
        printf(", %ld fresh clients, %ld still waiting at the end", s->fresh_sent, s->gave_up);
    printf("\n  answers per pool:");
    for (int i = 0; i < s->n_sockets; i++)
        printf(" %s %ld", strrchr(s->sockets[i], '/') ? strrchr(s->sockets[i], '/') + 1 : s->sockets[i],
               s->per_socket[i]);
    printf("\n");
    printf("  %-10s %9s %9s %9s %7s %7s %7s %8s %9s %9s\n", "node", "capacity", "conns", "room", "of room", "share",
           "error", "took", "load/max", "overloads");
    double peak = 0, worst = 0, room_total = 0;
    long overloads = 0;
    const char *peak_id = "-", *worst_id = "-";
    for (size_t i = 0; i < s->n_nodes; i++) {
        const struct sim_node *n = &s->nodes[i];
        if (n->usable)
            room_total += fmax(0, ml * n->cap - n->conns);
    }
    for (size_t i = 0; i < s->n_nodes; i++) {
        const struct sim_node *n = &s->nodes[i];
        double load = (n->conns + (double)n->took) / n->cap / ml;
        double of_room = s->placed ? n->ideal / (double)s->placed : 0, share = s->placed ? (double)n->took / (double)s->placed : 0;
        double err = n->ideal > 0 ? ((double)n->took - n->ideal) / n->ideal : 0;
        char errs[16] = "-";
        /* A node expected to take few clients shows its error, but the
         * draw's own noise rules it: not in the largest (see MIN_COUNTED). */
        if (n->ideal > 0)
            snprintf(errs, sizeof errs, "%+.1f%%", 100 * err);
        if (n->ideal >= MIN_COUNTED && fabs(err) > worst) {
            worst = fabs(err);
            worst_id = n->nd.id;
        }
        if (n->took > 0 && load > peak) {
            peak = load;
            peak_id = n->nd.id;
        }
        overloads += n->overloads;
        char room[24];
        if (n->usable)
            snprintf(room, sizeof room, "%.0f", ml * n->cap - n->conns);
        else
            snprintf(room, sizeof room, "%s", n->nd.online ? "drained" : "offline");
        printf("  %-10s %9.0f %9.0f %9s %6.1f%% %6.1f%% %7s %8ld %9.3f %9ld\n", n->nd.id, n->cap, n->conns, room,
               100 * of_room, 100 * share, errs, n->took, load, n->overloads);
    }
    printf("  peak projected load / WSB_MAX_LOAD: %.3f (%s)   largest share error: %.1f%% (%s)   overload events: %ld\n",
           peak, peak_id, 100 * worst, worst_id, overloads);
    printf("  burst: %.0f%% of the usable nodes' room at the start (%.0f)", room_total > 0 ? 100.0 * (double)s->fresh_sent / room_total : 0,
           room_total);
    printf("   within 1.5 x nearest usable distance: %.1f%% (%ld of %ld located)\n",
           s->placed_located ? 100.0 * (double)s->within / (double)s->placed_located : 100.0, s->within,
           s->placed_located);
    /* The most frequent misses, largest first. */
    for (int k = 0; k < 5; k++) {
        size_t best = 0;
        long most = 0;
        for (size_t m = 0; m < s->n_nodes * s->n_nodes; m++)
            if (s->misses[m].n > most) {
                most = s->misses[m].n;
                best = m;
            }
        if (most == 0)
            break;
        struct sim_miss *m = &s->misses[best];
        printf("    outside 1.5 x: %ld clients whose nearest usable node was %s (%.0f km on average) went to %s (%.0f km)\n",
               m->n, s->nodes[best / s->n_nodes].nd.id, m->km_nearest / (double)m->n, s->nodes[best % s->n_nodes].nd.id,
               m->km_given / (double)m->n);
        m->n = -m->n;   /* printed */
    }
    int ra_min = -1, ra_max = -1, distinct = 0;
    char hist[512] = "";
    for (int r = 0; r <= MAX_RETRY_AFTER; r++)
        if (s->ra_hist[r] > 0) {
            if (ra_min < 0)
                ra_min = r;
            ra_max = r;
            distinct++;
            size_t l = strlen(hist);
            snprintf(hist + l, sizeof hist - l, "%s%d s: %ld", l ? ", " : "", r, s->ra_hist[r]);
        }
    if (s->e503 > 0)
        printf("  503 answers: %ld (%ld while some node had room); Retry-After %d..%d s, %d distinct values (%s)\n",
               s->e503, s->turned_away_with_room, ra_min, ra_max, distinct, hist);
    if (s->per_second) {
        printf("  clients taken per second%s:\n  %4s %7s %6s", s->watch >= 0 ? "" : "", "s", "placed", "503");
        for (size_t i = 0; i < s->n_nodes; i++) {
            char head[40];
            if (s->nodes[i].nd.max_new_per_s > 0)
                snprintf(head, sizeof head, "%s/%lld", s->nodes[i].nd.id, s->nodes[i].nd.max_new_per_s);
            else
                snprintf(head, sizeof head, "%s", s->nodes[i].nd.id);
            printf(" %10s", head);
        }
        printf("\n");
        for (int t = 0; t <= s->last_sec; t++) {
            printf("  %4d %7ld %6ld", t, s->sec_placed[t], s->sec_503[t]);
            for (size_t i = 0; i < s->n_nodes; i++)
                printf(" %10ld", s->sec_took[(size_t)t * s->n_nodes + i]);
            printf("\n");
        }
    }
    if (s->watch >= 0) {
        const struct sim_node *w = &s->nodes[s->watch];
        printf("  %s second by second (its share; the share its room and slow-start factor give it):\n", w->nd.id);
        for (int t = 0; t <= s->last_sec; t++) {
            long p = s->sec_placed[t];
            if (p < 50)
                continue;   /* the tail of the run: too few to say anything */
            double since = (double)(s->t0_unix_ms / 1000 + t) - (double)w->nd.changed_at;
            double share = (double)s->sec_took[(size_t)t * s->n_nodes + (size_t)s->watch] / (double)p;
            int bar = (int)(share * 100 + 0.5);
            printf("  %+5.0f s since changed_at  factor %.2f  share %5.1f%% (room gives %5.1f%%)  %.*s\n", since,
                   s->sec_factor[t] / (double)p, 100 * share, 100 * s->sec_ideal[t] / (double)p, bar / 2,
                   "##################################################");
        }
    }
    /* Budgets: the most starts a node took in one second, and its mean
     * over the seconds in which it took any. */
    double budget_ratio = 0, budget_ratio_after = 0;
    for (size_t i = 0; i < s->n_nodes; i++) {
        const struct sim_node *n = &s->nodes[i];
        if (n->nd.max_new_per_s <= 0)
            continue;
        long most = 0, most_after = 0, sum = 0, k = 0;
        int at = 0;
        for (int t = 0; t <= s->last_sec; t++) {
            long v = s->sec_took[(size_t)t * s->n_nodes + i];
            if (t >= 1 && v > most_after)
                most_after = v;   /* once every process has exchanged its counts */
            if (v > most) {
                most = v;
                at = t;
            }
            sum += v;
            k += v > 0;
        }
        double ratio = (double)most / (double)n->nd.max_new_per_s;
        double after = (double)most_after / (double)n->nd.max_new_per_s;
        budget_ratio = ratio > budget_ratio ? ratio : budget_ratio;
        budget_ratio_after = after > budget_ratio_after ? after : budget_ratio_after;
        printf("  %-10s budget %5lld/s: took %ld/s at most (%.2f x budget, second %d), %.0f/s on average over the %ld "
               "seconds it took clients\n",
               n->nd.id, n->nd.max_new_per_s, most, ratio, at, k ? (double)sum / (double)k : 0.0, k);
    }
    printf("SIM label=%s requests=%ld placed=%ld e503=%ld other=%ld secs=%.3f rps=%.0f peak=%.4f share_err=%.4f "
           "overloads=%ld within=%.4f located=%ld burst_of_room=%.4f ra_min=%d ra_max=%d ra_distinct=%d "
           "budget_ratio=%.3f budget_ratio_after=%.3f waiting=%ld turned_away_with_room=%ld\n",
           s->label, asked, s->placed, s->e503, s->other, secs, secs > 0 ? (double)asked / secs : 0.0, peak, worst,
           overloads, s->placed_located ? (double)s->within / (double)s->placed_located : 1.0, s->placed_located,
           room_total > 0 ? (double)s->fresh_sent / room_total : 0, ra_min, ra_max, distinct, budget_ratio,
           budget_ratio_after, s->gave_up,
           s->turned_away_with_room);
}

static void usage(void)
{
    fprintf(stderr, "usage: wsb_sim --state FILE --sockets S1[,S2...] --clients FILE [--requests N] [--rate R] "
                    "[--conns C] [--retry] [--until S] [--per-second] [--watch ID] [--label TEXT]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static struct sim s;
    s.requests = 1000;
    s.conns_per = 32;
    s.until_s = 120;
    s.label = "run";
    s.watch = -1;
    char *sockets = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--retry") == 0)
            s.retry = 1;
        else if (strcmp(a, "--per-second") == 0)
            s.per_second = 1;
        else if (v == NULL)
            usage();
        else if (strcmp(a, "--state") == 0)
            s.state_path = argv[++i];
        else if (strcmp(a, "--sockets") == 0)
            sockets = argv[++i];
        else if (strcmp(a, "--clients") == 0)
            s.clients_path = argv[++i];
        else if (strcmp(a, "--requests") == 0)
            s.requests = atol(argv[++i]);
        else if (strcmp(a, "--rate") == 0)
            s.rate = atof(argv[++i]);
        else if (strcmp(a, "--conns") == 0)
            s.conns_per = atoi(argv[++i]);
        else if (strcmp(a, "--until") == 0)
            s.until_s = atof(argv[++i]);
        else if (strcmp(a, "--watch") == 0)
            s.watch_id = argv[++i];
        else if (strcmp(a, "--label") == 0)
            s.label = argv[++i];
        else
            usage();
    }
    if (s.state_path == NULL || sockets == NULL || s.clients_path == NULL || s.requests < 0 || s.conns_per < 1 ||
        s.conns_per > 1000 || s.until_s <= 0 || s.until_s > MAX_SECONDS - 1)
        usage();
    for (char *tok = strtok(sockets, ","); tok != NULL; tok = strtok(NULL, ",")) {
        if (s.n_sockets == MAX_SOCKETS)
            usage();
        s.sockets[s.n_sockets++] = tok;
    }
    if (s.n_sockets == 0)
        usage();
    char err[WSB_ERRLEN];
    if (wsb_handler_config_from_env(&s.cfg, err) != WSB_OK) {
        fprintf(stderr, "wsb_sim: %s\n", err);
        return 2;
    }
    load_nodes(&s);
    load_clients(&s);
    s.sec_took = calloc((size_t)MAX_SECONDS * s.n_nodes, sizeof *s.sec_took);
    s.sec_503 = calloc(MAX_SECONDS, sizeof *s.sec_503);
    s.sec_placed = calloc(MAX_SECONDS, sizeof *s.sec_placed);
    s.sec_ideal = calloc(MAX_SECONDS, sizeof *s.sec_ideal);
    s.sec_factor = calloc(MAX_SECONDS, sizeof *s.sec_factor);
    if (s.sec_took == NULL || s.sec_503 == NULL || s.sec_placed == NULL || s.sec_ideal == NULL || s.sec_factor == NULL)
        die("out of memory");
    run(&s);
    report(&s);
    for (size_t i = 0; i < s.n_nodes; i++)
        wsb_node_clear(&s.nodes[i].nd);
    for (size_t i = 0; i < s.n_clients; i++)
        free(s.clients[i].dist);
    free(s.nodes);
    free(s.weights);
    free(s.misses);
    free(s.log_ms);
    free(s.log_node);
    free(s.clients);
    free(s.conns);
    free(s.heap);
    free(s.sec_took);
    free(s.sec_503);
    free(s.sec_placed);
    free(s.sec_ideal);
    free(s.sec_factor);
    wsb_handler_config_free(&s.cfg);
    return s.other > 0 ? 1 : 0;
}

/* redis.c: Redis connections with failover over the configured addresses,
 * and through Redis Sentinel to the current primary or a healthy replica. */
#include "redis.h"
#include "clock.h"
#include "log.h"
#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long a connection to the primary taken for want of a healthy replica
 * (?role=replica) is kept before the sentinels are asked again. */
#define PRIMARY_FALLBACK_MS 10000

struct wsb_redis {
    struct wsb_redis_config cfg;
    redisContext *ctx;
    int stale;                     /* ctx said READONLY, MASTERDOWN or LOADING: replace it at the next get */
    unsigned long long gen;        /* of ctx, 0 when none */
    unsigned long long last_gen;   /* the last number given to a connection */
    char current[300];
    unsigned seed;                 /* for choosing among healthy replicas */
    int on_primary_fallback;       /* "no replica is up" was logged; cleared when one is again */
    long long fallback_until_ms;   /* monotonic; ctx is such a primary until then, 0 when not */
};

struct wsb_redis *wsb_redis_new(const struct wsb_redis_config *cfg)
{
    struct wsb_redis *r = calloc(1, sizeof *r);
    if (r != NULL) {
        r->cfg = *cfg;
        r->seed = (unsigned)getpid() ^ (unsigned)time(NULL) ^ (unsigned)(uintptr_t)r;
    }
    return r;
}

void wsb_redis_drop(struct wsb_redis *r)
{
    if (r->ctx != NULL) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
    r->stale = 0;
    r->fallback_until_ms = 0;
    r->gen = 0;
    r->current[0] = '\0';
}

void wsb_redis_free(struct wsb_redis *r)
{
    if (r == NULL)
        return;
    wsb_redis_drop(r);
    memset(&r->cfg, 0, sizeof r->cfg);
    free(r);
}

int wsb_redis_connected(const struct wsb_redis *r)
{
    return r->ctx != NULL && !r->stale;
}

const char *wsb_redis_current(const struct wsb_redis *r)
{
    return r->current;
}

unsigned long long wsb_redis_generation(const struct wsb_redis *r)
{
    return r->stale ? 0 : r->gen;
}

static struct timeval ms_to_tv(int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return tv;
}

/* Connects to one address, authenticates and selects the database.
 * Returns the context, or NULL with the reason in why. */
static redisContext *connect_one(const struct wsb_redis_addr *a, int connect_ms, int command_ms, char *why)
{
    struct timeval ctv = ms_to_tv(connect_ms), cmd = ms_to_tv(command_ms);
    redisContext *c = a->is_unix ? redisConnectUnixWithTimeout(a->path, ctv)
                                 : redisConnectWithTimeout(a->host, a->port, ctv);
    redisReply *reply = NULL;
    if (c == NULL) {
        wsb_fail(why, WSB_ENOMEM, "out of memory");
        return NULL;
    }
    if (c->err) {
        wsb_fail(why, WSB_EREDIS, "%s", c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, cmd) != REDIS_OK) {
        wsb_fail(why, WSB_EREDIS, "cannot set timeout: %s", c->errstr);
        goto fail;
    }
    if (a->password[0] != '\0') {
        reply = a->user[0] ? redisCommand(c, "AUTH %s %s", a->user, a->password)
                           : redisCommand(c, "AUTH %s", a->password);
        if (reply == NULL) {
            wsb_fail(why, WSB_EREDIS, "AUTH: %s", c->errstr);
            goto fail;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
            /* The error text names the failure, never the password. */
            wsb_fail(why, WSB_EREDIS, "AUTH refused: %.120s", reply->str);
            goto fail;
        }
        freeReplyObject(reply);
        reply = NULL;
    }
    if (a->db != 0) {
        reply = redisCommand(c, "SELECT %d", a->db);
        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            wsb_fail(why, WSB_EREDIS, "SELECT %d: %.120s", a->db, reply ? reply->str : c->errstr);
            goto fail;
        }
        freeReplyObject(reply);
    }
    return c;
fail:
    if (reply != NULL)
        freeReplyObject(reply);
    redisFree(c);
    return NULL;
}

/* Appends "who: why" to the reasons in all (size cap, *used filled),
 * each bounded so that several fit. */
static void add_reason(char *all, size_t cap, size_t *used, const char *who, const char *why)
{
    if (*used + 1 >= cap)
        return;
    int n = snprintf(all + *used, cap - *used, "%s%s: %.90s", *used ? "; " : "", who, why);
    if (n > 0)
        *used = *used + (size_t)n < cap ? *used + (size_t)n : cap - 1;
}

/* A data node a sentinel named. */
struct node_addr {
    char host[256];
    int port;
};

static int is_text(const redisReply *r)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* ip and port as a sentinel gives them into out. */
static int node_from(const redisReply *ip, const redisReply *port, struct node_addr *out, char *why)
{
    long p = 0;
    if (!is_text(ip) || !is_text(port) || ip->len == 0 || ip->len >= sizeof out->host || port->len == 0 ||
        port->len > 5)
        return wsb_fail(why, WSB_EREPLY, "unusable address in its answer");
    for (size_t i = 0; i < port->len; i++) {
        if (port->str[i] < '0' || port->str[i] > '9')
            return wsb_fail(why, WSB_EREPLY, "unusable port in its answer");
        p = p * 10 + (port->str[i] - '0');
    }
    if (p < 1 || p > 65535 || memchr(ip->str, '\0', ip->len) != NULL)
        return wsb_fail(why, WSB_EREPLY, "unusable address in its answer");
    memcpy(out->host, ip->str, ip->len);
    out->host[ip->len] = '\0';
    out->port = (int)p;
    return WSB_OK;
}

/* SENTINEL get-master-addr-by-name on sentinel s.  WSB_OK with *out;
 * else WSB_ENOTFOUND (the sentinel does not know master), WSB_EREDIS or
 * WSB_EREPLY, with why. */
static int ask_primary(redisContext *s, const char *master, struct node_addr *out, char *why)
{
    redisReply *rep = redisCommand(s, "SENTINEL get-master-addr-by-name %s", master);
    int status;
    if (rep == NULL)
        return wsb_fail(why, WSB_EREDIS, "%s", s->errstr[0] ? s->errstr : "no reply");
    if (rep->type == REDIS_REPLY_NIL)
        status = wsb_fail(why, WSB_ENOTFOUND, "does not know master %s", master);
    else if (rep->type == REDIS_REPLY_ERROR)
        status = wsb_fail(why, WSB_EREDIS, "%.80s", rep->str);
    else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
        status = wsb_fail(why, WSB_EREPLY, "unexpected answer to SENTINEL get-master-addr-by-name");
    else
        status = node_from(rep->element[0], rep->element[1], out, why);
    freeReplyObject(rep);
    return status;
}

/* Whether the comma-separated flags (len bytes) hold flag. */
static int has_flag(const char *flags, size_t len, const char *flag)
{
    size_t fl = strlen(flag);
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && flags[j] != ',')
            j++;
        if (j - i == fl && memcmp(flags + i, flag, fl) == 0)
            return 1;
        i = j + 1;
    }
    return 0;
}

/* Whether one entry of SENTINEL replicas (field, value, ...) is a replica
 * to read: not s_down, o_down or disconnected, its master link ok; its
 * address into out when so. */
static int healthy_replica(const redisReply *e, struct node_addr *out)
{
    const redisReply *ip = NULL, *port = NULL, *flags = NULL, *link = NULL;
    char why[WSB_ERRLEN];
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements % 2 != 0)
        return 0;
    for (size_t i = 0; i + 1 < e->elements; i += 2) {
        const redisReply *k = e->element[i], *v = e->element[i + 1];
        if (!is_text(k) || !is_text(v))
            continue;
        if (strcmp(k->str, "ip") == 0)
            ip = v;
        else if (strcmp(k->str, "port") == 0)
            port = v;
        else if (strcmp(k->str, "flags") == 0)
            flags = v;
        else if (strcmp(k->str, "master-link-status") == 0)
            link = v;
    }
    if (flags == NULL || link == NULL || strcmp(link->str, "ok") != 0 || has_flag(flags->str, flags->len, "s_down") ||
        has_flag(flags->str, flags->len, "o_down") || has_flag(flags->str, flags->len, "disconnected"))
        return 0;
    return node_from(ip, port, out, why) == WSB_OK;
}

/* SENTINEL replicas on sentinel s: one healthy replica, chosen at random
 * among them (handlers spread over the replicas).  WSB_OK with *out;
 * WSB_ENOTFOUND when none is healthy; else WSB_EREDIS or WSB_EREPLY; why
 * says which. */
static int ask_replica(redisContext *s, const char *master, unsigned *seed, struct node_addr *out, char *why)
{
    redisReply *rep = redisCommand(s, "SENTINEL replicas %s", master);
    struct node_addr n;
    int status = WSB_ENOTFOUND;
    if (rep == NULL)
        return wsb_fail(why, WSB_EREDIS, "%s", s->errstr[0] ? s->errstr : "no reply");
    if (rep->type == REDIS_REPLY_ERROR) {
        status = wsb_fail(why, WSB_EREDIS, "%.80s", rep->str);
        goto cleanup;
    }
    if (rep->type != REDIS_REPLY_ARRAY) {
        status = wsb_fail(why, WSB_EREPLY, "unexpected answer to SENTINEL replicas");
        goto cleanup;
    }
    size_t healthy = 0;
    for (size_t i = 0; i < rep->elements; i++)
        healthy += (size_t)healthy_replica(rep->element[i], &n);
    if (healthy == 0) {
        wsb_fail(why, WSB_ENOTFOUND, "%zu replica(s), none healthy", rep->elements);
        goto cleanup;
    }
    size_t pick = (size_t)rand_r(seed) % healthy;
    for (size_t i = 0; i < rep->elements; i++)
        if (healthy_replica(rep->element[i], &n) && pick-- == 0) {
            *out = n;
            status = WSB_OK;
            break;
        }
cleanup:
    freeReplyObject(rep);
    return status;
}

/* ROLE on c: a primary must answer "master"; a replica "slave" (or
 * "master": promoted since the sentinel answered).  WSB_OK, or WSB_EREDIS
 * with why. */
static int check_role(redisContext *c, int want_primary, char *why)
{
    redisReply *rep = redisCommand(c, "ROLE");
    int status = WSB_OK;
    if (rep == NULL)
        return wsb_fail(why, WSB_EREDIS, "ROLE: %s", c->errstr[0] ? c->errstr : "no reply");
    if (rep->type == REDIS_REPLY_ERROR)
        status = wsb_fail(why, WSB_EREDIS, "ROLE refused (%.60s): the Redis user needs +role", rep->str);
    else if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 || !is_text(rep->element[0]))
        status = wsb_fail(why, WSB_EREPLY, "unexpected answer to ROLE");
    else if (want_primary && strcmp(rep->element[0]->str, "master") != 0)
        status = wsb_fail(why, WSB_EREDIS, "is not the primary (ROLE %.10s)", rep->element[0]->str);
    else if (!want_primary && strcmp(rep->element[0]->str, "master") != 0 && strcmp(rep->element[0]->str, "slave") != 0)
        status = wsb_fail(why, WSB_EREDIS, "is no data node (ROLE %.10s)", rep->element[0]->str);
    freeReplyObject(rep);
    return status;
}

/* The data node of sentinel address a: each sentinel asked in turn until
 * one names a node that connects and has the right role.  Returns the
 * context with the node's description in current (size len), or NULL
 * with each sentinel's reason in why. */
static redisContext *connect_sentinel(struct wsb_redis *r, const struct wsb_redis_addr *a, char *current, size_t len,
                                      int *fallback_out, char *why)
{
    char all[WSB_ERRLEN] = "", w[WSB_ERRLEN], who[300], node_text[300];
    size_t used = 0;
    struct wsb_redis_addr sa, d;
    redisContext *c = NULL;
    memset(&sa, 0, sizeof sa);
    for (size_t i = 0; i < a->n_sentinels && c == NULL; i++) {
        snprintf(sa.host, sizeof sa.host, "%s", a->sentinels[i].host);
        sa.port = a->sentinels[i].port;
        int v6 = strchr(sa.host, ':') != NULL;
        snprintf(who, sizeof who, "%s%s%s:%d", v6 ? "[" : "", sa.host, v6 ? "]" : "", sa.port);
        redisContext *s = connect_one(&sa, r->cfg.connect_timeout_ms, r->cfg.command_timeout_ms, w);
        if (s == NULL) {
            add_reason(all, sizeof all, &used, who, w);
            continue;
        }
        struct node_addr node;
        int fallback = 0, status;
        char no_replica[WSB_ERRLEN] = "";
        if (a->role == WSB_REDIS_ROLE_REPLICA) {
            status = ask_replica(s, a->master, &r->seed, &node, w);
            if (status == WSB_ENOTFOUND) {
                snprintf(no_replica, sizeof no_replica, "%s", w);
                fallback = 1;
                status = ask_primary(s, a->master, &node, w);
            }
        } else {
            status = ask_primary(s, a->master, &node, w);
        }
        redisFree(s);
        if (status != WSB_OK) {
            add_reason(all, sizeof all, &used, who, w);
            continue;
        }
        int want_primary = a->role == WSB_REDIS_ROLE_MASTER || fallback;
        d = *a;
        d.is_sentinel = 0;
        d.is_unix = 0;
        snprintf(d.host, sizeof d.host, "%s", node.host);
        d.port = node.port;
        wsb_redis_addr_format(&d, node_text, sizeof node_text);
        c = connect_one(&d, r->cfg.connect_timeout_ms, r->cfg.command_timeout_ms, w);
        memset(d.password, 0, sizeof d.password);
        if (c != NULL && check_role(c, want_primary, w) != WSB_OK) {
            redisFree(c);
            c = NULL;
        }
        if (c == NULL) {
            char where[WSB_ERRLEN];
            snprintf(where, sizeof where, "%.120s %s %.100s", who, want_primary ? "primary" : "replica", node_text);
            add_reason(all, sizeof all, &used, where, w);
            continue;
        }
        if (fallback && !r->on_primary_fallback)
            wsb_log_warn("redis sentinel %s: no replica to read (%s); reading from the primary %s, asking again "
                         "every %d s", a->master, no_replica, node_text, PRIMARY_FALLBACK_MS / 1000);
        else if (!fallback && a->role == WSB_REDIS_ROLE_REPLICA && r->on_primary_fallback)
            wsb_log_info("redis sentinel %s: reading from the replica %s again", a->master, node_text);
        if (a->role == WSB_REDIS_ROLE_REPLICA)
            r->on_primary_fallback = fallback;
        *fallback_out = fallback;
        snprintf(current, len, "%.200s (sentinel %s %s)", node_text, a->master, want_primary ? "primary" : "replica");
    }
    if (c == NULL)
        wsb_fail(why, WSB_EREDIS, "%s", all[0] ? all : "no sentinel configured");
    return c;
}

redisContext *wsb_redis_get(struct wsb_redis *r, char *err)
{
    if (r->ctx != NULL && r->stale)
        wsb_redis_drop(r);
    if (r->ctx != NULL)
        return r->ctx;
    char all[WSB_ERRLEN] = "", addr[300], why[WSB_ERRLEN], who[320];
    size_t used = 0;
    for (size_t i = 0; i < r->cfg.n; i++) {
        const struct wsb_redis_addr *a = &r->cfg.addrs[i];
        redisContext *c;
        int fallback = 0;
        if (a->is_sentinel) {
            c = connect_sentinel(r, a, addr, sizeof addr, &fallback, why);
            snprintf(who, sizeof who, "redis sentinel %s", a->master);
        } else {
            c = connect_one(a, r->cfg.connect_timeout_ms, r->cfg.command_timeout_ms, why);
            wsb_redis_addr_format(a, addr, sizeof addr);
            snprintf(who, sizeof who, "redis %s", addr);
        }
        if (c != NULL) {
            r->ctx = c;
            r->stale = 0;
            r->fallback_until_ms = fallback ? wsb_now_ms() + PRIMARY_FALLBACK_MS : 0;
            if (r->last_gen == 0 && used > 0)   /* later reconnects are the callers' to tell */
                wsb_log_warn("redis %s: in use, as the addresses before it failed (%s)", addr, all);
            r->gen = ++r->last_gen;
            snprintf(r->current, sizeof r->current, "%s", addr);
            return c;
        }
        int n = snprintf(all + used, sizeof all - used, "%s%s: %s", used ? "; " : "", who, why);
        if (n > 0)
            used = used + (size_t)n < sizeof all ? used + (size_t)n : sizeof all - 1;
    }
    wsb_fail(err, WSB_EREDIS, "%s", all[0] ? all : "no redis address configured");
    return NULL;
}

/* Whether reply is an error that says the node is no longer what the
 * connection took it for. */
static int failover_error(const redisReply *reply)
{
    static const char *const codes[] = { "READONLY", "MASTERDOWN", "LOADING" };
    if (reply == NULL || reply->type != REDIS_REPLY_ERROR || reply->str == NULL)
        return 0;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        size_t n = strlen(codes[i]);
        if (strncmp(reply->str, codes[i], n) == 0 && (reply->str[n] == ' ' || reply->str[n] == '\0'))
            return 1;
    }
    return 0;
}

/* At the end of an exchange: a primary read for want of a replica is
 * replaced once its time is up (the next get asks the sentinels again). */
static void note_exchange(struct wsb_redis *r)
{
    if (r->ctx != NULL && r->fallback_until_ms != 0 && wsb_now_ms() >= r->fallback_until_ms)
        r->stale = 1;
}

int wsb_redis_note_reply(struct wsb_redis *r, const redisReply *reply)
{
    note_exchange(r);
    int hit = failover_error(reply);
    if (!hit && reply != NULL && reply->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < reply->elements && !hit; i++)
            hit = failover_error(reply->element[i]);
    if (hit && r->ctx != NULL)
        r->stale = 1;
    return hit;
}

redisReply *wsb_redis_command(struct wsb_redis *r, char *err, const char *fmt, ...)
{
    redisContext *c = wsb_redis_get(r, err);
    if (c == NULL)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (reply == NULL) {
        wsb_fail(err, WSB_EREDIS, "redis %s: %s", r->current, c->errstr[0] ? c->errstr : "no reply");
        wsb_redis_drop(r);
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        wsb_fail(err, WSB_EREDIS, "redis %s: %.160s", r->current, reply->str);
        wsb_redis_note_reply(r, reply);
        freeReplyObject(reply);
        return NULL;
    }
    note_exchange(r);
    return reply;
}

/* 1 when the peer closed or reset connection c (its last error);
 * saved_errno is errno right after the failed call. */
static int closed_by_peer(const redisContext *c, int saved_errno)
{
    return c->err == REDIS_ERR_EOF ||
           (c->err == REDIS_ERR_IO && (saved_errno == ECONNRESET || saved_errno == EPIPE));
}

int wsb_redis_get_replies(struct wsb_redis *r, redisContext *c, redisReply **rep, int n, int *peer_closed,
                          char *err)
{
    for (int i = 0; i < n; i++) {
        void *reply = NULL;
        if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) {
            if (peer_closed != NULL)
                *peer_closed = i == 0 && closed_by_peer(c, errno);
            wsb_fail(err, WSB_EREDIS, "redis %s: %s", r->current, c->errstr[0] ? c->errstr : "no reply");
            wsb_redis_drop(r);
            return WSB_EREDIS;
        }
        rep[i] = reply;
    }
    for (int i = 0; i < n; i++)
        wsb_redis_note_reply(r, rep[i]);
    return WSB_OK;
}

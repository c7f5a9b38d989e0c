/* redis.c: Redis connections with failover over the configured addresses. */
#include "redis.h"
#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wsb_redis {
    struct wsb_redis_config cfg;
    redisContext *ctx;
    unsigned long long gen;        /* of ctx, 0 when none */
    unsigned long long last_gen;   /* the last number given to a connection */
    char current[300];
};

struct wsb_redis *wsb_redis_new(const struct wsb_redis_config *cfg)
{
    struct wsb_redis *r = calloc(1, sizeof *r);
    if (r != NULL)
        r->cfg = *cfg;
    return r;
}

void wsb_redis_drop(struct wsb_redis *r)
{
    if (r->ctx != NULL) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
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
    return r->ctx != NULL;
}

const char *wsb_redis_current(const struct wsb_redis *r)
{
    return r->current;
}

unsigned long long wsb_redis_generation(const struct wsb_redis *r)
{
    return r->gen;
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

redisContext *wsb_redis_get(struct wsb_redis *r, char *err)
{
    if (r->ctx != NULL)
        return r->ctx;
    char all[WSB_ERRLEN] = "", addr[300], why[WSB_ERRLEN];
    size_t used = 0;
    for (size_t i = 0; i < r->cfg.n; i++) {
        const struct wsb_redis_addr *a = &r->cfg.addrs[i];
        redisContext *c = connect_one(a, r->cfg.connect_timeout_ms, r->cfg.command_timeout_ms, why);
        wsb_redis_addr_format(a, addr, sizeof addr);
        if (c != NULL) {
            r->ctx = c;
            r->gen = ++r->last_gen;
            snprintf(r->current, sizeof r->current, "%s", addr);
            return c;
        }
        int n = snprintf(all + used, sizeof all - used, "%sredis %s: %s", used ? "; " : "", addr, why);
        if (n > 0)
            used = used + (size_t)n < sizeof all ? used + (size_t)n : sizeof all - 1;
    }
    wsb_fail(err, WSB_EREDIS, "%s", all[0] ? all : "no redis address configured");
    return NULL;
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
        freeReplyObject(reply);
        return NULL;
    }
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
    return WSB_OK;
}

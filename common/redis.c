/* redis.c: Redis URLs, the password file, and failover connections. */
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

static int parse_int(const char *s, size_t len, long lo, long hi, long *out)
{
    if (len == 0 || len > 9)
        return WSB_EINVAL;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return WSB_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return WSB_ERANGE;
    *out = v;
    return WSB_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX escapes of a URL component into out (size outlen). */
static int unescape(const char *s, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return WSB_EINVAL;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return WSB_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= outlen)
            return WSB_ETOOBIG;
        out[o++] = c;
    }
    out[o] = '\0';
    return WSB_OK;
}

int wsb_redis_url_parse(const char *url, struct wsb_redis_addr *out, char *err)
{
    struct wsb_redis_addr a;
    memset(&a, 0, sizeof a);
    a.port = 6379;
    long v;
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        const char *q = strchr(path, '?');
        size_t plen = q ? (size_t)(q - path) : strlen(path);
        if (plen == 0 || path[0] != '/')
            return wsb_fail(err, WSB_EINVAL, "unix:// needs an absolute socket path (unix:///run/redis.sock)");
        if (plen >= sizeof a.path)
            return wsb_fail(err, WSB_EINVAL, "socket path is longer than %zu bytes", sizeof a.path - 1);
        memcpy(a.path, path, plen);
        a.is_unix = 1;
        if (q != NULL) {
            if (strncmp(q, "?db=", 4) != 0 || parse_int(q + 4, strlen(q + 4), 0, 65535, &v) != WSB_OK)
                return wsb_fail(err, WSB_EINVAL, "after the socket path only ?db=N (0..65535) is understood");
            a.db = (int)v;
        }
        *out = a;
        return WSB_OK;
    }
    if (strncmp(url, "rediss://", 9) == 0)
        return wsb_fail(err, WSB_EINVAL, "rediss:// (TLS) is not supported; use a local replica or a unix socket");
    if (strncmp(url, "redis://", 8) != 0)
        return wsb_fail(err, WSB_EINVAL, "must start with redis:// or unix://");
    const char *p = url + 8;
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *at = NULL;
    for (const char *s = p; s < end; s++)
        if (*s == '@')
            at = s;
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
        if (unescape(p, ulen, a.user, sizeof a.user) != WSB_OK)
            return wsb_fail(err, WSB_EINVAL, "bad user name in URL");
        if (colon != NULL && unescape(colon + 1, (size_t)(at - colon - 1), a.password, sizeof a.password) != WSB_OK)
            return wsb_fail(err, WSB_EINVAL, "bad password in URL (percent-encode special characters)");
        p = at + 1;
    }
    const char *host = p, *host_end, *port = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (rb == NULL)
            return wsb_fail(err, WSB_EINVAL, "unclosed [ in IPv6 host");
        host = p + 1;
        host_end = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return wsb_fail(err, WSB_EINVAL, "unexpected text after ]");
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        host_end = colon ? colon : end;
        if (colon != NULL)
            port = colon + 1;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0)
        return wsb_fail(err, WSB_EINVAL, "has no host");
    if (hlen >= sizeof a.host)
        return wsb_fail(err, WSB_EINVAL, "host is too long");
    memcpy(a.host, host, hlen);
    if (port != NULL) {
        if (parse_int(port, (size_t)(end - port), 1, 65535, &v) != WSB_OK)
            return wsb_fail(err, WSB_EINVAL, "port must be 1..65535");
        a.port = (int)v;
    }
    if (slash != NULL && slash[1] != '\0') {
        if (parse_int(slash + 1, strlen(slash + 1), 0, 65535, &v) != WSB_OK)
            return wsb_fail(err, WSB_EINVAL, "database must be a number 0..65535 after the /");
        a.db = (int)v;
    }
    *out = a;
    return WSB_OK;
}

static int read_password_file(const char *path, char *out, size_t outlen, char *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return wsb_fail(err, WSB_EIO, "cannot open %s: %s", path, strerror(errno));
    char line[512];
    int status = WSB_OK;
    if (fgets(line, sizeof line, f) == NULL) {
        status = wsb_fail(err, WSB_EIO, "%s is empty", path);
        goto cleanup;
    }
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0') {
        status = wsb_fail(err, WSB_EIO, "%s: the first line is empty", path);
        goto cleanup;
    }
    if (strlen(line) >= outlen) {
        status = wsb_fail(err, WSB_EIO, "%s: the password is longer than %zu bytes", path, outlen - 1);
        goto cleanup;
    }
    strcpy(out, line);
cleanup:
    memset(line, 0, sizeof line);
    fclose(f);
    return status;
}

int wsb_redis_config_parse(const char *urls, const char *password_file, int connect_timeout_ms,
                           int command_timeout_ms, struct wsb_redis_config *cfg, char *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_ms = connect_timeout_ms;
    cfg->command_timeout_ms = command_timeout_ms;
    const char *p = urls;
    char one[1024], why[WSB_ERRLEN];
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0)
            return wsb_fail(err, WSB_EINVAL, "empty address in the list");
        if (len >= sizeof one)
            return wsb_fail(err, WSB_EINVAL, "address %zu is too long", cfg->n + 1);
        if (cfg->n == WSB_REDIS_MAX_ADDRS)
            return wsb_fail(err, WSB_EINVAL, "more than %d addresses", WSB_REDIS_MAX_ADDRS);
        memcpy(one, p, len);
        one[len] = '\0';
        int status = wsb_redis_url_parse(one, &cfg->addrs[cfg->n], why);
        memset(one, 0, sizeof one);
        if (status != WSB_OK) {
            if (strchr(urls, ',') != NULL)
                return wsb_fail(err, status, "address %zu: %s", cfg->n + 1, why);
            return wsb_fail(err, status, "%s", why);
        }
        cfg->n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (password_file != NULL && password_file[0] != '\0') {
        char pw[256];
        int status = read_password_file(password_file, pw, sizeof pw, err);
        if (status != WSB_OK)
            return status;
        for (size_t i = 0; i < cfg->n; i++)
            strcpy(cfg->addrs[i].password, pw);
        memset(pw, 0, sizeof pw);
    }
    return WSB_OK;
}

void wsb_redis_addr_format(const struct wsb_redis_addr *a, char *buf, size_t len)
{
    if (a->is_unix)
        snprintf(buf, len, "unix:%s/%d", a->path, a->db);
    else if (strchr(a->host, ':') != NULL)
        snprintf(buf, len, "[%s]:%d/%d", a->host, a->port, a->db);
    else
        snprintf(buf, len, "%s:%d/%d", a->host, a->port, a->db);
}

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

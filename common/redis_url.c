/* redis_url.c: Redis URLs, the failover list and the password file. */
#include "redis_url.h"
#include "hostport.h"
#include "status.h"
#include "strlist.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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

/* unix:///path[?db=N], the text after "unix://" in path. */
static int parse_unix(const char *path, struct wsb_redis_addr *a, char *err)
{
    long v;
    const char *q = strchr(path, '?');
    size_t plen = q ? (size_t)(q - path) : strlen(path);
    if (plen == 0 || path[0] != '/')
        return wsb_fail(err, WSB_EINVAL, "unix:// needs an absolute socket path (unix:///run/redis.sock)");
    if (plen >= sizeof a->path)
        return wsb_fail(err, WSB_EINVAL, "socket path is longer than %zu bytes", sizeof a->path - 1);
    memcpy(a->path, path, plen);
    a->is_unix = 1;
    if (q != NULL) {
        if (strncmp(q, "?db=", 4) != 0 || parse_int(q + 4, strlen(q + 4), 0, 65535, &v) != WSB_OK)
            return wsb_fail(err, WSB_EINVAL, "after the socket path only ?db=N (0..65535) is understood");
        a->db = (int)v;
    }
    return WSB_OK;
}

/* [user][:password]@ in p..at (percent-encoded). */
static int parse_userinfo(const char *p, const char *at, struct wsb_redis_addr *a, char *err)
{
    const char *colon = memchr(p, ':', (size_t)(at - p));
    size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
    if (unescape(p, ulen, a->user, sizeof a->user) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "bad user name in URL");
    if (colon != NULL && unescape(colon + 1, (size_t)(at - colon - 1), a->password, sizeof a->password) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "bad password in URL (percent-encode special characters)");
    return WSB_OK;
}

/* host[:port] of len bytes (host may be [v6]). */
static int parse_host(const char *p, size_t len, struct wsb_redis_addr *a, char *err)
{
    struct wsb_hostport hp;
    int status = wsb_hostport_split(p, len, &hp, err);
    if (status != WSB_OK)
        return status;
    if (hp.host_len == 0)
        return wsb_fail(err, WSB_EINVAL, "has no host");
    if (hp.host_len >= sizeof a->host)
        return wsb_fail(err, WSB_EINVAL, "host is too long");
    memcpy(a->host, hp.host, hp.host_len);
    if (hp.port != 0)
        a->port = (int)hp.port;
    return WSB_OK;
}

/* redis://[[user]:password@]host[:port][/db], the text after "redis://" in p. */
static int parse_tcp(const char *p, struct wsb_redis_addr *a, char *err)
{
    long v;
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *at = NULL;
    for (const char *s = p; s < end; s++)
        if (*s == '@')
            at = s;
    if (at != NULL) {
        if (parse_userinfo(p, at, a, err) != WSB_OK)
            return WSB_EINVAL;
        p = at + 1;
    }
    if (parse_host(p, (size_t)(end - p), a, err) != WSB_OK)
        return WSB_EINVAL;
    if (slash != NULL && slash[1] != '\0') {
        if (parse_int(slash + 1, strlen(slash + 1), 0, 65535, &v) != WSB_OK)
            return wsb_fail(err, WSB_EINVAL, "database must be a number 0..65535 after the /");
        a->db = (int)v;
    }
    return WSB_OK;
}

int wsb_redis_url_parse(const char *url, struct wsb_redis_addr *out, char *err)
{
    struct wsb_redis_addr a;
    int status;
    memset(&a, 0, sizeof a);
    a.port = 6379;
    if (strncmp(url, "unix://", 7) == 0)
        status = parse_unix(url + 7, &a, err);
    else if (strncmp(url, "rediss://", 9) == 0)
        status = wsb_fail(err, WSB_EINVAL, "rediss:// (TLS) is not supported; use a local replica or a unix socket");
    else if (strncmp(url, "redis://", 8) != 0)
        status = wsb_fail(err, WSB_EINVAL, "must start with redis:// or unix://");
    else
        status = parse_tcp(url + 8, &a, err);
    if (status == WSB_OK)
        *out = a;
    memset(&a, 0, sizeof a);
    return status;
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

/* One entry of the list (len bytes at s) into cfg->addrs[cfg->n]. */
static int parse_one(const char *s, size_t len, int several, struct wsb_redis_config *cfg, char *err)
{
    char one[1024], why[WSB_ERRLEN];
    if (len == 0)
        return wsb_fail(err, WSB_EINVAL, "empty address in the list");
    if (len >= sizeof one)
        return wsb_fail(err, WSB_EINVAL, "address %zu is too long", cfg->n + 1);
    if (cfg->n == WSB_REDIS_MAX_ADDRS)
        return wsb_fail(err, WSB_EINVAL, "more than %d addresses", WSB_REDIS_MAX_ADDRS);
    memcpy(one, s, len);
    one[len] = '\0';
    int status = wsb_redis_url_parse(one, &cfg->addrs[cfg->n], why);
    memset(one, 0, sizeof one);
    if (status != WSB_OK)
        return several ? wsb_fail(err, status, "address %zu: %s", cfg->n + 1, why)
                       : wsb_fail(err, status, "%s", why);
    cfg->n++;
    return WSB_OK;
}

int wsb_redis_config_parse(const char *urls, const char *password_file, int connect_timeout_ms,
                           int command_timeout_ms, struct wsb_redis_config *cfg, char *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_ms = connect_timeout_ms;
    cfg->command_timeout_ms = command_timeout_ms;
    int several = strchr(urls, ',') != NULL;
    struct wsb_list_iter it;
    const char *s;
    size_t len;
    wsb_list_begin(&it, urls, ',');
    if (wsb_list_done(&it))
        return wsb_fail(err, WSB_EINVAL, "empty address in the list");
    while (wsb_list_next(&it, &s, &len)) {
        int status = parse_one(s, len, several, cfg, err);
        if (status != WSB_OK)
            return status;
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

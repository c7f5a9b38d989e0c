/* redis_url.c: Redis URLs (redis://, unix://, redis-sentinel://), the
 * failover list and the password file. */
#include "redis_url.h"
#include "percent.h"
#include "hostport.h"
#include "status.h"
#include "strlist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define SENTINEL_SCHEME "redis-sentinel://"
#define SENTINEL_DEFAULT_PORT 26379

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

/* Decodes %XX escapes of a URL component into out (size outlen), NUL-terminated. */
static int unescape(const char *s, size_t len, char *out, size_t outlen)
{
    long n = wsb_percent_decode(s, len, 0, out, outlen - 1);
    if (n < 0)
        return WSB_EINVAL;
    out[n] = '\0';
    return WSB_OK;
}

/* One "key=value" of a unix URL's query (len bytes): db or user. */
static int unix_param(const char *p, size_t len, struct wsb_redis_addr *a, int *seen, char *err)
{
    long v;
    if (len > 3 && strncmp(p, "db=", 3) == 0 && !(*seen & 1)) {
        if (parse_int(p + 3, len - 3, 0, 65535, &v) != WSB_OK)
            return wsb_fail(err, WSB_EINVAL, "unix://: db must be a number 0..65535");
        a->db = (int)v;
        *seen |= 1;
        return WSB_OK;
    }
    if (len > 5 && strncmp(p, "user=", 5) == 0 && !(*seen & 2)) {
        if (unescape(p + 5, len - 5, a->user, sizeof a->user) != WSB_OK || a->user[0] == '\0')
            return wsb_fail(err, WSB_EINVAL, "unix://: bad user name");
        *seen |= 2;
        return WSB_OK;
    }
    return wsb_fail(err, WSB_EINVAL, "after the socket path only ?db=N (0..65535) and &user=NAME are understood, "
                                     "each once");
}

/* unix:///path[?db=N][&user=NAME], the text after "unix://" in path (the
 * password, as for every address, comes from WSB_REDIS_PASSWORD_FILE). */
static int parse_unix(const char *path, struct wsb_redis_addr *a, char *err)
{
    const char *q = strchr(path, '?');
    size_t plen = q ? (size_t)(q - path) : strlen(path);
    if (plen == 0 || path[0] != '/')
        return wsb_fail(err, WSB_EINVAL, "unix:// needs an absolute socket path (unix:///run/redis.sock)");
    if (plen >= sizeof a->path)
        return wsb_fail(err, WSB_EINVAL, "socket path is longer than %zu bytes", sizeof a->path - 1);
    memcpy(a->path, path, plen);
    a->is_unix = 1;
    int seen = 0;
    for (const char *p = q ? q + 1 : NULL; p != NULL;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (unix_param(p, len, a, &seen, err) != WSB_OK)
            return WSB_EINVAL;
        p = amp ? amp + 1 : NULL;
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

/* The userinfo before the last '@' in *p..end, if any: parsed into a, and
 * *p moved past it.  WSB_OK or WSB_EINVAL with err. */
static int take_userinfo(const char **p, const char *end, struct wsb_redis_addr *a, char *err)
{
    const char *at = NULL;
    for (const char *s = *p; s < end; s++)
        if (*s == '@')
            at = s;
    if (at == NULL)
        return WSB_OK;
    if (parse_userinfo(*p, at, a, err) != WSB_OK)
        return WSB_EINVAL;
    *p = at + 1;
    return WSB_OK;
}

/* redis://[[user]:password@]host[:port][/db], the text after "redis://" in p. */
static int parse_tcp(const char *p, struct wsb_redis_addr *a, char *err)
{
    long v;
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    if (take_userinfo(&p, end, a, err) != WSB_OK)
        return WSB_EINVAL;
    if (parse_host(p, (size_t)(end - p), a, err) != WSB_OK)
        return WSB_EINVAL;
    if (slash != NULL && slash[1] != '\0') {
        if (parse_int(slash + 1, strlen(slash + 1), 0, 65535, &v) != WSB_OK)
            return wsb_fail(err, WSB_EINVAL, "database must be a number 0..65535 after the /");
        a->db = (int)v;
    }
    return WSB_OK;
}

/* Whether c may be part of a master name: what `sentinel monitor NAME`
 * takes in practice, and nothing that needs escaping in a URL or a log. */
static int master_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

/* Whether the host of a sentinel (len bytes, brackets gone) is a name or
 * an address: letters, digits, '.', '-', '_'; or an IPv6 address when it
 * was bracketed. */
static int sentinel_host_ok(const char *h, size_t len, int bracketed)
{
    if (bracketed)
        return wsb_is_ipv6(h, len);
    for (size_t i = 0; i < len; i++)
        if (!master_name_char(h[i]) && !(h[i] == ':'))   /* ':' only in an IPv6 address (hostport checks) */
            return 0;
    return 1;
}

/* The sentinels host[:port],... in p (len bytes) into a. */
static int parse_sentinel_hosts(const char *p, size_t len, struct wsb_redis_addr *a, char *err)
{
    char why[WSB_ERRLEN];
    const char *end = p + len;
    if (len == 0)
        return wsb_fail(err, WSB_EINVAL, "redis-sentinel:// names no sentinel (redis-sentinel://host:26379/mymaster)");
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        size_t n = a->n_sentinels + 1;
        if (stop == p)
            return wsb_fail(err, WSB_EINVAL, "sentinel %zu: empty host", n);
        if (a->n_sentinels == WSB_REDIS_MAX_SENTINELS)
            return wsb_fail(err, WSB_EINVAL, "more than %d sentinels", WSB_REDIS_MAX_SENTINELS);
        struct wsb_hostport hp;
        if (wsb_hostport_split(p, (size_t)(stop - p), &hp, why) != WSB_OK)
            return wsb_fail(err, WSB_EINVAL, "sentinel %zu: %s", n, why);
        struct wsb_redis_sentinel *s = &a->sentinels[a->n_sentinels];
        if (hp.host_len == 0)
            return wsb_fail(err, WSB_EINVAL, "sentinel %zu: has no host", n);
        if (hp.host_len >= sizeof s->host)
            return wsb_fail(err, WSB_EINVAL, "sentinel %zu: host is longer than %zu bytes", n, sizeof s->host - 1);
        if (!sentinel_host_ok(hp.host, hp.host_len, hp.bracketed))
            return wsb_fail(err, WSB_EINVAL,
                            "sentinel %zu: a host is a name of letters, digits, '.', '-', '_', or an address "
                            "(IPv6 in brackets)", n);
        memcpy(s->host, hp.host, hp.host_len);
        s->host[hp.host_len] = '\0';
        s->port = hp.port != 0 ? (int)hp.port : SENTINEL_DEFAULT_PORT;
        a->n_sentinels++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return WSB_OK;
}

/* ?db=N&role=master|replica (q after the '?'). */
static int parse_sentinel_query(const char *q, struct wsb_redis_addr *a, char *err)
{
    int have_db = 0, have_role = 0;
    long v;
    while (*q != '\0') {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t klen = eq ? (size_t)(eq - q) : len;
        const char *val = eq ? eq + 1 : q + len;
        size_t vlen = eq ? len - klen - 1 : 0;   /* eq is checked below */
        if (len == 0)
            return wsb_fail(err, WSB_EINVAL, "empty parameter after the master name ('&&' or a trailing '&')");
        if (eq == NULL)
            return wsb_fail(err, WSB_EINVAL, "parameter '%.*s' has no value (?db=N&role=master|replica)",
                            (int)(klen > 20 ? 20 : klen), q);
        if (klen == 2 && memcmp(q, "db", 2) == 0) {
            if (have_db++)
                return wsb_fail(err, WSB_EINVAL, "db is given twice");
            if (parse_int(val, vlen, 0, 65535, &v) != WSB_OK)
                return wsb_fail(err, WSB_EINVAL, "db must be a number 0..65535 (?db=N)");
            a->db = (int)v;
        } else if (klen == 4 && memcmp(q, "role", 4) == 0) {
            if (have_role++)
                return wsb_fail(err, WSB_EINVAL, "role is given twice");
            if (vlen == 6 && memcmp(val, "master", 6) == 0)
                a->role = WSB_REDIS_ROLE_MASTER;
            else if (vlen == 7 && memcmp(val, "replica", 7) == 0)
                a->role = WSB_REDIS_ROLE_REPLICA;
            else
                return wsb_fail(err, WSB_EINVAL, "role must be master or replica");
        } else {
            return wsb_fail(err, WSB_EINVAL, "unknown parameter '%.*s' after the master name (only db and role)",
                            (int)(klen > 20 ? 20 : klen), q);
        }
        q += len;
        if (*q == '&' && *++q == '\0')
            return wsb_fail(err, WSB_EINVAL, "empty parameter after the master name ('&&' or a trailing '&')");
    }
    return WSB_OK;
}

/* redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/master[?db=N&role=R],
 * the text after the scheme in p. */
static int parse_sentinel(const char *p, struct wsb_redis_addr *a, char *err)
{
    const char *slash = strchr(p, '/');
    if (slash == NULL || slash[1] == '\0' || slash[1] == '?')
        return wsb_fail(err, WSB_EINVAL,
                        "redis-sentinel:// needs /mastername after the sentinels (redis-sentinel://host:26379/mymaster)");
    if (take_userinfo(&p, slash, a, err) != WSB_OK)
        return WSB_EINVAL;
    if (parse_sentinel_hosts(p, (size_t)(slash - p), a, err) != WSB_OK)
        return WSB_EINVAL;
    const char *name = slash + 1;
    size_t nlen = strcspn(name, "?");
    for (size_t i = 0; i < nlen; i++) {
        if (name[i] == '/')
            return wsb_fail(err, WSB_EINVAL,
                            "the database goes in ?db=N, not after the master name (redis-sentinel://host:26379/mymaster?db=0)");
        if (!master_name_char(name[i]))
            return wsb_fail(err, WSB_EINVAL, "master name may hold only letters, digits, '.', '_' and '-'");
    }
    if (nlen > WSB_REDIS_MASTER_NAME_MAX)
        return wsb_fail(err, WSB_EINVAL, "master name is longer than %d bytes", WSB_REDIS_MASTER_NAME_MAX);
    memcpy(a->master, name, nlen);
    a->master[nlen] = '\0';
    a->is_sentinel = 1;
    if (name[nlen] == '?') {
        if (name[nlen + 1] == '\0')
            return wsb_fail(err, WSB_EINVAL, "nothing after the '?' (?db=N&role=master|replica)");
        return parse_sentinel_query(name + nlen + 1, a, err);
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
    else if (strncmp(url, SENTINEL_SCHEME, strlen(SENTINEL_SCHEME)) == 0)
        status = parse_sentinel(url + strlen(SENTINEL_SCHEME), &a, err);
    else if (strncmp(url, "rediss://", 9) == 0)
        status = wsb_fail(err, WSB_EINVAL, "rediss:// (TLS) is not supported; use a local replica or a unix socket");
    else if (strncmp(url, "redis://", 8) != 0)
        status = wsb_fail(err, WSB_EINVAL, "must start with redis://, unix:// or redis-sentinel://");
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
    char one[2048], why[WSB_ERRLEN];
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

/* Whether the piece (len bytes at s) names a scheme ("...://"). */
static int has_scheme(const char *s, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++)
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/')
            return 1;
    return 0;
}

/* A redis-sentinel:// piece (len bytes at s) joined with the pieces
 * after it that have no scheme (its further sentinels) into buf (size
 * cap); the walk it advances past them.  Returns the length, or 0 when
 * it does not fit. */
static size_t join_sentinel(const char *s, size_t len, struct wsb_list_iter *it, char *buf, size_t cap,
                            int *after_name)
{
    size_t used = 0;
    *after_name = 0;
    if (len >= cap)
        return 0;
    memcpy(buf, s, len);
    used = len;
    for (;;) {
        struct wsb_list_iter peek = *it;
        const char *p;
        size_t plen;
        if (!wsb_list_next(&peek, &p, &plen) || has_scheme(p, plen))
            break;
        /* A sentinel after the /mastername cannot be one of this URL's
         * (an empty piece there is the list's: "empty address"). */
        if (memchr(buf + strlen(SENTINEL_SCHEME), '/', used - strlen(SENTINEL_SCHEME)) != NULL) {
            *after_name = plen > 0;
            break;
        }
        if (used + 1 + plen >= cap)
            return 0;
        buf[used++] = ',';
        memcpy(buf + used, p, plen);
        used += plen;
        *it = peek;
    }
    buf[used] = '\0';
    return used;
}

int wsb_redis_config_parse(const char *urls, const char *password_file, int connect_timeout_ms,
                           int command_timeout_ms, struct wsb_redis_config *cfg, char *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_ms = connect_timeout_ms;
    cfg->command_timeout_ms = command_timeout_ms;
    int several = strchr(urls, ',') != NULL, status = WSB_OK;
    struct wsb_list_iter it;
    const char *s;
    size_t len;
    char joined[2048];
    wsb_list_begin(&it, urls, ',');
    if (wsb_list_done(&it))
        return wsb_fail(err, WSB_EINVAL, "empty address in the list");
    while (wsb_list_next(&it, &s, &len)) {
        size_t sl = strlen(SENTINEL_SCHEME);
        if (len > sl && strncmp(s, SENTINEL_SCHEME, sl) == 0) {
            int after_name;
            size_t jl = join_sentinel(s, len, &it, joined, sizeof joined, &after_name);
            if (jl == 0) {
                status = wsb_fail(err, WSB_EINVAL, "address %zu is too long", cfg->n + 1);
                break;
            }
            status = parse_one(joined, jl, several, cfg, err);
            if (status == WSB_OK && after_name)
                status = wsb_fail(err, WSB_EINVAL,
                                  "address %zu: a piece without '://' follows the master name of a redis-sentinel "
                                  "URL: its sentinels go before the /mastername (redis-sentinel://h1:26379,"
                                  "h2:26379/mymaster)", cfg->n);
        } else {
            status = parse_one(s, len, several, cfg, err);
        }
        if (status != WSB_OK)
            break;
    }
    memset(joined, 0, sizeof joined);
    if (status != WSB_OK)
        return status;
    if (password_file != NULL && password_file[0] != '\0') {
        char pw[256];
        status = read_password_file(password_file, pw, sizeof pw, err);
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
    if (len == 0)
        return;
    if (a->is_sentinel) {
        int n = snprintf(buf, len, "sentinel %s%s (", a->master, a->role == WSB_REDIS_ROLE_REPLICA ? " replica" : "");
        for (size_t i = 0; i < a->n_sentinels && n >= 0 && (size_t)n < len; i++) {
            const struct wsb_redis_sentinel *s = &a->sentinels[i];
            int bracket = strchr(s->host, ':') != NULL;
            n += snprintf(buf + n, len - (size_t)n, "%s%s%s%s:%d", i ? "," : "", bracket ? "[" : "", s->host,
                          bracket ? "]" : "", s->port);
        }
        if (n >= 0 && (size_t)n < len)
            snprintf(buf + n, len - (size_t)n, ")/%d", a->db);
    } else if (a->is_unix) {
        snprintf(buf, len, "unix:%s/%d", a->path, a->db);
    } else if (strchr(a->host, ':') != NULL) {
        snprintf(buf, len, "[%s]:%d/%d", a->host, a->port, a->db);
    } else {
        snprintf(buf, len, "%s:%d/%d", a->host, a->port, a->db);
    }
}

void wsb_redis_config_for_writes(const struct wsb_redis_config *in, struct wsb_redis_config *out)
{
    *out = *in;
    for (size_t i = 0; i < out->n; i++)
        if (out->addrs[i].is_sentinel)
            out->addrs[i].role = WSB_REDIS_ROLE_MASTER;
}

const char *wsb_redis_role_name(enum wsb_redis_role role)
{
    switch (role) {
    case WSB_REDIS_ROLE_MASTER:
        return "master";
    case WSB_REDIS_ROLE_REPLICA:
        return "replica";
    }
    return "?";
}

/* redis_url.h: where Redis is, as the user writes it: "redis://" and
 * "unix://" URLs, a comma-separated list of them for failover, and the
 * password file.  Pure parsing, apart from reading the password file; the
 * connection is redis.h's.
 *
 * Passwords never appear in error texts: addresses are shown by
 * wsb_redis_addr_format, which leaves them out. */
#ifndef WSB_REDIS_URL_H
#define WSB_REDIS_URL_H

#include <stddef.h>

#define WSB_REDIS_MAX_ADDRS 8

/* One address; plain arrays, nothing to free (clear the password with
 * memset when done, as wsb_redis_free does). */
struct wsb_redis_addr {
    int is_unix;
    char host[256];           /* TCP host name or address (an IPv6 one without brackets) */
    int port;
    char path[108];           /* unix socket path */
    int db;                   /* 0..65535 */
    char user[128];           /* ACL user, "" for the default user */
    char password[256];       /* "" for none */
};

/* The addresses to try, in order, and the timeouts; nothing to free. */
struct wsb_redis_config {
    size_t n;
    struct wsb_redis_addr addrs[WSB_REDIS_MAX_ADDRS];
    int connect_timeout_ms;
    int command_timeout_ms;
};

/* Parses one URL: redis://[[user]:password@]host[:port][/db] (host may be
 * [v6]) or unix:///path/redis.sock[?db=N].  Returns WSB_OK; on error
 * WSB_EINVAL is returned with a reason in err that never contains the
 * password, and *out is unaltered. */
int wsb_redis_url_parse(const char *url, struct wsb_redis_addr *out, char *err);

/* Parses a comma-separated list of URLs (tried in that order) into cfg;
 * when password_file is not NULL its first line is the password of every
 * address, overriding any in the URLs.  Timeouts are set from the
 * arguments.  Returns WSB_OK; on error WSB_EINVAL (a URL is bad) or
 * WSB_EIO (the password file is missing, unreadable, empty or holds a
 * password over 255 bytes) is returned with a reason in err, and *cfg is
 * unspecified (it may hold the addresses parsed before the bad one). */
int wsb_redis_config_parse(const char *urls, const char *password_file, int connect_timeout_ms,
                           int command_timeout_ms, struct wsb_redis_config *cfg, char *err);

/* "127.0.0.1:6379/0", "[::1]:6379/0" or "unix:/run/redis.sock/0" into buf
 * (truncated to len); never the password.  Cannot fail. */
void wsb_redis_addr_format(const struct wsb_redis_addr *a, char *buf, size_t len);

#endif

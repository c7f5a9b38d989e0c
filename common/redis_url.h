/* redis_url.h: where Redis is, as the user writes it: "redis://",
 * "unix://" and "redis-sentinel://" URLs, a comma-separated list of them
 * for failover, and the password file.  Pure parsing, apart from reading
 * the password file; the connection is redis.h's.
 *
 * Passwords never appear in error texts: addresses are shown by
 * wsb_redis_addr_format, which leaves them out. */
#ifndef WSB_REDIS_URL_H
#define WSB_REDIS_URL_H

#include <stddef.h>

#define WSB_REDIS_MAX_ADDRS 8
/* Sentinels of one redis-sentinel:// address, and its master name's length. */
#define WSB_REDIS_MAX_SENTINELS 8
#define WSB_REDIS_MASTER_NAME_MAX 64

/* Which data node a redis-sentinel:// address leads to. */
enum wsb_redis_role {
    WSB_REDIS_ROLE_MASTER = 0,   /* the primary (?role=master, the default) */
    WSB_REDIS_ROLE_REPLICA       /* a healthy replica, else the primary (?role=replica) */
};

/* One sentinel of a redis-sentinel:// address. */
struct wsb_redis_sentinel {
    char host[256];           /* without brackets */
    int port;                 /* 26379 unless given */
};

/* One address; plain arrays, nothing to free (clear the password with
 * memset when done, as wsb_redis_free does).  A redis-sentinel:// address
 * (is_sentinel) names no data node itself: host, port and path are
 * unused; the sentinels are asked for the node of master (redis.c), and
 * db, user and password apply to that node (sentinels are asked without
 * AUTH). */
struct wsb_redis_addr {
    int is_unix;
    char host[256];           /* TCP host name or address (an IPv6 one without brackets) */
    int port;
    char path[108];           /* unix socket path */
    int db;                   /* 0..65535 */
    char user[128];           /* ACL user, "" for the default user */
    char password[256];       /* "" for none */
    int is_sentinel;
    char master[WSB_REDIS_MASTER_NAME_MAX + 1];   /* letters, digits, '.', '_', '-' */
    enum wsb_redis_role role;
    size_t n_sentinels;       /* 1..WSB_REDIS_MAX_SENTINELS */
    struct wsb_redis_sentinel sentinels[WSB_REDIS_MAX_SENTINELS];
};

/* The addresses to try, in order, and the timeouts; nothing to free. */
struct wsb_redis_config {
    size_t n;
    struct wsb_redis_addr addrs[WSB_REDIS_MAX_ADDRS];
    int connect_timeout_ms;
    int command_timeout_ms;
};

/* Parses one URL: redis://[[user]:password@]host[:port][/db] (host may be
 * [v6]), unix:///path/redis.sock[?db=N][&user=NAME] (the ACL user; its
 * password comes from the password file), or
 * redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/master[?db=N&role=master|replica]
 * (sentinel port 26379 unless given; hosts may be [v6]).  Returns WSB_OK; on error
 * WSB_EINVAL is returned with a reason in err that never contains the
 * password, and *out is unaltered. */
int wsb_redis_url_parse(const char *url, struct wsb_redis_addr *out, char *err);

/* Parses a comma-separated list of URLs (tried in that order) into cfg;
 * a piece without "://" continues the redis-sentinel:// URL before it (its
 * next sentinel), so "unix:///r.sock,redis-sentinel://h1,h2:26380/m" is
 * two addresses.  When password_file is not NULL its first line is the
 * password of every address, overriding any in the URLs.  Timeouts are set from the
 * arguments.  Returns WSB_OK; on error WSB_EINVAL (a URL is bad) or
 * WSB_EIO (the password file is missing, unreadable, empty or holds a
 * password over 255 bytes) is returned with a reason in err, and *cfg is
 * unspecified (it may hold the addresses parsed before the bad one). */
int wsb_redis_config_parse(const char *urls, const char *password_file, int connect_timeout_ms,
                           int command_timeout_ms, struct wsb_redis_config *cfg, char *err);

/* "127.0.0.1:6379/0", "[::1]:6379/0", "unix:/run/redis.sock/0" or
 * "sentinel mymaster (127.0.0.1:26379,[::1]:26380)/0" ("sentinel mymaster
 * replica (...)/0" for ?role=replica) into buf (truncated to len); never
 * the password.  Cannot fail. */
void wsb_redis_addr_format(const struct wsb_redis_addr *a, char *buf, size_t len);

/* Copies in to out with every redis-sentinel:// address led to the
 * primary (role master): for writes by a program that reads replicas (the
 * handler's assignment counts).  Other addresses are copied as they are.
 * Cannot fail; out may not be in. */
void wsb_redis_config_for_writes(const struct wsb_redis_config *in, struct wsb_redis_config *out);

/* "master" or "replica"; "?" for a value out of the enum.  Never NULL. */
const char *wsb_redis_role_name(enum wsb_redis_role role);

#endif

/* request.h: the HTTP contract of the handler as pure functions over the
 * CGI/FastCGI parameters: routing, the client address, CORS, and the
 * response bytes.  No I/O here, so each piece is fed bytes in unit tests. */
#ifndef WSB_REQUEST_H
#define WSB_REQUEST_H

#include "netaddr.h"
#include "select.h"

#include <stddef.h>

#define WSB_MAX_XFF 4096            /* bytes of X-Forwarded-For considered */
#define WSB_MAX_XFF_HOPS 32         /* entries of X-Forwarded-For considered */
#define WSB_RESPONSE_MAX 8192

/* Looks up a request parameter (FCGX_GetParam or getenv semantics). */
typedef const char *(*wsb_param_fn)(const char *name, void *ctx);

/* Finds "/v{N}/websocket/server" at the end of path (len bytes, no query).
 * Returns 1 and *version = N when it is there, else 0. */
int wsb_route_match(const char *path, size_t len, unsigned *version);

/* Finds the route whichever way the web server handed the path over:
 * SCRIPT_NAME + PATH_INFO (Apache ScriptAlias, lighttpd prefixes), or only
 * REQUEST_URI (nginx; its query string is cut off first). */
int wsb_route_from_params(wsb_param_fn get, void *ctx, unsigned *version);

/* The client address: REMOTE_ADDR, or when REMOTE_ADDR is a trusted proxy,
 * the right-most X-Forwarded-For entry that is not itself trusted (or the
 * left-most when all are).  Returns 1 with *out set, 0 when no usable
 * address is known (the client then has no location). */
int wsb_client_addr(const char *remote_addr, const char *xff, const struct wsb_cidr_list *trusted,
                    struct wsb_ip *out);

/* Allowed CORS origins: "*" or a list of exact origins.  Owned by the
 * caller; free with wsb_cors_free (NULL accepted). */
struct wsb_cors {
    int any;
    size_t n;
    char **origins;
};

/* Parses WSB_CORS_ORIGINS ("" gives no CORS).  Each origin must look like
 * scheme://host[:port] with no path.  WSB_OK, or WSB_EINVAL/WSB_ENOMEM
 * with a reason in err and *out empty. */
int wsb_cors_parse(const char *s, struct wsb_cors *out, char *err);
void wsb_cors_free(struct wsb_cors *c);

/* The configured origin string matching the request's Origin header, or
 * NULL.  The returned text is the configuration's, never the request's. */
const char *wsb_cors_allow(const struct wsb_cors *c, const char *origin);

enum wsb_method { WSB_GET, WSB_HEAD, WSB_OPTIONS, WSB_OTHER };

enum wsb_method wsb_method_parse(const char *m);

/* A response as CGI output ("Status: ...\r\n headers \r\n\r\n body"). */
struct wsb_response {
    size_t len;
    char buf[WSB_RESPONSE_MAX];
};

/* What the handler decided; fed to wsb_response_build. */
struct wsb_answer {
    int status;                 /* 200, 204, 404, 405, 500, 503 */
    const char *body;           /* JSON body, or NULL (204) */
    size_t body_len;
    const char *allow_origin;   /* CORS: configured origin to allow, or NULL */
    int preflight;              /* add the preflight headers */
    int retry_after;            /* seconds, for 503 */
    int head;                   /* HEAD: headers only */
};

/* Writes the CGI response.  The bytes come from the answer only, which in
 * turn holds no request input.  Returns WSB_OK or WSB_ETOOBIG. */
int wsb_response_build(const struct wsb_answer *a, struct wsb_response *r);

/* Builds the JSON error bodies with cJSON, once per process, before any
 * request.  WSB_OK or WSB_ENOMEM. */
int wsb_error_bodies_init(void);

/* The JSON error body of a balancer code (100, 101, 102) or of a request
 * error (404, 405, 500); NULL for another code or before init. */
const char *wsb_error_body(int code, size_t *len);

#endif

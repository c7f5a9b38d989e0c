/* http.h: the HTTP contract of the handler as pure functions over the
 * CGI/FastCGI parameters: the route, the method, and the response bytes.
 * No I/O here, so each piece is fed bytes in unit tests. */
#ifndef WSB_HTTP_H
#define WSB_HTTP_H

#include <stddef.h>

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

/* 1 when the path (found as wsb_route_from_params finds it) ends in
 * "/metrics": the Prometheus exposition (metrics_expose.h), else 0. */
int wsb_route_is_metrics(wsb_param_fn get, void *ctx);

enum wsb_method { WSB_GET, WSB_HEAD, WSB_OPTIONS, WSB_OTHER };

enum wsb_method wsb_method_parse(const char *m);

/* A response as CGI output ("Status: ...\r\n headers \r\n\r\n body"):
 * buf[0..len), then extra[0..extra_len) when extra is not NULL (a body too
 * large for buf: the metrics).  extra is owned by the response: whoever
 * sends it calls wsb_response_release. */
struct wsb_response {
    size_t len;
    char *extra;
    size_t extra_len;
    char buf[WSB_RESPONSE_MAX];
};

/* Frees extra and empties r; cannot fail. */
void wsb_response_release(struct wsb_response *r);

/* What the handler decided; fed to wsb_response_build. */
struct wsb_answer {
    int status;                 /* 200, 204, 400, 404, 405, 500, 503 */
    const char *body;           /* JSON body, or NULL (204) */
    size_t body_len;
    char *body_owned;           /* or a malloc'ed body of body_len bytes that the response takes
                                   over (sent as its extra part), NULL: none */
    const char *content_type;   /* of the body; NULL: application/json */
    const char *allow_origin;   /* CORS: configured origin to allow, or NULL */
    int preflight;              /* add the preflight headers */
    int retry_after;            /* seconds, for 503 */
    int head;                   /* HEAD: headers only */
};

/* Writes the CGI response.  The bytes come from the answer only, which in
 * turn holds no request input.  Returns WSB_OK or WSB_ETOOBIG.  body_owned
 * becomes the response's (freed by it on error too); a HEAD frees it. */
int wsb_response_build(const struct wsb_answer *a, struct wsb_response *r);

/* Builds the JSON error bodies with cJSON, once per process, before any
 * request.  WSB_OK or WSB_ENOMEM. */
int wsb_error_bodies_init(void);

/* The JSON error body of a balancer code (100, 101, 102) or of a request
 * error (404, 405, 500); NULL for another code or before init. */
const char *wsb_error_body(int code, size_t *len);

#endif

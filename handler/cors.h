/* cors.h: cross-origin answers: the allowed origins (WSB_CORS_ORIGINS) and
 * the one a request may be given. */
#ifndef WSB_CORS_H
#define WSB_CORS_H

#include <stddef.h>

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

#endif

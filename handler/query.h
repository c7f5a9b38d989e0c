/* query.h: the optional query parameters of the route, exclude and
 * affinity, read from the request's query string (no I/O, no allocation).
 *
 *   exclude=<endpoint>   an endpoint the client could not connect to;
 *                        percent-encoded, may repeat: the first
 *                        WSB_QUERY_MAX_EXCLUDE are kept, the rest ignored
 *   affinity=<key>       1..WSB_AFFINITY_MAX bytes once decoded, opaque
 *                        (never parsed, only hashed); the first one counts
 *
 * Bad input is ignored, never an error, so that a client sending a broken
 * hint gets the answer it would get without it: a value with a broken
 * escape (a '%' not followed by two hex digits), an exclude that is empty,
 * longer than WSB_MAX_ENDPOINT or holds a NUL byte, an affinity key that is
 * empty or longer than WSB_AFFINITY_MAX, and every other parameter.  '+'
 * decodes to a space (form encoding).  What was ignored is counted in
 * ignored, for a debug line that never quotes the input. */
#ifndef WSB_QUERY_H
#define WSB_QUERY_H

#include "http.h"
#include "node.h"

#include <stddef.h>

#define WSB_QUERY_MAX_EXCLUDE 8
#define WSB_AFFINITY_MAX 128
#define WSB_QUERY_MAX 16384   /* bytes of query string read; the rest is ignored */

struct wsb_query {
    size_t n_exclude;
    const char *exclude[WSB_QUERY_MAX_EXCLUDE]; /* NUL-terminated, into buf */
    size_t exclude_len[WSB_QUERY_MAX_EXCLUDE];
    const char *affinity;      /* into buf, NULL when none; may hold any byte */
    size_t affinity_len;
    unsigned ignored;          /* values ignored as above */
    char buf[WSB_QUERY_MAX_EXCLUDE * (WSB_MAX_ENDPOINT + 1) + WSB_AFFINITY_MAX + 1];
};

/* Parses the query string qs (len bytes, no leading '?'; NULL or empty: no
 * parameters) into *q, which owns copies of the decoded values.  Cannot
 * fail: every bad part is ignored as above. */
void wsb_query_parse(const char *qs, size_t len, struct wsb_query *q);

/* The request's query string: QUERY_STRING when the web server passes it
 * (nginx's fastcgi_params, lighttpd, Apache, CGI), else what follows the
 * first '?' of REQUEST_URI up to any '#'.  Sets *len; NULL (and *len 0)
 * when there is none or it is empty.  The text belongs to the request. */
const char *wsb_query_string(wsb_param_fn get, void *ctx, size_t *len);

/* Whether q asks for anything (an exclude or an affinity key). */
int wsb_query_any(const struct wsb_query *q);

#endif

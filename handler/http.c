/* http.c: the HTTP side of a request: route, method, and the response
 * bytes with their JSON error bodies (no I/O). */
#include "http.h"
#include "node.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char ROUTE_TAIL[] = "/websocket/server";

int wsb_route_match(const char *path, size_t len, unsigned *version)
{
    size_t tail = sizeof ROUTE_TAIL - 1;
    if (len < tail + 3 || memcmp(path + len - tail, ROUTE_TAIL, tail) != 0)
        return 0;
    size_t end = len - tail;   /* path[0..end) ends with "/vN" */
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    if (start == 0)
        return 0;              /* the segment must follow a '/' */
    return wsb_version_parse(path + start, end - start, version) == WSB_OK;
}

typedef int (*path_match_fn)(const char *path, size_t len, unsigned *version);

/* Tries match on the path whichever way the web server handed it over:
 * PATH_INFO, SCRIPT_NAME + PATH_INFO, then REQUEST_URI without its query. */
static int route_find(wsb_param_fn get, void *ctx, path_match_fn match, unsigned *version)
{
    const char *script = get("SCRIPT_NAME", ctx);
    const char *info = get("PATH_INFO", ctx);
    size_t slen = script ? strlen(script) : 0, ilen = info ? strlen(info) : 0;
    if (ilen > 0 || slen > 0) {
        if (ilen > 0 && match(info, ilen, version))
            return 1;
        char joined[2048];
        if (slen + ilen < sizeof joined) {
            if (slen)
                memcpy(joined, script, slen);
            if (ilen)
                memcpy(joined + slen, info, ilen);
            if (match(joined, slen + ilen, version))
                return 1;
        }
    }
    const char *uri = get("REQUEST_URI", ctx);
    if (uri != NULL) {
        size_t ulen = strcspn(uri, "?#");
        if (match(uri, ulen, version))
            return 1;
    }
    return 0;
}

int wsb_route_from_params(wsb_param_fn get, void *ctx, unsigned *version)
{
    return route_find(get, ctx, wsb_route_match, version);
}

static const char METRICS_TAIL[] = "/metrics";

static int metrics_match(const char *path, size_t len, unsigned *version)
{
    (void)version;
    size_t tail = sizeof METRICS_TAIL - 1;
    return len >= tail && memcmp(path + len - tail, METRICS_TAIL, tail) == 0;
}

int wsb_route_is_metrics(wsb_param_fn get, void *ctx)
{
    unsigned unused;
    return route_find(get, ctx, metrics_match, &unused);
}

enum wsb_method wsb_method_parse(const char *m)
{
    if (m == NULL)
        return WSB_GET;   /* plain CGI run by hand: treat as GET */
    if (strcmp(m, "GET") == 0)
        return WSB_GET;
    if (strcmp(m, "HEAD") == 0)
        return WSB_HEAD;
    if (strcmp(m, "OPTIONS") == 0)
        return WSB_OPTIONS;
    return WSB_OTHER;
}

static const char *status_line(int status)
{
    switch (status) {
    case 200: return "200 OK";
    case 204: return "204 No Content";
    case 400: return "400 Bad Request";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    case 500: return "500 Internal Server Error";
    case 503: return "503 Service Unavailable";
    default: return "500 Internal Server Error";
    }
}

/* Appends bytes; returns 0 when they did not fit. */
static int put(struct wsb_response *r, const char *s, size_t n)
{
    if (r->len + n > sizeof r->buf)
        return 0;
    memcpy(r->buf + r->len, s, n);
    r->len += n;
    return 1;
}

#define PUTS(r, lit) put((r), (lit), sizeof(lit) - 1)

static int put_str(struct wsb_response *r, const char *s)
{
    return put(r, s, strlen(s));
}

static int put_uint(struct wsb_response *r, unsigned long v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return put(r, tmp + i, sizeof tmp - i);
}

void wsb_response_release(struct wsb_response *r)
{
    free(r->extra);
    r->extra = NULL;
    r->extra_len = 0;
    r->len = 0;
}

int wsb_response_build(const struct wsb_answer *a, struct wsb_response *r)
{
    r->len = 0;
    r->extra = NULL;
    r->extra_len = 0;
    int has_body = a->body != NULL || a->body_owned != NULL;
    int ok = PUTS(r, "Status: ") && put_str(r, status_line(a->status)) && PUTS(r, "\r\n");
    if (has_body)
        ok = ok && PUTS(r, "Content-Type: ") &&
             put_str(r, a->content_type != NULL ? a->content_type : "application/json") && PUTS(r, "\r\n");
    ok = ok && PUTS(r, "Cache-Control: no-store\r\n");
    if (a->status == 503)
        ok = ok && PUTS(r, "Retry-After: ") && put_uint(r, (unsigned long)a->retry_after) && PUTS(r, "\r\n");
    if (a->status == 405 || a->status == 204)
        ok = ok && PUTS(r, "Allow: GET, HEAD, OPTIONS\r\n");
    if (a->allow_origin != NULL) {
        ok = ok && PUTS(r, "Access-Control-Allow-Origin: ") && put_str(r, a->allow_origin) && PUTS(r, "\r\n");
        if (strcmp(a->allow_origin, "*") != 0)
            ok = ok && PUTS(r, "Vary: Origin\r\n");
        /* Without it a browser hides Retry-After from the page's script. */
        if (a->status == 503)
            ok = ok && PUTS(r, "Access-Control-Expose-Headers: Retry-After\r\n");
        if (a->preflight)
            ok = ok && PUTS(r, "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
                               "Access-Control-Max-Age: 600\r\n");
    }
    /* A 204 has no body and so no Content-Length (RFC 9110, 8.6). */
    if (a->status != 204)
        ok = ok && PUTS(r, "Content-Length: ") && put_uint(r, has_body ? a->body_len : 0) && PUTS(r, "\r\n");
    ok = ok && PUTS(r, "\r\n");
    if (a->body_owned != NULL) {
        if (ok && !a->head) {
            r->extra = a->body_owned;
            r->extra_len = a->body_len;
        } else {
            free(a->body_owned);
        }
    } else if (a->body != NULL && !a->head) {
        ok = ok && put(r, a->body, a->body_len);
    }
    return ok ? WSB_OK : WSB_ETOOBIG;
}

static struct {
    int code;
    const char *message;
    char *body;
    size_t len;
} error_bodies[] = {
    { 100, "no servers are currently available", NULL, 0 },
    { 101, "no servers are currently online", NULL, 0 },
    { 102, "no servers with this version are available", NULL, 0 },
    { 404, "not found: the balancer answers GET /v{N}/websocket/server", NULL, 0 },
    { 405, "method not allowed: use GET, HEAD or OPTIONS", NULL, 0 },
    { 500, "internal error: the balancer is misconfigured, see its log", NULL, 0 },
};

int wsb_error_bodies_init(void)
{
    for (size_t i = 0; i < sizeof error_bodies / sizeof error_bodies[0]; i++) {
        if (error_bodies[i].body != NULL)
            continue;
        cJSON *o = cJSON_CreateObject();
        if (o == NULL)
            return WSB_ENOMEM;
        if (cJSON_AddStringToObject(o, "error_message", error_bodies[i].message) &&
            cJSON_AddNumberToObject(o, "error_code", error_bodies[i].code))
            error_bodies[i].body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (error_bodies[i].body == NULL)
            return WSB_ENOMEM;
        error_bodies[i].len = strlen(error_bodies[i].body);
    }
    return WSB_OK;
}

const char *wsb_error_body(int code, size_t *len)
{
    for (size_t i = 0; i < sizeof error_bodies / sizeof error_bodies[0]; i++)
        if (error_bodies[i].code == code) {
            *len = error_bodies[i].len;
            return error_bodies[i].body;
        }
    *len = 0;
    return NULL;
}

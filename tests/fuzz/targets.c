/* targets.c: the fuzz targets (fuzz.h), shared by libFuzzer and the
 * regression replay in `make test`. */
#include "fuzz.h"

#include "inventory.h"
#include "node.h"
#include "netaddr.h"
#include "redis.h"
#include "report.h"
#include "http.h"
#include "client_addr.h"
#include "cors.h"
#include "fcgi.h"
#include "fcgi_frame.h"
#include "select.h"
#include "affinity.h"
#include "query.h"
#include "snapshot.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The WebSocket handshake reply is judged inside probe/check_xfer.c by
 * its libcurl header callback (on_header, static).  It is wrapped here as
 * it is: this file includes check_xfer.c, so whatever links this file must
 * not also link probe/check_xfer.o (mk/fuzz.mk arranges that). */
#include "../../probe/check_xfer.c"

#define MAX_FIELDS 8

/* Input split at NUL bytes into NUL-terminated copies, each in a heap block
 * of its exact size, so that the sanitizers see any read past its end. */
struct fields {
    size_t n;
    char *s[MAX_FIELDS];
    size_t len[MAX_FIELDS];
};

static void fields_split(const uint8_t *data, size_t size, size_t want, struct fields *f)
{
    memset(f, 0, sizeof *f);
    size_t start = 0;
    while (f->n < want) {
        size_t end = size;
        if (f->n < want - 1) {
            const uint8_t *nul = memchr(data + start, 0, size - start);
            if (nul != NULL)
                end = (size_t)(nul - data);
        }
        size_t len = end - start;
        /* The last field takes the rest; a NUL inside it ends the string. */
        const uint8_t *nul = memchr(data + start, 0, len);
        if (nul != NULL)
            len = (size_t)(nul - (data + start));
        char *s = malloc(len + 1);
        if (s == NULL)
            abort();
        if (len)
            memcpy(s, data + start, len);
        s[len] = '\0';
        f->s[f->n] = s;
        f->len[f->n] = len;
        f->n++;
        if (end >= size)
            break;
        start = end + 1;
    }
}

static void fields_free(struct fields *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->s[i]);
    memset(f, 0, sizeof *f);
}

/* Field i, or NULL when the input has fewer fields. */
static const char *field(const struct fields *f, size_t i)
{
    return i < f->n ? f->s[i] : NULL;
}

/* An exact-size, not NUL-terminated copy (size 0 gives a 1-byte block). */
static char *exact_copy(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (p == NULL)
        abort();
    if (size)
        memcpy(p, data, size);
    return p;
}

/* An error text is always a terminated string shorter than WSB_ERRLEN. */
static int err_ok(const char *err)
{
    return memchr(err, '\0', WSB_ERRLEN) != NULL;
}

/* 1 when s is text that may go into a header or JSON string unescaped:
 * printable ASCII without '"' and '\\'. */
static int clean_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* route                                                               */

static const char *const PARAM_NAMES[] = { "SCRIPT_NAME", "PATH_INFO", "REQUEST_URI", "REQUEST_METHOD",
                                           "HTTP_ORIGIN" };
#define N_PARAMS (sizeof PARAM_NAMES / sizeof PARAM_NAMES[0])

struct route_ctx {
    const char *v[N_PARAMS];
};

static const char *route_get(const char *name, void *ctx)
{
    const struct route_ctx *c = ctx;
    for (size_t i = 0; i < N_PARAMS; i++)
        if (strcmp(name, PARAM_NAMES[i]) == 0)
            return c->v[i];
    return NULL;
}

/* 1 when path[0..len) ends with "/v<version>/websocket/server". */
static int ends_with_route(const char *path, size_t len, unsigned version)
{
    char tail[48];
    int n = snprintf(tail, sizeof tail, "/v%u/websocket/server", version);
    return n > 0 && (size_t)n <= len && memcmp(path + len - (size_t)n, tail, (size_t)n) == 0;
}

static const char *const HEADER_NAMES[] = { "Status", "Content-Type", "Cache-Control", "Retry-After", "Allow",
                                            "Access-Control-Allow-Origin", "Vary",
                                            "Access-Control-Allow-Methods", "Access-Control-Max-Age",
                                            "Access-Control-Expose-Headers",
                                            "Content-Length", NULL };

/* Checks the CGI response: a header block of known names with printable
 * values, then exactly Content-Length bytes of body (none for HEAD; a 204
 * has neither). */
static const char *response_check(const struct wsb_response *r, const struct wsb_answer *a,
                                  const struct wsb_cors *cors)
{
    const char *buf = r->buf, *end = r->buf + r->len;
    const char *p = buf;
    long content_length = -1;
    for (;;) {
        const char *eol = NULL;
        for (const char *q = p; q + 1 < end; q++)
            if (q[0] == '\r' && q[1] == '\n') {
                eol = q;
                break;
            }
        if (eol == NULL)
            return "route: header block does not end";
        if (eol == p) {
            p += 2;
            break;
        }
        for (const char *q = p; q < eol; q++)
            if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
                return "route: a header carries a control or non-ASCII byte";
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon + 1 >= eol || colon[1] != ' ')
            return "route: a header line is not 'Name: value'";
        size_t nlen = (size_t)(colon - p);
        int known = 0;
        for (int i = 0; HEADER_NAMES[i] != NULL; i++)
            if (strlen(HEADER_NAMES[i]) == nlen && memcmp(HEADER_NAMES[i], p, nlen) == 0)
                known = 1;
        if (!known)
            return "route: a header the handler never sends";
        const char *v = colon + 2;
        size_t vlen = (size_t)(eol - v);
        if (nlen == 27 && memcmp(p, "Access-Control-Allow-Origin", 27) == 0) {
            int configured = vlen == 1 && *v == '*' && cors->any;
            for (size_t i = 0; i < cors->n && !configured; i++)
                configured = strlen(cors->origins[i]) == vlen && memcmp(cors->origins[i], v, vlen) == 0;
            if (!configured)
                return "route: Access-Control-Allow-Origin is not a configured origin";
        }
        if (nlen == 14 && memcmp(p, "Content-Length", 14) == 0) {
            content_length = 0;
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return "route: Content-Length is not a number";
                content_length = content_length * 10 + (v[i] - '0');
            }
        }
        p = eol + 2;
    }
    size_t body = (size_t)(end - p);
    if (a->status == 204) {   /* no body, so no Content-Length (RFC 9110, 8.6) */
        if (content_length >= 0)
            return "route: a 204 with a Content-Length";
        return body != 0 ? "route: a 204 with a body" : NULL;
    }
    if (content_length < 0)
        return "route: no Content-Length";
    if (a->head ? body != 0 : body != (size_t)content_length)
        return "route: body length differs from Content-Length";
    if (body > 0) {
        cJSON *j = cJSON_ParseWithLength(p, body);
        int ok = cJSON_IsObject(j);
        cJSON_Delete(j);
        if (!ok)
            return "route: body is not a JSON object";
    }
    return NULL;
}

const char *wsb_fuzz_route(const uint8_t *data, size_t size)
{
    if (size < 1)
        return NULL;
    static int bodies;
    if (!bodies) {
        if (wsb_error_bodies_init() != WSB_OK)
            return "route: error bodies";
        bodies = 1;
    }
    uint8_t flags = data[0];
    struct fields f;
    fields_split(data + 1, size - 1, N_PARAMS + 1, &f);
    const char *bad = NULL;
    struct route_ctx ctx;
    for (size_t i = 0; i < N_PARAMS; i++)
        ctx.v[i] = (flags >> i) & 1 ? field(&f, i) : NULL;

    /* Each field on its own, as a bare path of exact length. */
    for (size_t i = 0; i < 3 && bad == NULL; i++) {
        if (field(&f, i) == NULL)
            continue;
        char *exact = exact_copy((const uint8_t *)f.s[i], f.len[i]);
        unsigned v = 0;
        if (wsb_route_match(exact, f.len[i], &v) &&
            (v < 1 || v > WSB_MAX_VERSION || !ends_with_route(exact, f.len[i], v)))
            bad = "route: wsb_route_match accepted a path that is not /v{N}/websocket/server";
        free(exact);
    }
    unsigned version = 0;
    int routed = wsb_route_from_params(route_get, &ctx, &version);
    if (bad == NULL && routed && (version < 1 || version > WSB_MAX_VERSION))
        bad = "route: version out of range";
    if (bad == NULL && routed) {
        /* The route came from PATH_INFO, SCRIPT_NAME+PATH_INFO or the path
         * part of REQUEST_URI: one of them must end with it. */
        const char *s = ctx.v[0] ? ctx.v[0] : "", *pi = ctx.v[1] ? ctx.v[1] : "";
        const char *uri = ctx.v[2];
        int found = ends_with_route(pi, strlen(pi), version);
        if (!found && (*s || *pi)) {
            size_t sl = strlen(s), pl = strlen(pi);
            char *joined = malloc(sl + pl + 1);
            if (joined == NULL)
                abort();
            memcpy(joined, s, sl);
            memcpy(joined + sl, pi, pl + 1);
            found = ends_with_route(joined, sl + pl, version);
            free(joined);
        }
        if (!found && uri != NULL)
            found = ends_with_route(uri, strcspn(uri, "?#"), version);
        if (!found)
            bad = "route: routed from no parameter that ends with the route";
    }

    struct wsb_cors cors;
    char err[WSB_ERRLEN];
    memset(&cors, 0, sizeof cors);
    const char *conf = (flags & 0x20) ? field(&f, N_PARAMS) : NULL;
    if (conf != NULL && wsb_cors_parse(conf, &cors, err) != WSB_OK) {
        if (!err_ok(err) && bad == NULL)
            bad = "route: CORS error text not terminated";
        memset(&cors, 0, sizeof cors);
    }
    for (size_t i = 0; i < cors.n && bad == NULL; i++)
        if (!clean_ascii(cors.origins[i]))
            bad = "route: a configured origin holds bytes unfit for a header";
    const char *allow = wsb_cors_allow(&cors, ctx.v[4]);
    if (bad == NULL && allow != NULL && ctx.v[4] != NULL && allow == ctx.v[4])
        bad = "route: the CORS origin returned is the request's own string";

    enum wsb_method m = wsb_method_parse(ctx.v[3]);
    static const int statuses[] = { 200, 204, 404, 405, 500, 503, 100, 101 };
    struct wsb_answer a;
    memset(&a, 0, sizeof a);
    a.status = statuses[((flags >> 6) & 3) | (routed ? 4 : 0)];
    int code = a.status;
    if (code == 100 || code == 101) {
        a.status = 503;
        a.retry_after = 5;
    } else if (code == 200) {
        code = 102;   /* any JSON body will do */
    }
    if (a.status != 204)
        a.body = wsb_error_body(code == 503 ? 100 : code, &a.body_len);
    a.allow_origin = allow;
    a.preflight = m == WSB_OPTIONS;
    a.head = m == WSB_HEAD;
    struct wsb_response *r = malloc(sizeof *r);
    if (r == NULL)
        abort();
    if (wsb_response_build(&a, r) != WSB_OK) {
        if (bad == NULL)
            bad = "route: a response did not fit";
    } else if (bad == NULL) {
        bad = response_check(r, &a, &cors);
    }
    free(r);
    wsb_cors_free(&cors);
    fields_free(&f);
    return bad;
}

/* ------------------------------------------------------------------ */
/* fcgi                                                                */

static void fcgi_respond(void *arg, wsb_param_fn get, void *params, struct wsb_response *r)
{
    (void)get;
    (void)params;
    (*(int *)arg)++;
    memcpy(r->buf, "Status: 200 OK\r\n\r\n", 19);
    r->len = 19;
}

/* libfcgi on a request the scanner calls whole: it must be answered, not
 * refused (a refusal means the two disagree), and without blocking. */
static const char *fcgi_libfcgi_agrees(const uint8_t *data, size_t len)
{
    static int initialised;
    if (!initialised && wsb_fcgi_init() != WSB_OK)
        return NULL;
    initialised = 1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return NULL;
    const char *bad = NULL;
    struct wsb_fcgi_conn *c = NULL;
    static struct wsb_response r;
    int calls = 0;
    if (write(sv[1], data, len) == (ssize_t)len && (c = wsb_fcgi_conn_new(sv[0])) != NULL) {
        enum wsb_fcgi_after after = wsb_fcgi_serve(c, 1, fcgi_respond, &calls, &r);
        if (after == WSB_FCGI_FAILED || calls != 1)
            bad = "fcgi: libfcgi refused a request the scanner called whole";
        wsb_fcgi_conn_free(c);
    } else {
        close(sv[0]);
    }
    close(sv[1]);
    return bad;
}

const char *wsb_fuzz_fcgi(const uint8_t *data, size_t size)
{
    struct wsb_frame_scan scan;
    enum wsb_frame f = wsb_frame_scan(data, size, &scan);
    switch (f) {
    case WSB_FRAME_COMPLETE:
        if (scan.params_end == 0 || scan.params_end > scan.request_end || scan.request_end > size)
            return "fcgi: complete, with ends out of order";
        return size <= 65536 ? fcgi_libfcgi_agrees(data, scan.request_end) : NULL;
    case WSB_FRAME_PARAMS:
        if (scan.params_end == 0 || scan.params_end > size)
            return "fcgi: parameters complete past the bytes given";
        return NULL;
    case WSB_FRAME_PARTIAL:
    case WSB_FRAME_BAD:
        return NULL;
    }
    return "fcgi: an answer outside the enum";
}

/* ------------------------------------------------------------------ */
/* xff                                                                 */

const char *wsb_fuzz_xff(const uint8_t *data, size_t size)
{
    struct fields f;
    fields_split(data, size, 3, &f);
    const char *remote = field(&f, 0), *xff = field(&f, 1), *trusted_s = field(&f, 2);
    const char *bad = NULL;
    struct wsb_cidr_list trusted = { 0, NULL };
    char err[WSB_ERRLEN];
    if (trusted_s != NULL && wsb_cidr_list_parse(trusted_s, &trusted, err) != WSB_OK) {
        if (!err_ok(err))
            bad = "xff: CIDR error text not terminated";
        if (trusted.n != 0 || trusted.v != NULL)
            bad = "xff: a failed CIDR list parse left entries";
    }
    for (size_t i = 0; i < trusted.n && bad == NULL; i++)
        if (trusted.v[i].prefix > 128 || (trusted.v[i].net.is_v4 && trusted.v[i].prefix < 96))
            bad = "xff: CIDR prefix out of range";

    /* Each field as one address of exact length. */
    for (size_t i = 0; i < f.n && bad == NULL; i++) {
        char *exact = exact_copy((const uint8_t *)f.s[i], f.len[i]);
        struct wsb_ip ip;
        if (wsb_ip_parse(exact, f.len[i], &ip) == WSB_OK) {
            char text[64];
            struct wsb_ip again;
            wsb_ip_format(&ip, text, sizeof text);
            if (wsb_ip_parse(text, strlen(text), &again) != WSB_OK || memcmp(again.b, ip.b, 16) != 0 ||
                again.is_v4 != ip.is_v4)
                bad = "xff: an address does not survive format and parse";
            (void)wsb_ip_is_local(&ip);
        }
        struct wsb_cidr c;
        if (wsb_cidr_parse(exact, f.len[i], &c, err) == WSB_OK && c.prefix > 128)
            bad = "xff: CIDR prefix out of range";
        free(exact);
    }

    struct wsb_ip client, r_ip;
    memset(&client, 0, sizeof client);
    int got = wsb_client_addr(remote, xff, &trusted, &client);
    int remote_ok = remote != NULL && wsb_ip_parse(remote, strlen(remote), &r_ip) == WSB_OK;
    if (bad == NULL) {
        if (got && !remote_ok)
            bad = "xff: a client address without a valid REMOTE_ADDR";
        else if (remote_ok && !wsb_cidr_list_contains(&trusted, &r_ip) &&
                 (!got || memcmp(client.b, r_ip.b, 16) != 0))
            bad = "xff: X-Forwarded-For believed from an untrusted REMOTE_ADDR";
        else if (remote_ok && (xff == NULL || trusted.n == 0) && (!got || memcmp(client.b, r_ip.b, 16) != 0))
            bad = "xff: without a header or trusted proxies the client is not REMOTE_ADDR";
        else if (got && xff != NULL && strlen(xff) > WSB_MAX_XFF && wsb_cidr_list_contains(&trusted, &r_ip))
            bad = "xff: a header over WSB_MAX_XFF was believed";
    }
    wsb_cidr_list_free(&trusted);
    fields_free(&f);
    return bad;
}

/* ------------------------------------------------------------------ */
/* record                                                              */

/* What the handler serves of a node: it must be a clean URL and label. */
static const char *served_check(const struct wsb_node *n, int allow_ws)
{
    char err[WSB_ERRLEN];
    if (n->endpoint == NULL || n->location == NULL || n->id == NULL)
        return "record: decoded node lacks a string";
    size_t len = strlen(n->endpoint);
    if (len > WSB_MAX_ENDPOINT)
        return "record: endpoint longer than WSB_MAX_ENDPOINT";
    if (strncmp(n->endpoint, "wss://", 6) != 0 && strncmp(n->endpoint, "ws://", 5) != 0)
        return "record: endpoint is neither wss:// nor ws://";
    if (!clean_ascii(n->endpoint))
        return "record: endpoint holds a control, quote, backslash or non-ASCII byte";
    if (wsb_endpoint_check(n->endpoint, 1, err) != WSB_OK)
        return "record: decoded endpoint fails wsb_endpoint_check";
    if (!allow_ws && strncmp(n->endpoint, "ws://", 5) == 0 && wsb_endpoint_check(n->endpoint, 0, err) == WSB_OK)
        return "record: ws:// passes the check with ws:// disallowed";
    if (wsb_location_check(n->location, err) != WSB_OK)
        return "record: decoded location fails wsb_location_check";
    for (const unsigned char *p = (const unsigned char *)n->location; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "record: location holds a control byte";
    if (wsb_node_id_check(n->id, strlen(n->id), err) != WSB_OK)
        return "record: decoded id fails its check";
    if (n->n_versions < 1 || n->n_versions > WSB_MAX_VERSIONS)
        return "record: version count out of range";
    for (size_t i = 0; i < n->n_versions; i++)
        if (n->versions[i] < 1 || n->versions[i] > WSB_MAX_VERSION)
            return "record: version out of range";
    if (n->has_coords && (!(n->lat >= -90 && n->lat <= 90) || !(n->lon >= -180 && n->lon <= 180)))
        return "record: coordinates out of range";
    if (n->load_known && !(n->load >= 0 && isfinite(n->load)))
        return "record: load not a finite number >= 0";
    if (memchr(n->last_error, '\0', sizeof n->last_error) == NULL)
        return "record: last_error not terminated";
    return NULL;
}

const char *wsb_fuzz_record(const uint8_t *data, size_t size)
{
    if (size < 1)
        return NULL;
    int allow_ws = data[0] & 1;
    data++;
    size--;
    const uint8_t *nul = memchr(data, 0, size);
    size_t idlen = nul ? (size_t)(nul - data) : 0;
    const uint8_t *json = nul ? nul + 1 : data;
    size_t jlen = nul ? size - idlen - 1 : size;
    char *id = exact_copy(data, idlen);
    char *text = exact_copy(json, jlen);
    const char *bad = NULL;
    char err[WSB_ERRLEN];
    struct wsb_node n, again;
    wsb_node_init(&again);
    int status = wsb_node_decode(nul ? id : "x", nul ? idlen : 1, text, jlen, &n, err);
    if (status != WSB_OK) {
        if (status != WSB_EINVAL && status != WSB_ETOOBIG && status != WSB_ENOMEM)
            bad = "record: decode failed with an unexpected status";
        else if (!err_ok(err))
            bad = "record: error text not terminated";
        else if (n.id != NULL || n.endpoint != NULL || n.location != NULL)
            bad = "record: failed decode left strings behind";
        else if (status == WSB_ETOOBIG && jlen <= WSB_MAX_RECORD)
            bad = "record: ETOOBIG for a record within WSB_MAX_RECORD";
    } else if (jlen > WSB_MAX_RECORD) {
        bad = "record: a record over WSB_MAX_RECORD was accepted";
    } else if ((bad = served_check(&n, allow_ws)) == NULL) {
        /* Round trip: what the probe would write decodes to the same node. */
        char *enc = NULL;
        if (wsb_node_encode(&n, &enc, err) != WSB_OK) {
            bad = "record: a decoded node does not encode";
        } else {
            if (wsb_node_decode(n.id, strlen(n.id), enc, strlen(enc), &again, err) != WSB_OK)
                bad = "record: an encoded node does not decode";
            else if (strcmp(again.endpoint, n.endpoint) != 0 || strcmp(again.location, n.location) != 0 ||
                     again.n_versions != n.n_versions ||
                     memcmp(again.versions, n.versions, n.n_versions * sizeof n.versions[0]) != 0 ||
                     again.online != n.online || again.drain != n.drain || again.has_coords != n.has_coords ||
                     again.load_known != n.load_known || strcmp(again.country, n.country) != 0 ||
                     strcmp(again.continent, n.continent) != 0)
                bad = "record: encode/decode round trip changed the node";
            free(enc);
        }
        /* The 200 body the snapshot precomputes from it is valid JSON. */
        if (bad == NULL) {
            cJSON *o = cJSON_CreateObject();
            char *body = NULL;
            if (o != NULL && cJSON_AddStringToObject(o, "endpoint", n.endpoint) &&
                cJSON_AddStringToObject(o, "location", n.location))
                body = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            cJSON *p = body ? cJSON_Parse(body) : NULL;
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(p, "endpoint");
            if (body == NULL || !cJSON_IsString(e) || strcmp(e->valuestring, n.endpoint) != 0)
                bad = "record: the 200 body does not carry the endpoint back";
            cJSON_Delete(p);
            free(body);
        }
    }
    wsb_node_clear(&again);
    wsb_node_clear(&n);
    free(id);
    free(text);
    return bad;
}

/* ------------------------------------------------------------------ */
/* inventory                                                           */

const char *wsb_fuzz_inventory(const uint8_t *data, size_t size)
{
    char *text = exact_copy(data, size);
    char err[WSB_ERRLEN];
    struct wsb_inventory inv;
    const char *bad = NULL;
    int status = wsb_inventory_parse("fuzz.json", text, size, &inv, err);
    if (status != WSB_OK) {
        if (!err_ok(err))
            bad = "inventory: error text not terminated";
        else if (strncmp(err, "fuzz.json", 9) != 0)
            bad = "inventory: error text does not name the file";
        else if (inv.n != 0 || inv.nodes != NULL || inv.ca_file != NULL)
            bad = "inventory: failed parse left something to free";
    } else {
        for (size_t i = 0; i < inv.n && bad == NULL; i++) {
            const struct wsb_inv_node *n = &inv.nodes[i];
            if (wsb_endpoint_check(n->node.endpoint, inv.allow_insecure_ws, err) != WSB_OK)
                bad = "inventory: accepted an endpoint that fails the check";
            else if (wsb_location_check(n->node.location, err) != WSB_OK)
                bad = "inventory: accepted a location that fails the check";
            else if (wsb_node_id_check(n->node.id, strlen(n->node.id), err) != WSB_OK)
                bad = "inventory: accepted an id that fails the check";
            else if (n->node.n_versions < 1 || n->node.n_versions > WSB_MAX_VERSIONS)
                bad = "inventory: version count out of range";
            else if (n->check.target == NULL || n->check.timeout_ms < WSB_CHECK_TIMEOUT_MIN ||
                     n->check.timeout_ms > WSB_CHECK_TIMEOUT_MAX)
                bad = "inventory: check without a target or timeout out of range";
            else if (n->check.rise < 1 || n->check.rise > WSB_CHECK_COUNT_MAX || n->check.fall < 1 ||
                     n->check.fall > WSB_CHECK_COUNT_MAX)
                bad = "inventory: rise/fall out of range";
            for (size_t j = 0; j < i && bad == NULL; j++)
                if (strcmp(inv.nodes[j].node.id, n->node.id) == 0)
                    bad = "inventory: two nodes with one id";
        }
    }
    wsb_inventory_free(&inv);
    wsb_inventory_free(&inv);   /* a freed inventory may be freed again */
    free(text);
    return bad;
}

/* ------------------------------------------------------------------ */
/* report                                                              */

const char *wsb_fuzz_report(const uint8_t *data, size_t size)
{
    if (size < 1)
        return NULL;
    int required = data[0] & 1;
    long long inv_cap = (data[0] & 2) ? 1000 : -1;
    char *body = exact_copy(data + 1, size - 1);
    char why[WSB_ERRLEN];
    why[0] = '\0';
    struct wsb_load_report r;
    const char *bad = NULL;
    enum wsb_outcome o = wsb_report_parse(body, size - 1, required, &r, why);
    if (o != WSB_OUT_OK && o != WSB_OUT_NO_REPORT && o != WSB_OUT_BAD_REPORT && o != WSB_OUT_REPORT_TOO_LARGE)
        bad = "report: unexpected outcome";
    else if (!err_ok(why))
        bad = "report: reason not terminated";
    else if (o == WSB_OUT_NO_REPORT && required)
        bad = "report: no_report for a required report";
    else if (o != WSB_OUT_OK && (r.has_load || r.connections != -1 || r.capacity != -1))
        bad = "report: a failed report left values";
    else if (o == WSB_OUT_OK && r.has_load && !(r.load >= 0 && r.load <= WSB_MAX_LOAD_VALUE))
        bad = "report: load out of range";
    else if (o == WSB_OUT_OK && (r.connections < -1 || r.capacity == 0 || r.capacity < -1))
        bad = "report: counts out of range";
    else if (o == WSB_OUT_OK && !r.has_load && r.connections < 0)
        bad = "report: ok without load or connections";
    if (bad == NULL) {
        struct wsb_node n;
        wsb_node_init(&n);
        wsb_report_apply(o == WSB_OUT_OK ? &r : NULL, inv_cap, &n);
        if (n.load_known && !(n.load >= 0 && n.load <= WSB_MAX_LOAD_VALUE))
            bad = "report: applied load out of range";
    }
    free(body);
    return bad;
}

/* ------------------------------------------------------------------ */
/* handshake                                                           */

/* The key of RFC 6455's example, and its accept value. */
#define FUZZ_WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="

const char *wsb_fuzz_handshake(const uint8_t *data, size_t size)
{
    struct wsb_xfer x;
    memset(&x, 0, sizeof x);
    wsb_ws_accept(FUZZ_WS_KEY, x.want_accept);
    const char *bad = NULL;
    size_t pos = 0;
    int stopped = 0;
    /* libcurl hands the callback one header line at a time, its CRLF
     * included; the last piece may lack one. */
    while (pos < size && !stopped) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (data + pos)) + 1 : size - pos;
        char *line = exact_copy(data + pos, len);
        size_t got = on_header(line, 1, len, &x);
        free(line);
        if (got == 0) {
            stopped = 1;
        } else if (got != len) {
            bad = "handshake: header callback returned a partial length";
            break;
        }
        pos += len;
    }
    char detail[WSB_DETAIL_LEN];
    if (x.ans.done)
        wsb_ws_answer_detail(&x.ans, detail, sizeof detail);
    if (bad == NULL && stopped != x.ans.done)
        bad = "handshake: transfer stopped without a verdict, or a verdict without stopping";
    if (bad == NULL && x.ans.done) {
        if (x.ans.verdict != WSB_OUT_OK && x.ans.verdict != WSB_OUT_BAD_HANDSHAKE &&
            x.ans.verdict != WSB_OUT_BAD_STATUS)
            bad = "handshake: unexpected verdict";
        else if (memchr(detail, '\0', sizeof detail) == NULL)
            bad = "handshake: detail not terminated";
        else if (x.ans.verdict == WSB_OUT_OK &&
                 (x.ans.code != 101 || !x.ans.accept_ok || !x.ans.upgrade_ok || !x.ans.connection_ok))
            bad = "handshake: ok without 101, accept, upgrade and connection";
        else if (x.ans.verdict == WSB_OUT_OK) {
            /* The right accept value must really be in the input. */
            int seen = 0;
            for (size_t i = 0; i + WSB_WS_ACCEPT_LEN <= size && !seen; i++)
                seen = memcmp(data + i, x.want_accept, WSB_WS_ACCEPT_LEN) == 0;
            if (!seen)
                bad = "handshake: ok although the accept value is nowhere in the answer";
        }
    }
    return bad;
}

/* ------------------------------------------------------------------ */
/* redis_url                                                           */

/* The password of a single redis:// URL as the parser finds it, for the
 * leak check: [start, end) of the text between "user:" and the last '@'
 * of the authority.  Returns 0 when there is none. */
static int url_password(const char *url, size_t *start, size_t *end)
{
    if (strncmp(url, "redis://", 8) != 0)
        return 0;
    const char *p = url + 8;
    const char *slash = strchr(p, '/');
    const char *auth_end = slash ? slash : p + strlen(p);
    const char *at = NULL;
    for (const char *s = p; s < auth_end; s++)
        if (*s == '@')
            at = s;
    if (at == NULL)
        return 0;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (colon == NULL)
        return 0;
    *start = (size_t)(colon + 1 - url);
    *end = (size_t)(at - url);
    return 1;
}

const char *wsb_fuzz_redis_url(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (url == NULL)
        abort();
    memcpy(url, data, size);
    url[size] = '\0';
    const char *bad = NULL;
    char err[WSB_ERRLEN];
    err[0] = '\0';
    struct wsb_redis_addr a;
    int status = wsb_redis_url_parse(url, &a, err);
    char shown[400] = "";
    if (status == WSB_OK)
        wsb_redis_addr_format(&a, shown, sizeof shown);
    if (!err_ok(err))
        bad = "redis_url: error text not terminated";
    size_t ps, pe;
    if (bad == NULL && strchr(url, ',') == NULL && url_password(url, &ps, &pe)) {
        /* Nothing said about the URL may depend on the password: parse it
         * again with every password byte changed (escapes kept, so that a
         * valid URL stays valid) and compare what is shown. */
        char *other = strdup(url);
        if (other == NULL)
            abort();
        for (size_t i = ps; i < pe; i++) {
            if (other[i] == '%') {
                i += 2;
                continue;
            }
            other[i] = other[i] == 'Q' ? 'R' : 'Q';
        }
        char err2[WSB_ERRLEN], shown2[400] = "";
        err2[0] = '\0';
        struct wsb_redis_addr b;
        int status2 = wsb_redis_url_parse(other, &b, err2);
        if (status2 == WSB_OK)
            wsb_redis_addr_format(&b, shown2, sizeof shown2);
        if (status2 != status || strcmp(err, err2) != 0 || strcmp(shown, shown2) != 0)
            bad = "redis_url: an error text or the address shown depends on the password";
        free(other);
    }
    if (bad == NULL && status == WSB_OK &&
        (a.port < 1 || a.port > 65535 || a.db < 0 || a.db > 65535 ||
         memchr(a.host, '\0', sizeof a.host) == NULL || memchr(a.path, '\0', sizeof a.path) == NULL ||
         memchr(a.password, '\0', sizeof a.password) == NULL || memchr(a.user, '\0', sizeof a.user) == NULL))
        bad = "redis_url: parsed address out of range";
    struct wsb_redis_config *cfg = malloc(sizeof *cfg);
    if (cfg == NULL)
        abort();
    status = wsb_redis_config_parse(url, NULL, 100, 100, cfg, err);
    if (bad == NULL && !err_ok(err))
        bad = "redis_url: list error text not terminated";
    if (bad == NULL && status == WSB_OK && (cfg->n < 1 || cfg->n > WSB_REDIS_MAX_ADDRS))
        bad = "redis_url: address count out of range";
    free(cfg);
    free(url);
    return bad;
}

/* ------------------------------------------------------------------ */
/* select                                                              */

static const char *const FUZZ_COUNTRIES[] = { "", "DE", "GB", "JP", "US", "FR", "SE", "CN" };
static const char *const FUZZ_CONTINENTS[] = { "", "EU", "AS", "NA" };
#define SELECT_NODE_BYTES 8
#define SELECT_HEAD_BYTES 21
#define SELECT_MAX_NODES 64

/* Little-endian int16 at p scaled to [-limit, limit]. */
static double scaled(const uint8_t *p, double limit)
{
    int16_t v = (int16_t)(uint16_t)(p[0] | (p[1] << 8));
    double d = v / 32767.0 * limit;
    return d < -limit ? -limit : d > limit ? limit : d;
}

/* The selection policy of select.h, computed the slow way over every
 * eligible node. */
static double fuzz_similarity(const struct wsb_node *n, const struct wsb_client_loc *c)
{
    if (c->has_coords && n->has_coords) {
        double ax, ay, az, bx, by, bz;
        wsb_geo_unit(n->lat, n->lon, &ax, &ay, &az);
        wsb_geo_unit(c->lat, c->lon, &bx, &by, &bz);
        return ax * bx + ay * by + az * bz;
    }
    if (c->country[0] && strcmp(n->country, c->country) == 0)
        return 1.0;
    if (c->continent[0] && strcmp(n->continent, c->continent) == 0)
        return cos(WSB_SAME_CONTINENT_KM / WSB_EARTH_RADIUS_KM);
    return -1.0;
}

/* Node records from bytes (see fuzz.h); returns how many. */
static size_t select_nodes(const uint8_t *data, size_t size, size_t n, struct wsb_node *nodes)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t b[SELECT_NODE_BYTES] = { 0 };
        size_t off = SELECT_HEAD_BYTES + i * SELECT_NODE_BYTES;
        for (size_t j = 0; j < SELECT_NODE_BYTES && off + j < size; j++)
            b[j] = data[off + j];
        struct wsb_node *nd = &nodes[i];
        wsb_node_init(nd);
        char id[24], ep[64];
        snprintf(id, sizeof id, "n%zu", i);
        snprintf(ep, sizeof ep, "%s://n%zu.example/ws", (b[4] & 8) ? "ws" : "wss", i);
        nd->id = strdup(id);
        nd->endpoint = strdup(ep);
        nd->location = strdup(id);
        if (nd->id == NULL || nd->endpoint == NULL || nd->location == NULL)
            abort();
        nd->has_coords = b[4] & 1;
        nd->lat = scaled(b, 90);
        nd->lon = scaled(b + 2, 180);
        nd->online = (b[4] >> 1) & 1;
        nd->drain = (b[4] >> 2) & 1;
        for (unsigned v = 1; v <= 3; v++)
            if ((b[4] >> (3 + v)) & 1)
                nd->versions[nd->n_versions++] = v;
        if (nd->n_versions == 0)
            nd->versions[nd->n_versions++] = 1;
        nd->load_known = b[5] != 255;
        nd->load = b[5] / 200.0;
        snprintf(nd->country, sizeof nd->country, "%s", FUZZ_COUNTRIES[b[6] & 7]);
        snprintf(nd->continent, sizeof nd->continent, "%s", FUZZ_CONTINENTS[(b[6] >> 3) & 3]);
    }
    return n;
}

const char *wsb_fuzz_select(const uint8_t *data, size_t size)
{
    uint8_t h[SELECT_HEAD_BYTES] = { 0 };
    memcpy(h, data, size < sizeof h ? size : sizeof h);
    size_t n = h[0] % (SELECT_MAX_NODES + 1);
    int live = h[1] & 1, rebuild = (h[1] >> 5) & 1;
    struct wsb_snapshot_params p;
    memset(&p, 0, sizeof p);
    p.allow_ws = (h[1] >> 1) & 1;
    p.near_km = h[2] * 80.0 > 20038 ? 20038 : h[2] * 80.0;
    p.max_load = (h[3] + 1) / 256.0;
    p.unknown_load = 0.5;
    struct wsb_client_loc c;
    memset(&c, 0, sizeof c);
    c.has_coords = (h[1] >> 2) & 1;
    c.lat = scaled(h + 4, 90);
    c.lon = scaled(h + 6, 180);
    if ((h[1] >> 3) & 1)
        snprintf(c.country, sizeof c.country, "%s", FUZZ_COUNTRIES[h[8] & 7]);
    if ((h[1] >> 4) & 1)
        snprintf(c.continent, sizeof c.continent, "%s", FUZZ_CONTINENTS[h[9] & 3]);
    unsigned version = 1 + h[10] % 3;
    uint64_t rnd = 0;
    for (int i = 0; i < 8; i++)
        rnd = rnd << 8 | h[11 + i];

    /* The reference: what each node is, before the snapshot takes them.
     * With h[20] odd, some nodes are filled up after the build (as other
     * handlers' assignments would): a full node that reports a load is not
     * eligible, and the band moves to the nearest node with room. */
    struct wsb_node nodes[SELECT_MAX_NODES], ref[SELECT_MAX_NODES];
    select_nodes(data, size, n, nodes);
    int listed[SELECT_MAX_NODES], eligible[SELECT_MAX_NODES], full[SELECT_MAX_NODES];
    size_t n_listed = 0, n_eligible = 0, n_online = 0;
    for (size_t i = 0; i < n; i++) {
        ref[i] = nodes[i];
        listed[i] = 0;
        for (size_t j = 0; j < nodes[i].n_versions; j++)
            listed[i] |= nodes[i].versions[j] == version;
        int online = nodes[i].online && live;
        full[i] = (h[20] & 1) && ((((unsigned)h[19] * 31u + (unsigned)i * 17u) >> 3) & 1);
        eligible[i] = listed[i] && online && !nodes[i].drain && !(full[i] && nodes[i].load_known) &&
                      !(nodes[i].load_known && nodes[i].load >= p.max_load) &&
                      (p.allow_ws || strncmp(nodes[i].endpoint, "wss://", 6) == 0);
        n_listed += listed[i] != 0;
        n_online += listed[i] && online;
        n_eligible += eligible[i] != 0;
    }
    double sims[SELECT_MAX_NODES], best = -2.0;
    int located = c.has_coords || c.country[0] || c.continent[0];
    for (size_t i = 0; i < n; i++) {
        sims[i] = fuzz_similarity(&ref[i], &c);
        if (eligible[i] && sims[i] > best)
            best = sims[i];
    }
    /* The band: at most half again the nearest's distance, at least
     * WSB_NEAR_MIN_KM and at most near_km wide. */
    double a0 = acos(best > 1.0 ? 1.0 : best < -1.0 ? -1.0 : best);
    double widen = fmax(a0 / 2, fmin(p.near_km, WSB_NEAR_MIN_KM) / WSB_EARTH_RADIUS_KM);
    double angle = a0 + fmin(widen, p.near_km / WSB_EARTH_RADIUS_KM);
    double bound = (angle >= M_PI ? -1.0 : cos(angle)) - 1e-9;
    /* Names of the nodes for the checks, as the snapshot owns the strings. */
    char names[SELECT_MAX_NODES][16];
    for (size_t i = 0; i < n; i++)
        snprintf(names[i], sizeof names[i], "%s", ref[i].id);

    const char *bad = NULL;
    struct wsb_snapshot *s = NULL, *first = NULL;
    if (wsb_snapshot_build(nodes, n, live, NULL, 0, 0, &p, NULL, &first) != WSB_OK)
        abort();
    s = first;
    if (rebuild) {
        /* The same nodes again, built with the first as prev: indexes reused. */
        struct wsb_node again[SELECT_MAX_NODES];
        select_nodes(data, size, n, again);
        if (wsb_snapshot_build(again, n, live, NULL, 0, 0, &p, first, &s) != WSB_OK)
            abort();
    }
    for (size_t i = 0; i < n; i++)
        if (full[i])
            s->tally[i].fleet = UINT32_MAX / 2;
    struct wsb_select_scratch sc;
    memset(&sc, 0, sizeof sc);
    if (wsb_select_scratch_reserve(&sc, s->max_eligible) != WSB_OK)
        abort();
    int want = n == 0 ? WSB_NO_SERVERS_AVAILABLE
             : n_listed == 0 ? WSB_NO_SERVERS_VERSION
             : n_eligible == 0 ? (n_online ? WSB_NO_SERVERS_AVAILABLE : WSB_NO_SERVERS_ONLINE)
             : WSB_SELECT_OK;
    for (int t = 0; t < 16 && bad == NULL; t++) {
        uint64_t r = t == 0 ? rnd : rnd * 0x9e3779b97f4a7c15ull + ((uint64_t)t << 60);
        const struct wsb_snap_node *out = NULL;
        int code = wsb_select(s, version, &c, r, 0, &sc, &out);
        if (code != want) {
            bad = "select: error code differs from the policy";
            break;
        }
        if (code != WSB_SELECT_OK) {
            if (out != NULL)
                bad = "select: an error with a node";
            break;
        }
        size_t i = (size_t)(out - s->nodes);
        if (out == NULL || i >= n || strcmp(out->node.id, names[i]) != 0)
            bad = "select: the node returned is not one of the snapshot's";
        else if (!eligible[i])
            bad = "select: chose a node that is not eligible (offline, drained, overloaded, full, ws://, version)";
        else if (located && n_eligible > 1 && sims[i] < bound)
            bad = "select: chose a node farther than near_km beyond the nearest eligible one";
        else if (out->body == NULL || strstr(out->body, out->node.endpoint) == NULL)
            bad = "select: the precomputed body lacks the endpoint";
    }
    wsb_select_scratch_free(&sc);
    if (s != first)
        wsb_snapshot_unref(s);
    wsb_snapshot_unref(first);
    return bad;
}

/* ------------------------------------------------------------------ */
/* query                                                               */
/* ------------------------------------------------------------------ */

static const char *QUERY_NODES[] = { "wss://n0.example.net/ws", "wss://n1.example.net/ws", "wss://n2.example.net/ws",
                                     "wss://n3.example.net/ws?x=1" };

struct query_ctx {
    const char *qs, *uri;
};

static const char *query_get(const char *name, void *ctx)
{
    const struct query_ctx *c = ctx;
    if (strcmp(name, "QUERY_STRING") == 0)
        return c->qs;
    if (strcmp(name, "REQUEST_URI") == 0)
        return c->uri;
    return NULL;
}

/* Occurrences of name at the start of a '&'-separated pair of qs. */
static size_t pairs_named(const char *qs, size_t len, const char *name)
{
    size_t n = 0, nl = strlen(name);
    for (size_t i = 0; i < len; i++)
        if ((i == 0 || qs[i - 1] == '&') && len - i >= nl && memcmp(qs + i, name, nl) == 0)
            n++;
    return n;
}

const char *wsb_fuzz_query(const uint8_t *data, size_t size)
{
    if (size < 1)
        return NULL;
    uint8_t flags = data[0];
    char *raw = malloc(size);   /* the query and a NUL: a parameter is a C string */
    if (raw == NULL)
        return NULL;
    memcpy(raw, data + 1, size - 1);
    raw[size - 1] = '\0';
    size_t rlen = strlen(raw);
    const char *bad = NULL;
    struct query_ctx ctx = { NULL, NULL };
    char *uri = NULL;
    if (flags & 1) {
        ctx.qs = raw;
    } else {
        uri = malloc(rlen + 24);
        if (uri != NULL) {
            memcpy(uri, "/v1/websocket/server?", 21);
            memcpy(uri + 21, raw, rlen + 1);
        }
        ctx.uri = uri;
    }
    size_t qlen = 0;
    const char *qs = wsb_query_string(query_get, &ctx, &qlen);
    struct wsb_query *q = malloc(sizeof *q);
    if (q == NULL)
        goto cleanup;
    wsb_query_parse(qs, qlen, q);
    if (qs != NULL && (qs < (ctx.qs ? ctx.qs : uri) || qlen > rlen))
        bad = "query: the query string is not within the parameter";
    size_t seen = qs ? pairs_named(qs, qlen, "exclude=") : 0;
    if (bad == NULL && (q->n_exclude > WSB_QUERY_MAX_EXCLUDE || q->n_exclude > seen))
        bad = "query: more excludes than given or allowed";
    for (size_t i = 0; bad == NULL && i < q->n_exclude; i++) {
        const char *e = q->exclude[i];
        if (e < q->buf || e + q->exclude_len[i] >= q->buf + sizeof q->buf)
            bad = "query: an exclude outside its buffer";
        else if (q->exclude_len[i] < 1 || q->exclude_len[i] > WSB_MAX_ENDPOINT || strlen(e) != q->exclude_len[i])
            bad = "query: an exclude empty, too long, or holding a NUL";
    }
    if (bad == NULL && q->affinity != NULL &&
        (q->affinity_len < 1 || q->affinity_len > WSB_AFFINITY_MAX || q->affinity < q->buf ||
         q->affinity + q->affinity_len >= q->buf + sizeof q->buf || (qs && pairs_named(qs, qlen, "affinity=") == 0)))
        bad = "query: an affinity key out of bounds";
    if (bad != NULL)
        goto cleanup;

    /* Selection with what was parsed: never an excluded node while
     * another can answer; with a key, the same node twice. */
    struct wsb_node nodes[4];
    char err[WSB_ERRLEN], json[256], id[16];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "n%d", i);
        snprintf(json, sizeof json, "{\"endpoint\":\"%s\",\"location\":\"N\",\"versions\":[\"v1\"],\"online\":true,"
                 "\"capacity\":100,\"connections\":%d,\"load\":0.1}", QUERY_NODES[i], (flags >> (2 + i % 6)) & 1 ? 95 : 10);
        if (wsb_node_decode(id, strlen(id), json, strlen(json), &nodes[i], err) != WSB_OK) {
            for (int j = 0; j < i; j++)
                wsb_node_clear(&nodes[j]);
            bad = "query: a fixed node did not decode";
            goto cleanup;
        }
    }
    struct wsb_snapshot_params p = { .max_load = 0.9, .unknown_load = 0.5, .near_km = 300 };
    struct wsb_snapshot *s = NULL;
    if (wsb_snapshot_build(nodes, 4, 1, NULL, 0, 0, &p, NULL, &s) != WSB_OK)
        goto cleanup;
    struct wsb_select_scratch sc = { 0 };
    uint32_t ex[2 * WSB_QUERY_MAX_EXCLUDE];
    struct wsb_select_request rq = { .version = 1, .exclude = ex, .balance = WSB_AFFINITY_BALANCE };
    rq.n_exclude = wsb_select_match_exclude(s, 1, q->exclude, q->exclude_len, q->n_exclude, ex, 8);
    if (q->affinity != NULL) {
        rq.has_affinity = 1;
        rq.affinity_hash = wsb_affinity_hash(q->affinity, q->affinity_len);
    }
    const struct wsb_snap_node *a = NULL, *b = NULL;
    int code = WSB_NO_SERVERS_AVAILABLE;
    if (wsb_select_scratch_reserve(&sc, s->max_eligible) == WSB_OK) {
        code = wsb_select_for(s, &rq, 77, 0, &sc, &a);
        wsb_select_for(s, &rq, 78, 0, &sc, &b);
    }
    size_t open = 0, open_not_excluded = 0;
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        int is_ex = 0;
        for (size_t j = 0; j < rq.n_exclude; j++)
            is_ex |= ex[j] == i;
        if (s->nodes[i].eligible && wsb_select_has_room(s, i)) {
            open++;
            open_not_excluded += !is_ex;
        }
    }
    for (uint32_t i = 0; bad == NULL && a != NULL && i < s->n_nodes; i++) {
        int is_ex = 0;
        for (size_t j = 0; j < rq.n_exclude; j++)
            is_ex |= ex[j] == i;
        if (a == &s->nodes[i] && is_ex && open_not_excluded > 0)
            bad = "query: answered an excluded node while another could answer";
    }
    if (bad == NULL && open > 0 && (code != WSB_SELECT_OK || a == NULL))
        bad = "query: no answer while a node could take one";
    if (bad == NULL && rq.has_affinity && a != b)
        bad = "query: the same key got two nodes";
    wsb_select_scratch_free(&sc);
    wsb_snapshot_unref(s);
cleanup:
    free(q);
    free(uri);
    free(raw);
    return bad;
}

const struct wsb_fuzz_target wsb_fuzz_targets[] = {
    { "route", wsb_fuzz_route },
    { "xff", wsb_fuzz_xff },
    { "fcgi", wsb_fuzz_fcgi },
    { "record", wsb_fuzz_record },
    { "inventory", wsb_fuzz_inventory },
    { "report", wsb_fuzz_report },
    { "handshake", wsb_fuzz_handshake },
    { "redis_url", wsb_fuzz_redis_url },
    { "select", wsb_fuzz_select },
    { "query", wsb_fuzz_query },
    { NULL, NULL },
};

/* inventory.c: parsing and validating the probe's inventory (JSON). */
#include "inventory.h"
#include "json_get.h"
#include "state_read.h"
#include "status.h"
#include "url.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PLACE_LEN WSB_JSON_PLACE_LEN

struct parse_ctx {
    const char *name;     /* the file as error texts call it */
    char *err;
    char why[WSB_ERRLEN]; /* a getter's reason, before the name goes in front */
};

/* Check settings as one object states them (defaults.check or a node's). */
struct check_part {
    int has_type, has_timeout, has_rise, has_fall, has_flap_checks, has_flap_failures;
    enum wsb_check_type type;
    long timeout_ms;
    unsigned rise, fall, flap_checks, flap_failures;
    const char *url;      /* borrowed from the JSON tree */
    const char *address;
};

struct defaults {
    unsigned versions[WSB_MAX_VERSIONS];
    size_t n_versions;
    long long capacity;
    long long slow_start_s, max_new_per_s;  /* -1: not given */
    const char *location;
    char country[3], continent[3];
    struct check_part check;
};

static const char *const TOP_KEYS[] = { "allow_insecure_ws", "ca_file", "canary", "defaults", "nodes", NULL };
static const char *const DEFAULTS_KEYS[] = { "versions", "capacity", "check", "location", "country", "continent",
                                             "slow_start_s", "max_new_per_s", NULL };
static const char *const DEFAULT_CHECK_KEYS[] = { "type", "timeout_ms", "rise", "fall", "flap_checks",
                                                   "flap_failures", NULL };
static const char *const NODE_KEYS[] = { "id", "endpoint", "location", "latitude", "longitude", "country",
                                         "continent", "versions", "capacity", "check", "status_url", "drain",
                                         "slow_start_s", "max_new_per_s", NULL };
static const char *const NODE_CHECK_KEYS[] = { "type", "timeout_ms", "rise", "fall", "flap_checks", "flap_failures",
                                                "url", "address", NULL };
static const char *const CANARY_KEYS[] = { "type", "timeout_ms", "url", "address", NULL };
static const char *const CONTINENTS[] = { "AF", "AN", "AS", "EU", "NA", "OC", "SA", NULL };

const char *wsb_check_type_name(enum wsb_check_type t)
{
    switch (t) {
    case WSB_CHECK_WEBSOCKET: return "websocket";
    case WSB_CHECK_HTTP: return "http";
    case WSB_CHECK_TCP: return "tcp";
    }
    return "unknown";
}

/* Formats "name: place: reason" (or "name: reason") into the error text. */
__attribute__((format(printf, 4, 5)))
static int fail_at(struct parse_ctx *c, int status, const char *place, const char *fmt, ...)
{
    char msg[WSB_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (place != NULL && place[0] != '\0')
        return wsb_fail(c->err, status, "%.80s: %s: %s", c->name, place, msg);
    return wsb_fail(c->err, status, "%.80s: %s", c->name, msg);
}

/* Edit distance of two short strings, capped at 9 (for "did you mean"). */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 30 || lb > 30)
        return 9;
    int d[31][31];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            d[i][j] = best;
        }
    return d[la][lb] > 9 ? 9 : d[la][lb];
}

/* Rejects keys outside allowed (keys starting with '_' are comments) and
 * keys given twice. */
static int check_keys(struct parse_ctx *c, const cJSON *obj, const char *place, const char *const *allowed)
{
    char where[PLACE_LEN];
    for (const cJSON *k = obj->child; k != NULL; k = k->next) {
        const char *key = k->string ? k->string : "";
        if (key[0] == '_')
            continue;
        for (const cJSON *e = obj->child; e != k; e = e->next)
            if (e->string != NULL && strcmp(e->string, key) == 0)
                return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, key), "given twice");
        int known = 0;
        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strcmp(allowed[i], key) == 0;
        if (!known) {
            /* The suggestion only for a key that is not known: edit
             * distances for every key of every node were 2 % of a
             * 10,000-node round's CPU. */
            const char *near = NULL;
            for (size_t i = 0; allowed[i] != NULL && near == NULL; i++)
                if (edit_distance(allowed[i], key) <= 2)
                    near = allowed[i];
            if (near != NULL)
                return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, key), "unknown key (did you mean \"%s\"?)",
                               near);
            return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, key), "unknown key");
        }
    }
    return WSB_OK;
}

/* Passes on a getter's status; a failure as "name: place.key: reason". */
static int got(struct parse_ctx *c, int status)
{
    return status == WSB_OK ? WSB_OK : fail_at(c, status, NULL, "%s", c->why);
}

/* A whole number lo..hi into *out, which stays as it is when the key is absent. */
static int get_whole(struct parse_ctx *c, const cJSON *o, const char *place, const char *key, double lo,
                     double hi, int *present, long long *out)
{
    double v;
    if (wsb_json_number(o, place, key, WSB_JSON_WHOLE, lo, hi, present, &v, c->why) != WSB_OK)
        return got(c, WSB_EINVAL);
    if (*present)
        *out = (long long)v;
    return WSB_OK;
}

/* A two-letter code, upper-cased into out; continents must be known. */
static int get_code(struct parse_ctx *c, const cJSON *o, const char *place, const char *key, int continent,
                    char out[3])
{
    char where[PLACE_LEN];
    const char *s;
    int status = got(c, wsb_json_string(o, place, key, 0, &s, c->why));
    if (status != WSB_OK || s == NULL)
        return status;
    if (strlen(s) != 2 || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z') ||
        !((s[1] | 0x20) >= 'a' && (s[1] | 0x20) <= 'z'))
        return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, key), "must be a two-letter %s code",
                       continent ? "continent" : "ISO 3166-1 country");
    out[0] = (char)(s[0] & ~0x20);
    out[1] = (char)(s[1] & ~0x20);
    out[2] = '\0';
    if (continent) {
        for (size_t i = 0; CONTINENTS[i] != NULL; i++)
            if (strcmp(CONTINENTS[i], out) == 0)
                return WSB_OK;
        return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, key), "must be one of AF, AN, AS, EU, NA, OC, SA");
    }
    return WSB_OK;
}

static int get_versions(struct parse_ctx *c, const cJSON *o, const char *place, unsigned *vs, size_t *n)
{
    char where[PLACE_LEN], item[PLACE_LEN + 16];
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "versions");
    if (arr == NULL)
        return WSB_OK;
    wsb_json_place(where, place, "versions");
    if (!cJSON_IsArray(arr))
        return fail_at(c, WSB_EINVAL, where, "must be an array of \"vN\" strings");
    size_t count = 0, i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        unsigned ver;
        snprintf(item, sizeof item, "%s[%zu]", where, i++);
        if (!cJSON_IsString(v) || v->valuestring == NULL ||
            wsb_version_parse(v->valuestring, strlen(v->valuestring), &ver) != WSB_OK)
            return fail_at(c, WSB_EINVAL, item, "must be \"v1\", \"v2\", ... (at most v%u)", WSB_MAX_VERSION);
        for (size_t j = 0; j < count; j++)
            if (vs[j] == ver)
                return fail_at(c, WSB_EINVAL, item, "\"v%u\" is listed twice", ver);
        if (count == WSB_MAX_VERSIONS)
            return fail_at(c, WSB_EINVAL, where, "more than %d versions", WSB_MAX_VERSIONS);
        vs[count++] = ver;
    }
    if (count == 0)
        return fail_at(c, WSB_EINVAL, where, "must list at least one version");
    *n = count;
    return WSB_OK;
}

static int get_check(struct parse_ctx *c, const cJSON *o, const char *place, int per_node, struct check_part *p)
{
    char where[PLACE_LEN], cplace[PLACE_LEN];
    const cJSON *chk;
    int status = got(c, wsb_json_object(o, place, "check", 0, &chk, c->why));
    if (status != WSB_OK || chk == NULL)
        return status;
    wsb_json_place(cplace, place, "check");
    status = check_keys(c, chk, cplace, per_node ? NODE_CHECK_KEYS : DEFAULT_CHECK_KEYS);
    if (status != WSB_OK)
        return status;
    const char *type;
    if ((status = got(c, wsb_json_string(chk, cplace, "type", 0, &type, c->why))) != WSB_OK)
        return status;
    if (type != NULL) {
        if (strcmp(type, "websocket") == 0)
            p->type = WSB_CHECK_WEBSOCKET;
        else if (strcmp(type, "http") == 0)
            p->type = WSB_CHECK_HTTP;
        else if (strcmp(type, "tcp") == 0)
            p->type = WSB_CHECK_TCP;
        else
            return fail_at(c, WSB_EINVAL, wsb_json_place(where, cplace, "type"),
                           "must be \"websocket\", \"http\" or \"tcp\"");
        p->has_type = 1;
    }
    long long v;
    int present;
    if ((status = get_whole(c, chk, cplace, "timeout_ms", WSB_CHECK_TIMEOUT_MIN, WSB_CHECK_TIMEOUT_MAX, &present,
                            &v)) != WSB_OK)
        return status;
    if (present) {
        p->has_timeout = 1;
        p->timeout_ms = (long)v;
    }
    if ((status = get_whole(c, chk, cplace, "rise", 1, WSB_CHECK_COUNT_MAX, &present, &v)) != WSB_OK)
        return status;
    if (present) {
        p->has_rise = 1;
        p->rise = (unsigned)v;
    }
    if ((status = get_whole(c, chk, cplace, "fall", 1, WSB_CHECK_COUNT_MAX, &present, &v)) != WSB_OK)
        return status;
    if (present) {
        p->has_fall = 1;
        p->fall = (unsigned)v;
    }
    if ((status = get_whole(c, chk, cplace, "flap_checks", 1, WSB_FLAP_CHECKS_MAX, &present, &v)) != WSB_OK)
        return status;
    if (present) {
        p->has_flap_checks = 1;
        p->flap_checks = (unsigned)v;
    }
    if ((status = get_whole(c, chk, cplace, "flap_failures", 0, WSB_FLAP_CHECKS_MAX, &present, &v)) != WSB_OK)
        return status;
    if (present) {
        p->has_flap_failures = 1;
        p->flap_failures = (unsigned)v;
    }
    if (per_node) {
        if ((status = got(c, wsb_json_string(chk, cplace, "url", 0, &p->url, c->why))) != WSB_OK ||
            (status = got(c, wsb_json_string(chk, cplace, "address", 0, &p->address, c->why))) != WSB_OK)
            return status;
    }
    return WSB_OK;
}

static void merge_check(struct check_part *into, const struct check_part *over)
{
    if (over->has_type) {
        into->has_type = 1;
        into->type = over->type;
    }
    if (over->has_timeout) {
        into->has_timeout = 1;
        into->timeout_ms = over->timeout_ms;
    }
    if (over->has_rise) {
        into->has_rise = 1;
        into->rise = over->rise;
    }
    if (over->has_fall) {
        into->has_fall = 1;
        into->fall = over->fall;
    }
    if (over->has_flap_checks) {
        into->has_flap_checks = 1;
        into->flap_checks = over->flap_checks;
    }
    if (over->has_flap_failures) {
        into->has_flap_failures = 1;
        into->flap_failures = over->flap_failures;
    }
    into->url = over->url;
    into->address = over->address;
}

static int parse_defaults(struct parse_ctx *c, const cJSON *root, struct defaults *d)
{
    const cJSON *o;
    int status = got(c, wsb_json_object(root, "", "defaults", 0, &o, c->why)), present;
    if (status != WSB_OK || o == NULL)
        return status;
    char why[WSB_ERRLEN];
    if ((status = check_keys(c, o, "defaults", DEFAULTS_KEYS)) != WSB_OK ||
        (status = get_versions(c, o, "defaults", d->versions, &d->n_versions)) != WSB_OK ||
        (status = get_whole(c, o, "defaults", "capacity", 1, 9e15, &present, &d->capacity)) != WSB_OK ||
        (status = get_whole(c, o, "defaults", "slow_start_s", 0, WSB_SLOW_START_MAX_S, &present,
                            &d->slow_start_s)) != WSB_OK ||
        (status = get_whole(c, o, "defaults", "max_new_per_s", 1, WSB_MAX_NEW_PER_S_MAX, &present,
                            &d->max_new_per_s)) != WSB_OK ||
        (status = got(c, wsb_json_string(o, "defaults", "location", 0, &d->location, c->why))) != WSB_OK ||
        (status = get_code(c, o, "defaults", "country", 0, d->country)) != WSB_OK ||
        (status = get_code(c, o, "defaults", "continent", 1, d->continent)) != WSB_OK)
        return status;
    if (d->location != NULL && wsb_location_check(d->location, why) != WSB_OK)
        return fail_at(c, WSB_EINVAL, "defaults.location", "%s", why);
    struct check_part p;
    memset(&p, 0, sizeof p);
    if ((status = get_check(c, o, "defaults", 0, &p)) != WSB_OK)
        return status;
    merge_check(&d->check, &p);
    return WSB_OK;
}

/* Flap damping from the merged settings (README "Health and
 * hysteresis"): by default a node fails out at fall + 1 (at least 4)
 * failures among its last max(10, 2 x that) checks; flap_failures 0 turns
 * it off, and a set value must exceed fall (else it is only a smaller
 * fall) and fit in flap_checks. */
static int resolve_flap(struct parse_ctx *c, const char *place, const struct check_part *p, struct wsb_check_spec *out)
{
    char where[PLACE_LEN];
    unsigned failures = p->has_flap_failures ? p->flap_failures : (p->fall + 1 > 4 ? p->fall + 1 : 4);
    unsigned checks = p->has_flap_checks ? p->flap_checks : (2 * failures > 10 ? 2 * failures : 10);
    if (checks > WSB_FLAP_CHECKS_MAX)
        checks = WSB_FLAP_CHECKS_MAX;
    if (!p->has_flap_failures && failures > checks)
        failures = checks;
    if (failures != 0 && failures <= p->fall) {
        if (p->has_flap_failures)
            return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, "flap_failures"),
                           "%u must be greater than fall (%u), or 0 to turn flap damping off", failures, p->fall);
        failures = 0;   /* fall reaches flap_checks: consecutive failures are the only rule */
    }
    if (failures > checks)
        return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, "flap_failures"),
                       "%u failures cannot happen in flap_checks (%u) checks", failures, checks);
    out->flap_checks = checks;
    out->flap_failures = failures;
    return WSB_OK;
}

/* Sets the check's target and shown strings from the merged settings. */
static int resolve_check(struct parse_ctx *c, const char *place, const struct check_part *p, const char *endpoint,
                         int allow_ws, struct wsb_check_spec *out)
{
    char where[PLACE_LEN], why[WSB_ERRLEN], buf[WSB_MAX_HOST + 32];
    struct wsb_url u;
    out->type = p->type;
    out->timeout_ms = p->timeout_ms;
    out->rise = p->rise;
    out->fall = p->fall;
    if (resolve_flap(c, place, p, out) != WSB_OK)
        return WSB_EINVAL;
    switch (p->type) {
    case WSB_CHECK_WEBSOCKET: {
        if (p->address != NULL)
            return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, "address"), "only a tcp check takes an address");
        const char *url = p->url ? p->url : endpoint;
        wsb_json_place(where, place, p->url ? "url" : "endpoint");
        if (p->url != NULL) {
            if (wsb_url_split(url, &u, why) != WSB_OK)
                return fail_at(c, WSB_EINVAL, where, "%s", why);
            if (strcmp(u.scheme, "wss") != 0 && strcmp(u.scheme, "ws") != 0)
                return fail_at(c, WSB_EINVAL, where, "a websocket check URL must start with wss://");
            if (strcmp(u.scheme, "ws") == 0 && !allow_ws)
                return fail_at(c, WSB_EINVAL, where, "must start with wss:// (ws:// only with allow_insecure_ws)");
        }
        out->target = wsb_url_to_http(url);
        out->shown = strdup(url);
        break;
    }
    case WSB_CHECK_HTTP:
        if (p->address != NULL)
            return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, "address"), "only a tcp check takes an address");
        wsb_json_place(where, place, "url");
        if (p->url == NULL)
            return fail_at(c, WSB_EINVAL, where, "missing: an http check needs the URL to GET");
        if (wsb_url_split(p->url, &u, why) != WSB_OK)
            return fail_at(c, WSB_EINVAL, where, "%s", why);
        if (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0)
            return fail_at(c, WSB_EINVAL, where, "an http check URL must start with https:// or http://");
        out->target = strdup(p->url);
        out->shown = strdup(p->url);
        break;
    case WSB_CHECK_TCP:
        if (p->url != NULL)
            return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, "url"),
                           "a tcp check takes an address, not a url");
        if (p->address != NULL) {
            if (wsb_address_parse(p->address, &u, why) != WSB_OK)
                return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, "address"), "%s", why);
        } else if (wsb_url_split(endpoint, &u, why) != WSB_OK) {
            return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, "endpoint"), "%s", why);
        }
        snprintf(buf, sizeof buf, "http://%s:%d/", u.host, u.port);
        out->target = strdup(buf);
        snprintf(buf, sizeof buf, "%s:%d", u.host, u.port);
        out->shown = strdup(buf);
        break;
    }
    if (out->target == NULL || out->shown == NULL)
        return fail_at(c, WSB_ENOMEM, NULL, "out of memory");
    return WSB_OK;
}

/* Where a node is: coordinates, country and continent (over the defaults). */
static int parse_node_place(struct parse_ctx *c, const cJSON *o, const char *place, const struct defaults *d,
                            struct wsb_node *n)
{
    char where[PLACE_LEN];
    int has_lat, has_lon, status;
    if ((status = got(c, wsb_json_number(o, place, "latitude", 0, -90, 90, &has_lat, &n->lat, c->why))) !=
            WSB_OK ||
        (status = got(c, wsb_json_number(o, place, "longitude", 0, -180, 180, &has_lon, &n->lon, c->why))) !=
            WSB_OK)
        return status;
    if (has_lat != has_lon)
        return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, has_lat ? "longitude" : "latitude"),
                       "missing: latitude and longitude go together");
    n->has_coords = has_lat;
    memcpy(n->country, d->country, 3);
    memcpy(n->continent, d->continent, 3);
    if ((status = get_code(c, o, place, "country", 0, n->country)) != WSB_OK)
        return status;
    return get_code(c, o, place, "continent", 1, n->continent);
}

static int parse_node(struct parse_ctx *c, const cJSON *o, size_t idx, const struct defaults *d, int allow_ws,
                      struct wsb_inv_node *out)
{
    char place[PLACE_LEN], where[PLACE_LEN], why[WSB_ERRLEN];
    struct wsb_url u;
    int status, present;
    snprintf(place, sizeof place, "nodes[%zu]", idx);
    if (!cJSON_IsObject(o))
        return fail_at(c, WSB_EINVAL, place, "must be an object");
    if ((status = check_keys(c, o, place, NODE_KEYS)) != WSB_OK)
        return status;

    const char *id, *endpoint, *location, *status_url;
    if ((status = got(c, wsb_json_string(o, place, "id", 0, &id, c->why))) != WSB_OK ||
        (status = got(c, wsb_json_string(o, place, "endpoint", 0, &endpoint, c->why))) != WSB_OK ||
        (status = got(c, wsb_json_string(o, place, "location", 0, &location, c->why))) != WSB_OK ||
        (status = got(c, wsb_json_string(o, place, "status_url", 0, &status_url, c->why))) != WSB_OK)
        return status;
    if (id == NULL)
        return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, "id"), "missing");
    if (wsb_node_id_check(id, strlen(id), why) != WSB_OK)
        return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, "id"), "%s", why);
    wsb_json_place(where, place, "endpoint");
    if (endpoint == NULL)
        return fail_at(c, WSB_EINVAL, where, "missing");
    if (wsb_endpoint_check(endpoint, allow_ws, why) != WSB_OK)
        return fail_at(c, WSB_EINVAL, where, "%s", why);
    if (wsb_url_split(endpoint, &u, why) != WSB_OK)
        return fail_at(c, WSB_EINVAL, where, "%s", why);
    if (location == NULL)
        location = d->location;
    wsb_json_place(where, place, "location");
    if (location == NULL)
        return fail_at(c, WSB_EINVAL, where, "missing (give it here or in defaults)");
    if (wsb_location_check(location, why) != WSB_OK)
        return fail_at(c, WSB_EINVAL, where, "%s", why);
    if (status_url != NULL) {
        wsb_json_place(where, place, "status_url");
        if (wsb_url_split(status_url, &u, why) != WSB_OK)
            return fail_at(c, WSB_EINVAL, where, "%s", why);
        if (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0)
            return fail_at(c, WSB_EINVAL, where, "must start with https:// or http://");
    }

    struct wsb_node *n = &out->node;
    if ((status = parse_node_place(c, o, place, d, n)) != WSB_OK)
        return status;
    memcpy(n->versions, d->versions, sizeof n->versions);
    n->n_versions = d->n_versions;
    if ((status = get_versions(c, o, place, n->versions, &n->n_versions)) != WSB_OK)
        return status;
    if (n->n_versions == 0)
        return fail_at(c, WSB_EINVAL, wsb_json_place(where, place, "versions"),
                       "missing (give it here or in defaults)");
    out->capacity = d->capacity;
    long long cap;
    if ((status = get_whole(c, o, place, "capacity", 1, 9e15, &present, &cap)) != WSB_OK)
        return status;
    if (present)
        out->capacity = cap;
    n->slow_start_s = d->slow_start_s;
    n->max_new_per_s = d->max_new_per_s;
    if ((status = get_whole(c, o, place, "slow_start_s", 0, WSB_SLOW_START_MAX_S, &present, &n->slow_start_s)) !=
            WSB_OK ||
        (status = get_whole(c, o, place, "max_new_per_s", 1, WSB_MAX_NEW_PER_S_MAX, &present,
                            &n->max_new_per_s)) != WSB_OK)
        return status;
    if ((status = got(c, wsb_json_bool(o, place, "drain", 0, &n->drain, c->why))) != WSB_OK)
        return status;

    struct check_part p = d->check, mine;
    memset(&mine, 0, sizeof mine);
    if ((status = get_check(c, o, place, 1, &mine)) != WSB_OK)
        return status;
    merge_check(&p, &mine);
    wsb_json_place(where, place, "check");
    if ((status = resolve_check(c, where, &p, endpoint, allow_ws, &out->check)) != WSB_OK)
        return status;

    n->id = strdup(id);
    n->endpoint = strdup(endpoint);
    n->location = strdup(location);
    out->status_url = status_url ? strdup(status_url) : NULL;
    if (n->id == NULL || n->endpoint == NULL || n->location == NULL || (status_url && out->status_url == NULL))
        return fail_at(c, WSB_ENOMEM, NULL, "out of memory");
    return WSB_OK;
}

static void inv_node_free(struct wsb_inv_node *n)
{
    wsb_node_clear(&n->node);
    free(n->check.target);
    free(n->check.shown);
    free(n->status_url);
    memset(n, 0, sizeof *n);
}

void wsb_inventory_free(struct wsb_inventory *inv)
{
    if (inv == NULL)
        return;
    for (size_t i = 0; i < inv->n; i++)
        inv_node_free(&inv->nodes[i]);
    free(inv->nodes);
    if (inv->canary != NULL)
        inv_node_free(inv->canary);
    free(inv->canary);
    free(inv->ca_file);
    memset(inv, 0, sizeof *inv);
}

static int by_id(const void *a, const void *b)
{
    const struct wsb_inv_node *x = *(const struct wsb_inv_node *const *)a;
    const struct wsb_inv_node *y = *(const struct wsb_inv_node *const *)b;
    int d = strcmp(x->node.id, y->node.id);
    return d != 0 ? d : (x > y) - (x < y);   /* same array: address order is index order */
}

/* Finds ids used twice; reports the duplicate with the smallest index. */
static int check_unique(struct parse_ctx *c, const struct wsb_inventory *inv)
{
    if (inv->n < 2)
        return WSB_OK;
    const struct wsb_inv_node **sorted = malloc(inv->n * sizeof *sorted);
    if (sorted == NULL)
        return fail_at(c, WSB_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < inv->n; i++)
        sorted[i] = &inv->nodes[i];
    qsort(sorted, inv->n, sizeof *sorted, by_id);
    size_t dup = (size_t)-1, first = 0;
    for (size_t i = 1; i < inv->n; i++) {
        size_t cur = (size_t)(sorted[i] - inv->nodes), prev = (size_t)(sorted[i - 1] - inv->nodes);
        if (strcmp(sorted[i]->node.id, sorted[i - 1]->node.id) == 0 && cur < dup) {
            dup = cur;
            first = prev;
        }
    }
    free(sorted);
    if (dup == (size_t)-1)
        return WSB_OK;
    char where[PLACE_LEN];
    snprintf(where, sizeof where, "nodes[%zu].id", dup);
    return fail_at(c, WSB_EINVAL, where, "\"%s\" is already the id of nodes[%zu]", inv->nodes[dup].node.id, first);
}

/* Parses text as one JSON value followed by nothing but blanks.  Returns
 * the tree (the caller's, for cJSON_Delete), or NULL with the error set
 * ("not valid JSON (line 3, column 7)"). */
static cJSON *parse_json(struct parse_ctx *c, const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root != NULL && end != NULL) {   /* only blanks may follow the value */
        const char *p = end;
        while (p < text + len && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p < text + len) {
            cJSON_Delete(root);
            root = NULL;
            end = p;
        }
    }
    if (root == NULL) {
        size_t off = end != NULL && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        size_t line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else
                col++;
        }
        fail_at(c, WSB_EINVAL, NULL, "not valid JSON (line %zu, column %zu)", line, col);
    }
    return root;
}

/* The top-level settings: allow_insecure_ws, ca_file and defaults. */
static int parse_top(struct parse_ctx *c, const cJSON *root, struct wsb_inventory *inv, struct defaults *d)
{
    const char *ca_file;
    int status;
    if (!cJSON_IsObject(root))
        return fail_at(c, WSB_EINVAL, NULL, "must be a JSON object");
    if ((status = check_keys(c, root, "", TOP_KEYS)) != WSB_OK ||
        (status = got(c, wsb_json_bool(root, "", "allow_insecure_ws", 0, &inv->allow_insecure_ws, c->why))) !=
            WSB_OK ||
        (status = got(c, wsb_json_string(root, "", "ca_file", 0, &ca_file, c->why))) != WSB_OK ||
        (status = parse_defaults(c, root, d)) != WSB_OK)
        return status;
    if (ca_file != NULL) {
        if (ca_file[0] == '\0' || strlen(ca_file) > 4000)
            return fail_at(c, WSB_EINVAL, "ca_file", "must be a file path");
        if ((inv->ca_file = strdup(ca_file)) == NULL)
            return fail_at(c, WSB_ENOMEM, NULL, "out of memory");
    }
    return WSB_OK;
}

/* The optional canary: a target of the probe's own network that must
 * answer for a round to count (README "Probe faults").  Parsed as a node
 * named "canary" whose check says where it is. */
static int parse_canary(struct parse_ctx *c, const cJSON *root, struct wsb_inventory *inv)
{
    const cJSON *o;
    int status = got(c, wsb_json_object(root, "", "canary", 0, &o, c->why)), present;
    if (status != WSB_OK || o == NULL)
        return status;
    if ((status = check_keys(c, o, "canary", CANARY_KEYS)) != WSB_OK)
        return status;
    struct check_part p;
    memset(&p, 0, sizeof p);
    p.type = WSB_CHECK_TCP;
    p.timeout_ms = 2000;
    p.rise = p.fall = 1;
    p.has_flap_failures = 1;   /* flap_failures 0: not a node, no damping */
    const char *type;
    long long v;
    if ((status = got(c, wsb_json_string(o, "canary", "type", 0, &type, c->why))) != WSB_OK ||
        (status = get_whole(c, o, "canary", "timeout_ms", WSB_CHECK_TIMEOUT_MIN, WSB_CHECK_TIMEOUT_MAX, &present,
                            &v)) != WSB_OK ||
        (status = got(c, wsb_json_string(o, "canary", "url", 0, &p.url, c->why))) != WSB_OK ||
        (status = got(c, wsb_json_string(o, "canary", "address", 0, &p.address, c->why))) != WSB_OK)
        return status;
    if (present)
        p.timeout_ms = (long)v;
    if (type != NULL && strcmp(type, "http") == 0)
        p.type = WSB_CHECK_HTTP;
    else if (type != NULL && strcmp(type, "websocket") == 0)
        p.type = WSB_CHECK_WEBSOCKET;
    else if (type != NULL && strcmp(type, "tcp") != 0)
        return fail_at(c, WSB_EINVAL, "canary.type", "must be \"tcp\", \"http\" or \"websocket\"");
    if (p.type == WSB_CHECK_TCP ? p.address == NULL : p.url == NULL)
        return fail_at(c, WSB_EINVAL, p.type == WSB_CHECK_TCP ? "canary.address" : "canary.url",
                       "missing: the canary needs %s", p.type == WSB_CHECK_TCP ? "a host:port" : "a URL");
    if ((inv->canary = calloc(1, sizeof *inv->canary)) == NULL)
        return fail_at(c, WSB_ENOMEM, NULL, "out of memory");
    struct wsb_inv_node *n = inv->canary;
    wsb_node_init(&n->node);
    n->capacity = -1;
    if ((status = resolve_check(c, "canary", &p, NULL, 1, &n->check)) != WSB_OK)
        return status;
    if ((n->node.id = strdup("canary")) == NULL)
        return fail_at(c, WSB_ENOMEM, NULL, "out of memory");
    return WSB_OK;
}

/* The node list, each node over the defaults, then the ids' uniqueness. */
static int parse_nodes(struct parse_ctx *c, const cJSON *root, const struct defaults *d, struct wsb_inventory *inv)
{
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
    int status;
    if (nodes == NULL)
        return fail_at(c, WSB_EINVAL, "nodes", "missing");
    if (!cJSON_IsArray(nodes))
        return fail_at(c, WSB_EINVAL, "nodes", "must be an array");
    size_t count = (size_t)cJSON_GetArraySize(nodes);
    if (count > WSB_MAX_NODES)
        return fail_at(c, WSB_ETOOBIG, "nodes", "more than %d nodes", WSB_MAX_NODES);
    if (count > 0 && (inv->nodes = calloc(count, sizeof *inv->nodes)) == NULL)
        return fail_at(c, WSB_ENOMEM, NULL, "out of memory");
    const cJSON *o;
    cJSON_ArrayForEach(o, nodes) {
        struct wsb_inv_node *n = &inv->nodes[inv->n];
        wsb_node_init(&n->node);
        inv->n++;   /* counted at once, so that the caller frees a half-parsed node */
        if ((status = parse_node(c, o, inv->n - 1, d, inv->allow_insecure_ws, n)) != WSB_OK)
            return status;
        if (n->check.timeout_ms > inv->max_timeout_ms)
            inv->max_timeout_ms = n->check.timeout_ms;
    }
    return check_unique(c, inv);
}

int wsb_inventory_parse(const char *name, const char *text, size_t len, struct wsb_inventory *out, char *err)
{
    struct parse_ctx c = { .name = name, .err = err };
    struct wsb_inventory inv;
    struct defaults d;
    int status = WSB_EINVAL;
    memset(out, 0, sizeof *out);
    memset(&inv, 0, sizeof inv);
    memset(&d, 0, sizeof d);
    d.capacity = -1;
    d.slow_start_s = -1;
    d.max_new_per_s = -1;
    d.check.type = WSB_CHECK_WEBSOCKET;
    d.check.timeout_ms = 2000;
    d.check.rise = 2;
    d.check.fall = 3;

    if (len > WSB_INVENTORY_MAX_BYTES)
        return fail_at(&c, WSB_ETOOBIG, NULL, "larger than %d bytes", WSB_INVENTORY_MAX_BYTES);
    cJSON *root = parse_json(&c, text, len);
    if (root == NULL)
        return WSB_EINVAL;
    if ((status = parse_top(&c, root, &inv, &d)) != WSB_OK || (status = parse_canary(&c, root, &inv)) != WSB_OK ||
        (status = parse_nodes(&c, root, &d, &inv)) != WSB_OK)
        goto cleanup;
    *out = inv;
    memset(&inv, 0, sizeof inv);
    status = WSB_OK;
cleanup:
    wsb_inventory_free(&inv);
    cJSON_Delete(root);
    return status;
}

int wsb_inventory_load(const char *path, struct wsb_inventory *out, char *err)
{
    struct parse_ctx c = { .name = path, .err = err };
    char *text = NULL;
    int status = WSB_EIO;
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fail_at(&c, WSB_EIO, NULL, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        status = fail_at(&c, WSB_EIO, NULL, "not a regular file");
        goto cleanup;
    }
    if (st.st_size > WSB_INVENTORY_MAX_BYTES) {
        status = fail_at(&c, WSB_ETOOBIG, NULL, "larger than %d bytes", WSB_INVENTORY_MAX_BYTES);
        goto cleanup;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0, got;
    if ((text = malloc(cap)) == NULL) {
        status = fail_at(&c, WSB_ENOMEM, NULL, "out of memory");
        goto cleanup;
    }
    while (len < cap && (got = fread(text + len, 1, cap - len, f)) > 0)
        len += got;
    if (ferror(f)) {
        status = fail_at(&c, WSB_EIO, NULL, "cannot read: %s", strerror(errno));
        goto cleanup;
    }
    if (len >= cap) {   /* grew while we read it */
        status = fail_at(&c, WSB_EIO, NULL, "changed while being read");
        goto cleanup;
    }
    if ((status = wsb_inventory_parse(path, text, len, out, err)) != WSB_OK)
        goto cleanup;
    if (out->ca_file != NULL) {
        const char *slash = strrchr(path, '/');
        if (out->ca_file[0] != '/' && slash != NULL) {
            size_t dlen = (size_t)(slash - path) + 1, flen = strlen(out->ca_file);
            char *full = malloc(dlen + flen + 1);
            if (full == NULL) {
                status = fail_at(&c, WSB_ENOMEM, NULL, "out of memory");
                goto cleanup;
            }
            memcpy(full, path, dlen);
            memcpy(full + dlen, out->ca_file, flen + 1);
            free(out->ca_file);
            out->ca_file = full;
        }
        FILE *ca = fopen(out->ca_file, "r");
        if (ca == NULL) {
            status = fail_at(&c, WSB_EIO, "ca_file", "cannot read %.120s: %s", out->ca_file, strerror(errno));
            goto cleanup;
        }
        fclose(ca);
    }
    status = WSB_OK;
cleanup:
    if (status != WSB_OK)
        wsb_inventory_free(out);
    free(text);
    fclose(f);
    return status;
}

/* node.c: validation of node fields and the JSON record codec. */
#include "node.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wsb_node_init(struct wsb_node *n)
{
    memset(n, 0, sizeof *n);
    n->connections = -1;
    n->capacity = -1;
}

void wsb_node_clear(struct wsb_node *n)
{
    if (n == NULL)
        return;
    free(n->id);
    free(n->endpoint);
    free(n->location);
    free(n->raw);
    wsb_node_init(n);
}

static char *dup_n(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d != NULL) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

int wsb_node_copy(struct wsb_node *dst, const struct wsb_node *src)
{
    *dst = *src;
    dst->id = dst->endpoint = dst->location = dst->raw = NULL;
    if ((src->id != NULL && (dst->id = strdup(src->id)) == NULL) ||
        (src->endpoint != NULL && (dst->endpoint = strdup(src->endpoint)) == NULL) ||
        (src->location != NULL && (dst->location = strdup(src->location)) == NULL) ||
        (src->raw != NULL && (dst->raw = dup_n(src->raw, src->raw_len)) == NULL)) {
        wsb_node_clear(dst);
        return WSB_ENOMEM;
    }
    return WSB_OK;
}

int wsb_version_parse(const char *s, size_t len, unsigned *out)
{
    if (len < 2 || len > 8 || s[0] != 'v' || s[1] == '0')
        return WSB_EINVAL;
    unsigned long v = 0;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return WSB_EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > WSB_MAX_VERSION)
        return WSB_EINVAL;
    *out = (unsigned)v;
    return WSB_OK;
}

int wsb_node_id_check(const char *id, size_t len, char *err)
{
    if (len == 0)
        return wsb_fail(err, WSB_EINVAL, "id is empty");
    if (len > WSB_MAX_ID)
        return wsb_fail(err, WSB_EINVAL, "id is longer than %d bytes", WSB_MAX_ID);
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return wsb_fail(err, WSB_EINVAL, "id may only hold letters, digits and . _ : -");
    }
    return WSB_OK;
}

static int url_char_ok(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL && c != '\0';
}

int wsb_endpoint_check(const char *url, int allow_ws, char *err)
{
    size_t len = strlen(url), skip;
    if (strncmp(url, "wss://", 6) == 0)
        skip = 6;
    else if (strncmp(url, "ws://", 5) == 0) {
        if (!allow_ws)
            return wsb_fail(err, WSB_EINVAL, "must start with wss:// (ws:// only with allow_insecure_ws)");
        skip = 5;
    } else
        return wsb_fail(err, WSB_EINVAL, "must start with wss://");
    if (len > WSB_MAX_ENDPOINT)
        return wsb_fail(err, WSB_EINVAL, "longer than %d bytes", WSB_MAX_ENDPOINT);
    for (size_t i = 0; i < len; i++)
        if (!url_char_ok((unsigned char)url[i]))
            return wsb_fail(err, WSB_EINVAL, "byte %zu is not a URL character", i);
    const char *host = url + skip;
    if (*host == '\0' || *host == '/' || *host == ':' || *host == '?' || *host == '#')
        return wsb_fail(err, WSB_EINVAL, "has no host");
    size_t authority = strcspn(host, "/?#");
    if (memchr(host, '@', authority) != NULL)
        return wsb_fail(err, WSB_EINVAL, "must not carry user information");
    return WSB_OK;
}

/* Returns 1 when s[0..len) is well-formed UTF-8 without control characters. */
static int utf8_text_ok(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07u;
        } else
            return 0;
        if (i + need >= len)
            return 0;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0x80 && cp <= 0x9f))
            return 0;
        i += need + 1;
    }
    return 1;
}

int wsb_location_check(const char *s, char *err)
{
    size_t len = strlen(s);
    if (len == 0)
        return wsb_fail(err, WSB_EINVAL, "is empty");
    if (len > WSB_MAX_LOCATION)
        return wsb_fail(err, WSB_EINVAL, "is longer than %d bytes", WSB_MAX_LOCATION);
    if (!utf8_text_ok((const unsigned char *)s, len))
        return wsb_fail(err, WSB_EINVAL, "must be UTF-8 text without control characters");
    return WSB_OK;
}

static int code2_ok(const char *s, int upper_only)
{
    if (strlen(s) != 2)
        return 0;
    for (int i = 0; i < 2; i++)
        if (!(s[i] >= 'A' && s[i] <= 'Z') && (upper_only || !(s[i] >= 'a' && s[i] <= 'z')))
            return 0;
    return 1;
}

int wsb_node_encode(const struct wsb_node *n, char **out, char *err)
{
    char why[WSB_ERRLEN];
    if (n->endpoint == NULL || wsb_endpoint_check(n->endpoint, 1, why) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "endpoint: %s", n->endpoint ? why : "missing");
    if (n->location == NULL || wsb_location_check(n->location, why) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "location: %s", n->location ? why : "missing");
    if (n->n_versions == 0 || n->n_versions > WSB_MAX_VERSIONS)
        return wsb_fail(err, WSB_EINVAL, "versions: must list 1..%d versions", WSB_MAX_VERSIONS);

    int status = WSB_ENOMEM;
    char *text = NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *versions = NULL;
    if (o == NULL)
        goto cleanup;
    if (!cJSON_AddStringToObject(o, "endpoint", n->endpoint) ||
        !cJSON_AddStringToObject(o, "location", n->location))
        goto cleanup;
    if (n->has_coords && (!cJSON_AddNumberToObject(o, "lat", n->lat) ||
                          !cJSON_AddNumberToObject(o, "lon", n->lon)))
        goto cleanup;
    if (n->country[0] && !cJSON_AddStringToObject(o, "country", n->country))
        goto cleanup;
    if (n->continent[0] && !cJSON_AddStringToObject(o, "continent", n->continent))
        goto cleanup;
    versions = cJSON_AddArrayToObject(o, "versions");
    if (versions == NULL)
        goto cleanup;
    for (size_t i = 0; i < n->n_versions; i++) {
        char v[16];
        snprintf(v, sizeof v, "v%u", n->versions[i]);
        cJSON *s = cJSON_CreateString(v);
        if (s == NULL)
            goto cleanup;
        cJSON_AddItemToArray(versions, s);
    }
    if (!cJSON_AddBoolToObject(o, "online", n->online != 0) ||
        !cJSON_AddBoolToObject(o, "drain", n->drain != 0))
        goto cleanup;
    if (n->load_known && !cJSON_AddNumberToObject(o, "load", n->load))
        goto cleanup;
    if (n->connections >= 0 && !cJSON_AddNumberToObject(o, "connections", (double)n->connections))
        goto cleanup;
    if (n->capacity >= 0 && !cJSON_AddNumberToObject(o, "capacity", (double)n->capacity))
        goto cleanup;
    if (!cJSON_AddNumberToObject(o, "checked_at", (double)n->checked_at) ||
        !cJSON_AddNumberToObject(o, "changed_at", (double)n->changed_at) ||
        !cJSON_AddStringToObject(o, "last_error", n->last_error[0] ? n->last_error : "none") ||
        !cJSON_AddNumberToObject(o, "ok_streak", n->ok_streak) ||
        !cJSON_AddNumberToObject(o, "fail_streak", n->fail_streak))
        goto cleanup;
    text = cJSON_PrintUnformatted(o);
    if (text == NULL)
        goto cleanup;
    *out = text;
    status = WSB_OK;
cleanup:
    cJSON_Delete(o);
    if (status == WSB_ENOMEM)
        wsb_fail(err, status, "out of memory encoding node record");
    return status;
}

/* Field readers for decode: each returns WSB_OK or fails with the field name. */
static int get_string(const cJSON *o, const char *name, int required, const char **out, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = NULL;
        return required ? wsb_fail(err, WSB_EINVAL, "%s: missing", name) : WSB_OK;
    }
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return wsb_fail(err, WSB_EINVAL, "%s: must be a string", name);
    *out = v->valuestring;
    return WSB_OK;
}

static int get_number(const cJSON *o, const char *name, double lo, double hi, int *present,
                      double *out, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *present = 0;
    if (v == NULL || cJSON_IsNull(v))
        return WSB_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return wsb_fail(err, WSB_EINVAL, "%s: must be a number", name);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return wsb_fail(err, WSB_EINVAL, "%s: %g is outside %g..%g", name, v->valuedouble, lo, hi);
    *present = 1;
    *out = v->valuedouble;
    return WSB_OK;
}

static int get_bool(const cJSON *o, const char *name, int *out, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = 0;
        return WSB_OK;
    }
    if (!cJSON_IsBool(v))
        return wsb_fail(err, WSB_EINVAL, "%s: must be true or false", name);
    *out = cJSON_IsTrue(v);
    return WSB_OK;
}

int wsb_node_decode(const char *id, size_t idlen, const char *json, size_t len,
                    struct wsb_node *out, char *err)
{
    char why[WSB_ERRLEN];
    wsb_node_init(out);
    if (wsb_node_id_check(id, idlen, why) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "%s", why);
    if (len > WSB_MAX_RECORD)
        return wsb_fail(err, WSB_ETOOBIG, "record is %zu bytes, more than %d", len, WSB_MAX_RECORD);

    int status = WSB_EINVAL;
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (o == NULL) {
        status = wsb_fail(err, WSB_EINVAL, "record is not JSON");
        goto cleanup;
    }
    if (!cJSON_IsObject(o)) {
        status = wsb_fail(err, WSB_EINVAL, "record is not a JSON object");
        goto cleanup;
    }
    const char *endpoint, *location, *country, *continent, *last_error;
    if ((status = get_string(o, "endpoint", 1, &endpoint, err)) != WSB_OK ||
        (status = get_string(o, "location", 1, &location, err)) != WSB_OK ||
        (status = get_string(o, "country", 0, &country, err)) != WSB_OK ||
        (status = get_string(o, "continent", 0, &continent, err)) != WSB_OK ||
        (status = get_string(o, "last_error", 0, &last_error, err)) != WSB_OK)
        goto cleanup;
    if (wsb_endpoint_check(endpoint, 1, why) != WSB_OK) {
        status = wsb_fail(err, WSB_EINVAL, "endpoint: %s", why);
        goto cleanup;
    }
    if (wsb_location_check(location, why) != WSB_OK) {
        status = wsb_fail(err, WSB_EINVAL, "location: %s", why);
        goto cleanup;
    }
    if (country != NULL && !code2_ok(country, 0)) {
        status = wsb_fail(err, WSB_EINVAL, "country: must be a two-letter code");
        goto cleanup;
    }
    if (continent != NULL && !code2_ok(continent, 0)) {
        status = wsb_fail(err, WSB_EINVAL, "continent: must be a two-letter code");
        goto cleanup;
    }

    int has_lat, has_lon, present;
    double d;
    if ((status = get_number(o, "lat", -90, 90, &has_lat, &out->lat, err)) != WSB_OK ||
        (status = get_number(o, "lon", -180, 180, &has_lon, &out->lon, err)) != WSB_OK)
        goto cleanup;
    if (has_lat != has_lon) {
        status = wsb_fail(err, WSB_EINVAL, "lat and lon go together");
        goto cleanup;
    }
    out->has_coords = has_lat;
    if ((status = get_number(o, "load", 0, 1e6, &out->load_known, &out->load, err)) != WSB_OK)
        goto cleanup;
    if ((status = get_number(o, "connections", 0, 9e15, &present, &d, err)) != WSB_OK)
        goto cleanup;
    if (present)
        out->connections = (long long)d;
    if ((status = get_number(o, "capacity", 0, 9e15, &present, &d, err)) != WSB_OK)
        goto cleanup;
    if (present)
        out->capacity = (long long)d;
    if ((status = get_number(o, "checked_at", 0, 9e15, &present, &d, err)) != WSB_OK)
        goto cleanup;
    if (present)
        out->checked_at = (long long)d;
    if ((status = get_number(o, "changed_at", 0, 9e15, &present, &d, err)) != WSB_OK)
        goto cleanup;
    if (present)
        out->changed_at = (long long)d;
    if ((status = get_number(o, "ok_streak", 0, 1e9, &present, &d, err)) != WSB_OK)
        goto cleanup;
    if (present)
        out->ok_streak = (unsigned)d;
    if ((status = get_number(o, "fail_streak", 0, 1e9, &present, &d, err)) != WSB_OK)
        goto cleanup;
    if (present)
        out->fail_streak = (unsigned)d;
    if ((status = get_bool(o, "online", &out->online, err)) != WSB_OK ||
        (status = get_bool(o, "drain", &out->drain, err)) != WSB_OK)
        goto cleanup;

    const cJSON *versions = cJSON_GetObjectItemCaseSensitive(o, "versions");
    if (!cJSON_IsArray(versions)) {
        status = wsb_fail(err, WSB_EINVAL, "versions: must be an array of \"vN\" strings");
        goto cleanup;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, versions) {
        unsigned ver;
        if (!cJSON_IsString(v) ||
            wsb_version_parse(v->valuestring, strlen(v->valuestring), &ver) != WSB_OK) {
            status = wsb_fail(err, WSB_EINVAL, "versions: entries must be \"v1\", \"v2\", ...");
            goto cleanup;
        }
        if (out->n_versions == WSB_MAX_VERSIONS) {
            status = wsb_fail(err, WSB_EINVAL, "versions: more than %d", WSB_MAX_VERSIONS);
            goto cleanup;
        }
        out->versions[out->n_versions++] = ver;
    }
    if (out->n_versions == 0) {
        status = wsb_fail(err, WSB_EINVAL, "versions: is empty");
        goto cleanup;
    }
    if (country != NULL) {
        out->country[0] = (char)(country[0] & ~0x20);
        out->country[1] = (char)(country[1] & ~0x20);
    }
    if (continent != NULL) {
        out->continent[0] = (char)(continent[0] & ~0x20);
        out->continent[1] = (char)(continent[1] & ~0x20);
    }
    if (last_error != NULL)
        snprintf(out->last_error, sizeof out->last_error, "%s", last_error);

    out->id = dup_n(id, idlen);
    out->endpoint = strdup(endpoint);
    out->location = strdup(location);
    out->raw = dup_n(json, len);
    out->raw_len = len;
    if (out->id == NULL || out->endpoint == NULL || out->location == NULL || out->raw == NULL) {
        status = wsb_fail(err, WSB_ENOMEM, "out of memory");
        goto cleanup;
    }
    status = WSB_OK;
cleanup:
    cJSON_Delete(o);
    if (status != WSB_OK)
        wsb_node_clear(out);
    return status;
}

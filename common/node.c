/* node.c: validation of node fields and the JSON record codec. */
#include "node.h"
#include "json_get.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wsb_node_init(struct wsb_node *n)
{
    memset(n, 0, sizeof *n);
    n->connections = -1;
    n->capacity = -1;
    n->slow_start_s = -1;
    n->max_new_per_s = -1;
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

/* The record's fields, in the order a record holds them.  One table drives
 * both the encoder and the decoder, so that the two cannot disagree. */
enum field_kind {
    FIELD_URL,        /* char *: the endpoint (wsb_endpoint_check) */
    FIELD_LABEL,      /* char *: the location (wsb_location_check) */
    FIELD_CODE,       /* char[3]: a two-letter code, upper-cased; left out when "" */
    FIELD_OUTCOME,    /* char[WSB_OUTCOME_LEN]: an outcome name, "none" when "" */
    FIELD_RECENT,     /* char[WSB_RECENT_LEN + 1]: '+' and '-'; left out when "" */
    FIELD_REAL,       /* double; written only when its known flag is set */
    FIELD_COUNT,      /* long long */
    FIELD_STREAK,     /* unsigned */
    FIELD_FLAG,       /* int, a JSON boolean */
    FIELD_VERSIONS    /* versions[] and n_versions: ["v1", "v3"] */
};

#define NO_FLAG ((size_t)-1)

struct record_field {
    const char *name;
    enum field_kind kind;
    unsigned flags;          /* decode: WSB_JSON_REQUIRED or WSB_JSON_OPTIONAL */
    int unknown_below_zero;  /* FIELD_COUNT: a negative value is unknown and left out */
    int paired;              /* present exactly when the field before it is */
    double lo, hi;           /* numbers: the range a record may hold */
    size_t off;              /* where the value lives in struct wsb_node */
    size_t known;            /* FIELD_REAL: the int that says the value is there, or NO_FLAG */
};

#define AT(field) offsetof(struct wsb_node, field)

static const struct record_field FIELDS[] = {
    { "endpoint", FIELD_URL, WSB_JSON_REQUIRED, 0, 0, 0, 0, AT(endpoint), NO_FLAG },
    { "location", FIELD_LABEL, WSB_JSON_REQUIRED, 0, 0, 0, 0, AT(location), NO_FLAG },
    { "lat", FIELD_REAL, 0, 0, 0, -90, 90, AT(lat), AT(has_coords) },
    { "lon", FIELD_REAL, 0, 0, 1, -180, 180, AT(lon), AT(has_coords) },
    { "country", FIELD_CODE, 0, 0, 0, 0, 0, AT(country), NO_FLAG },
    { "continent", FIELD_CODE, 0, 0, 0, 0, 0, AT(continent), NO_FLAG },
    { "versions", FIELD_VERSIONS, WSB_JSON_REQUIRED, 0, 0, 0, 0, AT(versions), NO_FLAG },
    { "online", FIELD_FLAG, 0, 0, 0, 0, 0, AT(online), NO_FLAG },
    { "drain", FIELD_FLAG, 0, 0, 0, 0, 0, AT(drain), NO_FLAG },
    { "load", FIELD_REAL, 0, 0, 0, 0, 1e6, AT(load), AT(load_known) },
    { "connections", FIELD_COUNT, 0, 1, 0, 0, 9e15, AT(connections), NO_FLAG },
    { "capacity", FIELD_COUNT, 0, 1, 0, 0, 9e15, AT(capacity), NO_FLAG },
    { "checked_at", FIELD_COUNT, 0, 0, 0, 0, 9e15, AT(checked_at), NO_FLAG },
    { "changed_at", FIELD_COUNT, 0, 0, 0, 0, 9e15, AT(changed_at), NO_FLAG },
    { "slow_start_s", FIELD_COUNT, 0, 1, 0, 0, 86400, AT(slow_start_s), NO_FLAG },
    { "max_new_per_s", FIELD_COUNT, 0, 1, 0, 0, 1e9, AT(max_new_per_s), NO_FLAG },
    { "last_error", FIELD_OUTCOME, 0, 0, 0, 0, 0, AT(last_error), NO_FLAG },
    { "ok_streak", FIELD_STREAK, 0, 0, 0, 0, 1e9, AT(ok_streak), NO_FLAG },
    { "fail_streak", FIELD_STREAK, 0, 0, 0, 0, 1e9, AT(fail_streak), NO_FLAG },
    { "recent", FIELD_RECENT, 0, 0, 0, 0, 0, AT(recent), NO_FLAG },
};

#define N_FIELDS (sizeof FIELDS / sizeof FIELDS[0])

static const void *field_in(const struct wsb_node *n, const struct record_field *f)
{
    return (const char *)n + f->off;
}

static void *field_of(struct wsb_node *n, const struct record_field *f)
{
    return (char *)n + f->off;
}

static int is_text(enum field_kind k)
{
    return k == FIELD_URL || k == FIELD_LABEL || k == FIELD_CODE || k == FIELD_OUTCOME || k == FIELD_RECENT;
}

/* Checks a text value as its field asks; WSB_OK or WSB_EINVAL with
 * "name: reason" in err. */
static int text_check(const struct record_field *f, const char *s, char *err)
{
    char why[WSB_ERRLEN];
    if (f->kind == FIELD_URL && wsb_endpoint_check(s, 1, why) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "%s: %s", f->name, why);
    if (f->kind == FIELD_LABEL && wsb_location_check(s, why) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "%s: %s", f->name, why);
    if (f->kind == FIELD_CODE && !code2_ok(s, 0))
        return wsb_fail(err, WSB_EINVAL, "%s: must be a two-letter code", f->name);
    if (f->kind == FIELD_RECENT && (strlen(s) > WSB_RECENT_LEN || s[strspn(s, "+-")] != '\0'))
        return wsb_fail(err, WSB_EINVAL, "%s: must be at most %d of '+' and '-'", f->name, WSB_RECENT_LEN);
    return WSB_OK;
}

/* Adds the versions array ["v1", ...] to o; WSB_OK or WSB_ENOMEM. */
static int encode_versions(cJSON *o, const struct wsb_node *n)
{
    cJSON *versions = cJSON_AddArrayToObject(o, "versions");
    if (versions == NULL)
        return WSB_ENOMEM;
    for (size_t i = 0; i < n->n_versions; i++) {
        char v[16];
        snprintf(v, sizeof v, "v%u", n->versions[i]);
        cJSON *s = cJSON_CreateString(v);
        if (s == NULL)
            return WSB_ENOMEM;
        cJSON_AddItemToArray(versions, s);
    }
    return WSB_OK;
}

/* Adds field f of n to o, or nothing when the record leaves it out.
 * WSB_OK or WSB_ENOMEM. */
static int encode_field(cJSON *o, const struct record_field *f, const struct wsb_node *n)
{
    const void *p = field_in(n, f);
    const cJSON *added = o;   /* what was added; NULL when adding failed */
    switch (f->kind) {
    case FIELD_URL:
    case FIELD_LABEL:
        added = cJSON_AddStringToObject(o, f->name, *(char *const *)p);
        break;
    case FIELD_CODE:
        if (((const char *)p)[0] != '\0')
            added = cJSON_AddStringToObject(o, f->name, p);
        break;
    case FIELD_OUTCOME:
        added = cJSON_AddStringToObject(o, f->name, ((const char *)p)[0] ? (const char *)p : "none");
        break;
    case FIELD_RECENT:
        if (((const char *)p)[0] != '\0')
            added = cJSON_AddStringToObject(o, f->name, p);
        break;
    case FIELD_REAL:
        if (f->known == NO_FLAG || *(const int *)((const char *)n + f->known))
            added = cJSON_AddNumberToObject(o, f->name, *(const double *)p);
        break;
    case FIELD_COUNT:
        if (!f->unknown_below_zero || *(const long long *)p >= 0)
            added = cJSON_AddNumberToObject(o, f->name, (double)*(const long long *)p);
        break;
    case FIELD_STREAK:
        added = cJSON_AddNumberToObject(o, f->name, *(const unsigned *)p);
        break;
    case FIELD_FLAG:
        added = cJSON_AddBoolToObject(o, f->name, *(const int *)p != 0);
        break;
    case FIELD_VERSIONS:
        return encode_versions(o, n);
    }
    return added != NULL ? WSB_OK : WSB_ENOMEM;
}

int wsb_node_encode(const struct wsb_node *n, char **out, char *err)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        const struct record_field *f = &FIELDS[i];
        if (f->kind == FIELD_URL || f->kind == FIELD_LABEL) {
            const char *s = *(char *const *)field_in(n, f);
            if (s == NULL)
                return wsb_fail(err, WSB_EINVAL, "%s: missing", f->name);
            if (text_check(f, s, err) != WSB_OK)
                return WSB_EINVAL;
        }
    }
    if (n->n_versions == 0 || n->n_versions > WSB_MAX_VERSIONS)
        return wsb_fail(err, WSB_EINVAL, "versions: must list 1..%d versions", WSB_MAX_VERSIONS);

    int status = WSB_ENOMEM;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        goto cleanup;
    for (size_t i = 0; i < N_FIELDS; i++)
        if (encode_field(o, &FIELDS[i], n) != WSB_OK)
            goto cleanup;
    char *text = cJSON_PrintUnformatted(o);
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

/* Reads every text field into text[i] (NULL when absent), the types first,
 * then the checks, field after field. */
static int decode_texts(const cJSON *o, const char *text[N_FIELDS], char *err)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        text[i] = NULL;
        if (is_text(FIELDS[i].kind) &&
            wsb_json_string(o, "", FIELDS[i].name, FIELDS[i].flags | WSB_JSON_NULL_ABSENT, &text[i], err) != WSB_OK)
            return WSB_EINVAL;
    }
    for (size_t i = 0; i < N_FIELDS; i++)
        if (text[i] != NULL && text_check(&FIELDS[i], text[i], err) != WSB_OK)
            return WSB_EINVAL;
    return WSB_OK;
}

/* Reads one number field into *out, sets its known flag, and checks that
 * a paired field came with the one before it (*was: that one was there). */
static int decode_number(const cJSON *o, const struct record_field *f, int *was, struct wsb_node *out, char *err)
{
    int present;
    double d;
    if (wsb_json_number(o, "", f->name, WSB_JSON_NULL_ABSENT | WSB_JSON_SAY_VALUE, f->lo, f->hi, &present, &d,
                        err) != WSB_OK)
        return WSB_EINVAL;
    if (f->paired && present != *was)
        return wsb_fail(err, WSB_EINVAL, "%s and %s go together", (f - 1)->name, f->name);
    *was = present;
    if (f->known != NO_FLAG)
        *(int *)((char *)out + f->known) = present;
    if (!present)
        return WSB_OK;
    if (f->kind == FIELD_REAL)
        *(double *)field_of(out, f) = d;
    else if (f->kind == FIELD_COUNT)
        *(long long *)field_of(out, f) = (long long)d;
    else
        *(unsigned *)field_of(out, f) = (unsigned)d;
    return WSB_OK;
}

/* Reads the numbers, then the flags, field after field. */
static int decode_values(const cJSON *o, struct wsb_node *out, char *err)
{
    int was = 0;
    for (size_t i = 0; i < N_FIELDS; i++) {
        const struct record_field *f = &FIELDS[i];
        if ((f->kind == FIELD_REAL || f->kind == FIELD_COUNT || f->kind == FIELD_STREAK) &&
            decode_number(o, f, &was, out, err) != WSB_OK)
            return WSB_EINVAL;
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        const struct record_field *f = &FIELDS[i];
        if (f->kind == FIELD_FLAG &&
            wsb_json_bool(o, "", f->name, WSB_JSON_NULL_ABSENT, field_of(out, f), err) != WSB_OK)
            return WSB_EINVAL;
    }
    return WSB_OK;
}

static int decode_versions(const cJSON *o, struct wsb_node *out, char *err)
{
    const cJSON *versions = cJSON_GetObjectItemCaseSensitive(o, "versions");
    if (!cJSON_IsArray(versions))
        return wsb_fail(err, WSB_EINVAL, "versions: must be an array of \"vN\" strings");
    const cJSON *v;
    cJSON_ArrayForEach(v, versions) {
        unsigned ver;
        if (!cJSON_IsString(v) || wsb_version_parse(v->valuestring, strlen(v->valuestring), &ver) != WSB_OK)
            return wsb_fail(err, WSB_EINVAL, "versions: entries must be \"v1\", \"v2\", ...");
        if (out->n_versions == WSB_MAX_VERSIONS)
            return wsb_fail(err, WSB_EINVAL, "versions: more than %d", WSB_MAX_VERSIONS);
        out->versions[out->n_versions++] = ver;
    }
    if (out->n_versions == 0)
        return wsb_fail(err, WSB_EINVAL, "versions: is empty");
    return WSB_OK;
}

/* Stores the text fields, the id and the record bytes into out.  WSB_OK or
 * WSB_ENOMEM (out keeps what it got, for wsb_node_clear). */
static int keep_texts(const char *const text[N_FIELDS], const char *id, size_t idlen, const char *json,
                      size_t len, struct wsb_node *out, char *err)
{
    int missing = 0;
    for (size_t i = 0; i < N_FIELDS; i++) {
        const struct record_field *f = &FIELDS[i];
        char *p = field_of(out, f);
        if (text[i] == NULL)
            continue;
        if (f->kind == FIELD_URL || f->kind == FIELD_LABEL)
            missing |= (*(char **)(void *)p = strdup(text[i])) == NULL;
        else if (f->kind == FIELD_CODE) {
            p[0] = (char)(text[i][0] & ~0x20);
            p[1] = (char)(text[i][1] & ~0x20);
        } else if (f->kind == FIELD_RECENT)
            snprintf(p, WSB_RECENT_LEN + 1, "%s", text[i]);
        else
            snprintf(p, WSB_OUTCOME_LEN, "%s", text[i]);
    }
    out->id = dup_n(id, idlen);
    out->raw = dup_n(json, len);
    out->raw_len = len;
    if (missing || out->id == NULL || out->raw == NULL)
        return wsb_fail(err, WSB_ENOMEM, "out of memory");
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
    const char *text[N_FIELDS];
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (o == NULL) {
        status = wsb_fail(err, WSB_EINVAL, "record is not JSON");
        goto cleanup;
    }
    if (!cJSON_IsObject(o)) {
        status = wsb_fail(err, WSB_EINVAL, "record is not a JSON object");
        goto cleanup;
    }
    if ((status = decode_texts(o, text, err)) != WSB_OK || (status = decode_values(o, out, err)) != WSB_OK ||
        (status = decode_versions(o, out, err)) != WSB_OK)
        goto cleanup;
    status = keep_texts(text, id, idlen, json, len, out, err);
cleanup:
    cJSON_Delete(o);
    if (status != WSB_OK)
        wsb_node_clear(out);
    return status;
}

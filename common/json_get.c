/* json_get.c: typed getters for JSON object members, with errors that
 * name their place. */
#include "json_get.h"
#include "status.h"

#include <math.h>
#include <stdio.h>

const char *wsb_json_place(char *where, const char *place, const char *key)
{
    if (place == NULL || place[0] == '\0')
        snprintf(where, WSB_JSON_PLACE_LEN, "%.60s", key);
    else
        snprintf(where, WSB_JSON_PLACE_LEN, "%.50s.%.40s", place, key);
    return where;
}

/* The member key of o into *v, or NULL when it is missing (or null, with
 * WSB_JSON_NULL_ABSENT).  A missing required member fails with "missing";
 * a member that is_type (may be NULL) refuses fails with "must be <what>". */
static int member(const cJSON *o, const char *place, const char *key, unsigned flags,
                  cJSON_bool (*is_type)(const cJSON *), const char *what, const cJSON **v, char *err)
{
    char where[WSB_JSON_PLACE_LEN];
    *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (*v != NULL && (flags & WSB_JSON_NULL_ABSENT) && cJSON_IsNull(*v))
        *v = NULL;
    if (*v == NULL && (flags & WSB_JSON_REQUIRED))
        return wsb_fail(err, WSB_EINVAL, "%s: missing", wsb_json_place(where, place, key));
    if (*v != NULL && is_type != NULL && !is_type(*v)) {
        *v = NULL;
        return wsb_fail(err, WSB_EINVAL, "%s: must be %s", wsb_json_place(where, place, key), what);
    }
    return WSB_OK;
}

int wsb_json_string(const cJSON *o, const char *place, const char *key, unsigned flags, const char **out,
                    char *err)
{
    const cJSON *v;
    *out = NULL;
    if (member(o, place, key, flags, cJSON_IsString, "a string", &v, err) != WSB_OK)
        return WSB_EINVAL;
    if (v != NULL)
        *out = v->valuestring;   /* never NULL for a string */
    return WSB_OK;
}

int wsb_json_bool(const cJSON *o, const char *place, const char *key, unsigned flags, int *out, char *err)
{
    const cJSON *v;
    if (member(o, place, key, flags, cJSON_IsBool, "true or false", &v, err) != WSB_OK)
        return WSB_EINVAL;
    if (v != NULL)
        *out = cJSON_IsTrue(v);
    return WSB_OK;
}

int wsb_json_object(const cJSON *o, const char *place, const char *key, unsigned flags, const cJSON **out,
                    char *err)
{
    return member(o, place, key, flags, cJSON_IsObject, "an object", out, err);
}

/* The error text of a number that is not what flags, lo and hi ask. */
static int number_error(const cJSON *v, const char *where, unsigned flags, double lo, double hi, char *err)
{
    const char *what = (flags & WSB_JSON_WHOLE) ? "a whole number" : "a number";
    if (flags & WSB_JSON_SAY_VALUE) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
            ((flags & WSB_JSON_WHOLE) && v->valuedouble != floor(v->valuedouble)))
            return wsb_fail(err, WSB_EINVAL, "%s: must be %s", where, what);
        return wsb_fail(err, WSB_EINVAL, "%s: %g is outside %g..%g", where, v->valuedouble, lo, hi);
    }
    if (flags & WSB_JSON_SAY_FLOOR)
        return (flags & WSB_JSON_WHOLE) ? wsb_fail(err, WSB_EINVAL, "%s: must be %s >= %.0f", where, what, lo)
                                        : wsb_fail(err, WSB_EINVAL, "%s: must be %s >= %g", where, what, lo);
    return (flags & WSB_JSON_WHOLE) ? wsb_fail(err, WSB_EINVAL, "%s: must be %s %.0f..%.0f", where, what, lo, hi)
                                    : wsb_fail(err, WSB_EINVAL, "%s: must be %s %g..%g", where, what, lo, hi);
}

int wsb_json_number(const cJSON *o, const char *place, const char *key, unsigned flags, double lo, double hi,
                    int *present, double *out, char *err)
{
    char where[WSB_JSON_PLACE_LEN];
    const cJSON *v;
    *present = 0;
    if (member(o, place, key, flags, NULL, NULL, &v, err) != WSB_OK)
        return WSB_EINVAL;
    if (v == NULL)
        return WSB_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        ((flags & WSB_JSON_WHOLE) && v->valuedouble != floor(v->valuedouble)) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return number_error(v, wsb_json_place(where, place, key), flags, lo, hi, err);
    *present = 1;
    *out = v->valuedouble;
    return WSB_OK;
}

/* json_get.h: typed getters for the members of a parsed JSON object
 * (cJSON), one rule for the node records, the inventory and load reports.
 * Every error names its place: "nodes[3].endpoint: must be a string".
 *
 * The getters borrow: a string they return points into the cJSON tree and
 * lives as long as it.  Nothing to free. */
#ifndef WSB_JSON_GET_H
#define WSB_JSON_GET_H

#include <cjson/cJSON.h>

/* Flags of a getter; combine with |. */
enum wsb_json_flags {
    WSB_JSON_OPTIONAL = 0,
    WSB_JSON_REQUIRED = 1,      /* a missing member is an error: "<where>: missing" */
    WSB_JSON_NULL_ABSENT = 2,   /* a member whose value is null counts as missing (node records) */
    WSB_JSON_WHOLE = 4,         /* numbers: whole numbers only */
    WSB_JSON_SAY_VALUE = 8,     /* numbers: a wrong type says "must be a number", a value out of
                                 * range "91 is outside -90..90" (node records) */
    WSB_JSON_SAY_FLOOR = 16     /* numbers: the text names the floor only: "must be a whole number
                                 * >= 1" (the ceiling is a safety bound; load reports) */
};

#define WSB_JSON_PLACE_LEN 96

/* The place of member key of the object at place, into where
 * (WSB_JSON_PLACE_LEN bytes): "key" when place is NULL or "", else
 * "place.key", shortened to fit.  Returns where; cannot fail. */
const char *wsb_json_place(char *where, const char *place, const char *key);

/* The string member key of o, at place (for error texts).  Returns WSB_OK
 * with *out pointing into the tree, or NULL when the member is missing and
 * optional.  On error WSB_EINVAL is returned with "<where>: missing" or
 * "<where>: must be a string" in err, and *out is NULL. */
int wsb_json_string(const cJSON *o, const char *place, const char *key, unsigned flags, const char **out,
                    char *err);

/* The boolean member key of o.  Returns WSB_OK with *out 1 or 0, or *out
 * unaltered when the member is missing and optional.  On error WSB_EINVAL
 * is returned with "<where>: must be true or false" (or "missing") in err,
 * and *out is unaltered. */
int wsb_json_bool(const cJSON *o, const char *place, const char *key, unsigned flags, int *out, char *err);

/* The number member key of o, finite and in lo..hi (whole with
 * WSB_JSON_WHOLE).  Returns WSB_OK with *present 1 and *out set, or
 * *present 0 and *out unaltered when the member is missing and optional.
 * On error WSB_EINVAL is returned with "<where>: must be a number lo..hi"
 * ("a whole number", or the texts the flags choose) in err, *present is 0
 * and *out unaltered. */
int wsb_json_number(const cJSON *o, const char *place, const char *key, unsigned flags, double lo, double hi,
                    int *present, double *out, char *err);

/* The object member key of o.  Returns WSB_OK with *out the member, or
 * NULL when it is missing and optional.  On error WSB_EINVAL is returned
 * with "<where>: must be an object" (or "missing") in err, and *out is
 * NULL. */
int wsb_json_object(const cJSON *o, const char *place, const char *key, unsigned flags, const cJSON **out,
                    char *err);

#endif

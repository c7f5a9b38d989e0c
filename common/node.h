/* node.h: the node model shared by the probe (which writes it) and the
 * handler (which reads it), and its record form in Redis.
 *
 * A node record is the JSON value of one field of the <prefix>nodes hash;
 * the field is the node id.  See README "Redis state layout". */
#ifndef WSB_NODE_H
#define WSB_NODE_H

#include <stddef.h>

#define WSB_MAX_VERSIONS 16        /* versions one node may list */
#define WSB_MAX_VERSION 1000000u   /* largest N in "vN" */
#define WSB_MAX_ID 64              /* bytes in a node id */
#define WSB_MAX_ENDPOINT 1024      /* bytes in an endpoint URL */
#define WSB_MAX_LOCATION 128       /* bytes in a location label */
#define WSB_MAX_RECORD 8192        /* bytes in one encoded record */
#define WSB_OUTCOME_LEN 32
#define WSB_RECENT_LEN 64          /* checks a record remembers (flap damping) */

struct wsb_node {
    char *id;                      /* owned; [A-Za-z0-9._:-]{1,64} */
    char *endpoint;                /* owned; ws:// or wss:// URL */
    char *location;                /* owned; human label, UTF-8 */
    int has_coords;
    double lat, lon;               /* degrees, valid when has_coords */
    char country[3];               /* ISO 3166-1 alpha-2, "" unknown */
    char continent[3];             /* two-letter continent code, "" unknown */
    unsigned versions[WSB_MAX_VERSIONS];
    size_t n_versions;
    int online;                    /* 1 online, 0 offline (after hysteresis) */
    int drain;                     /* 1 when the inventory drains it */
    int load_known;
    double load;                   /* 0.. (1 = at capacity); when load_known */
    long long connections;         /* -1 unknown */
    long long capacity;            /* -1 unknown */
    long long checked_at;          /* unix seconds of the last check, 0 never */
    long long changed_at;          /* unix seconds of the last online change */
    long long slow_start_s;        /* slow-start window of this node, s; -1: the handler's */
    long long max_new_per_s;       /* session-start budget, clients/s; -1 or 0: none */
    char last_error[WSB_OUTCOME_LEN]; /* outcome name of the last check, "ok" */
    unsigned ok_streak, fail_streak;  /* hysteresis counters */
    char recent[WSB_RECENT_LEN + 1];  /* the last checks, newest first: '+' passed,
                                       * '-' failed ("" none; flap damping) */
    char *raw;                     /* owned; the record bytes this node was decoded
                                    * from (NUL-terminated), NULL for a node that
                                    * did not come from a record (the probe's) */
    size_t raw_len;                /* bytes in raw, without the NUL */
};

/* Sets every field to its empty value (no allocation). */
void wsb_node_init(struct wsb_node *n);

/* Frees the strings of n (raw too) and re-initialises it; NULL is accepted. */
void wsb_node_clear(struct wsb_node *n);

/* Makes *dst a deep copy of *src (own copies of id, endpoint, location and
 * raw; NULL strings stay NULL), which the caller later releases with
 * wsb_node_clear.  dst must not be src and holds nothing on entry.
 * Returns WSB_OK, or WSB_ENOMEM with *dst left initialised and empty. */
int wsb_node_copy(struct wsb_node *dst, const struct wsb_node *src);

/* Parses "v1".."v1000000" (no sign, no leading zero) of len bytes.
 * Returns WSB_OK, or WSB_EINVAL and leaves *out alone. */
int wsb_version_parse(const char *s, size_t len, unsigned *out);

/* Checks a node id: 1..64 bytes of [A-Za-z0-9._:-].  WSB_OK or WSB_EINVAL
 * with the reason in err. */
int wsb_node_id_check(const char *id, size_t len, char *err);

/* Checks an endpoint URL: "wss://host..." (or "ws://" when allow_ws), at
 * most WSB_MAX_ENDPOINT bytes of RFC 3986 characters, a non-empty host.
 * WSB_OK, or WSB_EINVAL with the reason in err. */
int wsb_endpoint_check(const char *url, int allow_ws, char *err);

/* Checks a location label: 1..WSB_MAX_LOCATION bytes of valid UTF-8 with no
 * control characters.  WSB_OK, or WSB_EINVAL with the reason in err. */
int wsb_location_check(const char *s, char *err);

/* Encodes n (all but its id) as a JSON record.  On success *out is a
 * malloc'ed NUL-terminated string the caller frees with free().
 * On error WSB_ENOMEM or WSB_EINVAL (n fails the checks above) is returned
 * with a reason in err, and *out is untouched. */
int wsb_node_encode(const struct wsb_node *n, char **out, char *err);

/* Decodes the record json (len bytes) of node id (idlen bytes) into *out,
 * which the caller later releases with wsb_node_clear; out->raw keeps a
 * copy of the record bytes.  Every field is validated (endpoint scheme
 * ws:// or wss://, lengths, ranges, UTF-8).
 * On error returns WSB_EINVAL, WSB_ETOOBIG or WSB_ENOMEM with a reason in
 * err, and *out is left initialised and empty. */
int wsb_node_decode(const char *id, size_t idlen, const char *json, size_t len,
                    struct wsb_node *out, char *err);

#endif

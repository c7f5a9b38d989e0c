/* inventory.h: the probe's node inventory (README "Inventory reference"),
 * parsed and validated once at start.
 *
 * wsb_inventory_parse is a pure function over bytes; every error names its
 * place: "inventory.json: nodes[3].endpoint: must start with wss://".
 *
 * Ownership: a parsed inventory owns all its strings; release it with
 * wsb_inventory_free, which accepts a zeroed or already freed inventory. */
#ifndef WSB_PROBE_INVENTORY_H
#define WSB_PROBE_INVENTORY_H

#include "node.h"

#include <stddef.h>

#define WSB_INVENTORY_MAX_BYTES (16 * 1024 * 1024)
#define WSB_CHECK_TIMEOUT_MIN 50      /* ms */
#define WSB_CHECK_TIMEOUT_MAX 120000  /* ms */
#define WSB_CHECK_COUNT_MAX 100       /* largest rise or fall */
#define WSB_FLAP_CHECKS_MAX 64        /* largest flap_checks: the checks a record remembers */
#define WSB_SLOW_START_MAX_S 86400    /* largest slow_start_s */
#define WSB_MAX_NEW_PER_S_MAX 1000000000 /* largest max_new_per_s */

enum wsb_check_type { WSB_CHECK_WEBSOCKET = 0, WSB_CHECK_HTTP, WSB_CHECK_TCP };

/* "websocket", "http" or "tcp". */
const char *wsb_check_type_name(enum wsb_check_type t);

struct wsb_check_spec {
    enum wsb_check_type type;
    long timeout_ms;
    unsigned rise, fall;
    unsigned flap_checks;     /* flap damping: offline at flap_failures failures */
    unsigned flap_failures;   /* among the last flap_checks checks; 0: off */
    char *target;     /* owned: what libcurl is given.  websocket: the check
                       * URL mapped to http(s)://; http: check.url; tcp:
                       * "http://host:port/" (connect only) */
    char *shown;      /* owned: the check URL or address as the inventory says */
};

struct wsb_inv_node {
    struct wsb_node node;     /* id, endpoint, location, coordinates, country,
                               * continent, versions, drain, slow_start_s and
                               * max_new_per_s (-1 when not given); health
                               * fields unset */
    long long capacity;       /* from the inventory, -1 when not given */
    struct wsb_check_spec check;
    char *status_url;         /* owned, NULL when not given */
};

struct wsb_inventory {
    int allow_insecure_ws;
    char *ca_file;            /* owned; NULL: libcurl's default CA bundle */
    size_t n;
    struct wsb_inv_node *nodes;
    struct wsb_inv_node *canary; /* owned; NULL when none: a target that must
                                  * answer for a round to count (its id is
                                  * "canary", only its check is set) */
    long max_timeout_ms;      /* largest check timeout, 0 with no nodes */
};

/* Parses and validates the inventory text (len bytes; name is what error
 * texts call it).  Returns WSB_OK with *out filled, or WSB_EINVAL,
 * WSB_ETOOBIG or WSB_ENOMEM with "name: place: reason" in err and *out
 * zeroed (nothing to free).  No I/O. */
int wsb_inventory_parse(const char *name, const char *text, size_t len, struct wsb_inventory *out, char *err);

/* Reads the file at path (at most WSB_INVENTORY_MAX_BYTES), parses it,
 * resolves a relative ca_file against the file's folder and checks that
 * it can be read.  Same returns as wsb_inventory_parse, plus WSB_EIO. */
int wsb_inventory_load(const char *path, struct wsb_inventory *out, char *err);

void wsb_inventory_free(struct wsb_inventory *inv);

#endif

/* fuzz.h: the fuzz targets of wsbalancer as plain functions over bytes.
 *
 * Each target feeds its input to one parser (and what the parser's result
 * feeds next) and checks the invariants that hold for every input: bounds,
 * round trips, "nothing from the request reaches a response header", "an
 * endpoint that is served is a clean wss:// URL".  Memory errors are found
 * by the sanitizers the target is built with (libFuzzer + ASan + UBSan in
 * `make fuzz`); a broken invariant is returned as a static text.
 *
 * The same functions serve two callers: tests/fuzz/entry.c (libFuzzer,
 * clang) and tests/unit/test_regress.c (gcc, part of `make test`), which
 * replays every seed and every kept crash input.
 *
 * Each returns NULL when every invariant held, else the broken one. */
#ifndef WSB_FUZZ_H
#define WSB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

typedef const char *(*wsb_fuzz_fn)(const uint8_t *data, size_t size);

/* Request routing and query parsing: the CGI parameters SCRIPT_NAME,
 * PATH_INFO, REQUEST_URI, REQUEST_METHOD, HTTP_ORIGIN and a CORS
 * configuration, NUL-separated after one byte of flags. */
const char *wsb_fuzz_route(const uint8_t *data, size_t size);

/* The bytes a web server sends on a FastCGI connection: the frame scanner
 * (fcgi_frame.h), and libfcgi itself on whatever the scanner calls whole. */
const char *wsb_fuzz_fcgi(const uint8_t *data, size_t size);

/* REMOTE_ADDR, X-Forwarded-For and WSB_TRUSTED_PROXIES, NUL-separated. */
const char *wsb_fuzz_xff(const uint8_t *data, size_t size);

/* A node record from Redis: flags byte, node id, NUL, the JSON value. */
const char *wsb_fuzz_record(const uint8_t *data, size_t size);

/* The probe's inventory file. */
const char *wsb_fuzz_inventory(const uint8_t *data, size_t size);

/* A node's status (load report) body: flags byte, then the body. */
const char *wsb_fuzz_report(const uint8_t *data, size_t size);

/* The header block a node answers to the probe's WebSocket upgrade. */
const char *wsb_fuzz_handshake(const uint8_t *data, size_t size);

/* WSB_REDIS_URL (a comma-separated list of redis:// and unix:// URLs). */
const char *wsb_fuzz_redis_url(const uint8_t *data, size_t size);

/* Snapshot building and selection against the policy computed the slow
 * way: a header (node count, flags, near_km, max_load, client location,
 * version, random word) and 8 bytes per node (coordinates, flags, load,
 * country and continent).  The cell index must never change the answer. */
const char *wsb_fuzz_select(const uint8_t *data, size_t size);

/* The route's query string (exclude, affinity): flags byte (bit 0: as
 * QUERY_STRING, else after REQUEST_URI's '?'; bits 2-5: which of four fixed
 * nodes are nearly full), then the query.  Parsed values stay in bounds,
 * and selection with them never answers an excluded node while another can
 * answer, and answers a key the same way twice. */
const char *wsb_fuzz_query(const uint8_t *data, size_t size);

struct wsb_fuzz_target {
    const char *name;         /* also the folder under tests/fuzz/corpus and regress */
    wsb_fuzz_fn fn;
};

/* Every target, ended by an entry with name NULL. */
extern const struct wsb_fuzz_target wsb_fuzz_targets[];

#endif

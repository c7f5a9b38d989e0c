/* check.h: running every node's check (and load report fetch) at once with
 * libcurl's multi interface.  This is mechanism only: each node gets an
 * outcome and, when it has one, a load report; what they mean for the node
 * is decided in health.c.
 *
 *   websocket  GET with Upgrade: websocket over HTTP/1.1 (TLS for wss://);
 *              wants 101 with the right Sec-WebSocket-Accept; the connection
 *              is dropped as soon as the 101 header block has been read
 *   http       GET; wants 2xx; the body (at most WSB_REPORT_MAX bytes) may
 *              hold the load report
 *   tcp        connect only
 *   status_url GET, fetched at the same time as the check; its body is the
 *              load report
 *
 * Every transfer has the node's timeout_ms as its whole budget.  At most
 * max_parallel transfers run at once (the rest wait for a free slot).
 *
 * A round's checks are CPU-bound (TCP and TLS set-up, libcurl): they run
 * on opt->threads threads, each with its own multi handle, each taking the
 * next node of the start order whenever the round has one of its
 * max_parallel places in flight free (so the previous round's failures
 * still start first, and while hanging checks hold places in one thread
 * the others go on).  The threads share nothing but that cursor, the count
 * in flight and the results array, each writing its own nodes' entries. */
#ifndef WSB_PROBE_CHECK_H
#define WSB_PROBE_CHECK_H

#include "inventory.h"
#include "curl_outcome.h"
#include "outcome.h"
#include "report.h"

#include <stddef.h>

#define WSB_DETAIL_LEN 128   /* a detail's bytes at most, with its NUL */

/* One node's result.  The details are allocated only when there is one to
 * say (a failure, mostly): a round holds a result per node, and two inline
 * buffers a node were 2.5 MB at 10,000 nodes of which 90 % said nothing.
 * wsb_check_results_clear frees them. */
struct wsb_check_result {
    enum wsb_outcome check;           /* outcome of the health check */
    enum wsb_outcome report;          /* WSB_OUT_OK (load holds a report), a report
                                       * outcome, or a probe fault of the fetch */
    struct wsb_load_report load;      /* valid when report == WSB_OUT_OK */
    long elapsed_ms;                  /* of the check */
    char *detail;                     /* owned; "HTTP 500", "connect: Connection
                                       * refused"; NULL: nothing (wsb_check_detail) */
    char *report_detail;              /* owned; the same for the load report */
};

/* d, or "" when NULL: what a detail says, for a log line. */
const char *wsb_check_detail(const char *d);

/* Sets *slot to a copy of text (cut at WSB_DETAIL_LEN - 1 bytes; "" gives
 * NULL), freeing what it held.  Without memory the detail is dropped (a
 * warning, once a run, says so). */
void wsb_check_detail_set(char **slot, const char *text);

/* Sets r's check outcome (is_report 0) or report outcome (1) to o, with
 * detail (NULL or "": none). */
void wsb_check_result_set(struct wsb_check_result *r, int is_report, enum wsb_outcome o, const char *detail);

/* Frees the details of results[0..n) (not the array). */
void wsb_check_results_clear(struct wsb_check_result *results, size_t n);

#define WSB_CHECK_THREADS_MAX 64   /* largest --threads */

struct wsb_check_options {
    const char *ca_file;              /* NULL: libcurl's default bundle */
    size_t max_parallel;              /* transfers at once, >= 1, over all threads */
    size_t threads;                   /* threads the checks run on, 1..WSB_CHECK_THREADS_MAX
                                       * (0: 1); at most max_parallel */
    const char *user_agent;
};

/* Checks inv->nodes[0..n) and fills results[0..n) (caller-owned, n
 * entries, overwritten: their details, if any, must have been cleared; the
 * caller clears the new ones with wsb_check_results_clear).  order (NULL:
 * inventory order) is a permutation of 0..n-1, the order in which the
 * checks start.  Returns WSB_OK when every node has a result (some of them
 * may be probe faults, e.g. out of file descriptors), or WSB_ENOMEM/WSB_ESYS
 * when the check machinery itself could not start, with err filled and
 * the results it could not give set to a probe fault.  curl_global_init
 * must have run. */
int wsb_check_all(const struct wsb_inventory *inv, const struct wsb_check_options *opt, const size_t *order,
                  struct wsb_check_result *results, char *err);



#endif

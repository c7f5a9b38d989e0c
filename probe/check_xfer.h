/* check_xfer.h: one transfer of a round, a node's check or its load
 * report fetch: set up on an easy handle of the round's pool, its answer
 * judged into the node's result, its handle given back (check.c runs
 * them). */
#ifndef WSB_PROBE_CHECK_XFER_H
#define WSB_PROBE_CHECK_XFER_H

#include "check.h"
#include "check_pool.h"
#include "ws_answer.h"

#include <curl/curl.h>
#include <stddef.h>
#include <sys/socket.h>

/* One transfer in flight.  A round keeps at most max_parallel of these
 * (slots, reused), not one per node: what a node keeps for the round is
 * its wsb_check_result alone. */
struct wsb_xfer {
    CURL *easy;
    size_t node;
    int is_report;                /* a status_url fetch, not the check */
    int keep_body;                /* the body may be a load report */
    enum wsb_check_type type;     /* of the check (report fetches: http) */
    struct curl_slist *headers;
    char want_accept[WSB_WS_ACCEPT_LEN + 1];
    struct wsb_ws_answer ans;     /* the answer's header block (websocket check); ans.done:
                                   * judged, transfer aborted */
    /* body */
    char *body;
    size_t body_len, body_cap;
    int body_over, body_nomem;
    int local_errno;              /* socket() failed here with this errno */
    struct sockaddr_storage peer; /* the address of the last socket opened (family 0: none) */
    char errbuf[CURL_ERROR_SIZE];
};

/* Sets up and adds the transfer laid out in x (node, is_report, type,
 * keep_body) for node.  On failure the node's result r says why (a probe
 * fault), x holds nothing, and WSB_ENOMEM or WSB_ESYS is returned. */
int wsb_xfer_start(struct wsb_check_pool *pool, struct wsb_xfer *x, const struct wsb_inv_node *node,
                   const struct wsb_check_options *opt, struct wsb_check_result *r);

/* Turns x, finished with rc, into its node's result r (node_has_status:
 * the node's report comes from its own fetch). */
void wsb_xfer_finish(struct wsb_xfer *x, CURLcode rc, const struct wsb_inv_node *node, int node_has_status,
                     struct wsb_check_result *r);

/* Gives x's handle back to the pool and frees what it held: the slot is
 * free for the next transfer.  A slot that holds nothing is accepted. */
void wsb_xfer_release(struct wsb_check_pool *pool, struct wsb_xfer *x);

#endif

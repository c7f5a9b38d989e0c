/* check_pool.h: the transfers of a round on one libcurl multi handle,
 * driven by epoll and curl_multi_socket_action, with easy handles kept
 * for reuse.
 *
 * An event costs the transfers it touches, not every transfer in flight
 * (curl_multi_perform and curl_multi_poll walk all of them, so a round of
 * thousands of checks spent most of its time walking), and the memory of
 * a round is that of the handles in flight, bounded by the caller's limit
 * on them, not of the fleet.  Mechanism only: check.c decides what runs. */
#ifndef WSB_PROBE_CHECK_POOL_H
#define WSB_PROBE_CHECK_POOL_H

#include <curl/curl.h>
#include <stddef.h>

struct wsb_check_pool {
    CURLM *multi;
    int epfd;
    long long deadline_ms;   /* monotonic ms when libcurl wants its timeout; -1: none */
    CURL **idle;             /* finished handles, reset, ready for reuse */
    size_t n_idle, cap_idle;
};

/* Opens the pool; idle_max is the most handles kept for reuse (the
 * caller's limit on transfers in flight).  Returns WSB_OK, or WSB_ENOMEM or
 * WSB_ESYS with err filled and nothing left open. */
int wsb_check_pool_open(struct wsb_check_pool *p, size_t idle_max, char *err);

/* An easy handle in its initial state (curl_easy_reset), reused when one
 * is idle; the caller sets its options and starts it, or gives it back
 * with wsb_check_pool_give_back.  NULL when out of memory. */
CURL *wsb_check_pool_easy(struct wsb_check_pool *p);

/* Starts e (curl_multi_add_handle); libcurl's code on failure, when e is
 * still the caller's. */
CURLMcode wsb_check_pool_start(struct wsb_check_pool *p, CURL *e);

/* Takes e back once its transfer has finished (or never started): removed
 * from the multi handle, reset and kept for reuse, or cleaned up when the
 * pool keeps enough.  e may be NULL. */
void wsb_check_pool_give_back(struct wsb_check_pool *p, CURL *e);

/* Waits at most max_wait_ms for sockets to be ready or libcurl's timeout,
 * and lets libcurl act on them; finished transfers are then read with
 * curl_multi_info_read(p->multi, ...).  Returns WSB_OK, or WSB_ESYS /
 * WSB_ENOMEM with err filled (epoll or libcurl failed: the round's
 * transfers cannot be driven further). */
int wsb_check_pool_run(struct wsb_check_pool *p, long max_wait_ms, char *err);

/* Cleans up every handle the pool keeps and the multi handle; a handle
 * still started must have been given back first.  Accepts a pool that
 * never opened (zeroed). */
void wsb_check_pool_close(struct wsb_check_pool *p);

#endif

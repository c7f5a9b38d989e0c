/* check_pool.c: a round's transfers driven by epoll and
 * curl_multi_socket_action, easy handles kept for reuse (see check_pool.h). */
#include "check_pool.h"
#include "clock.h"
#include "status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EVENTS_AT_ONCE 256

/* CURLMOPT_SOCKETFUNCTION: what libcurl wants to wait for on s. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct wsb_check_pool *p = userp;
    (void)e;
    (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, s, NULL);   /* ENOENT/EBADF: already gone */
        return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.fd = s;
    if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, s, &ev) != 0 &&
        (errno != ENOENT || epoll_ctl(p->epfd, EPOLL_CTL_ADD, s, &ev) != 0))
        return -1;   /* libcurl fails this transfer (CURLE_ABORTED_BY_CALLBACK) */
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: when libcurl wants to act without a socket event. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct wsb_check_pool *p = userp;
    (void)multi;
    p->deadline_ms = timeout_ms < 0 ? -1 : wsb_now_ms() + timeout_ms;
    return 0;
}

int wsb_check_pool_open(struct wsb_check_pool *p, size_t idle_max, char *err)
{
    memset(p, 0, sizeof *p);
    p->epfd = -1;
    p->deadline_ms = -1;
    p->cap_idle = idle_max > 0 ? idle_max : 1;
    int status = WSB_OK;
    if ((p->idle = malloc(p->cap_idle * sizeof *p->idle)) == NULL) {
        status = wsb_fail(err, WSB_ENOMEM, "out of memory for %zu transfer handles", p->cap_idle);
        goto cleanup;
    }
    if ((p->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        status = wsb_fail(err, errno == ENOMEM ? WSB_ENOMEM : WSB_ESYS, "epoll_create1: %s", strerror(errno));
        goto cleanup;
    }
    if ((p->multi = curl_multi_init()) == NULL) {
        status = wsb_fail(err, WSB_ENOMEM, "curl_multi_init failed");
        goto cleanup;
    }
    if (curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, (void *)p) != CURLM_OK ||
        curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
        curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, (void *)p) != CURLM_OK)
        status = wsb_fail(err, WSB_ESYS, "curl_multi_setopt of the event callbacks failed");
cleanup:
    if (status != WSB_OK)
        wsb_check_pool_close(p);
    return status;
}

CURL *wsb_check_pool_easy(struct wsb_check_pool *p)
{
    if (p->n_idle > 0)
        return p->idle[--p->n_idle];
    return curl_easy_init();
}

CURLMcode wsb_check_pool_start(struct wsb_check_pool *p, CURL *e)
{
    return curl_multi_add_handle(p->multi, e);
}

void wsb_check_pool_give_back(struct wsb_check_pool *p, CURL *e)
{
    if (e == NULL)
        return;
    curl_multi_remove_handle(p->multi, e);   /* CURLM_BAD_EASY_HANDLE when never started: harmless */
    if (p->n_idle < p->cap_idle) {
        curl_easy_reset(e);
        p->idle[p->n_idle++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

/* Lets libcurl act on its timeouts (the transfers just added, connect
 * and transfer budgets).  libcurl calls on_timer again only when its next
 * deadline changes, so the deadline is never cleared here. */
static int run_timeouts(struct wsb_check_pool *p, char *err)
{
    int running;
    CURLMcode mc = curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    if (mc != CURLM_OK)
        return wsb_fail(err, mc == CURLM_OUT_OF_MEMORY ? WSB_ENOMEM : WSB_ESYS, "curl_multi_socket_action: %s",
                        curl_multi_strerror(mc));
    return WSB_OK;
}

static int due(const struct wsb_check_pool *p)
{
    return p->deadline_ms >= 0 && wsb_now_ms() >= p->deadline_ms;
}

int wsb_check_pool_run(struct wsb_check_pool *p, long max_wait_ms, char *err)
{
    int status;
    if (due(p) && (status = run_timeouts(p, err)) != WSB_OK)   /* e.g. handles just added */
        return status;
    long wait = max_wait_ms;
    if (p->deadline_ms >= 0) {
        long long left = p->deadline_ms - wsb_now_ms();
        if (left < wait)
            wait = left < 0 ? 0 : (long)left;
    }
    struct epoll_event evs[EVENTS_AT_ONCE];
    int n = epoll_wait(p->epfd, evs, EVENTS_AT_ONCE, (int)wait);
    if (n < 0) {
        if (errno == EINTR)
            return WSB_OK;
        return wsb_fail(err, WSB_ESYS, "epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) | (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        int running;
        CURLMcode mc = curl_multi_socket_action(p->multi, evs[i].data.fd, flags, &running);
        if (mc != CURLM_OK)
            return wsb_fail(err, mc == CURLM_OUT_OF_MEMORY ? WSB_ENOMEM : WSB_ESYS, "curl_multi_socket_action: %s",
                            curl_multi_strerror(mc));
    }
    /* Nothing happened for a whole wait: libcurl acts on time anyway. */
    if (due(p) || n == 0)
        return run_timeouts(p, err);
    return WSB_OK;
}

void wsb_check_pool_close(struct wsb_check_pool *p)
{
    for (size_t i = 0; i < p->n_idle; i++)
        curl_easy_cleanup(p->idle[i]);
    free(p->idle);
    p->idle = NULL;
    p->n_idle = 0;
    if (p->multi != NULL)
        curl_multi_cleanup(p->multi);
    p->multi = NULL;
    if (p->epfd >= 0)
        close(p->epfd);
    p->epfd = -1;
}
